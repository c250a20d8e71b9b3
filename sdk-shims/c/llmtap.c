/*
 * llmtap: see llmtap.h. One client is a bounded FIFO of encoded spans (one
 * JSON object per line, ready to send) and a sender thread.
 *
 * Invariants, all under 't->mu':
 *   - 'count' <= 'cap' = max_queue; entries are owned strings.
 *   - a full queue drops its oldest entry before accepting a new one.
 *   - 'inflight' is the size of the batch the sender took and is sending;
 *     the queue is "empty" for llmtap_flush when count == 0 && inflight == 0.
 * The sender sleeps on 't->cv' until a full batch, the interval, a flush or
 * closing; it sends with the lock released. Backoff waits also sleep on
 * 't->cv' so that shutdown cuts them short.
 *
 * JSON strings are escaped here; invalid UTF-8 becomes U+FFFD. No
 * allocation failure aborts: a span that cannot be built is counted failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strdup, strcasecmp, getrandom */
#endif
#include "llmtap.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LT_DEFAULT_ENDPOINT "http://127.0.0.1:4318"
#define LT_SPAN_MAX (16u << 20)   /* one encoded span; bigger ones count as failed */
#define LT_BATCH_BYTES (4u << 20) /* a batch stops growing here (it has at least one span) */
#define LT_BUF_MAX (32u << 20)    /* any buffer: a batch is at most the two above */
#define LT_ANSWER_MAX (1u << 20)  /* the server's answer we keep */

/* ---- a small growable buffer ------------------------------------------ */

struct lt_buf {
    char *p;
    size_t len, cap;
    int bad; /* out of memory or over LT_BUF_MAX: the content is unusable */
};

static void lt_buf_add(struct lt_buf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = cap <= LT_BUF_MAX ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void lt_buf_puts(struct lt_buf *b, const char *s)
{
    lt_buf_add(b, s, strlen(s));
}

static void lt_buf_printf(struct lt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void lt_buf_printf(struct lt_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->bad = 1;
        return;
    }
    lt_buf_add(b, tmp, (size_t)n);
}

static void lt_buf_release(struct lt_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- JSON strings ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at 's' (at most 'n' bytes), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t lt_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Append 's' as a quoted JSON string. */
static void lt_json_str(struct lt_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    lt_buf_add(b, "\"", 1);
    size_t run = 0; /* bytes at p[0..run) that need no escaping */
    while (run < n) {
        unsigned c = p[run];
        size_t len = c >= 0x80 ? lt_utf8_len(p + run, n - run) : 1;
        if (c >= 0x20 && c != '"' && c != '\\' && len > 0) {
            run += len;
            continue;
        }
        lt_buf_add(b, (const char *)p, run);
        if (len == 0) {
            lt_buf_add(b, "\xEF\xBF\xBD", 3); /* U+FFFD for one bad byte */
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            lt_buf_add(b, esc, 2);
        } else if (c == '\n') {
            lt_buf_add(b, "\\n", 2);
        } else if (c == '\r') {
            lt_buf_add(b, "\\r", 2);
        } else if (c == '\t') {
            lt_buf_add(b, "\\t", 2);
        } else {
            lt_buf_printf(b, "\\u%04x", c);
        }
        p += run + 1;
        n -= run + 1;
        run = 0;
    }
    lt_buf_add(b, (const char *)p, run);
    lt_buf_add(b, "\"", 1);
}

/* A copy of caller JSON fit for one NDJSON line: CR and LF (only legal
 * between tokens) become spaces. Caller frees; NULL for NULL or no memory. */
static char *lt_json_line(const char *json)
{
    if (!json)
        return NULL;
    char *c = strdup(json);
    for (char *p = c; p && *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    return c;
}

/* ---- ids and time ------------------------------------------------------ */

static int64_t lt_now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 'nbytes' random bytes as hex into 'out' (2 * nbytes + 1), never all zero. */
static void lt_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[16];
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < nbytes) { /* no entropy source: time, pid and a counter */
        static unsigned long counter;
        uint64_t x = (uint64_t)lt_now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32) ^
                     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < nbytes; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            raw[i] = (unsigned char)x;
        }
    }
    int zero = 1;
    for (size_t i = 0; i < nbytes; i++) {
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
        zero = zero && raw[i] == 0;
    }
    if (zero)
        out[2 * nbytes - 1] = '1';
}

/* ---- the client -------------------------------------------------------- */

struct llmtap {
    struct llmtap_config cfg; /* strings below are owned copies */
    char *endpoint, *url, *key, *project, *version_set, *key_header;
    int disabled;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_started;
    char **ring; /* 'cap' slots; 'count' entries from 'head' */
    size_t cap, head, count, inflight;
    int flush_waiters;
    int closing;
    struct llmtap_stats st;
    struct llmtap *next_exit; /* at_exit registry */
};

static pthread_once_t lt_curl_once = PTHREAD_ONCE_INIT;
static int lt_curl_ok;

static void lt_curl_init(void)
{
    lt_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void llmtap_config_init(struct llmtap_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->batch_size = 100;
    cfg->flush_interval_ms = 1000;
    cfg->max_queue = 10000;
    cfg->max_retries = 5;
    cfg->retry_base_ms = 500;
    cfg->retry_max_ms = 30000;
    cfg->timeout_ms = 10000;
    cfg->shutdown_timeout_ms = 5000;
}

static char *lt_setting(const char *given, const char *env)
{
    const char *v = given ? given : getenv(env);
    return v && *v ? strdup(v) : NULL;
}

static int lt_env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

/* Copy and check the configuration. Returns 0, or -1 (no memory). */
static int lt_configure(struct llmtap *t, const struct llmtap_config *cfg)
{
    if (cfg)
        t->cfg = *cfg;
    else
        llmtap_config_init(&t->cfg);
    struct llmtap_config *c = &t->cfg;
    c->batch_size = c->batch_size ? c->batch_size : 1;
    c->max_queue = c->max_queue ? c->max_queue : 1;
    c->flush_interval_ms = c->flush_interval_ms > 0 ? c->flush_interval_ms : 1;
    c->max_retries = c->max_retries > 0 ? c->max_retries : 0;
    c->retry_base_ms = c->retry_base_ms > 0 ? c->retry_base_ms : 0;
    c->retry_max_ms = c->retry_max_ms > 0 ? c->retry_max_ms : 0;
    c->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    t->disabled = c->disabled || lt_env_true("LLMTAP_DISABLED");
    t->endpoint = lt_setting(c->endpoint, "LLMTAP_ENDPOINT");
    if (!t->endpoint)
        t->endpoint = strdup(LT_DEFAULT_ENDPOINT);
    t->key = lt_setting(c->key, "LLMTAP_KEY");
    t->project = lt_setting(c->project, "LLMTAP_PROJECT");
    t->version_set = lt_setting(c->version_set, "LLMTAP_VERSION_SET");
    c->endpoint = c->key = c->project = c->version_set = NULL; /* not kept: use t's */
    if (!t->endpoint)
        return -1;
    size_t n = strlen(t->endpoint);
    while (n > 0 && t->endpoint[n - 1] == '/')
        t->endpoint[--n] = '\0';
    t->url = malloc(n + sizeof("/api/v1/spans"));
    if (!t->url)
        return -1;
    memcpy(t->url, t->endpoint, n);
    memcpy(t->url + n, "/api/v1/spans", sizeof("/api/v1/spans"));
    if (t->key) {
        t->key_header = malloc(strlen(t->key) + sizeof("LLMTap-Key: "));
        if (!t->key_header)
            return -1;
        strcpy(t->key_header, "LLMTap-Key: ");
        strcat(t->key_header, t->key);
        if (strpbrk(t->key, "\r\n")) /* would forge headers: refuse to send */
            t->disabled = 1;
    }
    t->cap = c->max_queue;
    t->ring = calloc(t->cap, sizeof(*t->ring));
    return t->ring ? 0 : -1;
}

static void lt_free(struct llmtap *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->ring[(t->head + i) % t->cap]);
    free(t->ring);
    free(t->endpoint);
    free(t->url);
    free(t->key);
    free(t->project);
    free(t->version_set);
    free(t->key_header);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* ---- the at-exit registry ---------------------------------------------- */

static pthread_mutex_t lt_exit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct llmtap *lt_exit_list;
static int lt_exit_registered;

static void lt_at_exit(void)
{
    for (;;) {
        pthread_mutex_lock(&lt_exit_mu);
        struct llmtap *t = lt_exit_list;
        pthread_mutex_unlock(&lt_exit_mu);
        if (!t)
            return;
        llmtap_shutdown(t, -1); /* unlinks it */
    }
}

static void lt_exit_add(struct llmtap *t)
{
    pthread_mutex_lock(&lt_exit_mu);
    if (!lt_exit_registered)
        lt_exit_registered = atexit(lt_at_exit) == 0;
    t->next_exit = lt_exit_list;
    lt_exit_list = t;
    pthread_mutex_unlock(&lt_exit_mu);
}

static void lt_exit_remove(struct llmtap *t)
{
    pthread_mutex_lock(&lt_exit_mu);
    for (struct llmtap **pp = &lt_exit_list; *pp; pp = &(*pp)->next_exit) {
        if (*pp == t) {
            *pp = t->next_exit;
            break;
        }
    }
    pthread_mutex_unlock(&lt_exit_mu);
}

/* ---- sending ------------------------------------------------------------ */

struct lt_answer {
    struct lt_buf body;
    long retry_after_ms; /* -1: none */
};

static size_t lt_on_body(char *p, size_t size, size_t n, void *ud)
{
    struct lt_answer *a = ud;
    if (a->body.len + size * n <= LT_ANSWER_MAX)
        lt_buf_add(&a->body, p, size * n);
    return size * n;
}

static size_t lt_on_header(char *p, size_t size, size_t n, void *ud)
{
    struct lt_answer *a = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        char v[128];
        size_t vl = len - (sizeof(name) - 1);
        vl = vl < sizeof(v) - 1 ? vl : sizeof(v) - 1;
        memcpy(v, p + sizeof(name) - 1, vl);
        v[vl] = '\0';
        char *end;
        double secs = strtod(v, &end);
        if (end != v && secs >= 0) {
            a->retry_after_ms = (long)(secs * 1000);
        } else { /* an HTTP date */
            time_t when = curl_getdate(v, NULL);
            if (when > 0)
                a->retry_after_ms = when > time(NULL) ? (long)(when - time(NULL)) * 1000 : 0;
        }
    }
    return len;
}

/* One POST of 'body'. Returns the HTTP status, 0 when there was no answer. */
static long lt_post(struct llmtap *t, CURL *h, const char *body, size_t len, struct lt_answer *a)
{
    struct curl_slist *hdr = NULL, *tmp;
    hdr = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    if (hdr && (tmp = curl_slist_append(hdr, "Expect:")))
        hdr = tmp;
    if (hdr && t->key_header && (tmp = curl_slist_append(hdr, t->key_header)))
        hdr = tmp;
    lt_buf_release(&a->body);
    a->retry_after_ms = -1;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, t->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "llmtap-c/0.1");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)t->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, lt_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, lt_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    return status;
}

/* The integer after "\"name\":" in 'json', or 0. */
static uint64_t lt_json_count(const char *json, const char *name)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static int lt_retryable(long status)
{
    return status == 0 || status == 408 || status == 429 || status >= 500;
}

/* Wait 'ms' or until closing. Called with t->mu held. */
static void lt_sleep_locked(struct llmtap *t, long ms)
{
    int64_t end = lt_now_ns(CLOCK_REALTIME) + (int64_t)ms * 1000000;
    struct timespec ts = {(time_t)(end / 1000000000), (long)(end % 1000000000)};
    while (!t->closing && lt_now_ns(CLOCK_REALTIME) < end) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
            break;
    }
}

static long lt_backoff_ms(const struct llmtap *t, int attempt, long retry_after_ms)
{
    long ms = retry_after_ms;
    if (ms < 0) {
        ms = t->cfg.retry_base_ms;
        for (int i = 0; i < attempt && ms < t->cfg.retry_max_ms; i++)
            ms *= 2;
    }
    return ms < t->cfg.retry_max_ms ? ms : t->cfg.retry_max_ms;
}

/* Send 'n' spans joined in 'body', retrying. Returns how many were stored.
 * A span the server could not commit (UNAVAILABLE) resends the batch:
 * spans already stored come back as duplicates, so counting the last
 * answer is exact. */
static uint64_t lt_send(struct llmtap *t, CURL *h, const char *body, size_t len, size_t n)
{
    struct lt_answer a = {{0}, -1};
    uint64_t stored = 0;
    for (int attempt = 0;; attempt++) {
        long status = lt_post(t, h, body, len, &a);
        int retry = lt_retryable(status);
        if (status == 200 || status == 207 || status == 400) {
            stored = lt_json_count(a.body.p, "accepted") + lt_json_count(a.body.p, "duplicates");
            retry = stored < n && a.body.p && strstr(a.body.p, "\"UNAVAILABLE\"");
        }
        if (!retry || attempt >= t->cfg.max_retries)
            break;
        pthread_mutex_lock(&t->mu);
        int closing = t->closing;
        if (!closing)
            lt_sleep_locked(t, lt_backoff_ms(t, attempt, a.retry_after_ms));
        pthread_mutex_unlock(&t->mu);
        if (closing)
            break;
    }
    lt_buf_release(&a.body);
    return stored < n ? stored : n;
}

/* Wait for work, then move up to batch_size spans into 'batch' (one NDJSON
 * body). Returns the number taken; 0 when closing with nothing left. */
static size_t lt_take_batch(struct llmtap *t, struct lt_buf *batch)
{
    pthread_mutex_lock(&t->mu);
    int64_t due = lt_now_ns(CLOCK_REALTIME) + (int64_t)t->cfg.flush_interval_ms * 1000000;
    while (!t->closing && t->count < t->cfg.batch_size && !(t->flush_waiters && t->count)) {
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT) {
            if (t->count)
                break;
            due = lt_now_ns(CLOCK_REALTIME) + (int64_t)t->cfg.flush_interval_ms * 1000000;
        }
    }
    size_t n = 0;
    while (n < t->cfg.batch_size && t->count && !t->closing) {
        char *line = t->ring[t->head];
        if (n > 0 && batch->len + strlen(line) + 1 > LT_BATCH_BYTES)
            break;
        t->ring[t->head] = NULL;
        t->head = (t->head + 1) % t->cap;
        t->count--;
        lt_buf_puts(batch, line);
        lt_buf_add(batch, "\n", 1);
        free(line);
        n++;
    }
    t->inflight = n;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static void *lt_sender(void *arg)
{
    struct llmtap *t = arg;
    CURL *h = curl_easy_init();
    for (;;) {
        struct lt_buf batch = {0};
        size_t n = lt_take_batch(t, &batch);
        if (n == 0) {
            lt_buf_release(&batch);
            break;
        }
        uint64_t stored = h && !batch.bad ? lt_send(t, h, batch.p, batch.len, n) : 0;
        lt_buf_release(&batch);
        pthread_mutex_lock(&t->mu);
        t->st.sent += stored;
        t->st.failed += n - stored;
        t->inflight = 0;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* ---- client API --------------------------------------------------------- */

struct llmtap *llmtap_open(const struct llmtap_config *cfg)
{
    struct llmtap *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (lt_configure(t, cfg) != 0) {
        lt_free(t);
        return NULL;
    }
    if (!t->disabled) {
        pthread_once(&lt_curl_once, lt_curl_init);
        t->thread_started = lt_curl_ok && pthread_create(&t->thread, NULL, lt_sender, t) == 0;
        t->disabled = !t->thread_started;
    }
    if (!t->disabled && t->cfg.at_exit)
        lt_exit_add(t);
    return t;
}

int llmtap_enabled(const struct llmtap *t)
{
    return t && !t->disabled;
}

int llmtap_flush(struct llmtap *t, int timeout_ms)
{
    if (!t || t->disabled)
        return LLMTAP_DISABLED;
    int64_t end = lt_now_ns(CLOCK_REALTIME) + (int64_t)timeout_ms * 1000000;
    struct timespec ts = {(time_t)(end / 1000000000), (long)(end % 1000000000)};
    int rc = LLMTAP_OK;
    pthread_mutex_lock(&t->mu);
    t->flush_waiters++;
    pthread_cond_broadcast(&t->cv);
    while ((t->count || t->inflight) && !t->closing) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&t->cv, &t->mu);
        } else if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT) {
            rc = t->count || t->inflight ? LLMTAP_TIMEOUT : LLMTAP_OK;
            break;
        }
    }
    t->flush_waiters--;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int llmtap_shutdown(struct llmtap *t, int timeout_ms)
{
    if (!t)
        return LLMTAP_DISABLED;
    lt_exit_remove(t);
    int rc = llmtap_flush(t, timeout_ms < 0 ? t->cfg.shutdown_timeout_ms : timeout_ms);
    pthread_mutex_lock(&t->mu);
    t->closing = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->thread_started)
        pthread_join(t->thread, NULL);
    lt_free(t);
    return rc;
}

void llmtap_stats(struct llmtap *t, struct llmtap_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    *out = t->st;
    out->queued = t->count + t->inflight;
    pthread_mutex_unlock(&t->mu);
}

/* Queue one encoded span ('line' is taken), dropping the oldest if full. */
static void lt_enqueue(struct llmtap *t, char *line)
{
    pthread_mutex_lock(&t->mu);
    if (t->closing || !line) {
        t->st.failed++;
        free(line);
    } else {
        if (t->count == t->cap) {
            free(t->ring[t->head]);
            t->ring[t->head] = NULL;
            t->head = (t->head + 1) % t->cap;
            t->count--;
            t->st.dropped++;
        }
        t->ring[(t->head + t->count) % t->cap] = line;
        t->count++;
        if (t->count >= t->cfg.batch_size)
            pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- spans ---------------------------------------------------------------- */

struct llmtap_span {
    struct llmtap *t;
    char trace_id[33], span_id[17], parent_id[17];
    int64_t start_ns, end_ns; /* end 0: stamped at llmtap_span_end */
    char *str[LLMTAP_FIELD_COUNT];
    char *input, *output;     /* encoded JSON values */
    int64_t usage[5];         /* -1: absent */
    double cost_usd, ttft_ms; /* negative: absent */
    int has_error;
    char *err_code, *err_msg;
    char *prompt_name, *prompt_vars;
    int64_t prompt_version;
    char *params;
    struct lt_buf tags, attrs; /* encoded members, comma-separated */
    int bad;                   /* an allocation failed: the span will be counted failed */
};

static const char *const lt_field_names[LLMTAP_FIELD_COUNT] = {
    "name",    "kind",          "provider",     "model",          "response_model",
    "status",  "user",          "session",      "tenant",         "version_set",
    "project", "finish_reason", "service_name", "service_version"};

/* Replace '*slot' by a copy of 'v' (NULL clears). */
static void lt_span_store(struct llmtap_span *s, char **slot, const char *v)
{
    char *c = v ? strdup(v) : NULL;
    if (v && !c)
        s->bad = 1;
    free(*slot);
    *slot = c;
}

struct llmtap_span *llmtap_span_begin(struct llmtap *t, const char *name,
                                      const struct llmtap_span *parent)
{
    if (!t || t->disabled)
        return NULL;
    struct llmtap_span *s = calloc(1, sizeof(*s));
    if (!s) {
        lt_enqueue(t, NULL); /* counted failed */
        return NULL;
    }
    s->t = t;
    s->start_ns = lt_now_ns(CLOCK_REALTIME);
    for (int i = 0; i < 5; i++)
        s->usage[i] = -1;
    s->cost_usd = s->ttft_ms = -1;
    s->prompt_version = -1;
    lt_random_hex(s->span_id, 8);
    if (parent) {
        memcpy(s->trace_id, parent->trace_id, sizeof(s->trace_id));
        memcpy(s->parent_id, parent->span_id, sizeof(s->parent_id));
        static const enum llmtap_field inherit[] = {LLMTAP_USER, LLMTAP_SESSION, LLMTAP_TENANT,
                                                    LLMTAP_VERSION_SET, LLMTAP_PROJECT};
        for (size_t i = 0; i < sizeof(inherit) / sizeof(inherit[0]); i++)
            lt_span_store(s, &s->str[inherit[i]], parent->str[inherit[i]]);
    } else {
        lt_random_hex(s->trace_id, 16);
    }
    lt_span_store(s, &s->str[LLMTAP_NAME], name);
    return s;
}

const char *llmtap_span_trace_id(const struct llmtap_span *s)
{
    return s ? s->trace_id : "";
}

const char *llmtap_span_id(const struct llmtap_span *s)
{
    return s ? s->span_id : "";
}

void llmtap_span_set(struct llmtap_span *s, enum llmtap_field field, const char *value)
{
    if (s && (int)field >= 0 && field < LLMTAP_FIELD_COUNT)
        lt_span_store(s, &s->str[field], value);
}

/* '*slot' = 'text' encoded as a JSON string. */
static void lt_span_text(struct llmtap_span *s, char **slot, const char *text)
{
    if (!s)
        return;
    free(*slot);
    *slot = NULL;
    if (!text)
        return;
    struct lt_buf b = {0};
    lt_json_str(&b, text);
    if (b.bad) {
        s->bad = 1;
        lt_buf_release(&b);
        return;
    }
    *slot = b.p;
}

/* '*slot' = caller JSON, made fit for one line. */
static void lt_span_json(struct llmtap_span *s, char **slot, const char *json)
{
    if (!s)
        return;
    free(*slot);
    *slot = lt_json_line(json);
    if (json && !*slot)
        s->bad = 1;
}

void llmtap_span_set_input_text(struct llmtap_span *s, const char *text)
{
    lt_span_text(s, s ? &s->input : NULL, text);
}

void llmtap_span_set_output_text(struct llmtap_span *s, const char *text)
{
    lt_span_text(s, s ? &s->output : NULL, text);
}

void llmtap_span_set_input_json(struct llmtap_span *s, const char *json)
{
    lt_span_json(s, s ? &s->input : NULL, json);
}

void llmtap_span_set_output_json(struct llmtap_span *s, const char *json)
{
    lt_span_json(s, s ? &s->output : NULL, json);
}

void llmtap_span_set_params_json(struct llmtap_span *s, const char *json)
{
    lt_span_json(s, s ? &s->params : NULL, json);
}

void llmtap_span_set_usage(struct llmtap_span *s, int64_t input, int64_t output, int64_t cache_read,
                           int64_t cache_write, int64_t reasoning)
{
    if (!s)
        return;
    int64_t v[5] = {input, output, cache_read, cache_write, reasoning};
    for (int i = 0; i < 5; i++)
        s->usage[i] = v[i] >= 0 ? v[i] : -1;
}

void llmtap_span_set_cost(struct llmtap_span *s, double usd)
{
    if (s)
        s->cost_usd = isfinite(usd) && usd >= 0 ? usd : -1;
}

void llmtap_span_set_ttft_ms(struct llmtap_span *s, double ms)
{
    if (s)
        s->ttft_ms = isfinite(ms) && ms >= 0 ? ms : -1;
}

void llmtap_span_set_error(struct llmtap_span *s, const char *code, const char *message)
{
    if (!s)
        return;
    s->has_error = 1;
    lt_span_store(s, &s->err_code, code);
    lt_span_store(s, &s->err_msg, message);
    lt_span_store(s, &s->str[LLMTAP_STATUS], "error");
}

void llmtap_span_set_prompt(struct llmtap_span *s, const char *name, int64_t version,
                            const char *variables_json)
{
    if (!s)
        return;
    lt_span_store(s, &s->prompt_name, name);
    s->prompt_version = version >= 0 ? version : -1;
    lt_span_json(s, &s->prompt_vars, variables_json);
}

void llmtap_span_add_tag(struct llmtap_span *s, const char *tag)
{
    if (!s || !tag)
        return;
    if (s->tags.len)
        lt_buf_add(&s->tags, ",", 1);
    lt_json_str(&s->tags, tag);
}

void llmtap_span_set_attr(struct llmtap_span *s, const char *key, const char *value)
{
    if (!s || !key || !value)
        return;
    if (s->attrs.len)
        lt_buf_add(&s->attrs, ",", 1);
    lt_json_str(&s->attrs, key);
    lt_buf_add(&s->attrs, ":", 1);
    lt_json_str(&s->attrs, value);
}

void llmtap_span_set_times(struct llmtap_span *s, int64_t start_ns, int64_t end_ns)
{
    if (!s)
        return;
    if (start_ns > 0)
        s->start_ns = start_ns;
    if (end_ns > 0)
        s->end_ns = end_ns;
}

/* ---- encoding ------------------------------------------------------------ */

static void lt_member_str(struct lt_buf *b, const char *name, const char *v)
{
    if (!v)
        return;
    lt_buf_printf(b, ",\"%s\":", name);
    lt_json_str(b, v);
}

static void lt_member_raw(struct lt_buf *b, const char *name, const char *raw)
{
    if (!raw)
        return;
    lt_buf_printf(b, ",\"%s\":", name);
    lt_buf_puts(b, raw);
}

static void lt_encode_usage(struct lt_buf *b, const struct llmtap_span *s)
{
    static const char *const names[5] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                         "cache_write_tokens", "reasoning_tokens"};
    int any = 0;
    for (int i = 0; i < 5; i++) {
        if (s->usage[i] < 0)
            continue;
        lt_buf_puts(b, any ? "," : ",\"usage\":{");
        lt_buf_printf(b, "\"%s\":%lld", names[i], (long long)s->usage[i]);
        any = 1;
    }
    if (any)
        lt_buf_add(b, "}", 1);
}

static void lt_encode_extras(struct lt_buf *b, const struct llmtap_span *s)
{
    if (s->cost_usd >= 0)
        lt_buf_printf(b, ",\"cost_usd\":%.12g", s->cost_usd);
    if (s->ttft_ms >= 0)
        lt_buf_printf(b, ",\"latency\":{\"ttft_ms\":%.6g}", s->ttft_ms);
    if (s->has_error) {
        lt_buf_puts(b, ",\"error\":{\"code\":");
        lt_json_str(b, s->err_code ? s->err_code : "error");
        lt_buf_puts(b, ",\"message\":");
        lt_json_str(b, s->err_msg ? s->err_msg : "");
        lt_buf_add(b, "}", 1);
    }
    if (s->prompt_name || s->prompt_version >= 0 || s->prompt_vars) {
        lt_buf_puts(b, ",\"prompt\":{");
        const char *sep = "";
        if (s->prompt_name) {
            lt_buf_puts(b, "\"name\":");
            lt_json_str(b, s->prompt_name);
            sep = ",";
        }
        if (s->prompt_version >= 0) {
            lt_buf_printf(b, "%s\"version\":%lld", sep, (long long)s->prompt_version);
            sep = ",";
        }
        if (s->prompt_vars)
            lt_buf_printf(b, "%s\"variables\":%s", sep, s->prompt_vars);
        lt_buf_add(b, "}", 1);
    }
    if (s->tags.len) {
        lt_buf_puts(b, ",\"tags\":[");
        lt_buf_puts(b, s->tags.p);
        lt_buf_add(b, "]", 1);
    }
    if (s->attrs.len) {
        lt_buf_puts(b, ",\"attributes\":{");
        lt_buf_puts(b, s->attrs.p);
        lt_buf_add(b, "}", 1);
    }
}

/* The span as one JSON line (caller frees), or NULL. */
static char *lt_encode(const struct llmtap_span *s)
{
    const struct llmtap *t = s->t;
    struct lt_buf b = {0};
    lt_buf_printf(&b, "{\"trace_id\":\"%s\",\"span_id\":\"%s\"", s->trace_id, s->span_id);
    if (s->parent_id[0])
        lt_buf_printf(&b, ",\"parent_span_id\":\"%s\"", s->parent_id);
    lt_buf_printf(&b, ",\"start_ns\":\"%lld\",\"end_ns\":\"%lld\"", (long long)s->start_ns,
                  (long long)s->end_ns);
    for (int f = 0; f < LLMTAP_FIELD_COUNT; f++)
        lt_member_str(&b, lt_field_names[f], s->str[f]);
    if (!s->str[LLMTAP_PROJECT])
        lt_member_str(&b, "project", t->project);
    if (!s->str[LLMTAP_VERSION_SET])
        lt_member_str(&b, "version_set", t->version_set);
    lt_member_raw(&b, "input", s->input);
    lt_member_raw(&b, "output", s->output);
    lt_member_raw(&b, "params", s->params);
    lt_encode_usage(&b, s);
    lt_encode_extras(&b, s);
    lt_buf_add(&b, "}", 1);
    if (b.bad || s->bad || s->tags.bad || s->attrs.bad || b.len > LT_SPAN_MAX) {
        lt_buf_release(&b);
        return NULL;
    }
    return b.p;
}

static void lt_span_free(struct llmtap_span *s)
{
    for (int f = 0; f < LLMTAP_FIELD_COUNT; f++)
        free(s->str[f]);
    free(s->input);
    free(s->output);
    free(s->err_code);
    free(s->err_msg);
    free(s->prompt_name);
    free(s->prompt_vars);
    free(s->params);
    lt_buf_release(&s->tags);
    lt_buf_release(&s->attrs);
    free(s);
}

void llmtap_span_end(struct llmtap_span *s)
{
    if (!s)
        return;
    if (s->end_ns == 0)
        s->end_ns = lt_now_ns(CLOCK_REALTIME);
    if (s->end_ns < s->start_ns)
        s->end_ns = s->start_ns;
    lt_enqueue(s->t, lt_encode(s));
    lt_span_free(s);
}
