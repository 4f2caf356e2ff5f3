/* core/rag_tokcount.h -- Token counters: how many LLM tokens a span costs.
**
** A counter is a small vtable so that the chunker and prompt assembly do
** not care whether the count is exact (a BPE encoder for cl100k_base or
** o200k_base, added later behind this same struct) or the built-in
** estimate. Counts are of raw UTF-8 spans; invalid bytes are counted, never
** rejected.
**
** The built-in estimate (rag_tokcount_estimate(), name "estimate") tracks
** cl100k_base on English, code and CJK text, erring slightly high so that
** budgets computed with it are safe:
**   - whitespace is free (BPE glues a leading space onto the next word);
**   - a word (run of ASCII letters, possibly mixed with non-CJK non-ASCII
**     letters such as "cafe" with an accent) costs 1 token when it is at
**     most 6 ASCII letters long, else ceil(letters / 4), plus
**     ceil(non-ASCII bytes / 2) for its non-ASCII part;
**   - digits go in groups of up to 3 (cl100k splits numbers that way);
**   - every ASCII punctuation, symbol or control character is 1 token;
**   - every CJK ideograph, kana, Hangul syllable or CJK/full-width
**     punctuation mark is 1 token;
**   - any other non-ASCII code point standing alone (emoji, symbols) costs
**     ceil(bytes / 2); each invalid byte costs 1.
** The estimate is additive across whitespace: count(a + " " + b) ==
** count(a) + count(b). The chunker relies on that only for speed; it
** re-counts every assembled chunk, so a non-additive counter stays correct.
**
** Ownership: counters are borrowed; rag_tokcount_estimate() returns a
**            static object that must not be freed.
** Errors:    counting cannot fail.
** Threads:   a counter's methods must be safe to call from many threads at
**            once (the estimate is pure). */
#ifndef RAG_TOKCOUNT_H
#define RAG_TOKCOUNT_H

#include "core/rag.h"

typedef struct rag_tokcount rag_tokcount;
struct rag_tokcount {
  int version;      /* 1; add methods at the end, then bump */
  const char *name; /* "estimate", "cl100k_base", ...; unique */
  /* Required. Tokens in text[0..n) (not NUL-terminated). */
  size_t (*count)(const rag_tokcount *tc, const char *text, size_t n);
  /* Can be NULL. Longest prefix of text[0..n) costing at most max_tokens:
  ** returns its end offset (a code point boundary, preferably the end of a
  ** word) and sets *ntok to its cost. May return 0 when even the first
  ** unit costs more than max_tokens. NULL means rag_tokcount_prefix()
  ** binary-searches with count(). */
  size_t (*prefix)(const rag_tokcount *tc, const char *text, size_t n,
                   size_t max_tokens, size_t *ntok);
  void *ctx; /* counter state (rank table, ...); NULL for the estimate */
};

/* The built-in estimator described above; static, never NULL. */
const rag_tokcount *rag_tokcount_estimate(void);

/* tc->count(tc, text, n); a NULL tc means the estimate. */
size_t rag_tokcount_count(const rag_tokcount *tc, const char *text, size_t n);

/* Longest prefix of text[0..n) costing at most max_tokens, as described for
** the prefix method; falls back to a binary search over code point
** boundaries (assuming count grows with length) when tc->prefix is NULL.
** *ntok may be NULL. A NULL tc means the estimate. */
size_t rag_tokcount_prefix(const rag_tokcount *tc, const char *text, size_t n,
                           size_t max_tokens, size_t *ntok);

#endif
