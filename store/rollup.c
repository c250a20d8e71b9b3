/*
 * rollup: per-request accumulation of span contributions and their UPSERT
 * into the rollup tables; the histogram encoding and its SQL functions
 * (see rollup.h).
 *
 * An accumulator holds one entry per distinct rollup key met in the
 * request (few: spans of one request share projects, hours, models and
 * users), so a request of 100 spans costs tens of UPSERTs, not 300.
 */
#include "store/rollup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/varint.h"
#include "core/xmem.h"

#define NS_PER_HOUR 3600000000000LL
#define NS_PER_DAY (24 * NS_PER_HOUR)
#define HIST_BASE_MS 0.01
#define HIST_RATIO ROLLUP_HIST_RATIO

enum rollup_kind { RK_HOURLY, RK_DAILY, RK_USER, RK_TENANT, RK_KINDS };

/* Kinds keyed like the hourly one (project, model, provider, version_set,
 * status), with histograms. */
static int is_full(enum rollup_kind k)
{
    return k == RK_HOURLY || k == RK_DAILY;
}

/* A histogram being built: (bucket, count) pairs, unsorted, while few;
 * past HIST_DENSE_AT pairs a dense array of every bucket (adding is then
 * O(1): sums over thousands of rollup rows stay linear). hist_settle turns
 * it back into sorted pairs for reading. */
struct hist {
    int *bucket;
    int64_t *count;
    size_t n, cap;
    int64_t *dense; /* ROLLUP_HIST_BUCKETS counts, or NULL */
};

#define HIST_DENSE_AT 32

struct entry {
    enum rollup_kind kind;
    uint64_t h;
    char *k[5];   /* key strings: project + model/provider/version_set/status, or user / tenant */
    int64_t slot; /* hour or day */
    int64_t calls, tok[5], cost, unpriced, errors;
    struct hist lat, ttft;
};

struct rollup_acc {
    struct entry *e;
    size_t n, cap;
    uint32_t *slots; /* open addressing over 'e': index + 1, 0 empty */
    size_t nslots;   /* a power of two, at least twice 'cap' (0 before the first entry) */
    sqlite3 *db;
    sqlite3_stmt *up[RK_KINDS];
    sqlite3_stmt *key[RK_KINDS]; /* key_sql, where there is one */
    int subtracted;              /* some span was counted out: rows may have reached zero */
};

/* ---- histograms ---- */

int rollup_bucket(double ms)
{
    if (!(ms > HIST_BASE_MS))
        return 0;
    int b = (int)floor(log(ms / HIST_BASE_MS) / log(HIST_RATIO));
    return b < 0 ? 0 : b >= ROLLUP_HIST_BUCKETS ? ROLLUP_HIST_BUCKETS - 1 : b;
}

static void hist_add(struct hist *h, int bucket, int64_t n)
{
    if (!h->dense && h->n >= HIST_DENSE_AT) {
        h->dense = xcalloc(ROLLUP_HIST_BUCKETS, sizeof(*h->dense));
        for (size_t i = 0; i < h->n; i++)
            h->dense[h->bucket[i]] += h->count[i];
        h->n = 0;
    }
    if (h->dense) {
        h->dense[bucket] += n;
        return;
    }
    for (size_t i = 0; i < h->n; i++)
        if (h->bucket[i] == bucket) {
            h->count[i] += n;
            return;
        }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->bucket = xrealloc(h->bucket, h->cap * sizeof(*h->bucket));
        h->count = xrealloc(h->count, h->cap * sizeof(*h->count));
    }
    h->bucket[h->n] = bucket;
    h->count[h->n++] = n;
}

static void hist_release(struct hist *h)
{
    free(h->bucket);
    free(h->count);
    free(h->dense);
    memset(h, 0, sizeof(*h));
}

/* Back to pairs (ascending, the non-zero buckets) after dense adding. */
static void hist_settle(struct hist *h)
{
    if (!h->dense)
        return;
    int64_t *dense = h->dense;
    h->dense = NULL;
    h->n = 0;
    for (int b = 0; b < ROLLUP_HIST_BUCKETS; b++)
        if (dense[b]) {
            if (h->n == h->cap) {
                h->cap = h->cap ? h->cap * 2 : 64;
                h->bucket = xrealloc(h->bucket, h->cap * sizeof(*h->bucket));
                h->count = xrealloc(h->count, h->cap * sizeof(*h->count));
            }
            h->bucket[h->n] = b;
            h->count[h->n++] = dense[b];
        }
    free(dense);
}

/* Histogram blobs have two layouts, told apart by their last byte:
 *  v1 (until 2026-12-04): pairs of varints (bucket delta, zigzag count);
 *  v2: per bucket a varint (delta << 1 | (count != 1)), then the zigzag
 *      count when it is not 1, and HIST_END last. Most buckets of an hour's
 *      row count one call, so they take a byte, not two. No v1 blob ends in
 *      HIST_END, a varint's continuation byte. */
#define HIST_END 0x80

struct hist_rd {
    const unsigned char *p, *end;
    int v2;
    uint64_t bucket;
};

static void hist_rd_init(struct hist_rd *r, const void *blob, size_t n)
{
    r->p = blob;
    r->end = r->p + (blob ? n : 0);
    r->v2 = r->end > r->p && r->end[-1] == HIST_END;
    r->end -= r->v2;
    r->bucket = 0;
}

/* The next bucket and its count: 1; 0 after the last; -1 when malformed. */
static int hist_next(struct hist_rd *r, int *bucket, int64_t *count)
{
    uint64_t d = 0, z = 2; /* zigzag(1) */
    if (r->p >= r->end)
        return 0;
    if (varint_get(&r->p, r->end, &d))
        return -1;
    if (r->v2) {
        int one = !(d & 1);
        d >>= 1;
        if (!one && varint_get(&r->p, r->end, &z))
            return -1;
    } else if (varint_get(&r->p, r->end, &z)) {
        return -1;
    }
    if (d >= ROLLUP_HIST_BUCKETS || (r->bucket += d) >= ROLLUP_HIST_BUCKETS)
        return -1;
    *bucket = (int)r->bucket;
    *count = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 1;
}

/* Append bucket 'delta' after the one before and its count 'c' (not 0) to
 * 'out' (v2; the caller ends the blob with HIST_END). 0, or non-zero. */
static int hist_put(struct buf *out, int64_t delta, int64_t c)
{
    int rc = varint_put(out, (uint64_t)delta << 1 | (c != 1));
    if (c != 1)
        rc |= varint_put(out, ((uint64_t)c << 1) ^ (uint64_t)(c >> 63));
    return rc;
}

/* Add the encoded histogram 'p' into 'h'. -1 when malformed. */
static int hist_decode_into(struct hist *h, const unsigned char *p, size_t n)
{
    struct hist_rd r;
    int bucket, rc;
    int64_t c;
    hist_rd_init(&r, p, n);
    while ((rc = hist_next(&r, &bucket, &c)) == 1)
        hist_add(h, bucket, c);
    return rc;
}

static int cmp_bucket(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Encode 'h' (sorted, zero counts dropped) into 'out'. */
static int hist_encode(struct hist *h, struct buf *out)
{
    hist_settle(h);
    int64_t *pairs = xmalloc((h->n + 1) * 2 * sizeof(*pairs));
    for (size_t i = 0; i < h->n; i++) {
        pairs[2 * i] = h->bucket[i];
        pairs[2 * i + 1] = h->count[i];
    }
    qsort(pairs, h->n, 2 * sizeof(*pairs), cmp_bucket);
    int rc = 0, any = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < h->n; i++) {
        int64_t c = pairs[2 * i + 1];
        if (c == 0)
            continue;
        rc |= hist_put(out, pairs[2 * i] - prev, c);
        prev = pairs[2 * i];
        any = 1;
    }
    free(pairs);
    if (any)
        rc |= buf_putc(out, (char)HIST_END);
    return rc ? -1 : 0;
}

static void bind_hist(sqlite3_stmt *st, int i, struct hist *h, struct buf *tmp)
{
    buf_reset(tmp);
    hist_settle(h);
    if (h->n == 0 || hist_encode(h, tmp) != 0 || tmp->len == 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_blob64(st, i, tmp->data, tmp->len, SQLITE_TRANSIENT);
}

/* ---- accumulating ---- */

struct rollup_acc *rollup_acc_new(void)
{
    return xcalloc(1, sizeof(struct rollup_acc));
}

static void entry_release(struct entry *e)
{
    for (int i = 0; i < 5; i++)
        free(e->k[i]);
    hist_release(&e->lat);
    hist_release(&e->ttft);
}

void rollup_reset(struct rollup_acc *a)
{
    for (size_t i = 0; i < a->n; i++)
        entry_release(&a->e[i]);
    a->n = 0;
    if (a->slots)
        memset(a->slots, 0, a->nslots * sizeof(*a->slots));
}

void rollup_acc_free(struct rollup_acc *a)
{
    if (!a)
        return;
    rollup_reset(a);
    for (int k = 0; k < RK_KINDS; k++) {
        sqlite3_finalize(a->up[k]);
        sqlite3_finalize(a->key[k]);
    }
    free(a->e);
    free(a->slots);
    free(a);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int entry_is(const struct entry *e, uint64_t h, enum rollup_kind kind, const char *const *k,
                    int nk, int64_t slot)
{
    int same = e->h == h && e->kind == kind && e->slot == slot;
    for (int j = 0; same && j < nk; j++)
        same = strcmp(e->k[j], k[j]) == 0;
    return same;
}

/* Put entry 'i' (hash 'h') into the slot table. */
static void slot_put(struct rollup_acc *a, uint64_t h, size_t i)
{
    size_t m = a->nslots - 1;
    for (size_t s = (size_t)h & m;; s = (s + 1) & m)
        if (!a->slots[s]) {
            a->slots[s] = (uint32_t)(i + 1);
            return;
        }
}

/* Make room for one more entry: the array and (at most half full) the
 * slot table, rebuilt when it grows. */
static void grow(struct rollup_acc *a)
{
    if (a->n < a->cap)
        return;
    a->cap = a->cap ? a->cap * 2 : 32;
    a->e = xrealloc(a->e, a->cap * sizeof(*a->e));
    free(a->slots);
    a->nslots = a->cap * 2;
    a->slots = xcalloc(a->nslots, sizeof(*a->slots));
    for (size_t i = 0; i < a->n; i++)
        slot_put(a, a->e[i].h, i);
}

/* The entry of 'kind' for key strings 'k' and 'slot', made when new. */
static struct entry *entry_for(struct rollup_acc *a, enum rollup_kind kind, const char *const *k,
                               int nk, int64_t slot)
{
    uint64_t h = (uint64_t)kind * 0x9e3779b97f4a7c15ULL ^ (uint64_t)slot;
    for (int i = 0; i < nk; i++)
        h = ids_hash64(k[i], strlen(k[i]), h + (uint64_t)i);
    size_t m = a->nslots - 1;
    for (size_t s = a->nslots ? (size_t)h & m : 0; a->nslots && a->slots[s]; s = (s + 1) & m)
        if (entry_is(&a->e[a->slots[s] - 1], h, kind, k, nk, slot))
            return &a->e[a->slots[s] - 1];
    grow(a);
    struct entry *e = &a->e[a->n];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->h = h;
    e->slot = slot;
    for (int j = 0; j < nk; j++)
        e->k[j] = xstrdup(k[j]);
    slot_put(a, h, a->n++);
    return e;
}

static void count_into(struct entry *e, const struct rollup_span *sp, int sign)
{
    const int64_t tok[5] = {sp->input_tokens, sp->output_tokens, sp->cache_read_tokens,
                            sp->cache_write_tokens, sp->reasoning_tokens};
    e->calls += sign;
    for (int i = 0; i < 5; i++)
        e->tok[i] += tok[i] > 0 ? sign * tok[i] : 0;
    e->cost += sp->has_cost ? sign * sp->cost_nusd : 0;
    e->unpriced += sp->is_llm && !sp->has_cost ? sign : 0;
    e->errors += sp->status && strcmp(sp->status, "error") == 0 ? sign : 0;
}

void rollup_add(struct rollup_acc *a, const struct rollup_span *sp, int sign)
{
    a->subtracted |= sign < 0;
    const char *hk[5] = {nz(sp->project), nz(sp->model), nz(sp->provider), nz(sp->version_set),
                         nz(sp->status)};
    int64_t hour = sp->start_ns / NS_PER_HOUR, day = sp->start_ns / NS_PER_DAY;
    for (int k = RK_HOURLY; k <= RK_DAILY; k++) {
        struct entry *e = entry_for(a, (enum rollup_kind)k, hk, 5, k == RK_HOURLY ? hour : day);
        count_into(e, sp, sign);
        hist_add(&e->lat, rollup_bucket(sp->latency_ms), sign);
        if (!isnan(sp->ttft_ms))
            hist_add(&e->ttft, rollup_bucket(sp->ttft_ms), sign);
    }
    if (sp->user_id) {
        const char *uk[2] = {nz(sp->project), sp->user_id};
        count_into(entry_for(a, RK_USER, uk, 2, day), sp, sign);
    }
    if (sp->tenant) {
        const char *tk[2] = {nz(sp->project), sp->tenant};
        count_into(entry_for(a, RK_TENANT, tk, 2, day), sp, sign);
    }
}

/* ---- writing ---- */

#define SUMS                                                                                       \
    "calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"                   \
    " reasoning_tokens, cost_nusd, unpriced, errors"
#define ADD(c) c "=" c "+excluded." c
#define ADD_SUMS                                                                                   \
    ADD("calls")                                                                                   \
    "," ADD("input_tokens") "," ADD("output_tokens") "," ADD("cache_read_tokens") "," ADD(         \
        "cache_"                                                                                   \
        "write_"                                                                                   \
        "token"                                                                                    \
        "s") "," ADD("reasoning_tokens") "," ADD("cost_nusd") "," ADD("unpriced") "," ADD("error"  \
                                                                                          "s")

/* The row of 'tab' for bucket ?2 of the key ?1, ?3..?6 (in rollup_keys by
 * then: key_sql) */
#define UPSERT_KEYED(tab, t)                                                                       \
    "INSERT INTO " tab "(key_id, " t ", " SUMS ", latency_hist, ttft_hist) VALUES("                \
    "(SELECT id FROM rollup_keys WHERE project = ?1 AND model = ?3 AND provider = ?4"              \
    " AND version_set = ?5 AND status = ?6),"                                                      \
    " ?2,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"                                                \
    " ON CONFLICT(" t ", key_id) DO UPDATE SET " ADD_SUMS                                          \
    ", latency_hist=llmtap_hist_merge(latency_hist, excluded.latency_hist),"                       \
    " ttft_hist=llmtap_hist_merge(ttft_hist, excluded.ttft_hist)"

/* The key of an entry, made once (NULL: the kind names its key itself). */
#define KEY_FULL                                                                                   \
    "INSERT INTO rollup_keys(project, model, provider, version_set, status)"                       \
    " VALUES(?1,?2,?3,?4,?5) ON CONFLICT DO NOTHING"
static const char *const key_sql[RK_KINDS] = {
    KEY_FULL,
    KEY_FULL,
    "INSERT INTO rollup_users(project, user_id) VALUES(?1,?2) ON CONFLICT DO NOTHING",
    NULL,
};

static const char *const upsert_sql[RK_KINDS] = {
    UPSERT_KEYED("rollup_hourly_k", "hour"),
    UPSERT_KEYED("rollup_daily_k", "day"),
    "INSERT INTO rollup_daily_user_k(key_id, day, " SUMS ") VALUES("
    "(SELECT id FROM rollup_users WHERE project = ?1 AND user_id = ?3),"
    " ?2,?4,?5,?6,?7,?8,?9,?10,?11,?12) ON CONFLICT(day, key_id) DO UPDATE SET " ADD_SUMS,
    "INSERT INTO rollup_daily_tenant_c(project, day, tenant, " SUMS
    ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
    " ON CONFLICT(project, day, tenant) DO UPDATE SET " ADD_SUMS,
};

/* Make sure the key of entry 'e' is in its key table (if it has one). */
static int write_key(struct rollup_acc *a, const struct entry *e)
{
    sqlite3_stmt *st = a->key[e->kind];
    if (!st)
        return 0;
    for (int j = 0; j < (is_full(e->kind) ? 5 : 2); j++)
        sqlite3_bind_text(st, j + 1, e->k[j], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int write_entry(struct rollup_acc *a, struct entry *e, struct buf *tmp)
{
    if (write_key(a, e) != 0)
        return -1;
    sqlite3_stmt *st = a->up[e->kind];
    int nk = is_full(e->kind) ? 5 : 2, i = 1;
    sqlite3_bind_text(st, i++, e->k[0], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i++, e->slot);
    for (int j = 1; j < nk; j++)
        sqlite3_bind_text(st, i++, e->k[j], -1, SQLITE_STATIC);
    const int64_t sums[9] = {e->calls,  e->tok[0], e->tok[1],   e->tok[2], e->tok[3],
                             e->tok[4], e->cost,   e->unpriced, e->errors};
    for (int j = 0; j < 9; j++)
        sqlite3_bind_int64(st, i++, sums[j]);
    if (is_full(e->kind)) {
        bind_hist(st, i++, &e->lat, tmp);
        bind_hist(st, i++, &e->ttft, tmp);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int hist_is_zero(struct hist *h)
{
    hist_settle(h);
    for (size_t i = 0; i < h->n; i++)
        if (h->count[i])
            return 0;
    return 1;
}

/* Does 'e' change nothing (a merge that counted a row out and back in)? */
static int entry_is_zero(struct entry *e)
{
    int zero = e->calls == 0 && e->cost == 0 && e->unpriced == 0 && e->errors == 0;
    for (int i = 0; i < 5; i++)
        zero = zero && e->tok[i] == 0;
    return zero && hist_is_zero(&e->lat) && hist_is_zero(&e->ttft);
}

int rollup_flush(struct rollup_acc *a, sqlite3 *db, char *err, size_t errlen)
{
    if (a->db != db) { /* statements belong to one connection */
        for (int k = 0; k < RK_KINDS; k++) {
            sqlite3_finalize(a->up[k]);
            sqlite3_finalize(a->key[k]);
            a->up[k] = a->key[k] = NULL;
        }
        a->db = db;
    }
    int rc = 0;
    for (int k = 0; k < RK_KINDS && rc == 0; k++)
        if (key_sql[k] && !a->key[k] &&
            sqlite3_prepare_v3(db, key_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &a->key[k], NULL) !=
                SQLITE_OK)
            rc = -1;
    for (int k = 0; k < RK_KINDS && rc == 0; k++)
        if (!a->up[k] && sqlite3_prepare_v3(db, upsert_sql[k], -1, SQLITE_PREPARE_PERSISTENT,
                                            &a->up[k], NULL) != SQLITE_OK)
            rc = -1;
    struct buf tmp;
    buf_init(&tmp, 0);
    for (size_t i = 0; i < a->n && rc == 0; i++)
        if (!entry_is_zero(&a->e[i])) /* a merge that changed nothing adds nothing */
            rc = write_entry(a, &a->e[i], &tmp);
    buf_release(&tmp);
    if (rc == 0 && a->subtracted) /* a group with no spans left is no group */
        rc = sqlite3_exec(db,
                          "DELETE FROM rollup_hourly_k WHERE calls = 0;"
                          "DELETE FROM rollup_daily_k WHERE calls = 0;"
                          "DELETE FROM rollup_daily_user_k WHERE calls = 0;"
                          "DELETE FROM rollup_daily_tenant_c WHERE calls = 0;",
                          NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    if (rc)
        snprintf(err, errlen, "rollups: %s", sqlite3_errmsg(db));
    rollup_reset(a);
    a->subtracted = 0;
    return rc;
}

/* ---- the dense API (rollup.h) ---- */

double rollup_bucket_value(int b)
{
    b = b < 0 ? 0 : b >= ROLLUP_HIST_BUCKETS ? ROLLUP_HIST_BUCKETS - 1 : b;
    double lo = HIST_BASE_MS * pow(HIST_RATIO, (double)b);
    return b == 0 ? lo : lo * sqrt(HIST_RATIO);
}

int rollup_hist_decode(const void *blob, size_t n, int64_t *counts)
{
    struct hist_rd r;
    int bucket, rc;
    int64_t c;
    hist_rd_init(&r, blob, n);
    while ((rc = hist_next(&r, &bucket, &c)) == 1)
        counts[bucket] += c;
    return rc;
}

int rollup_hist_encode(const int64_t *counts, struct buf *out)
{
    int rc = 0, any = 0;
    int64_t prev = 0;
    for (int b = 0; b < ROLLUP_HIST_BUCKETS && rc == 0; b++) {
        int64_t c = counts[b];
        if (c == 0)
            continue;
        rc |= hist_put(out, b - prev, c);
        prev = b;
        any = 1;
    }
    if (any && rc == 0)
        rc = buf_putc(out, (char)HIST_END);
    return rc;
}

/* ---- SQL functions ---- */

static void result_hist(sqlite3_context *ctx, struct hist *h)
{
    hist_settle(h);
    struct buf b;
    buf_init(&b, 0);
    if (h->n == 0 || hist_encode(h, &b) != 0 || b.len == 0) {
        buf_release(&b);
        sqlite3_result_null(ctx);
        return;
    }
    size_t n = b.len;
    sqlite3_result_blob64(ctx, buf_take(&b, NULL), n, free);
}

static void hist_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct hist *h = sqlite3_aggregate_context(ctx, sizeof(*h));
    if (!h || sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    hist_add(h, rollup_bucket(sqlite3_value_double(argv[0])), 1);
}

static void hist_final(sqlite3_context *ctx)
{
    struct hist *h = sqlite3_aggregate_context(ctx, 0);
    if (!h) {
        sqlite3_result_null(ctx);
        return;
    }
    result_hist(ctx, h);
    hist_release(h);
}

/* Decode argv[0..argc) into one histogram; -1 (and an error set) if any is malformed. */
static int decode_args(sqlite3_context *ctx, int argc, sqlite3_value **argv, struct hist *h)
{
    for (int i = 0; i < argc; i++) {
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            continue;
        if (hist_decode_into(h, sqlite3_value_blob(argv[i]),
                             (size_t)sqlite3_value_bytes(argv[i])) != 0) {
            sqlite3_result_error(ctx, "llmtap_hist: not a histogram", -1);
            return -1;
        }
    }
    return 0;
}

static void hist_sum_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct hist *h = sqlite3_aggregate_context(ctx, sizeof(*h));
    if (h)
        (void)decode_args(ctx, argc, argv, h);
}

static void hist_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct hist h = {0};
    if (decode_args(ctx, argc, argv, &h) == 0)
        result_hist(ctx, &h);
    hist_release(&h);
}

static void hist_count(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct hist h = {0};
    if (decode_args(ctx, argc, argv, &h) == 0) {
        int64_t n = 0;
        hist_settle(&h);
        for (size_t i = 0; i < h.n; i++)
            n += h.count[i];
        sqlite3_result_int64(ctx, n);
    }
    hist_release(&h);
}

/* Nearest rank: the bucket holding value number ceil(q * n); its geometric middle. */
static void hist_quantile(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct hist h = {0};
    double q = sqlite3_value_double(argv[1]);
    if (decode_args(ctx, 1, argv, &h) != 0) {
        hist_release(&h);
        return;
    }
    hist_settle(&h);
    int64_t *pairs = xmalloc((h.n + 1) * 2 * sizeof(*pairs)), n = 0;
    for (size_t i = 0; i < h.n; i++) {
        pairs[2 * i] = h.bucket[i];
        pairs[2 * i + 1] = h.count[i];
        n += h.count[i];
    }
    qsort(pairs, h.n, 2 * sizeof(*pairs), cmp_bucket);
    int64_t want = (int64_t)ceil((q < 0 ? 0 : q > 1 ? 1 : q) * (double)n), seen = 0;
    if (want < 1)
        want = 1;
    if (n <= 0)
        sqlite3_result_null(ctx);
    for (size_t i = 0; n > 0 && i < h.n; i++) {
        seen += pairs[2 * i + 1];
        if (seen >= want || i + 1 == h.n) {
            double lo = HIST_BASE_MS * pow(HIST_RATIO, (double)pairs[2 * i]);
            sqlite3_result_double(ctx, pairs[2 * i] == 0 ? lo : lo * sqrt(HIST_RATIO));
            break;
        }
    }
    free(pairs);
    hist_release(&h);
}

int rollup_register(sqlite3 *db)
{
    int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    int rc = sqlite3_create_function(db, "llmtap_hist", 1, f, NULL, NULL, hist_step, hist_final);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "llmtap_hist_sum", 1, f, NULL, NULL, hist_sum_step,
                                     hist_final);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "llmtap_hist_merge", 2, f, NULL, hist_merge, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "llmtap_hist_quantile", 2, f, NULL, hist_quantile, NULL,
                                     NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "llmtap_hist_count", 1, f, NULL, hist_count, NULL, NULL);
    return rc;
}
