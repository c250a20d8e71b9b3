/*
 * buf: a growable byte buffer with a ceiling, for everything untrusted that
 * grows (request bodies, inflated gzip, JSON output). Exceeding the ceiling is
 * an error the caller maps to 413, never a crash. The data is always
 * NUL-terminated (the terminator is not counted in 'len').
 * A buf is an embedded value: buf_init / buf_release; buf_take hands the
 * bytes out. Not thread-safe.
 */
#ifndef CORE_BUF_H
#define CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum buf_result { BUF_OK = 0, BUF_TOOBIG = 1, BUF_IOERR = 2 };

struct buf {
    char *data; /* NULL until the first append; NUL-terminated after */
    size_t len;
    size_t cap;
    size_t max; /* ceiling on len; 0 means no ceiling */
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);

/* Append; BUF_TOOBIG (and nothing appended) when len would pass max. */
int buf_append(struct buf *b, const void *p, size_t n) __attribute__((warn_unused_result));
/* Make room for 'n' more bytes (and the terminator) at data + len, for a
 * caller that writes them itself and then adds n to len; BUF_TOOBIG when
 * len would pass max. */
int buf_reserve(struct buf *b, size_t n) __attribute__((warn_unused_result));
int buf_puts(struct buf *b, const char *s) __attribute__((warn_unused_result));
int buf_putc(struct buf *b, char c) __attribute__((warn_unused_result));
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
__attribute__((warn_unused_result));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((warn_unused_result));
/* Append 's' as a JSON string literal (quotes included, escaped). */
int buf_json_str(struct buf *b, const char *s) __attribute__((warn_unused_result));
int buf_json_strn(struct buf *b, const char *s, size_t n) __attribute__((warn_unused_result));
/* Append 's' as a Prometheus label value (quotes included; backslash,
 * quote and newline escaped, other control characters as spaces; NULL as
 * ""). */
int buf_prom_str(struct buf *b, const char *s) __attribute__((warn_unused_result));

/* Append all that 'f' yields up to its end: BUF_OK, BUF_TOOBIG at the
 * ceiling, or BUF_IOERR when a read fails (what was read is kept). */
int buf_read_stream(struct buf *b, FILE *f) __attribute__((warn_unused_result));

/* Hand the bytes to the caller (who frees them); the buf is left empty.
 * Returns an empty string, never NULL, when nothing was appended. */
char *buf_take(struct buf *b, size_t *len);

/* The contents as a C string ("" when empty); borrowed until the next call. */
const char *buf_str(const struct buf *b);

#endif
