#!/usr/bin/env bash
# Isolation's figures (docs/benchmarks.md), as root:
#   1. what a network of its own adds to the start of a run, against bwrap's
#      own empty network namespace (crates/network/examples/bench_plumbing.rs);
#   2. production's latency (p50/p99 of a small JSON-RPC call through the
#      proxy) alone and while a development build keeps every core busy and
#      holds 1 GiB (fixture limits_changes/cpu_hog), under a release
#      `slipway serve` with its builds confined, then the same with
#      --unconfined (no limits: the naive way), Odoo 19.0, tests' `passing`;
#   3. what the proxy adds to a small Odoo request to that development build
#      once it serves, in its own network (confined) and on the loopback
#      (unconfined) (crates/server/examples/bench_proxy.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-1000}"
port=8877
source scripts/lib/bench-serve.sh
cargo build --release --locked -p slipway_network --example bench_plumbing >/dev/null 2>&1
cargo build --release --locked -p slipway_server --example bench_proxy >/dev/null 2>&1

echo "== the network of a run"
target/release/examples/bench_plumbing 50

commit() {
    git -C "$1" add -A
    git -C "$1" -c user.name=bench -c user.email=bench@slipway.invalid commit -qm "$2"
}

# p50 and p99 of $requests calls of /web/webclient/version_info on
# production's public address, one every 10 ms on a keep-alive connection.
latency() {
    python3 - "$port" "$requests" <<'EOF'
import http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": {}})
headers = {"Host": f"shop.localhost:{port}", "Content-Type": "application/json"}
samples = []
for _ in range(n):
    started = time.perf_counter()
    connection.request("POST", "/web/webclient/version_info", body, headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    samples.append((time.perf_counter() - started) * 1000)
    time.sleep(0.01)
samples.sort()
print(f"p50 {samples[n // 2]:.2f} ms, p99 {samples[int(n * 0.99)]:.2f} ms")
EOF
}

newest_build() {
    "$slipway" builds shop --branch "$1" --json 2>/dev/null |
        python3 -c 'import json, sys; b = json.load(sys.stdin); print(b[0]["id"] if b else "")' 2>/dev/null || true
}

for mode in confined unconfined; do
    export SLIPWAY_HOME="$work/home-$mode"
    repo="$work/repo-$mode"
    cp -r crates/cli/tests/fixtures/passing "$repo"
    git -C "$repo" init -q -b main
    commit "$repo" init
    flags=()
    if [[ $mode == unconfined ]]; then flags=(--unconfined); fi
    "$slipway" serve --listen "127.0.0.1:$port" "${flags[@]}" >"$work/serve-$mode.log" 2>&1 &
    serve=$!
    until "$slipway" status >/dev/null 2>&1; do sleep 0.5; done
    "$slipway" project add shop --repo "$repo" --odoo 19.0 --poll-interval 1 --quiet-period 0 >/dev/null
    until "$slipway" production shop --json >/dev/null 2>&1; do sleep 1; done
    echo "== $mode: production alone: $(latency)"
    git -C "$repo" checkout -qb hog
    cp -r crates/cli/tests/fixtures/limits_changes/cpu_hog "$repo/cpu_hog"
    commit "$repo" hog
    until [[ -n $(newest_build hog) ]]; do sleep 1; done
    hog=$(newest_build hog)
    until find "$SLIPWAY_HOME" -name cpu-hog-started 2>/dev/null | grep -q .; do sleep 0.2; done
    echo "== $mode: production beside the hog (build #$hog): $(latency)"
    until "$slipway" builds shop --branch hog --json | grep -q '"state": *"serving"'; do sleep 1; done
    echo "== $mode: the proxy to development build #$hog"
    "$PWD/target/release/examples/bench_proxy" "$hog" shop "$requests"
    kill -TERM "$serve"
    wait "$serve" || true
    "$slipway" postgres stop >/dev/null 2>&1 || true
done
