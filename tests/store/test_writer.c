/*
 * store + writer: durable group commit, idempotent inserts, merges,
 * envelope dedup, the logs-to-span join, queue-full refusal, the one-writer
 * lock and read-only opens.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ids.h"
#include "core/xmem.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct store *st;
static struct writer *w;

static void setup(void)
{
    char err[256];
    dir = tu_tmpdir();
    db = xasprintf("%s/t.db", dir);
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_start(&w, st, NULL, err, sizeof(err)), LT_OK);
}

static void teardown(void)
{
    writer_stop(w);
    store_close(st);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

static void fill(struct span *s, int i)
{
    snprintf(s->trace_id, sizeof(s->trace_id), "%032x", i + 1);
    snprintf(s->span_id, sizeof(s->span_id), "%016x", i + 1);
    s->project = xstrdup("p");
    s->kind = SPAN_KIND_LLM;
    s->start_ns = 1000 + i;
    s->end_ns = 2000 + i;
    s->model = xstrdup("gpt-4o-mini");
    s->usage.input_tokens = 10;
}

/* Read one integer from a fresh read-only connection. */
static long long ro_int(const char *sql)
{
    return tu_ro_int(db, sql);
}

static char *ro_text(const char *sql)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(q, 0);
    char *v = t ? xstrdup(t) : NULL;
    sqlite3_finalize(q);
    store_close(ro);
    return v;
}

static int submit_n(int first, int n, enum rec_result expect)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (int i = 0; i < n; i++)
        fill(&ingest_add_span(&b)->span, first + i);
    char err[256];
    int rc = writer_submit(w, &b, 100, err, sizeof(err));
    for (size_t i = 0; rc == LT_OK && expect != REC_PENDING && i < b.nspans; i++)
        ck_assert_int_eq(b.spans[i].result, expect); /* REC_PENDING: mixed, not checked */
    ingest_batch_release(&b);
    return rc;
}

START_TEST(test_resent_spans_are_stored_once)
{
    ck_assert_int_eq(submit_n(0, 50, REC_CREATED), LT_OK);
    ck_assert_int_eq(submit_n(0, 50, REC_DUPLICATE), LT_OK);
    ck_assert_int_eq(submit_n(25, 50, REC_PENDING), LT_OK); /* half new */
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 75);
    ck_assert_int_eq(ro_int("SELECT count(DISTINCT trace_id||span_id) FROM spans"), 75);
    struct writer_stats ws;
    writer_get_stats(w, &ws);
    ck_assert_uint_eq(ws.spans_created, 75);
    ck_assert_uint_eq(ws.spans_duplicate, 75);
}
END_TEST

struct thr {
    int first;
};

static void *submitter(void *arg)
{
    struct thr *t = arg;
    for (int k = 0; k < 25; k++)
        ck_assert_int_eq(submit_n(t->first + k * 20, 20, REC_CREATED), LT_OK);
    return NULL;
}

START_TEST(test_concurrent_submitters_share_commits)
{
    pthread_t th[8];
    struct thr args[8];
    for (int i = 0; i < 8; i++) {
        args[i].first = i * 10000;
        pthread_create(&th[i], NULL, submitter, &args[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM span_rows"), 8 * 25 * 20);
    struct writer_stats ws;
    writer_get_stats(w, &ws);
    ck_assert_uint_le(ws.commits, 200);
    ck_assert_uint_ge(ws.commits, 1);
}
END_TEST

/* The writer checkpoints between groups under load, and the WAL starts
 * over: its file stays a fraction of the pages written through it. */
START_TEST(test_wal_is_checkpointed_and_starts_over_under_load)
{
    char err[256];
    writer_stop(w);
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.checkpoint_pages = 16;
    ck_assert_int_eq(writer_start(&w, st, &cfg, err, sizeof(err)), LT_OK);
    pthread_t th[8];
    struct thr args[8];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 8; i++) {
            args[i].first = round * 100000 + i * 10000;
            pthread_create(&th[i], NULL, submitter, &args[i]);
        }
        for (int i = 0; i < 8; i++)
            pthread_join(th[i], NULL);
    }
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 4 * 8 * 25 * 20);
    struct writer_stats ws;
    writer_get_stats(w, &ws);
    char *wal = xasprintf("%s-wal", db);
    struct stat sb;
    ck_assert_int_eq(stat(wal, &sb), 0);
    long long wal_pages = (long long)sb.st_size / 4096;
    free(wal);
    ck_assert_uint_ge(ws.checkpoints, 3);
    ck_assert_uint_gt(ws.wal_frames, 400);
    ck_assert_int_lt(wal_pages, (long long)ws.wal_frames / 3);
}
END_TEST

START_TEST(test_merge_records_combine_fields)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct rec_span *r = ingest_add_span(&b);
    fill(&r->span, 7);
    r->op = REC_MERGE;
    r->span.attributes = xstrdup("{\"a\":1}");
    r->span.usage.output_tokens = -1;
    char err[256];
    ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(b.spans[0].result, REC_CREATED);
    ingest_batch_release(&b);

    ingest_batch_init(&b);
    r = ingest_add_span(&b);
    snprintf(r->span.trace_id, 33, "%032x", 8);
    snprintf(r->span.span_id, 17, "%016x", 8);
    r->span.project = xstrdup("p");
    r->op = REC_MERGE;
    r->span.output = xstrdup("\"done\"");
    r->span.usage.output_tokens = 19;
    r->span.end_ns = 9999;
    r->span.status = SPAN_STATUS_ERROR;
    r->span.attributes = xstrdup("{\"b\":2}");
    ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(b.spans[0].result, REC_MERGED);
    ingest_batch_release(&b);

    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 1);
    ck_assert_int_eq(ro_int("SELECT input_tokens FROM spans"), 10);
    ck_assert_int_eq(ro_int("SELECT output_tokens FROM spans"), 19);
    ck_assert_int_eq(ro_int("SELECT start_ns FROM spans"), 1007);
    ck_assert_int_eq(ro_int("SELECT end_ns FROM spans"), 9999);
    char *attrs = ro_text("SELECT attributes FROM spans");
    ck_assert_str_eq(attrs, "{\"a\":1,\"b\":2}");
    free(attrs);
    char *status = ro_text("SELECT status || ',' || model || ',' || kind FROM spans");
    ck_assert_str_eq(status, "error,gpt-4o-mini,llm");
    free(status);
}
END_TEST

START_TEST(test_dedup_key_skips_a_replayed_envelope)
{
    char err[256];
    for (int round = 0; round < 2; round++) {
        struct ingest_batch b;
        ingest_batch_init(&b);
        struct rec_span *r = ingest_add_span(&b);
        fill(&r->span, 3);
        r->op = REC_MERGE;
        r->dedup_key = xstrdup("langfuse:env-1");
        struct rec_score *sc = ingest_add_score(&b);
        sc->id = xstrdup("s1");
        sc->name = xstrdup("quality");
        sc->value = 0.5 + round;
        sc->dedup_key = xstrdup("langfuse:env-2");
        ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
        ck_assert_int_eq(b.spans[0].result, round ? REC_DUPLICATE : REC_CREATED);
        ck_assert_int_eq(b.scores[0].result, round ? REC_DUPLICATE : REC_CREATED);
        ingest_batch_release(&b);
    }
    ck_assert_int_eq(ro_int("SELECT count(*) FROM scores"), 1);
    ck_assert_int_eq(ro_int("SELECT value * 10 FROM scores"), 5);
}
END_TEST

static void add_msg(struct ingest_batch *b, int span, int64_t t, int seq, int out, const char *m)
{
    struct rec_logmsg *lm = ingest_add_logmsg(b);
    lm->project = xstrdup("p");
    snprintf(lm->trace_id, 33, "%032x", span + 1);
    snprintf(lm->span_id, 17, "%016x", span + 1);
    lm->time_ns = t;
    lm->seq = seq;
    lm->is_output = out;
    lm->message = xstrdup(m);
}

START_TEST(test_log_messages_join_their_span_in_either_order)
{
    char err[256];
    struct ingest_batch b;
    ingest_batch_init(&b);
    /* logs before the span (span 0), in reverse time order */
    add_msg(&b, 0, 20, 1, 0, "{\"role\":\"user\",\"content\":\"hi\"}");
    add_msg(&b, 0, 10, 0, 0, "{\"role\":\"system\",\"content\":\"be brief\"}");
    add_msg(&b, 0, 30, 2, 1, "{\"role\":\"assistant\",\"content\":\"hello\"}");
    ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
    ingest_batch_release(&b);
    ck_assert_int_eq(submit_n(0, 2, REC_CREATED), LT_OK);
    char *in = ro_text("SELECT input FROM spans WHERE span_id='0000000000000001'");
    ck_assert_str_eq(in, "[{\"role\":\"system\",\"content\":\"be brief\"},"
                         "{\"role\":\"user\",\"content\":\"hi\"}]");
    free(in);
    char *out = ro_text("SELECT output FROM spans WHERE span_id='0000000000000001'");
    ck_assert_str_eq(out, "{\"role\":\"assistant\",\"content\":\"hello\"}");
    free(out);
    /* logs after the span (span 1): two choices become an array; resent logs change nothing */
    for (int round = 0; round < 2; round++) {
        ingest_batch_init(&b);
        add_msg(&b, 1, 5, 0, 1, "{\"role\":\"assistant\",\"content\":\"a\"}");
        add_msg(&b, 1, 6, 1, 1, "{\"role\":\"assistant\",\"content\":\"b\",\"index\":1}");
        ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
        ingest_batch_release(&b);
    }
    out = ro_text("SELECT output FROM spans WHERE span_id='0000000000000002'");
    ck_assert_str_eq(out, "[{\"role\":\"assistant\",\"content\":\"a\"},"
                          "{\"role\":\"assistant\",\"content\":\"b\",\"index\":1}]");
    free(out);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM log_messages"), 5);
}
END_TEST

START_TEST(test_own_input_is_not_replaced_by_logs)
{
    char err[256];
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct rec_span *r = ingest_add_span(&b);
    fill(&r->span, 4);
    r->span.input = xstrdup("\"own\"");
    ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
    ingest_batch_release(&b);
    ingest_batch_init(&b);
    add_msg(&b, 4, 1, 0, 0, "{\"role\":\"user\",\"content\":\"from logs\"}");
    ck_assert_int_eq(writer_submit(w, &b, 1, err, sizeof(err)), LT_OK);
    ingest_batch_release(&b);
    char *in = ro_text("SELECT input FROM spans");
    ck_assert_str_eq(in, "\"own\"");
    free(in);
}
END_TEST

static volatile int blocker_running, release_blocker;

static int blocker(sqlite3 *dbh, void *ctx, char *err, size_t errlen)
{
    (void)dbh, (void)ctx, (void)err, (void)errlen;
    blocker_running = 1;
    while (!release_blocker)
        usleep(1000);
    return 0;
}

static void *run_blocker(void *arg)
{
    (void)arg;
    char err[128];
    ck_assert_int_eq(writer_run(w, blocker, NULL, err, sizeof(err)), LT_OK);
    return NULL;
}

static void *submit_eight(void *arg)
{
    (void)arg;
    ck_assert_int_eq(submit_n(100, 8, REC_CREATED), LT_OK);
    return NULL;
}

START_TEST(test_full_queue_refuses_with_unavailable_and_loses_nothing)
{
    writer_stop(w);
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.queue_max_records = 10;
    char err[256];
    ck_assert_int_eq(writer_start(&w, st, &cfg, err, sizeof(err)), LT_OK);
    blocker_running = release_blocker = 0;
    pthread_t a, b;
    pthread_create(&a, NULL, run_blocker, NULL);
    while (!blocker_running)
        usleep(1000);
    pthread_create(&b, NULL, submit_eight, NULL);
    struct writer_stats ws;
    do {
        usleep(1000);
        writer_get_stats(w, &ws);
    } while (ws.queued_records < 8);
    ck_assert_int_eq(submit_n(200, 5, REC_CREATED), LT_UNAVAILABLE);
    release_blocker = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 8);
    ck_assert_int_eq(submit_n(200, 5, REC_CREATED), LT_OK);
}
END_TEST

START_TEST(test_second_writer_is_refused_and_readers_see_commits)
{
    char err[256];
    struct store *other = NULL;
    ck_assert_int_eq(store_open(&other, db, STORE_READWRITE, err, sizeof(err)), STORE_ERR_LOCKED);
    ck_assert_ptr_nonnull(strstr(err, "another llmtap process"));
    ck_assert_int_eq(submit_n(0, 3, REC_CREATED), LT_OK);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 3); /* visible once acked */
    struct store *ro = NULL;
    char *notdb = xasprintf("%s/empty.db", dir);
    FILE *f = fopen(notdb, "w");
    fclose(f);
    ck_assert_int_ne(store_open(&ro, notdb, STORE_READONLY, err, sizeof(err)), STORE_OK);
    ck_assert_ptr_nonnull(strstr(err, "not an llmtap database"));
    free(notdb);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resent_spans_are_stored_once);
    tcase_add_test(tc, test_concurrent_submitters_share_commits);
    tcase_add_test(tc, test_wal_is_checkpointed_and_starts_over_under_load);
    tcase_add_test(tc, test_merge_records_combine_fields);
    tcase_add_test(tc, test_dedup_key_skips_a_replayed_envelope);
    tcase_add_test(tc, test_log_messages_join_their_span_in_either_order);
    tcase_add_test(tc, test_own_input_is_not_replaced_by_logs);
    tcase_add_test(tc, test_full_queue_refuses_with_unavailable_and_loses_nothing);
    tcase_add_test(tc, test_second_writer_is_refused_and_readers_see_commits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
