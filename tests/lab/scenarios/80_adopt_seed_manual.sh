# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 7: a cluster set up with the seed manual's own commands, mistakes included, is
# imported host by host, checked (the mistake reported with its fix), corrected in the
# imported spec, applied — and then carries traffic.
VIP=203.0.113.100
SPECS=/tmp/adopt
mkdir -p $SPECS

topology_cluster
start_web rs1
start_web rs2

# A command of the manual that fails on a real host too (tunl0 exists once ipip is
# loaded, and its endpoints cannot change): run it, record the failure, go on as an
# operator following the manual would.
manual_may_fail() {
    local ns=$1
    shift
    if in_ns "$ns" "$@" 2>/dev/null; then
        echo "[$ns] manual: $* (ok)"
    else
        echo "[$ns] manual: $* (failed, as on any host: the manual's mistake)"
    fi
}

step "director, as the manual's §2.2/§3.1 configure it"
run_cmd modprobe ipip
run_in director ip addr add $VIP/32 dev eth0 label eth0:0 # ifcfg-eth0:0, NETMASK 255.255.255.255
manual_may_fail director ip tunnel add tunl0 mode ipip remote any local 203.0.113.10
run_in director ip addr add 10.0.0.1/24 dev tunl0
run_in director ip link set tunl0 up
run_in director ipvsadm -A -t $VIP:80 -s rr
# The manual's mistake: real servers by their tunnel-interior addresses.
run_in director ipvsadm -a -t $VIP:80 -r 10.0.0.2:80 -i
run_in director ipvsadm -a -t $VIP:80 -r 10.0.0.3:80 -i
run_in director sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0

for pair in rs1:203.0.113.11:10.0.0.2 rs2:198.51.100.22:10.0.0.3; do
    IFS=: read -r rs own tunnel <<<"$pair"
    step "real server $rs, as the manual's §3.2 configures it"
    manual_may_fail $rs ip tunnel add tunl0 mode ipip remote 203.0.113.10 local $own
    run_in $rs ip addr add $tunnel/24 dev tunl0
    run_in $rs ip link set tunl0 up
    run_in $rs ip addr add $VIP/32 dev lo
    manual_may_fail $rs ip route add $VIP/32 dev lo table local
    # the lvs-tun start script: ARP suppression, host route, rp_filter off everywhere
    run_in $rs sysctl -w net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.all.rp_filter=0
    run_in $rs sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2
    manual_may_fail $rs ip route add $VIP/32 dev lo scope host
    in_ns $rs sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >$f; done'
done

step "as the manual leaves it, nothing answers on the VIP"
misses=0
for _ in 1 2 3; do http_get client $VIP >/dev/null 2>&1 || misses=$((misses + 1)); done
expect_eq "$misses" 3 "requests to http://$VIP/ that got no answer"

step "import every host; each imported spec plans no change against its host"
for ns in director rs1 rs2; do
    before=$(in_ns $ns ipvsadm -Sn 2>/dev/null; in_ns $ns ip -o addr; in_ns $ns ip -o -d link)
    expect_ok lvs-converge --netns $ns import -o $SPECS/$ns.yaml
    echo "--- $SPECS/$ns.yaml"
    cat $SPECS/$ns.yaml
    rc=0
    run_out plan_$ns lvs-converge --netns $ns plan -f $SPECS/$ns.yaml --color never || rc=$?
    expect_eq "$rc" 0 "[$ns] plan of its own import exits 0 (no changes)"
    after=$(in_ns $ns ipvsadm -Sn 2>/dev/null; in_ns $ns ip -o addr; in_ns $ns ip -o -d link)
    expect_eq "$after" "$before" "[$ns] import and plan left the host as it was"
done
expect_contains "$(cat $SPECS/director.yaml)" "10.0.0.2" "the import mirrors the manual's table, mistake included"

step "check names the manual's mistake, where it is, and the fix"
rc=0
run_out findings lvs-converge check -f $SPECS/director.yaml --color never || rc=$?
expect_eq "$rc" 2 "check exit code (errors found)"
expect_contains "$findings" "error[real-server-via-tunnel]: real server 10.0.0.2 of tcp $VIP:80 is reached through tunnel device tunl0" "10.0.0.2 reported"
expect_contains "$findings" "error[real-server-via-tunnel]: real server 10.0.0.3 of tcp $VIP:80 is reached through tunnel device tunl0" "10.0.0.3 reported"
expect_contains "$findings" "--> $SPECS/director.yaml:" "finding points into the imported spec"
expect_contains "$findings" "fix: give the real server's own routable address" "fix given"
rc=0
run_out findings_host lvs-converge --netns director check -f $SPECS/director.yaml --host --color never || rc=$?
expect_eq "$rc" 2 "check --host exit code"
expect_contains "$findings_host" "real-server-via-tunnel" "the host's own routes confirm it"
rc=0
run_out plan_director lvs-converge --netns director plan -f $SPECS/director.yaml --color never || rc=$?
expect_contains "$plan_director" "error[real-server-via-tunnel]" "plan shows the error too"
for rs in rs1 rs2; do
    rc=0
    run_out findings_$rs lvs-converge --netns $rs check -f $SPECS/$rs.yaml --host --color never || rc=$?
    expect_eq "$rc" 0 "[$rs] the manual's real-server steps pass the checks (notes only)"
done

step "correct the spec: real servers by their own addresses"
sed -e 's/10\.0\.0\.2/203.0.113.11/' -e 's/10\.0\.0\.3/198.51.100.22/' $SPECS/director.yaml >$SPECS/director-fixed.yaml
rc=0
run_out findings_fixed lvs-converge --netns director check -f $SPECS/director-fixed.yaml --host --color never || rc=$?
expect_eq "$rc" 0 "check of the corrected spec: no errors"
expect_not_contains "$findings_fixed" "real-server-via-tunnel" "corrected spec"
rc=0
run_out plan_fixed lvs-converge --netns director plan -f $SPECS/director-fixed.yaml --color never || rc=$?
expect_eq "$rc" 2 "plan of the corrected spec has changes"
expect_ok lvs-converge --netns director apply -f $SPECS/director-fixed.yaml --wait

step "independent check of the director's table"
run_out table in_ns director ipvsadm -Sn
expect_contains "$table" "-a -t $VIP:80 -r 203.0.113.11:80 -i -w 1" "rs1 by its own address"
expect_contains "$table" "-a -t $VIP:80 -r 198.51.100.22:80 -i -w 1" "rs2 by its own address"
expect_not_contains "$table" "10.0.0." "no tunnel-interior real servers left"

expect_both_real_servers_answer 20
expect_direct_return_stats $VIP:80 203.0.113.11:80 198.51.100.22:80

step "a second apply changes nothing"
run_out again lvs-converge --netns director apply -f $SPECS/director-fixed.yaml --color never
expect_contains "$again" "No changes." "second apply"
