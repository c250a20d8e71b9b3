/*
 * genai: one OTLP span (its OTLP/JSON tree) to the canonical span, whatever
 * GenAI attribute dialect it speaks: OTel GenAI semconv of every generation
 * (<=1.27 span events, 1.28-1.36, >=1.37 message attributes), OpenLLMetry,
 * OpenInference, Langfuse OTel attributes and the Vercel AI SDK. Each field
 * takes the first source present in the priority order of PROTOCOLS.md §0.
 *
 * Invariants: attributes are flattened once into a {key: value} object with
 * repeated keys last-wins; a key whose value became a canonical field is
 * consumed (for input/output every content source present is consumed, they
 * are copies of the same text), everything else ends in span.attributes, which
 * never exceeds GENAI_ATTRS_MAX bytes. Absent stays absent (-1 / NULL / NAN).
 * Also home of the canonical message format helpers the log decoder shares.
 * Every function works on its arguments only: thread-safe.
 */
#ifndef COLLECTOR_GENAI_H
#define COLLECTOR_GENAI_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/span.h"

/* Ceiling on span.attributes (compact JSON text), see genai_map_span. */
#define GENAI_ATTRS_MAX (256 * 1024)

enum genai_result {
    GENAI_OK = 0,
    GENAI_INVALID = 1,  /* the span is rejected; 'err' says why */
    GENAI_TRUNCATED = 2 /* mapped, but attributes were cut to fit; 'err' says so */
};

/* Where a span comes from: what its resource and scope contribute. Every
 * pointer is borrowed and may be NULL. */
struct genai_origin {
    const cJSON *resource;  /* flattened resource attributes (genai_attrs_flatten) */
    const char *scope_name; /* InstrumentationScope name */
    const char *scope_version;
    const cJSON *scope_attrs; /* flattened scope attributes */
};

/* Flatten an OTLP KeyValue list ([{key, value: AnyValue}]) into a new plain
 * object {key: value}; repeated keys last-wins. AnyValue to JSON: stringValue
 * and bytesValue (base64 text) -> string, intValue -> number (a string beyond
 * +-2^53), doubleValue -> number (null when not finite), boolValue -> bool,
 * arrayValue -> array, kvlistValue -> object, anything else -> null. Nesting
 * deeper than 32 AnyValue levels becomes null. 'kvlist' that is not an array
 * gives an empty object. Caller frees with cJSON_Delete. */
cJSON *genai_attrs_flatten(const cJSON *kvlist);

/* One AnyValue to plain JSON as above; NULL 'av' gives null. Caller frees. */
cJSON *genai_anyvalue(const cJSON *av);

/* The project a flattened resource names (llmtap.project, else
 * openinference.project.name); borrowed from 'resource', NULL when none. */
const char *genai_project(const cJSON *resource);

/* Normalise the id in member 'field' of 'obj' ("traceId", nbytes 16; "spanId",
 * 8) into 'out' (2*nbytes+1 bytes) as lower-case hex. Hex of any case and
 * base64 are accepted. Returns 0; or -1 with the reason in 'err' (missing,
 * not a string, wrong length, all zeros). With 'optional' (parentSpanId) an
 * absent, empty or all-zero id is fine and leaves 'out' empty. */
int genai_id(const cJSON *obj, const char *field, size_t nbytes, int optional, char *out, char *err,
             size_t errlen) __attribute__((warn_unused_result));

/* Map the OTLP span 'span_json' into 'out' (span_init'ed by the caller).
 * Returns GENAI_OK; GENAI_TRUNCATED (mapped, 'err' holds the warning); or
 * GENAI_INVALID when the span must be rejected (bad or all-zero ids, end
 * before start, a field of the wrong type), with the reason in 'err'. 'out'
 * may be partly filled either way: the caller releases it. */
int genai_map_span(const struct genai_origin *origin, const cJSON *span_json, struct span *out,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* Canonical message format (see the brief): 'm' is one message in any dialect
 * (OTel parts, OpenAI, Anthropic, Vercel, OpenInference after unflattening, or
 * already canonical). Appends its canonical form to the array 'out': usually
 * one message; a message carrying several tool results becomes one "tool"
 * message per result. 'default_role' is used when 'm' has none. A string 'm'
 * is a message with that text. Returns the number of messages appended. */
int genai_message_add(cJSON *out, const cJSON *m, const char *default_role);

/* Canonical messages from a gen_ai.input.messages / gen_ai.output.messages
 * style value: a JSON string or a structured array (or one object). Returns a
 * new array (caller frees), or NULL when 'value' holds no messages. */
cJSON *genai_messages(const cJSON *value, const char *default_role);

/* The system message for a gen_ai.system_instructions value (JSON string of
 * parts, structured parts, or plain text). New object or NULL; caller frees. */
cJSON *genai_system_message(const cJSON *value);

#endif
