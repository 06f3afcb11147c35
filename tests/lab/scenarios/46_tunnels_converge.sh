# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 14, end to end: every tunnel combination of examples/tunnels/ converged ONLY by
# `lvs-converge --netns NS apply -f SPEC --node NS` (real servers first, then the director),
# one example applied over the previous one, on one topology_cluster. Per example: HTTP from
# the client through the VIP answered by rs1 and rs2, replies bypass the director (IPVS
# OutPkts 0), the decapsulating device's rx_packets moved on both real servers and the UDP
# counters moved iff GUE; a second apply on every host changes nothing. Out-of-band drift
# (FOU port deleted, gre0 down, ip6tnl0's mode) is planned and repaired; the live switch
# ipip -> GUE in the order the director's plan names loses no request.
# What the kernel does by hand is 12_reference_tunnels; README "Tunnel types and families"
# is the table of both. Checks are collected and listed at the end, so one run shows every
# combination even when several break.
EX=/lab/examples/tunnels
VIP4=203.0.113.100
VIP6=2001:db8:1::100
GUE_PORT=6080
RESULTS=/tmp/converge-results
HOSTS=(rs1 rs2 director)

topology_cluster
start_web rs1
start_web rs2

MISMATCHES=()
check() { # check WHAT TEST...: like expect_*, but collected and listed at the end
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "MISMATCH: $what"; MISMATCHES+=("$what"); fi
}
contains() { [[ $1 == *"$2"* ]]; }
count() { grep -c -- "$1" <<<"$2" || true; } # count PATTERN TEXT: matching lines
record() { printf '%-26s %s\n' "$1" "$2" | tee -a $RESULTS; }
udp_in() { # UDP datagrams received in NS over underlay FAMILY 4|6
    if [[ $2 == 4 ]]; then in_ns "$1" awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $2 }' /proc/net/snmp
    else in_ns "$1" awk '$1 == "Udp6InDatagrams" { print $2 }' /proc/net/snmp6; fi
}

# apply_on NS SPEC: the only way anything LVS gets onto a host here
apply_on() {
    local ns=$1 spec=$2 rc=0
    run_out applied lvs-converge --netns "$ns" apply -f "$spec" --node "$ns" || rc=$?
    check "[$ns] apply $(basename "$spec") exits 0" test "$rc" = 0
}
# converge SPEC: real servers first, then the director; then a second apply everywhere is a no-op
converge() {
    local spec=$1 ns rc
    for ns in "${HOSTS[@]}"; do apply_on "$ns" "$spec"; done
    for ns in "${HOSTS[@]}"; do
        rc=0
        run_out again lvs-converge --netns "$ns" apply -f "$spec" --node "$ns" || rc=$?
        check "[$ns] second apply of $(basename "$spec") exits 0" test "$rc" = 0
        # "No changes to make now." when a real server of the previous example is draining
        check "[$ns] second apply of $(basename "$spec") says No changes" contains "$again" "No changes"
        check "[$ns] second apply of $(basename "$spec") changed nothing" \
            test "$(count ' [1-9][0-9]* \(created\|updated\|deleted\)' "$again")" = 0
    done
}
# plan_on NS SPEC: the plan text in $plan, its exit code in $plan_rc
plan_on() {
    plan_rc=0
    run_out plan lvs-converge --netns "$1" plan -f "$2" --node "$1" || plan_rc=$?
}

# The destinations of SERVICE that take new connections (weight > 0): a real server the
# previous example had is drained, not deleted, while it still has connections.
serving_destinations() {
    in_ns director ipvsadm -Ln -t "$1" | awk '$1 == "->" && $4 ~ /^[0-9]+$/ && $4 > 0 { print $2 }'
}
# every_destination_counted SERVICE: InPkts > 0 for every serving destination
every_destination_counted() {
    local serving
    serving=$(serving_destinations "$1" | tr '\n' ' ')
    in_ns director ipvsadm -Ln --stats --exact -t "$1" | awk -v serving=" $serving" '
        $1 == "->" && index(serving, " " $2 " ") { n++; if ($4 == 0) zero = 1 } END { exit (zero || n == 0) }'
}

# traffic NAME VIP DEV UNDERLAY GUE EXPECT: requests through VIP; DEV decapsulates on both real
# servers, UNDERLAY 4|6 is the outer family, GUE yes|no, EXPECT works|drops|measure (record only).
traffic() {
    local name=$1 vip=$2 dev=$3 ufam=$4 gue=$5 expect=$6 svc rs i body n=4
    [[ $vip == *:* ]] && svc="[$vip]:80" || svc="$vip:80"
    step "$name: traffic through $svc (expect $expect; $dev decapsulates, GUE $gue)"
    in_ns director ipvsadm -Z
    local -A rx0 udp0
    for rs in rs1 rs2; do rx0[$rs]=$(ns_stat $rs "$dev" rx_packets) udp0[$rs]=$(udp_in $rs "$ufam"); done
    local director_rx0
    director_rx0=$(ns_stat director eth0 rx_packets)
    local hits1=0 hits2=0 misses=0 retries=0
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
        rx=$(($(ns_stat $rs "$dev" rx_packets) - ${rx0[$rs]})) udp=$(($(udp_in $rs "$ufam") - ${udp0[$rs]}))
        tunnelled=$((tunnelled + rx))
        counters+=" $rs $dev rx+$rx udp$ufam+$udp;"
        if [[ $expect == works ]]; then
            check "$name: $rs $dev rx_packets +$rx > 0" test $rx -gt 0
            if [[ $gue == no ]]; then check "$name: $rs UDP datagrams +$udp = 0 (not GUE)" test $udp -eq 0
            else check "$name: $rs UDP datagrams +$udp >= rx +$rx (GUE)" test $udp -ge $rx -a $udp -gt 0; fi
        fi
    done
    counters+=" director eth0 rx+$director_rx"
    if [[ $expect == works ]]; then
        check "$name: answers rs1=$hits1 rs2=$hits2 of $n" test $hits1 -gt 0 -a $hits2 -gt 0 -a $misses -eq 0
        # Replies through the director would about double what its eth0 receives.
        check "$name: replies bypass the director (its eth0 rx +$director_rx <= 5/4 of the $tunnelled tunnelled + 4)" \
            test $director_rx -le $((tunnelled * 5 / 4 + 4))
        local stats d conns inpkts outpkts serving
        wait_for 10 every_destination_counted "$svc" || true
        serving=$(serving_destinations "$svc" | tr '\n' ' ')
        stats=$(in_ns director ipvsadm -Ln --stats --exact -t "$svc")
        echo "$stats"
        echo "serving (weight > 0): $serving"
        check "$name: two serving destinations" test "$(wc -w <<<"$serving")" = 2
        while read -r d conns inpkts outpkts; do
            [[ " $serving " == *" $d "* ]] || continue
            check "$name: IPVS $d InPkts $inpkts > 0, OutPkts $outpkts = 0 (direct return)" \
                test "$inpkts" -gt 0 -a "$outpkts" -eq 0
        done <<<"$(awk '$1 == "->" && $3 ~ /^[0-9]+$/ { print $2, $3, $4, $5 }' <<<"$stats")"
    elif [[ $expect == drops ]]; then
        check "$name: no answer (rs1=$hits1 rs2=$hits2 of $n)" test $hits1 -eq 0 -a $hits2 -eq 0
    fi
    record "$name" "expect $expect: rs1=$hits1 rs2=$hits2 misses=$misses retries=$retries;$counters"
}

# drift NS WHAT SPEC NEEDLE CMD...: CMD breaks something out of band; the plan names it (exit 2,
# NEEDLE in its text), apply repairs it, a plan after that is clean.
drift() {
    local ns=$1 what=$2 spec=$3 needle=$4
    shift 4
    step "drift on $ns: $what"
    run_in "$ns" "$@"
    plan_on "$ns" "$spec"
    check "drift ($what): plan exits 2" test "$plan_rc" = 2
    check "drift ($what): plan names '$needle'" contains "$plan" "$needle"
    apply_on "$ns" "$spec"
    plan_on "$ns" "$spec"
    check "drift ($what): plan after the repair exits 0" test "$plan_rc" = 0
}

# ---------------------------------------------------------------- ipip, then the live switch to GUE
step "ipip.yaml: real servers first, then the director"
converge $EX/ipip.yaml
run_out table in_ns director ipvsadm -Sn
check "ipip: both destinations with -i" test "$(count '-a -t 203.0.113.100:80 -r .* -i' "$table")" = 2
traffic ipip $VIP4 tunl0 4 no works

step "live switch ipip -> gue-nocsum: the director's plan names the real servers to converge first"
table_ipip=$(ipvs_objects director)
plan_on director $EX/gue-nocsum.yaml
check "switch: director plan exits 2" test "$plan_rc" = 2
check "switch: director plan says 'Converge node rs1 first'" contains "$plan" "Converge node rs1 first"
check "switch: director plan says 'Converge node rs2 first'" contains "$plan" "Converge node rs2 first"
check "switch: the destinations are updated in place (~)" test "$(count '[0-9]\. ~ ipvs real server' "$plan")" = 2
check "switch: no destination deleted" test "$(count '[0-9]\. - ipvs real server' "$plan")" = 0
check "switch: no destination created" test "$(count '[0-9]\. + ipvs real server' "$plan")" = 0

step "a client fetches every 0.1 s while rs1, rs2 and then the director converge to GUE"
LOOP_DIR=/tmp/switch-loop
mkdir -p $LOOP_DIR
: >$LOOP_DIR/ok
: >$LOOP_DIR/failed
rm -f $LOOP_DIR/stop
(
    while [[ ! -e $LOOP_DIR/stop ]]; do
        if body=$(HTTP_WAIT=2 http_get client $VIP4 2>/dev/null) && [[ $body == rs[12] ]]; then
            echo "$body" >>$LOOP_DIR/ok
        else echo "$(cut -d' ' -f1 /proc/uptime) ${body:-no answer}" >>$LOOP_DIR/failed; fi
        sleep 0.1
    done
) &
loop_pid=$!
sleep 2
for ns in "${HOSTS[@]}"; do apply_on "$ns" $EX/gue-nocsum.yaml; done
sleep 3
touch $LOOP_DIR/stop
wait $loop_pid
ok=$(wc -l <$LOOP_DIR/ok) failed=$(wc -l <$LOOP_DIR/failed)
echo "requests during the switch: $ok answered, $failed failed"
cat $LOOP_DIR/failed
check "switch: requests answered during the switch ($ok) > 10" test "$ok" -gt 10
check "switch: zero failed requests during the switch ($failed)" test "$failed" -eq 0
record "switch ipip->gue" "answered=$ok failed=$failed (rs1=$(grep -c rs1 $LOOP_DIR/ok || true) rs2=$(grep -c rs2 $LOOP_DIR/ok || true))"
table_gue=$(ipvs_objects director)
changed=$(changed_objects "$table_ipip" "$table_gue")
echo "changed IPVS objects: $changed"
check "switch: only the two destinations changed" \
    test "$changed" = $'ipvs real server 198.51.100.22:80 of tcp 203.0.113.100:80\nipvs real server 203.0.113.11:80 of tcp 203.0.113.100:80'
run_out table in_ns director ipvsadm -Sn
check "switch: both destinations now GUE on port $GUE_PORT" \
    test "$(count "--tun-type gue --tun-port $GUE_PORT" "$table")" = 2
for ns in "${HOSTS[@]}"; do
    plan_on "$ns" $EX/gue-nocsum.yaml
    check "[$ns] gue-nocsum converged after the switch (plan exits 0)" test "$plan_rc" = 0
done
traffic gue-nocsum $VIP4 tunl0 4 yes works

drift rs1 "FOU port $GUE_PORT deleted" $EX/gue-nocsum.yaml "$GUE_PORT" ip fou del port $GUE_PORT
check "drift: rs1 has its GUE port again" contains "$(in_ns rs1 ip fou show)" "port $GUE_PORT gue"
traffic gue-nocsum-repaired $VIP4 tunl0 4 yes works

# ---------------------------------------------------------------- GUE checksum modes, GRE
step "gue-csum.yaml over gue-nocsum"
converge $EX/gue-csum.yaml
check "gue-csum: ipvsadm shows --tun-csum" test "$(count '--tun-csum' "$(in_ns director ipvsadm -Sn)")" = 2
traffic gue-csum $VIP4 tunl0 4 yes works

step "gue-remcsum.yaml over gue-csum"
converge $EX/gue-remcsum.yaml
check "gue-remcsum: ipvsadm shows --tun-remcsum" test "$(count '--tun-remcsum' "$(in_ns director ipvsadm -Sn)")" = 2
traffic gue-remcsum $VIP4 tunl0 4 yes works

step "gre-nocsum.yaml over gue-remcsum"
converge $EX/gre-nocsum.yaml
check "gre-nocsum: ipvsadm shows --tun-type gre" test "$(count '--tun-type gre' "$(in_ns director ipvsadm -Sn)")" = 2
traffic gre-nocsum $VIP4 gre0 4 no works

drift rs2 "gre0 down" $EX/gre-nocsum.yaml "gre0" ip link set gre0 down
check "drift: rs2 gre0 up again" contains "$(in_ns rs2 ip link show gre0)" ",UP"
traffic gre-nocsum-repaired $VIP4 gre0 4 no works

step "gre-csum.yaml over gre-nocsum"
converge $EX/gre-csum.yaml
check "gre-csum: ipvsadm shows --tun-csum" test "$(count '--tun-csum' "$(in_ns director ipvsadm -Sn)")" = 2
check "gre-csum: the role gave gre0 icsum" contains "$(in_ns rs1 ip -d link show gre0)" "icsum"
# gre0 with icsum receives GRE with checksums (kernel-facts.md).
traffic gre-csum $VIP4 gre0 4 no works

# ---------------------------------------------------------------- IPv6 VIPs
step "ipv6-over-ipv4.yaml (sit0) over the IPv4 examples"
converge $EX/ipv6-over-ipv4.yaml
run_out table in_ns director ipvsadm -Sn
check "ipv6-over-ipv4: IPv6 service to IPv4 destinations" \
    test "$(count "-a -t \[$VIP6\]:80 -r [0-9.]*:80 -i" "$table")" = 2
traffic ipv6-over-ipv4 $VIP6 sit0 4 no works

step "ipv6-over-ipv6.yaml (ip6tnl0, mode ip6ip6)"
converge $EX/ipv6-over-ipv6.yaml
for rs in rs1 rs2; do
    check "[$rs] ip6tnl0 in mode ip6ip6" contains "$(ip -n $rs -d link show ip6tnl0)" "ip6tnl ip6ip6 "
done
# The director's IPv6 VIP must not be the tunnels' outer source (kernel-facts.md): the
# director role holds it deprecated.
run_out vip_on_eth0 ip -n director -6 addr show dev eth0 to $VIP6/128
check "the director role holds $VIP6 deprecated" contains "$vip_on_eth0" deprecated
traffic ipv6-over-ipv6 $VIP6 ip6tnl0 6 no works

drift rs1 "ip6tnl0 mode any" $EX/ipv6-over-ipv6.yaml "ip6tnl0" ip -6 tunnel change ip6tnl0 mode any
check "drift: rs1 ip6tnl0 back in mode ip6ip6" contains "$(ip -n rs1 -d link show ip6tnl0)" "ip6tnl ip6ip6 "
traffic ipv6-over-ipv6-repaired $VIP6 ip6tnl0 6 no works

# A director whose destinations were made while its IPv6 VIP was preferred (by hand, or an
# lvs-converge without deprecated VIPs): IPVS caches each destination's route and source
# address, so the VIP stays their source after the address is deprecated, until each
# destination is updated (measured).
step "upgrade: the VIP preferred when the destinations were made, then apply deprecates it"
run_in director ip addr change $VIP6/128 dev eth0 nodad preferred_lft forever
reset_destinations() {
    local rip
    for rip in 2001:db8:1::11 2001:db8:2::22; do run_in director ipvsadm -e -t "[$VIP6]:80" -r "[$rip]:80" -i -w 1; done
}
reset_destinations
traffic ipv6-over-ipv6-vip-preferred $VIP6 ip6tnl0 6 no drops
plan_on director $EX/ipv6-over-ipv6.yaml
check "upgrade: the director's plan deprecates the VIP (exit 2)" test "$plan_rc" = 2
check "upgrade: plan says deprecated no -> yes" contains "$plan" "deprecated  no → yes"
apply_on director $EX/ipv6-over-ipv6.yaml
run_in director ip -6 route get 2001:db8:2::22
traffic ipv6-over-ipv6-deprecated-late $VIP6 ip6tnl0 6 no measure
step "by hand: ipvsadm -e on each destination (same settings) resets its cached route"
reset_destinations
traffic ipv6-over-ipv6-destinations-reset $VIP6 ip6tnl0 6 no works
for ns in "${HOSTS[@]}"; do
    plan_on "$ns" $EX/ipv6-over-ipv6.yaml
    check "[$ns] ipv6-over-ipv6 still converged at the end (plan exits 0)" test "$plan_rc" = 0
done

# ---------------------------------------------------------------- beyond the examples
# The other tunnel x family combinations of 12_reference_tunnels, from the examples with
# the destinations' tunnel (and, for an IPv4 VIP over IPv6, the nodes' addresses) changed.
# derived NAME EXAMPLE TUNNEL [SED...]: /tmp/NAME.yaml, every `{ node: rsN }` given TUNNEL
# (type=gue,port=6080 is `{ type: gue, port: 6080 }`)
derived() {
    local name=$1 example=$2 tunnel
    tunnel="{ $(sed 's/=/: /g; s/,/, /g' <<<"$3") }"
    shift 3
    sed -e "s/{ node: \(rs[12]\) }/{ node: \1, tunnel: $tunnel }/" "$@" $EX/$example >/tmp/$name.yaml
    grep -n "node: rs\|address:" /tmp/$name.yaml
}
over_ipv6=(-e 's/address: 203.0.113.10,/address: "2001:db8:1::10",/' -e 's/address: 203.0.113.11 }/address: "2001:db8:1::11" }/'
    -e 's/address: 198.51.100.22 }/address: "2001:db8:2::22" }/')
while read -r name example tunnel vip dev ufam gue; do
    if [[ $name == *4-in-6 ]]; then derived "$name" "$example" "$tunnel" "${over_ipv6[@]}"
    else derived "$name" "$example" "$tunnel"; fi
    step "$name: /tmp/$name.yaml over the previous"
    converge /tmp/$name.yaml
    traffic "$name" "$vip" "$dev" "$ufam" "$gue" works
done <<COMBOS
gue6-in-6 ipv6-over-ipv6.yaml type=gue,port=6080 $VIP6 ip6tnl0 6 yes
gre6-in-6 ipv6-over-ipv6.yaml type=gre $VIP6 ip6gre0 6 no
gue6-in-4 ipv6-over-ipv4.yaml type=gue,port=6080 $VIP6 sit0 4 yes
gre6-in-4 ipv6-over-ipv4.yaml type=gre $VIP6 gre0 4 no
ipip4-in-6 ipip.yaml type=ipip $VIP4 ip6tnl0 6 no
gue4-in-6 ipip.yaml type=gue,port=6080 $VIP4 ip6tnl0 6 yes
gre4-in-6 ipip.yaml type=gre $VIP4 ip6gre0 6 no
COMBOS

step "summary"
cat $RESULTS
((${#MISMATCHES[@]} == 0)) || fail "${#MISMATCHES[@]} mismatches: $(printf '%s; ' "${MISMATCHES[@]}")"
