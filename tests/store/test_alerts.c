/*
 * alerts (store): the migration makes the tables with the seed's default
 * rule; rules are added, replaced (starting again at OK) and removed with
 * their history through operation documents, and bad ones refused with
 * nothing written; the webhook secret is made once; the engine's writes:
 * a transition's event and first attempt, an attempt's outcome and the
 * retry it schedules, the queue's due times; and every window sum (calls,
 * errors, tokens, cost, p95) equals a direct computation over the spans,
 * for every scope and windows inside an hour, across hours and of whole
 * hours, with spans both compacted (rollups) and hot.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xmem.h"
#include "store/alerts.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define SEC_NS 1000000000LL
#define HOUR_NS 3600000000000LL
#define JAN28 1769558400000000000LL /* 2026-01-28T00:00Z */

static struct tu_store ts;

static void setup(void)
{
    tu_store_open(&ts, "alerts.db", NULL);
}

static void teardown(void)
{
    tu_store_close(&ts);
}

/* ---- operations ------------------------------------------------------------- */

struct op_job {
    cJSON *op;
    struct buf answer;
    int rc;
    char err[256];
};

static int op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct op_job *j = ctx;
    (void)err;
    (void)errlen;
    j->rc = alerts_apply(db, j->op, &j->answer, j->err, sizeof(j->err));
    return 0;
}

/* Apply 'json'; its return code, the answer into 'answer' (may be NULL). */
static int apply(const char *json, char *answer, size_t n)
{
    char err[256];
    struct op_job j;
    memset(&j, 0, sizeof(j));
    j.op = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j.op);
    buf_init(&j.answer, 1 << 16);
    ck_assert_int_eq(writer_run(ts.w, op_fn, &j, err, sizeof(err)), LT_OK);
    if (answer)
        snprintf(answer, n, "%s", j.rc == 0 ? buf_str(&j.answer) : j.err);
    cJSON_Delete(j.op);
    buf_release(&j.answer);
    return j.rc;
}

static int64_t count(const char *sql)
{
    return tu_ro_int(ts.db, sql);
}

START_TEST(test_rules_are_added_replaced_removed_and_bad_ones_refused)
{
    ck_assert_int_eq(count("SELECT count(*) FROM alert_rules WHERE name = 'global-spend-spike'"
                           " AND mode = 'anomaly' AND threshold = 5 AND window_s = 3600"),
                     1);
    char a[512];
    ck_assert_int_eq(apply("{\"op\":\"add\",\"rule\":{\"name\":\"shop-spend\",\"metric\":\"spend\","
                           "\"scope\":\"project\",\"subject\":\"shop\",\"window_s\":300,"
                           "\"mode\":\"above\",\"threshold\":2.5,"
                           "\"webhook\":\"https://hooks.example/x\"}}",
                           a, sizeof(a)),
                     0);
    ck_assert_str_eq(a, "{\"ok\":true,\"name\":\"shop-spend\",\"replaced\":false}");
    ck_assert_int_eq(apply("{\"op\":\"add\",\"rule\":{\"name\":\"p95\",\"metric\":\"p95_latency\","
                           "\"scope\":\"model\",\"subject\":\"gpt-4o\",\"window_s\":3600,"
                           "\"mode\":\"above\",\"threshold\":800}}",
                           NULL, 0),
                     0);
    static const char *const bad[] = {
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"joy\",\"window_s\":60,"
        "\"mode\":\"above\",\"threshold\":1}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"spend\",\"scope\":\"project\","
        "\"window_s\":60,\"mode\":\"above\",\"threshold\":1}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"spend\",\"subject\":\"s\","
        "\"window_s\":60,\"mode\":\"above\",\"threshold\":1}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"spend\",\"window_s\":5,"
        "\"mode\":\"above\",\"threshold\":1}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"spend\",\"window_s\":60,"
        "\"mode\":\"above\"}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"p95_latency\",\"window_s\":60,"
        "\"mode\":\"anomaly\"}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"spend\",\"window_s\":60,"
        "\"mode\":\"above\",\"threshold\":1,\"webhook\":\"file:///etc/passwd\"}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"spend\",\"window_s\":60,"
        "\"mode\":\"above\",\"threshold\":1,\"webhook\":\"http://h/a b\"}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"a/b\",\"metric\":\"spend\",\"window_s\":60,"
        "\"mode\":\"above\",\"threshold\":1}}",
        "{\"op\":\"add\",\"rule\":{\"name\":\"x\",\"metric\":\"error_rate\",\"window_s\":60,"
        "\"mode\":\"above\",\"threshold\":2}}",
        "{\"op\":\"frob\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(apply(bad[i], a, sizeof(a)) == 1 && a[0], "case %zu", i);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_rules"), 3);
    /* the engine moved it on; replacing it starts again at OK */
    ck_assert_int_eq(count("SELECT count(*) FROM alert_rules WHERE state = 'OK'"), 3);
    ck_assert_int_eq(apply("{\"op\":\"add\",\"rule\":{\"name\":\"p95\",\"metric\":\"p95_latency\","
                           "\"window_s\":600,\"mode\":\"above\",\"threshold\":900}}",
                           a, sizeof(a)),
                     0);
    ck_assert_ptr_nonnull(strstr(a, "\"replaced\":true"));
    ck_assert_int_eq(count("SELECT window_s FROM alert_rules WHERE name = 'p95'"), 600);
    struct store *ro = NULL;
    char err[256];
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct alerts_rule *rules = NULL;
    size_t n = 0;
    ck_assert_int_eq(alerts_rules(store_db(ro), &rules, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(rules[0].name, "global-spend-spike");
    ck_assert_str_eq(rules[2].name, "shop-spend");
    ck_assert_int_eq(rules[2].scope, ALERTS_PROJECT);
    ck_assert_str_eq(rules[2].subject, "shop");
    ck_assert_str_eq(rules[2].webhook, "https://hooks.example/x");
    ck_assert(isnan(rules[2].last_value));
    alerts_rules_free(rules, n);
    char s1[ALERTS_SECRET_HEX + 1], s2[ALERTS_SECRET_HEX + 1];
    ck_assert_int_eq(alerts_secret_get(store_db(ro), s1), 0);
    store_close(ro);
    ck_assert_int_eq(apply("{\"op\":\"secret\"}", a, sizeof(a)), 0);
    ck_assert_int_eq(strlen(a), strlen("{\"ok\":true,\"secret\":\"\"}") + 64);
    snprintf(s1, sizeof(s1), "%.64s", a + strlen("{\"ok\":true,\"secret\":\""));
    ck_assert_int_eq(apply("{\"op\":\"secret\"}", a, sizeof(a)), 0);
    snprintf(s2, sizeof(s2), "%.64s", a + strlen("{\"ok\":true,\"secret\":\""));
    ck_assert_str_eq(s1, s2); /* made once */
    ck_assert_int_eq(apply("{\"op\":\"rm\",\"name\":\"p95\"}", a, sizeof(a)), 0);
    ck_assert_str_eq(a, "{\"ok\":true,\"removed\":true}");
    ck_assert_int_eq(apply("{\"op\":\"rm\",\"name\":\"p95\"}", a, sizeof(a)), 0);
    ck_assert_str_eq(a, "{\"ok\":true,\"removed\":false}");
}
END_TEST

/* ---- the engine's writes --------------------------------------------------------- */

struct rec_job {
    struct alerts_outcome o;
    int64_t event_id;
    int rc;
};

static int rec_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct rec_job *j = ctx;
    j->rc = alerts_record(db, &j->o, &j->event_id, err, errlen);
    return j->rc < 0;
}

struct att_job {
    int64_t id, now, status, retry;
    const char *error;
    int success;
};

static int att_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct att_job *a = ctx;
    return alerts_attempted(db, a->id, a->now, a->status, a->error, a->success, a->retry, err,
                            errlen);
}

struct due_seen {
    int n;
    int64_t id, attempt;
    char payload[256], key[64];
};

static int due_fn(void *ctx, const struct alerts_delivery *d)
{
    struct due_seen *s = ctx;
    s->n++;
    s->id = d->id;
    s->attempt = d->attempt;
    snprintf(s->payload, sizeof(s->payload), "%s", d->payload ? d->payload : "");
    snprintf(s->key, sizeof(s->key), "%s", d->dedup_key ? d->dedup_key : "");
    return 0;
}

static struct due_seen due_at(int64_t now)
{
    char err[256];
    struct store *ro = NULL;
    struct due_seen s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(alerts_due(store_db(ro), now, 10, due_fn, &s), 0);
    store_close(ro);
    return s;
}

START_TEST(test_transitions_queue_attempts_and_retries)
{
    char err[256];
    ck_assert_int_eq(apply("{\"op\":\"add\",\"rule\":{\"name\":\"r\",\"metric\":\"calls\","
                           "\"window_s\":60,\"mode\":\"above\",\"threshold\":10,"
                           "\"webhook\":\"http://127.0.0.1:9/h\"}}",
                           NULL, 0),
                     0);
    struct rec_job j = {{.rule = "r",
                         .now_ns = 1000 * SEC_NS,
                         .value = 11,
                         .baseline = NAN,
                         .threshold = 10,
                         .from = ALERTS_OK,
                         .to = ALERTS_FIRING,
                         .dedup_key = "r-k1",
                         .payload = "{\"state\":\"FIRING\"}",
                         .url = "http://127.0.0.1:9/h"},
                        0,
                        0};
    ck_assert_int_eq(writer_run(ts.w, rec_fn, &j, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_gt(j.event_id, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_rules WHERE name = 'r' AND state = 'FIRING'"
                           " AND last_value = 11 AND firing_key = 'r-k1'"
                           " AND state_since_ns = 1000000000000"),
                     1);
    struct due_seen s = due_at(999 * SEC_NS);
    ck_assert_int_eq(s.n, 0); /* not due yet */
    s = due_at(1000 * SEC_NS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.attempt, 1);
    ck_assert_str_eq(s.payload, "{\"state\":\"FIRING\"}");
    ck_assert_str_eq(s.key, "r-k1");
    /* a 503: the next attempt is due 1 s later; the first row keeps its outcome */
    struct att_job a = {s.id, 1000 * SEC_NS + 5, 503, 1001 * SEC_NS, NULL, 0};
    ck_assert_int_eq(writer_run(ts.w, att_fn, &a, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(due_at(1000 * SEC_NS + 10).n, 0);
    s = due_at(1001 * SEC_NS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.attempt, 2);
    struct att_job b = {s.id, 1001 * SEC_NS + 5, 200, 0, NULL, 1};
    ck_assert_int_eq(writer_run(ts.w, att_fn, &b, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(due_at(INT64_MAX).n, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_deliveries WHERE rule = 'r'"), 2);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_deliveries WHERE attempt = 1"
                           " AND status = 503 AND outcome = 'retry'"),
                     1);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_deliveries WHERE attempt = 2"
                           " AND status = 200 AND outcome = 'ok'"),
                     1);
    /* a step without a change: no event; a rule that is gone: 1 */
    j.o.from = j.o.to = ALERTS_FIRING;
    j.o.payload = NULL;
    j.o.now_ns = 1060 * SEC_NS;
    ck_assert_int_eq(writer_run(ts.w, rec_fn, &j, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_events WHERE rule = 'r'"), 1);
    ck_assert_int_eq(count("SELECT last_eval_ns FROM alert_rules WHERE name = 'r'"), 1060 * SEC_NS);
    ck_assert_int_eq(count("SELECT state_since_ns FROM alert_rules WHERE name = 'r'"),
                     1000 * SEC_NS);
    j.o.rule = "gone";
    ck_assert_int_eq(writer_run(ts.w, rec_fn, &j, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(j.rc, 1);
    /* evaluated from a state the rule has left, or of a rule replaced since: dropped */
    j.o.rule = "r";
    j.o.from = ALERTS_OK;
    j.o.to = ALERTS_NO_DATA;
    ck_assert_int_eq(writer_run(ts.w, rec_fn, &j, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(j.rc, 1);
    j.o.from = ALERTS_FIRING;
    j.o.created_ns = 12345;
    ck_assert_int_eq(writer_run(ts.w, rec_fn, &j, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(j.rc, 1);
    ck_assert_int_eq(
        count("SELECT count(*) FROM alert_rules WHERE name = 'r' AND state = 'FIRING'"), 1);
    /* removing the rule takes its history with it */
    ck_assert_int_eq(apply("{\"op\":\"rm\",\"name\":\"r\"}", NULL, 0), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_events"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM alert_deliveries"), 0);
}
END_TEST

/* ---- window sums ---------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const projects[] = {"shop", "blog", "ops"};
static const char *const models[] = {"gpt-4o", "claude", "mini"};
static const char *const vsets[] = {"app=1", "app=2"};
static const char *const tenants[] = {"acme", "globex"};
static const char *const users[] = {"alice", "bob", "carol"};

/* 'n' spans from 'start' on, 5..60 s apart, with every dimension varied. */
static void ingest(int n, int64_t start, const char *idtag)
{
    struct buf b;
    buf_init(&b, 0);
    int64_t t = start;
    for (int i = 0; i < n; i++) {
        t += (int64_t)(5 + next() % 55) * SEC_NS;
        uint64_t r = next();
        ck_assert_int_eq(
            buf_printf(&b,
                       "{\"trace_id\":\"%s%031x\",\"span_id\":\"%016x\",\"project\":\"%s\","
                       "\"kind\":\"llm\",\"model\":\"%s\",\"version_set\":\"%s\","
                       "\"tenant\":\"%s\",\"user\":\"%s\",\"status\":\"%s\","
                       "\"usage\":{\"input_tokens\":%u,\"output_tokens\":%u},"
                       "\"cost_usd\":0.%06u,\"start_ns\":\"%lld\",\"end_ns\":\"%lld\"}\n",
                       idtag, (unsigned)i, (unsigned)i, projects[r % 3], models[(r >> 4) % 3],
                       vsets[(r >> 8) % 2], tenants[(r >> 12) % 2], users[(r >> 16) % 3],
                       (r >> 20) % 9 ? "ok" : "error", (unsigned)((r >> 24) % 3000),
                       (unsigned)((r >> 36) % 900), (unsigned)((r >> 40) % 999999), (long long)t,
                       (long long)(t + (int64_t)(1 + (r >> 44) % 5000) * 1000000)),
            0);
        if (i % 500 == 499 || i == n - 1) {
            tu_ingest_json(ts.w, buf_str(&b));
            buf_reset(&b);
        }
    }
    buf_release(&b);
}

static const char *const filters[] = {"",
                                      " AND project = ?3",
                                      " AND tenant = ?3",
                                      " AND user_id = ?3",
                                      " AND coalesce(model, response_model, '') = ?3",
                                      " AND coalesce(version_set, '') = ?3"};

static void direct(sqlite3 *db, enum alerts_scope sc, const char *subject, int64_t from, int64_t to,
                   struct alerts_sums *out)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*), total(status = 'error'), total(max(input_tokens, 0)) +"
             " total(max(output_tokens, 0)), total(cost_nusd),"
             " llmtap_hist_quantile(llmtap_hist((end_ns - start_ns) / 1e6), 0.95)"
             " FROM spans WHERE start_ns >= ?1 AND start_ns < ?2%s",
             filters[sc]);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (sc)
        sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    out->calls = sqlite3_column_int64(st, 0);
    out->errors = (int64_t)sqlite3_column_double(st, 1);
    out->tokens = (int64_t)sqlite3_column_double(st, 2);
    out->cost_nusd = (int64_t)sqlite3_column_double(st, 3);
    out->p95_ms = sqlite3_column_type(st, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 4);
    sqlite3_finalize(st);
}

static const char *const *subjects_of(enum alerts_scope sc, size_t *n)
{
    static const char *const none[] = {""};
    static const char *const *all[] = {none, projects, tenants, users, models, vsets};
    static const size_t counts[] = {1, 3, 2, 3, 3, 2};
    *n = counts[sc];
    return all[sc];
}

/* Every scope and subject over [from, to): alerts_window equals the direct
 * computation. Returns how many had calls. */
static int compare_window(sqlite3 *db, int64_t from, int64_t to)
{
    char err[256];
    int nonzero = 0;
    for (int sc = 0; sc < ALERTS_NSCOPES; sc++) {
        size_t n;
        const char *const *subj = subjects_of((enum alerts_scope)sc, &n);
        for (size_t i = 0; i < n; i++) {
            struct alerts_sums got, want;
            direct(db, (enum alerts_scope)sc, subj[i], from, to, &want);
            ck_assert_int_eq(
                alerts_window(db, (enum alerts_scope)sc, subj[i], from, to, &got, err, sizeof(err)),
                0);
            ck_assert_msg(got.calls == want.calls && got.errors == want.errors &&
                              got.tokens == want.tokens && got.cost_nusd == want.cost_nusd,
                          "scope %d '%s' [%lld, %lld): calls %lld/%lld cost %lld/%lld", sc, subj[i],
                          (long long)from, (long long)to, (long long)got.calls,
                          (long long)want.calls, (long long)got.cost_nusd,
                          (long long)want.cost_nusd);
            if (isnan(want.p95_ms))
                ck_assert(isnan(got.p95_ms));
            else
                ck_assert_double_eq_tol(got.p95_ms, want.p95_ms, 1e-9 * want.p95_ms);
            nonzero += want.calls > 0;
        }
    }
    return nonzero;
}

START_TEST(test_window_sums_equal_a_direct_computation_for_every_scope)
{
    char err[256];
    int64_t moved = 0, indexed = 0;
    ingest(3000, JAN28, "a"); /* about 27 hours */
    ck_assert_int_eq(writer_catch_up(ts.w, &moved, &indexed, err, sizeof(err)), LT_OK);
    ck_assert_int_gt(moved, 2500);
    ingest(800, JAN28, "b"); /* hot rows in the same hours */
    ck_assert_int_gt(tu_ro_int(ts.db, "SELECT count(*) FROM span_rows"), 500);
    ck_assert_int_gt(tu_ro_int(ts.db, "SELECT count(*) FROM rollup_hourly_c"), 100);
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3 *db = store_db(ro);
    int nonzero = 0;
    for (int probe = 0; probe < 6; probe++) {
        int64_t t = JAN28 + (int64_t)(next() % (uint64_t)(20 * HOUR_NS));
        int64_t h = t / HOUR_NS * HOUR_NS;
        nonzero += compare_window(db, t, t + 300 * SEC_NS);               /* inside an hour */
        nonzero += compare_window(db, t, t + 3 * HOUR_NS + 777 * SEC_NS); /* across hours */
        nonzero += compare_window(db, h, h + 2 * HOUR_NS);                /* whole hours */
        nonzero += compare_window(db, h - 10 * SEC_NS, h + 10 * SEC_NS);  /* an hour's edge */
    }
    ck_assert_int_gt(nonzero, 200);
    struct alerts_sums none;
    ck_assert_int_eq(alerts_window(db, ALERTS_USER, "nobody", JAN28, JAN28 + 9 * HOUR_NS, &none,
                                   err, sizeof(err)),
                     0);
    ck_assert_int_eq(none.calls, 0);
    ck_assert(isnan(none.p95_ms));
    ck_assert(isnan(alerts_metric_value(ALERTS_ERROR_RATE, &none)));
    ck_assert_double_eq(alerts_metric_value(ALERTS_SPEND, &none), 0);
    store_close(ro);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alerts");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rules_are_added_replaced_removed_and_bad_ones_refused);
    tcase_add_test(tc, test_transitions_queue_attempts_and_retries);
    tcase_add_test(tc, test_window_sums_equal_a_direct_computation_for_every_scope);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
