/*
 * eval: allocation and indexing of an evaluation run's grid (eval.h).
 */
#include "evaluator/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/xmem.h"

void eval_report_init(struct eval_report *r)
{
    memset(r, 0, sizeof(*r));
    r->repeats = 1;
    r->min_score = NAN;
    r->max_regression = 0;
    r->alpha = 0.05;
}

static size_t grid(const struct eval_report *r)
{
    return r->ncases * r->nvariants * (size_t)r->repeats;
}

int eval_report_alloc(struct eval_report *r)
{
    if (r->ncases > EVAL_MAX_CASES || r->nvariants < 1 || r->nvariants > EVAL_MAX_VARIANTS ||
        r->nscorers > EVAL_MAX_SCORERS || r->repeats < 1 || r->repeats > EVAL_MAX_REPEATS)
        return -1;
    size_t n = grid(r);
    r->outputs = xcalloc(n ? n : 1, sizeof(*r->outputs));
    size_t ns = n * r->nscorers;
    r->scores = xcalloc(ns > 0 ? ns : 1, sizeof(*r->scores));
    for (size_t i = 0; i < n * r->nscorers; i++)
        r->scores[i].error = 1;
    for (size_t i = 0; i < n; i++)
        r->outputs[i].input_tokens = r->outputs[i].output_tokens = -1;
    return 0;
}

static void case_release(struct eval_case *c)
{
    free(c->id);
    free(c->vars);
    free(c->expected);
    free(c->metadata);
}

void eval_report_release(struct eval_report *r)
{
    size_t n = r->outputs ? grid(r) : 0;
    for (size_t i = 0; i < n; i++) {
        free(r->outputs[i].text);
        free(r->outputs[i].error);
    }
    for (size_t i = 0; r->scores && i < n * r->nscorers; i++)
        free(r->scores[i].reason);
    for (size_t i = 0; r->cases && i < r->ncases; i++)
        case_release(&r->cases[i]);
    for (size_t v = 0; v < EVAL_MAX_VARIANTS; v++) {
        free(r->variants[v].name);
        free(r->variants[v].prompt);
        free(r->variants[v].model);
        free(r->variants[v].upstream);
    }
    for (size_t s = 0; s < EVAL_MAX_SCORERS; s++) {
        free(r->scorers[s].name);
        free(r->scorers[s].type);
    }
    free(r->cases);
    free(r->outputs);
    free(r->scores);
    free(r->suite);
    free(r->run_id);
    eval_report_init(r);
}

struct eval_output *eval_output_at(const struct eval_report *r, size_t c, size_t v, int rep)
{
    return &r->outputs[(c * r->nvariants + v) * (size_t)r->repeats + (size_t)rep];
}

struct eval_score *eval_score_at(const struct eval_report *r, size_t c, size_t v, int rep, size_t s)
{
    size_t o = (c * r->nvariants + v) * (size_t)r->repeats + (size_t)rep;
    return &r->scores[o * r->nscorers + s];
}

double eval_output_score(const struct eval_report *r, size_t c, size_t v, int rep)
{
    if (!eval_output_at(r, c, v, rep)->ok)
        return 0;
    double sum = 0, wsum = 0;
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct eval_score *sc = eval_score_at(r, c, v, rep, s);
        double w = r->scorers[s].weight;
        sum += w * (sc->error ? 0 : sc->value);
        wsum += w;
    }
    return wsum > 0 ? sum / wsum : 0;
}

void eval_case_scores(const struct eval_report *r, size_t v, double *out)
{
    for (size_t c = 0; c < r->ncases; c++) {
        double sum = 0;
        for (int rep = 0; rep < r->repeats; rep++)
            sum += eval_output_score(r, c, v, rep);
        out[c] = sum / r->repeats;
    }
}

void eval_scorer_values(const struct eval_report *r, size_t v, size_t s, double *out)
{
    for (size_t c = 0; c < r->ncases; c++) {
        double sum = 0;
        for (int rep = 0; rep < r->repeats; rep++) {
            const struct eval_score *sc = eval_score_at(r, c, v, rep, s);
            sum += eval_output_at(r, c, v, rep)->ok && !sc->error ? sc->value : 0;
        }
        out[c] = sum / r->repeats;
    }
}

int eval_case_passed(const struct eval_report *r, size_t c, size_t v, int rep)
{
    if (!eval_output_at(r, c, v, rep)->ok)
        return 0;
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct eval_score *sc = eval_score_at(r, c, v, rep, s);
        if (sc->error || !sc->pass)
            return 0;
    }
    return 1;
}

char *eval_output_text(const char *output_json)
{
    if (!output_json)
        return NULL;
    cJSON *j = cJSON_Parse(output_json);
    const cJSON *m = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, 0) : j;
    const char *t = cJSON_IsString(m) ? m->valuestring : jsonx_str(m, "content");
    char *out = t ? xstrdup(t) : NULL;
    cJSON_Delete(j);
    return out;
}
