/*
 * srv: run the llmtap server under test as a child process, for integration
 * tests and the benchmark. srv_start runs
 *   [$LLMTAP_SERVER_WRAPPER...] tu_llmtap_bin() serve --db DB --listen 127.0.0.1:0 [extra...]
 * with stdout and stderr appended to DB.server.log, and returns once DB.server
 * names this process's URL and GET /healthz answers 200. The query helpers
 * run `llmtap query --db DB --json SQL` (read-only, fine while it serves).
 * Not thread-safe; one struct srv per server.
 */
#ifndef TESTS_SUPPORT_SRV_H
#define TESTS_SUPPORT_SRV_H

#include <stdint.h>
#include <sys/types.h>

struct srv {
    pid_t pid; /* 0 when not running */
    int port;
    char url[64];   /* "http://127.0.0.1:PORT" */
    char *db;       /* owned copy of the database path */
    char *log_path; /* owned: DB.server.log */
};

/* Start a server on 'db' with 'extra' arguments (NULL-terminated, may be
 * NULL). Waits up to 10 s (60 s under a wrapper) for it to be ready.
 * Returns 0, or -1 after printing why and the log's tail on stderr (the child
 * is then killed). Release 's' with srv_release either way. */
int srv_start(struct srv *s, const char *db, const char *const *extra)
    __attribute__((warn_unused_result));

/* Send 'sig' and wait up to 'timeout_ms' for the exit. Returns the exit code
 * (0-255), 128 + the signal number when a signal ended it, or -1 when it did
 * not exit in time (it is then SIGKILLed and reaped). */
int srv_stop(struct srv *s, int sig, int timeout_ms);

/* SIGKILL and reap (a crash). No-op when not running. */
void srv_kill(struct srv *s);

/* Kill the server if it still runs and free the strings; 's' is zeroed. */
void srv_release(struct srv *s);

/* Whole server log so far (caller frees), or NULL. */
char *srv_log(const struct srv *s);

/* stdout of `llmtap query --db 'db' --json 'sql'` (caller frees), or NULL
 * when it exits non-zero (its stderr goes to ours). */
char *srv_query(const char *db, const char *sql);

/* First column of the first row of 'sql' as an integer (a number or a
 * numeric string). Returns 0, or -1 when the query fails or gives no
 * such value. */
int srv_query_int(const char *db, const char *sql, int64_t *out)
    __attribute__((warn_unused_result));

#endif
