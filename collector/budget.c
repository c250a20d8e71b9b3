/*
 * budget: the ledger (see budget.h).
 *
 * State: the rules in force (a ruleset), sorted by (scope, subject, kind,
 * period) so a call finds the rules that apply by binary search, with an
 * index by id for settle. Each spend rule and the breaker carry the counter
 * of their current window (start, settled, reserved); the breaker also has
 * the global spend of the last 168 hours, a ring by hour, whose median (the
 * baseline) is cached per hour. One mutex guards it all. A reload builds
 * and seeds a new ruleset from the store outside the mutex, then swaps it in
 * under it, keeping each surviving rule's counter when it still counts the
 * current window (it knows what the store has not been told yet: in-flight
 * reservations, settled calls whose spans are still queued).
 *
 * Invariants: a counter's window only moves forward (roll); reserved is
 * the sum of the holds admitted in that window and not settled; 'latest'
 * is the newest time seen and no counter's window is past it.
 */
#include "collector/budget.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/budgets.h"
#include "store/store.h"

#define HOUR_NS 3600000000000LL
#define HIST_HOURS 168                  /* the breaker's history: 7 days */
#define HIST_MIN_HOURS 24               /* hours with spend before it can trip */
#define BREAKER_FLOOR_NUSD 1000000000LL /* it never trips below $1 an hour */
#define NO_WINDOW INT64_MIN
#define MAX_APPLY (BUDGET_HOLD_MAX + BUDGET_NSCOPES) /* and one cap per scope */

_Static_assert(BUDGET_NSCOPES *(BUDGET_NPERIODS - 1) + 1 <= BUDGET_HOLD_MAX,
               "a hold must fit every counter a call can touch");

struct lrule {
    struct budget_rule r; /* subject owned */
    int64_t window;       /* spend, breaker: start of the counter's window */
    int64_t settled, reserved;
    uint64_t refused;
};

struct hist_slot {
    int64_t hour, nusd;
};

struct ruleset {
    struct lrule *v; /* sorted by rule_cmp */
    size_t n;
    size_t *by_id;  /* indexes into v, by ascending id */
    size_t breaker; /* index of the breaker in v, n when there is none */
    struct hist_slot hist[HIST_HOURS];
};

struct budget_ledger {
    pthread_mutex_t mu;        /* everything below */
    pthread_mutex_t reload_mu; /* one reload at a time */
    char *db_path;
    struct ruleset rs;
    int64_t latest;
    int64_t baseline, baseline_hour; /* the cached median and its hour */
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

static int64_t floor_mod(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

/* Start of the window of 'r' that holds 't'. */
static int64_t window_of(const struct budget_rule *r, int64_t t)
{
    int64_t from, to;
    budgets_window(r->kind == BUDGET_BREAKER ? BUDGET_HOUR : r->period, t, &from, &to);
    return from;
}

static int has_counter(const struct budget_rule *r)
{
    return r->kind == BUDGET_SPEND || r->kind == BUDGET_BREAKER;
}

static int rule_cmp(const void *pa, const void *pb)
{
    const struct budget_rule *a = &((const struct lrule *)pa)->r;
    const struct budget_rule *b = &((const struct lrule *)pb)->r;
    if (a->scope != b->scope)
        return a->scope < b->scope ? -1 : 1;
    int c = strcmp(a->subject, b->subject);
    if (c)
        return c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return a->period < b->period ? -1 : a->period > b->period;
}

/* The first rule at or after (scope, subject). */
static size_t lower_bound(const struct ruleset *rs, enum budget_scope scope, const char *subject)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct budget_rule *r = &rs->v[mid].r;
        int c = r->scope != scope ? (r->scope < scope ? -1 : 1) : strcmp(r->subject, subject);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct lrule *by_id(const struct ruleset *rs, int64_t id)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t m = rs->v[rs->by_id[mid]].r.id;
        if (m == id)
            return &rs->v[rs->by_id[mid]];
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void ruleset_release(struct ruleset *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->v[i].r.subject);
    free(rs->v);
    free(rs->by_id);
    memset(rs, 0, sizeof(*rs));
}

/* ---- the breaker's history ---------------------------------------------- */

static void hist_add(struct budget_ledger *l, int64_t hour, int64_t nusd)
{
    struct hist_slot *s = &l->rs.hist[floor_mod(hour, HIST_HOURS)];
    if (nusd <= 0 || s->hour > hour)
        return; /* nothing, or the slot holds a newer hour */
    if (s->hour < hour)
        *s = (struct hist_slot){hour, 0};
    s->nusd = sat_add(s->nusd, nusd);
    l->baseline_hour = NO_WINDOW;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median hourly spend of the 168 hours before 'hour' that had spend,
 * or -1 when fewer than 24 had (cached until the history changes). */
static int64_t baseline(struct budget_ledger *l, int64_t hour)
{
    if (l->baseline_hour == hour)
        return l->baseline;
    int64_t v[HIST_HOURS];
    size_t n = 0;
    for (size_t i = 0; i < HIST_HOURS; i++) {
        const struct hist_slot *s = &l->rs.hist[i];
        if (s->hour >= hour - HIST_HOURS && s->hour < hour && s->nusd > 0)
            v[n++] = s->nusd;
    }
    int64_t b = -1;
    if (n >= HIST_MIN_HOURS) {
        qsort(v, n, sizeof(v[0]), cmp_i64);
        b = n % 2 ? v[n / 2] : v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
    }
    l->baseline = b;
    l->baseline_hour = hour;
    return b;
}

/* This hour's threshold: max(factor x baseline, $1), INT64_MAX while the
 * history is too short. */
static int64_t breaker_limit(struct budget_ledger *l, const struct lrule *lr)
{
    int64_t b = baseline(l, lr->window / HOUR_NS);
    if (b < 0)
        return INT64_MAX;
    double x = lr->r.factor * (double)b;
    int64_t lim = x >= 9.0e18 ? INT64_MAX : (int64_t)x;
    return lim > BREAKER_FLOOR_NUSD ? lim : BREAKER_FLOOR_NUSD;
}

/* ---- counters ------------------------------------------------------------ */

/* Times never go back: the newest of 'now' and what was seen. */
static int64_t advance(struct budget_ledger *l, int64_t now)
{
    if (now < l->latest)
        return l->latest;
    l->latest = now;
    return now;
}

/* Move the counter of 'lr' to the window of 'now' when that is newer; the
 * breaker's finished hour goes into the history. */
static void roll(struct budget_ledger *l, struct lrule *lr, int64_t now)
{
    int64_t w = window_of(&lr->r, now);
    if (w <= lr->window)
        return;
    if (lr->r.kind == BUDGET_BREAKER && lr->window != NO_WINDOW)
        hist_add(l, lr->window / HOUR_NS, lr->settled);
    lr->window = w;
    lr->settled = lr->reserved = 0;
}

/* Add spend at time 't' to the counter of 'lr' (rolled to 'now'): to the
 * current window when 't' is in it, else to the breaker's history. */
static void count_spend(struct budget_ledger *l, struct lrule *lr, int64_t t, int64_t nusd)
{
    int64_t w = window_of(&lr->r, t);
    if (w == lr->window)
        lr->settled = sat_add(lr->settled, nusd);
    else if (lr->r.kind == BUDGET_BREAKER && w < lr->window)
        hist_add(l, w / HOUR_NS, nusd);
}

static void gather_scope(const struct ruleset *rs, enum budget_scope scope, const char *subject,
                         struct lrule **out, int *n)
{
    if (!subject || (scope != BUDGET_GLOBAL && !*subject))
        return;
    for (size_t i = lower_bound(rs, scope, subject);
         i < rs->n && rs->v[i].r.scope == scope && strcmp(rs->v[i].r.subject, subject) == 0 &&
         *n < MAX_APPLY;
         i++)
        out[(*n)++] = &rs->v[i];
}

/* The rules that apply to a call of 'project', 'tenant', 'user'. */
static int gather(const struct ruleset *rs, const char *project, const char *tenant,
                  const char *user, struct lrule **out)
{
    int n = 0;
    gather_scope(rs, BUDGET_GLOBAL, "", out, &n);
    gather_scope(rs, BUDGET_PROJECT, project ? project : "default", out, &n);
    gather_scope(rs, BUDGET_TENANT, tenant, out, &n);
    gather_scope(rs, BUDGET_USER, user, out, &n);
    return n;
}

/* ---- refusals -------------------------------------------------------------- */

/* "$0.4990": USD with 4 decimals, rounded half up. */
static void fmt_usd(char *out, size_t n, int64_t nusd)
{
    uint64_t v = nusd < 0 ? 0 : (uint64_t)nusd;
    uint64_t units = v / 100000 + (v % 100000 >= 50000); /* of $0.0001 */
    snprintf(out, n, "$%" PRIu64 ".%04" PRIu64, units / 10000, units % 10000);
}

/* A limit as set: whole cents with 2 decimals ("$0.50"), else 4. */
static void fmt_limit(char *out, size_t n, int64_t nusd)
{
    if (nusd >= 0 && nusd % 10000000 == 0)
        snprintf(out, n, "$%" PRId64 ".%02" PRId64, nusd / 1000000000, nusd / 10000000 % 100);
    else
        fmt_usd(out, n, nusd);
}

static void who(char *out, size_t n, const struct budget_rule *r)
{
    if (r->scope == BUDGET_GLOBAL)
        snprintf(out, n, "all projects together");
    else
        snprintf(out, n, "%s %.64s", budgets_scope_name(r->scope), r->subject);
}

static void spend_refusal(const struct lrule *lr, int64_t est, char *msg, size_t msglen)
{
    char w[96], lim[32], spent[32], res[32], need[32];
    who(w, sizeof(w), &lr->r);
    fmt_limit(lim, sizeof(lim), lr->r.limit_nusd);
    fmt_usd(spent, sizeof(spent), lr->settled);
    fmt_usd(res, sizeof(res), lr->reserved);
    fmt_usd(need, sizeof(need), est);
    if (est < 0)
        snprintf(msg, msglen,
                 "budget exhausted: %s may spend %s per %s; %s spent, %s reserved, nothing is left"
                 " for a call of unknown cost",
                 w, lim, budgets_period_name(lr->r.period), spent, res);
    else
        snprintf(msg, msglen,
                 "budget exhausted: %s may spend %s per %s; %s spent, %s reserved, this call needs"
                 " about %s",
                 w, lim, budgets_period_name(lr->r.period), spent, res, need);
}

static void breaker_refusal(struct budget_ledger *l, const struct lrule *lr, int64_t limit,
                            int64_t est, char *msg, size_t msglen)
{
    char spent[32], res[32], base[32], lim[32], need[32];
    fmt_usd(spent, sizeof(spent), lr->settled);
    fmt_usd(res, sizeof(res), lr->reserved);
    fmt_usd(base, sizeof(base), baseline(l, lr->window / HOUR_NS));
    fmt_usd(lim, sizeof(lim), limit);
    fmt_usd(need, sizeof(need), est < 0 ? 0 : est);
    snprintf(msg, msglen,
             "budget exhausted: the spend breaker is open: %s spent this hour, %s reserved; the"
             " limit is %gx the hourly baseline of %s (never below $1), %s; this call needs"
             " about %s",
             spent, res, lr->r.factor, base, lim, need);
}

/* A per-request cap: LT_OK, or LT_BUDGET_EXHAUSTED with the message. */
static int check_cap(struct lrule *lr, const struct budget_call *c, char *msg, size_t msglen)
{
    const struct budget_rule *r = &lr->r;
    const char *sc = budgets_scope_name(r->scope);
    if (r->max_input_tokens >= 0 && c->input_tokens > r->max_input_tokens) {
        snprintf(msg, msglen,
                 "request refused: about %" PRId64 " input tokens, the %s cap is %" PRId64,
                 c->input_tokens, sc, r->max_input_tokens);
        lr->refused++;
        return LT_BUDGET_EXHAUSTED;
    }
    if (r->max_tool_rounds >= 0 && c->tool_rounds > r->max_tool_rounds) {
        snprintf(msg, msglen, "request refused: %d tool-call rounds, the %s cap is %" PRId64,
                 c->tool_rounds, sc, r->max_tool_rounds);
        lr->refused++;
        return LT_BUDGET_EXHAUSTED;
    }
    return LT_OK;
}

/* Whether 'need' more fits under 'limit' beside 'used'; a call that needs
 * nothing still does not fit a budget already at its limit. */
static int fits(int64_t used, int64_t need, int64_t limit)
{
    if (limit == INT64_MAX)
        return 1;
    return need > 0 ? sat_add(used, need) <= limit : used < limit;
}

/* A spend rule or the breaker, rolled to 'now'. */
static int check_spend(struct budget_ledger *l, struct lrule *lr, const struct budget_call *c,
                       int64_t now, char *msg, size_t msglen)
{
    roll(l, lr, now);
    int64_t need = c->est_nusd > 0 ? c->est_nusd : 0;
    int64_t limit = lr->r.kind == BUDGET_BREAKER ? breaker_limit(l, lr) : lr->r.limit_nusd;
    if (fits(sat_add(lr->settled, lr->reserved), need, limit))
        return LT_OK;
    if (lr->r.kind == BUDGET_BREAKER)
        breaker_refusal(l, lr, limit, c->est_nusd, msg, msglen);
    else
        spend_refusal(lr, c->est_nusd, msg, msglen);
    lr->refused++;
    return LT_BUDGET_EXHAUSTED;
}

/* ---- the door -------------------------------------------------------------- */

int budget_reserve(struct budget_ledger *l, const struct budget_call *c, int64_t now_ns,
                   struct budget_hold *h, char *msg, size_t msglen)
{
    memset(h, 0, sizeof(*h));
    struct lrule *app[MAX_APPLY];
    int rc = LT_OK;
    pthread_mutex_lock(&l->mu);
    int64_t now = advance(l, now_ns);
    int n = gather(&l->rs, c->project, c->tenant, c->user, app);
    static const enum budget_kind order[] = {BUDGET_CAP, BUDGET_SPEND, BUDGET_BREAKER};
    for (size_t pass = 0; pass < sizeof(order) / sizeof(order[0]); pass++) {
        enum budget_kind kind = order[pass];
        for (int i = 0; i < n && rc == LT_OK; i++)
            if (app[i]->r.kind == kind)
                rc = kind == BUDGET_CAP ? check_cap(app[i], c, msg, msglen)
                                        : check_spend(l, app[i], c, now, msg, msglen);
    }
    if (rc == LT_OK) {
        h->nusd = c->est_nusd > 0 ? c->est_nusd : 0;
        h->window_ns = now;
        for (int i = 0; i < n && h->n < BUDGET_HOLD_MAX; i++)
            if (has_counter(&app[i]->r)) {
                app[i]->reserved = sat_add(app[i]->reserved, h->nusd);
                h->counter[h->n++] = (uint64_t)app[i]->r.id;
            }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void budget_settle(struct budget_ledger *l, struct budget_hold *h, int64_t actual_nusd)
{
    if (!l || !h || h->n <= 0) {
        if (h)
            h->n = 0;
        return;
    }
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < h->n && i < BUDGET_HOLD_MAX; i++) {
        struct lrule *lr = by_id(&l->rs, (int64_t)h->counter[i]);
        if (!lr || !has_counter(&lr->r))
            continue;
        if (window_of(&lr->r, h->window_ns) == lr->window)
            lr->reserved -= h->nusd < lr->reserved ? h->nusd : lr->reserved;
        if (actual_nusd > 0)
            count_spend(l, lr, h->window_ns, actual_nusd);
    }
    pthread_mutex_unlock(&l->mu);
    h->n = 0;
    h->nusd = 0;
}

void budget_record_at(struct budget_ledger *l, const char *project, const char *tenant,
                      const char *user, int64_t nusd, int64_t start_ns, int64_t now_ns)
{
    if (!l || nusd <= 0)
        return;
    struct lrule *app[MAX_APPLY];
    pthread_mutex_lock(&l->mu);
    int64_t now = advance(l, now_ns);
    int n = gather(&l->rs, project, tenant, user, app);
    for (int i = 0; i < n; i++)
        if (has_counter(&app[i]->r)) {
            roll(l, app[i], now);
            count_spend(l, app[i], start_ns, nusd);
        }
    pthread_mutex_unlock(&l->mu);
}

void budget_record(struct budget_ledger *l, const char *project, const char *tenant,
                   const char *user, int64_t nusd, int64_t start_ns)
{
    budget_record_at(l, project, tenant, user, nusd, start_ns, time_now_ns());
}

/* ---- usage ------------------------------------------------------------------ */

/* Under the lock: where 'lr' stands at 'now' (rolled). */
static void usage_of(struct budget_ledger *l, struct lrule *lr, int64_t now, struct budget_usage *u)
{
    memset(u, 0, sizeof(*u));
    u->refused = lr->refused;
    u->baseline_nusd = -1;
    if (!has_counter(&lr->r)) {
        u->spent_nusd = u->reserved_nusd = u->limit_nusd = -1;
        return;
    }
    roll(l, lr, now);
    u->window_ns = lr->window;
    u->spent_nusd = lr->settled;
    u->reserved_nusd = lr->reserved;
    u->limit_nusd = lr->r.limit_nusd;
    if (lr->r.kind == BUDGET_BREAKER) {
        int64_t lim = breaker_limit(l, lr);
        u->limit_nusd = lim == INT64_MAX ? -1 : lim;
        u->baseline_nusd = baseline(l, lr->window / HOUR_NS);
    }
}

int budget_ledger_usage(struct budget_ledger *l, int64_t id, int64_t now_ns, struct budget_usage *u)
{
    pthread_mutex_lock(&l->mu);
    struct lrule *lr = by_id(&l->rs, id);
    if (lr)
        usage_of(l, lr, advance(l, now_ns), u);
    pthread_mutex_unlock(&l->mu);
    return lr ? 0 : -1;
}

/* An exact decimal JSON number of USD, or null for a negative amount. */
static int usd_json(struct buf *b, int64_t nusd)
{
    if (nusd < 0)
        return buf_puts(b, "null");
    int64_t whole = nusd / 1000000000, frac = nusd % 1000000000;
    if (!frac)
        return buf_printf(b, "%" PRId64, whole);
    char f[16];
    snprintf(f, sizeof(f), "%09" PRId64, frac);
    for (size_t k = strlen(f); k > 0 && f[k - 1] == '0'; k--)
        f[k - 1] = '\0';
    return buf_printf(b, "%" PRId64 ".%s", whole, f);
}

static int opt_int_json(struct buf *b, const char *key, int64_t v)
{
    return v >= 0 ? buf_printf(b, ",\"%s\":%" PRId64, key, v) : buf_printf(b, ",\"%s\":null", key);
}

static int rule_json(struct buf *b, const struct budget_rule *r, const struct budget_usage *u)
{
    int rc = buf_printf(b, "{\"id\":%" PRId64 ",\"scope\":\"%s\",\"subject\":", r->id,
                        budgets_scope_name(r->scope));
    rc |= buf_json_str(b, r->subject);
    rc |= buf_printf(b, ",\"kind\":\"%s\",\"per\":", budgets_kind_name(r->kind));
    rc |= r->kind == BUDGET_CAP
              ? buf_puts(b, "null")
              : buf_printf(b, "\"%s\"",
                           r->kind == BUDGET_BREAKER ? "hour" : budgets_period_name(r->period));
    rc |= buf_puts(b, ",\"usd\":");
    rc |= usd_json(b, r->kind == BUDGET_SPEND ? r->limit_nusd : -1);
    rc |= opt_int_json(b, "max_input_tokens", r->kind == BUDGET_CAP ? r->max_input_tokens : -1);
    rc |= opt_int_json(b, "max_tool_rounds", r->kind == BUDGET_CAP ? r->max_tool_rounds : -1);
    rc |= r->kind == BUDGET_BREAKER ? buf_printf(b, ",\"factor\":%.15g", r->factor)
                                    : buf_puts(b, ",\"factor\":null");
    rc |= buf_puts(b, ",\"spent_usd\":") || usd_json(b, u->spent_nusd);
    rc |= buf_puts(b, ",\"reserved_usd\":") || usd_json(b, u->reserved_nusd);
    rc |= buf_printf(b, ",\"refused\":%" PRIu64 ",\"window_start\":", u->refused);
    if (has_counter(r)) {
        char iso[40];
        time_format_iso(u->window_ns, iso, sizeof(iso));
        rc |= buf_json_str(b, iso);
    } else {
        rc |= buf_puts(b, "null");
    }
    rc |= buf_puts(b, ",\"limit_usd\":") || usd_json(b, u->limit_nusd);
    rc |= buf_puts(b, ",\"baseline_usd\":") || usd_json(b, u->baseline_nusd);
    return rc | buf_putc(b, '}');
}

int budget_ledger_json(struct budget_ledger *l, int64_t now_ns, struct buf *out)
{
    int rc = buf_puts(out, "{\"budgets\":[");
    pthread_mutex_lock(&l->mu);
    int64_t now = advance(l, now_ns);
    for (size_t i = 0; i < l->rs.n && rc == 0; i++) {
        struct lrule *lr = &l->rs.v[l->rs.by_id[i]];
        struct budget_usage u;
        usage_of(l, lr, now, &u);
        rc = (i ? buf_putc(out, ',') : 0) || rule_json(out, &lr->r, &u);
    }
    pthread_mutex_unlock(&l->mu);
    return rc || buf_puts(out, "]}") ? -1 : 0;
}

/* One rule's three gauges. */
static int rule_metrics(struct buf *b, const struct budget_rule *r, const struct budget_usage *u)
{
    static const char *const names[] = {"limit", "spent", "remaining"};
    int64_t spent = u->spent_nusd + u->reserved_nusd;
    int64_t left = u->limit_nusd > spent ? u->limit_nusd - spent : 0;
    int64_t v[] = {u->limit_nusd, spent, left};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc =
            buf_printf(b, "llmtap_budget_%s_usd{id=\"%" PRId64 "\",scope=\"%s\",subject=", names[i],
                       r->id, budgets_scope_name(r->scope)) ||
            buf_prom_str(b, r->subject) ||
            buf_printf(b, ",per=\"%s\"} %.9f\n",
                       r->kind == BUDGET_BREAKER ? "hour" : budgets_period_name(r->period),
                       (double)v[i] / 1e9);
    }
    return rc;
}

int budget_ledger_metrics(struct budget_ledger *l, int64_t now_ns, struct buf *out)
{
    int rc = buf_puts(out, "# HELP llmtap_budget_remaining_usd What a budget rule has left in its "
                           "current window.\n"
                           "# TYPE llmtap_budget_limit_usd gauge\n"
                           "# TYPE llmtap_budget_spent_usd gauge\n"
                           "# TYPE llmtap_budget_remaining_usd gauge\n");
    pthread_mutex_lock(&l->mu);
    int64_t now = advance(l, now_ns);
    for (size_t i = 0; i < l->rs.n && rc == 0; i++) {
        struct lrule *lr = &l->rs.v[l->rs.by_id[i]];
        if (lr->r.kind == BUDGET_CAP)
            continue;
        struct budget_usage u;
        usage_of(l, lr, now, &u);
        if (u.limit_nusd >= 0)
            rc = rule_metrics(out, &lr->r, &u);
    }
    pthread_mutex_unlock(&l->mu);
    return rc ? -1 : 0;
}

/* ---- loading and seeding ------------------------------------------------------ */

struct id_ix {
    int64_t id;
    size_t i;
};

static int id_ix_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct id_ix *)a)->id, y = ((const struct id_ix *)b)->id;
    return x < y ? -1 : x > y;
}

/* Sort the rules and build the index by id; find the breaker. */
static void index_ruleset(struct ruleset *rs)
{
    qsort(rs->v, rs->n, sizeof(rs->v[0]), rule_cmp);
    struct id_ix *ix = xmalloc((rs->n ? rs->n : 1) * sizeof(*ix));
    rs->by_id = xmalloc((rs->n ? rs->n : 1) * sizeof(*rs->by_id));
    rs->breaker = rs->n;
    for (size_t i = 0; i < rs->n; i++) {
        ix[i] = (struct id_ix){rs->v[i].r.id, i};
        if (rs->v[i].r.kind == BUDGET_BREAKER)
            rs->breaker = i;
    }
    qsort(ix, rs->n, sizeof(ix[0]), id_ix_cmp);
    for (size_t i = 0; i < rs->n; i++)
        rs->by_id[i] = ix[i].i;
    free(ix);
}

struct seed_ctx {
    struct ruleset *rs;
    enum budget_scope scope;
    enum budget_period period;
};

/* A subject's spend in the window: into its rule of that period. */
static void seed_one(void *ctx, const char *subject, int64_t nusd)
{
    struct seed_ctx *c = ctx;
    struct ruleset *rs = c->rs;
    for (size_t i = lower_bound(rs, c->scope, subject);
         i < rs->n && rs->v[i].r.scope == c->scope && strcmp(rs->v[i].r.subject, subject) == 0; i++)
        if (rs->v[i].r.kind == BUDGET_SPEND && rs->v[i].r.period == c->period)
            rs->v[i].settled = nusd;
}

/* Seed the spend rules of one (scope, period): one query for them all, or
 * for the one subject when there is one ('only'). */
static int seed_group(sqlite3 *db, struct ruleset *rs, enum budget_scope scope,
                      enum budget_period period, const struct lrule *only, int64_t now, char *err,
                      size_t errlen)
{
    int64_t from, to;
    budgets_window(period, now, &from, &to);
    struct seed_ctx c = {rs, scope, period};
    if (!only)
        return budgets_spent_each(db, scope, from, to, seed_one, &c, err, errlen);
    int64_t nusd = 0;
    if (budgets_spent(db, scope, only->r.subject, from, to, &nusd, err, errlen) != 0)
        return -1;
    seed_one(&c, only->r.subject, nusd);
    return 0;
}

/* The breaker: the 168 hours before now's into the history, now's into its
 * counter. */
static int seed_breaker(sqlite3 *db, struct ruleset *rs, int64_t now, char *err, size_t errlen)
{
    int64_t hour = window_of(&rs->v[rs->breaker].r, now) / HOUR_NS;
    int64_t spent[HIST_HOURS + 1];
    if (budgets_hourly(db, hour - HIST_HOURS, HIST_HOURS + 1, spent, err, errlen) != 0)
        return -1;
    for (int64_t k = 0; k < HIST_HOURS; k++)
        rs->hist[floor_mod(hour - HIST_HOURS + k, HIST_HOURS)] =
            (struct hist_slot){hour - HIST_HOURS + k, spent[k]};
    rs->v[rs->breaker].settled = spent[HIST_HOURS];
    return 0;
}

/* Every counter of 'rs' for the windows of 'now', from the store. */
static int seed_ruleset(sqlite3 *db, struct ruleset *rs, int64_t now, char *err, size_t errlen)
{
    size_t count[BUDGET_NSCOPES][BUDGET_NPERIODS] = {{0}};
    const struct lrule *last[BUDGET_NSCOPES][BUDGET_NPERIODS] = {{NULL}};
    for (size_t i = 0; i < HIST_HOURS; i++)
        rs->hist[i] = (struct hist_slot){NO_WINDOW, 0};
    for (size_t i = 0; i < rs->n; i++) {
        struct lrule *lr = &rs->v[i];
        lr->window = has_counter(&lr->r) ? window_of(&lr->r, now) : NO_WINDOW;
        if (lr->r.kind == BUDGET_SPEND) {
            count[lr->r.scope][lr->r.period]++;
            last[lr->r.scope][lr->r.period] = lr;
        }
    }
    for (int sc = 0; sc < BUDGET_NSCOPES; sc++)
        for (int p = BUDGET_MINUTE; p < BUDGET_NPERIODS; p++)
            if (count[sc][p] &&
                seed_group(db, rs, (enum budget_scope)sc, (enum budget_period)p,
                           count[sc][p] == 1 ? last[sc][p] : NULL, now, err, errlen) != 0)
                return -1;
    return rs->breaker < rs->n ? seed_breaker(db, rs, now, err, errlen) : 0;
}

/* Read and seed a new ruleset from the store at 'now'. */
static int load_ruleset(const char *db_path, int64_t now, struct ruleset *rs, char *err,
                        size_t errlen)
{
    memset(rs, 0, sizeof(*rs));
    struct store *st = NULL;
    struct budget_rule *rules = NULL;
    size_t n = 0;
    if (store_open(&st, db_path, STORE_READONLY, err, errlen) != STORE_OK)
        return LT_UNAVAILABLE;
    int rc = budgets_list(store_db(st), &rules, &n, err, errlen) == 0 ? LT_OK : LT_INTERNAL;
    if (rc == LT_OK) {
        rs->v = xcalloc(n ? n : 1, sizeof(*rs->v));
        for (size_t i = 0; i < n; i++)
            rs->v[i].r = rules[i]; /* the subject moves */
        rs->n = n;
        free(rules);
        index_ruleset(rs);
        if (seed_ruleset(store_db(st), rs, now, err, errlen) != 0)
            rc = LT_INTERNAL;
    }
    store_close(st);
    if (rc != LT_OK)
        ruleset_release(rs);
    return rc;
}

/* Under the lock: what the old rules know that the store may not yet
 * (refusals always; a counter for the window seeded, or for a newer one
 * when a window ended while the new rules were read). */
static void carry(struct ruleset *nw, const struct ruleset *old)
{
    for (size_t i = 0; i < nw->n; i++) {
        struct lrule *n = &nw->v[i];
        const struct lrule *o = by_id(old, n->r.id);
        if (!o || rule_cmp(o, n) != 0)
            continue;
        n->refused = o->refused;
        if (has_counter(&n->r) && o->window >= n->window) {
            n->window = o->window;
            n->settled = o->settled;
            n->reserved = o->reserved;
        }
    }
}

int budget_ledger_reload(struct budget_ledger *l, int64_t now_ns, char *err, size_t errlen)
{
    struct ruleset nw;
    pthread_mutex_lock(&l->reload_mu);
    pthread_mutex_lock(&l->mu);
    int64_t now = advance(l, now_ns);
    pthread_mutex_unlock(&l->mu);
    int rc = load_ruleset(l->db_path, now, &nw, err, errlen);
    if (rc == LT_OK) {
        pthread_mutex_lock(&l->mu);
        carry(&nw, &l->rs);
        struct ruleset old = l->rs;
        l->rs = nw;
        l->baseline_hour = NO_WINDOW;
        pthread_mutex_unlock(&l->mu);
        ruleset_release(&old);
        log_msg(LOG_DEBUG, "budget", "%zu budget rules in force", nw.n);
    }
    pthread_mutex_unlock(&l->reload_mu);
    return rc;
}

int budget_ledger_new(struct budget_ledger **out, const char *db_path, int64_t now_ns, char *err,
                      size_t errlen)
{
    struct budget_ledger *l = xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->reload_mu, NULL);
    l->db_path = xstrdup(db_path);
    l->latest = now_ns;
    l->baseline_hour = NO_WINDOW;
    *out = NULL;
    int rc = budget_ledger_reload(l, now_ns, err, errlen);
    if (rc != LT_OK) {
        budget_ledger_free(l);
        return rc;
    }
    *out = l;
    return LT_OK;
}

void budget_ledger_free(struct budget_ledger *l)
{
    if (!l)
        return;
    ruleset_release(&l->rs);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->reload_mu);
    free(l->db_path);
    free(l);
}
