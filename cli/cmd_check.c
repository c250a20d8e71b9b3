/*
 * cmd_check: `llmtap check` — verify the store (store/check.h). Read-only,
 * safe while a server runs. Exit 0 when the store is whole, 1 when a
 * problem was found (each listed) or the check could not run.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/check.h"
#include "store/store.h"

static const char check_usage[] =
    "usage: llmtap check [--db PATH] [--json]\n"
    "\n"
    "Verify the store: SQLite's integrity_check, every segment's columns decode with the row\n"
    "count of their zone map, and every text reference of every span resolves to a text that\n"
    "decodes, and every rollup equals a recount from the spans. Counts texts nothing refers\n"
    "to. Exit 0 when whole, 1 otherwise.\n";

static void print_report(const struct check_report *r, int json)
{
    if (json) {
        printf("{\"ok\":%s,\"integrity\":\"%s\",\"hot_spans\":%lld,\"segments\":%lld,"
               "\"segment_spans\":%lld,\"segments_bad\":%lld,\"refs\":%lld,\"texts\":%lld,"
               "\"texts_missing\":%lld,\"texts_bad\":%lld,\"texts_unreferenced\":%lld,"
               "\"rollup_rows_bad\":%lld,\"problems\":%d}\n",
               r->ok ? "true" : "false", r->ok ? "ok" : "failed", (long long)r->hot_spans,
               (long long)r->segments, (long long)r->segment_rows, (long long)r->segments_bad,
               (long long)r->refs, (long long)r->texts, (long long)r->texts_missing,
               (long long)r->texts_bad, (long long)r->texts_unreferenced,
               (long long)r->rollup_rows_bad, r->nproblems);
        return;
    }
    printf("integrity     %s\n"
           "segments      %lld (%lld spans), %lld bad; %lld hot spans\n"
           "texts         %lld references to %lld texts: %lld missing, %lld undecodable, "
           "%lld unreferenced\n"
           "rollups       %lld rows differ from a recount of the spans\n",
           r->integrity, (long long)r->segments, (long long)r->segment_rows,
           (long long)r->segments_bad, (long long)r->hot_spans, (long long)r->refs,
           (long long)r->texts, (long long)r->texts_missing, (long long)r->texts_bad,
           (long long)r->texts_unreferenced, (long long)r->rollup_rows_bad);
    if (r->problems.len)
        fputs(r->problems.data, stdout);
    printf("%s\n", r->ok ? "ok: the store is whole" : "FAILED: problems above");
}

int cmd_check(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    int done = cli_only_common_opts("check", argc, argv, check_usage, &db, &json);
    if (done >= 0)
        return done;
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("check", "%s", err);
    struct check_report rep;
    check_report_init(&rep);
    int rc = check_store(store_db(st), &rep, err, sizeof(err));
    if (rc == 0)
        print_report(&rep, json);
    else
        cli_fail("check", "%s", err);
    int ok = rc == 0 && rep.ok;
    check_report_release(&rep);
    store_close(st);
    return ok ? 0 : 1;
}
