# Helpers for the real-OS lab's scenarios (tests/lab/os/scenarios/), sourced after
# tests/lab/lib.sh by run-stage.sh inside the VM. A scenario defines boot_1, boot_2, ...:
# boot N runs once systemd has finished the Nth boot of the image.
#
#   reboot_now               end this stage with a real reboot; boot_<N+1> runs next
#   os_segment NS=ADDR...    the lab segment 203.0.113.0/24: eth1 (on the same qemu hub as
#                            eth0) under a bridge in namespace "sw", each NS on it with ADDR/24
#   os_real_server_ns NS VIP a hand-made LVS-TUN real server in NS (ipip, VIP on lo, ARP
#                            and rp_filter sysctls), serving its name over HTTP
#   os_director_ns NS VIP RS a hand-made director in NS: VIP on eth0, one rr service on :80
#                            tunnelling to RS
#   os_start_web NAME        busybox httpd on :80 in the VM itself, answering NAME
#   expect_plan RC SPEC      `lvs-converge plan -f SPEC` exits RC; its output in $plan_out
#   expect_traffic VIP WANT  the client namespace's GET http://VIP/ is answered WANT
#   expect_no_traffic VIP    ... is not answered
#   unit_report              the boot unit's state and its journal for this boot ($unit_log)

reboot_now() {
    echo "### reboot requested"
    touch /run/lab-os-reboot
}

os_segment() {
    step "lab segment: eth1 bridged in netns sw with $*"
    local eth1 spec ns
    eth1=$(grep -l '^52:54:00:00:00:11$' /sys/class/net/*/address | cut -d/ -f5)
    [[ -n $eth1 ]] || fail "no NIC with the lab segment's MAC 52:54:00:00:00:11"
    _lab_ns_add sw
    ip link set "$eth1" netns sw
    ip -n sw link add br0 type bridge forward_delay 0 stp_state 0
    ip -n sw link set "$eth1" master br0 up
    ip -n sw link set br0 up
    for spec in "$@"; do
        ns=${spec%%=*}
        _lab_ns_add "$ns"
        ip link add "sw-$ns" netns sw type veth peer name eth0 netns "$ns"
        ip -n sw link set "sw-$ns" master br0 up
        ip -n "$ns" addr add "${spec#*=}/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

os_real_server_ns() {
    local ns=$1 vip=$2
    step "hand-made real server in netns $ns"
    modprobe ipip
    ip -n "$ns" link set tunl0 up
    ip -n "$ns" addr add "$vip/32" dev lo
    ns_sysctl "$ns" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0
    start_web "$ns"
}

os_director_ns() {
    local ns=$1 vip=$2 rs=$3
    step "hand-made director in netns $ns"
    ip -n "$ns" addr add "$vip/32" dev eth0
    in_ns "$ns" ipvsadm -A -t "$vip:80" -s rr
    in_ns "$ns" ipvsadm -a -t "$vip:80" -r "$rs:80" -i
    run_in "$ns" ipvsadm -Ln
}

os_start_web() {
    mkdir -p /tmp/www
    echo "$1" >/tmp/www/index.html
    busybox httpd -p 80 -h /tmp/www
}

expect_plan() {
    local want=$1 spec=$2 rc=0
    run_out plan_out lvs-converge plan -f "$spec" || rc=$?
    expect_eq "$rc" "$want" "plan exit code"
}

expect_traffic() {
    local got try
    # the first tries may meet a segment still settling (bridge ports, ARP)
    for try in 1 2 3 4 5; do
        got=$(HTTP_WAIT=3 http_get client "$1") && break
        sleep 1
    done
    [[ -n $got ]] || fail "no answer from http://$1/ in netns client"
    expect_eq "$got" "$2" "client's GET http://$1/"
}

expect_no_traffic() {
    local got
    if got=$(HTTP_WAIT=3 http_get client "$1"); then
        fail "http://$1/ answered '$got' in netns client: expected no answer"
    fi
    echo "ok: no answer from http://$1/ (as expected)"
}

unit_report() {
    run_cmd systemctl --no-pager show -p UnitFileState -p ActiveState -p Result -p ConditionResult lvs-converge.service
    run_out unit_log journalctl -q -b --no-pager -o cat -u lvs-converge.service
}
