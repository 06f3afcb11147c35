# Helpers for lab scenarios. Sourced by run-scenario.sh inside the VM, under
# `set -Eeuo pipefail`. Everything prints to the console, which the host
# keeps as target/lab-logs/<scenario>.log.
#
# Output & commands
#   step "text"              visible step header
#   run_cmd CMD...           echo "$ CMD", run it, show its output (status kept)
#   run_in NS CMD...         same, inside netns NS ("[NS]$ CMD")
#   run_out VAR CMD...       like run_cmd, and keep the output in $VAR
#   in_ns NS CMD...          ip netns exec NS CMD... (quiet)
#   wait_for SECS CMD...     retry CMD every 0.1 s until it succeeds or SECS pass
# Checks (all exit the scenario with LAB-FAIL on mismatch)
#   fail MSG
#   expect_eq ACTUAL EXPECTED WHAT
#   expect_contains HAYSTACK NEEDLE WHAT / expect_not_contains ...
#   expect_num A OP B WHAT   OP: -eq -ne -lt -le -gt -ge (integers)
#   expect_ok CMD... / expect_fail CMD...   exit status of CMD
# Network
#   topology_single          netns "director": lo up, dummy0 192.0.2.10/24 up
#   topology_cluster         client/router/director/rs1/rs2, IPv4 and IPv6, see below
#   start_web NS             busybox httpd on :80 in NS, serving /index.html
#                            (= "NS") and /big.bin (64 KiB)
#   http_get NS HOST [PORT] [PATH]   body of GET http://HOST:PORT/PATH from NS (HOST IPv4
#                            or IPv6; HTTP_WAIT=SECS for the connection, default 3)
#   ns_mac NS IF             MAC of IF in NS
#   ns_stat NS IF COUNTER    /sys/class/net/IF/statistics/COUNTER in NS
#   ns_sysctl NS KEY=VAL...  sysctl -w inside NS
# IPVS tables as apply's reports name them
#   ipvs_objects NS          one line per service, real server and the timeouts of NS's
#                            table: "<kind> <id><TAB><ipvsadm line>", ids as in apply's JSON
#   changed_objects A B      ids whose line differs between two ipvs_objects outputs
# Locks
#   hold_lock FILE PID SECS  in the background, write PID into the lock FILE and hold it
#                            (flock) for SECS, as another apply would; sets $holder

LAB_STEP=0

_lab_q() { # shell-quote argv for display
    local out='' a
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then out+=" $a"; else out+=" $(printf '%q' "$a")"; fi
    done
    printf '%s' "${out# }"
}

lab_on_err() {
    local rc=$1 file=$2 line=$3 cmd=$4
    echo "LAB-FAIL: command failed (exit $rc) at ${file#/lab/}:$line: $cmd"
}

step() {
    LAB_STEP=$((LAB_STEP + 1))
    printf '\n=== [%d] %s  (t=%ss)\n' "$LAB_STEP" "$*" "$(cut -d' ' -f1 /proc/uptime)"
}

fail() {
    echo "LAB-FAIL: $*"
    exit 1
}

run_cmd() {
    echo "\$ $(_lab_q "$@")"
    "$@" 2>&1
}

in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

run_in() {
    local ns=$1
    shift
    echo "[$ns]\$ $(_lab_q "$@")"
    ip netns exec "$ns" "$@" 2>&1
}

# run_out VAR CMD...  (use "run_out VAR in_ns NS cmd..." for a namespace)
run_out() {
    local __var=$1 __out __rc=0
    shift
    echo "\$ $(_lab_q "$@")"
    __out=$("$@" 2>&1) || __rc=$?
    [[ -z $__out ]] || printf '%s\n' "$__out"
    printf -v "$__var" '%s' "$__out"
    return "$__rc"
}

wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@"
}

expect_eq() {
    local actual=$1 expected=$2 what=${3:-value}
    [[ $actual == "$expected" ]] || fail "$what: expected '$expected', got '$actual'"
    echo "ok: $what = $expected"
}

expect_contains() {
    local hay=$1 needle=$2 what=${3:-output}
    [[ $hay == *"$needle"* ]] || fail "$what: expected to contain '$needle'; got: $hay"
    echo "ok: $what contains '$needle'"
}

expect_not_contains() {
    local hay=$1 needle=$2 what=${3:-output}
    [[ $hay != *"$needle"* ]] || fail "$what: expected NOT to contain '$needle'; got: $hay"
    echo "ok: $what does not contain '$needle'"
}

expect_num() {
    local a=$1 op=$2 b=$3 what=${4:-number}
    [[ $a =~ ^-?[0-9]+$ && $b =~ ^-?[0-9]+$ ]] || fail "$what: not integers: '$a' $op '$b'"
    test "$a" "$op" "$b" || fail "$what: expected $a $op $b"
    echo "ok: $what ($a $op $b)"
}

expect_ok() {
    local rc=0
    run_cmd "$@" || rc=$?
    ((rc == 0)) || fail "expected success, got exit $rc: $(_lab_q "$@")"
}

expect_fail() {
    local rc=0
    run_cmd "$@" || rc=$?
    ((rc != 0)) || fail "expected failure, got exit 0: $(_lab_q "$@")"
    echo "ok: failed as expected (exit $rc)"
}

ns_mac() { in_ns "$1" cat "/sys/class/net/$2/address"; }
ns_stat() { in_ns "$1" cat "/sys/class/net/$2/statistics/$3"; }

ns_sysctl() {
    local ns=$1 kv
    shift
    for kv in "$@"; do
        in_ns "$ns" sh -c "echo '${kv#*=}' > /proc/sys/$(echo "${kv%%=*}" | tr . /)" ||
            fail "[$ns] sysctl $kv"
    done
}

_lab_ns_add() {
    local ns
    for ns in "$@"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
}

topology_single() {
    step "topology: single namespace 'director'"
    _lab_ns_add director
    ip -n director -b - <<-EOF
	link add dummy0 type dummy
	addr add 192.0.2.10/24 dev dummy0
	link set dummy0 up
	EOF
    run_in director ip -br addr
}

# 203.0.113.0/24 and 2001:db8:1::/64 on bridge lab0 (root namespace):
#   client 203.0.113.50 ::50, director .10 ::10, rs1 .11 ::11, router .1 ::1  (eth0 each)
# 198.51.100.0/24 and 2001:db8:2::/64 point to point: router eth1 .1 ::1 <-> rs2 eth0 .22 ::22
# Default routes (both families) via the router; the router forwards both. No LVS bits.
# The IPv6 addresses are nodad: usable at once, no 1 s of duplicate address detection.
# (ip -n / ip -b keep the number of exec()s down: each costs ~0.1 s in TCG.)
topology_cluster() {
    step "topology: client, router, director, rs1 on 203.0.113.0/24; rs2 behind router on 198.51.100.0/24"
    _lab_ns_add client router director rs1 rs2
    local ns
    ip -b - <<-EOF
	link add lab0 type bridge forward_delay 0 stp_state 0
	link set lab0 up
	link add lab-client type veth peer name eth0 netns client
	link add lab-director type veth peer name eth0 netns director
	link add lab-rs1 type veth peer name eth0 netns rs1
	link add lab-router type veth peer name eth0 netns router
	link set lab-client master lab0 up
	link set lab-director master lab0 up
	link set lab-rs1 master lab0 up
	link set lab-router master lab0 up
	link add eth1 netns router type veth peer name eth0 netns rs2
	EOF
    ip -n client -b - <<-EOF
	addr add 203.0.113.50/24 dev eth0
	addr add 2001:db8:1::50/64 dev eth0 nodad
	link set eth0 up
	route add default via 203.0.113.1
	route add ::/0 via 2001:db8:1::1
	EOF
    ip -n director -b - <<-EOF
	addr add 203.0.113.10/24 dev eth0
	addr add 2001:db8:1::10/64 dev eth0 nodad
	link set eth0 up
	route add default via 203.0.113.1
	route add ::/0 via 2001:db8:1::1
	EOF
    ip -n rs1 -b - <<-EOF
	addr add 203.0.113.11/24 dev eth0
	addr add 2001:db8:1::11/64 dev eth0 nodad
	link set eth0 up
	route add default via 203.0.113.1
	route add ::/0 via 2001:db8:1::1
	EOF
    ip -n router -b - <<-EOF
	addr add 203.0.113.1/24 dev eth0
	addr add 2001:db8:1::1/64 dev eth0 nodad
	link set eth0 up
	addr add 198.51.100.1/24 dev eth1
	addr add 2001:db8:2::1/64 dev eth1 nodad
	link set eth1 up
	EOF
    ip -n rs2 -b - <<-EOF
	addr add 198.51.100.22/24 dev eth0
	addr add 2001:db8:2::22/64 dev eth0 nodad
	link set eth0 up
	route add default via 198.51.100.1
	route add ::/0 via 2001:db8:2::1
	EOF
    ns_sysctl router net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

    # Reachability before anything else: every host reaches the router,
    # and the client reaches rs2 through it.
    local target
    for ns in client director rs1; do
        wait_for 5 in_ns "$ns" ping -c1 -W1 203.0.113.1 >/dev/null ||
            fail "topology: $ns cannot reach the router"
    done
    for target in 198.51.100.22 203.0.113.10 203.0.113.11 2001:db8:2::22 2001:db8:1::10 2001:db8:1::11; do
        wait_for 5 in_ns client ping -c1 -W1 "$target" >/dev/null ||
            fail "topology: client cannot reach $target"
    done
    for ns in client router director rs1 rs2; do
        echo "[$ns] $(ip -n "$ns" -br addr show scope global | tr -s ' ' | tr '\n' ' ')"
    done
}

start_web() {
    local ns=$1 dir=/tmp/www-$1
    mkdir -p "$dir"
    echo "$ns" >"$dir/index.html"
    head -c 65536 /dev/zero | tr '\0' 'x' >"$dir/big.bin"
    in_ns "$ns" busybox httpd -p 80 -h "$dir"
    # listening on port 80 (0050) in that namespace (httpd binds to :: when
    # it can, so look at tcp6 too)
    wait_for 5 in_ns "$ns" sh -c "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':0050 [0:]*:0000 0A'" ||
        fail "start_web: httpd not listening in $ns"
    echo "[$ns] busybox httpd serving $dir on :80"
}

# http_get NS HOST [PORT] [PATH] -> prints the body; fails on no answer. HOST may be an
# IPv6 address (busybox nc takes it bare). HTTP_WAIT: seconds to wait for the connection (3).
http_get() {
    local ns=$1 host=$2 port=${3:-80} path=${4:-/} resp wait=${HTTP_WAIT:-3} authority=$2
    [[ $host != *:* ]] || authority="[$host]"
    resp=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$authority" |
        in_ns "$ns" timeout $((wait + 2)) busybox nc -w "$wait" "$host" "$port" 2>/dev/null) || true
    [[ $resp == HTTP/* ]] || { echo "http_get: no HTTP answer from $host:$port$path in $ns" >&2; return 1; }
    printf '%s\n' "$resp" | sed '1,/^\r\{0,1\}$/d'
}

# --- LVS-TUN traffic checks, shared by the hand-made reference and the converged cluster.
# They assume topology_cluster with web servers on rs1 and rs2 and the VIP 203.0.113.100.

# expect_both_real_servers_answer N: the client fetches http://VIP/ N times; every request
# is answered, by rs1 and rs2 both.
expect_both_real_servers_answer() {
    local n=$1 vip=${2:-203.0.113.100} i body
    local hits_rs1=0 hits_rs2=0 misses=0
    step "client fetches http://$vip/ $n times"
    for ((i = 1; i <= n; i++)); do
        body=$(http_get client "$vip") || body="(no answer)"
        case $body in
            rs1) hits_rs1=$((hits_rs1 + 1)) ;;
            rs2) hits_rs2=$((hits_rs2 + 1)) ;;
            *) misses=$((misses + 1)) ;;
        esac
        echo "  request $i: $body"
    done
    echo "rs1=$hits_rs1 rs2=$hits_rs2 misses=$misses"
    expect_num $misses -eq 0 "requests without an answer"
    expect_num $hits_rs1 -gt 0 "answers from rs1"
    expect_num $hits_rs2 -gt 0 "answers from rs2"
    expect_num $((hits_rs1 + hits_rs2)) -eq "$n" "answers in total"
}

# expect_rs2_replies_bypass_director: with rs1 drained (weight 0, set by the caller), a batch
# of 64 KiB answers from rs2 reaches the client through the router while the director's
# eth0 carries only the requests.
expect_rs2_replies_bypass_director() {
    local vip=${1:-203.0.113.100} batch=5 size=65536 i len
    step "rs2 replies bypass the director: byte counters around a batch served by rs2 only"
    local b_d_rx b_d_tx b_r_in b_r_out b_c_rx b_t_rx
    b_d_rx=$(ns_stat director eth0 rx_bytes) b_d_tx=$(ns_stat director eth0 tx_bytes)
    b_r_in=$(ns_stat router eth1 rx_bytes) b_r_out=$(ns_stat router eth0 tx_bytes)
    b_c_rx=$(ns_stat client eth0 rx_bytes) b_t_rx=$(ns_stat rs2 tunl0 rx_packets)
    for ((i = 1; i <= batch; i++)); do
        expect_eq "$(http_get client "$vip" 80 /)" rs2 "request $i answered by rs2"
        len=$(http_get client "$vip" 80 /big.bin | wc -c)
        expect_num "$len" -ge $size "bytes of /big.bin, fetch $i"
    done
    local payload=$((batch * size))
    local d_rx=$(($(ns_stat director eth0 rx_bytes) - b_d_rx)) d_tx=$(($(ns_stat director eth0 tx_bytes) - b_d_tx))
    local r_in=$(($(ns_stat router eth1 rx_bytes) - b_r_in)) r_out=$(($(ns_stat router eth0 tx_bytes) - b_r_out))
    local c_rx=$(($(ns_stat client eth0 rx_bytes) - b_c_rx)) t_rx=$(($(ns_stat rs2 tunl0 rx_packets) - b_t_rx))
    echo "payload served by rs2: $payload bytes"
    echo "director eth0: rx +$d_rx tx +$d_tx bytes; router eth1 rx +$r_in, eth0 tx +$r_out; client rx +$c_rx; rs2 tunl0 rx +$t_rx packets"
    expect_num $c_rx -ge $payload "client received the payload"
    expect_num $r_in -ge $payload "router got the payload from rs2 (eth1 rx)"
    expect_num $r_out -ge $payload "router forwarded the payload to the segment (eth0 tx)"
    expect_num $d_rx -lt $((payload / 10)) "director eth0 rx stays far below the payload"
    expect_num $d_tx -lt $((payload / 10)) "director eth0 tx stays far below the payload"
    expect_num $t_rx -gt 0 "rs2 got requests through the tunnel"
}

# expect_vip_arp_is_director: on the shared segment the client resolved the VIP to the
# director's MAC, never to rs1's (which holds the VIP on lo but must not answer ARP).
expect_vip_arp_is_director() {
    local vip=${1:-203.0.113.100} mac_vip mac_dir mac_rs1
    step "ARP: the client resolved the VIP to the director, not to rs1"
    run_in client ip neigh show "$vip"
    mac_vip=$(in_ns client ip neigh show "$vip" | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
    mac_dir=$(ns_mac director eth0)
    mac_rs1=$(ns_mac rs1 eth0)
    echo "director eth0 $mac_dir, rs1 eth0 $mac_rs1"
    expect_eq "$mac_vip" "$mac_dir" "client's neighbour entry for $vip"
    [[ $mac_vip != "$mac_rs1" ]] || fail "client resolved $vip to rs1"
}

# expect_direct_return_stats VIP:PORT DEST...: IPVS scheduled packets to every DEST
# (InPkts > 0) and saw no replies from them (OutPkts = 0): they answered the client
# directly. Also every real server decapsulated ipip on tunl0.
expect_direct_return_stats() {
    local service=$1 stats d
    shift
    step "IPVS saw the requests (InPkts) but no replies (OutPkts = 0: direct return)"
    # The kernel's estimator folds the per-CPU counters into what ipvsadm reads every 2 s
    # (spread over ticks), so right after the traffic a real server may still read 0:
    # wait (bounded) until every one shows its connections, then check them all.
    wait_secs 10 stats_show_connections "$service" "$@" || echo "(no connections on some real server after 10 s)"
    run_out stats in_ns director ipvsadm -Ln --stats --exact -t "$service"
    for d in "$@"; do
        local fields
        fields=$(awk -v d="$d" '$1 == "->" && $2 == d { print $3, $4, $5 }' <<<"$stats")
        read -r conns inpkts outpkts <<<"$fields"
        expect_num "${conns:-x}" -gt 0 "IPVS connections to $d"
        expect_num "${inpkts:-x}" -gt 0 "IPVS InPkts to $d"
        expect_num "${outpkts:-x}" -eq 0 "IPVS OutPkts from $d"
    done
    for rs in rs1 rs2; do
        expect_num "$(ns_stat $rs tunl0 rx_packets)" -gt 0 "$rs tunl0 rx_packets (ipip decapsulated)"
    done
}

# stats_show_connections VIP:PORT DEST...: ipvsadm's stats name connections on every DEST.
stats_show_connections() {
    local service=$1 stats d
    shift
    stats=$(in_ns director ipvsadm -Ln --stats --exact -t "$service") || return 1
    for d in "$@"; do
        awk -v d="$d" '$1 == "->" && $2 == d && $3 > 0 { found = 1 } END { exit !found }' <<<"$stats" || return 1
    done
}

# The IPVS table of NS as "object id<TAB>line": one line per service, real server and the
# connection timeouts, the ids as apply's JSON report writes them ("<kind> <id>").
ipvs_objects() {
    { in_ns "$1" ipvsadm -Sn; in_ns "$1" ipvsadm -L --timeout; } | awk -v OFS='\t' '
        function service(flag, what) {
            if (flag == "-f") return "fwmark " what " (" (/ -6( |$)/ ? "ipv6" : "ipv4") ")"
            return (flag == "-t" ? "tcp" : flag == "-u" ? "udp" : "sctp") " " what
        }
        $1 == "-A" { print "ipvs service " service($2, $3), $0 }
        $1 == "-a" { print "ipvs real server " $5 " of " service($2, $3), $0 }
        /^Timeout/ { print "ipvs connection timeouts timeouts", $0 }'
}

# Ids of the objects whose line differs between two ipvs_objects outputs (each line is
# unique in its table, so the lines found once are the difference), sorted.
changed_objects() {
    printf '%s\n%s\n' "$1" "$2" | sed '/^$/d' | sort | uniq -u | cut -f1 | sort -u
}

# Holds the lock file FILE for SECS seconds in the background, as an apply with pid PID
# would (the pid is what lvs-converge's "another apply" message names). $holder is the
# background job, to `wait` for.
hold_lock() {
    local file=$1 pid=$2 seconds=$3
    ( echo "$pid" >"$file"; flock "$file" sleep "$seconds" ) &
    holder=$!
    sleep 0.5
}

# --- Timing and IPVS weights, for the agent scenarios (92_agent_*).
#   uptime_s                 seconds since boot (/proc/uptime, the same clock in every namespace)
#   elapsed_since T0         seconds since T0 (an uptime_s value), one decimal
#   expect_secs A OP B WHAT  like expect_num for decimal seconds (OP: -le -lt -ge -gt)
#   ipvs_weight NS SERVICE RS   weight of real server RS ("203.0.113.11:80") of SERVICE
#                            ("-t 203.0.113.100:80", as ipvsadm -Sn writes it) in NS, "absent" if none
#   ns_pids NS WORD          pids of NS's processes whose command line has the word WORD
#   wait_secs SECS CMD...    retry CMD until it succeeds or SECS of wall-clock time pass
#                            (wait_for counts tries, which a slow CMD under TCG stretches)
uptime_s() { cut -d' ' -f1 /proc/uptime; }

wait_secs() {
    local secs=$1 deadline
    shift
    deadline=$(awk -v now="$(uptime_s)" -v s="$secs" 'BEGIN { print now + s }')
    while ! "$@" >/dev/null 2>&1; do
        awk -v now="$(uptime_s)" -v d="$deadline" 'BEGIN { exit !(now >= d) }' && return 1
        sleep 0.1
    done
}

elapsed_since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }

expect_secs() {
    local a=$1 op=$2 b=$3 what=${4:-seconds} ok
    ok=$(awk -v a="$a" -v b="$b" -v op="$op" 'BEGIN {
        if (op == "-le") r = a <= b; else if (op == "-lt") r = a < b
        else if (op == "-ge") r = a >= b; else if (op == "-gt") r = a > b; else r = 0
        print r }')
    [[ $a =~ ^[0-9]+(\.[0-9]+)?$ && $ok == 1 ]] || fail "$what: expected $a $op $b"
    echo "ok: $what ($a $op $b)"
}

ipvs_weight() {
    local ns=$1 service=$2 rs=$3
    in_ns "$ns" ipvsadm -Sn | awk -v s="$service" -v r="$rs" '
        $1 == "-a" && ($2 " " $3) == s && $5 == r { for (i = 6; i < NF; i++) if ($i == "-w") w = $(i + 1) }
        END { print (w == "" ? "absent" : w) }'
}

ns_pids() {
    local ns=$1 word=$2 pid
    for pid in $(ip netns pids "$ns"); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qw -- "$word" && echo "$pid"
    done
    return 0
}
