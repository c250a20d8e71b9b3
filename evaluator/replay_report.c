/*
 * replay_report: a replay's comparison for people (the terminal) and for
 * programs (JSON), from the summaries replay.c builds (replay.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/xmem.h"
#include "evaluator/replay.h"

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* 'v' as the 'kind' wants it ("tok", "usd", "ms", "score"), signed when
 * 'sign'; "-" when unknown. */
static const char *fmt(char *dst, size_t n, double v, const char *kind, int sign)
{
    if (isnan(v)) {
        snprintf(dst, n, "%s", sign ? "" : "-");
        return dst;
    }
    const char *plus = sign && v >= 0 ? "+" : "";
    if (strcmp(kind, "tok") == 0)
        snprintf(dst, n, "%s%.0f", plus, v);
    else if (strcmp(kind, "usd") == 0)
        snprintf(dst, n, "%s$%.6f", plus, v);
    else if (strcmp(kind, "ms") == 0)
        snprintf(dst, n, "%s%.1f ms", plus, v);
    else
        snprintf(dst, n, "%s%.3f", plus, v);
    return dst;
}

static void line(FILE *f, const char *label, const cJSON *a, const cJSON *b, const cJSON *d,
                 const char *key, const char *kind)
{
    char x[48], y[48], z[48];
    fprintf(f, "  %-22s %-18s %-18s %s\n", label, fmt(x, sizeof(x), num(a, key), kind, 0),
            fmt(y, sizeof(y), num(b, key), kind, 0), fmt(z, sizeof(z), num(d, key), kind, 1));
}

static void output_block(FILE *f, const char *title, const cJSON *side)
{
    const char *out = jsonx_str(side, "output");
    const char *err = jsonx_str(side, "error");
    fprintf(f, "%s:\n", title);
    if (!out) {
        fprintf(f, "  (no output%s%s)\n", err ? ": " : "", err ? err : "");
        return;
    }
    fputs("  ", f);
    for (const char *p = out; *p; p++) {
        fputc(*p, f);
        if (*p == '\n' && p[1])
            fputs("  ", f);
    }
    fputc('\n', f);
}

static void write_one(const struct replay_result *res, size_t c, FILE *f)
{
    cJSON *s = replay_summary(res, c);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "original");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(s, "replay");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "delta");
    fprintf(f, "replay %s of %s with %s\n", res->cases[c].id, jsonx_str(s, "case"),
            jsonx_str(s, "prompt"));
    if (res->cases[c].swapped)
        fprintf(f,
                "mode: system_swap (the call was stored without prompt variables: its stored "
                "input was sent with the system message of %s)\n",
                jsonx_str(s, "prompt"));
    else
        fprintf(f, "mode: variables (the stored prompt variables rendered with %s)\n",
                jsonx_str(s, "prompt"));
    if (jsonx_str(b, "trace_id"))
        fprintf(f, "new span: %s:%s (replay_of %s)\n", jsonx_str(b, "trace_id"),
                jsonx_str(b, "span_id"), jsonx_str(s, "case"));
    fprintf(f, "  %-22s %-18s %-18s %s\n", "", "original", "replay", "delta");
    fprintf(f, "  %-22s %-18s %-18s\n", "prompt", jsonx_str(a, "prompt"), jsonx_str(b, "prompt"));
    fprintf(f, "  %-22s %-18s %-18s\n", "model", jsonx_str(a, "model"), jsonx_str(b, "model"));
    line(f, "input tokens", a, b, d, "input_tokens", "tok");
    line(f, "output tokens", a, b, d, "output_tokens", "tok");
    line(f, "cost", a, b, d, "cost_usd", "usd");
    line(f, "latency", a, b, d, "latency_ms", "ms");
    const cJSON *name;
    cJSON_ArrayForEach(name, cJSON_GetObjectItemCaseSensitive(s, "scorers"))
    {
        char label[64];
        snprintf(label, sizeof(label), "score %s", name->valuestring);
        line(f, label, cJSON_GetObjectItemCaseSensitive(a, "scores"),
             cJSON_GetObjectItemCaseSensitive(b, "scores"),
             cJSON_GetObjectItemCaseSensitive(d, "scores"), name->valuestring, "score");
    }
    line(f, "score (weighted)", a, b, d, "score", "score");
    output_block(f, "original output", a);
    output_block(f, "replay output", b);
    cJSON_Delete(s);
}

/* The mean cost of variant 'v''s priced answers; NAN when none is priced. */
static double mean_cost(const struct eval_report *r, size_t v)
{
    double sum = 0;
    size_t n = 0;
    for (size_t c = 0; c < r->ncases; c++) {
        const struct eval_output *o = eval_output_at(r, c, v, 0);
        if (o->ok && o->has_cost) {
            sum += (double)o->cost_nusd / 1e9;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

static void write_batch(const struct replay_result *res, FILE *f)
{
    const struct eval_report *r = &res->report;
    const struct gate_result *g = &res->gate;
    const struct gate_variant *a = &g->variants[0], *b = &g->variants[1];
    const struct stats_paired *p = &g->paired;
    double level = 100 * (1 - r->alpha);
    fprintf(f, "batch replay %s: %zu stored calls replayed with %s (model %s)\n", res->batch_id,
            r->ncases, r->variants[1].prompt, r->variants[1].model ? r->variants[1].model : "");
    if (res->skipped)
        fprintf(f, "  (%zu calls to another provider were not replayed)\n", res->skipped);
    fprintf(f, "  replay calls failed: %zu of %zu\n", b->failed, b->calls);
    fprintf(f, "  mean score  original %.3f [%.3f, %.3f]  replay %.3f [%.3f, %.3f]  (%.0f%% CI)\n",
            a->score.mean, a->score.lo, a->score.hi, b->score.mean, b->score.lo, b->score.hi,
            level);
    fprintf(f, "  difference  %+.3f [%+.3f, %+.3f]  win/tie/loss %zu/%zu/%zu  sign p=%.3g\n",
            p->diff.mean, p->diff.lo, p->diff.hi, p->wins, p->ties, p->losses, p->sign_p);
    char x[48], y[48], z[48];
    double ca = mean_cost(r, 0), cb = mean_cost(r, 1);
    fprintf(f, "  cost/call   original %s  replay %s  delta %s\n", fmt(x, sizeof(x), ca, "usd", 0),
            fmt(y, sizeof(y), cb, "usd", 0), fmt(z, sizeof(z), cb - ca, "usd", 1));
    fprintf(f, "  latency p50 original %s  replay %s  delta %s\n",
            fmt(x, sizeof(x), a->latency_p50_ms, "ms", 0),
            fmt(y, sizeof(y), b->latency_p50_ms, "ms", 0),
            fmt(z, sizeof(z), b->latency_p50_ms - a->latency_p50_ms, "ms", 1));
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct gate_scorer *gs = &g->scorers[s];
        fprintf(f, "  scorer %-12s original %.3f  replay %.3f  difference %+.3f [%+.3f, %+.3f]\n",
                r->scorers[s].name, gs->v[0].mean, gs->v[1].mean, gs->paired.diff.mean,
                gs->paired.diff.lo, gs->paired.diff.hi);
    }
    fprintf(f, "verdict: %s\n", replay_verdict(res));
}

void replay_write_text(const struct replay_result *res, FILE *f)
{
    if (res->batch)
        write_batch(res, f);
    else if (res->report.ncases == 1)
        write_one(res, 0, f);
    if (res->store_failed)
        fprintf(f, "warning: the replay was not stored: %s\n", res->store_error);
}

static void add_interval(cJSON *o, const char *name, const struct stats_interval *iv)
{
    cJSON *j = cJSON_AddObjectToObject(o, name);
    double v[] = {iv->mean, iv->lo, iv->hi};
    const char *k[] = {"mean", "lo", "hi"};
    for (int i = 0; i < 3; i++)
        if (isnan(v[i]))
            cJSON_AddNullToObject(j, k[i]);
        else
            cJSON_AddNumberToObject(j, k[i], v[i]);
    cJSON_AddNumberToObject(j, "n", (double)iv->n);
}

static void add_num(cJSON *o, const char *name, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, v);
}

static cJSON *aggregate(const struct replay_result *res)
{
    const struct gate_result *g = &res->gate;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "calls", (double)res->report.ncases);
    cJSON_AddNumberToObject(j, "failed", (double)g->variants[1].failed);
    cJSON_AddNumberToObject(j, "skipped", (double)res->skipped);
    add_interval(j, "original", &g->variants[0].score);
    add_interval(j, "replay", &g->variants[1].score);
    add_interval(j, "diff", &g->paired.diff);
    cJSON_AddNumberToObject(j, "wins", (double)g->paired.wins);
    cJSON_AddNumberToObject(j, "ties", (double)g->paired.ties);
    cJSON_AddNumberToObject(j, "losses", (double)g->paired.losses);
    add_num(j, "sign_p", g->paired.sign_p);
    double ca = mean_cost(&res->report, 0), cb = mean_cost(&res->report, 1);
    cJSON *cost = cJSON_AddObjectToObject(j, "cost_per_call_usd");
    add_num(cost, "original", ca);
    add_num(cost, "replay", cb);
    add_num(cost, "delta", cb - ca);
    cJSON *lat = cJSON_AddObjectToObject(j, "latency_p50_ms");
    add_num(lat, "original", g->variants[0].latency_p50_ms);
    add_num(lat, "replay", g->variants[1].latency_p50_ms);
    add_num(lat, "delta", g->variants[1].latency_p50_ms - g->variants[0].latency_p50_ms);
    cJSON_AddStringToObject(j, "verdict", replay_verdict(res));
    return j;
}

int replay_write_json(const struct replay_result *res, struct buf *out)
{
    cJSON *j = cJSON_CreateObject();
    if (res->batch)
        cJSON_AddStringToObject(j, "batch_id", res->batch_id);
    else
        cJSON_AddNullToObject(j, "batch_id");
    cJSON_AddBoolToObject(j, "stored", !res->store_failed);
    cJSON *arr = cJSON_AddArrayToObject(j, "replays");
    for (size_t c = 0; c < res->report.ncases; c++) {
        cJSON *s = replay_summary(res, c);
        cJSON_AddStringToObject(s, "id", res->cases[c].id);
        cJSON_AddItemToArray(arr, s);
    }
    cJSON_AddItemToObject(j, "aggregate", aggregate(res));
    char *text = jsonx_print(j);
    cJSON_Delete(j);
    int rc = buf_puts(out, text) || buf_putc(out, '\n');
    free(text);
    return rc ? -1 : 0;
}
