/*
 * cmd_key: `llmtap key create|list|revoke` — project ingest keys
 * (store/keys.h). A running server does the writing (one writer, DESIGN.md
 * §5) and starts honouring the change before it answers; with no server,
 * this process writes the file itself. `list` only reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/keys.h"
#include "store/store.h"

static const char key_usage[] =
    "usage: llmtap key create PROJECT [--name NOTE] [--db PATH] [--json]\n"
    "       llmtap key list [--db PATH] [--json]\n"
    "       llmtap key revoke ID [--db PATH]\n"
    "\n"
    "A key attributes what a client sends to PROJECT: send it as the LLMTap-Key header (the\n"
    "proxy, OTLP, the native API, Langfuse ingestion). It is printed once, at create; only its\n"
    "SHA-256 is stored. An unknown or revoked key is refused with 401 UNAUTHENTICATED.\n";

/* Hand {"op":...} to a running server; its answer on stdout. */
static int via_server(const char *url, const char *body, int json, const char *verb)
{
    char err[512];
    char *endpoint = xasprintf("%s/api/v1/admin/keys", url);
    struct buf resp;
    buf_init(&resp, 1u << 16);
    long status = 0;
    int rc = cli_http_post(endpoint, "application/json", NULL, body, strlen(body), &resp, &status,
                           err, sizeof(err));
    free(endpoint);
    if (rc != 0)
        rc = cli_fail("key", "%s", err);
    else if (status != 200)
        rc = cli_fail("key", "server answered %ld: %.300s", status, buf_str(&resp));
    else if (json)
        printf("%s\n", buf_str(&resp));
    else if (strcmp(verb, "create") == 0) {
        char jerr[128];
        cJSON *j = jsonx_parse(resp.data, resp.len, jerr, sizeof(jerr));
        const char *key = j ? jsonx_str(j, "key") : NULL;
        printf("%s\n(shown once: store it now; llmtap keeps only its hash)\n", key ? key : "?");
        cJSON_Delete(j);
    } else
        printf("revoked\n");
    buf_release(&resp);
    return rc ? 1 : 0;
}

static int in_process(const char *db, const char *verb, const char *arg, const char *name, int json)
{
    char err[512], key[KEYS_KEY_LEN + 1];
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READWRITE, err, sizeof(err)) != STORE_OK)
        return cli_fail("key", "%s", err);
    int64_t id = 0;
    int rc;
    if (strcmp(verb, "create") == 0) {
        rc = keys_create(store_db(st), arg, name, key, &id, err, sizeof(err));
        if (rc == 0)
            printf(json ? "{\"id\":%lld,\"key\":\"%s\"}\n"
                        : "key %lld for the project: %s\n(shown once: store it now; llmtap keeps "
                          "only its hash)\n",
                   (long long)id, key);
    } else {
        char *end;
        id = strtoll(arg, &end, 10);
        rc = *arg && !*end ? keys_revoke(store_db(st), id, err, sizeof(err)) : 1;
        if (rc == 1)
            snprintf(err, sizeof(err), "no live key has id '%s'", arg);
        else if (rc == 0)
            printf("revoked\n");
    }
    store_close(st);
    return rc ? cli_fail("key", "%s", err) : 0;
}

static int list(const char *db, int json)
{
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("key", "%s", err);
    struct keys_row *rows = NULL;
    size_t n = 0;
    int rc = keys_list(store_db(st), &rows, &n, err, sizeof(err));
    store_close(st);
    if (rc != 0)
        return cli_fail("key", "%s", err);
    struct buf b;
    buf_init(&b, 0);
    int brc = buf_puts(&b, json ? "[" : "");
    for (size_t i = 0; i < n; i++) {
        const struct keys_row *r = &rows[i];
        if (json)
            brc |= buf_printf(&b, "%s{\"id\":%lld,\"project\":", i ? "," : "", (long long)r->id) ||
                   buf_json_str(&b, r->project) || buf_puts(&b, ",\"name\":") ||
                   (r->name ? buf_json_str(&b, r->name) : buf_puts(&b, "null")) ||
                   buf_printf(&b, ",\"prefix\":\"%s\",\"revoked\":%s}", r->prefix,
                              r->revoked_ns ? "true" : "false");
        else
            brc |= buf_printf(&b, "%-6lld %-10s… %-24s %s%s\n", (long long)r->id, r->prefix,
                              r->project, r->revoked_ns ? "revoked " : "", r->name ? r->name : "");
    }
    brc |= buf_puts(&b, json ? "]\n" : n ? "" : "no keys: loopback clients write to 'default'\n");
    if (brc == 0)
        fputs(buf_str(&b), stdout);
    buf_release(&b);
    keys_rows_free(rows, n);
    return 0;
}

int cmd_key(int argc, char **argv)
{
    const char *db = NULL, *name = NULL, *pos[2] = {NULL, NULL};
    int json = 0, npos = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, key_usage, &db, &json);
        if (r == CLI_HELP)
            return 0;
        if (r == 0 && (r = cli_opt(argc, argv, &i, "--name", &name)) != 0 && r > 0)
            continue;
        if (r < 0 || (r == 0 && (argv[i][0] == '-' || npos == 2))) {
            fprintf(stderr, "%s", key_usage);
            return CLI_USAGE_ERROR;
        }
        if (r == 0)
            pos[npos++] = argv[i];
    }
    const char *verb = pos[0] ? pos[0] : "", *path = cli_db_path(db);
    if (strcmp(verb, "list") == 0 && npos == 1)
        return list(path, json);
    if ((strcmp(verb, "create") != 0 && strcmp(verb, "revoke") != 0) || npos != 2) {
        fprintf(stderr, "%s", key_usage);
        return CLI_USAGE_ERROR;
    }
    char *url = cli_find_server(path);
    int rc;
    if (url) {
        struct buf body;
        buf_init(&body, 0);
        int brc = strcmp(verb, "create") == 0
                      ? buf_puts(&body, "{\"op\":\"create\",\"project\":") ||
                            buf_json_str(&body, pos[1]) || buf_puts(&body, ",\"name\":") ||
                            (name ? buf_json_str(&body, name) : buf_puts(&body, "null")) ||
                            buf_putc(&body, '}')
                      : buf_printf(&body, "{\"op\":\"revoke\",\"id\":%lld}", atoll(pos[1]));
        rc = brc ? cli_fail("key", "out of memory") : via_server(url, buf_str(&body), json, verb);
        buf_release(&body);
    } else
        rc = in_process(path, verb, pos[1], name, json);
    free(url);
    return rc;
}
