#!/usr/bin/env bash
# Real-kernel test lab for lvs-converge.
#
# Boots a Debian cloud kernel under qemu (TCG) once per scenario, with an
# initramfs that holds busybox, iproute2's ip, ipvsadm, kmod, bash, the
# static lvs-converge binary, keepalived, this directory at /lab, examples/ at
# /lab/examples and tests/import/ at /lab/import. Each VM runs one scenario and prints
#   LAB-VERDICT <name> PASS|FAIL
# on its console, then powers off.
#
# Usage: tests/lab/lab.sh [SCENARIO...]
#   SCENARIO: a name ("10_reference_manual_tun"), a file name, or a path;
#   default: every tests/lab/scenarios/*.sh in sorted order. The benchmarks in
#   tests/lab/scenarios-bench/ run only when named (tests/lab/bench.sh does).
#
# Environment knobs:
#   LAB_TIMEOUT=SECS     hard timeout per VM (default 600)
#   LAB_KEEP_LOGS=1      keep target/lab-logs/ from earlier runs (default: wipe)
#   LAB_LOG_DIR=DIR      where console logs go (default target/lab-logs)
#   LAB_JOBS=N           VMs run at the same time (default: nproc). Scenarios
#                        are serial inside, so one vCPU per VM and one VM per
#                        host core is the fastest suite (measured).
#   LAB_SMP=N            vCPUs per VM (default 1)
#   LAB_MEM=MiB          memory per VM (default 1024)
#   LAB_BINARY=PATH      use this static lvs-converge instead of building it
#   LAB_NO_BUILD=1       do not run cargo; use the existing musl binary
#   LAB_KERNEL_PKG=NAME  kernel package (default: whatever
#                        linux-image-cloud-amd64 depends on)
#   LAB_EXTRA_MODULES="m1 m2"   more kernel modules (plus deps) in the initramfs
#   LAB_EXTRA_BINS="/usr/sbin/foo ..."  more host binaries (plus their libs)
#   LAB_EXTRA_FILES="SRC:DEST ..."      more files/dirs copied into the initramfs
#   LAB_APPEND="..."     extra kernel command line arguments
#   LAB_TAIL=N           log lines shown for a failed scenario (default 60)
#   LAB_PACKAGES_ONLY=1  install the host packages (keepalived, ipvsadm, …) and stop:
#                        cargo tests read keepalived's sample configs from its package
#   LAB_BUILD_ONLY=1     install the host packages, build the static binary and stop
#                        (the real-OS lab, os/os-lab.sh, boots its own image with it)
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
CACHE=$LAB_DIR/.cache
TARGET=x86_64-unknown-linux-musl
BIN=${LAB_BINARY:-$REPO/target/$TARGET/release/lvs-converge}
LOG_DIR=${LAB_LOG_DIR:-$REPO/target/lab-logs}
WORK=$REPO/target/lab-work
LAB_TIMEOUT=${LAB_TIMEOUT:-600}
LAB_JOBS=${LAB_JOBS:-$(nproc)}
LAB_SMP=${LAB_SMP:-1}
LAB_MEM=${LAB_MEM:-1024}
LAB_TAIL=${LAB_TAIL:-60}

# Modules (with their dependencies) put into the initramfs. The whole
# net/netfilter/ipvs directory is added on top of this list.
LAB_MODULES="ipip ip_gre gre fou fou6 ip6_tunnel ip6_gre sit tunnel4 tunnel6
  veth bridge dummy macvlan ipvlan vxlan 8021q
  nf_conntrack nf_tables nft_ct nft_chain_nat nft_compat
  ip_tables iptable_filter iptable_mangle iptable_nat xt_mark
  xt_conntrack xt_addrtype libcrc32c ${LAB_EXTRA_MODULES:-}"

say() { printf '[lab] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }
# reap_one (the VM loop) needs `wait -n -p`, new in bash 5.1: older bash rejects the option.
if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    say "error: bash $BASH_VERSION is too old: the lab needs bash >= 5.1 (wait -n -p)"
    say "hint: run it where bash is 5.1 or newer (Debian 12, Ubuntu 22.04 and later)"
    exit 2
fi
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- host setup
apt_updated=
apt_update_once() {
    [[ -n $apt_updated ]] && return 0
    say "apt-get update"
    apt-get update -qq >&2
    apt_updated=1
}

ensure_packages() {
    # command -> package
    local -A want=(
        [qemu-system-x86_64]=qemu-system-x86
        [/bin/busybox]=busybox-static
        [ipvsadm]=ipvsadm
        [/usr/sbin/keepalived]=keepalived
        [ip]=iproute2
        [cpio]=cpio
        [kmod]=kmod
        [depmod]=kmod
        [gzip]=gzip
        [dpkg-deb]=dpkg
        [jq]=jq
        [python3]=python3
        [/usr/bin/time]=time
    )
    local missing=() c
    for c in "${!want[@]}"; do
        if [[ $c == /* ]]; then [[ -x $c ]] && continue
        else command -v "$c" >/dev/null 2>&1 && continue; fi
        missing+=("${want[$c]}")
    done
    # Debian's dynamic busybox lacks the applets we rely on (httpd, nc):
    # we need the static one.
    if [[ -x /bin/busybox ]] && [[ $'\n'$(/bin/busybox --list 2>/dev/null)$'\n' != *$'\nhttpd\n'* ]]; then
        missing+=(busybox-static)
    fi
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}) and not root"
    apt_update_once
    say "apt-get install -y ${missing[*]}"
    local pkgs
    mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
}

ensure_binary() {
    if [[ -n ${LAB_BINARY:-} ]]; then
        [[ -x $BIN ]] || die "LAB_BINARY=$BIN is not executable"
        return 0
    fi
    if [[ -z ${LAB_NO_BUILD:-} ]]; then
        if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
            say "rustup target add $TARGET"
            rustup target add "$TARGET" >&2
        fi
        say "cargo build --release --target $TARGET --features fault-injection"
        (cd "$REPO" && cargo build --release --target "$TARGET" --features fault-injection >&2) ||
            die "cargo build failed (the lab needs a static lvs-converge)"
    fi
    [[ -x $BIN ]] || die "no binary at $BIN"
}

first_dir() {
    local d
    for d in "$@"; do [[ -d $d ]] && { echo "$d"; return 0; }; done
    return 0
}

# Sets KVER and KROOT (unpacked kernel package with depmod run).
ensure_kernel() {
    local pkg=${LAB_KERNEL_PKG:-}
    if [[ -z $pkg ]]; then
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
              awk '/Depends: linux-image-/ { print $2; exit }') || true
        if [[ -z $pkg ]]; then
            apt_update_once
            pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
                  awk '/Depends: linux-image-/ { print $2; exit }') || true
        fi
        if [[ -z $pkg ]]; then
            # Offline fallback: newest kernel already in the cache.
            pkg=$(ls -1 "$CACHE/kernel" 2>/dev/null | sort -V | tail -1) || true
            [[ -n $pkg ]] || die "cannot resolve linux-image-cloud-amd64"
            say "apt cannot resolve the kernel; using cached $pkg"
        fi
    fi
    KROOT=$CACHE/kernel/$pkg
    KVER=${pkg#linux-image-}
    if [[ ! -f $KROOT/.done ]]; then
        say "fetching kernel package $pkg"
        rm -rf "$KROOT"
        mkdir -p "$KROOT"
        local dl
        dl=$(mktemp -d)
        chmod 777 "$dl"  # apt-get download runs as _apt when root
        if ! (cd "$dl" && apt-get download "$pkg" >&2); then
            apt_update_once
            (cd "$dl" && apt-get download "$pkg" >&2)
        fi
        dpkg -x "$dl"/*.deb "$KROOT"
        rm -rf "$dl"
        local mods
        mods=$(first_dir "$KROOT"/lib/modules/* "$KROOT"/usr/lib/modules/*)
        [[ -n $mods ]] || die "no modules in $pkg"
        KVER=$(basename "$mods")
        depmod -b "$KROOT" "$KVER"
        echo "$KVER" >"$KROOT/.kver"
        touch "$KROOT/.done"
    fi
    KVER=$(cat "$KROOT/.kver")
    KMODS=$(first_dir "$KROOT"/lib/modules/"$KVER" "$KROOT"/usr/lib/modules/"$KVER")
    VMLINUZ=$(ls "$KROOT"/boot/vmlinuz-"$KVER")
    say "kernel $KVER"
}

# ---------------------------------------------------------------- initramfs
# Copy a host file into $ROOT at the same path (following its symlink chain
# so that both the link and the target exist).
copy_host() {
    local f=$1
    while :; do
        [[ -e $ROOT$f || -L $ROOT$f ]] || { mkdir -p "$ROOT$(dirname "$f")"; cp -a "$f" "$ROOT$f"; }
        [[ -L $f ]] || break
        local t
        t=$(readlink "$f")
        [[ $t == /* ]] || t=$(dirname "$f")/$t
        f=$t
    done
}

# Copy a dynamically linked binary and every library it needs.
copy_bin() {
    local b=$1 lib
    copy_host "$b"
    for lib in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*' || true); do
        copy_host "$lib"
    done
}

build_initramfs() {
    local t0
    t0=$(now)
    ROOT=$WORK/root
    rm -rf "$ROOT"
    mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,run,tmp,etc,root,var,mnt}
    ln -s usr/bin "$ROOT/bin"
    ln -s usr/sbin "$ROOT/sbin"
    ln -s usr/lib "$ROOT/lib"
    ln -s usr/lib64 "$ROOT/lib64"
    ln -s ../run "$ROOT/var/run"
    chmod 1777 "$ROOT/tmp"

    # busybox, without the applets that real tools replace: its "ip" family
    # (which even busybox sh would prefer over /sbin/ip), module tools (kmod)
    # and the shells we ship as bash.
    cp /bin/busybox "$ROOT/usr/bin/busybox"
    local a name
    while read -r a; do
        name=${a##*/}
        case $name in
            ip|ipaddr|iplink|ipneigh|iproute|iprule|iptunnel) continue ;;
            modprobe|insmod|rmmod|lsmod|depmod|modinfo) continue ;;
            bash|busybox|init|linuxrc) continue ;;
        esac
        a=${a#/}
        a=${a#usr/}
        [[ -e $ROOT/usr/$a ]] || ln -s /usr/bin/busybox "$ROOT/usr/$a"
    done < <(/bin/busybox --list-full)

    local b
    # ipvsadm-restore: a shell script around ipvsadm -R (restores rendered rules files)
    # flock (util-linux): holds the apply lock from outside in the safety scenario
    # keepalived: builds an IPVS table the import scenario reads back from keepalived.conf
    # jq: reads apply's JSON failure report in the batch outcome scenario
    # systemd-networkd (when the host has it: Debian's systemd package): the networkd scenario
    # lets networkd itself configure a namespace from the rendered files
    local networkd=
    [[ -x /lib/systemd/systemd-networkd ]] && networkd=/lib/systemd/systemd-networkd
    for b in bash ip ipvsadm ipvsadm-restore kmod flock /usr/sbin/keepalived jq $networkd ${LAB_EXTRA_BINS:-}; do
        if [[ $b != /* ]]; then b=$(command -v "$b") || die "no $b on host"; fi
        copy_bin "$(readlink -f "$b")"
        # keep the usual name too (ip is /usr/sbin/ip, /usr/bin/ip on others)
        [[ -e $ROOT$b ]] || ln -s "$(readlink -f "$b")" "$ROOT$b"
    done
    for a in modprobe insmod rmmod lsmod depmod modinfo; do
        ln -sf /usr/bin/kmod "$ROOT/usr/sbin/$a"
    done
    [[ -e $ROOT/usr/bin/bash ]] || ln -s "$(readlink -f "$(command -v bash)")" "$ROOT/usr/bin/bash"
    # the dynamic loader
    copy_host /lib64/ld-linux-x86-64.so.2
    [[ -d /etc/iproute2 ]] && cp -a /etc/iproute2 "$ROOT/etc/"
    [[ -d /usr/share/iproute2 ]] && { mkdir -p "$ROOT/usr/share"; cp -a /usr/share/iproute2 "$ROOT/usr/share/"; }
    [[ -d /usr/lib/iproute2 ]] && cp -a /usr/lib/iproute2 "$ROOT/usr/lib/"

    printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOT/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
    printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
    printf 'lab\n' >"$ROOT/etc/hostname"
    : >"$ROOT/etc/fstab"

    # the tool
    install -m 0755 "$BIN" "$ROOT/usr/bin/lvs-converge"

    # kernel modules: the closure of the wanted list, then depmod
    local mdst=$ROOT/usr/lib/modules/$KVER m
    mkdir -p "$mdst"
    cp "$KMODS"/modules.builtin* "$KMODS"/modules.order "$mdst/" 2>/dev/null || true
    local wanted=$LAB_MODULES
    for m in "$KMODS"/kernel/net/netfilter/ipvs/*.ko*; do
        m=${m##*/}; wanted+=" ${m%%.ko*}"
    done
    local files
    files=$(for m in $wanted; do
                modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" 2>/dev/null ||
                    say "warning: module $m not found in $KVER"
            done | awk '$1 == "insmod" { print $2 }' | sort -u)
    for m in $files; do
        local rel=${m#*/lib/modules/$KVER/}
        mkdir -p "$mdst/$(dirname "$rel")"
        cp "$m" "$mdst/$rel"
    done
    depmod -b "$ROOT" "$KVER"

    # the lab itself and the examples
    mkdir -p "$ROOT/lab"
    tar -C "$LAB_DIR" --exclude=./.cache -cf - . | tar -C "$ROOT/lab" -xf -
    mkdir -p "$ROOT/lab/examples"
    [[ -d $REPO/examples ]] && cp -a "$REPO/examples/." "$ROOT/lab/examples/"
    # import samples (ipvsadm-save rules, keepalived.conf)
    mkdir -p "$ROOT/lab/import"
    [[ -d $REPO/tests/import ]] && cp -a "$REPO/tests/import/." "$ROOT/lab/import/"

    local spec
    local src
    # Debian's ipvsadm package as installed on this host (42_distro_ipvsadm restores
    # through its own init script): kept apart from /etc until a scenario installs them.
    mkdir -p "$ROOT/lab/debian-ipvsadm/etc/init.d" "$ROOT/lab/debian-ipvsadm/etc/default" "$ROOT/lab/debian-ipvsadm/lib"
    for src in /etc/init.d/ipvsadm /etc/default/ipvsadm /etc/ipvsadm.rules /lib/lsb; do
        if [[ -e $src ]]; then cp -a "$src" "$ROOT/lab/debian-ipvsadm$src"; fi
    done

    for spec in ${LAB_EXTRA_FILES:-}; do
        src=${spec%%:*}
        # relative sources: from the current directory, else from the repo
        [[ $src == /* || -e $src ]] || src=$REPO/$src
        [[ -e $src ]] || die "LAB_EXTRA_FILES: no $src"
        mkdir -p "$ROOT/$(dirname "${spec#*:}")"
        cp -a "$src" "$ROOT/${spec#*:}"
    done

    install -m 0755 "$LAB_DIR/vm-init.sh" "$ROOT/init"

    INITRD=$WORK/initrd.gz
    (cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc --quiet | gzip -1) >"$INITRD"
    say "initramfs: $(du -h "$INITRD" | cut -f1) ($(echo "$files" | wc -w) modules) built in $(elapsed "$t0")s"
}

# ---------------------------------------------------------------- VMs
# run_vm NAME -> writes $LOG_DIR/NAME.log and $LOG_DIR/NAME.result
run_vm() {
    local name=$1 log=$LOG_DIR/$1.log t0 rc=0 verdict
    t0=$(now)
    timeout --kill-after=10 "$LAB_TIMEOUT" \
        qemu-system-x86_64 -accel tcg,thread=multi -cpu max \
            -m "$LAB_MEM" -smp "$LAB_SMP" \
            -nodefaults -display none -serial stdio -monitor none \
            -no-reboot \
            -kernel "$VMLINUZ" -initrd "$INITRD" \
            -append "console=ttyS0 quiet panic=-1 ${LAB_APPEND:-} lab.scenario=$name" \
            </dev/null >"$log" 2>&1 || rc=$?
    verdict=$(tr -d '\r' <"$log" | awk -v n="$name" '$1 == "LAB-VERDICT" && $2 == n { v = $3 } END { print v }')
    if [[ -z $verdict ]]; then
        if ((rc == 124 || rc == 137)); then verdict=TIMEOUT; else verdict=NOVERDICT; fi
    fi
    printf '%s %s %s %s\n' "$name" "$verdict" "$(elapsed "$t0")" "$rc" >"$LOG_DIR/$name.result"
}

report_vm() {
    local name=$1 verdict secs rc
    read -r _ verdict secs rc <"$LOG_DIR/$name.result"
    printf '[lab] %-40s %-9s %6ss\n' "$name" "$verdict" "$secs"
    if [[ $verdict != PASS ]]; then
        echo "----- last $LAB_TAIL lines of $LOG_DIR/$name.log (qemu exit $rc) -----"
        tr -d '\r' <"$LOG_DIR/$name.log" | tail -n "$LAB_TAIL"
        echo "----- end of $name -----"
        return 1
    fi
}

resolve_scenarios() {
    local s
    if (($# == 0)); then
        for s in "$LAB_DIR"/scenarios/*.sh; do [[ -e $s ]] && basename "$s" .sh; done
        return
    fi
    # scenarios-bench/ (benchmarks: bench.sh) only runs when named
    for s in "$@"; do
        s=$(basename "$s"); s=${s%.sh}
        [[ -f $LAB_DIR/scenarios/$s.sh || -f $LAB_DIR/scenarios-bench/$s.sh ]] ||
            die "no scenario $s in $LAB_DIR/scenarios or $LAB_DIR/scenarios-bench"
        echo "$s"
    done
}

main() {
    local t_all
    t_all=$(now)
    local -a scenarios
    mapfile -t scenarios < <(resolve_scenarios "$@")
    ((${#scenarios[@]})) || die "no scenarios"

    local t0
    t0=$(now); ensure_packages; say "host packages ok ($(elapsed "$t0")s)"
    [[ -z ${LAB_PACKAGES_ONLY:-} ]] || return 0
    t0=$(now); ensure_binary;   say "binary ok ($(elapsed "$t0")s)"
    [[ -z ${LAB_BUILD_ONLY:-} ]] || return 0
    t0=$(now); ensure_kernel;   say "kernel ok ($(elapsed "$t0")s)"
    mkdir -p "$WORK"
    build_initramfs

    [[ -n ${LAB_KEEP_LOGS:-} ]] || rm -rf "$LOG_DIR"
    mkdir -p "$LOG_DIR"

    local t_vms name pass=0 fail=0 done_pid
    t_vms=$(now)
    # A VM slot is refilled as soon as any VM ends (wait -n), not when the oldest does:
    # waiting for the oldest left a core idle behind every long scenario (measured: the
    # 28 scenarios took 786 s that way, 624 s computed for wait -n, 614 s the bound).
    local -A vm_of=()
    reap_one() {
        done_pid=
        wait -n -p done_pid "${!vm_of[@]}" || true
        if [[ -z $done_pid ]]; then # not a child any more (not expected): any one, waited for
            # (the array's own order, not the oldest: an associative array's is a hash order)
            for done_pid in "${!vm_of[@]}"; do break; done
            wait "$done_pid" || true
        fi
        report_vm "${vm_of[$done_pid]}" && pass=$((pass + 1)) || fail=$((fail + 1))
        unset "vm_of[$done_pid]"
    }
    for name in "${scenarios[@]}"; do
        rm -f "$LOG_DIR/$name.result"
        while ((${#vm_of[@]} >= LAB_JOBS)); do reap_one; done
        say "booting VM for $name"
        run_vm "$name" &
        vm_of[$!]=$name
    done
    while ((${#vm_of[@]})); do reap_one; done
    say "VMs: $(elapsed "$t_vms")s; suite total: $(elapsed "$t_all")s; logs in $LOG_DIR"
    echo "$pass passed, $fail failed"
    ((fail == 0))
}

main "$@"
