/*
 * writer_sql: statements of the writer (see writer_sql.h). The span columns
 * are one table (span_cols) from which the INSERT and the merge-UPSERT are
 * generated, so the bind order cannot drift from the SQL.
 */
#include "store/writer_sql.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/ids.h"
#include "core/span.h"
#include "core/timeutil.h"
#include "core/xmem.h"

enum merge_rule {
    M_KEY,      /* part of the unique key: never updated */
    M_COALESCE, /* new value when present */
    M_NONZERO,  /* times: new value when non-zero */
    M_KIND,     /* new kind unless 'other' */
    M_STATUS,   /* new status unless 'ok' */
    M_JSON,     /* JSON objects: json_patch(old, new) */
    M_KEEP,     /* keep the first value (ingested_ns) */
};

struct col {
    const char *name;
    enum merge_rule rule;
};

static const struct col span_cols[] = {
    {"project", M_KEY},
    {"trace_id", M_KEY},
    {"span_id", M_KEY},
    {"parent_span_id", M_COALESCE},
    {"name", M_COALESCE},
    {"kind", M_KIND},
    {"start_ns", M_NONZERO},
    {"end_ns", M_NONZERO},
    {"ttft_ms", M_COALESCE},
    {"queue_ms", M_COALESCE},
    {"tool_ms", M_COALESCE},
    {"provider", M_COALESCE},
    {"model", M_COALESCE},
    {"response_model", M_COALESCE},
    {"input_tokens", M_COALESCE},
    {"output_tokens", M_COALESCE},
    {"cache_read_tokens", M_COALESCE},
    {"cache_write_tokens", M_COALESCE},
    {"cache_write_1h_tokens", M_COALESCE},
    {"reasoning_tokens", M_COALESCE},
    {"cost_nusd", M_COALESCE},
    {"price_version", M_COALESCE},
    {"status", M_STATUS},
    {"error_code", M_COALESCE},
    {"error_message", M_COALESCE},
    {"user_id", M_COALESCE},
    {"session_id", M_COALESCE},
    {"tenant", M_COALESCE},
    {"version_set", M_COALESCE},
    {"prompt_name", M_COALESCE},
    {"prompt_version", M_COALESCE},
    {"prompt_vars", M_COALESCE},
    {"input_refs", M_COALESCE},
    {"output_refs", M_COALESCE},
    {"params", M_JSON},
    {"tags", M_COALESCE},
    {"attributes", M_JSON},
    {"service_name", M_COALESCE},
    {"service_version", M_COALESCE},
    {"service_tier", M_COALESCE},
    {"finish_reason", M_COALESCE},
    {"replay_of", M_COALESCE},
    {"ingested_ns", M_KEEP},
};
#define NCOLS (sizeof(span_cols) / sizeof(span_cols[0]))

static int merge_expr(struct buf *b, const struct col *c)
{
    const char *n = c->name;
    switch (c->rule) {
    case M_COALESCE:
        return buf_printf(b, "%s=COALESCE(excluded.%s,%s)", n, n, n);
    case M_NONZERO:
        return buf_printf(b, "%s=CASE WHEN excluded.%s<>0 THEN excluded.%s ELSE %s END", n, n, n,
                          n);
    case M_KIND:
        return buf_printf(b, "%s=CASE WHEN excluded.%s<>'other' THEN excluded.%s ELSE %s END", n, n,
                          n, n);
    case M_STATUS:
        return buf_printf(b, "%s=CASE WHEN excluded.%s<>'ok' THEN excluded.%s ELSE %s END", n, n, n,
                          n);
    case M_JSON:
        return buf_printf(b,
                          "%s=CASE WHEN excluded.%s IS NULL THEN %s WHEN %s IS NULL THEN "
                          "excluded.%s ELSE json_patch(%s,excluded.%s) END",
                          n, n, n, n, n, n, n);
    default:
        return BUF_OK;
    }
}

/* "INSERT [OR IGNORE] INTO span_rows(cols) VALUES(?,...)" [+ merge clause] */
static char *span_sql(int merge)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_puts(&b, merge ? "INSERT INTO span_rows(" : "INSERT OR IGNORE INTO span_rows(");
    for (size_t i = 0; i < NCOLS; i++)
        rc |= buf_printf(&b, "%s%s", i ? "," : "", span_cols[i].name);
    rc |= buf_puts(&b, ") VALUES(");
    for (size_t i = 0; i < NCOLS; i++)
        rc |= buf_puts(&b, i ? ",?" : "?");
    rc |= buf_putc(&b, ')');
    if (merge) {
        rc |= buf_puts(&b, " ON CONFLICT(project,trace_id,span_id) DO UPDATE SET ");
        int first = 1;
        for (size_t i = 0; i < NCOLS; i++) {
            if (span_cols[i].rule == M_KEY || span_cols[i].rule == M_KEEP)
                continue;
            rc |= (first ? 0 : buf_putc(&b, ',')) | merge_expr(&b, &span_cols[i]);
            first = 0;
        }
    }
    (void)rc; /* unbounded buf: cannot be too big */
    return buf_take(&b, NULL);
}

/* Messages of one span from the logs, in time order, as input / output.
 * They replace a value only when the span has none of its own (or had its
 * value from the logs before); such a value is packed in input / output
 * and the span's refs are cleared, so the `spans` view shows it. */
#define MSGS_OF(out)                                                                               \
    "(SELECT message FROM log_messages m WHERE m.project=?1 AND m.trace_id=?2 AND "                \
    "m.span_id=?3 AND m.is_output=" out " ORDER BY m.time_ns, m.seq)"
#define IN_OPEN "((input IS NULL AND input_refs IS NULL) OR (io_from_logs&1))"
#define OUT_OPEN "((output IS NULL AND output_refs IS NULL) OR (io_from_logs&2))"
#define IN_LOGS "(" IN_OPEN " AND EXISTS " MSGS_OF("0") ")"
#define OUT_LOGS "(" OUT_OPEN " AND EXISTS " MSGS_OF("1") ")"
static const char join_sql[] =
    "UPDATE span_rows SET"
    " input=CASE WHEN " IN_LOGS " THEN llmtap_pack((SELECT json_group_array(json(message))"
    "  FROM " MSGS_OF(
        "0") ")) ELSE input END,"
             " input_refs=CASE WHEN " IN_LOGS " THEN NULL ELSE input_refs END,"
             " output=CASE WHEN " OUT_LOGS " THEN llmtap_pack((SELECT CASE WHEN count(*)=1"
             "  THEN json(max(message)) ELSE json_group_array(json(message)) END"
             "  FROM " MSGS_OF("1") ")) ELSE output END,"
                                    " output_refs=CASE WHEN " OUT_LOGS
                                    " THEN NULL ELSE output_refs END,"
                                    " io_from_logs=io_from_logs | CASE WHEN " IN_LOGS
                                    " THEN 1 ELSE 0 END"
                                    "  | CASE WHEN " OUT_LOGS " THEN 2 ELSE 0 END"
                                    " WHERE project=?1 AND trace_id=?2 AND span_id=?3";

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare writer statement: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int wsql_prepare(struct writer_sql *s, sqlite3 *db, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->db = db;
    buf_init(&s->in_refs, 0);
    buf_init(&s->out_refs, 0);
    if (texts_open(&s->texts, db, err, errlen) != 0 ||
        segindex_open(&s->segs, db, err, errlen) != 0)
        return -1;
    char *ins = span_sql(0), *ups = span_sql(1);
    int rc = prep(db, ins, &s->insert_span, err, errlen) ||
             prep(db, ups, &s->upsert_span, err, errlen) ||
             prep(db, "SELECT 1 FROM span_rows WHERE project=?1 AND trace_id=?2 AND span_id=?3",
                  &s->span_exists, err, errlen) ||
             prep(db, "INSERT OR IGNORE INTO ingest_dedup(key, seen_ns) VALUES(?1, ?2)", &s->dedup,
                  err, errlen) ||
             prep(db,
                  "INSERT OR IGNORE INTO log_messages(project, trace_id, span_id, is_output,"
                  " time_ns, seq, hash, message) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
                  &s->insert_msg, err, errlen) ||
             prep(db, join_sql, &s->join_msgs, err, errlen) ||
             prep(db,
                  "INSERT INTO scores(project, score_id, trace_id, span_id, session_id, name,"
                  " value, string_value, data_type, comment, source, time_ns)"
                  " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
                  " ON CONFLICT(project, score_id) DO UPDATE SET trace_id=excluded.trace_id,"
                  " span_id=excluded.span_id, session_id=excluded.session_id,"
                  " name=excluded.name, value=excluded.value,"
                  " string_value=excluded.string_value, data_type=excluded.data_type,"
                  " comment=excluded.comment, time_ns=excluded.time_ns",
                  &s->upsert_score, err, errlen);
    free(ins);
    free(ups);
    if (rc)
        return -1;
    sqlite3_stmt *any = NULL;
    if (sqlite3_prepare_v2(db, "SELECT EXISTS(SELECT 1 FROM log_messages)", -1, &any, NULL) ==
            SQLITE_OK &&
        sqlite3_step(any) == SQLITE_ROW)
        s->has_logmsgs = sqlite3_column_int(any, 0);
    sqlite3_finalize(any);
    return 0;
}

void wsql_finalize(struct writer_sql *s)
{
    sqlite3_stmt *all[] = {s->insert_span, s->upsert_span, s->span_exists, s->dedup,
                           s->insert_msg,  s->join_msgs,   s->upsert_score};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    texts_close(s->texts);
    segindex_close(s->segs);
    buf_release(&s->in_refs);
    buf_release(&s->out_refs);
    memset(s, 0, sizeof(*s));
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_count(sqlite3_stmt *st, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static void bind_refs(sqlite3_stmt *st, int i, const struct buf *refs)
{
    if (refs->len)
        sqlite3_bind_blob64(st, i, refs->data, refs->len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Bind a span in span_cols order. */
static void bind_span(struct writer_sql *ws, sqlite3_stmt *st, struct rec_span *r, int64_t now_ns)
{
    const struct span *s = &r->span;
    int i = 1;
    bind_text(st, i++, s->project ? s->project : "default");
    bind_text(st, i++, s->trace_id);
    bind_text(st, i++, s->span_id);
    bind_text(st, i++, s->parent_span_id[0] ? s->parent_span_id : NULL);
    bind_text(st, i++, s->name);
    bind_text(st, i++, span_kind_name(s->kind));
    sqlite3_bind_int64(st, i++, s->start_ns);
    sqlite3_bind_int64(st, i++, s->end_ns);
    bind_real(st, i++, s->ttft_ms);
    bind_real(st, i++, s->queue_ms);
    bind_real(st, i++, s->tool_ms);
    bind_text(st, i++, s->provider);
    bind_text(st, i++, s->model);
    bind_text(st, i++, s->response_model);
    bind_count(st, i++, s->usage.input_tokens);
    bind_count(st, i++, s->usage.output_tokens);
    bind_count(st, i++, s->usage.cache_read_tokens);
    bind_count(st, i++, s->usage.cache_write_tokens);
    bind_count(st, i++, s->usage.cache_write_1h_tokens);
    bind_count(st, i++, s->usage.reasoning_tokens);
    if (s->has_cost)
        sqlite3_bind_int64(st, i++, s->cost_nusd);
    else
        sqlite3_bind_null(st, i++);
    bind_text(st, i++, s->price_version);
    bind_text(st, i++, span_status_name(s->status));
    bind_text(st, i++, s->error_code);
    bind_text(st, i++, s->error_message);
    bind_text(st, i++, s->user_id);
    bind_text(st, i++, s->session_id);
    bind_text(st, i++, s->tenant);
    bind_text(st, i++, s->version_set);
    bind_text(st, i++, s->prompt_name);
    bind_count(st, i++, s->prompt_version);
    bind_text(st, i++, s->prompt_vars);
    bind_refs(st, i++, &ws->in_refs);
    bind_refs(st, i++, &ws->out_refs);
    bind_text(st, i++, s->params);
    bind_text(st, i++, s->tags);
    bind_text(st, i++, s->attributes);
    bind_text(st, i++, s->service_name);
    bind_text(st, i++, s->service_version);
    bind_text(st, i++, s->service_tier);
    bind_text(st, i++, s->finish_reason);
    bind_text(st, i++, s->replay_of);
    sqlite3_bind_int64(st, i++, now_ns);
}

/* Run a bound statement to completion and reset it; -1 with 'err' on failure. */
static int step_done(struct writer_sql *s, sqlite3_stmt *st, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return 0;
}

/* 1 when 'key' was seen before (and so the record is a duplicate), 0 when
 * new (now recorded), -1 on failure. */
static int dedup_seen(struct writer_sql *s, const char *key, char *err, size_t errlen)
{
    sqlite3_bind_text(s->dedup, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->dedup, 2, time_now_ns());
    if (step_done(s, s->dedup, err, errlen))
        return -1;
    return sqlite3_changes(s->db) == 0;
}

static int join_logs(struct writer_sql *s, const char *project, const char *trace_id,
                     const char *span_id, char *err, size_t errlen)
{
    bind_text(s->join_msgs, 1, project ? project : "default");
    bind_text(s->join_msgs, 2, trace_id);
    bind_text(s->join_msgs, 3, span_id);
    if (step_done(s, s->join_msgs, err, errlen))
        return -1;
    s->hot_updates += sqlite3_changes(s->db) > 0;
    return 0;
}

static int span_exists(struct writer_sql *s, const struct span *sp)
{
    bind_text(s->span_exists, 1, sp->project ? sp->project : "default");
    bind_text(s->span_exists, 2, sp->trace_id);
    bind_text(s->span_exists, 3, sp->span_id);
    int found = sqlite3_step(s->span_exists) == SQLITE_ROW;
    sqlite3_reset(s->span_exists);
    sqlite3_clear_bindings(s->span_exists);
    return found;
}

/* Is the span compacted already? 1 (and, for a merge, moved back to the
 * hot rows so the upsert finds it), 0, or -1. A resend carries the same
 * start time, which narrows the search to the segments holding it; a
 * merge, or a span whose times came from the clock, looks everywhere. */
static int in_segment(struct writer_sql *s, struct rec_span *r, char *err, size_t errlen)
{
    const struct span *sp = &r->span;
    if (segindex_segments(s->segs) == 0)
        return 0;
    int anywhere = r->op == REC_MERGE || sp->clock_times;
    int64_t lo = anywhere ? INT64_MIN : sp->start_ns, hi = anywhere ? INT64_MAX : sp->start_ns;
    int64_t seg = 0, row = 0;
    int found = segindex_find(s->segs, sp->project ? sp->project : "default", sp->trace_id,
                              sp->span_id, lo, hi, &seg, &row, err, errlen);
    if (found == 1 && r->op == REC_MERGE && segment_resurrect(s->segs, seg, row, err, errlen))
        return -1;
    return found;
}

int wsql_span(struct writer_sql *s, struct rec_span *r, int64_t now_ns, char *err, size_t errlen)
{
    struct span *sp = &r->span;
    if (r->dedup_key) {
        int seen = dedup_seen(s, r->dedup_key, err, errlen);
        if (seen < 0)
            return -1;
        if (seen) {
            r->result = REC_DUPLICATE;
            return 0;
        }
    }
    int compacted = in_segment(s, r, err, errlen);
    if (compacted < 0)
        return -1;
    if (compacted && r->op != REC_MERGE) {
        r->result = REC_DUPLICATE;
        return 0;
    }
    int existed = r->op == REC_MERGE && (compacted || span_exists(s, sp));
    buf_reset(&s->in_refs);
    buf_reset(&s->out_refs);
    if (texts_store(s->texts, r, &s->in_refs, &s->out_refs, err, errlen))
        return -1;
    sqlite3_stmt *st = r->op == REC_MERGE ? s->upsert_span : s->insert_span;
    bind_span(s, st, r, now_ns);
    if (step_done(s, st, err, errlen))
        return -1;
    if (r->op == REC_MERGE)
        r->result = existed ? REC_MERGED : REC_CREATED;
    else
        r->result = sqlite3_changes(s->db) ? REC_CREATED : REC_DUPLICATE;
    if (r->result == REC_CREATED)
        segindex_add_hot(s->segs, 1);
    s->hot_updates += r->result == REC_MERGED;
    if (r->result != REC_DUPLICATE && s->has_logmsgs && (!sp->input || !sp->output))
        return join_logs(s, sp->project, sp->trace_id, sp->span_id, err, errlen);
    return 0;
}

#define LOG_SPAN_WINDOW_NS (24 * 3600 * 1000000000LL) /* the longest span looked for */
#define LOG_SKEW_NS (60 * 1000000000LL)               /* log clock ahead of span clock */

int wsql_logmsg(struct writer_sql *s, struct rec_logmsg *m, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->insert_msg;
    uint64_t h = ids_hash64(m->message, strlen(m->message), 0);
    bind_text(st, 1, m->project ? m->project : "default");
    bind_text(st, 2, m->trace_id);
    bind_text(st, 3, m->span_id);
    sqlite3_bind_int(st, 4, m->is_output ? 1 : 0);
    sqlite3_bind_int64(st, 5, m->time_ns);
    sqlite3_bind_int(st, 6, m->seq);
    sqlite3_bind_int64(st, 7, (int64_t)h);
    bind_text(st, 8, m->message);
    if (step_done(s, st, err, errlen))
        return -1;
    m->result = sqlite3_changes(s->db) ? REC_CREATED : REC_DUPLICATE;
    s->has_logmsgs = 1;
    const char *project = m->project ? m->project : "default";
    if (join_logs(s, project, m->trace_id, m->span_id, err, errlen))
        return -1;
    if (sqlite3_changes(s->db) > 0 || segindex_segments(s->segs) == 0)
        return 0; /* joined to the hot span, or the span has not come yet */
    /* a message later than its span's compaction: move the span back to join it. Its
     * span started before it (a minute of clock skew allowed), within a day. */
    int64_t seg = 0, row = 0;
    int64_t lo = m->time_ns > LOG_SPAN_WINDOW_NS ? m->time_ns - LOG_SPAN_WINDOW_NS : INT64_MIN;
    int64_t hi = m->time_ns > 0 ? m->time_ns + LOG_SKEW_NS : INT64_MAX;
    int found =
        segindex_find(s->segs, project, m->trace_id, m->span_id, lo, hi, &seg, &row, err, errlen);
    if (found <= 0)
        return found;
    if (segment_resurrect(s->segs, seg, row, err, errlen))
        return -1;
    return join_logs(s, project, m->trace_id, m->span_id, err, errlen);
}

int wsql_score(struct writer_sql *s, struct rec_score *r, char *err, size_t errlen)
{
    if (r->dedup_key) {
        int seen = dedup_seen(s, r->dedup_key, err, errlen);
        if (seen < 0)
            return -1;
        if (seen) {
            r->result = REC_DUPLICATE;
            return 0;
        }
    }
    sqlite3_stmt *st = s->upsert_score;
    bind_text(st, 1, r->project ? r->project : "default");
    bind_text(st, 2, r->id);
    bind_text(st, 3, r->trace_id[0] ? r->trace_id : NULL);
    bind_text(st, 4, r->span_id[0] ? r->span_id : NULL);
    bind_text(st, 5, r->session_id);
    bind_text(st, 6, r->name);
    bind_real(st, 7, r->string_value ? NAN : r->value);
    bind_text(st, 8, r->string_value);
    bind_text(st, 9, r->data_type);
    bind_text(st, 10, r->comment);
    bind_text(st, 11, r->source);
    sqlite3_bind_int64(st, 12, r->time_ns);
    if (step_done(s, st, err, errlen))
        return -1;
    r->result = REC_CREATED;
    return 0;
}
