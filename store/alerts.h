/*
 * alerts: alert rules, their state, the history of their transitions and
 * the webhook deliveries of those transitions (schema v18; DESIGN.md §7
 * "Alerts", issue 7 items 4 and 5). The engine that evaluates the rules is
 * evaluator/alert.h; this module is what it reads and writes.
 *
 * Tables:
 *   alert_rules       one row per rule: what it watches, and its state
 *                     (OK, FIRING, NO_DATA, RESOLVED) with the value and
 *                     baseline of its last evaluation;
 *   alert_events      one row per state change: from, to, value, baseline,
 *                     threshold, the firing's dedup key and the webhook
 *                     body (payload) when the change is delivered;
 *   alert_deliveries  one row per delivery attempt: due at next_ns, done
 *                     at time_ns (NULL while pending) with the HTTP status
 *                     or the transport error; outcome 'pending', 'ok',
 *                     'retry' (a later attempt row follows) or 'failed'.
 * The webhook signing secret generated when none is configured is the
 * meta row 'webhook_secret' (64 hex digits).
 *
 * Rule changes arrive as JSON operations (alerts_apply), the same document
 * whether the CLI holds the store alone or hands it to a running server
 * (POST /api/v1/admin/alerts): one writer either way.
 *
 * Window sums (alerts_sums, alerts_window.c) read the rollups where they
 * cover the window: whole hours of a global / project / model /
 * version_set window from rollup_hourly_k plus the hot rows of those hours
 * from span_rows, and the partial hours at either end from the `spans`
 * table with a start_ns range (pushed down: hot rows by index, segments by
 * zone map). The rollups of users and tenants are daily, so a user or
 * tenant window reads `spans` over its range alone.
 *
 * Functions take the connection to use: the writer's for the writers
 * (alerts_apply, alerts_record, alerts_attempted, alerts_secret_ensure),
 * any connection for the readers. Thread-safety: that of the connection;
 * the name tables are static.
 */
#ifndef STORE_ALERTS_H
#define STORE_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "core/buf.h"

enum alerts_metric {
    ALERTS_SPEND = 0,   /* USD */
    ALERTS_TOKENS,      /* input + output tokens */
    ALERTS_CALLS,       /* spans */
    ALERTS_ERROR_RATE,  /* errors / calls, 0..1 */
    ALERTS_P95_LATENCY, /* ms */
    ALERTS_NMETRICS
};
enum alerts_scope {
    ALERTS_GLOBAL = 0,
    ALERTS_PROJECT,
    ALERTS_TENANT,
    ALERTS_USER,
    ALERTS_MODEL,
    ALERTS_VERSION_SET,
    ALERTS_NSCOPES
};
enum alerts_mode { ALERTS_ABOVE = 0, ALERTS_ANOMALY, ALERTS_NMODES };
enum alerts_state { ALERTS_OK = 0, ALERTS_FIRING, ALERTS_NO_DATA, ALERTS_RESOLVED, ALERTS_NSTATES };

#define ALERTS_NAME_MAX 64     /* A-Z a-z 0-9 . _ - */
#define ALERTS_SUBJECT_MAX 256 /* bytes, no control characters */
#define ALERTS_URL_MAX 2048    /* bytes */
#define ALERTS_MAX_RULES 200   /* rules in the table */
#define ALERTS_MIN_WINDOW_S 10 /* documented: 5m, 1h, 1d; tests use 10s */
#define ALERTS_MAX_WINDOW_S (7 * 86400)
#define ALERTS_DEFAULT_FACTOR 5.0
#define ALERTS_MAX_FACTOR 1000.0
#define ALERTS_SECRET_HEX 64

struct alerts_rule {
    char *name;
    enum alerts_metric metric;
    enum alerts_scope scope;
    char *subject; /* "" for global */
    int64_t window_s;
    enum alerts_mode mode;
    double threshold; /* above: the value's threshold; anomaly: the factor */
    char *webhook;    /* NULL: events are recorded, nothing is delivered */
    int64_t created_ns;
    /* state, as the engine last left it */
    enum alerts_state state;
    int64_t state_since_ns, last_eval_ns; /* 0: never */
    double last_value, last_baseline;     /* NAN: none */
    char *firing_key;                     /* the open firing's dedup key, or NULL */
};
void alerts_rule_release(struct alerts_rule *r); /* frees the strings; accepts NULL */

/* Names: "spend" "tokens" "calls" "error_rate" "p95_latency"; "global"
 * "project" "tenant" "user" "model" "version_set"; "above" "anomaly";
 * "OK" "FIRING" "NO_DATA" "RESOLVED". Static strings. The parsers return
 * the enum value, or -1 for an unknown name. */
const char *alerts_metric_name(enum alerts_metric m);
const char *alerts_scope_name(enum alerts_scope s);
const char *alerts_mode_name(enum alerts_mode m);
const char *alerts_state_name(enum alerts_state s);
int alerts_metric_parse(const char *s);
int alerts_scope_parse(const char *s);
int alerts_mode_parse(const char *s);
int alerts_state_parse(const char *s);

/* 1 when 'name' is 1..ALERTS_NAME_MAX of A-Z a-z 0-9 . _ - */
int alerts_valid_name(const char *name);

/* 0 when 'url' is an http:// or https:// URL with a host, at most
 * ALERTS_URL_MAX bytes, without spaces or control characters; else -1
 * with a message for a user. */
int alerts_check_url(const char *url, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Check 'r' (name, subject against scope, window, threshold or factor,
 * webhook). 0, or -1 with a message for a user. */
int alerts_validate(const struct alerts_rule *r, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writer: one operation, a JSON object:
 *  {"op":"add","rule":{"name","metric","scope","subject" (not for global),
 *      "window_s","mode":"above"|"anomaly","threshold" (above) | "factor"
 *      (anomaly; default 5),"webhook" (optional)}}
 *      stores the rule (an existing name is replaced and starts again at OK);
 *  {"op":"rm","name":N}   removes a rule, its events and deliveries
 *      (answer "removed": false when there was none);
 *  {"op":"secret"}        the webhook secret, generated on first use.
 * Appends a JSON answer to 'answer' ({"ok":true,...}). Returns 0, 1 for a
 * bad operation (message in 'err': the caller answers 400), -1 on a store
 * failure (500). */
int alerts_apply(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Reader: every rule by name (caller frees with alerts_rules_free). 0, or
 * -1 with a message. */
int alerts_rules(sqlite3 *db, struct alerts_rule **out, size_t *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void alerts_rules_free(struct alerts_rule *r, size_t n); /* accepts NULL */

/* Reader: rule 'name' into *out (release with alerts_rule_release). 1
 * found, 0 none, -1 on error. */
int alerts_get(sqlite3 *db, const char *name, struct alerts_rule *out)
    __attribute__((warn_unused_result));

/* Reader: the stored webhook secret into 'out' (ALERTS_SECRET_HEX + 1
 * bytes): 1, 0 when none was generated yet, -1 on error. */
int alerts_secret_get(sqlite3 *db, char out[ALERTS_SECRET_HEX + 1])
    __attribute__((warn_unused_result));
/* Writer: the same, generating and storing a random one first when there
 * is none. 0 or -1. */
int alerts_secret_ensure(sqlite3 *db, char out[ALERTS_SECRET_HEX + 1])
    __attribute__((warn_unused_result));

/* ---- the engine's writes ------------------------------------------------- */

/* One evaluation of a rule, as the engine decided it. Strings borrowed. */
struct alerts_outcome {
    const char *rule;
    int64_t created_ns; /* the rule evaluated (its created_ns): a rule replaced since is left */
    int64_t now_ns;
    double value, baseline, threshold; /* NAN: none */
    enum alerts_state from, to;        /* equal: no transition */
    const char *dedup_key;             /* the firing's key after this step, or NULL */
    const char *payload;               /* the webhook body, or NULL: nothing delivered */
    const char *url;                   /* where to (with a payload) */
};

/* Writer: record 'o': the rule's last value, baseline and state; on a
 * transition an alert_events row, and with a payload an alert_deliveries
 * row due now. *event_id: the event's id, 0 when none. Returns 0, 1 when
 * the rule no longer exists as evaluated (removed, replaced, or moved on
 * from 'o->from' meanwhile: nothing written), -1 with a message. */
int alerts_record(sqlite3 *db, const struct alerts_outcome *o, int64_t *event_id, char *err,
                  size_t errlen) __attribute__((warn_unused_result));

/* A delivery attempt due (or done, for readers of the history). */
struct alerts_delivery {
    int64_t id, event_id, attempt;
    const char *rule, *url, *payload, *dedup_key, *to_state; /* borrowed for the call */
    int64_t next_ns, time_ns;                                /* due; done (0: pending) */
    int64_t status;                                          /* HTTP status, 0 for none */
    const char *error;                                       /* transport error, or NULL */
    const char *outcome;                                     /* pending | ok | retry | failed */
};

/* Reader: the pending attempts due at 'now_ns', oldest first, at most
 * 'limit'. 'fn' returns 0 to go on. 0 or -1. */
typedef int (*alerts_delivery_fn)(void *ctx, const struct alerts_delivery *d);
int alerts_due(sqlite3 *db, int64_t now_ns, int limit, alerts_delivery_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Reader: when the next pending attempt is due (INT64_MAX: none). 0 or -1. */
int alerts_next_due(sqlite3 *db, int64_t *next_ns) __attribute__((warn_unused_result));

/* Writer: attempt 'id' was made at 'now_ns' with HTTP 'status' (0: none)
 * or transport 'error' (NULL: none). 'retry_at_ns' > 0: it failed and the
 * next attempt is due then (a new row); 0: this was the last ('ok' when
 * 'success', else 'failed'). 0 or -1 with a message. */
int alerts_attempted(sqlite3 *db, int64_t id, int64_t now_ns, int64_t status, const char *error,
                     int success, int64_t retry_at_ns, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* ---- history, for `alert list` and /alerts -------------------------------- */

struct alerts_event {
    int64_t id;
    const char *rule;
    int64_t time_ns;
    const char *from_state, *to_state;
    double value, baseline, threshold; /* NAN: none */
    const char *dedup_key;             /* may be NULL */
};

/* Reader: the newest 'limit' events (of 'rule', NULL: all), newest first. */
typedef int (*alerts_event_fn)(void *ctx, const struct alerts_event *e);
int alerts_events(sqlite3 *db, const char *rule, int limit, alerts_event_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Reader: the newest 'limit' delivery attempts (of 'rule', NULL: all),
 * newest first; payload is NULL here. */
int alerts_deliveries(sqlite3 *db, const char *rule, int limit, alerts_delivery_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* ---- window sums (alerts_window.c) ------------------------------------------ */

struct alerts_sums {
    int64_t calls, errors, tokens, cost_nusd;
    double p95_ms; /* NAN without calls */
};

/* Reader: the sums of the spans of 'scope' / 'subject' that started in
 * [from_ns, to_ns). 0, or -1 with a message. */
int alerts_window(sqlite3 *db, enum alerts_scope scope, const char *subject, int64_t from_ns,
                  int64_t to_ns, struct alerts_sums *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The value of 'metric' from 's' (NAN for a rate or latency without calls). */
double alerts_metric_value(enum alerts_metric metric, const struct alerts_sums *s);

#endif
