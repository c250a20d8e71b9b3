/*
 * sqlx: the small SQLite helpers the store's table modules share (evals,
 * alerts): prepare, run a statement without parameters or to its end, bind
 * NULL-able values, read NULL-able columns, all-or-nothing savepoints, and
 * SQLite's message in an error.
 * Pure wrappers: thread-safety and ownership are SQLite's (a statement
 * belongs to its caller, who finalizes it).
 */
#ifndef STORE_SQLX_H
#define STORE_SQLX_H

#include <stddef.h>

#include <sqlite3.h>

/* "what: SQLite's message" into 'err' (when not NULL); returns -1. */
int sqlx_fail(sqlite3 *db, const char *what, char *err, size_t errlen);

/* Prepare 'sql' into *st (NULL on failure): 0, or -1 (sqlite3_errmsg). */
int sqlx_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* Run one statement without parameters to its end (SAVEPOINT, RELEASE,
 * DELETE ...): 0, or -1. */
int sqlx_exec1(sqlite3 *db, const char *sql);

/* Binders that take NULL (a NULL string, a NAN number) as SQL NULL. They
 * return SQLite's code: OR them together and compare with SQLITE_OK. The
 * text is copied (SQLITE_TRANSIENT). */
int sqlx_bind_text(sqlite3_stmt *st, int i, const char *s);
int sqlx_bind_real(sqlite3_stmt *st, int i, double v);

/* Column 'i' as a number, NAN when NULL. */
double sqlx_col_real(sqlite3_stmt *st, int i);

/* Column 'i' as a new string (caller frees), NULL when NULL. */
char *sqlx_col_dup(sqlite3_stmt *st, int i);

/* Step the prepared 'st' once when 'bind_rc' (its binders' codes ORed) is
 * SQLITE_OK, and finalize it: 0 when the step was SQLITE_DONE, else -1. */
int sqlx_step_done(sqlite3_stmt *st, int bind_rc);

/* Run 'write' inside savepoint 'name' (an SQL identifier): all of its
 * writes or none. 'write' returns 0 to keep them. Returns 0, or -1 with
 * "what: SQLite's message" in 'err' (the savepoint rolled back). */
int sqlx_savepoint(sqlite3 *db, const char *name, int (*write)(sqlite3 *, void *), void *arg,
                   const char *what, char *err, size_t errlen);

#endif
