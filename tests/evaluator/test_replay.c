/*
 * replay (evaluator/replay.h) on its own: a real store holding stored
 * calls and prompt versions, the fake upstream, and a sink that keeps what
 * it is handed. The replayed span is linked (replay_of, the original's
 * project) and its request is the new version rendered with the stored
 * variables; the recorded original costs no call; a call without
 * variables keeps its stored user turn under the new system message; the
 * op carries one row per call with the scores of both spans; a batch
 * shares a batch id and reaches a verdict; bad requests are refused with a
 * message before any call.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "evaluator/replay.h"
#include "fixtures/fakeup.h"
#include "store/prompts.h"
#include "store/store.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define TRACE "00000000000000000000000000000c01"
#define NOVARS "00000000000000000000000000000c02"
#define SPAN "00000000000000d1"

static struct tu_store ts;
static struct fakeup *fake;
static struct store *ro;
static struct runner_upstream ups[2];

/* What the sink was handed. */
static struct kept {
    size_t nspans, nops;
    char *span_json[16];
    cJSON *op;
} kept;

static int keep_spans(void *ctx, struct span *spans, size_t n, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    for (size_t i = 0; i < n && kept.nspans < 16; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "project", spans[i].project ? spans[i].project : "");
        cJSON_AddStringToObject(o, "replay_of", spans[i].replay_of ? spans[i].replay_of : "");
        cJSON_AddStringToObject(o, "input", spans[i].input ? spans[i].input : "");
        cJSON_AddStringToObject(o, "model", spans[i].model ? spans[i].model : "");
        kept.span_json[kept.nspans++] = jsonx_print(o);
        cJSON_Delete(o);
    }
    return 0;
}

static int keep_op(void *ctx, const char *json, size_t len, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (j && strcmp(jsonx_str(j, "op"), "replay") == 0) {
        cJSON_Delete(kept.op);
        kept.op = j;
        kept.nops++;
    } else {
        cJSON_Delete(j);
    }
    return 0;
}

static int push_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    const char *const *a = ctx;
    int64_t v;
    int created;
    return prompts_push(db, a[0], a[1], &v, &created, err, errlen);
}

static void push(const char *name, const char *body)
{
    const char *a[] = {name, body};
    char err[256];
    ck_assert_int_eq(writer_run(ts.w, push_fn, (void *)a, err, sizeof(err)), LT_OK);
}

static void setup(void)
{
    tu_store_open(&ts, "replay.db", NULL);
    struct fakeup_config fc;
    fakeup_config_default(&fc);
    fc.listen = "127.0.0.1:0";
    char err[256];
    ck_assert_int_eq(fakeup_start(&fake, &fc, err, sizeof(err)), 0);
    setenv("OPENAI_API_KEY", "sk-test", 1);
    ups[0] = (struct runner_upstream){"openai", fakeup_url(fake), 0};
    ups[1] = (struct runner_upstream){"anthropic", fakeup_url(fake), 1};
    push("support",
         "{\"messages\":[{\"role\":\"system\",\"content\":\"FAKE-REPLY: one {{id}}\"}]}");
    push("support", "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\\nFAKE-REPLY: "
                    "two {{id}}\"},{\"role\":\"user\",\"content\":\"Question {{id}}\"}]}");
    tu_ingest_json(ts.w,
                   "{\"trace_id\":\"" TRACE "\",\"span_id\":\"" SPAN "\",\"project\":\"shop\","
                   "\"kind\":\"llm\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\","
                   "\"input\":\"x\",\"output\":\"one Q-1\",\"prompt\":{\"name\":\"support\","
                   "\"version\":1,\"variables\":{\"id\":\"Q-1\"}}}\n"
                   "{\"trace_id\":\"" NOVARS "\",\"span_id\":\"" SPAN "\",\"kind\":\"llm\","
                   "\"provider\":\"anthropic\",\"model\":\"claude-3-5-haiku-latest\","
                   "\"input\":[{\"role\":\"system\",\"content\":\"Old.\"},{\"role\":\"user\","
                   "\"content\":\"Kept turn\"}],\"output\":\"old answer\"}\n");
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    memset(&kept, 0, sizeof(kept));
}

static void teardown(void)
{
    for (size_t i = 0; i < kept.nspans; i++)
        free(kept.span_json[i]);
    cJSON_Delete(kept.op);
    store_close(ro);
    fakeup_stop(fake);
    tu_store_close(&ts);
}

static int run(const struct replay_request *req, struct replay_result *res, char *err,
               size_t errlen)
{
    struct replay_config cfg = {
        .upstreams = ups, .nupstreams = 2, .db = store_db(ro), .sink = {NULL, keep_spans, keep_op}};
    replay_result_init(res);
    return replay_run(&cfg, req, res, err, errlen);
}

START_TEST(test_replay_links_the_new_span_and_records_the_original)
{
    struct replay_request req = {.trace_id = TRACE, .prompt = "support@2"};
    struct replay_result res;
    char err[512];
    ck_assert_msg(run(&req, &res, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(kept.nspans, 1); /* the original made no call */
    cJSON *sp = cJSON_Parse(kept.span_json[0]);
    ck_assert_str_eq(jsonx_str(sp, "project"), "shop");
    ck_assert_str_eq(jsonx_str(sp, "replay_of"), TRACE ":" SPAN);
    ck_assert_str_eq(jsonx_str(sp, "model"), "gpt-4o-mini"); /* the original's */
    ck_assert_msg(strstr(jsonx_str(sp, "input"), "Question Q-1"), "rendered with the variables");
    cJSON_Delete(sp);
    const struct eval_output *o = eval_output_at(&res.report, 0, 0, 0);
    const struct eval_output *n = eval_output_at(&res.report, 0, 1, 0);
    ck_assert_str_eq(o->text, "one Q-1");
    ck_assert_str_eq(o->trace_id, TRACE);
    ck_assert_str_eq(n->text, "two Q-1");
    ck_assert_int_eq(res.cases[0].swapped, 0);
    /* one op, one row, with both spans' scores (default: similar) */
    ck_assert_int_eq(kept.nops, 1);
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(kept.op, "replays"), 0);
    ck_assert_str_eq(jsonx_str(row, "id"), res.cases[0].id);
    ck_assert_str_eq(jsonx_str(row, "mode"), "variables");
    ck_assert_str_eq(jsonx_str(row, "new_span_id"), n->span_id);
    ck_assert_ptr_null(cJSON_GetObjectItem(row, "batch_id"));
    const cJSON *scores = cJSON_GetObjectItem(row, "scores");
    ck_assert_int_eq(cJSON_GetArraySize(scores), 2);
    ck_assert_str_eq(jsonx_str(cJSON_GetArrayItem(scores, 0), "name"), "similar");
    ck_assert_str_eq(jsonx_str(cJSON_GetArrayItem(scores, 0), "trace_id"), TRACE);
    ck_assert_double_eq_tol(
        cJSON_GetObjectItem(cJSON_GetArrayItem(scores, 0), "value")->valuedouble, 1,
        1e-9); /* the original against itself */
    ck_assert_str_eq(jsonx_str(cJSON_GetArrayItem(scores, 1), "span_id"), n->span_id);
    cJSON *summary = replay_summary(&res, 0);
    const cJSON *d = cJSON_GetObjectItem(summary, "delta");
    ck_assert(cJSON_GetObjectItem(d, "score")->valuedouble < 0); /* the answer changed */
    cJSON_Delete(summary);
    replay_result_release(&res);
}
END_TEST

START_TEST(test_a_call_without_variables_keeps_its_turns_under_the_new_system)
{
    struct replay_request req = {.trace_id = NOVARS, .span_id = SPAN, .prompt = "support@2"};
    struct replay_result res;
    char err[512];
    ck_assert_msg(run(&req, &res, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(res.cases[0].swapped, 1);
    cJSON *sp = cJSON_Parse(kept.span_json[0]);
    const char *in = jsonx_str(sp, "input");
    ck_assert_msg(strstr(in, "Be brief.") && strstr(in, "Kept turn") && !strstr(in, "Old.") &&
                      !strstr(in, "Question"),
                  "%s", in);
    cJSON_Delete(sp);
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(kept.op, "replays"), 0);
    ck_assert_str_eq(jsonx_str(row, "mode"), "system_swap");
    ck_assert_str_eq(jsonx_str(row, "upstream"), "anthropic");
    replay_result_release(&res);
}
END_TEST

START_TEST(test_a_batch_shares_its_id_and_reaches_a_verdict)
{
    char lines[4096] = "";
    for (int i = 0; i < 10; i++) {
        char l[400];
        snprintf(l, sizeof(l),
                 "{\"trace_id\":\"%032x\",\"span_id\":\"" SPAN "\",\"kind\":\"llm\","
                 "\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"input\":\"x\","
                 "\"output\":\"one B-%d\",\"prompt\":{\"name\":\"support\",\"version\":1,"
                 "\"variables\":{\"id\":\"B-%d\"}}}\n",
                 0xe00 + i, i, i);
        strcat(lines, l);
    }
    tu_ingest_json(ts.w, lines);
    struct replay_request req = {.from = "prompt=support@1 sample=100", .prompt = "support@2"};
    struct replay_result res;
    char err[512];
    ck_assert_msg(run(&req, &res, err, sizeof(err)) == 0, "%s", err);
    ck_assert(res.batch);
    ck_assert_uint_eq(res.report.ncases, 11);
    const cJSON *row;
    int n = 0;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(kept.op, "replays"))
    {
        ck_assert_str_eq(jsonx_str(row, "batch_id"), res.batch_id);
        n++;
    }
    ck_assert_int_eq(n, 11);
    ck_assert_str_eq(replay_verdict(&res), "regression");
    ck_assert_uint_eq(res.gate.paired.losses, 11);
    replay_result_release(&res);
}
END_TEST

START_TEST(test_bad_requests_are_refused_before_any_call)
{
    static const struct replay_request bad[] = {
        {.trace_id = TRACE, .prompt = "support@5"},
        {.trace_id = "00000000000000000000000000000fff", .prompt = "support@2"},
        {.from = "since=1d", .prompt = "support@2"},
        {.from = "prompt=support@1 sample=0", .prompt = "support@2"},
        {.trace_id = TRACE},
    };
    static const char *const says[] = {"not in the registry", "no LLM span", "which prompt",
                                       "sample", "--prompt"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct replay_result res;
        char err[512] = "";
        ck_assert_int_eq(run(&bad[i], &res, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, says[i]), "case %zu: '%s'", i, err);
        replay_result_release(&res);
    }
    ck_assert_int_eq(kept.nspans, 0);
    ck_assert_int_eq(kept.nops, 0);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_replay_links_the_new_span_and_records_the_original);
    tcase_add_test(tc, test_a_call_without_variables_keeps_its_turns_under_the_new_system);
    tcase_add_test(tc, test_a_batch_shares_its_id_and_reaches_a_verdict);
    tcase_add_test(tc, test_bad_requests_are_refused_before_any_call);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(replay_suite());
}
