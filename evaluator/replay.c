/*
 * replay: stored calls re-run with another prompt version (replay.h). The
 * life of one replay: the request -> a two-variant suite (recorded
 * original, replay) over the stored calls' cases -> runner_run ->
 * gate_evaluate -> one "replay" op (rows and scores) to the sink.
 */
#include "evaluator/replay.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/suite.h"
#include "store/prompts.h"

#define OP_MAX (64u << 20)

static const char default_scorers[] = "[{\"type\":\"similar\",\"name\":\"similar\"}]";

void replay_result_init(struct replay_result *res)
{
    memset(res, 0, sizeof(*res));
    eval_report_init(&res->report);
}

void replay_result_release(struct replay_result *res)
{
    if (!res)
        return;
    eval_report_release(&res->report);
    free(res->cases);
    memset(res, 0, sizeof(*res));
}

/* ---- the request ------------------------------------------------------------------ */

/* The version the registry holds for 'ref': 0 with *pv, or -1. */
static int get_version(sqlite3 *db, const char *ref, struct prompt_version *pv, char *err,
                       size_t errlen)
{
    char n[PROMPTS_NAME_MAX + 1], v[PROMPTS_NAME_MAX + 1], why[256];
    if (prompts_split_ref(ref, n, sizeof(n), v, sizeof(v)) != 0) {
        snprintf(err, errlen, "bad prompt reference '%s' (NAME@VERSION)", ref);
        return -1;
    }
    int rc = prompts_get(db, n, v, pv, why, sizeof(why));
    if (rc != 0)
        snprintf(err, errlen, "prompt %s is not in the registry%s%s", ref,
                 rc < 0 ? ": " : " (llmtap prompt push NAME FILE)", rc < 0 ? why : "");
    return rc == 0 ? 0 : -1;
}

static int from_term(struct suite *s, sqlite3 *db, const char *key, const char *val, char *err,
                     size_t errlen)
{
    if (strcmp(key, "prompt") == 0) {
        struct prompt_version pv;
        if (!strchr(val, '@')) {
            char n[PROMPTS_NAME_MAX + 1], v[8];
            if (prompts_split_ref(val, n, sizeof(n), v, sizeof(v)) != 0)
                return snprintf(err, errlen, "--from: bad prompt '%s'", val), -1;
            xstrset(&s->from.prompt, n);
            s->from.version = -1;
            return 0;
        }
        if (get_version(db, val, &pv, err, errlen) != 0)
            return -1;
        xstrset(&s->from.prompt, pv.name);
        s->from.version = pv.version;
        prompt_version_release(&pv);
        return 0;
    }
    if (strcmp(key, "since") == 0) {
        int64_t d;
        if (time_parse_duration(val, &d) != 0 || d <= 0)
            return snprintf(err, errlen, "--from: since: bad duration '%s' (24h, 7d)", val), -1;
        s->from.since_ns = time_now_ns() - d;
        return 0;
    }
    if (strcmp(key, "sample") == 0) {
        char *end;
        long long n = strtoll(val, &end, 10);
        if (end == val || *end || n < 1 || n > REPLAY_MAX_BATCH)
            return snprintf(err, errlen, "--from: sample: want 1..%d", REPLAY_MAX_BATCH), -1;
        s->from.sample = n;
        return 0;
    }
    if (strcmp(key, "project") == 0 && *val) {
        xstrset(&s->from.project, val);
        return 0;
    }
    snprintf(err, errlen, "--from: unknown term '%s' (prompt=, since=, sample=, project=)", key);
    return -1;
}

/* "prompt=support@6 since=24h sample=50 project=P" into s->from. */
static int parse_from(struct suite *s, sqlite3 *db, const char *spec, char *err, size_t errlen)
{
    s->has_from = 1;
    s->from.version = -1;
    s->from.sample = REPLAY_DEFAULT_SAMPLE;
    char *copy = xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, " \t", &save); t && rc == 0; t = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) {
            snprintf(err, errlen, "--from: want KEY=VALUE terms, not '%s'", t);
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = from_term(s, db, t, eq + 1, err, errlen);
    }
    free(copy);
    if (rc == 0 && !s->from.prompt) {
        snprintf(err, errlen, "--from: which prompt? (prompt=NAME@VERSION)");
        rc = -1;
    }
    return rc;
}

/* A string of a case's metadata (borrowed from 'md'). */
static const char *md_str(const cJSON *md, const char *key)
{
    return jsonx_str(md, key);
}

static int case_swapped(const struct eval_case *c)
{
    cJSON *md = c->metadata ? cJSON_Parse(c->metadata) : NULL;
    int swapped = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(md, "input"));
    cJSON_Delete(md);
    return swapped;
}

/* The cases: one stored call, or the batch's sample. */
static int read_cases(const struct replay_config *cfg, const struct replay_request *req,
                      struct suite *s, struct eval_case **cases, size_t *n, char *err,
                      size_t errlen)
{
    if (req->from) {
        if (parse_from(s, cfg->db, req->from, err, errlen) != 0)
            return -1;
        uint64_t seed = ids_hash64(req->from, strlen(req->from), 0x7e9a);
        return suite_read_cases(s, cfg->db, seed, cases, n, err, errlen);
    }
    int rc = suite_read_span_case(cfg->db, req->trace_id, req->span_id, cases, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "no %s %s%s%s is stored", req->span_id ? "span" : "LLM span in trace",
                 req->trace_id, req->span_id ? ":" : "", req->span_id ? req->span_id : "");
    *n = rc == 1;
    return rc == 1 ? 0 : -1;
}

/* A batch replays one provider's calls: those of the first case's. */
static void keep_one_provider(struct eval_case *cases, size_t *n, const char *provider,
                              size_t *skipped)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        cJSON *md = cases[i].metadata ? cJSON_Parse(cases[i].metadata) : NULL;
        const char *p = md_str(md, "provider");
        int same = strcmp(p ? p : "openai", provider) == 0;
        cJSON_Delete(md);
        if (same) {
            cases[w++] = cases[i];
            continue;
        }
        free(cases[i].id);
        free(cases[i].vars);
        free(cases[i].expected);
        free(cases[i].metadata);
        (*skipped)++;
    }
    *n = w;
}

static const struct runner_upstream *upstream_named(const struct replay_config *cfg,
                                                    const char *name)
{
    for (size_t i = 0; i < cfg->nupstreams; i++)
        if (strcmp(cfg->upstreams[i].name, name) == 0)
            return &cfg->upstreams[i];
    return NULL;
}

/* The two variants: the recorded original and the replay of 'pv'. */
static int set_variants(const struct replay_config *cfg, const struct replay_request *req,
                        struct suite *s, const struct prompt_version *pv, const cJSON *first,
                        char *err, size_t errlen)
{
    const char *provider = md_str(first, "provider");
    provider = provider && *provider ? provider : "openai";
    if (!upstream_named(cfg, provider)) {
        snprintf(err, errlen,
                 "the original call went to '%s': unknown upstream (--upstream %s=ORIGIN)",
                 provider, provider);
        return -1;
    }
    cJSON *body = cJSON_Parse(pv->body);
    const char *model = req->model ? req->model : md_str(first, "model");
    if (!model || !*model)
        model = jsonx_str(body, "model");
    struct suite_variant *o = &s->variants[0], *r = &s->variants[1];
    o->name = xstrdup("original");
    o->prompt = xstrdup("recorded");
    o->recorded = 1;
    r->name = xstrdup("replay");
    r->prompt = xasprintf("%s@%lld", pv->name, (long long)pv->version);
    r->model = model ? xstrdup(model) : NULL;
    r->upstream = xstrdup(provider);
    r->params = req->params ? xstrdup(req->params) : NULL;
    r->replay = 1;
    s->nvariants = 2;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(body, "scorers");
    s->scorers = cJSON_IsArray(sc) && cJSON_GetArraySize(sc) > 0 ? cJSON_Duplicate(sc, 1)
                                                                 : cJSON_Parse(default_scorers);
    cJSON_Delete(body);
    return 0;
}

static struct suite *new_suite(void)
{
    struct suite *s = xcalloc(1, sizeof(*s));
    s->path = xstrdup("replay");
    s->dir = xstrdup(".");
    s->name = xstrdup("replay");
    s->min_score = NAN;
    s->alpha = 0.05;
    return s;
}

/* ---- the record ------------------------------------------------------------------- */

static void add_num_or_null(cJSON *o, const char *name, int known, double v)
{
    if (known && !isnan(v))
        cJSON_AddNumberToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

/* 's' cut to at most 'max' bytes on a UTF-8 boundary (caller frees). */
static char *cut_utf8(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return xstrdup(s);
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return xstrndup(s, max);
}

static cJSON *side(const struct eval_report *r, size_t c, size_t v, const char *prompt,
                   const char *model)
{
    const struct eval_output *o = eval_output_at(r, c, v, 0);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "prompt", prompt ? prompt : "");
    cJSON_AddStringToObject(j, "model", model ? model : "");
    cJSON_AddBoolToObject(j, "ok", o->ok);
    if (o->ok && o->text) {
        char *t = cut_utf8(o->text, REPLAY_OUTPUT_MAX);
        cJSON_AddStringToObject(j, "output", t);
        free(t);
    } else {
        cJSON_AddNullToObject(j, "output");
    }
    if (o->error)
        cJSON_AddStringToObject(j, "error", o->error);
    add_num_or_null(j, "input_tokens", o->input_tokens >= 0, (double)o->input_tokens);
    add_num_or_null(j, "output_tokens", o->output_tokens >= 0, (double)o->output_tokens);
    add_num_or_null(j, "cost_usd", o->has_cost, (double)o->cost_nusd / 1e9);
    add_num_or_null(j, "latency_ms", 1, o->latency_ms);
    add_num_or_null(j, "score", o->ok, eval_output_score(r, c, v, 0));
    cJSON *scores = cJSON_AddObjectToObject(j, "scores");
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct eval_score *sc = eval_score_at(r, c, v, 0, s);
        add_num_or_null(scores, r->scorers[s].name, !sc->error, sc->value);
    }
    if (o->trace_id[0]) {
        cJSON_AddStringToObject(j, "trace_id", o->trace_id);
        cJSON_AddStringToObject(j, "span_id", o->span_id);
    }
    return j;
}

static void delta(cJSON *d, const char *name, const cJSON *a, const cJSON *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, name);
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, name);
    add_num_or_null(d, name, cJSON_IsNumber(x) && cJSON_IsNumber(y),
                    cJSON_IsNumber(x) && cJSON_IsNumber(y) ? y->valuedouble - x->valuedouble : 0);
}

cJSON *replay_summary(const struct replay_result *res, size_t c)
{
    const struct eval_report *r = &res->report;
    cJSON *md = r->cases[c].metadata ? cJSON_Parse(r->cases[c].metadata) : NULL;
    const cJSON *pn = cJSON_GetObjectItemCaseSensitive(md, "prompt_name");
    const cJSON *pver = cJSON_GetObjectItemCaseSensitive(md, "prompt_version");
    char oprompt[PROMPTS_NAME_MAX + 32] = "";
    if (cJSON_IsString(pn) && cJSON_IsNumber(pver))
        snprintf(oprompt, sizeof(oprompt), "%s@%lld", pn->valuestring,
                 (long long)pver->valuedouble);
    else if (cJSON_IsString(pn))
        snprintf(oprompt, sizeof(oprompt), "%s", pn->valuestring);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "mode", res->cases[c].swapped ? "system_swap" : "variables");
    cJSON_AddStringToObject(j, "case", r->cases[c].id);
    cJSON_AddStringToObject(j, "project", md_str(md, "project") ? md_str(md, "project") : "");
    cJSON_AddStringToObject(j, "prompt", r->variants[1].prompt);
    cJSON *a = side(r, c, 0, oprompt, md_str(md, "model"));
    cJSON *b = side(r, c, 1, r->variants[1].prompt, r->variants[1].model);
    cJSON *d = cJSON_CreateObject();
    static const char *const keys[] = {"input_tokens", "output_tokens", "cost_usd", "latency_ms",
                                       "score"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        delta(d, keys[i], a, b);
    cJSON *sd = cJSON_AddObjectToObject(d, "scores");
    for (size_t s = 0; s < r->nscorers; s++)
        delta(sd, r->scorers[s].name, cJSON_GetObjectItemCaseSensitive(a, "scores"),
              cJSON_GetObjectItemCaseSensitive(b, "scores"));
    cJSON_AddItemToObject(j, "original", a);
    cJSON_AddItemToObject(j, "replay", b);
    cJSON_AddItemToObject(j, "delta", d);
    cJSON *names = cJSON_AddArrayToObject(j, "scorers");
    for (size_t s = 0; s < r->nscorers; s++)
        cJSON_AddItemToArray(names, cJSON_CreateString(r->scorers[s].name));
    cJSON_Delete(md);
    return j;
}

/* The scores of variant 'v' of case 'c' onto its span (none when it has
 * no span or the scorer could not score). */
static void add_scores(cJSON *arr, const struct eval_report *r, size_t c, size_t v,
                       const char *project)
{
    const struct eval_output *o = eval_output_at(r, c, v, 0);
    if (!o->ok || !o->trace_id[0])
        return;
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct eval_score *sc = eval_score_at(r, c, v, 0, s);
        if (sc->error)
            continue;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "project", project);
        cJSON_AddStringToObject(j, "trace_id", o->trace_id);
        cJSON_AddStringToObject(j, "span_id", o->span_id);
        cJSON_AddStringToObject(j, "name", r->scorers[s].name);
        cJSON_AddNumberToObject(j, "value", sc->value);
        if (sc->reason)
            cJSON_AddStringToObject(j, "comment", sc->reason);
        cJSON_AddItemToArray(arr, j);
    }
}

static cJSON *row(const struct replay_result *res, size_t c)
{
    const struct eval_report *r = &res->report;
    const struct eval_output *orig = eval_output_at(r, c, 0, 0);
    const struct eval_output *neu = eval_output_at(r, c, 1, 0);
    cJSON *j = cJSON_CreateObject();
    cJSON *summary = replay_summary(res, c);
    const char *project = jsonx_str(summary, "project");
    cJSON_AddStringToObject(j, "id", res->cases[c].id);
    if (res->batch)
        cJSON_AddStringToObject(j, "batch_id", res->batch_id);
    cJSON_AddStringToObject(j, "project", project && *project ? project : "default");
    char ot[33] = "", os[17] = "";
    snprintf(ot, sizeof(ot), "%.32s", r->cases[c].id);
    snprintf(os, sizeof(os), "%.16s", r->cases[c].id + (strlen(r->cases[c].id) > 33 ? 33 : 0));
    cJSON_AddStringToObject(j, "orig_trace_id", orig->trace_id[0] ? orig->trace_id : ot);
    cJSON_AddStringToObject(j, "orig_span_id", orig->span_id[0] ? orig->span_id : os);
    if (neu->trace_id[0]) {
        cJSON_AddStringToObject(j, "new_trace_id", neu->trace_id);
        cJSON_AddStringToObject(j, "new_span_id", neu->span_id);
    }
    char name[PROMPTS_NAME_MAX + 1] = "", ver[32] = "";
    if (prompts_split_ref(r->variants[1].prompt, name, sizeof(name), ver, sizeof(ver)) == 0) {
        cJSON_AddStringToObject(j, "prompt_name", name);
        cJSON_AddNumberToObject(j, "prompt_version", (double)strtoll(ver, NULL, 10));
    }
    cJSON_AddStringToObject(j, "model", r->variants[1].model ? r->variants[1].model : "");
    cJSON_AddStringToObject(j, "upstream", r->variants[1].upstream);
    cJSON_AddStringToObject(j, "mode", res->cases[c].swapped ? "system_swap" : "variables");
    cJSON_AddStringToObject(j, "status", neu->ok ? "ok" : "error");
    cJSON *scores = cJSON_AddArrayToObject(j, "scores");
    add_scores(scores, r, c, 0, cJSON_GetStringValue(cJSON_GetObjectItem(j, "project")));
    add_scores(scores, r, c, 1, cJSON_GetStringValue(cJSON_GetObjectItem(j, "project")));
    cJSON_AddItemToObject(j, "summary", summary);
    return j;
}

/* Every row and score in one op through the sink: one writer. */
static void store_rows(const struct replay_config *cfg, struct replay_result *res)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "replay");
    cJSON *rows = cJSON_AddArrayToObject(op, "replays");
    for (size_t c = 0; c < res->report.ncases; c++)
        cJSON_AddItemToArray(rows, row(res, c));
    char *text = jsonx_print(op);
    cJSON_Delete(op);
    int rc = -1;
    if (strlen(text) > OP_MAX)
        snprintf(res->store_error, sizeof(res->store_error), "the replays are too large to store");
    else if (cfg->sink.op)
        rc = cfg->sink.op(cfg->sink.ctx, text, strlen(text), res->store_error,
                          sizeof(res->store_error));
    free(text);
    res->store_failed = rc != 0;
    for (size_t c = 0; c < res->report.ncases; c++)
        res->cases[c].stored = rc == 0;
}

/* ---- running ---------------------------------------------------------------------- */

static int prepare(const struct replay_config *cfg, const struct replay_request *req,
                   struct suite *s, struct eval_case **cases, size_t *n, size_t *skipped, char *err,
                   size_t errlen)
{
    struct prompt_version pv;
    if (get_version(cfg->db, req->prompt, &pv, err, errlen) != 0)
        return -1;
    int rc = read_cases(cfg, req, s, cases, n, err, errlen);
    cJSON *first = rc == 0 && *n ? cJSON_Parse((*cases)[0].metadata) : NULL;
    if (rc == 0)
        rc = set_variants(cfg, req, s, &pv, first, err, errlen);
    if (rc == 0 && req->from) {
        const char *p = md_str(first, "provider");
        keep_one_provider(*cases, n, p && *p ? p : "openai", skipped);
    }
    cJSON_Delete(first);
    prompt_version_release(&pv);
    return rc;
}

/* One repeat, never from the cache: a replay calls. */
static struct runner_config runner_config_of(const struct replay_config *cfg)
{
    struct runner_config rc = {0};
    rc.upstreams = cfg->upstreams;
    rc.nupstreams = cfg->nupstreams;
    rc.concurrency = cfg->concurrency;
    rc.repeat = 1;
    rc.no_cache = 1;
    rc.progress = cfg->progress;
    rc.db = cfg->db;
    rc.prices = cfg->prices;
    rc.sink = cfg->sink;
    rc.interrupted = cfg->interrupted;
    rc.timeout_ms = cfg->timeout_ms;
    return rc;
}

int replay_run(const struct replay_config *cfg, const struct replay_request *req,
               struct replay_result *res, char *err, size_t errlen)
{
    struct suite *s = new_suite();
    struct eval_case *cases = NULL;
    size_t n = 0;
    int rc = -1;
    if ((!req->from && !req->trace_id) || !req->prompt) {
        snprintf(err, errlen, "replay wants a stored call (or --from) and --prompt NAME@VERSION");
        goto fail;
    }
    if (prepare(cfg, req, s, &cases, &n, &res->skipped, err, errlen) != 0)
        goto fail;
    s->cases = cases;
    s->ncases = n;
    res->batch = req->from != NULL;
    if (res->batch)
        ids_random(8, res->batch_id);
    struct runner_config rc_cfg = runner_config_of(cfg);
    if (runner_run(&rc_cfg, s, &res->report, err, errlen) != 0)
        goto fail;
    if (gate_evaluate(&res->report, &res->gate) != 0) {
        snprintf(err, errlen, "%s", res->gate.reason);
        goto fail;
    }
    res->cases = xcalloc(res->report.ncases ? res->report.ncases : 1, sizeof(*res->cases));
    for (size_t c = 0; c < res->report.ncases; c++) {
        ids_random(8, res->cases[c].id);
        res->cases[c].swapped = case_swapped(&res->report.cases[c]);
    }
    store_rows(cfg, res);
    rc = 0;
fail:
    suite_cases_free(cases, n);
    suite_free(s);
    return rc;
}

const char *replay_verdict(const struct replay_result *res)
{
    const struct stats_interval *d = &res->gate.paired.diff;
    if (res->gate.paired.n == 0 || isnan(d->lo))
        return "no comparison";
    if (d->lo > 1e-9)
        return "improvement";
    if (d->hi < -1e-9)
        return "regression";
    return "no significant difference";
}
