/*
 * vcompare: two version_sets of one project compared (DESIGN.md §4,
 * "Regressions"; issue 7 item 3) on cost per call, tokens per call,
 * latency p50 / p95, TTFT p95, error rate and every eval score, each
 * difference (B - A: candidate minus baseline) with a confidence interval
 * and a verdict. Read-only: works on any connection store_open made (it
 * needs the rollup views, their SQL functions and the `spans` table).
 *
 * Where each figure comes from ("calls" are LLM and embedding calls, the
 * rollup rows and spans with a model, as on the UI's pages):
 *  - latency p50 / p95, TTFT p95: the hourly rollups' histograms, summed
 *    over the version_set's hours. Interval: bootstrap, each resample a
 *    multinomial draw of the histogram's values (bucket i with probability
 *    count_i / n). At most VCOMPARE_DRAWS values are drawn per resample
 *    (m = min(n, VCOMPARE_DRAWS)); with m < n the resampled quantile's
 *    deviation from the full histogram's is scaled by sqrt(m / n), the
 *    m-out-of-n bootstrap (the sd of a sample quantile shrinks as 1 /
 *    sqrt(n)), so the work is bounded and the interval keeps its width for
 *    n. A histogram bucket is 2 % wide, so a difference of at most one
 *    bucket (margin = (ROLLUP_HIST_RATIO - 1) x A's value) is never called
 *    significant: values one bucket apart may differ by nothing (either side
 *    of an edge). The interval must clear the margin, not just zero.
 *  - error rate: errors / calls from the rollups (exact counts); interval:
 *    Newcombe's hybrid score interval (Wilson on each side) for a
 *    difference of two independent proportions.
 *  - cost per call (priced calls; unpriced ones have no cost to average),
 *    tokens per call (input + output): per-call values read from `spans`
 *    for the version_set (project and version_set pushed down, three
 *    columns decoded). The rollups hold only sums per hour: a cluster
 *    bootstrap over hourly cells would have as few clusters as the
 *    version_set had live hours (often two or three), too few for an
 *    interval. The estimate is the exact mean over every call; the interval
 *    a bootstrap of the difference of means from a seeded reservoir sample
 *    of at most VCOMPARE_SAMPLE calls a side, deviations scaled by sqrt(k /
 *    n) as above (k the sample's size), so memory and time are bounded.
 *  - eval scores (the `scores` table joined to the version_set's spans,
 *    grouped by name; at most VCOMPARE_SCORES names): difference of means,
 *    the same bootstrap. Here lower is worse.
 *
 * Verdict: "not enough data" when either side has fewer than min_n values
 * (default 20); else "worse" when the interval lies wholly on the bad side
 * of the margin (higher cost, tokens, latency, TTFT, error rate; lower
 * score), "better" on the good side, else "no significant difference".
 * Several metrics are tested at once, and `llmtap versions compare` fails a
 * deploy on any one of them, so the intervals are Bonferroni-adjusted: each
 * at level 1 - alpha / m, m the metrics with enough data. Two equal
 * version_sets then show any "worse" with probability at most alpha.
 *
 * Deterministic: resampling is seeded (opts.seed, mixed with the metric's
 * name), so the same store and options give the same result.
 *
 * Thread-safety: functions are reentrant; a result belongs to its caller.
 */
#ifndef STORE_VCOMPARE_H
#define STORE_VCOMPARE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#define VCOMPARE_MIN_N 20        /* values a side needs for a verdict */
#define VCOMPARE_RESAMPLES 2000  /* bootstrap resamples (default) */
#define VCOMPARE_DRAWS 2000      /* values drawn from a histogram per resample, at most */
#define VCOMPARE_SAMPLE 2000     /* per-call values kept per side and metric, at most */
#define VCOMPARE_SCORES 16       /* eval score names compared, at most */
#define VCOMPARE_NAME_MAX 80     /* a metric's name, with the NUL */
#define VCOMPARE_VSETS_MAX 10000 /* version_sets of a project listed, at most */

enum vcompare_rc {
    VCOMPARE_OK = 0,
    VCOMPARE_ENOTFOUND, /* no such project or version_set, or fewer than two version_sets */
    VCOMPARE_EINVAL,    /* bad options (alpha outside (0, 0.5], A equal to B, ...) */
    VCOMPARE_ESTORE,    /* an SQL error */
};

enum vcompare_verdict {
    VCOMPARE_SAME = 0, /* no significant difference */
    VCOMPARE_BETTER,
    VCOMPARE_WORSE,
    VCOMPARE_FEW, /* not enough data */
};

enum vcompare_unit { VCOMPARE_USD, VCOMPARE_TOKENS, VCOMPARE_MS, VCOMPARE_RATIO, VCOMPARE_SCORE };

struct vcompare_opts {
    const char *project;    /* NULL: the project with the most recent calls (under B, or A,
                            when named; else preferring one with two version_sets or more,
                            and one other than llmtap-eval) */
    const char *a, *b;      /* baseline, candidate; NULL: b the newest version_set (by first
                            seen), a the one before b */
    int64_t from_ns, to_ns; /* calls starting in [from, to), widened to whole hours; 0: open */
    double alpha;           /* family-wise, in (0, 0.5]; default 0.05 */
    uint64_t seed;
    int resamples; /* >= 100 */
    int64_t min_n; /* >= 2 */
};

/* The defaults above (project, a, b NULL; no time range). */
void vcompare_opts_default(struct vcompare_opts *o);

struct vcompare_metric {
    char name[VCOMPARE_NAME_MAX]; /* "cost_per_call", "tokens_per_call", "latency_p50_ms",
                                     "latency_p95_ms", "ttft_p95_ms", "error_rate",
                                     "score:NAME" (NAME cut to fit) */
    enum vcompare_unit unit;
    int lower_is_better; /* 1 for all but scores */
    int64_t n_a, n_b;    /* values each side (calls, priced calls, TTFTs, scores) */
    double a, b;         /* the estimates; NAN when a side has no value */
    double delta;        /* b - a (NAN when either is) */
    double lo, hi;       /* its interval; NAN with VCOMPARE_FEW */
    double margin;       /* differences within +-margin are never significant */
    enum vcompare_verdict verdict;
};

struct vcompare_result {
    char *project, *a, *b; /* owned */
    int64_t calls_a, calls_b;
    double alpha;              /* family-wise */
    double level;              /* of each interval: 1 - alpha / tested (1 - alpha when none) */
    int tested;                /* metrics with enough data */
    int worse;                 /* metrics with the verdict "worse" */
    struct vcompare_metric *m; /* owned, 'n' of them: the six fixed ones, then the scores */
    size_t n;
};

/* Compare per 'o' into 'out' (released by vcompare_result_release, also
 * after a failure). Returns VCOMPARE_OK, or another code with a message in
 * 'err' naming what is missing or wrong. */
int vcompare_run(sqlite3 *db, const struct vcompare_opts *o, struct vcompare_result *out, char *err,
                 size_t errlen) __attribute__((warn_unused_result));
void vcompare_result_release(struct vcompare_result *r);

/* The verdict as shown ("worse", "better", "no significant difference",
 * "not enough data") and as a key for JSON and CSS classes ("worse",
 * "better", "same", "few"). Static strings. */
const char *vcompare_verdict_text(enum vcompare_verdict v);
const char *vcompare_verdict_key(enum vcompare_verdict v);
/* "USD", "tokens", "ms", "ratio", "score". Static. */
const char *vcompare_unit_name(enum vcompare_unit u);

/* The result as JSON (what `llmtap versions compare --json` prints and
 * GET /api/v1/versions/compare answers); caller frees with cJSON_Delete.
 * NAN figures are null. */
cJSON *vcompare_json(const struct vcompare_result *r);

/* ---- listing ---- */

struct vcompare_vset {
    char *version_set;             /* owned; "" for calls without one */
    int64_t first_hour, last_hour; /* hours since the epoch (UTC) */
    int64_t calls;
};

struct vcompare_list {
    char *project;           /* owned */
    struct vcompare_vset *v; /* owned, oldest first (by first hour, then name) */
    size_t n;
};

/* The version_sets of 'project' (NULL: as in vcompare_opts) with calls in
 * [from_ns, to_ns) (0: open), at most 'max' (the newest; 0 or more than
 * VCOMPARE_VSETS_MAX: VCOMPARE_VSETS_MAX). Release with
 * vcompare_list_release (also after a failure). VCOMPARE_ENOTFOUND when the
 * project has no calls. */
int vcompare_list_vsets(sqlite3 *db, const char *project, int64_t from_ns, int64_t to_ns,
                        size_t max, struct vcompare_list *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void vcompare_list_release(struct vcompare_list *l);

/* The projects with calls, most recently active first, at most 'max'
 * (caller frees each string and the array; *n their count). 0, or -1 with
 * a message. */
int vcompare_projects(sqlite3 *db, size_t max, char ***out, size_t *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* ---- history: every consecutive change ---- */

struct vcompare_history {
    struct vcompare_list list;     /* the version_sets, oldest first */
    struct vcompare_result *steps; /* owned, list.n - 1 of them (0 when fewer than two):
                                      steps[i] compares v[i] (A) with v[i + 1] (B) */
    size_t nsteps;
};

/* The last 'max' (>= 2) version_sets of o->project (o->a and o->b are
 * ignored) and each change between consecutive ones, every version_set
 * read once. Release with vcompare_history_release (also after a failure).
 * Returns as vcompare_run. */
int vcompare_history(sqlite3 *db, const struct vcompare_opts *o, size_t max,
                     struct vcompare_history *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void vcompare_history_release(struct vcompare_history *h);

#endif
