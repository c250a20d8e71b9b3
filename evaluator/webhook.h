/*
 * webhook: what an alert delivers (DESIGN.md §7, issue 7 item 5): the JSON
 * body (a Slack-compatible "text" and the structured fields), its
 * signature and the HTTP POST, either one blocking call (`alert test`) or
 * many at once without blocking (a pool over curl multi, driven by the
 * alert engine's thread).
 *
 * Every request carries
 *   Content-Type: application/json
 *   X-LLMTap-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *   X-LLMTap-Dedup-Key: <the firing's key>   (also "dedup_key" in the body)
 *   X-LLMTap-Event: FIRING | RESOLVED | NO_DATA | TEST
 * A 2xx answer is a success; 408, 429, 5xx and transport errors are worth
 * retrying (webhook_retryable); Retry-After (seconds) is reported.
 * Only http and https are followed, redirects are not, and each request is
 * bounded by a connect and a total timeout. The secret is never logged.
 *
 * Thread-safety: the functions are; a pool is used by one thread.
 */
#ifndef EVALUATOR_WEBHOOK_H
#define EVALUATOR_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/alerts.h"

#define WEBHOOK_SIG_LEN (7 + 64 + 1) /* "sha256=" + hex + NUL */
#define WEBHOOK_TIMEOUT_MS 10000L    /* total, per attempt */
#define WEBHOOK_CONNECT_MS 3000L
#define WEBHOOK_ANSWER_MAX (64u << 10) /* bytes of a receiver's answer kept */

/* One transition (or a test) as delivered. Strings borrowed. */
struct webhook_event {
    const char *rule;
    const char *state; /* "FIRING", "RESOLVED", "NO_DATA" or "TEST" */
    enum alerts_metric metric;
    enum alerts_scope scope;
    const char *subject; /* "" for global */
    enum alerts_mode mode;
    int64_t window_s;
    double value;     /* NAN: none */
    double threshold; /* above: the threshold; anomaly: the factor */
    double baseline;  /* anomaly: the median; NAN: none */
    const char *dedup_key;
    int64_t time_ns;
};

/* "10s", "5m", "1h", "1d", "90s": 'window_s' as users write it. */
const char *webhook_fmt_window(char *dst, size_t n, int64_t window_s);
/* A value of 'metric': "$12.3400", "1,234 tokens", "12 calls", "7.5%",
 * "850 ms"; NAN: "-". */
const char *webhook_fmt_value(char *dst, size_t n, enum alerts_metric metric, double v);

/* Append the JSON body of 'e' to 'out':
 *   {"text", "rule", "state", "metric", "scope", "subject", "window",
 *    "window_s", "mode", "value", "threshold", "baseline", "factor"
 *    (anomaly), "dedup_key", "time" (RFC 3339), "time_ns" (string),
 *    "link": "/alerts?rule=NAME"}
 * with null for an absent number. Returns a buf error code (0 = OK). */
int webhook_body(const struct webhook_event *e, struct buf *out)
    __attribute__((warn_unused_result));

/* "sha256=" and the hex HMAC-SHA256 of 'body' under 'secret'. */
void webhook_signature(const void *secret, size_t secret_len, const void *body, size_t len,
                       char out[WEBHOOK_SIG_LEN]);

/* What to send. Strings borrowed for the call (the pool copies them). */
struct webhook_req {
    const char *url;
    const char *body;
    size_t len;
    const void *secret;
    size_t secret_len;
    const char *dedup_key;
    const char *event; /* the X-LLMTap-Event value */
    long timeout_ms;   /* 0: WEBHOOK_TIMEOUT_MS */
};

struct webhook_result {
    long status;           /* HTTP status; 0 when none came */
    int64_t retry_after_s; /* the answer's Retry-After in seconds; -1: none */
    char error[256];       /* transport error ("" with a status) */
};

/* 1 when 'r' is a success (2xx). */
int webhook_ok(const struct webhook_result *r);
/* 1 when 'r' is worth another attempt: no answer, 408, 429 or 5xx. */
int webhook_retryable(const struct webhook_result *r);

/* POST 'req' now and wait for the answer. Returns 0 with the outcome in
 * *res (which may still be a failure: see webhook_ok), or -1 when the
 * request could not be set up (message in res->error). */
int webhook_post(const struct webhook_req *req, struct webhook_result *res)
    __attribute__((warn_unused_result));

/* ---- many deliveries at once ------------------------------------------------ */

struct webhook_pool;

struct webhook_pool *webhook_pool_new(void);
void webhook_pool_free(struct webhook_pool *p); /* abandons what is in flight; accepts NULL */

/* Start POSTing 'req' (copied); 'id' names it in the completion. 0, or -1
 * (message in 'err'). */
int webhook_pool_add(struct webhook_pool *p, int64_t id, const struct webhook_req *req, char *err,
                     size_t errlen) __attribute__((warn_unused_result));
/* 1 when request 'id' is in flight. */
int webhook_pool_has(const struct webhook_pool *p, int64_t id);
/* Requests in flight. */
size_t webhook_pool_active(const struct webhook_pool *p);

/* Move the transfers on, waiting up to 'wait_ms' for something to happen,
 * and call 'fn' for each that finished ('res' borrowed for the call). */
typedef void (*webhook_done_fn)(void *ctx, int64_t id, const struct webhook_result *res);
void webhook_pool_run(struct webhook_pool *p, int wait_ms, webhook_done_fn fn, void *ctx);

#endif
