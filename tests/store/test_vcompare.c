/*
 * vcompare: a planted latency regression (B 30 % slower) is flagged "worse"
 * on p50 and p95 and nothing else is; the same values on both sides are
 * "no significant difference" for every metric and bootstrap seed, and
 * independent draws of one distribution show no false positive across
 * projects; error-rate, cost and score regressions are found, improvements
 * are "better"; too little data is "not enough data"; unknown names and bad
 * options are typed errors; the history flags the one change that
 * regressed; spans moved into segments compare the same; and the histogram
 * decoder round-trips what llmtap_hist encodes. All on real store files
 * written through the writer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/xmem.h"
#include "store/rollup.h"
#include "store/store.h"
#include "store/vcompare.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"
#include "tests/support/vsgen.h"

#define NS_PER_DAY 86400000000000LL

static struct tu_store ts;
static struct store *ro;

static void setup(void)
{
    tu_store_open(&ts, "vc.db", NULL);
}

static void teardown(void)
{
    store_close(ro);
    ro = NULL;
    tu_store_close(&ts);
}

/* A read-only connection on the test's store (reopened: it sees every commit). */
static sqlite3 *rodb(void)
{
    char err[256];
    store_close(ro);
    ro = NULL;
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    return store_db(ro);
}

static void run_ok(const struct vcompare_opts *o, struct vcompare_result *r)
{
    char err[256] = "";
    int rc = vcompare_run(rodb(), o, r, err, sizeof(err));
    ck_assert_msg(rc == VCOMPARE_OK, "vcompare_run: %d %s", rc, err);
}

static const struct vcompare_metric *metric(const struct vcompare_result *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->m[i].name, name) == 0)
            return &r->m[i];
    ck_abort_msg("no metric %s", name);
    return NULL;
}

static enum vcompare_verdict verdict(const struct vcompare_result *r, const char *name)
{
    return metric(r, name)->verdict;
}

/* Every metric but 'except' (NULL: none; a comma-separated list) has 'want'. */
static void expect_all(const struct vcompare_result *r, enum vcompare_verdict want,
                       const char *except)
{
    for (size_t i = 0; i < r->n; i++) {
        if (except && strstr(except, r->m[i].name))
            continue;
        ck_assert_msg(r->m[i].verdict == want, "%s: %s (delta %g in [%g, %g], margin %g)",
                      r->m[i].name, vcompare_verdict_text(r->m[i].verdict), r->m[i].delta,
                      r->m[i].lo, r->m[i].hi, r->m[i].margin);
    }
}

/* Two version_sets of project 'p': A as given, B = A with 'tweak' applied. */
static void plant(const char *p, uint64_t seed_a, uint64_t seed_b, void (*tweak)(struct tu_vs *))
{
    struct tu_vs a = tu_vs_default(p, "app=1", seed_a);
    struct tu_vs b = tu_vs_default(p, "app=2", seed_b);
    b.t0 = a.t0 + NS_PER_DAY;
    if (tweak)
        tweak(&b);
    tu_vs_ingest(ts.w, &a);
    tu_vs_ingest(ts.w, &b);
}

static void slower(struct tu_vs *v)
{
    v->lat_ms *= 1.3;
}

START_TEST(test_vcompare_planted_latency_regression_is_worse)
{
    plant("default", 11, 12, slower);
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    struct vcompare_result r;
    run_ok(&o, &r); /* no names: the newest against the one before it */
    ck_assert_str_eq(r.project, "default");
    ck_assert_str_eq(r.a, "app=1");
    ck_assert_str_eq(r.b, "app=2");
    ck_assert_int_eq(r.calls_a, 400);
    ck_assert_int_eq(r.calls_b, 400);
    ck_assert_int_eq(r.tested, 6);
    ck_assert_double_eq_tol(r.level, 1 - 0.05 / 6, 1e-12);
    ck_assert_int_eq(verdict(&r, "latency_p50_ms"), VCOMPARE_WORSE);
    ck_assert_int_eq(verdict(&r, "latency_p95_ms"), VCOMPARE_WORSE);
    ck_assert_int_eq(verdict(&r, "ttft_p95_ms"), VCOMPARE_WORSE); /* a quarter of latency */
    expect_all(&r, VCOMPARE_SAME, "latency_p50_ms,latency_p95_ms,ttft_p95_ms");
    const struct vcompare_metric *p50 = metric(&r, "latency_p50_ms");
    ck_assert(p50->a > 700 && p50->a < 900);
    ck_assert(p50->delta / p50->a > 0.15 && p50->delta / p50->a < 0.45);
    ck_assert(p50->lo > p50->margin && p50->lo < p50->delta && p50->delta < p50->hi);
    ck_assert_int_eq(r.worse, 3);
    cJSON *j = vcompare_json(&r);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "regression")));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "worse")), 3);
    cJSON_Delete(j);
    vcompare_result_release(&r);
    /* the other way round it is an improvement */
    o.a = "app=2";
    o.b = "app=1";
    run_ok(&o, &r);
    ck_assert_int_eq(verdict(&r, "latency_p95_ms"), VCOMPARE_BETTER);
    ck_assert_int_eq(r.worse, 0);
    vcompare_result_release(&r);
}
END_TEST

START_TEST(test_vcompare_same_values_are_never_significant)
{
    plant("default", 21, 21, NULL); /* the same values under two names */
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct vcompare_opts o;
        vcompare_opts_default(&o);
        o.seed = seed;
        struct vcompare_result r;
        run_ok(&o, &r);
        ck_assert_int_eq(r.tested, 6);
        expect_all(&r, VCOMPARE_SAME, NULL);
        ck_assert_double_eq(metric(&r, "latency_p95_ms")->delta, 0);
        ck_assert_double_eq_tol(metric(&r, "cost_per_call")->delta, 0, 1e-15);
        vcompare_result_release(&r);
    }
}
END_TEST

/* Independent draws of one distribution: with the Bonferroni intervals the
 * chance that a comparison shows any significant metric is at most 5 %;
 * 8 comparisons (each a project of its own), 3 bootstrap seeds each. */
START_TEST(test_vcompare_independent_draws_show_no_false_positive)
{
    char name[16];
    for (int p = 0; p < 8; p++) {
        snprintf(name, sizeof(name), "p%d", p);
        plant(name, 100 + 2 * (uint64_t)p, 101 + 2 * (uint64_t)p, NULL);
    }
    int flagged = 0;
    for (int p = 0; p < 8; p++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            snprintf(name, sizeof(name), "p%d", p);
            struct vcompare_opts o;
            vcompare_opts_default(&o);
            o.project = name;
            o.seed = seed;
            struct vcompare_result r;
            run_ok(&o, &r);
            for (size_t i = 0; i < r.n; i++)
                flagged += r.m[i].verdict == VCOMPARE_WORSE || r.m[i].verdict == VCOMPARE_BETTER;
            vcompare_result_release(&r);
        }
    ck_assert_msg(flagged == 0, "%d false positives", flagged);
}
END_TEST

static void failing_and_dearer(struct tu_vs *v)
{
    v->err_p = 0.15;
    v->cost_usd *= 1.5;
}

START_TEST(test_vcompare_error_rate_and_cost_regressions)
{
    plant("default", 31, 32, failing_and_dearer);
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    struct vcompare_result r;
    run_ok(&o, &r);
    ck_assert_int_eq(verdict(&r, "error_rate"), VCOMPARE_WORSE);
    ck_assert_int_eq(verdict(&r, "cost_per_call"), VCOMPARE_WORSE);
    expect_all(&r, VCOMPARE_SAME, "error_rate,cost_per_call");
    const struct vcompare_metric *e = metric(&r, "error_rate");
    ck_assert_int_eq(e->n_a, 400);
    ck_assert(e->lo > 0 && e->lo < e->delta && e->hi > e->delta && e->hi < 0.25);
    const struct vcompare_metric *c = metric(&r, "cost_per_call");
    ck_assert(fabs(c->a - 0.001) < 0.0001);
    ck_assert(fabs(c->b / c->a - 1.5) < 0.1);
    vcompare_result_release(&r);
}
END_TEST

static void worse_quality(struct tu_vs *v)
{
    v->score_mean = 0.7;
}

START_TEST(test_vcompare_scores_are_compared_by_name)
{
    struct tu_vs a = tu_vs_default("default", "app=1", 41);
    a.n = 120;
    a.score_name = "quality";
    a.score_mean = 0.8;
    struct tu_vs b = a;
    b.vs = "app=2";
    b.seed = 42;
    b.t0 += NS_PER_DAY;
    worse_quality(&b);
    tu_vs_ingest(ts.w, &a);
    tu_vs_ingest(ts.w, &b);
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    struct vcompare_result r;
    run_ok(&o, &r);
    ck_assert_int_eq(r.n, 7);
    const struct vcompare_metric *q = metric(&r, "score:quality");
    ck_assert_int_eq(q->n_a, 120);
    ck_assert_int_eq(q->n_b, 120);
    ck_assert(!q->lower_is_better);
    ck_assert(fabs(q->a - 0.8) < 0.03 && fabs(q->b - 0.7) < 0.03);
    ck_assert_int_eq(q->verdict, VCOMPARE_WORSE);
    ck_assert(q->hi < 0);
    expect_all(&r, VCOMPARE_SAME, "score:quality");
    vcompare_result_release(&r);
    /* reversed, the score got better */
    o.a = "app=2";
    o.b = "app=1";
    run_ok(&o, &r);
    ck_assert_int_eq(verdict(&r, "score:quality"), VCOMPARE_BETTER);
    vcompare_result_release(&r);
}
END_TEST

static void few(struct tu_vs *v)
{
    v->n = 19;
    v->lat_ms *= 3;
    v->no_ttft = 1;
}

START_TEST(test_vcompare_too_little_data_is_not_enough_data)
{
    struct tu_vs a = tu_vs_default("default", "app=1", 51);
    struct tu_vs b = tu_vs_default("default", "app=2", 52);
    b.t0 += NS_PER_DAY;
    few(&b);
    tu_vs_ingest(ts.w, &a);
    tu_vs_ingest(ts.w, &b);
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    struct vcompare_result r;
    run_ok(&o, &r);
    ck_assert_int_eq(r.tested, 0);
    ck_assert_int_eq(r.worse, 0);
    expect_all(&r, VCOMPARE_FEW, NULL);
    ck_assert(isnan(metric(&r, "latency_p50_ms")->lo));
    ck_assert(!isnan(metric(&r, "latency_p50_ms")->delta)); /* the estimate is still there */
    ck_assert_int_eq(metric(&r, "ttft_p95_ms")->n_b, 0);
    ck_assert(isnan(metric(&r, "ttft_p95_ms")->b));
    vcompare_result_release(&r);
    /* at the edge: 19 is enough with min_n 19, and the 3x latency shows */
    o.min_n = 19;
    run_ok(&o, &r);
    ck_assert_int_eq(r.tested, 5); /* all but TTFT */
    ck_assert_int_eq(verdict(&r, "latency_p50_ms"), VCOMPARE_WORSE);
    ck_assert_int_eq(verdict(&r, "ttft_p95_ms"), VCOMPARE_FEW);
    vcompare_result_release(&r);
}
END_TEST

/* Every call of A at 800 ms, of B at 'ms': the histograms have no spread,
 * so the interval is one point; is it a regression? */
static enum vcompare_verdict fixed_latency(const char *project, double ms)
{
    struct tu_vs a = tu_vs_default(project, "app=1", 91);
    a.lat_sigma = 0;
    a.n = 1000;
    a.step_ns = 1000000000LL;
    struct tu_vs b = a;
    b.vs = "app=2";
    b.t0 += NS_PER_DAY;
    b.lat_ms = ms;
    tu_vs_ingest(ts.w, &a);
    tu_vs_ingest(ts.w, &b);
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    o.project = project;
    struct vcompare_result r;
    run_ok(&o, &r);
    const struct vcompare_metric *p50 = metric(&r, "latency_p50_ms");
    ck_assert_double_eq(p50->lo, p50->hi);
    ck_assert_double_eq(p50->lo, p50->delta);
    enum vcompare_verdict v = p50->verdict;
    vcompare_result_release(&r);
    return v;
}

START_TEST(test_vcompare_one_histogram_bucket_is_within_resolution)
{
    ck_assert_int_eq(rollup_bucket(815), rollup_bucket(800) + 1);
    ck_assert_int_eq(rollup_bucket(835), rollup_bucket(800) + 2);
    ck_assert_int_eq(fixed_latency("same", 800), VCOMPARE_SAME);
    ck_assert_int_eq(fixed_latency("one", 815), VCOMPARE_SAME);  /* 1.9 %: one bucket up */
    ck_assert_int_eq(fixed_latency("two", 835), VCOMPARE_WORSE); /* 4.4 %: two */
    ck_assert_int_eq(fixed_latency("down", 770), VCOMPARE_BETTER);
}
END_TEST

/* Without a project: the most recent one with something to compare, not a
 * newer one with a single version_set, nor the evaluator's own spans. */
START_TEST(test_vcompare_default_project_has_two_version_sets)
{
    plant("shop", 71, 72, NULL);
    struct tu_vs one = tu_vs_default("default", "model=gpt-4o-mini", 73);
    one.t0 += 3 * NS_PER_DAY; /* newer than both of shop's */
    struct tu_vs e1 = tu_vs_default("llmtap-eval", "model=x", 74),
                 e2 = tu_vs_default("llmtap-eval", "model=y", 75);
    e1.t0 += 3 * NS_PER_DAY;
    e2.t0 += 3 * NS_PER_DAY;
    tu_vs_ingest(ts.w, &one);
    tu_vs_ingest(ts.w, &e1);
    tu_vs_ingest(ts.w, &e2);
    struct vcompare_opts o;
    struct vcompare_result r;
    vcompare_opts_default(&o);
    run_ok(&o, &r);
    ck_assert_str_eq(r.project, "shop");
    ck_assert_str_eq(r.a, "app=1");
    ck_assert_str_eq(r.b, "app=2");
    vcompare_result_release(&r);
}
END_TEST

START_TEST(test_vcompare_unknown_names_and_bad_options)
{
    char err[256];
    struct vcompare_opts o;
    struct vcompare_result r;
    vcompare_opts_default(&o);
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "no calls"));
    vcompare_result_release(&r);
    struct tu_vs a = tu_vs_default("default", "app=1", 61);
    a.n = 30;
    tu_vs_ingest(ts.w, &a);
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "no version_set before 'app=1'"));
    vcompare_result_release(&r);
    plant("default", 62, 63, NULL);
    o.a = "app=1";
    o.b = "app=9";
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "'app=9'"));
    o.b = "app=1";
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_EINVAL);
    o.b = NULL;
    o.project = "nope";
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "'nope'"));
    o.project = NULL;
    o.a = NULL;
    o.alpha = 0.7;
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_EINVAL);
    o.alpha = 0.05;
    o.resamples = 10;
    ck_assert_int_eq(vcompare_run(rodb(), &o, &r, err, sizeof(err)), VCOMPARE_EINVAL);
    vcompare_result_release(&r);
}
END_TEST

START_TEST(test_vcompare_history_flags_the_change_that_regressed)
{
    const char *names[] = {"app=1", "app=2", "app=3", "app=4"};
    const double lat[] = {800, 800, 1100, 1100};
    for (int i = 0; i < 4; i++) {
        struct tu_vs v = tu_vs_default("default", names[i], 70 + (uint64_t)i);
        v.t0 += i * NS_PER_DAY;
        v.lat_ms = lat[i];
        tu_vs_ingest(ts.w, &v);
    }
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    struct vcompare_history h;
    char err[256];
    ck_assert_int_eq(vcompare_history(rodb(), &o, 3, &h, err, sizeof(err)), VCOMPARE_OK);
    ck_assert_uint_eq(h.list.n, 3); /* the newest three, oldest first */
    ck_assert_str_eq(h.list.v[0].version_set, "app=2");
    ck_assert_str_eq(h.list.v[2].version_set, "app=4");
    ck_assert_uint_eq(h.nsteps, 2);
    ck_assert_str_eq(h.steps[0].a, "app=2");
    ck_assert_str_eq(h.steps[0].b, "app=3");
    ck_assert_int_eq(verdict(&h.steps[0], "latency_p95_ms"), VCOMPARE_WORSE);
    ck_assert_int_eq(h.steps[1].worse, 0);
    /* the same step through vcompare_run gives the same figures */
    struct vcompare_result r;
    o.a = "app=2";
    o.b = "app=3";
    run_ok(&o, &r);
    ck_assert_double_eq(metric(&r, "latency_p95_ms")->lo,
                        metric(&h.steps[0], "latency_p95_ms")->lo);
    vcompare_result_release(&r);
    vcompare_history_release(&h);
    struct vcompare_list l;
    ck_assert_int_eq(vcompare_list_vsets(rodb(), NULL, 0, 0, 0, &l, err, sizeof(err)), VCOMPARE_OK);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.v[0].version_set, "app=1");
    ck_assert_int_eq(l.v[0].calls, 400);
    vcompare_list_release(&l);
    /* a time range: only the first two days' version_sets */
    ck_assert_int_eq(vcompare_list_vsets(rodb(), "default", 0,
                                         1772409600000000000LL + 2 * NS_PER_DAY, 0, &l, err,
                                         sizeof(err)),
                     VCOMPARE_OK);
    ck_assert_uint_eq(l.n, 2);
    vcompare_list_release(&l);
}
END_TEST

START_TEST(test_vcompare_compacted_spans_compare_the_same)
{
    plant("default", 81, 82, failing_and_dearer);
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    struct vcompare_result hot, seg;
    run_ok(&o, &hot);
    char err[256];
    int64_t moved = 0;
    ck_assert_int_eq(writer_compact_step(ts.w, 0, &moved, err, sizeof(err)), LT_OK);
    ck_assert_int_gt(moved, 0);
    run_ok(&o, &seg);
    ck_assert_uint_eq(hot.n, seg.n);
    for (size_t i = 0; i < hot.n; i++) {
        ck_assert_int_eq(hot.m[i].verdict, seg.m[i].verdict);
        ck_assert_int_eq(hot.m[i].n_a, seg.m[i].n_a);
        ck_assert_double_eq_tol(hot.m[i].delta, seg.m[i].delta, 1e-12);
    }
    vcompare_result_release(&hot);
    vcompare_result_release(&seg);
}
END_TEST

START_TEST(test_vcompare_histogram_decoder_round_trips)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(rollup_register(db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE v(x REAL)", NULL, NULL, NULL), SQLITE_OK);
    int64_t *want = xcalloc(ROLLUP_HIST_BUCKETS, sizeof(*want));
    sqlite3_stmt *ins = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO v VALUES(?1)", -1, &ins, NULL), SQLITE_OK);
    for (int i = 0; i < 3000; i++) {
        double x = i % 7 == 0 ? 0.001 : 0.5 * pow(1.01, i % 900) + i % 13;
        want[rollup_bucket(x)]++;
        sqlite3_bind_double(ins, 1, x);
        ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT llmtap_hist(x) FROM v", -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    int64_t *got = xcalloc(ROLLUP_HIST_BUCKETS, sizeof(*got));
    const void *blob = sqlite3_column_blob(q, 0);
    size_t len = (size_t)sqlite3_column_bytes(q, 0);
    ck_assert_int_eq(rollup_hist_decode(blob, len, got), 0);
    ck_assert_mem_eq(got, want, ROLLUP_HIST_BUCKETS * sizeof(*got));
    struct buf enc;
    buf_init(&enc, 0);
    ck_assert_int_eq(rollup_hist_encode(got, &enc), 0);
    ck_assert_uint_eq(enc.len, len);
    ck_assert_mem_eq(enc.data, blob, len);
    /* decoding adds; the empty histogram adds nothing; bad input is -1 */
    ck_assert_int_eq(rollup_hist_decode(blob, len, got), 0);
    ck_assert_int_eq(got[rollup_bucket(0.001)], 2 * want[rollup_bucket(0.001)]);
    ck_assert_int_eq(rollup_hist_decode(NULL, 0, got), 0);
    ck_assert_int_eq(rollup_hist_decode("\xff", 1, got), -1);
    ck_assert_int_eq(rollup_hist_decode("\x8f\x7f\x02", 3, got), -1); /* bucket past the end */
    sqlite3_finalize(q);
    /* a bucket's value is what llmtap_hist_quantile reports for it */
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT llmtap_hist_quantile(llmtap_hist(?1), 0.5)", -1, &q, NULL),
        SQLITE_OK);
    const double xs[] = {0.001, 0.5, 812.25, 60000};
    for (int i = 0; i < 4; i++) {
        sqlite3_bind_double(q, 1, xs[i]);
        ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
        ck_assert_double_eq_tol(sqlite3_column_double(q, 0),
                                rollup_bucket_value(rollup_bucket(xs[i])), 1e-9 * xs[i] + 1e-12);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    buf_release(&enc);
    free(want);
    free(got);
    sqlite3_close(db);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vcompare");
    TCase *tc = tcase_create("compare");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_vcompare_planted_latency_regression_is_worse);
    tcase_add_test(tc, test_vcompare_same_values_are_never_significant);
    tcase_add_test(tc, test_vcompare_independent_draws_show_no_false_positive);
    tcase_add_test(tc, test_vcompare_error_rate_and_cost_regressions);
    tcase_add_test(tc, test_vcompare_scores_are_compared_by_name);
    tcase_add_test(tc, test_vcompare_too_little_data_is_not_enough_data);
    tcase_add_test(tc, test_vcompare_one_histogram_bucket_is_within_resolution);
    tcase_add_test(tc, test_vcompare_unknown_names_and_bad_options);
    tcase_add_test(tc, test_vcompare_history_flags_the_change_that_regressed);
    tcase_add_test(tc, test_vcompare_compacted_spans_compare_the_same);
    tcase_add_test(tc, test_vcompare_histogram_decoder_round_trips);
    tcase_add_test(tc, test_vcompare_default_project_has_two_version_sets);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
