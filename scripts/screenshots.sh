#!/usr/bin/env bash
# Regenerates the screenshots of the web UI in docs/screenshots, from the
# end-to-end test that drives it in headless Chromium against a real
# `slipway serve` building real Odoo 14.0 (crates/cli/tests/web_ui.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-host-packages.sh
cargo build --locked --bin slipway
./target/debug/slipway image build 14.0
SLIPWAY_SCREENSHOTS="$PWD/docs/screenshots" \
    cargo nextest run --locked -p slipway --test web_ui the_web_ui_in_a_real_browser
ls -1 docs/screenshots
