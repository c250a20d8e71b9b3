/*
 * span: lifecycle and enum names of the canonical span (see span.h).
 */
#include "core/span.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[SPAN_KIND_COUNT] = {
    "llm", "embedding", "tool", "retrieval", "agent", "chain", "guardrail", "evaluator", "other",
};

static const char *const status_names[SPAN_STATUS_COUNT] = {
    "ok", "error", "degraded", "blocked", "cancelled",
};

void span_init(struct span *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = SPAN_KIND_OTHER;
    s->usage.input_tokens = -1;
    s->usage.output_tokens = -1;
    s->usage.cache_read_tokens = -1;
    s->usage.cache_write_tokens = -1;
    s->usage.cache_write_1h_tokens = -1;
    s->usage.reasoning_tokens = -1;
    s->prompt_version = -1;
    s->ttft_ms = NAN;
    s->queue_ms = NAN;
    s->tool_ms = NAN;
    s->status = SPAN_STATUS_OK;
}

void span_release(struct span *s)
{
    char **owned[] = {
        &s->project,         &s->name,          &s->provider,      &s->model,
        &s->response_model,  &s->input,         &s->output,        &s->price_version,
        &s->error_code,      &s->error_message, &s->user_id,       &s->session_id,
        &s->tenant,          &s->version_set,   &s->prompt_name,   &s->prompt_vars,
        &s->params,          &s->tags,          &s->attributes,    &s->service_name,
        &s->service_version, &s->service_tier,  &s->finish_reason, &s->replay_of,
    };
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        free(*owned[i]);
        *owned[i] = NULL;
    }
    span_init(s);
}

void span_move(struct span *dst, struct span *src)
{
    *dst = *src;
    span_init(src);
}

const char *span_kind_name(enum span_kind k)
{
    return (k >= 0 && k < SPAN_KIND_COUNT) ? kind_names[k] : "other";
}

int span_kind_parse(const char *name)
{
    for (int i = 0; name && i < SPAN_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *span_status_name(enum span_status s)
{
    return (s >= 0 && s < SPAN_STATUS_COUNT) ? status_names[s] : "ok";
}

int span_status_parse(const char *name)
{
    for (int i = 0; name && i < SPAN_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

double span_cost_usd(const struct span *s)
{
    return (double)s->cost_nusd / 1e9;
}

int64_t span_usd_to_nusd(double usd)
{
    return (int64_t)llround(usd * 1e9);
}
