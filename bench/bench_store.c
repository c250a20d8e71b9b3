/*
 * bench_store: the measuring half of the store benchmark (issue 3 item 8),
 * driven by bench/store.sh. Each mode prints key=value lines that the
 * script gathers into one results file.
 *
 *   bench_store prepare --ours DB --dir DIR
 *     Reads every span of the llmtap store DB through its `spans` table and
 *     writes DIR/export.ndjson (every column, nulls left out, input and output
 *     as strings) and DIR/columns.json (column -> DuckDB type) for baseline C.
 *     Builds baseline B, DIR/b.db, from the same rows: one JSON text per span
 *     (input and output embedded as JSON), indexes on trace_id and start_ns,
 *     an external-content FTS5 index over the text of input and output (their
 *     JSON string values, decoded) kept by a trigger,
 *     WAL, 1,000-row transactions. Chooses the query parameters from the data
 *     and writes them to DIR/params.txt.
 *   bench_store query --ours DB [--b DB] --params FILE [--runs N] [--cap S]
 *                     [--only QID]
 *     Times the five queries on ours and on B, in process, warm: 3 warm-up
 *     runs, then N (20) timed runs, fewer when a query's runs pass S (60)
 *     seconds; every run steps every row and reads every column. Without
 *     --b only ours is timed; --only q4 times that one query (and diagnostic).
 *   bench_store report RESULTS [STATS_JSON]
 *     Prints the summary table of a results file, each target met or missed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/store.h"

#define NS_PER_HOUR 3600000000000LL
#define NS_PER_DAY 86400000000000LL
#define B_TXN_ROWS 1000
#define WARMUP_RUNS 3
#define MAX_RUNS 1000
#define KV_MAX 512
#define KV_KEY 64
#define KV_VAL 256
#define PARAM_LEN 128

/* ---- small helpers ------------------------------------------------------------ */

static double seconds_since(int64_t t0)
{
    return (double)(time_mono_ns() - t0) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile 'p' (0-100) of 'n' sorted values. */
static double pct(const double *v, int n, double p)
{
    int i = (int)ceil(p / 100.0 * n) - 1;
    return n ? v[i < 0 ? 0 : i] : 0;
}

static uint32_t fnv32(const unsigned char *s, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* Run 'sql' (no results wanted); prints the error. Returns 0 or -1. */
static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fprintf(stderr, "bench_store: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_store: %s: %s\n", sqlite3_errmsg(db), sql);
        return NULL;
    }
    return st;
}

/* The first column of the first row of 'sql' as an integer ('i64', bound to
 * ?1 unless INT64_MIN), or 'dflt' when there is no row or it fails. */
static int64_t one_int(sqlite3 *db, const char *sql, int64_t i64, int64_t dflt)
{
    sqlite3_stmt *st = prepare(db, sql);
    int64_t v = dflt;
    if (st && i64 != INT64_MIN)
        sqlite3_bind_int64(st, 1, i64);
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* ---- key=value files ------------------------------------------------------------ */

struct kv {
    int n;
    char key[KV_MAX][KV_KEY];
    char val[KV_MAX][KV_VAL];
};

/* Read "key=value" lines of 'path' into 'kv' (a later key wins). Returns 0,
 * or -1 when the file cannot be read. */
static int kv_load(struct kv *kv, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[KV_KEY + KV_VAL + 8];
    if (!f) {
        fprintf(stderr, "bench_store: cannot read '%s': %s\n", path, strerror(errno));
        return -1;
    }
    kv->n = 0;
    while (fgets(line, sizeof(line), f) && kv->n < KV_MAX) {
        char *eq = strchr(line, '=');
        if (!eq || eq == line || (size_t)(eq - line) >= KV_KEY)
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        *eq = '\0';
        int i = 0;
        while (i < kv->n && strcmp(kv->key[i], line) != 0)
            i++;
        memcpy(kv->key[i], line, (size_t)(eq - line) + 1);
        snprintf(kv->val[i], KV_VAL, "%s", eq + 1);
        kv->n += i == kv->n;
    }
    fclose(f);
    return 0;
}

/* Borrowed value of 'key', or NULL. */
static const char *kv_get(const struct kv *kv, const char *key)
{
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->key[i], key))
            return kv->val[i];
    return NULL;
}

/* 'key' as a number, NAN when absent or not a number. */
static double kv_num(const struct kv *kv, const char *key)
{
    const char *v = kv_get(kv, key);
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    return v && end != v && *end == '\0' ? d : NAN;
}

/* ---- query parameters ------------------------------------------------------------ */

struct params {
    int64_t first_ns, last_ns;
    int64_t hour_from; /* Q1: hours since the epoch, the start of the day 30 days before the last */
    int64_t since_ns;  /* Q5: the last span - 7 days */
    char trace[PARAM_LEN], project[PARAM_LEN], model[PARAM_LEN], phrase[PARAM_LEN];
};

static int params_load(struct params *p, const char *path)
{
    struct kv *kv = xcalloc(1, sizeof(*kv));
    int rc = kv_load(kv, path);
    const char *keys[] = {"param_trace", "param_project", "param_model", "param_phrase"};
    char *slots[] = {p->trace, p->project, p->model, p->phrase};
    memset(p, 0, sizeof(*p));
    for (int i = 0; rc == 0 && i < 4; i++) {
        const char *v = kv_get(kv, keys[i]);
        if (!v) {
            fprintf(stderr, "bench_store: %s: no %s\n", path, keys[i]);
            rc = -1;
            break;
        }
        snprintf(slots[i], PARAM_LEN, "%s", v);
    }
    const char *ints[] = {"param_hour_from", "param_since_ns", "param_first_ns", "param_last_ns"};
    int64_t *islots[] = {&p->hour_from, &p->since_ns, &p->first_ns, &p->last_ns};
    for (int i = 0; rc == 0 && i < 4; i++) {
        const char *v = kv_get(kv, ints[i]);
        if (!v) {
            fprintf(stderr, "bench_store: %s: no %s\n", path, ints[i]);
            rc = -1;
            break;
        }
        *islots[i] = strtoll(v, NULL, 10);
    }
    free(kv);
    return rc;
}

/* ---- prepare: export and baseline B --------------------------------------------------- */

/* B's FTS index gets the text of input and output: their JSON string values
 * decoded and joined by newlines (the raw JSON text would hand the tokenizer
 * its escapes: "\nHealth" is the token "nhealth"). */
static const char b_schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE spans(id INTEGER PRIMARY KEY, trace_id TEXT, span_id TEXT, start_ns INTEGER,"
    " j TEXT);"
    "CREATE INDEX spans_trace ON spans(trace_id);"
    "CREATE INDEX spans_start ON spans(start_ns);"
    "CREATE VIEW spans_text AS SELECT id,"
    " (SELECT group_concat(atom, char(10)) FROM json_tree(j, '$.input') WHERE type = 'text')"
    " AS input,"
    " (SELECT group_concat(atom, char(10)) FROM json_tree(j, '$.output') WHERE type = 'text')"
    " AS output FROM spans;"
    "CREATE VIRTUAL TABLE spans_fts USING fts5(input, output, content='spans_text',"
    " content_rowid='id');"
    "CREATE TRIGGER spans_fts_ai AFTER INSERT ON spans BEGIN"
    " INSERT INTO spans_fts(rowid, input, output) SELECT id, input, output FROM spans_text"
    " WHERE id = new.id; END;";

struct exporter {
    sqlite3_stmt *src; /* SELECT * FROM spans on ours */
    int ncols, c_trace, c_span, c_start, c_input, c_output;
    FILE *out;  /* export.ndjson */
    sqlite3 *b; /* baseline B */
    sqlite3_stmt *ins;
    struct buf line, j;
    int64_t rows;
};

static const char *duck_type(const char *decl)
{
    if (decl && !strcmp(decl, "INTEGER"))
        return "BIGINT";
    if (decl && !strcmp(decl, "REAL"))
        return "DOUBLE";
    return "VARCHAR";
}

/* Find the columns the exporter treats apart and write DIR/columns.json. */
static int export_columns(struct exporter *e, const char *dir)
{
    char *path = xasprintf("%s/columns.json", dir);
    FILE *f = fopen(path, "w");
    int rc = f ? 0 : -1;
    e->ncols = sqlite3_column_count(e->src);
    e->c_trace = e->c_span = e->c_start = e->c_input = e->c_output = -1;
    for (int i = 0; f && i < e->ncols; i++) {
        const char *name = sqlite3_column_name(e->src, i);
        int *slot = !strcmp(name, "trace_id")   ? &e->c_trace
                    : !strcmp(name, "span_id")  ? &e->c_span
                    : !strcmp(name, "start_ns") ? &e->c_start
                    : !strcmp(name, "input")    ? &e->c_input
                    : !strcmp(name, "output")   ? &e->c_output
                                                : NULL;
        if (slot)
            *slot = i;
        fprintf(f, "%s\"%s\":\"%s\"", i ? "," : "{", name,
                duck_type(sqlite3_column_decltype(e->src, i)));
    }
    if (f && (fputs("}\n", f) < 0 || fclose(f) != 0))
        rc = -1;
    if (rc == 0 &&
        (e->c_trace < 0 || e->c_span < 0 || e->c_start < 0 || e->c_input < 0 || e->c_output < 0)) {
        fprintf(stderr, "bench_store: the spans table lacks a column this bench needs\n");
        rc = -1;
    } else if (rc != 0) {
        fprintf(stderr, "bench_store: cannot write '%s': %s\n", path, strerror(errno));
    }
    free(path);
    return rc;
}

/* Append column 'i' of the current row as "name":value to 'line' and to 'j'
 * (input and output go to 'j' as the JSON they are, to 'line' as strings). */
static int export_cell(struct exporter *e, int i, bool first)
{
    sqlite3_stmt *s = e->src;
    const char *name = sqlite3_column_name(s, i);
    int rc = buf_printf(&e->line, "%s\"%s\":", first ? "" : ",", name);
    rc |= buf_printf(&e->j, "%s\"%s\":", first ? "" : ",", name);
    if (sqlite3_column_type(s, i) == SQLITE_INTEGER) {
        long long v = sqlite3_column_int64(s, i);
        rc |= buf_printf(&e->line, "%lld", v) | buf_printf(&e->j, "%lld", v);
    } else if (sqlite3_column_type(s, i) == SQLITE_FLOAT) {
        double v = sqlite3_column_double(s, i);
        rc |= buf_printf(&e->line, "%.17g", v) | buf_printf(&e->j, "%.17g", v);
    } else {
        const char *t = (const char *)sqlite3_column_text(s, i);
        size_t n = (size_t)sqlite3_column_bytes(s, i);
        rc |= buf_json_strn(&e->line, t ? t : "", n);
        if ((i == e->c_input || i == e->c_output) && n > 0)
            rc |= buf_append(&e->j, t, n);
        else
            rc |= buf_json_strn(&e->j, t ? t : "", n);
    }
    return rc ? -1 : 0;
}

/* One span: a line of the export and a row of B. */
static int export_row(struct exporter *e)
{
    sqlite3_stmt *s = e->src;
    bool first = true;
    buf_reset(&e->line);
    buf_reset(&e->j);
    int rc = buf_putc(&e->line, '{') | buf_putc(&e->j, '{');
    for (int i = 0; i < e->ncols && rc == 0; i++) {
        int t = sqlite3_column_type(s, i);
        if (t == SQLITE_NULL || (t == SQLITE_FLOAT && !isfinite(sqlite3_column_double(s, i))))
            continue;
        rc = export_cell(e, i, first);
        first = false;
    }
    rc |= buf_puts(&e->line, "}\n") | buf_putc(&e->j, '}');
    if (rc != 0 || fwrite(e->line.data, 1, e->line.len, e->out) != e->line.len) {
        fprintf(stderr, "bench_store: cannot write the export: %s\n", strerror(errno));
        return -1;
    }
    e->rows++;
    sqlite3_bind_int64(e->ins, 1, e->rows);
    sqlite3_bind_value(e->ins, 2, sqlite3_column_value(s, e->c_trace));
    sqlite3_bind_value(e->ins, 3, sqlite3_column_value(s, e->c_span));
    sqlite3_bind_value(e->ins, 4, sqlite3_column_value(s, e->c_start));
    sqlite3_bind_text(e->ins, 5, e->j.data, (int)e->j.len, SQLITE_STATIC);
    rc = sqlite3_step(e->ins);
    sqlite3_reset(e->ins);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "bench_store: insert into B: %s\n", sqlite3_errmsg(e->b));
        return -1;
    }
    return 0;
}

/* Stream every span of ours into the export and into B. */
static int export_all(struct exporter *e)
{
    int rc = 0, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(e->src)) == SQLITE_ROW) {
        if (e->rows % B_TXN_ROWS == 0 && exec(e->b, "BEGIN") != 0)
            return -1;
        rc = export_row(e);
        if (rc == 0 && e->rows % B_TXN_ROWS == 0)
            rc = exec(e->b, "COMMIT");
        if (e->rows % 100000 == 0)
            fprintf(stderr, "bench_store: exported %" PRId64 " spans\n", e->rows);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        fprintf(stderr, "bench_store: reading ours: %s\n",
                sqlite3_errmsg(sqlite3_db_handle(e->src)));
        rc = -1;
    }
    if (rc == 0 && e->rows % B_TXN_ROWS != 0)
        rc = exec(e->b, "COMMIT");
    return rc;
}

/* Sizes of B: the file, and the pages of the FTS index's shadow tables. */
static int b_sizes(sqlite3 *b)
{
    static const char *const fts_tables[] = {"spans_fts_data", "spans_fts_idx", "spans_fts_docsize",
                                             "spans_fts_config"};
    if (exec(b, "PRAGMA wal_checkpoint(TRUNCATE)") != 0)
        return -1;
    int64_t pages = one_int(b, "PRAGMA page_count", INT64_MIN, -1);
    int64_t psize = one_int(b, "PRAGMA page_size", INT64_MIN, -1);
    int64_t fts = 0;
    for (size_t i = 0; i < sizeof(fts_tables) / sizeof(fts_tables[0]); i++) {
        sqlite3_stmt *st = prepare(b, "SELECT total(pgsize) FROM dbstat WHERE name = ?1");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, fts_tables[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            fts += sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (pages < 0 || psize < 0)
        return -1;
    printf("b_bytes=%" PRId64 "\nb_fts_bytes=%" PRId64 "\nb_nofts_bytes=%" PRId64 "\n",
           pages * psize, fts, pages * psize - fts);
    return 0;
}

/* ---- prepare: parameters ------------------------------------------------------------ */

static const char *const phrase_candidates[] = {"health checks", "broken zipper", "build caching",
                                                "foreign transaction fee", "log drains"};

/* Text of the first column of the first row of 'st' (bound by the caller)
 * into 'out'; "" when there is none. */
static void one_text(sqlite3_stmt *st, char *out, size_t outlen)
{
    out[0] = '\0';
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Q4: the trace with the most spans among the first 200 spans at or after
 * 55 % of the time range (earliest first on ties). Not the middle: over 30
 * days that is a UTC midnight, where a day's segment begins, and a trace
 * there costs ours less than one further in (it reads the columns up to
 * its last row); 55 % is a noon, halfway into its day. */
static void pick_trace(sqlite3 *b, struct params *p)
{
    sqlite3_stmt *st = prepare(b, "SELECT trace_id FROM (SELECT trace_id, start_ns FROM spans"
                                  " WHERE start_ns >= ?1 ORDER BY start_ns, id LIMIT 200)"
                                  " GROUP BY trace_id ORDER BY count(*) DESC, min(start_ns)"
                                  " LIMIT 1");
    if (st)
        sqlite3_bind_int64(st, 1, p->first_ns + (p->last_ns - p->first_ns) / 20 * 11);
    one_text(st, p->trace, sizeof(p->trace));
}

/* Q5: the project and model with the most root LLM spans in the last 7 days
 * (read from ours: only these columns are decoded). */
static void pick_project_model(sqlite3 *ours, struct params *p)
{
    sqlite3_stmt *st = prepare(ours, "SELECT project, model FROM spans WHERE start_ns >= ?1"
                                     " AND parent_span_id IS NULL AND model IS NOT NULL"
                                     " GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1");
    p->project[0] = p->model[0] = '\0';
    if (st)
        sqlite3_bind_int64(st, 1, p->since_ns);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(p->project, sizeof(p->project), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(p->model, sizeof(p->model), "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
}

/* Q3: the first candidate phrase B's index finds in at least 50 spans. */
static void pick_phrase(sqlite3 *b, struct params *p)
{
    p->phrase[0] = '\0';
    for (size_t i = 0; i < sizeof(phrase_candidates) / sizeof(phrase_candidates[0]); i++) {
        char q[PARAM_LEN];
        snprintf(q, sizeof(q), "\"%s\"", phrase_candidates[i]);
        sqlite3_stmt *st = prepare(b, "SELECT count(*) FROM spans_fts WHERE spans_fts MATCH ?1");
        if (!st)
            return;
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (n >= 50) {
            snprintf(p->phrase, sizeof(p->phrase), "%s", q);
            return;
        }
    }
}

static int pick_params(sqlite3 *ours, sqlite3 *b, const char *dir)
{
    struct params p;
    memset(&p, 0, sizeof(p));
    p.first_ns = one_int(b, "SELECT min(start_ns) FROM spans", INT64_MIN, 0);
    p.last_ns = one_int(b, "SELECT max(start_ns) FROM spans", INT64_MIN, 0);
    p.hour_from = (p.last_ns / NS_PER_DAY - 30) * 24; /* whole days: "by day" */
    p.since_ns = p.last_ns - 7 * NS_PER_DAY;
    pick_trace(b, &p);
    pick_project_model(ours, &p);
    pick_phrase(b, &p);
    if (!p.trace[0] || !p.project[0] || !p.phrase[0]) {
        fprintf(stderr, "bench_store: cannot choose the query parameters from the data\n");
        return -1;
    }
    char *path = xasprintf("%s/params.txt", dir);
    FILE *f = fopen(path, "w");
    int rc = f ? 0 : -1;
    if (f && (fprintf(f,
                      "param_first_ns=%" PRId64 "\nparam_last_ns=%" PRId64 "\n"
                      "param_hour_from=%" PRId64 "\nparam_since_ns=%" PRId64 "\n"
                      "param_trace=%s\nparam_project=%s\nparam_model=%s\nparam_phrase=%s\n",
                      p.first_ns, p.last_ns, p.hour_from, p.since_ns, p.trace, p.project, p.model,
                      p.phrase) < 0 ||
              fclose(f) != 0))
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "bench_store: cannot write '%s'\n", path);
    free(path);
    return rc;
}

static int open_b(sqlite3 **b, const char *path, int flags)
{
    if (sqlite3_open_v2(path, b, flags, NULL) == SQLITE_OK)
        return 0;
    fprintf(stderr, "bench_store: cannot open '%s': %s\n", path, sqlite3_errmsg(*b));
    return -1;
}

/* Export and B in one pass over ours, then B's sizes and the parameters. */
static int prepare_run(struct store *ours, const char *dir)
{
    struct exporter e = {0};
    char *out = xasprintf("%s/export.ndjson", dir), *bpath = xasprintf("%s/b.db", dir);
    int rc = -1;
    int64_t t0 = time_mono_ns();
    buf_init(&e.line, 0);
    buf_init(&e.j, 0);
    remove(bpath);
    if (!(e.src = prepare(store_db(ours), "SELECT * FROM spans")) || export_columns(&e, dir) != 0)
        goto done;
    if (!(e.out = fopen(out, "w"))) {
        fprintf(stderr, "bench_store: cannot write '%s': %s\n", out, strerror(errno));
        goto done;
    }
    if (open_b(&e.b, bpath, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) != 0 ||
        exec(e.b, b_schema) != 0 ||
        !(e.ins = prepare(e.b, "INSERT INTO spans(id, trace_id, span_id, start_ns, j)"
                               " VALUES(?1, ?2, ?3, ?4, ?5)")))
        goto done;
    if (export_all(&e) != 0)
        goto done;
    if (fclose(e.out) != 0) {
        e.out = NULL;
        fprintf(stderr, "bench_store: cannot write '%s': %s\n", out, strerror(errno));
        goto done;
    }
    e.out = NULL;
    printf("export_spans=%" PRId64 "\nexport_b_s=%.1f\n", e.rows, seconds_since(t0));
    fflush(stdout);
    int64_t bad = one_int(e.b, "SELECT count(*) FROM spans WHERE NOT json_valid(j)", INT64_MIN, -1);
    if (bad != 0) {
        fprintf(stderr, "bench_store: %" PRId64 " rows of B are not valid JSON\n", bad);
        goto done;
    }
    /* the store's FTS tables, for when `llmtap stats` has no fts part */
    printf("ours_fts_bytes=%" PRId64 "\n",
           one_int(store_db(ours), "SELECT total(pgsize) FROM dbstat WHERE name LIKE '%fts%'",
                   INT64_MIN, -1));
    rc = b_sizes(e.b) != 0 || pick_params(store_db(ours), e.b, dir) != 0 ? -1 : 0;
done:
    if (e.out)
        fclose(e.out);
    sqlite3_finalize(e.src);
    sqlite3_finalize(e.ins);
    sqlite3_close(e.b);
    buf_release(&e.line);
    buf_release(&e.j);
    free(out);
    free(bpath);
    return rc;
}

/* ---- query: the five queries ------------------------------------------------------------- */

struct qdef {
    const char *id, *what;
    double target_ms;
    const char *ours, *b;
    void (*bind)(sqlite3_stmt *, const struct params *);
    const char *fp_col; /* summed, or hashed when it is span_id */
};

static void bind_q1(sqlite3_stmt *st, const struct params *p)
{
    sqlite3_bind_int64(st, 1, p->hour_from);
}

static void bind_none(sqlite3_stmt *st, const struct params *p)
{
    (void)st;
    (void)p;
}

static void bind_q3(sqlite3_stmt *st, const struct params *p)
{
    sqlite3_bind_text(st, 1, p->phrase, -1, SQLITE_STATIC);
}

static void bind_q4(sqlite3_stmt *st, const struct params *p)
{
    sqlite3_bind_text(st, 1, p->trace, -1, SQLITE_STATIC);
}

static void bind_q5(sqlite3_stmt *st, const struct params *p)
{
    sqlite3_bind_text(st, 1, p->project, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, p->since_ns);
    sqlite3_bind_text(st, 3, p->model, -1, SQLITE_STATIC);
}

static const struct qdef queries[] = {
    {"q1", "cost by model by day, 30 d", 20,
     "SELECT day, model, sum(cost_nusd) / 1e9 AS cost FROM rollup_daily"
     " WHERE day >= ?1 / 24 GROUP BY 1, 2 ORDER BY 1, 2",
     "SELECT start_ns / 86400000000000 AS day, json_extract(j, '$.model') AS model,"
     " total(json_extract(j, '$.cost_usd')) AS cost FROM spans"
     " WHERE start_ns >= ?1 * 3600000000000 GROUP BY 1, 2 ORDER BY 1, 2",
     bind_q1, "cost"},
    {"q2", "p95 latency by version_set", 20,
     "SELECT version_set, llmtap_hist_quantile(llmtap_hist_sum(latency_hist), 0.95) AS p95"
     " FROM rollup_daily GROUP BY version_set ORDER BY 1",
     "WITH l AS (SELECT json_extract(j, '$.version_set') AS vs,"
     " json_extract(j, '$.latency_ms') AS ms FROM spans),"
     " r AS (SELECT vs, ms, row_number() OVER (PARTITION BY vs ORDER BY ms) AS rn,"
     " count(*) OVER (PARTITION BY vs) AS n FROM l)"
     " SELECT vs AS version_set, min(ms) AS p95 FROM r WHERE rn >= 0.95 * n GROUP BY vs"
     " ORDER BY 1",
     bind_none, "p95"},
    {"q3", "phrase search, newest 50", 100,
     "SELECT trace_id, span_id, start_ns, search FROM spans WHERE search = ?1"
     " ORDER BY start_ns DESC LIMIT 50",
     "SELECT s.trace_id, s.span_id, s.start_ns FROM spans_fts JOIN spans s"
     " ON s.id = spans_fts.rowid WHERE spans_fts MATCH ?1 ORDER BY s.start_ns DESC LIMIT 50",
     bind_q3, "span_id"},
    {"q4", "whole trace by id", 5, "SELECT * FROM spans WHERE trace_id = ?1",
     "SELECT * FROM spans WHERE trace_id = ?1", bind_q4, "span_id"},
    {"q5", "trace-list page, 7 d", 30,
     "SELECT trace_id, span_id, name, model, start_ns, latency_ms, cost_usd, status FROM spans"
     " WHERE project = ?1 AND model = ?3 AND parent_span_id IS NULL AND start_ns >= ?2"
     " ORDER BY start_ns DESC LIMIT 50",
     "SELECT trace_id, span_id, json_extract(j, '$.name') AS name,"
     " json_extract(j, '$.model') AS model, start_ns,"
     " json_extract(j, '$.latency_ms') AS latency_ms, json_extract(j, '$.cost_usd') AS cost_usd,"
     " json_extract(j, '$.status') AS status FROM spans WHERE start_ns >= ?2"
     " AND json_extract(j, '$.project') = ?1 AND json_extract(j, '$.model') = ?3"
     " AND json_extract(j, '$.parent_span_id') IS NULL ORDER BY start_ns DESC LIMIT 50",
     bind_q5, "span_id"},
};
#define NQUERIES (sizeof(queries) / sizeof(queries[0]))

/* For comparison: Q1 and Q2 on the hourly rollup (30 times the rows). */
static const struct qdef diagnostics[] = {
    {"d1", "Q1 on rollup_hourly", 20,
     "SELECT hour / 24 AS day, model, sum(cost_nusd) / 1e9 AS cost FROM rollup_hourly"
     " WHERE hour >= ?1 GROUP BY 1, 2 ORDER BY 1, 2",
     NULL, bind_q1, "cost"},
    {"d2", "Q2 on rollup_hourly", 20,
     "SELECT version_set, llmtap_hist_quantile(llmtap_hist_sum(latency_hist), 0.95) AS p95"
     " FROM rollup_hourly GROUP BY version_set ORDER BY 1",
     NULL, bind_none, "p95"},
};
#define NDIAGNOSTICS (sizeof(diagnostics) / sizeof(diagnostics[0]))

struct timing {
    int runs;
    double med_ms, p95_ms;
    int64_t rows;
    double fp; /* a sum of fp_col, or a sum of the FNV-1a hashes of its text mod 2^32 */
};

struct qrun {
    sqlite3_stmt *st;
    int fp_col;
    bool fp_hash;
    int64_t rows;
    double fp_sum;
    uint32_t fp_h;
    uint64_t sink; /* every cell read lands here */
};

/* Step every row of 'r->st', reading every column. Returns 0 or -1. */
static int run_once(struct qrun *r)
{
    int rc, n = sqlite3_column_count(r->st);
    r->rows = 0;
    r->fp_sum = 0;
    r->fp_h = 0;
    while ((rc = sqlite3_step(r->st)) == SQLITE_ROW) {
        r->rows++;
        for (int i = 0; i < n; i++) {
            int t = sqlite3_column_type(r->st, i);
            if (t == SQLITE_TEXT || t == SQLITE_BLOB) {
                const unsigned char *s = sqlite3_column_text(r->st, i);
                int len = sqlite3_column_bytes(r->st, i);
                r->sink += len ? s[len - 1] : 0;
                if (i == r->fp_col && r->fp_hash)
                    r->fp_h += fnv32(s, len);
            } else if (t != SQLITE_NULL) {
                double d = sqlite3_column_double(r->st, i);
                r->sink += (uint64_t)sqlite3_column_int64(r->st, i);
                if (i == r->fp_col)
                    r->fp_sum += d;
            }
        }
    }
    sqlite3_reset(r->st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int column_index(sqlite3_stmt *st, const char *name)
{
    for (int i = 0; i < sqlite3_column_count(st); i++)
        if (!strcmp(sqlite3_column_name(st, i), name))
            return i;
    return -1;
}

/* Warm-up runs (one when a run takes over a second: the data is then as warm
 * as it gets), then up to 'runs' timed ones within 'cap_s' seconds (at
 * least 3). Returns 0, 1 when the statement does not prepare, -1 on errors. */
static int time_query(sqlite3 *db, const struct qdef *q, const char *sql, const struct params *p,
                      int runs, double cap_s, struct timing *t)
{
    struct qrun r = {0};
    double ms[MAX_RUNS], spent = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &r.st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_store: %s: %s\n", q->id, sqlite3_errmsg(db));
        return 1;
    }
    r.fp_col = column_index(r.st, q->fp_col);
    r.fp_hash = !strcmp(q->fp_col, "span_id");
    q->bind(r.st, p);
    int rc = 0, n = 0;
    for (int w = 0; rc == 0 && w < WARMUP_RUNS; w++) {
        int64_t t0 = time_mono_ns();
        rc = run_once(&r);
        if (seconds_since(t0) > 1.0)
            break;
    }
    while (rc == 0 && n < runs && (n < 3 || spent < cap_s)) {
        int64_t t0 = time_mono_ns();
        rc = run_once(&r);
        ms[n] = (double)(time_mono_ns() - t0) / 1e6;
        spent += ms[n++] / 1e3;
    }
    if (rc != 0)
        fprintf(stderr, "bench_store: %s: %s\n", q->id, sqlite3_errmsg(db));
    sqlite3_finalize(r.st);
    qsort(ms, (size_t)n, sizeof(ms[0]), cmp_double);
    *t = (struct timing){.runs = n,
                         .med_ms = n ? (n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2) : 0,
                         .p95_ms = pct(ms, n, 95),
                         .rows = r.rows,
                         .fp = r.fp_hash ? (double)r.fp_h : r.fp_sum};
    return rc;
}

static void print_timing(const char *qid, const char *sys, const struct timing *t)
{
    printf("%s_%s_med=%.3f\n%s_%s_p95=%.3f\n%s_%s_runs=%d\n%s_%s_rows=%" PRId64
           "\n%s_%s_fp=%.12g\n",
           qid, sys, t->med_ms, qid, sys, t->p95_ms, qid, sys, t->runs, qid, sys, t->rows, qid, sys,
           t->fp);
    fflush(stdout);
}

/* One query on one system; a statement ours does not prepare yet (the
 * search column) is reported "na", on B it is an error. */
static int query_one(sqlite3 *db, const char *sys, const struct qdef *q, const struct params *p,
                     int runs, double cap_s)
{
    struct timing t;
    bool ours = !strcmp(sys, "ours");
    int rc = time_query(db, q, ours ? q->ours : q->b, p, runs, cap_s, &t);
    fprintf(stderr, "bench_store: %s %s: %s\n", q->id, sys, rc == 0 ? "done" : "failed");
    if (rc == 1 && ours) {
        printf("%s_%s=na\n", q->id, sys);
        return 0;
    }
    if (rc == 0)
        print_timing(q->id, sys, &t);
    return rc == 0 ? 0 : -1;
}

/* Every query (or only the one named 'only') on ours, and on 'b' unless it
 * is NULL. */
static int query_run(struct store *ours, sqlite3 *b, const struct params *p, int runs, double cap_s,
                     const char *only)
{
    int rc = 0;
    for (size_t i = 0; i < NQUERIES; i++) {
        if (only && strcmp(only, queries[i].id))
            continue;
        rc |= query_one(store_db(ours), "ours", &queries[i], p, runs, cap_s);
        if (b)
            rc |= query_one(b, "b", &queries[i], p, runs, cap_s);
    }
    for (size_t i = 0; i < NDIAGNOSTICS; i++)
        if (!only || !strcmp(only, diagnostics[i].id))
            rc |= query_one(store_db(ours), "ours", &diagnostics[i], p, runs, cap_s);
    return rc;
}

/* ---- report ------------------------------------------------------------------------------ */

static const char *met(bool ok)
{
    return ok ? "met" : "MISSED";
}

static double per_span(double bytes, double spans)
{
    return spans > 0 ? bytes / spans : NAN;
}

/* Ours' bytes from `llmtap stats --json`: the file, and its FTS part. */
struct ours_bytes {
    double total, fts;
    bool has_fts;
};

static void report_stats_parts(const char *stats_path, struct ours_bytes *ob, double spans)
{
    FILE *f = stats_path ? fopen(stats_path, "r") : NULL;
    char text[65536];
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    char err[128];
    if (f)
        fclose(f);
    cJSON *j = n ? jsonx_parse(text, n, err, sizeof(err)) : NULL;
    memset(ob, 0, sizeof(*ob));
    ob->total = NAN;
    if (!j) {
        printf("ours: no readable `llmtap stats --json` output\n");
        return;
    }
    double db = NAN, wal = 0;
    jsonx_double(cJSON_GetObjectItemCaseSensitive(j, "db_bytes"), &db);
    jsonx_double(cJSON_GetObjectItemCaseSensitive(j, "wal_bytes"), &wal);
    ob->total = db + wal;
    printf("ours by part (bytes/span):");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "bytes"))
    {
        if (!cJSON_IsNumber(it))
            continue;
        printf("  %s %.1f", it->string, per_span(it->valuedouble, spans));
        if (!strcmp(it->string, "fts")) {
            ob->fts = it->valuedouble;
            ob->has_fts = true;
        }
    }
    printf("\n");
    cJSON_ArrayForEach(it, j)
    {
        if (cJSON_IsNumber(it) && (strstr(it->string, "ratio") || strstr(it->string, "spans")))
            printf("ours stats: %s = %.10g\n", it->string, it->valuedouble);
    }
    cJSON_Delete(j);
}

static void report_sizes(const struct kv *r, const char *stats_path)
{
    double spans = kv_num(r, "spans"), raw = kv_num(r, "raw_bytes"), a = kv_num(r, "zstd_bytes");
    struct ours_bytes ob;
    printf("\n-- size on disk (bytes/span) --\n");
    report_stats_parts(stats_path, &ob, spans);
    const char *fts_from = "stats' fts part";
    if (!ob.has_fts && kv_num(r, "ours_fts_bytes") >= 0) {
        ob.fts = kv_num(r, "ours_fts_bytes");
        ob.has_fts = true;
        fts_from = "dbstat of its *fts* tables (stats has no fts part)";
    }
    printf("ours FTS index: %.1f bytes/span, from %s\n", per_span(ob.fts, spans),
           ob.has_fts ? fts_from : "nowhere: no FTS index found");
    double ours_nofts = ob.total - ob.fts;
    printf("%-28s %12s %14s %14s\n", "system", "total", "without FTS", "file bytes");
    printf("%-28s %12.1f %14s %14.0f\n", "raw NDJSON", per_span(raw, spans), "-", raw);
    printf("%-28s %12.1f %14s %14.0f   (%.0f s)\n", "(A) zstd -19, whole file", per_span(a, spans),
           "-", a, kv_num(r, "zstd_s"));
    printf("%-28s %12.1f %14.1f %14.0f   raw/ours %.2fx%s\n", "ours (llmtap store)",
           per_span(ob.total, spans), per_span(ours_nofts, spans), ob.total, raw / ob.total,
           ob.has_fts ? "" : "  (no FTS index found)");
    printf("%-28s %12.1f %14.1f %14.0f   (SQLite %s, export + load %.0f s)\n",
           "(B) SQLite JSON rows + FTS5", per_span(kv_num(r, "b_bytes"), spans),
           per_span(kv_num(r, "b_nofts_bytes"), spans), kv_num(r, "b_bytes"), sqlite3_libversion(),
           kv_num(r, "export_b_s"));
    printf("%-28s %12.1f %14s %14.0f   (DuckDB %s, load %.0f s)\n", "(C) DuckDB",
           per_span(kv_num(r, "duck_bytes"), spans), "(no index)", kv_num(r, "duck_bytes"),
           kv_get(r, "duck_version") ? kv_get(r, "duck_version") : "?", kv_num(r, "duck_load_s"));
    printf("target: ours total <= raw/8: %.0f <= %.0f bytes  %s\n", ob.total, raw / 8,
           met(ob.total <= raw / 8));
    printf("target: ours without FTS < (A): %.0f < %.0f bytes  %s\n", ours_nofts, a,
           met(ours_nofts < a));
}

static void report_ingest(const struct kv *r)
{
    double rate = kv_num(r, "ingest_spans_per_s");
    printf("\n-- ingest (bench_ingest, compaction running in the server) --\n");
    printf("ingest: %.0f spans/s sustained, ack p99 %.1f ms; %s spans stored (%s hot, %s "
           "segments)\n",
           rate, kv_num(r, "ingest_p99_ms"),
           kv_get(r, "ours_count") ? kv_get(r, "ours_count") : "?",
           kv_get(r, "hot_spans") ? kv_get(r, "hot_spans") : "?",
           kv_get(r, "segments") ? kv_get(r, "segments") : "?");
    printf("target: ingest >= 20,000 spans/s: %s\n", met(rate >= 20000));
    printf("settle: %.1f s of `llmtap compact` after SIGTERM (the indexing and text blocks the\n"
           "        compactor had left while it yielded to ingest; hot/segments above are after)\n",
           kv_num(r, "settle_s"));
    printf("llmtap check: %s\n", kv_get(r, "check") ? kv_get(r, "check") : "?");
}

/* "12.345" or "n/a" for 'q'_'sys'_med. */
static void cell(const struct kv *r, const char *q, const char *sys, char *out, size_t outlen)
{
    char key[KV_KEY];
    snprintf(key, sizeof(key), "%s_%s_med", q, sys);
    double v = kv_num(r, key);
    if (isnan(v))
        snprintf(out, outlen, "n/a");
    else
        snprintf(out, outlen, "%.3f", v);
}

/* "12.3x", or "-" when either side is missing. */
static void ratio(double num, double den, char *out, size_t outlen)
{
    if (isnan(num) || isnan(den) || den <= 0)
        snprintf(out, outlen, "-");
    else
        snprintf(out, outlen, "%.1fx", num / den);
}

static double qnum(const struct kv *r, const char *q, const char *sys, const char *what)
{
    char key[KV_KEY];
    snprintf(key, sizeof(key), "%s_%s_%s", q, sys, what);
    return kv_num(r, key);
}

/* Do the systems agree? Rows and fingerprint; p95s (ours from histograms)
 * within 2 %, sums within 1e-6. */
static void report_agreement(const struct kv *r, const struct qdef *q)
{
    static const char *const sys[] = {"ours", "b", "duck"};
    printf("   %s rows/fingerprint:", q->id);
    bool hash = !strcmp(q->fp_col, "span_id"), same = true;
    double rows0 = NAN, fp0 = NAN;
    for (int i = 0; i < 3; i++) {
        double rows = qnum(r, q->id, sys[i], "rows"), fp = qnum(r, q->id, sys[i], "fp");
        if (isnan(rows)) {
            printf(" %s -", sys[i]);
            continue;
        }
        printf(" %s %.0f/%.10g", sys[i], rows, fp);
        if (isnan(rows0)) {
            rows0 = rows;
            fp0 = fp;
            continue;
        }
        double tol = hash ? 0 : fabs(fp0) * (!strcmp(q->id, "q2") ? 0.02 : 1e-6);
        same &= rows == rows0 && fabs(fp - fp0) <= tol;
    }
    printf("  -> %s\n", same ? "same results" : "RESULTS DIFFER");
}

static void report_queries(const struct kv *r)
{
    printf("\n-- queries: median ms (warm, in process) --\n");
    printf("%-30s %10s %10s %10s %8s %8s %8s  %s\n", "query", "ours", "(B)", "(C)", "B/ours",
           "C/ours", "target", "");
    for (size_t i = 0; i < NQUERIES; i++) {
        const struct qdef *q = &queries[i];
        char o[32], b[32], c[32];
        cell(r, q->id, "ours", o, sizeof(o));
        cell(r, q->id, "b", b, sizeof(b));
        cell(r, q->id, "duck", c, sizeof(c));
        double vo = qnum(r, q->id, "ours", "med"), vb = qnum(r, q->id, "b", "med"),
               vc = qnum(r, q->id, "duck", "med");
        char rb[32], rc[32];
        ratio(vb, vo, rb, sizeof(rb));
        ratio(vc, vo, rc, sizeof(rc));
        printf("%-30s %10s %10s %10s %8s %8s %6.0fms  %s\n", q->what, o, b, c, rb, rc, q->target_ms,
               isnan(vo) ? "n/a (not built)" : met(vo <= q->target_ms));
        printf("   p95 ms / runs: ours %.3f/%.0f  B %.3f/%.0f  C %.3f/%.0f\n",
               qnum(r, q->id, "ours", "p95"), qnum(r, q->id, "ours", "runs"),
               qnum(r, q->id, "b", "p95"), qnum(r, q->id, "b", "runs"),
               qnum(r, q->id, "duck", "p95"), qnum(r, q->id, "duck", "runs"));
        report_agreement(r, q);
    }
    for (size_t i = 0; i < NDIAGNOSTICS; i++)
        printf("   where ours' time goes: %s: median %.3f ms (p95 %.3f)\n", diagnostics[i].what,
               qnum(r, diagnostics[i].id, "ours", "med"),
               qnum(r, diagnostics[i].id, "ours", "p95"));
    for (int i = 0; i < 2; i++) {
        double vo = qnum(r, queries[i].id, "ours", "med");
        double vc = qnum(r, queries[i].id, "duck", "med");
        printf("target: %s beats (C): %.3f < %.3f ms  %s\n", queries[i].what, vo, vc, met(vo < vc));
    }
}

static int report_run(const char *results, const char *stats)
{
    struct kv *r = xcalloc(1, sizeof(*r));
    if (kv_load(r, results) != 0) {
        free(r);
        return 1;
    }
    double spans = kv_num(r, "spans"), raw = kv_num(r, "raw_bytes");
    printf("\n== llmtap store benchmark (issue 3 item 8) ==\n");
    printf("data: %.0f spans over %.1f days (seed 1), raw NDJSON %.0f bytes = %.1f bytes/span\n",
           spans, (kv_num(r, "param_last_ns") - kv_num(r, "param_first_ns")) / 86400e9, raw,
           per_span(raw, spans));
    printf("parameters: Q1 hour >= %s; Q3 %s; Q4 trace %s; Q5 project %s, model %s, start_ns >= "
           "%s\n",
           kv_get(r, "param_hour_from"), kv_get(r, "param_phrase"), kv_get(r, "param_trace"),
           kv_get(r, "param_project"), kv_get(r, "param_model"), kv_get(r, "param_since_ns"));
    report_sizes(r, stats);
    report_ingest(r);
    report_queries(r);
    free(r);
    return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_store prepare --ours DB --dir DIR\n"
                    "       bench_store query --ours DB [--b DB] --params FILE [--runs 20] "
                    "[--cap 60] [--only QID]\n"
                    "       bench_store report RESULTS [STATS_JSON]\n");
    exit(2);
}

struct opts {
    const char *ours, *b, *dir, *params, *only;
    int runs;
    double cap_s;
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.runs = 20, .cap_s = 60};
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--ours"))
            o->ours = v;
        else if (!strcmp(a, "--b"))
            o->b = v;
        else if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--params"))
            o->params = v;
        else if (!strcmp(a, "--runs"))
            o->runs = atoi(v);
        else if (!strcmp(a, "--cap"))
            o->cap_s = atof(v);
        else if (!strcmp(a, "--only"))
            o->only = v;
        else
            usage();
    }
    if (o->runs < 3 || o->runs > MAX_RUNS || !(o->cap_s > 0))
        usage();
}

static int open_ours(struct store **st, const char *path)
{
    char err[256];
    if (store_open(st, path, STORE_READONLY, err, sizeof(err)) == STORE_OK)
        return 0;
    fprintf(stderr, "bench_store: %s\n", err);
    return -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct store *ours = NULL;
    sqlite3 *b = NULL;
    struct params p;
    int rc = 1;
    if (argc >= 3 && !strcmp(argv[1], "report"))
        return report_run(argv[2], argc > 3 ? argv[3] : NULL);
    if (argc < 2)
        usage();
    parse_opts(argc, argv, &o);
    if (!strcmp(argv[1], "prepare") && o.ours && o.dir) {
        if (open_ours(&ours, o.ours) == 0)
            rc = prepare_run(ours, o.dir) == 0 ? 0 : 1;
    } else if (!strcmp(argv[1], "query") && o.ours && o.params) {
        if (params_load(&p, o.params) == 0 && open_ours(&ours, o.ours) == 0 &&
            (!o.b || open_b(&b, o.b, SQLITE_OPEN_READONLY) == 0))
            rc = query_run(ours, b, &p, o.runs, o.cap_s, o.only) == 0 ? 0 : 1;
    } else {
        usage();
    }
    sqlite3_close(b);
    store_close(ours);
    return rc;
}
