/*
 * online: sampled live traffic scored as it arrives (online.h).
 *
 * States of the worker: idle (waiting on the queue, waking every 2 s to see
 * whether the rules changed) -> scoring one span -> committing its scores
 * -> idle. Rules live in memory under 'mu' (online_offer matches against
 * them); the worker alone replaces them.
 */
#include "evaluator/online.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/llmcall.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/scorer.h"
#include "store/evals.h"
#include "store/store.h"

#define RULES_CHECK_NS 2000000000LL
#define ANSWER_MAX (8u << 20)
#define CALL_ATTEMPTS 3

struct rule {
    char *name, *project, *prompt_name, *upstream, *model;
    int64_t prompt_version;
    double sample;
    struct scorer *scorers[EVAL_MAX_SCORERS];
    size_t nscorers;
};

struct item {
    char *project, *vars, *output, *rules; /* rules: matching rule names, '\n'-separated */
    char trace_id[33], span_id[17];
    char *model, *provider;
    double latency_ms;
    int has_cost;
    int64_t cost_nusd;
    struct item *next;
};

struct online {
    struct online_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    struct rule *rules;
    size_t nrules;
    struct item *head, *tail;
    size_t queued;
    int busy, stop;
    pthread_t thread;
    struct online_stats st;
    struct store *ro;
    int64_t rules_sig_a, rules_sig_b;
};

int online_sampled(const char *span_id, double sample)
{
    if (sample >= 1)
        return 1;
    uint64_t h = ids_hash64(span_id, strlen(span_id), 0x0e11);
    return (double)(h % 1000000) < sample * 1e6;
}

/* ---- rules -------------------------------------------------------------------- */

static void rule_release(struct rule *r)
{
    free(r->name);
    free(r->project);
    free(r->prompt_name);
    free(r->upstream);
    free(r->model);
    for (size_t i = 0; i < r->nscorers; i++)
        scorer_free(r->scorers[i]);
}

struct load_ctx {
    struct rule *v;
    size_t n;
};

static int load_one(void *arg, const struct evals_online_rule *er)
{
    struct load_ctx *l = arg;
    if (l->n >= EVALS_ONLINE_MAX_RULES)
        return 0;
    struct rule *r = &l->v[l->n];
    memset(r, 0, sizeof(*r));
    cJSON *specs = cJSON_Parse(er->scorers);
    const cJSON *spec;
    cJSON_ArrayForEach(spec, specs)
    {
        char err[256];
        if (r->nscorers == EVAL_MAX_SCORERS)
            break;
        if (scorer_parse(spec, &r->scorers[r->nscorers], err, sizeof(err)) != 0) {
            log_msg(LOG_WARN, "online", "rule %s: a scorer is skipped: %s", er->name, err);
            continue;
        }
        r->nscorers++;
    }
    cJSON_Delete(specs);
    r->name = xstrdup(er->name);
    r->project = xstrdup(er->project);
    r->prompt_name = er->prompt_name ? xstrdup(er->prompt_name) : NULL;
    r->prompt_version = er->prompt_version;
    r->sample = er->sample;
    r->upstream = er->upstream ? xstrdup(er->upstream) : NULL;
    r->model = er->model ? xstrdup(er->model) : NULL;
    l->n++;
    return 0;
}

/* Re-read the rules when the table changed. */
static void reload_rules(struct online *o)
{
    sqlite3 *db = store_db(o->ro);
    int64_t a = store_query_int(db, "SELECT count(*) FROM eval_online", -1);
    int64_t b = store_query_int(db,
                                "SELECT coalesce(sum(created_ns % 1000000007), 0) FROM "
                                "eval_online",
                                -1);
    if (a == o->rules_sig_a && b == o->rules_sig_b)
        return;
    struct load_ctx l = {xcalloc(EVALS_ONLINE_MAX_RULES, sizeof(struct rule)), 0};
    if (evals_online_list(db, load_one, &l) != 0) {
        for (size_t i = 0; i < l.n; i++)
            rule_release(&l.v[i]);
        free(l.v);
        return;
    }
    pthread_mutex_lock(&o->mu);
    struct rule *old = o->rules;
    size_t nold = o->nrules;
    o->rules = l.v;
    o->nrules = l.n;
    pthread_mutex_unlock(&o->mu);
    for (size_t i = 0; i < nold; i++)
        rule_release(&old[i]);
    free(old);
    o->rules_sig_a = a;
    o->rules_sig_b = b;
    log_msg(LOG_INFO, "online", "%zu online evaluation rules", l.n);
}

/* ---- offering ------------------------------------------------------------------- */

static int rule_matches(const struct rule *r, const struct span *s)
{
    const char *project = s->project ? s->project : "default";
    if (strcmp(r->project, project) != 0)
        return 0;
    if (r->prompt_name && (!s->prompt_name || strcmp(r->prompt_name, s->prompt_name) != 0))
        return 0;
    if (r->prompt_version > 0 && s->prompt_version != r->prompt_version)
        return 0;
    return s->status == SPAN_STATUS_OK && s->output && online_sampled(s->span_id, r->sample);
}

/* The variables a scorer sees: the prompt's, else the last user message. */
static char *vars_of(const struct span *s)
{
    if (s->prompt_vars)
        return xstrdup(s->prompt_vars);
    cJSON *in = s->input ? cJSON_Parse(s->input) : NULL, *v = cJSON_CreateObject();
    const cJSON *m, *last = NULL;
    cJSON_ArrayForEach(m, in)
    {
        const char *role = jsonx_str(m, "role");
        if (role && strcmp(role, "user") == 0 && jsonx_str(m, "content"))
            last = m;
    }
    if (last)
        cJSON_AddStringToObject(v, "input", jsonx_str(last, "content"));
    else if (cJSON_IsString(in))
        cJSON_AddStringToObject(v, "input", in->valuestring);
    char *out = jsonx_print(v);
    cJSON_Delete(v);
    cJSON_Delete(in);
    return out;
}

static struct item *item_new(const struct span *s, char *rules)
{
    struct item *it = xcalloc(1, sizeof(*it));
    it->output = eval_output_text(s->output);
    if (!it->output) {
        free(it);
        free(rules);
        return NULL;
    }
    it->project = xstrdup(s->project ? s->project : "default");
    it->vars = vars_of(s);
    it->rules = rules;
    memcpy(it->trace_id, s->trace_id, sizeof(it->trace_id));
    memcpy(it->span_id, s->span_id, sizeof(it->span_id));
    it->model = s->model ? xstrdup(s->model) : NULL;
    it->provider = s->provider ? xstrdup(s->provider) : NULL;
    it->latency_ms = s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e6 : NAN;
    it->has_cost = s->has_cost;
    it->cost_nusd = s->cost_nusd;
    return it;
}

static void item_free(struct item *it)
{
    free(it->project);
    free(it->vars);
    free(it->output);
    free(it->rules);
    free(it->model);
    free(it->provider);
    free(it);
}

/* The names of the rules that sample 's' ('\n'-joined; NULL: none). Under mu. */
static char *matching_rules(const struct online *o, const struct span *s)
{
    struct buf b;
    buf_init(&b, 1u << 16);
    for (size_t i = 0; i < o->nrules; i++)
        if (rule_matches(&o->rules[i], s) &&
            ((b.len && buf_putc(&b, '\n')) || buf_puts(&b, o->rules[i].name)))
            break;
    char *out = b.len ? buf_take(&b, NULL) : NULL;
    buf_release(&b);
    return out;
}

void online_offer(struct online *o, const struct ingest_batch *b)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < b->nspans && o->nrules && !o->stop; i++) {
        const struct rec_span *r = &b->spans[i];
        const char *project = r->span.project ? r->span.project : "default";
        if (r->result != REC_CREATED || strcmp(project, RUNNER_EVAL_PROJECT) == 0)
            continue;
        o->st.offered++;
        char *rules = matching_rules(o, &r->span);
        if (!rules)
            continue;
        if (o->queued >= o->cfg.queue_max) {
            o->st.dropped++;
            free(rules);
            continue;
        }
        struct item *it = item_new(&r->span, rules);
        if (!it)
            continue;
        o->st.sampled++;
        if (o->tail)
            o->tail->next = it;
        else
            o->head = it;
        o->tail = it;
        o->queued++;
    }
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* ---- scoring one span -------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return buf_append(arg, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    long *retry_ms = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0)
        *retry_ms = (long)(strtod(p + 12, NULL) * 1000);
    return len;
}

/* POST 'body' to 'up' 'path'; 429 and 5xx retried (Retry-After, at most
 * 10 s). The HTTP status (0: no answer); the answer in 'resp'. */
static long call(const struct online *o, const struct runner_upstream *up, const char *path,
                 const char *body, struct buf *resp, int64_t *t0, int64_t *t1)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", up->origin, path);
    long status = 0;
    for (int attempt = 1; attempt <= CALL_ATTEMPTS; attempt++) {
        CURL *e = curl_easy_init();
        if (!e)
            return 0;
        struct curl_slist *h = runner_headers(up);
        long retry_ms = -1;
        buf_reset(resp);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &retry_ms);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->cfg.timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        *t0 = time_now_ns();
        status = 0;
        if (curl_easy_perform(e) == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        *t1 = time_now_ns();
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        if (status && status != 429 && status < 500)
            break;
        if (attempt < CALL_ATTEMPTS && !__atomic_load_n(&o->stop, __ATOMIC_RELAXED)) {
            long ms = retry_ms >= 0 ? (retry_ms < 10000 ? retry_ms : 10000) : 500L << attempt;
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return status;
}

static const struct runner_upstream *upstream_for(const struct online *o, const char *name,
                                                  const char *provider)
{
    const char *want = name                                                 ? name
                       : provider && strncmp(provider, "anthropic", 9) == 0 ? "anthropic"
                                                                            : "openai";
    for (size_t i = 0; i < o->cfg.nupstreams; i++)
        if (strcmp(o->cfg.upstreams[i].name, want) == 0)
            return &o->cfg.upstreams[i];
    return NULL;
}

/* The judge call's span, in the scored span's trace. */
static void judge_span(struct ingest_batch *b, const struct item *it, const struct rule *r,
                       const struct scorer *sc, const struct runner_upstream *up, const char *model,
                       const char *msgs, int anthropic, long status, const struct buf *resp,
                       int64_t t0, int64_t t1)
{
    struct span *s = &ingest_add_span(b)->span;
    free(s->name);
    if (status > 0)
        llm_response_parse(anthropic ? LLM_API_ANTHROPIC_MESSAGES : LLM_API_CHAT, (int)status,
                           buf_str(resp), resp->len, s);
    else
        s->status = SPAN_STATUS_ERROR, xstrset(&s->error_code, "UPSTREAM_UNREACHABLE");
    memcpy(s->trace_id, it->trace_id, sizeof(s->trace_id));
    memcpy(s->parent_span_id, it->span_id, sizeof(s->parent_span_id));
    xstrset(&s->project, RUNNER_EVAL_PROJECT);
    s->kind = SPAN_KIND_EVALUATOR;
    s->name = xasprintf("online judge %s %s", r->name, scorer_name(sc));
    s->start_ns = t0;
    s->end_ns = t1;
    xstrset(&s->provider, up->anthropic ? "anthropic" : "openai");
    xstrset(&s->model, model);
    xstrset(&s->input, msgs);
}

static int call_ok(long status)
{
    return status >= 200 && status < 300;
}

static void score_remote(struct online *o, const struct item *it, const struct rule *r,
                         const struct scorer *sc, const struct scorer_input *in,
                         struct eval_score *score, struct ingest_batch *b)
{
    const struct runner_upstream *up =
        upstream_for(o, scorer_upstream(sc) ? scorer_upstream(sc) : r->upstream, it->provider);
    const char *model = scorer_model(sc) ? scorer_model(sc) : r->model ? r->model : it->model;
    if (!up || !model) {
        score->error = 1;
        xstrset(&score->reason, up ? "no judge model" : "no such upstream");
        return;
    }
    int judge = scorer_needs(sc) == SCORER_NEEDS_JUDGE;
    char *msgs = judge ? scorer_judge_messages(sc, in, score) : NULL;
    char *body =
        judge ? (msgs ? runner_chat_body(up->anthropic, model, msgs, "{\"temperature\":0}") : NULL)
              : scorer_embed_request(sc, in, score);
    if (!body) {
        free(msgs);
        return;
    }
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    int64_t t0 = 0, t1 = 0;
    const char *path =
        judge ? (up->anthropic ? "/v1/messages" : "/v1/chat/completions") : "/v1/embeddings";
    long status = call(o, up, path, body, &resp, &t0, &t1);
    if (judge) {
        struct span tmp;
        span_init(&tmp);
        llm_response_parse(up->anthropic ? LLM_API_ANTHROPIC_MESSAGES : LLM_API_CHAT, (int)status,
                           buf_str(&resp), resp.len, &tmp);
        char *reply = call_ok(status) && tmp.output ? eval_output_text(tmp.output) : NULL;
        if (reply)
            scorer_judge_finish(sc, reply, score);
        else
            score->error = 1, xstrset(&score->reason, "the judge call failed");
        free(reply);
        span_release(&tmp);
        judge_span(b, it, r, sc, up, model, msgs, up->anthropic, status, &resp, t0, t1);
    } else if (call_ok(status)) {
        scorer_embed_finish(sc, buf_str(&resp), resp.len, score);
    } else {
        score->error = 1;
        xstrset(&score->reason, "the embeddings call failed");
    }
    buf_release(&resp);
    free(body);
    free(msgs);
}

static void add_score(struct ingest_batch *b, const struct item *it, const struct rule *r,
                      const struct scorer *sc, const struct eval_score *score)
{
    struct rec_score *rs = ingest_add_score(b);
    rs->project = xstrdup(it->project);
    rs->id = xasprintf("online:%s:%s:%s:%s", r->name, scorer_name(sc), it->trace_id, it->span_id);
    memcpy(rs->trace_id, it->trace_id, sizeof(rs->trace_id));
    memcpy(rs->span_id, it->span_id, sizeof(rs->span_id));
    rs->name = xstrdup(scorer_name(sc));
    rs->value = score->error ? 0 : score->value;
    rs->data_type = xstrdup("NUMERIC");
    rs->comment = score->reason ? xstrdup(score->reason) : NULL;
    rs->source = xstrdup("online");
    rs->time_ns = time_now_ns();
}

static const struct rule *find_rule(const struct online *o, const char *name, size_t n)
{
    for (size_t i = 0; i < o->nrules; i++)
        if (strlen(o->rules[i].name) == n && strncmp(o->rules[i].name, name, n) == 0)
            return &o->rules[i];
    return NULL;
}

static void score_item(struct online *o, const struct item *it)
{
    struct eval_case c = {.id = (char *)it->span_id, .vars = it->vars};
    struct eval_output out = {.ok = 1,
                              .text = it->output,
                              .latency_ms = it->latency_ms,
                              .has_cost = it->has_cost,
                              .cost_nusd = it->cost_nusd};
    struct scorer_input in = {&c, &out};
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (const char *p = it->rules; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const struct rule *r = find_rule(o, p, n);
        for (size_t s = 0; r && s < r->nscorers; s++) {
            const struct scorer *sc = r->scorers[s];
            struct eval_score score = {0};
            if (scorer_needs(sc) == SCORER_NEEDS_NOTHING)
                scorer_score_local(sc, &in, &score);
            else if (scorer_needs(sc) != SCORER_NEEDS_PAIRWISE)
                score_remote(o, it, r, sc, &in, &score, &b);
            else
                continue;
            add_score(&b, it, r, sc, &score);
            free(score.reason);
        }
        p = nl ? nl + 1 : NULL;
    }
    char err[256];
    int ok = ingest_count(&b) == 0 || o->cfg.commit(o->cfg.commit_arg, &b, err, sizeof(err)) == 0;
    pthread_mutex_lock(&o->mu);
    if (ok)
        o->st.scored++;
    else
        o->st.failed++;
    pthread_mutex_unlock(&o->mu);
    if (!ok)
        log_msg(LOG_WARN, "online", "cannot store the scores of span %s: %s", it->span_id, err);
    ingest_batch_release(&b);
}

/* ---- the worker -------------------------------------------------------------------- */

static void *worker(void *arg)
{
    struct online *o = arg;
    int64_t next_check = 0;
    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        if (time_mono_ns() >= next_check) {
            pthread_mutex_unlock(&o->mu);
            reload_rules(o);
            pthread_mutex_lock(&o->mu);
            next_check = time_mono_ns() + RULES_CHECK_NS;
        }
        struct item *it = o->head;
        if (!it) {
            pthread_cond_broadcast(&o->idle_cv);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200000000L;
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&o->cv, &o->mu, &ts);
            continue;
        }
        o->head = it->next;
        if (!o->head)
            o->tail = NULL;
        o->queued--;
        o->busy = 1;
        pthread_mutex_unlock(&o->mu);
        score_item(o, it);
        item_free(it);
        pthread_mutex_lock(&o->mu);
        o->busy = 0;
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

int online_new(struct online **out, const struct online_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct online *o = xcalloc(1, sizeof(*o));
    o->cfg = *cfg;
    if (!o->cfg.queue_max)
        o->cfg.queue_max = 1000;
    if (!o->cfg.timeout_ms)
        o->cfg.timeout_ms = 60000;
    o->rules_sig_a = o->rules_sig_b = -2;
    if (store_open(&o->ro, cfg->db_path, STORE_READONLY, err, errlen) != STORE_OK) {
        free(o);
        return -1;
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    pthread_cond_init(&o->idle_cv, NULL);
    reload_rules(o);
    if (pthread_create(&o->thread, NULL, worker, o) != 0) {
        snprintf(err, errlen, "cannot start the online evaluator");
        store_close(o->ro);
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

void online_stop(struct online *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    int was = o->stop;
    o->stop = 1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (!was)
        pthread_join(o->thread, NULL);
}

void online_free(struct online *o)
{
    if (!o)
        return;
    online_stop(o);
    while (o->head) {
        struct item *it = o->head;
        o->head = it->next;
        item_free(it);
    }
    for (size_t i = 0; i < o->nrules; i++)
        rule_release(&o->rules[i]);
    free(o->rules);
    store_close(o->ro);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    pthread_cond_destroy(&o->idle_cv);
    free(o);
}

int online_drain(struct online *o, long timeout_ms)
{
    int64_t end = time_mono_ns() + timeout_ms * 1000000LL;
    pthread_mutex_lock(&o->mu);
    while ((o->head || o->busy) && time_mono_ns() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&o->idle_cv, &o->mu, &ts);
    }
    int idle = !o->head && !o->busy;
    pthread_mutex_unlock(&o->mu);
    return idle ? 0 : -1;
}

void online_get_stats(struct online *o, struct online_stats *st)
{
    pthread_mutex_lock(&o->mu);
    *st = o->st;
    pthread_mutex_unlock(&o->mu);
}
