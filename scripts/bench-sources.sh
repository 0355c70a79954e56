#!/usr/bin/env bash
# Benchmark of Odoo from source in `slipway ci` (docs/benchmarks.md): for each
# round, a new commit of the Odoo 19.0 stand-in (the real Odoo of slipway's
# 19.0 image in upstream's layout, made by the test suite's helper), then
#   new commit   — project A's build on it: fetch into the mirror, export the
#                  tree, build the template database, install and test;
#   same commit  — project B's build on it: everything reused;
#   naive copy   — what a copy per build costs: `git clone` of the repository
#                  and checkout of that commit.
# Prints medians of wall times, and disk used by the shared tree of a commit
# against a copy per build. The runtime image is built once, before the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
slipway="$PWD/target/release/slipway"
cargo build --release --locked --bin slipway >/dev/null 2>&1

work=$(mktemp -d /tmp/slipway-bench-sources.XXXXXX)
# PostgreSQL and the sandboxes run as the `slipway` account: it must enter it.
chmod 755 "$work"
export SLIPWAY_HOME="$work/home"
export SLIPWAY_E2E_HOME="$work/standins-home"
trap 'SLIPWAY_HOME="$work/home" "$slipway" postgres stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The stand-in, as the end-to-end tests make it.
cargo nextest run --locked -p slipway --test odoo_source_standins >/dev/null 2>&1
standin=$(ls -d "$SLIPWAY_E2E_HOME"/standins/odoo-19.0-*)
git clone --quiet --branch 19.0 "$standin" "$work/odoo"
git -C "$work/odoo" config user.email bench@slipway.invalid
git -C "$work/odoo" config user.name bench

project() { # a project repository from a test fixture
    cp -r "crates/cli/tests/fixtures/$1" "$work/$1"
    git -C "$work/$1" init -q -b main
    git -C "$work/$1" add -A
    git -C "$work/$1" -c user.email=b@s.invalid -c user.name=b commit -qm fixture
}
project passing
project warns_at_install

build() { # prints the wall seconds of one `slipway ci` of project $1 at Odoo commit $2
    local start end
    start=$(date +%s.%N)
    "$slipway" ci "$work/$1" --odoo 19.0 --odoo-repo "$work/odoo" --odoo-rev "$2" --json \
        >"$work/out.json" 2>"$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.2f}')"
}

# Warm-up: the runtime image (once per requirements/debian/control) and the cluster.
build passing "$(git -C "$work/odoo" rev-parse HEAD)" >/dev/null
runtime_s=$(python3 -c "import json,glob; print(round(max(json.load(open(p))['build_seconds'] for p in glob.glob('${SLIPWAY_IMAGE_DIR:-/var/cache/slipway/images}/runtime-19.0-*/image.json')), 1))")

new=(); same=(); naive=(); tree_mb=(); copy_mb=()
for ((i = 1; i <= rounds; i++)); do
    echo "# round $i" >>"$work/odoo/odoo/addons/base/models/res_partner.py"
    git -C "$work/odoo" commit -qam "round $i"
    commit=$(git -C "$work/odoo" rev-parse HEAD)
    new+=("$(build passing "$commit")")
    same+=("$(build warns_at_install "$commit")")
    start=$(date +%s.%N)
    git clone --quiet --no-checkout "$work/odoo" "$work/copy-$i"
    git -C "$work/copy-$i" checkout --quiet "$commit"
    end=$(date +%s.%N)
    naive+=("$(python3 -c "print(f'{$end - $start:.2f}')")")
    tree_mb+=("$(du -sm "$SLIPWAY_HOME"/trees/*/"$commit" | cut -f1)")
    copy_mb+=("$(du -sm "$work/copy-$i" | cut -f1)")
    rm -rf "$work/copy-$i"
done

python3 - "$rounds" "$runtime_s" "${new[*]}" "${same[*]}" "${naive[*]}" "${tree_mb[*]}" "${copy_mb[*]}" <<'PY'
import statistics, sys
n, runtime = int(sys.argv[1]), sys.argv[2]
new, same, naive, tree, copy = ([float(x) for x in a.split()] for a in sys.argv[3:8])
m = statistics.median
print(f"runtime image (once per requirements.txt/debian/control): {runtime} s")
print(f"{'':34}{'median s':>10}   (of {n} rounds)")
print(f"{'build on a new Odoo commit':34}{m(new):>10.2f}")
print(f"{'second project, same commit':34}{m(same):>10.2f}")
print(f"{'naive: clone + checkout per build':34}{m(naive):>10.2f}   (the copy alone)")
print(f"disk per additional commit: shared tree {m(tree):.0f} MB once; a copy per build {m(copy):.0f} MB each")
print("raw:", "new", new, "same", same, "naive", naive, "tree MB", tree, "copy MB", copy)
PY
