#!/bin/sh
# bench/eval.sh: the evaluator's runner (issue 6), run by `make bench` and
# alone by `make bench-eval`. A suite of $EVAL_CASES (1000) cases, two
# variants and three scorers (icontains, an LLM judge, offline similarity)
# against the fake upstream: 4 calls per case (two model calls, two judge
# calls). Prints wall time and calls/s at concurrency 1, 8 and 32 on a fresh
# store each, then the re-run served from the cache (no call made).
# Exit 0 when every run was clean, 1 when a step failed.
set -u
BUILD=${BUILD:-build}
CASES=${EVAL_CASES:-1000}
LLMTAP=$BUILD/llmtap
FAKEUP=$BUILD/llmtap-fakeup
for f in "$LLMTAP" "$FAKEUP"; do
    [ -x "$f" ] || { echo "eval bench: $f is not built (run: make bench-eval)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmtap-eval-bench-XXXXXX") || exit 1
fpid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$fpid" ] && kill "$fpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$FAKEUP" --listen 127.0.0.1:0 --threads 64 >"$tmp/fake.log" 2>&1 &
fpid=$!
i=0
until grep -q "listening on" "$tmp/fake.log"; do
    i=$((i + 1))
    [ $i -gt 200 ] && { echo "eval bench: the fake upstream did not start" >&2; exit 1; }
    sleep 0.05
done
fake=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/fake.log")

printf '%s' '{"messages":[{"role":"system","content":"FAKE-REPLY: Your order {{order_id}} ships today."},{"role":"user","content":"{{q}}"}],"model":"gpt-4o-mini"}' >"$tmp/a.json"
printf '%s' '{"messages":[{"role":"system","content":"FAKE-REPLY: Order {{order_id}} is on its way."},{"role":"user","content":"{{q}}"}],"model":"gpt-4o-mini"}' >"$tmp/b.json"
n=1
while [ $n -le "$CASES" ]; do
    echo "{\"vars\":{\"q\":\"where is A-$n?\",\"order_id\":\"A-$n\"},\"expected\":\"A-$n\"}"
    n=$((n + 1))
done >"$tmp/cases.jsonl"
printf '%s' '{"name":"bench","dataset":{"file":"cases.jsonl"},"variants":{"baseline":{"prompt":"bench@1"},"candidate":{"prompt":"bench@2"}},"scorers":[{"type":"icontains","value":"{{expected}}"},{"type":"judge","rubric":"FAKE-JUDGE: ships"},{"type":"similar"}]}' >"$tmp/suite.json"
"$LLMTAP" prompt push bench "$tmp/a.json" --db "$tmp/base.db" >/dev/null 2>&1 &&
    "$LLMTAP" prompt push bench "$tmp/b.json" --db "$tmp/base.db" >/dev/null 2>&1 ||
    { echo "eval bench: prompt push failed" >&2; exit 1; }

now() { date +%s.%N; }
calls=$((CASES * 4))
echo "eval bench: $CASES cases x 2 variants, icontains + judge + similar = $calls calls per run"
for c in 1 8 32; do
    rm -f "$tmp"/run.db*
    cp "$tmp/base.db" "$tmp/run.db"
    t0=$(now)
    OPENAI_API_KEY=sk-bench "$LLMTAP" eval run "$tmp/suite.json" --db "$tmp/run.db" --quiet \
        --upstream "openai=$fake" --concurrency $c --json "$tmp/r.json" 2>"$tmp/err.log" ||
        { echo "eval bench: run failed: $(tail -n 3 "$tmp/err.log")" >&2; exit 1; }
    t1=$(now)
    echo "$t0 $t1 $c $calls" | awk '{ s = $2 - $1; printf "  concurrency %2d: %6.2f s, %7.0f calls/s\n", $3, s, $4 / s }'
done
t0=$(now)
OPENAI_API_KEY=sk-bench "$LLMTAP" eval run "$tmp/suite.json" --db "$tmp/run.db" --quiet \
    --upstream "openai=$fake" --json "$tmp/r2.json" 2>"$tmp/err.log" ||
    { echo "eval bench: cached run failed" >&2; exit 1; }
t1=$(now)
cached=$(sed -n 's/.*"name":"baseline"[^}]*}[^}]*"cached":\([0-9]*\).*/\1/p' "$tmp/r2.json" | head -1)
echo "$t0 $t1" | awk -v c="$cached" '{ printf "  cached re-run:  %6.2f s (baseline outputs from the cache: %s)\n", $2 - $1, c }'
