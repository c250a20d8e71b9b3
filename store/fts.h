/*
 * fts: full-text search over the stored texts (DESIGN.md §5, "FTS5 over
 * distinct texts"). Every distinct text (store/texts.h) is indexed once, in
 * the contentless FTS5 table text_fts (rowid = text id, detail=none: no
 * positions, so the index stays small); phrases are confirmed on the
 * decoded text. A span matches when its texts hold every term of the query.
 *
 * What is indexed: the string values of the text's JSON (message content,
 * tool arguments, outputs), not its keys nor the values of "role", "type",
 * "id" and "tool_call_id".
 *
 * Tokenizer "llmtap": unicode61 (case and diacritics folded) for most
 * scripts; runs of Chinese, Japanese and Korean characters, which have no
 * spaces between words, are cut into overlapping bigrams, plus the run's
 * last character alone, so any substring of one or more characters is
 * findable (one character by prefix).
 *
 * Indexing runs beside ingest: the compactor thread reads the texts past
 * the watermark (meta 'fts_upto') with fts_batch_read and the writer
 * indexes them in one short transaction with fts_batch_apply. Texts past
 * the watermark are matched by reading them (fts_text_match), so search is
 * exact at any time.
 *
 * Query syntax (fts_query_parse): words and "quoted phrases", all of which
 * must occur; case-insensitive. Nothing the user types reaches FTS5 as
 * syntax: the query is cut into tokens here and each token is quoted.
 *
 * Thread-safety: a struct fts_tok and a struct fts_query belong to one
 * thread at a time.
 */
#ifndef STORE_FTS_H
#define STORE_FTS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

#define FTS_MAX_TERMS 16       /* terms of a query */
#define FTS_MAX_TERM_TOKENS 64 /* tokens of one phrase */
#define FTS_MAX_QUERY 4096     /* bytes of a query */

/* Register the "llmtap" tokenizer on 'db' (every connection that reads or
 * writes text_fts needs it). Returns SQLITE_OK or an error code. */
int fts_register(sqlite3 *db);

/* The tokenizer, for C code: created from 'db''s FTS5 (fts_register must
 * have run on it). NULL when FTS5 is missing. Free with fts_tok_free. */
struct fts_tok;
struct fts_tok *fts_tok_new(sqlite3 *db);
void fts_tok_free(struct fts_tok *t);

/* The searchable text of stored text 'json' ('n' bytes): its string values,
 * unescaped, one per line (see above). A text that is not JSON is taken as
 * is. Appends to 'out'; returns 0 or -1 when 'out' hit its ceiling. */
int fts_plain(const char *json, size_t n, struct buf *out) __attribute__((warn_unused_result));

/* A parsed query. */
struct fts_query;

/* Parse 'q'. Returns 0, or -1 with a message for the user in 'err' (no
 * words, too long, too many terms). Free with fts_query_free. */
int fts_query_parse(struct fts_tok *t, const char *q, struct fts_query **out, char *err,
                    size_t errlen) __attribute__((warn_unused_result));
void fts_query_free(struct fts_query *q);

/* Number of terms, and the FTS5 MATCH expression of term 'i' (the AND of
 * its tokens, each quoted): the texts it returns may hold the term; a
 * phrase still needs fts_text_match. */
int fts_query_terms(const struct fts_query *q);
const char *fts_query_match(const struct fts_query *q, int i);
/* 1 when term 'i' is one token, so an FTS5 hit is a match as it is. */
int fts_query_exact(const struct fts_query *q, int i);

/* Which terms of 'q' the plain text 'p' ('n' bytes, from fts_plain) holds:
 * bit i for term i. '*at' and '*len' get the byte range of the first
 * match of the lowest term found (for a snippet). */
uint32_t fts_text_match(struct fts_tok *t, const struct fts_query *q, const char *p, size_t n,
                        size_t *at, size_t *len);

/* A snippet of plain text 'p' around [at, at + len): about 'width' bytes,
 * cut at UTF-8 boundaries and spaces, "…" where text was cut, newlines as
 * spaces. Appends to 'out'; 0, or -1 at its ceiling. */
int fts_snippet(const char *p, size_t n, size_t at, size_t len, size_t width, struct buf *out)
    __attribute__((warn_unused_result));

/* ---- indexing ---- */

/* Texts read for the index: their ids and plain text. */
struct fts_batch;

/* The highest text id indexed, from 'db' (any connection). */
int64_t fts_indexed_upto(sqlite3 *db);

/* Read the texts after 'after' (at most 'max_texts', and stop after about
 * 'max_bytes' of plain text) through 'db' (the compactor's connection).
 * *out is NULL when there are none. Returns 0, or -1 with a message. */
int fts_batch_read(sqlite3 *db, int64_t after, int max_texts, size_t max_bytes,
                   struct fts_batch **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void fts_batch_free(struct fts_batch *b);
/* Texts in the batch. */
size_t fts_batch_count(const struct fts_batch *b);

/* Writer thread, in its transaction: index the batch and move the
 * watermark, unless the watermark moved since the batch was read (then 1,
 * nothing written). Returns 0, 1, or -1 with a message. */
int fts_batch_apply(sqlite3 *db, const struct fts_batch *b, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writer thread: take text 'id', whose plain text is 'p', out of the index
 * (for texts being deleted). No-op above the watermark. Returns SQLITE_OK
 * or an error code. */
int fts_unindex(sqlite3 *db, int64_t id, const char *p, size_t n);

#endif
