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
