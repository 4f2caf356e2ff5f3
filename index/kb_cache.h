/* index/kb_cache.h -- The embedding cache of a KB: one vector per
** (embedding model id, sha256 hex of the exact text embedded), in the
** emb_cache table (schema v2, see kb_schema.c), so re-ingesting unchanged
** text calls no remote provider. Rows outlive the chunks they were made
** for; kb_cache_prune() drops those unused for a while.
** used_at is Unix seconds; a hit bumps it at most once per
** KB_CACHE_TOUCH_SECS so that lookups rarely write.
** Vectors are float32 BLOBs of dim floats in host order, as kb.c stores
** embeddings.
** Ownership: vectors are copied into caller arrays; nothing to free.
** Errors:    rag_status + rag_err with SQLite's text; RAG_UNSUPPORTED on a
**            KB whose schema predates the cache.
** Threads:   as kb.h: one thread at a time per kb handle. */
#ifndef KB_CACHE_H
#define KB_CACHE_H

#include "index/kb.h"

#define KB_CACHE_TOUCH_SECS 3600

/* Looks up n keys sha[0..n) (64-hex strings) for model. For each key found
** with this dim, copies dim floats into vecs + i*dim and sets found[i] to
** 1 (else 0; a row of another dim is a miss). *nfound (may be NULL) counts
** the hits. now: Unix seconds for the used_at bump (0: time(NULL)); a
** read-only handle does not bump. */
rag_status kb_cache_get(kb *k, const char *model, int dim,
                        const char *const *sha, size_t n, int64_t now,
                        float *vecs, unsigned char *found, size_t *nfound,
                        rag_err *err);

/* Stores n vectors (vecs: n*dim floats) under (model, sha[i]), replacing
** existing rows, in one transaction (or inside the caller's open one).
** now as for get. */
rag_status kb_cache_put(kb *k, const char *model, int dim,
                        const char *const *sha, size_t n, const float *vecs,
                        int64_t now, rag_err *err);

/* Deletes rows whose used_at is before older_than (Unix seconds); *removed
** (may be NULL) gets the count. */
rag_status kb_cache_prune(kb *k, int64_t older_than, int64_t *removed,
                          rag_err *err);

/* Rows cached for model (all models when model is NULL). */
rag_status kb_cache_count(kb *k, const char *model, int64_t *n, rag_err *err);

#endif
