/*
 * keys: ingest keys are made random, stored only as a hash (never the key
 * itself), looked up to their project, and stop working when revoked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/keys.h"
#include "store/store.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct store *st;

static void setup(void)
{
    char err[256];
    dir = tu_tmpdir();
    db = xasprintf("%s/keys.db", dir);
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
}

static void teardown(void)
{
    store_close(st);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

START_TEST(test_keys_map_to_their_project_until_revoked)
{
    char err[256], k1[KEYS_KEY_LEN + 1], k2[KEYS_KEY_LEN + 1];
    int64_t id1, id2;
    ck_assert_int_eq(keys_create(store_db(st), "shop", "ci", k1, &id1, err, sizeof(err)), 0);
    ck_assert_int_eq(keys_create(store_db(st), "docs", NULL, k2, &id2, err, sizeof(err)), 0);
    ck_assert_uint_eq(strlen(k1), KEYS_KEY_LEN);
    ck_assert(strncmp(k1, "lt_", 3) == 0 && strcmp(k1, k2) != 0);
    struct keyring *ring = NULL;
    ck_assert_int_eq(keyring_load(store_db(st), &ring, err, sizeof(err)), 0);
    ck_assert_uint_eq(keyring_count(ring), 2);
    ck_assert_str_eq(keyring_project(ring, k1), "shop");
    ck_assert_str_eq(keyring_project(ring, k2), "docs");
    char wrong[KEYS_KEY_LEN + 1];
    memcpy(wrong, k1, sizeof(wrong));
    wrong[KEYS_KEY_LEN - 1] = wrong[KEYS_KEY_LEN - 1] == '0' ? '1' : '0';
    ck_assert_ptr_null(keyring_project(ring, wrong));
    ck_assert_ptr_null(keyring_project(ring, "lt_short"));
    ck_assert_ptr_null(keyring_project(ring, ""));
    keyring_free(ring);

    ck_assert_int_eq(keys_revoke(store_db(st), id1, err, sizeof(err)), 0);
    ck_assert_int_eq(keys_revoke(store_db(st), id1, err, sizeof(err)), 1); /* already */
    ck_assert_int_eq(keys_revoke(store_db(st), 999, err, sizeof(err)), 1);
    ck_assert_int_eq(keyring_load(store_db(st), &ring, err, sizeof(err)), 0);
    ck_assert_ptr_null(keyring_project(ring, k1));
    ck_assert_str_eq(keyring_project(ring, k2), "docs");
    keyring_free(ring);

    struct keys_row *rows;
    size_t n;
    ck_assert_int_eq(keys_list(store_db(st), &rows, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(rows[0].id, id2); /* newest first */
    ck_assert(rows[1].revoked_ns > 0 && rows[0].revoked_ns == 0);
    ck_assert_str_eq(rows[1].name, "ci");
    ck_assert(strncmp(rows[1].prefix, k1, 10) == 0 && strlen(rows[1].prefix) == 10);
    keys_rows_free(rows, n);
    ck_assert_int_eq(keys_create(store_db(st), "", NULL, k1, &id1, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_the_key_itself_is_never_stored)
{
    char err[256], key[KEYS_KEY_LEN + 1];
    int64_t id;
    ck_assert_int_eq(keys_create(store_db(st), "shop", NULL, key, &id, err, sizeof(err)), 0);
    store_close(st);
    st = NULL;
    static const char *const files[] = {"keys.db", "keys.db-wal", NULL};
    for (int i = 0; files[i]; i++) {
        char *path = xasprintf("%s/%s", dir, files[i]);
        size_t len = 0;
        char *data = tu_read_file(path, &len);
        if (data)
            ck_assert_msg(memmem(data, len, key + 10, KEYS_KEY_LEN - 10) == NULL, "key in %s",
                          files[i]);
        free(data);
        free(path);
    }
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_keys_map_to_their_project_until_revoked);
    tcase_add_test(tc, test_the_key_itself_is_never_stored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
