/*
 * body: reading a request body off a CivetWeb connection safely. CivetWeb
 * bounds headers only, so the body cap is enforced here, after gunzip (a
 * gzip bomb stops at the cap); a total deadline stops slow senders (CivetWeb's
 * own timeout is per read); a request with both Transfer-Encoding and
 * Content-Length is refused (request smuggling). Chunked request bodies are
 * de-chunked by CivetWeb's mg_read.
 * Thread-safe (per request state only).
 */
#ifndef COLLECTOR_BODY_H
#define COLLECTOR_BODY_H

#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>

#include "core/buf.h"

struct body_limits {
    size_t max_bytes;    /* after decompression */
    int64_t deadline_ms; /* whole body */
};

/* Read the body into 'out' (its ceiling is set to lim->max_bytes). Returns
 * LT_OK, or an lt_err (INVALID_INPUT, PAYLOAD_TOO_LARGE,
 * UNSUPPORTED_MEDIA_TYPE) with a message; after an error the caller should
 * close the connection (the rest of the body was not read). */
int body_read(struct mg_connection *conn, const struct body_limits *lim, struct buf *out, char *err,
              size_t errlen) __attribute__((warn_unused_result));

/* Media type of the request without parameters, lower-cased, into 'out'
 * ("" when absent): "application/json; charset=utf-8" -> "application/json". */
void body_media_type(struct mg_connection *conn, char *out, size_t outlen);

#endif
