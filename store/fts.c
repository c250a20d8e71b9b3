/*
 * fts: full-text search over the stored texts (see fts.h).
 */
#include "store/fts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/store.h"
#include "store/texts.h"

/* ---- the tokenizer ---- */

/* One instance: the unicode61 tokenizer it hands non-CJK runs to. */
struct cjk_tok {
    fts5_tokenizer uni;
    Fts5Tokenizer *inst;
};

/* Decode one UTF-8 character at s[i] (n bytes in all): its code point, and
 * its length in *len (an invalid byte is one character of its own). */
static unsigned utf8_at(const char *s, int n, int i, int *len)
{
    const unsigned char *p = (const unsigned char *)s + i;
    int left = n - i;
    unsigned c = p[0];
    int need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > left || c >= 0xF8 || (c >= 0x80 && c < 0xC0))
        need = 1;
    unsigned cp = need == 1 ? c : c & (0x7Fu >> need);
    for (int k = 1; k < need; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            *len = 1;
            return c;
        }
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    *len = need;
    return cp;
}

/* Scripts written without spaces between words (and Hangul, which is
 * searched the same way): Han, Hiragana, Katakana, Hangul. */
static bool is_cjk(unsigned cp)
{
    return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0xFF66 && cp <= 0xFF9F) || (cp >= 0x20000 && cp <= 0x2FFFF);
}

struct shift {
    void *ctx;
    int (*cb)(void *, int, const char *, int, int, int);
    int off;
};

static int shifted(void *ctx, int flags, const char *tok, int n, int start, int end)
{
    struct shift *s = ctx;
    return s->cb(s->ctx, flags, tok, n, start + s->off, end + s->off);
}

/* A run of CJK characters at s[from, to): bigrams, then the last character
 * alone (a document, or a query run of one character). */
static int cjk_run(const char *s, int from, int to, bool query, void *ctx,
                   int (*cb)(void *, int, const char *, int, int, int))
{
    int a = from, alen, rc = SQLITE_OK;
    utf8_at(s, to, a, &alen);
    int b = a + alen;
    bool single = b >= to;
    while (b < to && rc == SQLITE_OK) {
        int blen;
        utf8_at(s, to, b, &blen);
        rc = cb(ctx, 0, s + a, b + blen - a, a, b + blen);
        a = b;
        b += blen;
    }
    if (rc == SQLITE_OK && (!query || single))
        rc = cb(ctx, 0, s + a, to - a, a, to);
    return rc;
}

static int tok_tokenize(Fts5Tokenizer *tk, void *ctx, int flags, const char *s, int n,
                        int (*cb)(void *, int, const char *, int, int, int))
{
    struct cjk_tok *t = (struct cjk_tok *)tk;
    bool query = (flags & FTS5_TOKENIZE_QUERY) != 0;
    int i = 0, rc = SQLITE_OK;
    while (i < n && rc == SQLITE_OK) {
        int j = i, len;
        for (;;) { /* ASCII is never CJK: only other bytes are decoded */
            while (j < n && (unsigned char)s[j] < 0x80)
                j++;
            if (j == n || is_cjk(utf8_at(s, n, j, &len)))
                break;
            j += len;
        }
        if (j > i) {
            struct shift sh = {ctx, cb, i};
            rc = t->uni.xTokenize(t->inst, &sh, flags, s + i, j - i, shifted);
        }
        int k = j;
        while (k < n && is_cjk(utf8_at(s, n, k, &len)))
            k += len;
        if (k > j && rc == SQLITE_OK)
            rc = cjk_run(s, j, k, query, ctx, cb);
        i = k;
    }
    return rc;
}

static int tok_create(void *api_ptr, const char **argv, int argc, Fts5Tokenizer **out)
{
    (void)argv;
    (void)argc;
    fts5_api *api = api_ptr;
    struct cjk_tok *t = xcalloc(1, sizeof(*t));
    void *ud = NULL;
    const char *args[] = {"remove_diacritics", "2"};
    int rc = api->xFindTokenizer(api, "unicode61", &ud, &t->uni);
    if (rc == SQLITE_OK)
        rc = t->uni.xCreate(ud, args, 2, &t->inst);
    if (rc != SQLITE_OK) {
        free(t);
        return rc;
    }
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *tk)
{
    struct cjk_tok *t = (struct cjk_tok *)tk;
    if (t) {
        t->uni.xDelete(t->inst);
        free(t);
    }
}

static fts5_api *api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    return api;
}

int fts_register(sqlite3 *db)
{
    fts5_api *api = api_of(db);
    if (!api)
        return SQLITE_ERROR;
    fts5_tokenizer tk = {tok_create, tok_delete, tok_tokenize};
    return api->xCreateTokenizer(api, "llmtap", api, &tk, NULL);
}

/* ---- the tokenizer from C ---- */

struct fts_tok {
    Fts5Tokenizer *inst;
};

struct fts_tok *fts_tok_new(sqlite3 *db)
{
    fts5_api *api = api_of(db);
    Fts5Tokenizer *inst = NULL;
    if (!api || tok_create(api, NULL, 0, &inst) != SQLITE_OK)
        return NULL;
    struct fts_tok *t = xcalloc(1, sizeof(*t));
    t->inst = inst;
    return t;
}

void fts_tok_free(struct fts_tok *t)
{
    if (t) {
        tok_delete(t->inst);
        free(t);
    }
}

/* Tokens of one text: their bytes end to end in 'data', and per token its
 * offset there, length and byte range in the source. */
struct toks {
    struct buf data;
    struct tok1 {
        size_t off;
        int len, start, end;
    } * v;
    size_t n, cap;
};

static void toks_init(struct toks *k)
{
    memset(k, 0, sizeof(*k));
    buf_init(&k->data, 0);
}

static void toks_release(struct toks *k)
{
    buf_release(&k->data);
    free(k->v);
}

static int toks_add(void *ctx, int flags, const char *tok, int n, int start, int end)
{
    struct toks *k = ctx;
    if (flags & FTS5_TOKEN_COLOCATED)
        return SQLITE_OK;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->v = xrealloc(k->v, k->cap * sizeof(*k->v));
    }
    k->v[k->n++] = (struct tok1){k->data.len, n, start, end};
    return buf_append(&k->data, tok, (size_t)n) == BUF_OK ? SQLITE_OK : SQLITE_NOMEM;
}

static int tokenize(struct fts_tok *t, const char *s, size_t n, bool query, struct toks *out)
{
    if (n > (size_t)INT32_MAX)
        n = INT32_MAX;
    return tok_tokenize(t->inst, out, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT, s,
                        (int)n, toks_add);
}

static const char *tok_bytes(const struct toks *k, size_t i)
{
    return k->data.data + k->v[i].off;
}

/* ---- plain text of a stored JSON text ---- */

static int put_utf8(struct buf *out, unsigned cp)
{
    char b[4];
    int n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(out, b, (size_t)n);
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Unescape the JSON string body at *pp (after its opening quote) into
 * 'out' (NULL: skip it); *pp ends past the closing quote. */
static int json_string(const char **pp, const char *end, struct buf *out)
{
    const char *p = *pp;
    int rc = BUF_OK;
    while (p < end && *p != '"' && rc == BUF_OK) {
        const char *run = p;
        while (p < end && *p != '"' && *p != '\\')
            p++;
        if (out && p > run)
            rc = buf_append(out, run, (size_t)(p - run));
        if (p >= end || *p == '"' || rc != BUF_OK)
            break;
        p++; /* the backslash */
        if (p >= end)
            break;
        char e = *p++;
        unsigned cp = (unsigned char)e;
        switch (e) {
        case 'n':
            cp = '\n';
            break;
        case 't':
            cp = '\t';
            break;
        case 'r':
            cp = '\r';
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'u':
            if (hex4(p, end, &cp) != 0)
                cp = '?';
            else
                p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo;
                if (hex4(p + 2, end, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            break;
        default:
            break; /* \" \\ \/ and anything else: the character itself */
        }
        if (out)
            rc = put_utf8(out, cp);
    }
    *pp = p < end ? p + 1 : end;
    return rc;
}

static bool skipped_key(const char *k, size_t n)
{
    static const char *const keys[] = {"role", "type", "id", "tool_call_id"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
            return true;
    return false;
}

int fts_plain(const char *json, size_t n, struct buf *out)
{
    const char *p = json, *end = json + n;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p == end || (*p != '{' && *p != '[' && *p != '"'))
        return buf_append(out, json, n);
    bool skip = false;
    int rc = BUF_OK;
    while (p < end && rc == BUF_OK) {
        if (*p != '"') {
            p++;
            continue;
        }
        p++;
        const char *body = p;
        size_t mark = out->len;
        rc = json_string(&p, end, out);
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r'))
            q++;
        if (q < end && *q == ':') { /* it was a key */
            out->len = mark;
            skip = body < p && skipped_key(body, (size_t)(p - 1 - body));
            continue;
        }
        if (skip)
            out->len = mark;
        else if (rc == BUF_OK && out->len > mark)
            rc = buf_putc(out, '\n');
    }
    return rc;
}

/* ---- queries ---- */

struct term {
    struct toks toks;
    bool prefix_last; /* a lone CJK character: matched as a prefix */
    char *match;      /* FTS5 expression */
};

struct fts_query {
    struct term t[FTS_MAX_TERMS];
    int n;
};

static bool lone_cjk(const char *tok, int n)
{
    int len;
    return n > 0 && is_cjk(utf8_at(tok, n, 0, &len)) && len == n;
}

/* The FTS5 expression of a term: its tokens, each quoted ("" escapes ")
 * and ANDed; a lone CJK character as a prefix. */
static char *term_match(const struct term *t)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = BUF_OK;
    for (size_t i = 0; i < t->toks.n; i++) {
        const char *s = tok_bytes(&t->toks, i);
        int n = t->toks.v[i].len;
        rc |= buf_puts(&b, i ? " AND \"" : "\"");
        for (int k = 0; k < n; k++)
            rc |= s[k] == '"' ? buf_puts(&b, "\"\"") : buf_putc(&b, s[k]);
        rc |= buf_putc(&b, '"');
        if (i + 1 == t->toks.n && t->prefix_last)
            rc |= buf_puts(&b, " *");
    }
    (void)rc; /* no ceiling */
    return buf_take(&b, NULL);
}

static int add_term(struct fts_tok *tk, struct fts_query *q, const char *s, size_t n, char *err,
                    size_t errlen)
{
    struct term t;
    toks_init(&t.toks);
    t.match = NULL;
    if (tokenize(tk, s, n, true, &t.toks) != SQLITE_OK) {
        toks_release(&t.toks);
        snprintf(err, errlen, "the search text cannot be read");
        return -1;
    }
    if (t.toks.n == 0) { /* punctuation only: nothing to find */
        toks_release(&t.toks);
        return 0;
    }
    if (q->n == FTS_MAX_TERMS || t.toks.n > FTS_MAX_TERM_TOKENS) {
        toks_release(&t.toks);
        snprintf(err, errlen, "the search has too many words (at most %d terms of %d words)",
                 FTS_MAX_TERMS, FTS_MAX_TERM_TOKENS);
        return -1;
    }
    size_t last = t.toks.n - 1;
    t.prefix_last = lone_cjk(tok_bytes(&t.toks, last), t.toks.v[last].len);
    t.match = term_match(&t);
    q->t[q->n++] = t;
    return 0;
}

int fts_query_parse(struct fts_tok *tk, const char *text, struct fts_query **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    size_t n = text ? strlen(text) : 0;
    if (n > FTS_MAX_QUERY) {
        snprintf(err, errlen, "the search is longer than %d bytes", FTS_MAX_QUERY);
        return -1;
    }
    struct fts_query *q = xcalloc(1, sizeof(*q));
    const char *p = text, *end = text + n;
    int rc = 0;
    while (p < end && rc == 0) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p == end)
            break;
        const char *from = p, *to;
        if (*p == '"') { /* a phrase, to the next quote or the end */
            from = ++p;
            while (p < end && *p != '"')
                p++;
            to = p;
            if (p < end)
                p++;
        } else {
            while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '"')
                p++;
            to = p;
        }
        rc = add_term(tk, q, from, (size_t)(to - from), err, errlen);
    }
    if (rc == 0 && q->n == 0) {
        snprintf(err, errlen, "the search has no words to look for");
        rc = -1;
    }
    if (rc) {
        fts_query_free(q);
        return -1;
    }
    *out = q;
    return 0;
}

void fts_query_free(struct fts_query *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n; i++) {
        toks_release(&q->t[i].toks);
        free(q->t[i].match);
    }
    free(q);
}

int fts_query_terms(const struct fts_query *q)
{
    return q->n;
}

const char *fts_query_match(const struct fts_query *q, int i)
{
    return q->t[i].match;
}

int fts_query_exact(const struct fts_query *q, int i)
{
    return q->t[i].toks.n == 1;
}

/* Does document token 'd' equal (or, for a prefix, start with) query
 * token 'k' of term 't'? */
static bool tok_eq(const struct toks *doc, size_t d, const struct term *t, size_t k)
{
    int qn = t->toks.v[k].len, dn = doc->v[d].len;
    bool prefix = t->prefix_last && k + 1 == t->toks.n;
    if (prefix ? dn < qn : dn != qn)
        return false;
    return memcmp(tok_bytes(doc, d), tok_bytes(&t->toks, k), (size_t)qn) == 0;
}

/* First position in 'doc' where term 't' occurs as a phrase, or -1. */
static long phrase_at(const struct toks *doc, const struct term *t)
{
    size_t m = t->toks.n;
    for (size_t d = 0; d + m <= doc->n; d++) {
        size_t k = 0;
        while (k < m && tok_eq(doc, d + k, t, k))
            k++;
        if (k == m)
            return (long)d;
    }
    return -1;
}

uint32_t fts_text_match(struct fts_tok *tk, const struct fts_query *q, const char *p, size_t n,
                        size_t *at, size_t *len)
{
    struct toks doc;
    toks_init(&doc);
    uint32_t found = 0;
    *at = *len = 0;
    if (tokenize(tk, p, n, false, &doc) == SQLITE_OK) {
        for (int i = 0; i < q->n; i++) {
            long d = phrase_at(&doc, &q->t[i]);
            if (d < 0)
                continue;
            if (!found) {
                const struct tok1 *first = &doc.v[d],
                                  *last = &doc.v[(size_t)d + q->t[i].toks.n - 1];
                *at = (size_t)first->start;
                *len = (size_t)(last->end - first->start);
            }
            found |= 1u << i;
        }
    }
    toks_release(&doc);
    return found;
}

/* ---- snippets ---- */

static bool utf8_cont(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

static int put_flat(struct buf *out, const char *p, size_t n)
{
    int rc = BUF_OK;
    for (size_t i = 0; i < n && rc == BUF_OK; i++)
        rc = buf_putc(out, p[i] == '\n' || p[i] == '\r' || p[i] == '\t' ? ' ' : p[i]);
    return rc;
}

int fts_snippet(const char *p, size_t n, size_t at, size_t len, size_t width, struct buf *out)
{
    if (at > n)
        at = n;
    if (len > n - at)
        len = n - at;
    size_t side = width > len ? (width - len) / 2 : 0;
    size_t from = at > side ? at - side : 0, to = n - at - len > side ? at + len + side : n;
    while (from > 0 && from < at && p[from] != ' ' && p[from] != '\n' && at - from < side + 16)
        from--; /* back to a word start when it is near */
    while (from < at && utf8_cont(p[from]))
        from++;
    while (to < n && utf8_cont(p[to]))
        to++;
    while (from < at && (p[from] == ' ' || p[from] == '\n'))
        from++;
    while (to > at + len && (p[to - 1] == ' ' || p[to - 1] == '\n'))
        to--;
    size_t before = 0, after = to;
    while (before < from && (p[before] == ' ' || p[before] == '\n'))
        before++;
    while (after < n && (p[after] == ' ' || p[after] == '\n'))
        after++;
    int rc = before < from ? buf_puts(out, "\xE2\x80\xA6") : BUF_OK; /* … where text was cut */
    rc |= put_flat(out, p + from, to - from);
    rc |= after < n ? buf_puts(out, "\xE2\x80\xA6") : BUF_OK;
    return rc ? -1 : 0;
}

/* ---- indexing ---- */

struct fts_batch {
    int64_t after, *ids;
    size_t n, cap;
    struct buf plain;
    size_t *ends; /* end offset in 'plain' of text i */
};

int64_t fts_indexed_upto(sqlite3 *db)
{
    return store_query_int(db, "SELECT value FROM meta WHERE key='fts_upto'", 0);
}

static void batch_push(struct fts_batch *b, int64_t id)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->ids = xrealloc(b->ids, b->cap * sizeof(*b->ids));
        b->ends = xrealloc(b->ends, b->cap * sizeof(*b->ends));
    }
    b->ids[b->n] = id;
    b->ends[b->n++] = b->plain.len;
}

int fts_batch_read(sqlite3 *db, int64_t after, int max_texts, size_t max_bytes,
                   struct fts_batch **out, char *err, size_t errlen)
{
    *out = NULL;
    struct texts_reader *rd = texts_reader_open(db);
    sqlite3_stmt *st = NULL;
    if (!rd || sqlite3_prepare_v2(db, "SELECT id FROM texts WHERE id > ?1 ORDER BY id LIMIT ?2", -1,
                                  &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read texts to index: %s", sqlite3_errmsg(db));
        texts_reader_free(rd);
        return -1;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max_texts);
    struct fts_batch *b = xcalloc(1, sizeof(*b));
    b->after = after;
    buf_init(&b->plain, 0);
    struct buf json;
    buf_init(&json, TEXTPACK_MAX_TEXT);
    int rc = 0, step;
    while (b->plain.len < max_bytes && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        buf_reset(&json);
        if (texts_read_text(rd, id, &json) != SQLITE_OK ||
            fts_plain(json.data ? json.data : "", json.len, &b->plain) != 0) {
            snprintf(err, errlen, "text %lld does not decode", (long long)id);
            rc = -1;
            break;
        }
        batch_push(b, id);
    }
    buf_release(&json);
    sqlite3_finalize(st);
    texts_reader_free(rd);
    if (rc || b->n == 0) {
        fts_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void fts_batch_free(struct fts_batch *b)
{
    if (!b)
        return;
    free(b->ids);
    free(b->ends);
    buf_release(&b->plain);
    free(b);
}

size_t fts_batch_count(const struct fts_batch *b)
{
    return b ? b->n : 0;
}

int fts_batch_apply(sqlite3 *db, const struct fts_batch *b, char *err, size_t errlen)
{
    if (fts_indexed_upto(db) != b->after)
        return 1;
    sqlite3_stmt *ins = NULL, *mark = NULL;
    int rc =
        sqlite3_prepare_v2(db, "INSERT INTO text_fts(rowid, body) VALUES (?1, ?2)", -1, &ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            db, "INSERT OR REPLACE INTO meta(key, value) VALUES ('fts_upto', ?1)", -1, &mark, NULL);
    for (size_t i = 0; i < b->n && rc == SQLITE_OK; i++) {
        size_t from = i ? b->ends[i - 1] : 0;
        sqlite3_bind_int64(ins, 1, b->ids[i]);
        sqlite3_bind_text64(ins, 2, b->plain.data ? b->plain.data + from : "", b->ends[i] - from,
                            SQLITE_STATIC, SQLITE_UTF8);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(ins);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(mark, 1, b->ids[b->n - 1]);
        rc = sqlite3_step(mark) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot index texts: %s", sqlite3_errmsg(db));
    sqlite3_finalize(ins);
    sqlite3_finalize(mark);
    return rc == SQLITE_OK ? 0 : -1;
}

int fts_unindex(sqlite3 *db, int64_t id, const char *p, size_t n)
{
    if (id > fts_indexed_upto(db))
        return SQLITE_OK;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO text_fts(text_fts, rowid, body) VALUES ('delete', ?1, ?2)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text64(st, 2, p ? p : "", n, SQLITE_STATIC, SQLITE_UTF8);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    return rc;
}
