#!/bin/sh
# Run every test: the Check unit suites under $BUILD/tests, then the
# real-client tests in tests/clients. Prints one line per suite and a closing
# "N passed, N failed"; exits non-zero when anything failed.
# VALGRIND=1 runs each suite under valgrind (with CK_FORK=no).
BUILD=${BUILD:-build}
export BUILD
LLMTAP_BIN=${LLMTAP_BIN:-$BUILD/llmtap}
export LLMTAP_BIN
passed=0
failed=0
failures=""
log_dir=$BUILD/test-logs
mkdir -p "$log_dir"

run_one() { # name command...
    name=$1
    shift
    log="$log_dir/$(echo "$name" | tr '/' '_').log"
    start=$(date +%s)
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name ($(($(date +%s) - start))s) $(grep -E '^[0-9]+%: Checks' "$log" | tail -1)"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "FAIL $name ($(($(date +%s) - start))s), log: $log"
        tail -n 40 "$log" | sed 's/^/    /'
    fi
}

for t in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort); do
    name=${t#"$BUILD"/tests/}
    if [ "${VALGRIND:-0}" = 1 ]; then
        run_one "$name" valgrind --quiet --error-exitcode=99 --leak-check=full --max-threads=1500 \
            --errors-for-leak-kinds=definite --track-fds=no "$t"
    else
        run_one "$name" "$t"
    fi
done

for c in tests/clients/test_*.sh; do
    [ -f "$c" ] || continue
    [ "${VALGRIND:-0}" = 1 ] && continue
    run_one "clients/$(basename "$c" .sh)" sh "$c"
done

echo "tests: $passed passed, $failed failed"
[ -n "$failures" ] && echo "failed:$failures"
[ "$failed" = 0 ]
