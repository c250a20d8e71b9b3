/*
 * ingest: the request-to-writer batch (see ingest.h).
 */
#include "core/ingest.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

void ingest_batch_init(struct ingest_batch *b)
{
    memset(b, 0, sizeof(*b));
}

static void score_release(struct rec_score *s)
{
    free(s->project);
    free(s->id);
    free(s->session_id);
    free(s->name);
    free(s->string_value);
    free(s->data_type);
    free(s->comment);
    free(s->source);
    free(s->dedup_key);
}

void ingest_batch_release(struct ingest_batch *b)
{
    for (size_t i = 0; i < b->nspans; i++) {
        span_release(&b->spans[i].span);
        free(b->spans[i].dedup_key);
        for (size_t k = 0; k < b->spans[i].ntexts; k++)
            free(b->spans[i].texts[k].packed.data);
        free(b->spans[i].texts);
    }
    for (size_t i = 0; i < b->nmsgs; i++) {
        free(b->msgs[i].project);
        free(b->msgs[i].message);
    }
    for (size_t i = 0; i < b->nscores; i++)
        score_release(&b->scores[i]);
    free(b->spans);
    free(b->msgs);
    free(b->scores);
    memset(b, 0, sizeof(*b));
}

/* Grow '*arr' (of 'size'-byte elements) to hold one more; returns the slot. */
static void *add_slot(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *arr = xrealloc(*arr, *cap * size);
    }
    void *slot = (char *)*arr + (*n)++ * size;
    memset(slot, 0, size);
    return slot;
}

struct rec_span *ingest_add_span(struct ingest_batch *b)
{
    struct rec_span *r = add_slot((void **)&b->spans, &b->nspans, &b->capspans, sizeof(*b->spans));
    span_init(&r->span);
    return r;
}

struct rec_logmsg *ingest_add_logmsg(struct ingest_batch *b)
{
    return add_slot((void **)&b->msgs, &b->nmsgs, &b->capmsgs, sizeof(*b->msgs));
}

struct rec_score *ingest_add_score(struct ingest_batch *b)
{
    return add_slot((void **)&b->scores, &b->nscores, &b->capscores, sizeof(*b->scores));
}

size_t ingest_count(const struct ingest_batch *b)
{
    return b->nspans + b->nmsgs + b->nscores;
}

const char *rec_result_name(enum rec_result r)
{
    switch (r) {
    case REC_CREATED:
        return "created";
    case REC_DUPLICATE:
        return "duplicate";
    case REC_MERGED:
        return "merged";
    case REC_FAILED:
        return "failed";
    default:
        return "pending";
    }
}
