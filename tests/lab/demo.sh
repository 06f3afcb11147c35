#!/usr/bin/env bash
# Boots the lab VM and shows lvs-converge building the seed's LVS-TUN cluster (director,
# rs1 on the same segment, rs2 behind a router) from one spec, then a client's requests
# answered by both real servers. No hardware of yours is touched: everything happens in
# network namespaces inside a qemu VM.
set -euo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
status=0
"$LAB_DIR/lab.sh" 90_demo_seed_cluster >/dev/null || status=$?
# The console transcript, without the kernel's own messages.
grep -v -e '^\[ *[0-9]*\.[0-9]*\]' "$REPO/target/lab-logs/90_demo_seed_cluster.log"
exit $status
