#!/usr/bin/env bash
# Native, offline scale benchmark: `plan --observed` (CPU and memory only, no kernel) on
# N tcp services x 4 tunnel real servers, plain and with `role: director` (a VIP per
# service: one address and one local route each), for several N. Prints CPU seconds (user +
# system: plan is single-threaded, and CPU time stays true on a busy machine where wall time
# does not) and peak RSS (GNU time) per N, and the growth from one N to the next: a linear
# cost grows as N does.
#
# Usage: tests/bench/scale.sh [N...]          (default: 1000 10000 50000)
#   BENCH_BIN=PATH      the binary to measure (default: the lab's static musl release build,
#                       target/x86_64-unknown-linux-musl/release/lvs-converge, built if missing)
#   BENCH_REPS=N        runs per measurement, the median is shown (default 3)
#   BENCH_SLOW=SECS     a run slower than this is not repeated (default 20)
#   BENCH_TIMEOUT=SECS  per run; a slower one is stopped and shown as "> SECS s" (default 120)
# Every run must exit 0 (the snapshot is the converged host): a failing run stops the
# benchmark. Inputs are written by tests/bench/gen.py into target/bench-data/native/.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=$REPO/target/bench-data/native
BIN=${BENCH_BIN:-$REPO/target/x86_64-unknown-linux-musl/release/lvs-converge}
REPS=${BENCH_REPS:-3}
SLOW=${BENCH_SLOW:-20}
TIMEOUT=${BENCH_TIMEOUT:-120}
sizes=("$@")
((${#sizes[@]})) || sizes=(1000 10000 50000)

[[ -x /usr/bin/time ]] || { echo "scale: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
if [[ ! -x $BIN ]]; then
    [[ -z ${BENCH_BIN:-} ]] || { echo "scale: BENCH_BIN=$BIN is not executable" >&2; exit 2; }
    (cd "$REPO" && cargo build --release --target x86_64-unknown-linux-musl --features fault-injection >&2)
fi
mkdir -p "$DATA"

# measure DIR: "median_cpu_secs median_kib runs" of plan --observed; "timeout" if a run hit TIMEOUT
measure() {
    local dir=$1 i user sys secs kib rc out=$DATA/runs
    : >"$out"
    for ((i = 1; i <= REPS; i++)); do
        rc=0
        /usr/bin/time -f '%U %S %M' -o "$DATA/time" timeout "$TIMEOUT" \
            "$BIN" plan -f "$dir/spec.yaml" --observed "$dir/observed.yaml" >"$DATA/plan.out" 2>&1 || rc=$?
        if ((rc == 124)); then echo timeout; return; fi
        if ((rc != 0)); then
            echo "scale: plan --observed on $dir exited $rc, expected 0 (converged):" >&2
            head -n 20 "$DATA/plan.out" >&2
            exit 1
        fi
        read -r user sys kib <<<"$(tail -n 1 "$DATA/time")"
        secs=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
        echo "$secs $kib" >>"$out"
        awk -v s="$secs" -v l="$SLOW" 'BEGIN { exit !(s > l) }' && break
    done
    sort -n "$out" | awk '{ s[NR] = $1; k[NR] = $2 } END { m = int((NR + 1) / 2); print s[m], k[m], NR }'
}

declare -A cell
for mode in host director; do
    prev_secs=
    prev_n=
    stopped=
    for n in "${sizes[@]}"; do
        if [[ -n $stopped ]]; then
            cell[$mode,$n]="not run (a smaller N was stopped)"
            continue
        fi
        dir=$DATA/${mode:0:1}$n
        if [[ ! -f $dir/spec.yaml ]]; then
            python3 "$REPO/tests/bench/gen.py" "$n" "$dir" $([[ $mode == director ]] && echo director)
        fi
        # measure exits its own subshell on a failed run: stop here too, never print it as a cell
        result=$(measure "$dir") || exit 1
        read -r secs kib runs <<<"$result"
        if [[ $secs == timeout ]]; then
            cell[$mode,$n]="> $TIMEOUT s"
            stopped=1
        else
            mark=
            ((runs >= REPS)) || mark="¹"
            [[ $runs == 1 || $runs -ge $REPS ]] || mark="²"
            growth=
            [[ -n $prev_secs ]] && growth=$(awk -v a="$secs" -v b="$prev_secs" -v n="$n" -v p="$prev_n" \
                'BEGIN { if (b > 0) printf ", %.1f× for %.0f× N", a / b, n / p }')
            cell[$mode,$n]=$(awk -v s="$secs" -v k="$kib" -v m="$mark" -v g="$growth" \
                'BEGIN { printf "%.2f s%s / %.0f MiB%s", s, m, k / 1024, g }')
            prev_secs=$secs
        fi
        prev_n=$n
        echo "  $mode $n: ${cell[$mode,$n]}" >&2
    done
done

fmt_n() { local n=$1; ((n % 1000 == 0)) && echo "$((n / 1000))k" || echo "$n"; }
line="| \`plan --observed\`, N services × 4 real servers |"
sep="|---|"
for n in "${sizes[@]}"; do line+=" N = $(fmt_n "$n") |"; sep+="---|"; done
echo "$line"
echo "$sep"
for mode in host director; do
    line="| $([[ $mode == host ]] && echo 'no role' || echo '`role: director` (a VIP per service)') |"
    for n in "${sizes[@]}"; do line+=" ${cell[$mode,$n]} |"; done
    echo "$line"
done
echo
echo "$("$BIN" --version), $(uname -m), $(nproc) cores; CPU seconds, user + system (median of $REPS; ¹ one run, ² two: a run over $SLOW s is not repeated) / peak RSS (GNU time %M); \"> $TIMEOUT s\": stopped."
