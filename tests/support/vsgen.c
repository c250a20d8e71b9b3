/*
 * vsgen: planted version_set traffic (see vsgen.h).
 */
#include "tests/support/vsgen.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/ingest.h"
#include "core/stats.h"
#include "core/xmem.h"
#include "tests/support/storetest.h"

#define PER_REQUEST 200

struct tu_vs tu_vs_default(const char *project, const char *vs, uint64_t seed)
{
    struct tu_vs v = {.project = project,
                      .vs = vs,
                      .n = 400,
                      .t0 = 1772409600000000000LL,
                      .step_ns = 60000000000LL,
                      .lat_ms = 800,
                      .lat_sigma = 0.4,
                      .err_p = 0.02,
                      .cost_usd = 0.001,
                      .tokens = 500,
                      .seed = seed};
    return v;
}

/* Call i's ids: hashes of the project, version_set and i. */
static void ids_of(const struct tu_vs *v, int i, char trace[33], char span[17])
{
    char key[512];
    int n = snprintf(key, sizeof(key), "%s\n%s\n%d", v->project, v->vs, i);
    uint64_t h1 = ids_hash64(key, (size_t)n, 1), h2 = ids_hash64(key, (size_t)n, 2);
    snprintf(trace, 33, "%016" PRIx64 "%016" PRIx64, h1, h2);
    snprintf(span, 17, "%016" PRIx64, h1 ^ h2);
}

static void add_score(struct ingest_batch *b, const struct tu_vs *v, const char *trace,
                      const char *span, double value, int i)
{
    struct rec_score *s = ingest_add_score(b);
    s->project = xstrdup(v->project);
    s->id = xasprintf("vs-%s-%s", span, v->score_name);
    snprintf(s->trace_id, sizeof(s->trace_id), "%s", trace);
    snprintf(s->span_id, sizeof(s->span_id), "%s", span);
    s->name = xstrdup(v->score_name);
    s->value = value;
    s->data_type = xstrdup("NUMERIC");
    s->source = xstrdup("eval");
    s->time_ns = v->t0 + i;
}

/* One call's NDJSON line into 'b'; its score (when any) into 'sb'. */
static void one_call(const struct tu_vs *v, int i, struct stats_rng *rng, struct buf *b,
                     struct ingest_batch *sb)
{
    char trace[33], span[17], cost[64] = "null", ttft[64] = "";
    ids_of(v, i, trace, span);
    double lat = v->lat_ms * exp(v->lat_sigma * stats_rng_normal(rng));
    double u = stats_rng_unit(rng), e = stats_rng_unit(rng), t = stats_rng_unit(rng);
    double score = v->score_mean + 0.1 * stats_rng_normal(rng);
    int64_t start = v->t0 + (int64_t)i * v->step_ns, end = start + (int64_t)(lat * 1e6);
    int in = (int)(v->tokens * (0.5 + t)), out = in / 4;
    if (v->cost_usd >= 0)
        snprintf(cost, sizeof(cost), "%.9f", v->cost_usd * (0.5 + u));
    if (!v->no_ttft)
        snprintf(ttft, sizeof(ttft), ",\"latency\":{\"ttft_ms\":%.3f}", lat / 4);
    int err = e < v->err_p;
    ck_assert_int_eq(
        buf_printf(b,
                   "{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"project\":\"%s\",\"kind\":\"llm\","
                   "\"name\":\"chat\",\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\","
                   "\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"version_set\":\"%s\","
                   "\"usage\":{\"input_tokens\":%d,\"output_tokens\":%d},\"cost_usd\":%s%s,"
                   "\"status\":\"%s\"%s}\n",
                   trace, span, v->project, start, end, v->vs, in, out, cost, ttft,
                   err ? "error" : "ok",
                   err ? ",\"error\":{\"code\":\"UPSTREAM_ERROR\",\"message\":\"boom\"}" : ""),
        0);
    if (v->score_name)
        add_score(sb, v, trace, span, score, i);
}

void tu_vs_ingest(struct writer *w, const struct tu_vs *v)
{
    struct stats_rng rng;
    stats_rng_seed(&rng, v->seed);
    struct buf b;
    buf_init(&b, 0);
    struct ingest_batch sb;
    ingest_batch_init(&sb);
    for (int i = 0; i < v->n;) {
        buf_reset(&b);
        for (int k = 0; k < PER_REQUEST && i < v->n; k++, i++)
            one_call(v, i, &rng, &b, &sb);
        tu_ingest_json(w, b.data);
    }
    buf_release(&b);
    char err[256];
    if (sb.nscores)
        ck_assert_msg(writer_submit(w, &sb, 1000, err, sizeof(err)) == LT_OK, "%s", err);
    ingest_batch_release(&sb);
}
