/*
 * proxy_span: the proxy's side of the span and of the client's headers (see
 * proxy_int.h): llmtap's request headers (read, checked, never forwarded),
 * which headers pass in each direction, our own error answers in the
 * upstream's dialect, and closing the span once the answer is sent.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/proxy_int.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"

#define LLMTAP_VALUE_MAX 512
#define PROMPT_VARS_MAX (64u << 10)

/* ---- which headers pass ------------------------------------------------- */

static int in_list(const char *name, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && strncasecmp(*list, name, n) == 0)
            return 1;
    return 0;
}

/* Is 'name' one of the comma-separated tokens of a Connection header? */
static int connection_names(const char *tokens, const char *name)
{
    size_t n = strlen(name);
    for (const char *t = tokens; t && *t;) {
        while (*t == ' ' || *t == ',')
            t++;
        size_t len = strcspn(t, ", ");
        if (len == n && strncasecmp(t, name, n) == 0)
            return 1;
        t += len;
    }
    return 0;
}

int proxy_skip_request_header(const char *name, const char *connection_tokens)
{
    static const char *const skip[] = {"connection",
                                       "keep-alive",
                                       "proxy-connection",
                                       "proxy-authenticate",
                                       "proxy-authorization",
                                       "te",
                                       "trailer",
                                       "trailers",
                                       "transfer-encoding",
                                       "upgrade",
                                       "host",
                                       "content-length",
                                       "expect",
                                       "accept-encoding",
                                       "content-encoding",
                                       NULL};
    if (strncasecmp(name, "llmtap-", 7) == 0)
        return 1;
    return in_list(name, strlen(name), skip) || connection_names(connection_tokens, name);
}

int proxy_skip_response_header(const char *name, size_t n)
{
    static const char *const skip[] = {
        "connection", "keep-alive",        "proxy-connection", "proxy-authenticate", "te",
        "trailer",    "transfer-encoding", "upgrade",          "content-length",     NULL};
    return in_list(name, n, skip);
}

/* ---- llmtap's request headers ------------------------------------------- */

static int bad(char *err, size_t errlen, const char *name, const char *why)
{
    snprintf(err, errlen, "header %s: %s", name, why);
    return LT_INVALID_INPUT;
}

static int printable(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return 0;
    return 1;
}

/* "name@version" (version a positive integer) or just "name". */
static int read_prompt(struct span *s, const char *v, char *err, size_t errlen)
{
    const char *at = strrchr(v, '@');
    size_t nlen = at ? (size_t)(at - v) : strlen(v);
    if (nlen == 0 || nlen > 200)
        return bad(err, errlen, "LLMTap-Prompt", "want NAME@VERSION, e.g. support@7");
    if (at) {
        char *end;
        long long ver = strtoll(at + 1, &end, 10);
        if (!isdigit((unsigned char)at[1]) || *end || ver < 1 || ver > 1000000000LL)
            return bad(err, errlen, "LLMTap-Prompt", "the version after @ must be a number >= 1");
        s->prompt_version = ver;
    }
    free(s->prompt_name);
    s->prompt_name = xstrndup(v, nlen);
    return LT_OK;
}

static int read_prompt_vars(struct span *s, const char *v, char *err, size_t errlen)
{
    char why[200];
    if (strlen(v) > PROMPT_VARS_MAX)
        return bad(err, errlen, "LLMTap-Prompt-Vars", "longer than 64 KiB");
    cJSON *j = jsonx_parse(v, strlen(v), why, sizeof(why));
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return bad(err, errlen, "LLMTap-Prompt-Vars", "want a JSON object of the variables");
    }
    free(s->prompt_vars);
    s->prompt_vars = jsonx_print(j);
    cJSON_Delete(j);
    return LT_OK;
}

static int hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* W3C traceparent "00-<32 hex trace>-<16 hex parent>-<2 hex flags>"; an
 * invalid one is ignored, as the spec says. */
static void read_traceparent(struct span *s, const char *v)
{
    if (strlen(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || !hex_run(v, 2) ||
        !hex_run(v + 3, 32) || !hex_run(v + 36, 16) || !hex_run(v + 53, 2) ||
        strncmp(v, "ff", 2) == 0 || strspn(v + 3, "0") >= 32 || strspn(v + 36, "0") >= 16)
        return;
    for (int i = 0; i < 32; i++)
        s->trace_id[i] = (char)tolower((unsigned char)v[3 + i]);
    s->trace_id[32] = '\0';
    for (int i = 0; i < 16; i++)
        s->parent_span_id[i] = (char)tolower((unsigned char)v[36 + i]);
    s->parent_span_id[16] = '\0';
}

static int read_flag(const char *name, const char *v, int *out, char *err, size_t errlen)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
        *out = 0;
    else
        return bad(err, errlen, name, "want true or false");
    return LT_OK;
}

static void add_property(struct call *k, const char *name, const char *v)
{
    char key[160];
    size_t n = snprintf(key, sizeof(key), "property.%s", name);
    for (size_t i = 9; i < n && i < sizeof(key); i++)
        key[i] = (char)tolower((unsigned char)key[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(k->attrs, key);
    cJSON_AddStringToObject(k->attrs, key, v);
}

/* One LLMTap-* header ('name' without the prefix). */
static int read_one(struct call *k, const char *full, const char *name, const char *v, char *err,
                    size_t errlen)
{
    struct span *s = &k->span;
    char **slot = NULL;
    if (!strcasecmp(name, "User"))
        slot = &s->user_id;
    else if (!strcasecmp(name, "Session"))
        slot = &s->session_id;
    else if (!strcasecmp(name, "Tenant"))
        slot = &s->tenant;
    else if (!strcasecmp(name, "Version-Set"))
        slot = &s->version_set;
    else if (!strcasecmp(name, "Project"))
        slot = k->trusted ? &s->project : NULL; /* beyond loopback the key decides */
    if (slot || !strncasecmp(name, "Property-", 9)) {
        if (strlen(v) > LLMTAP_VALUE_MAX || !printable(v))
            return bad(err, errlen, full, "at most 512 printable bytes");
        if (slot)
            xstrset(slot, v);
        else if (name[9] && strlen(name + 9) < 128)
            add_property(k, name + 9, v);
        return LT_OK;
    }
    if (!strcasecmp(name, "Prompt"))
        return read_prompt(s, v, err, errlen);
    if (!strcasecmp(name, "Prompt-Vars"))
        return read_prompt_vars(s, v, err, errlen);
    if (!strcasecmp(name, "Omit-Bodies"))
        return read_flag(full, v, &k->omit_bodies, err, errlen);
    return LT_OK; /* LLMTap-Key (read last) and names we do not know: stripped */
}

/* LLMTap-Key: the project is the key's, whatever else the client says. */
static int read_key(struct call *k, const char *key, char *err, size_t errlen)
{
    char project[256];
    if (!k->p->cfg.resolve_key ||
        !k->p->cfg.resolve_key(k->p->cfg.resolve_arg, key, project, sizeof(project))) {
        snprintf(err, errlen, "unknown or revoked LLMTap-Key (see `llmtap key list`)");
        return LT_UNAUTHENTICATED;
    }
    xstrset(&k->span.project, project);
    return LT_OK;
}

int proxy_read_llmtap_headers(struct call *k, char *err, size_t errlen)
{
    const struct mg_request_info *ri = mg_get_request_info(k->c);
    const char *key = mg_get_header(k->c, "LLMTap-Key");
    for (int i = 0; i < ri->num_headers; i++) {
        const char *name = ri->http_headers[i].name, *v = ri->http_headers[i].value;
        if (!name || !v)
            continue;
        if (!strcasecmp(name, "traceparent"))
            read_traceparent(&k->span, v);
        else if (!strncasecmp(name, "LLMTap-", 7)) {
            int rc = read_one(k, name, name + 7, v, err, errlen);
            if (rc != LT_OK)
                return rc;
        }
    }
    return key ? read_key(k, key, err, errlen) : LT_OK;
}

/* ---- our own error answers ---------------------------------------------- */

static const char *anthropic_type(int http)
{
    switch (http) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return "api_error";
    }
}

static int error_body(struct call *k, enum lt_err e, const char *msg, struct buf *b)
{
    if (!k->anthropic)
        return lt_err_json(b, e, msg);
    int rc = buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    rc |= buf_json_str(b, anthropic_type(lt_err_http(e)));
    rc |= buf_puts(b, ",\"message\":");
    rc |= buf_json_str(b, msg);
    rc |= buf_puts(b, ",\"code\":");
    rc |= buf_json_str(b, lt_err_code(e));
    rc |= buf_puts(b, "}}");
    return rc;
}

int proxy_reply_error(struct call *k, int lt_err, const char *msg)
{
    enum lt_err e = (enum lt_err)lt_err;
    struct buf b;
    buf_init(&b, 0);
    if (error_body(k, e, msg, &b) != BUF_OK)
        buf_reset(&b);
    int status = lt_err_http(e);
    char n[32];
    mg_response_header_start(k->c, status);
    mg_response_header_add(k->c, "Content-Type", "application/json", -1);
    snprintf(n, sizeof(n), "%zu", b.len);
    mg_response_header_add(k->c, "Content-Length", n, -1);
    if (!lt_err_retryable(e))
        mg_response_header_add(k->c, "x-should-retry", "false", -1);
    if (e == LT_UNAVAILABLE || e == LT_QUOTA_EXCEEDED)
        mg_response_header_add(k->c, "Retry-After", "1", -1);
    if (k->span.span_id[0]) {
        mg_response_header_add(k->c, "LLMTap-Trace-Id", k->span.trace_id, -1);
        mg_response_header_add(k->c, "LLMTap-Span-Id", k->span.span_id, -1);
    } else {
        mg_response_header_add(k->c, "Connection", "close", -1); /* body maybe unread */
    }
    mg_response_header_send(k->c);
    if (b.len)
        mg_write(k->c, b.data, b.len);
    buf_release(&b);
    k->status = status;
    return status;
}

/* ---- closing the span --------------------------------------------------- */

static double ms_between(int64_t a, int64_t b)
{
    return (double)(b - a) / 1e6;
}

void proxy_span_close(struct call *k)
{
    struct span *s = &k->span;
    s->start_ns = k->t0_ns;
    s->end_ns = time_now_ns();
    if (k->ttft_ns)
        s->ttft_ms = ms_between(k->t0_ns, k->ttft_ns);
    cJSON_AddStringToObject(k->attrs, "http.method", k->method);
    cJSON_AddStringToObject(k->attrs, "http.route", k->rest);
    cJSON_AddStringToObject(k->attrs, "proxy.upstream", k->up->name);
    if (k->status > 0)
        cJSON_AddNumberToObject(k->attrs, "http.status_code", (double)k->status);
    if (k->request_id[0])
        cJSON_AddStringToObject(k->attrs, "upstream.request_id", k->request_id);
    if (k->first_byte_ns)
        cJSON_AddNumberToObject(k->attrs, "proxy.ttfb_ms",
                                round(ms_between(k->t0_ns, k->first_byte_ns) * 1000) / 1000);
    if (k->sent)
        cJSON_AddBoolToObject(k->attrs, "proxy.usage_requested", 1);
    if (k->body_cut)
        cJSON_AddBoolToObject(k->attrs, "proxy.answer_not_parsed", 1);
    if (k->omit_bodies) {
        free(s->input), s->input = NULL;
        free(s->output), s->output = NULL;
        free(s->prompt_vars), s->prompt_vars = NULL;
        cJSON_AddBoolToObject(k->attrs, "llmtap.bodies_omitted", 1);
    }
    free(s->attributes);
    s->attributes = jsonx_print(k->attrs);
}

int64_t proxy_estimate_nusd(struct call *k)
{
    if (k->req.api == LLM_API_OTHER || !k->span.model)
        return -1;
    struct span est = k->span; /* a shallow copy: only read, never released */
    est.response_model = NULL;
    est.service_tier = NULL;
    est.start_ns = 0;
    memset(&est.usage, 0, sizeof(est.usage));
    est.usage.input_tokens = k->req.input_tokens > 0 ? k->req.input_tokens : 0;
    int64_t out = k->req.max_tokens > 0 ? k->req.max_tokens : PROXY_DEFAULT_MAX_OUTPUT;
    est.usage.output_tokens =
        k->req.api == LLM_API_EMBEDDINGS ? 0 : out * (k->req.n > 0 ? k->req.n : 1);
    int64_t nusd = -1;
    return pipeline_cost(k->p->pipe, &est, &nusd) ? nusd : -1;
}
