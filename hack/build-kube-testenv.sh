#!/usr/bin/env bash
# Builds the Go binaries of test/controlplane into bin/ and caches them per machine:
#
#   hack/build-kube-testenv.sh [kube-testenv]   bin/kube-testenv (the package test/controlplane)
#   hack/build-kube-testenv.sh kubectl          bin/kubectl (the package test/controlplane/cmd/kubectl)
#   hack/build-kube-testenv.sh kube-node        bin/kube-node: kubelet, kube-scheduler, kube-proxy
#   hack/build-kube-testenv.sh pause            bin/pause: the pod sandbox's process (static)
#   hack/build-kube-testenv.sh kube-network-policies
#                                               bin/kube-network-policies: the node's NetworkPolicy
#                                               enforcer (its own module, test/netpol)
#
# The first four come from the same go.mod, so kubectl and the node are always the control
# plane's own release. The enforcer has its own go.mod: sigs.k8s.io/kube-network-policies
# pins its own client-go, and sharing a go.mod would move the other binaries' dependencies
# (and invalidate their caches) with it.
# A cold build compiles all of kube-apiserver, kube-controller-manager and etcd (or all
# of kubectl and kustomize), which takes many minutes on two cores, so each binary is
# cached under
#   ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/<name>/<hash>/<name>
# keyed by go.mod, go.sum, the .go files of its own package(s), this script (it holds the
# ldflags) and the Go version. On a hit nothing runs but a copy.
set -euo pipefail

name=${1:-kube-testenv}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/test/controlplane
# pkg: what `go build` builds; sources: find(1) arguments selecting the .go files of
# that binary alone, so a change to one binary does not invalidate the other's cache.
case $name in
kube-testenv) pkg=. sources=(. -path ./cmd -prune -o) ;;
kubectl) pkg=./cmd/kubectl sources=(./cmd/kubectl) ;;
kube-node) pkg=./cmd/kube-node sources=(./cmd/kube-node) ;;
pause) pkg=./cmd/pause sources=(./cmd/pause) ;;
kube-network-policies) src=$root/test/netpol pkg=. sources=(.) ;;
*)
	echo "build-kube-testenv: unknown binary '$name' (kube-testenv, kubectl, kube-node, pause or kube-network-policies)" >&2
	exit 2
	;;
esac
out=$root/bin/$name
cache_root=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/$name

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
		sha256sum go.mod go.sum
		# Sorted by name so that the hash does not depend on directory order.
		find "${sources[@]}" -type f -name '*.go' -not -path './vendor/*' -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum
	} | sha256sum | cut -c1-16
)
cached=$cache_root/$hash/$name

install_bin() {
	mkdir -p "$(dirname "$out")"
	# A hard link costs nothing; copy when the cache is on another file system.
	rm -f "$out"
	ln "$cached" "$out" 2>/dev/null || cp "$cached" "$out"
}

if [[ -x $cached ]]; then
	install_bin
	echo "$name: cached ($hash)" >&2
	exit 0
fi

echo "$name: building $hash with $go_version (a cold build takes several minutes)" >&2
cd "$src"
ldflags="-s -w"
if [[ $name == kube-network-policies ]]; then
	# Upstream's release, for the "built" line; the binary reports no version.
	kube_version=$(go list -m -f '{{.Version}}' sigs.k8s.io/kube-network-policies)
else
	kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
	build_date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
	if [[ $kube_version =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
		major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
	else
		echo "build-kube-testenv: cannot parse k8s.io/kubernetes version '$kube_version'" >&2
		exit 1
	fi
	# /version and `kubectl version` must report the real release: clients and the
	# apiserver's own compatibility checks read it. client-go keeps a second copy of the
	# same variables (kubectl prints that one as its client version).
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
		ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
	done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# -p 2: the link step alone needs a few GiB; more parallel compiles only add memory.
# The pause binary runs alone in an otherwise empty image: no libc to link against.
[[ $name == pause ]] && export CGO_ENABLED=0
go build -p 2 -trimpath -buildvcs=false -ldflags "$ldflags" -o "$tmp/$name" "$pkg"

mkdir -p "$cache_root/$hash"
# Rename into place so a concurrent build never sees a half-written binary.
mv "$tmp/$name" "$cached.$$"
mv "$cached.$$" "$cached"
install_bin
echo "$name: built $kube_version into $cached" >&2
