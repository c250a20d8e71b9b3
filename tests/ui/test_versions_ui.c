/*
 * The version_set comparison in the web UI over real HTTP: /versions shows
 * B against A with each metric's interval and verdict (a planted latency
 * regression is "worse", the change without one is not);
 * /versions/regressions lists, per project, the change that regressed with
 * its metrics and a trend chart, and the change that did not as "nothing";
 * GET /api/v1/versions/compare answers the same JSON as `llmtap versions
 * compare --json`, with typed errors; names from traffic are escaped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/xmem.h"
#include "store/store.h"
#include "tests/support/httpc.h"
#include "tests/support/srv.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"
#include "tests/support/vsgen.h"

#define NS_PER_DAY 86400000000000LL

static struct tu_store ts;
static struct srv server;

/* "web": app=1, app=2 (30 % slower), app=3 (like app=2); "api": v1, v2
 * alike, older; "<b>markup</b>": two version_sets with markup in them. */
static void seed(void)
{
    const char *names[] = {"app=1", "app=2", "app=3"};
    const double lat[] = {800, 1040, 1040};
    for (int i = 0; i < 3; i++) {
        struct tu_vs v = tu_vs_default("web", names[i], 500 + (uint64_t)i);
        v.t0 += i * NS_PER_DAY;
        v.lat_ms = lat[i];
        tu_vs_ingest(ts.w, &v);
    }
    for (int i = 0; i < 2; i++) {
        struct tu_vs v = tu_vs_default("api", i ? "v2" : "v1", 600 + (uint64_t)i);
        v.t0 -= (2 - i) * NS_PER_DAY;
        tu_vs_ingest(ts.w, &v);
        struct tu_vs x = tu_vs_default("<b>markup</b>", i ? "app=<i>2" : "app=<i>1", 700);
        x.n = 15;
        x.t0 -= (4 - i) * NS_PER_DAY;
        x.lat_ms = i ? 4000 : 800;
        tu_vs_ingest(ts.w, &x);
    }
}

static void setup(void)
{
    tu_store_open(&ts, "vui.db", NULL);
    seed();
    writer_stop(ts.w); /* the server is the one writer from here on */
    ts.w = NULL;
    store_close(ts.st);
    ts.st = NULL;
    memset(&server, 0, sizeof(server));
    ck_assert_int_eq(srv_start(&server, ts.db, NULL), 0);
}

static void teardown(void)
{
    if (server.pid)
        ck_assert_int_eq(srv_stop(&server, SIGTERM, 20000), 0);
    srv_release(&server);
    tu_store_close(&ts);
}

static void get(const char *path, int status, struct httpc_response *r)
{
    struct httpc_request req = {.method = "GET", .path = path};
    int rc = httpc_fetch(server.url, &req, 60000, r);
    ck_assert_msg(rc == HTTPC_OK, "GET %s: %s", path, httpc_strerror(rc));
    ck_assert_msg(r->status == status, "%s answered %d, not %d: %.400s", path, r->status, status,
                  r->body);
}

/* The row of metric 'name' in the significance table (up to its end). */
static char *row_of(const char *body, const char *name)
{
    char *key = xasprintf("data-metric=\"%s\"", name);
    const char *p = strstr(body, key);
    free(key);
    ck_assert_msg(p != NULL, "no row for %s", name);
    const char *end = strstr(p, "</tr>");
    ck_assert_ptr_nonnull(end);
    return xstrndup(p, (size_t)(end - p));
}

static void expect_verdict(const char *body, const char *name, const char *verdict)
{
    char *row = row_of(body, name);
    char *want = xasprintf(">%s</td>", verdict);
    ck_assert_msg(strstr(row, want) != NULL, "%s: %s", name, row);
    free(want);
    free(row);
}

START_TEST(test_versions_page_flags_the_planted_regression)
{
    struct httpc_response r;
    get("/versions?project=web&a=app%3D1&b=app%3D2", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<table class=\"vcompare\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "<option value=\"web\" selected>web</option>"));
    ck_assert_ptr_nonnull(strstr(r.body, "verdict-worse\">regression</span>"));
    expect_verdict(r.body, "latency_p50_ms", "worse");
    expect_verdict(r.body, "latency_p95_ms", "worse");
    expect_verdict(r.body, "error_rate", "no significant difference");
    expect_verdict(r.body, "cost_per_call", "no significant difference");
    char *row = row_of(r.body, "latency_p95_ms");
    ck_assert_ptr_nonnull(strstr(row, "class=\"verdict verdict-worse\""));
    ck_assert_ptr_nonnull(strstr(row, "400 / 400"));
    free(row);
    httpc_response_release(&r);
    /* the defaults: the newest (app=3) against the one before it: no regression */
    get("/versions?project=web", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<table class=\"vcompare\">"));
    ck_assert_ptr_null(strstr(r.body, "verdict verdict-worse"));
    expect_verdict(r.body, "latency_p95_ms", "no significant difference");
    httpc_response_release(&r);
    /* the form sent with every choice left at its default: the most recent project */
    get("/versions?project=&a=&b=&compare=1", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "B against A in <code>web</code>"));
    expect_verdict(r.body, "latency_p50_ms", "no significant difference");
    httpc_response_release(&r);
    /* a plain /versions page compares nothing */
    get("/versions", 200, &r);
    ck_assert_ptr_null(strstr(r.body, "<table class=\"vcompare\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "href=\"/versions/regressions\""));
    httpc_response_release(&r);
    /* too little data is said so */
    get("/versions?project=%3Cb%3Emarkup%3C%2Fb%3E", 200, &r);
    expect_verdict(r.body, "latency_p95_ms", "not enough data");
    ck_assert_ptr_null(strstr(r.body, "<b>markup"));
    ck_assert_ptr_null(strstr(r.body, "<i>2"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;b&gt;markup&lt;/b&gt;"));
    httpc_response_release(&r);
    get("/versions?project=web&a=app%3D1&b=app%3D1", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "No significance test: A and B are the same"));
    httpc_response_release(&r);
    get("/versions?a=v1&b=app%3D2", 200, &r); /* two projects: side by side, no test */
    ck_assert_ptr_nonnull(strstr(r.body, "<table class=\"compare\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "No significance test: no calls are stored under"
                                         " version_set &#39;v1&#39; in project &#39;web&#39;"));
    httpc_response_release(&r);
    get("/versions?project=nope", 404, &r);
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_regressions_page_lists_the_change_that_regressed)
{
    struct httpc_response r;
    get("/versions/regressions", 200, &r);
    const char *web = strstr(r.body, "data-project=\"web\"");
    const char *api = strstr(r.body, "data-project=\"api\"");
    ck_assert(web && api && web < api); /* most recently active first */
    const char *end = strstr(web, "</section>");
    ck_assert_ptr_nonnull(end);
    char *sec = xstrndup(web, (size_t)(end - web));
    ck_assert_ptr_nonnull(strstr(sec, "1 changes with a regression"));
    const char *bad = strstr(sec, "<tr class=\"regressed\"><td class=\"nowrap\"><code>app=1</code>"
                                  " → <code>app=2</code>");
    ck_assert_ptr_nonnull(bad);
    const char *bad_end = strstr(bad, "</tr>");
    ck_assert_ptr_nonnull(strstr(bad, "verdict-worse\">p95 latency</span>"));
    ck_assert(strstr(bad, "verdict-worse\">p95 latency</span>") < bad_end);
    const char *good = strstr(sec, "<code>app=2</code> → <code>app=3</code>");
    ck_assert_ptr_nonnull(good);
    ck_assert(strstr(good, "<span class=\"muted\">nothing</span>") < strstr(good, "</tr>"));
    ck_assert(good < bad); /* newest change first */
    ck_assert_ptr_nonnull(strstr(sec, "<h3>p95 latency</h3>"));
    ck_assert_ptr_nonnull(strstr(sec, "<svg"));
    ck_assert_ptr_nonnull(strstr(sec, "p95 latency by version_set"));
    free(sec);
    end = strstr(api, "</section>");
    sec = xstrndup(api, (size_t)(end - api));
    ck_assert_ptr_nonnull(strstr(sec, "0 changes with a regression"));
    ck_assert_ptr_null(strstr(sec, "<svg"));
    free(sec);
    ck_assert_ptr_null(strstr(r.body, "<b>markup"));
    httpc_response_release(&r);
    get("/versions/regressions?project=api", 200, &r);
    ck_assert_ptr_null(strstr(r.body, "data-project=\"web\""));
    ck_assert_ptr_nonnull(strstr(r.body, "data-project=\"api\""));
    httpc_response_release(&r);
    get("/versions/regressions?project=nope", 404, &r);
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_compare_api_answers_what_the_cli_prints)
{
    struct httpc_response r;
    get("/api/v1/versions/compare?project=web&a=app%3D1&b=app%3D2", 200, &r);
    const char *ct = httpc_header(&r, "Content-Type");
    ck_assert(ct && strncmp(ct, "application/json", 16) == 0);
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(tu_llmtap_run(ts.dir, &out, &err,
                                   "versions compare app=1 app=2 --project web --json --db '%s'",
                                   ts.db),
                     1);
    size_t n = strlen(out);
    ck_assert(n > 0 && out[n - 1] == '\n');
    out[n - 1] = '\0';
    ck_assert_str_eq(r.body, out);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "regression")));
    cJSON_Delete(j);
    free(out);
    free(err);
    httpc_response_release(&r);
    get("/api/v1/versions/compare?project=web", 200, &r); /* defaults */
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "b")->valuestring, "app=3");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "regression")));
    cJSON_Delete(j);
    httpc_response_release(&r);
    get("/api/v1/versions/compare?a=app%3D1&b=app%3D9", 404, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"NOT_FOUND\""));
    ck_assert_ptr_nonnull(strstr(r.body, "app=9"));
    httpc_response_release(&r);
    get("/api/v1/versions/compare?project=web&until=2026-03-03T12:00:00Z", 200, &r);
    j = cJSON_Parse(r.body); /* app=3 started later: B is app=2 */
    ck_assert_str_eq(cJSON_GetObjectItem(j, "b")->valuestring, "app=2");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "regression")));
    cJSON_Delete(j);
    httpc_response_release(&r);
    get("/api/v1/versions/compare?since=soon", 400, &r);
    httpc_response_release(&r);
    get("/api/v1/versions/compare?alpha=3", 400, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"INVALID_INPUT\""));
    httpc_response_release(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("versions_ui");
    TCase *tc = tcase_create("pages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_versions_page_flags_the_planted_regression);
    tcase_add_test(tc, test_regressions_page_lists_the_change_that_regressed);
    tcase_add_test(tc, test_compare_api_answers_what_the_cli_prints);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
