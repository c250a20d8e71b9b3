/*
 * runner: plans a run's calls and scores their answers (runner.h). The
 * transport is runner_http.c. Every model call's answer is scored when the
 * run ends (local scorers need the whole corpus for TF-IDF), the judge,
 * embedding and pairwise calls as soon as their inputs exist.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/runner_int.h"
#include "store/prompts.h"

#define RENDER_MAX (4u << 20)

/* ---- prompts -------------------------------------------------------------------- */

/* A partial {{> NAME}} or {{> NAME@REF}}: the registry prompt's message
 * contents, joined by blank lines. */
static char *load_partial(void *arg, const char *name, size_t *len)
{
    sqlite3 *db = arg;
    char n[PROMPTS_NAME_MAX + 1], ref[PROMPTS_NAME_MAX + 1], err[256];
    struct prompt_version pv;
    if (!db || prompts_split_ref(name, n, sizeof(n), ref, sizeof(ref)) != 0 ||
        prompts_get(db, n, ref, &pv, err, sizeof(err)) != 0)
        return NULL;
    cJSON *j = cJSON_Parse(pv.body);
    struct buf b;
    buf_init(&b, RENDER_MAX);
    const cJSON *m;
    int rc = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(j, "messages"))
    {
        const char *c = jsonx_str(m, "content");
        rc = rc || (b.len && buf_puts(&b, "\n\n")) || buf_puts(&b, c ? c : "");
    }
    cJSON_Delete(j);
    prompt_version_release(&pv);
    char *out = rc ? NULL : buf_take(&b, len);
    buf_release(&b);
    return out;
}

static const struct runner_upstream *find_upstream(const struct runner_config *cfg,
                                                   const char *name)
{
    for (size_t i = 0; i < cfg->nupstreams; i++)
        if (strcmp(cfg->upstreams[i].name, name) == 0)
            return &cfg->upstreams[i];
    return NULL;
}

static char *read_prompt_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    struct buf b;
    buf_init(&b, PROMPTS_BODY_MAX);
    int rc = buf_read_stream(&b, f);
    fclose(f);
    char *canon = NULL;
    if (rc != 0)
        snprintf(err, errlen, "%s: unreadable or larger than %u bytes", path, PROMPTS_BODY_MAX);
    else if (prompts_check_body(buf_str(&b), b.len, &canon, err, errlen) != 0)
        canon = NULL;
    buf_release(&b);
    return canon;
}

/* The body of variant 'v''s prompt (caller frees), its name and version. */
static char *prompt_body(const struct run *run, const struct suite_variant *v, char **name,
                         int64_t *version, char *err, size_t errlen)
{
    if (v->is_file) {
        const char *base = strrchr(v->prompt, '/');
        base = base ? base + 1 : v->prompt;
        size_t n = strlen(base);
        *name = xstrndup(base, n > 5 && strcmp(base + n - 5, ".json") == 0 ? n - 5 : n);
        *version = -1;
        char why[384];
        char *body = read_prompt_file(v->prompt, why, sizeof(why));
        if (!body)
            snprintf(err, errlen, "variant %s: %s", v->name, why);
        return body;
    }
    char n[PROMPTS_NAME_MAX + 1], ref[PROMPTS_NAME_MAX + 1], why[256];
    struct prompt_version pv;
    if (prompts_split_ref(v->prompt, n, sizeof(n), ref, sizeof(ref)) != 0) {
        snprintf(err, errlen, "variant %s: bad prompt reference '%s'", v->name, v->prompt);
        return NULL;
    }
    int rc = run->cfg->db ? prompts_get(run->cfg->db, n, ref, &pv, why, sizeof(why)) : 1;
    if (rc != 0) {
        snprintf(err, errlen, "variant %s: prompt %s is not in the registry%s%s", v->name,
                 v->prompt, rc < 0 ? ": " : " (llmtap prompt push NAME FILE)", rc < 0 ? why : "");
        return NULL;
    }
    *name = xstrdup(n);
    *version = pv.version;
    char *body = pv.body;
    pv.body = NULL;
    prompt_version_release(&pv);
    return body;
}

/* 'over' (a JSON object text or NULL) merged over 'base' (cJSON, borrowed). */
static char *merge_params(const cJSON *base, const char *over)
{
    cJSON *m = cJSON_IsObject(base) ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
    cJSON *o = over ? cJSON_Parse(over) : NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(m, c->string);
        cJSON_AddItemToObject(m, c->string, cJSON_Duplicate(c, 1));
    }
    cJSON_Delete(o);
    char *out = m->child ? jsonx_print(m) : NULL;
    cJSON_Delete(m);
    return out;
}

/* Parse every message of 'p' as a plain-mode template ("m0", "m1", ...),
 * partials from the registry on 'db'. 'who' names the prompt in messages. */
static int compile_templates(struct run_prompt *p, sqlite3 *db, const char *who, char *err,
                             size_t errlen)
{
    p->m = mustache_new(load_partial, db);
    mustache_set_plain(p->m, 1);
    int i = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, p->messages)
    {
        char name[32], why[256];
        const char *src = jsonx_str(msg, "content");
        snprintf(name, sizeof(name), "m%d", i++);
        if (mustache_add(p->m, name, src ? src : "", src ? strlen(src) : 0, why, sizeof(why)) !=
            MUSTACHE_OK) {
            snprintf(err, errlen, "%s: messages[%d]: %s", who, i - 1, why);
            return -1;
        }
    }
    return 0;
}

static int load_prompt(struct run *run, size_t vi, char *err, size_t errlen)
{
    const struct suite_variant *v = &run->s->variants[vi];
    struct run_prompt *p = &run->prompts[vi];
    if (v->recorded) { /* no prompt, no call: the stored answers */
        p->name = xstrdup(v->prompt ? v->prompt : "recorded");
        p->version = -1;
        return 0;
    }
    char *body = prompt_body(run, v, &p->name, &p->version, err, errlen);
    if (!body)
        return -1;
    cJSON *j = cJSON_Parse(body);
    free(body);
    p->messages = cJSON_DetachItemFromObjectCaseSensitive(j, "messages");
    const char *model = v->model ? v->model : jsonx_str(j, "model");
    p->model = model ? xstrdup(model) : NULL;
    p->params = merge_params(cJSON_GetObjectItemCaseSensitive(j, "params"), v->params);
    cJSON_Delete(j);
    if (!p->model) {
        snprintf(err, errlen, "variant %s: no model (give one in the suite or the prompt)",
                 v->name);
        return -1;
    }
    const char *up = v->upstream ? v->upstream : "openai";
    if (!(p->up = find_upstream(run->cfg, up))) {
        snprintf(err, errlen, "variant %s: unknown upstream '%s' (--upstream %s=ORIGIN)", v->name,
                 up, up);
        return -1;
    }
    char who[160];
    snprintf(who, sizeof(who), "variant %s", v->name);
    return compile_templates(p, run->cfg->db, who, err, errlen);
}

static void prompt_release(struct run_prompt *p)
{
    mustache_free(p->m);
    cJSON_Delete(p->messages);
    free(p->name);
    free(p->model);
    free(p->params);
}

/* The prompt's messages rendered with 'vars' (a JSON object text): a JSON
 * array text (caller frees), or NULL with a message. */
static char *render_messages(const struct run_prompt *p, const char *vars, char *err, size_t errlen)
{
    cJSON *data = cJSON_Parse(vars ? vars : "{}");
    cJSON *out = cJSON_CreateArray();
    struct buf b;
    buf_init(&b, RENDER_MAX);
    int i = 0, rc = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, p->messages)
    {
        char name[32];
        snprintf(name, sizeof(name), "m%d", i++);
        buf_reset(&b);
        if (mustache_render(p->m, name, data, NULL, 0, &b, err, errlen) != MUSTACHE_OK) {
            rc = -1;
            break;
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", jsonx_str(msg, "role"));
        cJSON_AddStringToObject(m, "content", buf_str(&b));
        cJSON_AddItemToArray(out, m);
    }
    char *text = rc == 0 ? jsonx_print(out) : NULL;
    buf_release(&b);
    cJSON_Delete(out);
    cJSON_Delete(data);
    return text;
}

char *runner_render_prompt(sqlite3 *db, const char *body, const char *vars, char *err,
                           size_t errlen)
{
    struct run_prompt p;
    memset(&p, 0, sizeof(p));
    cJSON *j = cJSON_Parse(body);
    p.messages = cJSON_DetachItemFromObjectCaseSensitive(j, "messages");
    cJSON_Delete(j);
    char *out = NULL;
    if (!cJSON_IsArray(p.messages))
        snprintf(err, errlen, "not a prompt: no messages");
    else if (compile_templates(&p, db, "prompt", err, errlen) == 0)
        out = render_messages(&p, vars, err, errlen);
    prompt_release(&p);
    return out;
}

char *runner_chat_body(int anthropic, const char *model, const char *messages, const char *params)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", model);
    cJSON *msgs = cJSON_Parse(messages);
    cJSON *prm = params ? cJSON_Parse(params) : NULL;
    if (anthropic) {
        struct buf sys;
        buf_init(&sys, 0);
        cJSON *rest = cJSON_CreateArray();
        const cJSON *m;
        cJSON_ArrayForEach(m, msgs)
        {
            const char *role = jsonx_str(m, "role");
            if (role && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)) {
                const char *c = jsonx_str(m, "content");
                if ((sys.len && buf_puts(&sys, "\n\n")) || buf_puts(&sys, c ? c : ""))
                    break;
            } else {
                cJSON_AddItemToArray(rest, cJSON_Duplicate(m, 1));
            }
        }
        if (!cJSON_GetObjectItemCaseSensitive(prm, "max_tokens"))
            cJSON_AddNumberToObject(body, "max_tokens", 1024);
        if (sys.len)
            cJSON_AddStringToObject(body, "system", buf_str(&sys));
        buf_release(&sys);
        cJSON_AddItemToObject(body, "messages", rest);
        cJSON_Delete(msgs);
    } else {
        cJSON_AddItemToObject(body, "messages", msgs ? msgs : cJSON_CreateArray());
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, prm)
    {
        if (strcmp(c->string, "model") && strcmp(c->string, "messages") &&
            strcmp(c->string, "stream") && strcmp(c->string, "system"))
            cJSON_AddItemToObject(body, c->string, cJSON_Duplicate(c, 1));
    }
    cJSON_Delete(prm);
    char *out = jsonx_print(body);
    cJSON_Delete(body);
    return out;
}

/* ---- jobs ----------------------------------------------------------------------- */

static struct job *job_chat(enum job_kind kind, const struct runner_upstream *up, const char *model,
                            char *messages, const char *params)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    j->up = up;
    j->api = up->anthropic ? LLM_API_ANTHROPIC_MESSAGES : LLM_API_CHAT;
    j->path = up->anthropic ? "/v1/messages" : "/v1/chat/completions";
    j->model = xstrdup(model);
    j->messages = messages;
    j->body = runner_chat_body(up->anthropic, model, messages, params);
    return j;
}

static void plan_scorer_calls(struct run *run, size_t c, size_t v, int rep);

/* A recorded variant's output: the case's reference and the stored call's
 * figures from its metadata (suite.h). */
static void recorded_output(const struct eval_case *c, struct eval_output *o)
{
    cJSON *ex = c->expected ? cJSON_Parse(c->expected) : NULL;
    cJSON *md = c->metadata ? cJSON_Parse(c->metadata) : NULL;
    o->ok = cJSON_IsString(ex);
    if (o->ok)
        o->text = xstrdup(ex->valuestring);
    else
        o->error = xstrdup("no recorded output");
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(md, "latency_ms");
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(md, "cost_usd");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(md, "input_tokens");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(md, "output_tokens");
    o->latency_ms = cJSON_IsNumber(lat) ? lat->valuedouble : NAN;
    o->has_cost = cJSON_IsNumber(cost);
    o->cost_nusd = o->has_cost ? (int64_t)llround(cost->valuedouble * 1e9) : 0;
    o->input_tokens = cJSON_IsNumber(in) ? (int64_t)in->valuedouble : -1;
    o->output_tokens = cJSON_IsNumber(out) ? (int64_t)out->valuedouble : -1;
    const char *colon = c->id ? strchr(c->id, ':') : NULL;
    if (colon && colon - c->id == 32 && strlen(colon + 1) == 16) {
        memcpy(o->trace_id, c->id, 32);
        memcpy(o->span_id, colon + 1, 16);
    }
    cJSON_Delete(ex);
    cJSON_Delete(md);
}

/* System swap (a replayed call without variables): the stored 'input' with
 * its system messages replaced by those of 'rendered'. Caller frees. */
static char *swap_system(const char *rendered, const cJSON *input)
{
    cJSON *r = cJSON_Parse(rendered), *out = cJSON_CreateArray();
    const cJSON *m;
    cJSON_ArrayForEach(m, r)
    {
        const char *role = jsonx_str(m, "role");
        if (role && (!strcmp(role, "system") || !strcmp(role, "developer")))
            cJSON_AddItemToArray(out, cJSON_Duplicate(m, 1));
    }
    cJSON_ArrayForEach(m, input)
    {
        const char *role = jsonx_str(m, "role");
        if (!role || (strcmp(role, "system") && strcmp(role, "developer")))
            cJSON_AddItemToArray(out, cJSON_Duplicate(m, 1));
    }
    char *text = jsonx_print(out);
    cJSON_Delete(out);
    cJSON_Delete(r);
    return text;
}

/* The messages a replay variant sends for case 'c' (takes 'msgs'). */
static char *replay_messages(const struct eval_case *c, char *msgs)
{
    cJSON *md = c->metadata ? cJSON_Parse(c->metadata) : NULL;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(md, "input");
    if (cJSON_IsArray(input)) {
        char *swapped = swap_system(msgs, input);
        free(msgs);
        msgs = swapped;
    }
    cJSON_Delete(md);
    return msgs;
}

static void plan_model_call(struct run *run, size_t c, size_t v, int rep)
{
    struct eval_output *o = eval_output_at(run->r, c, v, rep);
    const struct suite_variant *sv = &run->s->variants[v];
    if (sv->recorded) {
        recorded_output(&run->r->cases[c], o);
        plan_scorer_calls(run, c, v, rep);
        return;
    }
    char err[512];
    char *msgs = render_messages(&run->prompts[v], run->r->cases[c].vars, err, sizeof(err));
    if (msgs && sv->replay)
        msgs = replay_messages(&run->r->cases[c], msgs);
    if (!msgs) {
        o->error = xasprintf("the prompt does not render: %s", err);
        plan_scorer_calls(run, c, v, rep);
        return;
    }
    struct job *j = job_chat(JOB_MODEL, run->prompts[v].up, run->prompts[v].model, msgs,
                             run->prompts[v].params);
    j->c = c;
    j->v = v;
    j->rep = rep;
    run_submit(run, j);
}

/* A replayed call's span: in the stored call's project, linked to it. */
static void replay_link(struct span *sp, const struct eval_case *c)
{
    cJSON *md = c->metadata ? cJSON_Parse(c->metadata) : NULL;
    const char *project = jsonx_str(md, "project");
    if (project)
        xstrset(&sp->project, project);
    xstrset(&sp->replay_of, c->id);
    free(sp->name);
    sp->name = xasprintf("replay chat %s", sp->model ? sp->model : "");
    cJSON_Delete(md);
}

static void span_fill(struct run *run, const struct job *j, struct span *sp)
{
    const struct eval_case *c = &run->r->cases[j->c];
    char text[160];
    snprintf(text, sizeof(text), "%s:%zu", run->trace_base, j->c);
    ids_derive(text, 16, sp->trace_id);
    ids_random(8, sp->span_id);
    xstrset(&sp->project, RUNNER_EVAL_PROJECT);
    sp->kind = j->kind == JOB_MODEL   ? SPAN_KIND_LLM
               : j->kind == JOB_EMBED ? SPAN_KIND_EMBEDDING
                                      : SPAN_KIND_EVALUATOR;
    sp->start_ns = j->start_ns;
    sp->end_ns = j->end_ns;
    xstrset(&sp->provider, j->up->anthropic ? "anthropic" : "openai");
    xstrset(&sp->model, j->model);
    const char *what =
        j->kind == JOB_MODEL ? run->r->variants[j->v].name : scorer_name(run->scorers[j->s]);
    free(sp->name);
    sp->name = xasprintf("eval %s %s", j->kind == JOB_MODEL ? "call" : "judge", what);
    if (j->messages)
        xstrset(&sp->input, j->messages);
    if (j->kind == JOB_MODEL) {
        xstrset(&sp->prompt_name, run->prompts[j->v].name);
        sp->prompt_version = run->prompts[j->v].version;
        if (strcmp(c->vars, "{}") != 0 || !run->s->variants[j->v].replay)
            xstrset(&sp->prompt_vars, c->vars);
        if (run->prompts[j->v].params) /* the prompt's, with the variant's over them */
            xstrset(&sp->params, run->prompts[j->v].params);
    }
    if (j->kind == JOB_MODEL && run->s->variants[j->v].replay)
        replay_link(sp, c);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "llmtap.eval.run", run->r->run_id);
    cJSON_AddStringToObject(a, "llmtap.eval.suite", run->r->suite);
    cJSON_AddStringToObject(a, "llmtap.eval.case", c->id);
    cJSON_AddStringToObject(a, "llmtap.eval.variant", run->r->variants[j->v].name);
    cJSON_AddNumberToObject(a, "llmtap.eval.repeat", j->rep);
    free(sp->attributes);
    sp->attributes = jsonx_print(a);
    cJSON_Delete(a);
    if (j->status == 0) {
        sp->status = SPAN_STATUS_ERROR;
        xstrset(&sp->error_code, "UPSTREAM_UNREACHABLE");
        xstrset(&sp->error_message, j->curl_error);
    }
}

/* Parse the answer of 'j' into a span (caller releases). */
static void parse_answer(struct run *run, const struct job *j, struct span *sp)
{
    span_init(sp);
    if (j->status > 0)
        llm_response_parse(j->api, (int)j->status, buf_str(&j->resp), j->resp.len, sp);
    span_fill(run, j, sp);
    if (run->cfg->prices)
        price_apply(run->cfg->prices, sp);
}

static void keep_span(struct run *run, const struct job *j, struct span *sp)
{
    if (j->cached) {
        span_release(sp);
        return;
    }
    if (run->nspans == run->capspans) {
        run->capspans = run->capspans ? run->capspans * 2 : 64;
        run->spans = xrealloc(run->spans, run->capspans * sizeof(*run->spans));
    }
    span_init(&run->spans[run->nspans]);
    span_move(&run->spans[run->nspans++], sp);
}

static char *call_error(const struct job *j, const struct span *sp)
{
    if (j->status == 0)
        return xasprintf("%s (after %d attempts)", j->curl_error, j->attempts);
    return xasprintf("HTTP %ld: %s%s", j->status, sp->error_message ? sp->error_message : "",
                     j->attempts > 1 ? " (after retries)" : "");
}

static int call_ok(const struct job *j, const struct span *sp)
{
    return j->status >= 200 && j->status < 300 && sp->status == SPAN_STATUS_OK;
}

static void score_fail(struct eval_score *sc, const char *why)
{
    sc->error = 1;
    sc->value = 0;
    sc->pass = 0;
    xstrset(&sc->reason, why);
}

static int output_done(const struct eval_output *o)
{
    return o->ok || o->error;
}

static void plan_pairwise(struct run *run, size_t c, int rep, size_t s);

/* The judge / embedding calls the scorers need for this output. */
static void plan_scorer_calls(struct run *run, size_t c, size_t v, int rep)
{
    struct eval_output *o = eval_output_at(run->r, c, v, rep);
    struct scorer_input in = {&run->r->cases[c], o};
    for (size_t s = 0; s < run->r->nscorers; s++) {
        const struct scorer *sc = run->scorers[s];
        struct eval_score *score = eval_score_at(run->r, c, v, rep, s);
        enum scorer_needs need = scorer_needs(sc);
        if (need == SCORER_NEEDS_PAIRWISE) {
            if (v <= 1)
                plan_pairwise(run, c, rep, s);
            else
                score_fail(score, "pairwise compares the baseline and the candidate");
            continue;
        }
        if (!o->ok && need != SCORER_NEEDS_NOTHING) {
            score_fail(score, "the call failed");
            continue;
        }
        if (need != SCORER_NEEDS_JUDGE && need != SCORER_NEEDS_EMBED)
            continue;
        const char *upn = scorer_upstream(sc);
        const struct runner_upstream *up = upn ? find_upstream(run->cfg, upn) : run->judge_up;
        const char *model = scorer_model(sc) ? scorer_model(sc) : run->judge_model;
        if (!up) {
            score_fail(score, "unknown upstream");
            continue;
        }
        struct job *j;
        if (need == SCORER_NEEDS_JUDGE) {
            char *msgs = scorer_judge_messages(sc, &in, score);
            if (!msgs)
                continue;
            j = job_chat(JOB_JUDGE, up, model, msgs, "{\"temperature\":0}");
        } else {
            if (up->anthropic) {
                score_fail(score, "embeddings need an OpenAI-compatible upstream");
                continue;
            }
            char *body = scorer_embed_request(sc, &in, score);
            if (!body)
                continue;
            j = xcalloc(1, sizeof(*j));
            j->kind = JOB_EMBED;
            j->up = up;
            j->api = LLM_API_EMBEDDINGS;
            j->path = "/v1/embeddings";
            j->model = xstrdup(scorer_model(sc));
            j->body = body;
        }
        j->c = c;
        j->v = v;
        j->rep = rep;
        j->s = s;
        run_submit(run, j);
    }
}

static size_t pair_index(const struct run *run, size_t c, int rep, size_t s)
{
    return (c * (size_t)run->r->repeats + (size_t)rep) * run->r->nscorers + s;
}

static void plan_pairwise(struct run *run, size_t c, int rep, size_t s)
{
    const struct eval_output *a = eval_output_at(run->r, c, 0, rep);
    const struct eval_output *b = eval_output_at(run->r, c, 1, rep);
    if (!output_done(a) || !output_done(b))
        return; /* the other one plans it */
    struct eval_score *sa = eval_score_at(run->r, c, 0, rep, s);
    struct eval_score *sb = eval_score_at(run->r, c, 1, rep, s);
    if (!a->ok || !b->ok) {
        score_fail(sa, "a call of the pair failed");
        score_fail(sb, "a call of the pair failed");
        return;
    }
    const struct scorer *sc = run->scorers[s];
    const char *upn = scorer_upstream(sc);
    const struct runner_upstream *up = upn ? find_upstream(run->cfg, upn) : run->judge_up;
    const char *model = scorer_model(sc) ? scorer_model(sc) : run->judge_model;
    for (int order = 0; order < 2; order++) {
        char *msgs =
            up ? scorer_pairwise_messages(sc, &run->r->cases[c], a->text, b->text, order) : NULL;
        if (!msgs) {
            score_fail(sa, up ? "the pairwise prompt does not render" : "unknown upstream");
            score_fail(sb, sa->reason);
            return;
        }
        struct job *j = job_chat(JOB_PAIR, up, model, msgs, "{\"temperature\":0}");
        j->c = c;
        j->v = (size_t)order;
        j->rep = rep;
        j->s = s;
        j->order = order;
        run_submit(run, j);
    }
}

static void model_finished(struct run *run, const struct job *j, struct span *sp)
{
    struct eval_output *o = eval_output_at(run->r, j->c, j->v, j->rep);
    o->ok = call_ok(j, sp);
    if (o->ok) {
        o->text = eval_output_text(sp->output);
        if (!o->text)
            o->text = xstrdup(""); /* tool calls only */
    } else {
        o->error = call_error(j, sp);
    }
    o->latency_ms = (double)(j->end_ns - j->start_ns) / 1e6;
    o->has_cost = sp->has_cost;
    o->cost_nusd = sp->cost_nusd;
    o->input_tokens = sp->usage.input_tokens;
    o->output_tokens = sp->usage.output_tokens;
    o->cached = j->cached;
    if (!j->cached) {
        memcpy(o->trace_id, sp->trace_id, sizeof(o->trace_id));
        memcpy(o->span_id, sp->span_id, sizeof(o->span_id));
    }
    plan_scorer_calls(run, j->c, j->v, j->rep);
}

static void pair_finished(struct run *run, const struct job *j, struct span *sp)
{
    size_t pi = pair_index(run, j->c, j->rep, j->s);
    run->pair_reply[pi * 2 + (size_t)j->order] =
        call_ok(j, sp) ? eval_output_text(sp->output) : NULL;
    if (++run->pair_done[pi] < 2)
        return;
    const char *r0 = run->pair_reply[pi * 2], *r1 = run->pair_reply[pi * 2 + 1];
    struct eval_score *sa = eval_score_at(run->r, j->c, 0, j->rep, j->s);
    struct eval_score *sb = eval_score_at(run->r, j->c, 1, j->rep, j->s);
    if (!r0 || !r1) {
        score_fail(sa, "a pairwise judge call failed");
        score_fail(sb, "a pairwise judge call failed");
        return;
    }
    scorer_pairwise_finish(run->scorers[j->s], r0, r1, sa, sb);
}

void run_finished(struct run *run, struct job *j)
{
    struct span sp;
    parse_answer(run, j, &sp);
    struct eval_score *score = eval_score_at(run->r, j->c, j->v, j->rep, j->s);
    switch (j->kind) {
    case JOB_MODEL:
        model_finished(run, j, &sp);
        break;
    case JOB_JUDGE:
        if (call_ok(j, &sp)) {
            char *reply = eval_output_text(sp.output);
            scorer_judge_finish(run->scorers[j->s], reply, score);
            free(reply);
        } else {
            char *why = call_error(j, &sp);
            score_fail(score, why);
            free(why);
        }
        break;
    case JOB_EMBED:
        if (j->status >= 200 && j->status < 300) {
            scorer_embed_finish(run->scorers[j->s], buf_str(&j->resp), j->resp.len, score);
        } else {
            char *why = call_error(j, &sp);
            score_fail(score, why);
            free(why);
        }
        break;
    case JOB_PAIR:
        pair_finished(run, j, &sp);
        break;
    }
    keep_span(run, j, &sp);
}

/* ---- local scoring ---------------------------------------------------------------- */

static int is_offline_similar(const struct scorer *sc)
{
    return strcmp(scorer_type(sc), "similar") == 0 && scorer_needs(sc) == SCORER_NEEDS_NOTHING;
}

/* TF-IDF needs its corpus: every rendered reference and every output. */
static void similar_corpus(struct run *run, size_t s)
{
    const struct eval_report *r = run->r;
    size_t cap = r->ncases * (1 + r->nvariants * (size_t)r->repeats), n = 0;
    char **texts = xcalloc(cap ? cap : 1, sizeof(*texts));
    for (size_t c = 0; c < r->ncases; c++) {
        struct eval_output none = {0};
        none.ok = 1;
        char empty[1] = "";
        none.text = empty;
        struct scorer_input in = {&r->cases[c], &none};
        char err[256];
        char *ref = scorer_render_reference(run->scorers[s], &in, err, sizeof(err));
        if (ref)
            texts[n++] = ref;
        for (size_t v = 0; v < r->nvariants; v++)
            for (int rep = 0; rep < r->repeats; rep++) {
                const struct eval_output *o = eval_output_at(r, c, v, rep);
                if (o->ok && o->text)
                    texts[n++] = xstrdup(o->text);
            }
    }
    scorer_similar_corpus(run->scorers[s], (const char *const *)texts, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

static void score_locals(struct run *run)
{
    const struct eval_report *r = run->r;
    for (size_t s = 0; s < r->nscorers; s++) {
        const struct scorer *sc = run->scorers[s];
        if (scorer_needs(sc) != SCORER_NEEDS_NOTHING)
            continue;
        if (is_offline_similar(sc))
            similar_corpus(run, s);
        for (size_t c = 0; c < r->ncases; c++)
            for (size_t v = 0; v < r->nvariants; v++)
                for (int rep = 0; rep < r->repeats; rep++) {
                    const struct eval_output *o = eval_output_at(r, c, v, rep);
                    struct eval_score *score = eval_score_at(r, c, v, rep, s);
                    if (!o->ok) {
                        score_fail(score, o->error ? "the call failed" : "not run");
                        continue;
                    }
                    struct scorer_input in = {&r->cases[c], o};
                    free(score->reason);
                    memset(score, 0, sizeof(*score));
                    scorer_score_local(sc, &in, score);
                }
    }
}

/* ---- setting up ----------------------------------------------------------------------- */

static int setup_scorers(struct run *run, char *err, size_t errlen)
{
    struct eval_report *r = run->r;
    const cJSON *spec;
    size_t i = 0;
    cJSON_ArrayForEach(spec, run->s->scorers)
    {
        char why[384];
        if (scorer_parse(spec, &run->scorers[i], why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s: scorers[%zu]: %s", run->s->path, i, why);
            return -1;
        }
        const struct scorer *sc = run->scorers[i];
        if (scorer_needs(sc) == SCORER_NEEDS_PAIRWISE && run->s->nvariants < 2) {
            snprintf(err, errlen, "%s: scorers[%zu]: pairwise needs two variants", run->s->path, i);
            return -1;
        }
        const char *up = scorer_upstream(sc);
        if (up && !find_upstream(run->cfg, up)) {
            snprintf(err, errlen, "%s: scorers[%zu]: unknown upstream '%s'", run->s->path, i, up);
            return -1;
        }
        r->scorers[i].name = xstrdup(scorer_name(sc));
        r->scorers[i].type = xstrdup(scorer_type(sc));
        r->scorers[i].weight = scorer_weight(sc);
        r->scorers[i].threshold = scorer_threshold(sc);
        r->nscorers = ++i;
    }
    return 0;
}

static int setup_variants(struct run *run, char *err, size_t errlen)
{
    struct eval_report *r = run->r;
    for (size_t v = 0; v < run->s->nvariants; v++) {
        if (load_prompt(run, v, err, errlen) != 0)
            return -1;
        const struct run_prompt *p = &run->prompts[v];
        r->variants[v].name = xstrdup(run->s->variants[v].name);
        r->variants[v].prompt = p->version > 0
                                    ? xasprintf("%s@%lld", p->name, (long long)p->version)
                                    : xstrdup(p->name);
        r->variants[v].model = p->model ? xstrdup(p->model) : NULL;
        r->variants[v].upstream = xstrdup(p->up ? p->up->name : "recorded");
        r->nvariants = v + 1;
        if (!run->judge_up && p->up) { /* the first variant that calls a model */
            run->judge_up = p->up;
            run->judge_model = p->model;
        }
    }
    return 0;
}

static int setup(struct run *run, char *err, size_t errlen)
{
    const struct suite *s = run->s;
    struct eval_report *r = run->r;
    r->suite = xstrdup(s->name);
    char id[17];
    ids_random(8, id);
    r->run_id = xstrdup(id);
    snprintf(run->trace_base, sizeof(run->trace_base), "%s", id);
    r->repeats = run->cfg->repeat > 0 ? run->cfg->repeat : s->repeat > 0 ? s->repeat : 1;
    r->min_score = s->min_score;
    r->max_regression = s->max_regression;
    r->alpha = s->alpha;
    if (setup_variants(run, err, errlen) != 0 || setup_scorers(run, err, errlen) != 0)
        return -1;
    uint64_t seed = ids_hash64(s->name, strlen(s->name), 0x5eed);
    if (s->cases) {
        r->cases = suite_cases_copy(s->cases, s->ncases);
        r->ncases = s->ncases;
    } else if (suite_read_cases(s, run->cfg->db, seed, &r->cases, &r->ncases, err, errlen) != 0) {
        return -1;
    }
    if (eval_report_alloc(r) != 0) {
        snprintf(err, errlen, "%zu cases x %zu variants x %d repeats is too many", r->ncases,
                 r->nvariants, r->repeats);
        return -1;
    }
    size_t npairs = r->ncases * (size_t)r->repeats * r->nscorers;
    run->pair_reply = xcalloc(npairs * 2 + 1, sizeof(*run->pair_reply));
    run->pair_done = xcalloc(npairs + 1, sizeof(*run->pair_done));
    return 0;
}

static void run_release(struct run *run)
{
    run_http_free(run);
    size_t npairs = run->r->ncases * (size_t)run->r->repeats * run->r->nscorers;
    for (size_t i = 0; run->pair_reply && i < npairs * 2; i++)
        free(run->pair_reply[i]);
    free(run->pair_reply);
    free(run->pair_done);
    for (size_t i = 0; i < EVAL_MAX_SCORERS; i++)
        scorer_free(run->scorers[i]);
    for (size_t i = 0; i < EVAL_MAX_VARIANTS; i++)
        prompt_release(&run->prompts[i]);
}

int runner_run(const struct runner_config *cfg_in, const struct suite *s, struct eval_report *r,
               char *err, size_t errlen)
{
    struct runner_config cfg = *cfg_in;
    if (cfg.concurrency <= 0)
        cfg.concurrency = s->concurrency > 0 ? s->concurrency : RUNNER_DEFAULT_CONCURRENCY;
    struct run run;
    memset(&run, 0, sizeof(run));
    run.cfg = &cfg;
    run.s = s;
    run.r = r;
    run.tty = isatty(fileno(cfg.progress_out ? cfg.progress_out : stderr));
    r->started_ns = time_now_ns();
    int rc = setup(&run, err, errlen);
    if (rc == 0)
        rc = run_http_init(&run, err, errlen);
    if (rc != 0) {
        run_release(&run);
        return -1;
    }
    run.t0_ns = time_mono_ns();
    for (size_t c = 0; c < r->ncases; c++)
        for (int rep = 0; rep < r->repeats; rep++)
            for (size_t v = 0; v < r->nvariants; v++)
                plan_model_call(&run, c, v, rep);
    run_loop(&run);
    r->interrupted = cfg.interrupted && *cfg.interrupted;
    score_locals(&run);
    r->finished_ns = time_now_ns();
    run_release(&run);
    return 0;
}
