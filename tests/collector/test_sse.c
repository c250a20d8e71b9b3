/*
 * sse: the payload streams parse into the events they hold; any split of
 * the input into pieces (every offset, one byte at a time) gives the same
 * events and the same raw bytes, whose concatenation is the input; line
 * ends, field syntax, comments, ids, the size cap, stopping and the pending
 * bytes at EOF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/sse.h"
#include "core/buf.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"

/* What a parse produced: one line per event, and the raw bytes joined. */
struct rec {
    struct buf events;
    struct buf raw;
    int count;
    int stop_at; /* stop after this many events; 0 = never */
};

static void rec_init(struct rec *r)
{
    buf_init(&r->events, 0);
    buf_init(&r->raw, 0);
    r->count = 0;
    r->stop_at = 0;
}

static void rec_release(struct rec *r)
{
    buf_release(&r->events);
    buf_release(&r->raw);
}

static int on_event(void *arg, const char *event, const char *data, size_t datalen, const char *raw,
                    size_t rawlen)
{
    struct rec *r = arg;
    int rc = buf_printf(&r->events, "[%s]", event);
    if (data) {
        ck_assert_uint_eq(strlen(data), datalen); /* NUL-terminated, no NUL inside here */
        rc |= buf_putc(&r->events, '=');
        rc |= buf_append(&r->events, data, datalen);
    } else {
        rc |= buf_puts(&r->events, "(null)");
    }
    rc |= buf_printf(&r->events, "<%zu>\n", rawlen);
    rc |= buf_append(&r->raw, raw, rawlen);
    ck_assert_int_eq(rc, 0);
    r->count++;
    return r->stop_at && r->count >= r->stop_at;
}

/* Feed 'in' cut at the offsets 'cuts' (ascending, 'ncuts' of them), then
 * sse_end; pending bytes are appended to the raw record. */
static void parse_cut(const char *in, size_t n, const size_t *cuts, size_t ncuts, struct rec *r)
{
    struct sse *p = sse_new(1u << 20, on_event, r);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        ck_assert_int_eq(sse_feed(p, in + at, to - at), SSE_OK);
        at = to;
    }
    ck_assert_int_eq(sse_end(p), SSE_OK);
    size_t pn;
    const char *pend = sse_pending(p, &pn);
    ck_assert_int_eq(buf_append(&r->raw, pend, pn), 0);
    sse_free(p);
}

static void parse_whole(const char *in, size_t n, struct rec *r)
{
    parse_cut(in, n, NULL, 0, r);
}

/* Every two-piece split, one byte at a time, and (for short inputs) every
 * three-piece split give what the whole input gives. */
static void assert_split_invariant(const char *in, size_t n)
{
    struct rec whole, r;
    rec_init(&whole);
    parse_whole(in, n, &whole);
    ck_assert_uint_eq(whole.raw.len, n);
    ck_assert(memcmp(whole.raw.data, in, n) == 0);
    for (size_t i = 0; i <= n; i++) {
        rec_init(&r);
        parse_cut(in, n, &i, 1, &r);
        ck_assert_str_eq(buf_str(&r.events), buf_str(&whole.events));
        ck_assert_uint_eq(r.raw.len, n);
        ck_assert(memcmp(r.raw.data, in, n) == 0);
        rec_release(&r);
    }
    size_t *cuts = xmalloc((n + 1) * sizeof(*cuts));
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    rec_init(&r);
    parse_cut(in, n, cuts, n ? n - 1 : 0, &r);
    ck_assert_str_eq(buf_str(&r.events), buf_str(&whole.events));
    ck_assert(r.raw.len == n && memcmp(r.raw.data, in, n) == 0);
    rec_release(&r);
    free(cuts);
    for (size_t i = 0; n <= 200 && i <= n; i++)
        for (size_t j = i; j <= n; j++) {
            size_t c2[2] = {i, j};
            rec_init(&r);
            parse_cut(in, n, c2, 2, &r);
            ck_assert_str_eq(buf_str(&r.events), buf_str(&whole.events));
            ck_assert(r.raw.len == n && memcmp(r.raw.data, in, n) == 0);
            rec_release(&r);
        }
    rec_release(&whole);
}

/* The expected record of a payload file: each "data: " line is one event,
 * named by the "event: " line before it. */
static char *expected_from_lines(const char *text)
{
    struct buf b;
    buf_init(&b, 0);
    const char *line = text, *event = "", *ev_end = event;
    size_t block = 0;
    int rc = 0;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        block += len + 1;
        if (len == 0) {
            block = 0;
        } else if (strncmp(line, "event: ", 7) == 0) {
            event = line + 7;
            ev_end = line + len;
        } else if (strncmp(line, "data: ", 6) == 0) {
            /* the block is this line plus the blank line after it */
            rc |= buf_printf(&b, "[%.*s]=%.*s<%zu>\n", (int)(ev_end - event), event, (int)len - 6,
                             line + 6, block + 1);
            event = ev_end = "";
        }
        line = nl ? nl + 1 : line + len;
    }
    ck_assert_int_eq(rc, 0);
    return buf_take(&b, NULL);
}

static void check_payload(const char *rel, int events)
{
    size_t n;
    char *in = tu_read_file(tu_shared(rel), &n);
    ck_assert_msg(in != NULL, "cannot read %s", rel);
    struct rec r;
    rec_init(&r);
    parse_whole(in, n, &r);
    ck_assert_int_eq(r.count, events);
    char *want = expected_from_lines(in);
    ck_assert_str_eq(buf_str(&r.events), want);
    free(want);
    rec_release(&r);
    assert_split_invariant(in, n);
    free(in);
}

START_TEST(test_openai_payload_stream_gives_each_chunk_at_any_split)
{
    check_payload("payloads/openai-stream.sse", 21);
}
END_TEST

START_TEST(test_anthropic_payload_stream_gives_named_events_at_any_split)
{
    check_payload("payloads/anthropic-stream.sse", 15);
}
END_TEST

static void expect(const char *in, const char *want)
{
    struct rec r;
    rec_init(&r);
    parse_whole(in, strlen(in), &r);
    ck_assert_str_eq(buf_str(&r.events), want);
    rec_release(&r);
    assert_split_invariant(in, strlen(in));
}

START_TEST(test_line_ends_lf_crlf_and_bare_cr)
{
    expect("data: a\r\n\r\ndata: b\n\n", "[]=a<11>\n[]=b<9>\n");
    expect("data: a\r\rdata: b\r\r", "[]=a<9>\n[]=b<9>\n");
    expect("event: x\r\ndata: 1\rdata: 2\n\r\n", "[x]=1\n2<28>\n");
}
END_TEST

START_TEST(test_cr_at_piece_end_then_lf_is_one_line_end)
{
    struct rec r;
    rec_init(&r);
    struct sse *p = sse_new(1024, on_event, &r);
    ck_assert_int_eq(sse_feed(p, "data: a\r", 8), SSE_OK);
    ck_assert_int_eq(sse_feed(p, "\n\r", 2), SSE_OK);
    ck_assert_int_eq(r.count, 0); /* held: a "\n" may still belong to the blank line */
    ck_assert_int_eq(sse_feed(p, "\ndata: b\r", 9), SSE_OK);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(buf_str(&r.raw), "data: a\r\n\r\n");
    ck_assert_int_eq(sse_feed(p, "\r", 1), SSE_OK);
    ck_assert_int_eq(r.count, 1);
    ck_assert_int_eq(sse_end(p), SSE_OK); /* EOF: the held block is handed over */
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(buf_str(&r.events), "[]=a<11>\n[]=b<9>\n");
    size_t pn;
    sse_pending(p, &pn);
    ck_assert_uint_eq(pn, 0);
    sse_free(p);
    rec_release(&r);
}
END_TEST

START_TEST(test_field_syntax_drops_one_space_and_joins_data_lines)
{
    expect("data:x\n\ndata: x\n\ndata:  x\n\n", "[]=x<8>\n[]=x<9>\n[]= x<10>\n");
    expect("data: a\ndata: b\n\n", "[]=a\nb<17>\n");
    expect("data\n\n", "[]=<6>\n");            /* a field without a colon: empty value */
    expect("data:\ndata:\n\n", "[]=\n<13>\n"); /* two empty lines joined */
    expect("event:ping\ndata: {}\n\ndata: 2\n\n", "[ping]={}<21>\n[]=2<9>\n");
    expect("foo: bar\ndata: 1\n\n", "[]=1<18>\n"); /* unknown fields ignored */
    expect("\xEF\xBB\xBF"
           "data: bom\n\n",
           "[]=bom<14>\n");
}
END_TEST

START_TEST(test_comments_and_dataless_blocks_are_handed_over_with_null_data)
{
    expect(": OPENROUTER PROCESSING\n\ndata: {}\n\n", "[](null)<25>\n[]={}<10>\n");
    expect(":keep-alive\n:again\n\n", "[](null)<20>\n");
    expect("event: only\n\n", "[only](null)<13>\n");
    expect("\n\ndata: 1\n\n", "[](null)<1>\n[](null)<1>\n[]=1<9>\n");
    expect("data: 1\n: comment inside\ndata: 2\n\n", "[]=1\n2<34>\n");
}
END_TEST

START_TEST(test_id_is_kept_and_retry_ignored)
{
    struct rec r;
    rec_init(&r);
    struct sse *p = sse_new(1024, on_event, &r);
    const char *in = "id: 7\nretry: 1000\ndata: x\n\ndata: y\n\nid\ndata: z\n\n";
    ck_assert_int_eq(sse_feed(p, in, 27), SSE_OK);
    ck_assert_str_eq(sse_last_id(p), "7");
    ck_assert_int_eq(sse_feed(p, in + 27, 9), SSE_OK);
    ck_assert_str_eq(sse_last_id(p), "7"); /* kept across events */
    ck_assert_int_eq(sse_feed(p, in + 36, strlen(in) - 36), SSE_OK);
    ck_assert_str_eq(sse_last_id(p), ""); /* "id" alone resets it */
    ck_assert_str_eq(buf_str(&r.events), "[]=x<27>\n[]=y<9>\n[]=z<12>\n");
    sse_free(p);
    rec_release(&r);
}
END_TEST

START_TEST(test_event_over_max_is_toobig_and_pending_keeps_the_rest)
{
    struct rec r;
    rec_init(&r);
    struct sse *p = sse_new(32, on_event, &r);
    char in[200];
    int n = snprintf(in, sizeof(in), "data: ok\n\ndata: %060d\n\ndata: later\n\n", 0);
    ck_assert_int_eq(sse_feed(p, in, (size_t)n), SSE_TOOBIG);
    ck_assert_int_eq(r.count, 1); /* the event before it was handed over */
    size_t pn;
    const char *pend = sse_pending(p, &pn);
    ck_assert_uint_eq(pn, (size_t)n - 10); /* everything not handed over */
    ck_assert(memcmp(pend, in + 10, pn) == 0);
    ck_assert_int_eq(sse_feed(p, "data: x\n\n", 9), SSE_TOOBIG); /* finished */
    ck_assert_int_eq(r.count, 1);
    sse_free(p);

    /* exactly max_event bytes is still one event; a line growing in small
     * pieces past the cap is caught too */
    rec_release(&r);
    rec_init(&r);
    p = sse_new(12, on_event, &r);
    ck_assert_int_eq(sse_feed(p, "data: 1234\n\n", 12), SSE_OK);
    ck_assert_int_eq(r.count, 1);
    int rc = SSE_OK;
    for (int i = 0; i < 20 && rc == SSE_OK; i++)
        rc = sse_feed(p, "x", 1);
    ck_assert_int_eq(rc, SSE_TOOBIG);
    sse_pending(p, &pn);
    ck_assert_uint_eq(pn, 13);
    sse_free(p);
    rec_release(&r);
}
END_TEST

START_TEST(test_stop_from_the_callback)
{
    struct rec r;
    rec_init(&r);
    r.stop_at = 2;
    struct sse *p = sse_new(1024, on_event, &r);
    const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    ck_assert_int_eq(sse_feed(p, in, strlen(in)), SSE_STOPPED);
    ck_assert_int_eq(r.count, 2);
    size_t pn;
    const char *pend = sse_pending(p, &pn);
    ck_assert_uint_eq(pn, 9);
    ck_assert(memcmp(pend, "data: 3\n\n", 9) == 0);
    ck_assert_int_eq(sse_feed(p, in, strlen(in)), SSE_STOPPED);
    ck_assert_int_eq(r.count, 2);
    sse_free(p);
    rec_release(&r);
}
END_TEST

START_TEST(test_pending_at_eof_is_the_truncated_event)
{
    struct rec r;
    rec_init(&r);
    struct sse *p = sse_new(1024, on_event, &r);
    size_t pn;
    ck_assert_str_eq(sse_pending(p, &pn), "");
    ck_assert_uint_eq(pn, 0);
    ck_assert_int_eq(sse_feed(p, "data: 1\n\nevent: x\ndata: {\"par", 29), SSE_OK);
    ck_assert_int_eq(sse_end(p), SSE_OK);
    const char *pend = sse_pending(p, &pn);
    ck_assert_uint_eq(pn, 20);
    ck_assert(memcmp(pend, "event: x\ndata: {\"par", 20) == 0);
    ck_assert_int_eq(r.count, 1);
    sse_free(p);
    sse_free(NULL);
    rec_release(&r);
}
END_TEST

START_TEST(test_binary_garbage_never_crashes_and_keeps_every_byte)
{
    char in[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof(in); i++) {
        x = x * 1103515245u + 12345u;
        unsigned v = (x >> 16) & 0xff;
        in[i] = (char)(v < 40 ? '\n' : v < 60 ? '\r' : v < 80 ? ':' : v);
    }
    struct rec r;
    rec_init(&r);
    parse_whole(in, sizeof(in), &r);
    ck_assert_uint_eq(r.raw.len, sizeof(in));
    ck_assert(memcmp(r.raw.data, in, sizeof(in)) == 0);
    rec_release(&r);
    assert_split_invariant(in, 300);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_openai_payload_stream_gives_each_chunk_at_any_split);
    tcase_add_test(tc, test_anthropic_payload_stream_gives_named_events_at_any_split);
    tcase_add_test(tc, test_line_ends_lf_crlf_and_bare_cr);
    tcase_add_test(tc, test_cr_at_piece_end_then_lf_is_one_line_end);
    tcase_add_test(tc, test_field_syntax_drops_one_space_and_joins_data_lines);
    tcase_add_test(tc, test_comments_and_dataless_blocks_are_handed_over_with_null_data);
    tcase_add_test(tc, test_id_is_kept_and_retry_ignored);
    tcase_add_test(tc, test_event_over_max_is_toobig_and_pending_keeps_the_rest);
    tcase_add_test(tc, test_stop_from_the_callback);
    tcase_add_test(tc, test_pending_at_eof_is_the_truncated_event);
    tcase_add_test(tc, test_binary_garbage_never_crashes_and_keeps_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
