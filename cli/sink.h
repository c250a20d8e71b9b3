/*
 * sink: where an evaluator command's writes go (DESIGN.md §5 "one writer"):
 * to a running server for the database (spans as POST /api/v1/spans, store
 * operations as POST /api/v1/admin/evals), or, with none, into the file from
 * this process (its own writer and pipeline). Reads use the read-only
 * connection 'ro' either way. Shared by `llmtap eval` and `llmtap replay`.
 *
 * Lifecycle: cli_sink_open -> the runner's sink calls -> cli_sink_close.
 * Not thread-safe.
 */
#ifndef CLI_SINK_H
#define CLI_SINK_H

#include <stddef.h>

#include "collector/proxy.h"
#include "core/span.h"
#include "evaluator/runner.h"
#include "store/prices.h"

struct cli_sink {
    char *url;        /* a running server, or NULL */
    struct store *st; /* local mode: the read-write store, its writer and pipeline */
    struct writer *w;
    struct pipeline *pipe;
    struct store *ro;           /* reads */
    struct price_table *prices; /* from 'ro' */
};

/* Find a server for 'db' or open it read-write, and open it read-only.
 * 0, or -1 with a message (call cli_sink_close either way). */
int cli_sink_open(struct cli_sink *k, const char *db, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void cli_sink_close(struct cli_sink *k); /* accepts NULL */

/* The runner's sink functions ('ctx' is the cli_sink); see runner.h. Spans
 * keep their own project (a trusted local sender). */
int cli_sink_spans(void *ctx, struct span *spans, size_t n, char *err, size_t errlen);
int cli_sink_op(void *ctx, const char *json, size_t len, char *err, size_t errlen);
struct runner_sink cli_sink_runner(struct cli_sink *k);

/* The runner's upstream table for the configured upstreams (names that
 * start with "anthropic" speak Anthropic's dialect); 'ups' has room for
 * PROXY_MAX_UPSTREAMS and borrows the strings of 'pc'. */
void cli_upstream_table(const struct proxy_config *pc, struct runner_upstream *ups);

#endif
