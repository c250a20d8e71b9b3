/*
 * otlp_pb: binary OTLP/HTTP (application/x-protobuf) in and out. The decoders
 * turn an ExportTraceServiceRequest or ExportLogsServiceRequest into the
 * OTLP/JSON mapping of PROTOCOLS.md §1.2 as a cJSON tree, so the one OTLP/JSON
 * mapper serves both encodings. The encoders write the small response bodies.
 * Input is untrusted: every length is checked against its enclosing message,
 * AnyValue nesting is capped, nothing is allocated per input byte, and the
 * recursion depth is bounded (safe on ~100 KiB handler stacks). Thread-safe:
 * no global state.
 */
#ifndef COLLECTOR_OTLP_PB_H
#define COLLECTOR_OTLP_PB_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/buf.h"

/* Deepest AnyValue nesting accepted: an attribute's or body's own value is
 * level 1, each arrayValue / kvlistValue step adds one. */
#define OTLP_PB_MAX_ANY_DEPTH 32

/* Deepest cJSON tree the decoders can produce (nodes on a root-to-leaf path),
 * reached by kvlistValues nested OTLP_PB_MAX_ANY_DEPTH deep in a span event.
 * Each AnyValue level costs four tree levels (value, kvlistValue, values, KeyValue). */
#define OTLP_PB_MAX_TREE_DEPTH 140

/* Decode 'len' bytes of a binary ExportTraceServiceRequest ('buf' is borrowed,
 * need not be NUL-terminated, may be NULL when 'len' is 0) into its OTLP/JSON
 * form: lowerCamelCase keys; trace/span ids as lower-case hex of whatever
 * length arrived (an empty parentSpanId is omitted); fixed64 times and
 * intValue as decimal strings; enums, uint32 and fixed32 as numbers;
 * doubleValue as a number or "NaN" / "Infinity" / "-Infinity"; bytesValue as
 * base64. A field absent from the wire is absent from the JSON; a singular
 * field that repeats on the wire keeps its last value (AnyValue is a oneof:
 * its last member wins). Unknown fields are skipped. Strings are repaired to
 * valid UTF-8: each invalid sequence, and each NUL byte (cJSON strings cannot
 * hold one), becomes U+FFFD.
 * Returns 0 and sets *out (caller frees with cJSON_Delete), or -1 with *out
 * NULL and a message in 'err' (always NUL-terminated when 'errlen' > 0) that
 * names where decoding stopped, e.g.
 *   "resource_spans 0: scope_spans 1: span 3: field 7: truncated fixed64 at byte 812"
 * (indexes count from 0, byte offsets from the start of 'buf'; inside
 * attribute values the path goes on "value: kvlist 2: value: array 0: ", with
 * "...: " where frames past the twelfth are left out). Fails on
 * malformed protobuf (bad varint, length past the end of its message, group
 * or invalid wire type, a known field with the wrong wire type), on AnyValue
 * nesting deeper than OTLP_PB_MAX_ANY_DEPTH, and on out of memory. */
int otlp_pb_traces_to_json(const void *buf, size_t len, cJSON **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The same for a binary ExportLogsServiceRequest (resourceLogs, scopeLogs,
 * logRecords with timeUnixNano, observedTimeUnixNano, severityNumber,
 * severityText, body, attributes, droppedAttributesCount, flags, traceId,
 * spanId, eventName). Empty log-record traceId / spanId are omitted. Error
 * paths read "resource_logs 0: scope_logs 0: log_record 2: body: ...". */
int otlp_pb_logs_to_json(const void *buf, size_t len, cJSON **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Append an ExportTraceServiceResponse to 'out': nothing at all (the empty
 * body means full success) when 'rejected' is 0 and 'message' is NULL or "";
 * otherwise partial_success{rejected_spans, error_message}, each omitted when
 * it is its proto3 default. 'message' is borrowed. Returns BUF_OK, or
 * BUF_TOOBIG with nothing appended when 'out' would pass its ceiling. */
int otlp_pb_trace_response(struct buf *out, int64_t rejected, const char *message)
    __attribute__((warn_unused_result));

/* The same for an ExportLogsServiceResponse (rejected_log_records). */
int otlp_pb_logs_response(struct buf *out, int64_t rejected, const char *message)
    __attribute__((warn_unused_result));

/* Append a google.rpc.Status{code, message} (the body of 4xx/5xx replies to
 * protobuf clients); code 0 and an empty message are omitted as proto3
 * defaults. Returns BUF_OK, or BUF_TOOBIG with nothing appended. */
int otlp_pb_status(struct buf *out, int code, const char *message)
    __attribute__((warn_unused_result));

#endif
