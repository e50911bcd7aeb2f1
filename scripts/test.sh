#!/bin/sh
# The whole test suite, as CI runs it: installs what is missing, builds the
# server with AddressSanitizer and UndefinedBehaviorSanitizer, then runs the
# unit tests, the replication simulator (seeds rotate with the commit), the
# integration tests (pymongo), the compatibility tests (Node.js driver,
# mongosh, libmongoc), the fault suite (scenarios and randomised runs with
# real processes in network namespaces; seeds rotate with the commit) and
# each fuzz target briefly. Ends with one line "all: N passed, N failed".
set -u
cd "$(dirname "$0")/.."

sh scripts/install-deps.sh || exit 1

SAN="SANITIZE=address,undefined"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:handle_segv=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
make -j2 $SAN build/san/tallyd bin/tally || exit 1
export TALLYD="$PWD/build/san/tallyd"
export TALLY="$PWD/bin/tally"

total_passed=0
total_failed=0
status=0
log=$(mktemp)

# Adds the counts of the last "N passed, N failed"-style line of $log, or
# with SUM_LINES set, the sum of every "name: N passed, N failed" line.
count() {
    name=$1; rc=$2
    if [ -n "${SUM_LINES:-}" ]; then
        passed=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{s += $2} END {print s + 0}')
        failed=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{s += $4} END {print s + 0}')
    else
        passed=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || true)
        failed=$(grep -oE '[0-9]+ failed' "$log" | tail -1 | grep -oE '[0-9]+' || true)
        # pytest counts a test whose fixture failed as an error, not a failure.
        errors=$(grep -E '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
        failed=$(( ${failed:-0} + ${errors:-0} ))
    fi
    passed=${passed:-0}; failed=${failed:-0}
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    [ "$rc" -ne 0 ] && status=1
    echo "== $name: $passed passed, $failed failed (exit $rc)"
    total_passed=$((total_passed + passed)); total_failed=$((total_failed + failed))
}


run_suite() {
    name=$1; shift
    echo "== $name: $*"
    { "$@"; echo $? > "$log.rc"; } 2>&1 | tee "$log"
    count "$name" "$(cat "$log.rc")"
}

# Seeds of the randomised suites rotate with the commit (printed, for replay).
SEED_BASE=${SEED_BASE:-$(git rev-parse --short=12 HEAD 2>/dev/null || date +%s)}

run_suite unit make -j2 $SAN unit
SUM_LINES=1
run_suite sim make -s sim SIM_SEED_BASE="$SEED_BASE"
SUM_LINES=
run_suite integration /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
run_suite compat sh tests/compat/run.sh
# The fault suite needs root (network namespaces, iptables), as CI has.
run_suite faults-scenarios /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/faults
run_suite faults-random /usr/bin/python3 tests/faults/run.py --runs "${FAULT_RUNS:-8}" \
    --seconds "${FAULT_SECONDS:-30}" --seed "$SEED_BASE"
run_suite fuzz make -C tests/fuzz run FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

rm -f "$log" "$log.rc"
echo "all: $total_passed passed, $total_failed failed"
exit $status
