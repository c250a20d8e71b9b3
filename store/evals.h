/*
 * evals: what the evaluator keeps in the store (DESIGN.md §5, §7; issue 6):
 *  - eval runs: one row per run with its verdict and headline figures, and
 *    one row per case with its scores and the whole case object of the JSON
 *    report (evaluator/gate.h gate_write_json) for the UI's run page;
 *  - the call cache: every model and judge call the evaluator made, keyed
 *    by the SHA-256 of its request (upstream, path, body, repeat), so a
 *    re-run costs nothing and gives the same answers;
 *  - online evaluation rules (sampled live traffic scored as it arrives).
 * Scores on spans themselves live in the 'scores' table (source "eval" or
 * "online"), written through the ingest batch like SDK scores.
 *
 * Writes arrive as JSON operations (evals_apply), the same document whether
 * the CLI holds the store alone or hands it to a running server
 * (POST /api/v1/admin/evals): one writer either way.
 *
 * Thread-safety: writers on the writer's connection (writer thread, or a
 * process holding the store alone); readers on any connection.
 */
#ifndef STORE_EVALS_H
#define STORE_EVALS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "core/buf.h"

#define EVALS_CACHE_BODY_MAX (8u << 20) /* a cached answer larger than this is not kept */
#define EVALS_ONLINE_MAX_RULES 100

/* Writer: one operation, a JSON object:
 *  {"op":"save_run","report":{...the gate_write_json document...}}
 *      stores (or replaces, same run_id) the run and its cases;
 *  {"op":"cache_put","entries":[{"key":"64 hex","status":200,"body":"...",
 *                                 "latency_ms":12.5 (optional)}...]}
 *      stores answers (an existing key is replaced);
 *  {"op":"online_add","rule":{"name","project" (default "default"),"prompt" (optional
 *      name, or "name@version"),"sample" (0 < s <= 1),"scorers":[specs],
 *      "upstream" (optional),"model" (optional)}}  (an existing name is replaced)
 *  {"op":"online_rm","name":"..."}  (answer "removed": false when there was none)
 *  {"op":"replay","replays":[...]}  replays and their scores (store/replays.h)
 * Appends a JSON object answer to 'answer' ({"ok":true,...}). Returns 0, 1
 * for a bad operation (message in 'err': the caller answers 400), -1 on a
 * store failure (500). The rule's and report's structure is checked here;
 * the scorer specs are the caller's to check. */
int evals_apply(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Reader: the cached answer for 'key' (32 bytes). 1 with *status, *body
 * (caller frees; *len bytes, NUL-terminated) and *latency_ms (the original
 * call's; NAN when not recorded; 'latency_ms' may be NULL), 0 when not
 * cached, -1 on error. */
int evals_cache_get(sqlite3 *db, const uint8_t key[32], int *status, char **body, size_t *len,
                    double *latency_ms) __attribute__((warn_unused_result));

/* A run's row, as the list and the run page show it. */
struct evals_run {
    char run_id[17];
    char *suite;
    int64_t started_ns, finished_ns;
    char *verdict; /* "pass" | "regression" */
    int interrupted;
    char *baseline, *candidate; /* prompt refs ("support@1"); candidate NULL with one variant */
    double baseline_score, candidate_score; /* NAN when absent */
    double diff, diff_lo, diff_hi;          /* NAN with one variant */
    int64_t ncases, repeats, nvariants;
    int64_t wins, ties, losses;
    double cost_usd;
    char *summary; /* the report without "cases" (compact JSON) */
};
void evals_run_release(struct evals_run *r);

/* Reader: newest first, at most 'limit' runs, optionally only those of
 * suite 'suite' (NULL: all). 'fn' returns 0 to go on. 0 or -1. */
typedef int (*evals_run_fn)(void *ctx, const struct evals_run *r);
int evals_list_runs(sqlite3 *db, const char *suite, int limit, evals_run_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Reader: one run. 1 (*out filled), 0 when there is none, -1 on error. */
int evals_get_run(sqlite3 *db, const char *run_id, struct evals_run *out)
    __attribute__((warn_unused_result));

/* Reader: a run's cases in order, each as the report's case object (compact
 * JSON, borrowed for the call) with its per-variant case scores and
 * delta = candidate - baseline (NAN with one variant). 'losses_only': only
 * cases with delta < 0. 'fn' returns 0 to go on. 0 or -1. */
typedef int (*evals_case_fn)(void *ctx, int64_t idx, const char *case_id, double delta,
                             const char *case_json);
int evals_cases(sqlite3 *db, const char *run_id, int losses_only, evals_case_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Reader: the trend of scores per prompt version: for each (prompt name,
 * version) that was a variant of some run, the newest run's mean score for
 * it, oldest version first. 'fn' returns 0 to go on. 0 or -1. */
typedef int (*evals_trend_fn)(void *ctx, const char *prompt, int64_t version, double score,
                              const char *run_id, int64_t finished_ns);
int evals_trend(sqlite3 *db, evals_trend_fn fn, void *ctx) __attribute__((warn_unused_result));

struct evals_online_rule {
    char *name, *project;
    char *prompt_name;      /* NULL: any span of the project */
    int64_t prompt_version; /* -1: any */
    double sample;          /* 0 < sample <= 1 */
    char *scorers;          /* JSON array of scorer specs */
    char *upstream, *model; /* NULL: the span's own */
    int64_t created_ns;
};
void evals_online_rule_release(struct evals_online_rule *r);

/* Reader: every online rule by name. 'fn' returns 0 to go on. 0 or -1. */
typedef int (*evals_online_fn)(void *ctx, const struct evals_online_rule *r);
int evals_online_list(sqlite3 *db, evals_online_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Reader: the scores attached to span (project, trace_id, span_id) — any
 * source — oldest first: name, value, comment (may be NULL), source. */
typedef int (*evals_score_fn)(void *ctx, const char *name, double value, const char *comment,
                              const char *source, int64_t time_ns);
int evals_span_scores(sqlite3 *db, const char *project, const char *trace_id, const char *span_id,
                      evals_score_fn fn, void *ctx) __attribute__((warn_unused_result));

/* Reader: per version_set of 'project', the mean and count of each score
 * name over its spans' scores. 'fn' returns 0 to go on. 0 or -1. */
typedef int (*evals_vset_fn)(void *ctx, const char *version_set, const char *score_name,
                             double mean, int64_t n);
int evals_version_scores(sqlite3 *db, const char *project, evals_vset_fn fn, void *ctx)
    __attribute__((warn_unused_result));

#endif
