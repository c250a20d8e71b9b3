/*
 * gate: the verdict of an evaluation and every figure the reports print
 * (gate.h). The writers are in gate_report.c.
 *
 * Seeds: one base seed per report, the FNV-1a hash of the suite name and
 * the case count, then a different derived seed for each interval (each
 * variant, each scorer, each comparison), so that no two intervals share
 * a resampling sequence and the same results always give the same figures.
 */
#include "evaluator/gate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define GATE_TIE_EPS 1e-9

/* FNV-1a over the suite name, then over the 8 bytes of the case count. */
static uint64_t gate_seed(const struct eval_report *r)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *s = (const unsigned char *)(r->suite ? r->suite : "");
    for (; *s; s++)
        h = (h ^ *s) * 0x100000001b3ULL;
    uint64_t n = (uint64_t)r->ncases;
    for (int i = 0; i < 8; i++)
        h = (h ^ ((n >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    return h;
}

/* The seed of interval number 'k' of the report. */
static uint64_t seed_for(uint64_t base, uint64_t k)
{
    return base ^ (0x9e3779b97f4a7c15ULL * (k + 1));
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The q quantile of n sorted values (linear interpolation); NAN when n 0. */
static double quantile(const double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (h - (double)i) * (v[i + 1] - v[i]);
}

/* Calls, failures, cache hits, cost and latency percentiles of variant
 * 'v'. 'lat' has room for ncases * repeats values. */
static void variant_calls(const struct eval_report *r, size_t v, double *lat,
                          struct gate_variant *gv)
{
    size_t nlat = 0;
    for (size_t c = 0; c < r->ncases; c++) {
        for (int rep = 0; rep < r->repeats; rep++) {
            const struct eval_output *o = eval_output_at(r, c, v, rep);
            gv->calls++;
            gv->cached += o->cached ? 1 : 0;
            if (!o->ok) {
                gv->failed++;
                continue;
            }
            lat[nlat++] = o->latency_ms;
            if (o->has_cost)
                gv->cost_usd += (double)o->cost_nusd / 1e9;
        }
    }
    qsort(lat, nlat, sizeof(*lat), cmp_double);
    gv->latency_p50_ms = quantile(lat, nlat, 0.50);
    gv->latency_p95_ms = quantile(lat, nlat, 0.95);
}

/* Pass rate and pass^repeats of variant 'v'; 'passes' has ncases ints. */
static void variant_passes(const struct eval_report *r, size_t v, int *passes,
                           struct gate_variant *gv)
{
    size_t passed = 0;
    for (size_t c = 0; c < r->ncases; c++) {
        passes[c] = 0;
        for (int rep = 0; rep < r->repeats; rep++)
            passes[c] += eval_case_passed(r, c, v, rep);
        passed += (size_t)passes[c];
    }
    gv->pass_rate = (double)passed / (double)(r->ncases * (size_t)r->repeats);
    gv->pass_hat_n = stats_pass_hat_k(passes, r->ncases, r->repeats, r->repeats);
}

/* Share of the (case, repeat) outputs of variant 'v' that scorer 's' passed. */
static double scorer_pass_rate(const struct eval_report *r, size_t v, size_t s)
{
    size_t passed = 0;
    for (size_t c = 0; c < r->ncases; c++) {
        for (int rep = 0; rep < r->repeats; rep++) {
            const struct eval_score *sc = eval_score_at(r, c, v, rep, s);
            passed += eval_output_at(r, c, v, rep)->ok && !sc->error && sc->pass;
        }
    }
    return (double)passed / (double)(r->ncases * (size_t)r->repeats);
}

/* Per-scorer intervals and comparisons; 'vals' has ncases * nvariants
 * doubles. Returns 0 or -1 (a bad level). */
static int scorers_evaluate(const struct eval_report *r, double level, uint64_t base, double *vals,
                            struct gate_result *g)
{
    size_t n = r->ncases;
    for (size_t s = 0; s < r->nscorers; s++) {
        struct gate_scorer *gs = &g->scorers[s];
        uint64_t k = 2 * EVAL_MAX_VARIANTS + s * (EVAL_MAX_VARIANTS + 1);
        for (size_t v = 0; v < r->nvariants; v++) {
            eval_scorer_values(r, v, s, vals + v * n);
            gs->pass_rate[v] = scorer_pass_rate(r, v, s);
            if (stats_bootstrap_mean(vals + v * n, n, level, STATS_BOOTSTRAP_DEFAULT,
                                     seed_for(base, k + v), &gs->v[v]))
                return -1;
        }
        if (r->nvariants >= 2 &&
            stats_paired(vals, vals + n, n, GATE_TIE_EPS, level, STATS_BOOTSTRAP_DEFAULT,
                         seed_for(base, k + EVAL_MAX_VARIANTS), &gs->paired))
            return -1;
    }
    return 0;
}

/* Every variant's figures; 'scores' gets the case scores (ncases per
 * variant, variant-major). Returns 0 or -1 (a bad level). */
static int variants_evaluate(const struct eval_report *r, double level, uint64_t base,
                             double *scores, struct gate_result *g)
{
    size_t n = r->ncases;
    double *lat = xmalloc(n * (size_t)r->repeats * sizeof(*lat));
    int *passes = xmalloc(n * sizeof(*passes));
    int rc = 0;
    for (size_t v = 0; v < r->nvariants && rc == 0; v++) {
        struct gate_variant *gv = &g->variants[v];
        eval_case_scores(r, v, scores + v * n);
        rc = stats_bootstrap_mean(scores + v * n, n, level, STATS_BOOTSTRAP_DEFAULT,
                                  seed_for(base, v), &gv->score);
        variant_calls(r, v, lat, gv);
        variant_passes(r, v, passes, gv);
    }
    free(lat);
    free(passes);
    return rc;
}

/* The verdict from the figures, and the line that explains it. */
static void decide(const struct eval_report *r, struct gate_result *g)
{
    size_t cand = r->nvariants >= 2 ? 1 : 0;
    const char *cname = r->variants[cand].name ? r->variants[cand].name : "candidate";
    double mean = g->variants[cand].score.mean;
    double level = 100 * (1 - r->alpha);
    const struct stats_interval *d = &g->paired.diff;
    g->regressed = g->compared && d->hi < -r->max_regression;
    g->below_floor = !isnan(r->min_score) && mean < r->min_score;
    g->verdict = g->regressed || g->below_floor ? GATE_REGRESSION : GATE_PASS;
    char floor[160] = "";
    if (!isnan(r->min_score))
        snprintf(floor, sizeof(floor), "%s mean %.3f %s min_score %.3f", cname, mean,
                 g->below_floor ? "is below" : "meets", r->min_score);
    double bound = r->max_regression > 0 ? -r->max_regression : 0;
    if (g->compared)
        snprintf(g->reason, sizeof(g->reason),
                 "%s: difference %.3f, %g%% interval [%.3f, %.3f] %s %.3g (max_regression "
                 "%.3g)%s%s",
                 g->verdict == GATE_REGRESSION ? "regression" : "pass", d->mean, level, d->lo,
                 d->hi, g->regressed ? "lies wholly below" : "does not lie wholly below", bound,
                 r->max_regression, *floor ? "; " : "", floor);
    else
        snprintf(g->reason, sizeof(g->reason), "%s: %s", g->below_floor ? "regression" : "pass",
                 *floor ? floor : "one variant and no min_score");
}

int gate_evaluate(const struct eval_report *r, struct gate_result *g)
{
    memset(g, 0, sizeof(*g));
    if (r->ncases == 0 || r->nvariants == 0) {
        snprintf(g->reason, sizeof(g->reason), "no %s to evaluate",
                 r->ncases == 0 ? "cases" : "variants");
        return -1;
    }
    if (!(r->alpha > 0 && r->alpha < 1) || r->repeats < 1) {
        snprintf(g->reason, sizeof(g->reason), "bad gate settings: alpha %g, repeats %d", r->alpha,
                 r->repeats);
        return -1;
    }
    double level = 1 - r->alpha;
    uint64_t base = gate_seed(r);
    size_t n = r->ncases;
    double *scores = xmalloc(n * r->nvariants * sizeof(*scores));
    int rc = variants_evaluate(r, level, base, scores, g);
    if (rc == 0 && r->nvariants >= 2) {
        g->compared = 1;
        rc = stats_paired(scores, scores + n, n, GATE_TIE_EPS, level, STATS_BOOTSTRAP_DEFAULT,
                          seed_for(base, EVAL_MAX_VARIANTS), &g->paired);
    }
    if (rc == 0) /* the case scores are done with: their buffer holds the scorers' values */
        rc = scorers_evaluate(r, level, base, scores, g);
    free(scores);
    if (rc) {
        snprintf(g->reason, sizeof(g->reason), "cannot compute the intervals");
        return -1;
    }
    decide(r, g);
    return 0;
}
