/*
 * gate: the CI verdict of an evaluation (issue 6 item 6) and the reports
 * written from it (JUnit XML, Markdown for a PR comment, JSON).
 *
 * Variant 0 is the baseline and variant 1 the candidate. Each case's score
 * is eval_case_scores (weighted over scorers, averaged over repeats). The
 * verdict is REGRESSION when
 *  - (two variants) the (1 - alpha) bootstrap interval of the mean paired
 *    difference candidate - baseline lies wholly below -max_regression
 *    (worse by more than D, with confidence), or
 *  - the candidate's mean score (the only variant's, with one) is below
 *    min_score (when min_score is not NAN);
 * else PASS. A noisy judge therefore does not fail an equivalent prompt:
 * the interval must exclude "no worse than D".
 *
 * The bootstrap seed is derived from the suite name and the case count, so
 * the same results give the same verdict.
 *
 * Thread-safety: pure functions over a report the caller holds.
 */
#ifndef EVALUATOR_GATE_H
#define EVALUATOR_GATE_H

#include <stdio.h>

#include "core/buf.h"
#include "evaluator/eval.h"
#include "core/stats.h"

enum gate_verdict { GATE_PASS = 0, GATE_REGRESSION = 1 };

struct gate_variant {
    struct stats_interval score;  /* the per-case scores */
    double pass_rate;             /* share of (case, repeat) outputs that passed every scorer */
    double pass_hat_n;            /* stats_pass_hat_k with k = repeats */
    size_t calls, failed, cached; /* outputs (ncases * repeats), those not ok
                                     (errors and "not run"), those from the cache */
    double cost_usd;              /* priced ok outputs only; 0 when none is priced */
    double latency_p50_ms, latency_p95_ms; /* over ok outputs (linear interpolation);
                                              NAN when none */
};

struct gate_scorer {
    struct stats_interval v[EVAL_MAX_VARIANTS]; /* this scorer's values per variant */
    double pass_rate[EVAL_MAX_VARIANTS];
    struct stats_paired paired; /* variant 1 vs 0; n 0 with one variant */
};

struct gate_result {
    enum gate_verdict verdict;
    int compared;     /* 1: two variants were compared */
    int below_floor;  /* the candidate's mean < min_score */
    int regressed;    /* the interval lies below -max_regression */
    char reason[512]; /* one line: why PASS or REGRESSION, with the figures */
    struct gate_variant variants[EVAL_MAX_VARIANTS];
    struct stats_paired paired; /* overall case scores, candidate vs baseline */
    struct gate_scorer scorers[EVAL_MAX_SCORERS];
};

/* Compute the verdict and every figure (STATS_BOOTSTRAP_DEFAULT resamples;
 * differences within 1e-9 are ties). Returns 0, or -1 when the report has
 * no cases or no variants, or alpha is not in (0, 1) ('g' then says so in
 * reason). */
int gate_evaluate(const struct eval_report *r, struct gate_result *g)
    __attribute__((warn_unused_result));

/* JUnit XML: <testsuites name="SUITE"> holding one <testsuite> per variant
 * ("SUITE.VARIANT") with one <testcase> per case per scorer (classname
 * "SUITE.VARIANT", name "case ID: SCORER", or "case ID" with no scorer;
 * time: the call's latency summed over repeats), <failure> when the scorer
 * did not pass on some repeat (message: the run, value, threshold and
 * reason), <error> when the call or the scorer failed, either with the
 * output in <system-out> (at most 16 KiB); plus a testsuite "SUITE.gate"
 * whose one testcase "gate" fails on a REGRESSION verdict (message: the
 * reason). Well-formed XML 1.0 in UTF-8: every text escaped, characters
 * XML forbids dropped, invalid UTF-8 replaced by U+FFFD. Returns 0, or -1
 * on a write error. */
int gate_write_junit(const struct eval_report *r, const struct gate_result *g, FILE *f);

/* Markdown for a PR comment: verdict line, a table of variants (score with
 * interval, pass rate, cost, latency), the difference with its interval and
 * p-values, a per-scorer table, and the (at most 10) worst cases (largest
 * loss of the candidate; one variant: lowest score) with their variables
 * and outputs shortened. Text from outputs is escaped for Markdown tables
 * (| and newlines) and HTML. Returns 0, or -1 on a write error. */
int gate_write_markdown(const struct eval_report *r, const struct gate_result *g, FILE *f);

/* The JSON report, the document stored by store/evals.h and read by the UI
 * (the schema is in docs/EVALS.md):
 * {"run_id","suite","started","finished" (RFC 3339 UTC, ms),"interrupted":bool,
 *  "verdict":"pass"|"regression","reason","repeats",
 *  "gate":{"min_score" (null when none),"max_regression","alpha"},
 *  "variants":[{"name","prompt","model","upstream","score":{"mean","lo","hi","sd","n"},
 *               "pass_rate","pass_hat_n","calls","failed","cached","cost_usd",
 *               "latency_p50_ms","latency_p95_ms"}],
 *  "comparison": null | {"diff":{"mean","lo","hi","sd","n"},"wins","ties","losses",
 *               "sign_p","wilcoxon_p","regressed","below_floor"},
 *  "scorers":[{"name","type","weight","threshold",
 *              "variants":[{"mean","lo","hi","sd","n","pass_rate"}],
 *              "comparison": null | {"diff":{...},"wins","ties","losses","sign_p","wilcoxon_p"}}],
 *  "cases":[{"id","vars":{...},"expected":JSON|null,"metadata":JSON|null,
 *            "scores":[per variant: the case score],
 *            "outputs":[per variant: [per repeat: {"ok","text"|null,"error"|null,
 *                        "latency_ms","cost_usd"|null,"input_tokens","output_tokens",
 *                        "cached","trace_id"|null,"span_id"|null,"score",
 *                        "scores":[per scorer: {"value","pass","error","reason"|null}]}]]}]}
 * NAN numbers print as null; tokens are -1 when unknown; strings that are
 * not UTF-8 have the invalid bytes replaced by U+FFFD; vars, expected and
 * metadata are the case's JSON text as it is. Appends to 'out'; 0, or -1
 * when 'out' is full. */
int gate_write_json(const struct eval_report *r, const struct gate_result *g, struct buf *out)
    __attribute__((warn_unused_result));

/* A short human summary for the terminal (the verdict, the variants, the
 * difference, per-scorer means). */
void gate_write_text(const struct eval_report *r, const struct gate_result *g, FILE *f);

#endif
