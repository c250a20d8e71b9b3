/*
 * GET /metrics over real HTTP (issue 7 item 6): every sample line is valid
 * Prometheus text; ingest requests and errors are counted by route and
 * status; the commit histogram is cumulative and counts every commit; spend
 * and tokens by project and model equal what the spans hold (labels
 * escaped); a budget's remaining spend and the alert rules' states are
 * listed.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "core/xmem.h"
#include "tests/support/httpc.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct srv server;

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/m.db", dir);
    memset(&server, 0, sizeof(server));
    static const char *const extra[] = {"--alert-interval", "1s", NULL};
    ck_assert_int_eq(srv_start(&server, db, extra), 0);
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

static int post(const char *path, const char *body)
{
    struct httpc_request req = {.method = "POST",
                                .path = path,
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 30000, &r), HTTPC_OK);
    int status = r.status;
    httpc_response_release(&r);
    return status;
}

static char *scrape(void)
{
    struct httpc_request get = {.method = "GET", .path = "/metrics"};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &get, 30000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    char *body = xstrdup(r.body);
    httpc_response_release(&r);
    return body;
}

/* The value of the sample line that starts with 'series' (name and labels
 * exactly as printed), or NAN when there is none. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

/* name{label="value",...} number: a label value may hold \\, \" and \n. */
static int valid_line(const char *line, size_t len)
{
    size_t i = 0;
    if (i >= len || !(isalpha((unsigned char)line[i]) || line[i] == '_' || line[i] == ':'))
        return 0;
    while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == ':'))
        i++;
    if (i < len && line[i] == '{') {
        i++;
        while (i < len && line[i] != '}') {
            while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '_'))
                i++;
            if (i + 1 >= len || line[i] != '=' || line[i + 1] != '"')
                return 0;
            for (i += 2; i < len && line[i] != '"'; i++)
                if (line[i] == '\\' && (++i >= len || !strchr("\\\"n", line[i])))
                    return 0;
            if (++i < len && line[i] == ',')
                i++;
        }
        if (i >= len)
            return 0;
        i++;
    }
    if (i >= len || line[i] != ' ')
        return 0;
    char *end = NULL;
    char num[64];
    snprintf(num, sizeof(num), "%.*s", (int)(len - i - 1), line + i + 1);
    strtod(num, &end);
    return (end && *end == '\0' && end != num) || strcmp(num, "+Inf") == 0;
}

static void assert_valid_exposition(const char *text)
{
    int lines = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        ck_assert_msg(nl != NULL, "the exposition does not end with a newline");
        if (*p != '#') {
            ck_assert_msg(valid_line(p, (size_t)(nl - p)), "not a sample line: %.*s", (int)(nl - p),
                          p);
            lines++;
        }
        p = nl + 1;
    }
    ck_assert_int_gt(lines, 20);
}

static char *span_json(int i, const char *project, const char *model, const char *cost, int in,
                       int out)
{
    int64_t now = time_now_ns();
    return xasprintf("{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"project\":\"%s\","
                     "\"kind\":\"llm\",\"model\":\"%s\",\"start_ns\":\"%" PRId64
                     "\",\"end_ns\":\"%" PRId64 "\",\"cost_usd\":%s,"
                     "\"usage\":{\"input_tokens\":%d,\"output_tokens\":%d}}",
                     i + 1, i + 1, project, model, now - 2000000000, now - 1000000000, cost, in,
                     out);
}

START_TEST(test_counts_spend_budgets_and_alert_states)
{
    static const struct {
        const char *project, *model, *cost;
        int in, out;
    } spans[] = {{"shop", "gpt-4o-mini", "0.25", 100, 10},
                 {"shop", "gpt-4o-mini", "0.5", 200, 20},
                 {"shop", "claude-3-5-haiku", "1.125", 300, 30},
                 {"we\\\"ird\\\\", "gpt-4o-mini", "2", 5, 1}};
    for (int i = 0; i < 4; i++) {
        char *j = span_json(i, spans[i].project, spans[i].model, spans[i].cost, spans[i].in,
                            spans[i].out);
        ck_assert_int_eq(post("/api/v1/spans", j), 200);
        free(j);
    }
    ck_assert_int_eq(post("/api/v1/spans", "{not json"), 400);
    ck_assert_int_eq(post("/v1/traces", "{\"resourceSpans\":[]}"), 200);
    ck_assert_int_eq(post("/api/v1/admin/budgets",
                          "{\"op\":\"set\",\"scope\":\"project\",\"subject\":\"shop\","
                          "\"per\":\"day\",\"usd\":10}"),
                     200);

    /* a static rule the spend above breaks: FIRING within a cycle or two */
    ck_assert_int_eq(tu_llmtap_run(dir, NULL, NULL,
                                   "alert add big --db '%s' --metric spend --window 5m --above 1",
                                   db),
                     0);
    char *m = NULL;
    for (int tries = 0; tries < 100; tries++) {
        free(m);
        m = scrape();
        if (sample(m, "llmtap_alert_state{rule=\"big\",state=\"FIRING\"}") == 1)
            break;
        usleep(100000);
    }
    assert_valid_exposition(m);
    ck_assert_double_eq(
        sample(m, "llmtap_ingest_requests_total{route=\"/api/v1/spans\",code=\"200\"}"), 4);
    ck_assert_double_eq(
        sample(m, "llmtap_ingest_requests_total{route=\"/api/v1/spans\",code=\"400\"}"), 1);
    ck_assert_double_eq(sample(m, "llmtap_ingest_errors_total{route=\"/api/v1/spans\"}"), 1);
    ck_assert_double_eq(sample(m, "llmtap_ingest_errors_total{route=\"/v1/traces\"}"), 0);
    ck_assert_double_eq(
        sample(m, "llmtap_ingest_requests_total{route=\"/v1/traces\",code=\"200\"}"), 1);

    double commits = sample(m, "llmtap_commits_total");
    ck_assert_double_ge(commits, 4);
    ck_assert_double_eq(sample(m, "llmtap_commit_duration_seconds_bucket{le=\"+Inf\"}"),
                        sample(m, "llmtap_commit_duration_seconds_count"));
    ck_assert_double_ge(sample(m, "llmtap_commit_duration_seconds_count"), commits);
    ck_assert_double_le(sample(m, "llmtap_commit_duration_seconds_bucket{le=\"0.001\"}"),
                        sample(m, "llmtap_commit_duration_seconds_bucket{le=\"0.01\"}"));

    ck_assert_double_eq(sample(m, "llmtap_spans_stored"), 4);
    ck_assert_double_gt(sample(m, "llmtap_store_bytes{file=\"db\"}"), 0);
    ck_assert_double_eq_tol(
        sample(m, "llmtap_spend_usd_total{project=\"shop\",model=\"gpt-4o-mini\"}"), 0.75, 1e-9);
    ck_assert_double_eq_tol(
        sample(m, "llmtap_spend_usd_total{project=\"shop\",model=\"claude-3-5-haiku\"}"), 1.125,
        1e-9);
    ck_assert_double_eq(
        sample(m, "llmtap_tokens_total{project=\"shop\",model=\"gpt-4o-mini\",type=\"input\"}"),
        300);
    ck_assert_double_eq(
        sample(m, "llmtap_tokens_total{project=\"shop\",model=\"gpt-4o-mini\",type=\"output\"}"),
        30);
    ck_assert_double_eq(sample(m, "llmtap_calls_total{project=\"shop\",model=\"gpt-4o-mini\"}"), 2);
    /* the project name we"ird\ arrives escaped and leaves escaped */
    ck_assert_double_eq_tol(
        sample(m, "llmtap_spend_usd_total{project=\"we\\\"ird\\\\\",model=\"gpt-4o-mini\"}"), 2,
        1e-9);

    char *id_line = strstr(m, "llmtap_budget_remaining_usd{id=");
    ck_assert_msg(id_line != NULL, "no budget line:\n%s", m);
    ck_assert_ptr_nonnull(strstr(id_line, "scope=\"project\",subject=\"shop\",per=\"day\"} 8.125"));
    ck_assert_ptr_nonnull(strstr(m, "subject=\"shop\",per=\"day\"} 1.875"));

    ck_assert_double_eq(sample(m, "llmtap_alert_state{rule=\"big\",state=\"FIRING\"}"), 1);
    ck_assert_double_eq(sample(m, "llmtap_alert_state{rule=\"big\",state=\"OK\"}"), 0);
    /* the seeded anomaly rule has traffic but no history: it cannot fire */
    ck_assert_double_eq(sample(m, "llmtap_alert_state{rule=\"global-spend-spike\",state=\"OK\"}"),
                        1);
    ck_assert_double_eq(
        sample(m, "llmtap_alert_state{rule=\"global-spend-spike\",state=\"FIRING\"}"), 0);
    free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_counts_spend_budgets_and_alert_states);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
