/*
 * `llmtap alert` and the alert engine end to end: a real server (its
 * engine evaluating every second, its webhooks signed with a secret from a
 * file) and a webhook receiver in this process (CivetWeb) that records
 * every request's headers and body and can answer 503 for a while.
 * Proves: a spend spike ingested over the native API fires a signed
 * webhook within one evaluation cycle; back to normal it is RESOLVED with
 * the same dedup key, with no traffic the rule goes NO_DATA, and the next
 * spike is a new firing with a new key; a receiver that answers 503 gets
 * the same body again after 1 s, 2 s, then its Retry-After (6 s, over the
 * backoff's 4 s), and a dead one is retried with
 * each attempt's transport error recorded; an anomaly rule with planted
 * weekly history fires on a spike and one with too little history does
 * not; the /alerts page shows states and attempts; usage errors exit 2;
 * `alert test` without a server signs with the secret `alert secret` prints.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "core/sha256.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "tests/support/httpc.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

#define SECRET "s3cret-for-tests"
#define MAX_HOOKS 64
#define WEEK_NS (7 * 86400000000000LL)
#define SEC_NS 1000000000LL

/* ---- the webhook receiver ---------------------------------------------------- */

struct hook {
    char path[128], sig[128], key[128], event[32];
    char *body;
    int64_t at_ns; /* when it arrived (monotonic) */
};

static struct {
    pthread_mutex_t mu;
    struct mg_context *ctx;
    int port;
    int fail_left;   /* answer 503 to this many requests first */
    int retry_after; /* the request (1-based) whose 503 says Retry-After: 6 */
    int n;
    struct hook hooks[MAX_HOOKS];
} rx = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void copy_header(struct mg_connection *c, const char *name, char *dst, size_t n)
{
    const char *v = mg_get_header(c, name);
    snprintf(dst, n, "%s", v ? v : "");
}

static int on_hook(struct mg_connection *c, void *cb)
{
    (void)cb;
    struct hook h;
    memset(&h, 0, sizeof(h));
    h.at_ns = time_mono_ns();
    snprintf(h.path, sizeof(h.path), "%s", mg_get_request_info(c)->local_uri);
    copy_header(c, "X-LLMTap-Signature", h.sig, sizeof(h.sig));
    copy_header(c, "X-LLMTap-Dedup-Key", h.key, sizeof(h.key));
    copy_header(c, "X-LLMTap-Event", h.event, sizeof(h.event));
    size_t cap = 1 << 16, len = 0;
    h.body = xmalloc(cap + 1);
    int got;
    while (len < cap && (got = mg_read(c, h.body + len, cap - len)) > 0)
        len += (size_t)got;
    h.body[len] = '\0';
    pthread_mutex_lock(&rx.mu);
    int fail = rx.fail_left > 0, slow = fail && rx.n + 1 == rx.retry_after;
    rx.fail_left -= fail;
    if (rx.n < MAX_HOOKS)
        rx.hooks[rx.n++] = h;
    else
        free(h.body);
    pthread_mutex_unlock(&rx.mu);
    const char *answer = fail ? "down" : "ok";
    mg_printf(c,
              "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s"
              "Connection: close\r\n\r\n%s",
              fail ? "503 Service Unavailable" : "200 OK", strlen(answer),
              slow ? "Retry-After: 6\r\n" : "", answer);
    return fail ? 503 : 200;
}

static void rx_start(void)
{
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", NULL};
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof(cbs));
    mg_init_library(0);
    rx.ctx = mg_start(&cbs, NULL, opts);
    ck_assert_ptr_nonnull(rx.ctx);
    mg_set_request_handler(rx.ctx, "/hook", on_hook, NULL);
    struct mg_server_port ports[2];
    ck_assert_int_ge(mg_get_server_ports(rx.ctx, 2, ports), 1);
    rx.port = ports[0].port;
    rx.n = 0;
    rx.fail_left = 0;
    rx.retry_after = 0;
}

static void rx_stop(void)
{
    if (rx.ctx)
        mg_stop(rx.ctx);
    rx.ctx = NULL;
    for (int i = 0; i < rx.n; i++)
        free(rx.hooks[i].body);
    rx.n = 0;
}

static int rx_count(void)
{
    pthread_mutex_lock(&rx.mu);
    int n = rx.n;
    pthread_mutex_unlock(&rx.mu);
    return n;
}

/* A time bound in ms: as given, five times longer when the server or this
 * test runs under a wrapper (valgrind). */
static int bound(int ms)
{
    const char *w = getenv("LLMTAP_SERVER_WRAPPER"), *vg = getenv("VALGRIND");
    return (w && *w) || (vg && strcmp(vg, "1") == 0) ? 5 * ms : ms;
}

/* Wait up to 'ms' for 'n' requests to have arrived; 1 when they did. */
static int rx_wait(int n, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (rx_count() >= n)
            return 1;
        usleep(20000);
    }
    return rx_count() >= n;
}

/* Request 'i' whose path is 'path' (NULL: any), or NULL. */
static struct hook *rx_find(const char *path, int nth)
{
    int seen = 0;
    pthread_mutex_lock(&rx.mu);
    struct hook *found = NULL;
    for (int i = 0; i < rx.n && !found; i++)
        if (!path || strcmp(rx.hooks[i].path, path) == 0)
            if (seen++ == nth)
                found = &rx.hooks[i];
    pthread_mutex_unlock(&rx.mu);
    return found;
}

/* The signature header is the HMAC of the body under SECRET. */
static void assert_signed(const struct hook *h, const char *secret)
{
    char hex[2 * SHA256_LEN + 1], want[80];
    sha256_hmac_hex(secret, strlen(secret), h->body, strlen(h->body), hex);
    snprintf(want, sizeof(want), "sha256=%s", hex);
    ck_assert_str_eq(h->sig, want);
}

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ---- fixtures ------------------------------------------------------------------- */

static char *dir, *db, *secret_file;
static struct srv server;
static int span_seq;

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/alert.db", dir);
    secret_file = tu_put_file(dir, "secret", SECRET "\n");
    memset(&server, 0, sizeof(server));
    span_seq = 0;
    rx_start();
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    rx_stop();
    tu_rmtree(dir);
    free(db);
    free(dir);
    free(secret_file);
}

#define llmtap(out, err, ...) tu_llmtap_run(dir, (out), (err), __VA_ARGS__)

static void start_server(void)
{
    const char *extra[] = {"--alert-interval", "1s", "--webhook-secret-file", secret_file, NULL};
    ck_assert_int_eq(srv_start(&server, db, extra), 0);
}

/* POST one span of 'project' costing 'usd' that started at 'start_ns'. */
static void post_span(const char *project, double usd, int64_t start_ns)
{
    char body[512];
    int n = ++span_seq;
    snprintf(body, sizeof(body),
             "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"kind\":\"llm\",\"model\":\"m\","
             "\"project\":\"%s\",\"start_ns\":\"%lld\",\"end_ns\":\"%lld\",\"cost_usd\":%.6f}",
             (unsigned)n, (unsigned)n, project, (long long)start_ns,
             (long long)(start_ns + 200000000LL), usd);
    struct httpc_request req = {.method = "POST",
                                .path = "/api/v1/spans",
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    httpc_response_release(&r);
}

static void add_rule(const char *args)
{
    char *err = NULL;
    int rc = llmtap(NULL, &err, "alert add %s --db '%s'", args, db);
    ck_assert_msg(rc == 0, "alert add %s: %s", args, err ? err : "");
    free(err);
}

/* The rule's state column now. */
static char *rule_state(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT state FROM alert_rules WHERE name = '%s'", name);
    char *out = srv_query(db, sql);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* Wait up to 'ms' for rule 'name' to be in 'state'. */
static int wait_state(const char *name, const char *state, int ms)
{
    char want[64];
    snprintf(want, sizeof(want), "\"%s\"", state);
    for (int i = 0; i < ms / 200; i++) {
        char *s = rule_state(name);
        int ok = strstr(s, want) != NULL;
        free(s);
        if (ok)
            return 1;
        usleep(200000);
    }
    return 0;
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(test_spike_fires_signed_resolves_goes_no_data_and_fires_anew)
{
    start_server();
    char args[512];
    snprintf(args, sizeof(args),
             "spike --metric spend --project shop --window 10s --above 1"
             " --webhook http://127.0.0.1:%d/hook/spike",
             rx.port);
    add_rule(args);
    int64_t t0 = time_mono_ns();
    post_span("shop", 5.0, time_now_ns() - SEC_NS);
    /* one cycle is 1 s; the commit, one evaluation and the POST fit in 2 s more */
    ck_assert_msg(rx_wait(1, bound(3000)), "no webhook within 3 s");
    struct hook *h = rx_find(NULL, 0);
    ck_assert_int_le((h->at_ns - t0) / 1000000, bound(3000));
    ck_assert_str_eq(h->path, "/hook/spike");
    ck_assert_str_eq(h->event, "FIRING");
    assert_signed(h, SECRET);
    cJSON *j = cJSON_Parse(h->body);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(jstr(j, "rule"), "spike");
    ck_assert_str_eq(jstr(j, "state"), "FIRING");
    ck_assert_str_eq(jstr(j, "metric"), "spend");
    ck_assert_str_eq(jstr(j, "scope"), "project");
    ck_assert_str_eq(jstr(j, "subject"), "shop");
    ck_assert_str_eq(jstr(j, "window"), "10s");
    ck_assert_str_eq(jstr(j, "link"), "/alerts?rule=spike");
    ck_assert_double_eq_tol(jnum(j, "value"), 5.0, 1e-9);
    ck_assert_double_eq_tol(jnum(j, "threshold"), 1.0, 1e-9);
    ck_assert_str_eq(jstr(j, "dedup_key"), h->key);
    ck_assert_ptr_nonnull(strstr(jstr(j, "text"), "[FIRING] spike"));
    ck_assert_ptr_nonnull(jstr(j, "time"));
    char first_key[128];
    snprintf(first_key, sizeof(first_key), "%s", h->key);
    cJSON_Delete(j);

    /* cheap traffic keeps flowing; the $5 span leaves the 10 s window */
    for (int i = 0; i < 20 && rx_count() < 2; i++) {
        post_span("shop", 0.01, time_now_ns());
        usleep(700000);
    }
    ck_assert_int_eq(rx_count(), 2);
    h = rx_find(NULL, 1);
    ck_assert_str_eq(h->event, "RESOLVED");
    ck_assert_str_eq(h->key, first_key);
    assert_signed(h, SECRET);
    ck_assert_ptr_nonnull(strstr(h->body, "\"state\":\"RESOLVED\""));
    ck_assert_msg(wait_state("spike", "OK", bound(3000)), "RESOLVED is followed by OK");

    /* no traffic at all: NO_DATA once the cheap spans age out (not delivered) */
    ck_assert_msg(wait_state("spike", "NO_DATA", 15000), "no NO_DATA without traffic");
    ck_assert_int_eq(rx_count(), 2);

    /* the next spike is a new firing with a new key */
    post_span("shop", 7.0, time_now_ns());
    ck_assert(rx_wait(3, bound(3000)));
    h = rx_find(NULL, 2);
    ck_assert_str_eq(h->event, "FIRING");
    ck_assert_str_ne(h->key, first_key);

    char *out =
        srv_query(db, "SELECT group_concat(to_state, ',') FROM"
                      " (SELECT to_state FROM alert_events WHERE rule = 'spike' ORDER BY id)");
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(strstr(out, "FIRING,RESOLVED,OK,NO_DATA,FIRING"));
    free(out);

    struct httpc_request req = {.method = "GET", .path = "/alerts"};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, ">spike</a>"));
    ck_assert_ptr_nonnull(strstr(r.body, "state-FIRING"));
    ck_assert_ptr_nonnull(strstr(r.body, ">1 firing</span>"));
    ck_assert_ptr_nonnull(strstr(r.body, "HTTP 200"));
    ck_assert_ptr_nonnull(strstr(r.body, "global-spend-spike")); /* the seed's default */
    ck_assert_ptr_nonnull(strstr(r.body, "aria-current=\"page\">Alerts</a>"));
    httpc_response_release(&r);

    /* the overview lists the newest state changes: the last one is the refiring */
    req.path = "/";
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    const char *recent = strstr(r.body, "Recent alerts");
    ck_assert_ptr_nonnull(recent);
    const char *row = strstr(recent, "href=\"/alerts?rule=spike\">spike</a>");
    ck_assert_ptr_nonnull(row);
    ck_assert_ptr_nonnull(strstr(row, "state-FIRING"));
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_a_down_receiver_is_retried_with_backoff_and_every_attempt_kept)
{
    start_server();
    rx.fail_left = 3;
    rx.retry_after = 3;
    char args[512];
    snprintf(args, sizeof(args),
             "flaky --metric calls --project p1 --window 10s --above 0"
             " --webhook http://127.0.0.1:%d/hook/flaky",
             rx.port);
    add_rule(args);
    add_rule("dead --metric calls --project p1 --window 10s --above 0"
             " --webhook http://127.0.0.1:1/nothing-listens");
    add_rule("hostile --metric calls --tenant '<script>alert(1)</script>' --window 1h --above 5");
    post_span("p1", 0.5, time_now_ns());
    ck_assert_msg(rx_wait(4, 16000), "4 attempts expected, got %d", rx_count());
    struct hook *a = rx_find(NULL, 0), *b = rx_find(NULL, 1), *c = rx_find(NULL, 2);
    struct hook *d = rx_find(NULL, 3);
    ck_assert_int_ge((b->at_ns - a->at_ns) / 1000000, 900);  /* 1 s */
    ck_assert_int_ge((c->at_ns - b->at_ns) / 1000000, 1900); /* then 2 s */
    ck_assert_int_ge((d->at_ns - c->at_ns) / 1000000, 5900); /* Retry-After: 6 over 4 s */
    ck_assert_int_le((d->at_ns - a->at_ns) / 1000000, bound(11000));
    ck_assert_str_eq(a->body, d->body); /* the same body, */
    ck_assert_str_eq(a->key, d->key);   /* the same key */
    assert_signed(d, SECRET);
    usleep(500000); /* the last outcome is recorded */
    char *out = srv_query(db, "SELECT group_concat(attempt || ':' || coalesce(status, 0) || ':'"
                              " || outcome, ',') FROM (SELECT * FROM alert_deliveries"
                              " WHERE rule = 'flaky' ORDER BY id)");
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "1:503:retry,2:503:retry,3:503:retry,4:200:ok"), "%s", out);
    free(out);
    /* the dead receiver: transport errors, each attempt a row, spaced out */
    int64_t attempts = 0;
    for (int i = 0; i < 30 && attempts < 3; i++, usleep(100000))
        ck_assert_int_eq(srv_query_int(db,
                                       "SELECT count(*) FROM alert_deliveries WHERE rule = 'dead'"
                                       " AND time_ns IS NOT NULL",
                                       &attempts),
                         0);
    out = srv_query(db, "SELECT count(*), min(error), max(time_ns) - min(time_ns) FROM"
                        " alert_deliveries WHERE rule = 'dead' AND time_ns IS NOT NULL");
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "onnect"), "%s", out);
    free(out);
    ck_assert_int_ge(attempts, 3);
    ck_assert_int_le(attempts, 6);
    char *list = NULL;
    ck_assert_int_eq(llmtap(&list, NULL, "alert list --db '%s'", db), 0);
    ck_assert_ptr_nonnull(strstr(list, "HTTP 503"));
    ck_assert_ptr_nonnull(strstr(list, "retry"));
    ck_assert_ptr_nonnull(strstr(list, "FIRING"));
    free(list);
    struct httpc_request req = {.method = "GET", .path = "/alerts"};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "HTTP 503"));
    ck_assert_ptr_nonnull(strstr(r.body, "onnect"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_null(strstr(r.body, "<script>"));
    ck_assert_ptr_null(strstr(r.body, "/hook/flaky")); /* a webhook's path is not shown */
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_anomaly_fires_with_weekly_history_and_learns_without)
{
    start_server();
    int64_t now = time_now_ns();
    for (int k = 1; k <= 4; k++) /* the same minute 1..4 weeks ago; week 4 an outlier */
        post_span("anom", k == 4 ? 100.0 : 1.0, now - k * WEEK_NS - 20 * SEC_NS);
    for (int k = 1; k <= 2; k++) /* two weeks only: still learning */
        post_span("young", 1.0, now - k * WEEK_NS - 20 * SEC_NS);
    char args[512];
    snprintf(args, sizeof(args),
             "anom --metric spend --project anom --window 1m --anomaly"
             " --webhook http://127.0.0.1:%d/hook/anom",
             rx.port);
    add_rule(args);
    snprintf(args, sizeof(args),
             "young --metric spend --project young --window 1m --anomaly --factor 5"
             " --webhook http://127.0.0.1:%d/hook/young",
             rx.port);
    add_rule(args);
    post_span("anom", 4.0, time_now_ns()); /* 4x the median: not yet */
    post_span("young", 10.0, time_now_ns());
    sleep(3);
    ck_assert_int_eq(rx_count(), 0);
    post_span("anom", 6.0, time_now_ns()); /* now $10: 10x the median of $1 */
    ck_assert_msg(rx_wait(1, bound(3000)), "the anomaly did not fire");
    struct hook *h = rx_find(NULL, 0);
    ck_assert_str_eq(h->path, "/hook/anom");
    assert_signed(h, SECRET);
    cJSON *j = cJSON_Parse(h->body);
    ck_assert_str_eq(jstr(j, "mode"), "anomaly");
    ck_assert_double_eq_tol(jnum(j, "baseline"), 1.0, 1e-9); /* the outlier week ignored */
    ck_assert_double_eq_tol(jnum(j, "factor"), 5.0, 1e-9);
    ck_assert_double_eq_tol(jnum(j, "value"), 10.0, 1e-9);
    cJSON_Delete(j);
    sleep(2);
    ck_assert_ptr_null(rx_find("/hook/young", 0));
    char *s = rule_state("young");
    ck_assert_ptr_nonnull(strstr(s, "\"OK\""));
    free(s);
    char *out = srv_query(db, "SELECT last_value, last_baseline FROM alert_rules"
                              " WHERE name = 'young'");
    ck_assert_ptr_nonnull(strstr(out, "\"last_baseline\":null"));
    free(out);
}
END_TEST

START_TEST(test_usage_errors_and_a_test_delivery_without_a_server)
{
    static const char *const bad[] = {
        "alert",
        "alert add x --metric joy --window 1h --above 1",
        "alert add x --metric spend --window 1h",
        "alert add x --metric spend --window 1h --above 1 --anomaly",
        "alert add x --metric spend --window soon --above 1",
        "alert add x --metric spend --window 1h --above 1 --project a --user b",
        "alert add x --metric spend --window 1h --above 1 --webhook ftp://h/x",
        "alert add x --metric spend --window 1s --above 1",
        "alert add 'bad name' --metric spend --window 1h --above 1",
        "alert add x --metric error_rate --window 1h --above 150%",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        ck_assert_msg(llmtap(NULL, &err, "%s --db '%s'", bad[i], db) == 2, "%s", bad[i]);
        ck_assert_msg(strstr(err, "llmtap alert") || strstr(err, "usage:"), "%s: %s", bad[i], err);
        free(err);
    }
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(llmtap(NULL, &err, "alert rm nothing --db '%s'", db), 1);
    ck_assert_ptr_nonnull(strstr(err, "no alert rule named 'nothing'"));
    free(err);
    char args[512];
    snprintf(args, sizeof(args),
             "t1 --metric error_rate --window 5m --above 5%% --webhook http://127.0.0.1:%d/hook/t",
             rx.port);
    add_rule(args);
    ck_assert_int_eq(llmtap(&out, NULL, "alert secret --db '%s'", db), 0);
    char secret[80];
    ck_assert_int_eq(strlen(out), 65);
    snprintf(secret, sizeof(secret), "%.64s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "alert test t1 --db '%s'", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "HTTP 200"));
    free(out);
    ck_assert_int_eq(rx_count(), 1);
    struct hook *h = rx_find(NULL, 0);
    ck_assert_str_eq(h->event, "TEST");
    assert_signed(h, secret);
    ck_assert_ptr_nonnull(strstr(h->body, "\"threshold\":0.050000000000000003"));
    ck_assert_int_eq(llmtap(&out, NULL, "alert list --json --db '%s'", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"name\":\"t1\""));
    ck_assert_ptr_nonnull(strstr(out, "\"name\":\"global-spend-spike\""));
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "alert rm t1 --db '%s'", db), 0);
    ck_assert_str_eq(out, "alert t1 removed\n");
    free(out);
    rx.fail_left = 1;
    ck_assert_int_eq(llmtap(NULL, &err, "alert test global-spend-spike --db '%s'", db), 1);
    ck_assert_ptr_nonnull(strstr(err, "has no webhook"));
    free(err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alert_cli");
    TCase *tc = tcase_create("alert_cli");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_spike_fires_signed_resolves_goes_no_data_and_fires_anew);
    tcase_add_test(tc, test_a_down_receiver_is_retried_with_backoff_and_every_attempt_kept);
    tcase_add_test(tc, test_anomaly_fires_with_weekly_history_and_learns_without);
    tcase_add_test(tc, test_usage_errors_and_a_test_delivery_without_a_server);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
