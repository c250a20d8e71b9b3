/*
 * err: llmtap's error taxonomy (DESIGN.md §6). Every error a client sees has
 * one of these codes, an HTTP status, and a retryable flag; bodies are
 *   {"error":{"code":"INVALID_INPUT","type":"invalid_request_error",
 *             "message":"...","retryable":false}}
 * shaped so the OpenAI SDKs parse them. Static tables: thread-safe.
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

#include "core/buf.h"

enum lt_err {
    LT_OK = 0,
    LT_INVALID_INPUT,
    LT_UNAUTHENTICATED,
    LT_BUDGET_EXHAUSTED,
    LT_FORBIDDEN,
    LT_SAFETY_VIOLATION,
    LT_NOT_FOUND,
    LT_PAYLOAD_TOO_LARGE,
    LT_UNSUPPORTED_MEDIA_TYPE,
    LT_QUOTA_EXCEEDED,
    LT_UPSTREAM_ERROR,
    LT_UNAVAILABLE,
    LT_UPSTREAM_TIMEOUT,
    LT_INTERNAL,
    LT_ERR_COUNT
};

/* "INVALID_INPUT" etc.; static. */
const char *lt_err_code(enum lt_err e);
/* OpenAI-style error type ("invalid_request_error", "rate_limit_error", ...); static. */
const char *lt_err_type(enum lt_err e);
int lt_err_http(enum lt_err e);
int lt_err_retryable(enum lt_err e);

/* Append the JSON error body for 'e' with 'message' to 'out'. */
int lt_err_json(struct buf *out, enum lt_err e, const char *message)
    __attribute__((warn_unused_result));

#endif
