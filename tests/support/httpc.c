/*
 * httpc: see httpc.h. Received bytes wait in 'in' from offset 'pos'; a
 * response is parsed once its bytes are there, and what follows it stays for
 * the next read. The socket is blocking, but every wait goes through poll()
 * against the request's deadline, so nothing blocks past the timeout.
 * While a request is being written, input from the server (an early answer
 * such as 413) stops the writing and the answer is read.
 */
#include "tests/support/httpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmem.h"

#define HC_RECV (64 * 1024) /* bytes read per recv */
#define HC_LINE_MAX 4096    /* a chunk-size or trailer line */
#define HC_EARLY (-1)       /* internal: the server answered while we were writing */

struct httpc {
    char host[64];
    int port;
    int fd; /* -1 when closed */
    int timeout_ms;
    size_t max_body;
    struct buf in; /* received bytes; unread from 'pos' */
    size_t pos;
    char *chunk; /* HC_RECV bytes of recv scratch */
};

static int64_t hc_now_ms(void)
{
    return time_mono_ns() / 1000000;
}

static int hc_left_ms(int64_t deadline)
{
    int64_t left = deadline - hc_now_ms();
    return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static void hc_drop(struct httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_reset(&c->in);
    c->pos = 0;
}

static int hc_connect(struct httpc *c)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->port);
    if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1)
        return HTTPC_EARG;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return HTTPC_ECONNECT;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINTR) {
            close(fd);
            return HTTPC_ECONNECT;
        }
    }
    hc_drop(c);
    c->fd = fd;
    return HTTPC_OK;
}

struct httpc *httpc_open(const char *host, int port, int timeout_ms)
{
    if (!host || strlen(host) >= sizeof(((struct httpc *)0)->host) || port <= 0 || port > 65535)
        return NULL;
    struct httpc *c = xcalloc(1, sizeof(*c));
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    c->max_body = HTTPC_DEFAULT_MAX_BODY;
    buf_init(&c->in, 0);
    c->chunk = xmalloc(HC_RECV);
    if (hc_connect(c) != HTTPC_OK) {
        httpc_close(c);
        return NULL;
    }
    return c;
}

int httpc_parse_url(const char *url, char *host, size_t hostlen, int *port)
{
    if (!url || strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *colon = strchr(h, ':');
    if (!colon || colon == h || (size_t)(colon - h) >= hostlen)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end && *end != '/') || p <= 0 || p > 65535)
        return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    *port = (int)p;
    return 0;
}

struct httpc *httpc_open_url(const char *url, int timeout_ms)
{
    char host[64];
    int port;
    if (httpc_parse_url(url, host, sizeof(host), &port) != 0)
        return NULL;
    return httpc_open(host, port, timeout_ms);
}

void httpc_close(struct httpc *c)
{
    if (!c)
        return;
    hc_drop(c);
    buf_release(&c->in);
    free(c->chunk);
    free(c);
}

void httpc_set_timeout(struct httpc *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
}

void httpc_set_max_body(struct httpc *c, size_t max)
{
    c->max_body = max;
}

bool httpc_is_open(const struct httpc *c)
{
    return c->fd >= 0;
}

/* ---- sending ----------------------------------------------------------------- */

/* Write all of 'iov'. Returns HTTPC_OK, HTTPC_ESEND, HTTPC_ETIMEOUT, or
 * HC_EARLY when the server sent something before we were done. */
static int hc_send_iov(struct httpc *c, struct iovec *iov, int n, int64_t deadline)
{
    while (n > 0) {
        if (iov->iov_len == 0) {
            iov++;
            n--;
            continue;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLOUT | POLLIN};
        int pr = poll(&p, 1, hc_left_ms(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return HTTPC_ETIMEOUT;
        if (pr < 0 || (p.revents & (POLLERR | POLLNVAL)))
            return HTTPC_ESEND;
        if (p.revents & (POLLIN | POLLHUP))
            return HC_EARLY;
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w < 0)
            return HTTPC_ESEND;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return HTTPC_OK;
}

static int hc_send(struct httpc *c, const void *p, size_t n, int64_t deadline)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    return hc_send_iov(c, &iov, 1, deadline);
}

static int hc_send_chunked(struct httpc *c, const struct buf *head, const char *body, size_t len,
                           size_t chunk, int64_t deadline)
{
    int rc = hc_send(c, head->data, head->len, deadline);
    for (size_t off = 0; rc == HTTPC_OK && off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        char size_line[32];
        int sl = snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
        struct iovec iov[3] = {
            {size_line, (size_t)sl}, {(void *)(body + off), n}, {(char *)"\r\n", 2}};
        rc = hc_send_iov(c, iov, 3, deadline);
    }
    if (rc == HTTPC_OK)
        rc = hc_send(c, "0\r\n\r\n", 5, deadline);
    return rc;
}

/* gzip 'len' bytes of 'src' into a new allocation; NULL if zlib fails. */
static char *hc_gzip(const void *src, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (len > UINT32_MAX || deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                                         Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&zs, (uLong)len) + 32;
    char *dst = xmalloc(bound);
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(dst);
        return NULL;
    }
    return dst;
}

static int hc_build_head(const struct httpc *c, const struct httpc_request *req, size_t len,
                         struct buf *h)
{
    int rc = buf_printf(h, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", req->method, req->path, c->host,
                        c->port);
    if (req->content_type)
        rc |= buf_printf(h, "Content-Type: %s\r\n", req->content_type);
    if (req->gzip)
        rc |= buf_puts(h, "Content-Encoding: gzip\r\n");
    if (req->chunk_size)
        rc |= buf_puts(h, "Transfer-Encoding: chunked\r\n");
    else if (len > 0 || (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")))
        rc |= buf_printf(h, "Content-Length: %zu\r\n", len);
    for (const char *const *x = req->headers; x && *x; x++)
        rc |= buf_printf(h, "%s\r\n", *x);
    rc |= buf_puts(h, "\r\n");
    return rc ? HTTPC_EARG : HTTPC_OK;
}

/* ---- receiving --------------------------------------------------------------- */

static size_t hc_avail(const struct httpc *c)
{
    return c->in.len - c->pos;
}

static const char *hc_data(const struct httpc *c)
{
    return c->in.data ? c->in.data + c->pos : "";
}

/* Read more input. Returns HTTPC_OK, HTTPC_ETIMEOUT or HTTPC_ECLOSED. */
static int hc_fill(struct httpc *c, int64_t deadline)
{
    if (c->pos > 0 && c->pos == c->in.len) {
        buf_reset(&c->in);
        c->pos = 0;
    }
    for (;;) {
        if (c->fd < 0)
            return HTTPC_ECLOSED;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, hc_left_ms(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return HTTPC_ETIMEOUT;
        ssize_t r = recv(c->fd, c->chunk, HC_RECV, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return HTTPC_ECLOSED;
        if (buf_append(&c->in, c->chunk, (size_t)r) != BUF_OK)
            return HTTPC_ETOOBIG;
        return HTTPC_OK;
    }
}

/* Wait until 'n' unread bytes are there. */
static int hc_need(struct httpc *c, size_t n, int64_t deadline)
{
    while (hc_avail(c) < n) {
        int rc = hc_fill(c, deadline);
        if (rc != HTTPC_OK)
            return rc;
    }
    return HTTPC_OK;
}

/* Wait for a CRLF-terminated line; '*len' counts the CRLF. */
static int hc_need_line(struct httpc *c, int64_t deadline, size_t *len)
{
    for (;;) {
        const char *d = hc_data(c);
        const char *eol = memmem(d, hc_avail(c), "\r\n", 2);
        if (eol) {
            *len = (size_t)(eol - d) + 2;
            return HTTPC_OK;
        }
        if (hc_avail(c) > HC_LINE_MAX)
            return HTTPC_EPROTO;
        int rc = hc_fill(c, deadline);
        if (rc != HTTPC_OK)
            return rc;
    }
}

static int hc_read_head(struct httpc *c, int64_t deadline, size_t *len)
{
    for (;;) {
        const char *d = hc_data(c);
        const char *end = memmem(d, hc_avail(c), "\r\n\r\n", 4);
        if (end) {
            *len = (size_t)(end - d) + 4;
            return HTTPC_OK;
        }
        if (hc_avail(c) > HTTPC_MAX_HEAD)
            return HTTPC_ETOOBIG;
        int rc = hc_fill(c, deadline);
        if (rc != HTTPC_OK)
            return rc;
    }
}

static char *hc_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Parse the 'len'-byte header block at the read position into 'r'. */
static int hc_parse_head(const char *d, size_t len, struct httpc_response *r, bool *http10)
{
    if (memchr(d, '\0', len))
        return HTTPC_EPROTO;
    free(r->head);
    r->head = xstrndup(d, len - 2); /* keep one CRLF as the last line's end */
    r->nheaders = 0;
    char *line = r->head, *eol = strstr(line, "\r\n");
    *eol = '\0';
    if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        return HTTPC_EPROTO;
    *http10 = line[7] == '0';
    char *end;
    long status = strtol(line + 9, &end, 10);
    if (end != line + 12 || status < 100 || status > 999 || (*end && *end != ' '))
        return HTTPC_EPROTO;
    r->status = (int)status;
    for (line = eol + 2; *line; line = eol + 2) {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
            return HTTPC_EPROTO;
        if (r->nheaders == HTTPC_MAX_HEADERS)
            return HTTPC_ETOOBIG;
        *colon = '\0';
        r->headers[r->nheaders].name = line;
        r->headers[r->nheaders++].value = hc_trim(colon + 1);
    }
    return HTTPC_OK;
}

const char *httpc_header(const struct httpc_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (!strcasecmp(resp->headers[i].name, name))
            return resp->headers[i].value;
    return NULL;
}

static int hc_take(struct httpc *c, struct buf *body, size_t n)
{
    int rc = buf_append(body, hc_data(c), n) == BUF_OK ? HTTPC_OK : HTTPC_ETOOBIG;
    c->pos += n;
    return rc;
}

static int hc_read_chunked(struct httpc *c, struct buf *body, int64_t deadline)
{
    for (;;) {
        size_t line;
        int rc = hc_need_line(c, deadline, &line);
        if (rc != HTTPC_OK)
            return rc;
        char *end;
        unsigned long long size = strtoull(hc_data(c), &end, 16);
        if (end == hc_data(c) || (*end != '\r' && *end != ';' && *end != ' '))
            return HTTPC_EPROTO;
        c->pos += line;
        if (size > c->max_body)
            return HTTPC_ETOOBIG;
        if (size == 0)
            break;
        if ((rc = hc_need(c, (size_t)size + 2, deadline)) != HTTPC_OK)
            return rc;
        if (memcmp(hc_data(c) + size, "\r\n", 2) != 0)
            return HTTPC_EPROTO;
        if ((rc = hc_take(c, body, (size_t)size)) != HTTPC_OK)
            return rc;
        c->pos += 2;
    }
    for (;;) { /* trailers up to the empty line */
        size_t line;
        int rc = hc_need_line(c, deadline, &line);
        if (rc != HTTPC_OK)
            return rc;
        c->pos += line;
        if (line == 2)
            return HTTPC_OK;
    }
}

static int hc_read_until_close(struct httpc *c, struct buf *body, int64_t deadline)
{
    for (;;) {
        int rc = hc_take(c, body, hc_avail(c));
        if (rc != HTTPC_OK)
            return rc;
        rc = hc_fill(c, deadline);
        if (rc == HTTPC_ECLOSED)
            return HTTPC_OK;
        if (rc != HTTPC_OK)
            return rc;
    }
}

/* Read the body framed as the headers of 'r' say; '*closes' when the
 * connection cannot carry another request afterwards. */
static int hc_read_body(struct httpc *c, struct httpc_response *r, bool no_body, int64_t deadline,
                        bool *closes)
{
    struct buf body;
    buf_init(&body, c->max_body);
    const char *te = httpc_header(r, "Transfer-Encoding");
    const char *cl = httpc_header(r, "Content-Length");
    int rc = HTTPC_OK;
    if (no_body) {
        /* nothing */
    } else if (te && strcasestr(te, "chunked")) {
        rc = hc_read_chunked(c, &body, deadline);
    } else if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end || cl[0] == '-')
            rc = HTTPC_EPROTO;
        else if (n > c->max_body)
            rc = HTTPC_ETOOBIG;
        else if ((rc = hc_need(c, (size_t)n, deadline)) == HTTPC_OK)
            rc = hc_take(c, &body, (size_t)n);
    } else {
        *closes = true;
        rc = hc_read_until_close(c, &body, deadline);
    }
    r->body = buf_take(&body, &r->body_len);
    return rc;
}

static int hc_read_one(struct httpc *c, bool head_request, struct httpc_response *r,
                       int64_t deadline)
{
    for (;;) {
        size_t len;
        bool http10 = false, closes;
        int rc = hc_read_head(c, deadline, &len);
        if (rc == HTTPC_OK)
            rc = hc_parse_head(hc_data(c), len, r, &http10);
        if (rc != HTTPC_OK)
            return rc;
        c->pos += len;
        if (r->status >= 100 && r->status < 200 && r->status != 101)
            continue; /* interim response (100 Continue) */
        const char *conn = httpc_header(r, "Connection");
        closes = conn ? strcasestr(conn, "close") != NULL : http10;
        bool no_body = head_request || r->status < 200 || r->status == 204 || r->status == 304;
        rc = hc_read_body(c, r, no_body, deadline, &closes);
        if (rc == HTTPC_OK && closes)
            hc_drop(c);
        return rc;
    }
}

void httpc_response_release(struct httpc_response *resp)
{
    free(resp->head);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

/* ---- requests ------------------------------------------------------------------ */

/* A kept-alive connection the server has closed meanwhile reads as EOF:
 * reconnect rather than fail the request on it. */
static int hc_ensure_connected(struct httpc *c)
{
    if (c->fd >= 0 && hc_avail(c) == 0) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        char byte;
        if (poll(&p, 1, 0) == 1 && recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
            hc_drop(c);
    }
    return c->fd >= 0 ? HTTPC_OK : hc_connect(c);
}

static int hc_exchange(struct httpc *c, const struct httpc_request *req, const char *body,
                       size_t len, struct httpc_response *resp, int64_t deadline)
{
    struct buf head;
    buf_init(&head, HTTPC_MAX_HEAD);
    int rc = hc_build_head(c, req, len, &head);
    if (rc == HTTPC_OK && req->chunk_size) {
        rc = hc_send_chunked(c, &head, body, len, req->chunk_size, deadline);
    } else if (rc == HTTPC_OK) {
        struct iovec iov[2] = {{head.data, head.len}, {(void *)body, len}};
        rc = hc_send_iov(c, iov, 2, deadline);
    }
    buf_release(&head);
    if (rc == HTTPC_OK || rc == HC_EARLY || rc == HTTPC_ESEND) {
        /* after a failed write, the server may still have answered (413) */
        int read_rc = hc_read_one(c, !strcmp(req->method, "HEAD"), resp, deadline);
        rc = rc == HTTPC_ESEND && read_rc != HTTPC_OK ? HTTPC_ESEND : read_rc;
    }
    return rc;
}

int httpc_request(struct httpc *c, const struct httpc_request *req, struct httpc_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    if (!req->method || !req->path || strpbrk(req->method, " \r\n") ||
        strpbrk(req->path, " \r\n") || (req->body_len && !req->body))
        return HTTPC_EARG;
    int64_t deadline = hc_now_ms() + c->timeout_ms;
    if (hc_ensure_connected(c) != HTTPC_OK)
        return HTTPC_ECONNECT;
    const char *body = req->body_len ? req->body : "";
    size_t len = req->body_len;
    char *zipped = NULL;
    if (req->gzip && !(zipped = hc_gzip(body, len, &len)))
        return HTTPC_EARG;
    int rc = hc_exchange(c, req, zipped ? zipped : body, len, resp, deadline);
    free(zipped);
    if (rc != HTTPC_OK)
        hc_drop(c);
    return rc;
}

int httpc_fetch(const char *url, const struct httpc_request *req, int timeout_ms,
                struct httpc_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    struct httpc *c = httpc_open_url(url, timeout_ms);
    if (!c)
        return HTTPC_ECONNECT;
    int rc = httpc_request(c, req, resp);
    httpc_close(c);
    return rc;
}

int httpc_send_raw(struct httpc *c, const void *data, size_t len)
{
    if (c->fd < 0 && hc_connect(c) != HTTPC_OK)
        return HTTPC_ECONNECT;
    int rc = hc_send(c, data, len, hc_now_ms() + c->timeout_ms);
    return rc == HTTPC_OK || rc == HC_EARLY ? HTTPC_OK : HTTPC_ESEND;
}

int httpc_send_slow(struct httpc *c, const void *data, size_t len, size_t step, int delay_ms)
{
    if (c->fd < 0 && hc_connect(c) != HTTPC_OK)
        return HTTPC_ECONNECT;
    step = step ? step : 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (send(c->fd, (const char *)data + off, n, MSG_NOSIGNAL) != (ssize_t)n)
            return HTTPC_ESEND;
        struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return HTTPC_OK;
}

int httpc_read_response(struct httpc *c, bool head_request, struct httpc_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    int rc = hc_read_one(c, head_request, resp, hc_now_ms() + c->timeout_ms);
    if (rc != HTTPC_OK)
        hc_drop(c);
    return rc;
}

int httpc_wait_closed(struct httpc *c, int timeout_ms)
{
    int64_t deadline = hc_now_ms() + timeout_ms;
    c->pos = c->in.len; /* discard what is buffered */
    for (;;) {
        int rc = hc_fill(c, deadline);
        if (rc == HTTPC_ETIMEOUT)
            return 0;
        if (rc != HTTPC_OK) {
            hc_drop(c);
            return 1;
        }
        c->pos = c->in.len;
    }
}

const char *httpc_strerror(int err)
{
    switch (err) {
    case HTTPC_OK:
        return "ok";
    case HTTPC_ECONNECT:
        return "cannot connect";
    case HTTPC_ESEND:
        return "cannot send the request";
    case HTTPC_ETIMEOUT:
        return "timed out";
    case HTTPC_ECLOSED:
        return "connection closed before a complete response";
    case HTTPC_EPROTO:
        return "malformed response";
    case HTTPC_ETOOBIG:
        return "response too large";
    case HTTPC_EARG:
        return "bad request arguments";
    default:
        return "unknown error";
    }
}
