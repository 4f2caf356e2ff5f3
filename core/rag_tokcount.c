/* core/rag_tokcount.c -- The built-in token estimate and the generic
** prefix search. The rules are documented in rag_tokcount.h; this file
** explains how they are applied.
**
** The estimate walks the text once, classifying each code point. Words,
** digit runs and runs of "other" non-ASCII letters accumulate in a small
** state and are priced when the run ends, so the cost of a span is the sum
** of the costs of its runs. The prefix search uses the same walk and stops
** before the run that would exceed the budget; a single run longer than
** the budget is cut at a code point, priced by its own rules. */
#include "core/rag_tokcount.h"

#include "core/rag_utf8.h"

enum { C_SPACE, C_ALPHA, C_DIGIT, C_PUNCT, C_CJK, C_OTHER, C_BAD };

/* CJK ideographs, kana, Hangul and CJK / full-width punctuation: about one
** cl100k token each (often more for rare ideographs, but frequent ones
** dominate real text). */
static int is_cjk(uint32_t c) {
  return (c >= 0x2E80 && c <= 0x2FDF) || (c >= 0x3000 && c <= 0x30FF) ||
         (c >= 0x3100 && c <= 0x31FF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
         (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x20000 && c <= 0x3FFFF);
}

/* Non-ASCII letters that BPE keeps inside words (Latin-1 supplement and
** extended Latin, Greek, Cyrillic, ...), as opposed to symbols/emoji. */
static int is_letterish(uint32_t c) {
  return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
         (c >= 0x370 && c <= 0x52F) || (c >= 0x530 && c <= 0x1FFF);
}

static int classify(const unsigned char *s, size_t n, size_t *len) {
  unsigned char b = s[0];
  *len = 1;
  if (b < 0x80) {
    if (b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' ||
        b == '\v')
      return C_SPACE;
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'))
      return C_ALPHA;
    if (b >= '0' && b <= '9')
      return C_DIGIT;
    return C_PUNCT; /* punctuation, symbols, controls, NUL */
  }
  uint32_t cp;
  size_t l = rag_utf8_decode((const char *)s, n, &cp);
  if (!l)
    return C_BAD;
  *len = l;
  if (cp == 0xA0 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200B))
    return C_SPACE;
  if (is_cjk(cp))
    return C_CJK;
  return is_letterish(cp) ? C_ALPHA : C_OTHER;
}

/* A run of one class being accumulated. ascii/other are byte counts. */
typedef struct run {
  int cls;
  size_t ascii, other;
} run;

static size_t ceil_div(size_t a, size_t b) {
  return (a + b - 1) / b;
}

static size_t run_cost(const run *r) {
  switch (r->cls) {
  case C_ALPHA: {
    size_t t = 0;
    if (r->ascii)
      t += r->ascii <= 6 ? 1 : ceil_div(r->ascii, 4);
    return t + ceil_div(r->other, 2);
  }
  case C_DIGIT:
    return ceil_div(r->ascii, 3);
  case C_OTHER:
    return ceil_div(r->other, 2);
  default:
    return 0;
  }
}

/* Shared walk. Stops before the first piece that would take the total past
** max_tokens and returns the offset reached; *ntok gets the cost. With
** max_tokens == SIZE_MAX it simply counts. */
static size_t walk(const char *text, size_t n, size_t max_tokens,
                   size_t *ntok) {
  const unsigned char *s = (const unsigned char *)text;
  size_t total = 0, i = 0, run_start = 0;
  run r = {C_SPACE, 0, 0};
  while (i < n) {
    size_t len;
    int cls = classify(s + i, n - i, &len);
    int joins =
        (cls == C_ALPHA || cls == C_DIGIT || cls == C_OTHER) && cls == r.cls;
    if (!joins) {
      /* The current run is complete: it already fitted (see below). */
      total += run_cost(&r);
      r.cls = cls;
      r.ascii = r.other = 0;
      run_start = i;
      if (cls == C_PUNCT || cls == C_CJK || cls == C_BAD) {
        if (total + 1 > max_tokens)
          break;
        total++;
        r.cls = C_SPACE; /* priced already; acts as a separator */
        i += len;
        continue;
      }
    }
    run next = r;
    if (s[i] < 0x80)
      next.ascii++;
    else
      next.other += len;
    if (total + run_cost(&next) > max_tokens) {
      /* A run that does not fit: cut before it, unless nothing costly
      ** precedes it, in which case cut inside it at this code point so
      ** that callers always make progress. */
      if (total > 0)
        i = run_start;
      else
        total += run_cost(&r);
      r.cls = C_SPACE;
      r.ascii = r.other = 0;
      break;
    }
    r = next;
    i += len;
  }
  total += run_cost(&r);
  /* A cut ends at the last priced byte, not after the spaces before the
  ** unit that did not fit. */
  if (i < n)
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' ||
                     s[i - 1] == '\r'))
      i--;
  if (ntok)
    *ntok = total;
  return i;
}

static size_t est_count(const rag_tokcount *tc, const char *text, size_t n) {
  (void)tc;
  size_t t;
  walk(text, n, SIZE_MAX, &t);
  return t;
}

static size_t est_prefix(const rag_tokcount *tc, const char *text, size_t n,
                         size_t max_tokens, size_t *ntok) {
  (void)tc;
  return walk(text, n, max_tokens, ntok);
}

static const rag_tokcount estimate = {1, "estimate", est_count, est_prefix,
                                      NULL};

const rag_tokcount *rag_tokcount_estimate(void) {
  return &estimate;
}

size_t rag_tokcount_count(const rag_tokcount *tc, const char *text, size_t n) {
  if (!tc)
    tc = &estimate;
  return tc->count(tc, text, n);
}

size_t rag_tokcount_prefix(const rag_tokcount *tc, const char *text, size_t n,
                           size_t max_tokens, size_t *ntok) {
  if (!tc)
    tc = &estimate;
  if (tc->prefix)
    return tc->prefix(tc, text, n, max_tokens, ntok);
  /* Binary search for the largest code point boundary whose prefix fits.
  ** O(log n) counts of up to n bytes each. */
  size_t lo = 0, hi = n, best = 0, besttok = 0;
  size_t all = tc->count(tc, text, n);
  if (all <= max_tokens) {
    if (ntok)
      *ntok = all;
    return n;
  }
  while (lo < hi) {
    size_t mid = rag_utf8_floor(text, n, lo + (hi - lo + 1) / 2);
    if (mid <= lo) {
      /* No boundary strictly inside (lo, hi]: step to the next one. */
      size_t step = rag_utf8_decode(text + lo, n - lo, NULL);
      mid = lo + (step ? step : 1);
      if (mid > hi)
        break;
    }
    size_t t = tc->count(tc, text, mid);
    if (t <= max_tokens) {
      best = mid;
      besttok = t;
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  if (ntok)
    *ntok = besttok;
  return best;
}
