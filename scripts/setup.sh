#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a real Odoo build:
# installs what is missing, builds slipway, and runs `slipway ci` on the example
# addons repository (Odoo 14.0: the image is built on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-host-packages.sh
cargo build --release --locked --bin slipway
exec ./target/release/slipway ci examples/addons --odoo 14.0 "$@"
