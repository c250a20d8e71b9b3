/*
 * ui_costs: the pages that read only the rollups, never a scan of spans:
 * / (the overview), /costs (spend by one dimension, by day, as a table, a
 * stacked chart and CSV) and /versions (every version_set's calls, cost,
 * tokens, latency and errors; two side by side; plus the mean of each
 * eval score over its spans, which ui_evals.c reads from the scores).
 *
 * "Calls" are LLM and embedding calls: rollup rows with a model. The user
 * and tenant rollups have no model column, so there every span of the user
 * counts ("spans"). Days are UTC days.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "ui/chart.h"
#include "ui/ui_int.h"

#define NS_PER_DAY 86400000000000LL
#define NS_PER_HOUR 3600000000000LL
#define MAX_GROUPS 1000 /* rows of a breakdown shown (the totals count them all) */
#define MAX_DAYS 400    /* days of a chart */

/* ---- shared ------------------------------------------------------------ */

enum day_style { DAY_LABEL, DAY_ISO }; /* "Nov 30" on a chart's axis; "2026-11-30" */

/* UTC day 'day' (days since the epoch) in 'style'. */
static const char *day_fmt(char *dst, size_t n, int64_t day, enum day_style style)
{
    time_t s = (time_t)(day * 86400);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(dst, n, style == DAY_ISO ? "%Y-%m-%d" : "%b %d", &tm) == 0)
        snprintf(dst, n, "?");
    return dst;
}

static void add_usd(cJSON *o, const char *name, double usd)
{
    char s[64];
    cJSON_AddStringToObject(o, name, ui_fmt_usd(s, sizeof(s), usd));
}

static void add_count(cJSON *o, const char *name, double v)
{
    char s[64];
    cJSON_AddStringToObject(o, name, ui_fmt_count(s, sizeof(s), v));
}

static void add_ms(cJSON *o, const char *name, double v)
{
    char s[64];
    cJSON_AddStringToObject(o, name, ui_fmt_ms(s, sizeof(s), v));
}

static void add_pct(cJSON *o, const char *name, double ratio)
{
    char s[64];
    cJSON_AddStringToObject(o, name, chart_format(s, sizeof(s), ratio, CHART_RATIO));
}

/* A stacked chart of 'nser' series over days [d0, d0 + ndays) from values
 * 'v' (nser × ndays, series-major), into the view as 'name'. */
static int add_chart(struct ui_req *r, const char *name, const char *title, int64_t d0, int ndays,
                     const char *const *names, const double *v, int nser)
{
    char(*labels)[16] = xcalloc((size_t)ndays, sizeof(*labels));
    const char **cats = xcalloc((size_t)ndays, sizeof(*cats));
    struct chart_series *ser = xcalloc((size_t)(nser ? nser : 1), sizeof(*ser));
    for (int d = 0; d < ndays; d++)
        cats[d] = day_fmt(labels[d], sizeof(labels[d]), d0 + d, DAY_LABEL);
    for (int i = 0; i < nser; i++)
        ser[i].name = names[i], ser[i].values = v + (size_t)i * (size_t)ndays;
    struct chart c = {.title = title,
                      .categories = cats,
                      .ncat = (size_t)ndays,
                      .series = ser,
                      .nseries = (size_t)nser,
                      .unit = CHART_USD,
                      .width = 900,
                      .height = 300};
    struct buf svg;
    buf_init(&svg, 4u << 20);
    int rc = chart_stacked_bars(&svg, &c);
    if (rc == 0)
        cJSON_AddStringToObject(r->view, name, buf_str(&svg));
    buf_release(&svg);
    free(ser);
    free(cats);
    free(labels);
    return rc ? -1 : 0;
}

/* ---- the overview ------------------------------------------------------ */

/* Spend, calls, errors and p95 since UTC day 'day' (days since the epoch;
 * the daily rollup: the hourly one has 24 times the rows). */
static int totals_since(struct ui_req *r, sqlite3 *db, int64_t day, cJSON *into)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT total(cost_nusd) / 1e9, total(calls), total(errors),"
                                  " total(unpriced),"
                                  " llmtap_hist_quantile(llmtap_hist_sum(latency_hist), 0.95)"
                                  " FROM rollup_daily WHERE day >= ?1 AND model <> ''");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, day);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        double calls = sqlite3_column_double(st, 1);
        add_usd(into, "spend", sqlite3_column_double(st, 0));
        add_count(into, "calls", calls);
        add_pct(into, "error_rate", calls > 0 ? sqlite3_column_double(st, 2) / calls : 0);
        add_count(into, "unpriced", sqlite3_column_double(st, 3));
        add_ms(into, "p95", ui_col_num(st, 4));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        snprintf(r->err, sizeof(r->err), "the store cannot sum the rollups: %s",
                 sqlite3_errmsg(db));
    return rc == SQLITE_ROW ? 0 : -1;
}

static int top_models(struct ui_req *r, sqlite3 *db, int64_t day)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT model, provider, total(calls), total(cost_nusd) / 1e9,"
                                  " total(errors),"
                                  " llmtap_hist_quantile(llmtap_hist_sum(latency_hist), 0.95)"
                                  " FROM rollup_daily WHERE day >= ?1 AND model <> ''"
                                  " GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC LIMIT 8");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, day);
    cJSON *list = cJSON_AddArrayToObject(r->view, "top_models");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        double calls = sqlite3_column_double(st, 2);
        cJSON_AddStringToObject(o, "model", ui_col_text(st, 0));
        ui_add_url(o, "model_url", ui_col_text(st, 0));
        ui_add_str(o, "provider", ui_col_text(st, 1));
        add_count(o, "calls", calls);
        add_usd(o, "cost", sqlite3_column_double(st, 3));
        add_pct(o, "error_rate", calls > 0 ? sqlite3_column_double(st, 4) / calls : 0);
        add_ms(o, "p95", ui_col_num(st, 5));
        cJSON_AddItemToArray(list, o);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        snprintf(r->err, sizeof(r->err), "the store cannot rank models: %s", sqlite3_errmsg(db));
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- a breakdown: one dimension by day --------------------------------- */

enum dim { DIM_MODEL, DIM_PROVIDER, DIM_PROJECT, DIM_USER, DIM_TENANT, DIM_VSET, DIM_DAY, NDIMS };

static const struct {
    const char *param, *label, *table, *column;
} dims[NDIMS] = {
    {"model", "Model", "rollup_daily", "model"},
    {"provider", "Provider", "rollup_daily", "provider"},
    {"project", "Project", "rollup_daily", "project"},
    {"user", "User", "rollup_daily_user", "user_id"},
    {"tenant", "Tenant", "rollup_daily_tenant", "tenant"},
    {"version_set", "version_set", "rollup_daily", "version_set"},
    {"day", "Day", "rollup_daily", "day"},
};

struct group {
    char *key;
    int orig; /* index before sorting */
    double calls, tin, tout, cost, unpriced;
};

struct breakdown {
    enum dim dim;
    int64_t d0, d1; /* days, inclusive */
    const char *project;
    struct group *g;
    int ng;
    double *by_day; /* ng × (d1 - d0 + 1) */
    double total[5];
    int *slots; /* hash of the keys: group index + 1, 0 = free */
    size_t nslots, gcap;
};

static void breakdown_free(struct breakdown *b)
{
    for (int i = 0; i < b->ng; i++)
        free(b->g[i].key);
    free(b->g);
    free(b->by_day);
    free(b->slots);
}

static size_t key_hash(const char *k)
{
    size_t h = 1469598103934665603ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

/* The slot of 'key' in the hash: its group's, or the free one to take. */
static size_t slot_of_key(const struct breakdown *b, const char *key)
{
    size_t i = key_hash(key) & (b->nslots - 1);
    while (b->slots[i] && strcmp(b->g[b->slots[i] - 1].key, key) != 0)
        i = (i + 1) & (b->nslots - 1);
    return i;
}

/* Double the hash (kept at most half full). */
static void grow_slots(struct breakdown *b)
{
    free(b->slots);
    b->nslots = b->nslots ? 2 * b->nslots : 256;
    b->slots = xcalloc(b->nslots, sizeof(int));
    for (int g = 0; g < b->ng; g++)
        b->slots[slot_of_key(b, b->g[g].key)] = g + 1;
}

/* The group of 'key', made when new. */
static int group_of(struct breakdown *b, const char *key)
{
    if ((size_t)b->ng * 2 >= b->nslots)
        grow_slots(b);
    size_t i = slot_of_key(b, key);
    if (b->slots[i])
        return b->slots[i] - 1;
    if ((size_t)b->ng == b->gcap)
        b->g = xrealloc(b->g, (b->gcap = b->gcap ? 2 * b->gcap : 64) * sizeof(*b->g));
    memset(&b->g[b->ng], 0, sizeof(*b->g));
    b->g[b->ng].key = xstrdup(key);
    b->slots[i] = b->ng + 1;
    return b->ng++;
}

static int cmp_cost(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    return x->cost < y->cost ? 1 : x->cost > y->cost ? -1 : strcmp(x->key, y->key);
}

/* Read the rollup rows of 'b' (by group and day). */
static int breakdown_read(struct ui_req *r, sqlite3 *db, struct breakdown *b)
{
    int full = strcmp(dims[b->dim].table, "rollup_daily") == 0;
    /* no GROUP BY: summing in C is 3x faster than SQLite's sort of 50k user-days */
    char *sql = xasprintf("SELECT %s, day, calls, input_tokens, output_tokens,"
                          " cost_nusd / 1e9, unpriced FROM %s WHERE day BETWEEN ?1 AND ?2%s%s",
                          dims[b->dim].column, dims[b->dim].table, full ? " AND model <> ''" : "",
                          b->project ? " AND project = ?3" : "");
    sqlite3_stmt *st = ui_prepare(r, db, sql);
    free(sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, b->d0);
    sqlite3_bind_int64(st, 2, b->d1);
    if (b->project)
        sqlite3_bind_text(st, 3, b->project, -1, SQLITE_STATIC);
    int ndays = (int)(b->d1 - b->d0 + 1), rc;
    struct {
        int g, d;
        double cost;
    } *cells = NULL;
    size_t ncells = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char dkey[16];
        int64_t day = sqlite3_column_int64(st, 1);
        const char *key =
            b->dim == DIM_DAY ? day_fmt(dkey, sizeof(dkey), day, DAY_ISO) : ui_col_text(st, 0);
        int gi = group_of(b, *key ? key : "(none)");
        struct group *g = &b->g[gi];
        double v[5] = {sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
                       sqlite3_column_double(st, 4), sqlite3_column_double(st, 5),
                       sqlite3_column_double(st, 6)};
        g->calls += v[0], g->tin += v[1], g->tout += v[2], g->cost += v[3], g->unpriced += v[4];
        for (int k = 0; k < 5; k++)
            b->total[k] += v[k];
        if (ncells == cap)
            cells = xrealloc(cells, (cap = cap ? 2 * cap : 256) * sizeof(*cells));
        cells[ncells].g = gi, cells[ncells].d = (int)(day - b->d0), cells[ncells++].cost = v[3];
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) { /* sort the groups by cost, then spread the cells by day */
        for (int i = 0; i < b->ng; i++)
            b->g[i].orig = i;
        if (b->ng > 1) /* b->g is NULL while there is no group */
            qsort(b->g, (size_t)b->ng, sizeof(*b->g), cmp_cost);
        int *remap = xcalloc((size_t)(b->ng ? b->ng : 1), sizeof(int));
        for (int j = 0; j < b->ng; j++)
            remap[b->g[j].orig] = j;
        b->by_day = xcalloc((size_t)(b->ng ? b->ng : 1) * (size_t)ndays, sizeof(double));
        for (size_t i = 0; i < ncells; i++)
            b->by_day[(size_t)remap[cells[i].g] * (size_t)ndays + (size_t)cells[i].d] +=
                cells[i].cost;
        free(remap);
    }
    free(cells);
    if (rc != SQLITE_DONE)
        snprintf(r->err, sizeof(r->err), "the store cannot read the rollups: %s",
                 sqlite3_errmsg(db));
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The breakdown's rows (and totals) into the view. */
static void breakdown_view(struct ui_req *r, const struct breakdown *b)
{
    cJSON *rows = cJSON_AddArrayToObject(r->view, "rows");
    if (b->ng > MAX_GROUPS)
        cJSON_AddNumberToObject(r->view, "more_groups", b->ng - MAX_GROUPS);
    for (int i = 0; i < b->ng && i < MAX_GROUPS; i++) {
        const struct group *g = &b->g[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", g->key);
        add_count(o, "calls", g->calls);
        add_count(o, "tokens_in", g->tin);
        add_count(o, "tokens_out", g->tout);
        add_usd(o, "cost", g->cost);
        add_count(o, "unpriced", g->unpriced);
        add_pct(o, "share", b->total[3] > 0 ? g->cost / b->total[3] : 0);
        cJSON_AddItemToArray(rows, o);
    }
    cJSON *t = cJSON_AddObjectToObject(r->view, "total");
    add_count(t, "calls", b->total[0]);
    add_count(t, "tokens_in", b->total[1]);
    add_count(t, "tokens_out", b->total[2]);
    add_usd(t, "cost", b->total[3]);
    add_count(t, "unpriced", b->total[4]);
}

/* Read by, from, to and project; -1 with r->err for the user. */
static int breakdown_params(struct ui_req *r, struct breakdown *b, char *project, size_t plen)
{
    char by[32] = "", from[64] = "", to[64] = "";
    int64_t from_ns = r->now_ns - 30 * NS_PER_DAY, to_ns = r->now_ns;
    int got = ui_param(r, "by", by, sizeof(by));
    b->dim = DIM_MODEL;
    for (int i = 0; got > 0 && i < NDIMS; i++)
        if (strcmp(by, dims[i].param) == 0)
            b->dim = (enum dim)i, got = 2;
    cJSON *f = cJSON_AddObjectToObject(r->view, "filters");
    if (got == 1 || got < 0)
        return snprintf(r->err, sizeof(r->err),
                        "by must be model, provider, project, user, tenant, version_set or day"),
               -1;
    if ((got = ui_param(r, "from", from, sizeof(from))) != 0 &&
        (got < 0 || time_parse_when(from, r->now_ns, &from_ns) != 0))
        return snprintf(r->err, sizeof(r->err), "'from' is not a time (2026-11-01, 7d, ...)"), -1;
    if ((got = ui_param(r, "to", to, sizeof(to))) != 0 &&
        (got < 0 || time_parse_when(to, r->now_ns, &to_ns) != 0))
        return snprintf(r->err, sizeof(r->err), "'to' is not a time (2026-11-30, 1d, ...)"), -1;
    if (ui_param(r, "project", project, plen) < 0)
        return snprintf(r->err, sizeof(r->err), "'project' is too long"), -1;
    b->project = project[0] ? project : NULL;
    b->d0 = from_ns / NS_PER_DAY;
    b->d1 = to_ns / NS_PER_DAY;
    if (b->d1 < b->d0 || b->d1 - b->d0 >= MAX_DAYS)
        return snprintf(r->err, sizeof(r->err),
                        "the range must run forward and span at most %d days", MAX_DAYS),
               -1;
    ui_add_str(f, "from", from);
    ui_add_str(f, "to", to);
    ui_add_str(f, "project", project);
    cJSON_AddStringToObject(f, "by", dims[b->dim].param);
    cJSON_AddStringToObject(r->view, "by_label", dims[b->dim].label);
    cJSON_AddStringToObject(r->view, "calls_label",
                            b->dim == DIM_USER || b->dim == DIM_TENANT ? "Spans" : "Calls");
    cJSON *list = cJSON_AddArrayToObject(f, "dims");
    for (int i = 0; i < NDIMS; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "value", dims[i].param);
        cJSON_AddStringToObject(o, "label", dims[i].label);
        cJSON_AddBoolToObject(o, "selected", i == (int)b->dim);
        cJSON_AddItemToArray(list, o);
    }
    return 0;
}

static int breakdown_chart(struct ui_req *r, const struct breakdown *b, const char *title)
{
    int ndays = (int)(b->d1 - b->d0 + 1);
    if (b->dim == DIM_DAY) { /* one series: the days themselves */
        double *v = xcalloc((size_t)ndays, sizeof(double));
        for (int i = 0; i < b->ng; i++)
            for (int d = 0; d < ndays; d++)
                v[d] += b->by_day[(size_t)i * (size_t)ndays + (size_t)d];
        const char *name = "spend";
        int rc = add_chart(r, "chart", title, b->d0, ndays, &name, v, 1);
        free(v);
        return rc;
    }
    const char **names = xcalloc((size_t)(b->ng ? b->ng : 1), sizeof(char *));
    for (int i = 0; i < b->ng; i++)
        names[i] = b->g[i].key;
    int rc = add_chart(r, "chart", title, b->d0, ndays, names, b->by_day, b->ng);
    free(names);
    return rc;
}

/* What /costs and /costs.csv share: the parameters, then the rollup rows.
 * Returns 0, or the status to answer with r->err saying why: 400 (a bad
 * parameter), 503 (no connection), 500 (the store failed). */
static int breakdown_load(struct ui_req *r, struct breakdown *b, char *project, size_t plen)
{
    sqlite3 *db;
    if (breakdown_params(r, b, project, plen) != 0)
        return 400;
    if (!(db = ui_req_db(r)))
        return 503;
    return breakdown_read(r, db, b) != 0 ? 500 : 0;
}

int ui_h_costs(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "costs") != 0)
        return 405;
    struct breakdown b = {0};
    char project[UI_VALUE_MAX] = "";
    int status = breakdown_load(&r, &b, project, sizeof(project));
    if (status == 400)
        status = ui_fail_in(&r, 400, "costs", "%s", r.err);
    else if (status)
        status = ui_fail(&r, status, "%s", r.err);
    else {
        breakdown_view(&r, &b);
        char title[128];
        snprintf(title, sizeof(title), "Spend by day and %s", dims[b.dim].label);
        const char *qs = mg_get_request_info(c)->query_string;
        char *csv = xasprintf("/costs.csv%s%s", qs && *qs ? "?" : "", qs && *qs ? qs : "");
        cJSON_AddStringToObject(r.view, "csv_href", csv);
        free(csv);
        status = breakdown_chart(&r, &b, title) == 0 ? ui_page(&r, 200, "costs")
                                                     : ui_fail(&r, 500, "the chart is too big");
    }
    breakdown_free(&b);
    ui_req_end(&r);
    return status;
}

/* One CSV field: quoted when it must be, and a leading = + - @ defused so a
 * spreadsheet never runs it as a formula. */
static int csv_field(struct buf *out, const char *v, int last)
{
    int defuse = v[0] && strchr("=+-@", v[0]);
    int quote = defuse || strpbrk(v, ",\"\r\n");
    int rc = quote ? buf_puts(out, defuse ? "\"'" : "\"") : 0;
    for (const char *p = v; *p; p++)
        rc |= *p == '"' ? buf_puts(out, "\"\"") : buf_putc(out, *p);
    rc |= quote ? buf_putc(out, '"') : 0;
    return rc | buf_puts(out, last ? "\r\n" : ",");
}

int ui_h_costs_csv(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "costs") != 0)
        return 405;
    struct breakdown b = {0};
    char project[UI_VALUE_MAX] = "";
    int status = breakdown_load(&r, &b, project, sizeof(project));
    if (status)
        status = ui_send(c, status, "text/plain; charset=utf-8", r.err, strlen(r.err), NULL);
    else {
        struct buf out;
        buf_init(&out, UI_PAGE_MAX);
        const char *calls = b.dim == DIM_USER || b.dim == DIM_TENANT ? "spans" : "calls";
        int rc = buf_printf(&out, "%s,%s,input_tokens,output_tokens,cost_usd,unpriced,share\r\n",
                            dims[b.dim].param, calls);
        for (int i = 0; i < b.ng && rc == 0; i++) {
            const struct group *g = &b.g[i];
            rc |= csv_field(&out, g->key, 0);
            rc |= buf_printf(&out, "%.0f,%.0f,%.0f,%.9f,%.0f,%.4f\r\n", g->calls, g->tin, g->tout,
                             g->cost, g->unpriced, b.total[3] > 0 ? g->cost / b.total[3] : 0.0);
        }
        char disp[128];
        snprintf(disp, sizeof(disp), "attachment; filename=\"llmtap-costs-by-%s.csv\"",
                 dims[b.dim].param);
        status = rc ? ui_send(c, 500, "text/plain; charset=utf-8", "too big\n", 8, NULL)
                    : ui_send(c, 200, "text/csv; charset=utf-8", buf_str(&out), out.len, disp);
        buf_release(&out);
    }
    breakdown_free(&b);
    ui_req_end(&r);
    return status;
}

#define RECENT_ALERTS 5 /* alert state changes on the overview */

int ui_h_overview(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "overview") != 0)
        return 405;
    sqlite3 *db = ui_req_db(&r);
    int64_t today = r.now_ns / NS_PER_DAY;
    cJSON *t = cJSON_AddObjectToObject(r.view, "today");
    cJSON *w = cJSON_AddObjectToObject(r.view, "week");
    struct breakdown b = {.dim = DIM_MODEL, .d0 = today - 13, .d1 = today};
    int status;
    if (!db)
        status = ui_fail(&r, 503, "%s", r.err);
    else if (totals_since(&r, db, today, t) != 0 || totals_since(&r, db, today - 6, w) != 0 ||
             top_models(&r, db, today - 6) || breakdown_read(&r, db, &b) != 0 ||
             breakdown_chart(&r, &b, "Spend by day and model, last 14 days") != 0 ||
             ui_alerts_recent(&r, db, RECENT_ALERTS) != 0)
        status = ui_fail(&r, 500, "%s", r.err);
    else {
        cJSON_AddBoolToObject(r.view, "empty", b.ng == 0);
        status = ui_page(&r, 200, "overview");
    }
    breakdown_free(&b);
    ui_req_end(&r);
    return status;
}

/* ---- version_sets ------------------------------------------------------ */

struct vrow {
    double calls, cost, tokens, errors, p50, p95;
};

static void vrow_view(cJSON *o, const struct vrow *v)
{
    add_count(o, "calls", v->calls);
    add_usd(o, "cost_per_call", v->calls > 0 ? v->cost / v->calls : 0);
    add_count(o, "tokens_per_call", v->calls > 0 ? v->tokens / v->calls : 0);
    add_ms(o, "p50", v->p50);
    add_ms(o, "p95", v->p95);
    add_pct(o, "error_rate", v->calls > 0 ? v->errors / v->calls : 0);
}

static void vrow_read(sqlite3_stmt *st, int col, struct vrow *v)
{
    v->calls = sqlite3_column_double(st, col);
    v->cost = sqlite3_column_double(st, col + 1);
    v->tokens = sqlite3_column_double(st, col + 2);
    v->errors = sqlite3_column_double(st, col + 3);
    v->p50 = ui_col_num(st, col + 4);
    v->p95 = ui_col_num(st, col + 5);
}

/* "+12.5 %" for b against a, or "–". */
static void add_delta(cJSON *o, const char *name, double a, double b)
{
    char s[64];
    if (isnan(a) || isnan(b) || a == 0)
        snprintf(s, sizeof(s), "–");
    else
        snprintf(s, sizeof(s), "%+.1f %%", 100.0 * (b - a) / a);
    cJSON_AddStringToObject(o, name, s);
}

static void compare_view(struct ui_req *r, const char *a, const char *b, const struct vrow *va,
                         const struct vrow *vb)
{
    cJSON *cmp = cJSON_AddObjectToObject(r->view, "compare");
    cJSON_AddStringToObject(cmp, "a", a);
    cJSON_AddStringToObject(cmp, "b", b);
    cJSON *oa = cJSON_AddObjectToObject(cmp, "va"), *ob = cJSON_AddObjectToObject(cmp, "vb");
    vrow_view(oa, va);
    vrow_view(ob, vb);
    cJSON *d = cJSON_AddObjectToObject(cmp, "delta");
    add_delta(d, "calls", va->calls, vb->calls);
    add_delta(d, "cost_per_call", va->cost / va->calls, vb->cost / vb->calls);
    add_delta(d, "tokens_per_call", va->tokens / va->calls, vb->tokens / vb->calls);
    add_delta(d, "p50", va->p50, vb->p50);
    add_delta(d, "p95", va->p95, vb->p95);
    add_delta(d, "error_rate", va->errors / va->calls, vb->errors / vb->calls);
}

int ui_h_versions(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "versions") != 0)
        return 405;
    char a[UI_VALUE_MAX] = "", b[UI_VALUE_MAX] = "", project[UI_VALUE_MAX] = "";
    int hp = ui_param(&r, "project", project, sizeof(project));
    int bad = ui_param(&r, "a", a, sizeof(a)) < 0 || ui_param(&r, "b", b, sizeof(b)) < 0 || hp < 0;
    sqlite3 *db = ui_req_db(&r);
    sqlite3_stmt *st = NULL;
    int status, rc = SQLITE_ERROR;
    if (bad)
        status = ui_fail(&r, 400, "a version_set is at most %d bytes", UI_VALUE_MAX - 1);
    else if (!db)
        status = ui_fail(&r, 503, "%s", r.err);
    else if (!(st = ui_prepare(&r, db,
                               "SELECT version_set, group_concat(DISTINCT project), min(day),"
                               " max(day), total(calls), total(cost_nusd) / 1e9,"
                               " total(input_tokens + output_tokens), total(errors),"
                               " llmtap_hist_quantile(llmtap_hist_sum(latency_hist), 0.5),"
                               " llmtap_hist_quantile(llmtap_hist_sum(latency_hist), 0.95)"
                               " FROM rollup_daily WHERE model <> '' GROUP BY 1"
                               " ORDER BY max(day) DESC, 1 LIMIT 1000")))
        status = ui_fail(&r, 500, "%s", r.err);
    else {
        cJSON *list = cJSON_AddArrayToObject(r.view, "versions");
        struct vrow va = {0}, vb = {0};
        int have_a = 0, have_b = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct vrow v;
            vrow_read(st, 4, &v);
            const char *vs = ui_col_text(st, 0);
            char d0[16], d1[16];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "version_set", *vs ? vs : "(none)");
            cJSON_AddStringToObject(o, "value", vs);
            ui_add_str(o, "projects", ui_col_text(st, 1));
            cJSON_AddStringToObject(o, "first",
                                    day_fmt(d0, sizeof(d0), sqlite3_column_int64(st, 2), DAY_ISO));
            cJSON_AddStringToObject(o, "last",
                                    day_fmt(d1, sizeof(d1), sqlite3_column_int64(st, 3), DAY_ISO));
            cJSON_AddBoolToObject(o, "is_a", a[0] && strcmp(vs, a) == 0);
            cJSON_AddBoolToObject(o, "is_b", b[0] && strcmp(vs, b) == 0);
            vrow_view(o, &v);
            cJSON_AddItemToArray(list, o);
            if (a[0] && strcmp(vs, a) == 0)
                va = v, have_a = 1;
            if (b[0] && strcmp(vs, b) == 0)
                vb = v, have_b = 1;
        }
        if (rc != SQLITE_DONE)
            status = ui_fail(&r, 500, "the store cannot list version_sets: %s", sqlite3_errmsg(db));
        else if ((a[0] && !have_a) || (b[0] && !have_b))
            status = ui_fail(&r, 404, "no calls are stored under version_set '%s'",
                             a[0] && !have_a ? a : b);
        else {
            if (have_a && have_b)
                compare_view(&r, a, b, &va, &vb);
            int vstatus = 200;
            if (ui_versions_compare(&r, db, hp > 0 ? project : NULL, a[0] ? a : NULL,
                                    b[0] ? b : NULL, &vstatus) != 0)
                status = ui_fail(&r, vstatus, "%s", r.err);
            else
                status = ui_evals_versions(&r, db, list) == 0 ? ui_page(&r, 200, "versions")
                                                              : ui_fail(&r, 500, "%s", r.err);
        }
    }
    sqlite3_finalize(st);
    ui_req_end(&r);
    return status;
}
