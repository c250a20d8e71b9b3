/*
 * budget: the ledger at the door. Spend rules of every scope admit up to
 * their limit and no further; caps refuse single requests; windows roll
 * over; settle replaces a reservation by the real cost (lower, higher,
 * unpriced, after a roll-over); refusals say what was refused and why;
 * the breaker trips only above factor x the median hour once 24 hours have
 * spend, never below $1, from the store's history or learnt as hours pass;
 * other ingest paths' spend counts; the admin API validates and reloads
 * without losing what is in flight; and under concurrency the spend in
 * flight plus settled never passes the limit (1,000 calls at once against
 * room for 100: exactly 100 get through, every round).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/budget.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/budgets.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define USD 1000000000LL
#define MIN_NS 60000000000LL
#define HOUR_NS 3600000000000LL
#define DAY_NS 86400000000000LL
#define T0 1772409600000000000LL                            /* 2026-03-02T00:00Z */
#define T (T0 + 10 * HOUR_NS + 20 * MIN_NS + 30000000000LL) /* 10:20:30 */

static struct tu_store ts;
static struct budget_ledger *l;

static void setup(void)
{
    tu_store_open(&ts, "budget.db", NULL);
    l = NULL;
}

static void teardown(void)
{
    budget_ledger_free(l);
    tu_store_close(&ts);
}

/* ---- helpers ------------------------------------------------------------------ */

struct put_job {
    struct budget_rule r;
    int64_t id;
};

static int put_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct put_job *j = ctx;
    return budgets_put(db, &j->r, T0, &j->id, err, errlen);
}

static int64_t put(struct budget_rule r)
{
    char err[256];
    struct put_job j = {r, 0};
    ck_assert_msg(writer_run(ts.w, put_fn, &j, err, sizeof(err)) == LT_OK, "%s", err);
    return j.id;
}

static int rm_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    return budgets_remove(db, *(int64_t *)ctx, err, errlen) == 0 ? 0 : -1;
}

static void rm(int64_t id)
{
    char err[256];
    ck_assert_int_eq(writer_run(ts.w, rm_fn, &id, err, sizeof(err)), LT_OK);
}

static int64_t spend(enum budget_scope sc, const char *subject, enum budget_period p, int64_t nusd)
{
    return put((struct budget_rule){.scope = sc,
                                    .subject = (char *)subject,
                                    .kind = BUDGET_SPEND,
                                    .period = p,
                                    .limit_nusd = nusd,
                                    .max_input_tokens = -1,
                                    .max_tool_rounds = -1});
}

static int64_t cap(enum budget_scope sc, const char *subject, int64_t tokens, int64_t rounds)
{
    return put((struct budget_rule){.scope = sc,
                                    .subject = (char *)subject,
                                    .kind = BUDGET_CAP,
                                    .max_input_tokens = tokens,
                                    .max_tool_rounds = rounds});
}

/* (Re)load the ledger at 'now'. */
static void load(int64_t now)
{
    char err[256];
    if (!l)
        ck_assert_msg(budget_ledger_new(&l, ts.db, now, err, sizeof(err)) == LT_OK, "%s", err);
    else
        ck_assert_msg(budget_ledger_reload(l, now, err, sizeof(err)) == LT_OK, "%s", err);
}

static struct budget_call call(const char *project, const char *tenant, const char *user,
                               int64_t est)
{
    return (struct budget_call){project, tenant, user, est, 100, 0};
}

static char msg[512];

/* Reserve; the result code, the hold in *h (settled by the caller). */
static int reserve(struct budget_call c, int64_t now, struct budget_hold *h)
{
    msg[0] = '\0';
    return budget_reserve(l, &c, now, h, msg, sizeof(msg));
}

/* Reserve and settle at once with the estimate: a call that cost 'est'. */
static int spend_now(struct budget_call c, int64_t now)
{
    struct budget_hold h;
    int rc = reserve(c, now, &h);
    if (rc == LT_OK)
        budget_settle(l, &h, c.est_nusd);
    return rc;
}

static struct budget_usage usage(int64_t id, int64_t now)
{
    struct budget_usage u;
    ck_assert_int_eq(budget_ledger_usage(l, id, now, &u), 0);
    return u;
}

/* A span of 'usd' at 'start' (native NDJSON line) into the store. */
static void stored_span(int n, int64_t start, const char *usd)
{
    char line[512];
    snprintf(line, sizeof(line),
             "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"project\":\"shop\",\"kind\":\"llm\","
             "\"model\":\"m\",\"start_ns\":\"%lld\",\"end_ns\":\"%lld\",\"cost_usd\":%s}\n",
             (unsigned)n, (unsigned)n, (long long)start, (long long)start + 1000000, usd);
    tu_ingest_json(ts.w, line);
}

/* ---- spend rules ------------------------------------------------------------------ */

START_TEST(test_spend_rules_admit_up_to_the_limit_in_every_scope)
{
    static const char *const subject[] = {"", "shop", "acme", "alice"};
    int64_t id = 0;
    for (int sc = 0; sc < BUDGET_NSCOPES; sc++) {
        if (id)
            rm(id);
        id = spend((enum budget_scope)sc, subject[sc], BUDGET_DAY, 1 * USD);
        int64_t now = T + sc * DAY_NS; /* a fresh day each */
        load(now);
        struct budget_call in = call("shop", "acme", "alice", 300000000); /* $0.30 */
        struct budget_call out = call("docs", "globex", "bob", 300000000);
        struct budget_hold h[5];
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(reserve(in, now, &h[i]), LT_OK);
        ck_assert_int_eq(reserve(in, now, &h[3]), LT_BUDGET_EXHAUSTED); /* 1.20 > 1 */
        ck_assert_ptr_nonnull(strstr(msg, "may spend $1.00 per day"));
        ck_assert_int_eq(reserve(out, now, &h[3]),
                         sc == BUDGET_GLOBAL ? LT_BUDGET_EXHAUSTED : LT_OK);
        budget_settle(l, &h[3], -1);
        in.est_nusd = 100000000;
        ck_assert_int_eq(reserve(in, now, &h[4]), LT_OK); /* exactly 1.00 */
        in.est_nusd = 0;
        ck_assert_int_eq(reserve(in, now, &h[3]), LT_BUDGET_EXHAUSTED); /* at the limit */
        in.est_nusd = -1;
        ck_assert_int_eq(reserve(in, now, &h[3]), LT_BUDGET_EXHAUSTED);
        struct budget_usage u = usage(id, now);
        ck_assert_int_eq(u.reserved_nusd, 1 * USD);
        ck_assert_int_eq(u.spent_nusd, 0);
        ck_assert_int_eq(u.refused, sc == BUDGET_GLOBAL ? 4 : 3);
        ck_assert_int_eq(u.window_ns, T0 + sc * DAY_NS);
        for (int i = 0; i < 5; i++)
            if (i != 3)
                budget_settle(l, &h[i], 200000000);
        u = usage(id, now);
        ck_assert_int_eq(u.reserved_nusd, 0);
        ck_assert_int_eq(u.spent_nusd, 800000000);
        in.est_nusd = 200000000;
        ck_assert_int_eq(spend_now(in, now), LT_OK); /* the room settle gave back */
        ck_assert_int_eq(spend_now(in, now), LT_BUDGET_EXHAUSTED);
    }
}
END_TEST

START_TEST(test_refusals_say_which_rule_and_how_much)
{
    int64_t day = spend(BUDGET_USER, "alice", BUDGET_DAY, 500000000);
    int64_t hour = spend(BUDGET_GLOBAL, "", BUDGET_HOUR, 100 * USD);
    int64_t pcap = cap(BUDGET_PROJECT, "shop", 8000, -1);
    int64_t ucap = cap(BUDGET_USER, "alice", -1, 10);
    load(T);
    struct budget_hold h1, h2;
    ck_assert_int_eq(reserve(call("shop", NULL, "alice", 1200000), T, &h1), LT_OK);
    budget_record_at(l, "shop", NULL, "alice", 499000000, T - MIN_NS, T); /* spend elsewhere */
    ck_assert_int_eq(reserve(call("shop", NULL, "alice", 2000000), T, &h2), LT_BUDGET_EXHAUSTED);
    ck_assert_str_eq(msg, "budget exhausted: user alice may spend $0.50 per day; $0.4990 spent,"
                          " $0.0012 reserved, this call needs about $0.0020");
    ck_assert_int_eq(reserve(call("shop", NULL, "alice", -1), T, &h2), LT_BUDGET_EXHAUSTED);
    ck_assert_str_eq(msg, "budget exhausted: user alice may spend $0.50 per day; $0.4990 spent,"
                          " $0.0012 reserved, nothing is left for a call of unknown cost");
    struct budget_call c = call("shop", NULL, "bob", 1000000);
    c.input_tokens = 9000;
    ck_assert_int_eq(reserve(c, T, &h2), LT_BUDGET_EXHAUSTED);
    ck_assert_str_eq(msg, "request refused: about 9000 input tokens, the project cap is 8000");
    c.input_tokens = 8000;
    c.user = "alice";
    c.tool_rounds = 12;
    ck_assert_int_eq(reserve(c, T, &h2), LT_BUDGET_EXHAUSTED);
    ck_assert_str_eq(msg, "request refused: 12 tool-call rounds, the user cap is 10");
    budget_record_at(l, "docs", NULL, NULL, 99 * USD + 999900000, T, T);
    ck_assert_int_eq(reserve(call("docs", NULL, NULL, 200000), T, &h2), LT_BUDGET_EXHAUSTED);
    ck_assert_str_eq(msg, "budget exhausted: all projects together may spend $100.00 per hour;"
                          " $100.4989 spent, $0.0012 reserved, this call needs about $0.0002");
    ck_assert_int_eq(usage(day, T).refused, 2);
    ck_assert_int_eq(usage(hour, T).refused, 1);
    ck_assert_int_eq(usage(pcap, T).refused, 1);
    ck_assert_int_eq(usage(ucap, T).refused, 1);
    ck_assert_int_eq(usage(pcap, T).spent_nusd, -1);
    budget_settle(l, &h1, 1200000);
}
END_TEST

START_TEST(test_caps_refuse_single_requests_in_every_scope)
{
    cap(BUDGET_GLOBAL, "", -1, 20);
    cap(BUDGET_PROJECT, "shop", 8000, -1);
    cap(BUDGET_TENANT, "acme", 4000, -1);
    int64_t u = cap(BUDGET_USER, "alice", -1, 3);
    load(T);
    struct budget_hold h;
    struct {
        const char *tenant, *user;
        int64_t tokens;
        int rounds, ok;
        const char *why;
    } cases[] = {
        {"acme", "alice", 3000, 3, 1, NULL},
        {"acme", "alice", 4001, 0, 0, "the tenant cap is 4000"},
        {"acme", "alice", 100, 4, 0, "the user cap is 3"},
        {NULL, "bob", 100, 20, 1, NULL},
        {NULL, "bob", 100, 21, 0, "the global cap is 20"},
        {"acme", "alice", -1, 0, 1, NULL}, /* tokens unknown: no token cap applies */
        {NULL, NULL, 8000, 0, 1, NULL},
        {NULL, NULL, 8001, 0, 0, "about 8001 input tokens, the project cap is 8000"},
        {"globex", "", 7999, 0, 1, NULL}, /* "" is no user */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct budget_call c = call("shop", cases[i].tenant, cases[i].user, 1000);
        c.input_tokens = cases[i].tokens;
        c.tool_rounds = cases[i].rounds;
        int rc = reserve(c, T, &h);
        ck_assert_msg(rc == (cases[i].ok ? LT_OK : LT_BUDGET_EXHAUSTED), "case %zu: %s", i, msg);
        if (cases[i].why)
            ck_assert_msg(strstr(msg, cases[i].why), "case %zu: %s", i, msg);
        budget_settle(l, &h, 1000);
    }
    ck_assert_int_eq(usage(u, T).refused, 1);
}
END_TEST

START_TEST(test_windows_roll_over)
{
    int64_t minute = spend(BUDGET_USER, "alice", BUDGET_MINUTE, 1 * USD);
    int64_t hour = spend(BUDGET_USER, "alice", BUDGET_HOUR, 2 * USD);
    int64_t month = spend(BUDGET_TENANT, "acme", BUDGET_MONTH, 5 * USD);
    load(T);
    struct budget_call c = call("shop", NULL, "alice", 10000000); /* $0.01 */
    budget_record_at(l, "shop", NULL, "alice", 1 * USD, T, T);
    ck_assert_int_eq(spend_now(c, T + 29 * 1000000000LL), LT_BUDGET_EXHAUSTED); /* 10:20:59 */
    ck_assert_ptr_nonnull(strstr(msg, "per minute"));
    ck_assert_int_eq(spend_now(c, T + 30 * 1000000000LL), LT_OK); /* 10:21:00 */
    ck_assert_int_eq(usage(minute, T + 30000000000LL).spent_nusd, 10000000);
    ck_assert_int_eq(usage(hour, T).spent_nusd, 1010000000);
    /* times never go back: 10:20:59 again is taken as 10:21:00 */
    ck_assert_int_eq(spend_now(c, T + 29 * 1000000000LL), LT_OK);
    ck_assert_int_eq(usage(minute, T).spent_nusd, 20000000);
    c.est_nusd = 990000000;
    ck_assert_int_eq(spend_now(c, T + 90 * 1000000000LL), LT_BUDGET_EXHAUSTED); /* the hour */
    ck_assert_ptr_nonnull(strstr(msg, "per hour; $1.0200 spent"));
    ck_assert_int_eq(spend_now(c, T0 + 11 * HOUR_NS), LT_OK);
    ck_assert_int_eq(usage(hour, T0 + 11 * HOUR_NS).spent_nusd, 990000000);
    /* a month: March 31 23:59:59.9 to April 1 */
    int64_t apr1 = T0 + 30 * DAY_NS;
    struct budget_call t = call("shop", "acme", NULL, 3 * USD);
    ck_assert_int_eq(spend_now(t, apr1 - 100000000), LT_OK);
    ck_assert_int_eq(spend_now(t, apr1 - 100000000), LT_BUDGET_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(msg, "tenant acme may spend $5.00 per month; $3.0000 spent"));
    ck_assert_int_eq(spend_now(t, apr1), LT_OK);
    struct budget_usage u = usage(month, apr1);
    ck_assert_int_eq(u.window_ns, apr1);
    ck_assert_int_eq(u.spent_nusd, 3 * USD);
}
END_TEST

START_TEST(test_settle_lower_higher_and_unpriced)
{
    int64_t id = spend(BUDGET_PROJECT, "shop", BUDGET_DAY, 1 * USD);
    load(T);
    struct budget_call c = call("shop", NULL, NULL, 400000000);
    struct budget_hold h;
    ck_assert_int_eq(reserve(c, T, &h), LT_OK);
    ck_assert_int_eq(usage(id, T).reserved_nusd, 400000000);
    budget_settle(l, &h, 100000000); /* lower */
    ck_assert_int_eq(usage(id, T).reserved_nusd, 0);
    ck_assert_int_eq(usage(id, T).spent_nusd, 100000000);
    budget_settle(l, &h, 100000000); /* twice: nothing */
    ck_assert_int_eq(usage(id, T).spent_nusd, 100000000);
    ck_assert_int_eq(reserve(c, T, &h), LT_OK);
    budget_settle(l, &h, 900000000); /* higher: spent all the same */
    ck_assert_int_eq(usage(id, T).spent_nusd, 1 * USD);
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, 1), T, &h), LT_BUDGET_EXHAUSTED);
    rm(id);
    id = spend(BUDGET_PROJECT, "shop", BUDGET_DAY, 2 * USD); /* a new rule: seeded from the store */
    load(T);
    ck_assert_int_eq(usage(id, T).spent_nusd, 0); /* nothing reached the store */
    ck_assert_int_eq(reserve(c, T, &h), LT_OK);
    budget_settle(l, &h, -1); /* unpriced after all: released, nothing spent */
    ck_assert_int_eq(usage(id, T).reserved_nusd, 0);
    ck_assert_int_eq(usage(id, T).spent_nusd, 0);
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, -1), T, &h), LT_OK); /* unpriced: 0 */
    ck_assert_int_eq(usage(id, T).reserved_nusd, 0);
    budget_settle(l, &h, 300000000);
    ck_assert_int_eq(usage(id, T).spent_nusd, 300000000);
    struct budget_hold none = {0};
    budget_settle(l, &none, 5); /* an empty hold */
    budget_settle(l, NULL, 5);
    ck_assert_int_eq(usage(id, T).spent_nusd, 300000000);
}
END_TEST

START_TEST(test_settle_after_a_roll_over_counts_only_current_windows)
{
    int64_t minute = spend(BUDGET_USER, "alice", BUDGET_MINUTE, 1 * USD);
    int64_t day = spend(BUDGET_USER, "alice", BUDGET_DAY, 10 * USD);
    load(T);
    struct budget_hold a, b;
    ck_assert_int_eq(reserve(call("shop", NULL, "alice", 800000000), T, &a), LT_OK);
    ck_assert_int_eq(reserve(call("shop", NULL, "alice", 700000000), T + MIN_NS, &b), LT_OK);
    ck_assert_int_eq(usage(minute, T + MIN_NS).reserved_nusd, 700000000);
    ck_assert_int_eq(usage(day, T + MIN_NS).reserved_nusd, 1500000000);
    budget_settle(l, &a, 500000000);
    struct budget_usage m = usage(minute, T + MIN_NS), d = usage(day, T + MIN_NS);
    ck_assert_int_eq(m.spent_nusd, 0); /* a's minute is over */
    ck_assert_int_eq(m.reserved_nusd, 700000000);
    ck_assert_int_eq(d.spent_nusd, 500000000);
    ck_assert_int_eq(d.reserved_nusd, 700000000);
    budget_settle(l, &b, 700000000);
    m = usage(minute, T + MIN_NS);
    d = usage(day, T + MIN_NS);
    ck_assert_int_eq(m.spent_nusd, 700000000);
    ck_assert_int_eq(m.reserved_nusd, 0);
    ck_assert_int_eq(d.spent_nusd, 1200000000);
    ck_assert_int_eq(d.reserved_nusd, 0);
}
END_TEST

/* ---- the breaker ------------------------------------------------------------------ */

START_TEST(test_the_breaker_trips_above_factor_times_the_median_hour)
{
    int64_t H = T0 + 10 * HOUR_NS; /* this hour */
    for (int k = 1; k <= 23; k++)
        stored_span(k, H - k * HOUR_NS + 5 * MIN_NS, k == 7 ? "40" : "1"); /* one odd hour */
    load(H + 10 * MIN_NS);
    struct budget_usage u = usage(1, H + 10 * MIN_NS);
    ck_assert_int_eq(u.baseline_nusd, -1); /* 23 hours: not yet */
    ck_assert_int_eq(u.limit_nusd, -1);
    struct budget_hold h;
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, 500 * USD), H + 10 * MIN_NS, &h), LT_OK);
    budget_settle(l, &h, -1);
    stored_span(24, H - 24 * HOUR_NS, "1");
    stored_span(25, H + MIN_NS, "2"); /* this hour's spend so far, */
    budget_record_at(l, "shop", NULL, NULL, 2 * USD, H + MIN_NS, H + 10 * MIN_NS); /* as served */
    load(H + 10 * MIN_NS); /* the history reread, this hour's counter kept */
    u = usage(1, H + 10 * MIN_NS);
    ck_assert_int_eq(u.baseline_nusd, 1 * USD); /* the median ignores the odd hour */
    ck_assert_int_eq(u.limit_nusd, 5 * USD);
    ck_assert_int_eq(u.spent_nusd, 2 * USD);
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, 2 * USD), H + 20 * MIN_NS, &h), LT_OK);
    struct budget_hold h2;
    ck_assert_int_eq(reserve(call("docs", NULL, "x", USD), H + 20 * MIN_NS, &h2), LT_OK); /* $5 */
    ck_assert_int_eq(reserve(call("ops", NULL, NULL, 1000), H + 21 * MIN_NS, &h2),
                     LT_BUDGET_EXHAUSTED);
    ck_assert_str_eq(msg, "budget exhausted: the spend breaker is open: $2.0000 spent this hour,"
                          " $3.0000 reserved; the limit is 5x the hourly baseline of $1.0000"
                          " (never below $1), $5.0000; this call needs about $0.0000");
    ck_assert_int_eq(usage(1, H + 21 * MIN_NS).refused, 1);
    /* a new hour: this one joins the history, the counter starts again */
    ck_assert_int_eq(reserve(call("ops", NULL, NULL, 1000), H + HOUR_NS, &h2), LT_OK);
    budget_settle(l, &h2, 1000);
    budget_settle(l, &h, 2 * USD); /* settled after the hour: into the history */
    u = usage(1, H + HOUR_NS);
    ck_assert_int_eq(u.spent_nusd, 1000);
    ck_assert_int_eq(u.baseline_nusd, 1 * USD); /* 25 hours of $1 or more */
    /* removing the breaker removes the limit */
    rm(1);
    load(H + HOUR_NS);
    ck_assert_int_eq(reserve(call("ops", NULL, NULL, 900 * USD), H + HOUR_NS, &h2), LT_OK);
    ck_assert_int_eq(budget_ledger_usage(l, 1, H, &u), -1);
}
END_TEST

START_TEST(test_the_breaker_never_trips_below_one_dollar)
{
    int64_t H = T0 + 10 * HOUR_NS;
    for (int k = 1; k <= 30; k++)
        stored_span(k, H - k * HOUR_NS, "0.01");
    load(H);
    struct budget_usage u = usage(1, H);
    ck_assert_int_eq(u.baseline_nusd, 10000000);
    ck_assert_int_eq(u.limit_nusd, 1 * USD); /* not 5 x $0.01 */
    struct budget_hold h;
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, 900000000), H, &h), LT_OK);
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, 200000000), H, &h), LT_BUDGET_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(msg, "$1.0000; this call needs about $0.2000"));
}
END_TEST

START_TEST(test_the_breaker_learns_as_hours_pass)
{
    int64_t H = T0 + 10 * HOUR_NS;
    load(H);
    for (int k = 0; k < 30; k++) {
        int64_t now = H + k * HOUR_NS + 5 * MIN_NS;
        ck_assert_int_eq(usage(1, now).limit_nusd, k >= 24 ? 10 * USD : -1);
        budget_record_at(l, "shop", NULL, NULL, 2 * USD, now, now);
    }
    int64_t now = H + 30 * HOUR_NS;
    struct budget_usage u = usage(1, now);
    ck_assert_int_eq(u.baseline_nusd, 2 * USD);
    ck_assert_int_eq(u.limit_nusd, 10 * USD);
    budget_record_at(l, "shop", NULL, NULL, 9 * USD, now, now);
    struct budget_hold h;
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, USD), now, &h), LT_OK);
    ck_assert_int_eq(reserve(call("shop", NULL, NULL, 1), now, &h), LT_BUDGET_EXHAUSTED);
}
END_TEST

/* ---- other paths' spend ------------------------------------------------------------ */

START_TEST(test_record_counts_spend_of_the_current_windows_only)
{
    int64_t user = spend(BUDGET_USER, "alice", BUDGET_DAY, 1 * USD);
    int64_t tenant = spend(BUDGET_TENANT, "acme", BUDGET_HOUR, 1 * USD);
    int64_t project = spend(BUDGET_PROJECT, "shop", BUDGET_MINUTE, 1 * USD);
    load(T);
    budget_record_at(l, "shop", "acme", "alice", 300000000, T, T);
    ck_assert_int_eq(usage(user, T).spent_nusd, 300000000);
    ck_assert_int_eq(usage(tenant, T).spent_nusd, 300000000);
    ck_assert_int_eq(usage(project, T).spent_nusd, 300000000);
    budget_record_at(l, "shop", "acme", "alice", 100000000, T - 2 * MIN_NS, T); /* 10:18 */
    ck_assert_int_eq(usage(user, T).spent_nusd, 400000000);
    ck_assert_int_eq(usage(tenant, T).spent_nusd, 400000000);
    ck_assert_int_eq(usage(project, T).spent_nusd, 300000000);              /* an older minute */
    budget_record_at(l, "shop", "acme", "alice", 100000000, T - DAY_NS, T); /* yesterday */
    budget_record_at(l, "shop", "acme", "alice", 100000000, T + DAY_NS, T); /* tomorrow */
    budget_record_at(l, "shop", "acme", "alice", 0, T, T);
    budget_record_at(l, "shop", "acme", "alice", -5, T, T);
    ck_assert_int_eq(usage(user, T).spent_nusd, 400000000);
    budget_record_at(l, "docs", "", NULL, 100000000, T, T); /* none of them */
    budget_record_at(l, "docs", NULL, "alice", 100000000, T, T);
    ck_assert_int_eq(usage(user, T).spent_nusd, 500000000);
    ck_assert_int_eq(usage(tenant, T).spent_nusd, 400000000);
    ck_assert_int_eq(usage(project, T).spent_nusd, 300000000);
    ck_assert_int_eq(usage(1, T).spent_nusd, 600000000); /* the breaker: all of this hour */
    struct budget_hold h;
    ck_assert_int_eq(reserve(call("docs", NULL, "alice", 600000000), T, &h), LT_BUDGET_EXHAUSTED);
    budget_record(l, "shop", NULL, NULL, 1, time_now_ns()); /* the real clock: no harm */
}
END_TEST

/* ---- concurrency ------------------------------------------------------------------- */

#define E 1000000LL /* $0.001 */

struct cycler {
    int seed;
    int admitted, refused;
};

static _Atomic int64_t view;    /* the test's own in flight + settled */
static _Atomic int64_t peak;    /* the highest 'view' seen */
static _Atomic int64_t settled; /* what the test settled */

static void *cycle_thread(void *arg)
{
    struct cycler *c = arg;
    uint64_t r = (uint64_t)c->seed * 2654435761u + 1;
    char m[256];
    char user[16];
    for (int i = 0; i < 3000; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        snprintf(user, sizeof(user), "u%d", (int)(r % 50));
        struct budget_call bc = {"shop", NULL, user, E, 10, 0};
        struct budget_hold h;
        if (budget_reserve(l, &bc, T, &h, m, sizeof(m)) != LT_OK) {
            c->refused++;
            continue;
        }
        c->admitted++;
        int64_t v = atomic_fetch_add(&view, E) + E, p = atomic_load(&peak);
        while (v > p && !atomic_compare_exchange_weak(&peak, &p, v))
            ;
        int64_t actual = r % 20 == 0 ? E : r % 20 == 1 ? E / 2 : -1;
        int64_t spent = actual > 0 ? actual : 0;
        atomic_fetch_add(&settled, spent);
        atomic_fetch_add(&view, spent - E); /* before the ledger gives the room back */
        budget_settle(l, &h, actual);
    }
    return NULL;
}

START_TEST(test_concurrent_cycles_never_pass_the_limit)
{
    int64_t id = spend(BUDGET_PROJECT, "shop", BUDGET_DAY, 200 * E);
    load(T);
    atomic_store(&view, 0);
    atomic_store(&peak, 0);
    atomic_store(&settled, 0);
    pthread_t th[64];
    struct cycler c[64];
    for (int i = 0; i < 64; i++) {
        c[i] = (struct cycler){i + 1, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, cycle_thread, &c[i]), 0);
    }
    int admitted = 0, refused = 0;
    for (int i = 0; i < 64; i++) {
        pthread_join(th[i], NULL);
        admitted += c[i].admitted;
        refused += c[i].refused;
    }
    struct budget_usage u = usage(id, T);
    int64_t top = atomic_load(&peak), total = atomic_load(&settled);
    ck_assert_int_le(top, 200 * E);
    ck_assert_int_gt(top, 150 * E); /* it did get close */
    ck_assert_int_eq(u.spent_nusd, total);
    ck_assert_int_le(u.spent_nusd, 200 * E);
    ck_assert_int_eq(u.reserved_nusd, 0);
    ck_assert_int_eq(admitted + refused, 64 * 3000);
    ck_assert_int_gt(admitted, 1000);
    ck_assert_int_gt(refused, 1000);
    ck_assert_int_eq((int)u.refused, refused);
}
END_TEST

#define CALLERS 1000

static pthread_barrier_t gate;
static struct budget_hold holds[CALLERS];
static int admitted_at_once[CALLERS];

static void *one_call(void *arg)
{
    int i = (int)(intptr_t)arg;
    char m[256];
    struct budget_call bc = {"shop", "acme", "alice", 5 * E, 10, 0};
    pthread_barrier_wait(&gate);
    admitted_at_once[i] = budget_reserve(l, &bc, T, &holds[i], m, sizeof(m)) == LT_OK;
    return NULL;
}

START_TEST(test_a_thousand_calls_at_once_against_room_for_100_admit_exactly_100)
{
    int64_t id = spend(BUDGET_GLOBAL, "", BUDGET_HOUR, 100 * 5 * E);
    load(T);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    static pthread_t th[CALLERS];
    for (int round = 0; round < 5; round++) {
        ck_assert_int_eq(pthread_barrier_init(&gate, NULL, CALLERS), 0);
        for (int i = 0; i < CALLERS; i++)
            ck_assert_int_eq(pthread_create(&th[i], &attr, one_call, (void *)(intptr_t)i), 0);
        int n = 0;
        for (int i = 0; i < CALLERS; i++) {
            pthread_join(th[i], NULL);
            n += admitted_at_once[i];
        }
        pthread_barrier_destroy(&gate);
        ck_assert_int_eq(n, 100);
        ck_assert_int_eq(usage(id, T).reserved_nusd, 100 * 5 * E);
        for (int i = 0; i < CALLERS; i++)
            budget_settle(l, &holds[i], -1); /* the refused holds are empty */
        ck_assert_int_eq(usage(id, T).reserved_nusd, 0);
        ck_assert_int_eq(usage(id, T).spent_nusd, 0);
    }
    pthread_attr_destroy(&attr);
    ck_assert_int_eq(usage(id, T).refused, 5 * 900);
}
END_TEST

/* ---- the admin API ------------------------------------------------------------------ */

static int admin(const char *method, const char *body, struct buf *out, char *err, size_t errlen)
{
    buf_reset(out);
    return budget_admin(l, ts.w, method, body, body ? strlen(body) : 0, out, err, errlen);
}

START_TEST(test_admin_sets_lists_removes_and_keeps_what_is_in_flight)
{
    char err[512];
    struct buf out;
    buf_init(&out, 0);
    int64_t now = time_now_ns();
    load(now);
    ck_assert_int_eq(
        admin("POST",
              "{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"alice\",\"per\":\"day\","
              "\"usd\":\"0.50\"}",
              &out, err, sizeof(err)),
        LT_OK);
    ck_assert_str_eq(buf_str(&out), "{\"status\":\"ok\",\"id\":2}");
    struct budget_hold h;
    now = time_now_ns();
    ck_assert_int_eq(reserve(call("shop", NULL, "alice", 200000000), now, &h), LT_OK);
    ck_assert_int_eq(admin("POST",
                           "{\"op\":\"set\",\"scope\":\"project\",\"subject\":\"shop\","
                           "\"max_input_tokens\":8000}",
                           &out, err, sizeof(err)),
                     LT_OK);
    ck_assert_int_eq(admin("POST",
                           "{\"op\":\"set\",\"kind\":\"spend\",\"scope\":\"user\","
                           "\"subject\":\"alice\",\"per\":\"day\",\"usd\":1}",
                           &out, err, sizeof(err)),
                     LT_OK);
    ck_assert_str_eq(buf_str(&out), "{\"status\":\"ok\",\"id\":2}"); /* replaced in place */
    struct budget_usage u = usage(2, time_now_ns());
    ck_assert_int_eq(u.reserved_nusd, 200000000); /* kept across both reloads */
    ck_assert_int_eq(u.limit_nusd, 1 * USD);
    ck_assert_int_eq(
        admin("POST", "{\"op\":\"set\",\"scope\":\"global\",\"factor\":3}", &out, err, sizeof(err)),
        LT_OK);
    ck_assert_int_eq(admin("GET", NULL, &out, err, sizeof(err)), LT_OK);
    ck_assert_ptr_nonnull(strstr(buf_str(&out), "{\"budgets\":[{\"id\":1,\"scope\":\"global\","
                                                "\"subject\":\"\",\"kind\":\"breaker\","
                                                "\"per\":\"hour\",\"usd\":null,"));
    ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"factor\":3,"));
    ck_assert_ptr_nonnull(strstr(buf_str(&out),
                                 "{\"id\":2,\"scope\":\"user\",\"subject\":\"alice\",\"kind\":"
                                 "\"spend\",\"per\":\"day\",\"usd\":1,\"max_input_tokens\":null,"
                                 "\"max_tool_rounds\":null,\"factor\":null,\"spent_usd\":0,"
                                 "\"reserved_usd\":0.2,\"refused\":0,\"window_start\":\""));
    ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"kind\":\"cap\",\"per\":null,\"usd\":null,"
                                                "\"max_input_tokens\":8000,"
                                                "\"max_tool_rounds\":null"));
    budget_settle(l, &h, 150000000);
    ck_assert_int_eq(admin("POST", "{\"op\":\"rm\",\"id\":2}", &out, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(budget_ledger_usage(l, 2, time_now_ns(), &u), -1);
    ck_assert_int_eq(admin("POST", "{\"op\":\"rm\",\"id\":2}", &out, err, sizeof(err)),
                     LT_NOT_FOUND);
    ck_assert_str_eq(err, "no budget rule 2");
    ck_assert_int_eq(budget_admin(l, NULL, "POST", "{}", 2, &out, err, sizeof(err)),
                     LT_UNAVAILABLE);
    buf_release(&out);
}
END_TEST

START_TEST(test_admin_refuses_bad_rules_with_a_clear_message)
{
    char long_subject[400];
    char body[600];
    memset(long_subject, 'x', 300);
    long_subject[300] = '\0';
    load(time_now_ns());
    struct {
        const char *body, *why;
    } cases[] = {
        {"nope", "JSON"},
        {"[]", "must be a JSON object"},
        {"{}", "op must be"},
        {"{\"op\":\"grow\"}", "op must be"},
        {"{\"op\":\"set\",\"scope\":\"team\",\"per\":\"day\",\"usd\":1}", "scope must be"},
        {"{\"op\":\"set\",\"per\":\"day\",\"usd\":1}", "scope must be"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"week\",\"usd\":1}",
         "per must be minute, hour, day or month"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\",\"usd\":-1}",
         "usd must be"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\",\"usd\":1e12}",
         "usd must be"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\","
         "\"usd\":\"0.0000000001\"}",
         "usd must be"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\"}", "needs usd"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"per\":\"day\",\"usd\":1}", "needs the user"},
        {"{\"op\":\"set\",\"scope\":\"global\",\"subject\":\"x\",\"per\":\"day\",\"usd\":1}",
         "a global budget has no subject"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":7,\"per\":\"day\",\"usd\":1}",
         "subject must be a string"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\",\"usd\":1,"
         "\"max_input_tokens\":5}",
         "a rule is one of"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\"}", "a rule is one of"},
        {"{\"op\":\"set\",\"kind\":\"cap\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\","
         "\"usd\":1}",
         "a rule is one of"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"max_input_tokens\":-3}",
         "whole number"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"max_input_tokens\":0}",
         "max input tokens must be from 1"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"max_tool_rounds\":1000000}",
         "max tool rounds must be from 0"},
        {"{\"op\":\"set\",\"scope\":\"project\",\"subject\":\"a\",\"factor\":5}",
         "the breaker is global"},
        {"{\"op\":\"set\",\"scope\":\"global\",\"factor\":5000}", "factor must be from 1 to 1000"},
        {"{\"op\":\"set\",\"scope\":\"global\",\"factor\":\"5\"}", "factor must be"},
        {"{\"op\":\"set\",\"scope\":\"user\",\"subject\":\"a\",\"per\":\"day\",\"usd\":1,"
         "\"color\":\"red\"}",
         "unknown member \"color\""},
        {"{\"op\":\"rm\"}", "rm needs id"},
        {"{\"op\":\"rm\",\"id\":-4}", "rm needs id"},
        {body, "longer than 256 bytes"},
    };
    snprintf(body, sizeof(body),
             "{\"op\":\"set\",\"scope\":\"tenant\",\"subject\":\"%s\",\"per\":\"day\",\"usd\":1}",
             long_subject);
    struct buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512] = "";
        int rc = admin("POST", cases[i].body, &out, err, sizeof(err));
        ck_assert_msg(rc == LT_INVALID_INPUT, "case %zu: %d %s", i, rc, err);
        ck_assert_msg(strstr(err, cases[i].why), "case %zu: '%s' lacks '%s'", i, err, cases[i].why);
    }
    buf_release(&out);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM budgets"), 1); /* nothing written */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("budget");
    TCase *tc = tcase_create("ledger");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_spend_rules_admit_up_to_the_limit_in_every_scope);
    tcase_add_test(tc, test_refusals_say_which_rule_and_how_much);
    tcase_add_test(tc, test_caps_refuse_single_requests_in_every_scope);
    tcase_add_test(tc, test_windows_roll_over);
    tcase_add_test(tc, test_settle_lower_higher_and_unpriced);
    tcase_add_test(tc, test_settle_after_a_roll_over_counts_only_current_windows);
    tcase_add_test(tc, test_the_breaker_trips_above_factor_times_the_median_hour);
    tcase_add_test(tc, test_the_breaker_never_trips_below_one_dollar);
    tcase_add_test(tc, test_the_breaker_learns_as_hours_pass);
    tcase_add_test(tc, test_record_counts_spend_of_the_current_windows_only);
    tcase_add_test(tc, test_concurrent_cycles_never_pass_the_limit);
    tcase_add_test(tc, test_a_thousand_calls_at_once_against_room_for_100_admit_exactly_100);
    tcase_add_test(tc, test_admin_sets_lists_removes_and_keeps_what_is_in_flight);
    tcase_add_test(tc, test_admin_refuses_bad_rules_with_a_clear_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
