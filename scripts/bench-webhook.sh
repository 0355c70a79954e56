#!/usr/bin/env bash
# Push-to-build-start latency through the GitHub webhook: a real `slipway serve`
# (its own data dir), a repository with the example addons, a quiet period of
# QUIET seconds. Each round commits, sends the signed webhook, and reads when the
# worker claimed the build (builds.started_at) from the control database; the
# latency is that minus the send time minus the quiet period. Rounds wait for the
# previous build to finish so that a worker is free.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
quiet=2
port=8877
source scripts/lib/bench-serve.sh

cp -r examples/addons "$work/repo"
git -C "$work/repo" init -q -b main
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@slipway.invalid commit -qm init
start_serve
"$slipway" project add bench --repo "$work/repo" --odoo 14.0 --poll-interval 86400 --quiet-period "$quiet" >/dev/null
secret=$(PGPASSWORD=$(cat "$SLIPWAY_HOME/postgres/superuser.password") psql -qAt -h "$SLIPWAY_HOME/postgres/run" -U slipway -d slipway_control \
    -c "SELECT webhook_secret FROM projects WHERE name = 'bench'")
sql() { PGPASSWORD=$(cat "$SLIPWAY_HOME/postgres/superuser.password") psql -qAt -h "$SLIPWAY_HOME/postgres/run" -U slipway -d slipway_control -c "$1"; }
git -C "$work/repo" checkout -qb feature
latencies=()
for ((i = 0; i <= rounds; i++)); do
    echo "round $i" >> "$work/repo/CHANGES"
    git -C "$work/repo" add -A
    git -C "$work/repo" -c user.name=bench -c user.email=bench@slipway.invalid commit -qm "round $i"
    commit=$(git -C "$work/repo" rev-parse HEAD)
    body="{\"ref\":\"refs/heads/feature\",\"after\":\"$commit\",\"repository\":{\"clone_url\":\"$work/repo\"}}"
    signature="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"
    sent=$(date +%s.%N)
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/hooks/github/bench" -H "X-GitHub-Event: push" \
        -H "X-Hub-Signature-256: $signature" -H "Content-Type: application/json" --data "$body"
    until started=$(sql "SELECT extract(epoch FROM started_at) FROM builds WHERE commit = '$commit' AND started_at IS NOT NULL") && [[ -n $started ]]; do
        sleep 0.02
    done
    # Round 0 builds the template database: a warm-up, not measured.
    if ((i > 0)); then
        latencies+=("$(python3 -c "print(round(($started - $sent - $quiet) * 1000, 1))")")
    fi
    until [[ $(sql "SELECT state FROM builds WHERE commit = '$commit'") =~ ^(serving|done)$ ]]; do sleep 0.5; done
done
python3 - "${latencies[@]}" <<'PY'
import statistics, sys
values = sorted(float(v) for v in sys.argv[1:])
print(f"webhook → build start, minus the quiet period: median {statistics.median(values):.0f} ms, "
      f"max {values[-1]:.0f} ms over {len(values)} rounds: {values}")
PY
