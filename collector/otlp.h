/*
 * otlp: the OTLP/JSON walker. An ExportTraceServiceRequest becomes rec_span
 * records (each span mapped by genai_map_span, resource and scope applied to
 * every span below them); an ExportLogsServiceRequest's GenAI message events
 * become rec_logmsg records. The tree may come from a JSON body or from the
 * protobuf decoder (collector/otlp_pb.h), which produces the same tree.
 *
 * A bad record is skipped and counted, never fatal; only a request that is
 * not an export request at all fails, and then nothing is appended. The
 * result's message lists the first problems for the partialSuccess answer.
 * Records are numbered from 0 in request order ("span 2" is the third span).
 * Thread-safe: no global state.
 */
#ifndef COLLECTOR_OTLP_H
#define COLLECTOR_OTLP_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/ingest.h"

struct otlp_result {
    int64_t accepted;  /* records appended to the batch */
    int64_t rejected;  /* invalid spans / log records skipped */
    char message[512]; /* first few problems and warnings, "; "-separated, e.g.
                          "span 2 (trace 4f9c2b7e…): invalid spanId length 12";
                          "" when there were none. Ends with "; …" when cut. */
};

/* Map an ExportTraceServiceRequest (OTLP/JSON tree, borrowed) into rec_span
 * records (op REC_INSERT) appended to 'out'. Invalid spans (bad or all-zero
 * ids, end before start, fields of the wrong type) are skipped and counted in
 * res->rejected. A span whose attributes had to be truncated is accepted with
 * a warning in res->message. Returns LT_OK (also for an empty request), or
 * LT_INVALID_INPUT when 'req' is not an object or resourceSpans is not an
 * array: then nothing is appended and res->message says why. 'res' is always
 * reset first. */
int otlp_traces_decode(const cJSON *req, struct ingest_batch *out, struct otlp_result *res)
    __attribute__((warn_unused_result));

/* Same for an ExportLogsServiceRequest. Log records named (eventName, or the
 * older attribute event.name) gen_ai.{system,user,assistant,tool}.message
 * become one prompt message each, gen_ai.choice one output message, and
 * gen_ai.client.inference.operation.details one record per message it carries
 * (system instructions, then inputs, then outputs). Each record gets the ids
 * of its span (a GenAI record without valid ids is rejected and counted), its
 * time (timeUnixNano, else observedTimeUnixNano), a running seq within the
 * request, and the project its resource names. Other log records are ignored
 * and counted neither way. Returns as otlp_traces_decode (resourceLogs). */
int otlp_logs_decode(const cJSON *req, struct ingest_batch *out, struct otlp_result *res)
    __attribute__((warn_unused_result));

#endif
