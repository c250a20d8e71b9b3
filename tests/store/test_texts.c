/*
 * texts: span texts stored once. Arrays are cut exactly at their top-level
 * commas (strings, escapes, nesting), values read back byte for byte, a
 * conversation that resends its history stores each turn once (linear
 * growth), projects do not share texts, a rollback never leaves a
 * reference to a row that is gone, the index survives a restart, and a
 * corrupt refs blob is an SQL error, not a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/xmem.h"
#include "store/store.h"
#include "store/texts.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

/* ---- cutting ---- */

static void expect_split(const char *json, int n, const char *const *parts)
{
    size_t *st = NULL, *ln = NULL, got = 0;
    int rc = texts_split(json, strlen(json), &st, &ln, &got);
    if (n < 0) {
        ck_assert_msg(rc == -1, "'%s' should not split", json);
        ck_assert_ptr_null(st);
        return;
    }
    ck_assert_msg(rc == 0, "'%s' should split", json);
    ck_assert_uint_eq(got, (size_t)n);
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(ln[i], strlen(parts[i]));
        ck_assert(memcmp(json + st[i], parts[i], ln[i]) == 0);
    }
    free(st);
    free(ln);
}

START_TEST(test_split_cuts_at_top_level_commas_only)
{
    expect_split("[]", 0, NULL);
    expect_split("[1]", 1, (const char *const[]){"1"});
    expect_split("[{\"a\":\"x,]\"},2]", 2, (const char *const[]){"{\"a\":\"x,]\"}", "2"});
    expect_split("[\"q\\\"],\",[1,[2,3]],{\"b\":{\"c\":[]}}]", 3,
                 (const char *const[]){"\"q\\\"],\"", "[1,[2,3]]", "{\"b\":{\"c\":[]}}"});
    expect_split("[ 1 , 2 ]", 2, (const char *const[]){" 1 ", " 2 "});
    /* a quote after an even run of backslashes closes the string, after an odd one not */
    expect_split("[\"x\\\\\",2]", 2, (const char *const[]){"\"x\\\\\"", "2"});
    expect_split("[\"x\\\\\\\"\",2]", 2, (const char *const[]){"\"x\\\\\\\"\"", "2"});
    expect_split("[\"x\\\",2]", -1, NULL); /* the quote is escaped: never closed */
    expect_split("\"a plain string\"", -1, NULL);
    expect_split("{\"role\":\"user\"}", -1, NULL);
    expect_split("[1],[2]", -1, NULL);      /* ends in ']' but is two arrays */
    expect_split("[\"unclosed]", -1, NULL); /* string never ends */
    expect_split("[1,,2]", -1, NULL);       /* empty element */
    expect_split("[{]", -1, NULL);          /* unbalanced */
    expect_split("[", -1, NULL);
}
END_TEST

START_TEST(test_split_refuses_too_many_elements)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_putc(&b, '['), 0);
    for (int i = 0; i <= TEXTS_MAX_PER_VALUE; i++)
        ck_assert_int_eq(buf_puts(&b, i ? ",1" : "1"), 0);
    ck_assert_int_eq(buf_putc(&b, ']'), 0);
    size_t *st = NULL, *ln = NULL, n = 0;
    ck_assert_int_eq(texts_split(b.data, b.len, &st, &ln, &n), -1);
    buf_release(&b);
}
END_TEST

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

START_TEST(test_hash_separates_projects_keys_and_bytes)
{
    uint64_t k1[2] = {1, 2}, k2[2] = {1, 3};
    uint8_t a[16], b[16];
    texts_hash(k1, "p", "hello", 5, a);
    texts_hash(k1, "p", "hello", 5, b);
    ck_assert(memcmp(a, b, 16) == 0);
    texts_hash(k1, "q", "hello", 5, b);
    ck_assert(memcmp(a, b, 16) != 0);
    texts_hash(k2, "p", "hello", 5, b);
    ck_assert(memcmp(a, b, 16) != 0);
    texts_hash(k1, "p", "hellp", 5, b);
    ck_assert(memcmp(a, b, 16) != 0);
    texts_hash(k1, "p", "hello\0", 6, b); /* the length counts */
    ck_assert(memcmp(a, b, 16) != 0);
    /* 200,000 short, similar texts: no two share either half of the hash */
    enum { N = 200000 };
    uint64_t *lo = xmalloc(N * sizeof(*lo)), *hi = xmalloc(N * sizeof(*hi));
    for (int i = 0; i < N; i++) {
        char t[32];
        int n = snprintf(t, sizeof(t), "message %d", i);
        uint8_t h[16];
        texts_hash(k1, "p", t, (size_t)n, h);
        memcpy(&lo[i], h, 8);
        memcpy(&hi[i], h + 8, 8);
    }
    qsort(lo, N, sizeof(*lo), cmp_u64);
    qsort(hi, N, sizeof(*hi), cmp_u64);
    for (int i = 1; i < N; i++) {
        ck_assert(lo[i] != lo[i - 1]);
        ck_assert(hi[i] != hi[i - 1]);
    }
    free(lo);
    free(hi);
}
END_TEST

/* ---- through a real store and writer ---- */

static char *dir, *db;
static struct store *st;
static struct writer *w;

/* The writer with its compactor thread, or without it ('quiet'): a test
 * that trains its own dictionary must not race one the compactor trains. */
static void start_writer(int quiet)
{
    char err[256];
    struct writer_config cfg;
    writer_config_default(&cfg);
    if (quiet)
        cfg.compact_keep_hot = -1;
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_start(&w, st, &cfg, err, sizeof(err)), LT_OK);
}

static void start(void)
{
    start_writer(0);
}

static void stop(void)
{
    writer_stop(w);
    store_close(st);
    w = NULL;
    st = NULL;
}

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/t.db", dir);
    start();
}

static void teardown(void)
{
    stop();
    tu_rmtree(dir);
    free(db);
    free(dir);
}

static long long ro_int(const char *sql)
{
    return tu_ro_int(db, sql);
}

/* The stored input and output of span 'i' equal 'in' and 'out'. */
static void expect_io(int i, const char *in, const char *out)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro),
                                        "SELECT input, output FROM spans WHERE span_id=printf("
                                        "'%016x', ?1)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(q, 1, i + 1);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    const char *gi = (const char *)sqlite3_column_text(q, 0);
    const char *go = (const char *)sqlite3_column_text(q, 1);
    if (in)
        ck_assert_str_eq(gi, in);
    else
        ck_assert_ptr_null(gi);
    if (out)
        ck_assert_str_eq(go, out);
    else
        ck_assert_ptr_null(go);
    sqlite3_finalize(q);
    store_close(ro);
}

static void add(struct ingest_batch *b, const char *project, int i, const char *in, const char *out)
{
    struct span *s = &ingest_add_span(b)->span;
    snprintf(s->trace_id, sizeof(s->trace_id), "%032x", i + 1);
    snprintf(s->span_id, sizeof(s->span_id), "%016x", i + 1);
    s->project = xstrdup(project);
    s->kind = SPAN_KIND_LLM;
    s->start_ns = 1000 + i;
    s->end_ns = 2000 + i;
    s->input = in ? xstrdup(in) : NULL;
    s->output = out ? xstrdup(out) : NULL;
}

static void submit(struct ingest_batch *b)
{
    char err[256];
    ck_assert_int_eq(writer_submit(w, b, 100, err, sizeof(err)), LT_OK);
    ingest_batch_release(b);
}

START_TEST(test_values_of_every_shape_read_back_exactly)
{
    static const char *const in[] = {
        "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"hi, "
        "there]\"}]",
        "\"just a string\"",
        "[]",
        "[ {\"role\":\"user\",\"content\":\"spaced\"} ]",
        "{\"role\":\"user\",\"content\":\"an object\"}",
        NULL,
    };
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (int i = 0; i < 6; i++)
        add(&b, "p", i, in[i], i == 5 ? NULL : "{\"role\":\"assistant\",\"content\":\"ok\"}");
    submit(&b);
    for (int i = 0; i < 6; i++)
        expect_io(i, in[i], i == 5 ? NULL : "{\"role\":\"assistant\",\"content\":\"ok\"}");
}
END_TEST

/* Turn k of a chat: the system prompt, then k user/assistant pairs, then
 * the new question (caller frees). */
static char *history(int turns)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_puts(&b, "[{\"role\":\"system\",\"content\":\"You are a careful assistant. Answer "
                          "in full sentences and cite your sources.\"}");
    for (int k = 0; k < turns; k++)
        rc |= buf_printf(&b,
                         ",{\"role\":\"user\",\"content\":\"question %d about the weather in "
                         "city %d\"},{\"role\":\"assistant\",\"content\":\"answer %d: it is "
                         "sunny, %d degrees\"}",
                         k, k * 7, k, 10 + k);
    rc |= buf_printf(&b, ",{\"role\":\"user\",\"content\":\"question %d\"}]", turns);
    ck_assert_int_eq(rc, 0);
    return buf_take(&b, NULL);
}

START_TEST(test_a_resent_history_is_stored_once)
{
    enum { TURNS = 40 };
    for (int t = 0; t < TURNS; t++) { /* one request per turn, as an app sends them */
        struct ingest_batch b;
        ingest_batch_init(&b);
        char *in = history(t);
        char out[64];
        snprintf(out, sizeof(out), "{\"role\":\"assistant\",\"content\":\"reply %d\"}", t);
        add(&b, "p", t, in, out);
        free(in);
        submit(&b);
    }
    /* distinct texts: system + TURNS questions + (TURNS-1)*2 history pairs
     * counted once each + TURNS outputs: linear in the turns */
    long long texts = ro_int("SELECT count(*) FROM texts");
    ck_assert_int_eq(texts, 1 + TURNS + 2 * (TURNS - 1) + TURNS);
    long long raw = ro_int("SELECT sum(length(input)) FROM spans");
    long long stored = ro_int("SELECT sum(length(body)) FROM texts");
    ck_assert_int_lt(stored * 10, raw); /* the quadratic raw history, stored linearly */
    for (int t = 0; t < TURNS; t += 13) {
        char *in = history(t);
        char out[64];
        snprintf(out, sizeof(out), "{\"role\":\"assistant\",\"content\":\"reply %d\"}", t);
        expect_io(t, in, out);
        free(in);
    }
    /* resending everything adds no text */
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (int t = 0; t < TURNS; t++) {
        char *in = history(t);
        add(&b, "p", t, in, NULL);
        free(in);
    }
    submit(&b);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM texts"), texts);
}
END_TEST

START_TEST(test_projects_do_not_share_texts)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    add(&b, "a", 0, "[{\"role\":\"user\",\"content\":\"same\"}]", NULL);
    add(&b, "b", 1, "[{\"role\":\"user\",\"content\":\"same\"}]", NULL);
    add(&b, "a", 2, "[{\"role\":\"user\",\"content\":\"same\"}]", NULL);
    submit(&b);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM texts"), 2);
    expect_io(1, "[{\"role\":\"user\",\"content\":\"same\"}]", NULL);
}
END_TEST

START_TEST(test_the_index_survives_a_restart)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    add(&b, "p", 0, "[{\"role\":\"system\",\"content\":\"long system prompt\"}]", NULL);
    submit(&b);
    stop();
    start();
    ingest_batch_init(&b);
    add(&b, "p", 1, "[{\"role\":\"system\",\"content\":\"long system prompt\"}]", NULL);
    submit(&b);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM texts"), 1);
}
END_TEST

/* A savepoint that wrote a text and then failed. */
static int write_then_fail(sqlite3 *conn, void *ctx, char *err, size_t errlen)
{
    struct texts *t = ctx;
    struct ingest_batch b;
    ingest_batch_init(&b);
    add(&b, "p", 7, "[{\"role\":\"user\",\"content\":\"rolled back\"}]", NULL);
    struct buf in, out;
    buf_init(&in, 0);
    buf_init(&out, 0);
    int rc = texts_store(t, &b.spans[0], &in, &out, err, errlen);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(sqlite3_changes(conn), 1);
    buf_release(&in);
    buf_release(&out);
    ingest_batch_release(&b);
    snprintf(err, errlen, "failing on purpose");
    return 1;
}

START_TEST(test_a_rollback_leaves_no_reference_to_a_lost_row)
{
    char err[256];
    ck_assert_int_eq(writer_run(w, write_then_fail, writer_texts(w), err, sizeof(err)),
                     LT_INVALID_INPUT);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM texts"), 0);
    /* another text takes the rolled-back id; the first must not resolve to it */
    struct ingest_batch b;
    ingest_batch_init(&b);
    add(&b, "p", 0, "[{\"role\":\"user\",\"content\":\"other\"}]", NULL);
    add(&b, "p", 1, "[{\"role\":\"user\",\"content\":\"rolled back\"}]", NULL);
    submit(&b);
    expect_io(0, "[{\"role\":\"user\",\"content\":\"other\"}]", NULL);
    expect_io(1, "[{\"role\":\"user\",\"content\":\"rolled back\"}]", NULL);
}
END_TEST

START_TEST(test_corrupt_refs_are_an_sql_error)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    static const char *const bad[] = {"x'41'",    "x'4101'", "x'41017f'",
                                      "x'5602'",  "x'58'",   "x'4102ffffffffffffffffffff01'",
                                      "x'410105'"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *sql = xasprintf("SELECT llmtap_refs(%s)", bad[i]);
        sqlite3_stmt *q = NULL;
        ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL), SQLITE_OK);
        ck_assert_int_ne(sqlite3_step(q), SQLITE_ROW);
        sqlite3_finalize(q);
        free(sql);
    }
    ck_assert_int_eq(ro_int("SELECT llmtap_refs(NULL) IS NULL"), 1);
    ck_assert_int_eq(ro_int("SELECT llmtap_refs(x'4100') = '[]'"), 1);
    store_close(ro);
}
END_TEST

struct dict_ctx {
    const struct buf *d;
    int64_t id;
};

/* A writer_fn: store the dictionary in 'ctx' for project "p". */
static int store_dict(sqlite3 *conn, void *ctx, char *err, size_t errlen)
{
    struct dict_ctx *dc = ctx;
    return texts_store_dict(conn, "p", dc->d->data, dc->d->len, 600, &dc->id, err, errlen);
}

/* A support-chat message of turn 'i' (varied, but in one style). */
static char *chat_msg(int i)
{
    static const char *const topics[] = {"refund", "delivery", "exchange", "invoice", "account"};
    return xasprintf("{\"role\":\"%s\",\"content\":\"Hello, about my %s for order A-%05d: "
                     "could you check the status and tell me when it will be done? Thanks, "
                     "customer %d\"}",
                     i % 2 ? "assistant" : "user", topics[i % 5], i * 37 % 99991, i % 613);
}

static void ingest_chats(int first, int n)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (int i = first; i < first + n; i++) {
        char *m = chat_msg(i);
        char *in = xasprintf("[%s]", m);
        add(&b, "p", i, in, NULL);
        free(in);
        free(m);
    }
    submit(&b);
}

static void expect_chat(int i)
{
    char *m = chat_msg(i);
    char *in = xasprintf("[%s]", m);
    expect_io(i, in, NULL);
    free(in);
    free(m);
}

static long long count_dict(int64_t id)
{
    char *q = xasprintf("SELECT count(*) FROM texts WHERE dict=%lld", (long long)id);
    long long n = ro_int(q);
    free(q);
    return n;
}

START_TEST(test_a_trained_dictionary_packs_new_texts_and_old_ones_keep_theirs)
{
    stop();
    start_writer(1);
    ingest_chats(0, 600); /* packed without a dictionary */
    char err[256];
    struct store *rs = NULL;
    ck_assert_int_eq(store_open(&rs, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct texts_samples sm;
    texts_samples_init(&sm);
    ck_assert_int_eq(texts_sample(store_db(rs), "p", 1000, 1000, &sm, err, sizeof(err)), 0);
    ck_assert_uint_eq(sm.n, 600);
    struct buf dict;
    buf_init(&dict, 0);
    ck_assert_msg(texts_train(&sm, TEXTS_DICT_BYTES, &dict, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_gt(dict.len, 100);
    store_close(rs);
    /* stored as the writer does it, then installed */
    struct dict_ctx dc = {&dict, 0};
    ck_assert_int_eq(writer_run(w, store_dict, &dc, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(texts_install_dict(writer_texts(w), "p", dc.id, dict.data, dict.len), 0);
    ck_assert(texts_has_dict(writer_texts(w), "p"));
    ck_assert(!texts_has_dict(writer_texts(w), "other"));
    ingest_chats(600, 600); /* packed with it */
    ck_assert_int_eq(count_dict(0), 600);
    ck_assert_int_eq(count_dict(dc.id), 600);
    char *q = xasprintf("SELECT avg(length(body)) * 2 < (SELECT avg(length(body)) FROM texts WHERE "
                        "dict=0) FROM texts WHERE dict=%lld",
                        (long long)dc.id);
    ck_assert_int_eq(ro_int(q), 1); /* less than half the bytes */
    free(q);
    for (int i = 0; i < 1200; i += 97) /* both generations read back exactly */
        expect_chat(i);
    /* after a restart the dictionary is loaded again and still used */
    stop();
    start_writer(1);
    ck_assert(texts_has_dict(writer_texts(w), "p"));
    ingest_chats(1200, 10);
    ck_assert_int_eq(count_dict(dc.id), 610);
    expect_chat(1205);
    texts_samples_release(&sm);
    buf_release(&dict);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("texts");
    TCase *tc = tcase_create("cut");
    tcase_add_test(tc, test_split_cuts_at_top_level_commas_only);
    tcase_add_test(tc, test_split_refuses_too_many_elements);
    tcase_add_test(tc, test_hash_separates_projects_keys_and_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_values_of_every_shape_read_back_exactly);
    tcase_add_test(tc, test_a_resent_history_is_stored_once);
    tcase_add_test(tc, test_projects_do_not_share_texts);
    tcase_add_test(tc, test_the_index_survives_a_restart);
    tcase_add_test(tc, test_a_rollback_leaves_no_reference_to_a_lost_row);
    tcase_add_test(tc, test_corrupt_refs_are_an_sql_error);
    tcase_add_test(tc, test_a_trained_dictionary_packs_new_texts_and_old_ones_keep_theirs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
