#!/bin/sh
# bench/run.sh: the ingest benchmark end to end (run by `make bench`).
# Starts build/llmtap serve on a fresh database in a temp dir, runs
# bench_ingest against it (arguments to this script, or $BENCH_ARGS, go to
# bench_ingest), stops the server with SIGTERM (it must exit 0), checks with
# `llmtap query` that the database holds exactly the spans that were
# acknowledged, prints a summary and removes the temp dir.
# Exit status: 0 when the run was clean (targets missed are reported, not
# failed), 1 otherwise.
set -u
BUILD=${BUILD:-build}
LLMTAP=$BUILD/llmtap
# shellcheck source=tests/support/serve.sh
. "$(dirname "$0")/../tests/support/serve.sh"
BENCH=$BUILD/bench/bench_ingest
for f in "$LLMTAP" "$BENCH"; do
    if [ ! -x "$f" ]; then
        echo "bench: $f is not built (run: make bench)" >&2
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-bench-XXXXXX") || exit 1
pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
db=$tmp/bench.db

if ! serve_start "$LLMTAP" "$db" "$tmp/server.log"; then
    echo "bench: the server did not start; its log:" >&2
    tail -n 30 "$tmp/server.log" >&2
    exit 1
fi
echo "bench: server at $url (db $db)"

# shellcheck disable=SC2086 # BENCH_ARGS is a word list on purpose
{
    "$BENCH" --url "$url" --workdir "$tmp" ${BENCH_ARGS:-} "$@"
    echo $? >"$tmp/bench.rc"
} | tee "$tmp/bench.out"
bench_rc=$(cat "$tmp/bench.rc")

# the writer's own figures: commit and compaction stalls, hot rows, segments
curl -s "$url/metrics" | grep -E '^llmtap_(commit|compaction|compacted|checkpoint|wal|hot|segments)' \
    >"$tmp/metrics" || true

# SIGTERM: drain, commit, exit 0 (give it 30 s)
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
    echo "bench: the server did not exit within 30 s of SIGTERM" >&2
    kill -KILL "$pid"
fi
wait "$pid"
server_rc=$?
pid=""

count=$("$LLMTAP" query --db "$db" --json "SELECT count(*) AS n FROM spans" |
    tr -d ' \n' | sed -n 's/.*"n":"\{0,1\}\([0-9]*\).*/\1/p')
accepted=$(sed -n 's/.*accepted_spans=\([0-9]*\).*/\1/p' "$tmp/bench.out")
acked=$(sed -n 's/.*acked_spans=\([0-9]*\).*/\1/p' "$tmp/bench.out")
size=$(du -k "$db" 2>/dev/null | cut -f1)

status=0
echo
echo "== bench summary =="
if [ -s "$tmp/metrics" ]; then
    echo "writer        $(tr '\n' ' ' <"$tmp/metrics")"
fi
if [ "$server_rc" = 0 ]; then
    echo "server        exited 0 on SIGTERM"
else
    echo "server        FAILED: exit status $server_rc on SIGTERM; log tail:"
    tail -n 20 "$tmp/server.log" | sed 's/^/    /'
    status=1
fi
if [ -n "$count" ] && [ -n "$accepted" ] && [ "$count" = "$accepted" ]; then
    echo "durability    OK: $count spans in the database = $accepted acknowledged as new" \
        "($acked acked in all)"
else
    echo "durability    FAILED: ${count:-?} spans in the database," \
        "${accepted:-?} acknowledged as new"
    status=1
fi
echo "database      ${size:-?} KiB on disk (without WAL)"
grep -E '^(throughput|ack latency|sqlite alone|fdatasync)' "$tmp/bench.out" | sed 's/^/  /'
if [ "$bench_rc" != 0 ]; then
    echo "bench_ingest  FAILED with status $bench_rc (failed batches or connections)"
    status=1
fi
exit $status
