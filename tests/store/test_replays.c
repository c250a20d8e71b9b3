/*
 * replays: rows saved through the evals operation read back whole (one,
 * the list newest first, one batch), saving an id again replaces it, the
 * scores land in the scores table on both spans (source "replay"), and
 * malformed operations are refused with a message and write nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xmem.h"
#include "store/evals.h"
#include "store/replays.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define OT "0123456789abcdef0123456789abcdef"
#define NT "fedcba9876543210fedcba9876543210"

static struct tu_store ts;

static void setup(void)
{
    tu_store_open(&ts, "replays.db", NULL);
}

static void teardown(void)
{
    tu_store_close(&ts);
}

struct job {
    cJSON *op;
    struct buf answer;
    int rc;
    char err[512];
};

static int job_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct job *j = ctx;
    j->rc = evals_apply(db, j->op, &j->answer, j->err, sizeof(j->err));
    return j->rc < 0;
}

static int apply(const char *json, char *msg, size_t n)
{
    struct job j = {0};
    j.op = cJSON_Parse(json);
    ck_assert_msg(j.op != NULL, "test JSON: %s", json);
    buf_init(&j.answer, 1 << 16);
    char err[256];
    int rc = writer_run(ts.w, job_fn, &j, err, sizeof(err));
    ck_assert_int_eq(rc, LT_OK);
    if (msg)
        snprintf(msg, n, "%s", j.err);
    if (j.rc == 0)
        ck_assert_msg(strstr(buf_str(&j.answer), "\"ok\":true"), "%s", buf_str(&j.answer));
    buf_release(&j.answer);
    cJSON_Delete(j.op);
    return j.rc;
}

/* A row with id 'id', batch 'batch' (NULL none) and time 'ns'. */
static char *row(const char *id, const char *batch, long long ns, double score)
{
    char b[64] = "null";
    if (batch)
        snprintf(b, sizeof(b), "\"%s\"", batch);
    return xasprintf(
        "{\"id\":\"%s\",\"batch_id\":%s,\"created_ns\":\"%lld\",\"project\":\"default\","
        "\"orig_trace_id\":\"" OT "\",\"orig_span_id\":\"0000000000000001\","
        "\"new_trace_id\":\"" NT "\",\"new_span_id\":\"%s\",\"prompt_name\":\"support\","
        "\"prompt_version\":7,\"model\":\"gpt-4o-mini\",\"upstream\":\"openai\","
        "\"mode\":\"variables\",\"status\":\"ok\",\"summary\":{\"prompt\":\"support@7\"},"
        "\"scores\":[{\"project\":\"default\",\"trace_id\":\"" OT "\",\"span_id\":"
        "\"0000000000000001\",\"name\":\"similar\",\"value\":1},{\"project\":\"default\","
        "\"trace_id\":\"" NT "\",\"span_id\":\"%s\",\"name\":\"similar\",\"value\":%g,"
        "\"comment\":\"why\"}]}",
        id, b, ns, id, id, score);
}

static void save(const char *id, const char *batch, long long ns, double score)
{
    char *r = row(id, batch, ns, score);
    char *op = xasprintf("{\"op\":\"replay\",\"replays\":[%s]}", r);
    char msg[512];
    ck_assert_msg(apply(op, msg, sizeof(msg)) == 0, "%s", msg);
    free(op);
    free(r);
}

static int collect(void *ctx, const struct replays_row *r)
{
    struct buf *b = ctx;
    ck_assert_int_eq(buf_printf(b, "%s%s", b->len ? "," : "", r->id), 0);
    return 0;
}

static char *list(const char *batch)
{
    struct store *ro = NULL;
    char err[256];
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_puts(&b, ""), 0);
    ck_assert_int_eq(replays_list(store_db(ro), batch, 100, collect, &b), 0);
    store_close(ro);
    char *s = xstrdup(buf_str(&b));
    buf_release(&b);
    return s;
}

START_TEST(test_replays_read_back_whole_and_replace_by_id)
{
    save("00000000000000a1", NULL, 1000, 0.25);
    save("00000000000000a2", "00000000000000bb", 3000, 0.5);
    save("00000000000000a3", "00000000000000bb", 2000, 0.75);
    struct store *ro = NULL;
    char err[256];
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct replays_row r;
    ck_assert_int_eq(replays_get(store_db(ro), "00000000000000a1", &r), 1);
    ck_assert_ptr_null(r.batch_id);
    ck_assert_str_eq(r.orig_trace_id, OT);
    ck_assert_str_eq(r.new_trace_id, NT);
    ck_assert_str_eq(r.new_span_id, "00000000000000a1");
    ck_assert_str_eq(r.prompt_name, "support");
    ck_assert_int_eq(r.prompt_version, 7);
    ck_assert_str_eq(r.mode, "variables");
    ck_assert_str_eq(r.summary, "{\"prompt\":\"support@7\"}");
    ck_assert_int_eq(r.created_ns, 1000);
    replays_row_release(&r);
    ck_assert_int_eq(replays_get(store_db(ro), "00000000000000ff", &r), 0);
    store_close(ro);
    char *all = list(NULL), *batch = list("00000000000000bb");
    ck_assert_str_eq(all, "00000000000000a2,00000000000000a3,00000000000000a1");
    ck_assert_str_eq(batch, "00000000000000a2,00000000000000a3");
    free(all);
    free(batch);
    /* the scores, one per span, upserted when the same replay is saved again */
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM scores WHERE source = 'replay'"), 6);
    save("00000000000000a1", NULL, 1000, 0.125);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM scores WHERE source = 'replay'"), 6);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM replays"), 3);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT CAST(value * 1000 AS INTEGER) FROM scores WHERE"
                                      " span_id = '00000000000000a1'"),
                     125);
}
END_TEST

START_TEST(test_bad_replay_operations_are_refused_and_write_nothing)
{
    char *good = row("00000000000000c1", NULL, 5, 0.5);
    static const struct {
        const char *from, *to, *says;
    } bad[] = {
        {"\"id\":\"00000000000000c1\"", "\"id\":\"xyz\"", "16 hex"},
        {"\"mode\":\"variables\"", "\"mode\":\"magic\"", "mode"},
        {"\"status\":\"ok\"", "\"status\":\"fine\"", "status"},
        {"\"orig_trace_id\":\"" OT "\"", "\"orig_trace_id\":\"1\"", "orig_trace_id"},
        {"\"summary\":{\"prompt\":\"support@7\"}", "\"summary\":\"text\"", "summary"},
        {"\"name\":\"similar\",\"value\":1", "\"name\":\"similar\",\"value\":\"high\"", "scores"},
    };
    char msg[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *r = xstrdup(good);
        char *at = strstr(r, bad[i].from);
        ck_assert_ptr_nonnull(at);
        char *edited = xasprintf("%.*s%s%s", (int)(at - r), r, bad[i].to, at + strlen(bad[i].from));
        char *op = xasprintf("{\"op\":\"replay\",\"replays\":[%s,%s]}",
                             "{\"id\":\"00000000000000c9\",\"project\":\"p\"}", edited);
        ck_assert_int_eq(apply(op, msg, sizeof(msg)), 1);
        free(op);
        op = xasprintf("{\"op\":\"replay\",\"replays\":[%s]}", edited);
        ck_assert_int_eq(apply(op, msg, sizeof(msg)), 1);
        ck_assert_msg(strstr(msg, bad[i].says), "case %zu: '%s' does not name %s", i, msg,
                      bad[i].says);
        free(op);
        free(edited);
        free(r);
    }
    ck_assert_int_eq(apply("{\"op\":\"replay\",\"replays\":[]}", msg, sizeof(msg)), 1);
    ck_assert_int_eq(apply("{\"op\":\"replay\"}", msg, sizeof(msg)), 1);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM replays"), 0);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM scores"), 0);
    free(good);
}
END_TEST

static Suite *replays_suite(void)
{
    Suite *s = suite_create("replays");
    TCase *tc = tcase_create("replays");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_replays_read_back_whole_and_replace_by_id);
    tcase_add_test(tc, test_bad_replay_operations_are_refused_and_write_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(replays_suite());
}
