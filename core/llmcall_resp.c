/*
 * llmcall_resp: whole (non-streamed) answers onto the span, and the helpers
 * the request and stream parts share (llmcall_int.h): JSON access that
 * trusts nothing, usage normalisation, the assistant message writer, error
 * bodies.
 *
 * Invariants: a count is believed only when it is a non-negative integer
 * below 2^53 (else -1, absent); every string written into the span is
 * owned (xstrset); nothing here recurses into the input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/llmcall_int.h"
#include "core/jsonx.h"
#include "core/xmem.h"

#define EXCERPT_MAX 256 /* bytes of a non-JSON error body kept as the message */

cJSON *llm_parse(const char *text, size_t len)
{
    char err[128];
    if (!text || len == 0)
        return NULL;
    return jsonx_parse(text, len, err, sizeof(err));
}

const cJSON *llm_member(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL;
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0)
            found = c;
    return found;
}

const char *llm_str(const cJSON *obj, const char *key)
{
    const cJSON *v = llm_member(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *llm_array(const cJSON *v)
{
    return cJSON_IsArray(v) ? v : NULL;
}

int llm_true(const cJSON *obj, const char *key)
{
    return cJSON_IsTrue(llm_member(obj, key));
}

int64_t llm_count(const cJSON *item)
{
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!(d >= 0.0) || !(d < LLM_MAX_TOKENS)) /* also NaN */
            return -1;
        return (int64_t)d;
    }
    if (!cJSON_IsString(item) || !item->valuestring[0])
        return -1;
    int64_t v = 0;
    for (const char *p = item->valuestring; *p; p++) {
        if (*p < '0' || *p > '9' || v > (int64_t)(LLM_MAX_TOKENS / 10))
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v < (int64_t)LLM_MAX_TOKENS ? v : -1;
}

void llm_put(struct buf *b, const char *s, size_t n)
{
    if (buf_append(b, s, n) != BUF_OK)
        abort(); /* unreachable: these bufs have no ceiling */
}

void llm_puts(struct buf *b, const char *s)
{
    llm_put(b, s, strlen(s));
}

void llm_put_json_str(struct buf *b, const char *s, size_t n)
{
    if (buf_json_strn(b, s, n) != BUF_OK)
        abort(); /* unreachable: no ceiling */
}

void llm_put_json(struct buf *b, const cJSON *item)
{
    char *t = item ? cJSON_PrintUnformatted(item) : NULL;
    if (item && !t)
        abort(); /* cJSON out of memory: the daemon's policy is to stop */
    llm_puts(b, t ? t : "null");
    free(t);
}

/* The first of two members that holds a count. */
static int64_t count2(const cJSON *o, const char *a, const char *b)
{
    int64_t v = llm_count(llm_member(o, a));
    return v >= 0 ? v : llm_count(llm_member(o, b));
}

static const cJSON *member2(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = llm_member(o, a);
    return cJSON_IsObject(v) ? v : llm_member(o, b);
}

static void usage_absent(struct span_usage *u)
{
    u->input_tokens = u->output_tokens = -1;
    u->cache_read_tokens = u->cache_write_tokens = u->cache_write_1h_tokens = -1;
    u->reasoning_tokens = -1;
}

void llm_usage_openai(const cJSON *u, struct span_usage *out)
{
    usage_absent(out);
    if (!cJSON_IsObject(u))
        return;
    const cJSON *in = member2(u, "prompt_tokens_details", "input_tokens_details");
    const cJSON *od = member2(u, "completion_tokens_details", "output_tokens_details");
    out->input_tokens = count2(u, "prompt_tokens", "input_tokens");
    out->output_tokens = count2(u, "completion_tokens", "output_tokens");
    out->cache_read_tokens = llm_count(llm_member(in, "cached_tokens"));
    if (out->cache_read_tokens < 0) /* DeepSeek's name on compatible servers */
        out->cache_read_tokens = llm_count(llm_member(u, "prompt_cache_hit_tokens"));
    out->cache_write_tokens = llm_count(llm_member(in, "cache_write_tokens"));
    out->reasoning_tokens = llm_count(llm_member(od, "reasoning_tokens"));
}

void llm_anth_usage_init(struct llm_anth_usage *a)
{
    a->input = a->cache_read = a->cache_create = a->c5m = a->c1h = a->output = a->thinking = -1;
}

static void take(int64_t *slot, const cJSON *o, const char *key)
{
    int64_t v = llm_count(llm_member(o, key));
    if (v >= 0)
        *slot = v;
}

void llm_anth_usage_merge(struct llm_anth_usage *a, const cJSON *u)
{
    if (!cJSON_IsObject(u))
        return;
    take(&a->input, u, "input_tokens");
    take(&a->cache_read, u, "cache_read_input_tokens");
    take(&a->cache_create, u, "cache_creation_input_tokens");
    take(&a->output, u, "output_tokens");
    const cJSON *cc = llm_member(u, "cache_creation");
    take(&a->c5m, cc, "ephemeral_5m_input_tokens");
    take(&a->c1h, cc, "ephemeral_1h_input_tokens");
    take(&a->thinking, llm_member(u, "output_tokens_details"), "thinking_tokens");
}

static int64_t nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

void llm_anth_usage_norm(const struct llm_anth_usage *a, struct span_usage *out)
{
    int64_t split = a->c5m >= 0 || a->c1h >= 0 ? nonneg(a->c5m) + nonneg(a->c1h) : -1;
    int64_t write = a->cache_create >= 0 ? a->cache_create : split;
    int any_in = a->input >= 0 || a->cache_read >= 0 || write >= 0;
    out->input_tokens = any_in ? nonneg(a->input) + nonneg(a->cache_read) + nonneg(write) : -1;
    out->output_tokens = a->output;
    out->cache_read_tokens = a->cache_read;
    out->cache_write_tokens = write;
    if (write < 0)
        out->cache_write_1h_tokens = -1;
    else if (a->c1h >= 0) /* the 1h part; without the split all writes are 5m */
        out->cache_write_1h_tokens = a->c1h < write ? a->c1h : write;
    else
        out->cache_write_1h_tokens = 0;
    out->reasoning_tokens = a->thinking;
}

void llm_put_message(struct buf *b, const char *text, const char *calls, size_t calls_len,
                     const char *refusal, const char *reasoning)
{
    llm_puts(b, "{\"role\":\"assistant\",\"content\":");
    if (text && *text)
        llm_put_json_str(b, text, strlen(text));
    else
        llm_puts(b, calls_len || (refusal && *refusal) ? "null" : "\"\"");
    if (calls_len) {
        llm_puts(b, ",\"tool_calls\":[");
        llm_put(b, calls, calls_len);
        llm_puts(b, "]");
    }
    if (refusal && *refusal) {
        llm_puts(b, ",\"refusal\":");
        llm_put_json_str(b, refusal, strlen(refusal));
    }
    if (reasoning && *reasoning) {
        llm_puts(b, ",\"reasoning\":");
        llm_put_json_str(b, reasoning, strlen(reasoning));
    }
    llm_puts(b, "}");
}

static void put_str_or_null(struct buf *b, const char *s)
{
    if (s)
        llm_put_json_str(b, s, strlen(s));
    else
        llm_puts(b, "null");
}

void llm_put_tool_call(struct buf *b, const char *id, const char *name, const char *args,
                       size_t args_len)
{
    if (b->len)
        llm_puts(b, ",");
    llm_puts(b, "{\"id\":");
    put_str_or_null(b, id);
    llm_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
    put_str_or_null(b, name);
    llm_puts(b, ",\"arguments\":");
    llm_put_json_str(b, args ? args : "", args ? args_len : 0);
    llm_puts(b, "}}");
}

/* A tool call whose arguments are a JSON string or any other JSON value
 * (some servers send the object itself). */
static void put_tool_call_value(struct buf *b, const char *id, const char *name, const cJSON *args)
{
    if (cJSON_IsString(args) || !args || cJSON_IsNull(args)) {
        const char *a = cJSON_IsString(args) ? args->valuestring : "";
        llm_put_tool_call(b, id, name, a, strlen(a));
        return;
    }
    struct buf t;
    buf_init(&t, 0);
    llm_put_json(&t, args);
    llm_put_tool_call(b, id, name, buf_str(&t), t.len);
    buf_release(&t);
}

void llm_error_read(const cJSON *e, char **code, char **msg)
{
    if (cJSON_IsString(e)) {
        if (e->valuestring[0])
            xstrset(msg, e->valuestring);
        return;
    }
    if (!cJSON_IsObject(e))
        return;
    const char *c = llm_str(e, "code");
    if (!c || !*c)
        c = llm_str(e, "type");
    if (c && *c) {
        xstrset(code, c);
    } else if (llm_count(llm_member(e, "code")) >= 0) { /* a bare number: keep it */
        free(*code);
        *code = xasprintf("%lld", (long long)llm_count(llm_member(e, "code")));
    }
    const char *m = llm_str(e, "message");
    if (m)
        xstrset(msg, m);
}

void llm_span_error(struct span *s, const char *code, const char *fallback, const char *msg)
{
    s->status = SPAN_STATUS_ERROR;
    xstrset(&s->error_code, code ? code : fallback);
    xstrset(&s->error_message, msg);
}

/* The text parts of a message content value (a string, or an array of
 * parts with "text") into 't'. Returns 1 when content was a string or
 * parts, 0 otherwise (null, absent). */
static int content_text(const cJSON *content, struct buf *t)
{
    if (cJSON_IsString(content)) {
        llm_puts(t, content->valuestring);
        return 1;
    }
    if (!cJSON_IsArray(content))
        return 0;
    for (const cJSON *p = content->child; p; p = p->next) {
        const char *type = llm_str(p, "type"), *text = llm_str(p, "text");
        if (cJSON_IsString(p))
            llm_puts(t, p->valuestring);
        else if (text && (!type || !strcmp(type, "text") || !strcmp(type, "output_text")))
            llm_puts(t, text);
    }
    return 1;
}

static void reasoning_join(struct buf *r, const char *text)
{
    if (!text || !*text)
        return;
    if (r->len)
        llm_puts(r, "\n");
    llm_puts(r, text);
}

/* One Responses output item into the message being built. */
static void responses_item(const cJSON *it, struct buf *text, struct buf *calls,
                           struct buf *refusal, struct buf *reasoning)
{
    const char *type = llm_str(it, "type");
    const cJSON *parts = llm_member(it, "content"), *p;
    if (!type)
        return;
    if (!strcmp(type, "message") && cJSON_IsArray(parts)) {
        cJSON_ArrayForEach(p, parts)
        {
            const char *pt = llm_str(p, "type");
            if (pt && !strcmp(pt, "output_text") && llm_str(p, "text"))
                llm_puts(text, llm_str(p, "text"));
            else if (pt && !strcmp(pt, "refusal") && llm_str(p, "refusal"))
                llm_puts(refusal, llm_str(p, "refusal"));
        }
    } else if (!strcmp(type, "function_call") || !strcmp(type, "custom_tool_call")) {
        const cJSON *args = llm_member(it, type[0] == 'f' ? "arguments" : "input");
        put_tool_call_value(calls, llm_str(it, "call_id"), llm_str(it, "name"), args);
    } else if (!strcmp(type, "reasoning")) {
        cJSON_ArrayForEach(p, llm_array(llm_member(it, "summary")))
            reasoning_join(reasoning, llm_str(p, "text"));
        if (cJSON_IsArray(parts))
            cJSON_ArrayForEach(p, parts) reasoning_join(reasoning, llm_str(p, "text"));
    }
}

int llm_responses_output(const cJSON *resp, struct buf *b)
{
    const cJSON *out = llm_member(resp, "output");
    if (!cJSON_IsArray(out) || !out->child)
        return 0;
    struct buf text, calls, refusal, reasoning;
    buf_init(&text, 0);
    buf_init(&calls, 0);
    buf_init(&refusal, 0);
    buf_init(&reasoning, 0);
    for (const cJSON *it = out->child; it; it = it->next)
        responses_item(it, &text, &calls, &refusal, &reasoning);
    llm_put_message(b, buf_str(&text), buf_str(&calls), calls.len, buf_str(&refusal),
                    buf_str(&reasoning));
    buf_release(&text);
    buf_release(&calls);
    buf_release(&refusal);
    buf_release(&reasoning);
    return 1;
}

const char *llm_responses_finish(const cJSON *resp)
{
    const char *status = llm_str(resp, "status");
    const char *reason = llm_str(llm_member(resp, "incomplete_details"), "reason");
    if (status && !strcmp(status, "incomplete") && reason)
        return reason;
    return status;
}

/* Length of the valid UTF-8 sequence at 's' (of 'n' bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xC2) || (len == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* A plain-text error body as a message: its first EXCERPT_MAX bytes, control
 * characters as spaces, invalid UTF-8 as '?', trimmed; NULL when empty. */
static char *excerpt(const char *body, size_t len)
{
    struct buf b;
    buf_init(&b, 0);
    const unsigned char *s = (const unsigned char *)body;
    size_t i = 0;
    while (i < len && b.len < EXCERPT_MAX) {
        size_t k = utf8_seq(s + i, len - i);
        if (k > 1) {
            llm_put(&b, body + i, k);
        } else {
            char c = k == 0 ? '?' : (s[i] < 0x20 || s[i] == 0x7f) ? ' ' : body[i];
            if (c != ' ' || (b.len && b.data[b.len - 1] != ' '))
                llm_put(&b, &c, 1);
        }
        i += k ? k : 1;
    }
    while (b.len && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    if (b.len == 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_take(&b, NULL);
}

/* An answer with status >= 400: the provider's error, else HTTP_<status>. */
static void http_error(int status, const cJSON *root, const char *body, size_t len, struct span *s)
{
    char *code = NULL, *msg = NULL, fallback[32];
    const cJSON *e = llm_member(root, "error");
    if (e)
        llm_error_read(e, &code, &msg);
    if (!msg && llm_str(root, "message")) /* other gateways: {"message": ...} */
        msg = xstrdup(llm_str(root, "message"));
    if (!msg && llm_str(root, "detail")) /* FastAPI-style servers */
        msg = xstrdup(llm_str(root, "detail"));
    if (!msg && !root)
        msg = excerpt(body, len);
    snprintf(fallback, sizeof(fallback), "HTTP_%d", status);
    llm_span_error(s, code, fallback, msg);
    free(code);
    free(msg);
}

/* A 2xx body that is an error anyway (compatible servers do this). */
static int body_error(enum llm_api api, const cJSON *root, struct span *s)
{
    const cJSON *e = llm_member(root, "error");
    const char *type = llm_str(root, "type");
    int is_err = (type && !strcmp(type, "error")) ||
                 ((cJSON_IsObject(e) || cJSON_IsString(e)) && api != LLM_API_RESPONSES &&
                  !llm_member(root, "choices") && !llm_member(root, "data"));
    if (!is_err)
        return 0;
    char *code = NULL, *msg = NULL;
    llm_error_read(e, &code, &msg);
    llm_span_error(s, code, "UPSTREAM_ERROR", msg);
    free(code);
    free(msg);
    return 1;
}

/* A chat message object as the span's assistant message. */
static void chat_message(const cJSON *m, struct buf *out)
{
    struct buf text, calls;
    buf_init(&text, 0);
    buf_init(&calls, 0);
    content_text(llm_member(m, "content"), &text);
    const cJSON *tc, *fc = llm_member(m, "function_call");
    cJSON_ArrayForEach(tc, llm_array(llm_member(m, "tool_calls")))
    {
        const cJSON *fn = llm_member(tc, "function");
        put_tool_call_value(&calls, llm_str(tc, "id"), llm_str(fn, "name"),
                            llm_member(fn, "arguments"));
    }
    if (cJSON_IsObject(fc)) /* the deprecated single function call */
        put_tool_call_value(&calls, NULL, llm_str(fc, "name"), llm_member(fc, "arguments"));
    const char *reasoning = llm_str(m, "reasoning_content");
    llm_put_message(out, buf_str(&text), buf_str(&calls), calls.len, llm_str(m, "refusal"),
                    reasoning ? reasoning : llm_str(m, "reasoning"));
    buf_release(&text);
    buf_release(&calls);
}

/* Choices ordered by index (index outside 0..LLM_MAX_CHOICES-1 dropped). */
static void chat_choices(const cJSON *choices, struct span *s)
{
    const cJSON *slot[LLM_MAX_CHOICES] = {0}, *c;
    int n = 0, pos = 0;
    cJSON_ArrayForEach(c, llm_array(choices))
    {
        const cJSON *ix = llm_member(c, "index");
        int64_t i = ix ? llm_count(ix) : pos;
        pos++;
        if (i >= 0 && i < LLM_MAX_CHOICES && !slot[i] && cJSON_IsObject(c)) {
            slot[i] = c;
            n++;
        }
    }
    if (n == 0)
        return;
    struct buf b;
    buf_init(&b, 0);
    int first = 1;
    llm_puts(&b, n > 1 ? "[" : "");
    for (int i = 0; i < LLM_MAX_CHOICES; i++) {
        if (!slot[i])
            continue;
        if (first && llm_str(slot[i], "finish_reason"))
            xstrset(&s->finish_reason, llm_str(slot[i], "finish_reason"));
        llm_puts(&b, first ? "" : ",");
        first = 0;
        chat_message(llm_member(slot[i], "message"), &b);
    }
    llm_puts(&b, n > 1 ? "]" : "");
    free(s->output);
    s->output = buf_take(&b, NULL);
}

static void set_common(const cJSON *root, struct span *s)
{
    if (llm_str(root, "model"))
        xstrset(&s->response_model, llm_str(root, "model"));
    if (llm_str(root, "service_tier"))
        xstrset(&s->service_tier, llm_str(root, "service_tier"));
}

static void anthropic_answer(const cJSON *root, struct span *s)
{
    const cJSON *u = llm_member(root, "usage"), *b;
    if (cJSON_IsObject(u)) {
        struct llm_anth_usage a;
        llm_anth_usage_init(&a);
        llm_anth_usage_merge(&a, u);
        llm_anth_usage_norm(&a, &s->usage);
        if (llm_str(u, "service_tier"))
            xstrset(&s->service_tier, llm_str(u, "service_tier"));
    }
    if (llm_str(root, "stop_reason"))
        xstrset(&s->finish_reason, llm_str(root, "stop_reason"));
    const cJSON *content = llm_member(root, "content");
    if (!cJSON_IsArray(content))
        return;
    struct buf text, calls, reasoning, out;
    buf_init(&text, 0);
    buf_init(&calls, 0);
    buf_init(&reasoning, 0);
    buf_init(&out, 0);
    cJSON_ArrayForEach(b, content)
    {
        const char *type = llm_str(b, "type");
        if (type && !strcmp(type, "text") && llm_str(b, "text"))
            llm_puts(&text, llm_str(b, "text"));
        else if (type && !strcmp(type, "tool_use"))
            put_tool_call_value(&calls, llm_str(b, "id"), llm_str(b, "name"),
                                llm_member(b, "input"));
        else if (type && !strcmp(type, "thinking"))
            reasoning_join(&reasoning, llm_str(b, "thinking"));
    }
    llm_put_message(&out, buf_str(&text), buf_str(&calls), calls.len, NULL, buf_str(&reasoning));
    free(s->output);
    s->output = buf_take(&out, NULL);
    buf_release(&text);
    buf_release(&calls);
    buf_release(&reasoning);
}

static void responses_answer(const cJSON *root, struct span *s)
{
    llm_usage_openai(llm_member(root, "usage"), &s->usage);
    const char *status = llm_str(root, "status"), *finish = llm_responses_finish(root);
    if (finish)
        xstrset(&s->finish_reason, finish);
    if (status && !strcmp(status, "failed")) {
        char *code = NULL, *msg = NULL;
        llm_error_read(llm_member(root, "error"), &code, &msg);
        llm_span_error(s, code, "RESPONSE_FAILED", msg);
        free(code);
        free(msg);
    }
    struct buf b;
    buf_init(&b, 0);
    if (llm_responses_output(root, &b)) {
        free(s->output);
        s->output = buf_take(&b, NULL);
    }
    buf_release(&b);
}

/* Decoded bytes of a base64 text (padding and whitespace not counted). */
static size_t base64_bytes(const char *t)
{
    size_t chars = 0;
    for (; *t; t++)
        if ((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
            *t == '+' || *t == '/' || *t == '-' || *t == '_')
            chars++;
    return chars / 4 * 3 + (chars % 4 ? chars % 4 - 1 : 0);
}

static void embeddings_answer(const cJSON *root, struct span *s)
{
    llm_usage_openai(llm_member(root, "usage"), &s->usage);
    const cJSON *data = llm_member(root, "data"), *d;
    if (!cJSON_IsArray(data))
        return;
    long long count = 0, dims = -1;
    cJSON_ArrayForEach(d, data)
    {
        const cJSON *e = llm_member(d, "embedding");
        count++;
        if (dims < 0 && cJSON_IsArray(e))
            dims = cJSON_GetArraySize(e);
        else if (dims < 0 && cJSON_IsString(e))
            dims = (long long)(base64_bytes(e->valuestring) / 4);
    }
    free(s->output);
    s->output = dims >= 0 ? xasprintf("{\"count\":%lld,\"dimensions\":%lld}", count, dims)
                          : xasprintf("{\"count\":%lld}", count);
}

void llm_response_parse(enum llm_api api, int http_status, const char *body, size_t len,
                        struct span *s)
{
    cJSON *root = llm_parse(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = NULL;
    }
    if (http_status >= 400) {
        if (root)
            set_common(root, s);
        http_error(http_status, root, body, len, s);
    } else if (root) {
        s->status = SPAN_STATUS_OK;
        set_common(root, s);
        if (body_error(api, root, s)) {
            /* nothing more to read */
        } else if (api == LLM_API_CHAT) {
            llm_usage_openai(llm_member(root, "usage"), &s->usage);
            chat_choices(llm_member(root, "choices"), s);
        } else if (api == LLM_API_RESPONSES) {
            responses_answer(root, s);
        } else if (api == LLM_API_ANTHROPIC_MESSAGES) {
            anthropic_answer(root, s);
        } else if (api == LLM_API_EMBEDDINGS) {
            embeddings_answer(root, s);
        }
    }
    cJSON_Delete(root);
}
