/*
 * pipeline: what every record gets before the store — generated ids, the
 * project rule (a record's own project only when trusted), default times and
 * names, canonical or derived version_set, and cost from the price table
 * (client cost wins; unknown model stays unpriced).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/pipeline.h"
#include "core/ids.h"
#include "core/xmem.h"
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

START_TEST(test_ids_times_name_and_project_are_filled_in)
{
    struct span s;
    span_init(&s);
    s.kind = SPAN_KIND_LLM;
    s.model = xstrdup("gpt-4o-mini");
    s.project = xstrdup("sneaky");
    pipeline_finalize_span(prices, &s, 0, "acme", 0, 5000);
    ck_assert(ids_is_hex(s.trace_id, 32));
    ck_assert(ids_is_hex(s.span_id, 16));
    ck_assert_str_eq(s.project, "acme"); /* untrusted: the caller's project */
    ck_assert(s.start_ns == 5000 && s.end_ns == 5000);
    ck_assert_str_eq(s.name, "llm gpt-4o-mini");
    ck_assert_str_eq(s.version_set, "model=gpt-4o-mini");
    span_release(&s);

    span_init(&s);
    s.project = xstrdup("docs-qa-prod");
    s.start_ns = 10;
    pipeline_finalize_span(prices, &s, 0, NULL, 1, 5000);
    ck_assert_str_eq(s.project, "docs-qa-prod"); /* trusted: the record's own */
    ck_assert(s.end_ns == 10);
    span_release(&s);

    span_init(&s);
    pipeline_finalize_span(prices, &s, 0, NULL, 1, 5000);
    ck_assert_str_eq(s.project, "default");
    ck_assert_ptr_null(s.version_set); /* nothing known: none derived */
    span_release(&s);
}
END_TEST

START_TEST(test_cost_from_table_client_cost_wins_unknown_is_unpriced)
{
    struct span s;
    span_init(&s);
    s.model = xstrdup("gpt-4o-mini");
    s.usage.input_tokens = 412;
    s.usage.cache_read_tokens = 256;
    s.usage.output_tokens = 19;
    s.start_ns = 1772460307000000000LL;
    pipeline_finalize_span(prices, &s, 0, NULL, 1, 0);
    ck_assert(s.has_cost);
    ck_assert(s.cost_nusd == 54000);
    ck_assert_str_eq(s.price_version, price_table_version(prices));
    span_release(&s);

    span_init(&s);
    s.model = xstrdup("gpt-4o-mini");
    s.usage.input_tokens = 412;
    s.has_cost = true;
    s.cost_nusd = 7;
    pipeline_finalize_span(prices, &s, 0, NULL, 1, 0);
    ck_assert(s.cost_nusd == 7);
    ck_assert_ptr_null(s.price_version);
    span_release(&s);

    span_init(&s);
    s.model = xstrdup("totally-unknown-model");
    s.usage.input_tokens = 100;
    s.usage.output_tokens = 100;
    pipeline_finalize_span(prices, &s, 0, NULL, 1, 0);
    ck_assert(!s.has_cost);
    span_release(&s);
}
END_TEST

START_TEST(test_given_version_set_is_canonicalised_and_merges_stay_partial)
{
    struct span s;
    span_init(&s);
    s.version_set = xstrdup("prompt=support@7; app=1.4.2");
    s.model = xstrdup("gpt-4o");
    pipeline_finalize_span(prices, &s, 0, NULL, 1, 99);
    ck_assert_str_eq(s.version_set, "app=1.4.2;prompt=support@7");
    span_release(&s);

    span_init(&s);
    snprintf(s.trace_id, sizeof(s.trace_id), "%s", "7d2c1f0e5b4a4e398c210f9e8d7c6b5a");
    snprintf(s.span_id, sizeof(s.span_id), "%s", "0123456789abcdef");
    s.output = xstrdup("\"done\"");
    pipeline_finalize_span(prices, &s, 1, NULL, 1, 99);
    ck_assert(s.start_ns == 0 && s.end_ns == 0); /* an update leaves times to the create */
    ck_assert_ptr_null(s.name);
    ck_assert_ptr_null(s.version_set);
    ck_assert_str_eq(s.span_id, "0123456789abcdef");
    span_release(&s);

    /* an update that names no trace: the same trace every time it is sent */
    char first[33];
    for (int round = 0; round < 2; round++) {
        span_init(&s);
        snprintf(s.span_id, sizeof(s.span_id), "%s", "0123456789abcdef");
        pipeline_finalize_span(prices, &s, 1, NULL, 1, 99);
        ck_assert(ids_is_hex(s.trace_id, 32));
        if (round)
            ck_assert_str_eq(s.trace_id, first);
        snprintf(first, sizeof(first), "%s", s.trace_id);
        span_release(&s);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("finalize");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ids_times_name_and_project_are_filled_in);
    tcase_add_test(tc, test_cost_from_table_client_cost_wins_unknown_is_unpriced);
    tcase_add_test(tc, test_given_version_set_is_canonicalised_and_merges_stay_partial);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
