#!/bin/sh
# test_otel.sh: real OpenTelemetry JS exporters against a live llmtap.
# Starts `llmtap serve` on a fresh database (loopback, ephemeral port), runs
# otel_export.mjs twice (OTLP http/json, then http/protobuf), reads the spans
# back with `llmtap query --json` and checks them (otel_export.mjs check),
# then stops the server with SIGTERM, which must exit 0. Loopback only.
# Run from the repository root (tests/run.sh does); exit 0 = pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
LLMTAP=${LLMTAP_BIN:-$BUILD/llmtap}
# shellcheck source=tests/support/serve.sh
. "$here/../support/serve.sh"

fail() {
    echo "test_otel: FAIL: $*" >&2
    exit 1
}

[ -x "$LLMTAP" ] || fail "$LLMTAP is not built"
command -v node >/dev/null 2>&1 || fail "node is not installed (tools/deps.sh installs it)"
[ -d "$here/node_modules/@opentelemetry/exporter-trace-otlp-proto" ] ||
    fail "npm packages missing in tests/clients (run: sh tools/deps.sh)"

# The SDK reads OTEL_* variables; none of the caller's may change what is sent.
for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-otel-XXXXXX") || exit 1
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
db=$tmp/otel.db

if ! serve_start "$LLMTAP" "$db" "$tmp/server.log"; then
    tail -n 30 "$tmp/server.log" >&2
    fail "the server did not write $db.server within 10 s"
fi
case "$url" in
http://127.0.0.1:*) ;;
*) fail "the server is not on loopback: $url" ;;
esac

start_ms=$(($(date +%s) * 1000 - 60000))
for proto in json proto; do
    if ! node "$here/otel_export.mjs" export --url "$url" --protocol "$proto" \
        --start-ms "$start_ms" >"$tmp/$proto.ids"; then
        tail -n 20 "$tmp/server.log" >&2
        fail "the $proto exporter could not deliver its spans"
    fi
done

traces=$(sed -n 's/.*"chat_trace":"\([0-9a-f]*\)".*"error_trace":"\([0-9a-f]*\)".*/\1 \2/p' \
    "$tmp/json.ids" "$tmp/proto.ids" | tr ' ' '\n' | sed "s/.*/'&'/" | paste -sd, -)
[ -n "$traces" ] || fail "the exporter printed no trace ids"
if ! "$LLMTAP" query --db "$db" --json \
    "SELECT * FROM spans WHERE trace_id IN ($traces) ORDER BY start_ns" >"$tmp/rows.json"; then
    fail "llmtap query failed"
fi
node "$here/otel_export.mjs" check "$tmp/rows.json" "$tmp/json.ids" "$tmp/proto.ids" ||
    fail "stored spans do not match what the SDK sent (see above)"

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
[ -e "$db.server" ] && fail "the server left $db.server behind after SIGTERM"
echo "test_otel: ok"
