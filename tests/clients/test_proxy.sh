#!/bin/sh
# test_proxy.sh: the official npm `openai` and `@anthropic-ai/sdk` clients
# through llmtap's proxy. Starts the fake upstream (build/llmtap-fakeup) and
# `llmtap serve` with both routes pointed at it, runs proxy_sdk.mjs's calls
# (chat plain, stream and tools; responses stream; embeddings; messages
# plain and stream), sets a budget the next calls break and expects both
# SDKs to raise their normal 402 error, then checks every span against what
# the SDKs saw. Stops the server, which must flush and exit 0.
# Run from the repository root (tests/run.sh does); exit 0 = pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
LLMTAP=${LLMTAP_BIN:-$BUILD/llmtap}
FAKE=$BUILD/llmtap-fakeup
# shellcheck source=tests/support/serve.sh
. "$here/../support/serve.sh"

fail() {
    echo "test_proxy: FAIL: $*" >&2
    exit 1
}

[ -x "$LLMTAP" ] && [ -x "$FAKE" ] || fail "$LLMTAP or $FAKE is not built"
[ -d "$here/node_modules/openai" ] && [ -d "$here/node_modules/@anthropic-ai/sdk" ] ||
    fail "npm packages missing in tests/clients (run: sh tools/deps.sh)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-proxy-XXXXXX") || exit 1
pid=""
fake=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    [ -n "$fake" ] && kill -KILL "$fake" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
db=$tmp/proxy.db

fake_start "$FAKE" "$tmp/fake.out" ||
    fail "the fake upstream did not start: $(cat "$tmp/fake.out")"

if ! serve_start "$LLMTAP" "$db" "$tmp/server.log" --upstream "openai=$fake_url" \
    --upstream "anthropic=$fake_url"; then
    tail -n 30 "$tmp/server.log" >&2
    fail "the server did not start"
fi

node "$here/proxy_sdk.mjs" calls --url "$url" >"$tmp/seen.json" || fail "the SDK calls failed"
"$LLMTAP" budget set --db "$db" --user over-budget --per day --usd 0.000001 >/dev/null ||
    fail "llmtap budget set failed"
node "$here/proxy_sdk.mjs" budget --url "$url" || fail "the budget refusals were wrong"

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
node "$here/proxy_sdk.mjs" check --llmtap "$LLMTAP" --db "$db" --seen "$tmp/seen.json" ||
    fail "stored spans do not match what the SDKs saw (see above)"
echo "test_proxy: ok"
