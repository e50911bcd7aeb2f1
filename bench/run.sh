#!/bin/sh
# bench/run.sh - the standard benchmark set against a fresh tallyd.
#
# Starts $TALLYD (default bin/tallyd) on a temp dbpath under $BENCH_DIR
# (default $TMPDIR or /tmp: put it on the disk you want to measure), then:
#   1. the fsync baseline on that same disk (bench/fsync_rate),
#   2. insert at 1 and 64 clients, find and update by _id at 64 clients,
#      $BENCH_SECONDS each (default 10), with server CPU per 1,000 ops,
#   3. "inserts per fsync" = insert ops/s / fsyncs/s (group commit),
#   4. idle-connection memory (measured first, on the fresh server): 1,000 raw
#      connections that each did a hello; RSS growth per connection.
# Prints every result line, then a Markdown summary table.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
TALLYD=${TALLYD:-bin/tallyd}
case $TALLYD in /*) ;; *) TALLYD=$ROOT/$TALLYD ;; esac
SECONDS_EACH=${BENCH_SECONDS:-10}
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
N_IDLE=${BENCH_IDLE_CONNS:-1000}

make -s -C bench >/dev/null || exit 1
WORK=$(mktemp -d "$BASE/tally-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Idle connections need file descriptors on both sides.
ulimit -n 4096 2>/dev/null || true

PORT=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$WORK/db"
"$TALLYD" --dbpath "$WORK/db" --port "$PORT" --bind_ip 127.0.0.1 --logpath "$WORK/tallyd.log" \
    >"$WORK/stderr.log" 2>&1 &
SERVER_PID=$!
i=0
until grep -q "Waiting for connections" "$WORK/tallyd.log" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $i -ge 400 ]; then
        echo "bench: tallyd did not start" >&2
        cat "$WORK/stderr.log" "$WORK/tallyd.log" >&2 2>/dev/null
        exit 1
    fi
    i=$((i + 1))
    sleep 0.05
done
URI="mongodb://127.0.0.1:$PORT/?maxPoolSize=100"

echo "# fsync baseline on $(df -P "$WORK" | awk 'NR==2 {print $1 " (" $6 ")"}')"
FSYNC_JSON=$(bench/fsync_rate "$WORK" 3)
echo "$FSYNC_JSON"
FSYNCS=$(echo "$FSYNC_JSON" | sed -n 's/.*"fsyncs_per_s":\([0-9.]*\).*/\1/p')

# Idle connections first, on a fresh server: after the load runs the heap
# holds freed memory that new connections would reuse, hiding their cost.
echo "# idle connections: $N_IDLE"
IDLE_JSON=$(/usr/bin/python3 bench/idle_conns.py "$PORT" "$SERVER_PID" "$N_IDLE" 2>&1)
echo "$IDLE_JSON"

RESULTS=$WORK/results.jsonl
run() {
    echo "# bench --op $1 --clients $2 --seconds $SECONDS_EACH"
    bench/bench --uri "$URI" --op "$1" --clients "$2" --seconds "$SECONDS_EACH" --server-pid "$SERVER_PID" \
        --keys 100000 >"$WORK/out.txt" 2>&1
    rc=$?
    cat "$WORK/out.txt"
    if [ $rc -ne 0 ]; then
        echo "bench: --op $1 --clients $2 exited $rc" >&2
    fi
    grep '^{' "$WORK/out.txt" >>"$RESULTS"
}
run insert 1
run insert 64
run find 64
run update 64


echo
echo "| op | clients | ops/s | p50 ms | p99 ms | server CPU s / 1k ops | inserts per fsync |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
while read -r line; do
    op=$(echo "$line" | sed -n 's/.*"op":"\([a-z]*\)".*/\1/p')
    cl=$(echo "$line" | sed -n 's/.*"clients":\([0-9]*\).*/\1/p')
    ops=$(echo "$line" | sed -n 's/.*"ops_per_s":\([0-9.]*\).*/\1/p')
    p50=$(echo "$line" | sed -n 's/.*"p50_ms":\([0-9.]*\).*/\1/p')
    p99=$(echo "$line" | sed -n 's/.*"p99_ms":\([0-9.]*\).*/\1/p')
    cpu=$(echo "$line" | sed -n 's/.*"server_cpu_s_per_1k_ops":\([-0-9.]*\).*/\1/p')
    ipf=-
    if [ "$op" = insert ] && [ -n "$FSYNCS" ]; then
        ipf=$(awk -v a="$ops" -v b="$FSYNCS" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    fi
    echo "| $op | $cl | $ops | $p50 | $p99 | $cpu | $ipf |"
done <"$RESULTS"
echo
echo "fsync baseline: $FSYNCS fsyncs/s (100-byte write + fdatasync, one thread)"
echo "idle connections: $IDLE_JSON"

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
SERVER_PID=
[ $rc -eq 0 ] || echo "bench: tallyd exited $rc after SIGTERM" >&2
