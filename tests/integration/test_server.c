/*
 * The server over real HTTP on an ephemeral port: every ingest route and
 * encoding (OTLP JSON, protobuf, gzip, chunked; native; Langfuse; logs),
 * idempotent resends, the error taxonomy (400/404/413/415/503 with the right
 * codes), slow and malformed senders, and the CLI handing writes to it.
 * One server per test case (a fresh database each).
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/jsonx.h"
#include "core/xmem.h"
#include "tests/support/httpc.h"
#include "tests/support/pbenc.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct srv server;

static void start_with(const char *const *extra)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/it.db", dir);
    memset(&server, 0, sizeof(server));
    ck_assert_int_eq(srv_start(&server, db, extra), 0);
}

static void setup(void)
{
    start_with(NULL);
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0); /* drains, exits 0 */
    srv_release(&server);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

static int post(const char *path, const char *ctype, const void *body, size_t len, int gzip,
                size_t chunk, struct httpc_response *resp)
{
    struct httpc_request req = {.method = "POST",
                                .path = path,
                                .content_type = ctype,
                                .body = body,
                                .body_len = len,
                                .gzip = gzip,
                                .chunk_size = chunk};
    memset(resp, 0, sizeof(*resp));
    int rc = httpc_fetch(server.url, &req, 30000, resp);
    ck_assert_msg(rc == HTTPC_OK, "request failed: %s", httpc_strerror(rc));
    return resp->status;
}

static int64_t q(const char *sql)
{
    int64_t v = -1;
    ck_assert_msg(srv_query_int(db, sql, &v) == 0, "query failed: %s", sql);
    return v;
}

/* The error code in a taxonomy body. */
static void assert_error(const struct httpc_response *r, int status, const char *code)
{
    ck_assert_msg(r->status == status, "status %d, want %d: %s", r->status, status, r->body);
    char err[128];
    cJSON *j = jsonx_parse(r->body, r->body_len, err, sizeof(err));
    ck_assert_msg(j != NULL, "error body is not JSON: %s", r->body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    ck_assert_str_eq(jsonx_str(e, "code"), code);
    ck_assert_ptr_nonnull(jsonx_str(e, "message"));
    ck_assert(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(e, "retryable")));
    cJSON_Delete(j);
}

static char *shared(const char *rel, size_t *len)
{
    char *p = tu_read_file(tu_shared(rel), len);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_health_routes_and_unknown_paths)
{
    struct httpc_request get = {.method = "GET", .path = "/healthz"};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    httpc_response_release(&r);
    get.path = "/readyz";
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    httpc_response_release(&r);
    get.path = "/nope";
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    assert_error(&r, 404, "NOT_FOUND");
    httpc_response_release(&r);
    get.path = "/v1/traces";
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    assert_error(&r, 404, "NOT_FOUND");
    httpc_response_release(&r);
    get.path = "/metrics";
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_ptr_nonnull(strstr(r.body, "llmtap_spans_total"));
    static const char *const writer_figures[] = {"llmtap_compactions_total",
                                                 "llmtap_compaction_seconds_max",
                                                 "llmtap_checkpoints_total",
                                                 "llmtap_wal_frames_total",
                                                 "llmtap_hot_spans ",
                                                 "llmtap_segments ",
                                                 "llmtap_texts_total{result=\"stored\"}"};
    for (size_t i = 0; i < sizeof(writer_figures) / sizeof(writer_figures[0]); i++)
        ck_assert_msg(strstr(r.body, writer_figures[i]), "/metrics lacks %s", writer_figures[i]);
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_search_endpoint_finds_spans_and_types_bad_queries)
{
    const char *ndjson =
        "{\"trace_id\":\"22222222222222222222222222222222\",\"span_id\":\"2222222222222222\","
        "\"project\":\"shop\",\"kind\":\"llm\",\"start_ns\":\"1772460307000000000\","
        "\"end_ns\":\"1772460308000000000\",\"input\":[{\"role\":\"user\",\"content\":"
        "\"my parcel never arrived\"}],\"output\":\"I am sorry: a new parcel is on its way.\"}\n"
        "{\"trace_id\":\"33333333333333333333333333333333\",\"span_id\":\"3333333333333333\","
        "\"project\":\"docs\",\"kind\":\"llm\",\"start_ns\":\"1772460309000000000\","
        "\"end_ns\":\"1772460310000000000\",\"input\":\"parcel tracking\",\"output\":\"ok\"}\n";
    struct httpc_response r;
    ck_assert_int_eq(
        post("/api/v1/spans", "application/x-ndjson", ndjson, strlen(ndjson), 0, 0, &r), 200);
    httpc_response_release(&r);
    struct httpc_request get = {.method = "GET", .path = "/api/v1/search?q=parcel"};
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"count\":2"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "\"snippet\":\"I am sorry: a new parcel is on its way.\""));
    httpc_response_release(&r);
    get.path = "/api/v1/search?q=%22never+arrived%22&project=shop&limit=5";
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_msg(strstr(r.body, "\"count\":1") && strstr(r.body, "2222222222222222"), "%s",
                  r.body);
    httpc_response_release(&r);
    get.path = "/api/v1/search?q=parcel&project=docs&from=2026-03-02T14:05:00Z";
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_msg(strstr(r.body, "\"count\":1") && strstr(r.body, "3333333333333333"), "%s",
                  r.body);
    httpc_response_release(&r);
    static const char *const bad[] = {"/api/v1/search", "/api/v1/search?q=%22%22",
                                      "/api/v1/search?q=x&limit=0", "/api/v1/search?q=x&to=later"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        get.path = bad[i];
        ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
        assert_error(&r, 400, "INVALID_INPUT");
        httpc_response_release(&r);
    }
}
END_TEST

START_TEST(test_otlp_json_gzip_protobuf_store_once_and_price)
{
    size_t len;
    char *json = shared("payloads/otlp-genai-span.json", &len);
    struct httpc_response r;
    ck_assert_int_eq(post("/v1/traces", "application/json", json, len, 0, 0, &r), 200);
    ck_assert_str_eq(r.body, "{}");
    ck_assert_str_eq(httpc_header(&r, "Content-Type"), "application/json");
    httpc_response_release(&r);
    ck_assert_int_eq(post("/v1/traces", "application/json", json, len, 1, 0, &r), 200);
    httpc_response_release(&r);
    /* the same request as protobuf, gzipped and chunked */
    struct buf pb;
    buf_init(&pb, 0);
    char err[256];
    cJSON *tree = jsonx_parse(json, len, err, sizeof(err));
    ck_assert_int_eq(pbenc_traces(tree, &pb, err, sizeof(err)), 0);
    cJSON_Delete(tree);
    ck_assert_int_eq(post("/v1/traces", "application/x-protobuf", pb.data, pb.len, 1, 333, &r),
                     200);
    ck_assert_str_eq(httpc_header(&r, "Content-Type"), "application/x-protobuf");
    ck_assert_uint_eq(r.body_len, 0); /* full success: empty ExportTraceServiceResponse */
    httpc_response_release(&r);
    buf_release(&pb);
    free(json);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 3);
    /* gpt-4o-mini: 412 input (256 cached), 19 output => 54,000 nano-USD */
    ck_assert_int_eq(q("SELECT cost_nusd FROM spans WHERE span_id='7c6b5a4938271605'"), 54000);
    ck_assert_int_eq(q("SELECT ttft_ms FROM spans WHERE span_id='7c6b5a4938271605'"), 412);
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE service_version='2.3.1' AND"
                       " version_set LIKE 'app=2.3.1;model=gpt-4o-mini%'"),
                     2);
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE status='error' AND error_code='429'"), 1);
}
END_TEST

START_TEST(test_otlp_partial_success_and_bad_bodies)
{
    const char *half =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"6a1f0c9e2b7d4e3f8a5b1c0d9e8f7a6b\",\"spanId\":\"3c2b1a0f9e8d7c6b\","
        "\"name\":\"ok\",\"startTimeUnixNano\":\"1772460307123456000\","
        "\"endTimeUnixNano\":\"1772460308966456000\"},"
        "{\"traceId\":\"6a1f0c9e2b7d4e3f8a5b1c0d9e8f7a6b\",\"spanId\":\"3c2b\",\"name\":\"bad\"}]}]"
        "}]}";
    struct httpc_response r;
    ck_assert_int_eq(post("/v1/traces", "application/json", half, strlen(half), 0, 0, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"rejectedSpans\":\"1\""));
    httpc_response_release(&r);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 1);

    const char *broken = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{]";
    post("/v1/traces", "application/json", broken, strlen(broken), 0, 0, &r);
    assert_error(&r, 400, "INVALID_INPUT");
    ck_assert_ptr_nonnull(strstr(r.body, "byte"));
    httpc_response_release(&r);
    ck_assert_int_eq(post("/v1/traces", "application/x-protobuf", "\x0a\xff\xff", 3, 0, 0, &r),
                     400);
    ck_assert_str_eq(httpc_header(&r, "Content-Type"), "application/x-protobuf");
    httpc_response_release(&r);
    post("/v1/traces", "text/plain", "hello", 5, 0, 0, &r);
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    httpc_response_release(&r);
    post("/api/v1/spans", "application/xml", "<a/>", 4, 0, 0, &r);
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    httpc_response_release(&r);
    const char *notgz = "this is not gzip";
    struct httpc_request req = {.method = "POST",
                                .path = "/v1/traces",
                                .content_type = "application/json",
                                .headers = (const char *const[]){"Content-Encoding: gzip", NULL},
                                .body = notgz,
                                .body_len = strlen(notgz)};
    ck_assert_int_eq(httpc_fetch(server.url, &req, 5000, &r), HTTPC_OK);
    assert_error(&r, 400, "INVALID_INPUT");
    httpc_response_release(&r);
    req.headers = (const char *const[]){"Content-Encoding: br", NULL};
    ck_assert_int_eq(httpc_fetch(server.url, &req, 5000, &r), HTTPC_OK);
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    httpc_response_release(&r);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 1); /* nothing accepted was lost */
}
END_TEST

START_TEST(test_native_spans_chunked_ndjson_and_per_span_results)
{
    const char *ndjson =
        "{\"trace_id\":\"11111111111111111111111111111111\",\"span_id\":\"1111111111111111\","
        "\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":100},"
        "\"user\":\"u1\",\"start_ns\":\"1772460307000000000\",\"end_ns\":\"1772460308000000000\"}\n"
        "{\"model\":\"mystery-model-9\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}\n"
        "{\"kind\":\"banana\"}\n";
    struct httpc_response r;
    ck_assert_int_eq(
        post("/api/v1/spans", "application/x-ndjson", ndjson, strlen(ndjson), 0, 5, &r), 207);
    ck_assert_ptr_nonnull(strstr(r.body, "\"accepted\":2"));
    ck_assert_ptr_nonnull(strstr(r.body, "\"rejected\":1"));
    httpc_response_release(&r);
    ck_assert_int_eq(
        post("/api/v1/spans", "application/x-ndjson", ndjson, strlen(ndjson), 1, 0, &r), 207);
    ck_assert_ptr_nonnull(strstr(r.body, "\"duplicates\":1"));
    httpc_response_release(&r);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 3); /* the id-less span twice: new ids */
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE model='mystery-model-9' AND cost_usd IS"
                       " NULL AND cost_nusd IS NULL"),
                     2); /* unpriced, never 0 */
    /* gpt-4o-mini: 1000 * 0.15 + 100 * 0.60 per Mtok = 210,000 nano-USD */
    ck_assert_int_eq(q("SELECT cost_nusd FROM spans WHERE user_id='u1'"), 210000);
    const char *bad = "{\"model\": \"x\", \"usage\": ";
    post("/api/v1/spans", "application/json", bad, strlen(bad), 0, 0, &r);
    assert_error(&r, 400, "INVALID_INPUT");
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_langfuse_batch_is_207_and_deduplicated)
{
    size_t len;
    char *batch = shared("payloads/langfuse-ingestion-batch.json", &len);
    struct httpc_response r;
    ck_assert_int_eq(post("/api/public/ingestion", "application/json", batch, len, 0, 0, &r), 207);
    ck_assert_ptr_nonnull(strstr(r.body, "\"successes\""));
    httpc_response_release(&r);
    int64_t spans = q("SELECT count(*) FROM spans");
    ck_assert_int_ge(spans, 4);
    ck_assert_int_eq(post("/api/public/ingestion", "application/json", batch, len, 0, 0, &r), 207);
    httpc_response_release(&r);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), spans);
    ck_assert_int_eq(q("SELECT count(*) FROM scores"), 1);
    ck_assert_int_eq(q("SELECT cost_nusd FROM spans WHERE prompt_name='support-answer'"), 54000);
    free(batch);
    const char *junk = "{\"batch\": 5}";
    ck_assert_int_eq(
        post("/api/public/ingestion", "application/json", junk, strlen(junk), 0, 0, &r), 400);
    ck_assert_ptr_nonnull(strstr(r.body, "Invalid request data"));
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_logs_join_messages_to_their_span)
{
    const char *logs =
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
        "{\"timeUnixNano\":\"1772460307100000000\",\"eventName\":\"gen_ai.user.message\","
        "\"traceId\":\"abababababababababababababababab\",\"spanId\":\"abababababababab\","
        "\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"content\",\"value\":{\"stringValue\":"
        "\"what is 2+2\"}}]}}},"
        "{\"timeUnixNano\":\"1772460307900000000\",\"eventName\":\"gen_ai.choice\","
        "\"traceId\":\"abababababababababababababababab\",\"spanId\":\"abababababababab\","
        "\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"finish_reason\",\"value\":"
        "{\"stringValue\":\"stop\"}},{\"key\":\"message\",\"value\":{\"kvlistValue\":{\"values\":"
        "[{\"key\":\"content\",\"value\":{\"stringValue\":\"4\"}}]}}}]}}}]}]}]}";
    const char *span =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"abababababababababababababababab\",\"spanId\":\"abababababababab\",\"name\":\"chat\","
        "\"startTimeUnixNano\":\"1772460307000000000\",\"endTimeUnixNano\":"
        "\"1772460308000000000\",\"attributes\":[{\"key\":\"gen_ai.request.model\",\"value\":"
        "{\"stringValue\":\"gpt-4o\"}}]}]}]}]}";
    struct httpc_response r;
    ck_assert_int_eq(post("/v1/logs", "application/json", logs, strlen(logs), 0, 0, &r), 200);
    httpc_response_release(&r);
    ck_assert_int_eq(post("/v1/traces", "application/json", span, strlen(span), 0, 0, &r), 200);
    httpc_response_release(&r);
    char *rows = srv_query(db, "SELECT input, output FROM spans");
    ck_assert_ptr_nonnull(rows);
    ck_assert_ptr_nonnull(strstr(rows, "what is 2+2"));
    ck_assert_ptr_nonnull(strstr(rows, "\\\"4\\\""));
    free(rows);
}
END_TEST

/* ---- limits: a server with a 1 MiB body cap (and one with a 1 s deadline) ---- */

static void setup_limits(void)
{
    static const char *const extra[] = {"--max-body", "1048576", NULL};
    start_with(extra);
}

static void setup_deadline(void)
{
    static const char *const extra[] = {"--body-timeout", "1s", NULL};
    start_with(extra);
}

START_TEST(test_oversized_bodies_and_gzip_bombs_get_413)
{
    size_t n = 2u << 20;
    char *big = xmalloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    struct httpc_response r;
    post("/v1/traces", "application/json", big, n, 0, 0, &r);
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    httpc_response_release(&r);
    post("/api/v1/spans", "application/json", big, n, 0, 4096, &r); /* chunked: no length */
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    httpc_response_release(&r);
    free(big);
    size_t zn = 64u << 20; /* 64 MiB of spaces: a bomb that gzips to ~64 KiB */
    char *zeros = xmalloc(zn);
    memset(zeros, ' ', zn);
    post("/v1/traces", "application/json", zeros, zn, 1, 0, &r);
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    ck_assert_ptr_nonnull(strstr(r.body, "after decompression"));
    httpc_response_release(&r);
    free(zeros);
}
END_TEST

START_TEST(test_slow_sender_is_cut_off_by_the_body_deadline)
{
    struct httpc *c = httpc_open("127.0.0.1", server.port, 10000);
    ck_assert_ptr_nonnull(c);
    const char *head = "POST /api/v1/spans HTTP/1.1\r\nHost: x\r\nContent-Type: "
                       "application/json\r\nContent-Length: 4000\r\n\r\n";
    ck_assert_int_eq(httpc_send_raw(c, head, strlen(head)), HTTPC_OK);
    char *body = xmalloc(4000);
    memset(body, ' ', 4000);
    int sent = httpc_send_slow(c, body, 4000, 10, 100); /* 10 bytes / 100 ms: 40 s in all */
    ck_assert(sent == HTTPC_OK || sent == HTTPC_ESEND); /* cut off mid-way is fine */
    struct httpc_response r;
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(httpc_read_response(c, false, &r), HTTPC_OK);
    assert_error(&r, 400, "INVALID_INPUT");
    ck_assert_ptr_nonnull(strstr(r.body, "not received within"));
    httpc_response_release(&r);
    httpc_close(c);
    free(body);
}
END_TEST

START_TEST(test_transfer_encoding_with_content_length_is_refused)
{
    struct httpc *c = httpc_open("127.0.0.1", server.port, 10000);
    ck_assert_ptr_nonnull(c);
    const char *req = "POST /api/v1/spans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                      "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "2\r\n{}\r\n0\r\n\r\n";
    ck_assert_int_eq(httpc_send_raw(c, req, strlen(req)), HTTPC_OK);
    struct httpc_response r;
    memset(&r, 0, sizeof(r));
    int rc = httpc_read_response(c, false, &r);
    if (rc == HTTPC_OK) { /* refused by us, or by CivetWeb itself: never accepted */
        ck_assert_int_ge(r.status, 400);
        ck_assert_int_lt(r.status, 500);
    }
    httpc_response_release(&r);
    httpc_close(c);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 0);
}
END_TEST

START_TEST(test_garbage_requests_never_wedge_the_server)
{
    const char *junk[] = {
        "GARBAGE\r\n\r\n", "POST /v1/traces HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /v1/traces HTTP/9.9\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01",
        "POST /api/v1/spans HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct httpc *c = httpc_open("127.0.0.1", server.port, 3000);
        ck_assert_ptr_nonnull(c);
        struct httpc_response r;
        memset(&r, 0, sizeof(r));
        if (httpc_send_raw(c, junk[i], strlen(junk[i])) == HTTPC_OK &&
            httpc_read_response(c, false, &r) == HTTPC_OK)
            ck_assert_int_ge(r.status, 400); /* answered with an error, or closed */
        httpc_response_release(&r);
        httpc_close(c);
    }
    struct httpc_request get = {.method = "GET", .path = "/healthz"};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &get, 5000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 200);
    httpc_response_release(&r);
}
END_TEST

/* ---- queue full: a tiny write queue under concurrent load ---- */

static void setup_tiny_queue(void)
{
    static const char *const extra[] = {"--queue", "50", NULL};
    start_with(extra);
}

struct loader {
    int id, got503, acked;
    char retry_after[16];
};

static void *load(void *arg)
{
    struct loader *l = arg;
    struct buf body;
    buf_init(&body, 0);
    for (int round = 0; round < 20 && !l->got503; round++) {
        buf_reset(&body);
        int rc = buf_puts(&body, "{\"spans\":[");
        for (int i = 0; i < 100; i++)
            rc |= buf_printf(&body, "%s{\"span_id\":\"%04x%04x%08x\",\"model\":\"gpt-4o\"}",
                             i ? "," : "", l->id + 1, round + 1, i + 1);
        rc |= buf_puts(&body, "]}");
        ck_assert_int_eq(rc, 0);
        struct httpc_request req = {.method = "POST",
                                    .path = "/api/v1/spans",
                                    .content_type = "application/json",
                                    .body = body.data,
                                    .body_len = body.len};
        struct httpc_response r;
        ck_assert_int_eq(httpc_fetch(server.url, &req, 30000, &r), HTTPC_OK);
        if (r.status == 503) {
            l->got503 = 1;
            const char *ra = httpc_header(&r, "Retry-After");
            snprintf(l->retry_after, sizeof(l->retry_after), "%s", ra ? ra : "");
            ck_assert_ptr_nonnull(strstr(r.body, "UNAVAILABLE"));
        } else {
            ck_assert_int_eq(r.status, 200);
            l->acked += 100;
        }
        httpc_response_release(&r);
    }
    buf_release(&body);
    return NULL;
}

START_TEST(test_full_queue_answers_503_with_retry_after)
{
    struct loader ls[8];
    pthread_t th[8];
    memset(ls, 0, sizeof(ls));
    for (int i = 0; i < 8; i++) {
        ls[i].id = i;
        pthread_create(&th[i], NULL, load, &ls[i]);
    }
    int any503 = 0, acked = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        any503 |= ls[i].got503;
        acked += ls[i].acked;
        if (ls[i].got503)
            ck_assert_str_eq(ls[i].retry_after, "1");
    }
    ck_assert_msg(any503, "no request was refused with a 50-span queue and 8 senders");
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), acked); /* every ack is stored */
}
END_TEST

/* ---- the CLI hands writes to the running server ---- */

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cli_import_and_price_import_go_through_the_server)
{
    char *ndjson = xasprintf("%s/in.ndjson", dir);
    FILE *f = fopen(ndjson, "w");
    fprintf(f, "{\"model\":\"my-local-llama-70b\",\"usage\":{\"input_tokens\":1000000,"
               "\"output_tokens\":0}}\n");
    fclose(f);
    char *prices = xasprintf("%s/prices.json", dir);
    f = fopen(prices, "w");
    fprintf(f, "{\"my-local-llama-70b\":{\"litellm_provider\":\"openai\",\"mode\":\"chat\","
               "\"input_cost_per_token\":2e-07,\"output_cost_per_token\":4e-07}}");
    fclose(f);
    char *cmd = xasprintf("%s prices import --db '%s' '%s' > '%s/out.txt'", tu_llmtap_bin(), db,
                          prices, dir);
    ck_assert_int_eq(run(cmd), 0);
    free(cmd);
    cmd = xasprintf("%s import --db '%s' '%s' '%s' > '%s/out.txt'", tu_llmtap_bin(), db, ndjson,
                    tu_shared("payloads/otlp-openllmetry-span.json"), dir);
    ck_assert_int_eq(run(cmd), 0);
    free(cmd);
    char *outp = xasprintf("%s/out.txt", dir);
    char *out = tu_read_file(outp, NULL);
    ck_assert_ptr_nonnull(strstr(out, "via the running server"));
    free(out);
    free(outp);
    /* 1M input tokens at the imported $0.20/Mtok */
    ck_assert_int_eq(q("SELECT cost_nusd FROM spans WHERE model='my-local-llama-70b'"), 200000000);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 3);
    /* retention through the server: two spans (of 2026-03) are older than a day; the one
     * without a start time started now */
    cmd = xasprintf("%s retention set --db '%s' --json default 1 > '%s/out.txt'", tu_llmtap_bin(),
                    db, dir);
    ck_assert_int_eq(run(cmd), 0);
    free(cmd);
    outp = xasprintf("%s/out.txt", dir);
    out = tu_read_file(outp, NULL);
    ck_assert_msg(strstr(out, "\"status\":\"ok\"") && strstr(out, "\"spans\":2"), "got: %s", out);
    free(out);
    free(outp);
    ck_assert_int_eq(q("SELECT count(*) FROM spans WHERE model = 'my-local-llama-70b'"), 1);
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 1);
    ck_assert_int_eq(q("SELECT count(*) FROM retention WHERE project = 'default' AND days = 1"), 1);
    free(ndjson);
    free(prices);
}
END_TEST

START_TEST(test_an_unknown_ingest_key_is_401_on_every_route)
{
    static const char *const hdrs[] = {"LLMTap-Key: lt_0000000000000000000000000000000000000000",
                                       NULL};
    static const char *const paths[] = {"/api/v1/spans", "/v1/traces", "/api/public/ingestion"};
    static const char *const bodies[] = {"{\"kind\":\"llm\"}", "{}", "{\"batch\":[]}"};
    for (int i = 0; i < 3; i++) {
        struct httpc_request req = {.method = "POST",
                                    .path = paths[i],
                                    .content_type = "application/json",
                                    .headers = hdrs,
                                    .body = bodies[i],
                                    .body_len = strlen(bodies[i])};
        struct httpc_response r;
        ck_assert_int_eq(httpc_fetch(server.url, &req, 5000, &r), HTTPC_OK);
        assert_error(&r, 401, "UNAUTHENTICATED");
        if (i == 1)
            ck_assert_ptr_nonnull(strstr(r.body, "\"code\":16")); /* gRPC UNAUTHENTICATED */
        httpc_response_release(&r);
    }
    ck_assert_int_eq(q("SELECT count(*) FROM spans"), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("ingest");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_health_routes_and_unknown_paths);
    tcase_add_test(tc, test_an_unknown_ingest_key_is_401_on_every_route);
    tcase_add_test(tc, test_search_endpoint_finds_spans_and_types_bad_queries);
    tcase_add_test(tc, test_otlp_json_gzip_protobuf_store_once_and_price);
    tcase_add_test(tc, test_otlp_partial_success_and_bad_bodies);
    tcase_add_test(tc, test_native_spans_chunked_ndjson_and_per_span_results);
    tcase_add_test(tc, test_langfuse_batch_is_207_and_deduplicated);
    tcase_add_test(tc, test_logs_join_messages_to_their_span);
    tcase_add_test(tc, test_cli_import_and_price_import_go_through_the_server);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup_limits, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_oversized_bodies_and_gzip_bombs_get_413);
    tcase_add_test(tc, test_transfer_encoding_with_content_length_is_refused);
    tcase_add_test(tc, test_garbage_requests_never_wedge_the_server);
    suite_add_tcase(s, tc);
    tc = tcase_create("deadline");
    tcase_add_checked_fixture(tc, setup_deadline, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_slow_sender_is_cut_off_by_the_body_deadline);
    suite_add_tcase(s, tc);
    tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup_tiny_queue, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_full_queue_answers_503_with_retry_after);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
