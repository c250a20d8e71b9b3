/*
 * ingest: a batch of records one request hands to the store's writer. The
 * collector's decoders fill it; the writer commits it in one group-commit
 * transaction and writes each record's 'result' before the request is
 * answered.
 *
 * Records:
 *  - spans: REC_INSERT stores the span unless (project, trace_id, span_id)
 *    exists (idempotent resend); REC_MERGE upserts, with the fields the new
 *    record has overriding the stored ones (Langfuse *-update events).
 *    'dedup_key' (optional) is an envelope id: when seen before the record is
 *    skipped and reported REC_DUPLICATE.
 *  - logmsgs: GenAI message events from OTLP logs (semconv 1.28-1.36), joined
 *    to their span by (project, trace_id, span_id) whenever both have arrived.
 *  - scores: evaluation scores sent by SDKs (Langfuse score-create).
 *
 * The batch owns everything in it; ingest_batch_release frees it all.
 * Not thread-safe; handed to the writer whole, then read back after commit.
 */
#ifndef CORE_INGEST_H
#define CORE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/span.h"

enum rec_op { REC_INSERT = 0, REC_MERGE = 1 };

enum rec_result {
    REC_PENDING = 0,
    REC_CREATED,   /* stored as a new record */
    REC_DUPLICATE, /* already stored: nothing written */
    REC_MERGED,    /* merged into an existing record */
    REC_FAILED     /* the store refused it (see the batch's error) */
};

/* Bytes owned by a record (store-encoded text, see store/textpack.h). */
struct rec_blob {
    char *data; /* owned; NULL when none */
    size_t len;
};

/* One distinct text of a span (a message of its input, or its output), as
 * the store keeps it: by content hash (store/texts.h). */
struct rec_text {
    uint8_t hash[16];
    const char *text; /* borrowed from span.input / span.output */
    size_t len;
    struct rec_blob packed; /* compressed ahead of the writer; NULL data when the
                               text looked stored already (the writer packs it
                               itself if it was not) */
    int64_t dict;           /* the dictionary 'packed' used (store/texts.h), 0: none */
    int64_t id;             /* the stored text's id when it looked stored, else 0 */
    uint64_t epoch;         /* ... valid while the store's epoch is still this */
};

struct rec_span {
    struct span span;
    enum rec_op op;
    char *dedup_key; /* owned; NULL when none */
    /* span.input / span.output cut into texts (store/texts.h), done in the
     * request thread; the writer does it when 'texts_ready' is 0 */
    struct rec_text *texts; /* owned array: input's texts, then output's */
    size_t ntexts, ninput;
    char input_shape, output_shape; /* 0 none, 'A' array of texts, 'V' one text */
    int texts_ready;
    enum rec_result result;
};

struct rec_logmsg {
    char *project; /* owned; NULL = "default" */
    char trace_id[33];
    char span_id[17];
    int64_t time_ns;
    int seq;       /* order inside its request, for equal timestamps */
    int is_output; /* 0: a prompt message (input), 1: a choice (output) */
    char *message; /* owned JSON object: {"role":..., "content":..., ...} */
    enum rec_result result;
};

struct rec_score {
    char *project; /* owned; NULL = "default" */
    char *id;      /* owned; score id (upsert key) */
    char trace_id[33];
    char span_id[17];   /* "" when the score is on the trace */
    char *session_id;   /* owned, optional */
    char *name;         /* owned */
    double value;       /* numeric value (BOOLEAN as 0/1) */
    char *string_value; /* owned, CATEGORICAL values */
    char *data_type;    /* owned: NUMERIC | BOOLEAN | CATEGORICAL */
    char *comment;      /* owned, optional */
    char *source;       /* owned: "langfuse", "api", ... */
    int64_t time_ns;
    char *dedup_key; /* owned, optional */
    enum rec_result result;
};

struct ingest_batch {
    struct rec_span *spans;
    size_t nspans, capspans;
    struct rec_logmsg *msgs;
    size_t nmsgs, capmsgs;
    struct rec_score *scores;
    size_t nscores, capscores;
};

void ingest_batch_init(struct ingest_batch *b);
void ingest_batch_release(struct ingest_batch *b);

/* Append a fresh record (initialised, op REC_INSERT) and return it; the
 * pointer is valid until the next add of the same kind. */
struct rec_span *ingest_add_span(struct ingest_batch *b);
struct rec_logmsg *ingest_add_logmsg(struct ingest_batch *b);
struct rec_score *ingest_add_score(struct ingest_batch *b);

/* Total records of every kind. */
size_t ingest_count(const struct ingest_batch *b);

const char *rec_result_name(enum rec_result r);

#endif
