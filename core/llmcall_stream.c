/*
 * llmcall_stream: the accumulator of one streamed answer (see llmcall.h).
 * Each dispatched SSE event is parsed on its own and folded into:
 *  - choices by index (chat; everything else uses choice 0), each with its
 *    joined text, reasoning, refusal and tool calls by index;
 *  - for Anthropic, content block index -> what the block feeds (text,
 *    thinking, or one tool call whose partial_json is joined and parsed
 *    when the block stops); for Responses, output item index -> tool call;
 *  - usage (replaced by each usage object; Anthropic's counts merged, the
 *    cumulative message_delta replacing what it repeats), model, tier,
 *    finish reason, the first error, and whether the terminal event came.
 * Invariants: all joined bytes together stay under LLM_MAX_TEXT ('room';
 * a delta that does not fit is dropped whole and 'clipped' set); indexes
 * beyond LLM_MAX_CHOICES / LLM_MAX_CALLS / LLM_MAX_BLOCKS are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "core/llmcall_int.h"
#include "core/xmem.h"

struct call {
    int seen;
    int json;       /* Anthropic: args are JSON to be parsed and made compact */
    int from_start; /* args hold content_block_start's input (deltas replace it) */
    char *id, *name;
    struct buf args;
};

struct choice {
    int seen;
    struct buf text, reasoning, refusal;
    struct call *calls; /* by index, 'ncalls' slots */
    int ncalls;
    char *finish;
};

enum item_kind { ITEM_NONE = 0, ITEM_TEXT, ITEM_CALL, ITEM_THINKING };

struct llm_stream {
    enum llm_api api;
    struct choice *ch; /* by index, 'nch' slots */
    int nch;
    size_t room; /* bytes that may still be joined */
    int clipped;
    int have_usage;
    struct span_usage usage;
    struct llm_anth_usage au;
    char *model, *tier, *finish;
    int error, terminal, saw_finish;
    char *err_code, *err_msg;
    char *final_output; /* Responses: the message of the terminal response object */
    unsigned char kind[LLM_MAX_BLOCKS];
    short call_of[LLM_MAX_BLOCKS]; /* block / item index -> tool call index of choice 0 */
};

struct llm_stream *llm_stream_new(enum llm_api api)
{
    struct llm_stream *st = xcalloc(1, sizeof(*st));
    st->api = api;
    st->room = LLM_MAX_TEXT;
    llm_anth_usage_init(&st->au);
    return st;
}

static void choice_release(struct choice *c)
{
    buf_release(&c->text);
    buf_release(&c->reasoning);
    buf_release(&c->refusal);
    for (int i = 0; i < c->ncalls; i++) {
        free(c->calls[i].id);
        free(c->calls[i].name);
        buf_release(&c->calls[i].args);
    }
    free(c->calls);
    free(c->finish);
}

void llm_stream_free(struct llm_stream *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->nch; i++)
        choice_release(&st->ch[i]);
    free(st->ch);
    free(st->model);
    free(st->tier);
    free(st->finish);
    free(st->err_code);
    free(st->err_msg);
    free(st->final_output);
    free(st);
}

int llm_stream_clipped(const struct llm_stream *st)
{
    return st->clipped;
}

/* Choice 'i', created on first use; NULL when out of range. */
static struct choice *choice_at(struct llm_stream *st, int64_t i)
{
    if (i < 0 || i >= LLM_MAX_CHOICES)
        return NULL;
    if (i >= st->nch) {
        st->ch = xrealloc(st->ch, (size_t)(i + 1) * sizeof(*st->ch));
        memset(st->ch + st->nch, 0, (size_t)(i + 1 - st->nch) * sizeof(*st->ch));
        st->nch = (int)i + 1;
    }
    st->ch[i].seen = 1;
    return &st->ch[i];
}

static struct call *call_at(struct choice *c, int64_t i)
{
    if (!c || i < 0 || i >= LLM_MAX_CALLS)
        return NULL;
    if (i >= c->ncalls) {
        c->calls = xrealloc(c->calls, (size_t)(i + 1) * sizeof(*c->calls));
        memset(c->calls + c->ncalls, 0, (size_t)(i + 1 - c->ncalls) * sizeof(*c->calls));
        c->ncalls = (int)i + 1;
    }
    c->calls[i].seen = 1;
    return &c->calls[i];
}

/* The next unused tool call of choice 0 (Anthropic blocks, Responses items). */
static int call_new(struct llm_stream *st)
{
    struct choice *c = choice_at(st, 0);
    return call_at(c, c->ncalls) ? c->ncalls - 1 : -1;
}

/* Join 's' to 'b' if the stream's byte budget allows. 1 when 's' is non-empty. */
static int join(struct llm_stream *st, struct buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        return 0;
    if (n > st->room) {
        st->clipped = 1;
        return 1;
    }
    llm_put(b, s, n);
    st->room -= n;
    return 1;
}

static void set_once(char **slot, const char *v)
{
    if (v && *v)
        xstrset(slot, v);
}

/* The first error of the stream wins; later ones only count as errors. */
static unsigned stream_error(struct llm_stream *st, const cJSON *e, int bare)
{
    if (!st->error) {
        st->error = 1;
        if (bare) { /* Responses' error event: code and message beside "type" */
            set_once(&st->err_code, llm_str(e, "code"));
            set_once(&st->err_msg, llm_str(e, "message"));
        } else {
            llm_error_read(e, &st->err_code, &st->err_msg);
        }
    }
    return LLM_EV_ERROR;
}

static void take_usage(struct llm_stream *st, const cJSON *u)
{
    if (!cJSON_IsObject(u))
        return;
    st->have_usage = 1;
    if (st->api == LLM_API_ANTHROPIC_MESSAGES)
        llm_anth_usage_merge(&st->au, u);
    else
        llm_usage_openai(u, &st->usage);
}

/* ---- OpenAI chat completions ------------------------------------------- */

static unsigned chat_tool_deltas(struct llm_stream *st, struct choice *c, const cJSON *tcs)
{
    unsigned flags = 0;
    int64_t pos = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, llm_array(tcs))
    {
        const cJSON *ix = llm_member(tc, "index"), *fn = llm_member(tc, "function");
        struct call *k = call_at(c, ix ? llm_count(ix) : pos);
        pos++;
        flags = LLM_EV_CONTENT; /* even a fragment with only the name */
        if (!k)
            continue;
        set_once(&k->id, llm_str(tc, "id"));
        set_once(&k->name, llm_str(fn, "name"));
        join(st, &k->args, llm_str(fn, "arguments"));
    }
    return flags;
}

static unsigned chat_choice(struct llm_stream *st, const cJSON *ch, int64_t pos)
{
    const cJSON *ix = llm_member(ch, "index"), *d = llm_member(ch, "delta");
    struct choice *c = choice_at(st, ix ? llm_count(ix) : pos);
    unsigned flags = 0;
    const char *fin = llm_str(ch, "finish_reason");
    if (!c)
        return 0;
    if (join(st, &c->text, llm_str(d, "content")))
        flags |= LLM_EV_CONTENT;
    if (join(st, &c->refusal, llm_str(d, "refusal")))
        flags |= LLM_EV_CONTENT;
    const char *r = llm_str(d, "reasoning_content");
    if (join(st, &c->reasoning, r ? r : llm_str(d, "reasoning")))
        flags |= LLM_EV_CONTENT;
    flags |= chat_tool_deltas(st, c, llm_member(d, "tool_calls"));
    if (fin && *fin) {
        set_once(&c->finish, fin);
        st->saw_finish = 1;
    }
    return flags;
}

static unsigned chat_event(struct llm_stream *st, const char *event, const cJSON *root)
{
    const cJSON *e = llm_member(root, "error"), *choices = llm_member(root, "choices"), *ch;
    const cJSON *u = llm_member(root, "usage");
    if ((e && !cJSON_IsNull(e)) || !strcmp(event, "error"))
        return stream_error(st, e && !cJSON_IsNull(e) ? e : root, 0);
    set_once(&st->model, llm_str(root, "model"));
    set_once(&st->tier, llm_str(root, "service_tier"));
    take_usage(st, u);
    if (cJSON_IsObject(u) && (!choices || (cJSON_IsArray(choices) && !choices->child)))
        return LLM_EV_USAGE_ONLY;
    unsigned flags = 0;
    int64_t pos = 0;
    cJSON_ArrayForEach(ch, llm_array(choices))
    {
        flags |= chat_choice(st, ch, pos);
        pos++;
    }
    return flags;
}

/* ---- Anthropic messages ------------------------------------------------- */

static int64_t block_index(const cJSON *root)
{
    int64_t i = llm_count(llm_member(root, "index"));
    return i < LLM_MAX_BLOCKS ? i : -1;
}

static unsigned anth_block_start(struct llm_stream *st, const cJSON *root)
{
    int64_t i = block_index(root);
    const cJSON *b = llm_member(root, "content_block");
    const char *type = llm_str(b, "type");
    struct choice *c = choice_at(st, 0);
    if (i < 0 || !type)
        return 0;
    if (!strcmp(type, "text")) {
        st->kind[i] = ITEM_TEXT;
        return join(st, &c->text, llm_str(b, "text")) ? LLM_EV_CONTENT : 0;
    }
    if (!strcmp(type, "thinking")) {
        st->kind[i] = ITEM_THINKING;
        return join(st, &c->reasoning, llm_str(b, "thinking")) ? LLM_EV_CONTENT : 0;
    }
    if (strcmp(type, "tool_use") != 0)
        return 0; /* server tools, redacted thinking, ...: not kept */
    int k = call_new(st);
    if (k < 0)
        return 0;
    struct call *call = &c->calls[k];
    st->kind[i] = ITEM_CALL;
    st->call_of[i] = (short)k;
    call->json = 1;
    set_once(&call->id, llm_str(b, "id"));
    set_once(&call->name, llm_str(b, "name"));
    const cJSON *in = llm_member(b, "input");
    if (cJSON_IsObject(in) && in->child) { /* a server that sends the input whole */
        char *t = cJSON_PrintUnformatted(in);
        call->from_start = join(st, &call->args, t);
        free(t);
    }
    return LLM_EV_CONTENT;
}

/* A tool call's joined JSON as compact JSON (kept as sent if it does not
 * parse: a truncated stream); "{}" when nothing came. */
static void call_settle(struct call *k)
{
    if (!k->json)
        return;
    k->json = 0;
    if (k->args.len == 0) {
        llm_puts(&k->args, "{}");
        return;
    }
    cJSON *v = llm_parse(k->args.data, k->args.len);
    if (v) {
        buf_reset(&k->args);
        llm_put_json(&k->args, v);
        cJSON_Delete(v);
    }
}

static unsigned anth_block_delta(struct llm_stream *st, const cJSON *root)
{
    int64_t i = block_index(root);
    const cJSON *d = llm_member(root, "delta");
    struct choice *c = choice_at(st, 0);
    if (i < 0)
        return 0;
    if (st->kind[i] == ITEM_TEXT)
        return join(st, &c->text, llm_str(d, "text")) ? LLM_EV_CONTENT : 0;
    if (st->kind[i] == ITEM_THINKING)
        return join(st, &c->reasoning, llm_str(d, "thinking")) ? LLM_EV_CONTENT : 0;
    if (st->kind[i] != ITEM_CALL || !llm_str(d, "partial_json"))
        return 0;
    struct call *k = &c->calls[st->call_of[i]];
    if (k->from_start && *llm_str(d, "partial_json")) {
        st->room += k->args.len;
        buf_reset(&k->args);
        k->from_start = 0;
    }
    return join(st, &k->args, llm_str(d, "partial_json")) ? LLM_EV_CONTENT : 0;
}

static unsigned anth_event(struct llm_stream *st, const char *type, const cJSON *root)
{
    const cJSON *m = llm_member(root, "message"), *u;
    int64_t i;
    if (!strcmp(type, "message_start")) {
        choice_at(st, 0);
        set_once(&st->model, llm_str(m, "model"));
        u = llm_member(m, "usage");
        take_usage(st, u);
        set_once(&st->tier, llm_str(u, "service_tier"));
    } else if (!strcmp(type, "content_block_start")) {
        return anth_block_start(st, root);
    } else if (!strcmp(type, "content_block_delta")) {
        return anth_block_delta(st, root);
    } else if (!strcmp(type, "content_block_stop")) {
        if ((i = block_index(root)) >= 0 && st->kind[i] == ITEM_CALL)
            call_settle(&choice_at(st, 0)->calls[st->call_of[i]]);
    } else if (!strcmp(type, "message_delta")) {
        set_once(&st->finish, llm_str(llm_member(root, "delta"), "stop_reason"));
        u = llm_member(root, "usage");
        take_usage(st, u);
        set_once(&st->tier, llm_str(u, "service_tier"));
    } else if (!strcmp(type, "message_stop")) {
        st->terminal = 1;
        return LLM_EV_TERMINAL;
    } else if (!strcmp(type, "error")) {
        return stream_error(st, llm_member(root, "error"), 0);
    }
    return 0; /* ping and unknown events */
}

/* ---- OpenAI responses --------------------------------------------------- */

/* The tool call an output item index feeds, created on first use. */
static struct call *item_call(struct llm_stream *st, const cJSON *root)
{
    int64_t i = llm_count(llm_member(root, "output_index"));
    if (i < 0 || i >= LLM_MAX_BLOCKS)
        return NULL;
    if (st->kind[i] != ITEM_CALL) {
        int k = call_new(st);
        if (k < 0)
            return NULL;
        st->kind[i] = ITEM_CALL;
        st->call_of[i] = (short)k;
    }
    return &choice_at(st, 0)->calls[st->call_of[i]];
}

static void resp_item(struct llm_stream *st, const cJSON *root, int done)
{
    const cJSON *it = llm_member(root, "item");
    const char *type = llm_str(it, "type"), *args;
    if (!type || (strcmp(type, "function_call") && strcmp(type, "custom_tool_call")))
        return;
    struct call *k = item_call(st, root);
    if (!k)
        return;
    set_once(&k->id, llm_str(it, "call_id"));
    set_once(&k->name, llm_str(it, "name"));
    args = llm_str(it, type[0] == 'f' ? "arguments" : "input");
    if (done && args && *args) { /* the final arguments replace the joined deltas */
        st->room += k->args.len;
        buf_reset(&k->args);
        join(st, &k->args, args);
    }
}

static unsigned resp_final(struct llm_stream *st, const cJSON *resp, int failed)
{
    struct buf b;
    unsigned flags = LLM_EV_TERMINAL;
    st->terminal = 1;
    set_once(&st->model, llm_str(resp, "model"));
    set_once(&st->tier, llm_str(resp, "service_tier"));
    take_usage(st, llm_member(resp, "usage"));
    set_once(&st->finish, llm_responses_finish(resp));
    if (failed)
        flags |= stream_error(st, llm_member(resp, "error"), 0);
    buf_init(&b, 0);
    if (llm_responses_output(resp, &b)) {
        free(st->final_output);
        st->final_output = buf_take(&b, NULL);
    }
    buf_release(&b);
    return flags;
}

static unsigned resp_event(struct llm_stream *st, const char *type, const cJSON *root)
{
    const cJSON *resp = llm_member(root, "response");
    const char *delta = llm_str(root, "delta");
    struct choice *c = choice_at(st, 0);
    if (!strcmp(type, "response.output_text.delta"))
        return join(st, &c->text, delta) ? LLM_EV_CONTENT : 0;
    if (!strcmp(type, "response.refusal.delta"))
        return join(st, &c->refusal, delta) ? LLM_EV_CONTENT : 0;
    if (!strcmp(type, "response.reasoning_summary_text.delta") ||
        !strcmp(type, "response.reasoning_text.delta"))
        return join(st, &c->reasoning, delta) ? LLM_EV_CONTENT : 0;
    if (!strcmp(type, "response.function_call_arguments.delta") ||
        !strcmp(type, "response.custom_tool_call_input.delta")) {
        struct call *k = item_call(st, root);
        return k && join(st, &k->args, delta) ? LLM_EV_CONTENT : 0;
    }
    if (!strcmp(type, "response.output_item.added") || !strcmp(type, "response.output_item.done")) {
        resp_item(st, root, type[21] == 'd');
        return 0;
    }
    if (!strcmp(type, "response.completed") || !strcmp(type, "response.incomplete"))
        return resp_final(st, resp, 0);
    if (!strcmp(type, "response.failed"))
        return resp_final(st, resp, 1);
    if (!strcmp(type, "error")) {
        const cJSON *e = llm_member(root, "error");
        return cJSON_IsObject(e) ? stream_error(st, e, 0) : stream_error(st, root, 1);
    }
    if (cJSON_IsObject(resp)) { /* created, in_progress, queued */
        set_once(&st->model, llm_str(resp, "model"));
        set_once(&st->tier, llm_str(resp, "service_tier"));
    }
    return 0;
}

/* ---- the entry points -------------------------------------------------- */

static int is_done(const char *data, size_t len)
{
    while (len && strchr(" \t\r\n", data[len - 1]))
        len--;
    while (len && strchr(" \t\r\n", *data)) {
        data++;
        len--;
    }
    return len == 6 && memcmp(data, "[DONE]", 6) == 0;
}

unsigned llm_stream_event(struct llm_stream *st, const char *event, const char *data, size_t len)
{
    unsigned flags = 0;
    if (!st || !data)
        return 0;
    if (!event)
        event = "";
    if (is_done(data, len)) {
        if (st->api != LLM_API_CHAT)
            return 0;
        st->terminal = 1;
        return LLM_EV_TERMINAL;
    }
    cJSON *root = llm_parse(data, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return 0;
    }
    const char *type = llm_str(root, "type");
    if (!type)
        type = event;
    if (st->api == LLM_API_CHAT)
        flags = chat_event(st, event, root);
    else if (st->api == LLM_API_ANTHROPIC_MESSAGES)
        flags = anth_event(st, type, root);
    else if (st->api == LLM_API_RESPONSES)
        flags = resp_event(st, type, root);
    cJSON_Delete(root);
    return flags;
}

/* One choice as an assistant message into 'b'. */
static void put_choice(struct choice *c, struct buf *b)
{
    struct buf calls;
    buf_init(&calls, 0);
    for (int i = 0; i < c->ncalls; i++) {
        struct call *k = &c->calls[i];
        if (!k->seen)
            continue;
        call_settle(k);
        llm_put_tool_call(&calls, k->id, k->name, buf_str(&k->args), k->args.len);
    }
    llm_put_message(b, buf_str(&c->text), buf_str(&calls), calls.len, buf_str(&c->refusal),
                    buf_str(&c->reasoning));
    buf_release(&calls);
}

/* The answer's output: one message, or an array when several choices came. */
static char *stream_output(struct llm_stream *st)
{
    int seen = 0, first = 1;
    for (int i = 0; i < st->nch; i++)
        seen += st->ch[i].seen;
    if (st->final_output)
        return xstrdup(st->final_output);
    if (seen == 0)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    llm_puts(&b, seen > 1 ? "[" : "");
    for (int i = 0; i < st->nch; i++) {
        if (!st->ch[i].seen)
            continue;
        llm_puts(&b, first ? "" : ",");
        first = 0;
        put_choice(&st->ch[i], &b);
    }
    llm_puts(&b, seen > 1 ? "]" : "");
    return buf_take(&b, NULL);
}

static const char *stream_finish_reason(const struct llm_stream *st)
{
    for (int i = 0; st->api == LLM_API_CHAT && i < st->nch; i++)
        if (st->ch[i].seen)
            return st->ch[i].finish;
    return st->finish;
}

/* The APIs whose streams have a terminal event to wait for. */
static int known_grammar(const struct llm_stream *st)
{
    return st->api == LLM_API_CHAT || st->api == LLM_API_RESPONSES ||
           st->api == LLM_API_ANTHROPIC_MESSAGES;
}

void llm_stream_finish(struct llm_stream *st, struct span *s)
{
    char *out = stream_output(st);
    const char *fin = stream_finish_reason(st);
    if (out) {
        free(s->output);
        s->output = out;
    }
    if (st->have_usage && st->api == LLM_API_ANTHROPIC_MESSAGES)
        llm_anth_usage_norm(&st->au, &s->usage);
    else if (st->have_usage)
        s->usage = st->usage;
    if (st->model)
        xstrset(&s->response_model, st->model);
    if (st->tier)
        xstrset(&s->service_tier, st->tier);
    if (fin)
        xstrset(&s->finish_reason, fin);
    if (st->error)
        llm_span_error(s, st->err_code, "UPSTREAM_ERROR", st->err_msg);
    else if (!st->terminal && !(st->api == LLM_API_CHAT && st->saw_finish) && known_grammar(st))
        llm_span_error(s, NULL, "STREAM_TRUNCATED", "the stream ended before its terminal event");
    else
        s->status = SPAN_STATUS_OK;
}
