/*
 * The web UI over real HTTP: a server on a fresh store holding generated
 * traffic (fixtures/spangen, five days up to now) plus a few crafted spans.
 * Every page answers with its security headers; keyset pages walked to the
 * end list every LLM call exactly once in the order SQL gives; a search and
 * filters narrow it; bad parameters are 400 pages with a message, never a
 * 500; traffic text is escaped everywhere; the CSV equals the rollups; and
 * --ui-dir serves templates edited on disk without a restart.
 * The evals pages run over a store seeded (before the server starts) with
 * eval runs saved through evals_apply and scores on a few spans: the runs
 * and the trend, a run's summary and cases (paged, losses only, hostile
 * output escaped), unknown runs, and the scores on the trace and versions
 * pages.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ingest.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "fixtures/spangen.h"
#include "store/evals.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/httpc.h"
#include "tests/support/srv.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define NSPANS 2500
#define NS_PER_DAY 86400000000000LL

static char *dir, *db;
static struct srv server;
static const char phrase_trace[] = "0123456789abcdef0123456789abcdef";

static void post_spans(const char *body, size_t len)
{
    struct httpc_request req = {.method = "POST",
                                .path = "/api/v1/spans",
                                .content_type = "application/x-ndjson",
                                .body = body,
                                .body_len = len};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 30000, &r), HTTPC_OK);
    ck_assert_msg(r.status == 200, "ingest answered %d: %s", r.status, r.body);
    httpc_response_release(&r);
}

/* Crafted spans: one to search for, one hostile, one with a hostile model. */
static void post_crafted(int64_t now)
{
    char *s = xasprintf(
        "{\"trace_id\":\"%s\",\"span_id\":\"00000000000000aa\",\"kind\":\"llm\","
        "\"name\":\"chat gpt-4o-mini\",\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\","
        "\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"session\":\"sess ui/1\","
        "\"input\":[{\"role\":\"system\",\"content\":\"You help with ferries.\"},"
        "{\"role\":\"user\",\"content\":\"where is the violet submarine timetable\"}],"
        "\"output\":{\"role\":\"assistant\",\"content\":\"At pier 4.\"},"
        "\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}\n"
        "{\"trace_id\":\"fedcba9876543210fedcba9876543210\",\"span_id\":\"00000000000000bb\","
        "\"kind\":\"llm\",\"name\":%s,\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\","
        "\"provider\":\"openai\",\"model\":%s,\"session\":\"sess ui/1\","
        "\"input\":[{\"role\":\"user\",\"content\":%s}],\"output\":%s,"
        "\"attributes\":{\"k\":%s},\"usage\":{\"input_tokens\":1,\"output_tokens\":1},"
        "\"cost_usd\":0.5}\n",
        phrase_trace, (int64_t)(now - 60000000000LL), (int64_t)(now - 59000000000LL),
        "\"<b>bold</b> name\"", (int64_t)(now - 30000000000LL), (int64_t)(now - 29000000000LL),
        "\"<script>model</script>\"",
        "\"<script>alert(1)</script><img src=x onerror=alert(2)>"
        "<a href=\\\"javascript:alert(3)\\\">x</a>\"",
        "\"<img src=x onerror=alert(4)>\"", "\"<script>attr</script>\"");
    post_spans(s, strlen(s));
    free(s);
}

static void setup(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/ui.db", dir);
    memset(&server, 0, sizeof(server));
    ck_assert_int_eq(srv_start(&server, db, NULL), 0);
    int64_t now = time_now_ns();
    struct spangen *g = spangen_new(7, now - 5 * NS_PER_DAY);
    spangen_set_pace(g, spangen_pace_for_days(4.8, NSPANS));
    struct buf b;
    buf_init(&b, 0);
    while (spangen_count(g) < NSPANS) {
        ck_assert_int_eq(spangen_next_json(g, &b), 0);
        ck_assert_int_eq(buf_putc(&b, '\n'), 0);
    }
    post_spans(b.data, b.len);
    buf_release(&b);
    spangen_free(g);
    post_crafted(now);
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

/* GET 'path' on 'url'; the caller releases 'r'. */
static void get_from(const char *url, const char *path, struct httpc_response *r)
{
    struct httpc_request req = {.method = "GET", .path = path};
    int rc = httpc_fetch(url, &req, 30000, r);
    ck_assert_msg(rc == HTTPC_OK, "GET %s: %s", path, httpc_strerror(rc));
}

static void get(const char *path, struct httpc_response *r)
{
    get_from(server.url, path, r);
}

static void assert_headers(const struct httpc_response *r, const char *path)
{
    const char *csp = httpc_header(r, "Content-Security-Policy");
    ck_assert_msg(csp && strcmp(csp, "default-src 'self'") == 0, "%s: CSP %s", path,
                  csp ? csp : "(none)");
    const char *nosniff = httpc_header(r, "X-Content-Type-Options");
    ck_assert_msg(nosniff && strcmp(nosniff, "nosniff") == 0, "%s: nosniff", path);
    const char *ref = httpc_header(r, "Referrer-Policy");
    ck_assert_msg(ref && strcmp(ref, "no-referrer") == 0, "%s: Referrer-Policy", path);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- every page -------------------------------------------------------- */

START_TEST(test_ui_every_page_answers_with_its_security_headers)
{
    char *trace = srv_query(db, "SELECT trace_id FROM spans WHERE kind = 'chain' LIMIT 1");
    ck_assert_ptr_nonnull(trace);
    cJSON *rows = cJSON_Parse(trace);
    const char *tid = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "trace_id")->valuestring;
    char *tpath = xasprintf("/traces/%s", tid);
    const char *paths[] = {"/",
                           "/traces",
                           tpath,
                           "/sessions/sess%20ui%2F1",
                           "/costs",
                           "/costs?by=user",
                           "/costs?by=day",
                           "/costs.csv",
                           "/versions",
                           "/evals",
                           "/static/llmtap.css",
                           "/static/favicon.svg"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct httpc_response r;
        get(paths[i], &r);
        ck_assert_msg(r.status == 200, "%s answered %d: %.300s", paths[i], r.status, r.body);
        assert_headers(&r, paths[i]);
        const char *ct = httpc_header(&r, "Content-Type");
        ck_assert_ptr_nonnull(ct);
        if (strncmp(paths[i], "/static/", 8) != 0 && strncmp(paths[i], "/costs.csv", 10) != 0) {
            ck_assert_msg(strncmp(ct, "text/html", 9) == 0, "%s: %s", paths[i], ct);
            ck_assert_msg(strstr(r.body, "<script") == NULL, "%s has a script tag", paths[i]);
        }
        httpc_response_release(&r);
    }
    struct httpc_response r;
    get(tpath, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "class=\"waterfall\""));
    ck_assert_ptr_nonnull(strstr(r.body, "class=\"chat\""));
    ck_assert_ptr_nonnull(strstr(r.body, "Raw JSON"));
    httpc_response_release(&r);
    get("/", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<svg"));
    ck_assert_ptr_nonnull(strstr(r.body, "Spend today"));
    httpc_response_release(&r);
    free(tpath);
    cJSON_Delete(rows);
    free(trace);
}
END_TEST

/* ---- keyset pages ------------------------------------------------------ */

/* The span ids of a /traces page, in order, appended to 'ids' (a JSON
 * array); the next page's path into 'next' (empty when none). */
static void page_ids(const char *body, cJSON *ids, char *next, size_t n)
{
    const char *p = body;
    const char *tbody = strstr(p, "<tbody>");
    const char *end = tbody ? strstr(tbody, "</tbody>") : NULL;
    ck_assert_ptr_nonnull(end);
    for (p = tbody; (p = strstr(p, "<td class=\"nowrap\"><a href=\"/traces/")) && p < end;) {
        const char *hash = strstr(p, "#span-");
        ck_assert_ptr_nonnull(hash);
        char id[17];
        memcpy(id, hash + 6, 16);
        id[16] = '\0';
        cJSON_AddItemToArray(ids, cJSON_CreateString(id));
        p = hash;
    }
    next[0] = '\0';
    const char *rel = strstr(body, "rel=\"next\" href=\"");
    if (!rel)
        return;
    rel += strlen("rel=\"next\" href=\"");
    size_t k = 0;
    for (; *rel && *rel != '"' && k + 1 < n; rel++) { /* undo the HTML escaping of & */
        if (strncmp(rel, "&amp;", 5) == 0)
            next[k++] = '&', rel += 4;
        else
            next[k++] = *rel;
    }
    next[k] = '\0';
}

/* Walk every page of 'first' and compare the ids with 'sql''s span_id column. */
static void assert_pages_equal(const char *first, const char *sql)
{
    cJSON *ids = cJSON_CreateArray();
    char path[2048];
    snprintf(path, sizeof(path), "%s", first);
    int pages = 0;
    while (path[0]) {
        struct httpc_response r;
        get(path, &r);
        ck_assert_msg(r.status == 200, "%s answered %d", path, r.status);
        page_ids(r.body, ids, path, sizeof(path));
        httpc_response_release(&r);
        ck_assert_int_lt(++pages, 1000);
    }
    char *want = srv_query(db, sql);
    ck_assert_ptr_nonnull(want);
    cJSON *rows = cJSON_Parse(want);
    ck_assert_int_eq(cJSON_GetArraySize(ids), cJSON_GetArraySize(rows));
    for (int i = 0; i < cJSON_GetArraySize(rows); i++) {
        const char *w = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, i), "span_id")->valuestring;
        const char *got = cJSON_GetArrayItem(ids, i)->valuestring;
        ck_assert_msg(strcmp(w, got) == 0, "%s: row %d is %s, SQL says %s", first, i, got, w);
    }
    ck_assert_int_gt(pages, 1);
    cJSON_Delete(rows);
    free(want);
    cJSON_Delete(ids);
}

START_TEST(test_ui_keyset_pages_list_every_call_once_in_order)
{
    assert_pages_equal("/traces", "SELECT span_id FROM spans WHERE kind IN ('llm', 'embedding')"
                                  " ORDER BY start_ns DESC, span_id DESC");
    assert_pages_equal("/traces?sort=cost",
                       "SELECT span_id FROM spans WHERE kind IN ('llm', 'embedding')"
                       " ORDER BY coalesce(cost_nusd, -1) DESC, span_id DESC");
    assert_pages_equal("/traces?sort=latency&status=ok",
                       "SELECT span_id FROM spans WHERE kind IN ('llm', 'embedding')"
                       " AND status = 'ok' ORDER BY end_ns - start_ns DESC, span_id DESC");
}
END_TEST

START_TEST(test_ui_search_and_filters_narrow_the_list)
{
    struct httpc_response r;
    get("/traces?q=%22violet+submarine%22", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, phrase_trace));
    ck_assert_ptr_nonnull(strstr(r.body, "class=\"snippet\""));
    ck_assert_ptr_null(strstr(r.body, "fedcba9876543210fedcba9876543210"));
    httpc_response_release(&r);
    get("/traces?q=%22submarine+violet%22", &r); /* the words, not the phrase */
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, phrase_trace));
    httpc_response_release(&r);
    get("/traces?q=violet&model=claude-haiku-4-5", &r);
    ck_assert_ptr_null(strstr(r.body, phrase_trace));
    httpc_response_release(&r);
    get("/traces?q=violet&model=gpt-4o-mini&session=sess+ui%2F1", &r);
    ck_assert_ptr_nonnull(strstr(r.body, phrase_trace));
    httpc_response_release(&r);
    assert_pages_equal("/traces?model=gpt-4o-mini&provider=openai",
                       "SELECT span_id FROM spans WHERE kind IN ('llm', 'embedding')"
                       " AND model = 'gpt-4o-mini' AND provider = 'openai'"
                       " ORDER BY start_ns DESC, span_id DESC");
}
END_TEST

/* ---- bad input --------------------------------------------------------- */

START_TEST(test_ui_bad_parameters_are_pages_with_a_message)
{
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/traces?from=yesterday-ish", 400},
        {"/traces?to=31%2F12", 400},
        {"/traces?status=great", 400},
        {"/traces?sort=sideways", 400},
        {"/traces?after=zz", 400},
        {"/traces?after=12_abc", 400},
        {"/traces?q=%21%21%21", 400},
        {"/traces/not-hex", 400},
        {"/traces/ffffffffffffffffffffffffffffffff", 404},
        {"/sessions/no-such-session", 404},
        {"/costs?by=color", 400},
        {"/costs?from=1d&to=30d", 400},
        {"/costs?from=soon", 400},
        {"/versions?a=nope&b=nada", 404},
        {"/static/..%2Fui.db", 404},
        {"/static/nothing.css", 404},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct httpc_response r;
        get(cases[i].path, &r);
        ck_assert_msg(r.status == cases[i].status, "%s answered %d, not %d: %.300s", cases[i].path,
                      r.status, cases[i].status, r.body);
        if (strncmp(cases[i].path, "/static/", 8) == 0) {
            httpc_response_release(&r);
            continue;
        }
        assert_headers(&r, cases[i].path);
        ck_assert_msg(strstr(r.body, "class=\"flash\"") != NULL, "%s: no message", cases[i].path);
        httpc_response_release(&r);
    }
    const char *posts[] = {"/traces", "/", "/costs", "/static/llmtap.css"};
    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
        struct httpc_request req = {.method = "POST",
                                    .path = posts[i],
                                    .content_type = "text/plain",
                                    .body = "x=1",
                                    .body_len = 3};
        struct httpc_response r;
        ck_assert_int_eq(httpc_fetch(server.url, &req, 30000, &r), HTTPC_OK);
        ck_assert_msg(r.status == 405, "POST %s answered %d", posts[i], r.status);
        ck_assert_str_eq(httpc_header(&r, "Allow"), "GET, HEAD");
        httpc_response_release(&r);
    }
    char *longq = xmalloc(6000);
    memcpy(longq, "/traces?q=", 10);
    memset(longq + 10, 'a', 5000);
    longq[5010] = '\0';
    struct httpc_response r;
    get(longq, &r);
    ck_assert_int_eq(r.status, 400);
    httpc_response_release(&r);
    free(longq);
}
END_TEST

/* ---- escaping ---------------------------------------------------------- */

START_TEST(test_ui_traffic_text_is_escaped_everywhere)
{
    const char *paths[] = {"/traces/fedcba9876543210fedcba9876543210",
                           "/traces",
                           "/traces?model=%3Cscript%3Emodel%3C%2Fscript%3E",
                           "/sessions/sess%20ui%2F1",
                           "/costs",
                           "/costs?by=day",
                           "/",
                           "/versions"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct httpc_response r;
        get(paths[i], &r);
        ck_assert_msg(r.status == 200, "%s answered %d", paths[i], r.status);
        ck_assert_msg(strstr(r.body, "<script") == NULL, "%s holds a raw <script", paths[i]);
        ck_assert_msg(strstr(r.body, "<img") == NULL, "%s holds a raw <img", paths[i]);
        ck_assert_msg(strstr(r.body, "<b>bold") == NULL, "%s holds raw markup", paths[i]);
        ck_assert_msg(strstr(r.body, "href=\"javascript:") == NULL, "%s: javascript: link",
                      paths[i]);
        httpc_response_release(&r);
    }
    struct httpc_response r;
    get(paths[0], &r);
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;img src=x onerror=alert(4)&gt;"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;b&gt;bold&lt;/b&gt; name"));
    httpc_response_release(&r);
    get("/costs", &r); /* the model is a chart legend and a table row */
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;model&lt;/script&gt;"));
    httpc_response_release(&r);
}
END_TEST

/* ---- odd trees --------------------------------------------------------- */

START_TEST(test_ui_deep_and_looping_trees_render)
{
    int64_t t0 = time_now_ns() - 3600000000000LL;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 1500; i++) { /* one chain 1,500 deep */
        char parent[64] = "";
        if (i)
            snprintf(parent, sizeof(parent), ",\"parent_span_id\":\"%016x\"", i);
        ck_assert_int_eq(buf_printf(&b,
                                    "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\"%s,"
                                    "\"kind\":\"chain\",\"name\":\"step %d\","
                                    "\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\"}\n",
                                    0xdee9, i + 1, parent, i, (int64_t)(t0 + i * 1000000LL),
                                    (int64_t)(t0 + 2000000000LL)),
                         0);
    }
    /* two spans that name each other as parent */
    ck_assert_int_eq(
        buf_printf(&b,
                   "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\","
                   "\"parent_span_id\":\"%016x\",\"kind\":\"tool\","
                   "\"name\":\"a\",\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\"}\n"
                   "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\","
                   "\"parent_span_id\":\"%016x\",\"kind\":\"tool\","
                   "\"name\":\"b\",\"start_ns\":\"%" PRId64 "\",\"end_ns\":\"%" PRId64 "\"}\n",
                   0x1009, 1, 2, t0, t0 + 5, 0x1009, 2, 1, t0 + 1, t0 + 9),
        0);
    post_spans(b.data, b.len);
    buf_release(&b);
    struct httpc_response r;
    char path[64];
    snprintf(path, sizeof(path), "/traces/%032x", 0xdee9);
    get(path, &r);
    ck_assert_msg(r.status == 200, "a 1,500-deep trace answered %d", r.status);
    ck_assert_ptr_nonnull(strstr(r.body, "depth-12"));
    ck_assert_ptr_nonnull(strstr(r.body, "step 1499"));
    httpc_response_release(&r);
    snprintf(path, sizeof(path), "/traces/%032x", 0x1009);
    get(path, &r);
    ck_assert_msg(r.status == 200, "a looping trace answered %d", r.status);
    ck_assert_int_eq(count_of(r.body, "class=\"wf-row"), 2);
    httpc_response_release(&r);
}
END_TEST

/* ---- costs ------------------------------------------------------------- */

START_TEST(test_ui_costs_csv_equals_the_rollup)
{
    struct httpc_response r;
    get("/costs.csv?by=model&from=30d", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(httpc_header(&r, "Content-Type"), "text/csv"));
    ck_assert_ptr_nonnull(strstr(httpc_header(&r, "Content-Disposition"), "attachment"));
    char *want = srv_query(db, "SELECT model, sum(calls) AS calls, total(cost_nusd) / 1e9 AS cost"
                               " FROM rollup_daily WHERE model <> ''"
                               " GROUP BY 1 ORDER BY 3 DESC, 1");
    ck_assert_ptr_nonnull(want);
    cJSON *rows = cJSON_Parse(want);
    char *line = strstr(r.body, "\r\n");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(strncmp(r.body, "model,calls,input_tokens", 24), 0);
    int n = 0;
    for (line += 2; *line; n++) {
        char *eol = strstr(line, "\r\n");
        ck_assert_ptr_nonnull(eol);
        *eol = '\0';
        cJSON *w = cJSON_GetArrayItem(rows, n);
        ck_assert_ptr_nonnull(w);
        const char *model = cJSON_GetObjectItem(w, "model")->valuestring;
        char key[256];
        const char *comma = strchr(line, ',');
        snprintf(key, sizeof(key), "%.*s", (int)(comma - line), line);
        ck_assert_str_eq(key, model);
        long calls = strtol(comma + 1, NULL, 10);
        ck_assert_int_eq(calls, (long)cJSON_GetObjectItem(w, "calls")->valuedouble);
        const char *c4 = comma;
        for (int k = 0; k < 3; k++)
            c4 = strchr(c4 + 1, ',');
        double cost = strtod(c4 + 1, NULL);
        ck_assert_double_eq_tol(cost, cJSON_GetObjectItem(w, "cost")->valuedouble, 1e-9);
        line = eol + 2;
    }
    ck_assert_int_eq(n, cJSON_GetArraySize(rows));
    ck_assert_int_gt(n, 3);
    cJSON_Delete(rows);
    free(want);
    httpc_response_release(&r);
}
END_TEST

/* ---- an empty store ---------------------------------------------------- */

START_TEST(test_ui_pages_of_an_empty_store)
{
    char *db2 = xasprintf("%s/empty.db", dir);
    struct srv two;
    memset(&two, 0, sizeof(two));
    ck_assert_int_eq(srv_start(&two, db2, NULL), 0);
    const char *paths[] = {"/",          "/traces",        "/traces?q=anything",
                           "/costs",     "/costs?by=user", "/costs?by=day",
                           "/costs.csv", "/versions",      "/evals"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct httpc_response r;
        get_from(two.url, paths[i], &r);
        ck_assert_msg(r.status == 200, "%s on an empty store answered %d", paths[i], r.status);
        httpc_response_release(&r);
    }
    struct httpc_response r;
    get_from(two.url, "/", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "No calls are stored yet"));
    ck_assert_ptr_nonnull(strstr(r.body, "no data"));
    httpc_response_release(&r);
    ck_assert_int_eq(srv_stop(&two, SIGTERM, 20000), 0);
    srv_release(&two);
    free(db2);
}
END_TEST

/* ---- --ui-dir ---------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_ui_dir_serves_templates_edited_on_disk)
{
    char *ui = xasprintf("%s/ui", dir);
    char *cmd = xasprintf("mkdir -p '%s' && cp -r ui/templates ui/static '%s/'", ui, ui);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    char *db2 = xasprintf("%s/two.db", dir);
    const char *extra[] = {"--ui-dir", ui, NULL};
    struct srv two;
    memset(&two, 0, sizeof(two));
    ck_assert_int_eq(srv_start(&two, db2, extra), 0);
    struct httpc_response r;
    get_from(two.url, "/versions", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, "edited-on-disk"));
    httpc_response_release(&r);
    char *tpl = xasprintf("%s/templates/versions.mustache", ui);
    write_file(tpl, "{{<layout}}{{$main}}<p>edited-on-disk</p>{{/main}}{{/layout}}");
    get_from(two.url, "/versions", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<p>edited-on-disk</p>"));
    httpc_response_release(&r);
    write_file(tpl, "{{#broken}} never closed");
    get_from(two.url, "/versions", &r);
    ck_assert_int_eq(r.status, 500);
    ck_assert_ptr_nonnull(strstr(r.body, "cannot be rendered"));
    httpc_response_release(&r);
    char *css = xasprintf("%s/static/llmtap.css", ui);
    write_file(css, "body { color: red; }");
    get_from(two.url, "/static/llmtap.css", &r);
    ck_assert_str_eq(r.body, "body { color: red; }");
    httpc_response_release(&r);
    ck_assert_int_eq(srv_stop(&two, SIGTERM, 20000), 0);
    srv_release(&two);
    free(css);
    free(tpl);
    free(db2);
    free(ui);
}
END_TEST

/* ---- evals --------------------------------------------------------------- */

#define RUN_A "a0a0a0a0a0a0a0a1" /* support@1 vs support@2: a regression, a hostile output */
#define RUN_B "b0b0b0b0b0b0b0b2" /* support@2 vs support@3, 205 cases: two pages */
#define RUN_C "c0c0c0c0c0c0c0c3" /* suite "smoke", support@3 alone, 2 repeats, interrupted */
#define EVAL_TRACE "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0"
static const char hostile[] = "<script>alert(1)</script>";

struct rep {
    const char *run_id, *suite, *finished, *prompts[2];
    int nvariants, ncases, repeats, interrupted;
};

/* Case 'c''s score for variant 'v' in run 'r' (case 2 of A is the loss). */
static double rep_score(const struct rep *r, int c, int v)
{
    if (r->run_id[0] == 'a')
        return c == 1 ? (v ? 0.25 : 1.0) : (v ? 0.75 : 0.5);
    return v ? 0.7 : 0.6;
}

static cJSON *rep_interval(double mean)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", mean);
    cJSON_AddNumberToObject(o, "lo", mean - 0.125);
    cJSON_AddNumberToObject(o, "hi", mean + 0.125);
    cJSON_AddNumberToObject(o, "sd", 0.1);
    cJSON_AddNumberToObject(o, "n", 3);
    return o;
}

static double rep_mean(const struct rep *r, int v)
{
    double sum = 0;
    for (int c = 0; c < r->ncases; c++)
        sum += rep_score(r, c, v);
    return sum / r->ncases;
}

static cJSON *rep_comparison(const struct rep *r)
{
    if (r->nvariants < 2)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    int losses = 0;
    for (int c = 0; c < r->ncases; c++)
        losses += rep_score(r, c, 1) < rep_score(r, c, 0);
    cJSON_AddItemToObject(o, "diff", rep_interval(rep_mean(r, 1) - rep_mean(r, 0)));
    cJSON_AddNumberToObject(o, "wins", r->ncases - losses);
    cJSON_AddNumberToObject(o, "ties", 0);
    cJSON_AddNumberToObject(o, "losses", losses);
    cJSON_AddNumberToObject(o, "sign_p", 0.0312);
    cJSON_AddNumberToObject(o, "wilcoxon_p", 0.0004);
    return o;
}

static cJSON *rep_output(const struct rep *r, int c, int v)
{
    cJSON *o = cJSON_CreateObject();
    char text[128];
    snprintf(text, sizeof(text), "answer %d of %c", c + 1, 'A' + v);
    int hostile_one = r->run_id[0] == 'a' && c == 1 && v == 1;
    cJSON_AddTrueToObject(o, "ok");
    cJSON_AddStringToObject(o, "text", hostile_one ? hostile : text);
    cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "latency_ms", 140);
    cJSON_AddNumberToObject(o, "cost_usd", 0.0012);
    cJSON_AddNumberToObject(o, "input_tokens", 20);
    cJSON_AddNumberToObject(o, "output_tokens", 9);
    cJSON_AddFalseToObject(o, "cached");
    cJSON_AddStringToObject(o, "trace_id", EVAL_TRACE);
    cJSON_AddStringToObject(o, "span_id", "00000000000000e1");
    cJSON_AddNumberToObject(o, "score", rep_score(r, c, v));
    cJSON *one = cJSON_CreateObject();
    cJSON_AddNumberToObject(one, "value", rep_score(r, c, v));
    cJSON_AddBoolToObject(one, "pass", rep_score(r, c, v) >= 0.5);
    cJSON_AddFalseToObject(one, "error");
    cJSON_AddStringToObject(
        one, "reason", hostile_one ? "the judge saw <b>markup</b>" : "the judge found it helpful");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "scores"), one);
    return o;
}

static cJSON *rep_case(const struct rep *r, int c)
{
    cJSON *o = cJSON_CreateObject();
    char id[16], q[64];
    snprintf(id, sizeof(id), "%d", c + 1);
    snprintf(q, sizeof(q), "question number %d", c + 1);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "vars"), "question", q);
    cJSON_AddStringToObject(o, "expected", "expected-answer");
    cJSON_AddNullToObject(o, "metadata");
    cJSON *scores = cJSON_AddArrayToObject(o, "scores");
    cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
    for (int v = 0; v < r->nvariants; v++) {
        cJSON_AddItemToArray(scores, cJSON_CreateNumber(rep_score(r, c, v)));
        cJSON *per = cJSON_CreateArray();
        for (int k = 0; k < r->repeats; k++)
            cJSON_AddItemToArray(per, rep_output(r, c, v));
        cJSON_AddItemToArray(outs, per);
    }
    return o;
}

/* {"op":"save_run","report":...} as gate_write_json would write it. */
static cJSON *rep_op(const struct rep *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", r->run_id);
    cJSON_AddStringToObject(o, "suite", r->suite);
    cJSON_AddStringToObject(o, "started", "2026-03-01T00:00:00.000Z");
    cJSON_AddStringToObject(o, "finished", r->finished);
    cJSON_AddBoolToObject(o, "interrupted", r->interrupted);
    int regression = r->run_id[0] == 'a';
    cJSON_AddStringToObject(o, "verdict", regression ? "regression" : "pass");
    cJSON_AddStringToObject(o, "reason",
                            regression ? "candidate worse: the interval lies below -0.05"
                                       : "no regression beyond 0.05");
    cJSON_AddNumberToObject(o, "repeats", r->repeats);
    cJSON *g = cJSON_AddObjectToObject(o, "gate");
    cJSON_AddNumberToObject(g, "min_score", 0.5);
    cJSON_AddNumberToObject(g, "max_regression", 0.05);
    cJSON_AddNumberToObject(g, "alpha", 0.05);
    cJSON *vs = cJSON_AddArrayToObject(o, "variants");
    for (int v = 0; v < r->nvariants; v++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", v ? "candidate" : "baseline");
        cJSON_AddStringToObject(x, "prompt", r->prompts[v]);
        cJSON_AddStringToObject(x, "model", "gpt-4o-mini");
        cJSON_AddStringToObject(x, "upstream", "openai");
        cJSON_AddItemToObject(x, "score", rep_interval(rep_mean(r, v)));
        cJSON_AddNumberToObject(x, "pass_rate", 0.75);
        cJSON_AddNumberToObject(x, "pass_hat_n", 0.5625);
        cJSON_AddNumberToObject(x, "calls", r->ncases * r->repeats);
        cJSON_AddNumberToObject(x, "failed", 0);
        cJSON_AddNumberToObject(x, "cached", 0);
        cJSON_AddNumberToObject(x, "cost_usd", 0.5);
        cJSON_AddNumberToObject(x, "latency_p50_ms", 140);
        cJSON_AddNumberToObject(x, "latency_p95_ms", 300);
        cJSON_AddItemToArray(vs, x);
    }
    cJSON_AddItemToObject(o, "comparison", rep_comparison(r));
    cJSON *sc = cJSON_CreateObject();
    cJSON_AddStringToObject(sc, "name", "helpful-judge");
    cJSON_AddStringToObject(sc, "type", "judge");
    cJSON_AddNumberToObject(sc, "weight", 1);
    cJSON_AddNumberToObject(sc, "threshold", 0.5);
    cJSON *svs = cJSON_AddArrayToObject(sc, "variants");
    for (int v = 0; v < r->nvariants; v++) {
        cJSON *iv = rep_interval(rep_mean(r, v));
        cJSON_AddNumberToObject(iv, "pass_rate", 0.75);
        cJSON_AddItemToArray(svs, iv);
    }
    cJSON_AddItemToObject(sc, "comparison", rep_comparison(r));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "scorers"), sc);
    cJSON *cases = cJSON_AddArrayToObject(o, "cases");
    for (int c = 0; c < r->ncases; c++)
        cJSON_AddItemToArray(cases, rep_case(r, c));
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "save_run");
    cJSON_AddItemToObject(op, "report", o);
    return op;
}

static int save_fn(sqlite3 *h, void *ctx, char *err, size_t errlen)
{
    struct buf answer;
    buf_init(&answer, 4096);
    int rc = evals_apply(h, ctx, &answer, err, errlen);
    buf_release(&answer);
    return rc;
}

static void seed_add_score(struct ingest_batch *b, int span, const char *name, double v,
                           const char *comment)
{
    static int seq;
    struct rec_score *s = ingest_add_score(b);
    s->project = xstrdup("default");
    s->id = xasprintf("ui-score-%d", ++seq);
    snprintf(s->trace_id, sizeof(s->trace_id), "%s", EVAL_TRACE);
    snprintf(s->span_id, sizeof(s->span_id), "00000000000000e%d", span);
    s->name = xstrdup(name);
    s->value = v;
    s->data_type = xstrdup("NUMERIC");
    s->comment = comment ? xstrdup(comment) : NULL;
    s->source = xstrdup("eval");
    s->time_ns = time_now_ns() - 1000000000LL + seq;
}

/* Three spans of one trace under two version_sets, scores on them, and
 * the three runs, written through a writer of the test's own. */
static void seed_evals(const char *path)
{
    char err[256];
    struct store *st = NULL;
    struct writer *w = NULL;
    struct writer_config cfg;
    writer_config_default(&cfg);
    cfg.compact_keep_hot = -1;
    ck_assert_int_eq(store_open(&st, path, STORE_READWRITE, err, sizeof(err)), STORE_OK);
    ck_assert_int_eq(writer_start(&w, st, &cfg, err, sizeof(err)), LT_OK);
    int64_t t = time_now_ns() - 3600000000000LL;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(
            buf_printf(&b,
                       "{\"trace_id\":\"%s\",\"span_id\":\"00000000000000e%d\","
                       "\"kind\":\"llm\",\"name\":\"answer %d\",\"start_ns\":\"%" PRId64
                       "\",\"end_ns\":\"%" PRId64 "\",\"provider\":\"openai\","
                       "\"model\":\"gpt-4o-mini\",\"version_set\":\"app=%d\","
                       "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}\n",
                       EVAL_TRACE, i, i, (int64_t)(t + i * 1000000LL),
                       (int64_t)(t + i * 1000000LL + 500000LL), i == 1 ? 1 : 2),
            0);
    tu_ingest_json(w, b.data);
    buf_release(&b);
    struct ingest_batch batch;
    ingest_batch_init(&batch);
    seed_add_score(&batch, 1, "helpfulness", 0.8, "<script>alert(1)</script> judged fine");
    seed_add_score(&batch, 2, "helpfulness", 0.4, NULL);
    seed_add_score(&batch, 3, "helpfulness", 0.6, NULL);
    seed_add_score(&batch, 3, "tone", 1.0, NULL);
    ck_assert_int_eq(writer_submit(w, &batch, 1000, err, sizeof(err)), LT_OK);
    ingest_batch_release(&batch);
    const struct rep runs[] = {
        {RUN_A,
         "support-quality",
         "2026-03-01T01:00:00.000Z",
         {"support@1", "support@2"},
         2,
         3,
         1,
         0},
        {RUN_B,
         "support-quality",
         "2026-03-02T01:00:00.000Z",
         {"support@2", "support@3"},
         2,
         205,
         1,
         0},
        {RUN_C, "smoke", "2026-03-03T01:00:00.000Z", {"support@3", NULL}, 1, 2, 2, 1},
    };
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        cJSON *op = rep_op(&runs[i]);
        ck_assert_msg(writer_run(w, save_fn, op, err, sizeof(err)) == LT_OK, "%s", err);
        cJSON_Delete(op);
    }
    writer_stop(w);
    store_close(st);
}

static void setup_evals(void)
{
    dir = tu_tmpdir();
    db = xasprintf("%s/evals.db", dir);
    memset(&server, 0, sizeof(server));
    seed_evals(db);
    ck_assert_int_eq(srv_start(&server, db, NULL), 0);
}

/* GET 'path', expecting 'status' and a page free of raw markup from traffic. */
static void get_page(const char *path, int status, struct httpc_response *r)
{
    get(path, r);
    ck_assert_msg(r->status == status, "%s answered %d, not %d: %.300s", path, r->status, status,
                  r->body);
    assert_headers(r, path);
    ck_assert_msg(strstr(r->body, "<script") == NULL, "%s holds a raw <script", path);
    ck_assert_msg(strstr(r->body, "<b>markup") == NULL, "%s holds raw markup", path);
}

START_TEST(test_ui_evals_lists_runs_newest_first_and_the_trend)
{
    struct httpc_response r;
    get_page("/evals", 200, &r);
    const char *a = strstr(r.body, "/evals/" RUN_A), *b = strstr(r.body, "/evals/" RUN_B),
               *c = strstr(r.body, "/evals/" RUN_C);
    ck_assert(a && b && c);
    ck_assert(c < b && b < a); /* newest first (before the trend's links) */
    ck_assert_ptr_nonnull(strstr(r.body, "aria-current=\"page\">Evals</a>"));
    ck_assert_int_ge(count_of(r.body, ">REGRESSION<"), 1);
    ck_assert_int_ge(count_of(r.body, ">PASS<"), 2);
    ck_assert_int_eq(count_of(r.body, ">interrupted<"), 1);
    ck_assert_ptr_nonnull(strstr(r.body, "<code>support@1</code> → <code>support@2</code>"));
    ck_assert_ptr_nonnull(strstr(r.body, "-0.083"));           /* A's difference... */
    ck_assert_ptr_nonnull(strstr(r.body, "[-0.208, +0.042]")); /* ...and its interval */
    ck_assert_ptr_nonnull(strstr(r.body, "2 / 0 / 1"));
    ck_assert_ptr_nonnull(strstr(r.body, "<option value=\"smoke\">smoke</option>"));
    /* the trend: one chart for "support", versions 1 to 3 */
    const char *trend = strstr(r.body, "Score by prompt version");
    ck_assert_ptr_nonnull(trend);
    ck_assert_ptr_nonnull(strstr(trend, "<svg"));
    ck_assert_ptr_nonnull(strstr(trend, "<code>support</code>"));
    const char *v1 = strstr(trend, "<td>v1</td>"), *v2 = strstr(trend, "<td>v2</td>"),
               *v3 = strstr(trend, "<td>v3</td>");
    ck_assert(v1 && v2 && v3 && v1 < v2 && v2 < v3);
    ck_assert_ptr_nonnull(strstr(v2, RUN_B)); /* v2's newest run is B */
    httpc_response_release(&r);
    get_page("/evals?suite=smoke", 200, &r);
    const char *table_end = strstr(r.body, "</table>");
    ck_assert_ptr_nonnull(table_end);
    const char *ca = strstr(r.body, "/evals/" RUN_A);
    ck_assert(ca == NULL || ca > table_end); /* only in the trend, not the runs */
    ck_assert_ptr_nonnull(strstr(r.body, "/evals/" RUN_C));
    ck_assert_ptr_nonnull(strstr(r.body, "<option value=\"smoke\" selected>"));
    httpc_response_release(&r);
    get_page("/evals?suite=nothing-like-it", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "No evaluation runs"));
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_ui_eval_run_shows_the_summary_and_the_cases)
{
    struct httpc_response r;
    get_page("/evals/" RUN_A, 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "candidate worse: the interval lies below -0.05"));
    ck_assert_ptr_nonnull(strstr(r.body, ">REGRESSION<"));
    ck_assert_ptr_nonnull(strstr(r.body, "<code>support@2</code>"));
    ck_assert_ptr_nonnull(strstr(r.body, "helpful-judge"));
    ck_assert_ptr_nonnull(strstr(r.body, "0.031"));      /* sign test p */
    ck_assert_ptr_nonnull(strstr(r.body, "&lt; 0.001")); /* Wilcoxon p */
    ck_assert_ptr_null(strstr(r.body, "pass^N"));        /* one repeat */
    ck_assert_int_eq(count_of(r.body, "<article class=\"card case"), 3);
    ck_assert_ptr_nonnull(strstr(r.body, "question number 2"));
    ck_assert_ptr_nonnull(strstr(r.body, "expected-answer"));
    ck_assert_ptr_nonnull(strstr(r.body, "answer 1 of A"));
    ck_assert_ptr_nonnull(strstr(r.body, "answer 1 of B"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(r.body, "the judge saw &lt;b&gt;markup&lt;/b&gt;"));
    ck_assert_ptr_nonnull(strstr(r.body, "the judge found it helpful"));
    ck_assert_ptr_nonnull(strstr(r.body, "/traces/" EVAL_TRACE "#span-00000000000000e1"));
    ck_assert_ptr_nonnull(strstr(r.body, ">fail<"));
    ck_assert_ptr_nonnull(strstr(r.body, ">pass<"));
    httpc_response_release(&r);
    get_page("/evals/" RUN_A "?losses=1", 200, &r);
    ck_assert_int_eq(count_of(r.body, "<article class=\"card case"), 1);
    ck_assert_ptr_nonnull(strstr(r.body, "<article class=\"card case loss\" id=\"case-1\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "B − A -0.750"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    httpc_response_release(&r);
    get_page("/evals/" RUN_C, 200, &r); /* one variant, repeats */
    ck_assert_ptr_nonnull(strstr(r.body, "pass^N"));
    ck_assert_ptr_nonnull(strstr(r.body, "repeat 2"));
    ck_assert_ptr_nonnull(strstr(r.body, ">interrupted<"));
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_ui_eval_run_cases_come_in_pages)
{
    struct httpc_response r;
    get_page("/evals/" RUN_B, 200, &r);
    ck_assert_int_eq(count_of(r.body, "<article class=\"card case"), 200);
    const char *next = strstr(r.body, "rel=\"next\" href=\"");
    ck_assert_ptr_nonnull(next);
    ck_assert_int_eq(strncmp(next + 17, "/evals/" RUN_B "?after=199\"", 7 + 16 + 11), 0);
    httpc_response_release(&r);
    get_page("/evals/" RUN_B "?after=199", 200, &r);
    ck_assert_int_eq(count_of(r.body, "<article class=\"card case"), 5);
    ck_assert_ptr_nonnull(strstr(r.body, "id=\"case-200\""));
    ck_assert_ptr_nonnull(strstr(r.body, "Case 205"));
    ck_assert_ptr_null(strstr(r.body, "rel=\"next\""));
    ck_assert_ptr_nonnull(strstr(r.body, "« First page"));
    httpc_response_release(&r);
    get_page("/evals/" RUN_B "?losses=1", 200, &r); /* B never lost */
    ck_assert_int_eq(count_of(r.body, "<article class=\"card case"), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "did not do worse"));
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_ui_unknown_and_malformed_runs)
{
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/evals/0123456789abcdef", 404},   {"/evals/0123456789ABCDEF", 400},
        {"/evals/0123456789abcde", 400},    {"/evals/0123456789abcdef0", 400},
        {"/evals/%3Cscript%3E", 400},       {"/evals/", 400},
        {"/evals/" RUN_A "?after=x", 400},  {"/evals/" RUN_A "?after=-3", 400},
        {"/evals/" RUN_A "?losses=2", 400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct httpc_response r;
        get_page(cases[i].path, cases[i].status, &r);
        ck_assert_msg(strstr(r.body, "class=\"flash\"") != NULL, "%s: no message", cases[i].path);
        httpc_response_release(&r);
    }
    struct httpc_request req = {.method = "POST",
                                .path = "/evals",
                                .content_type = "text/plain",
                                .body = "x=1",
                                .body_len = 3};
    struct httpc_response r;
    ck_assert_int_eq(httpc_fetch(server.url, &req, 30000, &r), HTTPC_OK);
    ck_assert_int_eq(r.status, 405);
    httpc_response_release(&r);
}
END_TEST

START_TEST(test_ui_trace_and_versions_pages_show_eval_scores)
{
    struct httpc_response r;
    get_page("/traces/" EVAL_TRACE, 200, &r);
    const char *s1 = strstr(r.body, "id=\"span-00000000000000e1\"");
    const char *s2 = strstr(r.body, "id=\"span-00000000000000e2\"");
    ck_assert(s1 && s2 && s1 < s2);
    const char *scores = strstr(s1, "<h3>Scores</h3>");
    ck_assert(scores && scores < s2);
    ck_assert_ptr_nonnull(strstr(scores, "<td>helpfulness</td><td class=\"num\">0.8</td>"
                                         "<td>eval</td>"));
    ck_assert_ptr_nonnull(strstr(scores, "&lt;script&gt;alert(1)&lt;/script&gt; judged fine"));
    const char *s3 = strstr(r.body, "id=\"span-00000000000000e3\"");
    ck_assert_ptr_nonnull(s3);
    ck_assert_ptr_nonnull(strstr(s3, "<td>tone</td><td class=\"num\">1</td>"));
    httpc_response_release(&r);
    get_page("/versions", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<th class=\"num score-col\">helpfulness</th>"
                                         "<th class=\"num score-col\">tone</th>"));
    const char *row1 = strstr(r.body, "<tr><td><code>app=1</code>");
    const char *row2 = strstr(r.body, "<tr><td><code>app=2</code>");
    ck_assert(row1 && row2);
    ck_assert_ptr_nonnull(strstr(row1, "0.800<div class=\"muted small\">n = 1</div>"));
    ck_assert_ptr_nonnull(strstr(row2, "0.500<div class=\"muted small\">n = 2</div>"));
    ck_assert_ptr_nonnull(strstr(row2, "1.000<div class=\"muted small\">n = 1</div>"));
    httpc_response_release(&r);
    get_page("/versions?a=app%3D1&b=app%3D2", 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<th>Score: helpfulness</th><td>0.800</td>"
                                         "<td>0.500</td><td class=\"num delta-neg\">-0.300</td>"));
    httpc_response_release(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = tcase_create("pages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ui_every_page_answers_with_its_security_headers);
    tcase_add_test(tc, test_ui_keyset_pages_list_every_call_once_in_order);
    tcase_add_test(tc, test_ui_search_and_filters_narrow_the_list);
    tcase_add_test(tc, test_ui_bad_parameters_are_pages_with_a_message);
    tcase_add_test(tc, test_ui_traffic_text_is_escaped_everywhere);
    tcase_add_test(tc, test_ui_deep_and_looping_trees_render);
    tcase_add_test(tc, test_ui_costs_csv_equals_the_rollup);
    tcase_add_test(tc, test_ui_dir_serves_templates_edited_on_disk);
    tcase_add_test(tc, test_ui_pages_of_an_empty_store);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("evals");
    tcase_add_checked_fixture(te, setup_evals, teardown);
    tcase_set_timeout(te, 120);
    tcase_add_test(te, test_ui_evals_lists_runs_newest_first_and_the_trend);
    tcase_add_test(te, test_ui_eval_run_shows_the_summary_and_the_cases);
    tcase_add_test(te, test_ui_eval_run_cases_come_in_pages);
    tcase_add_test(te, test_ui_unknown_and_malformed_runs);
    tcase_add_test(te, test_ui_trace_and_versions_pages_show_eval_scores);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
