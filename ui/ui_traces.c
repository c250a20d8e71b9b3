/*
 * ui_traces: /traces (the LLM calls, filtered, searched and paged),
 * /traces/{trace_id} (the span tree as a waterfall and every LLM span as a
 * chat) and /sessions/{id} (one session's calls as one conversation).
 *
 * The list's state is all in the URL (q, from, to, project, model,
 * provider, status, user, session, version_set, sort, after). Pages are
 * keyset pages: 'after' is "KEY_SPANID" of the last row shown, where KEY is
 * the sort key (start_ns, cost in nano-USD or the duration in ns); rows are
 * ordered by (key, span_id) descending, so ties never repeat or vanish.
 * Newest first streams from the `spans` table in start order (its ORDER BY
 * start_ns DESC is consumed) and is cut early; cost and latency sort
 * every matching row.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/fts.h"
#include "ui/ui_chat.h"
#include "ui/ui_int.h"

#define PAGE_ROWS 50
/* Newest first, a page reads PAGE_ROWS + 2 + TIE_SLACK rows in start
 * order before sorting them by (start, span_id): the page, the row after
 * it (is there a next page?), the cursor row itself, and spans that start
 * in the same nanosecond as the page's first or last (a tie; in practice
 * none, TIE_SLACK of them are allowed for). */
#define TIE_SLACK 8

enum sort_by { SORT_TIME, SORT_COST, SORT_LATENCY };

/* The filters that are plain equality on a column: URL name, column. */
static const struct {
    const char *param, *column;
} eq_filters[] = {
    {"project", "project"},         {"model", "model"},  {"provider", "provider"},
    {"status", "status"},           {"user", "user_id"}, {"session", "session_id"},
    {"version_set", "version_set"},
};
#define NEQ (sizeof(eq_filters) / sizeof(eq_filters[0]))

static const char *const statuses[] = {"ok", "error", "degraded", "blocked", "cancelled"};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

struct tfilter {
    char q[FTS_MAX_QUERY + 1];
    char v[NEQ][UI_VALUE_MAX];
    char from[64], to[64], sort[16], after[96];
    int64_t from_ns, to_ns;
    enum sort_by sort_by;
    int has_after;
    int64_t after_key;
    char after_id[17];
};

/* ---- filters from the URL ---------------------------------------------- */

static int parse_after(struct tfilter *f)
{
    char *sep = strchr(f->after, '_');
    if (!sep || strlen(sep + 1) != 16)
        return -1;
    for (const char *p = sep + 1; *p; p++)
        if (!strchr("0123456789abcdef", *p))
            return -1;
    *sep = '\0';
    char *end;
    f->after_key = strtoll(f->after, &end, 10);
    int bad = end == f->after || *end;
    *sep = '_';
    memcpy(f->after_id, sep + 1, 17);
    return bad ? -1 : 0;
}

static int parse_when(struct ui_req *r, const char *name, char *buf, size_t n, int64_t *ns)
{
    int got = ui_param(r, name, buf, n);
    if (got < 0 || (got && time_parse_when(buf, r->now_ns, ns) != 0)) {
        snprintf(r->err, sizeof(r->err),
                 "'%s' is not a time: use ISO 8601 (2026-11-30 or 2026-11-30T12:00:00Z), unix ns, "
                 "or a duration before now such as 24h or 7d",
                 name);
        return -1;
    }
    return 0;
}

static int is_status(const char *s)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (strcmp(s, statuses[i]) == 0)
            return 1;
    return 0;
}

/* Read and check every filter; -1 with a message for the user in r->err. */
static int filters_parse(struct ui_req *r, struct tfilter *f)
{
    f->from_ns = INT64_MIN;
    f->to_ns = INT64_MAX;
    if (ui_param(r, "q", f->q, sizeof(f->q)) < 0)
        return snprintf(r->err, sizeof(r->err), "the search is too long (at most %d bytes)",
                        FTS_MAX_QUERY),
               -1;
    for (size_t i = 0; i < NEQ; i++)
        if (ui_param(r, eq_filters[i].param, f->v[i], UI_VALUE_MAX) < 0)
            return snprintf(r->err, sizeof(r->err), "'%s' is too long (at most %d bytes)",
                            eq_filters[i].param, UI_VALUE_MAX - 1),
                   -1;
    if (f->v[3][0] && !is_status(f->v[3]))
        return snprintf(r->err, sizeof(r->err),
                        "status must be one of ok, error, degraded, blocked, cancelled"),
               -1;
    if (parse_when(r, "from", f->from, sizeof(f->from), &f->from_ns) ||
        parse_when(r, "to", f->to, sizeof(f->to), &f->to_ns))
        return -1;
    if (ui_param(r, "sort", f->sort, sizeof(f->sort)) < 0 ||
        (f->sort[0] && strcmp(f->sort, "time") && strcmp(f->sort, "cost") &&
         strcmp(f->sort, "latency")))
        return snprintf(r->err, sizeof(r->err), "sort must be time, cost or latency"), -1;
    f->sort_by = strcmp(f->sort, "cost") == 0      ? SORT_COST
                 : strcmp(f->sort, "latency") == 0 ? SORT_LATENCY
                                                   : SORT_TIME;
    int got = ui_param(r, "after", f->after, sizeof(f->after));
    if (got < 0 || (got && parse_after(f) != 0))
        return snprintf(r->err, sizeof(r->err), "'after' is not a page position"), -1;
    f->has_after = got;
    return 0;
}

/* The query string of 'f' (without 'after'), URL-encoded, into 'out'. */
static int filters_qs(const struct tfilter *f, struct buf *out)
{
    int rc = 0;
    size_t encn = 3 * FTS_MAX_QUERY + 1;
    char *enc = xmalloc(encn); /* worker stacks are small */
    struct {
        const char *name, *value;
    } all[NEQ + 4] = {{"q", f->q}, {"from", f->from}, {"to", f->to}, {"sort", f->sort}};
    for (size_t i = 0; i < NEQ; i++)
        all[4 + i].name = eq_filters[i].param, all[4 + i].value = f->v[i];
    for (size_t i = 0; i < NEQ + 4; i++) {
        if (!all[i].value[0])
            continue;
        mg_url_encode(all[i].value, enc, encn);
        rc |= buf_printf(out, "%s%s=%s", out->len ? "&" : "", all[i].name, enc);
    }
    free(enc);
    return rc;
}

/* The filters back into the view, so the form shows what was asked. */
static void filters_view(struct ui_req *r, const struct tfilter *f)
{
    cJSON *fv = cJSON_AddObjectToObject(r->view, "filters");
    ui_add_str(fv, "q", f->q);
    ui_add_str(fv, "from", f->from);
    ui_add_str(fv, "to", f->to);
    for (size_t i = 0; i < NEQ; i++)
        ui_add_str(fv, eq_filters[i].param, f->v[i]);
    cJSON_AddBoolToObject(fv, "sort_time", f->sort_by == SORT_TIME);
    cJSON_AddBoolToObject(fv, "sort_cost", f->sort_by == SORT_COST);
    cJSON_AddBoolToObject(fv, "sort_latency", f->sort_by == SORT_LATENCY);
    cJSON *st = cJSON_AddArrayToObject(fv, "statuses");
    for (size_t i = 0; i < NSTATUS; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "value", statuses[i]);
        cJSON_AddBoolToObject(o, "selected", strcmp(f->v[3], statuses[i]) == 0);
        cJSON_AddItemToArray(st, o);
    }
}

/* ---- the choices of the select boxes ----------------------------------- */

static void add_option(cJSON *list, const char *value, const char *selected)
{
    if (!*value)
        return;
    cJSON *o;
    cJSON_ArrayForEach(o, list)
    {
        if (strcmp(cJSON_GetObjectItem(o, "value")->valuestring, value) == 0)
            return;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "value", value);
    cJSON_AddBoolToObject(o, "selected", strcmp(value, selected) == 0);
    cJSON_AddItemToArray(list, o);
}

/* The (project, model, provider, version_set) combinations of the daily
 * rollup as a JSON array of 4-string arrays (caller frees), or NULL. */
static cJSON *read_choices(struct ui_req *r, sqlite3 *db)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT DISTINCT project, model, provider, version_set"
                                  " FROM rollup_daily ORDER BY 1, 2, 3, 4");
    if (!st)
        return NULL;
    cJSON *rows = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < 4; i++)
            cJSON_AddItemToArray(row, cJSON_CreateString(ui_col_text(st, i)));
        cJSON_AddItemToArray(rows, row);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return rows;
    cJSON_Delete(rows);
    snprintf(r->err, sizeof(r->err), "the store cannot list the filters");
    return NULL;
}

/* The combinations, read at most every UI_CHOICES_TTL_NS (the rollup view
 * costs ~9 ms on a month of traffic; a new model shows in the select boxes
 * within that time). Caller frees. */
static cJSON *choices(struct ui_req *r, sqlite3 *db)
{
    struct ui *ui = r->ui;
    cJSON *copy = NULL;
    pthread_mutex_lock(&ui->mu);
    if (ui->choices && r->now_ns - ui->choices_ns < UI_CHOICES_TTL_NS)
        copy = cJSON_Duplicate(ui->choices, 1);
    pthread_mutex_unlock(&ui->mu);
    if (copy)
        return copy;
    cJSON *fresh = read_choices(r, db);
    if (!fresh)
        return NULL;
    pthread_mutex_lock(&ui->mu);
    cJSON_Delete(ui->choices);
    ui->choices = cJSON_Duplicate(fresh, 1);
    ui->choices_ns = r->now_ns;
    pthread_mutex_unlock(&ui->mu);
    return fresh;
}

/* Projects, models, providers and version_sets seen, for the select boxes
 * (from the daily rollup, never a scan of spans). */
static int options_view(struct ui_req *r, sqlite3 *db, const struct tfilter *f)
{
    cJSON *rows = choices(r, db);
    if (!rows)
        return -1;
    cJSON *opt = cJSON_AddObjectToObject(r->view, "options");
    cJSON *lists[4] = {
        cJSON_AddArrayToObject(opt, "projects"), cJSON_AddArrayToObject(opt, "models"),
        cJSON_AddArrayToObject(opt, "providers"), cJSON_AddArrayToObject(opt, "version_sets")};
    const char *sel[4] = {f->v[0], f->v[1], f->v[2], f->v[6]};
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        for (int i = 0; i < 4; i++)
            add_option(lists[i], cJSON_GetArrayItem(row, i)->valuestring, sel[i]);
    }
    cJSON_Delete(rows);
    return 0;
}

/* ---- the list ---------------------------------------------------------- */

#define LIST_COLS                                                                                  \
    "trace_id, span_id, name, kind, project, model, provider, start_ns, latency_ms, ttft_ms,"      \
    " cost_usd, status, user_id, session_id, version_set, input_tokens, output_tokens,"            \
    " error_code"

/* The SQL of one page for 'f'; parameters are bound by bind_list in the
 * same order. */
static int list_sql(const struct tfilter *f, struct buf *q)
{
    static const char *const keys[] = {"start_ns", "coalesce(cost_nusd, -1)", "end_ns - start_ns"};
    const char *key = keys[f->sort_by];
    struct buf w;
    buf_init(&w, 0);
    int rc = buf_puts(&w, " WHERE kind IN ('llm', 'embedding')");
    for (size_t i = 0; i < NEQ; i++)
        if (f->v[i][0])
            rc |= buf_printf(&w, " AND %s = ?", eq_filters[i].column);
    rc |= buf_puts(&w, f->from_ns != INT64_MIN ? " AND start_ns >= ?" : "");
    rc |= buf_puts(&w, f->to_ns != INT64_MAX ? " AND start_ns <= ?" : "");
    rc |= buf_puts(&w, f->q[0] ? " AND search = ?" : "");
    if (f->sort_by == SORT_TIME) {
        rc |= buf_printf(q, "SELECT * FROM (SELECT " LIST_COLS ", %s AS k%s FROM spans%s%s", key,
                         f->q[0] ? ", search" : "", buf_str(&w),
                         f->has_after ? " AND start_ns <= ?" : "");
        rc |= buf_printf(q, " ORDER BY start_ns DESC LIMIT %d)%s", PAGE_ROWS + 2 + TIE_SLACK,
                         f->has_after ? " WHERE k < ? OR span_id < ?" : "");
    } else {
        rc |= buf_printf(q, "SELECT " LIST_COLS ", %s AS k%s FROM spans%s", key,
                         f->q[0] ? ", search" : "", buf_str(&w));
        rc |= buf_printf(q, "%s", f->has_after ? " AND (k < ? OR (k = ? AND span_id < ?))" : "");
    }
    rc |= buf_printf(q, " ORDER BY k DESC, span_id DESC LIMIT %d", PAGE_ROWS + 1);
    buf_release(&w);
    return rc;
}

static void bind_list(sqlite3_stmt *st, const struct tfilter *f)
{
    int n = 1;
    for (size_t i = 0; i < NEQ; i++)
        if (f->v[i][0])
            sqlite3_bind_text(st, n++, f->v[i], -1, SQLITE_STATIC);
    if (f->from_ns != INT64_MIN)
        sqlite3_bind_int64(st, n++, f->from_ns);
    if (f->to_ns != INT64_MAX)
        sqlite3_bind_int64(st, n++, f->to_ns);
    if (f->q[0])
        sqlite3_bind_text(st, n++, f->q, -1, SQLITE_STATIC);
    if (!f->has_after)
        return;
    /* time: start_ns <= key, then k < key OR span_id < id; else
     * k < key OR (k = key AND span_id < id) */
    sqlite3_bind_int64(st, n++, f->after_key);
    sqlite3_bind_int64(st, n++, f->after_key);
    sqlite3_bind_text(st, n, f->after_id, -1, SQLITE_STATIC);
}

/* One row of the list as a view object. */
static cJSON *row_view(sqlite3_stmt *st, int searched)
{
    char s[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "trace_id", ui_col_text(st, 0));
    cJSON_AddStringToObject(o, "span_id", ui_col_text(st, 1));
    cJSON_AddStringToObject(o, "name", ui_col_text(st, 2));
    cJSON_AddStringToObject(o, "kind", ui_col_text(st, 3));
    cJSON_AddStringToObject(o, "project", ui_col_text(st, 4));
    ui_add_str(o, "model", ui_col_text(st, 5));
    ui_add_str(o, "provider", ui_col_text(st, 6));
    cJSON_AddStringToObject(o, "time", ui_fmt_time(s, sizeof(s), sqlite3_column_int64(st, 7)));
    cJSON_AddStringToObject(o, "latency", ui_fmt_ms(s, sizeof(s), ui_col_num(st, 8)));
    if (!isnan(ui_col_num(st, 9)))
        cJSON_AddStringToObject(o, "ttft", ui_fmt_ms(s, sizeof(s), ui_col_num(st, 9)));
    cJSON_AddStringToObject(o, "cost", ui_fmt_usd(s, sizeof(s), ui_col_num(st, 10)));
    cJSON_AddBoolToObject(o, "unpriced", isnan(ui_col_num(st, 10)));
    cJSON_AddStringToObject(o, "status", ui_col_text(st, 11));
    cJSON_AddBoolToObject(o, "failed", strcmp(ui_col_text(st, 11), "ok") != 0);
    ui_add_str(o, "user", ui_col_text(st, 12));
    ui_add_str(o, "session", ui_col_text(st, 13));
    ui_add_url(o, "session_url", ui_col_text(st, 13));
    ui_add_str(o, "version_set", ui_col_text(st, 14));
    if (sqlite3_column_type(st, 15) != SQLITE_NULL)
        cJSON_AddStringToObject(o, "tokens_in", ui_fmt_count(s, sizeof(s), ui_col_num(st, 15)));
    if (sqlite3_column_type(st, 16) != SQLITE_NULL)
        cJSON_AddStringToObject(o, "tokens_out", ui_fmt_count(s, sizeof(s), ui_col_num(st, 16)));
    ui_add_str(o, "error_code", ui_col_text(st, 17));
    if (searched)
        ui_add_str(o, "snippet", ui_col_text(st, 19));
    return o;
}

/* Run the page's query; the rows go to the view, the next page's link too. */
static int list_view(struct ui_req *r, sqlite3 *db, const struct tfilter *f)
{
    struct buf q, qs;
    buf_init(&q, 0);
    buf_init(&qs, 0);
    int rc = list_sql(f, &q) | filters_qs(f, &qs);
    sqlite3_stmt *st = rc ? NULL : ui_prepare(r, db, buf_str(&q)); /* sets r->err */
    if (!st) {
        rc = -1;
        goto done;
    }
    bind_list(st, f);
    cJSON *rows = cJSON_AddArrayToObject(r->view, "rows");
    int n = 0;
    int64_t last_key = 0;
    char last_id[17] = "";
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < PAGE_ROWS) {
        cJSON_AddItemToArray(rows, row_view(st, f->q[0] != 0));
        last_key = sqlite3_column_int64(st, 18);
        snprintf(last_id, sizeof(last_id), "%s", ui_col_text(st, 1));
        n++;
    }
    if (rc == SQLITE_ROW) {
        char *next = xasprintf("/traces?%s%safter=%" PRId64 "_%s", buf_str(&qs), qs.len ? "&" : "",
                               last_key, last_id);
        cJSON_AddStringToObject(r->view, "next_href", next);
        free(next);
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        snprintf(r->err, sizeof(r->err), "the store cannot list the calls: %s", sqlite3_errmsg(db));
    cJSON_AddNumberToObject(r->view, "count", n);
    if (f->has_after) {
        char *first = xasprintf("/traces%s%s", qs.len ? "?" : "", buf_str(&qs));
        cJSON_AddStringToObject(r->view, "first_href", first);
        free(first);
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? 0 : -1;
done:
    buf_release(&q);
    buf_release(&qs);
    return rc;
}

/* A search the user typed that cannot run (no words in it): -1 with why. */
static int check_query(struct ui_req *r, sqlite3 *db, const char *q)
{
    struct fts_tok *tok = fts_tok_new(db);
    struct fts_query *fq = NULL;
    int rc = tok ? fts_query_parse(tok, q, &fq, r->err, sizeof(r->err)) : -1;
    fts_query_free(fq);
    fts_tok_free(tok);
    return rc == 0 ? 0 : -1;
}

int ui_h_traces(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "traces") != 0)
        return 405;
    struct tfilter *f = xcalloc(1, sizeof(*f));
    int bad = filters_parse(&r, f);
    filters_view(&r, f);
    sqlite3 *db = ui_req_db(&r);
    int status;
    if (!db)
        status = ui_fail(&r, 503, "%s", r.err);
    else if (options_view(&r, db, f) != 0)
        status = ui_fail(&r, 500, "%s", r.err);
    else if (bad || (f->q[0] && check_query(&r, db, f->q) != 0))
        status = ui_fail_in(&r, 400, "traces", "%s", r.err);
    else if (list_view(&r, db, f) != 0)
        status = ui_fail(&r, 500, "%s", r.err);
    else
        status = ui_page(&r, 200, "traces");
    free(f);
    ui_req_end(&r);
    return status;
}

/* ---- one trace --------------------------------------------------------- */

/* The id after 'prefix' in the path (CivetWeb has URL-decoded it), if it
 * is 'len' lowercase hex digits; len 0: any non-empty id shorter than 'n'. */
static int path_id(struct mg_connection *c, const char *prefix, size_t len, char *out, size_t n)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *uri = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    if (strncmp(uri, prefix, strlen(prefix)) != 0)
        return -1;
    const char *id = uri + strlen(prefix);
    size_t l = strlen(id);
    if (l == 0 || l >= n || (len && l != len))
        return -1;
    for (const char *p = id; len && *p; p++)
        if (!strchr("0123456789abcdef", *p))
            return -1;
    memcpy(out, id, l + 1);
    return 0;
}

int ui_h_trace(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "traces") != 0)
        return 405;
    char id[33];
    sqlite3 *db = NULL;
    int status;
    if (path_id(c, "/traces/", 32, id, sizeof(id)) != 0)
        status = ui_fail(&r, 400, "a trace id is 32 lowercase hex digits");
    else if (!(db = ui_req_db(&r)))
        status = ui_fail(&r, 503, "%s", r.err);
    else {
        int found = 0;
        if (ui_chat_trace(&r, db, id, &found) != 0)
            status = ui_fail(&r, 500, "%s", r.err);
        else if (!found)
            status = ui_fail(&r, 404, "no trace %s is stored", id);
        else {
            cJSON_AddBoolToObject(r.view, "can_replay", r.ui->replay != NULL);
            status = ui_page(&r, 200, "trace");
        }
    }
    ui_req_end(&r);
    return status;
}

int ui_h_session(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "traces") != 0)
        return 405;
    char dec[UI_VALUE_MAX];
    sqlite3 *db = NULL;
    int status;
    if (path_id(c, "/sessions/", 0, dec, sizeof(dec)) != 0)
        status = ui_fail(&r, 400, "a session id is 1 to %d bytes", UI_VALUE_MAX - 1);
    else if (!(db = ui_req_db(&r)))
        status = ui_fail(&r, 503, "%s", r.err);
    else {
        int found = 0;
        if (ui_chat_session(&r, db, dec, &found) != 0)
            status = ui_fail(&r, 500, "%s", r.err);
        else if (!found)
            status = ui_fail(&r, 404, "no call of session '%s' is stored", dec);
        else
            status = ui_page(&r, 200, "session");
    }
    ui_req_end(&r);
    return status;
}
