/*
 * cmd_replay: `llmtap replay` (issue 7): one stored call, or a batch drawn
 * from stored traffic, re-run with another prompt version
 * (evaluator/replay.h) and compared with what was answered. Writes (the
 * new spans, the replays rows, the scores) go to a running server for the
 * database or into the file (cli/sink.h: one writer either way). Exit 0
 * when the replays ran, 1 when every replayed call failed, 2 on a usage or
 * configuration error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sink.h"
#include "collector/proxy.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "evaluator/replay.h"
#include "store/store.h"

#define JSON_MAX (256u << 20)

static const char replay_usage[] =
    "usage: llmtap replay TRACE_ID[:SPAN_ID] --prompt NAME@VERSION [options]\n"
    "       llmtap replay --from \"prompt=NAME@V [since=24h] [sample=50] [project=P]\"\n"
    "                     --prompt NAME@VERSION [options]\n"
    "Re-renders the stored call's prompt variables with the given version (a call stored\n"
    "without variables: its stored input with the version's system message, mode\n"
    "system_swap), calls the upstream the original used, stores the new span linked to the\n"
    "original (replay_of), scores both, and prints the comparison. Without SPAN_ID: the\n"
    "trace's first LLM span. --from replays a sample of stored calls and prints the\n"
    "aggregate (mean scores with intervals, win/tie/loss, cost and latency deltas).\n"
    "options:\n"
    "  --db PATH               the database (default $LLMTAP_DB, else ./llmtap.db)\n"
    "  --upstream NAME=ORIGIN  where the calls go, by the original's provider name\n"
    "                          (repeatable; defaults openai=https://api.openai.com,\n"
    "                          anthropic=https://api.anthropic.com)\n"
    "  --model M               another model (default: the original call's, else the version's)\n"
    "  --param K=V             a request parameter over the version's (V as JSON, else text)\n"
    "  --concurrency N         calls in flight for --from (default 8)\n"
    "  --json                  the comparison as JSON on stdout\n"
    "Scorers: the version's \"scorers\" array, else offline `similar` against the original\n"
    "output. Provider keys come from OPENAI_API_KEY / ANTHROPIC_API_KEY, never stored.\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct replay_opts {
    const char *db, *target, *from, *prompt, *model;
    int json, concurrency;
    cJSON *params;
    struct proxy_config up;
    char trace_id[33], span_id[17];
};

/* "K=V" into o->params: V as JSON when it parses, else as a string. */
static int add_param(struct replay_opts *o, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return cli_fail("replay", "--param wants K=V, not '%s'", kv), -1;
    char *key = xstrndup(kv, (size_t)(eq - kv));
    cJSON *v = cJSON_Parse(eq + 1);
    if (!v)
        v = cJSON_CreateString(eq + 1);
    cJSON_DeleteItemFromObjectCaseSensitive(o->params, key);
    cJSON_AddItemToObject(o->params, key, v);
    free(key);
    return 0;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* TRACE_ID[:SPAN_ID] into o->trace_id / o->span_id. */
static int parse_target(struct replay_opts *o)
{
    const char *t = o->target, *colon = strchr(t, ':');
    size_t tl = colon ? (size_t)(colon - t) : strlen(t);
    if (tl != 32 || !is_hex(t, 32) ||
        (colon && (strlen(colon + 1) != 16 || !is_hex(colon + 1, 16))))
        return cli_fail("replay", "want TRACE_ID (32 hex) or TRACE_ID:SPAN_ID, not '%s'", t), -1;
    memcpy(o->trace_id, t, 32);
    if (colon)
        memcpy(o->span_id, colon + 1, 16);
    return 0;
}

/* One option at argv[*i]: 1 consumed, 0 not ours, -1 error. */
static int one_opt(int argc, char **argv, int *i, struct replay_opts *o)
{
    const char *v;
    int r;
    char err[600];
    if ((r = cli_opt(argc, argv, i, "--from", &v)) != 0)
        return r > 0 ? (o->from = v, 1) : r;
    if ((r = cli_opt(argc, argv, i, "--prompt", &v)) != 0)
        return r > 0 ? (o->prompt = v, 1) : r;
    if ((r = cli_opt(argc, argv, i, "--model", &v)) != 0)
        return r > 0 ? (o->model = v, 1) : r;
    if ((r = cli_opt(argc, argv, i, "--param", &v)) != 0)
        return r > 0 ? (add_param(o, v) ? -1 : 1) : r;
    if ((r = cli_opt(argc, argv, i, "--concurrency", &v)) != 0) {
        if (r > 0 && ((o->concurrency = atoi(v)) < 1 || o->concurrency > 256))
            return cli_fail("replay", "--concurrency wants 1..256"), -1;
        return r;
    }
    if ((r = cli_opt(argc, argv, i, "--upstream", &v)) != 0) {
        if (r > 0 && proxy_config_upstream(&o->up, v, err, sizeof(err)) != 0)
            return cli_fail("replay", "%s", err), -1;
        return r;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct replay_opts *o)
{
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, replay_usage, &o->db, &o->json);
        if (r == CLI_HELP)
            return CLI_HELP;
        if (r == 0)
            r = one_opt(argc, argv, &i, o);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if ((argv[i][0] == '-' && argv[i][1]) || o->target) {
            fprintf(stderr, "llmtap replay: unexpected '%s'\n%s", argv[i], replay_usage);
            return -1;
        }
        o->target = argv[i];
    }
    if (!o->prompt || (!o->target == !o->from)) {
        fprintf(stderr, "llmtap replay: want a stored call (or --from) and --prompt\n%s",
                replay_usage);
        return -1;
    }
    return o->target ? parse_target(o) : 0;
}

static int print_result(const struct replay_opts *o, const struct replay_result *res)
{
    if (!o->json) {
        replay_write_text(res, stdout);
        return 0;
    }
    struct buf b;
    buf_init(&b, JSON_MAX);
    int rc = replay_write_json(res, &b);
    if (rc == 0)
        fwrite(b.data, 1, b.len, stdout);
    buf_release(&b);
    return rc ? cli_fail("replay", "the report is too large") : 0;
}

/* Print the comparison; 1 when every replayed call failed or nothing was
 * stored, else 0. */
static int exit_code(const struct replay_opts *o, const struct replay_result *res)
{
    if (print_result(o, res) != 0)
        return CLI_USAGE_ERROR;
    const struct gate_variant *v = &res->gate.variants[1];
    if (v->calls && v->failed == v->calls) {
        const struct eval_output *out = eval_output_at(&res->report, 0, 1, 0);
        fprintf(stderr, "llmtap replay: the replayed call%s failed: %s\n",
                v->calls > 1 ? "s all" : "", out->error ? out->error : "not run");
        return 1;
    }
    return res->store_failed ? 1 : 0;
}

static int run(struct replay_opts *o)
{
    char err[1024];
    struct cli_sink k;
    if (cli_sink_open(&k, cli_db_path(o->db), err, sizeof(err)) != 0) {
        cli_sink_close(&k);
        fprintf(stderr, "llmtap replay: %s\n", err);
        return CLI_USAGE_ERROR;
    }
    struct runner_upstream ups[PROXY_MAX_UPSTREAMS];
    cli_upstream_table(&o->up, ups);
    char *params = o->params->child ? jsonx_print(o->params) : NULL;
    struct replay_config cfg = {.upstreams = ups,
                                .nupstreams = o->up.nupstreams,
                                .db = store_db(k.ro),
                                .prices = k.prices,
                                .sink = cli_sink_runner(&k),
                                .concurrency = o->concurrency,
                                .progress = o->from && !o->json,
                                .interrupted = &interrupted};
    struct replay_request req = {.trace_id = o->target ? o->trace_id : NULL,
                                 .span_id = o->span_id[0] ? o->span_id : NULL,
                                 .from = o->from,
                                 .prompt = o->prompt,
                                 .model = o->model,
                                 .params = params};
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    struct replay_result res;
    replay_result_init(&res);
    int rc = replay_run(&cfg, &req, &res, err, sizeof(err));
    sigaction(SIGINT, &old, NULL);
    if (rc != 0)
        fprintf(stderr, "llmtap replay: %s\n", err);
    rc = rc != 0 ? CLI_USAGE_ERROR : exit_code(o, &res);
    replay_result_release(&res);
    free(params);
    cli_sink_close(&k);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    struct replay_opts o;
    memset(&o, 0, sizeof(o));
    proxy_config_default(&o.up);
    o.params = cJSON_CreateObject();
    int rc = parse_opts(argc, argv, &o);
    rc = rc == CLI_HELP ? 0 : rc != 0 ? CLI_USAGE_ERROR : run(&o);
    cJSON_Delete(o.params);
    return rc;
}
