# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 11, finding 1: the kernel carries on with a pipelined IPVS window after refusing
# one operation, so what apply reports must come from every operation's answer. Here the
# kernel really refuses the change at every position k of a mixed window (the
# `refuse-at-change` fault sends it as an update of a real server that does not exist, or
# timeouts out of range: EINVAL), with and without rollback; each time the exit code and
# the JSON report (`stays`, `failed`) must equal the difference between the table before
# and after. Last, a natural refusal: a real server the plan updates is deleted out of band
# just before the batch is sent.

ip netns add b
ip -n b link set lo up

step "a base table and a target that needs a mixed window of IPVS operations"
cat >/tmp/base.yaml <<-EOF2
	apiVersion: lvs-converge/v1
	kind: Host
	ipvs:
	  drain: false
	  timeouts: { tcp: 900s, tcpFin: 120s, udp: 300s }
	  services:
	    - { address: 192.0.2.1, port: 80, scheduler: rr, realServers: [
	        { address: 198.51.100.11, weight: 1 }, { address: 198.51.100.12, weight: 1 },
	        { address: 198.51.100.13, weight: 1 } ] }
	    - { address: 192.0.2.2, port: 80, scheduler: rr, realServers: [
	        { address: 198.51.100.21, weight: 1 }, { address: 198.51.100.22, weight: 1 } ] }
	EOF2
# Timeouts, a new service with two real servers, a scheduler change, a new real server,
# two re-weights and a removed real server.
cat >/tmp/target.yaml <<-EOF2
	apiVersion: lvs-converge/v1
	kind: Host
	ipvs:
	  drain: false
	  timeouts: { tcp: 1000s, tcpFin: 100s, udp: 200s }
	  services:
	    - { address: 192.0.2.1, port: 80, scheduler: wlc, realServers: [
	        { address: 198.51.100.11, weight: 5 }, { address: 198.51.100.13, weight: 1 },
	        { address: 198.51.100.14, weight: 2 } ] }
	    - { address: 192.0.2.2, port: 80, scheduler: rr, realServers: [
	        { address: 198.51.100.21, weight: 3 }, { address: 198.51.100.22, weight: 1 } ] }
	    - { address: 192.0.2.3, port: 80, scheduler: rr, realServers: [
	        { address: 198.51.100.31, weight: 1 }, { address: 198.51.100.32, weight: 1 } ] }
	EOF2
expect_ok lvs-converge --netns b apply -f /tmp/base.yaml
modprobe ip_vs_wlc   # the target's scheduler: the window is then IPVS changes only
# One ipvsadm -R per reset (each exec costs ~0.1 s under TCG): clear, restore, timeouts.
{ echo -C; in_ns b ipvsadm -Sn; echo --set 900 120 300; } >/tmp/base.rules
run_cmd cat /tmp/base.rules
run_out target_plan lvs-converge --netns b plan -f /tmp/target.yaml --format json || true
total=$(jq '.resource_changes | length' <<<"$target_plan")
jq -r '.resource_changes[] | "\(.order) \(.action) \(.kind) \(.id)"' <<<"$target_plan"
expect_num "$total" -ge 9 "changes in the mixed window"

reset_table() {
    in_ns b ipvsadm -R </tmp/base.rules
}

snapshot() { ipvs_objects b; }

# The values of one field of `report` (lines "field<TAB>value"), sorted, unique.
field() {
    awk -F'\t' -v k="$1" '$1 == k { sub(/ $/, "", $2); print $2 }' <<<"$report" | sort -u
}

# Runs apply (with LVS_CONVERGE_FAULT=$1, extra flags after it) from `before` and checks
# its report against the table. Sets `json`, `rc`, `report`, `outcome`, `first`, `summary`.
check_case() {
    local fault=$1 label=$2 before=$3
    shift 3
    rc=0 outcome= first= summary=
    json=$(in_ns b env LVS_CONVERGE_FAULT="$fault" lvs-converge apply -f /tmp/target.yaml --format json "$@" 2>/tmp/apply.err) || rc=$?
    local after changed stays failed unknown want_rc
    after=$(snapshot)
    changed=$(changed_objects "$before" "$after")
    # One jq: "stays<TAB>id" and "failed<TAB>id" lines, then the outcome and the count of
    # unknown changes; sets `outcome` and `summary` for the caller too.
    report=$(jq -r '(.stays[] | "stays\t\(.kind) \(.id)"), (.failed[] | "failed\t\(.kind) \(.id)"),
        "outcome\t\(.outcome)", "unknown\t\(.unknown | length)", "first\t\(.failed[0].order)",
        "summary\t\([.failed[] | "#\(.order) errno \(.errno)"] | join(", ")), \(.stays | length) stay"' <<<"$json")
    stays=$(field stays)
    failed=$(field failed)
    unknown=$(field unknown)
    outcome=$(field outcome)
    first=$(field first)
    summary=$(field summary)
    case $outcome in rolled_back) want_rc=3 ;; partial) want_rc=4 ;; *) want_rc=1 ;; esac
    local why=
    [[ $rc == "$want_rc" ]] || why="exit $rc for outcome $outcome"
    [[ $changed == "$stays" ]] || why="$why; the table changed in [$changed], the report says [$stays] stay"
    [[ -z $(printf '%s\n%s\n' "$changed" "$failed" | sed '/^$/d' | sort | uniq -d) ]] || why="$why; a failed change took effect"
    [[ $unknown == 0 ]] || why="$why; $unknown unknown outcome(s)"
    if [[ -n $why ]]; then
        cat /tmp/apply.err
        fail "$label: ${why#; }"
    fi
}

sweep() {
    local label=$1 want_outcome=$2 want_rc=$3
    shift 3
    local k before
    for k in $(seq 1 "$total"); do
        reset_table
        before=$(snapshot)
        check_case "refuse-at-change:$k" "$label k=$k" "$before" "$@"
        [[ $first == "$k" ]] || { cat /tmp/apply.err; fail "$label k=$k: first failed change is #$first"; }
        [[ $outcome == "$want_outcome" && $rc == "$want_rc" ]] ||
            { cat /tmp/apply.err; fail "$label k=$k: outcome $outcome, exit $rc"; }
        echo "  k=$k: exit $rc, failed $summary"
    done
}

step "refusal at every position of the window, rollback on: exit 3 and the table is as it was"
sweep "rollback" rolled_back 3
cat /tmp/apply.err

step "refusal at every position, --no-rollback: exit 4 and 'stays' is exactly what changed"
sweep "no-rollback" partial 4 --no-rollback
cat /tmp/apply.err

step "a natural refusal: real server 198.51.100.21 is deleted out of band just before the batch"
for flags in "" "--no-rollback"; do
    reset_table
    # What the table is when the batch is sent: the base without that real server.
    before=$(snapshot | grep -v '198.51.100.21:80 of tcp 192.0.2.2:80')
    # shellcheck disable=SC2086  # flags is one optional word
    check_case "run-before-ipvs:ipvsadm -d -t 192.0.2.2:80 -r 198.51.100.21:80" "out of band ${flags:-rollback}" "$before" $flags
    run_cmd jq -c '{outcome, failed: [.failed[] | {order, id, errno}], stays: [.stays[].id]}' <<<"$json"
    expect_eq "$(jq -r '[.failed[] | "\(.id) errno \(.errno)"] | join(",")' <<<"$json")" \
        "198.51.100.21:80 of tcp 192.0.2.2:80 errno 2" "the update of the vanished real server failed with ENOENT"
    expect_eq "$(jq -r '.failed[0].operation' <<<"$json")" \
        "updating real server 198.51.100.21:80 of service tcp 192.0.2.2:80" "the report names the refused request"
done
expect_eq "$rc" 4 "exit code with --no-rollback"
cat /tmp/apply.err
