/*
 * cmd_compact: `llmtap compact` — move every hot span into columnar
 * segments now (the server also does this on its own, keeping only the
 * newest spans hot). With a server running on the database the work is
 * handed to it (one writer, DESIGN.md §5); otherwise this process opens
 * the file read-write and runs the same bounded steps itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/xmem.h"
#include "store/store.h"
#include "store/writer.h"

static const char compact_usage[] =
    "usage: llmtap compact [--db PATH] [--json]\n"
    "\n"
    "Move every hot span into columnar segments now, in bounded transactions. A running\n"
    "server on the same database does the work; otherwise this command does. Prints how\n"
    "many spans moved and how many segments the store has.\n";

static int via_server(const char *url, int json)
{
    char err[512];
    char *endpoint = xasprintf("%s/api/v1/admin/compact", url);
    struct buf resp;
    buf_init(&resp, 1u << 16);
    long status = 0;
    int rc =
        cli_http_post(endpoint, "application/json", NULL, "", 0, &resp, &status, err, sizeof(err));
    free(endpoint);
    if (rc == 0 && status != 200)
        rc = cli_fail("compact", "server answered %ld: %.300s", status, buf_str(&resp));
    else if (rc != 0)
        rc = cli_fail("compact", "%s", err);
    else if (json)
        printf("%s\n", buf_str(&resp));
    else
        printf("compacted by the server at %s: %s\n", url, buf_str(&resp));
    buf_release(&resp);
    return rc ? 1 : 0;
}

static int in_process(const char *db, int json)
{
    char err[512];
    struct store *st = NULL;
    struct writer *w = NULL;
    if (store_open(&st, db, STORE_READWRITE, err, sizeof(err)) != STORE_OK)
        return cli_fail("compact", "%s", err);
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1; /* only the steps asked for here */
    cfg.text_block_keep = 1;   /* every text packed that fills a block, but the newest: */
    /* texts take max(id) + 1, so the newest row must stay (store/retention.c) */
    if (writer_start(&w, st, &cfg, err, sizeof(err)) != LT_OK) {
        store_close(st);
        return cli_fail("compact", "%s", err);
    }
    int64_t moved = 0, indexed = 0;
    int rc = writer_catch_up(w, &moved, &indexed, err, sizeof(err));
    struct writer_stats ws;
    writer_get_stats(w, &ws);
    writer_stop(w);
    store_close(st);
    if (rc != LT_OK)
        return cli_fail("compact", "%s", err);
    if (json)
        printf("{\"status\":\"ok\",\"compacted\":%lld,\"indexed\":%lld,\"hot_spans\":%lld,"
               "\"segments\":%zu}\n",
               (long long)moved, (long long)indexed, (long long)ws.hot_rows, ws.segments);
    else
        printf("compacted %lld spans, indexed %lld texts; %lld hot, %zu segments\n",
               (long long)moved, (long long)indexed, (long long)ws.hot_rows, ws.segments);
    return 0;
}

int cmd_compact(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    int done = cli_only_common_opts("compact", argc, argv, compact_usage, &db, &json);
    if (done >= 0)
        return done;
    const char *path = cli_db_path(db);
    char *url = cli_find_server(path);
    int rc = url ? via_server(url, json) : in_process(path, json);
    free(url);
    return rc;
}
