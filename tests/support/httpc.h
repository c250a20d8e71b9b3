/*
 * httpc: a small blocking HTTP/1.1 client over loopback TCP for tests and the
 * benchmark. One struct httpc is one keep-alive connection: requests go one
 * after another on it, and it reconnects by itself when the previous exchange
 * left it closed (an error, "Connection: close", or a body framed by close).
 * Requests can be sent with a Content-Length or chunked (a chosen chunk
 * size), optionally gzip-compressed; responses are read with Content-Length,
 * chunked or close framing. Raw sends (malformed requests, slow trickles)
 * are there for the collector's hostile-input tests.
 *
 * Everything is bounded: response headers by HTTPC_MAX_HEAD, bodies by the
 * connection's body limit, each request by its timeout. SIGPIPE is never
 * raised (MSG_NOSIGNAL). A connection is not thread-safe; use one per thread.
 */
#ifndef TESTS_SUPPORT_HTTPC_H
#define TESTS_SUPPORT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#define HTTPC_MAX_HEAD (64 * 1024) /* status line + headers */
#define HTTPC_MAX_HEADERS 64
#define HTTPC_DEFAULT_MAX_BODY (64u * 1024 * 1024)

enum httpc_err {
    HTTPC_OK = 0,
    HTTPC_ECONNECT, /* cannot connect */
    HTTPC_ESEND,    /* the request could not be written (peer closed or reset) */
    HTTPC_ETIMEOUT, /* no complete response before the deadline */
    HTTPC_ECLOSED,  /* the peer closed before a complete response */
    HTTPC_EPROTO,   /* the response is not well-formed HTTP/1.1 */
    HTTPC_ETOOBIG,  /* response headers or body over their limit */
    HTTPC_EARG      /* bad argument (URL, method, path) */
};

struct httpc;

struct httpc_request {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* "/api/v1/spans" */
    const char *content_type;   /* NULL: no Content-Type header */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;           /* may be NULL when body_len is 0 */
    size_t body_len;
    size_t chunk_size; /* > 0: Transfer-Encoding: chunked, chunks of this size */
    bool gzip;         /* compress the body, add Content-Encoding: gzip */
};

struct httpc_header {
    const char *name, *value; /* point into the response's header copy */
};

struct httpc_response {
    int status;
    char *head; /* header block copy the header pointers point into */
    size_t nheaders;
    struct httpc_header headers[HTTPC_MAX_HEADERS];
    char *body; /* NUL-terminated (not counted in body_len); never NULL after success */
    size_t body_len;
};

/* Connect to 'host':'port' (numeric IPv4). Returns the connection (caller
 * frees with httpc_close) or NULL when the connection is refused.
 * 'timeout_ms' bounds each request (send and complete response). */
struct httpc *httpc_open(const char *host, int port, int timeout_ms);

/* Same, from "http://HOST:PORT" (a path after it is ignored). */
struct httpc *httpc_open_url(const char *url, int timeout_ms);

/* Accepts NULL. */
void httpc_close(struct httpc *c);

void httpc_set_timeout(struct httpc *c, int timeout_ms);
void httpc_set_max_body(struct httpc *c, size_t max);

/* Send 'req' and read its response into 'resp' (release it with
 * httpc_response_release, also after a failure). Reconnects first when the
 * connection is closed. Returns HTTPC_OK or an enum httpc_err; on failure
 * the connection is closed (the next call reconnects). */
int httpc_request(struct httpc *c, const struct httpc_request *req, struct httpc_response *resp)
    __attribute__((warn_unused_result));

/* Write 'len' raw bytes (connecting first if needed). Returns HTTPC_OK,
 * HTTPC_ECONNECT or HTTPC_ESEND. */
int httpc_send_raw(struct httpc *c, const void *data, size_t len)
    __attribute__((warn_unused_result));

/* Write 'data' 'step' bytes at a time with 'delay_ms' between writes (a slow
 * client). Stops with HTTPC_ESEND as soon as the peer has closed. */
int httpc_send_slow(struct httpc *c, const void *data, size_t len, size_t step, int delay_ms)
    __attribute__((warn_unused_result));

/* Read one response (after raw sends). 'head_request': the request was HEAD,
 * so there is no body. Same returns as httpc_request. */
int httpc_read_response(struct httpc *c, bool head_request, struct httpc_response *resp)
    __attribute__((warn_unused_result));

/* Discard input until the peer closes. Returns 1 when it closed (or reset)
 * within 'timeout_ms', 0 when it is still open. */
int httpc_wait_closed(struct httpc *c, int timeout_ms);

/* Whether the connection is currently open (it may still be closed by the
 * peer without our knowing). */
bool httpc_is_open(const struct httpc *c);

/* Value of the first header named 'name' (any case), or NULL. Borrowed from
 * 'resp'. */
const char *httpc_header(const struct httpc_response *resp, const char *name);

/* Accepts a zeroed or released response. */
void httpc_response_release(struct httpc_response *resp);

/* Static text for an enum httpc_err. */
const char *httpc_strerror(int err);

/* One request on a fresh connection to 'url' ("http://HOST:PORT"), closed
 * afterwards. Same returns as httpc_request. */
int httpc_fetch(const char *url, const struct httpc_request *req, int timeout_ms,
                struct httpc_response *resp) __attribute__((warn_unused_result));

/* Split "http://HOST:PORT[/...]" into 'host' (NUL-terminated) and '*port'.
 * Returns 0, or -1 when 'url' is not of that form or HOST does not fit. */
int httpc_parse_url(const char *url, char *host, size_t hostlen, int *port);

#endif
