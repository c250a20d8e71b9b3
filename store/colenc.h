/*
 * colenc: one column of a columnar segment (DESIGN.md §5), encoded for its
 * type and compressed as one zstd frame. Layout before compression:
 *
 *     enc(1) n(varint) nulls(ceil(n/8) bytes, bit i set = row i is NULL)
 *     payload for the non-NULL rows, by 'enc':
 *       'I'  integers: zigzag varints of the delta from the previous
 *            non-NULL value (timestamps shrink to a byte or two)
 *       'J'  integers as they are, zigzag varints (counts, costs)
 *       'R'  reals: 8 bytes each, little-endian IEEE 754
 *       'F'  reals that are decimals of at most 9 digits after the point
 *            (latencies of one decimal): e (1 byte), then per value the
 *            zigzag varint of the integer m it is m / 10^e of, exactly
 *       'D'  dictionary (low-cardinality text/blob): ndict(varint), each
 *            entry len(varint)+bytes, then one varint entry index per row
 *       'S'  plain text/blob: len(varint)+bytes per row
 *       'd', 's'  the same two for BLOB columns (so a column says its type)
 *       'Y', 'X'  the same two for a TEXT column whose every value is
 *            lowercase hex of even length (trace and span ids): each
 *            value stored as its bytes, len(varint) counting bytes
 *       'v'  blobs that are each a tag byte, a count and that many varints
 *            (text refs, store/texts.h; each varint in its shortest form):
 *            per row the tag, the count, and per value v, with t the
 *            largest value of the rows before, 2(v - t) + 1 when v > t (new
 *            texts: a byte) else 2v (resent history: the same bytes again)
 *       'P'  hex text that mostly repeats another column of the same
 *            segment (a parent's span id): per row a varint, 0 followed
 *            by the value as in 'X', or zigzag(row - j) + 1 for the value
 *            of row j of that column; decoded with it (colenc_decode_ref)
 *       'W'  integers near a value of the rows just before (timestamps:
 *            a span starts and ends whole milliseconds from its trace's
 *            others): per row tag(varint) code(varint); tag 2k+1 takes
 *            the base from this column's row r-k (k = 0: base 0), tag 2k
 *            from row r-k of another INT column (k = 0: the same row, so
 *            an end is a duration); code = m << 5 | sign << 4 | e for the
 *            difference sign * m * 10^e (e < 16); decoded with that column
 *
 * The writer tries the forms that fit (dictionary and plain for text and
 * blobs, 'v' for lists, 'I' and 'J' for integers, 'P' / 'W' where asked for with
 * colenc_writer_set_ref / _window; 'F' for a REAL column whose every value
 * it spells, when smaller than 'R') and keeps the one that compresses
 * smallest.
 * Decoding checks every length and index against the bytes it has: a
 * corrupt column is an error, never a read out of bounds.
 *
 * A colenc_writer and a colenc_column are each used by one thread at a
 * time.
 */
#ifndef STORE_COLENC_H
#define STORE_COLENC_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

enum colenc_type { COLENC_INT = 1, COLENC_REAL = 2, COLENC_TEXT = 3, COLENC_BLOB = 4 };

#define COLENC_MAX_ROWS (1u << 20) /* rows in one column, writer and reader */

struct colenc_writer;
struct colenc_column;

/* A writer for a column of 'type' (caller frees with colenc_writer_free,
 * which accepts NULL). */
struct colenc_writer *colenc_writer_new(enum colenc_type type);
void colenc_writer_free(struct colenc_writer *w);

/* Append one row. A value of another type is converted to the column's
 * (as SQLite's sqlite3_value_int64 / _double / _text / _blob would);
 * NULL stays NULL. 'p' is copied. */
void colenc_put_null(struct colenc_writer *w);
void colenc_put_int(struct colenc_writer *w, int64_t v);
void colenc_put_real(struct colenc_writer *w, double v);
void colenc_put_bytes(struct colenc_writer *w, const void *p, size_t n);
void colenc_put_value(struct colenc_writer *w, sqlite3_value *v);
/* Append row 'i' of the decoded column 'c' (of the same type). */
void colenc_put_row(struct colenc_writer *w, const struct colenc_column *c, size_t i);

/* Rows appended so far. */
size_t colenc_writer_rows(const struct colenc_writer *w);

/* Let 'w' store a value as a reference to the row of 'ref' that holds it
 * ('P', when smaller). 'ref' (borrowed) must get the same rows and be
 * finished after 'w'; its column is then needed to decode 'w''s. */
void colenc_writer_set_ref(struct colenc_writer *w, const struct colenc_writer *ref);

/* Let INT writer 'w' store each value as its difference from a value of
 * the four rows before it or of 'ref' (NULL: none; borrowed, INT) up to
 * the same row ('W', when smaller). 'ref' must get the same rows and be
 * finished after 'w'; its column is then needed to decode 'w''s. */
void colenc_writer_set_window(struct colenc_writer *w, const struct colenc_writer *ref);

/* Encode the rows and compress them at zstd 'level', appending the frame
 * to 'out'; the writer is reset (empty, same type) for reuse. Returns 0,
 * or -1 when 'out' hits its ceiling or zstd fails. */
int colenc_finish(struct colenc_writer *w, int level, struct buf *out)
    __attribute__((warn_unused_result));

/* Decode a column from 'len' bytes of 'blob' (borrowed; not kept). Returns
 * 0 with *out (caller frees with colenc_column_free, accepts NULL), or -1
 * with a message in 'err' when the bytes are not a valid column or it has
 * more than COLENC_MAX_ROWS rows. */
int colenc_decode(const void *blob, size_t len, struct colenc_column **out, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
/* The same for a column written with a reference ('ref': that column,
 * decoded; NULL makes a 'P' column an error). */
int colenc_decode_ref(const void *blob, size_t len, const struct colenc_column *ref,
                      struct colenc_column **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* A zstd decompression context kept for many columns (NULL from
 * colenc_dctx_new when out of memory; colenc_dctx_free accepts NULL). One
 * thread at a time. */
struct colenc_dctx;
struct colenc_dctx *colenc_dctx_new(void);
void colenc_dctx_free(struct colenc_dctx *d);

/* colenc_decode_ref with 'dctx' (NULL: a context made for the call), keeping only
 * the rows set in 'want' (a bitmap of 'want_rows' rows, bit i%8 of byte
 * i/8, borrowed; NULL keeps all): every other row reads as NULL, its text
 * is stepped over, never copied, and the rows past the last one wanted are
 * not read at all (nor checked: colenc_decode checks every byte). A column
 * with other than 'want_rows' rows is an error. 'ref' must be decoded with
 * every row a kept row refers to. */
int colenc_decode_rows(struct colenc_dctx *dctx, const void *blob, size_t len,
                       const struct colenc_column *ref, const unsigned char *want, size_t want_rows,
                       struct colenc_column **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Which rows of the text or blob column in 'blob' hold exactly the 'n'
 * bytes of 'value' (borrowed), found without decoding the column: bit i
 * of 'rows' (a bitmap of 'nrows' rows, overwritten) is set for each, and
 * *matched counts them. Returns 0; 1 when the column is not one this can
 * match ('P', or numbers: decode it); -1 with a message when its bytes are
 * bad or it has other than 'nrows' rows. A hex column ('X', 'Y') compares
 * the bytes 'value' spells, so only lowercase hex can match there, as in
 * the decoded column. */
int colenc_match(struct colenc_dctx *dctx, const void *blob, size_t len, const void *value,
                 size_t n, unsigned char *rows, size_t nrows, size_t *matched, char *err,
                 size_t errlen) __attribute__((warn_unused_result));
void colenc_column_free(struct colenc_column *c);

/* Accessors; 'i' < colenc_rows(c) (checked with assert). */
size_t colenc_rows(const struct colenc_column *c);
enum colenc_type colenc_col_type(const struct colenc_column *c);
int colenc_is_null(const struct colenc_column *c, size_t i);
int64_t colenc_int(const struct colenc_column *c, size_t i); /* 0 for NULL */
double colenc_real(const struct colenc_column *c, size_t i); /* 0 for NULL */
/* Text or blob bytes of row i (borrowed until colenc_column_free; text is
 * NUL-terminated); NULL for a NULL row. */
const char *colenc_bytes(const struct colenc_column *c, size_t i, size_t *len);

/* Row i as the result of an SQL function or virtual-table column (copied). */
void colenc_result(const struct colenc_column *c, size_t i, sqlite3_context *ctx);

#endif
