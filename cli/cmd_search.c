/*
 * cmd_search: `llmtap search` — full-text search over prompt and response
 * text (store/search.h), newest first, with the usual filters. Read-only,
 * safe while a server runs.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "store/search.h"
#include "store/store.h"

static const char search_usage[] =
    "usage: llmtap search [--db PATH] [--json] [filters] QUERY...\n"
    "\n"
    "Finds the spans whose prompt or response text holds every word and \"quoted phrase\"\n"
    "of QUERY (case-insensitive; Chinese and Japanese text is found by any substring),\n"
    "newest first. Filters:\n"
    "  --project P --model M --provider P --status ok|error --user U --session S\n"
    "  --tenant T --version-set V   equal to the value\n"
    "  --from WHEN --to WHEN        start time range: ISO 8601, unix ns, or a duration\n"
    "                               meaning that long ago (24h, 7d)\n"
    "  --limit N                    at most N spans (default 50, at most 1000)\n"
    "Output: one line per span (start, trace_id span_id, model, snippet), or with --json\n"
    "{\"query\", \"count\", \"results\": [{trace_id, span_id, ..., snippet}]}.\n"
    "Example: llmtap search --project shop --from 7d '\"refund policy\" damaged'\n";

/* The output, kept until the search has succeeded. */
struct out {
    int json, n;
    struct buf b;
};

static int print_hit(void *ctx, const struct search_hit *h)
{
    struct out *o = ctx;
    int rc;
    if (o->json) {
        rc = buf_puts(&o->b, o->n ? ",\n" : "\n");
        rc |= search_hit_json(h, &o->b);
    } else {
        char when[40];
        time_format_iso(h->start_ns, when, sizeof(when));
        rc = buf_printf(&o->b, "%s  %s %s  %s  %s\n", when, h->trace_id ? h->trace_id : "",
                        h->span_id ? h->span_id : "", h->model ? h->model : "-",
                        h->snippet ? h->snippet : "");
    }
    o->n++;
    return rc;
}

/* The filter options; 1 when argv[*i] was one, 0 when not, -1 on error. */
static int filter_opt(int argc, char **argv, int *i, struct search_filter *f)
{
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
        {"--project", offsetof(struct search_filter, project)},
        {"--model", offsetof(struct search_filter, model)},
        {"--provider", offsetof(struct search_filter, provider)},
        {"--status", offsetof(struct search_filter, status)},
        {"--user", offsetof(struct search_filter, user)},
        {"--session", offsetof(struct search_filter, session)},
        {"--tenant", offsetof(struct search_filter, tenant)},
        {"--version-set", offsetof(struct search_filter, version_set)},
    };
    const char *v;
    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
        int r = cli_opt(argc, argv, i, strs[k].name, &v);
        if (r != 0) {
            if (r > 0)
                *(const char **)((char *)f + strs[k].off) = v;
            return r;
        }
    }
    int64_t now = time_now_ns();
    int r = cli_opt(argc, argv, i, "--from", &v);
    if (r == 0 && (r = cli_opt(argc, argv, i, "--to", &v)) > 0) {
        if (time_parse_when(v, now, &f->to_ns) != 0)
            return cli_fail("search", "--to: not a time: '%s'", v), -1;
        return 1;
    }
    if (r > 0) {
        if (time_parse_when(v, now, &f->from_ns) != 0)
            return cli_fail("search", "--from: not a time: '%s'", v), -1;
        return 1;
    }
    if (r == 0 && (r = cli_opt(argc, argv, i, "--limit", &v)) > 0) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > SEARCH_MAX_LIMIT)
            return cli_fail("search", "--limit: a number from 1 to %d", SEARCH_MAX_LIMIT), -1;
        f->limit = (int)n;
    }
    return r;
}

static int usage_error(const char *what, const char *arg)
{
    if (arg)
        cli_fail("search", "%s '%s'", what, arg);
    else
        cli_fail("search", "%s", what);
    fputs(search_usage, stderr);
    return CLI_USAGE_ERROR;
}

int cmd_search(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    struct search_filter f = {0};
    struct buf q;
    buf_init(&q, 1u << 16); /* search_run names the real limit */
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        int r = cli_common_opt(argc, argv, &i, search_usage, &db, &json);
        if (r == 0)
            r = filter_opt(argc, argv, &i, &f);
        if (r == CLI_HELP) {
            buf_release(&q);
            return 0;
        }
        if (r < 0)
            rc = CLI_USAGE_ERROR;
        else if (r == 0 && argv[i][0] == '-' && argv[i][1] == '-' && q.len == 0)
            rc = usage_error("unknown option", argv[i]);
        else if (r == 0 && (buf_puts(&q, q.len ? " " : "") || buf_puts(&q, argv[i])))
            rc = usage_error("the query is too long", NULL);
    }
    if (rc == 0 && q.len == 0) {
        fputs(search_usage, stderr);
        rc = CLI_USAGE_ERROR;
    }
    if (rc) {
        buf_release(&q);
        return rc;
    }
    f.query = buf_str(&q);
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK) {
        buf_release(&q);
        return cli_fail("search", "%s", err);
    }
    struct out o = {.json = json};
    buf_init(&o.b, 0);
    int lt = search_run(store_db(st), &f, print_hit, &o, err, sizeof(err));
    if (lt == LT_OK && json) {
        printf("{\"query\":");
        struct buf qj;
        buf_init(&qj, 0);
        if (buf_json_str(&qj, f.query) == 0)
            fputs(buf_str(&qj), stdout);
        buf_release(&qj);
        printf(",\"count\":%d,\"results\":[%s%s]}\n", o.n, buf_str(&o.b), o.n ? "\n" : "");
    } else if (lt == LT_OK) {
        fputs(o.n ? buf_str(&o.b) : "no spans match\n", stdout);
    }
    buf_release(&o.b);
    store_close(st);
    buf_release(&q);
    if (lt != LT_OK)
        return cli_fail("search", "%s", err) + (lt == LT_INVALID_INPUT); /* 2: fix the query */
    return 0;
}
