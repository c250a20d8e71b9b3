/*
 * srv: see srv.h. The server is forked with PR_SET_PDEATHSIG so that a test
 * that dies (or is killed by Check's timeout) never leaves a server behind.
 * Readiness is judged from the outside, as a user would: DB.server must name
 * our pid (or, under a wrapper that may fork, be written after our start) and
 * its URL must answer /healthz.
 */
#include "tests/support/srv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "tests/support/httpc.h"
#include "tests/support/testutil.h"

#define SRV_MAX_ARGS 64
#define SRV_QUERY_MAX (256u * 1024 * 1024)

extern char **environ;

static void srv_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *srv_wrapper(void)
{
    const char *w = getenv("LLMTAP_SERVER_WRAPPER");
    return w && *w ? w : NULL;
}

/* argv for the server: the wrapper's words (split in 'words'), the binary,
 * serve, the fixed flags, then 'extra'. Returns the count, or -1 if too many. */
static int srv_build_argv(char *words, const char *db, const char *const *extra, char **argv)
{
    int n = 0;
    char *save = NULL;
    for (char *w = words ? strtok_r(words, " \t", &save) : NULL; w && n < 8;
         w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    const char *fixed[] = {tu_llmtap_bin(), "serve", "--db", db, "--listen", "127.0.0.1:0"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = (char *)fixed[i];
    for (const char *const *x = extra; x && *x; x++) {
        if (n >= SRV_MAX_ARGS - 1)
            return -1;
        argv[n++] = (char *)*x;
    }
    argv[n] = NULL;
    return n;
}

/* Fork and exec 'argv' with stdout+stderr appended to 'log'. */
static pid_t srv_spawn(char **argv, const char *log)
{
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(logfd);
    return pid;
}

static void srv_print_log_tail(const struct srv *s)
{
    size_t len = 0;
    char *log = tu_read_file(s->log_path, &len);
    if (!log)
        return;
    size_t from = len > 4000 ? len - 4000 : 0;
    fprintf(stderr, "---- tail of %s ----\n%s\n---- end of log ----\n", s->log_path, log + from);
    free(log);
}

/* Does DB.server describe the server we started? Fills s->url and s->port. */
static bool srv_read_server_file(struct srv *s, const char *path, int64_t started_ns)
{
    size_t len;
    char *text = tu_read_file(path, &len);
    if (!text)
        return false;
    char err[64];
    cJSON *j = jsonx_parse(text, len, err, sizeof(err));
    int64_t pid = 0;
    const char *url = j ? jsonx_str(j, "url") : NULL;
    bool ok = url && jsonx_member_int64(j, "pid", &pid) == 0;
    if (ok && pid != s->pid) {
        struct stat st;
        ok = srv_wrapper() && stat(path, &st) == 0 &&
             (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec >= started_ns;
    }
    char host[32];
    ok = ok && strlen(url) < sizeof(s->url) &&
         httpc_parse_url(url, host, sizeof(host), &s->port) == 0;
    if (ok)
        snprintf(s->url, sizeof(s->url), "%s", url);
    cJSON_Delete(j);
    free(text);
    return ok;
}

static bool srv_healthy(const struct srv *s)
{
    struct httpc_request req = {.method = "GET", .path = "/healthz"};
    struct httpc_response resp;
    int rc = httpc_fetch(s->url, &req, 2000, &resp);
    bool ok = rc == HTTPC_OK && resp.status == 200;
    httpc_response_release(&resp);
    return ok;
}

static int srv_wait_ready(struct srv *s, int64_t started_ns, int timeout_ms)
{
    char *path = xasprintf("%s.server", s->db);
    int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;
    int rc = -1;
    while (time_mono_ns() < deadline) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "srv: server exited before it was ready (status 0x%x)\n", status);
            s->pid = 0;
            break;
        }
        if (srv_read_server_file(s, path, started_ns) && srv_healthy(s)) {
            rc = 0;
            break;
        }
        srv_sleep_ms(20);
    }
    if (rc != 0 && s->pid)
        fprintf(stderr, "srv: server not ready within %d ms (%s)\n", timeout_ms, path);
    free(path);
    return rc;
}

int srv_start(struct srv *s, const char *db, const char *const *extra)
{
    char *argv[SRV_MAX_ARGS];
    memset(s, 0, sizeof(*s));
    s->db = xstrdup(db);
    s->log_path = xasprintf("%s.server.log", db);
    char *words = srv_wrapper() ? xstrdup(srv_wrapper()) : NULL;
    int rc = -1;
    if (srv_build_argv(words, db, extra, argv) < 0) {
        fprintf(stderr, "srv: too many arguments\n");
        goto done;
    }
    int64_t started_ns = time_now_ns() - 1000000000; /* mtime granularity */
    s->pid = srv_spawn(argv, s->log_path);
    if (s->pid <= 0) {
        fprintf(stderr, "srv: cannot start %s: %s\n", argv[0], strerror(errno));
        s->pid = 0;
        goto done;
    }
    rc = srv_wait_ready(s, started_ns, srv_wrapper() ? 60000 : 10000);
    if (rc != 0) {
        srv_kill(s);
        srv_print_log_tail(s);
    }
done:
    free(words);
    return rc;
}

static int srv_decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int srv_stop(struct srv *s, int sig, int timeout_ms)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;
    int status;
    while (time_mono_ns() < deadline) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            int code = srv_decode_status(status);
            if (code != 0) /* say why before the caller's assertion removes the log */
                srv_print_log_tail(s);
            return code;
        }
        if (r < 0 && errno == ECHILD) {
            s->pid = 0;
            return -1;
        }
        srv_sleep_ms(10);
    }
    fprintf(stderr, "srv: server did not exit within %d ms of signal %d\n", timeout_ms, sig);
    srv_kill(s);
    return -1;
}

void srv_kill(struct srv *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

void srv_release(struct srv *s)
{
    srv_kill(s);
    free(s->db);
    free(s->log_path);
    memset(s, 0, sizeof(*s));
}

char *srv_log(const struct srv *s)
{
    return s->log_path ? tu_read_file(s->log_path, NULL) : NULL;
}

/* Read 'fd' to EOF into a new string (caller frees); NULL past the limit. */
static char *srv_read_all(int fd)
{
    struct buf b;
    buf_init(&b, SRV_QUERY_MAX);
    char *chunk = xmalloc(65536);
    bool ok = true;
    for (;;) {
        ssize_t r = read(fd, chunk, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (buf_append(&b, chunk, (size_t)r) != BUF_OK)
            ok = false;
    }
    free(chunk);
    char *out = buf_take(&b, NULL);
    buf_release(&b);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

char *srv_query(const char *db, const char *sql)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return NULL;
    char *argv[] = {(char *)tu_llmtap_bin(),
                    (char *)"query",
                    (char *)"--db",
                    (char *)db,
                    (char *)"--json",
                    (char *)sql,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        fprintf(stderr, "srv: cannot run %s: %s\n", argv[0], strerror(err));
        return NULL;
    }
    char *out = srv_read_all(fds[0]);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "srv: query failed (status 0x%x): %s\n", status, sql);
        free(out);
        return NULL;
    }
    return out;
}

int srv_query_int(const char *db, const char *sql, int64_t *out)
{
    char *text = srv_query(db, sql);
    if (!text)
        return -1;
    char err[64];
    cJSON *j = jsonx_parse(text, strlen(text), err, sizeof(err));
    const cJSON *row = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, 0) : NULL;
    const cJSON *col = cJSON_IsObject(row) ? row->child : NULL;
    int rc = col && jsonx_int64(col, out) == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "srv: no integer in the result of %s: %.200s\n", sql, text);
    cJSON_Delete(j);
    free(text);
    return rc;
}
