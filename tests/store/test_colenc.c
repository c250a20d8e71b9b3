/*
 * colenc: every column type reads back exactly (NULLs anywhere, empty and
 * all-NULL columns, extremes, NaN bits, embedded NUL bytes), timestamps and
 * low-cardinality text compress to what the segment format promises,
 * SQLite values convert as SQLite converts them, and corrupt or truncated
 * columns are refused without reading out of bounds.
 */
#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/xmem.h"
#include "store/colenc.h"
#include "core/varint.h"
#include "tests/support/testutil.h"

#define LEVEL 3

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64: the same "random" rows on every run. */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Finish 'w' into a fresh 'frame' (caller releases). */
static void finish_into(struct colenc_writer *w, struct buf *frame)
{
    buf_init(frame, 0);
    ck_assert_int_eq(colenc_finish(w, LEVEL, frame), 0);
    ck_assert_uint_gt(frame->len, 0);
}

static struct colenc_column *decode_ok(const void *p, size_t len)
{
    struct colenc_column *c = NULL;
    char err[128] = "";
    int rc = colenc_decode(p, len, &c, err, sizeof(err));
    ck_assert_msg(rc == 0, "decode failed: %s", err);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Finish 'w' and decode what it wrote (caller frees the column). */
static struct colenc_column *roundtrip(struct colenc_writer *w)
{
    struct buf frame;
    finish_into(w, &frame);
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    buf_release(&frame);
    return c;
}

/* The uncompressed column inside 'frame' (caller frees). */
static unsigned char *raw_of(const struct buf *frame, size_t *len)
{
    unsigned long long size = ZSTD_getFrameContentSize(frame->data, frame->len);
    ck_assert(size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN);
    unsigned char *raw = xmalloc((size_t)size);
    ck_assert_uint_eq(ZSTD_decompress(raw, (size_t)size, frame->data, frame->len), size);
    *len = (size_t)size;
    return raw;
}

/* The encoding byte of the column inside 'frame'. */
static int enc_of(const struct buf *frame)
{
    size_t len = 0;
    unsigned char *raw = raw_of(frame, &len);
    int enc = raw[0];
    free(raw);
    return enc;
}

/* 'raw' compressed as colenc_finish would, into a fresh 'frame'. */
static void frame_of(const void *raw, size_t len, struct buf *frame)
{
    size_t cap = ZSTD_compressBound(len);
    buf_init(frame, 0);
    ck_assert_int_eq(buf_reserve(frame, cap), 0);
    size_t n = ZSTD_compress(frame->data, cap, raw, len, LEVEL);
    ck_assert(!ZSTD_isError(n));
    frame->len = n;
}

/* Decode the hand-made column 'raw'; returns colenc_decode's result, and
 * checks that a failure leaves no column and says why. */
static int decode_raw(const void *raw, size_t len)
{
    struct buf frame;
    struct colenc_column *c = NULL;
    char err[128] = "";
    frame_of(raw, len, &frame);
    int rc = colenc_decode(frame.data, frame.len, &c, err, sizeof(err));
    if (rc != 0) {
        ck_assert_ptr_null(c);
        ck_assert_uint_gt(strlen(err), 0);
    }
    colenc_column_free(c);
    buf_release(&frame);
    return rc;
}

START_TEST(test_ints_roundtrip_with_nulls_and_extremes)
{
    static const int64_t cycle[] = {INT64_MIN, INT64_MAX, 0, -1};
    enum { N = 70 };
    int64_t want[N];
    int null[N];
    struct colenc_writer *w = colenc_writer_new(COLENC_INT);
    for (int i = 0; i < N; i++) {
        null[i] = i < 2 || i == 33 || i == 34 || i >= N - 2;
        want[i] = null[i] ? 0 : cycle[i % 4];
        if (null[i])
            colenc_put_null(w);
        else
            colenc_put_int(w, want[i]);
    }
    ck_assert_uint_eq(colenc_writer_rows(w), N);
    struct colenc_column *c = roundtrip(w);
    ck_assert_uint_eq(colenc_writer_rows(w), 0);
    ck_assert_uint_eq(colenc_rows(c), N);
    ck_assert_int_eq(colenc_col_type(c), COLENC_INT);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(colenc_is_null(c, i), null[i]);
        ck_assert(colenc_int(c, i) == want[i]);
    }
    colenc_column_free(c);
    colenc_writer_free(w);
}
END_TEST

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

START_TEST(test_reals_roundtrip_bit_exact_with_nulls)
{
    const double vals[] = {-0.0,
                           0.0,
                           INFINITY,
                           -INFINITY,
                           from_bits(0x7ff800000000beefu), /* NaN with a payload */
                           from_bits(0xfff8000000000001u), /* negative NaN */
                           DBL_MIN,
                           DBL_MIN / 4, /* denormal */
                           DBL_TRUE_MIN,
                           DBL_MAX,
                           -DBL_MAX,
                           1.0 / 3};
    const size_t nv = sizeof(vals) / sizeof(vals[0]);
    struct colenc_writer *w = colenc_writer_new(COLENC_REAL);
    colenc_put_null(w);
    for (size_t i = 0; i < nv; i++) {
        colenc_put_real(w, vals[i]);
        if (i == nv / 2)
            colenc_put_null(w);
    }
    colenc_put_null(w);
    struct colenc_column *c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), nv + 3);
    ck_assert_int_eq(colenc_col_type(c), COLENC_REAL);
    ck_assert(colenc_is_null(c, 0) && colenc_is_null(c, nv / 2 + 2) && colenc_is_null(c, nv + 2));
    ck_assert(colenc_real(c, 0) == 0.0);
    size_t row = 1;
    for (size_t i = 0; i < nv; i++, row++) {
        double got = colenc_real(c, row);
        ck_assert(!colenc_is_null(c, row));
        ck_assert_msg(memcmp(&got, &vals[i], sizeof(got)) == 0, "value %zu changed bits", i);
        if (i == nv / 2)
            row++;
    }
    colenc_column_free(c);
    colenc_writer_free(w);
}
END_TEST

/* The 'n' reals 'vals' (a NaN stands for a NULL row) through a column:
 * it comes back bit-exact, and encoded as 'enc'. */
static void check_reals_as(const double *vals, size_t n, int enc)
{
    struct colenc_writer *w = colenc_writer_new(COLENC_REAL);
    for (size_t i = 0; i < n; i++) {
        if (isnan(vals[i]))
            colenc_put_null(w);
        else
            colenc_put_real(w, vals[i]);
    }
    struct buf frame;
    finish_into(w, &frame);
    ck_assert_int_eq(enc_of(&frame), enc);
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    ck_assert_uint_eq(colenc_rows(c), n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(colenc_is_null(c, i), isnan(vals[i]));
        double got = colenc_real(c, i);
        if (!isnan(vals[i]))
            ck_assert_msg(memcmp(&got, &vals[i], sizeof(got)) == 0, "row %zu: %.17g for %.17g",
                          i, got, vals[i]);
    }
    colenc_column_free(c);
    buf_release(&frame);
    colenc_writer_free(w);
}

/* Counts that go up and down compress better as they are ('J') than as
 * deltas; a clock that only goes up stays 'I'. Both keep extremes. */
START_TEST(test_counts_roundtrip_as_J_and_clocks_as_I)
{
    for (int clock = 0; clock < 2; clock++) {
        struct colenc_writer *w = colenc_writer_new(COLENC_INT);
        int64_t vals[3000];
        int64_t t = 1772409614165001906;
        for (int i = 0; i < 3000; i++) {
            t += (int64_t)(rng() % 1000);
            vals[i] = clock ? t : (int64_t)(rng() % 2000);
        }
        vals[10] = INT64_MIN;
        vals[11] = INT64_MAX;
        for (int i = 0; i < 3000; i++) {
            if (i % 9 == 4)
                colenc_put_null(w);
            else
                colenc_put_int(w, vals[i]);
        }
        struct buf frame;
        finish_into(w, &frame);
        ck_assert_int_eq(enc_of(&frame), clock ? 'I' : 'J');
        struct colenc_column *c = decode_ok(frame.data, frame.len);
        for (int i = 0; i < 3000; i++) {
            ck_assert_int_eq(colenc_is_null(c, (size_t)i), i % 9 == 4);
            if (i % 9 != 4)
                ck_assert(colenc_int(c, (size_t)i) == vals[i]);
        }
        colenc_column_free(c);
        buf_release(&frame);
        colenc_writer_free(w);
    }
}
END_TEST

START_TEST(test_decimal_reals_roundtrip_as_F)
{
    /* latencies of one decimal, as SDKs report them, with NULL rows */
    double ttft[2000];
    for (size_t i = 0; i < 2000; i++)
        ttft[i] = i % 7 == 3 ? NAN : (double)(rng() % 90000) / 10;
    check_reals_as(ttft, 2000, 'F');
    /* every value needs the exponent of the finest one, 9 digits at most */
    static const double mixed[] = {4033.3,      0.125,     -12.5, 0,           1e6,
                                   -0.000000001, 123456.789, 2.5,   9007199.254740991};
    check_reals_as(mixed, sizeof(mixed) / sizeof(mixed[0]), 'F');
    /* one value no decimal of 9 digits spells keeps the column 'R' */
    static const double third[] = {1.5, 2.25, 1.0 / 3};
    check_reals_as(third, 3, 'R');
    static const double sum[] = {0.5, 0.1 + 0.2};
    check_reals_as(sum, 2, 'R');
    static const double negzero[] = {1.5, -0.0};
    check_reals_as(negzero, 2, 'R');
    static const double big[] = {1.5, 9007199254740992.0};
    check_reals_as(big, 2, 'R');
    static const double inf[] = {1.5, INFINITY};
    check_reals_as(inf, 2, 'R');
    static const double tiny[] = {1.5, 1e-10};
    check_reals_as(tiny, 2, 'R');
}
END_TEST

/* Row 'i' of 'c' is the 'n' bytes 'want', NUL-terminated. */
static void assert_bytes(const struct colenc_column *c, size_t i, const void *want, size_t n)
{
    size_t len = 12345;
    const char *p = colenc_bytes(c, i, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, n);
    ck_assert(n == 0 || memcmp(p, want, n) == 0);
    ck_assert_int_eq(p[len], '\0');
}

/* A refs blob (store/texts.h): 'A', a count, the ids. */
static size_t refs_blob(unsigned char *out, const uint64_t *ids, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_putc(&b, 'A'), 0);
    ck_assert_int_eq(varint_put(&b, n), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(varint_put(&b, ids[i]), 0);
    memcpy(out, b.data, b.len);
    size_t len = b.len;
    buf_release(&b);
    return len;
}

/* Conversations resending their history, as refs blobs: a BLOB column of
 * varint lists is written 'v' and reads back byte for byte, whole or a
 * selection of rows; one blob that is no such list keeps it out. */
START_TEST(test_lists_of_text_ids_roundtrip_as_v)
{
    enum { N = 1500 };
    static unsigned char blobs[N][200];
    static size_t lens[N];
    uint64_t hist[8][20], next = 1000;
    size_t nhist[8] = {0};
    for (int i = 0; i < N; i++) {
        int conv = (int)(rng() % 8);
        if (nhist[conv] >= 18)
            nhist[conv] = 0; /* a new conversation */
        hist[conv][nhist[conv]++] = next++; /* the new turn's text */
        lens[i] = i == 7 ? 0 : refs_blob(blobs[i], hist[conv], nhist[conv]);
    }
    static const uint64_t extremes[] = {0, 1, UINT64_MAX >> 1, 5};
    lens[9] = refs_blob(blobs[9], extremes, 4);
    for (int bad = 0; bad < 2; bad++) {
        struct colenc_writer *w = colenc_writer_new(COLENC_BLOB);
        for (int i = 0; i < N; i++) {
            if (i == 7)
                colenc_put_null(w);
            else if (bad && i == 100) /* a count of 1 in two bytes */
                colenc_put_bytes(w, (const unsigned char[]){'A', 0x81, 0x00, 5}, 4);
            else
                colenc_put_bytes(w, blobs[i], lens[i]);
        }
        struct buf frame;
        finish_into(w, &frame);
        if (bad)
            ck_assert_int_ne(enc_of(&frame), 'v');
        else
            ck_assert_int_eq(enc_of(&frame), 'v');
        struct colenc_column *c = decode_ok(frame.data, frame.len);
        for (int i = 0; i < N; i++) {
            if (i == 7)
                ck_assert(colenc_is_null(c, (size_t)i));
            else if (!(bad && i == 100))
                assert_bytes(c, (size_t)i, blobs[i], lens[i]);
        }
        colenc_column_free(c);
        if (!bad) { /* every third row */
            static unsigned char want[N / 8 + 1];
            memset(want, 0, sizeof(want));
            for (int i = 0; i < N; i += 3)
                want[i / 8] |= (unsigned char)(1u << (i % 8));
            char err[128] = "";
            ck_assert_int_eq(colenc_decode_rows(NULL, frame.data, frame.len, NULL, want, N, &c,
                                                err, sizeof(err)),
                             0);
            for (int i = 0; i < N; i++) {
                if (i % 3 || i == 7)
                    ck_assert(colenc_is_null(c, (size_t)i));
                else
                    assert_bytes(c, (size_t)i, blobs[i], lens[i]);
            }
            colenc_column_free(c);
        }
        buf_release(&frame);
        colenc_writer_free(w);
    }
}
END_TEST

static void assert_null_bytes(const struct colenc_column *c, size_t i)
{
    size_t len = 12345;
    ck_assert(colenc_is_null(c, i));
    ck_assert_ptr_null(colenc_bytes(c, i, &len));
    ck_assert_uint_eq(len, 0);
}

START_TEST(test_text_roundtrip_with_nulls_and_empty_strings)
{
    char *longtext = xmalloc(1001);
    for (int i = 0; i < 1000; i++)
        longtext[i] = (char)('a' + i % 26);
    longtext[1000] = '\0';
    const char *vals[] = {NULL,
                          "",
                          "hello",
                          NULL,
                          "h\xc3\xa9llo \xc3\xbcnic\xc3\xb6"
                          "de",
                          longtext,
                          "hello",
                          "",
                          NULL};
    const size_t nv = sizeof(vals) / sizeof(vals[0]);
    struct colenc_writer *w = colenc_writer_new(COLENC_TEXT);
    for (size_t i = 0; i < nv; i++) {
        if (vals[i])
            colenc_put_bytes(w, vals[i], strlen(vals[i]));
        else
            colenc_put_null(w);
    }
    struct colenc_column *c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), nv);
    ck_assert_int_eq(colenc_col_type(c), COLENC_TEXT);
    for (size_t i = 0; i < nv; i++) {
        if (!vals[i]) {
            assert_null_bytes(c, i);
            continue;
        }
        ck_assert(!colenc_is_null(c, i));
        assert_bytes(c, i, vals[i], strlen(vals[i]));
        ck_assert_str_eq(colenc_bytes(c, i, NULL), vals[i]); /* a C string */
    }
    colenc_column_free(c);
    colenc_writer_free(w);
    free(longtext);
}
END_TEST

START_TEST(test_blobs_keep_embedded_nul_bytes_and_empty_values)
{
    static const unsigned char a[] = {0, 1, 0, 2}, b[] = {0xff, 0, 0};
    struct colenc_writer *w = colenc_writer_new(COLENC_BLOB);
    for (int pass = 0; pass < 2; pass++) { /* repeats, so a dictionary would pay */
        colenc_put_bytes(w, a, sizeof(a));
        colenc_put_bytes(w, NULL, 0);
        colenc_put_bytes(w, "", 0);
        colenc_put_null(w);
        colenc_put_bytes(w, b, sizeof(b));
    }
    struct buf frame;
    finish_into(w, &frame);
    size_t rawlen;
    unsigned char *raw = raw_of(&frame, &rawlen);
    ck_assert(raw[0] == 'd' || raw[0] == 's'); /* the blob variants of 'D' and 'S' */
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    ck_assert_int_eq(colenc_col_type(c), COLENC_BLOB);
    ck_assert_uint_eq(colenc_rows(c), 10);
    for (size_t base = 0; base < 10; base += 5) {
        assert_bytes(c, base, a, sizeof(a));
        ck_assert(!colenc_is_null(c, base + 1) && !colenc_is_null(c, base + 2));
        assert_bytes(c, base + 1, "", 0);
        assert_bytes(c, base + 2, "", 0);
        assert_null_bytes(c, base + 3);
        assert_bytes(c, base + 4, b, sizeof(b));
    }
    colenc_column_free(c);
    free(raw);
    buf_release(&frame);
    colenc_writer_free(w);
}
END_TEST

static const enum colenc_type all_types[] = {COLENC_INT, COLENC_REAL, COLENC_TEXT, COLENC_BLOB};

START_TEST(test_all_null_columns_roundtrip_for_every_type)
{
    for (int t = 0; t < 4; t++) {
        struct colenc_writer *w = colenc_writer_new(all_types[t]);
        for (int i = 0; i < 100; i++)
            colenc_put_null(w);
        struct colenc_column *c = roundtrip(w);
        ck_assert_int_eq(colenc_col_type(c), all_types[t]);
        ck_assert_uint_eq(colenc_rows(c), 100);
        for (size_t i = 0; i < 100; i++)
            ck_assert(colenc_is_null(c, i));
        colenc_column_free(c);
        colenc_writer_free(w);
    }
}
END_TEST

START_TEST(test_empty_columns_have_zero_rows)
{
    for (int t = 0; t < 4; t++) {
        struct colenc_writer *w = colenc_writer_new(all_types[t]);
        ck_assert_uint_eq(colenc_writer_rows(w), 0);
        struct colenc_column *c = roundtrip(w);
        ck_assert_int_eq(colenc_col_type(c), all_types[t]);
        ck_assert_uint_eq(colenc_rows(c), 0);
        colenc_column_free(c);
        colenc_writer_free(w);
    }
}
END_TEST

START_TEST(test_single_row_columns_roundtrip)
{
    struct colenc_writer *w = colenc_writer_new(COLENC_INT);
    colenc_put_int(w, -123456789);
    struct colenc_column *c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), 1);
    ck_assert(colenc_int(c, 0) == -123456789);
    colenc_column_free(c);
    colenc_put_null(w);
    c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), 1);
    ck_assert(colenc_is_null(c, 0) && colenc_int(c, 0) == 0);
    colenc_column_free(c);
    colenc_writer_free(w);

    w = colenc_writer_new(COLENC_REAL);
    colenc_put_real(w, 2.5);
    c = roundtrip(w);
    ck_assert(colenc_real(c, 0) == 2.5);
    colenc_column_free(c);
    colenc_writer_free(w);

    w = colenc_writer_new(COLENC_TEXT);
    colenc_put_bytes(w, "gpt-4o", 6);
    c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), 1);
    assert_bytes(c, 0, "gpt-4o", 6);
    colenc_column_free(c);
    colenc_writer_free(w);
}
END_TEST

START_TEST(test_timestamps_compress_under_two_bytes_per_row)
{
    enum { N = 8192 };
    int64_t *want = xmalloc(N * sizeof(*want));
    int64_t t = INT64_C(1700000000000000000);
    struct colenc_writer *w = colenc_writer_new(COLENC_INT);
    for (int i = 0; i < N; i++) {
        t += 1000000 + (int64_t)(rng() % 1000); /* ~1 ms apart, jittered */
        want[i] = t;
        colenc_put_int(w, t);
    }
    struct buf frame;
    finish_into(w, &frame);
    ck_assert_msg(frame.len < 2 * N, "%zu bytes for %d timestamps", frame.len, N);
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    ck_assert_uint_eq(colenc_rows(c), N);
    for (int i = 0; i < N; i++)
        ck_assert(colenc_int(c, i) == want[i]);
    colenc_column_free(c);
    buf_release(&frame);

    for (int i = 0; i < N; i++) /* exactly periodic: all but free */
        colenc_put_int(w, INT64_C(1700000000000000000) + (int64_t)i * 1000000);
    finish_into(w, &frame);
    ck_assert_msg(frame.len < N / 16, "%zu bytes for %d periodic timestamps", frame.len, N);
    buf_release(&frame);
    colenc_writer_free(w);
    free(want);
}
END_TEST

START_TEST(test_low_cardinality_text_is_a_small_dictionary)
{
    static const char *models[] = {"gpt-4o",         "gpt-4o-mini",           "claude-3-5-sonnet",
                                   "claude-3-haiku", "gemini-1.5-pro",        "llama-3.1-70b",
                                   "mistral-large",  "text-embedding-3-small"};
    enum { N = 8192 };
    unsigned char *pick = xmalloc(N);
    struct colenc_writer *w = colenc_writer_new(COLENC_TEXT);
    for (int i = 0; i < N; i++) {
        pick[i] = (unsigned char)(rng() % 8);
        colenc_put_bytes(w, models[pick[i]], strlen(models[pick[i]]));
    }
    struct buf frame;
    finish_into(w, &frame);
    size_t rawlen;
    unsigned char *raw = raw_of(&frame, &rawlen);
    ck_assert_int_eq(raw[0], 'D');
    ck_assert_msg(frame.len < 4096, "%zu bytes for %d model names", frame.len, N);
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    ck_assert_uint_eq(colenc_rows(c), N);
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(colenc_bytes(c, i, NULL), models[pick[i]]);
    colenc_column_free(c);
    free(raw);
    buf_release(&frame);
    colenc_writer_free(w);
    free(pick);
}
END_TEST

static void random_hex(char *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        id[i] = "0123456789abcdef"[rng() % 16];
    id[n] = '\0';
}

/* Random lowercase hex ids (span ids) are stored as their bytes: 'X'. */
START_TEST(test_high_cardinality_text_is_plain_and_roundtrips)
{
    enum { N = 4096, IDLEN = 32 };
    char *ids = xmalloc(N * (IDLEN + 1));
    struct colenc_writer *w = colenc_writer_new(COLENC_TEXT);
    for (int i = 0; i < N; i++) {
        random_hex(ids + i * (IDLEN + 1), IDLEN);
        if (i % 97 == 5)
            colenc_put_null(w);
        else
            colenc_put_bytes(w, ids + i * (IDLEN + 1), IDLEN);
    }
    struct buf frame;
    finish_into(w, &frame);
    size_t rawlen;
    unsigned char *raw = raw_of(&frame, &rawlen);
    ck_assert_int_eq(raw[0], 'X');
    ck_assert_uint_lt(rawlen, N * (IDLEN / 2 + 1) + N / 8 + 16); /* half of the hex */
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    ck_assert_uint_eq(colenc_rows(c), N);
    for (int i = 0; i < N; i++) {
        if (i % 97 == 5)
            assert_null_bytes(c, i);
        else
            assert_bytes(c, i, ids + i * (IDLEN + 1), IDLEN);
    }
    colenc_column_free(c);
    free(raw);
    buf_release(&frame);
    colenc_writer_free(w);
    free(ids);
}
END_TEST

/* Hex ids repeated (trace ids) are a dictionary of bytes, 'Y'; a value that
 * is not lowercase hex of even length keeps the column out of it, and every
 * value comes back byte for byte either way. */
START_TEST(test_hex_columns_are_bytes_and_anything_else_stays_text)
{
    static const char *const hexy[] = {"0a1b2c3d4e5f6789", "", "ff00", "0a1b2c3d4e5f6789", "ff00"};
    static const char *const odd[][2] = {
        {"ABCD", "upper case"}, {"abc", "odd length"}, {"12g4", "not hex"}};
    struct colenc_writer *w = colenc_writer_new(COLENC_TEXT);
    for (int r = 0; r < 200; r++) {
        if (r % 7 == 3)
            colenc_put_null(w);
        else
            colenc_put_bytes(w, hexy[r % 5], strlen(hexy[r % 5]));
    }
    struct buf frame;
    finish_into(w, &frame);
    size_t rawlen;
    unsigned char *raw = raw_of(&frame, &rawlen);
    ck_assert_int_eq(raw[0], 'Y');
    free(raw);
    struct colenc_column *c = decode_ok(frame.data, frame.len);
    buf_release(&frame);
    for (int r = 0; r < 200; r++) {
        if (r % 7 == 3)
            assert_null_bytes(c, r);
        else
            assert_bytes(c, r, hexy[r % 5], strlen(hexy[r % 5]));
    }
    colenc_column_free(c);
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
        for (int r = 0; r < 50; r++)
            colenc_put_bytes(w, r == 17 ? odd[k][0] : hexy[r % 5],
                             strlen(r == 17 ? odd[k][0] : hexy[r % 5]));
        finish_into(w, &frame);
        raw = raw_of(&frame, &rawlen);
        ck_assert_msg(raw[0] == 'D' || raw[0] == 'S', "%s: encoded '%c'", odd[k][1], raw[0]);
        free(raw);
        c = decode_ok(frame.data, frame.len);
        buf_release(&frame);
        for (int r = 0; r < 50; r++)
            assert_bytes(c, r, r == 17 ? odd[k][0] : hexy[r % 5],
                         strlen(r == 17 ? odd[k][0] : hexy[r % 5]));
        colenc_column_free(c);
    }
    colenc_writer_free(w);
}
END_TEST

#define CONV_SQL "SELECT 42, 1.5, 'txt', x'00ff', NULL, x'', ' 12abc', -7.9"
enum { CONV_COLS = 8 };

/* Every column of CONV_SQL put into a column of 'type'. */
/* Parent span ids as rows of the span id column ('P'): a parent found
 * before or after its child, or its own row, a parent not in the segment
 * (kept as bytes) and NULLs all read back; the column is smaller than
 * without the reference; it does not decode without its reference, nor
 * with a reference out of range; a column that is not hex keeps its
 * usual encoding. */
START_TEST(test_parents_are_rows_of_the_span_ids)
{
    enum { N = 3000 };
    static char spans[N][17], parents[N][17];
    struct colenc_writer *sw = colenc_writer_new(COLENC_TEXT);
    struct colenc_writer *pw = colenc_writer_new(COLENC_TEXT);
    struct colenc_writer *plain = colenc_writer_new(COLENC_TEXT);
    colenc_writer_set_ref(pw, sw);
    for (int i = 0; i < N; i++) {
        random_hex(spans[i], 16);
        colenc_put_bytes(sw, spans[i], 16);
    }
    for (int i = 0; i < N; i++) {
        uint64_t r = rng() % 10;
        if (r < 3) {
            parents[i][0] = '\0'; /* a root: NULL */
            colenc_put_null(pw);
            colenc_put_null(plain);
            continue;
        }
        int j = r < 7 ? i - 1 - (int)(rng() % 40) : r == 7 ? i + 1 + (int)(rng() % 5) : i;
        if (j < 0 || j >= N || r == 9)
            random_hex(parents[i], 16); /* not in this segment */
        else
            memcpy(parents[i], spans[j], 17);
        colenc_put_bytes(pw, parents[i], 16);
        colenc_put_bytes(plain, parents[i], 16);
    }
    struct buf pf, sf, qf;
    finish_into(pw, &pf); /* before its reference, as the segment does */
    finish_into(sw, &sf);
    finish_into(plain, &qf);
    ck_assert_int_eq(enc_of(&pf), 'P');
    ck_assert_uint_lt(pf.len, qf.len / 2);
    struct colenc_column *sc = decode_ok(sf.data, sf.len), *pc = NULL;
    char err[128] = "";
    ck_assert_int_eq(colenc_decode_ref(pf.data, pf.len, sc, &pc, err, sizeof(err)), 0);
    ck_assert_uint_eq(colenc_rows(pc), N);
    for (int i = 0; i < N; i++) {
        if (!parents[i][0])
            assert_null_bytes(pc, i);
        else
            assert_bytes(pc, i, parents[i], 16);
    }
    colenc_column_free(pc);
    pc = NULL;
    ck_assert_int_eq(colenc_decode(pf.data, pf.len, &pc, err, sizeof(err)), -1);
    ck_assert_ptr_null(pc);
    ck_assert_ptr_nonnull(strstr(err, "without the column"));
    /* by hand: 3 rows, row 0 refers to row 5 (past the end) */
    static const unsigned char bad[] = {'P', 3, 0, 11, 1, 1};
    struct buf bf;
    frame_of(bad, sizeof(bad), &bf);
    struct colenc_column *three = NULL;
    struct colenc_writer *tw = colenc_writer_new(COLENC_TEXT);
    for (int i = 0; i < 3; i++)
        colenc_put_bytes(tw, spans[i], 16);
    three = roundtrip(tw);
    ck_assert_int_eq(colenc_decode_ref(bf.data, bf.len, three, &pc, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no value"));
    /* a column that is not hex keeps its encoding even with a reference */
    colenc_put_bytes(tw, "x", 1);
    struct colenc_writer *nw = colenc_writer_new(COLENC_TEXT);
    colenc_writer_set_ref(nw, tw);
    colenc_put_bytes(nw, "not hex", 7);
    struct buf nf;
    finish_into(nw, &nf);
    ck_assert_int_ne(enc_of(&nf), 'P');
    buf_release(&nf);
    buf_release(&bf);
    buf_release(&pf);
    buf_release(&sf);
    buf_release(&qf);
    colenc_column_free(sc);
    colenc_column_free(three);
    colenc_writer_free(sw);
    colenc_writer_free(pw);
    colenc_writer_free(plain);
    colenc_writer_free(tw);
    colenc_writer_free(nw);
}
END_TEST

/* Timestamps as the segment writes them: starts in a window of their own
 * column, ends against the starts. Spans of a trace start and end whole
 * milliseconds apart (a child 7 ms after its parent, the parent's end 2 ms
 * after its last child's), with NULLs on both sides, extremes (INT64_MIN /
 * MAX, differences that wrap) and a duration of 0: every value reads back,
 * both columns are 'W' and smaller than 'I'; the ends do not decode
 * without the starts, nor against a row before the first. */
START_TEST(test_timestamps_are_differences_from_nearby_rows)
{
    enum { N = 4000 };
    static int64_t start[N], end[N];
    static int snull[N], enull[N];
    struct colenc_writer *sw = colenc_writer_new(COLENC_INT);
    struct colenc_writer *ew = colenc_writer_new(COLENC_INT);
    struct colenc_writer *ps = colenc_writer_new(COLENC_INT); /* plain 'I' */
    struct colenc_writer *pe = colenc_writer_new(COLENC_INT);
    colenc_writer_set_window(sw, NULL);
    colenc_writer_set_window(ew, sw);
    int64_t t = 1772409614165001906;
    for (int i = 0; i < N; i++) {
        uint64_t r = rng();
        if (i % 3 == 0) /* a new trace, a random ns later */
            t += (int64_t)(r % 9000000000ull) + 1;
        else /* a child, whole ms after the span before */
            t += (int64_t)(r % 50) * 1000000;
        start[i] = t;
        end[i] = i % 3 == 1   ? t + (int64_t)(rng() % 5000000000ull) /* an LLM call */
                 : i % 3 == 2 ? t + (int64_t)(rng() % 300) * 1000000 /* a tool */
                              : t;                                   /* a root, fixed below */
        if (i % 3 == 0 && i > 2) /* the root before: 2 ms after its last child */
            end[i - 3] = (end[i - 1] > end[i - 2] ? end[i - 1] : end[i - 2]) + 2000000;
    }
    end[N - 1] = 0; /* a duration that is not one: far before its start */
    static const int64_t ext[][2] = {{INT64_MIN, INT64_MAX}, {INT64_MAX, INT64_MIN}, {0, INT64_MIN},
                                     {-1, INT64_MAX},        {INT64_MAX, INT64_MAX}, {5, 5}};
    for (size_t k = 0; k < sizeof(ext) / sizeof(ext[0]); k++) {
        start[100 + k] = ext[k][0];
        end[100 + k] = ext[k][1];
    }
    for (int i = 0; i < N; i++) {
        snull[i] = i % 97 == 5;
        enull[i] = i % 89 == 7 || i % 97 == 5;
        struct colenc_writer *c[4] = {sw, ps, ew, pe};
        for (int k = 0; k < 4; k++) {
            int isnull = k < 2 ? snull[i] : enull[i];
            if (isnull)
                colenc_put_null(c[k]);
            else
                colenc_put_int(c[k], k < 2 ? start[i] : end[i]);
        }
    }
    struct buf ef, sf, pef, psf;
    finish_into(ew, &ef); /* before its reference, as the segment does */
    finish_into(sw, &sf);
    finish_into(ps, &psf);
    finish_into(pe, &pef);
    ck_assert_int_eq(enc_of(&ef), 'W');
    ck_assert_int_eq(enc_of(&sf), 'W');
    ck_assert_uint_lt(ef.len, pef.len * 17 / 20); /* a third are random ns durations */
    ck_assert_uint_lt(sf.len, psf.len);
    struct colenc_column *sc = decode_ok(sf.data, sf.len), *ec = NULL;
    char err[128] = "";
    ck_assert_int_eq(colenc_decode_ref(ef.data, ef.len, sc, &ec, err, sizeof(err)), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(colenc_is_null(sc, i), snull[i]);
        ck_assert_int_eq(colenc_is_null(ec, i), enull[i]);
        if (!snull[i])
            ck_assert_int_eq(colenc_int(sc, i), start[i]);
        if (!enull[i])
            ck_assert_int_eq(colenc_int(ec, i), end[i]);
    }
    colenc_column_free(ec);
    ec = NULL;
    ck_assert_int_eq(colenc_decode(ef.data, ef.len, &ec, err, sizeof(err)), -1);
    ck_assert_ptr_null(ec);
    ck_assert_ptr_nonnull(strstr(err, "without the column"));
    /* by hand: 2 rows; row 1 is 3 ms after row 0 of its own column; then
     * row 0 against a row before it, and 10^15 * 2^58 (out of range) */
    static const unsigned char good[] = {'W', 2, 0, 1, 20, 3, (3 << 5) | 6};
    static const unsigned char before[] = {'W', 2, 0, 3, 0, 1, 0};
    static const unsigned char range[] = {'W',  2,    0,    1,    0,    3,    0x8f, 0x80,
                                          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    struct buf bf;
    frame_of(good, sizeof(good), &bf);
    struct colenc_column *two = decode_ok(bf.data, bf.len);
    ck_assert_int_eq(colenc_int(two, 0), 10);
    ck_assert_int_eq(colenc_int(two, 1), 3000010);
    colenc_column_free(two);
    ck_assert_int_eq(decode_raw(before, sizeof(before)), -1);
    ck_assert_int_eq(decode_raw(range, sizeof(range)), -1);
    buf_release(&bf);
    buf_release(&ef);
    buf_release(&sf);
    buf_release(&pef);
    buf_release(&psf);
    colenc_column_free(sc);
    colenc_writer_free(sw);
    colenc_writer_free(ew);
    colenc_writer_free(ps);
    colenc_writer_free(pe);
}
END_TEST

static struct colenc_column *put_sql_values(sqlite3 *db, enum colenc_type type)
{
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, CONV_SQL, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    struct colenc_writer *w = colenc_writer_new(type);
    for (int i = 0; i < CONV_COLS; i++)
        colenc_put_value(w, sqlite3_column_value(st, i));
    sqlite3_finalize(st);
    struct colenc_column *c = roundtrip(w);
    colenc_writer_free(w);
    ck_assert_uint_eq(colenc_rows(c), CONV_COLS);
    return c;
}

START_TEST(test_put_value_converts_to_the_column_type)
{
    static const int64_t ints[] = {42, 1, 0, 0, 0, 0, 12, -7};
    static const double reals[] = {42.0, 1.5, 0.0, 0.0, 0.0, 0.0, 12.0, -7.9};
    static const char *texts[] = {"42", "1.5", "txt", "\0\xff", NULL, "", " 12abc", "-7.9"};
    static const size_t lens[] = {2, 3, 3, 2, 0, 0, 6, 4};
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);

    struct colenc_column *c = put_sql_values(db, COLENC_INT);
    for (int i = 0; i < CONV_COLS; i++) {
        ck_assert_int_eq(colenc_is_null(c, i), i == 4);
        ck_assert(colenc_int(c, i) == ints[i]);
    }
    colenc_column_free(c);

    c = put_sql_values(db, COLENC_REAL);
    for (int i = 0; i < CONV_COLS; i++) {
        ck_assert_int_eq(colenc_is_null(c, i), i == 4);
        ck_assert(colenc_real(c, i) == reals[i]);
    }
    colenc_column_free(c);

    for (int t = COLENC_TEXT; t <= COLENC_BLOB; t++) {
        c = put_sql_values(db, (enum colenc_type)t);
        for (int i = 0; i < CONV_COLS; i++) {
            if (!texts[i])
                assert_null_bytes(c, i);
            else
                assert_bytes(c, i, texts[i], lens[i]); /* x'' is empty, not NULL */
        }
        colenc_column_free(c);
    }
    sqlite3_close(db);
}
END_TEST

/* One value for the conversion test: bound to `SELECT ?1` and also put
 * directly with the typed colenc_put_*. */
struct conv_case {
    int kind; /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT or SQLITE_BLOB */
    int64_t i;
    double r;
    const char *s;
    size_t n;
};

static void put_case_direct(struct colenc_writer *w, const struct conv_case *k)
{
    if (k->kind == SQLITE_INTEGER)
        colenc_put_int(w, k->i);
    else if (k->kind == SQLITE_FLOAT)
        colenc_put_real(w, k->r);
    else
        colenc_put_bytes(w, k->s, k->n);
}

static void put_case_sql(struct colenc_writer *w, sqlite3_stmt *st, const struct conv_case *k)
{
    if (k->kind == SQLITE_INTEGER)
        sqlite3_bind_int64(st, 1, k->i);
    else if (k->kind == SQLITE_FLOAT)
        sqlite3_bind_double(st, 1, k->r);
    else if (k->kind == SQLITE_TEXT)
        sqlite3_bind_text64(st, 1, k->s, k->n, SQLITE_STATIC, SQLITE_UTF8);
    else
        sqlite3_bind_blob64(st, 1, k->s, k->n, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    colenc_put_value(w, sqlite3_column_value(st, 0));
    sqlite3_reset(st);
}

/* The value 'k' put directly and put as SQLite's value gives the same
 * frame in a column of every type. */
static void check_conv(sqlite3_stmt *st, struct conv_case k)
{
    if (!k.s)
        k.n = 0;
    for (int t = 0; t < 4; t++) {
        struct colenc_writer *direct = colenc_writer_new(all_types[t]);
        struct colenc_writer *viasql = colenc_writer_new(all_types[t]);
        put_case_direct(direct, &k);
        put_case_sql(viasql, st, &k);
        struct buf a, b;
        finish_into(direct, &a);
        finish_into(viasql, &b);
        ck_assert_msg(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                      "kind %d (%" PRId64 ", %.17g, '%s') into type %d converts unlike SQLite",
                      k.kind, k.i, k.r, k.s ? k.s : "", all_types[t]);
        buf_release(&a);
        buf_release(&b);
        colenc_writer_free(direct);
        colenc_writer_free(viasql);
    }
}

START_TEST(test_typed_puts_convert_like_sqlite)
{
    static const int64_t ints[] = {0, -1, 42, INT64_MIN, INT64_MAX};
    static const double reals[] = {1.5,     -7.9,     0.1,
                                   2.0,     -0.0,     1e300,
                                   -1e300,  1e-300,   123456789012345678.0,
                                   9.3e18,  -1e19,    9223372036854775807.0,
                                   1.0 / 3, INFINITY, -INFINITY};
    /* Each bound both as text and as blob. Numbers keep to 15 significant
     * digits: past that SQLite's own reader is not correctly rounded (and
     * under valgrind its long double is a double), while strtod is. */
    static const char *const texts[] = {"12abc",
                                        "  -5 ",
                                        "1e3",
                                        "9999999999999999999999",
                                        "-9999999999999999999999",
                                        "0x10",
                                        "-0x1p3",
                                        "inf",
                                        "nan",
                                        ".5",
                                        "abc",
                                        "",
                                        " +3.25e2xyz",
                                        "-",
                                        "-abc",
                                        "-.e5",
                                        ".",
                                        "1e999",
                                        "-1e-400",
                                        "\t\n 7",
                                        "1.5e"};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT ?1", -1, &st, NULL), SQLITE_OK);
    for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++)
        check_conv(st, (struct conv_case){.kind = SQLITE_INTEGER, .i = ints[k]});
    for (size_t k = 0; k < sizeof(reals) / sizeof(reals[0]); k++)
        check_conv(st, (struct conv_case){.kind = SQLITE_FLOAT, .r = reals[k]});
    for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
        size_t n = strlen(texts[k]);
        check_conv(st, (struct conv_case){.kind = SQLITE_TEXT, .s = texts[k], .n = n});
        check_conv(st, (struct conv_case){.kind = SQLITE_BLOB, .s = texts[k], .n = n});
    }
    /* bytes after an embedded NUL are not part of the number */
    check_conv(st, (struct conv_case){.kind = SQLITE_BLOB,
                                      .s = "12\0"
                                           "7",
                                      .n = 4});
    check_conv(st, (struct conv_case){.kind = SQLITE_BLOB, .s = "\xff\0", .n = 2});
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

/* colrow(i): row i of the column in the function's user data. */
static void sql_colrow(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct colenc_column *c = sqlite3_user_data(ctx);
    colenc_result(c, (size_t)sqlite3_value_int64(argv[0]), ctx);
}

/* Run 'sql' with colrow() over 'c'; its one row's columns as text, joined by '|'. */
static char *query_column(sqlite3 *db, struct colenc_column *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(
        sqlite3_create_function(db, "colrow", 1, SQLITE_UTF8, c, sql_colrow, NULL, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const unsigned char *v = sqlite3_column_text(st, i);
        ck_assert_int_eq(buf_printf(&out, "%s%s", i ? "|" : "", v ? (const char *)v : "~"), 0);
    }
    sqlite3_finalize(st);
    return buf_take(&out, NULL);
}

static void check_sql(sqlite3 *db, struct colenc_writer *w, const char *sql, const char *want)
{
    struct colenc_column *c = roundtrip(w);
    char *got = query_column(db, c, sql);
    ck_assert_str_eq(got, want);
    free(got);
    colenc_column_free(c);
    colenc_writer_free(w);
}

START_TEST(test_result_gives_sql_values_of_the_column_type)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);

    struct colenc_writer *w = colenc_writer_new(COLENC_INT);
    colenc_put_int(w, INT64_MIN);
    colenc_put_null(w);
    check_sql(db, w, "SELECT typeof(colrow(0)), colrow(0), typeof(colrow(1)), colrow(1) IS NULL",
              "integer|-9223372036854775808|null|1");

    w = colenc_writer_new(COLENC_REAL);
    colenc_put_real(w, 2.5);
    check_sql(db, w, "SELECT typeof(colrow(0)), colrow(0) * 2", "real|5.0");

    w = colenc_writer_new(COLENC_TEXT);
    colenc_put_bytes(w, "h\xc3\xa9llo", 6);
    colenc_put_bytes(w, "", 0);
    check_sql(db, w,
              "SELECT typeof(colrow(0)), colrow(0), length(colrow(0)), typeof(colrow(1)),"
              " length(colrow(1))",
              "text|h\xc3\xa9llo|5|text|0");

    w = colenc_writer_new(COLENC_BLOB);
    colenc_put_bytes(w, "\0\xff\0", 3);
    colenc_put_bytes(w, NULL, 0);
    check_sql(db, w,
              "SELECT typeof(colrow(0)), hex(colrow(0)), length(colrow(0)), typeof(colrow(1)),"
              " length(colrow(1))",
              "blob|00FF00|3|blob|0");
    sqlite3_close(db);
}
END_TEST

START_TEST(test_writer_is_empty_after_finish_and_reusable)
{
    struct colenc_writer *w = colenc_writer_new(COLENC_TEXT);
    colenc_put_bytes(w, "a", 1);
    colenc_put_bytes(w, "b", 1);
    colenc_put_bytes(w, "a", 1);
    struct buf first, again;
    finish_into(w, &first);
    ck_assert_uint_eq(colenc_writer_rows(w), 0);
    colenc_put_bytes(w, "a", 1);
    colenc_put_bytes(w, "b", 1);
    colenc_put_bytes(w, "a", 1);
    finish_into(w, &again); /* the same rows give the same frame */
    ck_assert(first.len == again.len && memcmp(first.data, again.data, first.len) == 0);
    colenc_put_null(w);
    colenc_put_bytes(w, "c", 1);
    struct colenc_column *c = roundtrip(w); /* only the new rows, new dictionary */
    ck_assert_uint_eq(colenc_rows(c), 2);
    assert_null_bytes(c, 0);
    assert_bytes(c, 1, "c", 1);
    colenc_column_free(c);
    buf_release(&first);
    buf_release(&again);
    colenc_writer_free(w);

    w = colenc_writer_new(COLENC_INT);
    colenc_put_int(w, 5);
    c = roundtrip(w);
    colenc_column_free(c);
    colenc_put_int(w, 7); /* the delta starts again from 0 */
    c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), 1);
    ck_assert(colenc_int(c, 0) == 7);
    colenc_column_free(c);
    colenc_writer_free(w);
}
END_TEST

/* A text column with NULLs and repeats: a 'D' frame (caller releases). */
static void dict_frame(struct buf *frame, size_t rows)
{
    static const char *names[] = {"alpha", "beta", "gamma", ""};
    struct colenc_writer *w = colenc_writer_new(COLENC_TEXT);
    for (size_t i = 0; i < rows; i++) {
        if (i % 7 == 3)
            colenc_put_null(w);
        else
            colenc_put_bytes(w, names[i % 4], strlen(names[i % 4]));
    }
    finish_into(w, frame);
    colenc_writer_free(w);
}

START_TEST(test_every_truncation_of_a_frame_fails_cleanly)
{
    struct buf frame;
    dict_frame(&frame, 300);
    for (size_t cut = 0; cut < frame.len; cut++) {
        static int sentinel;
        struct colenc_column *c = (struct colenc_column *)&sentinel; /* must become NULL */
        char err[64] = "";
        ck_assert_int_eq(colenc_decode(frame.data, cut, &c, err, sizeof(err)), -1);
        ck_assert_ptr_null(c);
        ck_assert_uint_gt(strlen(err), 0);
    }
    ck_assert_int_eq(buf_putc(&frame, 0), 0); /* a byte after the frame */
    struct colenc_column *c = NULL;
    ck_assert_int_eq(colenc_decode(frame.data, frame.len, &c, NULL, 0), -1);
    ck_assert_int_eq(colenc_decode("hello, world", 12, &c, NULL, 0), -1);
    ck_assert_int_eq(colenc_decode(NULL, 0, &c, NULL, 0), -1);
    buf_release(&frame);
}
END_TEST

START_TEST(test_hand_made_columns_decode_or_are_refused)
{
    /* the control: a valid column built by hand reads back */
    static const unsigned char ok[] = {'I', 3, 0x02, 2, 4};
    ck_assert_int_eq(decode_raw(ok, sizeof(ok)), 0);
    static const unsigned char ok_dict[] = {'D', 2, 0x00, 1, 1, 'a', 0, 0};
    ck_assert_int_eq(decode_raw(ok_dict, sizeof(ok_dict)), 0);

    static const struct {
        const char *why;
        unsigned char raw[16];
        size_t len;
    } bad[] = {
        {"no bytes at all", {0}, 0},
        {"unknown encoding", {'X', 1, 0, 2}, 4},
        {"row count missing", {'I'}, 1},
        {"null bitmap missing", {'I', 9, 0x00}, 3},
        {"bitmap padding set", {'I', 1, 0x02, 2}, 4},
        {"fewer ints than rows", {'I', 3, 0x00, 2, 2}, 5},
        {"trailing bytes", {'I', 1, 0x00, 2, 0}, 5},
        {"11-byte varint",
         {'I', 1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0},
         14},
        {"varint past 64 bits",
         {'I', 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2},
         13},
        {"short real", {'R', 1, 0, 1, 2, 3, 4, 5, 6, 7}, 10},
        {"decimals without an exponent", {'F', 1, 0}, 3},
        {"fewer counts than rows", {'J', 3, 0x00, 2, 2}, 5},
        {"list past the end", {'v', 1, 0x00, 'A', 2, 2}, 6},
        {"list without its count", {'v', 1, 0x00, 'A'}, 4},
        {"list value past 2^63",
         {'v', 1, 0x00, 'A', 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 3},
         16},
        {"decimal exponent past 9", {'F', 1, 0, 10, 2}, 5},
        {"fewer decimals than rows", {'F', 2, 0, 1, 2}, 5},
        {"decimal past 2^53",
         {'F', 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
         13},
        {"length past the end", {'S', 1, 0x00, 5, 'a', 'b'}, 6},
        {"dictionary index out of range", {'D', 2, 0x00, 1, 1, 'a', 0, 1}, 8},
        {"dictionary bigger than rows", {'D', 1, 0x00, 2, 1, 'a', 1, 'b', 0}, 9},
        {"dictionary entry past the end", {'d', 1, 0x00, 1, 9, 'a', 0}, 7},
        {"missing dictionary indexes", {'D', 2, 0x00, 1, 1, 'a', 0}, 7},
        {"row count past COLENC_MAX_ROWS",
         {'I', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1},
         11},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(decode_raw(bad[i].raw, bad[i].len) == -1, "accepted: %s", bad[i].why);
}
END_TEST

START_TEST(test_tampered_writer_output_is_refused)
{
    struct buf frame;
    dict_frame(&frame, 64);
    size_t len;
    unsigned char *raw = raw_of(&frame, &len);
    ck_assert_int_eq(raw[0], 'D');
    ck_assert_int_eq(decode_raw(raw, len), 0);

    raw[len - 1] = 0x7f; /* the last row's index past the 4 entries */
    ck_assert_int_eq(decode_raw(raw, len), -1);
    raw[len - 1] = 0;
    raw[1] = 65; /* one row more than the bitmap and values hold */
    ck_assert_int_eq(decode_raw(raw, len), -1);
    raw[1] = 64;
    raw[0] = 'S'; /* the dictionary read as plain values: the counts cannot match */
    ck_assert_int_eq(decode_raw(raw, len), -1);
    raw[0] = 'D';
    ck_assert_int_eq(decode_raw(raw, len - 1), -1); /* one index short */
    free(raw);
    buf_release(&frame);
}
END_TEST

/* Decode 'p'/'len'; when it is accepted, read every row (ASan and valgrind
 * see any read out of bounds). */
static void decode_and_walk(const void *p, size_t len)
{
    struct colenc_column *c = NULL;
    if (colenc_decode(p, len, &c, NULL, 0) != 0) {
        ck_assert_ptr_null(c);
        return;
    }
    ck_assert_uint_le(colenc_rows(c), COLENC_MAX_ROWS);
    for (size_t i = 0; i < colenc_rows(c); i++) {
        size_t n = 0;
        const char *b;
        switch (colenc_col_type(c)) {
        case COLENC_INT:
            (void)colenc_int(c, i);
            break;
        case COLENC_REAL:
            (void)colenc_real(c, i);
            break;
        default:
            b = colenc_bytes(c, i, &n);
            ck_assert(b ? b[n] == '\0' : colenc_is_null(c, i));
        }
    }
    colenc_column_free(c);
}

static void flip_bytes(unsigned char *p, size_t len)
{
    int flips = 1 + (int)(rng() % 3);
    for (int f = 0; f < flips; f++)
        p[rng() % len] ^= (unsigned char)(1u << (rng() % 8));
}

START_TEST(test_random_byte_flips_fail_or_decode_within_bounds)
{
    struct buf frames[3];
    dict_frame(&frames[0], 200);
    struct colenc_writer *w = colenc_writer_new(COLENC_BLOB);
    for (int i = 0; i < 200; i++) {
        char id[17];
        random_hex(id, i % 17);
        colenc_put_bytes(w, id, strlen(id));
    }
    finish_into(w, &frames[1]);
    colenc_writer_free(w);
    w = colenc_writer_new(COLENC_INT);
    for (int i = 0; i < 200; i++)
        colenc_put_int(w, (int64_t)rng());
    finish_into(w, &frames[2]);
    colenc_writer_free(w);

    for (int f = 0; f < 3; f++) {
        size_t len;
        unsigned char *raw = raw_of(&frames[f], &len);
        unsigned char *copy = xmalloc(len);
        for (int round = 0; round < 600; round++) {
            struct buf z;
            memcpy(copy, raw, len);
            flip_bytes(copy, len); /* the column itself, behind a valid frame */
            frame_of(copy, len, &z);
            decode_and_walk(z.data, z.len);
            buf_release(&z);
        }
        unsigned char *zcopy = xmalloc(frames[f].len);
        for (int round = 0; round < 600; round++) {
            memcpy(zcopy, frames[f].data, frames[f].len);
            flip_bytes(zcopy, frames[f].len); /* the zstd frame */
            decode_and_walk(zcopy, frames[f].len);
        }
        free(zcopy);
        free(copy);
        free(raw);
        buf_release(&frames[f]);
    }
}
END_TEST

/* A hand-made all-NULL INT column of 'rows' rows (caller frees). */
static unsigned char *all_null_raw(size_t rows, size_t *len)
{
    size_t nb = (rows + 7) / 8, n = 0;
    unsigned char *raw = xmalloc(1 + 10 + nb);
    raw[n++] = 'I';
    for (uint64_t v = rows; v; v >>= 7)
        raw[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    memset(raw + n, 0xff, nb);
    if (rows % 8)
        raw[n + nb - 1] = (unsigned char)((1u << (rows % 8)) - 1); /* no padding bits */
    *len = n + nb;
    return raw;
}

START_TEST(test_columns_past_max_rows_are_refused)
{
    struct colenc_writer *w = colenc_writer_new(COLENC_INT);
    struct buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i <= COLENC_MAX_ROWS; i++)
        colenc_put_int(w, (int64_t)i);
    ck_assert_uint_eq(colenc_writer_rows(w), COLENC_MAX_ROWS + 1);
    ck_assert_int_eq(colenc_finish(w, LEVEL, &out), -1);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_uint_eq(colenc_writer_rows(w), 0); /* reset even so */

    for (size_t i = 0; i < COLENC_MAX_ROWS; i++) /* exactly the limit is fine */
        colenc_put_int(w, (int64_t)i * 3);
    struct colenc_column *c = roundtrip(w);
    ck_assert_uint_eq(colenc_rows(c), COLENC_MAX_ROWS);
    ck_assert(colenc_int(c, COLENC_MAX_ROWS - 1) == (int64_t)(COLENC_MAX_ROWS - 1) * 3);
    colenc_column_free(c);
    colenc_writer_free(w);
    buf_release(&out);

    size_t len;
    unsigned char *raw = all_null_raw(COLENC_MAX_ROWS, &len);
    ck_assert_int_eq(decode_raw(raw, len), 0);
    free(raw);
    raw = all_null_raw(COLENC_MAX_ROWS + 1, &len); /* one row too many */
    ck_assert_int_eq(decode_raw(raw, len), -1);
    free(raw);
}
END_TEST

START_TEST(test_finish_fails_at_the_output_ceiling_and_leaves_it_unchanged)
{
    struct colenc_writer *w = colenc_writer_new(COLENC_INT);
    for (int i = 0; i < 1000; i++)
        colenc_put_int(w, (int64_t)rng());
    struct buf out;
    buf_init(&out, 64);
    ck_assert_int_eq(buf_append(&out, "prefix", 6), 0);
    ck_assert_int_eq(colenc_finish(w, LEVEL, &out), -1);
    ck_assert_uint_eq(out.len, 6);
    ck_assert_str_eq(buf_str(&out), "prefix");
    ck_assert_uint_eq(colenc_writer_rows(w), 0);
    colenc_put_int(w, 1); /* a small column still fits after the prefix */
    ck_assert_int_eq(colenc_finish(w, LEVEL, &out), 0);
    struct colenc_column *c = decode_ok(out.data + 6, out.len - 6);
    ck_assert(colenc_rows(c) == 1 && colenc_int(c, 0) == 1);
    colenc_column_free(c);
    buf_release(&out);
    colenc_writer_free(w);
}
END_TEST

/* Row 'i' of 'a' and 'b' are the same value (type, NULL, bytes). */
static void assert_same_row(const struct colenc_column *a, const struct colenc_column *b, size_t i)
{
    ck_assert_int_eq(colenc_col_type(a), colenc_col_type(b));
    ck_assert_int_eq(colenc_is_null(a, i), colenc_is_null(b, i));
    if (colenc_is_null(a, i))
        return;
    if (colenc_col_type(a) == COLENC_INT)
        ck_assert(colenc_int(a, i) == colenc_int(b, i));
    else if (colenc_col_type(a) == COLENC_REAL)
        ck_assert(memcmp(&(double){colenc_real(a, i)}, &(double){colenc_real(b, i)}, 8) == 0);
    else {
        size_t na = 0, nb = 0;
        const char *pa = colenc_bytes(a, i, &na), *pb = colenc_bytes(b, i, &nb);
        ck_assert_uint_eq(na, nb);
        ck_assert(memcmp(pa, pb, na) == 0);
    }
}

enum { SEL_N = 2000, SEL_COLS = 10 };

/* One column of each encoding over SEL_N rows, with NULLs; cols[8] ('P')
 * refers to cols[7] and cols[9] ('W') to cols[0] (itself 'W' or 'I'). */
static void selection_columns(struct buf *frames)
{
    static const enum colenc_type types[SEL_COLS] = {
        COLENC_INT,  COLENC_REAL, COLENC_TEXT, COLENC_TEXT, COLENC_BLOB,
        COLENC_BLOB, COLENC_TEXT, COLENC_TEXT, COLENC_TEXT, COLENC_INT};
    struct colenc_writer *w[SEL_COLS];
    for (int k = 0; k < SEL_COLS; k++)
        w[k] = colenc_writer_new(types[k]);
    colenc_writer_set_ref(w[8], w[7]);
    colenc_writer_set_window(w[0], NULL);
    colenc_writer_set_window(w[9], w[0]);
    int64_t t = 1772409614165001906;
    static char spans[SEL_N][17];
    char traces[8][33], hex[17], words[64];
    for (int k = 0; k < 8; k++)
        random_hex(traces[k], 32);
    for (int i = 0; i < SEL_N; i++) {
        uint64_t r = rng();
        t += (int64_t)(r % 50) * 1000000;
        colenc_put_int(w[0], t);
        random_hex(spans[i], 16);
        colenc_put_bytes(w[7], spans[i], 16); /* 'X' */
        if (i % 11 == 3) {
            for (int k = 1; k < SEL_COLS; k++)
                if (k != 7)
                    colenc_put_null(w[k]);
            continue;
        }
        colenc_put_real(w[1], (double)(r % 1000) / 7);
        snprintf(words, sizeof(words), "model-%d of a provider with a long name",
                 (int)(r % 5)); /* 'D' */
        colenc_put_bytes(w[2], words, strlen(words));
        snprintf(words, sizeof(words), "text %llu", (unsigned long long)rng()); /* 'S' */
        colenc_put_bytes(w[3], words, strlen(words));
        colenc_put_bytes(w[4], words, (size_t)(r % 3)); /* 'd' */
        colenc_put_bytes(w[5], words, strlen(words));   /* 's' */
        colenc_put_bytes(w[6], traces[r % 8], 32); /* 'Y': eight traces */
        if (i > 0 && r % 4) {              /* a parent: a row before, or one not here */
            size_t j = (size_t)i - 1 - (size_t)(rng() % (i < 20 ? (uint64_t)i : 20));
            random_hex(hex, 16);
            colenc_put_bytes(w[8], r % 4 == 3 ? hex : spans[j], 16);
        } else {
            colenc_put_null(w[8]);
        }
        colenc_put_int(w[9], t + (int64_t)(r % 300) * 1000000);
    }
    for (int k = SEL_COLS; k-- > 0;) /* those referring before their references */
        finish_into(w[k], &frames[k]);
    for (int k = 0; k < SEL_COLS; k++)
        colenc_writer_free(w[k]);
}

/* Decoding with a selection of rows keeps exactly the selected values of
 * every encoding; the other rows read as NULL; a selection of another row
 * count is refused. */
START_TEST(test_a_selection_of_rows_keeps_those_and_no_others)
{
    struct buf frames[SEL_COLS];
    selection_columns(frames);
    char err[128] = "";
    struct colenc_column *full[SEL_COLS] = {0};
    for (int k = 0; k < SEL_COLS; k++) {
        const struct colenc_column *ref = k == 8 ? full[7] : k == 9 ? full[0] : NULL;
        ck_assert_int_eq(
            colenc_decode_ref(frames[k].data, frames[k].len, ref, &full[k], err, sizeof(err)), 0);
    }
    int seen_enc[256] = {0};
    for (int k = 0; k < SEL_COLS; k++)
        seen_enc[enc_of(&frames[k])] = 1;
    for (const char *e = "RDSdsXYPW"; *e; e++)
        ck_assert_msg(seen_enc[(unsigned char)*e], "no column encoded '%c'", *e);
    static unsigned char want[SEL_N / 8 + 1];
    struct colenc_dctx *dctx = colenc_dctx_new(); /* one for all of them */
    ck_assert_ptr_nonnull(dctx);
    for (int pass = 0; pass < 3; pass++) { /* a few rows, a run of rows, none */
        memset(want, 0, sizeof(want));
        for (int i = 0; i < SEL_N && pass < 2; i++)
            if (pass == 0 ? rng() % 50 == 0 : (i >= 700 && i < 760))
                want[i / 8] |= (unsigned char)(1u << (i % 8));
        for (int k = 0; k < SEL_COLS; k++) {
            struct colenc_column *c = NULL;
            const struct colenc_column *ref = k == 8 ? full[7] : k == 9 ? full[0] : NULL;
            ck_assert_int_eq(colenc_decode_rows(dctx, frames[k].data, frames[k].len, ref, want,
                                                SEL_N, &c, err, sizeof(err)),
                             0);
            ck_assert_uint_eq(colenc_rows(c), SEL_N);
            for (size_t i = 0; i < SEL_N; i++) {
                if (want[i / 8] & (1u << (i % 8)))
                    assert_same_row(full[k], c, i);
                else
                    ck_assert(colenc_is_null(c, i));
            }
            colenc_column_free(c);
        }
    }
    struct colenc_column *c = NULL;
    ck_assert_int_eq(colenc_decode_rows(dctx, frames[2].data, frames[2].len, NULL, want, SEL_N - 1,
                                        &c, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err, "row count"));
    for (int k = 0; k < SEL_COLS; k++) {
        colenc_column_free(full[k]);
        buf_release(&frames[k]);
    }
    colenc_dctx_free(dctx);
}
END_TEST

/* Matching a value on the stored column finds exactly the rows the
 * decoded column holds it in, for every text encoding; a hex column finds
 * nothing for a value that is not lowercase hex; numbers and references
 * are left to decoding; a wrong row count is refused. */
START_TEST(test_matching_a_stored_column_finds_the_rows_that_hold_the_value)
{
    struct buf frames[SEL_COLS];
    selection_columns(frames);
    char err[128] = "";
    static unsigned char rows[SEL_N / 8 + 1];
    for (int k = 0; k < SEL_COLS; k++) {
        struct colenc_column *c = NULL;
        const struct colenc_column *ref = NULL;
        struct colenc_column *r7 = NULL, *r0 = NULL;
        if (k == 8 || k == 9) {
            int rk = k == 8 ? 7 : 0;
            ck_assert_int_eq(colenc_decode(frames[rk].data, frames[rk].len, k == 8 ? &r7 : &r0, err,
                                           sizeof(err)),
                             0);
            ref = k == 8 ? r7 : r0;
        }
        ck_assert_int_eq(
            colenc_decode_ref(frames[k].data, frames[k].len, ref, &c, err, sizeof(err)), 0);
        size_t matched = 0;
        int enc = enc_of(&frames[k]);
        if (!strchr("DSXYds", enc)) {
            ck_assert_int_eq(colenc_match(NULL, frames[k].data, frames[k].len, "x", 1, rows, SEL_N,
                                          &matched, err, sizeof(err)),
                             1);
        } else {
            for (size_t probe = 17; probe < SEL_N; probe += 613) { /* values of a few rows */
                size_t n = 0;
                const char *v = colenc_bytes(c, probe, &n);
                if (!v)
                    continue;
                char *want = xstrndup(v, n);
                ck_assert_int_eq(colenc_match(NULL, frames[k].data, frames[k].len, want, n, rows,
                                              SEL_N, &matched, err, sizeof(err)),
                                 0);
                size_t expect = 0;
                for (size_t i = 0; i < SEL_N; i++) {
                    size_t m = 0;
                    const char *b = colenc_bytes(c, i, &m);
                    int eq = b && m == n && memcmp(b, want, n) == 0;
                    expect += (size_t)eq;
                    ck_assert_int_eq(eq, (rows[i / 8] >> (i % 8)) & 1);
                }
                ck_assert_uint_eq(matched, expect);
                ck_assert_uint_ge(matched, 1);
                free(want);
            }
            if (enc == 'X' || enc == 'Y') {
                const char *v = colenc_bytes(c, 0, NULL);
                char *upper = xstrdup(v);
                for (char *q = upper; *q; q++)
                    *q = (char)toupper((unsigned char)*q);
                ck_assert_int_eq(colenc_match(NULL, frames[k].data, frames[k].len, upper,
                                              strlen(upper), rows, SEL_N, &matched, err,
                                              sizeof(err)),
                                 0);
                ck_assert_uint_eq(matched, strcmp(upper, v) ? 0 : matched);
                ck_assert_int_eq(colenc_match(NULL, frames[k].data, frames[k].len, v + 1,
                                              strlen(v) - 1, rows, SEL_N, &matched, err,
                                              sizeof(err)),
                                 0);
                ck_assert_uint_eq(matched, 0);
                free(upper);
            }
            ck_assert_int_eq(colenc_match(NULL, frames[k].data, frames[k].len, "x", 1, rows,
                                          SEL_N + 1, &matched, err, sizeof(err)),
                             -1);
            ck_assert_ptr_nonnull(strstr(err, "row count"));
        }
        colenc_column_free(c);
        colenc_column_free(r7);
        colenc_column_free(r0);
    }
    for (int k = 0; k < SEL_COLS; k++)
        buf_release(&frames[k]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("colenc");
    TCase *tc = tcase_create("colenc");
    tcase_set_timeout(tc, 120); /* a million rows under the sanitizers */
    tcase_add_test(tc, test_ints_roundtrip_with_nulls_and_extremes);
    tcase_add_test(tc, test_reals_roundtrip_bit_exact_with_nulls);
    tcase_add_test(tc, test_decimal_reals_roundtrip_as_F);
    tcase_add_test(tc, test_lists_of_text_ids_roundtrip_as_v);
    tcase_add_test(tc, test_counts_roundtrip_as_J_and_clocks_as_I);
    tcase_add_test(tc, test_text_roundtrip_with_nulls_and_empty_strings);
    tcase_add_test(tc, test_blobs_keep_embedded_nul_bytes_and_empty_values);
    tcase_add_test(tc, test_all_null_columns_roundtrip_for_every_type);
    tcase_add_test(tc, test_empty_columns_have_zero_rows);
    tcase_add_test(tc, test_single_row_columns_roundtrip);
    tcase_add_test(tc, test_timestamps_compress_under_two_bytes_per_row);
    tcase_add_test(tc, test_low_cardinality_text_is_a_small_dictionary);
    tcase_add_test(tc, test_high_cardinality_text_is_plain_and_roundtrips);
    tcase_add_test(tc, test_hex_columns_are_bytes_and_anything_else_stays_text);
    tcase_add_test(tc, test_put_value_converts_to_the_column_type);
    tcase_add_test(tc, test_typed_puts_convert_like_sqlite);
    tcase_add_test(tc, test_result_gives_sql_values_of_the_column_type);
    tcase_add_test(tc, test_writer_is_empty_after_finish_and_reusable);
    tcase_add_test(tc, test_every_truncation_of_a_frame_fails_cleanly);
    tcase_add_test(tc, test_hand_made_columns_decode_or_are_refused);
    tcase_add_test(tc, test_tampered_writer_output_is_refused);
    tcase_add_test(tc, test_random_byte_flips_fail_or_decode_within_bounds);
    tcase_add_test(tc, test_columns_past_max_rows_are_refused);
    tcase_add_test(tc, test_parents_are_rows_of_the_span_ids);
    tcase_add_test(tc, test_timestamps_are_differences_from_nearby_rows);
    tcase_add_test(tc, test_finish_fails_at_the_output_ceiling_and_leaves_it_unchanged);
    tcase_add_test(tc, test_a_selection_of_rows_keeps_those_and_no_others);
    tcase_add_test(tc, test_matching_a_stored_column_finds_the_rows_that_hold_the_value);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
