/*
 * `llmtap prompt push|list|show|diff|label` as a user runs them: versions
 * from 1 that never change, a push of the same file makes none, labels
 * move, a file that is not a prompt or whose template does not parse is
 * refused with a message, and the same against a running server (the
 * writes go through it, the version is readable the moment it returns).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static char *dir, *db;
static struct srv server;

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/prompts.db", dir);
    memset(&server, 0, sizeof(server));
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    tu_rmtree(dir);
    free(db);
    free(dir);
}

/* Run "llmtap ARGS" with its output captured in the test's directory. */
#define llmtap(out, err, ...) tu_llmtap_run(dir, (out), (err), __VA_ARGS__)

static char *put(const char *name, const char *text)
{
    return tu_put_file(dir, name, text);
}

static const char v1[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You help {{shop}}.\"},"
    "{\"role\":\"user\",\"content\":\"{{question}}\"}],\"model\":\"gpt-4o-mini\","
    "\"params\":{\"temperature\":0.2}}";
static const char v2[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You politely help {{shop}}.\"},"
    "{\"role\":\"user\",\"content\":\"{{question}}\"}],\"model\":\"gpt-4o-mini\","
    "\"params\":{\"temperature\":0.2}}";

/* The whole registry round, against the file or a server holding it. */
static void registry_round(void)
{
    char *f1 = put("v1.json", v1), *f2 = put("v2.json", v2);
    char *bad = put("bad.json", "{\"messages\":[{\"role\":\"user\",\"content\":\"{{#open}}\"}]}");
    char *notp = put("notp.json", "{\"messages\":[],\"temp\":1}");
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(llmtap(&out, NULL, "prompt push support '%s' --db '%s'", f1, db), 0);
    ck_assert_str_eq(out, "support@1\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt push support '%s' --db '%s'", f1, db), 0);
    ck_assert_str_eq(out, "support@1 (unchanged: no new version)\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt push support '%s' --db '%s' --json", f2, db), 0);
    ck_assert_str_eq(out, "{\"name\":\"support\",\"version\":2,\"created\":true}\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt label support production 1 --db '%s'", db), 0);
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt show support@production --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"version\":1,\"labels\":\"production\"") &&
                      strstr(out, "You help {{shop}}."),
                  "got: %s", out);
    free(out);
    /* render a registry version: plain text, no HTML escaping */
    char *vars = put("vars.json", "{\"shop\":\"A&B <shop>\",\"question\":\"Where?\"}");
    ck_assert_int_eq(llmtap(&out, NULL, "prompt render support@1 --vars '%s' --db '%s'", vars, db),
                     0);
    ck_assert_str_eq(out, "[system]\nYou help A&B <shop>.\n\n[user]\nWhere?\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL,
                            "prompt render support@production --vars '%s' --db '%s' --json", vars,
                            db),
                     0);
    ck_assert_msg(strstr(out, "\"version\":1,\"model\":\"gpt-4o-mini\",\"params\":{"
                              "\"temperature\":0.2},\"messages\":[{\"role\":\"system\","
                              "\"content\":\"You help A&B <shop>.\"}"),
                  "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(NULL, &err, "prompt render support@9 --db '%s'", db), 1);
    ck_assert_msg(strstr(err, "no prompt support@9"), "got: %s", err);
    free(err);
    free(vars);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt show support --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"version\":2") && strstr(out, "politely"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt list --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"name\":\"support\",\"latest\":2,\"versions\":2,\"labels\":"
                              "\"production=1\""),
                  "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, NULL, "prompt diff support@production support@2 --db '%s'", db),
                     0);
    ck_assert_msg(strstr(out, "--- support@1\n+++ support@2\n") &&
                      strstr(out, "\n-\t\t\t\"content\":\t\"You help {{shop}}.\"\n") &&
                      strstr(out, "\n+\t\t\t\"content\":\t\"You politely help {{shop}}.\"\n") &&
                      strstr(out, "\n \t\"model\""),
                  "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(NULL, &err, "prompt push support '%s' --db '%s'", bad, db), 1);
    ck_assert_msg(strstr(err, "unclosed section 'open'"), "got: %s", err);
    free(err);
    ck_assert_int_eq(llmtap(NULL, &err, "prompt push support '%s' --db '%s'", notp, db), 1);
    ck_assert_msg(strstr(err, "not a prompt file"), "got: %s", err);
    free(err);
    ck_assert_int_eq(llmtap(NULL, &err, "prompt show support@7 --db '%s'", db), 1);
    ck_assert_msg(strstr(err, "no prompt support@7"), "got: %s", err);
    free(err);
    ck_assert_int_eq(llmtap(NULL, NULL, "prompt label support staging 9 --db '%s'", db), 1);
    ck_assert_int_eq(llmtap(NULL, NULL, "prompt label support 5 1 --db '%s'", db), 1);
    ck_assert_int_eq(llmtap(NULL, NULL, "prompt push 'bad name' '%s' --db '%s'", f1, db), 1);
    ck_assert_int_eq(llmtap(NULL, NULL, "prompt show --db '%s'", db), 2);
    free(f1);
    free(f2);
    free(bad);
    free(notp);
}

START_TEST(test_registry_in_process)
{
    registry_round();
}
END_TEST

START_TEST(test_registry_through_a_running_server)
{
    ck_assert_int_eq(srv_start(&server, db, NULL), 0);
    registry_round();
    char *log = srv_log(&server);
    ck_assert_ptr_nonnull(log);
    free(log);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("prompt_cli");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_registry_in_process);
    tcase_add_test(tc, test_registry_through_a_running_server);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
