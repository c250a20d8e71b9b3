/*
 * llmcall: the request side (see llmcall.h): which API a call is, what its
 * body asks for (model, messages, parameters, streaming, a prompt size
 * estimate), and the include_usage edit, done on the text so every other
 * byte reaches the provider as the client wrote it.
 *
 * The text edit relies on a small scanner over JSON text that finds the
 * span of a member's value: strings (with escapes) are skipped whole and
 * nesting is counted, not recursed into, so it allocates nothing and has no
 * depth the input controls. It only runs on a body cJSON already accepted.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/llmcall_int.h"
#include "core/jsonx.h"
#include "core/xmem.h"

#define SCAN_FAIL SIZE_MAX
#define WALK_DEPTH 32 /* nesting the prompt size estimate looks into */
#define LLM_MAX_N 128 /* the most choices OpenAI accepts */

/* Does 'path' ('n' bytes) end with 'suffix' ("/x/y") at a segment start? */
static int ends_with(const char *path, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    if (n >= k && memcmp(path + n - k, suffix, k) == 0)
        return 1;
    return n == k - 1 && memcmp(path, suffix + 1, k - 1) == 0; /* no leading '/' */
}

enum llm_api llm_api_for(int anthropic, const char *method, const char *path)
{
    if (!method || !path || strcmp(method, "POST") != 0)
        return LLM_API_OTHER;
    size_t n = strcspn(path, "?#");
    if (n > 1 && path[n - 1] == '/')
        n--;
    if (anthropic)
        return ends_with(path, n, "/messages") ? LLM_API_ANTHROPIC_MESSAGES : LLM_API_OTHER;
    if (ends_with(path, n, "/chat/completions"))
        return LLM_API_CHAT;
    if (ends_with(path, n, "/responses"))
        return LLM_API_RESPONSES;
    if (ends_with(path, n, "/embeddings"))
        return LLM_API_EMBEDDINGS;
    return LLM_API_OTHER;
}

/* ---- the prompt size estimate ------------------------------------------ */

/* Members whose values are not prompt text (ids, markup, binary data). */
static int skipped_key(const char *k)
{
    static const char *const keys[] = {"type",        "role",      "id",        "tool_call_id",
                                       "tool_use_id", "call_id",   "status",    "cache_control",
                                       "signature",   "image_url", "source",    "input_audio",
                                       "file",        "data",      "url",       "detail",
                                       "file_id",     "mime_type", "file_data", "audio"};
    for (size_t i = 0; k && i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

/* Bytes of text in 'v': strings, numbers as a few bytes; nesting past
 * WALK_DEPTH is not looked into. */
static size_t text_bytes(const cJSON *v, int depth)
{
    size_t n = 0;
    if (cJSON_IsString(v))
        return strlen(v->valuestring);
    if (cJSON_IsNumber(v) || cJSON_IsBool(v))
        return 2;
    if (depth >= WALK_DEPTH || !(cJSON_IsArray(v) || cJSON_IsObject(v)))
        return 0;
    for (const cJSON *c = v->child; c; c = c->next)
        if (!cJSON_IsObject(v) || !skipped_key(c->string))
            n += text_bytes(c, depth + 1);
    return n;
}

static int64_t estimate(size_t bytes, int64_t messages)
{
    return (int64_t)((bytes + 2) / 3) + 4 * messages;
}

/* Printed size of the tool definitions (they are part of the prompt). */
static size_t tools_bytes(const cJSON *root)
{
    const cJSON *tools = llm_member(root, "tools");
    if (!cJSON_IsArray(tools) || !tools->child)
        return 0;
    char *t = jsonx_print(tools);
    size_t n = t ? strlen(t) : 0;
    free(t);
    return n;
}

/* ---- input messages ---------------------------------------------------- */

static void put_item(struct buf *b, const cJSON *item)
{
    llm_puts(b, b->len > 1 ? "," : "");
    llm_put_json(b, item);
}

static void put_system(struct buf *b, const cJSON *content)
{
    llm_puts(b, b->len > 1 ? "," : "");
    llm_puts(b, "{\"role\":\"system\",\"content\":");
    llm_put_json(b, content);
    llm_puts(b, "}");
}

/* The request's prompt as the span's input, and its size. */
struct prompt {
    struct buf json;  /* "[...]" */
    size_t bytes;     /* text bytes */
    int64_t messages; /* messages counted */
    int tool_rounds;
};

static void prompt_message(struct prompt *p, const cJSON *m)
{
    put_item(&p->json, m);
    p->bytes += text_bytes(m, 0);
    p->messages++;
}

static int chat_called_tools(const cJSON *m)
{
    const cJSON *tc = llm_member(m, "tool_calls");
    const char *role = llm_str(m, "role");
    return role && !strcmp(role, "assistant") &&
           ((cJSON_IsArray(tc) && tc->child) || cJSON_IsObject(llm_member(m, "function_call")));
}

static int anthropic_called_tools(const cJSON *m)
{
    const char *role = llm_str(m, "role");
    const cJSON *b;
    if (!role || strcmp(role, "assistant") != 0)
        return 0;
    cJSON_ArrayForEach(b, llm_array(llm_member(m, "content")))
    {
        const char *t = llm_str(b, "type");
        if (t && !strcmp(t, "tool_use"))
            return 1;
    }
    return 0;
}

static void prompt_chat(struct prompt *p, const cJSON *root, int anthropic)
{
    const cJSON *sys = llm_member(root, "system"), *m;
    if (anthropic && sys && !cJSON_IsNull(sys)) {
        put_system(&p->json, sys);
        p->bytes += text_bytes(sys, 0);
        p->messages++;
    }
    cJSON_ArrayForEach(m, llm_array(llm_member(root, "messages")))
    {
        prompt_message(p, m);
        p->tool_rounds += anthropic ? anthropic_called_tools(m) : chat_called_tools(m);
    }
}

static int is_call_item(const cJSON *it)
{
    const char *t = llm_str(it, "type");
    return t && (!strcmp(t, "function_call") || !strcmp(t, "custom_tool_call"));
}

static void prompt_responses(struct prompt *p, const cJSON *root)
{
    const cJSON *ins = llm_member(root, "instructions"), *in = llm_member(root, "input"), *it;
    int in_call = 0;
    if (cJSON_IsString(ins) && ins->valuestring[0]) {
        put_system(&p->json, ins);
        p->bytes += strlen(ins->valuestring);
        p->messages++;
    }
    if (cJSON_IsString(in)) {
        llm_puts(&p->json, p->json.len > 1 ? "," : "");
        llm_puts(&p->json, "{\"role\":\"user\",\"content\":");
        llm_put_json(&p->json, in);
        llm_puts(&p->json, "}");
        p->bytes += strlen(in->valuestring);
        p->messages++;
        return;
    }
    cJSON_ArrayForEach(it, llm_array(in))
    {
        prompt_message(p, it);
        int call = is_call_item(it);
        p->tool_rounds += call && !in_call; /* consecutive calls are one turn */
        in_call = call;
    }
}

/* Embeddings: the input verbatim; token arrays count one token an entry. */
static void prompt_embeddings(struct prompt *p, const cJSON *root, int64_t *tokens)
{
    const cJSON *in = llm_member(root, "input"), *c;
    int64_t ints = 0;
    buf_reset(&p->json);
    if (!in)
        return;
    llm_put_json(&p->json, in);
    cJSON_ArrayForEach(c, llm_array(in))
    {
        const cJSON *t;
        if (cJSON_IsNumber(c))
            ints++;
        else if (cJSON_IsString(c))
            p->bytes += strlen(c->valuestring);
        cJSON_ArrayForEach(t, llm_array(c)) ints++;
    }
    if (cJSON_IsString(in))
        p->bytes = strlen(in->valuestring);
    *tokens = (int64_t)((p->bytes + 2) / 3) + ints;
}

/* ---- parameters -------------------------------------------------------- */

static void param(struct buf *b, const char *key, const cJSON *v)
{
    llm_puts(b, b->len > 1 ? ",\"" : "\"");
    llm_puts(b, key);
    llm_puts(b, "\":");
    llm_put_json(b, v);
}

static void param_num(struct buf *b, const char *key, const cJSON *v)
{
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
        param(b, key, v);
}

static void param_str(struct buf *b, const char *key, const char *v)
{
    if (!v)
        return;
    llm_puts(b, b->len > 1 ? ",\"" : "\"");
    llm_puts(b, key);
    llm_puts(b, "\":");
    llm_put_json_str(b, v, strlen(v));
}

static void param_int(struct buf *b, const char *key, int64_t v)
{
    char t[128];
    if (v < 0)
        return;
    snprintf(t, sizeof(t), "%s\"%s\":%lld", b->len > 1 ? "," : "", key, (long long)v);
    llm_puts(b, t);
}

/* The tool names: a function's name, a named tool's name, else its type. */
static void param_tools(struct buf *b, const cJSON *tools)
{
    const cJSON *t;
    int first = 1;
    if (!cJSON_IsArray(tools) || !tools->child)
        return;
    llm_puts(b, b->len > 1 ? ",\"tools\":[" : "\"tools\":[");
    cJSON_ArrayForEach(t, llm_array(tools))
    {
        const char *name = llm_str(t, "name");
        if (!name)
            name = llm_str(llm_member(t, "function"), "name");
        if (!name)
            name = llm_str(t, "type");
        if (!name)
            continue;
        llm_puts(b, first ? "" : ",");
        llm_put_json_str(b, name, strlen(name));
        first = 0;
    }
    llm_puts(b, "]");
}

static void params_of(enum llm_api api, const cJSON *root, int64_t max_tokens, struct buf *b)
{
    const cJSON *stop = llm_member(root, "stop"), *tc = llm_member(root, "tool_choice");
    llm_puts(b, "{");
    param_num(b, "temperature", llm_member(root, "temperature"));
    param_num(b, "top_p", llm_member(root, "top_p"));
    param_num(b, "top_k", llm_member(root, "top_k"));
    param_int(b, "max_tokens", max_tokens);
    param_num(b, "n", llm_member(root, "n"));
    param_num(b, "seed", llm_member(root, "seed"));
    if (!stop)
        stop = llm_member(root, "stop_sequences");
    if (cJSON_IsString(stop) || cJSON_IsArray(stop))
        param(b, "stop", stop);
    if (cJSON_IsString(tc) || cJSON_IsObject(tc))
        param(b, "tool_choice", tc);
    const cJSON *rf = llm_member(root, "response_format");
    if (api == LLM_API_RESPONSES)
        rf = llm_member(llm_member(root, "text"), "format");
    param_str(b, "response_format", llm_str(rf, "type"));
    const char *effort = llm_str(root, "reasoning_effort");
    if (!effort)
        effort = llm_str(llm_member(root, "reasoning"), "effort");
    if (!effort)
        effort = llm_str(llm_member(root, "output_config"), "effort");
    param_str(b, "reasoning_effort", effort);
    param_int(b, "thinking_budget",
              llm_count(llm_member(llm_member(root, "thinking"), "budget_tokens")));
    param_str(b, "service_tier", llm_str(root, "service_tier"));
    if (api == LLM_API_EMBEDDINGS) {
        param_num(b, "dimensions", llm_member(root, "dimensions"));
        param_str(b, "encoding_format", llm_str(root, "encoding_format"));
    }
    if (cJSON_IsBool(llm_member(root, "stream")))
        param(b, "stream", llm_member(root, "stream"));
    param_tools(b, llm_member(root, "tools"));
    llm_puts(b, "}");
}

/* ---- llm_request_parse ------------------------------------------------- */

static void request_defaults(enum llm_api api, size_t len, struct llm_request *req)
{
    req->api = api;
    req->stream = 0;
    req->include_usage = 0;
    req->max_tokens = -1;
    req->input_tokens = estimate(len, 0);
    req->tool_rounds = 0;
    req->n = 1;
}

static int64_t max_tokens_of(enum llm_api api, const cJSON *root)
{
    int64_t v = -1;
    if (api == LLM_API_CHAT)
        v = llm_count(llm_member(root, "max_completion_tokens"));
    if (api == LLM_API_RESPONSES)
        v = llm_count(llm_member(root, "max_output_tokens"));
    if (v < 0 && api != LLM_API_RESPONSES)
        v = llm_count(llm_member(root, "max_tokens"));
    return v;
}

static const char *const api_names[] = {NULL, "chat", "responses", "embeddings", "messages"};

static void span_of_request(enum llm_api api, const cJSON *root, struct prompt *p,
                            int64_t max_tokens, struct span *s)
{
    const char *model = llm_str(root, "model");
    struct buf params;
    buf_init(&params, 0);
    s->kind = api == LLM_API_EMBEDDINGS ? SPAN_KIND_EMBEDDING
              : api == LLM_API_OTHER    ? SPAN_KIND_OTHER
                                        : SPAN_KIND_LLM;
    if (model)
        xstrset(&s->model, model);
    if (api == LLM_API_OTHER)
        return;
    free(s->name);
    s->name = model ? xasprintf("%s %s", api_names[api], model) : xstrdup(api_names[api]);
    if (api == LLM_API_EMBEDDINGS ? p->json.len > 0 : p->json.len > 2) {
        free(s->input);
        s->input = buf_take(&p->json, NULL);
    }
    params_of(api, root, max_tokens, &params);
    free(s->params);
    s->params = buf_take(&params, NULL);
}

int llm_request_parse(enum llm_api api, const char *body, size_t len, struct llm_request *req,
                      struct span *s)
{
    request_defaults(api, len, req);
    cJSON *root = llm_parse(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -1;
    }
    struct prompt p = {.bytes = 0, .messages = 0, .tool_rounds = 0};
    buf_init(&p.json, 0);
    llm_puts(&p.json, "[");
    req->stream = llm_true(root, "stream");
    req->max_tokens = max_tokens_of(api, root);
    if (api == LLM_API_CHAT || api == LLM_API_ANTHROPIC_MESSAGES)
        prompt_chat(&p, root, api == LLM_API_ANTHROPIC_MESSAGES);
    else if (api == LLM_API_RESPONSES)
        prompt_responses(&p, root);
    llm_puts(&p.json, "]");
    p.bytes += tools_bytes(root);
    req->input_tokens = estimate(p.bytes, p.messages);
    if (api == LLM_API_EMBEDDINGS)
        prompt_embeddings(&p, root, &req->input_tokens);
    req->tool_rounds = p.tool_rounds;
    if (api == LLM_API_CHAT) {
        int64_t n = llm_count(llm_member(root, "n"));
        req->n = n < 1 ? 1 : n > LLM_MAX_N ? LLM_MAX_N : (int)n;
        req->include_usage = llm_true(llm_member(root, "stream_options"), "include_usage");
    }
    span_of_request(api, root, &p, req->max_tokens, s);
    buf_release(&p.json);
    cJSON_Delete(root);
    return 0;
}

/* ---- the JSON text scanner and the include_usage edit ----------------- */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* 's[i]' is '"': the index just after the closing quote, or SCAN_FAIL. */
static size_t scan_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return SCAN_FAIL;
}

/* The index just after the value starting at 's[i]', or SCAN_FAIL. Nesting
 * is counted, never recursed into. */
static size_t scan_value(const char *s, size_t n, size_t i)
{
    size_t depth = 0;
    if (i >= n)
        return SCAN_FAIL;
    if (s[i] == '"')
        return scan_string(s, n, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && !strchr(",}] \t\r\n", s[i]))
            i++;
        return i;
    }
    for (; i < n; i++) {
        if (s[i] == '"') {
            i = scan_string(s, n, i);
            if (i == SCAN_FAIL)
                return SCAN_FAIL;
            i--;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return SCAN_FAIL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Is the string literal s[a..b) (quotes excluded) equal to ASCII 'key'?
 * Escapes are decoded, so "stream\u005foptions" is "stream_options". */
static int key_eq(const char *s, size_t a, size_t b, const char *key)
{
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    size_t k = 0;
    while (a < b) {
        int c = (unsigned char)s[a++];
        if (c == '\\' && a < b) {
            char e = s[a++];
            const char *m = strchr(simple, e);
            if (e == 'u' && b - a >= 4) {
                int h[4] = {hexval(s[a]), hexval(s[a + 1]), hexval(s[a + 2]), hexval(s[a + 3])};
                if (h[0] < 0 || h[1] < 0 || h[2] < 0 || h[3] < 0)
                    return 0;
                c = h[0] << 12 | h[1] << 8 | h[2] << 4 | h[3];
                a += 4;
            } else if (m && e && ((m - simple) % 2 == 0)) {
                c = (unsigned char)m[1];
            } else {
                return 0;
            }
        }
        if (key[k] == '\0' || c != (unsigned char)key[k])
            return 0;
        k++;
    }
    return key[k] == '\0';
}

/* Where a member is in the object text starting at 's[obj]' ('{'). */
struct member_at {
    size_t kstart;       /* the last member named key: where its name starts */
    size_t prev_end;     /* ... the end of the member before it (obj + 1 when first) */
    size_t next_start;   /* ... where the member after it starts (0 when last) */
    size_t vstart, vend; /* ... its value */
    size_t last_end;     /* just after the last member's value (obj + 1 when none) */
    int members;
};

/* Returns 1 when 'key' is a member, 0 when not, -1 when the text is not an
 * object. */
static int find_member(const char *s, size_t n, size_t obj, const char *key, struct member_at *m)
{
    size_t i = skip_ws(s, n, obj + 1);
    int found = 0;
    m->members = 0;
    m->last_end = obj + 1;
    if (i < n && s[i] == '}')
        return 0;
    size_t prev = obj + 1;
    while (i < n && s[i] == '"') {
        if (found == 1 && m->next_start == 0)
            m->next_start = i;
        size_t ks = i, kend = scan_string(s, n, i);
        if (kend == SCAN_FAIL)
            return -1;
        int match = key_eq(s, i + 1, kend - 1, key);
        i = skip_ws(s, n, kend);
        if (i >= n || s[i] != ':')
            return -1;
        size_t vs = skip_ws(s, n, i + 1), ve = scan_value(s, n, vs);
        if (ve == SCAN_FAIL || ve == vs)
            return -1;
        if (match) {
            m->kstart = ks;
            m->prev_end = prev;
            m->next_start = 0;
            m->vstart = vs;
            m->vend = ve;
            found = 1;
        }
        m->members++;
        m->last_end = ve;
        prev = ve;
        i = skip_ws(s, n, ve);
        if (i < n && s[i] == '}')
            return found;
        if (i >= n || s[i] != ',')
            return -1;
        i = skip_ws(s, n, i + 1);
    }
    return -1;
}

/* 'body' with s[at..at+cut) replaced by 'ins'. */
static char *splice(const char *body, size_t len, size_t at, size_t cut, const char *ins,
                    size_t *outlen)
{
    size_t k = strlen(ins);
    char *out = xmalloc(len - cut + k + 1);
    memcpy(out, body, at);
    memcpy(out + at, ins, k);
    memcpy(out + at + k, body + at + cut, len - at - cut);
    *outlen = len - cut + k;
    out[*outlen] = '\0';
    return out;
}

char *llm_inject_include_usage(const char *body, size_t len, size_t *outlen)
{
    cJSON *root = llm_parse(body, len);
    int ok = cJSON_IsObject(root);
    struct member_at so, iu;
    cJSON_Delete(root);
    *outlen = 0;
    if (!ok)
        return NULL;
    size_t obj = skip_ws(body, len, 0);
    int r = obj < len && body[obj] == '{' ? find_member(body, len, obj, "stream_options", &so) : -1;
    if (r < 0)
        return NULL;
    if (r == 0)
        return splice(body, len, so.last_end, 0,
                      so.members ? ",\"stream_options\":{\"include_usage\":true}"
                                 : "\"stream_options\":{\"include_usage\":true}",
                      outlen);
    if (body[so.vstart] != '{') /* null or anything else: replaced */
        return splice(body, len, so.vstart, so.vend - so.vstart, "{\"include_usage\":true}",
                      outlen);
    r = find_member(body, len, so.vstart, "include_usage", &iu);
    if (r < 0)
        return NULL;
    if (r == 1)
        return splice(body, len, iu.vstart, iu.vend - iu.vstart, "true", outlen);
    return splice(body, len, so.vstart + 1, 0,
                  iu.members ? "\"include_usage\":true," : "\"include_usage\":true", outlen);
}

char *llm_strip_null_usage(const char *raw, size_t len, size_t *outlen)
{
    const char *brace = memchr(raw, '{', len);
    struct member_at u;
    *outlen = 0;
    if (!brace || find_member(raw, len, (size_t)(brace - raw), "usage", &u) != 1 ||
        u.vend - u.vstart != 4 || memcmp(raw + u.vstart, "null", 4) != 0)
        return NULL;
    size_t obj = (size_t)(brace - raw);
    if (u.prev_end > obj + 1) /* not the first member: cut ',"usage":null' */
        return splice(raw, len, u.prev_end, u.vend - u.prev_end, "", outlen);
    size_t to = u.next_start ? u.next_start : u.vend; /* the first: cut up to the next one */
    return splice(raw, len, u.kstart, to - u.kstart, "", outlen);
}
