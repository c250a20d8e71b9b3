/*
 * Core leaf modules: buf (bounded growth, JSON escaping), ids (hex, base64,
 * UUID normalisation), jsonx (depth guard, 64-bit ints), timeutil (ISO-8601),
 * vset (canonical and derived version_sets), span lifecycle, err bodies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/ingest.h"
#include "core/jsonx.h"
#include "core/sha256.h"
#include "core/span.h"
#include "core/timeutil.h"
#include "core/varint.h"
#include "core/vset.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"

START_TEST(test_buf_refuses_growth_past_its_ceiling)
{
    struct buf b;
    buf_init(&b, 10);
    ck_assert_int_eq(buf_puts(&b, "0123456789"), BUF_OK);
    ck_assert_int_eq(buf_putc(&b, 'x'), BUF_TOOBIG);
    ck_assert_uint_eq(b.len, 10);
    ck_assert_str_eq(buf_str(&b), "0123456789");
    buf_release(&b);
}
END_TEST

START_TEST(test_buf_read_stream_reads_to_the_end_or_its_ceiling)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 30000; i++) /* 300,000 bytes: several reads */
        ck_assert_int_eq(fputs("0123456789", f) >= 0, 1);
    rewind(f);
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_read_stream(&b, f), BUF_OK);
    ck_assert_uint_eq(b.len, 300000);
    ck_assert_int_eq(memcmp(b.data + 299990, "0123456789", 10), 0);
    buf_release(&b);
    rewind(f);
    buf_init(&b, 100000);
    ck_assert_int_eq(buf_read_stream(&b, f), BUF_TOOBIG);
    ck_assert_uint_le(b.len, 100000);
    buf_release(&b);
    fclose(f);
}
END_TEST

START_TEST(test_buf_json_escapes_quotes_controls_and_keeps_utf8)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_json_str(&b, "a\"b\\c\n\x01 \xe4\xbd\xa0"), BUF_OK);
    ck_assert_str_eq(buf_str(&b), "\"a\\\"b\\\\c\\n\\u0001 \xe4\xbd\xa0\"");
    size_t len;
    char *s = buf_take(&b, &len);
    ck_assert_uint_eq(len, strlen(s));
    free(s);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_ids_normalize_accepts_hex_base64_uuid_and_rejects_zero)
{
    char out[33];
    ck_assert_int_eq(ids_normalize("4F9C2B7E1A3D4C8B9E0F112233445566", 16, out), 0);
    ck_assert_str_eq(out, "4f9c2b7e1a3d4c8b9e0f112233445566");
    ck_assert_int_eq(ids_normalize("T5wrfho9TIueDxEiM0RVZg==", 16, out), 0);
    ck_assert_str_eq(out, "4f9c2b7e1a3d4c8b9e0f112233445566");
    ck_assert_int_eq(ids_normalize("7d2c1f0e-5b4a-4e39-8c21-0f9e8d7c6b5a", 16, out), 0);
    ck_assert_str_eq(out, "7d2c1f0e5b4a4e398c210f9e8d7c6b5a");
    ck_assert_int_eq(ids_normalize("00000000000000000000000000000000", 16, out), -1);
    ck_assert_int_eq(ids_normalize("a1b2c3d4e5f6071", 8, out), -1);
    ck_assert_int_eq(ids_normalize("zzb2c3d4e5f60718", 8, out), -1);
    ck_assert_int_eq(ids_normalize("a1b2c3d4e5f60718", 8, out), 0);
}
END_TEST

START_TEST(test_ids_random_and_derive_are_hex_and_stable)
{
    char a[33], b[33], d1[17], d2[17];
    ids_random(16, a);
    ids_random(16, b);
    ck_assert(ids_is_hex(a, 32));
    ck_assert_str_ne(a, b);
    ids_derive("e4a9c2d1-6f3b", 8, d1);
    ids_derive("e4a9c2d1-6f3b", 8, d2);
    ck_assert_str_eq(d1, d2);
    ck_assert(ids_is_hex(d1, 16));
}
END_TEST

START_TEST(test_jsonx_rejects_deep_nesting_before_cjson_recurses)
{
    char err[128];
    char *deep = xmalloc(20001);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    ck_assert_ptr_null(jsonx_parse(deep, 20000, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "nested deeper"));
    free(deep);
    cJSON *ok = jsonx_parse("[[1]] ", 6, err, sizeof(err));
    ck_assert_ptr_nonnull(ok);
    cJSON_Delete(ok);
    ck_assert_ptr_null(jsonx_parse("{\"a\":1} x", 9, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "byte 8"));
}
END_TEST

START_TEST(test_jsonx_int64_is_exact_from_strings)
{
    char err[64];
    const char *text = "{\"s\":\"1772460307123456789\",\"n\":412,\"f\":1.5,\"x\":\"12a\"}";
    cJSON *o = jsonx_parse(text, strlen(text), err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    int64_t v;
    ck_assert_int_eq(jsonx_member_int64(o, "s", &v), 0);
    ck_assert(v == 1772460307123456789LL);
    ck_assert_int_eq(jsonx_member_int64(o, "n", &v), 0);
    ck_assert(v == 412);
    ck_assert_int_eq(jsonx_member_int64(o, "f", &v), -1);
    ck_assert_int_eq(jsonx_member_int64(o, "x", &v), -1);
    ck_assert_int_eq(jsonx_member_int64(o, "absent", &v), 1);
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_time_parse_iso_handles_fractions_and_offsets)
{
    int64_t ns;
    ck_assert_int_eq(time_parse_iso("2026-03-02T14:05:07.120Z", &ns), 0);
    ck_assert(ns == 1772460307120000000LL);
    ck_assert_int_eq(time_parse_iso("2026-03-02T16:05:07.120+02:00", &ns), 0);
    ck_assert(ns == 1772460307120000000LL);
    ck_assert_int_eq(time_parse_iso("2026-03-02T14:05:07.123456789Z", &ns), 0);
    ck_assert(ns == 1772460307123456789LL);
    ck_assert_int_eq(time_parse_iso("2026-13-02T14:05:07Z", &ns), -1);
    ck_assert_int_eq(time_parse_iso("yesterday", &ns), -1);
    ck_assert_int_eq(time_parse_iso("2625-01-01T00:00:00Z", &ns), -1); /* past int64 ns */
    char out[40];
    time_format_iso(1772460307120000000LL, out, sizeof(out));
    ck_assert_str_eq(out, "2026-03-02T14:05:07.120Z");
    ck_assert_int_eq(time_parse_duration("5m", &ns), 0);
    ck_assert(ns == 300000000000LL);
}
END_TEST

START_TEST(test_vset_canonical_sorts_keys_and_last_wins)
{
    char *v = vset_canonical(" prompt=support@7 ; app=1.4.2;model=gpt-4o;app=1.4.3;; ");
    ck_assert_str_eq(v, "app=1.4.3;model=gpt-4o;prompt=support@7");
    free(v);
    ck_assert_ptr_null(vset_canonical(" ; ; "));
}
END_TEST

START_TEST(test_vset_derive_uses_service_model_params_prompt)
{
    struct span s;
    span_init(&s);
    ck_assert_ptr_null(vset_derive(&s));
    s.service_version = xstrdup("2.3.1");
    s.model = xstrdup("gpt-4o-mini");
    s.response_model = xstrdup("gpt-4o-mini-2024-07-18");
    s.params = xstrdup("{\"temperature\":0.2,\"max_tokens\":256}");
    s.prompt_name = xstrdup("support");
    s.prompt_version = 7;
    char *v = vset_derive(&s);
    char h1[9], h2[9];
    ck_assert_int_eq(vset_params_hash("{\"max_tokens\":256,\"temperature\":0.2}", h2), 0);
    ck_assert_int_eq(vset_params_hash(s.params, h1), 0);
    ck_assert_str_eq(h1, h2); /* key order does not matter */
    char want[160];
    snprintf(want, sizeof(want),
             "app=2.3.1;model=gpt-4o-mini-2024-07-18;params=%s;prompt=support@7", h1);
    ck_assert_str_eq(v, want);
    free(v);
    span_release(&s);
}
END_TEST

START_TEST(test_span_names_round_trip_and_release_resets)
{
    for (int k = 0; k < SPAN_KIND_COUNT; k++)
        ck_assert_int_eq(span_kind_parse(span_kind_name((enum span_kind)k)), k);
    for (int k = 0; k < SPAN_STATUS_COUNT; k++)
        ck_assert_int_eq(span_status_parse(span_status_name((enum span_status)k)), k);
    ck_assert_int_eq(span_kind_parse("LLM"), -1);
    struct span s;
    span_init(&s);
    s.model = xstrdup("m");
    s.usage.input_tokens = 5;
    span_release(&s);
    ck_assert_ptr_null(s.model);
    ck_assert(s.usage.input_tokens == -1);
    ck_assert(isnan(s.ttft_ms));
    ck_assert(span_usd_to_nusd(5.4e-05) == 54000);
}
END_TEST

START_TEST(test_err_json_is_the_taxonomy_shape)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(lt_err_json(&b, LT_UNAVAILABLE, "queue \"full\""), BUF_OK);
    ck_assert_str_eq(buf_str(&b),
                     "{\"error\":{\"code\":\"UNAVAILABLE\",\"type\":\"overloaded_error\","
                     "\"message\":\"queue \\\"full\\\"\",\"retryable\":true}}");
    ck_assert_int_eq(lt_err_http(LT_UNSUPPORTED_MEDIA_TYPE), 415);
    ck_assert_int_eq(lt_err_http(LT_PAYLOAD_TOO_LARGE), 413);
    buf_release(&b);
}
END_TEST

START_TEST(test_ingest_batch_grows_and_releases_everything)
{
    struct ingest_batch b;
    ingest_batch_init(&b);
    for (int i = 0; i < 100; i++) {
        struct rec_span *r = ingest_add_span(&b);
        r->span.model = xstrdup("m");
        r->dedup_key = xstrdup("k");
    }
    struct rec_logmsg *m = ingest_add_logmsg(&b);
    m->message = xstrdup("{}");
    struct rec_score *sc = ingest_add_score(&b);
    sc->name = xstrdup("n");
    ck_assert_uint_eq(ingest_count(&b), 102);
    ingest_batch_release(&b);
    ck_assert_uint_eq(ingest_count(&b), 0);
}
END_TEST

START_TEST(test_varints_round_trip_and_refuse_what_is_not_one)
{
    const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, 1ull << 63, UINT64_MAX};
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        buf_reset(&b);
        ck_assert_int_eq(varint_put(&b, vals[i]), 0);
        ck_assert_uint_eq(b.len, varint_len(vals[i]));
        const unsigned char *p = (const unsigned char *)b.data, *end = p + b.len;
        uint64_t v = 0;
        ck_assert_int_eq(varint_get(&p, end, &v), 0);
        ck_assert(v == vals[i] && p == end);
        for (size_t cut = 0; cut < b.len; cut++) { /* every truncation is refused */
            p = (const unsigned char *)b.data;
            ck_assert_int_eq(varint_get(&p, (const unsigned char *)b.data + cut, &v), -1);
        }
    }
    ck_assert_uint_eq(varint_len(UINT64_MAX), VARINT_MAX);
    static const unsigned char too_big[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0x02}; /* 65 bits */
    static const unsigned char too_long[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                             0x80, 0x80, 0x80, 0x80, 0x00};
    const unsigned char *p = too_big;
    uint64_t v = 0;
    ck_assert_int_eq(varint_get(&p, too_big + sizeof(too_big), &v), -1);
    p = too_long;
    ck_assert_int_eq(varint_get(&p, too_long + sizeof(too_long), &v), -1);
    buf_release(&b);
    struct buf small;
    buf_init(&small, 2);
    ck_assert_int_eq(varint_put(&small, UINT64_MAX), -1); /* the ceiling holds */
    buf_release(&small);
}
END_TEST

START_TEST(test_sha256_matches_the_standard_vectors)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char hex[2 * SHA256_LEN + 1];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        sha256_hex(v[i].in, strlen(v[i].in), hex);
        ck_assert_str_eq(hex, v[i].hex);
    }
    /* one million 'a' (FIPS 180-2 appendix B.3): many blocks */
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    sha256_hex(m, 1000000, hex);
    free(m);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 55 and 56 bytes: the padding fits in one block, then needs two */
    char a55[56], a56[57];
    memset(a55, 'a', 55), a55[55] = '\0';
    memset(a56, 'a', 56), a56[56] = '\0';
    sha256_hex(a55, 55, hex);
    ck_assert_str_eq(hex, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    sha256_hex(a56, 56, hex);
    ck_assert_str_eq(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
}
END_TEST

/* RFC 4231 section 4: the HMAC-SHA-256 results of its seven test cases
 * (case 5 is truncated to 128 bits: the first 32 hex digits). */
START_TEST(test_sha256_hmac_matches_rfc_4231)
{
    uint8_t k20[20], kaa20[20], dd50[50], k25[25], cd50[50], k0c[20], kaa131[131];
    memset(k20, 0x0b, sizeof(k20));
    memset(kaa20, 0xaa, sizeof(kaa20));
    memset(dd50, 0xdd, sizeof(dd50));
    for (int i = 0; i < 25; i++)
        k25[i] = (uint8_t)(i + 1);
    memset(cd50, 0xcd, sizeof(cd50));
    memset(k0c, 0x0c, sizeof(k0c));
    memset(kaa131, 0xaa, sizeof(kaa131));
    static const char big[] = "This is a test using a larger than block-size key and a larger "
                              "than block-size data. The key needs to be hashed before being "
                              "used by the HMAC algorithm.";
    const struct {
        const void *key;
        size_t keylen;
        const void *data;
        size_t len;
        const char *hex;
    } v[] = {
        {k20, 20, "Hi There", 8,
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"Jefe", 4, "what do ya want for nothing?", 28,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {kaa20, 20, dd50, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {k25, 25, cd50, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {k0c, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b"},
        {kaa131, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {kaa131, 131, big, sizeof(big) - 1,
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    char hex[2 * SHA256_LEN + 1];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        sha256_hmac_hex(v[i].key, v[i].keylen, v[i].data, v[i].len, hex);
        ck_assert_msg(strncmp(hex, v[i].hex, strlen(v[i].hex)) == 0, "case %zu: %s", i + 1, hex);
    }
    uint8_t raw[SHA256_LEN];
    sha256_hmac("Jefe", 4, "what do ya want for nothing?", 28, raw);
    ck_assert_int_eq(raw[0], 0x5b);
    ck_assert_int_eq(raw[31], 0x43);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_buf_refuses_growth_past_its_ceiling);
    tcase_add_test(tc, test_buf_read_stream_reads_to_the_end_or_its_ceiling);
    tcase_add_test(tc, test_buf_json_escapes_quotes_controls_and_keeps_utf8);
    tcase_add_test(tc, test_ids_normalize_accepts_hex_base64_uuid_and_rejects_zero);
    tcase_add_test(tc, test_ids_random_and_derive_are_hex_and_stable);
    tcase_add_test(tc, test_jsonx_rejects_deep_nesting_before_cjson_recurses);
    tcase_add_test(tc, test_jsonx_int64_is_exact_from_strings);
    tcase_add_test(tc, test_time_parse_iso_handles_fractions_and_offsets);
    tcase_add_test(tc, test_vset_canonical_sorts_keys_and_last_wins);
    tcase_add_test(tc, test_vset_derive_uses_service_model_params_prompt);
    tcase_add_test(tc, test_span_names_round_trip_and_release_resets);
    tcase_add_test(tc, test_err_json_is_the_taxonomy_shape);
    tcase_add_test(tc, test_ingest_batch_grows_and_releases_everything);
    tcase_add_test(tc, test_varints_round_trip_and_refuse_what_is_not_one);
    tcase_add_test(tc, test_sha256_matches_the_standard_vectors);
    tcase_add_test(tc, test_sha256_hmac_matches_rfc_4231);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
