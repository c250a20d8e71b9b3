/*
 * cmd_import: `llmtap import FILE...`. Files are native spans (one JSON
 * document: a span, an array, {"spans":[...]}; or NDJSON) or OTLP JSON
 * (one ExportTraceServiceRequest / ExportLogsServiceRequest document, or one
 * per line as the OTel Collector's file exporter writes them).
 *
 * One writer, everywhere: when a server holds the database, batches are
 * posted to it over loopback; otherwise the file is opened read-write here
 * and the same decoders, pipeline and writer as the server's are used.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "collector/native.h"
#include "collector/otlp.h"
#include "collector/pipeline.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/price_store.h"
#include "store/store.h"
#include "store/writer.h"

#define BATCH_LINES 1000
#define BATCH_BYTES (8u << 20)

static const char import_usage[] =
    "usage: llmtap import [--db PATH] FILE...\n"
    "\n"
    "Loads spans from native JSON/NDJSON files or OTLP JSON files ('-' reads stdin).\n"
    "A record's own \"project\" is honoured. Spans already stored are skipped (idempotent).\n"
    "When `llmtap serve` holds the database, the spans are handed to it.\n";

struct sink {
    char *url;        /* a running server, or NULL */
    struct store *st; /* local mode */
    struct writer *w;
    struct pipeline *pipe;
    int64_t accepted, duplicates, rejected;
    int progress;
    const char *file;
};

static void count_batch(struct sink *k, const struct ingest_batch *b)
{
    for (size_t i = 0; i < b->nspans; i++) {
        enum rec_result r = b->spans[i].result;
        k->accepted += r == REC_CREATED || r == REC_MERGED;
        k->duplicates += r == REC_DUPLICATE;
    }
}

/* POST with retries on 503 (the server's queue is full). */
static int post(struct sink *k, const char *path, const char *ctype, const char *body, size_t len,
                cJSON **resp_json, char *err, size_t errlen)
{
    char *url = xasprintf("%s%s", k->url, path);
    int rc = -1;
    for (int attempt = 0; attempt < 30; attempt++) {
        struct buf resp;
        buf_init(&resp, 64u << 20);
        long status = 0;
        rc = cli_http_post(url, ctype, NULL, body, len, &resp, &status, err, errlen);
        if (rc == 0 && status == 503) {
            buf_release(&resp);
            sleep(1);
            rc = -1;
            continue;
        }
        if (rc == 0 && (status < 200 || status >= 300) && status != 400) {
            snprintf(err, errlen, "server answered %ld: %.300s", status, buf_str(&resp));
            rc = -1;
        } else if (rc == 0) {
            *resp_json = jsonx_parse(buf_str(&resp), resp.len, err, errlen);
        }
        buf_release(&resp);
        break;
    }
    free(url);
    return rc;
}

static int64_t member_count(const cJSON *o, const char *key)
{
    int64_t v = 0;
    return jsonx_member_int64(o, key, &v) == 0 ? v : 0;
}

static int sink_native(struct sink *k, const char *body, size_t len, int ndjson, char *err,
                       size_t errlen)
{
    if (k->url) {
        cJSON *resp = NULL;
        if (post(k, "/api/v1/spans", ndjson ? "application/x-ndjson" : "application/json", body,
                 len, &resp, err, errlen) != 0)
            return -1;
        k->accepted += member_count(resp, "accepted");
        k->duplicates += member_count(resp, "duplicates");
        k->rejected += member_count(resp, "rejected");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp, "error");
        if (e && !cJSON_GetObjectItemCaseSensitive(resp, "results")) {
            snprintf(err, errlen, "%s", jsonx_str(e, "message") ? jsonx_str(e, "message") : "?");
            cJSON_Delete(resp);
            return -1;
        }
        cJSON_Delete(resp);
        return 0;
    }
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct native_report *rep = NULL;
    int rc = native_decode(body, len, ndjson, &b, &rep, err, errlen);
    if (rc == LT_OK)
        rc = pipeline_commit(k->pipe, &b, len, NULL, 1, err, errlen);
    if (rc == LT_OK) {
        count_batch(k, &b);
        k->rejected += (int64_t)native_report_rejected(rep);
    }
    native_report_free(rep);
    ingest_batch_release(&b);
    return rc == LT_OK ? 0 : -1;
}

static int sink_otlp(struct sink *k, const char *body, size_t len, int logs, char *err,
                     size_t errlen)
{
    cJSON *req = jsonx_parse(body, len, err, errlen);
    if (!req)
        return -1;
    struct ingest_batch b;
    ingest_batch_init(&b);
    struct otlp_result res;
    memset(&res, 0, sizeof(res));
    int rc = logs ? otlp_logs_decode(req, &b, &res) : otlp_traces_decode(req, &b, &res);
    cJSON_Delete(req);
    if (rc != LT_OK) {
        snprintf(err, errlen, "%s", res.message[0] ? res.message : "not an OTLP request");
    } else if (k->url) {
        cJSON *resp = NULL;
        rc = post(k, logs ? "/v1/logs" : "/v1/traces", "application/json", body, len, &resp, err,
                  errlen);
        if (rc == 0) {
            const cJSON *ps = cJSON_GetObjectItemCaseSensitive(resp, "partialSuccess");
            int64_t rej = member_count(ps, logs ? "rejectedLogRecords" : "rejectedSpans");
            k->rejected += rej;
            k->accepted += (int64_t)ingest_count(&b);
        }
        cJSON_Delete(resp);
    } else {
        rc = pipeline_commit(k->pipe, &b, len, NULL, 1, err, errlen);
        if (rc == LT_OK) {
            count_batch(k, &b);
            k->accepted += (int64_t)b.nmsgs;
            k->rejected += res.rejected;
        }
    }
    ingest_batch_release(&b);
    return rc == LT_OK ? 0 : -1;
}

static void progress(const struct sink *k, int done)
{
    if (!k->progress)
        return;
    fprintf(stderr, "\r%s: %" PRId64 " imported, %" PRId64 " duplicate, %" PRId64 " rejected%s",
            k->file, k->accepted, k->duplicates, k->rejected, done ? "\n" : "");
}

/* "{"resourceSpans"..." / "{"resourceLogs"...": 1 traces, 2 logs, 0 native. */
static int otlp_kind(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i >= n || p[i] != '{')
        return 0;
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (n - i >= 15 && memcmp(p + i, "\"resourceSpans\"", 15) == 0)
        return 1;
    if (n - i >= 14 && memcmp(p + i, "\"resourceLogs\"", 14) == 0)
        return 2;
    return 0;
}

/* NDJSON: native lines go in contiguous runs of up to BATCH_LINES lines;
 * an OTLP line is sent on its own. */
static int import_lines(struct sink *k, const char *text, size_t len, char *err, size_t errlen)
{
    const char *run = text, *p = text, *end = text + len;
    size_t lines = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        int kind = otlp_kind(p, (size_t)(line_end - p));
        if (kind) {
            if (p > run && sink_native(k, run, (size_t)(p - run), 1, err, errlen) != 0)
                return -1;
            if (sink_otlp(k, p, (size_t)(line_end - p), kind == 2, err, errlen) != 0)
                return -1;
            run = nl ? nl + 1 : end;
            lines = 0;
            progress(k, 0);
        } else if (++lines >= BATCH_LINES || (size_t)(line_end - run) >= BATCH_BYTES) {
            if (sink_native(k, run, (size_t)(line_end - run), 1, err, errlen) != 0)
                return -1;
            run = nl ? nl + 1 : end;
            lines = 0;
            progress(k, 0);
        }
        p = nl ? nl + 1 : end;
    }
    if (run < end && strspn(run, " \t\r\n") < (size_t)(end - run) &&
        sink_native(k, run, (size_t)(end - run), 1, err, errlen) != 0)
        return -1;
    return 0;
}

static int import_file(struct sink *k, const char *path)
{
    char err[512];
    size_t len = 0;
    char *text = cli_read_file(path, &len, err, sizeof(err));
    if (!text)
        return cli_fail("import", "%s", err);
    k->file = path;
    int rc;
    char perr[256];
    cJSON *doc = jsonx_parse(text, len, perr, sizeof(perr));
    if (doc) { /* one JSON document */
        int kind = cJSON_GetObjectItemCaseSensitive(doc, "resourceSpans")  ? 1
                   : cJSON_GetObjectItemCaseSensitive(doc, "resourceLogs") ? 2
                                                                           : 0;
        cJSON_Delete(doc);
        rc = kind ? sink_otlp(k, text, len, kind == 2, err, sizeof(err))
                  : sink_native(k, text, len, 0, err, sizeof(err));
    } else {
        rc = import_lines(k, text, len, err, sizeof(err));
    }
    free(text);
    progress(k, 1);
    if (rc != 0)
        return cli_fail("import", "%s: %s", path, err);
    return 0;
}

static int open_local(struct sink *k, const char *db, char *err, size_t errlen)
{
    struct price_table *prices = NULL;
    if (store_open(&k->st, db, STORE_READWRITE, err, errlen) != STORE_OK)
        return -1;
    if (price_store_load(store_db(k->st), &prices, err, errlen) != 0)
        return -1;
    if (writer_start(&k->w, k->st, NULL, err, errlen) != LT_OK) {
        price_table_free(prices);
        return -1;
    }
    k->pipe = pipeline_new(k->w, prices);
    return 0;
}

int cmd_import(int argc, char **argv)
{
    const char *db = NULL;
    int first_file = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, import_usage, &db, NULL);
        if (r == CLI_HELP)
            return 0;
        if (r < 0)
            return CLI_USAGE_ERROR;
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "llmtap import: unknown option '%s'\n%s", argv[i], import_usage);
            return CLI_USAGE_ERROR;
        } else if (!first_file) {
            first_file = i;
        }
    }
    if (!first_file) {
        fputs(import_usage, stderr);
        return CLI_USAGE_ERROR;
    }
    struct sink k;
    memset(&k, 0, sizeof(k));
    k.progress = isatty(STDERR_FILENO);
    const char *path = cli_db_path(db);
    k.url = cli_find_server(path);
    char err[512];
    int rc = 0;
    if (!k.url && open_local(&k, path, err, sizeof(err)) != 0)
        rc = cli_fail("import", "%s", err);
    for (int i = first_file; i < argc && rc == 0; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "--db", &v) != 0)
            continue;
        rc = import_file(&k, argv[i]);
    }
    if (rc == 0)
        printf("imported %" PRId64 " records (%" PRId64 " already stored, %" PRId64
               " rejected)%s\n",
               k.accepted, k.duplicates, k.rejected, k.url ? " via the running server" : "");
    pipeline_free(k.pipe);
    writer_stop(k.w);
    store_close(k.st);
    free(k.url);
    return rc ? 1 : (k.rejected ? 1 : 0);
}
