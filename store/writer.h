/*
 * writer: the one thread that writes the database (DESIGN.md §5). Request
 * threads submit batches into a bounded queue and block; the writer takes
 * everything queued (up to a transaction cap), writes it in one
 * transaction, commits (synchronous=FULL: the WAL is fsynced), and only then
 * wakes the submitters. So a 2xx after writer_submit means durable, and many
 * requests share one fsync (group commit).
 *
 * A full queue refuses at once (LT_UNAVAILABLE; the HTTP layer answers 503 +
 * Retry-After) instead of growing without bound. A failed commit fails every
 * request in the group (nothing acknowledged, nothing half-written); one bad
 * record fails alone (savepoint per request).
 *
 * Beside the writer, a compactor thread (unless cfg.compact_keep_hot < 0)
 * keeps the hot rows few: it encodes the oldest into columnar segments on a read-only
 * connection and the writer applies them in one short transaction
 * (store/segment.h); it also trains each project's text dictionary and,
 * when there is nothing to compact, feeds new texts to the full-text index
 * (store/fts.h) and packs older texts into blocks (store/textblock.h) in
 * short writer transactions, and applies the retention
 * rules once a minute (store/retention.h). The
 * writer checkpoints the WAL itself (cfg.checkpoint_pages), after answering
 * the group that grew it.
 *
 * Thread-safety: writer_submit / writer_run / writer_get_stats may be called
 * from any number of threads; writer_start / writer_stop from one.
 */
#ifndef STORE_WRITER_H
#define STORE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/ingest.h"
#include "store/store.h"
#include "store/texts.h"

struct writer;

struct writer_config {
    size_t queue_max_records; /* records waiting, all requests together */
    size_t queue_max_bytes;   /* approximate bytes waiting */
    size_t txn_max_records;   /* records per transaction (one group commit) */
    /* Compaction (store/segment.h): when more than compact_keep_hot +
     * compact_batch rows are hot, the compactor thread encodes the oldest
     * compact_batch of them on its own read-only connection and the writer
     * applies them in one short transaction. compact_keep_hot < 0 turns the
     * thread off (writer_compact_step still works). */
    int64_t compact_keep_hot;
    int compact_batch;
    /* The writer checkpoints the WAL itself, once it holds this many pages
     * and after it has answered the group that grew it (so no request waits
     * for a checkpoint it did not need). */
    int checkpoint_pages;
    /* The newest this many texts stay rows of their own; older ones, once
     * indexed, are packed into blocks (store/textblock.h). */
    int64_t text_block_keep;
    /* Raw bytes in blocks before their first dictionary is trained, and
     * packed with the newest before the next (textblock_train). */
    uint64_t text_block_train_first, text_block_train_every;
    /* No spans for this long: the compactor packs text blocks, then
     * segments, cold, one at a time (textblock_repack_build,
     * segment_merge_build; `llmtap compact` packs all of them). */
    int64_t text_block_cold_idle_ns;
};

/* Upper bounds (seconds) of the commit-time histogram's buckets; one more
 * bucket past the last counts the rest (Prometheus's le="+Inf"). */
#define WRITER_COMMIT_BUCKETS 12
extern const double writer_commit_bounds[WRITER_COMMIT_BUCKETS];

struct writer_stats {
    uint64_t commits;
    /* Every transaction's wall time (failed ones too): counts per bucket of
     * writer_commit_bounds (not cumulative; the last is the overflow), and
     * their sum. */
    uint64_t commit_hist[WRITER_COMMIT_BUCKETS + 1];
    int64_t commit_ns_sum;
    uint64_t spans_created, spans_duplicate, spans_merged;
    uint64_t logmsgs, scores;
    uint64_t refused_full; /* submits refused because the queue was full */
    uint64_t failed_commits;
    int64_t last_commit_ns, max_commit_ns; /* wall time of a transaction */
    size_t queued_records;
    uint64_t compactions, rows_compacted;
    int64_t max_compact_ns;     /* the longest compaction step in the writer: ingest's stall */
    uint64_t compactions_stale; /* batches built, then dropped: their rows changed meanwhile */
    uint64_t checkpoints;
    uint64_t wal_frames; /* pages written to the WAL */
    int64_t max_checkpoint_ns;
    int64_t hot_rows;
    size_t segments;
    uint64_t texts_indexed;           /* texts added to the full-text index */
    int64_t max_index_ns;             /* the longest indexing step in the writer */
    uint64_t merges, segments_merged; /* runs of small segments merged, and their segments */
    int64_t max_merge_ns;             /* the longest merge (or cold repack) step in the writer */
    uint64_t segments_packed_cold;    /* segments packed again at zstd 19, when idle */
};

void writer_config_default(struct writer_config *cfg);

/* Start the writer thread over the read-write store 'st' (borrowed; it must
 * outlive the writer). Returns LT_OK or LT_INTERNAL with a message. */
int writer_start(struct writer **out, struct store *st, const struct writer_config *cfg, char *err,
                 size_t errlen) __attribute__((warn_unused_result));

/* Queue 'b' (borrowed; the caller keeps ownership and reads each record's
 * result afterwards) and wait for its commit. 'bytes' approximates its size.
 * Returns LT_OK, or LT_UNAVAILABLE (queue full, writer stopping, or the
 * commit failed) with a message in 'err'. */
int writer_submit(struct writer *w, struct ingest_batch *b, size_t bytes, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Run 'fn' on the writer's connection, in the writer thread, inside its own
 * savepoint of the next transaction; wait for the commit. 'fn' returns 0 to
 * keep its writes, non-zero to roll them back (its message in 'err'). */
typedef int (*writer_fn)(sqlite3 *db, void *ctx, char *err, size_t errlen);
int writer_run(struct writer *w, writer_fn fn, void *ctx, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* In the writer thread: one compaction step that leaves at least
 * 'keep_hot' rows hot; *moved says how many rows moved (0: nothing left to
 * move). For `llmtap compact`, which calls it until nothing moves. */
int writer_compact_step(struct writer *w, int64_t keep_hot, int64_t *moved, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* Writer thread: merge the next run of small segments due, or ('cold')
 * pack the next segment cold (segment_merge_build); *merged is the
 * segments it replaced (0: none was due). LT_OK or an error. */
int writer_merge_step(struct writer *w, int cold, int64_t *merged, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* In the writer thread: index the next texts not in the full-text index
 * yet (store/fts.h); *indexed says how many (0: the index is complete). The
 * compactor thread does this in the background; `llmtap compact` calls it
 * until nothing is left. */
int writer_index_step(struct writer *w, int64_t *indexed, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Do now what the compactor thread does over time: compact every hot row,
 * index every text, pack older texts into blocks (store/textblock.h),
 * merge small segments and pack blocks and segments cold, in bounded steps
 * (`llmtap compact`). Counts in
 * *moved and *indexed. Returns LT_OK or the first step's error. */
int writer_catch_up(struct writer *w, int64_t *moved, int64_t *indexed, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Apply the retention rules now (store/retention.h): drop what is too old,
 * then free the texts nothing refers to (always when 'force', else only
 * when something was dropped) and give freed pages back; 'ro' is a read
 * connection of the caller's. The compactor thread does this once a
 * minute. Returns LT_OK or the first step's error. */
struct retention_report;
int writer_retention(struct writer *w, sqlite3 *ro, int64_t now_ns, int force,
                     struct retention_report *rep, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Set (days > 0) or remove (0) the retention rule of 'project' (takes
 * effect at the next pass). Returns LT_OK or an error. */
int writer_retention_set(struct writer *w, const char *project, int days, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Drain the queue, commit, stop and join the thread; accepts NULL. */
void writer_stop(struct writer *w);

/* The text store the writer fills (borrowed; valid until writer_stop), for
 * request threads to prepare records with texts_prepare. */
struct texts *writer_texts(struct writer *w);

/* 1 while the thread runs and its last commit did not fail. */
int writer_healthy(struct writer *w);
void writer_get_stats(struct writer *w, struct writer_stats *out);

#endif
