# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# The VM is LVS-TUN real server rs1 (examples/seed/rs1.yaml): its eth0 (203.0.113.11) is
# configured by the host's own 10-eth0.network; the director and the client are namespaces
# on eth0's segment, the director made by hand with ipvsadm at every boot, after the
# host's plan. Every persist kind a real server has: sysctl.d, modules-load.d, networkd
# (the VIP on lo, tunl0 up) and the boot unit.
#   boot 1: apply, enable the boot unit; remove every other persisted file
#   boot 2: the boot unit alone brought the host back (and rewrote the files)
#   boot 3: boot unit disabled: the distro's services alone brought it back
#   boot 4: negative control: the unit enabled but its spec removed, and the
#           modules-load.d, sysctl.d and lo .network files removed: nothing brings
#           ipip/tunl0, the ARP settings or the VIP on lo back
SPEC=/etc/lvs-converge/rs1.yaml
VIP=203.0.113.100
DISTRO_FILES="/etc/sysctl.d/90-lvs-converge.conf /etc/modules-load.d/lvs-converge.conf
    /etc/systemd/network/90-lvs-converge-lo.network /etc/systemd/network/90-lvs-converge-tunl0.network"

fixtures() {
    os_segment client=203.0.113.50 director=203.0.113.10
    os_director_ns director $VIP 203.0.113.11
    os_start_web rs1
}

boot_1() {
    step "boot 1: this host is rs1: its own eth0 file, then apply with persist, enable the unit"
    sed -i 's|^Address=.*|Address=203.0.113.11/24|' /etc/systemd/network/10-eth0.network
    expect_ok networkctl reload
    expect_ok networkctl reconfigure eth0
    wait_for 10 sh -c 'ip -4 -o addr show dev eth0 | grep -q 203.0.113.11/24'
    mkdir -p /etc/lvs-converge
    { cat /lab/examples/seed/rs1.yaml; echo 'persist: {}'; } >$SPEC
    expect_plan 2 $SPEC
    expect_ok lvs-converge apply -f $SPEC
    run_cmd cat $DISTRO_FILES /etc/systemd/system/lvs-converge.service
    expect_ok systemctl enable lvs-converge.service
    fixtures
    expect_traffic $VIP rs1
    step "remove every persisted file but the boot unit: only the unit can bring the host back"
    run_cmd rm -v $DISTRO_FILES
    reboot_now
}

boot_2() {
    step "boot 2 (boot unit path): the unit ran this boot and converged the host"
    unit_report
    expect_contains "$(systemctl show -p ActiveState lvs-converge.service)" "ActiveState=active" "the unit succeeded"
    expect_contains "$unit_log" "Apply complete:" "the unit's journal shows its apply, verified"
    expect_not_contains "$unit_log" "No changes." "the unit had work to do (the files were gone)"
    expect_plan 0 $SPEC
    run_cmd ls -l $DISTRO_FILES
    fixtures
    expect_traffic $VIP rs1
    step "disable the boot unit: next boot only the distro's services read the files"
    expect_ok systemctl disable lvs-converge.service
    reboot_now
}

boot_3() {
    step "boot 3 (distro path): unit disabled; modules-load, sysctl, networkd"
    unit_report
    expect_contains "$(systemctl show -p ActiveState lvs-converge.service)" "ActiveState=inactive" "the unit did not run"
    expect_eq "$unit_log" "" "no journal for the unit this boot"
    run_cmd systemctl --no-pager status systemd-modules-load.service systemd-sysctl.service || true
    run_cmd networkctl --no-pager status lo tunl0 || true
    expect_plan 0 $SPEC
    fixtures
    expect_traffic $VIP rs1
    step "negative control: unit enabled without its spec; modules-load.d file removed"
    expect_ok systemctl enable lvs-converge.service
    run_cmd mv -v $SPEC /root/rs1.yaml
    run_cmd rm -v /etc/modules-load.d/lvs-converge.conf /etc/sysctl.d/90-lvs-converge.conf \
        /etc/systemd/network/90-lvs-converge-lo.network
    reboot_now
}

boot_4() {
    step "boot 4 (negative control): the unit skipped (no spec), no ipip, no traffic"
    unit_report
    expect_contains "$unit_log" "skipped because of an unmet condition check (ConditionPathExists=$SPEC)" "the unit was skipped: no spec"
    expect_eq "$(grep -c '^ipip ' /proc/modules || true)" 0 "ipip not loaded"
    expect_eq "$(cat /proc/sys/net/ipv4/conf/lo/arp_ignore)" 0 "without the sysctl.d file lo answers ARP again (kernel default)"
    expect_not_contains "$(ip -4 -o addr show dev lo)" "$VIP" "without the lo .network file no VIP on lo"
    run_cmd mv -v /root/rs1.yaml $SPEC
    expect_plan 2 $SPEC
    expect_contains "$plan_out" "ipip" "plan loads ipip again"
    fixtures
    expect_no_traffic $VIP
}
