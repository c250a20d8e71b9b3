/*
 * replays: the replays table and the replay scores (replays.h). A row is
 * checked whole before anything is written; the caller's transaction (the
 * writer's) makes an operation all or nothing.
 */
#include "store/replays.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/timeutil.h"
#include "core/xmem.h"
#include "store/sqlx.h"

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 1;
}

static int is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int one_of(const char *s, const char *a, const char *b)
{
    return s && (strcmp(s, a) == 0 || strcmp(s, b) == 0);
}

/* A row's checks; 'i' names it in messages. */
static int check_row(const cJSON *r, int i, char *err, size_t errlen)
{
    const char *bid = jsonx_str(r, "batch_id");
    const char *nt = jsonx_str(r, "new_trace_id"), *ns = jsonx_str(r, "new_span_id");
    const char *project = jsonx_str(r, "project");
    if (!cJSON_IsObject(r))
        return bad(err, errlen, "replays[%d]: want an object", i);
    if (!is_hex(jsonx_str(r, "id"), 16) || (bid && !is_hex(bid, 16)))
        return bad(err, errlen, "replays[%d]: id and batch_id are 16 hex digits", i);
    if (!project || !*project || !is_hex(jsonx_str(r, "orig_trace_id"), 32) ||
        !is_hex(jsonx_str(r, "orig_span_id"), 16))
        return bad(err, errlen, "replays[%d]: want project, orig_trace_id and orig_span_id", i);
    if ((nt && !is_hex(nt, 32)) || (ns && !is_hex(ns, 16)))
        return bad(err, errlen, "replays[%d]: new_trace_id / new_span_id are not ids", i);
    if (!one_of(jsonx_str(r, "mode"), "variables", "system_swap") ||
        !one_of(jsonx_str(r, "status"), "ok", "error"))
        return bad(err, errlen, "replays[%d]: mode variables|system_swap, status ok|error", i);
    const cJSON *summary = cJSON_GetObjectItemCaseSensitive(r, "summary");
    if (!cJSON_IsObject(summary))
        return bad(err, errlen, "replays[%d]: summary: want an object", i);
    char *text = jsonx_print(summary);
    size_t len = strlen(text);
    free(text);
    if (len > REPLAYS_SUMMARY_MAX)
        return bad(err, errlen, "replays[%d]: summary: larger than %u bytes", i,
                   REPLAYS_SUMMARY_MAX);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(r, "scores");
    if (sc && !cJSON_IsArray(sc))
        return bad(err, errlen, "replays[%d]: scores: want an array", i);
    const cJSON *s;
    cJSON_ArrayForEach(s, sc)
    {
        if (!is_hex(jsonx_str(s, "trace_id"), 32) || !is_hex(jsonx_str(s, "span_id"), 16) ||
            !jsonx_str(s, "name") || !jsonx_str(s, "project") ||
            !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "value")))
            return bad(err, errlen,
                       "replays[%d].scores: want {project, trace_id, span_id, name, value}", i);
    }
    return 0;
}

static const char insert_sql[] =
    "INSERT OR REPLACE INTO replays(id, created_ns, batch_id, project, orig_trace_id,"
    " orig_span_id, new_trace_id, new_span_id, prompt_name, prompt_version, model, upstream,"
    " mode, status, summary) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)";

static const char score_sql[] =
    "INSERT INTO scores(project, score_id, trace_id, span_id, name, value, data_type, comment,"
    " source, time_ns) VALUES(?1,?2,?3,?4,?5,?6,'NUMERIC',?7,'replay',?8)"
    " ON CONFLICT(project, score_id) DO UPDATE SET value=excluded.value,"
    " comment=excluded.comment, time_ns=excluded.time_ns";

static int save_scores(sqlite3 *db, sqlite3_stmt *st, const cJSON *r, int64_t now, char *err,
                       size_t errlen)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r, "scores"))
    {
        char *sid = xasprintf("replay:%s:%s:%s", jsonx_str(r, "id"), jsonx_str(s, "span_id"),
                              jsonx_str(s, "name"));
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, jsonx_str(s, "project"), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, sid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, jsonx_str(s, "trace_id"), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, jsonx_str(s, "span_id"), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, jsonx_str(s, "name"), -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 6, cJSON_GetObjectItemCaseSensitive(s, "value")->valuedouble);
        sqlx_bind_text(st, 7, jsonx_str(s, "comment"));
        sqlite3_bind_int64(st, 8, now);
        free(sid);
        if (sqlite3_step(st) != SQLITE_DONE)
            return sqlx_fail(db, "cannot store a replay score", err, errlen);
    }
    return 0;
}

static int save_row(sqlite3 *db, sqlite3_stmt *st, const cJSON *r, int64_t now, char *err,
                    size_t errlen)
{
    int64_t created = now, version = 0;
    if (cJSON_GetObjectItemCaseSensitive(r, "created_ns"))
        (void)jsonx_member_int64(r, "created_ns", &created);
    int has_version = jsonx_member_int64(r, "prompt_version", &version) == 0;
    char *summary = jsonx_print(cJSON_GetObjectItemCaseSensitive(r, "summary"));
    static const char *const cols[] = {"batch_id",     "project",      "orig_trace_id",
                                       "orig_span_id", "new_trace_id", "new_span_id",
                                       "prompt_name"};
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, jsonx_str(r, "id"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, created);
    for (int i = 0; i < 7; i++)
        sqlx_bind_text(st, 3 + i, jsonx_str(r, cols[i]));
    if (has_version)
        sqlite3_bind_int64(st, 10, version);
    else
        sqlite3_bind_null(st, 10);
    sqlx_bind_text(st, 11, jsonx_str(r, "model"));
    sqlx_bind_text(st, 12, jsonx_str(r, "upstream"));
    sqlx_bind_text(st, 13, jsonx_str(r, "mode"));
    sqlx_bind_text(st, 14, jsonx_str(r, "status"));
    sqlite3_bind_text(st, 15, summary, -1, SQLITE_TRANSIENT);
    free(summary);
    return sqlite3_step(st) == SQLITE_DONE ? 0
                                           : sqlx_fail(db, "cannot store a replay", err, errlen);
}

int replays_apply(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(op, "replays");
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) == 0 ||
        cJSON_GetArraySize(rows) > REPLAYS_MAX_PER_OP)
        return bad(err, errlen, "replay: want \"replays\": [1..%d rows]", REPLAYS_MAX_PER_OP);
    const cJSON *r;
    int i = 0;
    cJSON_ArrayForEach(r, rows)
    {
        if (check_row(r, i++, err, errlen) != 0)
            return 1;
    }
    sqlite3_stmt *ins = NULL, *sc = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, insert_sql, -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, score_sql, -1, &sc, NULL) != SQLITE_OK) {
        rc = sqlx_fail(db, "cannot store replays", err, errlen);
        goto fail;
    }
    int64_t now = time_now_ns();
    cJSON_ArrayForEach(r, rows)
    {
        if ((rc = save_row(db, ins, r, now, err, errlen)) != 0 ||
            (rc = save_scores(db, sc, r, now, err, errlen)) != 0)
            goto fail;
    }
    if (buf_printf(answer, "{\"ok\":true,\"replays\":%d}", i) != 0)
        rc = bad(err, errlen, "the answer does not fit");
fail:
    sqlite3_finalize(ins);
    sqlite3_finalize(sc);
    return rc;
}

/* ---- readers ------------------------------------------------------------- */

#define ROW_COLS                                                                                   \
    "id, created_ns, batch_id, project, orig_trace_id, orig_span_id, new_trace_id, new_span_id,"   \
    " prompt_name, prompt_version, model, upstream, mode, status, summary"

static char *col(sqlite3_stmt *st, int i, int nullable)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : nullable ? NULL : xstrdup("");
}

static void row_fill(sqlite3_stmt *st, struct replays_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = col(st, 0, 0);
    r->created_ns = sqlite3_column_int64(st, 1);
    r->batch_id = col(st, 2, 1);
    r->project = col(st, 3, 0);
    r->orig_trace_id = col(st, 4, 0);
    r->orig_span_id = col(st, 5, 0);
    r->new_trace_id = col(st, 6, 1);
    r->new_span_id = col(st, 7, 1);
    r->prompt_name = col(st, 8, 0);
    r->prompt_version = sqlite3_column_int64(st, 9);
    r->model = col(st, 10, 0);
    r->upstream = col(st, 11, 0);
    r->mode = col(st, 12, 0);
    r->status = col(st, 13, 0);
    r->summary = col(st, 14, 0);
}

void replays_row_release(struct replays_row *r)
{
    if (!r)
        return;
    char **strs[] = {&r->id,           &r->batch_id,     &r->project,     &r->orig_trace_id,
                     &r->orig_span_id, &r->new_trace_id, &r->new_span_id, &r->prompt_name,
                     &r->model,        &r->upstream,     &r->mode,        &r->status,
                     &r->summary};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

int replays_get(sqlite3 *db, const char *id, struct replays_row *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(db, "SELECT " ROW_COLS " FROM replays WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        row_fill(st, out);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Step 'st' to the end, each row to 'fn'; finalizes it. 0 or -1. */
static int each_row(sqlite3_stmt *st, replays_fn fn, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct replays_row r;
        row_fill(st, &r);
        int stop = fn(ctx, &r);
        replays_row_release(&r);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int replays_list(sqlite3 *db, const char *batch_id, int limit, replays_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT " ROW_COLS " FROM replays WHERE ?1 IS NULL OR batch_id = ?1"
                           " ORDER BY created_ns DESC, id LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (batch_id)
        sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    return each_row(st, fn, ctx);
}

int replays_of_span(sqlite3 *db, const char *project, const char *trace_id, const char *span_id,
                    int limit, replays_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT " ROW_COLS " FROM replays WHERE project = ?1"
                           " AND orig_trace_id = ?2 AND orig_span_id = ?3"
                           " ORDER BY created_ns DESC, id LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, span_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, limit > 0 ? limit : 20);
    return each_row(st, fn, ctx);
}
