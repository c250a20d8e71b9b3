/*
 * The C shim (sdk-shims/c/llmtap.c) against a live llmtap server (one for
 * the suite, started with srv_start; spans read back with srv_query) and
 * against a small CivetWeb responder in this file that counts requests,
 * keeps the last body and key, and can answer 503 with Retry-After.
 * Covers: parent/child spans with every field, JSON escaping and invalid
 * UTF-8, drop-oldest on a full queue, retry on 503, server down counted as
 * failed (never reported to the app), LLMTAP_DISABLED, the environment,
 * shutdown flushing, a bad caller JSON rejecting only its own span.
 */
#include <civetweb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "sdk-shims/c/llmtap.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct srv server;

static void live_setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/shim.db", dir);
    if (srv_start(&server, db, NULL) != 0) {
        fprintf(stderr, "test_c_shim: the server did not start\n");
        exit(1);
    }
}

static void live_teardown(void)
{
    if (server.pid && srv_stop(&server, SIGTERM, 20000) != 0)
        fprintf(stderr, "test_c_shim: the server did not exit cleanly\n");
    srv_release(&server);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

/* A client for 'endpoint' with a short interval and fast retries. */
static struct llmtap *open_client(const char *endpoint, void (*tweak)(struct llmtap_config *))
{
    struct llmtap_config cfg;
    llmtap_config_init(&cfg);
    cfg.endpoint = endpoint;
    cfg.flush_interval_ms = 100;
    cfg.retry_base_ms = 10;
    if (tweak)
        tweak(&cfg);
    struct llmtap *t = llmtap_open(&cfg);
    ck_assert_ptr_nonnull(t);
    return t;
}

static cJSON *query_rows(const char *sql)
{
    char *out = srv_query(db, sql);
    ck_assert_msg(out != NULL, "query failed: %s", sql);
    char err[128];
    cJSON *j = jsonx_parse(out, strlen(out), err, sizeof(err));
    ck_assert_msg(cJSON_IsArray(j), "not a JSON array: %s", out);
    free(out);
    return j;
}

static const cJSON *row_named(const cJSON *rows, const char *name)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *n = jsonx_str(r, "name");
        if (n && strcmp(n, name) == 0)
            return r;
    }
    ck_abort_msg("no span named %s", name);
    return NULL;
}

static int64_t num(const cJSON *row, const char *key)
{
    int64_t v = -1;
    ck_assert_msg(jsonx_member_int64(row, key, &v) == 0, "%s is not an integer", key);
    return v;
}

/* The column 'key' holds a JSON string (how a text output is stored): is it 'want'? */
static void assert_json_text(const cJSON *row, const char *key, const char *want)
{
    const char *text = jsonx_str(row, key);
    ck_assert_ptr_nonnull(text);
    char err[128];
    cJSON *j = jsonx_parse(text, strlen(text), err, sizeof(err));
    ck_assert_msg(cJSON_IsString(j), "%s is not a JSON string: %s", key, text);
    ck_assert_str_eq(j->valuestring, want);
    cJSON_Delete(j);
}

static void assert_stats(struct llmtap *t, uint64_t sent, uint64_t dropped, uint64_t failed)
{
    struct llmtap_stats st;
    llmtap_stats(t, &st);
    ck_assert_msg(st.sent == sent && st.dropped == dropped && st.failed == failed,
                  "stats sent %llu dropped %llu failed %llu, want %llu %llu %llu",
                  (unsigned long long)st.sent, (unsigned long long)st.dropped,
                  (unsigned long long)st.failed, (unsigned long long)sent,
                  (unsigned long long)dropped, (unsigned long long)failed);
}

/* ---- a scripted responder ------------------------------------------------ */

struct responder {
    struct mg_context *ctx;
    char url[64];
    pthread_mutex_t mu;
    int fail_left; /* answer this many requests with 503 + Retry-After: 1 */
    int requests;
    int64_t at_ns[16];
    int spans; /* lines received in answered requests */
    char key[128];
    char *last_body;
};

static int responder_handle(struct mg_connection *c, void *ud)
{
    struct responder *r = ud;
    const struct mg_request_info *ri = mg_get_request_info(c);
    long long len = ri->content_length > 0 ? ri->content_length : 0;
    char *body = xmalloc((size_t)len + 1);
    long long got = 0;
    while (got < len) {
        int n = mg_read(c, body + got, (size_t)(len - got));
        if (n <= 0)
            break;
        got += n;
    }
    body[got] = '\0';
    int lines = 0;
    for (long long i = 0; i < got; i++)
        lines += body[i] == '\n';
    const char *key = mg_get_header(c, "LLMTap-Key");
    pthread_mutex_lock(&r->mu);
    if (r->requests < 16)
        r->at_ns[r->requests] = time_mono_ns();
    r->requests++;
    snprintf(r->key, sizeof(r->key), "%s", key ? key : "");
    free(r->last_body);
    r->last_body = body;
    int fail = r->fail_left > 0;
    if (fail)
        r->fail_left--;
    else
        r->spans += lines;
    pthread_mutex_unlock(&r->mu);
    if (fail) {
        mg_printf(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
        return 503;
    }
    char answer[128];
    int n = snprintf(answer, sizeof(answer),
                     "{\"accepted\":%d,\"duplicates\":0,\"rejected\":0,\"results\":[]}", lines);
    mg_printf(c,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
              "Connection: close\r\n\r\n%s",
              n, answer);
    return 200;
}

static void responder_start(struct responder *r, int fail)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->fail_left = fail;
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", NULL};
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof(cbs));
    r->ctx = mg_start(&cbs, r, opts);
    ck_assert_ptr_nonnull(r->ctx);
    mg_set_request_handler(r->ctx, "/api/v1/spans", responder_handle, r);
    struct mg_server_port ports[2];
    ck_assert_int_ge(mg_get_server_ports(r->ctx, 2, ports), 1);
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", ports[0].port);
}

static void responder_stop(struct responder *r)
{
    mg_stop(r->ctx);
    free(r->last_body);
    pthread_mutex_destroy(&r->mu);
}

/* A URL nothing listens on. */
static void closed_url(char *url, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    snprintf(url, len, "http://127.0.0.1:%d", ntohs(a.sin_port));
    close(fd);
}

/* ---- live server ----------------------------------------------------------- */

static void set_every_field(struct llmtap_span *c)
{
    llmtap_span_set(c, LLMTAP_KIND, "llm");
    llmtap_span_set(c, LLMTAP_PROVIDER, "openai");
    llmtap_span_set(c, LLMTAP_MODEL, "gpt-4o-mini");
    llmtap_span_set(c, LLMTAP_RESPONSE_MODEL, "gpt-4o-mini-2024-07-18");
    llmtap_span_set(c, LLMTAP_FINISH_REASON, "stop");
    llmtap_span_set_input_json(c, "[{\"role\": \"system\", \"content\": \"Be brief\"},\n"
                                  " {\"role\": \"user\", \"content\": \"Where is A-1042?\"}]");
    llmtap_span_set_output_text(c, "It shipped.");
    llmtap_span_set_usage(c, 412, 19, 256, 10, 4);
    llmtap_span_set_cost(c, 0.000054);
    llmtap_span_set_ttft_ms(c, 412.5);
    llmtap_span_set_prompt(c, "support-answer", 7, "{\"order_id\": \"A-1042\"}");
    llmtap_span_set_params_json(c, "{\"temperature\": 0.2}");
    llmtap_span_add_tag(c, "support");
    llmtap_span_add_tag(c, "beta");
    llmtap_span_set_attr(c, "region", "eu-west-1");
    llmtap_span_set_error(c, "RATE_LIMITED", "upstream said 429");
}

START_TEST(test_parent_child_spans_with_every_field_are_stored)
{
    struct llmtap *t = open_client(server.url, NULL);
    struct llmtap_span *p = llmtap_span_begin(t, "c-agent", NULL);
    llmtap_span_set(p, LLMTAP_KIND, "agent");
    llmtap_span_set(p, LLMTAP_USER, "u_c");
    llmtap_span_set(p, LLMTAP_SESSION, "sess_c");
    llmtap_span_set(p, LLMTAP_TENANT, "acme");
    llmtap_span_set(p, LLMTAP_VERSION_SET, "prompt=support-answer@7;app=2");
    llmtap_span_set(p, LLMTAP_PROJECT, "cshim");
    struct llmtap_span *c = llmtap_span_begin(t, "c-llm", p);
    set_every_field(c);
    char trace[33], pid[17], cid[17];
    snprintf(trace, sizeof(trace), "%s", llmtap_span_trace_id(p));
    snprintf(pid, sizeof(pid), "%s", llmtap_span_id(p));
    snprintf(cid, sizeof(cid), "%s", llmtap_span_id(c));
    ck_assert_uint_eq(strlen(trace), 32);
    ck_assert_uint_eq(strlen(pid), 16);
    ck_assert_str_eq(llmtap_span_trace_id(c), trace);
    llmtap_span_end(p); /* the parent may end first */
    llmtap_span_end(c);
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 2, 0, 0);
    llmtap_shutdown(t, -1);

    char *sql = xasprintf("SELECT * FROM spans WHERE trace_id = '%s'", trace);
    cJSON *rows = query_rows(sql);
    free(sql);
    ck_assert_int_eq(cJSON_GetArraySize(rows), 2);
    const cJSON *a = row_named(rows, "c-agent"), *l = row_named(rows, "c-llm");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(a, "parent_span_id")));
    ck_assert_str_eq(jsonx_str(a, "kind"), "agent");
    ck_assert_str_eq(jsonx_str(l, "parent_span_id"), pid);
    ck_assert_str_eq(jsonx_str(l, "span_id"), cid);
    for (int i = 0; i < 2; i++) { /* the child inherits the attribution */
        const cJSON *r = i ? l : a;
        ck_assert_str_eq(jsonx_str(r, "user_id"), "u_c");
        ck_assert_str_eq(jsonx_str(r, "session_id"), "sess_c");
        ck_assert_str_eq(jsonx_str(r, "tenant"), "acme");
        ck_assert_str_eq(jsonx_str(r, "version_set"), "app=2;prompt=support-answer@7");
        ck_assert_str_eq(jsonx_str(r, "project"), "cshim");
    }
    ck_assert_str_eq(jsonx_str(l, "provider"), "openai");
    ck_assert_str_eq(jsonx_str(l, "model"), "gpt-4o-mini");
    ck_assert_str_eq(jsonx_str(l, "response_model"), "gpt-4o-mini-2024-07-18");
    ck_assert_str_eq(jsonx_str(l, "finish_reason"), "stop");
    ck_assert_int_eq(num(l, "input_tokens"), 412);
    ck_assert_int_eq(num(l, "output_tokens"), 19);
    ck_assert_int_eq(num(l, "cache_read_tokens"), 256);
    ck_assert_int_eq(num(l, "cache_write_tokens"), 10);
    ck_assert_int_eq(num(l, "reasoning_tokens"), 4);
    ck_assert_int_eq(num(l, "cost_nusd"), 54000);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(l, "ttft_ms")->valuedouble, 412.5, 1e-9);
    ck_assert_str_eq(jsonx_str(l, "status"), "error");
    ck_assert_str_eq(jsonx_str(l, "error_code"), "RATE_LIMITED");
    ck_assert_str_eq(jsonx_str(l, "error_message"), "upstream said 429");
    ck_assert_str_eq(jsonx_str(l, "prompt_name"), "support-answer");
    ck_assert_int_eq(num(l, "prompt_version"), 7);
    ck_assert_str_eq(jsonx_str(l, "prompt_vars"), "{\"order_id\":\"A-1042\"}");
    ck_assert_str_eq(jsonx_str(l, "params"), "{\"temperature\":0.2}");
    ck_assert_str_eq(jsonx_str(l, "tags"), "[\"support\",\"beta\"]");
    ck_assert_str_eq(jsonx_str(l, "attributes"), "{\"region\":\"eu-west-1\"}");
    assert_json_text(l, "output", "It shipped.");
    ck_assert_str_eq(jsonx_str(l, "input"),
                     "[{\"role\":\"system\",\"content\":\"Be brief\"},"
                     "{\"role\":\"user\",\"content\":\"Where is A-1042?\"}]");
    cJSON_Delete(rows);
}
END_TEST

START_TEST(test_text_is_escaped_and_invalid_utf8_replaced)
{
    struct llmtap *t = open_client(server.url, NULL);
    struct llmtap_span *s = llmtap_span_begin(t, "c-escape", NULL);
    /* quotes, backslash, control bytes, valid 2/3/4-byte UTF-8, then a lone
     * 0xFF, a truncated sequence, an overlong '/' and a UTF-16 surrogate */
    llmtap_span_set_output_text(s, "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"
                                   " bad:\xff|\xe2\x82|\xc0\xaf|\xed\xa0\x80|end");
    llmtap_span_set_attr(s, "k\"ey", "v\x7f");
    llmtap_span_end(s);
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 1, 0, 0);
    llmtap_shutdown(t, -1);
    cJSON *rows = query_rows("SELECT output, attributes FROM spans WHERE name = 'c-escape'");
    const cJSON *r = cJSON_GetArrayItem(rows, 0);
    ck_assert_ptr_nonnull(r);
    const char *want = "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad:"
                       "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|end";
    assert_json_text(r, "output", want);
    ck_assert_str_eq(jsonx_str(r, "attributes"), "{\"k\\\"ey\":\"v\x7f\"}");
    cJSON_Delete(rows);
}
END_TEST

static void tiny_queue(struct llmtap_config *cfg)
{
    cfg->max_queue = 3;
    cfg->batch_size = 1000;
    cfg->flush_interval_ms = 60000;
}

START_TEST(test_full_queue_drops_the_oldest_and_counts_them)
{
    struct llmtap *t = open_client(server.url, tiny_queue);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c-drop-%d", i);
        llmtap_span_end(llmtap_span_begin(t, name, NULL));
    }
    struct llmtap_stats st;
    llmtap_stats(t, &st);
    ck_assert_uint_eq(st.queued, 3);
    assert_stats(t, 0, 2, 0);
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 3, 2, 0);
    llmtap_shutdown(t, -1);
    cJSON *rows = query_rows("SELECT name FROM spans WHERE name LIKE 'c-drop-%' ORDER BY name");
    ck_assert_int_eq(cJSON_GetArraySize(rows), 3);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c-drop-%d", i + 2);
        ck_assert_str_eq(jsonx_str(cJSON_GetArrayItem(rows, i), "name"), name);
    }
    cJSON_Delete(rows);
}
END_TEST

START_TEST(test_shutdown_flushes_what_is_queued)
{
    struct llmtap_config cfg;
    llmtap_config_init(&cfg);
    cfg.endpoint = server.url;
    cfg.flush_interval_ms = 60000; /* only the shutdown can send it */
    struct llmtap *t = llmtap_open(&cfg);
    struct llmtap_span *s = llmtap_span_begin(t, "c-at-shutdown", NULL);
    llmtap_span_set(s, LLMTAP_MODEL, "gpt-4o-mini");
    llmtap_span_end(s);
    ck_assert_int_eq(llmtap_shutdown(t, 20000), LLMTAP_OK);
    int64_t n = -1;
    ck_assert_int_eq(
        srv_query_int(db, "SELECT count(*) FROM spans WHERE name = 'c-at-shutdown'", &n), 0);
    ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_bad_caller_json_rejects_only_its_span)
{
    struct llmtap *t = open_client(server.url, NULL);
    struct llmtap_span *bad = llmtap_span_begin(t, "c-bad-json", NULL);
    llmtap_span_set_input_json(bad, "[{\"role\": \"user\", \"content\": ");
    llmtap_span_end(bad);
    llmtap_span_end(llmtap_span_begin(t, "c-good-json", NULL));
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 1, 0, 1);
    llmtap_shutdown(t, -1);
    int64_t n = -1;
    ck_assert_int_eq(srv_query_int(db,
                                   "SELECT count(*) FROM spans WHERE name IN "
                                   "('c-bad-json', 'c-good-json')",
                                   &n),
                     0);
    ck_assert_int_eq(n, 1);
}
END_TEST

/* ---- scripted responder ------------------------------------------------------- */

START_TEST(test_503_is_retried_after_retry_after)
{
    struct responder r;
    responder_start(&r, 2);
    struct llmtap *t = open_client(r.url, NULL);
    llmtap_span_end(llmtap_span_begin(t, "c-retry", NULL));
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 1, 0, 0);
    llmtap_shutdown(t, -1);
    ck_assert_int_eq(r.requests, 3);
    ck_assert_int_eq(r.spans, 1);
    ck_assert_msg(r.at_ns[1] - r.at_ns[0] >= 900000000LL, "the 1st retry came too early");
    ck_assert_msg(r.at_ns[2] - r.at_ns[1] >= 900000000LL, "the 2nd retry came too early");
    ck_assert_ptr_nonnull(strstr(r.last_body, "\"name\":\"c-retry\""));
    responder_stop(&r);
}
END_TEST

static void few_retries(struct llmtap_config *cfg)
{
    cfg->max_retries = 2;
    cfg->timeout_ms = 2000;
}

START_TEST(test_server_down_is_counted_failed_and_never_reported)
{
    char url[64];
    closed_url(url, sizeof(url));
    struct llmtap *t = open_client(url, few_retries);
    ck_assert(llmtap_enabled(t));
    struct llmtap_span *p = llmtap_span_begin(t, "c-lost", NULL);
    llmtap_span_end(llmtap_span_begin(t, "c-lost-child", p));
    llmtap_span_end(p);
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 0, 0, 2);
    ck_assert_int_eq(llmtap_shutdown(t, -1), LLMTAP_OK);
}
END_TEST

START_TEST(test_disabled_sends_nothing)
{
    struct responder r;
    responder_start(&r, 0);
    setenv("LLMTAP_DISABLED", "1", 1);
    struct llmtap *t = open_client(r.url, NULL);
    unsetenv("LLMTAP_DISABLED");
    ck_assert(!llmtap_enabled(t));
    struct llmtap_span *s = llmtap_span_begin(t, "c-disabled", NULL);
    ck_assert_ptr_null(s);
    set_every_field(s); /* every call accepts NULL */
    llmtap_span_end(s);
    ck_assert_int_eq(llmtap_flush(t, 1000), LLMTAP_DISABLED);
    assert_stats(t, 0, 0, 0);
    llmtap_shutdown(t, -1);
    llmtap_shutdown(NULL, -1);
    usleep(200 * 1000);
    ck_assert_int_eq(r.requests, 0);
    responder_stop(&r);
}
END_TEST

START_TEST(test_environment_sets_endpoint_key_project_version_set)
{
    struct responder r;
    responder_start(&r, 0);
    setenv("LLMTAP_ENDPOINT", r.url, 1);
    setenv("LLMTAP_KEY", "lt_env_key", 1);
    setenv("LLMTAP_PROJECT", "envproj", 1);
    setenv("LLMTAP_VERSION_SET", "app=9", 1);
    struct llmtap *t = llmtap_open(NULL);
    unsetenv("LLMTAP_ENDPOINT");
    unsetenv("LLMTAP_KEY");
    unsetenv("LLMTAP_PROJECT");
    unsetenv("LLMTAP_VERSION_SET");
    llmtap_span_end(llmtap_span_begin(t, "c-env", NULL));
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 1, 0, 0);
    llmtap_shutdown(t, -1);
    ck_assert_str_eq(r.key, "lt_env_key");
    ck_assert_ptr_nonnull(strstr(r.last_body, "\"project\":\"envproj\""));
    ck_assert_ptr_nonnull(strstr(r.last_body, "\"version_set\":\"app=9\""));
    responder_stop(&r);
}
END_TEST

static void batches_of_four(struct llmtap_config *cfg)
{
    cfg->batch_size = 4;
    cfg->flush_interval_ms = 60000;
}

START_TEST(test_full_batches_are_sent_without_flush)
{
    struct responder r;
    responder_start(&r, 0);
    struct llmtap *t = open_client(r.url, batches_of_four);
    for (int i = 0; i < 8; i++)
        llmtap_span_end(llmtap_span_begin(t, "c-batch", NULL));
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&r.mu);
        int n = r.spans;
        pthread_mutex_unlock(&r.mu);
        if (n == 8)
            break;
        usleep(20 * 1000);
    }
    ck_assert_int_eq(r.spans, 8);
    ck_assert_int_eq(r.requests, 2);
    llmtap_shutdown(t, -1);
    responder_stop(&r);
}
END_TEST

static void one_big_batch(struct llmtap_config *cfg)
{
    cfg->batch_size = 1000;
    cfg->flush_interval_ms = 60000;
}

START_TEST(test_batches_stop_growing_at_four_mib)
{
    struct responder r;
    responder_start(&r, 0);
    struct llmtap *t = open_client(r.url, one_big_batch);
    size_t big = 1536 * 1024; /* three of these do not fit in 4 MiB; two do */
    char *text = xmalloc(big + 1);
    memset(text, 'x', big);
    text[big] = '\0';
    for (int i = 0; i < 3; i++) {
        struct llmtap_span *s = llmtap_span_begin(t, "c-big", NULL);
        llmtap_span_set_output_text(s, text);
        llmtap_span_end(s);
    }
    free(text);
    ck_assert_int_eq(llmtap_flush(t, 20000), LLMTAP_OK);
    assert_stats(t, 3, 0, 0);
    llmtap_shutdown(t, -1);
    ck_assert_int_eq(r.requests, 2);
    ck_assert_int_eq(r.spans, 3);
    responder_stop(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("c_shim");
    TCase *live = tcase_create("live");
    tcase_add_unchecked_fixture(live, live_setup, live_teardown);
    tcase_set_timeout(live, 60);
    tcase_add_test(live, test_parent_child_spans_with_every_field_are_stored);
    tcase_add_test(live, test_text_is_escaped_and_invalid_utf8_replaced);
    tcase_add_test(live, test_full_queue_drops_the_oldest_and_counts_them);
    tcase_add_test(live, test_shutdown_flushes_what_is_queued);
    tcase_add_test(live, test_bad_caller_json_rejects_only_its_span);
    suite_add_tcase(s, live);
    TCase *scripted = tcase_create("scripted");
    tcase_set_timeout(scripted, 60);
    tcase_add_test(scripted, test_503_is_retried_after_retry_after);
    tcase_add_test(scripted, test_server_down_is_counted_failed_and_never_reported);
    tcase_add_test(scripted, test_disabled_sends_nothing);
    tcase_add_test(scripted, test_environment_sets_endpoint_key_project_version_set);
    tcase_add_test(scripted, test_full_batches_are_sent_without_flush);
    tcase_add_test(scripted, test_batches_stop_growing_at_four_mib);
    suite_add_tcase(s, scripted);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
