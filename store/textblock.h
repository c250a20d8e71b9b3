/*
 * textblock: older texts packed together (DESIGN.md §5, "Text is
 * deduplicated"). One zstd frame per text compresses poorly when texts are a
 * few hundred bytes; so once texts are indexed for search and out of the
 * newest TEXTBLOCK_KEEP, the compactor moves runs of them (by id, about
 * TEXTBLOCK_RAW bytes) into one row of text_blocks, compressed whole, and
 * deletes their rows from texts. Ids do not change, so nothing that refers
 * to a text changes; every block holds lower ids than any row of texts.
 *
 *     text_blocks(id = first text id, last_id, count, body)
 *     body := zstd( count (id - previous id, len)... texts... )
 *                   (varints; the first "previous id" is id - 1)
 *
 * Thread-safety: a textblock_view and a batch belong to one thread.
 */
#ifndef STORE_TEXTBLOCK_H
#define STORE_TEXTBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

#define TEXTBLOCK_RAW (256u << 10) /* raw bytes a block aims at */
#define TEXTBLOCK_KEEP 50000       /* the newest texts stay rows of their own */
#define TEXTBLOCK_LEVEL 3

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

/* Decode the 'n'-byte 'body' of block 'first' into 'v' (replacing what it
 * held). 0, or -1 when it does not decode. */
int textblock_decode(const void *body, size_t n, int64_t first, struct textblock_view *v)
    __attribute__((warn_unused_result));

/* Text 'id' of 'v': 1 with *p and *len set, 0 when the block lacks it. */
int textblock_get(const struct textblock_view *v, int64_t id, const char **p, size_t *len);

/* Encode texts 0..n-1 of 'v' (ascending ids) as a block body, appended to
 * 'out'. 0, or -1 when zstd fails. */
int textblock_encode(const struct textblock_view *v, struct buf *out)
    __attribute__((warn_unused_result));

/* Append text 'id' (bytes 'p', 'len') to 'v'; ids must ascend. */
void textblock_push(struct textblock_view *v, int64_t id, const char *p, size_t len);

/* ---- moving texts into blocks ---- */

struct textblock_batch;
struct texts_reader;

/* Read through 'db' (the compactor's connection, in a read transaction) the
 * oldest text rows, up to id 'upto', into one block of about TEXTBLOCK_RAW
 * bytes. *out is NULL when fewer than that are waiting. 0, or -1. */
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

/* Every block of 'db' with texts above 'after', in id order: 'fn' gets each
 * text (id, bytes); non-zero from it stops (and is returned). */
typedef int (*textblock_fn)(void *ctx, int64_t id, const char *p, size_t len);
int textblock_each(sqlite3 *db, int64_t after, textblock_fn fn, void *ctx);

#endif
