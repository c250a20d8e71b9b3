/*
 * ui_evals: the evaluator's pages (DESIGN.md §8 "evals"):
 *  - /evals: the runs, newest first (?suite= keeps one suite's), and the
 *    trend of each prompt's score by version, a line chart and a table;
 *  - /evals/{run_id}: the gate's verdict and figures (variants, the paired
 *    difference, each scorer), then the cases, a page at a time (?after=IDX,
 *    keyset on the case's index), or only those the candidate lost
 *    (?losses=1): variables, expected answer, each variant's outputs side
 *    by side with every score and the judge's reasoning;
 * and the eval scores of the trace page (each span's) and of the versions
 * page (a column per score name).
 *
 * Everything is read through store/evals.h. A run's summary and cases are
 * the evaluator's JSON report, which holds traffic (variables, outputs,
 * reasoning): read as untrusted, bounded (CASES_PAGE cases, CASES_BYTES of
 * case JSON, OUTPUT_SHOWN bytes of one output per page) and always escaped
 * by the templates.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "core/buf.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/evals.h"
#include "ui/chart.h"
#include "ui/ui_int.h"

#define RUNS_MAX 200             /* runs listed */
#define SUITES_SEEN 500          /* runs read for the suite filter's choices */
#define TREND_PROMPTS 20         /* prompts charted */
#define TREND_VERSIONS 60        /* newest versions of one prompt charted */
#define CASES_PAGE 200           /* cases on one page */
#define CASES_BYTES (4u << 20)   /* case JSON on one page (at least one case) */
#define OUTPUT_SHOWN (64u << 10) /* bytes of one output shown */
#define SPAN_SCORES_MAX 100      /* scores shown per span */
#define SCORE_COLUMNS 12         /* score names on the versions page */
#define VSET_PROJECTS 200        /* projects whose scores the versions page reads */

/* ---- formatting ---------------------------------------------------------- */

static const char dash[] = "–";

/* A score: "0.750"; NaN "–". */
static const char *fmt_score(char *dst, size_t n, double v)
{
    if (isnan(v))
        snprintf(dst, n, "%s", dash);
    else
        snprintf(dst, n, "%.3f", v);
    return dst;
}

/* A difference: "+0.050"; NaN "–". */
static const char *fmt_diff(char *dst, size_t n, double v)
{
    if (isnan(v))
        snprintf(dst, n, "%s", dash);
    else
        snprintf(dst, n, "%+.3f", fabs(v) < 5e-4 ? 0.0 : v);
    return dst;
}

/* An interval: "[0.650, 0.850]" (signed: "[-0.010, +0.110]"); "" without bounds. */
static const char *fmt_ci(char *dst, size_t n, double lo, double hi, int sign)
{
    char a[32], b[32];
    if (isnan(lo) || isnan(hi))
        snprintf(dst, n, "%s", "");
    else
        snprintf(dst, n, "[%s, %s]",
                 sign ? fmt_diff(a, sizeof(a), lo) : fmt_score(a, sizeof(a), lo),
                 sign ? fmt_diff(b, sizeof(b), hi) : fmt_score(b, sizeof(b), hi));
    return dst;
}

/* A p-value: "0.031", "< 0.001"; NaN "–". */
static const char *fmt_p(char *dst, size_t n, double p)
{
    if (isnan(p))
        snprintf(dst, n, "%s", dash);
    else if (p < 0.001)
        snprintf(dst, n, "< 0.001");
    else
        snprintf(dst, n, "%.3f", p);
    return dst;
}

/* Any other number: "1", "0.25"; NaN "–". */
static const char *fmt_plain(char *dst, size_t n, double v)
{
    if (isnan(v))
        snprintf(dst, n, "%s", dash);
    else
        snprintf(dst, n, "%.4g", v);
    return dst;
}

static void add_fmt(cJSON *o, const char *name, const char *(*fmt)(char *, size_t, double),
                    double v)
{
    char s[64];
    cJSON_AddStringToObject(o, name, fmt(s, sizeof(s), v));
}

static const char *fmt_pct(char *dst, size_t n, double v)
{
    return chart_format(dst, n, v, CHART_RATIO);
}

/* ---- reading the report -------------------------------------------------- */

/* Member 'key' of 'o' as a number, NaN when absent or not one. */
static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    return jsonx_str(o, key);
}

/* "A", "B", ... for variant 'v'. */
static const char *letter(int v)
{
    static const char *const l[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
    return v >= 0 && v < 8 ? l[v] : "?";
}

/* 'v' as text: a string as it is, anything else as compact JSON (caller frees). */
static char *as_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return xstrdup(v->valuestring);
    return jsonx_print(v);
}

/* Add 'text' as 'name', cut at OUTPUT_SHOWN bytes (on a UTF-8 boundary)
 * with 'name'_cut saying how much was left out. */
static void add_shown(cJSON *o, const char *name, const char *text)
{
    size_t len = strlen(text);
    if (len <= OUTPUT_SHOWN) {
        cJSON_AddStringToObject(o, name, text);
        return;
    }
    size_t k = OUTPUT_SHOWN;
    while (k > 0 && ((unsigned char)text[k] & 0xC0) == 0x80)
        k--;
    char *cut = xstrndup(text, k);
    cJSON_AddStringToObject(o, name, cut);
    free(cut);
    char note[96], key[64];
    snprintf(note, sizeof(note), "%zu more bytes not shown", len - k);
    snprintf(key, sizeof(key), "%s_cut", name);
    cJSON_AddStringToObject(o, key, note);
}

/* ---- /evals -------------------------------------------------------------- */

struct runs_ctx {
    cJSON *rows;   /* NULL: only the suites are wanted */
    cJSON *suites; /* object used as a set of the suites seen */
    int n, more;
};

static cJSON *run_row(const struct evals_run *run)
{
    char s[96], t[96];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", run->run_id);
    cJSON_AddStringToObject(o, "suite", run->suite ? run->suite : "");
    ui_add_url(o, "suite_url", run->suite);
    cJSON_AddStringToObject(o, "time", ui_fmt_time(s, sizeof(s), run->finished_ns));
    cJSON_AddStringToObject(
        o, "took", ui_fmt_ms(s, sizeof(s), (double)(run->finished_ns - run->started_ns) / 1e6));
    ui_add_str(o, "baseline", run->baseline);
    ui_add_str(o, "candidate", run->candidate);
    add_fmt(o, "baseline_score", fmt_score, run->baseline_score);
    add_fmt(o, "candidate_score", fmt_score, run->candidate_score);
    int compared = run->nvariants >= 2 && !isnan(run->diff);
    cJSON_AddBoolToObject(o, "compared", compared);
    if (compared) {
        add_fmt(o, "diff", fmt_diff, run->diff);
        cJSON_AddStringToObject(o, "diff_ci", fmt_ci(t, sizeof(t), run->diff_lo, run->diff_hi, 1));
        cJSON_AddBoolToObject(o, "diff_neg", run->diff < 0);
        snprintf(s, sizeof(s), "%" PRId64 " / %" PRId64 " / %" PRId64, run->wins, run->ties,
                 run->losses);
        cJSON_AddStringToObject(o, "wtl", s);
    }
    int regression = run->verdict && strcmp(run->verdict, "regression") == 0;
    cJSON_AddStringToObject(o, "verdict", regression ? "REGRESSION" : "PASS");
    cJSON_AddBoolToObject(o, "regression", regression);
    cJSON_AddBoolToObject(o, "interrupted", run->interrupted);
    cJSON_AddStringToObject(o, "cost", ui_fmt_usd(s, sizeof(s), run->cost_usd));
    cJSON_AddStringToObject(o, "ncases", ui_fmt_count(s, sizeof(s), (double)run->ncases));
    if (run->repeats > 1)
        cJSON_AddNumberToObject(o, "repeats", (double)run->repeats);
    else
        cJSON_AddFalseToObject(o, "repeats");
    return o;
}

static int on_run(void *arg, const struct evals_run *run)
{
    struct runs_ctx *x = arg;
    if (x->suites && run->suite && !cJSON_GetObjectItemCaseSensitive(x->suites, run->suite))
        cJSON_AddTrueToObject(x->suites, run->suite);
    if (!x->rows)
        return 0;
    if (x->n == RUNS_MAX) {
        x->more = 1;
        return x->suites == NULL; /* go on only to see more suites */
    }
    cJSON_AddItemToArray(x->rows, run_row(run));
    x->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The suite filter's choices, sorted, the one asked for selected. */
static void suites_view(struct ui_req *r, const cJSON *set, const char *selected)
{
    int n = cJSON_GetArraySize(set), k = 0;
    const char **names = xcalloc((size_t)(n ? n : 1), sizeof(*names));
    const cJSON *it;
    cJSON_ArrayForEach(it, set) names[k++] = it->string;
    qsort(names, (size_t)k, sizeof(*names), cmp_str);
    cJSON *list = cJSON_AddArrayToObject(r->view, "suites");
    for (int i = 0; i < k; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "value", names[i]);
        cJSON_AddBoolToObject(o, "selected", selected && strcmp(names[i], selected) == 0);
        cJSON_AddItemToArray(list, o);
    }
    free(names);
}

static int runs_view(struct ui_req *r, sqlite3 *db, const char *suite)
{
    struct runs_ctx x = {.rows = cJSON_AddArrayToObject(r->view, "runs"),
                         .suites = cJSON_CreateObject()};
    int rc = 0;
    if (suite) { /* the suites from the newest runs of all; the rows of one */
        struct runs_ctx all = {.suites = x.suites};
        rc = evals_list_runs(db, NULL, SUITES_SEEN, on_run, &all);
        cJSON *seen = x.suites;
        x.suites = NULL;
        rc = rc ? rc : evals_list_runs(db, suite, RUNS_MAX + 1, on_run, &x);
        x.suites = seen;
        if (!cJSON_GetObjectItemCaseSensitive(seen, suite)) /* older than the runs read */
            cJSON_AddTrueToObject(seen, suite);
    } else
        rc = evals_list_runs(db, NULL, SUITES_SEEN, on_run, &x);
    if (rc != 0)
        snprintf(r->err, sizeof(r->err), "the store cannot list the evaluation runs: %s",
                 sqlite3_errmsg(db));
    else
        suites_view(r, x.suites, suite);
    cJSON_AddNumberToObject(r->view, "run_count", x.n);
    cJSON_AddBoolToObject(r->view, "more_runs", x.more);
    cJSON_Delete(x.suites);
    return rc;
}

/* The trend: per prompt, its newest TREND_VERSIONS versions' scores. */
struct trend {
    char *prompt;
    int n;
    int64_t version[TREND_VERSIONS], finished[TREND_VERSIONS];
    double score[TREND_VERSIONS];
    char run[TREND_VERSIONS][17];
};

struct trend_ctx {
    struct trend *t; /* TREND_PROMPTS of them */
    int n, more;
};

static int on_trend(void *arg, const char *prompt, int64_t version, double score,
                    const char *run_id, int64_t finished_ns)
{
    struct trend_ctx *x = arg;
    if (x->n == 0 || strcmp(x->t[x->n - 1].prompt, prompt) != 0) {
        if (x->n == TREND_PROMPTS) {
            x->more = 1;
            return 1;
        }
        x->t[x->n++].prompt = xstrdup(prompt);
    }
    struct trend *t = &x->t[x->n - 1];
    if (t->n == TREND_VERSIONS) { /* oldest first: drop the oldest */
        memmove(t->version, t->version + 1, (TREND_VERSIONS - 1) * sizeof(t->version[0]));
        memmove(t->finished, t->finished + 1, (TREND_VERSIONS - 1) * sizeof(t->finished[0]));
        memmove(t->score, t->score + 1, (TREND_VERSIONS - 1) * sizeof(t->score[0]));
        memmove(t->run, t->run + 1, (TREND_VERSIONS - 1) * sizeof(t->run[0]));
        t->n--;
    }
    t->version[t->n] = version;
    t->finished[t->n] = finished_ns;
    t->score[t->n] = score;
    snprintf(t->run[t->n], sizeof(t->run[0]), "%s", run_id);
    t->n++;
    return 0;
}

/* One prompt's chart and table. */
static int trend_item(cJSON *list, const struct trend *t)
{
    char(*labels)[24] = xcalloc((size_t)t->n, sizeof(*labels));
    const char **cats = xcalloc((size_t)t->n, sizeof(*cats));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "prompt", t->prompt);
    cJSON *rows = cJSON_AddArrayToObject(o, "rows");
    for (int i = 0; i < t->n; i++) {
        char s[64];
        snprintf(labels[i], sizeof(labels[i]), "v%" PRId64, t->version[i]);
        cats[i] = labels[i];
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "version", labels[i]);
        add_fmt(row, "score", fmt_score, t->score[i]);
        cJSON_AddStringToObject(row, "run_id", t->run[i]);
        ui_fmt_time(s, sizeof(s), t->finished[i]);
        s[10] = '\0'; /* the day is enough here */
        cJSON_AddStringToObject(row, "day", s);
        cJSON_AddItemToArray(rows, row);
    }
    struct chart_series ser = {.name = t->prompt, .values = t->score};
    char title[256];
    snprintf(title, sizeof(title), "Score of %s by version", t->prompt);
    struct chart c = {.title = title,
                      .categories = cats,
                      .ncat = (size_t)t->n,
                      .series = &ser,
                      .nseries = 1,
                      .unit = CHART_RATIO, /* counts step by whole numbers: scores are 0-1 */
                      .width = 600,
                      .height = 220};
    struct buf svg;
    buf_init(&svg, 1u << 20);
    int rc = chart_lines(&svg, &c);
    if (rc == 0)
        cJSON_AddStringToObject(o, "chart", buf_str(&svg));
    buf_release(&svg);
    cJSON_AddItemToArray(list, o);
    free(cats);
    free(labels);
    return rc ? -1 : 0;
}

static int trend_view(struct ui_req *r, sqlite3 *db)
{
    struct trend_ctx x = {.t = xcalloc(TREND_PROMPTS, sizeof(struct trend))};
    int rc = evals_trend(db, on_trend, &x);
    if (rc != 0)
        snprintf(r->err, sizeof(r->err), "the store cannot read the trend: %s", sqlite3_errmsg(db));
    cJSON *list = cJSON_AddArrayToObject(r->view, "trend");
    for (int i = 0; i < x.n; i++) {
        if (rc == 0 && trend_item(list, &x.t[i]) != 0) {
            snprintf(r->err, sizeof(r->err), "the trend chart is too big");
            rc = -1;
        }
        free(x.t[i].prompt);
    }
    cJSON_AddBoolToObject(r->view, "more_prompts", x.more);
    free(x.t);
    return rc;
}

int ui_h_evals(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "evals") != 0)
        return 405;
    char suite[UI_VALUE_MAX] = "";
    int got = ui_param(&r, "suite", suite, sizeof(suite));
    ui_add_str(cJSON_AddObjectToObject(r.view, "filters"), "suite", suite);
    sqlite3 *db = NULL;
    int status;
    if (got < 0)
        status = ui_fail_in(&r, 400, "evals", "a suite name is at most %d bytes", UI_VALUE_MAX - 1);
    else if (!(db = ui_req_db(&r)))
        status = ui_fail(&r, 503, "%s", r.err);
    else if (runs_view(&r, db, got ? suite : NULL) != 0 || trend_view(&r, db) != 0)
        status = ui_fail(&r, 500, "%s", r.err);
    else
        status = ui_page(&r, 200, "evals");
    ui_req_end(&r);
    return status;
}

/* ---- /evals/{run_id}: the summary ---------------------------------------- */

static void interval_view(cJSON *o, const cJSON *iv, int sign)
{
    char s[96];
    add_fmt(o, "mean", sign ? fmt_diff : fmt_score, num(iv, "mean"));
    cJSON_AddStringToObject(o, "ci", fmt_ci(s, sizeof(s), num(iv, "lo"), num(iv, "hi"), sign));
}

/* The p-values and win / tie / loss counts of a comparison object. */
static void comparison_view(cJSON *o, const cJSON *cmp)
{
    char s[96];
    interval_view(o, cJSON_GetObjectItemCaseSensitive(cmp, "diff"), 1);
    cJSON_AddBoolToObject(o, "diff_neg",
                          num(cJSON_GetObjectItemCaseSensitive(cmp, "diff"), "mean") < 0);
    snprintf(s, sizeof(s), "%.0f / %.0f / %.0f", num(cmp, "wins"), num(cmp, "ties"),
             num(cmp, "losses"));
    cJSON_AddStringToObject(o, "wtl", s);
    add_fmt(o, "sign_p", fmt_p, num(cmp, "sign_p"));
    add_fmt(o, "wilcoxon_p", fmt_p, num(cmp, "wilcoxon_p"));
}

static cJSON *variant_view(const cJSON *v, int i)
{
    char s[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "letter", letter(i));
    cJSON_AddStringToObject(o, "name", str(v, "name") ? str(v, "name") : letter(i));
    ui_add_str(o, "prompt", str(v, "prompt"));
    ui_add_str(o, "model", str(v, "model"));
    ui_add_str(o, "upstream", str(v, "upstream"));
    interval_view(o, cJSON_GetObjectItemCaseSensitive(v, "score"), 0);
    add_fmt(o, "pass_rate", fmt_pct, num(v, "pass_rate"));
    add_fmt(o, "pass_hat_n", fmt_pct, num(v, "pass_hat_n"));
    cJSON_AddStringToObject(o, "calls", ui_fmt_count(s, sizeof(s), num(v, "calls")));
    cJSON_AddStringToObject(o, "failed", ui_fmt_count(s, sizeof(s), num(v, "failed")));
    cJSON_AddStringToObject(o, "cached", ui_fmt_count(s, sizeof(s), num(v, "cached")));
    cJSON_AddStringToObject(o, "cost", ui_fmt_usd(s, sizeof(s), num(v, "cost_usd")));
    cJSON_AddStringToObject(o, "p50", ui_fmt_ms(s, sizeof(s), num(v, "latency_p50_ms")));
    cJSON_AddStringToObject(o, "p95", ui_fmt_ms(s, sizeof(s), num(v, "latency_p95_ms")));
    return o;
}

static cJSON *scorer_view(const cJSON *sc, int i)
{
    char s[64];
    cJSON *o = cJSON_CreateObject();
    const char *name = str(sc, "name");
    snprintf(s, sizeof(s), "scorer %d", i + 1);
    cJSON_AddStringToObject(o, "name", name ? name : s);
    ui_add_str(o, "type", str(sc, "type"));
    add_fmt(o, "weight", fmt_plain, num(sc, "weight"));
    add_fmt(o, "threshold", fmt_score, num(sc, "threshold"));
    cJSON *means = cJSON_AddArrayToObject(o, "means");
    const cJSON *v;
    int k = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(sc, "variants"))
    {
        if (k++ == 8)
            break;
        cJSON *m = cJSON_CreateObject();
        interval_view(m, v, 0);
        add_fmt(m, "pass_rate", fmt_pct, num(v, "pass_rate"));
        cJSON_AddItemToArray(means, m);
    }
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(sc, "comparison");
    if (cJSON_IsObject(cmp))
        comparison_view(cJSON_AddObjectToObject(o, "cmp"), cmp);
    return o;
}

/* The run's row and its summary (the report without cases) into the view;
 * the summary's scorer names into 'scorers' (borrowed from 'sum'). */
static void run_view(struct ui_req *r, const struct evals_run *run, const cJSON *sum)
{
    char s[96];
    cJSON *o = run_row(run);
    cJSON_AddStringToObject(o, "started", ui_fmt_time(s, sizeof(s), run->started_ns));
    ui_add_str(o, "reason", str(sum, "reason"));
    const cJSON *gate = cJSON_GetObjectItemCaseSensitive(sum, "gate");
    if (cJSON_IsObject(gate)) {
        cJSON *g = cJSON_AddObjectToObject(o, "gate");
        add_fmt(g, "min_score", fmt_score, num(gate, "min_score"));
        add_fmt(g, "max_regression", fmt_score, num(gate, "max_regression"));
        add_fmt(g, "alpha", fmt_score, num(gate, "alpha"));
    }
    cJSON_AddItemToObject(r->view, "run", o);
    cJSON_AddBoolToObject(r->view, "show_pass_hat", run->repeats > 1);
    cJSON_AddBoolToObject(r->view, "can_compare", run->nvariants >= 2);
    cJSON *vars = cJSON_AddArrayToObject(r->view, "variants");
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(sum, "variants"))
    {
        if (i == 8)
            break;
        cJSON_AddItemToArray(vars, variant_view(v, i++));
    }
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(sum, "comparison");
    if (cJSON_IsObject(cmp))
        comparison_view(cJSON_AddObjectToObject(r->view, "comparison"), cmp);
    cJSON *scs = cJSON_AddArrayToObject(r->view, "scorers");
    i = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(sum, "scorers"))
    {
        cJSON_AddItemToArray(scs, scorer_view(v, i++));
    }
}

/* ---- /evals/{run_id}: the cases ------------------------------------------ */

struct cases_ctx {
    cJSON *list;
    const cJSON *scorers; /* the summary's, for the scores' names */
    const cJSON *variants;
    int64_t after, last;
    int n, more, repeats;
    size_t bytes;
};

static cJSON *score_view(const cJSON *sc, const cJSON *scorer)
{
    cJSON *o = cJSON_CreateObject();
    const char *name = str(scorer, "name");
    cJSON_AddStringToObject(o, "scorer", name ? name : "score");
    add_fmt(o, "score_value", fmt_score, num(sc, "value"));
    int err = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sc, "error"));
    int pass = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sc, "pass"));
    cJSON_AddBoolToObject(o, "pass", pass && !err);
    cJSON_AddBoolToObject(o, "fail", !pass && !err);
    cJSON_AddBoolToObject(o, "scorer_error", err);
    const char *reason = str(sc, "reason");
    if (reason && *reason)
        add_shown(o, "reason", reason);
    else
        cJSON_AddFalseToObject(o, "reason");
    return o;
}

static cJSON *output_view(const cJSON *out, int rep, const struct cases_ctx *x)
{
    char s[96];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "repeat", rep + 1);
    cJSON_AddBoolToObject(o, "show_repeat", x->repeats > 1);
    int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "ok"));
    cJSON_AddBoolToObject(o, "ok", ok);
    const char *text = str(out, "text"), *error = str(out, "error");
    if (ok && text)
        add_shown(o, "text", text);
    else
        cJSON_AddFalseToObject(o, "text");
    cJSON_AddStringToObject(o, "output_error", !ok ? (error ? error : "no answer") : "");
    cJSON_AddBoolToObject(o, "failed", !ok);
    cJSON_AddStringToObject(o, "latency", ui_fmt_ms(s, sizeof(s), num(out, "latency_ms")));
    cJSON_AddStringToObject(o, "output_cost", ui_fmt_usd(s, sizeof(s), num(out, "cost_usd")));
    double tin = num(out, "input_tokens"), tout = num(out, "output_tokens");
    if (tin >= 0 && tout >= 0) {
        snprintf(s, sizeof(s), "%.0f in · %.0f out", tin, tout);
        cJSON_AddStringToObject(o, "tokens", s);
    } else
        cJSON_AddFalseToObject(o, "tokens");
    cJSON_AddBoolToObject(o, "cached",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "cached")));
    const char *tid = str(out, "trace_id"), *sid = str(out, "span_id");
    if (tid && strlen(tid) == 32 && strspn(tid, "0123456789abcdef") == 32) {
        char *href = sid && strlen(sid) == 16 && strspn(sid, "0123456789abcdef") == 16
                         ? xasprintf("/traces/%s#span-%s", tid, sid)
                         : xasprintf("/traces/%s", tid);
        cJSON_AddStringToObject(o, "trace_href", href);
        free(href);
    } else
        cJSON_AddFalseToObject(o, "trace_href");
    add_fmt(o, "output_score", fmt_score, num(out, "score"));
    cJSON *list = cJSON_AddArrayToObject(o, "output_scores");
    const cJSON *sc;
    int k = 0;
    cJSON_ArrayForEach(sc, cJSON_GetObjectItemCaseSensitive(out, "scores"))
    {
        cJSON_AddItemToArray(list, score_view(sc, cJSON_GetArrayItem(x->scorers, k++)));
    }
    return o;
}

/* The key / value rows of an object (variables). */
static cJSON *pairs_view(const cJSON *obj)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *kv;
    cJSON_ArrayForEach(kv, obj)
    {
        cJSON *p = cJSON_CreateObject();
        char *v = as_text(kv);
        cJSON_AddStringToObject(p, "key", kv->string ? kv->string : "");
        add_shown(p, "value", v);
        free(v);
        cJSON_AddItemToArray(list, p);
    }
    return list;
}

static cJSON *case_view(const cJSON *c, int64_t idx, double delta, const struct cases_ctx *x)
{
    char s[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "idx", (double)idx);
    cJSON_AddStringToObject(o, "case_id", str(c, "id") ? str(c, "id") : "");
    cJSON_AddStringToObject(o, "delta", fmt_diff(s, sizeof(s), delta));
    cJSON_AddBoolToObject(o, "has_delta", !isnan(delta));
    cJSON_AddBoolToObject(o, "loss", delta < 0);
    cJSON_AddBoolToObject(o, "win", delta > 0);
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(c, "vars");
    cJSON_AddItemToObject(o, "vars", pairs_view(cJSON_IsObject(vars) ? vars : NULL));
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "expected");
    if (exp && !cJSON_IsNull(exp)) {
        char *t = as_text(exp);
        add_shown(o, "expected", t);
        free(t);
    } else
        cJSON_AddFalseToObject(o, "expected");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(c, "metadata");
    if (cJSON_IsObject(meta) && meta->child)
        cJSON_AddItemToObject(o, "metadata", pairs_view(meta));
    else
        cJSON_AddFalseToObject(o, "metadata");
    cJSON *cols = cJSON_AddArrayToObject(o, "columns");
    const cJSON *per, *scores = cJSON_GetObjectItemCaseSensitive(c, "scores");
    int v = 0;
    cJSON_ArrayForEach(per, cJSON_GetObjectItemCaseSensitive(c, "outputs"))
    {
        if (v == 8)
            break;
        cJSON *col = cJSON_CreateObject();
        const char *name = str(cJSON_GetArrayItem(x->variants, v), "name");
        cJSON_AddStringToObject(col, "letter", letter(v));
        cJSON_AddStringToObject(col, "variant", name ? name : letter(v));
        const cJSON *cs = cJSON_GetArrayItem(scores, v);
        add_fmt(col, "case_score", fmt_score, cJSON_IsNumber(cs) ? cs->valuedouble : NAN);
        cJSON *outs = cJSON_AddArrayToObject(col, "outputs");
        const cJSON *out;
        int rep = 0;
        cJSON_ArrayForEach(out, per)
        {
            if (rep == 100)
                break;
            cJSON_AddItemToArray(outs, output_view(out, rep++, x));
        }
        cJSON_AddItemToArray(cols, col);
        v++;
    }
    return o;
}

static int on_case(void *arg, int64_t idx, const char *case_id, double delta, const char *json)
{
    struct cases_ctx *x = arg;
    (void)case_id;
    if (idx <= x->after)
        return 0;
    size_t len = strlen(json);
    if (x->n == CASES_PAGE || (x->n > 0 && x->bytes + len > CASES_BYTES)) {
        x->more = 1;
        return 1;
    }
    char why[128];
    cJSON *c = jsonx_parse(json, len, why, sizeof(why));
    cJSON *o;
    if (cJSON_IsObject(c))
        o = case_view(c, idx, delta, x);
    else { /* the store holds only checked reports: say so, do not fail the page */
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "case_id", case_id ? case_id : "");
        cJSON_AddStringToObject(o, "broken", "this case's stored JSON cannot be read");
    }
    cJSON_Delete(c);
    cJSON_AddItemToArray(x->list, o);
    x->bytes += len;
    x->last = idx;
    x->n++;
    return 0;
}

/* The pager's links and the filter's two links. */
static void pager_view(struct ui_req *r, const char *run_id, int losses, int64_t after,
                       const struct cases_ctx *x)
{
    char *all = xasprintf("/evals/%s", run_id), *lost = xasprintf("/evals/%s?losses=1", run_id);
    cJSON_AddStringToObject(r->view, "all_href", all);
    cJSON_AddStringToObject(r->view, "losses_href", lost);
    cJSON_AddBoolToObject(r->view, "losses_only", losses);
    if (after >= 0)
        cJSON_AddStringToObject(r->view, "first_href", losses ? lost : all);
    if (x->more) {
        char *next =
            xasprintf("/evals/%s?%safter=%" PRId64, run_id, losses ? "losses=1&" : "", x->last);
        cJSON_AddStringToObject(r->view, "next_href", next);
        free(next);
    }
    cJSON_AddNumberToObject(r->view, "case_count", x->n);
    free(all);
    free(lost);
}

/* ?after=IDX and ?losses=1; -1 with r->err for the user. */
static int case_params(struct ui_req *r, int64_t *after, int *losses)
{
    char a[32] = "", l[8] = "";
    int got = ui_param(r, "after", a, sizeof(a));
    char *end = a;
    long long v = got > 0 ? strtoll(a, &end, 10) : -1;
    if (got < 0 || (got > 0 && (end == a || *end || v < 0)))
        return snprintf(r->err, sizeof(r->err), "'after' is not a case position"), -1;
    *after = got > 0 ? v : -1;
    got = ui_param(r, "losses", l, sizeof(l));
    if (got < 0 || (got && strcmp(l, "1") != 0 && strcmp(l, "0") != 0))
        return snprintf(r->err, sizeof(r->err), "'losses' is 1 (only the losses) or 0"), -1;
    *losses = got && l[0] == '1';
    return 0;
}

/* The run id of /evals/{id}: 16 lowercase hex digits, else -1. */
static int run_path_id(struct mg_connection *c, char out[17])
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *uri = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    static const char prefix[] = "/evals/";
    if (strncmp(uri, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *id = uri + sizeof(prefix) - 1;
    if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
        return -1;
    memcpy(out, id, 17);
    return 0;
}

/* Fill the run page; 0, 1 when there is no such run, -1 with r->err. */
static int run_page(struct ui_req *r, sqlite3 *db, const char *id, int64_t after, int losses)
{
    struct evals_run run;
    int found = evals_get_run(db, id, &run);
    if (found <= 0) {
        if (found < 0)
            snprintf(r->err, sizeof(r->err), "the store cannot read the run: %s",
                     sqlite3_errmsg(db));
        return found < 0 ? -1 : 1;
    }
    char why[128];
    cJSON *sum =
        run.summary ? jsonx_parse(run.summary, strlen(run.summary), why, sizeof(why)) : NULL;
    run_view(r, &run, sum);
    struct cases_ctx x = {.list = cJSON_AddArrayToObject(r->view, "cases"),
                          .scorers = cJSON_GetObjectItemCaseSensitive(sum, "scorers"),
                          .variants = cJSON_GetObjectItemCaseSensitive(sum, "variants"),
                          .after = after,
                          .last = after,
                          .repeats = (int)run.repeats};
    int rc = evals_cases(db, id, losses, on_case, &x);
    if (rc != 0)
        snprintf(r->err, sizeof(r->err), "the store cannot read the cases: %s", sqlite3_errmsg(db));
    pager_view(r, id, losses, after, &x);
    cJSON_Delete(sum);
    evals_run_release(&run);
    return rc;
}

int ui_h_eval_run(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "evals") != 0)
        return 405;
    char id[17];
    int64_t after = -1;
    int losses = 0, status;
    sqlite3 *db = NULL;
    if (run_path_id(c, id) != 0)
        status = ui_fail(&r, 400, "a run id is 16 lowercase hex digits");
    else if (case_params(&r, &after, &losses) != 0)
        status = ui_fail(&r, 400, "%s", r.err);
    else if (!(db = ui_req_db(&r)))
        status = ui_fail(&r, 503, "%s", r.err);
    else {
        int rc = run_page(&r, db, id, after, losses);
        status = rc < 0   ? ui_fail(&r, 500, "%s", r.err)
                 : rc > 0 ? ui_fail(&r, 404, "no evaluation run %s is stored", id)
                          : ui_page(&r, 200, "eval_run");
    }
    ui_req_end(&r);
    return status;
}

/* ---- the trace page: a span's scores ------------------------------------- */

struct span_scores {
    cJSON *items;
    int n, more;
};

static int on_span_score(void *arg, const char *name, double value, const char *comment,
                         const char *source, int64_t time_ns)
{
    struct span_scores *x = arg;
    if (x->n == SPAN_SCORES_MAX) {
        x->more++;
        return 0;
    }
    char s[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "score_name", name ? name : "");
    if (isnan(value))
        snprintf(s, sizeof(s), "%s", dash);
    else
        snprintf(s, sizeof(s), "%.4g", value);
    cJSON_AddStringToObject(o, "score_value", s);
    cJSON_AddStringToObject(o, "score_source", source ? source : "");
    if (comment && *comment)
        add_shown(o, "score_comment", comment);
    else
        cJSON_AddFalseToObject(o, "score_comment");
    cJSON_AddStringToObject(o, "score_time", ui_fmt_time(s, sizeof(s), time_ns));
    cJSON_AddItemToArray(x->items, o);
    x->n++;
    return 0;
}

/* Add the scores of one span view (its project, trace_id and span_id). */
static int span_scores(struct ui_req *r, sqlite3 *db, cJSON *span)
{
    const char *project = str(span, "project"), *trace = str(span, "trace_id"),
               *id = str(span, "span_id");
    if (!project || !trace || !id)
        return 0;
    struct span_scores x = {.items = cJSON_CreateArray()};
    if (evals_span_scores(db, project, trace, id, on_span_score, &x) != 0) {
        snprintf(r->err, sizeof(r->err), "the store cannot read the scores: %s",
                 sqlite3_errmsg(db));
        cJSON_Delete(x.items);
        return -1;
    }
    if (x.n == 0) {
        cJSON_Delete(x.items);
        return 0;
    }
    cJSON *o = cJSON_AddObjectToObject(span, "scores");
    cJSON_AddItemToObject(o, "items", x.items);
    if (x.more)
        cJSON_AddNumberToObject(o, "more", x.more);
    return 0;
}

/* 1 when some span of 'trace' in 'project' has a score, 0 when none, -1
 * on error: most traces have none, and a trace has up to 2,000 spans. */
static int trace_scored(struct ui_req *r, sqlite3 *db, const char *project, const char *trace)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT EXISTS (SELECT 1 FROM scores WHERE project = ?1"
                                  " AND trace_id = ?2 AND span_id IS NOT NULL)");
    if (!st)
        return -1;
    int rc = sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC) |
             sqlite3_bind_text(st, 2, trace, -1, SQLITE_STATIC);
    rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
    int found = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : -1;
    sqlite3_finalize(st);
    if (found < 0)
        snprintf(r->err, sizeof(r->err), "the store cannot read the scores: %s",
                 sqlite3_errmsg(db));
    return found;
}

int ui_evals_span_scores(struct ui_req *r, sqlite3 *db, cJSON *const *spans, int count)
{
    const char *last = NULL; /* the project last asked about, and its answer */
    int scored = 0;
    for (int i = 0; i < count; i++) {
        const char *project = str(spans[i], "project"), *trace = str(spans[i], "trace_id");
        if (!project || !trace)
            continue;
        if (!last || strcmp(last, project) != 0) {
            if ((scored = trace_scored(r, db, project, trace)) < 0)
                return -1;
            last = project;
        }
        if (scored && span_scores(r, db, spans[i]) != 0)
            return -1;
    }
    return 0;
}

/* ---- the versions page: eval score columns ------------------------------- */

struct vset_acc {
    cJSON *by_vset; /* {version_set: {score name: [sum of means x n, n]}} */
    cJSON *names;   /* {score name: true} */
    int nnames;
};

static int on_vset(void *arg, const char *version_set, const char *score_name, double mean,
                   int64_t n)
{
    struct vset_acc *x = arg;
    if (!version_set || !score_name || n <= 0)
        return 0;
    if (!cJSON_GetObjectItemCaseSensitive(x->names, score_name)) {
        if (x->nnames == SCORE_COLUMNS)
            return 0;
        cJSON_AddTrueToObject(x->names, score_name);
        x->nnames++;
    }
    cJSON *vs = cJSON_GetObjectItemCaseSensitive(x->by_vset, version_set);
    if (!vs)
        vs = cJSON_AddObjectToObject(x->by_vset, version_set);
    cJSON *cell = cJSON_GetObjectItemCaseSensitive(vs, score_name);
    if (!cell) {
        cell = cJSON_CreateDoubleArray((const double[]){0, 0}, 2);
        cJSON_AddItemToObject(vs, score_name, cell);
    }
    cJSON *sum = cJSON_GetArrayItem(cell, 0), *cnt = cJSON_GetArrayItem(cell, 1);
    cJSON_SetNumberValue(sum, sum->valuedouble + mean * (double)n);
    cJSON_SetNumberValue(cnt, cnt->valuedouble + (double)n);
    return 0;
}

/* The mean of 'name' over 'version_set' (NaN when none) and its count. */
static double vset_mean(const struct vset_acc *x, const char *version_set, const char *name,
                        double *n)
{
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(x->by_vset, version_set);
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(vs, name);
    *n = cell ? cJSON_GetArrayItem(cell, 1)->valuedouble : 0;
    return *n > 0 ? cJSON_GetArrayItem(cell, 0)->valuedouble / *n : NAN;
}

/* Every project's version scores (the projects the rollups know). */
static int vset_read(struct ui_req *r, sqlite3 *db, struct vset_acc *x)
{
    sqlite3_stmt *st = ui_prepare(r, db,
                                  "SELECT DISTINCT project FROM rollup_daily WHERE model <> ''"
                                  " ORDER BY 1 LIMIT ?1");
    if (!st)
        return -1;
    int rc = sqlite3_bind_int(st, 1, VSET_PROJECTS) == SQLITE_OK ? SQLITE_OK : SQLITE_ERROR;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = evals_version_scores(db, ui_col_text(st, 0), on_vset, x) == 0 ? SQLITE_OK
                                                                           : SQLITE_ERROR;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        snprintf(r->err, sizeof(r->err), "the store cannot read the eval scores: %s",
                 sqlite3_errmsg(db));
    return rc == SQLITE_DONE ? 0 : -1;
}

static void score_cell(cJSON *cols, const struct vset_acc *x, const char *vs, const char *name)
{
    double n;
    double mean = vset_mean(x, vs, name, &n);
    cJSON *o = cJSON_CreateObject();
    add_fmt(o, "score_mean", fmt_score, mean);
    if (n > 0) {
        char s[64];
        cJSON_AddStringToObject(o, "score_n", ui_fmt_count(s, sizeof(s), n));
    } else
        cJSON_AddFalseToObject(o, "score_n");
    cJSON_AddItemToArray(cols, o);
}

/* The compare table's score rows: A's and B's means and B - A. */
static void compare_scores(cJSON *cmp, const struct vset_acc *x, const char **names, int k)
{
    const char *a = str(cmp, "a"), *b = str(cmp, "b");
    cJSON *rows = cJSON_AddArrayToObject(cmp, "score_rows");
    for (int i = 0; i < k && a && b; i++) {
        double na, nb, ma = vset_mean(x, a, names[i], &na), mb = vset_mean(x, b, names[i], &nb);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "score_name", names[i]);
        add_fmt(o, "score_a", fmt_score, ma);
        add_fmt(o, "score_b", fmt_score, mb);
        add_fmt(o, "score_delta", fmt_diff, mb - ma);
        cJSON_AddBoolToObject(o, "score_worse", mb < ma);
        cJSON_AddItemToArray(rows, o);
    }
}

int ui_evals_versions(struct ui_req *r, sqlite3 *db, cJSON *versions)
{
    struct vset_acc x = {.by_vset = cJSON_CreateObject(), .names = cJSON_CreateObject()};
    int rc = vset_read(r, db, &x);
    if (rc == 0 && x.nnames > 0) {
        const char **names = xcalloc((size_t)x.nnames, sizeof(*names));
        int k = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, x.names) names[k++] = it->string;
        qsort(names, (size_t)k, sizeof(*names), cmp_str);
        cJSON *heads = cJSON_AddArrayToObject(r->view, "score_names");
        for (int i = 0; i < k; i++)
            cJSON_AddItemToArray(heads, cJSON_CreateString(names[i]));
        cJSON *row;
        cJSON_ArrayForEach(row, versions)
        {
            const char *vs = str(row, "value");
            cJSON *cols = cJSON_AddArrayToObject(row, "score_cols");
            for (int i = 0; i < k && vs; i++)
                score_cell(cols, &x, vs, names[i]);
        }
        cJSON *cmp = cJSON_GetObjectItemCaseSensitive(r->view, "compare");
        if (cmp)
            compare_scores(cmp, &x, names, k);
        free(names);
    }
    cJSON_Delete(x.by_vset);
    cJSON_Delete(x.names);
    return rc;
}
