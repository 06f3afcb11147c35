# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Foo-over-UDP receive ports converged over the "fou" generic netlink family: opened as
# `ip fou show` lists them, a second apply changes nothing, a port removed out of band is
# planned and opened again, and a port the kernel refuses (its UDP port held by another
# socket, here a vxlan device's: EADDRINUSE) rolls back the port opened before it.
# Seen on Debian's 6.1 kernel: the same port opens once per family (fou's IPv6 socket is
# v6-only), and `ip fou show` marks the IPv6 one `-6`.

topology_single

cat >/tmp/fou.yaml <<-'SPEC'
	apiVersion: lvs-converge/v1
	kind: Host
	fou:
	  - { port: 6080, type: gue }
	  - { port: 6080, type: gue, family: ipv6 }
	  - { port: 5555, type: direct, protocol: 4 }
	SPEC

step "fou is not loaded: the plan loads it, and reading the host did not"
expect_fail grep -qw '^fou' /proc/modules
run_out plan lvs-converge --netns director plan -f /tmp/fou.yaml || true
expect_contains "$plan" "+ kernel module fou" "module load planned"
expect_contains "$plan" "+ fou port 6080 (gue, IPv4)" "GUE port planned"
expect_contains "$plan" "+ fou port 6080 (gue, IPv6)" "IPv6 GUE port planned"
expect_contains "$plan" "+ fou port 5555 (direct protocol 4, IPv4)" "direct port planned"
expect_fail grep -qw '^fou' /proc/modules

step "apply opens the ports as ip fou lists them"
expect_ok lvs-converge --netns director apply -f /tmp/fou.yaml
run_out fou ip -n director fou show
expect_contains "$fou" "port 6080 gue" "GUE port"
expect_contains "$fou" "port 5555 ipproto 4" "direct port"
expect_eq "$(grep -c 'port 6080 gue' <<<"$fou")" 2 "6080 open for IPv4 and IPv6"
expect_eq "$(wc -l <<<"$fou")" 3 "three ports"

step "show reads them back"
run_out json lvs-converge --netns director show --format json
expect_contains "$(tr -d ' \n' <<<"$json")" '"fou":[{"port":5555,"family":"ipv4","type":"direct","protocol":4},{"port":6080,"family":"ipv4","type":"gue"},{"port":6080,"family":"ipv6","type":"gue"}]' "fou section"

step "a second apply changes nothing"
expect_ok lvs-converge --netns director plan -f /tmp/fou.yaml
run_out again lvs-converge --netns director apply -f /tmp/fou.yaml
expect_contains "$again" "nothing was changed" "second apply"
expect_eq "$(ip -n director fou show)" "$fou" "ports unchanged"

step "drift: a port removed out of band is planned and opened again"
run_cmd ip -n director fou del port 6080
rc=0
run_out drift lvs-converge --netns director plan -f /tmp/fou.yaml || rc=$?
expect_eq "$rc" 2 "plan exit code with drift"
expect_contains "$drift" "+ fou port 6080 (gue, IPv4)" "the missing port"
expect_not_contains "$drift" "IPv6)" "the IPv6 port is still there"
expect_ok lvs-converge --netns director apply -f /tmp/fou.yaml
expect_eq "$(ip -n director fou show | sort)" "$(sort <<<"$fou")" "repaired"

step "an undeclared port is reported, not closed"
run_cmd ip -n director fou add port 7000 gue
run_out unmanaged lvs-converge --netns director plan -f /tmp/fou.yaml
expect_contains "$unmanaged" "fou port 7000 (ipv4)" "unmanaged port listed"
run_cmd ip -n director fou del port 7000

step "a port held by another socket is refused and the port opened before it is closed again"
run_cmd ip -n director link add vx0 type vxlan id 42 dstport 7777 dev dummy0
run_cmd ip -n director link set vx0 up
run_in director cat /proc/net/udp
cat >/tmp/fou-more.yaml <<-'SPEC'
	apiVersion: lvs-converge/v1
	kind: Host
	fou:
	  - { port: 6080, type: gue }
	  - { port: 6080, type: gue, family: ipv6 }
	  - { port: 5555, type: direct, protocol: 4 }
	  - { port: 6081, type: gue }
	  - { port: 7777, type: gue }
	SPEC
before=$(ip -n director fou show | sort)
rc=0
json=$(in_ns director lvs-converge apply -f /tmp/fou-more.yaml --format json 2>/tmp/refused.err) || rc=$?
cat /tmp/refused.err
echo "$json"
expect_eq "$rc" 3 "apply exit code: failed and rolled back"
expect_eq "$(jq -r '.failed[0].errno' <<<"$json")" 98 "EADDRINUSE from the kernel"
expect_contains "$(cat /tmp/refused.err) $json" "7777 is already bound by another socket" "the message says why"
expect_eq "$(ip -n director fou show | sort)" "$before" "rolled back: 6081 closed again, the rest as before"
run_out rest lvs-converge --netns director show --format json
expect_not_contains "$(tr -d ' \n' <<<"$rest")" '"port":6081' "show agrees"

step "a lost answer: the port the kernel opened is reported unknown, not refused"
cat >/tmp/fou-lost.yaml <<-'SPEC'
	apiVersion: lvs-converge/v1
	kind: Host
	fou:
	  - { port: 6080, type: gue }
	  - { port: 6080, type: gue, family: ipv6 }
	  - { port: 5555, type: direct, protocol: 4 }
	  - { port: 6082, type: gue }
	SPEC
rc=0
json=$(in_ns director env LVS_CONVERGE_FAULT=fail-at:fou-answer lvs-converge apply -f /tmp/fou-lost.yaml --format json 2>/tmp/lost.err) || rc=$?
cat /tmp/lost.err
echo "$json"
expect_eq "$rc" 4 "apply exit code: partial, the outcome is not known"
expect_eq "$(jq -r '.outcome' <<<"$json")" partial "outcome"
expect_eq "$(jq -r '.failed | length' <<<"$json")" 0 "nothing reported refused"
expect_eq "$(jq -r '[.unknown[] | .subsystem] | join(",")' <<<"$json")" fou "one fou change is unknown"
expect_contains "$(jq -r '.unknown[0].id' <<<"$json")" 6082 "the port whose answer was lost"
expect_contains "$(ip -n director fou show)" "port 6082 gue" "and the kernel did open it"
expect_ok lvs-converge --netns director plan -f /tmp/fou-lost.yaml
run_cmd ip -n director fou del port 6082

step "a port bound to a local address is listed with its binding; declaring its port is refused"
run_cmd ip -n director fou add port 7001 gue local 192.0.2.10
run_cmd ip -n director fou show
run_out bound lvs-converge --netns director plan -f /tmp/fou.yaml
expect_contains "$bound" "fou port 7001 (ipv4) bound to local 192.0.2.10" "bound port listed, the plan is clean"
sed 's/port: 5555, type: direct, protocol: 4/port: 7001, type: gue/' /tmp/fou.yaml >/tmp/fou-7001.yaml
rc=0
in_ns director lvs-converge apply -f /tmp/fou-7001.yaml >/tmp/bound.out 2>&1 || rc=$?
cat /tmp/bound.out
expect_eq "$rc" 1 "apply refuses, nothing changed"
expect_contains "$(cat /tmp/bound.out)" "declares port 7001 (ipv4), which this host has open bound to local 192.0.2.10" "the error says which port and why"
expect_contains "$(ip -n director fou show)" "port 5555 ipproto 4" "5555 untouched"
run_cmd ip -n director fou del port 7001 local 192.0.2.10
