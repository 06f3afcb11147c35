# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# REFERENCE: every IPVS tunnel type (ipip, gue, gre) x VIP family x underlay family, set up
# by hand (ip, ip fou, ipvsadm, sysctl; no lvs-converge) on one topology_cluster, torn down
# between combinations. What the kernel does here is what lvs-converge's real-server role
# must reproduce; what it refuses is asserted as refused, so a kernel change fails the lab.
# README.md "Tunnel types and families on the lab kernel" is the table of this scenario.
# Every check is collected and all mismatches are listed at the end, so one run shows the
# whole table even when the kernel changed more than one answer.
VIP4=203.0.113.100
VIP6=2001:db8:1::100
declare -A RIP4=([rs1]=203.0.113.11 [rs2]=198.51.100.22)
declare -A RIP6=([rs1]=2001:db8:1::11 [rs2]=2001:db8:2::22)
GUE_PORT=6080
RESULTS=/tmp/tunnel-results

topology_cluster
start_web rs1
start_web rs2

links_of() { ip -n "$1" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort | tr '\n' ' '; }
# record KEY TEXT: one line of the summary printed at the end
record() { printf '%-44s %s\n' "$1" "$2" | tee -a $RESULTS; }
MISMATCHES=()
check() { # check WHAT TEST...: like expect_*, but collected
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "MISMATCH: $what"; MISMATCHES+=("$what"); fi
}
contains() { [[ $1 == *"$2"* ]]; }
# try CMD...: run CMD, keep its exit status in $tried_rc and its output in $tried
try() {
    tried_rc=0
    tried=$("$@" 2>&1) || tried_rc=$?
    echo "\$ $(_lab_q "$@")  -> exit $tried_rc${tried:+: ${tried//$'\n'/ | }}"
}
link_details() { ip -n "$1" -d -o link show "$2" | sed 's/.*link\/[a-z0-9]* //; s/ *numtxqueues.*//' | tr -s ' '; }

step "which module makes which fallback device, in existing and new namespaces"
run_cmd uname -r
check "fb_tunnels_only_for_init_net = 0 (fallback devices in every netns)" \
    test "$(cat /proc/sys/net/core/fb_tunnels_only_for_init_net)" = 0
declare -A module_devices=([ipip]="tunl0 " [sit]="sit0 " [ip6_tunnel]="ip6tnl0 "
    [ip_gre]="erspan0 gre0 gretap0 " [ip6_gre]="ip6gre0 " [fou]="")
for m in ipip sit ip6_tunnel ip_gre ip6_gre; do
    before=$(links_of rs1)
    run_cmd modprobe $m
    new=
    for l in $(links_of rs1); do [[ " $before " == *" $l "* ]] || new+="$l "; done
    record "module $m adds (in existing netns rs1)" "$new"
    check "modprobe $m adds '${module_devices[$m]}' to an existing netns" test "$new" = "${module_devices[$m]}"
done
ip netns add fresh
record "links in a netns made after loading" "$(links_of fresh)"
check "a new netns has every fallback device" test "$(links_of fresh)" = "erspan0 gre0 gretap0 ip6gre0 ip6tnl0 lo sit0 tunl0 "
try ip -n fresh fou show
check "fou is not autoloaded by its generic netlink family" contains "$tried" "RTNETLINK answers: No such file or directory"
before=$(links_of rs1)
run_cmd modprobe fou
check "modprobe fou adds no device" test "$(links_of rs1)" = "$before"
for dev in tunl0 sit0 ip6tnl0 gre0 gretap0 erspan0 ip6gre0; do
    record "default of $dev" "$(link_details fresh $dev)"
done
check "tunl0 is 'ipip any remote any local any'" contains "$(link_details fresh tunl0)" "ipip any remote any local any"
check "sit0 is 'sit ip6ip remote any local any'" contains "$(link_details fresh sit0)" "sit ip6ip remote any local any"
check "ip6tnl0 defaults to mode ip6ip6" contains "$(link_details fresh ip6tnl0)" "ip6tnl ip6ip6 remote any local any"
check "gre0 is 'gre remote any local any'" contains "$(link_details fresh gre0)" "gre remote any local any"
check "ip6gre0 is 'ip6gre remote any local any'" contains "$(link_details fresh ip6gre0)" "ip6gre remote any local any"

step "changing the fallback devices: the ioctl (ip tunnel) can, netlink (ip link) cannot"
for mode in any ipip6 ip6ip6; do
    try ip -n fresh -6 tunnel change ip6tnl0 mode $mode
    check "ip -6 tunnel change ip6tnl0 mode $mode (ioctl) succeeds" test "$tried_rc" = 0
    check "ip6tnl0 is now in mode $mode" contains "$(link_details fresh ip6tnl0)" "ip6tnl $mode "
done
try ip -n fresh link set ip6tnl0 type ip6tnl mode any
check "netlink changelink of ip6tnl0 is refused" test "$tried" = "RTNETLINK answers: Invalid argument"
try ip -n fresh tunnel change sit0 mode any
check "ip tunnel change sit0 mode any (ioctl) succeeds" test "$tried_rc" = 0
try ip -n fresh link set sit0 type sit mode any
check "ip link set sit0 type sit ... is refused by iproute2 itself" contains "$tried" "ttl != 0 and nopmtudisc are incompatible"
try ip -n fresh tunnel change gre0 mode gre icsum
check "ip tunnel change gre0 mode gre icsum (ioctl) succeeds" test "$tried_rc" = 0
check "gre0 now has icsum" contains "$(link_details fresh gre0)" "gre remote any local any ttl inherit nopmtudisc icsum"
try ip -n fresh tunnel change gre0 mode gre
check "ip tunnel change gre0 mode gre keeps icsum (iproute2 starts from the old flags)" contains "$(link_details fresh gre0)" "icsum"
try ip -n fresh link set gre0 type gre icsum
check "netlink changelink of gre0 is refused" test "$tried" = "RTNETLINK answers: Invalid argument"
try ip -n fresh link add grecsum type gre icsum
check "a second gre device with remote/local any (icsum or not) clashes with gre0" test "$tried" = "RTNETLINK answers: File exists"

step "GUE ports: IPv4 and IPv6 sockets, fou6 not needed"
try ip -n fresh fou add port $GUE_PORT gue
check "ip fou add port $GUE_PORT gue" test "$tried_rc" = 0
try ip -n fresh fou add port $GUE_PORT gue -6
check "ip fou add port $GUE_PORT gue -6 (same port, IPv6 socket)" test "$tried_rc" = 0
try ip -n fresh fou show
check "ip fou show lists both" test "$tried" = "port $GUE_PORT gue -6"$'\n'"port $GUE_PORT gue"
check "fou6 is not loaded (GUE receive over IPv6 is fou's)" test "$(lsmod | grep -c '^fou6 ' || true)" = 0
ip netns del fresh

step "IPv6 VIP on lo: no DAD on lo, and NDP does not answer for it"
run_in rs1 ip addr add $VIP6/128 dev lo
check "the VIP on lo is usable at once (not tentative, no nodad needed)" \
    test "$(ip -n rs1 -o addr show dev lo to $VIP6/128 | grep -c tentative || true)" = 0
try in_ns client ping -c1 -W1 $VIP6
check "client cannot reach $VIP6 held only on rs1's lo" test "$tried_rc" != 0
check "client's neighbour entry for $VIP6 stays unresolved" contains "$(in_ns client ip -6 neigh show $VIP6)" "INCOMPLETE"
run_in rs1 ip addr del $VIP6/128 dev lo

step "IPv6 VIP on the director: its source address for the tunnels"
ip -n director addr add $VIP6/128 dev eth0 nodad
for rs in rs1 rs2; do
    check "with the VIP preferred, the director's source towards ${RIP6[$rs]} is the VIP" \
        contains "$(ip -n director -6 route get ${RIP6[$rs]})" "src $VIP6 "
done
ip -n director addr del $VIP6/128 dev eth0
ip -n director addr add $VIP6/128 dev eth0 nodad preferred_lft 0
for rs in rs1 rs2; do
    check "with the VIP deprecated (preferred_lft 0), the source towards ${RIP6[$rs]} is 2001:db8:1::10" \
        contains "$(ip -n director -6 route get ${RIP6[$rs]})" "src 2001:db8:1::10 "
done
ip -n director addr del $VIP6/128 dev eth0

# ---------------------------------------------------------------- combinations
# receiver_counters NS DEV FAMILY: "RX UDP", DEV's rx_packets and the UDP datagrams NS
# received over IP version FAMILY (4|6), in one exec
receiver_counters() {
    in_ns "$1" awk -v fam="$3" '
        FILENAME ~ /statistics/ { rx = $1 }
        FILENAME == "/proc/net/snmp" && $1 == "Udp:" && $2 ~ /^[0-9]+$/ { udp4 = $2 }
        $1 == "Udp6InDatagrams" { udp6 = $2 }
        END { print rx, (fam == 4 ? udp4 : udp6) }' \
        "/sys/class/net/$2/statistics/rx_packets" /proc/net/snmp /proc/net/snmp6
}

# Hooks a combination may set for the real servers' side beyond the fallback device:
# RS_EXTRA_UP / RS_EXTRA_DOWN are run as "$hook NS RIP".
RS_EXTRA_UP=: RS_EXTRA_DOWN=:
# How the director holds an IPv6 VIP on eth0 (a deprecated address is never picked as the
# tunnel's outer source, see ip6ip6-vip-as-source).
VIP6_FLAGS="nodad preferred_lft 0"

# every_destination_counted SERVICE: IPVS shows InPkts > 0 for each real server of SERVICE
every_destination_counted() {
    in_ns director ipvsadm -Ln --stats --exact -t "$1" |
        awk '$1 == "->" && $3 ~ /^[0-9]+$/ { n++; if ($4 == 0) zero = 1 } END { exit (zero || n == 0) }'
}

# combo NAME EXPECT VIP_FAMILY UNDERLAY_FAMILY RECEIVER FOU MODE -- IPVSADM_TUNNEL_OPTIONS...
#   EXPECT: works (every request answered, by rs1 and rs2; RECEIVER's rx counter moved on
#   both; UDP counters moved iff GUE; IPVS InPkts > 0 and OutPkts = 0 per destination; the
#   director's eth0 received no more packets than it tunnelled: replies bypassed it) or
#   drops (no request answered);
#   RECEIVER: the device that decapsulates on the real servers (brought up for the combo);
#   FOU: none|4|6 (a GUE port of that family on the real servers); MODE: ip6tnl0 mode or -.
combo() {
    local name=$1 expect=$2 vfam=$3 ufam=$4 dev=$5 fou=$6 mode=$7
    shift 8
    local vip svc plen rs rip rules fou_opt=
    local receiver=$dev
    [[ $fou == none ]] || receiver+=" + GUE port $GUE_PORT (IPv$fou)"
    [[ $mode == - ]] || receiver+=" in mode $mode"
    [[ $fou != 6 ]] || fou_opt=" -6"
    step "$name (expect $expect): IPv$vfam VIP over IPv$ufam, ipvsadm $*; receiver $receiver"
    if [[ $vfam == 4 ]]; then
        vip=$VIP4 svc=$VIP4:80 plen=32
        ip -n director addr add $vip/32 dev eth0
    else
        vip=$VIP6 svc="[$VIP6]:80" plen=128
        # shellcheck disable=SC2086 # flags are words
        ip -n director addr add $vip/128 dev eth0 $VIP6_FLAGS
    fi
    local -A dest
    rules="-A -t $svc -s rr"
    for rs in rs1 rs2; do
        if [[ $ufam == 4 ]]; then rip=${RIP4[$rs]} dest[$rs]=${RIP4[$rs]}:80
        else rip=${RIP6[$rs]} dest[$rs]="[${RIP6[$rs]}]:80"; fi
        rules+=$'\n'"-a -t $svc -r ${dest[$rs]} $*"
        [[ $mode == - ]] || ip -n $rs -6 tunnel change ip6tnl0 mode "$mode"
        $RS_EXTRA_UP $rs "$rip"
        {
            echo "addr add $vip/$plen dev lo"
            echo "link set $dev up"
            [[ $fou == none ]] || echo "fou add port $GUE_PORT gue$fou_opt"
        } | ip -n $rs -b -
    done
    echo "[director]\$ ipvsadm -R <<<'${rules//$'\n'/; }'"
    in_ns director ipvsadm -R <<<"$rules"
    local -A rx0 udp0
    for rs in rs1 rs2; do read -r "rx0[$rs]" "udp0[$rs]" <<<"$(receiver_counters $rs "$dev" "$ufam")"; done
    local director_rx0
    director_rx0=$(ns_stat director eth0 rx_packets)

    # Two requests: round robin sends one to each real server. A working combination gets
    # one retry per request (a SYN lost under a loaded host is not what this measures); the
    # retries are counted in the summary.
    local i body n=2 hits1=0 hits2=0 misses=0 retries=0
    for ((i = 1; i <= n; i++)); do
        if [[ $expect == works ]]; then
            body=$(http_get client "$vip") || { retries=$((retries + 1)); body=$(http_get client "$vip") || body="(no answer)"; }
        else body=$(HTTP_WAIT=1 http_get client "$vip" 2>/dev/null) || body="(no answer)"; fi
        echo "  request $i: $body"
        case $body in rs1) hits1=$((hits1 + 1)) ;; rs2) hits2=$((hits2 + 1)) ;; *) misses=$((misses + 1)) ;; esac
    done
    local counters="" rx udp tunnelled=0 director_rx
    director_rx=$(($(ns_stat director eth0 rx_packets) - director_rx0))
    for rs in rs1 rs2; do
        read -r rx udp <<<"$(receiver_counters $rs "$dev" "$ufam")"
        rx=$((rx - ${rx0[$rs]})) udp=$((udp - ${udp0[$rs]}))
        tunnelled=$((tunnelled + rx))
        counters+=" $rs $dev rx+$rx udp$ufam+$udp;"
        if [[ $expect == works ]]; then
            check "$name: $rs $dev rx_packets +$rx > 0" test $rx -gt 0
            if [[ $fou == none ]]; then check "$name: $rs UDP datagrams +$udp = 0 (not GUE)" test $udp -eq 0
            else check "$name: $rs UDP datagrams +$udp >= rx +$rx (GUE)" test $udp -ge $rx -a $udp -gt 0; fi
        fi
    done
    counters+=" director eth0 rx+$director_rx"
    if [[ $expect == works ]]; then
        check "$name: answers rs1=$hits1 rs2=$hits2 of $n" test $hits1 -gt 0 -a $hits2 -gt 0 -a $misses -eq 0
        # Replies through the director would about double what its eth0 receives.
        check "$name: replies bypass the director (its eth0 rx +$director_rx <= 5/4 of the $tunnelled tunnelled + 4)" \
            test $director_rx -le $((tunnelled * 5 / 4 + 4))
        # The IPVS rate estimator folds the per-CPU counters in every 2 s or so.
        local t0=$SECONDS stats d conns inpkts outpkts
        wait_for 10 every_destination_counted "$svc" || true
        stats=$(in_ns director ipvsadm -Ln --stats --exact -t "$svc")
        echo "$stats  (after ~$((SECONDS - t0)) s)"
        for rs in rs1 rs2; do
            d=${dest[$rs]}
            read -r conns inpkts outpkts <<<"$(awk -v d="$d" '$1 == "->" && $2 == d { print $3, $4, $5 }' <<<"$stats")"
            check "$name: IPVS $d InPkts ${inpkts:-?} > 0, OutPkts ${outpkts:-?} = 0 (direct return)" \
                test "${inpkts:-0}" -gt 0 -a "${outpkts:-1}" -eq 0
        done
        if [[ $vfam == 6 ]]; then
            local mac_vip mac_dir
            mac_vip=$(in_ns client ip -6 neigh show $VIP6 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
            mac_dir=$(ns_mac director eth0)
            check "$name: client's neighbour entry for $VIP6 is the director's MAC ($mac_vip = $mac_dir)" test "$mac_vip" = "$mac_dir"
        fi
    else
        check "$name: dropped, answers rs1=$hits1 rs2=$hits2 of $n" test $hits1 -eq 0 -a $hits2 -eq 0
    fi
    record "$name" "expect $expect: rs1=$hits1 rs2=$hits2 misses=$misses retries=$retries;$counters"

    in_ns director ipvsadm -C
    ip -n director addr del $vip/$plen dev eth0
    for rs in rs1 rs2; do
        {
            echo "addr del $vip/$plen dev lo"
            echo "link set $dev down"
            [[ $fou == none ]] || echo "fou del port $GUE_PORT$fou_opt"
        } | ip -n $rs -b -
        [[ $mode == - ]] || ip -n $rs -6 tunnel change ip6tnl0 mode ip6ip6
        if [[ $ufam == 4 ]]; then rip=${RIP4[$rs]}; else rip=${RIP6[$rs]}; fi
        $RS_EXTRA_DOWN $rs "$rip"
    done
}

for rs in rs1 rs2; do
    ns_sysctl $rs net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2
done

#     name              expect vip ul receiver fou  ip6tnl0 -- ipvsadm
combo ipip              works  4 4 tunl0   none -     -- -i
combo gue-nocsum        works  4 4 tunl0   4    -     -- -i --tun-type gue --tun-port $GUE_PORT --tun-nocsum
combo gue-csum          works  4 4 tunl0   4    -     -- -i --tun-type gue --tun-port $GUE_PORT --tun-csum
combo gue-remcsum       works  4 4 tunl0   4    -     -- -i --tun-type gue --tun-port $GUE_PORT --tun-remcsum
combo gre-nocsum        works  4 4 gre0    none -     -- -i --tun-type gre --tun-nocsum
rx_crc_errors=$(ns_stat rs1 gre0 rx_crc_errors)
combo gre-csum-on-gre0  drops  4 4 gre0    none -     -- -i --tun-type gre --tun-csum
check "gre csum dropped by gre0 as a checksum-flag mismatch (rx_crc_errors grew)" \
    test "$(ns_stat rs1 gre0 rx_crc_errors)" -gt "$rx_crc_errors"
gre_csum_up() { ip -n "$1" link add grecsum type gre local "$2" icsum; }
gre_csum_down() { ip -n "$1" link del grecsum; }
RS_EXTRA_UP=gre_csum_up RS_EXTRA_DOWN=gre_csum_down
combo gre-csum-named    works  4 4 grecsum none -     -- -i --tun-type gre --tun-csum
combo gre-nocsum-named  drops  4 4 grecsum none -     -- -i --tun-type gre --tun-nocsum
RS_EXTRA_UP=: RS_EXTRA_DOWN=:

VIP6_FLAGS=nodad
combo ip6ip6-vip-as-source drops 6 6 ip6tnl0 none - -- -i
VIP6_FLAGS="nodad preferred_lft 0"
combo ip6ip6            works  6 6 ip6tnl0 none -     -- -i
combo gue6-in-6         works  6 6 ip6tnl0 6    -     -- -i --tun-type gue --tun-port $GUE_PORT --tun-nocsum
combo gue6-in-6-remcsum works  6 6 ip6tnl0 6    -     -- -i --tun-type gue --tun-port $GUE_PORT --tun-remcsum
combo gre6-in-6         works  6 6 ip6gre0 none -     -- -i --tun-type gre
combo gre6-in-6-csum    drops  6 6 ip6gre0 none -     -- -i --tun-type gre --tun-csum
combo sit               works  6 4 sit0    none -     -- -i
combo gue6-in-4         works  6 4 sit0    4    -     -- -i --tun-type gue --tun-port $GUE_PORT --tun-csum
combo gre6-in-4         works  6 4 gre0    none -     -- -i --tun-type gre
combo ipip6-default     drops  4 6 ip6tnl0 none -     -- -i
combo ipip6-any         works  4 6 ip6tnl0 none any   -- -i
combo gue4-in-6         works  4 6 ip6tnl0 6    any   -- -i --tun-type gue --tun-port $GUE_PORT --tun-remcsum
combo gre4-in-6         works  4 6 ip6gre0 none -     -- -i --tun-type gre
combo ipip-tunl0-down   drops  4 4 sit0    none -     -- -i

step "rp_filter: decapsulated IPv4 is dropped unless all and the device are both 0"
for setting in "1 0" "0 1" "2 0"; do
    read -r all tunl0 <<<"$setting"
    for rs in rs1 rs2; do ns_sysctl $rs net.ipv4.conf.all.rp_filter=$all net.ipv4.conf.tunl0.rp_filter=$tunl0; done
    combo "ipip-rp_filter-all=$all-tunl0=$tunl0" drops 4 4 tunl0 none - -- -i
done
for rs in rs1 rs2; do ns_sysctl $rs net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0; done

# Last, because iproute2 cannot clear icsum from gre0 again (see above).
gre0_csum_up() { ip -n "$1" tunnel change gre0 mode gre icsum; }
RS_EXTRA_UP=gre0_csum_up
combo gre-csum-gre0-icsum   works 4 4 gre0 none - -- -i --tun-type gre --tun-csum
combo gre-nocsum-gre0-icsum drops 4 4 gre0 none - -- -i --tun-type gre --tun-nocsum
RS_EXTRA_UP=:

step "summary"
check "fou6 never loaded" test "$(lsmod | grep -c '^fou6 ' || true)" = 0
cat $RESULTS
((${#MISMATCHES[@]} == 0)) || fail "${#MISMATCHES[@]} mismatches: $(printf '%s; ' "${MISMATCHES[@]}")"
