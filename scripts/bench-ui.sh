#!/usr/bin/env bash
# The web UI's figures against a real `slipway serve` (release build, its own
# data dir) serving a real Odoo 14.0 development build of the tests' `passing`
# fixture (docs/benchmarks.md):
#   1. what the proxy adds to a small Odoo request, cached against uncached,
#      beside the direct request (crates/server/examples/bench_proxy.rs);
#   2. from a line Odoo logs to the browser, live against polling
#      (crates/cli/benches/log_latency.rs, headless Chromium).
# The branches view's render time is bench_platform's (no Odoo needed).
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-3000}"
probes="${2:-30}"
port=8879
source scripts/lib/bench-serve.sh
cargo build --release --locked -p slipway_server --example bench_proxy >/dev/null 2>&1

git_commit() {
    git -C "$work/repo" add -A
    git -C "$work/repo" -c user.name=bench -c user.email=bench@slipway.invalid commit -qm "$1"
}
cp -r crates/cli/tests/fixtures/passing "$work/repo"
git -C "$work/repo" init -q -b main
git_commit init
start_serve
printf '%s\n' "bench password" | "$slipway" user add bench --admin >/dev/null
"$slipway" project add acme --repo "$work/repo" --odoo 14.0 --poll-interval 1 --quiet-period 0 >/dev/null
echo release >"$work/repo/README"
git_commit "first release"
git -C "$work/repo" checkout -qb feature
echo feature >"$work/repo/FEATURE"
git_commit "a feature"

serving() {
    "$slipway" builds acme --json | python3 -c '
import json, sys
builds = [b for b in json.load(sys.stdin) if b["state"] == "serving"]
stages = {b["stage"] for b in builds}
dev = [b for b in builds if b["stage"] == "development"]
if stages >= {"production", "development"}:
    print(dev[0]["id"])'
}
until [[ -n $(serving) ]]; do sleep 1; done
build=$(serving)
# Where its Odoo listens (in its own network): the control database knows.
build_address=$(PGPASSWORD=$(cat "$SLIPWAY_HOME/postgres/superuser.password") psql -qAt \
    -h "$SLIPWAY_HOME/postgres/run" -U slipway -d slipway_control \
    -c "SELECT url FROM builds WHERE id = $build")
echo "build #$build serves at $build_address"

"$PWD/target/release/examples/bench_proxy" "$build" acme "$requests"
cargo bench --locked -p slipway --bench log_latency -- \
    "http://localhost:$port" "$build" bench "bench password" "${build_address#http://}" "$probes" 2>/dev/null
