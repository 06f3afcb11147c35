# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 14, GRE with checksums over IPv4, carried end to end: the cluster converged ONLY by
# `lvs-converge apply -f /lab/examples/tunnels/gre-csum.yaml` (real servers first). The
# real-server role gives gre0 `icsum` (requireChecksum) because the destinations say
# `checksum: csum`; without it the kernel drops checksummed GRE (rx_crc_errors, measured in
# 12_reference_tunnels). Then: HTTP through the VIP answered by rs1 and rs2, gre0 rx_packets
# moved on both and rx_crc_errors did not, IPVS OutPkts 0 (direct return), a second apply
# changes nothing, and icsum cleared by hand is planned and repaired.
SPEC=/lab/examples/tunnels/gre-csum.yaml
VIP=203.0.113.100
declare -A RIP=([rs1]=203.0.113.11 [rs2]=198.51.100.22)

topology_cluster
start_web rs1
start_web rs2

step "apply on the real servers first, then the director (each finds its node by address)"
for ns in rs1 rs2 director; do
    run_out applied lvs-converge --netns $ns apply -f $SPEC
    [[ $ns == director ]] || expect_contains "$applied" "icsum" "[$ns] apply sets gre0's icsum"
done

step "what apply made: gre0 up with icsum, GRE csum destinations"
for rs in rs1 rs2; do
    run_out l in_ns $rs ip -d link show gre0
    expect_contains "$l" "icsum" "[$rs] gre0 has icsum"
    expect_contains "$l" "UP" "[$rs] gre0 up"
    expect_eq "$(in_ns $rs cat /proc/sys/net/ipv4/conf/gre0/rp_filter)" 0 "[$rs] gre0 rp_filter"
done
run_out table in_ns director ipvsadm -Ln
expect_contains "$table" "203.0.113.11:80" "rs1 in IPVS"
run_out table_save in_ns director ipvsadm -Sn
for rs in rs1 rs2; do
    expect_contains "$table_save" "-r ${RIP[$rs]}:80 -i -w 1 --tun-type gre --tun-csum" "[$rs] destination sends gre csum"
done

declare -A rx0 crc0
for rs in rs1 rs2; do rx0[$rs]=$(ns_stat $rs gre0 rx_packets) crc0[$rs]=$(ns_stat $rs gre0 rx_crc_errors); done
expect_both_real_servers_answer 6

step "counters: checksummed GRE decapsulated on gre0 of both, no checksum errors"
for rs in rs1 rs2; do
    rx=$(($(ns_stat $rs gre0 rx_packets) - ${rx0[$rs]})) crc=$(($(ns_stat $rs gre0 rx_crc_errors) - ${crc0[$rs]}))
    echo "[$rs] gre0 rx_packets +$rx rx_crc_errors +$crc"
    expect_num $rx -gt 0 "[$rs] gre0 rx_packets moved"
    expect_num $crc -eq 0 "[$rs] gre0 rx_crc_errors did not"
done

step "IPVS saw the requests (InPkts) but no replies (OutPkts = 0: direct return)"
every_destination_counted() {
    in_ns director ipvsadm -Ln --stats --exact -t "$VIP:80" |
        awk '$1 == "->" && $3 ~ /^[0-9]+$/ { n++; if ($4 == 0) zero = 1 } END { exit (zero || n == 0) }'
}
wait_for 10 every_destination_counted || true
run_out stats in_ns director ipvsadm -Ln --stats --exact -t "$VIP:80"
for rs in rs1 rs2; do
    read -r conns inpkts outpkts <<<"$(awk -v d="${RIP[$rs]}:80" '$1 == "->" && $2 == d { print $3, $4, $5 }' <<<"$stats")"
    expect_num "${conns:-x}" -gt 0 "[$rs] IPVS connections"
    expect_num "${inpkts:-x}" -gt 0 "[$rs] IPVS InPkts"
    expect_num "${outpkts:-x}" -eq 0 "[$rs] IPVS OutPkts"
done

step "second apply on every host changes nothing"
for ns in rs1 rs2 director; do
    run_out again lvs-converge --netns $ns apply -f $SPEC
    expect_contains "$again" "No changes." "[$ns] second apply"
done

step "drift: icsum cleared by hand on rs2 is planned and repaired"
# `ip tunnel change gre0 mode gre` keeps the flags (iproute2 starts from the device's when
# the name comes first); with the name last it starts from none, which clears icsum.
run_in rs2 ip tunnel change gre0 mode gre
expect_contains "$(in_ns rs2 ip -d link show gre0)" "icsum" "ip tunnel change gre0 mode gre keeps icsum"
run_in rs2 ip tunnel change mode gre nopmtudisc gre0
expect_not_contains "$(in_ns rs2 ip -d link show gre0)" "icsum" "icsum cleared by hand"
crc_before=$(ns_stat rs2 gre0 rx_crc_errors)
for _ in 1 2 3 4; do HTTP_WAIT=1 http_get client $VIP >/dev/null 2>&1 || true; done
echo "rs2 gre0 rx_crc_errors +$(($(ns_stat rs2 gre0 rx_crc_errors) - crc_before)) without icsum"
expect_num "$(ns_stat rs2 gre0 rx_crc_errors)" -gt "$crc_before" "without icsum rs2 drops checksummed GRE"
rc=0
run_out plan lvs-converge --netns rs2 plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan sees the drift"
expect_contains "$plan" "icsum" "plan names icsum"
expect_ok lvs-converge --netns rs2 apply -f $SPEC
expect_contains "$(in_ns rs2 ip -d link show gre0)" "icsum" "icsum repaired"
expect_ok lvs-converge --netns rs2 plan -f $SPEC
expect_both_real_servers_answer 4
