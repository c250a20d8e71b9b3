/*
 * alert: the engine (see alert.h). The thread's loop:
 *
 *     evaluate when due -> start the attempts that are due -> let the pool
 *     run up to POLL_MS -> record what finished -> (nothing in flight:
 *     sleep up to POLL_MS, woken by alert_engine_free)
 *
 * so a slow or dead receiver never holds up an evaluation or another
 * receiver. An evaluation's steps are recorded in one writer call; so are
 * the outcomes that finished together. The read connection is the
 * engine's own, opened read-only for its whole life.
 */
#include "evaluator/alert.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ids.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/webhook.h"
#include "store/store.h"

#define POLL_MS 100
#define DUE_BATCH 32 /* attempts started per loop */

/* ---- the decisions -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of 'n' > 0 sorted values. */
static double median_sorted(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void alert_baseline_compute(const double *values, size_t n, struct alert_baseline *out)
{
    double v[ALERT_HISTORY_WEEKS * 4], dev[ALERT_HISTORY_WEEKS * 4];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(v) / sizeof(v[0]); i++)
        if (!isnan(values[i]))
            v[k++] = values[i];
    out->weeks = (int)k;
    out->ready = k >= ALERT_MIN_WEEKS;
    out->median = out->mad = NAN;
    if (!out->ready)
        return; /* learning: no baseline to show or compare with */
    qsort(v, k, sizeof(v[0]), cmp_double);
    out->median = median_sorted(v, k);
    for (size_t i = 0; i < k; i++)
        dev[i] = fabs(v[i] - out->median);
    qsort(dev, k, sizeof(dev[0]), cmp_double);
    out->mad = median_sorted(dev, k);
}

enum alert_obs alert_observe(const struct alerts_rule *r, int64_t calls, double value,
                             const struct alert_baseline *b)
{
    if (calls <= 0)
        return ALERT_OBS_NO_DATA;
    if (isnan(value))
        return ALERT_OBS_NORMAL;
    if (r->mode == ALERTS_ABOVE)
        return value > r->threshold ? ALERT_OBS_BREACH : ALERT_OBS_NORMAL;
    if (!b || !b->ready)
        return ALERT_OBS_NORMAL; /* learning */
    int breach = value > 0 && value > r->threshold * b->median &&
                 value > b->median + ALERT_MAD_K * ALERT_MAD_SIGMA * b->mad;
    return breach ? ALERT_OBS_BREACH : ALERT_OBS_NORMAL;
}

enum alerts_state alert_next(enum alerts_state cur, enum alert_obs obs, int *deliver, int *new_key)
{
    *deliver = *new_key = 0;
    if (obs == ALERT_OBS_BREACH) {
        if (cur == ALERTS_FIRING)
            return ALERTS_FIRING;
        *deliver = *new_key = 1;
        return ALERTS_FIRING;
    }
    if (obs == ALERT_OBS_NO_DATA) {
        *deliver = cur == ALERTS_FIRING;
        return ALERTS_NO_DATA;
    }
    if (cur == ALERTS_FIRING) {
        *deliver = 1;
        return ALERTS_RESOLVED;
    }
    return ALERTS_OK;
}

int64_t alert_retry_delay_ns(int64_t attempt, int64_t retry_after_s)
{
    if (attempt < 1 || attempt >= ALERT_MAX_ATTEMPTS)
        return -1;
    int64_t s = (int64_t)1 << (attempt - 1);
    if (retry_after_s > s)
        s = retry_after_s < ALERT_RETRY_AFTER_MAX_S ? retry_after_s : ALERT_RETRY_AFTER_MAX_S;
    return s * 1000000000LL;
}

/* ---- one evaluation -------------------------------------------------------------- */

/* The baseline of rule 'r' for the window ending 'now_ns'. */
static int history(sqlite3 *db, const struct alerts_rule *r, int64_t now_ns,
                   struct alert_baseline *b, char *err, size_t errlen)
{
    double v[ALERT_HISTORY_WEEKS];
    int64_t w = r->window_s * 1000000000LL;
    for (int k = 1; k <= ALERT_HISTORY_WEEKS; k++) {
        struct alerts_sums s;
        int64_t to = now_ns - k * ALERT_WEEK_NS;
        if (alerts_window(db, r->scope, r->subject, to - w, to, &s, err, errlen) != 0)
            return -1;
        v[k - 1] = s.calls > 0 ? alerts_metric_value(r->metric, &s) : NAN;
    }
    alert_baseline_compute(v, ALERT_HISTORY_WEEKS, b);
    return 0;
}

/* One rule's step, with the strings the outcome borrows. */
struct step {
    struct alerts_outcome o;
    char key[ALERTS_NAME_MAX + 40];
    struct buf payload;
};

static void make_payload(const struct alerts_rule *r, struct step *s)
{
    struct webhook_event e = {.rule = r->name,
                              .state = alerts_state_name(s->o.to),
                              .metric = r->metric,
                              .scope = r->scope,
                              .subject = r->subject,
                              .mode = r->mode,
                              .window_s = r->window_s,
                              .value = s->o.value,
                              .threshold = r->threshold,
                              .baseline = s->o.baseline,
                              .dedup_key = s->o.dedup_key,
                              .time_ns = s->o.now_ns};
    if (webhook_body(&e, &s->payload) == 0)
        s->o.payload = buf_str(&s->payload);
}

static int step_rule(sqlite3 *db, const struct alerts_rule *r, int64_t now_ns, struct step *s,
                     char *err, size_t errlen)
{
    struct alerts_sums sums;
    struct alert_baseline b = {NAN, NAN, 0, 0};
    if (alerts_window(db, r->scope, r->subject, now_ns - r->window_s * 1000000000LL, now_ns, &sums,
                      err, errlen) != 0)
        return -1;
    if (r->mode == ALERTS_ANOMALY && history(db, r, now_ns, &b, err, errlen) != 0)
        return -1;
    double value = alerts_metric_value(r->metric, &sums);
    int deliver, new_key;
    enum alerts_state to =
        alert_next(r->state, alert_observe(r, sums.calls, value, &b), &deliver, &new_key);
    s->o = (struct alerts_outcome){.rule = r->name,
                                   .created_ns = r->created_ns,
                                   .now_ns = now_ns,
                                   .value = value,
                                   .baseline = b.median,
                                   .threshold = r->threshold,
                                   .from = r->state,
                                   .to = to,
                                   .url = r->webhook};
    if (new_key) {
        char rnd[17];
        ids_random(8, rnd);
        snprintf(s->key, sizeof(s->key), "%s-%s", r->name, rnd);
        s->o.dedup_key = s->key;
    } else if (r->firing_key && (to == ALERTS_FIRING || r->state == ALERTS_FIRING)) {
        snprintf(s->key, sizeof(s->key), "%s", r->firing_key);
        s->o.dedup_key = s->key; /* the firing, its retries and its end share the key */
    }
    if (deliver && r->webhook)
        make_payload(r, s);
    return 0;
}

struct eval_job {
    struct step *steps;
    size_t n;
};

static int record_steps(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct eval_job *j = ctx;
    for (size_t i = 0; i < j->n; i++) {
        int64_t event_id;
        if (alerts_record(db, &j->steps[i].o, &event_id, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int alert_evaluate(sqlite3 *db, int64_t now_ns, alert_write_fn write, void *write_arg, char *err,
                   size_t errlen)
{
    struct alerts_rule *rules = NULL;
    size_t n = 0;
    if (alerts_rules(db, &rules, &n, err, errlen) != 0)
        return -1;
    struct eval_job j = {xcalloc(n ? n : 1, sizeof(struct step)), 0};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct step *s = &j.steps[j.n];
        buf_init(&s->payload, 1u << 20);
        char why[256];
        if (step_rule(db, &rules[i], now_ns, s, why, sizeof(why)) != 0) {
            log_msg(LOG_WARN, "alert", "cannot evaluate rule %s: %s", rules[i].name, why);
            buf_release(&s->payload);
            continue;
        }
        j.n++;
    }
    if (j.n && write(write_arg, record_steps, &j, err, errlen) != 0)
        rc = -1;
    for (size_t i = 0; i < j.n; i++)
        buf_release(&j.steps[i].payload);
    free(j.steps);
    alerts_rules_free(rules, n);
    return rc;
}

/* ---- deliveries ----------------------------------------------------------------------- */

struct alert_engine {
    struct alert_config cfg;
    void *secret;
    struct store *ro;
    struct webhook_pool *pool;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    /* attempts in flight: their attempt number, by delivery id */
    int64_t *ids, *attempts;
    size_t nflight, capflight;
};

/* One finished attempt, to record. */
struct done {
    int64_t id, attempt, status, retry_at_ns, at_ns;
    int success;
    char error[256];
};

struct done_job {
    struct done *d;
    size_t n, cap;
};

static int record_done(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct done_job *j = ctx;
    for (size_t i = 0; i < j->n; i++) {
        const struct done *d = &j->d[i];
        if (alerts_attempted(db, d->id, d->at_ns, d->status, d->error[0] ? d->error : NULL,
                             d->success, d->retry_at_ns, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int64_t take_flight(struct alert_engine *e, int64_t id)
{
    for (size_t i = 0; i < e->nflight; i++)
        if (e->ids[i] == id) {
            int64_t a = e->attempts[i];
            e->ids[i] = e->ids[--e->nflight];
            e->attempts[i] = e->attempts[e->nflight];
            return a;
        }
    return 1;
}

struct done_ctx {
    struct alert_engine *e;
    struct done_job *job;
};

static void on_done(void *arg, int64_t id, const struct webhook_result *res)
{
    struct done_ctx *c = arg;
    struct done_job *j = c->job;
    if (j->n == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 8;
        j->d = xrealloc(j->d, j->cap * sizeof(*j->d));
    }
    struct done *d = &j->d[j->n++];
    memset(d, 0, sizeof(*d));
    d->id = id;
    d->attempt = take_flight(c->e, id);
    d->at_ns = time_now_ns();
    d->status = res->status;
    d->success = webhook_ok(res);
    snprintf(d->error, sizeof(d->error), "%s", res->error);
    int64_t delay = !d->success && webhook_retryable(res)
                        ? alert_retry_delay_ns(d->attempt, res->retry_after_s)
                        : -1;
    d->retry_at_ns = delay > 0 ? d->at_ns + delay : 0;
    log_msg(d->success ? LOG_INFO : LOG_WARN, "alert",
            "delivery %lld attempt %lld: status=%lld%s%s", (long long)id, (long long)d->attempt,
            (long long)d->status, d->error[0] ? " error=" : "", d->error);
}

struct start_ctx {
    struct alert_engine *e;
};

static int start_one(void *arg, const struct alerts_delivery *d)
{
    struct alert_engine *e = ((struct start_ctx *)arg)->e;
    if (webhook_pool_has(e->pool, d->id) || !d->payload)
        return 0;
    const char *event = d->to_state ? d->to_state : "";
    struct webhook_req req = {
        d->url, d->payload, strlen(d->payload), e->secret, e->cfg.secret_len, d->dedup_key,
        event,  0};
    char err[256];
    if (webhook_pool_add(e->pool, d->id, &req, err, sizeof(err)) != 0) {
        log_msg(LOG_WARN, "alert", "cannot start delivery %lld: %s", (long long)d->id, err);
        return 0;
    }
    if (e->nflight == e->capflight) {
        e->capflight = e->capflight ? 2 * e->capflight : 16;
        e->ids = xrealloc(e->ids, e->capflight * sizeof(*e->ids));
        e->attempts = xrealloc(e->attempts, e->capflight * sizeof(*e->attempts));
    }
    e->ids[e->nflight] = d->id;
    e->attempts[e->nflight++] = d->attempt;
    return 0;
}

/* Start what is due, let the pool run up to 'wait_ms', record what ended. */
static void deliver(struct alert_engine *e, int wait_ms)
{
    struct start_ctx sc = {e};
    sqlite3 *db = store_db(e->ro);
    if (alerts_due(db, time_now_ns(), DUE_BATCH, start_one, &sc) != 0)
        log_msg(LOG_WARN, "alert", "cannot read the due deliveries: %s", sqlite3_errmsg(db));
    struct done_job job = {NULL, 0, 0};
    struct done_ctx dc = {e, &job};
    webhook_pool_run(e->pool, wait_ms, on_done, &dc);
    char err[512];
    if (job.n && e->cfg.write(e->cfg.write_arg, record_done, &job, err, sizeof(err)) != 0)
        log_msg(LOG_WARN, "alert", "cannot record delivery outcomes: %s", err);
    free(job.d);
}

/* ---- the thread ------------------------------------------------------------------------- */

/* Sleep up to 'ms', or until stopped; 1 when stopping. */
static int nap(struct alert_engine *e, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&e->mu);
    if (!e->stopping)
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    int stop = e->stopping;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

static void *engine_main(void *arg)
{
    struct alert_engine *e = arg;
    int64_t next_eval = time_now_ns();
    for (;;) {
        int64_t now = time_now_ns();
        if (now >= next_eval) {
            char err[512];
            if (alert_evaluate(store_db(e->ro), now, e->cfg.write, e->cfg.write_arg, err,
                               sizeof(err)) != 0)
                log_msg(LOG_WARN, "alert", "evaluation failed: %s", err);
            next_eval = now + e->cfg.interval_ns;
        }
        int64_t left_ms = (next_eval - time_now_ns()) / 1000000;
        int wait = left_ms < POLL_MS ? (left_ms > 0 ? (int)left_ms : 0) : POLL_MS;
        deliver(e, wait);
        if (webhook_pool_active(e->pool) == 0 && nap(e, wait))
            break;
        pthread_mutex_lock(&e->mu);
        int stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
    }
    return NULL;
}

int alert_engine_new(struct alert_engine **out, const struct alert_config *cfg, char *err,
                     size_t errlen)
{
    struct alert_engine *e = xcalloc(1, sizeof(*e));
    *out = NULL;
    e->cfg = *cfg;
    if (e->cfg.interval_ns <= 0)
        e->cfg.interval_ns = ALERT_DEFAULT_INTERVAL_NS;
    e->secret = xmalloc(cfg->secret_len ? cfg->secret_len : 1);
    if (cfg->secret_len)
        memcpy(e->secret, cfg->secret, cfg->secret_len);
    e->cfg.secret = e->secret;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (store_open(&e->ro, cfg->db_path, STORE_READONLY, err, errlen) != STORE_OK)
        goto fail;
    if (!(e->pool = webhook_pool_new())) {
        snprintf(err, errlen, "cannot start the webhook pool");
        goto fail;
    }
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        snprintf(err, errlen, "cannot start the alert thread: %s", strerror(errno));
        goto fail;
    }
    e->started = 1;
    *out = e;
    return 0;
fail:
    alert_engine_free(e);
    return -1;
}

void alert_engine_free(struct alert_engine *e)
{
    if (!e)
        return;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    webhook_pool_free(e->pool);
    store_close(e->ro);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    if (e->secret && e->cfg.secret_len)
        memset(e->secret, 0, e->cfg.secret_len);
    free(e->secret);
    free(e->ids);
    free(e->attempts);
    free(e);
}
