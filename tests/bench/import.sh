#!/usr/bin/env bash
# Times `lvs-converge import --keepalived` on generated keepalived.conf files of the given
# sizes (MB), side by side with `keepalived -t` on the same file when keepalived is installed.
# A benchmark to read, not a test: nothing here passes or fails.
#
#   tests/bench/import.sh [BINARY] [SIZE_MB...]     default: target/release/lvs-converge 2 10
#
# Each virtual_server block is a TUN service with persistence, four real servers with
# thresholds and an HTTP_GET checker on the first (≈0.8 KB): the shape of a large director's
# configuration. Every checker is a note in the written spec, which must stay under the
# 16 MiB a spec may have; import refuses to write a larger one.
set -euo pipefail

binary=${1:-target/release/lvs-converge}
shift || true
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(2 10)
[[ -x $binary ]] || { echo "no $binary: cargo build --release first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

generate() {
    local megabytes=$1 file=$2
    awk -v limit=$((megabytes * 1024 * 1024)) 'BEGIN {
        printf "global_defs {\n    router_id BENCH\n}\n"
        for (i = 0; bytes < limit; i++) {
            block = sprintf("virtual_server 10.%d.%d.%d 80 {\n    delay_loop 6\n    lb_algo wlc\n    lvs_method TUN\n    protocol TCP\n    persistence_timeout 600\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256)
            for (r = 1; r <= 4; r++) {
                check = r > 1 ? "" : "        HTTP_GET {\n            url {\n                path /health\n                status_code 200\n            }\n            connect_timeout 3\n        }\n"
                block = block sprintf("    real_server 192.0.%d.%d 80 {\n        weight %d\n%s        uthreshold 1000\n        lthreshold 100\n    }\n", r, i % 250 + 1, r, check)
            }
            block = block "}\n"
            printf "%s", block
            bytes += length(block)
        }
    }' >"$file"
}

# Seconds (wall) and peak resident memory (KiB) of one run, via GNU time when present.
measure() {
    local out=$work/measure
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>&1 || true
        cat "$out"
    else
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        echo "$(echo "$end - $start" | bc) ?"
    fi
}

printf '%-8s %-10s %-14s %-14s %-16s\n' size services "import s" "import KiB" "keepalived -t s"
for size in "${sizes[@]}"; do
    conf=$work/keepalived-$size.conf
    generate "$size" "$conf"
    services=$(grep -c '^virtual_server' "$conf")
    read -r import_s import_kib < <(measure "$binary" import --keepalived "$conf" -o "$work/out-$size.yaml")
    if command -v keepalived >/dev/null; then
        read -r keepalived_s _ < <(measure keepalived -t -f "$conf")
    else
        keepalived_s="(keepalived not installed)"
    fi
    printf '%-8s %-10s %-14s %-14s %-16s\n' "${size}MB" "$services" "$import_s" "$import_kib" "$keepalived_s"
    [[ -s $work/out-$size.yaml ]] || echo "  import wrote nothing for ${size}MB: $("$binary" import --keepalived "$conf" 2>&1 >/dev/null | tail -2)" >&2
done
