#!/bin/sh
# `make up` / `make down`: the local replica set of `./tally cluster up` (three
# members on 127.0.0.1:27017-27019, data under ./.tally/cluster).
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-up}" = "down" ]; then
    exec ./tally cluster down
fi
exec ./tally cluster up
