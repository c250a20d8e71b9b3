/*
 * `llmtap versions compare|list` run as a deploy gate would: a store with a
 * planted latency regression exits 1 and says so (text and --json), the
 * same comparison without one exits 0, explicit names work either way
 * round, and unknown names and bad options exit 2 with a message. The
 * store is written through the real writer, then read by the binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/xmem.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"
#include "tests/support/vsgen.h"

#define NS_PER_DAY 86400000000000LL

static struct tu_store ts;

/* Project "web": app=1, app=2 (30 % slower), app=3 (like app=2).
 * Project "api": v1, v2 drawn alike. */
static void setup(void)
{
    tu_store_open(&ts, "vs.db", NULL);
    const char *names[] = {"app=1", "app=2", "app=3"};
    const double lat[] = {800, 1040, 1040};
    for (int i = 0; i < 3; i++) {
        struct tu_vs v = tu_vs_default("web", names[i], 300 + (uint64_t)i);
        v.t0 += i * NS_PER_DAY;
        v.lat_ms = lat[i];
        tu_vs_ingest(ts.w, &v);
    }
    for (int i = 0; i < 2; i++) {
        struct tu_vs v = tu_vs_default("api", i ? "v2" : "v1", 400 + (uint64_t)i);
        v.t0 -= (2 - i) * NS_PER_DAY; /* older than web: web is the default project */
        tu_vs_ingest(ts.w, &v);
    }
    writer_stop(ts.w); /* the binary opens the file read-only; nothing else writes */
    ts.w = NULL;
}

static void teardown(void)
{
    tu_store_close(&ts);
}

static int run(char **out, char **err, const char *args)
{
    free(*out);
    free(*err);
    *out = *err = NULL;
    return tu_llmtap_run(ts.dir, out, err, "versions %s --db '%s'", args, ts.db);
}

START_TEST(test_versions_compare_exits_1_on_a_planted_regression)
{
    char *out = NULL, *err = NULL;
    /* defaults: project web (newest calls), app=3 against app=2: no regression */
    ck_assert_int_eq(run(&out, &err, "compare"), 0);
    ck_assert_ptr_nonnull(strstr(out, "project web: B app=3 against A app=2"));
    ck_assert_ptr_null(strstr(out, "regression"));
    ck_assert_ptr_nonnull(strstr(out, "no significant difference"));
    /* the change that regressed */
    ck_assert_int_eq(run(&out, &err, "compare app=1 app=2 --project web"), 1);
    const char *p95 = strstr(out, "latency_p95_ms");
    ck_assert_ptr_nonnull(p95);
    ck_assert_ptr_nonnull(strstr(p95, "worse"));
    ck_assert_ptr_nonnull(strstr(out, "regression: 3 metrics significantly worse"));
    /* the other way round it is better: no regression */
    ck_assert_int_eq(run(&out, &err, "compare app=2 app=1"), 0);
    ck_assert_ptr_nonnull(strstr(out, "better"));
    /* another project drawn alike */
    ck_assert_int_eq(run(&out, &err, "compare --project api"), 0);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_versions_compare_json_is_the_same_data)
{
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(run(&out, &err, "compare app=1 app=2 --json --seed 7"), 1);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "project")->valuestring, "web");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "a")->valuestring, "app=1");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "regression")));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tested")->valueint, 6);
    const cJSON *m, *p95 = NULL;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "metrics"))
    {
        if (strcmp(cJSON_GetObjectItem(m, "name")->valuestring, "latency_p95_ms") == 0)
            p95 = m;
    }
    ck_assert_ptr_nonnull(p95);
    ck_assert_str_eq(cJSON_GetObjectItem(p95, "verdict")->valuestring, "worse");
    double lo = cJSON_GetObjectItem(p95, "ci_lo")->valuedouble;
    double d = cJSON_GetObjectItem(p95, "delta")->valuedouble;
    ck_assert(lo > 0 && lo < d);
    ck_assert_int_eq(cJSON_GetObjectItem(p95, "n_a")->valueint, 400);
    cJSON_Delete(j);
    /* deterministic: the same seed gives the same bytes */
    char *again = NULL, *err2 = NULL;
    ck_assert_int_eq(tu_llmtap_run(ts.dir, &again, &err2,
                                   "versions compare app=1 app=2 --json --seed 7 --db '%s'", ts.db),
                     1);
    ck_assert_str_eq(again, out);
    free(again);
    free(err2);
    ck_assert_int_eq(run(&out, &err, "list --project web --json"), 0);
    j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "version_sets")), 3);
    cJSON_Delete(j);
    ck_assert_int_eq(run(&out, &err, "list"), 0);
    ck_assert_ptr_nonnull(strstr(out, "app=1"));
    free(out);
    free(err);
}
END_TEST

START_TEST(test_versions_usage_errors_exit_2)
{
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(run(&out, &err, "compare app=1 app=9"), 2);
    ck_assert_ptr_nonnull(strstr(err, "no calls are stored under version_set 'app=9'"));
    ck_assert_int_eq(run(&out, &err, "compare --project nope"), 2);
    ck_assert_ptr_nonnull(strstr(err, "'nope'"));
    ck_assert_int_eq(run(&out, &err, "compare app=1"), 2);
    ck_assert_int_eq(run(&out, &err, "compare app=1 app=1"), 2);
    ck_assert_int_eq(run(&out, &err, "compare --alpha 2"), 2);
    ck_assert_ptr_nonnull(strstr(err, "--alpha"));
    ck_assert_int_eq(run(&out, &err, "compare --since yesterday-ish"), 2);
    ck_assert_int_eq(run(&out, &err, "frobnicate"), 2);
    ck_assert_int_eq(run(&out, &err, "compare --bogus"), 2);
    ck_assert_int_eq(run(&out, &err, "compare --help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: llmtap versions compare"));
    free(out);
    free(err);
    ck_assert_int_eq(
        tu_llmtap_run(ts.dir, &out, &err, "versions compare --db '%s/missing.db'", ts.dir), 2);
    free(out);
    free(err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("versions_cli");
    TCase *tc = tcase_create("compare");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_versions_compare_exits_1_on_a_planted_regression);
    tcase_add_test(tc, test_versions_compare_json_is_the_same_data);
    tcase_add_test(tc, test_versions_usage_errors_exit_2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
