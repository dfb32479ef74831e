#!/usr/bin/env bash
# Builds a small bootable Debian cloud image (qcow2) from Debian packages only, for the
# MAAS controller's boot test (test/integration/maas/controller-boot.test.ts):
#
#   rootfs   mmdebstrap --variant=minbase of the host's Debian release (from Debian's own
#            mirrors, as the host's apt uses them) with the cloud kernel, systemd, udev,
#            cloud-init (NoCloud only), ifupdown, curl, openssh-server and sudo; no docs,
#            man pages, translations or locale sources
#   disk     an MBR partition table with one ext4 partition made straight from that tree
#            (mkfs.ext4 -d at an offset into the disk file: nothing is mounted, no loop
#            device), GRUB's i386-pc boot code written before the partition (grub-mkimage
#            and dd, what grub-install does for a BIOS disk), and a grub.cfg that boots the
#            kernel with console=ttyS0. A real disk image: no direct kernel boot.
#   image    qemu-img convert to a compressed qcow2 (zlib, which every QEMU reads)
#
# It needs no network to boot: cloud-init looks only for a NoCloud seed (a volume labelled
# cidata, e.g. the operator's seed ISO as a CD-ROM) and falls back to None.
#
# The image is cached under ${MAASLAB_CACHE:-$HOME/.cache/maaslab}/cloud-image/<key>/,
# keyed by a hash of its inputs (`hack/build-cloud-image.sh inputs` lists them): the
# Debian release and architecture, this script (which holds the package list, the options
# and every file written into the image) and the version of the host's GRUB boot code. A
# hit costs a hash and a copy (a hard link where it can). Debian's point releases and
# security updates do not change the key: MAASLAB_CLOUD_IMAGE_REBUILD=1 rebuilds.
#
# Usage: hack/build-cloud-image.sh [build]   build or reuse the image; the last line of
#                                            stdout is the path of build/cloud-image/info.json, which
#                                            describes the image next to it
#        hack/build-cloud-image.sh key       print the cache key
#        hack/build-cloud-image.sh inputs    print what the key hashes
#        hack/build-cloud-image.sh tools     install the build's own Debian packages
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self=$root/hack/build-cloud-image.sh
cmd=${1:-build}
cache_root=${MAASLAB_CACHE:-$HOME/.cache/maaslab}/cloud-image
out_dir=$root/build/cloud-image

# What the image holds, besides minbase (Essential:yes, apt) and the hard dependencies.
packages=(
	linux-image-cloud-amd64 initramfs-tools # the kernel for VMs (virtio, no hardware drivers) and its initramfs
	systemd-sysv udev dbus                  # init; device names (/dev/disk/by-label/cidata); hostnamectl for cloud-init
	cloud-init                              # reads the NoCloud seed and runs the user-data
	ifupdown isc-dhcp-client                # cloud-init's Debian 12 renderer (eni) for network-config v2; DHCP on an uplink
	cloud-guest-utils                       # growpart: the root partition fills a larger overlay (the controller's diskSize)
	openssh-server sudo                     # the seed's ssh_authorized_keys and the default user's sudo rule
	curl ca-certificates bash               # the bootstrap script polls the MAAS API with curl
)
# What the build needs on the host (root mode: no fakechroot, no user namespaces).
build_tools=(mmdebstrap qemu-utils grub-pc-bin e2fsprogs fdisk)
# The disk: 2 GiB, sparse; the partition starts at 1 MiB (sector 2048), GRUB's core image
# lives in the gap before it.
disk_mib=2048
part_start_sector=2048
kernel_cmdline='ro console=tty0 console=ttyS0,115200n8'
# GRUB modules built into its core image: all that the early config and grub.cfg use, so
# no module has to be read from disk (the image has no /boot/grub/i386-pc). `search` is the
# command the early config runs; search_fs_uuid alone only has `search.fs_uuid`, and without
# `search` GRUB would stop at its shell with root unset.
grub_modules=(biosdisk part_msdos ext2 search search_fs_uuid normal linux serial terminal echo test)
grub_dir=/usr/lib/grub/i386-pc

# minbase: what debootstrap's minbase has (Essential:yes, apt). merged-usr: the merged
# /usr of bookworm without usrmerge and the perl it pulls in. The dpkg filters drop
# documentation but the copyright files, man and info pages, translations, the locale
# sources (C.UTF-8 is built into glibc; nothing is generated) and lintian overrides.
mmdebstrap_opts=(
	--variant=minbase --mode=root --format=directory
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/i18n/*'
	--dpkgopt='path-exclude=/usr/share/lintian/*'
)

. /etc/os-release
suite=${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}
arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || { echo "build-cloud-image: only amd64 (linux-image-cloud-amd64, GRUB i386-pc); this host is $arch" >&2; exit 1; }

grub_version() { dpkg-query -W -f='${Version}' grub-pc-bin 2>/dev/null || echo none; }

inputs() {
	echo "suite=$suite arch=$arch"
	echo "packages=${packages[*]}"
	echo "grub-pc-bin=$(grub_version)"
	sha256sum "$self" | sed "s|$root/||"
}

key() { inputs | sha256sum | cut -c1-16; }

ensure_tools() {
	local missing=() p
	for p in "${build_tools[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "build-cloud-image: missing: ${missing[*]}; run as root on Debian: apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "build-cloud-image: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

case $cmd in
key) key; exit 0 ;;
inputs) inputs; exit 0 ;;
tools) ensure_tools; exit 0 ;;
build) ;;
*) echo "usage: $0 [build|key|inputs|tools]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "build-cloud-image: needs root (mmdebstrap's root mode, file owners in the image)" >&2; exit 1; }

# The key includes GRUB's version, so the tools come first (a no-op when installed).
ensure_tools
image_key=$(key)
cached=$cache_root/$image_key
image_name=debian-$suite-$arch-maaslab.qcow2

publish() {
	mkdir -p "$out_dir"
	rm -f "$out_dir/$image_name" "$out_dir/info.json"
	ln "$cached/$image_name" "$out_dir/$image_name" 2>/dev/null || cp "$cached/$image_name" "$out_dir/$image_name"
	cp "$cached/info.json" "$out_dir/info.json"
	echo "$out_dir/info.json"
}

# One build at a time per cache, also across worktrees; a second caller waits, then hits.
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9

if [[ ${MAASLAB_CLOUD_IMAGE_REBUILD:-0} != 1 && -f $cached/info.json ]]; then
	echo "cloud-image: cached ($image_key)" >&2
	publish
	exit 0
fi

started=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/maaslab-cloud-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs

echo "cloud-image: mmdebstrap $suite ($image_key; a few minutes)" >&2
# No MIRROR: mmdebstrap uses Debian's default mirror, with -updates and -security added for
# a stable release, the same archives as a stock Debian host.
mmdebstrap --quiet "${mmdebstrap_opts[@]}" --include="$(IFS=,; echo "${packages[*]}")" \
	"$suite" "$rootfs" </dev/null >&2

kernel=$(cd "$rootfs/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[ -n "$kernel" ] && [ -f "$rootfs/boot/initrd.img-$kernel" ] || { echo "build-cloud-image: no kernel or initramfs in the rootfs" >&2; exit 1; }
fs_uuid=$(cat /proc/sys/kernel/random/uuid)

# The files that make it a cloud image.
cat >"$rootfs/etc/fstab" <<EOF
UUID=$fs_uuid / ext4 defaults,errors=remount-ro 0 1
EOF
echo debian >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
# cloud-init's locale module keeps C.UTF-8 (built in) instead of generating en_US.UTF-8.
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"
cat >"$rootfs/etc/network/interfaces" <<'EOF'
# cloud-init writes the interfaces of network-config to interfaces.d/50-cloud-init.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
mkdir -p "$rootfs/etc/network/interfaces.d"
# Only NoCloud (the seed ISO, label cidata), then None: no waiting on metadata servers
# that do not exist. ds-identify reads this line too, so it stays on one line.
cat >"$rootfs/etc/cloud/cloud.cfg.d/90_maaslab.cfg" <<'EOF'
# Written by maaslab's hack/build-cloud-image.sh: a NoCloud seed or nothing.
datasource_list: [ NoCloud, None ]
EOF
# A fresh machine ID on first boot; host keys made by cloud-init per instance.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*
rm -f "$rootfs/etc/resolv.conf"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
	"$rootfs"/var/lib/dpkg/*-old "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
	"$rootfs"/usr/share/doc/*/changelog*
mkdir -p "$rootfs/boot/grub"
cat >"$rootfs/boot/grub/grub.cfg" <<EOF
# Written by maaslab's hack/build-cloud-image.sh. GRUB's modules are in its core image.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set default=0
set timeout=0
menuentry 'Debian GNU/Linux ($suite, maaslab cloud image)' {
	linux /boot/vmlinuz-$kernel root=UUID=$fs_uuid $kernel_cmdline
	initrd /boot/initrd.img-$kernel
}
EOF
packages_installed=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${binary:Package}\n' | wc -l)
rootfs_bytes=$(du -sb "$rootfs" | cut -f1)

echo "cloud-image: disk (ext4 from the tree, GRUB i386-pc)" >&2
disk=$tmp/disk.raw
truncate -s "${disk_mib}M" "$disk"
printf 'label: dos\nstart=%s, type=83, bootable\n' "$part_start_sector" | sfdisk --quiet "$disk"
part_bytes=$((disk_mib * 1024 * 1024 - part_start_sector * 512))
# ^metadata_csum_seed: GRUB 2.06 cannot read such a file system (2.12 can).
mkfs.ext4 -q -F -L cloudimg-rootfs -U "$fs_uuid" -O ^metadata_csum_seed -m 1 \
	-E "offset=$((part_start_sector * 512)),nodiscard" -d "$rootfs" "$disk" "$((part_bytes / 1024))k"
cat >"$tmp/early.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $fs_uuid
set prefix=(\$root)/boot/grub
EOF
grub-mkimage -O i386-pc -d "$grub_dir" -c "$tmp/early.cfg" -p /boot/grub -o "$tmp/core.img" "${grub_modules[@]}"
core_bytes=$(stat -c %s "$tmp/core.img")
((core_bytes <= (part_start_sector - 1) * 512)) || { echo "build-cloud-image: GRUB core image ($core_bytes bytes) does not fit before the partition" >&2; exit 1; }
# What grub-bios-setup does for a hard disk: boot.img's code into the MBR (the partition
# table and disk signature after byte 440 stay), its drive check replaced by NOPs (for
# BIOSes that pass a wrong boot drive), core.img from sector 1, where boot.img's default
# kernel_sector points; grub-mkimage has already set core.img's own sector list.
dd if="$grub_dir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
printf '\x90\x90' | dd of="$disk" bs=1 seek=$((0x66)) conv=notrunc status=none
dd if="$tmp/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none

echo "cloud-image: qcow2" >&2
qemu-img convert -q -c -f raw -O qcow2 "$disk" "$tmp/$image_name"
rm -f "$disk"
size=$(stat -c %s "$tmp/$image_name")
sha=$(sha256sum "$tmp/$image_name" | cut -d' ' -f1)
# info.json: what the helper (test/support/cloud-image.ts) and a human want to know. Every
# value is a number or a plain word, so printf writes valid JSON.
packages_json=$(printf '"%s",' "${packages[@]}")
cat >"$tmp/info.json" <<EOF
{
  "key": "$image_key",
  "file": "$image_name",
  "suite": "$suite",
  "arch": "$arch",
  "kernel": "$kernel",
  "fsUuid": "$fs_uuid",
  "sizeBytes": $size,
  "sha256": "$sha",
  "virtualSizeBytes": $((disk_mib * 1024 * 1024)),
  "rootfsBytes": $rootfs_bytes,
  "packages": [${packages_json%,}],
  "packagesInstalled": $packages_installed,
  "buildSeconds": $((SECONDS - started))
}
EOF
rm -rf "$cached.$$"
mkdir "$cached.$$"
mv "$tmp/$image_name" "$tmp/info.json" "$cached.$$/"
rm -rf "$cached"
mv "$cached.$$" "$cached"
echo "cloud-image: built $image_key in $((SECONDS - started)) s: $((size / 1024 / 1024)) MiB qcow2 ($((rootfs_bytes / 1024 / 1024)) MiB of files, $packages_installed packages, kernel $kernel)" >&2
publish
