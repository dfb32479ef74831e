#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is missing.
# Where it cannot (not root, or no apt-get), it prints the exact command and fails.
set -euo pipefail

packages=(
  build-essential pkg-config python3        # node-gyp's toolchain
  libvirt-dev                                # headers and libvirt.so for the N-API binding
  libvirt-daemon-system libvirt-clients      # the private libvirtd and virsh used by the tests
  libvirt-daemon-driver-qemu
  qemu-system-x86 qemu-utils                 # real domains (TCG: no KVM here)
  ovmf                                       # UEFI firmware (OVMF code + vars templates, /usr/share/qemu/firmware descriptors) for UEFI MaasNodes
  dnsmasq-base iproute2 iptables util-linux  # libvirt networks and the test network namespace
  virtinst                                   # virt-install, the manual recipe's way (bench/)
  libxml2-utils                              # xmllint, which virt-xml-validate runs (unit tests)
  openssh-client                             # ssh -G / ssh-keygen: deploy/ tests of the qemu+ssh setup
  openssh-server                             # a real sshd (own config, own port, in a test netns) for qemu+ssh e2e
  prometheus                                 # promtool and a real server for deploy/monitoring's tests
  lua5.1 lua-cjson                           # runs deploy/argocd/health.lua the way Argo CD does (Lua 5.1)
  openssl                                    # a throw-away TLS certificate in the REST unit tests
  python3-sushy curl                         # real Redfish clients (OpenStack sushy, as Ironic uses it) in the BMC tests
  ipmitool freeipmi-tools                    # real IPMI clients (ipmitool lanplus; MAAS's ipmipower, ipmi-chassis-config) for the IPMI BMC's tests
  cloud-init genisoimage xorriso             # the MAAS controller seed's tests: cloud-init schema, isoinfo, xorriso
  mmdebstrap umoci                           # make image (hack/build-image.sh): the image's root fs from Debian, the OCI layout
  containerd runc containernetworking-plugins # make cluster (test/support/cluster.ts): the node's runtime and pod network
  grub-pc-bin e2fsprogs fdisk                # hack/build-cloud-image.sh (the controller boot test's image, with mmdebstrap); debugfs, sfdisk read it back
)

missing=()
# npm fetches the pinned Node when the host's is too old. Only Debian's npm is
# installed, and only when there is none: a host node from elsewhere brings its own.
command -v npm >/dev/null 2>&1 || packages+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-packages: missing: ${missing[*]}" >&2
  echo "ensure-system-packages: run as root on Debian: apt-get update && $cmd" >&2
  exit 1
fi
echo "ensure-system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

# Debian's prometheus and openssh-server postinsts enable and start their own services, which
# listen on 0.0.0.0:9090 and 0.0.0.0:22. The tests only want the binaries (they start their own
# servers, on 127.0.0.1 or inside a network namespace of their own), so those services are kept
# from starting during this install (a policy-rc.d, which invoke-rc.d and deb-systemd-invoke
# both obey; an existing one is left as it is) and their units are disabled afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  cat >"$policy" <<'SH'
#!/bin/sh
for a in "$@"; do case "$a" in prometheus | prometheus.service | containerd | containerd.service | ssh | ssh.service | ssh.socket | sshd | sshd.service) exit 101 ;; esac; done
exit 0
SH
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends ${missing[*]} >&2
# disable_service NAME UNIT...: not at boot either, whichever init system this host uses.
disable_service() {
  local name="$1"
  shift
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "$@" >&2 || true
  else
    "/etc/init.d/$name" stop >/dev/null 2>&1 || true
    systemctl disable "$@" >/dev/null 2>&1 || true # works offline too
  fi
  update-rc.d "$name" disable >/dev/null 2>&1 || true
}
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  disable_service prometheus prometheus.service
fi
if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
  disable_service ssh ssh.service ssh.socket
fi
