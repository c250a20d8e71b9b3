/*
 * stats: the statistics of evaluations and version_set comparisons (issue 6
 * item 5; shared with the store's comparisons, so it lives in core): means with
 * percentile-bootstrap intervals, paired differences between two variants
 * (bootstrap interval of the mean difference, win/tie/loss, exact sign
 * test, Wilcoxon signed-rank), and pass^k for repeated runs.
 *
 * Everything is deterministic: resampling uses the seeded generator below,
 * so the same inputs and seed give the same interval (a re-run of a cached
 * suite gives the same verdict).
 *
 * Thread-safety: pure functions; a stats_rng belongs to one caller.
 */
#ifndef CORE_STATS_H
#define CORE_STATS_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** seeded through splitmix64. */
struct stats_rng {
    uint64_t s[4];
};
void stats_rng_seed(struct stats_rng *r, uint64_t seed);
uint64_t stats_rng_next(struct stats_rng *r);
double stats_rng_unit(struct stats_rng *r);            /* uniform in [0, 1) */
double stats_rng_normal(struct stats_rng *r);          /* standard normal */
size_t stats_rng_below(struct stats_rng *r, size_t n); /* uniform in [0, n), n > 0, unbiased */

#define STATS_BOOTSTRAP_DEFAULT 5000 /* resamples */

struct stats_interval {
    size_t n;
    double mean;
    double sd;     /* sample standard deviation (n - 1); 0 when n < 2 */
    double lo, hi; /* percentile bootstrap interval at the asked level; n == 1: both
                      the mean; n == 0: mean, sd, lo, hi are NAN */
};

/* Mean of x[0..n) with a 'level' (e.g. 0.95) percentile bootstrap interval
 * from 'resamples' resamples seeded by 'seed': the resampled means sorted,
 * lo and hi their (1 - level) / 2 and 1 - (1 - level) / 2 quantiles with
 * linear interpolation. NAN values are skipped (n counts the rest).
 * Returns 0, or -1 when level is not in (0, 1), resamples < 1, or more
 * than 2^32 values remain. Time O(resamples * n). */
int stats_bootstrap_mean(const double *x, size_t n, double level, int resamples, uint64_t seed,
                         struct stats_interval *out) __attribute__((warn_unused_result));

struct stats_paired {
    size_t n;                   /* pairs (both values not NAN) */
    double mean_a, mean_b;      /* over those pairs */
    struct stats_interval diff; /* of d_i = b_i - a_i (candidate minus baseline) */
    size_t wins, ties, losses;  /* b beats a by more than 'tie_eps', within it, below */
    double sign_p;              /* two-sided exact binomial sign test over wins + losses
                                    (1 when there are none) */
    double wilcoxon_w;          /* W+: sum of ranks of positive differences (|d| <=
                                    tie_eps dropped; tied |d| get average ranks) */
    double wilcoxon_p;          /* two-sided: exact (enumerated) when at most 30 non-zero
                                    differences and no tied ranks, else the normal
                                    approximation with tie correction and continuity
                                    correction; 1 when no differences remain */
};

/* Paired comparison of a[i] (baseline) and b[i] (candidate), i < n. */
int stats_paired(const double *a, const double *b, size_t n, double tie_eps, double level,
                 int resamples, uint64_t seed, struct stats_paired *out)
    __attribute__((warn_unused_result));

/* The pieces, exposed for tests. */
double stats_sign_test_p(size_t wins, size_t losses);
/* 'd' the n differences (|d| <= tie_eps and NAN dropped first); *w_plus
 * may be NULL. Magnitudes within tie_eps of their sorted neighbour are
 * tied (one group, average ranks). */
double stats_wilcoxon_p(const double *d, size_t n, double tie_eps, double *w_plus);
/* Two-sided p of a standard normal z; the inverse CDF (0 < p < 1; p 0
 * and 1 give -INFINITY and INFINITY, anything else NAN). */
double stats_normal_p2(double z);
double stats_normal_quantile(double p);

/* pass^k over cases: case i passed passes[i] of 'trials' runs; the mean over
 * cases of C(passes, k) / C(trials, k) (the unbiased estimate of "all k
 * runs pass"; k == trials: the share of cases that passed every run).
 * 1 <= k <= trials, else NAN. */
double stats_pass_hat_k(const int *passes, size_t ncases, int trials, int k);
/* (NAN as well when ncases is 0 or a passes[i] is outside [0, trials].) */

#endif
