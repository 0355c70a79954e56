#!/usr/bin/env bash
# Benchmark of `slipway ci` on the example repository (a module depending on
# `mail`), Odoo 14.0: from scratch (--no-template) against a warm template,
# interleaved in the same run, N rounds each (default 3). Prints medians of wall
# time, time inside Odoo, and slipway's own overhead (wall minus Odoo).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
slipway=./target/release/slipway
cargo build --release --locked --bin slipway >/dev/null 2>&1

measure() { # prints "wall odoo own" for one build; wall is the whole command,
             # process start and cleanup included
    local output start end odoo
    start=$(date +%s.%N)
    output=$("$slipway" ci examples/addons --odoo 14.0 "$@" 2>/dev/null)
    end=$(date +%s.%N)
    echo "$output" | grep -q "^✔ success" || { echo "build failed: $output" >&2; exit 1; }
    odoo=$(echo "$output" | sed -n 's/^time: \([0-9.]*\) s in Odoo.*/\1/p')
    python3 -c "w = $end - $start; print(f'{w:.2f} $odoo {w - $odoo:.2f}')"
}

"$slipway" ci examples/addons --odoo 14.0 >/dev/null 2>&1  # warm: image, cluster, template
scratch=(); cached=()
for ((i = 1; i <= rounds; i++)); do
    scratch+=("$(measure --no-template)")
    cached+=("$(measure)")
done
python3 - "$rounds" "${scratch[@]}" "${cached[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1]); rows = [list(map(float, r.split())) for r in sys.argv[2:]]
scratch, cached = rows[:n], rows[n:]
med = lambda rs, i: statistics.median(r[i] for r in rs)
print(f"{'':24}{'wall s':>10}{'in Odoo s':>12}{'slipway s':>12}   (median of {n})")
for name, rs in (("--no-template", scratch), ("warm template", cached)):
    print(f"{name:24}{med(rs,0):>10.2f}{med(rs,1):>12.2f}{med(rs,2):>12.2f}")
print(f"speed-up: {med(scratch,0)/med(cached,0):.1f}x")
print("raw:", "scratch", scratch, "cached", cached)
PY
