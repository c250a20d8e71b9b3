/*
 * runner_http: the runner's calls (runner.h): one curl multi handle, at
 * most 'concurrency' transfers in flight, a FIFO of calls waiting (some
 * with a backoff deadline), the cache in front of the network and the
 * batched writes behind it.
 *
 * A call's life: submitted -> (cache hit: finished) | queued -> started ->
 * answered -> retryable? (queued again with a deadline) : finished.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/sha256.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/runner_int.h"
#include "core/stats.h"
#include "store/evals.h"

#define RESP_MAX (16u << 20)
#define CACHE_FLUSH_ENTRIES 32
#define SPAN_FLUSH 64
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 20000
#define RETRY_AFTER_MAX_MS 60000

int run_http_init(struct run *run, char *err, size_t errlen)
{
    run->multi = curl_multi_init();
    if (!run->multi) {
        snprintf(err, errlen, "cannot start libcurl");
        return -1;
    }
    curl_multi_setopt(run->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)run->cfg->concurrency);
    buf_init(&run->cache_op, 0);
    return 0;
}

void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->model);
    free(j->messages);
    free(j->body);
    buf_release(&j->resp);
    curl_slist_free_all(j->headers);
    if (j->easy)
        curl_easy_cleanup(j->easy);
    free(j);
}

static void abandon(struct run *run);

void run_http_free(struct run *run)
{
    if (run->multi)
        abandon(run);
    if (run->multi)
        curl_multi_cleanup(run->multi);
    run->multi = NULL;
    for (size_t i = 0; i < run->nspans; i++)
        span_release(&run->spans[i]);
    free(run->spans);
    run->spans = NULL;
    run->nspans = 0;
    buf_release(&run->cache_op);
}

/* ---- the cache ------------------------------------------------------------------ */

static void cache_key(struct job *j)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_printf(&b, "llmtap-eval-cache-v1\n%s\n%s\n%d\n", j->up->name, j->path, j->rep);
    rc = rc || buf_puts(&b, j->body);
    if (rc == 0)
        sha256(b.data, b.len, j->key);
    buf_release(&b);
}

static int cache_lookup(struct run *run, struct job *j)
{
    if (run->cfg->no_cache || !run->cfg->db)
        return 0;
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    double latency = NAN;
    if (evals_cache_get(run->cfg->db, j->key, &status, &body, &len, &latency) != 1)
        return 0;
    j->start_ns = time_now_ns();
    j->end_ns = j->start_ns + (isnan(latency) ? 0 : (int64_t)(latency * 1e6));
    buf_reset(&j->resp);
    int rc = buf_append(&j->resp, body, len);
    free(body);
    if (rc != 0)
        return 0;
    j->status = status;
    j->cached = 1;
    return 1;
}

static void warn_sink(struct run *run, const char *what, const char *why)
{
    if (run->sink_warned++)
        return;
    fprintf(stderr, "llmtap eval: warning: cannot store %s: %s\n", what, why);
}

static void cache_flush(struct run *run)
{
    if (run->ncache == 0)
        return;
    char err[512];
    if (buf_puts(&run->cache_op, "]}") == 0 && run->cfg->sink.op &&
        run->cfg->sink.op(run->cfg->sink.ctx, run->cache_op.data, run->cache_op.len, err,
                          sizeof(err)) != 0)
        warn_sink(run, "cached answers", err);
    buf_reset(&run->cache_op);
    run->ncache = 0;
}

static void cache_put(struct run *run, const struct job *j)
{
    if (j->resp.len > EVALS_CACHE_BODY_MAX)
        return;
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", j->key[i]);
    struct buf *b = &run->cache_op;
    int rc = buf_puts(b, run->ncache ? "," : "{\"op\":\"cache_put\",\"entries\":[");
    rc = rc || buf_printf(b, "{\"key\":\"%s\",\"status\":%ld,\"latency_ms\":%.3f,\"body\":", hex,
                          j->status, (double)(j->end_ns - j->start_ns) / 1e6);
    rc = rc || buf_json_strn(b, buf_str(&j->resp), j->resp.len) || buf_putc(b, '}');
    if (rc != 0)
        return;
    if (++run->ncache >= CACHE_FLUSH_ENTRIES)
        cache_flush(run);
}

void run_flush(struct run *run)
{
    cache_flush(run);
    if (run->nspans == 0)
        return;
    char err[512];
    if (run->cfg->sink.spans &&
        run->cfg->sink.spans(run->cfg->sink.ctx, run->spans, run->nspans, err, sizeof(err)) != 0)
        warn_sink(run, "the evaluator's spans", err);
    for (size_t i = 0; i < run->nspans; i++)
        span_release(&run->spans[i]);
    run->nspans = 0;
}

/* ---- the queue ------------------------------------------------------------------ */

static void enqueue(struct run *run, struct job *j)
{
    j->next = NULL;
    if (run->queue_tail)
        run->queue_tail->next = j;
    else
        run->queue = j;
    run->queue_tail = j;
}

static void finish(struct run *run, struct job *j)
{
    if (!j->cached && j->status >= 200 && j->status < 300)
        cache_put(run, j);
    run->finished++;
    run_finished(run, j);
    if (run->nspans >= SPAN_FLUSH)
        run_flush(run);
    job_free(j);
}

void run_submit(struct run *run, struct job *j)
{
    run->planned++;
    buf_init(&j->resp, RESP_MAX);
    j->retry_after_ms = -1;
    cache_key(j);
    if (cache_lookup(run, j)) {
        finish(run, j);
        return;
    }
    enqueue(run, j);
}

/* ---- one transfer --------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct job *j = arg;
    return buf_append(&j->resp, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct job *j = arg;
    size_t len = size * n;
    char line[128];
    if (len >= sizeof(line))
        return len;
    memcpy(line, p, len);
    line[len] = '\0';
    if (strncasecmp(line, "HTTP/", 5) == 0)
        j->retry_after_ms = -1; /* a new answer (after 100-continue, redirects) */
    else if (strncasecmp(line, "retry-after-ms:", 15) == 0)
        j->retry_after_ms = (long)strtod(line + 15, NULL);
    else if (strncasecmp(line, "retry-after:", 12) == 0 && j->retry_after_ms < 0)
        j->retry_after_ms = (long)(strtod(line + 12, NULL) * 1000);
    return len;
}

struct curl_slist *runner_headers(const struct runner_upstream *up)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    const char *key = getenv(up->anthropic ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY");
    char line[1024];
    if (up->anthropic) {
        h = curl_slist_append(h, "anthropic-version: 2023-06-01");
        snprintf(line, sizeof(line), "x-api-key: %s", key ? key : "");
    } else {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", key ? key : "");
    }
    if (key && *key)
        h = curl_slist_append(h, line);
    explicit_bzero(line, sizeof(line));
    return h;
}

static int start(struct run *run, struct job *j)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", j->up->origin, j->path);
    if (!j->easy)
        j->easy = curl_easy_init();
    else
        curl_easy_reset(j->easy);
    if (!j->easy)
        return -1;
    curl_slist_free_all(j->headers);
    j->headers = runner_headers(j->up);
    buf_reset(&j->resp);
    j->curl_error[0] = '\0';
    long timeout = run->cfg->timeout_ms > 0 ? run->cfg->timeout_ms : 120000;
    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->curl_error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(run->multi, e) != CURLM_OK)
        return -1;
    j->attempts++;
    j->start_ns = time_now_ns();
    j->active_next = run->active;
    run->active = j;
    run->inflight++;
    run->started++;
    return 0;
}

static int retryable(long status)
{
    return status == 0 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504 || status == 529;
}

/* The wait before attempt j->attempts + 1, in ms. */
static long backoff_ms(struct run *run, const struct job *j)
{
    if (j->retry_after_ms >= 0)
        return j->retry_after_ms < RETRY_AFTER_MAX_MS ? j->retry_after_ms : RETRY_AFTER_MAX_MS;
    double ms = BACKOFF_BASE_MS * pow(2, j->attempts - 1);
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    struct stats_rng g;
    stats_rng_seed(&g, (uint64_t)time_mono_ns() ^ (uint64_t)run->started);
    return (long)(ms * (0.8 + 0.4 * stats_rng_unit(&g)));
}

static void answered(struct run *run, CURL *e, CURLcode code)
{
    struct job *j = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    curl_multi_remove_handle(run->multi, e);
    for (struct job **pp = &run->active; *pp; pp = &(*pp)->active_next)
        if (*pp == j) {
            *pp = j->active_next;
            break;
        }
    run->inflight--;
    j->end_ns = time_now_ns();
    j->status = 0;
    if (code == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &j->status);
    else if (!j->curl_error[0])
        snprintf(j->curl_error, sizeof(j->curl_error), "%s", curl_easy_strerror(code));
    if (retryable(j->status) && j->attempts < RUNNER_ATTEMPTS &&
        !(run->cfg->interrupted && *run->cfg->interrupted)) {
        j->not_before_ns = time_mono_ns() + backoff_ms(run, j) * 1000000LL;
        enqueue(run, j);
        return;
    }
    finish(run, j);
}

/* ---- the loop ------------------------------------------------------------------- */

/* Start what may start; returns the ms until the earliest delayed call. */
static long start_ready(struct run *run)
{
    long wait = 100;
    int64_t now = time_mono_ns();
    struct job **pp = &run->queue, *last = NULL;
    while (*pp && run->inflight < (size_t)run->cfg->concurrency) {
        struct job *j = *pp;
        if (j->not_before_ns > now) {
            long ms = (long)((j->not_before_ns - now) / 1000000) + 1;
            wait = ms < wait ? ms : wait;
            last = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        j->next = NULL;
        if (start(run, j) != 0) {
            snprintf(j->curl_error, sizeof(j->curl_error), "cannot start the request");
            j->status = 0;
            j->attempts = RUNNER_ATTEMPTS;
            finish(run, j);
        }
    }
    /* the tail pointer: the last job still queued */
    run->queue_tail = NULL;
    for (struct job *q = last ? last : run->queue; q; q = q->next)
        run->queue_tail = q;
    return wait;
}

static void progress(struct run *run, int final)
{
    if (!run->cfg->progress)
        return;
    FILE *out = run->cfg->progress_out ? run->cfg->progress_out : stderr;
    int64_t now = time_mono_ns();
    if (!final && now - run->last_progress_ns < (run->tty ? 100000000LL : 5000000000LL))
        return;
    run->last_progress_ns = now;
    double secs = (double)(now - run->t0_ns) / 1e9;
    size_t done = run->finished, all = run->planned > done ? run->planned : done;
    double rate = secs > 0 ? (double)done / secs : 0;
    double eta = rate > 0 ? (double)(all - done) / rate : 0;
    if (run->tty) {
        int width = 30, fill = all ? (int)((double)width * (double)done / (double)all) : width;
        fprintf(out, "\r[%.*s%*s] %zu/%zu calls  %.1f/s  ETA %.0fs ", fill,
                "##############################", width - fill, "", done, all, rate, eta);
        if (final)
            fputc('\n', out);
    } else {
        fprintf(out, "eval: %zu/%zu calls, %.1f/s, ETA %.0fs\n", done, all, rate, eta);
    }
    fflush(out);
}

static void abandon(struct run *run)
{
    while (run->active) {
        struct job *a = run->active;
        run->active = a->active_next;
        curl_multi_remove_handle(run->multi, a->easy);
        run->inflight--;
        job_free(a);
    }
    struct job *j = run->queue;
    while (j) {
        struct job *next = j->next;
        job_free(j);
        j = next;
    }
    run->queue = run->queue_tail = NULL;
}

void run_loop(struct run *run)
{
    long wait = start_ready(run);
    while (run->queue || run->inflight) {
        if (run->cfg->interrupted && *run->cfg->interrupted) {
            abandon(run);
            break;
        }
        /* wait for an answer, for curl's own timer (a new transfer on a
         * reused connection is due at once), or for the earliest backoff */
        long due = -1;
        curl_multi_timeout(run->multi, &due);
        if (due >= 0 && due < wait)
            wait = due;
        if (wait > 0)
            curl_multi_poll(run->multi, NULL, 0, (int)wait, NULL);
        int running = 0;
        curl_multi_perform(run->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(run->multi, &left)) != NULL)
            if (m->msg == CURLMSG_DONE)
                answered(run, m->easy_handle, m->data.result);
        progress(run, 0);
        /* start what the answers made ready (judge calls, retries due)
         * before waiting again */
        wait = start_ready(run);
    }
    progress(run, 1);
    run_flush(run);
}
