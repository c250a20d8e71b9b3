/*
 * bench_proxy: what the forwarding proxy adds (issue 5 item 10). In one run,
 * the same calls go straight to the fake upstream (fixtures/fakeup.h, in
 * this process) and through a live `llmtap serve` in front of it:
 *  1. latency of plain chat calls, one client, direct and proxied calls
 *     alternating: added p50 and p99 (targets <= 0.3 ms and <= 1 ms);
 *  2. time to the first byte of a streamed answer, the same way: added p50
 *     and p99;
 *  3. the lag of each streamed event: when the fake wrote it versus when
 *     the client read it through the proxy (target: <= 2 ms each);
 *  4. proxied calls per second with 16 keep-alive clients (target >= 5,000),
 *     beside the direct figure.
 * Usage: bench_proxy [--calls N] [--seconds S] [--clients C]
 *        bench_proxy --lag-only N [--direct] [--show-slow]
 * The second form measures phase 3 alone over N streams on an idle store
 * (--direct: straight to the fake, the baseline; --show-slow: print each
 * event over 2 ms), to look into the lag's tail.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "core/xmem.h"
#include "fixtures/fakeup.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static const char chat[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You answer "
    "questions about parcels.\"},{\"role\":\"user\",\"content\":\"Where is my parcel? It was "
    "order 4417.\"}],\"max_tokens\":32}";
static const char stream[] =
    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Where is my parcel?\"}],\"max_tokens\":32}";

struct client {
    CURL *h;
    struct curl_slist *hdrs;
    int64_t t0, first;
    size_t bytes;
};

static size_t on_body(char *d, size_t sz, size_t nm, void *arg)
{
    struct client *c = arg;
    (void)d;
    if (!c->first)
        c->first = time_now_ns();
    c->bytes += sz * nm;
    return sz * nm;
}

static void client_init(struct client *c)
{
    memset(c, 0, sizeof(*c));
    c->h = curl_easy_init();
    c->hdrs = curl_slist_append(NULL, "Authorization: Bearer sk-bench");
    c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "X-Fake-Tokens: 16");
}

static void client_release(struct client *c)
{
    curl_slist_free_all(c->hdrs);
    curl_easy_cleanup(c->h);
}

/* One POST; returns its total time in ns (time to first byte in c->first). */
static int64_t call(struct client *c, const char *url, const char *body)
{
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    c->first = 0;
    c->t0 = time_now_ns();
    CURLcode rc = curl_easy_perform(c->h);
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        fprintf(stderr, "bench_proxy: %s -> %s (HTTP %ld)\n", url, curl_easy_strerror(rc), status);
        exit(1);
    }
    return time_now_ns() - c->t0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

static const char *verdict(double v, double target, int at_most)
{
    return (at_most ? v <= target : v >= target) ? "MET" : "MISSED";
}

/* Phases 1 and 2: alternate direct and proxied calls on two connections. */
static void latency(const char *direct, const char *proxied, const char *body, int n, int ttfb,
                    double *p50, double *p99)
{
    struct client a, b;
    client_init(&a);
    client_init(&b);
    int64_t *d = xcalloc((size_t)n, sizeof(*d)), *p = xcalloc((size_t)n, sizeof(*p));
    for (int i = 0; i < n / 10; i++) /* warm up both paths */
        call(&a, direct, body), call(&b, proxied, body);
    for (int i = 0; i < n; i++) {
        int64_t t = call(&a, direct, body);
        d[i] = ttfb ? a.first - a.t0 : t;
        t = call(&b, proxied, body);
        p[i] = ttfb ? b.first - b.t0 : t;
    }
    double d50 = pct(d, (size_t)n, 0.5), d99 = pct(d, (size_t)n, 0.99);
    double x50 = pct(p, (size_t)n, 0.5), x99 = pct(p, (size_t)n, 0.99);
    printf("  direct  p50 %.3f ms  p99 %.3f ms\n  proxied p50 %.3f ms  p99 %.3f ms\n", d50, d99,
           x50, x99);
    *p50 = x50 - d50;
    *p99 = x99 - d99;
    free(d);
    free(p);
    client_release(&a);
    client_release(&b);
}

/* Phase 3: the lag of each event of streams through the proxy. */
struct lag {
    struct fakeup *fake;
    int64_t *lags;
    size_t n, cap;
    int64_t arrived[256];
    int nev, tail;
};

static size_t on_stream(char *d, size_t sz, size_t nm, void *arg)
{
    struct lag *l = arg;
    int64_t now = time_now_ns();
    for (size_t i = 0; i < sz * nm; i++) {
        if (d[i] == '\n' && l->tail && l->nev < 256)
            l->arrived[l->nev++] = now;
        l->tail = d[i] == '\n' ? !l->tail : 0;
    }
    return sz * nm;
}

static int show_slow;

static void event_lag(struct fakeup *fake, const char *proxied, int streams, double *p50,
                      double *p99, double *max)
{
    struct lag l = {.fake = fake, .cap = (size_t)streams * 64};
    l.lags = xcalloc(l.cap, sizeof(*l.lags));
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Authorization: Bearer sk-bench");
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "X-Fake-Tokens: 30");
    hd = curl_slist_append(hd, "X-Fake-Token-Delay-Us: 3000");
    for (int s = 0; s < streams; s++) {
        l.nev = 0;
        l.tail = 0;
        curl_easy_setopt(h, CURLOPT_URL, proxied);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, stream);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &l);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform(h) != CURLE_OK)
            exit(1);
        int64_t sent[256];
        size_t ns = fakeup_last_stream_times(fake, sent, 256);
        for (size_t i = 0; i < ns && i < (size_t)l.nev && l.n < l.cap; i++) {
            l.lags[l.n++] = l.arrived[i] - sent[i];
            if (show_slow && l.arrived[i] - sent[i] > 2000000)
                fprintf(stderr, "stream %d event %zu: %.3f ms\n", s, i,
                        (double)(l.arrived[i] - sent[i]) / 1e6);
        }
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    *p50 = pct(l.lags, l.n, 0.5);
    *p99 = pct(l.lags, l.n, 0.99);
    *max = pct(l.lags, l.n, 1.0);
    size_t over = 0;
    for (size_t i = 0; i < l.n; i++)
        over += l.lags[i] > 2000000;
    printf("  %zu events in %d streams: p50 %.3f ms, p99 %.3f ms, max %.3f ms, %zu over 2 ms\n",
           l.n, streams, *p50, *p99, *max, over);
    free(l.lags);
}

/* Phase 4: calls per second with 'clients' threads for 'seconds'. */
struct worker {
    const char *url;
    int64_t until;
    uint64_t calls;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct client c;
    client_init(&c);
    while (time_now_ns() < w->until) {
        call(&c, w->url, chat);
        w->calls++;
    }
    client_release(&c);
    return NULL;
}

static double throughput(const char *url, int clients, int seconds)
{
    pthread_t t[64];
    struct worker w[64];
    int64_t start = time_now_ns();
    for (int i = 0; i < clients; i++) {
        w[i] = (struct worker){url, start + (int64_t)seconds * 1000000000LL, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    uint64_t total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(t[i], NULL);
        total += w[i].calls;
    }
    return (double)total / ((double)(time_now_ns() - start) / 1e9);
}

int main(int argc, char **argv)
{
    int n = 5000, seconds = 5, clients = 16, lag_only = 0, lag_direct = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--direct"))
            lag_direct = 1;
        else if (!strcmp(argv[i], "--show-slow"))
            show_slow = 1;
        else if (i + 1 == argc)
            break;
        else if (!strcmp(argv[i], "--calls"))
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lag-only"))
            lag_only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[++i]) > 64 ? 64 : atoi(argv[i]);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[256];
    struct fakeup *fake = NULL;
    struct fakeup_config fc;
    fakeup_config_default(&fc);
    fc.listen = "127.0.0.1:0";
    if (fakeup_start(&fake, &fc, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_proxy: %s\n", err);
        return 1;
    }
    char *dir = tu_tmpdir(), *db = xasprintf("%s/bench-proxy.db", dir);
    char *up = xasprintf("openai=%s", fakeup_url(fake));
    const char *extra[] = {"--upstream", up, "--threads", "48", NULL};
    struct srv s;
    memset(&s, 0, sizeof(s));
    if (srv_start(&s, db, extra) != 0)
        return 1;
    char *direct = xasprintf("%s/v1/chat/completions", fakeup_url(fake));
    char *proxied = xasprintf("%s/proxy/openai/v1/chat/completions", s.url);
    double a50, a99, t50, t99, l50, l99, lmax;
    printf("proxy benchmark: %d calls per latency phase, %d clients for %d s\n", n, clients,
           seconds);
    if (lag_only > 0) { /* the lag phase alone, 'lag_only' streams, on an idle store */
        event_lag(fake, lag_direct ? direct : proxied, lag_only, &l50, &l99, &lmax);
        goto done;
    }
    printf("1. plain chat latency (one client, alternating)\n");
    latency(direct, proxied, chat, n, 0, &a50, &a99);
    printf("2. streamed chat, time to first byte\n");
    latency(direct, proxied, stream, n / 5, 1, &t50, &t99);
    printf(
        "3. streamed event lag (30 events 3 ms apart; sent by the fake -> read by the client)\n");
    double d50, d99, dmax;
    printf("  direct: ");
    event_lag(fake, direct, 100, &d50, &d99, &dmax);
    printf("  proxied:");
    event_lag(fake, proxied, 100, &l50, &l99, &lmax);
    printf("4. throughput\n");
    double dps = throughput(direct, clients, seconds);
    double pps = throughput(proxied, clients, seconds);
    printf("  direct  %.0f calls/s\n  proxied %.0f calls/s\n", dps, pps);
    printf("\nresults (targets from issue 5)\n");
    printf("  added latency p50      %.3f ms  (target <= 0.3 ms)  %s\n", a50, verdict(a50, 0.3, 1));
    printf("  added latency p99      %.3f ms  (target <= 1 ms)    %s\n", a99, verdict(a99, 1, 1));
    printf("  added TTFB p50 / p99   %.3f / %.3f ms\n", t50, t99);
    printf("  event lag p50 / p99 / max  %.3f / %.3f / %.3f ms  (target <= 2 ms each)  %s\n", l50,
           l99, lmax, verdict(lmax, 2, 1));
    printf("    the same machine without the proxy: %.3f / %.3f / %.3f ms\n", d50, d99, dmax);
    printf("  proxied calls/s        %.0f  (target >= 5000; %.2f of direct)  %s\n", pps, pps / dps,
           verdict(pps, 5000, 0));
done:
    srv_stop(&s, SIGTERM, 60000);
    srv_release(&s);
    fakeup_stop(fake);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_proxy: could not remove %s\n", dir);
    free(cmd);
    free(direct);
    free(proxied);
    free(up);
    free(db);
    free(dir);
    return 0;
}
