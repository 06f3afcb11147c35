#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit, golden and CLI tests with cargo, the Ansible
# module's host-side tests, the .deb, then every real-kernel scenario in the qemu lab (which
# installs what it needs from Debian's packages), then the real-OS scenarios (tests/lab/os:
# a Debian image with systemd, booted and rebooted; one installs the .deb and runs the
# Ansible collection). Run as root. Ends with "N passed, N failed" over both labs' scenarios;
# each phase says how long it took (target/run-all-times.log keeps the list).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
mkdir -p target
: >target/run-all-times.log
phase_name= phase_t0=$started
# phase "NAME": ends the previous phase (its time printed and logged), starts NAME.
phase() {
    local now
    now=$(date +%s)
    [[ -z $phase_name ]] || printf '%5ss  %s\n' "$((now - phase_t0))" "$phase_name" | tee -a target/run-all-times.log
    phase_name=$1 phase_t0=$now
    [[ -z $phase_name ]] || echo "== $phase_name"
}

phase "host packages (cargo tests import keepalived's own sample configs)"
LAB_PACKAGES_ONLY=1 tests/lab/lab.sh

# The static musl builds the labs need: the live netlink tests (run in the lab's VM) and
# the labs' lvs-converge with --features fault-injection, copied to target/lab-bin (the
# .deb's own build, without features, writes the same path under target/).
musl_builds() {
    local target=x86_64-unknown-linux-musl exe
    rustup target list --installed | grep -qx $target || rustup target add $target
    exe=$(cargo test --locked --release --target $target --lib --no-run --message-format=json 2>target/live-tests-build.log |
        grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | head -n1) || true
    [[ -x $exe ]] || { tail -n 40 target/live-tests-build.log; echo "could not build the live test binary"; return 1; }
    echo "$exe" >target/live-tests.path
    LAB_BUILD_ONLY=1 tests/lab/lab.sh
    install -D -m 0755 target/$target/release/lvs-converge target/lab-bin/lvs-converge
}

# They compile beside cargo test: cargo locks each build directory on its own (target/debug
# for the tests; target/release and target/x86_64-unknown-linux-musl/release for the musl
# builds), so both go ahead at once and fill each other's single-threaded stretches (one
# crate's front end, linking, the test runs).
# The background jobs (these builds, the .deb's below) each run in a process group of their
# own (set -m around the &: the group's id is the job's pid), so that when the script ends
# early (a failure, Ctrl-C) stop_background ends all they started: the cargo inside the
# $( ... ) and lab.sh's cargo build are grandchildren, which pkill -P did not reach, and
# they kept compiling and holding the musl build directory's lock for the next run.
musl_pid= deb_pid=
# background VAR COMMAND...: runs COMMAND in the background in its own process group; its
# pid (= the group's id) in VAR.
background() {
    local -n pid_var=$1
    shift
    set -m
    "$@" </dev/null &
    pid_var=$!
    set +m
}
stop_background() {
    local pg i
    for pg in $musl_pid $deb_pid; do kill -TERM -- "-$pg" 2>/dev/null || true; done
    for pg in $musl_pid $deb_pid; do
        # The whole group, not only its leader: cargo and rustc take a moment to go.
        for ((i = 0; i < 100; i++)); do
            kill -0 -- "-$pg" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pg" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop_background EXIT
# Ctrl-C or a TERM: exit, so that the EXIT trap above runs.
trap 'exit 130' INT
trap 'exit 143' TERM

phase "cargo test, and beside it the labs' musl builds (their log: target/musl-builds.log)"
rm -f target/live-tests.path
background musl_pid eval 'musl_builds >target/musl-builds.log 2>&1'
LVS_CONVERGE_REQUIRE_SAMPLES=1 cargo test --locked 2>&1

phase "the Ansible module on the host (unit tests, ansible-doc, sanity)"
tests/ansible/run.sh

phase "the labs' musl builds (what is left of them)"
if ! wait "$musl_pid"; then
    tail -n 40 target/musl-builds.log >&2
    echo "the labs' musl builds failed (log: target/musl-builds.log)" >&2
    exit 1
fi
musl_pid=
tail -n 3 target/musl-builds.log
export LAB_EXTRA_FILES="${LAB_EXTRA_FILES:-} $(cat target/live-tests.path):/usr/bin/lvs-converge-tests"
export LAB_BINARY=$PWD/target/lab-bin/lvs-converge

# The .deb (tests/lab/build-deb.sh: its own musl build without features, man pages,
# completions) is built beside the real-kernel lab, at the lowest priority: it takes the
# cores the lab's VMs leave idle (guests waiting on timers) and is ready for the OS lab,
# which alone needs it. Only the OS lab's run needs it (none when scenarios are named).
if (($# == 0)); then
    rm -f target/build-deb.path
    background deb_pid eval 'nice -n 19 tests/lab/build-deb.sh >target/build-deb.path 2>target/build-deb.log'
fi

phase "real-kernel lab"
status=0
tests/lab/lab.sh "$@" | tee target/lab-summary.log || status=$?
# Scenarios print "SKIPPED", the live tests "… checks skipped": in the lab's kernel nothing
# may be skipped, so either spelling fails the run.
if grep -qi "skipped" target/lab-logs/*.log 2>/dev/null; then
    echo "a lab scenario skipped its checks: $(grep -li skipped target/lab-logs/*.log)" >&2
    grep -i skipped target/lab-logs/*.log >&2
    status=1
fi

# After the lab: lab.sh wipes target/lab-logs (the OS lab's logs are in target/lab-logs/os).
# Only scenarios named on the command line: the OS lab runs when none is named.
if (($# == 0)); then
    phase "the .deb, built beside the lab (what is left of it)"
    if ! wait "$deb_pid"; then
        tail -n 40 target/build-deb.log >&2
        echo "tests/lab/build-deb.sh failed (log: target/build-deb.log): the OS lab's package scenario cannot run" >&2
        status=1
    fi
    deb_pid=
    tail -n1 target/build-deb.log
    phase "real-OS lab (Debian with systemd, networkd, cloud-init, the .deb and Ansible; real reboots)"
    os_status=0
    LAB_OS_DEB=$(cat target/build-deb.path) tests/lab/os/os-lab.sh | tee target/lab-os-summary.log || os_status=$?
    # died before its count (no image, no binary): one failure, so the count cannot pass
    tail -n1 target/lab-os-summary.log | grep -qE '^[0-9]+ passed, [0-9]+ failed$' ||
        echo "0 passed, 1 failed" >>target/lab-os-summary.log
    ((os_status == 0)) || status=$os_status
else
    : >target/lab-os-summary.log
fi
phase ""
echo "== cargo tests and labs took $(($(date +%s) - started))s"
# One count over both labs: each ends with "N passed, N failed".
tail -q -n1 target/lab-summary.log target/lab-os-summary.log |
    awk '$2 == "passed," && $4 == "failed" { p += $1; f += $3 } END { printf "%d passed, %d failed\n", p, f }'
exit $status
