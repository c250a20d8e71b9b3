/*
 * alert + webhook, the decisions without a server: the same-hour-of-week
 * baseline (median and MAD, robust to outlier weeks, nothing before 3
 * weeks with data), what an evaluation observes for above and anomaly
 * rules, every transition of the state machine with what it delivers and
 * when a firing gets a new key, the retry schedule (1, 2, 4, 8, 16 s,
 * Retry-After honoured and capped, 6 attempts at most), and the webhook
 * body's fields and signature; and alert_evaluate on a real store with a
 * clock the test sets: a rule fires, stays firing without a new event,
 * ends in NO_DATA (delivered, same key), fires again with a new key and
 * resolves with that key, then is OK with nothing delivered.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/sha256.h"
#include "evaluator/alert.h"
#include "evaluator/webhook.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/support/storetest.h"
#include "tests/support/testutil.h"

#define S 1000000000LL

START_TEST(test_baseline_is_the_median_and_mad_and_ignores_outlier_weeks)
{
    struct alert_baseline b;
    double v[ALERT_HISTORY_WEEKS] = {10, 12, 11, 500, NAN, 9, 13, NAN}; /* one spike week */
    alert_baseline_compute(v, ALERT_HISTORY_WEEKS, &b);
    ck_assert_int_eq(b.weeks, 6);
    ck_assert(b.ready);
    ck_assert_double_eq_tol(b.median, 11.5, 1e-12); /* 9 10 11 12 13 500 */
    ck_assert_double_eq_tol(b.mad, 1.5, 1e-12);     /* |dev|: 0.5 0.5 1.5 1.5 2.5 488.5 */
    double odd[] = {3, 1, 2};
    alert_baseline_compute(odd, 3, &b);
    ck_assert_double_eq_tol(b.median, 2, 1e-12);
    ck_assert_double_eq_tol(b.mad, 1, 1e-12);
}
END_TEST

START_TEST(test_baseline_needs_three_weeks_with_data)
{
    struct alert_baseline b;
    double two[ALERT_HISTORY_WEEKS] = {5, NAN, 7, NAN, NAN, NAN, NAN, NAN};
    alert_baseline_compute(two, ALERT_HISTORY_WEEKS, &b);
    ck_assert_int_eq(b.weeks, 2);
    ck_assert(!b.ready);
    ck_assert(isnan(b.median));
    double three[ALERT_HISTORY_WEEKS] = {5, NAN, 7, NAN, 0, NAN, NAN, NAN}; /* 0 is data */
    alert_baseline_compute(three, ALERT_HISTORY_WEEKS, &b);
    ck_assert(b.ready);
    ck_assert_double_eq_tol(b.median, 5, 1e-12);
    struct alerts_rule r = {.mode = ALERTS_ANOMALY, .threshold = 5, .metric = ALERTS_SPEND};
    alert_baseline_compute(two, ALERT_HISTORY_WEEKS, &b);
    ck_assert_int_eq(alert_observe(&r, 10, 1e6, &b), ALERT_OBS_NORMAL); /* learning */
}
END_TEST

START_TEST(test_observe_above_and_anomaly_and_no_data)
{
    struct alerts_rule above = {.mode = ALERTS_ABOVE, .threshold = 2.5, .metric = ALERTS_SPEND};
    ck_assert_int_eq(alert_observe(&above, 0, 0, NULL), ALERT_OBS_NO_DATA);
    ck_assert_int_eq(alert_observe(&above, 3, 2.5, NULL), ALERT_OBS_NORMAL); /* not above */
    ck_assert_int_eq(alert_observe(&above, 3, 2.51, NULL), ALERT_OBS_BREACH);
    struct alerts_rule rate = {.mode = ALERTS_ABOVE, .threshold = 0.1, .metric = ALERTS_ERROR_RATE};
    ck_assert_int_eq(alert_observe(&rate, 10, NAN, NULL), ALERT_OBS_NORMAL);
    struct alerts_rule an = {.mode = ALERTS_ANOMALY, .threshold = 5, .metric = ALERTS_SPEND};
    struct alert_baseline b;
    double flat[] = {1, 1, 1, 1};
    alert_baseline_compute(flat, 4, &b);
    ck_assert_int_eq(alert_observe(&an, 1, 5.0, &b), ALERT_OBS_NORMAL); /* 5x is not above */
    ck_assert_int_eq(alert_observe(&an, 1, 5.01, &b), ALERT_OBS_BREACH);
    /* a noisy history: 5x the median is not enough when the spread says normal */
    double noisy[] = {1, 2, 20, 40, 1, 30};
    alert_baseline_compute(noisy, 6, &b); /* median 11, MAD 10: the bar is 55.5 */
    ck_assert_double_eq_tol(b.median, 11, 1e-12);
    ck_assert_double_eq_tol(b.mad, 10, 1e-12);
    an.threshold = 1.5;
    ck_assert_int_eq(alert_observe(&an, 1, 30, &b), ALERT_OBS_NORMAL); /* < 11 + 3*1.4826*9.5 */
    ck_assert_int_eq(alert_observe(&an, 1, 60, &b), ALERT_OBS_BREACH);
    double zero[] = {0, 0, 0};
    alert_baseline_compute(zero, 3, &b);
    ck_assert_int_eq(alert_observe(&an, 5, 0, &b), ALERT_OBS_NORMAL); /* nothing spent */
    ck_assert_int_eq(alert_observe(&an, 5, 0.01, &b), ALERT_OBS_BREACH);
}
END_TEST

START_TEST(test_state_machine_transitions_deliveries_and_keys)
{
    static const struct {
        enum alerts_state cur;
        enum alert_obs obs;
        enum alerts_state next;
        int deliver, new_key;
    } t[] = {
        {ALERTS_OK, ALERT_OBS_NORMAL, ALERTS_OK, 0, 0},
        {ALERTS_OK, ALERT_OBS_BREACH, ALERTS_FIRING, 1, 1},
        {ALERTS_OK, ALERT_OBS_NO_DATA, ALERTS_NO_DATA, 0, 0},
        {ALERTS_FIRING, ALERT_OBS_BREACH, ALERTS_FIRING, 0, 0},
        {ALERTS_FIRING, ALERT_OBS_NORMAL, ALERTS_RESOLVED, 1, 0},
        {ALERTS_FIRING, ALERT_OBS_NO_DATA, ALERTS_NO_DATA, 1, 0},
        {ALERTS_RESOLVED, ALERT_OBS_NORMAL, ALERTS_OK, 0, 0},
        {ALERTS_RESOLVED, ALERT_OBS_BREACH, ALERTS_FIRING, 1, 1},
        {ALERTS_RESOLVED, ALERT_OBS_NO_DATA, ALERTS_NO_DATA, 0, 0},
        {ALERTS_NO_DATA, ALERT_OBS_NO_DATA, ALERTS_NO_DATA, 0, 0},
        {ALERTS_NO_DATA, ALERT_OBS_NORMAL, ALERTS_OK, 0, 0},
        {ALERTS_NO_DATA, ALERT_OBS_BREACH, ALERTS_FIRING, 1, 1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int deliver = -1, new_key = -1;
        enum alerts_state got = alert_next(t[i].cur, t[i].obs, &deliver, &new_key);
        ck_assert_msg(got == t[i].next, "case %zu: %s", i, alerts_state_name(got));
        ck_assert_int_eq(deliver, t[i].deliver);
        ck_assert_int_eq(new_key, t[i].new_key);
    }
}
END_TEST

START_TEST(test_retry_schedule_doubles_honours_retry_after_and_stops_at_six)
{
    ck_assert_int_eq(alert_retry_delay_ns(1, -1), 1 * S);
    ck_assert_int_eq(alert_retry_delay_ns(2, -1), 2 * S);
    ck_assert_int_eq(alert_retry_delay_ns(3, -1), 4 * S);
    ck_assert_int_eq(alert_retry_delay_ns(4, -1), 8 * S);
    ck_assert_int_eq(alert_retry_delay_ns(5, -1), 16 * S);
    ck_assert_int_eq(alert_retry_delay_ns(6, -1), -1); /* the sixth was the last */
    ck_assert_int_eq(alert_retry_delay_ns(1, 30), 30 * S);
    ck_assert_int_eq(alert_retry_delay_ns(3, 2), 4 * S); /* never sooner than the backoff */
    ck_assert_int_eq(alert_retry_delay_ns(1, 100000), ALERT_RETRY_AFTER_MAX_S * S);
    ck_assert_int_eq(alert_retry_delay_ns(0, -1), -1);
    struct webhook_result r = {.status = 503, .retry_after_s = -1};
    ck_assert(webhook_retryable(&r) && !webhook_ok(&r));
    r.status = 429;
    ck_assert(webhook_retryable(&r));
    r.status = 0;
    ck_assert(webhook_retryable(&r));
    r.status = 404;
    ck_assert(!webhook_retryable(&r));
    r.status = 204;
    ck_assert(webhook_ok(&r));
}
END_TEST

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

START_TEST(test_webhook_body_has_every_field_and_is_signed)
{
    struct webhook_event e = {.rule = "spend-spike",
                              .state = "FIRING",
                              .metric = ALERTS_SPEND,
                              .scope = ALERTS_TENANT,
                              .subject = "acme \"corp\"\n",
                              .mode = ALERTS_ANOMALY,
                              .window_s = 3600,
                              .value = 12.5,
                              .threshold = 5,
                              .baseline = 2,
                              .dedup_key = "spend-spike-00ff",
                              .time_ns = 1764633600000000000LL};
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_int_eq(webhook_body(&e, &b), 0);
    cJSON *j = cJSON_Parse(buf_str(&b));
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(jstr(j, "rule"), "spend-spike");
    ck_assert_str_eq(jstr(j, "state"), "FIRING");
    ck_assert_str_eq(jstr(j, "metric"), "spend");
    ck_assert_str_eq(jstr(j, "scope"), "tenant");
    ck_assert_str_eq(jstr(j, "subject"), "acme \"corp\"\n");
    ck_assert_str_eq(jstr(j, "window"), "1h");
    ck_assert_str_eq(jstr(j, "mode"), "anomaly");
    ck_assert_str_eq(jstr(j, "dedup_key"), "spend-spike-00ff");
    ck_assert_str_eq(jstr(j, "time"), "2025-12-02T00:00:00.000Z");
    ck_assert_str_eq(jstr(j, "time_ns"), "1764633600000000000");
    ck_assert_str_eq(jstr(j, "link"), "/alerts?rule=spend-spike");
    ck_assert_double_eq(cJSON_GetObjectItem(j, "value")->valuedouble, 12.5);
    ck_assert_double_eq(cJSON_GetObjectItem(j, "baseline")->valuedouble, 2);
    ck_assert_double_eq(cJSON_GetObjectItem(j, "factor")->valuedouble, 5);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "threshold")));
    ck_assert_double_eq(cJSON_GetObjectItem(j, "window_s")->valuedouble, 3600);
    const char *text = jstr(j, "text");
    ck_assert_ptr_nonnull(strstr(text, "[FIRING] spend-spike: spend $12.5000 over the last 1h"));
    ck_assert_ptr_nonnull(strstr(text, "5x its baseline of $2.0000"));
    cJSON_Delete(j);
    char sig[WEBHOOK_SIG_LEN], hex[2 * SHA256_LEN + 1];
    webhook_signature("k", 1, b.data, b.len, sig);
    sha256_hmac_hex("k", 1, b.data, b.len, hex);
    ck_assert_int_eq(strncmp(sig, "sha256=", 7), 0);
    ck_assert_str_eq(sig + 7, hex);
    /* an above rule: a threshold, no baseline or factor; NaN is null */
    buf_reset(&b);
    e.mode = ALERTS_ABOVE;
    e.state = "RESOLVED";
    e.metric = ALERTS_ERROR_RATE;
    e.threshold = 0.05;
    e.baseline = NAN;
    e.value = 0.01;
    e.window_s = 300;
    ck_assert_int_eq(webhook_body(&e, &b), 0);
    j = cJSON_Parse(buf_str(&b));
    ck_assert_ptr_nonnull(j);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "baseline")));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "factor"));
    ck_assert_double_eq(cJSON_GetObjectItem(j, "threshold")->valuedouble, 0.05);
    ck_assert_str_eq(jstr(j, "window"), "5m");
    ck_assert_ptr_nonnull(strstr(jstr(j, "text"), "[RESOLVED] spend-spike: error_rate 1.0%"));
    cJSON_Delete(j);
    buf_release(&b);
}
END_TEST

/* ---- alert_evaluate on a store, at times the test chooses --------------------- */

static struct tu_store ts;

static int write_fn(void *arg, writer_fn fn, void *ctx, char *err, size_t errlen)
{
    return writer_run(arg, fn, ctx, err, errlen) == LT_OK ? 0 : -1;
}

static int op_fn(sqlite3 *db, void *ctx, char *err, size_t errlen)
{
    struct buf answer;
    buf_init(&answer, 4096);
    int rc = alerts_apply(db, ctx, &answer, err, errlen);
    buf_release(&answer);
    return rc;
}

static void spans_at(int first, int n, int64_t t)
{
    char line[512];
    struct buf b;
    buf_init(&b, 0);
    for (int i = first; i < first + n; i++) {
        snprintf(line, sizeof(line),
                 "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"project\":\"p\","
                 "\"kind\":\"llm\",\"model\":\"m\",\"start_ns\":\"%lld\","
                 "\"end_ns\":\"%lld\"}\n",
                 (unsigned)i + 1, (unsigned)i + 1, (long long)t, (long long)(t + 1000000));
        ck_assert_int_eq(buf_puts(&b, line), 0);
    }
    tu_ingest_json(ts.w, buf_str(&b));
    buf_release(&b);
}

/* Evaluate at 'now'; the rule's state, events and deliveries after. */
static void eval_at(int64_t now, const char *state, long long events, long long deliveries)
{
    char err[512], sql[256];
    struct store *ro = NULL;
    ck_assert_int_eq(store_open(&ro, ts.db, STORE_READONLY, err, sizeof(err)), STORE_OK);
    ck_assert_msg(alert_evaluate(store_db(ro), now, write_fn, ts.w, err, sizeof(err)) == 0, "%s",
                  err);
    store_close(ro);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM alert_rules WHERE name = 'calls' AND state = '%s'", state);
    ck_assert_msg(tu_ro_int(ts.db, sql) == 1, "not %s at %lld", state, (long long)now);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM alert_events WHERE rule = 'calls'"),
                     events);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM alert_deliveries WHERE rule = 'calls'"),
                     deliveries);
}

START_TEST(test_evaluate_steps_a_rule_through_its_states_with_its_keys)
{
    tu_store_open(&ts, "engine.db", NULL);
    cJSON *op =
        cJSON_Parse("{\"op\":\"add\",\"rule\":{\"name\":\"calls\",\"metric\":\"calls\","
                    "\"scope\":\"project\",\"subject\":\"p\",\"window_s\":60,"
                    "\"mode\":\"above\",\"threshold\":2,\"webhook\":\"http://h.example/x\"}}");
    char err[256];
    ck_assert_int_eq(writer_run(ts.w, op_fn, op, err, sizeof(err)), LT_OK);
    cJSON_Delete(op);
    int64_t t = 1800000000LL * S; /* any fixed clock */
    spans_at(0, 3, t - 10 * S);
    eval_at(t, "FIRING", 1, 1);
    eval_at(t + S, "FIRING", 1, 1); /* still firing: no new event, nothing new sent */
    long long k1 = tu_ro_int(ts.db, "SELECT count(DISTINCT firing_key) FROM alert_rules"
                                    " WHERE name = 'calls' AND firing_key LIKE 'calls-%'");
    ck_assert_int_eq(k1, 1);
    eval_at(t + 120 * S, "NO_DATA", 2, 2); /* traffic stopped while firing: delivered */
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(DISTINCT dedup_key) FROM alert_events"
                                      " WHERE rule = 'calls'"),
                     1); /* the firing and its end share the key */
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM alert_events e JOIN alert_deliveries d"
                                      " ON d.event_id = e.id WHERE e.to_state = 'NO_DATA'"
                                      " AND e.payload LIKE '%\"state\":\"NO_DATA\"%'"),
                     1);
    spans_at(10, 3, t + 200 * S);
    eval_at(t + 210 * S, "FIRING", 3, 3);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(DISTINCT dedup_key) FROM alert_events"
                                      " WHERE rule = 'calls'"),
                     2); /* a new firing, a new key */
    spans_at(20, 1, t + 300 * S);
    eval_at(t + 305 * S, "RESOLVED", 4, 4);
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM alert_events a JOIN alert_events b"
                                      " ON a.dedup_key = b.dedup_key WHERE a.to_state = 'FIRING'"
                                      " AND b.to_state = 'RESOLVED'"),
                     1);
    eval_at(t + 306 * S, "OK", 5, 4); /* recorded, not delivered */
    ck_assert_int_eq(tu_ro_int(ts.db, "SELECT count(*) FROM alert_rules WHERE name = 'calls'"
                                      " AND firing_key IS NULL AND last_value = 1"),
                     1);
    tu_store_close(&ts);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alert");
    TCase *tc = tcase_create("alert");
    tcase_add_test(tc, test_baseline_is_the_median_and_mad_and_ignores_outlier_weeks);
    tcase_add_test(tc, test_baseline_needs_three_weeks_with_data);
    tcase_add_test(tc, test_observe_above_and_anomaly_and_no_data);
    tcase_add_test(tc, test_state_machine_transitions_deliveries_and_keys);
    tcase_add_test(tc, test_retry_schedule_doubles_honours_retry_after_and_stops_at_six);
    tcase_add_test(tc, test_webhook_body_has_every_field_and_is_signed);
    tcase_add_test(tc, test_evaluate_steps_a_rule_through_its_states_with_its_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
