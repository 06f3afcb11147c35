# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 7: saved plans. `plan --out FILE` then `apply FILE` makes exactly the reviewed
# changes; if the host changed in between (out-of-band ipvsadm, or the plan's own earlier
# apply) apply refuses, names what drifted and leaves the IPVS table byte-identical. A plan
# made from a `show` snapshot applies only to a host that still matches it. The JSON plan's
# drift summary answers a monitoring job's question without parsing changes.
SPEC=/lab/examples/director-full.yaml
EXPECTED=/lab/expected/director-full.ipvsadm
RS='203.0.113.11:80 of tcp 203.0.113.100:80'

topology_single

ipvs_table() { in_ns director ipvsadm -Sn | sort; }
expected_table() { grep -v '^#' "$EXPECTED" | sort; }
# Runs a command expected to fail with exit 1; keeps its output in $out.
expect_exit_1() {
    local rc=0
    run_out out "$@" || rc=$?
    expect_eq "$rc" 1 "exit code of: $*"
}
# lvs-converge ARGS... (an apply of a stale saved plan) must exit 1, say so, and leave
# ipvsadm -Sn byte-identical; the message stays in $out.
expect_refused_stale() {
    local table
    table=$(in_ns director ipvsadm -Sn)
    expect_exit_1 lvs-converge "$@"
    expect_contains "$out" "is stale" "refused apply"
    expect_contains "$out" "nothing was changed." "refused apply"
    expect_eq "$(in_ns director ipvsadm -Sn)" "$table" "ipvsadm -Sn (byte for byte) after the refused apply"
}

step "plan --out on an empty director, then apply the saved plan (no -f, no --netns: both in the plan)"
rc=0
run_out plan_text lvs-converge --netns director plan -f $SPEC --out /tmp/p1.json || rc=$?
expect_eq "$rc" 2 "plan exit code with changes pending"
expect_contains "$plan_text" "lvs-converge apply /tmp/p1.json" "plan --out says how to apply it"
run_cmd head -c 400 /tmp/p1.json
echo
run_out applied lvs-converge apply /tmp/p1.json
expect_contains "$applied" "Apply complete: 21 created, 1 updated, 0 deleted" "saved plan applied exactly"
expect_eq "$(ipvs_table)" "$(expected_table)" "ipvsadm -Sn after applying the saved plan"
expect_ok lvs-converge --netns director plan -f $SPEC

step "applying the same saved plan twice: refused as stale (the host changed under it: its own apply)"
expect_refused_stale apply /tmp/p1.json
expect_contains "$out" "saved plan /tmp/p1.json is stale: the host changed since the plan was made" "second apply"
expect_contains "$out" "appeared ipvs service tcp 203.0.113.100:80" "second apply names what the first one made"

step "JSON drift summary on a converged host: nothing drifted, every subsystem present"
run_out converged_json lvs-converge --netns director plan -f $SPEC --format json
expect_contains "$converged_json" '"format_version": "1.7"' "JSON format version"
expect_contains "$converged_json" '"drifted": false' "drift summary"
for subsystem in modules links sysctl addresses routes ipvs files; do
    expect_contains "$converged_json" "\"$subsystem\": {" "drift.subsystems"
done

step "a spec change saved as a plan, then out-of-band drift on the same real server"
sed 's/weight: 3 }/weight: 4 }/' $SPEC >/tmp/reweighted.yaml
rc=0
run_out plan_text lvs-converge --netns director plan -f /tmp/reweighted.yaml --out /tmp/p2.json || rc=$?
expect_eq "$rc" 2 "plan exit code for the spec change"
expect_contains "$plan_text" "weight  3 → 4" "saved plan"
run_in director ipvsadm -e -t 203.0.113.100:80 -r 203.0.113.11:80 -i -w 5
run_out drift_json lvs-converge --netns director plan -f $SPEC --format json || true
expect_contains "$drift_json" '"drifted": true' "drift summary after ipvsadm -e"
ipvs_update=$(tr -d ' \n' <<<"$drift_json" | grep -o '"ipvs":{"create":0,"update":1,"delete":0,"unmanaged":0,"draining":0}' || true)
expect_eq "$ipvs_update" '"ipvs":{"create":0,"update":1,"delete":0,"unmanaged":0,"draining":0}' "drift.subsystems.ipvs"

step "apply the now stale plan: refused, the drifted real server named, the table untouched"
expect_refused_stale apply /tmp/p2.json
expect_contains "$out" "changed  ipvs real server $RS: weight 3 → 5" "stale apply names the drift"
expect_contains "$out" "run \`lvs-converge plan -f /tmp/reweighted.yaml --out /tmp/p2.json\` again" "stale apply says the fix"

step "plan again and apply: the spec's weight wins"
rc=0
run_out plan_text lvs-converge --netns director plan -f /tmp/reweighted.yaml --out /tmp/p3.json || rc=$?
expect_eq "$rc" 2 "re-plan exit code"
expect_contains "$plan_text" "weight  5 → 4" "re-plan sees the out-of-band weight"
run_out applied lvs-converge apply /tmp/p3.json
expect_contains "$applied" "Apply complete: 0 created, 1 updated, 0 deleted" "re-planned apply"
expect_eq "$(ipvs_table)" "$(expected_table | sed 's/-r 203.0.113.11:80 -i -w 3/-r 203.0.113.11:80 -i -w 4/')" "ipvsadm -Sn after the re-planned apply"
expect_ok lvs-converge --netns director plan -f /tmp/reweighted.yaml

step "an empty saved plan applies as a no-op, as often as you like"
run_out plan_text lvs-converge --netns director plan -f /tmp/reweighted.yaml --out /tmp/empty.json
for attempt in 1 2; do
    run_out applied lvs-converge apply /tmp/empty.json
    expect_contains "$applied" "No changes." "empty saved plan, apply $attempt"
done

step "a plan made offline from a snapshot applies while the host still matches the snapshot"
lvs-converge --netns director show --format json >/tmp/snapshot.json
rc=0
run_out plan_text lvs-converge plan -f $SPEC --observed /tmp/snapshot.json --out /tmp/offline.json || rc=$?
expect_eq "$rc" 2 "offline plan exit code (weight 4 → 3)"
cp /tmp/offline.json /tmp/offline-later.json
run_in director ipvsadm -A -t 192.0.2.10:443 -s rr
expect_refused_stale --netns director apply /tmp/offline.json
expect_contains "$out" "this host differs from snapshot /tmp/snapshot.json that the plan was made from" "snapshot plan on a changed host"
expect_contains "$out" "appeared ipvs service tcp 192.0.2.10:443" "snapshot plan names the new service"
run_in director ipvsadm -D -t 192.0.2.10:443
run_out applied lvs-converge --netns director apply /tmp/offline-later.json
expect_contains "$applied" "Apply complete: 0 created, 1 updated, 0 deleted" "snapshot plan on the matching host"
expect_eq "$(ipvs_table)" "$(expected_table)" "ipvsadm -Sn after the snapshot plan"

step "a saved plan for another namespace is refused before anything happens"
expect_exit_1 lvs-converge --netns elsewhere apply /tmp/p3.json
expect_contains "$out" "was made with --netns director, but this apply has --netns elsewhere" "namespace mismatch"
