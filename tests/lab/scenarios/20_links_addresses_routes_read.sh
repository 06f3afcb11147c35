# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Links, addresses and routes as `lvs-converge show` reads them over rtnetlink: state made
# with ip(8) (ipip tunnels, tunl0 up with an MTU, labelled, shared and IPv6 addresses,
# routes in the local, main and numbered tables) is reported exactly as ip reports it.
#
# "Exactly": every interface, every address (but IPv6 link-local) and every route of the
# kinds the model manages (unicast, local, blackhole, unreachable; not IPv6 link-local or
# multicast) that ip lists, field by field, and nothing else. Routes that share a key (the
# same VIP on lo and tunl0 gives two `local` routes) are reported once, with the device
# that sorts first.
#
# With the crate's test binary at /usr/bin/lvs-converge-tests (see 15_netlink_roundtrip.sh
# for how to put it there) the rtnetlink client's live tests run too: writes, refusals,
# in-place and recreating tunnel changes, each checked against `ip -j`, and the gre, sit,
# ip6tnl and ip6gre kinds, named and fallback (ip6tnl0's mode), read and written.

run_cmd modprobe ipip
topology_single

step "state made with ip"
ip -n director -b - <<-EOF
	link add tun1 type ipip local 192.0.2.10 remote 198.51.100.22 ttl 64
	link add tun2 type ipip remote 198.51.100.33 nopmtudisc
	link add tun3 type ipip local 192.0.2.10
	link set tunl0 up mtu 1400
	link set tun1 up
	addr add 203.0.113.100/32 dev lo
	addr add 203.0.113.101/32 dev lo label lo:vip
	addr add 203.0.113.100/32 dev tunl0
	addr add 192.0.2.11/24 dev dummy0 label dummy0:1
	addr add 2001:db8::100/128 dev lo nodad
	route add local 203.0.113.102/32 dev lo table local
	route add blackhole 10.99.0.0/16 table 1000 metric 7
	route add unreachable 2001:db8:1::/48 table 1000
	route add 198.51.100.0/24 via 192.0.2.1 metric 5
	route add 198.51.100.128/25 dev tun1 table 100 src 192.0.2.10
	EOF
run_in director ip -d link show type ipip
run_in director ip addr
run_in director ip route show table all
run_in director ip -6 route show table all

step "lvs-converge show --format json"
run_out json lvs-converge --netns director show --format json
flat=$(tr -d ' \n' <<<"$json")
# The sections are lists of flat objects: cut each out of the compact JSON.
section() { local s=${flat#*\"$1\":\[}; [[ $s != "$flat" ]] || return 0; printf '%s\n' "${s%%]*}" | sed 's/},{/}\n{/g'; }
show_links=$(section links)
show_addresses=$(section addresses)
show_routes=$(section routes)

step "links: the tunnels and tunl0 field by field, and the same set of names as ip"
mtu_of() { in_ns director cat "/sys/class/net/$1/mtu"; }
expect_contains "$show_links" "{\"name\":\"tun1\",\"type\":\"ipip\",\"local\":\"192.0.2.10\",\"remote\":\"198.51.100.22\",\"ttl\":64,\"pmtudisc\":true,\"up\":true,\"mtu\":$(mtu_of tun1)}" "tun1"
expect_contains "$show_links" "{\"name\":\"tun2\",\"type\":\"ipip\",\"remote\":\"198.51.100.33\",\"ttl\":0,\"pmtudisc\":false,\"up\":false,\"mtu\":$(mtu_of tun2)}" "tun2"
expect_contains "$show_links" "{\"name\":\"tun3\",\"type\":\"ipip\",\"local\":\"192.0.2.10\",\"ttl\":0,\"pmtudisc\":true,\"up\":false,\"mtu\":$(mtu_of tun3)}" "tun3"
expect_contains "$show_links" '{"name":"tunl0","type":"ipip","ttl":0,"pmtudisc":false,"up":true,"mtu":1400}' "tunl0 (any/any)"
expect_contains "$show_links" '{"name":"lo","type":"other","kind":"loopback","up":true,"mtu":65536}' "lo"
expect_contains "$show_links" "{\"name\":\"dummy0\",\"type\":\"other\",\"kind\":\"dummy\",\"up\":true,\"mtu\":$(mtu_of dummy0)}" "dummy0"
ip_names=$(in_ns director ip -o link | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort)
show_names=$(grep -o '"name":"[^"]*"' <<<"$show_links" | cut -d'"' -f4 | sort)
expect_eq "$show_names" "$ip_names" "interface names"

step "addresses: every one ip lists (but IPv6 link-local), with labels, and no other"
# ip -o addr: "2: dummy0    inet 192.0.2.11/24 scope global secondary dummy0:1\ ..."
ip_addresses=$(in_ns director ip -o addr | awk '{
    split($0, parts, "\\"); n = split(parts[1], f, " ")
    sub(/@.*/, "", f[2])
    split(f[4], a, "/")
    if (f[3] == "inet6" && a[1] ~ /^fe[89ab]/) next
    label = (f[3] == "inet" && f[n] != f[2]) ? ",\"label\":\"" f[n] "\"" : ""
    printf "{\"interface\":\"%s\",\"address\":\"%s\",\"prefixLength\":%s%s}\n", f[2], a[1], a[2], label
}' | sort)
expect_eq "$(sort <<<"$show_addresses")" "$ip_addresses" "addresses"
expect_contains "$show_addresses" '{"interface":"lo","address":"203.0.113.101","prefixLength":32,"label":"lo:vip"}' "labelled VIP"
expect_contains "$show_addresses" '{"interface":"dummy0","address":"192.0.2.11","prefixLength":24,"label":"dummy0:1"}' "alias label"
expect_contains "$show_addresses" '{"interface":"tunl0","address":"203.0.113.100","prefixLength":32}' "VIP on tunl0"
expect_contains "$show_addresses" '{"interface":"lo","address":"2001:db8::100","prefixLength":128}' "IPv6 VIP"

step "routes: every managed one ip lists, field by field, once per key"
# ip -d route: "TYPE DST [via GW] [dev DEV] table T proto P scope S [src SRC] [metric M] ..."
ip_routes() {
    in_ns director ip "$1" -d route show table all | awk -v zero="$2" '
    function table_id(t) { return t == "main" ? 254 : t == "local" ? 255 : t == "default" ? 253 : t }
    {
        type = $1; dst = $2
        if (type !~ /^(unicast|local|blackhole|unreachable)$/) next
        if (dst == "default") dst = zero
        if (dst !~ /\//) dst = dst (dst ~ /:/ ? "/128" : "/32")
        split(dst, d, "/")
        if (d[1] ~ /^(fe[89ab]|ff)/) next
        dev = via = src = ""; metric = 0; table = 254; scope = ""
        for (i = 3; i < NF; i++) {
            if ($i == "dev") dev = $(++i)
            else if ($i == "via") via = $(++i)
            else if ($i == "src") src = $(++i)
            else if ($i == "metric") metric = $(++i)
            else if ($i == "table") table = table_id($(++i))
            else if ($i == "scope") scope = $(++i)
            else if ($i == "proto" || $i == "pref") i++
        }
        if (scope == "global") scope = "universe"
        else if (scope != "link" && scope != "host") next
        key = table " " type " " dst " " metric
        obj = sprintf("{\"table\":%d,\"type\":\"%s\",\"destination\":\"%s\",\"prefixLength\":%d,\"metric\":%d", table, type, d[1], d[2], metric)
        if (dev != "") obj = obj ",\"device\":\"" dev "\""
        if (via != "") obj = obj ",\"gateway\":\"" via "\""
        obj = obj ",\"scope\":\"" scope "\""
        if (src != "") obj = obj ",\"source\":\"" src "\""
        print key "\t" obj "}"
    }'
}
all_ip_routes=$( (ip_routes -4 0.0.0.0/0; ip_routes -6 ::/0) | sort)
printf '%s\n' "$all_ip_routes" | cut -f2 >/tmp/ip-routes
keys=$(cut -f1 <<<"$all_ip_routes" | sort -u | wc -l)
expect_num "$(wc -l <<<"$show_routes")" -eq "$keys" "routes reported (one per table/type/destination/metric)"
while read -r route; do
    grep -qxF "$route" /tmp/ip-routes || fail "show reports a route ip does not list: $route"
done <<<"$show_routes"
echo "ok: each of the $keys reported routes is one ip lists, field by field"
expect_contains "$show_routes" '{"table":255,"type":"local","destination":"203.0.113.102","prefixLength":32,"metric":0,"device":"lo","scope":"host"}' "local-table VIP route"
expect_contains "$show_routes" '{"table":1000,"type":"blackhole","destination":"10.99.0.0","prefixLength":16,"metric":7,"scope":"universe"}' "blackhole in table 1000"
expect_contains "$show_routes" '{"table":1000,"type":"unreachable","destination":"2001:db8:1::","prefixLength":48,"metric":1024,"device":"lo","scope":"universe"}' "IPv6 unreachable (the kernel's metric 1024)"
expect_contains "$show_routes" '{"table":254,"type":"unicast","destination":"198.51.100.0","prefixLength":24,"metric":5,"device":"dummy0","gateway":"192.0.2.1","scope":"universe"}' "gateway route"
expect_contains "$show_routes" '{"table":100,"type":"unicast","destination":"198.51.100.128","prefixLength":25,"metric":0,"device":"tun1","scope":"link","source":"192.0.2.10"}' "route with src in table 100"
expect_contains "$show_routes" '{"table":255,"type":"local","destination":"203.0.113.100","prefixLength":32,"metric":0,"device":"lo","scope":"host","source":"203.0.113.100"}' "shared VIP: one local route, lo's"
expect_not_contains "$show_routes" '"type":"broadcast"' "routes"
expect_not_contains "$show_routes" '"destination":"fe80' "routes"

if command -v lvs-converge-tests >/dev/null; then
    step "the rtnetlink client's live tests (each in a namespace of its own)"
    run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 netlink::route::live_tests::live_reads_match_ip
    run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 netlink::route::live_tests::live_writes_take_effect
    run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 netlink::route::live_tests::live_failed_link_changes_put_the_interface_back
    run_in director lvs-converge-tests --ignored --exact --nocapture --test-threads=1 \
        netlink::route::live_tests::live_reads_match_ip_in_this_namespace
    run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 netlink::route::live_tests::live_tunnel_kinds_match_ip
else
    step "live tests SKIPPED: no /usr/bin/lvs-converge-tests (see the header of this scenario)"
fi
