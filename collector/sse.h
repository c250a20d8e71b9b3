/*
 * sse: an incremental text/event-stream parser (WHATWG algorithm,
 * PROTOCOLS.md §8) for the proxy. Bytes arrive in arbitrary pieces; the
 * parser keeps the unfinished event and calls back once per block that a
 * blank line ends, with the event's name, its data lines joined by '\n',
 * and the block's original bytes (so the proxy forwards exactly what the
 * upstream sent). Lines end in "\n", "\r\n" or a bare "\r" (a "\r" at the
 * end of one piece followed by "\n" at the start of the next is one line
 * end). One leading space after the colon is dropped; lines that start with
 * ':' are comments. A block with no data line (comments only, or only
 * "event:", or a lone blank line) is still handed over, with data NULL, so
 * its bytes can be forwarded: the blocks handed over, in order, followed by
 * sse_pending, are exactly the bytes fed. A UTF-8 BOM opening the stream is
 * ignored by the parse (kept in the raw bytes).
 *
 * Lifecycle: sse_new -> sse_feed... -> at EOF sse_end, then sse_pending ->
 * sse_free. Not thread-safe: one parser per stream.
 */
#ifndef COLLECTOR_SSE_H
#define COLLECTOR_SSE_H

#include <stddef.h>

struct sse;

enum sse_result { SSE_OK = 0, SSE_TOOBIG = 1, SSE_STOPPED = 2 };

/* One dispatched block. 'event' is the last "event:" value ("" when none);
 * 'data' the joined data lines, NUL-terminated (NULL when the block had no
 * data line); 'raw' the block's bytes up to and including its blank line.
 * All are borrowed for the duration of the call. Return 0 to go on,
 * non-zero to stop (sse_feed then returns SSE_STOPPED). */
typedef int (*sse_event_fn)(void *arg, const char *event, const char *data, size_t datalen,
                            const char *raw, size_t rawlen);

/* A parser whose events may hold at most 'max_event' raw bytes (e.g. 8 MiB).
 * Caller frees with sse_free. */
struct sse *sse_new(size_t max_event, sse_event_fn fn, void *arg);
void sse_free(struct sse *p); /* accepts NULL */

/* Feed the next 'n' bytes. Calls 'fn' for each block completed by them, in
 * order. Returns SSE_OK; SSE_STOPPED when 'fn' asked to stop; SSE_TOOBIG
 * when an unfinished block grew past max_event. After SSE_STOPPED or
 * SSE_TOOBIG the parser is finished: later calls return the same code and
 * consume nothing, and sse_pending gives every byte fed that no event
 * handed over (the unfinished block plus the rest of the piece that stopped
 * it), so a caller that goes on forwarding unparsed sends sse_pending's
 * bytes and then every later piece as it is.
 * A blank line that ends in a CR as the very last byte of a piece is held
 * back until the next byte shows whether an LF follows (so a block's raw
 * bytes never depend on where pieces were cut); sse_end releases it. */
int sse_feed(struct sse *p, const char *bytes, size_t n) __attribute__((warn_unused_result));

/* At EOF: hand over a block held back for its final CR (see sse_feed).
 * Returns as sse_feed (SSE_OK, or SSE_STOPPED when 'fn' asked to stop; a
 * caller that only wants the event may ignore it). Call it before
 * sse_pending at EOF. */
int sse_end(struct sse *p);

/* The bytes of the unfinished block (at EOF, after sse_end: a truncated
 * event), borrowed until the next call; "" with *n = 0 when none. */
const char *sse_pending(const struct sse *p, size_t *n);

/* The last "id:" value seen (kept across events, as WHATWG's last event
 * ID), "" when none; borrowed until the next sse_feed. */
const char *sse_last_id(const struct sse *p);

#endif
