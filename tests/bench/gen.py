#!/usr/bin/env python3
"""Writes the scale benchmarks' inputs: N tcp services x R tunnel real servers.

    gen.py N OUTDIR [director] [--reals R]

OUTDIR/spec.yaml      a Host spec (with `director`: `role: director`, `vipInterface: eth0`,
                      so one VIP address and local route per service)
OUTDIR/observed.yaml  the converged host as `show` prints it, for `plan --observed`
OUTDIR/rules          the same IPVS table as `ipvsadm -R` input, in `ipvsadm -Sn`'s words

tests/bench/scale.sh (native, offline) and tests/lab/bench.sh (in the lab VM, side by
side with ipvsadm) both use it, so they measure the same tables.
"""
import argparse
import os


def vip(i):
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def real_server(i, r):
    # 192.0.r.x lies inside the director's 192.0.1.254/16 on eth0: on-link, no route needed
    return f"192.0.{r}.{i % 250 + 1}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="number of services")
    ap.add_argument("outdir")
    ap.add_argument("director", nargs="?", choices=["director"], help="role: director")
    ap.add_argument("--reals", type=int, default=4, help="real servers per service (default 4)")
    args = ap.parse_args()
    n, reals, director = args.n, args.reals, args.director is not None
    if not 1 <= reals <= 250 or n > 1 << 24:
        ap.error("--reals must be 1..250 and N at most 2^24")
    os.makedirs(args.outdir, exist_ok=True)

    spec = ["apiVersion: lvs-converge/v1", "kind: Host"]
    if director:
        spec += ["role: director", "vipInterface: eth0"]
    spec += ["ipvs:", "  services:"]
    modules = "[ip_vs, ip_vs_wlc, ipip, tunnel4]" if director else "[ip_vs, ip_vs_wlc]"
    observed = ["apiVersion: lvs-converge/v1", "kind: ObservedState", "state:", f"  modules: {modules}"]
    if director:
        observed += [
            "  links:",
            "    - { name: lo, type: other, kind: loopback, up: true, mtu: 65536 }",
            "    - { name: eth0, type: other, kind: veth, up: true, mtu: 1500 }",
            "  addresses:",
            "    - { interface: eth0, address: 192.0.1.254, prefixLength: 16 }",
        ]
        observed += [f"    - {{ interface: eth0, address: {vip(i)}, prefixLength: 32 }}" for i in range(n)]
    observed += ["  ipvs:", "    services:"]
    rules = []
    for i in range(n):
        spec += [f"    - address: {vip(i)}", "      port: 80", "      scheduler: wlc", "      realServers:"]
        observed += [
            "      - protocol: tcp",
            f"        address: {vip(i)}",
            "        port: 80",
            "        scheduler: wlc",
            "        destinations:",
        ]
        rules.append(f"-A -t {vip(i)}:80 -s wlc")
        for r in range(1, reals + 1):
            weight = (r - 1) % 4 + 1
            spec.append(f"        - {{ address: {real_server(i, r)}, weight: {weight} }}")
            observed.append(
                f"          - {{ address: {real_server(i, r)}, port: 80, method: tunnel, weight: {weight} }}"
            )
            # as `ipvsadm -Sn` prints it back (it names the tunnel type), so the two compare
            rules.append(f"-a -t {vip(i)}:80 -r {real_server(i, r)}:80 -i -w {weight} --tun-type ipip")
    for name, lines in (("spec.yaml", spec), ("observed.yaml", observed), ("rules", rules)):
        with open(os.path.join(args.outdir, name), "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
