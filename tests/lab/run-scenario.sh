#!/bin/bash
# Runs one scenario inside the lab VM: strict mode, helpers, a trap that
# names the failing command. Exit status is the verdict.
set -Eeuo pipefail
scenario=$1
file=/lab/scenarios/$scenario.sh
[[ -f $file ]] || file=/lab/scenarios-bench/$scenario.sh
[[ -f $file ]] || { echo "LAB-FAIL: no scenario file $file"; exit 1; }

# shellcheck source=lib.sh
source /lab/lib.sh
trap 'lab_on_err $? "${BASH_SOURCE[0]:-?}" "$LINENO" "$BASH_COMMAND"' ERR

cd /tmp
echo "### scenario $scenario"
# shellcheck disable=SC1090
source "$file"
echo "### scenario $scenario: all checks passed"
