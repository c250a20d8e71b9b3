/*
 * `llmtap eval run|gate` end to end, as CI runs it: real prompts in the
 * registry, the fake upstream (in this process) as the model under test
 * and as the judge, the llmtap binary as a child. A candidate that really
 * is worse fails (exit 1), an equivalent one passes (exit 0), a broken
 * suite exits 2 naming what is wrong; a re-run is served from the cache;
 * 429s are retried; the evaluator's calls are spans of llmtap-eval; the
 * same through a running server; datasets from stored traffic; JUnit is
 * well-formed XML.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/xmem.h"
#include "evaluator/online.h"
#include "fixtures/fakeup.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

#define NCASES 40

static char *dir, *db;
static struct fakeup *fake;
static struct srv server;

#define llmtap(out, err, ...) tu_llmtap_run(dir, (out), (err), __VA_ARGS__)

static char *put(const char *name, const char *text)
{
    return tu_put_file(dir, name, text);
}

/* Prompts whose answers the fake follows (FAKE-REPLY, docs/FAKE_UPSTREAM.md). */
static const char p_good[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are support.\\nFAKE-REPLY: Your "
    "order {{order_id}} ships today.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"model\":\"gpt-4o-mini\"}";
static const char p_same[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are kind support.\\nFAKE-REPLY: Good "
    "news: order {{order_id}} ships today.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"model\":\"gpt-4o-mini\"}";
static const char p_worse[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\\nFAKE-REPLY: Sorry, I "
    "cannot help with that.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"model\":\"gpt-4o-mini\"}";
static const char p_flaky[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"FAKE-FAULT-ONCE: 429\\nFAKE-REPLY: Order "
    "{{order_id}} ships.\"},{\"role\":\"user\",\"content\":\"{{question}}\"}],"
    "\"model\":\"gpt-4o-mini\"}";

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/eval.db", dir);
    memset(&server, 0, sizeof(server));
    struct fakeup_config fc;
    fakeup_config_default(&fc);
    fc.listen = "127.0.0.1:0";
    char err[256];
    ck_assert_int_eq(fakeup_start(&fake, &fc, err, sizeof(err)), 0);
    setenv("OPENAI_API_KEY", "sk-test-eval-canary", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-test-eval", 1);
    char *cases = xasprintf("%s/cases.jsonl", dir);
    FILE *f = fopen(cases, "w");
    free(cases);
    ck_assert_ptr_nonnull(f);
    fputs("# order questions\n", f);
    for (int i = 0; i < NCASES; i++)
        fprintf(f,
                "{\"vars\":{\"question\":\"Where is order A-%d?\",\"order_id\":\"A-%d\"},"
                "\"expected\":\"A-%d\"}\n",
                1000 + i, 1000 + i, 1000 + i);
    fclose(f);
    const char *names[] = {"good.json", "same.json", "worse.json", "flaky.json"};
    const char *bodies[] = {p_good, p_same, p_worse, p_flaky};
    for (int i = 0; i < 4; i++) {
        char *p = put(names[i], bodies[i]);
        ck_assert_int_eq(llmtap(NULL, NULL, "prompt push %s '%s' --db '%s'",
                                i == 3 ? "flaky" : "support", p, db),
                         0);
        free(p);
    }
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

/* A suite over cases.jsonl with 'variants' and 'extra' scorers. */
static char *suite(const char *name, const char *variants, const char *extra_scorers)
{
    char *text = xasprintf(
        "{\"name\":\"support-quality\",\"dataset\":{\"file\":\"cases.jsonl\"},"
        "\"variants\":{%s},"
        "\"scorers\":[{\"type\":\"icontains\",\"value\":\"{{expected}}\"},"
        "{\"type\":\"judge\",\"rubric\":\"Does the answer give the delivery of {{expected}}?"
        "\\nFAKE-JUDGE: ships\",\"model\":\"gpt-4o-mini\"}%s],"
        "\"gate\":{\"min_score\":0.5,\"max_regression\":0.05,\"alpha\":0.05}}",
        variants, extra_scorers ? extra_scorers : "");
    char *path = put(name, text);
    free(text);
    return path;
}

static const char ab[] = "\"baseline\":{\"prompt\":\"support@1\",\"model\":\"gpt-4o-mini\"},"
                         "\"candidate\":{\"prompt\":\"support@2\",\"model\":\"gpt-4o-mini\"}";

static cJSON *read_json(const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    char *text = tu_read_file(path, NULL);
    ck_assert_msg(text != NULL, "no %s", path);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "%s is not JSON", path);
    free(text);
    free(path);
    return j;
}

static const char *verdict(const cJSON *rep)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rep, "verdict");
    ck_assert(cJSON_IsString(v));
    return v->valuestring;
}

static double variant_score(const cJSON *rep, int v)
{
    const cJSON *var = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "variants"), v);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(var, "score");
    return cJSON_GetObjectItemCaseSensitive(sc, "mean")->valuedouble;
}

static int64_t query_int(const char *sql)
{
    int64_t n = -1;
    ck_assert_int_eq(srv_query_int(db, sql, &n), 0);
    return n;
}

START_TEST(test_gate_passes_an_equivalent_prompt_and_fails_a_worse_one)
{
    char *s = suite("suite.json", ab, NULL);
    char *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err,
                    "eval gate '%s' --db '%s' --upstream openai=%s --junit '%s/j.xml' --markdown "
                    "'%s/m.md' --json '%s/r.json'",
                    s, db, fakeup_url(fake), dir, dir, dir);
    ck_assert_msg(rc == 0, "exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    free(out);
    free(err);
    cJSON *rep = read_json("r.json");
    ck_assert_str_eq(verdict(rep), "pass");
    ck_assert_double_eq_tol(variant_score(rep, 0), 0.95, 1e-9); /* (contains 1 + judge 9/10) / 2 */
    ck_assert_double_eq_tol(variant_score(rep, 1), 0.95, 1e-9);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "cases")), NCASES);
    /* the judge's reasoning is kept */
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "cases"), 0);
    const cJSON *o00 = cJSON_GetArrayItem(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c0, "outputs"), 0), 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o00, "text")->valuestring,
                     "Your order A-1000 ships today.");
    const cJSON *judge = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o00, "scores"), 1);
    ck_assert_msg(
        strstr(cJSON_GetObjectItemCaseSensitive(judge, "reason")->valuestring, "mentions ships"),
        "judge reason lost");
    ck_assert_double_eq_tol(cJSON_GetObjectItemCaseSensitive(judge, "value")->valuedouble, 0.9,
                            1e-9);
    cJSON_Delete(rep);
    /* JUnit is well-formed XML with one testcase per case per scorer (+ the gate) */
    char *cmd = xasprintf("xmllint --noout '%s/j.xml'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    char *xml_path = xasprintf("%s/j.xml", dir), *md_path = xasprintf("%s/m.md", dir);
    char *xml = tu_read_file(xml_path, NULL);
    int n = 0;
    for (const char *p = xml; (p = strstr(p, "<testcase")) != NULL; p++)
        n++;
    ck_assert_int_ge(n, NCASES * 2 + 1);
    free(xml);
    char *md = tu_read_file(md_path, NULL);
    ck_assert_msg(md && strstr(md, "support@1") && strstr(md, "support@2"), "markdown: %s", md);
    free(md);
    free(md_path);
    free(xml_path);

    /* every call the evaluator made is a span of llmtap-eval: 40 cases x 2 variants x
     * (model + judge) */
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE project = 'llmtap-eval'"),
                     NCASES * 2 * 2);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE project = 'llmtap-eval' AND "
                               "prompt_name = 'support' AND cost_usd > 0"),
                     NCASES * 2);
    ck_assert_int_eq(query_int("SELECT count(*) FROM eval_runs"), 1);

    /* a re-run is served from the cache: no call, the same verdict */
    uint64_t calls = fakeup_calls(fake);
    rc = llmtap(&out, NULL, "eval gate '%s' --db '%s' --upstream openai=%s --json '%s/r2.json'", s,
                db, fakeup_url(fake), dir);
    ck_assert_int_eq(rc, 0);
    free(out);
    ck_assert_uint_eq(fakeup_calls(fake), calls);
    rep = read_json("r2.json");
    ck_assert_str_eq(verdict(rep), "pass");
    const cJSON *v0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "variants"), 0);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v0, "cached")->valueint, NCASES);
    cJSON_Delete(rep);

    /* the candidate that really is worse fails the gate */
    rc = llmtap(&out, &err,
                "eval gate '%s' --db '%s' --upstream openai=%s --candidate support@3 --json "
                "'%s/r3.json' --markdown '%s/m3.md'",
                s, db, fakeup_url(fake), dir, dir);
    ck_assert_msg(rc == 1, "exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    free(out);
    free(err);
    rep = read_json("r3.json");
    ck_assert_str_eq(verdict(rep), "regression");
    ck_assert_double_eq_tol(variant_score(rep, 1), 0.1, 1e-9); /* contains 0, judge 2/10 */
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(rep, "comparison");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cmp, "losses")->valueint, NCASES);
    cJSON_Delete(rep);
    ck_assert_int_eq(query_int("SELECT count(*) FROM eval_runs WHERE verdict = 'regression'"), 1);
    /* the provider key went to the fake, never into the store */
    char *grep = xasprintf("grep -c sk-test-eval-canary '%s' '%s-wal' 2>/dev/null | grep -v ':0' "
                           "| grep -q .",
                           db, db);
    ck_assert_int_ne(system(grep), 0);
    free(grep);
    free(s);
}
END_TEST

START_TEST(test_broken_suites_exit_2_with_a_clear_message)
{
    struct {
        const char *file, *text, *want;
    } cases[] = {
        {"notjson.json", "{\"name\":", "not JSON"},
        {"unknown.json",
         "{\"name\":\"x\",\"dataset\":{\"file\":\"cases.jsonl\"},\"variants\":{\"baseline\":{"
         "\"prompt\":\"support@1\"}},\"scorers\":[{\"type\":\"equals\",\"value\":\"a\"}],"
         "\"gate\":{\"max_regresion\":0.1}}",
         "gate: unknown key \"max_regresion\""},
        {"noprompt.json",
         "{\"name\":\"x\",\"dataset\":{\"file\":\"cases.jsonl\"},\"variants\":{\"baseline\":{"
         "\"prompt\":\"nosuch@1\"}},\"scorers\":[{\"type\":\"equals\",\"value\":\"a\"}]}",
         "prompt nosuch@1 is not in the registry"},
        {"badscorer.json",
         "{\"name\":\"x\",\"dataset\":{\"file\":\"cases.jsonl\"},\"variants\":{\"baseline\":{"
         "\"prompt\":\"support@1\"}},\"scorers\":[{\"type\":\"equalz\"}]}",
         "scorers[0]"},
        {"nocases.json",
         "{\"name\":\"x\",\"dataset\":{\"file\":\"missing.jsonl\"},\"variants\":{\"baseline\":{"
         "\"prompt\":\"support@1\"}},\"scorers\":[{\"type\":\"equals\",\"value\":\"a\"}]}",
         "missing.jsonl"},
        {"badup.json",
         "{\"name\":\"x\",\"dataset\":{\"file\":\"cases.jsonl\"},\"variants\":{\"baseline\":{"
         "\"prompt\":\"support@1\",\"upstream\":\"nowhere\"}},\"scorers\":[{\"type\":\"equals\","
         "\"value\":\"a\"}]}",
         "unknown upstream 'nowhere'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = put(cases[i].file, cases[i].text), *err = NULL;
        int rc = llmtap(NULL, &err, "eval gate '%s' --db '%s' --upstream openai=%s", p, db,
                        fakeup_url(fake));
        ck_assert_msg(rc == 2 && strstr(err, cases[i].want), "%s: exit %d, stderr: %s",
                      cases[i].file, rc, err);
        free(err);
        free(p);
    }
    char *bad = put("badline.jsonl", "{\"vars\":{}}\nnot json\n");
    char *s = put("badline.json",
                  "{\"name\":\"x\",\"dataset\":{\"file\":\"badline.jsonl\"},\"variants\":{"
                  "\"baseline\":{\"prompt\":\"support@1\"}},\"scorers\":[{\"type\":\"equals\","
                  "\"value\":\"a\"}]}");
    char *err = NULL;
    ck_assert_int_eq(llmtap(NULL, &err, "eval run '%s' --db '%s'", s, db), 2);
    ck_assert_msg(strstr(err, "badline.jsonl:2: not JSON"), "stderr: %s", err);
    free(err);
    ck_assert_int_eq(llmtap(NULL, NULL, "eval gate --db '%s'", db), 2);
    /* an upstream that answers every call with 401 gives no verdict: exit 2 */
    char *ok =
        put("ok.json", "{\"name\":\"x\",\"dataset\":{\"file\":\"cases.jsonl\"},\"variants\":{"
                       "\"baseline\":{\"prompt\":\"support@1\"}},\"scorers\":[{\"type\":\"equals\","
                       "\"value\":\"a\"}]}");
    unsetenv("OPENAI_API_KEY");
    ck_assert_int_eq(llmtap(NULL, &err, "eval gate '%s' --db '%s' --upstream openai=%s --quiet", ok,
                            db, fakeup_url(fake)),
                     2);
    ck_assert_msg(strstr(err, "every call of variant baseline failed") && strstr(err, "HTTP 401"),
                  "stderr: %s", err);
    free(err);
    setenv("OPENAI_API_KEY", "sk-test-eval-canary", 1);
    free(ok);
    ck_assert_int_eq(llmtap(NULL, NULL, "eval gate '%s' --alpha 7", s), 2);
    free(bad);
    free(s);
}
END_TEST

START_TEST(test_rate_limits_are_retried_after_retry_after)
{
    char *s = suite("flaky.json", "\"baseline\":{\"prompt\":\"flaky@1\"}", NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err, "eval run '%s' --db '%s' --upstream openai=%s --json '%s/f.json'",
                    s, db, fakeup_url(fake), dir);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(secs >= 0.9, "retried before Retry-After (1 s): %.2f s", secs);
    cJSON *rep = read_json("f.json");
    const cJSON *v0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "variants"), 0);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v0, "failed")->valueint, 0);
    ck_assert_double_eq_tol(variant_score(rep, 0), 0.95, 1e-9);
    cJSON_Delete(rep);
    free(out);
    free(err);
    free(s);
}
END_TEST

START_TEST(test_repeats_report_pass_hat_n_and_anthropic_variants)
{
    char *s = suite("rep.json",
                    "\"baseline\":{\"prompt\":\"support@1\"},"
                    "\"candidate\":{\"prompt\":\"support@2\",\"model\":\"claude-haiku-4-5\","
                    "\"upstream\":\"anthropic\"}",
                    ",{\"type\":\"regex\",\"value\":\"ships (today|now)\\\\.$\"}");
    char *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err,
                    "eval run '%s' --db '%s' --upstream openai=%s --upstream anthropic=%s "
                    "--repeat 3 --concurrency 16 --json '%s/rep.json'",
                    s, db, fakeup_url(fake), fakeup_url(fake), dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    cJSON *rep = read_json("rep.json");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(rep, "repeats")->valueint, 3);
    const cJSON *v1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "variants"), 1);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(v1, "upstream")->valuestring, "anthropic");
    ck_assert_double_eq_tol(cJSON_GetObjectItemCaseSensitive(v1, "pass_hat_n")->valuedouble, 1.0,
                            1e-9);
    ck_assert_double_eq_tol(variant_score(rep, 1), (1 + 0.9 + 1) / 3.0, 1e-9);
    cJSON_Delete(rep);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE project = 'llmtap-eval' AND "
                               "provider = 'anthropic' AND kind = 'llm'"),
                     NCASES * 3);
    free(out);
    free(err);
    free(s);
}
END_TEST

START_TEST(test_through_a_running_server_and_from_stored_traffic)
{
    /* stored traffic: 30 calls of support@1 with their variables */
    char *spans = xasprintf("%s/traffic.ndjson", dir);
    FILE *f = fopen(spans, "w");
    for (int i = 0; i < 30; i++)
        fprintf(f,
                "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"name\":\"chat\",\"model\":"
                "\"gpt-4o-mini\",\"input\":[{\"role\":\"user\",\"content\":\"q\"}],"
                "\"output\":{\"role\":\"assistant\",\"content\":\"Order A-%d ships.\"},"
                "\"prompt\":{\"name\":\"support\",\"version\":1,\"variables\":{\"question\":\"q\","
                "\"order_id\":\"A-%d\"}}}\n",
                i + 1, i + 1, 500 + i, 500 + i);
    fclose(f);
    ck_assert_int_eq(llmtap(NULL, NULL, "import '%s' --db '%s'", spans, db), 0);
    free(spans);
    const char *ups[] = {"--upstream", NULL, NULL};
    char *upv = xasprintf("openai=%s", fakeup_url(fake));
    ups[1] = upv;
    ck_assert_int_eq(srv_start(&server, db, ups), 0);
    char *s = put("stored.json",
                  "{\"name\":\"from-traffic\",\"dataset\":{\"from\":{\"prompt\":\"support\","
                  "\"version\":1,\"since\":\"30d\",\"sample\":20}},\"variants\":{\"baseline\":{"
                  "\"prompt\":\"support@1\"},\"candidate\":{\"prompt\":\"support@3\"}},"
                  "\"scorers\":[{\"type\":\"icontains\",\"value\":\"{{vars.order_id}}\"},"
                  "{\"type\":\"similar\"}],\"gate\":{\"max_regression\":0.1}}");
    char *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err, "eval gate '%s' --db '%s' --upstream %s --json '%s/s.json'", s, db,
                    upv, dir);
    ck_assert_msg(rc == 1, "exit %d: %s %s", rc, out, err);
    cJSON *rep = read_json("s.json");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "cases")), 20);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "cases"), 0);
    ck_assert_msg(strstr(cJSON_GetObjectItemCaseSensitive(c0, "expected")->valuestring, " ships."),
                  "the original output is the reference");
    cJSON_Delete(rep);
    /* the writes went through the server: runs and spans readable at once */
    ck_assert_int_eq(query_int("SELECT count(*) FROM eval_runs WHERE suite = 'from-traffic'"), 1);
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE project = 'llmtap-eval'"), 40);
    free(out);
    free(err);
    free(upv);
    free(s);
}
END_TEST

static int64_t poll_int(const char *sql, int64_t want, int timeout_ms)
{
    int64_t n = -1;
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (srv_query_int(db, sql, &n) == 0 && n >= want)
            return n;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    return n;
}

START_TEST(test_online_rules_score_sampled_live_traffic)
{
    char *upv = xasprintf("openai=%s", fakeup_url(fake));
    const char *ups[] = {"--upstream", upv, NULL};
    ck_assert_int_eq(srv_start(&server, db, ups), 0);
    char *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err,
                    "eval online add quality --db '%s' --project default --prompt support "
                    "--sample 1 --scorers '[{\"type\":\"icontains\",\"value\":\"ships\"},"
                    "{\"type\":\"judge\",\"name\":\"polite\",\"rubric\":\"FAKE-JUDGE: "
                    "today\",\"model\":\"gpt-4o-mini\"}]'",
                    db);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    ck_assert_int_eq(llmtap(NULL, NULL,
                            "eval online add half --db '%s' --project other --sample 0.5 "
                            "--scorers '{\"type\":\"length\",\"max\":100}'",
                            db),
                     0);
    ck_assert_int_eq(llmtap(&out, NULL, "eval online list --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"name\":\"quality\"") && strstr(out, "\"name\":\"half\""),
                  "list: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(NULL, &err,
                            "eval online add bad --db '%s' --sample 2 --scorers "
                            "'[{\"type\":\"equals\",\"value\":\"x\"}]'",
                            db),
                     2);
    free(err);
    sleep(3); /* the server re-reads its rules every 2 s */
    char *file = xasprintf("%s/live.ndjson", dir);
    FILE *f = fopen(file, "w");
    int expect_half = 0;
    for (int i = 0; i < 100; i++) {
        int other = i >= 10;
        char span_id[17];
        snprintf(span_id, sizeof(span_id), "%016x", 0x100 + i);
        expect_half += other && online_sampled(span_id, 0.5);
        fprintf(
            f,
            "{\"trace_id\":\"%032x\",\"span_id\":\"%s\",\"project\":\"%s\",\"name\":\"chat\","
            "\"model\":\"gpt-4o-mini\",\"input\":[{\"role\":\"user\",\"content\":\"where?\"}],"
            "\"output\":{\"role\":\"assistant\",\"content\":\"%s\"},"
            "\"prompt\":{\"name\":\"support\",\"version\":1,\"variables\":{\"q\":\"where?\"}}}\n",
            0x100 + i, span_id, other ? "other" : "default",
            i % 2 ? "It ships today." : "It is delayed.");
    }
    fclose(f);
    ck_assert_int_eq(llmtap(NULL, NULL, "import '%s' --db '%s'", file, db), 0);
    free(file);
    /* 10 spans x 2 scorers of 'quality', and the sampled half of 90 for 'half' */
    ck_assert_int_eq(
        poll_int("SELECT count(*) FROM scores WHERE source = 'online'", 20 + expect_half, 20000),
        20 + expect_half);
    ck_assert_int_ge(expect_half, 30);
    ck_assert_int_le(expect_half, 60);
    ck_assert_int_eq(
        query_int("SELECT count(*) FROM scores WHERE name = 'icontains' AND value = 1"), 5);
    ck_assert_int_eq(query_int("SELECT count(*) FROM scores WHERE name = 'polite' AND "
                               "abs(value - 0.9) < 1e-9 AND comment LIKE '%mentions today%'"),
                     5);
    ck_assert_int_eq(query_int("SELECT count(*) FROM scores WHERE name = 'polite' AND "
                               "abs(value - 0.2) < 1e-9"),
                     5);
    /* each judge call is a span of llmtap-eval under the scored span */
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE project = 'llmtap-eval' AND "
                               "kind = 'evaluator' AND parent_span_id IS NOT NULL"),
                     10);
    ck_assert_int_eq(llmtap(NULL, NULL, "eval online rm half --db '%s'", db), 0);
    ck_assert_int_eq(llmtap(&out, NULL, "eval online list --db '%s'", db), 0);
    ck_assert_msg(!strstr(out, "half"), "list: %s", out);
    free(out);
    free(upv);
}
END_TEST

START_TEST(test_ctrl_c_keeps_the_finished_results)
{
    /* a slow model: 300 ms before each answer */
    struct fakeup *slow = NULL;
    struct fakeup_config fc;
    fakeup_config_default(&fc);
    fc.listen = "127.0.0.1:0";
    fc.first_byte_delay_ms = 300;
    char ferr[256];
    ck_assert_int_eq(fakeup_start(&slow, &fc, ferr, sizeof(ferr)), 0);
    char *s = suite("slow.json", "\"baseline\":{\"prompt\":\"support@1\"}", NULL);
    char *cmd = xasprintf("exec '%s' eval run '%s' --db '%s' --upstream openai=%s --concurrency 2 "
                          "--json '%s/int.json' >'%s/int.out' 2>'%s/int.err'",
                          tu_llmtap_bin(), s, db, fakeup_url(slow), dir, dir, dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    /* Ctrl-C once a few answers are in (2 in flight at a time, 300 ms each) */
    for (int waited = 0; fakeup_calls(slow) < 8 && waited < 60000; waited += 20) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "exit status %d", st);
    cJSON *rep = read_json("int.json");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "interrupted")));
    const cJSON *v0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "variants"), 0);
    int failed = cJSON_GetObjectItemCaseSensitive(v0, "failed")->valueint;
    int done = NCASES - failed;
    ck_assert_msg(done >= 1 && done < NCASES, "%d of %d finished before Ctrl-C", done, NCASES);
    cJSON_Delete(rep);
    ck_assert_int_eq(query_int("SELECT count(*) FROM eval_runs WHERE interrupted = 1"), 1);
    fakeup_stop(slow);
    /* the finished answers were kept: a re-run asks only for the rest */
    uint64_t before = fakeup_calls(fake);
    char *out = NULL;
    ck_assert_int_eq(llmtap(&out, NULL,
                            "eval run '%s' --db '%s' --upstream openai=%s --json "
                            "'%s/int2.json'",
                            s, db, fakeup_url(fake), dir),
                     0);
    free(out);
    rep = read_json("int2.json");
    v0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "variants"), 0);
    int cached = cJSON_GetObjectItemCaseSensitive(v0, "cached")->valueint;
    ck_assert_int_ge(cached, done);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v0, "failed")->valueint, 0);
    /* the uncached model calls, and at most every judge call */
    uint64_t calls = fakeup_calls(fake) - before;
    ck_assert_uint_ge(calls, (uint64_t)(NCASES - cached));
    ck_assert_uint_le(calls, (uint64_t)(NCASES - cached) + NCASES);
    cJSON_Delete(rep);
    free(s);
}
END_TEST

START_TEST(test_pairwise_judges_both_orders)
{
    /* a judge that always prefers the answer shown first: both orders cancel it */
    char *s = put("pair.json",
                  "{\"name\":\"pair\",\"dataset\":{\"file\":\"cases.jsonl\"},\"variants\":{"
                  "\"baseline\":{\"prompt\":\"support@1\"},\"candidate\":{\"prompt\":"
                  "\"support@2\"}},\"scorers\":[{\"type\":\"pairwise\",\"rubric\":\"Which is "
                  "better?\\nFAKE-REPLY: Winner: A\",\"model\":\"gpt-4o-mini\"}]}");
    char *out = NULL, *err = NULL;
    int rc = llmtap(&out, &err, "eval gate '%s' --db '%s' --upstream openai=%s --json '%s/p.json'",
                    s, db, fakeup_url(fake), dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    cJSON *rep = read_json("p.json");
    ck_assert_double_eq_tol(variant_score(rep, 0), 0.5, 1e-9);
    ck_assert_double_eq_tol(variant_score(rep, 1), 0.5, 1e-9);
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(rep, "comparison");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cmp, "ties")->valueint, NCASES);
    cJSON_Delete(rep);
    /* two judge calls per case, one per order */
    ck_assert_int_eq(query_int("SELECT count(*) FROM spans WHERE project = 'llmtap-eval' AND "
                               "name = 'eval judge pairwise'"),
                     2 * NCASES);
    free(out);
    free(err);
    free(s);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval_cli");
    TCase *tc = tcase_create("gate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gate_passes_an_equivalent_prompt_and_fails_a_worse_one);
    tcase_add_test(tc, test_broken_suites_exit_2_with_a_clear_message);
    tcase_add_test(tc, test_rate_limits_are_retried_after_retry_after);
    tcase_add_test(tc, test_repeats_report_pass_hat_n_and_anthropic_variants);
    tcase_add_test(tc, test_through_a_running_server_and_from_stored_traffic);
    tcase_add_test(tc, test_online_rules_score_sampled_live_traffic);
    tcase_add_test(tc, test_ctrl_c_keeps_the_finished_results);
    tcase_add_test(tc, test_pairwise_judges_both_orders);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(eval_suite());
}
