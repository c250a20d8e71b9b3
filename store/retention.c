/*
 * retention: per-project maximum age (see retention.h).
 */
#include "store/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/sorted.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/fts.h"
#include "store/store.h"
#include "store/textblock.h"
#include "store/texts.h"

#define DAY_NS 86400000000000LL

int retention_set(sqlite3 *db, const char *project, int days, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *sql = days > 0 ? "INSERT OR REPLACE INTO retention(project, days, set_ns)"
                                 " VALUES (?1, ?2, ?3)"
                               : "DELETE FROM retention WHERE project = ?1";
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
        if (days > 0) {
            sqlite3_bind_int(st, 2, days);
            sqlite3_bind_int64(st, 3, time_now_ns());
        }
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot set the retention of '%s': %s", project, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

int retention_rules(sqlite3 *db, struct retention_rule **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT project, days, set_ns FROM retention ORDER BY project",
                                -1, &st, NULL);
    size_t cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[(*n)++] =
            (struct retention_rule){xstrdup((const char *)sqlite3_column_text(st, 0)),
                                    sqlite3_column_int(st, 1), sqlite3_column_int64(st, 2)};
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot read the retention rules: %s", sqlite3_errmsg(db));
        retention_rules_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

void retention_rules_free(struct retention_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].project);
    free(r);
}

/* ---- step 1: segments and rows ---- */

static int64_t max_id(sqlite3 *db, const char *table)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT coalesce(max(id), 0) FROM %s", table);
    return store_query_int(db, sql, -1);
}

/* Run 'sql' with (project, cutoff); the rows it changed, or -1. */
static int64_t delete_older(sqlite3 *db, const char *sql, const char *project, int64_t cutoff)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cutoff);
        if (sqlite3_step(st) == SQLITE_DONE)
            n = sqlite3_changes64(db);
    }
    sqlite3_finalize(st);
    return n;
}

/* The segments of 'project' wholly older than 'cutoff', at most 'max'. */
static int old_segments(sqlite3 *db, const char *project, int64_t cutoff, int max, int64_t **ids,
                        int *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    *ids = xmalloc((size_t)(max > 0 ? max : 1) * sizeof(**ids));
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id FROM segments WHERE project = ?1 AND max_start < ?2"
                                " ORDER BY id LIMIT ?3",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cutoff);
        sqlite3_bind_int(st, 3, max);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static int drop_rule(sqlite3 *db, struct segindex *ix, const struct retention_rule *r,
                     int64_t now_ns, int *budget, struct retention_report *rep, char *err,
                     size_t errlen)
{
    int64_t cutoff = now_ns - (int64_t)r->days * DAY_NS, *ids = NULL;
    int n = 0;
    if (old_segments(db, r->project, cutoff, *budget + 1, &ids, &n) != 0) {
        snprintf(err, errlen, "retention: %s", sqlite3_errmsg(db));
        free(ids);
        return -1;
    }
    rep->more |= n > *budget;
    int rc = 0;
    for (int i = 0; i < n && i < *budget && rc == 0; i++) {
        int64_t rows = 0;
        rc = segment_drop(ix, ids[i], &rows, err, errlen);
        rep->segments += rc == 0;
        rep->spans += rows;
    }
    *budget -= n < *budget ? n : *budget;
    free(ids);
    if (rc)
        return -1;
    int64_t hot = delete_older(db, "DELETE FROM span_rows WHERE project = ?1 AND start_ns < ?2",
                               r->project, cutoff);
    int64_t logs = delete_older(db, "DELETE FROM log_messages WHERE project = ?1 AND time_ns < ?2",
                                r->project, cutoff);
    if (hot < 0 || logs < 0) {
        snprintf(err, errlen, "retention: %s", sqlite3_errmsg(db));
        return -1;
    }
    segindex_add_hot(ix, -hot);
    rep->hot_spans += hot;
    rep->spans += hot;
    rep->log_messages += logs;
    return 0;
}

int retention_drop(sqlite3 *db, struct segindex *ix, int64_t now_ns, int max_segments,
                   struct retention_report *rep, char *err, size_t errlen)
{
    struct retention_rule *rules = NULL;
    size_t n = 0;
    if (retention_rules(db, &rules, &n, err, errlen) != 0)
        return -1;
    int budget = max_segments, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = drop_rule(db, ix, &rules[i], now_ns, &budget, rep, err, errlen);
    retention_rules_free(rules, n);
    rep->texts_max = max_id(db, "texts");
    rep->segments_max = max_id(db, "segments");
    return rc;
}

/* ---- steps 2 and 3: texts nothing refers to ---- */

typedef void (*ref_fn)(void *ctx, int64_t id);

static int each_ref(const void *blob, size_t n, int64_t **ids, size_t *cap, ref_fn fn, void *ctx)
{
    size_t nids = 0;
    if (!blob || texts_refs_ids(blob, n, ids, &nids, cap) != 0)
        return blob ? -1 : 0;
    for (size_t i = 0; i < nids; i++)
        fn(ctx, (*ids)[i]);
    return 0;
}

/* Call 'fn' for every text id the hot rows and the segments with ids
 * above 'seg_after' refer to (tombstoned rows too: never too few). */
static int every_ref(sqlite3 *db, int64_t seg_after, ref_fn fn, void *ctx, char *err, size_t errlen)
{
    int64_t *ids = NULL;
    size_t cap = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT input_refs, output_refs FROM span_rows", -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < 2 && rc == SQLITE_OK; c++)
            if (each_ref(sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c), &ids,
                         &cap, fn, ctx))
                rc = SQLITE_CORRUPT;
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT id FROM segments WHERE id > ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(st, 1, seg_after);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        struct segment_data *d = NULL;
        if (segment_load(db, sqlite3_column_int64(st, 0),
                         (1ull << SC_INPUT_REFS) | (1ull << SC_OUTPUT_REFS), &d, err, errlen)) {
            rc = SQLITE_CORRUPT;
            break;
        }
        for (size_t r = 0; r < segment_data_rows(d) && rc == SQLITE_OK; r++)
            for (int c = SC_INPUT_REFS; c <= SC_OUTPUT_REFS && rc == SQLITE_OK; c++) {
                size_t len = 0;
                const struct colenc_column *col = segment_data_col(d, c);
                const void *b = colenc_is_null(col, r) ? NULL : colenc_bytes(col, r, &len);
                if (each_ref(b, len, &ids, &cap, fn, ctx))
                    rc = SQLITE_CORRUPT;
            }
        segment_data_free(d);
    }
    sqlite3_finalize(st);
    free(ids);
    if (rc != SQLITE_OK && rc != SQLITE_CORRUPT)
        snprintf(err, errlen, "retention: %s", sqlite3_errmsg(db));
    else if (rc == SQLITE_CORRUPT && !*err)
        snprintf(err, errlen, "retention: a span's text references do not decode");
    return rc == SQLITE_OK ? 0 : -1;
}

struct bitmap {
    uint8_t *bits;
    int64_t max;
};

static void mark(void *ctx, int64_t id)
{
    struct bitmap *b = ctx;
    if (id > 0 && id <= b->max)
        b->bits[id >> 3] |= (uint8_t)(1u << (id & 7));
}

static int marked(const struct bitmap *b, int64_t id)
{
    return id > 0 && id <= b->max && (b->bits[id >> 3] >> (id & 7)) & 1;
}

struct retention_free {
    int64_t segments_max, fts_upto;
    int64_t *ids; /* ascending */
    size_t n;
    struct buf plain; /* the plain text of each indexed candidate, end to end */
    size_t *ends;
};

void retention_free_release(struct retention_free *f)
{
    if (!f)
        return;
    free(f->ids);
    free(f->ends);
    buf_release(&f->plain);
    free(f);
}

size_t retention_free_count(const struct retention_free *f)
{
    return f ? f->n : 0;
}

struct collect_walk {
    const struct bitmap *refs;
    size_t max;
    struct retention_free *f;
    size_t cap;
};

static int collect_one(void *ctx, int64_t id, const char *p, size_t len)
{
    struct collect_walk *c = ctx;
    struct retention_free *f = c->f;
    if (id > c->refs->max || f->n >= c->max)
        return 1; /* done */
    if (marked(c->refs, id))
        return 0;
    if (!p)
        return -1; /* a text that does not decode is not freed blind */
    if (f->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        f->ids = xrealloc(f->ids, c->cap * sizeof(*f->ids));
        f->ends = xrealloc(f->ends, c->cap * sizeof(*f->ends));
    }
    if (id <= f->fts_upto && fts_plain(p, len, &f->plain) != 0)
        return -1;
    f->ids[f->n] = id;
    f->ends[f->n++] = f->plain.len;
    return 0;
}

/* The unreferenced texts up to the noted id, at most 'max', with their
 * plain text when the index holds them. */
static int collect(sqlite3 *db, const struct bitmap *refs, size_t max, struct retention_free *f,
                   char *err, size_t errlen)
{
    struct texts_reader *rd = texts_reader_open(db);
    struct collect_walk c = {refs, max, f, 0};
    int rc = rd ? texts_each(rd, 0, collect_one, &c) : -1;
    texts_reader_free(rd);
    if (rc < 0)
        snprintf(err, errlen, "retention: cannot read the texts: %s", sqlite3_errmsg(db));
    return rc < 0 ? -1 : 0;
}

int retention_find(sqlite3 *db, const struct retention_report *rep, size_t max,
                   struct retention_free **out, char *err, size_t errlen)
{
    *out = NULL;
    *err = '\0';
    struct bitmap refs = {xcalloc((size_t)(rep->texts_max >> 3) + 1, 1), rep->texts_max};
    struct retention_free *f = xcalloc(1, sizeof(*f));
    buf_init(&f->plain, 0);
    f->segments_max = rep->segments_max;
    f->fts_upto = fts_indexed_upto(db);
    int rc = every_ref(db, 0, mark, &refs, err, errlen);
    if (rc == 0)
        rc = collect(db, &refs, max, f, err, errlen);
    free(refs.bits);
    if (rc || f->n == 0) {
        retention_free_release(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* Step 3's exclusion: candidates referred to since the snapshot. */
struct keep {
    const struct retention_free *f;
    uint8_t *kept; /* per candidate */
};

static void keep_ref(void *ctx, int64_t id)
{
    struct keep *k = ctx;
    size_t lo = sorted_lower_bound(k->f->ids, k->f->n, id);
    if (lo < k->f->n && k->f->ids[lo] == id)
        k->kept[lo] = 1;
}

/* Take candidate 'i' (deleted from its row or block) out of the index. */
static int unindex(sqlite3 *db, const struct retention_free *f, size_t i, int64_t upto)
{
    if (f->ids[i] > upto)
        return SQLITE_OK; /* never indexed */
    size_t from = i ? f->ends[i - 1] : 0;
    return fts_unindex(db, f->ids[i], f->plain.data ? f->plain.data + from : "", f->ends[i] - from);
}

/* May candidate 'i' go? Not when something refers to it again, not the
 * newest text (new texts take max(id) + 1, so no id is ever given twice:
 * the full-text watermark counts on that), and not when it was indexed
 * after the snapshot (its words, which the index needs to take it out,
 * were not read). */
static int may_free(const struct retention_free *f, const uint8_t *kept, size_t i, int64_t upto,
                    int64_t newest)
{
    int64_t id = f->ids[i];
    return !kept[i] && id < newest && !(id <= upto && id > f->fts_upto);
}

/* Delete the candidates that are rows of their own; the others (in blocks,
 * or gone already) are marked in 'in_block' for the blocks' turn. */
static int free_rows(sqlite3 *db, const struct retention_free *f, const uint8_t *kept, int64_t upto,
                     int64_t newest, uint8_t *in_block, int64_t *freed)
{
    sqlite3_stmt *del = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM texts WHERE id = ?1", -1, &del, NULL);
    for (size_t i = 0; i < f->n && rc == SQLITE_OK; i++) {
        if (!may_free(f, kept, i, upto, newest))
            continue;
        sqlite3_bind_int64(del, 1, f->ids[i]);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(del);
        if (rc == SQLITE_OK && sqlite3_changes(db) == 0)
            in_block[i] = 1;
        else if (rc == SQLITE_OK && (rc = unindex(db, f, i, upto)) == SQLITE_OK)
            (*freed)++;
    }
    sqlite3_finalize(del);
    return rc;
}

/* Take the candidates marked in 'in_block' out of their blocks. */
static int free_blocked(sqlite3 *db, const struct retention_free *f, const uint8_t *in_block,
                        int64_t upto, int64_t *freed, char *err, size_t errlen)
{
    size_t n = 0;
    int64_t *ids = xmalloc((f->n ? f->n : 1) * sizeof(*ids));
    size_t *which = xmalloc((f->n ? f->n : 1) * sizeof(*which));
    for (size_t i = 0; i < f->n; i++)
        if (in_block[i]) {
            which[n] = i;
            ids[n++] = f->ids[i];
        }
    uint8_t *found = xcalloc(n ? n : 1, 1);
    int rc = n ? textblock_remove(db, ids, n, found, err, errlen) : 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        if (found[k]) { /* else another pass freed it already */
            rc = unindex(db, f, which[k], upto) == SQLITE_OK ? 0 : -1;
            *freed += rc == 0;
        }
    free(ids);
    free(which);
    free(found);
    return rc;
}

int retention_free(sqlite3 *db, const struct retention_free *f, struct retention_report *rep,
                   char *err, size_t errlen)
{
    *err = '\0';
    struct keep k = {f, xcalloc(f->n, 1)};
    uint8_t *in_block = xcalloc(f->n ? f->n : 1, 1);
    int64_t upto = fts_indexed_upto(db), newest = max_id(db, "texts"), freed = 0;
    int rc =
        every_ref(db, f->segments_max, keep_ref, &k, err, errlen) == 0 ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = free_rows(db, f, k.kept, upto, newest, in_block, &freed);
    if (rc == SQLITE_OK && free_blocked(db, f, in_block, upto, &freed, err, errlen) != 0)
        rc = SQLITE_ERROR;
    free(k.kept);
    free(in_block);
    if (rc != SQLITE_OK && !*err)
        snprintf(err, errlen, "retention: cannot free texts: %s", sqlite3_errmsg(db));
    rep->texts += rc == SQLITE_OK ? freed : 0;
    return rc == SQLITE_OK ? 0 : -1;
}

int retention_report_json(const struct retention_report *rep, struct buf *out)
{
    return buf_printf(out,
                      "{\"segments\":%lld,\"spans\":%lld,\"hot_spans\":%lld,"
                      "\"log_messages\":%lld,\"texts\":%lld}",
                      (long long)rep->segments, (long long)rep->spans, (long long)rep->hot_spans,
                      (long long)rep->log_messages, (long long)rep->texts)
               ? -1
               : 0;
}
