/*
 * vcompare: the version_set comparison (see vcompare.h for the statistics).
 *
 * A comparison reads each version_set into a 'side' once: its rollup sums
 * and two dense histograms (latency, TTFT), reservoir samples of its calls'
 * cost and tokens, and of each score name's values. Two sides then give the
 * metrics: first every estimate and count (so the number of metrics tested,
 * the Bonferroni m, is known), then each tested metric's interval and
 * verdict. The history reads N sides and compares N - 1 neighbours.
 */
#include "store/vcompare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/stats.h"
#include "core/xmem.h"
#include "store/rollup.h"

#define NS_PER_HOUR 3600000000000LL
#define HOUR_MAX (INT64_MAX / NS_PER_HOUR - 1)

/* ---- options, verdicts --------------------------------------------------- */

void vcompare_opts_default(struct vcompare_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->alpha = 0.05;
    o->seed = 0x5eed;
    o->resamples = VCOMPARE_RESAMPLES;
    o->min_n = VCOMPARE_MIN_N;
}

const char *vcompare_verdict_text(enum vcompare_verdict v)
{
    switch (v) {
    case VCOMPARE_BETTER:
        return "better";
    case VCOMPARE_WORSE:
        return "worse";
    case VCOMPARE_FEW:
        return "not enough data";
    default:
        return "no significant difference";
    }
}

const char *vcompare_verdict_key(enum vcompare_verdict v)
{
    switch (v) {
    case VCOMPARE_BETTER:
        return "better";
    case VCOMPARE_WORSE:
        return "worse";
    case VCOMPARE_FEW:
        return "few";
    default:
        return "same";
    }
}

const char *vcompare_unit_name(enum vcompare_unit u)
{
    static const char *const names[] = {"USD", "tokens", "ms", "ratio", "score"};
    return (unsigned)u < sizeof(names) / sizeof(names[0]) ? names[u] : "?";
}

/* ---- a side: one version_set's data --------------------------------------- */

/* A reservoir sample (Algorithm R) of at most VCOMPARE_SAMPLE values, with
 * the exact count and sum of all of them. */
struct sample {
    double *v;
    size_t n;
    int64_t seen;
    double sum;
};

struct score_vals {
    char *name;
    struct sample s;
};

struct side {
    char *vs;
    int64_t calls, errors;
    int64_t *lat, *ttft; /* dense, ROLLUP_HIST_BUCKETS each */
    struct sample cost, tokens;
    struct score_vals scores[VCOMPARE_SCORES];
    size_t nscores;
};

/* Rows of hours [hour_lo, hour_hi]; spans starting in [ns_lo, ns_hi). */
struct range {
    int64_t hour_lo, hour_hi, ns_lo, ns_hi;
};

static void range_of(int64_t from_ns, int64_t to_ns, struct range *r)
{
    r->hour_lo = from_ns > 0 ? from_ns / NS_PER_HOUR : 0;
    r->hour_hi = to_ns > 0 ? (to_ns - 1) / NS_PER_HOUR : HOUR_MAX;
    r->ns_lo = r->hour_lo * NS_PER_HOUR;
    r->ns_hi = (r->hour_hi + 1) * NS_PER_HOUR;
}

static void sample_add(struct sample *s, double x, struct stats_rng *rng)
{
    if (!s->v)
        s->v = xmalloc(VCOMPARE_SAMPLE * sizeof(*s->v));
    if (s->n < VCOMPARE_SAMPLE)
        s->v[s->n++] = x;
    else {
        size_t j = stats_rng_below(rng, (size_t)s->seen + 1);
        if (j < VCOMPARE_SAMPLE)
            s->v[j] = x;
    }
    s->seen++;
    s->sum += x;
}

static double sample_mean(const struct sample *s)
{
    return s->seen > 0 ? s->sum / (double)s->seen : NAN;
}

static void side_release(struct side *s)
{
    free(s->vs);
    free(s->lat);
    free(s->ttft);
    free(s->cost.v);
    free(s->tokens.v);
    for (size_t i = 0; i < s->nscores; i++) {
        free(s->scores[i].name);
        free(s->scores[i].s.v);
    }
    memset(s, 0, sizeof(*s));
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "version comparison: %s", sqlite3_errmsg(db));
    return -1;
}

static int sql_fail(sqlite3 *db, char *err, size_t errlen)
{
    snprintf(err, errlen, "version comparison: %s", sqlite3_errmsg(db));
    return VCOMPARE_ESTORE;
}

/* The rollup sums and histograms of side 's'. */
static int side_rollups(sqlite3 *db, const char *project, const struct range *rg, struct side *s,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (prep(db,
             "SELECT total(calls), total(errors), llmtap_hist_sum(latency_hist),"
             " llmtap_hist_sum(ttft_hist) FROM rollup_hourly WHERE project = ?1"
             " AND version_set = ?2 AND model <> '' AND hour >= ?3 AND hour <= ?4",
             &st, err, errlen) != 0)
        return VCOMPARE_ESTORE;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->vs, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, rg->hour_lo);
    sqlite3_bind_int64(st, 4, rg->hour_hi);
    int rc = VCOMPARE_OK;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = sql_fail(db, err, errlen);
        goto done;
    }
    s->calls = sqlite3_column_int64(st, 0);
    s->errors = sqlite3_column_int64(st, 1);
    s->lat = xcalloc(ROLLUP_HIST_BUCKETS, sizeof(*s->lat));
    s->ttft = xcalloc(ROLLUP_HIST_BUCKETS, sizeof(*s->ttft));
    if (rollup_hist_decode(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
                           s->lat) != 0 ||
        rollup_hist_decode(sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
                           s->ttft) != 0) {
        snprintf(err, errlen, "version comparison: a rollup histogram is malformed");
        rc = VCOMPARE_ESTORE;
    }
    for (int b = 0; b < ROLLUP_HIST_BUCKETS; b++) { /* a recount can never be negative */
        s->lat[b] = s->lat[b] < 0 ? 0 : s->lat[b];
        s->ttft[b] = s->ttft[b] < 0 ? 0 : s->ttft[b];
    }
done:
    sqlite3_finalize(st);
    return rc;
}

/* "version_set = ?2" lets `spans` push the version_set down; calls without
 * one are stored with NULL, which only the coalesce form matches. */
static const char *vs_pred(const char *vs)
{
    return vs[0] ? "s.version_set = ?2" : "coalesce(s.version_set, '') = ?2";
}

static void bind_side(sqlite3_stmt *st, const char *project, const struct side *s,
                      const struct range *rg)
{
    sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->vs, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, rg->ns_lo);
    sqlite3_bind_int64(st, 4, rg->ns_hi);
}

/* Per-call cost (priced calls) and tokens (input + output) of side 's'. */
static int side_calls(sqlite3 *db, const char *project, const struct range *rg, struct side *s,
                      uint64_t seed, char *err, size_t errlen)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT s.cost_nusd, s.input_tokens, s.output_tokens FROM spans s"
             " WHERE s.project = ?1 AND %s AND s.start_ns >= ?3 AND s.start_ns < ?4"
             " AND coalesce(s.model, '') <> ''",
             vs_pred(s->vs));
    sqlite3_stmt *st = NULL;
    if (prep(db, sql, &st, err, errlen) != 0)
        return VCOMPARE_ESTORE;
    bind_side(st, project, s, rg);
    struct stats_rng rng;
    stats_rng_seed(&rng, seed ^ ids_hash64(s->vs, strlen(s->vs), 0xca11));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            sample_add(&s->cost, (double)sqlite3_column_int64(st, 0) / 1e9, &rng);
        int has_in = sqlite3_column_type(st, 1) != SQLITE_NULL,
            has_out = sqlite3_column_type(st, 2) != SQLITE_NULL;
        if (has_in || has_out)
            sample_add(&s->tokens,
                       (double)(sqlite3_column_int64(st, 1) + sqlite3_column_int64(st, 2)), &rng);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? VCOMPARE_OK : sql_fail(db, err, errlen);
}

static struct sample *score_slot(struct side *s, const char *name)
{
    for (size_t i = 0; i < s->nscores; i++)
        if (strcmp(s->scores[i].name, name) == 0)
            return &s->scores[i].s;
    if (s->nscores == VCOMPARE_SCORES)
        return NULL; /* names past the first VCOMPARE_SCORES met are left out */
    s->scores[s->nscores].name = xstrdup(name);
    return &s->scores[s->nscores++].s;
}

/* 1 when 'project' has scores on spans, 0 when none, -1 on error. */
static int has_scores(sqlite3 *db, const char *project)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT EXISTS (SELECT 1 FROM scores WHERE project = ?1"
                           " AND span_id IS NOT NULL AND value IS NOT NULL)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : -1;
    sqlite3_finalize(st);
    return found;
}

/* The eval scores of side 's''s spans: one scan of the version_set's spans
 * (four columns decoded), each span's scores found by scores_by_span. */
static int side_scores(sqlite3 *db, const char *project, const struct range *rg, struct side *s,
                       uint64_t seed, char *err, size_t errlen)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT sc.name, sc.value FROM spans s CROSS JOIN scores sc"
             " WHERE s.project = ?1 AND %s AND s.start_ns >= ?3 AND s.start_ns < ?4"
             " AND sc.project = ?1 AND sc.trace_id = s.trace_id AND sc.span_id = s.span_id"
             " AND sc.value IS NOT NULL",
             vs_pred(s->vs));
    sqlite3_stmt *st = NULL;
    if (prep(db, sql, &st, err, errlen) != 0)
        return VCOMPARE_ESTORE;
    bind_side(st, project, s, rg);
    struct stats_rng rng;
    stats_rng_seed(&rng, seed ^ ids_hash64(s->vs, strlen(s->vs), 0x5c0e));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        double v = sqlite3_column_double(st, 1);
        struct sample *slot = name && isfinite(v) ? score_slot(s, name) : NULL;
        if (slot)
            sample_add(slot, v, &rng);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? VCOMPARE_OK : sql_fail(db, err, errlen);
}

static int side_load(sqlite3 *db, const char *project, const struct range *rg, int scored,
                     uint64_t seed, const char *vs, struct side *s, char *err, size_t errlen)
{
    s->vs = xstrdup(vs);
    int rc = side_rollups(db, project, rg, s, err, errlen);
    if (rc == VCOMPARE_OK)
        rc = side_calls(db, project, rg, s, seed, err, errlen);
    if (rc == VCOMPARE_OK && scored)
        rc = side_scores(db, project, rg, s, seed, err, errlen);
    return rc;
}

/* ---- statistics ------------------------------------------------------------ */

/* A histogram's non-empty buckets with running counts, for drawing values
 * and reading quantiles. */
struct hcdf {
    int *bucket;
    int64_t *cum; /* cum[i]: values in buckets bucket[0..i] */
    size_t k;
    int64_t n;
};

static void hcdf_init(struct hcdf *h, const int64_t *dense)
{
    memset(h, 0, sizeof(*h));
    h->bucket = xmalloc(ROLLUP_HIST_BUCKETS * sizeof(*h->bucket));
    h->cum = xmalloc(ROLLUP_HIST_BUCKETS * sizeof(*h->cum));
    for (int b = 0; b < ROLLUP_HIST_BUCKETS; b++)
        if (dense[b] > 0) {
            h->n += dense[b];
            h->bucket[h->k] = b;
            h->cum[h->k++] = h->n;
        }
}

static void hcdf_release(struct hcdf *h)
{
    free(h->bucket);
    free(h->cum);
}

/* Nearest rank, as llmtap_hist_quantile: the bucket holding value number
 * ceil(q * n) of the counts 'cnt' ('k' buckets, 'n' values); its value. */
static double rank_value(const int *bucket, const int64_t *cnt, size_t k, int64_t n, double q)
{
    int64_t want = (int64_t)ceil(q * (double)n), seen = 0;
    want = want < 1 ? 1 : want;
    for (size_t i = 0; i < k; i++) {
        seen += cnt[i];
        if (seen >= want)
            return rollup_bucket_value(bucket[i]);
    }
    return k ? rollup_bucket_value(bucket[k - 1]) : NAN;
}

static double hcdf_quantile(const struct hcdf *h, double q)
{
    if (h->n == 0)
        return NAN;
    int64_t *cnt = xmalloc((h->k + 1) * sizeof(*cnt));
    for (size_t i = 0; i < h->k; i++)
        cnt[i] = h->cum[i] - (i ? h->cum[i - 1] : 0);
    double v = rank_value(h->bucket, cnt, h->k, h->n, q);
    free(cnt);
    return v;
}

/* The index of the bucket holding value number 'u' (0-based). */
static size_t hcdf_find(const struct hcdf *h, int64_t u)
{
    size_t lo = 0, hi = h->k - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Histograms of at most this many values are drawn from through a table
 * (value number -> bucket index, 2 bytes a value): one lookup a draw. */
#define DRAW_TABLE_MAX (1 << 21)

/* The table of 'h' (caller frees), or NULL when it has too many values. */
static uint16_t *draw_table(const struct hcdf *h)
{
    if (h->n > DRAW_TABLE_MAX)
        return NULL;
    uint16_t *t = xmalloc((size_t)h->n * sizeof(*t));
    int64_t u = 0;
    for (size_t i = 0; i < h->k; i++)
        while (u < h->cum[i])
            t[u++] = (uint16_t)i;
    return t;
}

/* 'dev'[r], r < R: the q-quantile of resample r (m = min(n, VCOMPARE_DRAWS)
 * values drawn from 'h') minus the full histogram's, times sqrt(m / n). */
static void boot_quantile(const struct hcdf *h, double q, int R, struct stats_rng *rng, double *dev)
{
    int64_t m = h->n < VCOMPARE_DRAWS ? h->n : VCOMPARE_DRAWS;
    double full = hcdf_quantile(h, q), scale = sqrt((double)m / (double)h->n);
    int64_t *tally = xmalloc((h->k + 1) * sizeof(*tally));
    uint16_t *table = draw_table(h);
    for (int r = 0; r < R; r++) {
        memset(tally, 0, (h->k + 1) * sizeof(*tally));
        for (int64_t i = 0; i < m; i++) {
            size_t u = stats_rng_below(rng, (size_t)h->n);
            tally[table ? table[u] : hcdf_find(h, (int64_t)u)]++;
        }
        dev[r] = (rank_value(h->bucket, tally, h->k, m, q) - full) * scale;
    }
    free(table);
    free(tally);
}

/* 'dev'[r]: the mean of a resample of sample 's' (its k values drawn with
 * replacement) minus the sample's mean, times sqrt(k / seen). */
static void boot_mean(const struct sample *s, int R, struct stats_rng *rng, double *dev)
{
    double base = 0;
    for (size_t i = 0; i < s->n; i++)
        base += s->v[i];
    base /= (double)s->n;
    double scale = sqrt((double)s->n / (double)s->seen);
    for (int r = 0; r < R; r++) {
        double sum = 0;
        for (size_t i = 0; i < s->n; i++)
            sum += s->v[stats_rng_below(rng, s->n)];
        dev[r] = (sum / (double)s->n - base) * scale;
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The p-quantile (linear interpolation) of the sorted 'v'[0..n). */
static double sorted_quantile(const double *v, int n, double p)
{
    double pos = p * (double)(n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

/* The percentile interval of delta + devb[r] - deva[r] at level 1 - a. */
static void interval_from(double delta, double *deva, const double *devb, int R, double a,
                          double *lo, double *hi)
{
    for (int r = 0; r < R; r++)
        deva[r] = delta + devb[r] - deva[r];
    qsort(deva, (size_t)R, sizeof(*deva), cmp_double);
    *lo = sorted_quantile(deva, R, a / 2);
    *hi = sorted_quantile(deva, R, 1 - a / 2);
}

/* Wilson score interval of x successes in n at normal quantile z. */
static void wilson(double x, double n, double z, double *lo, double *hi)
{
    double p = x / n, z2 = z * z, den = 1 + z2 / n;
    double mid = (p + z2 / (2 * n)) / den;
    double half = z / den * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    *lo = fmax(0, mid - half);
    *hi = fmin(1, mid + half);
}

/* Newcombe's hybrid score interval (his method 10) of pb - pa. */
static void newcombe(double xa, double na, double xb, double nb, double a, double *lo, double *hi)
{
    double z = stats_normal_quantile(1 - a / 2), la, ua, lb, ub;
    wilson(xa, na, z, &la, &ua);
    wilson(xb, nb, z, &lb, &ub);
    double pa = xa / na, pb = xb / nb, d = pb - pa;
    *lo = d - sqrt((pb - lb) * (pb - lb) + (ua - pa) * (ua - pa));
    *hi = d + sqrt((ub - pb) * (ub - pb) + (pa - la) * (pa - la));
}

/* ---- metrics ---------------------------------------------------------------- */

enum mkind { MK_COST, MK_TOKENS, MK_P50, MK_P95, MK_TTFT95, MK_ERRORS, MK_SCORE };

/* What a metric's interval is computed from, beside the result row. */
struct mwork {
    enum mkind kind;
    const struct sample *sa, *sb; /* MK_COST, MK_TOKENS, MK_SCORE */
};

static void metric_set(struct vcompare_metric *m, const char *name, enum vcompare_unit unit,
                       int64_t na, int64_t nb, double a, double b)
{
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->unit = unit;
    m->lower_is_better = unit != VCOMPARE_SCORE;
    m->n_a = na;
    m->n_b = nb;
    m->a = a;
    m->b = b;
    m->delta = isnan(a) || isnan(b) ? NAN : b - a;
    m->lo = m->hi = NAN;
    m->margin = 0;
    m->verdict = VCOMPARE_FEW;
}

static int64_t dense_count(const int64_t *d)
{
    int64_t n = 0;
    for (int b = 0; b < ROLLUP_HIST_BUCKETS; b++)
        n += d[b];
    return n;
}

static double dense_quantile(const int64_t *d, double q)
{
    struct hcdf h;
    hcdf_init(&h, d);
    double v = hcdf_quantile(&h, q);
    hcdf_release(&h);
    return v;
}

/* A histogram metric: estimates from the full histograms; margin one bucket. */
static void metric_hist(struct vcompare_metric *m, const char *name, const int64_t *da,
                        const int64_t *db, double q)
{
    metric_set(m, name, VCOMPARE_MS, dense_count(da), dense_count(db), dense_quantile(da, q),
               dense_quantile(db, q));
    /* one bucket, and a hair more so that a shift of exactly one bucket (values
     * that may differ by nothing, either side of an edge) is within it */
    m->margin = isnan(m->a) ? 0 : (ROLLUP_HIST_RATIO - 1) * m->a * (1 + 1e-9);
}

static void metric_mean(struct vcompare_metric *m, const char *name, enum vcompare_unit unit,
                        const struct sample *sa, const struct sample *sb)
{
    metric_set(m, name, unit, sa ? sa->seen : 0, sb ? sb->seen : 0, sa ? sample_mean(sa) : NAN,
               sb ? sample_mean(sb) : NAN);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static const struct sample *score_of(const struct side *s, const char *name)
{
    for (size_t i = 0; i < s->nscores; i++)
        if (strcmp(s->scores[i].name, name) == 0)
            return &s->scores[i].s;
    return NULL;
}

/* The score names of both sides, sorted, at most VCOMPARE_SCORES (borrowed
 * from the sides); their count. */
static size_t score_names(const struct side *a, const struct side *b, const char **names)
{
    const char *all[2 * VCOMPARE_SCORES];
    size_t n = 0, out = 0;
    for (size_t i = 0; i < a->nscores; i++)
        all[n++] = a->scores[i].name;
    for (size_t i = 0; i < b->nscores; i++)
        if (!score_of(a, b->scores[i].name))
            all[n++] = b->scores[i].name;
    qsort(all, n, sizeof(*all), cmp_str);
    for (size_t i = 0; i < n && out < VCOMPARE_SCORES; i++)
        names[out++] = all[i];
    return out;
}

/* Every metric's row with its estimates, and what its interval needs. */
static size_t metrics_estimate(const struct side *a, const struct side *b,
                               struct vcompare_metric *m, struct mwork *w)
{
    size_t n = 0;
    metric_mean(&m[n], "cost_per_call", VCOMPARE_USD, &a->cost, &b->cost);
    w[n++] = (struct mwork){MK_COST, &a->cost, &b->cost};
    metric_mean(&m[n], "tokens_per_call", VCOMPARE_TOKENS, &a->tokens, &b->tokens);
    w[n++] = (struct mwork){MK_TOKENS, &a->tokens, &b->tokens};
    metric_hist(&m[n], "latency_p50_ms", a->lat, b->lat, 0.5);
    w[n++] = (struct mwork){MK_P50, NULL, NULL};
    metric_hist(&m[n], "latency_p95_ms", a->lat, b->lat, 0.95);
    w[n++] = (struct mwork){MK_P95, NULL, NULL};
    metric_hist(&m[n], "ttft_p95_ms", a->ttft, b->ttft, 0.95);
    w[n++] = (struct mwork){MK_TTFT95, NULL, NULL};
    metric_set(&m[n], "error_rate", VCOMPARE_RATIO, a->calls, b->calls,
               a->calls ? (double)a->errors / (double)a->calls : NAN,
               b->calls ? (double)b->errors / (double)b->calls : NAN);
    w[n++] = (struct mwork){MK_ERRORS, NULL, NULL};
    const char *names[VCOMPARE_SCORES];
    size_t k = score_names(a, b, names);
    for (size_t i = 0; i < k; i++) {
        char name[VCOMPARE_NAME_MAX];
        snprintf(name, sizeof(name), "score:%.*s", VCOMPARE_NAME_MAX - 8, names[i]);
        const struct sample *sa = score_of(a, names[i]), *sb = score_of(b, names[i]);
        metric_mean(&m[n], name, VCOMPARE_SCORE, sa, sb);
        w[n++] = (struct mwork){MK_SCORE, sa, sb};
    }
    return n;
}

/* The interval of a histogram metric (q of the latency or TTFT histograms). */
static void interval_hist(const int64_t *da, const int64_t *db, double q, int R,
                          struct stats_rng *rng, double alpha_i, struct vcompare_metric *m)
{
    struct hcdf ha, hb;
    hcdf_init(&ha, da);
    hcdf_init(&hb, db);
    double *deva = xmalloc((size_t)R * sizeof(*deva)), *devb = xmalloc((size_t)R * sizeof(*devb));
    boot_quantile(&ha, q, R, rng, deva);
    boot_quantile(&hb, q, R, rng, devb);
    interval_from(m->delta, deva, devb, R, alpha_i, &m->lo, &m->hi);
    free(deva);
    free(devb);
    hcdf_release(&ha);
    hcdf_release(&hb);
}

static void interval_mean(const struct sample *sa, const struct sample *sb, int R,
                          struct stats_rng *rng, double alpha_i, struct vcompare_metric *m)
{
    double *deva = xmalloc((size_t)R * sizeof(*deva)), *devb = xmalloc((size_t)R * sizeof(*devb));
    boot_mean(sa, R, rng, deva);
    boot_mean(sb, R, rng, devb);
    interval_from(m->delta, deva, devb, R, alpha_i, &m->lo, &m->hi);
    free(deva);
    free(devb);
}

static enum vcompare_verdict verdict_of(const struct vcompare_metric *m)
{
    int up = m->lo > m->margin, down = m->hi < -m->margin;
    if (!up && !down)
        return VCOMPARE_SAME;
    return (up == m->lower_is_better) ? VCOMPARE_WORSE : VCOMPARE_BETTER;
}

static void metric_interval(const struct side *a, const struct side *b, const struct mwork *w,
                            const struct vcompare_opts *o, double alpha_i,
                            struct vcompare_metric *m)
{
    struct stats_rng rng;
    stats_rng_seed(&rng, o->seed ^ ids_hash64(m->name, strlen(m->name), 0x7e57));
    switch (w->kind) {
    case MK_P50:
        interval_hist(a->lat, b->lat, 0.5, o->resamples, &rng, alpha_i, m);
        break;
    case MK_P95:
        interval_hist(a->lat, b->lat, 0.95, o->resamples, &rng, alpha_i, m);
        break;
    case MK_TTFT95:
        interval_hist(a->ttft, b->ttft, 0.95, o->resamples, &rng, alpha_i, m);
        break;
    case MK_ERRORS:
        newcombe((double)a->errors, (double)a->calls, (double)b->errors, (double)b->calls, alpha_i,
                 &m->lo, &m->hi);
        break;
    default:
        interval_mean(w->sa, w->sb, o->resamples, &rng, alpha_i, m);
    }
    m->verdict = verdict_of(m);
}

/* Compare sides 'a' and 'b' of 'project' into 'r'. */
static void compare_sides(const char *project, const struct side *a, const struct side *b,
                          const struct vcompare_opts *o, struct vcompare_result *r)
{
    memset(r, 0, sizeof(*r));
    r->project = xstrdup(project);
    r->a = xstrdup(a->vs);
    r->b = xstrdup(b->vs);
    r->calls_a = a->calls;
    r->calls_b = b->calls;
    r->alpha = o->alpha;
    r->m = xcalloc(6 + VCOMPARE_SCORES, sizeof(*r->m));
    struct mwork w[6 + VCOMPARE_SCORES];
    r->n = metrics_estimate(a, b, r->m, w);
    for (size_t i = 0; i < r->n; i++)
        r->tested += r->m[i].n_a >= o->min_n && r->m[i].n_b >= o->min_n;
    double alpha_i = o->alpha / (r->tested > 0 ? r->tested : 1);
    r->level = 1 - alpha_i;
    for (size_t i = 0; i < r->n; i++) {
        struct vcompare_metric *m = &r->m[i];
        if (m->n_a < o->min_n || m->n_b < o->min_n)
            continue; /* VCOMPARE_FEW */
        metric_interval(a, b, &w[i], o, alpha_i, m);
        r->worse += m->verdict == VCOMPARE_WORSE;
    }
}

void vcompare_result_release(struct vcompare_result *r)
{
    if (!r)
        return;
    free(r->project);
    free(r->a);
    free(r->b);
    free(r->m);
    memset(r, 0, sizeof(*r));
}

/* ---- listing ----------------------------------------------------------------- */

/* The project with the most recent calls into *out (caller frees),
 * preferring one with two version_sets or more (something to compare) and
 * one other than the evaluator's own; with 'vs', the most recent of those
 * that have calls under that version_set. */
static int default_project(sqlite3 *db, const char *vs, char **out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (prep(db,
             "SELECT project FROM rollup_hourly WHERE model <> ''"
             " AND (?1 IS NULL OR version_set = ?1) GROUP BY project"
             " ORDER BY ?1 IS NULL AND count(DISTINCT version_set) < 2,"
             " project = 'llmtap-eval', max(hour) DESC, project LIMIT 1",
             &st, err, errlen) != 0)
        return VCOMPARE_ESTORE;
    if (vs)
        sqlite3_bind_text(st, 1, vs, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return VCOMPARE_OK;
    if (rc != SQLITE_DONE)
        return sql_fail(db, err, errlen);
    if (vs)
        snprintf(err, errlen, "no calls are stored under version_set '%s'", vs);
    else
        snprintf(err, errlen, "no calls are stored");
    return VCOMPARE_ENOTFOUND;
}

int vcompare_projects(sqlite3 *db, size_t max, char ***out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (prep(db,
             "SELECT project FROM rollup_hourly WHERE model <> '' GROUP BY project"
             " ORDER BY max(hour) DESC, project LIMIT ?1",
             &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    *out = xcalloc(max + 1, sizeof(**out));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
        (*out)[(*n)++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    sql_fail(db, err, errlen);
    return -1;
}

void vcompare_list_release(struct vcompare_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].version_set);
    free(l->v);
    free(l->project);
    memset(l, 0, sizeof(*l));
}

/* Reverse 'l''s rows (read newest first) into oldest first. */
static void list_reverse(struct vcompare_list *l)
{
    for (size_t i = 0; i < l->n / 2; i++) {
        struct vcompare_vset t = l->v[i];
        l->v[i] = l->v[l->n - 1 - i];
        l->v[l->n - 1 - i] = t;
    }
}

int vcompare_list_vsets(sqlite3 *db, const char *project, int64_t from_ns, int64_t to_ns,
                        size_t max, struct vcompare_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc = project ? VCOMPARE_OK : default_project(db, NULL, &out->project, err, errlen);
    if (rc != VCOMPARE_OK)
        return rc;
    if (project)
        out->project = xstrdup(project);
    max = max == 0 || max > VCOMPARE_VSETS_MAX ? VCOMPARE_VSETS_MAX : max;
    struct range rg;
    range_of(from_ns, to_ns, &rg);
    sqlite3_stmt *st = NULL;
    if (prep(db,
             "SELECT version_set, min(hour), max(hour), total(calls) FROM rollup_hourly"
             " WHERE project = ?1 AND model <> '' AND hour >= ?2 AND hour <= ?3"
             " GROUP BY version_set ORDER BY min(hour) DESC, version_set DESC LIMIT ?4",
             &st, err, errlen) != 0)
        return VCOMPARE_ESTORE;
    sqlite3_bind_text(st, 1, out->project, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rg.hour_lo);
    sqlite3_bind_int64(st, 3, rg.hour_hi);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    out->v = xcalloc(max, sizeof(*out->v));
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW && out->n < max) {
        struct vcompare_vset *v = &out->v[out->n++];
        v->version_set = xstrdup((const char *)sqlite3_column_text(st, 0));
        v->first_hour = sqlite3_column_int64(st, 1);
        v->last_hour = sqlite3_column_int64(st, 2);
        v->calls = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sql_fail(db, err, errlen);
    list_reverse(out);
    if (out->n == 0) {
        snprintf(err, errlen, "project '%s' has no calls", out->project);
        return VCOMPARE_ENOTFOUND;
    }
    return VCOMPARE_OK;
}

/* ---- comparing ----------------------------------------------------------------- */

static int opts_check(const struct vcompare_opts *o, char *err, size_t errlen)
{
    if (!(o->alpha > 0 && o->alpha <= 0.5)) {
        snprintf(err, errlen, "alpha must be in (0, 0.5]");
        return VCOMPARE_EINVAL;
    }
    if (o->resamples < 100 || o->resamples > 1000000 || o->min_n < 2) {
        snprintf(err, errlen, "resamples must be in [100, 1000000] and min_n at least 2");
        return VCOMPARE_EINVAL;
    }
    return VCOMPARE_OK;
}

/* The index of 'vs' in 'l', or -1. */
static long find_vset(const struct vcompare_list *l, const char *vs)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].version_set, vs) == 0)
            return (long)i;
    return -1;
}

/* Which two of 'l' to compare per 'o' into *ia, *ib. */
static int pick_pair(const struct vcompare_list *l, const struct vcompare_opts *o, long *ia,
                     long *ib, char *err, size_t errlen)
{
    *ib = o->b ? find_vset(l, o->b) : (long)l->n - 1;
    *ia = o->a ? find_vset(l, o->a) : *ib - 1;
    const char *missing = o->b && *ib < 0 ? o->b : o->a && *ia < 0 ? o->a : NULL;
    if (missing) {
        snprintf(err, errlen, "no calls are stored under version_set '%s' in project '%s'", missing,
                 l->project);
        return VCOMPARE_ENOTFOUND;
    }
    if (*ia < 0) {
        snprintf(err, errlen, "project '%s' has no version_set before '%s' to compare with",
                 l->project, l->v[*ib].version_set);
        return VCOMPARE_ENOTFOUND;
    }
    if (*ia == *ib) {
        snprintf(err, errlen, "A and B are the same version_set '%s'", l->v[*ia].version_set);
        return VCOMPARE_EINVAL;
    }
    return VCOMPARE_OK;
}

int vcompare_run(sqlite3 *db, const struct vcompare_opts *o, struct vcompare_result *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct vcompare_list l = {0};
    struct side a = {0}, b = {0};
    struct range rg;
    range_of(o->from_ns, o->to_ns, &rg);
    long ia, ib;
    char *project = NULL;
    int rc = opts_check(o, err, errlen);
    if (rc == VCOMPARE_OK && !o->project)
        rc = default_project(db, o->b ? o->b : o->a, &project, err, errlen);
    if (rc == VCOMPARE_OK)
        rc = vcompare_list_vsets(db, o->project ? o->project : project, o->from_ns, o->to_ns, 0, &l,
                                 err, errlen);
    if (rc == VCOMPARE_OK)
        rc = pick_pair(&l, o, &ia, &ib, err, errlen);
    if (rc != VCOMPARE_OK)
        goto fail;
    int scored = has_scores(db, l.project);
    if (scored < 0) {
        rc = sql_fail(db, err, errlen);
        goto fail;
    }
    rc = side_load(db, l.project, &rg, scored, o->seed, l.v[ia].version_set, &a, err, errlen);
    if (rc == VCOMPARE_OK)
        rc = side_load(db, l.project, &rg, scored, o->seed, l.v[ib].version_set, &b, err, errlen);
    if (rc != VCOMPARE_OK)
        goto fail;
    compare_sides(l.project, &a, &b, o, out);
fail:
    side_release(&a);
    side_release(&b);
    vcompare_list_release(&l);
    free(project);
    return rc;
}

int vcompare_history(sqlite3 *db, const struct vcompare_opts *o, size_t max,
                     struct vcompare_history *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct side *sides = NULL;
    struct range rg;
    range_of(o->from_ns, o->to_ns, &rg);
    int rc = opts_check(o, err, errlen);
    if (rc == VCOMPARE_OK && max < 2) {
        snprintf(err, errlen, "a history needs at least two version_sets");
        rc = VCOMPARE_EINVAL;
    }
    if (rc == VCOMPARE_OK)
        rc =
            vcompare_list_vsets(db, o->project, o->from_ns, o->to_ns, max, &out->list, err, errlen);
    if (rc != VCOMPARE_OK)
        goto fail;
    int scored = has_scores(db, out->list.project);
    if (scored < 0) {
        rc = sql_fail(db, err, errlen);
        goto fail;
    }
    size_t n = out->list.n;
    sides = xcalloc(n, sizeof(*sides));
    for (size_t i = 0; i < n && rc == VCOMPARE_OK; i++)
        rc = side_load(db, out->list.project, &rg, scored, o->seed, out->list.v[i].version_set,
                       &sides[i], err, errlen);
    if (rc != VCOMPARE_OK)
        goto fail;
    out->steps = xcalloc(n, sizeof(*out->steps));
    for (size_t i = 0; i + 1 < n; i++)
        compare_sides(out->list.project, &sides[i], &sides[i + 1], o, &out->steps[out->nsteps++]);
fail:
    for (size_t i = 0; sides && i < out->list.n; i++)
        side_release(&sides[i]);
    free(sides);
    return rc;
}

void vcompare_history_release(struct vcompare_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nsteps; i++)
        vcompare_result_release(&h->steps[i]);
    free(h->steps);
    vcompare_list_release(&h->list);
    memset(h, 0, sizeof(*h));
}

/* ---- JSON ------------------------------------------------------------------------ */

static void add_num(cJSON *o, const char *name, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *metric_json(const struct vcompare_metric *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "unit", vcompare_unit_name(m->unit));
    cJSON_AddBoolToObject(o, "lower_is_better", m->lower_is_better);
    cJSON_AddNumberToObject(o, "n_a", (double)m->n_a);
    cJSON_AddNumberToObject(o, "n_b", (double)m->n_b);
    add_num(o, "a", m->a);
    add_num(o, "b", m->b);
    add_num(o, "delta", m->delta);
    add_num(o, "delta_rel", m->a != 0 ? m->delta / m->a : NAN);
    add_num(o, "ci_lo", m->lo);
    add_num(o, "ci_hi", m->hi);
    add_num(o, "margin", m->margin);
    cJSON_AddStringToObject(o, "verdict", vcompare_verdict_key(m->verdict));
    cJSON_AddStringToObject(o, "verdict_text", vcompare_verdict_text(m->verdict));
    return o;
}

cJSON *vcompare_json(const struct vcompare_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "project", r->project ? r->project : "");
    cJSON_AddStringToObject(o, "a", r->a ? r->a : "");
    cJSON_AddStringToObject(o, "b", r->b ? r->b : "");
    cJSON_AddNumberToObject(o, "calls_a", (double)r->calls_a);
    cJSON_AddNumberToObject(o, "calls_b", (double)r->calls_b);
    cJSON_AddNumberToObject(o, "alpha", r->alpha);
    cJSON_AddNumberToObject(o, "level", r->level);
    cJSON_AddNumberToObject(o, "tested", r->tested);
    cJSON_AddBoolToObject(o, "regression", r->worse > 0);
    cJSON *worse = cJSON_AddArrayToObject(o, "worse");
    cJSON *list = cJSON_AddArrayToObject(o, "metrics");
    for (size_t i = 0; i < r->n; i++) {
        cJSON_AddItemToArray(list, metric_json(&r->m[i]));
        if (r->m[i].verdict == VCOMPARE_WORSE)
            cJSON_AddItemToArray(worse, cJSON_CreateString(r->m[i].name));
    }
    return o;
}
