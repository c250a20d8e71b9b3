#!/bin/sh
# test_ui.sh: the web UI in a real browser. Starts `llmtap serve --demo` on a
# fresh database (loopback, ephemeral port), waits for the demo data, runs
# ui_browser.mjs (Debian's chromium through playwright-core), then stops the
# server with SIGTERM, which must exit 0. Screenshots go to
# $BUILD/screenshots/. Run from the repository root; exit 0 = pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
LLMTAP=${LLMTAP_BIN:-$BUILD/llmtap}
# shellcheck source=tests/support/serve.sh
. "$here/../support/serve.sh"

fail() {
    echo "test_ui: FAIL: $*" >&2
    exit 1
}

[ -x "$LLMTAP" ] || fail "$LLMTAP is not built"
command -v node >/dev/null 2>&1 || fail "node is not installed (tools/deps.sh installs it)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is not installed (make test installs it)"
[ -d "$here/node_modules/playwright-core" ] ||
    fail "npm packages missing in tests/clients (run: sh tools/deps.sh)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-ui-XXXXXX") || exit 1
pid=""
fpid=""
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; fi
    if [ -n "$fpid" ]; then kill -KILL "$fpid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
db=$tmp/ui.db

if ! serve_start "$LLMTAP" "$db" "$tmp/server.log" --demo; then
    tail -n 30 "$tmp/server.log" >&2
    fail "the server did not write $db.server within 10 s"
fi
i=0
until grep -q "demo: loaded" "$tmp/server.log"; do
    i=$((i + 1))
    [ $i -gt 1200 ] && fail "the demo data did not load within 60 s"
    grep -q "cannot load the demo data" "$tmp/server.log" && fail "$(tail -n 5 "$tmp/server.log")"
    sleep 0.05
done

# A real evaluation run for /evals: the fake upstream follows the prompts
# (FAKE-REPLY); the candidate answers with markup that must stay text.
FAKEUP=${FAKEUP_BIN:-$BUILD/llmtap-fakeup}
[ -x "$FAKEUP" ] || fail "$FAKEUP is not built"
"$FAKEUP" --listen 127.0.0.1:0 >"$tmp/fakeup.log" 2>&1 &
fpid=$!
i=0
until grep -q "listening on" "$tmp/fakeup.log"; do
    i=$((i + 1))
    [ $i -gt 200 ] && fail "the fake upstream did not start"
    sleep 0.05
done
fake=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/fakeup.log")
printf '%s' '{"messages":[{"role":"system","content":"FAKE-REPLY: Order {{order_id}} ships today."},{"role":"user","content":"{{q}}"}],"model":"gpt-4o-mini"}' >"$tmp/good.json"
printf '%s' '{"messages":[{"role":"system","content":"FAKE-REPLY: <script>window.__xss = 9</script> no idea"},{"role":"user","content":"{{q}}"}],"model":"gpt-4o-mini"}' >"$tmp/bad.json"
for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
    echo "{\"vars\":{\"q\":\"where is A-$n?\",\"order_id\":\"A-$n\"},\"expected\":\"A-$n\"}"
done >"$tmp/cases.jsonl"
printf '%s' '{"name":"ui-support","dataset":{"file":"cases.jsonl"},"variants":{"baseline":{"prompt":"uisupport@1"},"candidate":{"prompt":"uisupport@2"}},"scorers":[{"type":"icontains","value":"{{expected}}"},{"type":"judge","rubric":"FAKE-JUDGE: ships"}],"gate":{"max_regression":0.05}}' >"$tmp/suite.json"
"$LLMTAP" prompt push uisupport "$tmp/good.json" --db "$db" >/dev/null || fail "prompt push"
"$LLMTAP" prompt push uisupport "$tmp/bad.json" --db "$db" >/dev/null || fail "prompt push"
OPENAI_API_KEY=sk-ui-test "$LLMTAP" eval gate "$tmp/suite.json" --db "$db" --quiet \
    --upstream "openai=$fake" --json "$tmp/run.json" 2>"$tmp/eval.log"
code=$?
[ "$code" = 1 ] || fail "the gate should find the regression (exit $code): $(tail -n 5 "$tmp/eval.log")"
run_id=$(sed -n 's/^{"run_id":"\([0-9a-f]*\)".*/\1/p' "$tmp/run.json")
[ -n "$run_id" ] || fail "no run id in the report"

mkdir -p "$BUILD/screenshots"
if ! EVAL_RUN="$run_id" node "$here/ui_browser.mjs" "$url" "$BUILD/screenshots"; then
    tail -n 20 "$tmp/server.log" >&2
    fail "the browser checks failed (see above)"
fi

kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
kill -0 "$pid" 2>/dev/null && fail "the server did not exit within 10 s of SIGTERM"
wait "$pid"
rc=$?
pid=""
[ "$rc" = 0 ] || fail "the server exited with status $rc on SIGTERM"
echo "test_ui: ok"
