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

expect_both_real_servers_answer $N

expect_direct_return_stats $VIP:80 $RS1:80 $RS2:80

run_in director ipvsadm -e -t $VIP:80 -r $RS1:80 -i -w 0
expect_rs2_replies_bypass_director
run_in director ipvsadm -e -t $VIP:80 -r $RS1:80 -i -w 1

expect_vip_arp_is_director
