/*
 * genai: dialect mapping of one OTLP span to the canonical span (see genai.h).
 *
 * genai_map_span checks the envelope (ids, times, field types), flattens the
 * span's attributes into one object 'a', then lets each canonical field take
 * its value from 'a' in the priority order of PROTOCOLS.md §0, deleting the
 * keys it consumed. What is left of 'a', plus the scope and the resource,
 * becomes span.attributes. Indexed dialects (gen_ai.prompt.N.*,
 * llm.input_messages.N.message.*) are first rebuilt into arrays ordered by
 * their numeric index; messages of every dialect then go through one
 * canonicaliser (genai_message_add), so the store and UI read one format.
 *
 * Untrusted input is bounded: AnyValue nesting (ANY_MAX_DEPTH), index levels
 * (IDX_MAX_LEVELS), no quadratic work on repeated or numerous keys, and the
 * attributes cap. The recursion over messages follows trees jsonx_parse or
 * the flattener already bounded.
 */
#include "collector/genai.h"
#include "collector/genai_int.h"

#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ids.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/vset.h"
#include "core/xmem.h"

#define ANY_MAX_DEPTH 32 /* AnyValue nesting kept by the flattener */
#define IDX_MAX_LEVELS 3 /* numeric segments followed in one indexed key */
#define IDX_MAX_DIGITS 8 /* longer digit runs are names, not indexes */

/* ---- key sets: last-wins and collision checks without quadratic scans ---- */

struct keyset {
    const char **keys; /* borrowed; NULL = free slot */
    size_t *last;      /* per slot: 1 + position of the last occurrence */
    size_t mask;
};

static void keyset_init(struct keyset *ks, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    ks->keys = xcalloc(cap, sizeof(*ks->keys));
    ks->last = xcalloc(cap, sizeof(*ks->last));
    ks->mask = cap - 1;
}

static void keyset_release(struct keyset *ks)
{
    free(ks->keys);
    free(ks->last);
}

/* Slot of 'key': where it is, or the free slot where it would go. */
static size_t keyset_slot(const struct keyset *ks, const char *key)
{
    size_t i = (size_t)ids_hash64(key, strlen(key), 0) & ks->mask;
    while (ks->keys[i] && strcmp(ks->keys[i], key) != 0)
        i = (i + 1) & ks->mask;
    return i;
}

static void keyset_put(struct keyset *ks, const char *key, size_t pos)
{
    size_t i = keyset_slot(ks, key);
    ks->keys[i] = key;
    ks->last[i] = pos + 1;
}

/* 1 + position of the last 'key' put, 0 when never put. */
static size_t keyset_get(const struct keyset *ks, const char *key)
{
    size_t i = keyset_slot(ks, key);
    return ks->keys[i] ? ks->last[i] : 0;
}

/* ---- AnyValue flattening ---- */

static cJSON *kv_object(const cJSON *list, int depth);

static cJSON *any_int(const cJSON *v)
{
    int64_t n;
    if (jsonx_int64(v, &n) == 0)
        return jcheck(jsonx_int64_node(n));
    return cJSON_IsString(v) ? jstr(v->valuestring) : jcheck(cJSON_CreateNull());
}

static cJSON *any_array(const cJSON *av, int depth);

static cJSON *any_value(const cJSON *av, int depth)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    const cJSON *v;
    double d;
    if (!cJSON_IsObject(av) || depth > ANY_MAX_DEPTH)
        return jcheck(cJSON_CreateNull());
    if ((v = member(av, "stringValue")) && cJSON_IsString(v))
        return jstr(v->valuestring);
    if ((v = member(av, "intValue")))
        return any_int(v);
    if ((v = member(av, "doubleValue")))
        return jcheck(jsonx_double(v, &d) == 0 && isfinite(d) ? cJSON_CreateNumber(d)
                                                              : cJSON_CreateNull());
    if ((v = member(av, "boolValue")) && cJSON_IsBool(v))
        return jcheck(cJSON_CreateBool(cJSON_IsTrue(v)));
    if ((v = member(av, "arrayValue")))
        return any_array(member(v, "values"), depth + 1);
    if ((v = member(av, "kvlistValue")))
        return kv_object(member(v, "values"), depth + 1);
    if ((v = member(av, "bytesValue")) && cJSON_IsString(v))
        return jstr(v->valuestring);
    if (member(av, "stringValueStrindex") && !atomic_flag_test_and_set(&warned))
        log_msg(LOG_WARN, "genai", "ignoring profiles-only stringValueStrindex attribute values");
    return jcheck(cJSON_CreateNull());
}

static cJSON *any_array(const cJSON *values, int depth)
{
    cJSON *arr = jarr();
    if (cJSON_IsArray(values))
        for (const cJSON *c = values->child; c; c = c->next)
            jpush(arr, any_value(c, depth));
    return arr;
}

/* KeyValue list to object; a repeated key keeps its last value. */
static cJSON *kv_object(const cJSON *list, int depth)
{
    cJSON *obj = jobj();
    size_t n = 0, i = 0;
    if (!cJSON_IsArray(list))
        return obj;
    for (const cJSON *c = list->child; c; c = c->next)
        n++;
    struct keyset ks;
    keyset_init(&ks, n);
    for (const cJSON *c = list->child; c; c = c->next, i++) {
        const char *key = str(c, "key");
        if (key)
            keyset_put(&ks, key, i);
    }
    i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++) {
        const char *key = str(c, "key");
        if (key && keyset_get(&ks, key) == i + 1)
            jadd(obj, key, any_value(member(c, "value"), depth));
    }
    keyset_release(&ks);
    return obj;
}

cJSON *genai_attrs_flatten(const cJSON *kvlist)
{
    return kv_object(kvlist, 0);
}

cJSON *genai_anyvalue(const cJSON *av)
{
    return any_value(av, 0);
}

const char *genai_project(const cJSON *resource)
{
    const char *p = str(resource, "llmtap.project");
    if (!p || !*p)
        p = str(resource, "openinference.project.name");
    return p && *p ? p : NULL;
}

/* ---- typed reads of attribute values ---- */

/* Text of a string, or of a number (ids sent as ints); NULL otherwise. */
static const char *val_text(const cJSON *v, char *tmp, size_t n)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return NULL;
    double d = v->valuedouble;
    snprintf(tmp, n, d == floor(d) && fabs(d) < 1e15 ? "%.0f" : "%.17g", d);
    return tmp;
}

/* A token count: a non-negative integer given as a number or a string. */
static int val_count(const cJSON *v, int64_t *out)
{
    int64_t n;
    double d;
    if (jsonx_int64(v, &n) == 0 && n >= 0) {
        *out = n;
        return 0;
    }
    if (jsonx_double(v, &d) == 0 && isfinite(d) && d >= 0 && d < 9e18 && d == floor(d)) {
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

static int val_double(const cJSON *v, double *out)
{
    return jsonx_double(v, out) == 0 && isfinite(*out) ? 0 : -1;
}

/* traceloop.* keys are kept in the attributes even when mapped. */
static void consume(cJSON *a, const char *key)
{
    if (strncmp(key, "traceloop.", 10) != 0)
        cJSON_DeleteItemFromObjectCaseSensitive(a, key);
}

/* The first of 'keys' with non-empty text goes to '*slot' and is consumed.
 * Returns 1 + the index of the key used, 0 when none. */
static int take_str(cJSON *a, const char *const *keys, char **slot)
{
    char tmp[40];
    for (int i = 0; keys[i]; i++) {
        const char *v = val_text(member(a, keys[i]), tmp, sizeof(tmp));
        if (v && *v) {
            xstrset(slot, v);
            consume(a, keys[i]);
            return i + 1;
        }
    }
    return 0;
}

static int take_count(cJSON *a, const char *const *keys, int64_t *out)
{
    for (int i = 0; keys[i]; i++)
        if (val_count(member(a, keys[i]), out) == 0) {
            consume(a, keys[i]);
            return 1;
        }
    return 0;
}

static int take_double(cJSON *a, const char *key, double *out)
{
    if (val_double(member(a, key), out) != 0)
        return 0;
    consume(a, key);
    return 1;
}

/* ---- indexed attribute families: "prefix.N.rest" to arrays ordered by N ---- */

struct idx_ent {
    const char *rest; /* the key after what this level consumed */
    const cJSON *val;
    size_t ord;  /* position in 'a': ties keep it */
    long idx;    /* numeric segment at this level */
    size_t nlen; /* length of the name before a nested index, 0 = leaf */
};

/* Length of the all-digit segment at 's' (ended by '.' or NUL), 0 if none. */
static size_t digit_seg(const char *s)
{
    size_t n = 0;
    while (isdigit((unsigned char)s[n]))
        n++;
    return n > 0 && n <= IDX_MAX_DIGITS && (s[n] == '.' || s[n] == '\0') ? n : 0;
}

/* Length of the name before the first nested index of 'rest', 0 when none. */
static size_t nested_name_len(const char *rest)
{
    for (const char *p = rest; *p; p++)
        if (*p == '.' && p > rest && digit_seg(p + 1))
            return (size_t)(p - rest);
    return 0;
}

static int ent_by_idx(const void *x, const void *y)
{
    const struct idx_ent *a = x, *b = y;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

static int ent_by_name(const void *x, const void *y)
{
    const struct idx_ent *a = x, *b = y;
    int c = memcmp(a->rest, b->rest, a->nlen < b->nlen ? a->nlen : b->nlen);
    if (c)
        return c;
    if (a->nlen != b->nlen)
        return a->nlen < b->nlen ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

static cJSON *idx_level(struct idx_ent *e, size_t n, int depth);

/* One element: leaves become members, nested indexes become arrays. */
static cJSON *idx_elem(struct idx_ent *e, size_t n, int depth)
{
    cJSON *obj = jobj();
    size_t nn = 0;
    for (size_t i = 0; i < n; i++) {
        e[i].nlen = nested_name_len(e[i].rest);
        if (e[i].nlen == 0)
            jadd(obj, e[i].rest, jdup(e[i].val));
        else
            e[nn++] = e[i];
    }
    qsort(e, nn, sizeof(*e), ent_by_name);
    for (size_t i = 0, j; i < nn; i = j) {
        size_t len = e[i].nlen;
        for (j = i + 1; j < nn && e[j].nlen == len && memcmp(e[j].rest, e[i].rest, len) == 0; j++)
            ;
        char *name = xstrndup(e[i].rest, len);
        for (size_t k = i; k < j; k++)
            e[k].rest += len + 1;
        jadd(obj, name, idx_level(e + i, j - i, depth + 1));
        free(name);
    }
    return obj;
}

/* Entries whose 'rest' starts with "N." grouped into an array ordered by N. */
static cJSON *idx_level(struct idx_ent *e, size_t n, int depth)
{
    cJSON *arr = jarr();
    size_t m = 0;
    if (depth >= IDX_MAX_LEVELS)
        return arr;
    for (size_t i = 0; i < n; i++) {
        size_t d = digit_seg(e[i].rest);
        if (!d || e[i].rest[d] != '.')
            continue;
        e[i].idx = strtol(e[i].rest, NULL, 10);
        e[i].rest += d + 1;
        e[m++] = e[i];
    }
    qsort(e, m, sizeof(*e), ent_by_idx);
    for (size_t i = 0, j; i < m; i = j) {
        for (j = i + 1; j < m && e[j].idx == e[i].idx; j++)
            ;
        jpush(arr, idx_elem(e + i, j - i, depth));
    }
    return arr;
}

static int idx_member(const char *key, const char *prefix, size_t plen)
{
    return strncmp(key, prefix, plen) == 0 && key[plen] == '.' && digit_seg(key + plen + 1);
}

/* The family 'prefix' of 'a' as an array of element objects, NULL if none. */
static cJSON *idx_collect(const cJSON *a, const char *prefix)
{
    size_t plen = strlen(prefix), n = 0, cap = 0, ord = 0;
    struct idx_ent *e = NULL;
    for (const cJSON *c = a ? a->child : NULL; c; c = c->next, ord++) {
        if (!idx_member(c->string, prefix, plen))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            e = xrealloc(e, cap * sizeof(*e));
        }
        e[n++] = (struct idx_ent){c->string + plen + 1, c, ord, 0, 0};
    }
    cJSON *arr = n ? idx_level(e, n, 0) : NULL;
    free(e);
    if (arr && !arr->child) {
        cJSON_Delete(arr);
        arr = NULL;
    }
    return arr;
}

static void idx_consume(cJSON *a, const char *prefix)
{
    size_t plen = strlen(prefix);
    cJSON *c = a->child;
    while (c) {
        cJSON *next = c->next;
        if (idx_member(c->string, prefix, plen))
            cJSON_Delete(cJSON_DetachItemViaPointer(a, c));
        c = next;
    }
}

/* ---- content sources of each dialect ---- */

/* One message, or several (an array), or nothing; takes 'arr'. */
static cJSON *collapse(cJSON *arr)
{
    if (arr && arr->child && !arr->child->next) {
        cJSON *one = cJSON_DetachItemViaPointer(arr, arr->child);
        cJSON_Delete(arr);
        return one;
    }
    return arr;
}

static int is_message(const cJSON *m)
{
    return cJSON_IsObject(m) && (str(m, "role") || genai_is_wrapper(m));
}

static int is_message_list(const cJSON *v)
{
    if (!cJSON_IsArray(v) || !v->child)
        return 0;
    for (const cJSON *c = v->child; c; c = c->next)
        if (!is_message(c))
            return 0;
    return 1;
}

/* A loosely typed content value (Langfuse input, old gen_ai.prompt): message
 * lists are canonicalised (and with 'one', a single message is unwrapped),
 * any other JSON is kept as it is. */
static cJSON *loose_content(const cJSON *value, const char *role, int one)
{
    cJSON *owned, *res = NULL;
    const cJSON *v;
    if (!value || cJSON_IsNull(value))
        return NULL;
    v = genai_as_json(value, &owned);
    if (is_message(v) || is_message_list(v)) {
        res = genai_messages(v, role);
        if (one)
            res = collapse(res);
    } else if (!cJSON_IsString(v) || *v->valuestring) {
        res = jdup(v);
    }
    cJSON_Delete(owned);
    return res;
}

/* The converted value of attribute 'key' on the first event named 'name'. */
static cJSON *event_attr(const cJSON *events, const char *name, const char *key)
{
    for (const cJSON *e = cJSON_IsArray(events) ? events->child : NULL; e; e = e->next) {
        const char *en = str(e, "name");
        const cJSON *attrs = member(e, "attributes"), *found = NULL;
        if (!en || strcmp(en, name) != 0 || !cJSON_IsArray(attrs))
            continue;
        for (const cJSON *kv = attrs->child; kv; kv = kv->next)
            if (str(kv, "key") && strcmp(str(kv, "key"), key) == 0)
                found = kv;
        return found ? genai_anyvalue(member(found, "value")) : NULL;
    }
    return NULL;
}

static cJSON *otel_input(const cJSON *a)
{
    const cJSON *sys = member(a, "gen_ai.system_instructions");
    const cJSON *msgs = member(a, "gen_ai.input.messages");
    cJSON *out = jarr(), *s;
    if (sys && (s = genai_system_message(sys)))
        jpush(out, s);
    if (msgs)
        jappend_all(out, genai_messages(msgs, "user"));
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* A content string holding a JSON array of typed parts, parsed; else NULL. */
static cJSON *parts_in_text(const cJSON *content)
{
    cJSON *owned;
    const cJSON *v = genai_as_json(content, &owned);
    if (!owned || !cJSON_IsArray(v) || !v->child)
        goto no;
    for (const cJSON *c = v->child; c; c = c->next)
        if (!str(c, "type"))
            goto no;
    return owned;
no:
    cJSON_Delete(owned);
    return NULL;
}

/* OpenLLMetry gen_ai.prompt.N.* / gen_ai.completion.N.*: the rebuilt elements
 * already use OpenAI's names (role, content, tool_calls[{id,name,arguments}],
 * tool_call_id); multimodal content arrives as JSON text. */
static cJSON *olm_messages(const cJSON *a, const char *family, const char *role)
{
    cJSON *items = idx_collect(a, family), *out = jarr(), *parts;
    for (cJSON *m = items ? items->child : NULL; m; m = m->next) {
        if ((parts = parts_in_text(member(m, "content"))))
            cJSON_ReplaceItemInObjectCaseSensitive(m, "content", parts);
        if (member(m, "function_call.name")) {
            cJSON *calls = jarr(), *tc = jobj();
            jadd(tc, "name", jdup(member(m, "function_call.name")));
            if (member(m, "function_call.arguments"))
                jadd(tc, "arguments", jdup(member(m, "function_call.arguments")));
            jpush(calls, tc);
            jadd(m, "tool_calls", calls);
        }
        genai_message_add(out, m, role);
    }
    cJSON_Delete(items);
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static void copy_as(cJSON *to, const char *key, const cJSON *from, const char *fkey)
{
    const cJSON *v = member(from, fkey);
    if (v)
        jadd(to, key, jdup(v));
}

/* One OpenInference message element ("message.role", "message.contents",
 * "message.tool_calls", ...) in OpenAI shape. */
static cJSON *oi_message(const cJSON *e)
{
    const cJSON *contents = member(e, "message.contents"), *tcs = member(e, "message.tool_calls");
    cJSON *m = jobj();
    copy_as(m, "role", e, "message.role");
    copy_as(m, "name", e, "message.name");
    copy_as(m, "tool_call_id", e, "message.tool_call_id");
    if (has_items(contents)) {
        cJSON *parts = jarr();
        for (const cJSON *c = contents->child; c; c = c->next) {
            cJSON *p = jobj();
            const char *url = str(c, "message_content.image.image.url");
            if (url) {
                cJSON *iu = jobj();
                jadd(iu, "url", jstr(url));
                jadd(p, "type", jstr("image_url"));
                jadd(p, "image_url", iu);
            } else {
                jadd(p, "type", jstr("text"));
                copy_as(p, "text", c, "message_content.text");
            }
            jpush(parts, p);
        }
        jadd(m, "content", parts);
    } else {
        copy_as(m, "content", e, "message.content");
    }
    if (has_items(tcs)) {
        cJSON *calls = jarr();
        for (const cJSON *t = tcs->child; t; t = t->next) {
            cJSON *tc = jobj();
            copy_as(tc, "id", t, "tool_call.id");
            copy_as(tc, "name", t, "tool_call.function.name");
            copy_as(tc, "arguments", t, "tool_call.function.arguments");
            jpush(calls, tc);
        }
        jadd(m, "tool_calls", calls);
    }
    return m;
}

static cJSON *oi_messages(const cJSON *a, const char *family, const char *role)
{
    cJSON *items = idx_collect(a, family), *out = jarr();
    for (const cJSON *e = items ? items->child : NULL; e; e = e->next) {
        cJSON *m = oi_message(e);
        genai_message_add(out, m, role);
        cJSON_Delete(m);
    }
    cJSON_Delete(items);
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* OpenInference input.value / output.value: JSON when the mime type says so
 * and it parses, else the text. */
static cJSON *oi_value(const cJSON *a, const char *vkey, const char *mkey)
{
    char err[96];
    const cJSON *v = member(a, vkey);
    const char *mime = str(a, mkey);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v))
        return jdup(v);
    if (mime && strcmp(mime, "application/json") == 0) {
        cJSON *j = jsonx_parse(v->valuestring, strlen(v->valuestring), err, sizeof(err));
        if (j)
            return j;
    }
    return jstr(v->valuestring);
}

/* Vercel AI SDK: ai.prompt.messages, else ai.prompt {system, prompt, messages}. */
static cJSON *vercel_input(const cJSON *a)
{
    cJSON *owned, *out;
    const cJSON *v = member(a, "ai.prompt.messages"), *p;
    if (v)
        return genai_messages(v, "user");
    if (!(v = member(a, "ai.prompt")))
        return NULL;
    p = genai_as_json(v, &owned);
    if (!cJSON_IsObject(p)) {
        cJSON_Delete(owned);
        return loose_content(v, "user", 0);
    }
    out = jarr();
    if (member(p, "system")) {
        cJSON *sys = genai_system_message(member(p, "system"));
        if (sys)
            jpush(out, sys);
    }
    if (member(p, "messages"))
        jappend_all(out, genai_messages(member(p, "messages"), "user"));
    if (member(p, "prompt"))
        jappend_all(out, genai_messages(member(p, "prompt"), "user"));
    cJSON_Delete(owned);
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static cJSON *vercel_output(const cJSON *a)
{
    const cJSON *text = member(a, "ai.response.text"), *obj = member(a, "ai.response.object");
    const cJSON *calls = member(a, "ai.response.toolCalls");
    cJSON *m, *out, *owned;
    if (!text && !obj && !calls)
        return NULL;
    m = jobj();
    jadd(m, "role", jstr("assistant"));
    if (cJSON_IsString(text) || cJSON_IsString(obj))
        jadd(m, "content", jstr(cJSON_IsString(text) ? text->valuestring : obj->valuestring));
    if (calls) {
        const cJSON *c = genai_as_json(calls, &owned);
        if (cJSON_IsArray(c))
            jadd(m, "tool_calls", jdup(c));
        cJSON_Delete(owned);
    }
    copy_as(m, "reasoning", a, "ai.response.reasoning");
    copy_as(m, "finish_reason", a, "ai.response.finishReason");
    out = jarr();
    genai_message_add(out, m, "assistant");
    cJSON_Delete(m);
    return collapse(out);
}

static const char *const input_keys[] = {"gen_ai.input.messages",
                                         "gen_ai.system_instructions",
                                         "input.value",
                                         "input.mime_type",
                                         "langfuse.observation.input",
                                         "gen_ai.prompt",
                                         "ai.prompt.messages",
                                         "ai.prompt",
                                         NULL};
static const char *const input_families[] = {"gen_ai.prompt", "llm.input_messages", NULL};
static const char *const output_keys[] = {"gen_ai.output.messages", "output.value",
                                          "output.mime_type",       "langfuse.observation.output",
                                          "gen_ai.completion",      "ai.response.text",
                                          "ai.response.toolCalls",  "ai.response.object",
                                          "ai.response.reasoning",  NULL};
static const char *const output_families[] = {"gen_ai.completion", "llm.output_messages", NULL};

static cJSON *input_json(const cJSON *a, const cJSON *events)
{
    cJSON *v, *ev;
    if ((v = otel_input(a)) || (v = olm_messages(a, "gen_ai.prompt", "user")) ||
        (v = oi_messages(a, "llm.input_messages", "user")) ||
        (v = oi_value(a, "input.value", "input.mime_type")) ||
        (v = loose_content(member(a, "langfuse.observation.input"), "user", 0)) ||
        (v = loose_content(member(a, "gen_ai.prompt"), "user", 0)) || (v = vercel_input(a)))
        return v;
    ev = event_attr(events, "gen_ai.content.prompt", "gen_ai.prompt");
    v = loose_content(ev, "user", 0);
    cJSON_Delete(ev);
    return v;
}

static cJSON *output_json(const cJSON *a, const cJSON *events)
{
    cJSON *v, *ev;
    const cJSON *om = member(a, "gen_ai.output.messages");
    if ((om && (v = collapse(genai_messages(om, "assistant")))) ||
        (v = collapse(olm_messages(a, "gen_ai.completion", "assistant"))) ||
        (v = collapse(oi_messages(a, "llm.output_messages", "assistant"))) ||
        (v = oi_value(a, "output.value", "output.mime_type")))
        return v;
    if ((v = loose_content(member(a, "langfuse.observation.output"), "assistant", 1)) ||
        (v = loose_content(member(a, "gen_ai.completion"), "assistant", 1)) ||
        (v = vercel_output(a)))
        return v;
    ev = event_attr(events, "gen_ai.content.completion", "gen_ai.completion");
    v = loose_content(ev, "assistant", 1);
    cJSON_Delete(ev);
    return v;
}

static void consume_all(cJSON *a, const char *const *keys, const char *const *families)
{
    for (; *keys; keys++)
        consume(a, *keys);
    for (; *families; families++)
        idx_consume(a, *families);
}

/* input/output from the first content source present; every source present
 * for that side is consumed (they are copies of the same conversation). */
static void map_content(cJSON *a, const cJSON *events, struct span *s)
{
    cJSON *in = input_json(a, events), *out = output_json(a, events);
    if (in) {
        s->input = jsonx_print(in);
        consume_all(a, input_keys, input_families);
    }
    if (out) {
        const char *fr = str(cJSON_IsArray(out) ? out->child : out, "finish_reason");
        s->output = jsonx_print(out);
        consume_all(a, output_keys, output_families);
        if (!s->finish_reason && fr)
            xstrset(&s->finish_reason, fr);
    }
    cJSON_Delete(in);
    cJSON_Delete(out);
}

/* ---- envelope: ids, times, field types ---- */

static int all_zero(const char *s)
{
    size_t n = strlen(s);
    return n && (strspn(s, "0") == n || strspn(s, "A=") == n);
}

int genai_id(const cJSON *obj, const char *field, size_t nbytes, int optional, char *out, char *err,
             size_t errlen)
{
    const cJSON *v = member(obj, field);
    out[0] = '\0';
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) {
        if (optional)
            return 0;
        snprintf(err, errlen, "missing %s", field);
        return -1;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "%s is not a string", field);
        return -1;
    }
    if (ids_normalize(v->valuestring, nbytes, out) == 0)
        return 0;
    out[0] = '\0';
    if (all_zero(v->valuestring)) {
        if (optional)
            return 0; /* an all-zero parent means "no parent" */
        snprintf(err, errlen, "invalid %s (all zeros)", field);
    } else if (strlen(v->valuestring) != 2 * nbytes) {
        snprintf(err, errlen, "invalid %s length %zu", field, strlen(v->valuestring));
    } else {
        snprintf(err, errlen, "invalid %s (not hex)", field);
    }
    return -1;
}

static int check_time(const cJSON *js, const char *field, int64_t *out, char *err, size_t errlen)
{
    int rc = jsonx_member_int64(js, field, out);
    if (rc == 1) {
        *out = 0;
        return 0;
    }
    if (rc == 0 && *out >= 0)
        return 0;
    snprintf(err, errlen, "invalid %s", field);
    return -1;
}

static int check_types(const cJSON *js, char *err, size_t errlen)
{
    static const struct {
        const char *key;
        int type;
        const char *what;
    } want[] = {
        {"name", cJSON_String, "a string"},      {"kind", cJSON_Number, "a number"},
        {"attributes", cJSON_Array, "an array"}, {"events", cJSON_Array, "an array"},
        {"status", cJSON_Object, "an object"},
    };
    const cJSON *st = member(js, "status"), *v;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        v = member(js, want[i].key);
        if (v && !cJSON_IsNull(v) && (v->type & 0xFF) != want[i].type) {
            snprintf(err, errlen, "%s is not %s", want[i].key, want[i].what);
            return -1;
        }
    }
    if ((v = member(st, "code")) && !cJSON_IsNull(v) && !cJSON_IsNumber(v)) {
        snprintf(err, errlen, "status.code is not a number");
        return -1;
    }
    return 0;
}

static int map_envelope(const cJSON *js, struct span *s, char *err, size_t errlen)
{
    if (!cJSON_IsObject(js)) {
        snprintf(err, errlen, "span is not an object");
        return -1;
    }
    if (check_types(js, err, errlen) || genai_id(js, "traceId", 16, 0, s->trace_id, err, errlen) ||
        genai_id(js, "spanId", 8, 0, s->span_id, err, errlen) ||
        genai_id(js, "parentSpanId", 8, 1, s->parent_span_id, err, errlen) ||
        check_time(js, "startTimeUnixNano", &s->start_ns, err, errlen) ||
        check_time(js, "endTimeUnixNano", &s->end_ns, err, errlen))
        return -1;
    if (s->end_ns < s->start_ns) {
        snprintf(err, errlen, "endTimeUnixNano before startTimeUnixNano");
        return -1;
    }
    xstrset(&s->name, str(js, "name") ? str(js, "name") : "");
    return 0;
}

/* ---- canonical fields, each in the priority order of PROTOCOLS.md §0 ---- */

static void map_origin(const cJSON *resource, struct span *s)
{
    char tmp[40];
    const char *v;
    if ((v = val_text(member(resource, "service.name"), tmp, sizeof(tmp))) && *v)
        xstrset(&s->service_name, v);
    if ((v = val_text(member(resource, "service.version"), tmp, sizeof(tmp))) && *v)
        xstrset(&s->service_version, v);
    if ((v = genai_project(resource)))
        xstrset(&s->project, v);
}

static void map_status(cJSON *a, const cJSON *js, const cJSON *events, struct span *s)
{
    static const char *const type_keys[] = {"error.type", NULL};
    static const char *const lf_keys[] = {"langfuse.observation.status_message", NULL};
    const cJSON *st = member(js, "status"), *code = member(st, "code");
    const char *level = str(a, "langfuse.observation.level"), *msg = str(st, "message");
    int lf_error = level && strcmp(level, "ERROR") == 0;
    cJSON *ex;
    if (!(cJSON_IsNumber(code) && code->valuedouble == 2) && !lf_error)
        return;
    s->status = SPAN_STATUS_ERROR;
    if (!take_str(a, type_keys, &s->error_code))
        xstrset(&s->error_code, "ERROR");
    ex = event_attr(events, "exception", "exception.message");
    if (cJSON_IsString(ex) && *ex->valuestring)
        xstrset(&s->error_message, ex->valuestring);
    else if (msg && *msg)
        xstrset(&s->error_message, msg);
    else if (lf_error)
        take_str(a, lf_keys, &s->error_message);
    cJSON_Delete(ex);
}

static const char *const provider_keys[] = {"gen_ai.provider.name", "gen_ai.system",
                                            "llm.provider",         "llm.system",
                                            "ai.model.provider",    NULL};

/* Old gen_ai.system values and SDK spellings to the current OTel names. */
static const char *const provider_alias[][2] = {
    {"az.ai.openai", "azure.ai.openai"},
    {"azure-openai", "azure.ai.openai"},
    {"vertex_ai", "gcp.vertex_ai"},
    {"gemini", "gcp.gemini"},
    {"xai", "x_ai"},
    {"mistralai", "mistral_ai"},
    {"aws", "aws.bedrock"},
    {"amazon-bedrock", "aws.bedrock"},
};

static void map_provider(cJSON *a, struct span *s)
{
    int used = take_str(a, provider_keys, &s->provider);
    if (!used)
        return;
    for (char *p = s->provider; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(provider_keys[used - 1], "ai.model.provider") == 0 && strchr(s->provider, '.'))
        *strchr(s->provider, '.') = '\0'; /* Vercel: "openai.chat" */
    for (size_t i = 0; i < sizeof(provider_alias) / sizeof(provider_alias[0]); i++)
        if (strcmp(s->provider, provider_alias[i][0]) == 0) {
            xstrset(&s->provider, provider_alias[i][1]);
            break;
        }
}

static const char *const model_keys[] = {"gen_ai.request.model",
                                         "llm.model_name",
                                         "llm.request.model_name",
                                         "langfuse.observation.model.name",
                                         "ai.model.id",
                                         "embedding.model_name",
                                         NULL};
static const char *const response_model_keys[] = {
    "gen_ai.response.model", "llm.response.model_name", "ai.response.model", NULL};

static const char *const input_token_keys[] = {
    "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
    "ai.usage.inputTokens",      "ai.usage.promptTokens",      NULL};
static const char *const cache_read_keys[] = {
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read", "ai.usage.cachedInputTokens", NULL};
static const char *const cache_write_keys[] = {"gen_ai.usage.cache_creation.input_tokens",
                                               "gen_ai.usage.cache_creation_input_tokens",
                                               "llm.token_count.prompt_details.cache_write", NULL};
static const char *const output_token_keys[] = {
    "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
    "ai.usage.outputTokens",      "ai.usage.completionTokens",      NULL};
static const char *const reasoning_keys[] = {
    "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning",
    "gen_ai.usage.reasoning_tokens", "ai.usage.reasoningTokens", NULL};

/* Langfuse usage_details keys (its "input" excludes cached tokens). */
static const char *const lf_input[] = {"input", NULL};
static const char *const lf_cache_read[] = {"input_cached_tokens", "cache_read_input_tokens",
                                            "input_cache_read", NULL};
static const char *const lf_cache_write[] = {"cache_creation_input_tokens", "input_cache_creation",
                                             "input_cache_write", NULL};
static const char *const lf_output[] = {"output", NULL};
static const char *const lf_reasoning[] = {"output_reasoning_tokens", "output_reasoning", NULL};

static int64_t first_count(const cJSON *d, const char *const *keys)
{
    int64_t v;
    for (; *keys; keys++)
        if (val_count(member(d, *keys), &v) == 0)
            return v;
    return -1;
}

static int fill(int64_t *slot, int64_t v)
{
    if (*slot >= 0 || v < 0)
        return 0;
    *slot = v;
    return 1;
}

static int64_t pos(int64_t v)
{
    return v > 0 ? v : 0;
}

/* Counts the attributes did not give, from langfuse.observation.usage_details. */
static void usage_langfuse(cJSON *a, struct span_usage *u)
{
    static const char *const key = "langfuse.observation.usage_details";
    cJSON *owned;
    const cJSON *d = genai_as_json(member(a, key), &owned);
    int used = 0;
    if (cJSON_IsObject(d)) {
        int64_t in = first_count(d, lf_input), cr = first_count(d, lf_cache_read);
        int64_t cw = first_count(d, lf_cache_write);
        used |= fill(&u->input_tokens, in >= 0 ? in + pos(cr) + pos(cw) : -1);
        used |= fill(&u->cache_read_tokens, cr);
        used |= fill(&u->cache_write_tokens, cw);
        used |= fill(&u->output_tokens, first_count(d, lf_output));
        used |= fill(&u->reasoning_tokens, first_count(d, lf_reasoning));
    }
    cJSON_Delete(owned);
    if (used)
        consume(a, key);
}

static void map_usage(cJSON *a, struct span_usage *u)
{
    int64_t cached;
    take_count(a, input_token_keys, &u->input_tokens);
    take_count(a, cache_read_keys, &u->cache_read_tokens);
    take_count(a, cache_write_keys, &u->cache_write_tokens);
    take_count(a, output_token_keys, &u->output_tokens);
    take_count(a, reasoning_keys, &u->reasoning_tokens);
    usage_langfuse(a, u);
    /* Safety net for senders that used Anthropic's exclusive convention. */
    cached = pos(u->cache_read_tokens) + pos(u->cache_write_tokens);
    if (u->input_tokens >= 0 && u->input_tokens < cached)
        u->input_tokens += cached;
}

/* langfuse.observation.completion_start_time, maybe double-encoded. */
static int lf_completion_start(cJSON *a, int64_t *t)
{
    static const char *const key = "langfuse.observation.completion_start_time";
    cJSON *owned;
    const cJSON *v = genai_as_json(member(a, key), &owned);
    int ok = cJSON_IsString(v) && time_parse_iso(v->valuestring, t) == 0;
    cJSON_Delete(owned);
    if (ok)
        consume(a, key);
    return ok;
}

/* Time of the earliest first-chunk event (OpenInference, OpenLLMetry). */
static int first_chunk_event(const cJSON *events, int64_t *t)
{
    int found = 0;
    int64_t et;
    for (const cJSON *e = cJSON_IsArray(events) ? events->child : NULL; e; e = e->next) {
        const char *name = str(e, "name");
        if (!name || (strcmp(name, "First Token Stream Event") != 0 &&
                      strcmp(name, "llm.content.completion.chunk") != 0))
            continue;
        if (jsonx_member_int64(e, "timeUnixNano", &et) == 0 && et > 0 && (!found || et < *t)) {
            *t = et;
            found = 1;
        }
    }
    return found;
}

static void map_ttft(cJSON *a, const cJSON *events, struct span *s)
{
    double v = NAN, d;
    int64_t t;
    if (take_double(a, "gen_ai.response.time_to_first_chunk", &d))
        v = d * 1000.0;
    else if (lf_completion_start(a, &t))
        v = s->start_ns > 0 ? (double)(t - s->start_ns) / 1e6 : NAN;
    else if (take_double(a, "ai.response.msToFirstChunk", &d))
        v = d;
    else if (take_double(a, "gen_ai.server.time_to_first_token", &d))
        v = d * 1000.0;
    else if (first_chunk_event(events, &t))
        v = s->start_ns > 0 ? (double)(t - s->start_ns) / 1e6 : NAN;
    if (isfinite(v) && v >= 0)
        s->ttft_ms = round(v * 1000.0) / 1000.0; /* microsecond precision */
}

/* langfuse.observation.cost_details: "total", else the sum of its parts. */
static int lf_cost(cJSON *a, double *usd)
{
    static const char *const key = "langfuse.observation.cost_details";
    cJSON *owned;
    const cJSON *d = genai_as_json(member(a, key), &owned);
    double v, sum = 0;
    int ok = cJSON_IsObject(d) && val_double(member(d, "total"), usd) == 0;
    for (const cJSON *c = !ok && cJSON_IsObject(d) ? d->child : NULL; c; c = c->next)
        if (val_double(c, &v) == 0) {
            sum += v;
            ok = 1;
            *usd = sum;
        }
    cJSON_Delete(owned);
    if (ok)
        consume(a, key);
    return ok && *usd >= 0;
}

static void map_cost(cJSON *a, struct span *s)
{
    static const char *const keys[] = {"gen_ai.usage.cost", "llm.cost.total", NULL};
    double usd;
    for (int i = 0; keys[i]; i++)
        if (val_double(member(a, keys[i]), &usd) == 0 && usd >= 0) {
            consume(a, keys[i]);
            s->has_cost = true;
            s->cost_nusd = span_usd_to_nusd(usd);
            return;
        }
    if (lf_cost(a, &usd)) {
        s->has_cost = true;
        s->cost_nusd = span_usd_to_nusd(usd);
    }
}

/* Finish reasons stay in the attributes; the span gets the first one. */
static void map_finish(const cJSON *a, struct span *s)
{
    static const char *const keys[] = {"gen_ai.completion.0.finish_reason", "llm.finish_reason",
                                       "ai.response.finishReason", NULL};
    cJSON *owned;
    const cJSON *v = genai_as_json(member(a, "gen_ai.response.finish_reasons"), &owned);
    const char *r = NULL;
    if (cJSON_IsArray(v) && cJSON_IsString(v->child))
        r = v->child->valuestring;
    else if (cJSON_IsString(v))
        r = v->valuestring;
    for (int i = 0; keys[i] && (!r || !*r); i++)
        r = str(a, keys[i]);
    if (r && *r)
        xstrset(&s->finish_reason, r);
    cJSON_Delete(owned);
}

static void map_tags(cJSON *a, struct span *s)
{
    static const char *const keys[] = {"tag.tags", "langfuse.trace.tags", NULL};
    char tmp[40];
    for (int i = 0; keys[i] && !s->tags; i++) {
        cJSON *owned, *tags = jarr();
        const cJSON *v = genai_as_json(member(a, keys[i]), &owned);
        const char *t;
        if (cJSON_IsArray(v)) {
            for (const cJSON *c = v->child; c; c = c->next)
                if ((t = val_text(c, tmp, sizeof(tmp))) && *t)
                    jpush(tags, jstr(t));
        } else if ((t = val_text(v, tmp, sizeof(tmp))) && *t) {
            jpush(tags, jstr(t));
        }
        cJSON_Delete(owned);
        if (tags->child) {
            s->tags = jsonx_print(tags);
            consume(a, keys[i]);
        }
        cJSON_Delete(tags);
    }
}

static const char *const session_keys[] = {"gen_ai.conversation.id",
                                           "session.id",
                                           "traceloop.association.properties.session_id",
                                           "traceloop.association.properties.conversation_id",
                                           "traceloop.association.properties.thread_id",
                                           "traceloop.association.properties.chat_id",
                                           "ai.telemetry.metadata.sessionId",
                                           NULL};
static const char *const user_keys[] = {"user.id",
                                        "traceloop.association.properties.user_id",
                                        "enduser.id",
                                        "llm.user",
                                        "ai.telemetry.metadata.userId",
                                        NULL};
static const char *const tenant_keys[] = {"llmtap.tenant", "tenant.id", NULL};
static const char *const tier_keys[] = {"openai.response.service_tier",
                                        "gen_ai.openai.response.service_tier", NULL};
static const char *const vset_keys[] = {"llmtap.version_set", NULL};

static void map_identity(cJSON *a, const cJSON *resource, struct span *s)
{
    char tmp[40], *given = NULL;
    const char *v;
    take_str(a, session_keys, &s->session_id);
    take_str(a, user_keys, &s->user_id);
    if (!take_str(a, tenant_keys, &s->tenant))
        for (int i = 0; tenant_keys[i] && !s->tenant; i++)
            if ((v = val_text(member(resource, tenant_keys[i]), tmp, sizeof(tmp))) && *v)
                xstrset(&s->tenant, v);
    take_str(a, tier_keys, &s->service_tier);
    if (take_str(a, vset_keys, &given)) {
        s->version_set = vset_canonical(given);
        free(given);
    }
    map_tags(a, s);
}

/* A prompt version: an integer, or "v3". */
static int val_version(const cJSON *v, int64_t *out)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (val_count(v, out) == 0)
        return 0;
    if (!s || (*s != 'v' && *s != 'V') || !s[1] || strlen(s) > 19 ||
        strspn(s + 1, "0123456789") != strlen(s + 1))
        return -1;
    *out = strtoll(s + 1, NULL, 10);
    return 0;
}

static void map_prompt(cJSON *a, struct span *s)
{
    static const char *const name_keys[] = {"langfuse.observation.prompt.name",
                                            "traceloop.prompt.key", "gen_ai.prompt.name", NULL};
    static const char *const version_keys[] = {"langfuse.observation.prompt.version",
                                               "traceloop.prompt.version",
                                               "llm.prompt_template.version", NULL};
    static const char *const vars_keys[] = {"traceloop.prompt.template_variables",
                                            "llm.prompt_template.variables", NULL};
    take_str(a, name_keys, &s->prompt_name);
    for (int i = 0; version_keys[i]; i++)
        if (val_version(member(a, version_keys[i]), &s->prompt_version) == 0) {
            consume(a, version_keys[i]);
            break;
        }
    for (int i = 0; vars_keys[i] && !s->prompt_vars; i++) {
        cJSON *owned;
        const cJSON *v = genai_as_json(member(a, vars_keys[i]), &owned);
        if (cJSON_IsObject(v))
            s->prompt_vars = jsonx_print(v);
        cJSON_Delete(owned);
        if (s->prompt_vars)
            consume(a, vars_keys[i]);
    }
}

enum param_type { P_NUM, P_INT, P_BOOL, P_LIST };

struct param_src {
    const char *name; /* key in span.params */
    enum param_type type;
    const char *attrs[4]; /* span attributes, in priority order */
    const char *json[4];  /* keys in llm.invocation_parameters / Langfuse model parameters */
};

static const struct param_src param_srcs[] = {
    {"temperature",
     P_NUM,
     {"gen_ai.request.temperature", "ai.settings.temperature"},
     {"temperature"}},
    {"max_tokens",
     P_INT,
     {"gen_ai.request.max_tokens", "ai.settings.maxOutputTokens", "ai.settings.maxTokens"},
     {"max_tokens", "max_completion_tokens", "max_output_tokens"}},
    {"top_p", P_NUM, {"gen_ai.request.top_p", "ai.settings.topP"}, {"top_p"}},
    {"top_k", P_NUM, {"gen_ai.request.top_k", "llm.top_k", "ai.settings.topK"}, {"top_k"}},
    {"frequency_penalty",
     P_NUM,
     {"gen_ai.request.frequency_penalty", "llm.frequency_penalty", "ai.settings.frequencyPenalty"},
     {"frequency_penalty"}},
    {"presence_penalty",
     P_NUM,
     {"gen_ai.request.presence_penalty", "llm.presence_penalty", "ai.settings.presencePenalty"},
     {"presence_penalty"}},
    {"stop",
     P_LIST,
     {"gen_ai.request.stop_sequences", "llm.chat.stop_sequences", "ai.settings.stopSequences"},
     {"stop", "stop_sequences"}},
    {"seed", P_INT, {"gen_ai.request.seed", "ai.settings.seed"}, {"seed"}},
    {"stream", P_BOOL, {"gen_ai.request.stream", "llm.is_streaming"}, {"stream"}},
};

static cJSON *param_value(const cJSON *v, enum param_type type)
{
    double d;
    int64_t n;
    cJSON *owned, *res = NULL;
    const cJSON *l;
    switch (type) {
    case P_NUM:
        return val_double(v, &d) == 0 ? jcheck(cJSON_CreateNumber(d)) : NULL;
    case P_INT:
        if (jsonx_int64(v, &n) == 0)
            return jcheck(jsonx_int64_node(n));
        if (val_double(v, &d) == 0 && d == floor(d) && fabs(d) < 9e15)
            return jcheck(cJSON_CreateNumber(d));
        return NULL;
    case P_BOOL:
        if (cJSON_IsBool(v))
            return jcheck(cJSON_CreateBool(cJSON_IsTrue(v)));
        if (cJSON_IsString(v) &&
            (!strcmp(v->valuestring, "true") || !strcmp(v->valuestring, "false")))
            return jcheck(cJSON_CreateBool(v->valuestring[0] == 't'));
        return NULL;
    case P_LIST:
        l = genai_as_json(v, &owned);
        if (cJSON_IsArray(l))
            res = jdup(l);
        else if (cJSON_IsString(l) && *l->valuestring)
            jpush(res = jarr(), jstr(l->valuestring));
        cJSON_Delete(owned);
        return res;
    }
    return NULL;
}

/* An array whose elements may each be JSON text (tool definitions). */
static cJSON *json_list(const cJSON *v)
{
    cJSON *owned, *out = NULL;
    const cJSON *l = genai_as_json(v, &owned);
    if (cJSON_IsArray(l) && l->child) {
        out = jarr();
        for (const cJSON *c = l->child; c; c = c->next) {
            cJSON *o2;
            jpush(out, jdup(genai_as_json(c, &o2)));
            cJSON_Delete(o2);
        }
    }
    cJSON_Delete(owned);
    return out;
}

/* Tool definitions of any dialect, for tools_hash; NULL when none. */
static cJSON *tools_json(const cJSON *a, const cJSON *inv)
{
    cJSON *out = json_list(member(a, "gen_ai.tool.definitions")), *items;
    if (!out && (items = idx_collect(a, "llm.request.functions"))) { /* OpenLLMetry */
        for (cJSON *f = items->child; f; f = f->next) {
            cJSON *owned;
            const cJSON *p = genai_as_json(member(f, "parameters"), &owned);
            if (owned)
                cJSON_ReplaceItemInObjectCaseSensitive(f, "parameters", jdup(p));
            cJSON_Delete(owned);
        }
        out = items;
    }
    if (!out && (items = idx_collect(a, "llm.tools"))) { /* OpenInference */
        cJSON *schemas = jarr();
        for (const cJSON *t = items->child; t; t = t->next)
            if (member(t, "tool.json_schema"))
                jpush(schemas, jdup(member(t, "tool.json_schema")));
        out = json_list(schemas);
        cJSON_Delete(schemas);
        cJSON_Delete(items);
    }
    if (!out)
        out = json_list(member(a, "ai.prompt.tools"));
    if (!out)
        out = json_list(member(inv, "tools"));
    return out;
}

static cJSON *param_from(cJSON *a, const cJSON *inv, const cJSON *lf, const struct param_src *ps)
{
    cJSON *v = NULL;
    for (int k = 0; !v && ps->attrs[k]; k++)
        if ((v = param_value(member(a, ps->attrs[k]), ps->type)))
            consume(a, ps->attrs[k]);
    for (int k = 0; !v && ps->json[k]; k++)
        v = param_value(member(inv, ps->json[k]), ps->type);
    for (int k = 0; !v && ps->json[k]; k++)
        v = param_value(member(lf, ps->json[k]), ps->type);
    return v;
}

static void map_params(cJSON *a, struct span *s)
{
    cJSON *inv_owned, *lf_owned, *p = jobj(), *v, *tools;
    const cJSON *inv = genai_as_json(member(a, "llm.invocation_parameters"), &inv_owned);
    const cJSON *lf = genai_as_json(member(a, "langfuse.observation.model.parameters"), &lf_owned);
    char hash[9];
    for (size_t i = 0; i < sizeof(param_srcs) / sizeof(param_srcs[0]); i++)
        if ((v = param_from(a, inv, lf, &param_srcs[i])))
            jadd(p, param_srcs[i].name, v);
    if ((tools = tools_json(a, inv))) {
        char *txt = jsonx_print(tools);
        if (vset_params_hash(txt, hash) == 0)
            jadd(p, "tools_hash", jstr(hash));
        free(txt);
        cJSON_Delete(tools);
    }
    if (p->child)
        s->params = jsonx_print(p);
    cJSON_Delete(p);
    cJSON_Delete(inv_owned);
    cJSON_Delete(lf_owned);
}

struct name_kind {
    const char *name;
    enum span_kind kind;
};

/* Values of gen_ai.operation.name, llm.request.type, openinference.span.kind,
 * langfuse.observation.type and traceloop.span.kind (compared ignoring case). */
static const struct name_kind kind_names[] = {
    {"chat", SPAN_KIND_LLM},
    {"text_completion", SPAN_KIND_LLM},
    {"generate_content", SPAN_KIND_LLM},
    {"completion", SPAN_KIND_LLM},
    {"llm", SPAN_KIND_LLM},
    {"generation", SPAN_KIND_LLM},
    {"embeddings", SPAN_KIND_EMBEDDING},
    {"embedding", SPAN_KIND_EMBEDDING},
    {"execute_tool", SPAN_KIND_TOOL},
    {"tool", SPAN_KIND_TOOL},
    {"retrieval", SPAN_KIND_RETRIEVAL},
    {"retriever", SPAN_KIND_RETRIEVAL},
    {"reranker", SPAN_KIND_RETRIEVAL},
    {"rerank", SPAN_KIND_RETRIEVAL},
    {"create_agent", SPAN_KIND_AGENT},
    {"invoke_agent", SPAN_KIND_AGENT},
    {"agent", SPAN_KIND_AGENT},
    {"invoke_workflow", SPAN_KIND_CHAIN},
    {"chain", SPAN_KIND_CHAIN},
    {"workflow", SPAN_KIND_CHAIN},
    {"task", SPAN_KIND_CHAIN},
    {"guardrail", SPAN_KIND_GUARDRAIL},
    {"evaluator", SPAN_KIND_EVALUATOR},
    {NULL, SPAN_KIND_OTHER},
};

/* Vercel AI SDK operation ids (ai.operationId, or the span name). */
static const struct name_kind vercel_kinds[] = {
    {"ai.generateText.doGenerate", SPAN_KIND_LLM},
    {"ai.streamText.doStream", SPAN_KIND_LLM},
    {"ai.generateObject.doGenerate", SPAN_KIND_LLM},
    {"ai.streamObject.doStream", SPAN_KIND_LLM},
    {"ai.toolCall", SPAN_KIND_TOOL},
    {"ai.generateText", SPAN_KIND_CHAIN},
    {"ai.streamText", SPAN_KIND_CHAIN},
    {"ai.generateObject", SPAN_KIND_CHAIN},
    {"ai.streamObject", SPAN_KIND_CHAIN},
    {NULL, SPAN_KIND_OTHER},
};

static int kind_lookup(const struct name_kind *t, const char *v)
{
    for (; v && t->name; t++)
        if (strcasecmp(t->name, v) == 0)
            return (int)t->kind;
    return -1;
}

static enum span_kind map_kind(const cJSON *a, const struct span *s)
{
    static const char *const keys[] = {"gen_ai.operation.name",   "llm.request.type",
                                       "openinference.span.kind", "langfuse.observation.type",
                                       "traceloop.span.kind",     NULL};
    const char *op = str(a, "ai.operationId");
    int k;
    for (int i = 0; keys[i]; i++)
        if ((k = kind_lookup(kind_names, str(a, keys[i]))) >= 0)
            return (enum span_kind)k;
    if (!op)
        op = s->name;
    if ((k = kind_lookup(vercel_kinds, op)) >= 0)
        return (enum span_kind)k;
    if (op && strncmp(op, "ai.embed", 8) == 0)
        return SPAN_KIND_EMBEDDING;
    if (s->model && (s->usage.input_tokens >= 0 || s->usage.output_tokens >= 0))
        return SPAN_KIND_LLM;
    return SPAN_KIND_OTHER;
}

/* ---- span.attributes: what is left, the scope, the resource; capped ---- */

struct weight {
    cJSON *item;
    size_t size;
};

static int by_size_desc(const void *x, const void *y)
{
    const struct weight *a = x, *b = y;
    return a->size < b->size ? 1 : a->size > b->size ? -1 : 0;
}

static size_t printed_len(const cJSON *j)
{
    char *t = jsonx_print(j);
    size_t n = strlen(t);
    free(t);
    return n;
}

/* Drop the largest members until 'a' prints within 'max'; 1 when it did. */
static int attrs_cap(cJSON *a, size_t max)
{
    size_t len = printed_len(a), n = 0, i = 0;
    struct weight *w;
    if (len <= max)
        return 0;
    for (const cJSON *c = a->child; c; c = c->next)
        n++;
    w = xcalloc(n, sizeof(*w));
    for (cJSON *c = a->child; c; c = c->next, i++) {
        cJSON *key = jstr(c->string);
        w[i] = (struct weight){c, printed_len(key) + printed_len(c) + 2}; /* ':' and ',' */
        cJSON_Delete(key);
    }
    qsort(w, n, sizeof(*w), by_size_desc);
    for (i = 0; i < n && len > max - 32; i++) { /* 32: room for the flag */
        len -= w[i].size < len ? w[i].size : len;
        cJSON_Delete(cJSON_DetachItemViaPointer(a, w[i].item));
    }
    free(w);
    jadd(a, "llmtap.truncated", cJSON_CreateTrue());
    return 1;
}

static void add_prefixed(cJSON *a, const struct keyset *own, const char *prefix, const cJSON *attrs,
                         int skip_service)
{
    for (const cJSON *c = cJSON_IsObject(attrs) ? attrs->child : NULL; c; c = c->next) {
        char *key;
        if (skip_service &&
            (strcmp(c->string, "service.name") == 0 || strcmp(c->string, "service.version") == 0))
            continue;
        key = xasprintf("%s%s", prefix, c->string);
        if (!keyset_get(own, key))
            jadd(a, key, jdup(c));
        free(key);
    }
}

/* Keys the span has win over scope and resource keys of the same name. */
static int map_attributes(cJSON *a, const struct genai_origin *o, struct span *s)
{
    struct keyset own;
    size_t n = 0, i = 0;
    int truncated;
    for (const cJSON *c = a->child; c; c = c->next)
        n++;
    keyset_init(&own, n);
    for (const cJSON *c = a->child; c; c = c->next, i++)
        keyset_put(&own, c->string, i);
    if (o && o->scope_name && *o->scope_name && !keyset_get(&own, "otel.scope.name"))
        jadd(a, "otel.scope.name", jstr(o->scope_name));
    if (o && o->scope_version && *o->scope_version && !keyset_get(&own, "otel.scope.version"))
        jadd(a, "otel.scope.version", jstr(o->scope_version));
    add_prefixed(a, &own, "scope.", o ? o->scope_attrs : NULL, 0);
    add_prefixed(a, &own, "resource.", o ? o->resource : NULL, 1);
    keyset_release(&own);
    truncated = attrs_cap(a, GENAI_ATTRS_MAX);
    s->attributes = jsonx_print(a);
    return truncated;
}

int genai_map_span(const struct genai_origin *origin, const cJSON *span_json, struct span *out,
                   char *err, size_t errlen)
{
    const cJSON *resource = origin ? origin->resource : NULL, *events;
    cJSON *a;
    int truncated;
    if (errlen)
        err[0] = '\0';
    if (map_envelope(span_json, out, err, errlen) != 0)
        return GENAI_INVALID;
    a = genai_attrs_flatten(member(span_json, "attributes"));
    events = member(span_json, "events");
    map_origin(resource, out);
    map_status(a, span_json, events, out);
    map_provider(a, out);
    take_str(a, model_keys, &out->model);
    take_str(a, response_model_keys, &out->response_model);
    map_usage(a, &out->usage);
    map_ttft(a, events, out);
    map_cost(a, out);
    map_finish(a, out);
    map_identity(a, resource, out);
    map_prompt(a, out);
    map_params(a, out);
    map_content(a, events, out);
    out->kind = map_kind(a, out);
    truncated = map_attributes(a, origin, out);
    cJSON_Delete(a);
    if (!truncated)
        return GENAI_OK;
    snprintf(err, errlen, "attributes over %d KiB truncated", GENAI_ATTRS_MAX / 1024);
    return GENAI_TRUNCATED;
}
