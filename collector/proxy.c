/*
 * proxy: routing, the upstream transfer and the answer (see proxy.h).
 *
 * A call goes: read the body -> llmtap's headers -> parse the request ->
 * the budget door (a refusal is answered 402 and recorded as a blocked
 * span) -> libcurl upstream, whose callbacks answer the client as bytes
 * arrive: the header block is kept until the first body byte; a
 * text/event-stream answer is then sent chunked, one event per chunk as
 * each completes (an event the client did not ask for, the usage chunk we
 * asked for on its behalf, is dropped); any other answer is kept whole
 * (bounded) and sent with its length once complete. A client that went away
 * makes the next write fail, which aborts the transfer (span cancelled).
 * Then the span is closed, priced, settled against the budget and queued.
 *
 * curl handles are pooled: a handle keeps its connections to the upstream
 * open between calls (keep-alive), which is most of the proxy's speed.
 */
#include "collector/proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/body.h"
#include "collector/proxy_int.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"

#define POOL_MAX 256

void proxy_config_default(struct proxy_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->upstreams[0].name, PROXY_NAME_MAX, "openai");
    snprintf(cfg->upstreams[0].origin, PROXY_ORIGIN_MAX, "https://api.openai.com");
    snprintf(cfg->upstreams[1].name, PROXY_NAME_MAX, "anthropic");
    snprintf(cfg->upstreams[1].origin, PROXY_ORIGIN_MAX, "https://api.anthropic.com");
    cfg->nupstreams = 2;
    cfg->timeout_ms = 600000;
    cfg->connect_timeout_ms = 10000;
    cfg->max_body = 64u << 20;
    cfg->body_timeout_ms = 30000;
    cfg->max_response = 64u << 20;
    cfg->record_queue = 65536;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= PROXY_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-' &&
            s[i] != '_')
            return 0;
    return 1;
}

/* An origin is http(s)://HOST[:PORT][/PATH] with no query, fragment,
 * user info or whitespace. */
static int valid_origin(const char *o)
{
    size_t skip = strncmp(o, "http://", 7) == 0 ? 7 : strncmp(o, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !o[skip] || o[skip] == '/' || strlen(o) >= PROXY_ORIGIN_MAX)
        return 0;
    for (const char *c = o; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == '?' || *c == '#' || *c == '@' || *c == '\\' ||
            (unsigned char)*c >= 0x7f)
            return 0;
    return 1;
}

int proxy_config_upstream(struct proxy_config *cfg, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || !valid_name(arg, (size_t)(eq - arg)) || !valid_origin(eq + 1)) {
        snprintf(err, errlen,
                 "--upstream wants NAME=http(s)://HOST[:PORT][/PATH] with NAME of a-z 0-9 - _ "
                 "(got '%.200s')",
                 arg);
        return -1;
    }
    size_t nlen = (size_t)(eq - arg), i;
    for (i = 0; i < cfg->nupstreams; i++)
        if (strlen(cfg->upstreams[i].name) == nlen &&
            memcmp(cfg->upstreams[i].name, arg, nlen) == 0)
            break;
    if (i == cfg->nupstreams) {
        if (cfg->nupstreams == PROXY_MAX_UPSTREAMS) {
            snprintf(err, errlen, "at most %d upstreams", PROXY_MAX_UPSTREAMS);
            return -1;
        }
        cfg->nupstreams++;
    }
    struct proxy_upstream *u = &cfg->upstreams[i];
    snprintf(u->name, sizeof(u->name), "%.*s", (int)nlen, arg);
    snprintf(u->origin, sizeof(u->origin), "%s", eq + 1);
    size_t olen = strlen(u->origin);
    while (olen && u->origin[olen - 1] == '/')
        u->origin[--olen] = '\0';
    return 0;
}

/* ---- curl handle pool --------------------------------------------------- */

static CURL *pool_get(struct proxy *p)
{
    CURL *h = NULL;
    pthread_mutex_lock(&p->pool_mu);
    if (p->npool)
        h = p->pool[--p->npool];
    pthread_mutex_unlock(&p->pool_mu);
    return h ? h : curl_easy_init();
}

static void pool_put(struct proxy *p, CURL *h)
{
    if (!h)
        return;
    curl_easy_reset(h); /* keeps its open connections */
    pthread_mutex_lock(&p->pool_mu);
    if (p->npool < POOL_MAX) {
        if (p->npool == p->cappool) {
            p->cappool = p->cappool ? p->cappool * 2 : 16;
            p->pool = xrealloc(p->pool, p->cappool * sizeof(*p->pool));
        }
        p->pool[p->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&p->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- the answer --------------------------------------------------------- */

/* The answer's status line and headers into k->wire: the upstream's header
 * lines as they came (minus hop-by-hop and framing), our span's ids,
 * 'framing' and whether the connection stays open. One write sends them:
 * CivetWeb's header calls write each line on its own (a packet each with
 * TCP_NODELAY). */
static int build_head(struct call *k, const char *framing)
{
    const struct mg_request_info *ri = mg_get_request_info(k->c);
    const char *conn = mg_get_header(k->c, "Connection");
    int close = (conn && strcasestr(conn, "close")) ||
                (strcmp(ri->http_version, "1.0") == 0 && !(conn && strcasestr(conn, "keep-alive")));
    struct buf *w = &k->wire;
    buf_reset(w);
    int rc = buf_printf(w, "HTTP/1.1 %ld %s\r\n", k->status,
                        mg_get_response_code_text(k->c, (int)k->status));
    for (const char *line = buf_str(&k->rhead); *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (colon && colon > line && line[0] != ' ' && line[0] != '\t' &&
            !proxy_skip_response_header(line, (size_t)(colon - line)))
            rc |= buf_append(w, line, len) || buf_puts(w, "\r\n");
        line += len + (eol ? 2 : 0);
    }
    rc |= buf_printf(w, "LLMTap-Trace-Id: %s\r\nLLMTap-Span-Id: %s\r\n%s\r\nConnection: %s\r\n\r\n",
                     k->span.trace_id, k->span.span_id, framing, close ? "close" : "keep-alive");
    return rc ? -1 : 0;
}

static int send_wire(struct call *k)
{
    if (k->client_gone || mg_write(k->c, k->wire.data, k->wire.len) <= 0) {
        k->client_gone = 1;
        return -1;
    }
    return 0;
}

static void send_head_chunked(struct call *k)
{
    k->head_sent = 1;
    if (build_head(k, "Transfer-Encoding: chunked") == 0)
        send_wire(k);
    else
        k->client_gone = 1;
}

/* One chunk of a chunked answer, framed and written at once ('n' 0: the
 * last chunk). */
static int send_chunk_framed(struct call *k, const char *data, size_t n)
{
    if (k->client_gone)
        return -1;
    buf_reset(&k->wire);
    if (buf_printf(&k->wire, "%zx\r\n", n) || buf_append(&k->wire, data, n) ||
        buf_puts(&k->wire, "\r\n"))
        return -1;
    return send_wire(k);
}

static int send_chunk(struct call *k, const char *data, size_t n)
{
    return n ? send_chunk_framed(k, data, n) : 0;
}

/* One SSE block from the upstream: account for it, forward its bytes. */
static int on_event(void *arg, const char *event, const char *data, size_t datalen, const char *raw,
                    size_t rawlen)
{
    struct call *k = arg;
    unsigned flags = data ? llm_stream_event(k->stream, event, data, datalen) : 0;
    if ((flags & LLM_EV_CONTENT) && !k->ttft_ns)
        k->ttft_ns = time_now_ns();
    if (k->sent && (flags & LLM_EV_USAGE_ONLY))
        return 0;          /* we asked for it; the client did not */
    if (k->sent && data) { /* and every chunk says "usage":null since we asked */
        size_t n;
        char *trimmed = llm_strip_null_usage(raw, rawlen, &n);
        if (trimmed) {
            int rc = send_chunk(k, trimmed, n);
            free(trimmed);
            return rc ? 1 : 0;
        }
    }
    return send_chunk(k, raw, rawlen) ? 1 : 0;
}

/* First body byte (or the end of an empty answer): stream or keep? */
static void decide(struct call *k)
{
    if (k->decided)
        return;
    k->decided = 1;
    k->first_byte_ns = time_now_ns();
    curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &k->status);
    k->sse = strncasecmp(k->ctype, "text/event-stream", 17) == 0;
    if (k->sse) {
        k->stream = llm_stream_new(k->req.api);
        k->parser = sse_new(PROXY_SSE_EVENT_MAX, on_event, k);
        send_head_chunked(k);
    }
}

/* A plain answer grew past max_response: send what we have and stream the
 * rest through unparsed. */
static int spill(struct call *k, const char *data, size_t n)
{
    k->body_cut = 1;
    k->passthrough = 1;
    send_head_chunked(k);
    if (send_chunk(k, k->resp.data, k->resp.len) || send_chunk(k, data, n))
        return -1;
    return 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct call *k = arg;
    size_t n = size * nmemb;
    k->last_io_ns = time_now_ns();
    decide(k);
    int rc = 0;
    if (k->passthrough)
        rc = send_chunk(k, data, n);
    else if (k->sse) {
        int r = sse_feed(k->parser, data, n);
        if (r == SSE_TOOBIG) { /* an event past 8 MiB: forward the rest as it comes */
            size_t pend;
            const char *pb = sse_pending(k->parser, &pend);
            k->passthrough = 1;
            k->body_cut = 1;
            rc = send_chunk(k, pb, pend);
        } else if (r != SSE_OK)
            rc = -1;
    } else if (buf_append(&k->resp, data, n) != BUF_OK)
        rc = spill(k, data, n);
    return rc ? 0 : n; /* 0 aborts the transfer (CURLE_WRITE_ERROR) */
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    struct call *k = arg;
    size_t n = size * nmemb;
    k->last_io_ns = time_now_ns();
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new block (after a 1xx, say) */
        buf_reset(&k->rhead);
        k->ctype[0] = '\0';
        k->request_id[0] = '\0';
        return n;
    }
    if (n <= 2)
        return n;
    if (buf_append(&k->rhead, line, n) != BUF_OK)
        return 0; /* 1 MiB of headers: refuse */
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < line + n && *v == ' ')
        v++;
    size_t vlen = (size_t)(line + n - v);
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    if (nlen == 12 && strncasecmp(line, "content-type", 12) == 0)
        snprintf(k->ctype, sizeof(k->ctype), "%.*s", (int)vlen, v);
    else if ((nlen == 12 && strncasecmp(line, "x-request-id", 12) == 0) ||
             (nlen == 10 && strncasecmp(line, "request-id", 10) == 0))
        snprintf(k->request_id, sizeof(k->request_id), "%.*s", (int)vlen, v);
    return n;
}

/* libcurl calls this about once a second while idle: the upstream timeout. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct call *k = arg;
    if (time_now_ns() - k->last_io_ns > k->p->cfg.timeout_ms * 1000000LL) {
        k->timed_out = 1;
        return 1;
    }
    return 0;
}

/* ---- the request upstream ------------------------------------------------ */

/* Percent-encode what a path may not hold raw (the route hands us the
 * decoded path). */
static int append_path(struct buf *url, const char *path)
{
    static const char keep[] = "-._~/!$&'()*+,;=:@";
    int rc = 0;
    for (const unsigned char *c = (const unsigned char *)path; *c && !rc; c++)
        rc = isalnum(*c) || strchr(keep, *c) ? buf_putc(url, (char)*c)
                                             : buf_printf(url, "%%%02X", *c);
    return rc;
}

static int build_headers(struct call *k)
{
    const struct mg_request_info *ri = mg_get_request_info(k->c);
    const char *conn = mg_get_header(k->c, "Connection");
    struct buf line;
    buf_init(&line, 0);
    for (int i = 0; i < ri->num_headers; i++) {
        const char *name = ri->http_headers[i].name, *value = ri->http_headers[i].value;
        if (!name || !value || proxy_skip_request_header(name, conn))
            continue;
        buf_reset(&line);
        if (buf_printf(&line, "%s: %s", name, value) != BUF_OK)
            continue;
        k->hdrs = curl_slist_append(k->hdrs, buf_str(&line));
    }
    buf_release(&line);
    k->hdrs = curl_slist_append(k->hdrs, "Expect:"); /* no 100-continue round trip */
    if (k->body.len && !mg_get_header(k->c, "Content-Type"))
        k->hdrs = curl_slist_append(k->hdrs, "Content-Type:"); /* not curl's form default */
    return k->hdrs ? 0 : -1;
}

static void set_method_and_body(struct call *k)
{
    const char *body = k->sent ? k->sent : k->body.data ? k->body.data : "";
    size_t len = k->sent ? k->sent_len : k->body.len;
    if (strcmp(k->method, "GET") == 0) {
        curl_easy_setopt(k->curl, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(k->method, "HEAD") == 0) {
        curl_easy_setopt(k->curl, CURLOPT_NOBODY, 1L);
        return;
    }
    if (strcmp(k->method, "POST") != 0)
        curl_easy_setopt(k->curl, CURLOPT_CUSTOMREQUEST, k->method);
    if (strcmp(k->method, "POST") == 0 || len) {
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);
    }
}

static int setup_transfer(struct call *k)
{
    struct buf url;
    buf_init(&url, 0);
    const char *qs = mg_get_request_info(k->c)->query_string;
    int rc = buf_puts(&url, k->up->origin) || append_path(&url, k->rest);
    if (!rc && qs && *qs)
        rc = buf_putc(&url, '?') || buf_puts(&url, qs);
    k->curl = pool_get(k->p);
    if (rc || !k->curl || build_headers(k) != 0) {
        buf_release(&url);
        return -1;
    }
    CURL *h = k->curl;
    curl_easy_setopt(h, CURLOPT_URL, buf_str(&url)); /* curl copies it */
    buf_release(&url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, k->hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)k->p->cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, k->curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, k);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 65536L);
    set_method_and_body(k);
    return 0;
}

/* ---- ending ------------------------------------------------------------- */

static void span_fail(struct call *k, const char *code, const char *msg)
{
    k->span.status = SPAN_STATUS_ERROR;
    xstrset(&k->span.error_code, code);
    xstrset(&k->span.error_message, msg);
}

/* A transfer that failed before any answer reached the client. */
static int answer_failure(struct call *k, CURLcode rc)
{
    char msg[CURL_ERROR_SIZE + 160];
    if (k->timed_out) {
        atomic_fetch_add(&k->p->timeouts, 1);
        snprintf(msg, sizeof(msg), "upstream '%s' sent nothing for %lld ms", k->up->name,
                 (long long)k->p->cfg.timeout_ms);
        span_fail(k, "UPSTREAM_TIMEOUT", msg);
        return proxy_reply_error(k, LT_UPSTREAM_TIMEOUT, msg);
    }
    atomic_fetch_add(&k->p->upstream_errors, 1);
    snprintf(msg, sizeof(msg), "upstream '%s' failed: %s", k->up->name,
             k->curl_err[0] ? k->curl_err : curl_easy_strerror(rc));
    span_fail(k, "UPSTREAM_ERROR", msg);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        atomic_fetch_add(&k->p->timeouts, 1);
        xstrset(&k->span.error_code, "UPSTREAM_TIMEOUT");
        return proxy_reply_error(k, LT_UPSTREAM_TIMEOUT, msg);
    }
    return proxy_reply_error(k, LT_UPSTREAM_ERROR, msg);
}

/* The transfer is over: finish the answer and say what the span is. */
static int finish_answer(struct call *k, CURLcode rc)
{
    if (k->client_gone) {
        atomic_fetch_add(&k->p->cancelled, 1);
        if (k->stream)
            llm_stream_finish(k->stream, &k->span);
        k->span.status = SPAN_STATUS_CANCELLED;
        xstrset(&k->span.error_code, "CLIENT_DISCONNECTED");
        xstrset(&k->span.error_message, "the client went away before the answer ended");
        return (int)k->status;
    }
    if (!k->head_sent && (rc != CURLE_OK || !k->decided)) {
        if (rc == CURLE_OK)
            decide(k); /* an empty answer */
        else
            return answer_failure(k, rc);
    }
    if (k->sse || k->passthrough) {
        size_t pend = 0;
        if (k->parser && !k->passthrough)
            sse_end(k->parser); /* a last block whose blank line ended in a lone CR */
        const char *pb = k->parser && !k->passthrough ? sse_pending(k->parser, &pend) : NULL;
        if (pend)
            send_chunk(k, pb, pend); /* a truncated last event, as it came */
        send_chunk_framed(k, "", 0);
        if (k->stream)
            llm_stream_finish(k->stream, &k->span);
        if (rc != CURLE_OK) {
            char msg[CURL_ERROR_SIZE + 64];
            atomic_fetch_add(k->timed_out ? &k->p->timeouts : &k->p->upstream_errors, 1);
            snprintf(msg, sizeof(msg), "upstream stream broke: %s",
                     k->timed_out     ? "timed out"
                     : k->curl_err[0] ? k->curl_err
                                      : curl_easy_strerror(rc));
            span_fail(k, k->timed_out ? "UPSTREAM_TIMEOUT" : "UPSTREAM_ERROR", msg);
        }
        return (int)k->status;
    }
    char framing[48];
    snprintf(framing, sizeof(framing), "Content-Length: %zu", k->resp.len);
    int small = k->resp.len <= 65536; /* one write; a bigger body is not copied */
    if (build_head(k, framing) != 0 ||
        (small && buf_append(&k->wire, k->resp.data, k->resp.len) != BUF_OK))
        k->client_gone = 1;
    else if (send_wire(k) == 0 && !small && mg_write(k->c, k->resp.data, k->resp.len) <= 0)
        k->client_gone = 1;
    llm_response_parse(k->req.api, (int)k->status, k->resp.data ? k->resp.data : "", k->resp.len,
                       &k->span);
    return (int)k->status;
}

static int forward(struct call *k)
{
    if (setup_transfer(k) != 0)
        return proxy_reply_error(k, LT_INTERNAL, "cannot set up the upstream request");
    k->last_io_ns = time_now_ns();
    CURLcode rc = curl_easy_perform(k->curl);
    int status = finish_answer(k, rc);
    if (rc != CURLE_OK && !k->client_gone && !k->timed_out)
        log_msg(LOG_DEBUG, "proxy", "upstream %s: %s", k->up->name, curl_easy_strerror(rc));
    return status;
}

/* ---- the door ----------------------------------------------------------- */

/* Budgets before money is spent: LT_OK (reserved) or the 402 answered and
 * the refusal recorded. */
static int door(struct call *k, int *status)
{
    if (!k->p->ledger)
        return LT_OK;
    struct budget_call bc = {
        .project = k->span.project ? k->span.project : "default",
        .tenant = k->span.tenant,
        .user = k->span.user_id,
        .est_nusd = proxy_estimate_nusd(k),
        .input_tokens = k->req.api != LLM_API_OTHER ? k->req.input_tokens : -1,
        .tool_rounds = k->req.tool_rounds,
    };
    char msg[512];
    if (budget_reserve(k->p->ledger, &bc, time_now_ns(), &k->hold, msg, sizeof(msg)) == LT_OK) {
        k->held = 1;
        return LT_OK;
    }
    atomic_fetch_add(&k->p->blocked, 1);
    k->span.status = SPAN_STATUS_BLOCKED;
    xstrset(&k->span.error_code, "BUDGET_EXHAUSTED");
    xstrset(&k->span.error_message, msg);
    k->status = 402;
    *status = proxy_reply_error(k, LT_BUDGET_EXHAUSTED, msg);
    return LT_BUDGET_EXHAUSTED;
}

/* ---- one call ----------------------------------------------------------- */

static const struct proxy_upstream *route(struct proxy *p, const char *uri, const char **rest)
{
    const char *name = uri + strlen("/proxy/");
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    *rest = slash ? slash : "";
    for (size_t i = 0; i < p->cfg.nupstreams; i++)
        if (strlen(p->cfg.upstreams[i].name) == n && memcmp(p->cfg.upstreams[i].name, name, n) == 0)
            return &p->cfg.upstreams[i];
    return NULL;
}

static struct call *call_new(struct proxy *p, struct mg_connection *c,
                             const struct proxy_upstream *up, const char *rest)
{
    struct call *k = xcalloc(1, sizeof(*k));
    const struct mg_request_info *ri = mg_get_request_info(c);
    k->p = p;
    k->c = c;
    k->up = up;
    k->rest = rest;
    k->anthropic = strncmp(up->name, "anthropic", 9) == 0;
    k->method = ri->request_method;
    k->trusted = strncmp(ri->remote_addr, "127.", 4) == 0 || strcmp(ri->remote_addr, "::1") == 0;
    k->t0_ns = time_now_ns();
    buf_init(&k->body, 0);
    buf_init(&k->rhead, 1u << 20);
    buf_init(&k->resp, p->cfg.max_response);
    buf_init(&k->wire, 0);
    span_init(&k->span);
    k->attrs = cJSON_CreateObject();
    k->req.api = LLM_API_OTHER;
    k->req.max_tokens = -1;
    k->req.input_tokens = -1;
    k->req.n = 1;
    return k;
}

static void call_free(struct call *k)
{
    if (k->curl)
        pool_put(k->p, k->curl);
    curl_slist_free_all(k->hdrs);
    sse_free(k->parser);
    llm_stream_free(k->stream);
    cJSON_Delete(k->attrs);
    span_release(&k->span);
    buf_release(&k->body);
    buf_release(&k->rhead);
    buf_release(&k->resp);
    buf_release(&k->wire);
    free(k->sent);
    free(k);
}

/* Request side: body, headers, parse, the stream_options edit. LT_OK, or
 * the error answered (status in *status). */
static int prepare(struct call *k, int *status)
{
    char err[512];
    struct body_limits lim = {k->p->cfg.max_body, k->p->cfg.body_timeout_ms};
    int rc = body_read(k->c, &lim, &k->body, err, sizeof(err));
    if (rc == LT_OK)
        rc = proxy_read_llmtap_headers(k, err, sizeof(err));
    if (rc != LT_OK) {
        *status = proxy_reply_error(k, rc, err);
        return rc;
    }
    ids_random(8, k->span.span_id);
    if (!k->span.trace_id[0])
        ids_random(16, k->span.trace_id);
    k->req.api = llm_api_for(k->anthropic, k->method, k->rest);
    k->span.provider = xstrdup(k->anthropic ? "anthropic" : k->up->name);
    if (k->req.api == LLM_API_OTHER ||
        llm_request_parse(k->req.api, k->body.data ? k->body.data : "", k->body.len, &k->req,
                          &k->span) != 0) {
        k->span.kind = SPAN_KIND_OTHER;
        if (!k->span.name)
            k->span.name = xasprintf("%s %.200s", k->method, k->rest);
    }
    if (k->req.api == LLM_API_CHAT && k->req.stream && !k->req.include_usage)
        k->sent = llm_inject_include_usage(k->body.data, k->body.len, &k->sent_len);
    return LT_OK;
}

static void record(struct call *k)
{
    proxy_span_close(k);
    int priced = pipeline_price(k->p->pipe, &k->span);
    if (k->held)
        budget_settle(k->p->ledger, &k->hold, priced ? k->span.cost_nusd : -1);
    k->held = 0;
    recorder_put(k->p->rec, &k->span);
}

static int h_proxy(struct mg_connection *c, void *arg)
{
    struct proxy *p = arg;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *rest;
    const struct proxy_upstream *up = route(p, ri->local_uri, &rest);
    atomic_fetch_add(&p->calls, 1);
    if (!up) {
        struct proxy_upstream none = {.name = "unknown"};
        struct call *k = call_new(p, c, &none, "");
        char msg[160];
        snprintf(msg, sizeof(msg), "no upstream is configured under %.100s (see --upstream)",
                 ri->local_uri);
        int status = proxy_reply_error(k, LT_NOT_FOUND, msg);
        call_free(k);
        return status;
    }
    struct call *k = call_new(p, c, up, rest);
    int status = 0;
    if (prepare(k, &status) == LT_OK) {
        if (door(k, &status) == LT_OK)
            status = forward(k);
        record(k);
    }
    call_free(k);
    return status;
}

/* ---- lifecycle ---------------------------------------------------------- */

int proxy_new(struct proxy **out, const struct proxy_config *cfg, struct pipeline *pipe,
              struct budget_ledger *ledger, char *err, size_t errlen)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl does not start");
        return -1;
    }
    struct proxy *p = xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    p->pipe = pipe;
    p->ledger = ledger;
    p->rec = recorder_new(pipe, cfg->record_queue ? cfg->record_queue : 65536);
    pthread_mutex_init(&p->pool_mu, NULL);
    *out = p;
    return 0;
}

void proxy_mount(struct proxy *p, struct mg_context *ctx)
{
    mg_set_request_handler(ctx, "/proxy/", h_proxy, p);
}

void proxy_flush(struct proxy *p)
{
    recorder_flush(p->rec);
}

void proxy_get_stats(struct proxy *p, struct proxy_stats *out)
{
    struct recorder_stats rs;
    recorder_get_stats(p->rec, &rs);
    out->calls = atomic_load(&p->calls);
    out->blocked = atomic_load(&p->blocked);
    out->upstream_errors = atomic_load(&p->upstream_errors);
    out->timeouts = atomic_load(&p->timeouts);
    out->cancelled = atomic_load(&p->cancelled);
    out->recorded = rs.committed;
    out->record_lost = rs.lost;
}

void proxy_free(struct proxy *p)
{
    if (!p)
        return;
    recorder_free(p->rec);
    for (size_t i = 0; i < p->npool; i++)
        curl_easy_cleanup(p->pool[i]);
    free(p->pool);
    pthread_mutex_destroy(&p->pool_mu);
    free(p);
}
