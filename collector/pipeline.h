/*
 * pipeline: what every ingest path does between decoding and the store.
 * Decoders leave absent things absent; the pipeline finalises each record
 * (ids generated, project decided, times defaulted, a name, the version_set
 * canonicalised or derived, the cost computed from the price table when the
 * sender gave none) and submits the batch to the writer, returning once it
 * is durable. The server and the CLI's in-process import share it.
 *
 * Thread-safety: pipeline_commit from any thread; pipeline_set_prices swaps
 * the price table under a write lock.
 */
#ifndef COLLECTOR_PIPELINE_H
#define COLLECTOR_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ingest.h"
#include "store/prices.h"
#include "store/writer.h"

struct pipeline;

/* 'w' is borrowed; 'prices' is owned (freed by pipeline_free / replaced). */
struct pipeline *pipeline_new(struct writer *w, struct price_table *prices);
void pipeline_free(struct pipeline *p);

/* Called after each successful commit with the committed batch (results
 * set), in the committing thread: it must not block. Set it before the
 * first commit (server_start does). */
typedef void (*pipeline_observer)(void *arg, const struct ingest_batch *b);
void pipeline_set_observer(struct pipeline *p, pipeline_observer fn, void *arg);

/* Replace the price table; takes ownership of 't' and frees the old one. */
void pipeline_set_prices(struct pipeline *p, struct price_table *t);

/* Finalise every record of 'b' and commit it. 'project' is the project the
 * caller is authorised for; a record's own project is honoured only when
 * 'trusted' (loopback, `llmtap import`). Returns LT_OK (each record's result
 * set) or LT_UNAVAILABLE with a message. */
int pipeline_commit(struct pipeline *p, struct ingest_batch *b, size_t bytes, const char *project,
                    int trusted, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Cost of 's' from the current price table (price_cost): 1 and *nusd set
 * when priced, else 0. Thread-safe. */
int pipeline_cost(struct pipeline *p, const struct span *s, int64_t *nusd);

/* price_apply with the current table: a span without a client-given cost
 * gets one now (so the proxy can settle a budget before the span is
 * queued). Returns 1 when 's' carries a cost. Thread-safe. */
int pipeline_price(struct pipeline *p, struct span *s);

/* Finalise one span (exposed for tests). 'merge' records (partial updates)
 * keep absent times and version_set absent. 'now_ns' is the receive time. */
void pipeline_finalize_span(const struct price_table *prices, struct span *s, int merge,
                            const char *project, int trusted, int64_t now_ns);

#endif
