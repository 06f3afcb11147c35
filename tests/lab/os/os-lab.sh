#!/usr/bin/env bash
# Real-OS lab: boots a real Debian (systemd, networkd, udev, cloud-init, Debian's ipvsadm
# and cloud kernel; built by build-image.sh, cached) under qemu TCG, once per scenario in
# tests/lab/os/scenarios/, and reboots it for real as often as the scenario asks.
#
# Per scenario: a qcow2 overlay on the cached base image (the scenario's root disk, kept
# across its reboots), a read-only lab disk (/lab in the VM: tests/lab, examples/ at
# /lab/examples, the static lvs-converge at /lab/bin), and for a scenario whose header says
# `# lab-os-seed: DIR`, a NoCloud seed (vfat labelled CIDATA holding DIR's user-data and
# meta-data). The lab disk also holds the .deb (/lab/deb/, with the commit it must name in
# /lab/deb/commit) and the Ansible collection (/lab/ansible_collections/lvs_converge/lvs, a
# copy of ansible/); a scenario whose header says `# lab-os-needs: deb ansible` is not
# booted without them (it fails, naming what is missing; the other scenarios run);
# `# lab-os-boot-timeout: SECS` gives a scenario whose boots do much (under TCG) more than
# LAB_OS_BOOT_TIMEOUT per boot. In the VM, lab-stage.service runs boot_<N> of the scenario after boot N; it
# prints "LAB-OS-REBOOT <name> <N>" and reboots (qemu's -no-reboot ends it, and this script
# boots the same disks again) or "LAB-VERDICT <name> PASS|FAIL" and powers off.
#
# Usage: tests/lab/os/os-lab.sh [SCENARIO...]   (default: every scenarios/*.sh, in order)
# Console log per boot: target/lab-logs/os/<name>.boot<N>.log. The last line printed is
# "N passed, N failed"; the exit status is non-zero if any scenario did not pass.
#
# Environment knobs:
#   LAB_OS_BOOT_TIMEOUT=SECS  hard timeout per boot (default 300; a scenario's
#                             `# lab-os-boot-timeout:` header may give it more)
#   LAB_OS_MAX_BOOTS=N        a scenario asking for more reboots fails (default 6)
#   LAB_OS_CACHE=DIR          where the image is cached (default /var/cache/lvs-converge-lab)
#   LAB_MEM=MiB               memory per VM (default 1024)
#   LAB_JOBS=N                scenarios (VMs) at the same time (default: nproc)
#   LAB_BINARY=PATH           this static lvs-converge instead of building it (lab.sh)
#   LAB_OS_DEB=PATH           the .deb to test (unset: the newest target/debian/*.deb, as
#                             tests/lab/build-deb.sh leaves it; set but empty: no .deb, as
#                             run-all passes it when build-deb.sh failed)
#   LAB_NO_BUILD=1            do not run cargo; use the existing musl binary
#   LAB_TAIL=N                console lines shown for a failed scenario (default 80)
#   LAB_APPEND="..."          more kernel command line (e.g. systemd.show_status=1)
set -euo pipefail
OS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_DIR=$(cd "$OS_DIR/.." && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
BIN=${LAB_BINARY:-$REPO/target/x86_64-unknown-linux-musl/release/lvs-converge}
LOG_DIR=$REPO/target/lab-logs/os
WORK=$REPO/target/lab-work/os
BOOT_TIMEOUT=${LAB_OS_BOOT_TIMEOUT:-300}
MAX_BOOTS=${LAB_OS_MAX_BOOTS:-6}
LAB_MEM=${LAB_MEM:-1024}
LAB_JOBS=${LAB_JOBS:-$(nproc)}
LAB_TAIL=${LAB_TAIL:-80}

say() { printf '[lab-os] %s\n' "$*" >&2; }
die() { # die WHAT [HINT]
    say "error: $1"
    [[ -z ${2:-} ]] || say "hint: $2"
    exit 2
}

ensure_tools() {
    local -A want=([qemu-system-x86_64]=qemu-system-x86 [qemu-img]=qemu-utils [mkfs.ext4]=e2fsprogs
        [mkfs.vfat]=dosfstools [mcopy]=mtools [mmdebstrap]=mmdebstrap)
    local missing=() c
    for c in "${!want[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("${want[$c]}"); done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}) and not root"
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    }
}

# The lab disk: tests/lab as /lab, examples/ as /lab/examples, the binary as /lab/bin.
build_lab_disk() {
    local dir=$WORK/lab-disk
    rm -rf "$dir"
    mkdir -p "$dir/examples" "$dir/bin"
    tar -C "$LAB_DIR" --exclude=./.cache -cf - . | tar -C "$dir" -xf -
    cp -a "$REPO/examples/." "$dir/examples/"
    install -m 0755 "$BIN" "$dir/bin/lvs-converge"
    if [[ -n $DEB ]]; then
        mkdir -p "$dir/deb"
        cp "$DEB" "$dir/deb/"
        # The commit the packaged binary must name: this tree's (a stale .deb fails).
        git -C "$REPO" rev-parse --short=12 HEAD >"$dir/deb/commit" 2>/dev/null || echo unknown >"$dir/deb/commit"
    fi
    if [[ -d $REPO/ansible ]]; then
        mkdir -p "$dir/ansible_collections/lvs_converge"
        cp -a "$REPO/ansible" "$dir/ansible_collections/lvs_converge/lvs"
    fi
    local mib=$(($(du -sm "$dir" | cut -f1) + 32))
    rm -f "$WORK/lab.img"
    mkfs.ext4 -q -L lab -d "$dir" "$WORK/lab.img" "${mib}M" >/dev/null
}

# seed_disk NAME DIR: a NoCloud seed, vfat labelled CIDATA, with DIR's files.
seed_disk() {
    local img=$WORK/$1.seed.img f
    rm -f "$img"
    mkfs.vfat -C -n CIDATA "$img" 2048 >/dev/null
    for f in "$REPO/$2"/*; do mcopy -i "$img" "$f" "::$(basename "$f")"; done
    echo "$img"
}

# check_needs NAME: what the scenario's `# lab-os-needs:` header names is on the lab disk;
# if not, prints why (and a hint) on stdout and returns 1: that scenario fails unbooted, the
# others run. An unknown need is a mistake in the scenario's header: the lab stops.
check_needs() {
    local need
    for need in $(sed -n 's/^# lab-os-needs: *//p' "$OS_DIR/scenarios/$1.sh"); do
        case $need in
        deb)
            [[ -n $DEB ]] && continue
            if [[ -n ${LAB_OS_DEB+set} ]]; then
                echo "$1 needs the .deb: LAB_OS_DEB is empty (did tests/lab/build-deb.sh fail? run-all keeps its log in target/build-deb.log)"
            else
                echo "$1 needs the .deb: none in $REPO/target/debian and LAB_OS_DEB is not set"
            fi
            echo "hint: build it with tests/lab/build-deb.sh (or set LAB_OS_DEB=PATH to a .deb)"
            return 1
            ;;
        ansible)
            [[ -d $REPO/ansible ]] && continue
            echo "$1 needs the Ansible collection: no $REPO/ansible"
            echo "hint: the collection's root is ansible/ in the repository (galaxy.yml, plugins/, roles/)"
            return 1
            ;;
        *) die "$1: unknown '# lab-os-needs: $need' in its header" "known needs: deb, ansible" ;;
        esac
    done
}

# run_scenario NAME -> prints "NAME VERDICT SECS BOOTS"
run_scenario() {
    local name=$1 t0 boot=0 verdict= rc log seed overlay=$WORK/$1.qcow2
    t0=$(date +%s)
    qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE/base.qcow2" "$overlay"
    local -a disks=(-drive "file=$overlay,if=virtio,format=qcow2"
        -drive "file=$WORK/lab.img,if=virtio,format=raw,readonly=on")
    seed=$(sed -n 's/^# lab-os-seed: *//p' "$OS_DIR/scenarios/$name.sh")
    local timeout_s
    timeout_s=$(sed -n 's/^# lab-os-boot-timeout: *\([0-9]*\).*/\1/p' "$OS_DIR/scenarios/$name.sh")
    ((${timeout_s:-0} > BOOT_TIMEOUT)) || timeout_s=$BOOT_TIMEOUT
    [[ -z $seed ]] || disks+=(-drive "file=$(seed_disk "$name" "$seed"),if=virtio,format=raw,readonly=on")
    while [[ -z $verdict ]]; do
        boot=$((boot + 1))
        if ((boot > MAX_BOOTS)); then verdict=TOO-MANY-BOOTS; break; fi
        log=$LOG_DIR/$name.boot$boot.log
        rc=0
        # Two NICs on one qemu hub (no host or outside network): eth0 is the host's own,
        # eth1 carries the scenario's namespaces onto the same segment.
        timeout --kill-after=10 "$timeout_s" \
            qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m "$LAB_MEM" -smp 1 \
                -nodefaults -display none -serial stdio -monitor none -no-reboot \
                -kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img" \
                -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet panic=-1 ${LAB_APPEND:-} lab.scenario=$name" \
                "${disks[@]}" \
                -netdev hubport,id=p0,hubid=0 -device virtio-net-pci,netdev=p0,mac=52:54:00:00:00:10 \
                -netdev hubport,id=p1,hubid=0 -device virtio-net-pci,netdev=p1,mac=52:54:00:00:00:11 \
                </dev/null >"$log" 2>&1 || rc=$?
        verdict=$(tr -d '\r' <"$log" | awk -v n="$name" '$1 == "LAB-VERDICT" && $2 == n { v = $3 } END { print v }')
        [[ -n $verdict ]] && break
        if tr -d '\r' <"$log" | grep -q "^LAB-OS-REBOOT $name $boot\$"; then
            say "$name: boot $boot done, rebooting ($(($(date +%s) - t0))s so far)"
            continue
        fi
        if ((rc == 124 || rc == 137)); then verdict=TIMEOUT; else verdict=NOVERDICT; fi
    done
    rm -f "$overlay"
    echo "$name $verdict $(($(date +%s) - t0)) $boot"
}

main() {
    local -a scenarios=()
    local s
    if (($#)); then
        for s in "$@"; do
            s=$(basename "$s" .sh)
            [[ -f $OS_DIR/scenarios/$s.sh ]] || die "no scenario $s in $OS_DIR/scenarios"
            scenarios+=("$s")
        done
    else
        for s in "$OS_DIR"/scenarios/*.sh; do scenarios+=("$(basename "$s" .sh)"); done
    fi
    local t_all
    t_all=$(date +%s)
    ensure_tools
    if [[ -z ${LAB_BINARY:-} ]]; then LAB_BUILD_ONLY=1 "$LAB_DIR/lab.sh"; fi
    [[ -x $BIN ]] || die "no static lvs-converge at $BIN"
    # No colon: an empty LAB_OS_DEB means "no .deb" (its build failed), never an older one.
    DEB=${LAB_OS_DEB-$(ls -t "$REPO"/target/debian/lvs-converge_*.deb 2>/dev/null | head -n1 || true)}
    [[ -z $DEB || -f $DEB ]] || die "LAB_OS_DEB=$DEB is not a file" \
        "set it to the path tests/lab/build-deb.sh prints, or unset it for the newest target/debian/*.deb"
    [[ -z $DEB ]] || say "package $DEB"
    local -A unmet=()
    local why rc
    for s in "${scenarios[@]}"; do
        rc=0
        why=$(check_needs "$s") || rc=$?
        ((rc != 2)) || exit 2 # die in check_needs' subshell: it said why on stderr
        ((rc == 0)) && continue
        unmet[$s]=$why
        say "not booting $s: $(head -n1 <<<"$why")"
    done
    IMAGE=$("$OS_DIR/build-image.sh") || die "the image could not be built"
    say "image $IMAGE ($(($(date +%s) - t_all))s)"
    rm -rf "$LOG_DIR" "$WORK"
    mkdir -p "$LOG_DIR" "$WORK"
    build_lab_disk
    # One VM per core, as lab.sh: each scenario's boots are serial, scenarios are not.
    local -a pids=()
    for s in "${scenarios[@]}"; do
        if [[ -n ${unmet[$s]:-} ]]; then
            echo "$s UNMET-NEEDS 0 0" >"$WORK/$s.result"
            continue
        fi
        while (($(jobs -rp | wc -l) >= LAB_JOBS)); do wait -n || true; done
        say "booting $s"
        run_scenario "$s" >"$WORK/$s.result" &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    local pass=0 fail=0 verdict secs boots
    for s in "${scenarios[@]}"; do
        read -r _ verdict secs boots <"$WORK/$s.result" || verdict=CRASHED
        printf '[lab-os] %-40s %-9s %6ss  %s boots\n' "$s" "$verdict" "$secs" "$boots"
        if [[ $verdict == PASS ]]; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            if [[ -n ${unmet[$s]:-} ]]; then
                echo "----- $s was not booted -----"
                echo "${unmet[$s]}"
                continue
            fi
            echo "----- last $LAB_TAIL lines of $LOG_DIR/$s.boot${boots:-1}.log -----"
            tr -d '\r' <"$LOG_DIR/$s.boot${boots:-1}.log" 2>/dev/null | tail -n "$LAB_TAIL"
            echo "----- end of $s -----"
        fi
    done
    say "OS lab total: $(($(date +%s) - t_all))s; logs in $LOG_DIR"
    echo "$pass passed, $fail failed"
    ((fail == 0))
}

main "$@"
