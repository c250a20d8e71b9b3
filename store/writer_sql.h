/*
 * writer_sql: the writer's prepared statements and the per-record writes
 * (private to store/writer.c; split out to keep each file small). Every
 * function runs in the writer thread inside an open transaction.
 */
#ifndef STORE_WRITER_SQL_H
#define STORE_WRITER_SQL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/ingest.h"
#include "core/buf.h"
#include "store/segment.h"
#include "store/texts.h"

struct writer_sql {
    sqlite3 *db;
    sqlite3_stmt *insert_span; /* INSERT OR IGNORE */
    sqlite3_stmt *upsert_span; /* INSERT ... ON CONFLICT DO UPDATE (merge) */
    sqlite3_stmt *span_exists;
    sqlite3_stmt *dedup;
    sqlite3_stmt *insert_msg;
    sqlite3_stmt *join_msgs;
    sqlite3_stmt *upsert_score;
    int has_logmsgs;              /* any log message stored: only then do new spans look for them */
    struct texts *texts;          /* the span texts, stored once */
    struct segindex *segs;        /* zone maps of the compacted spans */
    uint64_t hot_updates;         /* hot rows updated in place (merges, log joins), ever */
    struct buf in_refs, out_refs; /* the current span's refs */
};

int wsql_prepare(struct writer_sql *s, sqlite3 *db, char *err, size_t errlen);
void wsql_finalize(struct writer_sql *s);

/* Each returns 0 (and sets the record's result) or -1 with a message. */
int wsql_span(struct writer_sql *s, struct rec_span *r, int64_t now_ns, char *err, size_t errlen);
int wsql_logmsg(struct writer_sql *s, struct rec_logmsg *m, char *err, size_t errlen);
int wsql_score(struct writer_sql *s, struct rec_score *r, char *err, size_t errlen);

#endif
