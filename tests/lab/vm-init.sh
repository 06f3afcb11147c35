#!/bin/bash
# /init inside the lab VM: mount the basics, run the scenario named by
# lab.scenario= on the kernel command line, print the verdict, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null || true
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/netns
ip link set lo up
hostname lab 2>/dev/null || true
# Keep kernel messages from interleaving with the transcript unless they
# matter (warnings and worse still show up).
echo 4 >/proc/sys/kernel/printk 2>/dev/null || true

shutdown_vm() {
    sync
    echo o >/proc/sysrq-trigger 2>/dev/null
    poweroff -f
    sleep 5
}

scenario=
for arg in $(cat /proc/cmdline); do
    case $arg in lab.scenario=*) scenario=${arg#lab.scenario=} ;; esac
done

echo "LAB-BOOTED $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)"
if [[ -z $scenario ]]; then
    echo "LAB-VERDICT none FAIL (no lab.scenario= on the kernel command line)"
    shutdown_vm
fi

start=$(cut -d' ' -f1 /proc/uptime)
rc=0
bash /lab/run-scenario.sh "$scenario" </dev/null 2>&1 || rc=$?
end=$(cut -d' ' -f1 /proc/uptime)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if ((rc == 0)); then
    echo "LAB-VERDICT $scenario PASS ${secs}s"
else
    echo "LAB-VERDICT $scenario FAIL ${secs}s (exit $rc)"
fi
shutdown_vm
