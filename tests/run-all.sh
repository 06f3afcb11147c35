#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit, golden and CLI tests with cargo, then every
# real-kernel scenario in the qemu lab. Installs what it needs from Debian's packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
echo "== cargo test"
cargo test --locked 2>&1
echo "== real-kernel lab"
tests/lab/lab.sh "$@"
echo "== whole suite took $(( $(date +%s) - started ))s"
