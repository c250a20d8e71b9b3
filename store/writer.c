/*
 * writer: the single writer thread with group commit (see writer.h).
 *
 * Queue states of an item: queued -> taken (in the current transaction) ->
 * done (committed, or failed). Items live on the submitter's stack; the
 * submitter waits on done_cv until its item is done, so an item never
 * outlives its submitter. Statements are prepared once, in the writer
 * thread, and used only there.
 *
 * Two threads: the writer (the only read-write connection) and the
 * compactor, with its own read-only connection. The compactor never
 * writes: it encodes a batch of the oldest hot rows (and trains text
 * dictionaries) and hands the result to the writer through writer_run.
 * The writer applies a batch only if no hot row was updated in place since
 * the batch's snapshot began (sql.hot_updates against committed_updates),
 * and checkpoints the WAL itself, after waking the group that grew it.
 */
#include "store/writer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/fts.h"
#include "store/retention.h"
#include "store/textblock.h"
#include "store/writer_sql.h"

struct item {
    struct ingest_batch *batch; /* either a batch ... */
    writer_fn fn;               /* ... or a function */
    void *ctx;
    size_t records, bytes;
    int done;
    int status; /* lt_err */
    char msg[256];
    struct item *next;
};

struct writer {
    struct store *st;
    struct writer_config cfg;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    struct item *head, *tail;
    size_t queued_records, queued_bytes;
    int stopping;
    int healthy;
    /* the compactor thread (runs unless cfg.compact_keep_hot < 0) */
    pthread_t compactor;
    int compactor_started, compactor_stopping;
    pthread_cond_t compact_cv;
    uint64_t committed_updates; /* sql.hot_updates as of the last commit */
    int wal_pages;              /* pages in the WAL after the last commit (wal hook) */
    uint64_t wal_frames;        /* pages written to the WAL (writer thread; see stats) */
    int64_t last_commit_at;     /* monotonic time of the last commit */
    int64_t last_ingest_at;     /* ... of the last one with spans */
    struct writer_stats stats;
    struct writer_sql sql; /* writer thread only */
};

void writer_config_default(struct writer_config *cfg)
{
    cfg->queue_max_records = 200000;
    cfg->queue_max_bytes = 512u << 20;
    cfg->txn_max_records = 20000;
    cfg->compact_keep_hot = 2048;
    cfg->compact_batch = 2048;
    cfg->checkpoint_pages = 2000;
    cfg->text_block_keep = TEXTBLOCK_KEEP;
    cfg->text_block_cold_idle_ns = 10 * 1000000000LL;
    cfg->text_block_train_first = TEXTBLOCK_TRAIN_FIRST;
    cfg->text_block_train_every = TEXTBLOCK_TRAIN_EVERY;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Write one batch inside the open transaction. Returns 0, or -1 with 'err'. */
static int write_batch(struct writer *w, struct ingest_batch *b, char *err, size_t errlen)
{
    int64_t now = time_now_ns();
    for (size_t i = 0; i < b->nspans; i++)
        if (wsql_span(&w->sql, &b->spans[i], now, err, errlen))
            return -1;
    for (size_t i = 0; i < b->nmsgs; i++)
        if (wsql_logmsg(&w->sql, &b->msgs[i], err, errlen))
            return -1;
    for (size_t i = 0; i < b->nscores; i++)
        if (wsql_score(&w->sql, &b->scores[i], err, errlen))
            return -1;
    return 0;
}

/* The in-memory mirrors of the tables forget what the rollback undid. */
static void rolled_back(struct writer *w)
{
    char err[256];
    texts_rolled_back(w->sql.texts);
    if (segindex_reload(w->sql.segs, err, sizeof(err)) != 0)
        log_msg(LOG_ERROR, "writer", "%s", err);
}

/* One request's work inside a savepoint, so its failure leaves the others. */
static void run_item(struct writer *w, struct item *it)
{
    sqlite3 *db = store_db(w->st);
    exec(db, "SAVEPOINT item");
    int rc = it->batch ? write_batch(w, it->batch, it->msg, sizeof(it->msg))
                       : it->fn(db, it->ctx, it->msg, sizeof(it->msg));
    if (rc) {
        exec(db, "ROLLBACK TO item");
        rolled_back(w);
        it->status = it->batch ? LT_INTERNAL : LT_INVALID_INPUT;
        log_msg(LOG_ERROR, "writer", "request rolled back: %s", it->msg);
    } else {
        it->status = LT_OK;
    }
    exec(db, "RELEASE item");
}

/* A transaction of 'took_ns' into the commit-time histogram (under w->mu). */
static void count_commit_time(struct writer_stats *st, int64_t took_ns)
{
    double sec = (double)took_ns / 1e9;
    size_t b = 0;
    while (b < WRITER_COMMIT_BUCKETS && sec > writer_commit_bounds[b])
        b++;
    st->commit_hist[b]++;
    st->commit_ns_sum += took_ns;
}

static void count_results(struct writer *w, const struct ingest_batch *b)
{
    for (size_t i = 0; i < b->nspans; i++) {
        enum rec_result r = b->spans[i].result;
        w->stats.spans_created += r == REC_CREATED;
        w->stats.spans_duplicate += r == REC_DUPLICATE;
        w->stats.spans_merged += r == REC_MERGED;
    }
    w->stats.logmsgs += b->nmsgs;
    w->stats.scores += b->nscores;
}

static void fail_group(struct item *group, const char *why)
{
    for (struct item *it = group; it; it = it->next) {
        it->status = LT_UNAVAILABLE;
        snprintf(it->msg, sizeof(it->msg), "store commit failed: %s", why);
        if (!it->batch)
            continue;
        for (size_t i = 0; i < it->batch->nspans; i++)
            it->batch->spans[i].result = REC_FAILED;
        for (size_t i = 0; i < it->batch->nmsgs; i++)
            it->batch->msgs[i].result = REC_FAILED;
        for (size_t i = 0; i < it->batch->nscores; i++)
            it->batch->scores[i].result = REC_FAILED;
    }
}

/* One group commit over the taken items. */
static void commit_group(struct writer *w, struct item *group)
{
    sqlite3 *db = store_db(w->st);
    int64_t t0 = time_mono_ns();
    int rc = exec(db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        for (struct item *it = group; it; it = it->next)
            run_item(w, it);
        rc = exec(db, "COMMIT");
    }
    int64_t took = time_mono_ns() - t0;
    pthread_mutex_lock(&w->mu);
    if (rc != SQLITE_OK) {
        const char *why = sqlite3_errmsg(db);
        log_msg(LOG_ERROR, "writer", "commit failed: %s", why);
        fail_group(group, why);
        exec(db, "ROLLBACK");
        rolled_back(w);
        w->stats.failed_commits++;
        w->healthy = 0;
    } else {
        w->healthy = 1;
        w->stats.commits++;
        for (struct item *it = group; it; it = it->next)
            if (it->batch && it->status == LT_OK)
                count_results(w, it->batch);
    }
    w->stats.last_commit_ns = took;
    w->last_commit_at = time_mono_ns();
    for (struct item *it = group; it; it = it->next)
        if (it->batch)
            w->last_ingest_at = w->last_commit_at;
    w->stats.hot_rows = segindex_hot_rows(w->sql.segs); /* mirrored for other threads */
    w->stats.segments = segindex_segments(w->sql.segs);
    w->stats.wal_frames = w->wal_frames;
    if (rc == SQLITE_OK)
        w->committed_updates = w->sql.hot_updates;
    if (w->cfg.compact_keep_hot >= 0 &&
        w->stats.hot_rows >= w->cfg.compact_keep_hot + w->cfg.compact_batch)
        pthread_cond_signal(&w->compact_cv);
    if (took > w->stats.max_commit_ns)
        w->stats.max_commit_ns = took;
    count_commit_time(&w->stats, took);
    for (struct item *it = group; it; it = it->next)
        it->done = 1;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->mu);
}

/* Take queued items up to the transaction cap (always at least one). */
static struct item *take_group(struct writer *w)
{
    struct item *group = w->head, *last = w->head;
    size_t records = last->records;
    while (last->next && records + last->next->records <= w->cfg.txn_max_records) {
        last = last->next;
        records += last->records;
    }
    w->head = last->next;
    if (!w->head)
        w->tail = NULL;
    last->next = NULL;
    for (struct item *it = group; it; it = it->next) {
        w->queued_records -= it->records;
        w->queued_bytes -= it->bytes;
    }
    return group;
}

struct compact_call {
    struct writer *w;
    int64_t keep_hot, moved;
};

static int compact_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    (void)db;
    struct compact_call *c = ctx;
    int64_t excess = segindex_hot_rows(c->w->sql.segs) - c->keep_hot;
    int batch = c->w->cfg.compact_batch > 0 ? c->w->cfg.compact_batch : SEGMENT_MAX_ROWS;
    int n = 0;
    if (excess > 0 &&
        segment_compact(c->w->sql.segs, excess < batch ? (int)excess : batch, &n, err, errlen))
        return -1;
    c->moved = n;
    return 0;
}

int writer_compact_step(struct writer *w, int64_t keep_hot, int64_t *moved, char *err,
                        size_t errlen)
{
    struct compact_call c = {.w = w, .keep_hot = keep_hot < 0 ? 0 : keep_hot};
    int rc = writer_run(w, compact_fn, &c, err, errlen);
    *moved = rc == LT_OK ? c.moved : 0;
    if (rc == LT_OK && c.moved) {
        pthread_mutex_lock(&w->mu);
        w->stats.compactions++;
        w->stats.rows_compacted += (uint64_t)c.moved;
        pthread_mutex_unlock(&w->mu);
    }
    return rc;
}

/* ---- checkpoints ---- */

static int wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    struct writer *w = ctx; /* the writer thread: it made the commit */
    if (pages > w->wal_pages)
        w->wal_frames += (uint64_t)(pages - w->wal_pages);
    w->wal_pages = pages;
    return SQLITE_OK;
}

/* Copy the WAL back into the database once it is big, between groups. A
 * PASSIVE checkpoint: the only other connections are readers, which it
 * does not wait for (what they still need is copied next time). */
static void maybe_checkpoint(struct writer *w)
{
    if (w->wal_pages < w->cfg.checkpoint_pages)
        return;
    int64_t t0 = time_mono_ns();
    int rc =
        sqlite3_wal_checkpoint_v2(store_db(w->st), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    int64_t took = time_mono_ns() - t0;
    w->wal_pages = 0;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_msg(LOG_WARN, "writer", "checkpoint failed: %s", sqlite3_errmsg(store_db(w->st)));
    pthread_mutex_lock(&w->mu);
    w->stats.checkpoints++;
    if (took > w->stats.max_checkpoint_ns)
        w->stats.max_checkpoint_ns = took;
    pthread_mutex_unlock(&w->mu);
}

/* ---- the compactor thread ---- */

struct apply_call {
    struct writer *w;
    struct segment_batch *batch;
    uint64_t updates; /* committed hot-row updates when the batch's snapshot began */
    int stale, moved;
    int64_t took_ns;
};

/* In the writer thread: write the batch unless a hot row changed since its
 * snapshot (an update counted after 'updates', committed or not). */
static int apply_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    (void)db;
    struct apply_call *a = ctx;
    if (a->w->sql.hot_updates != a->updates) {
        a->stale = 1;
        return 0;
    }
    int64_t t0 = time_mono_ns();
    int rc = segment_apply(a->w->sql.segs, a->batch, &a->moved, err, errlen);
    a->took_ns = time_mono_ns() - t0;
    if (rc == 1)
        snprintf(err, errlen, "compaction: the hot rows changed while compacting");
    return rc;
}

/* Build one batch on 'ro' and hand it to the writer. 0, or -1 on failure. */
static int compact_once(struct writer *w, struct store *ro)
{
    char err[256] = "";
    struct apply_call a = {.w = w};
    pthread_mutex_lock(&w->mu);
    a.updates = w->committed_updates;
    int64_t excess = w->stats.hot_rows - w->cfg.compact_keep_hot;
    pthread_mutex_unlock(&w->mu);
    int batch = excess < w->cfg.compact_batch ? (int)excess : w->cfg.compact_batch;
    sqlite3 *db = store_db(ro);
    if (batch <= 0)
        return 0;
    int rc =
        exec(db, "BEGIN") == SQLITE_OK ? segment_build(db, batch, &a.batch, err, sizeof(err)) : -1;
    exec(db, "COMMIT");
    if (rc == 0 && a.batch)
        rc = writer_run(w, apply_fn, &a, err, sizeof(err)) == LT_OK ? 0 : -1;
    segment_batch_free(a.batch);
    pthread_mutex_lock(&w->mu);
    w->stats.compactions_stale += a.stale;
    if (rc == 0 && a.moved) {
        w->stats.compactions++;
        w->stats.rows_compacted += (uint64_t)a.moved;
        if (a.took_ns > w->stats.max_compact_ns)
            w->stats.max_compact_ns = a.took_ns;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc)
        log_msg(LOG_ERROR, "writer", "%s", *err ? err : "compaction failed");
    return rc;
}

/* ---- text blocks, packed beside the writer ---- */

struct block_call {
    struct writer *w;
    struct textblock_batch *batch; /* read by the compactor, or NULL: read here */
    int64_t moved;
};

/* The highest text id that may go into a block: indexed, and not among
 * the newest cfg.text_block_keep. */
static int64_t block_upto(sqlite3 *db, int64_t keep)
{
    int64_t newest = store_query_int(db, "SELECT coalesce(max(id), 0) FROM texts", 0);
    int64_t upto = fts_indexed_upto(db);
    return newest - keep < upto ? newest - keep : upto;
}

/* Read the next block through 'st' (its connection, its texts reader). */
static int read_block(struct writer *w, struct store *st, struct textblock_batch **out, char *err,
                      size_t errlen)
{
    sqlite3 *db = store_db(st);
    return textblock_build(db, store_texts(st), block_upto(db, w->cfg.text_block_keep), out, err,
                           errlen);
}

/* A trained block dictionary on its way to the writer. */
struct train_call {
    struct buf dict;
    int samples;
    int64_t id;
};

static int store_block_dict_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct train_call *c = ctx;
    return textblock_store_dict(db, c->dict.data, c->dict.len, c->samples, &c->id, err, errlen);
}

/* Train a block dictionary through 'st' when one is due (textblock_train)
 * and store it: 1 when one was stored, 0 when none was due, -1. In the
 * writer thread ('in_writer', 'st' the writer's store) it is stored
 * directly, else through writer_run. */
static int train_blocks(struct writer *w, struct store *st, int in_writer, char *err, size_t errlen)
{
    struct train_call c = {.samples = 0};
    buf_init(&c.dict, 0);
    int64_t t0 = time_mono_ns();
    int rc = textblock_train(store_db(st), texts_reader_block_dicts(store_texts(st)),
                             w->cfg.text_block_train_first, w->cfg.text_block_train_every, &c.dict,
                             &c.samples, err, errlen);
    if (rc == 1) {
        int stored = in_writer
                         ? store_block_dict_fn(store_db(w->st), &c, err, errlen)
                         : (writer_run(w, store_block_dict_fn, &c, err, errlen) == LT_OK ? 0 : -1);
        rc = stored == 0 ? 1 : -1;
    }
    if (rc == 1)
        log_msg(LOG_INFO, "writer",
                "trained text block dictionary %lld: %d samples, %zu bytes, %lld ms",
                (long long)c.id, c.samples, c.dict.len,
                (long long)((time_mono_ns() - t0) / 1000000));
    buf_release(&c.dict);
    return rc;
}

static int block_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct block_call *c = ctx;
    struct textblock_batch *own = NULL;
    if (!c->batch) { /* catching up in the writer: train first when due */
        if (train_blocks(c->w, c->w->st, 1, err, errlen) < 0)
            log_msg(LOG_WARN, "writer", "%s", err); /* blocks go without one */
        *err = '\0';
        if (read_block(c->w, c->w->st, &own, err, errlen) != 0)
            return -1;
    }
    const struct textblock_batch *b = c->batch ? c->batch : own;
    int rc = b ? textblock_apply(db, b, err, errlen) : 0;
    c->moved = rc == 0 ? (int64_t)textblock_batch_count(b) : 0;
    textblock_batch_free(own);
    /* give the rows' pages back (a file without auto_vacuum reuses them) */
    if (c->moved &&
        sqlite3_exec(db, "PRAGMA incremental_vacuum(256)", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc < 0 && !*err)
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
    return rc < 0 ? -1 : 0;
}

/* In the compactor thread: pack the next block on 'ro' and have the writer
 * store it. Returns the texts moved, or -1. */
static int64_t block_once(struct writer *w, struct store *ro)
{
    char err[256] = "";
    struct block_call c = {.w = w};
    int rc = exec(store_db(ro), "BEGIN") == SQLITE_OK
                 ? read_block(w, ro, &c.batch, err, sizeof(err))
                 : -1;
    exec(store_db(ro), "COMMIT");
    if (rc == 0 && c.batch)
        rc = writer_run(w, block_fn, &c, err, sizeof(err)) == LT_OK ? 0 : -1;
    textblock_batch_free(c.batch);
    if (rc)
        log_msg(LOG_ERROR, "writer", "text blocks: %s", *err ? err : "failed");
    return rc ? -1 : c.moved;
}

/* ---- packing cold text blocks again, when idle ---- */

struct repack_call {
    struct writer *w;
    struct textblock_repack *r; /* built by the compactor, or NULL: built here */
    int64_t done;               /* blocks packed cold (0: none was warm) */
};

static int repack_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct repack_call *c = ctx;
    struct textblock_repack *own = NULL;
    if (!c->r && textblock_repack_build(db, texts_reader_block_dicts(store_texts(c->w->st)), &own,
                                        err, errlen) != 0)
        return -1;
    const struct textblock_repack *r = c->r ? c->r : own;
    int rc = r ? textblock_repack_apply(db, r, err, errlen) : 0;
    c->done = r && rc >= 0; /* 1: the block changed meanwhile; the next call takes it again */
    textblock_repack_free(own);
    if (c->done && sqlite3_exec(db, "PRAGMA incremental_vacuum(64)", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc < 0 && !*err)
        snprintf(err, errlen, "text blocks: %s", sqlite3_errmsg(db));
    return rc < 0 ? -1 : 0;
}

/* In the compactor thread: pack the oldest warm block cold on 'ro' and
 * have the writer store it. Returns 1, 0 when none is warm, or -1. */
static int64_t repack_once(struct writer *w, struct store *ro)
{
    char err[256] = "";
    struct repack_call c = {.w = w};
    sqlite3 *db = store_db(ro);
    int rc = exec(db, "BEGIN") == SQLITE_OK
                 ? textblock_repack_build(db, texts_reader_block_dicts(store_texts(ro)), &c.r, err,
                                          sizeof(err))
                 : -1;
    exec(db, "COMMIT");
    if (rc == 0 && c.r)
        rc = writer_run(w, repack_fn, &c, err, sizeof(err)) == LT_OK ? 0 : -1;
    textblock_repack_free(c.r);
    if (rc)
        log_msg(LOG_ERROR, "writer", "%s", *err ? err : "text blocks: packing cold failed");
    return rc ? -1 : c.done;
}

/* ---- merging small segments, beside the writer ---- */

struct merge_call {
    struct writer *w;
    int cold;                /* a segment packed cold, not a merge */
    struct segment_merge *m; /* built by the compactor, or NULL: built here */
    size_t merged;           /* source segments replaced */
    int64_t took_ns;
};

static int merge_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct merge_call *c = ctx;
    int64_t t0 = time_mono_ns();
    struct segment_merge *own = NULL;
    if (!c->m && segment_merge_build(db, c->cold, &own, err, errlen) != 0)
        return -1;
    struct segment_merge *m = c->m ? c->m : own;
    int rc = m ? segment_merge_apply(c->w->sql.segs, m, err, errlen) : 0;
    c->merged = rc == 0 ? segment_merge_sources(m) : 0; /* 1: a source changed, try again later */
    segment_merge_free(own);
    /* give the sources' pages back (a file without auto_vacuum reuses them) */
    if (c->merged &&
        sqlite3_exec(db, "PRAGMA incremental_vacuum(1024)", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "merge: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    c->took_ns = time_mono_ns() - t0;
    return rc < 0 ? -1 : 0;
}

static void count_merged(struct writer *w, const struct merge_call *c)
{
    pthread_mutex_lock(&w->mu);
    if (c->merged && c->cold) {
        w->stats.segments_packed_cold++;
    } else if (c->merged) {
        w->stats.merges++;
        w->stats.segments_merged += c->merged;
    }
    if (c->merged && c->took_ns > w->stats.max_merge_ns)
        w->stats.max_merge_ns = c->took_ns;
    pthread_mutex_unlock(&w->mu);
}

int writer_merge_step(struct writer *w, int cold, int64_t *merged, char *err, size_t errlen)
{
    struct merge_call c = {.w = w, .cold = cold};
    int rc = writer_run(w, merge_fn, &c, err, errlen);
    *merged = rc == LT_OK ? (int64_t)c.merged : 0;
    count_merged(w, &c);
    return rc;
}

/* In the compactor thread: build the next merge (or, 'cold', the next
 * segment packed cold) on 'ro' and have the writer apply it. Returns the
 * segments replaced, or -1. */
static int64_t merge_once(struct writer *w, struct store *ro, int cold)
{
    char err[256] = "";
    struct merge_call c = {.w = w, .cold = cold};
    sqlite3 *db = store_db(ro);
    int rc = exec(db, "BEGIN") == SQLITE_OK
                 ? segment_merge_build(db, cold, &c.m, err, sizeof(err))
                 : -1;
    exec(db, "COMMIT");
    if (rc == 0 && c.m)
        rc = writer_run(w, merge_fn, &c, err, sizeof(err)) == LT_OK ? 0 : -1;
    segment_merge_free(c.m);
    count_merged(w, &c);
    if (rc)
        log_msg(LOG_ERROR, "writer", "merge: %s", *err ? err : "failed");
    return rc ? -1 : (int64_t)c.merged;
}

/* ---- the full-text index, filled beside the writer ---- */

#define INDEX_TEXTS 2000       /* texts per indexing transaction */
#define INDEX_BYTES (1u << 20) /* plain-text bytes per indexing transaction */

struct index_call {
    struct writer *w;
    struct fts_batch *batch; /* read by the compactor, or NULL: read here */
    int64_t indexed, took_ns;
};

/* In the writer thread: index the batch (reading it first when the caller
 * did not) unless someone indexed those texts meanwhile. */
static int index_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct index_call *c = ctx;
    int64_t t0 = time_mono_ns();
    struct fts_batch *own = NULL;
    if (!c->batch &&
        fts_batch_read(db, fts_indexed_upto(db), INDEX_TEXTS, INDEX_BYTES, &own, err, errlen) != 0)
        return -1;
    const struct fts_batch *b = c->batch ? c->batch : own;
    int rc = b ? fts_batch_apply(db, b, err, errlen) : 0;
    if (rc == 0)
        c->indexed = (int64_t)fts_batch_count(b);
    fts_batch_free(own);
    c->took_ns = time_mono_ns() - t0;
    return rc < 0 ? -1 : 0;
}

static void count_indexed(struct writer *w, const struct index_call *c)
{
    pthread_mutex_lock(&w->mu);
    w->stats.texts_indexed += (uint64_t)c->indexed;
    if (c->indexed && c->took_ns > w->stats.max_index_ns)
        w->stats.max_index_ns = c->took_ns;
    pthread_mutex_unlock(&w->mu);
}

int writer_index_step(struct writer *w, int64_t *indexed, char *err, size_t errlen)
{
    struct index_call c = {.w = w};
    int rc = writer_run(w, index_fn, &c, err, errlen);
    *indexed = rc == LT_OK ? c.indexed : 0;
    count_indexed(w, &c);
    return rc;
}

int writer_catch_up(struct writer *w, int64_t *moved, int64_t *indexed, char *err, size_t errlen)
{
    int64_t step = 0;
    int rc;
    *moved = *indexed = 0;
    do {
        rc = writer_compact_step(w, 0, &step, err, errlen);
        *moved += step;
    } while (rc == LT_OK && step > 0);
    while (rc == LT_OK) {
        rc = writer_index_step(w, &step, err, errlen);
        *indexed += step;
        if (step == 0)
            break;
    }
    struct block_call blocks = {.w = w, .moved = 1};
    while (rc == LT_OK && blocks.moved > 0)
        rc = writer_run(w, block_fn, &blocks, err, errlen);
    while (rc == LT_OK && (rc = writer_merge_step(w, 0, &step, err, errlen)) == LT_OK && step > 0)
        ;
    struct repack_call cold = {.w = w, .done = 1};
    while (rc == LT_OK && cold.done > 0)
        rc = writer_run(w, repack_fn, &cold, err, errlen);
    while (rc == LT_OK && (rc = writer_merge_step(w, 1, &step, err, errlen)) == LT_OK && step > 0)
        ;
    return rc;
}

/* In the compactor thread: read the next texts to index on 'ro' and have
 * the writer index them. Returns the number indexed, or -1. */
static int64_t index_once(struct writer *w, sqlite3 *ro)
{
    char err[256] = "";
    struct index_call c = {.w = w};
    int rc = exec(ro, "BEGIN") == SQLITE_OK
                 ? fts_batch_read(ro, fts_indexed_upto(ro), INDEX_TEXTS, INDEX_BYTES, &c.batch, err,
                                  sizeof(err))
                 : -1;
    exec(ro, "COMMIT");
    if (rc == 0 && c.batch)
        rc = writer_run(w, index_fn, &c, err, sizeof(err)) == LT_OK ? 0 : -1;
    fts_batch_free(c.batch);
    count_indexed(w, &c);
    if (rc)
        log_msg(LOG_ERROR, "writer", "full-text index: %s", *err ? err : "failed");
    return rc ? -1 : c.indexed;
}

/* ---- retention, beside the writer ---- */

#define RETENTION_SEGMENTS 32 /* segments dropped per transaction */
#define RETENTION_TEXTS 20000 /* texts freed per transaction */
#define VACUUM_PAGES 2048     /* pages given back per transaction */
#define RETENTION_EVERY_NS (60 * 1000000000LL)

struct retention_call {
    struct writer *w;
    int64_t now_ns;
    struct retention_report *rep;
    const struct retention_free *f;
    int64_t freelist; /* pages still free after a vacuum step */
    int64_t merged;   /* rows an index merge step changed (0 or 1: nothing left) */
};

static int retention_drop_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct retention_call *c = ctx;
    return retention_drop(db, c->w->sql.segs, c->now_ns, RETENTION_SEGMENTS, c->rep, err, errlen);
}

static int retention_free_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct retention_call *c = ctx;
    if (retention_free(db, c->f, c->rep, err, errlen) != 0)
        return -1;
    texts_rolled_back(c->w->sql.texts); /* forget ids: some are gone */
    return 0;
}

static int vacuum_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct retention_call *c = ctx;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_PAGES);
    sqlite3_stmt *st = NULL;
    c->freelist = 0;
    int rc = sqlite3_prepare_v2(db, "PRAGMA auto_vacuum", -1, &st, NULL);
    int incremental = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
                      sqlite3_column_int(st, 0) == 2; /* an older file reuses its free pages */
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK && incremental)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK && incremental &&
        (rc = sqlite3_prepare_v2(db, "PRAGMA freelist_count", -1, &st, NULL)) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        c->freelist = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "incremental vacuum: %s", sqlite3_errmsg(db));
    return rc == SQLITE_OK ? 0 : -1;
}

/* Merge the full-text index's segments, which drops the entries of freed
 * texts (a contentless index keeps them as deletions until then); 'merge'
 * with a negative budget merges across levels. */
static int fts_merge_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct retention_call *c = ctx;
    int64_t before = sqlite3_total_changes64(db);
    int rc = sqlite3_exec(db, "INSERT INTO text_fts(text_fts, rank) VALUES ('merge', -1000)", NULL,
                          NULL, NULL);
    c->merged = sqlite3_total_changes64(db) - before;
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "full-text index merge: %s", sqlite3_errmsg(db));
    return rc == SQLITE_OK ? 0 : -1;
}

/* Steps 2 and 3 until no candidate is left (each a bounded transaction). */
static int free_texts(struct writer *w, sqlite3 *ro, struct retention_call *c, char *err,
                      size_t errlen)
{
    int rc = LT_OK;
    size_t found;
    do {
        struct retention_free *f = NULL;
        int frc = exec(ro, "BEGIN") == SQLITE_OK
                      ? retention_find(ro, c->rep, RETENTION_TEXTS, &f, err, errlen)
                      : -1;
        exec(ro, "COMMIT");
        if (frc != 0) {
            if (!*err)
                snprintf(err, errlen, "retention: %s", sqlite3_errmsg(ro));
            return LT_INTERNAL;
        }
        found = retention_free_count(f);
        c->f = f;
        if (f)
            rc = writer_run(w, retention_free_fn, c, err, errlen);
        retention_free_release(f);
    } while (rc == LT_OK && found == RETENTION_TEXTS);
    return rc;
}

int writer_retention(struct writer *w, sqlite3 *ro, int64_t now_ns, int force,
                     struct retention_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    struct retention_call c = {.w = w, .now_ns = now_ns, .rep = rep};
    int rc;
    do {
        rep->more = 0;
        rc = writer_run(w, retention_drop_fn, &c, err, errlen);
    } while (rc == LT_OK && rep->more);
    if (rc == LT_OK && (force || rep->spans > 0))
        rc = free_texts(w, ro, &c, err, errlen);
    for (int i = 0; rc == LT_OK && rep->texts > 0 && i < 10000; i++) {
        rc = writer_run(w, fts_merge_fn, &c, err, errlen);
        if (c.merged <= 1)
            break;
    }
    for (int i = 0; rc == LT_OK && i < 10000; i++) { /* 10,000 x 8 MiB at most */
        rc = writer_run(w, vacuum_fn, &c, err, errlen);
        if (c.freelist == 0)
            break;
    }
    return rc;
}

struct rule_call {
    const char *project;
    int days;
};

static int rule_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct rule_call *r = ctx;
    return retention_set(db, r->project, r->days, err, errlen);
}

int writer_retention_set(struct writer *w, const char *project, int days, char *err, size_t errlen)
{
    struct rule_call r = {project, days};
    return writer_run(w, rule_fn, &r, err, errlen);
}

/* The compactor's pass, once a minute while there are rules. */
static void maybe_retention(struct writer *w, sqlite3 *ro, int64_t *next_ns)
{
    int64_t now = time_mono_ns();
    if (now < *next_ns)
        return;
    *next_ns = now + RETENTION_EVERY_NS;
    char err[256] = "";
    struct retention_rule *rules = NULL;
    size_t n = 0;
    if (retention_rules(ro, &rules, &n, err, sizeof(err)) != 0 || n == 0) {
        retention_rules_free(rules, n);
        return;
    }
    retention_rules_free(rules, n);
    struct retention_report rep;
    if (writer_retention(w, ro, time_now_ns(), 0, &rep, err, sizeof(err)) != LT_OK)
        log_msg(LOG_ERROR, "writer", "%s", *err ? err : "retention failed");
    else if (rep.spans || rep.texts)
        log_msg(LOG_INFO, "writer",
                "retention: dropped %lld segments and %lld spans, freed %lld texts",
                (long long)rep.segments, (long long)rep.spans, (long long)rep.texts);
}

/* ---- text dictionaries, trained beside the writer ---- */

#define TRAIN_SAMPLES 2000                 /* texts a dictionary is trained on */
#define TRAIN_EVERY_NS 1000000000LL        /* how often the compactor looks */
#define TRAIN_RETRY_NS (30 * 1000000000LL) /* a project with too few texts waits this long */

struct dict_call {
    const char *project;
    const struct buf *dict;
    int samples;
    int64_t id;
};

static int store_dict_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct dict_call *d = ctx;
    return texts_store_dict(db, d->project, d->dict->data, d->dict->len, d->samples, &d->id, err,
                            errlen);
}

/* Train, store and install a dictionary for 'project'. */
static void train_one(struct writer *w, sqlite3 *ro, const char *project)
{
    char err[256] = "";
    struct texts_samples sm;
    struct buf dict;
    texts_samples_init(&sm);
    buf_init(&dict, 0);
    int64_t t0 = time_mono_ns();
    int rc = texts_sample(ro, project, 4 * TRAIN_SAMPLES, TRAIN_SAMPLES, &sm, err, sizeof(err));
    if (rc == 0 && sm.n >= TEXTS_TRAIN_MIN_SAMPLES) {
        struct dict_call d = {.project = project, .dict = &dict, .samples = (int)sm.n};
        rc = texts_train(&sm, TEXTS_DICT_BYTES, &dict, err, sizeof(err)) ||
             writer_run(w, store_dict_fn, &d, err, sizeof(err)) != LT_OK ||
             texts_install_dict(writer_texts(w), project, d.id, dict.data, dict.len);
        if (rc == 0)
            log_msg(LOG_INFO, "writer",
                    "trained text dictionary %lld for '%s': %zu samples, %zu bytes, %.0f ms",
                    (long long)d.id, project, sm.n, dict.len, (time_mono_ns() - t0) / 1e6);
    }
    if (rc)
        log_msg(LOG_WARN, "writer", "no text dictionary for '%s' yet: %s", project,
                *err ? err : "cannot install it");
    texts_samples_release(&sm);
    buf_release(&dict);
}

/* A project that could not be trained yet waits before the next try. */
struct train_wait {
    char *project;
    int64_t next_ns;
};

static int train_due(struct train_wait **waits, size_t *n, const char *project, int64_t now)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*waits)[i].project, project) == 0) {
            if (now < (*waits)[i].next_ns)
                return 0;
            (*waits)[i].next_ns = now + TRAIN_RETRY_NS;
            return 1;
        }
    *waits = xrealloc(*waits, (*n + 1) * sizeof(**waits));
    (*waits)[(*n)++] = (struct train_wait){xstrdup(project), now + TRAIN_RETRY_NS};
    return 1;
}

/* Every second: a dictionary for each project, hot or compacted, that
 * has none yet (each project tried at most every TRAIN_RETRY_NS). */
static void maybe_train(struct writer *w, sqlite3 *ro, int64_t *next_ns, struct train_wait **waits,
                        size_t *nwaits)
{
    int64_t now = time_mono_ns();
    if (now < *next_ns)
        return;
    *next_ns = now + TRAIN_EVERY_NS;
    sqlite3_stmt *st = NULL;
    char *names[64];
    int n = 0;
    if (sqlite3_prepare_v2(ro,
                           "SELECT project FROM (SELECT DISTINCT project FROM span_rows) UNION"
                           " SELECT DISTINCT project FROM segments",
                           -1, &st, NULL) == SQLITE_OK)
        while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
            names[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {
        if (!texts_has_dict(writer_texts(w), names[i]) && train_due(waits, nwaits, names[i], now))
            train_one(w, ro, names[i]);
        free(names[i]);
    }
}

/* While spans flow, indexing and packing texts take at most about
 * 1 / (1 + BACKGROUND_SHARE) of the time (they run in the writer, and the
 * index catches up when ingest pauses). */
#define BACKGROUND_SHARE 3
#define INGEST_RECENT_NS 200000000LL /* a commit this recent: spans are flowing */

/* No spans committed in the last 'ns'? */
static int idle_for(struct writer *w, int64_t ns)
{
    pthread_mutex_lock(&w->mu);
    int idle = time_mono_ns() - w->last_ingest_at >= ns;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

/* Wait up to 'ns' on compact_cv (caller holds w->mu). */
static void wait_ns(struct writer *w, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_nsec + ns;
    ts.tv_sec += (time_t)(t / 1000000000LL);
    ts.tv_nsec = (long)(t % 1000000000LL);
    pthread_cond_timedwait(&w->compact_cv, &w->mu, &ts);
}

#define BLOCK_TRAIN_CHECK_NS (5 * 1000000000LL)   /* how often to ask whether one is due */
#define BLOCK_TRAIN_RETRY_NS (600 * 1000000000LL) /* after a failed training */

/* In the compactor thread: train a block dictionary on 'ro' when due. */
static void maybe_train_blocks(struct writer *w, struct store *ro, int64_t *next)
{
    int64_t now = time_mono_ns();
    if (now < *next)
        return;
    char err[256] = "";
    int rc =
        exec(store_db(ro), "BEGIN") == SQLITE_OK ? train_blocks(w, ro, 0, err, sizeof(err)) : -1;
    exec(store_db(ro), "COMMIT");
    if (rc < 0)
        log_msg(LOG_WARN, "writer", "%s", *err ? err : "text blocks: training failed");
    *next = now + (rc < 0 ? BLOCK_TRAIN_RETRY_NS : BLOCK_TRAIN_CHECK_NS);
}

static void *compactor_main(void *arg)
{
    struct writer *w = arg;
    char err[256];
    struct store *ro = NULL;
    if (store_open(&ro, store_path(w->st), STORE_READONLY, err, sizeof(err)) != STORE_OK) {
        log_msg(LOG_ERROR, "writer", "compactor: %s", err);
        return NULL;
    }
    int64_t next_train = 0, next_retention = 0, next_block_train = 0;
    struct train_wait *waits = NULL;
    size_t nwaits = 0;
    pthread_mutex_lock(&w->mu);
    while (!w->compactor_stopping) {
        pthread_mutex_unlock(&w->mu);
        maybe_train(w, store_db(ro), &next_train, &waits, &nwaits);
        maybe_retention(w, store_db(ro), &next_retention);
        pthread_mutex_lock(&w->mu);
        if (w->compactor_stopping)
            break;
        if (w->stats.hot_rows < w->cfg.compact_keep_hot + w->cfg.compact_batch) {
            pthread_mutex_unlock(&w->mu);
            int64_t t0 = time_mono_ns();
            int64_t done = index_once(w, store_db(ro));
            if (done == 0) {
                maybe_train_blocks(w, ro, &next_block_train);
                done = block_once(w, ro);
            }
            if (done == 0)
                done = merge_once(w, ro, 0);
            if (done == 0 && idle_for(w, w->cfg.text_block_cold_idle_ns)) {
                done = repack_once(w, ro); /* text blocks, then segments */
                if (done == 0)
                    done = merge_once(w, ro, 1);
            }
            int64_t took = time_mono_ns() - t0;
            pthread_mutex_lock(&w->mu);
            if (done > 0 && !w->compactor_stopping &&
                time_mono_ns() - w->last_commit_at < INGEST_RECENT_NS)
                wait_ns(w, took * BACKGROUND_SHARE); /* spans flow: yield to them */
            if (done > 0 || w->compactor_stopping)
                continue;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&w->compact_cv, &w->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        int failed = compact_once(w, ro);
        pthread_mutex_lock(&w->mu);
        if (failed && !w->compactor_stopping) { /* do not spin on a persistent failure */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&w->compact_cv, &w->mu, &ts);
        }
    }
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < nwaits; i++)
        free(waits[i].project);
    free(waits);
    store_close(ro);
    return NULL;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->work_cv, &w->mu);
        if (!w->head) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        struct item *group = take_group(w);
        pthread_mutex_unlock(&w->mu);
        commit_group(w, group);
        maybe_checkpoint(w);
    }
    return NULL;
}

int writer_start(struct writer **out, struct store *st, const struct writer_config *cfg, char *err,
                 size_t errlen)
{
    struct writer *w = xcalloc(1, sizeof(*w));
    w->st = st;
    if (cfg)
        w->cfg = *cfg;
    else
        writer_config_default(&w->cfg);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work_cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    pthread_cond_init(&w->compact_cv, NULL);
    *out = NULL;
    if (wsql_prepare(&w->sql, store_db(st), err, errlen) != 0)
        goto fail;
    if (w->cfg.checkpoint_pages <= 0)
        w->cfg.checkpoint_pages = 8000;
    sqlite3_wal_hook(store_db(st), wal_hook, w); /* replaces the autocheckpoint */
    w->healthy = 1;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        goto fail;
    }
    w->started = 1;
    w->stats.hot_rows = segindex_hot_rows(w->sql.segs);
    w->stats.segments = segindex_segments(w->sql.segs);
    if (w->cfg.compact_keep_hot >= 0) {
        if (pthread_create(&w->compactor, NULL, compactor_main, w) != 0) {
            snprintf(err, errlen, "cannot start the compactor thread");
            goto fail;
        }
        w->compactor_started = 1;
    }
    *out = w;
    return LT_OK;
fail:
    writer_stop(w);
    return LT_INTERNAL;
}

/* Enqueue 'it' and wait until it is done. */
static int submit_item(struct writer *w, struct item *it, char *err, size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    int full =
        w->queued_records > 0 && (w->queued_records + it->records > w->cfg.queue_max_records ||
                                  w->queued_bytes + it->bytes > w->cfg.queue_max_bytes);
    if (w->stopping || full) {
        w->stats.refused_full += full;
        pthread_mutex_unlock(&w->mu);
        snprintf(err, errlen,
                 w->stopping ? "the server is shutting down"
                             : "the store's write queue is full; retry shortly");
        return LT_UNAVAILABLE;
    }
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->queued_records += it->records;
    w->queued_bytes += it->bytes;
    pthread_cond_signal(&w->work_cv);
    while (!it->done)
        pthread_cond_wait(&w->done_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    if (it->status != LT_OK)
        snprintf(err, errlen, "%s", it->msg);
    return it->status;
}

int writer_submit(struct writer *w, struct ingest_batch *b, size_t bytes, char *err, size_t errlen)
{
    struct item it = {.batch = b, .records = ingest_count(b), .bytes = bytes};
    if (it.records == 0)
        return LT_OK;
    int rc = submit_item(w, &it, err, errlen);
    return rc == LT_INTERNAL ? LT_UNAVAILABLE : rc;
}

int writer_run(struct writer *w, writer_fn fn, void *ctx, char *err, size_t errlen)
{
    struct item it = {.fn = fn, .ctx = ctx, .records = 1, .bytes = 0};
    return submit_item(w, &it, err, errlen);
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    if (w->compactor_started) { /* first: it may be waiting on the writer */
        pthread_mutex_lock(&w->mu);
        w->compactor_stopping = 1;
        pthread_cond_broadcast(&w->compact_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->compactor, NULL);
    }
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = 1;
        pthread_cond_broadcast(&w->work_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    if (w->st) /* the hook points at 'w': back to SQLite's own checkpoints */
        sqlite3_wal_autocheckpoint(store_db(w->st), 1000);
    wsql_finalize(&w->sql);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_cond_destroy(&w->compact_cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

struct texts *writer_texts(struct writer *w)
{
    return w->sql.texts;
}

int writer_healthy(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    int ok = w->healthy && !w->stopping;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

const double writer_commit_bounds[WRITER_COMMIT_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    out->queued_records = w->queued_records;
    pthread_mutex_unlock(&w->mu);
}
