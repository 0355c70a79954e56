#!/usr/bin/env bash
# The full test suite: formatting and clippy (warnings are errors), then every
# test, end-to-end tests with real Odoo 14.0 and 19.0 and a real
# PostgreSQL included. Installs what is missing; builds the Odoo images once
# (cached under /var/cache/slipway/images, reused while present).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-host-packages.sh
# A clean clone (CI) gains nothing from incremental compilation data, which
# was more than half of target/ (22 of 38 GB) and once filled CI's disk.
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi
# Gates first: they are quick and say what to fix before any test runs.
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --locked --bin slipway
for version in 14.0 19.0; do
    ./target/debug/slipway image build "$version"
done

# The end-to-end tests' data dir (their embedded PostgreSQL runs as the
# unprivileged `slipway` user, so it lives under /tmp, not in this checkout).
export SLIPWAY_E2E_HOME="${TMPDIR:-/tmp}/slipway-e2e-$(printf '%s' "$PWD" | sha256sum | cut -c1-16)"
stop_test_cluster() {
    SLIPWAY_HOME="$SLIPWAY_E2E_HOME" ./target/debug/slipway postgres stop >/dev/null 2>&1 || true
}
trap stop_test_cluster EXIT

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
