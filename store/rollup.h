/*
 * rollup: aggregates of the spans (DESIGN.md §5, "Rollups"), read through
 * four views:
 *   rollup_hourly        (project, hour, model, provider, version_set, status)
 *   rollup_daily         (project, day, model, provider, version_set, status)
 *   rollup_daily_user    (project, day, user_id)
 *   rollup_daily_tenant  (project, day, tenant)
 * Each view adds two parts: the *_c table, which counts the compacted
 * spans and changes in the same transaction that moves spans into a
 * segment (or back out of one, for a merge), and a live count of the hot
 * rows (a few thousand). So the rollups always match exactly the spans a
 * reader sees, a resent span (never stored twice) is never counted twice,
 * and ingest pays nothing for them.
 * each with calls, input/output/cache-read/cache-write/reasoning tokens,
 * cost in nano-USD, unpriced LLM calls and errors; the hourly and daily ones
 * also with log-bucketed histograms of latency and TTFT (the daily one is
 * for month-long views: thirty times fewer rows).
 *
 * Histograms: bucket b holds values in [0.01 ms * 1.02^b, 0.01 ms * 1.02^(b+1)),
 * so a quantile read from one is within 1 % of the true value's bucket edge
 * (2 % at worst). Stored sparse, buckets ascending: per bucket a varint
 * (delta from the bucket before << 1 | count != 1), the zigzag count after
 * it when not 1, and a last byte 0x80 (blobs written before 2026-12-04,
 * pairs of varints (bucket delta, count), still read). SQL functions on every connection store_open makes:
 *   llmtap_hist(x)              aggregate: the histogram of the values x (ms)
 *   llmtap_hist_merge(a, b)     the sum of two histograms (NULL is empty)
 *   llmtap_hist_sum(h)          aggregate: the sum of the histograms h
 *   llmtap_hist_quantile(h, q)  the q-quantile (0..1) of h in ms, NULL when empty
 *   llmtap_hist_count(h)        values in h
 *
 * The compactor counts a batch's rows into a rollup_acc while it encodes
 * them (its own thread); the writer writes the accumulator into the *_c
 * tables when it applies the batch. An accumulator is used by one thread.
 */
#ifndef STORE_ROLLUP_H
#define STORE_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/buf.h"

#define ROLLUP_HIST_BUCKETS 1200 /* 0.01 ms .. ~6.6 days */
#define ROLLUP_HIST_RATIO 1.02   /* a bucket's upper edge over its lower one */

/* What one span contributes. Strings are borrowed; NULL is "none". */
struct rollup_span {
    const char *project, *model, *provider, *version_set, *status, *user_id, *tenant;
    int64_t start_ns;
    int64_t input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
        reasoning_tokens; /* < 0: unknown */
    int has_cost;
    int64_t cost_nusd;
    int is_llm;                 /* kind llm or embedding: counted as unpriced when it has no cost */
    double latency_ms, ttft_ms; /* ttft NaN: unknown */
};

struct rollup_acc;

struct rollup_acc *rollup_acc_new(void);
void rollup_acc_free(struct rollup_acc *a);

/* Count 'sp' in (sign +1) or out (sign -1, a merge's old row). */
void rollup_add(struct rollup_acc *a, const struct rollup_span *sp, int sign);

/* Add what 'a' holds to the *_c tables through 'db' (inside the caller's
 * transaction) and empty it. Returns 0, or -1 with a message. */
int rollup_flush(struct rollup_acc *a, sqlite3 *db, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Empty 'a' without writing (its request rolled back). */
void rollup_reset(struct rollup_acc *a);

/* The bucket of 'ms' (exposed for tests). */
int rollup_bucket(double ms);

/* The value (ms) llmtap_hist_quantile reports for bucket 'b': its
 * geometric middle (bucket 0, which also holds everything below 0.01 ms:
 * 0.01 ms). 'b' is clamped to [0, ROLLUP_HIST_BUCKETS). */
double rollup_bucket_value(int b);

/* Decode the histogram blob 'p' ('n' bytes, the format above; NULL / 0 is
 * the empty one) and add its counts into 'counts', the caller's dense array
 * of ROLLUP_HIST_BUCKETS entries. Returns 0, or -1 when malformed ('counts'
 * may then hold part of it). Thread-safe. */
int rollup_hist_decode(const void *p, size_t n, int64_t *counts)
    __attribute__((warn_unused_result));

/* Append the encoding of the dense 'counts' (ROLLUP_HIST_BUCKETS entries;
 * zero buckets are left out) to 'out': what llmtap_hist would make of the
 * same values. Returns 0, or BUF_TOOBIG from the buf. */
int rollup_hist_encode(const int64_t *counts, struct buf *out) __attribute__((warn_unused_result));

/* Register the llmtap_hist* SQL functions on 'db'. */
int rollup_register(sqlite3 *db);

#endif
