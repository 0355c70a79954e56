#!/usr/bin/env bash
# Production downtime of an update: a real `slipway serve` (its own data dir),
# two projects on copies of the same repository (tests' `production` fixture,
# Odoo 14.0): `changed` updates the modules whose code changed, `all` was added
# with --update-all. Each round pushes the same one-line change of one small
# module to both, one after the other, and polls production's address through
# the proxy every ~10 ms: downtime = first 503 → first 200 after it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
port=8878
source scripts/lib/bench-serve.sh

commit() {
    git -C "$1" add -A
    git -C "$1" -c user.name=bench -c user.email=bench@slipway.invalid commit -qm "$2"
}
for project in changed all; do
    cp -r crates/cli/tests/fixtures/production "$work/$project"
    git -C "$work/$project" init -q -b main
    commit "$work/$project" init
done
start_serve
"$slipway" project add changed --repo "$work/changed" --odoo 14.0 --poll-interval 1 --quiet-period 0 >/dev/null
"$slipway" project add all --repo "$work/all" --odoo 14.0 --poll-interval 1 --quiet-period 0 --update-all >/dev/null

status() { curl -s -o /dev/null -m 5 -w '%{http_code}' -H "Host: $1.localhost:$port" "http://127.0.0.1:$port/web/login" || true; }
production_build() { "$slipway" production "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["build"])' 2>/dev/null || echo none; }

# The first push creates each production database.
for project in changed all; do
    echo "first" > "$work/$project/README"
    commit "$work/$project" first
    until [[ $(production_build "$project") != none ]]; do sleep 1; done
done

declare -A downtimes
for ((i = 1; i <= rounds; i++)); do
    for project in changed all; do
        before=$(production_build "$project")
        sed -i "s/<field name=\"value\">[^<]*</<field name=\"value\">round $i</" "$work/$project/shop_extra/data/params.xml"
        commit "$work/$project" "round $i"
        first_503=""
        while true; do
            code=$(status "$project")
            now=$(date +%s.%N)
            if [[ -z $first_503 && $code == 503 ]]; then first_503=$now; fi
            if [[ -n $first_503 && $code == 200 ]]; then break; fi
            sleep 0.01
        done
        after=$(production_build "$project")
        [[ $after != "$before" ]] || { echo "round $i ($project): the update did not serve" >&2; exit 1; }
        ms=$(python3 -c "print(round(($now - $first_503) * 1000))")
        echo "round $i, $project: downtime ${ms} ms (build $before → $after)"
        downtimes[$project]+="$ms "
    done
done
python3 - "${downtimes[changed]}" "${downtimes[all]}" <<'PY'
import statistics, sys
changed = [int(v) for v in sys.argv[1].split()]
full = [int(v) for v in sys.argv[2].split()]
print(f"median downtime: changed modules only {statistics.median(changed) / 1000:.1f} s, -u all {statistics.median(full) / 1000:.1f} s ({len(changed)} rounds each)")
PY
