#!/usr/bin/env bash
# Scale benchmark in the lab VM: lvs-converge side by side with ipvsadm, in ONE VM run
# (ratios from one run are comparable; absolute seconds across runs are not).
#
# Usage: tests/lab/bench.sh [CASE...]
#   CASE: [d]N[xR]: N tcp services x R tunnel real servers (R default 4); a leading "d"
#   makes it a director spec (role: director, a VIP per service on vipInterface eth0).
#   Default: 1000x4 10000x4 d1000x4 d10000x4. 50000x1 on request, last: ipvsadm -R alone
#   took over 240 s in a busy VM, and the next case's first run after that table was slow.
#
# Environment knobs (besides lab.sh's own: LAB_BINARY, LAB_NO_BUILD, ...):
#   BENCH_REPS=N       runs per measurement, the median is shown (default 3)
#   BENCH_SLOW=SECS    a run slower than this is not repeated (default 60)
#   BENCH_TIMEOUT=SECS per command; a case whose command times out is abandoned (default 240)
#   BENCH_THP=MODE     transparent huge pages in the VM (default madvise; Debian's kernel
#                      says always, which inflates every peak RSS; empty: leave it)
#   LAB_MEM=MiB        VM memory (default here 2048)
#   LAB_TIMEOUT=SECS   the whole VM (default here 3600)
#
# Prints the markdown table (also kept in target/bench-scale.md); the console log is
# target/bench-logs/bench_scale.log. Exit status non-zero if any case was not correct
# (apply's ipvsadm -Sn differs from ipvsadm -R's rules, plan does not exit 0, ...).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
DATA=$REPO/target/bench-data/lab
# its own log directory: lab.sh wipes the one it writes to, and the lab's logs stay
LOG_DIR=${LAB_LOG_DIR:-$REPO/target/bench-logs}

cases=("$@")
((${#cases[@]})) || cases=(1000x4 10000x4 d1000x4 d10000x4)

rm -rf "$DATA"
mkdir -p "$DATA"
names=()
for c in "${cases[@]}"; do
    [[ $c =~ ^(d?)([0-9]+)(x([0-9]+))?$ ]] || { echo "bench: bad case '$c' (want [d]N[xR], e.g. 10000x4, d1000x4)" >&2; exit 2; }
    director=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} r=${BASH_REMATCH[4]:-4}
    name=$director${n}x$r
    python3 "$REPO/tests/bench/gen.py" "$n" "$DATA/$name" ${director:+director} --reals "$r"
    rm -f "$DATA/$name/observed.yaml" # the VM reads its own kernel
    names+=("$name")
done
cat >"$DATA/settings" <<EOF
CASES="${names[*]}"
REPS=${BENCH_REPS:-3}
SLOW=${BENCH_SLOW:-60}
TIMEOUT=${BENCH_TIMEOUT:-240}
THP=${BENCH_THP-madvise}
EOF

if [[ ! -x /usr/bin/time ]]; then
    # lab.sh installs it too, but we name it in LAB_EXTRA_BINS before lab.sh runs
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
fi

rc=0
LAB_LOG_DIR=$LOG_DIR LAB_JOBS=1 LAB_MEM=${LAB_MEM:-2048} LAB_TIMEOUT=${LAB_TIMEOUT:-3600} \
    LAB_EXTRA_BINS="/usr/bin/time ${LAB_EXTRA_BINS:-}" \
    LAB_EXTRA_FILES="$DATA:/bench ${LAB_EXTRA_FILES:-}" \
    "$LAB_DIR/lab.sh" bench_scale || rc=$?

tr -d '\r' <"$LOG_DIR/bench_scale.log" | sed -n 's/^BENCH| \{0,1\}//p' >"$REPO/target/bench-scale.md"
echo
cat "$REPO/target/bench-scale.md"
exit "$rc"
