/*
 * retention: a pass drops exactly the whole segments (and hot rows) older
 * than a project's limit and nothing of other projects; the rollups still
 * equal a recount, every reference resolves and no text is left
 * unreferenced; a text that a new span came to use between the snapshot
 * and the delete is kept; and with every project under a limit, ingesting
 * day after day leaves the file the same size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/retention.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define DAY_NS 86400000000000LL
#define T0 1772409600000000000LL /* 2026-03-02T00:00Z, spangen's start */

static struct tu_store ts;
static const char *db;
static struct writer *w;
static struct store *ro;

static void setup(void)
{
    tu_store_open(&ts, "ret.db", NULL);
    db = ts.db;
    w = ts.w;
    char err[256];
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
}

static void teardown(void)
{
    store_close(ro);
    tu_store_close(&ts);
}

static long long q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long q(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return tu_ro_int(db, sql);
}

static void compact_all(void)
{
    char err[256];
    int64_t moved, indexed;
    ck_assert_int_eq(writer_catch_up(w, &moved, &indexed, err, sizeof(err)), LT_OK);
}

START_TEST(test_a_pass_drops_whole_old_segments_of_one_project)
{
    char err[256];
    tu_ingest_spangen(w, 8000, 51, 400, NULL, NULL);
    compact_all();
    tu_ingest_spangen_at(w, 300, 52, 100, T0 + 3 * DAY_NS, NULL, NULL); /* newer, hot */
    long long mid = q("SELECT min_start + (max_start - min_start) / 2 FROM (SELECT min(start_ns)"
                      " AS min_start, max(start_ns) AS max_start FROM spans WHERE start_ns < %lld)",
                      T0 + DAY_NS);
    long long all = q("SELECT count(*) FROM spans");
    long long acme = q("SELECT count(*) FROM spans WHERE project = 'acme-support'");
    long long newer = q("SELECT count(*) FROM spans WHERE project = 'acme-support' AND start_ns >="
                        " %lld",
                        mid);
    long long whole = q("SELECT coalesce(sum(nrows), 0) FROM segments WHERE project ="
                        " 'acme-support' AND max_start < %lld",
                        mid);
    ck_assert_int_gt(whole, 0);
    ck_assert_int_eq(writer_retention_set(w, "acme-support", 10, err, sizeof(err)), LT_OK);
    struct retention_report rep;
    ck_assert_int_eq(
        writer_retention(w, store_db(ro), mid + 10 * DAY_NS, 0, &rep, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(rep.spans, whole); /* just the segments wholly older */
    ck_assert_int_gt(rep.texts, 0);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), all - whole);
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE project = 'acme-support' AND start_ns >="
                       " %lld",
                       mid),
                     newer); /* nothing newer went */
    ck_assert_int_lt(q("SELECT count(*) FROM spans WHERE project = 'acme-support'"), acme);
    ck_assert_int_eq(q("SELECT count(*) FROM segments WHERE project = 'acme-support' AND"
                       " max_start < %lld",
                       mid),
                     0);
    tu_expect_whole_store(db);
    /* a second pass finds nothing more to do */
    ck_assert_int_eq(
        writer_retention(w, store_db(ro), mid + 10 * DAY_NS, 1, &rep, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(rep.spans + rep.texts, 0);
    /* the rule is listed, and removing it keeps everything */
    struct retention_rule *rules = NULL;
    size_t n = 0;
    ck_assert_int_eq(retention_rules(store_db(ro), &rules, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(rules[0].project, "acme-support");
    ck_assert_int_eq(rules[0].days, 10);
    retention_rules_free(rules, n);
    ck_assert_int_eq(writer_retention_set(w, "acme-support", 0, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(
        writer_retention(w, store_db(ro), mid + 400 * DAY_NS, 0, &rep, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(rep.spans, 0);
}
END_TEST

static const char old_span[] =
    "{\"trace_id\":\"000000000000000000000000000000f1\",\"span_id\":\"00000000000000f1\","
    "\"kind\":\"llm\",\"start_ns\":\"1772409601000000000\",\"end_ns\":\"1772409602000000000\","
    "\"input\":[{\"role\":\"user\",\"content\":\"zebra crossing question\"}],"
    "\"output\":\"old answer\"}\n";
static const char pad_span[] = /* holds the newest texts, which are never freed */
    "{\"trace_id\":\"000000000000000000000000000000f3\",\"span_id\":\"00000000000000f3\","
    "\"kind\":\"llm\",\"start_ns\":\"1772409603000000000\",\"end_ns\":\"1772409604000000000\","
    "\"input\":\"pad question\",\"output\":\"pad answer\"}\n";
static const char new_span[] =
    "{\"trace_id\":\"000000000000000000000000000000f2\",\"span_id\":\"00000000000000f2\","
    "\"kind\":\"llm\",\"start_ns\":\"1772496001000000000\",\"end_ns\":\"1772496002000000000\","
    "\"input\":[{\"role\":\"user\",\"content\":\"zebra crossing question\"}],"
    "\"output\":\"new answer\"}\n";

static int drop_old(sqlite3 *conn, void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen; /* step 1 by hand: the old span is hot */
    return sqlite3_exec(conn, "DELETE FROM span_rows WHERE span_id = '00000000000000f1'", NULL,
                        NULL, NULL) != SQLITE_OK;
}

struct free_call {
    struct retention_free *f;
    struct retention_report rep;
};

static int free_fn(sqlite3 *conn, void *ctx, char *err, size_t errlen)
{
    struct free_call *c = ctx;
    return retention_free(conn, c->f, &c->rep, err, errlen);
}

START_TEST(test_a_text_used_again_after_the_snapshot_is_kept)
{
    char err[256];
    tu_ingest_json(w, old_span);
    tu_ingest_json(w, pad_span);
    int64_t indexed = 1;
    while (indexed) /* indexed, not compacted: the freed ones leave the index */
        ck_assert_int_eq(writer_index_step(w, &indexed, err, sizeof(err)), LT_OK);
    long long texts = q("SELECT count(*) FROM texts");
    ck_assert_int_eq(texts, 4);
    ck_assert_int_eq(writer_run(w, drop_old, NULL, err, sizeof(err)), LT_OK);
    struct retention_report rep = {.texts_max = texts, .segments_max = 0};
    struct free_call c = {0};
    ck_assert_int_eq(sqlite3_exec(store_db(ro), "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(retention_find(store_db(ro), &rep, 100, &c.f, err, sizeof(err)), 0);
    ck_assert_int_eq(sqlite3_exec(store_db(ro), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(retention_free_count(c.f), 2); /* the old span's: nothing refers to them */
    tu_ingest_json(w, new_span);                    /* reuses "zebra crossing question" */
    ck_assert_int_eq(q("SELECT count(*) FROM texts"), texts + 1);
    ck_assert_int_eq(writer_run(w, free_fn, &c, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(c.rep.texts, 1); /* "old answer"; the reused question stays */
    retention_free_release(c.f);
    tu_expect_whole_store(db);
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE search = 'zebra'"), 1);
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE search = 'old'"), 0);
}
END_TEST

START_TEST(test_day_after_day_the_file_stays_the_same_size)
{
    char err[256];
    static const char *const projects[] = {"acme-support", "docs-platform", "finpilot"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(writer_retention_set(w, projects[i], 1, err, sizeof(err)), LT_OK);
    long long pages[6];
    for (int day = 0; day < 6; day++) {
        tu_ingest_spangen_at(w, 2500, 60 + (uint64_t)day, 250, T0 + day * DAY_NS, NULL, NULL);
        compact_all();
        struct retention_report rep;
        ck_assert_int_eq(
            writer_retention(w, store_db(ro), T0 + (day + 1) * DAY_NS, 0, &rep, err, sizeof(err)),
            LT_OK);
        if (day > 0)
            ck_assert_int_gt(rep.spans, 2000); /* yesterday's */
        pages[day] = q("SELECT (SELECT page_count FROM pragma_page_count) -"
                       " (SELECT freelist_count FROM pragma_freelist_count)");
    }
    tu_expect_whole_store(db);
    ck_assert_int_le(q("SELECT count(*) FROM spans"), 2 * 2600);
    for (int day = 3; day < 6; day++) /* steady state: within 15 % of day 2 */
        ck_assert_msg(pages[day] * 100 <= pages[2] * 115, "day %d: %lld pages, day 2: %lld", day,
                      pages[day], pages[2]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("retention");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_a_pass_drops_whole_old_segments_of_one_project);
    tcase_add_test(tc, test_a_text_used_again_after_the_snapshot_is_kept);
    tcase_add_test(tc, test_day_after_day_the_file_stays_the_same_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
