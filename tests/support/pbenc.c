/*
 * pbenc: see pbenc.h. The schema tables here restate opentelemetry-proto's
 * field numbers by JSON key; an embedded message is encoded into its own buf
 * and then appended with its length (quadratic in nesting depth, fine for
 * tests).
 */
#include "tests/support/pbenc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

enum ekind { E_STR, E_HEX, E_B64, E_FIXED64, E_DOUBLE, E_FIXED32, E_UINT, E_INT64, E_BOOL, E_MSG };

struct emsg;

struct efield {
    const char *key;
    uint32_t num;
    enum ekind kind;
    int repeated;
    const struct emsg *msg;
};

struct emsg {
    const char *name;
    const struct efield *fields;
};

static void must(int rc)
{
    if (rc != BUF_OK) {
        fprintf(stderr, "pbenc: buffer append failed\n");
        abort();
    }
}

void pbenc_raw(struct buf *b, const void *p, size_t n)
{
    if (n)
        must(buf_append(b, p, n));
}

void pbenc_varint(struct buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pbenc_raw(b, tmp, n);
}

void pbenc_tag(struct buf *b, uint32_t field, unsigned wire)
{
    pbenc_varint(b, (uint64_t)field << 3 | wire);
}

void pbenc_uint(struct buf *b, uint32_t field, uint64_t v)
{
    pbenc_tag(b, field, PBENC_VARINT);
    pbenc_varint(b, v);
}

static void put_le(struct buf *b, uint64_t v, int n)
{
    uint8_t tmp[8];
    for (int i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    pbenc_raw(b, tmp, (size_t)n);
}

void pbenc_fixed64(struct buf *b, uint32_t field, uint64_t v)
{
    pbenc_tag(b, field, PBENC_FIXED64);
    put_le(b, v, 8);
}

void pbenc_fixed32(struct buf *b, uint32_t field, uint32_t v)
{
    pbenc_tag(b, field, PBENC_FIXED32);
    put_le(b, v, 4);
}

void pbenc_double(struct buf *b, uint32_t field, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    pbenc_fixed64(b, field, bits);
}

void pbenc_bytes(struct buf *b, uint32_t field, const void *p, size_t n)
{
    pbenc_tag(b, field, PBENC_LEN);
    pbenc_varint(b, n);
    pbenc_raw(b, p, n);
}

void pbenc_str(struct buf *b, uint32_t field, const char *s)
{
    pbenc_bytes(b, field, s, strlen(s));
}

void pbenc_msg(struct buf *b, uint32_t field, const struct buf *msg)
{
    pbenc_bytes(b, field, msg->data, msg->len);
}

/* ---- schema ---- */

static const struct emsg e_any;
static const struct efield ef_kv[] = {
    {"key", 1, E_STR, 0, NULL}, {"value", 2, E_MSG, 0, &e_any}, {NULL, 0, 0, 0, NULL}};
static const struct emsg e_kv = {"KeyValue", ef_kv};
static const struct efield ef_array[] = {{"values", 1, E_MSG, 1, &e_any}, {NULL, 0, 0, 0, NULL}};
static const struct emsg e_array = {"ArrayValue", ef_array};
static const struct efield ef_kvlist[] = {{"values", 1, E_MSG, 1, &e_kv}, {NULL, 0, 0, 0, NULL}};
static const struct emsg e_kvlist = {"KeyValueList", ef_kvlist};
static const struct efield ef_any[] = {
    {"stringValue", 1, E_STR, 0, NULL},    {"boolValue", 2, E_BOOL, 0, NULL},
    {"intValue", 3, E_INT64, 0, NULL},     {"doubleValue", 4, E_DOUBLE, 0, NULL},
    {"arrayValue", 5, E_MSG, 0, &e_array}, {"kvlistValue", 6, E_MSG, 0, &e_kvlist},
    {"bytesValue", 7, E_B64, 0, NULL},     {NULL, 0, 0, 0, NULL}};
static const struct emsg e_any = {"AnyValue", ef_any};

static const struct efield ef_resource[] = {{"attributes", 1, E_MSG, 1, &e_kv},
                                            {"droppedAttributesCount", 2, E_UINT, 0, NULL},
                                            {NULL, 0, 0, 0, NULL}};
static const struct emsg e_resource = {"Resource", ef_resource};
static const struct efield ef_scope[] = {{"name", 1, E_STR, 0, NULL},
                                         {"version", 2, E_STR, 0, NULL},
                                         {"attributes", 3, E_MSG, 1, &e_kv},
                                         {"droppedAttributesCount", 4, E_UINT, 0, NULL},
                                         {NULL, 0, 0, 0, NULL}};
static const struct emsg e_scope = {"InstrumentationScope", ef_scope};
static const struct efield ef_status[] = {
    {"message", 2, E_STR, 0, NULL}, {"code", 3, E_UINT, 0, NULL}, {NULL, 0, 0, 0, NULL}};
static const struct emsg e_status = {"Status", ef_status};
static const struct efield ef_event[] = {{"timeUnixNano", 1, E_FIXED64, 0, NULL},
                                         {"name", 2, E_STR, 0, NULL},
                                         {"attributes", 3, E_MSG, 1, &e_kv},
                                         {"droppedAttributesCount", 4, E_UINT, 0, NULL},
                                         {NULL, 0, 0, 0, NULL}};
static const struct emsg e_event = {"Event", ef_event};
static const struct efield ef_link[] = {{"traceId", 1, E_HEX, 0, NULL},
                                        {"spanId", 2, E_HEX, 0, NULL},
                                        {"traceState", 3, E_STR, 0, NULL},
                                        {"attributes", 4, E_MSG, 1, &e_kv},
                                        {"droppedAttributesCount", 5, E_UINT, 0, NULL},
                                        {"flags", 6, E_FIXED32, 0, NULL},
                                        {NULL, 0, 0, 0, NULL}};
static const struct emsg e_link = {"Link", ef_link};
static const struct efield ef_span[] = {{"traceId", 1, E_HEX, 0, NULL},
                                        {"spanId", 2, E_HEX, 0, NULL},
                                        {"traceState", 3, E_STR, 0, NULL},
                                        {"parentSpanId", 4, E_HEX, 0, NULL},
                                        {"flags", 16, E_FIXED32, 0, NULL},
                                        {"name", 5, E_STR, 0, NULL},
                                        {"kind", 6, E_UINT, 0, NULL},
                                        {"startTimeUnixNano", 7, E_FIXED64, 0, NULL},
                                        {"endTimeUnixNano", 8, E_FIXED64, 0, NULL},
                                        {"attributes", 9, E_MSG, 1, &e_kv},
                                        {"droppedAttributesCount", 10, E_UINT, 0, NULL},
                                        {"events", 11, E_MSG, 1, &e_event},
                                        {"droppedEventsCount", 12, E_UINT, 0, NULL},
                                        {"links", 13, E_MSG, 1, &e_link},
                                        {"droppedLinksCount", 14, E_UINT, 0, NULL},
                                        {"status", 15, E_MSG, 0, &e_status},
                                        {NULL, 0, 0, 0, NULL}};
static const struct emsg e_span = {"Span", ef_span};
static const struct efield ef_scope_spans[] = {{"scope", 1, E_MSG, 0, &e_scope},
                                               {"spans", 2, E_MSG, 1, &e_span},
                                               {"schemaUrl", 3, E_STR, 0, NULL},
                                               {NULL, 0, 0, 0, NULL}};
static const struct emsg e_scope_spans = {"ScopeSpans", ef_scope_spans};
static const struct efield ef_resource_spans[] = {{"resource", 1, E_MSG, 0, &e_resource},
                                                  {"scopeSpans", 2, E_MSG, 1, &e_scope_spans},
                                                  {"schemaUrl", 3, E_STR, 0, NULL},
                                                  {NULL, 0, 0, 0, NULL}};
static const struct emsg e_resource_spans = {"ResourceSpans", ef_resource_spans};
static const struct efield ef_trace_req[] = {{"resourceSpans", 1, E_MSG, 1, &e_resource_spans},
                                             {NULL, 0, 0, 0, NULL}};
static const struct emsg e_trace_req = {"ExportTraceServiceRequest", ef_trace_req};

static const struct efield ef_log[] = {{"timeUnixNano", 1, E_FIXED64, 0, NULL},
                                       {"observedTimeUnixNano", 11, E_FIXED64, 0, NULL},
                                       {"severityNumber", 2, E_UINT, 0, NULL},
                                       {"severityText", 3, E_STR, 0, NULL},
                                       {"body", 5, E_MSG, 0, &e_any},
                                       {"attributes", 6, E_MSG, 1, &e_kv},
                                       {"droppedAttributesCount", 7, E_UINT, 0, NULL},
                                       {"flags", 8, E_FIXED32, 0, NULL},
                                       {"traceId", 9, E_HEX, 0, NULL},
                                       {"spanId", 10, E_HEX, 0, NULL},
                                       {"eventName", 12, E_STR, 0, NULL},
                                       {NULL, 0, 0, 0, NULL}};
static const struct emsg e_log = {"LogRecord", ef_log};
static const struct efield ef_scope_logs[] = {{"scope", 1, E_MSG, 0, &e_scope},
                                              {"logRecords", 2, E_MSG, 1, &e_log},
                                              {"schemaUrl", 3, E_STR, 0, NULL},
                                              {NULL, 0, 0, 0, NULL}};
static const struct emsg e_scope_logs = {"ScopeLogs", ef_scope_logs};
static const struct efield ef_resource_logs[] = {{"resource", 1, E_MSG, 0, &e_resource},
                                                 {"scopeLogs", 2, E_MSG, 1, &e_scope_logs},
                                                 {"schemaUrl", 3, E_STR, 0, NULL},
                                                 {NULL, 0, 0, 0, NULL}};
static const struct emsg e_resource_logs = {"ResourceLogs", ef_resource_logs};
static const struct efield ef_logs_req[] = {{"resourceLogs", 1, E_MSG, 1, &e_resource_logs},
                                            {NULL, 0, 0, 0, NULL}};
static const struct emsg e_logs_req = {"ExportLogsServiceRequest", ef_logs_req};

/* ---- JSON value -> wire ---- */

struct ectx {
    char *err;
    size_t errlen;
};

static int efail(struct ectx *c, const char *msg, const char *key, const char *what)
{
    snprintf(c->err, c->errlen, "%s: %s '%s'", what, msg, key);
    return -1;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int put_hex(struct buf *b, uint32_t num, const char *s)
{
    size_t n = strlen(s);
    if (n % 2)
        return -1;
    uint8_t *bytes = xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(bytes);
            return -1;
        }
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    pbenc_bytes(b, num, bytes, n / 2);
    free(bytes);
    return 0;
}

static int b64val(int ch)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = ch ? strchr(tab, ch) : NULL;
    return p ? (int)(p - tab) : -1;
}

static int put_b64(struct buf *b, uint32_t num, const char *s)
{
    size_t n = strlen(s), o = 0;
    if (n % 4)
        return -1;
    uint8_t *bytes = xmalloc(n / 4 * 3 + 1);
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' ? (pad++, 0) : b64val(s[i + k]);
            if (v[k] < 0) {
                free(bytes);
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        bytes[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            bytes[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            bytes[o++] = (uint8_t)w;
    }
    pbenc_bytes(b, num, bytes, o);
    free(bytes);
    return 0;
}

/* A 64-bit integer from a decimal string or an integral number. */
static int get_u64(const cJSON *v, int is_signed, uint64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d != floor(d) || d < (is_signed ? -9223372036854775808.0 : 0.0) ||
            d >= (is_signed ? 9223372036854775808.0 : 18446744073709551616.0))
            return -1;
        *out = is_signed ? (uint64_t)(int64_t)d : (uint64_t)d;
        return 0;
    }
    if (!cJSON_IsString(v) || !*v->valuestring)
        return -1;
    char *end;
    errno = 0;
    *out = is_signed ? (uint64_t)strtoll(v->valuestring, &end, 10)
                     : (uint64_t)strtoull(v->valuestring, &end, 10);
    return *end || errno ? -1 : 0;
}

static int get_double(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(v))
        return -1;
    if (!strcmp(v->valuestring, "NaN"))
        *out = NAN;
    else if (!strcmp(v->valuestring, "Infinity"))
        *out = INFINITY;
    else if (!strcmp(v->valuestring, "-Infinity"))
        *out = -INFINITY;
    else
        return -1;
    return 0;
}

static int enc_msg(struct ectx *c, const struct emsg *m, const cJSON *obj, struct buf *out);

static int enc_value(struct ectx *c, const struct efield *f, const cJSON *v, struct buf *out)
{
    uint64_t u;
    double d;
    switch (f->kind) {
    case E_STR:
        if (!cJSON_IsString(v))
            return -1;
        pbenc_str(out, f->num, v->valuestring);
        return 0;
    case E_HEX:
        return cJSON_IsString(v) ? put_hex(out, f->num, v->valuestring) : -1;
    case E_B64:
        return cJSON_IsString(v) ? put_b64(out, f->num, v->valuestring) : -1;
    case E_FIXED64:
    case E_INT64:
        if (get_u64(v, f->kind == E_INT64, &u))
            return -1;
        if (f->kind == E_FIXED64)
            pbenc_fixed64(out, f->num, u);
        else
            pbenc_uint(out, f->num, u);
        return 0;
    case E_DOUBLE:
        if (get_double(v, &d))
            return -1;
        pbenc_double(out, f->num, d);
        return 0;
    case E_FIXED32:
    case E_UINT:
        if (!cJSON_IsNumber(v) || v->valuedouble < 0)
            return -1;
        if (f->kind == E_FIXED32)
            pbenc_fixed32(out, f->num, (uint32_t)v->valuedouble);
        else
            pbenc_uint(out, f->num, (uint64_t)v->valuedouble);
        return 0;
    case E_BOOL:
        if (!cJSON_IsBool(v))
            return -1;
        pbenc_uint(out, f->num, cJSON_IsTrue(v) ? 1 : 0);
        return 0;
    case E_MSG: {
        struct buf sub;
        buf_init(&sub, 0);
        int rc = cJSON_IsObject(v) ? enc_msg(c, f->msg, v, &sub) : -1;
        if (rc == 0)
            pbenc_msg(out, f->num, &sub);
        buf_release(&sub);
        return rc;
    }
    }
    return -1;
}

static int enc_msg(struct ectx *c, const struct emsg *m, const cJSON *obj, struct buf *out)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        const struct efield *f = m->fields;
        while (f->key && strcmp(f->key, it->string))
            f++;
        if (!f->key)
            return efail(c, "unknown key", it->string, m->name);
        if (f->repeated && !cJSON_IsArray(it))
            return efail(c, "expected an array for", it->string, m->name);
        if (!f->repeated) {
            if (enc_value(c, f, it, out) != 0)
                return c->err[0] ? -1 : efail(c, "bad value for", it->string, m->name);
            continue;
        }
        for (const cJSON *el = it->child; el; el = el->next) {
            if (enc_value(c, f, el, out) != 0)
                return c->err[0] ? -1 : efail(c, "bad element in", it->string, m->name);
        }
    }
    return 0;
}

static int enc_root(const struct emsg *m, const cJSON *req, struct buf *out, char *err,
                    size_t errlen)
{
    static char dummy[1];
    struct ectx c = {err && errlen ? err : dummy, err && errlen ? errlen : sizeof(dummy)};
    c.err[0] = '\0';
    if (!cJSON_IsObject(req))
        return efail(&c, "not an object", "", m->name);
    return enc_msg(&c, m, req, out);
}

int pbenc_traces(const cJSON *req, struct buf *out, char *err, size_t errlen)
{
    return enc_root(&e_trace_req, req, out, err, errlen);
}

int pbenc_logs(const cJSON *req, struct buf *out, char *err, size_t errlen)
{
    return enc_root(&e_logs_req, req, out, err, errlen);
}
