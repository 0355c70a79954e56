# Sourced by the bench-*.sh scripts: a release `slipway serve` with a data dir
# of its own under a temporary directory, stopped and removed on exit.
# Needs $port; sets $slipway, $work and SLIPWAY_HOME; `start_serve` starts it
# and waits until it answers.
cargo build --release --locked --bin slipway >/dev/null 2>&1
slipway="$PWD/target/release/slipway"
work=$(mktemp -d)
chmod 755 "$work"
export SLIPWAY_HOME="$work/home"
cleanup() {
    pkill -TERM -f "slipway serve --listen 127.0.0.1:$port" 2>/dev/null || true
    sleep 3
    "$slipway" postgres stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

start_serve() {
    "$slipway" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
    until "$slipway" status >/dev/null 2>&1; do sleep 0.5; done
}
