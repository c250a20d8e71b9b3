/*
 * `llmtap budget` run as a user would: set, list and rm in this process
 * (spend already in the store shows in the list), usage errors exit 2 and
 * failures 1 with a message; and against a running server, a rule set by
 * the CLI is in GET /api/v1/admin/budgets the moment the command returns,
 * spend ingested over the native API counts towards it, and the admin API
 * refuses bad bodies with INVALID_INPUT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    db = xasprintf("%s/budget.db", dir);
    memset(&server, 0, sizeof(server));
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

/* Run "llmtap ARGS" with its output captured in the test's directory. */
#define llmtap(out, err, ...) tu_llmtap_run(dir, (out), (err), __VA_ARGS__)

/* A native span of 'usd' for user 'user' starting now, into FILE. */
static char *span_file(const char *user, const char *usd, int n)
{
    char *path = xasprintf("%s/span%d.json", dir, n);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    long long now = (long long)time_now_ns();
    fprintf(f,
            "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"kind\":\"llm\",\"model\":\"m\","
            "\"start_ns\":\"%lld\",\"end_ns\":\"%lld\",\"cost_usd\":%s,\"user\":\"%s\"}\n",
            (unsigned)n, (unsigned)n, now, now + 1000000, usd, user);
    fclose(f);
    return path;
}

START_TEST(test_set_list_and_rm_without_a_server)
{
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(llmtap(NULL, &err, "budget list --db '%s'", db), 1); /* no database */
    ck_assert_ptr_nonnull(strstr(err, "llmtap budget: "));
    free(err);
    char *span = span_file("alice", "0.25", 1);
    ck_assert_int_eq(llmtap(NULL, NULL, "import --db '%s' '%s'", db, span), 0);
    free(span);
    ck_assert_int_eq(
        llmtap(&out, NULL, "budget set --db '%s' --user alice --per day --usd 0.50", db), 0);
    ck_assert_str_eq(out, "budget 2: user alice may spend $0.50 per day\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL,
                            "budget set --db '%s' --project shop --max-input-tokens 8000"
                            " --max-tool-rounds 10",
                            db),
                     0);
    ck_assert_str_eq(out, "budget 3: a request of project shop may have at most 8000 input tokens"
                          " and 10 tool-call rounds\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "budget set --db '%s' --global --breaker 4 --json", db), 0);
    ck_assert_str_eq(out, "{\"status\":\"ok\",\"id\":1}\n"); /* the default breaker, replaced */
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "budget list --db '%s' --json", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"subject\":\"alice\",\"kind\":\"spend\",\"per\":\"day\","
                                      "\"usd\":0.5,"));
    ck_assert_ptr_nonnull(strstr(out, "\"spent_usd\":0.25,")); /* the imported span */
    ck_assert_ptr_nonnull(strstr(out, "\"factor\":4,"));
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "budget list --db '%s'", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "SPENT THIS WINDOW"));
    ck_assert_ptr_nonnull(strstr(out, "$0.50 per day"));
    ck_assert_ptr_nonnull(strstr(out, "$0.2500"));
    ck_assert_ptr_nonnull(strstr(out, "at most 8000 input tokens"));
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "budget rm --db '%s' 2", db), 0);
    ck_assert_str_eq(out, "budget 2 removed\n");
    free(out);
    ck_assert_int_eq(llmtap(NULL, &err, "budget rm --db '%s' 2", db), 1);
    ck_assert_str_eq(err, "llmtap budget: no budget rule 2\n");
    free(err);
    ck_assert_int_eq(llmtap(&out, NULL, "budget list --db '%s' --json", db), 0);
    ck_assert_ptr_null(strstr(out, "alice"));
    free(out);
}
END_TEST

START_TEST(test_usage_errors_exit_2_with_a_message)
{
    static const char *const bad[] = {
        "budget",
        "budget frob",
        "budget set --user alice --per week --usd 1",
        "budget set --user alice --per day --usd -1",
        "budget set --user alice --per day --usd 20000000",
        "budget set --user alice --per day",
        "budget set --per day --usd 1",
        "budget set --global --user x --per day --usd 1",
        "budget set --global",
        "budget set --global --breaker 5 --per day --usd 1",
        "budget set --project shop --breaker 5",
        "budget set --global --breaker much",
        "budget set --user alice --max-input-tokens 0",
        "budget set --user alice --max-tool-rounds -2",
        "budget set --user --per day --usd 1",
        "budget rm abc",
        "budget rm",
        "budget list extra",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        ck_assert_msg(llmtap(NULL, &err, "%s --db '%s'", bad[i], db) == 2, "'%s'", bad[i]);
        ck_assert_msg(err && *err, "'%s': nothing on stderr", bad[i]);
        free(err);
    }
    char *out = NULL;
    ck_assert_int_eq(llmtap(&out, NULL, "budget --help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: llmtap budget set"));
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "budget"));
    free(out);
}
END_TEST

static int fetch(const char *method, const char *body, struct httpc_response *r)
{
    struct httpc_request req = {.method = method,
                                .path = "/api/v1/admin/budgets",
                                .content_type = body ? "application/json" : NULL,
                                .body = body,
                                .body_len = body ? strlen(body) : 0};
    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, r), HTTPC_OK);
    return r->status;
}

START_TEST(test_a_rule_set_by_the_cli_is_in_force_on_the_running_server)
{
    ck_assert_int_eq(srv_start(&server, db, NULL), 0);
    char *out = NULL;
    ck_assert_int_eq(
        llmtap(&out, NULL, "budget set --db '%s' --user alice --per day --usd 0.50", db), 0);
    ck_assert_str_eq(out, "budget 2: user alice may spend $0.50 per day\n");
    free(out);
    struct httpc_response r;
    ck_assert_int_eq(fetch("GET", NULL, &r), 200); /* at once: no reload to wait for */
    ck_assert_ptr_nonnull(strstr(r.body, "\"subject\":\"alice\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"spent_usd\":0,"));
    httpc_response_release(&r);
    /* spend over the native API counts */
    char *span = span_file("alice", "0.2", 7), *body = tu_read_file(span, NULL);
    struct httpc_request req = {.method = "POST",
                                .path = "/api/v1/spans",
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    httpc_response_release(&r);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(httpc_fetch(server.url, &req, 10000, &r), HTTPC_OK); /* resent: once */
    httpc_response_release(&r);
    free(body);
    free(span);
    ck_assert_int_eq(llmtap(&out, NULL, "budget list --db '%s' --json", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"subject\":\"alice\",\"kind\":\"spend\",\"per\":\"day\","
                                      "\"usd\":0.5,\"max_input_tokens\":null,"
                                      "\"max_tool_rounds\":null,\"factor\":null,"
                                      "\"spent_usd\":0.2,"));
    free(out);
    /* the admin API refuses what the CLI would not send */
    ck_assert_int_eq(
        fetch("POST", "{\"op\":\"set\",\"scope\":\"user\",\"per\":\"day\",\"usd\":1}", &r), 400);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"INVALID_INPUT\""));
    ck_assert_ptr_nonnull(strstr(r.body, "needs the user"));
    httpc_response_release(&r);
    ck_assert_int_eq(fetch("POST", "{\"op\":\"rm\",\"id\":99}", &r), 404);
    httpc_response_release(&r);
    ck_assert_int_eq(fetch("DELETE", NULL, &r), 404);
    httpc_response_release(&r);
    ck_assert_int_eq(llmtap(&out, NULL, "budget rm --db '%s' 2", db), 0);
    free(out);
    ck_assert_int_eq(fetch("GET", NULL, &r), 200);
    ck_assert_ptr_null(strstr(r.body, "alice"));
    httpc_response_release(&r);
    /* and a restarted server loads what was set */
    ck_assert_int_eq(
        llmtap(NULL, NULL, "budget set --db '%s' --tenant acme --per month --usd 9", db), 0);
    ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    ck_assert_int_eq(srv_start(&server, db, NULL), 0);
    ck_assert_int_eq(fetch("GET", NULL, &r), 200);
    ck_assert_ptr_nonnull(
        strstr(r.body, "\"subject\":\"acme\",\"kind\":\"spend\",\"per\":\"month\""));
    httpc_response_release(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("budget_cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_set_list_and_rm_without_a_server);
    tcase_add_test(tc, test_usage_errors_exit_2_with_a_message);
    tcase_add_test(tc, test_a_rule_set_by_the_cli_is_in_force_on_the_running_server);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
