/*
 * segment: compaction of hot rows into columnar segments, and reading them
 * back (see segment.h).
 *
 * Tables (schema v3; v8 added text_bloom, v22 put the filters last, v24
 * dropped the key filter and added cold):
 *   segments(id, project, nrows, min_start, max_start, bytes, tombstones,
 *            created_ns, cold, trace_bloom, text_bloom)
 *   segment_body(segment_id, body)            every colenc frame (v23, segbody.h;
 *                                             before: segment_cols, a row each)
 *   segment_tombstones(segment_id, row)       rows moved back to span_rows
 *
 * Invariants:
 *  - a row is in exactly one place: span_rows, or one segment without a
 *    tombstone (compaction and resurrection each move rows inside one
 *    transaction);
 *  - the writer's segindex mirrors `segments` (zone maps and trace Bloom
 *    filters); after a rollback it is reloaded from the table.
 */
#include "store/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/ids.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/rollup.h"
#include "store/segbody.h"
#include "store/texts.h"

const struct segment_colinfo segment_cols[SEGMENT_NCOLS] = {
    {"project", COLENC_TEXT},
    {"trace_id", COLENC_TEXT},
    {"span_id", COLENC_TEXT},
    {"parent_span_id", COLENC_TEXT},
    {"name", COLENC_TEXT},
    {"kind", COLENC_TEXT},
    {"start_ns", COLENC_INT},
    {"end_ns", COLENC_INT},
    {"ttft_ms", COLENC_REAL},
    {"queue_ms", COLENC_REAL},
    {"tool_ms", COLENC_REAL},
    {"provider", COLENC_TEXT},
    {"model", COLENC_TEXT},
    {"response_model", COLENC_TEXT},
    {"input_tokens", COLENC_INT},
    {"output_tokens", COLENC_INT},
    {"cache_read_tokens", COLENC_INT},
    {"cache_write_tokens", COLENC_INT},
    {"cache_write_1h_tokens", COLENC_INT},
    {"reasoning_tokens", COLENC_INT},
    {"cost_nusd", COLENC_INT},
    {"price_version", COLENC_TEXT},
    {"status", COLENC_TEXT},
    {"error_code", COLENC_TEXT},
    {"error_message", COLENC_TEXT},
    {"user_id", COLENC_TEXT},
    {"session_id", COLENC_TEXT},
    {"tenant", COLENC_TEXT},
    {"version_set", COLENC_TEXT},
    {"prompt_name", COLENC_TEXT},
    {"prompt_version", COLENC_INT},
    {"prompt_vars", COLENC_TEXT},
    {"input", COLENC_BLOB},
    {"output", COLENC_BLOB},
    {"params", COLENC_TEXT},
    {"tags", COLENC_TEXT},
    {"attributes", COLENC_TEXT},
    {"service_name", COLENC_TEXT},
    {"service_version", COLENC_TEXT},
    {"service_tier", COLENC_TEXT},
    {"finish_reason", COLENC_TEXT},
    {"replay_of", COLENC_TEXT},
    {"io_from_logs", COLENC_INT},
    {"ingested_ns", COLENC_INT},
    {"input_refs", COLENC_BLOB},
    {"output_refs", COLENC_BLOB},
};

#define COL_LEVEL 3   /* zstd level of segment columns, beside ingest */
#define MERGE_LEVEL 9 /* ... of merged segments, in the background */
#define COLD_LEVEL 19 /* ... of a segment packed again when idle (cold) */
/* Bloom filters: bits per distinct value, and probes. A filter's size
 * comes from its stored length, but the probes must stay what they were
 * when it was written: the text filter had 10 bits until 2026-12-03, with
 * these same probes. (Until v24 a filter of every (trace, span) key, 12
 * bits a row, told the writer where a resent span may be; the trace
 * filter does that now, for a third of the bytes.) */
#define TRACE_BLOOM_BITS 10 /* per distinct trace: ~1 % */
#define TRACE_BLOOM_PROBES 7
#define TEXT_BLOOM_BITS 8   /* per distinct text a segment refers to: ~2.3 % */
#define TEXT_BLOOM_PROBES 7 /* (0.8 % at 10 bits) */

#define DAY_NS 86400000000000LL

/* The UTC day of time 'ns' (days since 1970, rounded down). */
static int64_t utc_day(int64_t ns)
{
    return ns / DAY_NS - (ns % DAY_NS < 0);
}

/* ---- Bloom filters ---- */

static uint64_t trace_hash(const char *trace_id)
{
    return ids_hash64(trace_id, strlen(trace_id), 0x7ace);
}

static void bloom_add(uint8_t *bits, size_t nbytes, int k, uint64_t h)
{
    uint64_t m = (uint64_t)nbytes * 8, h1 = h & 0xffffffffu, h2 = (h >> 32) | 1;
    for (int i = 0; i < k; i++) {
        uint64_t b = (h1 + (uint64_t)i * h2) % m;
        bits[b / 8] |= (uint8_t)(1u << (b % 8));
    }
}

static int bloom_has(const uint8_t *bits, size_t nbytes, int k, uint64_t h)
{
    if (nbytes == 0)
        return 0;
    uint64_t m = (uint64_t)nbytes * 8, h1 = h & 0xffffffffu, h2 = (h >> 32) | 1;
    for (int i = 0; i < k; i++) {
        uint64_t b = (h1 + (uint64_t)i * h2) % m;
        if (!(bits[b / 8] & (1u << (b % 8))))
            return 0;
    }
    return 1;
}

static size_t bloom_bytes(size_t rows, size_t bits_per_row)
{
    size_t n = (rows * bits_per_row + 7) / 8;
    return n < 8 ? 8 : n;
}

int segment_bloom_maybe(const void *bloom, size_t n, const char *trace_id)
{
    return bloom_has(bloom, n, TRACE_BLOOM_PROBES, trace_hash(trace_id));
}

/* ---- the writer's index ---- */

struct seginfo {
    int64_t id, nrows, min_start, max_start;
    char *project;
    uint8_t *traces; /* trace Bloom filter */
    size_t ntraces;
};

struct segindex {
    sqlite3 *db;
    struct seginfo *segs;
    size_t n, cap;
    int64_t hot_rows;
    size_t *by_max; /* indexes into 'segs', max_start ascending (stale when 'dirty') */
    size_t by_max_cap;
    int dirty;
};

static void seginfo_release(struct seginfo *s)
{
    free(s->project);
    free(s->traces);
}

static void index_clear(struct segindex *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        seginfo_release(&ix->segs[i]);
    ix->n = 0;
    ix->dirty = 1;
}

static struct seginfo *index_add(struct segindex *ix)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 64;
        ix->segs = xrealloc(ix->segs, ix->cap * sizeof(*ix->segs));
    }
    struct seginfo *s = &ix->segs[ix->n++];
    memset(s, 0, sizeof(*s));
    ix->dirty = 1;
    return s;
}

/* Run 'sql' with ?1 = 'a' and ?2 = 'b' (when it has them): the first column
 * of its first row (0 when none), *ok 1 when it ran. */
static int64_t one_int2(sqlite3 *db, const char *sql, int64_t a, int64_t b, int *ok)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *ok = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int n = sqlite3_bind_parameter_count(st);
        if (n >= 1)
            sqlite3_bind_int64(st, 1, a);
        if (n >= 2)
            sqlite3_bind_int64(st, 2, b);
        int rc = sqlite3_step(st);
        *ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
        if (rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static int64_t one_int(sqlite3 *db, const char *sql, int *ok)
{
    return one_int2(db, sql, 0, 0, ok);
}

int segindex_reload(struct segindex *ix, char *err, size_t errlen)
{
    index_clear(ix);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ix->db,
                                "SELECT id, project, nrows, min_start, max_start, trace_bloom"
                                " FROM segments ORDER BY id",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct seginfo *s = index_add(ix);
        s->id = sqlite3_column_int64(st, 0);
        s->project = xstrdup((const char *)sqlite3_column_text(st, 1));
        s->nrows = sqlite3_column_int64(st, 2);
        s->min_start = sqlite3_column_int64(st, 3);
        s->max_start = sqlite3_column_int64(st, 4);
        s->ntraces = (size_t)sqlite3_column_bytes(st, 5);
        s->traces = xmalloc(s->ntraces + 1);
        memcpy(s->traces, sqlite3_column_blob(st, 5), s->ntraces);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    int ok = 0;
    ix->hot_rows = one_int(ix->db, "SELECT count(*) FROM span_rows", &ok);
    if ((rc != SQLITE_DONE && rc != SQLITE_OK) || !ok) {
        snprintf(err, errlen, "cannot read segments: %s", sqlite3_errmsg(ix->db));
        return -1;
    }
    return 0;
}

int segindex_open(struct segindex **out, sqlite3 *db, char *err, size_t errlen)
{
    struct segindex *ix = xcalloc(1, sizeof(*ix));
    ix->db = db;
    *out = NULL;
    if (segindex_reload(ix, err, errlen) != 0) {
        segindex_close(ix);
        return -1;
    }
    *out = ix;
    return 0;
}

void segindex_close(struct segindex *ix)
{
    if (!ix)
        return;
    index_clear(ix);
    free(ix->segs);
    free(ix->by_max);
    free(ix);
}

int64_t segindex_hot_rows(const struct segindex *ix)
{
    return ix->hot_rows;
}

size_t segindex_segments(const struct segindex *ix)
{
    return ix->n;
}

void segindex_add_hot(struct segindex *ix, int64_t n)
{
    ix->hot_rows += n;
}

/* ---- compaction: build (any connection), then apply (writer) ---- */

/* One encoded segment, ready to be written. */
struct built {
    char *project;
    int64_t nrows, min_start, max_start;
    int cold;                /* packed at COLD_LEVEL */
    uint8_t *traces, *texts; /* Bloom filters (texts: after its max id) */
    size_t ntraces, ntexts;
    struct buf cols[SEGMENT_NCOLS]; /* colenc frames */
};

struct segment_batch {
    int64_t last_id; /* the hot rows it holds: every id <= last_id */
    int64_t rows;
    struct built *segs;
    size_t n, cap;
    struct rollup_acc *ru; /* what its rows add to the compacted rollups */
};

/* A segment being built: one column writer per stored column. */
struct builder {
    struct rollup_acc *ru; /* the batch's (borrowed) */
    struct colenc_writer *cols[SEGMENT_NCOLS];
    char *project;
    int64_t min_start, max_start;
    uint64_t *traceh; /* per row */
    size_t n;
    int64_t *tids; /* the text ids the rows refer to */
    size_t ntids, captids;
    int packed; /* a row keeps its text inline (pre-v2): no text filter */
};

/* The column whose values column 'c' may be written against (colenc's 'P'
 * and 'W'), or -1. */
static int col_ref(int c)
{
    return c == SC_PARENT_SPAN_ID ? SC_SPAN_ID : c == SC_END_NS ? SC_START_NS : -1;
}

static void builder_init(struct builder *b)
{
    memset(b, 0, sizeof(*b));
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        b->cols[c] = colenc_writer_new(segment_cols[c].type);
    /* a parent is mostly a span of the same segment: kept as its row */
    colenc_writer_set_ref(b->cols[SC_PARENT_SPAN_ID], b->cols[SC_SPAN_ID]);
    /* a start near the starts before it, an end near its own start or a
     * time of the spans just before (its trace's, whole ms apart) */
    colenc_writer_set_window(b->cols[SC_START_NS], NULL);
    colenc_writer_set_window(b->cols[SC_END_NS], b->cols[SC_START_NS]);
    b->traceh = xmalloc(SEGMENT_MERGE_ROWS * sizeof(*b->traceh));
}

static void builder_release(struct builder *b)
{
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        colenc_writer_free(b->cols[c]);
    free(b->project);
    free(b->traceh);
    free(b->tids);
    memset(b, 0, sizeof(*b));
}

static int64_t stmt_count(sqlite3_stmt *st, int c)
{
    return sqlite3_column_type(st, c) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, c);
}

static int is_llm_kind(const char *kind)
{
    return kind && (strcmp(kind, "llm") == 0 || strcmp(kind, "embedding") == 0);
}

/* Count the current row of 'st' (stored columns in segment order) into 'ru'. */
static void count_stmt_row(struct rollup_acc *ru, sqlite3_stmt *st)
{
    const char *model = (const char *)sqlite3_column_text(st, SC_MODEL);
    int64_t start = sqlite3_column_int64(st, SC_START_NS);
    struct rollup_span r = {
        .project = (const char *)sqlite3_column_text(st, SC_PROJECT),
        .model = model ? model : (const char *)sqlite3_column_text(st, SC_RESPONSE_MODEL),
        .provider = (const char *)sqlite3_column_text(st, SC_PROVIDER),
        .version_set = (const char *)sqlite3_column_text(st, SC_VERSION_SET),
        .status = (const char *)sqlite3_column_text(st, SC_STATUS),
        .user_id = (const char *)sqlite3_column_text(st, SC_USER_ID),
        .tenant = (const char *)sqlite3_column_text(st, SC_TENANT),
        .start_ns = start,
        .input_tokens = stmt_count(st, SC_INPUT_TOKENS),
        .output_tokens = stmt_count(st, SC_OUTPUT_TOKENS),
        .cache_read_tokens = stmt_count(st, SC_CACHE_READ_TOKENS),
        .cache_write_tokens = stmt_count(st, SC_CACHE_WRITE_TOKENS),
        .reasoning_tokens = stmt_count(st, SC_REASONING_TOKENS),
        .has_cost = sqlite3_column_type(st, SC_COST_NUSD) != SQLITE_NULL,
        .cost_nusd = sqlite3_column_int64(st, SC_COST_NUSD),
        .is_llm = is_llm_kind((const char *)sqlite3_column_text(st, SC_KIND)),
        .latency_ms = (double)(sqlite3_column_int64(st, SC_END_NS) - start) / 1e6,
        .ttft_ms = sqlite3_column_type(st, SC_TTFT_MS) == SQLITE_NULL
                       ? NAN
                       : sqlite3_column_double(st, SC_TTFT_MS),
    };
    rollup_add(ru, &r, 1);
}

/* What the zone maps and filters learn from a row appended to 'b': its
 * start, trace id and refs blobs (NULL when it has none; 'inlined': it
 * keeps that text inline, pre-v2). */
static void builder_note(struct builder *b, int64_t start, const char *trace, const void *refs[2],
                         const size_t nrefs[2], const int inlined[2])
{
    if (b->n == 0 || start < b->min_start)
        b->min_start = start;
    if (b->n == 0 || start > b->max_start)
        b->max_start = start;
    b->traceh[b->n] = trace_hash(trace ? trace : "");
    b->n++;
    for (int i = 0; i < 2; i++) {
        if (!refs[i]) {
            b->packed |= inlined[i];
            continue;
        }
        if (texts_refs_ids(refs[i], nrefs[i], &b->tids, &b->ntids, &b->captids) != 0)
            continue; /* malformed: what it held is added; `llmtap check` reports it */
    }
}

/* Append the current row of 'st' (the stored columns in segment order). */
static void builder_add(struct builder *b, sqlite3_stmt *st)
{
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        colenc_put_value(b->cols[c], sqlite3_column_value(st, c));
    const void *refs[2] = {NULL, NULL};
    size_t nrefs[2] = {0, 0};
    int inlined[2];
    for (int i = 0; i < 2; i++) {
        int c = i ? SC_OUTPUT_REFS : SC_INPUT_REFS;
        if (sqlite3_column_type(st, c) == SQLITE_BLOB) {
            refs[i] = sqlite3_column_blob(st, c);
            nrefs[i] = (size_t)sqlite3_column_bytes(st, c);
        }
        inlined[i] = sqlite3_column_type(st, i ? SC_OUTPUT : SC_INPUT) != SQLITE_NULL;
    }
    builder_note(b, sqlite3_column_int64(st, SC_START_NS),
                 (const char *)sqlite3_column_text(st, SC_TRACE_ID), refs, nrefs, inlined);
    count_stmt_row(b->ru, st);
}

static uint8_t *make_bloom(const uint64_t *h, size_t n, size_t bits_per_row, int probes,
                           size_t *len)
{
    *len = bloom_bytes(n, bits_per_row);
    uint8_t *bits = xcalloc(1, *len);
    for (size_t i = 0; i < n; i++)
        bloom_add(bits, *len, probes, h[i]);
    return bits;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A Bloom filter sized by the distinct values of 'h' (a trace's spans
 * share one hash: sized per row, a filter spends its bits on repeats). */
static uint8_t *make_distinct_bloom(const uint64_t *h, size_t n, size_t bits_per_value, int probes,
                                    size_t *len)
{
    uint64_t *u = xmalloc((n ? n : 1) * sizeof(*u));
    memcpy(u, h, n * sizeof(*u));
    qsort(u, n, sizeof(*u), cmp_u64);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || u[d - 1] != u[i])
            u[d++] = u[i];
    uint8_t *bits = make_bloom(u, d, bits_per_value, probes, len);
    free(u);
    return bits;
}

static uint64_t text_hash(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29) ^ ((uint64_t)id << 17);
}

/* The text Bloom filter: the highest id (8 bytes, little-endian), then
 * TEXT_BLOOM_BITS per distinct id. 'ids' is sorted here. */
static uint8_t *make_text_bloom(int64_t *ids, size_t n, size_t *len)
{
    if (n > 1) /* a segment of spans without texts has none (and 'ids' may be NULL) */
        qsort(ids, n, sizeof(*ids), cmp_i64);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || ids[d - 1] != ids[i])
            ids[d++] = ids[i];
    size_t nbits = bloom_bytes(d, TEXT_BLOOM_BITS);
    *len = 8 + nbits;
    uint8_t *out = xcalloc(1, *len);
    uint64_t max = d ? (uint64_t)ids[d - 1] : 0;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(max >> (8 * i));
    for (size_t i = 0; i < d; i++)
        bloom_add(out + 8, nbits, TEXT_BLOOM_PROBES, text_hash(ids[i]));
    return out;
}

int64_t segment_texts_max(const void *bloom, size_t n)
{
    const uint8_t *p = bloom;
    uint64_t max = 0;
    if (!p || n < 9)
        return INT64_MAX; /* no filter: anything */
    for (int i = 0; i < 8; i++)
        max |= (uint64_t)p[i] << (8 * i);
    return (int64_t)max;
}

int segment_texts_maybe(const void *bloom, size_t n, int64_t id)
{
    if (!bloom || n < 9)
        return 1;
    return bloom_has((const uint8_t *)bloom + 8, n - 8, TEXT_BLOOM_PROBES, text_hash(id));
}

static void built_release(struct built *g)
{
    free(g->project);
    free(g->traces);
    free(g->texts);
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        buf_release(&g->cols[c]);
}

void segment_batch_free(struct segment_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        built_release(&b->segs[i]);
    free(b->segs);
    rollup_acc_free(b->ru);
    free(b);
}

int64_t segment_batch_rows(const struct segment_batch *b)
{
    return b->rows;
}

/* Encode the segment 'b' holds into the batch at zstd 'level'; 'b' is
 * emptied. */
static int builder_flush(struct segment_batch *out, struct builder *b, int level, char *err,
                         size_t errlen)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 4;
        out->segs = xrealloc(out->segs, out->cap * sizeof(*out->segs));
    }
    struct built *g = &out->segs[out->n++];
    memset(g, 0, sizeof(*g));
    g->project = b->project;
    b->project = NULL;
    g->nrows = (int64_t)b->n;
    g->min_start = b->min_start;
    g->max_start = b->max_start;
    g->cold = level == COLD_LEVEL;
    g->traces =
        make_distinct_bloom(b->traceh, b->n, TRACE_BLOOM_BITS, TRACE_BLOOM_PROBES, &g->ntraces);
    if (!b->packed)
        g->texts = make_text_bloom(b->tids, b->ntids, &g->ntexts);
    out->rows += g->nrows;
    b->n = 0;
    b->ntids = 0;
    b->packed = 0;
    for (int k = 0; k < 2 * SEGMENT_NCOLS; k++) { /* columns that refer before the others */
        int c = k % SEGMENT_NCOLS;
        if ((col_ref(c) >= 0) != (k < SEGMENT_NCOLS))
            continue;
        buf_init(&g->cols[c], 0);
        if (colenc_finish(b->cols[c], level, &g->cols[c]) != 0) {
            snprintf(err, errlen, "compaction: cannot encode column %s", segment_cols[c].name);
            return -1;
        }
    }
    return 0;
}

/* "SELECT <stored columns> FROM span_rows" + 'tail' (caller frees). */
static char *select_cols(const char *tail)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_puts(&b, "SELECT ");
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        rc |= buf_printf(&b, "%s%s", c ? "," : "", segment_cols[c].name);
    rc |= buf_printf(&b, " FROM %s", tail);
    (void)rc; /* no ceiling */
    return buf_take(&b, NULL);
}

/* Stream the hot rows with id <= 'last', by project and time, into 'out'. */
static int build_rows(sqlite3 *db, int64_t last, struct segment_batch *out, char *err,
                      size_t errlen)
{
    char *sql = select_cols("span_rows WHERE id <= ?1 ORDER BY project, start_ns, id");
    sqlite3_stmt *st = NULL;
    struct builder b;
    builder_init(&b);
    b.ru = out->ru;
    /* the UTC day of b's rows: a segment holds one (merging and retention go by day) */
    int64_t b_day = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK ? 0 : -1;
    free(sql);
    if (rc == 0)
        sqlite3_bind_int64(st, 1, last);
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *project = (const char *)sqlite3_column_text(st, SC_PROJECT);
        int64_t day = utc_day(sqlite3_column_int64(st, SC_START_NS));
        if (b.n && (strcmp(b.project, project ? project : "") != 0 || day != b_day))
            rc = builder_flush(out, &b, COL_LEVEL, err, errlen);
        b_day = day;
        if (rc == 0 && b.n == 0)
            xstrset(&b.project, project ? project : "");
        if (rc == 0)
            builder_add(&b, st);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = -1;
    if (rc && !*err)
        snprintf(err, errlen, "compaction: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc == 0 && b.n)
        rc = builder_flush(out, &b, COL_LEVEL, err, errlen);
    builder_release(&b);
    return rc;
}

int segment_build(sqlite3 *db, int max_rows, struct segment_batch **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        *err = '\0';
    if (max_rows > SEGMENT_MAX_ROWS)
        max_rows = SEGMENT_MAX_ROWS;
    int ok = 0;
    int64_t last = one_int2(
        db, "SELECT coalesce(max(id), 0) FROM (SELECT id FROM span_rows ORDER BY id LIMIT ?1)",
        max_rows, 0, &ok);
    if (!ok) {
        snprintf(err, errlen, "compaction: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (last == 0)
        return 0;
    struct segment_batch *b = xcalloc(1, sizeof(*b));
    b->last_id = last;
    b->ru = rollup_acc_new();
    if (build_rows(db, last, b, err, errlen) != 0) {
        segment_batch_free(b);
        return -1;
    }
    *out = b;
    return 0;
}

static int exec_bound(sqlite3 *db, sqlite3_stmt *st, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "segment write: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Write one built segment; its id in *id. */
static int write_built(sqlite3 *db, sqlite3_stmt *seg, sqlite3_stmt *body, const struct built *g,
                       int64_t *id, char *err, size_t errlen)
{
    int64_t bytes = (int64_t)(g->ntraces + g->ntexts);
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        bytes += (int64_t)g->cols[c].len;
    sqlite3_bind_text(seg, 1, g->project, -1, SQLITE_STATIC);
    sqlite3_bind_int64(seg, 2, g->nrows);
    sqlite3_bind_int64(seg, 3, g->min_start);
    sqlite3_bind_int64(seg, 4, g->max_start);
    sqlite3_bind_int(seg, 5, g->cold);
    sqlite3_bind_blob(seg, 6, g->traces, (int)g->ntraces, SQLITE_STATIC);
    sqlite3_bind_int64(seg, 7, bytes);
    sqlite3_bind_int64(seg, 8, time_now_ns());
    sqlite3_bind_blob(seg, 9, g->texts, (int)g->ntexts, SQLITE_STATIC);
    if (exec_bound(db, seg, err, errlen))
        return -1;
    *id = sqlite3_last_insert_rowid(db);
    const void *frames[SEGMENT_NCOLS];
    size_t lens[SEGMENT_NCOLS];
    for (int c = 0; c < SEGMENT_NCOLS; c++) {
        frames[c] = g->cols[c].data;
        lens[c] = g->cols[c].len;
    }
    struct buf b;
    buf_init(&b, 0);
    int rc = segbody_build(frames, lens, SEGMENT_NCOLS, &b);
    if (rc == 0) {
        sqlite3_bind_int64(body, 1, *id);
        sqlite3_bind_blob64(body, 2, b.data ? b.data : "", b.len, SQLITE_STATIC);
        rc = exec_bound(db, body, err, errlen);
    } else {
        snprintf(err, errlen, "segment write: out of memory");
    }
    buf_release(&b);
    return rc ? -1 : 0;
}

/* Mirror a written segment in the index (takes the project and trace filter). */
static void index_take(struct segindex *ix, struct built *g, int64_t id)
{
    struct seginfo *s = index_add(ix);
    s->id = id;
    s->nrows = g->nrows;
    s->min_start = g->min_start;
    s->max_start = g->max_start;
    s->project = g->project;
    s->traces = g->traces;
    s->ntraces = g->ntraces;
    g->project = NULL;
    g->traces = NULL;
}

/* Write every segment of 'b'; their ids into ids[0..b->n). 0, or -1. */
static int write_segments(sqlite3 *db, const struct segment_batch *b, int64_t *ids, char *err,
                          size_t errlen)
{
    sqlite3_stmt *seg = NULL, *body = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO segments(project, nrows, min_start, max_start, cold,"
                           " trace_bloom, bytes, created_ns, text_bloom)"
                           " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                           -1, &seg, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO segment_body(segment_id, body) VALUES(?1,?2)", -1,
                           &body, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "segment write: %s", sqlite3_errmsg(db));
        goto done;
    }
    for (size_t i = 0; i < b->n; i++)
        if (write_built(db, seg, body, &b->segs[i], &ids[i], err, errlen))
            goto done;
    rc = 0;
done:
    sqlite3_finalize(seg);
    sqlite3_finalize(body);
    return rc;
}

int segment_apply(struct segindex *ix, struct segment_batch *b, int *moved, char *err,
                  size_t errlen)
{
    *moved = 0;
    int ok = 0;
    one_int2(ix->db, "DELETE FROM span_rows WHERE id <= ?1", b->last_id, 0, &ok);
    if (!ok) {
        snprintf(err, errlen, "compaction: %s", sqlite3_errmsg(ix->db));
        return -1;
    }
    if (sqlite3_changes(ix->db) != b->rows)
        return 1; /* the hot rows changed since the build: the caller rolls back */
    int64_t *ids = xmalloc((b->n + 1) * sizeof(*ids));
    int rc = write_segments(ix->db, b, ids, err, errlen);
    if (rc == 0) /* the rows' counts move with them */
        rc = rollup_flush(b->ru, ix->db, err, errlen) != 0 ? -1 : 0;
    if (rc == 0) {
        for (size_t i = 0; i < b->n; i++)
            index_take(ix, &b->segs[i], ids[i]);
        ix->hot_rows -= b->rows;
        *moved = (int)b->rows;
    }
    free(ids);
    return rc;
}

int segment_compact(struct segindex *ix, int max_rows, int *moved, char *err, size_t errlen)
{
    struct segment_batch *b = NULL;
    *moved = 0;
    if (segment_build(ix->db, max_rows, &b, err, errlen) != 0)
        return -1;
    if (!b)
        return 0;
    int rc = segment_apply(ix, b, moved, err, errlen);
    segment_batch_free(b);
    if (rc == 1) {
        snprintf(err, errlen, "compaction: the hot rows changed while compacting");
        return -1;
    }
    return rc;
}

/* ---- reading ---- */

struct segment_data {
    int64_t id;
    size_t rows;
    uint64_t partial;         /* columns decoded with a selection of rows */
    unsigned char *kept;      /* that selection (bitmap), NULL: every row */
    struct colenc_dctx *dctx; /* for all its columns; made by the first */
    struct colenc_column *cols[SEGMENT_NCOLS];
    uint8_t *deleted; /* bitmap, NULL when no tombstones */
};

static int load_tombstones(sqlite3 *db, int64_t seg, struct segment_data *d, char *err,
                           size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT row FROM segment_tombstones WHERE segment_id=?1", -1,
                                &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(st, 1, seg);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t row = sqlite3_column_int64(st, 0);
        if (!d->deleted)
            d->deleted = xcalloc(1, d->rows / 8 + 1);
        if (row >= 0 && (size_t)row < d->rows)
            d->deleted[row / 8] |= (uint8_t)(1u << (row % 8));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        snprintf(err, errlen, "segment %lld: %s", (long long)seg, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Row and tombstone counts of segment 'seg': 1, 0 when there is no such
 * segment, -1 on failure. */
static int segment_counts(sqlite3 *db, int64_t seg, int64_t *rows, int64_t *tombstones)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT nrows, tombstones FROM segments WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, seg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *rows = sqlite3_column_int64(st, 0);
        *tombstones = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The decompression context of 'd' (NULL if none can be made: each column
 * then makes its own). */
static struct colenc_dctx *data_dctx(struct segment_data *d)
{
    if (!d->dctx)
        d->dctx = colenc_dctx_new();
    return d->dctx;
}

/* Decode column 'c' of 'd', read through 'br', keeping the rows of 'want'
 * (NULL: all). */
static int load_col(struct segbody_reader *br, struct segment_data *d, int c,
                    const unsigned char *want, char *err, size_t errlen)
{
    char why[128] = "the column is missing";
    const struct colenc_column *ref = col_ref(c) >= 0 ? d->cols[col_ref(c)] : NULL;
    const void *p = NULL;
    size_t n = 0;
    int rc = segbody_frame(br, c, &p, &n, why, sizeof(why));
    int got = rc == 0 && colenc_decode_rows(data_dctx(d), p, n, ref, want, d->rows, &d->cols[c],
                                            why, sizeof(why)) == 0;
    if (!got || colenc_rows(d->cols[c]) != d->rows) {
        snprintf(err, errlen, "segment %lld column %s: %s", (long long)d->id, segment_cols[c].name,
                 got ? "wrong row count" : why);
        return -1;
    }
    return 0;
}

int segment_load_more(sqlite3 *db, struct segment_data *d, uint64_t colmask,
                      const unsigned char *want, char *err, size_t errlen)
{
    struct segbody_reader *br = NULL;
    uint64_t whole = 0; /* referred to by another column: every row kept */
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        if ((colmask & (1ull << c)) && col_ref(c) >= 0)
            whole |= 1ull << col_ref(c);
    colmask |= whole;
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        if ((whole & d->partial & (1ull << c))) { /* decoded again, whole */
            colenc_column_free(d->cols[c]);
            d->cols[c] = NULL;
            d->partial &= ~(1ull << c);
        }
    if (want) { /* the rows kept are those kept so far and in 'want' */
        size_t nb = d->rows / 8 + 1;
        if (!d->kept) {
            d->kept = xmalloc(nb);
            memset(d->kept, 0xff, nb);
        }
        for (size_t b = 0; b < (d->rows + 7) / 8; b++)
            d->kept[b] &= want[b];
    }
    int rc = 0;
    for (int k = 0; k < 2 * SEGMENT_NCOLS && rc == 0; k++) { /* the referred to first */
        int c = k % SEGMENT_NCOLS;
        if (!(colmask & (1ull << c)) || (col_ref(c) >= 0) != (k >= SEGMENT_NCOLS) || d->cols[c])
            continue;
        if (!br && segbody_open(db, d->id, &br, err, errlen)) /* the first one to load */
            return -1;
        const unsigned char *w = (whole & (1ull << c)) ? NULL : want;
        rc = load_col(br, d, c, w, err, errlen);
        d->partial |= w ? 1ull << c : 0;
    }
    segbody_reader_free(br);
    return rc;
}

int segment_open(sqlite3 *db, int64_t seg, struct segment_data **out, char *err, size_t errlen)
{
    struct segment_data *d = xcalloc(1, sizeof(*d));
    *out = NULL;
    int64_t rows = 0, tombstones = 0;
    int found = segment_counts(db, seg, &rows, &tombstones);
    if (found <= 0) {
        snprintf(err, errlen, found ? "segment %lld: %s" : "segment %lld is missing",
                 (long long)seg, sqlite3_errmsg(db));
        segment_data_free(d);
        return -1;
    }
    d->id = seg;
    d->rows = (size_t)rows;
    if (tombstones > 0 && load_tombstones(db, seg, d, err, errlen)) {
        segment_data_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

int segment_load(sqlite3 *db, int64_t seg, uint64_t colmask, struct segment_data **out, char *err,
                 size_t errlen)
{
    if (segment_open(db, seg, out, err, errlen))
        return -1;
    if (segment_load_more(db, *out, colmask, NULL, err, errlen) == 0)
        return 0;
    segment_data_free(*out);
    *out = NULL;
    return -1;
}

/* AND into 'rows' the rows of the decoded column 'col' equal to 'value'. */
static void match_decoded(const struct segment_data *d, int col, const char *value,
                          unsigned char *rows)
{
    size_t n = strlen(value);
    for (size_t i = 0; i < d->rows; i++) {
        size_t len = 0;
        const char *b = (rows[i / 8] >> (i % 8)) & 1 ? colenc_bytes(d->cols[col], i, &len) : NULL;
        if (!b || len != n || memcmp(b, value, n) != 0)
            rows[i / 8] &= (unsigned char)~(1u << (i % 8));
    }
}

/* The stored column 'col' of 'd' matched against 'value' into 'got': 0,
 * 1 when its encoding cannot be matched stored, or -1. */
static int match_stored(sqlite3 *db, struct segment_data *d, int col, const char *value,
                        unsigned char *got, char *err, size_t errlen)
{
    struct segbody_reader *br = NULL;
    char why[128] = "the column is missing";
    size_t matched = 0, n = 0;
    const void *p = NULL;
    if (segbody_open(db, d->id, &br, err, errlen))
        return -1;
    int rc = segbody_frame(br, col, &p, &n, why, sizeof(why));
    if (rc == 0)
        rc = colenc_match(data_dctx(d), p, n, value, strlen(value), got, d->rows, &matched, why,
                          sizeof(why));
    else if (rc == 1)
        rc = -1; /* a missing column is an error, as when it is decoded */
    segbody_reader_free(br);
    if (rc < 0)
        snprintf(err, errlen, "segment %lld column %s: %s", (long long)d->id,
                 segment_cols[col].name, why);
    return rc;
}

int64_t segment_match(sqlite3 *db, struct segment_data *d, int col, const char *value,
                      unsigned char *rows, char *err, size_t errlen)
{
    size_t nb = d->rows / 8 + 1;
    int rc = 1;
    if (!d->cols[col] || (d->partial & (1ull << col))) {
        unsigned char *got = xcalloc(nb, 1);
        rc = match_stored(db, d, col, value, got, err, errlen);
        for (size_t b = 0; rc == 0 && b < nb; b++)
            rows[b] &= got[b];
        free(got);
        if (rc < 0)
            return -1;
    }
    if (rc == 1) { /* decoded whole, then compared */
        if (d->partial & (1ull << col)) {
            colenc_column_free(d->cols[col]);
            d->cols[col] = NULL;
            d->partial &= ~(1ull << col);
        }
        if (segment_load_more(db, d, 1ull << col, NULL, err, errlen))
            return -1;
        match_decoded(d, col, value, rows);
    }
    for (size_t i = d->rows; i < nb * 8; i++) /* no bit past the last row */
        rows[i / 8] &= (unsigned char)~(1u << (i % 8));
    int64_t left = 0;
    for (size_t b = 0; b < nb; b++)
        left += __builtin_popcount(rows[b]);
    return left;
}

void segment_data_free(struct segment_data *d)
{
    if (!d)
        return;
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        colenc_column_free(d->cols[c]);
    free(d->deleted);
    free(d->kept);
    colenc_dctx_free(d->dctx);
    free(d);
}

size_t segment_data_rows(const struct segment_data *d)
{
    return d->rows;
}

const struct colenc_column *segment_data_col(const struct segment_data *d, int col)
{
    return col >= 0 && col < SEGMENT_NCOLS ? d->cols[col] : NULL;
}

int segment_data_deleted(const struct segment_data *d, size_t row)
{
    return d->deleted && row < d->rows && (d->deleted[row / 8] & (1u << (row % 8)));
}

int segment_data_kept(const struct segment_data *d, size_t row)
{
    return row < d->rows && !segment_data_deleted(d, row) &&
           (!d->kept || (d->kept[row / 8] & (1u << (row % 8))));
}

/* ---- finding and resurrecting compacted spans ---- */

static int find_in(struct segindex *ix, const struct seginfo *s, const char *trace_id,
                   const char *span_id, int64_t *row, char *err, size_t errlen)
{
    struct segment_data *d = NULL;
    if (!trace_id || !span_id)
        return 0; /* no row has a NULL id */
    if (segment_open(ix->db, s->id, &d, err, errlen))
        return -1;
    /* the trace's rows (a trace filter's false positive costs this one
     * matched column), then the span among them */
    size_t nb = d->rows / 8 + 1;
    unsigned char *rows = xmalloc(nb);
    memset(rows, 0xff, nb);
    int64_t left = segment_match(ix->db, d, SC_TRACE_ID, trace_id, rows, err, errlen);
    if (left > 0)
        left = segment_match(ix->db, d, SC_SPAN_ID, span_id, rows, err, errlen);
    int found = left < 0 ? -1 : 0;
    for (size_t i = 0; left > 0 && i < d->rows && !found; i++) {
        if ((rows[i / 8] >> (i % 8) & 1) && !segment_data_deleted(d, i)) {
            *row = (int64_t)i;
            found = 1;
        }
    }
    free(rows);
    segment_data_free(d);
    return found;
}

static int cmp_max_start(const void *a, const void *b, void *ctx)
{
    const struct seginfo *segs = ctx;
    const struct seginfo *x = &segs[*(const size_t *)a], *y = &segs[*(const size_t *)b];
    if (x->max_start != y->max_start)
        return x->max_start < y->max_start ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Bring 'by_max' up to date after segments came or went. */
static void index_order(struct segindex *ix)
{
    if (!ix->dirty)
        return;
    if (ix->by_max_cap < ix->n) {
        ix->by_max_cap = ix->cap;
        free(ix->by_max);
        ix->by_max = xmalloc(ix->by_max_cap * sizeof(*ix->by_max));
    }
    for (size_t i = 0; i < ix->n; i++)
        ix->by_max[i] = i;
    qsort_r(ix->by_max, ix->n, sizeof(*ix->by_max), cmp_max_start, ix->segs);
    ix->dirty = 0;
}

int segindex_find(struct segindex *ix, const char *project, const char *trace_id,
                  const char *span_id, int64_t start_lo, int64_t start_hi, int64_t *seg,
                  int64_t *row, char *err, size_t errlen)
{
    uint64_t h = trace_hash(trace_id ? trace_id : "");
    int k = TRACE_BLOOM_PROBES;
    index_order(ix);
    size_t lo = 0, hi = ix->n; /* the first segment ending at or after start_lo */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->segs[ix->by_max[mid]].max_start < start_lo)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = ix->n; j-- > lo;) { /* latest first: resends are recent */
        const struct seginfo *s = &ix->segs[ix->by_max[j]];
        if (s->min_start > start_hi)
            continue;
        if (strcmp(s->project, project) != 0 || !bloom_has(s->traces, s->ntraces, k, h))
            continue;
        int rc = find_in(ix, s, trace_id, span_id, row, err, errlen);
        if (rc != 0) {
            *seg = s->id;
            return rc;
        }
    }
    return 0;
}

static void bind_col(sqlite3_stmt *st, int i, const struct colenc_column *c, size_t row)
{
    size_t len = 0;
    const char *p;
    if (colenc_is_null(c, row)) {
        sqlite3_bind_null(st, i);
        return;
    }
    switch (colenc_col_type(c)) {
    case COLENC_INT:
        sqlite3_bind_int64(st, i, colenc_int(c, row));
        break;
    case COLENC_REAL:
        sqlite3_bind_double(st, i, colenc_real(c, row));
        break;
    case COLENC_TEXT:
        p = colenc_bytes(c, row, &len);
        sqlite3_bind_text64(st, i, p, len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    default:
        p = colenc_bytes(c, row, &len);
        sqlite3_bind_blob64(st, i, p, len, SQLITE_TRANSIENT);
        break;
    }
}

static int64_t seg_count(const struct segment_data *d, int c, size_t row)
{
    const struct colenc_column *col = d->cols[c];
    return colenc_is_null(col, row) ? -1 : colenc_int(col, row);
}

/* Count row 'row' of 'd' out of the compacted rollups, into 'ru'. */
static void uncount_row(struct rollup_acc *ru, const struct segment_data *d, size_t row)
{
    const char *model = colenc_bytes(d->cols[SC_MODEL], row, NULL);
    int64_t start = colenc_int(d->cols[SC_START_NS], row);
    const struct colenc_column *ttft = d->cols[SC_TTFT_MS];
    struct rollup_span r = {
        .project = colenc_bytes(d->cols[SC_PROJECT], row, NULL),
        .model = model ? model : colenc_bytes(d->cols[SC_RESPONSE_MODEL], row, NULL),
        .provider = colenc_bytes(d->cols[SC_PROVIDER], row, NULL),
        .version_set = colenc_bytes(d->cols[SC_VERSION_SET], row, NULL),
        .status = colenc_bytes(d->cols[SC_STATUS], row, NULL),
        .user_id = colenc_bytes(d->cols[SC_USER_ID], row, NULL),
        .tenant = colenc_bytes(d->cols[SC_TENANT], row, NULL),
        .start_ns = start,
        .input_tokens = seg_count(d, SC_INPUT_TOKENS, row),
        .output_tokens = seg_count(d, SC_OUTPUT_TOKENS, row),
        .cache_read_tokens = seg_count(d, SC_CACHE_READ_TOKENS, row),
        .cache_write_tokens = seg_count(d, SC_CACHE_WRITE_TOKENS, row),
        .reasoning_tokens = seg_count(d, SC_REASONING_TOKENS, row),
        .has_cost = !colenc_is_null(d->cols[SC_COST_NUSD], row),
        .cost_nusd = colenc_int(d->cols[SC_COST_NUSD], row),
        .is_llm = is_llm_kind(colenc_bytes(d->cols[SC_KIND], row, NULL)),
        .latency_ms = (double)(colenc_int(d->cols[SC_END_NS], row) - start) / 1e6,
        .ttft_ms = colenc_is_null(ttft, row) ? NAN : colenc_real(ttft, row),
    };
    rollup_add(ru, &r, -1);
}

/* Take row 'row' of 'd' out of the compacted rollups (it moves back to the
 * hot rows, which the rollup views count as they are read). */
static int uncount_one(sqlite3 *db, const struct segment_data *d, size_t row, char *err,
                       size_t errlen)
{
    struct rollup_acc *ru = rollup_acc_new();
    uncount_row(ru, d, row);
    int rc = rollup_flush(ru, db, err, errlen);
    rollup_acc_free(ru);
    return rc;
}

int segment_resurrect(struct segindex *ix, int64_t seg, int64_t row, char *err, size_t errlen)
{
    struct segment_data *d = NULL;
    sqlite3_stmt *st = NULL;
    struct buf sql;
    buf_init(&sql, 0);
    int rc = -1;
    if (segment_load(ix->db, seg, ~0ull >> (64 - SEGMENT_NCOLS), &d, err, errlen))
        goto done;
    int brc = buf_puts(&sql, "INSERT INTO span_rows(");
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        brc |= buf_printf(&sql, "%s%s", c ? "," : "", segment_cols[c].name);
    brc |= buf_puts(&sql, ") VALUES(");
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        brc |= buf_puts(&sql, c ? ",?" : "?");
    brc |= buf_putc(&sql, ')');
    (void)brc; /* no ceiling */
    if (sqlite3_prepare_v2(ix->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "resurrect: %s", sqlite3_errmsg(ix->db));
        goto done;
    }
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        bind_col(st, c + 1, d->cols[c], (size_t)row);
    if (exec_bound(ix->db, st, err, errlen))
        goto done;
    if (uncount_one(ix->db, d, (size_t)row, err, errlen) != 0)
        goto done;
    int ok = 0;
    one_int2(ix->db, "INSERT INTO segment_tombstones(segment_id, row) VALUES(?1, ?2)", seg, row,
             &ok);
    if (ok)
        one_int2(ix->db, "UPDATE segments SET tombstones=tombstones+1 WHERE id=?1", seg, 0, &ok);
    if (!ok) {
        snprintf(err, errlen, "resurrect: %s", sqlite3_errmsg(ix->db));
        goto done;
    }
    ix->hot_rows++;
    rc = 0;
done:
    sqlite3_finalize(st);
    segment_data_free(d);
    buf_release(&sql);
    return rc;
}

/* The columns a row's rollup contribution is made of. */
#define ROLLUP_COLS                                                                                \
    (BITC(SC_PROJECT) | BITC(SC_MODEL) | BITC(SC_RESPONSE_MODEL) | BITC(SC_PROVIDER) |             \
     BITC(SC_VERSION_SET) | BITC(SC_STATUS) | BITC(SC_USER_ID) | BITC(SC_TENANT) |                 \
     BITC(SC_START_NS) | BITC(SC_END_NS) | BITC(SC_INPUT_TOKENS) | BITC(SC_OUTPUT_TOKENS) |        \
     BITC(SC_CACHE_READ_TOKENS) | BITC(SC_CACHE_WRITE_TOKENS) | BITC(SC_REASONING_TOKENS) |        \
     BITC(SC_COST_NUSD) | BITC(SC_KIND) | BITC(SC_TTFT_MS))
#define BITC(c) (1ull << (c))

/* Forget segment 'seg' in the index (the rest keep their order). */
static void index_remove(struct segindex *ix, int64_t seg)
{
    for (size_t i = 0; i < ix->n; i++)
        if (ix->segs[i].id == seg) {
            seginfo_release(&ix->segs[i]);
            memmove(&ix->segs[i], &ix->segs[i + 1], (ix->n - i - 1) * sizeof(*ix->segs));
            ix->n--;
            ix->dirty = 1;
            return;
        }
}

/* Delete segment 'seg''s rows from the three tables. 0, or -1. */
static int delete_segment(sqlite3 *db, int64_t seg, char *err, size_t errlen)
{
    static const char *const del[] = {"DELETE FROM segment_body WHERE segment_id=?1",
                                      "DELETE FROM segment_tombstones WHERE segment_id=?1",
                                      "DELETE FROM segments WHERE id=?1"};
    for (size_t i = 0; i < 3; i++) {
        int ok = 0;
        one_int2(db, del[i], seg, 0, &ok);
        if (!ok) {
            snprintf(err, errlen, "delete segment %lld: %s", (long long)seg, sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

int segment_drop(struct segindex *ix, int64_t seg, int64_t *rows, char *err, size_t errlen)
{
    struct segment_data *d = NULL;
    *rows = 0;
    if (segment_load(ix->db, seg, ROLLUP_COLS, &d, err, errlen))
        return -1;
    struct rollup_acc *ru = rollup_acc_new();
    for (size_t r = 0; r < d->rows; r++)
        if (!segment_data_deleted(d, r)) {
            uncount_row(ru, d, r);
            (*rows)++;
        }
    int rc = rollup_flush(ru, ix->db, err, errlen);
    rollup_acc_free(ru);
    segment_data_free(d);
    if (rc == 0)
        rc = delete_segment(ix->db, seg, err, errlen);
    if (rc == 0)
        index_remove(ix, seg);
    return rc;
}

/* ---- merging small segments ---- */

#define MERGE_SMALL (SEGMENT_MERGE_ROWS / 2) /* live rows under which a segment is merged */

struct merge_src {
    int64_t id, nrows, tombstones;
};

struct segment_merge {
    struct merge_src *src;
    size_t nsrc;
    struct segment_batch *b; /* the merged segment */
};

void segment_merge_free(struct segment_merge *m)
{
    if (!m)
        return;
    free(m->src);
    segment_batch_free(m->b);
    free(m);
}

size_t segment_merge_sources(const struct segment_merge *m)
{
    return m ? m->nsrc : 0;
}

/* A segment as the picker sees it. */
struct cand {
    int64_t id, nrows, tombstones, live, day;
    int small; /* small and within one UTC day */
    int cold;  /* packed at COLD_LEVEL */
    char *project;
};

static void cands_free(struct cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].project);
    free(c);
}

/* From cands[from..to) (one project's segments of one day, by start),
 * the run to merge into 'm': the smallest ones in order up to
 * SEGMENT_MERGE_ROWS live rows; in the project's newest day ('open') only
 * a run that makes a segment at least half full, so that no segment is
 * rewritten over and over while its day fills. 1 when there is one. */
static int pick_run(const struct cand *c, size_t from, size_t to, int open, struct segment_merge *m)
{
    int64_t total = 0;
    m->nsrc = 0;
    for (size_t i = from; i < to; i++) {
        if (!c[i].small)
            continue;
        if (total + c[i].live > SEGMENT_MERGE_ROWS)
            break;
        m->src[m->nsrc++] = (struct merge_src){c[i].id, c[i].nrows, c[i].tombstones};
        total += c[i].live;
    }
    return m->nsrc >= 2 && (!open || total >= MERGE_SMALL);
}

/* The segments of 'db', by project and start (what was read is in *out,
 * '*n', also on failure). 0, or -1. */
static int read_cands(sqlite3 *db, struct cand **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    *n = 0;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, project, nrows, tombstones, min_start, max_start, cold"
                                " FROM segments ORDER BY project, min_start, id",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        struct cand *c = &(*out)[(*n)++];
        c->id = sqlite3_column_int64(st, 0);
        c->project = xstrdup((const char *)sqlite3_column_text(st, 1));
        c->nrows = sqlite3_column_int64(st, 2);
        c->tombstones = sqlite3_column_int64(st, 3);
        c->live = c->nrows - c->tombstones;
        int64_t lo = sqlite3_column_int64(st, 4), hi = sqlite3_column_int64(st, 5);
        c->day = utc_day(lo);
        c->small = c->live < MERGE_SMALL && utc_day(hi) == c->day;
        c->cold = sqlite3_column_int(st, 6) != 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : -1;
}

/* The end of the run of cands from 'p' on that share its project. */
static size_t project_end(const struct cand *c, size_t n, size_t p)
{
    size_t q = p;
    while (q < n && strcmp(c[q].project, c[p].project) == 0)
        q++;
    return q;
}

/* The first segment to pack cold, alone, into 'm': not cold yet, nor one
 * that a merge may still take (a small one of its project's newest day).
 * Its project (borrowed from 'c'), or NULL when there is none. */
static const char *pick_cold(const struct cand *c, size_t n, struct segment_merge *m)
{
    for (size_t p = 0; p < n;) {
        size_t q = project_end(c, n, p);
        int64_t newest = c[q - 1].day; /* min_start order: the project's newest day */
        for (size_t i = p; i < q; i++) {
            if (c[i].cold || (c[i].small && c[i].day == newest))
                continue;
            m->src[0] = (struct merge_src){c[i].id, c[i].nrows, c[i].tombstones};
            m->nsrc = 1;
            return c[i].project;
        }
        p = q;
    }
    return NULL;
}

/* The first run due, into 'm': its project (borrowed from 'c'), or NULL
 * when none is due. */
static const char *pick(const struct cand *c, size_t n, struct segment_merge *m)
{
    for (size_t p = 0; p < n;) {
        size_t q = project_end(c, n, p);
        int64_t newest = c[q - 1].day; /* min_start order: the project's newest day */
        for (size_t d = p; d < q;) {
            size_t e = d;
            while (e < q && c[e].day == c[d].day)
                e++;
            if (pick_run(c, d, e, c[d].day == newest, m))
                return c[d].project;
            d = e;
        }
        p = q;
    }
    return NULL;
}

/* A row of the merged segment: where it comes from. */
struct mrow {
    int64_t start;
    uint32_t src, row;
};

static int cmp_mrow(const void *a, const void *b)
{
    const struct mrow *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Append row 'r' of 'd' to 'b'. */
static void builder_copy(struct builder *b, const struct segment_data *d, size_t r)
{
    for (int c = 0; c < SEGMENT_NCOLS; c++)
        colenc_put_row(b->cols[c], d->cols[c], r);
    const void *refs[2];
    size_t nrefs[2] = {0, 0};
    int inlined[2];
    for (int i = 0; i < 2; i++) {
        const struct colenc_column *col = d->cols[i ? SC_OUTPUT_REFS : SC_INPUT_REFS];
        refs[i] = colenc_is_null(col, r) ? NULL : colenc_bytes(col, r, &nrefs[i]);
        inlined[i] = !colenc_is_null(d->cols[i ? SC_OUTPUT : SC_INPUT], r);
    }
    builder_note(b, colenc_int(d->cols[SC_START_NS], r),
                 colenc_bytes(d->cols[SC_TRACE_ID], r, NULL), refs, nrefs, inlined);
}

/* Decode the sources of 'm' and encode their live rows, by start, as one
 * segment of project 'project' at zstd 'level'. 0, or -1. */
static int merge_rows(sqlite3 *db, struct segment_merge *m, const char *project, int level,
                      char *err, size_t errlen)
{
    struct segment_data **d = xcalloc(m->nsrc, sizeof(*d));
    struct mrow *rows = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < m->nsrc && rc == 0; i++) {
        rc = segment_load(db, m->src[i].id, ~0ull >> (64 - SEGMENT_NCOLS), &d[i], err, errlen);
        if (rc == 0) {
            rows = xrealloc(rows, (n + d[i]->rows + 1) * sizeof(*rows));
            for (size_t r = 0; r < d[i]->rows; r++)
                if (!segment_data_deleted(d[i], r))
                    rows[n++] = (struct mrow){colenc_int(d[i]->cols[SC_START_NS], r), (uint32_t)i,
                                              (uint32_t)r};
        }
    }
    if (rc == 0 && n > SEGMENT_MERGE_ROWS) {
        snprintf(err, errlen, "merge: %zu rows is more than a segment holds", n);
        rc = -1;
    }
    if (rc == 0) {
        qsort(rows, n, sizeof(*rows), cmp_mrow);
        struct builder b;
        builder_init(&b);
        xstrset(&b.project, project);
        for (size_t i = 0; i < n; i++)
            builder_copy(&b, d[rows[i].src], rows[i].row);
        m->b = xcalloc(1, sizeof(*m->b));
        rc = n ? builder_flush(m->b, &b, level, err, errlen) : 0;
        builder_release(&b);
    }
    for (size_t i = 0; i < m->nsrc; i++)
        segment_data_free(d[i]);
    free(d);
    free(rows);
    return rc;
}

int segment_merge_build(sqlite3 *db, int cold, struct segment_merge **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    struct cand *c = NULL;
    size_t n = 0;
    if (read_cands(db, &c, &n) != 0) {
        snprintf(err, errlen, "merge: %s", sqlite3_errmsg(db));
        cands_free(c, n);
        return -1;
    }
    struct segment_merge *m = xcalloc(1, sizeof(*m));
    m->src = xmalloc((n + 1) * sizeof(*m->src));
    const char *project = cold ? pick_cold(c, n, m) : pick(c, n, m);
    int rc = project ? merge_rows(db, m, project, cold ? COLD_LEVEL : MERGE_LEVEL, err, errlen)
                     : 0;
    cands_free(c, n);
    if (rc == 0 && project)
        *out = m;
    else
        segment_merge_free(m);
    return rc;
}

int segment_merge_apply(struct segindex *ix, struct segment_merge *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < m->nsrc; i++) {
        int64_t rows = 0, tombstones = 0;
        int found = segment_counts(ix->db, m->src[i].id, &rows, &tombstones);
        if (found < 0) {
            snprintf(err, errlen, "merge: %s", sqlite3_errmsg(ix->db));
            return -1;
        }
        if (!found || rows != m->src[i].nrows || tombstones != m->src[i].tombstones)
            return 1; /* dropped or changed since it was read */
    }
    int64_t id = 0;
    if (write_segments(ix->db, m->b, &id, err, errlen) != 0) /* none or one */
        return -1;
    for (size_t i = 0; i < m->nsrc; i++)
        if (delete_segment(ix->db, m->src[i].id, err, errlen))
            return -1;
    for (size_t i = 0; i < m->nsrc; i++)
        index_remove(ix, m->src[i].id);
    if (m->b->n)
        index_take(ix, &m->b->segs[0], id);
    return 0;
}
