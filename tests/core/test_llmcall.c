/*
 * llmcall: requests of every API onto the span (messages, system handling,
 * parameters, streaming flags, max_tokens names, tool rounds, the prompt
 * estimate); the include_usage text edit in every case; whole answers from
 * the payload files and hand-written ones; streams (the payload files split
 * at every byte through sse, n > 1, tool-call fragments, Anthropic tool use
 * and cumulative usage, Responses, mid-stream errors, truncation, the
 * usage-only chunk, the TTFT flag); error bodies; embeddings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/llmcall.h"
#include "collector/sse.h"
#include "core/buf.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"

static char *read_payload(const char *rel, size_t *n)
{
    char *t = tu_read_file(tu_shared(rel), n);
    ck_assert_msg(t != NULL, "cannot read %s", rel);
    return t;
}

/* Compact JSON of member 'key' of the JSON text 'json'. */
static char *member_json(const char *json, const char *key)
{
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, key));
    cJSON_Delete(root);
    return t;
}

static void assert_usage(const struct span *s, long long in, long long out, long long cr,
                         long long cw, long long cw1h, long long reas)
{
    ck_assert_int_eq(s->usage.input_tokens, in);
    ck_assert_int_eq(s->usage.output_tokens, out);
    ck_assert_int_eq(s->usage.cache_read_tokens, cr);
    ck_assert_int_eq(s->usage.cache_write_tokens, cw);
    ck_assert_int_eq(s->usage.cache_write_1h_tokens, cw1h);
    ck_assert_int_eq(s->usage.reasoning_tokens, reas);
}

/* ---- requests ---------------------------------------------------------- */

static const char chat_body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Where is my order?\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
    "\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"id\\\":1}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"shipped\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"When?\"},{\"type\":"
    "\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}],"
    "\"temperature\":0.2,\"top_p\":1,\"max_completion_tokens\":300,\"n\":2,\"seed\":7,"
    "\"stop\":[\"END\"],\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"json_object\"},"
    "\"reasoning_effort\":\"low\",\"service_tier\":\"flex\",\"stream\":true,"
    "\"stream_options\":{\"include_usage\":true}}";

START_TEST(test_chat_request_messages_params_and_estimate)
{
    struct llm_request req;
    struct span s;
    span_init(&s);
    ck_assert_int_eq(llm_request_parse(LLM_API_CHAT, chat_body, strlen(chat_body), &req, &s), 0);
    ck_assert_int_eq(req.api, LLM_API_CHAT);
    ck_assert_int_eq(req.stream, 1);
    ck_assert_int_eq(req.include_usage, 1);
    ck_assert_int_eq(req.max_tokens, 300);
    ck_assert_int_eq(req.n, 2);
    ck_assert_int_eq(req.tool_rounds, 1);
    /* text: 9 + 18 + 14 (tool name and arguments) + 7 + 5 = 53 bytes, 5 messages */
    ck_assert_int_eq(req.input_tokens, 18 + 4 * 5);
    ck_assert_int_eq(s.kind, SPAN_KIND_LLM);
    ck_assert_str_eq(s.model, "gpt-4o-mini");
    ck_assert_str_eq(s.name, "chat gpt-4o-mini");
    char *msgs = member_json(chat_body, "messages");
    ck_assert_str_eq(s.input, msgs); /* verbatim */
    free(msgs);
    ck_assert_str_eq(s.params, "{\"temperature\":0.2,\"top_p\":1,\"max_tokens\":300,\"n\":2,"
                               "\"seed\":7,\"stop\":[\"END\"],\"tool_choice\":\"auto\","
                               "\"response_format\":\"json_object\",\"reasoning_effort\":\"low\","
                               "\"service_tier\":\"flex\",\"stream\":true}");
    span_release(&s);
}
END_TEST

START_TEST(test_chat_request_tools_count_toward_the_estimate)
{
    const char tools[] = "[{\"type\":\"function\",\"function\":{\"name\":\"lookup\","
                         "\"parameters\":{}}},{\"type\":\"web_search\"}]";
    char body[512];
    snprintf(body, sizeof(body),
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"abcdef\"}],"
             "\"tools\":%s,\"stream\":false}",
             tools);
    struct llm_request req;
    struct span s;
    span_init(&s);
    ck_assert_int_eq(llm_request_parse(LLM_API_CHAT, body, strlen(body), &req, &s), 0);
    ck_assert_int_eq(req.input_tokens, (long long)((6 + strlen(tools) + 2) / 3 + 4));
    ck_assert_int_eq(req.stream, 0);
    ck_assert_int_eq(req.include_usage, 0);
    ck_assert_int_eq(req.n, 1);
    ck_assert_int_eq(req.max_tokens, -1);
    ck_assert_str_eq(s.params, "{\"stream\":false,\"tools\":[\"lookup\",\"web_search\"]}");
    span_release(&s);
}
END_TEST

static int64_t max_tokens_of(enum llm_api api, const char *body)
{
    struct llm_request req;
    struct span s;
    span_init(&s);
    ck_assert_int_eq(llm_request_parse(api, body, strlen(body), &req, &s), 0);
    span_release(&s);
    return req.max_tokens;
}

START_TEST(test_max_tokens_under_each_name)
{
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{\"max_tokens\":100}"), 100);
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{\"max_tokens\":100,\"max_completion_tokens\":"
                                                 "200}"),
                     200);
    ck_assert_int_eq(max_tokens_of(LLM_API_RESPONSES, "{\"max_output_tokens\":50}"), 50);
    ck_assert_int_eq(max_tokens_of(LLM_API_RESPONSES, "{\"max_tokens\":50}"), -1);
    ck_assert_int_eq(max_tokens_of(LLM_API_ANTHROPIC_MESSAGES, "{\"max_tokens\":1024}"), 1024);
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{\"max_tokens\":-5}"), -1);
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{\"max_tokens\":1e300}"), -1);
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{\"max_tokens\":\"abc\"}"), -1);
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{\"max_tokens\":null}"), -1);
    ck_assert_int_eq(max_tokens_of(LLM_API_CHAT, "{}"), -1);
}
END_TEST

static const char anthropic_body[] =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"system\":[{\"type\":\"text\","
    "\"text\":\"You are terse.\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
    "\"messages\":[{\"role\":\"user\",\"content\":\"Find A-1042\"},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Looking.\"},"
    "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"lookup_order\",\"input\":"
    "{\"order_id\":\"A-1042\"}}]},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
    "\"content\":\"in transit\"}]}],"
    "\"temperature\":0.5,\"top_k\":40,\"stop_sequences\":[\"\\n\\nHuman:\"],"
    "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000},\"stream\":true,"
    "\"stream_options\":{\"include_usage\":true},"
    "\"tools\":[{\"name\":\"lookup_order\",\"input_schema\":{\"type\":\"object\"}}],"
    "\"tool_choice\":{\"type\":\"auto\"}}";

START_TEST(test_anthropic_request_system_first_and_params)
{
    struct llm_request req;
    struct span s;
    span_init(&s);
    ck_assert_int_eq(llm_request_parse(LLM_API_ANTHROPIC_MESSAGES, anthropic_body,
                                       strlen(anthropic_body), &req, &s),
                     0);
    ck_assert_int_eq(req.stream, 1);
    ck_assert_int_eq(req.include_usage, 0); /* a chat-only option */
    ck_assert_int_eq(req.max_tokens, 1024);
    ck_assert_int_eq(req.tool_rounds, 1);
    ck_assert_int_eq(req.n, 1);
    const char tools[] = "[{\"name\":\"lookup_order\",\"input_schema\":{\"type\":\"object\"}}]";
    /* text 14 + 11 + 26 + 10 = 61, plus the tools, 4 messages */
    ck_assert_int_eq(req.input_tokens, (long long)((61 + strlen(tools) + 2) / 3 + 16));
    ck_assert_str_eq(s.name, "messages claude-sonnet-4-5");
    char *sys = member_json(anthropic_body, "system");
    char *msgs = member_json(anthropic_body, "messages");
    char *want = xasprintf("[{\"role\":\"system\",\"content\":%s},%s", sys, msgs + 1);
    ck_assert_str_eq(s.input, want);
    free(sys);
    free(msgs);
    free(want);
    ck_assert_str_eq(s.params, "{\"temperature\":0.5,\"top_k\":40,\"max_tokens\":1024,"
                               "\"stop\":[\"\\n\\nHuman:\"],\"tool_choice\":{\"type\":\"auto\"},"
                               "\"thinking_budget\":2000,\"stream\":true,"
                               "\"tools\":[\"lookup_order\"]}");
    span_release(&s);

    /* a string system prompt; no system at all */
    span_init(&s);
    const char *b2 = "{\"model\":\"c\",\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}";
    ck_assert_int_eq(llm_request_parse(LLM_API_ANTHROPIC_MESSAGES, b2, strlen(b2), &req, &s), 0);
    ck_assert_str_eq(s.input, "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
                              "\"content\":\"hi\"}]");
    ck_assert_int_eq(req.input_tokens, (9 + 2 + 2) / 3 + 8);
    ck_assert_int_eq(req.stream, 0);
    span_release(&s);
    span_init(&s);
    const char *b3 = "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    ck_assert_int_eq(llm_request_parse(LLM_API_ANTHROPIC_MESSAGES, b3, strlen(b3), &req, &s), 0);
    ck_assert_str_eq(s.input, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    span_release(&s);
}
END_TEST

static const char responses_body[] =
    "{\"model\":\"gpt-5\",\"instructions\":\"Be brief.\",\"input\":["
    "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Weather?\"}]},"
    "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"weather\",\"arguments\":\"{}\"},"
    "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"time\",\"arguments\":\"{}\"},"
    "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"sunny\"},"
    "{\"type\":\"function_call_output\",\"call_id\":\"c2\",\"output\":\"noon\"},"
    "{\"type\":\"function_call\",\"call_id\":\"c3\",\"name\":\"weather\",\"arguments\":\"{}\"},"
    "{\"type\":\"function_call_output\",\"call_id\":\"c3\",\"output\":\"rain\"}],"
    "\"max_output_tokens\":500,\"reasoning\":{\"effort\":\"high\"},"
    "\"text\":{\"format\":{\"type\":\"json_schema\"}},\"stream\":true}";

START_TEST(test_responses_request_instructions_and_items)
{
    struct llm_request req;
    struct span s;
    span_init(&s);
    ck_assert_int_eq(
        llm_request_parse(LLM_API_RESPONSES, responses_body, strlen(responses_body), &req, &s), 0);
    ck_assert_int_eq(req.stream, 1);
    ck_assert_int_eq(req.max_tokens, 500);
    ck_assert_int_eq(req.tool_rounds, 2); /* two calls side by side are one turn */
    ck_assert_str_eq(s.name, "responses gpt-5");
    char *items = member_json(responses_body, "input");
    char *want = xasprintf("[{\"role\":\"system\",\"content\":\"Be brief.\"},%s", items + 1);
    ck_assert_str_eq(s.input, want);
    free(items);
    free(want);
    ck_assert_str_eq(s.params, "{\"max_tokens\":500,\"response_format\":\"json_schema\","
                               "\"reasoning_effort\":\"high\",\"stream\":true}");
    span_release(&s);

    span_init(&s);
    const char *b2 = "{\"model\":\"gpt-5\",\"input\":\"hi\"}";
    ck_assert_int_eq(llm_request_parse(LLM_API_RESPONSES, b2, strlen(b2), &req, &s), 0);
    ck_assert_str_eq(s.input, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    ck_assert_int_eq(req.input_tokens, 1 + 4);
    span_release(&s);
}
END_TEST

START_TEST(test_embeddings_request)
{
    struct llm_request req;
    struct span s;
    span_init(&s);
    const char *b = "{\"model\":\"text-embedding-3-small\",\"input\":[\"abc\",\"defghi\"],"
                    "\"encoding_format\":\"base64\",\"dimensions\":256}";
    ck_assert_int_eq(llm_request_parse(LLM_API_EMBEDDINGS, b, strlen(b), &req, &s), 0);
    ck_assert_int_eq(s.kind, SPAN_KIND_EMBEDDING);
    ck_assert_str_eq(s.name, "embeddings text-embedding-3-small");
    ck_assert_str_eq(s.input, "[\"abc\",\"defghi\"]");
    ck_assert_int_eq(req.input_tokens, 3);
    ck_assert_str_eq(s.params, "{\"dimensions\":256,\"encoding_format\":\"base64\"}");
    span_release(&s);

    span_init(&s);
    b = "{\"model\":\"e\",\"input\":\"one two\"}";
    ck_assert_int_eq(llm_request_parse(LLM_API_EMBEDDINGS, b, strlen(b), &req, &s), 0);
    ck_assert_str_eq(s.input, "\"one two\"");
    ck_assert_int_eq(req.input_tokens, 3);
    span_release(&s);

    span_init(&s);
    b = "{\"model\":\"e\",\"input\":[[1,2,3],[4,5]]}";
    ck_assert_int_eq(llm_request_parse(LLM_API_EMBEDDINGS, b, strlen(b), &req, &s), 0);
    ck_assert_int_eq(req.input_tokens, 5); /* token arrays: one token an entry */
    span_release(&s);
}
END_TEST

START_TEST(test_request_that_is_not_a_json_object_gives_defaults)
{
    const char *bodies[] = {"not json", "[1,2]", "{\"model\":", "\"str\"", ""};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct llm_request req = {.stream = 9, .max_tokens = 9, .n = 9, .include_usage = 9};
        struct span s;
        span_init(&s);
        size_t n = strlen(bodies[i]);
        ck_assert_int_eq(llm_request_parse(LLM_API_CHAT, bodies[i], n, &req, &s), -1);
        ck_assert_int_eq(req.api, LLM_API_CHAT);
        ck_assert_int_eq(req.stream, 0);
        ck_assert_int_eq(req.include_usage, 0);
        ck_assert_int_eq(req.max_tokens, -1);
        ck_assert_int_eq(req.n, 1);
        ck_assert_int_eq(req.tool_rounds, 0);
        ck_assert_int_eq(req.input_tokens, (long long)((n + 2) / 3));
        ck_assert_ptr_null(s.model);
        ck_assert_ptr_null(s.input);
        ck_assert_ptr_null(s.name);
        ck_assert_int_eq(s.kind, SPAN_KIND_OTHER);
        span_release(&s);
    }
}
END_TEST

START_TEST(test_n_is_bounded)
{
    const char *cases[][2] = {{"{\"n\":0}", "1"},
                              {"{\"n\":3}", "3"},
                              {"{\"n\":-2}", "1"},
                              {"{\"n\":\"x\"}", "1"},
                              {"{\"n\":1e9}", "128"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_request req;
        struct span s;
        span_init(&s);
        ck_assert_int_eq(
            llm_request_parse(LLM_API_CHAT, cases[i][0], strlen(cases[i][0]), &req, &s), 0);
        ck_assert_int_eq(req.n, atoi(cases[i][1]));
        span_release(&s);
    }
}
END_TEST

START_TEST(test_api_for_paths)
{
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/chat/completions"), LLM_API_CHAT);
    ck_assert_int_eq(llm_api_for(0, "POST", "/openai/v1/chat/completions"), LLM_API_CHAT);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/chat/completions?x=1"), LLM_API_CHAT);
    ck_assert_int_eq(llm_api_for(0, "POST", "chat/completions"), LLM_API_CHAT);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/responses"), LLM_API_RESPONSES);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/responses/resp_1/cancel"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/embeddings/"), LLM_API_EMBEDDINGS);
    ck_assert_int_eq(llm_api_for(0, "GET", "/v1/chat/completions"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/models"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/xchat/completions"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(0, "POST", "/v1/messages"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(1, "POST", "/v1/messages"), LLM_API_ANTHROPIC_MESSAGES);
    ck_assert_int_eq(llm_api_for(1, "POST", "/v1/messages/count_tokens"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(1, "POST", "/v1/chat/completions"), LLM_API_OTHER);
    ck_assert_int_eq(llm_api_for(1, NULL, NULL), LLM_API_OTHER);
}
END_TEST

/* ---- include_usage ----------------------------------------------------- */

static void assert_injects(const char *in, const char *want)
{
    size_t n = 0;
    char *out = llm_inject_include_usage(in, strlen(in), &n);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n, strlen(out));
    if (want)
        ck_assert_str_eq(out, want);
    /* the result is JSON asking for usage, and says so to the request parser */
    cJSON *root = cJSON_Parse(out);
    ck_assert_ptr_nonnull(root);
    cJSON_Delete(root);
    struct llm_request req;
    struct span s;
    span_init(&s);
    ck_assert_int_eq(llm_request_parse(LLM_API_CHAT, out, n, &req, &s), 0);
    ck_assert_int_eq(req.include_usage, 1);
    span_release(&s);
    free(out);
}

START_TEST(test_inject_every_case)
{
    assert_injects("{\"model\":\"m\",\"stream\":true,\"messages\":[]}",
                   "{\"model\":\"m\",\"stream\":true,\"messages\":[],"
                   "\"stream_options\":{\"include_usage\":true}}");
    assert_injects("{\"stream_options\":{\"include_obfuscation\":false},\"stream\":true}",
                   "{\"stream_options\":{\"include_usage\":true,\"include_obfuscation\":false},"
                   "\"stream\":true}");
    assert_injects("{\"stream\":true,\"stream_options\":{\"include_usage\":false}}",
                   "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_injects("{\"stream_options\" : { \"a\" : 1 , \"include_usage\" : false } }",
                   "{\"stream_options\" : { \"a\" : 1 , \"include_usage\" : true } }");
    assert_injects("{\"stream_options\":{}}", "{\"stream_options\":{\"include_usage\":true}}");
    assert_injects("{\"stream_options\" : { } }",
                   "{\"stream_options\" : {\"include_usage\":true } }");
    assert_injects("{\"stream_options\":null,\"stream\":true}",
                   "{\"stream_options\":{\"include_usage\":true},\"stream\":true}");
    assert_injects("{}", "{\"stream_options\":{\"include_usage\":true}}");
    assert_injects("  {\n}\n", "  {\"stream_options\":{\"include_usage\":true}\n}\n");
    assert_injects("{\"a\":[{\"stream_options\":1}],\"b\":\"}\"}",
                   "{\"a\":[{\"stream_options\":1}],\"b\":\"}\","
                   "\"stream_options\":{\"include_usage\":true}}");
    /* an escaped key is the same key; a repeated key: the last one counts */
    assert_injects("{\"stream\\u005foptions\":{\"include_usage\":false}}",
                   "{\"stream\\u005foptions\":{\"include_usage\":true}}");
    assert_injects("{\"stream_options\":{\"include_usage\":true},\"stream_options\":{}}",
                   "{\"stream_options\":{\"include_usage\":true},\"stream_options\":"
                   "{\"include_usage\":true}}");
}
END_TEST

START_TEST(test_inject_keeps_every_other_byte)
{
    const char *in =
        "{\"model\":\"gpt-4o\",\"seed\":123456789012345678901234567890,\"x\":1.50e+10,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\"quoted\\\" "
        "{not: an object} \\\\\"}],\n  \"stream\": true\n}";
    size_t n;
    char *out = llm_inject_include_usage(in, strlen(in), &n);
    ck_assert_ptr_nonnull(out);
    const char *add = ",\"stream_options\":{\"include_usage\":true}";
    size_t at = strlen(in) - 2; /* after "true", before "\n}" */
    ck_assert_uint_eq(n, strlen(in) + strlen(add));
    ck_assert(memcmp(out, in, at) == 0);
    ck_assert(memcmp(out + at, add, strlen(add)) == 0);
    ck_assert_str_eq(out + at + strlen(add), in + at);
    cJSON *root = cJSON_Parse(out);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "stream_options"), "include_usage")));
    cJSON_Delete(root);
    free(out);
}
END_TEST

START_TEST(test_inject_refuses_what_is_not_an_object)
{
    const char *bad[] = {"[1]", "not json", "{\"a\":", "", "\"s\"", "{\"a\":1}x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 7;
        ck_assert_ptr_null(llm_inject_include_usage(bad[i], strlen(bad[i]), &n));
    }
}
END_TEST

/* ---- whole answers ----------------------------------------------------- */

static void parse_answer(enum llm_api api, int status, const char *body, struct span *s)
{
    span_init(s);
    llm_response_parse(api, status, body, strlen(body), s);
}

static const char payload_chat_output[] =
    "{\"role\":\"assistant\",\"content\":\"Your order A-1042 is in transit and should arrive on "
    "March 4.\"}";
static const char payload_anthropic_output[] =
    "{\"role\":\"assistant\",\"content\":\"I'll look that order up.\",\"tool_calls\":[{\"id\":"
    "\"toolu_01Ve6sKp3N8yQzR1aD4tHc7W\",\"type\":\"function\",\"function\":{\"name\":"
    "\"lookup_order\",\"arguments\":\"{\\\"order_id\\\":\\\"A-1042\\\"}\"}}]}";

START_TEST(test_openai_payload_answer)
{
    size_t n;
    char *body = read_payload("payloads/openai-chat-response.json", &n);
    struct span s;
    span_init(&s);
    llm_response_parse(LLM_API_CHAT, 200, body, n, &s);
    assert_usage(&s, 412, 19, 256, -1, -1, 0);
    ck_assert_str_eq(s.output, payload_chat_output);
    ck_assert_str_eq(s.response_model, "gpt-4o-mini-2024-07-18");
    ck_assert_str_eq(s.finish_reason, "stop");
    ck_assert_str_eq(s.service_tier, "default");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_ptr_null(s.error_code);
    span_release(&s);
    free(body);
}
END_TEST

START_TEST(test_anthropic_payload_answer)
{
    size_t n;
    char *body = read_payload("payloads/anthropic-message-response.json", &n);
    struct span s;
    span_init(&s);
    llm_response_parse(LLM_API_ANTHROPIC_MESSAGES, 200, body, n, &s);
    assert_usage(&s, 42 + 1210 + 0, 71, 0, 1210, 0, -1);
    ck_assert_str_eq(s.output, payload_anthropic_output);
    ck_assert_str_eq(s.response_model, "claude-sonnet-4-5-20250929");
    ck_assert_str_eq(s.finish_reason, "tool_use");
    ck_assert_str_eq(s.service_tier, "standard");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    span_release(&s);
    free(body);
}
END_TEST

START_TEST(test_anthropic_cache_split_and_thinking)
{
    struct span s;
    parse_answer(LLM_API_ANTHROPIC_MESSAGES, 200,
                 "{\"content\":[{\"type\":\"thinking\",\"thinking\":\"Let me see.\",\"signature\":"
                 "\"x\"},{\"type\":\"text\",\"text\":\"Hi\"}],\"usage\":{\"input_tokens\":10,"
                 "\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":50,"
                 "\"cache_creation\":{\"ephemeral_5m_input_tokens\":100,"
                 "\"ephemeral_1h_input_tokens\":200},\"output_tokens\":5,"
                 "\"output_tokens_details\":{\"thinking_tokens\":3}}}",
                 &s);
    assert_usage(&s, 360, 5, 50, 300, 200, 3);
    ck_assert_str_eq(s.output, "{\"role\":\"assistant\",\"content\":\"Hi\",\"reasoning\":\"Let "
                               "me see.\"}");
    span_release(&s);
    /* no cache_creation object: every write is a 5-minute one */
    parse_answer(LLM_API_ANTHROPIC_MESSAGES, 200,
                 "{\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":30,"
                 "\"output_tokens\":1}}",
                 &s);
    assert_usage(&s, 40, 1, -1, 30, 0, -1);
    ck_assert_ptr_null(s.output);
    span_release(&s);
}
END_TEST

START_TEST(test_chat_answer_details_choices_and_tool_calls)
{
    struct span s;
    parse_answer(LLM_API_CHAT, 200,
                 "{\"model\":\"o3\",\"choices\":[{\"index\":1,\"message\":{\"role\":\"assistant\","
                 "\"content\":\"B\"},\"finish_reason\":\"length\"},{\"index\":0,\"message\":{"
                 "\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                 "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}"
                 "\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1000,"
                 "\"completion_tokens\":300,\"prompt_tokens_details\":{\"cached_tokens\":600,"
                 "\"cache_write_tokens\":100},\"completion_tokens_details\":{\"reasoning_tokens\":"
                 "250}}}",
                 &s);
    assert_usage(&s, 1000, 300, 600, 100, -1, 250);
    ck_assert_str_eq(s.output,
                     "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                     "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
                     "\"{\\\"a\\\":1}\"}}]},{\"role\":\"assistant\",\"content\":\"B\"}]");
    ck_assert_str_eq(s.finish_reason, "tool_calls"); /* choice 0's */
    ck_assert_ptr_null(s.service_tier);
    span_release(&s);
}
END_TEST

START_TEST(test_counts_that_are_not_believed)
{
    struct span s;
    parse_answer(LLM_API_CHAT, 200,
                 "{\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1e300,"
                 "\"prompt_tokens_details\":{\"cached_tokens\":\"12\"},"
                 "\"completion_tokens_details\":{\"reasoning_tokens\":12.7}}}",
                 &s);
    assert_usage(&s, -1, -1, 12, -1, -1, 12);
    span_release(&s);
    parse_answer(LLM_API_CHAT, 200,
                 "{\"usage\":{\"prompt_tokens\":\"-1\",\"completion_tokens\":\"1x\","
                 "\"prompt_tokens_details\":{\"cached_tokens\":99999999999999999999}}}",
                 &s);
    assert_usage(&s, -1, -1, -1, -1, -1, -1);
    span_release(&s);
}
END_TEST

START_TEST(test_responses_answer)
{
    const char *body =
        "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"model\":"
        "\"gpt-5-2025\",\"service_tier\":\"priority\",\"output\":[{\"type\":\"reasoning\","
        "\"summary\":[{\"type\":\"summary_text\",\"text\":\"Thinking.\"}]},{\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello\","
        "\"annotations\":[]},{\"type\":\"output_text\",\"text\":\" there\"}]},{\"type\":"
        "\"function_call\",\"call_id\":\"call_9\",\"name\":\"f\",\"arguments\":\"{}\"}],"
        "\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":10},"
        "\"output_tokens\":20,\"output_tokens_details\":{\"reasoning_tokens\":5},"
        "\"total_tokens\":70}}";
    struct span s;
    parse_answer(LLM_API_RESPONSES, 200, body, &s);
    assert_usage(&s, 50, 20, 10, -1, -1, 5);
    ck_assert_str_eq(s.output, "{\"role\":\"assistant\",\"content\":\"Hello there\",\"tool_calls\":"
                               "[{\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":"
                               "\"f\",\"arguments\":\"{}\"}}],\"reasoning\":\"Thinking.\"}");
    ck_assert_str_eq(s.finish_reason, "completed");
    ck_assert_str_eq(s.service_tier, "priority");
    ck_assert_str_eq(s.response_model, "gpt-5-2025");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    span_release(&s);

    parse_answer(LLM_API_RESPONSES, 200,
                 "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
                 "\"max_output_tokens\"},\"output\":[]}",
                 &s);
    ck_assert_str_eq(s.finish_reason, "max_output_tokens");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_ptr_null(s.output);
    span_release(&s);

    parse_answer(LLM_API_RESPONSES, 200,
                 "{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":"
                 "\"oops\"}}",
                 &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "server_error");
    ck_assert_str_eq(s.error_message, "oops");
    span_release(&s);
}
END_TEST

START_TEST(test_error_bodies)
{
    struct span s;
    parse_answer(LLM_API_CHAT, 400,
                 "{\"error\":{\"message\":\"This model's maximum context length is 128000 "
                 "tokens.\",\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":"
                 "\"context_length_exceeded\"}}",
                 &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "context_length_exceeded");
    ck_assert_str_eq(s.error_message, "This model's maximum context length is 128000 tokens.");
    ck_assert_ptr_null(s.output);
    span_release(&s);

    parse_answer(LLM_API_CHAT, 429,
                 "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
                 "\"insufficient_quota\",\"param\":null,\"code\":null}}",
                 &s);
    ck_assert_str_eq(s.error_code, "insufficient_quota");
    span_release(&s);

    parse_answer(LLM_API_ANTHROPIC_MESSAGES, 429,
                 "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
                 "\"Number of request tokens has exceeded your per-minute rate limit\"},"
                 "\"request_id\":\"req_011\"}",
                 &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "rate_limit_error");
    ck_assert_str_eq(s.error_message,
                     "Number of request tokens has exceeded your per-minute rate limit");
    span_release(&s);

    parse_answer(LLM_API_CHAT, 502, "<html><body>\r\n502 Bad Gateway\r\n</body></html>\n", &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "HTTP_502");
    ck_assert_str_eq(s.error_message, "<html><body> 502 Bad Gateway </body></html>");
    span_release(&s);

    parse_answer(LLM_API_ANTHROPIC_MESSAGES, 529, "", &s);
    ck_assert_str_eq(s.error_code, "HTTP_529");
    ck_assert_ptr_null(s.error_message);
    span_release(&s);

    parse_answer(LLM_API_CHAT, 503, "{\"detail\":\"overloaded\"}", &s);
    ck_assert_str_eq(s.error_code, "HTTP_503");
    ck_assert_str_eq(s.error_message, "overloaded");
    span_release(&s);

    /* a 200 that is an error anyway */
    parse_answer(LLM_API_CHAT, 200, "{\"error\":{\"message\":\"bad\",\"code\":\"x_1\"}}", &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "x_1");
    span_release(&s);

    /* a 200 that is not JSON: nothing known, no error */
    parse_answer(LLM_API_CHAT, 200, "hello", &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_ptr_null(s.output);
    span_release(&s);
}
END_TEST

START_TEST(test_embeddings_answer_float_and_base64)
{
    struct span s;
    parse_answer(LLM_API_EMBEDDINGS, 200,
                 "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                 "\"embedding\":[0.1,0.2,0.3]},{\"object\":\"embedding\",\"index\":1,"
                 "\"embedding\":[0.4,0.5,0.6]}],\"model\":\"text-embedding-3-small\","
                 "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}",
                 &s);
    ck_assert_str_eq(s.output, "{\"count\":2,\"dimensions\":3}");
    assert_usage(&s, 8, -1, -1, -1, -1, -1);
    ck_assert_str_eq(s.response_model, "text-embedding-3-small");
    span_release(&s);

    /* 16 bytes = 4 float32s; 12 bytes (no padding) = 3 */
    parse_answer(LLM_API_EMBEDDINGS, 200,
                 "{\"data\":[{\"embedding\":\"AACAPwAAAEAAAEBAAACAQA==\"}],\"usage\":"
                 "{\"prompt_tokens\":2}}",
                 &s);
    ck_assert_str_eq(s.output, "{\"count\":1,\"dimensions\":4}");
    span_release(&s);
    parse_answer(LLM_API_EMBEDDINGS, 200, "{\"data\":[{\"embedding\":\"AACAPwAAAEAAAEBA\"}]}", &s);
    ck_assert_str_eq(s.output, "{\"count\":1,\"dimensions\":3}");
    span_release(&s);
}
END_TEST

/* ---- streams ----------------------------------------------------------- */

struct run {
    struct llm_stream *st;
    unsigned flags[256];
    int n;
};

static int on_event(void *arg, const char *event, const char *data, size_t datalen, const char *raw,
                    size_t rawlen)
{
    struct run *r = arg;
    (void)raw;
    (void)rawlen;
    if (!data)
        return 0;
    unsigned f = llm_stream_event(r->st, event, data, datalen);
    if (r->n < 256)
        r->flags[r->n++] = f;
    return 0;
}

/* Parse SSE text 'in' cut at 'cut' (SIZE_MAX: whole) into 's'. */
static void stream_cut(enum llm_api api, const char *in, size_t n, size_t cut, struct span *s,
                       struct run *r)
{
    r->st = llm_stream_new(api);
    r->n = 0;
    struct sse *p = sse_new(8u << 20, on_event, r);
    if (cut > n)
        cut = n;
    ck_assert_int_eq(sse_feed(p, in, cut), SSE_OK);
    ck_assert_int_eq(sse_feed(p, in + cut, n - cut), SSE_OK);
    ck_assert_int_eq(sse_end(p), SSE_OK);
    sse_free(p);
    span_init(s);
    llm_stream_finish(r->st, s);
    llm_stream_free(r->st);
    r->st = NULL;
}

static void stream_text(enum llm_api api, const char *in, struct span *s, struct run *r)
{
    stream_cut(api, in, strlen(in), SIZE_MAX, s, r);
}

static void assert_same_span(const struct span *a, const struct span *b)
{
    ck_assert_str_eq(a->output ? a->output : "(null)", b->output ? b->output : "(null)");
    ck_assert(memcmp(&a->usage, &b->usage, sizeof(a->usage)) == 0);
    ck_assert_int_eq(a->status, b->status);
    ck_assert_str_eq(a->finish_reason ? a->finish_reason : "",
                     b->finish_reason ? b->finish_reason : "");
}

/* The payload stream at every split gives one span, equal to 'want'. */
static void assert_split_stream(enum llm_api api, const char *in, size_t n, const struct span *want)
{
    for (size_t cut = 0; cut <= n; cut++) {
        struct span s;
        struct run r;
        stream_cut(api, in, n, cut, &s, &r);
        assert_same_span(&s, want);
        span_release(&s);
    }
}

START_TEST(test_openai_payload_stream)
{
    size_t n;
    char *in = read_payload("payloads/openai-stream.sse", &n);
    struct span s;
    struct run r;
    stream_cut(LLM_API_CHAT, in, n, SIZE_MAX, &s, &r);
    ck_assert_str_eq(s.output, payload_chat_output); /* what the plain answer gives */
    assert_usage(&s, 412, 19, 256, -1, -1, 0);
    ck_assert_str_eq(s.response_model, "gpt-4o-mini-2024-07-18");
    ck_assert_str_eq(s.service_tier, "default");
    ck_assert_str_eq(s.finish_reason, "stop");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_int_eq(r.n, 21);
    ck_assert_uint_eq(r.flags[0], 0); /* the role chunk is not content: no TTFT */
    ck_assert_uint_eq(r.flags[1], LLM_EV_CONTENT);
    ck_assert_uint_eq(r.flags[18], 0); /* the finish chunk */
    ck_assert_uint_eq(r.flags[19], LLM_EV_USAGE_ONLY);
    ck_assert_uint_eq(r.flags[20], LLM_EV_TERMINAL);
    assert_split_stream(LLM_API_CHAT, in, n, &s);

    /* the same stream with CRLF line ends gives the same span */
    struct buf crlf;
    buf_init(&crlf, 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(in[i] == '\n' ? buf_puts(&crlf, "\r\n") : buf_putc(&crlf, in[i]), 0);
    assert_split_stream(LLM_API_CHAT, crlf.data, crlf.len, &s);
    buf_release(&crlf);
    span_release(&s);
    free(in);
}
END_TEST

START_TEST(test_anthropic_payload_stream)
{
    size_t n;
    char *in = read_payload("payloads/anthropic-stream.sse", &n);
    struct span s;
    struct run r;
    stream_cut(LLM_API_ANTHROPIC_MESSAGES, in, n, SIZE_MAX, &s, &r);
    ck_assert_str_eq(s.output, payload_anthropic_output); /* as the whole answer */
    assert_usage(&s, 1252, 71, 0, 1210, 0, -1);
    ck_assert_str_eq(s.response_model, "claude-sonnet-4-5-20250929");
    ck_assert_str_eq(s.service_tier, "standard");
    ck_assert_str_eq(s.finish_reason, "tool_use");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_int_eq(r.n, 15);
    ck_assert_uint_eq(r.flags[0], 0); /* message_start */
    ck_assert_uint_eq(r.flags[1], 0); /* an empty text block starts */
    ck_assert_uint_eq(r.flags[2], 0); /* ping */
    ck_assert_uint_eq(r.flags[3], LLM_EV_CONTENT);
    ck_assert_uint_eq(r.flags[14], LLM_EV_TERMINAL);
    assert_split_stream(LLM_API_ANTHROPIC_MESSAGES, in, n, &s);
    span_release(&s);
    free(in);
}
END_TEST

static const char chat_n2[] =
    "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"}}]}\n\n"
    "data: {\"model\":\"m\",\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B1\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A1\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\" B2\"},\"finish_reason\":"
    "\"length\"}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" A2\"},\"finish_reason\":"
    "\"stop\"}]}\n\n"
    "data: [DONE]\n\n";

START_TEST(test_chat_stream_n2_interleaved)
{
    struct span s;
    struct run r;
    stream_text(LLM_API_CHAT, chat_n2, &s, &r);
    ck_assert_str_eq(s.output, "[{\"role\":\"assistant\",\"content\":\"A1 A2\"},"
                               "{\"role\":\"assistant\",\"content\":\"B1 B2\"}]");
    ck_assert_str_eq(s.finish_reason, "stop");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    assert_usage(&s, -1, -1, -1, -1, -1, -1); /* the client did not ask for usage */
    ck_assert_uint_eq(r.flags[0], 0);
    ck_assert_uint_eq(r.flags[1], 0);
    ck_assert_uint_eq(r.flags[2], LLM_EV_CONTENT);
    assert_split_stream(LLM_API_CHAT, chat_n2, strlen(chat_n2), &s);
    span_release(&s);
}
END_TEST

START_TEST(test_chat_stream_tool_call_fragments)
{
    const char *in =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":"
        "{\"name\":\"lookup_order\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":"
        "\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":"
        "\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"arguments\":\"{\\\"order_id\\\":\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":"
        "{\"arguments\":\"{}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"arguments\":\"\\\"A-1042\\\"}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: [DONE]\n\n";
    struct span s;
    struct run r;
    stream_text(LLM_API_CHAT, in, &s, &r);
    ck_assert_str_eq(s.output,
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_a\","
                     "\"type\":\"function\",\"function\":{\"name\":\"lookup_order\",\"arguments\":"
                     "\"{\\\"order_id\\\":\\\"A-1042\\\"}\"}},{\"id\":\"call_b\",\"type\":"
                     "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}");
    ck_assert_str_eq(s.finish_reason, "tool_calls");
    ck_assert_uint_eq(r.flags[0], LLM_EV_CONTENT); /* a tool call began */
    assert_split_stream(LLM_API_CHAT, in, strlen(in), &s);
    span_release(&s);
}
END_TEST

static const char anthropic_cumulative[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":"
    "{\"input_tokens\":5,\"cache_read_input_tokens\":1000,\"cache_creation_input_tokens\":300,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":100,\"ephemeral_1h_input_tokens\":200},"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
    "\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"Hmm.\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"signature_delta\",\"signature\":\"abc\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Hi\"}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":"
    "{\"output_tokens\":40}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"input_tokens\":6,"
    "\"output_tokens\":42}}\n\n"
    "event: future_event\n"
    "data: {\"type\":\"future_event\",\"x\":[1,2]}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

START_TEST(test_anthropic_stream_cache_and_cumulative_usage)
{
    struct span s;
    struct run r;
    stream_text(LLM_API_ANTHROPIC_MESSAGES, anthropic_cumulative, &s, &r);
    /* message_delta replaces (42, not 1 + 40 + 42) and its input count is taken */
    assert_usage(&s, 6 + 1000 + 300, 42, 1000, 300, 200, -1);
    ck_assert_str_eq(s.output, "{\"role\":\"assistant\",\"content\":\"Hi\",\"reasoning\":"
                               "\"Hmm.\"}");
    ck_assert_str_eq(s.finish_reason, "end_turn");
    ck_assert_str_eq(s.response_model, "claude-x");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_uint_eq(r.flags[2], LLM_EV_CONTENT); /* thinking counts as the first token */
    ck_assert_uint_eq(r.flags[3], 0);              /* a signature does not */
    ck_assert_uint_eq(r.flags[9], 0);              /* unknown event */
    ck_assert_uint_eq(r.flags[10], LLM_EV_TERMINAL);
    assert_split_stream(LLM_API_ANTHROPIC_MESSAGES, anthropic_cumulative,
                        strlen(anthropic_cumulative), &s);
    span_release(&s);
}
END_TEST

START_TEST(test_anthropic_stream_tool_input_edge_cases)
{
    const char *in =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
        "\"tool_use\",\"id\":\"t0\",\"name\":\"noargs\",\"input\":{}}}\n\n"
        "event: content_block_stop\n"
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
        "\"tool_use\",\"id\":\"t1\",\"name\":\"whole\",\"input\":{\"a\": [1, 2]}}}\n\n"
        "event: content_block_stop\n"
        "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
        "\"tool_use\",\"id\":\"t2\",\"name\":\"cut\",\"input\":{}}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
        "\"input_json_delta\",\"partial_json\":\"{\\\"order_\"}}\n\n";
    struct span s;
    struct run r;
    stream_text(LLM_API_ANTHROPIC_MESSAGES, in, &s, &r);
    ck_assert_str_eq(s.output,
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
                     "{\"id\":\"t0\",\"type\":\"function\",\"function\":{\"name\":\"noargs\","
                     "\"arguments\":\"{}\"}},"
                     "{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"whole\","
                     "\"arguments\":\"{\\\"a\\\":[1,2]}\"}},"
                     "{\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"cut\","
                     "\"arguments\":\"{\\\"order_\"}}]}");
    /* truncated: an error, the usage seen so far kept */
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "STREAM_TRUNCATED");
    assert_usage(&s, 3, 1, -1, -1, -1, -1);
    ck_assert_uint_eq(r.flags[1], LLM_EV_CONTENT); /* a tool call began */
    span_release(&s);
}
END_TEST

static const char responses_stream[] =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\","
    "\"model\":\"gpt-5-2025\",\"status\":\"in_progress\",\"output\":[]}}\n\n"
    "event: response.output_item.added\n"
    "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":"
    "\"function_call\",\"call_id\":\"call_w\",\"name\":\"weather\",\"arguments\":\"\"}}\n\n"
    "event: response.function_call_arguments.delta\n"
    "data: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,\"delta\":"
    "\"{\\\"city\\\":\"}\n\n"
    "event: response.function_call_arguments.delta\n"
    "data: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,\"delta\":"
    "\"\\\"Oslo\\\"}\"}\n\n"
    "event: response.output_item.added\n"
    "data: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":"
    "\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"output_index\":1,\"content_index\":0,"
    "\"delta\":\"Checking\"}\n\n";
static const char responses_completed[] =
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":"
    "\"gpt-5-2025\",\"status\":\"completed\",\"service_tier\":\"default\",\"output\":[{\"type\":"
    "\"function_call\",\"call_id\":\"call_w\",\"name\":\"weather\",\"arguments\":"
    "\"{\\\"city\\\":\\\"Oslo\\\"}\"},{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
    "[{\"type\":\"output_text\",\"text\":\"Checking\"}]}],\"usage\":{\"input_tokens\":50,"
    "\"input_tokens_details\":{\"cached_tokens\":10},\"output_tokens\":20,"
    "\"output_tokens_details\":{\"reasoning_tokens\":5},\"total_tokens\":70}}}\n\n";

START_TEST(test_responses_stream_complete_and_truncated)
{
    const char *want = "{\"role\":\"assistant\",\"content\":\"Checking\",\"tool_calls\":[{\"id\":"
                       "\"call_w\",\"type\":\"function\",\"function\":{\"name\":\"weather\","
                       "\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]}";
    char *full = xasprintf("%s%s", responses_stream, responses_completed);
    struct span s;
    struct run r;
    stream_text(LLM_API_RESPONSES, full, &s, &r);
    ck_assert_str_eq(s.output, want);
    assert_usage(&s, 50, 20, 10, -1, -1, 5);
    ck_assert_str_eq(s.finish_reason, "completed");
    ck_assert_str_eq(s.service_tier, "default");
    ck_assert_str_eq(s.response_model, "gpt-5-2025");
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_uint_eq(r.flags[0], 0);
    ck_assert_uint_eq(r.flags[1], 0);
    ck_assert_uint_eq(r.flags[2], LLM_EV_CONTENT);
    ck_assert_uint_eq(r.flags[5], LLM_EV_CONTENT);
    ck_assert_uint_eq(r.flags[6], LLM_EV_TERMINAL);
    assert_split_stream(LLM_API_RESPONSES, full, strlen(full), &s);
    span_release(&s);
    free(full);

    /* cut before the terminal event: the same message from the deltas */
    stream_text(LLM_API_RESPONSES, responses_stream, &s, &r);
    ck_assert_str_eq(s.output, want);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "STREAM_TRUNCATED");
    ck_assert_str_eq(s.response_model, "gpt-5-2025");
    span_release(&s);
}
END_TEST

START_TEST(test_mid_stream_errors)
{
    struct span s;
    struct run r;
    stream_text(LLM_API_CHAT,
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
                "data: {\"error\":{\"message\":\"The server had an error\",\"type\":"
                "\"server_error\",\"code\":null}}\n\n",
                &s, &r);
    ck_assert_uint_eq(r.flags[2], LLM_EV_ERROR);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "server_error");
    ck_assert_str_eq(s.error_message, "The server had an error");
    ck_assert_str_eq(s.output, "{\"role\":\"assistant\",\"content\":\"Hel\"}");
    span_release(&s);

    stream_text(LLM_API_ANTHROPIC_MESSAGES,
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":"
                "{\"input_tokens\":7,\"output_tokens\":1}}}\n\n"
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
                &s, &r);
    ck_assert_uint_eq(r.flags[1], LLM_EV_ERROR);
    ck_assert_str_eq(s.error_code, "overloaded_error");
    ck_assert_str_eq(s.error_message, "Overloaded");
    assert_usage(&s, 7, 1, -1, -1, -1, -1);
    span_release(&s);

    stream_text(LLM_API_RESPONSES,
                "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\","
                "\"message\":\"Slow down\",\"param\":null,\"sequence_number\":3}\n\n",
                &s, &r);
    ck_assert_uint_eq(r.flags[0], LLM_EV_ERROR);
    ck_assert_str_eq(s.error_code, "rate_limit_exceeded");
    ck_assert_str_eq(s.error_message, "Slow down");
    span_release(&s);

    stream_text(LLM_API_RESPONSES,
                "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":"
                "{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":"
                "\"oops\"},\"usage\":null}}\n\n",
                &s, &r);
    ck_assert_uint_eq(r.flags[0], LLM_EV_TERMINAL | LLM_EV_ERROR);
    ck_assert_str_eq(s.error_code, "server_error");
    ck_assert_str_eq(s.finish_reason, "failed");
    span_release(&s);
}
END_TEST

START_TEST(test_truncated_streams_keep_partial_usage)
{
    size_t n;
    char *in = read_payload("payloads/openai-stream.sse", &n);
    const char *cut = strstr(in, "\"104\"");
    struct span s;
    struct run r;
    stream_cut(LLM_API_CHAT, in, (size_t)(cut - in), SIZE_MAX, &s, &r);
    ck_assert_int_eq(s.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(s.error_code, "STREAM_TRUNCATED");
    ck_assert_str_eq(s.output, "{\"role\":\"assistant\",\"content\":\"Your order A-\"}");
    assert_usage(&s, -1, -1, -1, -1, -1, -1);
    span_release(&s);
    free(in);

    in = read_payload("payloads/anthropic-stream.sse", &n);
    cut = strstr(in, "event: message_delta");
    stream_cut(LLM_API_ANTHROPIC_MESSAGES, in, (size_t)(cut - in), SIZE_MAX, &s, &r);
    ck_assert_str_eq(s.error_code, "STREAM_TRUNCATED");
    assert_usage(&s, 1252, 2, 0, 1210, 0, -1); /* message_start's counts */
    ck_assert_str_eq(s.output, payload_anthropic_output);
    ck_assert_ptr_null(s.finish_reason);
    span_release(&s);
    free(in);

    /* an OpenAI-compatible server: usage in the final choice chunk, no [DONE]:
     * complete, and that chunk is not the usage-only one */
    stream_text(LLM_API_CHAT,
                "data:{\"model\":\"llama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                "\"assistant\"}}]}\n\n"
                "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n"
                "data:{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
                &s, &r);
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    assert_usage(&s, 3, 1, -1, -1, -1, -1);
    ck_assert_uint_eq(r.flags[2], 0);
    ck_assert_str_eq(s.output, "{\"role\":\"assistant\",\"content\":\"ok\"}");
    ck_assert_str_eq(s.response_model, "llama");
    span_release(&s);
}
END_TEST

START_TEST(test_stream_tolerates_garbage)
{
    static const char *junk[] = {
        "{",
        "null",
        "[1,2]",
        "[DONE]",
        "{\"choices\":[{\"index\":-1,\"delta\":{\"content\":\"x\"}}]}",
        "{\"choices\":[{\"index\":1e9,\"delta\":{\"content\":\"x\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":99999,\"function\":"
        "{\"arguments\":\"x\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":{\"a\":1}}}]}",
        "{\"choices\":\"str\",\"usage\":\"x\"}",
        "{\"type\":\"content_block_delta\",\"index\":600,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"x\"}}",
        "{\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"partial_json\":\"x\"}}",
        "{\"type\":\"content_block_stop\",\"index\":-3}",
        "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-1}}",
        "{\"type\":\"response.function_call_arguments.delta\",\"output_index\":70000,"
        "\"delta\":\"x\"}",
        "{\"type\":\"response.completed\",\"response\":\"nope\"}",
        "{\"type\":\"response.output_item.done\",\"output_index\":3,\"item\":{\"type\":"
        "\"function_call\",\"arguments\":7}}",
    };
    enum llm_api apis[] = {LLM_API_CHAT, LLM_API_ANTHROPIC_MESSAGES, LLM_API_RESPONSES,
                           LLM_API_EMBEDDINGS, LLM_API_OTHER};
    for (size_t a = 0; a < sizeof(apis) / sizeof(apis[0]); a++) {
        struct llm_stream *st = llm_stream_new(apis[a]);
        for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
            unsigned f = llm_stream_event(st, "", junk[i], strlen(junk[i]));
            if (apis[a] != LLM_API_CHAT && i == 3)
                ck_assert_uint_eq(f, 0); /* [DONE] where the API has none */
        }
        ck_assert_uint_eq(llm_stream_event(st, "x", NULL, 0), 0);
        struct span s;
        span_init(&s);
        llm_stream_finish(st, &s);
        llm_stream_finish(st, &s); /* twice is harmless */
        if (apis[a] == LLM_API_EMBEDDINGS || apis[a] == LLM_API_OTHER)
            ck_assert_int_eq(s.status, SPAN_STATUS_OK); /* no terminal event to wait for */
        else if (apis[a] == LLM_API_ANTHROPIC_MESSAGES)
            ck_assert_str_eq(s.error_code, "STREAM_TRUNCATED"); /* no message_stop came */
        span_release(&s);
        llm_stream_free(st);
    }
    llm_stream_free(NULL);

    /* the payload streams with bytes flipped never crash */
    size_t n;
    char *in = read_payload("payloads/anthropic-stream.sse", &n);
    unsigned x = 7;
    for (int round = 0; round < 300; round++) {
        char *m = xmalloc(n);
        memcpy(m, in, n);
        for (int k = 0; k < 8; k++) {
            x = x * 1103515245u + 12345u;
            m[(x >> 8) % n] = (char)(x >> 24);
        }
        struct span s;
        struct run r;
        stream_cut(round % 2 ? LLM_API_ANTHROPIC_MESSAGES : LLM_API_RESPONSES, m, n, SIZE_MAX, &s,
                   &r);
        span_release(&s);
        free(m);
    }
    free(in);
}
END_TEST

START_TEST(test_joined_text_is_capped)
{
    size_t chunk = 1u << 20;
    char *text = xmalloc(chunk + 1);
    memset(text, 'a', chunk);
    text[chunk] = '\0';
    char *ev = xasprintf("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}}]}", text);
    struct llm_stream *st = llm_stream_new(LLM_API_CHAT);
    for (int i = 0; i < 17; i++)
        ck_assert_uint_eq(llm_stream_event(st, "", ev, strlen(ev)), LLM_EV_CONTENT);
    ck_assert_int_eq(llm_stream_clipped(st), 1);
    struct span s;
    span_init(&s);
    llm_stream_finish(st, &s);
    ck_assert_uint_eq(strlen(s.output),
                      strlen("{\"role\":\"assistant\",\"content\":\"\"}") + 16 * chunk);
    span_release(&s);
    llm_stream_free(st);
    free(ev);
    free(text);
}
END_TEST

/* The proxy asked for usage on a client's behalf: every chunk then says
 * "usage":null, and the client must see the chunks without it. */
START_TEST(test_strip_null_usage_gives_the_chunk_the_client_asked_for)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"data: {\"id\":\"c\",\"choices\":[],\"usage\":null,\"obfuscation\":\"x\"}\n\n",
         "data: {\"id\":\"c\",\"choices\":[],\"obfuscation\":\"x\"}\n\n"},
        {"data: {\"id\":\"c\",\"usage\":null}\n\n", "data: {\"id\":\"c\"}\n\n"},
        {"data:{\"usage\":null,\"id\":\"c\"}\r\n\r\n", "data:{\"id\":\"c\"}\r\n\r\n"},
        {"data: {\"usage\" : null }\n\n", "data: { }\n\n"},
        /* a nested usage is not the chunk's */
        {"data: {\"x\":{\"usage\":null}}\n\n", NULL},
        /* a real usage stays */
        {"data: {\"id\":\"c\",\"usage\":{\"prompt_tokens\":3}}\n\n", NULL},
        {"data: [DONE]\n\n", NULL},
        {": comment\n\n", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 0;
        char *got = llm_strip_null_usage(cases[i].in, strlen(cases[i].in), &n);
        if (!cases[i].out) {
            ck_assert_msg(got == NULL, "case %zu changed: %s", i, got);
            continue;
        }
        ck_assert_msg(got != NULL, "case %zu: not stripped", i);
        ck_assert_str_eq(got, cases[i].out);
        ck_assert_uint_eq(n, strlen(cases[i].out));
        free(got);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("llmcall");
    TCase *req = tcase_create("request");
    tcase_add_test(req, test_chat_request_messages_params_and_estimate);
    tcase_add_test(req, test_chat_request_tools_count_toward_the_estimate);
    tcase_add_test(req, test_max_tokens_under_each_name);
    tcase_add_test(req, test_anthropic_request_system_first_and_params);
    tcase_add_test(req, test_responses_request_instructions_and_items);
    tcase_add_test(req, test_embeddings_request);
    tcase_add_test(req, test_request_that_is_not_a_json_object_gives_defaults);
    tcase_add_test(req, test_n_is_bounded);
    tcase_add_test(req, test_api_for_paths);
    tcase_add_test(req, test_inject_every_case);
    tcase_add_test(req, test_inject_keeps_every_other_byte);
    tcase_add_test(req, test_inject_refuses_what_is_not_an_object);
    suite_add_tcase(s, req);
    TCase *resp = tcase_create("answer");
    tcase_add_test(resp, test_openai_payload_answer);
    tcase_add_test(resp, test_anthropic_payload_answer);
    tcase_add_test(resp, test_anthropic_cache_split_and_thinking);
    tcase_add_test(resp, test_chat_answer_details_choices_and_tool_calls);
    tcase_add_test(resp, test_counts_that_are_not_believed);
    tcase_add_test(resp, test_responses_answer);
    tcase_add_test(resp, test_error_bodies);
    tcase_add_test(resp, test_embeddings_answer_float_and_base64);
    suite_add_tcase(s, resp);
    TCase *str = tcase_create("stream");
    tcase_set_timeout(str, 120);
    tcase_add_test(str, test_openai_payload_stream);
    tcase_add_test(str, test_anthropic_payload_stream);
    tcase_add_test(str, test_chat_stream_n2_interleaved);
    tcase_add_test(str, test_chat_stream_tool_call_fragments);
    tcase_add_test(str, test_anthropic_stream_cache_and_cumulative_usage);
    tcase_add_test(str, test_anthropic_stream_tool_input_edge_cases);
    tcase_add_test(str, test_responses_stream_complete_and_truncated);
    tcase_add_test(str, test_mid_stream_errors);
    tcase_add_test(str, test_truncated_streams_keep_partial_usage);
    tcase_add_test(str, test_stream_tolerates_garbage);
    tcase_add_test(str, test_joined_text_is_capped);
    tcase_add_test(str, test_strip_null_usage_gives_the_chunk_the_client_asked_for);
    suite_add_tcase(s, str);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
