/*
 * textblock: older texts packed together (DESIGN.md §5, "Text is
 * deduplicated"). One zstd frame per text compresses poorly when texts are a
 * few hundred bytes; so once texts are indexed for search and out of the
 * newest TEXTBLOCK_KEEP, the compactor moves runs of them (by id, about
 * TEXTBLOCK_RAW bytes) into one row of text_blocks, compressed whole, and
 * deletes their rows from texts. Ids do not change, so nothing that refers
 * to a text changes; every block holds lower ids than any row of texts.
 *
 *     text_blocks(id = first text id, last_id, count, dict, raw_len, body)
 *     body := zstd( count (id - previous id, len)... texts... )
 *                   (varints; the first "previous id" is id - 1)
 *
 * A block is compressed with the newest dictionary of text_block_dicts
 * (dict = its id; 0: none). The first one is trained once blocks without
 * one hold TEXTBLOCK_TRAIN_FIRST raw bytes, and a new one each time the
 * newest has packed TEXTBLOCK_TRAIN_EVERY; a block keeps the dictionary
 * it was packed with. Texts of one store share their boilerplate (system
 * prompts, message framing, the phrases of an app's answers), so a block
 * of a megabyte with a dictionary compresses nearly as well as the whole
 * history at zstd -19 (docs/BENCHMARKS.md). `llmtap compact` packs every
 * text that fills a block, the newest kept back (new ids are max(id) + 1).
 *
 * Thread-safety: a textblock_view, a batch and a textblock_dicts belong to
 * one thread.
 */
#ifndef STORE_TEXTBLOCK_H
#define STORE_TEXTBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

#define TEXTBLOCK_RAW (1024u << 10)         /* raw bytes a block aims at */
#define TEXTBLOCK_KEEP 50000                /* the newest texts stay rows of their own */
#define TEXTBLOCK_LEVEL 12                  /* ~40 MB/s with a dictionary, beside ingest */
#define TEXTBLOCK_COLD_LEVEL 19             /* ~2.5 MB/s, ~10 % fewer bytes: when idle */
#define TEXTBLOCK_DICT_MAX (1u << 20)       /* bytes of a block dictionary */
#define TEXTBLOCK_TRAIN_SAMPLES (32u << 20) /* bytes of text it is trained on */
#define TEXTBLOCK_TRAIN_FIRST (32ull << 20) /* see above */
#define TEXTBLOCK_TRAIN_EVERY (1024ull << 20)

/* A decoded block. */
struct textblock_view {
    int64_t first, last;
    struct buf raw; /* the texts end to end */
    int64_t *ids;
    size_t *ends; /* end offset in 'raw' of text i */
    size_t n, cap;
};

void textblock_view_init(struct textblock_view *v);
void textblock_view_release(struct textblock_view *v);

/* The block dictionaries of one connection, loaded as they are needed
 * (rows of text_block_dicts never change, so they are kept until freed).
 * 'db' is borrowed and must outlive the cache. NULL when zstd cannot
 * start. */
struct textblock_dicts;
struct textblock_dicts *textblock_dicts_open(sqlite3 *db);
void textblock_dicts_free(struct textblock_dicts *d); /* accepts NULL */
/* The id of the newest dictionary, 0 when there is none (or on error). */
int64_t textblock_dicts_newest(struct textblock_dicts *d);

/* Decode the 'n'-byte 'body' of block 'first', packed with dictionary
 * 'dict' of 'd' (0: none; 'd' may then be NULL), into 'v' (replacing what
 * it held). 0, or -1 when it does not decode or the dictionary is
 * missing. */
int textblock_decode(struct textblock_dicts *d, int64_t dict, const void *body, size_t n,
                     int64_t first, struct textblock_view *v) __attribute__((warn_unused_result));

/* Text 'id' of 'v': 1 with *p and *len set, 0 when the block lacks it. */
int textblock_get(const struct textblock_view *v, int64_t id, const char **p, size_t *len);

/* Encode texts 0..n-1 of 'v' (ascending ids) as a block body packed with
 * dictionary 'dict' of 'd' (0: none), appended to 'out'. 0, or -1 when
 * zstd fails or the dictionary is missing. */
int textblock_encode(struct textblock_dicts *d, int64_t dict, const struct textblock_view *v,
                     struct buf *out) __attribute__((warn_unused_result));

/* Append text 'id' (bytes 'p', 'len') to 'v'; ids must ascend. */
void textblock_push(struct textblock_view *v, int64_t id, const char *p, size_t len);

/* ---- moving texts into blocks ---- */

struct textblock_batch;
struct texts_reader;

/* Read through 'db' (the compactor's connection, in a read transaction) the
 * oldest text rows, up to id 'upto', into one block of about TEXTBLOCK_RAW
 * bytes, packed with the newest dictionary ('rd''s cache, which must be
 * on 'db'). *out is NULL when fewer than that are waiting. 0, or -1. */
int textblock_build(sqlite3 *db, struct texts_reader *rd, int64_t upto,
                    struct textblock_batch **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void textblock_batch_free(struct textblock_batch *b);
/* Texts in the batch. */
size_t textblock_batch_count(const struct textblock_batch *b);

/* Writer thread: store the block and delete its texts' rows, unless some
 * row changed since it was read (then 1, nothing written). 0, 1, or -1. */
int textblock_apply(sqlite3 *db, const struct textblock_batch *b, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writer thread: take the texts 'ids' (ascending, 'n') out of the blocks
 * that hold them (a block left empty is deleted); found[i] = 1 for each
 * one that was there. 0, or -1 with a message. */
int textblock_remove(sqlite3 *db, const int64_t *ids, size_t n, uint8_t *found, char *err,
                     size_t errlen) __attribute__((warn_unused_result));

/* Every block of 'db' with texts above 'after', in id order, decoded with
 * 'd' (a cache on 'db'): 'fn' gets each text (id, bytes); non-zero from it
 * stops (and is returned; -1: a block does not decode). */
typedef int (*textblock_fn)(void *ctx, int64_t id, const char *p, size_t len);
int textblock_each(sqlite3 *db, struct textblock_dicts *d, int64_t after, textblock_fn fn,
                   void *ctx);

/* ---- packing cold blocks again ----
 *
 * Blocks are packed at TEXTBLOCK_LEVEL beside ingest. When the server is
 * idle (and in `llmtap compact`) each is packed once more, at
 * TEXTBLOCK_COLD_LEVEL with the dictionary it has, and marked cold
 * (text_blocks.cold); a block rewritten later (retention) is warm again.
 * In two halves like the packing: textblock_repack_build reads the oldest
 * warm block through 'db' (any connection; 'd' a cache on it) and packs it
 * (*out NULL when every block is cold); textblock_repack_apply (writer)
 * stores it unless the block changed since: 0, 1 (nothing written), -1. */
struct textblock_repack;
int textblock_repack_build(sqlite3 *db, struct textblock_dicts *d, struct textblock_repack **out,
                           char *err, size_t errlen) __attribute__((warn_unused_result));
int textblock_repack_apply(sqlite3 *db, const struct textblock_repack *r, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Bytes the cold body saves. */
size_t textblock_repack_saved(const struct textblock_repack *r);
void textblock_repack_free(struct textblock_repack *r); /* accepts NULL */

/* ---- dictionaries ---- */

/* When a dictionary is due (blocks packed with the newest one, or with
 * none, hold 'every' raw bytes, or 'first' when there is none), train one
 * of at most TEXTBLOCK_DICT_MAX bytes on the texts of the newest blocks (up
 * to TEXTBLOCK_TRAIN_SAMPLES bytes), read through 'db' with 'd', and append
 * it to 'out': 1, with *samples the texts it learnt from; 0 when none is
 * due; -1 with a message (zstd could not train on what there is). */
int textblock_train(sqlite3 *db, struct textblock_dicts *d, uint64_t first, uint64_t every,
                    struct buf *out, int *samples, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writer thread: store dictionary 'dict' ('n' bytes) as the newest; its id
 * in *id. 0, or -1 with a message. */
int textblock_store_dict(sqlite3 *db, const void *dict, size_t n, int samples, int64_t *id,
                         char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
