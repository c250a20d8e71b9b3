/*
 * segment + spantab: compaction moves hot rows into columnar segments and
 * `spans` reads the same rows, column by column, before and after; the
 * pushed-down constraints select the same rows as SQLite's own filtering; a
 * resend of a compacted span stores nothing; a merge into a compacted span
 * updates it in place of a copy; merging small segments changes no answer
 * and keeps each merged segment within one day; a corrupt segment is an
 * SQL error; and a SIGKILL at any moment of compaction loses and doubles
 * nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ids.h"
#include "core/xmem.h"
#include "store/segbody.h"
#include "store/segment.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct store *st;
static struct writer *w;

static void start(void)
{
    char err[256];
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1; /* the tests compact when they choose */
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_start(&w, st, &cfg, err, sizeof(err)), LT_OK);
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

/* 'n' generated spans, in requests of 500; *created is set, *dups added to. */
static void ingest(int n, uint64_t seed, int *created, int *dups)
{
    *created = 0;
    tu_ingest_spangen(w, n, seed, 500, created, dups);
}

static void compact_all(int64_t keep)
{
    char err[256];
    int64_t moved = 1;
    while (moved)
        ck_assert_int_eq(writer_compact_step(w, keep, &moved, err, sizeof(err)), LT_OK);
}

#define SNAP_COLS 64

struct snap {
    size_t n;
    int ncols;
    uint64_t *cellh; /* hash of each row's each column (type and bytes), rows in key order */
    char **keys;
    char *names[SNAP_COLS];
};

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->keys[i]);
    for (int c = 0; c < s->ncols; c++)
        free(s->names[c]);
    free(s->keys);
    free(s->cellh);
    memset(s, 0, sizeof(*s));
}

/* Every column of every row of 'sql' (rows hashed one by one). */
static void snapshot(const char *sql, struct snap *out)
{
    char err[256];
    struct store *ro = NULL;
    memset(out, 0, sizeof(*out));
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_msg(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL) == SQLITE_OK, "%s",
                  sqlite3_errmsg(store_db(ro)));
    size_t cap = 0;
    int rc;
    out->ncols = sqlite3_column_count(q);
    ck_assert_int_le(out->ncols, SNAP_COLS);
    for (int c = 0; c < out->ncols; c++)
        out->names[c] = xstrdup(sqlite3_column_name(q, c));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 1024;
            out->cellh = xrealloc(out->cellh, cap * SNAP_COLS * sizeof(*out->cellh));
            out->keys = xrealloc(out->keys, cap * sizeof(*out->keys));
        }
        for (int c = 0; c < out->ncols; c++) {
            int type = sqlite3_column_type(q, c);
            const void *b = sqlite3_column_blob(q, c);
            size_t len = (size_t)sqlite3_column_bytes(q, c);
            out->cellh[out->n * SNAP_COLS + (size_t)c] =
                ids_hash64(b ? b : "", len, (uint64_t)type * 131);
        }
        out->keys[out->n++] =
            xasprintf("%s/%s", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1));
    }
    ck_assert_msg(rc == SQLITE_DONE, "%s", sqlite3_errmsg(store_db(ro)));
    sqlite3_finalize(q);
    store_close(ro);
}

/* Same rows, and in every row every column the same (type and bytes). */
static void expect_same(const struct snap *a, const struct snap *b)
{
    ck_assert_uint_eq(a->n, b->n);
    ck_assert_int_eq(a->ncols, b->ncols);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->keys[i], b->keys[i]);
        for (int c = 0; c < a->ncols; c++)
            ck_assert_msg(a->cellh[i * SNAP_COLS + (size_t)c] ==
                              b->cellh[i * SNAP_COLS + (size_t)c],
                          "row %zu (%s) column %s differs", i, a->keys[i], a->names[c]);
    }
}

static const char all_rows[] = "SELECT * FROM spans ORDER BY trace_id, span_id, project";

static long long ro_int(const char *sql)
{
    return tu_ro_int(db, sql);
}

START_TEST(test_rows_are_identical_before_and_after_compaction)
{
    int created = 0, dups = 0;
    ingest(12000, 11, &created, &dups);
    ck_assert_int_eq(created, 12000);
    struct snap before, half, after;
    snapshot(all_rows, &before);
    compact_all(5000); /* some hot, some compacted */
    ck_assert_int_eq(ro_int("SELECT count(*) FROM span_rows"), 5000);
    snapshot(all_rows, &half);
    expect_same(&before, &half);
    compact_all(0);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM span_rows"), 0);
    ck_assert_int_ge(ro_int("SELECT count(*) FROM segments"), 2);
    ck_assert_int_eq(ro_int("SELECT sum(nrows) FROM segments"), 12000);
    snapshot(all_rows, &after);
    expect_same(&before, &after);
    snap_free(&before);
    snap_free(&half);
    snap_free(&after);
}
END_TEST

/* The same rows with the constraint pushed down and with it hidden from
 * xBestIndex behind a unary plus. */
static void expect_pushdown_same(const char *where_pushed, const char *where_hidden)
{
    char *a = xasprintf("SELECT * FROM spans WHERE %s ORDER BY trace_id, span_id", where_pushed);
    char *b = xasprintf("SELECT * FROM spans WHERE %s ORDER BY trace_id, span_id", where_hidden);
    struct snap sa, sb;
    snapshot(a, &sa);
    snapshot(b, &sb);
    expect_same(&sa, &sb);
    ck_assert_msg(sa.n > 0, "'%s' matched nothing: the test proves nothing", where_pushed);
    snap_free(&sa);
    snap_free(&sb);
    free(a);
    free(b);
}

/* The span ids of 'sql' in order, joined by spaces (caller frees). */
static char *ids_of(const char *sql)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_msg(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL) == SQLITE_OK, "%s",
                  sqlite3_errmsg(store_db(ro)));
    struct buf b;
    buf_init(&b, 0);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(q, 0);
        ck_assert_int_eq(buf_printf(&b, "%s ", t ? (const char *)t : "NULL"), 0);
    }
    sqlite3_finalize(q);
    store_close(ro);
    return buf_take(&b, NULL);
}

/* Newest first (ORDER BY start_ns DESC, consumed by the table) too. */
static void expect_desc_same(const char *where_pushed, const char *where_hidden)
{
    char *a = xasprintf("SELECT span_id FROM spans WHERE %s ORDER BY start_ns DESC LIMIT 40",
                        where_pushed);
    char *b = xasprintf("SELECT span_id FROM spans WHERE %s ORDER BY start_ns DESC LIMIT 40",
                        where_hidden);
    char *ia = ids_of(a), *ib = ids_of(b);
    ck_assert_str_eq(ia, ib);
    ck_assert_msg(*ia, "'%s' matched nothing", where_pushed);
    free(ia);
    free(ib);
    free(a);
    free(b);
}

/* Equality on model, provider, status, user, session, tenant and
 * version_set: pushed down (alone, together, newest first) it selects what
 * SQLite alone selects; IN lists and other collations are left to SQLite
 * and agree too. The values are those of span 'span' of 'trace'. */
static void expect_eq_pushdown_same(const char *trace, const char *span)
{
    static const char *const cols[] = {"model",      "provider", "status",     "user_id",
                                       "session_id", "tenant",   "version_set"};
    int checked = 0;
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        char *sql = xasprintf("SELECT %s FROM spans WHERE trace_id='%s' AND span_id='%s'", cols[i],
                              trace, span);
        char *v = ids_of(sql);
        free(sql);
        size_t n = strlen(v);
        if (n && v[n - 1] == ' ')
            v[n - 1] = '\0';
        if (strcmp(v, "NULL") != 0 && !strchr(v, '\'')) {
            char *p = xasprintf("%s='%s'", cols[i], v), *h = xasprintf("+%s='%s'", cols[i], v);
            expect_pushdown_same(p, h);
            expect_desc_same(p, h);
            free(p);
            free(h);
            checked++;
        }
        free(v);
    }
    ck_assert_int_ge(checked, 5);
    expect_pushdown_same("model='gpt-4o-mini' AND status='ok' AND kind IN ('llm','embedding')",
                         "+model='gpt-4o-mini' AND +status='ok' AND kind IN ('llm','embedding')");
    expect_desc_same("model='gpt-4o-mini' AND provider='openai' AND status='error'",
                     "+model='gpt-4o-mini' AND +provider='openai' AND +status='error'");
    expect_pushdown_same("model IN ('gpt-4o-mini', 'o4-mini')",
                         "+model IN ('gpt-4o-mini', 'o4-mini')");
    expect_pushdown_same("model = 'GPT-4O-MINI' COLLATE NOCASE",
                         "+model = 'GPT-4O-MINI' COLLATE NOCASE");
}

START_TEST(test_pushdown_selects_the_same_rows)
{
    int created = 0, dups = 0;
    ingest(9000, 12, &created, &dups);
    compact_all(3000);
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    /* one compacted span and one hot span, with their trace and time */
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro),
                                        "SELECT trace_id, span_id, project, start_ns FROM spans"
                                        " WHERE rowid < 0 LIMIT 1 OFFSET 777",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    char *trace = xstrdup((const char *)sqlite3_column_text(q, 0));
    char *span = xstrdup((const char *)sqlite3_column_text(q, 1));
    char *project = xstrdup((const char *)sqlite3_column_text(q, 2));
    long long t = sqlite3_column_int64(q, 3);
    sqlite3_finalize(q);
    store_close(ro);
    char *p1 = xasprintf("trace_id='%s'", trace), *h1 = xasprintf("+trace_id='%s'", trace);
    char *p2 = xasprintf("span_id='%s' AND project='%s'", span, project);
    char *h2 = xasprintf("+span_id='%s' AND +project='%s'", span, project);
    char *p3 = xasprintf("project='%s' AND start_ns BETWEEN %lld AND %lld", project,
                         t - 60000000000LL, t + 60000000000LL);
    char *h3 = xasprintf("+project='%s' AND +start_ns BETWEEN %lld AND %lld", project,
                         t - 60000000000LL, t + 60000000000LL);
    char *p4 = xasprintf("start_ns > %lld AND start_ns <= %lld", t, t + 3600000000000LL);
    char *h4 = xasprintf("+start_ns > %lld AND +start_ns <= %lld", t, t + 3600000000000LL);
    expect_pushdown_same(p1, h1);
    expect_pushdown_same(p2, h2);
    expect_pushdown_same(p3, h3);
    expect_pushdown_same(p4, h4);
    expect_pushdown_same("project='acme-support'", "+project='acme-support'");
    expect_eq_pushdown_same(trace, span);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans WHERE trace_id='nope'"), 0);
    /* ids are stored as bytes: values that are not lowercase hex match nothing */
    char *up = xasprintf("SELECT count(*) FROM spans WHERE trace_id=upper('%s')", trace);
    char *odd = xasprintf("SELECT count(*) FROM spans WHERE trace_id=substr('%s', 2)", trace);
    ck_assert_int_eq(ro_int(up), 0);
    ck_assert_int_eq(ro_int(odd), 0);
    free(up);
    free(odd);
    char *cnt =
        xasprintf("SELECT count(*) FROM spans WHERE trace_id='%s' AND span_id='%s'", trace, span);
    ck_assert_int_eq(ro_int(cnt), 1);
    free(cnt);
    char *all[] = {trace, span, project, p1, h1, p2, h2, p3, h3, p4, h4};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
}
END_TEST

START_TEST(test_a_resent_compacted_span_stores_nothing)
{
    int created = 0, dups = 0;
    ingest(6000, 13, &created, &dups);
    compact_all(0);
    created = dups = 0;
    ingest(6000, 13, &created, &dups); /* the same spans again */
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(dups, 6000);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 6000);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM span_rows"), 0);
}
END_TEST

/* A merge (REC_MERGE) in 'b' into the llm span the 100th row of 'where'
 * picks: its ids and project are set, the caller sets what changes. */
static struct rec_span *merge_of(struct ingest_batch *b, const char *where)
{
    char err[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    char *sql = xasprintf("SELECT trace_id, span_id, project FROM spans WHERE kind = 'llm'"
                          " AND %s LIMIT 1 OFFSET 100",
                          where);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(ro), sql, -1, &q, NULL), SQLITE_OK);
    free(sql);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    struct rec_span *r = ingest_add_span(b);
    r->op = REC_MERGE;
    snprintf(r->span.trace_id, sizeof(r->span.trace_id), "%s", sqlite3_column_text(q, 0));
    snprintf(r->span.span_id, sizeof(r->span.span_id), "%s", sqlite3_column_text(q, 1));
    r->span.project = xstrdup((const char *)sqlite3_column_text(q, 2));
    sqlite3_finalize(q);
    store_close(ro);
    return r;
}

START_TEST(test_a_merge_into_a_compacted_span_updates_it)
{
    int created = 0, dups = 0;
    ingest(3000, 14, &created, &dups);
    compact_all(0);
    char err[256];
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct rec_span *r = merge_of(&b, "1");
    r->span.output = xstrdup("\"merged answer\"");
    r->span.status = SPAN_STATUS_ERROR;
    char *trace = xstrdup(r->span.trace_id);
    ck_assert_int_eq(writer_submit(w, &b, 100, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(b.spans[0].result, REC_MERGED);
    ingest_batch_release(&b);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 3000);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM span_rows"), 1);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segment_tombstones"), 1);
    char *sql = xasprintf("SELECT count(*) FROM spans WHERE trace_id='%s' AND output='\"merged "
                          "answer\"' AND status='error' AND input IS NOT NULL",
                          trace);
    ck_assert_int_eq(ro_int(sql), 1);
    free(sql);
    /* a later compaction takes it back into a segment, still once */
    compact_all(0);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 3000);
    sql = xasprintf("SELECT count(*) FROM spans WHERE trace_id='%s' AND output='\"merged "
                    "answer\"'",
                    trace);
    ck_assert_int_eq(ro_int(sql), 1);
    free(sql);
    free(trace);
}
END_TEST

#define DAY0 1772409600000000000LL /* 2026-03-02T00:00Z */
#define DAY_NS 86400000000000LL

/* Mark the compacted llm span the 100th row of 'where' picks as failed: it
 * moves back to the hot rows, a tombstone stays in its segment. */
static void update_compacted(const char *where)
{
    char err[256];
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct rec_span *r = merge_of(&b, where);
    r->span.status = SPAN_STATUS_ERROR;
    ck_assert_int_eq(writer_submit(w, &b, 100, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(b.spans[0].result, REC_MERGED);
    ingest_batch_release(&b);
}

/* Merge (or, 'cold', pack cold) until nothing is due; the segments
 * replaced. */
static int64_t merge_steps(int cold)
{
    char err[256];
    int64_t merged = 0, total = 0;
    do {
        ck_assert_int_eq(writer_merge_step(w, cold, &merged, err, sizeof(err)), LT_OK);
        total += merged;
    } while (merged);
    return total;
}

static int64_t merge_all(void)
{
    return merge_steps(0);
}

START_TEST(test_small_segments_merge_and_change_no_answer)
{
    int created = 0, dups = 0;
    /* a closed day of small segments, and a newer day still filling */
    tu_ingest_spangen_at(w, 9000, 31, 500, DAY0 + 3600000000000LL, &created, &dups);
    compact_all(0);
    tu_ingest_spangen_at(w, 1500, 32, 500, DAY0 + 3 * DAY_NS, &created, &dups);
    compact_all(0);
    ck_assert_int_eq(created, 10500);
    long long day0 = ro_int("SELECT count(*) FROM segments WHERE max_start < 1772409600000000000 + "
                            "86400000000000"),
              before_n = ro_int("SELECT count(*) FROM segments");
    ck_assert_int_gt(day0, 6);
    /* a span moved back to the hot rows leaves a tombstone in its segment */
    update_compacted("start_ns < 1772409600000000000 + 86400000000000");
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segment_tombstones"), 1);
    compact_all(0);
    struct snap before, after;
    snapshot(all_rows, &before);
    ck_assert_int_gt(merge_all(), day0 / 2);
    ck_assert_int_lt(ro_int("SELECT count(*) FROM segments"), before_n);
    /* day 0 is merged, the newest day (under half a merged segment) is not */
    ck_assert_int_le(ro_int("SELECT count(*) FROM segments WHERE max_start < 1772409600000000000 + "
                            "86400000000000"),
                     3 + 3);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments WHERE min_start / 86400000000000 <>"
                            " max_start / 86400000000000 AND nrows > 2048"),
                     0);
    ck_assert_int_le(ro_int("SELECT max(nrows) FROM segments"), SEGMENT_MERGE_ROWS);
    ck_assert_int_eq(ro_int("SELECT sum(nrows) - sum(tombstones) FROM segments"), 10500);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segment_tombstones"), 0);
    snapshot(all_rows, &after);
    expect_same(&before, &after);
    snap_free(&before);
    snap_free(&after);
    /* the merged segments' zone maps still find and deduplicate */
    expect_pushdown_same("project = 'finpilot' AND start_ns < 1772409600000000000 + "
                         "86400000000000",
                         "+project = 'finpilot' AND +start_ns < 1772409600000000000 + "
                         "86400000000000");
    created = dups = 0;
    tu_ingest_spangen_at(w, 9000, 31, 500, DAY0 + 3600000000000LL, &created, &dups);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(dups, 9000);
    tu_expect_whole_store(db);
}
END_TEST

static int64_t pack_cold_all(void)
{
    return merge_steps(1);
}

/* A new span of a trace that is compacted already: the trace filter lets
 * the writer look, and the span is not there, so it is stored. */
static void add_span_to_compacted_trace(const char *where)
{
    char err[256];
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct rec_span *r = merge_of(&b, where);
    r->op = REC_INSERT;
    snprintf(r->span.span_id, sizeof(r->span.span_id), "%s", "00000000000000ab");
    r->span.name = xstrdup("late child");
    r->span.start_ns = DAY0 + 7200000000000LL;
    r->span.end_ns = r->span.start_ns + 1000000;
    ck_assert_int_eq(writer_submit(w, &b, 100, err, sizeof(err)), LT_OK);
    ck_assert_int_eq(b.spans[0].result, REC_CREATED);
    ingest_batch_release(&b);
}

/* Packing segments cold (zstd 19, alone) changes no answer, leaves the
 * small segments of the newest day to merging, and the writer still finds
 * what a resend repeats through the trace filters of cold segments. */
START_TEST(test_segments_packed_cold_change_no_answer)
{
    int created = 0, dups = 0;
    tu_ingest_spangen_at(w, 9000, 31, 500, DAY0 + 3600000000000LL, &created, &dups);
    compact_all(0);
    merge_all();
    tu_ingest_spangen_at(w, 1500, 32, 500, DAY0 + 3 * DAY_NS, &created, &dups);
    compact_all(0);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments WHERE cold"), 0);
    long long bytes = ro_int("SELECT sum(length(body)) FROM segment_body"),
              segs = ro_int("SELECT count(*) FROM segments"),
              newest = ro_int("SELECT count(*) FROM segments WHERE min_start >= " /* day 3 */
                              "1772409600000000000 + 3 * 86400000000000");
    ck_assert_int_gt(newest, 1);
    struct snap before, after;
    snapshot(all_rows, &before);
    ck_assert_int_eq(pack_cold_all(), segs - newest);
    ck_assert_int_eq(pack_cold_all(), 0); /* nothing left to pack */
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments WHERE NOT cold"), newest);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments WHERE NOT cold AND min_start < "
                            "1772409600000000000 + 3 * 86400000000000"),
                     0);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments"), segs);
    ck_assert_int_lt(ro_int("SELECT sum(length(body)) FROM segment_body"), bytes);
    snapshot(all_rows, &after);
    expect_same(&before, &after);
    snap_free(&before);
    snap_free(&after);
    created = dups = 0;
    tu_ingest_spangen_at(w, 9000, 31, 500, DAY0 + 3600000000000LL, &created, &dups);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(dups, 9000);
    add_span_to_compacted_trace("start_ns < 1772409600000000000 + 86400000000000");
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 10501);
    tu_expect_whole_store(db);
}
END_TEST

/* A compaction step that crosses midnight makes a segment of each day, so
 * the day's small segments still merge into one. */
START_TEST(test_a_step_across_midnight_makes_a_segment_per_day)
{
    int created = 0, dups = 0;
    tu_ingest_spangen_at(w, 3000, 34, 500, DAY0 + DAY_NS - 400000000000LL, &created, &dups);
    ck_assert_int_eq(created, 3000);
    struct snap before, after;
    snapshot(all_rows, &before);
    compact_all(0);
    ck_assert_int_gt(ro_int("SELECT count(*) FROM segments WHERE min_start >= 1772409600000000000"
                            " + 86400000000000"),
                     0);
    ck_assert_int_gt(ro_int("SELECT count(*) FROM segments WHERE max_start < 1772409600000000000"
                            " + 86400000000000"),
                     0);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments WHERE min_start / 86400000000000 <>"
                            " max_start / 86400000000000"),
                     0);
    ck_assert_int_eq(ro_int("SELECT sum(nrows) FROM segments"), 3000);
    snapshot(all_rows, &after);
    expect_same(&before, &after);
    snap_free(&before);
    snap_free(&after);
}
END_TEST

START_TEST(test_a_merge_built_before_a_source_changed_writes_nothing)
{
    int created = 0, dups = 0;
    tu_ingest_spangen_at(w, 6000, 33, 500, DAY0 + 3600000000000LL, &created, &dups);
    compact_all(0);
    tu_ingest_spangen_at(w, 300, 34, 300, DAY0 + 2 * DAY_NS, &created, &dups);
    compact_all(0);
    stop(); /* this test plays writer itself */
    char err[256];
    struct store *rw = NULL, *ro = NULL;
    ck_assert_int_eq(store_open(&rw, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    struct segindex *ix = NULL;
    ck_assert_int_eq(segindex_open(&ix, store_db(rw), err, sizeof(err)), 0);
    size_t segs = segindex_segments(ix);
    struct segment_merge *m = NULL;
    ck_assert_int_eq(segment_merge_build(store_db(ro), 0, &m, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_ge(segment_merge_sources(m), 2);
    /* every day-0 segment of the first project is a source: touch them all */
    ck_assert_int_eq(sqlite3_exec(store_db(rw),
                                  "UPDATE segments SET tombstones = tombstones + 1"
                                  " WHERE max_start < 1772409600000000000 + 86400000000000",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(segment_merge_apply(ix, m, err, sizeof(err)), 1);
    ck_assert_uint_eq(segindex_segments(ix), segs);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM segments"), (long long)segs);
    segment_merge_free(m);
    segindex_close(ix);
    store_close(ro);
    store_close(rw);
    start();
}
END_TEST

START_TEST(test_a_log_message_after_compaction_still_joins_its_span)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct span *sp = &ingest_add_span(&b)->span; /* an OTel span: messages come in logs */
    snprintf(sp->trace_id, sizeof(sp->trace_id), "%032x", 77);
    snprintf(sp->span_id, sizeof(sp->span_id), "%016x", 77);
    sp->project = xstrdup("p");
    sp->kind = SPAN_KIND_LLM;
    sp->start_ns = 1000;
    sp->end_ns = 2000;
    char err[256];
    ck_assert_int_eq(writer_submit(w, &b, 100, err, sizeof(err)), LT_OK);
    ingest_batch_release(&b);
    int created = 0, dups = 0;
    ingest(3000, 19, &created, &dups); /* others around it */
    compact_all(0);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM span_rows"), 0);
    ingest_batch_init(&b);
    struct rec_logmsg *m = ingest_add_logmsg(&b);
    m->project = xstrdup("p");
    snprintf(m->trace_id, sizeof(m->trace_id), "%032x", 77);
    snprintf(m->span_id, sizeof(m->span_id), "%016x", 77);
    m->time_ns = 1500;
    m->message = xstrdup("{\"role\":\"user\",\"content\":\"late but joined\"}");
    ck_assert_int_eq(writer_submit(w, &b, 100, err, sizeof(err)), LT_OK);
    ingest_batch_release(&b);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 3001);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans WHERE span_id=printf('%016x', 77)"
                            " AND input='[{\"role\":\"user\",\"content\":\"late but joined\"}]'"),
                     1);
}
END_TEST

START_TEST(test_a_corrupt_segment_is_an_sql_error)
{
    int created = 0, dups = 0;
    ingest(2000, 15, &created, &dups);
    compact_all(0);
    char err[256];
    stop();
    sqlite3 *raw = NULL;
    ck_assert_int_eq(sqlite3_open(db, &raw), SQLITE_OK);
    ck_assert_int_eq(segbody_register(raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(raw,
                                  "UPDATE segment_body SET body ="
                                  " llmtap_segment_set_frame(body, 12, x'28b52ffd2000')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    start();
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(
        sqlite3_prepare_v2(store_db(ro), "SELECT count(model) FROM spans", -1, &q, NULL),
        SQLITE_OK);
    ck_assert_int_ne(sqlite3_step(q), SQLITE_ROW);
    ck_assert_ptr_nonnull(strstr(sqlite3_errmsg(store_db(ro)), "model"));
    sqlite3_finalize(q);
    /* columns that are intact still read */
    ck_assert_int_eq(
        sqlite3_prepare_v2(store_db(ro), "SELECT count(span_id) FROM spans", -1, &q, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 2000);
    sqlite3_finalize(q);
    store_close(ro);
}
END_TEST

/* Child: compact everything, as fast as it can, until killed. */
static void compact_until_killed(void)
{
    char err[256];
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1;
    cfg.compact_batch = 700; /* many small steps: more moments to be killed in */
    if (store_open(&st, db, STORE_READWRITE, err, sizeof(err)) != STORE_OK ||
        writer_start(&w, st, &cfg, err, sizeof(err)) != LT_OK)
        _exit(2);
    int64_t moved = 1;
    while (moved)
        if (writer_compact_step(w, 0, &moved, err, sizeof(err)) != LT_OK)
            _exit(3);
    _exit(0);
}

START_TEST(test_a_kill_during_compaction_loses_and_doubles_nothing)
{
    int created = 0, dups = 0;
    ingest(8000, 16, &created, &dups);
    struct snap before;
    snapshot(all_rows, &before);
    stop();
    srand(16);
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            compact_until_killed();
        usleep((useconds_t)(2000 + rand() % 40000));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        start(); /* a restart after the crash, as the server would */
        stop();
        struct snap now;
        snapshot(all_rows, &now);
        expect_same(&before, &now);
        snap_free(&now);
    }
    start();
    compact_all(0);
    struct snap after;
    snapshot(all_rows, &after);
    expect_same(&before, &after);
    snap_free(&after);
    snap_free(&before);
}
END_TEST

START_TEST(test_the_running_writer_compacts_and_trains_dictionaries_itself)
{
    stop();
    char err[256];
    struct writer_config cfg;
    writer_config_default(&cfg); /* as the server runs it: the compactor thread on */
    cfg.compact_keep_hot = 1000;
    cfg.compact_batch = 1000;
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_start(&w, st, &cfg, err, sizeof(err)), LT_OK);
    int created = 0, dups = 0;
    ingest(6000, 17, &created, &dups);
    struct snap before;
    snapshot(all_rows, &before);
    long long first_batch_end = ro_int("SELECT max(ingested_ns) FROM spans");
    struct writer_stats ws;
    int i = 0;
    for (; i < 100; i++) { /* the compactor and the trainer run on their own */
        writer_get_stats(w, &ws);
        if (ws.hot_rows < 2000 && ro_int("SELECT count(DISTINCT project) FROM text_dicts") == 3)
            break;
        usleep(100000);
    }
    ck_assert_msg(i < 100, "hot rows %lld, dictionaries %lld", (long long)ws.hot_rows,
                  ro_int("SELECT count(*) FROM text_dicts"));
    ck_assert_uint_ge(ws.compactions, 4);
    ingest(3000, 18, &created, &dups); /* new texts, packed with the dictionaries */
    ck_assert_int_gt(ro_int("SELECT count(*) FROM texts WHERE dict > 0"), 1000);
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans WHERE input IS NOT NULL"),
                     ro_int("SELECT count(*) FROM spans WHERE input <> ''"));
    ck_assert_int_eq(ro_int("SELECT count(*) FROM spans"), 9000);
    /* the first 6000, compacted with and without dictionaries, read as they were written */
    struct snap after;
    char *q = xasprintf("SELECT * FROM spans WHERE ingested_ns <= %lld ORDER BY trace_id, "
                        "span_id, project",
                        first_batch_end);
    snapshot(q, &after);
    free(q);
    expect_same(&before, &after);
    snap_free(&after);
    snap_free(&before);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("segment");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rows_are_identical_before_and_after_compaction);
    tcase_add_test(tc, test_pushdown_selects_the_same_rows);
    tcase_add_test(tc, test_a_resent_compacted_span_stores_nothing);
    tcase_add_test(tc, test_a_merge_into_a_compacted_span_updates_it);
    tcase_add_test(tc, test_small_segments_merge_and_change_no_answer);
    tcase_add_test(tc, test_segments_packed_cold_change_no_answer);
    tcase_add_test(tc, test_a_step_across_midnight_makes_a_segment_per_day);
    tcase_add_test(tc, test_a_merge_built_before_a_source_changed_writes_nothing);
    tcase_add_test(tc, test_a_log_message_after_compaction_still_joins_its_span);
    tcase_add_test(tc, test_a_corrupt_segment_is_an_sql_error);
    tcase_add_test(tc, test_a_kill_during_compaction_loses_and_doubles_nothing);
    tcase_add_test(tc, test_the_running_writer_compacts_and_trains_dictionaries_itself);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
