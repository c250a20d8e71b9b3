/*
 * cmd_stats: `llmtap stats` — what is in the store and what it costs on
 * disk. Read-only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "store/footprint.h"
#include "store/store.h"

static const char stats_usage[] =
    "usage: llmtap stats [--db PATH] [--json]\n"
    "\n"
    "Counts (spans, traces, projects, errors, unpriced calls), tokens, total cost, time range,\n"
    "calls per model, the store's parts (hot spans, segments, texts, dictionaries) and bytes\n"
    "on disk (database + WAL, and by part: hot rows, segments, text, rollups, other).\n";

struct totals {
    int64_t spans, traces, projects, errors, unpriced, in_tok, out_tok, first_ns, last_ns;
    int64_t logmsgs, scores, price_sets;
    int64_t hot, segments, texts, dicts;
    int64_t bytes_hot, bytes_segments, bytes_text, bytes_rollups, bytes_other; /* -1: no dbstat */
    int64_t bytes_fts;
    struct footprint logical; /* store/footprint.h; -1 text_bytes: not measured */
    double cost;
};

/* Bytes on disk by part of the store, from SQLite's dbstat table. */
static void read_bytes(sqlite3 *db, struct totals *t)
{
    sqlite3_stmt *st = NULL;
    t->bytes_hot = t->bytes_segments = t->bytes_text = t->bytes_rollups = t->bytes_other =
        t->bytes_fts = -1;
    if (sqlite3_prepare_v2(
            db,
            "SELECT CASE"
            " WHEN name IN ('span_rows','sqlite_autoindex_span_rows_1',"
            "  'span_rows_start') THEN 0"
            " WHEN name LIKE 'segment%' OR name LIKE 'sqlite_autoindex_segment%'"
            "  THEN 1"
            " WHEN name IN ('texts','text_dicts','text_blocks','text_block_dicts') THEN 2"
            " WHEN name LIKE 'rollup%' THEN 3"
            " WHEN name LIKE 'text_fts%' THEN 5 ELSE 4 END,"
            " sum(pgsize) FROM dbstat GROUP BY 1",
            -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    int64_t *slot[] = {&t->bytes_hot,     &t->bytes_segments, &t->bytes_text,
                       &t->bytes_rollups, &t->bytes_other,    &t->bytes_fts};
    for (int i = 0; i < 6; i++)
        *slot[i] = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int k = sqlite3_column_int(st, 0);
        if (k >= 0 && k < 6)
            *slot[k] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
}

static int read_totals(sqlite3 *db, struct totals *t)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT count(*), count(DISTINCT trace_id), count(DISTINCT project),"
        " sum(status='error'), sum(kind IN ('llm','embedding') AND cost_usd IS NULL),"
        " total(input_tokens), total(output_tokens), total(cost_usd), min(start_ns),"
        " max(start_ns) FROM spans",
        -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return -1;
    }
    t->spans = sqlite3_column_int64(st, 0);
    t->traces = sqlite3_column_int64(st, 1);
    t->projects = sqlite3_column_int64(st, 2);
    t->errors = sqlite3_column_int64(st, 3);
    t->unpriced = sqlite3_column_int64(st, 4);
    t->in_tok = (int64_t)sqlite3_column_double(st, 5);
    t->out_tok = (int64_t)sqlite3_column_double(st, 6);
    t->cost = sqlite3_column_double(st, 7);
    t->first_ns = sqlite3_column_int64(st, 8);
    t->last_ns = sqlite3_column_int64(st, 9);
    sqlite3_finalize(st);
    t->logmsgs = store_query_int(db, "SELECT count(*) FROM log_messages", 0);
    t->scores = store_query_int(db, "SELECT count(*) FROM scores", 0);
    t->price_sets = store_query_int(db, "SELECT count(*) FROM price_sets", 0);
    t->hot = store_query_int(db, "SELECT count(*) FROM span_rows", 0);
    t->segments = store_query_int(db, "SELECT count(*) FROM segments", 0);
    t->texts = store_query_int(db,
                               "SELECT (SELECT count(*) FROM texts) +"
                               " (SELECT coalesce(sum(count), 0) FROM text_blocks)",
                               0);
    t->dicts = store_query_int(
        db, "SELECT (SELECT count(*) FROM text_dicts) + (SELECT count(*) FROM text_block_dicts)",
        0);
    read_bytes(db, t);
    char err[256];
    if (footprint_measure(db, &t->logical, err, sizeof(err)) != 0)
        t->logical.text_bytes = -1;
    return 0;
}

/* Logical bytes of the spans over bytes of the file, or 0 when unknown. */
static double ratio(struct store *st, const struct totals *t)
{
    int64_t disk = store_file_bytes(st) + store_wal_bytes(st);
    if (t->logical.text_bytes < 0 || disk <= 0)
        return 0;
    return (double)(t->logical.text_bytes + t->logical.field_bytes) / (double)disk;
}

static int models_json(sqlite3 *db, struct buf *b, int json)
{
    sqlite3_stmt *st = NULL;
    int r = 0, n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT coalesce(model,'(none)'), count(*), total(cost_usd) FROM spans"
                           " GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        if (json) {
            r |= buf_puts(b, n ? "," : "");
            r |= buf_puts(b, "{\"model\":");
            r |= buf_json_str(b, m);
            r |= buf_printf(b, ",\"calls\":%lld,\"cost_usd\":%.9f}",
                            (long long)sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2));
        } else {
            r |= buf_printf(b, "  %-36s %10lld calls  $%.6f\n", m,
                            (long long)sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2));
        }
        n++;
    }
    sqlite3_finalize(st);
    return r;
}

static void print_stats(struct store *st, const struct totals *t, int json)
{
    char first[40] = "-", last[40] = "-";
    if (t->spans) {
        time_format_iso(t->first_ns, first, sizeof(first));
        time_format_iso(t->last_ns, last, sizeof(last));
    }
    struct buf b;
    buf_init(&b, 0);
    int r = 0;
    if (json) {
        r |= buf_printf(
            &b,
            "{\"spans\":%lld,\"traces\":%lld,\"projects\":%lld,\"errors\":%lld,"
            "\"unpriced_calls\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
            "\"cost_usd\":%.9f,\"first\":\"%s\",\"last\":\"%s\","
            "\"log_messages\":%lld,\"scores\":%lld,\"price_sets\":%lld,"
            "\"db_bytes\":%lld,\"wal_bytes\":%lld,\"schema_version\":%d,",
            (long long)t->spans, (long long)t->traces, (long long)t->projects, (long long)t->errors,
            (long long)t->unpriced, (long long)t->in_tok, (long long)t->out_tok, t->cost, first,
            last, (long long)t->logmsgs, (long long)t->scores, (long long)t->price_sets,
            (long long)store_file_bytes(st), (long long)store_wal_bytes(st), STORE_SCHEMA_VERSION);
        r |= buf_printf(
            &b,
            "\"hot_spans\":%lld,\"segments\":%lld,\"texts\":%lld,"
            "\"text_dictionaries\":%lld,\"bytes\":{\"hot\":%lld,\"segments\":%lld,"
            "\"text\":%lld,\"fts\":%lld,\"rollups\":%lld,\"other\":%lld},\"bytes_per_span\":%.1f,"
            "\"logical_bytes\":{\"text\":%lld,\"fields\":%lld,\"distinct_text\":%lld},"
            "\"compression_ratio\":%.2f,\"models\":[",
            (long long)t->hot, (long long)t->segments, (long long)t->texts, (long long)t->dicts,
            (long long)t->bytes_hot, (long long)t->bytes_segments, (long long)t->bytes_text,
            (long long)t->bytes_fts, (long long)t->bytes_rollups, (long long)t->bytes_other,
            t->spans ? (double)store_file_bytes(st) / (double)t->spans : 0.0,
            (long long)t->logical.text_bytes, (long long)t->logical.field_bytes,
            (long long)t->logical.distinct_text_bytes, ratio(st, t));
        r |= models_json(store_db(st), &b, 1);
        r |= buf_puts(&b, "]}\n");
    } else {
        r |= buf_printf(
            &b,
            "database      %s (%lld bytes + %lld WAL, schema v%d)\n"
            "spans         %lld in %lld traces, %lld projects\n"
            "errors        %lld\n"
            "unpriced      %lld LLM calls with no known price\n"
            "tokens        %lld in, %lld out\n"
            "cost          $%.6f\n"
            "time range    %s .. %s\n"
            "log messages  %lld   scores %lld   price sets %lld\n"
            "store         %lld hot spans, %lld segments, %lld texts, %lld "
            "dictionaries\n"
            "bytes         hot %lld, segments %lld, text %lld, fts %lld, rollups %lld, other %lld "
            "(%.1f per span)\n"
            "logical       %lld bytes of text (%lld distinct), %lld of fields: "
            "compression %.1fx\n"
            "top models:\n",
            store_path(st), (long long)store_file_bytes(st), (long long)store_wal_bytes(st),
            STORE_SCHEMA_VERSION, (long long)t->spans, (long long)t->traces, (long long)t->projects,
            (long long)t->errors, (long long)t->unpriced, (long long)t->in_tok,
            (long long)t->out_tok, t->cost, first, last, (long long)t->logmsgs,
            (long long)t->scores, (long long)t->price_sets, (long long)t->hot,
            (long long)t->segments, (long long)t->texts, (long long)t->dicts,
            (long long)t->bytes_hot, (long long)t->bytes_segments, (long long)t->bytes_text,
            (long long)t->bytes_fts, (long long)t->bytes_rollups, (long long)t->bytes_other,
            t->spans ? (double)store_file_bytes(st) / (double)t->spans : 0.0,
            (long long)t->logical.text_bytes, (long long)t->logical.distinct_text_bytes,
            (long long)t->logical.field_bytes, ratio(st, t));
        r |= models_json(store_db(st), &b, 0);
    }
    (void)r;
    fwrite(buf_str(&b), 1, b.len, stdout);
    buf_release(&b);
}

int cmd_stats(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    int done = cli_only_common_opts("stats", argc, argv, stats_usage, &db, &json);
    if (done >= 0)
        return done;
    char err[512];
    struct store *st = NULL;
    if (store_open(&st, cli_db_path(db), STORE_READONLY, err, sizeof(err)) != STORE_OK)
        return cli_fail("stats", "%s", err);
    struct totals t;
    memset(&t, 0, sizeof(t));
    int rc = read_totals(store_db(st), &t);
    if (rc == 0)
        print_stats(st, &t, json);
    else
        cli_fail("stats", "%s", sqlite3_errmsg(store_db(st)));
    store_close(st);
    return rc ? 1 : 0;
}
