/*
 * test_prices: the price table and exact costs. Every expected figure is
 * worked out by hand in the comment beside it, in pico-USD per token
 * (1 USD per Mtok = 1,000,000 pico-USD per token) and nano-USD totals.
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/span.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/prices.h"
#include "tests/support/testutil.h"

#define SENTINEL 777777

static struct price_table *load_default(void)
{
    char err[256] = "";
    struct price_table *t = NULL;
    int rc = price_table_default(&t, err, sizeof(err));
    ck_assert_msg(rc == LT_OK, "default table: %s", err);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* A span for 'model' at 'date' with input/output counts; the rest absent. */
static void span_at(struct span *s, const char *model, const char *date, int64_t in, int64_t out)
{
    span_init(s);
    s->model = model ? strdup(model) : NULL;
    ck_assert_int_eq(time_parse_iso(date, &s->start_ns), 0);
    s->usage.input_tokens = in;
    s->usage.output_tokens = out;
}

/* Cost of 's'; fails the test when unpriced. Checks the entry id too. */
static int64_t cost_of(const struct price_table *t, const struct span *s, const char *want_id)
{
    int64_t nusd = SENTINEL;
    const char *id = NULL;
    ck_assert_msg(price_cost(t, s, &nusd, &id) == 1, "unpriced: %s / %s", s->response_model,
                  s->model);
    if (want_id)
        ck_assert_str_eq(id, want_id);
    return nusd;
}

static void assert_unpriced(const struct price_table *t, const struct span *s)
{
    int64_t nusd = SENTINEL;
    const char *id = "x";
    ck_assert_int_eq(price_cost(t, s, &nusd, &id), 0);
    ck_assert_int_eq(nusd, SENTINEL);
    ck_assert_ptr_null(id);
}

/* The gpt-4o-mini call of the brief: 412 input of which 256 cached, 19 out. */
static void mini_call(struct span *s, const char *model)
{
    span_at(s, model, "2025-06-01", 412, 19);
    s->usage.cache_read_tokens = 256;
}

START_TEST(test_default_table_loads_with_many_models_and_valid_patterns)
{
    struct price_table *t = load_default();
    ck_assert_uint_ge(price_table_count(t), 40);
    ck_assert_int_eq(strncmp(price_table_version(t), "p-", 2), 0);
    ck_assert_uint_eq(strlen(price_table_version(t)), 10);

    /* Independently of the loader: every pattern in the file compiles as
     * POSIX ERE and there are at least 40 distinct model ids. */
    cJSON *root = cJSON_ParseWithLength(embedded_prices_json, embedded_prices_json_len);
    ck_assert_ptr_nonnull(root);
    const cJSON *m;
    int patterns = 0, ids = 0;
    const char *prev[256];
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(root, "models"))
    {
        const char *id = cJSON_GetObjectItem(m, "id")->valuestring;
        const cJSON *match = cJSON_GetObjectItem(m, "match");
        int seen = 0;
        for (int i = 0; i < ids; i++)
            seen |= strcmp(prev[i], id) == 0;
        if (!seen && ids < 256)
            prev[ids++] = id;
        if (match) {
            regex_t re;
            ck_assert_msg(regcomp(&re, match->valuestring, REG_EXTENDED | REG_ICASE | REG_NOSUB) ==
                              0,
                          "pattern of %s", id);
            ck_assert_msg(regexec(&re, id, 0, NULL, 0) == 0, "%s does not match its own id", id);
            regfree(&re);
            patterns++;
        }
    }
    ck_assert_int_ge(ids, 40);
    ck_assert_int_ge(patterns, 30);
    cJSON_Delete(root);
    price_table_free(t);
}
END_TEST

START_TEST(test_gpt4o_mini_cached_call_exact_nano_usd)
{
    struct price_table *t = load_default();
    struct span s;
    mini_call(&s, "gpt-4o-mini");
    /* 156 x 150,000 + 256 x 75,000 + 19 x 600,000 = 23,400,000 + 19,200,000
     * + 11,400,000 = 54,000,000 pico = 54,000 nano-USD. */
    ck_assert_int_eq(cost_of(t, &s, "gpt-4o-mini"), 54000);
    span_release(&s);

    /* The dated snapshot in response_model, a provider prefix, odd case. */
    const char *names[] = {"gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini",
                           "azure/gpt-4o-mini-2024-07-18", "GPT-4o-Mini",
                           "a/b/c/d/e/f/gpt-4o-mini"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        mini_call(&s, "gpt-4o");
        s.response_model = strdup(names[i]);
        ck_assert_int_eq(cost_of(t, &s, "gpt-4o-mini"), 54000);
        span_release(&s);
    }
    price_table_free(t);
}
END_TEST

START_TEST(test_specific_model_beats_its_prefix)
{
    struct price_table *t = load_default();
    struct span s;
    mini_call(&s, "gpt-4o-2024-08-06");
    /* 156 x 2,500,000 + 256 x 1,250,000 + 19 x 10,000,000 = 390,000,000 +
     * 320,000,000 + 190,000,000 = 900,000,000 pico. */
    ck_assert_int_eq(cost_of(t, &s, "gpt-4o"), 900000);
    span_release(&s);

    span_at(&s, "o3-mini-2025-01-31", "2025-07-01", 1000, 1000);
    /* 1000 x 1,100,000 + 1000 x 4,400,000 = 5,500,000,000 pico. */
    ck_assert_int_eq(cost_of(t, &s, "o3-mini"), 5500000);
    span_release(&s);
    span_at(&s, "o3-2025-04-16", "2025-07-01", 1000, 1000);
    /* 1000 x 2,000,000 + 1000 x 8,000,000 = 10,000,000,000 pico. */
    ck_assert_int_eq(cost_of(t, &s, "o3"), 10000000);
    span_release(&s);

    /* Loose custom patterns: the id sharing the longest prefix wins. */
    const char *custom = "{\"models\":["
                         "{\"id\":\"acme\",\"match\":\"^acme\",\"usd_per_mtok\":{\"input\":1,"
                         "\"output\":1}},"
                         "{\"id\":\"acme-mini\",\"match\":\"^acme-mini\",\"usd_per_mtok\":"
                         "{\"input\":2,\"output\":2}}]}";
    char err[256];
    ck_assert_int_eq(price_table_add_json(t, custom, strlen(custom), "custom", err, sizeof(err)),
                     LT_OK);
    span_at(&s, "acme-mini-2025-01-01", "2025-07-01", 10, 0);
    ck_assert_int_eq(cost_of(t, &s, "acme-mini"), 20000); /* 10 x 2,000,000 pico */
    span_release(&s);
    span_at(&s, "acme-large", "2025-07-01", 10, 0);
    ck_assert_int_eq(cost_of(t, &s, "acme"), 10000);
    span_release(&s);
    price_table_free(t);
}
END_TEST

/* Sonnet 4.5: 1,000 uncached + 20,000 cache read + 3,000 cache writes (1,000
 * of them 1-hour) = 24,000 input, 500 output. */
static void sonnet_call(struct span *s, const char *model)
{
    span_at(s, model, "2025-10-10", 24000, 500);
    s->usage.cache_read_tokens = 20000;
    s->usage.cache_write_tokens = 3000;
    s->usage.cache_write_1h_tokens = 1000;
}

START_TEST(test_anthropic_cache_read_and_both_cache_writes)
{
    struct price_table *t = load_default();
    struct span s;
    sonnet_call(&s, "claude-sonnet-4-5-20250929");
    /* 1,000 x 3,000,000 + 20,000 x 300,000 + 2,000 x 3,750,000 + 1,000 x
     * 6,000,000 + 500 x 15,000,000 = 3e9 + 6e9 + 7.5e9 + 6e9 + 7.5e9 = 30e9
     * pico = 30,000,000 nano-USD. */
    ck_assert_int_eq(cost_of(t, &s, "claude-sonnet-4-5"), 30000000);
    span_release(&s);

    /* Bedrock and Vertex spellings of the same model. */
    sonnet_call(&s, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    ck_assert_int_eq(cost_of(t, &s, "claude-sonnet-4-5"), 30000000);
    span_release(&s);
    sonnet_call(&s, "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0");
    ck_assert_int_eq(cost_of(t, &s, "claude-sonnet-4-5"), 30000000);
    span_release(&s);
    sonnet_call(&s, "vertex_ai/claude-sonnet-4-5@20250929");
    ck_assert_int_eq(cost_of(t, &s, "claude-sonnet-4-5"), 30000000);
    span_release(&s);

    /* Without the 1-hour split every write is a 5-minute write:
     * 3,000 x 3,750,000 = 11.25e9 instead of 7.5e9 + 6e9: 27,750,000. */
    sonnet_call(&s, "claude-sonnet-4-5");
    s.usage.cache_write_1h_tokens = -1;
    ck_assert_int_eq(cost_of(t, &s, "claude-sonnet-4-5"), 27750000);
    span_release(&s);

    /* Batch halves every rate: 15,000,000 nano-USD. */
    sonnet_call(&s, "claude-sonnet-4-5");
    s.service_tier = strdup("batch");
    ck_assert_int_eq(cost_of(t, &s, "claude-sonnet-4-5"), 15000000);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_long_context_tier_chosen_by_total_prompt)
{
    struct price_table *t = load_default();
    struct span s;
    /* 1,000 uncached + 199,500 cached = 200,500 > 200,000: the tier.
     * 1,000 x 6,000,000 + 199,500 x 600,000 + 100 x 22,500,000 = 6e9 +
     * 119.7e9 + 2.25e9 = 127.95e9 pico. */
    span_at(&s, "claude-sonnet-4-5", "2025-10-10", 200500, 100);
    s.usage.cache_read_tokens = 199500;
    ck_assert_int_eq(cost_of(t, &s, NULL), 127950000);
    span_release(&s);

    /* Exactly 200,000 does not exceed the threshold: base rates.
     * 500 x 3,000,000 + 199,500 x 300,000 + 100 x 15,000,000 = 1.5e9 +
     * 59.85e9 + 1.5e9 = 62.85e9 pico. */
    span_at(&s, "claude-sonnet-4-5", "2025-10-10", 200000, 100);
    s.usage.cache_read_tokens = 199500;
    ck_assert_int_eq(cost_of(t, &s, NULL), 62850000);
    span_release(&s);

    /* Gemini 2.5 Pro, 250,000 input (50,000 cached), 2,000 output:
     * 200,000 x 2,500,000 + 50,000 x 250,000 + 2,000 x 15,000,000 = 500e9 +
     * 12.5e9 + 30e9 = 542.5e9 pico. */
    span_at(&s, "gemini-2.5-pro", "2025-08-01", 250000, 2000);
    s.usage.cache_read_tokens = 50000;
    ck_assert_int_eq(cost_of(t, &s, "gemini-2.5-pro"), 542500000);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_reasoning_billed_once_with_or_without_own_rate)
{
    struct price_table *t = load_default();
    struct span s;
    /* o3 has no reasoning rate: 100 x 2,000,000 + 200 x 8,000,000 + 800 x
     * 8,000,000 = 0.2e9 + 1.6e9 + 6.4e9 = 8.2e9 pico, the same as 1,000
     * output tokens (reasoning is inside output, not added again). */
    span_at(&s, "o3", "2025-07-01", 100, 1000);
    s.usage.reasoning_tokens = 800;
    ck_assert_int_eq(cost_of(t, &s, "o3"), 8200000);
    s.usage.reasoning_tokens = -1;
    ck_assert_int_eq(cost_of(t, &s, "o3"), 8200000);
    span_release(&s);

    /* Gemini 2.5 Flash preview bills thinking at 3.50 vs 0.60: 100 x 150,000
     * + 200 x 600,000 + 800 x 3,500,000 = 15e6 + 120e6 + 2,800e6 pico. */
    span_at(&s, "gemini-2.5-flash-preview-05-20", "2025-05-25", 100, 1000);
    s.usage.reasoning_tokens = 800;
    ck_assert_int_eq(cost_of(t, &s, "gemini-2.5-flash-preview"), 2935000);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_price_change_splits_spans_by_date)
{
    struct price_table *t = load_default();
    struct span s;
    /* o3 before the 2025-06-10 cut: 1000 x 10,000,000 + 1000 x 40,000,000. */
    span_at(&s, "o3", "2025-05-01", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "o3"), 50000000);
    span_release(&s);
    span_at(&s, "o3", "2025-07-01", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "o3"), 10000000);
    span_release(&s);
    /* Before its first entry o3 has no price at all. */
    span_at(&s, "o3", "2025-01-01", 1000, 1000);
    assert_unpriced(t, &s);
    span_release(&s);

    /* Effective times within a day (DeepSeek, 2025-02-08 16:00 UTC):
     * 1000 x 140,000 + 1000 x 280,000 before; 270,000 + 1,100,000 after. */
    span_at(&s, "deepseek-chat", "2025-02-08T15:59:59Z", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "deepseek-chat"), 420000);
    span_release(&s);
    span_at(&s, "deepseek/deepseek-chat", "2025-02-08T16:00:00Z", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "deepseek-chat"), 1370000);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_unknown_model_or_missing_usage_is_unpriced)
{
    struct price_table *t = load_default();
    struct span s;
    span_at(&s, "my-local-llama", "2025-07-01", 100, 100);
    assert_unpriced(t, &s);
    span_release(&s);
    /* A fine-tuned model is not its base model. */
    span_at(&s, "ft:gpt-4o-mini-2024-07-18:acme::abc123", "2025-07-01", 100, 100);
    assert_unpriced(t, &s);
    span_release(&s);
    span_at(&s, "gpt-4o-mini", "2025-07-01", -1, -1);
    assert_unpriced(t, &s);
    span_release(&s);
    span_at(&s, NULL, "2025-07-01", 100, 100);
    assert_unpriced(t, &s);
    span_release(&s);
    /* An absurd count is refused rather than overflowed. */
    span_at(&s, "gpt-4o-mini", "2025-07-01", 2000000000000LL, 1);
    assert_unpriced(t, &s);
    span_release(&s);
    /* Only output known: input counts as 0. 10 x 600,000 pico. */
    span_at(&s, "gpt-4o-mini", "2025-07-01", -1, 10);
    ck_assert_int_eq(cost_of(t, &s, NULL), 6000);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_service_tier_embeddings_and_single_rounding)
{
    struct price_table *t = load_default();
    struct span s;
    /* Priority: 156 x 250,000 + 256 x 125,000 + 19 x 1,000,000 = 39e6 +
     * 32e6 + 19e6 pico. Flex is not offered for gpt-4o-mini: standard. */
    mini_call(&s, "gpt-4o-mini");
    s.service_tier = strdup("priority");
    ck_assert_int_eq(cost_of(t, &s, NULL), 90000);
    xstrset(&s.service_tier, "flex");
    ck_assert_int_eq(cost_of(t, &s, NULL), 54000);
    span_release(&s);

    /* Embeddings: input only. 1000 x 20,000 pico. */
    span_at(&s, "text-embedding-3-small", "2025-07-01", 1000, 5);
    ck_assert_int_eq(cost_of(t, &s, NULL), 20000);
    span_release(&s);

    /* 3 cached tokens at 18,750 pico = 56,250 pico: 56 nano-USD when rounded
     * once (57 if each token were rounded); with 1 output token at 300,000
     * the total 356,250 pico is 356. */
    span_at(&s, "gemini-2.0-flash-lite", "2025-07-01", 3, 0);
    s.usage.cache_read_tokens = 3;
    ck_assert_int_eq(cost_of(t, &s, NULL), 56);
    s.usage.output_tokens = 1;
    ck_assert_int_eq(cost_of(t, &s, NULL), 356);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_apply_keeps_client_cost_and_records_version)
{
    struct price_table *t = load_default();
    struct span s;
    mini_call(&s, "gpt-4o-mini");
    ck_assert_int_eq(price_apply(t, &s), 1);
    ck_assert(s.has_cost);
    ck_assert_int_eq(s.cost_nusd, 54000);
    ck_assert_str_eq(s.price_version, price_table_version(t));
    span_release(&s);

    mini_call(&s, "gpt-4o-mini");
    s.has_cost = true;
    s.cost_nusd = 1;
    ck_assert_int_eq(price_apply(t, &s), 1);
    ck_assert_int_eq(s.cost_nusd, 1);
    ck_assert_ptr_null(s.price_version);
    span_release(&s);

    span_at(&s, "nobody-knows", "2025-07-01", 5, 5);
    ck_assert_int_eq(price_apply(t, &s), 0);
    ck_assert(!s.has_cost);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_later_layer_overrides_and_version_changes)
{
    struct price_table *t = load_default(), *t2 = load_default();
    char err[256];
    size_t n = price_table_count(t);
    char v1[16];
    snprintf(v1, sizeof(v1), "%s", price_table_version(t));
    ck_assert_str_eq(v1, price_table_version(t2)); /* stable for equal layers */

    /* Same id and effective date as the default: replaced, count unchanged,
     * the default's pattern kept (the dated snapshot still matches).
     * 412 x 1,000,000 (cache read defaults to input) + 19 x 2,000,000. */
    const char *same = "{\"models\":[{\"id\":\"gpt-4o-mini\",\"effective\":\"2024-07-18\","
                       "\"usd_per_mtok\":{\"input\":1,\"output\":2}}]}";
    ck_assert_int_eq(price_table_add_json(t, same, strlen(same), "custom", err, sizeof(err)),
                     LT_OK);
    ck_assert_uint_eq(price_table_count(t), n);
    ck_assert_str_ne(price_table_version(t), v1);
    struct span s;
    mini_call(&s, "gpt-4o-mini-2024-07-18");
    ck_assert_int_eq(cost_of(t, &s, "gpt-4o-mini"), 450000);
    span_release(&s);

    /* An undated custom entry wins over every dated default entry. */
    const char *undated = "{\"models\":[{\"id\":\"o3\",\"usd_per_mtok\":{\"input\":1,"
                          "\"output\":1}}]}";
    ck_assert_int_eq(price_table_add_json(t, undated, strlen(undated), "custom", err, sizeof(err)),
                     LT_OK);
    span_at(&s, "o3", "2025-05-01", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "o3"), 2000000); /* 2,000 x 1,000,000 pico */
    span_release(&s);
    price_table_free(t);
    price_table_free(t2);
}
END_TEST

START_TEST(test_malformed_price_json_is_refused_with_reason)
{
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"models\":[", "malformed JSON"},
        {"[]", "models"},
        {"{\"models\":{}}", "models"},
        {"{\"models\":[{\"usd_per_mtok\":{\"input\":1}}]}", "id is missing"},
        {"{\"models\":[{\"id\":\"x\"}]}", "usd_per_mtok is missing"},
        {"{\"models\":[{\"id\":\"x\",\"usd_per_mtok\":{\"cached\":1}}]}", "unknown key 'cached'"},
        {"{\"models\":[{\"id\":\"x\",\"usd_per_mtok\":{\"input\":-1}}]}", "input must be"},
        {"{\"models\":[{\"id\":\"x\",\"usd_per_mtok\":{\"input\":\"1\"}}]}", "input must be"},
        {"{\"models\":[{\"id\":\"x\",\"usd_per_mtok\":{\"cache_read\":1}}]}", "input or output"},
        {"{\"models\":[{\"id\":\"x\",\"match\":\"(?i)^x$\",\"usd_per_mtok\":{\"input\":1}}]}",
         "inline flags"},
        {"{\"models\":[{\"id\":\"x\",\"match\":\"^x(\",\"usd_per_mtok\":{\"input\":1}}]}",
         "does not compile"},
        {"{\"models\":[{\"id\":\"x\",\"effective\":\"soon\",\"usd_per_mtok\":{\"input\":1}}]}",
         "effective"},
        {"{\"models\":[{\"id\":\"x\",\"effective\":\"9999-01-01\",\"usd_per_mtok\":{"
         "\"input\":1}}]}",
         "effective"},
        {"{\"models\":[{\"id\":\"x\",\"mode\":\"image\",\"usd_per_mtok\":{\"input\":1}}]}", "mode"},
        {"{\"models\":[{\"id\":\"x\",\"usd_per_mtok\":{\"input\":1},\"tiers\":[{"
         "\"above_input_tokens\":0,\"usd_per_mtok\":{\"input\":2}}]}]}",
         "above_input_tokens"},
        {"{\"models\":[{\"id\":\"x\",\"usd_per_mtok\":{\"input\":1},\"service_tiers\":{"
         "\"turbo\":{\"usd_per_mtok\":{\"input\":2}}}}]}",
         "unknown service tier"},
        {"{\"models\":[{\"id\":\"ok\",\"usd_per_mtok\":{\"input\":1}},{\"id\":\"y\",\"tier\":[]}]}",
         "models[1] (y): unknown key 'tier'"},
    };
    struct price_table *t = load_default();
    size_t n = price_table_count(t);
    char v[16];
    snprintf(v, sizeof(v), "%s", price_table_version(t));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        int rc =
            price_table_add_json(t, bad[i].json, strlen(bad[i].json), "custom", err, sizeof(err));
        ck_assert_msg(rc == LT_INVALID_INPUT, "case %zu accepted", i);
        ck_assert_msg(strstr(err, bad[i].why), "case %zu: '%s' lacks '%s'", i, err, bad[i].why);
    }
    /* Nothing of the refused layers stayed. */
    ck_assert_uint_eq(price_table_count(t), n);
    ck_assert_str_eq(price_table_version(t), v);
    struct span s;
    span_at(&s, "ok", "2025-07-01", 1, 1);
    assert_unpriced(t, &s);
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_list_json_filters_and_prints_exact_prices)
{
    struct price_table *t = load_default();
    char *all = price_table_list_json(t, NULL);
    cJSON *arr = cJSON_Parse(all);
    ck_assert_ptr_nonnull(arr);
    ck_assert_int_eq((size_t)cJSON_GetArraySize(arr), price_table_count(t));
    cJSON_Delete(arr);
    free(all);

    char *some = price_table_list_json(t, "gpt-4o-mini-2024-07-18");
    arr = cJSON_Parse(some);
    ck_assert_ptr_nonnull(arr);
    ck_assert_int_ge(cJSON_GetArraySize(arr), 1);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *id = cJSON_GetObjectItem(e, "id")->valuestring;
        /* gpt-4o's pattern does not take the -mini snapshot. */
        ck_assert_str_eq(id, "gpt-4o-mini");
        ck_assert_str_eq(cJSON_GetObjectItem(e, "source")->valuestring, "default");
    }
    ck_assert_ptr_nonnull(strstr(some, "\"cache_read\":0.075"));
    cJSON_Delete(arr);
    free(some);

    char *none = price_table_list_json(t, "no-such-model");
    ck_assert_str_eq(none, "[]");
    free(none);
    price_table_free(t);
}
END_TEST

static int under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    const char *vg = getenv("VALGRIND");
    return (vg && strcmp(vg, "1") == 0) || (pre && strstr(pre, "vgpreload"));
}

START_TEST(test_litellm_import_prices_exactly_as_the_file_says)
{
    size_t len = 0, converted = 0, skipped = 0;
    char *src = tu_read_file(tu_shared("payloads/litellm_model_prices.json"), &len);
    ck_assert_ptr_nonnull(src);
    char err[256] = "", *ours = NULL;
    int64_t t0 = time_mono_ns();
    int rc = price_litellm_convert(src, len, &ours, &converted, &skipped, err, sizeof(err));
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    ck_assert_msg(rc == LT_OK, "convert: %s", err);
    ck_assert_msg(secs < (under_valgrind() ? 60.0 : 1.0), "conversion took %.3f s", secs);
    ck_assert_uint_gt(converted, 1500);
    ck_assert_uint_gt(skipped, 100);
    ck_assert_uint_eq(converted + skipped, 2966); /* every model counted once */
    free(src);

    struct price_table *t = load_default();
    size_t before = price_table_count(t);
    char v[16];
    snprintf(v, sizeof(v), "%s", price_table_version(t));
    rc = price_table_add_json(t, ours, strlen(ours), "import:litellm", err, sizeof(err));
    ck_assert_msg(rc == LT_OK, "add: %s", err);
    ck_assert_uint_gt(price_table_count(t), before + 1500);
    ck_assert_str_ne(price_table_version(t), v);
    free(ours);

    struct span s;
    /* Bedrock regional id, 10% above Anthropic's own price: input 3.3e-06,
     * cache read 3.3e-07, write 4.125e-06, 1h write 6.6e-06, output 1.65e-05:
     * 1,000 x 3,300,000 + 20,000 x 330,000 + 2,000 x 4,125,000 + 1,000 x
     * 6,600,000 + 500 x 16,500,000 = 3.3e9 + 6.6e9 + 8.25e9 + 6.6e9 + 8.25e9. */
    sonnet_call(&s, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    ck_assert_int_eq(cost_of(t, &s, "us.anthropic.claude-sonnet-4-5-20250929-v1:0"), 33000000);
    span_release(&s);

    /* above_200k tier: 200,000 x 2.5e-06 + 50,000 x 2.5e-07 + 2,000 x 1.5e-05. */
    span_at(&s, "gemini/gemini-2.5-pro", "2025-08-01", 250000, 2000);
    s.usage.cache_read_tokens = 50000;
    ck_assert_int_eq(cost_of(t, &s, "gemini/gemini-2.5-pro"), 542500000);
    span_release(&s);

    /* cache_read_input_token_cost: 4,000 x 270,000 + 6,000 x 70,000 + 500 x
     * 1,100,000 = 1.08e9 + 0.42e9 + 0.55e9 pico. */
    span_at(&s, "deepseek/deepseek-v3", "2025-08-01", 10000, 500);
    s.usage.cache_read_tokens = 6000;
    ck_assert_int_eq(cost_of(t, &s, "deepseek/deepseek-v3"), 2050000);
    span_release(&s);

    /* Only input_cost_per_token_cache_hit: 4,000 x 550,000 + 6,000 x 140,000
     * + 500 x 2,190,000 = 2.2e9 + 0.84e9 + 1.095e9 pico. */
    span_at(&s, "deepseek/deepseek-r1", "2025-08-01", 10000, 500);
    s.usage.cache_read_tokens = 6000;
    ck_assert_int_eq(cost_of(t, &s, "deepseek/deepseek-r1"), 4135000);
    span_release(&s);

    /* The key without its provider prefix is an alias: 1,000 x 590,000 +
     * 1,000 x 790,000 pico. */
    span_at(&s, "llama-3.3-70b-versatile", "2025-08-01", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "groq/llama-3.3-70b-versatile"), 1380000);
    span_release(&s);

    /* Imported exact names override the default entry of the same name. */
    span_at(&s, "gpt-4o", "2024-06-01", 1000, 1000);
    ck_assert_int_eq(cost_of(t, &s, "gpt-4o"), 12500000); /* 2.5e-06 + 1e-05, not 5 + 15 */
    span_release(&s);
    price_table_free(t);
}
END_TEST

START_TEST(test_litellm_convert_refuses_garbage)
{
    char err[256] = "", *ours = (char *)"untouched";
    size_t c = 9, k = 9;
    ck_assert_int_eq(price_litellm_convert("[1,2]", 5, &ours, &c, &k, err, sizeof(err)),
                     LT_INVALID_INPUT);
    ck_assert_ptr_null(ours);
    ck_assert_ptr_nonnull(strstr(err, "object"));
    ck_assert_int_eq(price_litellm_convert("{\"a\":", 5, &ours, &c, &k, err, sizeof(err)),
                     LT_INVALID_INPUT);
    ck_assert_ptr_nonnull(strstr(err, "malformed"));

    /* A tiny file: one chat model, one image model (skipped), the spec. */
    const char *tiny = "{\"sample_spec\":{\"mode\":\"chat\",\"input_cost_per_token\":0},"
                       "\"x/m\":{\"mode\":\"chat\",\"input_cost_per_token\":1e-06,"
                       "\"output_cost_per_token\":2e-06,\"input_cost_per_token_priority\":"
                       "3e-06,\"output_cost_per_token_priority\":4e-06},"
                       "\"img\":{\"mode\":\"image_generation\",\"output_cost_per_image\":0.04}}";
    ck_assert_int_eq(price_litellm_convert(tiny, strlen(tiny), &ours, &c, &k, err, sizeof(err)),
                     LT_OK);
    ck_assert_uint_eq(c, 1);
    ck_assert_uint_eq(k, 1);
    ck_assert_ptr_nonnull(strstr(ours, "\"aliases\":[\"m\"]"));
    ck_assert_ptr_nonnull(strstr(ours, "\"priority\":{\"usd_per_mtok\":{\"input\":3,"));
    struct price_table *t = NULL;
    ck_assert_int_eq(price_table_new(&t), LT_OK);
    ck_assert_int_eq(price_table_add_json(t, ours, strlen(ours), "import", err, sizeof(err)),
                     LT_OK);
    struct span s;
    span_at(&s, "m", "2025-01-01", 10, 10);
    s.service_tier = strdup("priority");
    ck_assert_int_eq(cost_of(t, &s, "x/m"), 70000); /* 10 x 3e6 + 10 x 4e6 pico */
    span_release(&s);
    free(ours);
    price_table_free(t);
}
END_TEST

static Suite *prices_suite(void)
{
    Suite *s = suite_create("prices");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_default_table_loads_with_many_models_and_valid_patterns);
    tcase_add_test(tc, test_gpt4o_mini_cached_call_exact_nano_usd);
    tcase_add_test(tc, test_specific_model_beats_its_prefix);
    tcase_add_test(tc, test_anthropic_cache_read_and_both_cache_writes);
    tcase_add_test(tc, test_long_context_tier_chosen_by_total_prompt);
    tcase_add_test(tc, test_reasoning_billed_once_with_or_without_own_rate);
    tcase_add_test(tc, test_price_change_splits_spans_by_date);
    tcase_add_test(tc, test_unknown_model_or_missing_usage_is_unpriced);
    tcase_add_test(tc, test_service_tier_embeddings_and_single_rounding);
    tcase_add_test(tc, test_apply_keeps_client_cost_and_records_version);
    tcase_add_test(tc, test_later_layer_overrides_and_version_changes);
    tcase_add_test(tc, test_malformed_price_json_is_refused_with_reason);
    tcase_add_test(tc, test_list_json_filters_and_prints_exact_prices);
    tcase_add_test(tc, test_litellm_import_prices_exactly_as_the_file_says);
    tcase_add_test(tc, test_litellm_convert_refuses_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(prices_suite());
}
