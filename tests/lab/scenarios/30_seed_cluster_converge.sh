# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 4: the seed's cluster converged only by `lvs-converge apply` on each host from one
# Cluster spec, held against the hand-made reference (10_reference_manual_tun): same
# traffic, same direct return, same ARP behaviour. Then idempotence, drift repair, and
# nothing the spec doesn't own is touched.
SPEC=/lab/examples/seed/cluster.yaml
VIP=203.0.113.100

topology_cluster
start_web rs1
start_web rs2

# Everything on a host that the spec does not own: addresses, routes, sysctls of the
# physical interface, with the owned objects filtered out.
unowned() {
    local ns=$1
    in_ns "$ns" ip -o -d addr | grep -v -e "$VIP" -e tunl0
    in_ns "$ns" ip -o -d link | grep -v tunl0
    in_ns "$ns" ip route show table all | grep -v -e "$VIP" -e tunl0
    in_ns "$ns" sh -c 'cd /proc/sys/net/ipv4/conf/eth0 && grep . rp_filter arp_ignore arp_announce forwarding accept_local'
    in_ns "$ns" sh -c 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/default/rp_filter'
}
declare -A before
for ns in director rs1 rs2; do before[$ns]=$(unowned $ns); done

step "each host plans its part of the one cluster spec"
for ns in director rs1 rs2; do
    rc=0
    run_out plan_$ns lvs-converge --netns $ns plan -f $SPEC --node $ns || rc=$?
    expect_eq "$rc" 2 "[$ns] plan exit code"
done
expect_contains "$plan_director" "+ address $VIP/32 on eth0" "director plan"
expect_contains "$plan_director" "(from role director)" "director plan marks role defaults"
expect_contains "$plan_rs1" "~ sysctl net.ipv4.conf.tunl0.rp_filter" "rs1 plan"
expect_contains "$plan_rs1" "(from role real-server)" "rs1 plan marks role defaults"

step "apply on every host (rs1 finds its node by its own address, the others by name)"
expect_ok lvs-converge --netns director apply -f $SPEC --node director
expect_ok lvs-converge --netns rs1 apply -f $SPEC
expect_ok lvs-converge --netns rs2 apply -f $SPEC --node rs2

step "independent checks of what apply made"
run_out table in_ns director ipvsadm -Sn
expect_contains "$table" "-A -t $VIP:80 -s rr" "director IPVS service"
expect_contains "$table" "-a -t $VIP:80 -r 203.0.113.11:80 -i -w 1" "rs1 as tunnel real server"
expect_contains "$table" "-a -t $VIP:80 -r 198.51.100.22:80 -i -w 1" "rs2 as tunnel real server"
expect_contains "$(in_ns director ip addr show dev eth0)" "inet $VIP/32 scope global eth0:0" "director VIP on eth0:0"
for rs in rs1 rs2; do
    expect_contains "$(in_ns $rs ip -d link show tunl0)" "state UNKNOWN" "[$rs] tunl0 up"
    expect_contains "$(in_ns $rs ip -d link show tunl0)" "ipip any remote any local any" "[$rs] tunl0 is the ipip fallback"
    expect_contains "$(in_ns $rs ip addr show dev lo)" "inet $VIP/32 scope global lo" "[$rs] VIP on lo"
    for kv in all/arp_ignore=1 all/arp_announce=2 lo/arp_ignore=1 lo/arp_announce=2 all/rp_filter=0 tunl0/rp_filter=0; do
        expect_eq "$(in_ns $rs cat /proc/sys/net/ipv4/conf/${kv%=*})" "${kv#*=}" "[$rs] net.ipv4.conf.${kv%=*}"
    done
done

expect_both_real_servers_answer 20
expect_direct_return_stats $VIP:80 203.0.113.11:80 198.51.100.22:80

step "drain rs1 through the spec (weight 0), to measure rs2's return path alone"
sed 's/- node: rs1/- { node: rs1, weight: 0 }/' $SPEC >/tmp/drained.yaml
expect_ok lvs-converge --netns director apply -f /tmp/drained.yaml --node director
expect_contains "$(in_ns director ipvsadm -Sn)" "-r 203.0.113.11:80 -i -w 0" "rs1 drained"
expect_rs2_replies_bypass_director
expect_ok lvs-converge --netns director apply -f $SPEC --node director

expect_vip_arp_is_director

step "second apply on every host changes nothing"
for ns in director rs1 rs2; do
    run_out again lvs-converge --netns $ns apply -f $SPEC --node $ns
    expect_contains "$again" "No changes." "[$ns] second apply"
    expect_ok lvs-converge --netns $ns plan -f $SPEC --node $ns
done

step "out-of-band drift: tunl0 down on rs1, rp_filter flipped on rs2, VIP removed from rs1, a sysctl changed on rs2"
run_in rs1 ip link set tunl0 down
run_in rs2 sysctl -w net.ipv4.conf.tunl0.rp_filter=1
run_in rs1 ip addr del $VIP/32 dev lo
run_in rs2 sysctl -w net.ipv4.conf.all.arp_announce=0
rc=0
run_out drift1 lvs-converge --netns rs1 plan -f $SPEC --node rs1 --format json || rc=$?
expect_eq "$rc" 2 "[rs1] plan exit code after drift"
expect_contains "$drift1" '"summary": {
    "create": 1,
    "update": 1,
    "delete": 0
  }' "[rs1] exactly the VIP and tunl0"
expect_contains "$drift1" '"id": "203.0.113.100/32 on lo"' "[rs1] VIP planned"
expect_contains "$drift1" '"id": "tunl0"' "[rs1] tunl0 planned"
rc=0
run_out drift2 lvs-converge --netns rs2 plan -f $SPEC --node rs2 || rc=$?
expect_eq "$rc" 2 "[rs2] plan exit code after drift"
expect_contains "$drift2" "net.ipv4.conf.tunl0.rp_filter" "[rs2] rp_filter planned"
expect_contains "$drift2" "net.ipv4.conf.all.arp_announce" "[rs2] arp_announce planned"
expect_contains "$drift2" "Plan: 0 to create, 2 to update, 0 to delete." "[rs2] exactly two changes"
expect_ok lvs-converge --netns rs1 apply -f $SPEC --node rs1
expect_ok lvs-converge --netns rs2 apply -f $SPEC --node rs2
for ns in rs1 rs2; do expect_ok lvs-converge --netns $ns plan -f $SPEC --node $ns; done
expect_both_real_servers_answer 10

step "nothing the spec does not own was touched"
for ns in director rs1 rs2; do
    expect_eq "$(unowned $ns)" "${before[$ns]}" "[$ns] addresses, routes and sysctls outside the spec"
done
