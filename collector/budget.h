/*
 * budget: spend limits enforced at the proxy's door (DESIGN.md §6, issue 5
 * item 6), the seed's three levels:
 *  - per request: a cap on a call's (estimated) input tokens and on its
 *    tool-call rounds (assistant turns with tool calls already in the
 *    conversation: an agent loop breaker);
 *  - per scope (global, project, tenant, user): spend per calendar minute,
 *    hour, day or month (UTC windows);
 *  - a global breaker: this hour's spend above FACTOR x the baseline (the
 *    median hourly spend over the last 7 days' hours that had spend; it
 *    needs 24 such hours of history, and never trips below $1), default
 *    factor 5, stored as a rule so it can be changed or removed.
 *
 * Spend is reserved before a call is forwarded (its estimated cost) and
 * settled with the real cost after, all under one lock, so concurrent calls
 * cannot overshoot: a call is admitted only when, for every spend rule that
 * applies, settled + reserved + its estimate <= the limit. Settled spend of
 * the current windows is seeded from the store when rules are loaded, and
 * spend that arrives by other ingest paths is added with budget_record.
 *
 * The rules live in the store (store/budgets.h); the ledger holds them and
 * the counters in memory. Thread-safety: every function but new/free may be
 * called from any thread.
 */
#ifndef COLLECTOR_BUDGET_H
#define COLLECTOR_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/writer.h"

struct budget_ledger;

/* A ledger over the database at 'db_path' (opened read-only when rules are
 * loaded or seeded): loads the rules and seeds the counters of their current
 * windows (and the breaker's hourly history) at 'now_ns'. Returns LT_OK, or
 * an lt_err with a message. Caller frees with budget_ledger_free. */
int budget_ledger_new(struct budget_ledger **out, const char *db_path, int64_t now_ns, char *err,
                      size_t errlen) __attribute__((warn_unused_result));
void budget_ledger_free(struct budget_ledger *l); /* accepts NULL */

/* Reload the rules from the store and reseed (after a change). A rule
 * still in force keeps its counters (they know the calls in flight and the
 * spend the store has not been told yet); a new one is seeded. LT_OK or an
 * lt_err with a message; on failure the old rules stay in force. */
int budget_ledger_reload(struct budget_ledger *l, int64_t now_ns, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* What the door knows about a call before forwarding it. Strings borrowed;
 * NULL tenant/user: none (rules on tenants/users do not apply). */
struct budget_call {
    const char *project; /* never NULL ("default") */
    const char *tenant, *user;
    int64_t est_nusd;     /* estimated cost in nano-USD; -1 unpriced (reserves 0) */
    int64_t input_tokens; /* estimated prompt tokens; -1 unknown */
    int tool_rounds;
};

/* What a reservation took, for budget_settle. An embedded value: filled by
 * budget_reserve (empty after a refusal), emptied by budget_settle. Settle
 * every admitted call, also one that reserved nothing (no rule applied, an
 * estimate of 0): settling is what counts its cost. The counter keys are
 * the rules' ids. */
#define BUDGET_HOLD_MAX 17 /* 4 scopes x 4 periods of spend rules, and the breaker */
struct budget_hold {
    int n;
    int64_t nusd;                      /* the amount reserved in each counter */
    int64_t window_ns;                 /* reservation time */
    uint64_t counter[BUDGET_HOLD_MAX]; /* ledger-internal counter keys */
};

/* Admit or refuse a call at 'now_ns'. Returns LT_OK (the hold filled: the
 * estimate is reserved) or LT_BUDGET_EXHAUSTED with a message naming the
 * rule for the client, e.g. "budget exhausted: user alice may spend $0.50
 * per day; $0.4990 spent, $0.0012 reserved, this call needs about $0.0020"
 * or "request refused: about 9000 input tokens, the project cap is 8000".
 * Caps are checked first, then every spend rule, then the breaker; the
 * first that refuses is named and counts the refusal. A call whose
 * estimate is 0 or unpriced is refused by a spend rule already at its
 * limit. Times never go back: a 'now_ns' older than one the ledger has
 * seen is taken as that one. Tenant and user rules match by name in every
 * project; "" is no tenant / user. */
int budget_reserve(struct budget_ledger *l, const struct budget_call *c, int64_t now_ns,
                   struct budget_hold *h, char *msg, size_t msglen)
    __attribute__((warn_unused_result));

/* Replace the reservation by the real cost ('actual_nusd'; -1 when the
 * call turned out unpriced: the reservation is released and nothing is
 * spent). Uses the counters of the reservation's windows: where a window
 * has rolled over since, the reservation went with it and the cost counts
 * only in the windows still current (and in the breaker's history). A
 * cost above the estimate is spent all the same. 'h' is emptied (settling
 * it again does nothing). Rules removed meanwhile are skipped. */
void budget_settle(struct budget_ledger *l, struct budget_hold *h, int64_t actual_nusd);

/* Spend that did not pass the door (OTLP, native API, Langfuse) at its
 * 'start_ns'; ignored when outside the current windows. Never for a call
 * that budget_settle counts already. Strings borrowed; NULL or "" tenant /
 * user: none. budget_record_at is the same at a given 'now_ns' (tests). */
void budget_record(struct budget_ledger *l, const char *project, const char *tenant,
                   const char *user, int64_t nusd, int64_t start_ns);
void budget_record_at(struct budget_ledger *l, const char *project, const char *tenant,
                      const char *user, int64_t nusd, int64_t start_ns, int64_t now_ns);

/* Where rule 'id' stands at 'now_ns' (its current window). For a cap
 * spent, reserved and limit are -1; for the breaker, limit is this hour's
 * threshold (-1 while it has fewer than 24 hours of history) and baseline
 * the median hour (-1 likewise). Returns 0, or -1 for an unknown id. */
struct budget_usage {
    int64_t window_ns; /* start of the current window; 0 for a cap */
    int64_t spent_nusd, reserved_nusd, limit_nusd, baseline_nusd;
    uint64_t refused;
};
int budget_ledger_usage(struct budget_ledger *l, int64_t id, int64_t now_ns, struct budget_usage *u)
    __attribute__((warn_unused_result));

/* Append the GET answer of budget_admin at 'now_ns' to 'out' (each rule
 * with its usage, by id). 0, or -1 at the buffer's ceiling. */
int budget_ledger_json(struct budget_ledger *l, int64_t now_ns, struct buf *out)
    __attribute__((warn_unused_result));

/* Append the Prometheus lines of every rule with a spend limit at 'now_ns'
 * (spend rules, and the breaker once it has a threshold) to 'out':
 * llmtap_budget_limit_usd, llmtap_budget_spent_usd (settled + reserved) and
 * llmtap_budget_remaining_usd (limit - spent, never below 0), labelled
 * id, scope, subject, per. 0, or -1 at the buffer's ceiling. */
int budget_ledger_metrics(struct budget_ledger *l, int64_t now_ns, struct buf *out)
    __attribute__((warn_unused_result));

/* The loopback admin API behind `llmtap budget` (server.c routes
 * /api/v1/admin/budgets here): 'method' GET answers the rules with their
 * current spend; POST takes {"op":"set", ...rule} or {"op":"rm","id":N},
 * writes through 'w' (the one writer) and reloads the ledger before it
 * answers, so a rule is in force when the CLI returns. Answer JSON in 'out'.
 * Returns LT_OK, or an lt_err with a message (LT_INVALID_INPUT for a bad
 * body, LT_NOT_FOUND for an unknown id). 'w' may be NULL for GET.
 *   GET  -> {"budgets":[{"id","scope","subject","kind","per","usd",
 *            "max_input_tokens","max_tool_rounds","factor","spent_usd",
 *            "reserved_usd","refused","window_start","limit_usd",
 *            "baseline_usd"}...]} (absent values null; USD as exact
 *            decimal numbers)
 *   POST {"op":"set","scope":S,"subject":X,"per":P,"usd":A}   spend
 *        {"op":"set","scope":S,"subject":X,"max_input_tokens":N,
 *         "max_tool_rounds":M}                                 cap (either)
 *        {"op":"set","scope":"global","factor":F}             breaker
 *        {"op":"rm","id":N}
 *        -> {"status":"ok","id":N}
 * ("usd" a number or a decimal string; "kind" may be given too.) */
int budget_admin(struct budget_ledger *l, struct writer *w, const char *method, const char *body,
                 size_t len, struct buf *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
