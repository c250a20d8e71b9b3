/*
 * native: the native span API decoder and writer (see native.h).
 *
 * Speed matters here: the ingest target needs >= 150k spans/s decoded on one
 * core, and cJSON alone manages about 65k/s on a 2 KB span (one malloc per
 * value and key). So a body is read by a small validating scanner that fills
 * a flat node array (grown by doubling, reused from span to span, nothing
 * allocated per token) whose nodes point back into the body. Values that are
 * already compact and canonical (messages, attributes, params, tags) are
 * copied from the body byte for byte; a value that needs rewriting (OpenAI
 * tool calls, content parts) goes through cJSON (jsonx_parse) and
 * native_messages_json. Both paths refuse nesting deeper than
 * JSONX_MAX_DEPTH, so every recursion here is bounded on 100 KiB stacks.
 */
#include "collector/native.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/err.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/vset.h"
#include "core/xmem.h"

#define MAX_NUSD 1000000000000000000LL /* 1e9 USD: a larger cost is a typo */
#define KEY_TMP 128                    /* escaped keys longer than this match no field */

/* ---- appending to internal buffers ------------------------------------- */

/* Internal buffers have no ceiling (their size is bounded by the body they
 * are built from), so these appends cannot fail. */
static void put(struct buf *b, const void *p, size_t n)
{
    int rc = buf_append(b, p, n);
    assert(rc == BUF_OK);
    (void)rc;
}

static void put_s(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* 's' as a JSON string literal. */
static void put_q(struct buf *b, const char *s)
{
    int rc = buf_json_str(b, s);
    assert(rc == BUF_OK);
    (void)rc;
}

/* Compact JSON of a cJSON value. */
static void put_cjson(struct buf *b, const cJSON *v)
{
    char *t = jsonx_print(v);
    put_s(b, t);
    free(t);
}

/* ---- the scanner: a validating JSON reader into a flat node array ------ */

enum jtype { JT_NULL, JT_FALSE, JT_TRUE, JT_NUM, JT_STR, JT_ARR, JT_OBJ };
enum { JF_COMPACT = 1, JF_ESC = 2, JF_KEY_ESC = 4, JF_INT = 8 };

struct jnode {
    uint32_t off, len;   /* the value's text: text[off, off + len) */
    uint32_t koff, klen; /* a member's key, between its quotes, still escaped */
    uint32_t next;       /* next sibling; 0 = none (node 0 is always a root) */
    uint32_t child;      /* first member or element; 0 = none */
    uint8_t type, flags; /* flags: JF_COMPACT = no whitespace inside the text */
};

struct jdoc {
    const char *text; /* borrowed; offsets are relative to it */
    size_t end;       /* parse limit */
    struct jnode *n;  /* owned; reused by every parse */
    uint32_t nn, cap;
    uint32_t ws;   /* whitespace runs skipped so far */
    size_t errpos; /* where the last parse failed, and why */
    const char *errwhat;
};

static int jd_fail(struct jdoc *d, size_t pos, const char *what)
{
    d->errpos = pos;
    d->errwhat = what;
    return -1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline void skip_ws(struct jdoc *d, size_t *p)
{
    size_t i = *p;
    if (i < d->end && !is_ws(d->text[i]))
        return; /* compact JSON: the usual case */
    while (i < d->end && is_ws(d->text[i]))
        i++;
    if (i != *p) {
        d->ws++;
        *p = i;
    }
}

static uint32_t jd_new(struct jdoc *d, uint8_t type, size_t off)
{
    if (d->nn == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->n = xrealloc(d->n, d->cap * sizeof(*d->n));
    }
    struct jnode *n = &d->n[d->nn];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->flags = JF_COMPACT;
    n->off = (uint32_t)off;
    return d->nn++;
}

static int hex4(const char *t)
{
    for (int i = 0; i < 4; i++)
        if (!isxdigit((unsigned char)t[i]))
            return 0;
    return 1;
}

/* Index of the first '"', '\\' or control character in t[i, end), or a
 * smaller index near 'end' where the caller goes on byte by byte. SSE2 (the
 * x86-64 baseline) looks at sixteen bytes per step; elsewhere a has-zero-byte
 * test looks at eight (it can only err on bytes after a true match). */
static size_t skip_plain(const unsigned char *t, size_t i, size_t end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1f);
    while (i + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v));
        int mask = _mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
        i += 16;
    }
#else
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    while (i + 8 <= end) {
        uint64_t v;
        memcpy(&v, t + i, 8);
        uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
        if ((((q - ones) & ~q) | ((bs - ones) & ~bs) | ((v - ones * 0x20) & ~v)) & high)
            return i; /* the byte loop finds which one */
        i += 8;
    }
#endif
    return i;
}

/* The escape at t[*i] (a backslash): validate it and step over it. */
static int scan_escape(struct jdoc *d, size_t *i)
{
    const char *t = d->text;
    if (*i + 1 >= d->end)
        return jd_fail(d, *i, "unterminated string");
    char e = t[*i + 1];
    if (e == 'u') {
        if (*i + 6 > d->end || !hex4(t + *i + 2))
            return jd_fail(d, *i, "bad \\u escape");
        *i += 6;
    } else if (e && strchr("\"\\/bfnrt", e)) {
        *i += 2;
    } else {
        return jd_fail(d, *i, "bad escape");
    }
    return 0;
}

/* A string literal at *p (on its opening quote); sets JF_ESC in '*flags'
 * when it holds escapes. Strings are most of a body: see skip_plain. */
static int scan_string(struct jdoc *d, size_t *p, uint8_t *flags)
{
    const unsigned char *t = (const unsigned char *)d->text;
    size_t i = *p + 1, end = d->end;
    for (;;) {
        i = skip_plain(t, i, end);
        while (i < end && t[i] >= 0x20 && t[i] != '"' && t[i] != '\\')
            i++;
        if (i >= end)
            return jd_fail(d, i, "unterminated string");
        if (t[i] == '"')
            break;
        if (t[i] < 0x20)
            return jd_fail(d, i, "control character in a string");
        *flags |= JF_ESC;
        if (scan_escape(d, &i))
            return -1;
    }
    *p = i + 1;
    return 0;
}

static size_t digits_at(const struct jdoc *d, size_t i)
{
    while (i < d->end && d->text[i] >= '0' && d->text[i] <= '9')
        i++;
    return i;
}

static int scan_number(struct jdoc *d, size_t *p, uint8_t *flags)
{
    size_t i = *p, j;
    int integral = 1;
    if (d->text[i] == '-')
        i++;
    if ((j = digits_at(d, i)) == i || (d->text[i] == '0' && j > i + 1))
        return jd_fail(d, i, "bad number");
    i = j;
    if (i < d->end && d->text[i] == '.') {
        integral = 0;
        if ((j = digits_at(d, i + 1)) == i + 1)
            return jd_fail(d, i, "bad number");
        i = j;
    }
    if (i < d->end && (d->text[i] == 'e' || d->text[i] == 'E')) {
        integral = 0;
        i++;
        if (i < d->end && (d->text[i] == '+' || d->text[i] == '-'))
            i++;
        if ((j = digits_at(d, i)) == i)
            return jd_fail(d, i, "bad number");
        i = j;
    }
    if (integral)
        *flags |= JF_INT;
    *p = i;
    return 0;
}

static int parse_value(struct jdoc *d, size_t *p, int depth, uint32_t *out);

/* Link 'kid' as the last child of 'parent' ('*last' is the previous one). */
static void jd_link(struct jdoc *d, uint32_t parent, uint32_t *last, uint32_t kid)
{
    if (*last)
        d->n[*last].next = kid;
    else
        d->n[parent].child = kid;
    *last = kid;
}

/* After an element or member: ',' (returns 1), the closing 'close' (0). */
static int list_sep(struct jdoc *d, size_t *p, char close)
{
    skip_ws(d, p);
    if (*p < d->end && d->text[*p] == ',') {
        (*p)++;
        return 1;
    }
    if (*p < d->end && d->text[*p] == close) {
        (*p)++;
        return 0;
    }
    return jd_fail(d, *p, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

static int parse_member(struct jdoc *d, size_t *p, int depth, uint32_t *kid)
{
    skip_ws(d, p);
    if (*p >= d->end || d->text[*p] != '"')
        return jd_fail(d, *p, "expected a member name");
    size_t k = *p;
    uint8_t kf = 0;
    if (scan_string(d, p, &kf))
        return -1;
    size_t kend = *p; /* just after the closing quote */
    skip_ws(d, p);
    if (*p >= d->end || d->text[*p] != ':')
        return jd_fail(d, *p, "expected ':'");
    (*p)++;
    if (parse_value(d, p, depth, kid))
        return -1;
    struct jnode *n = &d->n[*kid];
    n->koff = (uint32_t)k + 1;
    n->klen = (uint32_t)(kend - k - 2);
    if (kf & JF_ESC)
        n->flags |= JF_KEY_ESC;
    return 0;
}

static int parse_container(struct jdoc *d, size_t *p, int depth, uint32_t *out)
{
    int obj = d->text[*p] == '{';
    char close = obj ? '}' : ']';
    if (depth > JSONX_MAX_DEPTH)
        return jd_fail(d, *p, "nested deeper than the limit");
    uint32_t me = jd_new(d, obj ? JT_OBJ : JT_ARR, *p), last = 0, ws0 = d->ws;
    size_t start = *p;
    (*p)++;
    skip_ws(d, p);
    if (*p < d->end && d->text[*p] == close) {
        (*p)++;
    } else {
        int more;
        do {
            uint32_t kid;
            if (obj ? parse_member(d, p, depth + 1, &kid) : parse_value(d, p, depth + 1, &kid))
                return -1;
            jd_link(d, me, &last, kid);
            if ((more = list_sep(d, p, close)) < 0)
                return -1;
        } while (more);
    }
    d->n[me].len = (uint32_t)(*p - start);
    if (d->ws != ws0)
        d->n[me].flags &= (uint8_t)~JF_COMPACT;
    *out = me;
    return 0;
}

static int parse_literal(struct jdoc *d, size_t *p, uint32_t *out)
{
    static const struct {
        const char *word;
        uint8_t type;
    } lits[] = {{"true", JT_TRUE}, {"false", JT_FALSE}, {"null", JT_NULL}};
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        size_t n = strlen(lits[i].word);
        if (d->end - *p >= n && memcmp(d->text + *p, lits[i].word, n) == 0) {
            *out = jd_new(d, lits[i].type, *p);
            d->n[*out].len = (uint32_t)n;
            *p += n;
            return 0;
        }
    }
    return jd_fail(d, *p, "unexpected character");
}

static int parse_value(struct jdoc *d, size_t *p, int depth, uint32_t *out)
{
    skip_ws(d, p);
    if (*p >= d->end)
        return jd_fail(d, *p, "unexpected end of data");
    char c = d->text[*p];
    if (c == '{' || c == '[')
        return parse_container(d, p, depth, out);
    if (c != '"' && c != '-' && (c < '0' || c > '9'))
        return parse_literal(d, p, out);
    size_t start = *p;
    uint8_t flags = JF_COMPACT;
    if (c == '"' ? scan_string(d, p, &flags) : scan_number(d, p, &flags))
        return -1;
    *out = jd_new(d, c == '"' ? JT_STR : JT_NUM, start);
    d->n[*out].len = (uint32_t)(*p - start);
    d->n[*out].flags = flags;
    return 0;
}

/* Parse one value from text[start, end); node 0 is its root. '*stop' is where
 * the value and the whitespace after it end. Returns 0, or -1 with errpos
 * and errwhat set. */
static int jd_parse(struct jdoc *d, const char *text, size_t start, size_t end, size_t *stop)
{
    d->text = text;
    d->end = end;
    d->nn = 0;
    d->ws = 0;
    size_t p = start;
    uint32_t root;
    if (parse_value(d, &p, 1, &root))
        return -1;
    skip_ws(d, &p);
    *stop = p;
    return 0;
}

/* ---- reading nodes ------------------------------------------------------ */

static int utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode \uXXXX at t (after the 'u'); pairs surrogates when 't' continues
 * with a low one ('*used' gets the extra characters consumed). Lone
 * surrogates and NUL become U+FFFD (a C string cannot hold NUL). */
static uint32_t decode_u(const char *t, size_t avail, size_t *used)
{
    uint32_t cp = (uint32_t)strtoul((char[5]){t[0], t[1], t[2], t[3], 0}, NULL, 16);
    *used = 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && avail >= 10 && t[4] == '\\' && t[5] == 'u') {
        uint32_t lo = (uint32_t)strtoul((char[5]){t[6], t[7], t[8], t[9], 0}, NULL, 16);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *used = 10;
            return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFD;
    return cp;
}

/* Unescape the (scanner-validated) string text t[0, n) into 'o' (room for
 * n + 1: the result is never longer). Returns the length. */
static size_t unescape(const char *t, size_t n, char *o)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] != '\\') {
            o[w++] = t[i];
            continue;
        }
        char e = t[++i];
        const char *map = strchr("b\bf\fn\nr\rt\t", e);
        if (e == 'u') {
            size_t used;
            w += (size_t)utf8_put(decode_u(t + i + 1, n - i - 1, &used), o + w);
            i += used;
        } else {
            o[w++] = map ? map[1] : e;
        }
    }
    o[w] = '\0';
    return w;
}

/* The string node 'i' as a new C string (caller frees); '*len' its length. */
static char *jn_strdup(const struct jdoc *d, uint32_t i, size_t *len)
{
    const struct jnode *n = &d->n[i];
    const char *t = d->text + n->off + 1;
    size_t rawlen = n->len - 2;
    if (!(n->flags & JF_ESC)) {
        *len = rawlen;
        return xstrndup(t, rawlen);
    }
    char *s = xmalloc(rawlen + 1);
    *len = unescape(t, rawlen, s);
    return s;
}

/* The key of member 'k': borrowed from the body, or decoded into 'tmp'.
 * Returns -1 for an escaped key too long for 'tmp' (it names no field). */
static int jn_key(const struct jdoc *d, uint32_t k, char *tmp, const char **key, size_t *klen)
{
    const struct jnode *n = &d->n[k];
    if (!(n->flags & JF_KEY_ESC)) {
        *key = d->text + n->koff;
        *klen = n->klen;
        return 0;
    }
    if (n->klen >= KEY_TMP)
        return -1;
    *klen = unescape(d->text + n->koff, n->klen, tmp);
    *key = tmp;
    return 0;
}

static int jn_key_is(const struct jdoc *d, uint32_t k, const char *name)
{
    char tmp[KEY_TMP];
    const char *key;
    size_t klen;
    return jn_key(d, k, tmp, &key, &klen) == 0 && klen == strlen(name) &&
           memcmp(key, name, klen) == 0;
}

/* Member 'name' of object node 'obj', or 0. */
static uint32_t jn_get(const struct jdoc *d, uint32_t obj, const char *name)
{
    for (uint32_t k = d->n[obj].child; k; k = d->n[k].next)
        if (jn_key_is(d, k, name))
            return k;
    return 0;
}

/* The text of a number, or of a string holding one, NUL-terminated in
 * 'tmp'; NULL for anything else or when longer than 'cap' - 1. */
static const char *num_text(const struct jdoc *d, uint32_t i, char *tmp, size_t cap)
{
    const struct jnode *n = &d->n[i];
    const char *t = d->text + n->off;
    size_t len = n->len;
    if (n->type == JT_STR) {
        t++;
        len -= 2;
        if (n->flags & JF_ESC)
            return NULL;
    } else if (n->type != JT_NUM) {
        return NULL;
    }
    if (len == 0 || len >= cap)
        return NULL;
    for (size_t k = 0; k < len; k++)
        if (!((t[k] >= '0' && t[k] <= '9') || t[k] == '-' || t[k] == '+' || t[k] == '.' ||
              t[k] == 'e' || t[k] == 'E'))
            return NULL;
    memcpy(tmp, t, len);
    tmp[len] = '\0';
    return tmp;
}

/* An int64 from a number or a numeric string (exact beyond 2^53, read from
 * the text). Returns 0, 1 for null, -1 when not an integer. */
static int jn_int64(const struct jdoc *d, uint32_t i, int64_t *out)
{
    if (d->n[i].type == JT_NULL)
        return 1;
    char tmp[64];
    const char *t = num_text(d, i, tmp, sizeof(tmp));
    if (!t)
        return -1;
    const char *q = t + (*t == '-');
    uint64_t u = 0;
    for (; *q >= '0' && *q <= '9' && u <= (UINT64_MAX - 9) / 10; q++)
        u = u * 10 + (uint64_t)(*q - '0');
    if (*q == '\0' && q > t + (*t == '-') && u <= (uint64_t)INT64_MAX) {
        *out = *t == '-' ? -(int64_t)u : (int64_t)u;
        return 0;
    }
    char *end;
    double dv = strtod(t, &end); /* 412.0 or 4.12e2 are integers too */
    if (*end || !isfinite(dv) || dv != floor(dv) || fabs(dv) >= 9.2e18)
        return -1;
    *out = (int64_t)dv;
    return 0;
}

/* A finite double from a number or numeric string. Same returns. */
static int jn_double(const struct jdoc *d, uint32_t i, double *out)
{
    if (d->n[i].type == JT_NULL)
        return 1;
    char tmp[128];
    const char *t = num_text(d, i, tmp, sizeof(tmp));
    char *end;
    if (!t)
        return -1;
    double v = strtod(t, &end);
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Decimal USD text to nano-USD, exactly, rounding half up at the ninth
 * decimal. Returns 0, or -1 when negative, malformed or above MAX_NUSD. */
static int usd_to_nusd(const char *t, int64_t *out)
{
    const char *p = t;
    uint64_t mant = 0;
    int scale = 0, neg = *p == '-', any = 0;
    p += neg;
    for (; *p >= '0' && *p <= '9'; p++, any = 1) {
        if (mant < 100000000000000000ULL)
            mant = mant * 10 + (uint64_t)(*p - '0');
        else
            scale++;
    }
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, any = 1)
            if (mant < 100000000000000000ULL) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                scale--;
            }
    if (any && (*p == 'e' || *p == 'E')) {
        int sign = p[1] == '-' ? -1 : 1, e = 0;
        p += (p[1] == '-' || p[1] == '+') ? 2 : 1;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            e = e < 10000 ? e * 10 + (*p - '0') : e;
        scale += sign * e;
    }
    if (!any || *p || (neg && mant))
        return -1;
    int k = scale + 9; /* nusd = mant * 10^k */
    for (; mant && k > 0; k--) {
        if (mant > (uint64_t)MAX_NUSD / 10)
            return -1;
        mant *= 10;
    }
    if (k < 0) {
        uint64_t div = 1;
        for (int j = 0; j < -k && j < 19; j++)
            div *= 10;
        uint64_t r = k < -19 ? mant : mant % div;
        mant = k < -19 ? 0 : mant / div;
        mant += (k >= -19 && r >= div - r) ? 1 : 0;
    }
    if (mant > (uint64_t)MAX_NUSD)
        return -1;
    *out = (int64_t)mant;
    return 0;
}

/* Compact JSON text of node 'i': the body bytes when already compact. */
static void jw(const struct jdoc *d, uint32_t i, struct buf *b)
{
    const struct jnode *n = &d->n[i];
    if (n->flags & JF_COMPACT) {
        put(b, d->text + n->off, n->len);
        return;
    }
    int obj = n->type == JT_OBJ;
    put(b, obj ? "{" : "[", 1);
    for (uint32_t k = n->child; k; k = d->n[k].next) {
        if (k != n->child)
            put(b, ",", 1);
        if (obj) {
            put(b, "\"", 1);
            put(b, d->text + d->n[k].koff, d->n[k].klen);
            put(b, "\":", 2);
        }
        jw(d, k, b);
    }
    put(b, obj ? "}" : "]", 1);
}

static char *jw_take(const struct jdoc *d, uint32_t i)
{
    if (d->n[i].flags & JF_COMPACT)
        return xstrndup(d->text + d->n[i].off, d->n[i].len);
    struct buf b;
    buf_init(&b, 0);
    jw(d, i, &b);
    return buf_take(&b, NULL);
}

/* ---- canonical messages from cJSON (the general path) ------------------ */

static const cJSON *cget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int c_is_message(const cJSON *v)
{
    if (!cJSON_IsObject(v))
        return 0;
    const cJSON *role = cget(v, "role");
    if (role)
        return cJSON_IsString(role);
    return cget(v, "content") || cget(v, "tool_calls");
}

static int c_all_messages(const cJSON *arr)
{
    for (const cJSON *m = arr->child; m; m = m->next)
        if (!c_is_message(m))
            return 0;
    return 1;
}

/* ',"key":' (or without the comma for the first member). */
static void put_key(struct buf *b, int *first, const char *key)
{
    if (!*first)
        put(b, ",", 1);
    *first = 0;
    put_q(b, key);
    put(b, ":", 1);
}

/* Text of a part that is only text (a string, or a text / input_text /
 * output_text part), else NULL. */
static const char *c_part_text(const cJSON *p)
{
    if (cJSON_IsString(p))
        return p->valuestring;
    const char *type = jsonx_str(p, "type"), *text = jsonx_str(p, "text");
    if (!text ||
        (type && strcmp(type, "text") && strcmp(type, "input_text") && strcmp(type, "output_text")))
        return NULL;
    return text;
}

/* An image part from a URL; data: URLs become mime_type + base64 data. */
static void put_image_url(struct buf *b, const char *url)
{
    const char *comma = strchr(url, ',');
    const char *semi = comma ? strstr(url, ";base64,") : NULL;
    if (strncmp(url, "data:", 5) == 0 && semi && semi + 7 == comma) {
        char *mime = xstrndup(url + 5, (size_t)(semi - url - 5));
        put_s(b, "{\"type\":\"image\",\"mime_type\":");
        put_q(b, mime);
        put_s(b, ",\"data\":");
        put_q(b, comma + 1);
        put(b, "}", 1);
        free(mime);
        return;
    }
    put_s(b, "{\"type\":\"image\",\"url\":");
    put_q(b, url);
    put(b, "}", 1);
}

/* An image part in Anthropic ("source") or canonical shape; 0 if not one. */
static int c_put_image(struct buf *b, const cJSON *p)
{
    const cJSON *src = cget(p, "source");
    const cJSON *holder = cJSON_IsObject(src) ? src : p;
    const char *url = jsonx_str(holder, "url"), *data = jsonx_str(holder, "data");
    const char *mime = jsonx_str(holder, cJSON_IsObject(src) ? "media_type" : "mime_type");
    if (url) {
        put_image_url(b, url);
        return 1;
    }
    if (!data)
        return 0;
    put_s(b, "{\"type\":\"image\"");
    if (mime) {
        put_s(b, ",\"mime_type\":");
        put_q(b, mime);
    }
    put_s(b, ",\"data\":");
    put_q(b, data);
    put(b, "}", 1);
    return 1;
}

static void c_put_part(struct buf *b, const cJSON *p)
{
    const char *text = c_part_text(p), *type = jsonx_str(p, "type");
    if (text) {
        put_s(b, "{\"type\":\"text\",\"text\":");
        put_q(b, text);
        put(b, "}", 1);
        return;
    }
    if (type && (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0)) {
        const cJSON *iu = cget(p, "image_url");
        const char *url = cJSON_IsString(iu) ? iu->valuestring : jsonx_str(iu, "url");
        if (url) {
            put_image_url(b, url);
            return;
        }
    }
    if (type && strcmp(type, "image") == 0 && c_put_image(b, p))
        return;
    put_cjson(b, p); /* the sender's part, kept as is */
}

/* Message content that is an array of parts (or one part object). */
static void c_put_parts(struct buf *b, const cJSON *c)
{
    const cJSON *one = cJSON_IsObject(c) ? c : NULL, *first = one ? one : c->child;
    int all_text = 1;
    for (const cJSON *p = first; p && all_text; p = one ? NULL : p->next)
        all_text = c_part_text(p) != NULL;
    if (all_text) {
        struct buf j;
        buf_init(&j, 0);
        for (const cJSON *p = first; p; p = one ? NULL : p->next)
            put_s(&j, c_part_text(p));
        put_q(b, buf_str(&j));
        buf_release(&j);
        return;
    }
    put(b, "[", 1);
    for (const cJSON *p = first; p; p = one ? NULL : p->next) {
        if (p != first)
            put(b, ",", 1);
        c_put_part(b, p);
    }
    put(b, "]", 1);
}

/* Tool-call arguments: a JSON-encoded object or array becomes its value;
 * any other string stays a string. */
static void c_put_args(struct buf *b, const cJSON *a)
{
    if (cJSON_IsString(a)) {
        const char *s = a->valuestring;
        char err[96];
        if (*s == '{' || *s == '[') {
            cJSON *v = jsonx_parse(s, strlen(s), err, sizeof(err));
            if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
                put_cjson(b, v);
                cJSON_Delete(v);
                return;
            }
            cJSON_Delete(v);
        }
    }
    put_cjson(b, a);
}

/* One call: OpenAI {id, type, function{name, arguments}}, Anthropic-like
 * {id, name, input} or canonical {id, name, arguments}. */
static void c_put_call(struct buf *b, const cJSON *c)
{
    if (!cJSON_IsObject(c)) {
        put_cjson(b, c);
        return;
    }
    const cJSON *fn = cget(c, "function"), *src = cJSON_IsObject(fn) ? fn : c;
    const char *id = jsonx_str(c, "id"), *name = jsonx_str(src, "name");
    const cJSON *args = cget(src, "arguments");
    if (!args && src == c)
        args = cget(c, "input");
    int first = 1;
    put(b, "{", 1);
    if (id) {
        put_key(b, &first, "id");
        put_q(b, id);
    }
    if (name) {
        put_key(b, &first, "name");
        put_q(b, name);
    }
    if (args) {
        put_key(b, &first, "arguments");
        c_put_args(b, args);
    }
    put(b, "}", 1);
}

/* The message's calls (tool_calls, or the legacy function_call) into 'b' as
 * a JSON array body; returns how many. */
static size_t c_put_calls(struct buf *b, const cJSON *m)
{
    const cJSON *tc = cget(m, "tool_calls"), *fc = cget(m, "function_call");
    size_t n = 0;
    if (cJSON_IsArray(tc)) {
        for (const cJSON *c = tc->child; c; c = c->next, n++) {
            if (n)
                put(b, ",", 1);
            c_put_call(b, c);
        }
    } else if (cJSON_IsObject(fc)) {
        c_put_call(b, fc);
        n = 1;
    }
    return n;
}

/* The optional string member 'key' of 'm' (or 'alt'), if any. */
static void c_put_opt(struct buf *b, int *first, const cJSON *m, const char *key, const char *alt)
{
    const char *v = jsonx_str(m, key);
    if (!v && alt)
        v = jsonx_str(m, alt);
    if (v) {
        put_key(b, first, key);
        put_q(b, v);
    }
}

/* Canonical keys, always in this order: role, content, name, tool_calls,
 * tool_call_id, reasoning, finish_reason. */
static void c_put_message(struct buf *b, const cJSON *m, int is_output)
{
    const char *role = jsonx_str(m, "role");
    const cJSON *content = cget(m, "content");
    struct buf calls;
    buf_init(&calls, 0);
    size_t ncalls = c_put_calls(&calls, m);
    int first = 0;
    put_s(b, "{\"role\":");
    put_q(b, role ? role : is_output ? "assistant" : "user");
    if (cJSON_IsString(content)) {
        put_key(b, &first, "content");
        put_q(b, content->valuestring);
    } else if (cJSON_IsArray(content) || cJSON_IsObject(content)) {
        put_key(b, &first, "content");
        c_put_parts(b, content);
    } else if (cJSON_IsNumber(content) || cJSON_IsBool(content)) {
        char *t = jsonx_print(content);
        put_key(b, &first, "content");
        put_q(b, t);
        free(t);
    } else if (ncalls) {
        put_s(b, ",\"content\":null");
    }
    c_put_opt(b, &first, m, "name", NULL);
    if (ncalls) {
        put_s(b, ",\"tool_calls\":[");
        put(b, buf_str(&calls), calls.len);
        put(b, "]", 1);
    }
    c_put_opt(b, &first, m, "tool_call_id", NULL);
    c_put_opt(b, &first, m, "reasoning", "reasoning_content");
    c_put_opt(b, &first, m, "finish_reason", NULL);
    put(b, "}", 1);
    buf_release(&calls);
}

char *native_messages_json(const cJSON *v, int is_output)
{
    if (!v || cJSON_IsNull(v))
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    if (cJSON_IsString(v)) {
        put_q(&b, v->valuestring);
    } else if (cJSON_IsArray(v) && c_all_messages(v)) {
        put(&b, "[", 1);
        for (const cJSON *m = v->child; m; m = m->next) {
            if (m != v->child)
                put(&b, ",", 1);
            c_put_message(&b, m, is_output);
        }
        put(&b, "]", 1);
    } else if (c_is_message(v)) {
        put_s(&b, is_output ? "" : "[");
        c_put_message(&b, v, is_output);
        put_s(&b, is_output ? "" : "]");
    } else {
        char *t = jsonx_print(v);
        put_q(&b, t);
        free(t);
    }
    return buf_take(&b, NULL);
}

/* ---- canonical messages straight from the body (the fast path) --------- */

enum { MK_ROLE, MK_CONTENT, MK_NAME, MK_CALLS, MK_CALL_ID, MK_REASONING, MK_FINISH, MK_COUNT };
static const char *const msg_keys[MK_COUNT] = {
    "role", "content", "name", "tool_calls", "tool_call_id", "reasoning", "finish_reason",
};

/* Index of member k's key in 'names', or -1. */
static int key_index(const struct jdoc *d, uint32_t k, const char *const *names, int n)
{
    char tmp[KEY_TMP];
    const char *key;
    size_t klen;
    if (jn_key(d, k, tmp, &key, &klen))
        return -1;
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
            return i;
    return -1;
}

/* A canonical part: {"type":"text","text":s}, {"type":"image","url":s} (not
 * a data: URL) or {"type":"image","mime_type":s,"data":s}. Sets '*text'. */
static int canon_part(const struct jdoc *d, uint32_t p, int *text)
{
    static const char *const keys[] = {"type", "text", "url", "mime_type", "data"};
    unsigned seen = 0;
    if (d->n[p].type != JT_OBJ)
        return 0;
    for (uint32_t k = d->n[p].child; k; k = d->n[k].next) {
        int f = key_index(d, k, keys, 5);
        if (f < 0 || (seen & (1u << f)) || d->n[k].type != JT_STR)
            return 0;
        seen |= 1u << f;
    }
    uint32_t type = jn_get(d, p, "type"), url = jn_get(d, p, "url");
    *text = type && d->n[type].len == 6 && memcmp(d->text + d->n[type].off, "\"text\"", 6) == 0;
    if (*text)
        return seen == 3;
    if (!type || d->n[type].len != 7 || memcmp(d->text + d->n[type].off, "\"image\"", 7))
        return 0;
    if (seen == (1u | 4u))
        return d->n[url].len < 7 || memcmp(d->text + d->n[url].off + 1, "data:", 5) != 0;
    return seen == (1u | 8u | 16u);
}

/* Canonical parts: at least one of them not text (all-text parts are joined
 * into a string by the normaliser). */
static int canon_parts(const struct jdoc *d, uint32_t arr)
{
    int any_other = 0, text;
    for (uint32_t p = d->n[arr].child; p; p = d->n[p].next) {
        if (!canon_part(d, p, &text))
            return 0;
        any_other |= !text;
    }
    return any_other;
}

/* Arguments the normaliser keeps as they are: not a string that could hold
 * an encoded object or array. */
static int canon_args(const struct jdoc *d, uint32_t a)
{
    if (d->n[a].type != JT_STR)
        return 1;
    char c = d->n[a].len > 2 ? d->text[d->n[a].off + 1] : 'x';
    return c != '{' && c != '[' && c != '\\' && !is_ws(c);
}

static int canon_calls(const struct jdoc *d, uint32_t arr)
{
    static const char *const keys[] = {"id", "name", "arguments"};
    if (!d->n[arr].child)
        return 0;
    for (uint32_t c = d->n[arr].child; c; c = d->n[c].next) {
        unsigned seen = 0;
        if (d->n[c].type != JT_OBJ)
            return 0;
        for (uint32_t k = d->n[c].child; k; k = d->n[k].next) {
            int f = key_index(d, k, keys, 3);
            if (f < 0 || (seen & (1u << f)) || (f < 2 && d->n[k].type != JT_STR) ||
                (f == 2 && !canon_args(d, k)))
                return 0;
            seen |= 1u << f;
        }
    }
    return 1;
}

/* A message native_messages_json would leave as it is (key order aside). */
static int canon_msg(const struct jdoc *d, uint32_t m)
{
    unsigned seen = 0;
    int content_null = 0;
    if (d->n[m].type != JT_OBJ)
        return 0;
    for (uint32_t k = d->n[m].child; k; k = d->n[k].next) {
        int f = key_index(d, k, msg_keys, MK_COUNT);
        uint8_t t = d->n[k].type;
        if (f < 0 || (seen & (1u << f)))
            return 0;
        seen |= 1u << f;
        if (f == MK_CONTENT)
            content_null = t == JT_NULL;
        if (f == MK_CONTENT && !(t == JT_STR || t == JT_NULL || (t == JT_ARR && canon_parts(d, k))))
            return 0;
        if (f == MK_CALLS && !(t == JT_ARR && canon_calls(d, k)))
            return 0;
        if (f != MK_CONTENT && f != MK_CALLS && t != JT_STR)
            return 0;
    }
    int calls = (seen >> MK_CALLS) & 1, content = (seen >> MK_CONTENT) & 1;
    return (seen & 1u) && (calls ? content : !content_null);
}

static int canon_msgs(const struct jdoc *d, uint32_t arr)
{
    for (uint32_t m = d->n[arr].child; m; m = d->n[m].next)
        if (!canon_msg(d, m))
            return 0;
    return 1;
}

/* ---- decoding one span -------------------------------------------------- */

struct extra {
    const char *prefix; /* "" for a top-level member, "usage." etc. */
    uint32_t node;
};

struct nd {
    const struct jdoc *d;
    struct span *s;
    size_t index, line; /* for messages: "span <index>" or "line <line>" */
    char *err;
    size_t errlen;
    uint32_t attrs;      /* the attributes object; 0 = none */
    struct extra *extra; /* unknown members, kept as attributes "extra.<prefix><key>" */
    size_t nextra, capextra;
    bool has_status, has_error, has_kind;
};

static int reject(struct nd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int reject(struct nd *c, const char *fmt, ...)
{
    int n = c->line ? snprintf(c->err, c->errlen, "line %zu: ", c->line)
                    : snprintf(c->err, c->errlen, "span %zu: ", c->index);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < c->errlen)
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void add_extra(struct nd *c, const char *prefix, uint32_t node)
{
    if (c->nextra == c->capextra) {
        c->capextra = c->capextra ? c->capextra * 2 : 8;
        c->extra = xrealloc(c->extra, c->capextra * sizeof(*c->extra));
    }
    c->extra[c->nextra].prefix = prefix;
    c->extra[c->nextra++].node = node;
}

static int take_str(struct nd *c, const char *name, uint32_t v, char **slot)
{
    uint8_t t = c->d->n[v].type;
    if (t == JT_NULL)
        return 0;
    if (t != JT_STR)
        return reject(c, "%s must be a string", name);
    size_t len;
    char *s = jn_strdup(c->d, v, &len);
    if (len > NATIVE_MAX_STR) {
        free(s);
        return reject(c, "%s is longer than %d bytes", name, NATIVE_MAX_STR);
    }
    free(*slot);
    *slot = s;
    return 0;
}

static int take_count(struct nd *c, const char *name, uint32_t v, int64_t *slot)
{
    int64_t x;
    int r = jn_int64(c->d, v, &x);
    if (r == 1)
        return 0;
    if (r < 0 || x < 0)
        return reject(c, "%s must be a non-negative integer", name);
    *slot = x;
    return 0;
}

static int take_ms(struct nd *c, const char *name, uint32_t v, double *slot)
{
    double x;
    int r = jn_double(c->d, v, &x);
    if (r == 1)
        return 0;
    if (r < 0 || x < 0)
        return reject(c, "%s must be a non-negative number", name);
    *slot = x;
    return 0;
}

/* Field handlers: 'name' is the member's name, 'v' its value node, 'off'
 * the offset of the span member it fills. */
typedef int (*field_fn)(struct nd *c, const char *name, uint32_t v, size_t off);

#define SLOT(c, off, type) ((type *)(void *)((char *)(c)->s + (off)))

static int f_str(struct nd *c, const char *name, uint32_t v, size_t off)
{
    return take_str(c, name, v, SLOT(c, off, char *));
}

static int take_id(struct nd *c, const char *name, uint32_t v, size_t nbytes, char *out)
{
    const struct jnode *n = &c->d->n[v];
    char tmp[72];
    if (n->type == JT_NULL || (n->type == JT_STR && n->len == 2))
        return 0; /* absent: the finaliser generates it (or: a root span) */
    if (n->type == JT_STR && n->len == nbytes * 2 + 2 && !(n->flags & JF_ESC)) {
        const char *h = c->d->text + n->off + 1;
        size_t i = 0, zero = 1;
        for (; i < nbytes * 2 && ((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'));
             i++)
            zero &= h[i] == '0';
        if (i == nbytes * 2 && !zero) { /* canonical already: the common case */
            memcpy(out, h, i);
            out[i] = '\0';
            return 0;
        }
    }
    if (n->type == JT_STR && n->len <= sizeof(tmp)) {
        unescape(c->d->text + n->off + 1, n->len - 2, tmp);
        if (ids_normalize(tmp, nbytes, out) == 0)
            return 0;
    }
    return reject(c, "%s must be %zu hex characters, not all zero", name, nbytes * 2);
}

static int f_id16(struct nd *c, const char *name, uint32_t v, size_t off)
{
    return take_id(c, name, v, 16, SLOT(c, off, char));
}

static int f_id8(struct nd *c, const char *name, uint32_t v, size_t off)
{
    return take_id(c, name, v, 8, SLOT(c, off, char));
}

static int f_ns(struct nd *c, const char *name, uint32_t v, size_t off)
{
    return take_count(c, name, v, SLOT(c, off, int64_t));
}

static int f_time(struct nd *c, const char *name, uint32_t v, size_t off)
{
    char *t = NULL;
    int64_t ns;
    if (c->d->n[v].type == JT_NULL)
        return 0;
    if (take_str(c, name, v, &t))
        return -1;
    int bad = time_parse_iso(t, &ns) != 0 || ns < 0;
    free(t);
    if (bad)
        return reject(c, "%s must be an ISO-8601 time such as 2026-03-02T14:05:07.120Z", name);
    *SLOT(c, off, int64_t) = ns;
    return 0;
}

/* An enum name, ASCII case ignored; '*out' the value or -1. */
static int take_enum(struct nd *c, const char *name, uint32_t v, int (*parse)(const char *),
                     int *out)
{
    char *t = NULL;
    *out = -1;
    if (c->d->n[v].type == JT_NULL)
        return 0;
    if (take_str(c, name, v, &t))
        return -1;
    for (char *p = t; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    *out = parse(t);
    free(t);
    return 0;
}

static int f_kind(struct nd *c, const char *name, uint32_t v, size_t off)
{
    int k;
    (void)off;
    if (take_enum(c, name, v, span_kind_parse, &k))
        return -1;
    if (k < 0 && c->d->n[v].type != JT_NULL) {
        char list[160] = "";
        for (int i = 0; i < SPAN_KIND_COUNT; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                     span_kind_name((enum span_kind)i));
        return reject(c, "kind must be one of %s", list);
    }
    if (k >= 0) {
        c->s->kind = (enum span_kind)k;
        c->has_kind = true;
    }
    return 0;
}

static int f_status(struct nd *c, const char *name, uint32_t v, size_t off)
{
    int st;
    (void)off;
    if (take_enum(c, name, v, span_status_parse, &st))
        return -1;
    if (st < 0 && c->d->n[v].type != JT_NULL)
        return reject(c, "status must be one of ok, error, degraded, blocked, cancelled");
    if (st >= 0) {
        c->s->status = (enum span_status)st;
        c->has_status = true;
    }
    return 0;
}

static int f_cost(struct nd *c, const char *name, uint32_t v, size_t off)
{
    char tmp[128];
    const char *t = num_text(c->d, v, tmp, sizeof(tmp));
    (void)off;
    if (c->d->n[v].type == JT_NULL)
        return 0;
    if (!t || usd_to_nusd(t, &c->s->cost_nusd))
        return reject(c, "%s must be a non-negative number of USD below 1e9, or null", name);
    c->s->has_cost = true;
    return 0;
}

/* A JSON object member kept as compact text (params). */
static int f_object(struct nd *c, const char *name, uint32_t v, size_t off)
{
    uint8_t t = c->d->n[v].type;
    if (t == JT_NULL)
        return 0;
    if (t != JT_OBJ)
        return reject(c, "%s must be an object", name);
    char **slot = SLOT(c, off, char *);
    free(*slot);
    *slot = jw_take(c->d, v);
    return 0;
}

static int f_tags(struct nd *c, const char *name, uint32_t v, size_t off)
{
    const struct jnode *n = &c->d->n[v];
    if (n->type == JT_NULL)
        return 0;
    if (n->type != JT_ARR)
        return reject(c, "%s must be an array of strings", name);
    for (uint32_t k = n->child; k; k = c->d->n[k].next)
        if (c->d->n[k].type != JT_STR || c->d->n[k].len - 2 > NATIVE_MAX_STR)
            return reject(c, "%s must be an array of strings of at most %d bytes", name,
                          NATIVE_MAX_STR);
    char **slot = SLOT(c, off, char *);
    free(*slot);
    *slot = jw_take(c->d, v);
    return 0;
}

static int f_attrs(struct nd *c, const char *name, uint32_t v, size_t off)
{
    uint8_t t = c->d->n[v].type;
    (void)off;
    if (t != JT_NULL && t != JT_OBJ)
        return reject(c, "%s must be an object", name);
    c->attrs = t == JT_OBJ ? v : 0;
    return 0;
}

static int f_vset(struct nd *c, const char *name, uint32_t v, size_t off)
{
    char *t = NULL;
    (void)off;
    if (c->d->n[v].type == JT_NULL)
        return 0;
    if (take_str(c, name, v, &t))
        return -1;
    if (strlen(t) > VSET_MAX_LEN) {
        free(t);
        return reject(c, "%s is longer than %d bytes", name, VSET_MAX_LEN);
    }
    free(c->s->version_set);
    c->s->version_set = vset_canonical(t);
    free(t);
    return 0;
}

/* input / output: copied when canonical already, else normalised. */
static int take_messages(struct nd *c, const char *name, uint32_t v, int is_output, char **slot)
{
    const struct jdoc *d = c->d;
    const struct jnode *n = &d->n[v];
    struct buf b;
    if (n->type == JT_NULL)
        return 0;
    if (n->type == JT_STR || (n->type == JT_ARR && canon_msgs(d, v)) ||
        (is_output && canon_msg(d, v))) {
        free(*slot);
        *slot = jw_take(d, v);
        return 0;
    }
    buf_init(&b, 0);
    if (n->type == JT_OBJ && canon_msg(d, v)) {
        put(&b, "[", 1);
        jw(d, v, &b);
        put(&b, "]", 1);
    } else {
        char err[128];
        cJSON *t = jsonx_parse(d->text + n->off, n->len, err, sizeof(err));
        if (!t) {
            buf_release(&b);
            return reject(c, "%s: %s", name, err);
        }
        char *m = native_messages_json(t, is_output);
        cJSON_Delete(t);
        put_s(&b, m ? m : "null");
        free(m);
    }
    free(*slot);
    *slot = buf_take(&b, NULL);
    return 0;
}

static int f_input(struct nd *c, const char *name, uint32_t v, size_t off)
{
    return take_messages(c, name, v, 0, SLOT(c, off, char *));
}

static int f_output(struct nd *c, const char *name, uint32_t v, size_t off)
{
    return take_messages(c, name, v, 1, SLOT(c, off, char *));
}

/* A nested object whose members are read by 'member' (returns 0 when
 * handled, 1 when unknown, -1 on a rejection); unknown members are kept. */
static int take_nested(struct nd *c, const char *name, uint32_t v, const char *prefix,
                       int (*member)(struct nd *c, const char *key, uint32_t k))
{
    const struct jnode *n = &c->d->n[v];
    if (n->type == JT_NULL)
        return 0;
    if (n->type != JT_OBJ)
        return reject(c, "%s must be an object", name);
    for (uint32_t k = n->child; k; k = c->d->n[k].next) {
        char tmp[KEY_TMP], key[KEY_TMP + 16];
        const char *kp;
        size_t kl, pl = strlen(prefix);
        int r = jn_key(c->d, k, tmp, &kp, &kl) || kl >= KEY_TMP ? 1 : 0;
        if (!r) {
            memcpy(key, prefix, pl);
            memcpy(key + pl, kp, kl);
            key[pl + kl] = '\0';
            r = member(c, key, k);
        }
        if (r < 0)
            return -1;
        if (r > 0)
            add_extra(c, prefix, k);
    }
    return 0;
}

static int m_usage(struct nd *c, const char *key, uint32_t k)
{
    static const struct {
        const char *name;
        size_t off;
    } f[] = {
        {"usage.input_tokens", offsetof(struct span, usage.input_tokens)},
        {"usage.output_tokens", offsetof(struct span, usage.output_tokens)},
        {"usage.cache_read_tokens", offsetof(struct span, usage.cache_read_tokens)},
        {"usage.cache_write_tokens", offsetof(struct span, usage.cache_write_tokens)},
        {"usage.cache_write_1h_tokens", offsetof(struct span, usage.cache_write_1h_tokens)},
        {"usage.reasoning_tokens", offsetof(struct span, usage.reasoning_tokens)},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (strcmp(key, f[i].name) == 0)
            return take_count(c, key, k, SLOT(c, f[i].off, int64_t));
    return 1;
}

static int m_latency(struct nd *c, const char *key, uint32_t k)
{
    if (strcmp(key, "latency.ttft_ms") == 0)
        return take_ms(c, key, k, &c->s->ttft_ms);
    if (strcmp(key, "latency.queue_ms") == 0)
        return take_ms(c, key, k, &c->s->queue_ms);
    if (strcmp(key, "latency.tool_ms") == 0)
        return take_ms(c, key, k, &c->s->tool_ms);
    return 1;
}

static int m_error(struct nd *c, const char *key, uint32_t k)
{
    char **slot = strcmp(key, "error.code") == 0      ? &c->s->error_code
                  : strcmp(key, "error.message") == 0 ? &c->s->error_message
                                                      : NULL;
    if (!slot)
        return 1;
    if (take_str(c, key, k, slot))
        return -1;
    c->has_error |= *slot != NULL;
    return 0;
}

static int m_prompt(struct nd *c, const char *key, uint32_t k)
{
    if (strcmp(key, "prompt.name") == 0)
        return take_str(c, key, k, &c->s->prompt_name);
    if (strcmp(key, "prompt.version") == 0)
        return take_count(c, key, k, &c->s->prompt_version);
    if (strcmp(key, "prompt.variables") == 0)
        return f_object(c, key, k, offsetof(struct span, prompt_vars));
    return 1;
}

static int f_usage(struct nd *c, const char *name, uint32_t v, size_t off)
{
    (void)off;
    return take_nested(c, name, v, "usage.", m_usage);
}

static int f_latency(struct nd *c, const char *name, uint32_t v, size_t off)
{
    (void)off;
    return take_nested(c, name, v, "latency.", m_latency);
}

/* error: {code, message}, or a bare message string. */
static int f_error(struct nd *c, const char *name, uint32_t v, size_t off)
{
    (void)off;
    if (c->d->n[v].type == JT_STR) {
        c->has_error = true;
        return take_str(c, "error", v, &c->s->error_message);
    }
    return take_nested(c, name, v, "error.", m_error);
}

/* prompt: {name, version, variables}, or "name@version". */
static int f_prompt(struct nd *c, const char *name, uint32_t v, size_t off)
{
    (void)off;
    if (c->d->n[v].type != JT_STR)
        return take_nested(c, name, v, "prompt.", m_prompt);
    if (take_str(c, name, v, &c->s->prompt_name))
        return -1;
    char *at = strrchr(c->s->prompt_name, '@'), *end;
    if (at && at[1] >= '0' && at[1] <= '9') {
        errno = 0;
        long long ver = strtoll(at + 1, &end, 10);
        if (*end == '\0' && errno == 0) {
            c->s->prompt_version = ver;
            *at = '\0';
        }
    }
    return 0;
}

#define SOFF(m) offsetof(struct span, m)

/* The members of a span object, sorted by name (binary search). */
#define F(name, fn, off)                                                                           \
    {                                                                                              \
        name, sizeof(name) - 1, fn, off                                                            \
    }
static const struct field {
    const char *name;
    size_t len;
    field_fn fn;
    size_t off;
} fields[] = {
    F("attributes", f_attrs, 0),
    F("cost_usd", f_cost, 0),
    F("end_ns", f_ns, SOFF(end_ns)),
    F("end_time", f_time, SOFF(end_ns)),
    F("error", f_error, 0),
    F("finish_reason", f_str, SOFF(finish_reason)),
    F("input", f_input, SOFF(input)),
    F("kind", f_kind, 0),
    F("latency", f_latency, 0),
    F("model", f_str, SOFF(model)),
    F("name", f_str, SOFF(name)),
    F("output", f_output, SOFF(output)),
    F("params", f_object, SOFF(params)),
    F("parent_span_id", f_id8, SOFF(parent_span_id)),
    F("price_version", f_str, SOFF(price_version)),
    F("project", f_str, SOFF(project)),
    F("prompt", f_prompt, 0),
    F("provider", f_str, SOFF(provider)),
    F("replay_of", f_str, SOFF(replay_of)),
    F("response_model", f_str, SOFF(response_model)),
    F("service_name", f_str, SOFF(service_name)),
    F("service_tier", f_str, SOFF(service_tier)),
    F("service_version", f_str, SOFF(service_version)),
    F("session", f_str, SOFF(session_id)),
    F("session_id", f_str, SOFF(session_id)),
    F("span_id", f_id8, SOFF(span_id)),
    F("start_ns", f_ns, SOFF(start_ns)),
    F("start_time", f_time, SOFF(start_ns)),
    F("status", f_status, 0),
    F("tags", f_tags, SOFF(tags)),
    F("tenant", f_str, SOFF(tenant)),
    F("trace_id", f_id16, SOFF(trace_id)),
    F("usage", f_usage, 0),
    F("user", f_str, SOFF(user_id)),
    F("user_id", f_str, SOFF(user_id)),
    F("version_set", f_vset, 0),
};

static const struct field *field_find(const char *key, size_t klen)
{
    size_t lo = 0, hi = sizeof(fields) / sizeof(fields[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *name = fields[mid].name;
        int r = (unsigned char)key[0] - (unsigned char)name[0];
        if (r == 0) {
            size_t nl = fields[mid].len;
            r = memcmp(key, name, klen < nl ? klen : nl);
            if (r == 0)
                r = klen < nl ? -1 : klen > nl ? 1 : 0;
        }
        if (r == 0)
            return &fields[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* attributes: the sender's object, then every unknown member as
 * "extra.<prefix><key>". */
static void build_attributes(struct nd *c)
{
    const struct jdoc *d = c->d;
    if (!c->nextra) {
        c->s->attributes = c->attrs ? jw_take(d, c->attrs) : NULL;
        return;
    }
    struct buf b;
    buf_init(&b, 0);
    put(&b, "{", 1);
    for (uint32_t k = c->attrs ? d->n[c->attrs].child : 0; k; k = d->n[k].next) {
        put(&b, "\"", 1);
        put(&b, d->text + d->n[k].koff, d->n[k].klen);
        put(&b, "\":", 2);
        jw(d, k, &b);
        put(&b, ",", 1);
    }
    for (size_t i = 0; i < c->nextra; i++) {
        const struct jnode *n = &d->n[c->extra[i].node];
        put_s(&b, i ? ",\"extra." : "\"extra.");
        put_s(&b, c->extra[i].prefix);
        put(&b, d->text + n->koff, n->klen);
        put(&b, "\":", 2);
        jw(d, c->extra[i].node, &b);
    }
    put(&b, "}", 1);
    c->s->attributes = buf_take(&b, NULL);
}

/* Decode span object 'obj' into c->s. Returns 0, or -1 with c->err set. */
static int decode_span(struct nd *c, uint32_t obj)
{
    const struct jdoc *d = c->d;
    if (d->n[obj].type != JT_OBJ)
        return reject(c, "a span must be a JSON object");
    for (uint32_t k = d->n[obj].child; k; k = d->n[k].next) {
        char tmp[KEY_TMP];
        const char *key;
        size_t klen;
        const struct field *f = jn_key(d, k, tmp, &key, &klen) ? NULL : field_find(key, klen);
        if (!f)
            add_extra(c, "", k);
        else if (f->fn(c, f->name, k, f->off))
            return -1;
    }
    struct span *s = c->s;
    if (s->start_ns && s->end_ns && s->end_ns < s->start_ns)
        return reject(c, "end_ns is before start_ns");
    if (c->has_error && !c->has_status)
        s->status = SPAN_STATUS_ERROR;
    if (!c->has_kind)
        s->kind = s->model ? SPAN_KIND_LLM : SPAN_KIND_OTHER;
    build_attributes(c);
    return 0;
}

/* ---- bodies and the report ---------------------------------------------- */

struct native_item {
    size_t line;       /* 1-based NDJSON line; 0 otherwise */
    long rec;          /* index in the batch's spans; -1 when rejected */
    char *message;     /* owned; rejections only */
    char trace_id[33]; /* what a rejected span said, when valid */
    char span_id[17];
};

struct native_report {
    struct native_item *items;
    size_t n, cap, rejected;
};

struct run {
    struct jdoc d;
    struct nd c;
    struct ingest_batch *out;
    struct native_report *rep;
    char msg[512];
};

static struct native_item *rep_add(struct native_report *rep, size_t line)
{
    if (rep->n == rep->cap) {
        rep->cap = rep->cap ? rep->cap * 2 : 16;
        rep->items = xrealloc(rep->items, rep->cap * sizeof(*rep->items));
    }
    struct native_item *it = &rep->items[rep->n++];
    memset(it, 0, sizeof(*it));
    it->line = line;
    it->rec = -1;
    return it;
}

static void rep_reject(struct native_report *rep, struct native_item *it, const char *msg)
{
    it->message = xstrdup(msg);
    rep->rejected++;
}

/* The ids a rejected span carried, so the sender can tell which it was. */
static void rejected_ids(const struct jdoc *d, uint32_t obj, struct native_item *it)
{
    uint32_t t = jn_get(d, obj, "trace_id"), s = jn_get(d, obj, "span_id");
    char tmp[72];
    if (t && d->n[t].type == JT_STR && d->n[t].len <= sizeof(tmp)) {
        unescape(d->text + d->n[t].off + 1, d->n[t].len - 2, tmp);
        if (ids_normalize(tmp, 16, it->trace_id))
            it->trace_id[0] = '\0';
    }
    if (s && d->n[s].type == JT_STR && d->n[s].len <= sizeof(tmp)) {
        unescape(d->text + d->n[s].off + 1, d->n[s].len - 2, tmp);
        if (ids_normalize(tmp, 8, it->span_id))
            it->span_id[0] = '\0';
    }
}

/* Decode node 'obj' of the current document as span number 'index'. */
static void run_span(struct run *r, uint32_t obj, size_t index, size_t line)
{
    struct native_item *it = rep_add(r->rep, line);
    struct span s;
    span_init(&s);
    r->c.s = &s;
    r->c.attrs = 0;
    r->c.nextra = 0;
    r->c.has_status = r->c.has_error = r->c.has_kind = false;
    r->c.index = index;
    r->c.line = line;
    if (decode_span(&r->c, obj) == 0) {
        struct rec_span *rec = ingest_add_span(r->out);
        span_move(&rec->span, &s);
        it->rec = (long)(r->out->nspans - 1);
        return;
    }
    span_release(&s);
    rep_reject(r->rep, it, r->msg);
    if (r->d.n[obj].type == JT_OBJ)
        rejected_ids(&r->d, obj, it);
}

/* NDJSON: one span per line, blank lines skipped; a bad line is one rejected
 * span. Returns how many spans (good or bad) there were. */
static size_t run_ndjson(struct run *r, const char *body, size_t start, size_t len)
{
    size_t pos = start, line = 0, index = 0;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t eol = nl ? (size_t)(nl - body) : len, p = pos, stop = pos;
        line++;
        while (p < eol && is_ws(body[p]))
            p++;
        if (p == eol) {
            pos = eol + 1;
            continue;
        }
        int parsed = jd_parse(&r->d, body, pos, eol, &stop) == 0;
        if (parsed && stop == eol) {
            run_span(r, 0, index, line);
        } else {
            snprintf(r->msg, sizeof(r->msg), "line %zu: malformed JSON at byte %zu: %s", line,
                     (parsed ? stop : r->d.errpos) - pos,
                     parsed ? "data after the value" : r->d.errwhat);
            rep_reject(r->rep, rep_add(r->rep, line), r->msg);
        }
        index++;
        pos = eol + 1;
    }
    return index;
}

/* A single JSON document: a span, an array of spans, or {"spans": [...]}. */
static int run_document(struct run *r, char *err, size_t errlen)
{
    const struct jdoc *d = &r->d;
    uint32_t list = d->n[0].type == JT_OBJ ? jn_get(d, 0, "spans") : 0;
    if (d->n[0].type == JT_OBJ && !list) {
        run_span(r, 0, 0, 0);
        return LT_OK;
    }
    if (d->n[0].type == JT_ARR) {
        list = 0; /* the root itself */
    } else if (d->n[0].type != JT_OBJ || d->n[list].type != JT_ARR) {
        snprintf(err, errlen,
                 "the body must be a span object, an array of spans, "
                 "{\"spans\":[...]} or NDJSON");
        return LT_INVALID_INPUT;
    }
    size_t i = 0;
    for (uint32_t k = d->n[list].child; k; k = d->n[k].next)
        run_span(r, k, i++, 0);
    return LT_OK;
}

static int decode_body(struct run *r, const char *body, size_t len, int ndjson, char *err,
                       size_t errlen)
{
    size_t start = 0, stop = 0;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        start = 3; /* a UTF-8 byte order mark */
    while (start < len && is_ws(body[start]))
        start++;
    if (start == len) {
        snprintf(err, errlen, "empty body: expected a span, an array of spans or NDJSON");
        return LT_INVALID_INPUT;
    }
    if (len >= UINT32_MAX) {
        snprintf(err, errlen, "body too large");
        return LT_PAYLOAD_TOO_LARGE;
    }
    if (!ndjson) {
        if (jd_parse(&r->d, body, start, len, &stop)) {
            if (r->d.errwhat && strcmp(r->d.errwhat, "nested deeper than the limit") == 0)
                snprintf(err, errlen, "JSON nested deeper than %d levels at byte %zu",
                         JSONX_MAX_DEPTH, r->d.errpos);
            else
                snprintf(err, errlen, "malformed JSON at byte %zu: %s", r->d.errpos, r->d.errwhat);
            return LT_INVALID_INPUT;
        }
        if (stop == len)
            return run_document(r, err, errlen);
    }
    run_ndjson(r, body, start, len);
    return LT_OK;
}

int native_decode(const char *body, size_t len, int ndjson, struct ingest_batch *out,
                  struct native_report **rep, char *err, size_t errlen)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.out = out;
    r.rep = xcalloc(1, sizeof(*r.rep));
    r.c.d = &r.d;
    r.c.err = r.msg;
    r.c.errlen = sizeof(r.msg);
    *rep = NULL;
    int rc = decode_body(&r, body ? body : "", body ? len : 0, ndjson, err, errlen);
    free(r.d.n);
    free(r.c.extra);
    if (rc != LT_OK) {
        native_report_free(r.rep);
        return rc;
    }
    *rep = r.rep;
    return LT_OK;
}

void native_report_free(struct native_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->n; i++)
        free(rep->items[i].message);
    free(rep->items);
    free(rep);
}

size_t native_report_count(const struct native_report *rep)
{
    return rep ? rep->n : 0;
}

size_t native_report_rejected(const struct native_report *rep)
{
    return rep ? rep->rejected : 0;
}

long native_report_item(const struct native_report *rep, size_t i, size_t *line,
                        const char **message)
{
    const struct native_item *it = rep && i < rep->n ? &rep->items[i] : NULL;
    if (line)
        *line = it ? it->line : 0;
    if (message)
        *message = it ? it->message : NULL;
    return it ? it->rec : -1;
}

/* ---- the response ------------------------------------------------------- */

/* How a committed span reads to the sender: "created", "duplicate", or
 * "rejected" (by the decoder, or not committed by the store). */
static const char *item_status(const struct native_item *it, const struct ingest_batch *b)
{
    if (it->rec < 0)
        return "rejected";
    if ((size_t)it->rec >= b->nspans)
        return "failed";
    switch (b->spans[it->rec].result) {
    case REC_CREATED:
    case REC_MERGED:
        return "created";
    case REC_DUPLICATE:
        return "duplicate";
    default:
        return "failed";
    }
}

static int put_item(struct buf *out, size_t i, const struct native_item *it,
                    const struct ingest_batch *b)
{
    const char *st = item_status(it, b);
    const char *tid = it->trace_id, *sid = it->span_id;
    int rc = buf_printf(out, "%s{\"index\":%zu", i ? "," : "", i);
    if (it->line)
        rc |= buf_printf(out, ",\"line\":%zu", it->line);
    if (it->rec >= 0 && (size_t)it->rec < b->nspans) {
        tid = b->spans[it->rec].span.trace_id;
        sid = b->spans[it->rec].span.span_id;
    }
    if (*tid)
        rc |= buf_printf(out, ",\"trace_id\":\"%s\"", tid);
    if (*sid)
        rc |= buf_printf(out, ",\"span_id\":\"%s\"", sid);
    if (strcmp(st, "failed") == 0) {
        rc |= buf_printf(out,
                         ",\"status\":\"rejected\",\"error\":{\"code\":\"%s\",\"message\":"
                         "\"the store did not commit this span; retry\"}}",
                         lt_err_code(LT_UNAVAILABLE));
        return rc;
    }
    rc |= buf_printf(out, ",\"status\":\"%s\"", st);
    if (it->message) {
        rc |= buf_printf(out,
                         ",\"error\":{\"code\":\"%s\",\"message\":", lt_err_code(LT_INVALID_INPUT));
        rc |= buf_json_str(out, it->message);
        rc |= buf_putc(out, '}');
    }
    return rc | buf_putc(out, '}');
}

int native_write_response(struct buf *out, const struct native_report *rep,
                          const struct ingest_batch *b)
{
    size_t created = 0, dups = 0, bad = 0, n = rep ? rep->n : 0;
    for (size_t i = 0; i < n; i++) {
        const char *st = item_status(&rep->items[i], b);
        if (strcmp(st, "created") == 0)
            created++;
        else if (strcmp(st, "duplicate") == 0)
            dups++;
        else
            bad++;
    }
    int rc = buf_printf(out, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":%zu,\"results\":[",
                        created, dups, bad);
    for (size_t i = 0; i < n && !rc; i++)
        rc = put_item(out, i, &rep->items[i], b);
    if (rc || buf_puts(out, "]}"))
        return -1;
    return bad == 0 ? 200 : bad == n ? 400 : 207;
}

/* ---- serialising a span ------------------------------------------------- */

/* A finite double in the shortest form that reads back the same. */
static int put_double(struct buf *b, double v)
{
    char tmp[40];
    if (!isfinite(v))
        return buf_puts(b, "null");
    snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof(tmp), "%.17g", v);
    return buf_puts(b, tmp);
}

/* Nano-USD as an exact decimal: 54000 -> 0.000054. */
static int put_nusd(struct buf *b, int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char frac[16];
    snprintf(frac, sizeof(frac), "%09" PRIu64, u % 1000000000u);
    for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
        frac[n - 1] = '\0';
    return buf_printf(b, "%s%" PRIu64 "%s%s", v < 0 ? "-" : "", u / 1000000000u, *frac ? "." : "",
                      frac);
}

/* Writer state for native_span_to_json: 'rc' collects buffer overflows. */
struct sw {
    struct buf *b;
    int rc;
    int first;
};

static void sw_key(struct sw *w, const char *key)
{
    w->rc |= buf_printf(w->b, "%s\"%s\":", w->first ? "" : ",", key);
    w->first = 0;
}

static void sw_str(struct sw *w, const char *key, const char *v)
{
    if (!v)
        return;
    sw_key(w, key);
    w->rc |= buf_json_str(w->b, v);
}

/* A member holding JSON text as it is. */
static void sw_raw(struct sw *w, const char *key, const char *json)
{
    if (!json)
        return;
    sw_key(w, key);
    w->rc |= buf_puts(w->b, json);
}

static void sw_int(struct sw *w, const char *key, int64_t v, int as_string)
{
    if (v < 0)
        return;
    sw_key(w, key);
    w->rc |= buf_printf(w->b, as_string ? "\"%" PRId64 "\"" : "%" PRId64, v);
}

static void sw_ms(struct sw *w, const char *key, double v)
{
    if (isnan(v))
        return;
    sw_key(w, key);
    w->rc |= put_double(w->b, v);
}

/* Open a nested object named 'key'; close with sw_close. */
static void sw_open(struct sw *w, const char *key)
{
    sw_key(w, key);
    w->rc |= buf_putc(w->b, '{');
    w->first = 1;
}

static void sw_close(struct sw *w)
{
    w->rc |= buf_putc(w->b, '}');
    w->first = 0;
}

static void sw_usage_latency(struct sw *w, const struct span *s)
{
    const struct span_usage *u = &s->usage;
    if (u->input_tokens >= 0 || u->output_tokens >= 0 || u->cache_read_tokens >= 0 ||
        u->cache_write_tokens >= 0 || u->cache_write_1h_tokens >= 0 || u->reasoning_tokens >= 0) {
        sw_open(w, "usage");
        sw_int(w, "input_tokens", u->input_tokens, 0);
        sw_int(w, "output_tokens", u->output_tokens, 0);
        sw_int(w, "cache_read_tokens", u->cache_read_tokens, 0);
        sw_int(w, "cache_write_tokens", u->cache_write_tokens, 0);
        sw_int(w, "cache_write_1h_tokens", u->cache_write_1h_tokens, 0);
        sw_int(w, "reasoning_tokens", u->reasoning_tokens, 0);
        sw_close(w);
    }
    sw_key(w, "cost_usd");
    w->rc |= s->has_cost ? put_nusd(w->b, s->cost_nusd) : buf_puts(w->b, "null");
    sw_str(w, "price_version", s->price_version);
    if (!isnan(s->ttft_ms) || !isnan(s->queue_ms) || !isnan(s->tool_ms)) {
        sw_open(w, "latency");
        sw_ms(w, "ttft_ms", s->ttft_ms);
        sw_ms(w, "queue_ms", s->queue_ms);
        sw_ms(w, "tool_ms", s->tool_ms);
        sw_close(w);
    }
}

static void sw_status_prompt(struct sw *w, const struct span *s)
{
    sw_str(w, "status", span_status_name(s->status));
    if (s->error_code || s->error_message) {
        sw_open(w, "error");
        sw_str(w, "code", s->error_code);
        sw_str(w, "message", s->error_message);
        sw_close(w);
    }
    sw_str(w, "user", s->user_id);
    sw_str(w, "session", s->session_id);
    sw_str(w, "tenant", s->tenant);
    sw_str(w, "version_set", s->version_set);
    if (s->prompt_name || s->prompt_version >= 0 || s->prompt_vars) {
        sw_open(w, "prompt");
        sw_str(w, "name", s->prompt_name);
        sw_int(w, "version", s->prompt_version, 0);
        sw_raw(w, "variables", s->prompt_vars);
        sw_close(w);
    }
}

int native_span_to_json(const struct span *s, struct buf *out)
{
    struct sw w = {out, 0, 1};
    w.rc |= buf_putc(out, '{');
    sw_str(&w, "trace_id", *s->trace_id ? s->trace_id : NULL);
    sw_str(&w, "span_id", *s->span_id ? s->span_id : NULL);
    sw_key(&w, "parent_span_id");
    w.rc |= *s->parent_span_id ? buf_json_str(out, s->parent_span_id) : buf_puts(out, "null");
    sw_str(&w, "project", s->project);
    sw_str(&w, "name", s->name);
    sw_str(&w, "kind", span_kind_name(s->kind));
    sw_int(&w, "start_ns", s->start_ns ? s->start_ns : -1, 1);
    sw_int(&w, "end_ns", s->end_ns ? s->end_ns : -1, 1);
    sw_str(&w, "provider", s->provider);
    sw_str(&w, "model", s->model);
    sw_str(&w, "response_model", s->response_model);
    sw_raw(&w, "input", s->input);
    sw_raw(&w, "output", s->output);
    sw_usage_latency(&w, s);
    sw_status_prompt(&w, s);
    sw_raw(&w, "params", s->params);
    sw_raw(&w, "tags", s->tags);
    sw_raw(&w, "attributes", s->attributes);
    sw_str(&w, "finish_reason", s->finish_reason);
    sw_str(&w, "service_name", s->service_name);
    sw_str(&w, "service_version", s->service_version);
    sw_str(&w, "service_tier", s->service_tier);
    sw_str(&w, "replay_of", s->replay_of);
    w.rc |= buf_putc(out, '}');
    return w.rc ? LT_PAYLOAD_TOO_LARGE : LT_OK;
}
