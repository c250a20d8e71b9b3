/*
 * online: online evaluation (issue 6 item 7). Rules (store/evals.h,
 * `llmtap eval online add`) name a project, optionally a prompt, a sampled
 * share of its spans and scorers; the server offers every committed batch
 * here, a sampled span is copied into a bounded queue, and one worker
 * thread scores it — local scorers at once, judge and embedding scorers
 * through the configured upstreams — and commits the scores onto the span
 * (the 'scores' table, source "online", the judge's reasoning as comment)
 * with the judge calls as spans of project llmtap-eval.
 *
 * Sampling is deterministic: a span is in a rule's sample when a hash of
 * its span id falls below the rule's share, so a resend is sampled alike.
 * The evaluator's own spans (project llmtap-eval) are never scored. The
 * worker re-reads the rules when the table changes (checked every 2 s).
 * A full queue drops the span (counted), never blocks the ingest path.
 *
 * Thread-safety: online_offer from any thread; new/free from one.
 */
#ifndef EVALUATOR_ONLINE_H
#define EVALUATOR_ONLINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ingest.h"
#include "evaluator/runner.h"

struct online;

/* Commit 'b' (scores and spans) through the server's pipeline: 0 or -1. */
typedef int (*online_commit_fn)(void *arg, struct ingest_batch *b, char *err, size_t errlen);

struct online_config {
    const char *db_path; /* the worker opens it read-only for the rules */
    const struct runner_upstream *upstreams;
    size_t nupstreams;
    online_commit_fn commit;
    void *commit_arg;
    size_t queue_max; /* spans waiting; 0: 1000 */
    long timeout_ms;  /* per judge call; 0: 60000 */
};

struct online_stats {
    uint64_t offered, sampled, scored, dropped, failed;
};

/* Start the worker. 'cfg' is copied (its upstream table must outlive the
 * handle). 0, or -1 with a message. Caller frees with online_free. */
int online_new(struct online **out, const struct online_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Stop the worker: after it returns no commit is made; online_offer may
 * still be called (and does nothing). Accepts NULL; idempotent. */
void online_stop(struct online *o);
/* Stop and free (the queue is dropped); accepts NULL. */
void online_free(struct online *o);

/* A batch was committed: queue the spans some rule samples. Never blocks
 * on the worker. */
void online_offer(struct online *o, const struct ingest_batch *b);

/* Wait until the queue is empty and the worker idle, or 'timeout_ms'
 * passed: 0 idle, -1 timed out (tests). */
int online_drain(struct online *o, long timeout_ms);

void online_get_stats(struct online *o, struct online_stats *st);

/* 1 when 'span_id' falls in a sample of share 'sample' (0..1). */
int online_sampled(const char *span_id, double sample);

#endif
