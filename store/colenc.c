/*
 * colenc: one column of a segment, encoded for its type and compressed as
 * one zstd frame (layout in colenc.h).
 *
 * Writer: each row adds a bit to the null bitmap and, when not NULL, a value
 * kept by type: int64s, doubles, or for text/blob the index of the row's
 * bytes in a dictionary of the column's distinct byte strings (a small
 * open-addressing hash table filled as rows come in). colenc_finish sizes
 * 'D' and 'S' from that dictionary and writes the smaller. Rows past
 * COLENC_MAX_ROWS are counted but not kept, and make colenc_finish fail; so
 * does an encoding larger than COLENC_MAX_RAW, which no reader would accept.
 *
 * Blob columns are written 'd' or 's' (the layouts of 'D' and 'S'), so that a
 * decoded column knows whether its bytes are text or blobs.
 *
 * Reader invariants, all checked against the bytes before a column is handed
 * out: 'nulls' has ceil(rows/8) bytes with no padding bit set; ints, reals and
 * row_ent have one slot per row; row_ent of a non-NULL row is < nents; every
 * entry lies inside 'arena' and is followed by a NUL there.
 */
#include "store/colenc.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/varint.h"
#include "core/xmem.h"

#define COLENC_MAX_RAW (64u << 20) /* bytes of one encoded column before zstd */
#define CONV_MAX 64                /* bytes of a text looked at to read a number */

/* One distinct byte string of a text/blob column: 'len' bytes at 'off' in
 * the dictionary's 'bytes'. */
struct dict_ent {
    size_t off;
    size_t len;
    uint64_t hash;
};

struct dict {
    struct buf bytes;      /* the entries back to back; no ceiling */
    struct dict_ent *ents; /* 'nents' entries in order of first appearance */
    size_t nents;
    size_t entcap;
    uint32_t *slots; /* hash table: 0 = empty, else entry index + 1 */
    size_t nslots;   /* 0, or a power of two >= 2 * nents */
};

/* The writer owns every array below; colenc_writer_free frees them. */
struct colenc_writer {
    enum colenc_type type;
    size_t rows;      /* rows put, counting those past COLENC_MAX_ROWS */
    struct buf nulls; /* bitmap of the kept rows: bit r%8 of byte r/8 */
    size_t nvals;     /* non-NULL rows kept */
    size_t valcap;    /* room in the one value array this type uses */
    int64_t *ints;    /* INT */
    double *reals;    /* REAL */
    uint32_t *idx;    /* TEXT/BLOB: the dictionary entry of each value */
    struct dict dict;
    int broken;                      /* an internal append failed: colenc_finish fails */
    ZSTD_CCtx *cctx;                 /* made by the first colenc_finish, kept for the next */
    const struct colenc_writer *ref; /* values may point at its rows ('P', 'W'), or NULL */
    int window;                      /* an INT column may be written as 'W' */
};

/* A byte string of a decoded text/blob column: 'len' bytes at 'off' in the
 * column's arena. */
struct col_ent {
    size_t off;
    size_t len;
};

/* Everything here is owned by the column and freed by colenc_column_free. */
struct colenc_column {
    enum colenc_type type;
    size_t rows;
    unsigned char *nulls; /* ceil(rows/8) bytes: bit i%8 of byte i/8 = row i NULL */
    int64_t *ints;        /* INT: one per row, 0 for NULL rows */
    double *reals;        /* REAL: one per row, 0 for NULL rows */
    uint32_t *row_ent;    /* TEXT/BLOB: one entry index per row */
    struct col_ent *ents; /* 'nents' byte strings in 'arena' */
    size_t nents;
    struct buf arena; /* every entry's bytes, each followed by a NUL */
};

/* A bounded reader over the decompressed column, and the rows whose values
 * are kept ('want': bit i%8 of byte i/8; NULL = all). Rows from 'upto' on
 * are not read at all. */
struct rd {
    const unsigned char *p;
    const unsigned char *end;
    const unsigned char *want;
    size_t upto;
};

/* ---- shared helpers ---- */

/* Zigzag on the two's-complement bits, so any delta (wrapped) fits. */
static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

/* The int64 with the same bits as 'u', without implementation-defined casts. */
static int64_t to_int64(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(UINT64_MAX - u) - 1;
}

/* ---- conversions, as sqlite3_value_int64 / _double / _text would ---- */

static int64_t real_to_int(double r)
{
    if (isnan(r))
        return 0;
    if (r <= -9223372036854775808.0)
        return INT64_MIN;
    if (r >= 9223372036854775808.0)
        return INT64_MAX;
    return (int64_t)r;
}

/* The first bytes of 'p' after any white space, as a C string in 'text'
 * (CONV_MAX bytes). */
static void conv_prefix(char *text, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n && isspace(*s)) { /* SQLite skips them too; keep the digits */
        s++;
        n--;
    }
    if (n > CONV_MAX - 1)
        n = CONV_MAX - 1;
    if (n)
        memcpy(text, s, n);
    text[n] = '\0';
}

/* SQLite reads the longest leading decimal integer, clamped; 0 when none. */
static int64_t bytes_to_int(const void *p, size_t n)
{
    char text[CONV_MAX];
    conv_prefix(text, p, n);
    return (int64_t)strtoll(text, NULL, 10);
}

/* SQLite reads the longest leading decimal real; it knows no "inf", "nan"
 * or hex floats, which strtod would accept, so those are cut first. A
 * minus sign before no number at all still gives -0.0, as in SQLite. */
static double bytes_to_real(const void *p, size_t n)
{
    char text[CONV_MAX], *end;
    conv_prefix(text, p, n);
    char *t = text + (text[0] == '+' || text[0] == '-');
    double none = text[0] == '-' ? -0.0 : 0.0;
    if (!isdigit((unsigned char)*t) && *t != '.')
        return none;
    if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
        t[1] = '\0';
    double d = strtod(text, &end);
    return end == text ? none : d;
}

/* ---- writer: the dictionary ---- */

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static void dict_rehash(struct dict *d)
{
    size_t nslots = d->nslots ? d->nslots * 2 : 16;
    free(d->slots);
    d->slots = xcalloc(nslots, sizeof(*d->slots));
    d->nslots = nslots;
    for (size_t k = 0; k < d->nents; k++) {
        size_t i = (size_t)d->ents[k].hash & (nslots - 1);
        while (d->slots[i])
            i = (i + 1) & (nslots - 1);
        d->slots[i] = (uint32_t)(k + 1);
    }
}

static void *grow_array(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    *cap = n;
    return xrealloc(p, n * size);
}

/* Index of the entry holding 'p'/'n', added when new; -1 when the bytes
 * cannot be kept. At most COLENC_MAX_ROWS entries, so indexes fit 32 bits. */
static int64_t dict_intern(struct dict *d, const void *p, size_t n)
{
    if (2 * (d->nents + 1) > d->nslots)
        dict_rehash(d);
    uint64_t h = hash_bytes(p, n);
    size_t mask = d->nslots - 1;
    size_t i = (size_t)h & mask;
    for (; d->slots[i]; i = (i + 1) & mask) {
        const struct dict_ent *e = &d->ents[d->slots[i] - 1];
        if (e->hash == h && e->len == n && (n == 0 || memcmp(d->bytes.data + e->off, p, n) == 0))
            return d->slots[i] - 1;
    }
    size_t off = d->bytes.len;
    if (buf_append(&d->bytes, p, n))
        return -1;
    d->ents = grow_array(d->ents, &d->entcap, d->nents + 1, sizeof(*d->ents));
    d->ents[d->nents] = (struct dict_ent){off, n, h};
    d->slots[i] = (uint32_t)(d->nents + 1);
    return (int64_t)d->nents++;
}

/* Index of the entry holding 'p'/'n', or -1. */
static int64_t dict_find(const struct dict *d, const void *p, size_t n)
{
    if (d->nslots == 0)
        return -1;
    uint64_t h = hash_bytes(p, n);
    size_t mask = d->nslots - 1;
    for (size_t i = (size_t)h & mask; d->slots[i]; i = (i + 1) & mask) {
        const struct dict_ent *e = &d->ents[d->slots[i] - 1];
        if (e->hash == h && e->len == n && (n == 0 || memcmp(d->bytes.data + e->off, p, n) == 0))
            return d->slots[i] - 1;
    }
    return -1;
}

static void dict_reset(struct dict *d)
{
    buf_reset(&d->bytes);
    d->nents = 0;
    if (d->slots)
        memset(d->slots, 0, d->nslots * sizeof(*d->slots));
}

/* ---- writer: rows ---- */

struct colenc_writer *colenc_writer_new(enum colenc_type type)
{
    assert(type >= COLENC_INT && type <= COLENC_BLOB);
    struct colenc_writer *w = xcalloc(1, sizeof(*w));
    w->type = type;
    buf_init(&w->nulls, 0);
    buf_init(&w->dict.bytes, 0);
    return w;
}

void colenc_writer_free(struct colenc_writer *w)
{
    if (!w)
        return;
    buf_release(&w->nulls);
    free(w->ints);
    free(w->reals);
    free(w->idx);
    buf_release(&w->dict.bytes);
    free(w->dict.ents);
    free(w->dict.slots);
    ZSTD_freeCCtx(w->cctx);
    free(w);
}

static void writer_reset(struct colenc_writer *w)
{
    w->rows = 0;
    w->nvals = 0;
    w->broken = 0;
    buf_reset(&w->nulls);
    dict_reset(&w->dict);
}

size_t colenc_writer_rows(const struct colenc_writer *w)
{
    return w->rows;
}

void colenc_writer_set_ref(struct colenc_writer *w, const struct colenc_writer *ref)
{
    w->ref = ref;
}

void colenc_writer_set_window(struct colenc_writer *w, const struct colenc_writer *ref)
{
    w->window = 1;
    w->ref = ref;
}

/* Count one more row; 1 when its value is to be kept, 0 when the row is past
 * COLENC_MAX_ROWS (counted only, so that colenc_finish fails). */
static int row_add(struct colenc_writer *w, int is_null)
{
    size_t r = w->rows++;
    if (r >= COLENC_MAX_ROWS)
        return 0;
    if (r % 8 == 0 && buf_putc(&w->nulls, 0)) {
        w->broken = 1;
        return 0;
    }
    if (is_null)
        ((unsigned char *)w->nulls.data)[r / 8] |= (unsigned char)(1u << (r % 8));
    return 1;
}

static void keep_int(struct colenc_writer *w, int64_t v)
{
    w->ints = grow_array(w->ints, &w->valcap, w->nvals + 1, sizeof(*w->ints));
    w->ints[w->nvals++] = v;
}

static void keep_real(struct colenc_writer *w, double v)
{
    w->reals = grow_array(w->reals, &w->valcap, w->nvals + 1, sizeof(*w->reals));
    w->reals[w->nvals++] = v;
}

static void keep_bytes(struct colenc_writer *w, const void *p, size_t n)
{
    int64_t k = dict_intern(&w->dict, p, n);
    if (k < 0) {
        w->broken = 1;
        return;
    }
    w->idx = grow_array(w->idx, &w->valcap, w->nvals + 1, sizeof(*w->idx));
    w->idx[w->nvals++] = (uint32_t)k;
}

void colenc_put_null(struct colenc_writer *w)
{
    (void)row_add(w, 1);
}

void colenc_put_int(struct colenc_writer *w, int64_t v)
{
    char text[32];
    if (!row_add(w, 0))
        return;
    if (w->type == COLENC_INT) {
        keep_int(w, v);
    } else if (w->type == COLENC_REAL) {
        keep_real(w, (double)v);
    } else {
        int n = snprintf(text, sizeof(text), "%" PRId64, v);
        keep_bytes(w, text, (size_t)n);
    }
}

void colenc_put_real(struct colenc_writer *w, double v)
{
    char text[64];
    if (!row_add(w, 0))
        return;
    if (w->type == COLENC_INT) {
        keep_int(w, real_to_int(v));
    } else if (w->type == COLENC_REAL) {
        keep_real(w, v);
    } else {
        /* SQLite's own REAL to TEXT rendering */
        sqlite3_snprintf((int)sizeof(text), text, "%!.15g", v);
        keep_bytes(w, text, strlen(text));
    }
}

void colenc_put_bytes(struct colenc_writer *w, const void *p, size_t n)
{
    if (!row_add(w, 0))
        return;
    if (w->type == COLENC_INT)
        keep_int(w, bytes_to_int(p, n));
    else if (w->type == COLENC_REAL)
        keep_real(w, bytes_to_real(p, n));
    else
        keep_bytes(w, p, n);
}

void colenc_put_value(struct colenc_writer *w, sqlite3_value *v)
{
    const void *p;
    if (sqlite3_value_type(v) == SQLITE_NULL) {
        colenc_put_null(w);
        return;
    }
    switch (w->type) {
    case COLENC_INT:
        colenc_put_int(w, sqlite3_value_int64(v));
        break;
    case COLENC_REAL:
        colenc_put_real(w, sqlite3_value_double(v));
        break;
    case COLENC_TEXT:
        p = sqlite3_value_text(v); /* before _bytes, as SQLite asks */
        colenc_put_bytes(w, p, p ? (size_t)sqlite3_value_bytes(v) : 0);
        break;
    case COLENC_BLOB:
        /* a zero-length blob gives NULL here: still an empty value */
        p = sqlite3_value_blob(v);
        colenc_put_bytes(w, p, p ? (size_t)sqlite3_value_bytes(v) : 0);
        break;
    }
}

void colenc_put_row(struct colenc_writer *w, const struct colenc_column *c, size_t i)
{
    size_t len = 0;
    const char *p;
    if (colenc_is_null(c, i)) {
        colenc_put_null(w);
        return;
    }
    switch (colenc_col_type(c)) {
    case COLENC_INT:
        colenc_put_int(w, colenc_int(c, i));
        break;
    case COLENC_REAL:
        colenc_put_real(w, colenc_real(c, i));
        break;
    default:
        p = colenc_bytes(c, i, &len);
        colenc_put_bytes(w, p, len);
        break;
    }
}

/* ---- writer: encoding ---- */

/* ---- reals as decimals ('F') ---- */

#define DEC_MAX_EXP 9                 /* digits after the point 'F' can hold */
#define DEC_MAX_MANT 9007199254740992.0 /* 2^53: every integer below is a double */

static const double dec_pow10[DEC_MAX_EXP + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                  1e5, 1e6, 1e7, 1e8, 1e9};

/* The integer m with v == m / 10^e exactly (the division the reader does,
 * correctly rounded: m and 10^e are both exact doubles), in *m; 0 when v
 * is no such number (NaN, infinite, -0.0, too many digits or too large). */
static int dec_mantissa(double v, int e, int64_t *m)
{
    double s = v * dec_pow10[e];
    if (!isfinite(s) || fabs(s) >= DEC_MAX_MANT)
        return 0;
    double r = nearbyint(s);
    if (r == 0 && signbit(v))
        return 0;
    if (r / dec_pow10[e] != v)
        return 0;
    *m = (int64_t)r;
    return 1;
}

/* The fewest digits after the point (0..DEC_MAX_EXP) that spell every value
 * of REAL writer 'w' exactly, or -1 when some value needs more. Each value
 * is tried from the exponent the values before it needed. */
static int dec_exponent(const struct colenc_writer *w)
{
    int e = 0;
    int64_t m;
    for (size_t i = 0; i < w->nvals; i++) {
        while (!dec_mantissa(w->reals[i], e, &m))
            if (++e > DEC_MAX_EXP)
                return -1;
    }
    /* a value spelled at a smaller exponent may not survive a larger one */
    for (size_t i = 0; i < w->nvals; i++)
        if (!dec_mantissa(w->reals[i], e, &m))
            return -1;
    return e;
}

/* Bytes of the 'F' payload at exponent 'e' (every value spells there). */
static uint64_t dec_size(const struct colenc_writer *w, int e)
{
    uint64_t n = 1;
    int64_t m = 0;
    for (size_t i = 0; i < w->nvals; i++) {
        (void)dec_mantissa(w->reals[i], e, &m);
        n += varint_len(zigzag((uint64_t)m));
    }
    return n;
}

static int encode_decimals(const struct colenc_writer *w, struct buf *raw)
{
    int e = dec_exponent(w);
    if (e < 0 || buf_putc(raw, (char)e))
        return -1;
    for (size_t i = 0; i < w->nvals; i++) {
        int64_t m = 0;
        (void)dec_mantissa(w->reals[i], e, &m);
        if (varint_put(raw, zigzag((uint64_t)m)))
            return -1;
    }
    return 0;
}

/* Is every entry of 'd' lowercase hex of even length (ids, hashes)? An
 * empty column is not. */
static int all_hex(const struct dict *d)
{
    if (d->nents == 0)
        return 0;
    for (size_t k = 0; k < d->nents; k++) {
        const unsigned char *p = (const unsigned char *)d->bytes.data + d->ents[k].off;
        size_t n = d->ents[k].len;
        if (n % 2)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
                return 0;
    }
    return 1;
}

/* The first form to try: 'I' for integers; 'F' for reals when every value
 * is a short decimal and that is smaller, else 'R'; for text and blobs 'D'
 * when the dictionary layout is strictly smaller than the plain one, a text
 * column of hex strings as 'Y' / 'X' (the same, entries in binary). */
static char choose_enc(const struct colenc_writer *w)
{
    if (w->type == COLENC_INT)
        return 'I';
    if (w->type == COLENC_REAL) {
        int e = dec_exponent(w);
        return e >= 0 && dec_size(w, e) < 8 * (uint64_t)w->nvals ? 'F' : 'R';
    }
    const struct dict *d = &w->dict;
    int hex = w->type == COLENC_TEXT && all_hex(d);
    uint64_t plain = 0, dict = varint_len(d->nents);
    for (size_t k = 0; k < d->nents; k++) {
        size_t len = hex ? d->ents[k].len / 2 : d->ents[k].len;
        dict += varint_len(len) + len;
    }
    for (size_t i = 0; i < w->nvals; i++) {
        const struct dict_ent *e = &d->ents[w->idx[i]];
        size_t len = hex ? e->len / 2 : e->len;
        plain += varint_len(len) + len;
        dict += varint_len(w->idx[i]);
    }
    if (hex)
        return dict < plain ? 'Y' : 'X';
    char enc = dict < plain ? 'D' : 'S';
    return w->type == COLENC_BLOB ? (char)(enc - 'A' + 'a') : enc;
}

/* 'I' (delta from the value before) or, 'absolute', 'J' (each as is). */
static int encode_ints(const struct colenc_writer *w, int absolute, struct buf *raw)
{
    uint64_t prev = 0;
    for (size_t i = 0; i < w->nvals; i++) {
        uint64_t v = (uint64_t)w->ints[i];
        if (varint_put(raw, zigzag(v - prev)))
            return -1;
        prev = absolute ? 0 : v;
    }
    return 0;
}

static int encode_reals(const struct colenc_writer *w, struct buf *raw)
{
    for (size_t i = 0; i < w->nvals; i++) {
        uint64_t u;
        unsigned char le[8];
        memcpy(&u, &w->reals[i], sizeof(u));
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)(u >> (8 * b));
        if (buf_append(raw, le, sizeof(le)))
            return -1;
    }
    return 0;
}

static int hex_val(unsigned char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Entry 'k' as len(varint) + bytes; 'hex': its hex digits as bytes. */
static int put_entry(const struct dict *d, size_t k, int hex, struct buf *raw)
{
    const struct dict_ent *e = &d->ents[k];
    const unsigned char *p = (const unsigned char *)d->bytes.data + e->off;
    if (!hex)
        return varint_put(raw, e->len) || buf_append(raw, p, e->len) ? -1 : 0;
    if (varint_put(raw, e->len / 2))
        return -1;
    for (size_t i = 0; i < e->len; i += 2)
        if (buf_putc(raw, (char)(hex_val(p[i]) << 4 | hex_val(p[i + 1]))))
            return -1;
    return 0;
}

static int encode_plain(const struct colenc_writer *w, int hex, struct buf *raw)
{
    for (size_t i = 0; i < w->nvals; i++)
        if (put_entry(&w->dict, w->idx[i], hex, raw))
            return -1;
    return 0;
}

static int encode_dict(const struct colenc_writer *w, int hex, struct buf *raw)
{
    if (varint_put(raw, w->dict.nents))
        return -1;
    for (size_t k = 0; k < w->dict.nents; k++)
        if (put_entry(&w->dict, k, hex, raw))
            return -1;
    for (size_t i = 0; i < w->nvals; i++)
        if (varint_put(raw, w->idx[i]))
            return -1;
    return 0;
}

/* Is row 'r' of the writer's kept rows NULL? */
static int writer_null(const struct colenc_writer *w, size_t r)
{
    return (w->nulls.data[r / 8] >> (r % 8)) & 1;
}

/* The row of each of ref's dictionary entries (the last row holding it). */
static size_t *ref_rows(const struct colenc_writer *ref)
{
    size_t *rows = xmalloc((ref->dict.nents ? ref->dict.nents : 1) * sizeof(*rows));
    for (size_t r = 0, v = 0; r < ref->rows; r++)
        if (!writer_null(ref, r))
            rows[ref->idx[v++]] = r;
    return rows;
}

/* 'P' after the null bitmap: per non-NULL row r, 0 and the value (hex as
 * bytes), or zigzag(r - j) + 1 when the value is that of row j of 'ref'. */
static int encode_refs(const struct colenc_writer *w, struct buf *raw)
{
    const struct colenc_writer *ref = w->ref;
    size_t *rows = ref_rows(ref);
    int rc = 0;
    for (size_t r = 0, v = 0; r < w->rows && rc == 0; r++) {
        if (writer_null(w, r))
            continue;
        const struct dict_ent *e = &w->dict.ents[w->idx[v]];
        int64_t k = dict_find(&ref->dict, w->dict.bytes.data + e->off, e->len);
        if (k < 0)
            rc = varint_put(raw, 0) || put_entry(&w->dict, w->idx[v], 1, raw) ? -1 : 0;
        else
            rc = varint_put(raw, zigzag((uint64_t)r - (uint64_t)rows[k]) + 1);
        v++;
    }
    free(rows);
    return rc;
}

/* Can the column point at ref's rows: hex text, as many rows, both kept? */
static int refs_fit(const struct colenc_writer *w, char enc)
{
    return w->ref && (enc == 'Y' || enc == 'X') && w->ref->rows == w->rows &&
           w->rows <= COLENC_MAX_ROWS && w->ref->type != COLENC_INT &&
           w->ref->type != COLENC_REAL && !w->ref->broken;
}

/* May the column be written as 'W': INT, a window asked for, and a
 * reference (if any) of INT with as many rows? */
static int window_fits(const struct colenc_writer *w)
{
    return w->window && w->type == COLENC_INT && w->rows <= COLENC_MAX_ROWS &&
           (!w->ref || (w->ref->type == COLENC_INT && w->ref->rows == w->rows && !w->ref->broken));
}

static int encode_as(const struct colenc_writer *w, char enc, struct buf *raw);

/* ---- 'W': each value as a difference from a value nearby ---- */

#define WINDOW_ROWS 4           /* how far back a base may be */
#define DEXP_LIMIT (1ull << 59) /* a mantissa that still fits dexp's shift */
#define DEXP_MAX (1ull << 63)   /* the largest magnitude a difference has */

/* The difference 'd' (two's complement) as (mantissa, sign, decimal
 * exponent): (m << 5 | sign << 4 | e), m * 10^e = |d|, e < 16. Timestamps
 * of one trace often differ by whole milliseconds. 0 when it does not fit. */
static int dexp(uint64_t d, uint64_t *code)
{
    uint64_t sign = d >> 63, m = sign ? 0 - d : d, e = 0;
    while (m != 0 && m % 10 == 0 && e < 15) {
        m /= 10;
        e++;
    }
    if (m >= DEXP_LIMIT)
        return 0;
    *code = m << 5 | sign << 4 | e;
    return 1;
}

/* Every row's value (0 for NULL rows) of an INT writer. Caller frees. */
static int64_t *row_values(const struct colenc_writer *w)
{
    int64_t *v = xcalloc(w->rows ? w->rows : 1, sizeof(*v));
    for (size_t r = 0, i = 0; r < w->rows; r++)
        if (!writer_null(w, r))
            v[r] = w->ints[i++];
    return v;
}

/* The cheapest (tag, code) for row 'r' of 'own' against its own rows
 * before it and the rows of 'ref' up to it (ref NULL: none); tag = 2k + 1
 * for own row r - k, 2k for ref row r - k, and 1 for no base: the code is
 * then zigzag(value), else dexp of the difference. */
static void window_pick(const struct colenc_writer *w, const int64_t *own, const int64_t *ref,
                        size_t r, uint64_t *tag, uint64_t *code)
{
    size_t best = SIZE_MAX;
    for (size_t k = 0; k <= WINDOW_ROWS && k <= r; k++)
        for (int o = 0; o < 2; o++) {
            uint64_t c;
            if (o ? k > 0 && writer_null(w, r - k) : !ref || writer_null(w->ref, r - k))
                continue;
            if (o && k == 0) /* the value itself, always possible */
                c = zigzag((uint64_t)own[r]);
            else if (!dexp((uint64_t)own[r] - (uint64_t)(o ? own[r - k] : ref[r - k]), &c))
                continue;
            size_t len = varint_len(2 * k + (uint64_t)o) + varint_len(c);
            if (len < best) {
                best = len;
                *tag = 2 * k + (uint64_t)o;
                *code = c;
            }
        }
}

/* 'W' after the null bitmap: per non-NULL row, tag and code (window_pick).
 * -1 when raw's ceiling is hit. */
static int encode_window(const struct colenc_writer *w, struct buf *raw)
{
    int64_t *own = row_values(w), *ref = w->ref ? row_values(w->ref) : NULL;
    int rc = 0;
    for (size_t r = 0; r < w->rows && rc == 0; r++) {
        uint64_t tag = 1, code = 0;
        if (writer_null(w, r))
            continue;
        window_pick(w, own, ref, r, &tag, &code);
        rc = varint_put(raw, tag) || varint_put(raw, code) ? -1 : 0;
    }
    free(own);
    free(ref);
    return rc;
}

/* ---- 'v': blobs that are lists of varints (text refs) ---- */

#define LIST_MAX_VALUE (UINT64_MAX >> 1) /* a list value 'v' can hold */

/* Is the 'n'-byte 'p' a tag byte, a count and that many varints, each in
 * its shortest form and at most LIST_MAX_VALUE, with nothing after? */
static int is_list(const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n, *at;
    uint64_t count, v;
    if (n < 2)
        return 0;
    p++;
    at = p;
    if (varint_get(&p, end, &count) || (size_t)(p - at) != varint_len(count) ||
        count > (size_t)(end - p))
        return 0;
    for (uint64_t k = 0; k < count; k++) {
        at = p;
        if (varint_get(&p, end, &v) || (size_t)(p - at) != varint_len(v) || v > LIST_MAX_VALUE)
            return 0;
    }
    return p == end;
}

/* May BLOB writer 'w' be written as 'v': every value a list? */
static int lists_fit(const struct colenc_writer *w)
{
    if (w->type != COLENC_BLOB || w->dict.nents == 0)
        return 0;
    for (size_t k = 0; k < w->dict.nents; k++) {
        const struct dict_ent *e = &w->dict.ents[k];
        if (!is_list((const unsigned char *)w->dict.bytes.data + e->off, e->len))
            return 0;
    }
    return 1;
}

/* A list value as 'v' stores it, given the largest value before it in
 * the column (*top, updated): above *top, 2 * (v - *top) + 1 (new texts
 * get the next ids, so a byte); else 2 * v, as it was (history resent:
 * the same bytes as the rows before, which zstd finds). */
static uint64_t list_code(uint64_t v, uint64_t *top)
{
    if (v <= *top)
        return v << 1;
    uint64_t z = (v - *top) << 1 | 1;
    *top = v;
    return z;
}

static int encode_lists(const struct colenc_writer *w, struct buf *raw)
{
    uint64_t top = 0, count, v;
    for (size_t i = 0; i < w->nvals; i++) {
        const struct dict_ent *e = &w->dict.ents[w->idx[i]];
        const unsigned char *p = (const unsigned char *)w->dict.bytes.data + e->off,
                            *end = p + e->len;
        /* lists_fit checked every value: a failure here is no list after all */
        if (buf_putc(raw, (char)*p++) || varint_get(&p, end, &count) || varint_put(raw, count))
            return -1;
        for (uint64_t k = 0; k < count; k++)
            if (varint_get(&p, end, &v) || varint_put(raw, list_code(v, &top)))
                return -1;
    }
    return 0;
}

/* The other form of a text/blob encoding (dictionary or plain), or 0. */
static char other_form(char enc)
{
    static const char pairs[] = "DSdsYX";
    const char *p = strchr(pairs, enc);
    if (!enc || !p)
        return 0;
    size_t i = (size_t)(p - pairs);
    return pairs[i ^ 1];
}

/* The encodings worth trying for 'w' into 'out' (at most 3), the one the
 * rest fall back on first: the smaller raw form, the other form of a
 * text/blob column (a dictionary's indexes can compress worse than the
 * values they replace), and 'W' / 'P' where asked for. */
static int candidates(const struct colenc_writer *w, char *out)
{
    int n = 0;
    char enc = choose_enc(w);
    out[n++] = enc;
    if (other_form(enc))
        out[n++] = other_form(enc);
    if (enc == 'I') /* counts and costs: a delta is no smaller than the value */
        out[n++] = 'J';
    if (lists_fit(w))
        out[n++] = 'v';
    if (window_fits(w))
        out[n++] = 'W';
    else if (refs_fit(w, enc))
        out[n++] = 'P';
    return n;
}

static int encode_as(const struct colenc_writer *w, char enc, struct buf *raw)
{
    if (buf_putc(raw, enc) || varint_put(raw, w->rows) ||
        buf_append(raw, w->nulls.data, w->nulls.len))
        return -1;
    switch (enc) {
    case 'I':
    case 'J':
        return encode_ints(w, enc == 'J', raw);
    case 'R':
        return encode_reals(w, raw);
    case 'F':
        return encode_decimals(w, raw);
    case 'v':
        return encode_lists(w, raw);
    case 'P':
        return encode_refs(w, raw);
    case 'W':
        return encode_window(w, raw);
    case 'D':
    case 'd':
    case 'Y':
        return encode_dict(w, enc == 'Y', raw);
    default:
        return encode_plain(w, enc == 'X', raw);
    }
}

/* Compress 'raw' at 'level' into 'frame' (replaced). 0, or -1. */
static int compress_raw(struct colenc_writer *w, const struct buf *raw, int level,
                        struct buf *frame)
{
    buf_reset(frame);
    size_t cap = ZSTD_compressBound(raw->len);
    if (buf_reserve(frame, cap))
        return -1;
    /* the one-shot API writes the content size into the frame header */
    size_t n = ZSTD_compressCCtx(w->cctx, frame->data, cap, raw->data, raw->len, level);
    if (ZSTD_isError(n))
        return -1;
    frame->len = n;
    return 0;
}

#define PROBE_LEVEL 3 /* candidates are compared compressed at this level */

/* Swap two buffers (whole structs: data, length, ceiling). */
static void buf_swap(struct buf *a, struct buf *b)
{
    struct buf t = *a;
    *a = *b;
    *b = t;
}

/* Each candidate encoding is compressed at PROBE_LEVEL (or 'level' when
 * lower) and the smallest kept, its raw form compressed again at 'level'
 * when higher: comparing at zstd 19 took eight times as long for the same
 * choices. The frame goes to 'out' in one append, so on failure 'out' is
 * unchanged; the writer is reset either way. */
int colenc_finish(struct colenc_writer *w, int level, struct buf *out)
{
    struct buf raw, best_raw, frame, best;
    char cand[4], pick = 0;
    int rc = -1, probe = level < PROBE_LEVEL ? level : PROBE_LEVEL;

    buf_init(&raw, COLENC_MAX_RAW);
    buf_init(&best_raw, COLENC_MAX_RAW);
    buf_init(&frame, 0);
    buf_init(&best, 0);
    if (w->broken || w->rows > COLENC_MAX_ROWS)
        goto fail;
    if (!w->cctx && !(w->cctx = ZSTD_createCCtx()))
        goto fail;
    int n = candidates(w, cand);
    for (int i = 0; i < n; i++) {
        buf_reset(&raw);
        if (encode_as(w, cand[i], &raw) != 0)
            continue; /* past the ceiling, or 'W' / 'P' without a base */
        if (compress_raw(w, &raw, n > 1 ? probe : level, &frame) != 0)
            goto fail;
        if (!pick || frame.len < best.len) {
            buf_swap(&best, &frame);
            buf_swap(&best_raw, &raw);
            pick = cand[i];
        }
    }
    if (pick && n > 1 && probe != level && compress_raw(w, &best_raw, level, &best) != 0)
        goto fail;
    if (!pick || buf_append(out, best.data, best.len))
        goto fail;
    rc = 0;
fail:
    buf_release(&best);
    buf_release(&frame);
    buf_release(&best_raw);
    buf_release(&raw);
    writer_reset(w);
    return rc;
}

/* ---- reader ---- */

static size_t rd_left(const struct rd *r)
{
    return (size_t)(r->end - r->p);
}

/* At most VARINT_MAX bytes, none past the end, no bits past 64. */
static int rd_varint(struct rd *r, uint64_t *v)
{
    return varint_get(&r->p, r->end, v);
}

static int row_null(const struct colenc_column *c, size_t i)
{
    return (c->nulls[i / 8] >> (i % 8)) & 1;
}

static int row_wanted(const struct rd *r, size_t i)
{
    return !r->want || ((r->want[i / 8] >> (i % 8)) & 1);
}

/* Past the next len+bytes value; its bytes at *v, *n of them. */
static const char *next_entry(struct rd *r, const unsigned char **v, size_t *n)
{
    uint64_t len;
    if (rd_varint(r, &len))
        return "truncated or overlong length";
    if (len > rd_left(r))
        return "value runs past the end of the column";
    *v = r->p;
    *n = (size_t)len;
    r->p += len;
    return NULL;
}

/* Past a len+bytes value without keeping it. */
static const char *skip_entry(struct rd *r)
{
    const unsigned char *v;
    size_t n;
    return next_entry(r, &v, &n);
}

static int enc_type(unsigned char enc, enum colenc_type *type)
{
    switch (enc) {
    case 'I':
    case 'J':
    case 'W':
        *type = COLENC_INT;
        return 1;
    case 'R':
    case 'F':
        *type = COLENC_REAL;
        return 1;
    case 'D':
    case 'S':
    case 'X':
    case 'Y':
    case 'P':
        *type = COLENC_TEXT;
        return 1;
    case 'd':
    case 's':
    case 'v':
        *type = COLENC_BLOB;
        return 1;
    default:
        return 0;
    }
}

/* Row count and null bitmap; '*nn' gets the number of non-NULL rows. */
static const char *parse_nulls(struct colenc_column *c, struct rd *r, size_t *nn)
{
    uint64_t n;
    size_t nb, nulls = 0;
    if (rd_varint(r, &n))
        return "truncated row count";
    if (n > COLENC_MAX_ROWS)
        return "more rows than COLENC_MAX_ROWS";
    nb = ((size_t)n + 7) / 8;
    if (rd_left(r) < nb)
        return "truncated null bitmap";
    c->rows = (size_t)n;
    c->nulls = xmalloc(nb);
    if (nb)
        memcpy(c->nulls, r->p, nb);
    r->p += nb;
    if (n % 8 && c->nulls[nb - 1] >> (n % 8))
        return "null bitmap has bits past the last row";
    for (size_t i = 0; i < nb; i++)
        nulls += (size_t)__builtin_popcount(c->nulls[i]);
    *nn = c->rows - nulls;
    return NULL;
}

static const char *parse_ints(struct colenc_column *c, struct rd *r, size_t nn, int absolute)
{
    uint64_t prev = 0, z;
    if (nn > rd_left(r)) /* every value takes a byte at least */
        return "truncated integers";
    c->ints = xcalloc(c->rows, sizeof(*c->ints));
    for (size_t i = 0; i < r->upto; i++) {
        if (row_null(c, i))
            continue;
        if (rd_varint(r, &z))
            return "truncated or overlong integer";
        prev = (absolute ? 0 : prev) + unzigzag(z);
        c->ints[i] = to_int64(prev);
    }
    return NULL;
}

static const char *parse_reals(struct colenc_column *c, struct rd *r, size_t nn)
{
    if (nn > rd_left(r) / 8)
        return "truncated reals";
    c->reals = xcalloc(c->rows, sizeof(*c->reals));
    for (size_t i = 0; i < r->upto; i++) {
        uint64_t u = 0;
        if (row_null(c, i))
            continue;
        for (int b = 0; b < 8; b++)
            u |= (uint64_t)r->p[b] << (8 * b);
        r->p += 8;
        memcpy(&c->reals[i], &u, sizeof(u));
    }
    return NULL;
}

static const char *parse_decimals(struct colenc_column *c, struct rd *r, size_t nn)
{
    uint64_t z;
    if (rd_left(r) < 1 || nn > rd_left(r) - 1) /* the exponent, then a byte a value */
        return "truncated decimals";
    unsigned e = *r->p++;
    if (e > DEC_MAX_EXP)
        return "bad decimal exponent";
    c->reals = xcalloc(c->rows, sizeof(*c->reals));
    for (size_t i = 0; i < r->upto; i++) {
        if (row_null(c, i))
            continue;
        if (rd_varint(r, &z))
            return "truncated or overlong decimal";
        int64_t m = to_int64(unzigzag(z));
        if (m <= -(int64_t)DEC_MAX_MANT || m >= (int64_t)DEC_MAX_MANT)
            return "decimal out of range";
        c->reals[i] = (double)m / dec_pow10[e];
    }
    return NULL;
}

/* The 'v' column's lists (kept rows: rebuilt as they were written, into
 * the arena; the others read through, for the largest value so far). */
static const char *parse_lists(struct colenc_column *c, struct rd *r, size_t nn)
{
    uint64_t top = 0, count, z, v;
    if (nn > rd_left(r) / 2) /* a tag and a count at least */
        return "truncated lists";
    c->ents = xcalloc(nn ? nn : 1, sizeof(*c->ents));
    c->row_ent = xcalloc(c->rows, sizeof(*c->row_ent));
    for (size_t i = 0; i < r->upto; i++) {
        if (row_null(c, i))
            continue;
        int keep = row_wanted(r, i);
        struct col_ent *e = &c->ents[c->nents];
        if (rd_left(r) < 1)
            return "truncated list";
        unsigned char tag = *r->p++;
        if (rd_varint(r, &count) || count > rd_left(r))
            return "truncated or overlong list count";
        e->off = c->arena.len;
        if (keep && (buf_putc(&c->arena, (char)tag) || varint_put(&c->arena, count)))
            return "column too large";
        for (uint64_t k = 0; k < count; k++) {
            if (rd_varint(r, &z))
                return "truncated or overlong list value";
            if (!(z & 1)) {
                v = z >> 1;
            } else if ((z >> 1) > LIST_MAX_VALUE - top) {
                return "list value out of range";
            } else {
                v = top + (z >> 1);
                top = v;
            }
            if (keep && varint_put(&c->arena, v))
                return "column too large";
        }
        if (!keep)
            continue;
        e->len = c->arena.len - e->off;
        if (buf_putc(&c->arena, '\0'))
            return "column too large";
        c->row_ent[i] = (uint32_t)c->nents++;
    }
    return NULL;
}

/* One entry into the arena; 'hex': stored as bytes, read back as hex. */
static const char *parse_entry(struct colenc_column *c, struct rd *r, int hex, struct col_ent *e)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t n;
    if (rd_varint(r, &n))
        return "truncated or overlong length";
    if (n > rd_left(r))
        return "value runs past the end of the column";
    e->off = c->arena.len;
    e->len = hex ? 2 * (size_t)n : (size_t)n;
    int bad = 0;
    if (!hex) {
        bad = buf_append(&c->arena, r->p, e->len);
    } else if (!(bad = buf_reserve(&c->arena, e->len + 1))) {
        char *out = c->arena.data + c->arena.len;
        for (size_t i = 0; i < n; i++) {
            out[2 * i] = digits[r->p[i] >> 4];
            out[2 * i + 1] = digits[r->p[i] & 15];
        }
        c->arena.len += e->len;
    }
    if (bad || buf_putc(&c->arena, '\0'))
        return "column too large";
    r->p += n;
    return NULL;
}

static const char *parse_plain(struct colenc_column *c, struct rd *r, size_t nn, int hex)
{
    const char *why;
    if (nn > rd_left(r))
        return "truncated values";
    c->ents = xcalloc(nn, sizeof(*c->ents));
    c->row_ent = xcalloc(c->rows, sizeof(*c->row_ent));
    for (size_t i = 0; i < r->upto; i++) {
        if (row_null(c, i))
            continue;
        if (!row_wanted(r, i)) {
            if ((why = skip_entry(r)) != NULL)
                return why;
            continue;
        }
        if ((why = parse_entry(c, r, hex, &c->ents[c->nents])) != NULL)
            return why;
        c->row_ent[i] = (uint32_t)c->nents++;
    }
    return NULL;
}

/* The dictionary's entries that the wanted rows use, into the arena; the
 * others stay empty. 'at' holds where each entry starts in the column. */
static const char *keep_used(struct colenc_column *c, struct rd *r, const unsigned char *const *at,
                             int hex)
{
    unsigned char *used = xcalloc(c->nents ? c->nents : 1, 1);
    const char *why = NULL;
    for (size_t i = 0; i < r->upto; i++)
        if (!row_null(c, i) && row_wanted(r, i))
            used[c->row_ent[i]] = 1;
    for (size_t k = 0; k < c->nents && !why; k++)
        if (used[k]) {
            struct rd e = {at[k], r->end, NULL, 0};
            why = parse_entry(c, &e, hex, &c->ents[k]);
        }
    free(used);
    return why;
}

/* The writer never keeps an entry no row uses, so ndict <= nn. With a
 * selection, the entries are copied after the indexes say which are used. */
static const char *parse_dict(struct colenc_column *c, struct rd *r, size_t nn, int hex)
{
    uint64_t ndict, k;
    const char *why = NULL;
    const unsigned char **at = NULL;
    if (rd_varint(r, &ndict))
        return "truncated dictionary size";
    if (ndict > nn || ndict > rd_left(r))
        return "dictionary larger than its column";
    c->ents = xcalloc((size_t)ndict, sizeof(*c->ents));
    if (r->want)
        at = xcalloc((size_t)ndict ? (size_t)ndict : 1, sizeof(*at));
    for (; c->nents < ndict && !why; c->nents++) {
        if (at)
            at[c->nents] = r->p;
        why = at ? skip_entry(r) : parse_entry(c, r, hex, &c->ents[c->nents]);
    }
    if (!why && nn > rd_left(r))
        why = "truncated dictionary indexes";
    c->row_ent = why ? NULL : xcalloc(c->rows, sizeof(*c->row_ent));
    for (size_t i = 0; i < r->upto && !why; i++) {
        if (row_null(c, i))
            continue;
        if (rd_varint(r, &k))
            why = "truncated or overlong dictionary index";
        else if (k >= ndict)
            why = "dictionary index out of range";
        else
            c->row_ent[i] = (uint32_t)k;
    }
    if (!why && at)
        why = keep_used(c, r, at, hex);
    free(at);
    return why;
}

/* 'W': each value is a base (0, a row before it, or a row of 'ref' up to
 * it) plus a difference in decimal-exponent form. */
static const char *parse_window(struct colenc_column *c, struct rd *r, size_t nn,
                                const struct colenc_column *ref)
{
    uint64_t tag, code;
    if (nn > rd_left(r) / 2) /* a tag and a code per value, a byte each at least */
        return "truncated differences";
    c->ints = xcalloc(c->rows ? c->rows : 1, sizeof(*c->ints));
    for (size_t i = 0; i < r->upto; i++) {
        if (row_null(c, i))
            continue;
        if (rd_varint(r, &tag) || rd_varint(r, &code))
            return "truncated or overlong difference";
        uint64_t k = tag >> 1, m = code >> 5, e = code & 15, base = 0;
        int own = (int)(tag & 1);
        if (tag == 1) { /* no base: the value */
            c->ints[i] = to_int64(unzigzag(code));
            continue;
        }
        if (k > i)
            return "a difference from a row before the first";
        if (own) {
            if (row_null(c, i - (size_t)k))
                return "a difference from a row that has no value";
            base = (uint64_t)c->ints[i - (size_t)k];
        } else {
            if (!ref || ref->type != COLENC_INT || ref->rows != c->rows)
                return "a column of differences without the column it refers to";
            if (row_null(ref, i - (size_t)k))
                return "a difference from a row that has no value";
            base = (uint64_t)ref->ints[i - (size_t)k];
        }
        for (; e > 0; e--) {
            if (m > DEXP_MAX / 10)
                return "a difference out of range";
            m *= 10;
        }
        if (m > DEXP_MAX)
            return "a difference out of range";
        c->ints[i] = to_int64(base + ((code >> 4) & 1 ? 0 - m : m));
    }
    return NULL;
}

/* 'P': each value is a literal (hex as bytes) or row j of 'ref', copied. */
static const char *parse_refs(struct colenc_column *c, struct rd *r, size_t nn,
                              const struct colenc_column *ref)
{
    const char *why;
    uint64_t z;
    if (!ref || ref->rows != c->rows || (ref->type != COLENC_TEXT && ref->type != COLENC_BLOB))
        return "a column of references without the column it refers to";
    if (nn > rd_left(r))
        return "truncated references";
    c->ents = xcalloc(nn ? nn : 1, sizeof(*c->ents));
    c->row_ent = xcalloc(c->rows ? c->rows : 1, sizeof(*c->row_ent));
    for (size_t i = 0; i < r->upto; i++) {
        if (row_null(c, i))
            continue;
        struct col_ent *e = &c->ents[c->nents];
        if (rd_varint(r, &z))
            return "truncated or overlong reference";
        if (!row_wanted(r, i)) {
            if (z == 0 && (why = skip_entry(r)) != NULL)
                return why;
            continue;
        }
        if (z == 0) {
            if ((why = parse_entry(c, r, 1, e)) != NULL)
                return why;
        } else {
            uint64_t j = (uint64_t)i - unzigzag(z - 1);
            if (j >= c->rows || row_null(ref, (size_t)j))
                return "reference to a row that has no value";
            size_t len = 0;
            const char *p = colenc_bytes(ref, (size_t)j, &len);
            e->off = c->arena.len;
            e->len = len;
            if (buf_append(&c->arena, p, len) || buf_putc(&c->arena, '\0'))
                return "column too large";
        }
        c->row_ent[i] = (uint32_t)c->nents++;
    }
    return NULL;
}

/* Rows not wanted read as NULL from here on (no padding bit is set). */
static void drop_unwanted(struct colenc_column *c, const unsigned char *want)
{
    for (size_t b = 0; b < (c->rows + 7) / 8; b++)
        c->nulls[b] |= (unsigned char)~want[b];
    if (c->rows % 8)
        c->nulls[c->rows / 8] &= (unsigned char)((1u << (c->rows % 8)) - 1);
}

/* Rows to read: up to the last wanted one. */
static size_t rows_to_read(size_t rows, const unsigned char *want)
{
    if (!want)
        return rows;
    size_t b = (rows + 7) / 8;
    while (b > 0 && !want[b - 1])
        b--;
    size_t n = b * 8 < rows ? b * 8 : rows;
    while (n > 0 && !((want[(n - 1) / 8] >> ((n - 1) % 8)) & 1))
        n--;
    return n;
}

/* Fill 'c' from the decompressed column behind 'r' (its 'want' set); NULL,
 * or why the bytes are bad. With a selection, the rows past the last one
 * wanted are neither read nor checked. */
static const char *parse(struct colenc_column *c, struct rd *r, const struct colenc_column *ref,
                         size_t want_rows)
{
    const char *why;
    size_t nn;
    unsigned char enc;

    if (rd_left(r) == 0)
        return "empty column";
    enc = *r->p++;
    if (!enc_type(enc, &c->type))
        return "unknown column encoding";
    if ((why = parse_nulls(c, r, &nn)) != NULL)
        return why;
    if (r->want && c->rows != want_rows)
        return "wrong row count";
    r->upto = rows_to_read(c->rows, r->want);
    if (enc == 'I' || enc == 'J')
        why = parse_ints(c, r, nn, enc == 'J');
    else if (enc == 'R')
        why = parse_reals(c, r, nn);
    else if (enc == 'F')
        why = parse_decimals(c, r, nn);
    else if (enc == 'v')
        why = parse_lists(c, r, nn);
    else if (enc == 'P')
        why = parse_refs(c, r, nn, ref);
    else if (enc == 'W')
        why = parse_window(c, r, nn, ref);
    else if (enc == 'D' || enc == 'd' || enc == 'Y')
        why = parse_dict(c, r, nn, enc == 'Y');
    else
        why = parse_plain(c, r, nn, enc == 'X');
    if (why)
        return why;
    if (r->upto == c->rows && r->p != r->end)
        return "bytes after the last value";
    if (r->want)
        drop_unwanted(c, r->want);
    return NULL;
}

/* The content size of the one zstd frame that is all of 'blob'. */
static const char *frame_size(const void *blob, size_t len, size_t *size)
{
    unsigned long long n = ZSTD_getFrameContentSize(blob, len);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN)
        return "not a zstd frame with its content size";
    if (n > COLENC_MAX_RAW)
        return "column larger than 64 MiB";
    if (ZSTD_findFrameCompressedSize(blob, len) != len)
        return "truncated zstd frame or bytes after it";
    *size = (size_t)n;
    return NULL;
}

struct colenc_dctx {
    ZSTD_DCtx *z;
};

struct colenc_dctx *colenc_dctx_new(void)
{
    struct colenc_dctx *d = xcalloc(1, sizeof(*d));
    if (!(d->z = ZSTD_createDCtx())) {
        free(d);
        return NULL;
    }
    return d;
}

void colenc_dctx_free(struct colenc_dctx *d)
{
    if (!d)
        return;
    ZSTD_freeDCtx(d->z);
    free(d);
}

/* The one zstd frame of 'blob' into '*raw' (caller frees, also on error),
 * with 'dctx' or, when it is NULL, a context made for the call. */
static const char *decompress(struct colenc_dctx *dctx, const void *blob, size_t len,
                              unsigned char **raw, size_t *rawlen)
{
    size_t size = 0;
    const char *why = frame_size(blob, len, &size);
    if (why)
        return why;
    *raw = xmalloc(size ? size : 1);
    size_t got = dctx ? ZSTD_decompressDCtx(dctx->z, *raw, size, blob, len)
                      : ZSTD_decompress(*raw, size, blob, len);
    if (ZSTD_isError(got) || got != size)
        return "corrupt zstd frame";
    *rawlen = got;
    return NULL;
}

int colenc_decode(const void *blob, size_t len, struct colenc_column **out, char *err,
                  size_t errlen)
{
    return colenc_decode_ref(blob, len, NULL, out, err, errlen);
}

int colenc_decode_ref(const void *blob, size_t len, const struct colenc_column *ref,
                      struct colenc_column **out, char *err, size_t errlen)
{
    return colenc_decode_rows(NULL, blob, len, ref, NULL, 0, out, err, errlen);
}

int colenc_decode_rows(struct colenc_dctx *dctx, const void *blob, size_t len,
                       const struct colenc_column *ref, const unsigned char *want, size_t want_rows,
                       struct colenc_column **out, char *err, size_t errlen)
{
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    struct colenc_column *c = NULL;
    const char *why;

    *out = NULL;
    if ((why = decompress(dctx, blob, len, &raw, &rawlen)) != NULL)
        goto fail;
    c = xcalloc(1, sizeof(*c));
    buf_init(&c->arena, 0);
    struct rd r = {raw, raw + rawlen, want, 0};
    if ((why = parse(c, &r, ref, want_rows)) != NULL)
        goto fail;
    free(raw);
    *out = c;
    return 0;
fail:
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
    colenc_column_free(c);
    free(raw);
    return -1;
}

/* ---- matching one value without decoding ---- */

/* What the entries of a column are compared with: the value, or for a hex
 * column the bytes it spells ('ok' = 0: no entry can equal it). */
struct needle {
    unsigned char *bytes; /* owned, for a hex column */
    const unsigned char *p;
    size_t n;
    int ok;
};

static int hex_digit(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void needle_init(struct needle *k, const void *value, size_t n, int hex)
{
    const unsigned char *v = value;
    *k = (struct needle){NULL, v, n, 1};
    if (!hex)
        return;
    k->ok = n % 2 == 0;
    k->bytes = xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2 && k->ok; i++) {
        int hi = hex_digit(v[2 * i]), lo = hex_digit(v[2 * i + 1]);
        k->ok = hi >= 0 && lo >= 0;
        k->bytes[i] = k->ok ? (unsigned char)(hi << 4 | lo) : 0;
    }
    k->p = k->bytes;
    k->n = n / 2;
}

/* The next len+bytes value; *eq: is it the needle? */
static const char *match_entry(struct rd *r, const struct needle *k, int *eq)
{
    const unsigned char *v;
    size_t n;
    const char *why = next_entry(r, &v, &n);
    *eq = !why && k->ok && n == k->n && memcmp(v, k->p, n) == 0;
    return why;
}

static void set_row(unsigned char *rows, size_t i, size_t *matched)
{
    rows[i / 8] |= (unsigned char)(1u << (i % 8));
    (*matched)++;
}

static const char *match_plain(const struct colenc_column *c, struct rd *r, const struct needle *k,
                               unsigned char *rows, size_t *matched)
{
    const char *why;
    int eq;
    for (size_t i = 0; i < c->rows; i++) {
        if (row_null(c, i))
            continue;
        if ((why = match_entry(r, k, &eq)) != NULL)
            return why;
        if (eq)
            set_row(rows, i, matched);
    }
    return NULL;
}

static const char *match_dict(const struct colenc_column *c, struct rd *r, size_t nn,
                              const struct needle *k, unsigned char *rows, size_t *matched)
{
    uint64_t ndict, idx, hit = UINT64_MAX;
    const char *why;
    int eq;
    if (rd_varint(r, &ndict))
        return "truncated dictionary size";
    if (ndict > nn || ndict > rd_left(r))
        return "dictionary larger than its column";
    for (uint64_t e = 0; e < ndict; e++) {
        if ((why = match_entry(r, k, &eq)) != NULL)
            return why;
        if (eq && hit == UINT64_MAX)
            hit = e;
    }
    for (size_t i = 0; i < c->rows; i++) {
        if (row_null(c, i))
            continue;
        if (rd_varint(r, &idx))
            return "truncated or overlong dictionary index";
        if (idx >= ndict)
            return "dictionary index out of range";
        if (idx == hit)
            set_row(rows, i, matched);
    }
    return NULL;
}

int colenc_match(struct colenc_dctx *dctx, const void *blob, size_t len, const void *value,
                 size_t n, unsigned char *rows, size_t nrows, size_t *matched, char *err,
                 size_t errlen)
{
    unsigned char *raw = NULL;
    size_t rawlen = 0, nn = 0;
    struct colenc_column c = {0};
    struct needle k = {0};
    const char *why;
    int rc = -1;
    *matched = 0;
    if ((why = decompress(dctx, blob, len, &raw, &rawlen)) != NULL)
        goto done;
    struct rd r = {raw, raw + rawlen, NULL, 0};
    unsigned char enc = rawlen ? *r.p++ : 0;
    if (!strchr("DSXYds", enc) || !enc) { /* numbers, references: decoded instead */
        rc = 1;
        goto done;
    }
    c.type = enc == 'd' || enc == 's' ? COLENC_BLOB : COLENC_TEXT;
    if ((why = parse_nulls(&c, &r, &nn)) != NULL)
        goto done;
    if (c.rows != nrows) {
        why = "wrong row count";
        goto done;
    }
    needle_init(&k, value, n, enc == 'X' || enc == 'Y');
    memset(rows, 0, (nrows + 7) / 8);
    why = strchr("DYd", enc) ? match_dict(&c, &r, nn, &k, rows, matched)
                             : match_plain(&c, &r, &k, rows, matched);
    if (!why && r.p != r.end)
        why = "bytes after the last value";
    rc = why ? -1 : 0;
done:
    if (rc < 0 && err && errlen)
        snprintf(err, errlen, "%s", why);
    free(k.bytes);
    free(c.nulls);
    free(raw);
    return rc;
}

void colenc_column_free(struct colenc_column *c)
{
    if (!c)
        return;
    free(c->nulls);
    free(c->ints);
    free(c->reals);
    free(c->row_ent);
    free(c->ents);
    buf_release(&c->arena);
    free(c);
}

/* ---- accessors ---- */

size_t colenc_rows(const struct colenc_column *c)
{
    return c->rows;
}

enum colenc_type colenc_col_type(const struct colenc_column *c)
{
    return c->type;
}

int colenc_is_null(const struct colenc_column *c, size_t i)
{
    assert(i < c->rows);
    return row_null(c, i);
}

/* The typed accessors assert the column's type; the NULL checks keep a
 * mismatch harmless when asserts are compiled out. */
int64_t colenc_int(const struct colenc_column *c, size_t i)
{
    assert(i < c->rows);
    assert(c->type == COLENC_INT);
    return c->ints ? c->ints[i] : 0;
}

double colenc_real(const struct colenc_column *c, size_t i)
{
    assert(i < c->rows);
    assert(c->type == COLENC_REAL);
    return c->reals ? c->reals[i] : 0.0;
}

const char *colenc_bytes(const struct colenc_column *c, size_t i, size_t *len)
{
    assert(i < c->rows);
    assert(c->type == COLENC_TEXT || c->type == COLENC_BLOB);
    if (len)
        *len = 0;
    if (!c->row_ent || row_null(c, i))
        return NULL;
    const struct col_ent *e = &c->ents[c->row_ent[i]];
    if (len)
        *len = e->len;
    return c->arena.data + e->off;
}

void colenc_result(const struct colenc_column *c, size_t i, sqlite3_context *ctx)
{
    const char *p;
    size_t len;

    assert(i < c->rows);
    if (row_null(c, i)) {
        sqlite3_result_null(ctx);
        return;
    }
    switch (c->type) {
    case COLENC_INT:
        sqlite3_result_int64(ctx, c->ints[i]);
        break;
    case COLENC_REAL:
        sqlite3_result_double(ctx, c->reals[i]);
        break;
    case COLENC_TEXT:
        p = colenc_bytes(c, i, &len);
        sqlite3_result_text64(ctx, p, len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case COLENC_BLOB:
        p = colenc_bytes(c, i, &len);
        sqlite3_result_blob64(ctx, p, len, SQLITE_TRANSIENT);
        break;
    }
}
