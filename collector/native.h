/*
 * native: the native span API (POST /api/v1/spans, docs/NATIVE_API.md).
 * Decodes one span object, an array of spans, {"spans":[...]} or NDJSON into
 * canonical spans (core/span.h), records a per-span report (accepted into
 * the batch, or rejected with a message naming the field), writes the
 * per-span response after the store commit, and serialises spans back to
 * the native format (export, read API). Also home of the canonical message
 * normaliser the other JSON decoders share (native_messages_json).
 *
 * Decoding never fills in what the sender left out: ids stay "", project,
 * cost and version_set stay absent for the server's finaliser. Every
 * function here is thread-safe (no shared state).
 */
#ifndef COLLECTOR_NATIVE_H
#define COLLECTOR_NATIVE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/ingest.h"
#include "core/span.h"

/* Longest string field accepted (name, model, user, ...; not input, output
 * or attributes): longer is a rejected span. */
#define NATIVE_MAX_STR (64 * 1024)

/* The per-span outcome of one native_decode call (opaque). */
struct native_report;

/* Decode 'len' bytes of 'body' (borrowed) and append one REC_INSERT record to
 * 'out' per accepted span. 'ndjson' non-zero forces one span per line (the
 * Content-Type said application/x-ndjson or application/jsonl); otherwise a
 * body whose first value is followed by more values is treated as NDJSON too.
 * On LT_OK '*rep' is the report (caller frees with native_report_free), even
 * when some or all spans were rejected. Returns LT_INVALID_INPUT, with '*rep'
 * NULL, 'out' untouched and a message in 'err' (byte offset or line), when
 * the body is empty, not JSON, or not one of the accepted shapes
 * (LT_PAYLOAD_TOO_LARGE for 4 GiB or more). Spans are numbered from 0 in
 * messages ("span 3: ..."), NDJSON lines from 1 ("line 7: ..."). */
int native_decode(const char *body, size_t len, int ndjson, struct ingest_batch *out,
                  struct native_report **rep, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Free a report; NULL is fine. */
void native_report_free(struct native_report *rep);

/* Spans in the report: all of them, and the rejected ones. */
size_t native_report_count(const struct native_report *rep);
size_t native_report_rejected(const struct native_report *rep);

/* Details of span 'i' of the report (0-based, in body order): the record it
 * became in the batch (returns its index, or -1 when rejected), the line it
 * came from ('*line' 0 unless NDJSON) and the rejection message (borrowed
 * until native_report_free; NULL when accepted). Any out-pointer may be NULL. */
long native_report_item(const struct native_report *rep, size_t i, size_t *line,
                        const char **message);

/* After the commit: append
 *   {"accepted":N,"duplicates":D,"rejected":R,"results":[{"index":0,
 *    "trace_id":...,"span_id":...,"status":"created|duplicate|rejected",
 *    "error":{"code":"INVALID_INPUT","message":...}}, ...]}
 * to 'out', reading ids and results from 'b' (the batch native_decode filled,
 * after the finaliser and the writer). Returns the HTTP status: 200 when
 * nothing was rejected, 207 when some spans were, 400 when all were; -1 when
 * 'out' reached its ceiling. */
int native_write_response(struct buf *out, const struct native_report *rep,
                          const struct ingest_batch *b) __attribute__((warn_unused_result));

/* Append 's' in the native format (one compact JSON object) to 'out'.
 * JSON-valued fields of 's' must hold valid JSON text (as decoders make
 * them). Returns LT_OK, or LT_PAYLOAD_TOO_LARGE when 'out' reached its
 * ceiling (its contents are then partial). */
int native_span_to_json(const struct span *s, struct buf *out) __attribute__((warn_unused_result));

/* Canonical message JSON (see docs/NATIVE_API.md, "Messages") for a value
 * a sender gave as a span's input ('is_output' 0) or output (1): a string
 * stays a JSON string; a message or an array of messages (OpenAI, Anthropic
 * or canonical shape) becomes canonical messages (an input message alone is
 * wrapped in an array); any other value becomes a JSON string holding its
 * compact JSON text. Returns a new compact JSON text (caller frees), or NULL
 * for NULL / JSON null. 'v' is borrowed. */
char *native_messages_json(const cJSON *v, int is_output);

#endif
