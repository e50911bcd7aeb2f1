#!/bin/sh
# Runs each unit-test binary given as an argument and prints one closing
# line for all of them: "unit: N passed, N failed".
passed=0; failed=0; status=0
for bin in "$@"; do
    out=$("$bin" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    if [ -z "$line" ] || [ $rc -ne 0 ]; then
        printf '%s\n' "$out"
        echo "FAILED: $bin (exit $rc)"
        status=1
    fi
    p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
done
echo "unit: $passed passed, $failed failed"
exit $status
