# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# REFERENCE: LVS-TUN done by hand with ip/ipvsadm/sysctl, the correct way.
# This is what lvs-converge must reproduce. The director schedules to the
# real servers' own addresses (RIPs) with -i (ipip); the real servers hold
# the VIP on lo, decapsulate on tunl0 and answer the client directly.
VIP=203.0.113.100
RS1=203.0.113.11   # same L2 segment as the client and the director
RS2=198.51.100.22  # behind the router, another network
N=20

topology_cluster
start_web rs1
start_web rs2

step "baseline: client reaches each real server directly"
expect_eq "$(http_get client $RS1)" rs1 "GET http://$RS1/"
expect_eq "$(http_get client $RS2)" rs2 "GET http://$RS2/"

step "director: VIP on eth0, IPVS service with two tunnel destinations"
run_in director ip addr add $VIP/32 dev eth0
run_in director ipvsadm -A -t $VIP:80 -s rr
run_in director ipvsadm -a -t $VIP:80 -r $RS1:80 -i -w 1
run_in director ipvsadm -a -t $VIP:80 -r $RS2:80 -i -w 1
run_in director ipvsadm -Ln

for rs in rs1 rs2; do
    step "real server $rs: ipip decapsulation, VIP on lo, no ARP for it, no rp_filter"
    run_cmd modprobe ipip
    run_in $rs ip link set tunl0 up
    # ARP sysctls first, so the VIP is never announced on the segment.
    run_in $rs sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    run_in $rs sysctl -w net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2
    # Effective rp_filter is max(all, iface): the decapsulated packet comes
    # in on tunl0 with the client as source, the route back is via eth0.
    run_in $rs sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
    run_in $rs ip addr add $VIP/32 dev lo
done

step "client fetches http://$VIP/ $N times"
hits_rs1=0 hits_rs2=0 misses=0
for ((i = 1; i <= N; i++)); do
    body=$(http_get client $VIP) || body="(no answer)"
    case $body in
        rs1) hits_rs1=$((hits_rs1 + 1)) ;;
        rs2) hits_rs2=$((hits_rs2 + 1)) ;;
        *) misses=$((misses + 1)) ;;
    esac
    echo "  request $i: $body"
done
echo "rs1=$hits_rs1 rs2=$hits_rs2 misses=$misses"
expect_num $misses -eq 0 "requests without an answer"
expect_num $hits_rs1 -gt 0 "answers from rs1"
expect_num $hits_rs2 -gt 0 "answers from rs2"
expect_num $((hits_rs1 + hits_rs2)) -eq $N "answers in total"

step "IPVS saw the requests (InPkts) but no replies (OutPkts = 0: direct return)"
run_out stats in_ns director ipvsadm -Ln --stats --exact
dest_stat() { # dest_stat ADDR:PORT FIELD  (3=Conns 4=InPkts 5=OutPkts)
    awk -v d="$1" -v f="$2" '$1 == "->" && $2 == d { print $f }' <<<"$stats"
}
for d in $RS1:80 $RS2:80; do
    expect_num "$(dest_stat $d 3)" -gt 0 "IPVS connections to $d"
    expect_num "$(dest_stat $d 4)" -gt 0 "IPVS InPkts to $d"
    expect_num "$(dest_stat $d 5)" -eq 0 "IPVS OutPkts from $d"
done
for rs in rs1 rs2; do
    expect_num "$(ns_stat $rs tunl0 rx_packets)" -gt 0 "$rs tunl0 rx_packets (ipip decapsulated)"
done

step "rs2 replies bypass the director: byte counters around a batch served by rs2 only"
run_in director ipvsadm -e -t $VIP:80 -r $RS1:80 -i -w 0
snap() {
    d_rx=$(ns_stat director eth0 rx_bytes) d_tx=$(ns_stat director eth0 tx_bytes)
    r_in=$(ns_stat router eth1 rx_bytes) r_out=$(ns_stat router eth0 tx_bytes)
    c_rx=$(ns_stat client eth0 rx_bytes) t_rx=$(ns_stat rs2 tunl0 rx_packets)
}
snap
b_d_rx=$d_rx b_d_tx=$d_tx b_r_in=$r_in b_r_out=$r_out b_c_rx=$c_rx b_t_rx=$t_rx
BATCH=5 SIZE=65536
for ((i = 1; i <= BATCH; i++)); do
    expect_eq "$(http_get client $VIP 80 / )" rs2 "request $i answered by rs2"
    len=$(http_get client $VIP 80 /big.bin | wc -c)
    expect_num "$len" -ge $SIZE "bytes of /big.bin, fetch $i"
done
snap
payload=$((BATCH * SIZE))
echo "payload served by rs2: $payload bytes"
echo "director eth0: rx +$((d_rx - b_d_rx)) tx +$((d_tx - b_d_tx)) bytes"
echo "router eth1 (from rs2): rx +$((r_in - b_r_in)); router eth0 (to segment): tx +$((r_out - b_r_out)) bytes"
echo "client eth0: rx +$((c_rx - b_c_rx)) bytes; rs2 tunl0: rx +$((t_rx - b_t_rx)) packets"
run_in director ip -s link show eth0
expect_num $((c_rx - b_c_rx)) -ge $payload "client received the payload"
expect_num $((r_in - b_r_in)) -ge $payload "router got the payload from rs2 (eth1 rx)"
expect_num $((r_out - b_r_out)) -ge $payload "router forwarded the payload to the segment (eth0 tx)"
expect_num $((d_rx - b_d_rx)) -lt $((payload / 10)) "director eth0 rx stays far below the payload"
expect_num $((d_tx - b_d_tx)) -lt $((payload / 10)) "director eth0 tx stays far below the payload"
expect_num $((t_rx - b_t_rx)) -gt 0 "rs2 got requests through the tunnel"
run_in director ipvsadm -e -t $VIP:80 -r $RS1:80 -i -w 1

step "ARP: the client resolved the VIP to the director, not to rs1"
run_in client ip neigh show $VIP
mac_vip=$(in_ns client ip neigh show $VIP | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
mac_dir=$(ns_mac director eth0)
mac_rs1=$(ns_mac rs1 eth0)
echo "director eth0 $mac_dir, rs1 eth0 $mac_rs1"
expect_eq "$mac_vip" "$mac_dir" "client's neighbour entry for $VIP"
[[ $mac_vip != "$mac_rs1" ]] || fail "client resolved $VIP to rs1"
