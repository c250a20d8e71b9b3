/*
 * search: does a span match a full-text query? (DESIGN.md §5; the `spans`
 * table's hidden column `search` runs it: `WHERE search = 'query'`.)
 *
 * A search parses the query (store/fts.h), asks text_fts once per term for
 * the texts that may hold it, and then judges spans by their text ids: a
 * span matches when, among all its texts (input and output), every term is
 * found. A text is read only to confirm a phrase, for texts not indexed
 * yet, and for the snippet; what a text holds is remembered for the rest
 * of the search, so a system prompt shared by a million spans is judged
 * once.
 *
 * Thread-safety: a search belongs to one connection's thread.
 */
#ifndef STORE_SEARCH_H
#define STORE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "store/texts.h"

struct search;

/* Start a search for 'query' on 'db' through 'rd' (both borrowed; they
 * must outlive the search). Returns SQLITE_OK, or an error code with a
 * message for the user in 'err' (the query has no words, is too long, ...:
 * SQLITE_ERROR; the index cannot be read: another code). */
int search_new(struct search **out, sqlite3 *db, struct texts_reader *rd, const char *query,
               char *err, size_t errlen) __attribute__((warn_unused_result));
void search_free(struct search *s);

/* Judge one span: begin, then each of its parts (a refs blob, or a text
 * stored whole in older rows), then end: 1 when it matches, 0 when not,
 * or an SQLite error code (negative) when a text does not decode. */
void search_row_begin(struct search *s);
int search_row_refs(struct search *s, const void *refs, size_t n)
    __attribute__((warn_unused_result));
int search_row_text(struct search *s, const char *json, size_t n)
    __attribute__((warn_unused_result));
int search_row_end(struct search *s);

/* The snippet of the last span that matched, appended to 'out': the text
 * around the first match. Returns SQLITE_OK or an error code. */
int search_snippet(struct search *s, struct buf *out) __attribute__((warn_unused_result));

/* Figures for tests and benchmarks: texts the index named for some term,
 * and texts read (to confirm a phrase, or not indexed yet). */
struct search_stats {
    size_t hits, texts_read;
};
void search_get_stats(const struct search *s, struct search_stats *out);

#endif
