/*
 * textblock: older texts packed together (see textblock.h).
 */
#include "store/textblock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZDICT_STATIC_LINKING_ONLY /* ZDICT_trainFromBuffer_fastCover */
#include <zdict.h>
#include <zstd.h>

#include "core/sorted.h"
#include "core/timeutil.h"
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

/* ---- the dictionary cache ---- */

struct block_dict {
    int64_t id;
    void *bytes;
    size_t n;
    ZSTD_DDict *dd;      /* made on first decode */
    ZSTD_CDict *cd;      /* made on first encode */
    ZSTD_CDict *cd_cold; /* ... at TEXTBLOCK_COLD_LEVEL (a CDict sets the level) */
};

struct textblock_dicts {
    sqlite3 *db;
    sqlite3_stmt *get, *newest;
    struct block_dict *v;
    size_t n, cap;
    ZSTD_CCtx *cc;
    ZSTD_DCtx *dc;
};

struct textblock_dicts *textblock_dicts_open(sqlite3 *db)
{
    struct textblock_dicts *d = xcalloc(1, sizeof(*d));
    d->db = db;
    d->cc = ZSTD_createCCtx();
    d->dc = ZSTD_createDCtx();
    if (!d->cc || !d->dc) {
        textblock_dicts_free(d);
        return NULL;
    }
    return d;
}

void textblock_dicts_free(struct textblock_dicts *d)
{
    if (!d)
        return;
    sqlite3_finalize(d->get);
    sqlite3_finalize(d->newest);
    for (size_t i = 0; i < d->n; i++) {
        ZSTD_freeDDict(d->v[i].dd);
        ZSTD_freeCDict(d->v[i].cd);
        ZSTD_freeCDict(d->v[i].cd_cold);
        free(d->v[i].bytes);
    }
    free(d->v);
    ZSTD_freeCCtx(d->cc);
    ZSTD_freeDCtx(d->dc);
    free(d);
}

int64_t textblock_dicts_newest(struct textblock_dicts *d)
{
    if (!d->newest &&
        sqlite3_prepare_v3(d->db, "SELECT coalesce(max(id), 0) FROM text_block_dicts", -1,
                           SQLITE_PREPARE_PERSISTENT, &d->newest, NULL) != SQLITE_OK)
        return 0;
    int64_t id = sqlite3_step(d->newest) == SQLITE_ROW ? sqlite3_column_int64(d->newest, 0) : 0;
    sqlite3_reset(d->newest);
    return id;
}

/* Dictionary 'id', loaded when first asked for; NULL when it is missing. */
static struct block_dict *dict_get(struct textblock_dicts *d, int64_t id)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].id == id)
            return &d->v[i];
    if (!d->get && sqlite3_prepare_v3(d->db, "SELECT dict FROM text_block_dicts WHERE id = ?1", -1,
                                      SQLITE_PREPARE_PERSISTENT, &d->get, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(d->get, 1, id);
    struct block_dict *got = NULL;
    if (sqlite3_step(d->get) == SQLITE_ROW && sqlite3_column_bytes(d->get, 0) > 0) {
        if (d->n == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 4;
            d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
        }
        got = &d->v[d->n++];
        got->id = id;
        got->n = (size_t)sqlite3_column_bytes(d->get, 0);
        got->bytes = xmalloc(got->n);
        memcpy(got->bytes, sqlite3_column_blob(d->get, 0), got->n);
        got->dd = NULL;
        got->cd = NULL;
        got->cd_cold = NULL;
    }
    sqlite3_reset(d->get);
    return got;
}

static const ZSTD_DDict *dict_ddict(struct textblock_dicts *d, int64_t id)
{
    struct block_dict *b = dict_get(d, id);
    if (b && !b->dd)
        b->dd = ZSTD_createDDict(b->bytes, b->n);
    return b ? b->dd : NULL;
}

/* Dictionary 'id' for packing at 'level' (TEXTBLOCK_LEVEL or
 * TEXTBLOCK_COLD_LEVEL): zstd packs at the level a CDict was made with. */
static const ZSTD_CDict *dict_cdict(struct textblock_dicts *d, int64_t id, int level)
{
    struct block_dict *b = dict_get(d, id);
    if (!b)
        return NULL;
    ZSTD_CDict **cd = level == TEXTBLOCK_COLD_LEVEL ? &b->cd_cold : &b->cd;
    if (!*cd)
        *cd = ZSTD_createCDict(b->bytes, b->n, level);
    return *cd;
}

/* ---- a block ---- */

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

/* Decompress 'body' (dictionary 'dict' of 'd') into a new buffer of *got
 * bytes; NULL when it does not decompress. */
static char *unzip(struct textblock_dicts *d, int64_t dict, const void *body, size_t n, size_t *got)
{
    unsigned long long size = ZSTD_getFrameContentSize(body, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > TEXTPACK_MAX_TEXT)
        return NULL;
    const ZSTD_DDict *dd = dict ? (d ? dict_ddict(d, dict) : NULL) : NULL;
    if (dict && !dd)
        return NULL;
    char *raw = xmalloc(size ? (size_t)size : 1);
    size_t r;
    if (dd) {
        r = ZSTD_decompress_usingDDict(d->dc, raw, (size_t)size, body, n, dd);
    } else {
        ZSTD_DCtx *dc = d ? d->dc : ZSTD_createDCtx();
        r = dc ? ZSTD_decompressDCtx(dc, raw, (size_t)size, body, n) : (size_t)-1;
        if (!d)
            ZSTD_freeDCtx(dc);
    }
    if (ZSTD_isError(r) || r != size) {
        free(raw);
        return NULL;
    }
    *got = r;
    return raw;
}

int textblock_decode(struct textblock_dicts *d, int64_t dict, const void *body, size_t n,
                     int64_t first, struct textblock_view *v)
{
    view_clear(v);
    size_t got = 0;
    char *raw = unzip(d, dict, body, n, &got);
    if (!raw)
        return -1;
    int rc = 0;
    const unsigned char *p = (const unsigned char *)raw, *end = p + got;
    uint64_t count = 0;
    if ((varint_get(&p, end, &count) || count > got / 2))
        rc = -1; /* every entry takes two bytes at least */
    int64_t *ids = xmalloc((size_t)(count ? count : 1) * sizeof(*ids));
    uint64_t *lens = xmalloc((size_t)(count ? count : 1) * sizeof(*lens));
    uint64_t total = 0;
    int64_t id = first - 1;
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        uint64_t step;
        if (varint_get(&p, end, &step) || varint_get(&p, end, &lens[i]) || step == 0 ||
            lens[i] > got)
            rc = -1;
        id += (int64_t)step;
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

/* textblock_encode at zstd level 'level'. */
static int encode_at(struct textblock_dicts *d, int64_t dict, const struct textblock_view *v,
                     int level, struct buf *out)
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
    const ZSTD_CDict *cd = dict ? (d ? dict_cdict(d, dict, level) : NULL) : NULL;
    ZSTD_CCtx *cc = d ? d->cc : ZSTD_createCCtx();
    if (rc == 0 && cc && (cd || !dict) && buf_reserve(out, bound) == BUF_OK) {
        /* with a checksum: a damaged block fails to decode instead of lying */
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        if (cd)
            ZSTD_CCtx_refCDict(cc, cd);
        size_t n = ZSTD_compress2(cc, out->data + out->len, bound, raw.data, raw.len);
        if (ZSTD_isError(n))
            rc = -1;
        else
            out->len += n;
    } else {
        rc = -1;
    }
    if (!d)
        ZSTD_freeCCtx(cc);
    buf_release(&raw);
    return rc;
}

int textblock_encode(struct textblock_dicts *d, int64_t dict, const struct textblock_view *v,
                     struct buf *out)
{
    return encode_at(d, dict, v, TEXTBLOCK_LEVEL, out);
}

/* ---- moving texts into blocks ---- */

struct textblock_batch {
    struct textblock_view v;
    int64_t dict;
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
    struct textblock_dicts *dicts = texts_reader_block_dicts(rd);
    b->dict = rc == 0 && b->v.raw.len >= TEXTBLOCK_RAW ? textblock_dicts_newest(dicts) : 0;
    if (rc == 0 && b->v.raw.len >= TEXTBLOCK_RAW &&
        textblock_encode(dicts, b->dict, &b->v, &b->body) != 0) {
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

/* INSERT OR REPLACE the block row of 'v' with 'body' (packed with 'dict'). */
static int put_block(sqlite3 *db, const struct textblock_view *v, int64_t dict,
                     const struct buf *body)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO text_blocks(id, last_id, count, dict,"
                                " raw_len, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, v->first);
        sqlite3_bind_int64(st, 2, v->last);
        sqlite3_bind_int64(st, 3, (int64_t)v->n);
        sqlite3_bind_int64(st, 4, dict);
        sqlite3_bind_int64(st, 5, (int64_t)v->raw.len);
        sqlite3_bind_blob64(st, 6, body->data, body->len, SQLITE_STATIC);
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
    int rc = put_block(db, v, b->dict, &b->body);
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

/* Decode the block of row 'st' (columns id, dict, body) into 'v'. */
static int decode_row(struct textblock_dicts *d, sqlite3_stmt *st, struct textblock_view *v)
{
    return textblock_decode(d, sqlite3_column_int64(st, 1), sqlite3_column_blob(st, 2),
                            (size_t)sqlite3_column_bytes(st, 2), sqlite3_column_int64(st, 0), v);
}

/* The block that may hold 'id' into 'v' (its dictionary in *dict): 1, 0
 * when none does, -1. */
static int load_block_of(sqlite3 *db, struct textblock_dicts *d, int64_t id,
                         struct textblock_view *v, int64_t *dict)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, dict, body FROM text_blocks"
                                " WHERE id <= ?1 AND last_id >= ?1 ORDER BY id DESC LIMIT 1",
                                -1, &st, NULL);
    int found = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *dict = sqlite3_column_int64(st, 1);
            found = decode_row(d, st, v) == 0 ? 1 : -1;
        } else if (rc != SQLITE_DONE)
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

/* Rewrite block 'v' (packed with 'dict') without ids[i..] that fall in it;
 * *next is the first index past the block. */
static int rewrite(sqlite3 *db, struct textblock_dicts *d, int64_t dict, struct textblock_view *v,
                   const int64_t *ids, size_t n, size_t i, uint8_t *found, size_t *next)
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
        rc = textblock_encode(d, dict, &keep, &body) ? SQLITE_ERROR
                                                     : put_block(db, &keep, dict, &body);
    buf_release(&body);
    textblock_view_release(&keep);
    return rc;
}

int textblock_remove(sqlite3 *db, const int64_t *ids, size_t n, uint8_t *found, char *err,
                     size_t errlen)
{
    struct textblock_view v;
    textblock_view_init(&v);
    struct textblock_dicts *d = textblock_dicts_open(db);
    int rc = d ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0;) {
        int64_t dict = 0;
        int got = load_block_of(db, d, ids[i], &v, &dict);
        if (got < 0) {
            rc = -1;
        } else if (got == 0) {
            i++; /* in no block */
        } else {
            size_t next;
            rc = rewrite(db, d, dict, &v, ids, n, i, found, &next) == SQLITE_OK ? 0 : -1;
            i = next > i ? next : i + 1;
        }
    }
    textblock_dicts_free(d);
    textblock_view_release(&v);
    if (rc)
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
    return rc;
}

int textblock_each(sqlite3 *db, struct textblock_dicts *d, int64_t after, textblock_fn fn,
                   void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, dict, body FROM text_blocks WHERE last_id > ?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    struct textblock_view v;
    textblock_view_init(&v);
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        if (decode_row(d, st, &v) != 0) {
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

/* ---- packing cold blocks again ---- */

struct textblock_repack {
    int64_t id;
    struct buf old, body; /* the block's body as read, and packed cold */
};

void textblock_repack_free(struct textblock_repack *r)
{
    if (!r)
        return;
    buf_release(&r->old);
    buf_release(&r->body);
    free(r);
}

size_t textblock_repack_saved(const struct textblock_repack *r)
{
    return r ? r->old.len - r->body.len : 0;
}

/* Pack the block of row 'st' (id, dict, body) cold into 'r'. */
static int repack_row(struct textblock_dicts *d, sqlite3_stmt *st, struct textblock_repack *r)
{
    struct textblock_view v;
    textblock_view_init(&v);
    const void *body = sqlite3_column_blob(st, 2);
    size_t n = (size_t)sqlite3_column_bytes(st, 2);
    r->id = sqlite3_column_int64(st, 0);
    int rc = buf_append(&r->old, body, n) == BUF_OK ? decode_row(d, st, &v) : -1;
    if (rc == 0)
        rc = encode_at(d, sqlite3_column_int64(st, 1), &v, TEXTBLOCK_COLD_LEVEL, &r->body);
    if (rc == 0 && r->body.len > r->old.len) { /* keep the smaller: it is cold either way */
        buf_reset(&r->body);
        rc = buf_append(&r->body, body, n) == BUF_OK ? 0 : -1;
    }
    textblock_view_release(&v);
    return rc;
}

int textblock_repack_build(sqlite3 *db, struct textblock_dicts *d, struct textblock_repack **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, dict, body FROM text_blocks WHERE cold = 0"
                                " ORDER BY id LIMIT 1",
                                -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    int step = rc == 0 ? sqlite3_step(st) : SQLITE_ERROR;
    if (step == SQLITE_ROW) {
        struct textblock_repack *r = xcalloc(1, sizeof(*r));
        buf_init(&r->old, 0);
        buf_init(&r->body, 0);
        rc = repack_row(d, st, r);
        if (rc == 0)
            *out = r;
        else
            textblock_repack_free(r);
    } else if (step != SQLITE_DONE) {
        rc = -1;
    }
    if (rc)
        snprintf(err, errlen, "text blocks: cannot pack block again: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

int textblock_repack_apply(sqlite3 *db, const struct textblock_repack *r, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE text_blocks SET body = ?1, cold = 1"
                                " WHERE id = ?2 AND cold = 0 AND body = ?3",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob64(st, 1, r->body.data, r->body.len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->id);
        sqlite3_bind_blob64(st, 3, r->old.data, r->old.len, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
        return -1;
    }
    return sqlite3_changes(db) == 1 ? 0 : 1; /* 1: rewritten or dropped meanwhile */
}

/* ---- dictionaries ---- */

/* Raw bytes in the blocks packed with dictionary 'dict'; -1 on error. */
static int64_t packed_with(sqlite3 *db, int64_t dict)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(raw_len), 0) FROM text_blocks WHERE dict = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, dict);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

/* The texts of the newest blocks, end to end, up to TEXTBLOCK_TRAIN_SAMPLES
 * bytes. 0, or -1 when a block does not decode. */
static int gather(sqlite3 *db, struct textblock_dicts *d, struct texts_samples *sm)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, dict, body FROM text_blocks ORDER BY id DESC", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    struct textblock_view v;
    textblock_view_init(&v);
    int rc = 0;
    while (rc == 0 && sm->data.len < TEXTBLOCK_TRAIN_SAMPLES && sqlite3_step(st) == SQLITE_ROW) {
        if (decode_row(d, st, &v) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < v.n && sm->data.len < TEXTBLOCK_TRAIN_SAMPLES; i++) {
            size_t from = i ? v.ends[i - 1] : 0, len = v.ends[i] - from;
            if (len == 0)
                continue;
            if (texts_samples_add(sm, v.raw.data + from, len) != 0)
                abort(); /* no ceiling on the sample buffer */
        }
    }
    textblock_view_release(&v);
    sqlite3_finalize(st);
    return rc;
}

int textblock_train(sqlite3 *db, struct textblock_dicts *d, uint64_t first, uint64_t every,
                    struct buf *out, int *samples, char *err, size_t errlen)
{
    int64_t newest = textblock_dicts_newest(d);
    int64_t packed = packed_with(db, newest);
    if (packed < 0 || (uint64_t)packed < (newest ? every : first))
        return 0;
    struct texts_samples sm;
    texts_samples_init(&sm);
    int rc = gather(db, d, &sm);
    /* about one byte of dictionary for 32 of samples: a small store gets a
     * small one */
    size_t cap = sm.data.len / 32 < TEXTBLOCK_DICT_MAX ? sm.data.len / 32 : TEXTBLOCK_DICT_MAX;
    if (rc == 0 && (cap < 1024 || sm.n < 16)) {
        snprintf(err, errlen, "text blocks: %zu bytes in %zu texts are too few to train on",
                 sm.data.len, sm.n);
        rc = -1;
    } else if (rc != 0) {
        snprintf(err, errlen, "text blocks: a block does not decode");
    }
    if (rc == 0 && buf_reserve(out, cap) != BUF_OK) {
        snprintf(err, errlen, "text blocks: no room for a dictionary");
        rc = -1;
    }
    if (rc == 0) {
        /* fixed segment and d-mer sizes: the optimizing search costs seconds
         * more per run and gained under 1 % on LLM traffic */
        ZDICT_fastCover_params_t p = {.k = 1024, .d = 8, .steps = 0, .nbThreads = 1, .accel = 1};
        p.zParams.compressionLevel = TEXTBLOCK_LEVEL;
        size_t got = ZDICT_trainFromBuffer_fastCover(out->data + out->len, cap, sm.data.data,
                                                     sm.sizes, (unsigned)sm.n, p);
        if (ZDICT_isError(got)) {
            snprintf(err, errlen, "text blocks: zstd cannot train a dictionary: %s",
                     ZDICT_getErrorName(got));
            rc = -1;
        } else {
            out->len += got;
            *samples = (int)sm.n;
        }
    }
    texts_samples_release(&sm);
    return rc == 0 ? 1 : -1;
}

int textblock_store_dict(sqlite3 *db, const void *dict, size_t n, int samples, int64_t *id,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO text_block_dicts(created_ns, samples, dict)"
                                " VALUES (?1, ?2, ?3)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, time_now_ns());
        sqlite3_bind_int(st, 2, samples);
        sqlite3_bind_blob64(st, 3, dict, n, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "text blocks: cannot store a dictionary: %s", sqlite3_errmsg(db));
        return -1;
    }
    *id = sqlite3_last_insert_rowid(db);
    return 0;
}
