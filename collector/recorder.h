/*
 * recorder: spans whose commit nobody waits for: the proxy's, recorded after
 * the answer's last byte went to the client (issue 5: recording never
 * delays the response). A bounded queue and one thread that hands whatever
 * has gathered to the pipeline as one batch (so a burst shares one group
 * commit). A full queue makes recorder_put wait: backpressure on the proxy's
 * worker thread, after its client has its answer; nothing is dropped while
 * the store accepts writes. A batch the store refuses is retried with
 * backoff; only a store that keeps failing for a minute loses the batch
 * (counted, logged once per batch).
 *
 * Lifecycle: recorder_new -> recorder_put... -> recorder_free (drains and
 * commits what is queued). recorder_put and recorder_flush are thread-safe.
 */
#ifndef COLLECTOR_RECORDER_H
#define COLLECTOR_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "collector/pipeline.h"
#include "core/span.h"

struct recorder;

/* A recorder committing through 'p' (borrowed; it must outlive the
 * recorder), holding at most 'max_queued' spans. */
struct recorder *recorder_new(struct pipeline *p, size_t max_queued);

/* Drain, commit, stop the thread, free; accepts NULL. */
void recorder_free(struct recorder *r);

/* Queue 's' (moved out: it is re-initialised). Its project is its own
 * (s->project, "default" when NULL): the proxy decided it. */
void recorder_put(struct recorder *r, struct span *s);

/* Wait until every span queued before this call is committed (or lost).
 * For tests and shutdown. */
void recorder_flush(struct recorder *r);

struct recorder_stats {
    uint64_t queued, committed, lost;
};
void recorder_get_stats(struct recorder *r, struct recorder_stats *out);

#endif
