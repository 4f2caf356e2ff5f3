/* index/kb_lex_int.h -- The structs of index/kb_lex.h, shared by
** kb_lex_seg.c (segments: build, merge), kb_lex.c (indexes, update) and
** kb_lex_search.c (the top k). Not part of the contract.
** Ownership: a kb_lex owns its parts' bitmaps and live counts and one
**            reference on each segment; segments are shared between the
**            indexes made from one another.
** Threads:   everything here is immutable once its kb_lex is returned. */
#ifndef KB_LEX_INT_H
#define KB_LEX_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "index/kb_lex.h"

/* bm25's constants, as fts5_aux.c's (and kb_bm25.c's). */
#define LEX_K1 1.2
#define LEX_B 0.75
#define LEX_NONE UINT32_MAX /* no chunk: a list's end, an unused slot */

/* One block of KB_LEX_BLOCK postings of a term (the last may be short):
** what bounds the score of any chunk in it. bm25's contribution of a term
** is idf (k1 + 1) h with h = f / (f + k1 (1 - b + b D / avgdl)); the block
** keeps the largest h of its chunks computed with avgdl = the segment's
** aref. For another avgdl A, h grows at most by A / aref (only the D / A
** part of the denominator moves), so max(1, A / aref) x maxh bounds it
** whatever the KB's average is when the query runs. */
typedef struct lex_blk {
  uint32_t last; /* its last local chunk number */
  float maxh;    /* largest f / (f + k1 (1 - b + b D / aref)), rounded up */
} lex_blk;

/* bm25's normalized frequency of a posting, (f (k1 + 1)) / (f + kd) with
** kd = k1 (1 - b + b D / avgdl), as fts5_aux.c evaluates it, so that a
** phrase's contribution idf x lex_xs is FTS5's bit for bit. f2 is the
** doubled frequency (see lex_seg), D the chunk's tokens. */
static inline double lex_xs(uint32_t f2, uint32_t D, double avgdl) {
  double f = f2 * 0.5;
  double kd = LEX_K1 * (1 - LEX_B + LEX_B * (double)D / avgdl);
  return (f * (LEX_K1 + 1.0)) / (f + kd);
}

/* A posting's normalized frequency depends only on its (f2, D) pair, and
** a segment has few distinct pairs (3,761 among the 8.7M postings of
** Cranfield x72): each posting keeps a 2-byte code of its pair, and each
** index one table of the pairs' values for its avgdl. The search then
** streams 6 bytes a posting instead of 12 (a chunk number and a double),
** and a new avgdl costs a table, not a pass over the postings. The most
** frequent pairs get codes; past LEX_MAX_CODES, a posting's code is
** LEX_ESC and the search computes its value from f2 and D. */
#ifndef LEX_MAX_CODES
#define LEX_MAX_CODES 0xffff /* codes 0 .. 0xfffe; tests build it smaller */
#endif
#define LEX_ESC 0xffff

typedef struct lex_pair {
  uint32_t f2, len;
} lex_pair;

/* An immutable segment: chunks numbered 0..ndoc-1 in chunk id order, and
** a term dictionary sorted by bytes (memcmp, then length). A frequency is
** kept doubled (f2 = 2 x text occurrences + heading occurrences) so that
** bm25's weighted frequency f2 * 0.5 is an integer count, exact. */
typedef struct lex_seg {
  atomic_int refs;
  uint32_t ndoc;
  int64_t *id;   /* chunk ids, ascending */
  uint32_t *len; /* tokens, all columns (FTS5's docsize) */
  uint64_t *fp;  /* content fingerprint: sha256 of the text, heading */
  uint32_t nterm;
  char *pool;     /* term bytes */
  uint64_t *toff; /* nterm + 1: term t is pool[toff[t] .. toff[t + 1]) */
  uint64_t *poff; /* nterm + 1: its postings [poff[t], poff[t + 1]) */
  uint32_t *pdoc; /* local chunk numbers, ascending per term */
  uint32_t *pf2;
  uint16_t *pcode; /* per posting, its pair's code or LEX_ESC */
  lex_pair *pair;  /* npair: the pair of each code */
  uint32_t npair;
  uint64_t nesc;  /* postings coded LEX_ESC */
  uint64_t *boff; /* nterm + 1: its blocks [boff[t], boff[t + 1]) */
  lex_blk *blk;
  /* Terms by hash (open addressing, linear probes): slot = term + 1, 0
  ** empty; hmask + 1 slots, at least twice nterm. lex_seg_find's binary
  ** search over the dictionary missed the cache at every probe. */
  uint32_t *hslot;
  uint64_t hmask;
  double aref; /* the chunk length the block bounds were made for */
  size_t bytes;
} lex_seg;

/* A segment as one index sees it. */
typedef struct lex_part {
  lex_seg *seg;
  uint64_t *del; /* deleted local chunks (bitmap), NULL when none */
  uint32_t ndel;
  uint32_t *ldf; /* per term, postings of live chunks; NULL when ndel 0 */
  double *xtab;  /* per code of seg, lex_xs of its pair for this index's
                 ** avgdl (avgdl moves with every change) */
} lex_part;

struct kb_lex {
  atomic_int refs;
  int n;
  lex_part *p;
  int64_t gen, nrow, ntok; /* KB generation; FTS5's averages record */
  double avgdl; /* ntok / nrow (1 when empty): what xtab and the search use */
};

static inline int lex_deleted(const lex_part *p, uint32_t d) {
  return p->del && (p->del[d >> 6] >> (d & 63) & 1);
}

/* Term t of s whose bytes equal tok[0..n), or -1. */
int64_t lex_seg_find(const lex_seg *s, const char *tok, size_t n);

/* A chunk to tokenize into a new segment: its id and content fingerprint
** (sha256 of the text, heading). */
typedef struct lex_todo {
  int64_t id;
  uint64_t fp;
} lex_todo;

/* A new segment of the chunks add[0..n) (ascending ids), their text and
** heading read through k inside the caller's read transaction. *out NULL
** when n is 0. */
rag_status lex_seg_build(kb *k, const lex_todo *add, size_t n, lex_seg **out,
                         rag_err *err);
/* One segment of the live chunks of in[0..m), by chunk id. */
rag_status lex_seg_merge(const lex_part *in, int m, lex_seg **out,
                         rag_err *err);
void lex_seg_release(lex_seg *s); /* drops one reference; NULL ok */

/* Grows *p (elements of size bytes) so that index n fits; -1 out of
** memory (*p unchanged). */
int lex_grow(void **p, size_t n, size_t *cap, size_t size);
rag_status lex_nomem(rag_err *err); /* "kb: lexical index: out of memory" */

/* kb_fts_search's word part from x: the quoted FTS5 strings terms[0..
** nterms) tokenized by k's tokenizer, then kb_lex_topk. *used = 0 (and
** nothing searched) when a string is not exactly one token: FTS5 reads it
** as a phrase, which needs positions this index does not keep. */
rag_status lex_topk_words(kb *k, const kb_lex *x, const char *const *terms,
                          int nterms, size_t k_max, kb_fts_hit **hits,
                          size_t *n, int *used, rag_err *err);

#endif
