/*
 * body: bounded, deadline-limited request body reading (see body.h).
 */
#include "collector/body.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/gunzip.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "core/xmem.h"

#define READ_CHUNK 65536
#define DRAIN_MAX (256u << 20) /* read and drop at most this much of a refused body */

void body_media_type(struct mg_connection *conn, char *out, size_t outlen)
{
    const char *ct = mg_get_header(conn, "Content-Type");
    size_t n = 0;
    if (ct) {
        while (*ct == ' ')
            ct++;
        while (ct[n] && ct[n] != ';' && ct[n] != ' ' && n + 1 < outlen) {
            out[n] = (char)tolower((unsigned char)ct[n]);
            n++;
        }
    }
    out[n] = '\0';
}

/* How the body is encoded: 0 identity, 1 gzip, -1 unsupported. */
static int content_encoding(struct mg_connection *conn)
{
    const char *ce = mg_get_header(conn, "Content-Encoding");
    if (!ce || !*ce || strcasecmp(ce, "identity") == 0)
        return 0;
    if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0)
        return 1;
    return -1;
}

static int check_framing(struct mg_connection *conn, const struct body_limits *lim, char *err,
                         size_t errlen)
{
    const char *te = mg_get_header(conn, "Transfer-Encoding");
    const char *cl = mg_get_header(conn, "Content-Length");
    if (te && cl) {
        snprintf(err, errlen, "request has both Transfer-Encoding and Content-Length");
        return LT_INVALID_INPUT;
    }
    if (te && strcasecmp(te, "chunked") != 0) {
        snprintf(err, errlen, "unsupported Transfer-Encoding '%.40s'", te);
        return LT_INVALID_INPUT;
    }
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (ri->content_length > 0 && (unsigned long long)ri->content_length > lim->max_bytes) {
        snprintf(err, errlen, "body of %lld bytes exceeds the limit of %zu bytes",
                 ri->content_length, lim->max_bytes);
        return LT_PAYLOAD_TOO_LARGE;
    }
    return LT_OK;
}

/* Read and drop what is left of a refused body (bounded by DRAIN_MAX and
 * the deadline), so that closing the connection does not reset it under
 * the client before it has read our answer. */
static void drain(struct mg_connection *conn, char *chunk, int64_t deadline)
{
    size_t dropped = 0;
    while (dropped < DRAIN_MAX && time_mono_ns() < deadline) {
        int n = mg_read(conn, chunk, READ_CHUNK);
        if (n <= 0)
            break;
        dropped += (size_t)n;
    }
}

int body_read(struct mg_connection *conn, const struct body_limits *lim, struct buf *out, char *err,
              size_t errlen)
{
    int64_t deadline = time_mono_ns() + lim->deadline_ms * 1000000LL;
    int rc = check_framing(conn, lim, err, errlen);
    if (rc == LT_PAYLOAD_TOO_LARGE) {
        char *scratch = xmalloc(READ_CHUNK);
        drain(conn, scratch, deadline);
        free(scratch);
    }
    if (rc != LT_OK)
        return rc;
    int enc = content_encoding(conn);
    if (enc < 0) {
        snprintf(err, errlen, "unsupported Content-Encoding '%.40s' (use gzip or identity)",
                 mg_get_header(conn, "Content-Encoding"));
        return LT_UNSUPPORTED_MEDIA_TYPE;
    }
    out->max = lim->max_bytes;
    struct gunzip *gz = enc ? gunzip_new(out) : NULL;
    char *chunk = xmalloc(READ_CHUNK);
    long long expected = mg_get_request_info(conn)->content_length, got = 0;
    for (;;) {
        int n = mg_read(conn, chunk, READ_CHUNK);
        if (n <= 0)
            break;
        got += n;
        int fr = gz ? gunzip_feed(gz, chunk, (size_t)n) : buf_append(out, chunk, (size_t)n);
        if (fr != 0) {
            rc = (!gz || fr == GUNZIP_TOOBIG) ? LT_PAYLOAD_TOO_LARGE : LT_INVALID_INPUT;
            snprintf(err, errlen, "%s", gz ? gunzip_errmsg(gz) : "body exceeds the size limit");
            if (rc == LT_PAYLOAD_TOO_LARGE) {
                snprintf(err, errlen, "body exceeds the limit of %zu bytes%s", lim->max_bytes,
                         gz ? " after decompression" : "");
                drain(conn, chunk, deadline);
            }
            goto done;
        }
        if (time_mono_ns() > deadline) {
            rc = LT_INVALID_INPUT;
            snprintf(err, errlen, "request body not received within %lld ms",
                     (long long)lim->deadline_ms);
            goto done;
        }
    }
    if (expected > 0 && got < expected) {
        rc = LT_INVALID_INPUT;
        snprintf(err, errlen, "body truncated: got %lld of %lld bytes", got, expected);
    } else if (gz && got > 0 && gunzip_finish(gz) != GUNZIP_OK) {
        rc = LT_INVALID_INPUT;
        snprintf(err, errlen, "invalid gzip body: %s", gunzip_errmsg(gz));
    }
done:
    free(chunk);
    gunzip_free(gz);
    return rc;
}
