#!/bin/sh
# Checks that includes point down the layers: core <- query <- storage;
# core <- wire <- cmd -> query, storage, repl; net glues sockets to wire and
# cmd; the replication core (src/repl) is pure, its I/O glue uses the rest.
# Prints offenders.
set -u
cd "$(dirname "$0")/.."
status=0
check() {
    dir=$1; allowed=$2; files=${3:-src/$dir/*.[ch]}
    for f in $files; do
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
check wire "core wire cmd"
check net "core net wire cmd storage repl"
check cmd "core net wire cmd query storage repl"
# The replication protocol core is pure (no I/O); only its glue reaches further.
repl_glue="src/repl/node*.[ch] src/repl/fetcher*.[ch] src/repl/initial_sync.[ch] src/repl/oplog_cap.[ch] src/repl/applier.c src/repl/rollback.c src/repl/oplog_writer.[ch] src/repl/oplog_apply.c src/repl/oplog_entry.[ch]"
repl_pure=$(ls src/repl/*.[ch] | grep -v -x -F "$(ls $repl_glue)")
check repl "core repl" "$repl_pure"
check repl "core repl storage query net wire cmd" "$repl_glue"
[ $status -eq 0 ] && echo "check-deps: ok"
exit $status
