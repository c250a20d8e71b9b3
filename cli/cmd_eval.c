/*
 * cmd_eval: `llmtap eval run|gate SUITE` and `llmtap eval online
 * add|list|rm` (issue 6). run executes a suite (evaluator/runner.h) and
 * reports; gate does the same and exits by the verdict (0 pass, 1
 * regression, 2 usage or configuration error; 130 when interrupted).
 * Results, cached answers and the evaluator's spans go to a running server
 * for the database (one writer) or, with none, into the file from this
 * process; reads (prompts, cache, stored traffic) use a read-only
 * connection either way.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sink.h"
#include "collector/native.h"
#include "collector/pipeline.h"
#include "collector/proxy.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "evaluator/gate.h"
#include "evaluator/runner.h"
#include "evaluator/scorer.h"
#include "evaluator/suite.h"
#include "store/evals.h"
#include "store/price_store.h"
#include "store/store.h"
#include "store/writer.h"

#define REPORT_MAX (256u << 20)

static const char eval_usage[] =
    "usage: llmtap eval run SUITE.json [options]      run a suite and report\n"
    "       llmtap eval gate SUITE.json [options]     run it and exit by the verdict:\n"
    "                                                 0 pass, 1 regression, 2 usage/config\n"
    "       llmtap eval online add NAME --sample S --scorers FILE|JSON [--project P]\n"
    "                  [--prompt NAME[@V]] [--upstream NAME] [--model M]\n"
    "       llmtap eval online list | rm NAME\n"
    "options:\n"
    "  --db PATH               the database (default $LLMTAP_DB, else ./llmtap.db)\n"
    "  --upstream NAME=ORIGIN  where model calls go (repeatable; as for serve; defaults\n"
    "                          openai=https://api.openai.com, "
    "anthropic=https://api.anthropic.com)\n"
    "  --baseline REF          the baseline variant's prompt (NAME@VERSION, NAME@LABEL or a file)\n"
    "  --candidate REF         the candidate variant's prompt\n"
    "  --min-score X           fail when the candidate's mean score is below X (0..1)\n"
    "  --max-regression D      allowed drop of the mean score (default 0)\n"
    "  --alpha A               1 - confidence of the interval (default 0.05)\n"
    "  --repeat N              run every case N times (flakiness: pass^N)\n"
    "  --concurrency N         calls in flight (default 8)\n"
    "  --no-cache              call the models even when an answer is cached\n"
    "  --junit FILE            JUnit XML: one testcase per case per scorer\n"
    "  --markdown FILE         a summary for a pull-request comment\n"
    "  --json FILE             the whole report as JSON ('-' for stdout)\n"
    "  --quiet                 no progress and no summary\n"
    "Provider keys come from OPENAI_API_KEY / ANTHROPIC_API_KEY and are never stored.\n"
    "The suite format is in docs/EVALS.md.\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct eval_opts {
    const char *db, *suite, *baseline, *candidate, *junit, *markdown, *json;
    double min_score, max_regression, alpha;
    int has_min, has_maxreg, has_alpha;
    int repeat, concurrency, no_cache, quiet;
    struct proxy_config up;
};

/* ---- options -------------------------------------------------------------------- */

static int num_opt(const char *name, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "llmtap eval: %s wants a number in [%g, %g], not '%s'\n", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int int_opt(const char *name, const char *v, int lo, int hi, int *out)
{
    double x;
    if (num_opt(name, v, lo, hi, &x) != 0 || x != floor(x))
        return -1;
    *out = (int)x;
    return 0;
}

/* One option at argv[*i]: 1 consumed, 0 not an option of ours, -1 error. */
static int one_opt(int argc, char **argv, int *i, struct eval_opts *o)
{
    const char *v;
    int r;
    char err[256];
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {{"--baseline", offsetof(struct eval_opts, baseline)},
                {"--candidate", offsetof(struct eval_opts, candidate)},
                {"--junit", offsetof(struct eval_opts, junit)},
                {"--markdown", offsetof(struct eval_opts, markdown)},
                {"--json", offsetof(struct eval_opts, json)}};
    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
        if ((r = cli_opt(argc, argv, i, strs[k].name, &v)) != 0) {
            if (r > 0)
                *(const char **)((char *)o + strs[k].off) = v;
            return r;
        }
    if ((r = cli_opt(argc, argv, i, "--upstream", &v)) != 0) {
        if (r > 0 && proxy_config_upstream(&o->up, v, err, sizeof(err)) != 0)
            return fprintf(stderr, "llmtap eval: %s\n", err), -1;
        return r;
    }
    if ((r = cli_opt(argc, argv, i, "--min-score", &v)) != 0)
        return r < 0 ? r
                     : (o->has_min = 1, num_opt("--min-score", v, 0, 1, &o->min_score) ? -1 : 1);
    if ((r = cli_opt(argc, argv, i, "--max-regression", &v)) != 0)
        return r < 0 ? r
                     : (o->has_maxreg = 1,
                        num_opt("--max-regression", v, 0, 1, &o->max_regression) ? -1 : 1);
    if ((r = cli_opt(argc, argv, i, "--alpha", &v)) != 0)
        return r < 0 ? r : (o->has_alpha = 1, num_opt("--alpha", v, 1e-6, 0.5, &o->alpha) ? -1 : 1);
    if ((r = cli_opt(argc, argv, i, "--repeat", &v)) != 0)
        return r < 0 ? r : int_opt("--repeat", v, 1, EVAL_MAX_REPEATS, &o->repeat) ? -1 : 1;
    if ((r = cli_opt(argc, argv, i, "--concurrency", &v)) != 0)
        return r < 0 ? r : int_opt("--concurrency", v, 1, 256, &o->concurrency) ? -1 : 1;
    if (strcmp(argv[*i], "--no-cache") == 0)
        return o->no_cache = 1;
    if (strcmp(argv[*i], "--quiet") == 0)
        return o->quiet = 1;
    return 0;
}

static int parse_opts(int argc, char **argv, struct eval_opts *o)
{
    memset(o, 0, sizeof(*o));
    proxy_config_default(&o->up);
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, eval_usage, &o->db, NULL);
        if (r == CLI_HELP)
            return CLI_HELP;
        if (r == 0)
            r = one_opt(argc, argv, &i, o);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "llmtap eval: unknown option '%s'\n%s", argv[i], eval_usage);
            return -1;
        }
        if (o->suite) {
            fprintf(stderr, "llmtap eval: one suite at a time ('%s' and '%s')\n", o->suite,
                    argv[i]);
            return -1;
        }
        o->suite = argv[i];
    }
    if (!o->suite) {
        fprintf(stderr, "llmtap eval: which suite?\n%s", eval_usage);
        return -1;
    }
    return 0;
}

/* ---- running -------------------------------------------------------------------- */

static int apply_overrides(struct suite *s, const struct eval_opts *o)
{
    char err[512];
    if ((o->baseline && suite_set_prompt(s, "baseline", o->baseline, err, sizeof(err)) != 0) ||
        (o->candidate && suite_set_prompt(s, "candidate", o->candidate, err, sizeof(err)) != 0)) {
        fprintf(stderr, "llmtap eval: %s\n", err);
        return -1;
    }
    if (o->has_min)
        s->min_score = o->min_score;
    if (o->has_maxreg)
        s->max_regression = o->max_regression;
    if (o->has_alpha)
        s->alpha = o->alpha;
    return 0;
}

static int write_file(const char *path, const struct eval_report *r, const struct gate_result *g,
                      int (*fn)(const struct eval_report *, const struct gate_result *, FILE *))
{
    int to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f)
        return cli_fail("eval", "cannot write %s", path);
    int rc = fn(r, g, f);
    if (!to_stdout && fclose(f) != 0)
        rc = -1;
    return rc ? cli_fail("eval", "cannot write %s", path) : 0;
}

static int json_file(const struct eval_report *r, const struct gate_result *g, FILE *f)
{
    struct buf b;
    buf_init(&b, REPORT_MAX);
    int rc = gate_write_json(r, g, &b);
    if (rc == 0 && (fwrite(b.data, 1, b.len, f) != b.len || fputc('\n', f) == EOF))
        rc = -1;
    buf_release(&b);
    return rc;
}

/* Keep the run in the store (the UI's /evals). */
static void save_run(struct cli_sink *k, const struct eval_report *r, const struct gate_result *g)
{
    struct buf b;
    buf_init(&b, REPORT_MAX);
    char err[512];
    int rc = buf_puts(&b, "{\"op\":\"save_run\",\"report\":") || gate_write_json(r, g, &b) ||
             buf_putc(&b, '}');
    if (rc != 0 || cli_sink_op(k, b.data, b.len, err, sizeof(err)) != 0)
        fprintf(stderr, "llmtap eval: warning: the run was not stored: %s\n",
                rc ? "the report is too large" : err);
    buf_release(&b);
}

static int outputs(const struct eval_opts *o, const struct eval_report *r,
                   const struct gate_result *g)
{
    int rc = 0;
    if (o->junit)
        rc |= write_file(o->junit, r, g, gate_write_junit);
    if (o->markdown)
        rc |= write_file(o->markdown, r, g, gate_write_markdown);
    if (o->json)
        rc |= write_file(o->json, r, g, json_file);
    if (!o->quiet && !(o->json && strcmp(o->json, "-") == 0))
        gate_write_text(r, g, stdout);
    return rc;
}

/* A variant none of whose calls succeeded: the upstream, the key or the
 * model is wrong, and a verdict would be meaningless. Says so. */
static int all_failed(const struct eval_report *r, const struct gate_result *g)
{
    for (size_t v = 0; v < r->nvariants; v++) {
        if (g->variants[v].calls == 0 || g->variants[v].failed < g->variants[v].calls)
            continue;
        const struct eval_output *o = eval_output_at(r, 0, v, 0);
        fprintf(stderr, "llmtap eval: every call of variant %s failed (upstream %s), e.g.: %s\n",
                r->variants[v].name, r->variants[v].upstream, o->error ? o->error : "not run");
        return 1;
    }
    return 0;
}

static int eval_suite(int gate, int argc, char **argv)
{
    struct eval_opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc == CLI_HELP)
        return 0;
    if (prc != 0)
        return CLI_USAGE_ERROR;
    char err[1024];
    struct suite *s = NULL;
    if (suite_load(o.suite, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "llmtap eval: %s\n", err);
        return CLI_USAGE_ERROR;
    }
    if (apply_overrides(s, &o) != 0) {
        suite_free(s);
        return CLI_USAGE_ERROR;
    }
    struct cli_sink k;
    if (cli_sink_open(&k, cli_db_path(o.db), err, sizeof(err)) != 0) {
        fprintf(stderr, "llmtap eval: %s\n", err);
        cli_sink_close(&k);
        suite_free(s);
        return CLI_USAGE_ERROR;
    }
    struct runner_upstream ups[PROXY_MAX_UPSTREAMS];
    cli_upstream_table(&o.up, ups);
    struct runner_config cfg = {0};
    cfg.upstreams = ups;
    cfg.nupstreams = o.up.nupstreams;
    cfg.concurrency = o.concurrency;
    cfg.repeat = o.repeat;
    cfg.no_cache = o.no_cache;
    cfg.progress = !o.quiet;
    cfg.db = store_db(k.ro);
    cfg.prices = k.prices;
    cfg.sink = cli_sink_runner(&k);
    cfg.interrupted = &interrupted;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    struct eval_report r;
    eval_report_init(&r);
    int rc = runner_run(&cfg, s, &r, err, sizeof(err));
    sigaction(SIGINT, &old, NULL);
    struct gate_result g;
    if (rc != 0) {
        fprintf(stderr, "llmtap eval: %s\n", err);
        rc = CLI_USAGE_ERROR;
    } else if (gate_evaluate(&r, &g) != 0) {
        fprintf(stderr, "llmtap eval: %s\n", g.reason);
        rc = CLI_USAGE_ERROR;
    } else {
        save_run(&k, &r, &g);
        rc = outputs(&o, &r, &g) ? CLI_USAGE_ERROR : 0;
        if (rc == 0 && !r.interrupted && all_failed(&r, &g))
            rc = CLI_USAGE_ERROR; /* an unreachable upstream or a bad key is no verdict */
        else if (rc == 0 && r.interrupted)
            rc = 130;
        else if (rc == 0 && gate && g.verdict == GATE_REGRESSION)
            rc = 1;
    }
    eval_report_release(&r);
    cli_sink_close(&k);
    suite_free(s);
    return rc;
}

/* ---- online rules --------------------------------------------------------------- */

/* The scorer specs of --scorers: inline JSON or a file; each is checked. */
static cJSON *read_scorers(const char *arg)
{
    char err[512];
    size_t len = strlen(arg);
    char *text =
        arg[0] == '[' || arg[0] == '{' ? xstrdup(arg) : cli_read_file(arg, &len, err, sizeof(err));
    if (!text) {
        cli_fail("eval", "%s", err);
        return NULL;
    }
    cJSON *j = jsonx_parse(text, len, err, sizeof(err));
    free(text);
    if (cJSON_IsObject(j)) { /* one spec */
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, j);
        j = a;
    }
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) == 0) {
        cli_fail("eval", "--scorers: want a JSON array of scorer specs%s%s", j ? "" : ": ",
                 j ? "" : err);
        cJSON_Delete(j);
        return NULL;
    }
    const cJSON *spec;
    int i = 0;
    cJSON_ArrayForEach(spec, j)
    {
        struct scorer *sc = NULL;
        if (scorer_parse(spec, &sc, err, sizeof(err)) != 0 ||
            scorer_needs(sc) == SCORER_NEEDS_PAIRWISE) {
            cli_fail("eval", "--scorers[%d]: %s", i,
                     sc ? "pairwise needs two variants: not for live traffic" : err);
            scorer_free(sc);
            cJSON_Delete(j);
            return NULL;
        }
        scorer_free(sc);
        i++;
    }
    return j;
}

static int online_op(const char *db, cJSON *op)
{
    char err[512];
    struct cli_sink k;
    int rc = cli_sink_open(&k, db, err, sizeof(err));
    char *text = jsonx_print(op);
    if (rc == 0)
        rc = cli_sink_op(&k, text, strlen(text), err, sizeof(err));
    free(text);
    cli_sink_close(&k);
    return rc ? cli_fail("eval", "%s", err) : 0;
}

static int online_add(int argc, char **argv, const char *name)
{
    const char *db = NULL, *v, *scorers = NULL;
    cJSON *rule = cJSON_CreateObject();
    cJSON_AddStringToObject(rule, "name", name);
    double sample = -1;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        int r = cli_common_opt(argc, argv, &i, eval_usage, &db, NULL);
        static const char *const strs[] = {"project", "prompt", "upstream", "model"};
        for (size_t k = 0; r == 0 && k < sizeof(strs) / sizeof(strs[0]); k++) {
            char opt[32];
            snprintf(opt, sizeof(opt), "--%s", strs[k]);
            if ((r = cli_opt(argc, argv, &i, opt, &v)) > 0)
                cJSON_AddStringToObject(rule, strs[k], v);
        }
        if (r == 0 && (r = cli_opt(argc, argv, &i, "--sample", &v)) > 0)
            r = num_opt("--sample", v, 1e-9, 1, &sample) ? -1 : 1;
        if (r == 0 && (r = cli_opt(argc, argv, &i, "--scorers", &v)) > 0)
            scorers = v;
        if (r == CLI_HELP)
            rc = -2;
        else if (r <= 0)
            rc = r < 0 ? -1 : (fprintf(stderr, "llmtap eval: unexpected '%s'\n", argv[i]), -1);
    }
    cJSON *specs = rc == 0 && scorers ? read_scorers(scorers) : NULL;
    if (rc == 0 && (!specs || sample < 0)) {
        if (!scorers || sample < 0)
            fprintf(stderr, "llmtap eval online add: --sample and --scorers are required\n");
        rc = -1;
    }
    if (rc == 0) {
        cJSON_AddNumberToObject(rule, "sample", sample);
        cJSON_AddItemToObject(rule, "scorers", specs);
        specs = NULL;
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", "online_add");
        cJSON_AddItemToObject(op, "rule", rule);
        rule = NULL;
        rc = online_op(cli_db_path(db), op);
        cJSON_Delete(op);
        if (rc == 0)
            printf("online rule %s added\n", name);
    }
    cJSON_Delete(specs);
    cJSON_Delete(rule);
    return rc == -2 ? 0 : rc == -1 ? CLI_USAGE_ERROR : rc;
}

static int print_rule(void *ctx, const struct evals_online_rule *r)
{
    int json = *(int *)ctx;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "project", r->project);
        if (r->prompt_name)
            cJSON_AddStringToObject(o, "prompt", r->prompt_name);
        if (r->prompt_version > 0)
            cJSON_AddNumberToObject(o, "prompt_version", (double)r->prompt_version);
        cJSON_AddNumberToObject(o, "sample", r->sample);
        cJSON_AddItemToObject(o, "scorers", cJSON_Parse(r->scorers));
        char *t = jsonx_print(o);
        printf("%s\n", t);
        free(t);
        cJSON_Delete(o);
    } else {
        char prompt[200] = "*";
        if (r->prompt_name && r->prompt_version > 0)
            snprintf(prompt, sizeof(prompt), "%s@%lld", r->prompt_name,
                     (long long)r->prompt_version);
        else if (r->prompt_name)
            snprintf(prompt, sizeof(prompt), "%s", r->prompt_name);
        printf("%-20s project=%-12s prompt=%-16s sample=%g scorers=%s\n", r->name, r->project,
               prompt, r->sample, r->scorers);
    }
    return 0;
}

static int online_list(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    int rc = cli_only_common_opts("eval online list", argc, argv, eval_usage, &db, &json);
    if (rc >= 0)
        return rc;
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("eval", "%s", err);
    rc = evals_online_list(store_db(st), print_rule, &json) ? cli_fail("eval", "cannot list") : 0;
    store_close(st);
    return rc;
}

static int online(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "list") == 0)
        return online_list(argc - 1, argv + 1);
    if ((strcmp(verb, "add") == 0 || strcmp(verb, "rm") == 0) && argc > 2 && argv[2][0] != '-') {
        if (strcmp(verb, "add") == 0)
            return online_add(argc - 2, argv + 2, argv[2]);
        const char *db = NULL;
        int rc = cli_only_common_opts("eval online rm", argc - 2, argv + 2, eval_usage, &db, NULL);
        if (rc >= 0)
            return rc;
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", "online_rm");
        cJSON_AddStringToObject(op, "name", argv[2]);
        rc = online_op(cli_db_path(db), op);
        cJSON_Delete(op);
        if (rc == 0)
            printf("online rule %s removed\n", argv[2]);
        return rc;
    }
    fprintf(stderr, "%s", eval_usage);
    return CLI_USAGE_ERROR;
}

int cmd_eval(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "run") == 0 || strcmp(verb, "gate") == 0)
        return eval_suite(strcmp(verb, "gate") == 0, argc - 1, argv + 1);
    if (strcmp(verb, "online") == 0)
        return online(argc - 1, argv + 1);
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        fputs(eval_usage, stdout);
        return 0;
    }
    fprintf(stderr, "%s", eval_usage);
    return CLI_USAGE_ERROR;
}
