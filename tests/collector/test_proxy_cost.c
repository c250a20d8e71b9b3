/*
 * Exact cost of proxied calls, from the provider's own answer to nano-USD
 * (issue 5 item 7): each case is an answer body as the provider sends it,
 * read by llmcall and priced with the default table (fixtures/prices.json),
 * against a cost computed by hand in the comment beside it: tokens x rates
 * in USD per million tokens gives micro-USD, so the expected nano-USD is
 * that sum x 1,000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/llmcall.h"
#include "collector/sse.h"
#include "store/prices.h"
#include "tests/support/testutil.h"

static struct price_table *prices;

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(price_table_default(&prices, err, sizeof(err)), 0);
}

static void teardown(void)
{
    price_table_free(prices);
}

/* Price the answer 'body' of 'api' and return the cost in nano-USD (-1 unpriced). */
static int64_t cost_of(enum llm_api api, const char *body)
{
    struct span s;
    span_init(&s);
    llm_response_parse(api, 200, body, strlen(body), &s);
    int64_t nusd = price_apply(prices, &s) ? s.cost_nusd : -1;
    span_release(&s);
    return nusd;
}

START_TEST(test_openai_cached_input_is_billed_at_the_cache_rate)
{
    /* gpt-4o-mini: (2000 - 1536) x 0.15 + 1536 x 0.075 + 300 x 0.6 = 364.8 per Mtok */
    ck_assert_int_eq(
        cost_of(LLM_API_CHAT,
                "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini-2024-07-18\","
                "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
                "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2000,"
                "\"completion_tokens\":300,\"total_tokens\":2300,\"prompt_tokens_details\":"
                "{\"cached_tokens\":1536}},\"service_tier\":\"default\"}"),
        364800);
}
END_TEST

START_TEST(test_reasoning_tokens_are_not_billed_twice)
{
    /* o4-mini: 100 x 1.1 + 1000 x 4.4 (reasoning is inside the 1000) = 4510 */
    ck_assert_int_eq(
        cost_of(LLM_API_CHAT,
                "{\"object\":\"chat.completion\",\"model\":\"o4-mini-2025-04-16\",\"choices\":[{"
                "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"4\"},"
                "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":100,"
                "\"completion_tokens\":1000,\"completion_tokens_details\":{\"reasoning_tokens\":"
                "800}}}"),
        4510000);
}
END_TEST

START_TEST(test_anthropic_cache_reads_and_5m_1h_writes)
{
    /* claude-sonnet-4-5: 50 x 3 + 10000 x 0.3 + 1000 x 3.75 + 2000 x 6 + 500 x 15 = 26400 */
    ck_assert_int_eq(
        cost_of(
            LLM_API_ANTHROPIC_MESSAGES,
            "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
            "\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"Done.\"}],"
            "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":50,"
            "\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":10000,"
            "\"cache_creation\":{\"ephemeral_5m_input_tokens\":1000,"
            "\"ephemeral_1h_input_tokens\":2000},\"output_tokens\":500,\"service_tier\":"
            "\"standard\"}}"),
        26400000);
    /* without the breakdown every write is a 5-minute one: 50 x 3 + 3000 x 3.75 + 500 x 15 */
    ck_assert_int_eq(
        cost_of(LLM_API_ANTHROPIC_MESSAGES,
                "{\"type\":\"message\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
                "\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":3000,"
                "\"cache_read_input_tokens\":0,\"output_tokens\":500}}"),
        18900000);
}
END_TEST

START_TEST(test_context_length_tier_counts_the_whole_prompt)
{
    /* 150000 input + 60000 cache reads = 210000 > 200k, so the tier's rates:
     * 150000 x 6 + 60000 x 0.6 + 1000 x 22.5 = 958500 */
    ck_assert_int_eq(
        cost_of(LLM_API_ANTHROPIC_MESSAGES,
                "{\"type\":\"message\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
                "\"usage\":{\"input_tokens\":150000,\"cache_read_input_tokens\":60000,"
                "\"cache_creation_input_tokens\":0,\"output_tokens\":1000}}"),
        958500000);
    /* the same call just under the threshold stays at the base rates:
     * 140000 x 3 + 60000 x 0.3 + 1000 x 15 = 453000 */
    ck_assert_int_eq(
        cost_of(LLM_API_ANTHROPIC_MESSAGES,
                "{\"type\":\"message\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
                "\"usage\":{\"input_tokens\":140000,\"cache_read_input_tokens\":60000,"
                "\"cache_creation_input_tokens\":0,\"output_tokens\":1000}}"),
        453000000);
}
END_TEST

START_TEST(test_service_tier_of_the_answer_picks_the_rates)
{
    /* gpt-4o-mini priority: 1000 x 0.25 + 100 x 1 = 350 */
    ck_assert_int_eq(
        cost_of(
            LLM_API_CHAT,
            "{\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],"
            "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":100},"
            "\"service_tier\":\"priority\"}"),
        350000);
    /* o3 flex: 1000 x 1 + 2000 x 4 = 9000 */
    ck_assert_int_eq(
        cost_of(LLM_API_CHAT,
                "{\"object\":\"chat.completion\",\"model\":\"o3-2025-04-16\",\"choices\":[],"
                "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":2000,"
                "\"completion_tokens_details\":{\"reasoning_tokens\":1500}},"
                "\"service_tier\":\"flex\"}"),
        9000000);
    /* Anthropic batch, from usage.service_tier: 1000 x 1.5 + 1000 x 7.5 = 9000 */
    ck_assert_int_eq(
        cost_of(LLM_API_ANTHROPIC_MESSAGES,
                "{\"type\":\"message\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
                "\"usage\":{\"input_tokens\":1000,\"output_tokens\":1000,"
                "\"service_tier\":\"batch\"}}"),
        9000000);
    /* "default" is the base rate: 1000 x 0.15 + 100 x 0.6 = 210 */
    ck_assert_int_eq(
        cost_of(
            LLM_API_CHAT,
            "{\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],"
            "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":100},"
            "\"service_tier\":\"default\"}"),
        210000);
}
END_TEST

START_TEST(test_embeddings_and_responses)
{
    /* text-embedding-3-small: 5000 x 0.02 = 100 */
    ck_assert_int_eq(cost_of(LLM_API_EMBEDDINGS,
                             "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                             "\"embedding\":[0.1,0.2]}],\"model\":\"text-embedding-3-small\","
                             "\"usage\":{\"prompt_tokens\":5000,\"total_tokens\":5000}}"),
                     100000);
    /* Responses, gpt-4.1: 2000 x 2 + 8000 x 0.5 + 500 x 8 = 12000 */
    ck_assert_int_eq(
        cost_of(LLM_API_RESPONSES,
                "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"model\":"
                "\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":\"message\",\"role\":\"assistant\","
                "\"content\":[{\"type\":\"output_text\",\"text\":\"hi\",\"annotations\":[]}]}],"
                "\"usage\":{\"input_tokens\":10000,\"input_tokens_details\":{\"cached_tokens\":"
                "8000},\"output_tokens\":500,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                "\"total_tokens\":10500}}"),
        12000000);
}
END_TEST

struct feed {
    struct llm_stream *st;
};

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *raw,
                    size_t rawlen)
{
    (void)raw, (void)rawlen;
    struct feed *f = arg;
    if (data)
        llm_stream_event(f->st, event, data, len);
    return 0;
}

START_TEST(test_streamed_anthropic_usage_prices_like_the_plain_answer)
{
    /* message_delta's usage is cumulative: the last one counts, not the sum.
     * claude-sonnet-4-5: 10 x 3 + 5000 x 0.3 + 400 x 3.75 + 30 x 15 = 3480 */
    static const char sse[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
        "\"content\":[],\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":400,"
        "\"cache_read_input_tokens\":5000,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "null},\"usage\":{\"output_tokens\":12}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":30}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    struct feed f = {llm_stream_new(LLM_API_ANTHROPIC_MESSAGES)};
    struct sse *p = sse_new(1u << 20, on_event, &f);
    ck_assert_int_eq(sse_feed(p, sse, sizeof(sse) - 1), SSE_OK);
    struct span s;
    span_init(&s);
    llm_stream_finish(f.st, &s);
    ck_assert_int_eq(s.status, SPAN_STATUS_OK);
    ck_assert_int_eq(s.usage.output_tokens, 30);
    ck_assert_int_eq(s.usage.input_tokens, 5410);
    ck_assert(price_apply(prices, &s));
    ck_assert_int_eq(s.cost_nusd, 3480000);
    span_release(&s);
    sse_free(p);
    llm_stream_free(f.st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proxy_cost");
    TCase *tc = tcase_create("golden");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_openai_cached_input_is_billed_at_the_cache_rate);
    tcase_add_test(tc, test_reasoning_tokens_are_not_billed_twice);
    tcase_add_test(tc, test_anthropic_cache_reads_and_5m_1h_writes);
    tcase_add_test(tc, test_context_length_tier_counts_the_whole_prompt);
    tcase_add_test(tc, test_service_tier_of_the_answer_picks_the_rates);
    tcase_add_test(tc, test_embeddings_and_responses);
    tcase_add_test(tc, test_streamed_anthropic_usage_prices_like_the_plain_answer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
