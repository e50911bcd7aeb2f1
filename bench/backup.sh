#!/bin/sh
# bench/backup.sh - full backup and restore throughput of a ~200 MB set,
# against the raw disk measured in the same run.
#
# Starts a 3-member set (`bin/tally cluster up --fast`) on free loopback ports
# in a temp folder under $BENCH_DIR (default $TMPDIR or /tmp), loads
# $BENCH_MB (default 200) MB of 1 KiB documents (half random hex, half
# repetitive text, so compression has something to do), waits for the
# secondaries, then times:
#   dd       writing $BENCH_MB MB with conv=fdatasync (the disk's raw rate);
#   backup   `tally backup full` (snapshot stream + zstd + sha256 + fsync +
#            the per-collection hashes on a temporary server);
#   restore  `tally restore` of that backup into an empty folder.
# MB/s use the snapshot's raw size. Prints the results and a Markdown row
# with the ratios to dd: the machine is shared, ratios travel better.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
TALLYD=${TALLYD:-bin/tallyd}
case $TALLYD in /*) ;; *) TALLYD=$ROOT/$TALLYD ;; esac
TALLY=${TALLY:-bin/tally}
case $TALLY in /*) ;; *) TALLY=$ROOT/$TALLY ;; esac
MB=${BENCH_MB:-200}
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
export TALLYD

[ -x "$TALLY" ] || { echo "bench: $TALLY not found (make bin/tally)" >&2; exit 1; }
WORK=$(mktemp -d "$BASE/tally-bench-backup.XXXXXX")
IS_SET_UP=
cleanup() {
    if [ -n "$IS_SET_UP" ]; then
        "$TALLY" cluster down --dir "$WORK/rs" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1] if s.getsockname()[1] < 60000 else 41000)')
"$TALLY" cluster up --dir "$WORK/rs" --base-port "$PORT" --fast --tallyd "$TALLYD" >"$WORK/up.log" 2>&1 || {
    cat "$WORK/up.log" >&2
    exit 1
}
IS_SET_UP=1
URI="mongodb://127.0.0.1:$PORT,127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2))/?replicaSet=rs0"

now() { /usr/bin/python3 -c 'import time; print(time.time())'; }
rate() { /usr/bin/python3 -c "import sys; print('%.1f' % ($1 / 1e6 / ($3 - $2)))"; }

echo "loading $MB MB..."
/usr/bin/python3 - "$URI" "$MB" <<'PY' || exit 1
import os, sys, pymongo
uri, mb = sys.argv[1], int(sys.argv[2])
c = pymongo.MongoClient(uri, w=3)
n = mb * 1024
batch = []
for i in range(n):
    batch.append({"_id": i, "r": os.urandom(256).hex(), "t": "row %d of the benchmark " % i * 8})
    if len(batch) == 1000:
        c.bench.docs.insert_many(batch, ordered=False)
        batch = []
if batch:
    c.bench.docs.insert_many(batch)
PY

T0=$(now)
dd if=/dev/zero of="$WORK/dd.out" bs=1M count="$MB" conv=fdatasync 2>/dev/null
T1=$(now)
rm -f "$WORK/dd.out"
DD_RATE=$(rate $((MB * 1048576)) "$T0" "$T1")

T0=$(now)
"$TALLY" backup full --uri "$URI" --to "$WORK/dest" >"$WORK/backup.out" 2>&1 || { cat "$WORK/backup.out" >&2; exit 1; }
T1=$(now)
ID=$(ls "$WORK/dest" | grep -- -full- | head -1)
RAW=$(/usr/bin/python3 -c "import json; print(json.load(open('$WORK/dest/$ID/manifest.json'))['bytes_raw'])")
STORED=$(/usr/bin/python3 -c "import json; print(json.load(open('$WORK/dest/$ID/manifest.json'))['bytes_stored'])")
BK_RATE=$(rate "$RAW" "$T0" "$T1")

T0=$(now)
"$TALLY" restore --from "$WORK/dest" --dbpath "$WORK/restored" >"$WORK/restore.out" 2>&1 || { cat "$WORK/restore.out" >&2; exit 1; }
T1=$(now)
RS_RATE=$(rate "$RAW" "$T0" "$T1")

cat "$WORK/backup.out"
echo "snapshot: $RAW bytes raw, $STORED bytes stored"
echo "dd (fdatasync): $DD_RATE MB/s"
echo "full backup:    $BK_RATE MB/s"
echo "restore:        $RS_RATE MB/s"
/usr/bin/python3 -c "
dd, bk, rs = $DD_RATE, $BK_RATE, $RS_RATE
print('| %d MB set | %.1f MB/s | %.1f MB/s (%.2fx dd) | %.1f MB/s (%.2fx dd) | %.2f |' % ($RAW / 1e6, dd, bk, bk / dd, rs, rs / dd, $STORED / $RAW))
"
