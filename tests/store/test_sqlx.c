/*
 * sqlx: NULL strings and NAN numbers go in as SQL NULL and come back as
 * NAN; a failing statement is -1 with SQLite's message behind 'what'.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sqlx.h"
#include "tests/support/testutil.h"

START_TEST(test_sqlx_nulls_round_trip_and_failures_say_why)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlx_exec1(db, "CREATE TABLE t (s TEXT, x REAL)"), 0);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlx_prep(db, "INSERT INTO t VALUES (?1, ?2)", &st), 0);
    ck_assert_int_eq(sqlx_bind_text(st, 1, NULL) | sqlx_bind_real(st, 2, NAN), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    char word[] = "kept";
    ck_assert_int_eq(sqlx_bind_text(st, 1, word) | sqlx_bind_real(st, 2, 2.5), SQLITE_OK);
    strcpy(word, "gone"); /* the text was copied when bound */
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlx_prep(db, "SELECT s, x FROM t ORDER BY rowid", &st), 0);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_type(st, 0), SQLITE_NULL);
    ck_assert(isnan(sqlx_col_real(st, 1)));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "kept");
    ck_assert_double_eq(sqlx_col_real(st, 1), 2.5);
    sqlite3_finalize(st);

    ck_assert_int_eq(sqlx_prep(db, "SELECT nope FROM t", &st), -1);
    ck_assert_ptr_null(st);
    char err[128] = "";
    ck_assert_int_eq(sqlx_fail(db, "reading t", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "reading t: no such column: nope");
    ck_assert_int_eq(sqlx_fail(db, "no buffer", NULL, 0), -1);
    ck_assert_int_eq(sqlx_exec1(db, "INSERT INTO missing VALUES (1)"), -1);
    sqlite3_close(db);
}
END_TEST

static int write_two(sqlite3 *db, void *arg)
{
    sqlite3_stmt *st = NULL;
    if (sqlx_prep(db, "INSERT INTO t VALUES ('a', 1)", &st) != 0 || sqlx_step_done(st, SQLITE_OK))
        return -1;
    /* the second write fails when asked to (a table that is not there) */
    return sqlx_exec1(db,
                      *(int *)arg ? "INSERT INTO missing VALUES (1)" : "DELETE FROM t WHERE x < 0");
}

static long long rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlx_prep(db, "SELECT count(*), max(s) FROM t", &st), 0);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    char *s = sqlx_col_dup(st, 1);
    ck_assert(n ? s && strcmp(s, "a") == 0 : s == NULL);
    free(s);
    sqlite3_finalize(st);
    return n;
}

/* A savepoint keeps all of its writes or none, and says why. */
START_TEST(test_sqlx_savepoint_is_all_or_nothing)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlx_exec1(db, "CREATE TABLE t (s TEXT, x REAL)"), 0);
    char err[128] = "";
    int fail = 1;
    ck_assert_int_eq(
        sqlx_savepoint(db, "sp_test", write_two, &fail, "cannot store", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "cannot store: no such table: missing");
    ck_assert_int_eq(rows(db), 0); /* the first insert was rolled back */
    fail = 0;
    ck_assert_int_eq(
        sqlx_savepoint(db, "sp_test", write_two, &fail, "cannot store", err, sizeof(err)), 0);
    ck_assert_int_eq(rows(db), 1);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlx_prep(db, "INSERT INTO t VALUES (?1, 0)", &st), 0);
    ck_assert_int_eq(sqlx_step_done(st, SQLITE_RANGE), -1); /* a failed bind: no step */
    ck_assert_int_eq(rows(db), 1);
    sqlite3_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sqlx");
    TCase *tc = tcase_create("sqlx");
    tcase_add_test(tc, test_sqlx_nulls_round_trip_and_failures_say_why);
    tcase_add_test(tc, test_sqlx_savepoint_is_all_or_nothing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
