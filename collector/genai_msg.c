/*
 * genai_msg: the canonical message format (see genai.h). One canonicaliser
 * reads messages of every dialect (OTel parts, OpenAI chat and Responses
 * parts, Anthropic blocks, Vercel AI SDK parts, OpenInference after
 * unflattening) and of our own format, which it maps to itself: applying it
 * twice changes nothing. Tool calls move to "tool_calls", tool results become
 * "tool" messages, reasoning moves to "reasoning", all-text parts join into
 * one string. The recursion follows trees already depth-bounded by
 * jsonx_parse or the AnyValue flattener.
 */
#include "collector/genai.h"
#include "collector/genai_int.h"

#include <ctype.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/xmem.h"

const cJSON *genai_as_json(const cJSON *v, cJSON **owned)
{
    char err[96];
    *owned = NULL;
    if (!cJSON_IsString(v))
        return v;
    const char *s = v->valuestring;
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '{' && *s != '[' && *s != '"')
        return v;
    *owned = jsonx_parse(v->valuestring, strlen(v->valuestring), err, sizeof(err));
    return *owned ? *owned : v;
}

/* ---- the canonical message format ---- */

struct msg_acc {
    cJSON *parts;     /* canonical content parts */
    cJSON *calls;     /* canonical tool calls */
    cJSON *results;   /* [{"id":..., "content":...}] tool results */
    cJSON *reasoning; /* reasoning texts, joined when the message is emitted */
};

/* An empty text adds nothing (OpenAI sends content "" beside tool calls). */
static void add_text(cJSON *parts, const char *text)
{
    if (!*text)
        return;
    cJSON *p = jobj();
    jadd(p, "type", jstr("text"));
    jadd(p, "text", jstr(text));
    jpush(parts, p);
}

/* A text part holding the JSON text of 'v' (a number or bool as content). */
static void add_json_text(cJSON *parts, const cJSON *v)
{
    char *txt = jsonx_print(v);
    add_text(parts, txt);
    free(txt);
}

static void add_reasoning(struct msg_acc *acc, const char *text)
{
    if (*text)
        jpush(acc->reasoning, jstr(text));
}

/* The texts of 'list' (strings, or parts' "text") joined without separator;
 * NULL when 'list' holds nothing. Caller frees. One pass: no quadratic
 * copying however many pieces a message has. */
static char *join_texts(const cJSON *list)
{
    size_t len = 0;
    char *joined, *w;
    if (!has_items(list))
        return NULL;
    for (const cJSON *c = list->child; c; c = c->next)
        len += strlen(cJSON_IsString(c) ? c->valuestring : str(c, "text"));
    joined = w = xmalloc(len + 1);
    for (const cJSON *c = list->child; c; c = c->next) {
        const char *t = cJSON_IsString(c) ? c->valuestring : str(c, "text");
        size_t n = strlen(t);
        memcpy(w, t, n);
        w += n;
    }
    *w = '\0';
    return joined;
}

/* A canonical image part: a data: URL becomes mime_type + data. */
static cJSON *image_part(const char *url, const char *mime, const char *data)
{
    cJSON *p = jobj();
    const char *b64 = url && strncmp(url, "data:", 5) == 0 ? strstr(url, ";base64,") : NULL;
    jadd(p, "type", jstr("image"));
    if (b64) {
        char *m = xstrndup(url + 5, (size_t)(b64 - url - 5));
        jadd(p, "mime_type", jstr(m));
        free(m);
        jadd(p, "data", jstr(b64 + 8));
    } else if (url) {
        jadd(p, "url", jstr(url));
    } else {
        if (mime)
            jadd(p, "mime_type", jstr(mime));
        jadd(p, "data", jstr(data));
    }
    return p;
}

/* Image parts of OpenAI, Anthropic, Vercel, OTel and our own shape; NULL when
 * 'p' is not an image we understand. */
static cJSON *image_of(const cJSON *p, const char *type)
{
    const cJSON *src = member(p, "source"), *iu = member(p, "image_url");
    const char *url = NULL, *data = NULL, *mime = NULL, *img;
    if (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0) {
        url = cJSON_IsString(iu) ? iu->valuestring : str(iu, "url");
    } else if (strcmp(type, "blob") == 0 || strcmp(type, "uri") == 0 || strcmp(type, "file") == 0) {
        const char *mod = str(p, "modality");
        mime = str(p, "mime_type") ? str(p, "mime_type") : str(p, "mediaType");
        if (!(mod && strcmp(mod, "image") == 0) && !(mime && strncmp(mime, "image/", 6) == 0))
            return NULL;
        url = str(p, "uri");
        data = str(p, "content") ? str(p, "content") : str(p, "data");
    } else if (strcmp(type, "image") != 0) {
        return NULL;
    } else if (src) { /* Anthropic */
        url = str(src, "url");
        data = str(src, "data");
        mime = str(src, "media_type");
    } else { /* canonical or Vercel */
        url = str(p, "url");
        data = str(p, "data");
        mime = str(p, "mime_type") ? str(p, "mime_type") : str(p, "mimeType");
        if (!mime)
            mime = str(p, "mediaType");
        if ((img = str(p, "image")) && (strstr(img, "://") || strncmp(img, "data:", 5) == 0))
            url = img;
        else if (img)
            data = img;
    }
    return url || data ? image_part(url, mime, data) : NULL;
}

/* Tool-call arguments: a JSON-encoded string becomes its value when it parses. */
static cJSON *arguments_of(const cJSON *v)
{
    char err[96];
    if (!cJSON_IsString(v))
        return jdup(v);
    cJSON *j = jsonx_parse(v->valuestring, strlen(v->valuestring), err, sizeof(err));
    return j ? j : jstr(v->valuestring);
}

/* {id, name, arguments} from OpenAI, OTel, Anthropic, Vercel or canonical calls. */
static cJSON *tool_call_of(const cJSON *tc)
{
    const cJSON *fn = member(tc, "function"), *args = member(fn, "arguments");
    const char *id = str(tc, "id"), *name = str(fn, "name");
    cJSON *out = jobj();
    if (!id)
        id = str(tc, "toolCallId") ? str(tc, "toolCallId") : str(tc, "call_id");
    if (!name)
        name = str(tc, "name") ? str(tc, "name") : str(tc, "toolName");
    if (!args)
        args = member(tc, "arguments") ? member(tc, "arguments") : member(tc, "args");
    if (!args)
        args = member(tc, "input");
    if (id)
        jadd(out, "id", jstr(id));
    if (name)
        jadd(out, "name", jstr(name));
    if (args)
        jadd(out, "arguments", arguments_of(args));
    return out;
}

static cJSON *content_of(cJSON *parts);

/* The content of a tool result: text stays text, parts are canonicalised,
 * any other value is kept as its JSON text. */
static cJSON *result_content(const cJSON *v)
{
    const char *t = str(v, "type");
    if (t && member(v, "value") && (strstr(t, "json") || strstr(t, "text")))
        v = member(v, "value"); /* Vercel v5 {"type":"json","value":...} */
    if (!v)
        return jstr("");
    if (cJSON_IsString(v))
        return jstr(v->valuestring);
    if (cJSON_IsArray(v) && v->child && str(v->child, "type")) {
        cJSON *wrap = jobj(), *out = jarr();
        cJSON_AddItemReferenceToObject(wrap, "content", (cJSON *)v);
        genai_message_add(out, wrap, "tool");
        cJSON *msg = out->child;
        cJSON *c = msg ? cJSON_DetachItemFromObjectCaseSensitive(msg, "content") : NULL;
        cJSON_Delete(wrap);
        cJSON_Delete(out);
        return c ? c : jstr("");
    }
    char *txt = jsonx_print(v);
    cJSON *s = jstr(txt);
    free(txt);
    return s;
}

static int type_is(const char *type, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(type, *names) == 0)
            return 1;
    return 0;
}

static const char *const text_types[] = {"text", "input_text", "output_text", NULL};
static const char *const reasoning_types[] = {"reasoning", "thinking", NULL};
static const char *const call_types[] = {"tool_call", "tool-call", "tool_use", "function_call",
                                         NULL};
static const char *const result_types[] = {"tool_call_response", "tool-result", "tool_result",
                                           "function_call_output", NULL};

static void add_result(struct msg_acc *acc, const cJSON *p)
{
    static const char *const ids[] = {"id", "toolCallId", "tool_use_id", "call_id", NULL};
    static const char *const vals[] = {"response", "result", "output", "content", NULL};
    const cJSON *v = NULL;
    const char *id = NULL;
    for (int i = 0; !id && ids[i]; i++)
        id = str(p, ids[i]);
    for (int i = 0; !v && vals[i]; i++)
        v = member(p, vals[i]);
    cJSON *r = jobj();
    if (id)
        jadd(r, "id", jstr(id));
    jadd(r, "content", result_content(v));
    jpush(acc->results, r);
}

/* Sort one content part of any dialect into 'acc'. */
static void add_part(struct msg_acc *acc, const cJSON *p)
{
    const char *type = str(p, "type"), *t;
    cJSON *img;
    if (cJSON_IsString(p)) {
        add_text(acc->parts, p->valuestring);
    } else if (!type) {
        jpush(acc->parts, jdup(p));
    } else if (type_is(type, text_types) && ((t = str(p, "text")) || (t = str(p, "content")))) {
        add_text(acc->parts, t);
    } else if (type_is(type, reasoning_types) &&
               ((t = str(p, "content")) || (t = str(p, "text")) || (t = str(p, "thinking")))) {
        add_reasoning(acc, t);
    } else if (type_is(type, call_types)) {
        jpush(acc->calls, tool_call_of(p));
    } else if (type_is(type, result_types)) {
        add_result(acc, p);
    } else if ((img = image_of(p, type))) {
        jpush(acc->parts, img);
    } else {
        jpush(acc->parts, jdup(p));
    }
}

/* Content from canonical parts (takes 'parts'): all text joins into one
 * string; otherwise the array itself; NULL when there are no parts. */
static cJSON *content_of(cJSON *parts)
{
    char *joined;
    cJSON *s;
    if (!has_items(parts)) {
        cJSON_Delete(parts);
        return NULL;
    }
    for (const cJSON *c = parts->child; c; c = c->next) {
        const char *type = str(c, "type");
        if (!type || strcmp(type, "text") != 0 || !str(c, "text"))
            return parts;
    }
    joined = join_texts(parts);
    s = jstr(joined);
    free(joined);
    cJSON_Delete(parts);
    return s;
}

static void gather(struct msg_acc *acc, const cJSON *m)
{
    const cJSON *content = member(m, "parts"), *tcs = member(m, "tool_calls"), *fc;
    const char *r;
    if (!content)
        content = member(m, "content");
    if (cJSON_IsArray(content))
        for (const cJSON *p = content->child; p; p = p->next)
            add_part(acc, p);
    else if (cJSON_IsString(content) || cJSON_IsObject(content))
        add_part(acc, content);
    else if (cJSON_IsNumber(content) || cJSON_IsBool(content))
        add_json_text(acc->parts, content);
    if (cJSON_IsArray(tcs))
        for (const cJSON *tc = tcs->child; tc; tc = tc->next)
            jpush(acc->calls, tool_call_of(tc));
    if (cJSON_IsObject(fc = member(m, "function_call")))
        jpush(acc->calls, tool_call_of(fc));
    if ((r = str(m, "reasoning")) || (r = str(m, "reasoning_content")))
        add_reasoning(acc, r);
}

/* Emit one "tool" message per gathered tool result. */
static int emit_results(cJSON *out, const struct msg_acc *acc)
{
    int n = 0;
    for (const cJSON *r = acc->results->child; r; r = r->next, n++) {
        cJSON *msg = jobj();
        jadd(msg, "role", jstr("tool"));
        jadd(msg, "content", jdup(member(r, "content")));
        if (str(r, "id"))
            jadd(msg, "tool_call_id", jstr(str(r, "id")));
        jpush(out, msg);
    }
    return n;
}

static void emit_main(cJSON *out, const cJSON *m, const char *role, struct msg_acc *acc)
{
    cJSON *msg = jobj(), *content = content_of(acc->parts);
    acc->parts = NULL;
    jadd(msg, "role", jstr(role));
    if (content)
        jadd(msg, "content", content);
    else
        jadd(msg, "content", has_items(acc->calls) ? cJSON_CreateNull() : jstr(""));
    if (str(m, "name"))
        jadd(msg, "name", jstr(str(m, "name")));
    if (has_items(acc->calls)) {
        jadd(msg, "tool_calls", acc->calls);
        acc->calls = NULL;
    }
    if (str(m, "tool_call_id"))
        jadd(msg, "tool_call_id", jstr(str(m, "tool_call_id")));
    if (has_items(acc->reasoning)) {
        char *r = join_texts(acc->reasoning);
        jadd(msg, "reasoning", jstr(r));
        free(r);
    }
    if (str(m, "finish_reason"))
        jadd(msg, "finish_reason", jstr(str(m, "finish_reason")));
    jpush(out, msg);
}

static int add_wrapped(cJSON *out, const cJSON *m, const char *default_role)
{
    int n = genai_message_add(out, member(m, "message"), default_role);
    cJSON *last = n ? last_item(out) : NULL;
    if (last && str(m, "finish_reason") && !member(last, "finish_reason"))
        jadd(last, "finish_reason", jstr(str(m, "finish_reason")));
    return n;
}

int genai_message_add(cJSON *out, const cJSON *m, const char *default_role)
{
    struct msg_acc acc;
    const char *role = str(m, "role");
    int n;
    if (genai_is_wrapper(m))
        return add_wrapped(out, m, default_role);
    if (!cJSON_IsObject(m) && !cJSON_IsString(m))
        return 0;
    acc = (struct msg_acc){jarr(), jarr(), jarr(), jarr()};
    if (cJSON_IsString(m))
        add_text(acc.parts, m->valuestring);
    else
        gather(&acc, m);
    n = emit_results(out, &acc);
    if (!n || has_items(acc.parts) || has_items(acc.calls) || has_items(acc.reasoning)) {
        emit_main(out, m, role && *role ? role : default_role, &acc);
        n++;
    }
    cJSON_Delete(acc.parts);
    cJSON_Delete(acc.calls);
    cJSON_Delete(acc.results);
    cJSON_Delete(acc.reasoning);
    return n;
}

cJSON *genai_messages(const cJSON *value, const char *default_role)
{
    cJSON *owned, *out = jarr();
    const cJSON *v = genai_as_json(value, &owned);
    if (cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c; c = c->next)
            genai_message_add(out, c, default_role);
    } else if (cJSON_IsObject(v) || (cJSON_IsString(v) && *v->valuestring)) {
        genai_message_add(out, v, default_role);
    }
    cJSON_Delete(owned);
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

cJSON *genai_system_message(const cJSON *value)
{
    cJSON *owned, *wrap = jobj(), *out = jarr(), *msg = NULL;
    const cJSON *v = genai_as_json(value, &owned);
    int empty = !v || (cJSON_IsString(v) && !*v->valuestring) || (cJSON_IsArray(v) && !v->child) ||
                cJSON_IsNull(v);
    if (!empty && cJSON_IsObject(v) && member(v, "role")) {
        genai_message_add(out, v, "system");
    } else if (!empty) {
        jadd(wrap, "role", jstr("system"));
        cJSON_AddItemReferenceToObject(wrap, "content", (cJSON *)v);
        genai_message_add(out, wrap, "system");
    }
    if (out->child)
        msg = cJSON_DetachItemViaPointer(out, out->child);
    cJSON_Delete(out);
    cJSON_Delete(wrap);
    cJSON_Delete(owned);
    return msg;
}
