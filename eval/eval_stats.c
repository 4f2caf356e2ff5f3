/* eval/eval_stats.c -- Paired randomization test and paired t-test.
** Layout: the t distribution (incomplete beta), then the two tests. */
#include "eval/eval_stats.h"

#include <math.h>
#include <stdlib.h>

/* ---- Student's t via the regularized incomplete beta ----------------- */

/* Continued fraction of I_x(a, b) by the modified Lentz method. */
static double betacf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (fabs(d) < tiny)
    d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 1000; m++) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (fabs(d) < tiny)
      d = tiny;
    c = 1 + aa / c;
    if (fabs(c) < tiny)
      c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (fabs(d) < tiny)
      d = tiny;
    c = 1 + aa / c;
    if (fabs(c) < tiny)
      c = tiny;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1) < eps)
      break;
  }
  return h;
}

double eval_betai(double a, double b, double x) {
  if (isnan(x) || isnan(a) || isnan(b))
    return NAN;
  if (x <= 0)
    return 0;
  if (x >= 1)
    return 1;
  double lbt =
      lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  double bt = exp(lbt);
  /* The fraction converges fast for x < (a + 1) / (a + b + 2); use the
  ** symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side. */
  if (x < (a + 1) / (a + b + 2))
    return bt * betacf(a, b, x) / a;
  return 1 - bt * betacf(b, a, 1 - x) / b;
}

double eval_student_t_p2(double t, double df) {
  if (isnan(t) || isnan(df) || df <= 0)
    return NAN;
  if (isinf(t))
    return 0;
  return eval_betai(df / 2, 0.5, df / (df + t * t));
}

/* ---- Paired tests ----------------------------------------------------- */

double eval_paired_ttest(const double *a, const double *b, size_t n, double *t,
                         double *df) {
  if (t)
    *t = 0;
  if (df)
    *df = n > 0 ? (double)n - 1 : 0;
  if (n < 2)
    return 1;
  double mean = 0;
  for (size_t i = 0; i < n; i++)
    mean += b[i] - a[i];
  mean /= (double)n;
  double ss = 0;
  for (size_t i = 0; i < n; i++) {
    double e = b[i] - a[i] - mean;
    ss += e * e;
  }
  double sd = sqrt(ss / ((double)n - 1));
  /* A spread far below the mean's rounding noise is no spread. */
  if (sd <= 1e-12 * fabs(mean) || sd == 0) {
    if (isnan(mean))
      return NAN;
    if (fabs(mean) < 1e-15) {
      return 1;
    }
    if (t)
      *t = mean > 0 ? INFINITY : -INFINITY;
    return 0;
  }
  double tv = mean / (sd / sqrt((double)n));
  if (t)
    *t = tv;
  return eval_student_t_p2(tv, (double)n - 1);
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double eval_paired_randomization(const double *a, const double *b, size_t n,
                                 unsigned long iterations, uint64_t seed) {
  if (n == 0)
    return 1;
  if (iterations == 0)
    iterations = EVAL_PERM_ITERATIONS;
  double *d = malloc(n * sizeof(*d));
  if (!d)
    return NAN;
  double sum = 0, mag = 0;
  for (size_t i = 0; i < n; i++) {
    d[i] = b[i] - a[i];
    sum += d[i];
    mag += fabs(d[i]);
  }
  double obs = fabs(sum);
  double tol = 1e-12 * (mag > 0 ? mag : 1);
  double p;
  if (isnan(sum)) {
    p = NAN;
  } else if (n <= EVAL_EXACT_MAX_N) {
    /* Exact: every sign assignment, the observed one included. */
    unsigned long total = 1UL << n, hits = 0;
    for (unsigned long m = 0; m < total; m++) {
      double s = 0;
      for (size_t i = 0; i < n; i++)
        s += (m >> i & 1) ? -d[i] : d[i];
      if (fabs(s) >= obs - tol)
        hits++;
    }
    p = (double)hits / (double)total;
  } else {
    uint64_t st = seed;
    unsigned long hits = 0;
    for (unsigned long it = 0; it < iterations; it++) {
      double s = 0;
      uint64_t bits = 0;
      for (size_t i = 0; i < n; i++) {
        if (i % 64 == 0)
          bits = splitmix64(&st);
        s += (bits & 1) ? -d[i] : d[i];
        bits >>= 1;
      }
      if (fabs(s) >= obs - tol)
        hits++;
    }
    p = ((double)hits + 1) / ((double)iterations + 1);
  }
  free(d);
  return p;
}
