/*
 * proxy_int: what proxy.c (routing, the upstream transfer, the answer) and
 * proxy_span.c (llmtap's request headers, the span, error bodies) share.
 * One struct call per proxied request, on the heap (worker stacks are
 * small), owned by the handler that made it.
 */
#ifndef COLLECTOR_PROXY_INT_H
#define COLLECTOR_PROXY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <curl/curl.h>

#include "collector/budget.h"
#include "core/llmcall.h"
#include "collector/pipeline.h"
#include "collector/proxy.h"
#include "collector/recorder.h"
#include "collector/sse.h"
#include "core/buf.h"
#include "core/span.h"

#define PROXY_SSE_EVENT_MAX (8u << 20)
#define PROXY_DEFAULT_MAX_OUTPUT 4096 /* output tokens reserved when max_tokens is absent */

struct proxy {
    struct proxy_config cfg;
    struct pipeline *pipe;
    struct budget_ledger *ledger; /* NULL: no budgets */
    struct recorder *rec;
    pthread_mutex_t pool_mu; /* guards 'pool': idle curl handles (their connections stay open) */
    CURL **pool;
    size_t npool, cappool;
    atomic_uint_least64_t calls, blocked, upstream_errors, timeouts, cancelled;
};

struct call {
    struct proxy *p;
    struct mg_connection *c;
    const struct proxy_upstream *up;
    int anthropic;    /* the upstream speaks Anthropic's dialect */
    const char *rest; /* the path after /proxy/NAME (borrowed from the request) */
    const char *method;
    int trusted; /* loopback client */
    struct buf body;
    char *sent; /* the body sent upstream when it differs (include_usage added) */
    size_t sent_len;
    struct llm_request req;
    struct span span;
    int omit_bodies;
    cJSON *attrs; /* the span's attributes, built up along the way */
    struct budget_hold hold;
    int held;
    CURL *curl;
    struct curl_slist *hdrs;
    char curl_err[CURL_ERROR_SIZE];
    /* the answer */
    long status;
    struct buf rhead; /* upstream header lines of the final block, "Name: value\r\n" each */
    char ctype[128];
    int decided, sse, head_sent, passthrough, client_gone, timed_out, body_cut;
    struct buf resp; /* a plain answer, kept for the span */
    struct buf wire; /* what goes to the client next: a head, a framed chunk */
    struct sse *parser;
    struct llm_stream *stream;
    int64_t t0_ns, first_byte_ns, ttft_ns, last_io_ns;
    char request_id[128];
};

/* proxy_span.c */

/* Read llmtap's headers (LLMTap-*, traceparent) into k->span and the call.
 * Returns LT_OK, or LT_INVALID_INPUT with a message naming the header. */
int proxy_read_llmtap_headers(struct call *k, char *err, size_t errlen);

/* 1 when header 'name' must not be forwarded upstream: hop-by-hop, framing
 * (Host, Content-Length, Transfer-Encoding, Expect, Content-Encoding after
 * our gunzip), Accept-Encoding (we ask for identity) and every LLMTap-*. */
int proxy_skip_request_header(const char *name, const char *connection_tokens);

/* 1 when upstream answer header 'name' ('n' bytes) is not passed to the
 * client: hop-by-hop and framing (we frame the answer ourselves). */
int proxy_skip_response_header(const char *name, size_t n);

/* Answer an error of our own (no upstream answer to pass on) in the
 * upstream dialect's error shape. Returns the status sent. */
int proxy_reply_error(struct call *k, int lt_err, const char *msg);

/* Fill the span's attributes (route, upstream, status, request id,
 * properties read earlier) and close it: end time, TTFT, status. */
void proxy_span_close(struct call *k);

/* The estimated cost of the call (its prompt estimate plus max_tokens, or
 * PROXY_DEFAULT_MAX_OUTPUT, times n), -1 when unpriced. */
int64_t proxy_estimate_nusd(struct call *k);

#endif
