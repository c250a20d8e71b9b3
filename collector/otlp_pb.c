/*
 * otlp_pb: protobuf wire format <-> OTLP/JSON (see otlp_pb.h).
 *
 * The decoder is one loop, pb_decode_msg, driven by static tables that restate
 * the .proto messages (field number, kind, JSON key). Each field is read as a
 * raw wire value first (pb_read_value: bounds-checked against the end of the
 * enclosing message), then either skipped (unknown number) or turned into a
 * cJSON node. Child objects are attached to their parent before they are
 * filled, so a failure anywhere frees everything with the root.
 * The only cycle in the schema runs through AnyValue (array/kvlist), so
 * capping AnyValue depth bounds the recursion: at most 102 nested calls of
 * pb_decode_msg (7 levels down to the first AnyValue, 3 per level after it).
 * Error messages carry a path of named frames ("span 3") kept in the context.
 */
#include "collector/otlp_pb.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

/* What a field becomes in JSON; each kind implies one wire type (pb_wire_of). */
enum pb_kind {
    PK_STRING,   /* string -> string, UTF-8 repaired */
    PK_HEX,      /* bytes -> lower-case hex */
    PK_HEX_OPT,  /* bytes -> lower-case hex, omitted when empty */
    PK_BASE64,   /* bytes -> base64 */
    PK_FIXED64,  /* fixed64 -> decimal string */
    PK_DOUBLE,   /* double -> number, or "NaN" / "Infinity" / "-Infinity" */
    PK_FIXED32,  /* fixed32 -> number */
    PK_UINT32,   /* varint uint32 -> number */
    PK_ENUM,     /* varint int32 -> number */
    PK_INT64,    /* varint int64 -> decimal string */
    PK_BOOL,     /* varint -> true / false */
    PK_MSG,      /* embedded message -> object, last one wins */
    PK_REPEATED, /* embedded message -> object appended to an array */
};

enum pb_wire { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

struct pb_msg;

struct pb_field {
    uint32_t num;
    enum pb_kind kind;
    const char *key;          /* JSON key (static) */
    const struct pb_msg *msg; /* PK_MSG / PK_REPEATED: the sub-message */
    const char *frame;        /* name in error paths, or NULL */
};

struct pb_msg {
    const struct pb_field *fields;
    size_t nfields;
    int is_any; /* AnyValue: a oneof whose nesting is counted */
};

/* One raw wire value: 'u' for varint and fixed, 'data'/'len' for WT_LEN. */
struct pb_val {
    uint64_t u;
    const uint8_t *data;
    size_t len;
};

#define PB_MAX_PATH 12

struct pb_frame {
    const char *name;
    const cJSON *arr; /* the array the element is in, or NULL when singular */
};

struct pb_ctx {
    const uint8_t *base; /* start of the request, for byte offsets */
    char *err;
    size_t errlen;
    char *scratch; /* reused for every string, hex and base64 conversion */
    size_t scap;
    int any_depth;
    int npath; /* frames entered; only the outermost PB_MAX_PATH are kept */
    struct pb_frame path[PB_MAX_PATH];
};

/* ---- schema (opentelemetry-proto: common, resource, trace, logs) ---- */

#define NF(a) (sizeof(a) / sizeof((a)[0]))

static const struct pb_msg m_any;

static const struct pb_field f_kv[] = {
    {1, PK_STRING, "key", NULL, NULL},
    {2, PK_MSG, "value", &m_any, "value"},
};
static const struct pb_msg m_kv = {f_kv, NF(f_kv), 0};

static const struct pb_field f_array[] = {{1, PK_REPEATED, "values", &m_any, "array"}};
static const struct pb_msg m_array = {f_array, NF(f_array), 0};

static const struct pb_field f_kvlist[] = {{1, PK_REPEATED, "values", &m_kv, "kvlist"}};
static const struct pb_msg m_kvlist = {f_kvlist, NF(f_kvlist), 0};

/* Field 8 (string_value_strindex) is profiles-only: skipped as unknown. */
static const struct pb_field f_any[] = {
    {1, PK_STRING, "stringValue", NULL, NULL}, {2, PK_BOOL, "boolValue", NULL, NULL},
    {3, PK_INT64, "intValue", NULL, NULL},     {4, PK_DOUBLE, "doubleValue", NULL, NULL},
    {5, PK_MSG, "arrayValue", &m_array, NULL}, {6, PK_MSG, "kvlistValue", &m_kvlist, NULL},
    {7, PK_BASE64, "bytesValue", NULL, NULL},
};
static const struct pb_msg m_any = {f_any, NF(f_any), 1};

static const struct pb_field f_resource[] = {
    {1, PK_REPEATED, "attributes", &m_kv, "attribute"},
    {2, PK_UINT32, "droppedAttributesCount", NULL, NULL},
};
static const struct pb_msg m_resource = {f_resource, NF(f_resource), 0};

static const struct pb_field f_scope[] = {
    {1, PK_STRING, "name", NULL, NULL},
    {2, PK_STRING, "version", NULL, NULL},
    {3, PK_REPEATED, "attributes", &m_kv, "attribute"},
    {4, PK_UINT32, "droppedAttributesCount", NULL, NULL},
};
static const struct pb_msg m_scope = {f_scope, NF(f_scope), 0};

/* Status field 1 is reserved (deprecated_code): skipped as unknown. */
static const struct pb_field f_status[] = {
    {2, PK_STRING, "message", NULL, NULL},
    {3, PK_ENUM, "code", NULL, NULL},
};
static const struct pb_msg m_status = {f_status, NF(f_status), 0};

static const struct pb_field f_event[] = {
    {1, PK_FIXED64, "timeUnixNano", NULL, NULL},
    {2, PK_STRING, "name", NULL, NULL},
    {3, PK_REPEATED, "attributes", &m_kv, "attribute"},
    {4, PK_UINT32, "droppedAttributesCount", NULL, NULL},
};
static const struct pb_msg m_event = {f_event, NF(f_event), 0};

static const struct pb_field f_link[] = {
    {1, PK_HEX, "traceId", NULL, NULL},
    {2, PK_HEX, "spanId", NULL, NULL},
    {3, PK_STRING, "traceState", NULL, NULL},
    {4, PK_REPEATED, "attributes", &m_kv, "attribute"},
    {5, PK_UINT32, "droppedAttributesCount", NULL, NULL},
    {6, PK_FIXED32, "flags", NULL, NULL},
};
static const struct pb_msg m_link = {f_link, NF(f_link), 0};

static const struct pb_field f_span[] = {
    {1, PK_HEX, "traceId", NULL, NULL},
    {2, PK_HEX, "spanId", NULL, NULL},
    {3, PK_STRING, "traceState", NULL, NULL},
    {4, PK_HEX_OPT, "parentSpanId", NULL, NULL},
    {5, PK_STRING, "name", NULL, NULL},
    {6, PK_ENUM, "kind", NULL, NULL},
    {7, PK_FIXED64, "startTimeUnixNano", NULL, NULL},
    {8, PK_FIXED64, "endTimeUnixNano", NULL, NULL},
    {9, PK_REPEATED, "attributes", &m_kv, "attribute"},
    {10, PK_UINT32, "droppedAttributesCount", NULL, NULL},
    {11, PK_REPEATED, "events", &m_event, "event"},
    {12, PK_UINT32, "droppedEventsCount", NULL, NULL},
    {13, PK_REPEATED, "links", &m_link, "link"},
    {14, PK_UINT32, "droppedLinksCount", NULL, NULL},
    {15, PK_MSG, "status", &m_status, "status"},
    {16, PK_FIXED32, "flags", NULL, NULL},
};
static const struct pb_msg m_span = {f_span, NF(f_span), 0};

static const struct pb_field f_scope_spans[] = {
    {1, PK_MSG, "scope", &m_scope, "scope"},
    {2, PK_REPEATED, "spans", &m_span, "span"},
    {3, PK_STRING, "schemaUrl", NULL, NULL},
};
static const struct pb_msg m_scope_spans = {f_scope_spans, NF(f_scope_spans), 0};

static const struct pb_field f_resource_spans[] = {
    {1, PK_MSG, "resource", &m_resource, "resource"},
    {2, PK_REPEATED, "scopeSpans", &m_scope_spans, "scope_spans"},
    {3, PK_STRING, "schemaUrl", NULL, NULL},
};
static const struct pb_msg m_resource_spans = {f_resource_spans, NF(f_resource_spans), 0};

static const struct pb_field f_trace_req[] = {
    {1, PK_REPEATED, "resourceSpans", &m_resource_spans, "resource_spans"},
};
static const struct pb_msg m_trace_req = {f_trace_req, NF(f_trace_req), 0};

static const struct pb_field f_log[] = {
    {1, PK_FIXED64, "timeUnixNano", NULL, NULL},
    {2, PK_ENUM, "severityNumber", NULL, NULL},
    {3, PK_STRING, "severityText", NULL, NULL},
    {5, PK_MSG, "body", &m_any, "body"},
    {6, PK_REPEATED, "attributes", &m_kv, "attribute"},
    {7, PK_UINT32, "droppedAttributesCount", NULL, NULL},
    {8, PK_FIXED32, "flags", NULL, NULL},
    {9, PK_HEX_OPT, "traceId", NULL, NULL},
    {10, PK_HEX_OPT, "spanId", NULL, NULL},
    {11, PK_FIXED64, "observedTimeUnixNano", NULL, NULL},
    {12, PK_STRING, "eventName", NULL, NULL},
};
static const struct pb_msg m_log = {f_log, NF(f_log), 0};

static const struct pb_field f_scope_logs[] = {
    {1, PK_MSG, "scope", &m_scope, "scope"},
    {2, PK_REPEATED, "logRecords", &m_log, "log_record"},
    {3, PK_STRING, "schemaUrl", NULL, NULL},
};
static const struct pb_msg m_scope_logs = {f_scope_logs, NF(f_scope_logs), 0};

static const struct pb_field f_resource_logs[] = {
    {1, PK_MSG, "resource", &m_resource, "resource"},
    {2, PK_REPEATED, "scopeLogs", &m_scope_logs, "scope_logs"},
    {3, PK_STRING, "schemaUrl", NULL, NULL},
};
static const struct pb_msg m_resource_logs = {f_resource_logs, NF(f_resource_logs), 0};

static const struct pb_field f_logs_req[] = {
    {1, PK_REPEATED, "resourceLogs", &m_resource_logs, "resource_logs"},
};
static const struct pb_msg m_logs_req = {f_logs_req, NF(f_logs_req), 0};

/* ---- errors ---- */

/* Append to the error message, truncating silently at 'errlen'. */
static void pb_errcat(struct pb_ctx *c, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pb_errcat(struct pb_ctx *c, size_t *n, const char *fmt, ...)
{
    if (*n + 1 >= c->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(c->err + *n, c->errlen - *n, fmt, ap);
    va_end(ap);
    if (w > 0)
        *n = *n + (size_t)w < c->errlen ? *n + (size_t)w : c->errlen - 1;
}

/* Record "<path>field N: <what> at byte B" and return -1. 'field' 0 leaves
 * out the field part; 'at' NULL leaves out the offset. */
static int pb_fail(struct pb_ctx *c, uint32_t field, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int pb_fail(struct pb_ctx *c, uint32_t field, const uint8_t *at, const char *fmt, ...)
{
    if (!c->err || c->errlen == 0)
        return -1;
    size_t n = 0;
    c->err[0] = '\0';
    for (int i = 0; i < c->npath && i < PB_MAX_PATH; i++) {
        const struct pb_frame *fr = &c->path[i];
        if (fr->arr)
            pb_errcat(c, &n, "%s %d: ", fr->name, cJSON_GetArraySize(fr->arr) - 1);
        else
            pb_errcat(c, &n, "%s: ", fr->name);
    }
    if (c->npath > PB_MAX_PATH)
        pb_errcat(c, &n, "...: ");
    if (field)
        pb_errcat(c, &n, "field %" PRIu32 ": ", field);
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    pb_errcat(c, &n, "%s", what);
    if (at)
        pb_errcat(c, &n, " at byte %zu", (size_t)(at - c->base));
    return -1;
}

static int pb_oom(struct pb_ctx *c)
{
    return pb_fail(c, 0, NULL, "out of memory");
}

/* ---- wire format ---- */

/* Read a varint at *pp. Returns 0 (advancing *pp), 1 when the input ends
 * inside it, 2 when it runs past 10 bytes. */
static int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return 1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return 2;
}

static uint64_t pb_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Read one value of wire type 'wt' for field 'num' at *pp, bounded by 'end'. */
static int pb_read_value(struct pb_ctx *c, const uint8_t **pp, const uint8_t *end, uint32_t num,
                         unsigned wt, struct pb_val *v)
{
    const uint8_t *p = *pp;
    size_t left = (size_t)(end - p);
    int rc;
    switch (wt) {
    case WT_VARINT:
        rc = pb_varint(&p, end, &v->u);
        if (rc)
            return pb_fail(c, num, *pp,
                           rc == 1 ? "truncated varint" : "varint longer than 10 bytes");
        break;
    case WT_FIXED64:
    case WT_FIXED32: {
        int n = wt == WT_FIXED64 ? 8 : 4;
        if (left < (size_t)n)
            return pb_fail(c, num, p, "truncated fixed%d", n * 8);
        v->u = pb_le(p, n);
        p += n;
        break;
    }
    case WT_LEN:
        rc = pb_varint(&p, end, &v->u);
        if (rc)
            return pb_fail(c, num, *pp, rc == 1 ? "truncated length" : "length varint too long");
        if (v->u > (uint64_t)(end - p))
            return pb_fail(c, num, *pp,
                           "length %" PRIu64 " runs past the end of its message (%zu left)", v->u,
                           (size_t)(end - p));
        v->data = p;
        v->len = (size_t)v->u;
        p += v->len;
        break;
    case 3:
    case 4:
        return pb_fail(c, num, p, "group wire type %u is not supported", wt);
    default:
        return pb_fail(c, num, p, "invalid wire type %u", wt);
    }
    *pp = p;
    return 0;
}

static unsigned pb_wire_of(enum pb_kind k)
{
    switch (k) {
    case PK_FIXED64:
    case PK_DOUBLE:
        return WT_FIXED64;
    case PK_FIXED32:
        return WT_FIXED32;
    case PK_UINT32:
    case PK_ENUM:
    case PK_INT64:
    case PK_BOOL:
        return WT_VARINT;
    default:
        return WT_LEN;
    }
}

/* ---- value conversion (all through the scratch buffer) ---- */

static char *pb_reserve(struct pb_ctx *c, size_t n)
{
    if (n > c->scap) {
        size_t cap = c->scap ? c->scap : 256;
        while (cap < n)
            cap = cap > SIZE_MAX / 2 ? n : cap * 2;
        c->scratch = xrealloc(c->scratch, cap);
        c->scap = cap;
    }
    return c->scratch;
}

/* Length of the valid UTF-8 sequence at 'p' ('n' bytes left), or 0 with
 * *bad = the length of its maximal invalid subpart (at least 1). NUL counts
 * as invalid: cJSON strings end at the first one. */
static size_t pb_utf8_seq(const uint8_t *p, size_t n, size_t *bad)
{
    uint8_t b = p[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (b >= 0x01 && b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        need = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 3;
        lo = b == 0xe0 ? 0xa0 : 0x80; /* no overlongs */
        hi = b == 0xed ? 0x9f : 0xbf; /* no surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 4;
        lo = b == 0xf0 ? 0x90 : 0x80;
        hi = b == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
            break;
    }
    if (i == need)
        return need;
    *bad = i;
    return 0;
}

static cJSON *pb_string(struct pb_ctx *c, const uint8_t *s, size_t len)
{
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = pb_reserve(c, len * 3 + 1), *o = out;
    size_t i = 0, bad = 0;
    while (i < len) {
        size_t n = pb_utf8_seq(s + i, len - i, &bad);
        if (n) {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i += bad;
        }
    }
    *o = '\0';
    return cJSON_CreateString(out);
}

static cJSON *pb_hex(struct pb_ctx *c, const uint8_t *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *out = pb_reserve(c, len * 2 + 1);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    out[2 * len] = '\0';
    return cJSON_CreateString(out);
}

static cJSON *pb_base64(struct pb_ctx *c, const uint8_t *s, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = pb_reserve(c, (len + 2) / 3 * 4 + 1), *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[v >> 12 & 63];
        *o++ = tab[v >> 6 & 63];
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return cJSON_CreateString(out);
}

static cJSON *pb_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    if (isnan(d))
        return cJSON_CreateString("NaN");
    if (isinf(d))
        return cJSON_CreateString(d > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateNumber(d);
}

/* The JSON node for a scalar field; NULL with *omit set when the field is to
 * be left out, NULL without it on out of memory. */
static cJSON *pb_scalar(struct pb_ctx *c, const struct pb_field *f, const struct pb_val *v,
                        int *omit)
{
    char num[24];
    *omit = 0;
    switch (f->kind) {
    case PK_STRING:
        return pb_string(c, v->data, v->len);
    case PK_HEX_OPT:
        if (v->len == 0) {
            *omit = 1;
            return NULL;
        }
        return pb_hex(c, v->data, v->len);
    case PK_HEX:
        return pb_hex(c, v->data, v->len);
    case PK_BASE64:
        return pb_base64(c, v->data, v->len);
    case PK_FIXED64:
        snprintf(num, sizeof(num), "%" PRIu64, v->u);
        return cJSON_CreateString(num);
    case PK_INT64:
        snprintf(num, sizeof(num), "%" PRId64, (int64_t)v->u);
        return cJSON_CreateString(num);
    case PK_DOUBLE:
        return pb_double(v->u);
    case PK_FIXED32:
    case PK_UINT32:
        return cJSON_CreateNumber((double)(uint32_t)v->u);
    case PK_ENUM:
        return cJSON_CreateNumber((double)(int32_t)(uint32_t)v->u);
    case PK_BOOL:
        return cJSON_CreateBool(v->u != 0);
    default:
        return NULL;
    }
}

/* ---- message decoding ---- */

static void pb_remove(cJSON *obj, const char *key)
{
    cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (old)
        cJSON_Delete(cJSON_DetachItemViaPointer(obj, old));
}

/* Attach 'item' as obj[key] (key is static), replacing any earlier value; in
 * a oneof every earlier member goes. */
static void pb_set(cJSON *obj, const struct pb_msg *m, const char *key, cJSON *item)
{
    if (m->is_any) {
        while (obj->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, obj->child));
    } else {
        pb_remove(obj, key);
    }
    if (item)
        cJSON_AddItemToObjectCS(obj, key, item);
}

static int pb_decode_msg(struct pb_ctx *c, const uint8_t *p, const uint8_t *end,
                         const struct pb_msg *m, cJSON *obj);

/* Decode the embedded message of field 'f' into a new object attached to
 * 'obj' (appended to obj[f->key] for a repeated field). */
static int pb_submsg(struct pb_ctx *c, const struct pb_msg *m, const struct pb_field *f,
                     const struct pb_val *v, cJSON *obj)
{
    cJSON *child = cJSON_CreateObject(), *arr = NULL;
    if (!child)
        return pb_oom(c);
    if (f->kind == PK_REPEATED) {
        arr = cJSON_GetObjectItemCaseSensitive(obj, f->key);
        if (!arr) {
            arr = cJSON_CreateArray();
            if (!arr) {
                cJSON_Delete(child);
                return pb_oom(c);
            }
            cJSON_AddItemToObjectCS(obj, f->key, arr);
        }
        cJSON_AddItemToArray(arr, child);
    } else {
        pb_set(obj, m, f->key, child);
    }
    if (f->msg->is_any && c->any_depth >= OTLP_PB_MAX_ANY_DEPTH)
        return pb_fail(c, f->num, v->data, "AnyValue nested deeper than %d levels",
                       OTLP_PB_MAX_ANY_DEPTH);
    if (f->frame && c->npath < PB_MAX_PATH)
        c->path[c->npath] = (struct pb_frame){f->frame, arr};
    c->npath += f->frame != NULL;
    c->any_depth += f->msg->is_any;
    int rc = pb_decode_msg(c, v->data, v->data + v->len, f->msg, child);
    c->any_depth -= f->msg->is_any;
    c->npath -= f->frame != NULL;
    return rc;
}

static const struct pb_field *pb_find(const struct pb_msg *m, uint32_t num)
{
    for (size_t i = 0; i < m->nfields; i++) {
        if (m->fields[i].num == num)
            return &m->fields[i];
    }
    return NULL;
}

/* Decode the fields in [p, end) of a message of type 'm' into 'obj'. */
static int pb_decode_msg(struct pb_ctx *c, const uint8_t *p, const uint8_t *end,
                         const struct pb_msg *m, cJSON *obj)
{
    while (p < end) {
        const uint8_t *at = p;
        uint64_t tag;
        int rc = pb_varint(&p, end, &tag);
        if (rc)
            return pb_fail(c, 0, at, rc == 1 ? "truncated tag" : "tag varint longer than 10 bytes");
        if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
            return pb_fail(c, 0, at, "invalid field number %" PRIu64, tag >> 3);
        uint32_t num = (uint32_t)(tag >> 3);
        unsigned wt = (unsigned)(tag & 7);
        const struct pb_field *f = pb_find(m, num);
        struct pb_val v = {0, NULL, 0};
        if (f && wt != pb_wire_of(f->kind) && wt != 3 && wt != 4 && wt < 6)
            return pb_fail(c, num, at, "wire type %u where %u was expected", wt,
                           pb_wire_of(f->kind));
        if (pb_read_value(c, &p, end, num, wt, &v) != 0)
            return -1;
        if (!f)
            continue; /* unknown field: skipped */
        if (f->kind == PK_MSG || f->kind == PK_REPEATED) {
            if (pb_submsg(c, m, f, &v, obj) != 0)
                return -1;
            continue;
        }
        int omit;
        cJSON *item = pb_scalar(c, f, &v, &omit);
        if (!item && !omit)
            return pb_oom(c);
        pb_set(obj, m, f->key, item);
    }
    return 0;
}

static int pb_to_json(const struct pb_msg *root, const void *buf, size_t len, cJSON **out,
                      char *err, size_t errlen)
{
    struct pb_ctx c;
    memset(&c, 0, sizeof(c));
    c.base = buf;
    c.err = err;
    c.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    if (!buf && len)
        return pb_fail(&c, 0, NULL, "no data");
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return pb_oom(&c);
    int rc = len ? pb_decode_msg(&c, c.base, c.base + len, root, obj) : 0;
    free(c.scratch);
    if (rc != 0) {
        cJSON_Delete(obj);
        return -1;
    }
    *out = obj;
    return 0;
}

int otlp_pb_traces_to_json(const void *buf, size_t len, cJSON **out, char *err, size_t errlen)
{
    return pb_to_json(&m_trace_req, buf, len, out, err, errlen);
}

int otlp_pb_logs_to_json(const void *buf, size_t len, cJSON **out, char *err, size_t errlen)
{
    return pb_to_json(&m_logs_req, buf, len, out, err, errlen);
}

/* ---- response encoders ---- */

static int enc_varint(struct buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return buf_append(b, tmp, n);
}

static int enc_bytes(struct buf *b, uint32_t num, const void *p, size_t n)
{
    int rc = enc_varint(b, (uint64_t)num << 3 | WT_LEN);
    if (rc == BUF_OK)
        rc = enc_varint(b, n);
    if (rc == BUF_OK)
        rc = buf_append(b, p, n);
    return rc;
}

/* {1: varint 'v' unless 0, 2: 'msg' unless empty}, wrapped in field 'outer'
 * when 'outer' is not 0; appended to 'out' in one piece. */
static int enc_pair(struct buf *out, uint32_t outer, uint64_t v, const char *msg)
{
    struct buf inner, whole;
    buf_init(&inner, 0);
    buf_init(&whole, 0);
    int rc = BUF_OK;
    if (v != 0) {
        rc = enc_varint(&inner, 1 << 3 | WT_VARINT);
        if (rc == BUF_OK)
            rc = enc_varint(&inner, v);
    }
    if (rc == BUF_OK && msg && *msg)
        rc = enc_bytes(&inner, 2, msg, strlen(msg));
    if (rc == BUF_OK && outer)
        rc = enc_bytes(&whole, outer, inner.data, inner.len);
    else if (rc == BUF_OK)
        rc = buf_append(&whole, inner.data, inner.len);
    if (rc == BUF_OK && whole.len)
        rc = buf_append(out, whole.data, whole.len);
    buf_release(&inner);
    buf_release(&whole);
    return rc;
}

int otlp_pb_trace_response(struct buf *out, int64_t rejected, const char *message)
{
    if (rejected == 0 && (!message || !*message))
        return BUF_OK;
    return enc_pair(out, 1, (uint64_t)rejected, message);
}

int otlp_pb_logs_response(struct buf *out, int64_t rejected, const char *message)
{
    return otlp_pb_trace_response(out, rejected, message);
}

int otlp_pb_status(struct buf *out, int code, const char *message)
{
    /* int32 is sign-extended to 64 bits on the wire. */
    return enc_pair(out, 0, (uint64_t)(int64_t)code, message);
}
