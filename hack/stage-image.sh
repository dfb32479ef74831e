#!/usr/bin/env bash
# Stages the operator's runtime files into DIR exactly as the image holds them under /app:
#   package.json, package-lock.json   (ESM: "type": "module" must sit above dist/)
#   dist/                             (npm run build)
#   build/Release/maaslab_libvirt.node (node-gyp)
#   node_modules/                     (npm ci --omit=dev: production dependencies only)
# The Dockerfile's build stage runs this very script, and test/integration/deploy/image
# runs the staged ENTRYPOINT against kube-testenv, so "these files are enough" is tested
# without a container engine.
#
# Usage: hack/stage-image.sh DIR   (after `npm run build` and the native build)
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$1
addon=build/Release/maaslab_libvirt.node

for need in dist/src/cli/main.js "$addon"; do
	[ -e "$root/$need" ] || { echo "stage-image: $need is missing: run 'npm run build' and 'make native'" >&2; exit 1; }
done

mkdir -p "$dest/build/Release"
cp "$root/package.json" "$root/package-lock.json" "$dest/"
rm -rf "$dest/dist"
cp -R "$root/dist" "$dest/dist"
cp "$root/$addon" "$dest/$addon"
# --ignore-scripts: the addon is built explicitly (and copied above); no production
# dependency needs an install script. --prefer-offline: reuse npm's cache when it has them.
(cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)

# What no running program reads, out of the image (about 6 MB of 15; both ways of building
# it stage here). In node_modules: TypeScript declarations (.d.ts, .d.mts, .d.cts: only the
# compiler reads them), source maps (only --enable-source-maps reads them, and only for
# stack traces), Markdown (READMEs, changelogs; never a licence, which stays with every
# package), and the test, example and CI directories at a package's root (bintrees ships
# its 2.3 MB of tests). From dist/: our own declarations; our source maps stay, so that
# NODE_OPTIONS=--enable-source-maps can still point a stack trace at src/.
# test/integration/deploy/image.test.ts runs the operator from this trimmed tree, and
# image-oci.test.ts runs the image's entry point with a libvirt call through the addon.
find "$dest/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o \
	\( -iname '*.md' ! -iname 'licen[cs]e*' ! -iname 'copying*' ! -iname 'notice*' \) \) -delete
find "$dest/node_modules" -regextype posix-extended -type d \
	-regex '.*/node_modules/(@[^/]+/)?[^@/][^/]*/(test|tests|__tests__|example|examples|\.github)' -prune -exec rm -rf '{}' +
find "$dest/dist" -type f -name '*.d.ts' -delete
