/*
 * langfuse: Langfuse-compatible batch ingestion (POST /api/public/ingestion,
 * PROTOCOLS.md §5.1), so Langfuse SDK users can point them at llmtap.
 * A batch of event envelopes {id, type, timestamp, body} becomes canonical
 * spans (traces become root spans of kind chain; observations become spans)
 * as REC_MERGE records, and scores become rec_score records. The envelope id
 * is the dedup key ("langfuse:<id>"). Creates and updates of one entity in
 * one batch are merged in memory, so the writer sees one record. Foreign ids
 * map to ours deterministically (a UUID trace id is the trace id; others and
 * every observation id are derived by ids_derive), so later updates find
 * their creates; the originals are kept in attributes langfuse.trace.id and
 * langfuse.observation.id.
 *
 * A bad event is an error entry for its envelope; the rest of the batch
 * proceeds. Thread-safe (no shared state).
 */
#ifndef COLLECTOR_LANGFUSE_H
#define COLLECTOR_LANGFUSE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/ingest.h"

/* The per-envelope outcome of one langfuse_decode call (opaque). */
struct langfuse_report;

/* Decode 'len' bytes of 'body' (borrowed), appending records to 'out'.
 * Returns LT_OK with '*rep' set (caller frees with langfuse_report_free),
 * even when some events were invalid; LT_INVALID_INPUT with '*rep' NULL,
 * 'out' untouched and a message in 'err' when the body is not a JSON object
 * with a "batch" array (answer 400 {"message":"Invalid request data",
 * "errors":[<err>]}). */
int langfuse_decode(const char *body, size_t len, struct ingest_batch *out,
                    struct langfuse_report **rep, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Free a report; NULL is fine. */
void langfuse_report_free(struct langfuse_report *rep);

/* Envelopes in the report, and how many of them were invalid. */
size_t langfuse_report_count(const struct langfuse_report *rep);
size_t langfuse_report_errors(const struct langfuse_report *rep);

/* Envelope 'i' (batch order): its id ('*id', NULL when it had none) and its
 * error ('*error', NULL when valid); both borrowed until the report is
 * freed. Returns 1 when it produced a span record ('*rec' its index in the
 * batch's spans), 2 for a score record ('*rec' in scores), 0 for none (an
 * error, an sdk-log, or a repeated envelope id). Out-pointers may be NULL. */
int langfuse_report_item(const struct langfuse_report *rep, size_t i, const char **id,
                         const char **error, size_t *rec);

/* After the commit, append the 207 body
 *   {"successes":[{"id":"<envelope id>","status":201}],
 *    "errors":[{"id":...,"status":400,"message":"Invalid request data","error":"<what>"}]}
 * to 'out' (answer it with HTTP 207). Duplicates (REC_DUPLICATE) count as
 * successes; a record the store did not commit is an error with status 500.
 * Returns BUF_OK, or BUF_TOOBIG when 'out' reached its ceiling. */
int langfuse_write_response(struct buf *out, const struct langfuse_report *rep,
                            const struct ingest_batch *b) __attribute__((warn_unused_result));

#endif
