# The IPVS generic netlink client (src/netlink/ipvs) against the real kernel: every
# operation kind, dump, error mapping and a bulk run, each compared with ipvsadm.
#
# These are the crate's #[ignore]d live tests; they need the library test binary, which
# the lab does not build by default:
#
#   cargo test --release --target x86_64-unknown-linux-musl --lib --no-run
#   LAB_EXTRA_FILES="target/x86_64-unknown-linux-musl/release/deps/lvs_converge-<hash>:/usr/bin/lvs-converge-tests" \
#       tests/lab/lab.sh 15_netlink_roundtrip
#
# (cargo prints the test binary's path.) Without it the scenario says so and passes.
# IPVS_BULK_SERVICES=N on the lab's kernel command line is not supported; the bulk test
# uses 10,000 services unless the binary is run by hand with that variable.

if ! command -v lvs-converge-tests >/dev/null; then
    step "SKIPPED: no /usr/bin/lvs-converge-tests (see the header of this scenario)"
    return 0
fi

step "round trip: netlink-built and ipvsadm-built tables agree"
run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 \
    netlink::ipvs::live_tests::live_roundtrip_matches_ipvsadm

step "kernel refusals come back as specific errors"
run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 \
    netlink::ipvs::live_tests::live_errors_are_specific

step "a large table (2,000 x 4 real servers, one service of 500) reads back exactly, one receive per service"
run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 \
    netlink::ipvs::live_tests::live_dump_of_a_large_table_is_exact_and_linear

step "a service deleted between the service dump and its real servers' dump is left out"
run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 \
    netlink::ipvs::live_tests::live_service_deleted_during_the_dump_is_left_out

step "bulk: 10,000 services x 2 real servers"
run_cmd lvs-converge-tests --ignored --exact --nocapture --test-threads=1 \
    netlink::ipvs::live_tests::live_bulk_10k_services
