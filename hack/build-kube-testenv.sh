#!/usr/bin/env bash
# Builds bin/kube-testenv (test/controlplane) and caches it per machine.
#
# A cold build compiles all of kube-apiserver, kube-controller-manager and etcd, which
# takes many minutes on two cores, so the binary is cached under
#   ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/kube-testenv/<hash>/kube-testenv
# keyed by go.mod, go.sum, every .go file, this script (it holds the ldflags) and the Go
# version. On a hit nothing runs but a copy.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/test/controlplane
out=$root/bin/kube-testenv
cache_root=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/kube-testenv

if ! command -v go >/dev/null 2>&1; then
	export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { echo "build-kube-testenv: go not found (install Go or put it on PATH)" >&2; exit 1; }
# Never let go.mod's "go" line trigger a toolchain download.
export GOTOOLCHAIN=local

go_version=$(go env GOVERSION)
hash=$(
	cd "$src"
	{
		echo "go=$go_version"
		sha256sum "$root/hack/build-kube-testenv.sh" | cut -d' ' -f1
		# Sorted by name so that the hash does not depend on directory order.
		find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -not -path './vendor/*' -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum
	} | sha256sum | cut -c1-16
)
cached=$cache_root/$hash/kube-testenv

install_bin() {
	mkdir -p "$(dirname "$out")"
	# A hard link costs nothing; copy when the cache is on another file system.
	rm -f "$out"
	ln "$cached" "$out" 2>/dev/null || cp "$cached" "$out"
}

if [[ -x $cached ]]; then
	install_bin
	echo "kube-testenv: cached ($hash)" >&2
	exit 0
fi

echo "kube-testenv: building $hash with $go_version (a cold build takes several minutes)" >&2
cd "$src"
kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
build_date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
if [[ $kube_version =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
	major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
else
	echo "build-kube-testenv: cannot parse k8s.io/kubernetes version '$kube_version'" >&2
	exit 1
fi

# /version must report the real release: clients and the apiserver's own compatibility
# checks read it. client-go keeps a second copy of the same variables.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kube-testenv-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# -p 2: the link step alone needs a few GiB; more parallel compiles only add memory.
go build -p 2 -trimpath -buildvcs=false -ldflags "$ldflags" -o "$tmp/kube-testenv" .

mkdir -p "$cache_root/$hash"
# Rename into place so a concurrent build never sees a half-written binary.
mv "$tmp/kube-testenv" "$cached.$$"
mv "$cached.$$" "$cached"
install_bin
echo "kube-testenv: built $kube_version into $cached" >&2
