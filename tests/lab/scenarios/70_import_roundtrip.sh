# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 7 (import): hosts configured without lvs-converge are captured as specs, and each
# captured spec plans no change against the host it came from. (a) The seed manual's
# cluster built by its own commands (mistakes included: IPVS points at tunnel-interior
# 10.0.0.x addresses); (b) a rich table saved with ipvsadm-save -n and restored into a
# fresh namespace; (c) the table keepalived itself builds from a keepalived.conf.
VIP=203.0.113.100

topology_cluster

step "director by hand, as the seed manual §3.1 does it"
run_cmd modprobe ipip
# The manual's `ip tunnel add tunl0 …` fails: tunl0 exists once ipip is loaded.
run_in director ip tunnel add tunl0 mode ipip remote any local 203.0.113.10 || true
run_in director ip addr add 10.0.0.1/24 dev tunl0
run_in director ip link set tunl0 up
run_in director ip addr add $VIP/32 dev eth0 label eth0:0
run_in director ipvsadm -A -t $VIP:80 -s rr
run_in director ipvsadm -a -t $VIP:80 -r 10.0.0.2:80 -i
run_in director ipvsadm -a -t $VIP:80 -r 10.0.0.3:80 -i
ns_sysctl director net.ipv4.ip_forward=1 net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0

step "real servers by hand, as the seed manual §3.2 does it"
declare -A tunnel_address=([rs1]=10.0.0.2 [rs2]=10.0.0.3)
for rs in rs1 rs2; do
    run_in $rs ip addr add "${tunnel_address[$rs]}/24" dev tunl0
    run_in $rs ip link set tunl0 up
    run_in $rs ip addr add $VIP/32 dev lo
    # The manual's local route already exists (the kernel adds it with the address).
    run_in $rs ip route add $VIP/32 dev lo table local || true
    ns_sysctl $rs net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2
done

# Everything import could touch, to prove it (and plan) change nothing.
host_state() {
    local ns=$1
    in_ns "$ns" ipvsadm -Sn
    in_ns "$ns" ip -o -d addr
    in_ns "$ns" ip -o -d link
    in_ns "$ns" sh -c 'grep -r . /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/conf/*/arp_* /proc/sys/net/ipv4/ip_forward'
}
declare -A before
for ns in director rs1 rs2; do before[$ns]=$(host_state $ns); done

step "(a) import each host, then plan the imported spec against the same host: 0 changes"
for ns in director rs1 rs2; do
    run_out notes_$ns lvs-converge --netns $ns import -o /tmp/$ns.yaml
    run_cmd cat /tmp/$ns.yaml
    expect_ok lvs-converge validate -f /tmp/$ns.yaml
    rc=0
    run_out plan_$ns lvs-converge --netns $ns plan -f /tmp/$ns.yaml || rc=$?
    expect_eq "$rc" 0 "[$ns] plan exit code of the imported spec"
    expect_contains "$(eval echo "\"\$plan_$ns\"")" "No changes." "[$ns] plan"
    expect_eq "$(host_state $ns)" "${before[$ns]}" "[$ns] host unchanged by import and plan"
done
director_spec=$(cat /tmp/director.yaml)
expect_contains "$director_spec" $'role: director\nvipInterface: eth0:0' "director imported in the role form"
expect_contains "$director_spec" "- { address: 10.0.0.2 }" "the manual's tunnel-interior real server, mirrored"
expect_contains "$director_spec" "address: 10.0.0.1/24, interface: tunl0" "director tunl0 address"
expect_contains "$director_spec" "net.ipv4.ip_forward: 1" "director ip_forward"
for rs in rs1 rs2; do
    expect_contains "$(cat /tmp/$rs.yaml)" $'role: real-server\nvips: [203.0.113.100]' "[$rs] imported in the role form"
    expect_contains "$(cat /tmp/$rs.yaml)" "address: ${tunnel_address[$rs]}/24, interface: tunl0" "[$rs] tunl0 address"
done
expect_eq "$(in_ns director ipvsadm -Sn)" "$(grep -- '^-[Aa]' <<<"${before[director]}")" "director ipvsadm -Sn unchanged"

step "(a) output safety: an existing file is kept without --force; --role that does not fit is refused"
echo "# hand edit" >>/tmp/rs1.yaml
edited=$(md5sum </tmp/rs1.yaml)
expect_fail lvs-converge --netns rs1 import -o /tmp/rs1.yaml
expect_eq "$(md5sum </tmp/rs1.yaml)" "$edited" "rs1.yaml kept without --force"
expect_ok lvs-converge --netns rs1 import -o /tmp/rs1.yaml --force
expect_not_contains "$(cat /tmp/rs1.yaml)" "# hand edit" "rs1.yaml replaced with --force"
rc=0
run_out role_error lvs-converge --netns director import --role real-server || rc=$?
expect_eq "$rc" 1 "import --role real-server on the director"
expect_contains "$role_error" "does not match role real-server" "role refusal"

step "(a) a real server off its role: tunl0 rp_filter 1 gives explicit sections and the reason"
ns_sysctl rs2 net.ipv4.conf.tunl0.rp_filter=1
run_out notes_off lvs-converge --netns rs2 import -o /tmp/rs2-off.yaml
run_cmd cat /tmp/rs2-off.yaml
expect_not_contains "$(cat /tmp/rs2-off.yaml)" $'\nrole:' "no role form"
expect_contains "$(cat /tmp/rs2-off.yaml)" "net.ipv4.conf.tunl0.rp_filter is 1: the role would set 0" "reason comment"
expect_contains "$notes_off" "tunl0.rp_filter is 1" "reason on stderr"
expect_ok lvs-converge --netns rs2 plan -f /tmp/rs2-off.yaml

step "(b) a rich table: director-full applied, hand additions, saved with ipvsadm-save -n"
_lab_ns_add full fresh
expect_ok lvs-converge --netns full apply -f /lab/examples/director-full.yaml
run_in full ipvsadm -a -t $VIP:80 -r 198.51.100.24:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
run_in full ipvsadm -a -t $VIP:80 -r 198.51.100.25:80 -i --tun-type gre --tun-csum
run_in full ipvsadm -A -t $VIP:5060 -s rr -p 600
run_in full ipvsadm -a -t $VIP:5060 -r 10.1.0.5:5061 -m -w 4
run_in full ipvsadm -A -f 9 -6 -s wrr -p 300 -M 64
run_in full ipvsadm -a -f 9 -6 -r '[2001:db8:1::11]:0' -i
in_ns full ipvsadm -Sn >/tmp/rich.rules  # = ipvsadm-save -n
run_cmd cat /tmp/rich.rules
expect_num "$(grep -c '^-a' /tmp/rich.rules)" -eq 14 "real servers saved"
expect_ok lvs-converge import --ipvsadm-save /tmp/rich.rules -o /tmp/rich.yaml
run_cmd cat /tmp/rich.yaml
run_in fresh ipvsadm-restore </tmp/rich.rules
rc=0
run_out plan_rich lvs-converge --netns fresh plan -f /tmp/rich.yaml || rc=$?
expect_eq "$rc" 0 "plan of the imported rules against the restored table"
expect_eq "$(in_ns fresh ipvsadm -Sn | sort)" "$(grep -v '^#' /tmp/rich.rules | sort)" "restored table is the saved one"

step "(b) a file with host names is refused with its line and a hint"
printf -- '-A -t www.example.com:http -s rr\n' >/tmp/names.rules
rc=0
run_out names_error lvs-converge import --ipvsadm-save /tmp/names.rules || rc=$?
expect_eq "$rc" 1 "import of a rules file with names"
expect_contains "$names_error" "/tmp/names.rules:1: \`www.example.com\` is not a numeric IP address" "error names line and token"
expect_contains "$names_error" "ipvsadm-save -n" "hint"

step "(c) keepalived builds its table from a keepalived.conf; import reads the same file"
_lab_ns_add ka
KA_CONF=/lab/import/keepalived-lab.conf
in_ns ka keepalived --check --dont-fork --log-console --log-detail -f $KA_CONF \
    -p /tmp/ka.pid -c /tmp/ka-check.pid >/tmp/keepalived.log 2>&1 &
ka_pid=$!
ka_table_complete() { [[ $(in_ns ka ipvsadm -Sn | grep -c '^-a') -eq 7 ]]; }
if ! wait_for 60 ka_table_complete; then
    cat /tmp/keepalived.log
    fail "keepalived did not build its table"
fi
run_out ka_table in_ns ka ipvsadm -Sn
run_in ka ipvsadm -Ln --thresholds
expect_contains "$ka_table" "-a -t $VIP:8080 -r 203.0.113.12:8080 -g -w 1" "keepalived: per-real-server lvs_method DR"
expect_contains "$ka_table" "-A -f 7 -s rr -p 360" "keepalived: bare persistence_timeout is 360 s"
expect_contains "$ka_table" "-A -u $VIP:53 -s sh -o -b sh-port" "keepalived: no protocol means UDP"
run_out ka_notes lvs-converge import --keepalived $KA_CONF -o /tmp/ka.yaml
run_cmd cat /tmp/ka.yaml
rc=0
run_out plan_ka lvs-converge --netns ka plan -f /tmp/ka.yaml || rc=$?
[[ $rc == 0 ]] || cat /tmp/keepalived.log
expect_eq "$rc" 0 "plan of the imported keepalived.conf against keepalived's own table"
kill "$ka_pid"
wait "$ka_pid" || true
