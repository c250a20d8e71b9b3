/*
 * cli: the `llmtap` command line (DESIGN.md §9). main.c dispatches to one
 * cmd_* function per subcommand; this header holds what they share: option
 * helpers, the database path rule (--db, then LLMTAP_DB, then ./llmtap.db)
 * and finding a running server to hand writes to ("one writer, everywhere").
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stddef.h>

#include "core/buf.h"

#define CLI_USAGE_ERROR 2

int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_prices(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_retention(int argc, char **argv);
int cmd_prompt(int argc, char **argv);
int cmd_budget(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_versions(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_alert(int argc, char **argv);

/* `llmtap prompt push|list|show|diff|label` (cmd_prompt_reg.c); argv[0] is the verb. */
int cli_prompt_registry(const char *verb, int argc, char **argv, const char *usage);

/* Load a week of generated traffic into 'db' through the running server
 * at 'server_url' when the database has no spans yet (serve --demo).
 * Returns 0, or -1 (logged). */
int demo_load(const char *db, const char *server_url);

/* "--name value" / "--name=value" at argv[*i]: 1 and *value set (advancing
 * *i past a separate value), 0 when argv[*i] is not that option, -1 when the
 * value is missing (message printed). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

/* The options most commands share, at argv[*i]: --help/-h (prints 'usage'
 * on stdout), --json (sets *json; pass NULL where it does not apply) and
 * --db PATH. Returns 1 when consumed, 0 when argv[*i] is none of them,
 * -1 on a usage error, CLI_HELP when help was printed (exit 0). */
#define CLI_HELP 3
int cli_common_opt(int argc, char **argv, int *i, const char *usage, const char **db, int *json);

/* For commands that take only those: parse all of argv[1..]. Returns -1 to
 * go on, else the exit code (0 after --help, CLI_USAGE_ERROR after a
 * message naming 'cmd'). */
int cli_only_common_opts(const char *cmd, int argc, char **argv, const char *usage, const char **db,
                         int *json);

/* The database path: 'given' (from --db), else $LLMTAP_DB, else "llmtap.db". */
const char *cli_db_path(const char *given);

/* Print "llmtap <cmd>: <message>" on stderr; returns 1 (the exit code). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The URL of a live server holding 'db' ("http://127.0.0.1:4318", caller
 * frees), or NULL when none answers. */
char *cli_find_server(const char *db);

/* POST 'body' to 'url'; response body into 'resp' and status into *status.
 * Extra header lines in 'headers' (NULL-terminated, may be NULL). Returns 0,
 * or -1 when the request could not be made (message in 'err'). */
int cli_http_post(const char *url, const char *content_type, const char *const *headers,
                  const char *body, size_t len, struct buf *resp, long *status, char *err,
                  size_t errlen);

/* GET 'url'; like cli_http_post. */
int cli_http_get(const char *url, struct buf *resp, long *status, char *err, size_t errlen);

/* The message of a server's error answer 'resp' ({"error":{"message":...}})
 * into 'err', else "the server answered STATUS: <its text>". */
void cli_server_error(const struct buf *resp, long status, char *err, size_t errlen);

/* Read a whole file (caller frees); NULL with a message when it cannot. */
char *cli_read_file(const char *path, size_t *len, char *err, size_t errlen);

#endif
