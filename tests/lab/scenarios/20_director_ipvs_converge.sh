# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 3: a director's whole IPVS table from one spec. apply builds exactly the table
# ipvsadm would, a second apply changes nothing, and out-of-band drift is planned and
# repaired precisely, leaving an unmanaged service alone.
SPEC=/lab/examples/director-full.yaml
EXPECTED=/lab/expected/director-full.ipvsadm

topology_single
export LVS_NS=director

ipvs_table() { in_ns director ipvsadm -Sn | sort; }
expected_table() { grep -v '^#' "$EXPECTED" | sort; }

step "validate and plan the spec on an empty host"
expect_ok lvs-converge validate -f $SPEC
rc=0
run_out plan_text lvs-converge --netns director plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code with changes pending"
expect_contains "$plan_text" "+ ipvs service udp 203.0.113.100:53" "plan"
expect_contains "$plan_text" "Plan: 21 to create, 1 to update, 0 to delete." "plan summary"

step "apply, then compare with ipvsadm -Sn (sorted) against the hand-written expectation"
expect_ok lvs-converge --netns director apply -f $SPEC
run_out table ipvs_table
expect_eq "$table" "$(expected_table)" "ipvsadm -Sn after apply"
# ipvsadm -S does not save thresholds; the listing shows them.
run_out thresholds in_ns director ipvsadm -Ln --thresholds -t 203.0.113.100:80
expect_eq "$(awk '$2 == "198.51.100.22:80" { print $3, $4 }' <<<"$thresholds")" "500 400" "upper/lower thresholds of 198.51.100.22:80"
run_out timeouts in_ns director ipvsadm -L --timeout
expect_contains "$timeouts" "Timeout (tcp tcpfin udp): 900 120 300" "ipvsadm --timeout"

step "second apply changes nothing; plan exits 0"
run_out second lvs-converge --netns director apply -f $SPEC
expect_contains "$second" "No changes." "second apply"
expect_ok lvs-converge --netns director plan -f $SPEC
expect_eq "$(ipvs_table)" "$table" "ipvsadm -Sn after the second apply"

step "out-of-band drift: re-weight a real server, delete another, add an unmanaged service"
run_in director ipvsadm -e -t 203.0.113.100:80 -r 203.0.113.11:80 -i -w 9
run_in director ipvsadm -d -u 203.0.113.100:53 -r 198.51.100.22:53
run_in director ipvsadm -A -t 192.0.2.10:443 -s rr
run_in director ipvsadm -a -t 192.0.2.10:443 -r 192.0.2.20:443 -m
rc=0
run_out drift_json lvs-converge --netns director plan -f $SPEC --format json || rc=$?
expect_eq "$rc" 2 "plan exit code after drift"
expect_contains "$drift_json" '"create": 1' "drift summary"
expect_contains "$drift_json" '"update": 1' "drift summary"
expect_contains "$drift_json" '"delete": 0' "drift summary"
expect_contains "$drift_json" '"id": "198.51.100.22:53 of udp 203.0.113.100:53"' "re-created real server"
expect_contains "$drift_json" '"id": "203.0.113.11:80 of tcp 203.0.113.100:80"' "re-weighted real server"
expect_contains "$drift_json" '"id": "tcp 192.0.2.10:443"' "unmanaged service listed"

step "apply repairs exactly those two, without re-adding unchanged real servers"
# Witness: connection entries stay attached to their destination object. A destination
# that was deleted and re-added would show 0 connections afterwards. Open a few
# connections from the director itself (IPVS schedules local clients too); with
# persistence they all land on one real server, whose SYNs go nowhere (dummy0).
run_in director ip route add default dev dummy0
for i in 1 2 3; do in_ns director timeout 0.3 busybox nc 203.0.113.100 80 </dev/null >/dev/null 2>&1 || true; done
conns() { in_ns director ipvsadm -Ln -t 203.0.113.100:80 | awk '$1 == "->" && $2 != "RemoteAddress:Port" { print $2, $5 + $6 }'; }
run_out conns_before conns
busy=$(awk '$2 > 0 { print $1 }' <<<"$conns_before")
[[ -n $busy ]] || fail "no destination holds a connection: the witness would prove nothing"
run_out before_unmanaged in_ns director ipvsadm -Ln -t 192.0.2.10:443
run_out repair lvs-converge --netns director apply -f $SPEC
expect_contains "$repair" "Apply complete: 1 created, 1 updated, 0 deleted" "repair summary"
run_out conns_after conns
expect_eq "$(grep -F "$busy " <<<"$conns_after")" "$(grep -F "$busy " <<<"$conns_before")" "connections on $busy (not deleted and re-added)"
run_out repaired ipvs_table
expected_with_unmanaged=$( (expected_table; echo "-A -t 192.0.2.10:443 -s rr"; echo "-a -t 192.0.2.10:443 -r 192.0.2.20:443 -m -w 1") | sort)
expect_eq "$repaired" "$expected_with_unmanaged" "ipvsadm -Sn after repair (unmanaged service untouched)"
expect_eq "$(in_ns director ipvsadm -Ln -t 192.0.2.10:443)" "$before_unmanaged" "unmanaged service"
expect_ok lvs-converge --netns director plan -f $SPEC

step "one weight changed out of band: apply makes exactly one netlink write and verifies it"
# Verification re-reads only the service apply touched (a GET_SERVICE and one GET_DEST
# dump): were that read wrong, the re-read host would differ and apply would fail.
run_in director ipvsadm -e -t 203.0.113.100:80 -r 203.0.113.11:80 -i -w 9
run_out one_json lvs-converge --netns director apply -f $SPEC --format json
expect_eq "$(jq -c '[.netlink_writes, .verified, .summary.update]' <<<"$one_json")" "[1,true,1]" "apply of one re-weight"
expect_eq "$(ipvs_table)" "$repaired" "ipvsadm -Sn after the re-weight is repaired"
expect_ok lvs-converge --netns director plan -f $SPEC

step "offline review: snapshot the host with show, plan against the snapshot without netlink"
lvs-converge --netns director show --format json >/tmp/observed.json
run_cmd head -c 300 /tmp/observed.json
echo
expect_ok lvs-converge plan -f $SPEC --observed /tmp/observed.json
sed 's/weight: 3 }/weight: 4 }/' $SPEC >/tmp/reweighted.yaml
rc=0
run_out offline lvs-converge plan -f /tmp/reweighted.yaml --observed /tmp/observed.json || rc=$?
expect_eq "$rc" 2 "offline plan exit code for a spec change"
expect_contains "$offline" "weight  3 → 4" "offline plan"

step "the seed's director spec (wlc, persistence 3600s) on a host with eth0"
ip netns add seed
ip -n seed -b - <<-EOF2
	link set lo up
	link add eth0 type dummy
	addr add 203.0.113.10/24 dev eth0
	link set eth0 up
	EOF2
expect_ok lvs-converge --netns seed apply -f /lab/examples/seed/director.yaml
expect_eq "$(in_ns seed ipvsadm -Sn | sort)" "$(printf '%s\n' \
    '-A -t 203.0.113.100:80 -s wlc -p 3600' \
    '-a -t 203.0.113.100:80 -r 198.51.100.22:80 -i -w 1 --tun-type ipip' \
    '-a -t 203.0.113.100:80 -r 203.0.113.11:80 -i -w 1 --tun-type ipip' | sort)" "seed director ipvsadm -Sn"
expect_contains "$(in_ns seed ip addr show dev eth0)" "inet 203.0.113.100/32 scope global eth0:0" "VIP as eth0:0"
expect_ok lvs-converge --netns seed plan -f /lab/examples/seed/director.yaml
