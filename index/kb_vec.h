/* index/kb_vec.h -- The FAISS vector index of one embedding model in a KB,
** through the FAISS C API (the headers in faiss/c_api/).
** File: <kbdir>/vectors-<model>.faiss = a small header (magic, format
** version, KB generation, dimension, factory string, tombstones, checksum)
** followed by faiss_write_index's bytes; written to a temp file, fsync'd and
** renamed, so a reader sees the old or the new index, never half of one.
** kb_vec_open loads it when its generation equals the KB's; when the file
** is missing, stale or corrupt it rebuilds the index from the embeddings in
** SQLite and logs a line saying which.
** Vectors: inner product on L2-normalized vectors (kb_vec normalizes on add
** and on search), ids = chunk rowids. Index types that cannot remove in
** place (HNSW) get tombstones filtered at search time; once tombstones pass
** tombstone_ratio of the total the index is rebuilt from SQLite.
** Distances: flat inner-product storage (IDMap2,Flat; HNSW's) is swapped
** for index/faiss_simd.h's AVX2 one after every build or load, and single
** queries on HNSW go through faiss_simd_search. The environment variable
** RAGD_FAISS_SIMD=0 (read once per process) keeps FAISS's stock objects
** and search path instead. Files are the same either way.
** Ownership: kb_vec_open/kb_vec_close; the kb handle must outlive the kb_vec
**            and is used only inside kb_vec_open/kb_vec_rebuild.
** Threads:   searches may run concurrently; add/remove/save/rebuild are
**            serialized by an internal mutex and take the write side of a
**            pthread rwlock only while the index changes (a rebuild reads
**            SQLite and builds on the side, so searches continue). */
#ifndef KB_VEC_H
#define KB_VEC_H

#include "core/rag.h"
#include "index/kb.h"

typedef struct kb_vec kb_vec;

typedef struct kb_vec_opts {
  const char *factory;    /* index_factory string; "IDMap2,Flat" */
  int hnsw_ef_search;     /* 128 */
  int ivf_nprobe;         /* 16 */
  double tombstone_ratio; /* 0.2 */
} kb_vec_opts;

kb_vec_opts kb_vec_opts_default(void);

/* Opens the index of model (vectors of dim floats) for KB k, loading or
** rebuilding as described above. A factory differing from the file's
** forces a rebuild, and so do tombstones past the ratio. After a rebuild
** the index is saved at once (a failure to save is only logged), so the
** next open loads it. Factory strings: IVF types keep their own ids (an
** "IDMap2," prefix is dropped); other types are wrapped in IDMap2; types
** that need training are served by an exact Flat index until
** 39 * max(nlist, PQ centroids) vectors exist (see kb_vec_is_staging).
** Errors: RAG_BADARG for a bad factory/dim or stored embeddings of another
** dimension ("dimension mismatch"). */
rag_status kb_vec_open(kb *k, const char *model, int dim, const kb_vec_opts *o,
                       kb_vec **out, rag_err *err);
void kb_vec_close(kb_vec *v); /* NULL is a no-op; does not save */

/* Adds n vectors (n*dim floats) with ids. */
rag_status kb_vec_add(kb_vec *v, const int64_t *ids, const float *vecs,
                      size_t n, rag_err *err);
/* Removes ids (unknown ids are ignored). */
rag_status kb_vec_remove(kb_vec *v, const int64_t *ids, size_t n, rag_err *err);
/* Top k for one query vector q (dim floats). Writes up to k results, best
** first, to ids/scores (caller arrays of k); *n = number written. Scores are
** inner products in [-1, 1]. */
rag_status kb_vec_search(kb_vec *v, const float *q, size_t k, int64_t *ids,
                         float *scores, size_t *n, rag_err *err);
/* Writes the index atomically, recording generation gen. */
rag_status kb_vec_save(kb_vec *v, int64_t gen, rag_err *err);
/* Rebuilds from the embeddings stored in SQLite (uses k). */
rag_status kb_vec_rebuild(kb_vec *v, kb *k, rag_err *err);

int64_t kb_vec_count(kb_vec *v);  /* live vectors (minus tombstones) */
int64_t kb_vec_ntotal(kb_vec *v); /* FAISS ntotal (with tombstones) */
int kb_vec_dim(const kb_vec *v);
/* Path of the index file (owned by v). */
const char *kb_vec_path(const kb_vec *v);
/* 1 when the last open rebuilt the index (for logs and tests). */
int kb_vec_was_rebuilt(const kb_vec *v);
/* 1 when tombstones have passed tombstone_ratio of ntotal: the caller (who
** holds a kb handle) should call kb_vec_rebuild, then kb_vec_save.
** kb_vec_remove cannot rebuild by itself: it has no kb handle. */
int kb_vec_needs_rebuild(kb_vec *v);
/* 1 while a type that needs training (IVF, PQ) is still served by a Flat
** index because too few vectors exist to train it; the first add that
** reaches the threshold trains and swaps in the requested type. */
int kb_vec_is_staging(kb_vec *v);

#endif
