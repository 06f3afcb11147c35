# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 6: safe by construction. A change under live traffic drops no request and drains
# the removed real server before deleting it; apply killed (-9) at any change is finished
# by the next apply; a failure at any change rolls back to the exact starting table; two
# applies never interleave; plan, show and validate change nothing.
VIP=203.0.113.100
SPEC=/lab/examples/seed/cluster.yaml

topology_cluster
step "a third real server, rs3 (203.0.113.12), on the director's segment"
ip netns add rs3
ip -n rs3 link set lo up
ip link add lab-rs3 type veth peer name eth0 netns rs3
ip link set lab-rs3 master lab0 up
ip -n rs3 -b - <<-EOF2
	addr add 203.0.113.12/24 dev eth0
	link set eth0 up
	route add default via 203.0.113.1
	EOF2
for rs in rs1 rs2 rs3; do start_web $rs; done

step "converge the seed cluster (rs1, rs2) and a v2 spec that adds rs3, re-weights rs1, removes rs2"
sed -e 's/- node: rs1/- { node: rs1, weight: 2 }/' -e 's/- node: rs2/- node: rs3/' $SPEC >/tmp/v2.yaml
cat >>/tmp/v2.yaml <<-EOF2
	  - name: rs3
	    role: real-server
	    address: 203.0.113.12
	EOF2
run_cmd cat /tmp/v2.yaml
expect_ok lvs-converge validate -f /tmp/v2.yaml
for ns in director rs1 rs2; do expect_ok lvs-converge --netns $ns apply -f $SPEC --node $ns; done
expect_ok lvs-converge --netns rs3 apply -f /tmp/v2.yaml --node rs3
expect_both_real_servers_answer 6

step "plan, show and validate change nothing (independent before/after snapshot)"
run_in rs2 sysctl -w net.ipv4.conf.all.arp_ignore=0   # drift, so that plan has work to show
host_snapshot() {
    local ns=$1
    in_ns "$ns" ipvsadm -Sn
    in_ns "$ns" ip -o -d link | sed 's/ link\/ether.*//'
    in_ns "$ns" ip -o -d addr
    in_ns "$ns" ip route show table all
    in_ns "$ns" sh -c 'grep -r . /proc/sys/net/ipv4/conf/ /proc/sys/net/ipv4/ip_forward' 2>/dev/null
    cat /proc/modules | cut -d' ' -f1 | sort
    ls -l --full-time /run/lvs-converge 2>/dev/null
}
for ns in director rs2; do
    before=$(host_snapshot $ns)
    rc=0
    lvs-converge --netns $ns plan -f $SPEC --node $ns >/dev/null || rc=$?
    lvs-converge --netns $ns plan -f $SPEC --node $ns --format json >/dev/null || true
    lvs-converge --netns $ns show >/dev/null
    lvs-converge validate -f $SPEC >/dev/null
    expect_eq "$(host_snapshot $ns)" "$before" "[$ns] host state after plan/show/validate"
done
expect_ok lvs-converge --netns rs2 apply -f $SPEC --node rs2

step "live traffic while the director moves to v2 (apply --wait drains rs2 before deleting it)"
( for i in $(seq 1 60); do http_get client $VIP >/dev/null 2>&1 && echo ok || echo FAILED; sleep 0.05; done ) >/tmp/loop.log &
loop=$!
( while :; do in_ns director ipvsadm -Ln -t $VIP:80 | awk '$1 == "->" && $2 ~ /198.51.100.22/ { print "rs2 weight", $4 }' | head -1 | grep . || echo "rs2 gone"; sleep 0.1; done ) >/tmp/watch.log &
watch=$!
# Slow clients, started until one of them is on rs2, so that rs2 has an established
# connection to drain. (Round robin alone does not guarantee it: the request loop above
# takes turns too.) Each holds its connection until the watch has seen rs2 at weight 0
# (at most 30 s), so the drain lasts until it is seen however slow the machine is.
hold_until_drain_seen() {
    for _ in $(seq 1 300); do grep -q 'rs2 weight 0' /tmp/watch.log && break; sleep 0.1; done
    sleep 1
}
rs2_active() {
    in_ns director ipvsadm -Ln -t $VIP:80 | awk '$1 == "->" && $2 ~ /198.51.100.22/ { print $5 }'
}
for i in 1 2 3 4 5 6; do
    ( (printf 'GET / HTTP/1.0\r\n'; hold_until_drain_seen) | in_ns client timeout 45 busybox nc 203.0.113.100 80 >/dev/null 2>&1 ) &
    sleep 0.3
    [[ $(rs2_active) -gt 0 ]] && break
done
run_in director ipvsadm -Ln -t $VIP:80
expect_num "$(rs2_active)" -gt 0 "established connections on rs2 before the change"
run_out moved lvs-converge --netns director apply -f /tmp/v2.yaml --node director --wait
wait $loop
sleep 1
kill $watch 2>/dev/null || true
expect_contains "$moved" "weight  1 → 0" "rs2 drained first"
expect_eq "$(grep -c FAILED /tmp/loop.log || true)" 0 "failed requests during the change"
expect_num "$(grep -c ok /tmp/loop.log)" -eq 60 "answered requests during the change"
uniq /tmp/watch.log
expect_contains "$(uniq /tmp/watch.log)" "rs2 weight 0" "rs2 seen at weight 0 while draining"
expect_eq "$(uniq /tmp/watch.log | grep -A1 'rs2 weight 0' | tail -1)" "rs2 gone" "rs2 deleted after it drained"
expect_eq "$(in_ns director ipvsadm -Sn | sort)" "$(printf '%s\n' \
    "-A -t $VIP:80 -s rr" \
    "-a -t $VIP:80 -r 203.0.113.11:80 -i -w 2 --tun-type ipip" \
    "-a -t $VIP:80 -r 203.0.113.12:80 -i -w 1 --tun-type ipip" | sort)" "director table after v2"
expect_ok lvs-converge --netns director plan -f /tmp/v2.yaml --node director

# A 20-change plan for the next two checks: 4 services × 4 real servers on a fresh namespace.
ip netns add t
ip -n t link set lo up
{
    echo "apiVersion: lvs-converge/v1"
    echo "kind: Host"
    echo "ipvs:"
    echo "  drain: false"
    echo "  services:"
    for s in 1 2 3 4; do
        echo "    - { address: 192.0.2.$s, port: 80, scheduler: rr, realServers: ["
        for d in 1 2 3 4; do echo "        { address: 198.51.100.$((10 * s + d)), weight: $d },"; done
        echo "      ] }"
    done
} >/tmp/twenty.yaml
run_cmd cat /tmp/twenty.yaml
expect_ok lvs-converge --netns t apply -f /tmp/twenty.yaml   # loads the modules once
run_in t ipvsadm -C
run_out twenty_plan lvs-converge --netns t plan -f /tmp/twenty.yaml || true
expect_contains "$twenty_plan" "Plan: 20 to create, 0 to update, 0 to delete." "a 20-change plan"

step "kill -9 at every change k of the 20: the next apply finishes the job"
for k in $(seq 1 20); do
    rc=0
    in_ns t env LVS_CONVERGE_FAULT=kill-at-change:$k lvs-converge apply -f /tmp/twenty.yaml >/dev/null 2>&1 || rc=$?
    [[ $rc == 137 ]] || fail "k=$k: expected death by SIGKILL (137), got $rc"
    applied=$(in_ns t ipvsadm -Sn | wc -l)
    [[ $applied == $((k - 1)) ]] || fail "k=$k: $applied changes were in the kernel, expected $((k - 1))"
    in_ns t lvs-converge apply -f /tmp/twenty.yaml >/dev/null || fail "k=$k: apply after the kill failed"
    in_ns t lvs-converge plan -f /tmp/twenty.yaml >/dev/null || fail "k=$k: plan after the re-run is not empty"
    run_in t ipvsadm -C >/dev/null
done
echo "ok: killed at each of 20 changes; every re-run converged and planned 0 changes"

step "a failure at every change k rolls back to the exact starting table (exit 3)"
# Start from a table the spec must rework in 20+ changes: every weight and scheduler
# different, an extra real server, and an undeclared service inside the pruned scope.
sed -e 's/weight: \([0-9]\)/weight: 1\1/' -e 's/scheduler: rr/scheduler: wlc/' /tmp/twenty.yaml >/tmp/twenty-v0.yaml
expect_ok lvs-converge --netns t apply -f /tmp/twenty-v0.yaml
run_in t ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.99:80 -i -w 1
run_in t ipvsadm -A -t 192.0.2.9:80 -s rr
run_in t ipvsadm -a -t 192.0.2.9:80 -r 198.51.100.9:80 -i -w 3
awk '{ print } /drain: false/ { print "  scope: { addresses: [192.0.2.9], prune: true }" }' /tmp/twenty.yaml >/tmp/twenty-pruned.yaml
start=$(in_ns t ipvsadm -Sn)
run_out rework lvs-converge --netns t plan -f /tmp/twenty-pruned.yaml || true
changes=$(grep -o 'Plan: [0-9]* to create, [0-9]* to update, [0-9]* to delete' <<<"$rework" | awk '{ print $2 + $5 + $8 }')
echo "changes in the rework plan: $changes"
expect_num "$changes" -ge 20 "changes to roll back through"
for k in $(seq 1 "$changes"); do
    rc=0
    in_ns t env LVS_CONVERGE_FAULT=fail-at-change:$k lvs-converge apply -f /tmp/twenty-pruned.yaml >/tmp/fail.out 2>&1 || rc=$?
    want=3
    [[ $k == 1 ]] && want=1   # nothing done yet: a plain error
    [[ $rc == "$want" ]] || { cat /tmp/fail.out; fail "k=$k: exit $rc, expected $want"; }
    [[ "$(in_ns t ipvsadm -Sn)" == "$start" ]] || { cat /tmp/fail.out; in_ns t ipvsadm -Sn; fail "k=$k: table differs from the start"; }
done
echo "ok: failure injected at each of $changes changes; every time ipvsadm -Sn equals the starting table"
cat /tmp/fail.out
rc=0
in_ns t env LVS_CONVERGE_FAULT=fail-at-change:3 lvs-converge apply -f /tmp/twenty-pruned.yaml --no-rollback >/tmp/fail.out 2>&1 || rc=$?
expect_eq "$rc" 4 "exit code with --no-rollback"
expect_contains "$(cat /tmp/fail.out)" "these 2 change(s) were applied and stay" "--no-rollback report"
expect_ok lvs-converge --netns t apply -f /tmp/twenty-pruned.yaml
expect_ok lvs-converge --netns t plan -f /tmp/twenty-pruned.yaml

step "one apply at a time per namespace"
ino=$(in_ns t stat -L -c %i /proc/self/ns/net)
lockfile=/run/lvs-converge/apply-netns-$ino.lock
hold_lock "$lockfile" 4242 3
rc=0
run_out busy lvs-converge --netns t apply -f /tmp/twenty.yaml --lock-timeout 1 || rc=$?
expect_eq "$rc" 1 "apply while another holds the lock"
expect_contains "$busy" "another lvs-converge apply (pid 4242) is changing this host" "lock message"
expect_ok lvs-converge --netns t apply -f /tmp/twenty.yaml --lock-timeout 10
wait $holder
run_in t ipvsadm -C
( in_ns t lvs-converge apply -f /tmp/twenty.yaml >/tmp/a1.out 2>&1; echo $? >/tmp/a1.rc ) &
( in_ns t lvs-converge apply -f /tmp/twenty-pruned.yaml >/tmp/a2.out 2>&1; echo $? >/tmp/a2.rc ) &
wait
expect_eq "$(cat /tmp/a1.rc) $(cat /tmp/a2.rc)" "0 0" "two concurrent applies both succeed, one after the other"
expect_ok lvs-converge --netns t plan -f /tmp/twenty-pruned.yaml
