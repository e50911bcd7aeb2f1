#!/bin/sh
# Starts a local Tally server on 127.0.0.1 with its data under ./.tally and
# prints the connection string. `scripts/up.sh down` stops it.
# Replica sets are not built yet: this starts one standalone member.
set -eu
cd "$(dirname "$0")/.."
DIR="${TALLY_HOME:-$PWD/.tally}"
PORT="${TALLY_PORT:-27017}"
PIDFILE="$DIR/tallyd.pid"

if [ "${1:-up}" = "down" ]; then
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        kill -TERM "$(cat "$PIDFILE")"
        while kill -0 "$(cat "$PIDFILE")" 2>/dev/null; do sleep 0.1; done
        echo "tallyd stopped"
    else
        echo "tallyd is not running"
    fi
    rm -f "$PIDFILE"
    exit 0
fi

sh scripts/install-deps.sh
make -j2 bin/tallyd
mkdir -p "$DIR/data"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "tallyd is already running (pid $(cat "$PIDFILE"))"
else
    : > "$DIR/tallyd.log"
    nohup bin/tallyd --dbpath "$DIR/data" --port "$PORT" --bind_ip 127.0.0.1 --logpath "$DIR/tallyd.log" \
        >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    i=0
    until grep -q "Waiting for connections" "$DIR/tallyd.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            echo "tallyd did not start; its log:" >&2
            cat "$DIR/tallyd.log" >&2
            exit 1
        fi
        sleep 0.1
    done
fi
echo "tallyd is running (pid $(cat "$PIDFILE")), data in $DIR/data, log in $DIR/tallyd.log"
echo "mongodb://127.0.0.1:$PORT/"
