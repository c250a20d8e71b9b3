/*
 * ui_alerts: /alerts (DESIGN.md §8 "alerts"): every rule with its state,
 * the value and baseline of its last evaluation and when that was; the
 * history of state changes (newest first); and the webhook deliveries,
 * one row per attempt with its outcome (HTTP status or transport error).
 * ?rule=NAME keeps one rule's history and deliveries (the link every
 * webhook body carries).
 *
 * Everything is read through store/alerts.h. Subjects and URLs were typed
 * by users and errors come from receivers: all rendered with {{ }}. A
 * webhook is shown as its origin only (its path may be a credential).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"
#include "store/alerts.h"
#include "ui/ui_int.h"

#define EVENTS_SHOWN 100
#define DELIVERIES_SHOWN 100

/* A value of 'metric' for the page; NaN "–". */
static const char *fmt_value(char *dst, size_t n, enum alerts_metric m, double v)
{
    if (isnan(v))
        return snprintf(dst, n, "–"), dst;
    if (m == ALERTS_SPEND)
        return ui_fmt_usd(dst, n, v);
    if (m == ALERTS_ERROR_RATE)
        return snprintf(dst, n, "%.1f %%", v * 100), dst;
    if (m == ALERTS_P95_LATENCY)
        return ui_fmt_ms(dst, n, v);
    return ui_fmt_count(dst, n, v);
}

static const char *fmt_window(char *dst, size_t n, int64_t s)
{
    if (s % 86400 == 0)
        snprintf(dst, n, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0)
        snprintf(dst, n, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0)
        snprintf(dst, n, "%lldm", (long long)(s / 60));
    else
        snprintf(dst, n, "%llds", (long long)s);
    return dst;
}

static void add_state(cJSON *o, const char *name, const char *state)
{
    cJSON_AddStringToObject(o, name, state ? state : "");
    char cls[32];
    snprintf(cls, sizeof(cls), "%s_class", name);
    int s = alerts_state_parse(state);
    cJSON_AddStringToObject(o, cls,
                            s == ALERTS_FIRING    ? "failed"
                            : s == ALERTS_NO_DATA ? "muted"
                                                  : "");
}

/* A webhook URL without its path: Slack-style URLs carry their secret in
 * the path, and the page need not show it. */
static void add_origin(cJSON *o, const char *name, const char *url)
{
    if (!url || !*url)
        return;
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t n = strcspn(host, "/?#");
    char s[300];
    snprintf(s, sizeof(s), "%.*s%.*s%s", (int)(host - url), url, (int)(n < 200 ? n : 200), host,
             host[n] ? "/…" : "");
    cJSON_AddStringToObject(o, name, s);
}

static cJSON *rule_view(const struct alerts_rule *r)
{
    char s[128];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    ui_add_url(o, "name_url", r->name);
    add_state(o, "state", alerts_state_name(r->state));
    cJSON_AddStringToObject(o, "metric", alerts_metric_name(r->metric));
    cJSON_AddStringToObject(o, "scope", alerts_scope_name(r->scope));
    ui_add_str(o, "subject", r->subject);
    cJSON_AddStringToObject(o, "window", fmt_window(s, sizeof(s), r->window_s));
    if (r->mode == ALERTS_ANOMALY) {
        snprintf(s, sizeof(s), "anomaly: above %g× the baseline", r->threshold);
    } else {
        char v[64];
        snprintf(s, sizeof(s), "above %s", fmt_value(v, sizeof(v), r->metric, r->threshold));
    }
    cJSON_AddStringToObject(o, "condition", s);
    cJSON_AddStringToObject(o, "value", fmt_value(s, sizeof(s), r->metric, r->last_value));
    cJSON_AddStringToObject(o, "baseline",
                            r->mode == ALERTS_ANOMALY && isnan(r->last_baseline)
                                ? "learning"
                                : fmt_value(s, sizeof(s), r->metric, r->last_baseline));
    cJSON_AddStringToObject(o, "last_eval",
                            r->last_eval_ns ? ui_fmt_time(s, sizeof(s), r->last_eval_ns) : "never");
    if (r->state_since_ns)
        cJSON_AddStringToObject(o, "since", ui_fmt_time(s, sizeof(s), r->state_since_ns));
    add_origin(o, "webhook", r->webhook);
    ui_add_str(o, "dedup_key", r->firing_key);
    return o;
}

static int event_view(void *ctx, const struct alerts_event *e)
{
    char s[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "time", ui_fmt_time(s, sizeof(s), e->time_ns));
    cJSON_AddStringToObject(o, "rule", e->rule ? e->rule : "");
    ui_add_url(o, "rule_url", e->rule ? e->rule : "");
    add_state(o, "from", e->from_state);
    add_state(o, "to", e->to_state);
    cJSON_AddStringToObject(o, "value",
                            isnan(e->value) ? "–" : ui_fmt_count(s, sizeof(s), e->value));
    cJSON_AddStringToObject(o, "baseline",
                            isnan(e->baseline) ? "–" : ui_fmt_count(s, sizeof(s), e->baseline));
    ui_add_str(o, "dedup_key", e->dedup_key);
    cJSON_AddItemToArray(ctx, o);
    return 0;
}

static int delivery_view(void *ctx, const struct alerts_delivery *d)
{
    char s[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rule", d->rule ? d->rule : "");
    cJSON_AddStringToObject(o, "event", d->to_state ? d->to_state : "");
    cJSON_AddNumberToObject(o, "attempt", (double)d->attempt);
    cJSON_AddStringToObject(o, "outcome", d->outcome ? d->outcome : "");
    cJSON_AddBoolToObject(o, "failed",
                          d->outcome && strcmp(d->outcome, "ok") != 0 &&
                              strcmp(d->outcome, "pending") != 0);
    cJSON_AddStringToObject(o, "time", d->time_ns ? ui_fmt_time(s, sizeof(s), d->time_ns) : "");
    cJSON_AddStringToObject(o, "due", ui_fmt_time(s, sizeof(s), d->next_ns));
    if (d->status) {
        snprintf(s, sizeof(s), "HTTP %lld", (long long)d->status);
        cJSON_AddStringToObject(o, "result", s);
    } else {
        cJSON_AddStringToObject(o, "result", d->error ? d->error : d->time_ns ? "–" : "pending");
    }
    add_origin(o, "url", d->url);
    ui_add_str(o, "dedup_key", d->dedup_key);
    cJSON_AddItemToArray(ctx, o);
    return 0;
}

static int alerts_view(struct ui_req *r, sqlite3 *db, const char *only)
{
    struct alerts_rule *rules = NULL;
    size_t n = 0;
    if (alerts_rules(db, &rules, &n, r->err, sizeof(r->err)) != 0)
        return -1;
    cJSON *arr = cJSON_AddArrayToObject(r->view, "rules");
    int firing = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, rule_view(&rules[i]));
        firing += rules[i].state == ALERTS_FIRING;
    }
    alerts_rules_free(rules, n);
    if (firing > 0) /* a number is truthy in a section, even 0 */
        cJSON_AddNumberToObject(r->view, "firing", firing);
    if (alerts_events(db, only, EVENTS_SHOWN, event_view,
                      cJSON_AddArrayToObject(r->view, "events")) != 0 ||
        alerts_deliveries(db, only, DELIVERIES_SHOWN, delivery_view,
                          cJSON_AddArrayToObject(r->view, "deliveries")) != 0) {
        snprintf(r->err, sizeof(r->err), "cannot read the alert history: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int ui_alerts_recent(struct ui_req *r, sqlite3 *db, int limit)
{
    if (alerts_events(db, NULL, limit, event_view,
                      cJSON_AddArrayToObject(r->view, "recent_alerts")) == 0)
        return 0;
    snprintf(r->err, sizeof(r->err), "cannot read the alert history: %s", sqlite3_errmsg(db));
    return -1;
}

int ui_h_alerts(struct mg_connection *c, void *cb)
{
    struct ui_req r;
    if (ui_req_begin(&r, cb, c, "alerts") != 0)
        return 405;
    char rule[UI_VALUE_MAX] = "";
    int got = ui_param(&r, "rule", rule, sizeof(rule));
    ui_add_str(cJSON_AddObjectToObject(r.view, "filters"), "rule", rule);
    sqlite3 *db = NULL;
    int status;
    if (got < 0)
        status = ui_fail(&r, 400, "a rule name is at most %d bytes", UI_VALUE_MAX - 1);
    else if (!(db = ui_req_db(&r)))
        status = ui_fail(&r, 503, "%s", r.err);
    else if (alerts_view(&r, db, got ? rule : NULL) != 0)
        status = ui_fail(&r, 500, "%s", r.err);
    else
        status = ui_page(&r, 200, "alerts");
    ui_req_end(&r);
    return status;
}
