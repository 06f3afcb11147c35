# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 15: the seed cluster's director run by `lvs-converge agent` with http checks through
# the tunnel, under a steady stream of new client connections. Each check here can fail:
# - rs1's web server stopped: drained within interval x fall (+ one converge), zero failed
#   requests from then on; started again: weight back after rise. Printed: detection time,
#   failed requests before and after detection.
# - `plan`/`apply` by hand while rs1 is unhealthy: no change, the weight stays 0.
# - rs2 without its VIP on lo: its tunnel-path check fails, a `via: direct` check passes.
# - `ipvsadm -d` out of band repaired within one converge interval; SIGHUP applies a changed
#   spec, keeps the old one on an invalid spec; SIGTERM leaves the table as it is.
# - /metrics and `status` say what the kernel says; every log line is one JSON object.
# Kernel state is read with ipvsadm, never through lvs-converge.
VIP=203.0.113.100
RS1=203.0.113.11:80
RS2=198.51.100.22:80
WEB="-t $VIP:80"
DIRECT="-t $VIP:8080"
INTERVAL=4          # converge interval (s)
CHECK_INTERVAL=1 FALL=2 RISE=2
SLACK=4             # TCG: one converge run, ipvsadm polls and scheduling noise (s)
METRICS=127.0.0.1:9469
SPEC=/tmp/agent.yaml

# agent_spec [RS2_WEIGHT] [EXTRA_SERVICE_KEY]: the seed cluster with checks. Port 8080 holds
# rs2 alone with a direct check (to 198.51.100.22:80), beside port 80's tunnel checks.
agent_spec() {
    local rs2_weight=${1:-1} extra=${2:-}
    cat <<-EOF
	apiVersion: lvs-converge/v1
	kind: Cluster
	ipvs:
	  services:
	    - protocol: tcp
	      address: $VIP
	      port: 80
	      scheduler: rr
	      $extra
	      healthCheck: { type: http, path: /, interval: ${CHECK_INTERVAL}s, timeout: 800ms, rise: $RISE, fall: $FALL }
	      realServers:
	        - node: rs1
	        - { node: rs2, weight: $rs2_weight }
	    - protocol: tcp
	      address: $VIP
	      port: 8080
	      scheduler: rr
	      healthCheck: { type: http, port: 80, path: /, interval: ${CHECK_INTERVAL}s, timeout: 800ms, rise: $RISE, fall: $FALL, via: direct }
	      realServers:
	        - node: rs2
	nodes:
	  - { name: director, role: director, address: 203.0.113.10, vipInterface: eth0:0 }
	  - { name: rs1, role: real-server, address: 203.0.113.11 }
	  - { name: rs2, role: real-server, address: 198.51.100.22 }
	EOF
}

scrape() { in_ns director timeout 3 busybox wget -q -O- "http://$METRICS/metrics"; }

# metric_value TEXT NAME WORD: the value of the first sample of NAME whose labels hold WORD
metric_value() {
    awk -v n="$2" -v w="$3" 'index($0, n "{") == 1 && index($0, w) { print $NF; exit }' <<<"$1"
}

agent_alive() { kill -0 "$agent" 2>/dev/null; }

# agent_fail MSG: the agent's last log lines and the traffic's, then fail
agent_fail() {
    echo "--- agent log (last 15 lines)"
    tail -n 15 /tmp/agent.log
    [[ ! -e /tmp/traffic.log ]] || { echo "--- traffic (last 10 requests)"; tail -n 10 /tmp/traffic.log; }
    fail "$*"
}

# weight_is SERVICE RS WEIGHT (for wait_secs: the weight is read on every try)
weight_is() { [[ $(ipvs_weight director "$1" "$2") == "$3" ]]; }

topology_cluster
start_web rs1
start_web rs2
agent_spec >$SPEC

step "real servers converged by hand; the director only by the agent"
expect_ok lvs-converge --netns rs1 apply -f $SPEC --node rs1
expect_ok lvs-converge --netns rs2 apply -f $SPEC --node rs2
echo "[director]\$ lvs-converge agent -f $SPEC --node director --interval ${INTERVAL}s --metrics $METRICS --log-format json &"
lvs-converge --netns director agent -f $SPEC --node director --interval ${INTERVAL}s \
    --metrics $METRICS --log-format json >/tmp/agent.log 2>&1 &
agent=$!
t0=$(uptime_s)
wait_secs 30 eval 'weight_is "$WEB" $RS1 1 && weight_is "$WEB" $RS2 1' ||
    { cat /tmp/agent.log; fail "the agent did not converge the director within 30 s"; }
echo "first converge after $(elapsed_since "$t0") s"
agent_alive || fail "agent exited: $(cat /tmp/agent.log)"

step "hidden check-path services: one fwmark service per tunnel path, owned, not strangers"
run_out table in_ns director ipvsadm -Sn
# fwmarks 0x4C560000-0x4C56FFFF are the agent's
hidden=$(awk '$1 == "-A" && $2 == "-f" && $3 >= 1280704512 && $3 <= 1280770047 { print $3 }' <<<"$table" | sort)
expect_eq "$(wc -w <<<"$hidden")" 2 "hidden fwmark services (rs1's and rs2's tunnel paths; port 8080's check is direct)"
for m in $hidden; do
    expect_eq "$(grep -c -- "^-a -f $m " <<<"$table")" 1 "real servers of hidden service $m"
done
expect_contains "$table" "-r 203.0.113.11:0 -i -w 1" "rs1's check path"
expect_contains "$table" "-r 198.51.100.22:0 -i -w 1" "rs2's check path"
expect_eq "$(in_ns director cat /proc/sys/net/ipv4/conf/all/accept_local)" 1 "director accepts the checks' replies (accept_local)"
# exit 0: the hidden services and the sysctl are desired, not strangers or drift
expect_ok lvs-converge --netns director plan -f $SPEC --node director

step "a client namespace sends a steady stream of new connections to http://$VIP/"
cat >/tmp/traffic.sh <<'EOF'
# one line per request: "<uptime at start> ok <body>" or "<uptime> FAIL"
while [ ! -e /tmp/traffic.stop ]; do
    t=$(cut -d' ' -f1 /proc/uptime)
    if body=$(timeout 2 busybox wget -q -O- http://203.0.113.100/ 2>/dev/null); then echo "$t ok $body"; else echo "$t FAIL"; fi
    sleep 0.05
done
EOF
rm -f /tmp/traffic.stop
in_ns client bash /tmp/traffic.sh >/tmp/traffic.log 2>&1 &
traffic=$!
sleep 3
run_cmd tail -n 4 /tmp/traffic.log
# requests (started in [FROM, TO)) that failed / succeeded / were answered by WHO
count() { awk -v a="$1" -v b="$2" -v what="$3" '$1 >= a && $1 < b && ($2 == what || $3 == what)' /tmp/traffic.log | wc -l; }
expect_eq "$(count 0 99999 FAIL)" 0 "failed requests before anything broke"
# a healthy real server's checks must not fail while the agent sets up their paths
expect_eq "$(jq -r 'select(.event == "health" and .to == "unhealthy") | .real_server' /tmp/agent.log | sort -u | xargs)" "" \
    "real servers found unhealthy before anything broke"
expect_num "$(count 0 99999 rs1)" -gt 0 "answers from rs1"
expect_num "$(count 0 99999 rs2)" -gt 0 "answers from rs2"

step "rs1's web server stops: drained within interval x fall"
pids=$(ns_pids rs1 httpd)
[[ -n $pids ]] || fail "no httpd in rs1"
t_stop=$(uptime_s)
run_cmd kill $pids
wait_secs 30 weight_is "$WEB" $RS1 0 || agent_fail "rs1 never drained"
t_drained=$(uptime_s)
detection=$(elapsed_since "$t_stop")
run_in director ipvsadm -Ln -t $VIP:80
expect_eq "$(ipvs_weight director "$WEB" $RS2)" 1 "rs2 keeps its weight"
sleep 5
t_end=$(uptime_s)
failed_before=$(count "$t_stop" "$t_drained" FAIL)
failed_after=$(count "$t_drained" "$t_end" FAIL)
served_after=$(count "$t_drained" "$t_end" ok)
echo "DETECTION: rs1 stopped at ${t_stop}s, drained at ${t_drained}s: detection time ${detection} s (interval ${CHECK_INTERVAL}s x fall $FALL)"
echo "DETECTION: failed requests before detection: $failed_before; after detection: $failed_after (of $((failed_after + served_after)) in $(elapsed_since "$t_drained") s)"
run_cmd grep -e '"event":"health"' -e '"trigger":"health"' /tmp/agent.log
expect_secs "$detection" -le $((CHECK_INTERVAL * FALL + SLACK)) "detection time (interval x fall + one converge)"
expect_num "$failed_before" -gt 0 "the stream saw rs1's outage before detection (the check can see it too)"
expect_eq "$failed_after" 0 "failed requests after detection"
expect_num "$served_after" -gt 0 "requests served after detection"

step "plan and apply by hand while rs1 is unhealthy: health is not drift"
rc=0
run_out plan_held lvs-converge --netns director plan -f $SPEC --node director || rc=$?
expect_eq "$rc" 0 "plan exit code (a health hold is no change)"
expect_contains "$plan_held" "Held by health checks" "plan reports the hold"
expect_contains "$plan_held" "203.0.113.11" "plan names rs1 as held"
expect_ok lvs-converge --netns director apply -f $SPEC --node director
expect_eq "$(ipvs_weight director "$WEB" $RS1)" 0 "rs1's weight after apply by hand"
rc=0
run_out plan_json lvs-converge --netns director plan -f $SPEC --node director --format json || rc=$?
expect_eq "$(jq '.health_holds | length' <<<"$plan_json")" 1 "health_holds in plan's JSON"

step "status and metrics while rs1 is unhealthy"
rc=0
run_out status lvs-converge --netns director status || rc=$?
expect_eq "$rc" 2 "status exit code (a real server is unhealthy)"
expect_contains "$(grep 203.0.113.11 <<<"$status" || true)" "unhealthy" "status: rs1"
rc=0
run_out status_spec lvs-converge --netns director status -f $SPEC --node director || rc=$?
expect_eq "$rc" 2 "status -f exit code"
expect_contains "$(grep 203.0.113.11 <<<"$status_spec" || true)" "held drained" "status -f: rs1's hold"
expect_contains "$(grep '198.51.100.22:80 ' <<<"$status" || true)" "healthy" "status: rs2"
expect_not_contains "$(grep 198.51.100.22 <<<"$status" || true)" "unhealthy" "status: rs2"
rc=0
run_out status_json lvs-converge --netns director status --format json || rc=$?
expect_eq "$rc" 2 "status --format json exit code"
expect_eq "$(jq -r '.agent_running' <<<"$status_json")" true "status JSON: agent_running"
expect_eq "$(jq -r '.real_servers[] | select(.real_server == "203.0.113.11:80") | .health' <<<"$status_json")" unhealthy "status JSON: rs1"
expect_eq "$(jq -r '[.real_servers[] | select(.real_server | startswith("198.51.100.22")) | .health] | unique | join(",")' <<<"$status_json")" healthy "status JSON: rs2 (both services)"
run_out metrics scrape
expect_eq "$(metric_value "$metrics" lvs_converge_real_server_healthy 203.0.113.11)" 0 "metric: rs1 healthy"
expect_eq "$(metric_value "$metrics" lvs_converge_real_server_healthy 198.51.100.22)" 1 "metric: rs2 healthy"
expect_contains "$metrics" "lvs_converge_check_duration_seconds_bucket{" "metric: check latency histogram"
for stage in observe plan apply; do
    expect_contains "$metrics" "lvs_converge_stage_duration_seconds" "metric: stage durations"
    expect_contains "$(grep '^lvs_converge_stage_duration_seconds' <<<"$metrics")" "stage=\"$stage\"" "metric: stage $stage"
done
runs=$(grep '^lvs_converge_converge_runs_total{' <<<"$metrics" | awk '{ s += $NF } END { print s + 0 }')
expect_num "$runs" -ge 2 "metric: converge runs (the first and the one rs1's fall triggered)"

step "rs1's web server starts again: weight back after rise"
t_start=$(uptime_s)
start_web rs1
wait_secs 30 weight_is "$WEB" $RS1 1 || agent_fail "rs1 never restored"
restore=$(elapsed_since "$t_start")
t_restored=$(uptime_s)
echo "RESTORE: rs1 back at weight 1 after $restore s (interval ${CHECK_INTERVAL}s x rise $RISE)"
expect_secs "$restore" -le $((CHECK_INTERVAL * RISE + SLACK)) "restore time (interval x rise + one converge)"
sleep 3
touch /tmp/traffic.stop
wait $traffic || true
expect_num "$(count "$t_restored" 99999 rs1)" -gt 0 "rs1 serves again"
expect_eq "$(count "$t_restored" 99999 FAIL)" 0 "failed requests after the restore"
echo "TRAFFIC: $(grep -c . /tmp/traffic.log) requests, $(count 0 99999 FAIL) failed in all"

step "rs2 loses its VIP on lo: the tunnel-path check fails, the direct check passes"
run_in rs2 ip addr del $VIP/32 dev lo
wait_secs 30 weight_is "$WEB" $RS2 0 || agent_fail "rs2 (tunnel check) never drained"
sleep $((CHECK_INTERVAL * (FALL + 1)))
expect_eq "$(ipvs_weight director "$WEB" $RS2)" 0 "rs2 behind port 80 (tunnel-path check)"
expect_eq "$(ipvs_weight director "$DIRECT" 198.51.100.22:8080)" 1 "rs2 behind port 8080 (via: direct check)"
expect_eq "$(HTTP_WAIT=1 http_get director 198.51.100.22)" rs2 "rs2's own address still answers HTTP"
run_out metrics scrape
expect_eq "$(metric_value "$metrics" lvs_converge_real_server_healthy '198.51.100.22:80"')" 0 "metric: rs2 behind port 80"
expect_eq "$(metric_value "$metrics" lvs_converge_real_server_healthy '8080')" 1 "metric: rs2 behind port 8080"
expect_ok lvs-converge --netns rs2 apply -f $SPEC --node rs2
wait_secs 30 weight_is "$WEB" $RS2 1 || fail "rs2 never restored"

step "ipvsadm -d of a real server out of band: repaired within one interval"
drift_repaired() { scrape | awk '/^lvs_converge_drift_repaired_total/ { s += $NF } END { print s + 0 }'; }
repaired_before=$(drift_repaired)
run_in director ipvsadm -d $WEB -r $RS2
t_deleted=$(uptime_s)
wait_secs 30 weight_is "$WEB" $RS2 1 || fail "rs2 never put back"
repair=$(elapsed_since "$t_deleted")
echo "REPAIR: rs2 back after $repair s (converge interval ${INTERVAL}s +-10%)"
expect_secs "$repair" -le "$(awk -v i=$INTERVAL 'BEGIN { print i * 1.1 + 2 }')" "repair time"
expect_eq "$(drift_repaired)" $((repaired_before + 1)) "metric: drift repaired (one more)"

step "SIGHUP with a changed spec (rs2 weight 3) is applied"
agent_spec 3 >$SPEC
run_cmd kill -HUP $agent
wait_secs 30 weight_is "$WEB" $RS2 3 || fail "the changed spec was not applied"
expect_eq "$(ipvs_weight director "$WEB" $RS1)" 1 "rs1 untouched by the reload"

step "SIGHUP with an invalid spec keeps the old one running"
agent_spec 3 "flavour: vanilla" >$SPEC
expect_fail lvs-converge validate -f $SPEC
lines_before=$(wc -l </tmp/agent.log)
run_cmd kill -HUP $agent
sleep 2
agent_alive || fail "agent exited on an invalid spec: $(tail -5 /tmp/agent.log)"
new_lines=$(tail -n +$((lines_before + 1)) /tmp/agent.log)
echo "$new_lines"
expect_contains "$new_lines" "flavour" "the agent logs what is wrong with the new spec"
run_in director ipvsadm -e $WEB -r $RS2 -i -w 1
wait_secs 30 weight_is "$WEB" $RS2 3 || fail "the old spec is no longer enforced"
echo "ok: the old spec (rs2 weight 3) still enforced after the invalid reload"

step "every log line is one JSON object"
jq -c . /tmp/agent.log >/dev/null || fail "a log line is not JSON: $(head -20 /tmp/agent.log)"
expect_num "$(grep -c . /tmp/agent.log)" -gt 3 "log lines"
expect_contains "$(grep 203.0.113.11 /tmp/agent.log || true)" "unhealthy" "a log line for rs1's fall"

step "SIGTERM leaves the IPVS table as it is"
before=$(in_ns director ipvsadm -Sn)
run_cmd kill -TERM $agent
rc=0
wait $agent || rc=$?
expect_eq "$rc" 0 "agent exit code on SIGTERM"
expect_eq "$(in_ns director ipvsadm -Sn)" "$before" "IPVS table after SIGTERM"
tail -3 /tmp/agent.log
# The records outlive a stopped agent on purpose (a restart under systemd must not flap
# weights): status must say the agent exited, not that it runs.
run_out stopped_status lvs-converge --netns director status --format json || true
expect_eq "$(jq -r '[.agent_running, .agent_exited] | @tsv' <<<"$stopped_status")" "$(printf 'false\ttrue')" "status after SIGTERM: agent not running, exited"
expect_contains "$(lvs-converge --netns director status || true)" "The agent has exited" "status text after SIGTERM"
run_cmd lvs-converge --netns director status
