#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit, golden and CLI tests with cargo, then every
# real-kernel scenario in the qemu lab (which installs what it needs from Debian's
# packages). Run as root. Ends with the lab's "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
echo "== host packages (cargo tests import keepalived's own sample configs)"
LAB_PACKAGES_ONLY=1 tests/lab/lab.sh

echo "== cargo test"
LVS_CONVERGE_REQUIRE_SAMPLES=1 cargo test --locked 2>&1

echo "== live netlink tests, built for the lab VM"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
mkdir -p target
live_tests=$(cargo test --locked --release --target x86_64-unknown-linux-musl --lib --no-run --message-format=json 2>target/live-tests-build.log |
    grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | head -n1)
[[ -x $live_tests ]] || { tail -n 40 target/live-tests-build.log >&2; echo "could not build the live test binary" >&2; exit 1; }
export LAB_EXTRA_FILES="${LAB_EXTRA_FILES:-} $live_tests:/usr/bin/lvs-converge-tests"

echo "== real-kernel lab"
status=0
tests/lab/lab.sh "$@" | tee target/lab-summary.log || status=$?
# Scenarios print "SKIPPED", the live tests "… checks skipped": in the lab's kernel nothing
# may be skipped, so either spelling fails the run.
if grep -qi "skipped" target/lab-logs/*.log 2>/dev/null; then
    echo "a lab scenario skipped its checks: $(grep -li skipped target/lab-logs/*.log)" >&2
    grep -i skipped target/lab-logs/*.log >&2
    status=1
fi
echo "== cargo tests and lab took $(($(date +%s) - started))s"
tail -n1 target/lab-summary.log
exit $status
