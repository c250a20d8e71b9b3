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

/* May a segment whose text Bloom filter is 'bloom' ('n' bytes,
 * segments.text_bloom; NULL: none) hold a match? 0 only when some term is
 * in none of its texts. */
int search_segment_maybe(struct search *s, const void *bloom, size_t n);

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
 * around the first match in the first part that matched, and in that part
 * the latest message (so the output, judged first, wins over the prompt;
 * the newest turn over the system prompt). SQLITE_OK or an error code. */
int search_snippet(struct search *s, struct buf *out) __attribute__((warn_unused_result));

/* Figures for tests and benchmarks: texts the index named for some term,
 * and texts read (to confirm a phrase, or not indexed yet). */
struct search_stats {
    size_t hits, texts_read;
};
void search_get_stats(const struct search *s, struct search_stats *out);

/* ---- running a search: what `llmtap search` and GET /api/v1/search do ---- */

#define SEARCH_DEFAULT_LIMIT 50
#define SEARCH_MAX_LIMIT 1000

/* The query and the usual filters (NULL or 0: any). */
struct search_filter {
    const char *query;
    const char *project, *model, *provider, *status, *user, *session, *tenant, *version_set;
    int64_t from_ns, to_ns; /* start time range, inclusive */
    int limit;              /* 1..SEARCH_MAX_LIMIT; 0: SEARCH_DEFAULT_LIMIT */
};

/* One matching span, borrowed for the callback's duration. */
struct search_hit {
    const char *trace_id, *span_id, *parent_span_id, *project, *name, *kind, *model, *status;
    const char *snippet;
    int64_t start_ns;
    double latency_ms;
    double cost_usd; /* NaN: unpriced or not a priced call */
};

typedef int (*search_hit_fn)(void *ctx, const struct search_hit *h);

/* Run 'f' on 'db' (a store connection): the matching spans newest first,
 * each handed to 'fn' (non-zero from it stops the run). Returns an lt_err
 * code: LT_INVALID_INPUT for a query the user must fix (message in 'err'),
 * LT_INTERNAL when the store fails. */
int search_run(sqlite3 *db, const struct search_filter *f, search_hit_fn fn, void *ctx, char *err,
               size_t errlen) __attribute__((warn_unused_result));

/* A hit as a JSON object (trace_id, span_id, parent_span_id, project, name,
 * kind, model, status, start_ns, start (ISO), latency_ms, cost_usd,
 * snippet), appended to 'out'. 0, or -1 at its ceiling. */
int search_hit_json(const struct search_hit *h, struct buf *out)
    __attribute__((warn_unused_result));

#endif
