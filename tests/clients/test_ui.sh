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
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; fi
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

mkdir -p "$BUILD/screenshots"
if ! node "$here/ui_browser.mjs" "$url" "$BUILD/screenshots"; then
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
