/*
 * cmd_alert: `llmtap alert add|list|rm|test|secret` (store/alerts.h,
 * evaluator/alert.h, docs/ALERTS.md). Changes (add, rm, and making the
 * webhook secret) are operation documents handed to a running server
 * (POST /api/v1/admin/alerts), else applied here over the database's own
 * writer: one writer either way. `list` reads the database read-only.
 * `test` sends one signed delivery from this process and prints its
 * outcome.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/webhook.h"
#include "store/alerts.h"
#include "store/store.h"
#include "store/writer.h"

static const char alert_usage[] =
    "usage: llmtap alert add NAME --metric spend|tokens|calls|error_rate|p95_latency\n"
    "                 [--project P | --tenant T | --user U | --model M | --version-set V]\n"
    "                 --window 5m|1h|1d (--above X | --anomaly [--factor F]) [--webhook URL]\n"
    "       llmtap alert list [--json]\n"
    "       llmtap alert rm NAME\n"
    "       llmtap alert test NAME [--webhook-secret-file PATH]\n"
    "       llmtap alert secret\n"
    "  every form takes --db PATH.\n"
    "\n"
    "A rule watches one metric of all traffic (no scope option) or of one project, tenant, user,\n"
    "model or version_set over the last WINDOW (5m, 1h and 1d are the usual windows; any of 10s\n"
    "to 7d is accepted). --above X fires when the value exceeds X: USD for spend ($ optional),\n"
    "a count for tokens and calls, a share for error_rate (0.05 or 5%), ms for p95_latency.\n"
    "--anomaly fires when the value is above F x (default 5) the median of the same window of\n"
    "the last 8 weeks (same hour of the week) and above median + 3 x 1.4826 x MAD; it needs 3\n"
    "of those weeks with traffic first. States: OK, FIRING, NO_DATA (no calls in the window),\n"
    "RESOLVED. Entering FIRING, and its RESOLVED or NO_DATA, POST a signed JSON body to the\n"
    "webhook (http or https), retried with backoff up to 6 attempts. `alert secret` prints the\n"
    "signing secret the server generated when none was configured (serve --webhook-secret-file,\n"
    "env LLMTAP_WEBHOOK_SECRET); `alert test` signs with the same choice.\n";

#define HTTP_MAX (1u << 20)

/* ---- the admin operation ------------------------------------------------------- */

struct local_op {
    const cJSON *j;
    struct buf answer;
};

static int local_op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct local_op *op = ctx;
    buf_reset(&op->answer);
    return alerts_apply(db, op->j, &op->answer, err, errlen) != 0;
}

/* 'op' applied here, over a writer of our own. */
static int in_process(const char *db, const cJSON *op, struct buf *out, char *err, size_t errlen)
{
    struct store *st = NULL;
    struct writer *w = NULL;
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1; /* only the change asked for */
    struct local_op lo = {op, {0}};
    buf_init(&lo.answer, HTTP_MAX);
    int rc = store_open(&st, db, STORE_READWRITE, err, errlen) == STORE_OK ? LT_OK : LT_UNAVAILABLE;
    if (rc == LT_OK)
        rc = writer_start(&w, st, &cfg, err, errlen);
    if (rc == LT_OK)
        rc = writer_run(w, local_op_fn, &lo, err, errlen);
    if (rc == LT_OK && buf_append(out, lo.answer.data, lo.answer.len) != BUF_OK)
        rc = LT_INTERNAL;
    writer_stop(w);
    store_close(st);
    buf_release(&lo.answer);
    return rc;
}

/* 'op' through the running server, else here. LT_OK with the answer in 'out'. */
static int apply_op(const char *db, const cJSON *op, struct buf *out, char *err, size_t errlen)
{
    char *url = cli_find_server(db);
    if (!url)
        return in_process(db, op, out, err, errlen);
    char *endpoint = xasprintf("%s/api/v1/admin/alerts", url);
    char *text = jsonx_print(op);
    long status = 0;
    int rc = cli_http_post(endpoint, "application/json", NULL, text, strlen(text), out, &status,
                           err, errlen) == 0
                 ? LT_OK
                 : LT_UNAVAILABLE;
    if (rc == LT_OK && status != 200) {
        cli_server_error(out, status, err, errlen);
        rc = LT_INVALID_INPUT;
    }
    free(text);
    free(endpoint);
    free(url);
    return rc;
}

/* ---- add ------------------------------------------------------------------------- */

/* A threshold of 'metric' from user text ("$5", "5%", "800ms", "1000"). */
static int parse_threshold(enum alerts_metric metric, const char *v, double *out)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    char *s = buf, *end;
    size_t n = strlen(s);
    int pct = 0;
    if (metric == ALERTS_SPEND && *s == '$')
        s++;
    if (metric == ALERTS_ERROR_RATE && n && s[n - 1] == '%')
        s[n - 1] = '\0', pct = 1;
    if (metric == ALERTS_P95_LATENCY && n > 2 && strcmp(s + n - 2, "ms") == 0)
        s[n - 2] = '\0';
    double d = strtod(s, &end);
    if (!*s || *end || !isfinite(d) || d < 0)
        return -1;
    *out = pct ? d / 100 : d;
    return 0;
}

struct add_args {
    const char *metric, *window, *above, *factor, *webhook, *subject;
    int scope, scopes, anomaly;
};

static int add_opt(int argc, char **argv, int *i, struct add_args *a)
{
    static const char *const scope_opts[] = {NULL,     "--project", "--tenant",
                                             "--user", "--model",   "--version-set"};
    const char *v = NULL;
    int r;
    for (int sc = ALERTS_PROJECT; sc < ALERTS_NSCOPES; sc++)
        if ((r = cli_opt(argc, argv, i, scope_opts[sc], &v)) != 0) {
            a->scope = sc;
            a->subject = v;
            a->scopes++;
            return r;
        }
    if (strcmp(argv[*i], "--anomaly") == 0)
        return a->anomaly = 1;
    const struct {
        const char *name;
        const char **slot;
    } opts[] = {{"--metric", &a->metric},
                {"--window", &a->window},
                {"--above", &a->above},
                {"--factor", &a->factor},
                {"--webhook", &a->webhook}};
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
        if ((r = cli_opt(argc, argv, i, opts[k].name, opts[k].slot)) != 0)
            return r;
    return 0;
}

/* The rule document of 'a'; NULL after a usage message. */
static cJSON *add_rule(const char *name, const struct add_args *a)
{
    int metric = alerts_metric_parse(a->metric);
    int64_t ns = 0;
    double threshold = ALERTS_DEFAULT_FACTOR;
    const char *why = NULL;
    if (metric < 0)
        why = "--metric is spend, tokens, calls, error_rate or p95_latency";
    else if (a->scopes > 1)
        why = "give at most one of --project, --tenant, --user, --model, --version-set";
    else if (!a->window || time_parse_duration(a->window, &ns) != 0 || ns % 1000000000LL)
        why = "--window is a duration like 5m, 1h or 1d";
    else if (!!a->above == a->anomaly)
        why = "give one of --above X and --anomaly";
    else if (a->factor && !a->anomaly)
        why = "--factor goes with --anomaly";
    else if (a->above && parse_threshold((enum alerts_metric)metric, a->above, &threshold) != 0)
        why = "--above is a number (spend: USD; error_rate: 0.05 or 5%; p95_latency: ms)";
    else if (a->factor && parse_threshold(ALERTS_CALLS, a->factor, &threshold) != 0)
        why = "--factor is a number like 5";
    if (why) {
        fprintf(stderr, "llmtap alert: %s\n", why);
        return NULL;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "metric", a->metric);
    cJSON_AddStringToObject(r, "scope", alerts_scope_name((enum alerts_scope)a->scope));
    if (a->subject)
        cJSON_AddStringToObject(r, "subject", a->subject);
    cJSON_AddNumberToObject(r, "window_s", (double)(ns / 1000000000LL));
    cJSON_AddStringToObject(r, "mode", a->anomaly ? "anomaly" : "above");
    cJSON_AddNumberToObject(r, a->anomaly ? "factor" : "threshold", threshold);
    if (a->webhook)
        cJSON_AddStringToObject(r, "webhook", a->webhook);
    return r;
}

static int run_add(int argc, char **argv, const char *name)
{
    const char *db = NULL;
    struct add_args a;
    memset(&a, 0, sizeof(a));
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, alert_usage, &db, NULL);
        if (r == CLI_HELP)
            return 0;
        if (r == 0)
            r = add_opt(argc, argv, &i, &a);
        if (r <= 0) {
            if (r == 0)
                fprintf(stderr, "llmtap alert: unexpected '%s'\n", argv[i]);
            return CLI_USAGE_ERROR;
        }
    }
    cJSON *rule = add_rule(name, &a);
    if (!rule)
        return CLI_USAGE_ERROR;
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "add");
    cJSON_AddItemToObject(op, "rule", rule);
    struct buf out;
    buf_init(&out, HTTP_MAX);
    char err[600];
    int rc = apply_op(cli_db_path(db), op, &out, err, sizeof(err));
    if (rc == LT_OK)
        printf("alert %s %s\n", name,
               strstr(buf_str(&out), "\"replaced\":true") ? "replaced" : "added");
    cJSON_Delete(op);
    buf_release(&out);
    if (rc == LT_INVALID_INPUT)
        return cli_fail("alert", "%s", err), CLI_USAGE_ERROR;
    return rc == LT_OK ? 0 : cli_fail("alert", "%s", err);
}

/* ---- rm, secret ------------------------------------------------------------------ */

static int run_rm(int argc, char **argv, const char *name)
{
    const char *db = NULL;
    int rc = cli_only_common_opts("alert rm", argc, argv, alert_usage, &db, NULL);
    if (rc >= 0)
        return rc;
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "rm");
    cJSON_AddStringToObject(op, "name", name);
    struct buf out;
    buf_init(&out, HTTP_MAX);
    char err[600];
    rc = apply_op(cli_db_path(db), op, &out, err, sizeof(err));
    cJSON_Delete(op);
    int removed = rc == LT_OK && strstr(buf_str(&out), "\"removed\":true") != NULL;
    buf_release(&out);
    if (rc != LT_OK)
        return cli_fail("alert", "%s", err);
    if (!removed)
        return cli_fail("alert", "no alert rule named '%s'", name);
    printf("alert %s removed\n", name);
    return 0;
}

/* The stored secret, made when there is none. Caller frees; NULL (message printed). */
static char *stored_secret(const char *db)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "secret");
    struct buf out;
    buf_init(&out, HTTP_MAX);
    char err[600];
    char *secret = NULL;
    int rc = apply_op(db, op, &out, err, sizeof(err));
    cJSON *j = rc == LT_OK ? jsonx_parse(buf_str(&out), out.len, err, sizeof(err)) : NULL;
    const char *s = j ? jsonx_str(j, "secret") : NULL;
    if (s)
        secret = xstrdup(s);
    else
        cli_fail("alert", "%s", rc == LT_OK ? "the answer has no secret" : err);
    cJSON_Delete(j);
    cJSON_Delete(op);
    buf_release(&out);
    return secret;
}

static int run_secret(int argc, char **argv)
{
    const char *db = NULL;
    int rc = cli_only_common_opts("alert secret", argc, argv, alert_usage, &db, NULL);
    if (rc >= 0)
        return rc;
    char *s = stored_secret(cli_db_path(db));
    if (!s)
        return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

/* ---- list ------------------------------------------------------------------------- */

static void rule_json(cJSON *arr, const struct alerts_rule *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "metric", alerts_metric_name(r->metric));
    cJSON_AddStringToObject(o, "scope", alerts_scope_name(r->scope));
    cJSON_AddStringToObject(o, "subject", r->subject);
    cJSON_AddNumberToObject(o, "window_s", (double)r->window_s);
    cJSON_AddStringToObject(o, "mode", alerts_mode_name(r->mode));
    cJSON_AddNumberToObject(o, r->mode == ALERTS_ANOMALY ? "factor" : "threshold", r->threshold);
    if (r->webhook)
        cJSON_AddStringToObject(o, "webhook", r->webhook);
    cJSON_AddStringToObject(o, "state", alerts_state_name(r->state));
    if (!isnan(r->last_value))
        cJSON_AddNumberToObject(o, "value", r->last_value);
    if (!isnan(r->last_baseline))
        cJSON_AddNumberToObject(o, "baseline", r->last_baseline);
    if (r->last_eval_ns) {
        char t[40];
        time_format_iso(r->last_eval_ns, t, sizeof(t));
        cJSON_AddStringToObject(o, "last_eval", t);
    }
    if (r->firing_key)
        cJSON_AddStringToObject(o, "dedup_key", r->firing_key);
    cJSON_AddItemToArray(arr, o);
}

static int delivery_json(void *ctx, const struct alerts_delivery *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)d->id);
    cJSON_AddStringToObject(o, "rule", d->rule ? d->rule : "");
    cJSON_AddStringToObject(o, "event", d->to_state ? d->to_state : "");
    cJSON_AddNumberToObject(o, "attempt", (double)d->attempt);
    cJSON_AddStringToObject(o, "outcome", d->outcome ? d->outcome : "");
    if (d->status)
        cJSON_AddNumberToObject(o, "status", (double)d->status);
    if (d->error)
        cJSON_AddStringToObject(o, "error", d->error);
    char t[40];
    time_format_iso(d->time_ns ? d->time_ns : d->next_ns, t, sizeof(t));
    cJSON_AddStringToObject(o, d->time_ns ? "time" : "due", t);
    cJSON_AddItemToArray(ctx, o);
    return 0;
}

static void print_rule(const struct alerts_rule *r)
{
    char w[32], v[64], b[64], what[400], when[40] = "never";
    if (r->scope == ALERTS_GLOBAL)
        snprintf(what, sizeof(what), "%s", alerts_metric_name(r->metric));
    else
        snprintf(what, sizeof(what), "%s %s=%s", alerts_metric_name(r->metric),
                 alerts_scope_name(r->scope), r->subject);
    if (r->last_eval_ns)
        time_format_iso(r->last_eval_ns, when, sizeof(when));
    char rule[128];
    if (r->mode == ALERTS_ANOMALY)
        snprintf(rule, sizeof(rule), "anomaly %gx", r->threshold);
    else
        snprintf(rule, sizeof(rule), "above %s",
                 webhook_fmt_value(b, sizeof(b), r->metric, r->threshold));
    printf("%-22s %-9s %-30s %-5s %-18s value=%s baseline=%s last=%s\n", r->name,
           alerts_state_name(r->state), what, webhook_fmt_window(w, sizeof(w), r->window_s), rule,
           webhook_fmt_value(v, sizeof(v), r->metric, r->last_value),
           webhook_fmt_value(b, sizeof(b), r->metric, r->last_baseline), when);
}

static int print_delivery(void *ctx, const struct alerts_delivery *d)
{
    (void)ctx;
    char t[40], res[300];
    time_format_iso(d->time_ns ? d->time_ns : d->next_ns, t, sizeof(t));
    if (d->status)
        snprintf(res, sizeof(res), "HTTP %lld", (long long)d->status);
    else
        snprintf(res, sizeof(res), "%.280s", d->error ? d->error : "-");
    printf("  %-22s %-9s attempt %lld  %-8s %s  %s\n", d->rule ? d->rule : "",
           d->to_state ? d->to_state : "", (long long)d->attempt, d->outcome ? d->outcome : "", t,
           d->time_ns ? res : "(due)");
    return 0;
}

static int run_list(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    int rc = cli_only_common_opts("alert list", argc, argv, alert_usage, &db, &json);
    if (rc >= 0)
        return rc;
    char err[512];
    struct store *st = NULL;
    struct alerts_rule *rules = NULL;
    size_t n = 0;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK ||
        alerts_rules(store_db(st), &rules, &n, err, sizeof(err)) != 0) {
        store_close(st);
        return cli_fail("alert", "%s", err);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "rules");
        for (size_t i = 0; i < n; i++)
            rule_json(arr, &rules[i]);
        rc = alerts_deliveries(store_db(st), NULL, 50, delivery_json,
                               cJSON_AddArrayToObject(o, "deliveries"));
        char *t = jsonx_print(o);
        printf("%s\n", t);
        free(t);
        cJSON_Delete(o);
    } else {
        for (size_t i = 0; i < n; i++)
            print_rule(&rules[i]);
        if (n == 0)
            printf("no alert rules\n");
        printf("recent deliveries (newest first):\n");
        rc = alerts_deliveries(store_db(st), NULL, 20, print_delivery, NULL);
    }
    alerts_rules_free(rules, n);
    store_close(st);
    return rc ? cli_fail("alert", "cannot read the deliveries") : 0;
}

/* ---- test ----------------------------------------------------------------------------- */

/* The secret `serve` would sign with: the file, the environment, the stored one. */
static char *signing_secret(const char *db, const char *file)
{
    const char *env = getenv("LLMTAP_WEBHOOK_SECRET");
    if (!file && env && *env)
        return xstrdup(env);
    if (!file)
        return stored_secret(db);
    char err[512];
    size_t len = 0;
    char *s = cli_read_file(file, &len, err, sizeof(err));
    if (!s) {
        cli_fail("alert", "%s", err);
        return NULL;
    }
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    return s;
}

static int send_test(const struct alerts_rule *r, const char *secret)
{
    char key[ALERTS_NAME_MAX + 24], rnd[17];
    ids_random(8, rnd);
    snprintf(key, sizeof(key), "%s-test-%s", r->name, rnd);
    struct webhook_event e = {r->name,      "TEST",           r->metric,   r->scope,
                              r->subject,   r->mode,          r->window_s, r->last_value,
                              r->threshold, r->last_baseline, key,         time_now_ns()};
    struct buf body;
    buf_init(&body, HTTP_MAX);
    if (webhook_body(&e, &body) != BUF_OK) {
        buf_release(&body);
        return cli_fail("alert", "cannot build the body");
    }
    struct webhook_req req = {r->webhook,     body.data, body.len, secret,
                              strlen(secret), key,       "TEST",   0};
    struct webhook_result res;
    int rc = webhook_post(&req, &res);
    buf_release(&body);
    if (rc != 0)
        return cli_fail("alert", "%s", res.error);
    if (webhook_ok(&res)) {
        printf("delivered to %s: HTTP %ld (dedup key %s)\n", r->webhook, res.status, key);
        return 0;
    }
    if (res.status)
        return cli_fail("alert", "delivery to %s failed: HTTP %ld", r->webhook, res.status);
    return cli_fail("alert", "delivery to %s failed: %s", r->webhook, res.error);
}

static int run_test(int argc, char **argv, const char *name)
{
    const char *db = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, alert_usage, &db, NULL);
        if (r == CLI_HELP)
            return 0;
        if (r == 0)
            r = cli_opt(argc, argv, &i, "--webhook-secret-file", &file);
        if (r <= 0) {
            if (r == 0)
                fprintf(stderr, "llmtap alert: unexpected '%s'\n", argv[i]);
            return CLI_USAGE_ERROR;
        }
    }
    char err[512];
    struct store *st = NULL;
    struct alerts_rule rule;
    memset(&rule, 0, sizeof(rule));
    const char *path = cli_db_path(db);
    if (store_open(&st, path, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("alert", "%s", err);
    int found = alerts_get(store_db(st), name, &rule);
    store_close(st);
    if (found <= 0)
        return cli_fail("alert", found ? "cannot read the rules" : "no alert rule named '%s'",
                        name);
    int rc;
    char *secret = NULL;
    if (!rule.webhook)
        rc = cli_fail("alert", "rule %s has no webhook", name);
    else if (!(secret = signing_secret(path, file)))
        rc = 1;
    else
        rc = send_test(&rule, secret);
    free(secret);
    alerts_rule_release(&rule);
    return rc;
}

int cmd_alert(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    int named = argc > 2 && argv[2][0] != '-';
    if (strcmp(verb, "list") == 0)
        return run_list(argc - 1, argv + 1);
    if (strcmp(verb, "secret") == 0)
        return run_secret(argc - 1, argv + 1);
    if (strcmp(verb, "add") == 0 && named)
        return run_add(argc - 2, argv + 2, argv[2]);
    if (strcmp(verb, "rm") == 0 && named)
        return run_rm(argc - 2, argv + 2, argv[2]);
    if (strcmp(verb, "test") == 0 && named)
        return run_test(argc - 2, argv + 2, argv[2]);
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        fputs(alert_usage, stdout);
        return 0;
    }
    fprintf(stderr, "%s", alert_usage);
    return CLI_USAGE_ERROR;
}
