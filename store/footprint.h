/*
 * footprint: what the stored spans would take written out plainly, for the
 * compression ratio of `llmtap stats` (DESIGN.md §5). The logical size of
 * a span is its input and output JSON as they were received (every
 * message counted in every span that sent it: dedup counts as saving) plus
 * its string fields and 8 bytes per number; JSON keys and punctuation are
 * not counted, so the ratio errs low. Reads every text's header and every
 * span's references and fields: seconds on a million spans.
 */
#ifndef STORE_FOOTPRINT_H
#define STORE_FOOTPRINT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct footprint {
    int64_t text_bytes;          /* inputs and outputs, expanded */
    int64_t field_bytes;         /* everything else */
    int64_t distinct_text_bytes; /* the texts, each once, uncompressed */
};

/* Measure the spans of 'db' (a store connection). Returns 0, or -1 with a
 * message. */
int footprint_measure(sqlite3 *db, struct footprint *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
