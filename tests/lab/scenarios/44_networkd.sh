# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 18: what persists for networkd. A role-less spec with a named ipip link, an address
# on eth1 (which the host's own networkd file configures), a route via a gateway, a
# blackhole and an unreachable route. The kernel side: ipip is loaded (and listed for
# boot) though no role asked for it; the routes are there. The files: eth1's settings are a
# drop-in of the host's file, the routes are persisted; the drop-in goes once the host
# file does. Then, when the VM has systemd-networkd (lab.sh copies the host's), the files
# themselves bring a wiped namespace back.
ROOT=/tmp/root-h
SPEC=/tmp/networkd.yaml
NET=$ROOT/etc/systemd/network
cat >$SPEC <<'YAML'
apiVersion: lvs-converge/v1
kind: Host
links:
  - { name: tun-dir, local: 192.0.2.10, remote: 192.0.2.20 }
addresses:
  - { address: 192.0.2.10/24, interface: eth1 }
routes:
  - { destination: 198.18.0.0/15, gateway: 192.0.2.1 }
  - { destination: 203.0.113.0/24, type: blackhole }
  - { destination: 198.51.100.128/25, type: unreachable, table: 100 }
persist:
  sysctl: false
  ipvs: false
  bootUnit: false
YAML

host_ns() {
    _lab_ns_add "$1"
    ip -n "$1" link add eth1 type dummy
    ip -n "$1" link set eth1 up
}

step "a host namespace with eth1, its own networkd file for eth1, ipip unloaded"
host_ns h
mkdir -p "$ROOT/usr/lib/systemd/network"
printf '[Match]\nName=eth1\n\n[Network]\nLinkLocalAddressing=no\n' >"$ROOT/usr/lib/systemd/network/10-eth1.network"
run_cmd modprobe -r ipip || true
expect_not_contains "$(lsmod)" "ipip" "ipip not loaded before apply"

step "plan names the drop-in and the routes; apply; converged"
rc=0
run_out plan lvs-converge --netns h --root $ROOT plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$plan" "+ file /etc/systemd/network/10-eth1.network.d/90-lvs-converge.conf" "drop-in for the host's eth1 file"
expect_contains "$plan" "(from the host's /usr/lib/systemd/network/10-eth1.network, as a drop-in)" "plan names the host file"
expect_not_contains "$plan" "90-lvs-converge-eth1.network" "no rival file for eth1"
expect_contains "$plan" "(from tunnel links)" "ipip module from the link, no role"
run_cmd lvs-converge --netns h --root $ROOT apply -f $SPEC
rc=0
run_out replan lvs-converge --netns h --root $ROOT plan -f $SPEC || rc=$?
expect_eq "$rc" 0 "converged after apply"

step "the kernel side: ipip loaded, tunl0 there, routes as declared"
expect_contains "$(lsmod)" "ipip" "ipip loaded"
run_out tunl0 ip -n h -d link show tunl0
expect_contains "$tunl0" "ipip" "tunl0 exists"
run_out routes ip -n h -d route show table all
expect_contains "$routes" "198.18.0.0/15 via 192.0.2.1 dev eth1" "gateway route"
expect_contains "$routes" "blackhole 203.0.113.0/24" "blackhole route"
expect_contains "$routes" "unreachable 198.51.100.128/25 table 100" "unreachable route"

step "the files: modules list, drop-in, lo and tunnel files"
run_cmd find "$ROOT" -type f
expect_contains "$(cat "$ROOT/etc/modules-load.d/lvs-converge.conf")" "ipip" "ipip listed for boot"
run_out dropin cat "$NET/10-eth1.network.d/90-lvs-converge.conf"
cp "$NET/10-eth1.network.d/90-lvs-converge.conf" /tmp/eth1-drop-in.conf
expect_not_contains "$dropin" "[Match]" "a drop-in matches nothing of its own"
expect_contains "$dropin" "Address=192.0.2.10/24" "eth1 address in the drop-in"
expect_contains "$dropin" "Destination=198.18.0.0/15
Gateway=192.0.2.1" "gateway route in eth1's drop-in"
run_out lo cat "$NET/90-lvs-converge-lo.network"
expect_contains "$lo" "Type=blackhole" "blackhole route in lo's file"
expect_contains "$lo" "Type=unreachable
Table=100" "unreachable route in lo's file"
expect_contains "$(cat "$NET/90-lvs-converge-tun-dir.netdev")" "Kind=ipip" "tunnel netdev"

step "the host file goes: the drop-in is stale, a file of lvs-converge's own takes over"
run_cmd rm "$ROOT/usr/lib/systemd/network/10-eth1.network"
rc=0
run_out plan lvs-converge --netns h --root $ROOT plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$plan" "- file /etc/systemd/network/10-eth1.network.d/90-lvs-converge.conf" "stale drop-in deleted"
expect_contains "$plan" "+ file /etc/systemd/network/90-lvs-converge-eth1.network" "own file for eth1"
run_cmd lvs-converge --netns h --root $ROOT apply -f $SPEC
expect_fail test -e "$NET/10-eth1.network.d/90-lvs-converge.conf"

step "a host file for eth1 and other interfaces: no drop-in, no rival file, a warning"
printf '[Match]\nName=eth* en*\n' >"$ROOT/usr/lib/systemd/network/80-wired.network"
rc=0
run_out checked lvs-converge --netns h --root $ROOT check --host -f $SPEC || rc=$?
# (It also judges the tunnel a real server's without a VIP, an error: exit 2.)
expect_eq "$rc" 2 "check exit code"
expect_contains "$checked" "network-not-persisted" "check --host names the gap"
expect_contains "$checked" "the host's /usr/lib/systemd/network/80-wired.network may configure it and other interfaces too" "check --host says why"
rc=0
run_out plan lvs-converge --netns h --root $ROOT plan -f $SPEC || rc=$?
expect_eq "$rc" 2 "plan exit code"
expect_contains "$plan" "- file /etc/systemd/network/90-lvs-converge-eth1.network" "the rival file goes"
expect_contains "$plan" "network-not-persisted" "plan shows the warning"
run_cmd rm "$ROOT/usr/lib/systemd/network/80-wired.network"

NETWORKD=/lib/systemd/systemd-networkd
if [[ ! -x $NETWORKD ]]; then
    step "no systemd-networkd in this VM (lab.sh copies the host's when it has one): the boot side is not run"
    return 0
fi
step "systemd-networkd brings a fresh namespace back from the files alone"
grep -q '^systemd-network:' /etc/passwd ||
    echo 'systemd-network:x:998:998:networkd:/:/bin/false' >>/etc/passwd
grep -q '^systemd-network:' /etc/group || echo 'systemd-network:x:998:' >>/etc/group
mkdir -p /etc/systemd/network/10-eth1.network.d /usr/lib/systemd/network /run/systemd
printf '[Match]\nName=eth1\n\n[Network]\nLinkLocalAddressing=no\n' >/usr/lib/systemd/network/10-eth1.network
cp "$NET"/90-lvs-converge-lo.network "$NET"/90-lvs-converge-tun-dir.* /etc/systemd/network/
# run_networkd NS SECS: networkd for namespace NS, until it has configured eth1 and lo
# and the gateway route is there (or SECS more seconds pass); prints 1 if it is.
# No udevd here: with /sys read-only networkd does not wait for udev to initialize links.
# bash, not busybox sh: its `ip` applet has no -n.
run_networkd() {
    local ns=$1 secs=$2 pid ok=0
    host_ns "$ns"
    ip netns exec "$ns" unshare -m bash -c "mount -o remount,ro /sys && exec $NETWORKD" >"/tmp/networkd-$ns.log" 2>&1 &
    pid=$!
    wait_for 30 grep -q "lo: Configuring" "/tmp/networkd-$ns.log" || true
    wait_for "$secs" bash -c "ip -n $ns route show 198.18.0.0/15 | grep -q 'via 192.0.2.1'" && ok=1
    kill "$pid" || true
    wait "$pid" || true
    grep -v 'Failed to update' "/tmp/networkd-$ns.log" || true
    run_cmd ip -n "$ns" -d route show table all
    echo "$ok"
}

# What main wrote: a file of its own for eth1, which networkd ignores for the host's.
cp "$NET/90-lvs-converge-eth1.network" /etc/systemd/network/
run_out rival run_networkd rival 3
expect_contains "$rival" "eth1: Configuring with /usr/lib/systemd/network/10-eth1.network" "networkd uses the host's file"
expect_eq "${rival##*$'\n'}" 0 "a rival file of lvs-converge's own is ignored: no gateway route"
expect_not_contains "$(ip -n rival -4 addr show eth1)" "192.0.2.10/24" "and no address"

# What apply writes now: the drop-in of the host's file.
rm /etc/systemd/network/90-lvs-converge-eth1.network
cp /tmp/eth1-drop-in.conf /etc/systemd/network/10-eth1.network.d/90-lvs-converge.conf
run_out boot run_networkd boot 30
expect_contains "$boot" "eth1: Configuring with /usr/lib/systemd/network/10-eth1.network" "networkd uses the host's file"
expect_eq "${boot##*$'\n'}" 1 "networkd applied the drop-in's gateway route"
expect_contains "$(ip -n boot -4 addr show eth1)" "192.0.2.10/24" "networkd put the drop-in's address on eth1"
run_out routes ip -n boot -d route show table all
expect_contains "$routes" "blackhole 203.0.113.0/24" "networkd made the blackhole route from lo's file"
expect_contains "$routes" "unreachable 198.51.100.128/25 table 100" "networkd made the unreachable route"
