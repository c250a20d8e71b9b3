/*
 * demo: `llmtap serve --demo` fills an empty database with a week of
 * generated traffic (fixtures/spangen: several apps, models and providers,
 * multi-turn sessions, tool calls, retrieval, errors, version_sets) so the
 * UI shows something at once. The spans go in through the server's own
 * ingest API, exactly as an SDK's would.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "fixtures/spangen.h"
#include "store/store.h"

#define DEMO_SPANS 20000 /* about this many: the stream stops at now */
#define DEMO_BATCH 1000
#define NS_PER_DAY 86400000000000LL

/* Spans stored in 'db' (0 when it does not exist yet), or -1. */
static int64_t stored_spans(const char *db)
{
    if (access(db, F_OK) != 0)
        return 0;
    struct store *st = NULL;
    char err[256];
    if (store_open(&st, db, STORE_READONLY, err, sizeof(err)) != 0)
        return -1;
    int64_t n = store_query_int(store_db(st), "SELECT count(*) FROM spans", -1);
    store_close(st);
    return n;
}

static int post_batch(const char *url, const struct buf *body, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 30; attempt++) {
        struct buf resp;
        buf_init(&resp, 1u << 20);
        long status = 0;
        int rc = cli_http_post(url, "application/x-ndjson", NULL, body->data, body->len, &resp,
                               &status, err, errlen);
        buf_release(&resp);
        if (rc != 0)
            return -1;
        if (status / 100 == 2)
            return 0;
        if (status != 503) {
            snprintf(err, errlen, "the server answered %ld", status);
            return -1;
        }
        sleep(1);
    }
    snprintf(err, errlen, "the server stayed busy");
    return -1;
}

/* The start time of the span JSON at 'p' (spangen writes "start_ns":"…"). */
static int64_t start_of(const char *p)
{
    const char *k = strstr(p, "\"start_ns\":\"");
    return k ? strtoll(k + 12, NULL, 10) : 0;
}

/* Append the next batch to 'body'; *done once a span would start after
 * 'now' (that span is left out) or DEMO_SPANS * 2 were made. */
static int next_batch(struct spangen *g, struct buf *body, int64_t now, int *done)
{
    buf_reset(body);
    for (int i = 0; i < DEMO_BATCH && !*done; i++) {
        size_t mark = body->len;
        if (spangen_next_json(g, body) != 0)
            return -1;
        if (start_of(body->data + mark) > now || spangen_count(g) >= 2 * DEMO_SPANS) {
            body->len = mark;
            body->data[mark] = '\0';
            *done = 1;
        } else if (buf_putc(body, '\n') != 0)
            return -1;
    }
    return 0;
}

int demo_load(const char *db, const char *server_url)
{
    int64_t have = stored_spans(db);
    if (have != 0) {
        if (have > 0)
            log_msg(LOG_INFO, "demo", "the database holds %lld spans: no demo data loaded",
                    (long long)have);
        return have > 0 ? 0 : -1;
    }
    int64_t now = time_now_ns();
    struct spangen *g = spangen_new(20261201, now - 7 * NS_PER_DAY);
    spangen_set_pace(g, spangen_pace_for_days(7.0, DEMO_SPANS));
    char *url = NULL, err[256] = "";
    if (asprintf(&url, "%s/api/v1/spans", server_url) < 0)
        url = NULL;
    struct buf body;
    buf_init(&body, 0);
    int rc = url ? 0 : -1, done = 0;
    uint64_t sent = 0;
    while (rc == 0 && !done) {
        if ((rc = next_batch(g, &body, now, &done)) == 0 && body.len)
            rc = post_batch(url, &body, err, sizeof(err));
        sent = spangen_count(g) - (uint64_t)done;
    }
    if (rc == 0)
        log_msg(LOG_INFO, "demo", "loaded %llu generated spans over the last 7 days",
                (unsigned long long)sent);
    else
        log_msg(LOG_ERROR, "demo", "cannot load the demo data: %s", err);
    buf_release(&body);
    free(url);
    spangen_free(g);
    return rc;
}
