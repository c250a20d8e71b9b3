/*
 * sink: an evaluator command's writes, to a running server or into the
 * file (sink.h). Factored out of cmd_eval.c so `llmtap replay` writes the
 * same way.
 */
#include "cli/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "collector/native.h"
#include "collector/pipeline.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/evals.h"
#include "store/price_store.h"
#include "store/store.h"
#include "store/writer.h"

static int post(const char *url, const char *path, const char *body, size_t len, char *err,
                size_t errlen)
{
    char *endpoint = xasprintf("%s%s", url, path);
    struct buf resp;
    buf_init(&resp, 1u << 20);
    long status = 0;
    int rc =
        cli_http_post(endpoint, "application/json", NULL, body, len, &resp, &status, err, errlen);
    if (rc == 0 && (status < 200 || status >= 300)) {
        snprintf(err, errlen, "server answered %ld: %.300s", status, buf_str(&resp));
        rc = -1;
    }
    buf_release(&resp);
    free(endpoint);
    return rc;
}

int cli_sink_spans(void *ctx, struct span *spans, size_t n, char *err, size_t errlen)
{
    struct cli_sink *k = ctx;
    if (k->url) {
        struct buf b;
        buf_init(&b, 0);
        int rc = buf_putc(&b, '[');
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = (i && buf_putc(&b, ',')) || native_span_to_json(&spans[i], &b) != LT_OK;
        rc = rc || buf_putc(&b, ']');
        rc = rc ? (snprintf(err, errlen, "out of memory"), -1)
                : post(k->url, "/api/v1/spans", b.data, b.len, err, errlen);
        buf_release(&b);
        return rc;
    }
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (size_t i = 0; i < n; i++)
        span_move(&ingest_add_span(&b)->span, &spans[i]);
    int rc = pipeline_commit(k->pipe, &b, 0, RUNNER_EVAL_PROJECT, 1, err, errlen);
    ingest_batch_release(&b);
    return rc == LT_OK ? 0 : -1;
}

struct local_op {
    cJSON *j;
    struct buf answer;
};

static int local_op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct local_op *op = ctx;
    return evals_apply(db, op->j, &op->answer, err, errlen) != 0;
}

int cli_sink_op(void *ctx, const char *json, size_t len, char *err, size_t errlen)
{
    struct cli_sink *k = ctx;
    if (k->url)
        return post(k->url, "/api/v1/admin/evals", json, len, err, errlen);
    struct local_op op;
    char why[256];
    op.j = jsonx_parse(json, len, why, sizeof(why));
    if (!op.j) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    buf_init(&op.answer, 1u << 16);
    int rc = writer_run(k->w, local_op_fn, &op, err, errlen);
    buf_release(&op.answer);
    cJSON_Delete(op.j);
    return rc == LT_OK ? 0 : -1;
}

struct runner_sink cli_sink_runner(struct cli_sink *k)
{
    return (struct runner_sink){k, cli_sink_spans, cli_sink_op};
}

int cli_sink_open(struct cli_sink *k, const char *db, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    k->url = cli_find_server(db);
    if (!k->url) {
        struct price_table *prices = NULL;
        if (store_open(&k->st, db, STORE_READWRITE, err, errlen) != STORE_OK ||
            price_store_load(store_db(k->st), &prices, err, errlen) != 0)
            return -1;
        if (writer_start(&k->w, k->st, NULL, err, errlen) != LT_OK) {
            price_table_free(prices);
            return -1;
        }
        k->pipe = pipeline_new(k->w, prices);
    }
    if (store_open(&k->ro, db, STORE_READONLY, err, errlen) != STORE_OK ||
        price_store_load(store_db(k->ro), &k->prices, err, errlen) != 0)
        return -1;
    return 0;
}

void cli_sink_close(struct cli_sink *k)
{
    if (!k)
        return;
    store_close(k->ro);
    price_table_free(k->prices);
    pipeline_free(k->pipe);
    writer_stop(k->w);
    store_close(k->st);
    free(k->url);
    memset(k, 0, sizeof(*k));
}

void cli_upstream_table(const struct proxy_config *pc, struct runner_upstream *ups)
{
    for (size_t i = 0; i < pc->nupstreams; i++) {
        ups[i].name = pc->upstreams[i].name;
        ups[i].origin = pc->upstreams[i].origin;
        ups[i].anthropic = strncmp(pc->upstreams[i].name, "anthropic", 9) == 0;
    }
}
