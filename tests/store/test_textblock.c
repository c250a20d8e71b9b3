/*
 * textblock: a block round-trips its texts and refuses a body that does
 * not add up; on a store, packing older texts into blocks changes no
 * span's input or output, search and check still agree, and retention
 * frees texts out of blocks (a block left empty goes) with every
 * reference still resolving.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/xmem.h"
#include "store/retention.h"
#include "store/store.h"
#include "store/textblock.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

START_TEST(test_a_block_round_trips_and_refuses_damage)
{
    struct textblock_view v, back;
    textblock_view_init(&v);
    textblock_view_init(&back);
    const char *texts[] = {"\"short\"", "{\"role\":\"user\",\"content\":\"東京の天気\"}",
                           "[1,2,3]"};
    const int64_t ids[] = {10, 11, 40};
    for (int i = 0; i < 3; i++)
        textblock_push(&v, ids[i], texts[i], strlen(texts[i]));
    char big[5000];
    memset(big, 'x', sizeof(big));
    textblock_push(&v, 1000000, big, sizeof(big));
    struct buf body;
    buf_init(&body, 0);
    ck_assert_int_eq(textblock_encode(NULL, 0, &v, &body), 0);
    ck_assert_int_lt(body.len, 400); /* compressed */
    ck_assert_int_eq(textblock_decode(NULL, 0, body.data, body.len, 10, &back), 0);
    ck_assert_int_eq(back.n, 4);
    ck_assert_int_eq(back.first, 10);
    ck_assert_int_eq(back.last, 1000000);
    const char *p;
    size_t len;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(textblock_get(&back, ids[i], &p, &len), 1);
        ck_assert_int_eq(len, strlen(texts[i]));
        ck_assert(memcmp(p, texts[i], len) == 0);
    }
    ck_assert_int_eq(textblock_get(&back, 1000000, &p, &len), 1);
    ck_assert_int_eq(len, sizeof(big));
    ck_assert_int_eq(textblock_get(&back, 12, &p, &len), 0);
    ck_assert_int_eq(textblock_decode(NULL, 0, body.data, body.len / 2, 10, &back),
                     -1); /* truncated */
    ck_assert_int_eq(back.n, 0);
    body.data[body.len / 2] ^= 0x5a;
    ck_assert_int_eq(textblock_decode(NULL, 0, body.data, body.len, 10, &back), -1); /* corrupted */
    ck_assert_int_eq(textblock_decode(NULL, 0, "garbage", 7, 10, &back), -1);
    buf_release(&body);
    textblock_view_release(&v);
    textblock_view_release(&back);
}
END_TEST

/* ---- on a store ---- */

static struct tu_store ts;
static const char *db;
static struct writer *w;

static void setup(void)
{
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1; /* steps run by the test */
    cfg.text_block_keep = 300;
    cfg.text_block_train_first = 1200u << 10; /* a dictionary after the first block or two */
    cfg.text_block_train_every = 16u << 20;
    tu_store_open(&ts, "blocks.db", &cfg);
    db = ts.db;
    w = ts.w;
}

static void teardown(void)
{
    tu_store_close(&ts);
}

/* FNV-1a over every span's ids, input and output, in key order. */
static uint64_t digest(const char *where)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    char *sql = xasprintf("SELECT trace_id, span_id, input, output FROM spans %s"
                          " ORDER BY trace_id, span_id",
                          where);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL), SQLITE_OK);
    free(sql);
    uint64_t h = 1469598103934665603ull;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        for (int c = 0; c < 4; c++) {
            const unsigned char *p = sqlite3_column_text(q, c);
            for (int i = 0, n = sqlite3_column_bytes(q, c); i < n; i++)
                h = (h ^ p[i]) * 1099511628211ull;
            h = (h ^ 0xff) * 1099511628211ull;
        }
    ck_assert_int_eq(rc, SQLITE_DONE);
    sqlite3_finalize(q);
    store_close(ro);
    return h;
}

START_TEST(test_blocks_change_no_answer_and_retention_frees_out_of_them)
{
    char err[256];
    tu_ingest_spangen(w, 8000, 71, 400, NULL, NULL);
    /* the newest text is never freed (ids are never given twice): let it be
     * another project's, so dropping acme-support leaves none unreferenced */
    tu_ingest_json(w, "{\"trace_id\":\"7e000000000000000000000000000001\","
                      "\"span_id\":\"7e00000000000001\",\"project\":\"docs-platform\","
                      "\"kind\":\"llm\",\"input\":\"the newest text\","
                      "\"start_ns\":\"1772409600000000000\","
                      "\"end_ns\":\"1772409601000000000\"}\n");
    uint64_t all = digest(""), others = digest("WHERE project <> 'acme-support'");
    long long texts = tu_ro_int(db, "SELECT count(*) FROM texts");
    long long refund = tu_ro_int(db, "SELECT count(*) FROM spans WHERE search = '\"the refund\"'");
    ck_assert_int_gt(refund, 10);
    int64_t moved, indexed;
    ck_assert_int_eq(writer_catch_up(w, &moved, &indexed, err, sizeof(err)), LT_OK);
    ck_assert_int_gt(tu_ro_int(db, "SELECT count(*) FROM text_blocks"), 3);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM texts") +
                         tu_ro_int(db, "SELECT sum(count) FROM text_blocks"),
                     texts);
    ck_assert_int_lt(tu_ro_int(db, "SELECT count(*) FROM texts"), 300 + texts / 4);
    ck_assert_int_lt(tu_ro_int(db, "SELECT max(last_id) FROM text_blocks"),
                     tu_ro_int(db, "SELECT min(id) FROM texts")); /* blocks hold the older */
    ck_assert(digest("") == all);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM spans WHERE search = '\"the refund\"'"),
                     refund);
    /* a dictionary was trained once enough was packed, and the blocks
     * packed with it are smaller for their size than those before it */
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM text_block_dicts"), 1);
    ck_assert_int_gt(tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE dict = 0"), 0);
    ck_assert_int_gt(tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE dict = 1"), 1);
    long long without = tu_ro_int(db, "SELECT 1000000 * sum(length(body)) / sum(raw_len)"
                                      " FROM text_blocks WHERE dict = 0"),
              with = tu_ro_int(db, "SELECT 1000000 * sum(length(body)) / sum(raw_len)"
                                   " FROM text_blocks WHERE dict = 1");
    ck_assert_int_lt(with, without * 9 / 10);
    tu_expect_whole_store(db);
    /* drop one project: texts go out of rows and blocks alike */
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_retention_set(w, "acme-support", 1, err, sizeof(err)), LT_OK);
    struct retention_report rep;
    ck_assert_int_eq(writer_retention(w, store_db(ro),
                                      1772409600000000000LL + 30 * 86400000000000LL, 0, &rep, err,
                                      sizeof(err)),
                     LT_OK);
    store_close(ro);
    ck_assert_int_gt(rep.texts, 100);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM spans WHERE project = 'acme-support'"), 0);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM texts") +
                         tu_ro_int(db, "SELECT sum(count) FROM text_blocks"),
                     texts - rep.texts);
    ck_assert(digest("") == others);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM spans WHERE search = 'refund'"), 0);
    tu_expect_whole_store(db);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("textblock");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_a_block_round_trips_and_refuses_damage);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_blocks_change_no_answer_and_retention_frees_out_of_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
