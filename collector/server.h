/*
 * server: llmtap's one HTTP server (DESIGN.md §6): CivetWeb on one port
 * serving ingest (OTLP/HTTP traces and logs, the native span API, Langfuse
 * batch ingestion), health, metrics and the loopback admin API that CLI
 * commands use to hand writes to a running server. It owns the read-write
 * store, the writer thread and the ingest pipeline.
 *
 * Lifecycle: server_start (store opened and locked, writer started, port
 * bound) -> serving -> server_stop (stop accepting, finish in-flight
 * requests, drain the writer queue, commit, close). Not thread-safe itself;
 * its handlers run on CivetWeb's worker threads.
 */
#ifndef COLLECTOR_SERVER_H
#define COLLECTOR_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "collector/pipeline.h"
#include "collector/proxy.h"
#include "store/writer.h"

struct server;
struct mg_context;
struct mg_connection;

/* Called once the routes above are registered and before the catch-all 404:
 * lets the UI (which the collector must not include) add its own. */
typedef void (*server_mount_fn)(void *arg, struct mg_context *ctx);

struct server_config {
    const char *db_path;     /* required */
    const char *listen;      /* "HOST:PORT"; port 0 picks a free one */
    int threads;             /* CivetWeb worker threads */
    size_t max_body;         /* bytes after decompression */
    int64_t body_timeout_ms; /* whole-body deadline */
    struct writer_config writer;
    struct proxy_config proxy; /* upstreams and timeouts of /proxy/NAME/ */
    server_mount_fn mount;     /* may be NULL */
    void *mount_arg;
    /* Answers GET / (a CivetWeb handler called with 'mount_arg'); may be NULL. */
    int (*root)(struct mg_connection *c, void *arg);
    /* Told of every committed batch (the online evaluator); may be NULL. */
    pipeline_observer on_commit;
    void *on_commit_arg;
};

void server_config_default(struct server_config *cfg);

/* Start serving. Returns 0, or -1 with a message in 'err'. */
int server_start(struct server **out, const struct server_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* "http://127.0.0.1:4318" (borrowed until server_stop). */
const char *server_url(const struct server *s);

/* The budget ledger the proxy reserves in (collector/budget.h; borrowed
 * until server_stop). */
struct budget_ledger;
struct budget_ledger *server_ledger(struct server *s);

/* Commit 'b' as a trusted local sender (records keep their own project):
 * LT_OK, or an lt_err with a message. Thread-safe. */
int server_commit(struct server *s, struct ingest_batch *b, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Run 'fn' on the writer's connection inside the next transaction and wait
 * for the commit (store/writer.h writer_run): the one writer, for what runs
 * beside the server and is not spans (the UI's replays, the alert engine).
 * LT_OK, or an lt_err with a message. Thread-safe. */
int server_write(struct server *s, writer_fn fn, void *ctx, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Stop as described above; accepts NULL. */
void server_stop(struct server *s);

#endif
