/*
 * ui_int: what the UI's parts share (ui.c: handle, pool, rendering and
 * replies; ui_traces.c: traces, a trace, a session; ui_costs.c: overview,
 * costs, versions; ui_evals.c: evaluation runs, and the eval scores of the
 * trace and versions pages; ui_alerts.c: alert rules, history, deliveries). Not for use outside ui/.
 *
 * A request is a 'struct ui_req': a read-only store borrowed from the pool
 * and the page's view (a cJSON object the handler fills and the template
 * reads). Every string in a view is traffic or derived from it and is
 * rendered with {{ }} (escaped); the one exception is SVG that chart.c
 * built and escaped itself, which templates insert with {{{ }}}.
 */
#ifndef UI_UI_INT_H
#define UI_UI_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "ui/ui.h"

struct mg_connection;
struct mustache;
struct store;

#define UI_POOL 8               /* idle read-only connections kept */
#define UI_PAGE_MAX (16u << 20) /* ceiling of one rendered page */
#define UI_VALUE_MAX 256        /* longest filter value accepted */

#define UI_CHOICES_TTL_NS 10000000000LL /* the filters' select boxes: 10 s */

struct ui {
    char *db_path, *ui_dir;
    struct mustache *tpl; /* the compiled-in set; NULL with ui_dir */
    pthread_mutex_t mu;   /* guards idle/nidle and choices */
    struct store *idle[UI_POOL];
    int nidle;
    cJSON *choices;      /* (project, model, provider, version_set) seen, or NULL */
    ui_replay_fn replay; /* the trace page's replay form; NULL: not offered */
    void *replay_arg;
    int64_t choices_ns;
};

struct ui_req {
    struct ui *ui;
    struct mg_connection *c;
    struct store *st; /* borrowed from the pool; NULL until ui_req_store */
    cJSON *view;      /* owned */
    int64_t now_ns;
    char err[512];
};

/* Start answering 'c': an empty view with the navigation set for 'nav'
 * (the page's name). Returns 0, or -1 after answering 405 to a method
 * other than GET and HEAD (then return 405; ui_req_end is not needed). */
int ui_req_begin(struct ui_req *r, struct ui *ui, struct mg_connection *c, const char *nav)
    __attribute__((warn_unused_result));
/* The same for a POST the caller has accepted (the method is its to check). */
void ui_req_begin_post(struct ui_req *r, struct ui *ui, struct mg_connection *c, const char *nav);
/* Return the connection to the pool and free the view. */
void ui_req_end(struct ui_req *r);
/* The request's read-only connection (opened or taken from the pool), or
 * NULL with r->err set. */
sqlite3 *ui_req_db(struct ui_req *r);

/* Query-string parameter 'name' into 'out' ('n' bytes with the NUL): 1
 * present and non-empty, 0 absent or empty, -1 too long. */
int ui_param(struct ui_req *r, const char *name, char *out, size_t n);

/* Render template 'tpl' with r->view and send it as text/html with
 * 'status'. Returns the status sent (what CivetWeb handlers return). */
int ui_page(struct ui_req *r, int status, const char *tpl);
/* The error page: 'status' and a message for the user (the view so far is
 * kept, so a form can be shown again with its values). */
int ui_fail(struct ui_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same message on page 'tpl' instead (a form with a bad value shown
 * again, with the message above it). */
int ui_fail_in(struct ui_req *r, int status, const char *tpl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Send 'body' as it is, with the UI's security headers; 'disposition' may
 * be NULL (else a Content-Disposition value). */
int ui_send(struct mg_connection *c, int status, const char *ctype, const char *body, size_t len,
            const char *disposition);

/* 303 See Other to 'location' (a path of ours), with the security headers. */
int ui_redirect(struct mg_connection *c, const char *location);

/* Formatting for views; each writes 'dst' ('n' bytes, NUL-terminated) and
 * returns it. */
const char *ui_fmt_time(char *dst, size_t n, int64_t ns); /* 2026-12-01 14:03:22 */
const char *ui_fmt_usd(char *dst, size_t n, double usd);  /* $1,234.56, $0.0017; NaN: "unpriced" */
const char *ui_fmt_ms(char *dst, size_t n, double ms);    /* NaN: "–" */
const char *ui_fmt_count(char *dst, size_t n, double v);  /* 12,345 or 12.5 */

/* A column of the current row as a string ("" for NULL), for views. */
const char *ui_col_text(sqlite3_stmt *st, int i);
/* A REAL column, NaN for NULL. */
double ui_col_num(sqlite3_stmt *st, int i);

/* Add 'v' to 'obj' as 'name' only when it is non-empty. */
void ui_add_str(cJSON *obj, const char *name, const char *v);

/* Add 'v' URL-encoded (for a query value or a path segment) when non-empty. */
void ui_add_url(cJSON *obj, const char *name, const char *v);

/* Prepare 'sql' on 'db'; NULL with r->err set. */
sqlite3_stmt *ui_prepare(struct ui_req *r, sqlite3 *db, const char *sql);

/* The pages (ui_traces.c, ui_costs.c): CivetWeb handlers, 'cb' is the ui. */
int ui_h_traces(struct mg_connection *c, void *cb);
int ui_h_trace(struct mg_connection *c, void *cb);
int ui_h_session(struct mg_connection *c, void *cb);
int ui_h_overview(struct mg_connection *c, void *cb);
int ui_h_costs(struct mg_connection *c, void *cb);
int ui_h_costs_csv(struct mg_connection *c, void *cb);
int ui_h_versions(struct mg_connection *c, void *cb);
int ui_h_versions_regressions(struct mg_connection *c, void *cb); /* (ui_versions.c) */
int ui_h_api_versions_compare(struct mg_connection *c, void *cb); /* JSON */
int ui_h_evals(struct mg_connection *c, void *cb);                /* /evals (ui_evals.c) */
int ui_h_eval_run(struct mg_connection *c, void *cb);             /* /evals/{run_id} */

/* The versions page's comparison (ui_versions.c): "projects" (for the
 * select, 'project' marked) and, when any of 'project', 'a', 'b' is given
 * (NULL: not), "vc": B against A with each metric's interval and verdict
 * (store/vcompare.h picks what is not given), or "vc_note" saying why
 * these two cannot be compared (A and B of different projects, ...). 0,
 * or -1 with r->err set and *status the HTTP status to answer with (404:
 * 'project' has no calls; 500). */
int ui_versions_compare(struct ui_req *r, sqlite3 *db, const char *project, const char *a,
                        const char *b, int *status);
int ui_h_replays(struct mg_connection *c,
                 void *cb);                         /* GET /replays, POST /replays (ui_replays.c) */
int ui_h_replay(struct mg_connection *c, void *cb); /* /replays/{id} */
int ui_h_alerts(struct mg_connection *c, void *cb); /* /alerts (ui_alerts.c) */

/* The overview's "recent_alerts": the newest 'limit' alert state changes
 * (ui_alerts.c). 0, or -1 with r->err set. */
int ui_alerts_recent(struct ui_req *r, sqlite3 *db, int limit);

/* Add to each of the 'count' span views of one trace (their project,
 * trace_id and span_id) its scores as span.scores.items, when it has any.
 * 0, or -1 with r->err set. */
int ui_evals_span_scores(struct ui_req *r, sqlite3 *db, cJSON *const *spans, int count);
/* Add to each LLM span view of a trace the replays of it (span.replays.items:
 * id, time, prompt, status), when it has any (ui_replays.c). 0, or -1 with
 * r->err set. */
int ui_replays_of_spans(struct ui_req *r, sqlite3 *db, cJSON *const *spans, int count);
/* Add eval score columns to the versions page: "score_names" to the view,
 * "score_cols" (one per name) to each row of 'versions' (matched by its
 * "value", the raw version_set), and "score_rows" to the view's "compare"
 * when there is one. 0, or -1 with r->err set. */
int ui_evals_versions(struct ui_req *r, sqlite3 *db, cJSON *versions);

#endif
