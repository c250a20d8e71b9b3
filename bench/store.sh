#!/bin/sh
# bench/store.sh: the store benchmark of issue 3 item 8 (run by `make bench`
# after bench/run.sh, alone by `make bench-store`). In one run, on one data
# set of $STORE_SPANS (1,000,000) generated spans over $STORE_DAYS (30) days:
#   a. spangen writes the raw NDJSON;
#   b. (A): the raw file compressed whole with zstd -19;
#   c. ours: `llmtap serve` on a fresh store, bench_ingest sends the same
#      spans (the server compacts in the background), SIGTERM; then
#      `llmtap compact` settles what the compactor had left (indexing,
#      text blocks); the store must hold exactly those spans and pass
#      `llmtap check`;
#   d-e. bench_store prepare exports every span through the spans table
#      (for C) and builds (B), a SQLite row table of JSON texts with FTS5;
#   f. (C): bench/duck.mjs loads the export into DuckDB and times the queries;
#   g. bench_store query times the same queries on ours and (B);
#   h. bench_store report prints one table, targets met or missed.
# Temp files live in one directory under ${TMPDIR:-/tmp}, removed at exit
# (STORE_KEEP=1 keeps ours.db, b.db and the results for a closer look).
# Exit status: 0 when the run was clean (missed targets are reported, not
# failed), 1 when a step failed.
set -u
BUILD=${BUILD:-build}
SPANS=${STORE_SPANS:-1000000}
DAYS=${STORE_DAYS:-30}
NODE_DIR=${BENCH_NODE_DIR:-$BUILD/bench-node}
DUCKDB_PKG=${DUCKDB_PKG:-@duckdb/node-api@1.5.6-r.1}
LLMTAP=$BUILD/llmtap
SPANGEN=$BUILD/bench/spangen
INGEST=$BUILD/bench/bench_ingest
STORE=$BUILD/bench/bench_store
here=$(dirname "$0")
# shellcheck source=tests/support/serve.sh
. "$here/../tests/support/serve.sh"

for f in "$LLMTAP" "$SPANGEN" "$INGEST" "$STORE"; do
    if [ ! -x "$f" ]; then
        echo "store bench: $f is not built (run: make bench-store)" >&2
        exit 1
    fi
done
for c in zstd node npm; do
    if ! command -v "$c" >/dev/null 2>&1; then
        echo "store bench: $c is missing (run: make bench-store, which installs it)" >&2
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-store-bench-XXXXXX") || exit 1
pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; fi
    if [ "${STORE_KEEP:-0}" = 1 ]; then
        echo "store bench: kept $tmp (STORE_KEEP=1)" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
res=$tmp/results.txt
times=$tmp/times.txt
: >"$times"
echo "spans=$SPANS" >"$res"
status=0

now() { date +%s.%N; }
fail() {
    echo "store bench: FAILED: $*" >&2
    exit 1
}
# step_end NAME T0: note how long step NAME took since T0
step_end() {
    awk -v n="$1" -v a="$2" -v b="$(now)" 'BEGIN { printf "%-34s %8.1f s\n", n, b - a }' \
        | tee -a "$times" >&2
}
# the start_ns value of every line of a span file, as numbers
start_times() { grep -o '"start_ns":"[0-9]*"' "$1" | tr -dc '0-9\n'; }

# a. the data set
t=$(now)
echo "store bench: generating $SPANS spans over $DAYS days in $tmp" >&2
"$SPANGEN" --count "$SPANS" --days "$DAYS" >"$tmp/raw.ndjson" || fail "spangen"
raw_bytes=$(wc -c <"$tmp/raw.ndjson")
echo "raw_bytes=$raw_bytes" >>"$res"
start_times "$tmp/raw.ndjson" | sort -n | sed -n '1s/^/raw_first_ns=/p; $s/^/raw_last_ns=/p' \
    >>"$res"
step_end "a. spangen -> raw.ndjson" "$t"

# b. (A): zstd -19 over the whole file
t=$(now)
zstd -19 -T0 -q "$tmp/raw.ndjson" -o "$tmp/raw.ndjson.zst" || fail "zstd"
echo "zstd_bytes=$(wc -c <"$tmp/raw.ndjson.zst")" >>"$res"
rm -f "$tmp/raw.ndjson.zst"
awk -v a="$t" -v b="$(now)" 'BEGIN { printf "zstd_s=%.1f\n", b - a }' >>"$res"
step_end "b. (A) zstd -19 -T0" "$t"

# c. ours: ingest through the server, compaction running (after the raw
# file's and the baseline's dirty pages are on disk, so their writeback does
# not share the disk with the server's fsyncs)
sync
t=$(now)
db=$tmp/ours.db
serve_start "$LLMTAP" "$db" "$tmp/server.log" || {
    tail -n 30 "$tmp/server.log" >&2
    fail "the server did not start"
}
echo "store bench: server at $url" >&2
"$INGEST" --url "$url" --spans "$SPANS" --days "$DAYS" --no-baselines --workdir "$tmp" \
    --max-seconds 3600 >"$tmp/ingest.out"
ingest_rc=$?
# (bench_ingest's own targets are issue 2's; this bench's is in the report)
grep -E '^(throughput|ack latency|acked|retries)' "$tmp/ingest.out" | sed 's/   target.*//' >&2
curl -s "$url/metrics" | grep -E '^llmtap_(compaction|compacted|hot|segments)' >"$tmp/metrics"
kill -TERM "$pid"
wait "$pid"
server_rc=$?
pid=""
[ "$ingest_rc" = 0 ] || fail "bench_ingest exited $ingest_rc"
[ "$server_rc" = 0 ] || fail "the server exited $server_rc on SIGTERM"
sed -n 's/.*spans_per_s=\([0-9.]*\).*ack_p99_ms=\([0-9.]*\).*/ingest_spans_per_s=\1\
ingest_p99_ms=\2/p' "$tmp/ingest.out" >>"$res"
step_end "c. ingest (serve + bench_ingest)" "$t"

# c2. settle: what the server's compactor does once ingest pauses (compact
# the last hot rows, index the texts still waiting, pack older texts into
# blocks); sizes and queries are those of the settled store
t=$(now)
"$LLMTAP" compact --db "$db" >"$tmp/settle.out" || fail "llmtap compact"
sed 's/^/settle: /' "$tmp/settle.out" >&2
awk -v a="$t" -v b="$(now)" 'BEGIN { printf "settle_s=%.1f\n", b - a }' >>"$res"
step_end "c2. settle (llmtap compact)" "$t"

t=$(now)
# one line (sed wants its newline) without blanks, quotes or line breaks
flat() { tr -d ' \n"'; echo; }
"$LLMTAP" query --db "$db" --json \
    "SELECT count(*) AS n, min(start_ns) AS lo, max(start_ns) AS hi FROM spans" |
    flat | sed -n 's/.*n:\([0-9]*\),lo:\([0-9]*\),hi:\([0-9]*\).*/ours_count=\1\
ours_first_ns=\2\
ours_last_ns=\3/p' >>"$res"
"$LLMTAP" stats --db "$db" --json >"$tmp/stats.json" || fail "llmtap stats"
flat <"$tmp/stats.json" |
    sed -n 's/.*hot_spans:\([0-9]*\),segments:\([0-9]*\),.*/hot_spans=\1\
segments=\2/p' >>"$res"
if "$LLMTAP" check --db "$db" >"$tmp/check.out" 2>&1; then
    echo "check=ok" >>"$res"
else
    cat "$tmp/check.out" >&2
    echo "check=FAILED" >>"$res"
    status=1
fi
step_end "c. count, stats, check" "$t"
get() { sed -n "s/^$1=//p" "$res" | tail -n 1; }
[ "$(get ours_count)" = "$SPANS" ] || fail "the store holds $(get ours_count) spans, not $SPANS"
if [ "$(get ours_first_ns)" != "$(get raw_first_ns)" ] ||
    [ "$(get ours_last_ns)" != "$(get raw_last_ns)" ]; then
    fail "the store spans $(get ours_first_ns)..$(get ours_last_ns), raw.ndjson $(get raw_first_ns)..$(get raw_last_ns): not the same spans"
fi
rm -f "$tmp/raw.ndjson"

# d-e. export (for C) and (B)
t=$(now)
"$STORE" prepare --ours "$db" --dir "$tmp" >>"$res" || fail "bench_store prepare"
cat "$tmp/params.txt" >>"$res"
step_end "d-e. export + build (B)" "$t"

# f. (C): DuckDB
t=$(now)
if [ ! -d "$NODE_DIR/node_modules/@duckdb/node-api" ]; then
    echo "store bench: npm install $DUCKDB_PKG into $NODE_DIR" >&2
    mkdir -p "$NODE_DIR" || fail "mkdir $NODE_DIR"
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "$DUCKDB_PKG" >&2 ||
        fail "npm install $DUCKDB_PKG"
fi
BENCH_NODE_DIR=$NODE_DIR node "$here/duck.mjs" "$tmp" >>"$res" || fail "duck.mjs"
rm -f "$tmp/export.ndjson" "$tmp/duck.db"
step_end "f. (C) DuckDB load + queries" "$t"

# g. the queries on ours and (B)
t=$(now)
"$STORE" query --ours "$db" --b "$tmp/b.db" --params "$tmp/params.txt" >>"$res" ||
    fail "bench_store query"
step_end "g. queries on ours and (B)" "$t"

# h. the table
"$STORE" report "$res" "$tmp/stats.json"
echo
echo "-- where the time went --"
cat "$times"
if [ -s "$tmp/metrics" ]; then
    echo "server at the end of ingest: $(tr '\n' ' ' <"$tmp/metrics")"
fi
exit $status
