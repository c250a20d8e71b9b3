/*
 * budgets: the budget rules kept in the database (schema v13, table
 * `budgets`), and the spend queries that seed the ledger that enforces
 * them (collector/budget.h).
 *
 * A rule is one of three kinds:
 *  - spend:   a scope (global, project, tenant, user) may spend limit_nusd
 *             per calendar minute, hour, day or month (UTC windows);
 *  - cap:     per request, at most max_input_tokens estimated input tokens
 *             and / or max_tool_rounds tool-call rounds (-1: that one is
 *             not capped);
 *  - breaker: global only, period hour: this hour's spend may be at most
 *             factor x the hourly baseline (collector/budget.h).
 * (scope, subject, kind, period) is unique: setting it again replaces the
 * rule in place (same id); a cap set merges the caps it gives into the
 * rule's. The migration creates the default breaker (global, factor 5).
 * Subjects of tenant and user rules name that tenant / user in every
 * project.
 *
 * Spend queries read the rollups where they cover a window exactly (the
 * compacted part of rollup_hourly / rollup_daily for global and project
 * windows of whole hours or days, rollup_daily_user / _tenant for whole
 * days, plus the hot rows, which is what the rollup views are), else the
 * `spans` table with a start_ns range. Amounts are integer nano-USD.
 *
 * Functions take the connection to use: the writer's for budgets_put /
 * budgets_remove (through writer_run), any read connection for the rest.
 * Thread-safety: that of the connection; the name tables are static.
 */
#ifndef STORE_BUDGETS_H
#define STORE_BUDGETS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

enum budget_scope { BUDGET_GLOBAL = 0, BUDGET_PROJECT, BUDGET_TENANT, BUDGET_USER, BUDGET_NSCOPES };
enum budget_kind { BUDGET_SPEND = 0, BUDGET_CAP, BUDGET_BREAKER };
enum budget_period {
    BUDGET_PER_NONE = 0, /* caps */
    BUDGET_MINUTE,
    BUDGET_HOUR,
    BUDGET_DAY,
    BUDGET_MONTH,
    BUDGET_NPERIODS
};

/* Bounds every rule is validated against. */
#define BUDGETS_SUBJECT_MAX 256              /* bytes */
#define BUDGETS_MAX_NUSD 10000000000000000LL /* $10,000,000 per window */
#define BUDGETS_MAX_INPUT_TOKENS 100000000LL /* per request */
#define BUDGETS_MAX_TOOL_ROUNDS 100000LL     /* per request */
#define BUDGETS_MIN_FACTOR 1.0
#define BUDGETS_MAX_FACTOR 1000.0
#define BUDGETS_DEFAULT_FACTOR 5.0

struct budget_rule {
    int64_t id; /* 0 until stored */
    enum budget_scope scope;
    char *subject; /* "" for global; owned by whoever owns the rule */
    enum budget_kind kind;
    enum budget_period period; /* spend: minute..month; breaker: hour; cap: none */
    int64_t limit_nusd;        /* spend: 0..BUDGETS_MAX_NUSD */
    int64_t max_input_tokens;  /* cap: 1..BUDGETS_MAX_INPUT_TOKENS, -1 none */
    int64_t max_tool_rounds;   /* cap: 0..BUDGETS_MAX_TOOL_ROUNDS, -1 none */
    double factor;             /* breaker: BUDGETS_MIN_FACTOR..BUDGETS_MAX_FACTOR */
    int64_t created_ns;        /* when first set */
};

/* Names: "global" "project" "tenant" "user"; "spend" "cap" "breaker";
 * "" "minute" "hour" "day" "month". Static strings. The parsers return the
 * enum value, or -1 for an unknown name. */
const char *budgets_scope_name(enum budget_scope s);
const char *budgets_kind_name(enum budget_kind k);
const char *budgets_period_name(enum budget_period p);
int budgets_scope_parse(const char *s);
int budgets_kind_parse(const char *s);
int budgets_period_parse(const char *s);

/* Decimal USD text ("0.50", "12", ".25"; at most 9 decimals, no sign or
 * exponent) to nano-USD, exactly. 0, or -1 when malformed or above
 * BUDGETS_MAX_NUSD. */
int budgets_parse_usd(const char *s, int64_t *nusd) __attribute__((warn_unused_result));

/* Check 'r' against the bounds above and the kind's rules (a subject for
 * every scope but global, none for global; the breaker global with period
 * hour; a cap with at least one cap). 0, or -1 with a message for a user. */
int budgets_validate(const struct budget_rule *r, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The calendar window of 'period' (minute..month, UTC) that holds 't_ns':
 * [*from, *to). */
void budgets_window(enum budget_period period, int64_t t_ns, int64_t *from, int64_t *to);

/* Writer: validate and store 'r' at 'now_ns' (created_ns of a new rule),
 * replacing the rule with the same (scope, subject, kind, period); *id is
 * the rule's id. 0, or -1 with a message (nothing written). */
int budgets_put(sqlite3 *db, const struct budget_rule *r, int64_t now_ns, int64_t *id, char *err,
                size_t errlen) __attribute__((warn_unused_result));

/* Writer: remove rule 'id'. 0, 1 when there is no such rule, -1 with a
 * message. */
int budgets_remove(sqlite3 *db, int64_t id, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Every rule, by id (caller frees with budgets_free). 0, or -1 with a
 * message. */
int budgets_list(sqlite3 *db, struct budget_rule **out, size_t *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void budgets_free(struct budget_rule *r, size_t n); /* accepts NULL */

/* Settled spend of start times in [from_ns, to_ns): of 'subject' in
 * 'scope' ("" or NULL for global) into *nusd. 0, or -1 with a message. */
int budgets_spent(sqlite3 *db, enum budget_scope scope, const char *subject, int64_t from_ns,
                  int64_t to_ns, int64_t *nusd, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The same for every subject of 'scope' at once (one pass, for seeding
 * many rules): 'fn' is called once per subject that spent anything ("" for
 * global), 'subject' borrowed for the call. 0, or -1 with a message. */
typedef void (*budgets_spend_fn)(void *ctx, const char *subject, int64_t nusd);
int budgets_spent_each(sqlite3 *db, enum budget_scope scope, int64_t from_ns, int64_t to_ns,
                       budgets_spend_fn fn, void *ctx, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Global spend of each hour from 'from_hour' (unix ns / 3.6e12) on:
 * nusd[i] is hour from_hour + i, for i < 'nhours' (0 when nothing was
 * spent). 0, or -1 with a message. */
int budgets_hourly(sqlite3 *db, int64_t from_hour, size_t nhours, int64_t *nusd, char *err,
                   size_t errlen) __attribute__((warn_unused_result));

#endif
