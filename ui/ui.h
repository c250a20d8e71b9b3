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

struct ui_config {
    const char *db_path; /* required; borrowed for the ui's life */
    const char *ui_dir;  /* NULL: the compiled-in templates and CSS; else DIR/templates and
                            DIR/static, read again on every request (edit and reload) */
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
