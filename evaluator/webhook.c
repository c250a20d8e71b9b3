/*
 * webhook: body, signature and the POST (see webhook.h). A request in the
 * pool is a 'struct hook' holding its own copies of what it sends, its
 * curl handle and header list; it lives from webhook_pool_add until its
 * completion has been reported. The receiver's answer is read into a
 * bounded buffer and dropped: only the status and Retry-After matter.
 */
#include "evaluator/webhook.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/sha256.h"
#include "core/timeutil.h"
#include "core/xmem.h"

/* ---- formatting ---------------------------------------------------------------- */

const char *webhook_fmt_window(char *dst, size_t n, int64_t s)
{
    if (s > 0 && s % 86400 == 0)
        snprintf(dst, n, "%lldd", (long long)(s / 86400));
    else if (s > 0 && s % 3600 == 0)
        snprintf(dst, n, "%lldh", (long long)(s / 3600));
    else if (s > 0 && s % 60 == 0)
        snprintf(dst, n, "%lldm", (long long)(s / 60));
    else
        snprintf(dst, n, "%llds", (long long)s);
    return dst;
}

const char *webhook_fmt_value(char *dst, size_t n, enum alerts_metric metric, double v)
{
    if (isnan(v))
        snprintf(dst, n, "-");
    else if (metric == ALERTS_SPEND)
        snprintf(dst, n, "$%.4f", v);
    else if (metric == ALERTS_TOKENS)
        snprintf(dst, n, "%.0f tokens", v);
    else if (metric == ALERTS_CALLS)
        snprintf(dst, n, "%.0f calls", v);
    else if (metric == ALERTS_ERROR_RATE)
        snprintf(dst, n, "%.1f%%", v * 100);
    else
        snprintf(dst, n, "%.0f ms", v);
    return dst;
}

/* "spend $12.3400 over the last 1h (project shop)" */
static void describe_value(const struct webhook_event *e, char *out, size_t n)
{
    char v[64], w[32], who[320];
    if (e->scope == ALERTS_GLOBAL)
        snprintf(who, sizeof(who), "all traffic");
    else
        snprintf(who, sizeof(who), "%s %.256s", alerts_scope_name(e->scope), e->subject);
    snprintf(out, n, "%s %s over the last %s (%s)", alerts_metric_name(e->metric),
             webhook_fmt_value(v, sizeof(v), e->metric, e->value),
             webhook_fmt_window(w, sizeof(w), e->window_s), who);
}

/* The Slack-compatible one-line summary. */
static void summary(const struct webhook_event *e, char *out, size_t n)
{
    char what[512], lim[64];
    describe_value(e, what, sizeof(what));
    if (strcmp(e->state, "FIRING") == 0 && e->mode == ALERTS_ANOMALY)
        snprintf(out, n, "[FIRING] %s: %s is above %gx its baseline of %s (same hour of the week)",
                 e->rule, what, e->threshold,
                 webhook_fmt_value(lim, sizeof(lim), e->metric, e->baseline));
    else if (strcmp(e->state, "FIRING") == 0)
        snprintf(out, n, "[FIRING] %s: %s is above the threshold %s", e->rule, what,
                 webhook_fmt_value(lim, sizeof(lim), e->metric, e->threshold));
    else if (strcmp(e->state, "RESOLVED") == 0)
        snprintf(out, n, "[RESOLVED] %s: %s is back to normal", e->rule, what);
    else if (strcmp(e->state, "NO_DATA") == 0)
        snprintf(out, n, "[NO_DATA] %s: no calls in the window; %s", e->rule, what);
    else
        snprintf(out, n, "[%s] %s: a test delivery from llmtap; %s", e->state, e->rule, what);
}

static int json_num(struct buf *b, const char *name, double v)
{
    if (isnan(v) || isinf(v))
        return buf_printf(b, ",\"%s\":null", name);
    return buf_printf(b, ",\"%s\":%.17g", name, v);
}

static int json_field(struct buf *b, const char *name, const char *v)
{
    return buf_printf(b, ",\"%s\":", name) || (v ? buf_json_str(b, v) : buf_puts(b, "null"));
}

int webhook_body(const struct webhook_event *e, struct buf *out)
{
    char text[1024], win[32], when[40], link[ALERTS_NAME_MAX + 32];
    summary(e, text, sizeof(text));
    time_format_iso(e->time_ns, when, sizeof(when));
    snprintf(link, sizeof(link), "/alerts?rule=%s", e->rule);
    int anomaly = e->mode == ALERTS_ANOMALY;
    int rc = buf_puts(out, "{\"text\":") || buf_json_str(out, text);
    rc = rc || json_field(out, "rule", e->rule) || json_field(out, "state", e->state) ||
         json_field(out, "metric", alerts_metric_name(e->metric)) ||
         json_field(out, "scope", alerts_scope_name(e->scope)) ||
         json_field(out, "subject", e->subject ? e->subject : "") ||
         json_field(out, "window", webhook_fmt_window(win, sizeof(win), e->window_s)) ||
         buf_printf(out, ",\"window_s\":%lld", (long long)e->window_s) ||
         json_field(out, "mode", alerts_mode_name(e->mode)) || json_num(out, "value", e->value) ||
         json_num(out, "threshold", anomaly ? NAN : e->threshold) ||
         json_num(out, "baseline", e->baseline) ||
         (anomaly && json_num(out, "factor", e->threshold)) ||
         json_field(out, "dedup_key", e->dedup_key) || json_field(out, "time", when) ||
         buf_printf(out, ",\"time_ns\":\"%lld\"", (long long)e->time_ns) ||
         json_field(out, "link", link) || buf_putc(out, '}');
    return rc;
}

void webhook_signature(const void *secret, size_t secret_len, const void *body, size_t len,
                       char out[WEBHOOK_SIG_LEN])
{
    memcpy(out, "sha256=", 7);
    sha256_hmac_hex(secret, secret_len, body, len, out + 7);
}

int webhook_ok(const struct webhook_result *r)
{
    return r->status >= 200 && r->status < 300;
}

int webhook_retryable(const struct webhook_result *r)
{
    return r->status == 0 || r->status == 408 || r->status == 429 || r->status >= 500;
}

/* ---- one request ------------------------------------------------------------------- */

struct hook {
    int64_t id;
    CURL *easy;
    struct curl_slist *headers;
    char *url, *body;
    size_t len, got;
    struct webhook_result res;
    char curl_error[CURL_ERROR_SIZE];
    struct hook *next;
};

static size_t on_answer(char *p, size_t size, size_t n, void *arg)
{
    struct hook *h = arg;
    h->got += size * n;
    (void)p;
    return h->got > WEBHOOK_ANSWER_MAX ? 0 : size * n; /* a flood ends the transfer */
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct hook *h = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[32];
        size_t k = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
        memcpy(v, p + 12, k);
        v[k] = '\0';
        char *end;
        long long s = strtoll(v, &end, 10);
        if (end != v && s >= 0)
            h->res.retry_after_s = s;
    }
    return len;
}

static void hook_free(struct hook *h)
{
    if (!h)
        return;
    if (h->easy)
        curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->headers);
    free(h->url);
    free(h->body);
    free(h);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *v)
{
    char line[512];
    snprintf(line, sizeof(line), "%s: %s", name, v);
    struct curl_slist *n = curl_slist_append(l, line);
    return n ? n : l;
}

/* A request ready to perform, or NULL with a message. */
static struct hook *hook_new(int64_t id, const struct webhook_req *r, char *err, size_t errlen)
{
    struct hook *h = xcalloc(1, sizeof(*h));
    h->id = id;
    h->res.retry_after_s = -1;
    h->url = xstrdup(r->url);
    h->body = xmalloc(r->len + 1);
    memcpy(h->body, r->body, r->len);
    h->body[r->len] = '\0';
    h->len = r->len;
    char sig[WEBHOOK_SIG_LEN];
    webhook_signature(r->secret, r->secret_len, r->body, r->len, sig);
    h->headers = add_header(NULL, "Content-Type", "application/json");
    h->headers = add_header(h->headers, "User-Agent", "llmtap-alerts/1");
    h->headers = add_header(h->headers, "X-LLMTap-Signature", sig);
    h->headers = add_header(h->headers, "X-LLMTap-Dedup-Key", r->dedup_key ? r->dedup_key : "");
    h->headers = add_header(h->headers, "X-LLMTap-Event", r->event ? r->event : "");
    h->headers = add_header(h->headers, "Expect", ""); /* no 100-continue round trip */
    if (!(h->easy = curl_easy_init())) {
        snprintf(err, errlen, "cannot make a curl handle");
        hook_free(h);
        return NULL;
    }
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_PRIVATE, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, WEBHOOK_CONNECT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

/* The outcome of a finished transfer into h->res. */
static void hook_done(struct hook *h, CURLcode code)
{
    h->res.status = 0;
    h->res.error[0] = '\0';
    if (code == CURLE_OK || code == CURLE_WRITE_ERROR)
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->res.status);
    if (h->res.status == 0)
        snprintf(h->res.error, sizeof(h->res.error), "%s",
                 h->curl_error[0] ? h->curl_error : curl_easy_strerror(code));
}

int webhook_post(const struct webhook_req *req, struct webhook_result *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    struct hook *h = hook_new(0, req, res->error, sizeof(res->error));
    if (!h)
        return -1;
    hook_done(h, curl_easy_perform(h->easy));
    *res = h->res;
    hook_free(h);
    return 0;
}

/* ---- the pool ----------------------------------------------------------------------- */

struct webhook_pool {
    CURLM *multi;
    struct hook *active;
    size_t n;
};

struct webhook_pool *webhook_pool_new(void)
{
    struct webhook_pool *p = xcalloc(1, sizeof(*p));
    p->multi = curl_multi_init();
    if (!p->multi) {
        free(p);
        return NULL;
    }
    return p;
}

void webhook_pool_free(struct webhook_pool *p)
{
    if (!p)
        return;
    while (p->active) {
        struct hook *h = p->active;
        p->active = h->next;
        curl_multi_remove_handle(p->multi, h->easy);
        hook_free(h);
    }
    curl_multi_cleanup(p->multi);
    free(p);
}

int webhook_pool_add(struct webhook_pool *p, int64_t id, const struct webhook_req *req, char *err,
                     size_t errlen)
{
    struct hook *h = hook_new(id, req, err, errlen);
    if (!h)
        return -1;
    if (curl_multi_add_handle(p->multi, h->easy) != CURLM_OK) {
        snprintf(err, errlen, "cannot start the delivery");
        hook_free(h);
        return -1;
    }
    h->next = p->active;
    p->active = h;
    p->n++;
    return 0;
}

int webhook_pool_has(const struct webhook_pool *p, int64_t id)
{
    for (const struct hook *h = p->active; h; h = h->next)
        if (h->id == id)
            return 1;
    return 0;
}

size_t webhook_pool_active(const struct webhook_pool *p)
{
    return p->n;
}

void webhook_pool_run(struct webhook_pool *p, int wait_ms, webhook_done_fn fn, void *ctx)
{
    int running = 0, left = 0;
    curl_multi_perform(p->multi, &running);
    if (p->n && wait_ms > 0) {
        curl_multi_poll(p->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(p->multi, &running);
    }
    CURLMsg *m;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct hook *h = NULL;
        CURLcode code = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        curl_multi_remove_handle(p->multi, m->easy_handle);
        for (struct hook **pp = &p->active; *pp; pp = &(*pp)->next)
            if (*pp == h) {
                *pp = h->next;
                break;
            }
        p->n--;
        hook_done(h, code);
        fn(ctx, h->id, &h->res);
        hook_free(h);
    }
}
