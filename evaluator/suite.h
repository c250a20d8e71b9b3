/*
 * suite: an evaluation suite file (issue 6 item 2; the format is a public
 * contract documented in docs/EVALS.md) and the cases of its dataset.
 *
 *   {"name": "support-quality",
 *    "dataset": {"file": "cases.jsonl"}            (relative to the suite's folder)
 *             | {"from": {"prompt": "support", "version": 6, "since": "7d",
 *                         "sample": 200, "project": "default"}},
 *    "variants": {"baseline": {...}, "candidate": {...}},
 *    "scorers": [{"type": ...}, ...],
 *    "gate": {"min_score": 0.7, "max_regression": 0.05, "alpha": 0.05},
 *    "repeat": 1, "concurrency": 8, "description": "..."}
 *
 * A variant is {"prompt": REF, "model": M, "upstream": NAME, "params": {...}}
 * where REF is a registry reference ("support@2", "support@production",
 * "support" = latest) or the path of a prompt file (it contains '/' or ends
 * in ".json"; relative to the suite's folder). Variants keep their file
 * order, except that "baseline" always comes first and "candidate" second.
 * Each JSONL line of a dataset file is {"vars": {...}, "expected": ...,
 * "metadata": {...}}; blank lines and lines starting with '#' or '//' are
 * skipped; a case's id is its line number.
 *
 * Thread-safety: a loaded suite is immutable.
 */
#ifndef EVALUATOR_SUITE_H
#define EVALUATOR_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "evaluator/eval.h"

#define SUITE_MAX_BYTES (4u << 20)
#define SUITE_DATASET_MAX_BYTES (256u << 20)

struct suite_variant {
    char *name;
    char *prompt;   /* as written (registry ref or file path, resolved) */
    int is_file;    /* prompt is a prompt file's path */
    char *model;    /* NULL: the prompt's own */
    char *upstream; /* NULL: "openai" (or the one the model's prompt names) */
    char *params;   /* JSON object merged over the prompt's params; NULL none */
    /* Replay (evaluator/replay.h; set by code, not by suite files): */
    int recorded; /* no call: the output is the case's reference (the stored call's own
                     answer) with the latency, cost and tokens of its metadata */
    int replay;   /* the calls re-run the case's stored call: their spans carry
                     replay_of = the case id in the project of metadata "project"; a
                     case without variables (metadata "input") sends the stored input
                     with its system messages replaced by the prompt's */
};

struct suite_from {
    char *prompt;    /* name */
    int64_t version; /* -1: any */
    int64_t since_ns;
    int64_t sample; /* cases at most */
    char *project;  /* NULL: every project but llmtap-eval */
};

struct suite {
    char *path, *dir, *name;
    char *dataset_file; /* resolved; NULL with a "from" dataset */
    int has_from;
    struct suite_from from;
    struct suite_variant variants[EVAL_MAX_VARIANTS];
    size_t nvariants;
    cJSON *scorers; /* the array of specs (owned) */
    double min_score, max_regression, alpha;
    int repeat, concurrency; /* 0: not given */
    /* Cases given by code (borrowed; the runner copies them), or NULL: the
     * runner reads the dataset. */
    const struct eval_case *cases;
    size_t ncases;
};

/* Load and check 'path'. 0 with *out (caller frees with suite_free), or -1
 * with a message naming the file and the key ("suite.json: variants.
 * candidate.prompt: ..."). Scorer specs are checked by the caller
 * (scorer_parse). */
int suite_load(const char *path, struct suite **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void suite_free(struct suite *s);

/* Make variant 'name' use prompt 'ref' (command-line override: --baseline,
 * --candidate), adding the variant when the suite lacks it (model and
 * upstream then copied from the first variant). 0, or -1 with a message. */
int suite_set_prompt(struct suite *s, const char *name, const char *ref, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The cases: from the dataset file, or from stored traffic on 'db' (a
 * read-only connection; may be NULL for a file dataset). 'seed' picks the
 * sample of stored traffic (reservoir sampling: the same data and seed give
 * the same cases). 0 with *cases (*n of them; caller frees each with the
 * report, or with suite_cases_free), or -1 with a message ("cases.jsonl:7:
 * ..."). No cases is an error. */
int suite_read_cases(const struct suite *s, sqlite3 *db, uint64_t seed, struct eval_case **cases,
                     size_t *n, char *err, size_t errlen) __attribute__((warn_unused_result));
void suite_cases_free(struct eval_case *cases, size_t n);

/* Cases from stored traffic ("from": calls with variables, not replays
 * themselves) carry metadata about the stored call:
 * {"project","provider","model","latency_ms","cost_usd" (null unpriced),
 *  "input_tokens","output_tokens","prompt_name","prompt_version"} (null when
 *  unknown), and "input" (the
 * stored input messages) when the call has no variables. */

/* The case of one stored call: span 'span_id' of trace 'trace_id' (NULL:
 * the trace's first LLM span), any project, with or without variables
 * (vars "{}" then). 1 with *out (caller frees with suite_cases_free(*out,
 * 1)), 0 when there is no such span, -1 with a message. */
int suite_read_span_case(sqlite3 *db, const char *trace_id, const char *span_id,
                         struct eval_case **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A deep copy of 'n' cases (caller frees with suite_cases_free). */
struct eval_case *suite_cases_copy(const struct eval_case *cases, size_t n);

#endif
