# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# The VM is an LVS-TUN director: its eth0 is configured by the host's own
# /etc/systemd/network/10-eth0.network; rs1 and the client are namespaces on eth0's segment
# (rebuilt by hand at every boot, after the host's plan). Every persist kind the director
# has: modules-load.d, the IPVS rules (with Debian's AUTO="true"), the networkd drop-in for
# eth0 and the boot unit.
#   boot 1: apply, enable the boot unit; remove every other persisted file
#   boot 2: the boot unit alone brought the host back (and rewrote the files)
#   boot 3: boot unit disabled: the distro's services alone brought it back
#   boot 4: negative control: /etc/ipvsadm.rules and the eth0 drop-in removed before the
#           reboot: no service, no VIP (eth0 keeps its own address)
SPEC=/etc/lvs-converge/director.yaml
VIP=203.0.113.100
DISTRO_FILES="/etc/modules-load.d/lvs-converge.conf /etc/ipvsadm.rules
    /etc/systemd/network/10-eth0.network.d/90-lvs-converge.conf"

fixtures() {
    os_segment client=203.0.113.50 rs1=203.0.113.11
    os_real_server_ns rs1 $VIP
}

expect_eth0_kept_and_vip() {
    local addrs
    run_out addrs ip -4 -o addr show dev eth0
    expect_contains "$addrs" "203.0.113.10/24" "eth0 keeps its own .network's address"
    expect_contains "$addrs" "$VIP/32" "eth0 holds the VIP"
}

boot_1() {
    step "boot 1: apply the director spec with persist (every kind), enable the boot unit"
    mkdir -p /etc/lvs-converge
    cat >$SPEC <<-YAML
	apiVersion: lvs-converge/v1
	kind: Host
	role: director
	vipInterface: eth0
	ipvs:
	  services:
	    - protocol: tcp
	      address: $VIP
	      port: 80
	      scheduler: rr
	      realServers:
	        - address: 203.0.113.11
	persist: {}
	YAML
    run_cmd networkctl --no-pager status eth0 || true
    expect_plan 2 $SPEC
    expect_contains "$plan_out" "10-eth0.network.d/90-lvs-converge.conf" "plan: eth0's settings as a drop-in of the host's file"
    expect_ok lvs-converge apply -f $SPEC
    run_cmd cat /etc/default/ipvsadm $DISTRO_FILES /etc/systemd/system/lvs-converge.service
    expect_contains "$(cat /etc/default/ipvsadm)" 'AUTO="true"' "Debian's ipvsadm restores at boot"
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
    expect_contains "$(systemctl show -p ActiveState -p Result lvs-converge.service)" "ActiveState=active" "the unit succeeded"
    expect_contains "$unit_log" "Apply complete:" "the unit's journal shows its apply, verified"
    expect_not_contains "$unit_log" "No changes." "the unit had work to do (the files were gone)"
    step "the unit ran after Debian's ipvsadm restore, which flushes the table (AUTO=\"true\")"
    run_cmd systemctl --no-pager show -p After -p ExecMainStartTimestampMonotonic lvs-converge.service
    run_cmd systemctl --no-pager show -p ActiveEnterTimestampMonotonic ipvsadm.service
    expect_contains "$(systemctl show -p After lvs-converge.service)" "ipvsadm.service" "the boot unit is ordered after ipvsadm.service"
    local restored started
    restored=$(systemctl show -P ActiveEnterTimestampMonotonic ipvsadm.service)
    started=$(systemctl show -P ExecMainStartTimestampMonotonic lvs-converge.service)
    expect_num "$restored" -le "$started" "ipvsadm.service active (restore done, µs) before the unit started (µs)"
    expect_plan 0 $SPEC
    expect_eth0_kept_and_vip
    run_cmd ipvsadm -Ln
    run_cmd ls -l $DISTRO_FILES
    fixtures
    expect_traffic $VIP rs1
    step "disable the boot unit: next boot only the distro's services read the files"
    expect_ok systemctl disable lvs-converge.service
    reboot_now
}

boot_3() {
    step "boot 3 (distro path): unit disabled; modules-load, networkd, Debian's ipvsadm"
    unit_report
    expect_contains "$(systemctl show -p ActiveState -p UnitFileState lvs-converge.service)" "ActiveState=inactive" "the unit did not run"
    expect_eq "$unit_log" "" "no journal for the unit this boot"
    run_cmd systemctl --no-pager status ipvsadm.service systemd-modules-load.service || true
    run_cmd networkctl --no-pager status eth0 || true
    expect_plan 0 $SPEC
    expect_eth0_kept_and_vip
    fixtures
    expect_traffic $VIP rs1
    step "negative control: remove /etc/ipvsadm.rules and the eth0 drop-in before the reboot"
    run_cmd rm -v /etc/ipvsadm.rules /etc/systemd/network/10-eth0.network.d/90-lvs-converge.conf
    reboot_now
}

boot_4() {
    step "boot 4 (negative control): no rules file, no IPVS service; no drop-in, no VIP; no traffic"
    run_out eth0_addrs ip -4 -o addr show dev eth0
    expect_contains "$eth0_addrs" "203.0.113.10/24" "eth0 keeps its own address (its own .network file)"
    expect_not_contains "$eth0_addrs" "$VIP" "without the drop-in nothing puts the VIP on eth0"
    expect_eq "$(ipvsadm -Sn)" "" "without the rules file the IPVS table is empty"
    expect_plan 2 $SPEC
    expect_contains "$plan_out" "/etc/ipvsadm.rules" "plan recreates the rules file"
    expect_contains "$plan_out" "$VIP:80" "plan adds the service"
    fixtures
    expect_no_traffic $VIP
}
