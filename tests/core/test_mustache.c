/*
 * mustache: the official spec, every test of every file in
 * ../shared/mustache-spec/specs (read at test time, the optional modules
 * too; one line per file with its count), and what the spec leaves to us:
 * the output ceiling, the depth bound on a partial including itself,
 * syntax errors naming their line, escaping of ', values (numbers, 0 and
 * "" are truthy), lambda errors, one set rendered from many threads while
 * a template is replaced, and each template parsed (loaded) once.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"
#include "core/mustache.h"

/* ---- the spec ---- */

#define SPEC_DIR "mustache-spec/specs"
#define MAX_SPEC_FILES 64

static char *spec_files[MAX_SPEC_FILES];
static int nspec_files;

/* State of a lambda, fresh for each test. */
struct lambda_state {
    int calls;
};

static int lam_put(struct buf *out, const char *s)
{
    return buf_puts(out, s) == BUF_OK ? 0 : -1;
}

static int lam_wrap(struct buf *out, const char *pre, const char *text, size_t len, const char *mid,
                    const char *post)
{
    if (buf_puts(out, pre) || buf_append(out, text, len) || buf_puts(out, mid) ||
        buf_append(out, text, len) || buf_puts(out, post))
        return -1;
    return 0;
}

static int lam_world(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg, (void)text, (void)len;
    return lam_put(out, "world");
}

static int lam_planet(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg, (void)text, (void)len;
    return lam_put(out, "{{planet}}");
}

static int lam_planet_alt(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg, (void)text, (void)len;
    return lam_put(out, "|planet| => {{planet}}");
}

static int lam_count(void *arg, const char *text, size_t len, struct buf *out)
{
    struct lambda_state *st = arg;
    (void)text, (void)len;
    return buf_printf(out, "%d", ++st->calls) == BUF_OK ? 0 : -1;
}

static int lam_gt(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg, (void)text, (void)len;
    return lam_put(out, ">");
}

static int lam_is_x(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg;
    return lam_put(out, len == 5 && memcmp(text, "{{x}}", 5) == 0 ? "yes" : "no");
}

static int lam_around_planet(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg;
    return lam_wrap(out, "", text, len, "{{planet}}", "");
}

static int lam_around_planet_alt(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg;
    return lam_wrap(out, "", text, len, "{{planet}} => |planet|", "");
}

static int lam_underscores(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg;
    if (buf_puts(out, "__") || buf_append(out, text, len) || buf_puts(out, "__"))
        return -1;
    return 0;
}

static int lam_false(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg, (void)text, (void)len, (void)out;
    return 0; /* "false": renders as nothing (and an inverted section never calls it) */
}

/* ~lambdas.json: the C for each test's lambda, and the JavaScript it stands
 * for (so that a changed spec fails here instead of passing by chance). */
static const struct {
    const char *test, *js;
    mustache_lambda_fn fn;
} spec_lambdas[] = {
    {"Interpolation", "function() { return \"world\" }", lam_world},
    {"Interpolation - Expansion", "function() { return \"{{planet}}\" }", lam_planet},
    {"Interpolation - Alternate Delimiters", "function() { return \"|planet| => {{planet}}\" }",
     lam_planet_alt},
    {"Interpolation - Multiple Calls",
     "function() { return (g=(function(){return this})()).calls=(g.calls||0)+1 }", lam_count},
    {"Escaping", "function() { return \">\" }", lam_gt},
    {"Section", "function(txt) { return (txt == \"{{x}}\" ? \"yes\" : \"no\") }", lam_is_x},
    {"Section - Expansion", "function(txt) { return txt + \"{{planet}}\" + txt }",
     lam_around_planet},
    {"Section - Alternate Delimiters",
     "function(txt) { return txt + \"{{planet}} => |planet|\" + txt }", lam_around_planet_alt},
    {"Section - Multiple Calls", "function(txt) { return \"__\" + txt + \"__\" }", lam_underscores},
    {"Inverted Section", "function(txt) { return false }", lam_false},
};

/* Replace every {"__tag__": "code", ...} under 'node' by a cJSON_Raw
 * naming its key; the first code object seen is left in '*code'. */
static void replace_code(cJSON *node, cJSON **code)
{
    cJSON *c = node ? node->child : NULL;
    for (int i = 0; c; i++) {
        cJSON *next = c->next;
        const cJSON *tag = cJSON_GetObjectItemCaseSensitive(c, "__tag__");
        if (cJSON_IsString(tag) && strcmp(tag->valuestring, "code") == 0) {
            if (!*code)
                *code = cJSON_Duplicate(c, 1);
            cJSON *raw = cJSON_CreateRaw(c->string ? c->string : "lambda");
            if (cJSON_IsObject(node))
                cJSON_ReplaceItemInObjectCaseSensitive(node, c->string, raw);
            else
                cJSON_ReplaceItemInArray(node, i, raw);
        } else {
            replace_code(c, code);
        }
        c = next;
    }
}

/* The C lambda for spec test 'name' whose data held 'code'; NULL with a
 * reason in 'why' when there is none or its code is not what we know. */
static mustache_lambda_fn lambda_for(const char *name, const cJSON *code, char *why, size_t whylen)
{
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(code, "js");
    for (size_t i = 0; i < sizeof(spec_lambdas) / sizeof(spec_lambdas[0]); i++) {
        if (strcmp(spec_lambdas[i].test, name) != 0)
            continue;
        if (cJSON_IsString(js) && strcmp(js->valuestring, spec_lambdas[i].js) == 0)
            return spec_lambdas[i].fn;
        snprintf(why, whylen, "the lambda's code changed: %s",
                 cJSON_IsString(js) ? js->valuestring : "(no js)");
        return NULL;
    }
    snprintf(why, whylen, "no C lambda for this test");
    return NULL;
}

/* The loader over a spec test's "partials" object. */
static char *spec_loader(void *arg, const char *name, size_t *len)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(arg, name);
    if (!cJSON_IsString(s))
        return NULL;
    *len = strlen(s->valuestring);
    return xstrdup(s->valuestring);
}

/* Run one spec test; 1 when it passes, else 0 with the reason in 'why'. */
static int run_spec_test(const cJSON *tc, char *why, size_t whylen)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(tc, "name");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(tc, "template");
    const cJSON *expected = cJSON_GetObjectItemCaseSensitive(tc, "expected");
    if (!cJSON_IsString(name) || !cJSON_IsString(tmpl) || !cJSON_IsString(expected)) {
        snprintf(why, whylen, "malformed test");
        return 0;
    }
    cJSON *wrap = cJSON_CreateObject(), *code = NULL; /* a parent, so the root can be code */
    cJSON_AddItemToObject(wrap, "data", cJSON_Duplicate(cJSON_GetObjectItem(tc, "data"), 1));
    replace_code(wrap, &code);
    struct lambda_state st = {0};
    struct mustache_lambda lam = {"lambda", NULL, &st};
    int ok = 0, rc = MUSTACHE_OK;
    char err[256] = "";
    if (code)
        lam.fn = lambda_for(name->valuestring, code, why, whylen);
    struct mustache *m = mustache_new(spec_loader, cJSON_GetObjectItem(tc, "partials"));
    struct buf out;
    buf_init(&out, 1u << 20);
    if (code && !lam.fn)
        goto done;
    rc = mustache_add(m, "test", tmpl->valuestring, strlen(tmpl->valuestring), err, sizeof(err));
    if (rc == MUSTACHE_OK)
        rc = mustache_render(m, "test", cJSON_GetObjectItem(wrap, "data"), &lam, code ? 1 : 0, &out,
                             err, sizeof(err));
    ok = rc == MUSTACHE_OK && strcmp(buf_str(&out), expected->valuestring) == 0;
    if (!ok)
        snprintf(why, whylen, "rc %d %s, got \"%s\"", rc, err, buf_str(&out));
done:
    buf_release(&out);
    mustache_free(m);
    cJSON_Delete(code);
    cJSON_Delete(wrap);
    return ok;
}

START_TEST(test_spec_file_passes_every_test)
{
    ck_assert_msg(nspec_files > 0, "no spec files in %s", tu_shared(SPEC_DIR));
    const char *file = spec_files[_i];
    char *path = xasprintf("%s/%s", tu_shared(SPEC_DIR), file);
    size_t len;
    char *text = tu_read_file(path, &len);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(doc, "tests"), *tc;
    ck_assert_msg(cJSON_IsArray(tests), "%s: no tests", path);
    int n = 0, passed = 0;
    struct buf failures;
    buf_init(&failures, 0);
    cJSON_ArrayForEach(tc, tests)
    {
        char why[1024];
        n++;
        if (run_spec_test(tc, why, sizeof(why)))
            passed++;
        else if (buf_printf(&failures, "  FAIL %s: %s\n",
                            cJSON_GetStringValue(cJSON_GetObjectItem(tc, "name")), why) != 0)
            ck_abort_msg("out of memory");
    }
    printf("mustache-spec %s: %d/%d passed\n%s", file, passed, n, buf_str(&failures));
    fflush(stdout);
    buf_release(&failures);
    cJSON_Delete(doc);
    free(text);
    free(path);
    ck_assert_msg(n > 0 && passed == n, "%s: %d/%d passed", file, passed, n);
}
END_TEST

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.json file of the spec directory, sorted. */
static void find_spec_files(void)
{
    DIR *d = opendir(tu_shared(SPEC_DIR));
    struct dirent *de;
    while (d && (de = readdir(d)) && nspec_files < MAX_SPEC_FILES) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0)
            spec_files[nspec_files++] = xstrdup(de->d_name);
    }
    if (d)
        closedir(d);
    qsort(spec_files, (size_t)nspec_files, sizeof(spec_files[0]), by_name);
}

/* ---- helpers for the unit tests ---- */

struct loader {
    pthread_mutex_t mu;
    const char *const *names; /* name, source, name, source, ..., NULL */
    int calls[16];
};

static char *test_loader(void *arg, const char *name, size_t *len)
{
    struct loader *l = arg;
    for (int i = 0; l->names[i]; i += 2) {
        if (strcmp(l->names[i], name) != 0)
            continue;
        pthread_mutex_lock(&l->mu);
        l->calls[i / 2]++;
        pthread_mutex_unlock(&l->mu);
        *len = strlen(l->names[i + 1]);
        return xstrdup(l->names[i + 1]);
    }
    pthread_mutex_lock(&l->mu);
    l->calls[15]++; /* missing */
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Render 'tmpl' with JSON 'data' through a fresh set; the output (caller
 * frees) and the result in *rc, the message in 'err'. */
static char *render(const char *tmpl, const char *data, size_t max, int *rc, char *err,
                    size_t errlen)
{
    struct mustache *m = mustache_new(NULL, NULL);
    cJSON *d = data ? cJSON_Parse(data) : NULL;
    ck_assert_msg(!data || d, "bad test JSON: %s", data);
    struct buf out;
    buf_init(&out, max);
    *rc = mustache_add(m, "t", tmpl, strlen(tmpl), err, errlen);
    if (*rc == MUSTACHE_OK)
        *rc = mustache_render(m, "t", d, NULL, 0, &out, err, errlen);
    cJSON_Delete(d);
    mustache_free(m);
    return buf_take(&out, NULL);
}

/* Render that must succeed. */
static char *render_ok(const char *tmpl, const char *data)
{
    char err[256];
    int rc;
    char *s = render(tmpl, data, 0, &rc, err, sizeof(err));
    ck_assert_msg(rc == MUSTACHE_OK, "%s: rc %d: %s", tmpl, rc, err);
    return s;
}

#define ck_render(tmpl, data, want)                                                                \
    do {                                                                                           \
        char *got_ = render_ok(tmpl, data);                                                        \
        ck_assert_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
    } while (0)

/* ---- unit tests ---- */

START_TEST(test_output_ceiling_gives_toobig)
{
    const char *data = "{\"list\":[1,2,3,4,5,6,7,8,9,10]}";
    char err[256];
    int rc;
    char *out = render("{{#list}}0123456789{{/list}}", data, 64, &rc, err, sizeof(err));
    ck_assert_int_eq(rc, MUSTACHE_ERR_TOOBIG);
    ck_assert_uint_le(strlen(out), 64);
    ck_assert_msg(strstr(err, "64"), "err: %s", err);
    free(out);
    out = render("{{#list}}0123456789{{/list}}", data, 100, &rc, err, sizeof(err));
    ck_assert_int_eq(rc, MUSTACHE_OK); /* exactly the ceiling is fine */
    ck_assert_uint_eq(strlen(out), 100);
    free(out);
    /* escaping grows the text past the ceiling too */
    out = render("{{s}}", "{\"s\":\"<<<<<<<<<<\"}", 20, &rc, err, sizeof(err));
    ck_assert_int_eq(rc, MUSTACHE_ERR_TOOBIG);
    free(out);
}
END_TEST

START_TEST(test_partial_including_itself_gives_depth_error)
{
    static const char *const names[] = {"self", "x{{>self}}", "a", "{{#t}}{{>b}}{{/t}}",
                                        "b",    "{{>a}}",     NULL};
    struct loader l = {PTHREAD_MUTEX_INITIALIZER, names, {0}};
    struct mustache *m = mustache_new(test_loader, &l);
    cJSON *data = cJSON_Parse("{\"t\":true}");
    char err[256];
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(mustache_render(m, "self", data, NULL, 0, &out, err, sizeof(err)),
                     MUSTACHE_ERR_DEPTH);
    ck_assert_msg(strstr(err, "deeper than 64"), "err: %s", err);
    ck_assert_uint_eq(out.len, MUSTACHE_MAX_DEPTH); /* one x per level, then the stop */
    buf_reset(&out);
    ck_assert_int_eq(mustache_render(m, "a", data, NULL, 0, &out, err, sizeof(err)),
                     MUSTACHE_ERR_DEPTH); /* a -> section -> b -> a ... */
    ck_assert_int_eq(l.calls[0], 1);      /* loaded once, however deep */
    buf_release(&out);
    cJSON_Delete(data);
    mustache_free(m);
}
END_TEST

START_TEST(test_syntax_errors_name_the_line_and_reason)
{
    static const struct {
        const char *tmpl, *line, *reason;
    } cases[] = {
        {"a\n{{#a}}\nb\n", "line 2: ", "unclosed section 'a'"},
        {"x\n\n{{#a}}{{/b}}", "line 3: ", "closing tag 'b' does not match section 'a' (line 3)"},
        {"x\n{{#a}}\n{{/b}}", "line 3: ", "does not match section 'a' (line 2)"},
        {"one\ntwo {{name", "line 2: ", "unclosed tag"},
        {"{{{name}}", "line 1: ", "unclosed tag"},
        {"ok\n{{/a}}", "line 2: ", "closes nothing"},
        {"{{= a =}}", "line 1: ", "bad delimiters"},
        {"{{}}", "line 1: ", "empty tag"},
        {"{{a b}}", "line 1: ", "bad tag name 'a b'"},
        {"{{<p}}\n{{$b}}\n{{/p}}", "line 3: ", "does not match block 'b'"},
        {"{{=<% %>=}}\n<%#s%>\n", "line 2: ", "unclosed section 's'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        int rc;
        free(render(cases[i].tmpl, NULL, 0, &rc, err, sizeof(err)));
        ck_assert_msg(rc == MUSTACHE_ERR_SYNTAX, "%s: rc %d", cases[i].tmpl, rc);
        ck_assert_msg(
            strncmp(err, cases[i].line, strlen(cases[i].line)) == 0 && strstr(err, cases[i].reason),
            "%s: err '%s', want '%s%s'", cases[i].tmpl, err, cases[i].line, cases[i].reason);
    }
    /* too deep to parse */
    struct buf deep;
    buf_init(&deep, 0);
    for (int i = 0; i < MUSTACHE_MAX_DEPTH + 1; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{#a}}"), 0);
    char err[256];
    int rc;
    free(render(buf_str(&deep), NULL, 0, &rc, err, sizeof(err)));
    ck_assert_int_eq(rc, MUSTACHE_ERR_SYNTAX);
    ck_assert_ptr_nonnull(strstr(err, "nested deeper than 64"));
    buf_release(&deep);
    /* a partial with a syntax error fails the render, naming it */
    static const char *const names[] = {"bad", "ok\n{{#x}}", NULL};
    struct loader l = {PTHREAD_MUTEX_INITIALIZER, names, {0}};
    struct mustache *m = mustache_new(test_loader, &l);
    ck_assert_int_eq(mustache_add(m, "t", "[{{>bad}}]", 10, err, sizeof(err)), MUSTACHE_OK);
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(mustache_render(m, "t", NULL, NULL, 0, &out, err, sizeof(err)),
                     MUSTACHE_ERR_SYNTAX);
    ck_assert_str_eq(err, "template 'bad': line 2: unclosed section 'x'");
    buf_release(&out);
    mustache_free(m);
}
END_TEST

START_TEST(test_escaping_of_script_and_quotes)
{
    const char *data = "{\"s\":\"<script>alert('x') & \\\"y\\\"</script>\"}";
    ck_render("{{s}}", data, "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    ck_render("{{{s}}}|{{&s}}", data,
              "<script>alert('x') & \"y\"</script>|<script>alert('x') & \"y\"</script>");
    ck_render("{{#l}}{{.}}{{/l}}", "{\"l\":[\"'\",\"<b>\"]}", "&#39;&lt;b&gt;");
    ck_render("<p title='{{t}}'>", "{\"t\":\"' onmouseover='x\"}",
              "<p title='&#39; onmouseover=&#39;x'>");
}
END_TEST

START_TEST(test_values_and_truthiness)
{
    ck_render("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}}",
              "{\"a\":1.210,\"b\":85,\"c\":1e3,\"d\":-2.5,\"e\":0.1,\"f\":-0.0,\"g\":1e-7}",
              "1.21 85 1000 -2.5 0.1 0 1e-07");
    ck_render("{{t}}/{{f}}/{{n}}/{{missing}}/{{{o}}}",
              "{\"t\":true,\"f\":false,\"n\":null,"
              "\"o\":{\"k\":[1,\"x\"]}}",
              "true/false///{\"k\":[1,\"x\"]}");
    /* 0 and "" are truthy; false, null, missing and [] are not */
    ck_render("{{#z}}z{{/z}}{{#e}}e{{/e}}{{#f}}f{{/f}}{{#n}}n{{/n}}{{#m}}m{{/m}}{{#l}}l{{/l}}",
              "{\"z\":0,\"e\":\"\",\"f\":false,\"n\":null,\"l\":[]}", "ze");
    ck_render("{{^z}}z{{/z}}{{^f}}f{{/f}}{{^l}}l{{/l}}", "{\"z\":0,\"f\":false,\"l\":[]}", "fl");
    ck_render("", NULL, "");
    ck_render("{{x}}", NULL, "");
}
END_TEST

static int lam_fails(void *arg, const char *text, size_t len, struct buf *out)
{
    (void)arg, (void)text, (void)len, (void)out;
    return -1;
}

START_TEST(test_lambda_errors_and_missing_templates)
{
    struct mustache *m = mustache_new(NULL, NULL);
    char err[256];
    struct buf out;
    buf_init(&out, 0);
    cJSON *data = cJSON_CreateObject();
    cJSON_AddItemToObject(data, "f", cJSON_CreateRaw("nope"));
    cJSON_AddItemToObject(data, "g", cJSON_CreateRaw("bad"));
    struct mustache_lambda lam = {"bad", lam_fails, NULL};
    ck_assert_int_eq(mustache_add(m, "f", "{{f}}", 5, err, sizeof(err)), MUSTACHE_OK);
    ck_assert_int_eq(mustache_add(m, "g", "{{#g}}x{{/g}}", 13, err, sizeof(err)), MUSTACHE_OK);
    ck_assert_int_eq(mustache_render(m, "f", data, &lam, 1, &out, err, sizeof(err)),
                     MUSTACHE_ERR_LAMBDA);
    ck_assert_str_eq(err, "no lambda 'nope'");
    ck_assert_int_eq(mustache_render(m, "g", data, &lam, 1, &out, err, sizeof(err)),
                     MUSTACHE_ERR_LAMBDA);
    ck_assert_str_eq(err, "lambda 'bad' failed");
    ck_assert_int_eq(mustache_render(m, "none", data, NULL, 0, &out, err, sizeof(err)),
                     MUSTACHE_ERR_NOTFOUND);
    ck_assert_str_eq(err, "no template 'none'");
    ck_assert_uint_eq(out.len, 0);
    cJSON_Delete(data);
    buf_release(&out);
    mustache_free(m);
    mustache_free(NULL);
}
END_TEST

START_TEST(test_template_is_parsed_once)
{
    static const char *const names[] = {"list", "{{#items}}{{>item}}{{>gone}}{{/items}}", "item",
                                        "<{{.}}>", NULL};
    struct loader l = {PTHREAD_MUTEX_INITIALIZER, names, {0}};
    struct mustache *m = mustache_new(test_loader, &l);
    cJSON *items = cJSON_CreateArray();
    for (int i = 0; i < 100; i++)
        cJSON_AddItemToArray(items, cJSON_CreateNumber(i));
    cJSON *data = cJSON_CreateObject();
    cJSON_AddItemToObject(data, "items", items);
    char err[256];
    struct buf out;
    buf_init(&out, 0);
    for (int k = 0; k < 3; k++) {
        buf_reset(&out);
        ck_assert_int_eq(mustache_render(m, "list", data, NULL, 0, &out, err, sizeof(err)),
                         MUSTACHE_OK);
        ck_assert_ptr_nonnull(strstr(buf_str(&out), "<0><1><2>"));
        ck_assert_ptr_nonnull(strstr(buf_str(&out), "<98><99>"));
    }
    ck_assert_int_eq(l.calls[0], 1);  /* "list" */
    ck_assert_int_eq(l.calls[1], 1);  /* "item", used 300 times */
    ck_assert_int_eq(l.calls[15], 1); /* "gone": missing, asked once */
    /* an added template replaces the loaded one */
    ck_assert_int_eq(mustache_add(m, "item", "({{.}})", 7, err, sizeof(err)), MUSTACHE_OK);
    buf_reset(&out);
    ck_assert_int_eq(mustache_render(m, "list", data, NULL, 0, &out, err, sizeof(err)),
                     MUSTACHE_OK);
    ck_assert_ptr_nonnull(strstr(buf_str(&out), "(0)(1)(2)"));
    ck_assert_int_eq(l.calls[1], 1);
    cJSON_Delete(data);
    buf_release(&out);
    mustache_free(m);
}
END_TEST

/* ---- threads ---- */

#define THREADS 8
#define ROUNDS 200

static const char *const thread_names[] = {
    "page",  "{{<frame}}{{$body}}\n{{#rows}}\n{{>row}}\n{{/rows}}\n{{/body}}{{/frame}}",
    "frame", "<ul>\n  {{$body}}\n  {{/body}}\n</ul>\n",
    "row",   "<li>{{name}}: {{n}} {{#ok}}ok{{/ok}}</li>\n",
    NULL};

struct shared {
    struct mustache *m;
    cJSON *data;
    const char *want;
    int replace; /* this thread replaces "row" (with the same text) meanwhile */
    int bad;
};

static void *render_many(void *arg)
{
    struct shared *sh = arg;
    struct buf out;
    char err[256];
    buf_init(&out, 0);
    for (int i = 0; i < ROUNDS; i++) {
        if (sh->replace) {
            if (mustache_add(sh->m, "row", thread_names[5], strlen(thread_names[5]), err,
                             sizeof(err)) != MUSTACHE_OK)
                sh->bad++;
            continue;
        }
        buf_reset(&out);
        if (mustache_render(sh->m, "page", sh->data, NULL, 0, &out, err, sizeof(err)) !=
                MUSTACHE_OK ||
            strcmp(buf_str(&out), sh->want) != 0)
            sh->bad++;
    }
    buf_release(&out);
    return NULL;
}

START_TEST(test_threads_render_one_set_identically)
{
    cJSON *data = cJSON_Parse("{\"rows\":[]}"), *rows = cJSON_GetObjectItem(data, "rows");
    for (int i = 0; i < 50; i++) {
        cJSON *row = cJSON_CreateObject();
        char name[32];
        snprintf(name, sizeof(name), "row <%d>", i);
        cJSON_AddStringToObject(row, "name", name);
        cJSON_AddNumberToObject(row, "n", i * 1.5);
        cJSON_AddBoolToObject(row, "ok", i % 3 == 0);
        cJSON_AddItemToArray(rows, row);
    }
    struct loader ref_l = {PTHREAD_MUTEX_INITIALIZER, thread_names, {0}};
    struct mustache *ref = mustache_new(test_loader, &ref_l);
    char err[256];
    struct buf want;
    buf_init(&want, 0);
    ck_assert_int_eq(mustache_render(ref, "page", data, NULL, 0, &want, err, sizeof(err)),
                     MUSTACHE_OK);
    ck_assert_ptr_nonnull(strstr(buf_str(&want), "<ul>\n  <li>row &lt;0&gt;: 0 ok</li>\n"
                                                 "  <li>row &lt;1&gt;: 1.5 </li>\n"));
    mustache_free(ref);

    struct loader l = {PTHREAD_MUTEX_INITIALIZER, thread_names, {0}};
    struct shared sh[THREADS];
    pthread_t th[THREADS];
    struct mustache *m = mustache_new(test_loader, &l); /* empty: the threads race to load */
    for (int i = 0; i < THREADS; i++) {
        sh[i] = (struct shared){m, data, buf_str(&want), i == THREADS - 1, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, render_many, &sh[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(sh[i].bad == 0, "thread %d: %d bad renders", i, sh[i].bad);
    }
    ck_assert_int_eq(l.calls[0], 1); /* each template loaded once, however many threads */
    ck_assert_int_eq(l.calls[1], 1);
    ck_assert_int_le(l.calls[2], 1);
    mustache_free(m);
    buf_release(&want);
    cJSON_Delete(data);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mustache");
    TCase *tc = tcase_create("spec");
    tcase_add_loop_test(tc, test_spec_file_passes_every_test, 0, nspec_files ? nspec_files : 1);
    suite_add_tcase(s, tc);
    tc = tcase_create("unit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_output_ceiling_gives_toobig);
    tcase_add_test(tc, test_partial_including_itself_gives_depth_error);
    tcase_add_test(tc, test_syntax_errors_name_the_line_and_reason);
    tcase_add_test(tc, test_escaping_of_script_and_quotes);
    tcase_add_test(tc, test_values_and_truthiness);
    tcase_add_test(tc, test_lambda_errors_and_missing_templates);
    tcase_add_test(tc, test_template_is_parsed_once);
    tcase_add_test(tc, test_threads_render_one_set_identically);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    find_spec_files();
    int rc = tu_run(suite());
    for (int i = 0; i < nspec_files; i++)
        free(spec_files[i]);
    return rc;
}
