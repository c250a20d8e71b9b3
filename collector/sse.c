/*
 * sse: incremental text/event-stream parser (see sse.h; PROTOCOLS.md §8).
 *
 * Every byte fed goes into 'raw', the bytes of the block being read, until a
 * blank line ends the block: then the block is handed over and 'raw' starts
 * again empty. So the blocks handed over, followed by sse_pending, are
 * exactly the bytes fed. Lines are parsed as soon as their end is seen;
 * 'line' is the offset in 'raw' where the current line starts.
 *
 * States beside the buffers: 'skip_lf' (the last piece ended in the "\r" of
 * a non-blank line: a "\n" first in the next piece belongs to that line end)
 * and 'held' (the last piece ended in the "\r" of a blank line: the block is
 * held back until the next byte shows whether a "\n" belongs to it, so the
 * raw bytes of a block never depend on where the pieces were cut; sse_end
 * releases it at EOF). 'done' is SSE_TOOBIG or SSE_STOPPED once the parser
 * has finished for good.
 */
#include "collector/sse.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmem.h"

struct sse {
    size_t max;
    sse_event_fn fn;
    void *arg;
    struct buf raw;   /* the unfinished block's bytes (no ceiling: checked here) */
    struct buf data;  /* joined data lines, each followed by '\n' */
    struct buf event; /* the last "event:" value */
    struct buf id;    /* the last "id:" value; kept across blocks */
    size_t line;      /* offset in raw of the current line's first byte */
    int has_data;     /* a data line was seen in this block */
    int skip_lf, held;
    int first_line; /* the next line is the stream's first (a BOM is dropped) */
    int done;
};

struct sse *sse_new(size_t max_event, sse_event_fn fn, void *arg)
{
    struct sse *p = xcalloc(1, sizeof(*p));
    p->max = max_event;
    p->fn = fn;
    p->arg = arg;
    buf_init(&p->raw, 0);
    buf_init(&p->data, 0);
    buf_init(&p->event, 0);
    buf_init(&p->id, 0);
    p->first_line = 1;
    return p;
}

void sse_free(struct sse *p)
{
    if (!p)
        return;
    buf_release(&p->raw);
    buf_release(&p->data);
    buf_release(&p->event);
    buf_release(&p->id);
    free(p);
}

/* Append to a buf without a ceiling (sizes are bounded by max_event). */
static void put(struct buf *b, const char *s, size_t n)
{
    if (buf_append(b, s, n) != BUF_OK)
        abort(); /* unreachable: the buf has no ceiling */
}

static void set(struct buf *b, const char *s, size_t n)
{
    buf_reset(b);
    put(b, s, n);
}

/* One complete non-blank line (terminator excluded). */
static void field_line(struct sse *p, const char *s, size_t n)
{
    if (p->first_line && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    p->first_line = 0;
    if (n == 0 || s[0] == ':')
        return; /* a comment (or a line that was only a BOM) */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 5 && memcmp(s, "event", 5) == 0) {
        set(&p->event, v, vlen);
    } else if (flen == 4 && memcmp(s, "data", 4) == 0) {
        put(&p->data, v, vlen);
        put(&p->data, "\n", 1);
        p->has_data = 1;
    } else if (flen == 2 && memcmp(s, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen))
            set(&p->id, v, vlen);
    }
    /* "retry" and unknown fields: nothing to keep */
}

/* Hand the finished block over and start the next one. */
static int dispatch(struct sse *p)
{
    const char *data = NULL;
    size_t dlen = 0;
    if (p->has_data) {
        dlen = p->data.len - 1; /* drop the last '\n' */
        p->data.data[dlen] = '\0';
        data = p->data.data;
    }
    p->first_line = 0;
    int stop = p->fn(p->arg, buf_str(&p->event), data, dlen, buf_str(&p->raw), p->raw.len);
    buf_reset(&p->raw);
    buf_reset(&p->data);
    buf_reset(&p->event);
    p->has_data = 0;
    p->line = 0;
    return stop ? SSE_STOPPED : SSE_OK;
}

/* The line ending at raw.len - 'tlen' (its terminator is 'tlen' bytes) is
 * complete. 'at_end': the terminator is a "\r" that ended the piece. */
static int line_done(struct sse *p, size_t tlen, int at_end)
{
    size_t end = p->raw.len - tlen;
    size_t start = p->line;
    p->line = p->raw.len;
    if (end > start) {
        field_line(p, p->raw.data + start, end - start);
        p->skip_lf = at_end;
        return SSE_OK;
    }
    if (at_end) {
        p->held = 1;
        return SSE_OK;
    }
    return dispatch(p);
}

/* Finish for good with 'rc': keep the piece's unread bytes as pending. */
static int finish(struct sse *p, int rc, const char *rest, size_t n)
{
    put(&p->raw, rest, n);
    p->done = rc;
    return rc;
}

/* The first byte of a piece settles a "\r" that ended the previous one. */
static size_t settle_cr(struct sse *p, const char *bytes, size_t n, int *rc)
{
    size_t used = 0;
    *rc = SSE_OK;
    if (!p->skip_lf && !p->held)
        return 0;
    if (n > 0 && bytes[0] == '\n') {
        put(&p->raw, "\n", 1);
        p->line = p->raw.len;
        used = 1;
    }
    p->skip_lf = 0;
    if (p->held) {
        p->held = 0;
        *rc = dispatch(p);
    }
    return used;
}

int sse_feed(struct sse *p, const char *bytes, size_t n)
{
    if (p->done)
        return p->done;
    if (n == 0)
        return SSE_OK;
    int rc;
    size_t i = settle_cr(p, bytes, n, &rc);
    while (rc == SSE_OK && i < n) {
        size_t j = i;
        while (j < n && bytes[j] != '\n' && bytes[j] != '\r')
            j++;
        size_t tlen = j < n ? 1 : 0;
        if (j < n && bytes[j] == '\r' && j + 1 < n && bytes[j + 1] == '\n')
            tlen = 2;
        size_t seg = j - i + tlen;
        if (p->max && seg > p->max - p->raw.len) /* raw.len <= max until done */
            return finish(p, SSE_TOOBIG, bytes + i, n - i);
        put(&p->raw, bytes + i, seg);
        i += seg;
        if (tlen)
            rc = line_done(p, tlen, bytes[j] == '\r' && tlen == 1 && i == n);
    }
    if (rc != SSE_OK)
        return finish(p, rc, bytes + i, n - i);
    return SSE_OK;
}

int sse_end(struct sse *p)
{
    if (p->done)
        return p->done;
    p->skip_lf = 0;
    if (!p->held)
        return SSE_OK;
    p->held = 0;
    int rc = dispatch(p);
    if (rc != SSE_OK)
        p->done = rc;
    return rc;
}

const char *sse_pending(const struct sse *p, size_t *n)
{
    *n = p->raw.len;
    return buf_str(&p->raw);
}

const char *sse_last_id(const struct sse *p)
{
    return buf_str(&p->id);
}
