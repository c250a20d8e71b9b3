/*
 * recorder: the asynchronous span queue behind the proxy (see recorder.h).
 * State: 'q' holds spans not yet taken; the thread takes all of them (up to
 * BATCH_MAX) into a batch, commits it outside the lock, then counts it
 * done. 'taken' and 'done' count spans, so a flush waits for done >= the
 * number queued when it was called.
 */
#include "collector/recorder.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/ingest.h"
#include "core/log.h"
#include "core/xmem.h"

#define BATCH_MAX 2048
#define RETRY_FOR_NS (60LL * 1000000000LL)

struct recorder {
    struct pipeline *pipe;
    pthread_mutex_t mu;
    pthread_cond_t more, room, progress;
    struct span *q; /* ring of 'cap' spans */
    size_t cap, head, n;
    uint64_t queued, done, lost;
    int stopping;
    pthread_t thread;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Commit 'b', retrying while the store refuses (a full writer queue is
 * transient); returns 1 when committed. */
static int commit_with_retry(struct recorder *r, struct ingest_batch *b, size_t bytes)
{
    char err[256];
    int wait = 20;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (pipeline_commit(r->pipe, b, bytes, NULL, 1, err, sizeof(err)) == LT_OK)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t spent = (now.tv_sec - t0.tv_sec) * 1000000000LL + (now.tv_nsec - t0.tv_nsec);
        if (spent > RETRY_FOR_NS) {
            log_msg(LOG_ERROR, "proxy", "cannot record %zu spans: %s", b->nspans, err);
            return 0;
        }
        sleep_ms(wait);
        wait = wait < 1000 ? wait * 2 : 1000;
    }
}

/* Move up to BATCH_MAX queued spans into 'b' (lock held). */
static size_t take(struct recorder *r, struct ingest_batch *b, size_t *bytes)
{
    size_t n = 0;
    while (r->n && n < BATCH_MAX) {
        struct rec_span *rs = ingest_add_span(b);
        span_move(&rs->span, &r->q[r->head]);
        *bytes += 512 + (rs->span.input ? strlen(rs->span.input) : 0) +
                  (rs->span.output ? strlen(rs->span.output) : 0);
        r->head = (r->head + 1) % r->cap;
        r->n--;
        n++;
    }
    return n;
}

static void *recorder_main(void *arg)
{
    struct recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->n && !r->stopping)
            pthread_cond_wait(&r->more, &r->mu);
        if (!r->n && r->stopping)
            break;
        struct ingest_batch b;
        ingest_batch_init(&b);
        size_t bytes = 0, n = take(r, &b, &bytes);
        pthread_cond_broadcast(&r->room);
        pthread_mutex_unlock(&r->mu);
        int ok = commit_with_retry(r, &b, bytes);
        ingest_batch_release(&b);
        pthread_mutex_lock(&r->mu);
        r->done += n;
        if (!ok)
            r->lost += n;
        pthread_cond_broadcast(&r->progress);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

struct recorder *recorder_new(struct pipeline *p, size_t max_queued)
{
    struct recorder *r = xcalloc(1, sizeof(*r));
    r->pipe = p;
    r->cap = max_queued ? max_queued : 1;
    r->q = xcalloc(r->cap, sizeof(*r->q));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->more, NULL);
    pthread_cond_init(&r->room, NULL);
    pthread_cond_init(&r->progress, NULL);
    if (pthread_create(&r->thread, NULL, recorder_main, r) != 0) {
        log_msg(LOG_ERROR, "proxy", "cannot start the recorder thread");
        abort(); /* like an out-of-memory: nothing sensible to go on with */
    }
    return r;
}

void recorder_put(struct recorder *r, struct span *s)
{
    pthread_mutex_lock(&r->mu);
    while (r->n == r->cap)
        pthread_cond_wait(&r->room, &r->mu);
    span_move(&r->q[(r->head + r->n) % r->cap], s);
    r->n++;
    r->queued++;
    pthread_cond_signal(&r->more);
    pthread_mutex_unlock(&r->mu);
}

void recorder_flush(struct recorder *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t want = r->queued;
    while (r->done < want)
        pthread_cond_wait(&r->progress, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

void recorder_get_stats(struct recorder *r, struct recorder_stats *out)
{
    pthread_mutex_lock(&r->mu);
    out->queued = r->queued;
    out->committed = r->done - r->lost;
    out->lost = r->lost;
    pthread_mutex_unlock(&r->mu);
}

void recorder_free(struct recorder *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_signal(&r->more);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    for (size_t i = 0; i < r->n; i++) /* none: the thread drains before it stops */
        span_release(&r->q[(r->head + i) % r->cap]);
    free(r->q);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->more);
    pthread_cond_destroy(&r->room);
    pthread_cond_destroy(&r->progress);
    free(r);
}
