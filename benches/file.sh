#!/usr/bin/env bash
# The file-transfer benchmark behind BENCHMARKS.md "## file": a 1 GiB file over loopback,
#   - sockloop serve file (sendfile, and --no-sendfile) vs nc and socat serving the same file,
#     each read by the same client (nc), then end to end with sockloop get (checksum + rename;
#     splice(2) from socket to file, and --no-splice through a buffer),
#   - server RSS growth during the transfers: the kernel's own peak (VmHWM), reset before each
#     transfer with /proc/PID/clear_refs, so no sampler competes with the transfer for the CPU,
#   - PAR parallel `sockloop get`s from the one server thread (and socat's fork-per-client).
# Every contender runs RUNS times, interleaved, in this one run; the table gives best and median.
# The socat pair runs twice a round, the second time as an A/A row: the method's own spread.
#
#   benches/file.sh                     # RUNS=5 SIZE=1G PAR=100 PAR_SIZE=16M
#   RUNS=9 SIZE=256M benches/file.sh
#   ONLY=get PAR=0 benches/file.sh      # the peers, sockloop serve -> socat and -> get; no PAR
#   BASELINE=/tmp/old-sockloop ONLY=get PAR=0 benches/file.sh  # and an older `get`, same rounds
#
# The source file holds real random bytes (not sparse) on disk, read once first so it is in
# the page cache; downloads go to tmpfs (/dev/shm) so that the disk's write speed is not what
# is measured. Needs: cargo, nc (OpenBSD), socat, ss, bc.
set -euo pipefail

RUNS=${RUNS:-5}
SIZE=${SIZE:-1G}
PAR=${PAR:-100}
PAR_SIZE=${PAR_SIZE:-16M}
ONLY=${ONLY:-}   # get: of the sockloop-server rows read by others, only socat's (the server's share)
BASELINE=${BASELINE:-} # another build's binary: its `get` runs too, in the same rounds
WORK=${WORK:-/tmp/sockloop-file-bench}
OUT=${OUT:-/dev/shm/sockloop-file-bench}
BASE_PORT=${BASE_PORT:-7600}

cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/sockloop

mkdir -p "$WORK/root" "$OUT"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT

# --- set-up -----------------------------------------------------------------------------
src=$WORK/root/big.bin
want=$(numfmt --from=iec "$SIZE")
if [ "$(stat -c %s "$src" 2>/dev/null || echo 0)" != "$want" ]; then
    head -c "$want" /dev/urandom > "$src"
fi
head -c "$(numfmt --from=iec "$PAR_SIZE")" "$src" > "$WORK/root/small.bin"
cat "$src" "$WORK/root/small.bin" > /dev/null # into the page cache
printf 's3cret' > "$WORK/token" && chmod 600 "$WORK/token"
export SOCKLOOP_TOKEN=s3cret
printf 'AUTH s3cret\nGET big.bin\n' > "$WORK/request"

wait_port() { # until something listens on 127.0.0.1:$1
    for _ in $(seq 500); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.01; done
    echo "nothing listens on port $1" >&2; return 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
alive() { kill -0 "$1" 2>/dev/null || { echo "the sockloop server (pid $1) is gone" >&2; exit 1; }; }
rss_kb() { awk "/$2/ {print \$2}" "/proc/$1/status"; } # PID VmRSS|VmHWM
reset_peak() { echo 5 > "/proc/$1/clear_refs"; }           # VmHWM := VmRSS
cpu_ms() { awk '{print ($14 + $15) * 10}' "/proc/$1/stat"; }  # user + system, in ms
# CHILDREN_MS := user + system of this script's finished children, in ms. `times` prints the
# shell's own line, then its children's ("0m1.234s 0m0.056s"); it must run in this shell,
# not in a $(...) subshell, which has children of its own.
children_ms() {
    times > "$OUT/times"
    CHILDREN_MS=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 }' "$OUT/times")
}

SF_PORT=$BASE_PORT RW_PORT=$((BASE_PORT + 1)) P=$((BASE_PORT + 2))
RUST_LOG=warn "$BIN" serve file --root "$WORK/root" --listen "127.0.0.1:$SF_PORT" >/dev/null &
SF_PID=$!; PIDS+=("$SF_PID")
RUST_LOG=warn "$BIN" serve file --root "$WORK/root" --listen "127.0.0.1:$RW_PORT" --no-sendfile >/dev/null &
RW_PID=$!; PIDS+=("$RW_PID")
wait_port "$SF_PORT"; wait_port "$RW_PORT"
# The first request of a file hashes it; from then on its checksum is cached.
for port in "$SF_PORT" "$RW_PORT"; do
    for f in big.bin small.bin; do "$BIN" get "127.0.0.1:$port" "$f" -o "$OUT/warm" >/dev/null; done
done

# --- one timed transfer -----------------------------------------------------------------
# run NAME SERVER_PID_OR_EMPTY COMMAND...: records NAME's wall time in ms and, for a sockloop
# server, how far its RSS rose above its RSS just before.
# Also both ends' CPU time together: the client's, and the server's (a peer server exits
# after its one transfer and is waited for; a sockloop server is read from /proc).
declare -A TIMES RSS GROW CPU PAIR
AGAIN="socat -> socat again, last in the round (A/A)"
run() {
    local name=$1 spid=$2; shift 2
    local base=0 peak=0 cpu0=0 server=0
    if [ -n "$spid" ]; then
        alive "$spid"
        reset_peak "$spid"
        base=$(rss_kb "$spid" VmRSS)
        cpu0=$(cpu_ms "$spid")
    fi
    children_ms
    local c0=$CHILDREN_MS
    local t0; t0=$(now_ms)
    "$@" > /dev/null
    TIMES[$name]+="$(($(now_ms) - t0)) "
    if [ -z "$spid" ]; then
        local peer=${PIDS[-1]}
        for _ in $(seq 500); do kill -0 "$peer" 2>/dev/null || break; sleep 0.01; done
        wait "$peer" 2>/dev/null || true
    fi
    if [ -n "$spid" ]; then
        server=$(($(cpu_ms "$spid") - cpu0))
    fi
    children_ms
    PAIR[$name]+="$((CHILDREN_MS - c0 + server)) "
    if [ -n "$spid" ]; then
        peak=$(rss_kb "$spid" VmHWM)
        CPU[$name]+="$server "
        local grow=$((peak - base))
        [ -n "${GROW[$name]:-}" ] && [ "${GROW[$name]}" -ge "$grow" ] || {
            GROW[$name]=$grow
            RSS[$name]="$base -> $peak KiB (+$grow)"
        }
    fi
    rm -f "$OUT/dl"
}
nc_serve() { nc -l -N 127.0.0.1 "$P" < "$src" & PIDS+=($!); wait_port "$P"; }
socat_serve() { socat -u -b 131072 "FILE:$src" "TCP-LISTEN:$P,reuseaddr" & PIDS+=($!); wait_port "$P"; }
nc_get() { nc -d 127.0.0.1 "$P" > "$OUT/dl"; }
nc_request() { nc -N 127.0.0.1 "$1" < "$WORK/request" > "$OUT/dl"; }
socat_get() { socat -u -b 131072 "TCP:127.0.0.1:$P" "CREATE:$OUT/dl"; }
# -t: after sending the request, keep reading until the server closes.
socat_request() { socat -t 100 -b 131072 - "TCP:127.0.0.1:$1" < "$WORK/request" > "$OUT/dl"; }
sockloop_get() { "$BIN" get "127.0.0.1:$1" big.bin -o "$OUT/dl"; }
sockloop_get_copy() { "$BIN" get --no-splice "127.0.0.1:$1" big.bin -o "$OUT/dl"; }
baseline_get() { "$BASELINE" get "127.0.0.1:$1" big.bin -o "$OUT/dl"; }

for _ in $(seq "$RUNS"); do
    nc_serve;                          run "nc -> nc" "" nc_get
    socat_serve;                       run "socat -> socat (128K buffers)" "" socat_get
    socat_serve;                       run "socat -> nc" "" nc_get
    if [ "$ONLY" != get ]; then
        run "sockloop serve (sendfile) -> nc" "$SF_PID" nc_request "$SF_PORT"
        run "sockloop serve (read+write) -> nc" "$RW_PID" nc_request "$RW_PORT"
    fi
    run "sockloop serve (sendfile) -> socat (128K buffers)" "$SF_PID" socat_request "$SF_PORT"
    run "sockloop serve (read+write) -> socat (128K buffers)" "$RW_PID" socat_request "$RW_PORT"
    run "sockloop serve (sendfile) -> sockloop get" "$SF_PID" sockloop_get "$SF_PORT"
    run "sockloop serve (read+write) -> sockloop get" "$RW_PID" sockloop_get "$RW_PORT"
    run "sockloop serve (sendfile) -> sockloop get --no-splice" "$SF_PID" sockloop_get_copy "$SF_PORT"
    if [ -n "$BASELINE" ]; then
        run "sockloop serve (sendfile) -> baseline get" "$SF_PID" baseline_get "$SF_PORT"
        run "sockloop serve (read+write) -> baseline get" "$RW_PID" baseline_get "$RW_PORT"
    fi
    # The socat pair once more, last in the round: against itself, its ratio shows what the
    # method cannot tell apart (an A/A row), position in the round included.
    socat_serve;                       run "$AGAIN" "" socat_get
done

stats() { # best and median of a list of ms
    sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d %d\n", a[1], m}'
}
# The median of sorted ratios and, from 6 values up, a 95 % confidence interval for it: the
# sign test's k-th smallest and k-th largest, k the largest with P(Binomial(n, 1/2) < k) <= 2.5 %
# (no assumption about the noise's shape; benches/echo/spread.rs does the same in Rust).
median_ci() {
    awk '{a[NR]=$1} END {
        n=NR; m=(n%2) ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2
        below=0; choose=1; k=0
        for (i=0; i<=int(n/2); i++) { below+=choose; if (below/2^n > 0.025) break; k=i+1; choose*=(n-i)/(i+1) }
        if (k > 0) printf "%.2fx (%.2f - %.2f)", m, a[k], a[n-k+1]; else printf "%.2fx", m
    }'
}
# Other load on the machine moves every time; a ratio to the best peer of the same round
# (run back to back) is steadier than either time alone.
PEERS=("nc -> nc" "socat -> socat (128K buffers)" "socat -> nc")
# The best peer is the one with the lowest median time, and every row is compared with its
# time in the same round. (Not with the fastest of the peers in each round: the least of
# three noisy times is biased low, so a contender as fast as the peers would come out slower.)
best_peer= best_med=
for peer in "${PEERS[@]}"; do
    read -r _ med < <(tr ' ' '\n' <<< "${TIMES[$peer]}" | grep . | stats)
    [ -n "$best_med" ] && [ "$med" -ge "$best_med" ] || { best_peer=$peer; best_med=$med; }
done
read -ra peer_best <<< "${TIMES[$best_peer]}"
echo
echo "## $SIZE over loopback, $RUNS runs each ($(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Best peer (lowest median time): $best_peer; each row's time is divided by its time in the same round."
echo
echo "| server -> client | best s | median s | best MiB/s | median time / best peer's, same round (95 % interval) | sockloop server CPU s (median) | both ends' CPU s (median) | server VmRSS before -> peak (worst run) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
ROWS=("${PEERS[@]}" "$AGAIN")
[ "$ONLY" = get ] || ROWS+=("sockloop serve (sendfile) -> nc" "sockloop serve (read+write) -> nc")
ROWS+=("sockloop serve (sendfile) -> socat (128K buffers)" "sockloop serve (read+write) -> socat (128K buffers)")
ROWS+=("sockloop serve (sendfile) -> sockloop get" "sockloop serve (read+write) -> sockloop get")
ROWS+=("sockloop serve (sendfile) -> sockloop get --no-splice")
[ -z "$BASELINE" ] ||
    ROWS+=("sockloop serve (sendfile) -> baseline get" "sockloop serve (read+write) -> baseline get")
for name in "${ROWS[@]}"; do
    read -r best med < <(tr ' ' '\n' <<< "${TIMES[$name]}" | grep . | stats)
    read -ra t <<< "${TIMES[$name]}"
    ratio=$(for ((r = 0; r < RUNS; r++)); do bc -l <<< "${t[$r]}/${peer_best[$r]}"; done | sort -n | median_ci)
    rss=${RSS[$name]:-}
    cpu=-
    [ -z "${CPU[$name]:-}" ] || cpu=$(tr ' ' '\n' <<< "${CPU[$name]}" | grep . | stats | awk '{printf "%.2f", $2 / 1000}')
    pair=$(tr ' ' '\n' <<< "${PAIR[$name]}" | grep . | stats | awk '{printf "%.2f", $2 / 1000}')
    printf "| %s | %.2f | %.2f | %.0f | %s | %s | %s | %s |\n" "$name" "$(bc -l <<< "$best/1000")" \
        "$(bc -l <<< "$med/1000")" "$(bc -l <<< "$want/1048576/($best/1000)")" "$ratio" "$cpu" "$pair" "${rss:--}"
done

# --- PAR downloads at once from the one server thread ------------------------------------
[ "$PAR" -gt 0 ] || exit 0 # (and `wait` with no clients would wait for the servers)
par_size=$(numfmt --from=iec "$PAR_SIZE")
par_run() { # LABEL SERVER_PID BYTES_EACH CLIENT_COMMAND_PREFIX...: PAR clients at once
    local label=$1 spid=$2 expect=$3; shift 3
    local base=0
    if [ -n "$spid" ]; then
        alive "$spid"
        reset_peak "$spid"
        base=$(rss_kb "$spid" VmRSS)
    fi
    local cpu0=0; [ -n "$spid" ] && cpu0=$(awk '{print $14+$15}' "/proc/$spid/stat")
    local t0; t0=$(now_ms)
    local pids=()
    for i in $(seq "$PAR"); do
        (s=$(now_ms); "$@" "$OUT/par$i" > /dev/null; echo $(($(now_ms) - s)) > "$OUT/time$i") &
        pids+=($!)
    done
    wait "${pids[@]}"
    local total=$(($(now_ms) - t0))
    local grow=-
    if [ -n "$spid" ]; then
        local peak; peak=$(rss_kb "$spid" VmHWM)
        grow="$base -> $peak KiB (+$((peak - base)))"
        cpu=$(( ($(awk '{print $14+$15}' "/proc/$spid/stat") - cpu0) * 10 ))
    else
        cpu=
    fi
    local ok; ok=$(for i in $(seq "$PAR"); do stat -c %s "$OUT/par$i" 2>/dev/null; done | grep -c "^$expect$" || true)
    read -r fastest slowest < <(cat "$OUT"/time* | sort -n | awk 'NR==1 {f=$1} {l=$1} END {print f, l}')
    printf "| %s | %d/%d | %.2f | %.0f | %.2f / %.2f | %s | %s |\n" "$label" "$ok" "$PAR" \
        "$(bc -l <<< "$total/1000")" "$(bc -l <<< "$PAR*$par_size/1048576/($total/1000)")" \
        "$(bc -l <<< "$fastest/1000")" "$(bc -l <<< "$slowest/1000")" "${cpu:+$cpu ms}" "$grow"
    rm -f "$OUT"/par* "$OUT"/time*
}
echo
echo "## $PAR downloads of $PAR_SIZE at once"
echo
echo "| server (clients) | complete | wall s | MiB/s total | fastest / slowest client s | server CPU | server VmRSS before -> peak |"
echo "|---|---:|---:|---:|---:|---:|---:|"
par_run "sockloop serve (sendfile), one thread (sockloop get)" "$SF_PID" "$par_size" \
    "$BIN" get "127.0.0.1:$SF_PORT" small.bin -o
par_run "sockloop serve (read+write), one thread (sockloop get)" "$RW_PID" "$par_size" \
    "$BIN" get "127.0.0.1:$RW_PORT" small.bin -o
# The same servers and the same client as socat's row below: nc, which does not verify.
printf 'AUTH s3cret\nGET small.bin\n' > "$WORK/request-small"
with_header=$((par_size + ${#par_size} + 74)) # OK\n, FILE <size> <64 hex>\n, the bytes
nc_sf() { nc -N 127.0.0.1 "$SF_PORT" < "$WORK/request-small" > "$1"; }
nc_rw() { nc -N 127.0.0.1 "$RW_PORT" < "$WORK/request-small" > "$1"; }
par_run "sockloop serve (sendfile), one thread (nc)" "$SF_PID" "$with_header" nc_sf
par_run "sockloop serve (read+write), one thread (nc)" "$RW_PID" "$with_header" nc_rw
# Listener first: each forked child opens the file for itself (-U: right to left only).
socat -U -b 131072 "TCP-LISTEN:$P,reuseaddr,fork,backlog=1024" "FILE:$WORK/root/small.bin" & PIDS+=($!)
wait_port "$P"
nc_par() { nc -d 127.0.0.1 "$P" > "$1"; }
par_run "socat fork, a process per client (nc)" "" "$par_size" nc_par
