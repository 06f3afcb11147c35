# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# lab-os-needs: deb ansible
# lab-os-boot-timeout: 900
# Issue #17's "Done when", on a fresh image, one boot, as a user would do it:
#   the package: `dpkg -i` the .deb (tests/lab/build-deb.sh); the man page, bash completion,
#     zsh/fish files, both units (shipped, not enabled), the docs; --version names the commit
#   the collection (/lab/ansible_collections/lvs_converge/lvs, a copy of ansible/) with
#   Debian's ansible-core, `connection: local`, examples/ansible/site.yml as it is:
#     --check --diff on the fresh host: changed=2, the plan's own diff, nothing changed
#       (ipvsadm -Sn, the addresses and /etc identical; no traffic)
#     for real: converged, traffic client → VIP → rs1; again: changed=0
#     a spec that would delete the service: failed without allow_delete, nothing changed
#     an apply the kernel refuses halfway (the lab's fault-injection build as `binary:`,
#       LVS_CONVERGE_FAULT=refuse-at-change:2 of two new real servers: the first is made,
#       then undone): failed, rolled_back: true, nothing changed
# Four ansible-playbook runs under TCG (a minute or two each on a loaded machine): the boot
# may take longer than os-lab.sh's default per-boot timeout, hence the header above.
# ansible-doc and the module's sanity are tests/ansible/run.sh's, on the host.
VIP=203.0.113.100
PLAYBOOK=/lab/examples/ansible/site.yml
INVENTORY=/lab/examples/ansible/inventory.ini
# ansible-core refuses a non-UTF-8 locale; minbase has no locales package but C.UTF-8.
export LC_ALL=C.UTF-8 ANSIBLE_COLLECTIONS_PATH=/lab ANSIBLE_NOCOLOR=1 MANPAGER=cat

# recap_sum FIELD OUTPUT: FIELD (changed, failed, ...) summed over the PLAY RECAP lines.
recap_sum() {
    awk -v f="$1" '/^PLAY RECAP/ { on = 1; next }
        on { for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[1] == f) n += kv[2] }
        END { print n + 0 }' <<<"$2"
}

# host_state: what "changes nothing" compares: the IPVS table and the addresses.
host_state() {
    ipvsadm -Sn
    ip -4 -o addr show | awk '{ print $2, $4 }'
}

# playbook RC [ARGS...]: ansible-playbook on the example as it is; its output in $play_out
playbook() {
    local want=$1 rc=0
    shift
    run_out play_out ansible-playbook -i $INVENTORY $PLAYBOOK "$@" || rc=$?
    expect_eq "$rc" "$want" "ansible-playbook $* exit code"
}

package_checks() {
    step "dpkg -i the .deb (over the lab's own /usr/bin/lvs-converge, removed first)"
    rm -f /usr/bin/lvs-converge
    local deb
    deb=$(echo /lab/deb/lvs-converge_*.deb)
    [[ -f $deb ]] || fail "no .deb in /lab/deb (os-lab.sh copies LAB_OS_DEB there)"
    expect_ok dpkg -i "$deb"
    run_out owner dpkg -S /usr/bin/lvs-converge
    expect_contains "$owner" "lvs-converge:" "the package owns /usr/bin/lvs-converge"
    local f
    for f in /usr/share/man/man1/lvs-converge.1.gz /usr/share/man/man1/lvs-converge-plan.1.gz \
        /usr/share/bash-completion/completions/lvs-converge /usr/share/zsh/vendor-completions/_lvs-converge \
        /usr/share/fish/vendor_completions.d/lvs-converge.fish /lib/systemd/system/lvs-converge.service \
        /lib/systemd/system/lvs-converge-agent.service /usr/share/doc/lvs-converge/README.md \
        /usr/share/doc/lvs-converge/CHANGELOG.md /usr/share/doc/lvs-converge/copyright; do
        [[ -s $f ]] || fail "the package did not install $f (dpkg -L lvs-converge lists what it did)"
        echo "ok: $f"
    done
    run_out docs find /usr/share/doc/lvs-converge/examples -name '*.yaml'
    expect_contains "$docs" "/usr/share/doc/lvs-converge/examples/seed/director.yaml" "the example specs are in the docs"

    step "lvs-converge --version names the commit the package was built from"
    run_out version lvs-converge --version
    expect_contains "$version" "commit $(cat /lab/deb/commit)" "--version"
    expect_contains "$version" ", built 20" "--version's build date"

    step "man lvs-converge and a subcommand's page (man-db, MANPAGER=cat)"
    run_out page man lvs-converge
    expect_contains "$page" "SYNOPSIS" "man lvs-converge"
    expect_contains "$page" "lvs-converge" "man lvs-converge"
    run_out page man lvs-converge-plan
    expect_contains "$page" "SYNOPSIS" "man lvs-converge-plan"

    step "bash completion: lvs-converge pl<TAB> gives plan (the installed file, its function)"
    # A fresh bash as a login shell would load it; COMP_* as readline sets them for "pl<TAB>".
    run_out words bash -c 'source /usr/share/bash-completion/completions/lvs-converge
        fn=$(complete -p lvs-converge | sed -n "s/.*-F \([^ ]*\).*/\1/p")
        [[ -n $fn ]] || { echo "no completion function registered for lvs-converge"; exit 1; }
        COMP_WORDS=(lvs-converge pl) COMP_CWORD=1 COMP_LINE="lvs-converge pl" COMP_POINT=15
        "$fn" lvs-converge pl lvs-converge
        printf "%s\n" "${COMPREPLY[@]}"'
    expect_eq "$words" "plan" "completions of 'lvs-converge pl'"

    step "both units shipped, neither enabled nor started"
    local u
    for u in lvs-converge.service lvs-converge-agent.service; do
        run_out unit systemctl --no-pager cat $u
        expect_contains "$unit" "/lib/systemd/system/$u" "systemctl cat $u"
        expect_contains "$unit" "ExecStart=" "systemctl cat $u"
        expect_eq "$(systemctl is-enabled $u || true)" disabled "$u enabled?"
        expect_eq "$(systemctl is-active $u || true)" inactive "$u active?"
    done
}

boot_1() {
    package_checks


    os_segment client=203.0.113.50 rs1=203.0.113.11
    os_real_server_ns rs1 $VIP
    expect_no_traffic $VIP

    step "check mode with --diff on the fresh host: changed=2, the plan's diff, nothing changed"
    local before marker=/tmp/before-check
    before=$(host_state)
    touch $marker
    playbook 0 --check --diff
    # Exactly the role's two tasks that change something (the spec's directory, the converge
    # task): the directory alone would pass ">= 1", whatever the module reported.
    expect_eq "$(recap_sum changed "$play_out")" 2 "check mode: changed tasks"
    expect_eq "$(recap_sum failed "$play_out")" 0 "check mode: failed tasks"
    # The plan's own diff (plan_diff: after_header "spec", keys "ACTION KIND ID"), not the
    # spec file's diff (headed by its path), which names the VIP on a fresh host anyway.
    expect_contains "$play_out" "+++ after: spec" "check mode prints the plan's diff"
    expect_contains "$play_out" "create ipvs service tcp $VIP:80" "the plan's diff creates the service"
    expect_eq "$(host_state)" "$before" "ipvsadm -Sn and the addresses after check mode"
    run_out written find /etc -newer $marker -type f
    expect_eq "$written" "" "files written under /etc by check mode"
    expect_no_traffic $VIP

    step "for real: converges, traffic flows"
    playbook 0
    expect_num "$(recap_sum changed "$play_out")" -ge 1 "first run: changed tasks"
    run_out table ipvsadm -Sn
    expect_contains "$table" "-A -t $VIP:80 -s rr" "the service"
    expect_contains "$table" "-a -t $VIP:80 -r 203.0.113.11:80 -i" "the real server, tunnelled"
    expect_traffic $VIP rs1
    expect_plan 0 /etc/lvs-converge/director.yaml

    step "second run: changed=0"
    playbook 0
    expect_eq "$(recap_sum changed "$play_out")" 0 "second run: changed tasks"
    expect_eq "$(recap_sum failed "$play_out")" 0 "second run: failed tasks"

    failures
}

# derive_spec FILE PYTHON: the spec the example playbook keeps on the host, changed by PYTHON
# (on `s`, the spec, and `svc`, its service), written to FILE and shown.
derive_spec() {
    python3 - "$@" <<-'PY'
	import sys, yaml
	s = yaml.safe_load(open('/etc/lvs-converge/director.yaml'))
	svc = s['ipvs']['services'][0]
	exec(sys.argv[2])
	yaml.safe_dump(s, open(sys.argv[1], 'w'), sort_keys=False)
	PY
    run_cmd cat "$1"
}

# The two failures of the Done-when, one playbook (one ansible start under TCG): each task
# ignores its error so the next runs; ansible prints each failed result as one line of
# JSON after "fatal: [localhost]: FAILED! => ", which jq reads.
failures() {
    step "the example's spec with the service moved to :8080 (prune: :80 deleted) without allow_delete, and with two more real servers, the second refused: rolled back"
    derive_spec /tmp/delete.yaml "svc['port'] = 8080; s['ipvs']['scope'] = {'addresses': [svc['address']], 'prune': True}"
    derive_spec /tmp/grow.yaml "svc['realServers'] += [{'address': '203.0.113.12'}, {'address': '203.0.113.13'}]"
    cat >/tmp/failures.yml <<-'YAML'
	- hosts: localhost
	  connection: local
	  gather_facts: false
	  tasks:
	    - name: a spec that would delete a service, allow_delete not set
	      lvs_converge.lvs.lvs_converge: { spec: /tmp/delete.yaml }
	      register: refused
	      ignore_errors: true
	    - name: the kernel refuses the second change (lab build, fault injection)
	      lvs_converge.lvs.lvs_converge: { spec: /tmp/grow.yaml, binary: /lab/bin/lvs-converge }
	      environment: { LVS_CONVERGE_FAULT: "refuse-at-change:2" }
	      register: rolled
	      ignore_errors: true
	YAML
    local before result
    before=$(host_state)
    run_out result ansible-playbook -i localhost, /tmp/failures.yml
    expect_eq "$(recap_sum ignored "$result")" 2 "failed tasks (ignored to run both)"
    # task N FILTER: jq's FILTER on the Nth (from 0) failed task's result (only failed tasks
    # print "fatal:", so both lines being there says both failed)
    task() { sed -n 's/^fatal: \[localhost\]: FAILED! => //p' <<<"$result" | jq -sc ".[$1] | $2"; }
    expect_eq "$(task 0 '.msg | test("allow_delete")')" true "the first task failed on the deletion"
    expect_eq "$(task 0 .changed)" false "without allow_delete: changed"
    expect_eq "$(task 0 .deletions)" "[\"tcp $VIP:80\"]" "the services it would delete"
    expect_eq "$(task 1 .rolled_back)" true "refused apply: rolled_back"
    expect_eq "$(task 1 .changed)" false "refused apply: changed"
    expect_eq "$(task 1 .rc)" 3 "refused apply: the tool's exit code"
    expect_eq "$(host_state)" "$before" "ipvsadm -Sn and the addresses after both failures"
    expect_traffic $VIP rs1
}
