/*
 * segbody: every column frame of one segment in one blob (schema v23,
 * table segment_body(segment_id INTEGER PRIMARY KEY, body BLOB)).
 *
 * One blob per segment instead of one row per column: SQLite keeps the
 * first part of a large blob on a b-tree leaf page and the rest on overflow
 * pages, and a leaf page holding a few such parts of random sizes was a
 * third empty (1.76 MB of 42.8 on the 1M-span bench). A segment's columns
 * are read through an incremental blob handle, so a query still reads only
 * the bytes of the columns it uses.
 *
 * Layout: 'B', ncols (varint), ncols frame lengths (varints), the frames
 * back to back in column order. A length of 0 is a missing column.
 *
 * SQL functions (registered on every connection store_open makes, before
 * its migrations, which use the first):
 *   llmtap_segment_pack(col, frame)          aggregate: the body of the frames
 *   llmtap_segment_frame(body, col)          the frame of column col, or NULL
 *   llmtap_segment_set_frame(body, col, f)   the body with that frame replaced
 *
 * A segbody_reader is used by one thread at a time.
 */
#ifndef STORE_SEGBODY_H
#define STORE_SEGBODY_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

#define SEGBODY_MAX_COLS 64

/* Append to 'out' the body of 'ncols' frames (frames[c], lens[c] bytes;
 * NULL / 0 for a missing one). 0, or -1 when 'out' cannot grow. */
int segbody_build(const void *const *frames, const size_t *lens, int ncols, struct buf *out)
    __attribute__((warn_unused_result));

/* Where column 'col' lies in the 'n' bytes of body 'p' (a prefix of a body
 * of 'total' bytes is enough when it holds the directory): *off and *len.
 * 0; 1 when the body has no such column; -1 with a message when its
 * directory is bad. */
int segbody_locate(const void *p, size_t n, size_t total, int col, size_t *off, size_t *len,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* Reads the frames of one segment's body. */
struct segbody_reader;

/* A reader of segment 'seg' through 'db' (a file older than schema v23 is
 * read from segment_cols). Returns 0 with *out (segbody_reader_free, which
 * accepts NULL), or -1 with a message. */
int segbody_open(sqlite3 *db, int64_t seg, struct segbody_reader **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The frame of column 'col' (borrowed until the next call or the free):
 * 0 with *p and *n; 1 when the segment has no such column; -1 with a
 * message. */
int segbody_frame(struct segbody_reader *r, int col, const void **p, size_t *n, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
void segbody_reader_free(struct segbody_reader *r);

/* Register the llmtap_segment_* SQL functions on 'db'. */
int segbody_register(sqlite3 *db);

#endif
