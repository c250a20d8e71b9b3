/*
 * llmcall: what the proxy understands of the calls it forwards (PROTOCOLS.md
 * §3-§4): the request (OpenAI chat completions, responses, embeddings;
 * Anthropic messages), the answer, plain or streamed, mapped onto the
 * canonical span (core/span.h). The proxy itself never depends on this
 * succeeding: a body that does not parse is still forwarded, its span just
 * knows less.
 *
 * Conventions written into the span (DESIGN.md §3):
 *  - input: a JSON array of {role, content} messages as the provider takes
 *    them (OpenAI messages verbatim; Anthropic's 'system' first as a
 *    {"role":"system"} message, then its messages; Responses' 'instructions'
 *    as a system message, then its input items; embeddings: the input texts
 *    as a JSON string or array of strings);
 *  - output: one assistant message {"role":"assistant","content":...,
 *    "tool_calls":[...]} (OpenAI tool call shape, arguments a JSON string,
 *    also for Anthropic tool_use, whose input object is serialised), or a
 *    JSON array of such messages when n > 1 (by choice index); embeddings:
 *    {"count":N,"dimensions":D}, never the vectors;
 *  - usage in the OTel convention: input includes cache reads and writes
 *    (Anthropic's three are added), output includes reasoning; Anthropic
 *    5m/1h cache writes from usage.cache_creation when present, else all
 *    5m; -1 for what the answer did not say;
 *  - params: temperature, top_p, max_tokens (whichever name the API uses),
 *    n, seed, stop, tool_choice, response_format type, reasoning effort,
 *    service_tier asked for, stream, and "tools" as the tool names;
 *  - service_tier: the tier the answer says was used (OpenAI service_tier,
 *    Anthropic usage.service_tier), which prices priority/flex/batch;
 *  - status: ok, or error with error_code / error_message from the
 *    provider's error body (error.type or error.code) for HTTP >= 400, a
 *    mid-stream error event, or a stream that ended without its terminal
 *    event (error_code "STREAM_TRUNCATED"). The proxy sets cancelled itself.
 *
 * Thread-safety: no shared state; a struct llm_stream belongs to one stream.
 */
#ifndef COLLECTOR_LLMCALL_H
#define COLLECTOR_LLMCALL_H

#include <stddef.h>
#include <stdint.h>

#include "core/span.h"

enum llm_api {
    LLM_API_OTHER = 0,         /* forwarded and recorded as a generic span */
    LLM_API_CHAT,              /* OpenAI POST .../chat/completions */
    LLM_API_RESPONSES,         /* OpenAI POST .../responses */
    LLM_API_EMBEDDINGS,        /* OpenAI POST .../embeddings */
    LLM_API_ANTHROPIC_MESSAGES /* Anthropic POST .../v1/messages */
};

/* Which API a call is: 'anthropic' is 1 for the Anthropic dialect route,
 * 'path' the path after /proxy/NAME without the query ("/v1/chat/completions";
 * the OpenAI route takes any prefix before chat/completions, responses,
 * embeddings, so "/openai/v1/chat/completions" on a compatible server works
 * too). Only POST is ever an LLM API. */
enum llm_api llm_api_for(int anthropic, const char *method, const char *path);

/* What the proxy needs from a request before forwarding it. */
struct llm_request {
    enum llm_api api;
    int stream;            /* "stream": true */
    int include_usage;     /* chat: stream_options.include_usage is true */
    int64_t max_tokens;    /* max_tokens / max_completion_tokens / max_output_tokens; -1 absent */
    int64_t input_tokens;  /* estimate of the prompt's tokens from its text (never 0 for a
                              non-empty prompt): ceil(text bytes / 3) + 4 per message */
    int tool_rounds;       /* assistant turns in the input that called tools */
    int n;                 /* choices asked for (OpenAI n), 1 when absent */
};

/* Parse request body 'body' ('len' bytes) of 'api'. Fills *req and, in 's',
 * kind (llm or embedding; other for LLM_API_OTHER), model, input, params,
 * name ("chat MODEL", "responses MODEL", "embeddings MODEL", "messages
 * MODEL"). Returns 0, or -1 when the body is not a JSON object (then *req
 * holds defaults: stream 0, max_tokens -1, input_tokens from the body size,
 * n 1, and 's' is unchanged). */
int llm_request_parse(enum llm_api api, const char *body, size_t len, struct llm_request *req,
                      struct span *s);

/* For a streaming chat request that did not ask for usage: the same body
 * with stream_options.include_usage set to true, edited as text (every other
 * byte unchanged: no re-serialisation, so numbers keep their digits).
 * Handles a missing stream_options, one without include_usage, one with
 * include_usage false, and an empty object. Returns a new NUL-terminated
 * body (caller frees) and its length in *outlen, or NULL when the body is
 * not a JSON object. */
char *llm_inject_include_usage(const char *body, size_t len, size_t *outlen);

/* A complete (non-streamed) answer with HTTP status 'http_status': fills
 * output, usage, response_model, finish_reason, service_tier and the status
 * (see above). A body that is not JSON leaves output unset; a >= 400 status
 * still makes an error span (error_code "HTTP_<status>" when the body names
 * none). */
void llm_response_parse(enum llm_api api, int http_status, const char *body, size_t len,
                        struct span *s);

/* The accumulator of one streamed answer. */
struct llm_stream;

/* Flags llm_stream_event returns. */
#define LLM_EV_CONTENT 1u    /* carries content (text, tool-call or refusal delta; not the
                                role-only first chunk): the first one is the TTFT */
#define LLM_EV_TERMINAL 2u   /* the API's terminal event ([DONE], message_stop,
                                response.completed|failed|incomplete) */
#define LLM_EV_ERROR 4u      /* an error event or a chunk with an "error" key */
#define LLM_EV_USAGE_ONLY 8u /* chat: the chunk with "choices":[] and usage (the one the
                                proxy strips when it asked for usage itself) */

/* Caller frees with llm_stream_free. */
struct llm_stream *llm_stream_new(enum llm_api api);
void llm_stream_free(struct llm_stream *st); /* accepts NULL */

/* One dispatched SSE event ('event' "" for chat; 'data' the joined data,
 * not NUL-terminated necessarily, 'len' bytes). Returns LLM_EV_* flags.
 * Tolerant: unknown events, bad JSON, "[DONE]" on APIs that do not use it
 * are skipped (0). Choices interleave by index; tool-call argument
 * fragments are joined per index; Anthropic's message_delta usage replaces
 * (it is cumulative). */
unsigned llm_stream_event(struct llm_stream *st, const char *event, const char *data, size_t len);

/* Write what the stream said into 's' (as llm_response_parse does), with
 * the status: error when an error event came, error STREAM_TRUNCATED when
 * no terminal event came (an OpenAI-compatible chat stream that gave a
 * finish_reason and then ended counts as complete), else ok. Usage seen so
 * far is kept either way. */
void llm_stream_finish(struct llm_stream *st, struct span *s);

#endif
