/*
 * pbenc: a test-side protobuf encoder. The low-level writers build arbitrary
 * (also malformed) wire bytes; pbenc_traces / pbenc_logs encode an OTLP/JSON
 * request tree (PROTOCOLS.md §1.2) as binary OTLP, from field tables written
 * independently of collector/otlp_pb.c so the two check each other. Test code:
 * allocation failure aborts, the bufs have no ceiling. Not thread-safe.
 */
#ifndef TESTS_SUPPORT_PBENC_H
#define TESTS_SUPPORT_PBENC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/buf.h"

enum { PBENC_VARINT = 0, PBENC_FIXED64 = 1, PBENC_LEN = 2, PBENC_FIXED32 = 5 };

/* Append raw wire pieces to 'b'. */
void pbenc_raw(struct buf *b, const void *p, size_t n);
void pbenc_varint(struct buf *b, uint64_t v);
void pbenc_tag(struct buf *b, uint32_t field, unsigned wire);

/* Append a whole field: tag plus value. */
void pbenc_uint(struct buf *b, uint32_t field, uint64_t v);
void pbenc_fixed64(struct buf *b, uint32_t field, uint64_t v);
void pbenc_fixed32(struct buf *b, uint32_t field, uint32_t v);
void pbenc_double(struct buf *b, uint32_t field, double d);
void pbenc_bytes(struct buf *b, uint32_t field, const void *p, size_t n);
void pbenc_str(struct buf *b, uint32_t field, const char *s);
/* Field 'field' holding the bytes of 'msg' (an encoded sub-message). */
void pbenc_msg(struct buf *b, uint32_t field, const struct buf *msg);

/* Encode an OTLP/JSON ExportTraceServiceRequest / ExportLogsServiceRequest
 * tree into 'out'. Keys are encoded in the order they appear; ids are hex
 * (any case), 64-bit integers strings or numbers, doubleValue a number or
 * "NaN" / "Infinity" / "-Infinity", bytesValue base64. Returns 0, or -1 with
 * a message in 'err' for a key the schema does not know or a value of the
 * wrong shape (so a round trip cannot silently drop a field). */
int pbenc_traces(const cJSON *req, struct buf *out, char *err, size_t errlen);
int pbenc_logs(const cJSON *req, struct buf *out, char *err, size_t errlen);

#endif
