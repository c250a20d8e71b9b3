/*
 * stats: the generator matches the published splitmix64 values and an
 * independent xoshiro256** computation; bootstrap intervals agree with
 * the normal theory on a large sample, are deterministic per seed and
 * handle n 0, n 1 and NAN; the sign test matches binomial tails computed
 * here by other means; the Wilcoxon test matches a brute-force enumeration
 * of every sign assignment (exact path) and the normal formula worked out
 * here (tied path); the normal quantile and tail match known constants;
 * pass^k matches hand-computed values.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/stats.h"
#include "tests/support/testutil.h"

/* ---- generator ------------------------------------------------------------ */

START_TEST(test_seed_fills_the_state_with_splitmix64)
{
    struct stats_rng r;
    stats_rng_seed(&r, 0);
    /* the first four splitmix64 outputs from state 0 */
    ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafULL);
    ck_assert_uint_eq(r.s[1], 0x6e789e6aa1b965f4ULL);
    ck_assert_uint_eq(r.s[2], 0x06c45d188009454fULL);
    ck_assert_uint_eq(r.s[3], 0xf88bb8a8724c81ecULL);
    /* xoshiro256** from that state, computed independently (Python ints) */
    ck_assert_uint_eq(stats_rng_next(&r), 0x99ec5f36cb75f2b4ULL);
    ck_assert_uint_eq(stats_rng_next(&r), 0xbf6e1f784956452aULL);
    ck_assert_uint_eq(stats_rng_next(&r), 0x1a5f849d4933e6e0ULL);
}
END_TEST

START_TEST(test_unit_below_and_normal_have_the_right_distributions)
{
    struct stats_rng r;
    stats_rng_seed(&r, 42);
    enum { N = 200000, K = 7 };
    double sum = 0, sum2 = 0, umin = 1, umax = 0;
    size_t counts[K] = {0};
    for (int i = 0; i < N; i++) {
        double u = stats_rng_unit(&r);
        umin = fmin(umin, u);
        umax = fmax(umax, u);
        size_t k = stats_rng_below(&r, K);
        ck_assert_uint_lt(k, K);
        counts[k]++;
        double z = stats_rng_normal(&r);
        sum += z;
        sum2 += z * z;
    }
    ck_assert(umin >= 0 && umin < 0.001);
    ck_assert(umax < 1 && umax > 0.999);
    double mean = sum / N, var = sum2 / N - mean * mean;
    ck_assert_double_eq_tol(mean, 0, 0.01);
    ck_assert_double_eq_tol(var, 1, 0.02);
    /* chi-square with 6 degrees of freedom: 22.5 is its 0.999 quantile */
    double chi = 0, expect = (double)N / K;
    for (int k = 0; k < K; k++)
        chi += (counts[k] - expect) * (counts[k] - expect) / expect;
    ck_assert_double_lt(chi, 22.5);
    ck_assert_uint_eq(stats_rng_below(&r, 1), 0);
}
END_TEST

/* ---- bootstrap ------------------------------------------------------------ */

START_TEST(test_bootstrap_of_a_large_normal_sample_matches_the_normal_interval)
{
    enum { N = 2000 };
    static double x[N];
    struct stats_rng r;
    stats_rng_seed(&r, 7);
    double sum = 0;
    for (int i = 0; i < N; i++) {
        x[i] = 5 + 2 * stats_rng_normal(&r);
        sum += x[i];
    }
    double mean = sum / N, ss = 0;
    for (int i = 0; i < N; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(ss / (N - 1));
    struct stats_interval iv;
    ck_assert_int_eq(stats_bootstrap_mean(x, N, 0.95, STATS_BOOTSTRAP_DEFAULT, 99, &iv), 0);
    ck_assert_uint_eq(iv.n, N);
    ck_assert_double_eq_tol(iv.mean, mean, 1e-12);
    ck_assert_double_eq_tol(iv.sd, sd, 1e-12);
    double half = 1.959963984540054 * sd / sqrt(N);
    ck_assert_double_eq_tol((iv.hi - iv.lo) / 2, half, 0.05 * half);
    ck_assert_double_eq_tol(iv.hi - mean, half, 0.08 * half);
    ck_assert_double_eq_tol(mean - iv.lo, half, 0.08 * half);
    /* a 50% interval is narrower: 0.674 standard errors each side */
    struct stats_interval narrow;
    ck_assert_int_eq(stats_bootstrap_mean(x, N, 0.5, STATS_BOOTSTRAP_DEFAULT, 99, &narrow), 0);
    double half50 = 0.6744897501960817 * sd / sqrt(N);
    ck_assert_double_eq_tol((narrow.hi - narrow.lo) / 2, half50, 0.07 * half50);
}
END_TEST

START_TEST(test_bootstrap_is_deterministic_per_seed)
{
    double x[50];
    struct stats_rng r;
    stats_rng_seed(&r, 3);
    for (int i = 0; i < 50; i++)
        x[i] = stats_rng_unit(&r);
    struct stats_interval a, b, c;
    ck_assert_int_eq(stats_bootstrap_mean(x, 50, 0.9, 1000, 11, &a), 0);
    ck_assert_int_eq(stats_bootstrap_mean(x, 50, 0.9, 1000, 11, &b), 0);
    ck_assert_int_eq(stats_bootstrap_mean(x, 50, 0.9, 1000, 12, &c), 0);
    ck_assert(a.lo == b.lo && a.hi == b.hi);
    ck_assert(a.lo != c.lo || a.hi != c.hi);
    ck_assert(a.mean == c.mean);
    ck_assert(a.lo < a.mean && a.mean < a.hi);
}
END_TEST

START_TEST(test_bootstrap_edge_cases)
{
    struct stats_interval iv;
    double one = 0.25;
    ck_assert_int_eq(stats_bootstrap_mean(NULL, 0, 0.95, 100, 1, &iv), 0);
    ck_assert_uint_eq(iv.n, 0);
    ck_assert(isnan(iv.mean) && isnan(iv.sd) && isnan(iv.lo) && isnan(iv.hi));
    ck_assert_int_eq(stats_bootstrap_mean(&one, 1, 0.95, 100, 1, &iv), 0);
    ck_assert_uint_eq(iv.n, 1);
    ck_assert(iv.mean == 0.25 && iv.lo == 0.25 && iv.hi == 0.25 && iv.sd == 0);
    /* NAN values are skipped: what remains is {1, 3} */
    double x[] = {NAN, 1, NAN, 3, NAN};
    ck_assert_int_eq(stats_bootstrap_mean(x, 5, 0.95, 2000, 1, &iv), 0);
    ck_assert_uint_eq(iv.n, 2);
    ck_assert_double_eq(iv.mean, 2);
    ck_assert_double_eq_tol(iv.sd, sqrt(2), 1e-12);
    /* resampled means of {1, 3} are 1, 2 or 3: the 95% interval spans them */
    ck_assert_double_eq(iv.lo, 1);
    ck_assert_double_eq(iv.hi, 3);
    double all_nan[] = {NAN, NAN};
    ck_assert_int_eq(stats_bootstrap_mean(all_nan, 2, 0.95, 100, 1, &iv), 0);
    ck_assert_uint_eq(iv.n, 0);
    ck_assert(isnan(iv.mean));
    /* constant data: a degenerate interval */
    double same[] = {0.5, 0.5, 0.5, 0.5};
    ck_assert_int_eq(stats_bootstrap_mean(same, 4, 0.95, 100, 1, &iv), 0);
    ck_assert(iv.lo == 0.5 && iv.hi == 0.5 && iv.sd == 0);
    ck_assert_int_eq(stats_bootstrap_mean(same, 4, 1.0, 100, 1, &iv), -1);
    ck_assert_int_eq(stats_bootstrap_mean(same, 4, 0, 100, 1, &iv), -1);
    ck_assert_int_eq(stats_bootstrap_mean(same, 4, 0.95, 0, 1, &iv), -1);
}
END_TEST

/* ---- sign test ------------------------------------------------------------ */

/* 2 P(X <= k), X ~ Bin(n, 1/2), by lgamma: a different route from the
 * module's running ratios. */
static double sign_p_by_lgamma(int w, int l)
{
    int n = w + l, k = w < l ? w : l;
    double sum = 0;
    for (int i = 0; i <= k; i++)
        sum += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * log(2.0));
    return fmin(1, 2 * sum);
}

START_TEST(test_sign_test_matches_binomial_tails)
{
    ck_assert_double_eq_tol(stats_sign_test_p(8, 2), 0.109375, 1e-15);
    ck_assert_double_eq_tol(stats_sign_test_p(2, 8), 0.109375, 1e-15);
    ck_assert_double_eq_tol(stats_sign_test_p(15, 5), 0.04138946533203125, 1e-15);
    ck_assert_double_eq_tol(stats_sign_test_p(10, 0), 0.001953125, 1e-17);
    ck_assert_double_eq_tol(stats_sign_test_p(0, 10), 0.001953125, 1e-17);
    ck_assert_double_eq(stats_sign_test_p(0, 0), 1);
    ck_assert_double_eq(stats_sign_test_p(5, 5), 1);
    ck_assert_double_eq(stats_sign_test_p(1, 0), 1);
    /* C(100, i) summed in doubles: exact to rounding at this size */
    double c = 1, tail = 0;
    for (int i = 0; i <= 40; i++) {
        tail += c;
        c = c * (100 - i) / (i + 1);
    }
    double p = 2 * tail / ldexp(1, 100);
    ck_assert_double_eq_tol(stats_sign_test_p(60, 40), p, 1e-12 * p);
    /* large n, where 2^-n underflows: against lgamma */
    double big = sign_p_by_lgamma(2600, 2400);
    ck_assert_double_eq_tol(stats_sign_test_p(2600, 2400), big, 1e-9 * big);
    double tiny = stats_sign_test_p(3000, 1000);
    ck_assert(tiny >= 0 && tiny < 1e-200 && !isnan(tiny));
}
END_TEST

START_TEST(test_paired_counts_wins_ties_losses_and_ignores_ties_in_the_sign_test)
{
    /* 8 wins, 2 losses, 5 ties (two within tie_eps), and a NAN pair */
    double a[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, NAN};
    double b[] = {0.3, 0.5, 0.4, 0.9, 0.6, 0.9,         0.8,         1.0,
                  0.4, 0.2, 0.5, 0.5, 0.5, 0.5 + 1e-12, 0.5 - 1e-12, 0.9};
    struct stats_paired p;
    ck_assert_int_eq(stats_paired(a, b, 16, 1e-9, 0.95, 2000, 5, &p), 0);
    ck_assert_uint_eq(p.n, 15);
    ck_assert_uint_eq(p.wins, 8);
    ck_assert_uint_eq(p.losses, 2);
    ck_assert_uint_eq(p.ties, 5);
    ck_assert_double_eq_tol(p.sign_p, 0.109375, 1e-15);
    double ma = 0, mb = 0;
    for (int i = 0; i < 15; i++) {
        ma += a[i];
        mb += b[i];
    }
    ck_assert_double_eq_tol(p.mean_a, ma / 15, 1e-12);
    ck_assert_double_eq_tol(p.mean_b, mb / 15, 1e-12);
    ck_assert_double_eq_tol(p.diff.mean, (mb - ma) / 15, 1e-12);
    ck_assert(p.diff.lo < p.diff.mean && p.diff.mean < p.diff.hi);
    /* nothing left: every p is 1 */
    struct stats_paired none;
    ck_assert_int_eq(stats_paired(a, a, 15, 1e-9, 0.95, 100, 5, &none), 0);
    ck_assert_uint_eq(none.ties, 15);
    ck_assert_double_eq(none.sign_p, 1);
    ck_assert_double_eq(none.wilcoxon_p, 1);
    ck_assert_double_eq(none.wilcoxon_w, 0);
}
END_TEST

/* ---- Wilcoxon ------------------------------------------------------------- */

/* Two-sided p of W+ = w over all 2^n sign assignments of ranks 1..n. */
static double wilcoxon_brute_force(int n, double w)
{
    double le = 0, ge = 0;
    for (uint32_t mask = 0; mask < (1u << n); mask++) {
        int sum = 0;
        for (int r = 0; r < n; r++)
            if (mask & (1u << r))
                sum += r + 1;
        le += sum <= w;
        ge += sum >= w;
    }
    return fmin(1, 2 * fmin(le, ge) / ldexp(1, n));
}

START_TEST(test_wilcoxon_exact_matches_enumeration)
{
    /* eleven distinct non-zero differences and a zero that is dropped */
    double d[] = {1.2, -0.4, 2.5, 3.1, -0.9, 1.8, 0.7, -2.2, 4.0, 1.5, 0.0, 2.9};
    /* ranks of |d|: 0.4:1 0.7:2 0.9:3 1.2:4 1.5:5 1.8:6 2.2:7 2.5:8 2.9:9
       3.1:10 4.0:11; positive ones sum to 2+4+5+6+8+9+10+11 */
    double w;
    double p = stats_wilcoxon_p(d, 12, 1e-9, &w);
    ck_assert_double_eq(w, 55);
    ck_assert_double_eq_tol(p, wilcoxon_brute_force(11, 55), 1e-14);
    /* W- = 11: the subsets of 1..11 summing to at most 11 are the partitions
       of 0..11 into distinct parts, 1+1+1+2+2+3+4+5+6+8+10+12 = 55 of them */
    ck_assert_double_eq_tol(p, 2 * 55 / 2048.0, 1e-15);
    /* all positive: 2 / 2^10 */
    double pos[10];
    for (int i = 0; i < 10; i++)
        pos[i] = 0.1 * (i + 1);
    ck_assert_double_eq_tol(stats_wilcoxon_p(pos, 10, 1e-9, &w), 0.001953125, 1e-15);
    ck_assert_double_eq(w, 55);
    /* a balanced sample: W+ at the middle, p 1 */
    double bal[] = {1, -2, -3, 4};
    ck_assert_double_eq_tol(stats_wilcoxon_p(bal, 4, 1e-9, &w), 1, 1e-15);
    ck_assert_double_eq(w, 5);
    ck_assert_double_eq(stats_wilcoxon_p(bal, 0, 1e-9, NULL), 1);
}
END_TEST

START_TEST(test_wilcoxon_exact_on_mixed_signs_and_at_thirty_values)
{
    /* twelve ranks with a mixed sign pattern, against the enumeration */
    double d[12];
    double w_expect = 0;
    for (int i = 0; i < 12; i++) {
        int positive = (i % 3) != 1;
        d[i] = (positive ? 1 : -1) * (i + 1) * 0.01;
        w_expect += positive ? i + 1 : 0;
    }
    double w;
    double p = stats_wilcoxon_p(d, 12, 1e-9, &w);
    ck_assert_double_eq(w, w_expect);
    ck_assert_double_eq_tol(p, wilcoxon_brute_force(12, w_expect), 1e-14);
    /* 30 untied values still use the exact distribution: all positive gives
       2 / 2^30 exactly (the normal approximation would not) */
    double big[30];
    for (int i = 0; i < 30; i++)
        big[i] = i + 1;
    ck_assert_double_eq_tol(stats_wilcoxon_p(big, 30, 1e-9, &w), ldexp(1, -29), 1e-24);
    ck_assert_double_eq(w, 465);
}
END_TEST

START_TEST(test_wilcoxon_normal_approximation_with_ties)
{
    /* 40 non-zero differences in four tie groups of ten (magnitudes 1..4)
       and three zeros. Positives per group: 3, 4, 6, 8. Average ranks:
       5.5, 15.5, 25.5, 35.5. */
    double d[43];
    int positives[4] = {3, 4, 6, 8}, k = 0;
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < 10; i++)
            d[k++] = (i < positives[g] ? 1 : -1) * (g + 1);
    d[k++] = 0;
    d[k++] = 0;
    d[k++] = 5e-10;                                             /* within tie_eps: dropped too */
    double w_expect = 3 * 5.5 + 4 * 15.5 + 6 * 25.5 + 8 * 35.5; /* 515.5 */
    double m = 40, mean = m * (m + 1) / 4;
    double var = m * (m + 1) * (2 * m + 1) / 24 - 4 * (1000.0 - 10) / 48;
    double z = (fabs(w_expect - mean) - 0.5) / sqrt(var);
    double p_expect = erfc(z / sqrt(2));
    double w;
    double p = stats_wilcoxon_p(d, 43, 1e-9, &w);
    ck_assert_double_eq(w, 515.5);
    ck_assert_double_eq_tol(p, p_expect, 1e-14);
    ck_assert_double_eq_tol(p, 0.15503, 1e-4); /* z = 1.4220 */
    /* a small sample with ties also uses the approximation */
    double small[] = {1, 1, 2, -3, 4, 5};
    /* ranks: 1.5 1.5 3 4 5 6; W+ = 1.5+1.5+3+5+6 = 17; ties: one pair */
    double sm = 6, smean = sm * (sm + 1) / 4;
    double svar = sm * (sm + 1) * (2 * sm + 1) / 24 - (8.0 - 2) / 48;
    double sz = (fabs(17 - smean) - 0.5) / sqrt(svar);
    ck_assert_double_eq_tol(stats_wilcoxon_p(small, 6, 1e-9, &w), erfc(sz / sqrt(2)), 1e-14);
    ck_assert_double_eq(w, 17);
}
END_TEST

/* ---- normal --------------------------------------------------------------- */

START_TEST(test_normal_quantile_and_tail_match_known_constants)
{
    ck_assert_double_eq_tol(stats_normal_quantile(0.975), 1.959963984540054, 1e-13);
    ck_assert_double_eq_tol(stats_normal_quantile(0.025), -1.959963984540054, 1e-13);
    ck_assert_double_eq_tol(stats_normal_quantile(0.95), 1.6448536269514722, 1e-13);
    ck_assert_double_eq_tol(stats_normal_quantile(0.995), 2.5758293035489004, 1e-13);
    ck_assert_double_eq_tol(stats_normal_quantile(0.8), 0.8416212335729143, 1e-13);
    ck_assert_double_eq_tol(stats_normal_quantile(0.001), -3.090232306167813, 1e-12);
    ck_assert_double_eq_tol(stats_normal_quantile(1e-10), -6.361340902404056, 1e-11);
    ck_assert_double_eq_tol(stats_normal_quantile(0.5), 0, 1e-15);
    ck_assert(isinf(stats_normal_quantile(0)) && stats_normal_quantile(0) < 0);
    ck_assert(isinf(stats_normal_quantile(1)) && stats_normal_quantile(1) > 0);
    ck_assert(isnan(stats_normal_quantile(1.5)) && isnan(stats_normal_quantile(NAN)));
    ck_assert_double_eq_tol(stats_normal_p2(1.959963984540054), 0.05, 1e-15);
    ck_assert_double_eq_tol(stats_normal_p2(-1.959963984540054), 0.05, 1e-15);
    ck_assert_double_eq_tol(stats_normal_p2(1), 0.31731050786291415, 1e-15);
    ck_assert_double_eq_tol(stats_normal_p2(3), 0.0026997960632601913, 1e-17);
    ck_assert_double_eq(stats_normal_p2(0), 1);
    /* the quantile inverts the tail across the range */
    for (double p = 1e-6; p < 0.5; p *= 1.7) {
        double z = stats_normal_quantile(p);
        ck_assert_double_eq_tol(stats_normal_p2(z) / 2, p, 1e-13 * p);
    }
}
END_TEST

/* ---- pass^k --------------------------------------------------------------- */

START_TEST(test_pass_hat_k_matches_hand_computed_values)
{
    int passes[] = {3, 2, 0, 1};
    /* k 1: mean of c/3 = (1 + 2/3 + 0 + 1/3) / 4 */
    ck_assert_double_eq_tol(stats_pass_hat_k(passes, 4, 3, 1), 0.5, 1e-15);
    /* k 2: C(c,2)/C(3,2) = 1, 1/3, 0, 0 */
    ck_assert_double_eq_tol(stats_pass_hat_k(passes, 4, 3, 2), 1.0 / 3, 1e-15);
    /* k 3: only the case that passed every run */
    ck_assert_double_eq_tol(stats_pass_hat_k(passes, 4, 3, 3), 0.25, 1e-15);
    int five[] = {5, 4, 3};
    /* k 2 of 5: 1, C(4,2)/C(5,2) = 6/10, C(3,2)/10 = 3/10 */
    ck_assert_double_eq_tol(stats_pass_hat_k(five, 3, 5, 2), (1 + 0.6 + 0.3) / 3, 1e-15);
    ck_assert(isnan(stats_pass_hat_k(passes, 4, 3, 0)));
    ck_assert(isnan(stats_pass_hat_k(passes, 4, 3, 4)));
    ck_assert(isnan(stats_pass_hat_k(passes, 0, 3, 1)));
    int bad[] = {4};
    ck_assert(isnan(stats_pass_hat_k(bad, 1, 3, 1)));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_seed_fills_the_state_with_splitmix64);
    tcase_add_test(tc, test_unit_below_and_normal_have_the_right_distributions);
    tcase_add_test(tc, test_bootstrap_of_a_large_normal_sample_matches_the_normal_interval);
    tcase_add_test(tc, test_bootstrap_is_deterministic_per_seed);
    tcase_add_test(tc, test_bootstrap_edge_cases);
    tcase_add_test(tc, test_sign_test_matches_binomial_tails);
    tcase_add_test(tc, test_paired_counts_wins_ties_losses_and_ignores_ties_in_the_sign_test);
    tcase_add_test(tc, test_wilcoxon_exact_matches_enumeration);
    tcase_add_test(tc, test_wilcoxon_exact_on_mixed_signs_and_at_thirty_values);
    tcase_add_test(tc, test_wilcoxon_normal_approximation_with_ties);
    tcase_add_test(tc, test_normal_quantile_and_tail_match_known_constants);
    tcase_add_test(tc, test_pass_hat_k_matches_hand_computed_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
