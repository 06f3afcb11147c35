# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 15: plan, apply and status beside the agent's health verdicts, on the real kernel.
# No agent runs here: the records file is written as the agent writes it, so this proves
# the readers alone (the agent's own scenarios prove the writer). An unhealthy real server
# is drained and stays drained under a manual apply, `show` carries the records, `status`
# exits 2, and expired records hold nothing.
SPEC=/tmp/health.yaml
topology_single
export LVS_NS=director

cat >$SPEC <<'EOF'
apiVersion: lvs-converge/v1
kind: Host
ipvs:
  services:
    - protocol: tcp
      address: 203.0.113.100
      port: 80
      scheduler: wlc
      healthCheck: { type: tcp, via: direct }
      realServers:
        - { address: 198.51.100.21, weight: 5 }
        - { address: 198.51.100.22, weight: 5 }
EOF
weight_of() { in_ns director ipvsadm -Ln -t 203.0.113.100:80 | awk -v rs="$1:80" '$2 == rs { print $4 }'; }
# The records of the director's namespace, valid until NOW+$1 seconds, rs1 as $2.
write_records() {
    local now inode
    now=$(date +%s)
    inode=$(in_ns director stat -L -c %i /proc/self/ns/net)
    mkdir -p -m 0700 /run/lvs-converge
    cat >"/run/lvs-converge/health-netns-$inode.json" <<EOF
{"agent_pid": 4242, "updated_at": $now, "valid_until": $((now + $1)), "servers": [
  {"service": {"protocol": "tcp", "address": "203.0.113.100", "port": 80},
   "destination": {"address": "198.51.100.21", "port": 80},
   "status": "$2", "since": $((now - 100)), "last_check": $now, "last_outcome": "refused", "latency_ms": 3}]}
EOF
    chmod 0600 "/run/lvs-converge/health-netns-$inode.json"
}

step "no agent: apply gives the spec's weights; status says no agent runs (exit 0)"
expect_ok lvs-converge --netns director apply -f $SPEC
expect_eq "$(weight_of 198.51.100.21) $(weight_of 198.51.100.22)" "5 5" "weights without an agent"
run_out none lvs-converge --netns director status
expect_contains "$none" "No agent is running in this namespace" "status without an agent"

step "the agent's records say rs1 is unhealthy: plan drains it (the table still has 5)"
write_records 300 unhealthy
rc=0
run_out plan_text lvs-converge --netns director plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code: the drain is still to be made"
expect_contains "$plan_text" "weight  5 → 0" "plan"
expect_contains "$plan_text" "real server 198.51.100.21:80 of tcp 203.0.113.100:80: unhealthy for 1m" "hold (ages count from the records' since)"
expect_contains "$plan_text" "s, drained (weight 0)" "hold"
expect_ok lvs-converge --netns director apply -f $SPEC
expect_eq "$(weight_of 198.51.100.21) $(weight_of 198.51.100.22)" "0 5" "weights after apply beside the verdict"

step "a manual apply while rs1 is unhealthy restores nothing; plan exits 0 with the hold"
run_out again lvs-converge --netns director apply -f $SPEC
expect_contains "$again" "No changes." "second apply"
expect_contains "$again" "Held by health checks" "second apply lists the hold"
expect_eq "$(weight_of 198.51.100.21)" "0" "rs1 weight after a manual apply"
run_out held_json lvs-converge --netns director plan -f $SPEC --format json
expect_eq "$(jq -c '[.changes, (.health_holds[] | [.real_server, .effect, .weight])]' <<<"$held_json")" \
    '[false,["198.51.100.21:80","drained",0]]' "plan JSON: no changes, one hold"

step "status shows the verdict and exits 2; show carries the records"
rc=0
run_out status_text lvs-converge --netns director status -f $SPEC || rc=$?
expect_eq "$rc" 2 "status exit code with an unhealthy real server"
expect_contains "$status_text" "198.51.100.21:80 of tcp 203.0.113.100:80: unhealthy for 1m" "status"
expect_contains "$status_text" "s ago: connection refused in 3 ms; held drained (weight 0)" "status"
run_out snapshot lvs-converge --netns director show --format json
expect_eq "$(jq -c '[.state.ipvs.health.agent_pid, .state.ipvs.health.servers[0].status]' <<<"$snapshot")" '[4242,"unhealthy"]' "snapshot records"

step "rs1 healthy again: plan and apply restore its weight"
write_records 300 healthy
rc=0
run_out healed lvs-converge --netns director plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code once healthy"
expect_contains "$healed" "weight  0 → 5" "plan restores"
expect_ok lvs-converge --netns director apply -f $SPEC
expect_eq "$(weight_of 198.51.100.21)" "5" "rs1 weight once healthy"

step "expired records (the agent is gone) hold nothing"
write_records 300 unhealthy
expect_ok lvs-converge --netns director apply -f $SPEC
expect_eq "$(weight_of 198.51.100.21)" "0" "drained again"
write_records -1 unhealthy
run_out gone lvs-converge --netns director status
expect_contains "$gone" "No agent is running in this namespace: the health records of pid 4242 expired" "status of expired records"
rc=0
run_out restored lvs-converge --netns director plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code with expired records"
expect_contains "$restored" "weight  0 → 5" "expired records hold nothing"
rm -f /run/lvs-converge/health-netns-*.json
