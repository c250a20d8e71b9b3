/*
 * metrics: what GET /metrics says beyond the writer's and the proxy's own
 * counters (issue 7 item 6), in Prometheus's text format 0.0.4:
 *   llmtap_ingest_requests_total{route,code}   every ingest request answered
 *   llmtap_ingest_errors_total{route}          those answered 4xx or 5xx
 *   llmtap_commit_duration_seconds             histogram of the writer's transactions
 *   llmtap_spans_stored, llmtap_store_bytes{file}
 *   llmtap_spend_usd_total, llmtap_tokens_total{type}, llmtap_calls_total
 *                                              by project and model, from the rollups
 *   llmtap_alert_state{rule,state}             1 for each rule's current state
 * The request counters live in a struct metrics (one per server; counting
 * is lock-free and thread-safe). The rest is read at scrape time.
 *
 * The spend, token and call counters sum the rollups, so they only grow,
 * except when retention drops old spans (a counter reset to Prometheus).
 * At most METRICS_MAX_SERIES (project, model) pairs are listed, the
 * costliest first, so a scrape stays small.
 */
#ifndef COLLECTOR_METRICS_H
#define COLLECTOR_METRICS_H

#include <sqlite3.h>

#include "core/buf.h"
#include "store/writer.h"

#define METRICS_MAX_SERIES 500

enum metrics_route {
    METRICS_OTLP_TRACES,
    METRICS_OTLP_LOGS,
    METRICS_LANGFUSE_OTEL,
    METRICS_SPANS,
    METRICS_LANGFUSE,
    METRICS_ROUTES
};

struct metrics;

/* A zeroed set of counters; free with metrics_free (accepts NULL). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* The path of route 'r' ("/v1/traces"), its label. */
const char *metrics_route_path(enum metrics_route r);

/* Count one request of route 'r' answered with HTTP 'status'. */
void metrics_count(struct metrics *m, enum metrics_route r, int status);

/* Append the request counters. 0, or -1 at the buffer's ceiling. */
int metrics_write_requests(const struct metrics *m, struct buf *out)
    __attribute__((warn_unused_result));

/* Append the commit-time histogram of 'ws'. 0, or -1 likewise. */
int metrics_write_commits(const struct writer_stats *ws, struct buf *out)
    __attribute__((warn_unused_result));

/* Append what the store holds, read on 'ro' (a read-only store
 * connection): spans stored, spend / tokens / calls by project and model,
 * alert states. 0, or -1 with a message (a failed query, the ceiling). */
int metrics_write_store(sqlite3 *ro, struct buf *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
