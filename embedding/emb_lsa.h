/* embedding/emb_lsa.h -- The built-in "lsa" embedder: latent semantic
** analysis learned from the KB's own chunks. No network, no model files:
** the learned projection lives in the KB (ingest/ing_kb.c stores the
** state blob in the meta table under "emb-state:<state_key>").
**
** Features: the hash embedder's terms (rag_tok, English stopwords dropped,
** Porter stems) and, with bigram > 0, adjacent stem pairs; each feature is
** its 64-bit key (rag_termstats_key / _bigram_key), so no hashing into a
** small space and no collisions to speak of. A text's vector x: for each
** vocabulary feature, (1 + ln tf) x idf (idf = ln(1 + N/df) of the
** training sample, frozen in the model), L2-normalized.
** Training (randomized truncated SVD, Halko-Martinsson-Tropp 2011): the
** vocabulary is every feature with df >= mindf in the sample (the vocab
** most frequent at most); A (n x V, rows x) is sketched with a Gaussian
** test matrix of k + 10 columns, `power` power iterations with
** re-orthonormalization, Q = orth(A Omega), B = Q^T A, and the eigen-
** decomposition of B B^T (Jacobi) gives A ~ U S V^T. The model keeps V
** (V x k) and S. Embedding: normalize(x V S^(sv-1)): sv=1 gives documents
** their U S coordinates, sv=0 the whitened U ones.
** Untrained (generation 0, before the KB has chunks): x with idf 1 times
** the first k Gaussian columns -- a random projection, so vectors exist and
** search works (hash-like quality) until the first training replaces them.
**
** Spec options (after "lsa:"):
**   dim=N       k, 2..1024 (default 256)
**   bigram=W    weight of bigram features (default 0.5; 0 = unigrams)
**   mindf=N     minimum document frequency of a vocabulary feature (2)
**   vocab=N     most vocabulary features (default 65536)
**   power=N     power iterations (default 2)
**   sample=N    most chunks trained on (default 50000)
**   retrain=F   retrain when the KB has F x the chunks trained on (2; 0 =
**               never after the first training)
**   sv=A        singular-value exponent, 0..1 (default EMB_LSA_SV)
** Model id: "lsa-v1-k256[-knobs]-g<generation>"; state key: the same
** without "-g<n>" (and without sv, which does not change training).
** Determinism: the same sample in the same order gives bit-identical
** state and vectors, whatever the thread count.
** State blob: little-endian host floats (the project's embeddings are host
** order too); magic "RLSA", format version EMB_LSA_FORMAT.
** Ownership: as every provider (emb_open/emb_close).
** Errors:    bad options: RAG_BADARG naming the option; a bad state blob:
**            RAG_CORRUPT; otherwise RAG_NOMEM.
** Threads:   embed() may run on many threads at once while nothing trains
**            or loads; train() and load_state() need exclusive access. */
#ifndef EMB_LSA_H
#define EMB_LSA_H

#include "embedding/emb.h"

#define EMB_LSA_FORMAT 1
#define EMB_LSA_SV 0.5 /* see docs/EMBEDDERS.md for the measurement */

/* The provider table entry (for emb_find). */
extern const emb_vtab emb_lsa_vtab;

#endif
