#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their upstream Go modules
# (required by test/flux/go.mod, which has no code of its own) into bin/, and caches each
# per machine under
#   ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/<name>/<hash>/<name>
# keyed by go.mod, go.sum, this script (it holds the flags) and the Go version, like
# hack/build-kube-testenv.sh. On a hit nothing runs but a copy.
#
#   hack/build-flux.sh                       both
#   hack/build-flux.sh source-controller     one of them
#
# Built as upstream's Dockerfiles build them: CGO_ENABLED=0, -trimpath, plus "-s -w" as in
# their Makefiles' static flags. A cold source-controller pulls in the AWS, Azure and GCP
# SDKs, Helm and OCI clients (about 2,500 packages), so a cold build takes many minutes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/test/flux
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(source-controller kustomize-controller)

if ! command -v go >/dev/null 2>&1; then
	export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { echo "build-flux: go not found (install Go or put it on PATH)" >&2; exit 1; }
# Never let go.mod's "go" line trigger a toolchain download: Flux v1.10 needs Go 1.27,
# which this project does not use; go.mod pins v1.9.6, the last release that builds here.
export GOTOOLCHAIN=local CGO_ENABLED=0

go_version=$(go env GOVERSION)
hash=$(
	cd "$src"
	{
		echo "go=$go_version"
		sha256sum "$root/hack/build-flux.sh" | cut -d' ' -f1
		sha256sum go.mod go.sum
	} | sha256sum | cut -c1-16
)

for name in "${names[@]}"; do
	case $name in
	source-controller | kustomize-controller) ;;
	*)
		echo "build-flux: unknown binary '$name' (source-controller or kustomize-controller)" >&2
		exit 2
		;;
	esac
	out=$root/bin/$name
	cached=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/$name/$hash/$name
	if [[ ! -x $cached ]]; then
		echo "$name: building $hash with $go_version (a cold build takes many minutes)" >&2
		tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name-build.XXXXXX")
		# -p 2: this machine's two cores; more parallel compiles only add memory.
		(cd "$src" && go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp/$name" "github.com/fluxcd/$name")
		mkdir -p "$(dirname "$cached")"
		# Rename into place so a concurrent build never sees a half-written binary.
		mv "$tmp/$name" "$cached.$$"
		mv "$cached.$$" "$cached"
		rm -rf "$tmp"
		echo "$name: built $(cd "$src" && go list -m -f '{{.Version}}' "github.com/fluxcd/$name") into $cached" >&2
	else
		echo "$name: cached ($hash)" >&2
	fi
	mkdir -p "$(dirname "$out")"
	rm -f "$out"
	# A hard link costs nothing; copy when the cache is on another file system.
	ln "$cached" "$out" 2>/dev/null || cp "$cached" "$out"
done
