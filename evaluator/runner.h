/*
 * runner: runs a suite (issue 6 item 4). For every case, variant and repeat
 * it renders the variant's prompt with the case's variables, calls the
 * model through the configured upstream, then the judge / embedding calls
 * its scorers need (and, with two variants, the pairwise judgements in both
 * orders), and finally the local scorers; the caller gets a filled
 * eval_report.
 *
 * Calls run concurrently on one curl multi handle (at most 'concurrency' in
 * flight). 429, 500, 502, 503, 504, 529 and transport failures are retried
 * with exponential backoff (0.5 s doubling, +-20% jitter, at most 20 s),
 * waiting what Retry-After / retry-after-ms say when the answer gives it
 * (at most 60 s), at most RUNNER_ATTEMPTS attempts in all.
 *
 * Cache: every call's key is the SHA-256 of (upstream name, path, body,
 * repeat); a 2xx answer is kept (the sink's "cache_put"), and a later run
 * finds it (evals_cache_get on 'db') and makes no call, unless no_cache.
 * Spans: every call made (not the cached ones) becomes a span of project
 * "llmtap-eval" handed to the sink, with its cost from 'prices', so the
 * evaluator's own spend is visible; a case's calls share one trace.
 * Provider keys come from the environment (OPENAI_API_KEY for the OpenAI
 * dialect, ANTHROPIC_API_KEY for Anthropic) and are sent, never stored.
 *
 * Replays (evaluator/replay.h): a suite may give its cases itself
 * (suite.cases), a variant may be *recorded* (no call: its output is the
 * case's reference with the stored call's figures) or a *replay* (its
 * spans are linked to the case's stored call by replay_of, in that call's
 * project; a case without variables sends the stored input with the
 * prompt's system messages). See suite.h.
 *
 * Interruption: when *interrupted becomes non-zero the runner stops
 * starting calls, abandons those in flight, scores what finished, flushes
 * the sink and returns with report->interrupted set.
 *
 * Thread-safety: one run per thread; the sink is called from the caller's
 * thread.
 */
#ifndef EVALUATOR_RUNNER_H
#define EVALUATOR_RUNNER_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include <sqlite3.h>

#include "core/span.h"
#include "evaluator/eval.h"
#include "evaluator/suite.h"
#include "store/prices.h"

#define RUNNER_ATTEMPTS 6
#define RUNNER_DEFAULT_CONCURRENCY 8
#define RUNNER_EVAL_PROJECT "llmtap-eval"

struct runner_upstream {
    const char *name;   /* "openai", "anthropic", ... */
    const char *origin; /* "http://127.0.0.1:4319" (no trailing slash) */
    int anthropic;      /* speaks Anthropic's dialect */
};

/* Where the runner's writes go (the CLI: a running server, or the store it
 * holds). Both return 0, or -1 with a message (the runner warns once and
 * goes on: a result that could not be kept is not a reason to stop). */
struct runner_sink {
    void *ctx;
    /* 'spans' (n) are lent: the sink may move them out (span_move); the
     * runner releases whatever is left. */
    int (*spans)(void *ctx, struct span *spans, size_t n, char *err, size_t errlen);
    /* A store/evals.h operation document (compact JSON). */
    int (*op)(void *ctx, const char *json, size_t len, char *err, size_t errlen);
};

struct runner_config {
    const struct runner_upstream *upstreams;
    size_t nupstreams;
    int concurrency; /* 0: the suite's, else RUNNER_DEFAULT_CONCURRENCY */
    int repeat;      /* 0: the suite's, else 1 */
    int no_cache;
    int progress;       /* 1: a progress bar on a terminal, lines otherwise; 0: quiet */
    FILE *progress_out; /* NULL: stderr */
    sqlite3 *db;        /* read-only: the prompt registry, the cache, stored traffic */
    const struct price_table *prices; /* may be NULL: outputs unpriced */
    struct runner_sink sink;
    volatile sig_atomic_t *interrupted; /* may be NULL */
    long timeout_ms;                    /* per attempt; 0: 120000 */
};

/* Run 's' into 'r' (eval_report_init'ed; the runner sets its shape, cases,
 * variants, scorers, gate settings from the suite, run_id and times).
 * Returns 0 (the report is complete, or interrupted), or -1 with a message
 * for a configuration error found before any call (unknown upstream, prompt
 * not in the registry, a template that does not render, a bad scorer):
 * the CLI's exit 2. */
int runner_run(const struct runner_config *cfg, const struct suite *s, struct eval_report *r,
               char *err, size_t errlen) __attribute__((warn_unused_result));

/* The chat request body for 'messages' (a JSON array of {role, content})
 * in the dialect of 'anthropic', with 'model' and 'params' (a JSON object
 * or NULL) merged in; Anthropic gets its system messages joined into
 * "system" and max_tokens 1024 unless params give one. Caller frees.
 * Exposed for tests and for replay. */
char *runner_chat_body(int anthropic, const char *model, const char *messages, const char *params);

/* Render the prompt 'body' (a prompt file's JSON, as the registry keeps
 * it) with 'vars' (a JSON object text): its messages as a JSON array
 * [{role, content}] (caller frees), or NULL with a message. Templates are
 * plain text (no HTML escaping); a partial {{> NAME}} or {{> NAME@V}} is
 * that registry prompt's messages, from 'db' (may be NULL: none). */
char *runner_render_prompt(sqlite3 *db, const char *body, const char *vars, char *err,
                           size_t errlen);

/* The request headers of a call to 'up': JSON, and the provider key from
 * the environment in the dialect's header (caller frees with
 * curl_slist_free_all). */
struct curl_slist;
struct curl_slist *runner_headers(const struct runner_upstream *up);

#endif
