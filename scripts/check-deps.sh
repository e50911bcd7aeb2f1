#!/bin/sh
# Checks that includes point down the layers: core <- query <- storage;
# core <- net <- wire <- cmd, and cmd -> query, storage. Prints offenders.
set -u
cd "$(dirname "$0")/.."
status=0
check() {
    dir=$1; allowed=$2
    for f in src/$dir/*.[ch]; do
        [ -f "$f" ] || continue
        for inc in $(grep -oE '#include "[a-z]+/' "$f" | sed -E 's/#include "([a-z]+)\//\1/' | sort -u); do
            case " $allowed " in
            *" $inc "*) ;;
            *) echo "check-deps: $f includes $inc/ (allowed: $allowed)"; status=1 ;;
            esac
        done
    done
}
check core "core"
check query "core query"
check storage "core query storage"
check wire "core wire"
check net "core net wire cmd storage"
check cmd "core net wire cmd query storage"
[ $status -eq 0 ] && echo "check-deps: ok"
exit $status
