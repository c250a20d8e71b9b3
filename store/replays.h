/*
 * replays: what the store keeps of replays (DESIGN.md §7 "Replay", issue 7):
 * one row per replayed call (the original span, the new span linked to it
 * by its replay_of, the prompt version, model and upstream used, the mode,
 * and the comparison as a JSON summary), and the scores of both spans in
 * the 'scores' table (source "replay"). Rows of one batch replay share a
 * batch_id.
 *
 * Writes arrive as the store/evals.h operation {"op":"replay",...} (so the
 * CLI hands them to a running server through POST /api/v1/admin/evals, or
 * applies them to the file it holds: one writer either way).
 *
 * Thread-safety: replays_apply on the writer's connection; readers on any
 * connection.
 */
#ifndef STORE_REPLAYS_H
#define STORE_REPLAYS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "core/buf.h"

#define REPLAYS_SUMMARY_MAX (4u << 20) /* a summary larger than this is refused */
#define REPLAYS_MAX_PER_OP 10000

/* Writer: {"op":"replay","replays":[ROW...]} where ROW is
 *  {"id": 16 hex, "batch_id": 16 hex | null, "project", "orig_trace_id",
 *   "orig_span_id", "new_trace_id" | null, "new_span_id" | null,
 *   "prompt_name", "prompt_version", "model", "upstream",
 *   "mode": "variables" | "system_swap", "status": "ok" | "error",
 *   "created_ns" (string or number; default now), "summary": {...},
 *   "scores": [{"project","trace_id","span_id","name","value","comment"|null}]}
 * (an existing id is replaced; a score's id is "replay:ID:SPAN:NAME").
 * Appends {"ok":true,"replays":N} to 'answer'. Returns 0, 1 for a bad
 * operation (message in 'err'), -1 on a store failure. The signature of
 * evals_apply's operations. */
int replays_apply(sqlite3 *db, const cJSON *op, struct buf *answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* One row, as the UI and the CLI show it. Strings are owned ("" never NULL
 * except batch_id, new_trace_id, new_span_id which are NULL when absent). */
struct replays_row {
    char *id, *batch_id;
    int64_t created_ns;
    char *project, *orig_trace_id, *orig_span_id, *new_trace_id, *new_span_id;
    char *prompt_name;
    int64_t prompt_version;
    char *model, *upstream, *mode, *status;
    char *summary; /* compact JSON */
};
void replays_row_release(struct replays_row *r); /* accepts a zeroed row */

/* Reader: one replay. 1 (*out filled; release it), 0 when there is none,
 * -1 on error. */
int replays_get(sqlite3 *db, const char *id, struct replays_row *out)
    __attribute__((warn_unused_result));

/* Reader: newest first, at most 'limit', only batch 'batch_id' when not
 * NULL. 'fn' returns 0 to go on ('r' is borrowed for the call). 0 or -1. */
typedef int (*replays_fn)(void *ctx, const struct replays_row *r);
int replays_list(sqlite3 *db, const char *batch_id, int limit, replays_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Reader: the replays of span (project, trace_id, span_id), newest first,
 * at most 'limit'. 'fn' as above. 0 or -1. */
int replays_of_span(sqlite3 *db, const char *project, const char *trace_id, const char *span_id,
                    int limit, replays_fn fn, void *ctx) __attribute__((warn_unused_result));

#endif
