/*
 * ui_versions: the version_set comparison in the UI (issue 7 item 3), all
 * from store/vcompare.h: the significance table on /versions (delta,
 * interval and verdict of each metric, B against A of one project),
 * /versions/regressions (per project, each change between consecutive
 * version_sets and the metrics that got significantly worse there, with a
 * trend chart of each such metric across the version_sets) and
 * GET /api/v1/versions/compare?project=&a=&b=[&alpha=&seed=&since=&until=]
 * (the same JSON as `llmtap versions compare --json`).
 *
 * The regressions view is bounded: at most REG_PROJECTS projects (the
 * most recently active), REG_VSETS version_sets each (the newest), and
 * REG_RESAMPLES bootstrap resamples a metric.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/vcompare.h"
#include "ui/chart.h"
#include "ui/ui_int.h"

#define REG_PROJECTS 8
#define REG_VSETS 8
#define REG_RESAMPLES 1000
#define PROJECTS_MAX 200 /* in the project select */
#define CHART_SVG_MAX (1u << 20)

/* ---- shared ------------------------------------------------------------- */

/* The HTTP status for a vcompare code. */
static int status_of(int rc)
{
    return rc == VCOMPARE_ENOTFOUND ? 404 : rc == VCOMPARE_EINVAL ? 400 : 500;
}

/* The label of metric 'name' for a page: static for the fixed ones, else
 * written into 'dst' ("Score: NAME"). */
static const char *metric_label(const char *name, char *dst, size_t n)
{
    static const struct {
        const char *name, *label;
    } labels[] = {
        {"cost_per_call", "Cost per call"},         {"tokens_per_call", "Tokens per call"},
        {"latency_p50_ms", "p50 latency"},          {"latency_p95_ms", "p95 latency"},
        {"ttft_p95_ms", "p95 time to first token"}, {"error_rate", "Error rate"},
    };
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        if (strcmp(name, labels[i].name) == 0)
            return labels[i].label;
    if (strncmp(name, "score:", 6) == 0)
        snprintf(dst, n, "Score: %s", name + 6);
    else
        snprintf(dst, n, "%s", name);
    return dst;
}

/* 'v' in the metric's unit, for a cell. */
static const char *fmt_value(char *dst, size_t n, double v, enum vcompare_unit u)
{
    if (isnan(v))
        return snprintf(dst, n, "–"), dst;
    switch (u) {
    case VCOMPARE_USD:
        return ui_fmt_usd(dst, n, v);
    case VCOMPARE_MS:
        return ui_fmt_ms(dst, n, v);
    case VCOMPARE_RATIO:
        snprintf(dst, n, "%.2f %%", 100 * v);
        return dst;
    case VCOMPARE_TOKENS:
        return ui_fmt_count(dst, n, v);
    default:
        snprintf(dst, n, "%.3f", v);
        return dst;
    }
}

/* A signed difference in the metric's unit (ratios in percentage points). */
static const char *fmt_signed(char *dst, size_t n, double v, enum vcompare_unit u)
{
    if (isnan(v))
        snprintf(dst, n, "–");
    else if (u == VCOMPARE_USD)
        snprintf(dst, n, "%+.6f $", v);
    else if (u == VCOMPARE_MS)
        snprintf(dst, n, "%+.1f ms", v);
    else if (u == VCOMPARE_RATIO)
        snprintf(dst, n, "%+.2f pt", 100 * v);
    else if (u == VCOMPARE_TOKENS)
        snprintf(dst, n, "%+.1f", v);
    else
        snprintf(dst, n, "%+.3f", v);
    return dst;
}

static void add_metric_cells(cJSON *o, const struct vcompare_metric *m)
{
    char s[96], lo[48], hi[48];
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "label", metric_label(m->name, s, sizeof(s)));
    cJSON_AddStringToObject(o, "va", fmt_value(s, sizeof(s), m->a, m->unit));
    cJSON_AddStringToObject(o, "vb", fmt_value(s, sizeof(s), m->b, m->unit));
    cJSON_AddStringToObject(o, "delta", fmt_signed(s, sizeof(s), m->delta, m->unit));
    if (m->a != 0 && !isnan(m->delta)) {
        snprintf(s, sizeof(s), "%+.1f %%", 100 * m->delta / m->a);
        cJSON_AddStringToObject(o, "delta_rel", s);
    }
    if (!isnan(m->lo)) {
        snprintf(s, sizeof(s), "[%s, %s]", fmt_signed(lo, sizeof(lo), m->lo, m->unit),
                 fmt_signed(hi, sizeof(hi), m->hi, m->unit));
        cJSON_AddStringToObject(o, "ci", s);
    }
    cJSON_AddNumberToObject(o, "n_a", (double)m->n_a);
    cJSON_AddNumberToObject(o, "n_b", (double)m->n_b);
    cJSON_AddStringToObject(o, "verdict", vcompare_verdict_text(m->verdict));
    cJSON_AddStringToObject(o, "verdict_key", vcompare_verdict_key(m->verdict));
}

/* ---- /versions: the significance table -------------------------------------- */

static void add_projects(struct ui_req *r, sqlite3 *db, const char *selected)
{
    char **names = NULL, err[256];
    size_t n = 0;
    if (vcompare_projects(db, PROJECTS_MAX, &names, &n, err, sizeof(err)) != 0)
        n = 0; /* the select is a convenience: the page works without it */
    cJSON *list = cJSON_AddArrayToObject(r->view, "projects");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "project", names[i]);
        cJSON_AddBoolToObject(o, "selected", selected && strcmp(selected, names[i]) == 0);
        cJSON_AddItemToArray(list, o);
        free(names[i]);
    }
    free(names);
}

static void vc_view(struct ui_req *r, const struct vcompare_result *res)
{
    char s[64];
    cJSON *vc = cJSON_AddObjectToObject(r->view, "vc");
    cJSON_AddStringToObject(vc, "project", res->project);
    cJSON_AddStringToObject(vc, "a", res->a[0] ? res->a : "(none)");
    cJSON_AddStringToObject(vc, "b", res->b[0] ? res->b : "(none)");
    cJSON_AddStringToObject(vc, "calls_a", ui_fmt_count(s, sizeof(s), (double)res->calls_a));
    cJSON_AddStringToObject(vc, "calls_b", ui_fmt_count(s, sizeof(s), (double)res->calls_b));
    snprintf(s, sizeof(s), "%.2f %%", 100 * res->level);
    cJSON_AddStringToObject(vc, "level", s);
    snprintf(s, sizeof(s), "%g", res->alpha);
    cJSON_AddStringToObject(vc, "alpha", s);
    cJSON_AddNumberToObject(vc, "tested", res->tested);
    cJSON_AddBoolToObject(vc, "regression", res->worse > 0);
    cJSON_AddNumberToObject(vc, "worse", res->worse);
    cJSON *rows = cJSON_AddArrayToObject(vc, "rows");
    for (size_t i = 0; i < res->n; i++) {
        cJSON *o = cJSON_CreateObject();
        add_metric_cells(o, &res->m[i]);
        cJSON_AddItemToArray(rows, o);
    }
}

int ui_versions_compare(struct ui_req *r, sqlite3 *db, const char *project, const char *a,
                        const char *b, int *status)
{
    char asked[8];
    add_projects(r, db, project);
    *status = 200;
    if (!project && !a && !b && ui_param(r, "compare", asked, sizeof(asked)) <= 0)
        return 0; /* no comparison asked for (the form sends compare=1) */
    struct vcompare_list l = {0};
    int rc = project ? vcompare_list_vsets(db, project, 0, 0, 1, &l, r->err, sizeof(r->err))
                     : VCOMPARE_OK;
    vcompare_list_release(&l);
    if (rc != VCOMPARE_OK) { /* a project named that has no calls: no such page */
        *status = status_of(rc);
        return -1;
    }
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    o.project = project;
    o.a = a;
    o.b = b;
    struct vcompare_result res;
    rc = vcompare_run(db, &o, &res, r->err, sizeof(r->err));
    if (rc == VCOMPARE_OK)
        vc_view(r, &res);
    else if (rc != VCOMPARE_ESTORE) /* e.g. A and B of different projects: say why */
        cJSON_AddStringToObject(r->view, "vc_note", r->err);
    vcompare_result_release(&res);
    *status = rc == VCOMPARE_ESTORE ? 500 : 200;
    return rc == VCOMPARE_ESTORE ? -1 : 0;
}

/* ---- /versions/regressions ----------------------------------------------------- */

/* The value of metric 'name' at each of the history's version_sets (NAN
 * where a step lacks it), into 'v' (h->list.n of them). */
static void trend_of(const struct vcompare_history *h, const char *name, double *v)
{
    for (size_t i = 0; i < h->list.n; i++)
        v[i] = NAN;
    for (size_t s = 0; s < h->nsteps; s++)
        for (size_t k = 0; k < h->steps[s].n; k++) {
            const struct vcompare_metric *m = &h->steps[s].m[k];
            if (strcmp(m->name, name) != 0)
                continue;
            if (s == 0 || isnan(v[s]))
                v[s] = m->a;
            v[s + 1] = m->b;
        }
}

static enum chart_unit chart_unit_of(enum vcompare_unit u)
{
    return u == VCOMPARE_USD                            ? CHART_USD
           : u == VCOMPARE_MS                           ? CHART_MS
           : u == VCOMPARE_RATIO || u == VCOMPARE_SCORE ? CHART_RATIO
                                                        : CHART_COUNT;
}

/* A line chart of metric 'm' across the history's version_sets. */
static void add_trend(cJSON *charts, const struct vcompare_history *h,
                      const struct vcompare_metric *m)
{
    const char **cats = xcalloc(h->list.n, sizeof(*cats));
    double *v = xcalloc(h->list.n, sizeof(*v));
    for (size_t i = 0; i < h->list.n; i++)
        cats[i] = h->list.v[i].version_set[0] ? h->list.v[i].version_set : "(none)";
    trend_of(h, m->name, v);
    char buf[96], title[160];
    const char *label = metric_label(m->name, buf, sizeof(buf));
    snprintf(title, sizeof(title), "%s by version_set", label);
    struct chart_series ser = {.name = label, .values = v};
    struct chart c = {.title = title,
                      .categories = cats,
                      .ncat = h->list.n,
                      .series = &ser,
                      .nseries = 1,
                      .unit = chart_unit_of(m->unit),
                      .width = 600,
                      .height = 200};
    struct buf svg;
    buf_init(&svg, CHART_SVG_MAX);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", label);
    cJSON_AddStringToObject(o, "svg", chart_lines(&svg, &c) == 0 ? buf_str(&svg) : "");
    cJSON_AddItemToArray(charts, o);
    buf_release(&svg);
    free(v);
    free(cats);
}

/* Has a metric named 'name' been charted into 'charts' already? */
static int charted(const cJSON *charts, const char *label)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, charts)
    {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(it, "label");
        if (cJSON_IsString(l) && strcmp(l->valuestring, label) == 0)
            return 1;
    }
    return 0;
}

static cJSON *step_view(const struct vcompare_result *s, cJSON *charts,
                        const struct vcompare_history *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "a", s->a[0] ? s->a : "(none)");
    cJSON_AddStringToObject(o, "b", s->b[0] ? s->b : "(none)");
    ui_add_url(o, "a_url", s->a);
    ui_add_url(o, "b_url", s->b);
    cJSON_AddBoolToObject(o, "regressed", s->worse > 0);
    cJSON *worse = cJSON_AddArrayToObject(o, "worse");
    for (size_t k = 0; k < s->n; k++) {
        const struct vcompare_metric *m = &s->m[k];
        if (m->verdict != VCOMPARE_WORSE)
            continue;
        cJSON *w = cJSON_CreateObject();
        add_metric_cells(w, m);
        cJSON_AddItemToArray(worse, w);
        char label[96];
        if (!charted(charts, metric_label(m->name, label, sizeof(label))))
            add_trend(charts, h, m);
    }
    return o;
}

/* One project's section into 'list'. Returns a vcompare code (message in
 * r->err); VCOMPARE_ENOTFOUND (no calls in the project) adds nothing. */
static int project_view(struct ui_req *r, sqlite3 *db, const char *project, cJSON *list)
{
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    o.project = project;
    o.resamples = REG_RESAMPLES;
    struct vcompare_history h;
    int rc = vcompare_history(db, &o, REG_VSETS, &h, r->err, sizeof(r->err));
    if (rc != VCOMPARE_OK) {
        vcompare_history_release(&h);
        return rc;
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "project", project);
    ui_add_url(p, "project_url", project);
    cJSON_AddNumberToObject(p, "nvsets", (double)h.list.n);
    cJSON *steps = cJSON_AddArrayToObject(p, "steps");
    cJSON *charts = cJSON_AddArrayToObject(p, "charts");
    int regressions = 0;
    for (size_t i = h.nsteps; i-- > 0;) { /* newest change first */
        cJSON_AddItemToArray(steps, step_view(&h.steps[i], charts, &h));
        regressions += h.steps[i].worse > 0;
    }
    cJSON_AddNumberToObject(p, "regressions", regressions);
    cJSON_AddBoolToObject(p, "single", h.nsteps == 0);
    cJSON_AddItemToArray(list, p);
    vcompare_history_release(&h);
    return VCOMPARE_OK;
}

int ui_h_versions_regressions(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "versions") != 0)
        return 405;
    char project[UI_VALUE_MAX] = "";
    int has = ui_param(&r, "project", project, sizeof(project));
    sqlite3 *db = has >= 0 ? ui_req_db(&r) : NULL;
    int status;
    char **names = NULL, err[256];
    size_t n = 0;
    if (has < 0)
        status = ui_fail(&r, 400, "a project name is at most %d bytes", UI_VALUE_MAX - 1);
    else if (!db)
        status = ui_fail(&r, 503, "%s", r.err);
    else if (!has && vcompare_projects(db, REG_PROJECTS, &names, &n, err, sizeof(err)) != 0)
        status = ui_fail(&r, 500, "%s", err);
    else {
        cJSON *list = cJSON_AddArrayToObject(r.view, "projects");
        int rc = has ? project_view(&r, db, project, list) : VCOMPARE_OK;
        for (size_t i = 0; i < n && (rc == VCOMPARE_OK || rc == VCOMPARE_ENOTFOUND); i++)
            rc = project_view(&r, db, names[i], list);
        if (!has && rc == VCOMPARE_ENOTFOUND)
            rc = VCOMPARE_OK; /* a project without calls in range is left out */
        cJSON_AddNumberToObject(r.view, "max_vsets", REG_VSETS);
        status = rc == VCOMPARE_OK ? ui_page(&r, 200, "regressions")
                                   : ui_fail(&r, status_of(rc), "%s", r.err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    ui_req_end(&r);
    return status;
}

/* ---- GET /api/v1/versions/compare ------------------------------------------------- */

static int send_json_error(struct mg_connection *c, int status, const char *msg)
{
    enum lt_err e = status == 404   ? LT_NOT_FOUND
                    : status == 400 ? LT_INVALID_INPUT
                    : status == 503 ? LT_UNAVAILABLE
                                    : LT_INTERNAL;
    struct buf b;
    buf_init(&b, 0);
    int rc = lt_err_json(&b, e, msg);
    int sent = ui_send(c, status, "application/json", rc == 0 ? buf_str(&b) : "{}",
                       rc == 0 ? b.len : 2, NULL);
    buf_release(&b);
    return sent;
}

/* The optional parameters alpha, seed, since and until (ISO 8601, "7d"
 * back from now, or unix ns) into 'o'. 0, or -1 with 'msg'. */
static int numeric_params(struct ui_req *r, struct vcompare_opts *o, char *msg, size_t n)
{
    char v[64];
    int has = ui_param(r, "alpha", v, sizeof(v));
    char *end = NULL;
    if (has > 0) {
        o->alpha = strtod(v, &end);
        if (!end || *end || !(o->alpha > 0 && o->alpha <= 0.5))
            return snprintf(msg, n, "alpha must be a number in (0, 0.5]"), -1;
    }
    if ((has = ui_param(r, "seed", v, sizeof(v))) > 0) {
        o->seed = strtoull(v, &end, 10);
        if (!end || *end)
            return snprintf(msg, n, "seed must be a whole number"), -1;
    }
    const char *when[2] = {"since", "until"};
    int64_t *slot[2] = {&o->from_ns, &o->to_ns};
    for (int k = 0; k < 2 && has >= 0; k++)
        if ((has = ui_param(r, when[k], v, sizeof(v))) > 0 &&
            time_parse_when(v, r->now_ns, slot[k]) != 0)
            return snprintf(msg, n, "%s is not a time (ISO 8601, 7d, or unix ns)", when[k]), -1;
    return has < 0 ? (snprintf(msg, n, "a parameter is too long"), -1) : 0;
}

int ui_h_api_versions_compare(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "versions") != 0)
        return 405;
    char project[UI_VALUE_MAX] = "", a[UI_VALUE_MAX] = "", b[UI_VALUE_MAX] = "", msg[256];
    int hp = ui_param(&r, "project", project, sizeof(project));
    int ha = ui_param(&r, "a", a, sizeof(a)), hb = ui_param(&r, "b", b, sizeof(b));
    struct vcompare_opts o;
    vcompare_opts_default(&o);
    int status;
    sqlite3 *db = NULL;
    if (hp < 0 || ha < 0 || hb < 0)
        status = send_json_error(c, 400, "a parameter is at most 255 bytes");
    else if (numeric_params(&r, &o, msg, sizeof(msg)) != 0)
        status = send_json_error(c, 400, msg);
    else if (!(db = ui_req_db(&r)))
        status = send_json_error(c, 503, r.err);
    else {
        o.project = hp ? project : NULL;
        o.a = ha ? a : NULL;
        o.b = hb ? b : NULL;
        struct vcompare_result res;
        int rc = vcompare_run(db, &o, &res, r.err, sizeof(r.err));
        if (rc != VCOMPARE_OK)
            status = send_json_error(c, status_of(rc), r.err);
        else {
            cJSON *j = vcompare_json(&res);
            char *s = cJSON_PrintUnformatted(j);
            status = s ? ui_send(c, 200, "application/json", s, strlen(s), NULL)
                       : send_json_error(c, 500, "out of memory");
            free(s);
            cJSON_Delete(j);
        }
        vcompare_result_release(&res);
    }
    ui_req_end(&r);
    return status;
}
