/*
 * The llmtap command line, run as a user would: import with no server (the
 * in-process writer), idempotent re-import, read-only query (JSON and text),
 * stats, prices, usage errors and exit codes; `prompt render` byte for byte.
 */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/xmem.h"
#include "store/segbody.h"
#include "tests/support/srv.h"
#include "tests/support/testutil.h"

static char *dir, *db;

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/cli.db", dir);
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(db);
    free(dir);
}

/* Run "llmtap ARGS" with stdout into 'out' (caller frees); returns the exit code. */
static int llmtap(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int llmtap(char **out, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    char *path = xasprintf("%s/out.txt", dir);
    char *cmd = xasprintf("%s %s > '%s' 2>/dev/null", tu_llmtap_bin(), args, path);
    int st = system(cmd);
    if (out)
        *out = tu_read_file(path, NULL);
    free(cmd);
    free(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_import_without_a_server_is_durable_and_idempotent)
{
    char *out = NULL;
    char *genai = xstrdup(tu_shared("payloads/otlp-genai-span.json")); /* tu_shared is static */
    char *oi = xstrdup(tu_shared("payloads/openinference-span.json"));
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s' '%s'", db, genai, oi), 0);
    free(oi);
    ck_assert_msg(strstr(out, "imported 5 records (0 already stored, 0 rejected)"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s'", db, genai), 0);
    free(genai);
    ck_assert_ptr_nonnull(strstr(out, "imported 0 records (3 already stored"));
    free(out);
    ck_assert_int_eq(llmtap(&out,
                            "query --db '%s' --json \"SELECT count(*) AS n, "
                            "sum(cost_nusd) AS c FROM spans\"",
                            db),
                     0);
    /* 54,000 (gpt-4o-mini) + 2,782,800 (claude-sonnet-4-5, 1536 of 1830 cached) nano-USD */
    ck_assert_str_eq(out, "[\n{\"n\":5,\"c\":2836800}\n]\n");
    free(out);
    ck_assert_int_eq(llmtap(&out,
                            "query --db '%s' \"SELECT project, count(*) FROM spans "
                            "GROUP BY 1 ORDER BY 1\"",
                            db),
                     0);
    ck_assert_str_eq(out, "project\tcount(*)\ndefault\t3\ndocs-qa-prod\t2\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, "stats --db '%s' --json", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"spans\":5,\"traces\":2,\"projects\":2,\"errors\":1"));
    free(out);
}
END_TEST

START_TEST(test_query_refuses_writes_and_bad_sql)
{
    ck_assert_int_eq(
        llmtap(NULL, "import --db '%s' '%s'", db, tu_shared("payloads/otlp-openllmetry-span.json")),
        0);
    ck_assert_int_eq(llmtap(NULL, "query --db '%s' \"DELETE FROM span_rows\"", db), 1);
    ck_assert_int_eq(llmtap(NULL, "query --db '%s' \"SELECT nope FROM spans\"", db), 1);
    ck_assert_int_eq(llmtap(NULL, "query --db '%s' \"SELECT 1; SELECT 2\"", db), 1);
    ck_assert_int_eq(llmtap(NULL, "query --db '%s/missing.db' \"SELECT 1\"", dir), 1);
    ck_assert_int_eq(llmtap(NULL, "query"), 2);
    ck_assert_int_eq(llmtap(NULL, "frobnicate"), 2);
    char *out = NULL;
    ck_assert_int_eq(llmtap(&out, "query --db '%s' \"SELECT count(*) FROM spans\"", db), 0);
    ck_assert_str_eq(out, "count(*)\n2\n"); /* the refused DELETE changed nothing */
    free(out);
}
END_TEST

START_TEST(test_prices_list_and_import_without_a_server)
{
    char *out = NULL;
    ck_assert_int_eq(llmtap(&out, "prices --json claude-sonnet-4-5"), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"id\":\"claude-sonnet-4-5"));
    free(out);
    ck_assert_int_eq(llmtap(&out, "prices import --db '%s' '%s'", db,
                            tu_shared("payloads/litellm_model_prices.json")),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "imported 2367 models"));
    free(out);
    ck_assert_int_eq(llmtap(&out, "stats --db '%s' --json", db), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"price_sets\":1"));
    free(out);
    ck_assert_int_eq(llmtap(NULL, "prices import --db '%s' '%s/none.json'", db, dir), 1);
    for (const char *const *c = (const char *const[]){"serve", "import", "query", "stats", "prices",
                                                      "compact", "check", NULL};
         *c; c++) {
        ck_assert_int_eq(llmtap(&out, "%s --help", *c), 0);
        ck_assert_ptr_nonnull(strstr(out, "usage: llmtap"));
        free(out);
    }
}
END_TEST

START_TEST(test_compact_moves_every_span_and_changes_no_answer)
{
    char *out = NULL, *before = NULL, *after = NULL;
    char *genai = xstrdup(tu_shared("payloads/otlp-genai-span.json"));
    char *oi = xstrdup(tu_shared("payloads/openinference-span.json"));
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s' '%s'", db, genai, oi), 0);
    free(out);
    static const char all[] = "query --db '%s' --json \"SELECT * FROM spans ORDER BY span_id\"";
    ck_assert_int_eq(llmtap(&before, all, db), 0);
    ck_assert_int_eq(llmtap(&out, "compact --db '%s' --json", db), 0); /* no server: in-process */
    /* the import's own compactor may have indexed some texts already */
    ck_assert_msg(strstr(out, "\"compacted\":5,") && strstr(out, "\"hot_spans\":0,\"segments\":2"),
                  "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&after, all, db), 0);
    ck_assert_str_eq(before, after); /* every column of every span, as before */
    free(after);
    /* resending compacted spans stores nothing */
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s'", db, genai), 0);
    ck_assert_msg(strstr(out, "imported 0 records (3 already stored"), "got: %s", out);
    free(out);
    /* with a server on the database, the server does the work */
    struct srv s;
    ck_assert_int_eq(srv_start(&s, db, NULL), 0);
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s'", db, oi), 0);
    free(out);
    ck_assert_int_eq(llmtap(&out, "compact --db '%s'", db), 0);
    ck_assert_msg(strstr(out, "compacted by the server at http://127.0.0.1:"), "got: %s", out);
    free(out);
    ck_assert_int_eq(srv_stop(&s, SIGTERM, 30000), 0);
    srv_release(&s);
    ck_assert_int_eq(llmtap(&after, all, db), 0);
    ck_assert_str_eq(before, after);
    free(after);
    free(before);
    free(genai);
    free(oi);
}
END_TEST

/* Run one statement on the database file directly (as a damaged disk or a
 * careless hand would). */
static void raw_exec(const char *sql)
{
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(segbody_register(h), SQLITE_OK); /* to damage one column of a segment */
    ck_assert_msg(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);
}

START_TEST(test_check_passes_a_whole_store_and_names_what_is_broken)
{
    char *out = NULL;
    char *genai = xstrdup(tu_shared("payloads/otlp-genai-span.json"));
    char *oi = xstrdup(tu_shared("payloads/openinference-span.json"));
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s' '%s'", db, genai, oi), 0);
    free(out);
    free(genai);
    free(oi);
    ck_assert_int_eq(llmtap(&out, "check --db '%s'", db), 0); /* hot rows only */
    ck_assert_msg(strstr(out, "ok: the store is whole"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "compact --db '%s'", db), 0);
    free(out);
    ck_assert_int_eq(llmtap(&out, "check --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"ok\":true,\"integrity\":\"ok\",\"hot_spans\":0,\"segments\":2,"
                              "\"segment_spans\":5,\"segments_bad\":0"),
                  "got: %s", out);
    free(out);
    /* a text that spans refer to goes missing; a segment column is damaged */
    raw_exec("DELETE FROM texts WHERE id = (SELECT min(id) FROM texts)");
    raw_exec("UPDATE segment_body SET body = llmtap_segment_set_frame(body, 12, x'28b52ffd')"
             " WHERE segment_id = (SELECT max(id) FROM segments)"); /* the other: refs still read */
    ck_assert_int_eq(llmtap(&out, "check --db '%s'", db), 1);
    ck_assert_msg(strstr(out, "is referred to but missing"), "got: %s", out);
    ck_assert_msg(strstr(out, "column model"), "got: %s", out);
    ck_assert_msg(strstr(out, "rollup_hourly cannot be recounted"), "got: %s", out);
    ck_assert_msg(strstr(out, "FAILED"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(NULL, "check --db '%s/none.db'", dir), 1);
}
END_TEST

START_TEST(test_search_finds_words_phrases_and_cjk_with_filters)
{
    char *out = NULL;
    char *file = xasprintf("%s/chat.ndjson", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"trace_id\":\"0000000000000000000000000000000a\",\"span_id\":\"000000000000000a\","
          "\"project\":\"shop\",\"kind\":\"llm\",\"model\":\"gpt-4o\","
          "\"start_ns\":\"1772409601000000000\",\"end_ns\":\"1772409602000000000\","
          "\"input\":[{\"role\":\"user\",\"content\":\"Where is my refund for the damaged "
          "kettle?\"}],\"output\":\"Your refund was sent today.\"}\n"
          "{\"trace_id\":\"0000000000000000000000000000000b\",\"span_id\":\"000000000000000b\","
          "\"project\":\"docs\",\"kind\":\"llm\",\"model\":\"claude-haiku-4-5\","
          "\"start_ns\":\"1772409603000000000\",\"end_ns\":\"1772409604000000000\","
          "\"input\":\"返金はいつ届きますか\",\"output\":\"refund policy: 14 days\"}\n",
          f);
    fclose(f);
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s'", db, file), 0);
    free(out);
    free(file);
    ck_assert_int_eq(llmtap(&out, "search --db '%s' --json refund", db), 0);
    ck_assert_msg(strstr(out, "\"count\":2") && strstr(out, "\"span_id\":\"000000000000000b\"") <
                                                    strstr(out, "\"span_id\":\"000000000000000a\""),
                  "newest first: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "search --db '%s' --json --project shop refund", db), 0);
    ck_assert_msg(strstr(out, "\"count\":1") &&
                      strstr(out, "\"trace_id\":\"0000000000000000000000000000000a\"") &&
                      strstr(out, "\"snippet\":\"Your refund was sent today.\""),
                  "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "search --db '%s' '\"damaged kettle\"'", db), 0);
    ck_assert_msg(strstr(out, "000000000000000a") && !strstr(out, "000000000000000b"), "got: %s",
                  out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "search --db '%s' --json 届き", db), 0);
    ck_assert_msg(strstr(out, "\"count\":1") && strstr(out, "000000000000000b"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "search --db '%s' --to 2026-03-02T00:00:02Z refund", db), 0);
    ck_assert_msg(strstr(out, "000000000000000a") && !strstr(out, "000000000000000b"), "got: %s",
                  out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "search --db '%s' nothing-here", db), 0);
    ck_assert_str_eq(out, "no spans match\n");
    free(out);
    ck_assert_int_eq(llmtap(NULL, "search --db '%s' '\"\"'", db), 2);             /* no words */
    ck_assert_int_eq(llmtap(NULL, "search --db '%s' --from soon refund", db), 2); /* bad time */
    ck_assert_int_eq(llmtap(NULL, "search --db '%s' --limit 0 refund", db), 2);
}
END_TEST

START_TEST(test_retention_set_list_and_apply_without_a_server)
{
    char *out = NULL;
    char *genai = xstrdup(tu_shared("payloads/otlp-genai-span.json"));
    ck_assert_int_eq(llmtap(&out, "import --db '%s' '%s'", db, genai), 0);
    free(out);
    free(genai);
    ck_assert_int_eq(llmtap(&out, "retention list --db '%s'", db), 0);
    ck_assert_str_eq(out, "no retention rules: every span is kept\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, "retention set --db '%s' default 36500", db), 0);
    ck_assert_msg(strstr(out, "dropped 0 segments and 0 spans"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "retention list --db '%s' --json", db), 0);
    ck_assert_str_eq(out, "[{\"project\":\"default\",\"days\":36500}]\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, "retention set --db '%s' default 1", db),
                     0); /* spans of 2026-03 */
    ck_assert_msg(strstr(out, "and 3 spans"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(&out, "query --db '%s' \"SELECT count(*) AS n FROM spans\"", db), 0);
    ck_assert_str_eq(out, "n\n0\n");
    free(out);
    ck_assert_int_eq(llmtap(&out, "check --db '%s'", db), 0);
    free(out);
    ck_assert_int_eq(llmtap(NULL, "retention set --db '%s' default soon", db), 2);
    ck_assert_int_eq(llmtap(NULL, "retention set --db '%s' default", db), 2);
    ck_assert_int_eq(llmtap(NULL, "retention frobnicate --db '%s'", db), 2);
    ck_assert_int_eq(llmtap(&out, "retention set --db '%s' default off", db), 0);
    free(out);
    ck_assert_int_eq(llmtap(&out, "retention apply --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"applied\":{\"segments\":0"), "got: %s", out);
    free(out);
}
END_TEST

/* Write 'text' to DIR/'name'. */
START_TEST(test_key_create_list_revoke_without_a_server)
{
    char *out = NULL;
    ck_assert_int_eq(llmtap(&out, "key create shop --name ci --db '%s' --json", db), 0);
    char key[64] = "";
    const char *k = strstr(out, "\"key\":\"lt_");
    ck_assert_msg(k != NULL, "got: %s", out);
    snprintf(key, sizeof(key), "%.43s", k + 7);
    ck_assert_uint_eq(strlen(key), 43);
    free(out);
    ck_assert_int_eq(llmtap(&out, "key list --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"project\":\"shop\",\"name\":\"ci\"") &&
                      strstr(out, "\"revoked\":false") && !strstr(out, key + 10),
                  "got: %s", out); /* the list never shows the key */
    free(out);
    ck_assert_int_eq(llmtap(&out, "key revoke 1 --db '%s'", db), 0);
    free(out);
    ck_assert_int_eq(llmtap(&out, "key list --db '%s' --json", db), 0);
    ck_assert_msg(strstr(out, "\"revoked\":true"), "got: %s", out);
    free(out);
    ck_assert_int_eq(llmtap(NULL, "key revoke 1 --db '%s'", db), 1); /* not live any more */
    ck_assert_int_eq(llmtap(NULL, "key create --db '%s'", db), 2);
    ck_assert_int_eq(llmtap(NULL, "key rotate 1 --db '%s'", db), 2);
}
END_TEST

static void put_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
    free(path);
}

/* Run "llmtap ARGS" in DIR with stdout into 'out' and stderr into 'err'
 * (caller frees both); returns the exit code. */
static int llmtap_in_dir(char **out, char **err, const char *args)
{
    char cwd[4096];
    const char *bin = tu_llmtap_bin();
    int abs = bin[0] == '/';
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    char *o = xasprintf("%s/out.txt", dir), *e = xasprintf("%s/err.txt", dir);
    char *cmd = xasprintf("cd '%s' && '%s%s%s' %s > '%s' 2> '%s'", dir, abs ? "" : cwd,
                          abs ? "" : "/", bin, args, o, e);
    int st = system(cmd);
    *out = tu_read_file(o, NULL);
    *err = tu_read_file(e, NULL);
    ck_assert_msg(*out && *err, "%s: no output files", args);
    free(cmd);
    free(o);
    free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_prompt_render_prints_exactly_the_rendering)
{
    char *cmd = xasprintf("mkdir '%s/parts'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    put_file("t.mustache", "Dear {{name}},\n"
                           "{{#items}}\n"
                           "  - {{.}}\n"
                           "{{/items}}\n"
                           "  {{> sig}}\n"
                           "P.S. {{note}} {{{note}}}{{> ../x}}{{>.hidden}}{{>nope}}");
    put_file("vars.json", "{\"name\": \"Ann <admin>\", \"items\": [\"a & b\", 2.50],"
                          " \"note\": \"it's \\\"5 > 4\\\"\"}");
    put_file("parts/sig.mustache", "--\n{{name}}\n");
    put_file("x.mustache", "OUTSIDE");            /* parts/../x: refused */
    put_file("parts/.hidden.mustache", "HIDDEN"); /* a dot name: refused */
    char *out, *err;
    ck_assert_int_eq(
        llmtap_in_dir(&out, &err,
                      "prompt render --template t.mustache --vars vars.json --partials parts"),
        0);
    ck_assert_str_eq(out, "Dear Ann &lt;admin&gt;,\n"
                          "  - a &amp; b\n"
                          "  - 2.5\n"
                          "  --\n"
                          "  Ann &lt;admin&gt;\n"
                          "P.S. it&#39;s &quot;5 &gt; 4&quot; it's \"5 > 4\"");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    /* without --partials every partial is missing */
    ck_assert_int_eq(
        llmtap_in_dir(&out, &err, "prompt render --vars=vars.json --template=t.mustache"), 0);
    ck_assert_str_eq(out, "Dear Ann &lt;admin&gt;,\n"
                          "  - a &amp; b\n"
                          "  - 2.5\n"
                          "P.S. it&#39;s &quot;5 &gt; 4&quot; it's \"5 > 4\"");
    free(out);
    free(err);
}
END_TEST

START_TEST(test_prompt_render_errors_and_usage)
{
    static const struct {
        const char *args;
        int code;
        const char *err; /* a part of stderr */
    } cases[] = {
        {"prompt render --template t.mustache --vars bad.json", 1, "bad.json: not JSON"},
        {"prompt render --template t.mustache --vars list.json", 1, "must be a JSON object"},
        {"prompt render --template t.mustache --vars none.json", 1, "cannot open 'none.json'"},
        {"prompt render --template none.mustache --vars ok.json", 1, "cannot open"},
        {"prompt render --template unclosed.mustache --vars ok.json", 1,
         "llmtap prompt: unclosed.mustache: line 2: unclosed section 'x'"},
        {"prompt render --vars ok.json", 2, "--template FILE is required"},
        {"prompt render --template t.mustache", 2, "--vars FILE.json is required"},
        {"prompt render --template t.mustache --vars ok.json extra", 2, "unexpected argument"},
        {"prompt render --template", 2, "needs a value"},
        {"prompt push x", 2, "llmtap prompt push: wrong arguments"},
        {"prompt diff a", 2, "llmtap prompt diff: wrong arguments"},
        {"prompt frobnicate", 2, "unknown subcommand 'frobnicate'"},
        {"prompt", 2, "usage: llmtap prompt render"},
    };
    put_file("t.mustache", "{{a}}");
    put_file("bad.json", "{\"a\": ");
    put_file("list.json", "[1, 2]");
    put_file("ok.json", "{}");
    put_file("unclosed.mustache", "fine\n{{#x}}\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, *err;
        int code = llmtap_in_dir(&out, &err, cases[i].args);
        ck_assert_msg(code == cases[i].code, "%s: exit %d", cases[i].args, code);
        ck_assert_msg(strstr(err, cases[i].err), "%s: stderr '%s'", cases[i].args, err);
        ck_assert_msg(out[0] == '\0', "%s: stdout '%s'", cases[i].args, out);
        free(out);
        free(err);
    }
    char *out, *err;
    ck_assert_int_eq(llmtap_in_dir(&out, &err, "prompt render --help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: llmtap prompt render --template FILE"));
    free(out);
    free(err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_import_without_a_server_is_durable_and_idempotent);
    tcase_add_test(tc, test_query_refuses_writes_and_bad_sql);
    tcase_add_test(tc, test_compact_moves_every_span_and_changes_no_answer);
    tcase_add_test(tc, test_check_passes_a_whole_store_and_names_what_is_broken);
    tcase_add_test(tc, test_prices_list_and_import_without_a_server);
    tcase_add_test(tc, test_search_finds_words_phrases_and_cjk_with_filters);
    tcase_add_test(tc, test_retention_set_list_and_apply_without_a_server);
    tcase_add_test(tc, test_key_create_list_revoke_without_a_server);
    tcase_add_test(tc, test_prompt_render_prints_exactly_the_rendering);
    tcase_add_test(tc, test_prompt_render_errors_and_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
