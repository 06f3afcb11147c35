# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# lab-os-seed: examples/cloud-init
# cloud-init NoCloud first boot: the seed disk (label CIDATA) holds examples/cloud-init's
# user-data and meta-data as they are. Its write_files puts the director spec in place, its
# runcmd applies it and enables the boot unit apply wrote (persist: the unit only).
#   boot 1: cloud-init converged the host through runcmd; the unit did not run
#   boot 2: the same instance: runcmd did not run again; the unit converged the host
SPEC=/etc/lvs-converge/director.yaml
VIP=203.0.113.100

fixtures() {
    os_segment client=203.0.113.50 rs1=203.0.113.11
    os_real_server_ns rs1 $VIP
}

runcmd_applies() { grep -c "Apply complete:" /var/log/cloud-init-output.log || true; }

boot_1() {
    step "boot 1: cloud-init's first boot converged the host"
    run_cmd cloud-init status --long || true
    expect_contains "$(cloud-init status)" "status: done" "cloud-init finished"
    run_cmd cat /run/cloud-init/ds-identify.log | tail -n 5 || true
    expect_eq "$(cat /var/lib/cloud/data/instance-id)" lvs-director-1 "NoCloud instance from the seed"
    run_cmd cat /var/log/cloud-init-output.log
    expect_eq "$(runcmd_applies)" 1 "runcmd's apply reported 'Apply complete:' once"
    expect_eq "$(systemctl is-enabled lvs-converge.service)" enabled "runcmd enabled the boot unit"
    unit_report
    expect_eq "$unit_log" "" "the unit did not run this boot (runcmd converged)"
    expect_plan 0 $SPEC
    fixtures
    expect_traffic $VIP rs1
    reboot_now
}

boot_2() {
    step "boot 2: same instance, runcmd not again; the boot unit converged the host"
    expect_contains "$(cloud-init status)" "status: done" "cloud-init finished"
    run_cmd ls -l --time-style=+%T /var/lib/cloud/instance/sem/
    expect_eq "$(runcmd_applies)" 1 "cloud-init-output.log still holds one apply: runcmd ran once per instance"
    unit_report
    expect_contains "$unit_log" "Apply complete:" "the unit's apply converged the host this boot"
    run_cmd systemctl --no-pager list-dependencies --after lvs-converge.service | head -n 20
    expect_plan 0 $SPEC
    fixtures
    expect_traffic $VIP rs1
}
