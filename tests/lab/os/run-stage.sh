#!/bin/bash
# Runs boot_<N> of one OS scenario, strict mode, with the lab's helpers (tests/lab/lib.sh)
# and the OS ones (lib-os.sh). Exit status is the stage's verdict.
set -Eeuo pipefail
name=$1 boot=$2
file=/lab/os/scenarios/$name.sh
[[ -f $file ]] || { echo "LAB-FAIL: no scenario file $file"; exit 1; }
# shellcheck source=../lib.sh
source /lab/lib.sh
# shellcheck source=lib-os.sh
source /lab/os/lib-os.sh
trap 'lab_on_err $? "${BASH_SOURCE[0]:-?}" "$LINENO" "$BASH_COMMAND"' ERR
cd /tmp
# shellcheck disable=SC1090
source "$file"
declare -F "boot_$boot" >/dev/null || fail "$name has no boot_$boot (did the previous stage forget reboot_now, or did the VM reboot by itself?)"
"boot_$boot"
echo "### $name: boot $boot passed"
