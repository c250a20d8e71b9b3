/*
 * sqlx: shared SQLite helpers of the store's table modules (see sqlx.h).
 */
#include "store/sqlx.h"

#include <math.h>
#include <stdio.h>

#include "core/xmem.h"

int sqlx_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    return -1;
}

int sqlx_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    *st = NULL;
    return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

int sqlx_exec1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, sql, &st) != 0)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int sqlx_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int sqlx_bind_real(sqlite3_stmt *st, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

double sqlx_col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

char *sqlx_col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

int sqlx_step_done(sqlite3_stmt *st, int bind_rc)
{
    int ok = bind_rc == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int sqlx_savepoint(sqlite3 *db, const char *name, int (*write)(sqlite3 *, void *), void *arg,
                   const char *what, char *err, size_t errlen)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SAVEPOINT %s", name);
    if (sqlx_exec1(db, sql) != 0)
        return sqlx_fail(db, "cannot start a savepoint", err, errlen);
    if (write(db, arg) == 0) {
        snprintf(sql, sizeof(sql), "RELEASE %s", name);
        if (sqlx_exec1(db, sql) == 0)
            return 0;
    }
    sqlx_fail(db, what, err, errlen);
    snprintf(sql, sizeof(sql), "ROLLBACK TO %s", name);
    (void)sqlx_exec1(db, sql); /* the error above is the one to report */
    snprintf(sql, sizeof(sql), "RELEASE %s", name);
    (void)sqlx_exec1(db, sql);
    return -1;
}
