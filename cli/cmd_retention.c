/*
 * cmd_retention: `llmtap retention set|list|apply` — per-project maximum
 * age (store/retention.h). Setting a rule applies it at once; a running
 * server does the writing (one writer, DESIGN.md §5), else this process
 * does. `list` only reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/retention.h"
#include "store/store.h"
#include "store/writer.h"

static const char retention_usage[] =
    "usage: llmtap retention set PROJECT DAYS|off [--db PATH] [--json]\n"
    "       llmtap retention list [--db PATH] [--json]\n"
    "       llmtap retention apply [--db PATH] [--json]\n"
    "\n"
    "Keep a project's spans DAYS days (1..36500; off removes the rule). Whole segments whose\n"
    "newest span is older are dropped, with their rollup counts; texts no span refers to any\n"
    "more are freed and the file gives the space back. A running server applies the rules\n"
    "every minute; `set` and `apply` apply them now.\n";

static void print_applied(const char *json_report, const struct retention_report *rep, int json)
{
    if (json)
        printf("{\"status\":\"ok\",\"applied\":%s}\n", json_report);
    else
        printf("applied: dropped %lld segments and %lld spans (%lld hot), %lld log messages;"
               " freed %lld texts\n",
               (long long)rep->segments, (long long)rep->spans, (long long)rep->hot_spans,
               (long long)rep->log_messages, (long long)rep->texts);
}

static int via_server(const char *url, const char *project, int days, int json)
{
    char err[512];
    char *endpoint = xasprintf("%s/api/v1/admin/retention", url);
    struct buf body, resp;
    buf_init(&body, 0);
    buf_init(&resp, 1u << 16);
    int rc = 0;
    if (project)
        rc = buf_puts(&body, "{\"project\":") || buf_json_str(&body, project) ||
             buf_printf(&body, ",\"days\":%d}", days);
    long status = 0;
    if (rc == 0)
        rc = cli_http_post(endpoint, "application/json", NULL, body.data ? body.data : "", body.len,
                           &resp, &status, err, sizeof(err));
    free(endpoint);
    if (rc == 0 && status != 200)
        rc = cli_fail("retention", "server answered %ld: %.300s", status, buf_str(&resp));
    else if (rc != 0)
        rc = cli_fail("retention", "%s", err);
    else
        printf(json ? "%s\n" : "applied by the server at %s: %s\n", json ? buf_str(&resp) : url,
               buf_str(&resp));
    buf_release(&body);
    buf_release(&resp);
    return rc ? 1 : 0;
}

static int in_process(const char *db, const char *project, int days, int json)
{
    char err[512];
    struct store *st = NULL, *ro = NULL;
    struct writer *w = NULL;
    if (store_open(&st, db, STORE_READWRITE, err, sizeof(err)) != STORE_OK)
        return cli_fail("retention", "%s", err);
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1; /* only the steps asked for here */
    int rc = writer_start(&w, st, &cfg, err, sizeof(err));
    if (rc == LT_OK && store_open(&ro, db, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        rc = LT_INTERNAL;
    if (rc == LT_OK && project)
        rc = writer_retention_set(w, project, days, err, sizeof(err));
    struct retention_report rep;
    if (rc == LT_OK)
        rc = writer_retention(w, store_db(ro), time_now_ns(), 1, &rep, err, sizeof(err));
    writer_stop(w);
    store_close(ro);
    store_close(st);
    if (rc != LT_OK)
        return cli_fail("retention", "%s", err);
    struct buf j;
    buf_init(&j, 0);
    if (retention_report_json(&rep, &j) == 0)
        print_applied(buf_str(&j), &rep, json);
    buf_release(&j);
    return 0;
}

static int list(const char *db, int json)
{
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, db, STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("retention", "%s", err);
    struct retention_rule *rules = NULL;
    size_t n = 0;
    int rc = retention_rules(store_db(st), &rules, &n, err, sizeof(err));
    store_close(st);
    if (rc != 0)
        return cli_fail("retention", "%s", err);
    struct buf b;
    buf_init(&b, 0);
    int brc = buf_puts(&b, json ? "[" : "");
    for (size_t i = 0; i < n; i++) {
        if (json)
            brc |= buf_puts(&b, i ? ",{\"project\":" : "{\"project\":") ||
                   buf_json_str(&b, rules[i].project) ||
                   buf_printf(&b, ",\"days\":%d}", rules[i].days);
        else
            brc |= buf_printf(&b, "%-32s %d days\n", rules[i].project, rules[i].days);
    }
    brc |= buf_puts(&b, json ? "]\n" : n ? "" : "no retention rules: every span is kept\n");
    if (brc == 0)
        fputs(buf_str(&b), stdout);
    buf_release(&b);
    retention_rules_free(rules, n);
    return 0;
}

/* DAYS: 1..RETENTION_MAX_DAYS, or off / 0 (-> 0); -1 when neither. */
static int parse_days(const char *s)
{
    if (strcmp(s, "off") == 0)
        return 0;
    char *end;
    long d = strtol(s, &end, 10);
    return *s && !*end && d >= 0 && d <= RETENTION_MAX_DAYS ? (int)d : -1;
}

int cmd_retention(int argc, char **argv)
{
    const char *db = NULL, *pos[3] = {NULL, NULL, NULL};
    int json = 0, npos = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, retention_usage, &db, &json);
        if (r == CLI_HELP)
            return 0;
        if (r < 0 || (r == 0 && (argv[i][0] == '-' || npos == 3))) {
            fprintf(stderr, "%s", retention_usage);
            return CLI_USAGE_ERROR;
        }
        if (r == 0)
            pos[npos++] = argv[i];
    }
    const char *verb = pos[0] ? pos[0] : "";
    const char *path = cli_db_path(db);
    if (strcmp(verb, "list") == 0 && npos == 1)
        return list(path, json);
    int days = 0;
    if (strcmp(verb, "set") == 0 && npos == 3 && (days = parse_days(pos[2])) < 0)
        return cli_fail("retention", "DAYS must be 1..%d or off, not '%s'", RETENTION_MAX_DAYS,
                        pos[2]) +
               1;
    if (!((strcmp(verb, "set") == 0 && npos == 3) || (strcmp(verb, "apply") == 0 && npos == 1))) {
        fprintf(stderr, "%s", retention_usage);
        return CLI_USAGE_ERROR;
    }
    const char *project = npos == 3 ? pos[1] : NULL;
    char *url = cli_find_server(path);
    int rc = url ? via_server(url, project, days, json) : in_process(path, project, days, json);
    free(url);
    return rc;
}
