/* index/kb_emb.h -- Writing and dropping the stored embeddings of one
** model for chunks that already exist: what a provider that learns from
** the corpus ("lsa") needs when it retrains and re-embeds every chunk
** under a new model id. kb_doc_put stays the way documents come in.
** Vectors are float32 BLOBs in the layout kb.c stores (little-endian).
** Neither call bumps the KB generation: embeddings of another model are
** not derived data of the chunks the other models' indexes were built
** from, so their FAISS files stay valid.
** Ownership: nothing allocated for the caller.
** Errors:    rag_status + rag_err with SQLite's text.
** Threads:   as kb.h: one thread at a time per kb handle. */
#ifndef KB_EMB_H
#define KB_EMB_H

#include "index/kb.h"

/* Inserts or replaces the embeddings (model, ids[i]) -> vecs + i*dim for
** i < n in one transaction. Ids of chunks that no longer exist fail the
** transaction (RAG_BADARG, foreign key). */
rag_status kb_embeddings_put(kb *k, const char *model, int dim,
                             const int64_t *ids, const float *vecs, size_t n,
                             rag_err *err);

/* Deletes every stored embedding of model; *removed (may be NULL) gets the
** count. */
rag_status kb_embeddings_drop(kb *k, const char *model, int64_t *removed,
                              rag_err *err);

#endif
