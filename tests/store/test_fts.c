/*
 * fts + search: the tokenizer (words, case, CJK bigrams), the plain text of
 * stored JSON, query parsing (nothing the user types is FTS5 syntax),
 * phrase confirmation and snippets; and, on a real store, that a search
 * finds the same spans before indexing (texts read), after indexing and
 * after compaction, that those are exactly the spans an independent
 * reading of every span's text finds, and that the newest-first order of
 * `spans` equals SQLite's own sort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/xmem.h"
#include "store/fts.h"
#include "store/search.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

/* ---- pure functions, on an in-memory connection ---- */

static sqlite3 *mem;
static struct fts_tok *tok;

static void mem_setup(void)
{
    ck_assert_int_eq(sqlite3_open(":memory:", &mem), SQLITE_OK);
    ck_assert_int_eq(fts_register(mem), SQLITE_OK);
    tok = fts_tok_new(mem);
    ck_assert_ptr_nonnull(tok);
}

static void mem_teardown(void)
{
    fts_tok_free(tok);
    sqlite3_close(mem);
}

/* Which terms of 'query' does 'text' hold (as a bit mask)? */
static unsigned holds(const char *query, const char *text)
{
    struct fts_query *q = NULL;
    char err[256];
    ck_assert_msg(fts_query_parse(tok, query, &q, err, sizeof(err)) == 0, "%s: %s", query, err);
    size_t at, len;
    unsigned m = fts_text_match(tok, q, text, strlen(text), &at, &len);
    fts_query_free(q);
    return m;
}

START_TEST(test_words_phrases_and_case)
{
    const char *t = "The Quick brown fox, jumps over the lazy dog. Café au lait!";
    ck_assert_uint_eq(holds("quick", t), 1);
    ck_assert_uint_eq(holds("QUICK FOX", t), 3);
    ck_assert_uint_eq(holds("\"quick brown\"", t), 1);
    ck_assert_uint_eq(holds("\"brown quick\"", t), 0);  /* a phrase keeps its order */
    ck_assert_uint_eq(holds("\"fox jumps\"", t), 1);    /* punctuation between is no word */
    ck_assert_uint_eq(holds("cafe", t), 1);             /* diacritics folded */
    ck_assert_uint_eq(holds("qui", t), 0);              /* words, not prefixes */
    ck_assert_uint_eq(holds("fox \"lazy cat\"", t), 1); /* term 0 only */
}
END_TEST

START_TEST(test_cjk_is_found_by_any_substring)
{
    const char *ja = "今日の東京都の天気は晴れです。", *zh = "我喜欢学习中文";
    ck_assert_uint_eq(holds("天気", ja), 1);
    ck_assert_uint_eq(holds("東京都の天気", ja), 1);
    ck_assert_uint_eq(holds("都", ja), 1); /* one character */
    ck_assert_uint_eq(holds("す", ja), 1); /* the last one of a run */
    ck_assert_uint_eq(holds("大阪", ja), 0);
    ck_assert_uint_eq(holds("気天", ja), 0);
    ck_assert_uint_eq(holds("中文 学习", zh), 3);
    ck_assert_uint_eq(holds("Tokyo 東京", "Tokyo は東京"), 3); /* mixed scripts */
}
END_TEST

START_TEST(test_plain_text_skips_keys_and_roles)
{
    struct buf b;
    buf_init(&b, 0);
    const char *j = "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9 "
                    "\\\"quoted\\\"\\nnext \\ud83d\\ude00\"}],\"tool_call_id\":\"call_9\","
                    "\"name\":\"lookup\"}";
    ck_assert_int_eq(fts_plain(j, strlen(j), &b), 0);
    ck_assert_str_eq(buf_str(&b), "café \"quoted\"\nnext \xF0\x9F\x98\x80\nlookup\n");
    buf_reset(&b);
    ck_assert_int_eq(fts_plain("\"just a string\"", 15, &b), 0);
    ck_assert_str_eq(buf_str(&b), "just a string\n");
    buf_reset(&b);
    ck_assert_int_eq(fts_plain("42", 2, &b), 0); /* not JSON text: as is */
    ck_assert_str_eq(buf_str(&b), "42");
    buf_reset(&b);
    ck_assert_int_eq(fts_plain("{\"a\":\"unterminated", 18, &b), 0); /* no overrun */
    buf_release(&b);
}
END_TEST

START_TEST(test_user_input_never_reaches_fts5_as_syntax)
{
    ck_assert_int_eq(sqlite3_exec(mem,
                                  "CREATE VIRTUAL TABLE f USING fts5(body, content='',"
                                  " detail=none, tokenize='llmtap');"
                                  "INSERT INTO f(rowid, body) VALUES (1, 'AND OR NOT near a'),"
                                  " (2, 'a (b) c* \"d\" e:f'), (3, '東京の天気'), (4, 'x body');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    const char *queries[] = {"AND", "OR NOT", "NEAR(a b)",  "c*",        "\"d",  "e:f", "(b", "^a",
                             "-c",  "a + c",  "\"a\"\"b\"", "{body}: c", "東京", "天",  "'x'"};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        struct fts_query *q = NULL;
        char err[256];
        ck_assert_msg(fts_query_parse(tok, queries[i], &q, err, sizeof(err)) == 0, "%s: %s",
                      queries[i], err);
        for (int t = 0; t < fts_query_terms(q); t++) {
            sqlite3_stmt *st = NULL;
            ck_assert_int_eq(
                sqlite3_prepare_v2(mem, "SELECT count(*) FROM f WHERE f MATCH ?1", -1, &st, NULL),
                SQLITE_OK);
            sqlite3_bind_text(st, 1, fts_query_match(q, t), -1, SQLITE_STATIC);
            ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s -> %s: %s", queries[i],
                          fts_query_match(q, t), sqlite3_errmsg(mem));
            ck_assert_msg(sqlite3_column_int(st, 0) >= 1, "%s: no text holds %s", queries[i],
                          fts_query_match(q, t)); /* each term is in some text */
            sqlite3_finalize(st);
        }
        fts_query_free(q);
    }
    struct fts_query *q = NULL;
    char err[256];
    ck_assert_int_ne(fts_query_parse(tok, "  \"\" ... ", &q, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "no words"));
    char *longq = xmalloc(FTS_MAX_QUERY + 2);
    memset(longq, 'a', FTS_MAX_QUERY + 1);
    longq[FTS_MAX_QUERY + 1] = '\0';
    ck_assert_int_ne(fts_query_parse(tok, longq, &q, err, sizeof(err)), 0);
    free(longq);
}
END_TEST

START_TEST(test_snippet_is_cut_around_the_match)
{
    char text[600];
    memset(text, 'x', sizeof(text));
    for (int i = 0; i < (int)sizeof(text) - 1; i += 6)
        memcpy(text + i, "word\n ", 6);
    memcpy(text + 300, "NEEDLE", 6);
    text[sizeof(text) - 1] = '\0';
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(fts_snippet(text, strlen(text), 300, 6, 80, &b), 0);
    ck_assert_ptr_nonnull(strstr(buf_str(&b), "NEEDLE"));
    ck_assert_int_le(b.len, 120);
    ck_assert(strncmp(buf_str(&b), "\xE2\x80\xA6", 3) == 0);
    ck_assert(strcmp(buf_str(&b) + b.len - 3, "\xE2\x80\xA6") == 0);
    ck_assert_ptr_null(strchr(buf_str(&b), '\n'));
    buf_reset(&b);
    const char *ja = "あいうえおかきくけこさしすせそ";
    ck_assert_int_eq(fts_snippet(ja, strlen(ja), 15, 3, 10, &b), 0); /* never cuts a character */
    ck_assert_ptr_nonnull(strstr(buf_str(&b), "か"));
    buf_release(&b);
}
END_TEST

/* ---- on a store ---- */

static struct tu_store ts;
static const char *db;
static struct writer *w;

static void setup(void)
{
    tu_store_open(&ts, "fts.db", NULL);
    db = ts.db;
    w = ts.w;
}

static void teardown(void)
{
    tu_store_close(&ts);
}

/* The span ids a search finds, newest first, joined by spaces (caller
 * frees); NULL with the error in 'err' when the statement fails. */
static char *found(const char *query, const char *where, char *err, size_t errlen)
{
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, errlen), STORE_OK);
    char *sql = xasprintf("SELECT span_id, search FROM spans WHERE search = ?1%s"
                          " ORDER BY start_ns DESC",
                          where ? where : "");
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL), SQLITE_OK);
    free(sql);
    sqlite3_bind_text(q, 1, query, -1, SQLITE_STATIC);
    struct buf b;
    buf_init(&b, 0);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        ck_assert_int_eq(buf_printf(&b, "%s%s", b.len ? " " : "", sqlite3_column_text(q, 0)), 0);
        ck_assert_int_gt(sqlite3_column_bytes(q, 1), 0); /* a snippet */
    }
    char *out = NULL;
    if (rc == SQLITE_DONE)
        out = xstrdup(buf_str(&b));
    else
        snprintf(err, errlen, "%s", sqlite3_errmsg(store_db(ro)));
    buf_release(&b);
    sqlite3_finalize(q);
    store_close(ro);
    return out;
}

static void expect(const char *query, const char *want)
{
    char err[256];
    char *got = found(query, NULL, err, sizeof(err));
    ck_assert_msg(got, "%s: %s", query, err);
    ck_assert_msg(strcmp(got, want) == 0, "search %s: got [%s], want [%s]", query, got, want);
    free(got);
}

#define S1 "00000000000000a1"
#define S2 "00000000000000a2"
#define S3 "00000000000000a3"
#define S4 "00000000000000a4"

static const char conversation[] =
    "{\"trace_id\":\"0000000000000000000000000000aa01\",\"span_id\":\"" S1
    "\",\"kind\":\"llm\",\"start_ns\":\"1772409601000000000\","
    "\"end_ns\":\"1772409602000000000\",\"input\":[{\"role\":\"system\",\"content\":\"You are a "
    "helpful assistant.\"},{\"role\":\"user\",\"content\":\"The quick brown fox\"}],"
    "\"output\":\"jumps over the lazy dog\"}\n"
    "{\"trace_id\":\"0000000000000000000000000000aa02\",\"span_id\":\"" S2
    "\",\"kind\":\"llm\",\"start_ns\":\"1772409603000000000\","
    "\"end_ns\":\"1772409604000000000\",\"input\":[{\"role\":\"system\",\"content\":\"You are a "
    "helpful assistant.\"},{\"role\":\"user\",\"content\":\"brown, then quick\"}],"
    "\"output\":\"ok\"}\n"
    "{\"trace_id\":\"0000000000000000000000000000aa03\",\"span_id\":\"" S3
    "\",\"kind\":\"llm\",\"start_ns\":\"1772409605000000000\","
    "\"end_ns\":\"1772409606000000000\",\"input\":[{\"role\":\"user\",\"content\":\"今日の東京都の"
    "天気は?\"}],\"output\":\"晴れです\"}\n"
    "{\"trace_id\":\"0000000000000000000000000000aa04\",\"span_id\":\"" S4
    "\",\"kind\":\"llm\",\"start_ns\":\"1772409607000000000\","
    "\"end_ns\":\"1772409608000000000\",\"input\":\"我喜欢学习中文\",\"output\":\"user role\"}\n";

static void expect_conversation(void)
{
    expect("quick brown", S2 " " S1);
    expect("\"quick brown\"", S1);
    expect("fox \"lazy dog\"", S1); /* terms across input and output */
    expect("helpful", S2 " " S1);   /* the shared system prompt */
    expect("天気", S3);
    expect("東京都の天気", S3);
    expect("都", S3);
    expect("晴れ 東京", S3);
    expect("中文", S4);
    expect("user", S4); /* a role is not text; the word in an output is */
    expect("nothing-like-this", "");
}

START_TEST(test_search_before_and_after_indexing_and_compaction)
{
    char err[256];
    tu_ingest_json(w, conversation);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM meta WHERE key = 'fts_upto'"), 0);
    expect_conversation(); /* nothing indexed yet: texts are read */
    int64_t moved = 0, indexed = 0;
    ck_assert_int_eq(writer_index_step(w, &indexed, err, sizeof(err)), LT_OK);
    ck_assert_int_gt(indexed, 5);
    ck_assert_int_eq(tu_ro_int(db, "SELECT value FROM meta WHERE key='fts_upto'"),
                     tu_ro_int(db, "SELECT max(id) FROM texts"));
    expect_conversation();
    ck_assert_int_eq(writer_catch_up(w, &moved, &indexed, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(moved, 4);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM span_rows"), 0);
    expect_conversation();
    char *bad = found("\"\"", NULL, err, sizeof(err));
    ck_assert_ptr_null(bad);
    ck_assert_ptr_nonnull(strstr(err, "no words"));
    char *limited =
        found("quick", " AND trace_id = '0000000000000000000000000000aa02'", err, sizeof(err));
    ck_assert_str_eq(limited, S2); /* with other filters */
    free(limited);
}
END_TEST

/* Every span judged by reading its own input and output: the span ids
 * that hold every term, newest first (the oracle for the index). */
static char *read_every_span(const char *query)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct fts_tok *t = fts_tok_new(store_db(ro));
    struct fts_query *q = NULL;
    ck_assert_int_eq(fts_query_parse(t, query, &q, err, sizeof(err)), 0);
    sqlite3_stmt *rows = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro),
                                        "SELECT span_id, input, output FROM spans"
                                        " ORDER BY start_ns + 0 DESC",
                                        -1, &rows, NULL),
                     SQLITE_OK);
    struct buf ids, plain;
    buf_init(&ids, 0);
    buf_init(&plain, 0);
    unsigned all = (1u << fts_query_terms(q)) - 1;
    while (sqlite3_step(rows) == SQLITE_ROW) {
        unsigned m = 0;
        for (int c = 1; c <= 2; c++) { /* the messages of a part read together */
            const char *j = (const char *)sqlite3_column_text(rows, c);
            buf_reset(&plain);
            ck_assert_int_eq(fts_plain(j ? j : "", j ? strlen(j) : 0, &plain), 0);
            size_t at, len;
            m |= fts_text_match(t, q, plain.data ? plain.data : "", plain.len, &at, &len);
        }
        if (m == all)
            ck_assert_int_eq(
                buf_printf(&ids, "%s%s", ids.len ? " " : "", sqlite3_column_text(rows, 0)), 0);
    }
    char *out = xstrdup(buf_str(&ids));
    buf_release(&ids);
    buf_release(&plain);
    sqlite3_finalize(rows);
    fts_query_free(q);
    fts_tok_free(t);
    store_close(ro);
    return out;
}

static const char *const generated_queries[] = {
    "\"health checks\"", "refund",          "tracking number", "\"the order\"",
    "invoice overdraft", "E_REGISTRY_AUTH", "qqqqzzzz", /* rare and absent: segments are skipped by their filters */
};

static void expect_index_agrees(void)
{
    for (size_t i = 0; i < sizeof(generated_queries) / sizeof(generated_queries[0]); i++) {
        char err[256];
        char *want = read_every_span(generated_queries[i]);
        char *got = found(generated_queries[i], NULL, err, sizeof(err));
        ck_assert_msg(got, "%s", err);
        ck_assert_msg(strcmp(got, want) == 0, "%s: the index finds %zu bytes of ids, reading %zu",
                      generated_queries[i], strlen(got), strlen(want));
        free(got);
        free(want);
    }
}

START_TEST(test_search_finds_what_reading_every_span_finds)
{
    char err[256];
    tu_ingest_spangen(w, 3000, 41, 200, NULL, NULL);
    char *many = read_every_span("refund");
    ck_assert_ptr_nonnull(strchr(many, ' ')); /* many spans hold it */
    free(many);
    expect_index_agrees(); /* nothing indexed */
    int64_t moved = 0, indexed = 0;
    ck_assert_int_eq(writer_compact_step(w, 1000, &moved, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(writer_index_step(w, &indexed, err, sizeof(err)), LT_OK); /* part indexed */
    expect_index_agrees();
    ck_assert_int_eq(writer_catch_up(w, &moved, &indexed, err, sizeof(err)), LT_OK);
    tu_ingest_spangen(w, 500, 42, 100, NULL, NULL); /* new hot rows, not indexed */
    expect_index_agrees();
}
END_TEST

/* Sum over the first 'limit' rows of start_ns * position: equal only for
 * the same sequence. */
static long long order_sig(const char *order, const char *where, int limit)
{
    char *sql = xasprintf("SELECT sum((start_ns %% 1000003) * r) FROM (SELECT start_ns,"
                          " row_number() OVER () AS r FROM (SELECT start_ns FROM spans %s"
                          " ORDER BY %s DESC LIMIT %d))",
                          where, order, limit);
    long long v = tu_ro_int(db, sql);
    free(sql);
    return v;
}

START_TEST(test_newest_first_equals_sqlite_sort)
{
    char err[256];
    tu_ingest_spangen(w, 6000, 43, 300, NULL, NULL);
    int64_t moved = 0;
    ck_assert_int_eq(writer_compact_step(w, 3000, &moved, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(writer_compact_step(w, 1500, &moved, err, sizeof(err)), LT_OK);
    tu_ingest_spangen(w, 300, 44, 100, NULL, NULL); /* hot rows between segments in time */
    ck_assert_int_gt(tu_ro_int(db, "SELECT count(*) FROM segments"), 1);
    ck_assert_int_gt(tu_ro_int(db, "SELECT count(*) FROM span_rows"), 1000);
    const char *wheres[] = {"", "WHERE project = 'acme-support'",
                            "WHERE start_ns BETWEEN 1772420000000000000 AND 1772430000000000000",
                            "WHERE model = 'gpt-4o-mini'"};
    const int limits[] = {1, 50, 100000};
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 3; k++)
            ck_assert_msg(order_sig("start_ns", wheres[i], limits[k]) ==
                              order_sig("start_ns + 0", wheres[i], limits[k]),
                          "%s LIMIT %d", wheres[i], limits[k]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fts");
    TCase *tc = tcase_create("text");
    tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
    tcase_add_test(tc, test_words_phrases_and_case);
    tcase_add_test(tc, test_cjk_is_found_by_any_substring);
    tcase_add_test(tc, test_plain_text_skips_keys_and_roles);
    tcase_add_test(tc, test_user_input_never_reaches_fts5_as_syntax);
    tcase_add_test(tc, test_snippet_is_cut_around_the_match);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_search_before_and_after_indexing_and_compaction);
    tcase_add_test(tc, test_search_finds_what_reading_every_span_finds);
    tcase_add_test(tc, test_newest_first_equals_sqlite_sort);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
