# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 6: survive the reboot. The seed cluster converged with `persist:` on; each host
# (network namespace) gets its own /etc through --root. Then: files are untouched by a
# second apply; the live state, wiped, comes back from the rendered files with the
# standard tools only (the IPVS rules through plain `ipvsadm -R`); the boot unit's command converges a wiped host; a hand edit is
# planned exactly; a foreign file is refused without --take-over; a crash between the temp
# write and the rename leaves the old file.
VIP=203.0.113.100
SPEC=/tmp/cluster-persist.yaml
{
    cat /lab/examples/seed/cluster.yaml
    printf 'persist:\n  network: { format: networkd }\n'
} >$SPEC
HOSTS="director rs1 rs2"

topology_cluster
start_web rs1
start_web rs2

root_of() { echo "/tmp/root-$1"; }
# lvc NS ARGS...: lvs-converge for one host: its namespace and its own /etc.
lvc() {
    local ns=$1
    shift
    lvs-converge --netns "$ns" --root "$(root_of "$ns")" "$@"
}
# Every persistence file: path, sha256, mtime and inode (a rewrite by rename changes it).
file_state() {
    local f
    find /tmp/root-* -type f | sort | while read -r f; do
        echo "$f $(sha256sum <"$f" | cut -d' ' -f1) $(stat -c '%Y %i' "$f")"
    done
}
rs_sysctls() {
    local ns=$1 key
    for key in all.arp_ignore all.arp_announce lo.arp_ignore lo.arp_announce all.rp_filter tunl0.rp_filter; do
        echo "$key=$(in_ns "$ns" cat "/proc/sys/net/ipv4/conf/${key//.//}" 2>/dev/null || echo absent)"
    done
}
live_state() {
    echo "== director ipvs"
    in_ns director ipvsadm -Sn | sort
    local ns
    for ns in $HOSTS; do
        echo "== $ns addresses"
        ip -n "$ns" -o -4 addr show | sed 's/\\.*//' | sort
        echo "== $ns tunl0: $(ip -n "$ns" -o link show tunl0 2>/dev/null | grep -o '<[^>]*>' || echo absent)"
    done
    for ns in rs1 rs2; do
        echo "== $ns sysctls"
        rs_sysctls "$ns"
    done
}
# Wipe what the kernel would forget at reboot: IPVS table, VIPs, sysctls, tunl0 state,
# and the modules themselves (unloading ipip removes tunl0 and its sysctls everywhere).
wipe_live_state() {
    run_in director ipvsadm -C
    run_cmd ip -n director addr del $VIP/32 dev eth0
    local ns
    for ns in rs1 rs2; do
        run_cmd ip -n $ns addr del $VIP/32 dev lo
        ns_sysctl $ns net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 \
            net.ipv4.conf.lo.arp_ignore=0 net.ipv4.conf.lo.arp_announce=0 net.ipv4.conf.all.rp_filter=1
    done
    run_cmd modprobe -r ipip ip_vs_rr ip_vs || run_cmd lsmod
    run_cmd lsmod
    expect_not_contains "$(lsmod)" "ipip" "ipip unloaded (tunl0 gone)"
    expect_not_contains "$(lsmod)" "ip_vs " "ip_vs unloaded"
}

step "plan and apply the persisting cluster spec on every host"
for ns in $HOSTS; do
    rc=0
    run_out plan_$ns lvc $ns plan -f $SPEC --node $ns || rc=$?
    expect_eq "$rc" 2 "[$ns] plan exit code"
done
expect_contains "$plan_director" "+ file /etc/ipvsadm.rules" "director plans the IPVS rules file"
expect_contains "$plan_director" "+-A -t $VIP:80 -s rr" "director plan shows the file's content"
expect_contains "$plan_rs1" "+ file /etc/sysctl.d/90-lvs-converge.conf" "rs1 plans the sysctl drop-in"
expect_not_contains "$plan_rs1" "ipvsadm.rules" "a real server has no IPVS rules file"
for ns in $HOSTS; do expect_ok lvc $ns apply -f $SPEC --node $ns; done
for ns in $HOSTS; do
    run_cmd find "$(root_of $ns)" -type f
done
run_cmd cat /tmp/root-director/etc/ipvsadm.rules /tmp/root-rs1/etc/sysctl.d/90-lvs-converge.conf \
    /tmp/root-director/etc/systemd/network/90-lvs-converge-eth0.network /tmp/root-rs1/etc/systemd/system/lvs-converge.service
expect_eq "$(head -n1 /tmp/root-rs2/etc/modules-load.d/lvs-converge.conf)" "# Managed by lvs-converge (node rs2): changes here are overwritten." "header (no spec path)"
expect_eq "$(head -n1 /tmp/root-director/etc/ipvsadm.rules)" "--set 0 0 0" "rules file: the marker, no comment"
run_out converged live_state

step "(1) two more applies: every file byte-identical and untouched (mtime and inode)"
run_out files_before file_state
sleep 1.1
for round in 1 2; do
    for ns in $HOSTS; do
        run_out again lvc $ns apply -f $SPEC --node $ns
        expect_contains "$again" "No changes." "[$ns] apply $round"
    done
done
expect_eq "$(file_state)" "$files_before" "files (sha256, mtime, inode) after two applies"

step "(2) wipe the live state, restore it ONLY with standard tools from the rendered files"
wipe_live_state
rc=0
lvc rs1 plan -f $SPEC --node rs1 >/dev/null || rc=$?
expect_eq "$rc" 2 "[rs1] the wipe is drift"
echo "-- modules-load.d: modprobe each line (as systemd-modules-load does)"
for ns in $HOSTS; do
    grep -v '^#' "$(root_of $ns)/etc/modules-load.d/lvs-converge.conf" | while read -r module; do
        run_cmd modprobe "$module"
    done
done
echo "-- sysctl.d: sysctl -p FILE in each namespace (busybox sysctl)"
for ns in rs1 rs2; do run_in $ns sysctl -p "$(root_of $ns)/etc/sysctl.d/90-lvs-converge.conf"; done
echo "-- IPVS: plain ipvsadm -R < rules (no wrapper strips anything)"
run_cmd ip netns exec director sh -c 'ipvsadm -R < /tmp/root-director/etc/ipvsadm.rules'
echo "-- EMULATING systemd-networkd (it cannot run in this VM): a small parser applies the"
echo "   .network files' [Link] ActivationPolicy=up and [Address] Address=/Label= with ip(8)"
networkd_emulate() {
    local ns=$1 file name section line address label
    for file in "$(root_of $ns)"/etc/systemd/network/*.network; do
        name='' section='' address=''
        while IFS= read -r line || [[ -n $line ]]; do
            case $line in
                '#'* | '') ;;
                '['*) [[ -n $address ]] && ip -n $ns addr add "$address" dev "$name" ${label:+label "$label"}
                    address='' label='' section=$line ;;
                Name=*) name=${line#Name=} ;;
                ActivationPolicy=up) ip -n $ns link set "$name" up ;;
                Address=*) address=${line#Address=} ;;
                Label=*) label=${line#Label=} ;;
            esac
        done <"$file"
        [[ -n $address ]] && ip -n $ns addr add "$address" dev "$name" ${label:+label "$label"}
        echo "[$ns] applied $file"
    done
}
for ns in $HOSTS; do networkd_emulate $ns; done
run_out restored live_state
expect_eq "$restored" "$converged" "ipvsadm -Sn, addresses, tunl0 and sysctls after restoring from the files"
for ns in $HOSTS; do expect_ok lvc $ns plan -f $SPEC --node $ns; done
expect_both_real_servers_answer 6

step "(3) the boot unit's ExecStart on a wiped host converges it"
wipe_live_state
for ns in $HOSTS; do
    unit=$(root_of $ns)/etc/systemd/system/lvs-converge.service
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
    expect_eq "$exec_start" "/usr/bin/lvs-converge apply -f $SPEC --node $ns" "[$ns] ExecStart"
    expect_contains "$(cat "$unit")" "After=network-online.target" "[$ns] unit ordered after the network"
    # As systemd would run it (in the host's namespace); --root only because the three
    # lab hosts share one filesystem.
    # shellcheck disable=SC2086
    expect_ok ip netns exec $ns $exec_start --root "$(root_of $ns)"
done
for ns in $HOSTS; do expect_ok lvc $ns plan -f $SPEC --node $ns; done
expect_eq "$(live_state)" "$converged" "live state after the boot unit's command"
expect_eq "$(file_state)" "$files_before" "files untouched by the boot run"
expect_both_real_servers_answer 6

step "(4) a hand edit is planned exactly; apply restores the file and keeps the edit as backup"
conf=/tmp/root-rs1/etc/sysctl.d/90-lvs-converge.conf
run_cmd sed -i 's/^net.ipv4.conf.all.arp_announce = 2$/net.ipv4.conf.all.arp_announce = 1/' $conf
rc=0
run_out edited lvc rs1 plan -f $SPEC --node rs1 || rc=$?
expect_eq "$rc" 2 "[rs1] plan exit code after the hand edit"
expect_contains "$edited" "~ file /etc/sysctl.d/90-lvs-converge.conf" "the edited file is planned"
expect_contains "$edited" "-net.ipv4.conf.all.arp_announce = 1
      +net.ipv4.conf.all.arp_announce = 2" "exactly the edited line"
expect_eq "$(grep -c '^      [-+][^-+]' <<<"$edited")" 2 "diff lines (one removed, one added)"
expect_contains "$edited" "Plan: 0 to create, 1 to update, 0 to delete." "nothing else"
expect_ok lvc rs1 apply -f $SPEC --node rs1
expect_contains "$(cat $conf.lvs-converge.bak)" "net.ipv4.conf.all.arp_announce = 1" "backup holds the edited file"
expect_ok lvc rs1 plan -f $SPEC --node rs1

step "(4b) a file lvs-converge did not write (no header) is refused without --take-over"
mods=/tmp/root-director/etc/modules-load.d/lvs-converge.conf
echo ip_vs >$mods
rc=0
run_out foreign lvc director plan -f $SPEC --node director || rc=$?
expect_eq "$rc" 2 "plan exit code with a foreign file"
expect_contains "$foreign" "not owned (no lvs-converge header): apply will refuse without --take-over" "plan flags it"
rc=0
run_out refused lvc director apply -f $SPEC --node director || rc=$?
expect_eq "$rc" 1 "apply exit code"
expect_contains "$refused" "refusing to overwrite /etc/modules-load.d/lvs-converge.conf" "apply refuses"
expect_eq "$(cat $mods)" "ip_vs" "the foreign file is untouched"
expect_ok lvc director apply -f $SPEC --node director --take-over
expect_contains "$(head -n1 $mods)" "# Managed by lvs-converge" "taken over"
expect_eq "$(cat $mods.lvs-converge.bak)" "ip_vs" "the foreign file kept as backup"
expect_ok lvc director plan -f $SPEC --node director

step "(5) crash between the temp write and the rename: the old file stays intact"
rules=/tmp/root-director/etc/ipvsadm.rules
run_cmd sed -i 's/-s rr$/-s wlc/' $rules
old=$(sha256sum <$rules)
rc=0
run_out crashed env LVS_CONVERGE_FAULT=abort-at:file-before-rename lvs-converge --netns director \
    --root /tmp/root-director apply -f $SPEC --node director || rc=$?
expect_num "$rc" -ne 0 "apply aborted (exit $rc)"
expect_contains "$crashed" "fault injection: aborting at file-before-rename" "the fault struck"
expect_eq "$(sha256sum <$rules)" "$old" "ipvsadm.rules is the old file, intact"
run_cmd ls -la /tmp/root-director/etc/
expect_ok test -f /tmp/root-director/etc/.ipvsadm.rules.lvs-converge.tmp
rc=0
run_out after_crash lvc director plan -f $SPEC --node director || rc=$?
expect_eq "$rc" 2 "plan still shows the edit after the crash"
expect_contains "$after_crash" "Plan: 0 to create, 1 to update, 0 to delete." "only the rules file"
expect_ok lvc director apply -f $SPEC --node director
expect_ok lvc director plan -f $SPEC --node director
expect_eq "$(test -e /tmp/root-director/etc/.ipvsadm.rules.lvs-converge.tmp && echo left || echo gone)" gone "temp file"
expect_contains "$(cat $rules)" "-A -t $VIP:80 -s rr" "rules repaired"
