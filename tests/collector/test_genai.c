/*
 * test_genai: the dialect mapping of OTLP spans to canonical spans. The three
 * shared payloads are checked field by field; each case file under
 * tests/data/otlp/ is a request plus an "_expect" block (and a "_comment"
 * saying what it covers) that run_case checks, refusing unknown expectation
 * keys so a typo cannot pass silently. Unit tests cover the AnyValue
 * flattener and the canonical message format.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/genai.h"
#include "collector/otlp.h"
#include "core/err.h"
#include "core/jsonx.h"
#include "core/vset.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"

/* ---- helpers ---- */

static cJSON *parse_text(const char *txt)
{
    char err[128];
    cJSON *j = jsonx_parse(txt, strlen(txt), err, sizeof(err));
    ck_assert_msg(j != NULL, "bad JSON in test: %s: %s", err, txt);
    return j;
}

static cJSON *load_json(const char *path)
{
    size_t len;
    char err[128];
    char *txt = tu_read_file(path, &len);
    ck_assert_msg(txt != NULL, "cannot read %s", path);
    cJSON *j = jsonx_parse(txt, len, err, sizeof(err));
    free(txt);
    ck_assert_msg(j != NULL, "%s: %s", path, err);
    return j;
}

/* Decode the traces request in 'path' into 'b' (caller releases). */
static void decode_file(const char *path, struct ingest_batch *b, struct otlp_result *res)
{
    cJSON *req = load_json(path);
    ingest_batch_init(b);
    ck_assert_int_eq(otlp_traces_decode(req, b, res), LT_OK);
    cJSON_Delete(req);
}

/* 'actual' (JSON text or NULL) must equal 'expected' (NULL or a JSON null
 * meaning absent). */
static void expect_json(const char *what, const char *actual, const cJSON *expected)
{
    if (!expected || cJSON_IsNull(expected)) {
        ck_assert_msg(actual == NULL, "%s: expected absent, got %s", what, actual);
        return;
    }
    ck_assert_msg(actual != NULL, "%s: absent", what);
    cJSON *got = parse_text(actual);
    char *want = jsonx_print(expected);
    ck_assert_msg(cJSON_Compare(expected, got, 1), "%s:\n  got  %s\n  want %s", what, actual, want);
    free(want);
    cJSON_Delete(got);
}

static void expect_json_text(const char *what, const char *actual, const char *expected)
{
    cJSON *e = parse_text(expected);
    expect_json(what, actual, e);
    cJSON_Delete(e);
}

/* The attributes object of 's' must hold 'key' equal to the JSON 'value'. */
static void expect_attr(const struct span *s, const char *key, const char *value)
{
    cJSON *attrs = parse_text(s->attributes), *want = parse_text(value);
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(attrs, key);
    ck_assert_msg(got != NULL, "attribute %s missing from %s", key, s->attributes);
    ck_assert_msg(cJSON_Compare(want, got, 1), "attribute %s: want %s in %s", key, value,
                  s->attributes);
    cJSON_Delete(want);
    cJSON_Delete(attrs);
}

static void expect_no_attr(const struct span *s, const char *key)
{
    cJSON *attrs = parse_text(s->attributes);
    ck_assert_msg(!cJSON_GetObjectItemCaseSensitive(attrs, key), "attribute %s kept in %s", key,
                  s->attributes);
    cJSON_Delete(attrs);
}

static void expect_usage(const struct span *s, int64_t in, int64_t out, int64_t cr, int64_t cw,
                         int64_t rs)
{
    ck_assert_int_eq(s->usage.input_tokens, in);
    ck_assert_int_eq(s->usage.output_tokens, out);
    ck_assert_int_eq(s->usage.cache_read_tokens, cr);
    ck_assert_int_eq(s->usage.cache_write_tokens, cw);
    ck_assert_int_eq(s->usage.reasoning_tokens, rs);
}

#define ck_assert_str_null(x) ck_assert_msg((x) == NULL, #x " is %s, want NULL", (x))

/* ---- the shared payloads, field by field ---- */

START_TEST(test_genai_payload_root_span_keeps_http_attributes_and_people)
{
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/otlp-genai-span.json"), &b, &res);
    ck_assert_int_eq(res.accepted, 3);
    ck_assert_int_eq(res.rejected, 0);
    ck_assert_str_eq(res.message, "");
    ck_assert_uint_eq(b.nspans, 3);
    const struct span *s = &b.spans[0].span;
    ck_assert_int_eq(b.spans[0].op, REC_INSERT);
    ck_assert_str_eq(s->trace_id, "4f9c2b7e1a3d4c8b9e0f112233445566");
    ck_assert_str_eq(s->span_id, "a1b2c3d4e5f60718");
    ck_assert_str_eq(s->parent_span_id, "");
    ck_assert_str_eq(s->name, "POST /v1/support/chat");
    ck_assert_int_eq(s->kind, SPAN_KIND_OTHER);
    ck_assert_int_eq(s->start_ns, 1772460307120456000LL);
    ck_assert_int_eq(s->end_ns, 1772460310073456000LL);
    ck_assert_int_eq(s->status, SPAN_STATUS_OK);
    ck_assert_str_eq(s->user_id, "u_7731");
    ck_assert_str_eq(s->session_id, "sess_20260302_91f");
    ck_assert_str_eq(s->service_name, "support-bot");
    ck_assert_str_eq(s->service_version, "2.3.1");
    ck_assert_str_null(s->project);
    ck_assert_str_null(s->provider);
    ck_assert_str_null(s->model);
    ck_assert_str_null(s->input);
    ck_assert_str_null(s->params);
    expect_usage(s, -1, -1, -1, -1, -1);
    ck_assert(!s->has_cost);
    ck_assert(isnan(s->ttft_ms));
    expect_attr(s, "http.request.method", "\"POST\"");
    expect_attr(s, "http.response.status_code", "200");
    expect_attr(s, "otel.scope.name", "\"support_bot.http\"");
    expect_attr(s, "resource.deployment.environment.name", "\"staging\"");
    expect_no_attr(s, "user.id");
    expect_no_attr(s, "session.id");
    expect_no_attr(s, "resource.service.name");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_genai_payload_429_attempt_is_error_with_exception_message)
{
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/otlp-genai-span.json"), &b, &res);
    const struct span *s = &b.spans[1].span;
    ck_assert_str_eq(s->span_id, "0f1e2d3c4b5a6978");
    ck_assert_str_eq(s->parent_span_id, "a1b2c3d4e5f60718");
    ck_assert_int_eq(s->status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s->error_code, "429");
    ck_assert_str_eq(
        s->error_message,
        "Error code: 429 - Rate limit reached for gpt-4o-mini on requests per min (RPM)");
    ck_assert_int_eq(s->kind, SPAN_KIND_LLM);
    ck_assert_str_eq(s->provider, "openai");
    ck_assert_str_eq(s->model, "gpt-4o-mini");
    ck_assert_str_null(s->response_model);
    expect_usage(s, -1, -1, -1, -1, -1);
    ck_assert(isnan(s->ttft_ms));
    ck_assert(!s->has_cost);
    ck_assert_str_null(s->input);
    ck_assert_str_null(s->output);
    ck_assert_str_null(s->user_id);
    ck_assert_str_null(s->session_id);
    expect_json_text("params", s->params,
                     "{\"temperature\":0.2,\"max_tokens\":256,\"stream\":true}");
    expect_no_attr(s, "error.type");
    expect_attr(s, "server.address", "\"api.openai.com\"");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_genai_payload_chat_span_maps_usage_ttft_and_messages)
{
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/otlp-genai-span.json"), &b, &res);
    const struct span *s = &b.spans[2].span;
    ck_assert_str_eq(s->span_id, "7c6b5a4938271605");
    ck_assert_str_eq(s->name, "chat gpt-4o-mini");
    ck_assert_int_eq(s->kind, SPAN_KIND_LLM);
    ck_assert_int_eq(s->status, SPAN_STATUS_OK);
    ck_assert_str_eq(s->provider, "openai");
    ck_assert_str_eq(s->model, "gpt-4o-mini");
    ck_assert_str_eq(s->response_model, "gpt-4o-mini-2024-07-18");
    expect_usage(s, 412, 19, 256, -1, -1);
    ck_assert_double_eq_tol(s->ttft_ms, 412.0, 1e-9);
    ck_assert_str_eq(s->finish_reason, "stop");
    ck_assert_str_eq(s->session_id, "conv_9r2KxW7qLpT3");
    ck_assert_str_null(s->user_id); /* only what is on the span: no inheritance */
    ck_assert_str_eq(s->service_name, "support-bot");
    ck_assert_str_eq(s->service_version, "2.3.1");
    ck_assert(!s->has_cost);
    ck_assert_str_null(s->version_set);
    expect_json_text("params", s->params,
                     "{\"temperature\":0.2,\"max_tokens\":256,\"stream\":true}");
    expect_json_text(
        "input", s->input,
        "[{\"role\":\"system\",\"content\":\"You are a concise support assistant for Acme Shop.\"},"
        "{\"role\":\"user\",\"content\":\"My order #A-1042 has not arrived. Can you check it?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_Qm3d9x\","
        "\"name\":\"lookup_order\",\"arguments\":{\"order_id\":\"A-1042\"}}]},"
        "{\"role\":\"tool\",\"content\":\"{\\\"status\\\":\\\"in_transit\\\",\\\"eta\\\":"
        "\\\"2026-03-04\\\"}\",\"tool_call_id\":\"call_Qm3d9x\"}]");
    expect_json_text("output", s->output,
                     "{\"role\":\"assistant\",\"content\":\"Your order A-1042 is in transit and "
                     "should arrive on March 4.\",\"finish_reason\":\"stop\"}");
    expect_attr(s, "gen_ai.response.id", "\"chatcmpl-C7xq2LrV9kT0aZ4mB1nE\"");
    expect_attr(s, "gen_ai.response.finish_reasons", "[\"stop\"]");
    expect_attr(s, "openai.response.system_fingerprint", "\"fp_3c1e9a7d42\"");
    expect_attr(s, "otel.scope.version", "\"2.1b0\"");
    expect_attr(s, "resource.telemetry.sdk.version", "\"1.38.0\"");
    expect_no_attr(s, "gen_ai.input.messages");
    expect_no_attr(s, "gen_ai.output.messages");
    expect_no_attr(s, "gen_ai.system_instructions");
    expect_no_attr(s, "gen_ai.usage.input_tokens");
    expect_no_attr(s, "gen_ai.request.model");
    expect_no_attr(s, "gen_ai.conversation.id");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_openllmetry_payload_workflow_span_is_a_chain)
{
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/otlp-openllmetry-span.json"), &b, &res);
    ck_assert_int_eq(res.accepted, 2);
    const struct span *s = &b.spans[0].span;
    ck_assert_str_eq(s->name, "summarize.workflow");
    ck_assert_int_eq(s->kind, SPAN_KIND_CHAIN);
    ck_assert_str_eq(s->user_id, "u_1209");
    ck_assert_str_eq(s->session_id, "chat_55d0");
    ck_assert_str_eq(s->service_name, "doc-summarizer");
    ck_assert_str_eq(s->service_version, "0.9.4");
    ck_assert_str_null(s->model);
    ck_assert_str_null(s->input);
    expect_usage(s, -1, -1, -1, -1, -1);
    /* traceloop.* stays in the attributes even where it was mapped */
    expect_attr(s, "traceloop.span.kind", "\"workflow\"");
    expect_attr(s, "traceloop.association.properties.user_id", "\"u_1209\"");
    expect_attr(s, "traceloop.entity.input",
                "\"{\\\"args\\\": [], \\\"kwargs\\\": {\\\"doc_id\\\": "
                "\\\"kb-881\\\"}}\"");
    expect_attr(s, "otel.scope.name", "\"traceloop.tracer\"");
    expect_no_attr(s, "otel.scope.version");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_openllmetry_payload_chat_span_maps_legacy_names)
{
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/otlp-openllmetry-span.json"), &b, &res);
    const struct span *s = &b.spans[1].span;
    ck_assert_str_eq(s->parent_span_id, "1122334455667788");
    ck_assert_int_eq(s->kind, SPAN_KIND_LLM);
    ck_assert_str_eq(s->provider, "openai");
    ck_assert_str_eq(s->model, "gpt-4o");
    ck_assert_str_eq(s->response_model, "gpt-4o-2024-08-06");
    expect_usage(s, 119, 42, 0, -1, -1);
    ck_assert_str_eq(s->finish_reason, "stop");
    ck_assert(isnan(s->ttft_ms));
    ck_assert_str_eq(s->user_id, "u_1209");
    expect_json_text("params", s->params,
                     "{\"temperature\":0.3,\"max_tokens\":300,\"stream\":false}");
    expect_json_text("input", s->input,
                     "[{\"role\":\"system\",\"content\":\"Summarize the document in three "
                     "bullets.\"},{\"role\":\"user\",\"content\":\"Refund policy: items may be "
                     "returned within 30 days ...\"}]");
    expect_json_text("output", s->output,
                     "{\"role\":\"assistant\",\"content\":\"- Returns accepted within 30 days\\n- "
                     "Original receipt required\\n- Refund to original payment method\","
                     "\"finish_reason\":\"stop\"}");
    expect_attr(s, "gen_ai.response.id", "\"chatcmpl-BzK81pQ3nZ\"");
    expect_attr(s, "gen_ai.openai.system_fingerprint", "\"fp_7d0e4b19a5\"");
    expect_attr(s, "llm.usage.total_tokens", "161");
    expect_no_attr(s, "gen_ai.prompt.0.content");
    expect_no_attr(s, "gen_ai.completion.0.content");
    expect_no_attr(s, "gen_ai.usage.prompt_tokens");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_openinference_payload_chain_span_keeps_json_input_and_tags)
{
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/openinference-span.json"), &b, &res);
    ck_assert_int_eq(res.accepted, 2);
    const struct span *s = &b.spans[0].span;
    ck_assert_str_eq(s->name, "RunnableSequence");
    ck_assert_int_eq(s->kind, SPAN_KIND_CHAIN);
    ck_assert_str_eq(s->project, "docs-qa-prod");
    ck_assert_str_eq(s->service_name, "docs-qa");
    ck_assert_str_null(s->service_version);
    ck_assert_str_eq(s->user_id, "u_4410");
    ck_assert_str_eq(s->session_id, "sess_b81e");
    expect_json_text("tags", s->tags, "[\"docs\",\"prod\"]");
    expect_json_text("input", s->input, "{\"question\":\"How do I rotate an API key?\"}");
    expect_json_text("output", s->output,
                     "\"Use POST /v2/keys/{id}/rotate; the old key stays valid for 24 hours "
                     "(section 4.2).\"");
    expect_attr(s, "metadata",
                "\"{\\\"release\\\": \\\"2026.03.1\\\", \\\"tenant\\\": "
                "\\\"acme\\\"}\"");
    expect_attr(s, "resource.openinference.project.name", "\"docs-qa-prod\"");
    expect_no_attr(s, "input.value");
    expect_no_attr(s, "tag.tags");
    ingest_batch_release(&b);
}
END_TEST

START_TEST(test_openinference_payload_anthropic_span_counts_cache_in_input)
{
    struct ingest_batch b;
    struct otlp_result res;
    char hash[9];
    const char *schema = "[{\"type\": \"function\", \"function\": {\"name\": \"search_docs\", "
                         "\"description\": \"Full-text search over the API docs\", \"parameters\": "
                         "{\"type\": \"object\", \"properties\": {\"q\": {\"type\": \"string\"}}, "
                         "\"required\": [\"q\"]}}}]";
    decode_file(tu_shared("payloads/openinference-span.json"), &b, &res);
    const struct span *s = &b.spans[1].span;
    ck_assert_str_eq(s->parent_span_id, "5a5a5a5a00000001");
    ck_assert_int_eq(s->kind, SPAN_KIND_LLM);
    ck_assert_str_eq(s->provider, "anthropic");
    ck_assert_str_eq(s->model, "claude-sonnet-4-5-20250929");
    ck_assert_str_eq(s->project, "docs-qa-prod");
    expect_usage(s, 1830, 96, 1536, 0, -1);
    ck_assert_str_eq(s->finish_reason, "end_turn");
    ck_assert_str_eq(s->user_id, "u_4410");
    ck_assert_str_eq(s->session_id, "sess_b81e");
    ck_assert_int_eq(vset_params_hash(schema, hash), 0);
    char *params = xasprintf("{\"temperature\":0,\"max_tokens\":1024,\"tools_hash\":\"%s\"}", hash);
    expect_json_text("params", s->params, params);
    free(params);
    expect_json_text("input", s->input,
                     "[{\"role\":\"system\",\"content\":\"You answer questions about the Acme API. "
                     "Cite the section you used.\"},{\"role\":\"user\",\"content\":\"How do I "
                     "rotate an API key?\"}]");
    expect_json_text("output", s->output,
                     "{\"role\":\"assistant\",\"content\":\"Use POST /v2/keys/{id}/rotate; the old "
                     "key stays valid for 24 hours (section 4.2).\"}");
    expect_attr(s, "llm.finish_reason", "\"end_turn\"");
    expect_attr(s, "llm.token_count.total", "1926");
    expect_no_attr(s, "llm.input_messages.0.message.content");
    expect_no_attr(s, "input.value");
    expect_no_attr(s, "llm.token_count.prompt");
    ingest_batch_release(&b);
}
END_TEST

/* ---- declarative case files ---- */

enum fkind { F_STR, F_ID, F_JSON, F_I64, F_DBL, F_BOOL, F_KIND, F_STATUS };

struct field {
    const char *name;
    enum fkind kind;
    size_t off;
};

#define SF(f) offsetof(struct span, f)
static const struct field fields[] = {
    {"trace_id", F_ID, SF(trace_id)},
    {"span_id", F_ID, SF(span_id)},
    {"parent_span_id", F_ID, SF(parent_span_id)},
    {"project", F_STR, SF(project)},
    {"name", F_STR, SF(name)},
    {"kind", F_KIND, SF(kind)},
    {"start_ns", F_I64, SF(start_ns)},
    {"end_ns", F_I64, SF(end_ns)},
    {"provider", F_STR, SF(provider)},
    {"model", F_STR, SF(model)},
    {"response_model", F_STR, SF(response_model)},
    {"input", F_JSON, SF(input)},
    {"output", F_JSON, SF(output)},
    {"input_tokens", F_I64, SF(usage.input_tokens)},
    {"output_tokens", F_I64, SF(usage.output_tokens)},
    {"cache_read_tokens", F_I64, SF(usage.cache_read_tokens)},
    {"cache_write_tokens", F_I64, SF(usage.cache_write_tokens)},
    {"reasoning_tokens", F_I64, SF(usage.reasoning_tokens)},
    {"has_cost", F_BOOL, SF(has_cost)},
    {"cost_nusd", F_I64, SF(cost_nusd)},
    {"ttft_ms", F_DBL, SF(ttft_ms)},
    {"status", F_STATUS, SF(status)},
    {"error_code", F_STR, SF(error_code)},
    {"error_message", F_STR, SF(error_message)},
    {"user_id", F_STR, SF(user_id)},
    {"session_id", F_STR, SF(session_id)},
    {"tenant", F_STR, SF(tenant)},
    {"version_set", F_STR, SF(version_set)},
    {"prompt_name", F_STR, SF(prompt_name)},
    {"prompt_version", F_I64, SF(prompt_version)},
    {"prompt_vars", F_JSON, SF(prompt_vars)},
    {"params", F_JSON, SF(params)},
    {"tags", F_JSON, SF(tags)},
    {"attributes", F_JSON, SF(attributes)},
    {"service_name", F_STR, SF(service_name)},
    {"service_version", F_STR, SF(service_version)},
    {"service_tier", F_STR, SF(service_tier)},
    {"finish_reason", F_STR, SF(finish_reason)},
};

static void expect_field(const struct span *s, const struct field *f, const cJSON *want,
                         const char *label)
{
    const char *base = (const char *)s + f->off;
    int64_t i;
    switch (f->kind) {
    case F_STR:
    case F_ID: {
        const char *got = f->kind == F_ID ? base : *(char *const *)base;
        if (cJSON_IsNull(want))
            ck_assert_msg(got == NULL, "%s %s: got %s, want NULL", label, f->name, got);
        else
            ck_assert_msg(got && strcmp(got, want->valuestring) == 0, "%s %s: got %s, want %s",
                          label, f->name, got, want->valuestring);
        break;
    }
    case F_JSON:
        expect_json(f->name, *(char *const *)base, want);
        break;
    case F_I64:
        ck_assert_msg(jsonx_int64(want, &i) == 0, "%s: bad expectation for %s", label, f->name);
        ck_assert_msg(*(const int64_t *)base == i, "%s %s: got %lld, want %lld", label, f->name,
                      (long long)*(const int64_t *)base, (long long)i);
        break;
    case F_DBL:
        if (cJSON_IsNull(want))
            ck_assert_msg(isnan(*(const double *)base), "%s %s: got %g, want NaN", label, f->name,
                          *(const double *)base);
        else
            ck_assert_msg(fabs(*(const double *)base - want->valuedouble) < 1e-6,
                          "%s %s: got %g, want %g", label, f->name, *(const double *)base,
                          want->valuedouble);
        break;
    case F_BOOL:
        ck_assert_msg(*(const bool *)base == cJSON_IsTrue(want), "%s %s", label, f->name);
        break;
    case F_KIND:
        ck_assert_msg(strcmp(span_kind_name(s->kind), want->valuestring) == 0,
                      "%s kind: got %s, want %s", label, span_kind_name(s->kind),
                      want->valuestring);
        break;
    case F_STATUS:
        ck_assert_msg(strcmp(span_status_name(s->status), want->valuestring) == 0,
                      "%s status: got %s, want %s", label, span_status_name(s->status),
                      want->valuestring);
        break;
    }
}

/* Check the attribute expectations "attributes_has" / "attributes_lacks". */
static void expect_attrs(const struct span *s, const cJSON *has, const cJSON *lacks)
{
    cJSON *attrs = parse_text(s->attributes);
    for (const cJSON *h = has ? has->child : NULL; h; h = h->next) {
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(attrs, h->string);
        char *want = jsonx_print(h);
        ck_assert_msg(got && cJSON_Compare(h, got, 1), "attribute %s: want %s in %s", h->string,
                      want, s->attributes);
        free(want);
    }
    for (const cJSON *l = lacks ? lacks->child : NULL; l; l = l->next)
        ck_assert_msg(!cJSON_GetObjectItemCaseSensitive(attrs, l->valuestring),
                      "attribute %s kept in %s", l->valuestring, s->attributes);
    cJSON_Delete(attrs);
}

/* "tools_hash_of": the tool definitions whose hash params.tools_hash must be. */
static cJSON *params_with_tools_hash(const cJSON *params, const cJSON *tools)
{
    char hash[9];
    cJSON *p = cJSON_Duplicate(params, 1);
    char *txt = jsonx_print(tools);
    ck_assert_int_eq(vset_params_hash(txt, hash), 0);
    free(txt);
    cJSON_AddStringToObject(p, "tools_hash", hash);
    return p;
}

static void expect_span(const struct span *s, const cJSON *exp, size_t idx)
{
    char label[32];
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(exp, "tools_hash_of");
    snprintf(label, sizeof(label), "span %zu", idx);
    for (const cJSON *e = exp->child; e; e = e->next) {
        size_t i = 0;
        if (!strcmp(e->string, "attributes_has") || !strcmp(e->string, "attributes_lacks") ||
            !strcmp(e->string, "tools_hash_of"))
            continue;
        while (i < sizeof(fields) / sizeof(fields[0]) && strcmp(fields[i].name, e->string) != 0)
            i++;
        ck_assert_msg(i < sizeof(fields) / sizeof(fields[0]), "unknown expectation '%s'",
                      e->string);
        if (tools && !strcmp(e->string, "params")) {
            cJSON *p = params_with_tools_hash(e, tools);
            expect_json("params", s->params, p);
            cJSON_Delete(p);
        } else {
            expect_field(s, &fields[i], e, label);
        }
    }
    ck_assert_msg(!tools || cJSON_GetObjectItemCaseSensitive(exp, "params"),
                  "tools_hash_of needs params");
    expect_attrs(s, cJSON_GetObjectItemCaseSensitive(exp, "attributes_has"),
                 cJSON_GetObjectItemCaseSensitive(exp, "attributes_lacks"));
}

/* "_fill": replace attribute 'attribute' of the first span with 'bytes' x's. */
static void apply_fill(cJSON *req)
{
    const cJSON *fill = cJSON_GetObjectItemCaseSensitive(req, "_fill");
    if (!fill)
        return;
    const char *key = jsonx_str(fill, "attribute");
    int n = cJSON_GetObjectItemCaseSensitive(fill, "bytes")->valueint;
    const cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "resourceSpans"), 0);
    const cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    const cJSON *span = cJSON_GetArrayItem(cJSON_GetObjectItem(ss, "spans"), 0);
    char *big = xmalloc((size_t)n + 1);
    memset(big, 'x', (size_t)n);
    big[n] = '\0';
    for (cJSON *kv = cJSON_GetObjectItemCaseSensitive(span, "attributes")->child; kv; kv = kv->next)
        if (!strcmp(jsonx_str(kv, "key"), key))
            cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(kv, "value"),
                                                   "stringValue", cJSON_CreateString(big));
    free(big);
}

static void expect_message(const struct otlp_result *res, const cJSON *exp)
{
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(exp, "message");
    const cJSON *has = cJSON_GetObjectItemCaseSensitive(exp, "message_has");
    if (msg)
        ck_assert_str_eq(res->message, msg->valuestring);
    for (const cJSON *h = has ? has->child : NULL; h; h = h->next)
        ck_assert_msg(strstr(res->message, h->valuestring), "message '%s' lacks '%s'", res->message,
                      h->valuestring);
}

static void run_case(const char *file)
{
    char path[256];
    struct ingest_batch b;
    struct otlp_result res;
    snprintf(path, sizeof(path), "tests/data/otlp/%s", file);
    cJSON *req = load_json(path);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(req, "_expect");
    const cJSON *spans = cJSON_GetObjectItemCaseSensitive(exp, "spans");
    ck_assert_msg(jsonx_str(req, "_comment") != NULL, "%s: no _comment", file);
    ck_assert_msg(cJSON_IsArray(spans), "%s: no _expect.spans", file);
    apply_fill(req);
    ingest_batch_init(&b);
    ck_assert_int_eq(otlp_traces_decode(req, &b, &res), LT_OK);
    ck_assert_int_eq(res.accepted, cJSON_GetObjectItemCaseSensitive(exp, "accepted")->valueint);
    ck_assert_int_eq(res.rejected, cJSON_GetObjectItemCaseSensitive(exp, "rejected")->valueint);
    expect_message(&res, exp);
    ck_assert_int_eq(b.nspans, cJSON_GetArraySize(spans));
    size_t i = 0;
    for (const cJSON *e = spans->child; e; e = e->next, i++)
        expect_span(&b.spans[i].span, e, i);
    ingest_batch_release(&b);
    cJSON_Delete(req);
}

#define CASE_TEST(name, file)                                                                      \
    START_TEST(name)                                                                               \
    {                                                                                              \
        run_case(file);                                                                            \
    }                                                                                              \
    END_TEST

CASE_TEST(test_v127_span_events_carry_prompt_and_completion, "events_v127.json")
CASE_TEST(test_v137_structured_messages_become_canonical, "structured_messages_v137.json")
CASE_TEST(test_langfuse_attrs_map_usage_cost_ttft_and_prompt, "langfuse_attrs.json")
CASE_TEST(test_vercel_v4_maps_prompt_tokens_and_tool_calls, "vercel_v4.json")
CASE_TEST(test_vercel_v5_maps_cached_and_reasoning_tokens, "vercel_v5.json")
CASE_TEST(test_openllmetry_tool_calls_and_functions_hash, "openllmetry_tool_calls.json")
CASE_TEST(test_openinference_tool_calls_multimodal_and_kinds, "openinference_tools_multimodal.json")
CASE_TEST(test_base64_ids_become_hex, "base64_ids.json")
CASE_TEST(test_uppercase_ids_become_lowercase, "uppercase_ids.json")
CASE_TEST(test_all_zero_ids_are_rejected_but_zero_parent_is_root, "all_zero_ids.json")
CASE_TEST(test_intvalue_as_number_and_other_anyvalues, "intvalue_number.json")
CASE_TEST(test_start_time_as_number, "start_time_number.json")
CASE_TEST(test_missing_kind_status_and_attributes_default, "missing_kind.json")
CASE_TEST(test_unknown_fields_are_ignored, "unknown_fields.json")
CASE_TEST(test_empty_resource_spans_gives_no_spans, "empty_resource_spans.json")
CASE_TEST(test_repeated_attribute_key_last_wins, "repeated_key.json")
CASE_TEST(test_sparse_and_two_digit_indexes_order_numerically, "sparse_indexes.json")
CASE_TEST(test_attribute_cap_drops_largest_and_flags_truncation, "attribute_cap.json")
CASE_TEST(test_identity_version_set_tenant_and_tier, "identity_version_tenant.json")
CASE_TEST(test_exclusive_input_tokens_get_cache_added, "exclusive_input_tokens.json")

/* ---- the canonical message format ---- */

/* Every canonical message the mapping produced maps to itself again. */
static void expect_fixed_point(const char *what, const char *text)
{
    if (!text)
        return;
    cJSON *v = parse_text(text), *again;
    const cJSON *first = cJSON_IsArray(v) ? v->child : v;
    if (!cJSON_IsObject(first) || !jsonx_str(first, "role")) {
        cJSON_Delete(v); /* plain text or raw JSON, not messages */
        return;
    }
    again = genai_messages(v, "user");
    if (cJSON_IsObject(v))
        ck_assert_msg(again && cJSON_GetArraySize(again) == 1 && cJSON_Compare(v, again->child, 1),
                      "%s changed on a second pass: %s", what, text);
    else
        ck_assert_msg(again && cJSON_Compare(v, again, 1), "%s changed on a second pass: %s", what,
                      text);
    cJSON_Delete(again);
    cJSON_Delete(v);
}

START_TEST(test_canonical_messages_are_a_fixed_point)
{
    static const char *const files[] = {"tests/data/otlp/structured_messages_v137.json",
                                        "tests/data/otlp/vercel_v4.json",
                                        "tests/data/otlp/vercel_v5.json",
                                        "tests/data/otlp/openllmetry_tool_calls.json",
                                        "tests/data/otlp/openinference_tools_multimodal.json",
                                        "tests/data/otlp/langfuse_attrs.json",
                                        "tests/data/otlp/events_v127.json"};
    int checked = 0;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        struct ingest_batch b;
        struct otlp_result res;
        decode_file(files[f], &b, &res);
        for (size_t i = 0; i < b.nspans; i++) {
            expect_fixed_point("input", b.spans[i].span.input);
            expect_fixed_point("output", b.spans[i].span.output);
            checked += b.spans[i].span.input != NULL;
        }
        ingest_batch_release(&b);
    }
    struct ingest_batch b;
    struct otlp_result res;
    decode_file(tu_shared("payloads/otlp-genai-span.json"), &b, &res);
    expect_fixed_point("input", b.spans[2].span.input);
    expect_fixed_point("output", b.spans[2].span.output);
    ingest_batch_release(&b);
    ck_assert_int_ge(checked, 7);
}
END_TEST

static void expect_canonical(const char *message, const char *want)
{
    cJSON *m = parse_text(message), *out = cJSON_CreateArray(), *w = parse_text(want);
    genai_message_add(out, m, "user");
    char *got = jsonx_print(out);
    ck_assert_msg(cJSON_Compare(w, out, 1), "\n  got  %s\n  want %s", got, want);
    free(got);
    cJSON_Delete(w);
    cJSON_Delete(out);
    cJSON_Delete(m);
}

START_TEST(test_anthropic_blocks_split_tool_results_and_keep_thinking)
{
    expect_canonical(
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
        "\"tu1\",\"content\":[{\"type\":\"text\",\"text\":\"42\"}]},{\"type\":\"text\","
        "\"text\":\"thanks\"}]}",
        "[{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"tu1\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}]");
    expect_canonical(
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\"},"
        "{\"type\":\"thinking\",\"thinking\":\"m\"},"
        "{\"type\":\"text\",\"text\":\"ok\"},{\"type\":\"tool_use\",\"id\":\"tu2\",\"name\":"
        "\"calc\",\"input\":{\"x\":1}}]}",
        "[{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":[{\"id\":\"tu2\",\"name\":"
        "\"calc\",\"arguments\":{\"x\":1}}],\"reasoning\":\"hmm\"}]");
    expect_canonical("{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":"
                     "\"base64\",\"media_type\":\"image/gif\",\"data\":\"R0lG\"}}]}",
                     "[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"mime_type\":"
                     "\"image/gif\",\"data\":\"R0lG\"}]}]");
}
END_TEST

START_TEST(test_openai_messages_parse_arguments_and_keep_unknown_parts)
{
    /* arguments that are not JSON stay the string they were */
    expect_canonical(
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{oops\"}}]}",
        "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
        "\"name\":\"f\",\"arguments\":\"{oops\"}]}]");
    /* a part we do not know is kept as sent; the text beside it becomes a part */
    expect_canonical("{\"role\":\"user\",\"name\":\"ann\",\"content\":[{\"type\":\"text\","
                     "\"text\":\"listen\"},{\"type\":\"input_audio\",\"input_audio\":{\"data\":"
                     "\"UklG\",\"format\":\"wav\"}}]}",
                     "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"listen\"},"
                     "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklG\",\"format\":"
                     "\"wav\"}}],\"name\":\"ann\"}]");
    /* text parts join without a separator */
    expect_canonical("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                     "{\"type\":\"text\",\"text\":\"b\"}]}",
                     "[{\"role\":\"user\",\"content\":\"ab\"}]");
    /* several OTel tool responses in one message become one tool message each */
    expect_canonical("{\"role\":\"tool\",\"parts\":[{\"type\":\"tool_call_response\",\"id\":"
                     "\"a\",\"response\":1},{\"type\":\"tool_call_response\",\"id\":\"b\","
                     "\"response\":\"two\"}]}",
                     "[{\"role\":\"tool\",\"content\":\"1\",\"tool_call_id\":\"a\"},{\"role\":"
                     "\"tool\",\"content\":\"two\",\"tool_call_id\":\"b\"}]");
}
END_TEST

START_TEST(test_system_instructions_accept_plain_text)
{
    cJSON *v = cJSON_CreateString("Be nice. [not JSON]");
    cJSON *m = genai_system_message(v);
    char *got = jsonx_print(m);
    ck_assert_str_eq(got, "{\"role\":\"system\",\"content\":\"Be nice. [not JSON]\"}");
    free(got);
    cJSON_Delete(m);
    cJSON_Delete(v);
    v = cJSON_CreateString("[]");
    ck_assert_ptr_null(genai_system_message(v));
    cJSON_Delete(v);
}
END_TEST

/* ---- AnyValue flattening ---- */

START_TEST(test_flatten_converts_every_anyvalue_kind)
{
    cJSON *kv = parse_text(
        "[{\"key\":\"s\",\"value\":{\"stringValue\":\"x\"}},"
        "{\"key\":\"i\",\"value\":{\"intValue\":\"-12\"}},"
        "{\"key\":\"huge\",\"value\":{\"intValue\":\"-9007199254740993\"}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":1.5}},"
        "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"Infinity\"}},"
        "{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
        "{\"key\":\"bytes\",\"value\":{\"bytesValue\":\"AAE=\"}},"
        "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{\"intValue\":1},{}]}}},"
        "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":"
        "{\"stringValue\":\"1\"}},{\"key\":\"k\",\"value\":{\"stringValue\":\"2\"}}]}}},"
        "{\"key\":\"novalue\"},{\"value\":{\"stringValue\":\"keyless\"}},"
        "{\"key\":\"s\",\"value\":{\"stringValue\":\"last\"}}]");
    cJSON *flat = genai_attrs_flatten(kv);
    char *txt = jsonx_print(flat);
    expect_json_text("flattened", txt,
                     "{\"i\":-12,\"huge\":\"-9007199254740993\",\"d\":1.5,\"inf\":null,\"b\":true,"
                     "\"bytes\":\"AAE=\",\"arr\":[1,null],\"kv\":{\"k\":\"2\"},\"novalue\":null,"
                     "\"s\":\"last\"}");
    free(txt);
    cJSON_Delete(flat);
    cJSON_Delete(kv);
}
END_TEST

START_TEST(test_flatten_caps_anyvalue_nesting)
{
    /* 40 nested arrayValues: the flattener keeps 32 levels and cuts the rest */
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "stringValue", "deep");
    for (int i = 0; i < 40; i++) {
        cJSON *wrap = cJSON_CreateObject(), *av = cJSON_AddObjectToObject(wrap, "arrayValue");
        cJSON_AddItemToObject(av, "values", cJSON_CreateArray());
        cJSON_AddItemToArray(cJSON_GetObjectItem(av, "values"), v);
        v = wrap;
    }
    cJSON *flat = genai_anyvalue(v);
    char *txt = jsonx_print(flat);
    ck_assert_ptr_null(strstr(txt, "deep"));
    ck_assert_int_le(jsonx_depth(txt, strlen(txt)), 34);
    ck_assert_int_ge(jsonx_depth(txt, strlen(txt)), 30);
    free(txt);
    cJSON_Delete(flat);
    cJSON_Delete(v);
}
END_TEST

static Suite *genai_suite(void)
{
    Suite *s = suite_create("genai");
    TCase *p = tcase_create("payloads"), *c = tcase_create("cases"), *m = tcase_create("messages");
    tcase_add_test(p, test_genai_payload_root_span_keeps_http_attributes_and_people);
    tcase_add_test(p, test_genai_payload_429_attempt_is_error_with_exception_message);
    tcase_add_test(p, test_genai_payload_chat_span_maps_usage_ttft_and_messages);
    tcase_add_test(p, test_openllmetry_payload_workflow_span_is_a_chain);
    tcase_add_test(p, test_openllmetry_payload_chat_span_maps_legacy_names);
    tcase_add_test(p, test_openinference_payload_chain_span_keeps_json_input_and_tags);
    tcase_add_test(p, test_openinference_payload_anthropic_span_counts_cache_in_input);
    tcase_add_test(c, test_v127_span_events_carry_prompt_and_completion);
    tcase_add_test(c, test_v137_structured_messages_become_canonical);
    tcase_add_test(c, test_langfuse_attrs_map_usage_cost_ttft_and_prompt);
    tcase_add_test(c, test_vercel_v4_maps_prompt_tokens_and_tool_calls);
    tcase_add_test(c, test_vercel_v5_maps_cached_and_reasoning_tokens);
    tcase_add_test(c, test_openllmetry_tool_calls_and_functions_hash);
    tcase_add_test(c, test_openinference_tool_calls_multimodal_and_kinds);
    tcase_add_test(c, test_base64_ids_become_hex);
    tcase_add_test(c, test_uppercase_ids_become_lowercase);
    tcase_add_test(c, test_all_zero_ids_are_rejected_but_zero_parent_is_root);
    tcase_add_test(c, test_intvalue_as_number_and_other_anyvalues);
    tcase_add_test(c, test_start_time_as_number);
    tcase_add_test(c, test_missing_kind_status_and_attributes_default);
    tcase_add_test(c, test_unknown_fields_are_ignored);
    tcase_add_test(c, test_empty_resource_spans_gives_no_spans);
    tcase_add_test(c, test_repeated_attribute_key_last_wins);
    tcase_add_test(c, test_sparse_and_two_digit_indexes_order_numerically);
    tcase_add_test(c, test_attribute_cap_drops_largest_and_flags_truncation);
    tcase_add_test(c, test_identity_version_set_tenant_and_tier);
    tcase_add_test(c, test_exclusive_input_tokens_get_cache_added);
    tcase_add_test(m, test_canonical_messages_are_a_fixed_point);
    tcase_add_test(m, test_anthropic_blocks_split_tool_results_and_keep_thinking);
    tcase_add_test(m, test_openai_messages_parse_arguments_and_keep_unknown_parts);
    tcase_add_test(m, test_system_instructions_accept_plain_text);
    tcase_add_test(m, test_flatten_converts_every_anyvalue_kind);
    tcase_add_test(m, test_flatten_caps_anyvalue_nesting);
    suite_add_tcase(s, p);
    suite_add_tcase(s, c);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    return tu_run(genai_suite());
}
