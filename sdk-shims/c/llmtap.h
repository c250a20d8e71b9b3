/*
 * llmtap: the C shim. Build spans in the application and send them to an
 * llmtap server (POST {endpoint}/api/v1/spans, NDJSON batches) from a
 * background thread. Needs libcurl and pthreads; two files (llmtap.h,
 * llmtap.c), no other dependency.
 *
 * Promise to the application: nothing here blocks on the network or
 * reports a failure to it. The queue is bounded (the OLDEST span is dropped
 * when it is full, and counted); 429/5xx answers and connection errors are
 * retried with exponential backoff, honouring Retry-After; spans given up
 * on are counted as failed. Every function accepts NULL handles (a no-op),
 * so a disabled or failed client costs nothing to keep calling.
 *
 * Lifecycle: llmtap_open -> llmtap_span_begin / set / llmtap_span_end ...
 * -> llmtap_flush (optional) -> llmtap_shutdown (flushes, stops the thread,
 * frees). With cfg.at_exit set, an atexit handler shuts down clients the
 * program did not shut down itself.
 *
 * Thread-safety: a client may be used from any number of threads. A span
 * belongs to one thread at a time (no locking of its own).
 */
#ifndef LLMTAP_H
#define LLMTAP_H

#include <stdint.h>
#include <stddef.h>

/* Return codes of llmtap_flush / llmtap_shutdown (informative only). */
enum llmtap_rc {
    LLMTAP_OK = 0,      /* the queue is empty (everything sent, failed or dropped) */
    LLMTAP_TIMEOUT = 1, /* spans were still waiting when the time ran out */
    LLMTAP_DISABLED = 2 /* the client is disabled (or NULL): nothing to do */
};

/* Configuration. llmtap_config_init fills the defaults; a NULL string means
 * "from the environment, else the default". */
struct llmtap_config {
    const char *endpoint;    /* $LLMTAP_ENDPOINT, else http://127.0.0.1:4318 */
    const char *key;         /* $LLMTAP_KEY: sent as the LLMTap-Key header, never logged */
    const char *project;     /* $LLMTAP_PROJECT: set on spans that have none */
    const char *version_set; /* $LLMTAP_VERSION_SET: set on spans that have none */
    int disabled;            /* 1, or $LLMTAP_DISABLED=1: every call is a no-op */
    size_t batch_size;       /* spans per request (100) */
    int flush_interval_ms;   /* the longest a span waits for a batch (1000) */
    size_t max_queue;        /* spans held in memory (10000); beyond, the oldest drop */
    int max_retries;         /* attempts after the first (5) */
    int retry_base_ms;       /* first backoff, doubled each time (500) */
    int retry_max_ms;        /* longest wait, Retry-After included (30000) */
    int timeout_ms;          /* per request (10000) */
    int shutdown_timeout_ms; /* the at-exit flush (5000) */
    int at_exit;             /* 1: shut down at exit(3) if the program did not (0) */
};

/* Counts since llmtap_open (llmtap_stats). */
struct llmtap_stats {
    uint64_t sent;    /* spans the server stored (created or duplicate) */
    uint64_t dropped; /* spans dropped from a full queue: the oldest ones */
    uint64_t failed;  /* spans given up on: retries exhausted, rejected, no memory */
    uint64_t queued;  /* waiting or being sent now */
};

/* String fields of a span (llmtap_span_set). */
enum llmtap_field {
    LLMTAP_NAME,
    LLMTAP_KIND, /* llm, embedding, tool, retrieval, agent, chain, guardrail, evaluator, other */
    LLMTAP_PROVIDER,
    LLMTAP_MODEL,
    LLMTAP_RESPONSE_MODEL,
    LLMTAP_STATUS, /* ok, error, degraded, blocked, cancelled */
    LLMTAP_USER,
    LLMTAP_SESSION,
    LLMTAP_TENANT,
    LLMTAP_VERSION_SET, /* key=value;key=value */
    LLMTAP_PROJECT,
    LLMTAP_FINISH_REASON,
    LLMTAP_SERVICE_NAME,
    LLMTAP_SERVICE_VERSION,
    LLMTAP_FIELD_COUNT
};

/* A client: its queue and sender thread. */
struct llmtap;
/* One span being built; ended (queued and freed) by llmtap_span_end. */
struct llmtap_span;

/* Defaults into 'cfg' (strings NULL, at_exit 0). */
void llmtap_config_init(struct llmtap_config *cfg);

/* A client from 'cfg' (NULL: defaults) and the environment. Never fails
 * for the application: on an unusable configuration or a thread that will
 * not start, the client is disabled. Returns NULL only when out of memory
 * (every function accepts NULL). Free with llmtap_shutdown. 'cfg' and its
 * strings are copied. */
struct llmtap *llmtap_open(const struct llmtap_config *cfg);

/* Is 't' sending? 0 when disabled or NULL. */
int llmtap_enabled(const struct llmtap *t);

/* Ask the sender to send everything queued now and wait up to
 * 'timeout_ms' (negative: no limit) until the queue is empty. Returns
 * LLMTAP_OK, LLMTAP_TIMEOUT or LLMTAP_DISABLED. Thread-safe. */
int llmtap_flush(struct llmtap *t, int timeout_ms);

/* Flush for up to 'timeout_ms' (negative: the configured
 * shutdown_timeout_ms), stop the thread (cutting a backoff wait short) and
 * free 't'; spans still queued then are lost. Spans of 't' must all be
 * ended before. Accepts NULL. Returns what the flush returned. */
int llmtap_shutdown(struct llmtap *t, int timeout_ms);

/* Current counts into '*out' (all 0 for NULL). Thread-safe. */
void llmtap_stats(struct llmtap *t, struct llmtap_stats *out);

/* Start a span named 'name' now: a child of 'parent' (same trace; user,
 * session, tenant and version_set are copied from it) or, when 'parent' is
 * NULL, the root of a new trace with random ids. 'parent' is only read
 * here: it may end before its children. Returns NULL when 't' is NULL or
 * disabled, or when out of memory; end it with llmtap_span_end. */
struct llmtap_span *llmtap_span_begin(struct llmtap *t, const char *name,
                                      const struct llmtap_span *parent);

/* The span's ids, 32 and 16 lower-case hex digits (borrowed: valid until
 * llmtap_span_end); "" for NULL. */
const char *llmtap_span_trace_id(const struct llmtap_span *s);
const char *llmtap_span_id(const struct llmtap_span *s);

/* Set a string field ('value' is copied; NULL clears it). */
void llmtap_span_set(struct llmtap_span *s, enum llmtap_field field, const char *value);

/* The input / output as plain text (a JSON string on the wire). */
void llmtap_span_set_input_text(struct llmtap_span *s, const char *text);
void llmtap_span_set_output_text(struct llmtap_span *s, const char *text);

/* The input / output as JSON text, e.g. messages
 * '[{"role":"user","content":"hi"}]' (see docs/NATIVE_API.md). It is sent
 * as given (line breaks become spaces); invalid JSON makes the server
 * reject this span only, counted as failed. */
void llmtap_span_set_input_json(struct llmtap_span *s, const char *json);
void llmtap_span_set_output_json(struct llmtap_span *s, const char *json);

/* Token counts; a negative value leaves that count out. 'input' includes
 * cached tokens, 'output' includes reasoning (the OpenTelemetry rule). */
void llmtap_span_set_usage(struct llmtap_span *s, int64_t input, int64_t output, int64_t cache_read,
                           int64_t cache_write, int64_t reasoning);

/* What the call cost in USD (negative: leave it to the server's prices). */
void llmtap_span_set_cost(struct llmtap_span *s, double usd);

/* Time to first token, in ms (negative: none). */
void llmtap_span_set_ttft_ms(struct llmtap_span *s, double ms);

/* Mark the span failed: status "error" and {code, message} (either may be NULL). */
void llmtap_span_set_error(struct llmtap_span *s, const char *code, const char *message);

/* The registry prompt it was rendered from: 'name', 'version' (negative:
 * none) and 'variables_json', a JSON object or NULL. */
void llmtap_span_set_prompt(struct llmtap_span *s, const char *name, int64_t version,
                            const char *variables_json);

/* Request parameters as a JSON object, e.g. '{"temperature":0.2}'. */
void llmtap_span_set_params_json(struct llmtap_span *s, const char *json);

/* Add a tag; add an attribute with a string value. Both are copied. */
void llmtap_span_add_tag(struct llmtap_span *s, const char *tag);
void llmtap_span_set_attr(struct llmtap_span *s, const char *key, const char *value);

/* Override the start or end time (unix ns); by default begin and end stamp them. */
void llmtap_span_set_times(struct llmtap_span *s, int64_t start_ns, int64_t end_ns);

/* End 's' now: encode it, queue it (dropping the oldest span when the queue
 * is full) and free it. Accepts NULL. Never blocks on the network. */
void llmtap_span_end(struct llmtap_span *s);

#endif
