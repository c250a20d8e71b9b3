/*
 * ui_replays: the replays pages (DESIGN.md §8 "replays (side by side,
 * diff)"): GET /replays lists them (?batch=ID: one batch), GET
 * /replays/{id} shows the original and the replay side by side with a word
 * diff of the outputs and every figure's delta, and POST /replays (the
 * trace page's form) runs a replay through the ui_replay_fn the server's
 * owner installed and answers 303 to its page.
 *
 * Cross-site request forgery: the POST spends money (it calls a provider),
 * so it is refused (403) unless the browser says the form is ours:
 * Sec-Fetch-Site is "same-origin" or "none" (typed by the user), or the
 * Origin header's host[:port] equals the Host header. A request with
 * neither header (a non-browser client) is refused too: there is a CLI for
 * those. Everything shown comes from traffic and is escaped ({{ }}).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/replays.h"
#include "ui/diff.h"
#include "ui/ui_int.h"

#define FORM_MAX 8192 /* a replay form's body */
#define LIST_MAX 200
#define SPAN_REPLAYS_MAX 20 /* replays listed under a span of the trace page */
#define PROMPT_REF_MAX 160

/* ---- figures ---------------------------------------------------------------------- */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* 'v' of 'kind' ('t' tokens, '$' USD, 'm' ms, 's' score) for a view. */
static const char *fmt(char *dst, size_t n, double v, char kind)
{
    if (isnan(v))
        return snprintf(dst, n, "%s", kind == '$' ? "unpriced" : "–"), dst;
    if (kind == 't')
        return ui_fmt_count(dst, n, v);
    if (kind == '$')
        return ui_fmt_usd(dst, n, v);
    if (kind == 'm')
        return ui_fmt_ms(dst, n, v);
    snprintf(dst, n, "%.3f", v);
    return dst;
}

static const char *fmt_delta(char *dst, size_t n, double d, char kind)
{
    if (isnan(d))
        return snprintf(dst, n, "–"), dst;
    char body[48];
    fmt(body, sizeof(body), fabs(d), kind);
    snprintf(dst, n, "%s%s", d < 0 ? "−" : "+", body);
    return dst;
}

static void add_row(cJSON *rows, const char *label, const cJSON *a, const cJSON *b, const cJSON *d,
                    const char *key, char kind)
{
    char x[64];
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "label", label);
    cJSON_AddStringToObject(r, "original", fmt(x, sizeof(x), num(a, key), kind));
    cJSON_AddStringToObject(r, "replay", fmt(x, sizeof(x), num(b, key), kind));
    double dv = num(d, key);
    cJSON_AddStringToObject(r, "delta", fmt_delta(x, sizeof(x), dv, kind));
    if (kind == 's' && !isnan(dv) && fabs(dv) > 1e-9)
        cJSON_AddStringToObject(r, "delta_class", dv > 0 ? "better" : "worse");
    cJSON_AddItemToArray(rows, r);
}

static void figure_rows(cJSON *v, const cJSON *s)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "original");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(s, "replay");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "delta");
    cJSON *rows = cJSON_AddArrayToObject(v, "rows");
    add_row(rows, "Input tokens", a, b, d, "input_tokens", 't');
    add_row(rows, "Output tokens", a, b, d, "output_tokens", 't');
    add_row(rows, "Cost", a, b, d, "cost_usd", '$');
    add_row(rows, "Latency", a, b, d, "latency_ms", 'm');
    const cJSON *name;
    cJSON_ArrayForEach(name, cJSON_GetObjectItemCaseSensitive(s, "scorers"))
    {
        if (!cJSON_IsString(name))
            continue;
        char label[160];
        snprintf(label, sizeof(label), "Score: %s", name->valuestring);
        add_row(rows, label, cJSON_GetObjectItemCaseSensitive(a, "scores"),
                cJSON_GetObjectItemCaseSensitive(b, "scores"),
                cJSON_GetObjectItemCaseSensitive(d, "scores"), name->valuestring, 's');
    }
    add_row(rows, "Score (weighted)", a, b, d, "score", 's');
}

/* ---- the diff ---------------------------------------------------------------------- */

static void diff_view(cJSON *v, const char *a, const char *b)
{
    struct diff d;
    diff_words(a, b, &d);
    cJSON *arr = cJSON_AddArrayToObject(v, "diff");
    static const char *const keys[] = {"same", "del", "add"};
    for (size_t i = 0; i < d.n; i++) {
        cJSON *p = cJSON_CreateObject();
        char *t = xstrndup(d.pieces[i].text, d.pieces[i].len);
        cJSON_AddStringToObject(p, keys[d.pieces[i].op], t);
        free(t);
        cJSON_AddItemToArray(arr, p);
    }
    char s[160];
    snprintf(s, sizeof(s), "%zu words kept, %zu removed, %zu added", d.same_words, d.del_words,
             d.add_words);
    cJSON_AddStringToObject(v, "diff_stats", s);
    cJSON_AddBoolToObject(v, "diff_truncated", d.truncated);
    diff_release(&d);
}

/* ---- one replay -------------------------------------------------------------------- */

static void side_view(cJSON *v, const char *prefix, const cJSON *side)
{
    char key[64];
    static const char *const strs[] = {"prompt", "model", "output", "error", "trace_id", "span_id"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        snprintf(key, sizeof(key), "%s_%s", prefix, strs[i]);
        ui_add_str(v, key, jsonx_str(side, strs[i]));
    }
}

static void replay_view(struct ui_req *r, const struct replays_row *row, const cJSON *s)
{
    cJSON *v = cJSON_AddObjectToObject(r->view, "replay");
    char t[64];
    cJSON_AddStringToObject(v, "id", row->id);
    cJSON_AddStringToObject(v, "time", ui_fmt_time(t, sizeof(t), row->created_ns));
    ui_add_str(v, "batch_id", row->batch_id);
    ui_add_str(v, "project", row->project);
    ui_add_str(v, "mode", row->mode);
    cJSON_AddBoolToObject(v, "system_swap", strcmp(row->mode, "system_swap") == 0);
    ui_add_str(v, "status", row->status);
    ui_add_str(v, "prompt", jsonx_str(s, "prompt"));
    ui_add_str(v, "upstream", row->upstream);
    ui_add_str(v, "orig_trace_id", row->orig_trace_id);
    ui_add_str(v, "orig_span_id", row->orig_span_id);
    ui_add_str(v, "new_trace_id", row->new_trace_id);
    ui_add_str(v, "new_span_id", row->new_span_id);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "original");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(s, "replay");
    side_view(v, "original", a);
    side_view(v, "replay", b);
    figure_rows(v, s);
    diff_view(v, jsonx_str(a, "output"), jsonx_str(b, "output"));
}

static int replay_path_id(struct mg_connection *c, char out[17])
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *uri = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    static const char prefix[] = "/replays/";
    if (strncmp(uri, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *id = uri + sizeof(prefix) - 1;
    if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
        return -1;
    memcpy(out, id, 17);
    return 0;
}

int ui_h_replay(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "replays") != 0)
        return 405;
    char id[17];
    sqlite3 *db = NULL;
    struct replays_row row;
    memset(&row, 0, sizeof(row));
    int status, found = 0;
    if (replay_path_id(c, id) != 0)
        status = ui_fail(&r, 400, "a replay id is 16 lowercase hex digits");
    else if (!(db = ui_req_db(&r)))
        status = ui_fail(&r, 503, "%s", r.err);
    else if ((found = replays_get(db, id, &row)) < 0)
        status = ui_fail(&r, 500, "the store cannot read the replay: %s", sqlite3_errmsg(db));
    else if (found == 0)
        status = ui_fail(&r, 404, "no replay %s is stored", id);
    else {
        cJSON *s = cJSON_Parse(row.summary);
        replay_view(&r, &row, s);
        cJSON_Delete(s);
        status = ui_page(&r, 200, "replay");
    }
    replays_row_release(&row);
    ui_req_end(&r);
    return status;
}

/* ---- the list ---------------------------------------------------------------------- */

static int on_row(void *ctx, const struct replays_row *row)
{
    cJSON *items = ctx;
    cJSON *o = cJSON_CreateObject();
    char t[64];
    cJSON_AddStringToObject(o, "id", row->id);
    cJSON_AddStringToObject(o, "time", ui_fmt_time(t, sizeof(t), row->created_ns));
    ui_add_str(o, "batch_id", row->batch_id);
    ui_add_str(o, "orig_trace_id", row->orig_trace_id);
    ui_add_str(o, "orig_span_id", row->orig_span_id);
    ui_add_str(o, "model", row->model);
    ui_add_str(o, "mode", row->mode);
    ui_add_str(o, "status", row->status);
    cJSON *s = cJSON_Parse(row->summary);
    ui_add_str(o, "prompt", jsonx_str(s, "prompt"));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "delta");
    cJSON_AddStringToObject(
        o, "score_original",
        fmt(t, sizeof(t), num(cJSON_GetObjectItemCaseSensitive(s, "original"), "score"), 's'));
    cJSON_AddStringToObject(
        o, "score_replay",
        fmt(t, sizeof(t), num(cJSON_GetObjectItemCaseSensitive(s, "replay"), "score"), 's'));
    cJSON_AddStringToObject(o, "score_delta", fmt_delta(t, sizeof(t), num(d, "score"), 's'));
    cJSON_AddStringToObject(o, "cost_delta", fmt_delta(t, sizeof(t), num(d, "cost_usd"), '$'));
    cJSON_Delete(s);
    cJSON_AddItemToArray(items, o);
    return 0;
}

static int list_page(struct ui_req *r)
{
    char batch[UI_VALUE_MAX];
    int has = ui_param(r, "batch", batch, sizeof(batch));
    if (has < 0 || (has && (strlen(batch) != 16 || strspn(batch, "0123456789abcdef") != 16)))
        return ui_fail(r, 400, "batch is a 16 hex digit id");
    sqlite3 *db = ui_req_db(r);
    if (!db)
        return ui_fail(r, 503, "%s", r->err);
    cJSON *items = cJSON_AddArrayToObject(r->view, "replays");
    if (has)
        cJSON_AddStringToObject(r->view, "batch", batch);
    if (replays_list(db, has ? batch : NULL, LIST_MAX, on_row, items) != 0)
        return ui_fail(r, 500, "the store cannot list replays: %s", sqlite3_errmsg(db));
    cJSON_AddBoolToObject(r->view, "empty", cJSON_GetArraySize(items) == 0);
    return ui_page(r, 200, "replays");
}

/* ---- the form ---------------------------------------------------------------------- */

/* 1 when the POST comes from our own page (see the file comment). */
static int same_origin(struct mg_connection *c)
{
    const char *site = mg_get_header(c, "Sec-Fetch-Site");
    if (site && (strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0))
        return 1;
    const char *origin = mg_get_header(c, "Origin"), *host = mg_get_header(c, "Host");
    const char *p = origin ? strstr(origin, "://") : NULL;
    return p && host && *host && strcmp(p + 3, host) == 0;
}

/* The form body (at most FORM_MAX bytes, with a Content-Length) into
 * 'body'; 0, or the status to answer. */
static int read_form(struct mg_connection *c, char *body, size_t n, size_t *len)
{
    long long cl = mg_get_request_info(c)->content_length;
    if (cl < 0)
        return 411;
    if ((size_t)cl >= n)
        return 413;
    size_t got = 0;
    while (got < (size_t)cl) {
        int k = mg_read(c, body + got, (size_t)cl - got);
        if (k <= 0)
            return 400;
        got += (size_t)k;
    }
    body[got] = '\0';
    *len = got;
    return 0;
}

static int form_var(const char *body, size_t len, const char *name, char *out, size_t n)
{
    int got = mg_get_var(body, len, name, out, n);
    if (got == -1)
        out[0] = '\0';
    return got < -1 ? -1 : 0;
}

static int hex_id(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

static int post_replay(struct ui_req *r, const char *body, size_t len)
{
    char trace[40], span[24], prompt[256], model[256];
    if (form_var(body, len, "trace_id", trace, sizeof(trace)) ||
        form_var(body, len, "span_id", span, sizeof(span)) ||
        form_var(body, len, "prompt", prompt, sizeof(prompt)) ||
        form_var(body, len, "model", model, sizeof(model)))
        return ui_fail(r, 400, "a form value is too long");
    if (!hex_id(trace, 32) || (*span && !hex_id(span, 16)))
        return ui_fail(r, 400, "the form names no stored span");
    if (!*prompt)
        return ui_fail(r, 400, "which prompt version? (NAME@VERSION)");
    char id[17] = "", err[512] = "";
    if (r->ui->replay(r->ui->replay_arg, trace, *span ? span : NULL, prompt, *model ? model : NULL,
                      id, err, sizeof(err)) != 0)
        return ui_fail(r, 400, "the replay did not run: %s", err);
    char loc[64];
    snprintf(loc, sizeof(loc), "/replays/%s", id);
    return ui_redirect(r->c, loc);
}

static int h_post(struct ui *ui, struct mg_connection *c)
{
    struct ui_req r;
    ui_req_begin_post(&r, ui, c, "replays");
    char *body = xmalloc(FORM_MAX);
    size_t len = 0;
    int status, rs;
    if (!ui->replay)
        status = ui_fail(&r, 404, "replays are not available on this server");
    else if (!same_origin(c))
        status = ui_fail(&r, 403, "cross-site form posts are refused");
    else if ((rs = read_form(c, body, FORM_MAX, &len)) != 0)
        status = ui_fail(&r, rs, "the form could not be read");
    else
        status = post_replay(&r, body, len);
    free(body);
    ui_req_end(&r);
    return status;
}

int ui_h_replays(struct mg_connection *c, void *cb)
{
    if (strcmp(mg_get_request_info(c)->request_method, "POST") == 0)
        return h_post(cb, c);
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "replays") != 0)
        return 405;
    int status = list_page(&r);
    ui_req_end(&r);
    return status;
}

/* ---- the trace page: a span's replays ---------------------------------------------- */

static int on_span_replay(void *ctx, const struct replays_row *row)
{
    cJSON *items = ctx;
    cJSON *o = cJSON_CreateObject();
    char t[64], p[PROMPT_REF_MAX];
    cJSON_AddStringToObject(o, "id", row->id);
    cJSON_AddStringToObject(o, "time", ui_fmt_time(t, sizeof(t), row->created_ns));
    snprintf(p, sizeof(p), "%s@%lld", row->prompt_name, (long long)row->prompt_version);
    cJSON_AddStringToObject(o, "prompt", p);
    ui_add_str(o, "status", row->status);
    cJSON_AddItemToArray(items, o);
    return 0;
}

int ui_replays_of_spans(struct ui_req *r, sqlite3 *db, cJSON *const *spans, int count)
{
    for (int i = 0; i < count; i++) {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spans[i], "replayable")))
            continue;
        const char *project = jsonx_str(spans[i], "project");
        const char *trace = jsonx_str(spans[i], "trace_id");
        const char *span = jsonx_str(spans[i], "span_id");
        if (!project || !trace || !span)
            continue;
        cJSON *items = cJSON_CreateArray();
        if (replays_of_span(db, project, trace, span, SPAN_REPLAYS_MAX, on_span_replay, items) !=
            0) {
            cJSON_Delete(items);
            snprintf(r->err, sizeof(r->err), "the store cannot read replays: %s",
                     sqlite3_errmsg(db));
            return -1;
        }
        if (cJSON_GetArraySize(items) == 0) {
            cJSON_Delete(items);
            continue;
        }
        cJSON_AddItemToObject(cJSON_AddObjectToObject(spans[i], "replays"), "items", items);
    }
    return 0;
}
