# Cache housekeeping shared by the image scripts (sourced: `. "$root/hack/lib/cache.sh"`).
# Nothing here goes into what they build, so no cache key hashes this file.

# prune_cache DIR KEEP: keeps the KEEP entries of DIR used last (a hit touches its directory)
# and deletes the rest; an entry is a directory named by a 16-hex-digit key. No DIR: nothing.
prune_cache() {
	local dir=$1 keep=$2
	[ -d "$dir" ] || return 0
	find "$dir" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{16}' -printf '%T@ %p\n' |
		sort -rn | tail -n +"$((keep + 1))" | cut -d' ' -f2- | xargs -r rm -rf
}
