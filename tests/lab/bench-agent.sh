#!/usr/bin/env bash
# Agent benchmark in the lab VM (issue 15): `lvs-converge agent` checking N real servers
# every 2 s through the tunnel; its RSS (VmRSS, VmHWM) and CPU over SECS seconds, from /proc.
# Never part of the default lab run (scenarios-bench/ runs only when named).
#
# Usage: tests/lab/bench-agent.sh
# Environment knobs (besides lab.sh's own: LAB_BINARY, LAB_NO_BUILD, ...):
#   BENCH_AGENT_N=N        real servers (default 100)
#   BENCH_AGENT_SECS=SECS  measured seconds per check kind (default 60)
#   BENCH_AGENT_KINDS="http tcp"   check kinds, one agent run each (default both)
# Prints the markdown table (also kept in target/bench-agent.md); the console log is
# target/bench-logs/bench_agent.log. Under TCG every instruction costs 10-50x native:
# the CPU column is an upper bound of what a real director spends.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
DATA=$REPO/target/bench-data/agent
LOG_DIR=${LAB_LOG_DIR:-$REPO/target/bench-logs}

rm -rf "$DATA"
mkdir -p "$DATA"
cat >"$DATA/settings" <<EOF2
N=${BENCH_AGENT_N:-100}
SECS=${BENCH_AGENT_SECS:-60}
KINDS="${BENCH_AGENT_KINDS:-http tcp}"
EOF2

rc=0
LAB_LOG_DIR=$LOG_DIR LAB_JOBS=1 LAB_TIMEOUT=${LAB_TIMEOUT:-900} \
    LAB_EXTRA_FILES="$DATA:/bench-agent ${LAB_EXTRA_FILES:-}" \
    "$LAB_DIR/lab.sh" bench_agent || rc=$?

tr -d '\r' <"$LOG_DIR/bench_agent.log" | sed -n 's/^BENCH| \{0,1\}//p' >"$REPO/target/bench-agent.md"
echo
cat "$REPO/target/bench-agent.md"
exit "$rc"
