# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 15, slice A1: the hidden check-path services on the real kernel. A spec with
# via-tunnel checks gets one firewall-mark service per tunnel path (ipip and GUE here, none
# for a dr real server), with the path's encapsulation, and accept_local on the director;
# show labels them; a second apply changes nothing; when the checks go, apply deletes them
# without prune and leaves a stranger fwmark service just outside their range alone.
topology_single
export LVS_NS=director

cat >/tmp/checks.yaml <<'YAML'
apiVersion: lvs-converge/v1
kind: Host
ipvs:
  services:
    - address: 203.0.113.100
      port: 80
      scheduler: rr
      healthCheck: { type: http, interval: 2s, timeout: 1s }
      realServers:
        - { address: 192.0.2.21 }
        - { address: 192.0.2.22, tunnel: { type: gue, port: 6080 } }
        - { address: 192.0.2.23, method: dr }
YAML
sed '/healthCheck/d' /tmp/checks.yaml >/tmp/no-checks.yaml

hidden() { in_ns director ipvsadm -Sn | awk '$1 == "-A" && $2 == "-f" && $3 >= 1280704512 && $3 <= 1280770047 { print $3 }' | sort; }

step "validate counts the checks and their paths"
run_out valid lvs-converge validate -f /tmp/checks.yaml
expect_contains "$valid" "3 real server(s), 3 health check(s) (2 hidden check-path service(s))" "validate: the dr real server is checked directly"

step "apply creates one hidden service per tunnel path, with its encapsulation"
run_out applied lvs-converge --netns director apply -f /tmp/checks.yaml
expect_contains "$applied" "+ ipvs health-check path service fwmark " "plan names the hidden services"
expect_contains "$applied" "(from health checks through the tunnel)" "their origin"
run_out marks hidden
expect_eq "$(wc -l <<<"$marks")" 2 "hidden services"
run_out saved in_ns director ipvsadm -Sn
for mark in $marks; do
    expect_contains "$saved" "-a -f $mark -r 192.0.2.2" "the real server of fwmark $mark"
done
run_out shown_json lvs-converge --netns director show --format json
expect_eq "$(jq -c '[.state.ipvs.services[] | select(.hidden) | .destinations[0] | [.address, .port, .tunnel.type // "ipip", .tunnel.port // 0]] | sort' <<<"$shown_json")" \
    '[["192.0.2.21",0,"ipip",0],["192.0.2.22",0,"gue",6080]]' "the hidden services' real servers and encapsulation (read back by show)"
expect_eq "$(in_ns director cat /proc/sys/net/ipv4/conf/all/accept_local)" 1 "accept_local"

step "a second apply changes nothing; show labels the hidden services"
run_out second lvs-converge --netns director apply -f /tmp/checks.yaml
expect_contains "$second" "No changes." "second apply"
run_out shown lvs-converge --netns director show
expect_eq "$(grep -c 'hidden: health checks through the tunnel (lvs-converge agent)' <<<"$shown")" 2 "labels in show"

step "the checks go: apply deletes the hidden services (no prune), a stranger stays"
run_in director ipvsadm -A -f 1280704511 -s rr
rc=0
run_out plan_text lvs-converge --netns director plan -f /tmp/no-checks.yaml || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$plan_text" "- ipvs health-check path service fwmark " "hidden services deleted"
expect_contains "$plan_text" "ipvs service fwmark 1280704511 (ipv4)" "stranger listed as not managed"
expect_ok lvs-converge --netns director apply -f /tmp/no-checks.yaml
expect_eq "$(hidden)" "" "hidden services after the checks went"
expect_contains "$(in_ns director ipvsadm -Sn)" "-A -f 1280704511 -s rr" "the stranger"
expect_ok lvs-converge --netns director plan -f /tmp/no-checks.yaml
