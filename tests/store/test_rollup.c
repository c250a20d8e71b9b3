/*
 * rollup: the histograms give p50/p95/p99 within 2 % of the exact values;
 * every rollup equals a recount from the raw spans after new spans,
 * resends (not counted twice), merges into hot and into compacted spans
 * (counted once, with their merged values) and compaction.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/xmem.h"
#include "store/check.h"
#include "store/rollup.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_histogram_quantiles_are_within_two_percent)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(rollup_register(db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE v(x REAL)", NULL, NULL, NULL), SQLITE_OK);
    enum { N = 20000 };
    double *x = xmalloc(N * sizeof(*x));
    srand(7);
    sqlite3_stmt *ins = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO v VALUES(?1)", -1, &ins, NULL), SQLITE_OK);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int i = 0; i < N; i++) { /* latencies from 5 ms to minutes, heavy-tailed */
        double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = (rand() + 1.0) / (RAND_MAX + 2.0);
        x[i] = exp(6.5 + 1.2 * sqrt(-2 * log(u1)) * cos(6.283185307 * u2));
        sqlite3_bind_double(ins, 1, x[i]);
        ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(ins);
    qsort(x, N, sizeof(*x), cmp_double);
    const double qs[] = {0.5, 0.95, 0.99};
    for (int k = 0; k < 3; k++) {
        double exact = x[(int)ceil(qs[k] * N) - 1];
        sqlite3_stmt *q = NULL;
        ck_assert_int_eq(sqlite3_prepare_v2(db,
                                            "SELECT llmtap_hist_quantile(llmtap_hist(x), ?1),"
                                            " llmtap_hist_count(llmtap_hist(x)) FROM v",
                                            -1, &q, NULL),
                         SQLITE_OK);
        sqlite3_bind_double(q, 1, qs[k]);
        ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
        double got = sqlite3_column_double(q, 0);
        ck_assert_int_eq(sqlite3_column_int(q, 1), N);
        ck_assert_msg(fabs(got - exact) / exact <= 0.02, "q%.2f: %.3f ms, exact %.3f ms", qs[k],
                      got, exact);
        sqlite3_finalize(q);
    }
    /* merging two halves gives the histogram of the whole */
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT llmtap_hist_merge((SELECT llmtap_hist(x) FROM v"
                                        " WHERE rowid % 2), (SELECT llmtap_hist(x) FROM v WHERE"
                                        " rowid % 2 = 0)) = (SELECT llmtap_hist(x) FROM v),"
                                        " llmtap_hist_quantile(NULL, 0.5) IS NULL",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 1);
    ck_assert_int_eq(sqlite3_column_int(q, 1), 1);
    sqlite3_finalize(q);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT llmtap_hist_count(x'ff')", -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_ne(sqlite3_step(q), SQLITE_ROW); /* not a histogram: an error, not a crash */
    sqlite3_finalize(q);
    free(x);
    sqlite3_close(db);
}
END_TEST

/* A histogram written before 2026-12-04 (pairs of varints) reads the same
 * as its encoding now, which ends in 0x80 and takes a byte for a bucket
 * of one; the SQL functions take either, and negative counts (a merge's
 * rows counted out) survive both. */
START_TEST(test_histograms_of_both_layouts_read_the_same)
{
    /* buckets 5 (1), 130 (3), 900 (-2) */
    static const unsigned char v1[] = {0x05, 0x02, 0x7d, 0x06, 0x82, 0x06, 0x03};
    static int64_t counts[ROLLUP_HIST_BUCKETS], again[ROLLUP_HIST_BUCKETS];
    ck_assert_int_eq(rollup_hist_decode(v1, sizeof(v1), counts), 0);
    ck_assert(counts[5] == 1 && counts[130] == 3 && counts[900] == -2);
    struct buf v2;
    buf_init(&v2, 0);
    ck_assert_int_eq(rollup_hist_encode(counts, &v2), 0);
    static const unsigned char want[] = {0x0a, 0xfb, 0x01, 0x06, 0x85, 0x0c, 0x03, 0x80};
    ck_assert_uint_eq(v2.len, sizeof(want));
    ck_assert(memcmp(v2.data, want, sizeof(want)) == 0);
    ck_assert_int_eq(rollup_hist_decode(v2.data, v2.len, again), 0);
    ck_assert(memcmp(counts, again, sizeof(counts)) == 0);
    buf_release(&v2);
    static const struct {
        unsigned char b[3];
        size_t n;
    } bad[] = {{{0x03, 0x80}, 2}, {{0x82, 0x80}, 2}, {{0x05, 0x80, 0x80}, 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(rollup_hist_decode(bad[i].b, bad[i].n, again), -1);

    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(rollup_register(db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT hex(llmtap_hist_merge(x'05027d06820603', NULL)),"
                                        " llmtap_hist_count(llmtap_hist_merge(x'05027d06820603',"
                                        " x'0afb0106850c0380')), hex(llmtap_hist(5.0)),"
                                        " llmtap_hist_count(x'05027d06820603')",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), "0AFB0106850C0380");
    ck_assert_int_eq(sqlite3_column_int(q, 1), 4); /* (1 + 3 - 2) twice */
    ck_assert_str_eq((const char *)sqlite3_column_text(q, 2), "F20480"); /* one 5 ms call: bucket 313 */
    ck_assert_int_eq(sqlite3_column_int(q, 3), 2);
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

/* ---- against a real store ---- */

static struct tu_store ts;
static const char *db;
static struct writer *w;

static void setup(void)
{
    tu_store_open(&ts, "t.db", NULL);
    db = ts.db;
    w = ts.w;
}

static void teardown(void)
{
    tu_store_close(&ts);
}

static void ingest(int n, uint64_t seed)
{
    tu_ingest_spangen(w, n, seed, 400, NULL, NULL);
}

static long long ro_int(const char *sql)
{
    return tu_ro_int(db, sql);
}

#define SUMS                                                                                       \
    " count(*), CAST(total(max(input_tokens, 0)) AS INTEGER),"                                     \
    " CAST(total(max(output_tokens, 0)) AS INTEGER),"                                              \
    " CAST(total(max(cache_read_tokens, 0)) AS INTEGER),"                                          \
    " CAST(total(max(cache_write_tokens, 0)) AS INTEGER),"                                         \
    " CAST(total(max(reasoning_tokens, 0)) AS INTEGER), CAST(total(cost_nusd) AS INTEGER),"        \
    " sum(kind IN ('llm','embedding') AND cost_nusd IS NULL), sum(status = 'error')"

static const char *const recount[4][2] = {
    {"rollup_hourly",
     "SELECT project, start_ns / 3600000000000, coalesce(model, response_model, ''),"
     " coalesce(provider, ''), coalesce(version_set, ''), status," SUMS
     ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms) FROM spans"
     " GROUP BY 1, 2, 3, 4, 5, 6"},
    {"rollup_daily",
     "SELECT project, start_ns / 86400000000000, coalesce(model, response_model, ''),"
     " coalesce(provider, ''), coalesce(version_set, ''), status," SUMS
     ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms) FROM spans"
     " GROUP BY 1, 2, 3, 4, 5, 6"},
    {"rollup_daily_user", "SELECT project, start_ns / 86400000000000, user_id," SUMS
                          " FROM spans WHERE user_id IS NOT NULL GROUP BY 1, 2, 3"},
    {"rollup_daily_tenant", "SELECT project, start_ns / 86400000000000, tenant," SUMS
                            " FROM spans WHERE tenant IS NOT NULL GROUP BY 1, 2, 3"},
};

/* Every rollup row equals the recount from the spans, and the other way. */
static void expect_rollups_match(void)
{
    for (int k = 0; k < 4; k++) {
        char *sql = xasprintf("SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT %s))"
                              " + (SELECT count(*) FROM (%s EXCEPT SELECT * FROM %s))",
                              recount[k][0], recount[k][1], recount[k][1], recount[k][0]);
        if (ro_int(sql) != 0) {
            char *cmd = xasprintf("%s query --db '%s' \"SELECT * FROM %s EXCEPT %s LIMIT 3\" >&2;"
                                  " %s query --db '%s' \"%s EXCEPT SELECT * FROM %s LIMIT 3\" >&2",
                                  tu_llmtap_bin(), db, recount[k][0], recount[k][1],
                                  tu_llmtap_bin(), db, recount[k][1], recount[k][0]);
            int rc = system(cmd); /* the differing rows, for the log */
            (void)rc;
            free(cmd);
        }
        ck_assert_msg(ro_int(sql) == 0, "%s differs from a recount of the spans", recount[k][0]);
        free(sql);
        char *cnt = xasprintf("SELECT count(*) FROM %s", recount[k][0]);
        ck_assert_int_gt(ro_int(cnt), 10);
        free(cnt);
    }
    ck_assert_int_eq(ro_int("SELECT sum(calls) FROM rollup_hourly"),
                     ro_int("SELECT count(*) FROM spans"));
}

/* Merge new usage, status and model into the span at 'offset' of the
 * spans ordered by id, as a Langfuse generation-update would. */
static void merge_into(int offset)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro),
                                        "SELECT trace_id, span_id, project FROM spans"
                                        " ORDER BY trace_id, span_id LIMIT 1 OFFSET ?1",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(q, 1, offset);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct rec_span *r = ingest_add_span(&b);
    r->op = REC_MERGE;
    snprintf(r->span.trace_id, sizeof(r->span.trace_id), "%s", sqlite3_column_text(q, 0));
    snprintf(r->span.span_id, sizeof(r->span.span_id), "%s", sqlite3_column_text(q, 1));
    r->span.project = xstrdup((const char *)sqlite3_column_text(q, 2));
    sqlite3_finalize(q);
    store_close(ro);
    r->span.model = xstrdup("gpt-4o");
    r->span.usage.input_tokens = 1000 + offset;
    r->span.usage.output_tokens = 10;
    r->span.has_cost = 1;
    r->span.cost_nusd = 123456;
    r->span.status = SPAN_STATUS_ERROR;
    ck_assert_int_eq(writer_submit(w, &b, 100, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(b.spans[0].result, REC_MERGED);
    ingest_batch_release(&b);
}

START_TEST(test_rollups_equal_a_recount_from_the_spans)
{
    ingest(6000, 31);
    expect_rollups_match();
    ingest(2000, 31); /* resent: stored and counted once */
    ck_assert_int_eq(ro_int("SELECT sum(calls) FROM rollup_hourly"), 6000);
    expect_rollups_match();
    for (int i = 0; i < 40; i++)
        merge_into(i * 97);
    expect_rollups_match();
    char err[256];
    int64_t moved = 1;
    while (moved)
        ck_assert_int_eq(writer_compact_step(w, 0, &moved, err, sizeof(err)), LT_OK);
    expect_rollups_match(); /* compaction moves spans, counts nothing */
    for (int i = 0; i < 20; i++)
        merge_into(5000 - i * 131); /* into compacted spans */
    ck_assert_int_eq(ro_int("SELECT sum(calls) FROM rollup_hourly"), 6000);
    expect_rollups_match();
}
END_TEST

static int tamper(sqlite3 *conn, void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    return sqlite3_exec(conn, "UPDATE rollup_daily_tenant_c SET errors = errors + 1", NULL, NULL,
                        NULL) != SQLITE_OK;
}

START_TEST(test_check_finds_rollups_that_do_not_match)
{
    ingest(3000, 32);
    char err[256];
    int64_t moved = 1;
    while (moved)
        ck_assert_int_eq(writer_compact_step(w, 1000, &moved, err, sizeof(err)), LT_OK);
    struct store *ro = NULL;
    struct check_report rep;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    check_report_init(&rep);
    ck_assert_int_eq(check_store(store_db(ro), &rep, err, sizeof(err)), 0);
    ck_assert_msg(rep.ok, "%s", buf_str(&rep.problems));
    ck_assert_int_eq(rep.rollup_rows_bad, 0);
    check_report_release(&rep);
    store_close(ro);
    ck_assert_int_eq(writer_run(w, tamper, NULL, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    check_report_init(&rep);
    ck_assert_int_eq(check_store(store_db(ro), &rep, err, sizeof(err)), 0);
    ck_assert(!rep.ok);
    ck_assert_int_gt(rep.rollup_rows_bad, 0);
    ck_assert_ptr_nonnull(strstr(buf_str(&rep.problems), "rollup_daily_tenant"));
    check_report_release(&rep);
    store_close(ro);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rollup");
    TCase *tc = tcase_create("hist");
    tcase_add_test(tc, test_histogram_quantiles_are_within_two_percent);
    tcase_add_test(tc, test_histograms_of_both_layouts_read_the_same);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rollups_equal_a_recount_from_the_spans);
    tcase_add_test(tc, test_check_finds_rollups_that_do_not_match);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
