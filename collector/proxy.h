/*
 * proxy: the forwarding proxy (DESIGN.md §6, issue 5). Everything under
 * /proxy/NAME/ goes to the upstream configured as NAME, the rest of the
 * path appended to its origin: OPENAI_BASE_URL=http://HOST/proxy/openai/v1
 * and ANTHROPIC_BASE_URL=http://HOST/proxy/anthropic just work. Upstreams
 * come only from configuration, never from the request (no SSRF).
 *
 * Per call: the body is read (bounded), llmtap's own headers (LLMTap-*) are
 * read and stripped, budgets are checked and the estimate reserved
 * (collector/budget.h), the request goes upstream with libcurl with the
 * client's own provider key (forwarded, never stored or logged), and the
 * answer comes back unchanged: status, headers (minus hop-by-hop ones),
 * body; a text/event-stream answer event by event as it arrives. After the
 * last byte is sent, the span (core/llmcall.h) is priced, the budget
 * settled with the real cost, and the span queued for the store
 * (collector/recorder.h): recording never delays the answer.
 *
 * The Anthropic dialect (its error shape, /v1/messages parsed) belongs to
 * upstreams whose name starts with "anthropic"; every other upstream is
 * OpenAI-compatible (vLLM, Ollama, OpenRouter ...).
 *
 * Lifecycle: proxy_new -> proxy_mount (CivetWeb routes) -> serving ->
 * (CivetWeb stopped) -> proxy_free, which commits what is still queued.
 * Handlers run on CivetWeb's worker threads; the proxy is thread-safe.
 */
#ifndef COLLECTOR_PROXY_H
#define COLLECTOR_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "collector/budget.h"
#include "collector/pipeline.h"

struct proxy;
struct mg_context;

#define PROXY_MAX_UPSTREAMS 32
#define PROXY_NAME_MAX 32
#define PROXY_ORIGIN_MAX 512

struct proxy_upstream {
    char name[PROXY_NAME_MAX];     /* [a-z0-9_-]+ */
    char origin[PROXY_ORIGIN_MAX]; /* "https://api.openai.com", no trailing '/' */
};

/* The project of ingest key 'key' into 'project' ('n' bytes): 1, or 0 when
 * the key is unknown or revoked. Called from worker threads. */
typedef int (*proxy_key_fn)(void *arg, const char *key, char *project, size_t n);

struct proxy_config {
    struct proxy_upstream upstreams[PROXY_MAX_UPSTREAMS];
    size_t nupstreams;
    int64_t timeout_ms;         /* upstream silent this long: 504 UPSTREAM_TIMEOUT */
    int64_t connect_timeout_ms; /* connect (and TLS) deadline */
    size_t max_body;            /* request body cap */
    int64_t body_timeout_ms;    /* whole request body deadline */
    size_t max_response;        /* a plain (not streamed) answer kept for the span */
    size_t record_queue;        /* spans waiting for the store */
    proxy_key_fn resolve_key;   /* LLMTap-Key -> project; NULL: keys are refused */
    void *resolve_arg;
};

/* Defaults: openai=https://api.openai.com, anthropic=https://api.anthropic.com,
 * timeout 600 s, connect 10 s, 64 MiB bodies, 30 s body deadline. */
void proxy_config_default(struct proxy_config *cfg);

/* Add or replace upstream "NAME=ORIGIN" ('arg' as --upstream takes it).
 * Returns 0, or -1 with a message ("--upstream wants NAME=http(s)://HOST[:PORT][/PATH]"). */
int proxy_config_upstream(struct proxy_config *cfg, const char *arg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A proxy recording through 'pipe' and enforcing 'ledger' (both borrowed,
 * they must outlive it; 'ledger' may be NULL: no budgets). Returns 0, or -1
 * with a message. Caller frees with proxy_free. */
int proxy_new(struct proxy **out, const struct proxy_config *cfg, struct pipeline *pipe,
              struct budget_ledger *ledger, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Register the /proxy/ route on 'ctx' (before any catch-all route). */
void proxy_mount(struct proxy *p, struct mg_context *ctx);

/* Wait until every span recorded so far is committed (tests). */
void proxy_flush(struct proxy *p);

struct proxy_stats {
    uint64_t calls, blocked, upstream_errors, timeouts, cancelled;
    uint64_t recorded, record_lost;
};
void proxy_get_stats(struct proxy *p, struct proxy_stats *out);

/* Commit what is queued and free; accepts NULL. Call after CivetWeb stopped. */
void proxy_free(struct proxy *p);

#endif
