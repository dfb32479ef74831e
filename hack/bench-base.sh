#!/usr/bin/env bash
# Builds a baseline checkout for bench/scale-compare.ts and bench/recipe-compare.ts: the tree of commit $1 (git archive,
# no worktree), with its own node_modules, libvirt addon and dist/ (its own `make deps native
# build`), under ${MAASLAB_CACHE:-~/.cache/maaslab}/bench-base/<commit>/ (not build/: node-gyp
# rebuild empties it). Cached by the commit: a second run only prints
# the path. Prints the checkout's path on its last line.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ref=${1:?usage: hack/bench-base.sh <commit>}
commit=$(git -C "$root" rev-parse --verify "$ref^{commit}")
dir=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/bench-base/$commit
if [[ ! -f $dir/.bench-built ]]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	git -C "$root" archive "$commit" | tar -x -C "$dir"
	git -C "$root" rev-parse --short=12 "$commit" >"$dir/.bench-commit"
	make -C "$dir" --no-print-directory deps native build >&2
	touch "$dir/.bench-built"
fi
echo "$dir"
