/*
 * scorer_cmd: the command scorer (scorer.h). The suite author's command
 * runs as /bin/sh -c COMMAND in its own process group; the case goes to it
 * as JSON on stdin only (never into the command line), its stdout is read
 * up to SCORER_CMD_OUT_MAX bytes, and its stderr is left to ours.
 *
 * States of one run: spawned -> exchanging (stdin written while stdout is
 * read, with poll() until the deadline) -> stdout at EOF -> reaped. A
 * timeout or an oversized stdout kills the whole group (SIGKILL) and reaps
 * the shell. Every descriptor opened is closed on every path; the child
 * closes all but 0, 1 and 2 before exec. Writing to a command that does
 * not read its stdin must not kill us: SIGPIPE is blocked in this thread
 * for the write and a pending one consumed. Thread-safe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2, close_range */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "evaluator/scorer_int.h"

#define FD_SCAN_MAX 65536 /* fds closed by hand when close_range is missing */

struct child {
    pid_t pid;
    int in_fd;  /* our end of its stdin; -1 once closed */
    int out_fd; /* our end of its stdout; -1 once closed */
};

/* ---- the child ------------------------------------------------------------ */

/* Make 'fd' the child's 'target' descriptor (inherited across exec). */
static int child_fd(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

/* What the child needs, made before fork. */
struct child_prep {
    struct sigaction dfl; /* SIGPIPE back to default: ignored stays ignored across exec */
    sigset_t none;        /* no signal blocked */
    long maxfd;           /* where closing by hand stops */
};

static void child_prepare(struct child_prep *cp)
{
    memset(&cp->dfl, 0, sizeof(cp->dfl));
    cp->dfl.sa_handler = SIG_DFL;
    sigemptyset(&cp->dfl.sa_mask);
    sigemptyset(&cp->none);
    cp->maxfd = sysconf(_SC_OPEN_MAX);
    if (cp->maxfd <= 0 || cp->maxfd > FD_SCAN_MAX)
        cp->maxfd = FD_SCAN_MAX;
}

/* In the forked child: only async-signal-safe calls until exec. */
static void child_exec(const char *command, const struct child_prep *cp, int in_fd, int out_fd)
{
    setpgid(0, 0);
    if (child_fd(in_fd, 0) || child_fd(out_fd, 1))
        _exit(127);
    if (close_range(3, ~0U, 0) != 0)
        for (long fd = 3; fd < cp->maxfd; fd++)
            close((int)fd);
    sigaction(SIGPIPE, &cp->dfl, NULL);
    sigprocmask(SIG_SETMASK, &cp->none, NULL);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
}

/* ---- the parent ----------------------------------------------------------- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int cmd_spawn(const char *command, struct child *ch, char *err, size_t errlen)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    struct child_prep cp;
    child_prepare(&cp);
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        goto fail;
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        child_exec(command, &cp, in[0], out[1]);
    setpgid(pid, pid); /* the child does it too: whichever runs first */
    close_fd(&in[0]);
    close_fd(&out[1]);
    ch->pid = pid;
    ch->in_fd = in[1];
    ch->out_fd = out[0];
    fcntl(ch->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(ch->out_fd, F_SETFL, O_NONBLOCK);
    return 0;
fail:
    snprintf(err, errlen, "command: cannot start: %s", strerror(errno));
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    return -1;
}

/* write() with SIGPIPE kept from this process: blocked in this thread
 * and, when the write raised it, consumed. */
static ssize_t write_nosigpipe(int fd, const char *p, size_t n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, p, n);
    int e = errno;
    if (w < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

/* Feed more of 'input' ('*off' of 'len' sent); stdin closes when done or
 * when the command stopped reading. */
static void feed(struct child *ch, const char *input, size_t len, size_t *off)
{
    ssize_t w = write_nosigpipe(ch->in_fd, input + *off, len - *off);
    if (w > 0)
        *off += (size_t)w;
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || *off == len)
        close_fd(&ch->in_fd);
}

/* Read what stdout has: 0, 1 at EOF, -1 past the ceiling. */
static int drain(struct child *ch, struct buf *out)
{
    char chunk[16384];
    ssize_t r = read(ch->out_fd, chunk, sizeof(chunk));
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close_fd(&ch->out_fd);
        return 1;
    }
    if (r > 0 && buf_append(out, chunk, (size_t)r) != BUF_OK)
        return -1;
    return 0;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - time_mono_ns();
    if (left <= 0)
        return 0;
    return (int)((left + 999999) / 1000000);
}

/* Write 'input' and read stdout to its EOF: 0, -1 with a message. */
static int exchange(struct child *ch, const char *input, int64_t deadline, long timeout_ms,
                    struct buf *out, char *err, size_t errlen)
{
    size_t len = strlen(input), off = 0;
    while (ch->out_fd >= 0) {
        struct pollfd pf[2] = {{ch->out_fd, POLLIN, 0}, {ch->in_fd, POLLOUT, 0}};
        int ms = remaining_ms(deadline);
        if (ms == 0) {
            snprintf(err, errlen, "command: timed out after %ld ms", timeout_ms);
            return -1;
        }
        int rc = poll(pf, ch->in_fd >= 0 ? 2 : 1, ms);
        if (rc < 0 && errno != EINTR) {
            snprintf(err, errlen, "command: poll: %s", strerror(errno));
            return -1;
        }
        if (rc > 0 && ch->in_fd >= 0 && pf[1].revents)
            feed(ch, input, len, &off);
        if (rc > 0 && pf[0].revents && drain(ch, out) < 0) {
            snprintf(err, errlen, "command: output passes %u bytes", SCORER_CMD_OUT_MAX);
            return -1;
        }
    }
    return 0;
}

/* Wait for the shell until the deadline: 0 with *status, 1 timed out. */
static int reap(pid_t pid, int64_t deadline, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (remaining_ms(deadline) == 0)
            return 1;
        struct timespec nap = {0, 2000000};
        nanosleep(&nap, NULL);
    }
}

static void kill_and_reap(pid_t pid)
{
    int status;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL); /* when setpgid lost the race */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* Run 'command' with 'input' on stdin; stdout into 'out'. 0, or -1 with
 * a message (a failed start, a timeout, a non-zero exit, too much output). */
static int cmd_run(const struct scorer *sc, const char *input, struct buf *out, char *err,
                   size_t errlen)
{
    struct child ch = {-1, -1, -1};
    int status = 0, rc;
    int64_t deadline = time_mono_ns() + (int64_t)sc->timeout_ms * 1000000;
    if (cmd_spawn(sc->command, &ch, err, errlen))
        return -1;
    rc = exchange(&ch, input, deadline, sc->timeout_ms, out, err, errlen);
    close_fd(&ch.in_fd);
    close_fd(&ch.out_fd);
    if (rc == 0) {
        rc = reap(ch.pid, deadline, &status);
        if (rc > 0)
            snprintf(err, errlen, "command: timed out after %ld ms", sc->timeout_ms);
        else if (rc < 0)
            snprintf(err, errlen, "command: waitpid: %s", strerror(errno));
    }
    if (rc != 0) {
        kill_and_reap(ch.pid);
        return -1;
    }
    if (WIFSIGNALED(status))
        return snprintf(err, errlen, "command: killed by signal %d", WTERMSIG(status)), -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return snprintf(err, errlen, "command: exited with status %d", WEXITSTATUS(status)), -1;
    return 0;
}

/* ---- reading the verdict -------------------------------------------------- */

/* "0.75", "pass", "false", ...: 1 with *v, else 0. */
static int read_word(const char *s, double *v)
{
    static const char *const yes[] = {"pass", "true"}, *const no[] = {"fail", "false"};
    for (size_t i = 0; i < 2; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *v = 1, 1;
        if (strcasecmp(s, no[i]) == 0)
            return *v = 0, 1;
    }
    char *end;
    if (!(isdigit((unsigned char)s[0]) || s[0] == '.' || s[0] == '-' || s[0] == '+'))
        return 0;
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v);
}

/* {"score": x, "reason": "..."}: 1 with *v and *reason (borrowed from 'j'). */
static int read_object(const cJSON *j, double *v, const char **reason)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "score");
    if (!cJSON_IsObject(j) || !(cJSON_IsNumber(s) || cJSON_IsBool(s)))
        return 0;
    *v = cJSON_IsBool(s) ? cJSON_IsTrue(s) : s->valuedouble;
    *reason = jsonx_str(j, "reason");
    return 1;
}

/* The verdict in 'text' (trimmed, in place): 1 with *v and the reason. */
static int read_verdict(char *text, double *v, char **reason)
{
    const char *why = NULL;
    if (read_word(text, v)) {
        *reason = NULL;
        return 1;
    }
    cJSON *j = jsonx_parse(text, strlen(text), NULL, 0);
    int ok = j && read_object(j, v, &why);
    *reason = ok && why ? xstrdup(why) : NULL;
    cJSON_Delete(j);
    return ok;
}

static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

static void cmd_verdict(const struct scorer *sc, const char *out, struct eval_score *score)
{
    char q[200], *why = NULL;
    double v = 0;
    char *text = trimmed(out, strlen(out));
    int ok = read_verdict(text, &v, &why);
    const char *nl = strrchr(text, '\n');
    if (!ok && nl) {
        /* a log before the verdict: the last line alone */
        char *last = trimmed(nl + 1, strlen(nl + 1));
        ok = read_verdict(last, &v, &why);
        free(last);
    }
    scorer_quote(q, sizeof(q), text, strlen(text));
    if (!ok)
        scorer_fail(score, "command: unreadable output %s", q);
    else if (v < 0 || v > 1)
        scorer_fail(score, "command: score %g outside [0, 1]", v);
    else if (why)
        scorer_fill(sc, score, v, why);
    else
        scorer_fill(sc, score, v, q);
    free(why);
    free(text);
}

/* {"vars","expected","metadata","output","latency_ms","cost_usd"}. */
static char *case_json(const struct scorer_input *in, char *err, size_t errlen)
{
    const struct eval_output *o = in->out;
    cJSON *j = scorer_context(in->c, o && o->text ? o->text : "", err, errlen);
    if (!j)
        return NULL;
    cJSON_AddNumberToObject(j, "latency_ms", o ? o->latency_ms : 0);
    if (o && o->has_cost)
        cJSON_AddNumberToObject(j, "cost_usd", (double)o->cost_nusd / 1e9);
    else
        cJSON_AddNullToObject(j, "cost_usd");
    char *s = jsonx_print(j);
    cJSON_Delete(j);
    return s;
}

void scorer_cmd_score(const struct scorer *sc, const struct scorer_input *in,
                      struct eval_score *score)
{
    char err[256];
    struct buf out;
    char *input = case_json(in, err, sizeof(err));
    if (!input) {
        scorer_fail(score, "%s", err);
        return;
    }
    buf_init(&out, SCORER_CMD_OUT_MAX);
    if (cmd_run(sc, input, &out, err, sizeof(err)))
        scorer_fail(score, "%s", err);
    else
        cmd_verdict(sc, buf_str(&out), score);
    buf_release(&out);
    free(input);
}
