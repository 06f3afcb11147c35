# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 14: `apply -f` of a Cluster director names the nodes to converge first exactly as
# `plan` does (text line and JSON `first_converge`): a new ipip destination, then the same
# destination switched to GUE in place, then nothing to converge first once converged.
IPIP=/tmp/first-ipip.yaml
GUE=/tmp/first-gue.yaml
cluster() {
    cat <<-YAML
	apiVersion: lvs-converge/v1
	kind: Cluster
	ipvs:
	  services:
	    - address: 192.0.2.100
	      port: 80
	      realServers:
	        - { node: rs1$1 }
	nodes:
	  - { name: director, address: 192.0.2.10, role: director, vipInterface: dummy0 }
	  - { name: rs1, address: 192.0.2.11, role: real-server }
	YAML
}
cluster "" >$IPIP
cluster ", tunnel: { type: gue, port: 6080 }" >$GUE

topology_single
export LVS_NS=director

step "a new tunnel destination: apply says which node to converge first, as plan does"
run_out planned lvs-converge --netns director plan --node director -f $IPIP || true
expect_contains "$planned" "Converge node rs1 first: it must receive ipip before this director sends it." "plan"
run_out applied lvs-converge --netns director apply --node director -f $IPIP
expect_contains "$applied" "Converge node rs1 first: it must receive ipip before this director sends it." "apply text"

step "switched to GUE in place: apply's JSON names rs1 and gue:6080"
rc=0
json=$(in_ns director lvs-converge apply --node director -f $GUE --format json) || rc=$?
echo "$json"
expect_eq "$rc" 0 "apply exit code"
expect_eq "$(jq -c '.first_converge' <<<"$json")" '[{"node":"rs1","receives":"gue:6080","inner":"ipv4"}]' "first_converge"
expect_eq "$(jq -r '[.resource_changes[] | select(.id | startswith("192.0.2.11:80 ")) | .action] | join(",")' <<<"$json")" update "one in-place update"

step "converged: nothing to converge first"
run_out again lvs-converge --netns director apply --node director -f $GUE --format json
expect_eq "$(jq -c '.first_converge' <<<"$again")" '[]' "first_converge after convergence"
