/*
 * cmd_query: `llmtap query` (read-only SQL) and `llmtap stats`. Both open
 * the database read-only, so they work beside a running server and can
 * never write.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/xmem.h"
#include "store/store.h"

static const char query_usage[] =
    "usage: llmtap query [--db PATH] [--json] SQL\n"
    "\n"
    "Runs one read-only SQL statement. The `spans` table has the columns of the canonical span:\n"
    "  trace_id span_id parent_span_id project name kind start_ns end_ns latency_ms ttft_ms\n"
    "  provider model response_model input_tokens output_tokens cache_read_tokens\n"
    "  cache_write_tokens reasoning_tokens cost_usd (NULL = unpriced) status error_code\n"
    "  error_message user_id session_id tenant version_set prompt_name prompt_version\n"
    "  input output params attributes replay_of  (+ queue_ms tool_ms cost_nusd tags ...)\n"
    "Output: tab-separated with a header line, or with --json an array of row objects.\n"
    "Example: llmtap query \"SELECT model, count(*), sum(cost_usd) FROM spans GROUP BY 1\"\n";

static int print_json_value(struct buf *b, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return buf_printf(b, "%" PRId64, (int64_t)sqlite3_column_int64(st, col));
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, col);
        return isfinite(d) ? buf_printf(b, "%.17g", d) : buf_puts(b, "null");
    }
    case SQLITE_NULL:
        return buf_puts(b, "null");
    default:
        return buf_json_strn(b, (const char *)sqlite3_column_text(st, col),
                             (size_t)sqlite3_column_bytes(st, col));
    }
}

static void print_text_value(struct buf *b, sqlite3_stmt *st, int col)
{
    int rc = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        rc = buf_puts(b, "NULL");
    } else if (sqlite3_column_type(st, col) == SQLITE_FLOAT) {
        rc = buf_printf(b, "%.10g", sqlite3_column_double(st, col));
    } else {
        const char *t = (const char *)sqlite3_column_text(st, col);
        for (; t && *t && !rc; t++) /* keep one row per line */
            rc = buf_putc(b, *t == '\t' || *t == '\n' || *t == '\r' ? ' ' : *t);
    }
    (void)rc;
}

/* Step through 'st' printing rows; returns 0 or 1 on an SQL error. */
static int run_rows(sqlite3 *db, sqlite3_stmt *st, int json)
{
    int ncol = sqlite3_column_count(st), rc, rows = 0;
    struct buf b;
    buf_init(&b, 0);
    int r = 0;
    if (json) {
        r |= buf_putc(&b, '[');
    } else {
        for (int c = 0; c < ncol; c++)
            r |= buf_printf(&b, "%s%s", c ? "\t" : "", sqlite3_column_name(st, c));
        r |= buf_putc(&b, '\n');
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json) {
            r |= buf_puts(&b, rows ? ",\n{" : "\n{");
            for (int c = 0; c < ncol; c++) {
                r |= buf_printf(&b, "%s", c ? "," : "");
                r |= buf_json_str(&b, sqlite3_column_name(st, c));
                r |= buf_putc(&b, ':');
                r |= print_json_value(&b, st, c);
            }
            r |= buf_putc(&b, '}');
        } else {
            for (int c = 0; c < ncol; c++) {
                if (c)
                    r |= buf_putc(&b, '\t');
                print_text_value(&b, st, c);
            }
            r |= buf_putc(&b, '\n');
        }
        rows++;
        if (b.len > (1u << 20)) {
            fwrite(b.data, 1, b.len, stdout);
            buf_reset(&b);
        }
    }
    if (json)
        r |= buf_puts(&b, rows ? "\n]\n" : "]\n");
    (void)r;
    fwrite(buf_str(&b), 1, b.len, stdout);
    buf_release(&b);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "llmtap query: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    return 0;
}

int cmd_query(int argc, char **argv)
{
    const char *db = NULL, *sql = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, query_usage, &db, &json);
        if (r == CLI_HELP)
            return 0;
        if (r < 0)
            return CLI_USAGE_ERROR;
        if (r > 0)
            continue;
        if (!sql && argv[i][0] != '-') {
            sql = argv[i];
        } else {
            fprintf(stderr, "llmtap query: unexpected argument '%s'\n%s", argv[i], query_usage);
            return CLI_USAGE_ERROR;
        }
    }
    if (!sql) {
        fputs(query_usage, stderr);
        return CLI_USAGE_ERROR;
    }
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("query", "%s", err);
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = 1;
    if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, &tail) != SQLITE_OK) {
        cli_fail("query", "%s", sqlite3_errmsg(store_db(st)));
    } else if (!stmt) {
        cli_fail("query", "empty SQL");
    } else if (tail && strspn(tail, " \t\r\n;") != strlen(tail)) {
        cli_fail("query", "one statement at a time");
    } else if (!sqlite3_stmt_readonly(stmt)) {
        cli_fail("query", "only read-only statements are allowed");
    } else {
        rc = run_rows(store_db(st), stmt, json);
    }
    sqlite3_finalize(stmt);
    store_close(st);
    return rc;
}
