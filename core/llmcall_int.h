/*
 * llmcall_int: what the parts of llmcall share (see llmcall.h). llmcall.c
 * reads requests and edits them, llmcall_resp.c reads whole answers and
 * holds the helpers below, llmcall_stream.c accumulates streamed answers.
 *
 * Ownership: every char * handed out is heap (caller frees) unless marked
 * borrowed; cJSON pointers are borrowed from the tree they came from.
 * Output JSON is written with struct buf (no ceiling: each caller bounds
 * what it writes), never through a depth the input controls.
 */
#ifndef CORE_LLMCALL_INT_H
#define CORE_LLMCALL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/llmcall.h"
#include "core/buf.h"
#include "core/span.h"

#define LLM_MAX_TEXT (16u << 20) /* joined text and tool arguments of one answer */
#define LLM_MAX_CHOICES 64       /* choice indexes kept (higher ones are dropped) */
#define LLM_MAX_CALLS 128        /* tool calls kept per choice */
#define LLM_MAX_BLOCKS 512       /* Anthropic content blocks / Responses output items kept */
#define LLM_MAX_TOKENS 9007199254740992.0 /* 2^53: larger counts are not believed */

/* Parse 'len' bytes of untrusted JSON (depth-bounded); NULL when not JSON.
 * Caller frees with cJSON_Delete. */
cJSON *llm_parse(const char *text, size_t len);

/* The LAST member named 'key' (what most JSON readers, the providers'
 * included, take when a key repeats); NULL when absent or 'obj' is not an
 * object. Borrowed. */
const cJSON *llm_member(const cJSON *obj, const char *key);
/* llm_member's value when it is a string, else NULL. Borrowed. */
const char *llm_str(const cJSON *obj, const char *key);
/* 'v' when it is an array, else NULL (to iterate what may be anything). */
const cJSON *llm_array(const cJSON *v);
/* llm_member's value is JSON true. */
int llm_true(const cJSON *obj, const char *key);
/* A token count (or any non-negative integer): a number or a decimal
 * string, >= 0, finite, below 2^53 (fractions truncated); else -1. */
int64_t llm_count(const cJSON *item);

/* Append to a buf without a ceiling; aborts only if the impossible happens. */
void llm_put(struct buf *b, const char *s, size_t n);
void llm_puts(struct buf *b, const char *s);
void llm_put_json_str(struct buf *b, const char *s, size_t n);
/* Append 'item' as compact JSON ("null" for NULL). */
void llm_put_json(struct buf *b, const cJSON *item);

/* Usage in the OpenAI shapes (chat: prompt_/completion_tokens and their
 * _details; responses and embeddings: input_/output_tokens): every field of
 * *out is set, -1 for what 'u' does not say. */
void llm_usage_openai(const cJSON *u, struct span_usage *out);

/* Anthropic's raw counts, merged event by event (message_start, then the
 * cumulative message_delta: a count present replaces the one before). */
struct llm_anth_usage {
    int64_t input, cache_read, cache_create, c5m, c1h, output, thinking;
};
void llm_anth_usage_init(struct llm_anth_usage *a);
void llm_anth_usage_merge(struct llm_anth_usage *a, const cJSON *u);
/* The OTel-convention usage of the counts (input = the three inputs added). */
void llm_anth_usage_norm(const struct llm_anth_usage *a, struct span_usage *out);

/* One assistant message as compact JSON into 'b': content 'text' (NULL or
 * "" with tool calls or a refusal gives null; else ""), then "tool_calls"
 * when 'calls' (the inside of a JSON array, 'calls_len' bytes) is not
 * empty, "refusal" and "reasoning" when non-empty. */
void llm_put_message(struct buf *b, const char *text, const char *calls, size_t calls_len,
                     const char *refusal, const char *reasoning);
/* One OpenAI-shaped tool call {"id","type":"function","function":{"name",
 * "arguments"}} into 'b', preceded by ',' when b is not empty. NULL fields
 * are written as null (arguments as ""). */
void llm_put_tool_call(struct buf *b, const char *id, const char *name, const char *args,
                       size_t args_len);

/* The code and message of a provider error value: 'e' an object
 * ({"code","type","message"}: code when it is a string, else type) or a
 * string (the message). Sets *code / *msg (owned, replaced) when found. */
void llm_error_read(const cJSON *e, char **code, char **msg);
/* Mark 's' as an error with 'code' (or 'fallback' when NULL) and 'msg'. */
void llm_span_error(struct span *s, const char *code, const char *fallback, const char *msg);

/* A Responses API response object's output[] as one assistant message
 * into 'b'; 0 when it has no output items (b unchanged). */
int llm_responses_output(const cJSON *resp, struct buf *b);
/* A Responses object's finish reason: incomplete_details.reason when
 * incomplete, else its status. Borrowed; NULL when none. */
const char *llm_responses_finish(const cJSON *resp);

#endif
