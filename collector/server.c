/*
 * server: CivetWeb setup, routing and the ingest handlers (see server.h).
 *
 * Every ingest handler has the same shape: read the body (bounded, gunzip,
 * deadline) -> decode into an ingest_batch -> pipeline_commit (durable when
 * it returns) -> answer in the sender's dialect. Request-scoped memory lives
 * on the heap (worker stacks are ~100 KiB). Handlers return 1..999 (the
 * status sent) to CivetWeb.
 */
#include "collector/server.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include <civetweb.h>

#include "collector/body.h"
#include "collector/budget.h"
#include "collector/langfuse.h"
#include "collector/metrics.h"
#include "collector/native.h"
#include "collector/otlp.h"
#include "collector/otlp_pb.h"
#include "collector/pipeline.h"
#include "collector/proxy.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/price_store.h"
#include "store/fts.h"
#include "store/keys.h"
#include "store/evals.h"
#include "store/alerts.h"
#include "store/prompts.h"
#include "store/prices.h"
#include "store/retention.h"
#include "store/search.h"
#include "store/store.h"

#define RESP_MAX (8u << 20)

struct server {
    struct server_config cfg;
    struct mg_context *ctx;
    struct store *st;
    struct writer *w;
    struct pipeline *pipe;
    struct budget_ledger *ledger; /* budgets at the door (collector/budget.h) */
    struct proxy *proxy;
    pthread_rwlock_t keys_lock; /* guards 'keys', swapped whole when keys change */
    struct keyring *keys;
    struct metrics *metrics; /* the ingest routes' request counters */
    struct counted_route {
        struct server *s;
        enum metrics_route route;
        mg_request_handler fn;
    } counted[METRICS_ROUTES];
    char url[96];
};

void server_config_default(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->db_path = "llmtap.db";
    cfg->listen = "127.0.0.1:4318";
    cfg->threads = 32;
    cfg->max_body = 64u << 20;
    cfg->body_timeout_ms = 30000;
    writer_config_default(&cfg->writer);
    proxy_config_default(&cfg->proxy);
}

/* ---- replies ---------------------------------------------------------- */

static int reply(struct mg_connection *c, int status, const char *ctype, const char *body,
                 size_t len, int retry_after, int close_conn)
{
    mg_response_header_start(c, status);
    if (ctype)
        mg_response_header_add(c, "Content-Type", ctype, -1);
    char n[32];
    snprintf(n, sizeof(n), "%zu", len);
    mg_response_header_add(c, "Content-Length", n, -1);
    if (retry_after > 0) {
        snprintf(n, sizeof(n), "%d", retry_after);
        mg_response_header_add(c, "Retry-After", n, -1);
    }
    if (close_conn)
        mg_response_header_add(c, "Connection", "close", -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    mg_response_header_send(c);
    if (len)
        mg_write(c, body, len);
    return status;
}

static int reply_buf(struct mg_connection *c, int status, const char *ctype, struct buf *b,
                     int retry_after)
{
    return reply(c, status, ctype, buf_str(b), b->len, retry_after, 0);
}

/* Append the taxonomy's "error" member and close the object: callers that
 * wrap it in their own body (OTLP's google.rpc.Status, Langfuse's 400)
 * write "{...," first. */
static int err_member(struct buf *b, enum lt_err e, const char *msg)
{
    struct buf inner;
    buf_init(&inner, 0);
    int rc = lt_err_json(&inner, e, msg);
    rc |= buf_append(b, buf_str(&inner) + 1, inner.len - 1); /* skip its '{' */
    buf_release(&inner);
    return rc;
}

/* Taxonomy error as JSON; 'otlp' adds the google.rpc.Status fields. */
static int reply_err(struct mg_connection *c, enum lt_err e, const char *msg, int otlp_grpc,
                     int close_conn)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = 0;
    if (otlp_grpc) {
        rc |= buf_printf(&b, "{\"code\":%d,\"message\":", otlp_grpc);
        rc |= buf_json_str(&b, msg);
        rc |= buf_puts(&b, ",\"details\":[],");
        rc |= err_member(&b, e, msg);
    } else {
        rc |= lt_err_json(&b, e, msg);
    }
    (void)rc;
    int retry = lt_err_retryable(e) && (e == LT_UNAVAILABLE || e == LT_QUOTA_EXCEEDED) ? 1 : 0;
    int status =
        reply(c, lt_err_http(e), "application/json", buf_str(&b), b.len, retry, close_conn);
    buf_release(&b);
    return status;
}

/* gRPC status codes used in OTLP error bodies. */
static int grpc_code(enum lt_err e)
{
    switch (e) {
    case LT_INVALID_INPUT:
        return 3;
    case LT_PAYLOAD_TOO_LARGE:
        return 8;
    case LT_UNAVAILABLE:
        return 14;
    case LT_UNSUPPORTED_MEDIA_TYPE:
        return 3;
    case LT_UNAUTHENTICATED:
        return 16;
    default:
        return 13;
    }
}

/* ---- request plumbing ------------------------------------------------- */

static int is_method(struct mg_connection *c, const char *m)
{
    return strcmp(mg_get_request_info(c)->request_method, m) == 0;
}

static int is_loopback(struct mg_connection *c)
{
    const char *ip = mg_get_request_info(c)->remote_addr;
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0;
}

static int no_route(struct mg_connection *c, const char *want)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    char msg[256];
    snprintf(msg, sizeof(msg), "no route for %s %.120s%s%s", ri->request_method,
             ri->local_uri ? ri->local_uri : "", want ? " (use " : "", want ? want : "");
    if (want)
        strncat(msg, ")", sizeof(msg) - strlen(msg) - 1);
    return reply_err(c, LT_NOT_FOUND, msg, 0, 0);
}

/* Read the body; on failure the error has been answered (returns 0). */
static int read_body(struct server *s, struct mg_connection *c, struct buf *body, int otlp)
{
    char err[256];
    struct body_limits lim = {s->cfg.max_body, s->cfg.body_timeout_ms};
    int rc = body_read(c, &lim, body, err, sizeof(err));
    if (rc == LT_OK)
        return 1;
    reply_err(c, (enum lt_err)rc, err, otlp ? grpc_code((enum lt_err)rc) : 0, 1);
    return 0;
}

/* Spend that came in by OTLP, the native API or Langfuse counts towards
 * the budgets (the proxy settles its own calls). */
static void record_spend(struct server *s, const struct ingest_batch *b)
{
    for (size_t i = 0; i < b->nspans; i++) {
        const struct span *sp = &b->spans[i].span;
        if (b->spans[i].result == REC_CREATED && sp->has_cost)
            budget_record(s->ledger, sp->project, sp->tenant, sp->user_id, sp->cost_nusd,
                          sp->start_ns);
    }
}

/* The project of an ingest key (proxy_key_fn). */
static int key_project(void *arg, const char *key, char *project, size_t n)
{
    struct server *s = arg;
    pthread_rwlock_rdlock(&s->keys_lock);
    const char *p = keyring_project(s->keys, key);
    if (p)
        snprintf(project, n, "%s", p);
    pthread_rwlock_unlock(&s->keys_lock);
    return p != NULL;
}

/* Who the records belong to: an LLMTap-Key's project (and nothing else),
 * or on loopback LLMTap-Project and the records' own projects. */
static int commit(struct server *s, struct mg_connection *c, struct ingest_batch *b, size_t bytes,
                  char *err, size_t errlen)
{
    const char *project = mg_get_header(c, "LLMTap-Project");
    const char *key = mg_get_header(c, "LLMTap-Key");
    char keyed[256];
    int trusted = is_loopback(c);
    if (key) {
        if (!key_project(s, key, keyed, sizeof(keyed))) {
            snprintf(err, errlen, "unknown or revoked LLMTap-Key (see `llmtap key list`)");
            return LT_UNAUTHENTICATED;
        }
        project = keyed;
        trusted = 0;
    }
    int rc = pipeline_commit(s->pipe, b, bytes, project, trusted, err, errlen);
    if (rc == LT_OK)
        record_spend(s, b);
    return rc;
}

/* ---- OTLP/HTTP -------------------------------------------------------- */

enum otlp_signal { OTLP_TRACES, OTLP_LOGS };

/* Decode a JSON or protobuf OTLP body into a cJSON tree; 0 and an error
 * answered on failure. '*pb' tells which encoding came in. */
static cJSON *otlp_parse(struct mg_connection *c, struct buf *body, enum otlp_signal sig, int *pb)
{
    char media[96], err[512];
    body_media_type(c, media, sizeof(media));
    cJSON *req = NULL;
    *pb =
        strcmp(media, "application/x-protobuf") == 0 || strcmp(media, "application/protobuf") == 0;
    if (*pb) {
        int rc = sig == OTLP_TRACES
                     ? otlp_pb_traces_to_json(body->data, body->len, &req, err, sizeof(err))
                     : otlp_pb_logs_to_json(body->data, body->len, &req, err, sizeof(err));
        if (rc != 0)
            req = NULL;
    } else if (strcmp(media, "application/json") == 0) {
        req =
            body->len ? jsonx_parse(body->data, body->len, err, sizeof(err)) : cJSON_CreateObject();
    } else {
        snprintf(err, sizeof(err),
                 "unsupported Content-Type '%s' (use application/json or application/x-protobuf)",
                 media);
        reply_err(c, LT_UNSUPPORTED_MEDIA_TYPE, err, 3, 0);
        return NULL;
    }
    if (!req) {
        if (*pb) {
            struct buf out;
            buf_init(&out, 0);
            if (otlp_pb_status(&out, 3, err) == BUF_OK)
                reply_buf(c, 400, "application/x-protobuf", &out, 0);
            buf_release(&out);
        } else {
            reply_err(c, LT_INVALID_INPUT, err, 3, 0);
        }
    }
    return req;
}

static int otlp_reply(struct mg_connection *c, enum otlp_signal sig, int pb, int64_t rejected,
                      const char *msg)
{
    struct buf out;
    buf_init(&out, RESP_MAX);
    int rc = 0;
    if (pb) {
        rc = sig == OTLP_TRACES ? otlp_pb_trace_response(&out, rejected, msg)
                                : otlp_pb_logs_response(&out, rejected, msg);
    } else if (rejected > 0 || (msg && *msg)) {
        rc |= buf_printf(&out, "{\"partialSuccess\":{\"%s\":\"%" PRId64 "\",\"errorMessage\":",
                         sig == OTLP_TRACES ? "rejectedSpans" : "rejectedLogRecords", rejected);
        rc |= buf_json_str(&out, msg ? msg : "");
        rc |= buf_puts(&out, "}}");
    } else {
        rc = buf_puts(&out, "{}");
    }
    (void)rc;
    int status = reply_buf(c, 200, pb ? "application/x-protobuf" : "application/json", &out, 0);
    buf_release(&out);
    return status;
}

static int handle_otlp(struct server *s, struct mg_connection *c, enum otlp_signal sig)
{
    if (!is_method(c, "POST"))
        return no_route(c, "POST");
    struct buf body;
    buf_init(&body, 0);
    struct ingest_batch batch;
    ingest_batch_init(&batch);
    cJSON *req = NULL;
    int pb = 0, status = 0;
    if (!read_body(s, c, &body, 1))
        goto done;
    if (!(req = otlp_parse(c, &body, sig, &pb)))
        goto done;
    struct otlp_result res;
    memset(&res, 0, sizeof(res));
    int rc = sig == OTLP_TRACES ? otlp_traces_decode(req, &batch, &res)
                                : otlp_logs_decode(req, &batch, &res);
    cJSON_Delete(req);
    req = NULL;
    if (rc != LT_OK) {
        status =
            reply_err(c, LT_INVALID_INPUT, res.message[0] ? res.message : "invalid request", 3, 0);
        goto done;
    }
    char err[256];
    rc = commit(s, c, &batch, body.len, err, sizeof(err));
    if (rc != LT_OK) {
        status = reply_err(c, (enum lt_err)rc, err, grpc_code((enum lt_err)rc), 0);
        goto done;
    }
    status = otlp_reply(c, sig, pb, res.rejected, res.message);
done:
    cJSON_Delete(req);
    ingest_batch_release(&batch);
    buf_release(&body);
    return status ? status : 400;
}

static int h_traces(struct mg_connection *c, void *cb)
{
    return handle_otlp(cb, c, OTLP_TRACES);
}

static int h_logs(struct mg_connection *c, void *cb)
{
    return handle_otlp(cb, c, OTLP_LOGS);
}

/* ---- JSON ingest APIs (native, Langfuse) ------------------------------ */

/* What a JSON ingest request holds between its steps (on the heap: worker
 * stacks are small). */
struct json_req {
    struct buf body, out;
    struct ingest_batch batch;
    char media[96];
    char err[512];
};

/* POST check, body, Content-Type among 'accepted' (NULL-terminated; an
 * absent Content-Type is taken as JSON). Returns the request, or NULL when
 * an error has been answered (its status in *status). */
static struct json_req *json_req_begin(struct server *s, struct mg_connection *c,
                                       const char *const *accepted, int *status)
{
    *status = 400;
    if (!is_method(c, "POST")) {
        *status = no_route(c, "POST");
        return NULL;
    }
    struct json_req *r = xcalloc(1, sizeof(*r));
    buf_init(&r->body, 0);
    buf_init(&r->out, RESP_MAX);
    ingest_batch_init(&r->batch);
    if (!read_body(s, c, &r->body, 0))
        goto fail;
    body_media_type(c, r->media, sizeof(r->media));
    int ok = !r->media[0];
    for (size_t i = 0; accepted[i] && !ok; i++)
        ok = strcmp(r->media, accepted[i]) == 0;
    if (!ok) {
        snprintf(r->err, sizeof(r->err), "unsupported Content-Type '%s' (use %s)", r->media,
                 accepted[1] ? "application/json or application/x-ndjson" : accepted[0]);
        *status = reply_err(c, LT_UNSUPPORTED_MEDIA_TYPE, r->err, 0, 0);
        goto fail;
    }
    if (buf_puts(&r->body, "") != BUF_OK) /* an empty body still gets a buffer */
        goto fail;
    return r;
fail:
    ingest_batch_release(&r->batch);
    buf_release(&r->body);
    buf_release(&r->out);
    free(r);
    return NULL;
}

static void json_req_end(struct json_req *r)
{
    ingest_batch_release(&r->batch);
    buf_release(&r->body);
    buf_release(&r->out);
    free(r);
}

static const char *const native_types[] = {"application/json", "application/x-ndjson",
                                           "application/jsonl", "application/ndjson", NULL};

static int h_spans(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    int status;
    struct json_req *r = json_req_begin(s, c, native_types, &status);
    if (!r)
        return status;
    struct native_report *rep = NULL;
    int ndjson = r->media[0] && strcmp(r->media, "application/json") != 0;
    int rc =
        native_decode(r->body.data, r->body.len, ndjson, &r->batch, &rep, r->err, sizeof(r->err));
    if (rc == LT_OK)
        rc = commit(s, c, &r->batch, r->body.len, r->err, sizeof(r->err));
    if (rc != LT_OK)
        status = reply_err(c, (enum lt_err)rc, r->err, 0, 0);
    else
        status = reply_buf(c, native_write_response(&r->out, rep, &r->batch), "application/json",
                           &r->out, 0);
    native_report_free(rep);
    json_req_end(r);
    return status;
}

static int langfuse_bad_request(struct mg_connection *c, const char *why)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_puts(&b, "{\"message\":\"Invalid request data\",\"errors\":[");
    rc |= buf_json_str(&b, why);
    rc |= buf_puts(&b, "],");
    rc |= err_member(&b, LT_INVALID_INPUT, why);
    (void)rc;
    int status = reply_buf(c, 400, "application/json", &b, 0);
    buf_release(&b);
    return status;
}

static const char *const json_types[] = {"application/json", NULL};

static int h_langfuse(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    int status;
    struct json_req *r = json_req_begin(s, c, json_types, &status);
    if (!r)
        return status;
    struct langfuse_report *rep = NULL;
    int rc;
    if (langfuse_decode(r->body.data, r->body.len, &r->batch, &rep, r->err, sizeof(r->err)) !=
        LT_OK)
        status = langfuse_bad_request(c, r->err);
    else if ((rc = commit(s, c, &r->batch, r->body.len, r->err, sizeof(r->err))) != LT_OK)
        status = reply_err(c, (enum lt_err)rc, r->err, 0, 0);
    else if (langfuse_write_response(&r->out, rep, &r->batch) != BUF_OK)
        status = reply_err(c, LT_INTERNAL, "response too large", 0, 0);
    else
        status = reply_buf(c, 207, "application/json", &r->out, 0);
    langfuse_report_free(rep);
    json_req_end(r);
    return status;
}

/* ---- health, metrics, admin -------------------------------------------- */

/* The admin API's door: method 'm' (or 'also', may be NULL) from loopback.
 * 0 to go on, else the status of the refusal answered. */
static int admin_gate(struct mg_connection *c, const char *m, const char *also)
{
    if (!is_method(c, m) && !(also && is_method(c, also)))
        return no_route(c, also ? "GET or POST" : m);
    if (!is_loopback(c))
        return reply_err(c, LT_FORBIDDEN, "the admin API answers loopback clients only", 0, 0);
    return 0;
}

static int h_healthz(struct mg_connection *c, void *cb)
{
    (void)cb;
    if (!is_method(c, "GET") && !is_method(c, "HEAD"))
        return no_route(c, "GET");
    return reply(c, 200, "application/json", "{\"status\":\"ok\"}", 15, 0, 0);
}

static int h_readyz(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    if (!is_method(c, "GET") && !is_method(c, "HEAD"))
        return no_route(c, "GET");
    struct statvfs vfs;
    char *dir = xstrdup(s->cfg.db_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int disk_ok = statvfs(slash ? (*dir ? dir : "/") : ".", &vfs) == 0 &&
                  (uint64_t)vfs.f_bavail * vfs.f_frsize > (64u << 20);
    free(dir);
    if (!writer_healthy(s->w))
        return reply_err(c, LT_UNAVAILABLE, "the store writer is not healthy", 0, 0);
    if (!disk_ok)
        return reply_err(c, LT_UNAVAILABLE, "less than 64 MiB free beside the database", 0, 0);
    return reply(c, 200, "application/json", "{\"status\":\"ready\"}", 18, 0, 0);
}

static int h_metrics(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    if (!is_method(c, "GET"))
        return no_route(c, "GET");
    struct writer_stats ws;
    writer_get_stats(s->w, &ws);
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_printf(
        &b,
        "# TYPE llmtap_commits_total counter\nllmtap_commits_total %" PRIu64 "\n"
        "# TYPE llmtap_spans_total counter\n"
        "llmtap_spans_total{result=\"created\"} %" PRIu64 "\n"
        "llmtap_spans_total{result=\"duplicate\"} %" PRIu64 "\n"
        "llmtap_spans_total{result=\"merged\"} %" PRIu64 "\n"
        "# TYPE llmtap_log_messages_total counter\nllmtap_log_messages_total %" PRIu64 "\n"
        "# TYPE llmtap_refused_total counter\nllmtap_refused_total %" PRIu64 "\n"
        "# TYPE llmtap_failed_commits_total counter\nllmtap_failed_commits_total %" PRIu64 "\n"
        "# TYPE llmtap_queue_records gauge\nllmtap_queue_records %zu\n"
        "# TYPE llmtap_commit_seconds_max gauge\nllmtap_commit_seconds_max %.6f\n",
        ws.commits, ws.spans_created, ws.spans_duplicate, ws.spans_merged, ws.logmsgs,
        ws.refused_full, ws.failed_commits, ws.queued_records, (double)ws.max_commit_ns / 1e9);
    rc |= buf_printf(
        &b,
        "# TYPE llmtap_compactions_total counter\nllmtap_compactions_total %" PRIu64 "\n"
        "# TYPE llmtap_compacted_spans_total counter\nllmtap_compacted_spans_total %" PRIu64 "\n"
        "# TYPE llmtap_compaction_seconds_max gauge\nllmtap_compaction_seconds_max %.6f\n"
        "# TYPE llmtap_compactions_stale_total counter\nllmtap_compactions_stale_total %" PRIu64
        "\n"
        "# TYPE llmtap_checkpoints_total counter\nllmtap_checkpoints_total %" PRIu64 "\n"
        "# TYPE llmtap_wal_frames_total counter\nllmtap_wal_frames_total %" PRIu64 "\n"
        "# TYPE llmtap_checkpoint_seconds_max gauge\nllmtap_checkpoint_seconds_max %.6f\n"
        "# TYPE llmtap_hot_spans gauge\nllmtap_hot_spans %" PRId64 "\n"
        "# TYPE llmtap_segments gauge\nllmtap_segments %zu\n",
        ws.compactions, ws.rows_compacted, (double)ws.max_compact_ns / 1e9, ws.compactions_stale,
        ws.checkpoints, ws.wal_frames, (double)ws.max_checkpoint_ns / 1e9, ws.hot_rows,
        ws.segments);
    struct texts_stats ts;
    texts_get_stats(writer_texts(s->w), &ts);
    rc |= buf_printf(&b,
                     "# TYPE llmtap_texts_total counter\n"
                     "llmtap_texts_total{result=\"stored\"} %" PRIu64 "\n"
                     "llmtap_texts_total{result=\"reused\"} %" PRIu64 "\n",
                     ts.inserted, ts.reused);
    struct proxy_stats ps;
    proxy_get_stats(s->proxy, &ps);
    rc |= buf_printf(&b,
                     "# TYPE llmtap_proxy_calls_total counter\n"
                     "llmtap_proxy_calls_total %" PRIu64 "\n"
                     "# TYPE llmtap_proxy_failures_total counter\n"
                     "llmtap_proxy_failures_total{reason=\"blocked\"} %" PRIu64 "\n"
                     "llmtap_proxy_failures_total{reason=\"upstream_error\"} %" PRIu64 "\n"
                     "llmtap_proxy_failures_total{reason=\"timeout\"} %" PRIu64 "\n"
                     "llmtap_proxy_failures_total{reason=\"cancelled\"} %" PRIu64 "\n"
                     "# TYPE llmtap_proxy_spans_total counter\n"
                     "llmtap_proxy_spans_total{result=\"recorded\"} %" PRIu64 "\n"
                     "llmtap_proxy_spans_total{result=\"lost\"} %" PRIu64 "\n",
                     ps.calls, ps.blocked, ps.upstream_errors, ps.timeouts, ps.cancelled,
                     ps.recorded, ps.record_lost);
    rc |= metrics_write_requests(s->metrics, &b) || metrics_write_commits(&ws, &b);
    rc |= buf_printf(&b,
                     "# TYPE llmtap_store_bytes gauge\n"
                     "llmtap_store_bytes{file=\"db\"} %" PRId64 "\n"
                     "llmtap_store_bytes{file=\"wal\"} %" PRId64 "\n",
                     store_file_bytes(s->st), store_wal_bytes(s->st));
    rc |= budget_ledger_metrics(s->ledger, time_now_ns(), &b);
    char err[512] = "";
    struct store *ro = NULL;
    if (store_open(&ro, s->cfg.db_path, STORE_READONLY, err, sizeof(err)) != 0 ||
        metrics_write_store(store_db(ro), &b, err, sizeof(err)) != 0)
        log_msg(LOG_WARN, "metrics", "%s", err);
    store_close(ro);
    if (rc) {
        buf_release(&b);
        return reply_err(c, LT_INTERNAL, "the metrics do not fit in memory", 0, 0);
    }
    int status = reply_buf(c, 200, "text/plain; version=0.0.4", &b, 0);
    buf_release(&b);
    return status;
}

struct price_import {
    const char *source;
    const char *json;
    size_t len;
    struct price_table *table; /* out: the rebuilt table */
};

static int price_import_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct price_import *pi = ctx;
    if (price_store_add(db, pi->source, pi->json, pi->len, err, errlen) != 0)
        return -1;
    return price_store_load(db, &pi->table, err, errlen);
}

/* POST /api/v1/admin/prices: a price set in llmtap's format (the CLI
 * converts LiteLLM files first). Loopback only. */
static int h_admin_prices(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    int refused = admin_gate(c, "POST", NULL);
    if (refused)
        return refused;
    struct buf body;
    buf_init(&body, 0);
    int status = 0;
    char err[512];
    if (!read_body(s, c, &body, 0))
        goto done;
    const char *src = mg_get_header(c, "LLMTap-Price-Source");
    struct price_import pi = {src && *src ? src : "import", body.data ? body.data : "", body.len,
                              NULL};
    int rc = writer_run(s->w, price_import_fn, &pi, err, sizeof(err));
    if (rc != LT_OK) {
        price_table_free(pi.table);
        status = reply_err(c, (enum lt_err)rc, err, 0, 0);
        goto done;
    }
    size_t models = price_table_count(pi.table);
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "{\"status\":\"ok\",\"models\":%zu,\"version\":\"%s\"}",
                     models, price_table_version(pi.table));
    pipeline_set_prices(s->pipe, pi.table);
    status = reply(c, 200, "application/json", msg, (size_t)n, 0, 0);
done:
    buf_release(&body);
    return status ? status : 400;
}

/* POST /api/v1/admin/compact: move every hot span into segments and index
 * every text now, in bounded steps (each its own transaction), for
 * `llmtap compact`.
 * Loopback only. */
static int h_admin_compact(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    int refused = admin_gate(c, "POST", NULL);
    if (refused)
        return refused;
    char err[512];
    int64_t moved = 0, indexed = 0;
    int rc = writer_catch_up(s->w, &moved, &indexed, err, sizeof(err));
    if (rc != LT_OK)
        return reply_err(c, (enum lt_err)rc, err, 0, 0);
    struct writer_stats ws;
    writer_get_stats(s->w, &ws);
    char msg[160];
    int n = snprintf(msg, sizeof(msg),
                     "{\"status\":\"ok\",\"compacted\":%lld,\"indexed\":%lld,"
                     "\"hot_spans\":%lld,\"segments\":%zu}",
                     (long long)moved, (long long)indexed, (long long)ws.hot_rows, ws.segments);
    return reply(c, 200, "application/json", msg, (size_t)n, 0, 0);
}

/* ---- admin: writes through the one writer ------------------------------ */

/* An admin write: 'parse' reads the request's JSON object (NULL for an
 * empty or unparsable body, whose parse error is then in 'err') into the
 * op; 'run' applies it in the writer's transaction; 'answer', after the
 * commit, writes the JSON reply into 'msg' or returns an lt_err. */
struct admin_write {
    int (*parse)(const cJSON *j, void *op, char *err, size_t errlen);
    writer_fn run;
    int (*answer)(struct server *s, void *op, char *msg, size_t n, char *err, size_t errlen);
};

/* POST, loopback, body -> parse -> writer -> answer. Strings the op
 * borrows from the JSON stay valid until 'answer' has run; what the op
 * owns is the caller's to free. */
static int admin_write(struct server *s, struct mg_connection *c, const struct admin_write *w,
                       void *op)
{
    int refused = admin_gate(c, "POST", NULL);
    if (refused)
        return refused;
    struct buf body;
    buf_init(&body, 0);
    char err[512] = "", msg[256] = "";
    cJSON *j = NULL;
    int status = 0;
    if (!read_body(s, c, &body, 0))
        goto done;
    j = body.len ? jsonx_parse(body.data, body.len, err, sizeof(err)) : NULL;
    int rc = w->parse(j, op, err, sizeof(err));
    if (rc == LT_OK)
        rc = writer_run(s->w, w->run, op, err, sizeof(err));
    if (rc == LT_OK)
        rc = w->answer(s, op, msg, sizeof(msg), err, sizeof(err));
    status = rc == LT_OK ? reply(c, 200, "application/json", msg, strlen(msg), 0, 0)
                         : reply_err(c, (enum lt_err)rc, err, 0, 0);
done:
    cJSON_Delete(j);
    buf_release(&body);
    return status ? status : 400;
}

/* ---- admin: ingest keys ------------------------------------------------- */

struct key_op {
    int create;
    const char *project, *name;
    int64_t id;
    char key[KEYS_KEY_LEN + 1];
    int missing;          /* revoke: no live key had that id */
    struct keyring *ring; /* out: the keys after the change */
};

static int key_op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct key_op *op = ctx;
    int rc = op->create ? keys_create(db, op->project, op->name, op->key, &op->id, err, errlen)
                        : keys_revoke(db, op->id, err, errlen);
    if (rc < 0)
        return -1;
    op->missing = rc == 1;
    return keyring_load(db, &op->ring, err, errlen);
}

static int parse_key_op(const cJSON *j, void *ctx, char *err, size_t errlen)
{
    struct key_op *op = ctx;
    const char *verb = j ? jsonx_str(j, "op") : NULL;
    if (!verb || (strcmp(verb, "create") && strcmp(verb, "revoke"))) {
        snprintf(err, errlen,
                 "want {\"op\":\"create\",\"project\":P} or {\"op\":\"revoke\",\"id\":N}");
        return LT_INVALID_INPUT;
    }
    op->create = strcmp(verb, "create") == 0;
    op->project = jsonx_str(j, "project");
    op->name = jsonx_str(j, "name");
    if (!op->create && jsonx_member_int64(j, "id", &op->id) != 0) {
        snprintf(err, errlen, "revoke wants the key's id");
        return LT_INVALID_INPUT;
    }
    return LT_OK;
}

/* The new keyring is in force from here on. */
static int answer_key_op(struct server *s, void *ctx, char *msg, size_t n, char *err, size_t errlen)
{
    struct key_op *op = ctx;
    pthread_rwlock_wrlock(&s->keys_lock);
    struct keyring *old = s->keys;
    s->keys = op->ring;
    pthread_rwlock_unlock(&s->keys_lock);
    keyring_free(old);
    op->ring = NULL;
    if (op->missing) {
        snprintf(err, errlen, "no live key has id %lld", (long long)op->id);
        return LT_NOT_FOUND;
    }
    if (op->create)
        snprintf(msg, n, "{\"status\":\"ok\",\"id\":%lld,\"key\":\"%s\"}", (long long)op->id,
                 op->key);
    else
        snprintf(msg, n, "{\"status\":\"ok\",\"id\":%lld}", (long long)op->id);
    return LT_OK;
}

/* POST /api/v1/admin/keys: make or revoke a key; in force before the answer.
 * Loopback only. */
static int h_admin_keys(struct mg_connection *c, void *cb)
{
    static const struct admin_write w = {parse_key_op, key_op_fn, answer_key_op};
    struct key_op op;
    memset(&op, 0, sizeof(op));
    int status = admin_write(cb, c, &w, &op);
    keyring_free(op.ring);
    return status;
}

/* ---- admin: the prompt registry ----------------------------------------- */

struct prompt_op {
    int push;
    const char *name, *label;
    char *body;      /* push: the checked, compact prompt file (owned) */
    int64_t version; /* label: in; push: out */
    int created, missing;
};

static int prompt_op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct prompt_op *op = ctx;
    if (op->push)
        return prompts_push(db, op->name, op->body, &op->version, &op->created, err, errlen);
    int rc = prompts_label(db, op->name, op->label, op->version, err, errlen);
    op->missing = rc == 1;
    return rc < 0 ? -1 : 0;
}

static int parse_prompt_op(const cJSON *j, void *ctx, char *err, size_t errlen)
{
    struct prompt_op *op = ctx;
    if (!j) {
        if (!*err)
            snprintf(err, errlen, "an empty body");
        return LT_INVALID_INPUT;
    }
    const char *verb = jsonx_str(j, "op");
    op->name = jsonx_str(j, "name");
    if (!verb || (strcmp(verb, "push") && strcmp(verb, "label")) || !prompts_valid_name(op->name)) {
        snprintf(err, errlen,
                 "want {\"op\":\"push\",\"name\":N,\"prompt\":{...}} or "
                 "{\"op\":\"label\",\"name\":N,\"label\":L,\"version\":V}");
        return LT_INVALID_INPUT;
    }
    op->push = strcmp(verb, "push") == 0;
    if (!op->push) {
        op->label = jsonx_str(j, "label");
        if (!op->label || jsonx_member_int64(j, "version", &op->version) != 0) {
            snprintf(err, errlen, "label wants a label and a version");
            return LT_INVALID_INPUT;
        }
        return LT_OK;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    char *text = p ? jsonx_print(p) : NULL;
    int rc = text && prompts_check_body(text, strlen(text), &op->body, err, errlen) == 0
                 ? LT_OK
                 : LT_INVALID_INPUT;
    if (!text)
        snprintf(err, errlen, "push wants the prompt file as \"prompt\"");
    free(text);
    return rc;
}

static int answer_prompt_op(struct server *s, void *ctx, char *msg, size_t n, char *err,
                            size_t errlen)
{
    (void)s;
    struct prompt_op *op = ctx;
    if (op->missing) {
        snprintf(err, errlen, "%s has no version %lld", op->name, (long long)op->version);
        return LT_NOT_FOUND;
    }
    snprintf(msg, n, "{\"status\":\"ok\",\"version\":%lld,\"created\":%s}", (long long)op->version,
             op->push && !op->created ? "false" : "true");
    return LT_OK;
}

/* POST /api/v1/admin/prompts: push a version or move a label (the CLI's
 * `prompt push` and `prompt label` while a server holds the store).
 * Loopback only. */
static int h_admin_prompts(struct mg_connection *c, void *cb)
{
    static const struct admin_write w = {parse_prompt_op, prompt_op_fn, answer_prompt_op};
    struct prompt_op op;
    memset(&op, 0, sizeof(op));
    int status = admin_write(cb, c, &w, &op);
    free(op.body);
    return status;
}

/* ---- admin: op documents (the evaluator's writes, alert rules) ---------- */

/* An op document for a store module's apply function (store/evals.h
 * evals_apply, store/alerts.h alerts_apply): the request's JSON object,
 * applied in the writer's transaction; the module's answer is the reply. */
typedef int (*doc_apply_fn)(sqlite3 *db, const cJSON *op, struct buf *answer, char *err,
                            size_t errlen);
struct doc_op {
    doc_apply_fn apply;
    const char *header; /* where the format is documented */
    const cJSON *j;
    struct buf answer;
};

static int doc_op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct doc_op *op = ctx;
    buf_reset(&op->answer);
    return op->apply(db, op->j, &op->answer, err, errlen) != 0;
}

static int parse_doc_op(const cJSON *j, void *ctx, char *err, size_t errlen)
{
    struct doc_op *op = ctx;
    if (!cJSON_IsObject(j)) {
        if (!*err)
            snprintf(err, errlen, "want a JSON object {\"op\": ...} (%s)", op->header);
        return LT_INVALID_INPUT;
    }
    op->j = j;
    return LT_OK;
}

static int answer_doc_op(struct server *s, void *ctx, char *msg, size_t n, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    struct doc_op *op = ctx;
    snprintf(msg, n, "%s", op->answer.len ? buf_str(&op->answer) : "{\"ok\":true}");
    return LT_OK;
}

static int admin_doc(struct mg_connection *c, void *cb, doc_apply_fn apply, const char *header)
{
    static const struct admin_write w = {parse_doc_op, doc_op_fn, answer_doc_op};
    struct doc_op op = {.apply = apply, .header = header};
    buf_init(&op.answer, 4096);
    int status = admin_write(cb, c, &w, &op);
    buf_release(&op.answer);
    return status;
}

/* POST /api/v1/admin/evals: the evaluator's results, cached answers,
 * online rules and replays (store/evals.h evals_apply) while a server
 * holds the store. Loopback only. */
static int h_admin_evals(struct mg_connection *c, void *cb)
{
    return admin_doc(c, cb, evals_apply, "store/evals.h");
}

/* POST /api/v1/admin/alerts: add or remove an alert rule, or the webhook
 * secret (store/alerts.h alerts_apply) while a server holds the store; the
 * engine reads the rules on its next evaluation. Loopback only. */
static int h_admin_alerts(struct mg_connection *c, void *cb)
{
    return admin_doc(c, cb, alerts_apply, "store/alerts.h");
}

/* ---- read API: full-text search ---------------------------------------- */

/* Query-string parameter 'name' into 'out' (at most 'n' bytes with the
 * NUL): 1 when present, 0 when absent, -1 when longer than that. */
static int query_param(const struct mg_request_info *ri, const char *name, char *out, size_t n)
{
    const char *qs = ri->query_string ? ri->query_string : "";
    int got = mg_get_var(qs, strlen(qs), name, out, n);
    return got >= 0 ? 1 : got == -1 ? 0 : -1;
}

/* The parameters of GET /api/v1/search, each in its own buffer. */
#define SP_VALUE 512
static const char *const search_params[] = {"project", "model",   "provider", "status",
                                            "user",    "session", "tenant",   "version_set"};
#define NSEARCH_PARAMS (sizeof(search_params) / sizeof(search_params[0]))

struct search_req {
    char q[FTS_MAX_QUERY + 1];
    char v[NSEARCH_PARAMS][SP_VALUE], from[64], to[64], limit[16];
    struct search_filter f;
};

/* Fill r->f from the query string; 0, or an lt_err with a message. */
static int search_request(const struct mg_request_info *ri, struct search_req *r, char *err,
                          size_t errlen)
{
    const char **slots[NSEARCH_PARAMS] = {&r->f.project, &r->f.model,      &r->f.provider,
                                          &r->f.status,  &r->f.user,       &r->f.session,
                                          &r->f.tenant,  &r->f.version_set};
    int got = query_param(ri, "q", r->q, sizeof(r->q));
    if (got <= 0) {
        snprintf(err, errlen, got ? "q is too long" : "the search needs q, the words to find");
        return LT_INVALID_INPUT;
    }
    r->f.query = r->q;
    for (size_t i = 0; i < NSEARCH_PARAMS; i++) {
        got = query_param(ri, search_params[i], r->v[i], SP_VALUE);
        if (got < 0) {
            snprintf(err, errlen, "%s is too long", search_params[i]);
            return LT_INVALID_INPUT;
        }
        *slots[i] = got && r->v[i][0] ? r->v[i] : NULL;
    }
    int64_t now = time_now_ns();
    if ((got = query_param(ri, "from", r->from, sizeof(r->from))) != 0 &&
        (got < 0 || (r->from[0] && time_parse_when(r->from, now, &r->f.from_ns) != 0))) {
        snprintf(err, errlen, "from is not a time (ISO 8601, unix ns, or a duration like 24h)");
        return LT_INVALID_INPUT;
    }
    if ((got = query_param(ri, "to", r->to, sizeof(r->to))) != 0 &&
        (got < 0 || (r->to[0] && time_parse_when(r->to, now, &r->f.to_ns) != 0))) {
        snprintf(err, errlen, "to is not a time (ISO 8601, unix ns, or a duration like 24h)");
        return LT_INVALID_INPUT;
    }
    if ((got = query_param(ri, "limit", r->limit, sizeof(r->limit))) != 0) {
        char *end;
        long n = got > 0 ? strtol(r->limit, &end, 10) : -1;
        if (n < 1 || n > SEARCH_MAX_LIMIT || *end) {
            snprintf(err, errlen, "limit must be a number from 1 to %d", SEARCH_MAX_LIMIT);
            return LT_INVALID_INPUT;
        }
        r->f.limit = (int)n;
    }
    return LT_OK;
}

struct hits_out {
    struct buf b;
    int n;
};

static int add_hit(void *ctx, const struct search_hit *h)
{
    struct hits_out *o = ctx;
    return buf_puts(&o->b, o->n++ ? ",\n" : "\n") || search_hit_json(h, &o->b);
}

/* GET /api/v1/search?q=…&project=…&from=…: spans whose text matches, newest
 * first, as {"query", "count", "results": [...]}. Loopback only until the
 * read API has its keys (DESIGN.md §10: every query scoped to a project). */
static int h_search(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    if (!is_method(c, "GET"))
        return no_route(c, "GET");
    if (!is_loopback(c))
        return reply_err(c, LT_FORBIDDEN, "the read API answers loopback clients only", 0, 0);
    char err[512] = "out of memory";
    struct search_req *r = xcalloc(1, sizeof(*r));
    struct store *ro = NULL;
    struct hits_out o = {.n = 0};
    buf_init(&o.b, 0);
    int rc = search_request(mg_get_request_info(c), r, err, sizeof(err));
    if (rc == LT_OK && store_open(&ro, s->cfg.db_path, STORE_READONLY, err, sizeof(err)) != 0)
        rc = LT_UNAVAILABLE;
    if (rc == LT_OK)
        rc = search_run(store_db(ro), &r->f, add_hit, &o, err, sizeof(err));
    struct buf head;
    buf_init(&head, 0);
    if (rc == LT_OK &&
        (buf_puts(&head, "{\"query\":") || buf_json_str(&head, r->q) ||
         buf_printf(&head, ",\"count\":%d,\"results\":[", o.n) ||
         buf_append(&head, o.b.data, o.b.len) || buf_puts(&head, o.n ? "\n]}" : "]}")))
        rc = LT_INTERNAL;
    int status = rc == LT_OK ? reply(c, 200, "application/json", head.data, head.len, 0, 0)
                             : reply_err(c, (enum lt_err)rc, err, 0, 0);
    buf_release(&head);
    buf_release(&o.b);
    store_close(ro);
    free(r);
    return status;
}

/* POST /api/v1/admin/retention {"project": P, "days": N} (0 removes the
 * rule; an empty body sets nothing), then a retention pass now; answers
 * what the pass dropped and freed. Loopback only. */
static int parse_rule(const struct buf *body, char *project, size_t plen, int *days, char *err,
                      size_t errlen)
{
    *project = '\0';
    if (body->len == 0)
        return LT_OK;
    cJSON *j = jsonx_parse(body->data, body->len, err, errlen);
    if (!j)
        return LT_INVALID_INPUT;
    const char *p = jsonx_str(j, "project");
    int64_t d = -1;
    int rc = LT_OK;
    if (!p || !*p || strlen(p) >= plen || jsonx_member_int64(j, "days", &d) != 0 || d < 0 ||
        d > RETENTION_MAX_DAYS) {
        snprintf(err, errlen, "want {\"project\": name, \"days\": 0..%d}", RETENTION_MAX_DAYS);
        rc = LT_INVALID_INPUT;
    } else {
        snprintf(project, plen, "%s", p);
        *days = (int)d;
    }
    cJSON_Delete(j);
    return rc;
}

static int h_admin_retention(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    int refused = admin_gate(c, "POST", NULL);
    if (refused)
        return refused;
    struct buf body, out;
    buf_init(&body, 0);
    buf_init(&out, 0);
    char err[512] = "", project[256];
    int days = 0, status = 0;
    struct store *ro = NULL;
    struct retention_report rep;
    if (!read_body(s, c, &body, 0))
        goto done;
    int rc = parse_rule(&body, project, sizeof(project), &days, err, sizeof(err));
    if (rc == LT_OK && *project)
        rc = writer_retention_set(s->w, project, days, err, sizeof(err));
    if (rc == LT_OK && store_open(&ro, s->cfg.db_path, STORE_READONLY, err, sizeof(err)) != 0)
        rc = LT_UNAVAILABLE;
    if (rc == LT_OK)
        rc = writer_retention(s->w, store_db(ro), time_now_ns(), 1, &rep, err, sizeof(err));
    if (rc == LT_OK && (buf_puts(&out, "{\"status\":\"ok\",\"applied\":") ||
                        retention_report_json(&rep, &out) || buf_putc(&out, '}')))
        rc = LT_INTERNAL;
    status = rc == LT_OK ? reply(c, 200, "application/json", out.data, out.len, 0, 0)
                         : reply_err(c, (enum lt_err)rc, err, 0, 0);
done:
    store_close(ro);
    buf_release(&body);
    buf_release(&out);
    return status ? status : 400;
}

/* GET /api/v1/admin/budgets: the rules with their current spend; POST
 * {"op":"set",...} / {"op":"rm","id":N}: change them (collector/budget.h).
 * Loopback only. */
static int h_admin_budgets(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    int refused = admin_gate(c, "GET", "POST");
    if (refused)
        return refused;
    struct buf body, out;
    buf_init(&body, 0);
    buf_init(&out, RESP_MAX);
    char err[512] = "";
    int status = 0;
    if (is_method(c, "POST") && !read_body(s, c, &body, 0))
        goto done;
    int rc = budget_admin(s->ledger, s->w, mg_get_request_info(c)->request_method, body.data,
                          body.len, &out, err, sizeof(err));
    status = rc == LT_OK ? reply_buf(c, 200, "application/json", &out, 0)
                         : reply_err(c, (enum lt_err)rc, err, 0, 0);
done:
    buf_release(&body);
    buf_release(&out);
    return status ? status : 400;
}

/* Everything no route took; "/" itself is the UI's when one is mounted
 * (CivetWeb's "/$" pattern does not match "/"). */
static int h_fallback(struct mg_connection *c, void *cb)
{
    struct server *s = cb;
    if (s->cfg.root && strcmp(mg_get_request_info(c)->local_uri, "/") == 0)
        return s->cfg.root(c, s->cfg.mount_arg);
    return no_route(c, NULL);
}

static int log_cb(const struct mg_connection *c, const char *message)
{
    (void)c;
    log_msg(LOG_WARN, "http", "%s", message);
    return 1;
}

/* ---- lifecycle --------------------------------------------------------- */

static int start_http(struct server *s, char *err, size_t errlen)
{
    char threads[16], timeout[32];
    snprintf(threads, sizeof(threads), "%d", s->cfg.threads > 0 ? s->cfg.threads : 32);
    snprintf(timeout, sizeof(timeout), "%lld",
             (long long)(s->cfg.body_timeout_ms < 10000 ? s->cfg.body_timeout_ms : 10000));
    const char *opts[] = {"listening_ports",
                          s->cfg.listen,
                          "num_threads",
                          threads,
                          "request_timeout_ms",
                          timeout,
                          "keep_alive_timeout_ms",
                          "30000",
                          "enable_keep_alive",
                          "yes",
                          "tcp_nodelay",
                          "1", /* header and body are separate writes */
                          "access_control_allow_origin",
                          "",
                          "max_request_size",
                          "65536",
                          "listen_backlog",
                          "512",
                          "connection_queue",
                          "256",
                          NULL};
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof(cbs));
    cbs.log_message = log_cb;
    s->ctx = mg_start(&cbs, s, opts);
    if (!s->ctx) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not a HOST:PORT)", s->cfg.listen);
        return -1;
    }
    struct mg_server_port ports[4];
    int n = mg_get_server_ports(s->ctx, 4, ports);
    if (n < 1) {
        snprintf(err, errlen, "no listening port after start");
        return -1;
    }
    char host[64];
    snprintf(host, sizeof(host), "%s", s->cfg.listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    snprintf(s->url, sizeof(s->url), "http://%s:%d", colon && *host ? host : "127.0.0.1",
             ports[0].port);
    return 0;
}

/* An ingest route's handler, counted by status (GET /metrics). */
static int h_counted(struct mg_connection *c, void *cb)
{
    struct counted_route *k = cb;
    int status = k->fn(c, k->s);
    metrics_count(k->s->metrics, k->route, status);
    return status;
}

static void route_counted(struct server *s, enum metrics_route r, mg_request_handler fn)
{
    char pattern[64];
    s->counted[r] = (struct counted_route){s, r, fn};
    snprintf(pattern, sizeof(pattern), "%s$", metrics_route_path(r));
    mg_set_request_handler(s->ctx, pattern, h_counted, &s->counted[r]);
}

static void routes(struct server *s)
{
    mg_set_request_handler(s->ctx, "/healthz$", h_healthz, s);
    mg_set_request_handler(s->ctx, "/readyz$", h_readyz, s);
    mg_set_request_handler(s->ctx, "/metrics$", h_metrics, s);
    route_counted(s, METRICS_OTLP_TRACES, h_traces);
    route_counted(s, METRICS_OTLP_LOGS, h_logs);
    route_counted(s, METRICS_LANGFUSE_OTEL, h_traces);
    route_counted(s, METRICS_SPANS, h_spans);
    route_counted(s, METRICS_LANGFUSE, h_langfuse);
    mg_set_request_handler(s->ctx, "/api/v1/admin/prices$", h_admin_prices, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/compact$", h_admin_compact, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/retention$", h_admin_retention, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/budgets$", h_admin_budgets, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/keys$", h_admin_keys, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/prompts$", h_admin_prompts, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/evals$", h_admin_evals, s);
    mg_set_request_handler(s->ctx, "/api/v1/admin/alerts$", h_admin_alerts, s);
    mg_set_request_handler(s->ctx, "/api/v1/search$", h_search, s);
    proxy_mount(s->proxy, s->ctx);
    if (s->cfg.mount)
        s->cfg.mount(s->cfg.mount_arg, s->ctx);
    mg_set_request_handler(s->ctx, "/", h_fallback, s); /* CivetWeb takes the first match: last */
}

int server_start(struct server **out, const struct server_config *cfg, char *err, size_t errlen)
{
    struct server *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    struct price_table *prices = NULL;
    *out = NULL;
    pthread_rwlock_init(&s->keys_lock, NULL);
    s->metrics = metrics_new();
    if (store_open(&s->st, cfg->db_path, STORE_READWRITE, err, errlen) != STORE_OK)
        goto fail;
    if (price_store_load(store_db(s->st), &prices, err, errlen) != 0)
        goto fail;
    if (keyring_load(store_db(s->st), &s->keys, err, errlen) != 0)
        goto fail;
    if (writer_start(&s->w, s->st, &cfg->writer, err, errlen) != LT_OK)
        goto fail;
    s->pipe = pipeline_new(s->w, prices);
    pipeline_set_observer(s->pipe, cfg->on_commit, cfg->on_commit_arg);
    prices = NULL;
    if (budget_ledger_new(&s->ledger, cfg->db_path, time_now_ns(), err, errlen) != LT_OK)
        goto fail;
    s->cfg.proxy.max_body = cfg->max_body;
    s->cfg.proxy.body_timeout_ms = cfg->body_timeout_ms;
    s->cfg.proxy.resolve_key = key_project;
    s->cfg.proxy.resolve_arg = s;
    if (proxy_new(&s->proxy, &s->cfg.proxy, s->pipe, s->ledger, err, errlen) != 0)
        goto fail;
    mg_init_library(0);
    if (start_http(s, err, errlen) != 0)
        goto fail;
    routes(s);
    *out = s;
    return 0;
fail:
    price_table_free(prices);
    server_stop(s);
    return -1;
}

int server_commit(struct server *s, struct ingest_batch *b, char *err, size_t errlen)
{
    return pipeline_commit(s->pipe, b, 0, NULL, 1, err, errlen);
}

int server_write(struct server *s, writer_fn fn, void *ctx, char *err, size_t errlen)
{
    return writer_run(s->w, fn, ctx, err, errlen);
}

const char *server_url(const struct server *s)
{
    return s->url;
}

struct budget_ledger *server_ledger(struct server *s)
{
    return s->ledger;
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    if (s->ctx)
        mg_stop(s->ctx);  /* waits for in-flight handlers; they finish their commits */
    proxy_free(s->proxy); /* commits the spans the proxy still has queued */
    budget_ledger_free(s->ledger);
    writer_stop(s->w); /* drains whatever is still queued */
    pipeline_free(s->pipe);
    store_close(s->st);
    keyring_free(s->keys);
    metrics_free(s->metrics);
    pthread_rwlock_destroy(&s->keys_lock);
    free(s);
}
