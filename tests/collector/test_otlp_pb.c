/*
 * test_otlp_pb: the binary OTLP decoder and response encoders. Protobuf comes
 * from two independent sources: the shared OTLP/JSON payloads encoded by the
 * test-side encoder (tests/support/pbenc), and bytes made by the OpenTelemetry
 * JS SDK's own serializer (the .pb files in tests/data/otlp_pb, see gen.mjs), each
 * with the SDK's JSON rendering of the same request as the expected output.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/otlp_pb.h"
#include "core/jsonx.h"
#include "core/xmem.h"
#include "tests/support/pbenc.h"
#include "tests/support/testutil.h"

#define DATA_DIR "tests/data/otlp_pb/"

static const char *const shared_payloads[] = {
    "payloads/otlp-genai-span.json",
    "payloads/otlp-openllmetry-span.json",
    "payloads/openinference-span.json",
};

/* ---- helpers: loading and decoding ---- */

static cJSON *load_json(const char *path)
{
    size_t len;
    char *text = tu_read_file(path, &len);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    char err[200];
    cJSON *root = jsonx_parse(text, len, err, sizeof(err));
    ck_assert_msg(root != NULL, "%s: %s", path, err);
    free(text);
    return root;
}

/* The shared payload 'rel' as binary protobuf (caller releases 'out'). */
static void encode_shared(const char *rel, struct buf *out)
{
    cJSON *req = load_json(tu_shared(rel));
    char err[200];
    buf_init(out, 0);
    ck_assert_msg(pbenc_traces(req, out, err, sizeof(err)) == 0, "%s: %s", rel, err);
    ck_assert_uint_gt(out->len, 100);
    cJSON_Delete(req);
}

static cJSON *decode_ok(int logs, const void *p, size_t n)
{
    cJSON *out = NULL;
    char err[256];
    int rc = logs ? otlp_pb_logs_to_json(p, n, &out, err, sizeof(err))
                  : otlp_pb_traces_to_json(p, n, &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "decode failed: %s", err);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* Decode 'b' as traces, expecting failure; returns the message (static). */
static const char *decode_err(const struct buf *b)
{
    static char err[256];
    cJSON *out = (cJSON *)1;
    int rc = otlp_pb_traces_to_json(b->data, b->len, &out, err, sizeof(err));
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_null(out);
    ck_assert_msg(err[0] != '\0', "failure without a message");
    return err;
}

/* ---- helpers: building requests around one span or one AnyValue ---- */

/* Request{ResourceSpans{ScopeSpans{spans...}}} around the encoded spans. */
static void wrap_spans(struct buf *out, const struct buf *span1, const struct buf *span2)
{
    struct buf ss, rs;
    buf_init(&ss, 0);
    buf_init(&rs, 0);
    pbenc_msg(&ss, 2, span1);
    if (span2)
        pbenc_msg(&ss, 2, span2);
    pbenc_msg(&rs, 2, &ss);
    buf_init(out, 0);
    pbenc_msg(out, 1, &rs);
    buf_release(&ss);
    buf_release(&rs);
}

/* A span with a name and one attribute whose AnyValue bytes are 'any'. */
static void request_with_value(struct buf *out, const struct buf *any)
{
    struct buf kv, span;
    buf_init(&kv, 0);
    buf_init(&span, 0);
    pbenc_str(&kv, 1, "k");
    pbenc_msg(&kv, 2, any);
    pbenc_str(&span, 5, "s");
    pbenc_msg(&span, 9, &kv);
    wrap_spans(out, &span, NULL);
    buf_release(&kv);
    buf_release(&span);
}

static cJSON *first_span(cJSON *root)
{
    cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0);
    cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    cJSON *span = cJSON_GetArrayItem(cJSON_GetObjectItem(ss, "spans"), 0);
    ck_assert_ptr_nonnull(span);
    return span;
}

/* The decoded AnyValue object of the single attribute built by request_with_value. */
static cJSON *decode_value(cJSON **root, const struct buf *any)
{
    struct buf req;
    request_with_value(&req, any);
    *root = decode_ok(0, req.data, req.len);
    buf_release(&req);
    cJSON *kv = cJSON_GetArrayItem(cJSON_GetObjectItem(first_span(*root), "attributes"), 0);
    cJSON *v = cJSON_GetObjectItem(kv, "value");
    ck_assert_ptr_nonnull(v);
    return v;
}

/* Compact JSON of 'item' into a static buffer, for assertions. */
static const char *compact(const cJSON *item)
{
    static char text[4096];
    char *s = cJSON_PrintUnformatted(item);
    ck_assert_ptr_nonnull(s);
    snprintf(text, sizeof(text), "%s", s);
    free(s);
    return text;
}

/* ---- helpers: semantic comparison ---- */

/* Put expected OTLP/JSON into the decoder's canonical form: ids lower-case,
 * an empty parentSpanId dropped, 64-bit integers given as numbers turned into
 * decimal strings. */
static int key_in(const cJSON *it, const char *const *keys, size_t n)
{
    for (size_t i = 0; it->string && i < n; i++) {
        if (!strcmp(it->string, keys[i]))
            return 1;
    }
    return 0;
}

static void canon(cJSON *node)
{
    static const char *const ids[] = {"traceId", "spanId", "parentSpanId"};
    static const char *const i64[] = {"startTimeUnixNano", "endTimeUnixNano", "timeUnixNano",
                                      "observedTimeUnixNano", "intValue"};
    cJSON *it = node ? node->child : NULL;
    while (it) {
        cJSON *next = it->next;
        if (cJSON_IsString(it) && key_in(it, ids, 3)) {
            for (char *p = it->valuestring; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
            if (!*it->valuestring && !strcmp(it->string, "parentSpanId"))
                cJSON_Delete(cJSON_DetachItemViaPointer(node, it));
        } else if (cJSON_IsNumber(it) && key_in(it, i64, 5)) {
            char num[32];
            snprintf(num, sizeof(num), "%.0f", it->valuedouble);
            cJSON_ReplaceItemInObjectCaseSensitive(node, it->string, cJSON_CreateString(num));
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            canon(it);
        }
        it = next;
    }
}

/* A proto3 default: what an absent field means. */
static int is_default(const cJSON *v)
{
    return (cJSON_IsNumber(v) && v->valuedouble == 0) || (cJSON_IsString(v) && !*v->valuestring) ||
           cJSON_IsFalse(v) || cJSON_IsNull(v) ||
           ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child);
}

/* First difference between 'exp' and 'got' as "path: why" in 'why', or 0 when
 * equal. 'lax': a key missing on one side matches a default on the other. */
static int json_diff(const cJSON *exp, const cJSON *got, int lax, const char *path, char *why,
                     size_t wlen)
{
    char sub[512];
    if ((exp->type & 0xff) != (got->type & 0xff)) {
        snprintf(why, wlen, "%s: type %d vs %d", path, exp->type & 0xff, got->type & 0xff);
        return 1;
    }
    if (cJSON_IsNumber(exp) && exp->valuedouble != got->valuedouble) {
        snprintf(why, wlen, "%s: %.17g vs %.17g", path, exp->valuedouble, got->valuedouble);
        return 1;
    }
    if (cJSON_IsString(exp) && strcmp(exp->valuestring, got->valuestring)) {
        snprintf(why, wlen, "%s: \"%s\" vs \"%s\"", path, exp->valuestring, got->valuestring);
        return 1;
    }
    if (cJSON_IsArray(exp)) {
        if (cJSON_GetArraySize(exp) != cJSON_GetArraySize(got)) {
            snprintf(why, wlen, "%s: %d vs %d elements", path, cJSON_GetArraySize(exp),
                     cJSON_GetArraySize(got));
            return 1;
        }
        int i = 0;
        for (const cJSON *a = exp->child, *b = got->child; a; a = a->next, b = b->next, i++) {
            snprintf(sub, sizeof(sub), "%s[%d]", path, i);
            if (json_diff(a, b, lax, sub, why, wlen))
                return 1;
        }
    }
    if (cJSON_IsObject(exp)) {
        for (int pass = 0; pass < 2; pass++) {
            const cJSON *x = pass ? got : exp, *y = pass ? exp : got;
            for (const cJSON *a = x->child; a; a = a->next) {
                const cJSON *b = cJSON_GetObjectItemCaseSensitive(y, a->string);
                snprintf(sub, sizeof(sub), "%s.%s", path, a->string);
                if (!b && lax && is_default(a))
                    continue;
                if (!b) {
                    snprintf(why, wlen, "%s: %s", sub, pass ? "unexpected" : "missing");
                    return 1;
                }
                if (!pass && json_diff(a, b, lax, sub, why, wlen))
                    return 1;
            }
        }
    }
    return 0;
}

static void assert_same(cJSON *expected, const cJSON *got, int lax, const char *what)
{
    char why[1024];
    canon(expected);
    ck_assert_msg(!json_diff(expected, got, lax, "$", why, sizeof(why)), "%s: %s", what, why);
}

/* Independent UTF-8 check: decode each code point and reject overlongs,
 * surrogates, values above U+10FFFF and NUL. */
static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned n = *p < 0x80 ? 0 : *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc0 ? 1 : 9;
        if (n == 9 || *p > 0xf7)
            return 0;
        uint32_t cp = n ? *p & (0x3f >> n) : *p;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* Deepest root-to-leaf path (in nodes); 0 when any string is not valid UTF-8. */
static int checked_depth(const cJSON *node)
{
    if (cJSON_IsString(node) && !utf8_ok(node->valuestring))
        return 0;
    if (node->string && !utf8_ok(node->string))
        return 0;
    int deepest = 0;
    for (const cJSON *c = node->child; c; c = c->next) {
        int d = checked_depth(c);
        if (d == 0)
            return 0;
        if (d > deepest)
            deepest = d;
    }
    return deepest + 1;
}

/* ---- fixtures: every protobuf body the robustness tests chew on ---- */

struct fixture {
    char name[64];
    int logs;
    struct buf b;
};

#define NFIX 6
#define CONCAT 5 /* fixture made of two others: skipped where it adds nothing */

/* The three shared payloads, the two SDK files, and the SDK trace followed by
 * the third shared payload (two resourceSpans: protobuf concatenation merges
 * repeated fields). */
static void load_fixtures(struct fixture *f)
{
    for (size_t i = 0; i < 3; i++) {
        snprintf(f[i].name, sizeof(f[i].name), "%s", shared_payloads[i]);
        f[i].logs = 0;
        encode_shared(shared_payloads[i], &f[i].b);
    }
    static const char *const sdk[] = {DATA_DIR "sdk-genai-trace.pb", DATA_DIR "sdk-genai-logs.pb"};
    for (size_t i = 0; i < 2; i++) {
        struct fixture *x = &f[3 + i];
        size_t len;
        char *data = tu_read_file(sdk[i], &len);
        ck_assert_msg(data != NULL, "cannot read %s", sdk[i]);
        snprintf(x->name, sizeof(x->name), "%s", sdk[i]);
        x->logs = (int)i;
        buf_init(&x->b, 0);
        pbenc_raw(&x->b, data, len);
        free(data);
    }
    snprintf(f[CONCAT].name, sizeof(f[CONCAT].name), "concatenated");
    f[CONCAT].logs = 0;
    buf_init(&f[CONCAT].b, 0);
    pbenc_raw(&f[CONCAT].b, f[3].b.data, f[3].b.len);
    pbenc_raw(&f[CONCAT].b, f[2].b.data, f[2].b.len);
}

static void release_fixtures(struct fixture *f)
{
    for (size_t i = 0; i < NFIX; i++)
        buf_release(&f[i].b);
}

/* Offsets where a top-level field ends (0 included): the only prefixes that
 * are complete requests. */
static int is_top_boundary(const struct buf *b, size_t len)
{
    const uint8_t *p = (const uint8_t *)b->data, *end = p + b->len, *start = p;
    if (len == 0)
        return 1;
    while (p < end) {
        uint64_t tag = 0, n = 0;
        for (int s = 0; p < end; s += 7) {
            tag |= (uint64_t)(*p & 0x7f) << s;
            if (!(*p++ & 0x80))
                break;
        }
        ck_assert_uint_eq(tag & 7, 2); /* both requests hold only field 1 (LEN) */
        for (int s = 0; p < end; s += 7) {
            n |= (uint64_t)(*p & 0x7f) << s;
            if (!(*p++ & 0x80))
                break;
        }
        p += n;
        if ((size_t)(p - start) == len)
            return 1;
    }
    return 0;
}

/* ---- round trips ---- */

START_TEST(test_shared_payloads_round_trip_through_protobuf)
{
    for (size_t i = 0; i < 3; i++) {
        struct buf pb;
        encode_shared(shared_payloads[i], &pb);
        cJSON *got = decode_ok(0, pb.data, pb.len);
        cJSON *expected = load_json(tu_shared(shared_payloads[i]));
        assert_same(expected, got, 0, shared_payloads[i]);
        cJSON_Delete(expected);
        cJSON_Delete(got);
        buf_release(&pb);
    }
}
END_TEST

START_TEST(test_comparison_catches_changed_missing_and_extra_fields)
{
    struct buf pb;
    encode_shared(shared_payloads[0], &pb);
    cJSON *got = decode_ok(0, pb.data, pb.len);
    char why[512];
    for (int mode = 0; mode < 3; mode++) {
        cJSON *expected = load_json(tu_shared(shared_payloads[0]));
        cJSON *span = first_span(expected);
        if (mode == 0)
            cJSON_ReplaceItemInObject(span, "name", cJSON_CreateString("other"));
        else if (mode == 1)
            cJSON_DeleteItemFromObject(span, "endTimeUnixNano");
        else
            cJSON_AddStringToObject(span, "traceState", "x=1");
        canon(expected);
        ck_assert_msg(json_diff(expected, got, 1, "$", why, sizeof(why)) == 1, "mode %d", mode);
        cJSON_Delete(expected);
    }
    cJSON_Delete(got);
    buf_release(&pb);
}
END_TEST

START_TEST(test_sdk_trace_bytes_decode_to_the_sdk_json)
{
    size_t len;
    char *pb = tu_read_file(DATA_DIR "sdk-genai-trace.pb", &len);
    ck_assert_ptr_nonnull(pb);
    cJSON *got = decode_ok(0, pb, len);
    cJSON *expected = load_json(DATA_DIR "sdk-genai-trace.json");
    assert_same(expected, got, 1, "sdk-genai-trace");

    /* The values a user looks at, checked directly. */
    cJSON *spans = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(got, "resourceSpans"), 0),
                                "scopeSpans"),
            0),
        "spans");
    cJSON *server = cJSON_GetArrayItem(spans, 0), *chat = cJSON_GetArrayItem(spans, 1);
    ck_assert_ptr_null(cJSON_GetObjectItem(server, "parentSpanId"));
    ck_assert_str_eq(jsonx_str(chat, "parentSpanId"), "a1b2c3d4e5f60718");
    ck_assert_str_eq(jsonx_str(chat, "traceId"), "4f9c2b7e1a3d4c8b9e0f112233445566");
    ck_assert_str_eq(jsonx_str(chat, "endTimeUnixNano"), "1772460307373456789");
    ck_assert_str_eq(compact(cJSON_GetObjectItem(chat, "status")),
                     "{\"message\":\"Error code: 429\",\"code\":2}");
    ck_assert_int_eq(cJSON_GetObjectItem(chat, "kind")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(chat, "flags")->valueint, 257);
    const char *attrs = compact(cJSON_GetObjectItem(chat, "attributes"));
    ck_assert_ptr_nonnull(strstr(attrs, "{\"key\":\"llmtap.fixture.big_int\",\"value\":"
                                        "{\"intValue\":\"9007199254740992\"}}"));
    ck_assert_ptr_nonnull(strstr(attrs, "{\"intValue\":\"-7\"}"));
    ck_assert_ptr_nonnull(strstr(attrs, "{\"doubleValue\":0.2}"));
    ck_assert_ptr_nonnull(strstr(attrs, "{\"bytesValue\":\"AAEC+g==\"}"));
    ck_assert_ptr_nonnull(strstr(attrs, "Où est ma commande ? ✓ 😀"));
    ck_assert_str_eq(compact(cJSON_GetObjectItem(chat, "events")),
                     "[{\"timeUnixNano\":\"1772460307372456000\",\"name\":\"exception\","
                     "\"attributes\":[{\"key\":\"exception.type\",\"value\":{\"stringValue\":"
                     "\"openai.RateLimitError\"}},{\"key\":\"exception.message\",\"value\":{"
                     "\"stringValue\":\"Error code: 429 - Rate limit reached\"}}],"
                     "\"droppedAttributesCount\":0}]");
    cJSON_Delete(expected);
    cJSON_Delete(got);
    free(pb);
}
END_TEST

START_TEST(test_sdk_logs_bytes_decode_to_the_sdk_json)
{
    size_t len;
    char *pb = tu_read_file(DATA_DIR "sdk-genai-logs.pb", &len);
    ck_assert_ptr_nonnull(pb);
    cJSON *got = decode_ok(1, pb, len);
    cJSON *expected = load_json(DATA_DIR "sdk-genai-logs.json");
    assert_same(expected, got, 1, "sdk-genai-logs");

    cJSON *records = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(got, "resourceLogs"), 0),
                                "scopeLogs"),
            0),
        "logRecords");
    cJSON *msg = cJSON_GetArrayItem(records, 0), *plain = cJSON_GetArrayItem(records, 1);
    ck_assert_str_eq(jsonx_str(msg, "eventName"), "gen_ai.user.message");
    ck_assert_str_eq(jsonx_str(msg, "observedTimeUnixNano"), "1772460307123600000");
    ck_assert_str_eq(jsonx_str(msg, "spanId"), "0f1e2d3c4b5a6978");
    ck_assert_int_eq(cJSON_GetObjectItem(msg, "severityNumber")->valueint, 9);
    ck_assert_str_eq(compact(cJSON_GetObjectItem(msg, "body")),
                     "{\"kvlistValue\":{\"values\":[{\"key\":\"role\",\"value\":{\"stringValue\":"
                     "\"user\"}},{\"key\":\"content\",\"value\":{\"stringValue\":\"My order "
                     "#A-1042 has not arrived.\"}},{\"key\":\"index\",\"value\":{\"intValue\":"
                     "\"0\"}}]}}");
    ck_assert_ptr_null(cJSON_GetObjectItem(plain, "traceId"));
    ck_assert_ptr_null(cJSON_GetObjectItem(plain, "eventName"));
    ck_assert_str_eq(compact(cJSON_GetObjectItem(plain, "body")),
                     "{\"stringValue\":\"plain text body\"}");
    cJSON_Delete(expected);
    cJSON_Delete(got);
    free(pb);
}
END_TEST

/* ---- truncation, exact-size copies, mutation ---- */

START_TEST(test_every_prefix_fails_cleanly_or_ends_on_a_field_boundary)
{
    struct fixture f[NFIX];
    load_fixtures(f);
    for (size_t i = 0; i < NFIX; i++) {
        size_t n = f[i].b.len, ok = 0;
        for (size_t len = 0; len < n; len++) {
            /* An exactly-sized heap copy: ASan / valgrind see any over-read. */
            char *copy = len ? xmalloc(len) : NULL;
            if (len)
                memcpy(copy, f[i].b.data, len);
            cJSON *out = (cJSON *)1;
            char err[256] = "";
            int rc = f[i].logs ? otlp_pb_logs_to_json(copy, len, &out, err, sizeof(err))
                               : otlp_pb_traces_to_json(copy, len, &out, err, sizeof(err));
            int boundary = is_top_boundary(&f[i].b, len);
            ck_assert_msg(rc == (boundary ? 0 : -1), "%s: prefix %zu: rc %d (%s)", f[i].name, len,
                          rc, err);
            if (rc == 0) {
                ok++;
                cJSON_Delete(out);
            } else {
                ck_assert_ptr_null(out);
                ck_assert_msg(strstr(err, " at byte ") != NULL, "%s: prefix %zu: '%s'", f[i].name,
                              len, err);
            }
            free(copy);
        }
        ck_assert_uint_eq(ok, i == CONCAT ? 2 : 1); /* the empty prefix (+ the seam) */
    }
    release_fixtures(f);
}
END_TEST

/* Whether 'n' bytes at 'm' parse as a sequence of well-formed fields (so a
 * length-delimited field holding them is probably an embedded message). */
static int looks_like_message(const uint8_t *m, size_t n)
{
    const uint8_t *p = m, *end = m + n;
    while (p < end) {
        uint64_t tag = 0, v = 0;
        int s = 0;
        do {
            if (p >= end || s > 63)
                return 0;
            tag |= (uint64_t)(*p & 0x7f) << s;
            s += 7;
        } while (*p++ & 0x80);
        unsigned wt = tag & 7;
        if (tag >> 3 == 0 || (wt != 0 && wt != 1 && wt != 2 && wt != 5))
            return 0;
        if (wt == 1 || wt == 5) {
            if ((size_t)(end - p) < (wt == 1 ? 8u : 4u))
                return 0;
            p += wt == 1 ? 8 : 4;
            continue;
        }
        s = 0;
        do {
            if (p >= end || s > 63)
                return 0;
            v |= (uint64_t)(*p & 0x7f) << s;
            s += 7;
        } while (*p++ & 0x80);
        if (wt == 2) {
            if (v > (uint64_t)(end - p))
                return 0;
            p += v;
        }
    }
    return 1;
}

/* 'm' cut at offset 'k' with every enclosing embedded message shortened to
 * match, so the cut lands inside the innermost message, not the outermost. */
static void cut_nested(const uint8_t *m, size_t n, size_t k, struct buf *out)
{
    const uint8_t *p = m, *end = m + n;
    while (p < end && (size_t)(p - m) < k) {
        const uint8_t *start = p;
        uint64_t tag = 0, len = 0;
        for (int s = 0; p < end; s += 7) {
            tag |= (uint64_t)(*p & 0x7f) << s;
            if (!(*p++ & 0x80))
                break;
        }
        const uint8_t *body = p;
        if ((tag & 7) == 2) {
            for (int s = 0; p < end; s += 7) {
                len |= (uint64_t)(*p & 0x7f) << s;
                if (!(*p++ & 0x80))
                    break;
            }
            body = p;
            p += len;
        } else {
            p += (tag & 7) == 1 ? 8 : (tag & 7) == 5 ? 4 : 0;
            while ((tag & 7) == 0 && p < end && (*p++ & 0x80))
                ;
        }
        size_t field_end = (size_t)(p - m);
        if (field_end <= k) {
            pbenc_raw(out, start, (size_t)(p - start));
            continue;
        }
        if ((tag & 7) == 2 && (size_t)(body - m) < k && looks_like_message(body, len)) {
            struct buf sub;
            buf_init(&sub, 0);
            cut_nested(body, len, k - (size_t)(body - m), &sub);
            pbenc_tag(out, (uint32_t)(tag >> 3), 2);
            pbenc_varint(out, sub.len);
            pbenc_raw(out, sub.data, sub.len);
            buf_release(&sub);
        } else {
            pbenc_raw(out, start, k - (size_t)(start - m));
        }
        return;
    }
}

START_TEST(test_cuts_inside_nested_messages_fail_cleanly_or_decode)
{
    struct fixture f[NFIX];
    load_fixtures(f);
    for (size_t i = 0; i < NFIX; i++) {
        /* Every offset of the SDK bodies, every few of the larger ones. */
        size_t failed = 0, deep = 0, stride = f[i].b.len <= 1500 ? 1 : f[i].b.len / 750 + 1;
        if (i == CONCAT)
            continue;
        for (size_t k = 0; k < f[i].b.len; k += stride) {
            struct buf cut;
            buf_init(&cut, 0);
            cut_nested((const uint8_t *)f[i].b.data, f[i].b.len, k, &cut);
            char *copy = xmalloc(cut.len ? cut.len : 1);
            if (cut.len)
                memcpy(copy, cut.data, cut.len);
            cJSON *out = (cJSON *)1;
            char err[256] = "";
            int rc = f[i].logs ? otlp_pb_logs_to_json(copy, cut.len, &out, err, sizeof(err))
                               : otlp_pb_traces_to_json(copy, cut.len, &out, err, sizeof(err));
            if (rc == 0) {
                ck_assert_int_gt(checked_depth(out), 0);
                cJSON_Delete(out);
            } else {
                ck_assert_ptr_null(out);
                ck_assert_msg(strstr(err, " at byte ") != NULL, "%s: cut %zu: '%s'", f[i].name, k,
                              err);
                failed++;
                deep += strstr(err, ": attribute ") != NULL;
            }
            free(copy);
            buf_release(&cut);
        }
        /* The cuts reached inside attributes, not just the outer envelope. */
        ck_assert_msg(failed > 0 && deep > 0, "%s: %zu failed, %zu deep", f[i].name, failed, deep);
    }
    release_fixtures(f);
}
END_TEST

START_TEST(test_whole_body_in_exact_heap_copy_decodes_like_the_original)
{
    struct fixture f[NFIX];
    load_fixtures(f);
    for (size_t i = 0; i < NFIX; i++) {
        char *copy = xmalloc(f[i].b.len);
        memcpy(copy, f[i].b.data, f[i].b.len);
        cJSON *a = decode_ok(f[i].logs, copy, f[i].b.len);
        cJSON *b = decode_ok(f[i].logs, f[i].b.data, f[i].b.len);
        ck_assert_msg(cJSON_Compare(a, b, 1), "%s", f[i].name);
        if (i == CONCAT) /* concatenated bodies merge: two resourceSpans */
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "resourceSpans")), 2);
        cJSON_Delete(a);
        cJSON_Delete(b);
        free(copy);
    }
    release_fixtures(f);
}
END_TEST

/* Decode 'n' bytes of a mutated body; on success the output must be valid
 * UTF-8, printable and within the documented depth. Returns the decoder's rc. */
static int decode_mutant(int logs, const uint8_t *p, size_t n, const char *what, size_t pos)
{
    cJSON *out = NULL;
    char err[256] = "";
    int rc = logs ? otlp_pb_logs_to_json(p, n, &out, err, sizeof(err))
                  : otlp_pb_traces_to_json(p, n, &out, err, sizeof(err));
    if (rc != 0) {
        ck_assert_msg(out == NULL && err[0], "%s@%zu", what, pos);
        return rc;
    }
    int depth = checked_depth(out);
    ck_assert_msg(depth > 0, "%s@%zu: invalid UTF-8 in output", what, pos);
    ck_assert_int_le(depth, OTLP_PB_MAX_TREE_DEPTH);
    char *text = cJSON_PrintUnformatted(out);
    ck_assert_ptr_nonnull(text);
    free(text);
    cJSON_Delete(out);
    return 0;
}

START_TEST(test_mutated_bytes_decode_or_fail_without_harm)
{
    static const uint8_t masks[] = {0xff, 0x80, 0x01};
    struct fixture f[NFIX];
    load_fixtures(f);
    size_t decoded = 0, failed = 0;
    for (size_t i = 0; i < NFIX; i++) {
        /* Every byte of small bodies; about 300 windows of larger ones, each
         * mask hitting a different byte of its window (valgrind pays for
         * every decode). Every fourth window also goes to the other decoder. */
        if (i == CONCAT)
            continue;
        size_t n = f[i].b.len, stride = n <= 600 ? 1 : n / 300 + 1;
        uint8_t *copy = xmalloc(n);
        for (size_t win = 0; win < n; win += stride) {
            for (size_t m = 0; m < sizeof(masks); m++) {
                size_t pos = win + m % stride;
                if (pos >= n)
                    continue;
                memcpy(copy, f[i].b.data, n);
                copy[pos] ^= masks[m];
                for (int other = 0; other < ((win / stride) % 4 == 0 ? 2 : 1); other++) {
                    if (decode_mutant(f[i].logs ^ other, copy, n, f[i].name, pos) == 0)
                        decoded++;
                    else
                        failed++;
                }
            }
        }
        free(copy);
    }
    /* Both outcomes occur: the loop really exercised the error paths. */
    ck_assert_uint_gt(decoded, 1000);
    ck_assert_uint_gt(failed, 1000);
    release_fixtures(f);
}
END_TEST

/* ---- wire-format edge cases ---- */

/* One unknown field of each wire type, numbered 'base' .. 'base' + 3. */
static void put_unknowns(struct buf *b, uint32_t base)
{
    pbenc_uint(b, base, 300);
    pbenc_fixed64(b, base + 1, 0x1122334455667788u);
    pbenc_str(b, base + 2, "ignored");
    pbenc_fixed32(b, base + 3, 7);
}

START_TEST(test_unknown_fields_of_every_wire_type_are_skipped)
{
    struct buf any, kv, status, span, ss, rs, req;
    struct buf *all[] = {&any, &kv, &status, &span, &ss, &rs, &req};
    for (size_t i = 0; i < 7; i++)
        buf_init(all[i], 0);
    put_unknowns(&any, 8); /* 8 is string_value_strindex (profiles only) */
    pbenc_str(&any, 1, "v");
    put_unknowns(&any, 100);
    pbenc_str(&kv, 1, "k");
    put_unknowns(&kv, 1000);
    pbenc_msg(&kv, 2, &any);
    pbenc_uint(&status, 1, 5); /* reserved deprecated_code */
    pbenc_uint(&status, 3, 2);
    pbenc_str(&span, 5, "s");
    put_unknowns(&span, 17);
    pbenc_msg(&span, 9, &kv);
    pbenc_msg(&span, 15, &status);
    put_unknowns(&span, 536870908); /* the largest field numbers */
    put_unknowns(&ss, 4);
    pbenc_msg(&ss, 2, &span);
    pbenc_msg(&rs, 2, &ss);
    put_unknowns(&rs, 50);
    put_unknowns(&req, 2);
    pbenc_msg(&req, 1, &rs);
    put_unknowns(&req, 9);
    cJSON *got = decode_ok(0, req.data, req.len);
    ck_assert_str_eq(compact(got), "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":"
                                   "\"s\",\"attributes\":[{\"key\":\"k\",\"value\":{"
                                   "\"stringValue\":\"v\"}}],\"status\":{\"code\":2}}]}]}]}");
    cJSON_Delete(got);
    for (size_t i = 0; i < 7; i++)
        buf_release(all[i]);
}
END_TEST

START_TEST(test_group_and_invalid_wire_types_are_rejected)
{
    for (unsigned wt = 3; wt <= 7; wt++) {
        if (wt == 5)
            continue;
        struct buf span, req;
        buf_init(&span, 0);
        pbenc_str(&span, 5, "s");
        pbenc_tag(&span, 40, wt); /* unknown field, but its wire type is unusable */
        pbenc_varint(&span, 0);
        wrap_spans(&req, &span, NULL);
        const char *err = decode_err(&req);
        ck_assert_msg(strstr(err, wt <= 4 ? "group wire type" : "invalid wire type"), "%s", err);
        ck_assert_msg(strstr(err, "span 0: field 40: "), "%s", err);
        buf_release(&span);
        buf_release(&req);
    }
}
END_TEST

START_TEST(test_known_field_with_wrong_wire_type_is_rejected)
{
    struct buf span, req;
    buf_init(&span, 0);
    pbenc_uint(&span, 7, 12345); /* start_time_unix_nano is fixed64, not varint */
    wrap_spans(&req, &span, NULL);
    const char *err = decode_err(&req);
    ck_assert_msg(strstr(err, "span 0: field 7: wire type 0 where 1 was expected at byte "), "%s",
                  err);
    buf_release(&span);
    buf_release(&req);
}
END_TEST

START_TEST(test_ten_byte_varint_accepted_eleven_rejected)
{
    /* -1 as int64 takes exactly 10 bytes. */
    struct buf any;
    buf_init(&any, 0);
    pbenc_uint(&any, 3, UINT64_MAX);
    cJSON *root;
    ck_assert_str_eq(compact(decode_value(&root, &any)), "{\"intValue\":\"-1\"}");
    cJSON_Delete(root);
    buf_release(&any);

    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x01};
    struct buf span, req;
    buf_init(&span, 0);
    pbenc_tag(&span, 6, PBENC_VARINT);
    pbenc_raw(&span, eleven, sizeof(eleven));
    wrap_spans(&req, &span, NULL);
    const char *err = decode_err(&req);
    ck_assert_msg(strstr(err, "field 6: varint longer than 10 bytes"), "%s", err);
    buf_release(&span);
    buf_release(&req);

    /* The same in a tag. */
    buf_init(&req, 0);
    pbenc_raw(&req, eleven, sizeof(eleven));
    err = decode_err(&req);
    ck_assert_str_eq(err, "tag varint longer than 10 bytes at byte 0");
    buf_release(&req);
}
END_TEST

START_TEST(test_length_past_the_enclosing_message_is_rejected)
{
    /* The span claims 50 bytes of name, but the whole span is 4 bytes long. */
    struct buf span, req;
    buf_init(&span, 0);
    pbenc_tag(&span, 5, PBENC_LEN);
    pbenc_varint(&span, 50);
    pbenc_raw(&span, "ab", 2);
    wrap_spans(&req, &span, NULL);
    char expect[200];
    snprintf(expect, sizeof(expect),
             "resource_spans 0: scope_spans 0: span 0: field 5: length 50 runs past the end of "
             "its message (2 left) at byte %zu",
             req.len - 3);
    ck_assert_str_eq(decode_err(&req), expect);
    buf_release(&span);
    buf_release(&req);

    /* A top-level length larger than the body. */
    buf_init(&req, 0);
    pbenc_tag(&req, 1, PBENC_LEN);
    pbenc_varint(&req, 1u << 30);
    ck_assert_str_eq(decode_err(&req),
                     "field 1: length 1073741824 runs past the end of its message (0 left) at "
                     "byte 1");
    buf_release(&req);
}
END_TEST

START_TEST(test_truncated_fixed64_error_names_span_field_and_byte)
{
    struct buf ok, bad, req;
    buf_init(&ok, 0);
    buf_init(&bad, 0);
    pbenc_str(&ok, 5, "first");
    pbenc_str(&bad, 5, "second");
    pbenc_tag(&bad, 7, PBENC_FIXED64);
    pbenc_raw(&bad, "\x01\x02\x03", 3);
    wrap_spans(&req, &ok, &bad);
    char expect[200];
    snprintf(expect, sizeof(expect),
             "resource_spans 0: scope_spans 0: span 1: field 7: truncated fixed64 at byte %zu",
             req.len - 3);
    ck_assert_str_eq(decode_err(&req), expect);

    /* A short error buffer still gets a NUL-terminated prefix; none at all is fine. */
    char small[12];
    cJSON *out;
    ck_assert_int_eq(otlp_pb_traces_to_json(req.data, req.len, &out, small, sizeof(small)), -1);
    ck_assert_str_eq(small, "resource_sp");
    ck_assert_int_eq(otlp_pb_traces_to_json(req.data, req.len, &out, NULL, 0), -1);
    ck_assert_ptr_null(out);
    buf_release(&ok);
    buf_release(&bad);
    buf_release(&req);
}
END_TEST

START_TEST(test_error_path_follows_values_into_kvlists_and_arrays)
{
    /* attribute 0 = kvlist{ "a": "x", "b": array["y", <string cut short>] } */
    struct buf bad, arr, arrv, kva, kvb, av, list, any, req;
    struct buf *all[] = {&bad, &arr, &arrv, &kva, &kvb, &av, &list, &any};
    for (size_t i = 0; i < 8; i++)
        buf_init(all[i], 0);
    pbenc_tag(&bad, 1, PBENC_LEN);
    pbenc_varint(&bad, 9);
    pbenc_raw(&bad, "short", 5);
    pbenc_str(&av, 1, "y");
    pbenc_msg(&arr, 1, &av);
    pbenc_msg(&arr, 1, &bad);
    pbenc_msg(&arrv, 5, &arr);
    pbenc_str(&kva, 1, "a");
    pbenc_msg(&kva, 2, &av);
    pbenc_str(&kvb, 1, "b");
    pbenc_msg(&kvb, 2, &arrv);
    pbenc_msg(&list, 1, &kva);
    pbenc_msg(&list, 1, &kvb);
    pbenc_msg(&any, 6, &list);
    request_with_value(&req, &any);
    char expect[256];
    snprintf(expect, sizeof(expect),
             "resource_spans 0: scope_spans 0: span 0: attribute 0: value: kvlist 1: value: "
             "array 1: field 1: length 9 runs past the end of its message (5 left) at byte %zu",
             req.len - 6);
    ck_assert_str_eq(decode_err(&req), expect);
    for (size_t i = 0; i < 8; i++)
        buf_release(all[i]);
    buf_release(&req);
}
END_TEST

/* Seconds to decode one span with 'nattr' attributes next to nattr / 4 more
 * spans; checks the counts came out right. */
static double decode_seconds(int nattr)
{
    struct buf kv, span, ss, rs, req, any;
    struct buf *all[] = {&kv, &span, &ss, &rs, &req, &any};
    for (size_t i = 0; i < 6; i++)
        buf_init(all[i], 0);
    pbenc_uint(&any, 3, 1);
    pbenc_str(&kv, 1, "gen_ai.usage.input_tokens");
    pbenc_msg(&kv, 2, &any);
    for (int i = 0; i < nattr; i++)
        pbenc_msg(&span, 9, &kv);
    pbenc_msg(&ss, 2, &span);
    buf_reset(&span);
    pbenc_str(&span, 5, "s");
    for (int i = 0; i < nattr / 4; i++)
        pbenc_msg(&ss, 2, &span);
    pbenc_msg(&rs, 2, &ss);
    pbenc_msg(&req, 1, &rs);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cJSON *root = decode_ok(0, req.data, req.len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cJSON *rs0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0);
    cJSON *ss0 = cJSON_GetArrayItem(cJSON_GetObjectItem(rs0, "scopeSpans"), 0);
    cJSON *spans = cJSON_GetObjectItem(ss0, "spans");
    ck_assert_int_eq(cJSON_GetArraySize(spans), nattr / 4 + 1);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(first_span(root), "attributes")),
                     nattr);
    cJSON_Delete(root);
    for (size_t i = 0; i < 6; i++)
        buf_release(all[i]);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

START_TEST(test_large_requests_decode_in_linear_time)
{
    /* Sixteen times the input must cost well under 64 times as long (a
     * quadratic append or lookup would cost 256 times). Both sides are the
     * best of five runs, so a stall from a busy machine cannot fail it. */
    double small = 1e9, large = 1e9;
    for (int i = 0; i < 5; i++) {
        double t = decode_seconds(5000);
        small = t < small ? t : small;
        t = decode_seconds(80000);
        large = t < large ? t : large;
    }
    ck_assert_msg(large < 64 * small, "80000 attributes took %.4fs, 5000 took %.4fs", large, small);
}
END_TEST

/* AnyValue bytes nested 'depth' levels deep, through arrayValue or
 * kvlistValue. The innermost level is a string, or with 'deep_leaf' a
 * kvlistValue holding one KeyValue without a value (the deepest tree). */
static void nested_value(struct buf *out, int depth, int kvlist, int deep_leaf)
{
    buf_init(out, 0);
    if (deep_leaf) {
        struct buf kv, list;
        buf_init(&kv, 0);
        buf_init(&list, 0);
        pbenc_str(&kv, 1, "k");
        pbenc_msg(&list, 1, &kv);
        pbenc_msg(out, 6, &list);
        buf_release(&kv);
        buf_release(&list);
    } else {
        pbenc_str(out, 1, "leaf");
    }
    for (int d = 1; d < depth; d++) {
        struct buf list, kv;
        buf_init(&list, 0);
        buf_init(&kv, 0);
        if (kvlist) {
            pbenc_str(&kv, 1, "k");
            pbenc_msg(&kv, 2, out);
            pbenc_msg(&list, 1, &kv);
        } else {
            pbenc_msg(&list, 1, out);
        }
        buf_reset(out);
        pbenc_msg(out, kvlist ? 6 : 5, &list);
        buf_release(&list);
        buf_release(&kv);
    }
}

/* Levels of AnyValue in a decoded value: follow arrayValue / kvlistValue down. */
static int value_depth(const cJSON *v)
{
    int d = 1;
    for (;;) {
        const cJSON *arr = cJSON_GetObjectItem(v, "arrayValue");
        const cJSON *kvl = cJSON_GetObjectItem(v, "kvlistValue");
        const cJSON *el = cJSON_GetArrayItem(cJSON_GetObjectItem(arr ? arr : kvl, "values"), 0);
        if (!el)
            return d;
        v = arr ? el : cJSON_GetObjectItem(el, "value");
        d++;
    }
}

START_TEST(test_anyvalue_nesting_is_capped_at_32_levels)
{
    static const int depths[] = {30, 32, 33, 40};
    for (int kvlist = 0; kvlist < 2; kvlist++) {
        for (size_t i = 0; i < 4; i++) {
            struct buf any, req;
            nested_value(&any, depths[i], kvlist, 0);
            request_with_value(&req, &any);
            if (depths[i] <= OTLP_PB_MAX_ANY_DEPTH) {
                cJSON *root;
                cJSON *v = decode_value(&root, &any);
                ck_assert_int_eq(value_depth(v), depths[i]);
                cJSON_Delete(root);
            } else {
                const char *err = decode_err(&req);
                ck_assert_msg(strstr(err, "AnyValue nested deeper than 32 levels at byte "), "%s",
                              err);
                const char *path = "resource_spans 0: scope_spans 0: span 0: attribute 0: value: ";
                ck_assert_msg(!strncmp(err, path, strlen(path)), "%s", err);
                ck_assert_msg(strstr(err, ": ...: field "), "%s", err); /* path elided */
            }
            buf_release(&any);
            buf_release(&req);
        }
    }
}
END_TEST

/* The deepest accepted shape: kvlists 32 levels deep in a span event attribute,
 * the innermost one holding a KeyValue without a value. */
static void deepest_request(struct buf *req)
{
    struct buf any, kv, event, span;
    nested_value(&any, OTLP_PB_MAX_ANY_DEPTH, 1, 1);
    buf_init(&kv, 0);
    buf_init(&event, 0);
    buf_init(&span, 0);
    pbenc_str(&kv, 1, "k");
    pbenc_msg(&kv, 2, &any);
    pbenc_msg(&event, 3, &kv);
    pbenc_msg(&span, 11, &event);
    wrap_spans(req, &span, NULL);
    buf_release(&any);
    buf_release(&kv);
    buf_release(&event);
    buf_release(&span);
}

struct small_stack_job {
    const struct buf *req;
    int rc;
    int depth;
    size_t printed;
};

static void *small_stack_main(void *arg)
{
    struct small_stack_job *job = arg;
    cJSON *out = NULL;
    char err[256];
    job->rc = otlp_pb_traces_to_json(job->req->data, job->req->len, &out, err, sizeof(err));
    if (job->rc == 0) {
        char *text = cJSON_PrintUnformatted(out);
        job->printed = text ? strlen(text) : 0;
        free(text);
        job->depth = checked_depth(out);
        cJSON_Delete(out);
    }
    return NULL;
}

START_TEST(test_deepest_tree_decodes_prints_and_frees_on_a_100k_stack)
{
    struct buf req;
    deepest_request(&req);
    struct small_stack_job job = {&req, -1, 0, 0};
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, 100 * 1024), 0);
    ck_assert_int_eq(pthread_create(&th, &attr, small_stack_main, &job), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    ck_assert_int_eq(job.rc, 0);
    ck_assert_uint_gt(job.printed, 1000);
    /* The documented bound is exact: this is the deepest tree there is. */
    ck_assert_int_eq(job.depth, OTLP_PB_MAX_TREE_DEPTH);
    buf_release(&req);
}
END_TEST

/* ---- value mapping ---- */

START_TEST(test_int64_and_fixed64_beyond_2_53_are_exact_decimal_strings)
{
    static const struct {
        uint64_t wire;
        const char *text;
    } ints[] = {
        {9007199254740993u, "9007199254740993"},
        {INT64_MAX, "9223372036854775807"},
        {(uint64_t)INT64_MIN, "-9223372036854775808"},
        {(uint64_t)-42, "-42"},
        {0, "0"},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        struct buf any;
        buf_init(&any, 0);
        pbenc_uint(&any, 3, ints[i].wire);
        cJSON *root;
        cJSON *v = decode_value(&root, &any);
        ck_assert_str_eq(jsonx_str(v, "intValue"), ints[i].text);
        cJSON_Delete(root);
        buf_release(&any);
    }
    struct buf span, req;
    buf_init(&span, 0);
    pbenc_fixed64(&span, 7, UINT64_MAX);
    pbenc_fixed64(&span, 8, 9007199254740993u);
    wrap_spans(&req, &span, NULL);
    cJSON *root = decode_ok(0, req.data, req.len);
    ck_assert_str_eq(jsonx_str(first_span(root), "startTimeUnixNano"), "18446744073709551615");
    ck_assert_str_eq(jsonx_str(first_span(root), "endTimeUnixNano"), "9007199254740993");
    cJSON_Delete(root);
    buf_release(&span);
    buf_release(&req);
}
END_TEST

START_TEST(test_doubles_map_to_numbers_and_nan_infinity_strings)
{
    static const struct {
        double d;
        const char *json;
    } cases[] = {
        {NAN, "{\"doubleValue\":\"NaN\"}"},
        {INFINITY, "{\"doubleValue\":\"Infinity\"}"},
        {-INFINITY, "{\"doubleValue\":\"-Infinity\"}"},
        {0.1, "{\"doubleValue\":0.1}"},
        {-2.5e-300, "{\"doubleValue\":-2.5e-300}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf any;
        buf_init(&any, 0);
        pbenc_double(&any, 4, cases[i].d);
        cJSON *root;
        ck_assert_str_eq(compact(decode_value(&root, &any)), cases[i].json);
        cJSON_Delete(root);
        buf_release(&any);
    }
}
END_TEST

START_TEST(test_bytes_value_is_base64_and_ids_are_lower_hex)
{
    static const char *const b64[] = {"", "/w==", "//8=", "////", "AAECAw=="};
    static const char *const raw[] = {"", "\xff", "\xff\xff", "\xff\xff\xff", "\x00\x01\x02\x03"};
    static const size_t rawlen[] = {0, 1, 2, 3, 4};
    for (size_t i = 0; i < 5; i++) {
        struct buf any;
        buf_init(&any, 0);
        pbenc_bytes(&any, 7, raw[i], rawlen[i]);
        cJSON *root;
        ck_assert_str_eq(jsonx_str(decode_value(&root, &any), "bytesValue"), b64[i]);
        cJSON_Delete(root);
        buf_release(&any);
    }
    struct buf span, req;
    buf_init(&span, 0);
    pbenc_bytes(&span, 1, "\xAB\xCD\xEF", 3); /* odd length: the mapper judges it */
    pbenc_bytes(&span, 2, "", 0);
    pbenc_bytes(&span, 4, "", 0);
    wrap_spans(&req, &span, NULL);
    cJSON *root = decode_ok(0, req.data, req.len);
    ck_assert_str_eq(compact(first_span(root)), "{\"traceId\":\"abcdef\",\"spanId\":\"\"}");
    cJSON_Delete(root);
    buf_release(&span);
    buf_release(&req);
}
END_TEST

START_TEST(test_invalid_utf8_becomes_replacement_characters)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"a\xff"
         "b",
         3,
         "a\xef\xbf\xbd"
         "b"},
        {"ok \xe2\x82", 5, "ok \xef\xbf\xbd"},                       /* truncated 3-byte sequence */
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"\xf4\x90\x80\x80", 4,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
        {"n\0ul", 4, "n\xef\xbf\xbdul"},                      /* NUL cannot live in cJSON */
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80"}, /* valid kept */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf any;
        buf_init(&any, 0);
        pbenc_bytes(&any, 1, cases[i].in, cases[i].len);
        cJSON *root;
        ck_assert_str_eq(jsonx_str(decode_value(&root, &any), "stringValue"), cases[i].out);
        cJSON_Delete(root);
        buf_release(&any);
    }
    /* Keys and span names too. */
    struct buf kv, span, req;
    buf_init(&kv, 0);
    buf_init(&span, 0);
    pbenc_bytes(&kv, 1, "k\x80", 2);
    pbenc_bytes(&span, 5, "\xfe", 1);
    pbenc_msg(&span, 9, &kv);
    wrap_spans(&req, &span, NULL);
    cJSON *root = decode_ok(0, req.data, req.len);
    ck_assert_str_eq(compact(first_span(root)),
                     "{\"name\":\"\xef\xbf\xbd\",\"attributes\":[{\"key\":\"k\xef\xbf\xbd\"}]}");
    cJSON_Delete(root);
    buf_release(&kv);
    buf_release(&span);
    buf_release(&req);
}
END_TEST

START_TEST(test_scalars_map_to_numbers_booleans_and_enums)
{
    struct buf status, span, req;
    buf_init(&status, 0);
    buf_init(&span, 0);
    pbenc_uint(&status, 3, 2);
    pbenc_str(&status, 2, "boom");
    pbenc_uint(&span, 6, 5);
    pbenc_uint(&span, 10, 4294967295u);
    pbenc_uint(&span, 12, (1ull << 32) + 3); /* uint32 keeps the low 32 bits */
    pbenc_fixed32(&span, 16, 0x301);
    pbenc_msg(&span, 15, &status);
    wrap_spans(&req, &span, NULL);
    cJSON *root = decode_ok(0, req.data, req.len);
    ck_assert_str_eq(compact(first_span(root)),
                     "{\"kind\":5,\"droppedAttributesCount\":4294967295,\"droppedEventsCount\":3,"
                     "\"flags\":769,\"status\":{\"code\":2,\"message\":\"boom\"}}");
    cJSON_Delete(root);
    buf_release(&status);
    buf_release(&span);
    buf_release(&req);

    struct buf any;
    buf_init(&any, 0);
    pbenc_uint(&any, 2, 7); /* any non-zero varint is true */
    ck_assert_str_eq(compact(decode_value(&root, &any)), "{\"boolValue\":true}");
    cJSON_Delete(root);
    buf_release(&any);

    /* A negative enum (int32 sign-extended to 10 bytes) in a log record. */
    struct buf rec, sl, rl;
    buf_init(&rec, 0);
    buf_init(&sl, 0);
    buf_init(&rl, 0);
    buf_init(&req, 0);
    pbenc_uint(&rec, 2, (uint64_t)-1);
    pbenc_bytes(&rec, 9, "", 0);
    pbenc_msg(&sl, 2, &rec);
    pbenc_msg(&rl, 2, &sl);
    pbenc_msg(&req, 1, &rl);
    root = decode_ok(1, req.data, req.len);
    ck_assert_str_eq(compact(root), "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
                                    "\"severityNumber\":-1}]}]}]}");
    cJSON_Delete(root);
    buf_release(&rec);
    buf_release(&sl);
    buf_release(&rl);
    buf_release(&req);
}
END_TEST

START_TEST(test_absent_fields_stay_absent_and_repeats_keep_the_last_value)
{
    struct buf st1, st2, any, kv, span, req;
    struct buf *all[] = {&st1, &st2, &any, &kv, &span};
    for (size_t i = 0; i < 5; i++)
        buf_init(all[i], 0);
    pbenc_uint(&st1, 3, 2);
    pbenc_str(&st1, 2, "first");
    pbenc_uint(&st2, 3, 1);
    pbenc_str(&any, 1, "text");
    pbenc_uint(&any, 3, 9); /* oneof: the int replaces the string */
    pbenc_str(&kv, 1, "k");
    pbenc_msg(&kv, 2, &any);
    pbenc_str(&span, 5, "old");
    pbenc_bytes(&span, 4, "\x01\x02", 2);
    pbenc_msg(&span, 15, &st1);
    pbenc_msg(&span, 9, &kv);
    pbenc_str(&span, 5, "new");
    pbenc_bytes(&span, 4, "", 0); /* an empty parent means none */
    pbenc_msg(&span, 15, &st2);   /* the whole status is replaced */
    pbenc_msg(&span, 9, &kv);     /* repeated: appended */
    wrap_spans(&req, &span, NULL);
    cJSON *root = decode_ok(0, req.data, req.len);
    ck_assert_str_eq(compact(first_span(root)),
                     "{\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"9\"}},{\"key\":"
                     "\"k\",\"value\":{\"intValue\":\"9\"}}],\"name\":\"new\",\"status\":{"
                     "\"code\":1}}");
    cJSON_Delete(root);
    for (size_t i = 0; i < 5; i++)
        buf_release(all[i]);
    buf_release(&req);
}
END_TEST

START_TEST(test_empty_body_is_an_empty_request)
{
    cJSON *out = decode_ok(0, NULL, 0);
    ck_assert_str_eq(compact(out), "{}");
    cJSON_Delete(out);
    out = decode_ok(1, "", 0);
    ck_assert_str_eq(compact(out), "{}");
    cJSON_Delete(out);
}
END_TEST

/* ---- response encoders ---- */

START_TEST(test_partial_success_response_encodes_count_and_message)
{
    struct buf out;
    buf_init(&out, 0);
    const char *msg = "2 spans had invalid traceId length";
    ck_assert_int_eq(otlp_pb_trace_response(&out, 2, msg), BUF_OK);
    /* ExportTraceServiceResponse{1: {1: 2, 2: msg}}, decoded by hand. */
    const uint8_t *p = (const uint8_t *)out.data;
    ck_assert_uint_eq(out.len, 2 + 2 + 2 + strlen(msg));
    ck_assert_uint_eq(p[0], 0x0a);
    ck_assert_uint_eq(p[1], out.len - 2);
    ck_assert_uint_eq(p[2], 0x08);
    ck_assert_uint_eq(p[3], 2);
    ck_assert_uint_eq(p[4], 0x12);
    ck_assert_uint_eq(p[5], strlen(msg));
    ck_assert(memcmp(p + 6, msg, strlen(msg)) == 0);

    /* A warning with nothing rejected: only the message. */
    buf_reset(&out);
    ck_assert_int_eq(otlp_pb_logs_response(&out, 0, "truncated"), BUF_OK);
    ck_assert_uint_eq(out.len, 13);
    ck_assert(memcmp(out.data, "\x0a\x0b\x12\x09truncated", 13) == 0);

    /* Big counts use multi-byte varints. */
    buf_reset(&out);
    ck_assert_int_eq(otlp_pb_logs_response(&out, 300, NULL), BUF_OK);
    ck_assert_uint_eq(out.len, 5);
    ck_assert(memcmp(out.data, "\x0a\x03\x08\xac\x02", 5) == 0);
    buf_release(&out);
}
END_TEST

START_TEST(test_full_success_response_is_an_empty_body)
{
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(otlp_pb_trace_response(&out, 0, NULL), BUF_OK);
    ck_assert_int_eq(otlp_pb_trace_response(&out, 0, ""), BUF_OK);
    ck_assert_int_eq(otlp_pb_logs_response(&out, 0, NULL), BUF_OK);
    ck_assert_uint_eq(out.len, 0);
    buf_release(&out);
}
END_TEST

START_TEST(test_status_encodes_code_and_message)
{
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(otlp_pb_status(&out, 3, "invalid traceId"), BUF_OK);
    ck_assert_uint_eq(out.len, 2 + 2 + 15);
    ck_assert(memcmp(out.data, "\x08\x03\x12\x0finvalid traceId", out.len) == 0);
    buf_reset(&out);
    ck_assert_int_eq(otlp_pb_status(&out, 0, "busy"), BUF_OK);
    ck_assert(out.len == 6 && memcmp(out.data,
                                     "\x12\x04"
                                     "busy",
                                     6) == 0);
    buf_reset(&out);
    ck_assert_int_eq(otlp_pb_status(&out, -1, NULL), BUF_OK); /* int32 sign-extends */
    ck_assert(out.len == 11 &&
              memcmp(out.data, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11) == 0);
    buf_release(&out);
}
END_TEST

START_TEST(test_response_over_the_buffer_ceiling_appends_nothing)
{
    struct buf out;
    buf_init(&out, 8);
    ck_assert_int_eq(otlp_pb_trace_response(&out, 1, "a message that does not fit"), BUF_TOOBIG);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(otlp_pb_status(&out, 13, "also too long"), BUF_TOOBIG);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(otlp_pb_status(&out, 13, "ok"), BUF_OK);
    ck_assert_uint_eq(out.len, 6);
    buf_release(&out);
}
END_TEST

static Suite *otlp_pb_suite(void)
{
    Suite *s = suite_create("otlp_pb");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, test_shared_payloads_round_trip_through_protobuf);
    tcase_add_test(tc, test_comparison_catches_changed_missing_and_extra_fields);
    tcase_add_test(tc, test_sdk_trace_bytes_decode_to_the_sdk_json);
    tcase_add_test(tc, test_sdk_logs_bytes_decode_to_the_sdk_json);
    tcase_add_test(tc, test_int64_and_fixed64_beyond_2_53_are_exact_decimal_strings);
    tcase_add_test(tc, test_doubles_map_to_numbers_and_nan_infinity_strings);
    tcase_add_test(tc, test_bytes_value_is_base64_and_ids_are_lower_hex);
    tcase_add_test(tc, test_invalid_utf8_becomes_replacement_characters);
    tcase_add_test(tc, test_scalars_map_to_numbers_booleans_and_enums);
    tcase_add_test(tc, test_absent_fields_stay_absent_and_repeats_keep_the_last_value);
    tcase_add_test(tc, test_empty_body_is_an_empty_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_prefix_fails_cleanly_or_ends_on_a_field_boundary);
    tcase_add_test(tc, test_cuts_inside_nested_messages_fail_cleanly_or_decode);
    tcase_add_test(tc, test_whole_body_in_exact_heap_copy_decodes_like_the_original);
    tcase_add_test(tc, test_mutated_bytes_decode_or_fail_without_harm);
    tcase_add_test(tc, test_unknown_fields_of_every_wire_type_are_skipped);
    tcase_add_test(tc, test_group_and_invalid_wire_types_are_rejected);
    tcase_add_test(tc, test_known_field_with_wrong_wire_type_is_rejected);
    tcase_add_test(tc, test_ten_byte_varint_accepted_eleven_rejected);
    tcase_add_test(tc, test_length_past_the_enclosing_message_is_rejected);
    tcase_add_test(tc, test_truncated_fixed64_error_names_span_field_and_byte);
    tcase_add_test(tc, test_error_path_follows_values_into_kvlists_and_arrays);
    tcase_add_test(tc, test_anyvalue_nesting_is_capped_at_32_levels);
    tcase_add_test(tc, test_large_requests_decode_in_linear_time);
    tcase_add_test(tc, test_deepest_tree_decodes_prints_and_frees_on_a_100k_stack);
    suite_add_tcase(s, tc);

    tc = tcase_create("respond");
    tcase_add_test(tc, test_partial_success_response_encodes_count_and_message);
    tcase_add_test(tc, test_full_success_response_is_an_empty_body);
    tcase_add_test(tc, test_status_encodes_code_and_message);
    tcase_add_test(tc, test_response_over_the_buffer_ceiling_appends_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(otlp_pb_suite());
}
