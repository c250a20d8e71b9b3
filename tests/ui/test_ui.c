/*
 * The web UI over real HTTP: a server on a fresh store holding generated
 * traffic (fixtures/spangen, five days up to now) plus a few crafted spans.
 * Every page answers with its security headers; keyset pages walked to the
 * end list every LLM call exactly once in the order SQL gives; a search and
 * filters narrow it; bad parameters are 400 pages with a message, never a
 * 500; traffic text is escaped everywhere; the CSV equals the rollups; and
 * --ui-dir serves templates edited on disk without a restart.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "fixtures/spangen.h"
#include "tests/support/httpc.h"
#include "tests/support/srv.h"
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
    char *cmd = xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
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
                           "/costs.csv", "/versions"};
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
    return s;
}

int main(void)
{
    return tu_run(suite());
}
