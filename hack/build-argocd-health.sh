#!/usr/bin/env bash
# Builds bin/argocd-health (the Go module test/argocd-health: Argo CD's own util/lua,
# util/settings and gitops-engine's health package) and caches it per machine under
#   ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/argocd-health/<hash>/argocd-health
# keyed by go.mod, go.sum, the module's .go files, this script and the Go version, like
# hack/build-kube-testenv.sh. A cold build compiles Argo CD's API types and their
# dependencies (about 1,230 packages): 4.4 min on two cores with the modules downloaded and
# an empty Go build cache, 20 min while the machine was busy; a hit is a copy (under 1 s).
set -euo pipefail

name=argocd-health
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/test/argocd-health
out=$root/bin/$name
cache_root=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/$name

if ! command -v go >/dev/null 2>&1; then
	export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { echo "build-argocd-health: go not found (install Go or put it on PATH)" >&2; exit 1; }
# Never let go.mod's "go" line trigger a toolchain download.
export GOTOOLCHAIN=local

go_version=$(go env GOVERSION)
hash=$(
	cd "$src"
	{
		echo "go=$go_version"
		sha256sum "$root/hack/build-argocd-health.sh" | cut -d' ' -f1
		sha256sum go.mod go.sum
		find . -type f -name '*.go' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
	} | sha256sum | cut -c1-16
)
cached=$cache_root/$hash/$name

install_bin() {
	mkdir -p "$(dirname "$out")"
	rm -f "$out"
	# A hard link costs nothing; copy when the cache is on another file system.
	ln "$cached" "$out" 2>/dev/null || cp "$cached" "$out"
}

if [[ -x $cached ]]; then
	install_bin
	echo "$name: cached ($hash)" >&2
	exit 0
fi

echo "$name: building $hash with $go_version (a cold build takes several minutes)" >&2
cd "$src"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# -p 2: this machine's two cores; more parallel compiles only add memory.
go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp/$name" .

mkdir -p "$cache_root/$hash"
# Rename into place so a concurrent build never sees a half-written binary.
mv "$tmp/$name" "$cached.$$"
mv "$cached.$$" "$cached"
install_bin
echo "$name: built $(go list -m -f '{{.Path}} {{.Version}}' github.com/argoproj/argo-cd/v2) into $cached" >&2
