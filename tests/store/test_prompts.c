/*
 * prompts: what a prompt file may be, how NAME@REF splits, and that
 * versions are numbered from 1 per name, immutable, deduplicated against
 * the latest, with labels that move and refuse missing versions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/prompts.h"
#include "store/store.h"
#include "tests/support/testutil.h"

START_TEST(test_prompt_files_are_checked_and_made_compact)
{
    static const struct {
        const char *json;
        int ok;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"{{q}}\"}]}", 1},
        {"{ \"messages\" : [ {\"role\":\"system\",\"content\":\"x\"} ], \"model\":\"m\","
         " \"params\":{\"temperature\":0.2}, \"description\":\"d\" }",
         1},
        {"{\"messages\":[]}", 0},
        {"{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 0},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[1]}]}", 0},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temp\":1}", 0},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":3}", 0},
        {"[1]", 0},
        {"not json", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *canon = NULL, err[256] = "";
        int rc = prompts_check_body(cases[i].json, strlen(cases[i].json), &canon, err, sizeof(err));
        ck_assert_msg((rc == 0) == cases[i].ok, "case %zu: rc %d (%s)", i, rc, err);
        if (rc == 0)
            ck_assert_ptr_null(strstr(canon, " \""));
        else
            ck_assert(strncmp(err, "not a prompt file", 17) == 0 && canon == NULL);
        free(canon);
    }
    char name[64], ref[64];
    ck_assert_int_eq(prompts_split_ref("support@7", name, sizeof(name), ref, sizeof(ref)), 0);
    ck_assert(strcmp(name, "support") == 0 && strcmp(ref, "7") == 0);
    ck_assert_int_eq(prompts_split_ref("support", name, sizeof(name), ref, sizeof(ref)), 0);
    ck_assert_str_eq(ref, "");
    ck_assert_int_eq(prompts_split_ref("@7", name, sizeof(name), ref, sizeof(ref)), -1);
    ck_assert_int_eq(prompts_split_ref("a b@1", name, sizeof(name), ref, sizeof(ref)), -1);
    ck_assert_int_eq(prompts_split_ref("a@x/y", name, sizeof(name), ref, sizeof(ref)), -1);
}
END_TEST

START_TEST(test_versions_count_from_one_per_name_and_labels_move)
{
    char *dir = tu_tmpdir(), *db = xasprintf("%s/p.db", dir), err[256];
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, db, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    sqlite3 *h = store_db(st);
    int64_t v;
    int created;
    ck_assert_int_eq(prompts_push(h, "a", "{\"x\":1}", &v, &created, err, sizeof(err)), 0);
    ck_assert(v == 1 && created);
    ck_assert_int_eq(prompts_push(h, "b", "{\"x\":1}", &v, &created, err, sizeof(err)), 0);
    ck_assert(v == 1 && created); /* each name its own numbers */
    ck_assert_int_eq(prompts_push(h, "a", "{\"x\":2}", &v, &created, err, sizeof(err)), 0);
    ck_assert(v == 2 && created);
    ck_assert_int_eq(prompts_push(h, "a", "{\"x\":2}", &v, &created, err, sizeof(err)), 0);
    ck_assert(v == 2 && !created);
    ck_assert_int_eq(prompts_push(h, "a", "{\"x\":1}", &v, &created, err, sizeof(err)), 0);
    ck_assert(v == 3 && created); /* only the latest dedups: going back is a new version */
    ck_assert_int_eq(prompts_label(h, "a", "production", 2, err, sizeof(err)), 0);
    ck_assert_int_eq(prompts_label(h, "a", "production", 9, err, sizeof(err)), 1);
    ck_assert_int_eq(prompts_label(h, "a", "latest", 1, err, sizeof(err)), -1);
    struct prompt_version pv;
    ck_assert_int_eq(prompts_get(h, "a", "production", &pv, err, sizeof(err)), 0);
    ck_assert(pv.version == 2 && strcmp(pv.body, "{\"x\":2}") == 0);
    ck_assert_str_eq(pv.labels, "production");
    prompt_version_release(&pv);
    ck_assert_int_eq(prompts_label(h, "a", "production", 3, err, sizeof(err)), 0);
    ck_assert_int_eq(prompts_get(h, "a", "production", &pv, err, sizeof(err)), 0);
    ck_assert_int_eq(pv.version, 3);
    prompt_version_release(&pv);
    ck_assert_int_eq(prompts_get(h, "a", NULL, &pv, err, sizeof(err)), 0);
    ck_assert_int_eq(pv.version, 3);
    prompt_version_release(&pv);
    ck_assert_int_eq(prompts_get(h, "a", "1", &pv, err, sizeof(err)), 0);
    ck_assert_str_eq(pv.body, "{\"x\":1}");
    prompt_version_release(&pv);
    ck_assert_int_eq(prompts_get(h, "a", "staging", &pv, err, sizeof(err)), 1);
    ck_assert_int_eq(prompts_get(h, "zzz", NULL, &pv, err, sizeof(err)), 1);
    store_close(st);
    tu_rmtree(dir);
    free(db);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("prompts");
    TCase *tc = tcase_create("prompts");
    tcase_add_test(tc, test_prompt_files_are_checked_and_made_compact);
    tcase_add_test(tc, test_versions_count_from_one_per_name_and_labels_move);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
