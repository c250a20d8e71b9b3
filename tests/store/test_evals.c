/*
 * evals: a saved run reads back whole (list, one run, its cases, losses
 * only) and saving the same run_id replaces it; the trend follows each
 * prompt version's newest run; bad operations are refused with a message
 * and write nothing; the call cache stores, replaces and misses; online
 * rules are added, replaced, listed, bounded and removed; and the scores of
 * spans read back per span and per version_set, spans hot or compacted.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ingest.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/evals.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

static struct tu_store ts;

static void setup(void)
{
    tu_store_open(&ts, "evals.db", NULL);
}

static void teardown(void)
{
    tu_store_close(&ts);
}

/* ---- operations through the writer --------------------------------------- */

struct apply_job {
    cJSON *op;
    struct buf answer;
    int rc;
    char err[512];
};

static int apply_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct apply_job *j = ctx;
    j->rc = evals_apply(db, j->op, &j->answer, j->err, sizeof(j->err));
    return j->rc < 0; /* a refused op wrote nothing; a failed one is rolled back */
}

/* Apply 'json' (an operation); its answer (caller frees) in *answer when
 * not NULL and its message in 'msg' ('n' bytes). Returns evals_apply's code. */
static int apply(const char *json, char **answer, char *msg, size_t n)
{
    char err[256], why[256];
    struct apply_job *j = xcalloc(1, sizeof(*j));
    j->op = jsonx_parse(json, strlen(json), why, sizeof(why));
    ck_assert_msg(j->op != NULL, "%s", why);
    buf_init(&j->answer, 4096);
    int wrc = writer_run(ts.w, apply_fn, j, err, sizeof(err));
    ck_assert_msg(wrc == LT_OK || j->rc != 0, "writer_run: %s", err);
    int rc = j->rc;
    if (answer)
        *answer = buf_take(&j->answer, NULL);
    if (msg)
        snprintf(msg, n, "%s", j->err);
    buf_release(&j->answer);
    cJSON_Delete(j->op);
    free(j);
    return rc;
}

static void apply_ok(const char *json, const char *want_in_answer)
{
    char *answer = NULL, msg[512];
    int rc = apply(json, &answer, msg, sizeof(msg));
    ck_assert_msg(rc == 0, "op refused (%d): %s", rc, msg);
    if (want_in_answer)
        ck_assert_msg(strstr(answer, want_in_answer) != NULL, "answer %s lacks %s", answer,
                      want_in_answer);
    free(answer);
}

/* A read-only connection on the test's store (caller closes). */
static struct store *ro_open(void)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    return ro;
}

/* ---- a report as gate_write_json writes it ------------------------------- */

struct rep_spec {
    const char *run_id, *suite, *finished; /* RFC 3339 */
    const char *prompts[2];
    int nvariants, ncases, repeats;
    const double *scores; /* ncases x nvariants, case-major */
    const char *text;     /* every output's text */
};

static cJSON *interval(double mean, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", mean);
    cJSON_AddNumberToObject(o, "lo", mean - 0.1);
    cJSON_AddNumberToObject(o, "hi", mean + 0.1);
    cJSON_AddNumberToObject(o, "sd", 0.2);
    cJSON_AddNumberToObject(o, "n", n);
    return o;
}

static double mean_of(const struct rep_spec *s, int v)
{
    double sum = 0;
    for (int c = 0; c < s->ncases; c++)
        sum += s->scores[c * s->nvariants + v];
    return s->ncases ? sum / s->ncases : NAN;
}

static cJSON *comparison(const struct rep_spec *s)
{
    if (s->nvariants < 2)
        return cJSON_CreateNull();
    int wins = 0, ties = 0, losses = 0;
    for (int c = 0; c < s->ncases; c++) {
        double d = s->scores[c * 2 + 1] - s->scores[c * 2];
        wins += d > 0, ties += d == 0, losses += d < 0;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "diff", interval(mean_of(s, 1) - mean_of(s, 0), s->ncases));
    cJSON_AddNumberToObject(o, "wins", wins);
    cJSON_AddNumberToObject(o, "ties", ties);
    cJSON_AddNumberToObject(o, "losses", losses);
    cJSON_AddNumberToObject(o, "sign_p", 0.5);
    cJSON_AddNumberToObject(o, "wilcoxon_p", 0.25);
    return o;
}

static cJSON *variant(const struct rep_spec *s, int v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", v ? "candidate" : "baseline");
    cJSON_AddStringToObject(o, "prompt", s->prompts[v]);
    cJSON_AddStringToObject(o, "model", "gpt-4o-mini");
    cJSON_AddStringToObject(o, "upstream", "openai");
    cJSON_AddItemToObject(o, "score", interval(mean_of(s, v), s->ncases));
    cJSON_AddNumberToObject(o, "pass_rate", 0.5);
    cJSON_AddNumberToObject(o, "pass_hat_n", 0.25);
    cJSON_AddNumberToObject(o, "calls", s->ncases * s->repeats);
    cJSON_AddNumberToObject(o, "failed", 0);
    cJSON_AddNumberToObject(o, "cached", 0);
    cJSON_AddNumberToObject(o, "cost_usd", 0.25 * (v + 1));
    cJSON_AddNumberToObject(o, "latency_p50_ms", 120);
    cJSON_AddNumberToObject(o, "latency_p95_ms", 480);
    return o;
}

static cJSON *output(const struct rep_spec *s, double score)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "ok");
    cJSON_AddStringToObject(o, "text", s->text ? s->text : "an answer");
    cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "latency_ms", 130);
    cJSON_AddNumberToObject(o, "cost_usd", 0.001);
    cJSON_AddNumberToObject(o, "input_tokens", 12);
    cJSON_AddNumberToObject(o, "output_tokens", 7);
    cJSON_AddFalseToObject(o, "cached");
    cJSON_AddNullToObject(o, "trace_id");
    cJSON_AddNullToObject(o, "span_id");
    cJSON_AddNumberToObject(o, "score", score);
    cJSON *sc = cJSON_AddArrayToObject(o, "scores");
    cJSON *one = cJSON_CreateObject();
    cJSON_AddNumberToObject(one, "value", score);
    cJSON_AddBoolToObject(one, "pass", score >= 0.5);
    cJSON_AddFalseToObject(one, "error");
    cJSON_AddStringToObject(one, "reason", "the judge's reasoning");
    cJSON_AddItemToArray(sc, one);
    return o;
}

static cJSON *report_case(const struct rep_spec *s, int c)
{
    cJSON *o = cJSON_CreateObject();
    char id[16];
    snprintf(id, sizeof(id), "%d", c + 1);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "vars"), "q", id);
    cJSON_AddStringToObject(o, "expected", "yes");
    cJSON_AddNullToObject(o, "metadata");
    cJSON *scores = cJSON_AddArrayToObject(o, "scores");
    cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
    for (int v = 0; v < s->nvariants; v++) {
        double x = s->scores[c * s->nvariants + v];
        cJSON_AddItemToArray(scores, cJSON_CreateNumber(x));
        cJSON *per = cJSON_CreateArray();
        for (int r = 0; r < s->repeats; r++)
            cJSON_AddItemToArray(per, output(s, x));
        cJSON_AddItemToArray(outs, per);
    }
    return o;
}

/* The report of 's' as a JSON tree (caller frees). */
static cJSON *report(const struct rep_spec *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", s->run_id);
    cJSON_AddStringToObject(o, "suite", s->suite);
    cJSON_AddStringToObject(o, "started", "2026-01-01T00:00:00.000Z");
    cJSON_AddStringToObject(o, "finished", s->finished);
    cJSON_AddFalseToObject(o, "interrupted");
    int regressed = s->nvariants == 2 && mean_of(s, 1) < mean_of(s, 0) - 0.05;
    cJSON_AddStringToObject(o, "verdict", regressed ? "regression" : "pass");
    cJSON_AddStringToObject(o, "reason", regressed ? "worse by more than 0.05" : "no worse");
    cJSON_AddNumberToObject(o, "repeats", s->repeats);
    cJSON *g = cJSON_AddObjectToObject(o, "gate");
    cJSON_AddNullToObject(g, "min_score");
    cJSON_AddNumberToObject(g, "max_regression", 0.05);
    cJSON_AddNumberToObject(g, "alpha", 0.05);
    cJSON *vs = cJSON_AddArrayToObject(o, "variants");
    for (int v = 0; v < s->nvariants; v++)
        cJSON_AddItemToArray(vs, variant(s, v));
    cJSON_AddItemToObject(o, "comparison", comparison(s));
    cJSON *sc = cJSON_CreateObject();
    cJSON_AddStringToObject(sc, "name", "judge");
    cJSON_AddStringToObject(sc, "type", "judge");
    cJSON_AddNumberToObject(sc, "weight", 1);
    cJSON_AddNumberToObject(sc, "threshold", 0.5);
    cJSON *svs = cJSON_AddArrayToObject(sc, "variants");
    for (int v = 0; v < s->nvariants; v++) {
        cJSON *iv = interval(mean_of(s, v), s->ncases);
        cJSON_AddNumberToObject(iv, "pass_rate", 0.5);
        cJSON_AddItemToArray(svs, iv);
    }
    cJSON_AddItemToObject(sc, "comparison", comparison(s));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "scorers"), sc);
    cJSON *cases = cJSON_AddArrayToObject(o, "cases");
    for (int c = 0; c < s->ncases; c++)
        cJSON_AddItemToArray(cases, report_case(s, c));
    return o;
}

/* {"op":"save_run","report":...} for 's' (caller frees). */
static char *save_op(const struct rep_spec *s)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "save_run");
    cJSON_AddItemToObject(op, "report", report(s));
    char *json = jsonx_print(op);
    cJSON_Delete(op);
    return json;
}

static void save(const struct rep_spec *s)
{
    char *json = save_op(s);
    apply_ok(json, s->run_id);
    free(json);
}

/* ---- runs ---------------------------------------------------------------- */

struct runs {
    int n;
    struct evals_run r[8];
};

static int collect_run(void *ctx, const struct evals_run *r)
{
    struct runs *rs = ctx;
    ck_assert_int_lt(rs->n, 8);
    struct evals_run *c = &rs->r[rs->n++];
    *c = *r;
    c->suite = xstrdup(r->suite);
    c->verdict = xstrdup(r->verdict);
    c->baseline = xstrdup(r->baseline);
    c->candidate = xstrdup(r->candidate);
    c->summary = xstrdup(r->summary);
    return 0;
}

static void runs_release(struct runs *rs)
{
    for (int i = 0; i < rs->n; i++)
        evals_run_release(&rs->r[i]);
    rs->n = 0;
}

struct cases {
    int n;
    int64_t idx[16];
    char id[16][16];
    double delta[16];
    char *json[16];
};

static int collect_case(void *ctx, int64_t idx, const char *case_id, double delta,
                        const char *case_json)
{
    struct cases *cs = ctx;
    ck_assert_int_lt(cs->n, 16);
    cs->idx[cs->n] = idx;
    snprintf(cs->id[cs->n], sizeof(cs->id[0]), "%s", case_id);
    cs->delta[cs->n] = delta;
    cs->json[cs->n++] = xstrdup(case_json);
    return 0;
}

static void cases_release(struct cases *cs)
{
    for (int i = 0; i < cs->n; i++)
        free(cs->json[i]);
    cs->n = 0;
}

static const double three[] = {0.5, 0.75, 1.0, 1.0, 0.75, 0.5}; /* case: baseline, candidate */

START_TEST(test_a_saved_run_reads_back_whole)
{
    struct rep_spec s = {"00112233445566ff",
                         "support-quality",
                         "2026-03-01T10:05:00.250Z",
                         {"support@1", "support@2"},
                         2,
                         3,
                         2,
                         three,
                         NULL};
    save(&s);
    struct store *ro = ro_open();
    sqlite3 *db = store_db(ro);
    struct runs rs = {0};
    ck_assert_int_eq(evals_list_runs(db, NULL, 10, collect_run, &rs), 0);
    ck_assert_int_eq(rs.n, 1);
    const struct evals_run *r = &rs.r[0];
    ck_assert_str_eq(r->run_id, "00112233445566ff");
    ck_assert_str_eq(r->suite, "support-quality");
    ck_assert_int_eq(r->started_ns, 1767225600000000000LL);
    ck_assert_int_eq(r->finished_ns, 1772359500250000000LL);
    ck_assert_str_eq(r->verdict, "pass");
    ck_assert_int_eq(r->interrupted, 0);
    ck_assert_str_eq(r->baseline, "support@1");
    ck_assert_str_eq(r->candidate, "support@2");
    ck_assert_double_eq_tol(r->baseline_score, 0.75, 1e-12);
    ck_assert_double_eq_tol(r->candidate_score, 0.75, 1e-12);
    ck_assert_double_eq_tol(r->diff, 0, 1e-12);
    ck_assert_double_eq_tol(r->diff_lo, -0.1, 1e-12);
    ck_assert_double_eq_tol(r->diff_hi, 0.1, 1e-12);
    ck_assert(r->ncases == 3 && r->repeats == 2 && r->nvariants == 2);
    ck_assert(r->wins == 1 && r->ties == 1 && r->losses == 1);
    ck_assert_double_eq_tol(r->cost_usd, 0.75, 1e-12);
    ck_assert_ptr_null(strstr(r->summary, "\"cases\""));
    ck_assert_ptr_nonnull(strstr(r->summary, "\"variants\":[{\"name\":\"baseline\""));
    ck_assert_ptr_null(strstr(r->summary, ": ")); /* compact */
    struct evals_run one;
    ck_assert_int_eq(evals_get_run(db, "00112233445566ff", &one), 1);
    ck_assert_str_eq(one.summary, r->summary);
    evals_run_release(&one);
    ck_assert_int_eq(evals_get_run(db, "0000000000000000", &one), 0);
    evals_run_release(&one);
    struct cases cs = {0};
    ck_assert_int_eq(evals_cases(db, "00112233445566ff", 0, collect_case, &cs), 0);
    ck_assert_int_eq(cs.n, 3);
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", i + 1);
        ck_assert_int_eq(cs.idx[i], i);
        ck_assert_str_eq(cs.id[i], want);
        ck_assert_double_eq_tol(cs.delta[i], three[2 * i + 1] - three[2 * i], 1e-12);
        cJSON *c = cJSON_Parse(cs.json[i]);
        ck_assert_ptr_nonnull(c);
        ck_assert_str_eq(cJSON_GetObjectItem(c, "id")->valuestring, want);
        ck_assert_int_eq(
            cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "outputs"), 1)), 2);
        cJSON_Delete(c);
    }
    cases_release(&cs);
    ck_assert_int_eq(evals_cases(db, "00112233445566ff", 1, collect_case, &cs), 0);
    ck_assert_int_eq(cs.n, 1); /* only case 3 got worse */
    ck_assert(cs.idx[0] == 2 && strcmp(cs.id[0], "3") == 0 && cs.delta[0] < 0);
    cases_release(&cs);
    runs_release(&rs);
    store_close(ro);
}
END_TEST

START_TEST(test_saving_the_same_run_id_replaces_it)
{
    struct rep_spec s = {
        "aaaaaaaaaaaaaaaa", "s", "2026-03-01T11:00:00Z", {"p@1", "p@2"}, 2, 3, 1, three, NULL};
    save(&s);
    static const double worse[] = {0.9, 0.1};
    s.ncases = 1;
    s.scores = worse;
    char *json = save_op(&s);
    apply_ok(json, "\"replaced\":true");
    free(json);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_runs"), 1);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_run_variants"), 2);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_cases"), 1);
    struct store *ro = ro_open();
    struct evals_run r;
    ck_assert_int_eq(evals_get_run(store_db(ro), "aaaaaaaaaaaaaaaa", &r), 1);
    ck_assert_str_eq(r.verdict, "regression");
    ck_assert(r.ncases == 1 && r.losses == 1 && r.wins == 0);
    ck_assert_double_eq_tol(r.candidate_score, 0.1, 1e-12);
    evals_run_release(&r);
    store_close(ro);
}
END_TEST

/* ---- the trend ----------------------------------------------------------- */

struct trend {
    int n;
    char prompt[8][32], run[8][17];
    int64_t version[8], finished[8];
    double score[8];
};

static int collect_trend(void *ctx, const char *prompt, int64_t version, double score,
                         const char *run_id, int64_t finished_ns)
{
    struct trend *t = ctx;
    ck_assert_int_lt(t->n, 8);
    snprintf(t->prompt[t->n], sizeof(t->prompt[0]), "%s", prompt);
    snprintf(t->run[t->n], sizeof(t->run[0]), "%s", run_id);
    t->version[t->n] = version;
    t->finished[t->n] = finished_ns;
    t->score[t->n++] = score;
    return 0;
}

START_TEST(test_the_trend_follows_each_versions_newest_run)
{
    static const double a[] = {0.2, 0.4}, b[] = {0.5, 0.7}, c[] = {0.9};
    struct rep_spec r1 = {"1000000000000001",
                          "nightly",
                          "2026-03-01T00:00:00Z",
                          {"support@1", "support@2"},
                          2,
                          1,
                          1,
                          a,
                          NULL};
    struct rep_spec r2 = {"1000000000000002",
                          "nightly",
                          "2026-03-02T00:00:00Z",
                          {"support@2", "support@3"},
                          2,
                          1,
                          1,
                          b,
                          NULL};
    struct rep_spec r3 = {
        "1000000000000003", "smoke", "2026-03-03T00:00:00Z", {"support@3", NULL}, 1, 1, 1, c, NULL};
    struct rep_spec other = {"1000000000000004",
                             "nightly",
                             "2026-02-01T00:00:00Z",
                             {"prompts/file.json", "billing@1"},
                             2,
                             1,
                             1,
                             a,
                             NULL};
    save(&r2); /* out of order: the trend goes by finish time */
    save(&r3);
    save(&r1);
    save(&other);
    struct store *ro = ro_open();
    sqlite3 *db = store_db(ro);
    struct trend t = {0};
    ck_assert_int_eq(evals_trend(db, collect_trend, &t), 0);
    ck_assert_int_eq(t.n, 4);
    ck_assert(strcmp(t.prompt[0], "billing") == 0 && t.version[0] == 1);
    ck_assert_double_eq_tol(t.score[0], 0.4, 1e-12);
    for (int i = 1; i < 4; i++) {
        ck_assert_str_eq(t.prompt[i], "support");
        ck_assert_int_eq(t.version[i], i);
    }
    ck_assert_double_eq_tol(t.score[1], 0.2, 1e-12); /* v1: run 1 only */
    ck_assert_str_eq(t.run[1], "1000000000000001");
    ck_assert_double_eq_tol(t.score[2], 0.5, 1e-12); /* v2: run 2's baseline, not run 1's */
    ck_assert_str_eq(t.run[2], "1000000000000002");
    ck_assert_double_eq_tol(t.score[3], 0.9, 1e-12); /* v3: run 3, one variant */
    ck_assert_str_eq(t.run[3], "1000000000000003");
    ck_assert_int_eq(t.finished[3], 1772496000000000000LL);
    /* the list: newest first, by suite, bounded */
    struct runs rs = {0};
    ck_assert_int_eq(evals_list_runs(db, NULL, 10, collect_run, &rs), 0);
    ck_assert_int_eq(rs.n, 4);
    ck_assert_str_eq(rs.r[0].run_id, "1000000000000003");
    ck_assert_str_eq(rs.r[3].run_id, "1000000000000004");
    ck_assert_ptr_null(rs.r[0].candidate);
    ck_assert(isnan(rs.r[0].candidate_score) && isnan(rs.r[0].diff));
    runs_release(&rs);
    ck_assert_int_eq(evals_list_runs(db, "nightly", 2, collect_run, &rs), 0);
    ck_assert_int_eq(rs.n, 2);
    ck_assert_str_eq(rs.r[0].run_id, "1000000000000002");
    ck_assert_str_eq(rs.r[1].run_id, "1000000000000001");
    runs_release(&rs);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_run_variants"
                                      " WHERE prompt_name IS NULL"),
                     1); /* the prompt file */
    store_close(ro);
}
END_TEST

/* ---- refusals ------------------------------------------------------------ */

/* 'op' with the report's member 'key' replaced by 'value' (JSON text). */
static char *with_member(const char *key, const char *value)
{
    static const double one[] = {0.5, 0.5};
    struct rep_spec s = {
        "bbbbbbbbbbbbbbbb", "s", "2026-03-01T11:00:00Z", {"p@1", "p@2"}, 2, 1, 1, one, NULL};
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "save_run");
    cJSON *rep = report(&s);
    cJSON_DeleteItemFromObject(rep, key);
    if (value)
        cJSON_AddItemToObject(rep, key, cJSON_Parse(value));
    cJSON_AddItemToObject(op, "report", rep);
    char *json = jsonx_print(op);
    cJSON_Delete(op);
    return json;
}

static char *cache_op(const char *key, int status, size_t body_len)
{
    char *body = xmalloc(body_len + 1);
    memset(body, 'x', body_len);
    body[body_len] = '\0';
    char *json = xasprintf("{\"op\":\"cache_put\",\"entries\":[{\"key\":\"%s\",\"status\":%d,"
                           "\"body\":\"%s\"}]}",
                           key, status, body);
    free(body);
    return json;
}

/* An online rule: its name, sample and more members (JSON texts). */
#define RULE                                                                                       \
    "{\"op\":\"online_add\",\"rule\":{\"name\":%s,\"sample\":%s,\"scorers\":[{\"type\":\"judge\"}" \
    "]%s}}"

START_TEST(test_bad_operations_are_refused_with_a_message)
{
    static const char k64[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char *ops[] = {
        xstrdup("{\"op\":\"save_run\"}"),
        xstrdup("{\"op\":\"save_run\",\"report\":[1]}"),
        with_member("run_id", "\"not-hex-at-all!\""),
        with_member("run_id", "\"00112233445566FF\""),
        with_member("run_id", NULL),
        with_member("suite", "\"\""),
        with_member("finished", "\"yesterday\""),
        with_member("finished", "\"2020-01-01T00:00:00Z\""), /* before started */
        with_member("verdict", "\"maybe\""),
        with_member("interrupted", "0"),
        with_member("repeats", "0"),
        with_member("repeats", "1.5"),
        with_member("variants", "[]"),
        with_member("variants", "[1,2,3,4,5,6,7,8,9]"),
        with_member("variants", "[{\"name\":\"a\",\"score\":{\"mean\":\"high\"}}]"),
        with_member("variants", "[{\"score\":{\"mean\":1}}]"),
        with_member("comparison", "{\"diff\":{\"mean\":0},\"wins\":-1,\"ties\":0,\"losses\":0}"),
        with_member("comparison", "\"yes\""),
        with_member("scorers", NULL),
        with_member("cases", NULL),
        with_member("cases", "[{\"id\":\"1\",\"vars\":{},\"scores\":[0.5],\"outputs\":[[],[]]}]"),
        with_member("cases", "[{\"id\":\"1\",\"vars\":{},\"scores\":[0.5,0.5],"
                             "\"outputs\":[[],[]]}]"),
        with_member("cases", "[{\"vars\":{},\"scores\":[0.5,0.5],\"outputs\":[[],[]]}]"),
        with_member("cases", "[7]"),
        xstrdup("{\"op\":\"cache_put\"}"),
        xstrdup("{\"op\":\"cache_put\",\"entries\":[7]}"),
        cache_op("abc", 200, 1),
        cache_op("00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg", 200, 1),
        cache_op(k64, 42, 1),
        cache_op(k64, 200, EVALS_CACHE_BODY_MAX + 1),
        xasprintf("{\"op\":\"cache_put\",\"entries\":[{\"key\":\"%s\",\"status\":200,"
                  "\"body\":\"x\",\"extra\":1}]}",
                  k64),
        xasprintf(RULE, "\"r\"", "0", ""),
        xasprintf(RULE, "\"r\"", "1.5", ""),
        xasprintf(RULE, "\"r\"", "\"half\"", ""),
        xasprintf(RULE, "\"a rule\"", "0.5", ""),
        xasprintf(RULE, "\"\"", "0.5", ""),
        xasprintf(RULE, "7", "0.5", ""),
        xasprintf(RULE, "\"r\"", "0.5", ",\"prompt\":\"support@production\""),
        xasprintf(RULE, "\"r\"", "0.5", ",\"prompt\":\"a/b\""),
        xasprintf(RULE, "\"r\"", "0.5", ",\"colour\":\"red\""),
        xasprintf(RULE, "\"r\"", "0.5", ",\"project\":\"\""),
        xstrdup("{\"op\":\"online_add\",\"rule\":{\"name\":\"r\",\"sample\":1,\"scorers\":[]}}"),
        xstrdup("{\"op\":\"online_add\"}"),
        xstrdup("{\"op\":\"online_rm\"}"),
        xstrdup("{\"op\":\"online_rm\",\"name\":\"../x\"}"),
        xstrdup("{\"op\":\"drop_tables\"}"),
        xstrdup("{\"report\":{}}"),
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        char msg[512] = "";
        int rc = apply(ops[i], NULL, msg, sizeof(msg));
        ck_assert_msg(rc == 1, "op %zu answered %d: %.200s", i, rc, ops[i]);
        ck_assert_msg(msg[0] != '\0', "op %zu has no message", i);
        free(ops[i]);
    }
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT (SELECT count(*) FROM eval_runs)"
                                      " + (SELECT count(*) FROM eval_run_variants)"
                                      " + (SELECT count(*) FROM eval_cases)"
                                      " + (SELECT count(*) FROM eval_cache)"
                                      " + (SELECT count(*) FROM eval_online)"),
                     0);
    /* the message says where */
    char msg[512];
    char *op = with_member("verdict", "\"maybe\"");
    ck_assert_int_eq(apply(op, NULL, msg, sizeof(msg)), 1);
    ck_assert_ptr_nonnull(strstr(msg, "report.verdict"));
    free(op);
    op = cache_op(k64, 200, EVALS_CACHE_BODY_MAX + 1);
    ck_assert_int_eq(apply(op, NULL, msg, sizeof(msg)), 1);
    ck_assert_ptr_nonnull(strstr(msg, "entries[0].body"));
    free(op);
}
END_TEST

/* ---- the cache ----------------------------------------------------------- */

START_TEST(test_the_cache_stores_replaces_and_misses)
{
    static const char k1[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    static const char k2[] = "FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100";
    char *op = xasprintf("{\"op\":\"cache_put\",\"entries\":["
                         "{\"key\":\"%s\",\"status\":200,\"body\":\"{\\\"a\\\":1}\","
                         "\"latency_ms\":12.5},"
                         "{\"key\":\"%s\",\"status\":201,\"body\":\"\"}]}",
                         k1, k2);
    apply_ok(op, "\"stored\":2");
    free(op);
    apply_ok("{\"op\":\"cache_put\",\"entries\":[]}", "\"stored\":0");
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i % 16 * 0x11);
    struct store *ro = ro_open();
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    double lat = 0;
    ck_assert_int_eq(evals_cache_get(store_db(ro), key, &status, &body, &len, &lat), 1);
    ck_assert(status == 200 && len == 7 && strcmp(body, "{\"a\":1}") == 0);
    ck_assert_double_eq(lat, 12.5);
    free(body);
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0xff - i % 16 * 0x11); /* upper-case hex is the same key */
    ck_assert_int_eq(evals_cache_get(store_db(ro), key, &status, &body, &len, &lat), 1);
    ck_assert(status == 201 && len == 0 && body[0] == '\0');
    ck_assert(isnan(lat)); /* not recorded */
    free(body);
    key[31] ^= 1;
    ck_assert_int_eq(evals_cache_get(store_db(ro), key, &status, &body, &len, NULL), 0);
    ck_assert_ptr_null(body);
    store_close(ro);
    op = xasprintf("{\"op\":\"cache_put\",\"entries\":[{\"key\":\"%s\",\"status\":200,"
                   "\"body\":\"second\"}]}",
                   k1);
    apply_ok(op, "\"stored\":1");
    free(op);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_cache"), 2);
    ro = ro_open();
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i % 16 * 0x11);
    ck_assert_int_eq(evals_cache_get(store_db(ro), key, &status, &body, &len, NULL), 1);
    ck_assert_str_eq(body, "second");
    free(body);
    store_close(ro);
    /* the largest body kept */
    char *big = cache_op(k1, 200, EVALS_CACHE_BODY_MAX);
    apply_ok(big, "\"stored\":1");
    free(big);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT max(length(body)) FROM eval_cache"),
                     EVALS_CACHE_BODY_MAX);
}
END_TEST

/* ---- online rules -------------------------------------------------------- */

struct rules {
    int n;
    char text[8][512];
};

static int collect_rule(void *ctx, const struct evals_online_rule *r)
{
    struct rules *rs = ctx;
    if (rs->n < 8)
        snprintf(rs->text[rs->n], sizeof(rs->text[0]), "%s|%s|%s|%lld|%g|%s|%s|%s|%d", r->name,
                 r->project, r->prompt_name ? r->prompt_name : "-", (long long)r->prompt_version,
                 r->sample, r->scorers, r->upstream ? r->upstream : "-", r->model ? r->model : "-",
                 r->created_ns > 0);
    rs->n++;
    return 0;
}

START_TEST(test_online_rules_are_added_replaced_listed_and_removed)
{
    apply_ok("{\"op\":\"online_add\",\"rule\":{\"name\":\"tone\",\"project\":\"shop\","
             "\"prompt\":\"support@3\",\"sample\":0.1,\"scorers\":[{\"type\":\"judge\","
             "\"rubric\":\"polite?\"}],\"upstream\":\"openai\",\"model\":\"gpt-4o\"}}",
             "{\"ok\":true,\"name\":\"tone\"");
    apply_ok("{\"op\":\"online_add\",\"rule\":{\"name\":\"json-ok\",\"sample\":1,"
             "\"scorers\":[{\"type\":\"is-json\"}]}}",
             "\"replaced\":false");
    struct store *ro = ro_open();
    struct rules rs = {0};
    ck_assert_int_eq(evals_online_list(store_db(ro), collect_rule, &rs), 0);
    ck_assert_int_eq(rs.n, 2);
    ck_assert_str_eq(rs.text[0], "json-ok|default|-|-1|1|[{\"type\":\"is-json\"}]|-|-|1");
    ck_assert_str_eq(rs.text[1], "tone|shop|support|3|0.1|[{\"type\":\"judge\",\"rubric\":"
                                 "\"polite?\"}]|openai|gpt-4o|1");
    store_close(ro);
    apply_ok("{\"op\":\"online_add\",\"rule\":{\"name\":\"tone\",\"prompt\":\"support\","
             "\"sample\":0.5,\"scorers\":[{\"type\":\"judge\"}]}}",
             "\"replaced\":true");
    ro = ro_open();
    rs.n = 0;
    ck_assert_int_eq(evals_online_list(store_db(ro), collect_rule, &rs), 0);
    ck_assert_int_eq(rs.n, 2);
    ck_assert_str_eq(rs.text[1], "tone|default|support|-1|0.5|[{\"type\":\"judge\"}]|-|-|1");
    store_close(ro);
    apply_ok("{\"op\":\"online_rm\",\"name\":\"tone\"}", "{\"ok\":true,\"removed\":true}");
    apply_ok("{\"op\":\"online_rm\",\"name\":\"tone\"}", "{\"ok\":true,\"removed\":false}");
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_online"), 1);
    /* at most EVALS_ONLINE_MAX_RULES; replacing one at the limit is fine */
    for (int i = 1; i < EVALS_ONLINE_MAX_RULES; i++) {
        char *op = xasprintf("{\"op\":\"online_add\",\"rule\":{\"name\":\"r%d\",\"sample\":1,"
                             "\"scorers\":[{\"type\":\"is-json\"}]}}",
                             i);
        apply_ok(op, NULL);
        free(op);
    }
    char msg[512];
    ck_assert_int_eq(apply("{\"op\":\"online_add\",\"rule\":{\"name\":\"one-more\",\"sample\":1,"
                           "\"scorers\":[{\"type\":\"is-json\"}]}}",
                           NULL, msg, sizeof(msg)),
                     1);
    ck_assert_ptr_nonnull(strstr(msg, "at most"));
    apply_ok("{\"op\":\"online_add\",\"rule\":{\"name\":\"r7\",\"sample\":0.5,"
             "\"scorers\":[{\"type\":\"is-json\"}]}}",
             "\"replaced\":true");
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM eval_online"), EVALS_ONLINE_MAX_RULES);
}
END_TEST

/* ---- scores on spans ----------------------------------------------------- */

#define T0 1772409600000000000LL /* 2026-03-02T00:00Z */

/* Spans s1..s4 of trace 'aa..', two per version_set, in project "shop". */
static void ingest_spans(void)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 1; i <= 4; i++)
        ck_assert_int_eq(buf_printf(&b,
                                    "{\"project\":\"shop\",\"trace_id\":\"%032x\","
                                    "\"span_id\":\"%016x\",\"kind\":\"llm\",\"name\":\"chat\","
                                    "\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\","
                                    "\"model\":\"gpt-4o-mini\",\"version_set\":\"app=%d\"}\n",
                                    0xaa, i, (int64_t)(T0 + i * 1000000LL),
                                    (int64_t)(T0 + i * 1000000LL + 500000LL), i <= 2 ? 1 : 2),
                         0);
    tu_ingest_json(ts.w, b.data);
    buf_release(&b);
}

/* 'n' spans of "shop" in other traces, with no score. */
static void ingest_unscored(int n)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(buf_printf(&b,
                                    "{\"project\":\"shop\",\"trace_id\":\"%032x\","
                                    "\"span_id\":\"%016x\",\"kind\":\"llm\",\"name\":\"chat\","
                                    "\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\","
                                    "\"model\":\"gpt-4o-mini\",\"version_set\":\"app=3\"}\n",
                                    0xbb00 + i / 4, i + 1, (int64_t)(T0 + i * 1000LL),
                                    (int64_t)(T0 + i * 1000LL + 500LL)),
                         0);
    tu_ingest_json(ts.w, b.data);
    buf_release(&b);
}

static void add_score(struct ingest_batch *b, const char *project, int span, const char *name,
                      double value, const char *comment, const char *source, int64_t t)
{
    static int seq;
    struct rec_score *s = ingest_add_score(b);
    s->project = xstrdup(project);
    s->id = xasprintf("score-%d", ++seq);
    snprintf(s->trace_id, sizeof(s->trace_id), "%032x", 0xaa);
    if (span)
        snprintf(s->span_id, sizeof(s->span_id), "%016x", span);
    s->name = xstrdup(name);
    s->value = value;
    s->data_type = xstrdup("NUMERIC");
    s->comment = comment ? xstrdup(comment) : NULL;
    s->source = xstrdup(source);
    s->time_ns = t;
}

static void ingest_scores(void)
{
    struct ingest_batch b;
    char err[256];
    ingest_batch_init(&b);
    add_score(&b, "shop", 1, "accuracy", 1.0, "exact", "eval", T0 + 30);
    add_score(&b, "shop", 1, "tone", 0.5, NULL, "online", T0 + 10);
    add_score(&b, "shop", 2, "accuracy", 0.5, NULL, "eval", T0 + 20);
    add_score(&b, "shop", 3, "accuracy", 0.25, NULL, "api", T0 + 20);
    add_score(&b, "shop", 4, "accuracy", 0.75, NULL, "api", T0 + 20);
    add_score(&b, "shop", 4, "tone", 1.0, NULL, "api", T0 + 20);
    add_score(&b, "shop", 0, "accuracy", 0.0, NULL, "api", T0);  /* on the trace: no span */
    add_score(&b, "other", 1, "accuracy", 0.0, NULL, "api", T0); /* another project */
    ck_assert_int_eq(writer_submit(ts.w, &b, 1000, err, sizeof(err)), LT_OK);
    ingest_batch_release(&b);
}

struct scores {
    int n;
    char text[8][128];
};

static int collect_score(void *ctx, const char *name, double value, const char *comment,
                         const char *source, int64_t time_ns)
{
    struct scores *s = ctx;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->text[s->n++], sizeof(s->text[0]), "%s=%g %s %s %lld", name, value,
             comment ? comment : "-", source, (long long)(time_ns - T0));
    return 0;
}

static int collect_vset(void *ctx, const char *version_set, const char *score_name, double mean,
                        int64_t n)
{
    struct scores *s = ctx;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->text[s->n++], sizeof(s->text[0]), "%s %s %g %lld", version_set, score_name, mean,
             (long long)n);
    return 0;
}

static void expect_version_scores(void)
{
    struct store *ro = ro_open();
    struct scores s = {0};
    ck_assert_int_eq(evals_version_scores(store_db(ro), "shop", collect_vset, &s), 0);
    ck_assert_int_eq(s.n, 4);
    ck_assert_str_eq(s.text[0], "app=1 accuracy 0.75 2");
    ck_assert_str_eq(s.text[1], "app=1 tone 0.5 1");
    ck_assert_str_eq(s.text[2], "app=2 accuracy 0.5 2");
    ck_assert_str_eq(s.text[3], "app=2 tone 1 1");
    s.n = 0;
    ck_assert_int_eq(evals_version_scores(store_db(ro), "nobody", collect_vset, &s), 0);
    ck_assert_int_eq(s.n, 0);
    store_close(ro);
}

START_TEST(test_span_scores_read_back_per_span_and_per_version_set)
{
    ingest_spans();
    ingest_scores();
    struct store *ro = ro_open();
    struct scores s = {0};
    char trace[33], span[17];
    snprintf(trace, sizeof(trace), "%032x", 0xaa);
    snprintf(span, sizeof(span), "%016x", 1);
    ck_assert_int_eq(evals_span_scores(store_db(ro), "shop", trace, span, collect_score, &s), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.text[0], "tone=0.5 - online 10"); /* oldest first */
    ck_assert_str_eq(s.text[1], "accuracy=1 exact eval 30");
    s.n = 0;
    ck_assert_int_eq(evals_span_scores(store_db(ro), "other", trace, span, collect_score, &s), 0);
    ck_assert_int_eq(s.n, 1);
    s.n = 0;
    snprintf(span, sizeof(span), "%016x", 9);
    ck_assert_int_eq(evals_span_scores(store_db(ro), "shop", trace, span, collect_score, &s), 0);
    ck_assert_int_eq(s.n, 0);
    store_close(ro);
    expect_version_scores();
    /* the same once the spans live in a segment */
    char err[256];
    int64_t moved = 0;
    ck_assert_int_eq(writer_compact_step(ts.w, 0, &moved, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(moved, 4);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM span_rows"), 0);
    expect_version_scores();
    /* many more spans than scores: each scored span is looked up instead
     * of reading them all; the same answer */
    ingest_unscored(5000);
    ck_assert_int_gt(tu_ro_int(ts.db, "SELECT total(calls) FROM rollup_daily"
                                      " WHERE project = 'shop'"),
                     6 * 700);
    expect_version_scores();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("evals");
    TCase *tc = tcase_create("evals");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_a_saved_run_reads_back_whole);
    tcase_add_test(tc, test_saving_the_same_run_id_replaces_it);
    tcase_add_test(tc, test_the_trend_follows_each_versions_newest_run);
    tcase_add_test(tc, test_bad_operations_are_refused_with_a_message);
    tcase_add_test(tc, test_the_cache_stores_replaces_and_misses);
    tcase_add_test(tc, test_online_rules_are_added_replaced_listed_and_removed);
    tcase_add_test(tc, test_span_scores_read_back_per_span_and_per_version_set);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
