/*
 * search: full-text matching of spans (see search.h).
 */
#include "store/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/fts.h"

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
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n && h->ids[lo] == id;
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
    for (size_t i = 0; i < s->nids && s->row_mask != s->all; i++) {
        int64_t m = mask_of(s, s->ids[i]);
        if (m < 0)
            return (int)m;
        uint32_t terms = (uint32_t)m & s->all;
        if (terms && !s->row_snip)
            s->row_snip = s->ids[i];
        s->row_mask |= terms;
    }
    return 0;
}

int search_row_text(struct search *s, const char *json, size_t n)
{
    buf_reset(&s->plain);
    if (fts_plain(json, n, &s->plain) != 0)
        return -SQLITE_NOMEM;
    size_t at, len;
    uint32_t terms = fts_text_match(s->tok, s->q, s->plain.data ? s->plain.data : "", s->plain.len,
                                    &at, &len);
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
