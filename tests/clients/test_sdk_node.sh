#!/bin/sh
# test_sdk_node.sh: the Node shim (sdk-shims/node) around the official npm
# `openai` and `@anthropic-ai/sdk` clients, pointed straight at the fake
# upstream (build/llmtap-fakeup), sending to a live `llmtap serve`. Runs
# sdk_node.mjs's modes: main (the app sees the same bytes with and without
# the wrapper for every call kind, then every span is checked), queue
# (drops the oldest when full, counted), retry (503 + Retry-After), down
# (the server down never reaches the app), exit (beforeExit sends what
# is queued), disabled (LLMTAP_DISABLED=1 sends nothing).
# Run from the repository root (tests/run.sh does); exit 0 = pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
LLMTAP=${LLMTAP_BIN:-$BUILD/llmtap}
FAKE=$BUILD/llmtap-fakeup
# shellcheck source=tests/support/serve.sh
. "$here/../support/serve.sh"

fail() {
    echo "test_sdk_node: FAIL: $*" >&2
    exit 1
}

[ -x "$LLMTAP" ] && [ -x "$FAKE" ] || fail "$LLMTAP or $FAKE is not built"
[ -d "$here/node_modules/openai" ] && [ -d "$here/node_modules/@anthropic-ai/sdk" ] ||
    fail "npm packages missing in tests/clients (run: sh tools/deps.sh)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-sdk-node-XXXXXX") || exit 1
pid=""
fake=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    [ -n "$fake" ] && kill -KILL "$fake" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
db=$tmp/sdk.db

fake_start "$FAKE" "$tmp/fake.out" ||
    fail "the fake upstream did not start: $(cat "$tmp/fake.out")"

if ! serve_start "$LLMTAP" "$db" "$tmp/server.log"; then
    tail -n 30 "$tmp/server.log" >&2
    fail "the server did not start"
fi

# The LLMTAP_* variables of the caller's environment must not leak in.
unset LLMTAP_ENDPOINT LLMTAP_KEY LLMTAP_PROJECT LLMTAP_VERSION_SET LLMTAP_DISABLED
js=$here/sdk_node.mjs
common="--fake $fake_url --url $url --llmtap $LLMTAP --db $db"
node "$js" main $common || fail "main"
node "$js" queue $common || fail "queue"
node "$js" retry $common || fail "retry"
start=$(date +%s)
node "$js" down $common || fail "down"
LLMTAP_DISABLED=1 node "$js" disabled $common || fail "disabled"
node "$js" exit $common || fail "exit: the app failed"
[ $(($(date +%s) - start)) -lt 30 ] || fail "down / disabled / exit took over 30 s to exit"
n=$("$LLMTAP" query --db "$db" --json "SELECT count(*) AS n FROM spans WHERE session_id = 'exit-flush'" |
    sed -n 's/.*"n": *\([0-9]*\).*/\1/p')
[ "$n" = 1 ] || fail "exit: the span queued at exit was not sent by the beforeExit hook ($n stored)"
echo "exit: the span queued when the app ended was sent by the beforeExit hook"

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
echo "test_sdk_node: ok"
