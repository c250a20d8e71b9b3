/*
 * texts: deduplicated text (see texts.h).
 *
 * Invariants:
 *  - the index maps a hash to the id of a row of `texts` that exists in the
 *    writer's transaction (committed, or written earlier in it); any
 *    rollback empties it, since rolled-back ids may be handed out again,
 *    and the next store refills it from the table;
 *  - `texts` has no index on hash: it is appended in id order, so a commit
 *    dirties only the pages at its end (a random-key index would dirty a
 *    page per new text). The in-memory index is what finds duplicates. It
 *    is bounded, two generations of INDEX_SLOTS: when the current one is
 *    three quarters full the older one is dropped, so the most recent
 *    texts (live conversations, system prompts in use) are always found.
 *    A text older than both is stored again: wasted bytes, never a wrong
 *    reference;
 *  - at open the index is filled from the newest rows of the table;
 *  - request threads ask the index whether a text looks stored, to skip
 *    compressing it, and hand the id they found to the writer, tagged with
 *    the epoch; the writer uses it only while the epoch is unchanged (every
 *    rollback advances it; anything that ever deletes texts must too);
 *  - a project's dictionaries only accumulate: the newest packs, and every
 *    CDict lives until texts_close, since a request thread may hold one.
 */
#include "store/texts.h"

#include "store/textblock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zdict.h>
#include <zstd.h>

#include "core/timeutil.h"
#include "core/varint.h"
#include "core/xmem.h"
#include "store/segment.h"

#define INDEX_SLOTS (1u << 19)           /* per generation: 12 MiB */
#define INDEX_FULL (INDEX_SLOTS / 4 * 3) /* entries before a generation turns */

struct slot {
    uint64_t k0, k1;
    int64_t id; /* 0: empty */
};

struct gen {
    struct slot *slots;
    size_t used;
};

struct texts {
    uint64_t key[2];
    pthread_mutex_t mu; /* guards 'gens', 'cur', 'stale' and 'stats' */
    struct gen gens[2]; /* gens[cur] takes new entries; the other is older */
    int cur;
    int stale;      /* emptied by a rollback: refill before use */
    uint64_t epoch; /* advanced by every rollback: ids handed out before may be gone */
    struct texts_stats stats;
    struct pdict *dicts; /* every dictionary installed; the newest of a project packs
                            (older ones stay alive: a request thread may hold one) */
    size_t ndicts;
    /* writer thread only */
    sqlite3 *db;
    sqlite3_stmt *insert;
    struct textpack_ctx *wpack;
};

/* A project's dictionary for packing. */
struct pdict {
    char *project;
    int64_t id;
    ZSTD_CDict *cdict;
};

#define READER_DICTS 32  /* decoding dictionaries a reader keeps */
#define READER_BLOCKS 16 /* decoded text blocks a reader keeps (store/textblock.h) */

struct texts_reader {
    sqlite3 *db;
    sqlite3_stmt *get, *get_dict;
    struct textpack_ctx *tp;
    struct {
        int64_t id;
        ZSTD_DDict *ddict;
    } dicts[READER_DICTS];
    size_t ndicts, next_evict;
    sqlite3_stmt *get_block;
    struct textblock_dicts *bdicts;              /* the blocks' dictionaries */
    struct textblock_view blocks[READER_BLOCKS]; /* n == 0: empty slot */
    size_t next_block;
};

/* ---- hash ---- */

#define P0 0xa0761d6478bd642fULL
#define P1 0xe7037ed1a0b428dbULL
#define P2 0x8ebc6af09c88c6e3ULL
#define P3 0x589965cc75374cc3ULL

static uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t m = (__uint128_t)a * b;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t rotl(uint64_t v, int r)
{
    return (v << r) | (v >> (64 - r));
}

/* Absorb 'n' bytes into the two lanes (a, b): 16 bytes a step, each lane
 * fed by both words and by the other lane, so the 128-bit state stays
 * full-width; the tail is zero-padded and the length mixed in. */
static void absorb(uint64_t *a, uint64_t *b, const unsigned char *p, size_t n)
{
    uint64_t x = *a, y = *b;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint64_t w0 = rd64(p + i), w1 = rd64(p + i + 8);
        uint64_t nx = mix(w0 ^ x ^ P0, w1 ^ P1) + rotl(y, 23);
        y = mix(w1 ^ y ^ P2, w0 ^ P3) + rotl(x, 41);
        x = nx;
    }
    unsigned char tail[16] = {0};
    memcpy(tail, p + i, n - i);
    uint64_t w0 = rd64(tail) ^ ((uint64_t)n << 3), w1 = rd64(tail + 8) ^ (uint64_t)(n - i);
    uint64_t nx = mix(w0 ^ x ^ P1, w1 ^ P2) + rotl(y, 29);
    y = mix(w1 ^ y ^ P3, w0 ^ P0) + rotl(x, 37);
    *a = mix(nx ^ P2, y ^ P1);
    *b = mix(y ^ P0, *a ^ P3) ^ nx;
}

void texts_hash(const uint64_t key[2], const char *project, const char *text, size_t len,
                uint8_t out[16])
{
    uint64_t a = key[0], b = key[1];
    absorb(&a, &b, (const unsigned char *)project, strlen(project));
    absorb(&a, &b, (const unsigned char *)text, len);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

/* ---- cutting a value into texts ---- */

/* Index of the '"' that closes the string whose body starts at 'i', or
 * 'end' when there is none. memchr does the long runs of prose; a quote is
 * escaped when an odd number of backslashes precedes it. */
static size_t string_end(const char *s, size_t i, size_t end)
{
    while (i < end) {
        const char *q = memchr(s + i, '"', end - i);
        if (!q)
            return end;
        size_t at = (size_t)(q - s), bs = 0;
        while (at - bs > i && s[at - bs - 1] == '\\')
            bs++;
        if (bs % 2 == 0)
            return at;
        i = at + 1;
    }
    return end;
}

/* End of the JSON value starting at 'i' (one past it), stopping at a ',' or
 * ']' outside strings at depth 0; 0 when the bytes end inside it. */
static size_t element_end(const char *s, size_t i, size_t end)
{
    int depth = 0;
    for (; i < end; i++) {
        char c = s[i];
        if (c == '"') {
            i = string_end(s, i + 1, end);
            if (i >= end)
                return 0;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return c == ']' ? i : 0;
            depth--;
        } else if (c == ',' && depth == 0) {
            return i;
        }
    }
    return 0;
}

int texts_split(const char *json, size_t len, size_t **starts, size_t **lens, size_t *n)
{
    *starts = *lens = NULL;
    *n = 0;
    if (len < 2 || json[0] != '[' || json[len - 1] != ']')
        return -1;
    if (len == 2)
        return 0;
    size_t cap = 8, count = 0, i = 1;
    size_t *st = xmalloc(cap * sizeof(*st)), *ln = xmalloc(cap * sizeof(*ln));
    for (;;) {
        size_t e = element_end(json, i, len);
        if (e == 0 || e == i || count == TEXTS_MAX_PER_VALUE)
            goto fail;
        if (count == cap) {
            cap *= 2;
            st = xrealloc(st, cap * sizeof(*st));
            ln = xrealloc(ln, cap * sizeof(*ln));
        }
        st[count] = i;
        ln[count++] = e - i;
        if (json[e] == ']')
            break;
        i = e + 1;
    }
    if (st[count - 1] + ln[count - 1] != len - 1)
        goto fail; /* a ']' closed the array before the end */
    *starts = st;
    *lens = ln;
    *n = count;
    return 0;
fail:
    free(st);
    free(ln);
    return -1;
}

/* ---- the hash -> id index ---- */

static struct slot *probe(struct gen *g, const uint8_t h[16])
{
    uint64_t k0, k1;
    memcpy(&k0, h, 8);
    memcpy(&k1, h + 8, 8);
    size_t i = (size_t)k0 & (INDEX_SLOTS - 1);
    for (;;) {
        struct slot *s = &g->slots[i];
        if (s->id == 0 || (s->k0 == k0 && s->k1 == k1))
            return s;
        i = (i + 1) & (INDEX_SLOTS - 1);
    }
}

/* Caller holds t->mu. */
static int64_t index_get(struct texts *t, const uint8_t h[16])
{
    int64_t id = probe(&t->gens[t->cur], h)->id;
    return id ? id : probe(&t->gens[!t->cur], h)->id;
}

/* Caller holds t->mu. */
static void index_put(struct texts *t, const uint8_t h[16], int64_t id)
{
    struct gen *g = &t->gens[t->cur];
    if (g->used >= INDEX_FULL) { /* turn: the older generation is dropped */
        t->cur = !t->cur;
        g = &t->gens[t->cur];
        memset(g->slots, 0, INDEX_SLOTS * sizeof(*g->slots));
        g->used = 0;
    }
    struct slot *s = probe(g, h);
    if (s->id == 0)
        g->used++;
    memcpy(&s->k0, h, 8);
    memcpy(&s->k1, h + 8, 8);
    s->id = id;
}

/* Caller holds t->mu. */
static void index_clear(struct texts *t)
{
    for (int i = 0; i < 2; i++) {
        memset(t->gens[i].slots, 0, INDEX_SLOTS * sizeof(*t->gens[i].slots));
        t->gens[i].used = 0;
    }
}

/* Fill the index with the newest texts of the table (writer's connection). */
static int index_load(struct texts *t, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(t->db, "SELECT id, hash FROM texts ORDER BY id DESC LIMIT ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read texts: %s", sqlite3_errmsg(t->db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, INDEX_FULL - 1);
    pthread_mutex_lock(&t->mu);
    index_clear(t);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_bytes(st, 1) == 16)
            index_put(t, sqlite3_column_blob(st, 1), sqlite3_column_int64(st, 0));
    t->stale = 0;
    pthread_mutex_unlock(&t->mu);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read texts: %s", sqlite3_errmsg(t->db));
        return -1;
    }
    return 0;
}

void texts_rolled_back(struct texts *t)
{
    pthread_mutex_lock(&t->mu);
    index_clear(t);
    t->stale = 1;
    t->epoch++;
    pthread_mutex_unlock(&t->mu);
}

/* ---- dictionaries ---- */

#define DICT_LEVEL 1 /* packing with a dictionary: its matches make level 1 cheap */

/* The newest dictionary of 'project' (caller holds t->mu), or NULL. */
static const struct pdict *dict_for(const struct texts *t, const char *project)
{
    const struct pdict *best = NULL;
    for (size_t i = 0; i < t->ndicts; i++)
        if (strcmp(t->dicts[i].project, project) == 0 && (!best || t->dicts[i].id > best->id))
            best = &t->dicts[i];
    return best;
}

int texts_install_dict(struct texts *t, const char *project, int64_t id, const void *dict, size_t n)
{
    ZSTD_CDict *cd = ZSTD_createCDict(dict, n, DICT_LEVEL);
    if (!cd)
        return -1;
    pthread_mutex_lock(&t->mu);
    t->dicts = xrealloc(t->dicts, (t->ndicts + 1) * sizeof(*t->dicts));
    t->dicts[t->ndicts++] = (struct pdict){.project = xstrdup(project), .id = id, .cdict = cd};
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int texts_has_dict(struct texts *t, const char *project)
{
    pthread_mutex_lock(&t->mu);
    int has = dict_for(t, project) != NULL;
    pthread_mutex_unlock(&t->mu);
    return has;
}

static int load_dicts(struct texts *t, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, "SELECT id, project, dict FROM text_dicts ORDER BY id", -1,
                                &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (texts_install_dict(t, (const char *)sqlite3_column_text(st, 1),
                               sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 2),
                               (size_t)sqlite3_column_bytes(st, 2)) != 0)
            rc = SQLITE_CORRUPT;
        else
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot load text dictionaries: %s", sqlite3_errmsg(t->db));
        return -1;
    }
    return 0;
}

int texts_store_dict(sqlite3 *db, const char *project, const void *dict, size_t n, int samples,
                     int64_t *id, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO text_dicts(project, created_ns, samples, dict)"
                                " VALUES(?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, time_now_ns());
        sqlite3_bind_int(st, 3, samples);
        sqlite3_bind_blob64(st, 4, dict, n, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot store a text dictionary: %s", sqlite3_errmsg(db));
        return -1;
    }
    *id = sqlite3_last_insert_rowid(db);
    return 0;
}

int texts_train(const struct texts_samples *sm, size_t dict_max, struct buf *out, char *err,
                size_t errlen)
{
    if (sm->n < TEXTS_TRAIN_MIN_SAMPLES) {
        snprintf(err, errlen, "%zu samples; training needs %d", sm->n, TEXTS_TRAIN_MIN_SAMPLES);
        return -1;
    }
    if (buf_reserve(out, dict_max) != 0) {
        snprintf(err, errlen, "dictionary buffer is full");
        return -1;
    }
    size_t got = ZDICT_trainFromBuffer(out->data + out->len, dict_max, sm->data.data, sm->sizes,
                                       (unsigned)sm->n);
    if (ZDICT_isError(got)) {
        snprintf(err, errlen, "cannot train a dictionary: %s", ZDICT_getErrorName(got));
        return -1;
    }
    out->len += got;
    return 0;
}

void texts_samples_init(struct texts_samples *sm)
{
    memset(sm, 0, sizeof(*sm));
    buf_init(&sm->data, 0);
}

void texts_samples_release(struct texts_samples *sm)
{
    buf_release(&sm->data);
    free(sm->sizes);
    memset(sm, 0, sizeof(*sm));
}

int texts_samples_add(struct texts_samples *sm, const void *p, size_t n)
{
    if (sm->n == sm->cap) {
        sm->cap = sm->cap ? sm->cap * 2 : 256;
        sm->sizes = xrealloc(sm->sizes, sm->cap * sizeof(*sm->sizes));
    }
    if (buf_append(&sm->data, p, n) != 0)
        return -1;
    sm->sizes[sm->n++] = n;
    return 0;
}

/* ---- open / close ---- */

static int read_key(struct texts *t, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(t->db, "SELECT value FROM meta WHERE key='text_hash_key'", -1, &st,
                                NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16;
    if (ok) {
        const unsigned char *k = sqlite3_column_blob(st, 0);
        memcpy(&t->key[0], k, 8);
        memcpy(&t->key[1], k + 8, 8);
    } else {
        snprintf(err, errlen, "cannot read the text hash key: %s", sqlite3_errmsg(t->db));
    }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int texts_open(struct texts **out, sqlite3 *db, char *err, size_t errlen)
{
    struct texts *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    t->db = db;
    for (int i = 0; i < 2; i++)
        t->gens[i].slots = xcalloc(INDEX_SLOTS, sizeof(*t->gens[i].slots));
    *out = NULL;
    if (read_key(t, err, errlen) != 0 || index_load(t, err, errlen) != 0 ||
        load_dicts(t, err, errlen) != 0)
        goto fail;
    if (sqlite3_prepare_v3(db, "INSERT INTO texts(hash, dict, body) VALUES(?1, ?2, ?3)", -1,
                           SQLITE_PREPARE_PERSISTENT, &t->insert, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare text statements: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (!(t->wpack = textpack_new())) {
        snprintf(err, errlen, "cannot create a zstd context");
        goto fail;
    }
    *out = t;
    return 0;
fail:
    texts_close(t);
    return -1;
}

void texts_close(struct texts *t)
{
    if (!t)
        return;
    sqlite3_finalize(t->insert);
    textpack_free(t->wpack);
    for (int i = 0; i < 2; i++)
        free(t->gens[i].slots);
    for (size_t i = 0; i < t->ndicts; i++) {
        free(t->dicts[i].project);
        ZSTD_freeCDict(t->dicts[i].cdict);
    }
    free(t->dicts);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void texts_get_stats(struct texts *t, struct texts_stats *out)
{
    pthread_mutex_lock(&t->mu);
    *out = t->stats;
    pthread_mutex_unlock(&t->mu);
}

/* ---- preparing a record (any thread) ---- */

static void add_text(struct rec_span *r, size_t *cap, const char *p, size_t n)
{
    if (r->ntexts == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        r->texts = xrealloc(r->texts, *cap * sizeof(*r->texts));
    }
    struct rec_text *x = &r->texts[r->ntexts++];
    memset(x, 0, sizeof(*x));
    x->text = p;
    x->len = n;
}

/* Cut one value: the elements of a compact array, else the whole value. */
static char cut_value(struct rec_span *r, size_t *cap, const char *v, int split)
{
    if (!v)
        return 0;
    size_t len = strlen(v), *st = NULL, *ln = NULL, n = 0;
    if (split && texts_split(v, len, &st, &ln, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            add_text(r, cap, v + st[i], ln[i]);
        free(st);
        free(ln);
        return 'A';
    }
    add_text(r, cap, v, len);
    return 'V';
}

void texts_prepare(struct texts *t, struct rec_span *r, struct textpack_ctx *tp)
{
    if (r->texts_ready)
        return;
    size_t cap = 0;
    r->input_shape = cut_value(r, &cap, r->span.input, 1);
    r->ninput = r->ntexts;
    r->output_shape = cut_value(r, &cap, r->span.output, 0);
    r->texts_ready = 1;
    if (r->ntexts == 0)
        return;
    const char *project = r->span.project ? r->span.project : "default";
    for (size_t i = 0; i < r->ntexts; i++)
        texts_hash(t->key, project, r->texts[i].text, r->texts[i].len, r->texts[i].hash);
    if (!tp)
        return;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < r->ntexts; i++) {
        r->texts[i].id = t->stale ? 0 : index_get(t, r->texts[i].hash);
        r->texts[i].epoch = t->epoch;
    }
    const struct pdict *d = dict_for(t, project);
    const ZSTD_CDict *cdict = d ? d->cdict : NULL; /* alive until texts_close */
    int64_t dict_id = d ? d->id : 0;
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < r->ntexts; i++) {
        struct rec_text *x = &r->texts[i];
        if (x->id)
            continue;
        struct buf b;
        buf_init(&b, 0);
        int rc = cdict ? textpack_pack_dict(tp, cdict, x->text, x->len, &b)
                       : textpack_pack(tp, x->text, x->len, &b);
        if (rc == 0) {
            x->packed.data = buf_take(&b, &x->packed.len);
            x->dict = x->packed.data[0] == 'Y' ? dict_id : 0;
        }
        buf_release(&b);
    }
}

/* ---- storing (writer thread) ---- */

/* The id of text 'x', appending it to the table when new. */
static int resolve(struct texts *t, struct rec_text *x, int64_t *id, char *err, size_t errlen)
{
    if (x->id && x->epoch == t->epoch) { /* only this thread moves the epoch */
        *id = x->id;
        t->stats.reused++;
        return 0;
    }
    pthread_mutex_lock(&t->mu);
    int stale = t->stale;
    *id = stale ? 0 : index_get(t, x->hash);
    t->stats.reused += *id != 0;
    pthread_mutex_unlock(&t->mu);
    if (stale) {
        if (index_load(t, err, errlen))
            return -1;
        return resolve(t, x, id, err, errlen);
    }
    if (*id)
        return 0;
    int packed_here = 0;
    if (!x->packed.data) {
        struct buf b;
        buf_init(&b, 0);
        if (textpack_pack(t->wpack, x->text, x->len, &b) != 0) {
            buf_release(&b);
            snprintf(err, errlen, "text store: cannot pack a text");
            return -1;
        }
        x->packed.data = buf_take(&b, &x->packed.len);
        x->dict = 0;
        packed_here = 1;
    }
    sqlite3_bind_blob(t->insert, 1, x->hash, 16, SQLITE_STATIC);
    sqlite3_bind_int64(t->insert, 2, x->dict);
    sqlite3_bind_blob64(t->insert, 3, x->packed.data, x->packed.len, SQLITE_STATIC);
    int rc = sqlite3_step(t->insert);
    sqlite3_reset(t->insert);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "text store: %s", sqlite3_errmsg(t->db));
        return -1;
    }
    *id = sqlite3_last_insert_rowid(t->db);
    pthread_mutex_lock(&t->mu);
    index_put(t, x->hash, *id);
    t->stats.inserted++;
    t->stats.packed_by_writer += packed_here;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int encode(struct texts *t, struct rec_text *x, size_t n, char shape, struct buf *out,
                  char *err, size_t errlen)
{
    if (!shape)
        return 0;
    if (buf_putc(out, shape) || varint_put(out, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t id = 0;
        if (resolve(t, &x[i], &id, err, errlen) || varint_put(out, (uint64_t)id))
            return -1;
    }
    return 0;
}

int texts_store(struct texts *t, struct rec_span *r, struct buf *in_refs, struct buf *out_refs,
                char *err, size_t errlen)
{
    texts_prepare(t, r, t->wpack);
    if (encode(t, r->texts, r->ninput, r->input_shape, in_refs, err, errlen) ||
        encode(t, r->texts + r->ninput, r->ntexts - r->ninput, r->output_shape, out_refs, err,
               errlen))
        return -1;
    return 0;
}

/* ---- reading: llmtap_refs() ---- */

/* The decoding dictionary 'id' (cached; loaded on first use), or NULL. */
static const ZSTD_DDict *reader_dict(struct texts_reader *rd, int64_t id)
{
    for (size_t i = 0; i < rd->ndicts; i++)
        if (rd->dicts[i].id == id)
            return rd->dicts[i].ddict;
    if (!rd->get_dict &&
        sqlite3_prepare_v3(rd->db, "SELECT dict FROM text_dicts WHERE id=?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &rd->get_dict, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(rd->get_dict, 1, id);
    ZSTD_DDict *dd = NULL;
    if (sqlite3_step(rd->get_dict) == SQLITE_ROW)
        dd = ZSTD_createDDict(sqlite3_column_blob(rd->get_dict, 0),
                              (size_t)sqlite3_column_bytes(rd->get_dict, 0));
    sqlite3_reset(rd->get_dict);
    if (!dd)
        return NULL;
    size_t slot = rd->ndicts < READER_DICTS ? rd->ndicts++ : rd->next_evict++ % READER_DICTS;
    if (slot < rd->ndicts && rd->dicts[slot].ddict && rd->dicts[slot].id != id)
        ZSTD_freeDDict(rd->dicts[slot].ddict);
    rd->dicts[slot].id = id;
    rd->dicts[slot].ddict = dd;
    return dd;
}

/* Text 'id' from the block that holds it (decoded blocks are kept). */
static int read_blocked(struct texts_reader *rd, int64_t id, struct buf *out)
{
    const char *p;
    size_t len;
    for (size_t i = 0; i < READER_BLOCKS; i++) {
        const struct textblock_view *v = &rd->blocks[i];
        if (v->n && id >= v->first && id <= v->last)
            return textblock_get(v, id, &p, &len) == 0 ? SQLITE_CORRUPT
                   : buf_append(out, p, len) == BUF_OK ? SQLITE_OK
                                                       : SQLITE_NOMEM;
    }
    if (!rd->get_block &&
        sqlite3_prepare_v3(rd->db,
                           "SELECT id, dict, body FROM text_blocks"
                           " WHERE id <= ?1 AND last_id >= ?1 ORDER BY id DESC LIMIT 1",
                           -1, SQLITE_PREPARE_PERSISTENT, &rd->get_block, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    sqlite3_bind_int64(rd->get_block, 1, id);
    int rc = sqlite3_step(rd->get_block);
    if (rc == SQLITE_ROW) {
        struct textblock_view *v = &rd->blocks[rd->next_block++ % READER_BLOCKS];
        if (textblock_decode(rd->bdicts, sqlite3_column_int64(rd->get_block, 1),
                             sqlite3_column_blob(rd->get_block, 2),
                             (size_t)sqlite3_column_bytes(rd->get_block, 2),
                             sqlite3_column_int64(rd->get_block, 0), v) != 0) {
            v->n = 0; /* a block that does not decode is not kept */
            rc = SQLITE_CORRUPT;
        } else {
            rc = textblock_get(v, id, &p, &len) == 0 ? SQLITE_CORRUPT
                 : buf_append(out, p, len) == BUF_OK ? SQLITE_OK
                                                     : SQLITE_NOMEM;
        }
    } else {
        rc = rc == SQLITE_DONE ? SQLITE_CORRUPT : rc; /* in no block either: missing */
    }
    sqlite3_reset(rd->get_block);
    return rc;
}

int texts_read_text(struct texts_reader *rd, int64_t id, struct buf *out)
{
    if (!rd->get && sqlite3_prepare_v3(rd->db, "SELECT dict, body FROM texts WHERE id=?1", -1,
                                       SQLITE_PREPARE_PERSISTENT, &rd->get, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    sqlite3_bind_int64(rd->get, 1, id);
    int rc = sqlite3_step(rd->get);
    if (rc == SQLITE_ROW) {
        int64_t dict = sqlite3_column_int64(rd->get, 0);
        const ZSTD_DDict *dd = dict ? reader_dict(rd, dict) : NULL;
        rc = (dict && !dd) ? SQLITE_CORRUPT
             : textpack_unpack_append_dict(rd->tp, dd, sqlite3_column_blob(rd->get, 1),
                                           (size_t)sqlite3_column_bytes(rd->get, 1), out) == 0
                 ? SQLITE_OK
                 : SQLITE_CORRUPT;
        sqlite3_reset(rd->get);
        return rc;
    }
    sqlite3_reset(rd->get);
    return rc == SQLITE_DONE ? read_blocked(rd, id, out) : rc;
}

struct each_table {
    struct texts_reader *rd;
    texts_each_fn fn;
    void *ctx;
};

struct textblock_dicts *texts_reader_block_dicts(struct texts_reader *rd)
{
    return rd->bdicts;
}

int texts_each(struct texts_reader *rd, int64_t after, texts_each_fn fn, void *ctx)
{
    int rc = textblock_each(rd->db, rd->bdicts, after, fn, ctx);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(rd->db, "SELECT id FROM texts WHERE id > ?1 ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    struct buf one;
    buf_init(&one, TEXTPACK_MAX_TEXT);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        buf_reset(&one);
        if (texts_read_text(rd, id, &one) != SQLITE_OK)
            rc = fn(ctx, id, NULL, 0); /* it does not decode: the caller says what that means */
        else
            rc = fn(ctx, id, one.data ? one.data : "", one.len);
    }
    buf_release(&one);
    sqlite3_finalize(st);
    return rc;
}

int texts_read_refs(struct texts_reader *rd, const void *blob, size_t n, struct buf *out)
{
    const unsigned char *p = blob, *end = p + n;
    uint64_t count = 0;
    if (n < 2 || (p[0] != 'A' && p[0] != 'V'))
        return SQLITE_CORRUPT;
    char shape = (char)*p++;
    if (varint_get(&p, end, &count) || (shape == 'V' && count != 1))
        return SQLITE_CORRUPT;
    if (shape == 'A' && buf_putc(out, '['))
        return SQLITE_NOMEM;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id = 0;
        if (varint_get(&p, end, &id))
            return SQLITE_CORRUPT;
        if (i && buf_putc(out, ','))
            return SQLITE_NOMEM;
        int rc = texts_read_text(rd, (int64_t)id, out);
        if (rc)
            return rc;
    }
    if (shape == 'A' && buf_putc(out, ']'))
        return SQLITE_NOMEM;
    return p == end ? SQLITE_OK : SQLITE_CORRUPT;
}

static void sql_refs(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    struct buf out;
    buf_init(&out, TEXTPACK_MAX_TEXT);
    int rc = texts_read_refs(sqlite3_user_data(ctx), sqlite3_value_blob(argv[0]),
                             (size_t)sqlite3_value_bytes(argv[0]), &out);
    if (rc != SQLITE_OK) {
        buf_release(&out);
        sqlite3_result_error(ctx, "llmtap_refs: a text reference does not resolve", -1);
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    size_t len = out.len;
    char *text = buf_take(&out, NULL);
    sqlite3_result_text64(ctx, text, len, free, SQLITE_UTF8);
}

struct texts_reader *texts_reader_open(sqlite3 *db)
{
    struct texts_reader *rd = xcalloc(1, sizeof(*rd));
    rd->db = db;
    for (size_t i = 0; i < READER_BLOCKS; i++)
        textblock_view_init(&rd->blocks[i]);
    rd->tp = textpack_new();
    rd->bdicts = textblock_dicts_open(db);
    if (!rd->tp || !rd->bdicts) {
        texts_reader_free(rd);
        return NULL;
    }
    return rd;
}

int texts_register(sqlite3 *db, struct texts_reader **out)
{
    struct texts_reader *rd = texts_reader_open(db);
    *out = NULL;
    if (!rd)
        return SQLITE_NOMEM;
    /* not DETERMINISTIC (it reads a table); INNOCUOUS, so views may use it */
    int rc = sqlite3_create_function_v2(db, "llmtap_refs", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, rd,
                                        sql_refs, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        texts_reader_free(rd);
        return rc;
    }
    *out = rd;
    return SQLITE_OK;
}

/* ---- sampling a project's texts (for training) ---- */

int texts_refs_ids(const void *blob, size_t n, int64_t **ids, size_t *nids, size_t *cap)
{
    const unsigned char *p = blob;
    const unsigned char *end = p + n;
    uint64_t count = 0;
    if (n < 2 || (p[0] != 'A' && p[0] != 'V'))
        return -1;
    p++;
    if (varint_get(&p, end, &count))
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id = 0;
        if (varint_get(&p, end, &id))
            return -1;
        if (*nids == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            *ids = xrealloc(*ids, *cap * sizeof(**ids));
        }
        (*ids)[(*nids)++] = (int64_t)id;
    }
    return p == end ? 0 : -1;
}

/* Append the text ids of refs blob 'p' to 'ids'; malformed blobs add none. */
static void refs_ids(const unsigned char *p, size_t n, int64_t **ids, size_t *nids, size_t *cap)
{
    size_t before = *nids;
    if (texts_refs_ids(p, n, ids, nids, cap) != 0)
        *nids = before;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Add the text ids of the newest segments of 'project' until 'want'. */
static int segment_ids(sqlite3 *db, const char *project, size_t want, int64_t **ids, size_t *n,
                       size_t *cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT id FROM segments WHERE project=?1 ORDER BY id DESC", -1,
                                &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && *n < want && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct segment_data *d = NULL;
        char err[128];
        rc = SQLITE_OK;
        if (segment_load(db, sqlite3_column_int64(st, 0),
                         (1ull << SC_INPUT_REFS) | (1ull << SC_OUTPUT_REFS), &d, err,
                         sizeof(err)) != 0)
            continue; /* an undecodable segment gives no samples */
        for (size_t r = 0; r < segment_data_rows(d); r++)
            for (int c = SC_INPUT_REFS; c <= SC_OUTPUT_REFS; c++) {
                size_t len = 0;
                const char *b = colenc_bytes(segment_data_col(d, c), r, &len);
                if (b)
                    refs_ids((const unsigned char *)b, len, ids, n, cap);
            }
        segment_data_free(d);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : -1;
}

/* The distinct text ids the newest 'max_spans' hot rows of 'project' use,
 * and its newest segments' when the hot rows have too few. */
static int sample_ids(sqlite3 *db, const char *project, int max_spans, int64_t **ids, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT input_refs, output_refs FROM span_rows WHERE project=?1"
                                " ORDER BY id DESC LIMIT ?2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, max_spans);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < 2; c++)
            refs_ids(sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c), ids, n, &cap);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if ((rc == SQLITE_DONE || rc == SQLITE_OK) && *n < (size_t)max_spans)
        rc = segment_ids(db, project, (size_t)max_spans, ids, n, &cap) == 0 ? SQLITE_OK
                                                                            : SQLITE_ERROR;
    if (*n)
        qsort(*ids, *n, sizeof(**ids), cmp_id);
    size_t u = 0;
    for (size_t i = 0; i < *n; i++)
        if (u == 0 || (*ids)[u - 1] != (*ids)[i])
            (*ids)[u++] = (*ids)[i];
    *n = u;
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : -1;
}

#define SAMPLE_MAX_BYTES (16u << 10) /* longer texts are cut: zstd trains on short samples */

int texts_sample(sqlite3 *db, const char *project, int max_spans, size_t max_samples,
                 struct texts_samples *out, char *err, size_t errlen)
{
    int64_t *ids = NULL;
    size_t n = 0;
    struct texts_reader *rd = texts_reader_open(db);
    struct buf one;
    buf_init(&one, 0);
    int rc = rd ? sample_ids(db, project, max_spans, &ids, &n) : -1;
    /* the newest texts are the best guide to what comes next */
    for (size_t i = n; rc == 0 && i-- > 0 && out->n < max_samples;) {
        buf_reset(&one);
        if (texts_read_text(rd, ids[i], &one) != SQLITE_OK)
            continue; /* a text that does not decode is not a sample */
        rc = texts_samples_add(out, one.data ? one.data : "",
                               one.len < SAMPLE_MAX_BYTES ? one.len : SAMPLE_MAX_BYTES);
    }
    if (rc)
        snprintf(err, errlen, "cannot sample texts of '%s': %s", project, sqlite3_errmsg(db));
    buf_release(&one);
    free(ids);
    texts_reader_free(rd);
    return rc;
}

void texts_reader_free(struct texts_reader *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->get_dict);
    sqlite3_finalize(r->get_block);
    for (size_t i = 0; i < READER_BLOCKS; i++)
        textblock_view_release(&r->blocks[i]);
    for (size_t i = 0; i < r->ndicts; i++)
        ZSTD_freeDDict(r->dicts[i].ddict);
    textblock_dicts_free(r->bdicts); /* finalizes its statements first */
    textpack_free(r->tp);
    free(r);
}
