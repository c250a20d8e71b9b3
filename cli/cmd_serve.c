/*
 * cmd_serve: `llmtap serve`. Starts the server, records its address beside
 * the database (so CLI writers hand their work to it), and waits for
 * SIGINT/SIGTERM, then drains, commits and exits 0. Signals are taken with
 * sigwait in the main thread: every other thread has them blocked.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sink.h"
#include "collector/server.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "core/jsonx.h"
#include "evaluator/alert.h"
#include "evaluator/online.h"
#include "evaluator/replay.h"
#include "store/alerts.h"
#include "store/evals.h"
#include "store/price_store.h"
#include "store/store.h"
#include "ui/ui.h"

static const char serve_usage[] =
    "usage: llmtap serve [--db PATH] [--listen HOST:PORT] [options]\n"
    "\n"
    "  --db PATH             database file (env LLMTAP_DB; default ./llmtap.db)\n"
    "  --listen HOST:PORT    address (env LLMTAP_LISTEN; default 127.0.0.1:4318; port 0 = any)\n"
    "  --threads N           HTTP worker threads (default 32)\n"
    "  --max-body BYTES      request body cap after gunzip (default 67108864 = 64 MiB)\n"
    "  --body-timeout DUR    whole-body deadline for slow senders (default 30s)\n"
    "  --queue N             spans waiting for the writer before 503 (default 200000)\n"
    "  --log-level LEVEL     debug | info | warn | error (default info)\n"
    "  --upstream NAME=URL   where /proxy/NAME/ forwards to (repeatable; defaults\n"
    "                        openai=https://api.openai.com, anthropic=https://api.anthropic.com;\n"
    "                        names starting with 'anthropic' speak Anthropic's dialect)\n"
    "  --upstream-timeout DUR  an upstream silent this long: 504 UPSTREAM_TIMEOUT (default 10m)\n"
    "  --connect-timeout DUR   connecting to an upstream (default 10s)\n"
    "  --ui-dir DIR          read the UI's templates and CSS from DIR/templates and DIR/static\n"
    "                        on every request (edit and reload) instead of the compiled-in ones\n"
    "  --demo                on an empty database, first load a week of generated traffic\n"
    "  --alert-interval DUR  how often the alert rules are evaluated (default 1m)\n"
    "  --webhook-secret-file PATH  the secret that signs alert webhooks (X-LLMTap-Signature);\n"
    "                        else env LLMTAP_WEBHOOK_SECRET, else one generated and kept in the\n"
    "                        database (`llmtap alert secret` prints it)\n"
    "\n"
    "Routes: POST /v1/traces, /v1/logs (OTLP/HTTP JSON or protobuf, gzip), POST /api/v1/spans\n"
    "(native JSON / NDJSON), POST /api/public/ingestion (Langfuse), GET /healthz, /readyz, "
    "/metrics;\n/proxy/NAME/... forwards to upstream NAME "
    "(OPENAI_BASE_URL=http://HOST/proxy/openai/v1,\n"
    "ANTHROPIC_BASE_URL=http://HOST/proxy/anthropic); the web UI at / (traces, costs, versions).\n";

/* Loopback only until projects, keys and an admin user exist (DESIGN.md §10). */
static int is_loopback_listen(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0;
}

static int write_server_file(const char *db, const char *url)
{
    char *path = store_server_file(db);
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        fprintf(f, "{\"url\":\"%s\",\"pid\":%ld,\"started_ns\":\"%lld\"}\n", url, (long)getpid(),
                (long long)time_now_ns());
        rc = fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    }
    if (rc)
        log_msg(LOG_WARN, "serve", "cannot write '%s': %s", path, strerror(errno));
    free(tmp);
    free(path);
    return rc;
}

struct serve_opts {
    const char *db, *ui_dir, *secret_file;
    int demo;
    int64_t alert_interval_ns;
};

/* A positive duration ("30s", "500ms", "10m") in milliseconds. */
static int parse_ms(const char *v, int64_t *ms)
{
    int64_t ns;
    if (!v || time_parse_duration(v, &ns) != 0 || ns < 1000000)
        return -1;
    *ms = ns / 1000000;
    return 0;
}

static int parse_serve_args(int argc, char **argv, struct server_config *cfg, struct serve_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(serve_usage, stdout);
            exit(0);
        }
        if ((r = cli_opt(argc, argv, &i, "--db", &v)) != 0)
            o->db = v;
        else if ((r = cli_opt(argc, argv, &i, "--ui-dir", &v)) != 0)
            o->ui_dir = v;
        else if (strcmp(argv[i], "--demo") == 0)
            o->demo = 1;
        else if ((r = cli_opt(argc, argv, &i, "--webhook-secret-file", &v)) != 0)
            o->secret_file = v;
        else if ((r = cli_opt(argc, argv, &i, "--alert-interval", &v)) != 0) {
            if (r > 0 && (time_parse_duration(v, &o->alert_interval_ns) != 0 ||
                          o->alert_interval_ns < 100000000LL))
                r = -1,
                fprintf(stderr, "llmtap serve: bad --alert-interval '%s' (at least 100ms)\n", v);
        } else if ((r = cli_opt(argc, argv, &i, "--listen", &v)) != 0)
            cfg->listen = v;
        else if ((r = cli_opt(argc, argv, &i, "--threads", &v)) != 0)
            cfg->threads = atoi(v ? v : "0");
        else if ((r = cli_opt(argc, argv, &i, "--max-body", &v)) != 0)
            cfg->max_body = (size_t)strtoull(v ? v : "0", NULL, 10);
        else if ((r = cli_opt(argc, argv, &i, "--queue", &v)) != 0)
            cfg->writer.queue_max_records = (size_t)strtoull(v ? v : "0", NULL, 10);
        else if ((r = cli_opt(argc, argv, &i, "--upstream", &v)) != 0) {
            char err[600];
            if (r > 0 && proxy_config_upstream(&cfg->proxy, v, err, sizeof(err)) != 0)
                r = -1, fprintf(stderr, "llmtap serve: %s\n", err);
        } else if ((r = cli_opt(argc, argv, &i, "--upstream-timeout", &v)) != 0) {
            if (r > 0 && parse_ms(v, &cfg->proxy.timeout_ms) != 0)
                r = -1, fprintf(stderr, "llmtap serve: bad --upstream-timeout '%s'\n", v);
        } else if ((r = cli_opt(argc, argv, &i, "--connect-timeout", &v)) != 0) {
            if (r > 0 && parse_ms(v, &cfg->proxy.connect_timeout_ms) != 0)
                r = -1, fprintf(stderr, "llmtap serve: bad --connect-timeout '%s'\n", v);
        } else if ((r = cli_opt(argc, argv, &i, "--body-timeout", &v)) != 0) {
            int64_t ns;
            if (v && time_parse_duration(v, &ns) == 0 && ns > 0)
                cfg->body_timeout_ms = ns / 1000000;
            else
                r = -1, fprintf(stderr, "llmtap serve: bad --body-timeout '%s'\n", v ? v : "");
        } else if ((r = cli_opt(argc, argv, &i, "--log-level", &v)) != 0) {
            if (v && log_set_level(v) != 0)
                r = -1, fprintf(stderr, "llmtap serve: unknown log level '%s'\n", v);
        } else {
            fprintf(stderr, "llmtap serve: unknown option '%s'\n%s", argv[i], serve_usage);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (cfg->threads <= 0 || cfg->max_body == 0 || cfg->writer.queue_max_records == 0) {
        fprintf(stderr, "llmtap serve: --threads, --max-body and --queue must be positive\n");
        return -1;
    }
    return 0;
}

/* The online evaluator beside the server: it is told of every commit and
 * commits its scores through the server. 'o' is set once it runs and
 * cleared before it stops. */
struct online_hook {
    struct online *o;
    struct server *srv;
};

static void on_commit(void *arg, const struct ingest_batch *b)
{
    struct online_hook *h = arg;
    online_offer(__atomic_load_n(&h->o, __ATOMIC_ACQUIRE), b);
}

static int online_commit(void *arg, struct ingest_batch *b, char *err, size_t errlen)
{
    struct online_hook *h = arg;
    return server_commit(h->srv, b, err, errlen) == LT_OK ? 0 : -1;
}

static struct online *online_start(struct online_hook *h, const struct server_config *cfg,
                                   struct runner_upstream *ups)
{
    cli_upstream_table(&cfg->proxy, ups);
    struct online_config oc = {.db_path = cfg->db_path,
                               .upstreams = ups,
                               .nupstreams = cfg->proxy.nupstreams,
                               .commit = online_commit,
                               .commit_arg = h};
    char err[512];
    struct online *o = NULL;
    if (online_new(&o, &oc, err, sizeof(err)) != 0)
        log_msg(LOG_WARN, "serve", "online evaluation is off: %s", err);
    __atomic_store_n(&h->o, o, __ATOMIC_RELEASE);
    return o;
}

/* The UI's replay form (ui/ui.h ui_replay_fn): evaluator/replay.h with the
 * server's upstreams, its spans committed through server_commit and the
 * replays row and scores through the server's writer. 'srv' is set once
 * the server runs. */
struct replay_hook {
    struct server *srv;
    const char *db_path;
    struct runner_upstream ups[PROXY_MAX_UPSTREAMS];
    size_t nups;
};

static int hook_spans(void *arg, struct span *spans, size_t n, char *err, size_t errlen)
{
    struct replay_hook *h = arg;
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (size_t i = 0; i < n; i++)
        span_move(&ingest_add_span(&b)->span, &spans[i]);
    int rc = server_commit(h->srv, &b, err, errlen);
    ingest_batch_release(&b);
    return rc == LT_OK ? 0 : -1;
}

struct hook_op {
    cJSON *j;
    struct buf answer;
};

static int hook_op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct hook_op *op = ctx;
    return evals_apply(db, op->j, &op->answer, err, errlen) != 0;
}

static int hook_op(void *arg, const char *json, size_t len, char *err, size_t errlen)
{
    struct replay_hook *h = arg;
    struct hook_op op;
    op.j = jsonx_parse(json, len, err, errlen);
    if (!op.j)
        return -1;
    buf_init(&op.answer, 1u << 16);
    int rc = server_write(h->srv, hook_op_fn, &op, err, errlen);
    buf_release(&op.answer);
    cJSON_Delete(op.j);
    return rc == LT_OK ? 0 : -1;
}

static int ui_replay(void *arg, const char *trace_id, const char *span_id, const char *prompt,
                     const char *model, char id[17], char *err, size_t errlen)
{
    struct replay_hook *h = arg;
    struct store *ro = NULL;
    struct price_table *prices = NULL;
    struct replay_result res;
    replay_result_init(&res);
    int rc = -1;
    if (!__atomic_load_n(&h->srv, __ATOMIC_ACQUIRE)) {
        snprintf(err, errlen, "the server is starting");
        goto fail;
    }
    if (store_open(&ro, h->db_path, STORE_READONLY, err, errlen) != STORE_OK ||
        price_store_load(store_db(ro), &prices, err, errlen) != 0)
        goto fail;
    struct replay_config cfg = {.upstreams = h->ups,
                                .nupstreams = h->nups,
                                .db = store_db(ro),
                                .prices = prices,
                                .sink = {h, hook_spans, hook_op},
                                .timeout_ms = 60000}; /* a worker thread waits */
    struct replay_request req = {
        .trace_id = trace_id, .span_id = span_id, .prompt = prompt, .model = model};
    if (replay_run(&cfg, &req, &res, err, errlen) != 0)
        goto fail;
    if (res.store_failed || res.report.ncases != 1) {
        snprintf(err, errlen, "the replay was not stored: %s", res.store_error);
        goto fail;
    }
    memcpy(id, res.cases[0].id, 17);
    rc = 0;
fail:
    replay_result_release(&res);
    price_table_free(prices);
    store_close(ro);
    return rc;
}

/* ---- alerts --------------------------------------------------------------- */

static int alert_write(void *arg, writer_fn fn, void *ctx, char *err, size_t errlen)
{
    return server_write(arg, fn, ctx, err, errlen) == LT_OK ? 0 : -1;
}

static int secret_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    if (alerts_secret_ensure(db, ctx) == 0)
        return 0;
    snprintf(err, errlen, "cannot keep the webhook secret: %s", sqlite3_errmsg(db));
    return -1;
}

/* The webhook secret: the file's contents (trailing white space dropped),
 * else $LLMTAP_WEBHOOK_SECRET, else the one kept in the database (made
 * now when there is none). Caller frees; NULL with a message. */
static char *webhook_secret(struct server *srv, const char *file, char *err, size_t errlen)
{
    char *secret = NULL;
    const char *env = getenv("LLMTAP_WEBHOOK_SECRET");
    if (file) {
        size_t len = 0;
        if (!(secret = cli_read_file(file, &len, err, errlen)))
            return NULL;
        while (len && (secret[len - 1] == '\n' || secret[len - 1] == '\r' ||
                       secret[len - 1] == ' ' || secret[len - 1] == '\t'))
            secret[--len] = '\0';
    } else if (env && *env) {
        secret = xstrdup(env);
    } else {
        secret = xcalloc(1, ALERTS_SECRET_HEX + 1);
        if (server_write(srv, secret_fn, secret, err, errlen) != LT_OK) {
            free(secret);
            return NULL;
        }
    }
    if (!*secret) {
        snprintf(err, errlen, "the webhook secret is empty");
        free(secret);
        return NULL;
    }
    return secret;
}

static struct alert_engine *alerts_start(struct server *srv, const struct server_config *cfg,
                                         const struct serve_opts *o)
{
    char err[512];
    char *secret = webhook_secret(srv, o->secret_file, err, sizeof(err));
    struct alert_engine *e = NULL;
    if (secret) {
        struct alert_config ac = {.db_path = cfg->db_path,
                                  .interval_ns = o->alert_interval_ns,
                                  .secret = secret,
                                  .secret_len = strlen(secret),
                                  .write = alert_write,
                                  .write_arg = srv};
        if (alert_engine_new(&e, &ac, err, sizeof(err)) != 0)
            e = NULL;
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    if (!e)
        log_msg(LOG_WARN, "serve", "alerts are off: %s", err);
    return e;
}

int cmd_serve(int argc, char **argv)
{
    struct server_config cfg;
    server_config_default(&cfg);
    const char *env_listen = getenv("LLMTAP_LISTEN");
    if (env_listen && *env_listen)
        cfg.listen = env_listen;
    struct serve_opts o = {0};
    if (parse_serve_args(argc, argv, &cfg, &o) != 0)
        return CLI_USAGE_ERROR;
    cfg.db_path = cli_db_path(o.db);
    if (!is_loopback_listen(cfg.listen))
        return cli_fail("serve",
                        "refusing to listen on %s: beyond loopback the UI and the admin API need "
                        "admin users and sessions, which this version does not have yet; "
                        "listen on 127.0.0.1 and put a reverse proxy in front",
                        cfg.listen);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every thread started below */
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    struct ui *ui = NULL;
    static struct replay_hook rhook; /* outlives the server's threads */
    rhook.db_path = cfg.db_path;
    rhook.nups = cfg.proxy.nupstreams;
    cli_upstream_table(&cfg.proxy, rhook.ups);
    struct ui_config ucfg = {
        .db_path = cfg.db_path, .ui_dir = o.ui_dir, .replay = ui_replay, .replay_arg = &rhook};
    if (ui_new(&ui, &ucfg, err, sizeof(err)) != 0)
        return cli_fail("serve", "%s", err);
    cfg.mount = ui_mount;
    cfg.mount_arg = ui;
    cfg.root = ui_root;
    struct online_hook hook = {0};
    cfg.on_commit = on_commit;
    cfg.on_commit_arg = &hook;
    struct server *srv = NULL;
    if (server_start(&srv, &cfg, err, sizeof(err)) != 0) {
        ui_free(ui);
        return cli_fail("serve", "%s", err);
    }
    hook.srv = srv;
    __atomic_store_n(&rhook.srv, srv, __ATOMIC_RELEASE);
    struct runner_upstream ups[PROXY_MAX_UPSTREAMS];
    struct online *online = online_start(&hook, &cfg, ups);
    struct alert_engine *alerts = alerts_start(srv, &cfg, &o);
    write_server_file(cfg.db_path, server_url(srv));
    log_msg(LOG_INFO, "serve", "listening on %s db=%s", server_url(srv), cfg.db_path);
    if (o.demo)
        demo_load(cfg.db_path, server_url(srv));

    int sig = 0;
    sigwait(&sigs, &sig);
    log_msg(LOG_INFO, "serve", "%s: draining and committing", sig == SIGINT ? "SIGINT" : "SIGTERM");
    online_stop(online); /* no scores after this: the server can stop */
    alert_engine_free(alerts);
    server_stop(srv);
    online_free(online);
    ui_free(ui);
    char *path = store_server_file(cfg.db_path);
    unlink(path);
    free(path);
    log_msg(LOG_INFO, "serve", "stopped cleanly");
    return 0;
}
