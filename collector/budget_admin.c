/*
 * budget_admin: the loopback admin API behind `llmtap budget` (see
 * budget_admin in budget.h). Bodies are validated whole before anything is
 * written; a write goes through the one writer and the ledger reloads
 * before the answer, so the rule is in force when the caller hears "ok".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/budget.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "store/budgets.h"

static const char *const set_members[] = {"op",    "scope", "subject",          "kind",
                                          "per",   "usd",   "max_input_tokens", "max_tool_rounds",
                                          "factor"};

static int check_members(const cJSON *j, char *err, size_t errlen)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        size_t k = 0;
        while (k < sizeof(set_members) / sizeof(set_members[0]) &&
               strcmp(it->string, set_members[k]) != 0)
            k++;
        if (k == sizeof(set_members) / sizeof(set_members[0])) {
            snprintf(err, errlen,
                     "unknown member \"%.64s\" (a rule has scope, subject and per + usd, "
                     "max_input_tokens / max_tool_rounds, or factor)",
                     it->string);
            return -1;
        }
    }
    return 0;
}

/* "usd": a number or a decimal string, into nano-USD. */
static int parse_usd(const cJSON *v, int64_t *nusd, char *err, size_t errlen)
{
    int ok = 0;
    if (cJSON_IsString(v))
        ok = budgets_parse_usd(v->valuestring, nusd) == 0;
    else if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0 &&
             v->valuedouble <= (double)BUDGETS_MAX_NUSD / 1e9) {
        *nusd = (int64_t)llround(v->valuedouble * 1e9);
        ok = 1;
    }
    if (!ok)
        snprintf(err, errlen, "usd must be an amount from 0 to %lld (at most 9 decimals)",
                 (long long)(BUDGETS_MAX_NUSD / 1000000000LL));
    return ok ? 0 : -1;
}

/* An optional integer member into *out (-1 when absent or null). */
static int opt_int(const cJSON *j, const char *key, int64_t *out, char *err, size_t errlen)
{
    *out = -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (jsonx_int64(v, out) != 0 || *out < 0) {
        snprintf(err, errlen, "%s must be a whole number, 0 or more", key);
        return -1;
    }
    return 0;
}

/* Which kind the members say: spend (per, usd), cap, breaker (factor). */
static int infer_kind(const cJSON *j, char *err, size_t errlen)
{
    int spend =
        cJSON_GetObjectItemCaseSensitive(j, "per") || cJSON_GetObjectItemCaseSensitive(j, "usd");
    int cap = cJSON_GetObjectItemCaseSensitive(j, "max_input_tokens") ||
              cJSON_GetObjectItemCaseSensitive(j, "max_tool_rounds");
    int breaker = cJSON_GetObjectItemCaseSensitive(j, "factor") != NULL;
    int kind = spend + cap + breaker != 1 ? -1
               : spend                    ? BUDGET_SPEND
               : cap                      ? BUDGET_CAP
                                          : BUDGET_BREAKER;
    const char *named = jsonx_str(j, "kind");
    if (kind >= 0 && named && budgets_kind_parse(named) != kind)
        kind = -1;
    if (kind < 0)
        snprintf(err, errlen,
                 "a rule is one of: per + usd (spend), max_input_tokens and/or"
                 " max_tool_rounds (a per-request cap), factor (the breaker)");
    return kind;
}

static int parse_scope(const cJSON *j, struct budget_rule *r, char *err, size_t errlen)
{
    const char *scope = jsonx_str(j, "scope");
    int sc = budgets_scope_parse(scope);
    if (sc < 0) {
        snprintf(err, errlen, "scope must be global, project, tenant or user (got %s%.64s%s)",
                 scope ? "'" : "", scope ? scope : "none", scope ? "'" : "");
        return -1;
    }
    r->scope = (enum budget_scope)sc;
    const cJSON *subject = cJSON_GetObjectItemCaseSensitive(j, "subject");
    if (subject && !cJSON_IsNull(subject) && !cJSON_IsString(subject)) {
        snprintf(err, errlen, "subject must be a string");
        return -1;
    }
    static char none[] = "";
    r->subject = cJSON_IsString(subject) ? subject->valuestring : none;
    return 0;
}

/* The rule a "set" body describes; r->subject borrowed from 'j'. */
static int parse_set(const cJSON *j, struct budget_rule *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->max_input_tokens = r->max_tool_rounds = -1;
    if (check_members(j, err, errlen) != 0 || parse_scope(j, r, err, errlen) != 0)
        return -1;
    int kind = infer_kind(j, err, errlen);
    if (kind < 0)
        return -1;
    r->kind = (enum budget_kind)kind;
    if (r->kind == BUDGET_SPEND) {
        const char *per = jsonx_str(j, "per");
        int p = budgets_period_parse(per);
        if (p < 0) {
            snprintf(err, errlen, "per must be minute, hour, day or month (got %s%.32s%s)",
                     per ? "'" : "", per ? per : "none", per ? "'" : "");
            return -1;
        }
        r->period = (enum budget_period)p;
        const cJSON *usd = cJSON_GetObjectItemCaseSensitive(j, "usd");
        if (!usd) {
            snprintf(err, errlen, "a spend budget needs usd, the amount per %s", per);
            return -1;
        }
        if (parse_usd(usd, &r->limit_nusd, err, errlen) != 0)
            return -1;
    } else if (r->kind == BUDGET_CAP) {
        if (opt_int(j, "max_input_tokens", &r->max_input_tokens, err, errlen) != 0 ||
            opt_int(j, "max_tool_rounds", &r->max_tool_rounds, err, errlen) != 0)
            return -1;
    } else {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "factor");
        r->period = BUDGET_HOUR;
        r->factor = cJSON_IsNumber(f) ? f->valuedouble : -1;
    }
    return budgets_validate(r, err, errlen);
}

struct put_ctx {
    const struct budget_rule *r;
    int64_t now, id;
};

static int put_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct put_ctx *p = ctx;
    return budgets_put(db, p->r, p->now, &p->id, err, errlen);
}

struct rm_ctx {
    int64_t id;
    int found;
};

static int rm_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct rm_ctx *c = ctx;
    int rc = budgets_remove(db, c->id, err, errlen);
    c->found = rc == 0;
    return rc < 0 ? -1 : 0;
}

/* After a write: reload, answer {"status":"ok","id":N}. */
static int written(struct budget_ledger *l, int64_t id, struct buf *out, char *err, size_t errlen)
{
    char why[400];
    if (budget_ledger_reload(l, time_now_ns(), why, sizeof(why)) != LT_OK) {
        snprintf(err, errlen, "budget %lld was written but is not in force yet: %s", (long long)id,
                 why);
        return LT_UNAVAILABLE;
    }
    if (buf_printf(out, "{\"status\":\"ok\",\"id\":%lld}", (long long)id) != BUF_OK) {
        snprintf(err, errlen, "the answer does not fit");
        return LT_INTERNAL;
    }
    return LT_OK;
}

static int admin_set(struct budget_ledger *l, struct writer *w, const cJSON *j, struct buf *out,
                     char *err, size_t errlen)
{
    struct budget_rule r;
    if (parse_set(j, &r, err, errlen) != 0)
        return LT_INVALID_INPUT;
    struct put_ctx p = {&r, time_now_ns(), 0};
    int rc = writer_run(w, put_fn, &p, err, errlen);
    return rc != LT_OK ? rc : written(l, p.id, out, err, errlen);
}

static int admin_rm(struct budget_ledger *l, struct writer *w, const cJSON *j, struct buf *out,
                    char *err, size_t errlen)
{
    struct rm_ctx c = {0, 0};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (!id || jsonx_int64(id, &c.id) != 0 || c.id < 1) {
        snprintf(err, errlen, "rm needs id, the number `llmtap budget list` shows");
        return LT_INVALID_INPUT;
    }
    int rc = writer_run(w, rm_fn, &c, err, errlen);
    if (rc != LT_OK)
        return rc;
    if (!c.found) {
        snprintf(err, errlen, "no budget rule %lld", (long long)c.id);
        return LT_NOT_FOUND;
    }
    return written(l, c.id, out, err, errlen);
}

int budget_admin(struct budget_ledger *l, struct writer *w, const char *method, const char *body,
                 size_t len, struct buf *out, char *err, size_t errlen)
{
    if (strcmp(method, "GET") == 0) {
        if (budget_ledger_json(l, time_now_ns(), out) == 0)
            return LT_OK;
        snprintf(err, errlen, "the list of budgets does not fit the answer");
        return LT_INTERNAL;
    }
    if (strcmp(method, "POST") != 0) {
        snprintf(err, errlen, "use GET or POST");
        return LT_INVALID_INPUT;
    }
    if (!w) {
        snprintf(err, errlen, "budgets cannot be changed without the store's writer");
        return LT_UNAVAILABLE;
    }
    cJSON *j = jsonx_parse(body ? body : "", len, err, errlen);
    if (!j)
        return LT_INVALID_INPUT;
    int rc = LT_INVALID_INPUT;
    const char *op = cJSON_IsObject(j) ? jsonx_str(j, "op") : NULL;
    if (!cJSON_IsObject(j))
        snprintf(err, errlen, "the body must be a JSON object");
    else if (op && strcmp(op, "set") == 0)
        rc = admin_set(l, w, j, out, err, errlen);
    else if (op && strcmp(op, "rm") == 0)
        rc = admin_rm(l, w, j, out, err, errlen);
    else
        snprintf(err, errlen, "op must be \"set\" or \"rm\"");
    cJSON_Delete(j);
    return rc;
}
