/* core/rag_sort.c -- Stable merge sort of rag_keyed (see rag_sort.h). */
#include "core/rag_sort.h"

#include <math.h>
#include <string.h>

/* Runs this short are sorted by insertion first: fewer passes, and the
** compares of a small run stay in registers. */
#define RUN 8

static void insertion(rag_keyed *v, size_t n) {
  for (size_t i = 1; i < n; i++) {
    rag_keyed x = v[i];
    size_t j = i;
    for (; j > 0 && v[j - 1].key > x.key; j--)
      v[j] = v[j - 1];
    v[j] = x;
  }
}

/* Merges a[0..na) and b[0..nb) into out; on equal keys a's entry first. */
static void merge(const rag_keyed *a, size_t na, const rag_keyed *b, size_t nb,
                  rag_keyed *out) {
  size_t i = 0, j = 0, o = 0;
  while (i < na && j < nb)
    out[o++] = b[j].key < a[i].key ? b[j++] : a[i++];
  while (i < na)
    out[o++] = a[i++];
  while (j < nb)
    out[o++] = b[j++];
}

void rag_sort_keyed(rag_keyed *v, size_t n, rag_keyed *tmp) {
  if (n < 2)
    return;
  for (size_t s = 0; s < n; s += RUN)
    insertion(v + s, n - s < RUN ? n - s : RUN);
  rag_keyed *src = v, *dst = tmp;
  for (size_t w = RUN; w < n; w *= 2) {
    for (size_t s = 0; s < n; s += 2 * w) {
      size_t na = n - s < w ? n - s : w;
      size_t nb = n - s - na < w ? n - s - na : w;
      merge(src + s, na, src + s + na, nb, dst + s);
    }
    rag_keyed *t = src;
    src = dst;
    dst = t;
  }
  if (src != v)
    memcpy(v, src, n * sizeof(*v));
}

uint64_t rag_sort_key_i64(int64_t x) {
  return (uint64_t)x ^ ((uint64_t)1 << 63);
}

uint64_t rag_sort_key_desc(double x) {
  if (isnan(x))
    return UINT64_MAX;
  if (x == 0)
    x = 0; /* -0.0 and 0.0 compare equal: one key */
  uint64_t b;
  memcpy(&b, &x, sizeof(b));
  /* IEEE-754 bits in ascending order: flip every bit of a negative, only
  ** the sign of a positive; then invert for descending. The largest key
  ** (all ones) would be -NaN's; no number maps to it. */
  uint64_t asc = b >> 63 ? ~b : b ^ ((uint64_t)1 << 63);
  return ~asc;
}
