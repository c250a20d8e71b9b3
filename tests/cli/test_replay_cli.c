/*
 * `llmtap replay` end to end (issue 7): stored calls imported with their
 * prompt name, version and variables, two versions in the registry, the
 * fake upstream (in this process) answering what the prompts say
 * (FAKE-REPLY), the llmtap binary as a child on real SQLite files. A
 * replay of an OpenAI call and of an Anthropic call stores a new span
 * linked to the original with provider, model, tokens and cost, scores
 * both, keeps a replays row and prints the comparison -- once with the
 * file held by the command, once through a running server. A call stored
 * without variables is replayed by system swap and says so; a batch over
 * stored traffic shares one batch_id and prints the aggregate with a
 * verdict; bad requests exit 2. The UI: the replay page shows both outputs
 * escaped with a word diff, the trace page's form runs a replay and
 * redirects, and a cross-site post is refused.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/xmem.h"
#include "fixtures/fakeup.h"
#include "tests/support/httpc.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

#define NBATCH 12
#define T_OPENAI "0000000000000000000000000000a001"
#define T_ANTH "0000000000000000000000000000a002"
#define T_NOVARS "0000000000000000000000000000a003"
#define T_HOSTILE "0000000000000000000000000000a004"
#define T_OTHER "0000000000000000000000000000a005"
#define SPAN "00000000000000b1"

static char *dir, *db;
static struct fakeup *fake;
static struct srv server;

#define llmtap(out, err, ...) tu_llmtap_run(dir, (out), (err), __VA_ARGS__)

/* support@1 answered "Order X ships today."; support@2 answers otherwise. */
static const char p_v1[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are support.\\nFAKE-REPLY: Order "
    "{{order_id}} ships today.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"model\":\"gpt-4o-mini\"}";
static const char p_v2[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are kind support.\\nFAKE-REPLY: Good "
    "news: order {{order_id}} ships tomorrow.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"model\":\"gpt-4o-mini\"}";
/* helpdesk@2 carries its own scorers */
static const char p_h2[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Helpdesk.\\nFAKE-REPLY: Ticket "
    "{{order_id}} is resolved.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"scorers\":[{\"type\":\"icontains\",\"name\":\"names-ticket\",\"value\":\"{{vars.order_id}}"
    "\"},"
    "{\"type\":\"similar\"}]}";

static void push(const char *name, const char *body)
{
    char *p = tu_put_file(dir, "prompt.json", body);
    ck_assert_int_eq(llmtap(NULL, NULL, "prompt push %s '%s' --db '%s'", name, p, db), 0);
    free(p);
}

/* One stored call as native JSON; 'vars' NULL: none. */
static void span_line(FILE *f, const char *trace, const char *span, const char *provider,
                      const char *model, const char *prompt, int version, const char *vars,
                      const char *output)
{
    fprintf(f,
            "{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"name\":\"chat\",\"kind\":\"llm\","
            "\"provider\":\"%s\",\"model\":\"%s\",\"start_ns\":\"1764600000000000000\","
            "\"end_ns\":\"1764600000400000000\",\"input\":[{\"role\":\"system\",\"content\":"
            "\"Old system prompt.\"},{\"role\":\"user\",\"content\":\"Where is A-7?\"}],"
            "\"output\":{\"role\":\"assistant\",\"content\":\"%s\"},"
            "\"usage\":{\"input_tokens\":21,\"output_tokens\":7}",
            trace, span, provider, model, output);
    if (prompt)
        fprintf(f, ",\"prompt\":{\"name\":\"%s\",\"version\":%d,\"variables\":%s}", prompt, version,
                vars);
    fputs("}\n", f);
}

static void import_calls(void)
{
    char *path = xasprintf("%s/calls.ndjson", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    static const char vars[] = "{\"question\":\"Where is A-7?\",\"order_id\":\"A-7\"}";
    span_line(f, T_OPENAI, SPAN, "openai", "gpt-4o-mini", "support", 1, vars,
              "Order A-7 ships today.");
    span_line(f, T_ANTH, SPAN, "anthropic", "claude-3-5-haiku-latest", "helpdesk", 1, vars,
              "Ticket A-7 is open.");
    span_line(f, T_NOVARS, SPAN, "openai", "gpt-4o-mini", NULL, 0, NULL, "It ships soon.");
    span_line(f, T_HOSTILE, SPAN, "openai", "gpt-4o-mini", "support", 1, vars,
              "<script>alert(1)</script> Order A-7 ships today.");
    span_line(f, T_OTHER, SPAN, "mistral", "mistral-small", "helpdesk", 1, vars, "Open.");
    fclose(f);
    ck_assert_int_eq(llmtap(NULL, NULL, "import '%s' --db '%s'", path, db), 0);
    free(path);
}

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/replay.db", dir);
    memset(&server, 0, sizeof(server));
    struct fakeup_config fc;
    fakeup_config_default(&fc);
    fc.listen = "127.0.0.1:0";
    char err[256];
    ck_assert_int_eq(fakeup_start(&fake, &fc, err, sizeof(err)), 0);
    setenv("OPENAI_API_KEY", "sk-test-replay-canary", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-test-replay-canary", 1);
    push("support", p_v1);
    push("support", p_v2);
    push("helpdesk", p_v1);
    push("helpdesk", p_h2);
    import_calls();
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    fakeup_stop(fake);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

static int64_t query_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t query_int(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    int64_t n = -1;
    ck_assert_msg(srv_query_int(db, sql, &n) == 0, "query failed: %s", sql);
    return n;
}

static char *upstreams(void)
{
    return xasprintf("--upstream openai=%s --upstream anthropic=%s", fakeup_url(fake),
                     fakeup_url(fake));
}

static void start_server(void)
{
    char *o = xasprintf("openai=%s", fakeup_url(fake));
    char *a = xasprintf("anthropic=%s", fakeup_url(fake));
    const char *extra[] = {"--upstream", o, "--upstream", a, NULL};
    ck_assert_int_eq(srv_start(&server, db, extra), 0);
    free(o);
    free(a);
}

/* Run a replay of 'trace' with 'prompt' and --json; the parsed report. */
static cJSON *replay_json(const char *trace, const char *prompt)
{
    char *ups = upstreams(), *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err, "replay --db '%s' %s %s:%s --prompt %s --json", db, ups, trace,
                    SPAN, prompt);
    ck_assert_msg(rc == 0, "exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_msg(!strstr(out, "canary") && !strstr(err, "canary"), "a provider key leaked");
    free(ups);
    free(out);
    free(err);
    return j;
}

static const cJSON *first_replay(const cJSON *rep)
{
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "replays"), 0);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* What every stored replay of 'trace' must satisfy. */
static void check_stored(const char *trace, const char *provider, const char *model)
{
    char *orig = xasprintf("%s:%s", trace, SPAN);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE replay_of = '%s'", orig), 1);
    char *sql = xasprintf("SELECT count(*) FROM spans WHERE replay_of = '%s' AND provider = '%s'"
                          " AND model = '%s' AND input_tokens > 0 AND output_tokens > 0"
                          " AND cost_usd > 0 AND project = 'default'",
                          orig, provider, model);
    ck_assert_msg(query_int("%s", sql) == 1, "the new span lacks provider/model/tokens/cost");
    free(sql);
    ck_assert_int_eq(query_int("SELECT count(*) FROM replays WHERE orig_trace_id = '%s'"
                               " AND new_span_id IS NOT NULL AND status = 'ok'",
                               trace),
                     1);
    /* both spans got scores */
    ck_assert_int_ge(query_int("SELECT count(*) FROM scores WHERE source = 'replay' AND "
                               "trace_id = '%s'",
                               trace),
                     1);
    ck_assert_int_ge(query_int("SELECT count(*) FROM scores sc JOIN replays r ON sc.trace_id ="
                               " r.new_trace_id AND sc.span_id = r.new_span_id"
                               " WHERE r.orig_trace_id = '%s'",
                               trace),
                     1);
    free(orig);
}

START_TEST(test_replay_of_an_openai_call_holding_the_file)
{
    char *ups = upstreams(), *out = NULL, *err = NULL;
    int rc =
        llmtap(&out, &err, "replay --db '%s' %s %s:%s --prompt support@2", db, ups, T_OPENAI, SPAN);
    ck_assert_msg(rc == 0, "exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    ck_assert_msg(strstr(out, "original") && strstr(out, "replay"), "%s", out);
    ck_assert_msg(strstr(out, "Order A-7 ships today.") &&
                      strstr(out, "Good news: order A-7 ships tomorrow."),
                  "both outputs are printed: %s", out);
    ck_assert_msg(strstr(out, "mode: variables"), "%s", out);
    ck_assert_msg(strstr(out, "support@1") && strstr(out, "support@2"), "%s", out);
    ck_assert_msg(strstr(out, "score similar") && strstr(out, "latency") && strstr(out, "cost"),
                  "%s", out);
    check_stored(T_OPENAI, "openai", "gpt-4o-mini");
    /* the replayed span renders the new version with the stored variables */
    char *q = srv_query(db, "SELECT prompt_name, prompt_version, prompt_vars FROM spans"
                            " WHERE replay_of IS NOT NULL");
    ck_assert_msg(q && strstr(q, "support") && strstr(q, "A-7"), "%s", q);
    free(q);
    free(ups);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_replay_of_an_anthropic_call_through_a_running_server)
{
    start_server();
    cJSON *rep = replay_json(T_ANTH, "helpdesk@2");
    const cJSON *r = first_replay(rep);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r, "mode")->valuestring, "variables");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "replay");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(b, "output")->valuestring,
                     "Ticket A-7 is resolved.");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(b, "model")->valuestring,
                     "claude-3-5-haiku-latest");
    /* the version's own scorers: icontains the ticket, and similar */
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(b, "scores");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(scores, "names-ticket")->valuedouble, 1);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(scores, "similar")));
    ck_assert(cJSON_IsNumber(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "delta"), "score")));
    cJSON_Delete(rep);
    /* the writes went through the server: readable at once, from its writer */
    check_stored(T_ANTH, "anthropic", "claude-3-5-haiku-latest");
    ck_assert_int_eq(
        query_int("SELECT count(*) FROM scores WHERE name = '%s' AND source = 'replay'",
                  "names-ticket"),
        2);
    char *log = srv_log(&server);
    ck_assert_msg(log && !strstr(log, "canary"), "a provider key was logged");
    free(log);
}
END_TEST

START_TEST(test_a_call_without_variables_is_replayed_by_system_swap)
{
    char *ups = upstreams(), *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err,
                    "replay --db '%s' %s %s --prompt support@2 --model gpt-4o --param "
                    "temperature=0.2",
                    db, ups, T_NOVARS);
    ck_assert_msg(rc == 0, "exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    ck_assert_msg(strstr(out, "mode: system_swap") && strstr(out, "without prompt variables"),
                  "the output says so: %s", out);
    ck_assert_int_eq(query_int("SELECT count(*) FROM replays WHERE orig_trace_id = '%s' AND mode = "
                               "'system_swap'",
                               T_NOVARS),
                     1);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE replay_of LIKE '%%a003:%%'"
                               " AND model = 'gpt-4o'"),
                     1);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE replay_of LIKE '%%a003:%%'"
                               " AND json_extract(params, '$.temperature') = 0.2"),
                     1);
    /* the stored user message was kept, the system message is the new version's */
    char *q = srv_query(db, "SELECT input FROM spans WHERE replay_of LIKE '%a003:%'");
    ck_assert_msg(q && strstr(q, "You are kind support.") && strstr(q, "Where is A-7?") &&
                      !strstr(q, "Old system prompt."),
                  "%s", q);
    free(q);
    free(ups);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_batch_replay_shares_a_batch_id_and_prints_a_verdict)
{
    char *path = xasprintf("%s/batch.ndjson", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < NBATCH; i++) {
        char trace[33], vars[128], output[64];
        snprintf(trace, sizeof(trace), "%032x", 0xb000 + i);
        snprintf(vars, sizeof(vars), "{\"question\":\"Where is B-%d?\",\"order_id\":\"B-%d\"}", i,
                 i);
        snprintf(output, sizeof(output), "Order B-%d ships today.", i);
        span_line(f, trace, SPAN, "openai", "gpt-4o-mini", "support", 1, vars, output);
    }
    fclose(f);
    ck_assert_int_eq(llmtap(NULL, NULL, "import '%s' --db '%s'", path, db), 0);
    free(path);
    start_server();
    char *ups = upstreams(), *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err,
                    "replay --db '%s' %s --from 'prompt=support@1 since=3650d sample=50' "
                    "--prompt support@2",
                    db, ups);
    ck_assert_msg(rc == 0, "exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    /* the 12 calls plus the two support@1 calls of the fixture */
    ck_assert_msg(strstr(out, "14 stored calls replayed"), "%s", out);
    ck_assert_msg(strstr(out, "win/tie/loss") && strstr(out, "mean score") &&
                      strstr(out, "cost/call") && strstr(out, "latency p50"),
                  "%s", out);
    ck_assert_msg(strstr(out, "verdict: regression"), "the answers changed: %s", out);
    ck_assert_int_eq(query_int("SELECT count(DISTINCT batch_id) FROM replays WHERE batch_id IS "
                               "NOT NULL%s",
                               ""),
                     1);
    ck_assert_int_eq(query_int("SELECT count(*) FROM replays WHERE batch_id IS NOT NULL"), 14);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE replay_of IS NOT NULL"), 14);
    free(out);
    free(err);
    /* --json gives the aggregate as data */
    rc = llmtap(&out, &err,
                "replay --db '%s' %s --from 'prompt=support@1 sample=5' --prompt support@2 --json",
                db, ups);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    const cJSON *agg = cJSON_GetObjectItemCaseSensitive(j, "aggregate");
    ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(agg, "calls")->valuedouble, 5);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(agg, "verdict")->valuestring, "regression");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(agg, "losses")->valuedouble, 5);
    ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "batch_id")));
    cJSON_Delete(j);
    free(ups);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_bad_requests_exit_2_naming_the_problem)
{
    char *ups = upstreams();
    static const struct {
        const char *args, *says;
    } bad[] = {
        {T_OPENAI " --prompt support@9", "not in the registry"},
        {"0000000000000000000000000000ffff --prompt support@2", "no LLM span"},
        {"not-a-trace --prompt support@2", "TRACE_ID"},
        {T_OPENAI, "--prompt"},
        {"--from 'prompt=nosuch since=1d' --prompt support@2", "no stored calls"},
        {"--from 'colour=blue' --prompt support@2", "unknown term"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        int rc = llmtap(NULL, &err, "replay --db '%s' %s %s", db, ups, bad[i].args);
        ck_assert_msg(rc == 2 && err && strstr(err, bad[i].says), "'%s': exit %d: %s", bad[i].args,
                      rc, err);
        free(err);
    }
    /* an upstream the original used but nobody configured */
    char *err = NULL;
    int rc = llmtap(NULL, &err, "replay --db '%s' %s %s --prompt helpdesk@2", db, ups, T_OTHER);
    ck_assert_msg(rc == 2 && strstr(err, "'mistral': unknown upstream"), "exit %d: %s", rc, err);
    free(err);
    ck_assert_int_eq(query_int("SELECT count(*) FROM replays"), 0);
    free(ups);
}
END_TEST

/* ---- the UI ---------------------------------------------------------------------- */

static int ui_get(const char *path, char **body)
{
    struct httpc_request req = {.method = "GET", .path = path};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 30000, &r), HTTPC_OK);
    int status = r.status;
    if (body)
        *body = xstrdup(r.body);
    httpc_response_release(&r);
    return status;
}

/* POST the replay form with 'header' (an Origin or Sec-Fetch-Site line);
 * the status, and the Location into 'loc' when there is one. */
static int post_form(const char *header, const char *form, char *loc, size_t n)
{
    const char *headers[] = {header, NULL};
    struct httpc_request req = {.method = "POST",
                                .path = "/replays",
                                .content_type = "application/x-www-form-urlencoded",
                                .headers = headers,
                                .body = form,
                                .body_len = strlen(form)};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 60000, &r), HTTPC_OK);
    const char *l = httpc_header(&r, "Location");
    if (loc)
        snprintf(loc, n, "%s", l ? l : "");
    int status = r.status;
    httpc_response_release(&r);
    return status;
}

START_TEST(test_ui_replay_page_form_and_cross_site_refusal)
{
    start_server();
    cJSON *rep = replay_json(T_HOSTILE, "support@2");
    char path[64], trace_path[64];
    snprintf(path, sizeof(path), "/replays/%s",
             cJSON_GetObjectItemCaseSensitive(first_replay(rep), "id")->valuestring);
    const cJSON *side = cJSON_GetObjectItemCaseSensitive(first_replay(rep), "replay");
    snprintf(trace_path, sizeof(trace_path), "/traces/%s",
             cJSON_GetObjectItemCaseSensitive(side, "trace_id")->valuestring);
    cJSON_Delete(rep);
    char *page = NULL;
    ck_assert_int_eq(ui_get(trace_path, &page), 200);
    ck_assert_msg(strstr(page, "href=\"/traces/" T_HOSTILE "#span-" SPAN "\""),
                  "the replay's span links its original");
    free(page);
    ck_assert_int_eq(ui_get(path, &page), 200);
    ck_assert_msg(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt; Order A-7 ships today."),
                  "the original output, escaped");
    ck_assert_msg(!strstr(page, "<script>"), "traffic text reached the page unescaped");
    ck_assert_msg(strstr(page, "Good news: order A-7 ships tomorrow."), "the replay output");
    /* the diff: "today." went, "tomorrow." came, "A-7 ships" stayed */
    ck_assert_msg(strstr(page, "<del>today.</del>") && strstr(page, "<ins>tomorrow.</ins>"),
                  "the word diff marks changed words");
    ck_assert_msg(strstr(page, "<span class=\"same\">A-7 ships </span>"), "unchanged words");
    ck_assert_msg(strstr(page, "Score: similar") && strstr(page, "Latency"), "the figures");
    free(page);
    ck_assert_int_eq(ui_get("/replays", &page), 200);
    ck_assert_msg(strstr(page, path), "the list links the replay");
    ck_assert_msg(strstr(page, "href=\"/replays\""), "the nav links the replays");
    free(page);
    ck_assert_int_eq(ui_get("/traces/" T_OPENAI, &page), 200);
    ck_assert_msg(strstr(page, "action=\"/replays\""), "the trace page has the replay form");
    free(page);

    /* the form, posted from the UI's own origin: a replay and a 303 to it */
    char form[256], origin[128], loc[128];
    snprintf(form, sizeof(form), "trace_id=%s&span_id=%s&prompt=support%%402&model=", T_OPENAI,
             SPAN);
    snprintf(origin, sizeof(origin), "Origin: %s", server.url);
    ck_assert_int_eq(post_form(origin, form, loc, sizeof(loc)), 303);
    ck_assert_msg(strncmp(loc, "/replays/", 9) == 0 && strlen(loc) == 25, "Location: %s", loc);
    ck_assert_int_eq(ui_get(loc, &page), 200);
    ck_assert_msg(strstr(page, "Good news: order A-7 ships tomorrow."), "the new replay's page");
    free(page);
    ck_assert_int_eq(ui_get("/traces/" T_OPENAI, &page), 200);
    ck_assert_msg(strstr(page, loc), "the trace page links the span's replay");
    free(page);
    check_stored(T_OPENAI, "openai", "gpt-4o-mini");
    ck_assert_int_eq(post_form("Sec-Fetch-Site: same-origin", form, NULL, 0), 303);

    /* cross-site posts are refused and run nothing */
    int64_t before = query_int("SELECT count(*) FROM replays");
    ck_assert_int_eq(post_form("Origin: http://evil.example", form, NULL, 0), 403);
    ck_assert_int_eq(post_form("Sec-Fetch-Site: cross-site", form, NULL, 0), 403);
    ck_assert_int_eq(post_form("X-Nothing: 1", form, NULL, 0), 403);
    ck_assert_int_eq(query_int("SELECT count(*) FROM replays"), before);
    /* a bad form is a page with a message */
    ck_assert_int_eq(post_form(origin, "trace_id=zz&prompt=support%402", NULL, 0), 400);
    ck_assert_int_eq(ui_get("/replays/0123456789abcdef", NULL), 404);
    ck_assert_int_eq(ui_get("/replays/nothex", NULL), 400);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay_cli");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_replay_of_an_openai_call_holding_the_file);
    tcase_add_test(tc, test_replay_of_an_anthropic_call_through_a_running_server);
    tcase_add_test(tc, test_a_call_without_variables_is_replayed_by_system_swap);
    tcase_add_test(tc, test_batch_replay_shares_a_batch_id_and_prints_a_verdict);
    tcase_add_test(tc, test_bad_requests_exit_2_naming_the_problem);
    tcase_add_test(tc, test_ui_replay_page_form_and_cross_site_refusal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(replay_suite());
}
