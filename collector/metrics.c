/*
 * metrics: request counters and the store's figures for GET /metrics (see
 * metrics.h).
 */
#include "collector/metrics.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

/* The status codes counted by name; anything else is counted as "other". */
static const int codes[] = {200, 207, 400, 401, 403, 404, 405, 408,
                            411, 413, 415, 422, 429, 500, 503, 504};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

struct metrics {
    uint64_t n[METRICS_ROUTES][NCODES + 1]; /* [route][code index]; NCODES: other */
};

static const char *const route_paths[METRICS_ROUTES] = {"/v1/traces", "/v1/logs",
                                                        "/api/public/otel/v1/traces",
                                                        "/api/v1/spans", "/api/public/ingestion"};

struct metrics *metrics_new(void)
{
    return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
    free(m);
}

const char *metrics_route_path(enum metrics_route r)
{
    return r < METRICS_ROUTES ? route_paths[r] : "?";
}

void metrics_count(struct metrics *m, enum metrics_route r, int status)
{
    if (!m || r >= METRICS_ROUTES)
        return;
    size_t i = 0;
    while (i < NCODES && codes[i] != status)
        i++;
    __atomic_add_fetch(&m->n[r][i], 1, __ATOMIC_RELAXED);
}

int metrics_write_requests(const struct metrics *m, struct buf *out)
{
    int rc = buf_puts(out, "# HELP llmtap_ingest_requests_total Ingest requests answered, by "
                           "route and HTTP status.\n"
                           "# TYPE llmtap_ingest_requests_total counter\n");
    uint64_t errors[METRICS_ROUTES] = {0};
    for (int r = 0; r < METRICS_ROUTES && rc == 0; r++)
        for (size_t i = 0; i <= NCODES && rc == 0; i++) {
            uint64_t v = __atomic_load_n(&m->n[r][i], __ATOMIC_RELAXED);
            if (!v)
                continue;
            if (i == NCODES || codes[i] >= 400)
                errors[r] += v;
            char code[8];
            snprintf(code, sizeof(code), i < NCODES ? "%d" : "other", i < NCODES ? codes[i] : 0);
            rc = buf_printf(out,
                            "llmtap_ingest_requests_total{route=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                            route_paths[r], code, v);
        }
    rc = rc || buf_puts(out, "# HELP llmtap_ingest_errors_total Ingest requests answered 4xx or "
                             "5xx, by route.\n"
                             "# TYPE llmtap_ingest_errors_total counter\n");
    for (int r = 0; r < METRICS_ROUTES && rc == 0; r++)
        rc = buf_printf(out, "llmtap_ingest_errors_total{route=\"%s\"} %" PRIu64 "\n",
                        route_paths[r], errors[r]);
    return rc ? -1 : 0;
}

int metrics_write_commits(const struct writer_stats *ws, struct buf *out)
{
    int rc = buf_puts(out, "# HELP llmtap_commit_duration_seconds Wall time of the writer's "
                           "transactions.\n"
                           "# TYPE llmtap_commit_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b <= WRITER_COMMIT_BUCKETS && rc == 0; b++) {
        cum += ws->commit_hist[b];
        char le[32];
        if (b < WRITER_COMMIT_BUCKETS)
            snprintf(le, sizeof(le), "%g", writer_commit_bounds[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        rc = buf_printf(out, "llmtap_commit_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", le,
                        cum);
    }
    rc = rc || buf_printf(out,
                          "llmtap_commit_duration_seconds_sum %.9f\n"
                          "llmtap_commit_duration_seconds_count %" PRIu64 "\n",
                          (double)ws->commit_ns_sum / 1e9, cum);
    return rc ? -1 : 0;
}

/* ---- read from the store ---------------------------------------------------------- */

static int sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "metrics: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* The (project, model) series: spend, input and output tokens, calls. */
static int write_usage(sqlite3 *db, struct buf *out, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT project, model, total(cost_nusd), total(input_tokens), total(output_tokens),"
        " total(calls) FROM rollup_daily GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT ?";
    static const char *const heads[] = {
        "# HELP llmtap_spend_usd_total Spend stored, by project and model.\n"
        "# TYPE llmtap_spend_usd_total counter\n",
        "# HELP llmtap_tokens_total Tokens stored, by project, model and type.\n"
        "# TYPE llmtap_tokens_total counter\n",
        "# HELP llmtap_calls_total Spans stored, by project and model.\n"
        "# TYPE llmtap_calls_total counter\n"};
    struct buf part[3];
    for (int i = 0; i < 3; i++)
        buf_init(&part[i], 0);
    sqlite3_stmt *st = NULL;
    int rc = 0, step;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, "usage", err, errlen);
    sqlite3_bind_int(st, 1, METRICS_MAX_SERIES);
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct buf lab;
        buf_init(&lab, 0);
        rc = buf_puts(&lab, "project=") ||
             buf_prom_str(&lab, (const char *)sqlite3_column_text(st, 0)) ||
             buf_puts(&lab, ",model=") ||
             buf_prom_str(&lab, (const char *)sqlite3_column_text(st, 1));
        const char *l = buf_str(&lab);
        rc = rc ||
             buf_printf(&part[0], "llmtap_spend_usd_total{%s} %.9f\n", l,
                        sqlite3_column_double(st, 2) / 1e9) ||
             buf_printf(&part[1], "llmtap_tokens_total{%s,type=\"input\"} %.0f\n", l,
                        sqlite3_column_double(st, 3)) ||
             buf_printf(&part[1], "llmtap_tokens_total{%s,type=\"output\"} %.0f\n", l,
                        sqlite3_column_double(st, 4)) ||
             buf_printf(&part[2], "llmtap_calls_total{%s} %.0f\n", l, sqlite3_column_double(st, 5));
        buf_release(&lab);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sql_fail(db, "usage", err, errlen);
    else if (rc)
        snprintf(err, errlen, "metrics: out of memory");
    sqlite3_finalize(st);
    for (int i = 0; i < 3; i++) {
        rc = rc || buf_puts(out, heads[i]) || buf_append(out, part[i].data, part[i].len);
        buf_release(&part[i]);
    }
    return rc ? -1 : 0;
}

static int write_spans(sqlite3 *db, struct buf *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT total(calls) FROM rollup_daily", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sql_fail(db, "spans", err, errlen);
    }
    int rc = buf_printf(out,
                        "# HELP llmtap_spans_stored Spans in the store.\n"
                        "# TYPE llmtap_spans_stored gauge\nllmtap_spans_stored %.0f\n",
                        sqlite3_column_double(st, 0));
    sqlite3_finalize(st);
    return rc ? -1 : 0;
}

/* One line per rule and state: 1 for the state it is in, 0 for the rest. */
static int write_alerts(sqlite3 *db, struct buf *out, char *err, size_t errlen)
{
    static const char *const states[] = {"OK", "FIRING", "NO_DATA", "RESOLVED"};
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, state FROM alert_rules ORDER BY name LIMIT ?", -1, &st,
                           NULL) != SQLITE_OK)
        return sql_fail(db, "alerts", err, errlen);
    sqlite3_bind_int(st, 1, METRICS_MAX_SERIES);
    int rc = buf_puts(out, "# HELP llmtap_alert_state 1 for the state each alert rule is in.\n"
                           "# TYPE llmtap_alert_state gauge\n");
    int step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]) && rc == 0; i++)
            rc = buf_puts(out, "llmtap_alert_state{rule=") ||
                 buf_prom_str(out, (const char *)sqlite3_column_text(st, 0)) ||
                 buf_printf(out, ",state=\"%s\"} %d\n", states[i],
                            state && strcmp(state, states[i]) == 0);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sql_fail(db, "alerts", err, errlen);
    else if (rc)
        snprintf(err, errlen, "metrics: out of memory");
    sqlite3_finalize(st);
    return rc ? -1 : 0;
}

int metrics_write_store(sqlite3 *ro, struct buf *out, char *err, size_t errlen)
{
    if (write_spans(ro, out, err, errlen) != 0 || write_usage(ro, out, err, errlen) != 0 ||
        write_alerts(ro, out, err, errlen) != 0)
        return -1;
    return 0;
}
