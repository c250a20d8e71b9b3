/*
 * ui: the server-rendered web UI (DESIGN.md §8): overview, traces (filters,
 * full-text search, keyset pages), a trace's waterfall and chats, sessions,
 * costs (with CSV) and version_sets. Pages are Mustache templates
 * (ui/templates, compiled in; or read from disk with --ui-dir) filled with
 * a view built from the store's `spans` table and rollups, read through a
 * small pool of read-only connections. No page needs JavaScript; every
 * response carries a strict Content-Security-Policy.
 *
 * Lifecycle: ui_new -> ui_mount on the server's CivetWeb context -> pages
 * served on its worker threads (thread-safe) -> the server stops -> ui_free.
 */
#ifndef UI_UI_H
#define UI_UI_H

#include <stddef.h>

struct ui;
struct mg_context;
struct mg_connection;

/* The trace page's replay form (POST /replays). The ui reads the store
 * only and may not run the evaluator, so the server's owner (cli/cmd_serve.c)
 * installs this: replay span 'span_id' of trace 'trace_id' ('span_id' NULL:
 * the trace's first LLM span) with prompt 'prompt' (NAME@VERSION) and
 * 'model' (NULL: the original's), commit the new span, its scores and the
 * replays row through the server's writer, and write the row's id (16 hex)
 * into 'id'. 0, or -1 with a message for the user in 'err'. Called on
 * CivetWeb worker threads: thread-safe, blocking (it calls the provider). */
typedef int (*ui_replay_fn)(void *arg, const char *trace_id, const char *span_id,
                            const char *prompt, const char *model, char id[17], char *err,
                            size_t errlen);

struct ui_config {
    const char *db_path; /* required; borrowed for the ui's life */
    const char *ui_dir;  /* NULL: the compiled-in templates and CSS; else DIR/templates and
                            DIR/static, read again on every request (edit and reload) */
    ui_replay_fn replay; /* may be NULL: no replay form */
    void *replay_arg;
};

/* A ui for 'cfg'. Returns 0, or -1 with a message in 'err' (a compiled-in
 * template does not parse; 'ui_dir' has no templates folder). Caller frees
 * with ui_free, after the server that mounted it has stopped. */
int ui_new(struct ui **out, const struct ui_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void ui_free(struct ui *ui);

/* Register the UI's routes on 'ctx' (a server_mount_fn: 'arg' is the ui). */
void ui_mount(void *arg, struct mg_context *ctx);
/* The overview page, for the server to call on "/" (a CivetWeb handler;
 * 'arg' is the ui). */
int ui_root(struct mg_connection *c, void *arg);

#endif
