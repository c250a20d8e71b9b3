/*
 * otlp: walks OTLP/JSON export requests (see otlp.h). Traces: resource ->
 * scope -> span, flattening the resource and scope attributes once and
 * handing each span to genai_map_span. Logs: resource -> scope -> record,
 * keeping only GenAI message events and turning each into canonical messages
 * with the genai helpers. Problems go to the result as short notes; the
 * message buffer only ever holds whole notes (so it stays valid UTF-8).
 */
#include "collector/otlp.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/genai.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/xmem.h"

#define MORE "; \xe2\x80\xa6" /* "; …" once the message is full */

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = member(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void note(struct otlp_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append one note; when it does not fit (with room kept for MORE), end the
 * message with MORE instead and take no further notes. */
static void note(struct otlp_result *res, const char *fmt, ...)
{
    char piece[384];
    size_t len = strlen(res->message), cap = sizeof(res->message), more = strlen(MORE);
    va_list ap;
    if (len >= more && strcmp(res->message + len - more, MORE) == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(piece, sizeof(piece), fmt, ap);
    va_end(ap);
    if (len + 2 + strlen(piece) + more < cap)
        snprintf(res->message + len, cap - len, "%s%s", len ? "; " : "", piece);
    else if (len + more < cap)
        snprintf(res->message + len, cap - len, "%s", MORE);
}

/* "span 3 (trace 4f9c2b7e…)": the first characters of the raw traceId,
 * anything but letters and digits shown as '?' (it is untrusted text). */
static void record_label(char *out, size_t n, const char *what, long idx, const cJSON *rec)
{
    const char *t = str(rec, "traceId");
    char pre[9];
    size_t k = 0;
    for (; t && t[k] && k < 8; k++)
        pre[k] = isalnum((unsigned char)t[k]) ? t[k] : '?';
    pre[k] = '\0';
    if (k)
        snprintf(out, n, "%s %ld (trace %s%s)", what, idx, pre, t[k] ? "\xe2\x80\xa6" : "");
    else
        snprintf(out, n, "%s %ld", what, idx);
}

/* The array 'key' of 'obj'; absent or null gives NULL silently, another type
 * gives NULL and a note naming 'where'. */
static const cJSON *array_of(const cJSON *obj, const char *key, const char *where, long i,
                             struct otlp_result *res)
{
    const cJSON *v = member(obj, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsArray(v))
        return v;
    note(res, "%s %ld: %s is not an array", where, i, key);
    return NULL;
}

/* ---- traces ---- */

struct walk {
    struct ingest_batch *out;
    struct otlp_result *res;
    long index; /* of the next record, in request order */
};

static void decode_span(struct walk *w, const struct genai_origin *o, const cJSON *js)
{
    char err[256], label[64];
    struct span s;
    long idx = w->index++;
    span_init(&s);
    int rc = genai_map_span(o, js, &s, err, sizeof(err));
    if (rc != GENAI_OK)
        record_label(label, sizeof(label), "span", idx, js);
    if (rc == GENAI_INVALID) {
        w->res->rejected++;
        note(w->res, "%s: %s", label, err);
        span_release(&s);
        return;
    }
    if (rc == GENAI_TRUNCATED)
        note(w->res, "%s: %s", label, err);
    struct rec_span *r = ingest_add_span(w->out);
    span_move(&r->span, &s);
    r->op = REC_INSERT;
    w->res->accepted++;
}

static void decode_scope_spans(struct walk *w, const cJSON *resource, const cJSON *ss, long si)
{
    const cJSON *scope = member(ss, "scope");
    const cJSON *spans = array_of(ss, "spans", "scopeSpans", si, w->res);
    cJSON *scope_attrs = genai_attrs_flatten(member(scope, "attributes"));
    struct genai_origin o = {resource, str(scope, "name"), str(scope, "version"), scope_attrs};
    for (const cJSON *js = spans ? spans->child : NULL; js; js = js->next)
        decode_span(w, &o, js);
    cJSON_Delete(scope_attrs);
}

int otlp_traces_decode(const cJSON *req, struct ingest_batch *out, struct otlp_result *res)
{
    struct walk w = {out, res, 0};
    const cJSON *rs = member(req, "resourceSpans");
    long ri = 0, si = 0;
    memset(res, 0, sizeof(*res));
    if (!cJSON_IsObject(req) || (rs && !cJSON_IsNull(rs) && !cJSON_IsArray(rs))) {
        note(res, cJSON_IsObject(req) ? "resourceSpans is not an array"
                                      : "request is not a JSON object");
        return LT_INVALID_INPUT;
    }
    for (const cJSON *r = rs ? rs->child : NULL; r; r = r->next, ri++) {
        cJSON *resource = genai_attrs_flatten(member(member(r, "resource"), "attributes"));
        const cJSON *sss = array_of(r, "scopeSpans", "resourceSpans", ri, res);
        for (const cJSON *ss = sss ? sss->child : NULL; ss; ss = ss->next, si++)
            decode_scope_spans(&w, resource, ss, si);
        cJSON_Delete(resource);
    }
    return LT_OK;
}

/* ---- logs: GenAI message events ---- */

#define EV_CHOICE "gen_ai.choice"
#define EV_DETAILS "gen_ai.client.inference.operation.details"

static const char *const role_events[][2] = {
    {"gen_ai.system.message", "system"},
    {"gen_ai.user.message", "user"},
    {"gen_ai.assistant.message", "assistant"},
    {"gen_ai.tool.message", "tool"},
};

struct logwalk {
    struct ingest_batch *out;
    struct otlp_result *res;
    const char *project; /* of the current resource, borrowed; NULL = default */
    long index;          /* of the next log record, in request order */
    int seq;             /* of the next message, in request order */
};

struct logid {
    char trace[33];
    char span[17];
    int64_t time_ns;
};

/* The role an event name stands for; NULL when it is not a role event. */
static const char *event_role(const char *name)
{
    for (size_t i = 0; i < sizeof(role_events) / sizeof(role_events[0]); i++)
        if (strcmp(name, role_events[i][0]) == 0)
            return role_events[i][1];
    return NULL;
}

/* eventName, else the (last) string attribute event.name of older emitters. */
static const char *event_name(const cJSON *rec)
{
    const char *n = str(rec, "eventName");
    const cJSON *attrs = member(rec, "attributes");
    if (n && *n)
        return n;
    n = NULL;
    for (const cJSON *kv = cJSON_IsArray(attrs) ? attrs->child : NULL; kv; kv = kv->next)
        if (str(kv, "key") && strcmp(str(kv, "key"), "event.name") == 0)
            n = str(member(kv, "value"), "stringValue");
    return n;
}

static void emit(struct logwalk *w, const struct logid *id, int is_output, const cJSON *msg)
{
    struct rec_logmsg *r = ingest_add_logmsg(w->out);
    r->project = xstrdup(w->project);
    memcpy(r->trace_id, id->trace, sizeof(r->trace_id));
    memcpy(r->span_id, id->span, sizeof(r->span_id));
    r->time_ns = id->time_ns;
    r->seq = w->seq++;
    r->is_output = is_output;
    r->message = jsonx_print(msg);
    w->res->accepted++;
}

static void emit_all(struct logwalk *w, const struct logid *id, int is_output, const cJSON *msgs)
{
    for (const cJSON *m = msgs ? msgs->child : NULL; m; m = m->next)
        emit(w, id, is_output, m);
}

/* gen_ai.choice: body {index, finish_reason, message}; "index" kept when > 0. */
static void choice_messages(const cJSON *body, cJSON *msgs)
{
    int64_t ix;
    cJSON *empty = cJSON_CreateObject();
    if (!empty ||
        !genai_message_add(msgs, cJSON_IsObject(body) || cJSON_IsString(body) ? body : empty,
                           "assistant")) {
        cJSON_Delete(empty);
        return;
    }
    cJSON_Delete(empty);
    cJSON *last = msgs->child->prev; /* cJSON keeps the last element there */
    if (jsonx_member_int64(body, "index", &ix) == 0 && ix > 0)
        cJSON_AddItemToObject(last, "index", jsonx_int64_node(ix));
}

/* 1.28-1.36 role events: body {content, role?, tool_calls?, id?}. */
static void role_messages(const char *role, cJSON *body, cJSON *msgs)
{
    cJSON *empty;
    if (cJSON_IsObject(body) && strcmp(role, "tool") == 0 && str(body, "id") &&
        !member(body, "tool_call_id"))
        cJSON_AddItemToObject(body, "tool_call_id", cJSON_CreateString(str(body, "id")));
    if (cJSON_IsObject(body) || cJSON_IsString(body)) {
        genai_message_add(msgs, body, role);
    } else if ((empty = cJSON_CreateObject())) {
        genai_message_add(msgs, empty, role);
        cJSON_Delete(empty);
    }
}

/* >= 1.37: the messages travel as attributes of one event. */
static void details_messages(struct logwalk *w, const struct logid *id, const cJSON *rec)
{
    cJSON *attrs = genai_attrs_flatten(member(rec, "attributes"));
    cJSON *sys = genai_system_message(member(attrs, "gen_ai.system_instructions"));
    cJSON *in = genai_messages(member(attrs, "gen_ai.input.messages"), "user");
    cJSON *outs = genai_messages(member(attrs, "gen_ai.output.messages"), "assistant");
    if (sys)
        emit(w, id, 0, sys);
    emit_all(w, id, 0, in);
    emit_all(w, id, 1, outs);
    cJSON_Delete(sys);
    cJSON_Delete(in);
    cJSON_Delete(outs);
    cJSON_Delete(attrs);
}

static int64_t record_time(const cJSON *rec)
{
    int64_t t;
    if (jsonx_member_int64(rec, "timeUnixNano", &t) == 0 && t > 0)
        return t;
    if (jsonx_member_int64(rec, "observedTimeUnixNano", &t) == 0 && t > 0)
        return t;
    return 0;
}

static void decode_record(struct logwalk *w, const cJSON *rec)
{
    const char *name = event_name(rec), *role = name ? event_role(name) : NULL;
    long idx = w->index++;
    char err[128], label[64];
    struct logid id;
    if (!name || (!role && strcmp(name, EV_CHOICE) != 0 && strcmp(name, EV_DETAILS) != 0))
        return; /* not a GenAI message event: ignored */
    if (genai_id(rec, "traceId", 16, 0, id.trace, err, sizeof(err)) ||
        genai_id(rec, "spanId", 8, 0, id.span, err, sizeof(err))) {
        w->res->rejected++;
        record_label(label, sizeof(label), "log record", idx, rec);
        note(w->res, "%s: %s", label, err);
        return;
    }
    id.time_ns = record_time(rec);
    if (strcmp(name, EV_DETAILS) == 0) {
        details_messages(w, &id, rec);
        return;
    }
    cJSON *msgs = cJSON_CreateArray(), *body = genai_anyvalue(member(rec, "body"));
    if (msgs && role)
        role_messages(role, body, msgs);
    else if (msgs)
        choice_messages(body, msgs);
    emit_all(w, &id, role ? 0 : 1, msgs);
    cJSON_Delete(msgs);
    cJSON_Delete(body);
}

int otlp_logs_decode(const cJSON *req, struct ingest_batch *out, struct otlp_result *res)
{
    struct logwalk w = {out, res, NULL, 0, 0};
    const cJSON *rl = member(req, "resourceLogs");
    long ri = 0, si = 0;
    memset(res, 0, sizeof(*res));
    if (!cJSON_IsObject(req) || (rl && !cJSON_IsNull(rl) && !cJSON_IsArray(rl))) {
        note(res,
             cJSON_IsObject(req) ? "resourceLogs is not an array" : "request is not a JSON object");
        return LT_INVALID_INPUT;
    }
    for (const cJSON *r = rl ? rl->child : NULL; r; r = r->next, ri++) {
        cJSON *resource = genai_attrs_flatten(member(member(r, "resource"), "attributes"));
        const cJSON *sls = array_of(r, "scopeLogs", "resourceLogs", ri, res);
        w.project = genai_project(resource);
        for (const cJSON *sl = sls ? sls->child : NULL; sl; sl = sl->next, si++) {
            const cJSON *recs = array_of(sl, "logRecords", "scopeLogs", si, res);
            for (const cJSON *rec = recs ? recs->child : NULL; rec; rec = rec->next)
                decode_record(&w, rec);
        }
        cJSON_Delete(resource);
    }
    return LT_OK;
}
