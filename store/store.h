/*
 * store: the one SQLite file (DESIGN.md §5). A store handle is either the
 * read-write store (exactly one per database, held by the writer's owner:
 * `llmtap serve`, or a CLI command when no server runs) or a read-only one
 * (every reader). The read-write open takes an exclusive lock on
 * "<db>.lock" so a second writer process is refused, applies schema
 * migrations (PRAGMA user_version), and sets WAL + synchronous=FULL.
 *
 * SQLite 3.40.1 carries the WAL-reset bug that needs two connections writing
 * or checkpointing at once; the rule that keeps us clear of it is exactly one
 * read-write connection (this one), used only by the writer thread.
 *
 * Thread-safety: a handle is used by one thread at a time.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct store;
struct texts_reader;

enum store_mode { STORE_READONLY = 0, STORE_READWRITE = 1 };

enum store_result {
    STORE_OK = 0,
    STORE_ERR_OPEN,   /* cannot open or create the file */
    STORE_ERR_LOCKED, /* another process holds the write lock */
    STORE_ERR_SCHEMA, /* migration failed, or the file is newer than this binary */
    STORE_ERR_SQL,    /* any other SQLite failure */
};

/* The schema version this binary writes. */
#define STORE_SCHEMA_VERSION 25

/* Open 'path'. On failure returns a store_result and a message in 'err';
 * *out is NULL. Caller closes with store_close. */
int store_open(struct store **out, const char *path, enum store_mode mode, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Close; accepts NULL. The read-write close checkpoints the WAL. */
void store_close(struct store *st);

/* The connection (borrowed; valid until store_close). */
sqlite3 *store_db(struct store *st);
/* The texts reader behind llmtap_refs() on the store's connection (owned by
 * the store; same thread rules as the connection). */
struct texts_reader *store_texts(struct store *st);
const char *store_path(const struct store *st);

/* Bytes of the database file and of its WAL (0 when absent). */
int64_t store_file_bytes(const struct store *st);
int64_t store_wal_bytes(const struct store *st);

/* The first column of the first row of 'sql' (no parameters) on 'db', or
 * 'dflt' when it has no row or fails. */
int64_t store_query_int(sqlite3 *db, const char *sql, int64_t dflt);

/* Path of the small file a running server leaves beside the database:
 * "<db>.server" (caller frees). */
char *store_server_file(const char *db_path);

#endif
