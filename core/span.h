/*
 * span: the canonical span (DESIGN.md §3), the one record every input format
 * is mapped to and the store writes. It is an embedded value: span_init sets
 * every field to "absent", span_release frees what it owns.
 *
 * Ownership: every char * field is owned by the span (heap, freed by
 * span_release; set them with xstrset or by handing over a malloc'd string).
 * JSON-valued fields (input, output, params, tags, attributes, prompt_vars)
 * hold compact JSON text.
 *
 * Absent values: NULL strings, -1 for token counts and prompt_version, NAN for
 * the latency doubles, has_cost = false for "unpriced". Usage follows the OTel
 * convention: input_tokens includes cache reads and writes, output_tokens
 * includes reasoning.
 */
#ifndef CORE_SPAN_H
#define CORE_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum span_kind {
    SPAN_KIND_LLM = 0,
    SPAN_KIND_EMBEDDING,
    SPAN_KIND_TOOL,
    SPAN_KIND_RETRIEVAL,
    SPAN_KIND_AGENT,
    SPAN_KIND_CHAIN,
    SPAN_KIND_GUARDRAIL,
    SPAN_KIND_EVALUATOR,
    SPAN_KIND_OTHER,
    SPAN_KIND_COUNT
};

enum span_status {
    SPAN_STATUS_OK = 0,
    SPAN_STATUS_ERROR,
    SPAN_STATUS_DEGRADED,
    SPAN_STATUS_BLOCKED,
    SPAN_STATUS_CANCELLED,
    SPAN_STATUS_COUNT
};

struct span_usage {
    int64_t input_tokens;  /* includes cache reads and writes */
    int64_t output_tokens; /* includes reasoning */
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;    /* all cache writes (5m + 1h) */
    int64_t cache_write_1h_tokens; /* the 1-hour-TTL part of cache_write_tokens */
    int64_t reasoning_tokens;
};

struct span {
    char trace_id[33];       /* lower-case hex; "" until assigned */
    char span_id[17];        /* lower-case hex; "" until assigned */
    char parent_span_id[17]; /* "" for a root span */
    char *project;           /* NULL until finalised, then "default" at least */
    char *name;
    enum span_kind kind;
    int64_t start_ns, end_ns; /* unix ns; 0 = unknown */
    int clock_times;          /* both were absent and came from the ingest clock */
    char *provider, *model, *response_model;
    char *input;  /* JSON: array of {role, content} messages, or a JSON string */
    char *output; /* JSON: assistant message(s) or a JSON string */
    struct span_usage usage;
    bool has_cost;                     /* false = unpriced (never silently 0) */
    int64_t cost_nusd;                 /* exact cost in nano-USD when has_cost */
    char *price_version;               /* price table version used, NULL if client-given */
    double ttft_ms, queue_ms, tool_ms; /* NAN = unknown */
    enum span_status status;
    char *error_code, *error_message;
    char *user_id, *session_id, *tenant;
    char *version_set;
    char *prompt_name;
    int64_t prompt_version;               /* -1 = none */
    char *prompt_vars;                    /* JSON object of template variables */
    char *params;                         /* JSON object: temperature, max_tokens, ... */
    char *tags;                           /* JSON array of strings */
    char *attributes;                     /* JSON object: everything else, kept */
    char *service_name, *service_version; /* from the OTel resource */
    char *service_tier;                   /* provider service tier used (priority/flex/batch) */
    char *finish_reason;
    char *replay_of; /* "trace_id:span_id" of the original, for replays */
};

void span_init(struct span *s);
void span_release(struct span *s);
/* Move 'src' into 'dst' (dst must be released or fresh); src is re-initialised. */
void span_move(struct span *dst, struct span *src);

/* Names used by the native JSON API and the SQL columns; static strings.
 * span_kind_parse / span_status_parse return -1 for unknown names. */
const char *span_kind_name(enum span_kind k);
int span_kind_parse(const char *name);
const char *span_status_name(enum span_status s);
int span_status_parse(const char *name);

/* Cost helpers: nano-USD <-> USD. */
double span_cost_usd(const struct span *s);
int64_t span_usd_to_nusd(double usd);

#endif
