#!/usr/bin/env bash
# User-space instructions per echoed message, for sockloop serve echo and the two peers of
# benches/echo (tokio current_thread, plain mio), counted by callgrind. Instruction counts do
# not depend on what else the machine is doing, so unlike the timed figures they are
# repeatable on a shared VM: this is the figure to compare before and after a change to the
# reactor's hot path. (They leave out the kernel, which is most of an echo's cost.)
#
#   benches/instructions.sh               # 1 and 1,000 connections
#   CLIENTS="100" benches/instructions.sh
#
# Each server runs under valgrind twice, loaded by `sockloop stress echo` for SHORT and then
# LONG seconds; the difference of the two totals over the difference of the messages cancels
# start-up and the connects. Needs: cargo, valgrind, python3.
set -euo pipefail

CLIENTS=${CLIENTS:-"1 1000"}
SHORT=${SHORT:-3}
LONG=${LONG:-9}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cd "$(dirname "$0")/.."
cargo build --release --quiet
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/sockloop
cargo bench --bench echo --no-run --quiet 2>/dev/null
peer=$(ls -t "$target"/release/deps/echo-* | grep -v '\.d$' | head -1)

# run SECONDS CLIENTS SERVER-COMMAND... -> "messages instructions"
run() {
    local secs=$1 clients=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg" "$@" >"$WORK/log" 2>&1 &
    local vg=$! addr=""
    for _ in $(seq 1 300); do
        addr=$(grep -o 'listening on [^ ]*' "$WORK/log" | head -1 | cut -d' ' -f3 || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "server did not start: $(cat "$WORK/log")" >&2; exit 1; }
    "$bin" stress echo "$addr" --clients "$clients" --duration "${secs}s" --warmup 0s --json >"$WORK/json"
    # sockloop stops on SIGINT; the peers do not all handle it, SIGTERM ends them.
    kill -INT $vg
    for _ in $(seq 1 50); do kill -0 $vg 2>/dev/null || break; sleep 0.1; done
    kill -TERM $vg 2>/dev/null || true
    wait $vg || true
    python3 - "$WORK/json" "$WORK/cg" <<'EOF'
import json, sys
msgs = json.load(open(sys.argv[1]))["messages"]
total = next(int(l.split()[1]) for l in open(sys.argv[2]) if l.startswith("totals:"))
print(msgs, total)
EOF
}

echo "| connections | server | instructions per message |"
echo "|---:|---|---:|"
for clients in $CLIENTS; do
    for server in sockloop tokio mio; do
        case $server in
            sockloop) cmd=("$bin" serve echo --listen 127.0.0.1:0) ;;
            *) cmd=("$peer" peer "$server") ;;
        esac
        read -r m1 i1 < <(RUST_LOG=warn run "$SHORT" "$clients" "${cmd[@]}")
        read -r m2 i2 < <(RUST_LOG=warn run "$LONG" "$clients" "${cmd[@]}")
        echo "| $clients | $server | $(( (i2 - i1) / (m2 - m1) )) |"
    done
done
