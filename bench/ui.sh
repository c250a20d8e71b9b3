#!/bin/sh
# bench/ui.sh: server-side time of the UI's pages (issue 4 item 9), run by
# `make bench` and alone by `make bench-ui`. On a store of $UI_SPANS
# (1,000,000) generated spans over the 30 days before now (imported, then
# compacted: the steady state of a running server), `llmtap serve` answers
# each page $UI_RUNS (40) times after 3 warm-up requests; curl's time to the
# last byte over loopback is the figure (an upper bound of the server's
# time). Prints p50, p95 and max per page against the 50 ms target.
# UI_DB=PATH reuses a store built before (it is kept: UI_KEEP=1 keeps the
# one built here). Exit 0 when the run was clean (a missed target is
# reported, not failed), 1 when a step failed.
set -u
BUILD=${BUILD:-build}
SPANS=${UI_SPANS:-1000000}
RUNS=${UI_RUNS:-40}
LLMTAP=$BUILD/llmtap
SPANGEN=$BUILD/bench/spangen
here=$(dirname "$0")
# shellcheck source=tests/support/serve.sh
. "$here/../tests/support/serve.sh"

for f in "$LLMTAP" "$SPANGEN"; do
    [ -x "$f" ] || { echo "ui bench: $f is not built (run: make bench-ui)" >&2; exit 1; }
done
command -v curl >/dev/null 2>&1 || { echo "ui bench: curl is missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-ui-bench-XXXXXX") || exit 1
pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
    if [ "${UI_KEEP:-0}" = 1 ]; then echo "ui bench: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

db=${UI_DB:-}
if [ -z "$db" ]; then
    db=$tmp/ui.db
    now_ns=$(($(date +%s) * 1000000000))
    start_ns=$((now_ns - 30 * 86400 * 1000000000))
    echo "ui bench: generating $SPANS spans over the last 30 days"
    "$SPANGEN" --count "$SPANS" --days 29.5 --start-ns "$start_ns" >"$tmp/spans.ndjson" || exit 1
    t0=$(date +%s)
    "$LLMTAP" import --db "$db" "$tmp/spans.ndjson" >/dev/null 2>"$tmp/import.log" ||
        { tail "$tmp/import.log" >&2; exit 1; }
    "$LLMTAP" compact --db "$db" >/dev/null 2>"$tmp/compact.log" ||
        { tail "$tmp/compact.log" >&2; exit 1; }
    rm -f "$tmp/spans.ndjson"
    echo "ui bench: imported and compacted in $(($(date +%s) - t0)) s"
fi

serve_start "$LLMTAP" "$db" "$tmp/server.log" || { tail "$tmp/server.log" >&2; exit 1; }
q() { "$LLMTAP" query --db "$db" "$1" | sed -n 2p; }
trace=$(q "SELECT trace_id FROM spans WHERE kind = 'chain' AND start_ns >= (SELECT max(start_ns) FROM spans) - 3600000000000 LIMIT 1")
session=$(q "SELECT session_id FROM spans WHERE session_id IS NOT NULL AND start_ns >= (SELECT max(start_ns) FROM spans) - 3600000000000 LIMIT 1")
model=$(q "SELECT model FROM rollup_daily WHERE model <> '' GROUP BY 1 ORDER BY count(*) LIMIT 1")
[ -n "$trace" ] && [ -n "$model" ] || { echo "ui bench: the store has no trace or model" >&2; exit 1; }

printf '%-46s %8s %8s %8s  %s\n' "page (ms, $RUNS runs)" p50 p95 max "p95 target"
measure() { # label path target|-
    for _ in 1 2 3; do curl -s -o /dev/null "$url$2"; done
    status=$(curl -s -o /dev/null -w '%{http_code}' "$url$2")
    [ "$status" = 200 ] || { echo "ui bench: $2 answered $status" >&2; exit 1; }
    i=0
    while [ $i -lt "$RUNS" ]; do
        curl -s -o /dev/null -w '%{time_total}\n' "$url$2"
        i=$((i + 1))
    done | sort -n | awk -v label="$1" -v n="$RUNS" -v target="$3" '
        { t[NR] = $1 * 1000 }
        END {
            p50 = t[int((n + 1) / 2)]; i95 = int(n * 0.95 + 0.999); p95 = t[i95 > n ? n : i95]
            verdict = target == "-" ? "(no target)" : p95 <= target ? "<= " target ": met" : "<= " target ": MISSED"
            printf "%-46s %8.2f %8.2f %8.2f  %s\n", label, p50, p95, t[n], verdict
        }'
}
enc_model=$(printf '%s' "$model" | sed 's/ /%20/g')
measure "/traces (first page)" "/traces" 50
measure "/traces?model=$model (rarest model)" "/traces?model=$enc_model" 50
measure "/traces?q=refund (a word)" "/traces?q=refund" 50
measure "/traces?q=\"order number\" (a phrase)" "/traces?q=%22order%20number%22" 50
measure "/traces/{trace} (a chain of the last hour)" "/traces/$trace" 50
measure "/costs (by model, 30 days)" "/costs" 50
measure "/sessions/{session} (of the last hour)" "/sessions/$session" -
measure "/costs?by=user (2,000 users)" "/costs?by=user" -
measure "/traces?q=\"refund policy\" (no match: all judged)" "/traces?q=%22refund%20policy%22" -
measure "/traces?sort=cost (every row sorted)" "/traces?sort=cost" -
measure "/ (overview)" "/" -
measure "/versions" "/versions" -
echo "ui bench: $("$LLMTAP" stats --db "$db" 2>/dev/null | head -1)"
