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
 *    also for Anthropic tool_use, whose input object is serialised compact),
 *    or a JSON array of such messages when the answer has several choices
 *    (by choice index); content is the joined text, null when there is none
 *    but tool calls or a refusal, else ""; "refusal" and "reasoning"
 *    (Anthropic thinking, reasoning_content, Responses reasoning summaries)
 *    are added when non-empty, as genai's canonical messages have them;
 *    embeddings: {"count":N,"dimensions":D}, never the vectors;
 *  - usage in the OTel convention: input includes cache reads and writes
 *    (Anthropic's three are added), output includes reasoning; Anthropic
 *    5m/1h cache writes from usage.cache_creation when present, else all
 *    5m; -1 for what the answer did not say;
 *  - params, keys in this order when present: temperature, top_p, top_k,
 *    max_tokens (whichever name the API uses), n, seed, stop (stop or
 *    stop_sequences), tool_choice (verbatim), response_format (its type;
 *    Responses: text.format.type), reasoning_effort (reasoning_effort,
 *    reasoning.effort or output_config.effort), thinking_budget (Anthropic
 *    thinking.budget_tokens), service_tier asked for, dimensions and
 *    encoding_format (embeddings), stream, and "tools" as the tool names
 *    (a function's name, else the tool's type);
 *  - service_tier: the tier the answer says was used (OpenAI service_tier,
 *    Anthropic usage.service_tier), which prices priority/flex/batch;
 *  - status: ok, or error with error_code / error_message from the
 *    provider's error body (error.code when a string, else error.type) for
 *    HTTP >= 400, a mid-stream error event, or a stream that ended without
 *    its terminal event (error_code "STREAM_TRUNCATED"). The proxy sets
 *    cancelled itself.
 *  - where a key repeats in a JSON object, the last one counts (as in the
 *    providers' own parsers), for reading and for the include_usage edit;
 *    JSON nested deeper than JSONX_MAX_DEPTH is treated as not JSON.
 *
 * Thread-safety: no shared state; a struct llm_stream belongs to one stream.
 */
#ifndef CORE_LLMCALL_H
#define CORE_LLMCALL_H

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
    int stream;           /* "stream": true */
    int include_usage;    /* chat: stream_options.include_usage is true */
    int64_t max_tokens;   /* max_tokens / max_completion_tokens / max_output_tokens; -1 absent */
    int64_t input_tokens; /* estimate of the prompt's tokens from its text (never 0 for a
                              non-empty prompt): ceil(text bytes / 3) + 4 per message, where
                              text bytes are the string values of the messages (system
                              included; ids, types, roles, images and other binary data
                              left out) plus the printed "tools"; embeddings: ceil(bytes / 3)
                              of the input strings + 1 per token id; a body that is not
                              JSON: ceil(body bytes / 3) */
    int tool_rounds;      /* assistant turns in the input that called tools */
    int n;                /* choices asked for (OpenAI n), 1 when absent, at most 128 */
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
 * Handles a missing stream_options (added after the last member), one
 * without include_usage (added first in it), one with include_usage false
 * (the value replaced), an empty object, and a stream_options that is not
 * an object, e.g. null (replaced by {"include_usage":true}). Returns a new
 * NUL-terminated body (caller frees) and its length in *outlen, or NULL
 * when the body is not a JSON object (then forward the original). */
char *llm_inject_include_usage(const char *body, size_t len, size_t *outlen);

/* The text of a chat chunk event ('raw': its bytes, the first '{' opening
 * the chunk) without its top-level "usage":null member: with include_usage
 * set every chunk carries one, and a client that did not ask for usage
 * must see exactly the chunks it would have had. Returns a new
 * NUL-terminated text (caller frees; length in *outlen), or NULL when the
 * chunk has no "usage":null (forward it unchanged). */
char *llm_strip_null_usage(const char *raw, size_t len, size_t *outlen);

/* A complete (non-streamed) answer with HTTP status 'http_status': fills
 * output, usage, response_model, finish_reason, service_tier and the status
 * (see above). Every usage field is written (-1 for what the body does not
 * say) when the body is JSON. A body that is not JSON leaves output unset;
 * a >= 400 status still makes an error span (error_code "HTTP_<status>"
 * when the body names none; a body that is not JSON gives its first 256
 * bytes, control characters as spaces, as error_message). A 2xx body that
 * is an error object anyway is an error too ("UPSTREAM_ERROR" when it names
 * no code). Responses: finish_reason is incomplete_details.reason when
 * incomplete, else the status; status "failed" is an error with
 * response.error's code and message. */
void llm_response_parse(enum llm_api api, int http_status, const char *body, size_t len,
                        struct span *s);

/* The accumulator of one streamed answer. */
struct llm_stream;

/* Flags llm_stream_event returns. */
#define LLM_EV_CONTENT                                                                             \
    1u /* carries content (text, tool-call or refusal delta; not the
                                role-only first chunk): the first one is the TTFT */
#define LLM_EV_TERMINAL                                                                            \
    2u                  /* the API's terminal event ([DONE], message_stop,
                                response.completed|failed|incomplete) */
#define LLM_EV_ERROR 4u /* an error event or a chunk with an "error" key */
#define LLM_EV_USAGE_ONLY                                                                          \
    8u /* chat: the chunk with "choices":[] (or no "choices") and
                                usage (the one the proxy strips when it asked for usage
                                itself); usage riding on a choice chunk is not flagged */
/* Also content: the first fragment of a tool call (name only), an Anthropic
 * tool_use block starting, reasoning/thinking deltas; not: signature deltas,
 * empty deltas. response.failed gives LLM_EV_TERMINAL | LLM_EV_ERROR. */

/* Caller frees with llm_stream_free. */
struct llm_stream *llm_stream_new(enum llm_api api);
void llm_stream_free(struct llm_stream *st); /* accepts NULL */

/* One dispatched SSE event ('event' "" for chat, NULL taken as ""; 'data'
 * the joined data, not NUL-terminated necessarily, 'len' bytes; NULL data,
 * a comment-only block, gives 0). Returns LLM_EV_* flags.
 * Tolerant: unknown events, bad JSON, "[DONE]" on APIs that do not use it
 * are skipped (0). Choices interleave by index; tool-call argument
 * fragments are joined per index; Anthropic's message_delta usage replaces
 * (it is cumulative). Joined text and arguments of one answer are capped at
 * 16 MiB in all (a delta past it is dropped; see llm_stream_clipped); choice
 * indexes past 63, tool-call indexes past 127 and block/item indexes past
 * 511 are ignored. */
unsigned llm_stream_event(struct llm_stream *st, const char *event, const char *data, size_t len);

/* Write what the stream said into 's' (as llm_response_parse does), with
 * the status: error when an error event came, error STREAM_TRUNCATED when
 * no terminal event came (an OpenAI-compatible chat stream that gave a
 * finish_reason and then ended counts as complete), else ok. Usage seen so
 * far is kept either way; when the stream carried no usage at all, the
 * span's usage is left as the caller had it. The first error event wins
 * (error_code "UPSTREAM_ERROR" when it names none). Embeddings and other
 * APIs have no terminal event to wait for (never STREAM_TRUNCATED). May be
 * called again (it only reads the accumulator); the proxy sets cancelled
 * after it. */
void llm_stream_finish(struct llm_stream *st, struct span *s);

/* 1 when some text or tool arguments were dropped because the answer's
 * joined text passed 16 MiB (the span's output is then incomplete). */
int llm_stream_clipped(const struct llm_stream *st);

#endif
