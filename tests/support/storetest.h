/*
 * storetest: helpers the store suites share. Both assert with Check, so
 * they are called from inside a test.
 */
#ifndef TESTS_SUPPORT_STORETEST_H
#define TESTS_SUPPORT_STORETEST_H

#include <stdint.h>

#include "store/writer.h"

/* The first column of the first row of 'sql', read through a fresh
 * read-only store on 'db' (fails the test when it does not run or returns
 * no row). */
long long tu_ro_int(const char *db, const char *sql);

/* Generate 'n' spans with spangen 'seed' and commit them through the
 * pipeline (no price table) into 'w', 'per_request' spans to a request,
 * as trusted loopback traffic. Adds to *created and *dups (either may be
 * NULL) the spans stored and the ones found stored already. */
void tu_ingest_spangen(struct writer *w, int n, uint64_t seed, int per_request, int *created,
                       int *dups);

/* The same, the first request starting at 'start_ns'. */
void tu_ingest_spangen_at(struct writer *w, int n, uint64_t seed, int per_request, int64_t start_ns,
                          int *created, int *dups);

/* Commit native NDJSON spans through the pipeline into 'w' (loopback,
 * project "default" unless a span names its own). */
void tu_ingest_json(struct writer *w, const char *ndjson);

/* A fresh read-write store "NAME" in its own temp dir, with a writer
 * started with 'cfg' (NULL: the default, compaction steps left to the
 * test). tu_store_close stops the writer, closes and removes the dir. */
struct tu_store {
    char *dir, *db;
    struct store *st;
    struct writer *w;
};
void tu_store_open(struct tu_store *s, const char *name, const struct writer_config *cfg);
void tu_store_close(struct tu_store *s);

/* `llmtap check` on 'db' finds the store whole: no problem, no text
 * missing or unreferenced, every rollup equal to a recount. */
void tu_expect_whole_store(const char *db);

#endif
