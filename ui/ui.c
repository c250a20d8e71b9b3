/*
 * ui: the handle, the connection pool, templates and replies (see ui.h and
 * ui_int.h). The compiled-in templates are parsed once, in ui_new, so a
 * broken template stops the server at start rather than on a page; with
 * --ui-dir every request gets a fresh set read from disk.
 *
 * Every response carries the same security headers: a CSP that allows
 * nothing but the server's own files (no inline script or style), nosniff,
 * no referrer, no framing.
 */
#include "ui/ui.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <civetweb.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/store.h"
#include "ui/assets.h"
#include "ui/chart.h"
#include "core/mustache.h"
#include "ui/ui_int.h"

#define TEMPLATE_FILE_MAX (1u << 20)

const struct ui_asset *ui_asset_find(const struct ui_asset *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

/* ---- templates --------------------------------------------------------- */

static char *load_compiled(void *arg, const char *name, size_t *len)
{
    (void)arg;
    const struct ui_asset *a = ui_asset_find(ui_templates, ui_templates_count, name);
    if (!a)
        return NULL;
    char *copy = xmalloc(a->len + 1);
    memcpy(copy, a->data, a->len + 1);
    *len = a->len;
    return copy;
}

/* A name safe to put in a path: letters, digits, '-', '_' and inner dots. */
static int safe_name(const char *name)
{
    if (!*name || *name == '.' || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              *p == '-' || *p == '_' || (*p == '.' && p[1] != '.')))
            return 0;
    return 1;
}

/* Read 'path' whole (at most 'max' bytes) into memory from malloc, or NULL. */
static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, max);
    int rc = buf_read_stream(&b, f);
    fclose(f);
    if (rc != BUF_OK) {
        buf_release(&b);
        return NULL;
    }
    return buf_take(&b, len);
}

static char *load_disk(void *arg, const char *name, size_t *len)
{
    const struct ui *ui = arg;
    if (!safe_name(name))
        return NULL;
    char *path = xasprintf("%s/templates/%s.mustache", ui->ui_dir, name);
    char *src = read_file(path, TEMPLATE_FILE_MAX, len);
    free(path);
    return src;
}

/* Parse every compiled-in template now, so a broken one is found at start. */
static int parse_compiled(struct ui *ui, char *err, size_t errlen)
{
    for (size_t i = 0; i < ui_templates_count; i++) {
        char why[256];
        const struct ui_asset *a = &ui_templates[i];
        if (mustache_add(ui->tpl, a->name, a->data, a->len, why, sizeof(why)) != MUSTACHE_OK) {
            snprintf(err, errlen, "template '%s': %s", a->name, why);
            return -1;
        }
    }
    return 0;
}

int ui_new(struct ui **out, const struct ui_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct ui *ui = xcalloc(1, sizeof(*ui));
    pthread_mutex_init(&ui->mu, NULL);
    ui->db_path = xstrdup(cfg->db_path);
    ui->replay = cfg->replay;
    ui->replay_arg = cfg->replay_arg;
    if (cfg->ui_dir) {
        ui->ui_dir = xstrdup(cfg->ui_dir);
        char *dir = xasprintf("%s/templates", cfg->ui_dir);
        struct stat sb;
        int ok = stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(dir);
        if (!ok) {
            snprintf(err, errlen, "--ui-dir '%s' has no templates folder", cfg->ui_dir);
            goto fail;
        }
    } else {
        ui->tpl = mustache_new(load_compiled, NULL);
        if (parse_compiled(ui, err, errlen) != 0)
            goto fail;
    }
    *out = ui;
    return 0;
fail:
    ui_free(ui);
    return -1;
}

void ui_free(struct ui *ui)
{
    if (!ui)
        return;
    for (int i = 0; i < ui->nidle; i++)
        store_close(ui->idle[i]);
    mustache_free(ui->tpl);
    cJSON_Delete(ui->choices);
    pthread_mutex_destroy(&ui->mu);
    free(ui->db_path);
    free(ui->ui_dir);
    free(ui);
}

/* ---- requests ---------------------------------------------------------- */

/* 1 for GET and HEAD; else 405 is answered and 0 returned. */
static int get_or_head(struct mg_connection *c)
{
    const char *m = mg_get_request_info(c)->request_method;
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return 1;
    static const char msg[] = "the web UI answers GET and HEAD only\n";
    char len[16];
    snprintf(len, sizeof(len), "%zu", sizeof(msg) - 1);
    mg_response_header_start(c, 405);
    mg_response_header_add(c, "Allow", "GET, HEAD", -1);
    mg_response_header_add(c, "Connection", "close", -1); /* a body may follow, unread */
    mg_response_header_add(c, "Content-Type", "text/plain; charset=utf-8", -1);
    mg_response_header_add(c, "Content-Length", len, -1);
    mg_response_header_send(c);
    mg_write(c, msg, sizeof(msg) - 1);
    return 0;
}

static void req_init(struct ui_req *r, struct ui *ui, struct mg_connection *c, const char *nav)
{
    r->ui = ui;
    r->c = c;
    r->now_ns = time_now_ns();
    r->view = cJSON_CreateObject();
    cJSON *n = cJSON_AddObjectToObject(r->view, "nav");
    cJSON_AddTrueToObject(n, nav);
}

int ui_req_begin(struct ui_req *r, struct ui *ui, struct mg_connection *c, const char *nav)
{
    memset(r, 0, sizeof(*r));
    if (!get_or_head(c))
        return -1;
    req_init(r, ui, c, nav);
    return 0;
}

void ui_req_begin_post(struct ui_req *r, struct ui *ui, struct mg_connection *c, const char *nav)
{
    memset(r, 0, sizeof(*r));
    req_init(r, ui, c, nav);
}

void ui_req_end(struct ui_req *r)
{
    cJSON_Delete(r->view);
    r->view = NULL;
    if (!r->st)
        return;
    struct ui *ui = r->ui;
    pthread_mutex_lock(&ui->mu);
    if (ui->nidle < UI_POOL) {
        ui->idle[ui->nidle++] = r->st;
        r->st = NULL;
    }
    pthread_mutex_unlock(&ui->mu);
    store_close(r->st); /* the pool was full */
    r->st = NULL;
}

sqlite3 *ui_req_db(struct ui_req *r)
{
    if (r->st)
        return store_db(r->st);
    struct ui *ui = r->ui;
    pthread_mutex_lock(&ui->mu);
    if (ui->nidle > 0)
        r->st = ui->idle[--ui->nidle];
    pthread_mutex_unlock(&ui->mu);
    if (!r->st && store_open(&r->st, ui->db_path, STORE_READONLY, r->err, sizeof(r->err)) != 0) {
        r->st = NULL;
        return NULL;
    }
    return store_db(r->st);
}

int ui_param(struct ui_req *r, const char *name, char *out, size_t n)
{
    const char *qs = mg_get_request_info(r->c)->query_string;
    qs = qs ? qs : "";
    int got = mg_get_var(qs, strlen(qs), name, out, n);
    if (got == -2) {
        out[0] = '\0';
        return -1;
    }
    return got > 0 ? 1 : 0;
}

sqlite3_stmt *ui_prepare(struct ui_req *r, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(r->err, sizeof(r->err), "the store cannot answer: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* ---- replies ----------------------------------------------------------- */

static void security_headers(struct mg_connection *c)
{
    mg_response_header_add(c, "Content-Security-Policy", "default-src 'self'", -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(c, "Referrer-Policy", "no-referrer", -1);
    mg_response_header_add(c, "X-Frame-Options", "DENY", -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
}

int ui_redirect(struct mg_connection *c, const char *location)
{
    mg_response_header_start(c, 303);
    mg_response_header_add(c, "Location", location, -1);
    mg_response_header_add(c, "Content-Length", "0", -1);
    security_headers(c);
    mg_response_header_send(c);
    return 303;
}

int ui_send(struct mg_connection *c, int status, const char *ctype, const char *body, size_t len,
            const char *disposition)
{
    mg_response_header_start(c, status);
    mg_response_header_add(c, "Content-Type", ctype, -1);
    char n[32];
    snprintf(n, sizeof(n), "%zu", len);
    mg_response_header_add(c, "Content-Length", n, -1);
    security_headers(c);
    if (disposition)
        mg_response_header_add(c, "Content-Disposition", disposition, -1);
    mg_response_header_send(c);
    if (len && strcmp(mg_get_request_info(c)->request_method, "HEAD") != 0)
        mg_write(c, body, len);
    return status;
}

/* A page that cannot be rendered is a bug of ours: say so plainly. */
static int send_broken(struct mg_connection *c, const char *why)
{
    char msg[768];
    int n = snprintf(msg, sizeof(msg), "llmtap: this page cannot be rendered: %s\n", why);
    return ui_send(c, 500, "text/plain; charset=utf-8", msg, (size_t)n, NULL);
}

int ui_page(struct ui_req *r, int status, const char *tpl)
{
    struct mustache *set = r->ui->tpl;
    struct mustache *fresh = NULL;
    if (!set)
        set = fresh = mustache_new(load_disk, r->ui);
    struct buf out;
    buf_init(&out, UI_PAGE_MAX);
    char why[256];
    int rc = mustache_render(set, tpl, r->view, NULL, 0, &out, why, sizeof(why));
    int sent = rc == MUSTACHE_OK
                   ? ui_send(r->c, status, "text/html; charset=utf-8", buf_str(&out), out.len, NULL)
                   : send_broken(r->c, why);
    buf_release(&out);
    mustache_free(fresh);
    return sent;
}

static int fail_v(struct ui_req *r, int status, const char *tpl, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    cJSON_DeleteItemFromObject(r->view, "message");
    cJSON_AddStringToObject(r->view, "message", msg);
    cJSON_DeleteItemFromObject(r->view, "status_code");
    cJSON_AddNumberToObject(r->view, "status_code", status);
    return ui_page(r, status, tpl);
}

int ui_fail(struct ui_req *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int sent = fail_v(r, status, "error", fmt, ap);
    va_end(ap);
    return sent;
}

int ui_fail_in(struct ui_req *r, int status, const char *tpl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int sent = fail_v(r, status, tpl, fmt, ap);
    va_end(ap);
    return sent;
}

/* ---- formatting -------------------------------------------------------- */

const char *ui_fmt_time(char *dst, size_t n, int64_t ns)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(dst, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(dst, n, "–");
    return dst;
}

/* 'v' >= 0 with thousands separators and 'decimals' decimals. */
static void grouped(char *dst, size_t n, double v, int decimals)
{
    char raw[64];
    snprintf(raw, sizeof(raw), "%.*f", decimals, v);
    const char *dot = strchr(raw, '.');
    size_t whole = dot ? (size_t)(dot - raw) : strlen(raw), k = 0;
    for (size_t i = 0; i < whole && k + 2 < n; i++) {
        if (i && (whole - i) % 3 == 0)
            dst[k++] = ',';
        dst[k++] = raw[i];
    }
    snprintf(dst + k, n - k, "%s", dot ? dot : "");
}

const char *ui_fmt_usd(char *dst, size_t n, double usd)
{
    if (isnan(usd)) {
        snprintf(dst, n, "unpriced");
        return dst;
    }
    double a = fabs(usd);
    char num[64];
    int decimals = 2;
    if (a > 0 && a < 1) /* two significant digits, at most 8 decimals */
        decimals = (int)ceil(-log10(a)) + 1, decimals = decimals < 2   ? 2
                                                        : decimals > 8 ? 8
                                                                       : decimals;
    grouped(num, sizeof(num), a, a == 0 ? 0 : decimals);
    snprintf(dst, n, "%s$%s", usd < 0 ? "-" : "", num);
    return dst;
}

const char *ui_fmt_ms(char *dst, size_t n, double ms)
{
    return chart_format(dst, n, ms, CHART_MS);
}

const char *ui_fmt_count(char *dst, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(dst, n, "–");
        return dst;
    }
    char num[64];
    grouped(num, sizeof(num), fabs(v), v == floor(v) ? 0 : 1);
    snprintf(dst, n, "%s%s", v < 0 ? "-" : "", num);
    return dst;
}

const char *ui_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

double ui_col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

void ui_add_str(cJSON *obj, const char *name, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(obj, name, v);
}

void ui_add_url(cJSON *obj, const char *name, const char *v)
{
    if (!v || !*v)
        return;
    size_t n = 3 * strlen(v) + 1;
    char *enc = xmalloc(n);
    mg_url_encode(v, enc, n);
    cJSON_AddStringToObject(obj, name, enc);
    free(enc);
}

/* ---- static files and routes ------------------------------------------- */

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (dot && strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    return "application/octet-stream";
}

/* GET /static/NAME: the compiled-in file, or DIR/static/NAME with --ui-dir. */
static int h_static(struct mg_connection *c, void *cb)
{
    struct ui *ui = cb;
    if (!get_or_head(c))
        return 405;
    const char *name = mg_get_request_info(c)->local_uri + strlen("/static/");
    static const char missing[] = "not found\n";
    if (!safe_name(name))
        return ui_send(c, 404, "text/plain; charset=utf-8", missing, sizeof(missing) - 1, NULL);
    if (!ui->ui_dir) {
        const struct ui_asset *a = ui_asset_find(ui_statics, ui_statics_count, name);
        return a ? ui_send(c, 200, content_type(name), a->data, a->len, NULL)
                 : ui_send(c, 404, "text/plain; charset=utf-8", missing, sizeof(missing) - 1, NULL);
    }
    char *path = xasprintf("%s/static/%s", ui->ui_dir, name);
    size_t len = 0;
    char *body = read_file(path, TEMPLATE_FILE_MAX, &len);
    free(path);
    int status =
        body ? ui_send(c, 200, content_type(name), body, len, NULL)
             : ui_send(c, 404, "text/plain; charset=utf-8", missing, sizeof(missing) - 1, NULL);
    free(body);
    return status;
}

int ui_root(struct mg_connection *c, void *arg)
{
    return ui_h_overview(c, arg);
}

void ui_mount(void *arg, struct mg_context *ctx)
{
    struct ui *ui = arg;
    mg_set_request_handler(ctx, "/traces$", ui_h_traces, ui);
    mg_set_request_handler(ctx, "/traces/", ui_h_trace, ui);
    mg_set_request_handler(ctx, "/sessions/", ui_h_session, ui);
    mg_set_request_handler(ctx, "/costs$", ui_h_costs, ui);
    mg_set_request_handler(ctx, "/costs.csv$", ui_h_costs_csv, ui);
    mg_set_request_handler(ctx, "/versions$", ui_h_versions, ui);
    mg_set_request_handler(ctx, "/versions/regressions$", ui_h_versions_regressions, ui);
    mg_set_request_handler(ctx, "/api/v1/versions/compare$", ui_h_api_versions_compare, ui);
    mg_set_request_handler(ctx, "/evals$", ui_h_evals, ui);
    mg_set_request_handler(ctx, "/evals/", ui_h_eval_run, ui);
    mg_set_request_handler(ctx, "/replays$", ui_h_replays, ui);
    mg_set_request_handler(ctx, "/replays/", ui_h_replay, ui);
    mg_set_request_handler(ctx, "/alerts$", ui_h_alerts, ui);
    mg_set_request_handler(ctx, "/static/", h_static, ui);
}
