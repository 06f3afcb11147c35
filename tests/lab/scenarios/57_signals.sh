# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 11, finding 8: SIGTERM or SIGINT during a large apply stops it at the next
# operation boundary (between IPVS windows). With rollback the table is back where it
# started (exit 3; 1 if nothing had taken effect yet); with --no-rollback exactly the
# changes the JSON report lists as `stays` are in the kernel (exit 4). Before the fix a
# SIGTERM 2 s into a 4000-service apply left 2816 services without real servers and no
# report. The signals are real, sent from outside as soon as the kernel's table holds a
# given service (so they land while changes are being made); the check is always the
# same: the exit code and the report equal the kernel's table.
SERVICES=3000

ip netns add s
ip -n s link set lo up

step "a spec of $SERVICES services with two real servers each ($((3 * SERVICES)) changes)"
{
    echo "apiVersion: lvs-converge/v1"
    echo "kind: Host"
    echo "ipvs:"
    echo "  drain: false"
    echo "  services:"
    for ((port = 1000; port < 1000 + SERVICES; port++)); do
        echo "    - { address: 192.0.2.1, port: $port, scheduler: rr, realServers: [ { address: 198.51.100.11 }, { address: 198.51.100.12 } ] }"
    done
} >/tmp/big.yaml
expect_ok lvs-converge --netns s apply -f /tmp/big.yaml   # also loads the modules
expect_num "$(in_ns s ipvsadm -Sn | wc -l)" -eq $((3 * SERVICES)) "services and real servers after a whole apply"
in_ns s ipvsadm -C
start=$(ipvs_objects s)

# Sends SIGNAL to `pid` as soon as the service on port NTH (counted from 0) of the spec is
# in the kernel's table (or apply has ended). Asking for one service is much cheaper than
# listing the table, so the signal follows closely.
signal_at_service() {
    local signal=$1 nth=$2
    while kill -0 $pid 2>/dev/null && ! in_ns s ipvsadm -Ln -t 192.0.2.1:$((1000 + nth)) >/dev/null 2>&1; do
        :
    done
    kill -s "$signal" $pid 2>/dev/null || true
}

# Starts apply in the background, sends SIGNAL once the NTH service is in the table, and
# checks that the exit code and the JSON report equal the table. Adds 1 to `stopped` when
# the signal landed while changes were being made (exit 3 or 4).
stopped=0
signal_during_apply() {
    local signal=$1 nth=$2
    shift 2
    local rc=0 after changed stays outcome
    lvs-converge --netns s apply -f /tmp/big.yaml --format json "$@" >/tmp/report.json 2>/tmp/apply.err &
    pid=$!
    signal_at_service "$signal" "$nth"
    wait $pid || rc=$?
    after=$(ipvs_objects s)
    changed=$(changed_objects "$start" "$after")
    outcome=$(jq -r '.outcome // "applied"' /tmp/report.json 2>/dev/null || echo "no report")
    stays=$(jq -r '.stays[]? | "\(.kind) \(.id)"' /tmp/report.json 2>/dev/null | sort -u)
    local label="$signal once service $nth is in ${*:-(rollback)}"
    echo "  $label: exit $rc, outcome $outcome, $(sed '/^$/d' <<<"$changed" | wc -l) object(s) changed, $(sed '/^$/d' <<<"$stays" | wc -l) listed as staying"
    case $rc in
        0)  # finished before the signal came: the whole table, verified
            expect_eq "$(in_ns s ipvsadm -Sn | wc -l)" $((3 * SERVICES)) "$label: a finished apply built the whole table" ;;
        1)  # stopped before anything took effect
            expect_eq "$outcome" untouched "$label: outcome"
            expect_eq "$changed" "" "$label: nothing changed" ;;
        3)
            expect_eq "$outcome" rolled_back "$label: outcome"
            expect_eq "$(jq -r .interrupted /tmp/report.json)" true "$label: the report says it was interrupted"
            expect_eq "$changed" "" "$label: the table is as it was"
            stopped=$((stopped + 1)) ;;
        4)
            expect_eq "$outcome" partial "$label: outcome"
            expect_eq "$(jq -r .interrupted /tmp/report.json)" true "$label: the report says it was interrupted"
            expect_eq "$(jq '.unknown | length' /tmp/report.json)" 0 "$label: no unknown outcome"
            [[ $changed == "$stays" ]] || {
                diff <(echo "$changed") <(echo "$stays") | head -20
                fail "$label: the kernel's changes and the report's 'stays' differ"
            }
            stopped=$((stopped + 1)) ;;
        143 | 130)  # the signal came before apply took over SIGTERM/SIGINT: nothing changed
            expect_eq "$changed" "" "$label: killed before apply began, nothing changed" ;;
        *)
            cat /tmp/apply.err
            fail "$label: exit $rc" ;;
    esac
    in_ns s ipvsadm -C
}

step "SIGTERM at several points of the apply, rollback on: exit 3 and the table as it was"
for nth in 0 700 1500 2300; do
    signal_during_apply TERM $nth
done
expect_num "$stopped" -ge 2 "applies stopped by SIGTERM while changing the table"
tail -n 3 /tmp/apply.err

step "SIGTERM and SIGINT with --no-rollback: exit 4 and 'stays' is exactly what the kernel holds"
stopped=0
for nth in 0 1000 2000; do
    signal_during_apply TERM $nth --no-rollback
done
signal_during_apply INT 1500 --no-rollback
expect_num "$stopped" -ge 2 "applies stopped with --no-rollback while changing the table"
tail -n 3 /tmp/apply.err

step "after a stop the lock is free and the next apply finishes the job"
lvs-converge --netns s apply -f /tmp/big.yaml --no-rollback --format json >/tmp/report.json 2>/dev/null &
pid=$!
signal_at_service TERM 1000
rc=0
wait $pid || rc=$?
expect_eq "$rc" 4 "exit code of the apply stopped for this step"
expect_ok lvs-converge --netns s apply -f /tmp/big.yaml --lock-timeout 1
expect_ok lvs-converge --netns s plan -f /tmp/big.yaml
expect_eq "$(in_ns s ipvsadm -Sn | wc -l)" $((3 * SERVICES)) "services and real servers"
