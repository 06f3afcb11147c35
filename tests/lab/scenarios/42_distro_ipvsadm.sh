# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 18 (persistence that fits the distro): on a host with Debian's ipvsadm package
# (its /etc/ipvsadm.rules stub, /etc/default/ipvsadm with AUTO="false", its init script),
# lvs-converge replaces the stub without --take-over and sets AUTO="true" alone; the rules
# it writes are accepted by plain `ipvsadm -R` and by the package's own boot path
# (`/etc/init.d/ipvsadm start`), both giving back the converged `ipvsadm -Sn`. Also what
# ipvsadm itself refuses (-p 0 or above 31 days, a `#` line), which the spec's ranges and
# the import mirror.
VIP=192.0.2.100
SPEC=/tmp/debian-director.yaml
cat >$SPEC <<YAML
apiVersion: lvs-converge/v1
kind: Host
role: director
vipInterface: dummy0
ipvs:
  timeouts: { tcp: 15m, tcpFin: 2m, udp: 5m }
  services:
    - address: $VIP
      port: 80
      scheduler: wrr
      persistence: { timeout: 31d, netmask: 24 }
      realServers:
        - { address: 192.0.2.11, weight: 65535 }
        - { address: 192.0.2.12, weight: 0, upperThreshold: 2147483647 }
persist:
  sysctl: false
  modules: false
  network: false
  bootUnit: false
YAML

topology_single
run_cmd modprobe ip_vs

step "install Debian's ipvsadm package files as the package left them"
pkg=/lab/debian-ipvsadm
mkdir -p /etc/init.d /etc/default /lib
cp -a $pkg/etc/init.d/ipvsadm /etc/init.d/ipvsadm
cp -a $pkg/etc/default/ipvsadm /etc/default/ipvsadm
cp -a $pkg/etc/ipvsadm.rules /etc/ipvsadm.rules
cp -a $pkg/lib/lsb /lib/
# The init script calls /sbin/ipvsadm.
[[ -x /sbin/ipvsadm ]] || { mkdir -p /sbin && ln -sf "$(command -v ipvsadm)" /sbin/ipvsadm; }
expect_eq "$(cat /etc/ipvsadm.rules)" "# emtpy rules file for ipvsadm" "the package's rules stub"
expect_contains "$(cat /etc/default/ipvsadm)" 'AUTO="false"' "the package's default: no restore at boot"

step "what ipvsadm refuses (the spec's ranges and the import follow it)"
run_in director ipvsadm -A -t 192.0.2.1:80 -s rr -p 2678400
run_in director ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11:80 -i -w 65535
expect_fail in_ns director ipvsadm -A -t 192.0.2.2:80 -s rr -p 0
expect_fail in_ns director ipvsadm -A -t 192.0.2.2:80 -s rr -p 2678401
# Debian patches -w up to INT_MAX (#814348); upstream and RHEL stop at 65535, which the
# spec follows so that the rules restore on every distro.
run_in director ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.12:80 -i -w 65536 || echo "this ipvsadm refuses -w 65536"
run_in director ipvsadm -C
rc=0
printf '# a comment\n-A -t 192.0.2.3:80 -s rr\n' | in_ns director ipvsadm -R || rc=$?
expect_eq "$([[ $rc -ne 0 ]] && echo refused)" refused "plain ipvsadm -R refuses a # line"
expect_not_contains "$(in_ns director ipvsadm -Sn)" "192.0.2.3" "and restores nothing after it"

step "plan: the stub needs no --take-over, AUTO=\"true\" is one changed line"
rc=0
run_out plan lvs-converge --netns director plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$plan" "~ file /etc/ipvsadm.rules" "rules file replaces the stub"
expect_not_contains "$plan" "not owned" "no take-over needed"
expect_contains "$plan" '-AUTO="false"
      +AUTO="true"' "AUTO set"
expect_eq "$(grep -c '^      [-+][^-+]' <<<"$(sed -n '/file \/etc\/default\/ipvsadm/,$p' <<<"$plan")")" 2 "one line changed in /etc/default/ipvsadm"

step "apply without --take-over, then nothing left to do"
expect_ok lvs-converge --netns director apply -f $SPEC
expect_ok lvs-converge --netns director plan -f $SPEC
run_cmd cat /etc/ipvsadm.rules /etc/default/ipvsadm
expect_eq "$(head -n1 /etc/ipvsadm.rules)" "--set 0 0 0" "the rules file's first line is the marker"
expect_eq "$(grep -v '^AUTO=' /etc/default/ipvsadm)" "$(grep -v '^AUTO=' $pkg/etc/default/ipvsadm)" "every other line of /etc/default/ipvsadm kept"
expect_eq "$(cat /etc/default/ipvsadm.lvs-converge.bak)" "$(cat $pkg/etc/default/ipvsadm)" "the package's file kept as backup"
run_out converged in_ns director ipvsadm -Sn
run_out timeouts in_ns director ipvsadm -L --timeout
expect_contains "$converged" "-a -t $VIP:80 -r 192.0.2.11:80 -i -w 65535" "weight 65535 live"

step "plain ipvsadm -R < /etc/ipvsadm.rules rebuilds the same table"
run_in director ipvsadm -C
run_in director ipvsadm --set 100 100 100
in_ns director ipvsadm -R </etc/ipvsadm.rules
expect_eq "$(in_ns director ipvsadm -Sn)" "$converged" "ipvsadm -Sn after plain ipvsadm -R"
expect_eq "$(in_ns director ipvsadm -L --timeout)" "$timeouts" "timeouts from the file (--set 0 0 0 changed none)"

step "the package's boot path restores it: /etc/init.d/ipvsadm start"
run_in director ipvsadm -C
expect_eq "$(in_ns director ipvsadm -Sn)" "" "table flushed"
run_out started ip netns exec director /etc/init.d/ipvsadm start
expect_eq "$(in_ns director ipvsadm -Sn)" "$converged" "ipvsadm -Sn after the init script's start"
expect_ok lvs-converge --netns director plan -f $SPEC
