/*
 * alerts_window: the sums of one rule's window (see alerts.h, "Window
 * sums"). A window [from, to) splits at hour boundaries into
 *   [from, b)  the partial hour before the first whole one: `spans`
 *   [b, c)     whole hours: rollup_hourly_k (compacted) + span_rows (hot)
 *   [c, to)    the partial hour after the last whole one: `spans`
 * (no whole hour: b = c = to). The compacted and hot parts are disjoint,
 * so every span is counted once. The p95 merges the hourly histograms
 * with the histogram of the edge spans' latencies (llmtap_hist*).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/alerts.h"

#define HOUR_NS 3600000000000LL

/* What a span of 'scope' is matched on, in span_rows / spans (?7 the subject). */
static const char *span_filter(enum alerts_scope scope)
{
    switch (scope) {
    case ALERTS_PROJECT:
        return " AND project = ?7";
    case ALERTS_TENANT:
        return " AND tenant = ?7";
    case ALERTS_USER:
        return " AND user_id = ?7";
    case ALERTS_MODEL:
        return " AND coalesce(model, response_model, '') = ?7";
    case ALERTS_VERSION_SET:
        return " AND coalesce(version_set, '') = ?7";
    default:
        return "";
    }
}

/* The same on a rollup_hourly_k row's key 'k'. */
static const char *rollup_filter(enum alerts_scope scope)
{
    return scope == ALERTS_PROJECT       ? " AND k.project = ?7"
           : scope == ALERTS_MODEL       ? " AND k.model = ?7"
           : scope == ALERTS_VERSION_SET ? " AND k.version_set = ?7"
                                         : "";
}

#define SPAN_SUMS                                                                                  \
    "count(*), total(status = 'error'), total(max(input_tokens, 0)) +"                             \
    " total(max(output_tokens, 0)), total(cost_nusd), llmtap_hist((end_ns - start_ns) / 1e6)"

/* The query: ?1 from, ?2 to, ?3 ?4 the whole hours, ?5 ?6 their ns range,
 * ?7 the subject. One row (calls, errors, tokens, nusd, p95). Caller frees. */
static char *window_sql(enum alerts_scope scope)
{
    const char *f = span_filter(scope);
    char *edges = xasprintf(
        "SELECT " SPAN_SUMS " FROM spans WHERE start_ns >= ?1 AND start_ns < ?5%s"
        " UNION ALL SELECT " SPAN_SUMS " FROM spans WHERE start_ns >= ?6 AND start_ns < ?2%s",
        f, f);
    char *sql;
    if (scope == ALERTS_TENANT || scope == ALERTS_USER) {
        sql = xasprintf("WITH parts(calls, errors, tokens, nusd, h) AS (%s)"
                        " SELECT total(calls), total(errors), total(tokens), total(nusd),"
                        " llmtap_hist_quantile(llmtap_hist_sum(h), 0.95) FROM parts",
                        edges);
    } else {
        sql =
            xasprintf("WITH parts(calls, errors, tokens, nusd, h) AS ("
                      "SELECT total(c.calls), total(c.errors), total(c.input_tokens) +"
                      " total(c.output_tokens), total(c.cost_nusd), llmtap_hist_sum(c.latency_hist)"
                      " FROM rollup_hourly_k c JOIN rollup_keys k ON k.id = c.key_id"
                      " WHERE c.hour >= ?3 AND c.hour < ?4%s"
                      " UNION ALL SELECT " SPAN_SUMS " FROM span_rows WHERE start_ns >= ?5"
                      " AND start_ns < ?6%s UNION ALL %s)"
                      " SELECT total(calls), total(errors), total(tokens), total(nusd),"
                      " llmtap_hist_quantile(llmtap_hist_sum(h), 0.95) FROM parts",
                      rollup_filter(scope), f, edges);
    }
    free(edges);
    return sql;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a > 0) ? q + 1 : q;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int alerts_window(sqlite3 *db, enum alerts_scope scope, const char *subject, int64_t from_ns,
                  int64_t to_ns, struct alerts_sums *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->p95_ms = NAN;
    if ((unsigned)scope >= ALERTS_NSCOPES || from_ns >= to_ns) {
        snprintf(err, errlen, "no such window or scope");
        return -1;
    }
    int64_t h0 = ceil_div(from_ns, HOUR_NS), h1 = floor_div(to_ns, HOUR_NS);
    int64_t b = h0 * HOUR_NS, c = h1 * HOUR_NS;
    if (h1 <= h0 || scope == ALERTS_TENANT || scope == ALERTS_USER) {
        h0 = h1 = 0;
        b = c = to_ns;
    }
    char *sql = window_sql(scope);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    free(sql);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(st, 1, from_ns) | sqlite3_bind_int64(st, 2, to_ns) |
             sqlite3_bind_int64(st, 3, h0) | sqlite3_bind_int64(st, 4, h1) |
             sqlite3_bind_int64(st, 5, b) | sqlite3_bind_int64(st, 6, c);
        if (scope != ALERTS_GLOBAL)
            rc |= sqlite3_bind_text(st, 7, subject ? subject : "", -1, SQLITE_TRANSIENT);
    }
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->calls = (int64_t)sqlite3_column_double(st, 0);
        out->errors = (int64_t)sqlite3_column_double(st, 1);
        out->tokens = (int64_t)sqlite3_column_double(st, 2);
        out->cost_nusd = (int64_t)sqlite3_column_double(st, 3);
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            out->p95_ms = sqlite3_column_double(st, 4);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot read the alert window: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

double alerts_metric_value(enum alerts_metric metric, const struct alerts_sums *s)
{
    switch (metric) {
    case ALERTS_SPEND:
        return (double)s->cost_nusd / 1e9;
    case ALERTS_TOKENS:
        return (double)s->tokens;
    case ALERTS_CALLS:
        return (double)s->calls;
    case ALERTS_ERROR_RATE:
        return s->calls ? (double)s->errors / (double)s->calls : NAN;
    case ALERTS_P95_LATENCY:
        return s->calls ? s->p95_ms : NAN;
    default:
        return NAN;
    }
}
