/* eval/eval_stats.h -- Paired significance tests over per-query metric
** values, as IR evaluation papers use them (Smucker, Allan & Carterette,
** "A comparison of statistical significance tests for IR evaluation",
** CIKM 2007): the paired randomization (permutation) test and the paired
** Student t-test, both two-sided, on the differences d_i = b_i - a_i.
**
** Randomization test: under H0 the sign of each d_i is arbitrary. The
** statistic is |mean(d)|; the p-value is the share of sign assignments
** whose |mean| reaches the observed one. With n <= EVAL_EXACT_MAX_N pairs
** every one of the 2^n assignments is enumerated (exact p); above that,
** `iterations` random assignments are drawn from a splitmix64 stream seeded
** with `seed` and p = (hits + 1) / (iterations + 1), the standard unbiased
** Monte Carlo estimate (it never returns 0). The observed assignment
** counts as a hit, so identical runs give p = 1. Comparisons use a
** relative tolerance of 1e-12 so that floating-point noise in sums of
** equal magnitudes does not decide a tie.
**
** t-test: t = mean(d) / (sd(d) / sqrt(n)) with sd the sample standard
** deviation (n - 1 divisor), df = n - 1, p = I_{df/(df+t^2)}(df/2, 1/2)
** (the regularized incomplete beta function, continued fraction as in
** Numerical Recipes 6.4). When sd = 0: p = 1 if mean(d) = 0 (t = 0), else
** p = 0 (t = +-infinity). n < 2: p = 1, t = 0.
**
** Ownership: nothing allocated except the randomization test's scratch.
** Errors:    pure functions; NaN inputs give NaN p-values.
** Threads:   reentrant. */
#ifndef EVAL_STATS_H
#define EVAL_STATS_H

#include <stddef.h>
#include <stdint.h>

#define EVAL_EXACT_MAX_N 16          /* 65,536 assignments: enumerate */
#define EVAL_PERM_ITERATIONS 10000   /* default random sign flips */
#define EVAL_PERM_SEED 0x5eed2024ULL /* default seed: reports reproduce */

/* Two-sided paired randomization test of b vs a (size n each). Returns p
** in (0, 1]; n == 0 gives 1. iterations == 0 means EVAL_PERM_ITERATIONS. */
double eval_paired_randomization(const double *a, const double *b, size_t n,
                                 unsigned long iterations, uint64_t seed);

/* Two-sided paired t-test of b vs a (size n each). Returns p in [0, 1];
** *t (may be NULL) gets the statistic (+-INFINITY when sd = 0 and the mean
** is not 0), *df (may be NULL) n - 1. */
double eval_paired_ttest(const double *a, const double *b, size_t n, double *t,
                         double *df);

/* Two-sided tail of Student's t with df > 0 degrees of freedom:
** P(|T| >= |t|). */
double eval_student_t_p2(double t, double df);

/* Regularized incomplete beta I_x(a, b), x in [0, 1], a, b > 0. */
double eval_betai(double a, double b, double x);

#endif
