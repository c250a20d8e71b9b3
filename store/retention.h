/*
 * retention: a per-project maximum age (DESIGN.md §5, "Retention"). A pass
 * drops, for every project with a rule, the whole segments whose newest
 * span is older than the limit (taking them out of the rollups) and its
 * older hot rows and log messages; then frees the texts no span refers to
 * any more (and their full-text entries) and gives the pages back to the
 * file system (incremental vacuum).
 *
 * A pass is three steps so that the one writer is never held for long:
 *   1. retention_drop (writer): the segments and rows, a bounded number per
 *      transaction; notes the highest text and segment ids.
 *   2. retention_find (any read connection, e.g. the compactor's): every
 *      text id any span refers to, from a snapshot; the texts up to the
 *      noted id that are not among them are candidates (read with their
 *      plain text, for the index).
 *   3. retention_free (writer): drops from the candidates what the hot rows
 *      and the segments made since the snapshot refer to (a new span may
 *      have reused a text), deletes the rest, and the caller then makes
 *      the text store forget its ids (texts_rolled_back).
 *
 * Thread-safety: functions taking the writer's connection run in the
 * writer thread; retention_find on any connection of its own.
 */
#ifndef STORE_RETENTION_H
#define STORE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/segment.h"

#define RETENTION_MAX_DAYS 36500

/* Writer: keep 'project''s spans 'days' days (0: remove the rule). Returns
 * 0, or -1 with a message. */
int retention_set(sqlite3 *db, const char *project, int days, char *err, size_t errlen)
    __attribute__((warn_unused_result));

struct retention_rule {
    char *project;
    int days;
    int64_t set_ns;
};

/* The rules, by project (caller frees with retention_rules_free). Returns
 * 0, or -1 with a message. */
int retention_rules(sqlite3 *db, struct retention_rule **out, size_t *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void retention_rules_free(struct retention_rule *r, size_t n);

/* What a pass did. */
struct retention_report {
    int64_t segments, spans, hot_spans, log_messages, texts;
    int64_t texts_max, segments_max; /* ids noted by step 1, for steps 2 and 3 */
    int more;                        /* step 1 or 3 stopped at its bound: run it again */
};

/* Step 1 (writer, in its transaction): drop at most 'max_segments'
 * segments that every rule's cutoff (now_ns - days) has passed, and the
 * older hot rows and log messages; adds to 'rep'. 0, or -1. */
int retention_drop(sqlite3 *db, struct segindex *ix, int64_t now_ns, int max_segments,
                   struct retention_report *rep, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Candidates for step 3. */
struct retention_free;

/* Step 2 (a read connection, inside one read transaction): at most 'max'
 * texts with ids up to rep->texts_max that no span refers to. *out is NULL
 * when there are none. 0, or -1 with a message. */
int retention_find(sqlite3 *db, const struct retention_report *rep, size_t max,
                   struct retention_free **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void retention_free_release(struct retention_free *f);
size_t retention_free_count(const struct retention_free *f);

/* Step 3 (writer, in its transaction): delete the candidates nothing has
 * come to refer to since; their number added to rep->texts. 0, or -1. */
int retention_free(sqlite3 *db, const struct retention_free *f, struct retention_report *rep,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* 'rep' as a JSON object (segments, spans, hot_spans, log_messages,
 * texts), appended to 'out'. 0, or -1 at its ceiling. */
struct buf;
int retention_report_json(const struct retention_report *rep, struct buf *out)
    __attribute__((warn_unused_result));

#endif
