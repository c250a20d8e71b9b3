/*
 * segbody: one blob per segment holding its column frames (segbody.h).
 */
#include "store/segbody.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/varint.h"
#include "core/xmem.h"

#define BODY_TAG 'B'
#define DIR_MAX (1 + 2 * VARINT_MAX * SEGBODY_MAX_COLS) /* bytes of the longest directory */

/* ---- the layout ---- */

int segbody_build(const void *const *frames, const size_t *lens, int ncols, struct buf *out)
{
    if (ncols < 0 || ncols > SEGBODY_MAX_COLS || buf_putc(out, BODY_TAG) ||
        varint_put(out, (uint64_t)ncols))
        return -1;
    for (int c = 0; c < ncols; c++)
        if (varint_put(out, frames[c] ? lens[c] : 0))
            return -1;
    for (int c = 0; c < ncols; c++)
        if (frames[c] && lens[c] && buf_append(out, frames[c], lens[c]))
            return -1;
    return 0;
}

int segbody_locate(const void *p, size_t n, size_t total, int col, size_t *off, size_t *len,
                   char *err, size_t errlen)
{
    const unsigned char *s = p, *end = s + (n < total ? n : total);
    uint64_t ncols, l, sum = 0;
    const char *why = NULL;
    *off = *len = 0;
    if (s == end || *s++ != BODY_TAG)
        why = "not a segment body";
    else if (varint_get(&s, end, &ncols) || ncols > SEGBODY_MAX_COLS)
        why = "a bad column count";
    for (uint64_t c = 0; !why && c < ncols; c++) {
        if (varint_get(&s, end, &l) || l > total)
            why = "a bad column length";
        else if (c == (uint64_t)col)
            *len = (size_t)l;
        else if (c < (uint64_t)col)
            *off += (size_t)l;
        sum += why ? 0 : l;
    }
    size_t head = (size_t)(s - (const unsigned char *)p);
    if (!why && sum != total - head)
        why = "column lengths that do not add up to the body";
    if (why) {
        snprintf(err, errlen, "segment body: %s", why);
        return -1;
    }
    *off += head;
    return col >= 0 && (uint64_t)col<ncols && * len> 0 ? 0 : 1;
}

/* ---- reading one segment's frames ---- */

/* Everything here is owned by the reader. */
struct segbody_reader {
    sqlite3_blob *blob;   /* the body, or NULL when read from segment_cols */
    sqlite3_stmt *legacy; /* SELECT data FROM segment_cols (a file before v23) */
    int64_t seg;
    size_t total; /* bytes of the body */
    unsigned char dir[DIR_MAX];
    size_t ndir;          /* bytes of 'dir' read */
    unsigned char *frame; /* the last frame read */
    size_t cap;
};

static int open_legacy(sqlite3 *db, struct segbody_reader *r, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(db, "SELECT data FROM segment_cols WHERE segment_id=?1 AND col=?2", -1,
                           &r->legacy, NULL) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "segment %lld: %s", (long long)r->seg, sqlite3_errmsg(db));
    return -1;
}

int segbody_open(sqlite3 *db, int64_t seg, struct segbody_reader **out, char *err, size_t errlen)
{
    struct segbody_reader *r = xcalloc(1, sizeof(*r));
    *out = NULL;
    r->seg = seg;
    int rc = 0;
    if (sqlite3_table_column_metadata(db, NULL, "segment_body", "body", NULL, NULL, NULL, NULL,
                                      NULL) != SQLITE_OK) {
        rc = open_legacy(db, r, err, errlen);
    } else if (sqlite3_blob_open(db, "main", "segment_body", "body", seg, 0, &r->blob) !=
               SQLITE_OK) {
        snprintf(err, errlen, "segment %lld: its columns are missing (%s)", (long long)seg,
                 sqlite3_errmsg(db));
        rc = -1;
    } else {
        r->total = (size_t)sqlite3_blob_bytes(r->blob);
        r->ndir = r->total < DIR_MAX ? r->total : DIR_MAX;
        if (sqlite3_blob_read(r->blob, r->dir, (int)r->ndir, 0) != SQLITE_OK) {
            snprintf(err, errlen, "segment %lld: %s", (long long)seg, sqlite3_errmsg(db));
            rc = -1;
        }
    }
    if (rc) {
        segbody_reader_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* Room for 'n' bytes in r->frame. */
static void frame_room(struct segbody_reader *r, size_t n)
{
    if (n <= r->cap)
        return;
    free(r->frame);
    r->cap = n;
    r->frame = xmalloc(n);
}

static int frame_legacy(struct segbody_reader *r, int col, const void **p, size_t *n, char *err,
                        size_t errlen)
{
    sqlite3_bind_int64(r->legacy, 1, r->seg);
    sqlite3_bind_int(r->legacy, 2, col);
    int rc = sqlite3_step(r->legacy);
    if (rc == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_bytes(r->legacy, 0);
        frame_room(r, *n ? *n : 1);
        if (*n)
            memcpy(r->frame, sqlite3_column_blob(r->legacy, 0), *n);
        *p = r->frame;
    } else if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "segment %lld: %s", (long long)r->seg,
                 sqlite3_errmsg(sqlite3_db_handle(r->legacy)));
    }
    sqlite3_reset(r->legacy);
    if (rc == SQLITE_ROW) /* an empty frame is no column, as in a body */
        return *n ? 0 : 1;
    return rc == SQLITE_DONE ? 1 : -1;
}

int segbody_frame(struct segbody_reader *r, int col, const void **p, size_t *n, char *err,
                  size_t errlen)
{
    size_t off = 0;
    *p = NULL;
    *n = 0;
    if (r->legacy)
        return frame_legacy(r, col, p, n, err, errlen);
    int rc = segbody_locate(r->dir, r->ndir, r->total, col, &off, n, err, errlen);
    if (rc != 0)
        return rc;
    frame_room(r, *n);
    if (sqlite3_blob_read(r->blob, r->frame, (int)*n, (int)off) != SQLITE_OK) {
        snprintf(err, errlen, "segment %lld: cannot read column %d", (long long)r->seg, col);
        return -1;
    }
    *p = r->frame;
    return 0;
}

void segbody_reader_free(struct segbody_reader *r)
{
    if (!r)
        return;
    sqlite3_blob_close(r->blob);
    sqlite3_finalize(r->legacy);
    free(r->frame);
    free(r);
}

/* ---- SQL functions ---- */

/* The frames an aggregate or a rebuild holds, by column (owned copies). */
struct frames {
    void *p[SEGBODY_MAX_COLS];
    size_t n[SEGBODY_MAX_COLS];
    int ncols;
};

static void frames_set(struct frames *f, int col, const void *p, size_t n)
{
    free(f->p[col]);
    f->p[col] = n ? xmalloc(n) : NULL;
    if (n)
        memcpy(f->p[col], p, n);
    f->n[col] = n;
    if (col + 1 > f->ncols)
        f->ncols = col + 1;
}

static void frames_clear(struct frames *f)
{
    for (int c = 0; c < f->ncols; c++)
        free(f->p[c]);
    memset(f, 0, sizeof(*f));
}

/* The body of 'f' as the function's result. */
static void frames_result(sqlite3_context *ctx, const struct frames *f)
{
    struct buf out;
    buf_init(&out, 0);
    if (segbody_build((const void *const *)f->p, f->n, f->ncols, &out) != 0)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_blob64(ctx, out.data ? out.data : "", out.len, SQLITE_TRANSIENT);
    buf_release(&out);
}

static int col_arg(sqlite3_context *ctx, sqlite3_value *v)
{
    sqlite3_int64 c = sqlite3_value_int64(v);
    if (sqlite3_value_type(v) != SQLITE_INTEGER || c < 0 || c >= SEGBODY_MAX_COLS) {
        sqlite3_result_error(ctx, "llmtap_segment: a column is an integer 0..63", -1);
        return -1;
    }
    return (int)c;
}

static void pack_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct frames *f = sqlite3_aggregate_context(ctx, sizeof(*f));
    int col = col_arg(ctx, argv[0]);
    if (!f || col < 0)
        return;
    frames_set(f, col, sqlite3_value_blob(argv[1]), (size_t)sqlite3_value_bytes(argv[1]));
}

static void pack_final(sqlite3_context *ctx)
{
    struct frames *f = sqlite3_aggregate_context(ctx, 0);
    if (!f)
        return;
    frames_result(ctx, f);
    frames_clear(f);
}

/* The frames of body 'v' into 'f'. 0, or -1 (the result says why). */
static int frames_of(sqlite3_context *ctx, sqlite3_value *v, struct frames *f)
{
    const void *p = sqlite3_value_blob(v);
    size_t n = (size_t)sqlite3_value_bytes(v), off, len;
    char err[128];
    for (int c = 0; c < SEGBODY_MAX_COLS; c++) {
        int rc = segbody_locate(p, n, n, c, &off, &len, err, sizeof(err));
        if (rc < 0) {
            sqlite3_result_error(ctx, err, -1);
            return -1;
        }
        if (rc == 0)
            frames_set(f, c, (const char *)p + off, len);
    }
    return 0;
}

static void frame_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *p = sqlite3_value_blob(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]), off, len;
    char err[128];
    int col = col_arg(ctx, argv[1]);
    if (col < 0)
        return;
    int rc = segbody_locate(p, n, n, col, &off, &len, err, sizeof(err));
    if (rc < 0)
        sqlite3_result_error(ctx, err, -1);
    else if (rc == 0)
        sqlite3_result_blob64(ctx, (const char *)p + off, len, SQLITE_TRANSIENT);
}

static void set_frame_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct frames f = {0};
    int col = col_arg(ctx, argv[1]);
    if (col >= 0 && frames_of(ctx, argv[0], &f) == 0) {
        frames_set(&f, col, sqlite3_value_blob(argv[2]), (size_t)sqlite3_value_bytes(argv[2]));
        frames_result(ctx, &f);
    }
    frames_clear(&f);
}

int segbody_register(sqlite3 *db)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    int rc = sqlite3_create_function(db, "llmtap_segment_pack", 2, flags, NULL, NULL, pack_step,
                                     pack_final);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "llmtap_segment_frame", 2, flags, NULL, frame_fn, NULL,
                                     NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "llmtap_segment_set_frame", 3, flags, NULL, set_frame_fn,
                                     NULL, NULL);
    return rc;
}
