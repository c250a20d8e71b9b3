#!/bin/sh
# Keep the picture of DESIGN.md §1 true: dependencies point one way,
# core <- store <- collector, evaluator; ui reads the store.
# Fails on a forbidden #include.
status=0
check() { # dir forbidden-prefix...
    dir=$1
    shift
    for bad in "$@"; do
        hits=$(grep -n "#include \"$bad/" "$dir"/*.c "$dir"/*.h 2>/dev/null)
        if [ -n "$hits" ]; then
            echo "check-deps: $dir/ must not include $bad/:" >&2
            echo "$hits" >&2
            status=1
        fi
    done
}
check core store collector evaluator ui cli fixtures
check store collector evaluator ui cli fixtures
check collector evaluator ui cli fixtures
check evaluator collector ui cli fixtures
check ui collector evaluator cli fixtures
# the C shim is shipped alone: it includes nothing of the server
check sdk-shims/c core store collector evaluator ui cli fixtures tests
[ $status = 0 ] && echo "check-deps: ok"
exit $status
