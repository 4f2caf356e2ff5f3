/* index/kb_lex.h -- An in-memory inverted index of a KB's chunks_fts, kept
** beside FTS5 so the full-text top k of a long-lived process (ragd serve,
** ragd eval) costs microseconds instead of iterating FTS5's posting lists.
**
** What it holds: for every chunk, the porter/unicode61 tokens of its text
** and heading exactly as FTS5 tokenized them (same tokenizer, same
** arguments, same per-row token counts), as posting lists of (chunk,
** weighted frequency) split into blocks of KB_LEX_BLOCK postings, each
** block with its largest frequency and smallest chunk length: the
** per-block score bounds of block-max pruning (Ding & Suel 2011; Lucene's
** impacts). The BM25 statistics (row count, total tokens) are FTS5's own
** averages record, read in the same snapshot as the chunks, so kb_lex_topk
** returns exactly kb_fts_search's hits and scores, bit for bit.
**
** Segments (as Lucene): an index is a list of immutable segments, each
** with a deletion bitmap. kb_lex_update makes a new index from an old one
** by diffing the KB's chunk ids and content fingerprints (sha256 of the
** text, the heading) against it: new or changed chunks are tokenized into
** one new segment, removed or changed ones are marked deleted in a copy of
** their segment's bitmap; unchanged segments are shared, not copied. Small
** segments are merged (the newest two while the newer holds at least half
** as many live chunks as the older), and a segment more than a quarter
** deleted is compacted, so a KB has O(log chunks) segments.
**
** Ownership: kb_lex_update returns an index with one reference;
**            kb_lex_retain / kb_lex_release count them. prev is only read.
** Errors:    rag_status + rag_err. RAG_CORRUPT when the chunks disagree
**            with FTS5's statistics (kb_check would report it).
** Threads:   an index never changes once made: kb_lex_topk and
**            kb_lex_info may run on any number of threads at once;
**            retain/release are atomic. kb_lex_update uses k (one thread
**            at a time per kb handle, see kb.h). */
#ifndef KB_LEX_H
#define KB_LEX_H

#include "index/kb.h"

#define KB_LEX_BLOCK 64 /* postings per block */

typedef struct kb_lex kb_lex;

/* Makes *out, the index of k's last committed state, reusing prev's
** segments (prev NULL: from scratch; prev of another KB: wrong results).
** When the KB's generation equals prev's, *out is prev retained. */
rag_status kb_lex_update(kb *k, const kb_lex *prev, kb_lex **out, rag_err *err);
kb_lex *kb_lex_retain(kb_lex *x); /* returns x; NULL is a no-op */
void kb_lex_release(kb_lex *x);   /* frees on the last; NULL is a no-op */

/* 0 when the environment sets RAGD_LEX=0: callers that would make an
** index (ragd serve, eval, compare; config index.lexical_memory, on by
** default) then leave full-text to FTS5, for same-run comparisons. 1
** otherwise. */
int kb_lex_wanted(void);

typedef struct kb_lex_info {
  int64_t gen;      /* the KB generation it was made from */
  int64_t chunks;   /* live chunks (= FTS5's row count) */
  int64_t tokens;   /* their tokens, all columns */
  int64_t postings; /* stored postings, deleted chunks' included */
  int64_t deleted;  /* chunks marked deleted, not yet compacted away */
  int64_t escaped;  /* postings past the pair codes (kb_lex_int.h), whose
                    ** bm25 frequency each search computes */
  int64_t bytes;    /* memory held by the segments */
  int segments;
} kb_lex_info;

void kb_lex_info_get(const kb_lex *x, kb_lex_info *out);

/* Top k_max chunks for the OR of ntok tokens (tok[i], toklen[i] bytes;
** query tokens as FTS5's tokenizer returns them, in the query's phrase
** order, repeats allowed), ranked by chunks_fts's bm25(1.0, 0.5): the
** same scores as kb_fts_search (-bm25, > 0), best first, ties broken by
** the smaller chunk id. *hits is malloc'd (caller frees), *n may be 0.
** *visited (may be NULL) gets the number of chunks offered to the k-best
** heap, those scoring at least the k-th score so far (benchmarks). */
rag_status kb_lex_topk(const kb_lex *x, const char *const *tok,
                       const int *toklen, int ntok, size_t k_max,
                       kb_fts_hit **hits, size_t *n, int64_t *visited,
                       rag_err *err);

/* kb_fts_search answered from lex for its word part when lex is non-NULL
** and every query word is one FTS5 token (else through FTS5, as
** kb_fts_search). lex must be an index of k's KB, made from the state k
** reads or an earlier one; hits of chunks deleted since are still
** returned (callers fetch rows and drop the missing, as for FAISS). The
** KB_FTS_EXHAUSTIVE strategy ignores lex. Declared here, defined in
** kb_fts.c. */
rag_status kb_fts_search_lex(kb *k, const kb_lex *lex, const char *user_text,
                             size_t k_max, rag_arena *a, kb_fts_hit **hits,
                             size_t *n, rag_err *err);

#endif
