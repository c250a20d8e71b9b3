/*
 * alert: the alert engine (DESIGN.md §7 "Alerts", issue 7 items 4 and 5).
 * One thread, started beside the server, that every interval
 *   1. evaluates each rule (store/alerts.h) over its window, the last
 *      window_s seconds ending now, read from a read-only connection;
 *   2. steps the rule's state machine and records the step, and on a
 *      delivered transition the webhook body and its first attempt, through
 *      the one writer (the 'write' callback: the server's writer);
 *   3. between evaluations, sends the delivery attempts that are due (many
 *      at once, without blocking: evaluator/webhook.h's pool) and records
 *      each outcome, scheduling the next attempt of a failed one.
 *
 * Anomaly baseline: the same window one, two, ... ALERT_HISTORY_WEEKS weeks
 * earlier (the same hour of the week). Weeks without a call have no data.
 * With at least ALERT_MIN_WEEKS weeks with data the baseline is their
 * median m, with spread MAD (median absolute deviation); the rule fires
 * when value > factor x m and value > m + ALERT_MAD_K x 1.4826 x MAD (1.4826
 * MAD estimates a standard deviation; k = 3), and value > 0. Median and MAD
 * ignore a few outlier weeks (a past spike does not raise the bar). With
 * less history an anomaly rule does not fire (it is learning).
 *
 * States (store/alerts.h):
 *
 *            breach                  normal
 *     OK ───────────► FIRING ─────────────► RESOLVED ──normal──► OK
 *      ▲ ▲              │  ▲                   │
 *      │ │   no data    │  └──────breach───────┘ (and from OK, NO_DATA)
 *      │ └── NO_DATA ◄──┘ (no call in the window, from any state)
 *      └──normal─┘
 *
 * FIRING opens a firing with a new dedup key; its RESOLVED (or NO_DATA)
 * message carries the same key; the next FIRING gets a new one. Delivered:
 * entering FIRING, FIRING -> RESOLVED and FIRING -> NO_DATA. Every change
 * is an alert_events row.
 *
 * Retries: attempt n (1-based) that failed with a transport error, 408,
 * 429 or 5xx is followed by attempt n + 1 after 2^(n-1) s (1, 2, 4, 8, 16),
 * or after the answer's Retry-After when that is longer (at most
 * ALERT_RETRY_AFTER_MAX_S); at most ALERT_MAX_ATTEMPTS attempts. Any other
 * answer is final. The engine's clock is the wall clock.
 *
 * Thread-safety: the engine runs in its own thread; new/free from one
 * thread. The pure functions are thread-safe.
 */
#ifndef EVALUATOR_ALERT_H
#define EVALUATOR_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "store/alerts.h"
#include "store/writer.h"

#define ALERT_HISTORY_WEEKS 8
#define ALERT_MIN_WEEKS 3
#define ALERT_MAD_K 3.0
#define ALERT_MAD_SIGMA 1.4826
#define ALERT_MAX_ATTEMPTS 6
#define ALERT_RETRY_AFTER_MAX_S 300
#define ALERT_DEFAULT_INTERVAL_NS 60000000000LL /* 1m */
#define ALERT_WEEK_NS (7 * 86400000000000LL)

/* ---- the decisions (pure) ------------------------------------------------------ */

struct alert_baseline {
    double median, mad; /* NAN until ready */
    int weeks;          /* weeks with data */
    int ready;          /* weeks >= ALERT_MIN_WEEKS */
};

/* The baseline of 'n' prior weeks' values ('values[i]' NAN: no data that
 * week). */
void alert_baseline_compute(const double *values, size_t n, struct alert_baseline *out);

enum alert_obs { ALERT_OBS_NORMAL = 0, ALERT_OBS_BREACH, ALERT_OBS_NO_DATA };

/* What one evaluation saw: no call in the window, a breach of the rule's
 * threshold (above) or of its baseline (anomaly; never before 'b' is
 * ready), or a normal value. 'b' may be NULL for an above rule. */
enum alert_obs alert_observe(const struct alerts_rule *r, int64_t calls, double value,
                             const struct alert_baseline *b);

/* The state after 'cur' sees 'obs'; *deliver is 1 when the step is
 * delivered, *new_key 1 when it opens a firing (a new dedup key). */
enum alerts_state alert_next(enum alerts_state cur, enum alert_obs obs, int *deliver, int *new_key);

/* The wait before the attempt after failed attempt 'attempt' (1-based), in
 * ns, given the answer's Retry-After ('retry_after_s' < 0: none); -1 when
 * no attempt is left. */
int64_t alert_retry_delay_ns(int64_t attempt, int64_t retry_after_s);

/* ---- the engine ------------------------------------------------------------------- */

/* Run 'fn' in the one writer's transaction (the server's server_write): 0
 * or non-zero with a message. */
typedef int (*alert_write_fn)(void *arg, writer_fn fn, void *ctx, char *err, size_t errlen);

struct alert_config {
    const char *db_path; /* opened read-only */
    int64_t interval_ns; /* evaluation period; 0: ALERT_DEFAULT_INTERVAL_NS */
    const void *secret;  /* signs every delivery; copied */
    size_t secret_len;
    alert_write_fn write; /* required */
    void *write_arg;
};

struct alert_engine;

/* Start the engine's thread. 0, or -1 with a message (the database cannot
 * be read). Caller frees with alert_engine_free. */
int alert_engine_new(struct alert_engine **out, const struct alert_config *cfg, char *err,
                     size_t errlen) __attribute__((warn_unused_result));

/* Stop the thread (deliveries in flight are abandoned: their attempt stays
 * pending and is made again by the next engine) and free. Accepts NULL. */
void alert_engine_free(struct alert_engine *e);

/* Evaluate every rule once at 'now_ns' through 'db' and 'write' (what the
 * thread does each interval; exposed for tests). 0, or -1 with a message. */
int alert_evaluate(sqlite3 *db, int64_t now_ns, alert_write_fn write, void *write_arg, char *err,
                   size_t errlen) __attribute__((warn_unused_result));

#endif
