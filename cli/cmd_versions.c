/*
 * cmd_versions: `llmtap versions compare|list` (issue 7 item 3). Reads the
 * database read-only (DESIGN.md §5) through store/vcompare.h. compare exits
 * 1 when some metric got significantly worse, so it can gate a deploy; 0
 * otherwise; 2 on a usage error, an unknown project or version_set.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "store/vcompare.h"

#define NS_PER_HOUR 3600000000000LL

static const char usage[] =
    "usage: llmtap versions compare [A B] [--project P] [--since T] [--until T] [--alpha X]\n"
    "                               [--seed N] [--db PATH] [--json]\n"
    "       llmtap versions list [--project P] [--db PATH] [--json]\n"
    "\n"
    "compare: version_set B (candidate) against A (baseline) of one project on cost per call,\n"
    "tokens per call, latency p50/p95, TTFT p95, error rate and every eval score, each\n"
    "difference with a confidence interval and a verdict. Without A and B: the newest\n"
    "version_set (by first call) against the one before it; without --project: the project\n"
    "with the most recent calls among those with two version_sets or more. --alpha is the chance "
    "(default 0.05) that two equal\n"
    "version_sets show any \"worse\" (the intervals are Bonferroni-adjusted). T: ISO 8601,\n"
    "a duration back from now (\"7d\") or unix ns.\n"
    "Exit: 0 no metric got worse, 1 some did (a regression), 2 usage error or unknown name.\n"
    "list: the project's version_sets, oldest first.\n";

struct args {
    const char *db, *project, *a, *b;
    int json;
    struct vcompare_opts o;
};

/* "llmtap versions: <what> '<v>'" and the usage on stderr; exit code 2. */
static int bad(const char *what, const char *v)
{
    fprintf(stderr, "llmtap versions: %s '%s'\n%s", what, v, usage);
    return CLI_USAGE_ERROR;
}

/* One option at argv[*i] into 'x': 1 consumed, 0 not an option of ours,
 * else the exit code to return (CLI_HELP: 0). */
static int parse_opt(int argc, char **argv, int *i, struct args *x)
{
    const char *v = NULL;
    int r = cli_common_opt(argc, argv, i, usage, &x->db, &x->json);
    if (r != 0)
        return r == CLI_HELP ? -CLI_HELP : r < 0 ? -CLI_USAGE_ERROR : 1;
    if ((r = cli_opt(argc, argv, i, "--project", &x->project)) != 0)
        return r < 0 ? -CLI_USAGE_ERROR : 1;
    if ((r = cli_opt(argc, argv, i, "--alpha", &v)) != 0) {
        char *end = NULL;
        x->o.alpha = r > 0 ? strtod(v, &end) : NAN;
        return r > 0 && end && *end == 0 && x->o.alpha > 0 && x->o.alpha <= 0.5
                   ? 1
                   : -bad("--alpha must be a number in (0, 0.5], not", r > 0 ? v : "");
    }
    if ((r = cli_opt(argc, argv, i, "--seed", &v)) != 0) {
        char *end = NULL;
        x->o.seed = r > 0 ? strtoull(v, &end, 10) : 0;
        return r > 0 && end && *end == 0 && *v
                   ? 1
                   : -bad("--seed must be a number, not", r > 0 ? v : "");
    }
    const char *when[2] = {"--since", "--until"};
    int64_t *slot[2] = {&x->o.from_ns, &x->o.to_ns};
    for (int k = 0; k < 2; k++)
        if ((r = cli_opt(argc, argv, i, when[k], &v)) != 0)
            return r > 0 && time_parse_when(v, time_now_ns(), slot[k]) == 0
                       ? 1
                       : -bad("not a time:", r > 0 ? v : "");
    return 0;
}

/* argv[1..] (argv[0] the verb) into 'x'; -1 to go on, else the exit code. */
static int parse(int argc, char **argv, struct args *x, int names_ok)
{
    vcompare_opts_default(&x->o);
    for (int i = 1; i < argc; i++) {
        int r = parse_opt(argc, argv, &i, x);
        if (r == 1)
            continue;
        if (r < 0)
            return r == -CLI_HELP ? 0 : -r;
        if (argv[i][0] == '-' || !names_ok || (x->a && x->b))
            return bad("unexpected argument", argv[i]);
        if (!x->a)
            x->a = argv[i];
        else
            x->b = argv[i];
    }
    if (x->a && !x->b)
        return bad("give both A and B, or neither; only A is", x->a);
    return -1;
}

static const char *fmt_value(char *dst, size_t n, double v, enum vcompare_unit u)
{
    if (isnan(v))
        snprintf(dst, n, "-");
    else if (u == VCOMPARE_USD)
        snprintf(dst, n, "$%.6f", v);
    else if (u == VCOMPARE_MS)
        snprintf(dst, n, "%.1f ms", v);
    else if (u == VCOMPARE_RATIO)
        snprintf(dst, n, "%.2f %%", 100 * v);
    else if (u == VCOMPARE_TOKENS)
        snprintf(dst, n, "%.1f", v);
    else
        snprintf(dst, n, "%.3f", v);
    return dst;
}

/* A signed difference in the metric's unit (ratios in percentage points). */
static const char *fmt_signed(char *dst, size_t n, double v, enum vcompare_unit u)
{
    if (isnan(v))
        snprintf(dst, n, "-");
    else if (u == VCOMPARE_USD)
        snprintf(dst, n, "%+.6f", v);
    else if (u == VCOMPARE_SCORE)
        snprintf(dst, n, "%+.3f", v);
    else
        snprintf(dst, n, "%+.1f", u == VCOMPARE_RATIO ? 100 * v : v);
    return dst;
}

/* "+12.3 [+5.0, +20.1]", or the difference alone without an interval. */
static const char *fmt_delta(char *dst, size_t n, const struct vcompare_metric *m)
{
    char d[40], lo[40], hi[40];
    fmt_signed(d, sizeof(d), m->delta, m->unit);
    if (isnan(m->lo))
        snprintf(dst, n, "%s", d);
    else
        snprintf(dst, n, "%s [%s, %s]", d, fmt_signed(lo, sizeof(lo), m->lo, m->unit),
                 fmt_signed(hi, sizeof(hi), m->hi, m->unit));
    return dst;
}

static void print_table(const struct vcompare_result *r)
{
    printf("project %s: B %s against A %s (%" PRId64 " and %" PRId64 " calls)\n", r->project, r->b,
           r->a, r->calls_b, r->calls_a);
    printf("intervals at %.2f %% each (alpha %.3g over %d metrics)\n\n", 100 * r->level, r->alpha,
           r->tested);
    printf("%-24s %14s %14s  %-36s %s\n", "metric", "A", "B", "B - A [interval]", "verdict");
    for (size_t i = 0; i < r->n; i++) {
        const struct vcompare_metric *m = &r->m[i];
        char a[40], b[40], d[160];
        printf("%-24s %14s %14s  %-36s %s\n", m->name, fmt_value(a, sizeof(a), m->a, m->unit),
               fmt_value(b, sizeof(b), m->b, m->unit), fmt_delta(d, sizeof(d), m),
               vcompare_verdict_text(m->verdict));
    }
    if (r->worse)
        printf("\nregression: %d metric%s significantly worse\n", r->worse,
               r->worse > 1 ? "s" : "");
}

static int print_json(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
    return s ? 0 : 1;
}

/* The exit code when no comparison could be made (unknown names, bad
 * options, an unreadable store): 2, never 1, which means "regression". */
static int fail_code(int rc, const char *err)
{
    (void)rc;
    fprintf(stderr, "llmtap versions: %s\n", err);
    return CLI_USAGE_ERROR;
}

static int do_compare(struct store *st, struct args *x)
{
    char err[512] = "";
    struct vcompare_result r;
    x->o.project = x->project;
    x->o.a = x->a;
    x->o.b = x->b;
    int rc = vcompare_run(store_db(st), &x->o, &r, err, sizeof(err));
    int code;
    if (rc != VCOMPARE_OK)
        code = fail_code(rc, err);
    else {
        if (x->json)
            (void)print_json(vcompare_json(&r));
        else
            print_table(&r);
        code = r.worse > 0 ? 1 : 0;
    }
    vcompare_result_release(&r);
    return code;
}

static cJSON *list_json(const struct vcompare_list *l)
{
    cJSON *o = cJSON_CreateObject(), *arr;
    cJSON_AddStringToObject(o, "project", l->project);
    arr = cJSON_AddArrayToObject(o, "version_sets");
    for (size_t i = 0; i < l->n; i++) {
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "version_set", l->v[i].version_set);
        cJSON_AddNumberToObject(v, "first_hour_ns", (double)(l->v[i].first_hour * NS_PER_HOUR));
        cJSON_AddNumberToObject(v, "last_hour_ns", (double)(l->v[i].last_hour * NS_PER_HOUR));
        cJSON_AddNumberToObject(v, "calls", (double)l->v[i].calls);
        cJSON_AddItemToArray(arr, v);
    }
    return o;
}

static int do_list(struct store *st, struct args *x)
{
    char err[512] = "";
    struct vcompare_list l;
    int rc = vcompare_list_vsets(store_db(st), x->project, x->o.from_ns, x->o.to_ns, 0, &l, err,
                                 sizeof(err));
    int code = 0;
    if (rc != VCOMPARE_OK)
        code = fail_code(rc, err);
    else if (x->json)
        code = print_json(list_json(&l));
    else {
        printf("project %s\n%-20s %-20s %10s  %s\n", l.project, "first seen", "last seen", "calls",
               "version_set");
        for (size_t i = 0; i < l.n; i++) {
            char f[40], t[40];
            time_format_iso(l.v[i].first_hour * NS_PER_HOUR, f, sizeof(f));
            time_format_iso(l.v[i].last_hour * NS_PER_HOUR, t, sizeof(t));
            printf("%-20.16s %-20.16s %10" PRId64 "  %s\n", f, t, l.v[i].calls,
                   l.v[i].version_set[0] ? l.v[i].version_set : "(none)");
        }
    }
    vcompare_list_release(&l);
    return code;
}

int cmd_versions(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE_ERROR : 0;
    }
    int compare = strcmp(argv[1], "compare") == 0;
    if (!compare && strcmp(argv[1], "list") != 0)
        return bad("unknown subcommand", argv[1]);
    struct args x = {0};
    int code = parse(argc - 1, argv + 1, &x, compare);
    if (code >= 0)
        return code;
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, cli_db_path(x.db), STORE_READONLY, err, sizeof(err)) != STORE_OK) {
        fprintf(stderr, "llmtap versions: %s\n", err);
        return CLI_USAGE_ERROR;
    }
    code = compare ? do_compare(st, &x) : do_list(st, &x);
    store_close(st);
    return code;
}
