/*
 * store: opening the SQLite file, the writer lock and migrations (see
 * store.h). States of a read-write handle: locked (flock on "<db>.lock"
 * held for the handle's life) -> migrated -> open -> closed (checkpointed).
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmem.h"
#include "store/schema.h"
#include "store/segbody.h"
#include "store/textpack.h"
#include "store/rollup.h"
#include "store/fts.h"
#include "store/spantab.h"
#include "store/texts.h"

struct store {
    sqlite3 *db;
    char *path;
    int lock_fd; /* -1 for read-only handles */
    enum store_mode mode;
    struct texts_reader *texts; /* llmtap_refs() on 'db' */
};

char *store_server_file(const char *db_path)
{
    return xasprintf("%s.server", db_path);
}

static int take_lock(struct store *st, char *err, size_t errlen)
{
    char *lock_path = xasprintf("%s.lock", st->path);
    st->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (st->lock_fd < 0) {
        snprintf(err, errlen, "cannot create lock file for '%s': %s", st->path, strerror(errno));
        return STORE_ERR_OPEN;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 "'%s' is open for writing by another llmtap process (a server, or an import)",
                 st->path);
        return STORE_ERR_LOCKED;
    }
    return STORE_OK;
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return STORE_ERR_SQL;
    }
    return STORE_OK;
}

static int user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? STORE_OK : STORE_ERR_SQL;
}

/* Bring the schema to STORE_SCHEMA_VERSION, one transaction per step. */
static int migrate(struct store *st, char *err, size_t errlen)
{
    int version = 0;
    if (user_version(st->db, &version) != STORE_OK) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(st->db));
        return STORE_ERR_SQL;
    }
    if (version > (int)schema_migration_count) {
        snprintf(err, errlen, "database schema version %d is newer than this llmtap (%zu)", version,
                 schema_migration_count);
        return STORE_ERR_SCHEMA;
    }
    for (int v = version; v < (int)schema_migration_count; v++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d;", v + 1);
        if (exec_sql(st->db, "BEGIN IMMEDIATE", err, errlen) ||
            exec_sql(st->db, schema_migrations[v], err, errlen) ||
            exec_sql(st->db, bump, err, errlen) || exec_sql(st->db, "COMMIT", err, errlen)) {
            char keep[256];
            snprintf(keep, sizeof(keep), "%s", err);
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            snprintf(err, errlen, "schema migration to version %d failed: %s", v + 1, keep);
            return STORE_ERR_SCHEMA;
        }
        log_msg(LOG_INFO, "store", "migrated '%s' to schema version %d", st->path, v + 1);
    }
    return STORE_OK;
}

static int check_readable_version(struct store *st, char *err, size_t errlen)
{
    int version = 0;
    if (user_version(st->db, &version) != STORE_OK) {
        snprintf(err, errlen, "cannot read '%s': %s", st->path, sqlite3_errmsg(st->db));
        return STORE_ERR_SQL;
    }
    if (version != (int)schema_migration_count) {
        snprintf(err, errlen,
                 version == 0 ? "'%s' is not an llmtap database (run `llmtap serve` to create it)"
                              : "'%s' has schema version %d, this llmtap reads %d",
                 st->path, version, (int)schema_migration_count);
        return STORE_ERR_SCHEMA;
    }
    return STORE_OK;
}

/* auto_vacuum takes effect on a new file only (retention then gives freed
 * pages back with incremental_vacuum; an older file reuses them). */
/* Readers map the file: pages come from the shared page cache without a
 * copy per connection (segment columns and Bloom filters are read whole). */
static const char ro_pragmas[] = "PRAGMA query_only=1;"
                                 "PRAGMA mmap_size=1073741824;";

static const char rw_pragmas[] = "PRAGMA auto_vacuum=INCREMENTAL;"
                                 "PRAGMA journal_mode=WAL;"
                                 "PRAGMA synchronous=FULL;"
                                 "PRAGMA cache_size=-65536;"
                                 "PRAGMA temp_store=MEMORY;"
                                 "PRAGMA wal_autocheckpoint=1000;";

int store_open(struct store **out, const char *path, enum store_mode mode, char *err, size_t errlen)
{
    struct store *st = xcalloc(1, sizeof(*st));
    st->path = xstrdup(path);
    st->lock_fd = -1;
    st->mode = mode;
    int rc = STORE_OK;
    *out = NULL;
    if (mode == STORE_READWRITE && (rc = take_lock(st, err, errlen)) != STORE_OK)
        goto fail;
    int flags =
        mode == STORE_READWRITE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open '%s': %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        rc = STORE_ERR_OPEN;
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (textpack_register(st->db) != SQLITE_OK || texts_register(st->db, &st->texts) != SQLITE_OK ||
        spantab_register(st->db, st->texts) != SQLITE_OK || rollup_register(st->db) != SQLITE_OK ||
        segbody_register(st->db) != SQLITE_OK || fts_register(st->db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot register SQL functions on '%s'", path);
        rc = STORE_ERR_SQL;
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (mode == STORE_READWRITE) {
        if ((rc = exec_sql(st->db, rw_pragmas, err, errlen)) != STORE_OK ||
            (rc = migrate(st, err, errlen)) != STORE_OK)
            goto fail;
    } else {
        if ((rc = exec_sql(st->db, ro_pragmas, err, errlen)) != STORE_OK ||
            (rc = check_readable_version(st, err, errlen)) != STORE_OK)
            goto fail;
    }
    *out = st;
    return STORE_OK;
fail:
    store_close(st);
    return rc;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->db) {
        if (st->mode == STORE_READWRITE)
            sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        texts_reader_free(st->texts); /* finalizes its statement first */
        sqlite3_close_v2(st->db);
    }
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the flock */
    free(st->path);
    free(st);
}

struct texts_reader *store_texts(struct store *st)
{
    return st->texts;
}

sqlite3 *store_db(struct store *st)
{
    return st->db;
}

const char *store_path(const struct store *st)
{
    return st->path;
}

static int64_t file_bytes(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int64_t store_file_bytes(const struct store *st)
{
    return file_bytes(st->path);
}

int64_t store_wal_bytes(const struct store *st)
{
    char *wal = xasprintf("%s-wal", st->path);
    int64_t n = file_bytes(wal);
    free(wal);
    return n;
}

int64_t store_query_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st = NULL;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
