/*
 * segment: columnar segments of compacted spans (DESIGN.md §5, "Hot rows ->
 * columnar segments"). New spans land in the hot row table span_rows; the
 * compactor moves the oldest of them, in bounded batches, into segments:
 * one project per segment, rows sorted by start time, every stored column
 * of span_rows encoded for its type and compressed on its own
 * (store/colenc.h) in segment_cols, and zone maps in segments (project,
 * start-time range, a Bloom filter of trace ids) that let readers skip
 * segments. A compaction step is one transaction: rows leave span_rows in
 * the same commit that writes their segment, so a crash loses and doubles
 * nothing.
 *
 * A span that is compacted and then merged (a Langfuse update) is moved
 * back to the hot table first ("resurrected"): its segment row gets a
 * tombstone, which readers skip.
 *
 * struct segindex is the writer's in-memory view of every segment's zone
 * maps, for the idempotency check of new spans against compacted ones.
 * Thread-safety: a segindex belongs to the writer thread; segment_load and
 * a segment_data are used by one thread at a time.
 */
#ifndef STORE_SEGMENT_H
#define STORE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/colenc.h"

/* The stored columns of span_rows, in segment column order. */
enum segment_col {
    SC_PROJECT,
    SC_TRACE_ID,
    SC_SPAN_ID,
    SC_PARENT_SPAN_ID,
    SC_NAME,
    SC_KIND,
    SC_START_NS,
    SC_END_NS,
    SC_TTFT_MS,
    SC_QUEUE_MS,
    SC_TOOL_MS,
    SC_PROVIDER,
    SC_MODEL,
    SC_RESPONSE_MODEL,
    SC_INPUT_TOKENS,
    SC_OUTPUT_TOKENS,
    SC_CACHE_READ_TOKENS,
    SC_CACHE_WRITE_TOKENS,
    SC_CACHE_WRITE_1H_TOKENS,
    SC_REASONING_TOKENS,
    SC_COST_NUSD,
    SC_PRICE_VERSION,
    SC_STATUS,
    SC_ERROR_CODE,
    SC_ERROR_MESSAGE,
    SC_USER_ID,
    SC_SESSION_ID,
    SC_TENANT,
    SC_VERSION_SET,
    SC_PROMPT_NAME,
    SC_PROMPT_VERSION,
    SC_PROMPT_VARS,
    SC_INPUT,
    SC_OUTPUT,
    SC_PARAMS,
    SC_TAGS,
    SC_ATTRIBUTES,
    SC_SERVICE_NAME,
    SC_SERVICE_VERSION,
    SC_SERVICE_TIER,
    SC_FINISH_REASON,
    SC_REPLAY_OF,
    SC_IO_FROM_LOGS,
    SC_INGESTED_NS,
    SC_INPUT_REFS,
    SC_OUTPUT_REFS,
    SEGMENT_NCOLS
};

struct segment_colinfo {
    const char *name; /* the span_rows column */
    enum colenc_type type;
};
extern const struct segment_colinfo segment_cols[SEGMENT_NCOLS];

#define SEGMENT_MAX_ROWS 8192    /* rows per compaction step (and so per segment) */
#define SEGMENT_MERGE_ROWS 32768 /* rows of a merged segment, at most */

/* ---- writer side ---- */

struct segindex;

/* Load the zone maps of every segment through 'db' (the writer's
 * connection, borrowed). Returns 0, or -1 with a message. Free with
 * segindex_close (accepts NULL). */
int segindex_open(struct segindex **out, sqlite3 *db, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void segindex_close(struct segindex *ix);

/* Compaction in two halves, so the expensive one can run beside the
 * writer: segment_build reads up to 'max_rows' of the oldest hot rows
 * through 'db' (any connection; a read-only one holds one snapshot for the
 * whole call when the caller wraps it in BEGIN ... COMMIT) and encodes them
 * into a batch (*out NULL when there is nothing to move; caller frees with
 * segment_batch_free, accepts NULL). Returns 0, or -1 with a message. */
struct segment_batch;
int segment_build(sqlite3 *db, int max_rows, struct segment_batch **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void segment_batch_free(struct segment_batch *b);
int64_t segment_batch_rows(const struct segment_batch *b);

/* Writer, inside the open transaction: write the batch's segments and
 * delete its rows from span_rows. Returns 0 (*moved rows moved), 1 when
 * the hot rows it holds are not all there any more (nothing useful was
 * written: the caller rolls back), or -1 with a message. After 1 or -1 the
 * caller rolls back and calls segindex_reload. The writer must not have
 * updated those rows since the build's snapshot (its caller checks). */
int segment_apply(struct segindex *ix, struct segment_batch *b, int *moved, char *err,
                  size_t errlen) __attribute__((warn_unused_result));

/* Both halves on the writer's own connection, inside its open transaction. */
int segment_compact(struct segindex *ix, int max_rows, int *moved, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Is (project, trace_id, span_id) in a segment (not tombstoned)? Only
 * segments whose start-time range meets [start_lo, start_hi] are searched
 * (INT64_MIN, INT64_MAX: every segment of the project). Returns 1 with its
 * place in *seg / *row, 0 when absent, -1 with a message. */
int segindex_find(struct segindex *ix, const char *project, const char *trace_id,
                  const char *span_id, int64_t start_lo, int64_t start_hi, int64_t *seg,
                  int64_t *row, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Move row 'row' of segment 'seg' back into span_rows (and tombstone it
 * there), so a merge can update it. Returns 0, or -1 with a message. */
int segment_resurrect(struct segindex *ix, int64_t seg, int64_t row, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Retention: delete segment 'seg' whole, taking its live rows (their count
 * in *rows) out of the compacted rollups. Writer thread, in its
 * transaction. Returns 0, or -1 with a message. */
int segment_drop(struct segindex *ix, int64_t seg, int64_t *rows, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Merging. Compaction makes small segments (a step's rows of one project
 * and one UTC day: a step that crosses midnight ends one and starts one),
 * which compress worse and cost a zone-map check each; in the background
 * the small segments of one project and one UTC day (so retention still
 * drops whole days) are merged into one of up to SEGMENT_MERGE_ROWS rows,
 * sorted by start, without the rows moved back to the hot table, and
 * compressed harder. Rollups do not change: the rows stay compacted. In
 * two halves like compaction: segment_merge_build picks the next run due
 * and encodes it through 'db' (any connection; in one read transaction),
 * *out NULL when none is due; segment_merge_apply (writer, in its
 * transaction) replaces the sources with it: 0, 1 when a source was
 * dropped or changed since the build (nothing written), -1 with a message.
 * After 1 or -1 the caller rolls back and calls segindex_reload.
 *
 * Segments are written at zstd 3 by compaction and 9 by a merge. With
 * 'cold' set, segment_merge_build instead takes one segment not packed
 * cold yet (and not a small one of its project's newest day, which a merge
 * may still take) and packs it again, alone, at zstd 19 (segments.cold):
 * the writer does that when the server is idle and in `llmtap compact`,
 * as it does for text blocks. A cold segment merged later is warm again. */
struct segment_merge;
int segment_merge_build(sqlite3 *db, int cold, struct segment_merge **out, char *err,
                        size_t errlen) __attribute__((warn_unused_result));
void segment_merge_free(struct segment_merge *m); /* accepts NULL */
size_t segment_merge_sources(const struct segment_merge *m);
int segment_merge_apply(struct segindex *ix, struct segment_merge *m, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The transaction rolled back: reload the zone maps from the table. */
int segindex_reload(struct segindex *ix, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Hot rows and segments now (kept by the writer). */
int64_t segindex_hot_rows(const struct segindex *ix);
size_t segindex_segments(const struct segindex *ix);
/* The writer stored 'n' new hot rows. */
void segindex_add_hot(struct segindex *ix, int64_t n);

/* ---- reader side ---- */

struct segment_data;

/* Decode segment 'seg', the columns whose bit is set in 'colmask' (bit i =
 * enum segment_col i), through 'db'. Returns 0 with *out (caller frees with
 * segment_data_free, accepts NULL), or -1 with a message (a missing or
 * corrupt column). */
int segment_load(sqlite3 *db, int64_t seg, uint64_t colmask, struct segment_data **out, char *err,
                 size_t errlen) __attribute__((warn_unused_result));
/* Segment 'seg' with its row count and tombstones but no column yet
 * (segment_load_more and segment_match add them); as segment_load. */
int segment_open(sqlite3 *db, int64_t seg, struct segment_data **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Decode the columns of 'colmask' that 'd' does not have yet, keeping only
 * the values of the rows set in 'want' (a bitmap of segment_data_rows(d)
 * rows, bit i%8 of byte i/8, borrowed; NULL: all); the other rows of those
 * columns read as NULL, and segment_data_kept says no for them from now
 * on. A column another refers to is decoded whole. 0, or -1 with a
 * message; on failure 'd' may hold some of them. */
int segment_load_more(sqlite3 *db, struct segment_data *d, uint64_t colmask,
                      const unsigned char *want, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Clear the bits of 'rows' (a bitmap as above) whose row of the text
 * column 'col' is not exactly 'value' (NUL-terminated). The stored column
 * is matched without decoding it where its encoding allows (colenc_match),
 * else it is decoded into 'd', whole. Returns how many bits are left set,
 * or -1 with a message. */
int64_t segment_match(sqlite3 *db, struct segment_data *d, int col, const char *value,
                      unsigned char *rows, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void segment_data_free(struct segment_data *d);
size_t segment_data_rows(const struct segment_data *d);
/* Column 'col' (borrowed; NULL when it was not loaded). */
const struct colenc_column *segment_data_col(const struct segment_data *d, int col);
/* 1 when row 'row' was moved back to the hot table. */
int segment_data_deleted(const struct segment_data *d, size_t row);
/* 1 when row 'row' is neither deleted nor left out by a selection
 * (segment_load_more): its loaded columns hold its values. */
int segment_data_kept(const struct segment_data *d, size_t row);

/* Could the segment whose trace Bloom filter is 'bloom' ('n' bytes) hold
 * 'trace_id'? 0 means certainly not. */
int segment_bloom_maybe(const void *bloom, size_t n, const char *trace_id);

/* The text Bloom filter of a segment (segments.text_bloom; NULL in older
 * segments): may the segment refer to text 'id'? And the highest text id
 * it refers to (INT64_MAX when it has no filter). */
int segment_texts_maybe(const void *bloom, size_t n, int64_t id);
int64_t segment_texts_max(const void *bloom, size_t n);

#endif
