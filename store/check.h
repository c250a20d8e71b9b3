/*
 * check: `llmtap check` — is the store whole? Runs through a read-only
 * connection, so it is safe while a server writes:
 *  - PRAGMA integrity_check;
 *  - every segment: every column decodes, with the row count its zone map
 *    says, and its tombstones name rows it has;
 *  - every text reference of every span (hot and compacted) names a text
 *    that exists and decodes (with its dictionary);
 *  - texts that nothing refers to are counted (retention frees them later);
 *  - every rollup view equals a recount from the spans, row by row.
 */
#ifndef STORE_CHECK_H
#define STORE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

struct check_report {
    int ok;              /* 1 when no problem was found */
    char integrity[256]; /* "ok", or SQLite's first complaint */
    int64_t segments, segments_bad, segment_rows;
    int64_t hot_spans;
    int64_t refs, texts, texts_missing, texts_bad, texts_unreferenced;
    int64_t rollup_rows_bad;
    struct buf problems; /* one line per problem found (the first 100) */
    int nproblems;       /* problems found, all of them */
};

void check_report_init(struct check_report *r);
void check_report_release(struct check_report *r);

/* Check the store open on 'db'. Returns 0 with 'r' filled (r->ok says
 * whether the store is whole), or -1 with a message when the check itself
 * could not run. */
int check_store(sqlite3 *db, struct check_report *r, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
