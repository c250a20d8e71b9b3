/*
 * textblock: a block round-trips its texts and refuses a body that does
 * not add up; on a store, packing older texts into blocks changes no
 * span's input or output, search and check still agree, and retention
 * frees texts out of blocks (a block left empty goes) with every
 * reference still resolving; a block packed cold again reads the same,
 * takes fewer bytes, and is not stored over a block changed meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- packing cold ---- */

struct put_body {
    int64_t id, dict;
    const struct buf *body;
};

/* Writer: block 'id' gets 'body' (packed with 'dict'), warm. */
static int put_body_fn(sqlite3 *wdb, void *ctx, char *err, size_t errlen)
{
    const struct put_body *p = ctx;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(wdb,
                                "UPDATE text_blocks SET body = ?1, dict = ?2, cold = 0"
                                " WHERE id = ?3",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob64(st, 1, p->body->data, p->body->len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, p->dict);
        sqlite3_bind_int64(st, 3, p->id);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "%s", sqlite3_errmsg(wdb));
    return rc == SQLITE_OK ? 0 : -1;
}

struct apply_call {
    const struct textblock_repack *r;
    int got;
};

static int apply_fn(sqlite3 *wdb, void *ctx, char *err, size_t errlen)
{
    struct apply_call *c = ctx;
    c->got = textblock_repack_apply(wdb, c->r, err, errlen);
    return c->got < 0 ? -1 : 0;
}

/* Block 'id' packed again at the warm level with dictionary 'dict' (0 or
 * its own), stored warm; returns its byte count. */
static size_t make_warm(struct store *ro, int64_t id, int64_t dict)
{
    char err[256];
    sqlite3 *rdb = store_db(ro);
    struct textblock_dicts *d = textblock_dicts_open(rdb);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(
        sqlite3_prepare_v2(rdb, "SELECT dict, body FROM text_blocks WHERE id = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    struct textblock_view v;
    textblock_view_init(&v);
    ck_assert_int_eq(textblock_decode(d, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
                                      (size_t)sqlite3_column_bytes(st, 1), id, &v),
                     0);
    if (dict < 0)
        dict = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    struct buf body;
    buf_init(&body, 0);
    ck_assert_int_eq(textblock_encode(d, dict, &v, &body), 0);
    struct put_body p = {id, dict, &body};
    ck_assert_int_eq(writer_run(w, put_body_fn, &p, err, sizeof(err)), LT_OK);
    size_t n = body.len;
    buf_release(&body);
    textblock_view_release(&v);
    textblock_dicts_free(d);
    return n;
}

/* The oldest warm block, packed cold through a fresh read connection
 * (NULL when every block is cold). */
static struct textblock_repack *build_cold(void)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct textblock_dicts *d = textblock_dicts_open(store_db(ro));
    struct textblock_repack *r = NULL;
    ck_assert_int_eq(textblock_repack_build(store_db(ro), d, &r, err, sizeof(err)), 0);
    textblock_dicts_free(d);
    store_close(ro);
    return r;
}

static int apply_cold(const struct textblock_repack *r)
{
    char err[256];
    struct apply_call c = {r, -1};
    ck_assert_int_eq(writer_run(w, apply_fn, &c, err, sizeof(err)), LT_OK);
    return c.got;
}

START_TEST(test_blocks_packed_cold_read_the_same_in_fewer_bytes)
{
    char err[256];
    tu_ingest_spangen(w, 8000, 72, 400, NULL, NULL);
    uint64_t all = digest("");
    int64_t moved, indexed;
    ck_assert_int_eq(writer_catch_up(w, &moved, &indexed, err, sizeof(err)), LT_OK);
    /* `llmtap compact` leaves every block cold */
    ck_assert_int_gt(tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE dict = 1"), 1);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE cold = 0"), 0);
    ck_assert(build_cold() == NULL);
    ck_assert(digest("") == all);
    /* one block warm again, as the compactor packs it beside ingest */
    int64_t id = tu_ro_int(db, "SELECT max(id) FROM text_blocks WHERE dict = 1");
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    size_t warm = make_warm(ro, id, -1);
    struct textblock_repack *r = build_cold();
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_gt(textblock_repack_saved(r), warm / 50); /* 2 % at least */
    ck_assert_int_eq(apply_cold(r), 0);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE cold = 0"), 0);
    ck_assert_uint_eq((size_t)tu_ro_int(db, "SELECT length(body) FROM text_blocks"
                                            " WHERE id = (SELECT max(id) FROM text_blocks"
                                            " WHERE dict = 1)"),
                      warm - textblock_repack_saved(r));
    ck_assert_int_eq(apply_cold(r), 1); /* cold already: nothing written */
    textblock_repack_free(r);
    ck_assert(digest("") == all);
    /* a block rewritten between the build and the apply is left as it is */
    make_warm(ro, id, -1);
    r = build_cold();
    ck_assert_ptr_nonnull(r);
    make_warm(ro, id, 0); /* the same texts, without the dictionary */
    ck_assert_int_eq(apply_cold(r), 1);
    textblock_repack_free(r);
    ck_assert_int_eq(tu_ro_int(db, "SELECT dict FROM text_blocks WHERE id = (SELECT max(id)"
                                   " FROM text_blocks WHERE dict = 0 AND cold = 0)"),
                     0);
    ck_assert_int_eq(tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE cold = 0"), 1);
    store_close(ro);
    ck_assert(digest("") == all);
    tu_expect_whole_store(db);
}
END_TEST

/* With the compactor thread on, blocks are packed cold once no spans
 * have come for text_block_cold_idle_ns. */
START_TEST(test_an_idle_compactor_packs_blocks_cold)
{
    tu_store_close(&ts);
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = 0;
    cfg.compact_batch = 1000;
    cfg.text_block_keep = 300;
    cfg.text_block_train_first = 1200u << 10;
    cfg.text_block_cold_idle_ns = 300 * 1000000LL;
    tu_store_open(&ts, "idle.db", &cfg);
    db = ts.db;
    w = ts.w;
    tu_ingest_spangen(w, 6000, 73, 400, NULL, NULL);
    uint64_t all = digest("");
    long long blocks = 0, warm = -1;
    for (int i = 0; i < 600 && !(blocks > 2 && warm == 0); i++) {
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
        blocks = tu_ro_int(db, "SELECT count(*) FROM text_blocks");
        warm = tu_ro_int(db, "SELECT count(*) FROM text_blocks WHERE cold = 0");
    }
    ck_assert_int_gt(blocks, 2);
    ck_assert_int_eq(warm, 0);
    ck_assert(digest("") == all);
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
    tcase_add_test(tc, test_blocks_packed_cold_read_the_same_in_fewer_bytes);
    tcase_add_test(tc, test_an_idle_compactor_packs_blocks_cold);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
