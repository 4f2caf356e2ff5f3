/* core/rag_termstats.h -- Corpus statistics: document frequency per term
** and per word bigram, document count and average length, for IDF weights
** (hash embedder) and BM25 features (local reranker).
** A "document" here is one chunk. Terms come from rag_tok_each() with
** RAG_TOK_STEM. Keys are rag_hash64 of the term (bigram: "a\x1fb"), so the
** table is compact and its serialized form is stable across versions.
** Ownership: rag_termstats_new/rag_termstats_free; rag_termstats_save
**            appends to a caller-owned rag_buf.
** Threads:   readers (df, idf, ndocs) may run concurrently; writers (add,
**            load) need exclusive access. */
#ifndef RAG_TERMSTATS_H
#define RAG_TERMSTATS_H

#include "core/rag.h"
#include "core/rag_buf.h"

typedef struct rag_termstats rag_termstats;

rag_termstats *rag_termstats_new(void); /* NULL on allocation failure */
void rag_termstats_free(rag_termstats *ts); /* NULL is a no-op */

/* Counts text as one document (sign = +1) or removes it (sign = -1): each
** distinct term and bigram's df changes by sign, ndocs by sign, and the total
** length by sign * number of terms. */
rag_status rag_termstats_add(rag_termstats *ts, const char *text, size_t n,
                             int sign);

/* Key of a term / of a bigram (a, b). */
uint64_t rag_termstats_key(const char *term, size_t len);
uint64_t rag_termstats_bigram_key(const char *a, size_t alen, const char *b,
                                  size_t blen);

uint32_t rag_termstats_df(const rag_termstats *ts, uint64_t key);
int64_t rag_termstats_ndocs(const rag_termstats *ts);
double rag_termstats_avglen(const rag_termstats *ts); /* terms per doc */
/* BM25 IDF: ln(1 + (N - df + 0.5) / (df + 0.5)); for an empty corpus 1.0. */
double rag_termstats_idf(const rag_termstats *ts, uint64_t key);

/* Serializes to b (appended); a versioned, checksummed little-endian
** format. */
rag_status rag_termstats_save(const rag_termstats *ts, rag_buf *b);
/* Replaces the contents of ts from a blob; RAG_CORRUPT when the blob is
** malformed (ts is then empty). */
rag_status rag_termstats_load(rag_termstats *ts, const void *blob, size_t n,
                              rag_err *err);
void rag_termstats_clear(rag_termstats *ts);

#endif
