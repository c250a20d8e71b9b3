/*
 * replay: re-run stored calls with another prompt version (DESIGN.md §7
 * "Replay", issue 7) and compare. One call (TRACE_ID[:SPAN_ID]) or a batch
 * drawn from stored traffic ("prompt=support@6 since=24h sample=50").
 *
 * Built on the runner (runner.h) and the gate's statistics (gate.h): a
 * replay is a two-variant run over stored-traffic cases where
 *  - variant 0, "original", is *recorded*: it makes no call, its output is
 *    what the stored call answered (with its tokens, cost and latency).
 *    Re-running the old version instead would compare two fresh samples and
 *    spend twice; the question a replay answers is "what would the new
 *    version have said instead of what was said", so the stored answer is
 *    the baseline;
 *  - variant 1, "replay", renders the stored variables with the chosen
 *    version (or, for a call stored without variables, sends the stored
 *    input with its system messages replaced by the version's: mode
 *    "system_swap") and calls the upstream the original used (its provider
 *    name, looked up in 'upstreams'). Its span goes to the original's
 *    project with replay_of = "trace_id:span_id" of the original.
 * Model: the request's, else the original call's (a replay changes the
 * prompt; another model is asked for), else the prompt version's "model".
 * A batch takes the first call's model and provider, and replays only the
 * calls of that provider. Never served from the evaluator's cache: a replay calls.
 *
 * Scorers: the prompt version's "scorers" (an array of scorer specs in the
 * prompt file, evaluator/scorer.h), else the default
 *   [{"type":"similar","name":"similar"}]
 * (offline TF-IDF cosine against the original output, no model needed):
 * the original scores 1 by construction, so the replay's score says how
 * much its answer departs from what was answered. Both spans get their
 * scores in the 'scores' table (source "replay") and one row per call goes
 * to the replays table (store/replays.h), all through the sink's op (one
 * writer), rows of a batch sharing a batch_id.
 *
 * Thread-safety: one replay per thread; the sink is called from it.
 */
#ifndef EVALUATOR_REPLAY_H
#define EVALUATOR_REPLAY_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "evaluator/eval.h"
#include "evaluator/gate.h"
#include "evaluator/runner.h"
#include "store/replays.h"

#define REPLAY_DEFAULT_SAMPLE 50
#define REPLAY_MAX_BATCH REPLAYS_MAX_PER_OP /* sample= at most: one op stores a batch */
#define REPLAY_OUTPUT_MAX (256u << 10)      /* output text kept in a replay's summary */

struct replay_config {
    const struct runner_upstream *upstreams; /* by the originals' provider names */
    size_t nupstreams;
    sqlite3 *db;                        /* read-only: spans, the registry */
    const struct price_table *prices;   /* may be NULL */
    struct runner_sink sink;            /* spans and the replay op */
    int concurrency;                    /* 0: the runner's default */
    int progress;                       /* a progress bar on stderr */
    volatile sig_atomic_t *interrupted; /* may be NULL */
    long timeout_ms;                    /* per call; 0: the runner's */
};

struct replay_request {
    const char *trace_id; /* one call: 32 hex ... */
    const char *span_id;  /* ... and 16 hex, or NULL: the trace's first LLM span */
    const char *from;     /* or a batch: "prompt=NAME[@V] [since=DUR] [sample=N] [project=P]" */
    const char *prompt;   /* NAME@VERSION (or NAME@LABEL, NAME: latest) */
    const char *model;    /* NULL: see above */
    const char *params;   /* a JSON object merged over the version's params, or NULL */
};

struct replay_case {
    char id[17]; /* the replays row */
    int swapped; /* mode system_swap */
    int stored;  /* the row was stored */
};

struct replay_result {
    int batch;
    char batch_id[17];         /* "" for one call */
    struct eval_report report; /* variant 0 original, 1 replay */
    struct gate_result gate;
    struct replay_case *cases; /* report.ncases */
    size_t skipped;            /* batch: calls of another provider than the first one's */
    int store_failed;          /* the op was refused (the message was in 'err') */
    char store_error[256];
};

void replay_result_init(struct replay_result *res);
void replay_result_release(struct replay_result *res); /* accepts NULL */

/* Run 'req' into 'res' (replay_result_init'ed). Returns 0 (the replays
 * ran; a call that failed is a row with status "error"), or -1 with a
 * message: no such span / no matching calls, a prompt not in the registry,
 * an unknown upstream, a bad scorer or "from" spec (the CLI's exit 2). */
int replay_run(const struct replay_config *cfg, const struct replay_request *req,
               struct replay_result *res, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The comparison for a terminal: one call side by side (outputs, tokens,
 * cost, latency, scores, each with its delta, and the mode said), or a
 * batch's aggregate (mean scores with intervals, win/tie/loss, cost and
 * latency deltas, the verdict). */
void replay_write_text(const struct replay_result *res, FILE *f);

/* The same as JSON: {"batch_id" (null for one call),"replays":[SUMMARY+"id"],
 * "aggregate":{...}}. Appends to 'out'; 0, or -1 when 'out' is full. */
int replay_write_json(const struct replay_result *res, struct buf *out)
    __attribute__((warn_unused_result));

/* The summary of case 'c' (the replays row's "summary"): {"mode","prompt",
 * "original":SIDE,"replay":SIDE,"delta":{...},"scorers":[names]} where SIDE
 * is {"prompt","model","output","ok","error","input_tokens","output_tokens",
 * "cost_usd","latency_ms","score","scores":{name:value}}. Caller deletes. */
cJSON *replay_summary(const struct replay_result *res, size_t c);

/* The verdict of a comparison: "improvement" when the interval of the mean
 * difference lies above 0, "regression" below, else "no significant
 * difference" (static). */
const char *replay_verdict(const struct replay_result *res);

#endif
