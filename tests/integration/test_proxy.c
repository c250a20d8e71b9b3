/*
 * The forwarding proxy over real HTTP: a live `llmtap serve` whose upstreams
 * point at the fake upstream (fixtures/fakeup.h, in this process), and
 * libcurl as the client. Pass-through (status, headers, bodies, keys never
 * stored), llmtap's headers, recording of every API plain and streamed,
 * streaming without buffering, the include_usage edit, faults, upstream
 * failures, and budgets at the door. One server per test (a fresh database).
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "fixtures/fakeup.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct srv server;
static struct fakeup *fake;
static char proxy_openai[160], proxy_anthropic[160];

static void start_with(const char *const *more)
{
    char err[256];
    struct fakeup_config fc;
    fakeup_config_default(&fc);
    fc.listen = "127.0.0.1:0";
    ck_assert_int_eq(fakeup_start(&fake, &fc, err, sizeof(err)), 0);
    dir = tu_tmpdir();
    db = xasprintf("%s/px.db", dir);
    char *up1 = xasprintf("openai=%s", fakeup_url(fake));
    char *up2 = xasprintf("anthropic=%s", fakeup_url(fake));
    const char *extra[24] = {"--upstream", up1, "--upstream", up2};
    int n = 4;
    for (int i = 0; more && more[i] && n < 22; i++)
        extra[n++] = more[i];
    memset(&server, 0, sizeof(server));
    ck_assert_int_eq(srv_start(&server, db, extra), 0);
    free(up1);
    free(up2);
    snprintf(proxy_openai, sizeof(proxy_openai), "%s/proxy/openai/v1", server.url);
    snprintf(proxy_anthropic, sizeof(proxy_anthropic), "%s/proxy/anthropic/v1", server.url);
}

static void setup(void)
{
    start_with(NULL);
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    fakeup_stop(fake);
    fake = NULL;
    tu_rmtree(dir);
    free(db);
    free(dir);
}

/* ---- a libcurl client that timestamps what arrives ---------------------- */

#define MAX_EVENTS 4096

struct got {
    long status;
    struct buf head, body;
    int nev;                   /* SSE events seen complete ("\n\n" ends one) */
    int64_t ev_ns[MAX_EVENTS]; /* arrival time of each */
    int abort_after;           /* > 0: drop the connection after this many events */
    int tail;                  /* trailing '\n' seen at the end of the last piece */
};

static size_t got_body(char *d, size_t sz, size_t nm, void *arg)
{
    struct got *g = arg;
    size_t n = sz * nm;
    int64_t now = time_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            if (g->tail && g->nev < MAX_EVENTS)
                g->ev_ns[g->nev++] = now;
            g->tail = !g->tail;
        } else if (d[i] != '\r')
            g->tail = 0;
    }
    ck_assert(buf_append(&g->body, d, n) == BUF_OK);
    if (g->abort_after && g->nev >= g->abort_after)
        return 0;
    return n;
}

static size_t got_head(char *d, size_t sz, size_t nm, void *arg)
{
    struct got *g = arg;
    ck_assert(buf_append(&g->head, d, sz * nm) == BUF_OK);
    return sz * nm;
}

static void got_init(struct got *g)
{
    memset(g, 0, sizeof(*g));
    buf_init(&g->head, 0);
    buf_init(&g->body, 0);
}

static void got_release(struct got *g)
{
    buf_release(&g->head);
    buf_release(&g->body);
}

/* 'method' 'url' with 'body' (NULL: none) and extra header lines; returns
 * the curl result. */
static CURLcode fetch(const char *method, const char *url, const char *body,
                      const char *const *hdrs, struct got *g)
{
    CURL *h = curl_easy_init();
    struct curl_slist *sl = NULL;
    for (int i = 0; hdrs && hdrs[i]; i++)
        sl = curl_slist_append(sl, hdrs[i]);
    if (body)
        sl = curl_slist_append(sl, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, got_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, got_head);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &g->status);
    curl_slist_free_all(sl);
    curl_easy_cleanup(h);
    return rc;
}

static const char *const openai_auth[] = {"Authorization: Bearer sk-test-0001", NULL};

static long post_openai(const char *path, const char *body, const char *const *hdrs, struct got *g)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", proxy_openai, path);
    const char *all[16];
    int n = 0;
    all[n++] = openai_auth[0];
    for (int i = 0; hdrs && hdrs[i] && n < 15; i++)
        all[n++] = hdrs[i];
    all[n] = NULL;
    got_init(g);
    ck_assert_int_eq(fetch("POST", url, body, all, g), CURLE_OK);
    return g->status;
}

/* The same call straight to the fake upstream. */
static long post_direct(const char *path, const char *body, const char *const *hdrs, struct got *g)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/v1%s", fakeup_url(fake), path);
    got_init(g);
    ck_assert_int_eq(fetch("POST", url, body, hdrs, g), CURLE_OK);
    return g->status;
}

/* ---- reading what was stored -------------------------------------------- */

/* Wait until 'sql' counts at least 'want' (the proxy records after it
 * answers), up to 10 s. */
static int64_t wait_count(const char *sql, int64_t want)
{
    int64_t v = -1;
    for (int i = 0; i < 200; i++) {
        if (srv_query_int(db, sql, &v) == 0 && v >= want)
            return v;
        usleep(50000);
    }
    return v;
}

/* The stored spans as JSON rows (caller deletes). */
static cJSON *rows(const char *sql)
{
    char *out = srv_query(db, sql);
    ck_assert_ptr_nonnull(out);
    char err[128];
    cJSON *j = jsonx_parse(out, strlen(out), err, sizeof(err));
    ck_assert_msg(j != NULL, "query output is not JSON: %s", out);
    free(out);
    return j;
}

static cJSON *one_row(const char *sql)
{
    cJSON *all = rows(sql);
    ck_assert_int_eq(cJSON_GetArraySize(all), 1);
    cJSON *r = cJSON_DetachItemFromArray(all, 0);
    cJSON_Delete(all);
    return r;
}

static int64_t num(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    ck_assert_msg(v && cJSON_IsNumber(v), "%s is not a number", key);
    return (int64_t)v->valuedouble;
}

static const char *str(const cJSON *row, const char *key)
{
    const char *s = jsonx_str(row, key);
    ck_assert_msg(s != NULL, "%s is not a string", key);
    return s;
}

/* The fake's /__stats. */
static cJSON *fake_stats(void)
{
    char url[200];
    snprintf(url, sizeof(url), "%s/__stats", fakeup_url(fake));
    struct got g;
    got_init(&g);
    ck_assert_int_eq(fetch("GET", url, NULL, NULL, &g), CURLE_OK);
    char err[128];
    cJSON *j = jsonx_parse(g.body.data, g.body.len, err, sizeof(err));
    ck_assert_ptr_nonnull(j);
    got_release(&g);
    return j;
}

static const char *header_of(const struct got *g, const char *name)
{
    static char v[512];
    const char *h = buf_str(&g->head);
    size_t n = strlen(name);
    for (const char *line = h; line && *line;
         line = strstr(line, "\n") ? strstr(line, "\n") + 1 : NULL) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *s = line + n + 1;
            while (*s == ' ')
                s++;
            size_t len = strcspn(s, "\r\n");
            snprintf(v, sizeof(v), "%.*s", (int)len, s);
            return v;
        }
    }
    return NULL;
}

/* A body without its "created" values (the one thing that differs between
 * two identical calls to the fake). */
static char *without_created(const char *body)
{
    struct buf b;
    buf_init(&b, 0);
    for (const char *p = body; *p;) {
        const char *c = strstr(p, "\"created\":");
        const char *c2 = strstr(p, "\"created_at\":");
        if (c2 && (!c || c2 < c))
            c = c2;
        if (!c) {
            ck_assert(buf_puts(&b, p) == BUF_OK);
            break;
        }
        const char *v = strchr(c, ':') + 1;
        ck_assert(buf_append(&b, p, (size_t)(v - p)) == BUF_OK);
        p = v + strspn(v, "0123456789");
    }
    return buf_take(&b, NULL);
}

/* A new ingest key for 'project', made through the running server. */
static void make_key(const char *project, char *key, size_t n)
{
    char *cmd = xasprintf("'%s' key create '%s' --db '%s' --json", tu_llmtap_bin(), project, db);
    FILE *f = popen(cmd, "r");
    char out[256] = "";
    ck_assert_ptr_nonnull(fgets(out, sizeof(out), f));
    ck_assert_int_eq(pclose(f), 0);
    free(cmd);
    const char *k = strstr(out, "lt_");
    ck_assert_ptr_nonnull(k);
    snprintf(key, n, "%.43s", k);
}

static const char chat_body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":\"Where is my parcel?\"}],\"temperature\":0.2}";

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_chat_passes_through_unchanged_and_is_recorded)
{
    struct got via, direct;
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, NULL, &via), 200);
    ck_assert_int_eq(post_direct("/chat/completions", chat_body, openai_auth, &direct), 200);
    char *a = without_created(buf_str(&via.body)), *b = without_created(buf_str(&direct.body));
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    ck_assert_ptr_nonnull(header_of(&via, "x-ratelimit-remaining-requests"));
    ck_assert_ptr_nonnull(header_of(&via, "x-request-id"));
    ck_assert_ptr_nonnull(header_of(&via, "LLMTap-Span-Id"));
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM spans WHERE span_id='%s'",
             header_of(&via, "LLMTap-Span-Id"));
    ck_assert_int_eq(wait_count(sql, 1), 1);
    cJSON *r = one_row("SELECT * FROM spans");
    ck_assert_str_eq(str(r, "kind"), "llm");
    ck_assert_str_eq(str(r, "provider"), "openai");
    ck_assert_str_eq(str(r, "model"), "gpt-4o-mini");
    ck_assert_str_eq(str(r, "status"), "ok");
    ck_assert_int_gt(num(r, "input_tokens"), 0);
    ck_assert_int_gt(num(r, "output_tokens"), 0);
    ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(r, "cost_usd")), "unpriced");
    ck_assert_ptr_nonnull(strstr(str(r, "input"), "Where is my parcel?"));
    ck_assert_ptr_nonnull(strstr(str(r, "output"), "assistant"));
    /* the stored output is the text the client got */
    char err[128];
    cJSON *resp = jsonx_parse(via.body.data, via.body.len, err, sizeof(err));
    const cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(resp, "choices"), 0), "message");
    ck_assert_ptr_nonnull(strstr(str(r, "output"), jsonx_str(msg, "content")));
    cJSON_Delete(resp);
    cJSON_Delete(r);
    got_release(&via);
    got_release(&direct);
}
END_TEST

START_TEST(test_provider_key_is_forwarded_never_stored_or_logged)
{
    static const char canary[] = "sk-canary-7f3a9c2e41d0b8e6";
    char auth[128], key[64], keyhdr[128];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", canary);
    make_key("shop", key, sizeof(key));
    snprintf(keyhdr, sizeof(keyhdr), "LLMTap-Key: %s", key);
    const char *hdrs[] = {
        auth,          "LLMTap-User: alice", keyhdr, "Connection: keep-alive, X-Hop",
        "X-Hop: gone", "X-Custom: kept",     NULL};
    char url[256];
    snprintf(url, sizeof(url), "%s/chat/completions?api-version=2024-06-01", proxy_openai);
    struct got g;
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url, chat_body, hdrs, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 200);
    got_release(&g);
    cJSON *st = fake_stats();
    const cJSON *last = cJSON_GetObjectItem(st, "last");
    ck_assert_str_eq(jsonx_str(last, "method"), "POST");
    ck_assert_str_eq(jsonx_str(last, "uri"), "/v1/chat/completions");
    ck_assert_str_eq(jsonx_str(last, "query"), "api-version=2024-06-01");
    ck_assert_str_eq(jsonx_str(last, "body"), chat_body);
    int saw_key = 0, saw_custom = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItem(last, "headers"))
    {
        const char *name = cJSON_GetArrayItem(h, 0)->valuestring;
        const char *value = cJSON_GetArrayItem(h, 1)->valuestring;
        ck_assert_msg(strncasecmp(name, "llmtap-", 7) != 0, "%s was forwarded", name);
        ck_assert_msg(strcasecmp(name, "x-hop") != 0 && strcasecmp(name, "connection") != 0,
                      "hop-by-hop %s was forwarded", name);
        saw_key |= strcasecmp(name, "authorization") == 0 && strstr(value, canary) != NULL;
        saw_custom |= strcasecmp(name, "x-custom") == 0;
    }
    ck_assert(saw_key && saw_custom);
    cJSON_Delete(st);
    ck_assert_int_eq(
        wait_count("SELECT count(*) FROM spans WHERE user_id='alice' AND project='shop'", 1), 1);
    ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    static const char *const files[] = {"px.db", "px.db-wal", "px.db.server.log", NULL};
    for (int i = 0; files[i]; i++) {
        char *path = xasprintf("%s/%s", dir, files[i]);
        size_t len = 0;
        char *data = tu_read_file(path, &len);
        if (data) {
            ck_assert_msg(memmem(data, len, canary, strlen(canary)) == NULL, "key in %s", files[i]);
            ck_assert_msg(memmem(data, len, key + 10, strlen(key) - 10) == NULL, "ingest key in %s",
                          files[i]);
        }
        free(data);
        free(path);
    }
}
END_TEST

START_TEST(test_llmtap_headers_are_honoured)
{
    const char *hdrs[] = {"LLMTap-User: u-42",
                          "LLMTap-Session: sess-9",
                          "LLMTap-Tenant: acme",
                          "LLMTap-Version-Set: prompt=support@7;app=1.4.2",
                          "LLMTap-Prompt: support@7",
                          "LLMTap-Prompt-Vars: {\"question\":\"Where is my parcel?\"}",
                          "LLMTap-Property-Feature: checkout",
                          "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          NULL};
    struct got g;
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, hdrs, &g), 200);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", 1), 1);
    cJSON *r = one_row("SELECT * FROM spans");
    ck_assert_str_eq(str(r, "user_id"), "u-42");
    ck_assert_str_eq(str(r, "session_id"), "sess-9");
    ck_assert_str_eq(str(r, "tenant"), "acme");
    ck_assert_str_eq(str(r, "version_set"), "app=1.4.2;prompt=support@7");
    ck_assert_str_eq(str(r, "prompt_name"), "support");
    ck_assert_int_eq(num(r, "prompt_version"), 7);
    ck_assert_str_eq(str(r, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(str(r, "parent_span_id"), "00f067aa0ba902b7");
    ck_assert_ptr_nonnull(strstr(str(r, "attributes"), "\"property.feature\":\"checkout\""));
    cJSON_Delete(r);
    cJSON *v = one_row("SELECT prompt_vars FROM spans");
    ck_assert_ptr_nonnull(strstr(str(v, "prompt_vars"), "Where is my parcel?"));
    cJSON_Delete(v);

    const char *omit[] = {"LLMTap-Omit-Bodies: true", "LLMTap-User: private", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, omit, &g), 200);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE user_id='private'", 1), 1);
    cJSON *o = one_row("SELECT input, output, output_tokens FROM spans WHERE user_id='private'");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "input")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "output")));
    ck_assert_int_gt(num(o, "output_tokens"), 0);
    cJSON_Delete(o);

    const char *badvars[] = {"LLMTap-Prompt-Vars: [1,2]", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, badvars, &g), 400);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "LLMTap-Prompt-Vars"));
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "INVALID_INPUT"));
    got_release(&g);
    const char *badprompt[] = {"LLMTap-Prompt: support@seven", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, badprompt, &g), 400);
    got_release(&g);
}
END_TEST

static const char stream_body[] =
    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
    "\"content\":\"Tell me about parcels.\"}]}";

START_TEST(test_stream_without_usage_gets_usage_recorded_but_not_shown)
{
    const char *slow[] = {"X-Fake-Tokens: 20", NULL};
    const char *slow_direct[] = {openai_auth[0], "X-Fake-Tokens: 20", NULL};
    struct got via, direct;
    ck_assert_int_eq(post_openai("/chat/completions", stream_body, slow, &via), 200);
    cJSON *st = fake_stats(); /* the proxy asked for usage on the client's behalf */
    ck_assert_ptr_nonnull(strstr(jsonx_str(cJSON_GetObjectItem(st, "last"), "body"),
                                 "\"stream_options\":{\"include_usage\":true}"));
    cJSON_Delete(st);
    ck_assert_int_eq(post_direct("/chat/completions", stream_body, slow_direct, &direct), 200);
    ck_assert_msg(strncmp(header_of(&via, "Content-Type"), "text/event-stream", 17) == 0, "%s",
                  header_of(&via, "Content-Type"));
    char *a = without_created(buf_str(&via.body)), *b = without_created(buf_str(&direct.body));
    ck_assert_str_eq(a, b); /* exactly the stream it asked for */
    ck_assert_ptr_null(strstr(a, "\"usage\""));
    free(a);
    free(b);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", 1), 1);
    cJSON *r = one_row("SELECT * FROM spans");
    ck_assert_int_eq(num(r, "output_tokens"), 20);
    ck_assert_int_gt(num(r, "input_tokens"), 0);
    ck_assert_str_eq(str(r, "status"), "ok");
    ck_assert(num(r, "ttft_ms") >= 0);
    ck_assert_ptr_nonnull(strstr(str(r, "attributes"), "proxy.usage_requested"));
    cJSON_Delete(r);
    got_release(&via);
    got_release(&direct);

    /* a client that asked for usage gets the usage chunk */
    const char *with_usage =
        "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    ck_assert_int_eq(post_openai("/chat/completions", with_usage, NULL, &via), 200);
    ck_assert_ptr_nonnull(strstr(buf_str(&via.body), "\"choices\":[]"));
    got_release(&via);
}
END_TEST

START_TEST(test_stream_events_are_not_buffered)
{
    /* the fake sends one token every 40 ms: each event must be here before
     * the next one leaves the upstream */
    const char *hdrs[] = {"X-Fake-Tokens: 12", "X-Fake-Token-Delay-Us: 40000", NULL};
    struct got g;
    int64_t t0 = time_now_ns();
    ck_assert_int_eq(post_openai("/chat/completions", stream_body, hdrs, &g), 200);
    ck_assert_int_ge(g.nev, 14); /* role chunk, 12 tokens, finish, [DONE] */
    for (int i = 2; i < 12; i++) {
        int64_t gap = g.ev_ns[i + 1] - g.ev_ns[i];
        ck_assert_msg(gap > 20000000, "events %d and %d arrived %.1f ms apart (buffered)", i, i + 1,
                      (double)gap / 1e6);
    }
    ck_assert_msg(g.ev_ns[1] - t0 < 300000000, "first token after %.1f ms",
                  (double)(g.ev_ns[1] - t0) / 1e6);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", 1), 1);
    cJSON *r = one_row("SELECT ttft_ms, latency_ms FROM spans");
    ck_assert_int_ge(num(r, "ttft_ms"), 30);     /* the first token waited one delay */
    ck_assert_int_ge(num(r, "latency_ms"), 400); /* twelve of them */
    cJSON_Delete(r);
}
END_TEST

START_TEST(test_anthropic_messages_plain_and_streamed)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/messages", proxy_anthropic);
    const char *hdrs[] = {"x-api-key: sk-ant-test",  "anthropic-version: 2023-06-01",
                          "X-Fake-Cache-Read: 1000", "X-Fake-Cache-Write: 200",
                          "X-Fake-Tokens: 10",       NULL};
    const char *body =
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"system\":\"Be kind.\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";
    struct got g;
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url, body, hdrs, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 200);
    ck_assert_ptr_nonnull(header_of(&g, "request-id"));
    got_release(&g);
    const char *sbody = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"stream\":true,"
                        "\"messages\":[{\"role\":\"user\",\"content\":\"Hello again\"}]}";
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url, sbody, hdrs, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 200);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "event: message_stop"));
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", 2), 2);
    cJSON *all = rows("SELECT * FROM spans ORDER BY start_ns");
    const cJSON *r;
    cJSON_ArrayForEach(r, all)
    {
        ck_assert_str_eq(str(r, "provider"), "anthropic");
        ck_assert_str_eq(str(r, "status"), "ok");
        ck_assert_int_eq(num(r, "cache_read_tokens"), 1000);
        ck_assert_int_eq(num(r, "cache_write_tokens"), 200);
        ck_assert_int_eq(num(r, "output_tokens"), 10);
        /* OTel convention: input includes the cache reads and writes */
        ck_assert_int_gt(num(r, "input_tokens"), 1200);
        ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(r, "cost_usd")), "unpriced");
        ck_assert_ptr_nonnull(strstr(str(r, "input"), "\"role\":\"user\""));
    }
    cJSON_Delete(all);
}
END_TEST

START_TEST(test_responses_stream_and_embeddings)
{
    const char *rs = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"input\":\"Say hi\"}";
    struct got g;
    ck_assert_int_eq(post_openai("/responses", rs, NULL, &g), 200);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "event: response.completed"));
    got_release(&g);
    const char *emb = "{\"model\":\"text-embedding-3-small\",\"input\":[\"a parcel\",\"a box\"]}";
    ck_assert_int_eq(post_openai("/embeddings", emb, NULL, &g), 200);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", 2), 2);
    cJSON *r = one_row("SELECT * FROM spans WHERE kind='embedding'");
    ck_assert_int_gt(num(r, "input_tokens"), 0);
    ck_assert_ptr_nonnull(strstr(str(r, "output"), "\"count\":2"));
    ck_assert_msg(strlen(str(r, "output")) < 200, "vectors stored: %s", str(r, "output"));
    cJSON_Delete(r);
    r = one_row("SELECT * FROM spans WHERE kind='llm'");
    ck_assert_int_gt(num(r, "output_tokens"), 0);
    ck_assert_str_eq(str(r, "status"), "ok");
    cJSON_Delete(r);
    /* any other path: forwarded and recorded as a generic span */
    char url[256];
    snprintf(url, sizeof(url), "%s/models", proxy_openai);
    got_init(&g);
    ck_assert_int_eq(fetch("GET", url, NULL, openai_auth, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 200);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE kind='other'", 1), 1);
}
END_TEST

START_TEST(test_upstream_faults_pass_through_and_are_error_spans)
{
    struct got g;
    const char *h429[] = {"X-Fake-Fault: 429", "X-Fake-Retry-After: 7", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, h429, &g), 429);
    ck_assert_str_eq(header_of(&g, "Retry-After"), "7");
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "rate_limit"));
    got_release(&g);
    const char *h500[] = {"X-Fake-Fault: 500", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, h500, &g), 500);
    got_release(&g);
    char url[256];
    snprintf(url, sizeof(url), "%s/messages", proxy_anthropic);
    const char *h529[] = {"x-api-key: k", "anthropic-version: 2023-06-01", "X-Fake-Fault: 529",
                          NULL};
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url,
                           "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":9,\"messages\":"
                           "[{\"role\":\"user\",\"content\":\"x\"}]}",
                           h529, &g),
                     CURLE_OK);
    ck_assert_int_eq(g.status, 529);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "overloaded_error"));
    got_release(&g);
    const char *mid[] = {"X-Fake-Fault: midstream", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", stream_body, mid, &g), 200);
    got_release(&g);
    const char *cut[] = {"X-Fake-Fault: truncate", "X-Fake-Tokens: 30", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", stream_body, cut, &g), 200);
    ck_assert_ptr_null(strstr(buf_str(&g.body), "[DONE]"));
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE status='error'", 5), 5);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE status='error' AND "
                                "error_code='STREAM_TRUNCATED'",
                                1),
                     1);
}
END_TEST

START_TEST(test_client_disconnect_cancels_the_upstream)
{
    const char *hdrs[] = {"X-Fake-Tokens: 200", "X-Fake-Token-Delay-Us: 20000", NULL};
    char url[256];
    snprintf(url, sizeof(url), "%s/chat/completions", proxy_openai);
    const char *all[] = {openai_auth[0], hdrs[0], hdrs[1], NULL};
    struct got g;
    got_init(&g);
    g.abort_after = 5;
    ck_assert_int_eq(fetch("POST", url, stream_body, all, &g), CURLE_WRITE_ERROR);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE status='cancelled'", 1), 1);
    cJSON *r = one_row("SELECT latency_ms, output_tokens FROM spans");
    ck_assert_int_lt(num(r, "latency_ms"), 2000); /* not the 4 s the whole answer takes */
    cJSON_Delete(r);
    /* the fake sees the proxy's side close at its next write or the one
     * after (tokens are 20 ms apart): give it up to 2 s */
    int disconnects = 0;
    for (int i = 0; i < 100 && disconnects < 1; i++) {
        cJSON *st = fake_stats();
        disconnects = (int)cJSON_GetObjectItem(st, "disconnects")->valuedouble;
        cJSON_Delete(st);
        if (disconnects < 1)
            usleep(20000);
    }
    ck_assert_int_ge(disconnects, 1);
}
END_TEST

START_TEST(test_upstream_down_is_502_and_silent_is_504)
{
    teardown();
    const char *more[] = {"--upstream", "dead=http://127.0.0.1:1", "--upstream-timeout", "1s",
                          NULL};
    start_with(more);
    char url[256];
    snprintf(url, sizeof(url), "%s/proxy/dead/v1/chat/completions", server.url);
    struct got g;
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url, chat_body, openai_auth, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 502);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "UPSTREAM_ERROR"));
    got_release(&g);
    const char *slow[] = {"X-Fake-First-Byte-Ms: 4000", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, slow, &g), 504);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "UPSTREAM_TIMEOUT"));
    got_release(&g);
    snprintf(url, sizeof(url), "%s/proxy/nowhere/v1/chat/completions", server.url);
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url, chat_body, openai_auth, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 404);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE error_code IN "
                                "('UPSTREAM_ERROR','UPSTREAM_TIMEOUT')",
                                2),
                     2);
}
END_TEST

START_TEST(test_llmtap_key_picks_the_project_and_a_bad_key_is_401)
{
    char key[64], hdr[128];
    make_key("acme-prod", key, sizeof(key));
    snprintf(hdr, sizeof(hdr), "LLMTap-Key: %s", key);
    const char *hdrs[] = {hdr, "LLMTap-Project: not-this-one", NULL};
    struct got g;
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, hdrs, &g), 200);
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE project='acme-prod'", 1), 1);
    const char *bad[] = {"LLMTap-Key: lt_0000000000000000000000000000000000000000", NULL};
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, bad, &g), 401);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "UNAUTHENTICATED"));
    got_release(&g);
    char url[256];
    snprintf(url, sizeof(url), "%s/messages", proxy_anthropic);
    const char *abad[] = {"x-api-key: k", "anthropic-version: 2023-06-01", bad[0], NULL};
    got_init(&g);
    ck_assert_int_eq(fetch("POST", url, "{}", abad, &g), CURLE_OK);
    ck_assert_int_eq(g.status, 401);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "\"type\":\"authentication_error\""));
    got_release(&g);
    cJSON *st = fake_stats();
    ck_assert_int_eq((int)cJSON_GetObjectItem(st, "calls")->valuedouble,
                     1); /* refused ones never left */
    cJSON_Delete(st);
}
END_TEST

/* Run 'cmd' (a shell line); its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
    va_end(ap);
    int rc = system(cmd);
    free(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static size_t discard(char *d, size_t sz, size_t nm, void *arg)
{
    (void)d, (void)arg;
    return sz * nm;
}

/* 1,000 calls at once against a budget that lets exactly 100 of them be
 * spent: the reservations must keep every one past the 100th out. */
START_TEST(test_concurrent_calls_cannot_overshoot_a_budget)
{
    const char *body = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":50,\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"Where is my parcel?\"}]}";
    const char *hdrs[] = {"X-Fake-Tokens: 50", "X-Fake-First-Byte-Ms: 20", NULL};
    struct got g;
    ck_assert_int_eq(post_openai("/chat/completions", body, hdrs, &g), 200); /* what one costs */
    got_release(&g);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", 1), 1);
    int64_t one = -1;
    ck_assert_int_eq(srv_query_int(db, "SELECT cost_nusd FROM spans", &one), 0);
    ck_assert_int_gt(one, 0);
    int64_t limit = 101 * one; /* the calibration call and 100 more, this day */
    ck_assert_int_eq(run("'%s' budget set --db '%s' --project default --per day --usd %lld.%09lld"
                         " >/dev/null",
                         tu_llmtap_bin(), db, (long long)(limit / 1000000000),
                         (long long)(limit % 1000000000)),
                     0);
    cJSON *st = fake_stats();
    int before = (int)cJSON_GetObjectItem(st, "calls")->valuedouble;
    cJSON_Delete(st);

    enum { N = 1000 };
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)N);
    CURL *h[N];
    struct curl_slist *sl = curl_slist_append(NULL, openai_auth[0]);
    sl = curl_slist_append(sl, "Content-Type: application/json");
    sl = curl_slist_append(sl, hdrs[0]);
    sl = curl_slist_append(sl, hdrs[1]);
    char url[256];
    snprintf(url, sizeof(url), "%s/chat/completions", proxy_openai);
    for (int i = 0; i < N; i++) {
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, sl);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(h[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, h[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        long status = 0;
        curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &status);
        ok += status == 200;
        refused += status == 402;
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(sl);
    st = fake_stats();
    int reached = (int)cJSON_GetObjectItem(st, "calls")->valuedouble - before;
    cJSON_Delete(st);
    fprintf(stderr, "budget: %d ok, %d refused, %d reached\n", ok, refused, reached);
    ck_assert_int_eq(ok + refused, N);
    ck_assert_msg(reached <= 100 && reached == ok && ok >= 50, "%d reached the upstream, %d ok",
                  reached, ok);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans", N + 1), N + 1);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE status='blocked' AND "
                                "error_code='BUDGET_EXHAUSTED'",
                                refused),
                     refused);
    int64_t spent = -1;
    ck_assert_int_eq(srv_query_int(db, "SELECT sum(cost_nusd) FROM spans", &spent), 0);
    ck_assert_msg(spent <= limit, "spent %lld of %lld", (long long)spent, (long long)limit);
}
END_TEST

/* Per-request caps at the door: too big a prompt, too many tool rounds. */
START_TEST(test_request_caps_refuse_before_the_upstream)
{
    ck_assert_int_eq(run("'%s' budget set --db '%s' --project default --max-input-tokens 40"
                         " --max-tool-rounds 1 >/dev/null",
                         tu_llmtap_bin(), db),
                     0);
    struct got g;
    ck_assert_int_eq(post_openai("/chat/completions", chat_body, NULL, &g), 200); /* small */
    got_release(&g);
    const char *big =
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Please summarise this very long complaint about a parcel that never arrived "
        "although the tracking page said it was delivered to my door on Monday.\"}]}";
    ck_assert_int_eq(post_openai("/chat/completions", big, NULL, &g), 402);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "input tokens"));
    got_release(&g);
    const char *loop =
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":"
        "{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"a\","
        "\"content\":\"1\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"b\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
        "\"tool_call_id\":\"b\",\"content\":\"2\"}]}";
    ck_assert_int_eq(post_openai("/chat/completions", loop, NULL, &g), 402);
    ck_assert_ptr_nonnull(strstr(buf_str(&g.body), "tool-call rounds"));
    got_release(&g);
    cJSON *st = fake_stats();
    ck_assert_int_eq((int)cJSON_GetObjectItem(st, "calls")->valuedouble, 1);
    cJSON_Delete(st);
    ck_assert_int_eq(wait_count("SELECT count(*) FROM spans WHERE status='blocked'", 2), 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *tc = tcase_create("proxy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_chat_passes_through_unchanged_and_is_recorded);
    tcase_add_test(tc, test_provider_key_is_forwarded_never_stored_or_logged);
    tcase_add_test(tc, test_llmtap_headers_are_honoured);
    tcase_add_test(tc, test_stream_without_usage_gets_usage_recorded_but_not_shown);
    tcase_add_test(tc, test_stream_events_are_not_buffered);
    tcase_add_test(tc, test_anthropic_messages_plain_and_streamed);
    tcase_add_test(tc, test_responses_stream_and_embeddings);
    tcase_add_test(tc, test_upstream_faults_pass_through_and_are_error_spans);
    tcase_add_test(tc, test_client_disconnect_cancels_the_upstream);
    tcase_add_test(tc, test_upstream_down_is_502_and_silent_is_504);
    tcase_add_test(tc, test_llmtap_key_picks_the_project_and_a_bad_key_is_401);
    tcase_add_test(tc, test_concurrent_calls_cannot_overshoot_a_budget);
    tcase_add_test(tc, test_request_caps_refuse_before_the_upstream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return tu_run(suite());
}
