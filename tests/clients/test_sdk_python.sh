#!/bin/sh
# test_sdk_python.sh: the Python shim (sdk-shims/python). Installs it with
# Debian's pip (offline: --no-build-isolation --no-index, setuptools from
# python3-setuptools) into a temporary target, starts `llmtap serve`, and
# runs tests/clients/sdk_python_test.py (unittest) with the module imported
# from that target: queue bound and drop-oldest, retry on 503/429 with
# Retry-After, server down, LLMTAP_DISABLED=1, flush at exit, and spans of
# record/trace and of wrapped fake OpenAI/Anthropic clients read back from
# the live server's database. Stops the server, which must exit 0.
# Run from the repository root (tests/run.sh does); exit 0 = pass.
# PYTHON overrides the interpreter (default /usr/bin/python3).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
LLMTAP=${LLMTAP_BIN:-$BUILD/llmtap}
PY=${PYTHON:-/usr/bin/python3}
# shellcheck source=tests/support/serve.sh
. "$here/../support/serve.sh"

fail() {
    echo "test_sdk_python: FAIL: $*" >&2
    exit 1
}

[ -x "$LLMTAP" ] || fail "$LLMTAP is not built"
[ -x "$PY" ] || PY=$(command -v python3) || fail "no python3"
"$PY" -m pip --version >/dev/null 2>&1 || fail "no pip for $PY (Debian: apt-get install python3-pip)"
case $LLMTAP in /*) ;; *) LLMTAP=$(pwd)/$LLMTAP ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-sdkpy-XXXXXX") || exit 1
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# a copy, so the build leaves nothing in the source folder
mkdir -p "$tmp/src"
cp "$root/sdk-shims/python/pyproject.toml" "$root/sdk-shims/python/llmtap.py" \
    "$root/sdk-shims/python/README.md" "$tmp/src/"
if ! "$PY" -m pip install --quiet --no-build-isolation --no-deps --no-index \
    --disable-pip-version-check --target "$tmp/site" "$tmp/src" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    fail "pip install of sdk-shims/python failed"
fi
[ -f "$tmp/site/llmtap.py" ] || fail "pip did not install llmtap.py"

db=$tmp/sdk.db
if ! serve_start "$LLMTAP" "$db" "$tmp/server.log"; then
    tail -n 30 "$tmp/server.log" >&2
    fail "the server did not start"
fi

# the user's own LLMTAP_* settings must not leak into the tests
for v in $(env | sed -n 's/^\(LLMTAP_[A-Z_]*\)=.*/\1/p'); do
    [ "$v" = LLMTAP_BIN ] || unset "$v"
done
if ! env PYTHONPATH="$tmp/site" PYTHONDONTWRITEBYTECODE=1 LLMTAP_TEST_URL="$url" \
    LLMTAP_TEST_DB="$db" LLMTAP_TEST_SITE="$tmp/site" LLMTAP_BIN="$LLMTAP" \
    "$PY" "$here/sdk_python_test.py"; then
    tail -n 20 "$tmp/server.log" >&2
    fail "unit tests failed"
fi

kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
wait "$pid"
rc=$?
pid=""
[ "$rc" = 0 ] || fail "the server exited with status $rc on SIGTERM"
echo "test_sdk_python: ok"
