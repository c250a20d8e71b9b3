/*
 * langfuse: the Langfuse batch ingestion decoder (see langfuse.h).
 *
 * One pass over the batch: each envelope is checked, its body decoded into a
 * span (with a little side information: whether a level was given, the
 * completion start time) or a score, and a span is merged into the record
 * already made for the same entity in this batch, found through a small
 * hash map keyed by our derived span id. A second pass computes TTFT once
 * start times are known and copies a trace's user / session / tenant onto
 * its observations. Bodies are parsed with jsonx_parse (depth-bounded, so
 * every cJSON recursion here is too). REC_MERGE records carry only what the
 * events said: absent strings NULL, counts -1, times 0, kind "other" and
 * status "ok" unless an event set them.
 */
#include "collector/langfuse.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "collector/native.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"

#define LF_MAX_ID 800   /* Langfuse's own limit on ids */
#define LF_MAX_KEY 1024 /* longest dedup key before it is hashed */
#define LF_MAX_COST 1e9 /* USD; more is a typo */

/* ---- a string -> index map (open addressing) ---------------------------- */

struct lf_map {
    char **keys; /* owned */
    size_t *vals;
    size_t cap, n; /* cap is 0 or a power of two */
};

static size_t map_slot(const struct lf_map *m, const char *key)
{
    size_t i = (size_t)ids_hash64(key, strlen(key), 0) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static const size_t *map_get(const struct lf_map *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = map_slot(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

static void map_put(struct lf_map *m, const char *key, size_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct lf_map g = {NULL, NULL, m->cap ? m->cap * 2 : 64, 0};
        g.keys = xcalloc(g.cap, sizeof(*g.keys));
        g.vals = xcalloc(g.cap, sizeof(*g.vals));
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = map_slot(&g, m->keys[i]);
            g.keys[j] = m->keys[i];
            g.vals[j] = m->vals[i];
            g.n++;
        }
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    size_t i = map_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = xstrdup(key);
        m->n++;
    }
    m->vals[i] = val;
}

static void map_free(struct lf_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- state -------------------------------------------------------------- */

enum { LF_NONE = 0, LF_SPAN = 1, LF_SCORE = 2 };

struct lf_item {
    char *id;    /* envelope id (owned); NULL when it had none */
    char *error; /* owned; NULL when the event was valid */
    int what;    /* LF_NONE, LF_SPAN or LF_SCORE */
    size_t rec;  /* index in the batch's spans or scores */
};

struct langfuse_report {
    struct lf_item *items;
    size_t n, cap, errors;
};

/* What a span record knows beyond struct span while the batch is decoded. */
struct lf_side {
    bool has_status; /* an event gave a level */
    bool is_root;    /* a trace's root span */
    int64_t cst_ns;  /* completionStartTime; 0 = none */
};

struct lf {
    struct ingest_batch *out;
    struct langfuse_report *rep;
    size_t base;          /* out->nspans when the batch started */
    struct lf_side *side; /* one per span record from 'base' on */
    size_t capside;
    struct lf_map recs; /* derived span id -> span record */
    struct lf_map seen; /* envelope ids already decoded */
};

/* One event being decoded. */
struct ev {
    const char *id; /* envelope id */
    int64_t ts;     /* envelope timestamp; 0 = none */
    char err[512];
    cJSON *attrs; /* attributes collected so far */
    struct span s;
    struct lf_side side;
    bool has_kind; /* the event says what kind the span is */
};

static int ev_fail(struct ev *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ev_fail(struct ev *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof(e->err), fmt, ap);
    va_end(ap);
    return -1;
}

static const cJSON *cget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int is_absent(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

/* ---- reading body members ----------------------------------------------- */

/* Optional string member: '*out' NULL when absent or null. */
static int get_str(struct ev *e, const cJSON *o, const char *key, const char **out)
{
    const cJSON *v = cget(o, key);
    *out = NULL;
    if (is_absent(v))
        return 0;
    if (!cJSON_IsString(v))
        return ev_fail(e, "body.%s must be a string", key);
    if (strlen(v->valuestring) > NATIVE_MAX_STR)
        return ev_fail(e, "body.%s is longer than %d bytes", key, NATIVE_MAX_STR);
    *out = v->valuestring;
    return 0;
}

static int set_str(struct ev *e, const cJSON *o, const char *key, char **slot)
{
    const char *v;
    if (get_str(e, o, key, &v))
        return -1;
    if (v)
        xstrset(slot, v);
    return 0;
}

/* A Langfuse id: 1-800 characters, no carriage return. */
static int get_id(struct ev *e, const cJSON *o, const char *key, int required, const char **out)
{
    if (get_str(e, o, key, out))
        return -1;
    if (!*out && required)
        return ev_fail(e, "body.%s is required", key);
    if (*out && (!**out || strlen(*out) > LF_MAX_ID || strchr(*out, '\r')))
        return ev_fail(e, "body.%s must be 1 to %d characters without \\r", key, LF_MAX_ID);
    return 0;
}

static int get_time(struct ev *e, const cJSON *o, const char *key, int64_t *ns)
{
    const char *v;
    if (get_str(e, o, key, &v))
        return -1;
    if (v && (time_parse_iso(v, ns) || *ns < 0))
        return ev_fail(e, "body.%s must be an ISO-8601 time", key);
    return 0;
}

static void attr_put(struct ev *e, const char *key, cJSON *item)
{
    if (cget(e->attrs, key))
        cJSON_ReplaceItemInObjectCaseSensitive(e->attrs, key, item);
    else
        cJSON_AddItemToObject(e->attrs, key, item);
}

static void attr_copy(struct ev *e, const char *key, const cJSON *v)
{
    if (!is_absent(v))
        attr_put(e, key, cJSON_Duplicate(v, 1));
}

static void attr_str(struct ev *e, const char *key, const char *v)
{
    attr_put(e, key, cJSON_CreateString(v));
}

/* Our trace id for a Langfuse trace id: itself when hex or a UUID. */
static void trace_id_of(const char *lf, char out[33])
{
    if (ids_normalize(lf, 16, out) != 0)
        ids_derive(lf, 16, out);
}

/* The span id of a trace's root span. */
static void root_span_of(const char *lf_trace, char out[17])
{
    char *k = xasprintf("trace:%s", lf_trace);
    ids_derive(k, 8, out);
    free(k);
}

/* metadata -> attributes "metadata.<k>"; release / version / environment ->
 * "langfuse.<name>"; input and output -> canonical messages. */
static int take_common(struct ev *e, const cJSON *b)
{
    static const char *const names[] = {"release", "version", "environment", "public"};
    const cJSON *md = cget(b, "metadata");
    if (cJSON_IsObject(md)) {
        for (const cJSON *k = md->child; k; k = k->next) {
            char *key = xasprintf("metadata.%s", k->string);
            attr_copy(e, key, k);
            free(key);
        }
        const char *fr = jsonx_str(md, "finish_reason");
        if (fr && strlen(fr) <= NATIVE_MAX_STR)
            xstrset(&e->s.finish_reason, fr);
    } else {
        attr_copy(e, "metadata", md);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *key = xasprintf("langfuse.%s", names[i]);
        attr_copy(e, key, cget(b, names[i]));
        free(key);
    }
    const cJSON *in = cget(b, "input"), *out = cget(b, "output");
    if (!is_absent(in)) {
        free(e->s.input);
        e->s.input = native_messages_json(in, 0);
    }
    if (!is_absent(out)) {
        free(e->s.output);
        e->s.output = native_messages_json(out, 1);
    }
    return 0;
}

static int take_tags(struct ev *e, const cJSON *b)
{
    const cJSON *t = cget(b, "tags");
    if (is_absent(t))
        return 0;
    int ok = cJSON_IsArray(t);
    for (const cJSON *k = ok ? t->child : NULL; k; k = k->next)
        ok &= cJSON_IsString(k) && strlen(k->valuestring) <= NATIVE_MAX_STR;
    if (!ok)
        return ev_fail(e, "body.tags must be an array of strings");
    free(e->s.tags);
    e->s.tags = jsonx_print(t);
    return 0;
}

/* level -> status (WARNING: degraded, ERROR: error with statusMessage). */
static int take_level(struct ev *e, const cJSON *b)
{
    const char *lvl, *msg;
    if (get_str(e, b, "level", &lvl) || get_str(e, b, "statusMessage", &msg))
        return -1;
    if (lvl) {
        if (strcmp(lvl, "ERROR") == 0)
            e->s.status = SPAN_STATUS_ERROR;
        else if (strcmp(lvl, "WARNING") == 0)
            e->s.status = SPAN_STATUS_DEGRADED;
        else if (strcmp(lvl, "DEBUG") == 0 || strcmp(lvl, "DEFAULT") == 0)
            e->s.status = SPAN_STATUS_OK;
        else
            return ev_fail(e, "body.level must be DEBUG, DEFAULT, WARNING or ERROR");
        e->side.has_status = true;
    }
    if (msg && lvl && e->s.status == SPAN_STATUS_ERROR)
        xstrset(&e->s.error_message, msg);
    else if (msg)
        attr_str(e, "langfuse.status_message", msg);
    return 0;
}

/* ---- usage and cost ----------------------------------------------------- */

enum { U_IN, U_OUT, U_CR, U_CW, U_CW1H, U_RS };

/* Where a provider's usage field goes: member 'key' of 'obj' (NULL: the
 * usage object itself). */
struct umap {
    const char *obj, *key;
    int to;
};

static int64_t *usage_slot(struct span_usage *u, int to)
{
    int64_t *slots[] = {&u->input_tokens,       &u->output_tokens,         &u->cache_read_tokens,
                        &u->cache_write_tokens, &u->cache_write_1h_tokens, &u->reasoning_tokens};
    return slots[to];
}

/* A token count: 0 with '*v', 1 when absent, -1 when not a count. */
static int count_of(struct ev *e, const cJSON *v, const char *path, const char *key, int64_t *out)
{
    if (is_absent(v))
        return 1;
    if (jsonx_int64(v, out) != 0 || *out < 0)
        return ev_fail(e, "%s.%s must be a non-negative integer", path, key);
    return 0;
}

static int usage_mapped(struct ev *e, const cJSON *u, const char *path, const struct umap *m,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *holder = m[i].obj ? cget(u, m[i].obj) : u;
        int64_t v;
        int r =
            cJSON_IsObject(holder) ? count_of(e, cget(holder, m[i].key), path, m[i].key, &v) : 1;
        if (r < 0)
            return -1;
        if (r == 0)
            *usage_slot(&e->s.usage, m[i].to) = v;
    }
    return 0;
}

static void add_to(int64_t *slot, int64_t v)
{
    *slot = (*slot < 0 ? 0 : *slot) + v;
}

/* Langfuse's own {key: count} usage: every "input*" key adds to input (its
 * "input" excludes cached tokens, ours includes them), every "output*" key to
 * output; cached / cache-creation / reasoning details are picked out too. */
static int usage_generic(struct ev *e, const cJSON *u, const char *path)
{
    const char *unit = jsonx_str(u, "unit");
    struct span_usage *o = &e->s.usage;
    if (unit && strcmp(unit, "TOKENS") != 0)
        return 0; /* characters, images, seconds: not tokens */
    for (const cJSON *k = u->child; k; k = k->next) {
        const char *n = k->string;
        int64_t v;
        if (strncmp(n, "total", 5) == 0 || strcmp(n, "unit") == 0 || strstr(n, "Cost"))
            continue;
        int r = count_of(e, k, path, n, &v);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (strstr(n, "ephemeral")) { /* a split of cache creation, counted there */
            if (strstr(n, "1h"))
                add_to(&o->cache_write_1h_tokens, v);
        } else if (strncmp(n, "input", 5) == 0 || strstr(n, "input_tokens")) {
            add_to(&o->input_tokens, v);
            if (strstr(n, "cache_read") || strstr(n, "cached"))
                add_to(&o->cache_read_tokens, v);
            else if (strstr(n, "cache_creation") || strstr(n, "cache_write"))
                add_to(&o->cache_write_tokens, v);
            if (strstr(n, "1h") && (strstr(n, "cache_creation") || strstr(n, "cache_write")))
                add_to(&o->cache_write_1h_tokens, v);
        } else if (strncmp(n, "output", 6) == 0) {
            add_to(&o->output_tokens, v);
            if (strstr(n, "reasoning"))
                add_to(&o->reasoning_tokens, v);
        }
    }
    return 0;
}

/* usageDetails (else usage) in any of its shapes: Langfuse's {input, output,
 * input_cached_tokens, ...}, OpenAI chat {prompt_tokens, ...}, OpenAI
 * responses / Anthropic {input_tokens, ...}, or {promptTokens, ...}. */
static int take_usage(struct ev *e, const cJSON *b)
{
    static const struct umap chat[] = {
        {NULL, "prompt_tokens", U_IN},
        {NULL, "completion_tokens", U_OUT},
        {"prompt_tokens_details", "cached_tokens", U_CR},
        {"prompt_tokens_details", "cache_write_tokens", U_CW},
        {"completion_tokens_details", "reasoning_tokens", U_RS},
    };
    static const struct umap responses[] = {
        {NULL, "input_tokens", U_IN},
        {NULL, "output_tokens", U_OUT},
        {"input_tokens_details", "cached_tokens", U_CR},
        {"input_tokens_details", "cache_write_tokens", U_CW},
        {"output_tokens_details", "reasoning_tokens", U_RS},
        {NULL, "cache_read_input_tokens", U_CR},
        {NULL, "cache_creation_input_tokens", U_CW},
        {"cache_creation", "ephemeral_1h_input_tokens", U_CW1H},
    };
    static const struct umap camel[] = {
        {NULL, "promptTokens", U_IN},
        {NULL, "completionTokens", U_OUT},
    };
    const char *path = "body.usageDetails";
    const cJSON *u = cget(b, "usageDetails");
    struct span_usage *o = &e->s.usage;
    if (is_absent(u)) {
        u = cget(b, "usage");
        path = "body.usage";
    }
    if (is_absent(u))
        return 0;
    if (!cJSON_IsObject(u))
        return ev_fail(e, "%s must be an object", path);
    if (cget(u, "prompt_tokens") || cget(u, "completion_tokens"))
        return usage_mapped(e, u, path, chat, sizeof(chat) / sizeof(chat[0]));
    if (cget(u, "promptTokens") || cget(u, "completionTokens"))
        return usage_mapped(e, u, path, camel, sizeof(camel) / sizeof(camel[0]));
    if (!cget(u, "input_tokens") && !cget(u, "output_tokens"))
        return usage_generic(e, u, path);
    if (usage_mapped(e, u, path, responses, sizeof(responses) / sizeof(responses[0])))
        return -1;
    /* Anthropic's input_tokens exclude cache reads and writes; ours include them */
    if (o->input_tokens >= 0 &&
        (cget(u, "cache_read_input_tokens") || cget(u, "cache_creation_input_tokens")))
        o->input_tokens += (o->cache_read_tokens > 0 ? o->cache_read_tokens : 0) +
                           (o->cache_write_tokens > 0 ? o->cache_write_tokens : 0);
    return 0;
}

static int usd_member(struct ev *e, const cJSON *v, const char *path, const char *key, double *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return ev_fail(e, "%s.%s must be a non-negative number", path, key);
    *out = v->valuedouble;
    return 0;
}

/* costDetails: its "total", else the sum of its parts; else the legacy
 * usage.totalCost (or inputCost + outputCost). */
static int take_cost(struct ev *e, const cJSON *b)
{
    const cJSON *cd = cget(b, "costDetails"), *u = cget(b, "usage");
    double total = 0, part = 0;
    int any = 0;
    if (!is_absent(cd)) {
        if (!cJSON_IsObject(cd))
            return ev_fail(e, "body.costDetails must be an object");
        for (const cJSON *k = cd->child; k; k = k->next, any = 1) {
            if (usd_member(e, k, "body.costDetails", k->string, &part))
                return -1;
            total += part;
        }
        if (cget(cd, "total"))
            total = cget(cd, "total")->valuedouble;
    } else if (cJSON_IsObject(u)) {
        static const char *const keys[] = {"totalCost", "inputCost", "outputCost"};
        for (size_t i = 0; i < 3 && !(i > 0 && cget(u, "totalCost")); i++) {
            const cJSON *c = cget(u, keys[i]);
            if (is_absent(c))
                continue;
            if (usd_member(e, c, "body.usage", keys[i], &part))
                return -1;
            total += part;
            any = 1;
        }
    }
    if (!any)
        return 0;
    if (total > LF_MAX_COST)
        return ev_fail(e, "body.costDetails total is above %g USD", LF_MAX_COST);
    e->s.has_cost = true;
    e->s.cost_nusd = span_usd_to_nusd(total);
    return 0;
}

/* Generation members (read for every observation: others do not send them). */
static int take_generation(struct ev *e, const cJSON *b)
{
    const cJSON *mp = cget(b, "modelParameters"), *pv = cget(b, "promptVersion");
    if (set_str(e, b, "model", &e->s.model) || set_str(e, b, "promptName", &e->s.prompt_name) ||
        get_time(e, b, "completionStartTime", &e->side.cst_ns) || take_usage(e, b) ||
        take_cost(e, b))
        return -1;
    if (!is_absent(mp) && !cJSON_IsObject(mp))
        return ev_fail(e, "body.modelParameters must be an object");
    if (!is_absent(mp)) {
        free(e->s.params);
        e->s.params = jsonx_print(mp);
    }
    int64_t v;
    if (!is_absent(pv) && (jsonx_int64(pv, &v) != 0 || v < 0))
        return ev_fail(e, "body.promptVersion must be a non-negative integer");
    if (!is_absent(pv))
        e->s.prompt_version = v;
    return 0;
}

/* ---- event bodies ------------------------------------------------------- */

/* Event types that make spans: the kind, whether it updates, whether it is
 * an event (no duration), whether body.type says the kind (legacy). */
static const struct lf_type {
    const char *type;
    enum span_kind kind;
    bool update, event, legacy;
} obs_types[] = {
    {"span-create", SPAN_KIND_OTHER, false, false, false},
    {"span-update", SPAN_KIND_OTHER, true, false, false},
    {"generation-create", SPAN_KIND_LLM, false, false, false},
    {"generation-update", SPAN_KIND_LLM, true, false, false},
    {"event-create", SPAN_KIND_OTHER, false, true, false},
    {"agent-create", SPAN_KIND_AGENT, false, false, false},
    {"tool-create", SPAN_KIND_TOOL, false, false, false},
    {"chain-create", SPAN_KIND_CHAIN, false, false, false},
    {"retriever-create", SPAN_KIND_RETRIEVAL, false, false, false},
    {"evaluator-create", SPAN_KIND_EVALUATOR, false, false, false},
    {"embedding-create", SPAN_KIND_EMBEDDING, false, false, false},
    {"guardrail-create", SPAN_KIND_GUARDRAIL, false, false, false},
    {"observation-create", SPAN_KIND_OTHER, false, false, true},
    {"observation-update", SPAN_KIND_OTHER, true, false, true},
};

/* The span type of a legacy observation (body.type, e.g. "GENERATION"). */
static const struct lf_type *legacy_type(const char *name)
{
    char t[40];
    size_t n = strlen(name);
    if (n + 8 > sizeof(t))
        return NULL;
    for (size_t i = 0; i < n; i++)
        t[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    memcpy(t + n, "-create", 8);
    for (size_t i = 0; i < sizeof(obs_types) / sizeof(obs_types[0]); i++)
        if (!obs_types[i].legacy && strcmp(obs_types[i].type, t) == 0)
            return &obs_types[i];
    return NULL;
}

static int obs_ids(struct ev *e, const cJSON *b, bool update)
{
    const char *id, *trace, *parent;
    if (get_id(e, b, "id", 1, &id) || get_id(e, b, "traceId", 0, &trace) ||
        get_id(e, b, "parentObservationId", 0, &parent))
        return -1;
    ids_derive(id, 8, e->s.span_id);
    attr_str(e, "langfuse.observation.id", id);
    if (trace) {
        trace_id_of(trace, e->s.trace_id);
        attr_str(e, "langfuse.trace.id", trace);
    } else if (!update) {
        ids_derive(id, 16, e->s.trace_id); /* a lone observation is its own trace */
    }
    if (parent)
        ids_derive(parent, 8, e->s.parent_span_id);
    else if (!update && trace)
        root_span_of(trace, e->s.parent_span_id);
    return 0;
}

static int dec_observation(struct ev *e, const cJSON *b, const struct lf_type *t)
{
    bool update = t->update, event = t->event;
    e->s.kind = t->kind;
    e->has_kind = !update;
    if (t->legacy) {
        const char *bt;
        if (get_str(e, b, "type", &bt))
            return -1;
        const struct lf_type *lt = bt ? legacy_type(bt) : NULL;
        if (bt && !lt)
            return ev_fail(e, "body.type %.40s is not an observation type", bt);
        e->s.kind = lt ? lt->kind : SPAN_KIND_OTHER;
        e->has_kind = lt || !update;
        event = lt && lt->event;
    }
    if (obs_ids(e, b, update) || set_str(e, b, "name", &e->s.name) ||
        get_time(e, b, "startTime", &e->s.start_ns) || get_time(e, b, "endTime", &e->s.end_ns) ||
        take_level(e, b) || take_common(e, b) || take_generation(e, b))
        return -1;
    if (!update && !e->s.start_ns)
        e->s.start_ns = e->ts;
    if (event && e->s.start_ns)
        e->s.end_ns = e->s.start_ns;
    if (e->s.start_ns && e->s.end_ns && e->s.end_ns < e->s.start_ns)
        return ev_fail(e, "body.endTime is before body.startTime");
    return 0;
}

/* trace-create (an upsert): the trace's root span, kind chain. */
static int dec_trace(struct ev *e, const cJSON *b)
{
    const char *id;
    if (get_id(e, b, "id", 1, &id))
        return -1;
    trace_id_of(id, e->s.trace_id);
    root_span_of(id, e->s.span_id);
    attr_str(e, "langfuse.trace.id", id);
    e->s.kind = SPAN_KIND_CHAIN;
    e->has_kind = true;
    e->side.is_root = true;
    if (set_str(e, b, "name", &e->s.name) || set_str(e, b, "userId", &e->s.user_id) ||
        set_str(e, b, "sessionId", &e->s.session_id) ||
        get_time(e, b, "timestamp", &e->s.start_ns) || take_tags(e, b) || take_common(e, b))
        return -1;
    const char *tenant = jsonx_str(cget(b, "metadata"), "tenant");
    if (tenant && strlen(tenant) <= NATIVE_MAX_STR)
        xstrset(&e->s.tenant, tenant);
    return 0;
}

static void score_clear(struct rec_score *r)
{
    free(r->project);
    free(r->id);
    free(r->session_id);
    free(r->name);
    free(r->string_value);
    free(r->data_type);
    free(r->comment);
    free(r->source);
    free(r->dedup_key);
    memset(r, 0, sizeof(*r));
}

/* value and dataType: NUMERIC and BOOLEAN (0 or 1) numbers, CATEGORICAL
 * strings; the type defaults from the value. */
static int score_value(struct ev *e, const cJSON *b, struct rec_score *r)
{
    const cJSON *v = cget(b, "value");
    const char *dt;
    if (get_str(e, b, "dataType", &dt))
        return -1;
    if (cJSON_IsBool(v))
        r->value = cJSON_IsTrue(v) ? 1 : 0;
    else if (cJSON_IsNumber(v))
        r->value = v->valuedouble;
    else if (cJSON_IsString(v) && strlen(v->valuestring) <= NATIVE_MAX_STR)
        r->string_value = xstrdup(v->valuestring);
    else
        return ev_fail(e, "body.value must be a number or a string");
    if (!dt)
        dt = r->string_value ? "CATEGORICAL" : cJSON_IsBool(v) ? "BOOLEAN" : "NUMERIC";
    if (strcmp(dt, "NUMERIC") && strcmp(dt, "BOOLEAN") && strcmp(dt, "CATEGORICAL"))
        return ev_fail(e, "body.dataType must be NUMERIC, BOOLEAN or CATEGORICAL");
    if ((strcmp(dt, "CATEGORICAL") == 0) != (r->string_value != NULL))
        return ev_fail(e, "body.value must be a %s for dataType %s",
                       r->string_value ? "number" : "string", dt);
    if (strcmp(dt, "BOOLEAN") == 0 && r->value != 0 && r->value != 1)
        return ev_fail(e, "body.value must be 0 or 1 for dataType BOOLEAN");
    r->data_type = xstrdup(dt);
    return 0;
}

static int dec_score(struct ev *e, const cJSON *b, struct rec_score *r)
{
    const char *id, *trace, *obs, *session, *name, *comment;
    if (get_id(e, b, "id", 1, &id) || get_id(e, b, "traceId", 0, &trace) ||
        get_id(e, b, "observationId", 0, &obs) || get_id(e, b, "sessionId", 0, &session) ||
        get_str(e, b, "name", &name) || get_str(e, b, "comment", &comment) ||
        get_time(e, b, "timestamp", &r->time_ns) || score_value(e, b, r))
        return -1;
    if (!name || !*name)
        return ev_fail(e, "body.name is required");
    if (!trace && !session)
        return ev_fail(e, cget(b, "datasetRunId") ? "scores on dataset runs are not supported"
                                                  : "body.traceId or body.sessionId is required");
    r->id = xstrdup(id);
    r->name = xstrdup(name);
    r->comment = xstrdup(comment);
    r->session_id = xstrdup(session);
    r->source = xstrdup("langfuse");
    if (trace)
        trace_id_of(trace, r->trace_id);
    if (obs)
        ids_derive(obs, 8, r->span_id);
    if (!r->time_ns)
        r->time_ns = e->ts;
    return 0;
}

/* ---- placing records ---------------------------------------------------- */

/* Overlay the JSON object 'add' on 'old' (both may be NULL); new text. */
static char *attrs_merge(const char *old, const char *add)
{
    char err[64];
    if (!old || !add)
        return xstrdup(old ? old : add);
    cJSON *o = jsonx_parse(old, strlen(old), err, sizeof(err));
    cJSON *a = jsonx_parse(add, strlen(add), err, sizeof(err));
    if (!cJSON_IsObject(o) || !cJSON_IsObject(a)) {
        cJSON_Delete(o);
        cJSON_Delete(a);
        return xstrdup(add);
    }
    while (a->child) {
        cJSON *k = cJSON_DetachItemViaPointer(a, a->child);
        char *key = xstrdup(k->string); /* cJSON frees k->string before copying it */
        if (cget(o, key))
            cJSON_ReplaceItemInObjectCaseSensitive(o, key, k);
        else
            cJSON_AddItemToObject(o, key, k);
        free(key);
    }
    char *text = jsonx_print(o);
    cJSON_Delete(o);
    cJSON_Delete(a);
    return text;
}

static void take_over(char **dst, char **src)
{
    if (*src) {
        free(*dst);
        *dst = *src;
        *src = NULL;
    }
}

/* Merge the event's span 's' into the record 'd': what the event has wins. */
static void span_merge(struct span *d, struct span *s, bool has_kind)
{
    char **const ds[] = {
        &d->name,   &d->provider,     &d->model,           &d->response_model, &d->input,
        &d->output, &d->error_code,   &d->error_message,   &d->user_id,        &d->session_id,
        &d->tenant, &d->version_set,  &d->prompt_name,     &d->prompt_vars,    &d->params,
        &d->tags,   &d->service_name, &d->service_version, &d->service_tier,   &d->finish_reason};
    char **const ss[] = {
        &s->name,   &s->provider,     &s->model,           &s->response_model, &s->input,
        &s->output, &s->error_code,   &s->error_message,   &s->user_id,        &s->session_id,
        &s->tenant, &s->version_set,  &s->prompt_name,     &s->prompt_vars,    &s->params,
        &s->tags,   &s->service_name, &s->service_version, &s->service_tier,   &s->finish_reason};
    for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
        take_over(ds[i], ss[i]);
    if (*s->trace_id)
        memcpy(d->trace_id, s->trace_id, sizeof(d->trace_id));
    if (*s->parent_span_id)
        memcpy(d->parent_span_id, s->parent_span_id, sizeof(d->parent_span_id));
    if (has_kind)
        d->kind = s->kind;
    d->start_ns = s->start_ns ? s->start_ns : d->start_ns;
    d->end_ns = s->end_ns ? s->end_ns : d->end_ns;
    for (int i = U_IN; i <= U_RS; i++)
        if (*usage_slot(&s->usage, i) >= 0)
            *usage_slot(&d->usage, i) = *usage_slot(&s->usage, i);
    if (s->has_cost) {
        d->has_cost = true;
        d->cost_nusd = s->cost_nusd;
    }
    d->prompt_version = s->prompt_version >= 0 ? s->prompt_version : d->prompt_version;
    char *attrs = attrs_merge(d->attributes, s->attributes);
    free(d->attributes);
    d->attributes = attrs;
}

/* The dedup key of a record several envelopes made: their ids joined with
 * '+', hashed once that grows long. */
static void key_append(char **key, const char *id)
{
    char *k = xasprintf("%s+%s", *key, id);
    if (strlen(k) > LF_MAX_KEY) {
        uint64_t h = ids_hash64(k, strlen(k), 0);
        free(k);
        k = xasprintf("langfuse:merged:%016" PRIx64, h);
    }
    free(*key);
    *key = k;
}

/* The event's span becomes a new REC_MERGE record or merges into this
 * batch's record for the same entity; returns its index. */
static size_t place_span(struct lf *L, struct ev *e)
{
    struct ingest_batch *out = L->out;
    if (e->attrs->child)
        e->s.attributes = jsonx_print(e->attrs);
    const size_t *at = map_get(&L->recs, e->s.span_id);
    if (at) {
        struct lf_side *side = &L->side[*at - L->base];
        span_merge(&out->spans[*at].span, &e->s, e->has_kind);
        side->has_status |= e->side.has_status;
        if (e->side.has_status)
            out->spans[*at].span.status = e->s.status;
        side->is_root |= e->side.is_root;
        side->cst_ns = e->side.cst_ns ? e->side.cst_ns : side->cst_ns;
        key_append(&out->spans[*at].dedup_key, e->id);
        return *at;
    }
    struct rec_span *rec = ingest_add_span(out);
    size_t idx = out->nspans - 1;
    span_move(&rec->span, &e->s);
    rec->op = REC_MERGE;
    rec->dedup_key = xasprintf("langfuse:%s", e->id);
    if (idx - L->base == L->capside) {
        L->capside = L->capside ? L->capside * 2 : 16;
        L->side = xrealloc(L->side, L->capside * sizeof(*L->side));
    }
    L->side[idx - L->base] = e->side;
    map_put(&L->recs, rec->span.span_id, idx);
    return idx;
}

static const struct lf_type *obs_type(const char *type)
{
    for (size_t i = 0; i < sizeof(obs_types) / sizeof(obs_types[0]); i++)
        if (strcmp(obs_types[i].type, type) == 0)
            return &obs_types[i];
    return NULL;
}

/* Decode the body of a checked envelope of type 'type' into a record. */
static int run_body(struct lf *L, struct ev *e, const char *type, const cJSON *b,
                    struct lf_item *it)
{
    const struct lf_type *t = obs_type(type);
    if (strcmp(type, "sdk-log") == 0)
        return 0;
    if (strcmp(type, "score-create") == 0) {
        struct rec_score sc;
        memset(&sc, 0, sizeof(sc));
        if (dec_score(e, b, &sc)) {
            score_clear(&sc);
            return -1;
        }
        sc.dedup_key = xasprintf("langfuse:%s", e->id);
        *ingest_add_score(L->out) = sc;
        it->what = LF_SCORE;
        it->rec = L->out->nscores - 1;
        return 0;
    }
    if (!t && strcmp(type, "trace-create") != 0)
        return ev_fail(e, "unsupported event type %.64s", type);
    if (t ? dec_observation(e, b, t) : dec_trace(e, b))
        return -1;
    it->what = LF_SPAN;
    it->rec = place_span(L, e);
    return 0;
}

/* Check an envelope {id, type, timestamp, body} and decode it. */
static int run_envelope(struct lf *L, struct ev *e, const cJSON *env, struct lf_item *it)
{
    if (!cJSON_IsObject(env))
        return ev_fail(e, "an event must be a JSON object");
    const cJSON *id = cget(env, "id"), *body = cget(env, "body");
    const char *type = jsonx_str(env, "type"), *ts = jsonx_str(env, "timestamp");
    if (cJSON_IsString(id) && *id->valuestring && strlen(id->valuestring) <= LF_MAX_ID)
        it->id = xstrdup(id->valuestring);
    if (!it->id || strchr(it->id, '\r'))
        return ev_fail(e, "id must be a string of 1 to %d characters without \\r", LF_MAX_ID);
    if (map_get(&L->seen, it->id))
        return 0; /* the same envelope twice: already taken */
    e->id = it->id;
    if (!type)
        return ev_fail(e, "type must be a string");
    if (!is_absent(cget(env, "timestamp")) && (!ts || time_parse_iso(ts, &e->ts) != 0))
        return ev_fail(e, "timestamp must be an ISO-8601 time");
    if (!cJSON_IsObject(body))
        return ev_fail(e, "body must be an object");
    if (run_body(L, e, type, body, it))
        return -1;
    map_put(&L->seen, it->id, 1);
    return 0;
}

static void run_event(struct lf *L, const cJSON *env)
{
    struct langfuse_report *rep = L->rep;
    if (rep->n == rep->cap) {
        rep->cap = rep->cap ? rep->cap * 2 : 16;
        rep->items = xrealloc(rep->items, rep->cap * sizeof(*rep->items));
    }
    struct lf_item *it = &rep->items[rep->n++];
    memset(it, 0, sizeof(*it));
    struct ev e;
    memset(&e, 0, sizeof(e));
    span_init(&e.s);
    e.attrs = cJSON_CreateObject();
    if (run_envelope(L, &e, env, it)) {
        it->error = xstrdup(e.err);
        it->what = LF_NONE;
        rep->errors++;
    }
    cJSON_Delete(e.attrs);
    span_release(&e.s);
}

/* TTFT from completionStartTime; a trace's user, session and tenant onto
 * its observations that lack them. */
static void finish_batch(struct lf *L)
{
    struct ingest_batch *out = L->out;
    struct lf_map roots = {0};
    for (size_t i = L->base; i < out->nspans; i++)
        if (L->side[i - L->base].is_root)
            map_put(&roots, out->spans[i].span.trace_id, i);
    for (size_t i = L->base; i < out->nspans; i++) {
        struct span *s = &out->spans[i].span;
        const struct lf_side *side = &L->side[i - L->base];
        if (side->cst_ns && s->start_ns && side->cst_ns >= s->start_ns) {
            s->ttft_ms = (double)(side->cst_ns - s->start_ns) / 1e6;
        } else if (side->cst_ns) { /* the start is in another batch: keep it */
            char iso[40], *add;
            time_format_iso(side->cst_ns, iso, sizeof(iso));
            add = xasprintf("{\"langfuse.completion_start_time\":\"%s\"}", iso);
            char *merged = attrs_merge(s->attributes, add);
            free(s->attributes);
            s->attributes = merged;
            free(add);
        }
        const size_t *r = side->is_root || !*s->trace_id ? NULL : map_get(&roots, s->trace_id);
        const struct span *root = r ? &out->spans[*r].span : NULL;
        if (root && !s->user_id)
            s->user_id = xstrdup(root->user_id);
        if (root && !s->session_id)
            s->session_id = xstrdup(root->session_id);
        if (root && !s->tenant)
            s->tenant = xstrdup(root->tenant);
    }
    map_free(&roots);
}

int langfuse_decode(const char *body, size_t len, struct ingest_batch *out,
                    struct langfuse_report **rep, char *err, size_t errlen)
{
    char perr[128];
    *rep = NULL;
    cJSON *root = body && len ? jsonx_parse(body, len, perr, sizeof(perr)) : NULL;
    const cJSON *batch = cget(root, "batch");
    if (!root || !cJSON_IsObject(root) || !cJSON_IsArray(batch)) {
        snprintf(err, errlen, "%s",
                 !body || !len ? "empty body"
                 : !root       ? perr
                               : "the body must be an object with a \"batch\" "
                                 "array of events");
        cJSON_Delete(root);
        return LT_INVALID_INPUT;
    }
    struct lf L;
    memset(&L, 0, sizeof(L));
    L.out = out;
    L.base = out->nspans;
    L.rep = xcalloc(1, sizeof(*L.rep));
    for (const cJSON *env = batch->child; env; env = env->next)
        run_event(&L, env);
    finish_batch(&L);
    map_free(&L.recs);
    map_free(&L.seen);
    free(L.side);
    cJSON_Delete(root);
    *rep = L.rep;
    return LT_OK;
}

void langfuse_report_free(struct langfuse_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->n; i++) {
        free(rep->items[i].id);
        free(rep->items[i].error);
    }
    free(rep->items);
    free(rep);
}

size_t langfuse_report_count(const struct langfuse_report *rep)
{
    return rep ? rep->n : 0;
}

size_t langfuse_report_errors(const struct langfuse_report *rep)
{
    return rep ? rep->errors : 0;
}

int langfuse_report_item(const struct langfuse_report *rep, size_t i, const char **id,
                         const char **error, size_t *rec)
{
    const struct lf_item *it = rep && i < rep->n ? &rep->items[i] : NULL;
    if (id)
        *id = it ? it->id : NULL;
    if (error)
        *error = it ? it->error : NULL;
    if (rec)
        *rec = it ? it->rec : 0;
    return it ? it->what : LF_NONE;
}

/* ---- responses ---------------------------------------------------------- */

/* 1 when the store kept the item's record (or it needed none). */
static int item_committed(const struct lf_item *it, const struct ingest_batch *b)
{
    enum rec_result r;
    if (it->what == LF_SPAN)
        r = it->rec < b->nspans ? b->spans[it->rec].result : REC_FAILED;
    else if (it->what == LF_SCORE)
        r = it->rec < b->nscores ? b->scores[it->rec].result : REC_FAILED;
    else
        return 1;
    return r == REC_CREATED || r == REC_MERGED || r == REC_DUPLICATE;
}

/* '{"id":<id or null>' after a comma when not the first ('*k' counts). */
static int put_id(struct buf *out, size_t *k, const char *id)
{
    int rc = (*k)++ ? buf_putc(out, ',') : 0;
    rc |= buf_puts(out, "{\"id\":");
    rc |= id ? buf_json_str(out, id) : buf_puts(out, "null");
    return rc;
}

int langfuse_write_response(struct buf *out, const struct langfuse_report *rep,
                            const struct ingest_batch *b)
{
    size_t n = rep ? rep->n : 0, k = 0;
    int rc = buf_puts(out, "{\"successes\":[");
    for (size_t i = 0; i < n; i++) {
        const struct lf_item *it = &rep->items[i];
        if (it->error || !item_committed(it, b))
            continue;
        rc |= put_id(out, &k, it->id);
        rc |= buf_puts(out, ",\"status\":201}");
    }
    rc |= buf_puts(out, "],\"errors\":[");
    k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lf_item *it = &rep->items[i];
        int stored = item_committed(it, b);
        if (!it->error && stored)
            continue;
        rc |= put_id(out, &k, it->id);
        rc |= buf_printf(out, ",\"status\":%d,\"message\":\"%s\",\"error\":", it->error ? 400 : 500,
                         it->error ? "Invalid request data" : "Internal Server Error");
        rc |=
            buf_json_str(out, it->error ? it->error : "the store did not commit this event; retry");
        rc |= buf_putc(out, '}');
    }
    rc |= buf_puts(out, "]}");
    return rc ? BUF_TOOBIG : BUF_OK;
}
