/* core/rag_sort.h -- A stable sort of (key, index) pairs by an unsigned
** 64-bit key, and the maps that turn ids and scores into such keys.
** Why not qsort: the query path sorts a few lists of 100-200 entries per
** request (candidates by id, fused scores), and glibc's qsort, a merge
** sort calling its compare through a pointer, was 3-4% of a hybrid
** retrieve's CPU. Stability carries the ties: entries with equal keys
** keep their input order, so "by id, then list, then position" is one
** sort by id over input already in list and position order.
** Ownership: the caller owns both arrays.
** Threads:   reentrant. */
#ifndef RAG_SORT_H
#define RAG_SORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rag_keyed {
  uint64_t key;
  uint32_t idx; /* the caller's: usually the entry's input position */
} rag_keyed;

/* Sorts v[0..n) by key ascending, stably; tmp holds n entries of scratch.
** n must be below 2^32, as idx is (the counts are 32-bit). */
void rag_sort_keyed(rag_keyed *v, size_t n, rag_keyed *tmp);

/* Keys in the order of their argument: signed ids ascending, and doubles
** descending (the best score first; NaN after every number, -0.0 = 0.0). */
uint64_t rag_sort_key_i64(int64_t x);
uint64_t rag_sort_key_desc(double x);

#endif
