# Also the README's demo (tests/lab/demo.sh), so it is kept working by every CI run.
# The demo: the seed manual's LVS-TUN cluster converged by lvs-converge alone. Each host
# plans and applies its part of examples/seed/cluster.yaml; then a client fetches the VIP.
SPEC=/lab/examples/seed/cluster.yaml

topology_cluster
start_web rs1
start_web rs2
export NO_COLOR=1
for node in director rs1 rs2; do
    step "[$node] lvs-converge plan -f cluster.yaml --node $node"
    run_in $node lvs-converge plan -f $SPEC --node $node || true
    step "[$node] lvs-converge apply -f cluster.yaml --node $node"
    run_in $node lvs-converge apply -f $SPEC --node $node >/dev/null
    echo "applied; the plan above was carried out and verified"
done
run_in director ipvsadm -Ln
expect_both_real_servers_answer 10
step "every host again: nothing left to do"
for node in director rs1 rs2; do run_in $node lvs-converge plan -f $SPEC --node $node; done
