/*
 * cmd_budget: `llmtap budget set|list|rm` — spend limits, per-request caps
 * and the spend breaker (collector/budget.h, docs/BUDGETS.md). Everything
 * goes through the budgets admin API: a running server's (which then has
 * the rule in force before it answers), else the same code in this process
 * over the database's writer. `list` asks a running server for its live
 * counters, else reads the database read-only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "collector/budget.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/budgets.h"
#include "store/store.h"
#include "store/writer.h"

static const char budget_usage[] =
    "usage: llmtap budget set SCOPE --per minute|hour|day|month --usd AMOUNT\n"
    "       llmtap budget set SCOPE [--max-input-tokens N] [--max-tool-rounds N]\n"
    "       llmtap budget set --global --breaker FACTOR\n"
    "       llmtap budget list [--json]\n"
    "       llmtap budget rm ID\n"
    "  SCOPE is --global, --project P, --tenant T or --user U; every form takes --db PATH\n"
    "  and --json.\n"
    "\n"
    "A spend budget refuses, with 402 BUDGET_EXHAUSTED at the proxy, a call that would take\n"
    "the scope's spend in the current UTC minute, hour, day or month over AMOUNT (USD). A cap\n"
    "refuses a single request with more estimated input tokens or tool-call rounds. The\n"
    "breaker refuses every call once this hour's spend passes FACTOR x the median hour of the\n"
    "last 7 days (after 24 hours with spend; never below $1; default 5). Setting the same\n"
    "scope and period again replaces the rule; `rm ID` removes one (the breaker too). A\n"
    "running server has the rule in force when the command returns.\n";

#define HTTP_MAX (8u << 20)

/* ---- talking to the admin API ------------------------------------------ */

/* 'method' on the running server at 'url': LT_OK and its answer in 'out',
 * or an error with a message. */
static int via_server(const char *url, const char *method, const struct buf *body, struct buf *out,
                      char *err, size_t errlen)
{
    char *endpoint = xasprintf("%s/api/v1/admin/budgets", url);
    long status = 0;
    int rc = strcmp(method, "GET") == 0
                 ? cli_http_get(endpoint, out, &status, err, errlen)
                 : cli_http_post(endpoint, "application/json", NULL, buf_str(body), body->len, out,
                                 &status, err, errlen);
    free(endpoint);
    if (rc != 0)
        return LT_UNAVAILABLE;
    if (status == 200)
        return LT_OK;
    cli_server_error(out, status, err, errlen);
    return status == 404 ? LT_NOT_FOUND : LT_INVALID_INPUT;
}

/* The same in this process: a writer of our own for a change, none for GET. */
static int in_process(const char *db, const char *method, const struct buf *body, struct buf *out,
                      char *err, size_t errlen)
{
    struct store *st = NULL;
    struct writer *w = NULL;
    struct budget_ledger *l = NULL;
    int write = strcmp(method, "GET") != 0, rc = LT_OK;
    if (write) {
        struct writer_config cfg;
        writer_config_default(&cfg);
        cfg.compact_keep_hot = -1; /* only the change asked for */
        if (store_open(&st, db, STORE_READWRITE, err, errlen) != STORE_OK)
            rc = LT_UNAVAILABLE;
        if (rc == LT_OK)
            rc = writer_start(&w, st, &cfg, err, errlen);
    }
    if (rc == LT_OK)
        rc = budget_ledger_new(&l, db, time_now_ns(), err, errlen);
    if (rc == LT_OK)
        rc = budget_admin(l, w, method, buf_str(body), body->len, out, err, errlen);
    budget_ledger_free(l);
    writer_stop(w);
    store_close(st);
    return rc;
}

static int admin(const char *db, const char *method, const struct buf *body, struct buf *out,
                 char *err, size_t errlen)
{
    char *url = cli_find_server(db);
    int rc = url ? via_server(url, method, body, out, err, errlen)
                 : in_process(db, method, body, out, err, errlen);
    free(url);
    return rc;
}

/* ---- set ------------------------------------------------------------------ */

struct set_args {
    struct budget_rule r;
    const char *usd, *subject_arg;
    int scopes; /* how many scope options were given */
    int kinds;  /* spend, cap, breaker options given: a bit each */
};

/* "llmtap budget: <message>" on stderr; the usage error's exit code. */
static int usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "llmtap budget: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE_ERROR;
}

/* A whole number 0..max from 'arg'; -2 when it is not one. */
static int64_t parse_count(const char *arg, int64_t max)
{
    char *end;
    long long v = strtoll(arg, &end, 10);
    return *arg && !*end && v >= 0 && v <= max ? (int64_t)v : -2;
}

/* One option of `budget set` at argv[*i]: 1 taken, 0 not ours, else an
 * exit code (after a message). */
static int set_opt(int argc, char **argv, int *i, struct set_args *a)
{
    static const char *const scope_opts[] = {NULL, "--project", "--tenant", "--user"};
    const char *v = NULL;
    if (strcmp(argv[*i], "--global") == 0) {
        a->r.scope = BUDGET_GLOBAL;
        a->scopes++;
        return 1;
    }
    for (int sc = BUDGET_PROJECT; sc < BUDGET_NSCOPES; sc++) {
        int r = cli_opt(argc, argv, i, scope_opts[sc], &v);
        if (r < 0)
            return CLI_USAGE_ERROR;
        if (r) {
            a->r.scope = (enum budget_scope)sc;
            a->subject_arg = v;
            a->scopes++;
            return 1;
        }
    }
    int r;
    if ((r = cli_opt(argc, argv, i, "--per", &v)) == 1) {
        int p = budgets_period_parse(v);
        if (p < 0)
            return usage_fail("--per is minute, hour, day or month, not '%s'", v);
        a->r.period = (enum budget_period)p;
        a->kinds |= 1;
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--usd", &v)) == 1) {
        if (budgets_parse_usd(v, &a->r.limit_nusd) != 0)
            return usage_fail("--usd is an amount of USD like 0.50 (up to 10000000, at most 9"
                              " decimals), not '%s'",
                              v);
        a->usd = v;
        a->kinds |= 1;
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--max-input-tokens", &v)) == 1) {
        if ((a->r.max_input_tokens = parse_count(v, BUDGETS_MAX_INPUT_TOKENS)) < 1)
            return usage_fail("--max-input-tokens is a number from 1 to 100000000, not '%s'", v);
        a->kinds |= 2;
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--max-tool-rounds", &v)) == 1) {
        if ((a->r.max_tool_rounds = parse_count(v, BUDGETS_MAX_TOOL_ROUNDS)) < 0)
            return usage_fail("--max-tool-rounds is a number from 0 to 100000, not '%s'", v);
        a->kinds |= 2;
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--breaker", &v)) == 1) {
        char *end;
        a->r.factor = strtod(v, &end);
        if (!*v || *end || !isfinite(a->r.factor))
            return usage_fail("--breaker is a factor like 5, not '%s'", v);
        a->kinds |= 4;
    }
    return r < 0 ? CLI_USAGE_ERROR : r;
}

/* The rule the options describe, checked; 0 or an exit code. */
static int finish_rule(struct set_args *a)
{
    static char none[] = "";
    if (a->scopes != 1)
        return usage_fail("%s", "budget set takes one of --global, --project P, --tenant T,"
                                " --user U");
    if (a->kinds != 1 && a->kinds != 2 && a->kinds != 4)
        return usage_fail("%s", "budget set takes --per and --usd, or --max-input-tokens /"
                                " --max-tool-rounds, or --breaker");
    a->r.kind = a->kinds == 1 ? BUDGET_SPEND : a->kinds == 2 ? BUDGET_CAP : BUDGET_BREAKER;
    if (a->r.kind == BUDGET_SPEND && (!a->usd || a->r.period == BUDGET_PER_NONE))
        return usage_fail("%s", "a spend budget needs both --per and --usd");
    if (a->r.kind == BUDGET_BREAKER)
        a->r.period = BUDGET_HOUR;
    a->r.subject = a->subject_arg ? (char *)a->subject_arg : none;
    char err[256];
    if (budgets_validate(&a->r, err, sizeof(err)) != 0)
        return usage_fail("%s", err);
    return 0;
}

static int set_body(const struct set_args *a, struct buf *b)
{
    const struct budget_rule *r = &a->r;
    int rc = buf_printf(
        b, "{\"op\":\"set\",\"scope\":\"%s\",\"subject\":", budgets_scope_name(r->scope));
    rc |= buf_json_str(b, r->subject);
    if (r->kind == BUDGET_SPEND) {
        rc |= buf_printf(b, ",\"per\":\"%s\",\"usd\":", budgets_period_name(r->period));
        rc |= buf_json_str(b, a->usd);
    } else if (r->kind == BUDGET_CAP) {
        if (r->max_input_tokens >= 0)
            rc |= buf_printf(b, ",\"max_input_tokens\":%lld", (long long)r->max_input_tokens);
        if (r->max_tool_rounds >= 0)
            rc |= buf_printf(b, ",\"max_tool_rounds\":%lld", (long long)r->max_tool_rounds);
    } else {
        rc |= buf_printf(b, ",\"factor\":%.15g", r->factor);
    }
    return rc | buf_putc(b, '}');
}

/* "user alice may spend $0.50 per day" and the like. */
static void describe(const struct set_args *a, char *out, size_t n)
{
    const struct budget_rule *r = &a->r;
    char who[300];
    if (r->scope == BUDGET_GLOBAL)
        snprintf(who, sizeof(who), "all projects together");
    else
        snprintf(who, sizeof(who), "%s %s", budgets_scope_name(r->scope), r->subject);
    if (r->kind == BUDGET_SPEND)
        snprintf(out, n, "%s may spend $%s per %s", who, a->usd, budgets_period_name(r->period));
    else if (r->kind == BUDGET_BREAKER)
        snprintf(out, n, "the spend breaker opens above %gx the hourly baseline", r->factor);
    else if (r->max_tool_rounds < 0)
        snprintf(out, n, "a request of %s may have at most %lld input tokens", who,
                 (long long)r->max_input_tokens);
    else if (r->max_input_tokens < 0)
        snprintf(out, n, "a request of %s may have at most %lld tool-call rounds", who,
                 (long long)r->max_tool_rounds);
    else
        snprintf(out, n,
                 "a request of %s may have at most %lld input tokens and %lld tool-call"
                 " rounds",
                 who, (long long)r->max_input_tokens, (long long)r->max_tool_rounds);
}

static int run_set(const char *db, struct set_args *a, int json)
{
    struct buf body, out;
    buf_init(&body, 0);
    buf_init(&out, HTTP_MAX);
    char err[600];
    int rc = set_body(a, &body) == BUF_OK ? admin(db, "POST", &body, &out, err, sizeof(err))
                                          : LT_INTERNAL;
    if (rc == LT_OK) {
        cJSON *j = jsonx_parse(buf_str(&out), out.len, err, sizeof(err));
        int64_t id = 0;
        if (j && jsonx_member_int64(j, "id", &id) == 0 && !json) {
            char what[600];
            describe(a, what, sizeof(what));
            printf("budget %lld: %s\n", (long long)id, what);
        } else if (json) {
            printf("%s\n", buf_str(&out));
        }
        cJSON_Delete(j);
    } else {
        cli_fail("budget", "%s", err);
    }
    buf_release(&body);
    buf_release(&out);
    return rc == LT_OK ? 0 : 1;
}

/* ---- list and rm ------------------------------------------------------------ */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void fmt_money(char *out, size_t n, double usd, int cents)
{
    if (cents && fabs(usd * 100 - round(usd * 100)) < 1e-6)
        snprintf(out, n, "$%.2f", usd);
    else
        snprintf(out, n, "$%.4f", usd);
}

/* The RULE column of one rule. */
static void rule_text(const cJSON *b, char *out, size_t n)
{
    const char *kind = jsonx_str(b, "kind"), *per = jsonx_str(b, "per");
    char m[40], base[96];
    if (kind && strcmp(kind, "spend") == 0) {
        fmt_money(m, sizeof(m), num(b, "usd"), 1);
        snprintf(out, n, "%s per %s", m, per ? per : "?");
    } else if (kind && strcmp(kind, "breaker") == 0) {
        if (num(b, "baseline_usd") < 0)
            snprintf(base, sizeof(base), "learning: under 24 hours of history");
        else {
            fmt_money(m, sizeof(m), num(b, "limit_usd"), 0);
            snprintf(base, sizeof(base), "now %s", m);
        }
        snprintf(out, n, "breaker: %gx the hourly baseline (%s)", num(b, "factor"), base);
    } else {
        double t = num(b, "max_input_tokens"), r = num(b, "max_tool_rounds");
        int k = snprintf(out, n, "per request:");
        if (t >= 0 && k > 0 && (size_t)k < n)
            k += snprintf(out + k, n - (size_t)k, " at most %.0f input tokens%s", t,
                          r >= 0 ? "," : "");
        if (r >= 0 && k > 0 && (size_t)k < n)
            snprintf(out + k, n - (size_t)k, " at most %.0f tool rounds", r);
    }
}

static void spent_text(const cJSON *b, char *out, size_t n)
{
    double spent = num(b, "spent_usd"), reserved = num(b, "reserved_usd");
    char s[40], r[40];
    if (spent < 0) {
        snprintf(out, n, "-");
        return;
    }
    fmt_money(s, sizeof(s), spent, 0);
    fmt_money(r, sizeof(r), reserved, 0);
    if (reserved > 0)
        snprintf(out, n, "%s (+%s reserved)", s, r);
    else
        snprintf(out, n, "%s", s);
}

#define NCOLS 6

/* One table row's cells (owned). */
static void row_cells(const cJSON *b, char *cells[NCOLS])
{
    char rule[256], spent[128];
    const char *subject = jsonx_str(b, "subject"), *scope = jsonx_str(b, "scope");
    rule_text(b, rule, sizeof(rule));
    spent_text(b, spent, sizeof(spent));
    cells[0] = xasprintf("%.0f", num(b, "id"));
    cells[1] = xstrdup(scope ? scope : "?");
    cells[2] = xstrdup(subject && *subject ? subject : "-");
    cells[3] = xstrdup(rule);
    cells[4] = xstrdup(spent);
    cells[5] = xasprintf("%.0f", num(b, "refused"));
}

static void print_table(const cJSON *list)
{
    static const char *const head[NCOLS] = {
        "ID", "SCOPE", "SUBJECT", "RULE", "SPENT THIS WINDOW", "REFUSED"};
    int n = cJSON_GetArraySize(list);
    if (n <= 0) {
        printf("no budget rules: nothing is refused\n");
        return;
    }
    char *(*cells)[NCOLS] = xcalloc((size_t)n, sizeof(*cells));
    int width[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(head[c]);
    for (int r = 0; r < n; r++) {
        row_cells(cJSON_GetArrayItem(list, r), cells[r]);
        for (int c = 0; c < NCOLS; c++)
            if ((int)strlen(cells[r][c]) > width[c])
                width[c] = (int)strlen(cells[r][c]);
    }
    for (int c = 0; c < NCOLS; c++)
        printf(c < NCOLS - 1 ? "%-*s  " : "%-*s\n", c < NCOLS - 1 ? width[c] : 0, head[c]);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < NCOLS; c++) {
            printf(c < NCOLS - 1 ? "%-*s  " : "%-*s\n", c < NCOLS - 1 ? width[c] : 0, cells[r][c]);
            free(cells[r][c]);
        }
    free(cells);
}

static int run_list(const char *db, int json)
{
    struct buf none, out;
    buf_init(&none, 0);
    buf_init(&out, HTTP_MAX);
    char err[600];
    int rc = admin(db, "GET", &none, &out, err, sizeof(err));
    cJSON *j = NULL;
    if (rc == LT_OK && !json && !(j = jsonx_parse(buf_str(&out), out.len, err, sizeof(err))))
        rc = LT_INTERNAL;
    if (rc != LT_OK)
        cli_fail("budget", "%s", err);
    else if (json)
        printf("%s\n", buf_str(&out));
    else
        print_table(cJSON_GetObjectItemCaseSensitive(j, "budgets"));
    cJSON_Delete(j);
    buf_release(&out);
    buf_release(&none);
    return rc == LT_OK ? 0 : 1;
}

static int run_rm(const char *db, const char *arg, int json)
{
    int64_t id = parse_count(arg, INT64_MAX);
    if (id < 1)
        return usage_fail("rm takes the rule's ID (a number `budget list` shows), not '%s'", arg);
    struct buf body, out;
    buf_init(&body, 0);
    buf_init(&out, HTTP_MAX);
    char err[600];
    int rc = buf_printf(&body, "{\"op\":\"rm\",\"id\":%lld}", (long long)id) == BUF_OK
                 ? admin(db, "POST", &body, &out, err, sizeof(err))
                 : LT_INTERNAL;
    if (rc != LT_OK)
        cli_fail("budget", "%s", err);
    else if (json)
        printf("%s\n", buf_str(&out));
    else
        printf("budget %lld removed\n", (long long)id);
    buf_release(&body);
    buf_release(&out);
    return rc == LT_OK ? 0 : 1;
}

int cmd_budget(int argc, char **argv)
{
    const char *db = NULL, *pos[2] = {NULL, NULL};
    int json = 0, npos = 0;
    struct set_args a;
    memset(&a, 0, sizeof(a));
    a.r.max_input_tokens = a.r.max_tool_rounds = -1;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, budget_usage, &db, &json);
        if (r == CLI_HELP)
            return 0;
        if (r == 0 && pos[0] && strcmp(pos[0], "set") == 0)
            r = set_opt(argc, argv, &i, &a);
        if (r > 1)
            return r; /* a message was printed */
        if (r < 0 || (r == 0 && (argv[i][0] == '-' || npos == 2))) {
            fprintf(stderr, "%s", budget_usage);
            return CLI_USAGE_ERROR;
        }
        if (r == 0)
            pos[npos++] = argv[i];
    }
    const char *verb = pos[0] ? pos[0] : "";
    const char *path = cli_db_path(db);
    if (strcmp(verb, "set") == 0 && npos == 1) {
        int rc = finish_rule(&a);
        return rc ? rc : run_set(path, &a, json);
    }
    if (strcmp(verb, "list") == 0 && npos == 1)
        return run_list(path, json);
    if (strcmp(verb, "rm") == 0 && npos == 2)
        return run_rm(path, pos[1], json);
    fprintf(stderr, "%s", budget_usage);
    return CLI_USAGE_ERROR;
}
