# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 11 (findings 3, 9, 10): a sysctl name never reaches a file outside /proc/sys;
# /run/lvs-converge is used only when it is ours, and nothing planted in it redirects a
# write; applies in two namespaces never write the persistence files at once.
RUN=/run/lvs-converge

for ns in a b; do
    ip netns add $ns
    ip -n $ns link set lo up
done
service_spec() { # FILE VIP [persist]
    {
        echo "apiVersion: lvs-converge/v1"
        echo "kind: Host"
        echo "ipvs:"
        echo "  services:"
        echo "    - { address: $2, port: 80, realServers: [ { address: 192.0.2.11 } ] }"
        if [[ ${3:-} ]]; then
            echo "persist: { sysctl: false, modules: false, network: false, bootUnit: false, ipvs: { path: /etc/ipvsadm-$2.rules } }"
        fi
    } >"$1"
}
service_spec /tmp/a.yaml 203.0.113.1 persist
service_spec /tmp/b.yaml 203.0.113.2
run_cmd cat /tmp/a.yaml

step "a sysctl name that walks out of /proc/sys is refused by validate, plan and apply"
printf 'lvs-converge-secret\n' >/tmp/secret
cat >/tmp/traversal.yaml <<-EOF2
	apiVersion: lvs-converge/v1
	kind: Host
	sysctls:
	  net.ipv4.//.//.//.//.tmp.secret: 0
	EOF2
for command in validate plan apply; do
    rc=0
    run_out out lvs-converge --netns a $command -f /tmp/traversal.yaml || rc=$?
    expect_eq "$rc" 1 "$command exit code"
    expect_contains "$out" "would leave its directory" "$command names the problem"
    expect_not_contains "$out" "lvs-converge-secret" "$command output"
done
expect_eq "$(cat /tmp/secret)" "lvs-converge-secret" "file outside /proc/sys"

step "sysctl names dotted and slashed (a VLAN's dot) are written and read through openat2 beneath /proc/sys"
ip -n a link add d0 type dummy
ip -n a link add link d0 name d0.100 type vlan id 100
cat >/tmp/sysctls.yaml <<-EOF2
	apiVersion: lvs-converge/v1
	kind: Host
	sysctls:
	  net.ipv4.conf.all.arp_ignore: 1
	  net/ipv4/conf/d0.100/rp_filter: 2
	EOF2
expect_ok lvs-converge --netns a apply -f /tmp/sysctls.yaml
expect_eq "$(in_ns a cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/d0.100/rp_filter | tr '\n' ' ')" "1 2 " "sysctls in a"
expect_ok lvs-converge --netns a plan -f /tmp/sysctls.yaml

step "with umask 000, the run directory is created 0700 and the lock file 0600"
rm -rf $RUN
( umask 000; lvs-converge --netns a apply -f /tmp/b.yaml >/dev/null )
ino=$(in_ns a stat -L -c %i /proc/self/ns/net)
expect_eq "$(stat -c '%a %U' $RUN)" "700 root" "run directory mode"
expect_eq "$(stat -c %a $RUN/apply-netns-$ino.lock)" "600" "lock file mode"
run_in a ipvsadm -C

step "a run directory others can write is refused, and nothing is changed"
chmod 1777 $RUN
rc=0
run_out out lvs-converge --netns a apply -f /tmp/b.yaml || rc=$?
expect_eq "$rc" 1 "apply exit code with a 1777 run directory"
expect_contains "$out" "refusing to use $RUN: its mode 1777 lets others write into it" "message"
expect_eq "$(in_ns a ipvsadm -Sn)" "" "IPVS table of a"
chmod 700 $RUN

step "a lock file planted as a symlink is refused, and its target not truncated"
printf 'precious\n' >/tmp/victim
rm -f $RUN/apply-netns-$ino.lock
ln -s /tmp/victim $RUN/apply-netns-$ino.lock
rc=0
run_out out lvs-converge --netns a apply -f /tmp/b.yaml || rc=$?
expect_eq "$rc" 1 "apply exit code with a symlinked lock file"
expect_contains "$out" "is a symbolic link, which lvs-converge never follows here" "message"
expect_eq "$(cat /tmp/victim)" "precious" "symlink target"
expect_eq "$(in_ns a ipvsadm -Sn)" "" "IPVS table of a"
rm $RUN/apply-netns-$ino.lock

step "the host-wide persistence lock: held by another apply, one that writes files waits and fails"
hold_lock $RUN/persistence-files.lock 4343 4
rc=0
run_out busy lvs-converge --netns a apply -f /tmp/a.yaml --lock-timeout 1 || rc=$?
expect_eq "$rc" 1 "apply with persist while another writes the persistence files"
expect_contains "$busy" "another lvs-converge apply (pid 4343) is writing the persistence files" "lock message"
expect_eq "$(in_ns a ipvsadm -Sn)" "" "IPVS table of a"
[[ ! -e /etc/ipvsadm-203.0.113.1.rules ]] || fail "the rules file was written"
# An apply in another namespace that writes no file is not held up.
expect_ok lvs-converge --netns b apply -f /tmp/b.yaml --lock-timeout 1
wait $holder
expect_ok lvs-converge --netns a apply -f /tmp/a.yaml --lock-timeout 1
expect_contains "$(cat /etc/ipvsadm-203.0.113.1.rules)" "203.0.113.1:80" "rules file once the lock is free"
expect_ok lvs-converge --netns a plan -f /tmp/a.yaml
