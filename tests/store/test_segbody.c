/*
 * test_segbody: a segment's column frames in one blob: the layout, reading
 * frames through SQLite (and from the older one-row-per-column table), the
 * SQL functions the v23 migration and the tests use, and bad bodies
 * refused with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "core/xmem.h"
#include "store/segbody.h"
#include "tests/support/testutil.h"

enum { NCOLS = 6 };

/* Frames of different sizes, column 3 missing; one past a leaf page. */
static void sample(const void *frames[NCOLS], size_t lens[NCOLS], char *big)
{
    static const char *const small[NCOLS] = {"a", "bcd", "", NULL, "efgh", NULL};
    for (int c = 0; c < NCOLS; c++) {
        frames[c] = small[c];
        lens[c] = small[c] ? strlen(small[c]) : 0;
    }
    memset(big, 'z', 9000);
    frames[5] = big;
    lens[5] = 9000;
}

/* The sample's frames built into a fresh body 'b' (caller releases). */
static void sample_body(const void *frames[NCOLS], size_t lens[NCOLS], char *big, struct buf *b)
{
    sample(frames, lens, big);
    buf_init(b, 0);
    ck_assert_int_eq(segbody_build(frames, lens, NCOLS, b), 0);
}

START_TEST(test_a_body_locates_every_frame_and_says_which_are_missing)
{
    const void *frames[NCOLS];
    size_t lens[NCOLS], off, len;
    static char big[9000];
    char err[128];
    struct buf b;
    sample_body(frames, lens, big, &b);
    for (int c = 0; c < NCOLS; c++) {
        int rc = segbody_locate(b.data, b.len, b.len, c, &off, &len, err, sizeof(err));
        if (!frames[c] || !lens[c]) { /* missing, or empty: no column */
            ck_assert_int_eq(rc, 1);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(len, lens[c]);
        ck_assert(memcmp(b.data + off, frames[c], len) == 0);
    }
    ck_assert_int_eq(segbody_locate(b.data, b.len, b.len, NCOLS, &off, &len, err, sizeof(err)), 1);
    ck_assert_int_eq(segbody_locate(b.data, b.len, b.len, -1, &off, &len, err, sizeof(err)), 1);
    /* a prefix holding the directory is enough */
    ck_assert_int_eq(segbody_locate(b.data, 20, b.len, 5, &off, &len, err, sizeof(err)), 0);
    ck_assert_uint_eq(len, 9000);
    buf_release(&b);
}
END_TEST

START_TEST(test_bad_bodies_are_refused_with_a_message)
{
    const void *frames[NCOLS];
    size_t lens[NCOLS], off, len;
    static char big[9000];
    char err[128];
    struct buf b;
    sample_body(frames, lens, big, &b);
    /* every truncation: the lengths no longer add up */
    for (size_t n = 0; n < b.len; n += n < 64 ? 1 : 997) {
        err[0] = '\0';
        ck_assert_int_eq(segbody_locate(b.data, n, n, 0, &off, &len, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "segment body"));
    }
    static const unsigned char tag[] = {'X', 1, 0}, many[] = {'B', 65}, past[] = {'B', 1, 9, 'a'};
    ck_assert_int_eq(segbody_locate(tag, 3, 3, 0, &off, &len, err, sizeof(err)), -1);
    ck_assert_int_eq(segbody_locate(many, 2, 2, 0, &off, &len, err, sizeof(err)), -1);
    ck_assert_int_eq(segbody_locate(past, 4, 4, 0, &off, &len, err, sizeof(err)), -1);
    ck_assert_int_eq(segbody_build(frames, lens, SEGBODY_MAX_COLS + 1, &b), -1);
    buf_release(&b);
}
END_TEST

static sqlite3 *open_db(char **dir)
{
    *dir = tu_tmpdir();
    char *path = xasprintf("%s/b.db", *dir);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(segbody_register(db), SQLITE_OK);
    free(path);
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
}

/* Every frame of segment 'seg' reads back through a reader. */
static void expect_frames(sqlite3 *db, int64_t seg, const void *const *frames, const size_t *lens)
{
    struct segbody_reader *r = NULL;
    char err[128];
    const void *p;
    size_t n;
    ck_assert_msg(segbody_open(db, seg, &r, err, sizeof(err)) == 0, "%s", err);
    for (int c = NCOLS; c-- > 0;) { /* out of order */
        int rc = segbody_frame(r, c, &p, &n, err, sizeof(err));
        ck_assert_int_eq(rc, (frames[c] && lens[c]) ? 0 : 1);
        if (rc == 0) {
            ck_assert_uint_eq(n, lens[c]);
            ck_assert(memcmp(p, frames[c], n) == 0);
        }
    }
    segbody_reader_free(r);
}

START_TEST(test_frames_read_from_the_body_table_and_from_the_older_one)
{
    char *dir;
    sqlite3 *db = open_db(&dir);
    const void *frames[NCOLS];
    size_t lens[NCOLS];
    static char big[9000];
    sample(frames, lens, big);
    /* the table of v3..v22, then the v23 migration's statements */
    exec_ok(db, "CREATE TABLE segment_cols (segment_id INTEGER NOT NULL, col INTEGER NOT NULL,"
                " data BLOB NOT NULL, PRIMARY KEY (segment_id, col))");
    sqlite3_stmt *ins = NULL;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "INSERT INTO segment_cols VALUES (7, ?1, ?2)", -1, &ins, NULL),
        SQLITE_OK);
    for (int c = NCOLS; c-- > 0;) {
        if (!frames[c])
            continue;
        sqlite3_bind_int(ins, 1, c);
        sqlite3_bind_blob(ins, 2, frames[c], (int)lens[c], SQLITE_STATIC);
        ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    expect_frames(db, 7, frames, lens); /* no segment_body yet: the old table */
    exec_ok(db, "CREATE TABLE segment_body (segment_id INTEGER PRIMARY KEY, body BLOB NOT NULL);"
                "INSERT INTO segment_body(segment_id, body) SELECT segment_id,"
                " llmtap_segment_pack(col, data) FROM segment_cols GROUP BY segment_id;"
                "DROP TABLE segment_cols;");
    expect_frames(db, 7, frames, lens);
    struct segbody_reader *r = NULL;
    char err[128];
    ck_assert_int_eq(segbody_open(db, 8, &r, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "segment 8"));
    ck_assert_ptr_null(r);
    /* the frame of a column, and a body with one replaced */
    exec_ok(db, "UPDATE segment_body SET body = llmtap_segment_set_frame(body, 1, x'00ff')");
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT hex(llmtap_segment_frame(body, 1)),"
                                        " llmtap_segment_frame(body, 3) IS NULL,"
                                        " length(llmtap_segment_frame(body, 5)) FROM segment_body",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), "00FF");
    ck_assert_int_eq(sqlite3_column_int(q, 1), 1);
    ck_assert_int_eq(sqlite3_column_int(q, 2), 9000);
    sqlite3_finalize(q);
    lens[1] = 2;
    frames[1] = "\x00\xff";
    expect_frames(db, 7, frames, lens);
    /* bad arguments are SQL errors */
    ck_assert_int_ne(sqlite3_exec(db, "SELECT llmtap_segment_frame(x'00', 1)", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_ne(sqlite3_exec(db, "SELECT llmtap_segment_frame(body, 64) FROM segment_body",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("segbody");
    TCase *tc = tcase_create("segbody");
    tcase_add_test(tc, test_a_body_locates_every_frame_and_says_which_are_missing);
    tcase_add_test(tc, test_bad_bodies_are_refused_with_a_message);
    tcase_add_test(tc, test_frames_read_from_the_body_table_and_from_the_older_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
