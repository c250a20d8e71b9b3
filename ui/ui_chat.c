/*
 * ui_chat: a trace's and a session's views (see ui_chat.h).
 *
 * Messages arrive in every dialect the collector maps (OpenAI chat,
 * Anthropic content blocks, plain strings): a message becomes {role, text,
 * tool_calls[{id, name, arguments}], tool_call_id, attachments[]}. Nothing
 * from a message becomes markup or a link: image URLs and unknown parts are
 * shown as text. Each span's scores are added by ui_evals.c.
 */
#include "ui/ui_chat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmem.h"

#define SPAN_COLS                                                                                  \
    "trace_id, span_id, parent_span_id, project, name, kind, start_ns, end_ns, latency_ms,"        \
    " ttft_ms, provider, model, response_model, input_tokens, output_tokens,"                      \
    " cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, status, error_code,"      \
    " error_message, user_id, session_id, tenant, version_set, prompt_name, prompt_version,"       \
    " input, output, params, attributes, replay_of, queue_ms, tool_ms, prompt_vars, tags,"         \
    " finish_reason, service_name, service_version"

enum {
    C_TRACE,
    C_SPAN,
    C_PARENT,
    C_PROJECT,
    C_NAME,
    C_KIND,
    C_START,
    C_END,
    C_LATENCY,
    C_TTFT,
    C_PROVIDER,
    C_MODEL,
    C_RMODEL,
    C_IN_TOK,
    C_OUT_TOK,
    C_CREAD,
    C_CWRITE,
    C_REASON,
    C_COST,
    C_STATUS,
    C_ECODE,
    C_EMSG,
    C_USER,
    C_SESSION,
    C_TENANT,
    C_VSET,
    C_PNAME,
    C_PVER,
    C_INPUT,
    C_OUTPUT,
    C_PARAMS,
    C_ATTRS,
    C_REPLAY,
    C_QUEUE,
    C_TOOL,
    C_PVARS,
    C_TAGS,
    C_FINISH,
    C_SVC,
    C_SVCVER,
    C_NCOLS
};

#define MAX_SPANS 2000     /* spans of one trace shown */
#define MAX_SESSION 500    /* calls of one session shown */
#define MAX_DEPTH_CLASS 12 /* deeper spans share the last indentation */

/* ---- messages ---------------------------------------------------------- */

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 'v' as text: a string as it is, anything else as indented JSON. */
static char *as_text(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        cJSON *parsed = cJSON_Parse(v->valuestring);
        char *s = parsed && (cJSON_IsObject(parsed) || cJSON_IsArray(parsed))
                      ? cJSON_Print(parsed)
                      : xstrdup(v->valuestring);
        cJSON_Delete(parsed);
        return s;
    }
    char *s = cJSON_Print(v);
    return s ? s : xstrdup("");
}

static void add_tool_call(cJSON *msg, const char *id, const char *name, const cJSON *args)
{
    cJSON *calls = cJSON_GetObjectItem(msg, "tool_calls");
    if (!calls)
        calls = cJSON_AddArrayToObject(msg, "tool_calls");
    cJSON *tc = cJSON_CreateObject();
    ui_add_str(tc, "id", id);
    cJSON_AddStringToObject(tc, "name", name ? name : "(unnamed tool)");
    if (args) {
        char *a = as_text(args);
        cJSON_AddStringToObject(tc, "arguments", a);
        free(a);
    }
    cJSON_AddItemToArray(calls, tc);
}

static void add_attachment(cJSON *msg, const cJSON *part)
{
    cJSON *list = cJSON_GetObjectItem(msg, "attachments");
    if (!list)
        list = cJSON_AddArrayToObject(msg, "attachments");
    char *s = cJSON_PrintUnformatted(part);
    cJSON_AddItemToArray(list, cJSON_CreateString(s ? s : ""));
    free(s);
}

/* One content part (OpenAI or Anthropic) into 'msg', text into 't'. */
static void add_part(cJSON *msg, struct buf *t, const cJSON *part)
{
    const char *type = str_of(part, "type");
    const char *text = str_of(part, "text");
    int rc = 0;
    if (cJSON_IsString(part))
        rc = buf_puts(t, part->valuestring);
    else if (text)
        rc = buf_printf(t, "%s%s", t->len ? "\n" : "", text);
    else if (type && strcmp(type, "tool_use") == 0)
        add_tool_call(msg, str_of(part, "id"), str_of(part, "name"),
                      cJSON_GetObjectItem(part, "input"));
    else if (type && strcmp(type, "tool_result") == 0) {
        ui_add_str(msg, "tool_call_id", str_of(part, "tool_use_id"));
        const cJSON *c = cJSON_GetObjectItem(part, "content");
        if (cJSON_IsArray(c)) {
            const cJSON *p;
            cJSON_ArrayForEach(p, c) add_part(msg, t, p);
        } else if (c) {
            char *s = as_text(c);
            rc = buf_printf(t, "%s%s", t->len ? "\n" : "", s);
            free(s);
        }
    } else
        add_attachment(msg, part);
    (void)rc; /* the buf has no ceiling */
}

static void set_role(cJSON *o, const char *role)
{
    cJSON_AddStringToObject(o, "role", role);
    char key[32];
    snprintf(key, sizeof(key), "is_%s",
             strcmp(role, "system") == 0 || strcmp(role, "developer") == 0 ? "system"
             : strcmp(role, "assistant") == 0                              ? "assistant"
             : strcmp(role, "tool") == 0                                   ? "tool"
                                                                           : "user");
    cJSON_AddTrueToObject(o, key);
}

/* A message object (or a bare string) as a chat view object. */
static cJSON *message_view(const cJSON *m, const char *default_role)
{
    cJSON *o = cJSON_CreateObject();
    const char *role = cJSON_IsObject(m) ? str_of(m, "role") : NULL;
    set_role(o, role ? role : default_role);
    struct buf t;
    buf_init(&t, 0);
    const cJSON *content = cJSON_IsObject(m) ? cJSON_GetObjectItem(m, "content") : m;
    if (cJSON_IsArray(content)) {
        const cJSON *p;
        cJSON_ArrayForEach(p, content) add_part(o, &t, p);
    } else if (cJSON_IsString(content)) {
        if (buf_puts(&t, content->valuestring) != 0)
            abort(); /* the buf has no ceiling */
    } else if (content && !cJSON_IsNull(content))
        add_attachment(o, content);
    const cJSON *calls = cJSON_IsObject(m) ? cJSON_GetObjectItem(m, "tool_calls") : NULL;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls)
    {
        const cJSON *fn = cJSON_GetObjectItem(tc, "function");
        const cJSON *args = cJSON_GetObjectItem(fn ? fn : tc, "arguments");
        add_tool_call(o, str_of(tc, "id"), str_of(fn ? fn : tc, "name"), args);
    }
    if (cJSON_IsObject(m))
        ui_add_str(o, "tool_call_id", str_of(m, "tool_call_id"));
    ui_add_str(o, "text", buf_str(&t));
    buf_release(&t);
    return o;
}

/* What makes two messages the same in a conversation: role, text, tool
 * calls and the call answered (not the finish reason). Caller frees. */
static char *message_key(const cJSON *view)
{
    cJSON *k = cJSON_CreateArray();
    static const char *const parts[] = {"role", "text", "tool_call_id", "tool_calls",
                                        "attachments"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const cJSON *v = cJSON_GetObjectItem(view, parts[i]);
        cJSON_AddItemToArray(k, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    }
    char *s = cJSON_PrintUnformatted(k);
    cJSON_Delete(k);
    return s ? s : xstrdup("");
}

/* Append 'v' to 'list' unless 'seen' holds it (then it is freed); 1 when
 * appended. */
static int append_new(cJSON *list, cJSON *v, cJSON *seen)
{
    if (seen) {
        char *key = message_key(v);
        int dup = cJSON_GetObjectItemCaseSensitive(seen, key) != NULL;
        if (!dup)
            cJSON_AddTrueToObject(seen, key);
        free(key);
        if (dup) {
            cJSON_Delete(v);
            return 0;
        }
    }
    cJSON_AddItemToArray(list, v);
    return 1;
}

int ui_chat_messages(cJSON *list, const char *json, cJSON *seen)
{
    if (!json || !*json)
        return 0;
    cJSON *in = cJSON_Parse(json);
    int n = 0;
    if (!in) { /* a plain-text prompt */
        cJSON *s = cJSON_CreateString(json);
        n = append_new(list, message_view(s, "user"), seen);
        cJSON_Delete(s);
        return n;
    }
    if (cJSON_IsArray(in)) {
        const cJSON *m;
        cJSON_ArrayForEach(m, in) n += append_new(list, message_view(m, "user"), seen);
    } else
        n += append_new(list, message_view(in, "user"), seen);
    cJSON_Delete(in);
    return n;
}

cJSON *ui_chat_output(const char *json)
{
    if (!json || !*json)
        return NULL;
    cJSON *out = cJSON_Parse(json);
    cJSON *v;
    if (!out) {
        cJSON *s = cJSON_CreateString(json);
        v = message_view(s, "assistant");
        cJSON_Delete(s);
        return v;
    }
    v = message_view(out, "assistant");
    ui_add_str(v, "finish_reason", cJSON_IsObject(out) ? str_of(out, "finish_reason") : NULL);
    cJSON_Delete(out);
    return v;
}

/* ---- one span ---------------------------------------------------------- */

static void add_fmt(cJSON *o, const char *name, sqlite3_stmt *st, int col,
                    const char *(*fmt)(char *, size_t, double))
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return;
    char s[64];
    cJSON_AddStringToObject(o, name, fmt(s, sizeof(s), sqlite3_column_double(st, col)));
}

/* The span's row as pretty JSON (JSON columns embedded as values). */
static char *raw_json(sqlite3_stmt *st)
{
    static const int json_cols[] = {C_INPUT, C_OUTPUT, C_PARAMS, C_ATTRS, C_PVARS, C_TAGS};
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < C_NCOLS; i++) {
        const char *name = sqlite3_column_name(st, i);
        int t = sqlite3_column_type(st, i), is_json = 0;
        for (size_t k = 0; k < sizeof(json_cols) / sizeof(json_cols[0]); k++)
            is_json |= json_cols[k] == i;
        cJSON *v = NULL;
        if (t == SQLITE_NULL)
            continue;
        if (is_json)
            v = cJSON_Parse(ui_col_text(st, i));
        if (!v && t == SQLITE_INTEGER && i != C_START && i != C_END)
            v = cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
        else if (!v && t == SQLITE_FLOAT)
            v = cJSON_CreateNumber(sqlite3_column_double(st, i));
        else if (!v)
            v = cJSON_CreateString(ui_col_text(st, i)); /* ns as strings: doubles lose them */
        cJSON_AddItemToObject(o, name, v);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s ? s : xstrdup("{}");
}

/* A JSON object column as a list of {key, value} for a table. */
static void add_pairs(cJSON *o, const char *name, const char *json)
{
    cJSON *obj = json && *json ? cJSON_Parse(json) : NULL;
    if (cJSON_IsObject(obj) && obj->child) {
        cJSON *list = cJSON_AddArrayToObject(cJSON_AddObjectToObject(o, name), "items");
        const cJSON *kv;
        cJSON_ArrayForEach(kv, obj)
        {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "key", kv->string);
            char *v = as_text(kv);
            cJSON_AddStringToObject(p, "value", v);
            free(v);
            cJSON_AddItemToArray(list, p);
        }
    }
    cJSON_Delete(obj);
}

static void add_tags(cJSON *o, const char *json)
{
    cJSON *arr = json && *json ? cJSON_Parse(json) : NULL;
    if (cJSON_IsArray(arr) && arr->child) {
        cJSON *list = cJSON_AddArrayToObject(cJSON_AddObjectToObject(o, "tags"), "items");
        const cJSON *t;
        cJSON_ArrayForEach(t, arr)
        {
            char *s = as_text(t);
            cJSON_AddItemToArray(list, cJSON_CreateString(s));
            free(s);
        }
    }
    cJSON_Delete(arr);
}

static void add_tokens(cJSON *o, sqlite3_stmt *st)
{
    add_fmt(o, "tokens_in", st, C_IN_TOK, ui_fmt_count);
    add_fmt(o, "tokens_cached", st, C_CREAD, ui_fmt_count);
    add_fmt(o, "tokens_cache_write", st, C_CWRITE, ui_fmt_count);
    add_fmt(o, "tokens_out", st, C_OUT_TOK, ui_fmt_count);
    add_fmt(o, "tokens_reasoning", st, C_REASON, ui_fmt_count);
}

/* Everything the trace page shows of the current row. */
static cJSON *span_view(sqlite3_stmt *st)
{
    static const struct {
        const char *name;
        int col;
    } plain[] = {{"trace_id", C_TRACE},
                 {"span_id", C_SPAN},
                 {"parent_span_id", C_PARENT},
                 {"project", C_PROJECT},
                 {"name", C_NAME},
                 {"kind", C_KIND},
                 {"provider", C_PROVIDER},
                 {"model", C_MODEL},
                 {"response_model", C_RMODEL},
                 {"status", C_STATUS},
                 {"error_code", C_ECODE},
                 {"error_message", C_EMSG},
                 {"user", C_USER},
                 {"session", C_SESSION},
                 {"tenant", C_TENANT},
                 {"version_set", C_VSET},
                 {"replay_of", C_REPLAY},
                 {"finish_reason", C_FINISH},
                 {"service", C_SVC},
                 {"service_version", C_SVCVER}};
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        ui_add_str(o, plain[i].name, ui_col_text(st, plain[i].col));
    ui_add_url(o, "session_url", ui_col_text(st, C_SESSION));
    char s[64];
    cJSON_AddStringToObject(o, "time",
                            ui_fmt_time(s, sizeof(s), sqlite3_column_int64(st, C_START)));
    add_fmt(o, "latency", st, C_LATENCY, ui_fmt_ms);
    add_fmt(o, "ttft", st, C_TTFT, ui_fmt_ms);
    add_fmt(o, "queue", st, C_QUEUE, ui_fmt_ms);
    add_fmt(o, "tool_time", st, C_TOOL, ui_fmt_ms);
    add_tokens(o, st);
    const char *kind = ui_col_text(st, C_KIND);
    int priced_kind = strcmp(kind, "llm") == 0 || strcmp(kind, "embedding") == 0;
    if (priced_kind || sqlite3_column_type(st, C_COST) != SQLITE_NULL)
        cJSON_AddStringToObject(o, "cost", ui_fmt_usd(s, sizeof(s), ui_col_num(st, C_COST)));
    cJSON_AddBoolToObject(o, "failed", strcmp(ui_col_text(st, C_STATUS), "ok") != 0);
    cJSON_AddBoolToObject(o, "replayable", strcmp(kind, "llm") == 0);
    const char *of = ui_col_text(st, C_REPLAY);
    if (strlen(of) == 49 && of[32] == ':') { /* "trace_id:span_id": link the original */
        char t[33];
        snprintf(t, sizeof(t), "%.32s", of);
        ui_add_url(o, "replay_of_trace", t);
        ui_add_url(o, "replay_of_span", of + 33);
    }
    if (*ui_col_text(st, C_PNAME)) {
        char *p = sqlite3_column_type(st, C_PVER) == SQLITE_NULL
                      ? xstrdup(ui_col_text(st, C_PNAME))
                      : xasprintf("%s@%lld", ui_col_text(st, C_PNAME),
                                  (long long)sqlite3_column_int64(st, C_PVER));
        cJSON_AddStringToObject(o, "prompt", p);
        free(p);
    }
    add_pairs(o, "prompt_vars", ui_col_text(st, C_PVARS));
    add_pairs(o, "params", ui_col_text(st, C_PARAMS));
    add_pairs(o, "attributes", ui_col_text(st, C_ATTRS));
    add_tags(o, ui_col_text(st, C_TAGS));
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    int n = ui_chat_messages(msgs, (const char *)sqlite3_column_text(st, C_INPUT), NULL);
    cJSON *out = ui_chat_output((const char *)sqlite3_column_text(st, C_OUTPUT));
    if (out)
        cJSON_AddItemToObject(o, "output", out);
    cJSON_AddBoolToObject(o, "has_chat", n > 0 || out);
    char *raw = raw_json(st);
    cJSON_AddStringToObject(o, "raw", raw);
    free(raw);
    return o;
}

/* ---- the tree ---------------------------------------------------------- */

struct node {
    cJSON *view;
    char id[17], parent[17];
    int64_t start, end;
    int parent_ix, depth, placed;
};

static int find_node(const struct node *n, int count, const char *id)
{
    for (int i = 0; id[0] && i < count; i++)
        if (strcmp(n[i].id, id) == 0)
            return i;
    return -1;
}

/* Depth-first from 'root' into 'order' (at *k on): children in start order
 * (the rows came sorted by start). An explicit stack ('stack', room for
 * every node): a trace of 2,000 nested spans must not recurse on a worker
 * thread's small stack. */
static void place(struct node *n, int count, int root, int *order, int *k, int *stack)
{
    int top = 0;
    n[root].placed = 1;
    n[root].depth = 0;
    stack[top++] = root;
    while (top > 0) {
        int ix = stack[--top];
        order[(*k)++] = ix;
        for (int i = count - 1; i >= 0; i--) /* pushed last first: popped in start order */
            if (!n[i].placed && n[i].parent_ix == ix) {
                n[i].placed = 1;
                n[i].depth = n[ix].depth + 1;
                stack[top++] = i;
            }
    }
}

/* The waterfall row of node 'x' within [t0, t0 + span]. */
static cJSON *bar_view(const struct node *x, int64_t t0, int64_t total)
{
    double len = total > 0 ? (double)total : 1.0;
    double left = 100.0 * (double)(x->start - t0) / len;
    double width = 100.0 * (double)(x->end - x->start) / len;
    width = width < 0.4 ? 0.4 : width;
    left = left + width > 100.0 ? 100.0 - width : left;
    cJSON *b = cJSON_CreateObject();
    char s[64];
    snprintf(s, sizeof(s), "%.2f", left < 0 ? 0 : left);
    cJSON_AddStringToObject(b, "x", s);
    snprintf(s, sizeof(s), "%.2f", width);
    cJSON_AddStringToObject(b, "w", s);
    snprintf(s, sizeof(s), "depth-%d", x->depth < MAX_DEPTH_CLASS ? x->depth : MAX_DEPTH_CLASS);
    cJSON_AddStringToObject(b, "depth_class", s);
    cJSON_AddStringToObject(b, "offset", ui_fmt_ms(s, sizeof(s), (double)(x->start - t0) / 1e6));
    static const char *const copy[] = {"span_id", "name", "kind", "latency", "status", "model"};
    for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
        ui_add_str(b, copy[i], str_of(x->view, copy[i]));
    cJSON_AddBoolToObject(b, "failed", cJSON_IsTrue(cJSON_GetObjectItem(x->view, "failed")));
    return b;
}

/* Arrange 'count' nodes as a tree and add the waterfall and the spans, in
 * tree order, to 'trace'. Spans whose parent is not in the trace are roots. */
static void tree_view(cJSON *trace, struct node *n, int count)
{
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    for (int i = 0; i < count; i++) {
        n[i].parent_ix = find_node(n, count, n[i].parent);
        t0 = n[i].start < t0 ? n[i].start : t0;
        t1 = n[i].end > t1 ? n[i].end : t1;
    }
    int *order = xcalloc((size_t)count, sizeof(int));
    int *stack = xcalloc((size_t)count, sizeof(int));
    int k = 0;
    for (int i = 0; i < count; i++)
        if (!n[i].placed && (n[i].parent_ix < 0 || n[i].parent_ix == i))
            place(n, count, i, order, &k, stack);
    for (int i = 0; i < count; i++) /* cycles: parent links that loop */
        if (!n[i].placed)
            place(n, count, i, order, &k, stack);
    free(stack);
    cJSON *bars = cJSON_AddArrayToObject(trace, "waterfall");
    cJSON *spans = cJSON_AddArrayToObject(trace, "spans");
    for (int i = 0; i < k; i++) {
        cJSON_AddItemToArray(bars, bar_view(&n[order[i]], t0, t1 - t0));
        cJSON_AddItemToArray(spans, n[order[i]].view);
        n[order[i]].view = NULL;
    }
    char s[64];
    cJSON_AddStringToObject(trace, "duration", ui_fmt_ms(s, sizeof(s), (double)(t1 - t0) / 1e6));
    cJSON_AddStringToObject(trace, "time", ui_fmt_time(s, sizeof(s), t0));
    free(order);
}

int ui_chat_trace(struct ui_req *r, sqlite3 *db, const char *trace_id, int *found)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT " SPAN_COLS " FROM spans WHERE trace_id = ?1"
                                  " ORDER BY start_ns, span_id");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_STATIC);
    struct node *n = xcalloc(MAX_SPANS, sizeof(*n));
    int count = 0, rc, llm = 0, priced = 0;
    double cost = 0;
    while (count < MAX_SPANS && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct node *x = &n[count++];
        x->view = span_view(st);
        snprintf(x->id, sizeof(x->id), "%s", ui_col_text(st, C_SPAN));
        snprintf(x->parent, sizeof(x->parent), "%s", ui_col_text(st, C_PARENT));
        x->start = sqlite3_column_int64(st, C_START);
        x->end = sqlite3_column_int64(st, C_END);
        llm += strcmp(ui_col_text(st, C_KIND), "llm") == 0;
        if (!isnan(ui_col_num(st, C_COST)))
            cost += ui_col_num(st, C_COST), priced++;
    }
    if (count == MAX_SPANS)
        rc = SQLITE_DONE;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        snprintf(r->err, sizeof(r->err), "the store cannot read the trace: %s", sqlite3_errmsg(db));
    if (rc == SQLITE_DONE && count) {
        cJSON **views = xcalloc((size_t)count, sizeof(*views));
        for (int i = 0; i < count; i++)
            views[i] = n[i].view;
        if (ui_evals_span_scores(r, db, views, count) != 0 ||
            ui_replays_of_spans(r, db, views, count) != 0)
            rc = SQLITE_ERROR; /* r->err says why */
        free(views);
    }
    *found = count > 0;
    if (rc == SQLITE_DONE && count) {
        cJSON *t = cJSON_AddObjectToObject(r->view, "trace");
        cJSON_AddStringToObject(t, "trace_id", trace_id);
        cJSON_AddNumberToObject(t, "span_count", count);
        cJSON_AddNumberToObject(t, "llm_count", llm);
        char s[64];
        cJSON_AddStringToObject(t, "cost", priced ? ui_fmt_usd(s, sizeof(s), cost) : "unpriced");
        tree_view(t, n, count);
    }
    for (int i = 0; i < count; i++)
        cJSON_Delete(n[i].view);
    free(n);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- one session ------------------------------------------------------- */

static cJSON *call_view(sqlite3_stmt *st, cJSON *seen)
{
    cJSON *o = cJSON_CreateObject();
    char s[64];
    ui_add_str(o, "trace_id", ui_col_text(st, C_TRACE));
    ui_add_str(o, "span_id", ui_col_text(st, C_SPAN));
    ui_add_str(o, "model", ui_col_text(st, C_MODEL));
    ui_add_str(o, "status", ui_col_text(st, C_STATUS));
    ui_add_str(o, "error_message", ui_col_text(st, C_EMSG));
    cJSON_AddBoolToObject(o, "failed", strcmp(ui_col_text(st, C_STATUS), "ok") != 0);
    cJSON_AddStringToObject(o, "time",
                            ui_fmt_time(s, sizeof(s), sqlite3_column_int64(st, C_START)));
    add_fmt(o, "latency", st, C_LATENCY, ui_fmt_ms);
    cJSON_AddStringToObject(o, "cost", ui_fmt_usd(s, sizeof(s), ui_col_num(st, C_COST)));
    add_tokens(o, st);
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    ui_chat_messages(msgs, (const char *)sqlite3_column_text(st, C_INPUT), seen);
    const char *out = (const char *)sqlite3_column_text(st, C_OUTPUT);
    cJSON *ov = ui_chat_output(out);
    if (ov) { /* resent as the next turn's input: seen from now on */
        char *key = message_key(ov);
        if (!cJSON_GetObjectItemCaseSensitive(seen, key))
            cJSON_AddTrueToObject(seen, key);
        free(key);
        cJSON_AddItemToObject(o, "output", ov);
    }
    return o;
}

int ui_chat_session(struct ui_req *r, sqlite3 *db, const char *session, int *found)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT " SPAN_COLS " FROM spans WHERE session_id = ?1"
                                  " AND kind IN ('llm', 'embedding') ORDER BY start_ns LIMIT ?2");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, MAX_SESSION);
    cJSON *sv = cJSON_AddObjectToObject(r->view, "session");
    cJSON_AddStringToObject(sv, "id", session);
    cJSON *calls = cJSON_AddArrayToObject(sv, "calls");
    cJSON *seen = cJSON_CreateObject();
    int n = 0, rc, priced = 0;
    double cost = 0, tin = 0, tout = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0) {
            ui_add_str(sv, "user", ui_col_text(st, C_USER));
            ui_add_str(sv, "tenant", ui_col_text(st, C_TENANT));
            ui_add_str(sv, "project", ui_col_text(st, C_PROJECT));
        }
        cJSON_AddItemToArray(calls, call_view(st, seen));
        if (!isnan(ui_col_num(st, C_COST)))
            cost += ui_col_num(st, C_COST), priced++;
        tin += sqlite3_column_double(st, C_IN_TOK);
        tout += sqlite3_column_double(st, C_OUT_TOK);
    }
    sqlite3_finalize(st);
    cJSON_Delete(seen);
    *found = n > 0;
    char s[64];
    cJSON_AddNumberToObject(sv, "call_count", n);
    cJSON_AddStringToObject(sv, "cost", priced ? ui_fmt_usd(s, sizeof(s), cost) : "unpriced");
    cJSON_AddStringToObject(sv, "tokens_in", ui_fmt_count(s, sizeof(s), tin));
    cJSON_AddStringToObject(sv, "tokens_out", ui_fmt_count(s, sizeof(s), tout));
    if (rc != SQLITE_DONE)
        snprintf(r->err, sizeof(r->err), "the store cannot read the session: %s",
                 sqlite3_errmsg(db));
    return rc == SQLITE_DONE ? 0 : -1;
}
