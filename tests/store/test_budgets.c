/*
 * budgets: the migration makes the table with the default breaker; rules
 * are put, replaced in place (a cap merged), listed and removed, ids never
 * reused; bad rules are refused with nothing written; calendar windows;
 * and every spend query that seeds the ledger equals a direct sum over the
 * spans, for every scope and window, with spans both compacted and hot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xmem.h"
#include "store/budgets.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define MIN_NS 60000000000LL
#define HOUR_NS 3600000000000LL
#define DAY_NS 86400000000000LL
#define JAN28 1769558400000000000LL /* 2026-01-28T00:00Z */

static struct tu_store ts;

static void setup(void)
{
    tu_store_open(&ts, "budgets.db", NULL);
}

static void teardown(void)
{
    tu_store_close(&ts);
}

/* ---- rules ---------------------------------------------------------------- */

struct put_job {
    struct budget_rule r;
    int64_t id;
    int rc;
};

static int put_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct put_job *j = ctx;
    j->rc = budgets_put(db, &j->r, 1000, &j->id, err, errlen);
    return 0;
}

static int64_t put(struct budget_rule r)
{
    char err[256];
    struct put_job j = {r, 0, 0};
    ck_assert_int_eq(writer_run(ts.w, put_fn, &j, err, sizeof(err)), LT_OK);
    return j.rc == 0 ? j.id : -1;
}

struct rm_job {
    int64_t id;
    int rc;
};

static int rm_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct rm_job *j = ctx;
    j->rc = budgets_remove(db, j->id, err, errlen);
    return 0;
}

static int rm(int64_t id)
{
    char err[256];
    struct rm_job j = {id, -9};
    ck_assert_int_eq(writer_run(ts.w, rm_fn, &j, err, sizeof(err)), LT_OK);
    return j.rc;
}

static struct budget_rule *list(size_t *n)
{
    char err[256];
    struct store *ro = NULL;
    struct budget_rule *r = NULL;
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(budgets_list(store_db(ro), &r, n, err, sizeof(err)), 0);
    store_close(ro);
    return r;
}

static struct budget_rule spend(enum budget_scope sc, const char *subject, enum budget_period p,
                                int64_t nusd)
{
    return (struct budget_rule){.scope = sc,
                                .subject = (char *)subject,
                                .kind = BUDGET_SPEND,
                                .period = p,
                                .limit_nusd = nusd,
                                .max_input_tokens = -1,
                                .max_tool_rounds = -1};
}

static struct budget_rule cap(enum budget_scope sc, const char *subject, int64_t tokens,
                              int64_t rounds)
{
    return (struct budget_rule){.scope = sc,
                                .subject = (char *)subject,
                                .kind = BUDGET_CAP,
                                .max_input_tokens = tokens,
                                .max_tool_rounds = rounds};
}

START_TEST(test_the_migration_makes_the_table_and_the_default_breaker)
{
    ck_assert_int_eq(tu_ro_int(ts.db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    size_t n = 0;
    struct budget_rule *r = list(&n);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(r[0].scope, BUDGET_GLOBAL);
    ck_assert_str_eq(r[0].subject, "");
    ck_assert_int_eq(r[0].kind, BUDGET_BREAKER);
    ck_assert_int_eq(r[0].period, BUDGET_HOUR);
    ck_assert(r[0].factor == 5.0);
    ck_assert_int_gt(r[0].created_ns, 1700000000000000000LL);
    budgets_free(r, n);
}
END_TEST

START_TEST(test_put_replaces_in_place_merges_caps_and_rm_removes)
{
    int64_t a = put(spend(BUDGET_USER, "alice", BUDGET_DAY, 500000000));
    ck_assert_int_gt(a, 1);
    ck_assert_int_eq(put(spend(BUDGET_USER, "alice", BUDGET_DAY, 750000000)), a); /* replaced */
    int64_t h = put(spend(BUDGET_USER, "alice", BUDGET_HOUR, 100000000));         /* another */
    ck_assert_int_ne(h, a);
    int64_t c = put(cap(BUDGET_PROJECT, "shop", 8000, -1));
    ck_assert_int_eq(put(cap(BUDGET_PROJECT, "shop", -1, 10)), c); /* merged */
    size_t n = 0;
    struct budget_rule *r = list(&n);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(r[1].id, a);
    ck_assert_int_eq(r[1].limit_nusd, 750000000);
    ck_assert_int_eq(r[1].created_ns, 1000);
    ck_assert_int_eq(r[3].id, c);
    ck_assert_int_eq(r[3].max_input_tokens, 8000);
    ck_assert_int_eq(r[3].max_tool_rounds, 10);
    ck_assert_int_eq(r[3].period, BUDGET_PER_NONE);
    budgets_free(r, n);
    ck_assert_int_eq(rm(h), 0);
    ck_assert_int_eq(rm(h), 1);                                            /* gone */
    ck_assert_int_gt(put(spend(BUDGET_USER, "alice", BUDGET_HOUR, 1)), c); /* ids not reused */
    ck_assert_int_eq(rm(1), 0);                                            /* the breaker too */
    r = list(&n);
    ck_assert_int_eq(n, 3);
    budgets_free(r, n);
}
END_TEST

START_TEST(test_bad_rules_are_refused_and_nothing_is_written)
{
    char big[BUDGETS_SUBJECT_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct budget_rule bad[] = {
        spend(BUDGET_USER, "", BUDGET_DAY, 1),                         /* no subject */
        spend(BUDGET_GLOBAL, "alice", BUDGET_DAY, 1),                  /* a global subject */
        spend(BUDGET_USER, big, BUDGET_DAY, 1),                        /* too long */
        spend(BUDGET_USER, "a\nb", BUDGET_DAY, 1),                     /* control character */
        spend(BUDGET_USER, "alice", BUDGET_PER_NONE, 1),               /* no period */
        spend(BUDGET_USER, "alice", BUDGET_DAY, -1),                   /* negative */
        spend(BUDGET_USER, "alice", BUDGET_DAY, BUDGETS_MAX_NUSD + 1), /* absurd */
        cap(BUDGET_USER, "alice", -1, -1),                             /* no cap */
        cap(BUDGET_USER, "alice", 0, -1),                              /* zero tokens */
        cap(BUDGET_USER, "alice", -1, BUDGETS_MAX_TOOL_ROUNDS + 1),
        {.scope = BUDGET_PROJECT,
         .subject = (char *)"shop",
         .kind = BUDGET_BREAKER,
         .period = BUDGET_HOUR,
         .factor = 5},
        {.scope = BUDGET_GLOBAL,
         .subject = (char *)"",
         .kind = BUDGET_BREAKER,
         .period = BUDGET_HOUR,
         .factor = 0.5},
        {.scope = (enum budget_scope)7,
         .subject = (char *)"",
         .kind = BUDGET_SPEND,
         .period = BUDGET_DAY},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        ck_assert_msg(budgets_validate(&bad[i], err, sizeof(err)) != 0, "rule %zu passed", i);
        ck_assert_msg(*err, "rule %zu: no message", i);
        ck_assert_int_eq(put(bad[i]), -1);
    }
    size_t n = 0;
    struct budget_rule *r = list(&n);
    budgets_free(r, n);
    ck_assert_int_eq(n, 1); /* only the breaker */
    int64_t v = 0;
    ck_assert_int_eq(budgets_parse_usd("0.50", &v), 0);
    ck_assert_int_eq(v, 500000000);
    ck_assert_int_eq(budgets_parse_usd(".25", &v), 0);
    ck_assert_int_eq(v, 250000000);
    ck_assert_int_eq(budgets_parse_usd("12", &v), 0);
    ck_assert_int_eq(v, 12000000000LL);
    ck_assert_int_eq(budgets_parse_usd("0.000000001", &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(budgets_parse_usd("10000000", &v), 0);
    ck_assert_int_eq(v, BUDGETS_MAX_NUSD);
    static const char *const bad_usd[] = {
        "",  ".", "-1", "1e3", "0.0000000001", "10000000.01", "1,5", "abc", "99999999999999999999",
        " 1"};
    for (size_t i = 0; i < sizeof(bad_usd) / sizeof(bad_usd[0]); i++)
        ck_assert_msg(budgets_parse_usd(bad_usd[i], &v) != 0, "'%s' parsed", bad_usd[i]);
}
END_TEST

START_TEST(test_windows_are_utc_calendar_windows)
{
    int64_t from, to, t = JAN28 + 3 * DAY_NS + 5 * HOUR_NS + 7 * MIN_NS + 11; /* Jan 31 05:07 */
    budgets_window(BUDGET_MINUTE, t, &from, &to);
    ck_assert_int_eq(from, t - 11);
    ck_assert_int_eq(to, from + MIN_NS);
    budgets_window(BUDGET_HOUR, t, &from, &to);
    ck_assert_int_eq(from, JAN28 + 3 * DAY_NS + 5 * HOUR_NS);
    ck_assert_int_eq(to, from + HOUR_NS);
    budgets_window(BUDGET_DAY, t, &from, &to);
    ck_assert_int_eq(from, JAN28 + 3 * DAY_NS);
    ck_assert_int_eq(to, JAN28 + 4 * DAY_NS);
    budgets_window(BUDGET_MONTH, t, &from, &to);
    ck_assert_int_eq(from, JAN28 - 27 * DAY_NS); /* 2026-01-01 */
    ck_assert_int_eq(to, JAN28 + 4 * DAY_NS);    /* 2026-02-01 */
    budgets_window(BUDGET_MONTH, to, &from, &to);
    ck_assert_int_eq(to - from, 28 * DAY_NS);                        /* February 2026 */
    budgets_window(BUDGET_MONTH, 1709251199000000000LL, &from, &to); /* 2024-02-29T23:59:59Z */
    ck_assert_int_eq(from, 1706745600000000000LL);                   /* 2024-02-01 */
    ck_assert_int_eq(to, 1709251200000000000LL);                     /* 2024-03-01 */
    budgets_window(BUDGET_MONTH, 1798761599000000000LL, &from, &to); /* 2026-12-31T23:59:59Z */
    ck_assert_int_eq(from, 1796083200000000000LL);                   /* 2026-12-01 */
    ck_assert_int_eq(to, 1798761600000000000LL);                     /* 2027-01-01 */
}
END_TEST

/* ---- spend queries ----------------------------------------------------------- */

static const char *const projects[] = {"shop", "docs", "ops"};
static const char *const tenants[] = {"acme", "globex", "initech", "umbrella"};
static const char *const users[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"};

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* 'n' spans from 'start' on, 30 s..3 min apart (about 40 days for 30,000):
 * three projects, tenants and users sometimes absent, a few unpriced. */
static void ingest(int n, int64_t start, const char *idtag)
{
    struct buf b;
    buf_init(&b, 0);
    int64_t t = start;
    for (int i = 0; i < n; i++) {
        t += (int64_t)(30 + next() % 150) * 1000000000LL;
        uint64_t r = next();
        ck_assert_int_eq(
            buf_printf(&b,
                       "{\"trace_id\":\"%s%031x\",\"span_id\":\"%016x\",\"project\":\"%s\","
                       "\"kind\":\"llm\",\"model\":\"m\",\"start_ns\":\"%lld\",\"end_ns\":\"%lld\"",
                       idtag, (unsigned)i, (unsigned)i, projects[r % 3], (long long)t,
                       (long long)t + 1000000),
            0);
        if (r % 7)
            ck_assert_int_eq(
                buf_printf(&b, ",\"cost_usd\":0.%09llu", (unsigned long long)(next() % 20000000)),
                0);
        if ((r >> 8) % 5)
            ck_assert_int_eq(buf_printf(&b, ",\"tenant\":\"%s\"", tenants[(r >> 16) % 4]), 0);
        if ((r >> 24) % 4)
            ck_assert_int_eq(buf_printf(&b, ",\"user\":\"%s\"", users[(r >> 32) % 10]), 0);
        ck_assert_int_eq(buf_puts(&b, "}\n"), 0);
        if (i % 500 == 499 || i == n - 1) {
            tu_ingest_json(ts.w, buf_str(&b));
            buf_reset(&b);
        }
    }
    buf_release(&b);
}

static const char *const columns[] = {NULL, "project", "tenant", "user_id"};

/* The sum over the spans themselves. */
static int64_t direct(sqlite3 *db, enum budget_scope sc, const char *subject, int64_t from,
                      int64_t to)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(cost_nusd), 0) FROM spans WHERE start_ns >= ?1 AND start_ns < ?2"
             "%s%s%s",
             sc ? " AND " : "", sc ? columns[sc] : "", sc ? " = ?3" : "");
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (sc)
        sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

struct each_sum {
    int64_t total;
    int subjects;
};

static void add_each(void *ctx, const char *subject, int64_t nusd)
{
    struct each_sum *e = ctx;
    ck_assert_ptr_nonnull(subject);
    e->total += nusd;
    e->subjects++;
}

static const char *const *subjects_of(enum budget_scope sc, size_t *n)
{
    static const char *const none[] = {""};
    static const char *const *all[] = {none, projects, tenants, users};
    static const size_t counts[] = {1, 3, 4, 10};
    *n = counts[sc];
    return all[sc];
}

/* Every scope and subject over [from, to): the query equals the direct
 * sum, one subject and all at once. Returns how many windows had spend. */
static int compare_window(sqlite3 *db, int64_t from, int64_t to)
{
    char err[256];
    int nonzero = 0;
    for (int sc = 0; sc < BUDGET_NSCOPES; sc++) {
        size_t n;
        const char *const *subj = subjects_of((enum budget_scope)sc, &n);
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t got = -1, want = direct(db, (enum budget_scope)sc, subj[i], from, to);
            ck_assert_int_eq(
                budgets_spent(db, (enum budget_scope)sc, subj[i], from, to, &got, err, sizeof(err)),
                0);
            ck_assert_msg(got == want, "scope %d '%s' [%lld, %lld): %lld, want %lld", sc, subj[i],
                          (long long)from, (long long)to, (long long)got, (long long)want);
            sum += want;
            nonzero += want > 0;
        }
        struct each_sum e = {0, 0};
        ck_assert_int_eq(
            budgets_spent_each(db, (enum budget_scope)sc, from, to, add_each, &e, err, sizeof(err)),
            0);
        ck_assert_int_eq(e.total, sum);
        ck_assert_int_le(e.subjects, (int)n);
    }
    int64_t got = -1;
    ck_assert_int_eq(budgets_spent(db, BUDGET_USER, "nobody", from, to, &got, err, sizeof(err)), 0);
    ck_assert_int_eq(got, 0);
    return nonzero;
}

START_TEST(test_spend_queries_equal_a_direct_sum_for_every_scope_and_window)
{
    char err[256];
    int64_t moved = 0, indexed = 0;
    ingest(12000, JAN28, "a");
    ck_assert_int_eq(writer_catch_up(ts.w, &moved, &indexed, err, sizeof(err)), LT_OK);
    ck_assert_int_gt(moved, 11000);
    ingest(3000, JAN28, "b"); /* hot rows in the same hours and days */
    ck_assert_int_gt(tu_ro_int(ts.db, "SELECT count(*) FROM span_rows"), 2000);
    ck_assert_int_gt(tu_ro_int(ts.db, "SELECT count(*) FROM segments"), 0);
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3 *db = store_db(ro);
    int nonzero = 0;
    for (int probe = 0; probe < 12; probe++) {
        int64_t t = JAN28 + (int64_t)(next() % (uint64_t)(9 * DAY_NS));
        if (probe == 0)
            t = JAN28 + 4 * DAY_NS; /* the first instant of February */
        for (int p = BUDGET_MINUTE; p < BUDGET_NPERIODS; p++) {
            int64_t from, to;
            budgets_window((enum budget_period)p, t, &from, &to);
            nonzero += compare_window(db, from, to);
        }
        int64_t h0 = t / HOUR_NS * HOUR_NS, d0 = t / DAY_NS * DAY_NS;
        nonzero += compare_window(db, h0, h0 + 5 * HOUR_NS);       /* whole hours */
        nonzero += compare_window(db, d0, d0 + 3 * DAY_NS);        /* whole days */
        nonzero += compare_window(db, t, t + 2 * HOUR_NS + 12345); /* neither */
    }
    ck_assert_int_gt(nonzero, 300);
    /* the breaker's history: each hour of global spend */
    int64_t first = JAN28 / HOUR_NS, hours[200];
    ck_assert_int_eq(budgets_hourly(db, first, 200, hours, err, sizeof(err)), 0);
    int with_spend = 0;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(hours[i], direct(db, BUDGET_GLOBAL, "", (first + i) * HOUR_NS,
                                          (first + i + 1) * HOUR_NS));
        with_spend += hours[i] > 0;
    }
    ck_assert_int_gt(with_spend, 150);
    store_close(ro);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("budgets");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_the_migration_makes_the_table_and_the_default_breaker);
    tcase_add_test(tc, test_put_replaces_in_place_merges_caps_and_rm_removes);
    tcase_add_test(tc, test_bad_rules_are_refused_and_nothing_is_written);
    tcase_add_test(tc, test_windows_are_utc_calendar_windows);
    tcase_add_test(tc, test_spend_queries_equal_a_direct_sum_for_every_scope_and_window);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
