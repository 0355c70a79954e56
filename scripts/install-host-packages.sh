#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages slipway needs on the host, if missing:
# bubblewrap (the sandbox), debootstrap (Odoo images), PostgreSQL's server
# binaries (the embedded cluster), git, a C compiler for building slipway,
# Python 3 (the tests drive the mail catcher with smtplib, as Odoo does),
# iproute2 and nftables (a network of its own per build under slipway serve),
# Chromium with its WebDriver server (the web UI's tests run headless Chromium),
# and npm when there is none (the UI's browser assets come from npm packages,
# installed from their lockfile when slipway is built).
set -euo pipefail

# chromium and chromium-driver are Debian's (/usr/bin/chromium, /usr/bin/chromedriver);
# Ubuntu ships them as snaps under other names (chromium-browser, chromium-chromedriver).
packages=(bubblewrap debootstrap git ca-certificates postgresql gcc libc6-dev python3
    iproute2 nftables chromium chromium-driver)
# A Node.js installed otherwise (nvm, NodeSource) is fine: only `npm` is needed.
if ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "error: missing packages (${missing[*]}); run this script as root (sudo)" >&2
        exit 2
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d-free hosts start Debian's own PostgreSQL cluster; slipway does
    # not use it (it runs its own, socket-only, in its data dir).
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "error: no Rust toolchain: install one with rustup (https://rustup.rs), Rust 1.89 or newer" >&2
    exit 2
fi
