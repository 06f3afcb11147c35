# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 14, link kinds: gre, sit, ip6tnl and ip6gre tunnels, named and the fallback devices
# (gre0, sit0, ip6tnl0, ip6gre0), converged only by `lvs-converge apply` and checked with
# `ip -d link`: the modules are loaded from the links, named tunnels are created, changed
# in place, rebuilt (another type, a fixed remote taken away) and, after a failed apply,
# rolled back (deleted); the fallbacks are brought up, ip6tnl0's mode set and set back,
# gre0's icsum (requireChecksum) set, cleared and rolled back, and out-of-band drift
# (gre0 down, icsum cleared by hand) is planned and repaired.
SPEC=/tmp/tunnels.yaml
topology_single

converge() {
    run_cmd lvs-converge --netns director apply -f "$SPEC"
    local rc=0
    run_out replan lvs-converge --netns director plan -f "$SPEC" || rc=$?
    expect_eq "$rc" 0 "a second plan after apply: no change"
}
link_of() { in_ns director ip -d link show "$1"; }

step "modules unloaded: only the spec's links bring them"
for module in ip6_gre ip_gre sit ip6_tunnel; do modprobe -r "$module" 2>/dev/null || true; done
run_out mods lsmod
expect_not_contains "$mods" "ip_gre" "ip_gre before apply"

cat >$SPEC <<'YAML'
apiVersion: lvs-converge/v1
kind: Host
links:
  - { name: gre0 }
  - { name: sit0, mtu: 1400 }
  - { name: ip6tnl0, mode: any }
  - { name: ip6gre0 }
  - { name: gre1, type: gre, local: 192.0.2.10, remote: 198.51.100.1, ttl: 64 }
  - { name: sit1, type: sit, remote: 198.51.100.2, pmtudisc: false }
  - { name: t6, type: ip6tnl, local: "2001:db8::10", remote: "2001:db8::1", mode: ipip6 }
  - { name: g6, type: ip6gre, local: "2001:db8::10", remote: "2001:db8::2", hopLimit: 0 }
YAML

step "plan: every module, the fallbacks configured, the named tunnels created"
rc=0
run_out plan lvs-converge --netns director plan -f "$SPEC" || rc=$?
expect_eq "$rc" 2 "plan exit code"
for module in ip_gre sit ip6_tunnel ip6_gre; do
    expect_contains "$plan" "kernel module $module" "module $module planned"
done
expect_contains "$plan" "gre tunnel gre1" "gre1 planned"
expect_contains "$plan" "ip6tnl tunnel t6" "t6 planned"
expect_contains "$plan" "ip6gre tunnel g6" "g6 planned"

step "apply, then ip -d link shows each as declared"
converge
run_out mods lsmod
for module in ip_gre sit ip6_tunnel ip6_gre; do expect_contains "$mods" "$module" "lsmod"; done
run_out l link_of gre0
expect_contains "$l" "UP,LOWER_UP" "gre0 up"; expect_contains "$l" "gre remote any local any" "gre0 is the kernel's"
run_out l link_of sit0
expect_contains "$l" "mtu 1400" "sit0 mtu"; expect_contains "$l" "sit " "sit0 kind"
run_out l link_of ip6tnl0
expect_contains "$l" "ip6tnl any remote any local any" "ip6tnl0 in mode any"
run_out l link_of ip6gre0
expect_contains "$l" "ip6gre remote any local any" "ip6gre0"
expect_contains "$l" "UP,LOWER_UP" "ip6gre0 up"
run_out l link_of gre1
expect_contains "$l" "gre remote 198.51.100.1 local 192.0.2.10 ttl 64" "gre1"
run_out l link_of sit1
expect_contains "$l" "remote 198.51.100.2 local any" "sit1 endpoints"; expect_contains "$l" "nopmtudisc" "sit1 nopmtudisc"
run_out l link_of t6
expect_contains "$l" "ip6tnl ipip6 remote 2001:db8::1 local 2001:db8::10" "t6 in mode ipip6"
expect_contains "$l" "hoplimit 64" "t6 hop limit"
run_out l link_of g6
expect_contains "$l" "ip6gre remote 2001:db8::2 local 2001:db8::10 hoplimit inherit" "g6"

step "show reads every kind back as the model"
run_out json lvs-converge --netns director show --format json
flat=$(tr -d ' \n' <<<"$json")
expect_contains "$flat" '{"name":"ip6tnl0","type":"ip6tnl","hopLimit":0,"mode":"any","up":true' "ip6tnl0 in show"
expect_contains "$flat" '{"name":"sit0","type":"sit","ttl":64,"pmtudisc":false,"up":true,"mtu":1400}' "sit0 in show"
expect_contains "$flat" '{"name":"t6","type":"ip6tnl","local":"2001:db8::10","remote":"2001:db8::1","hopLimit":64,"mode":"ipip6"' "t6 in show"
expect_contains "$flat" '{"name":"gretap0","type":"other","kind":"gretap"' "gretap0 is no gre tunnel"

step "change: endpoints in place, type and fixed/any remote by rebuilding, ip6tnl0 back to ip6ip6"
in_ns director ip addr add 10.9.0.1/30 dev gre1
index_before=$(in_ns director cat /sys/class/net/t6/ifindex)
cat >$SPEC <<'YAML'
apiVersion: lvs-converge/v1
kind: Host
links:
  - { name: gre0 }
  - { name: sit0, mtu: 1400 }
  - { name: ip6tnl0, mode: ip6ip6 }
  - { name: ip6gre0 }
  - { name: gre1, type: ipip, local: 192.0.2.10, remote: 198.51.100.1, ttl: 64 }
  - { name: sit1, type: sit, remote: 198.51.100.3, pmtudisc: false }
  - { name: t6, type: ip6tnl, local: "2001:db8::10", remote: "2001:db8::5", mode: any, hopLimit: 32 }
  - { name: g6, type: ip6gre, local: "2001:db8::10", hopLimit: 0 }
YAML
converge
run_out l link_of ip6tnl0
expect_contains "$l" "ip6tnl ip6ip6 remote any local any" "ip6tnl0 back in mode ip6ip6"
run_out l link_of gre1
expect_contains "$l" "ipip remote 198.51.100.1 local 192.0.2.10 ttl 64" "gre1 rebuilt as ipip"
expect_contains "$(in_ns director ip -br addr show gre1)" "10.9.0.1/30" "gre1's address put back"
run_out l link_of sit1
expect_contains "$l" "remote 198.51.100.3" "sit1 remote changed"
run_out l link_of t6
expect_contains "$l" "ip6tnl any remote 2001:db8::5 local 2001:db8::10" "t6 mode and remote"
expect_contains "$l" "hoplimit 32" "t6 hop limit"
expect_eq "$(in_ns director cat /sys/class/net/t6/ifindex)" "$index_before" "t6 changed in place (same ifindex)"
run_out l link_of g6
expect_contains "$l" "ip6gre remote any local 2001:db8::10" "g6 rebuilt without a remote"

step "drift: gre0 down out of band is planned and repaired"
in_ns director ip link set gre0 down
rc=0
run_out plan lvs-converge --netns director plan -f "$SPEC" || rc=$?
expect_eq "$rc" 2 "plan sees the drift"
expect_contains "$plan" "gre tunnel gre0" "plan names gre0"
converge
expect_contains "$(link_of gre0)" "UP,LOWER_UP" "gre0 up again"

step "gre0 requireChecksum: icsum set by the ioctl, read back, cleared"
sed -i 's/- { name: gre0 }/- { name: gre0, requireChecksum: true }/' "$SPEC"
rc=0
run_out plan lvs-converge --netns director plan -f "$SPEC" || rc=$?
expect_eq "$rc" 2 "plan: gre0 gains icsum"
expect_contains "$plan" "icsum" "the plan names icsum"
converge
run_out l link_of gre0
expect_contains "$l" "icsum" "gre0 has icsum"
expect_contains "$l" "gre remote any local any" "gre0's endpoints stay the kernel's"
expect_contains "$l" "nopmtudisc" "gre0's pmtudisc stays the kernel's"
expect_contains "$l" "UP,LOWER_UP" "gre0 still up"
run_out json lvs-converge --netns director show --format json
expect_contains "$(tr -d ' \n' <<<"$json")" '"name":"gre0","type":"gre","ttl":0,"pmtudisc":false,"requireChecksum":true' "show reads icsum back"
step "drift: icsum cleared by hand is planned and repaired"
# `ip tunnel change gre0 mode gre` keeps icsum: iproute2 starts from the device's flags when
# the name comes first. With the name last it starts from zero flags (and pmtudisc, hence
# nopmtudisc to keep gre0's).
in_ns director ip tunnel change gre0 mode gre
expect_contains "$(link_of gre0)" "icsum" "ip tunnel change gre0 mode gre keeps icsum"
in_ns director ip tunnel change mode gre nopmtudisc gre0
run_out l link_of gre0
expect_not_contains "$l" "icsum" "icsum cleared by hand"
rc=0
run_out plan lvs-converge --netns director plan -f "$SPEC" || rc=$?
expect_eq "$rc" 2 "plan sees icsum missing"
expect_contains "$plan" "icsum" "the plan names icsum"
converge
expect_contains "$(link_of gre0)" "icsum" "icsum back"
step "gre0 requireChecksum cleared by the spec; a failed apply puts icsum back (rollback)"
# icsum is cleared by the ioctl first, then the MTU request fails: the change takes its
# first request back, so nothing was changed (exit 1).
sed -i 's/- { name: gre0, requireChecksum: true }/- { name: gre0, requireChecksum: false, mtu: 1400 }/' "$SPEC"
rc=0
in_ns director env LVS_CONVERGE_FAULT=fail-at:link-set-mtu lvs-converge apply -f "$SPEC" >/tmp/fail.out 2>&1 || rc=$?
cat /tmp/fail.out
expect_eq "$rc" 1 "exit code: failed, nothing changed"
expect_contains "$(cat /tmp/fail.out)" "nothing was changed" "apply says it took the change back"
run_out l link_of gre0
expect_contains "$l" "icsum" "icsum put back after the MTU failed"
expect_not_contains "$l" "mtu 1400" "mtu unchanged"
sed -i 's/- { name: gre0, requireChecksum: false, mtu: 1400 }/- { name: gre0 }/' "$SPEC"
converge
expect_not_contains "$(link_of gre0)" "icsum" "icsum cleared by the spec"

step "a failed apply rolls the new tunnels back (deleted)"
cat >>$SPEC <<'YAML'
  - { name: gre2, type: gre, remote: 198.51.100.9 }
  - { name: t7, type: ip6tnl, remote: "2001:db8::9", mode: any }
sysctls:
  net.ipv4.conf.all.rp_filter: 0
  net.ipv4.conf.gre2.rp_filter: 0
YAML
rc=0
run_out plan lvs-converge --netns director plan -f "$SPEC" || rc=$?
changes=$(grep -o 'Plan: [0-9]* to create, [0-9]* to update, [0-9]* to delete' <<<"$plan" | awk '{ print $2 + $5 + $8 }')
expect_num "$changes" -ge 3 "changes planned"
rc=0
in_ns director env LVS_CONVERGE_FAULT=fail-at-change:"$changes" lvs-converge apply -f "$SPEC" >/tmp/fail.out 2>&1 || rc=$?
cat /tmp/fail.out
expect_eq "$rc" 3 "exit code: failed and rolled back"
expect_fail in_ns director ip link show gre2
expect_fail in_ns director ip link show t7
expect_contains "$(link_of gre1)" "ipip remote 198.51.100.1" "the tunnels of before stay"
converge
expect_contains "$(link_of gre2)" "gre remote 198.51.100.9" "gre2 created by a clean apply"
