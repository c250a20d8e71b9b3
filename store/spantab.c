/*
 * spantab: the `spans` virtual table (see spantab.h).
 *
 * A cursor has two phases: HOT steps a statement over span_rows built for
 * the pushed-down constraints and the columns used; SEG steps the segments
 * that the zone maps do not exclude, decoding the used columns of one
 * segment at a time and skipping rows that fail the constraints or carry
 * a tombstone. Rowids: a hot row's own id; segment rows are negative,
 * -((segment << 20) | row) - 1, so they never meet hot ids.
 */
#include "store/spantab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmem.h"
#include "store/search.h"
#include "store/segment.h"
#include "store/textpack.h"

enum derive { D_PHYS, D_LATENCY, D_COST_USD, D_INPUT, D_OUTPUT, D_SEARCH };

struct pubcol {
    const char *name, *type;
    enum derive d;
    int phys;
};

static const struct pubcol pub[] = {
    {"trace_id", "TEXT", D_PHYS, SC_TRACE_ID},
    {"span_id", "TEXT", D_PHYS, SC_SPAN_ID},
    {"parent_span_id", "TEXT", D_PHYS, SC_PARENT_SPAN_ID},
    {"project", "TEXT", D_PHYS, SC_PROJECT},
    {"name", "TEXT", D_PHYS, SC_NAME},
    {"kind", "TEXT", D_PHYS, SC_KIND},
    {"start_ns", "INTEGER", D_PHYS, SC_START_NS},
    {"end_ns", "INTEGER", D_PHYS, SC_END_NS},
    {"latency_ms", "REAL", D_LATENCY, -1},
    {"ttft_ms", "REAL", D_PHYS, SC_TTFT_MS},
    {"provider", "TEXT", D_PHYS, SC_PROVIDER},
    {"model", "TEXT", D_PHYS, SC_MODEL},
    {"response_model", "TEXT", D_PHYS, SC_RESPONSE_MODEL},
    {"input_tokens", "INTEGER", D_PHYS, SC_INPUT_TOKENS},
    {"output_tokens", "INTEGER", D_PHYS, SC_OUTPUT_TOKENS},
    {"cache_read_tokens", "INTEGER", D_PHYS, SC_CACHE_READ_TOKENS},
    {"cache_write_tokens", "INTEGER", D_PHYS, SC_CACHE_WRITE_TOKENS},
    {"reasoning_tokens", "INTEGER", D_PHYS, SC_REASONING_TOKENS},
    {"cost_usd", "REAL", D_COST_USD, -1},
    {"status", "TEXT", D_PHYS, SC_STATUS},
    {"error_code", "TEXT", D_PHYS, SC_ERROR_CODE},
    {"error_message", "TEXT", D_PHYS, SC_ERROR_MESSAGE},
    {"user_id", "TEXT", D_PHYS, SC_USER_ID},
    {"session_id", "TEXT", D_PHYS, SC_SESSION_ID},
    {"tenant", "TEXT", D_PHYS, SC_TENANT},
    {"version_set", "TEXT", D_PHYS, SC_VERSION_SET},
    {"prompt_name", "TEXT", D_PHYS, SC_PROMPT_NAME},
    {"prompt_version", "INTEGER", D_PHYS, SC_PROMPT_VERSION},
    {"input", "TEXT", D_INPUT, -1},
    {"output", "TEXT", D_OUTPUT, -1},
    {"params", "TEXT", D_PHYS, SC_PARAMS},
    {"attributes", "TEXT", D_PHYS, SC_ATTRIBUTES},
    {"replay_of", "TEXT", D_PHYS, SC_REPLAY_OF},
    {"queue_ms", "REAL", D_PHYS, SC_QUEUE_MS},
    {"tool_ms", "REAL", D_PHYS, SC_TOOL_MS},
    {"cache_write_1h_tokens", "INTEGER", D_PHYS, SC_CACHE_WRITE_1H_TOKENS},
    {"cost_nusd", "INTEGER", D_PHYS, SC_COST_NUSD},
    {"price_version", "TEXT", D_PHYS, SC_PRICE_VERSION},
    {"prompt_vars", "TEXT", D_PHYS, SC_PROMPT_VARS},
    {"tags", "TEXT", D_PHYS, SC_TAGS},
    {"service_name", "TEXT", D_PHYS, SC_SERVICE_NAME},
    {"service_version", "TEXT", D_PHYS, SC_SERVICE_VERSION},
    {"service_tier", "TEXT", D_PHYS, SC_SERVICE_TIER},
    {"finish_reason", "TEXT", D_PHYS, SC_FINISH_REASON},
    {"ingested_ns", "INTEGER", D_PHYS, SC_INGESTED_NS},
    {"search", "TEXT HIDDEN", D_SEARCH, -1}, /* WHERE search = 'query'; the value: a snippet */
};
#define NPUB ((int)(sizeof(pub) / sizeof(pub[0])))
#define BIT(c) (1ull << (c))

/* Pushed-down constraints: bits of idxNum, arguments in this order; and
 * F_DESC: rows come newest first (ORDER BY start_ns DESC is consumed).
 * F_EQ << k: equality on eq_phys[k] (binary collation, not IN), matched
 * while decoding. */
enum { F_PROJECT = 1, F_TRACE = 2, F_SPAN = 4, F_LO = 8, F_HI = 16, F_SEARCH = 32, F_DESC = 64 };
#define F_EQ 128
static const int eq_phys[] = {SC_MODEL,      SC_PROVIDER, SC_STATUS,     SC_USER_ID,
                              SC_SESSION_ID, SC_TENANT,   SC_VERSION_SET};
#define NEQ ((int)(sizeof(eq_phys) / sizeof(eq_phys[0])))
#define NSLOTS (7 + NEQ) /* bits F_PROJECT .. F_DESC, then the F_EQ ones */

struct vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    struct texts_reader *texts;
    struct textpack_ctx *tp;
};

struct filter {
    char *project, *trace, *span, *search; /* owned; NULL = any */
    char *eq[NEQ];                         /* owned; NULL = any */
    int64_t lo, hi;
};

/* A segment open in a newest-first scan: rows [0, row) are left to look
 * at, and 'head' is the start time of row - 1, the next one out. */
struct oseg {
    struct segment_data *d;
    int64_t id, head;
    size_t row;
};

struct cursor {
    sqlite3_vtab_cursor base;
    struct filter f;
    uint64_t phys;              /* stored columns the query needs */
    int hot_pos[SEGMENT_NCOLS]; /* result column of each stored one in 'hot' */
    sqlite3_stmt *hot, *segs;
    int in_segments, eof;
    int64_t seg_id;
    struct segment_data *seg; /* the current row's segment (in a newest-first scan: of 'open') */
    size_t row;
    struct buf tmp; /* decoded input / output */
    struct search *search;
    /* newest first (F_DESC): the hot rows and the open segments are merged
     * by start time; 'cur' is the source of the current row (-1: hot) */
    int desc, cur, hot_ok;
    int64_t hot_head;
    struct oseg *open;
    size_t nopen, capopen;
    int have_next; /* the next segment by max_start, from 'segs' */
    int64_t next_id, next_max;
};

static uint64_t phys_of(int c)
{
    switch (pub[c].d) {
    case D_LATENCY:
        return BIT(SC_START_NS) | BIT(SC_END_NS);
    case D_COST_USD:
        return BIT(SC_COST_NUSD);
    case D_INPUT:
        return BIT(SC_INPUT) | BIT(SC_INPUT_REFS);
    case D_OUTPUT:
        return BIT(SC_OUTPUT) | BIT(SC_OUTPUT_REFS);
    case D_SEARCH:
        return BIT(SC_INPUT) | BIT(SC_INPUT_REFS) | BIT(SC_OUTPUT) | BIT(SC_OUTPUT_REFS);
    default:
        return BIT(pub[c].phys);
    }
}

static int connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                   char **errmsg)
{
    (void)argc;
    (void)argv;
    (void)errmsg;
    struct buf decl;
    buf_init(&decl, 0);
    int rc = buf_puts(&decl, "CREATE TABLE x(");
    for (int c = 0; c < NPUB; c++)
        rc |= buf_printf(&decl, "%s%s %s", c ? "," : "", pub[c].name, pub[c].type);
    rc |= buf_putc(&decl, ')');
    (void)rc; /* no ceiling */
    rc = sqlite3_declare_vtab(db, decl.data);
    buf_release(&decl);
    if (rc != SQLITE_OK)
        return rc;
    struct vtab *v = xcalloc(1, sizeof(*v));
    v->db = db;
    v->texts = aux;
    v->tp = textpack_new();
    if (!v->tp) {
        free(v);
        return SQLITE_NOMEM;
    }
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &v->base;
    return SQLITE_OK;
}

static int disconnect(sqlite3_vtab *base)
{
    struct vtab *v = (struct vtab *)base;
    textpack_free(v->tp);
    free(v);
    return SQLITE_OK;
}

/* Which pushed-down slot usable constraint 'i' fills, or 0. */
static int slot_of(sqlite3_index_info *info, int i)
{
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int col = c->iColumn;
    unsigned char op = c->op;
    if (!c->usable)
        return 0;
    for (int k = 0; op == SQLITE_INDEX_CONSTRAINT_EQ && col >= 0 && k < NEQ; k++)
        if (pub[col].d == D_PHYS && pub[col].phys == eq_phys[k])
            return sqlite3_vtab_in(info, i, -1) ||
                           strcmp(sqlite3_vtab_collation(info, i), "BINARY") != 0
                       ? 0
                       : F_EQ << k;
    if (op == SQLITE_INDEX_CONSTRAINT_EQ && col >= 0 && pub[col].phys == SC_PROJECT)
        return F_PROJECT;
    if (op == SQLITE_INDEX_CONSTRAINT_EQ && col >= 0 && pub[col].phys == SC_TRACE_ID)
        return F_TRACE;
    if (op == SQLITE_INDEX_CONSTRAINT_EQ && col >= 0 && pub[col].phys == SC_SPAN_ID)
        return F_SPAN;
    if (op == SQLITE_INDEX_CONSTRAINT_EQ && col >= 0 && pub[col].d == D_SEARCH)
        return F_SEARCH;
    if (col >= 0 && pub[col].phys == SC_START_NS && pub[col].d == D_PHYS) {
        if (op == SQLITE_INDEX_CONSTRAINT_GT || op == SQLITE_INDEX_CONSTRAINT_GE)
            return F_LO;
        if (op == SQLITE_INDEX_CONSTRAINT_LT || op == SQLITE_INDEX_CONSTRAINT_LE)
            return F_HI;
    }
    return 0;
}

static int best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
    (void)base;
    int which[NSLOTS] = {0}; /* constraint index of each slot bit, +1 */
    int mask = 0;
    for (int i = 0; i < info->nConstraint; i++) {
        int s = slot_of(info, i);
        if (s && !(mask & s)) {
            mask |= s;
            which[__builtin_ctz((unsigned)s)] = i + 1;
        }
    }
    int arg = 1;
    for (int b = 0; b < NSLOTS; b++)
        if ((1 << b) != F_DESC && (mask & (1 << b)))
            info->aConstraintUsage[which[b] - 1].argvIndex = arg++;
    if (mask & F_SEARCH) /* the column holds a snippet, not the query */
        info->aConstraintUsage[which[__builtin_ctz(F_SEARCH)] - 1].omit = 1;
    if (info->nOrderBy == 1 && info->aOrderBy[0].desc && info->aOrderBy[0].iColumn >= 0 &&
        pub[info->aOrderBy[0].iColumn].phys == SC_START_NS &&
        pub[info->aOrderBy[0].iColumn].d == D_PHYS) {
        mask |= F_DESC;
        info->orderByConsumed = 1;
    }
    info->idxNum = mask;
    double cost = 1e6;
    if (mask & (F_TRACE | F_SPAN))
        cost = 10;
    else if (mask & (F_LO | F_HI))
        cost = mask & F_PROJECT ? 1e3 : 1e4;
    else if (mask & F_PROJECT)
        cost = 1e5;
    if (mask & F_SEARCH)
        cost /= 10;
    if (mask >= F_EQ)
        cost /= 2;
    info->estimatedCost = cost;
    info->estimatedRows = (sqlite3_int64)cost;
    info->idxStr = sqlite3_mprintf("%llx", (unsigned long long)info->colUsed);
    info->needToFreeIdxStr = 1;
    return SQLITE_OK;
}

static int open_cursor(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
    (void)base;
    struct cursor *c = xcalloc(1, sizeof(*c));
    buf_init(&c->tmp, TEXTPACK_MAX_TEXT);
    *out = &c->base;
    return SQLITE_OK;
}

static void cursor_reset(struct cursor *c)
{
    sqlite3_finalize(c->hot);
    sqlite3_finalize(c->segs);
    if (!c->desc)
        segment_data_free(c->seg); /* newest first, it is one of 'open' */
    for (size_t i = 0; i < c->nopen; i++)
        segment_data_free(c->open[i].d);
    search_free(c->search);
    free(c->f.project);
    free(c->f.trace);
    free(c->f.span);
    free(c->f.search);
    for (int k = 0; k < NEQ; k++)
        free(c->f.eq[k]);
    c->hot = c->segs = NULL;
    c->seg = NULL;
    c->search = NULL;
    memset(&c->f, 0, sizeof(c->f));
    c->in_segments = c->eof = c->desc = c->hot_ok = c->have_next = 0;
    c->nopen = 0;
}

static int close_cursor(sqlite3_vtab_cursor *base)
{
    struct cursor *c = (struct cursor *)base;
    cursor_reset(c);
    buf_release(&c->tmp);
    free(c->open);
    free(c);
    return SQLITE_OK;
}

static int set_error(struct cursor *c, int rc, const char *msg)
{
    sqlite3_vtab *v = c->base.pVtab;
    sqlite3_free(v->zErrMsg);
    v->zErrMsg = sqlite3_mprintf("spans: %s", msg);
    return rc;
}

static char *dup_arg(sqlite3_value *v)
{
    const char *t = (const char *)sqlite3_value_text(v);
    return xstrdup(t ? t : "");
}

static void read_filter(struct cursor *c, int mask, sqlite3_value **argv)
{
    int a = 0;
    c->f.lo = INT64_MIN;
    c->f.hi = INT64_MAX;
    if (mask & F_PROJECT)
        c->f.project = dup_arg(argv[a++]);
    if (mask & F_TRACE)
        c->f.trace = dup_arg(argv[a++]);
    if (mask & F_SPAN)
        c->f.span = dup_arg(argv[a++]);
    if (mask & F_LO) {
        sqlite3_value *v = argv[a++];
        /* a non-integer bound is left to SQLite's own check */
        if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER)
            c->f.lo = sqlite3_value_int64(v);
    }
    if (mask & F_HI) {
        sqlite3_value *v = argv[a++];
        if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER)
            c->f.hi = sqlite3_value_int64(v);
    }
    if (mask & F_SEARCH)
        c->f.search = dup_arg(argv[a++]);
    for (int k = 0; k < NEQ; k++)
        if (mask & (F_EQ << k))
            c->f.eq[k] = dup_arg(argv[a++]);
}

/* Bind the filter in the order prepare() wrote it; 'ids' for the hot rows
 * (segments are matched on ids while decoding). */
static void bind_filter(sqlite3_stmt *st, const struct filter *f, int ids)
{
    int i = 1;
    if (f->project)
        sqlite3_bind_text(st, i++, f->project, -1, SQLITE_STATIC);
    if (ids && f->trace)
        sqlite3_bind_text(st, i++, f->trace, -1, SQLITE_STATIC);
    if (ids && f->span)
        sqlite3_bind_text(st, i++, f->span, -1, SQLITE_STATIC);
    if (f->lo != INT64_MIN)
        sqlite3_bind_int64(st, i++, f->lo);
    if (f->hi != INT64_MAX)
        sqlite3_bind_int64(st, i++, f->hi);
    for (int k = 0; ids && k < NEQ; k++)
        if (f->eq[k])
            sqlite3_bind_text(st, i++, f->eq[k], -1, SQLITE_STATIC);
}

/* The statements of both phases, for the filter and the used columns. */
static int prepare(struct cursor *c, sqlite3 *db)
{
    struct buf q;
    buf_init(&q, 0);
    int rc = buf_puts(&q, "SELECT id");
    int pos = 1;
    for (int p = 0; p < SEGMENT_NCOLS; p++)
        if (c->phys & BIT(p)) {
            rc |= buf_printf(&q, ",%s", segment_cols[p].name);
            c->hot_pos[p] = pos++;
        }
    rc |= buf_puts(&q, " FROM span_rows WHERE 1");
    const struct filter *f = &c->f;
    rc |= buf_puts(&q, f->project ? " AND project=?" : "");
    rc |= buf_puts(&q, f->trace ? " AND trace_id=?" : "");
    rc |= buf_puts(&q, f->span ? " AND span_id=?" : "");
    rc |= buf_puts(&q, f->lo != INT64_MIN ? " AND start_ns>=?" : "");
    rc |= buf_puts(&q, f->hi != INT64_MAX ? " AND start_ns<=?" : "");
    for (int k = 0; k < NEQ; k++)
        if (f->eq[k])
            rc |= buf_printf(&q, " AND %s=?", segment_cols[eq_phys[k]].name);
    rc |= buf_puts(&q, c->desc ? " ORDER BY start_ns DESC" : "");
    (void)rc; /* no ceiling */
    int src = sqlite3_prepare_v2(db, q.data, -1, &c->hot, NULL);
    buf_reset(&q);
    /* text_bloom came with schema v8; the migrations before it read spans too */
    int has_texts = sqlite3_table_column_metadata(db, NULL, "segments", "text_bloom", NULL, NULL,
                                                  NULL, NULL, NULL) == SQLITE_OK;
    rc = buf_puts(&q, has_texts ? "SELECT id, trace_bloom, max_start, text_bloom FROM segments"
                                  " WHERE 1"
                                : "SELECT id, trace_bloom, max_start, NULL FROM segments WHERE 1");
    rc |= buf_puts(&q, f->project ? " AND project=?" : "");
    rc |= buf_puts(&q, f->lo != INT64_MIN ? " AND max_start>=?" : "");
    rc |= buf_puts(&q, f->hi != INT64_MAX ? " AND min_start<=?" : "");
    rc |= buf_puts(&q, c->desc ? " ORDER BY max_start DESC" : " ORDER BY id");
    (void)rc;
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, q.data, -1, &c->segs, NULL);
    buf_release(&q);
    if (src != SQLITE_OK)
        return set_error(c, src, sqlite3_errmsg(db));
    bind_filter(c->hot, f, 1);
    bind_filter(c->segs, f, 0);
    return SQLITE_OK;
}

static int is_null(struct cursor *c, int p);
static const void *bytes_of(struct cursor *c, int p, size_t *len);

/* Does the current row (hot or segment) match the search? 1, 0, or a
 * negative SQLite error code. */
static int search_passes(struct cursor *c)
{
    static const int parts[2][2] = {{SC_OUTPUT_REFS, SC_OUTPUT}, {SC_INPUT_REFS, SC_INPUT}};
    struct vtab *v = (struct vtab *)c->base.pVtab;
    search_row_begin(c->search);
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        int rc = 0;
        if (!is_null(c, parts[i][0])) {
            const void *b = bytes_of(c, parts[i][0], &len);
            rc = search_row_refs(c->search, b, len);
        } else if (!is_null(c, parts[i][1])) {
            const void *b = bytes_of(c, parts[i][1], &len);
            buf_reset(&c->tmp);
            rc = textpack_unpack_append(v->tp, b, len, &c->tmp) != 0
                     ? -SQLITE_CORRUPT
                     : search_row_text(c->search, c->tmp.data ? c->tmp.data : "", c->tmp.len);
        }
        if (rc < 0)
            return rc;
    }
    return search_row_end(c->search);
}

/* Does row 'row' (= c->row) of the loaded segment pass the pushed-down
 * filter? 1, 0, or a negative SQLite error code (from the search). */
static int row_passes(struct cursor *c, size_t row);

static int row_passes(struct cursor *c, size_t row)
{
    if (!segment_data_kept(c->seg, row))
        return 0;
    return c->search ? search_passes(c) : 1;
}

/* The next segment the zone maps allow: *got = 0 at the end. */
static int step_segments(struct cursor *c, int64_t *id, int64_t *max_start, int *got)
{
    struct vtab *v = (struct vtab *)c->base.pVtab;
    *got = 0;
    for (;;) {
        int rc = sqlite3_step(c->segs);
        if (rc == SQLITE_DONE)
            return SQLITE_OK;
        if (rc != SQLITE_ROW)
            return set_error(c, rc, sqlite3_errmsg(v->db));
        if (c->f.trace &&
            !segment_bloom_maybe(sqlite3_column_blob(c->segs, 1),
                                 (size_t)sqlite3_column_bytes(c->segs, 1), c->f.trace))
            continue;
        if (c->search && !search_segment_maybe(c->search, sqlite3_column_blob(c->segs, 3),
                                               (size_t)sqlite3_column_bytes(c->segs, 3)))
            continue;
        *id = sqlite3_column_int64(c->segs, 0);
        *max_start = sqlite3_column_int64(c->segs, 2);
        *got = 1;
        return SQLITE_OK;
    }
}

static int has_range(const struct cursor *c)
{
    return c->f.lo != INT64_MIN || c->f.hi != INT64_MAX;
}

/* The rows of 'd' that pass the plain filter (all but the search) into the
 * bitmap 'pass': the text equalities matched on the stored columns, then
 * the time range on the start times (decoded whole: the ends refer to
 * them). Returns how many pass, or -1 with a message. */
static int64_t filter_rows(const struct cursor *c, sqlite3 *db, struct segment_data *d,
                           unsigned char *pass, char *err, size_t errlen)
{
    size_t n = segment_data_rows(d);
    int64_t left = 0;
    for (size_t r = 0; r < n; r++)
        if (!segment_data_deleted(d, r)) {
            pass[r / 8] |= (unsigned char)(1u << (r % 8));
            left++;
        }
    const char *val[2 + NEQ] = {c->f.trace, c->f.span};
    int col[2 + NEQ] = {SC_TRACE_ID, SC_SPAN_ID};
    for (int k = 0; k < NEQ; k++) {
        val[2 + k] = c->f.eq[k];
        col[2 + k] = eq_phys[k];
    }
    for (int k = 0; k < 2 + NEQ && left > 0; k++)
        if (val[k])
            left = segment_match(db, d, col[k], val[k], pass, err, errlen);
    if (left <= 0 || !(has_range(c) || c->desc))
        return left;
    if (segment_load_more(db, d, BIT(SC_START_NS), NULL, err, errlen))
        return -1;
    const struct colenc_column *start = segment_data_col(d, SC_START_NS);
    for (size_t r = 0; r < n && has_range(c); r++) {
        int64_t t = colenc_int(start, r);
        if ((pass[r / 8] >> (r % 8)) & 1 && (t < c->f.lo || t > c->f.hi)) {
            pass[r / 8] &= (unsigned char)~(1u << (r % 8));
            left--;
        }
    }
    return left;
}

/* Decode the columns the query needs of segment 'id', only for the rows
 * that pass the plain filter; *out = NULL when it is skipped, as no row
 * passes. A selective filter (one trace, one session, a rare model) then
 * never copies out the texts and ids of the rows it does not return, nor
 * decodes more than the matched column of a segment where none passes (a
 * false positive of the trace Bloom filter). */
static int load_segment(struct cursor *c, int64_t id, struct segment_data **out)
{
    struct vtab *v = (struct vtab *)c->base.pVtab;
    char err[256];
    *out = NULL;
    struct segment_data *d = NULL;
    if (segment_open(v->db, id, &d, err, sizeof(err)))
        return set_error(c, SQLITE_CORRUPT, err);
    size_t n = segment_data_rows(d);
    unsigned char *pass = xcalloc(n / 8 + 1, 1);
    int64_t left = filter_rows(c, v->db, d, pass, err, sizeof(err));
    int rc = left < 0 ? -1 : 0;
    if (left > 0) /* when every row passes there is no selection to keep */
        rc =
            segment_load_more(v->db, d, c->phys, (size_t)left == n ? NULL : pass, err, sizeof(err));
    free(pass);
    if (rc) {
        segment_data_free(d);
        return set_error(c, SQLITE_CORRUPT, err);
    }
    if (left == 0)
        segment_data_free(d);
    else
        *out = d;
    return SQLITE_OK;
}

/* Load the next segment the zone maps and the filter allow; *got = 0 at
 * the end. */
static int next_segment(struct cursor *c, int *got)
{
    int64_t max_start;
    segment_data_free(c->seg);
    c->seg = NULL;
    c->row = 0;
    int rc;
    do
        rc = step_segments(c, &c->seg_id, &max_start, got);
    while (rc == SQLITE_OK && *got && (rc = load_segment(c, c->seg_id, &c->seg)) == SQLITE_OK &&
           !c->seg);
    return rc;
}

/* Advance to a row that passes, starting at the current position. */
static int settle(struct cursor *c)
{
    struct vtab *v = (struct vtab *)c->base.pVtab;
    while (!c->in_segments) {
        int rc = sqlite3_step(c->hot);
        if (rc == SQLITE_ROW) {
            int p = c->search ? search_passes(c) : 1;
            if (p < 0)
                return set_error(c, -p, "a stored text does not decode");
            if (p)
                return SQLITE_OK;
            continue;
        }
        if (rc != SQLITE_DONE)
            return set_error(c, rc, sqlite3_errmsg(v->db));
        c->in_segments = 1;
        c->seg = NULL;
    }
    for (;;) {
        while (c->seg && c->row < segment_data_rows(c->seg)) {
            int p = row_passes(c, c->row);
            if (p < 0)
                return set_error(c, -p, "a stored text does not decode");
            if (p)
                return SQLITE_OK;
            c->row++;
        }
        int got = 0;
        int rc = next_segment(c, &got);
        if (rc != SQLITE_OK)
            return rc;
        if (!got) {
            c->eof = 1;
            return SQLITE_OK;
        }
    }
}

/* ---- newest first: hot rows and segments merged by start time ---- */

/* Step the hot rows to the next that passes; hot_ok = 0 at their end. */
static int hot_advance(struct cursor *c)
{
    struct vtab *v = (struct vtab *)c->base.pVtab;
    c->in_segments = 0;
    for (;;) {
        int rc = sqlite3_step(c->hot);
        if (rc == SQLITE_DONE) {
            c->hot_ok = 0;
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW)
            return set_error(c, rc, sqlite3_errmsg(v->db));
        int p = c->search ? search_passes(c) : 1;
        if (p < 0)
            return set_error(c, -p, "a stored text does not decode");
        if (p) {
            c->hot_ok = 1;
            c->hot_head = sqlite3_column_int64(c->hot, c->hot_pos[SC_START_NS]);
            return SQLITE_OK;
        }
    }
}

/* Move open segment 'i' down to its next row that passes: 1, 0 when it
 * has none left, or a negative error code. */
static int seg_head(struct cursor *c, size_t i)
{
    struct oseg *o = &c->open[i];
    c->in_segments = 1;
    c->seg = o->d;
    for (; o->row > 0; o->row--) {
        c->row = o->row - 1;
        int p = row_passes(c, c->row);
        if (p)
            o->head = colenc_int(segment_data_col(o->d, SC_START_NS), c->row);
        if (p)
            return p;
    }
    return 0;
}

static void close_seg(struct cursor *c, size_t i)
{
    segment_data_free(c->open[i].d);
    c->open[i] = c->open[--c->nopen];
}

/* Open the next segment by max_start and find its newest passing row. */
static int open_next(struct cursor *c)
{
    struct segment_data *d = NULL;
    int rc = load_segment(c, c->next_id, &d);
    if (rc != SQLITE_OK)
        return rc;
    if (!d) /* no row of it passes */
        return step_segments(c, &c->next_id, &c->next_max, &c->have_next);
    if (c->nopen == c->capopen) {
        c->capopen = c->capopen ? 2 * c->capopen : 8;
        c->open = xrealloc(c->open, c->capopen * sizeof(*c->open));
    }
    c->open[c->nopen++] = (struct oseg){d, c->next_id, 0, segment_data_rows(d)};
    int p = seg_head(c, c->nopen - 1);
    if (p < 0)
        return set_error(c, -p, "a stored text does not decode");
    if (p == 0)
        close_seg(c, c->nopen - 1);
    return step_segments(c, &c->next_id, &c->next_max, &c->have_next);
}

/* Make the newest head the current row: a segment whose max_start is not
 * below the newest head so far is opened first, as it may hold newer. */
static int settle_desc(struct cursor *c)
{
    for (;;) {
        long best = c->hot_ok ? -1 : -2;
        int64_t t = c->hot_head;
        for (size_t i = 0; i < c->nopen; i++)
            if (best == -2 || c->open[i].head > t) {
                best = (long)i;
                t = c->open[i].head;
            }
        if (c->have_next && (best == -2 || c->next_max >= t)) {
            int rc = open_next(c);
            if (rc != SQLITE_OK)
                return rc;
            continue;
        }
        c->cur = (int)best;
        c->eof = best == -2;
        c->in_segments = best >= 0;
        if (best >= 0) {
            c->seg = c->open[best].d;
            c->row = c->open[best].row - 1;
            c->seg_id = c->open[best].id;
        }
        return SQLITE_OK;
    }
}

static int next_desc(struct cursor *c)
{
    int rc = SQLITE_OK;
    if (c->cur < 0) {
        rc = hot_advance(c);
    } else {
        c->open[c->cur].row--;
        int p = seg_head(c, (size_t)c->cur);
        if (p < 0)
            return set_error(c, -p, "a stored text does not decode");
        if (p == 0)
            close_seg(c, (size_t)c->cur);
    }
    return rc != SQLITE_OK ? rc : settle_desc(c);
}

static int start_desc(struct cursor *c)
{
    int rc = hot_advance(c);
    if (rc == SQLITE_OK)
        rc = step_segments(c, &c->next_id, &c->next_max, &c->have_next);
    return rc != SQLITE_OK ? rc : settle_desc(c);
}

static int filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                  sqlite3_value **argv)
{
    (void)argc;
    struct cursor *c = (struct cursor *)base;
    struct vtab *v = (struct vtab *)base->pVtab;
    cursor_reset(c);
    read_filter(c, idx_num, argv);
    c->desc = (idx_num & F_DESC) != 0;
    uint64_t used = idx_str ? strtoull(idx_str, NULL, 16) : ~0ull;
    c->phys = c->desc ? BIT(SC_START_NS) : 0;
    for (int i = 0; i < NPUB; i++)
        if (used & BIT(i < 63 ? i : 63))
            c->phys |= phys_of(i);
    if (c->f.search) {
        char err[512];
        c->phys |= phys_of(NPUB - 1);
        int rc = search_new(&c->search, v->db, v->texts, c->f.search, err, sizeof(err));
        if (rc != SQLITE_OK)
            return set_error(c, rc, err);
    }
    int rc = prepare(c, v->db);
    if (rc != SQLITE_OK)
        return rc;
    return c->desc ? start_desc(c) : settle(c);
}

static int next(sqlite3_vtab_cursor *base)
{
    struct cursor *c = (struct cursor *)base;
    if (c->desc)
        return next_desc(c);
    if (c->in_segments)
        c->row++;
    return settle(c);
}

static int eof(sqlite3_vtab_cursor *base)
{
    return ((struct cursor *)base)->eof;
}

/* ---- column values ---- */

static int is_null(struct cursor *c, int p)
{
    if (!c->in_segments)
        return sqlite3_column_type(c->hot, c->hot_pos[p]) == SQLITE_NULL;
    return colenc_is_null(segment_data_col(c->seg, p), c->row);
}

static int64_t int_of(struct cursor *c, int p)
{
    if (!c->in_segments)
        return sqlite3_column_int64(c->hot, c->hot_pos[p]);
    return colenc_int(segment_data_col(c->seg, p), c->row);
}

static const void *bytes_of(struct cursor *c, int p, size_t *len)
{
    if (!c->in_segments) {
        const void *b = sqlite3_column_blob(c->hot, c->hot_pos[p]);
        *len = (size_t)sqlite3_column_bytes(c->hot, c->hot_pos[p]);
        return b;
    }
    return colenc_bytes(segment_data_col(c->seg, p), c->row, len);
}

static void phys_result(struct cursor *c, int p, sqlite3_context *ctx)
{
    if (!c->in_segments)
        sqlite3_result_value(ctx, sqlite3_column_value(c->hot, c->hot_pos[p]));
    else
        colenc_result(segment_data_col(c->seg, p), c->row, ctx);
}

/* input / output: the refs when there are, else the packed text. */
static int text_result(struct cursor *c, int refs, int packed, sqlite3_context *ctx)
{
    struct vtab *v = (struct vtab *)c->base.pVtab;
    size_t len = 0;
    buf_reset(&c->tmp);
    int rc;
    if (!is_null(c, refs)) {
        const void *b = bytes_of(c, refs, &len);
        rc = texts_read_refs(v->texts, b, len, &c->tmp);
    } else if (!is_null(c, packed)) {
        const void *b = bytes_of(c, packed, &len);
        rc = textpack_unpack_append(v->tp, b, len, &c->tmp) == 0 ? SQLITE_OK : SQLITE_CORRUPT;
    } else {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        return set_error(c, rc, "a stored text does not decode");
    sqlite3_result_text64(ctx, c->tmp.data ? c->tmp.data : "", c->tmp.len, SQLITE_TRANSIENT,
                          SQLITE_UTF8);
    return SQLITE_OK;
}

/* search: the snippet of the current row (judged again: the texts it
 * holds are remembered, so this reads only the snippet's text). */
static int snippet_result(struct cursor *c, sqlite3_context *ctx)
{
    if (!c->search) {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    int p = search_passes(c);
    buf_reset(&c->tmp);
    int rc = p < 0 ? -p : p ? search_snippet(c->search, &c->tmp) : SQLITE_OK;
    if (rc != SQLITE_OK)
        return set_error(c, rc, "a stored text does not decode");
    sqlite3_result_text64(ctx, c->tmp.data ? c->tmp.data : "", c->tmp.len, SQLITE_TRANSIENT,
                          SQLITE_UTF8);
    return SQLITE_OK;
}

static int column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int i)
{
    struct cursor *c = (struct cursor *)base;
    switch (pub[i].d) {
    case D_LATENCY:
        sqlite3_result_double(ctx, (double)(int_of(c, SC_END_NS) - int_of(c, SC_START_NS)) / 1e6);
        return SQLITE_OK;
    case D_COST_USD:
        if (is_null(c, SC_COST_NUSD))
            sqlite3_result_null(ctx);
        else
            sqlite3_result_double(ctx, (double)int_of(c, SC_COST_NUSD) / 1e9);
        return SQLITE_OK;
    case D_INPUT:
        return text_result(c, SC_INPUT_REFS, SC_INPUT, ctx);
    case D_OUTPUT:
        return text_result(c, SC_OUTPUT_REFS, SC_OUTPUT, ctx);
    case D_SEARCH:
        return snippet_result(c, ctx);
    default:
        phys_result(c, pub[i].phys, ctx);
        return SQLITE_OK;
    }
}

static int rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *out)
{
    struct cursor *c = (struct cursor *)base;
    if (!c->in_segments)
        *out = sqlite3_column_int64(c->hot, 0);
    else
        *out = -(sqlite3_int64)(((uint64_t)c->seg_id << 20) | c->row) - 1;
    return SQLITE_OK;
}

static const sqlite3_module module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = connect,
    .xBestIndex = best_index,
    .xDisconnect = disconnect,
    .xDestroy = disconnect,
    .xOpen = open_cursor,
    .xClose = close_cursor,
    .xFilter = filter,
    .xNext = next,
    .xEof = eof,
    .xColumn = column,
    .xRowid = rowid,
};

int spantab_register(sqlite3 *db, struct texts_reader *texts)
{
    return sqlite3_create_module_v2(db, "spans", &module, texts, NULL);
}
