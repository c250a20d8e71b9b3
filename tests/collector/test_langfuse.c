/*
 * test_langfuse: Langfuse batch ingestion (collector/langfuse.c). The shared
 * example batch mapped field by field, per-event errors beside successes,
 * merges within a batch and across batches, duplicate envelopes, every usage
 * shape, legacy observations, scores, the 207 / 400 bodies, and mutated
 * bodies. Batches live in tests/data/langfuse/ (see its README).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "collector/langfuse.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/ingest.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "tests/support/testutil.h"

struct lfd {
    struct ingest_batch b;
    struct langfuse_report *rep;
    int rc;
    char err[256];
};

static void lfd_run(struct lfd *d, const char *body, size_t len)
{
    ingest_batch_init(&d->b);
    d->err[0] = '\0';
    d->rc = langfuse_decode(body, len, &d->b, &d->rep, d->err, sizeof(d->err));
}

static void lfd_file(struct lfd *d, const char *path)
{
    size_t len;
    char *body = tu_read_file(path, &len);
    ck_assert_msg(body != NULL, "cannot read %s", path);
    lfd_run(d, body, len);
    ck_assert_msg(d->rc == LT_OK, "%s: %s", path, d->err);
    free(body);
}

static void lfd_free(struct lfd *d)
{
    langfuse_report_free(d->rep);
    ingest_batch_release(&d->b);
}

/* The span record for a Langfuse observation id (or "trace:<id>" for the
 * root span of a trace). */
static struct rec_span *find_span(struct lfd *d, const char *lf_id)
{
    char sid[17];
    ids_derive(lf_id, 8, sid);
    for (size_t i = 0; i < d->b.nspans; i++)
        if (strcmp(d->b.spans[i].span.span_id, sid) == 0)
            return &d->b.spans[i];
    ck_abort_msg("no span for %s", lf_id);
    return NULL;
}

/* The error of the envelope with id 'id' (NULL: the id-less one), or NULL. */
static const char *error_of(struct lfd *d, const char *id)
{
    for (size_t i = 0; i < langfuse_report_count(d->rep); i++) {
        const char *eid, *err;
        langfuse_report_item(d->rep, i, &eid, &err, NULL);
        if ((!id && !eid) || (id && eid && strcmp(id, eid) == 0))
            return err;
    }
    ck_abort_msg("no envelope %s", id ? id : "(null)");
    return NULL;
}

/* Attribute 'key' of a span as a cJSON value printed compactly (caller frees). */
static char *attr(const struct span *s, const char *key)
{
    cJSON *a = cJSON_Parse(s->attributes ? s->attributes : "{}");
    ck_assert_ptr_nonnull(a);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(a);
    return text;
}

#define ck_attr(s, key, want)                                                                      \
    do {                                                                                           \
        char *got_ = attr((s), (key));                                                             \
        ck_assert_msg(got_ &&strcmp(got_, (want)) == 0, "attribute %s: %s, want %s", (key),        \
                      got_ ? got_ : "(absent)", (want));                                           \
        free(got_);                                                                                \
    } while (0)

/* Mark every record committed as 'r' and write the 207 body (parsed). */
static cJSON *respond(struct lfd *d, enum rec_result r)
{
    for (size_t i = 0; i < d->b.nspans; i++)
        d->b.spans[i].result = r;
    for (size_t i = 0; i < d->b.nscores; i++)
        d->b.scores[i].result = r;
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(langfuse_write_response(&out, d->rep, &d->b), BUF_OK);
    cJSON *j = cJSON_Parse(buf_str(&out));
    ck_assert_msg(j != NULL, "not JSON: %s", buf_str(&out));
    buf_release(&out);
    return j;
}

static int64_t iso(const char *s)
{
    int64_t ns;
    ck_assert_int_eq(time_parse_iso(s, &ns), 0);
    return ns;
}

static const char *const TRACE = "7d2c1f0e-5b4a-4e39-8c21-0f9e8d7c6b5a";

START_TEST(test_langfuse_shared_batch_root_and_span)
{
    struct lfd d;
    lfd_file(&d, tu_shared("payloads/langfuse-ingestion-batch.json"));
    ck_assert_uint_eq(langfuse_report_count(d.rep), 6);
    ck_assert_uint_eq(langfuse_report_errors(d.rep), 0);
    ck_assert_uint_eq(d.b.nspans, 4); /* root, retrieve-order, answer (merged), event */
    ck_assert_uint_eq(d.b.nscores, 1);
    char root_id[64];
    snprintf(root_id, sizeof(root_id), "trace:%s", TRACE);
    struct rec_span *root = find_span(&d, root_id);
    struct span *s = &root->span;
    ck_assert_int_eq(root->op, REC_MERGE);
    ck_assert_str_eq(root->dedup_key, "langfuse:0c3e5a71-2b94-4f6d-8e1a-7c5b3d9f0a21");
    ck_assert_str_eq(s->trace_id, "7d2c1f0e5b4a4e398c210f9e8d7c6b5a");
    ck_assert_str_eq(s->parent_span_id, "");
    ck_assert_int_eq(s->kind, SPAN_KIND_CHAIN);
    ck_assert_str_eq(s->name, "support-chat");
    ck_assert_int_eq(s->start_ns, iso("2026-03-02T14:05:07.120Z"));
    ck_assert_str_eq(s->user_id, "u_7731");
    ck_assert_str_eq(s->session_id, "sess_20260302_91f");
    ck_assert_str_eq(s->tenant, "acme");
    ck_assert_str_eq(s->tags, "[\"support\",\"beta\"]");
    ck_assert_str_eq(s->input,
                     "\"{\\\"question\\\":\\\"My order #A-1042 has not arrived. Can you check "
                     "it?\\\"}\"");
    ck_attr(s, "langfuse.release", "\"2.3.1\"");
    ck_attr(s, "langfuse.version", "\"prompt-v7\"");
    ck_attr(s, "langfuse.environment", "\"staging\"");
    ck_attr(s, "metadata.tenant", "\"acme\"");
    ck_attr(s, "langfuse.trace.id", "\"7d2c1f0e-5b4a-4e39-8c21-0f9e8d7c6b5a\"");

    struct span *r = &find_span(&d, "3b6f0a2e-9d41-4c7e-a5f2-1e8d0c9b7a64")->span;
    ck_assert_str_eq(r->name, "retrieve-order");
    ck_assert_str_eq(r->trace_id, s->trace_id);
    ck_assert_str_eq(r->parent_span_id, s->span_id); /* no parent: the trace's root */
    ck_assert_int_eq(r->start_ns, iso("2026-03-02T14:05:07.125Z"));
    ck_assert_int_eq(r->end_ns, iso("2026-03-02T14:05:07.210Z"));
    ck_assert_str_eq(r->input, "\"{\\\"order_id\\\":\\\"A-1042\\\"}\"");
    ck_assert_str_eq(r->user_id, "u_7731"); /* copied from the trace */
    ck_assert_str_eq(r->session_id, "sess_20260302_91f");
    ck_attr(r, "langfuse.observation.id", "\"3b6f0a2e-9d41-4c7e-a5f2-1e8d0c9b7a64\"");
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_shared_batch_generation_merged_with_update)
{
    struct lfd d;
    lfd_file(&d, tu_shared("payloads/langfuse-ingestion-batch.json"));
    struct rec_span *g = find_span(&d, "e4a9c2d1-6f3b-4a80-b7e5-2c1d0f9e8a73");
    struct span *s = &g->span;
    char parent[17];
    ids_derive("3b6f0a2e-9d41-4c7e-a5f2-1e8d0c9b7a64", 8, parent);
    ck_assert_str_eq(g->dedup_key, "langfuse:a1d4f7b2-3c85-4e60-9b1d-8f2e6a0c4d37+"
                                   "b7e2a9c4-1d60-4f38-8a5b-0c9d3e7f1b82");
    ck_assert_int_eq(s->kind, SPAN_KIND_LLM);
    ck_assert_str_eq(s->name, "answer");
    ck_assert_str_eq(s->parent_span_id, parent);
    ck_assert_str_eq(s->model, "gpt-4o-mini");
    ck_assert_int_eq(s->usage.input_tokens, 412); /* 156 + 256 cached */
    ck_assert_int_eq(s->usage.cache_read_tokens, 256);
    ck_assert_int_eq(s->usage.output_tokens, 19);
    ck_assert(s->has_cost);
    ck_assert_int_eq(s->cost_nusd, 54000);
    ck_assert(fabs(s->ttft_ms - 412.0) < 1e-9);
    ck_assert_str_eq(s->prompt_name, "support-answer");
    ck_assert_int_eq(s->prompt_version, 7);
    cJSON *p = cJSON_Parse(s->params);
    ck_assert(cJSON_GetObjectItem(p, "temperature")->valuedouble == 0.2);
    cJSON_Delete(p);
    ck_assert_int_eq(s->start_ns, iso("2026-03-02T14:05:08.223Z"));
    ck_assert_int_eq(s->end_ns, iso("2026-03-02T14:05:10.066Z"));
    ck_assert_str_eq(s->input, "[{\"role\":\"system\",\"content\":\"You are a concise support "
                               "assistant for Acme Shop.\"},{\"role\":\"user\",\"content\":\"My "
                               "order #A-1042 has not arrived. Can you check it?\"}]");
    ck_assert_str_eq(s->output, "{\"role\":\"assistant\",\"content\":\"Your order A-1042 is in "
                                "transit and should arrive on March 4.\"}");
    ck_assert_str_eq(s->finish_reason, "stop");
    ck_attr(s, "metadata.system_fingerprint", "\"fp_3c1e9a7d42\"");
    ck_assert_int_eq(s->status, SPAN_STATUS_OK);
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_shared_batch_event_and_score)
{
    struct lfd d;
    lfd_file(&d, tu_shared("payloads/langfuse-ingestion-batch.json"));
    struct span *ev = &find_span(&d, "f2c7e0a9-8b1d-4d36-9e45-6a3b0c2d1e58")->span;
    ck_assert_str_eq(ev->name, "guardrail-pass");
    ck_assert_int_eq(ev->kind, SPAN_KIND_OTHER);
    ck_assert_int_eq(ev->start_ns, iso("2026-03-02T14:05:10.070Z"));
    ck_assert_int_eq(ev->end_ns, ev->start_ns);
    struct rec_score *sc = &d.b.scores[0];
    char obs[17];
    ids_derive("e4a9c2d1-6f3b-4a80-b7e5-2c1d0f9e8a73", 8, obs);
    ck_assert_str_eq(sc->id, "1e9d4c7b-2a50-4f83-b6d1-0e7c9a3f5b26");
    ck_assert_str_eq(sc->name, "user-feedback");
    ck_assert(sc->value == 1);
    ck_assert_ptr_null(sc->string_value);
    ck_assert_str_eq(sc->data_type, "BOOLEAN");
    ck_assert_str_eq(sc->comment, "thumbs up");
    ck_assert_str_eq(sc->trace_id, "7d2c1f0e5b4a4e398c210f9e8d7c6b5a");
    ck_assert_str_eq(sc->span_id, obs);
    ck_assert_str_eq(sc->source, "langfuse");
    ck_assert_str_eq(sc->dedup_key, "langfuse:d3a8e5f1-0c72-4b94-a1e6-9f4d2b7c3a10");
    ck_assert_int_eq(sc->time_ns, iso("2026-03-02T14:06:31.502Z"));
    cJSON *j = respond(&d, REC_CREATED);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "successes")), 6);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "errors")), 0);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "successes"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(first, "id")->valuestring,
                     "0c3e5a71-2b94-4f6d-8e1a-7c5b3d9f0a21");
    ck_assert_int_eq(cJSON_GetObjectItem(first, "status")->valueint, 201);
    cJSON_Delete(j);
    lfd_free(&d);
}
END_TEST

/* The shared batch with one event broken: one error, five successes. */
START_TEST(test_langfuse_one_invalid_event_rest_succeed)
{
    char *text = tu_read_file(tu_shared("payloads/langfuse-ingestion-batch.json"), NULL);
    cJSON *root = cJSON_Parse(text);
    cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "batch"), 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(ev, "body"), "startTime",
                              cJSON_CreateString("not a time"));
    char *body = cJSON_PrintUnformatted(root);
    struct lfd d;
    lfd_run(&d, body, strlen(body));
    ck_assert_int_eq(d.rc, LT_OK);
    ck_assert_uint_eq(langfuse_report_errors(d.rep), 1);
    ck_assert_uint_eq(d.b.nspans, 3);
    cJSON *j = respond(&d, REC_CREATED);
    cJSON *errs = cJSON_GetObjectItem(j, "errors"), *e0 = cJSON_GetArrayItem(errs, 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "successes")), 5);
    ck_assert_int_eq(cJSON_GetArraySize(errs), 1);
    ck_assert_str_eq(cJSON_GetObjectItem(e0, "id")->valuestring,
                     "5f8d2c40-7a13-4b9e-9d62-3e1f0b8c7a95");
    ck_assert_int_eq(cJSON_GetObjectItem(e0, "status")->valueint, 400);
    ck_assert_str_eq(cJSON_GetObjectItem(e0, "message")->valuestring, "Invalid request data");
    ck_assert_str_eq(cJSON_GetObjectItem(e0, "error")->valuestring,
                     "body.startTime must be an ISO-8601 time");
    cJSON_Delete(j);
    lfd_free(&d);
    free(body);
    cJSON_Delete(root);
    free(text);
}
END_TEST

START_TEST(test_langfuse_bad_events_each_named)
{
    static const struct {
        const char *id, *error;
    } want[] = {
        {"bad-type", "unsupported event type banana-create"},
        {"bad-usage", "body.usageDetails.input must be a non-negative integer"},
        {"no-body-id", "body.id is required"},
        {"score-no-name", "body.name is required"},
        {"bad-time", "timestamp must be an ISO-8601 time"},
        {"bad-start", "body.startTime must be an ISO-8601 time"},
        {"body-array", "body must be an object"},
        {"bad-level", "body.level must be DEBUG, DEFAULT, WARNING or ERROR"},
        {"bad-tags", "body.tags must be an array of strings"},
    };
    struct lfd d;
    lfd_file(&d, "tests/data/langfuse/bad_events.json");
    ck_assert_uint_eq(langfuse_report_count(d.rep), 12);
    ck_assert_uint_eq(langfuse_report_errors(d.rep), 11);
    ck_assert_ptr_null(error_of(&d, "ok-trace"));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *err = error_of(&d, want[i].id);
        ck_assert_msg(err && strcmp(err, want[i].error) == 0, "%s: %s", want[i].id,
                      err ? err : "(valid)");
    }
    ck_assert_uint_eq(d.b.nspans, 1); /* nothing of the bad ones was kept */
    ck_assert_uint_eq(d.b.nscores, 0);
    cJSON *j = respond(&d, REC_CREATED);
    cJSON *errs = cJSON_GetObjectItem(j, "errors");
    ck_assert_int_eq(cJSON_GetArraySize(errs), 11);
    int nulls = 0;
    for (cJSON *e = errs->child; e; e = e->next)
        nulls += cJSON_IsNull(cJSON_GetObjectItem(e, "id"));
    ck_assert_int_eq(nulls, 2); /* the id-less envelope and the string */
    cJSON_Delete(j);
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_duplicate_envelope_counts_once)
{
    struct lfd d;
    lfd_file(&d, "tests/data/langfuse/duplicate_ids.json");
    ck_assert_uint_eq(langfuse_report_count(d.rep), 3);
    ck_assert_uint_eq(langfuse_report_errors(d.rep), 0);
    ck_assert_uint_eq(d.b.nspans, 1);
    ck_assert_int_eq(langfuse_report_item(d.rep, 0, NULL, NULL, NULL), 1);
    ck_assert_int_eq(langfuse_report_item(d.rep, 1, NULL, NULL, NULL), 0); /* the repeat */
    struct rec_span *r = &d.b.spans[0];
    ck_assert_str_eq(r->dedup_key, "langfuse:env-1+env-2");
    ck_assert_str_eq(r->span.name, "fetch");
    ck_assert_str_eq(r->span.output, "\"done\"");
    ck_assert_int_eq(r->span.end_ns, iso("2026-03-02T14:05:07.300Z"));
    ck_attr(&r->span, "metadata.rows", "3");
    cJSON *j = respond(&d, REC_MERGED);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "successes")), 3);
    cJSON_Delete(j);
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_update_before_create_two_merge_records)
{
    struct lfd d1, d2;
    lfd_file(&d1, "tests/data/langfuse/update_first_1.json");
    lfd_file(&d2, "tests/data/langfuse/update_first_2.json");
    ck_assert_uint_eq(d1.b.nspans, 1);
    ck_assert_uint_eq(d2.b.nspans, 1);
    struct rec_span *u = &d1.b.spans[0], *c = &d2.b.spans[0];
    ck_assert_int_eq(u->op, REC_MERGE);
    ck_assert_int_eq(c->op, REC_MERGE);
    ck_assert_str_eq(u->span.trace_id, "0af7651916cd43dd8448eb211c80319c");
    ck_assert_str_eq(u->span.trace_id, c->span.trace_id);
    ck_assert_str_eq(u->span.span_id, c->span.span_id);
    /* the update: only its fields */
    ck_assert_int_eq(u->span.end_ns, iso("2026-03-02T14:05:10.066Z"));
    ck_assert_str_eq(u->span.output, "{\"role\":\"assistant\",\"content\":\"Done.\"}");
    ck_assert_int_eq(u->span.usage.input_tokens, 10);
    ck_assert_int_eq(u->span.usage.output_tokens, 2);
    ck_assert_int_eq(u->span.start_ns, 0);
    ck_assert_ptr_null(u->span.name);
    ck_assert_ptr_null(u->span.model);
    ck_assert_ptr_null(u->span.input);
    ck_assert_str_eq(u->span.parent_span_id, "");
    /* the create: only its fields */
    ck_assert_str_eq(c->span.name, "answer");
    ck_assert_str_eq(c->span.model, "gpt-4o-mini");
    ck_assert_int_eq(c->span.start_ns, iso("2026-03-02T14:05:08.223Z"));
    ck_assert_str_eq(c->span.input, "[{\"role\":\"user\",\"content\":\"Do it.\"}]");
    ck_assert_int_eq(c->span.end_ns, 0);
    ck_assert_ptr_null(c->span.output);
    ck_assert_int_eq(c->span.usage.input_tokens, -1);
    ck_assert_str_ne(c->span.parent_span_id, "");
    lfd_free(&d1);
    lfd_free(&d2);
}
END_TEST

START_TEST(test_langfuse_usage_shapes)
{
    struct lfd d;
    lfd_file(&d, "tests/data/langfuse/usage_shapes.json");
    ck_assert_uint_eq(langfuse_report_errors(d.rep), 0);
    const struct span_usage *u = &find_span(&d, "g-openai")->span.usage;
    ck_assert_int_eq(u->input_tokens, 1200); /* OpenAI's prompt_tokens include cached */
    ck_assert_int_eq(u->cache_read_tokens, 1000);
    ck_assert_int_eq(u->output_tokens, 80);
    ck_assert_int_eq(u->reasoning_tokens, 30);
    ck_assert_int_eq(u->cache_write_tokens, -1);
    u = &find_span(&d, "g-camel")->span.usage;
    ck_assert_int_eq(u->input_tokens, 15);
    ck_assert_int_eq(u->output_tokens, 4);
    u = &find_span(&d, "g-anthropic")->span.usage;
    ck_assert_int_eq(u->input_tokens, 1220); /* Anthropic's exclude cache reads and writes */
    ck_assert_int_eq(u->cache_read_tokens, 1000);
    ck_assert_int_eq(u->cache_write_tokens, 200);
    ck_assert_int_eq(u->cache_write_1h_tokens, 50);
    ck_assert_int_eq(u->output_tokens, 50);
    struct span *s = &find_span(&d, "g-legacy")->span;
    ck_assert_int_eq(s->usage.input_tokens, 7);
    ck_assert_int_eq(s->usage.output_tokens, 3);
    ck_assert(s->has_cost);
    ck_assert_int_eq(s->cost_nusd, 30000);
    s = &find_span(&d, "g-langfuse")->span;
    ck_assert_int_eq(s->usage.input_tokens, 155); /* Langfuse's input excludes details */
    ck_assert_int_eq(s->usage.cache_read_tokens, 50);
    ck_assert_int_eq(s->usage.output_tokens, 50);
    ck_assert_int_eq(s->usage.reasoning_tokens, 10);
    ck_assert_int_eq(s->cost_nusd, 300000); /* no total: the sum of the parts */
    ck_assert_int_eq(find_span(&d, "g-chars")->span.usage.input_tokens, -1);
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_legacy_observations_levels_and_orphans)
{
    struct lfd d;
    lfd_file(&d, "tests/data/langfuse/observations.json");
    struct rec_span *g = find_span(&d, "legacy-gen");
    ck_assert_int_eq(g->span.kind, SPAN_KIND_LLM);
    ck_assert_int_eq(g->span.status, SPAN_STATUS_ERROR);
    ck_assert_str_eq(g->span.error_message, "rate limited");
    ck_assert_str_eq(g->span.params, "{\"temperature\":1}");
    ck_assert_int_eq(g->span.start_ns, iso("2026-03-02T14:05:08Z"));
    ck_assert_int_eq(g->span.end_ns, iso("2026-03-02T14:05:09Z"));
    ck_assert_str_eq(g->dedup_key, "langfuse:o-1+o-2");
    struct span *o = &find_span(&d, "orphan")->span;
    char tid[33];
    ids_derive("orphan", 16, tid);
    ck_assert_str_eq(o->trace_id, tid);
    ck_assert_str_eq(o->parent_span_id, "");
    ck_assert_int_eq(o->status, SPAN_STATUS_DEGRADED);
    ck_assert_int_eq(o->start_ns, iso("2026-03-02T14:05:08Z")); /* the envelope's time */
    ck_attr(o, "langfuse.status_message", "\"slow\"");
    ck_attr(o, "langfuse.version", "\"v2\"");
    struct span *t = &find_span(&d, "tool-1")->span;
    ck_assert_int_eq(t->kind, SPAN_KIND_TOOL);
    ck_assert_str_eq(t->parent_span_id, g->span.span_id);
    ck_assert_str_eq(t->input, "\"{\\\"q\\\":\\\"A-1042\\\"}\"");
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_scores_of_each_type)
{
    struct lfd d;
    lfd_file(&d, "tests/data/langfuse/observations.json");
    ck_assert_uint_eq(d.b.nscores, 2);
    struct rec_score *n = &d.b.scores[0], *c = &d.b.scores[1];
    ck_assert_str_eq(n->data_type, "NUMERIC");
    ck_assert(n->value == 0.75);
    ck_assert_str_eq(n->span_id, "");
    ck_assert_str_eq(c->data_type, "CATEGORICAL");
    ck_assert_str_eq(c->string_value, "friendly");
    ck_assert_str_eq(c->session_id, "sess-9");
    ck_assert_str_eq(c->trace_id, "");
    ck_assert_int_eq(c->time_ns, iso("2026-03-02T14:06:01Z"));
    ck_assert_str_eq(error_of(&d, "s-bool-bad"), "body.value must be 0 or 1 for dataType BOOLEAN");
    ck_assert_str_eq(error_of(&d, "s-cat-bad"),
                     "body.value must be a string for dataType CATEGORICAL");
    ck_assert_ptr_null(error_of(&d, "log-1"));
    ck_assert_int_eq(langfuse_report_item(d.rep, 8, NULL, NULL, NULL), 0); /* sdk-log: nothing */
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_openai_messages_normalised)
{
    const char *body =
        "{\"batch\":[{\"id\":\"e\",\"type\":\"generation-create\",\"body\":{\"id\":\"g\","
        "\"traceId\":\"t\",\"output\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
        "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"lookup\","
        "\"arguments\":\"{\\\"id\\\":7}\"}}]}}}]}";
    struct lfd d;
    lfd_run(&d, body, strlen(body));
    ck_assert_uint_eq(d.b.nspans, 1);
    ck_assert_str_eq(d.b.spans[0].span.output,
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                     "\"name\":\"lookup\",\"arguments\":{\"id\":7}}]}");
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_malformed_requests_are_invalid_input)
{
    static const char *const bodies[] = {"", "not json", "[]", "{\"batch\":{}}", "{\"events\":[]}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct lfd d;
        lfd_run(&d, bodies[i], strlen(bodies[i]));
        ck_assert_msg(d.rc == LT_INVALID_INPUT, "case %zu accepted", i);
        ck_assert_ptr_null(d.rep);
        ck_assert_msg(d.err[0] != '\0', "case %zu: no message", i);
        lfd_free(&d);
    }
    struct lfd d;
    lfd_run(&d, "{\"batch\":[]}", 12);
    ck_assert_int_eq(d.rc, LT_OK);
    cJSON *j = respond(&d, REC_CREATED);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "successes")), 0);
    cJSON_Delete(j);
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_response_duplicates_succeed_store_failures_do_not)
{
    struct lfd d;
    lfd_file(&d, tu_shared("payloads/langfuse-ingestion-batch.json"));
    cJSON *j = respond(&d, REC_DUPLICATE);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "successes")), 6);
    cJSON_Delete(j);
    j = respond(&d, REC_FAILED);
    cJSON *errs = cJSON_GetObjectItem(j, "errors");
    ck_assert_int_eq(cJSON_GetArraySize(errs), 6);
    ck_assert_int_eq(cJSON_GetObjectItem(errs->child, "status")->valueint, 500);
    cJSON_Delete(j);
    struct buf out;
    buf_init(&out, 8);
    ck_assert_int_eq(langfuse_write_response(&out, d.rep, &d.b), BUF_TOOBIG);
    buf_release(&out);
    lfd_free(&d);
}
END_TEST

START_TEST(test_langfuse_mutated_batches_never_crash)
{
    size_t len;
    char *body = tu_read_file(tu_shared("payloads/langfuse-ingestion-batch.json"), &len);
    static const char subst[] = {'"', '1', '}', 'x'};
    for (size_t i = 0; i < len; i += 5) {
        for (size_t k = 0; k < sizeof(subst); k++) {
            char saved = body[i];
            body[i] = subst[k];
            struct lfd d;
            lfd_run(&d, body, len);
            ck_assert(d.rc == LT_OK || d.rc == LT_INVALID_INPUT);
            if (d.rc == LT_OK) {
                cJSON_Delete(respond(&d, REC_CREATED));
            }
            lfd_free(&d);
            body[i] = saved;
        }
    }
    free(body);
}
END_TEST

static Suite *langfuse_suite(void)
{
    Suite *s = suite_create("langfuse");
    TCase *tc = tcase_create("ingest");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_langfuse_shared_batch_root_and_span);
    tcase_add_test(tc, test_langfuse_shared_batch_generation_merged_with_update);
    tcase_add_test(tc, test_langfuse_shared_batch_event_and_score);
    tcase_add_test(tc, test_langfuse_one_invalid_event_rest_succeed);
    tcase_add_test(tc, test_langfuse_bad_events_each_named);
    tcase_add_test(tc, test_langfuse_duplicate_envelope_counts_once);
    tcase_add_test(tc, test_langfuse_update_before_create_two_merge_records);
    tcase_add_test(tc, test_langfuse_usage_shapes);
    tcase_add_test(tc, test_langfuse_legacy_observations_levels_and_orphans);
    tcase_add_test(tc, test_langfuse_scores_of_each_type);
    tcase_add_test(tc, test_langfuse_openai_messages_normalised);
    tcase_add_test(tc, test_langfuse_malformed_requests_are_invalid_input);
    tcase_add_test(tc, test_langfuse_response_duplicates_succeed_store_failures_do_not);
    tcase_add_test(tc, test_langfuse_mutated_batches_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(langfuse_suite());
}
