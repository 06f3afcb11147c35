# shellcheck shell=bash disable=SC2154  # run_out assigns the variables
# Smoke: the VM has what every other scenario relies on.
step "kernel and tools"
run_cmd uname -r
run_cmd ip -V
run_cmd ipvsadm --version

step "modules load (ip_vs, ipip) and autoload from a fresh netns"
run_cmd modprobe ip_vs
run_cmd modprobe ipip
run_out mods lsmod
expect_contains "$mods" "ip_vs" "lsmod"
expect_contains "$mods" "ipip" "lsmod"

topology_single
run_out table in_ns director ipvsadm -Ln
expect_contains "$table" "IP Virtual Server version" "ipvsadm -Ln in a fresh netns"
# ipip creates the fallback tunl0 in every namespace once loaded
run_out links in_ns director ip -br link
expect_contains "$links" "tunl0" "director links"

step "IPVS is per namespace"
run_in director ipvsadm -A -t 192.0.2.100:80 -s rr
run_in director ipvsadm -a -t 192.0.2.100:80 -r 192.0.2.11:80 -i
run_out table in_ns director ipvsadm -Ln
expect_contains "$table" "192.0.2.100:80" "director table"
run_out roottable ipvsadm -Ln
expect_not_contains "$roottable" "192.0.2.100:80" "root namespace table"

step "lvs-converge binary runs"
run_cmd command -v lvs-converge
run_out help lvs-converge --help
run_cmd ls /lab /lab/examples
