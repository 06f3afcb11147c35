# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Issue 18 (keepalived fidelity): for each fixture of tests/import/keepalived/, keepalived's
# own checker builds its table in a fresh namespace, and the spec `lvs-converge import`
# makes of the same file plans no change against that table: the import is what keepalived
# builds, refused values, non-breaking-space lines and groups included. `keepalived -t`
# shows the warnings the import's notes mirror. The byte order mark fixture is the one
# exception (import keeps the first block keepalived loses): only `keepalived -t`'s warning
# and the import's note are compared for it.
modprobe ip_vs
modprobe ipip

KA_DIR=/lab/import/keepalived
# fixture → a warning keepalived -t prints for it (the note import writes says the same)
declare -A warning=(
    [persistence-timeout-0]="persistence_timeout invalid"
    [virtual-server-weight]="Real server weight 2147483648 is outside range"
    [nbsp]="Unknown keyword"
    [fallbacks]="unknown [dr] routing method"
    [silent-changes]="ports don't match - resetting"
    [group]="cannot have IPv4, IPv6 and fwmark without family"
    [definitions]="Unknown keyword '\$PORT'"
)

import_matches_keepalived() {
    local fixture=$1 ns=ka_${1//-/_} conf=$KA_DIR/$1.conf rc=0
    step "$fixture: keepalived -t, keepalived's table, the import planned against it"
    run_out check keepalived -t -f "$conf" || true
    expect_contains "$check" "${warning[$fixture]}" "[$fixture] keepalived -t"
    _lab_ns_add "$ns"
    in_ns "$ns" keepalived --check --dont-fork --log-console --log-detail -f "$conf" \
        -p "/tmp/$ns.pid" -c "/tmp/$ns-check.pid" >"/tmp/$ns.log" 2>&1 &
    local ka_pid=$!
    run_out notes lvs-converge import --keepalived "$conf" -o "/tmp/$ns.yaml"
    expect_ok lvs-converge validate -f "/tmp/$ns.yaml"
    # keepalived adds its services a moment after it starts: wait until the plan is empty.
    plan_is_empty() { lvs-converge --netns "$ns" plan -f "/tmp/$ns.yaml" >/dev/null 2>&1; }
    wait_for 20 plan_is_empty || rc=$?
    run_in "$ns" ipvsadm -Sn
    if [[ $rc != 0 ]]; then
        cat "/tmp/$ns.yaml" "/tmp/$ns.log"
        run_in "$ns" true
        lvs-converge --netns "$ns" plan -f "/tmp/$ns.yaml" || true
    fi
    expect_eq "$rc" 0 "[$fixture] plan of the import against keepalived's own table"
    # The plan looks only at the services the spec declares: the counts show keepalived
    # built no others.
    run_out summary lvs-converge validate -f "/tmp/$ns.yaml"
    local services real_servers
    services=$(sed -n 's/.* \([0-9]*\) IPVS service(s).*/\1/p' <<<"$summary")
    real_servers=$(sed -n 's/.* \([0-9]*\) real server(s).*/\1/p' <<<"$summary")
    expect_eq "$(in_ns "$ns" ipvsadm -Sn | grep -c '^-A')" "$services" "[$fixture] services keepalived built"
    expect_eq "$(in_ns "$ns" ipvsadm -Sn | grep -c '^-a')" "$real_servers" "[$fixture] real servers keepalived built"
    kill "$ka_pid"
    wait "$ka_pid" || true
}

for fixture in persistence-timeout-0 virtual-server-weight nbsp fallbacks silent-changes group definitions; do
    import_matches_keepalived "$fixture"
done

step "a BOM: keepalived loses the first block; import skips the mark and says so"
run_out bom_check keepalived -t -f $KA_DIR/bom.conf || true
expect_contains "$bom_check" "Unknown keyword" "keepalived -t on a file with a BOM"
run_out bom_notes lvs-converge import --keepalived $KA_DIR/bom.conf -o /tmp/bom.yaml
expect_contains "$bom_notes" "byte order mark" "import note"
