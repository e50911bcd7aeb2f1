#!/bin/sh
# run.sh - the client compatibility suite: starts one tallyd ($TALLYD, default
# bin/tallyd) on an ephemeral 127.0.0.1 port with a temp dbpath, runs the
# Node.js driver tests and the mongosh tests (node --test), then the
# replica-set tests (replset.test.mjs and hello_streaming.test.mjs, each
# starting its own three members), builds and runs the libmongoc smoke
# program, stops the server with SIGTERM (exit code must be 0), and prints
# "compat: N passed, N failed". Exit status is non-zero on any failure; the
# server log is printed when something failed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
TALLYD=${TALLYD:-bin/tallyd}
case $TALLYD in /*) ;; *) TALLYD=$ROOT/$TALLYD ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-compat.XXXXXX")
LOG=$WORK/tallyd.log
PASSED=0
FAILED=0
SERVER_PID=

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ ! -x "$TALLYD" ]; then
    echo "compat: no server binary at $TALLYD (run make bin/tallyd)" >&2
    echo "compat: 0 passed, 1 failed"
    exit 1
fi
if [ ! -d node_modules/mongodb ] || [ ! -x node_modules/.bin/mongosh ]; then
    echo "compat: node_modules missing: run npm install (or npm ci) in $ROOT" >&2
    echo "compat: 0 passed, 1 failed"
    exit 1
fi

PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mkdir -p "$WORK/db"
"$TALLYD" --dbpath "$WORK/db" --port "$PORT" --bind_ip 127.0.0.1 --logpath "$LOG" \
    >"$WORK/stderr.log" 2>&1 &
SERVER_PID=$!

i=0
until grep -q "Waiting for connections" "$LOG" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $i -ge 400 ]; then
        echo "compat: tallyd did not start" >&2
        cat "$WORK/stderr.log" "$LOG" 2>/dev/null >&2
        echo "compat: 0 passed, 1 failed"
        exit 1
    fi
    i=$((i + 1))
    sleep 0.05
done
URI="mongodb://127.0.0.1:$PORT/"
echo "compat: tallyd pid $SERVER_PID at $URI"

# 1. Node.js driver + mongosh tests (node's built-in runner, TAP output).
TALLY_URI=$URI node --test --test-reporter=tap --test-concurrency=1 \
    tests/compat/driver.test.mjs tests/compat/mongosh.test.mjs >"$WORK/node.tap" 2>&1
cat "$WORK/node.tap"
n=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$WORK/node.tap" | tail -1)
f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$WORK/node.tap" | tail -1)
c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$WORK/node.tap" | tail -1)
f=$((${f:-0} + ${c:-0}))
if [ -z "$n" ] || [ -z "$f" ]; then
    echo "compat: could not read the node test summary" >&2
    n=${n:-0}
    f=$((${f:-0} + 1))
fi
PASSED=$((PASSED + n))
FAILED=$((FAILED + f))

# 1b. Replica-set tests: replset.test.mjs and hello_streaming.test.mjs start their own members.
env -u TALLY_URI TALLYD="$TALLYD" node --test --test-reporter=tap --test-concurrency=1 \
    tests/compat/replset.test.mjs tests/compat/hello_streaming.test.mjs >"$WORK/replset.tap" 2>&1
cat "$WORK/replset.tap"
n=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$WORK/replset.tap" | tail -1)
f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$WORK/replset.tap" | tail -1)
c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$WORK/replset.tap" | tail -1)
f=$((${f:-0} + ${c:-0}))
if [ -z "$n" ]; then
    echo "compat: could not read the replica-set test summary" >&2
    n=0
    f=$((f + 1))
fi
PASSED=$((PASSED + n))
FAILED=$((FAILED + f))

# 2. libmongoc smoke program.
if cc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -Wformat=2 -Wimplicit-fallthrough -Wvla -o "$WORK/mongoc_smoke" \
    tests/compat/mongoc_smoke.c $(pkg-config --cflags --libs libmongoc-1.0); then
    timeout 120 "$WORK/mongoc_smoke" "$URI?serverSelectionTimeoutMS=5000" >"$WORK/mongoc.out" 2>&1
    rc=$?
    cat "$WORK/mongoc.out"
    mp=$(grep -c '^ok ' "$WORK/mongoc.out")
    mf=$(grep -c '^FAIL ' "$WORK/mongoc.out")
    if [ "$rc" -ne 0 ] && [ "$mf" -eq 0 ]; then
        echo "mongoc_smoke exited with $rc" >&2
        mf=1
    fi
    PASSED=$((PASSED + mp))
    FAILED=$((FAILED + mf))
else
    echo "compat: mongoc_smoke.c did not build" >&2
    FAILED=$((FAILED + 1))
fi

# 3. Clean shutdown: SIGTERM must end the server with exit code 0.
if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID"
    rc=$?
    SERVER_PID=
    if [ "$rc" -eq 0 ]; then
        echo "ok tallyd exited 0 after SIGTERM"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL tallyd exited $rc after SIGTERM"
        FAILED=$((FAILED + 1))
    fi
else
    wait "$SERVER_PID"
    echo "FAIL tallyd died during the compat run (exit $?)"
    SERVER_PID=
    FAILED=$((FAILED + 1))
fi

if [ "$FAILED" -ne 0 ]; then
    echo "----- tallyd log -----"
    tail -n 300 "$LOG" 2>/dev/null
    tail -n 100 "$WORK/stderr.log" 2>/dev/null
fi
echo "compat: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
