/*
 * check: the store's consistency check (see check.h). It collects every
 * text id that a span refers to (hot rows, then every segment's refs
 * columns), then walks the texts table in id order beside the sorted ids:
 * a referenced id the table lacks is missing, a table id nobody refers to
 * is unreferenced, and every referenced text is decoded once.
 */
#include "store/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/segment.h"
#include "store/texts.h"

#define MAX_PROBLEMS 100

struct ids {
    int64_t *v;
    size_t n, cap;
};

void check_report_init(struct check_report *r)
{
    memset(r, 0, sizeof(*r));
    r->ok = 1;
    buf_init(&r->problems, 0);
}

void check_report_release(struct check_report *r)
{
    buf_release(&r->problems);
}

static void problem(struct check_report *r, int64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct check_report *r, int64_t *counter, const char *fmt, ...)
{
    r->ok = 0;
    if (counter)
        (*counter)++;
    if (r->nproblems++ >= MAX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&r->problems, fmt, ap);
    va_end(ap);
    rc |= buf_putc(&r->problems, '\n');
    (void)rc; /* no ceiling */
}

static int check_integrity(sqlite3 *db, struct check_report *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    snprintf(r->integrity, sizeof(r->integrity), "%s",
             rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (strcmp(r->integrity, "ok") != 0)
        problem(r, NULL, "integrity_check: %s", r->integrity);
    return 0;
}

static void add_refs(struct check_report *r, struct ids *ids, const void *blob, size_t n,
                     const char *where)
{
    if (!blob)
        return;
    if (texts_refs_ids(blob, n, &ids->v, &ids->n, &ids->cap) != 0)
        problem(r, &r->texts_bad, "%s: a malformed text reference", where);
}

static int hot_refs(sqlite3 *db, struct check_report *r, struct ids *ids)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT trace_id, span_id, input_refs, output_refs"
                                " FROM span_rows",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char where[96];
        snprintf(where, sizeof(where), "span %s/%s", sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1));
        for (int c = 2; c <= 3; c++)
            add_refs(r, ids, sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c),
                     where);
        r->hot_spans++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : -1;
}

/* Decode every column of segment 'seg' and collect its live rows' refs. */
static void one_segment(sqlite3 *db, struct check_report *r, int64_t seg, int64_t nrows,
                        struct ids *ids)
{
    struct segment_data *d = NULL;
    char err[256];
    if (segment_load(db, seg, ~0ull >> (64 - SEGMENT_NCOLS), &d, err, sizeof(err)) != 0) {
        problem(r, &r->segments_bad, "%s", err);
        return;
    }
    if ((int64_t)segment_data_rows(d) != nrows)
        problem(r, &r->segments_bad, "segment %lld: %zu rows, its zone map says %lld",
                (long long)seg, segment_data_rows(d), (long long)nrows);
    char where[64];
    snprintf(where, sizeof(where), "segment %lld", (long long)seg);
    for (size_t i = 0; i < segment_data_rows(d); i++) {
        if (segment_data_deleted(d, i))
            continue;
        r->segment_rows++;
        for (int c = SC_INPUT_REFS; c <= SC_OUTPUT_REFS; c++) {
            size_t len = 0;
            const char *b = colenc_bytes(segment_data_col(d, c), i, &len);
            add_refs(r, ids, b, len, where);
        }
    }
    segment_data_free(d);
}

static int check_segments(sqlite3 *db, struct check_report *r, struct ids *ids)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT id, nrows FROM segments ORDER BY id", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        r->segments++;
        one_segment(db, r, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), ids);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return -1;
    /* tombstones that name no row */
    rc = sqlite3_prepare_v2(db,
                            "SELECT t.segment_id, t.row FROM segment_tombstones t"
                            " LEFT JOIN segments s ON s.id = t.segment_id"
                            " WHERE s.id IS NULL OR t.row < 0 OR t.row >= s.nrows",
                            -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        problem(r, &r->segments_bad, "tombstone for row %lld of segment %lld names no row",
                (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 0));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : -1;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct text_walk {
    struct check_report *r;
    const struct ids *ids;
    size_t i; /* the first referenced id not yet met */
};

static void missing_below(struct text_walk *w, int64_t id)
{
    const struct ids *ids = w->ids;
    for (; w->i < ids->n && ids->v[w->i] < id; w->i++)
        if (w->i == 0 || ids->v[w->i - 1] != ids->v[w->i])
            problem(w->r, &w->r->texts_missing, "text %lld is referred to but missing",
                    (long long)ids->v[w->i]);
}

static int walk_text(void *ctx, int64_t id, const char *p, size_t len)
{
    (void)len;
    struct text_walk *w = ctx;
    w->r->texts++;
    missing_below(w, id);
    if (w->i < w->ids->n && w->ids->v[w->i] == id) {
        if (!p)
            problem(w->r, &w->r->texts_bad, "text %lld does not decode", (long long)id);
        while (w->i < w->ids->n && w->ids->v[w->i] == id)
            w->i++;
    } else {
        w->r->texts_unreferenced++;
    }
    return 0;
}

/* Walk texts (blocks and rows) in id order beside the sorted referenced ids. */
static int check_texts(sqlite3 *db, struct check_report *r, struct ids *ids)
{
    r->refs = (int64_t)ids->n;
    if (ids->n)
        qsort(ids->v, ids->n, sizeof(*ids->v), cmp_id);
    struct texts_reader *rd = texts_reader_open(db);
    struct text_walk w = {r, ids, 0};
    int rc = rd ? texts_each(rd, 0, walk_text, &w) : -1;
    if (rc == 0)
        missing_below(&w, INT64_MAX);
    else
        problem(r, &r->texts_bad, "a block of texts does not decode, or the texts cannot be read");
    texts_reader_free(rd);
    return 0;
}

#define RECOUNT_SUMS                                                                               \
    " count(*), CAST(total(max(input_tokens, 0)) AS INTEGER),"                                     \
    " CAST(total(max(output_tokens, 0)) AS INTEGER),"                                              \
    " CAST(total(max(cache_read_tokens, 0)) AS INTEGER),"                                          \
    " CAST(total(max(cache_write_tokens, 0)) AS INTEGER),"                                         \
    " CAST(total(max(reasoning_tokens, 0)) AS INTEGER), CAST(total(cost_nusd) AS INTEGER),"        \
    " CAST(total(kind IN ('llm','embedding') AND cost_nusd IS NULL) AS INTEGER),"                  \
    " CAST(total(status = 'error') AS INTEGER)"

/* Each rollup view against a recount from the spans, both ways. */
static int check_rollups(sqlite3 *db, struct check_report *r)
{
    static const char *const views[4][2] = {
        {"rollup_hourly",
         "SELECT project, start_ns / 3600000000000, coalesce(model, response_model, ''),"
         " coalesce(provider, ''), coalesce(version_set, ''), status," RECOUNT_SUMS
         ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms) FROM spans"
         " GROUP BY 1, 2, 3, 4, 5, 6"},
        {"rollup_daily",
         "SELECT project, start_ns / 86400000000000, coalesce(model, response_model, ''),"
         " coalesce(provider, ''), coalesce(version_set, ''), status," RECOUNT_SUMS
         ", llmtap_hist((end_ns - start_ns) / 1e6), llmtap_hist(ttft_ms) FROM spans"
         " GROUP BY 1, 2, 3, 4, 5, 6"},
        {"rollup_daily_user", "SELECT project, start_ns / 86400000000000, user_id," RECOUNT_SUMS
                              " FROM spans WHERE user_id IS NOT NULL GROUP BY 1, 2, 3"},
        {"rollup_daily_tenant", "SELECT project, start_ns / 86400000000000, tenant," RECOUNT_SUMS
                                " FROM spans WHERE tenant IS NOT NULL GROUP BY 1, 2, 3"},
    };
    for (int k = 0; k < 4; k++) {
        char sql[2048];
        snprintf(sql, sizeof(sql),
                 "SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT %s))"
                 " + (SELECT count(*) FROM (%s EXCEPT SELECT * FROM %s))",
                 views[k][0], views[k][1], views[k][1], views[k][0]);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            return -1;
        int64_t bad = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        if (bad < 0) /* the spans do not all read (a problem reported above) */
            problem(r, &r->rollup_rows_bad, "%s cannot be recounted: %s", views[k][0],
                    sqlite3_errmsg(db));
        sqlite3_finalize(st);
        if (bad < 0)
            continue;
        r->rollup_rows_bad += bad;
        if (bad)
            problem(r, NULL, "%s: %lld rows differ from a recount of the spans", views[k][0],
                    (long long)bad);
    }
    return 0;
}

int check_store(sqlite3 *db, struct check_report *r, char *err, size_t errlen)
{
    struct ids ids = {0};
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1; /* one snapshot */
    if (rc == 0)
        rc = check_integrity(db, r);
    if (rc == 0)
        rc = hot_refs(db, r, &ids);
    if (rc == 0)
        rc = check_segments(db, r, &ids);
    if (rc == 0)
        rc = check_texts(db, r, &ids);
    if (rc == 0)
        rc = check_rollups(db, r);
    if (rc)
        snprintf(err, errlen, "cannot check the store: %s", sqlite3_errmsg(db));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    free(ids.v);
    return rc;
}
