/*
 * textpack: packed text in rows and the SQL functions that read it (see
 * textpack.h). zstd at a fast negative level: the point is cutting the
 * writer's bytes at the smallest cost to the request threads (measured with
 * `make bench`: level -3 gave ~25k spans/s where level 1 gave ~22k and no
 * packing ~23k, on 2 cores shared with the load generator).
 */
#include "store/textpack.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/xmem.h"

#define PACK_MIN 96      /* below this zstd does not pay for its frame */
#define PACK_MIN_DICT 24 /* with a dictionary even short texts shrink */
#define PACK_LEVEL (-3)

struct textpack_ctx {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
};

struct textpack_ctx *textpack_new(void)
{
    struct textpack_ctx *c = xcalloc(1, sizeof(*c));
    c->cctx = ZSTD_createCCtx();
    c->dctx = ZSTD_createDCtx();
    /* Parameters set once and kept ("sticky") let zstd reuse its tables
     * between frames instead of clearing them for every small text. */
    if (!c->cctx || !c->dctx ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, PACK_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_windowLog, 17))) {
        textpack_free(c);
        return NULL;
    }
    return c;
}

void textpack_free(struct textpack_ctx *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c);
}

int textpack_pack(struct textpack_ctx *c, const char *text, size_t len, struct buf *out)
{
    if (len >= PACK_MIN) {
        size_t bound = ZSTD_compressBound(len);
        char *z = xmalloc(bound + 1);
        z[0] = 'Z';
        size_t n = ZSTD_compress2(c->cctx, z + 1, bound, text, len);
        if (!ZSTD_isError(n) && n < len) {
            int rc = buf_append(out, z, n + 1);
            free(z);
            return rc ? -1 : 0;
        }
        free(z); /* incompressible: keep it plain */
    }
    return buf_putc(out, 'T') || buf_append(out, text, len) ? -1 : 0;
}

char *textpack_unpack(struct textpack_ctx *c, const void *blob, size_t n, size_t *len)
{
    const unsigned char *p = blob;
    if (n < 1)
        return NULL;
    if (p[0] == 'T') {
        if (len)
            *len = n - 1;
        return xstrndup((const char *)p + 1, n - 1);
    }
    if (p[0] != 'Z')
        return NULL;
    unsigned long long size = ZSTD_getFrameContentSize(p + 1, n - 1);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > TEXTPACK_MAX_TEXT)
        return NULL;
    char *text = xmalloc((size_t)size + 1);
    size_t got = ZSTD_decompressDCtx(c->dctx, text, (size_t)size, p + 1, n - 1);
    if (ZSTD_isError(got) || got != size) {
        free(text);
        return NULL;
    }
    text[got] = '\0';
    if (len)
        *len = got;
    return text;
}

int textpack_pack_dict(struct textpack_ctx *c, const ZSTD_CDict *cdict, const char *text,
                       size_t len, struct buf *out)
{
    if (len >= PACK_MIN_DICT) {
        size_t bound = ZSTD_compressBound(len);
        if (buf_reserve(out, bound + 1) != 0)
            return -1;
        char *z = out->data + out->len;
        z[0] = 'Y';
        size_t n = ZSTD_compress_usingCDict(c->cctx, z + 1, bound, text, len, cdict);
        if (!ZSTD_isError(n) && n < len) {
            out->len += n + 1;
            out->data[out->len] = '\0';
            return 0;
        }
    }
    return buf_putc(out, 'T') || buf_append(out, text, len) ? -1 : 0;
}

int textpack_unpack_append(struct textpack_ctx *c, const void *blob, size_t n, struct buf *out)
{
    return textpack_unpack_append_dict(c, NULL, blob, n, out);
}

int textpack_unpack_append_dict(struct textpack_ctx *c, const ZSTD_DDict *ddict, const void *blob,
                                size_t n, struct buf *out)
{
    const unsigned char *p = blob;
    if (n < 1)
        return -1;
    if (p[0] == 'T')
        return buf_append(out, p + 1, n - 1) ? -1 : 0;
    if (p[0] != 'Z' && !(p[0] == 'Y' && ddict))
        return -1;
    unsigned long long size = ZSTD_getFrameContentSize(p + 1, n - 1);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > TEXTPACK_MAX_TEXT || buf_reserve(out, (size_t)size) != 0)
        return -1;
    size_t got = p[0] == 'Y' ? ZSTD_decompress_usingDDict(c->dctx, out->data + out->len,
                                                          (size_t)size, p + 1, n - 1, ddict)
                             : ZSTD_decompressDCtx(c->dctx, out->data + out->len, (size_t)size,
                                                   p + 1, n - 1);
    if (ZSTD_isError(got) || got != size)
        return -1;
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

/* llmtap_text(x): packed blob -> text; text and NULL pass through. */
static void sql_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    size_t len = 0;
    char *text = textpack_unpack(sqlite3_user_data(ctx), sqlite3_value_blob(argv[0]),
                                 (size_t)sqlite3_value_bytes(argv[0]), &len);
    if (!text) {
        sqlite3_result_error(ctx, "llmtap_text: not a packed text", -1);
        return;
    }
    sqlite3_result_text64(ctx, text, len, free, SQLITE_UTF8);
}

/* llmtap_pack(x): text -> packed blob; NULL passes through. */
static void sql_pack(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    struct buf out;
    buf_init(&out, 0);
    if (textpack_pack(sqlite3_user_data(ctx), text ? text : "",
                      (size_t)sqlite3_value_bytes(argv[0]), &out) != 0) {
        buf_release(&out);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    size_t n = out.len;
    sqlite3_result_blob64(ctx, buf_take(&out, NULL), n, free);
}

static void destroy(void *p)
{
    textpack_free(p);
}

int textpack_register(sqlite3 *db)
{
    struct textpack_ctx *c = textpack_new();
    if (!c)
        return SQLITE_NOMEM;
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    /* 'c' is shared by both functions; the first registration owns it */
    int rc =
        sqlite3_create_function_v2(db, "llmtap_text", 1, flags, c, sql_text, NULL, NULL, destroy);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "llmtap_pack", 1, flags, c, sql_pack, NULL, NULL, NULL);
    return rc;
}

long long textpack_raw_len(const void *blob, size_t n)
{
    const unsigned char *p = blob;
    if (!p || n < 1)
        return -1;
    if (p[0] == 'T')
        return (long long)(n - 1);
    if (p[0] != 'Z' && p[0] != 'Y')
        return -1;
    unsigned long long size = ZSTD_getFrameContentSize(p + 1, n - 1);
    return size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ? -1
                                                                              : (long long)size;
}
