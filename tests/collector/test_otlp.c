/*
 * test_otlp: the OTLP/JSON walker (request validation, partial rejection with
 * counts and messages, resource and scope applied to every span below them)
 * and the GenAI log-event decoder. Log cases are files under tests/data/otlp/
 * (logs_*.json) with a "_comment" and an "_expect" block run_logs_case checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/otlp.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "tests/support/testutil.h"

#define ELLIPSIS "\xe2\x80\xa6"

static cJSON *parse_text(const char *txt)
{
    char err[128];
    cJSON *j = jsonx_parse(txt, strlen(txt), err, sizeof(err));
    ck_assert_msg(j != NULL, "bad JSON in test: %s", err);
    return j;
}

/* Decode the traces request 'txt'; returns the rc, fills 'b' and 'res'. */
static int decode_traces(const char *txt, struct ingest_batch *b, struct otlp_result *res)
{
    cJSON *req = parse_text(txt);
    ingest_batch_init(b);
    int rc = otlp_traces_decode(req, b, res);
    cJSON_Delete(req);
    return rc;
}

static const char *attr_text(const struct span *s, const char *key, char *out, size_t n)
{
    cJSON *a = parse_text(s->attributes);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    char *t = v ? jsonx_print(v) : NULL;
    snprintf(out, n, "%s", t ? t : "(absent)");
    free(t);
    cJSON_Delete(a);
    return out;
}

#define SPAN(tid, sid, extra)                                                                      \
    "{\"traceId\":\"" tid "\",\"spanId\":\"" sid "\",\"name\":\"s\",\"startTimeUnixNano\":\"10\"," \
    "\"endTimeUnixNano\":\"20\"" extra "}"
#define TID "4f9c2b7e1a3d4c8b9e0f112233445566"
#define REQ(spans) "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" spans "]}]}]}"

/* ---- traces walker ---- */

START_TEST(test_walker_counts_partial_rejections_and_names_them)
{
    struct ingest_batch b;
    struct otlp_result res;
    int rc = decode_traces(
        REQ(SPAN(TID, "a1b2c3d4e5f60718", "") "," SPAN(
            TID, "a1b2c3d4e5f6", "") ","
                                     "{\"traceId\":\"" TID
                                     "\",\"spanId\":\"0f1e2d3c4b5a6978\",\"name\":42},"
                                     "{\"traceId\":\"" TID "\",\"spanId\":\"0f1e2d3c4b5a6979\","
                                     "\"startTimeUnixNano\":\"20\",\"endTimeUnixNano\":\"10\"},"
                                     "{\"traceId\":7,\"spanId\":\"0f1e2d3c4b5a6970\"}," SPAN(
                                         TID, "7c6b5a4938271605", ",\"parentSpanId\":\"\"")),
        &b, &res);
    ck_assert_int_eq(rc, LT_OK);
    ck_assert_int_eq(res.accepted, 2);
    ck_assert_int_eq(res.rejected, 4);
    ck_assert_str_eq(res.message, "span 1 (trace 4f9c2b7e" ELLIPSIS "): invalid spanId length 12; "
                                  "span 2 (trace 4f9c2b7e" ELLIPSIS "): name is not a string; "
                                  "span 3 (trace 4f9c2b7e" ELLIPSIS "): endTimeUnixNano before "
                                  "startTimeUnixNano; span 4: traceId is not a string");
    ck_assert_uint_eq(b.nspans, 2);
    ck_assert_str_eq(b.spans[0].span.span_id, "a1b2c3d4e5f60718");
    ck_assert_str_eq(b.spans[1].span.span_id, "7c6b5a4938271605");
    ck_assert_str_eq(b.spans[1].span.parent_span_id, "");
    ck_assert_int_eq(b.spans[1].op, REC_INSERT);
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_walker_rejects_wrongly_typed_span_fields)
{
    static const char *const cases[][2] = {
        {SPAN(TID, "a1b2c3d4e5f60718", ",\"attributes\":{}"), "attributes is not an array"},
        {SPAN(TID, "a1b2c3d4e5f60718", ",\"events\":\"x\""), "events is not an array"},
        {SPAN(TID, "a1b2c3d4e5f60718", ",\"kind\":\"SPAN_KIND_CLIENT\""), "kind is not a number"},
        {SPAN(TID, "a1b2c3d4e5f60718", ",\"status\":{\"code\":\"2\"}"),
         "status.code is not a number"},
        {"{\"traceId\":\"" TID "\",\"spanId\":\"a1b2c3d4e5f60718\",\"startTimeUnixNano\":\"soon\"}",
         "invalid startTimeUnixNano"},
        {"{\"traceId\":\"" TID "\"}", "missing spanId"},
        {SPAN(TID, "a1b2c3d4e5f60718", ",\"parentSpanId\":\"xyz\""),
         "invalid parentSpanId length 3"},
        {SPAN("4f9c2b7e1a3d4c8b9e0f11223344556g", "a1b2c3d4e5f60718", ""),
         "invalid traceId (not hex)"},
        {"\"a span\"", "span is not an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ingest_batch b;
        struct otlp_result res;
        char *req = malloc(strlen(cases[i][0]) + 128);
        sprintf(req, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[%s]}]}]}", cases[i][0]);
        ck_assert_int_eq(decode_traces(req, &b, &res), LT_OK);
        ck_assert_msg(res.rejected == 1 && res.accepted == 0 && b.nspans == 0, "case %zu", i);
        ck_assert_msg(strstr(res.message, cases[i][1]), "case %zu: '%s' lacks '%s'", i, res.message,
                      cases[i][1]);
        ingest_batch_release(&b);
        free(req);
    }
}
END_TEST

START_TEST(test_walker_rejects_requests_that_are_not_export_requests)
{
    static const char *const bad[] = {"[]", "\"x\"", "42", "{\"resourceSpans\":{}}",
                                      "{\"resourceSpans\":\"none\"}"};
    struct ingest_batch b;
    struct otlp_result res;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(decode_traces(bad[i], &b, &res), LT_INVALID_INPUT);
        ck_assert_uint_eq(ingest_count(&b), 0);
        ck_assert_int_eq(res.accepted, 0);
        ck_assert_msg(res.message[0] != '\0', "no reason for %s", bad[i]);
        ingest_batch_release(&b);
    }
    /* empty requests are fine */
    ck_assert_int_eq(decode_traces("{}", &b, &res), LT_OK);
    ck_assert_int_eq(res.accepted + res.rejected, 0);
    ingest_batch_release(&b);
    ck_assert_int_eq(decode_traces("{\"resourceSpans\":null}", &b, &res), LT_OK);
    ingest_batch_release(&b);
    /* logs likewise */
    cJSON *req = parse_text("{\"resourceLogs\":{}}");
    ingest_batch_init(&b);
    ck_assert_int_eq(otlp_logs_decode(req, &b, &res), LT_INVALID_INPUT);
    ck_assert_str_eq(res.message, "resourceLogs is not an array");
    cJSON_Delete(req);
    ingest_batch_release(&b);
}
END_TEST

/* Two resources; the first has two scopes, one with attributes. */
#define RES_A                                                                                      \
    "{\"resource\":{\"attributes\":["                                                              \
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"a\"}},"                                \
    "{\"key\":\"llmtap.project\",\"value\":{\"stringValue\":\"pa\"}},"                             \
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}}]},"                                \
    "\"scopeSpans\":[{\"scope\":{\"name\":\"s1\",\"version\":\"1\",\"attributes\":["               \
    "{\"key\":\"lib.flag\",\"value\":{\"boolValue\":true}}]},\"spans\":[" SPAN_OWN_HOST "," SPAN_2 \
    "]},{\"scope\":{\"name\":\"s2\"},\"spans\":[" SPAN_3 "]}]}"
#define RES_B                                                                                      \
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"b\"}}]" \
    "},"                                                                                           \
    "\"scopeSpans\":[{\"spans\":[" SPAN_4 "]}]}"
#define SPAN_OWN_HOST                                                                              \
    SPAN(TID, "0000000000000001",                                                                  \
         ",\"attributes\":[{\"key\":\"host.name\",\"value\":{\"stringValue\":\"own\"}}]")
#define SPAN_2 SPAN(TID, "0000000000000002", "")
#define SPAN_3 SPAN(TID, "0000000000000003", "")
#define SPAN_4 SPAN(TID, "0000000000000004", "")

START_TEST(test_walker_applies_resource_and_scope_to_each_span)
{
    struct ingest_batch b;
    struct otlp_result res;
    char t[128];
    const char *txt = "{\"resourceSpans\":[" RES_A "," RES_B "]}";
    ck_assert_int_eq(decode_traces(txt, &b, &res), LT_OK);
    ck_assert_int_eq(res.accepted, 4);
    const struct span *s1 = &b.spans[0].span, *s2 = &b.spans[1].span, *s3 = &b.spans[2].span,
                      *s4 = &b.spans[3].span;
    ck_assert_str_eq(s1->service_name, "a");
    ck_assert_str_eq(s2->service_name, "a");
    ck_assert_str_eq(s3->service_name, "a");
    ck_assert_str_eq(s4->service_name, "b");
    ck_assert_str_eq(s1->project, "pa");
    ck_assert_str_eq(s3->project, "pa");
    ck_assert_ptr_null(s4->project);
    ck_assert_str_eq(attr_text(s1, "otel.scope.name", t, sizeof(t)), "\"s1\"");
    ck_assert_str_eq(attr_text(s2, "scope.lib.flag", t, sizeof(t)), "true");
    ck_assert_str_eq(attr_text(s3, "otel.scope.name", t, sizeof(t)), "\"s2\"");
    ck_assert_str_eq(attr_text(s3, "scope.lib.flag", t, sizeof(t)), "(absent)");
    ck_assert_str_eq(attr_text(s3, "otel.scope.version", t, sizeof(t)), "(absent)");
    ck_assert_str_eq(attr_text(s2, "resource.host.name", t, sizeof(t)), "\"h1\"");
    ck_assert_str_eq(attr_text(s2, "resource.llmtap.project", t, sizeof(t)), "\"pa\"");
    ck_assert_str_eq(attr_text(s1, "host.name", t, sizeof(t)), "\"own\"");
    ck_assert_str_eq(attr_text(s4, "resource.host.name", t, sizeof(t)), "(absent)");
    ck_assert_str_eq(attr_text(s4, "otel.scope.name", t, sizeof(t)), "(absent)");
    ck_assert_str_eq(attr_text(s1, "resource.service.name", t, sizeof(t)), "(absent)");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_walker_message_is_bounded_and_ends_on_a_whole_note)
{
    struct buf req;
    struct ingest_batch b;
    struct otlp_result res;
    buf_init(&req, 0);
    ck_assert_int_eq(buf_puts(&req, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(
            buf_printf(&req, "%s{\"traceId\":\"%032d\",\"spanId\":\"abc\"}", i ? "," : "", i + 1),
            0);
    ck_assert_int_eq(buf_puts(&req, "]}]}]}"), 0);
    ck_assert_int_eq(decode_traces(buf_str(&req), &b, &res), LT_OK);
    ck_assert_int_eq(res.rejected, 100);
    ck_assert_int_eq(res.accepted, 0);
    size_t len = strlen(res.message);
    ck_assert_uint_lt(len, sizeof(res.message));
    ck_assert_uint_gt(len, 300);
    ck_assert_str_eq(res.message + len - strlen("; " ELLIPSIS), "; " ELLIPSIS);
    ck_assert_ptr_nonnull(strstr(res.message, "span 0 (trace 00000000" ELLIPSIS
                                              "): invalid spanId length 3; span 1 "));
    ingest_batch_release(&b);
    buf_release(&req);
}
END_TEST

START_TEST(test_walker_notes_malformed_containers_without_failing)
{
    struct ingest_batch b;
    struct otlp_result res;
    ck_assert_int_eq(
        decode_traces(
            "{\"resourceSpans\":[{\"scopeSpans\":\"x\"},{\"scopeSpans\":[{\"spans\":{}}]},"
            "{\"scopeSpans\":[{\"spans\":[" SPAN(TID, "a1b2c3d4e5f60718", "") "]}]}]}",
            &b, &res),
        LT_OK);
    ck_assert_int_eq(res.accepted, 1);
    ck_assert_int_eq(res.rejected, 0);
    ck_assert_str_eq(res.message, "resourceSpans 0: scopeSpans is not an array; "
                                  "scopeSpans 0: spans is not an array");
    ingest_batch_release(&b);
}
END_TEST

/* ---- logs ---- */

static void expect_logmsg(const struct rec_logmsg *m, const cJSON *exp, size_t idx)
{
    int64_t v;
    for (const cJSON *e = exp->child; e; e = e->next) {
        const char *k = e->string;
        if (!strcmp(k, "trace_id")) {
            ck_assert_str_eq(m->trace_id, e->valuestring);
        } else if (!strcmp(k, "span_id")) {
            ck_assert_str_eq(m->span_id, e->valuestring);
        } else if (!strcmp(k, "time_ns")) {
            ck_assert_int_eq(jsonx_int64(e, &v), 0);
            ck_assert_int_eq(m->time_ns, v);
        } else if (!strcmp(k, "seq")) {
            ck_assert_int_eq(m->seq, e->valueint);
        } else if (!strcmp(k, "is_output")) {
            ck_assert_msg(m->is_output == e->valueint, "message %zu is_output", idx);
        } else if (!strcmp(k, "project")) {
            if (cJSON_IsNull(e))
                ck_assert_ptr_null(m->project);
            else
                ck_assert_str_eq(m->project, e->valuestring);
        } else if (!strcmp(k, "message")) {
            cJSON *got = parse_text(m->message);
            char *want = jsonx_print(e);
            ck_assert_msg(cJSON_Compare(e, got, 1), "message %zu:\n  got  %s\n  want %s", idx,
                          m->message, want);
            free(want);
            cJSON_Delete(got);
        } else {
            ck_abort_msg("unknown expectation '%s'", k);
        }
    }
}

static void run_logs_case(const char *file)
{
    char path[256];
    size_t len;
    struct ingest_batch b;
    struct otlp_result res;
    snprintf(path, sizeof(path), "tests/data/otlp/%s", file);
    char *txt = tu_read_file(path, &len);
    ck_assert_msg(txt != NULL, "cannot read %s", path);
    cJSON *req = parse_text(txt);
    free(txt);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(req, "_expect");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(exp, "messages");
    const cJSON *has = cJSON_GetObjectItemCaseSensitive(exp, "message_has");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(exp, "message");
    ck_assert_ptr_nonnull(jsonx_str(req, "_comment"));
    ingest_batch_init(&b);
    ck_assert_int_eq(otlp_logs_decode(req, &b, &res), LT_OK);
    ck_assert_int_eq(res.accepted, cJSON_GetObjectItemCaseSensitive(exp, "accepted")->valueint);
    ck_assert_int_eq(res.rejected, cJSON_GetObjectItemCaseSensitive(exp, "rejected")->valueint);
    if (msg)
        ck_assert_str_eq(res.message, msg->valuestring);
    for (const cJSON *h = has ? has->child : NULL; h; h = h->next)
        ck_assert_msg(strstr(res.message, h->valuestring), "message '%s' lacks '%s'", res.message,
                      h->valuestring);
    ck_assert_uint_eq(b.nspans, 0);
    ck_assert_int_eq(b.nmsgs, cJSON_GetArraySize(msgs));
    size_t i = 0;
    for (const cJSON *e = msgs->child; e; e = e->next, i++)
        expect_logmsg(&b.msgs[i], e, i);
    ingest_batch_release(&b);
    cJSON_Delete(req);
}

START_TEST(test_logs_v128_events_become_messages_in_order)
{
    run_logs_case("logs_v128_events.json");
}
END_TEST

START_TEST(test_logs_v137_details_event_gives_one_record_per_message)
{
    run_logs_case("logs_v137_details.json");
}
END_TEST

START_TEST(test_logs_without_valid_ids_are_rejected_others_ignored)
{
    run_logs_case("logs_invalid_ids.json");
}
END_TEST

static Suite *otlp_suite(void)
{
    Suite *s = suite_create("otlp");
    TCase *t = tcase_create("traces"), *l = tcase_create("logs");
    tcase_add_test(t, test_walker_counts_partial_rejections_and_names_them);
    tcase_add_test(t, test_walker_rejects_wrongly_typed_span_fields);
    tcase_add_test(t, test_walker_rejects_requests_that_are_not_export_requests);
    tcase_add_test(t, test_walker_applies_resource_and_scope_to_each_span);
    tcase_add_test(t, test_walker_message_is_bounded_and_ends_on_a_whole_note);
    tcase_add_test(t, test_walker_notes_malformed_containers_without_failing);
    tcase_add_test(l, test_logs_v128_events_become_messages_in_order);
    tcase_add_test(l, test_logs_v137_details_event_gives_one_record_per_message);
    tcase_add_test(l, test_logs_without_valid_ids_are_rejected_others_ignored);
    suite_add_tcase(s, t);
    suite_add_tcase(s, l);
    return s;
}

int main(void)
{
    return tu_run(otlp_suite());
}
