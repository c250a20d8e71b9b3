/*
 * search: full-text matching of spans (see search.h).
 */
#include "store/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/sorted.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/fts.h"
#include "store/segment.h"

#define SNIPPET_BYTES 160
#define SEEN (1u << 31) /* in a map slot: the text was judged */

/* Texts the index names for one term, ascending. */
struct hits {
    int64_t *ids;
    size_t n, cap;
};

struct slot {
    int64_t id; /* 0: empty (text ids start at 1) */
    uint32_t mask;
};

struct search {
    sqlite3 *db;
    struct texts_reader *rd;
    struct fts_tok *tok;
    struct fts_query *q;
    int nterms;
    uint32_t all;
    struct hits hits[FTS_MAX_TERMS];
    int64_t upto; /* texts up to this id are in the index */
    struct slot *map;
    size_t cap, used;
    /* the span being judged */
    uint32_t row_mask;
    int64_t row_snip; /* text of the first match; -1: the part in 'snip_plain' */
    int64_t last_snip;
    struct buf snip_plain, last_plain;
    struct buf json, plain;
    int64_t *ids;
    size_t nids, capids;
    struct search_stats st;
};

static int load_hits(struct search *s, int term, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT rowid FROM text_fts WHERE text_fts MATCH ?1", -1,
                                &st, NULL);
    struct hits *h = &s->hits[term];
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, fts_query_match(s->q, term), -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (h->n == h->cap) {
                h->cap = h->cap ? 2 * h->cap : 1024;
                h->ids = xrealloc(h->ids, h->cap * sizeof(*h->ids));
            }
            h->ids[h->n++] = sqlite3_column_int64(st, 0);
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot read the full-text index: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    s->st.hits += h->n;
    return rc;
}

int search_new(struct search **out, sqlite3 *db, struct texts_reader *rd, const char *query,
               char *err, size_t errlen)
{
    *out = NULL;
    struct search *s = xcalloc(1, sizeof(*s));
    s->db = db;
    s->rd = rd;
    buf_init(&s->snip_plain, 0);
    buf_init(&s->last_plain, 0);
    buf_init(&s->json, TEXTPACK_MAX_TEXT);
    buf_init(&s->plain, 0);
    s->tok = fts_tok_new(db);
    int rc = SQLITE_OK;
    if (!s->tok) {
        snprintf(err, errlen, "full-text search is not available (no FTS5)");
        rc = SQLITE_ERROR;
    } else if (fts_query_parse(s->tok, query, &s->q, err, errlen) != 0) {
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) {
        s->nterms = fts_query_terms(s->q);
        s->all = (1u << s->nterms) - 1;
        s->upto = fts_indexed_upto(db);
        for (int i = 0; i < s->nterms && rc == SQLITE_OK; i++)
            rc = load_hits(s, i, err, errlen);
    }
    if (rc != SQLITE_OK) {
        search_free(s);
        return rc;
    }
    *out = s;
    return SQLITE_OK;
}

void search_free(struct search *s)
{
    if (!s)
        return;
    for (int i = 0; i < FTS_MAX_TERMS; i++)
        free(s->hits[i].ids);
    free(s->map);
    free(s->ids);
    buf_release(&s->snip_plain);
    buf_release(&s->last_plain);
    buf_release(&s->json);
    buf_release(&s->plain);
    fts_query_free(s->q);
    fts_tok_free(s->tok);
    free(s);
}

/* ---- what each text holds, remembered ---- */

static size_t slot_of(const struct search *s, int64_t id)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (s->cap - 1);
}

static struct slot *map_find(struct search *s, int64_t id)
{
    if (!s->cap)
        return NULL;
    for (size_t i = slot_of(s, id);; i = (i + 1) & (s->cap - 1)) {
        if (s->map[i].id == id)
            return &s->map[i];
        if (s->map[i].id == 0)
            return NULL;
    }
}

static void map_put(struct search *s, int64_t id, uint32_t mask)
{
    if (2 * (s->used + 1) > s->cap) {
        struct slot *old = s->map;
        size_t ocap = s->cap;
        s->cap = ocap ? 2 * ocap : 4096;
        s->map = xcalloc(s->cap, sizeof(*s->map));
        s->used = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].id)
                map_put(s, old[i].id, old[i].mask);
        free(old);
    }
    size_t i = slot_of(s, id);
    while (s->map[i].id != 0)
        i = (i + 1) & (s->cap - 1);
    s->map[i] = (struct slot){id, mask};
    s->used++;
}

static int in_hits(const struct hits *h, int64_t id)
{
    return sorted_has(h->ids, h->n, id);
}

/* Read text 'id' into s->plain. SQLITE_OK or an error code. */
static int read_plain(struct search *s, int64_t id)
{
    buf_reset(&s->json);
    buf_reset(&s->plain);
    int rc = texts_read_text(s->rd, id, &s->json);
    if (rc == SQLITE_OK && fts_plain(s->json.data ? s->json.data : "", s->json.len, &s->plain))
        rc = SQLITE_NOMEM;
    s->st.texts_read += rc == SQLITE_OK;
    return rc;
}

/* The terms text 'id' holds (SEEN set), or a negative error code. */
static int64_t mask_of(struct search *s, int64_t id)
{
    struct slot *sl = map_find(s, id);
    if (sl)
        return sl->mask;
    uint32_t mask = SEEN, unsure = 0;
    if (id > s->upto)
        unsure = s->all;
    else
        for (int i = 0; i < s->nterms; i++) {
            if (!in_hits(&s->hits[i], id))
                continue;
            if (fts_query_exact(s->q, i))
                mask |= 1u << i;
            else
                unsure |= 1u << i; /* a phrase: confirmed on the text */
        }
    if (unsure) {
        int rc = read_plain(s, id);
        if (rc != SQLITE_OK)
            return -rc;
        size_t at, len;
        mask |= fts_text_match(s->tok, s->q, s->plain.data ? s->plain.data : "", s->plain.len, &at,
                               &len) &
                unsure;
    }
    map_put(s, id, mask);
    return mask;
}

/* ---- skipping segments ---- */

#define PRUNE_MAX_HITS 4096 /* a term in more texts than this is not probed */

int search_segment_maybe(struct search *s, const void *bloom, size_t n)
{
    if (!bloom || segment_texts_max(bloom, n) > s->upto)
        return 1; /* no filter, or texts the index has not seen */
    for (int t = 0; t < s->nterms; t++) {
        const struct hits *h = &s->hits[t];
        if (h->n > PRUNE_MAX_HITS)
            continue; /* common: the segment likely has it, and probing costs more */
        int maybe = 0;
        for (size_t i = 0; i < h->n && !maybe; i++)
            maybe = segment_texts_maybe(bloom, n, h->ids[i]);
        if (!maybe)
            return 0; /* no text of the segment holds term t */
    }
    return 1;
}

/* ---- judging a span ---- */

void search_row_begin(struct search *s)
{
    s->row_mask = 0;
    s->row_snip = 0;
}

int search_row_refs(struct search *s, const void *refs, size_t n)
{
    s->nids = 0;
    if (texts_refs_ids(refs, n, &s->ids, &s->nids, &s->capids) != 0)
        return -SQLITE_CORRUPT;
    int64_t snip = 0;
    for (size_t i = 0; i < s->nids; i++) {
        int64_t m = mask_of(s, s->ids[i]);
        if (m < 0)
            return (int)m;
        uint32_t terms = (uint32_t)m & s->all;
        if (terms)
            snip = s->ids[i]; /* the latest message that matches */
        s->row_mask |= terms;
    }
    if (!s->row_snip)
        s->row_snip = snip;
    return 0;
}

int search_row_text(struct search *s, const char *json, size_t n)
{
    buf_reset(&s->plain);
    if (fts_plain(json, n, &s->plain) != 0)
        return -SQLITE_NOMEM;
    size_t at, len;
    uint32_t terms =
        fts_text_match(s->tok, s->q, s->plain.data ? s->plain.data : "", s->plain.len, &at, &len);
    if (terms && !s->row_snip) {
        s->row_snip = -1;
        buf_reset(&s->snip_plain);
        if (buf_append(&s->snip_plain, s->plain.data, s->plain.len) != BUF_OK)
            return -SQLITE_NOMEM;
    }
    s->row_mask |= terms;
    return 0;
}

int search_row_end(struct search *s)
{
    if (s->row_mask != s->all)
        return 0;
    s->last_snip = s->row_snip;
    if (s->row_snip < 0) {
        buf_reset(&s->last_plain);
        if (buf_append(&s->last_plain, s->snip_plain.data, s->snip_plain.len) != BUF_OK)
            return -SQLITE_NOMEM;
    }
    return 1;
}

int search_snippet(struct search *s, struct buf *out)
{
    const struct buf *p = &s->last_plain;
    if (s->last_snip > 0) {
        int rc = read_plain(s, s->last_snip);
        if (rc != SQLITE_OK)
            return rc;
        p = &s->plain;
    } else if (s->last_snip == 0) {
        return SQLITE_OK;
    }
    size_t at, len;
    const char *text = p->data ? p->data : "";
    fts_text_match(s->tok, s->q, text, p->len, &at, &len);
    return fts_snippet(text, p->len, at, len, SNIPPET_BYTES, out) == 0 ? SQLITE_OK : SQLITE_NOMEM;
}

void search_get_stats(const struct search *s, struct search_stats *out)
{
    *out = s->st;
}

/* ---- running a search ---- */

/* Equality filters, in the order they are bound. */
static const char *const filter_cols[] = {"project", "model",      "provider", "status",
                                          "user_id", "session_id", "tenant",   "version_set"};

static const char *filter_value(const struct search_filter *f, size_t i)
{
    const char *v[] = {f->project, f->model,   f->provider, f->status,
                       f->user,    f->session, f->tenant,   f->version_set};
    return v[i];
}

#define NFILTERS (sizeof(filter_cols) / sizeof(filter_cols[0]))

static char *run_sql(const struct search_filter *f)
{
    struct buf q;
    buf_init(&q, 0);
    int rc = buf_puts(&q, "SELECT trace_id, span_id, parent_span_id, project, name, kind,"
                          " coalesce(model, response_model), status, start_ns, latency_ms,"
                          " cost_usd, search FROM spans WHERE search = ?");
    for (size_t i = 0; i < NFILTERS; i++)
        if (filter_value(f, i))
            rc |= buf_printf(&q, " AND %s = ?", filter_cols[i]);
    rc |= f->from_ns ? buf_puts(&q, " AND start_ns >= ?") : 0;
    rc |= f->to_ns ? buf_puts(&q, " AND start_ns <= ?") : 0;
    rc |= buf_puts(&q, " ORDER BY start_ns DESC LIMIT ?");
    (void)rc; /* no ceiling */
    return buf_take(&q, NULL);
}

static void bind_run(sqlite3_stmt *st, const struct search_filter *f)
{
    int i = 1;
    sqlite3_bind_text(st, i++, f->query, -1, SQLITE_STATIC);
    for (size_t k = 0; k < NFILTERS; k++)
        if (filter_value(f, k))
            sqlite3_bind_text(st, i++, filter_value(f, k), -1, SQLITE_STATIC);
    if (f->from_ns)
        sqlite3_bind_int64(st, i++, f->from_ns);
    if (f->to_ns)
        sqlite3_bind_int64(st, i++, f->to_ns);
    sqlite3_bind_int(st, i, f->limit > 0 ? f->limit : SEARCH_DEFAULT_LIMIT);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Is the query one the user must fix? Checked before the run, so such a
 * query gets LT_INVALID_INPUT, not a failed statement. */
static int check_query(sqlite3 *db, const struct search_filter *f, char *err, size_t errlen)
{
    if (!f->query) {
        snprintf(err, errlen, "a search needs a query");
        return LT_INVALID_INPUT;
    }
    if (f->limit < 0 || f->limit > SEARCH_MAX_LIMIT) {
        snprintf(err, errlen, "the limit must be between 1 and %d", SEARCH_MAX_LIMIT);
        return LT_INVALID_INPUT;
    }
    struct fts_tok *tok = fts_tok_new(db);
    struct fts_query *q = NULL;
    int rc = !tok                                                   ? LT_INTERNAL
             : fts_query_parse(tok, f->query, &q, err, errlen) != 0 ? LT_INVALID_INPUT
                                                                    : LT_OK;
    if (!tok)
        snprintf(err, errlen, "full-text search is not available (no FTS5)");
    fts_query_free(q);
    fts_tok_free(tok);
    return rc;
}

int search_run(sqlite3 *db, const struct search_filter *f, search_hit_fn fn, void *ctx, char *err,
               size_t errlen)
{
    int rc = check_query(db, f, err, errlen);
    if (rc != LT_OK)
        return rc;
    char *sql = run_sql(f);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    free(sql);
    if (src == SQLITE_OK) {
        bind_run(st, f);
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            struct search_hit h = {
                .trace_id = col_text(st, 0),
                .span_id = col_text(st, 1),
                .parent_span_id = col_text(st, 2),
                .project = col_text(st, 3),
                .name = col_text(st, 4),
                .kind = col_text(st, 5),
                .model = col_text(st, 6),
                .status = col_text(st, 7),
                .start_ns = sqlite3_column_int64(st, 8),
                .latency_ms = sqlite3_column_double(st, 9),
                .cost_usd = sqlite3_column_type(st, 10) == SQLITE_NULL
                                ? NAN
                                : sqlite3_column_double(st, 10),
                .snippet = col_text(st, 11),
            };
            if (fn(ctx, &h) != 0) {
                src = SQLITE_DONE;
                break;
            }
        }
    }
    if (src != SQLITE_DONE) {
        snprintf(err, errlen, "search failed: %s", sqlite3_errmsg(db));
        rc = LT_INTERNAL;
    }
    sqlite3_finalize(st);
    return rc;
}

static int json_member(struct buf *out, const char *name, const char *v)
{
    int rc = buf_printf(out, ",\"%s\":", name);
    return rc | (v ? buf_json_str(out, v) : buf_puts(out, "null"));
}

int search_hit_json(const struct search_hit *h, struct buf *out)
{
    char when[40];
    time_format_iso(h->start_ns, when, sizeof(when));
    int rc = buf_puts(out, "{\"trace_id\":");
    rc |= buf_json_str(out, h->trace_id ? h->trace_id : "");
    rc |= json_member(out, "span_id", h->span_id);
    rc |= json_member(out, "parent_span_id", h->parent_span_id);
    rc |= json_member(out, "project", h->project);
    rc |= json_member(out, "name", h->name);
    rc |= json_member(out, "kind", h->kind);
    rc |= json_member(out, "model", h->model);
    rc |= json_member(out, "status", h->status);
    rc |= buf_printf(out, ",\"start_ns\":\"%lld\"", (long long)h->start_ns);
    rc |= json_member(out, "start", when);
    rc |= buf_printf(out, ",\"latency_ms\":%.3f", h->latency_ms);
    rc |= isnan(h->cost_usd) ? buf_puts(out, ",\"cost_usd\":null")
                             : buf_printf(out, ",\"cost_usd\":%.9g", h->cost_usd);
    rc |= json_member(out, "snippet", h->snippet);
    rc |= buf_putc(out, '}');
    return rc ? -1 : 0;
}
