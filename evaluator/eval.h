/*
 * eval: the shared model of one evaluation run (DESIGN.md §7, issue 6):
 * cases (from a suite's dataset), variants (baseline, candidate), scorers,
 * and the grid of outputs and scores the runner fills. Every other
 * evaluator module reads or writes this one shape: the runner fills it,
 * stats and the gate read it, the report writers print it, the store keeps
 * it.
 *
 * Indexing: output (case c, variant v, repeat r) is
 * outputs[(c * nvariants + v) * repeats + r]; its scores, one per scorer s,
 * are scores[((c * nvariants + v) * repeats + r) * nscorers + s]. Use
 * eval_output_at / eval_score_at.
 *
 * Ownership: an eval_report owns everything in it; eval_report_release
 * frees it all. Strings are heap (xstrdup) or NULL. Not thread-safe.
 */
#ifndef EVALUATOR_EVAL_H
#define EVALUATOR_EVAL_H

#include <stddef.h>
#include <stdint.h>

#define EVAL_MAX_VARIANTS 8
#define EVAL_MAX_SCORERS 64
#define EVAL_MAX_CASES 100000
#define EVAL_MAX_REPEATS 100

/* One dataset case. */
struct eval_case {
    char *id;       /* "1", "2", ... (the line number in a JSONL file) or the span's
                       "trace_id:span_id" for stored traffic */
    char *vars;     /* JSON object of template variables ("{}" when none) */
    char *expected; /* JSON value (a string is a JSON string), NULL when none; for
                       stored traffic: the original output's text as a JSON string */
    char *metadata; /* JSON object, NULL when none */
};

/* What one model call answered. */
struct eval_output {
    int ok;      /* 1: an answer; 0: the call failed (error says why) */
    char *text;  /* the answer's text ("" when only tool calls); NULL when !ok */
    char *error; /* owned message when !ok */
    double latency_ms;
    int has_cost;
    int64_t cost_nusd;
    int64_t input_tokens, output_tokens; /* -1 unknown */
    int cached;                          /* served from the evaluator's cache */
    char trace_id[33], span_id[17];      /* the span that recorded the call ("" none) */
};

/* One score of one output. 'value' is in [0, 1] after the scorer's 'not'
 * and normalisation; 'pass' is value >= the scorer's threshold. */
struct eval_score {
    double value;
    int pass;
    int error;    /* 1: the scorer could not score (reason says why); counts as 0 */
    char *reason; /* owned, optional: judge reasoning, the assertion's explanation */
};

/* A scorer as the report sees it (the full definition is the scorer
 * module's; see evaluator/scorer.h). */
struct eval_scorer_info {
    char *name; /* "icontains", "judge", ... or the spec's own "name" */
    char *type;
    double weight;    /* > 0 */
    double threshold; /* pass when value >= threshold */
};

struct eval_variant_info {
    char *name;     /* "baseline", "candidate", ... */
    char *prompt;   /* "support@2" as resolved (the version number, never a label) */
    char *model;    /* may be NULL: the prompt's own model */
    char *upstream; /* "openai", ... */
};

struct eval_report {
    char *suite;  /* the suite's name */
    char *run_id; /* 16 hex, set by the runner */
    int64_t started_ns, finished_ns;
    int interrupted; /* Ctrl-C: only some outputs are filled (ok 0, error "not run") */
    size_t ncases, nvariants, nscorers;
    int repeats; /* >= 1 */
    struct eval_case *cases;
    struct eval_variant_info variants[EVAL_MAX_VARIANTS];
    struct eval_scorer_info scorers[EVAL_MAX_SCORERS];
    struct eval_output *outputs; /* ncases * nvariants * repeats */
    struct eval_score *scores;   /* ncases * nvariants * repeats * nscorers */
    /* The gate's settings as they applied (suite, then command-line). */
    double min_score;      /* NAN: no floor */
    double max_regression; /* D >= 0 */
    double alpha;          /* 0 < alpha < 1; the interval is 1 - alpha */
};

/* Zero everything; gate settings min_score NAN, max_regression 0, alpha 0.05. */
void eval_report_init(struct eval_report *r);
/* Allocate outputs and scores for the shape set in 'r' (ncases, nvariants,
 * nscorers, repeats): 0, or -1 when the shape is out of bounds. Outputs
 * start !ok with error NULL; scores start 0 with error 1. */
int eval_report_alloc(struct eval_report *r) __attribute__((warn_unused_result));
void eval_report_release(struct eval_report *r);

struct eval_output *eval_output_at(const struct eval_report *r, size_t c, size_t v, int rep);
struct eval_score *eval_score_at(const struct eval_report *r, size_t c, size_t v, int rep,
                                 size_t s);

/* The weighted score of one output: sum(weight * value) / sum(weight)
 * over the scorers; an output that failed scores 0. */
double eval_output_score(const struct eval_report *r, size_t c, size_t v, int rep);

/* The case's score for variant 'v': eval_output_score averaged over the
 * repeats. Writes ncases values into 'out'. */
void eval_case_scores(const struct eval_report *r, size_t v, double *out);

/* One scorer's values for variant 'v', averaged over repeats, into 'out'
 * (ncases values). */
void eval_scorer_values(const struct eval_report *r, size_t v, size_t s, double *out);

/* The text of a stored output (core/llmcall.h's convention): an assistant
 * message's "content", the first of an array of them, or a JSON string.
 * Caller frees; NULL when it holds no text (NULL, not JSON, tool calls only). */
char *eval_output_text(const char *output_json);

/* 1 when every scorer passed on every repeat of case 'c' for variant 'v'. */
int eval_case_passed(const struct eval_report *r, size_t c, size_t v, int rep);

#endif
