/*
 * cmd_prices: `llmtap prices [MODEL]` lists the price table in force (the
 * embedded default overlaid by imported sets); `llmtap prices import FILE`
 * converts a LiteLLM price file and adds it — through the running server
 * when there is one (one writer), else directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "store/price_store.h"
#include "store/prices.h"
#include "store/store.h"

static const char prices_usage[] =
    "usage: llmtap prices [--db PATH] [--json] [MODEL]\n"
    "       llmtap prices import [--db PATH] FILE\n"
    "\n"
    "Lists the prices in force (USD per million tokens), optionally only those matching MODEL.\n"
    "`import` adds a LiteLLM model_prices_and_context_window.json file; imported prices win\n"
    "over the embedded defaults for the models they name. Costs are computed at ingest.\n";

/* The table in force: from the database when it exists, else the default. */
static struct price_table *load_table(const char *db, char *err, size_t errlen)
{
    struct price_table *t = NULL;
    struct store *st = NULL;
    if (access(db, F_OK) == 0 && store_open(&st, db, STORE_READONLY, err, errlen) == STORE_OK) {
        if (price_store_load(store_db(st), &t, err, errlen) != 0)
            t = NULL;
        store_close(st);
        return t;
    }
    return price_table_default(&t, err, errlen) == 0 ? t : NULL;
}

static void print_rate(const cJSON *rates, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rates, key);
    if (cJSON_IsNumber(v))
        printf(" %10.4f", v->valuedouble);
    else if (cJSON_IsString(v))
        printf(" %10s", v->valuestring);
    else
        printf(" %10s", "-");
}

static void print_text(const char *json)
{
    char err[128];
    cJSON *arr = jsonx_parse(json, strlen(json), err, sizeof(err));
    printf("%-40s %-10s %-10s %10s %10s %10s %10s\n", "model", "provider", "effective", "input",
           "cached_in", "cache_wr", "output");
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *id = jsonx_str(e, "id"), *prov = jsonx_str(e, "provider");
        const char *eff = jsonx_str(e, "effective");
        printf("%-40.40s %-10.10s %-10.10s", id ? id : "?", prov ? prov : "-", eff ? eff : "-");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "usd_per_mtok");
        print_rate(r, "input");
        print_rate(r, "cache_read");
        print_rate(r, "cache_write");
        print_rate(r, "output");
        putchar('\n');
    }
    cJSON_Delete(arr);
}

static int list_prices(const char *db, int json, const char *model)
{
    char err[512];
    struct price_table *t = load_table(db, err, sizeof(err));
    if (!t)
        return cli_fail("prices", "%s", err);
    char *list = price_table_list_json(t, model);
    if (json)
        printf("%s\n", list);
    else
        print_text(list);
    fprintf(stderr, "price table %s, %zu entries\n", price_table_version(t), price_table_count(t));
    free(list);
    price_table_free(t);
    return 0;
}

static int store_set(const char *db, const char *source, const char *ours, char *err, size_t errlen)
{
    char *url = cli_find_server(db);
    int rc = -1;
    if (url) {
        char *endpoint = xasprintf("%s/api/v1/admin/prices", url);
        char *hdr = xasprintf("LLMTap-Price-Source: %s", source);
        const char *headers[] = {hdr, NULL};
        struct buf resp;
        buf_init(&resp, 1u << 20);
        long status = 0;
        rc = cli_http_post(endpoint, "application/json", headers, ours, strlen(ours), &resp,
                           &status, err, errlen);
        if (rc == 0 && status != 200) {
            snprintf(err, errlen, "server answered %ld: %.300s", status, buf_str(&resp));
            rc = -1;
        }
        buf_release(&resp);
        free(hdr);
        free(endpoint);
        free(url);
        return rc;
    }
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READWRITE, err, errlen) != STORE_OK)
        return -1;
    rc = price_store_add(store_db(st), source, ours, strlen(ours), err, errlen);
    store_close(st);
    return rc;
}

static int import_prices(const char *db, const char *file)
{
    char err[512];
    size_t len = 0, converted = 0, skipped = 0;
    char *text = cli_read_file(file, &len, err, sizeof(err));
    if (!text)
        return cli_fail("prices import", "%s", err);
    char *ours = NULL;
    int rc = price_litellm_convert(text, len, &ours, &converted, &skipped, err, sizeof(err));
    free(text);
    if (rc != 0)
        return cli_fail("prices import", "%s: %s", file, err);
    char *source = xasprintf("import:%s", file);
    rc = store_set(db, source, ours, err, sizeof(err));
    free(source);
    free(ours);
    if (rc != 0)
        return cli_fail("prices import", "%s", err);
    printf("imported %zu models from %s (%zu entries without token prices skipped)\n", converted,
           file, skipped);
    return 0;
}

int cmd_prices(int argc, char **argv)
{
    const char *db = NULL, *arg = NULL, *file = NULL;
    int json = 0, import = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, prices_usage, &db, &json);
        if (r == CLI_HELP)
            return 0;
        if (r < 0)
            return CLI_USAGE_ERROR;
        if (r > 0)
            continue;
        if (i == 1 && strcmp(argv[i], "import") == 0) {
            import = 1;
        } else if (argv[i][0] != '-' && !(import ? file : arg)) {
            *(import ? &file : &arg) = argv[i];
        } else {
            fprintf(stderr, "llmtap prices: unexpected argument '%s'\n%s", argv[i], prices_usage);
            return CLI_USAGE_ERROR;
        }
    }
    if (import && !file) {
        fputs(prices_usage, stderr);
        return CLI_USAGE_ERROR;
    }
    return import ? import_prices(cli_db_path(db), file) : list_prices(cli_db_path(db), json, arg);
}
