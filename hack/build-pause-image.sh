#!/usr/bin/env bash
# Builds the pod sandbox ("pause") image that test/support/cluster.ts sets as containerd's
# sandbox_image, so that no pod ever needs registry.k8s.io/pause: one layer holding
# bin/pause (test/controlplane/cmd/pause, static, ~1.4 MB) as /pause, ENTRYPOINT /pause,
# user 65535 as upstream's, packed by umoci into an OCI archive whose index names it
# maaslab.local/pause:<key> for `ctr -n k8s.io images import`.
#
# Prints the archive's path on stdout, then the image name on a second line. Cached under
# ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/pause-image/<key>/, keyed by the binary and this script.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/hack/build-kube-testenv.sh" pause
bin=$root/bin/pause
key=$({ sha256sum "$bin" "$root/hack/build-pause-image.sh" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
name=maaslab.local/pause:$key
cached=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/pause-image/$key
archive=$cached/pause.oci.tar

if [[ ! -f $archive ]]; then
	command -v umoci >/dev/null || { echo "build-pause-image: umoci missing (apt-get install umoci)" >&2; exit 1; }
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/pause-image.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	mkdir "$tmp/layer"
	install -m 755 "$bin" "$tmp/layer/pause"
	(cd "$tmp/layer" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$tmp/layer.tar" pause)
	oci=$tmp/oci
	umoci init --layout "$oci"
	umoci new --image "$oci:$key"
	umoci raw add-layer --image "$oci:$key" --history.created_by "bin/pause (test/controlplane/cmd/pause)" "$tmp/layer.tar"
	umoci config --image "$oci:$key" --config.user 65535:65535 --config.entrypoint /pause \
		--config.label "org.opencontainers.image.title=maaslab pause" --history.created_by "ENTRYPOINT /pause"
	umoci gc --layout "$oci"
	# ctr names the imported image after this annotation.
	python3 - "$oci/index.json" "$name" <<'PY'
import json, sys
path, name = sys.argv[1:]
index = json.load(open(path))
for m in index["manifests"]:
    m.setdefault("annotations", {})["io.containerd.image.name"] = name
json.dump(index, open(path, "w"))
PY
	mkdir -p "$cached"
	(cd "$oci" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/pause.oci.tar" oci-layout index.json blobs)
	mv "$tmp/pause.oci.tar" "$archive.$$" && mv "$archive.$$" "$archive"
	echo "pause-image: built $name" >&2
fi
echo "$archive"
echo "$name"
