/*
 * budgets: budget rules in the database and the spend queries behind the
 * ledger (see budgets.h).
 *
 * A rollup view is its compacted table (*_c) plus a live count of the hot
 * rows; the spend queries add those two parts themselves, so a window of
 * one project reads the rows of that project's key range and a window of
 * everyone walks the projects of the *_c table by a skip scan (one index
 * seek per project) instead of scanning every row the view would.
 */
#include "store/budgets.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define MINUTE_NS 60000000000LL
#define HOUR_NS 3600000000000LL
#define DAY_NS 86400000000000LL

/* ---- names ----------------------------------------------------------- */

static const char *const scope_names[] = {"global", "project", "tenant", "user"};
static const char *const kind_names[] = {"spend", "cap", "breaker"};
static const char *const period_names[] = {"", "minute", "hour", "day", "month"};

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *budgets_scope_name(enum budget_scope s)
{
    return (unsigned)s < BUDGET_NSCOPES ? scope_names[s] : "?";
}

const char *budgets_kind_name(enum budget_kind k)
{
    return (unsigned)k <= BUDGET_BREAKER ? kind_names[k] : "?";
}

const char *budgets_period_name(enum budget_period p)
{
    return (unsigned)p < BUDGET_NPERIODS ? period_names[p] : "?";
}

int budgets_scope_parse(const char *s)
{
    return find_name(scope_names, BUDGET_NSCOPES, s);
}

int budgets_kind_parse(const char *s)
{
    return find_name(kind_names, BUDGET_BREAKER + 1, s);
}

int budgets_period_parse(const char *s)
{
    int p = find_name(period_names, BUDGET_NPERIODS, s);
    return p == BUDGET_PER_NONE ? -1 : p; /* "" is no period a user can name */
}

int budgets_parse_usd(const char *s, int64_t *nusd)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, decimals = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        whole = whole * 10 + (*p - '0');
        if (whole > BUDGETS_MAX_NUSD / 1000000000LL)
            return -1;
    }
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (++decimals > 9)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
    if (*p || digits == 0)
        return -1;
    for (int i = decimals; i < 9; i++)
        frac *= 10;
    int64_t v = whole * 1000000000LL + frac;
    if (v > BUDGETS_MAX_NUSD)
        return -1;
    *nusd = v;
    return 0;
}

/* ---- validation -------------------------------------------------------- */

static int check_subject(const struct budget_rule *r, char *err, size_t errlen)
{
    const char *s = r->subject ? r->subject : "";
    size_t n = strlen(s);
    if (r->scope == BUDGET_GLOBAL && n) {
        snprintf(err, errlen, "a global budget has no subject (got '%.64s')", s);
        return -1;
    }
    if (r->scope != BUDGET_GLOBAL && n == 0) {
        snprintf(err, errlen, "a %s budget needs the %s it applies to", scope_names[r->scope],
                 scope_names[r->scope]);
        return -1;
    }
    if (n > BUDGETS_SUBJECT_MAX) {
        snprintf(err, errlen, "the %s name is longer than %d bytes", scope_names[r->scope],
                 BUDGETS_SUBJECT_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(err, errlen, "the %s name holds a control character", scope_names[r->scope]);
            return -1;
        }
    return 0;
}

static int check_spend(const struct budget_rule *r, char *err, size_t errlen)
{
    if (r->period < BUDGET_MINUTE || r->period > BUDGET_MONTH) {
        snprintf(err, errlen, "a spend budget is per minute, hour, day or month");
        return -1;
    }
    if (r->limit_nusd < 0 || r->limit_nusd > BUDGETS_MAX_NUSD) {
        snprintf(err, errlen, "the amount must be from $0 to $%lld",
                 (long long)(BUDGETS_MAX_NUSD / 1000000000LL));
        return -1;
    }
    return 0;
}

static int check_cap(const struct budget_rule *r, char *err, size_t errlen)
{
    if (r->period != BUDGET_PER_NONE) {
        snprintf(err, errlen, "a per-request cap has no period");
        return -1;
    }
    if (r->max_input_tokens < 0 && r->max_tool_rounds < 0) {
        snprintf(err, errlen, "a per-request cap needs max input tokens or max tool rounds");
        return -1;
    }
    if (r->max_input_tokens == 0 || r->max_input_tokens > BUDGETS_MAX_INPUT_TOKENS ||
        r->max_input_tokens < -1) {
        snprintf(err, errlen, "max input tokens must be from 1 to %lld",
                 (long long)BUDGETS_MAX_INPUT_TOKENS);
        return -1;
    }
    if (r->max_tool_rounds > BUDGETS_MAX_TOOL_ROUNDS || r->max_tool_rounds < -1) {
        snprintf(err, errlen, "max tool rounds must be from 0 to %lld",
                 (long long)BUDGETS_MAX_TOOL_ROUNDS);
        return -1;
    }
    return 0;
}

static int check_breaker(const struct budget_rule *r, char *err, size_t errlen)
{
    if (r->scope != BUDGET_GLOBAL || r->period != BUDGET_HOUR) {
        snprintf(err, errlen, "the breaker is global and hourly");
        return -1;
    }
    if (!(r->factor >= BUDGETS_MIN_FACTOR && r->factor <= BUDGETS_MAX_FACTOR)) {
        snprintf(err, errlen, "the breaker's factor must be from %g to %g", BUDGETS_MIN_FACTOR,
                 BUDGETS_MAX_FACTOR);
        return -1;
    }
    return 0;
}

int budgets_validate(const struct budget_rule *r, char *err, size_t errlen)
{
    if ((unsigned)r->scope >= BUDGET_NSCOPES) {
        snprintf(err, errlen, "the scope must be global, project, tenant or user");
        return -1;
    }
    if (check_subject(r, err, errlen) != 0)
        return -1;
    switch (r->kind) {
    case BUDGET_SPEND:
        return check_spend(r, err, errlen);
    case BUDGET_CAP:
        return check_cap(r, err, errlen);
    case BUDGET_BREAKER:
        return check_breaker(r, err, errlen);
    }
    snprintf(err, errlen, "the kind must be spend, cap or breaker");
    return -1;
}

/* ---- windows ----------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year and month of day 'z' since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void budgets_window(enum budget_period period, int64_t t_ns, int64_t *from, int64_t *to)
{
    int64_t len = period == BUDGET_MINUTE ? MINUTE_NS : period == BUDGET_HOUR ? HOUR_NS : DAY_NS;
    if (period != BUDGET_MONTH) {
        *from = floor_div(t_ns, len) * len;
        *to = *from + len;
        return;
    }
    int64_t y;
    int m;
    civil_from_days(floor_div(t_ns, DAY_NS), &y, &m);
    *from = days_from_civil(y, m, 1) * DAY_NS;
    *to = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * DAY_NS;
}

/* ---- rules ------------------------------------------------------------- */

static void bind_opt_int(sqlite3_stmt *st, int i, int has, int64_t v)
{
    if (has)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int budgets_put(sqlite3 *db, const struct budget_rule *r, int64_t now_ns, int64_t *id, char *err,
                size_t errlen)
{
    if (budgets_validate(r, err, errlen) != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "INSERT INTO budgets(scope, subject, kind, period, limit_nusd, max_input_tokens,"
        " max_tool_rounds, factor, created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (scope, subject, kind, period) DO UPDATE SET"
        " limit_nusd = excluded.limit_nusd,"
        " max_input_tokens = coalesce(excluded.max_input_tokens, max_input_tokens),"
        " max_tool_rounds = coalesce(excluded.max_tool_rounds, max_tool_rounds),"
        " factor = excluded.factor RETURNING id",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, scope_names[r->scope], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->subject ? r->subject : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, kind_names[r->kind], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, period_names[r->period], -1, SQLITE_STATIC);
        bind_opt_int(st, 5, r->kind == BUDGET_SPEND, r->limit_nusd);
        bind_opt_int(st, 6, r->kind == BUDGET_CAP && r->max_input_tokens >= 0, r->max_input_tokens);
        bind_opt_int(st, 7, r->kind == BUDGET_CAP && r->max_tool_rounds >= 0, r->max_tool_rounds);
        if (r->kind == BUDGET_BREAKER)
            sqlite3_bind_double(st, 8, r->factor);
        sqlite3_bind_int64(st, 9, now_ns);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *id = sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_ROW && sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot store the budget: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

int budgets_remove(sqlite3 *db, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int64_t changed = -1;
    if (sqlite3_prepare_v2(db, "DELETE FROM budgets WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_DONE)
            changed = sqlite3_changes64(db);
    }
    if (changed < 0)
        snprintf(err, errlen, "cannot remove budget %lld: %s", (long long)id, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return changed < 0 ? -1 : changed == 0 ? 1 : 0;
}

static int64_t col_int_or(sqlite3_stmt *st, int i, int64_t dflt)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

/* Row 'st' into 'r' (subject copied). 0, or -1 when a name is unknown. */
static int read_rule(sqlite3_stmt *st, struct budget_rule *r)
{
    memset(r, 0, sizeof(*r));
    int scope = budgets_scope_parse((const char *)sqlite3_column_text(st, 1));
    int kind = budgets_kind_parse((const char *)sqlite3_column_text(st, 3));
    int period = find_name(period_names, BUDGET_NPERIODS, (const char *)sqlite3_column_text(st, 4));
    if (scope < 0 || kind < 0 || period < 0)
        return -1;
    r->id = sqlite3_column_int64(st, 0);
    r->scope = (enum budget_scope)scope;
    r->subject =
        xstrdup(sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "");
    r->kind = (enum budget_kind)kind;
    r->period = (enum budget_period)period;
    r->limit_nusd = col_int_or(st, 5, 0);
    r->max_input_tokens = col_int_or(st, 6, -1);
    r->max_tool_rounds = col_int_or(st, 7, -1);
    r->factor = sqlite3_column_type(st, 8) == SQLITE_NULL ? 0 : sqlite3_column_double(st, 8);
    r->created_ns = sqlite3_column_int64(st, 9);
    return 0;
}

int budgets_list(sqlite3 *db, struct budget_rule **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, scope, subject, kind, period, limit_nusd,"
                                " max_input_tokens, max_tool_rounds, factor, created_ns"
                                " FROM budgets ORDER BY id",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        rc = read_rule(st, &(*out)[*n]) == 0 ? SQLITE_OK : SQLITE_CORRUPT;
        *n += rc == SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read the budgets: %s",
                 rc == SQLITE_CORRUPT ? "a rule has an unknown scope, kind or period"
                                      : sqlite3_errmsg(db));
        budgets_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

void budgets_free(struct budget_rule *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        free(r[i].subject);
    free(r);
}

/* ---- spend ------------------------------------------------------------- */

/* The column that names a subject of 'scope' in spans and span_rows. */
static const char *const subject_col[] = {"''", "project", "tenant", "user_id"};

enum source { SRC_SPANS, SRC_HOURLY, SRC_DAILY };

/* The cheapest source that covers [from, to) exactly. */
static enum source pick_source(enum budget_scope scope, int64_t from, int64_t to)
{
    if (from >= to)
        return SRC_SPANS;
    if (floor_div(from, DAY_NS) * DAY_NS == from && floor_div(to, DAY_NS) * DAY_NS == to)
        return SRC_DAILY;
    if (scope <= BUDGET_PROJECT && floor_div(from, HOUR_NS) * HOUR_NS == from &&
        floor_div(to, HOUR_NS) * HOUR_NS == to)
        return SRC_HOURLY;
    return SRC_SPANS;
}

/* The query: ?1 ?2 the ns window, ?3 ?4 the same in buckets, ?5 the
 * subject when 'one'. Rows (subject, nusd). Caller frees. */
static char *spend_sql(enum budget_scope scope, enum source src, int one)
{
    const char *col = subject_col[scope];
    char fh[64] = "";
    if (scope != BUDGET_GLOBAL)
        snprintf(fh, sizeof(fh), " AND %s %s", col, one ? "= ?5" : "IS NOT NULL");
    if (src == SRC_SPANS)
        return xasprintf("SELECT %s, sum(cost_nusd) FROM spans WHERE start_ns >= ?1"
                         " AND start_ns < ?2%s GROUP BY 1",
                         col, fh);
    if (scope == BUDGET_TENANT) /* daily, each project's rows of the day range (a skip scan) */
        return xasprintf("WITH RECURSIVE pj(p) AS (SELECT min(project) FROM rollup_daily_tenant_c"
                         " UNION ALL SELECT (SELECT min(project) FROM rollup_daily_tenant_c"
                         " WHERE project > pj.p) FROM pj WHERE pj.p IS NOT NULL)"
                         " SELECT k, sum(n) FROM ("
                         "SELECT c.tenant AS k, sum(c.cost_nusd) AS n FROM pj"
                         " JOIN rollup_daily_tenant_c c ON c.project = pj.p AND c.day >= ?3"
                         " AND c.day < ?4%s GROUP BY 1"
                         " UNION ALL SELECT tenant AS k, sum(cost_nusd) AS n FROM span_rows"
                         " WHERE start_ns >= ?1 AND start_ns < ?2%s GROUP BY 1) GROUP BY 1",
                         one ? " AND c.tenant = ?5" : "", fh);
    /* the keyed rollups: a range of time buckets, each row's key */
    const char *table = scope == BUDGET_USER ? "rollup_daily_user_k"
                        : src == SRC_HOURLY  ? "rollup_hourly_k"
                                             : "rollup_daily_k";
    const char *keys = scope == BUDGET_USER ? "rollup_users" : "rollup_keys";
    char join[96] = "";
    if (scope != BUDGET_GLOBAL)
        snprintf(join, sizeof(join), " JOIN %s rk ON rk.id = c.key_id", keys);
    const char *bucket = src == SRC_HOURLY ? "hour" : "day";
    return xasprintf("SELECT k, sum(n) FROM ("
                     "SELECT %s%s AS k, sum(c.cost_nusd) AS n FROM %s c%s"
                     " WHERE c.%s >= ?3 AND c.%s < ?4%s%s%s"
                     " GROUP BY 1 UNION ALL SELECT %s AS k, sum(cost_nusd) AS n FROM span_rows"
                     " WHERE start_ns >= ?1 AND start_ns < ?2%s GROUP BY 1) GROUP BY 1",
                     scope == BUDGET_GLOBAL ? "" : "rk.", col, table, join, bucket, bucket,
                     one ? " AND rk." : "", one ? col : "", one ? " = ?5" : "", col, fh);
}

static int spend_query(sqlite3 *db, enum budget_scope scope, const char *subject, int64_t from,
                       int64_t to, budgets_spend_fn fn, void *ctx, char *err, size_t errlen)
{
    if ((unsigned)scope >= BUDGET_NSCOPES) {
        snprintf(err, errlen, "unknown budget scope %d", (int)scope);
        return -1;
    }
    enum source src = pick_source(scope, from, to);
    int one = subject && scope != BUDGET_GLOBAL;
    char *sql = spend_sql(scope, src, one);
    int64_t unit = src == SRC_HOURLY ? HOUR_NS : DAY_NS;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    free(sql);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, to);
        sqlite3_bind_int64(st, 3, floor_div(from, unit));
        sqlite3_bind_int64(st, 4, floor_div(to, unit));
        if (one)
            sqlite3_bind_text(st, 5, subject, -1, SQLITE_STATIC);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (k && sqlite3_column_type(st, 1) != SQLITE_NULL)
            fn(ctx, k, sqlite3_column_int64(st, 1));
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "cannot read the %s spend: %s", scope_names[scope],
                 sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void add_one(void *ctx, const char *subject, int64_t nusd)
{
    (void)subject;
    *(int64_t *)ctx += nusd;
}

int budgets_spent(sqlite3 *db, enum budget_scope scope, const char *subject, int64_t from_ns,
                  int64_t to_ns, int64_t *nusd, char *err, size_t errlen)
{
    *nusd = 0;
    return spend_query(db, scope,
                       scope == BUDGET_GLOBAL ? NULL
                       : subject              ? subject
                                              : "",
                       from_ns, to_ns, add_one, nusd, err, errlen);
}

int budgets_spent_each(sqlite3 *db, enum budget_scope scope, int64_t from_ns, int64_t to_ns,
                       budgets_spend_fn fn, void *ctx, char *err, size_t errlen)
{
    return spend_query(db, scope, NULL, from_ns, to_ns, fn, ctx, err, errlen);
}

int budgets_hourly(sqlite3 *db, int64_t from_hour, size_t nhours, int64_t *nusd, char *err,
                   size_t errlen)
{
    memset(nusd, 0, nhours * sizeof(*nusd));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT hour, sum(cost_nusd) FROM rollup_hourly_k WHERE hour >= ?1 AND hour < ?2"
        " GROUP BY 1"
        " UNION ALL SELECT start_ns / 3600000000000, sum(cost_nusd) FROM span_rows"
        " WHERE start_ns >= ?3 AND start_ns < ?4 GROUP BY 1",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        int64_t to_hour = from_hour + (int64_t)nhours;
        sqlite3_bind_int64(st, 1, from_hour);
        sqlite3_bind_int64(st, 2, to_hour);
        sqlite3_bind_int64(st, 3, from_hour * HOUR_NS);
        sqlite3_bind_int64(st, 4, to_hour * HOUR_NS);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = sqlite3_column_int64(st, 0) - from_hour;
        if (i >= 0 && (size_t)i < nhours)
            nusd[i] += sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "cannot read the hourly spend: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}
