/*
 * err: the taxonomy table (see err.h).
 */
#include "core/err.h"

struct err_row {
    const char *code;
    const char *type;
    int http;
    int retryable;
};

static const struct err_row rows[LT_ERR_COUNT] = {
    [LT_OK] = {"OK", "ok", 200, 0},
    [LT_INVALID_INPUT] = {"INVALID_INPUT", "invalid_request_error", 400, 0},
    [LT_UNAUTHENTICATED] = {"UNAUTHENTICATED", "authentication_error", 401, 0},
    [LT_BUDGET_EXHAUSTED] = {"BUDGET_EXHAUSTED", "billing_error", 402, 0},
    [LT_FORBIDDEN] = {"FORBIDDEN", "permission_error", 403, 0},
    [LT_SAFETY_VIOLATION] = {"SAFETY_VIOLATION", "permission_error", 403, 0},
    [LT_NOT_FOUND] = {"NOT_FOUND", "not_found_error", 404, 0},
    [LT_PAYLOAD_TOO_LARGE] = {"PAYLOAD_TOO_LARGE", "invalid_request_error", 413, 0},
    [LT_UNSUPPORTED_MEDIA_TYPE] = {"UNSUPPORTED_MEDIA_TYPE", "invalid_request_error", 415, 0},
    [LT_QUOTA_EXCEEDED] = {"QUOTA_EXCEEDED", "rate_limit_error", 429, 1},
    [LT_UPSTREAM_ERROR] = {"UPSTREAM_ERROR", "api_error", 502, 1},
    [LT_UNAVAILABLE] = {"UNAVAILABLE", "overloaded_error", 503, 1},
    [LT_UPSTREAM_TIMEOUT] = {"UPSTREAM_TIMEOUT", "timeout_error", 504, 1},
    [LT_INTERNAL] = {"INTERNAL", "api_error", 500, 0},
};

static const struct err_row *row(enum lt_err e)
{
    return (e >= 0 && e < LT_ERR_COUNT) ? &rows[e] : &rows[LT_INTERNAL];
}

const char *lt_err_code(enum lt_err e)
{
    return row(e)->code;
}

const char *lt_err_type(enum lt_err e)
{
    return row(e)->type;
}

int lt_err_http(enum lt_err e)
{
    return row(e)->http;
}

int lt_err_retryable(enum lt_err e)
{
    return row(e)->retryable;
}

int lt_err_json(struct buf *out, enum lt_err e, const char *message)
{
    const struct err_row *r = row(e);
    if (buf_printf(out, "{\"error\":{\"code\":\"%s\",\"type\":\"%s\",\"message\":", r->code,
                   r->type) ||
        buf_json_str(out, message ? message : r->code) ||
        buf_printf(out, ",\"retryable\":%s}}", r->retryable ? "true" : "false"))
        return BUF_TOOBIG;
    return BUF_OK;
}
