# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 14, slice E: a director's IPv6 VIP must not be the source of its tunnel packets (a
# real server's ip6tnl0 drops packets whose outer source is one of its own addresses, and
# the VIP is on its lo). The director role holds IPv6 VIPs deprecated (preferred_lft 0):
# the kernel picks the director's own address as source, the VIP is still answered (NDP,
# ping). Drift (the VIP made preferred by hand) is planned and changed in place, and a
# role-less spec with `deprecated: false` does the reverse. IPv4 VIPs are held as before.
ROLE=/tmp/ipv6-vip-director.yaml
PREFERRED=/tmp/ipv6-vip-preferred.yaml
cat >$ROLE <<'YAML'
apiVersion: lvs-converge/v1
kind: Host
role: director
vipInterface: eth1
ipvs:
  services:
    - { address: 203.0.113.100, port: 80, realServers: [{ address: 192.0.2.11 }] }
    - { address: "2001:db8:1::100", port: 80, realServers: [{ address: "2001:db8:1::11" }] }
YAML
cat >$PREFERRED <<'YAML'
apiVersion: lvs-converge/v1
kind: Host
addresses:
  - { address: "2001:db8:1::100/128", interface: eth1, deprecated: false }
YAML

topology_single
export LVS_NS=director
step "a peer on a veth: director eth1 2001:db8:1::10/64, peer eth0 2001:db8:1::11/64"
_lab_ns_add peer
ip link add eth1 netns director type veth peer name eth0 netns peer
ip -n director addr add 2001:db8:1::10/64 dev eth1 nodad
ip -n peer addr add 2001:db8:1::11/64 dev eth0 nodad
ip -n director link set eth1 up
ip -n peer link set eth0 up
run_in director ip -br addr

vip_line() { in_ns director ip -6 addr show dev eth1 to 2001:db8:1::100/128; }
source_to_peer() { in_ns director ip -6 route get 2001:db8:1::11; }

step "measured: an IPv6 address added without nodad is tentative at first (DAD), so apply adds with nodad"
run_in director ip addr add 2001:db8:1::200/128 dev eth1
run_out tentative in_ns director ip -6 addr show dev eth1 to 2001:db8:1::200/128
expect_contains "$tentative" "tentative" "an address under DAD"
run_in director ip addr del 2001:db8:1::200/128 dev eth1

step "measured: a VIP added the ordinary way becomes the source towards the real server"
run_in director ip addr add 2001:db8:1::100/128 dev eth1 nodad
run_out route source_to_peer
expect_contains "$route" "src 2001:db8:1::100 " "source with a preferred VIP (the failure)"
run_in director ip addr del 2001:db8:1::100/128 dev eth1

step "apply the director role: the IPv6 VIP is held deprecated, the IPv4 VIP as before"
rc=0
run_out plan lvs-converge --netns director plan -f $ROLE || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$plan" "+ address 2001:db8:1::100/128 on eth1" "plan"
expect_contains "$plan" "deprecated  yes" "plan"
expect_ok lvs-converge --netns director apply -f $ROLE
run_out line vip_line
expect_contains "$line" "deprecated" "ip -6 addr of the VIP"
expect_not_contains "$line" "tentative" "ip -6 addr of the VIP (usable at once)"
run_out v4 in_ns director ip -4 addr show dev eth1
expect_contains "$v4" "203.0.113.100/32" "IPv4 VIP"
expect_not_contains "$v4" "deprecated" "IPv4 VIP"
run_out route source_to_peer
expect_contains "$route" "src 2001:db8:1::10 " "source towards the real server: the director's own address"
expect_ok in_ns peer ping -c 1 -W 2 2001:db8:1::100
run_out neighbour in_ns peer ip -6 neigh show 2001:db8:1::100
expect_contains "$neighbour" "lladdr $(ns_mac director eth1)" "the peer's neighbour entry for the VIP (NDP answered)"

step "second apply changes nothing"
run_out second lvs-converge --netns director apply -f $ROLE
expect_contains "$second" "No changes." "second apply"
expect_ok lvs-converge --netns director plan -f $ROLE

step "drift: the VIP made preferred by hand is planned as an update and changed in place"
run_in director ip addr change 2001:db8:1::100/128 dev eth1 nodad preferred_lft forever
run_out route source_to_peer
expect_contains "$route" "src 2001:db8:1::100 " "source after the drift"
rc=0
run_out drift lvs-converge --netns director plan -f $ROLE || rc=$?
expect_eq "$rc" 2 "plan exit code after drift"
expect_contains "$drift" "~ address 2001:db8:1::100/128 on eth1" "drift plan"
expect_contains "$drift" "deprecated  no → yes" "drift plan"
rc=0
run_out drift_json lvs-converge --netns director plan -f $ROLE --format json || rc=$?
expect_contains "$drift_json" '"update": 1' "drift JSON summary"
expect_contains "$drift_json" '"delete": 0' "drift JSON summary"
run_out repair lvs-converge --netns director apply -f $ROLE
expect_contains "$repair" "Apply complete: 0 created, 1 updated, 0 deleted" "repair in place, not delete + add"
run_out line vip_line
expect_contains "$line" "deprecated" "ip -6 addr of the VIP after repair"
run_out route source_to_peer
expect_contains "$route" "src 2001:db8:1::10 " "source after repair"
expect_ok lvs-converge --netns director plan -f $ROLE

step "the reverse: a spec with deprecated: false makes it preferred again, in place"
rc=0
run_out reverse lvs-converge --netns director plan -f $PREFERRED || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$reverse" "deprecated  yes → no" "reverse plan"
run_out applied lvs-converge --netns director apply -f $PREFERRED
expect_contains "$applied" "Apply complete: 0 created, 1 updated, 0 deleted" "reverse in place"
run_out line vip_line
expect_not_contains "$line" "deprecated" "ip -6 addr of the VIP"
run_out route source_to_peer
expect_contains "$route" "src 2001:db8:1::100 " "source with the VIP preferred"
run_out again lvs-converge --netns director apply -f $PREFERRED
expect_contains "$again" "No changes." "second apply of the reverse"
