/*
 * buf: bounded growable buffer (see buf.h). Invariant: data == NULL or
 * data[len] == '\0' and len < cap.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(struct buf *b, size_t extra)
{
    if (b->max && (extra > b->max || b->len > b->max - extra))
        return BUF_TOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return BUF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return BUF_OK;
}

int buf_reserve(struct buf *b, size_t n)
{
    return grow(b, n);
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (grow(b, n) != BUF_OK)
        return BUF_TOOBIG;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BUF_OK;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return BUF_TOOBIG;
    if (grow(b, (size_t)n) != BUF_OK)
        return BUF_TOOBIG;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return BUF_OK;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_json_strn(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_putc(b, '"'))
        return BUF_TOOBIG;
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (buf_append(b, s + run, i - run))
            return BUF_TOOBIG;
        run = i + 1;
        char esc[7] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (buf_append(b, esc, elen))
            return BUF_TOOBIG;
    }
    if (buf_append(b, s + run, n - run))
        return BUF_TOOBIG;
    return buf_putc(b, '"');
}

int buf_json_str(struct buf *b, const char *s)
{
    return buf_json_strn(b, s, strlen(s));
}

int buf_prom_str(struct buf *b, const char *s)
{
    int rc = buf_putc(b, '"');
    for (; s && *s && rc == BUF_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == '"')
            rc = buf_putc(b, '\\') || buf_putc(b, (char)c) ? BUF_TOOBIG : BUF_OK;
        else if (c == '\n')
            rc = buf_puts(b, "\\n");
        else
            rc = buf_putc(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
    return rc == BUF_OK ? buf_putc(b, '"') : rc;
}

int buf_read_stream(struct buf *b, FILE *f)
{
    enum { CHUNK = 1 << 16 };
    char *chunk = xmalloc(CHUNK);
    size_t got;
    int rc = BUF_OK;
    while (rc == BUF_OK && (got = fread(chunk, 1, CHUNK, f)) > 0)
        rc = buf_append(b, chunk, got);
    free(chunk);
    return rc == BUF_OK && ferror(f) ? BUF_IOERR : rc;
}

char *buf_take(struct buf *b, size_t *len)
{
    char *d = b->data ? b->data : xstrdup("");
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

const char *buf_str(const struct buf *b)
{
    return b->data ? b->data : "";
}
