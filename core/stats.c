/*
 * stats: the statistics behind the gate (stats.h).
 *
 * The generator is xoshiro256** (Blackman and Vigna) with its state filled
 * by splitmix64, so any 64-bit seed, 0 included, gives a usable state.
 * Bootstrap intervals are percentile intervals: the resampled means are
 * sorted and the two quantiles read with linear interpolation between
 * neighbours (Hyndman and Fan's type 7). The tests are the exact binomial
 * sign test, summed in log space so that n in the thousands neither
 * overflows nor underflows before the end, and the Wilcoxon signed-rank
 * test, exact by counting subsets of ranks for small untied samples,
 * else the normal approximation.
 *
 * Invariant: nothing here keeps state between calls; every function is
 * pure apart from the stats_rng it is handed.
 */
#include "core/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define WILCOXON_EXACT_MAX 30
#define SIGN_DIRECT_MAX 1000 /* C(1000, 500) < 1e300 */

/* ---- generator ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void stats_rng_seed(struct stats_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t stats_rng_next(struct stats_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double stats_rng_unit(struct stats_rng *r)
{
    /* the top 53 bits: every double of the form k / 2^53 */
    return (double)(stats_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Marsaglia's polar method; the second value of each pair is dropped so
 * that the generator's state is the whole state. */
double stats_rng_normal(struct stats_rng *r)
{
    double u, v, s;
    do {
        u = 2 * stats_rng_unit(r) - 1;
        v = 2 * stats_rng_unit(r) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    return u * sqrt(-2 * log(s) / s);
}

/* Lemire's multiply-and-reject: the high word of x * n is uniform in
 * [0, n) once the few low words below 2^64 mod n are rejected. */
size_t stats_rng_below(struct stats_rng *r, size_t n)
{
    uint64_t bound = (uint64_t)n;
    unsigned __int128 m = (unsigned __int128)stats_rng_next(r) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t reject = -bound % bound;
        while (low < reject) {
            m = (unsigned __int128)stats_rng_next(r) * bound;
            low = (uint64_t)m;
        }
    }
    return (size_t)(m >> 64);
}

/* ---- bootstrap ------------------------------------------------------------ */

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The q quantile of n sorted values, interpolating linearly. */
static double sorted_quantile(const double *v, size_t n, double q)
{
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (h - (double)i) * (v[i + 1] - v[i]);
}

static double mean_of(const double *x, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    return sum / (double)n;
}

static double sd_of(const double *x, size_t n, double mean)
{
    if (n < 2)
        return 0;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / (double)(n - 1));
}

/* A bootstrap index uniform in [0, n) from 32 random bits 'u' by Lemire's
 * multiply-and-reject (fresh bits from 'rng' in the rare rejection). */
static inline size_t index_below(struct stats_rng *rng, uint32_t u, uint32_t n)
{
    uint64_t m = (uint64_t)u * n;
    if ((uint32_t)m < n) {
        uint32_t reject = (uint32_t)(-n) % n;
        while ((uint32_t)m < reject)
            m = (uint64_t)(uint32_t)stats_rng_next(rng) * n;
    }
    return (size_t)(m >> 32);
}

/* One resampled mean of 'x' (n < 2^32). Each generator output gives two
 * indices, one per half, summed into two accumulators: the resampling is
 * nearly all of a gate's time, and this halves it. */
static double resampled_mean(struct stats_rng *rng, const double *x, size_t n)
{
    uint32_t n32 = (uint32_t)n;
    double s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t w = stats_rng_next(rng);
        s0 += x[index_below(rng, (uint32_t)w, n32)];
        s1 += x[index_below(rng, (uint32_t)(w >> 32), n32)];
    }
    if (i < n)
        s0 += x[index_below(rng, (uint32_t)stats_rng_next(rng), n32)];
    return (s0 + s1) / (double)n;
}

/* Resample 'x' (1 < n < 2^32 values, no NAN) into 'means' and read the
 * interval. */
static void bootstrap_interval(const double *x, size_t n, double level, int resamples,
                               uint64_t seed, double *means, struct stats_interval *out)
{
    struct stats_rng rng;
    stats_rng_seed(&rng, seed);
    for (int b = 0; b < resamples; b++)
        means[b] = resampled_mean(&rng, x, n);
    qsort(means, (size_t)resamples, sizeof(*means), cmp_double);
    double tail = (1 - level) / 2;
    out->lo = sorted_quantile(means, (size_t)resamples, tail);
    out->hi = sorted_quantile(means, (size_t)resamples, 1 - tail);
}

int stats_bootstrap_mean(const double *x, size_t n, double level, int resamples, uint64_t seed,
                         struct stats_interval *out)
{
    if (!(level > 0 && level < 1) || resamples < 1)
        return -1;
    double *kept = NULL, *means = NULL;
    size_t m = 0;
    int rc = 0;
    kept = xmalloc((n ? n : 1) * sizeof(*kept));
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]))
            kept[m++] = x[i];
    out->n = m;
    if (m == 0) {
        out->mean = out->sd = out->lo = out->hi = NAN;
        goto done;
    }
    out->mean = mean_of(kept, m);
    out->sd = sd_of(kept, m, out->mean);
    out->lo = out->hi = out->mean;
    if (m == 1)
        goto done;
    if (m > UINT32_MAX) {
        rc = -1;
        goto done;
    }
    means = xmalloc((size_t)resamples * sizeof(*means));
    bootstrap_interval(kept, m, level, resamples, seed, means, out);
done:
    free(kept);
    free(means);
    return rc;
}

/* ---- paired comparison ---------------------------------------------------- */

int stats_paired(const double *a, const double *b, size_t n, double tie_eps, double level,
                 int resamples, uint64_t seed, struct stats_paired *out)
{
    memset(out, 0, sizeof(*out));
    if (!(level > 0 && level < 1) || resamples < 1)
        return -1;
    double *d = xmalloc((n ? n : 1) * sizeof(*d));
    double sum_a = 0, sum_b = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            continue;
        sum_a += a[i];
        sum_b += b[i];
        d[m] = b[i] - a[i];
        if (d[m] > tie_eps)
            out->wins++;
        else if (d[m] < -tie_eps)
            out->losses++;
        else
            out->ties++;
        m++;
    }
    out->n = m;
    out->mean_a = m ? sum_a / (double)m : NAN;
    out->mean_b = m ? sum_b / (double)m : NAN;
    int rc = stats_bootstrap_mean(d, m, level, resamples, seed, &out->diff);
    out->sign_p = stats_sign_test_p(out->wins, out->losses);
    out->wilcoxon_p = stats_wilcoxon_p(d, m, tie_eps, &out->wilcoxon_w);
    free(d);
    return rc;
}

/* ---- sign test ------------------------------------------------------------ */

/* P(X <= k) for X ~ Bin(n, 1/2), k <= n / 2. Up to SIGN_DIRECT_MAX the
 * binomial coefficients fit a double and the sum is scaled by 2^-n at the
 * end (exact for small n). Beyond, the terms are summed relative to the
 * largest, term(k): term(i-1) / term(i) is i / (n - i + 1), and
 * log term(k) = log C(n, k) - n log 2. */
static double binomial_half_cdf(size_t n, size_t k)
{
    if (n <= SIGN_DIRECT_MAX) {
        double c = 1, sum = 0;
        for (size_t i = 0; i <= k; i++) {
            sum += c;
            c = c * (double)(n - i) / (double)(i + 1);
        }
        return ldexp(sum, -(int)n);
    }
    double log_top = -(double)n * log(2.0);
    for (size_t i = 1; i <= k; i++)
        log_top += log((double)(n - k + i) / (double)i);
    double rel = 1, sum = 1;
    for (size_t i = k; i >= 1; i--) {
        rel *= (double)i / (double)(n - i + 1);
        sum += rel;
        if (rel < 1e-18 * sum)
            break;
    }
    return exp(log_top + log(sum));
}

double stats_sign_test_p(size_t wins, size_t losses)
{
    size_t n = wins + losses;
    if (n == 0)
        return 1;
    size_t k = wins < losses ? wins : losses;
    double p = 2 * binomial_half_cdf(n, k);
    return p < 1 ? p : 1;
}

/* ---- Wilcoxon signed-rank ------------------------------------------------- */

struct signed_abs {
    double abs;
    int positive;
};

static int cmp_abs(const void *pa, const void *pb)
{
    const struct signed_abs *a = pa, *b = pb;
    return (a->abs > b->abs) - (a->abs < b->abs);
}

/* Rank the m sorted magnitudes (ties: neighbours within 'eps' share the
 * average rank). Returns W+, adds sum(t^3 - t) over tie groups to *ties_t3. */
static double rank_sum_positive(const struct signed_abs *v, size_t m, double eps, double *ties_t3)
{
    double w = 0;
    size_t i = 0;
    *ties_t3 = 0;
    while (i < m) {
        size_t j = i + 1;
        while (j < m && v[j].abs - v[j - 1].abs <= eps)
            j++;
        double t = (double)(j - i), rank = ((double)i + 1 + (double)j) / 2;
        for (size_t k = i; k < j; k++)
            if (v[k].positive)
                w += rank;
        *ties_t3 += t * t * t - t;
        i = j;
    }
    return w;
}

/* Exact two-sided p of W+ = w (an integer) with m untied ranks: count the
 * subsets of {1..m} by their sum, then double the smaller tail. */
static double wilcoxon_exact_p(size_t m, double w)
{
    size_t total = m * (m + 1) / 2;
    double *count = xcalloc(total + 1, sizeof(*count));
    count[0] = 1;
    for (size_t r = 1; r <= m; r++)
        for (size_t s = total; s >= r; s--)
            count[s] += count[s - r];
    size_t wi = (size_t)llround(w);
    size_t low = wi < total - wi ? wi : total - wi;
    double tail = 0;
    for (size_t s = 0; s <= low; s++)
        tail += count[s];
    free(count);
    double p = 2 * tail / ldexp(1.0, (int)m);
    return p < 1 ? p : 1;
}

/* Normal approximation with the tie-corrected variance and a continuity
 * correction of 0.5 towards the mean. */
static double wilcoxon_normal_p(size_t m, double w, double ties_t3)
{
    double dm = (double)m;
    double mean = dm * (dm + 1) / 4;
    double var = dm * (dm + 1) * (2 * dm + 1) / 24 - ties_t3 / 48;
    if (var <= 0)
        return 1;
    double z = (fabs(w - mean) - 0.5) / sqrt(var);
    return z > 0 ? stats_normal_p2(z) : 1;
}

double stats_wilcoxon_p(const double *d, size_t n, double tie_eps, double *w_plus)
{
    struct signed_abs *v = xmalloc((n ? n : 1) * sizeof(*v));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(d[i]) || fabs(d[i]) <= tie_eps)
            continue;
        v[m].abs = fabs(d[i]);
        v[m].positive = d[i] > 0;
        m++;
    }
    qsort(v, m, sizeof(*v), cmp_abs);
    double ties_t3;
    double w = rank_sum_positive(v, m, tie_eps, &ties_t3);
    free(v);
    if (w_plus)
        *w_plus = w;
    if (m == 0)
        return 1;
    if (m <= WILCOXON_EXACT_MAX && ties_t3 == 0)
        return wilcoxon_exact_p(m, w);
    return wilcoxon_normal_p(m, w, ties_t3);
}

/* ---- the normal distribution ---------------------------------------------- */

double stats_normal_p2(double z)
{
    return erfc(fabs(z) / sqrt(2.0));
}

/* Acklam's rational approximation (relative error 1.15e-9), in three
 * regions: the central one in (p - 0.5)^2, the tails in sqrt(-2 log p). */
static double acklam(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double p_low = 0.02425;
    if (p < p_low || p > 1 - p_low) {
        double q = sqrt(-2 * log(p < p_low ? p : 1 - p));
        double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        return p < p_low ? x : -x;
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* One Halley step (Newton's with the second derivative) on
 * Phi(x) - p brings the approximation to full double precision. */
double stats_normal_quantile(double p)
{
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    if (!(p > 0 && p < 1))
        return NAN;
    double x = acklam(p);
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* ---- pass^k --------------------------------------------------------------- */

/* C(c, k) / C(n, k) as the product of (c - i) / (n - i), i < k. */
static double choose_ratio(int c, int n, int k)
{
    double r = 1;
    for (int i = 0; i < k; i++) {
        if (c - i <= 0)
            return 0;
        r *= (double)(c - i) / (double)(n - i);
    }
    return r;
}

double stats_pass_hat_k(const int *passes, size_t ncases, int trials, int k)
{
    if (k < 1 || k > trials || ncases == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < ncases; i++) {
        if (passes[i] < 0 || passes[i] > trials)
            return NAN;
        sum += choose_ratio(passes[i], trials, k);
    }
    return sum / (double)ncases;
}
