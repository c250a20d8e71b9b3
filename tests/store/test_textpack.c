/*
 * textpack: packed text reads back byte for byte (short, long, repetitive,
 * incompressible), corrupt packs are refused, and the SQL functions the
 * `spans` view uses work on any connection.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/textpack.h"
#include "tests/support/testutil.h"

static void roundtrip(struct textpack_ctx *c, const char *text, size_t len, char want_kind)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(textpack_pack(c, text, len, &b), 0);
    ck_assert_int_eq(b.data[0], want_kind);
    size_t got = 0;
    char *back = textpack_unpack(c, b.data, b.len, &got);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(back, text, len) == 0);
    free(back);
    buf_release(&b);
}

START_TEST(test_texts_of_every_kind_read_back_exactly)
{
    struct textpack_ctx *c = textpack_new();
    roundtrip(c, "", 0, 'T');
    roundtrip(c, "[{\"role\":\"user\",\"content\":\"hi\"}]", 33, 'T');
    size_t n;
    char *big = tu_read_file(tu_shared("payloads/otlp-genai-span.json"), &n);
    roundtrip(c, big, n, 'Z');
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(textpack_pack(c, big, n, &b), 0);
    ck_assert_uint_lt(b.len, n / 3); /* JSON this repetitive packs well */
    buf_release(&b);
    free(big);
    char *noise = xmalloc(4096);
    for (int i = 0; i < 4096; i++)
        noise[i] = (char)(rand() & 0xff);
    roundtrip(c, noise, 4096, 'T'); /* incompressible: kept plain */
    free(noise);
    textpack_free(c);
}
END_TEST

START_TEST(test_corrupt_packs_are_refused)
{
    struct textpack_ctx *c = textpack_new();
    size_t n;
    char *big = tu_read_file(tu_shared("payloads/openinference-span.json"), &n);
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(textpack_pack(c, big, n, &b), 0);
    for (size_t cut = 0; cut < b.len; cut += 13) /* every truncation fails cleanly */
        ck_assert_ptr_null(textpack_unpack(c, b.data, cut, NULL));
    ck_assert_ptr_null(textpack_unpack(c, "Xabc", 4, NULL));
    b.data[b.len / 2] ^= 0x55; /* corrupt the middle: refused or at least bounded */
    free(textpack_unpack(c, b.data, b.len, NULL));
    buf_release(&b);
    free(big);
    textpack_free(c);
}
END_TEST

START_TEST(test_sql_functions_pack_and_unpack)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(textpack_register(db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db,
                           "SELECT llmtap_text(llmtap_pack(?1)), typeof(llmtap_pack(?1)),"
                           " llmtap_text(NULL) IS NULL, llmtap_text('plain')",
                           -1, &st, NULL),
        SQLITE_OK);
    char text[600];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), text);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "blob");
    ck_assert_int_eq(sqlite3_column_int(st, 2), 1);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 3), "plain");
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT llmtap_text(x'5a0102')", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ERROR);
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("textpack");
    TCase *tc = tcase_create("textpack");
    tcase_add_test(tc, test_texts_of_every_kind_read_back_exactly);
    tcase_add_test(tc, test_corrupt_packs_are_refused);
    tcase_add_test(tc, test_sql_functions_pack_and_unpack);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
