/*
 * gunzip: the streaming decoder gives the same bytes however the input is
 * split, stops a gzip bomb at the cap, and rejects corrupt or truncated data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "collector/gunzip.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"

/* gzip 'n' bytes of 'p' (one member); caller frees. */
static unsigned char *gz(const void *p, size_t n, size_t *outlen)
{
    z_stream s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&s, (uLong)n) + 64;
    unsigned char *out = xmalloc(cap);
    s.next_in = (unsigned char *)(uintptr_t)p;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
    *outlen = cap - s.avail_out;
    deflateEnd(&s);
    return out;
}

static char *payload(size_t *len)
{
    char *p = tu_read_file(tu_shared("payloads/otlp-genai-span.json"), len);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_gunzip_same_output_for_every_split_offset)
{
    size_t plen, zlen;
    char *plain = payload(&plen);
    unsigned char *z = gz(plain, plen, &zlen);
    for (size_t cut = 0; cut <= zlen; cut++) {
        struct buf out;
        buf_init(&out, 1 << 20);
        struct gunzip *g = gunzip_new(&out);
        ck_assert_int_eq(gunzip_feed(g, z, cut), GUNZIP_OK);
        ck_assert_int_eq(gunzip_feed(g, z + cut, zlen - cut), GUNZIP_OK);
        ck_assert_int_eq(gunzip_finish(g), GUNZIP_OK);
        ck_assert_uint_eq(out.len, plen);
        ck_assert(memcmp(out.data, plain, plen) == 0);
        gunzip_free(g);
        buf_release(&out);
    }
    free(z);
    free(plain);
}
END_TEST

START_TEST(test_gunzip_byte_by_byte_and_concatenated_members)
{
    size_t plen, zlen;
    char *plain = payload(&plen);
    unsigned char *z = gz(plain, plen, &zlen);
    struct buf out;
    buf_init(&out, 1 << 20);
    struct gunzip *g = gunzip_new(&out);
    for (int member = 0; member < 2; member++)
        for (size_t i = 0; i < zlen; i++)
            ck_assert_int_eq(gunzip_feed(g, z + i, 1), GUNZIP_OK);
    ck_assert_int_eq(gunzip_finish(g), GUNZIP_OK);
    ck_assert_uint_eq(out.len, 2 * plen);
    ck_assert(memcmp(out.data + plen, plain, plen) == 0);
    gunzip_free(g);
    buf_release(&out);
    free(z);
    free(plain);
}
END_TEST

START_TEST(test_gunzip_bomb_stops_at_the_cap)
{
    size_t n = 100u << 20, zlen;
    char *zeros = xcalloc(1, n);
    unsigned char *z = gz(zeros, n, &zlen);
    free(zeros);
    ck_assert_uint_lt(zlen, 1u << 20); /* a 100 MiB bomb in well under 1 MiB */
    struct buf out;
    buf_init(&out, 64u << 20);
    struct gunzip *g = gunzip_new(&out);
    ck_assert_int_eq(gunzip_feed(g, z, zlen), GUNZIP_TOOBIG);
    ck_assert_uint_le(out.len, 64u << 20);
    ck_assert_int_eq(gunzip_finish(g), GUNZIP_TOOBIG);
    gunzip_free(g);
    buf_release(&out);
    free(z);
}
END_TEST

START_TEST(test_gunzip_rejects_truncated_corrupt_and_empty)
{
    size_t plen, zlen;
    char *plain = payload(&plen);
    unsigned char *z = gz(plain, plen, &zlen);
    for (size_t cut = 1; cut < zlen; cut += 7) { /* every truncation fails cleanly */
        struct buf out;
        buf_init(&out, 1 << 20);
        struct gunzip *g = gunzip_new(&out);
        int rc = gunzip_feed(g, z, cut);
        if (rc == GUNZIP_OK)
            rc = gunzip_finish(g);
        ck_assert_int_eq(rc, GUNZIP_BAD);
        gunzip_free(g);
        buf_release(&out);
    }
    struct buf out;
    buf_init(&out, 1 << 20);
    struct gunzip *g = gunzip_new(&out);
    ck_assert_int_eq(gunzip_feed(g, "{\"not\":\"gzip\"}", 14), GUNZIP_BAD);
    gunzip_free(g);
    g = gunzip_new(&out);
    ck_assert_int_eq(gunzip_finish(g), GUNZIP_BAD);
    gunzip_free(g);
    buf_release(&out);
    free(z);
    free(plain);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gunzip");
    TCase *tc = tcase_create("gunzip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gunzip_same_output_for_every_split_offset);
    tcase_add_test(tc, test_gunzip_byte_by_byte_and_concatenated_members);
    tcase_add_test(tc, test_gunzip_bomb_stops_at_the_cap);
    tcase_add_test(tc, test_gunzip_rejects_truncated_corrupt_and_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
