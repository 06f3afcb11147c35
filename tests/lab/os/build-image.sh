#!/usr/bin/env bash
# Builds (once) the real-OS lab image: Debian (the host's release, from the host's own apt
# sources) with systemd, networkd, udev, ipvsadm, cloud-init and Debian's cloud kernel, by
# mmdebstrap into a directory, `mkfs.ext4 -d` into a raw image, converted to a qcow2 base.
# The kernel and initrd are copied out beside it (qemu boots them with -kernel/-initrd).
#
# Cached under $LAB_OS_CACHE (default /var/cache/lvs-converge-lab, which outlives a CI
# clone) in a directory named after the hash of this script and guest/ (the image's own
# units and files): the same inputs reuse the image, any change builds a new one.
# Prints the image directory on stdout. Run as root.
set -euo pipefail
OS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LAB_OS_CACHE:-/var/cache/lvs-converge-lab}
say() { printf '[lab-os] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

# Everything the image is made of: minbase plus these, no Recommends (dbus: networkctl;
# ansible-core, man-db, bash-completion: 30_ansible_package installs the .deb and runs the
# Ansible collection as a user would, with Debian's own packages).
PACKAGES=(systemd systemd-sysv udev dbus iproute2 ipvsadm kmod linux-image-cloud-amd64
    initramfs-tools cloud-init busybox-static jq ansible-core man-db bash-completion)

. /etc/os-release
SUITE=${LAB_OS_SUITE:-$VERSION_CODENAME}
# The host's Debian sources (deb822 or one-line), as lab.sh fetches its kernel through apt.
SOURCES=
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [[ -s $f ]] && grep -q "deb.debian.org\|debian" "$f" && { SOURCES=$f; break; }
done
[[ -n $SOURCES ]] || die "no Debian apt sources on this host"

hash=$( { echo "$SUITE ${PACKAGES[*]}"; cat "$OS_DIR/build-image.sh";
          (cd "$OS_DIR/guest" && find . -type f | LC_ALL=C sort | xargs cat); } | sha256sum | cut -c1-16)
IMG_DIR=$CACHE/debian-$SUITE-$hash
if [[ -f $IMG_DIR/.done ]]; then
    echo "$IMG_DIR"
    exit 0
fi

for tool in mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs qemu-img:qemu-utils; do
    command -v "${tool%%:*}" >/dev/null 2>&1 && continue
    say "apt-get install ${tool#*:}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tool#*:}" >&2
done

t0=$(date +%s)
say "building $IMG_DIR (mmdebstrap $SUITE: ${PACKAGES[*]})"
rm -rf "$IMG_DIR"
mkdir -p "$IMG_DIR"
ROOT=$IMG_DIR/root
# guest/ holds the image's own files, copied over the root as they are (units, networkd
# and cloud-init settings); the customize hook then enables what must start at boot and
# masks what would only steal the one emulated CPU (man-db.timer: its first, "persistent"
# run would rebuild the man index during a scenario).
mmdebstrap --variant=minbase --mode=root --format=directory \
    --aptopt='APT::Install-Recommends "false"' \
    --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --customize-hook="tar -C '$OS_DIR/guest' --owner=0 --group=0 -cf - . | tar -C \"\$1\" -xf -" \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd.service lab-install.service lab-stage.service' \
    --customize-hook='chroot "$1" systemctl mask serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer' \
    --customize-hook='echo lab >"$1/etc/hostname"; passwd --root "$1" -d root >/dev/null' \
    "$SUITE" "$ROOT" "$SOURCES" >&2 || die "mmdebstrap failed"
kernel=$(ls "$ROOT"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$ROOT"/boot/initrd.img-* | sort -V | tail -1)
[[ -f $kernel && -f $initrd ]] || die "no kernel/initrd in the image"
cp "$kernel" "$IMG_DIR/vmlinuz"
cp "$initrd" "$IMG_DIR/initrd.img"
# 2 GiB of room: the root holds ~400 MB; scenarios write little.
mkfs.ext4 -q -L root -d "$ROOT" "$IMG_DIR/root.raw" 2G >/dev/null
qemu-img convert -f raw -O qcow2 "$IMG_DIR/root.raw" "$IMG_DIR/base.qcow2"
rm -rf "$ROOT" "$IMG_DIR/root.raw"
echo "$SUITE ${PACKAGES[*]}" >"$IMG_DIR/packages"
touch "$IMG_DIR/.done"
say "image built in $(($(date +%s) - t0))s: $(du -sh "$IMG_DIR" | cut -f1)"
echo "$IMG_DIR"
