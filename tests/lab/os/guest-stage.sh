#!/bin/bash
# Inside the real-OS lab VM, run by lab-stage.service once per boot: runs the stage of the
# scenario (lab.scenario= on the kernel command line) for this boot, counted on the root
# disk, and tells the host on the console what comes next:
#   LAB-OS-REBOOT <name> <boot>      the stage passed and asked for a reboot (reboot_now)
#   LAB-VERDICT <name> PASS|FAIL     the scenario is over; the VM powers off
set -uo pipefail
name=$(sed -n 's/.*lab\.scenario=\([^ ]*\).*/\1/p' /proc/cmdline)
counter=/var/lib/lab-os/boot
boot=$(($(cat "$counter" 2>/dev/null || echo 0) + 1))
echo "$boot" >"$counter"
sync
rm -f /run/lab-os-reboot
echo "### $name: boot $boot, stage starts at uptime $(cut -d' ' -f1 /proc/uptime)s"
systemd-analyze 2>/dev/null | head -n1 || true
rc=0
/lab/os/run-stage.sh "$name" "$boot" || rc=$?
if ((rc != 0)); then
    echo "LAB-VERDICT $name FAIL"
elif [[ -e /run/lab-os-reboot ]]; then
    echo "LAB-OS-REBOOT $name $boot"
    sync
    systemctl reboot
    exit 0
else
    echo "LAB-VERDICT $name PASS"
fi
sync
systemctl poweroff
