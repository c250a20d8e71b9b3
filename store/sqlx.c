/*
 * sqlx: shared SQLite helpers of the store's table modules (see sqlx.h).
 */
#include "store/sqlx.h"

#include <math.h>
#include <stdio.h>

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
