/*
 * pipeline: finalisation and commit of decoded records (see pipeline.h).
 */
#include "collector/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ids.h"
#include "core/timeutil.h"
#include "core/vset.h"
#include "core/xmem.h"
#include "store/textpack.h"
#include "store/texts.h"

struct pipeline {
    struct writer *w;
    pthread_rwlock_t lock; /* guards 'prices' */
    struct price_table *prices;
    pipeline_observer observer; /* set once, before the first commit */
    void *observer_arg;
};

struct pipeline *pipeline_new(struct writer *w, struct price_table *prices)
{
    struct pipeline *p = xcalloc(1, sizeof(*p));
    p->w = w;
    p->prices = prices;
    pthread_rwlock_init(&p->lock, NULL);
    return p;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    price_table_free(p->prices);
    pthread_rwlock_destroy(&p->lock);
    free(p);
}

void pipeline_set_prices(struct pipeline *p, struct price_table *t)
{
    pthread_rwlock_wrlock(&p->lock);
    struct price_table *old = p->prices;
    p->prices = t;
    pthread_rwlock_unlock(&p->lock);
    price_table_free(old);
}

int pipeline_cost(struct pipeline *p, const struct span *s, int64_t *nusd)
{
    pthread_rwlock_rdlock(&p->lock);
    int priced = p->prices ? price_cost(p->prices, s, nusd, NULL) : 0;
    pthread_rwlock_unlock(&p->lock);
    return priced;
}

int pipeline_price(struct pipeline *p, struct span *s)
{
    pthread_rwlock_rdlock(&p->lock);
    int priced = p->prices ? price_apply(p->prices, s) : s->has_cost;
    pthread_rwlock_unlock(&p->lock);
    return priced;
}

static void default_name(struct span *s)
{
    if (s->name)
        return;
    const char *model = s->model ? s->model : s->response_model;
    s->name = model ? xasprintf("%s %s", span_kind_name(s->kind), model)
                    : xstrdup(span_kind_name(s->kind));
}

void pipeline_finalize_span(const struct price_table *prices, struct span *s, int merge,
                            const char *project, int trusted, int64_t now_ns)
{
    if (!trusted || !s->project || !*s->project)
        xstrset(&s->project, project && *project ? project : "default");
    if (!s->trace_id[0] && merge && s->span_id[0])
        ids_derive(s->span_id, 16,
                   s->trace_id); /* an update must land in the same place on resend */
    else if (!s->trace_id[0])
        ids_random(16, s->trace_id);
    if (!s->span_id[0])
        ids_random(8, s->span_id);
    if (!merge) {
        if (s->start_ns == 0) {
            s->clock_times = s->end_ns == 0;
            s->start_ns = s->end_ns ? s->end_ns : now_ns;
        }
        if (s->end_ns == 0 || s->end_ns < s->start_ns)
            s->end_ns = s->start_ns;
        default_name(s);
    }
    if (s->version_set) {
        char *canon = vset_canonical(s->version_set);
        free(s->version_set);
        s->version_set = canon;
    }
    if (!s->version_set && (!merge || s->model || s->response_model))
        s->version_set = vset_derive(s);
    if (prices)
        price_apply(prices, s);
}

static void finalize_batch(struct pipeline *p, struct ingest_batch *b, const char *project,
                           int trusted)
{
    int64_t now = time_now_ns();
    const char *def = project && *project ? project : "default";
    pthread_rwlock_rdlock(&p->lock);
    for (size_t i = 0; i < b->nspans; i++)
        pipeline_finalize_span(p->prices, &b->spans[i].span, b->spans[i].op == REC_MERGE, project,
                               trusted, now);
    pthread_rwlock_unlock(&p->lock);
    for (size_t i = 0; i < b->nmsgs; i++)
        if (!trusted || !b->msgs[i].project)
            xstrset(&b->msgs[i].project, def);
    for (size_t i = 0; i < b->nscores; i++) {
        if (!trusted || !b->scores[i].project)
            xstrset(&b->scores[i].project, def);
        if (b->scores[i].time_ns == 0)
            b->scores[i].time_ns = now;
    }
}

/* One zstd context per request thread, kept for the thread's life: a new
 * one per request would allocate and zero its tables every time. */
static pthread_key_t tp_key;
static pthread_once_t tp_once = PTHREAD_ONCE_INIT;

static void tp_free(void *tp)
{
    textpack_free(tp);
}

static void tp_key_make(void)
{
    (void)pthread_key_create(&tp_key, tp_free);
}

/* The calling thread's context (NULL when zstd cannot start: the writer packs). */
static struct textpack_ctx *thread_textpack(void)
{
    pthread_once(&tp_once, tp_key_make);
    struct textpack_ctx *tp = pthread_getspecific(tp_key);
    if (!tp && (tp = textpack_new()) != NULL && pthread_setspecific(tp_key, tp) != 0) {
        textpack_free(tp);
        tp = NULL;
    }
    return tp;
}

/* Cut, hash and compress the span texts here, in the request's thread, so
 * the single writer thread only maps hashes to ids (store/texts.h). */
static void prepare_texts(struct pipeline *p, struct ingest_batch *b)
{
    struct textpack_ctx *tp = thread_textpack();
    struct texts *t = writer_texts(p->w);
    for (size_t i = 0; i < b->nspans; i++)
        texts_prepare(t, &b->spans[i], tp);
}

int pipeline_commit(struct pipeline *p, struct ingest_batch *b, size_t bytes, const char *project,
                    int trusted, char *err, size_t errlen)
{
    finalize_batch(p, b, project, trusted);
    prepare_texts(p, b);
    int rc = writer_submit(p->w, b, bytes, err, errlen);
    if (rc == LT_OK && p->observer)
        p->observer(p->observer_arg, b);
    return rc;
}

void pipeline_set_observer(struct pipeline *p, pipeline_observer fn, void *arg)
{
    p->observer = fn;
    p->observer_arg = arg;
}
