#!/bin/sh
# bench/run_replset.sh - insert benchmarks against a 3-member replica set,
# with a standalone baseline measured in the same run.
#
# Starts a standalone $TALLYD (default bin/tallyd) and a 3-member set
# (`bin/tally cluster up --fast`) on free loopback ports, in temp folders under
# $BENCH_DIR (default $TMPDIR or /tmp), then runs $BENCH_SECONDS (default 10)
# each:
#   standalone: insert at 1 and 64 clients (w:1, the baseline),
#   replica set: insert with w:1 and w:"majority" at 1 and 64 clients.
# The set runs while the standalone is idle and the other way round; server
# CPU is summed over every member of the set. Prints every result line, then a
# Markdown table with each set result's ops/s and p50 as a ratio of the
# standalone's at the same client count: the machine is shared and noisy, so
# the ratios travel better than the absolute numbers.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
TALLYD=${TALLYD:-bin/tallyd}
case $TALLYD in /*) ;; *) TALLYD=$ROOT/$TALLYD ;; esac
TALLY=${TALLY:-bin/tally}
case $TALLY in /*) ;; *) TALLY=$ROOT/$TALLY ;; esac
SECONDS_EACH=${BENCH_SECONDS:-10}
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}

make -s -C bench >/dev/null || exit 1
[ -x "$TALLY" ] || { echo "bench: $TALLY not found (make bin/tally)" >&2; exit 1; }
WORK=$(mktemp -d "$BASE/tally-bench-rs.XXXXXX")
SERVER_PID=
IS_SET_UP=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ -n "$IS_SET_UP" ]; then
        "$TALLY" cluster down --dir "$WORK/rs" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Three consecutive free ports for the set (P, P+1, P+2), one for the standalone.
RS_PORT=$(/usr/bin/python3 - <<'EOF'
import random, socket
for _ in range(200):
    p = random.randrange(20000, 60000)
    socks = []
    try:
        for q in range(p, p + 4):
            s = socket.socket()
            s.bind(("127.0.0.1", q))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(p)
    break
EOF
)
[ -n "$RS_PORT" ] || { echo "bench: no free ports" >&2; exit 1; }
SA_PORT=$((RS_PORT + 3))

mkdir -p "$WORK/sa"
"$TALLYD" --dbpath "$WORK/sa" --port "$SA_PORT" --bind_ip 127.0.0.1 --logpath "$WORK/sa/tallyd.log" \
    >"$WORK/sa/stderr.log" 2>&1 &
SERVER_PID=$!
i=0
until grep -q "Waiting for connections" "$WORK/sa/tallyd.log" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $i -ge 400 ]; then
        echo "bench: tallyd did not start" >&2
        cat "$WORK/sa/stderr.log" "$WORK/sa/tallyd.log" >&2 2>/dev/null
        exit 1
    fi
    i=$((i + 1))
    sleep 0.05
done

IS_SET_UP=1
RS_URI=$("$TALLY" cluster up --fast --dir "$WORK/rs" --base-port "$RS_PORT" --tallyd "$TALLYD") || {
    echo "bench: tally cluster up failed" >&2
    exit 1
}
RS_PIDS=
for f in "$WORK"/rs/m*.pid; do
    RS_PIDS="$RS_PIDS --server-pid $(cat "$f")"
done
echo "# replica set: $RS_URI (heartbeat 200 ms, election timeout 1000 ms)"
echo "# disk: $(df -P "$WORK" | awk 'NR==2 {print $1 " (" $6 ")"}')"

RESULTS=$WORK/results.jsonl
# run LABEL URI W CLIENTS PID-OPTIONS...
run() {
    label=$1 uri=$2 w=$3 clients=$4
    shift 4
    echo "# $label: bench --op insert --w $w --clients $clients --seconds $SECONDS_EACH"
    # shellcheck disable=SC2086
    bench/bench --uri "$uri" --op insert --w "$w" --clients "$clients" --seconds "$SECONDS_EACH" \
        --coll "ins_w$w" "$@" >"$WORK/out.txt" 2>&1
    rc=$?
    cat "$WORK/out.txt"
    [ $rc -eq 0 ] || echo "bench: $label w:$w clients $clients exited $rc" >&2
    grep '^{' "$WORK/out.txt" | sed "s/^{/{\"target\":\"$label\",/" >>"$RESULTS"
}
SA_URI="mongodb://127.0.0.1:$SA_PORT/?maxPoolSize=100"
RS_URI_POOL="$RS_URI&maxPoolSize=100"
# shellcheck disable=SC2086
{
    run standalone "$SA_URI" 1 1 --server-pid "$SERVER_PID"
    run replset "$RS_URI_POOL" 1 1 $RS_PIDS
    run replset "$RS_URI_POOL" majority 1 $RS_PIDS
    run standalone "$SA_URI" 1 64 --server-pid "$SERVER_PID"
    run replset "$RS_URI_POOL" 1 64 $RS_PIDS
    run replset "$RS_URI_POOL" majority 64 $RS_PIDS
}

field() {
    echo "$1" | sed -n "s/.*\"$2\":\"*\([-a-z0-9.]*\).*/\1/p"
}
echo
echo "| target | w | clients | ops/s | p50 ms | p99 ms | server CPU s / 1k ops | ops/s vs standalone | p50 vs standalone |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
while read -r line; do
    t=$(field "$line" target)
    w=$(field "$line" w)
    cl=$(field "$line" clients)
    ops=$(field "$line" ops_per_s)
    p50=$(field "$line" p50_ms)
    p99=$(field "$line" p99_ms)
    cpu=$(field "$line" server_cpu_s_per_1k_ops)
    base=$(grep "\"target\":\"standalone\".*\"clients\":$cl," "$RESULTS" | head -1)
    bops=$(field "$base" ops_per_s)
    bp50=$(field "$base" p50_ms)
    rops=$(awk -v a="$ops" -v b="$bops" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    rp50=$(awk -v a="$p50" -v b="$bp50" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $t | $w | $cl | $ops | $p50 | $p99 | $cpu | $rops | $rp50 |"
done <"$RESULTS"

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
SERVER_PID=
[ $rc -eq 0 ] || echo "bench: tallyd exited $rc after SIGTERM" >&2
"$TALLY" cluster down --dir "$WORK/rs" >/dev/null || echo "bench: tally cluster down failed" >&2
IS_SET_UP=
