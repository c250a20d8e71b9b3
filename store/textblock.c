/*
 * textblock: older texts packed together (see textblock.h).
 */
#include "store/textblock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/sorted.h"
#include "core/varint.h"
#include "core/xmem.h"
#include "store/textpack.h"
#include "store/texts.h"

void textblock_view_init(struct textblock_view *v)
{
    memset(v, 0, sizeof(*v));
    buf_init(&v->raw, 0);
}

void textblock_view_release(struct textblock_view *v)
{
    buf_release(&v->raw);
    free(v->ids);
    free(v->ends);
    memset(v, 0, sizeof(*v));
}

static void view_clear(struct textblock_view *v)
{
    buf_reset(&v->raw);
    v->n = 0;
}

void textblock_push(struct textblock_view *v, int64_t id, const char *p, size_t len)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->ids = xrealloc(v->ids, v->cap * sizeof(*v->ids));
        v->ends = xrealloc(v->ends, v->cap * sizeof(*v->ends));
    }
    if (buf_append(&v->raw, p, len) != BUF_OK)
        abort(); /* no ceiling on the view's buffer */
    if (v->n == 0)
        v->first = id;
    v->last = id;
    v->ids[v->n] = id;
    v->ends[v->n++] = v->raw.len;
}

int textblock_decode(const void *body, size_t n, int64_t first, struct textblock_view *v)
{
    view_clear(v);
    unsigned long long size = ZSTD_getFrameContentSize(body, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > TEXTPACK_MAX_TEXT)
        return -1;
    char *raw = xmalloc(size ? (size_t)size : 1);
    size_t got = ZSTD_decompress(raw, (size_t)size, body, n);
    int rc = ZSTD_isError(got) || got != size ? -1 : 0;
    const unsigned char *p = (const unsigned char *)raw, *end = p + (rc ? 0 : got);
    uint64_t count = 0;
    if (rc == 0 && (varint_get(&p, end, &count) || count > got / 2))
        rc = -1; /* every entry takes two bytes at least */
    int64_t *ids = xmalloc((size_t)(count ? count : 1) * sizeof(*ids));
    uint64_t *lens = xmalloc((size_t)(count ? count : 1) * sizeof(*lens));
    uint64_t total = 0;
    int64_t id = first - 1;
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        uint64_t d;
        if (varint_get(&p, end, &d) || varint_get(&p, end, &lens[i]) || d == 0 || lens[i] > got)
            rc = -1;
        id += (int64_t)d;
        ids[i] = id;
        total += lens[i];
    }
    if (rc == 0 && total != (uint64_t)(end - p))
        rc = -1; /* the lengths must add up to the texts */
    const char *text = (const char *)p;
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        textblock_push(v, ids[i], text, (size_t)lens[i]);
        text += lens[i];
    }
    free(ids);
    free(lens);
    free(raw);
    if (rc)
        view_clear(v);
    return rc;
}

int textblock_get(const struct textblock_view *v, int64_t id, const char **p, size_t *len)
{
    size_t lo = sorted_lower_bound(v->ids, v->n, id);
    if (lo >= v->n || v->ids[lo] != id)
        return 0;
    size_t from = lo ? v->ends[lo - 1] : 0;
    *p = v->raw.data + from;
    *len = v->ends[lo] - from;
    return 1;
}

int textblock_encode(const struct textblock_view *v, struct buf *out)
{
    struct buf raw;
    buf_init(&raw, 0);
    int rc = varint_put(&raw, v->n);
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        int64_t prev = i ? v->ids[i - 1] : v->ids[0] - 1;
        size_t from = i ? v->ends[i - 1] : 0;
        rc = varint_put(&raw, (uint64_t)(v->ids[i] - prev)) || varint_put(&raw, v->ends[i] - from);
    }
    rc = rc || buf_append(&raw, v->raw.data, v->raw.len);
    size_t bound = ZSTD_compressBound(raw.len);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    if (rc == 0 && cc && buf_reserve(out, bound) == BUF_OK) {
        /* with a checksum: a damaged block fails to decode instead of lying */
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, TEXTBLOCK_LEVEL);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        size_t n = ZSTD_compress2(cc, out->data + out->len, bound, raw.data, raw.len);
        if (ZSTD_isError(n))
            rc = -1;
        else
            out->len += n;
    } else {
        rc = -1;
    }
    ZSTD_freeCCtx(cc);
    buf_release(&raw);
    return rc;
}

/* ---- moving texts into blocks ---- */

struct textblock_batch {
    struct textblock_view v;
    struct buf body;
};

void textblock_batch_free(struct textblock_batch *b)
{
    if (!b)
        return;
    textblock_view_release(&b->v);
    buf_release(&b->body);
    free(b);
}

size_t textblock_batch_count(const struct textblock_batch *b)
{
    return b ? b->v.n : 0;
}

int textblock_build(sqlite3 *db, struct texts_reader *rd, int64_t upto,
                    struct textblock_batch **out, char *err, size_t errlen)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id FROM texts WHERE id <= ?1 ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, upto);
    struct textblock_batch *b = xcalloc(1, sizeof(*b));
    textblock_view_init(&b->v);
    buf_init(&b->body, 0);
    struct buf one;
    buf_init(&one, TEXTPACK_MAX_TEXT);
    int rc = 0;
    while (b->v.raw.len < TEXTBLOCK_RAW && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        buf_reset(&one);
        if (texts_read_text(rd, id, &one) != SQLITE_OK) {
            snprintf(err, errlen, "text blocks: text %lld does not decode", (long long)id);
            rc = -1;
            break;
        }
        textblock_push(&b->v, id, one.data ? one.data : "", one.len);
    }
    buf_release(&one);
    sqlite3_finalize(st);
    if (rc == 0 && b->v.raw.len >= TEXTBLOCK_RAW && textblock_encode(&b->v, &b->body) != 0) {
        snprintf(err, errlen, "text blocks: zstd cannot compress a block");
        rc = -1;
    }
    if (rc || b->v.raw.len < TEXTBLOCK_RAW) { /* not enough waiting yet */
        textblock_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int64_t count_rows(sqlite3 *db, int64_t first, int64_t last)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM texts WHERE id BETWEEN ?1 AND ?2", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, first);
        sqlite3_bind_int64(st, 2, last);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

/* INSERT OR REPLACE the block row of 'v' with 'body'. */
static int put_block(sqlite3 *db, const struct textblock_view *v, const struct buf *body)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO text_blocks(id, last_id, count, body)"
                                " VALUES (?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, v->first);
        sqlite3_bind_int64(st, 2, v->last);
        sqlite3_bind_int64(st, 3, (int64_t)v->n);
        sqlite3_bind_blob64(st, 4, body->data, body->len, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    return rc;
}

int textblock_apply(sqlite3 *db, const struct textblock_batch *b, char *err, size_t errlen)
{
    const struct textblock_view *v = &b->v;
    if (count_rows(db, v->first, v->last) != (int64_t)v->n)
        return 1; /* retention freed some meanwhile */
    int rc = put_block(db, v, &b->body);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "DELETE FROM texts WHERE id BETWEEN ?1 AND ?2", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, v->first);
        sqlite3_bind_int64(st, 2, v->last);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
    return rc == SQLITE_OK ? 0 : -1;
}

/* The block that may hold 'id' into 'v': 1, 0 when none does, -1. */
static int load_block_of(sqlite3 *db, int64_t id, struct textblock_view *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, body FROM text_blocks WHERE id <= ?1 AND last_id >= ?1"
                                " ORDER BY id DESC LIMIT 1",
                                -1, &st, NULL);
    int found = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            found =
                textblock_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                                 sqlite3_column_int64(st, 0), v) == 0
                    ? 1
                    : -1;
        else if (rc != SQLITE_DONE)
            found = -1;
    } else {
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

static int delete_block(sqlite3 *db, int64_t first)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM text_blocks WHERE id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, first);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Rewrite block 'v' without ids[i..] that fall in it; *next is the first
 * index past the block. */
static int rewrite(sqlite3 *db, struct textblock_view *v, const int64_t *ids, size_t n, size_t i,
                   uint8_t *found, size_t *next)
{
    struct textblock_view keep;
    textblock_view_init(&keep);
    int64_t first = v->first;
    size_t k = i;
    for (size_t t = 0; t < v->n; t++) {
        while (k < n && ids[k] < v->ids[t])
            k++;
        if (k < n && ids[k] == v->ids[t]) {
            found[k] = 1;
            continue;
        }
        size_t from = t ? v->ends[t - 1] : 0;
        textblock_push(&keep, v->ids[t], v->raw.data + from, v->ends[t] - from);
    }
    while (k < n && ids[k] <= v->last)
        k++;
    *next = k;
    struct buf body;
    buf_init(&body, 0);
    int rc = delete_block(db, first); /* its first id may have gone */
    if (rc == SQLITE_OK && keep.n)
        rc = textblock_encode(&keep, &body) ? SQLITE_ERROR : put_block(db, &keep, &body);
    buf_release(&body);
    textblock_view_release(&keep);
    return rc;
}

int textblock_remove(sqlite3 *db, const int64_t *ids, size_t n, uint8_t *found, char *err,
                     size_t errlen)
{
    struct textblock_view v;
    textblock_view_init(&v);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        int got = load_block_of(db, ids[i], &v);
        if (got < 0) {
            rc = -1;
        } else if (got == 0) {
            i++; /* in no block */
        } else {
            size_t next;
            rc = rewrite(db, &v, ids, n, i, found, &next) == SQLITE_OK ? 0 : -1;
            i = next > i ? next : i + 1;
        }
    }
    textblock_view_release(&v);
    if (rc)
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
    return rc;
}

int textblock_each(sqlite3 *db, int64_t after, textblock_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, body FROM text_blocks WHERE last_id > ?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    struct textblock_view v;
    textblock_view_init(&v);
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        if (textblock_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                             sqlite3_column_int64(st, 0), &v) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < v.n && rc == 0; i++) {
            size_t from = i ? v.ends[i - 1] : 0;
            if (v.ids[i] > after)
                rc = fn(ctx, v.ids[i], v.raw.data + from, v.ends[i] - from);
        }
    }
    textblock_view_release(&v);
    sqlite3_finalize(st);
    return rc;
}
