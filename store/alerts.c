/*
 * alerts: rules, transitions and delivery attempts in the store (see
 * alerts.h). Every statement is prepared with its values bound; a write
 * runs inside a savepoint of the caller's transaction, so an operation is
 * stored whole or not at all.
 *
 * A delivery is a chain of attempt rows: the first is due when its event
 * is recorded; recording an attempt's result fills its row and, when it
 * is to be retried, adds the next row due later. So the table is both the
 * queue (time_ns IS NULL) and the history of every attempt.
 */
#include "store/alerts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/sqlx.h"

/* ---- names -------------------------------------------------------------------- */

/* What a failed savepoint reports before SQLite's reason. */
#define NOT_STORED "cannot store the alert change"

static const char *const metric_names[] = {"spend", "tokens", "calls", "error_rate", "p95_latency"};
static const char *const scope_names[] = {"global", "project", "tenant",
                                          "user",   "model",   "version_set"};
static const char *const mode_names[] = {"above", "anomaly"};
static const char *const state_names[] = {"OK", "FIRING", "NO_DATA", "RESOLVED"};

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *alerts_metric_name(enum alerts_metric m)
{
    return (unsigned)m < ALERTS_NMETRICS ? metric_names[m] : "?";
}

const char *alerts_scope_name(enum alerts_scope s)
{
    return (unsigned)s < ALERTS_NSCOPES ? scope_names[s] : "?";
}

const char *alerts_mode_name(enum alerts_mode m)
{
    return (unsigned)m < ALERTS_NMODES ? mode_names[m] : "?";
}

const char *alerts_state_name(enum alerts_state s)
{
    return (unsigned)s < ALERTS_NSTATES ? state_names[s] : "?";
}

int alerts_metric_parse(const char *s)
{
    return find_name(metric_names, ALERTS_NMETRICS, s);
}

int alerts_scope_parse(const char *s)
{
    return find_name(scope_names, ALERTS_NSCOPES, s);
}

int alerts_mode_parse(const char *s)
{
    return find_name(mode_names, ALERTS_NMODES, s);
}

int alerts_state_parse(const char *s)
{
    return find_name(state_names, ALERTS_NSTATES, s);
}

/* ---- validation ----------------------------------------------------------------- */

int alerts_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > ALERTS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int alerts_check_url(const char *url, char *err, size_t errlen)
{
    size_t n = url ? strlen(url) : 0, skip = 0;
    if (n > 7 && strncmp(url, "http://", 7) == 0)
        skip = 7;
    else if (n > 8 && strncmp(url, "https://", 8) == 0)
        skip = 8;
    if (!skip || n > ALERTS_URL_MAX) {
        snprintf(err, errlen, "the webhook must be an http:// or https:// URL of at most %d bytes",
                 ALERTS_URL_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
            snprintf(err, errlen, "the webhook URL holds a space or a control character");
            return -1;
        }
    if (url[skip] == '/' || url[skip] == ':' || url[skip] == '?' || url[skip] == '#' ||
        url[skip] == '@') {
        snprintf(err, errlen, "the webhook URL has no host");
        return -1;
    }
    return 0;
}

static int check_subject(const struct alerts_rule *r, char *err, size_t errlen)
{
    const char *s = r->subject ? r->subject : "";
    size_t n = strlen(s);
    if (r->scope == ALERTS_GLOBAL && n) {
        snprintf(err, errlen, "a global rule has no subject (got '%.64s')", s);
        return -1;
    }
    if (r->scope != ALERTS_GLOBAL && n == 0) {
        snprintf(err, errlen, "a %s rule needs the %s it watches", scope_names[r->scope],
                 scope_names[r->scope]);
        return -1;
    }
    if (n > ALERTS_SUBJECT_MAX) {
        snprintf(err, errlen, "the subject is longer than %d bytes", ALERTS_SUBJECT_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(err, errlen, "the subject holds a control character");
            return -1;
        }
    return 0;
}

static int check_threshold(const struct alerts_rule *r, char *err, size_t errlen)
{
    if (r->mode == ALERTS_ANOMALY) {
        if (!(r->threshold >= 1.0 && r->threshold <= ALERTS_MAX_FACTOR)) {
            snprintf(err, errlen, "the anomaly factor must be from 1 to %g", ALERTS_MAX_FACTOR);
            return -1;
        }
        return 0;
    }
    if (!isfinite(r->threshold) || r->threshold < 0) {
        snprintf(err, errlen, "the threshold must be a number >= 0");
        return -1;
    }
    if (r->metric == ALERTS_ERROR_RATE && r->threshold > 1) {
        snprintf(err, errlen, "an error rate threshold is a share from 0 to 1 (or 0%% to 100%%)");
        return -1;
    }
    return 0;
}

int alerts_validate(const struct alerts_rule *r, char *err, size_t errlen)
{
    if (!alerts_valid_name(r->name)) {
        snprintf(err, errlen, "a rule's name is 1 to %d of A-Z a-z 0-9 . _ -", ALERTS_NAME_MAX);
        return -1;
    }
    if ((unsigned)r->metric >= ALERTS_NMETRICS || (unsigned)r->scope >= ALERTS_NSCOPES ||
        (unsigned)r->mode >= ALERTS_NMODES) {
        snprintf(err, errlen, "unknown metric, scope or mode");
        return -1;
    }
    if (check_subject(r, err, errlen) != 0 || check_threshold(r, err, errlen) != 0)
        return -1;
    if (r->window_s < ALERTS_MIN_WINDOW_S || r->window_s > ALERTS_MAX_WINDOW_S) {
        snprintf(err, errlen, "the window must be from %ds to 7d (5m, 1h and 1d are usual)",
                 ALERTS_MIN_WINDOW_S);
        return -1;
    }
    if (r->mode == ALERTS_ANOMALY && r->metric != ALERTS_SPEND && r->metric != ALERTS_TOKENS &&
        r->metric != ALERTS_CALLS) {
        snprintf(err, errlen, "anomaly rules watch spend, tokens or calls");
        return -1;
    }
    return r->webhook ? alerts_check_url(r->webhook, err, errlen) : 0;
}

/* ---- statement helpers ------------------------------------------------------------ */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 1;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* ---- rules ----------------------------------------------------------------------- */

void alerts_rule_release(struct alerts_rule *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->subject);
    free(r->webhook);
    free(r->firing_key);
    memset(r, 0, sizeof(*r));
}

#define RULE_COLS                                                                                  \
    "name, metric, scope, subject, window_s, mode, threshold, webhook, created_ns, state,"         \
    " state_since_ns, last_eval_ns, last_value, last_baseline, firing_key"

static int read_rule(sqlite3_stmt *st, struct alerts_rule *r)
{
    memset(r, 0, sizeof(*r));
    int metric = alerts_metric_parse(col_text(st, 1)), scope = alerts_scope_parse(col_text(st, 2));
    int mode = alerts_mode_parse(col_text(st, 5)), state = alerts_state_parse(col_text(st, 9));
    if (metric < 0 || scope < 0 || mode < 0 || state < 0)
        return -1;
    r->name = sqlx_col_dup(st, 0);
    r->metric = (enum alerts_metric)metric;
    r->scope = (enum alerts_scope)scope;
    r->subject = sqlx_col_dup(st, 3);
    r->window_s = sqlite3_column_int64(st, 4);
    r->mode = (enum alerts_mode)mode;
    r->threshold = sqlite3_column_double(st, 6);
    r->webhook = sqlx_col_dup(st, 7);
    r->created_ns = sqlite3_column_int64(st, 8);
    r->state = (enum alerts_state)state;
    r->state_since_ns = sqlite3_column_int64(st, 10);
    r->last_eval_ns = sqlite3_column_int64(st, 11);
    r->last_value = sqlx_col_real(st, 12);
    r->last_baseline = sqlx_col_real(st, 13);
    r->firing_key = sqlx_col_dup(st, 14);
    if (!r->subject)
        r->subject = xstrdup("");
    return 0;
}

int alerts_rules(sqlite3 *db, struct alerts_rule **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = sqlx_prep(db, "SELECT " RULE_COLS " FROM alert_rules ORDER BY name", &st) == 0
                 ? SQLITE_OK
                 : SQLITE_ERROR;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        rc = read_rule(st, &(*out)[*n]) == 0 ? SQLITE_OK : SQLITE_CORRUPT;
        *n += rc == SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    snprintf(err, errlen, "cannot read the alert rules: %s",
             rc == SQLITE_CORRUPT ? "a rule has an unknown metric, scope, mode or state"
                                  : sqlite3_errmsg(db));
    alerts_rules_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

void alerts_rules_free(struct alerts_rule *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        alerts_rule_release(&r[i]);
    free(r);
}

int alerts_get(sqlite3 *db, const char *name, struct alerts_rule *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    if (sqlx_prep(db, "SELECT " RULE_COLS " FROM alert_rules WHERE name = ?1", &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, name) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    int found = rc == SQLITE_ROW ? (read_rule(st, out) == 0 ? 1 : -1) : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return found;
}

/* ---- operations --------------------------------------------------------------------- */

/* The rule of an "add" operation, its strings borrowed from the JSON. */
static int parse_rule(const cJSON *j, struct alerts_rule *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (!cJSON_IsObject(j))
        return bad(err, errlen, "add: want \"rule\": an object");
    int metric = alerts_metric_parse(jsonx_str(j, "metric"));
    int scope = alerts_scope_parse(jsonx_str(j, "scope") ? jsonx_str(j, "scope") : "global");
    int mode = alerts_mode_parse(jsonx_str(j, "mode"));
    if (metric < 0)
        return bad(err, errlen, "add: metric is spend, tokens, calls, error_rate or p95_latency");
    if (scope < 0)
        return bad(err, errlen,
                   "add: scope is global, project, tenant, user, model or version_set");
    if (mode < 0)
        return bad(err, errlen, "add: mode is above or anomaly");
    r->name = (char *)jsonx_str(j, "name");
    r->metric = (enum alerts_metric)metric;
    r->scope = (enum alerts_scope)scope;
    r->mode = (enum alerts_mode)mode;
    r->subject = (char *)(jsonx_str(j, "subject") ? jsonx_str(j, "subject") : "");
    r->webhook = (char *)jsonx_str(j, "webhook");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "window_s");
    const cJSON *t =
        cJSON_GetObjectItemCaseSensitive(j, r->mode == ALERTS_ANOMALY ? "factor" : "threshold");
    if (!cJSON_IsNumber(w) || w->valuedouble != floor(w->valuedouble))
        return bad(err, errlen, "add: window_s is a whole number of seconds");
    r->window_s = (int64_t)w->valuedouble;
    if (cJSON_IsNumber(t))
        r->threshold = t->valuedouble;
    else if (r->mode == ALERTS_ANOMALY && !t)
        r->threshold = ALERTS_DEFAULT_FACTOR;
    else
        return bad(err, errlen, "add: an above rule needs \"threshold\", a number");
    if (alerts_validate(r, err, errlen) != 0)
        return 1;
    return 0;
}

static int rule_row(sqlite3 *db, void *arg)
{
    const struct alerts_rule *r = arg;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "INSERT OR REPLACE INTO alert_rules(name, metric, scope, subject, window_s, mode,"
                  " threshold, webhook, created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                  &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, r->name) | sqlx_bind_text(st, 2, metric_names[r->metric]) |
             sqlx_bind_text(st, 3, scope_names[r->scope]) | sqlx_bind_text(st, 4, r->subject) |
             sqlite3_bind_int64(st, 5, r->window_s) | sqlx_bind_text(st, 6, mode_names[r->mode]) |
             sqlite3_bind_double(st, 7, r->threshold) | sqlx_bind_text(st, 8, r->webhook) |
             sqlite3_bind_int64(st, 9, time_now_ns());
    return sqlx_step_done(st, rc);
}

/* 1 when rule 'name' exists, 0 when not, -1 on error; *count: all rules. */
static int rule_exists(sqlite3 *db, const char *name, int64_t *count)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, "SELECT count(*), coalesce(sum(name = ?1), 0) FROM alert_rules", &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, name) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    int found = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) > 0 : -1;
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return found;
}

static int op_add(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    struct alerts_rule r;
    int rc = parse_rule(cJSON_GetObjectItemCaseSensitive(op, "rule"), &r, err, errlen);
    int64_t count = 0;
    int exists = rc ? 0 : rule_exists(db, r.name, &count);
    if (rc == 0 && exists < 0)
        rc = sqlx_fail(db, "cannot read the alert rules", err, errlen);
    else if (rc == 0 && !exists && count >= ALERTS_MAX_RULES)
        rc = bad(err, errlen, "add: at most %d alert rules; remove one first", ALERTS_MAX_RULES);
    if (rc == 0)
        rc = sqlx_savepoint(db, "alerts_add", rule_row, &r, NOT_STORED, err, errlen);
    if (rc == 0 && (buf_puts(answer, "{\"ok\":true,\"name\":") || buf_json_str(answer, r.name) ||
                    buf_printf(answer, ",\"replaced\":%s}", exists ? "true" : "false")))
        rc = -1;
    return rc;
}

static int rm_rows(sqlite3 *db, void *arg)
{
    static const char *const sql[] = {"DELETE FROM alert_deliveries WHERE rule = ?1",
                                      "DELETE FROM alert_events WHERE rule = ?1",
                                      "DELETE FROM alert_rules WHERE name = ?1"};
    for (size_t i = 0; i < 3; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlx_prep(db, sql[i], &st) != 0 || sqlx_step_done(st, sqlx_bind_text(st, 1, arg)) != 0)
            return -1;
    }
    return 0;
}

static int op_rm(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    const char *name = jsonx_str(op, "name");
    int64_t count = 0;
    if (!alerts_valid_name(name))
        return bad(err, errlen, "rm: want \"name\": a rule's name (A-Z a-z 0-9 . _ -)");
    int exists = rule_exists(db, name, &count);
    if (exists < 0)
        return sqlx_fail(db, "cannot read the alert rules", err, errlen);
    if (exists &&
        sqlx_savepoint(db, "alerts_rm", rm_rows, (void *)name, NOT_STORED, err, errlen) != 0)
        return -1;
    if (buf_printf(answer, "{\"ok\":true,\"removed\":%s}", exists ? "true" : "false"))
        return -1;
    return 0;
}

static int op_secret(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    (void)op;
    char secret[ALERTS_SECRET_HEX + 1];
    if (alerts_secret_ensure(db, secret) != 0)
        return sqlx_fail(db, "cannot keep the webhook secret", err, errlen);
    return buf_printf(answer, "{\"ok\":true,\"secret\":\"%s\"}", secret) ? -1 : 0;
}

int alerts_apply(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int (*fn)(sqlite3 *, const cJSON *, struct buf *, char *, size_t);
    } ops[] = {{"add", op_add}, {"rm", op_rm}, {"secret", op_secret}};
    const char *name = cJSON_IsObject(op) ? jsonx_str(op, "op") : NULL;
    for (size_t i = 0; name && i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(name, ops[i].name) == 0)
            return ops[i].fn(db, op, answer, err, errlen);
    return bad(err, errlen, "want an object with \"op\": add, rm or secret");
}

/* ---- the secret ------------------------------------------------------------------------ */

int alerts_secret_get(sqlite3 *db, char out[ALERTS_SECRET_HEX + 1])
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, "SELECT value FROM meta WHERE key = 'webhook_secret'", &st) != 0)
        return -1;
    int rc = sqlite3_step(st), found = rc == SQLITE_DONE ? 0 : -1;
    const char *v = rc == SQLITE_ROW ? col_text(st, 0) : NULL;
    if (v && strlen(v) == ALERTS_SECRET_HEX) {
        memcpy(out, v, ALERTS_SECRET_HEX + 1);
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

int alerts_secret_ensure(sqlite3 *db, char out[ALERTS_SECRET_HEX + 1])
{
    int got = alerts_secret_get(db, out);
    if (got != 0)
        return got > 0 ? 0 : -1;
    ids_random(ALERTS_SECRET_HEX / 2, out);
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, "INSERT OR REPLACE INTO meta(key, value) VALUES ('webhook_secret', ?1)", &st))
        return -1;
    return sqlx_step_done(st, sqlx_bind_text(st, 1, out));
}

/* ---- the engine's writes ------------------------------------------------------------------ */

struct record_job {
    const struct alerts_outcome *o;
    int64_t event_id;
    int missing;
};

static int update_rule(sqlite3 *db, struct record_job *j)
{
    const struct alerts_outcome *o = j->o;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "UPDATE alert_rules SET last_eval_ns = ?2, last_value = ?3, last_baseline = ?4,"
                  " state = ?5, firing_key = ?6,"
                  " state_since_ns = CASE WHEN state = ?5 THEN state_since_ns ELSE ?2 END"
                  " WHERE name = ?1 AND state = ?7 AND (?8 = 0 OR created_ns = ?8)",
                  &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, o->rule) | sqlite3_bind_int64(st, 2, o->now_ns) |
             sqlx_bind_real(st, 3, o->value) | sqlx_bind_real(st, 4, o->baseline) |
             sqlx_bind_text(st, 5, state_names[o->to]) | sqlx_bind_text(st, 6, o->dedup_key) |
             sqlx_bind_text(st, 7, state_names[o->from]) | sqlite3_bind_int64(st, 8, o->created_ns);
    if (sqlx_step_done(st, rc) != 0)
        return -1;
    j->missing = sqlite3_changes(db) == 0;
    return 0;
}

static int insert_event(sqlite3 *db, struct record_job *j)
{
    const struct alerts_outcome *o = j->o;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "INSERT INTO alert_events(rule, time_ns, from_state, to_state, value, baseline,"
                  " threshold, dedup_key, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                  &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, o->rule) | sqlite3_bind_int64(st, 2, o->now_ns) |
             sqlx_bind_text(st, 3, state_names[o->from]) |
             sqlx_bind_text(st, 4, state_names[o->to]) | sqlx_bind_real(st, 5, o->value) |
             sqlx_bind_real(st, 6, o->baseline) | sqlx_bind_real(st, 7, o->threshold) |
             sqlx_bind_text(st, 8, o->dedup_key) |
             sqlx_bind_text(st, 9, o->payload && o->url ? o->payload : NULL);
    if (sqlx_step_done(st, rc) != 0)
        return -1;
    j->event_id = sqlite3_last_insert_rowid(db);
    return 0;
}

static int insert_attempt(sqlite3 *db, int64_t event_id, const char *rule, int64_t attempt,
                          const char *url, int64_t next_ns)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "INSERT INTO alert_deliveries(event_id, rule, attempt, url, next_ns)"
                  " VALUES (?1, ?2, ?3, ?4, ?5)",
                  &st) != 0)
        return -1;
    int rc = sqlite3_bind_int64(st, 1, event_id) | sqlx_bind_text(st, 2, rule) |
             sqlite3_bind_int64(st, 3, attempt) | sqlx_bind_text(st, 4, url) |
             sqlite3_bind_int64(st, 5, next_ns);
    return sqlx_step_done(st, rc);
}

static int record_rows(sqlite3 *db, void *arg)
{
    struct record_job *j = arg;
    const struct alerts_outcome *o = j->o;
    if (update_rule(db, j) != 0)
        return -1;
    if (j->missing || o->from == o->to)
        return 0;
    if (insert_event(db, j) != 0)
        return -1;
    if (o->payload && o->url)
        return insert_attempt(db, j->event_id, o->rule, 1, o->url, o->now_ns);
    return 0;
}

int alerts_record(sqlite3 *db, const struct alerts_outcome *o, int64_t *event_id, char *err,
                  size_t errlen)
{
    struct record_job j = {o, 0, 0};
    *event_id = 0;
    if (sqlx_savepoint(db, "alerts_record", record_rows, &j, NOT_STORED, err, errlen) != 0)
        return -1;
    *event_id = j.event_id;
    return j.missing ? 1 : 0;
}

struct attempt_job {
    int64_t id, now_ns, status, retry_at_ns;
    const char *error;
    int success;
};

static int attempt_rows(sqlite3 *db, void *arg)
{
    struct attempt_job *a = arg;
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "UPDATE alert_deliveries SET time_ns = ?2, status = ?3, error = ?4, outcome = ?5"
                  " WHERE id = ?1 AND time_ns IS NULL RETURNING event_id, rule, attempt, url",
                  &st) != 0)
        return -1;
    const char *outcome = a->success ? "ok" : a->retry_at_ns > 0 ? "retry" : "failed";
    int rc = sqlite3_bind_int64(st, 1, a->id) | sqlite3_bind_int64(st, 2, a->now_ns) |
             (a->status > 0 ? sqlite3_bind_int64(st, 3, a->status) : sqlite3_bind_null(st, 3)) |
             sqlx_bind_text(st, 4, a->error) | sqlx_bind_text(st, 5, outcome);
    rc = rc == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1; /* gone with its rule */
    }
    int64_t event_id = sqlite3_column_int64(st, 0), attempt = sqlite3_column_int64(st, 2);
    char *rule = sqlx_col_dup(st, 1), *url = sqlx_col_dup(st, 3);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (ok && !a->success && a->retry_at_ns > 0)
        ok = insert_attempt(db, event_id, rule, attempt + 1, url, a->retry_at_ns) == 0;
    free(rule);
    free(url);
    return ok ? 0 : -1;
}

int alerts_attempted(sqlite3 *db, int64_t id, int64_t now_ns, int64_t status, const char *error,
                     int success, int64_t retry_at_ns, char *err, size_t errlen)
{
    struct attempt_job a = {id, now_ns, status, retry_at_ns, error, success};
    return sqlx_savepoint(db, "alerts_attempt", attempt_rows, &a, NOT_STORED, err, errlen);
}

/* ---- readers of the queue and the history ------------------------------------------------ */

#define DELIVERY_COLS                                                                              \
    "d.id, d.event_id, d.attempt, d.rule, d.url, e.payload, e.dedup_key, e.to_state, d.next_ns,"   \
    " d.time_ns, d.status, d.error, d.outcome"

static void read_delivery(sqlite3_stmt *st, struct alerts_delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(st, 0);
    d->event_id = sqlite3_column_int64(st, 1);
    d->attempt = sqlite3_column_int64(st, 2);
    d->rule = col_text(st, 3);
    d->url = col_text(st, 4);
    d->payload = col_text(st, 5);
    d->dedup_key = col_text(st, 6);
    d->to_state = col_text(st, 7);
    d->next_ns = sqlite3_column_int64(st, 8);
    d->time_ns = sqlite3_column_int64(st, 9);
    d->status = sqlite3_column_int64(st, 10);
    d->error = col_text(st, 11);
    d->outcome = col_text(st, 12);
}

static int each_delivery(sqlite3_stmt *st, int rc, alerts_delivery_fn fn, void *ctx)
{
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct alerts_delivery d;
        read_delivery(st, &d);
        rc = fn(ctx, &d) == 0 ? SQLITE_OK : SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int alerts_due(sqlite3 *db, int64_t now_ns, int limit, alerts_delivery_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "SELECT " DELIVERY_COLS " FROM alert_deliveries d JOIN alert_events e"
                  " ON e.id = d.event_id WHERE d.time_ns IS NULL AND d.next_ns <= ?1"
                  " ORDER BY d.next_ns, d.id LIMIT ?2",
                  &st) != 0)
        return -1;
    int rc = sqlite3_bind_int64(st, 1, now_ns) | sqlite3_bind_int(st, 2, limit);
    return each_delivery(st, rc, fn, ctx);
}

int alerts_next_due(sqlite3 *db, int64_t *next_ns)
{
    sqlite3_stmt *st = NULL;
    *next_ns = INT64_MAX;
    if (sqlx_prep(db, "SELECT min(next_ns) FROM alert_deliveries WHERE time_ns IS NULL", &st) != 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *next_ns = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int alerts_deliveries(sqlite3 *db, const char *rule, int limit, alerts_delivery_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(
            db,
            "SELECT d.id, d.event_id, d.attempt, d.rule, d.url, NULL, e.dedup_key, e.to_state,"
            " d.next_ns, d.time_ns, d.status, d.error, d.outcome FROM alert_deliveries d"
            " JOIN alert_events e ON e.id = d.event_id WHERE ?1 IS NULL OR d.rule = ?1"
            " ORDER BY d.id DESC LIMIT ?2",
            &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, rule) | sqlite3_bind_int(st, 2, limit);
    return each_delivery(st, rc, fn, ctx);
}

int alerts_events(sqlite3 *db, const char *rule, int limit, alerts_event_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db,
                  "SELECT id, rule, time_ns, from_state, to_state, value, baseline, threshold,"
                  " dedup_key FROM alert_events WHERE ?1 IS NULL OR rule = ?1 ORDER BY id DESC"
                  " LIMIT ?2",
                  &st) != 0)
        return -1;
    int rc = sqlx_bind_text(st, 1, rule) | sqlite3_bind_int(st, 2, limit);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct alerts_event e = {sqlite3_column_int64(st, 0),
                                 col_text(st, 1),
                                 sqlite3_column_int64(st, 2),
                                 col_text(st, 3),
                                 col_text(st, 4),
                                 sqlx_col_real(st, 5),
                                 sqlx_col_real(st, 6),
                                 sqlx_col_real(st, 7),
                                 col_text(st, 8)};
        rc = fn(ctx, &e) == 0 ? SQLITE_OK : SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}
