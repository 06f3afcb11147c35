# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Scale benchmark (issue 12), run by tests/lab/bench.sh, never by the default lab run:
# lvs-converge side by side with ipvsadm in this one VM, on the tables tests/bench/gen.py
# wrote into /bench/<case>/{spec.yaml,rules}. Every timed command runs under GNU time
# (seconds, peak RSS) and a timeout; the medians go into a markdown table, printed as
# "BENCH| " lines that bench.sh cuts out of the console log. A case whose runs are not
# correct (apply's table differs from ipvsadm -R's, plan does not exit 0) fails the run:
# numbers of a failing run would be worthless.
#
# /bench/settings (written by bench.sh): CASES="1000x4 d1000x4 ...", REPS, SLOW (a run
# slower than this many seconds is not repeated), TIMEOUT (seconds per command; a case
# whose command times out is abandoned and its remaining cells say so), THP (transparent
# huge pages mode to set, empty: the kernel's).

# shellcheck source=/dev/null
source /bench/settings

BENCH_DIR=/tmp/bench-runs
mkdir -p "$BENCH_DIR"

# Transparent huge pages: Debian's kernel says "always", which rounds every heap growth up
# to 2 MiB and so measures the allocator's mmap pattern as much as the program's memory
# (ipvsadm -Sn at 100 services: 8 MiB). "madvise" (most hosts; this machine's) by default.
THP_FILE=/sys/kernel/mm/transparent_hugepage/enabled
[[ -z $THP ]] || echo "$THP" >"$THP_FILE"
thp_mode=$(sed 's/.*\[\(.*\)\].*/\1/' "$THP_FILE")

# Everything is loaded before the clock starts, so that neither side pays for it.
modprobe ip_vs
modprobe ip_vs_wlc
modprobe ipip
modprobe tunnel4
# The director cases' vipInterface; the real servers (192.0.R.x) are on its /16.
ip link add eth0 type dummy
ip link set eth0 up

reset_host() {
    ipvsadm -C
    ip addr flush dev eth0
    ip addr add 192.0.1.254/16 dev eth0
}

# timed LABEL CMD...: one run under GNU time and the timeout; appends "secs rss_kib" to
# $BENCH_DIR/LABEL and sets $timed_rc. Standard output goes to $BENCH_DIR/LABEL.out.
timed() {
    local label=$1
    shift
    timed_rc=0
    /usr/bin/time -f '%e %M' -o "$BENCH_DIR/time" timeout "$TIMEOUT" "$@" >"$BENCH_DIR/$label.out" 2>"$BENCH_DIR/$label.err" || timed_rc=$?
    local secs rss
    read -r secs rss <<<"$(tail -n 1 "$BENCH_DIR/time")"
    printf '    %-28s %7.2f s %8d KiB  exit %d\n' "$label" "$secs" "$rss" "$timed_rc"
    if awk -v s="$secs" -v t="$TIMEOUT" 'BEGIN { exit !(s >= t - 0.5) }'; then
        # a stopped run is no measurement: its cell says "timeout", not its seconds
        timed_out=1
        touch "$BENCH_DIR/$label.timeout"
        return 0
    fi
    echo "$secs $rss" >>"$BENCH_DIR/$label"
}

# repeat LABEL PREPARE EXPECTED_RC CMD...: REPS runs of CMD (PREPARE, a function name or
# "true", before each, not timed); stops early after a run slower than SLOW. Every run must
# exit EXPECTED_RC.
repeat() {
    local label=$1 prepare=$2 want=$3 i
    shift 3
    rm -f "$BENCH_DIR/$label" "$BENCH_DIR/$label.timeout"
    [[ -z $timed_out ]] || return 0
    for ((i = 1; i <= REPS; i++)); do
        "$prepare"
        timed "$label" "$@"
        if [[ -n $timed_out ]]; then
            echo "    $label: timed out after ${TIMEOUT}s; the rest of this case is abandoned"
            return 0
        fi
        ((timed_rc == want)) || fail "$label: exit $timed_rc, expected $want: $(head -c 2000 "$BENCH_DIR/$label.err")"
        awk -v s="$(tail -n 1 "$BENCH_DIR/$label" | cut -d' ' -f1)" -v l="$SLOW" 'BEGIN { exit !(s > l) }' && break
    done
    return 0
}

# median LABEL COLUMN(1 secs, 2 KiB): the median of the runs, empty if none
median() {
    [[ -s $BENCH_DIR/$1 ]] || return 0
    sort -n -k"$2,$2" "$BENCH_DIR/$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}
runs() { [[ -s $BENCH_DIR/$1 ]] && wc -l <"$BENCH_DIR/$1" || echo 0; }

# Table cells. A median of fewer than REPS runs is marked "¹" (one run) or "²"; "–": not
# run, since an earlier command of the case timed out.
secs_cell() {
    local m n mark=''
    [[ ! -e $BENCH_DIR/$1.timeout ]] || { echo "timeout (>${TIMEOUT} s)"; return; }
    m=$(median "$1" 1)
    [[ -n $m ]] || { echo "–"; return; }
    n=$(runs "$1")
    ((n >= REPS)) || { [[ $n == 1 ]] && mark='¹' || mark='²'; }
    printf '%.2f s%s' "$m" "$mark"
}
ratio() { # ratio A B [OF]: A's median over B's, as " (0.73×)" or " (0.73× OF)"
    local a b of=${3:+ $3}
    a=$(median "$1" 1)
    b=$(median "$2" 1)
    [[ -n $a && -n $b ]] || return 0
    awk -v a="$a" -v b="$b" -v of="$of" 'BEGIN { if (b > 0) printf " (%.2f×%s)", a / b, of }'
}
mib() { # mib LABEL: median peak RSS in MiB
    local k
    k=$(median "$1" 2)
    [[ -n $k ]] && awk -v k="$k" 'BEGIN { printf "%.0f MiB", k / 1024 }' || echo "–"
}

# same_table CASE WHAT: ipvsadm -Sn (sorted) is the case's rules file (sorted); on a
# mismatch only the first differences are printed (the console is slow for 40,000 lines)
same_table() {
    sort "/bench/$1/rules" >"$BENCH_DIR/want"
    ipvsadm -Sn | sort >"$BENCH_DIR/got"
    if ! cmp -s "$BENCH_DIR/want" "$BENCH_DIR/got"; then
        diff "$BENCH_DIR/want" "$BENCH_DIR/got" | head -n 20 || true
        fail "$1: $2: ipvsadm -Sn differs from the rules ($(wc -l <"$BENCH_DIR/got") lines, want $(wc -l <"$BENCH_DIR/want"))"
    fi
    echo "ok: $1: $2: ipvsadm -Sn equals the rules ($(wc -l <"$BENCH_DIR/got") lines)"
}

declare -A cell
run_case() {
    local c=$1 dir=/bench/$1 director=
    [[ $c == d* ]] && director=1
    timed_out=
    local spec=$dir/spec.yaml
    local services reals
    services=$(grep -c '^-A ' "$dir/rules")
    reals=$(grep -c '^-a ' "$dir/rules")
    step "case $c: $services services, $reals real servers${director:+, role: director (a VIP per service on eth0)}"

    echo "  ipvsadm -R < rules, from an empty table"
    reset_host
    # exec: GNU time measures ipvsadm itself, reading the file as its standard input
    repeat ipvsadm_restore reset_host 0 sh -c 'exec ipvsadm -R <"$1"' sh "$dir/rules"
    if [[ -z $timed_out ]]; then
        same_table "$c" "after ipvsadm -R"
    fi

    echo "  lvs-converge apply, from an empty table"
    repeat apply_empty reset_host 0 lvs-converge apply -f "$spec"
    if [[ -z $timed_out ]]; then
        grep -E 'Apply complete|Plan:' "$BENCH_DIR/apply_empty.out" || true
        same_table "$c" "after lvs-converge apply"
        if [[ -n $director ]]; then
            expect_eq "$(ip -4 -o addr show dev eth0 | wc -l)" "$((services + 1))" "$c: addresses on eth0 (a VIP per service)"
            expect_eq "$(ip -4 route show table local dev eth0 type local | wc -l)" "$((services + 1))" "$c: local routes on eth0"
        fi
    fi

    echo "  converged: ipvsadm -Sn, lvs-converge plan (exit 0), lvs-converge show"
    repeat ipvsadm_save true 0 ipvsadm -Sn
    repeat plan true 0 lvs-converge plan -f "$spec"
    repeat show true 0 lvs-converge show

    echo "  one weight changed out of band (ipvsadm -e), then apply"
    local edit
    edit=$(sed -n '/^-a /{s/^-a/-e/;s/-w [0-9]*/-w 9/;p;q}' "$dir/rules")
    # shellcheck disable=SC2086  # the rules line is split into ipvsadm's arguments
    drift() { ipvsadm $edit; }
    repeat apply_one drift 0 lvs-converge apply -f "$spec" --format json
    local writes=–
    if [[ -z $timed_out ]]; then
        writes=$(jq -r '[.. | objects | select(has("netlink_writes")) | .netlink_writes] | first // "n/a"' "$BENCH_DIR/apply_one.out")
        expect_eq "$(jq -r '.changes' "$BENCH_DIR/apply_one.out")" true "$c: apply after the drift changed something"
        expect_ok lvs-converge plan -f "$spec"
        same_table "$c" "after repairing the drift"
    fi
    echo "    netlink writes of that apply: $writes"

    local r=ipvsadm_restore
    cell[$c,restore]=$(secs_cell $r)
    cell[$c,apply]="$(secs_cell apply_empty)$(ratio apply_empty $r)"
    cell[$c,save]=$(secs_cell ipvsadm_save)
    cell[$c,plan]="$(secs_cell plan)$(ratio plan ipvsadm_save)"
    cell[$c,show]=$(secs_cell show)
    local writes_cell=", $writes netlink writes"
    [[ $writes == 1 ]] && writes_cell=", 1 netlink write"
    [[ $writes == n/a ]] && writes_cell=", netlink writes n/a"
    [[ $writes == – ]] && writes_cell=
    cell[$c,one]="$(secs_cell apply_one)$(ratio apply_one plan plan)$writes_cell"
    cell[$c,rss]="$(mib plan) / $(mib apply_empty) (ipvsadm -Sn: $(mib ipvsadm_save))"
    reset_host
}

step "scale benchmark: $(uname -r), $(nproc) vCPU, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), $(lvs-converge --version)"
echo "transparent huge pages: $thp_mode"
echo "cases: $CASES; medians of $REPS (a run over ${SLOW}s is not repeated); timeout ${TIMEOUT}s per command"
# GNU time's floor here: what it reports for a program that does nothing
/usr/bin/time -f '%M' -o "$BENCH_DIR/floor" true
rss_floor=$(awk '{ printf "%.1f MiB", $1 / 1024 }' "$BENCH_DIR/floor")
echo "peak RSS GNU time reports for \`true\`: $rss_floor"
for c in $CASES; do run_case "$c"; done

header() { # case name as the table's column head: "10k × 4", "director 1k × 4"
    local c=$1 d='' n r
    [[ $c == d* ]] && { d='director '; c=${c#d}; }
    n=${c%x*}
    r=${c#*x}
    ((n % 1000 == 0)) && n="$((n / 1000))k"
    printf '%s%s × %s' "$d" "$n" "$r"
}
row() { # row TITLE KEY
    local line="| $1 |" c
    for c in $CASES; do line+=" ${cell[$c,$2]} |"; done
    echo "BENCH| $line"
}
line="| |"
sep="|---|"
for c in $CASES; do
    line+=" $(header "$c") |"
    sep+="---|"
done
echo
echo "BENCH| $line"
echo "BENCH| $sep"
row '`ipvsadm -R < rules` from empty' restore
row '`lvs-converge apply` from empty' apply
row '`ipvsadm -Sn` converged' save
row '`lvs-converge plan` converged (exit 0)' plan
row '`lvs-converge show`' show
row 'one weight changed out of band: `apply`, netlink writes' one
row 'peak RSS plan / apply (GNU time)' rss
echo "BENCH| "
echo "BENCH| $(uname -r), qemu TCG $(nproc) vCPU, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), transparent huge pages $thp_mode; medians of $REPS runs (¹ one run, ² two: a run over ${SLOW} s is not repeated; –: not run, an earlier command of the case timed out); ratios: apply to \`ipvsadm -R\`, plan to \`ipvsadm -Sn\`, the one-change apply to plan; GNU time reports $rss_floor for \`true\`."
