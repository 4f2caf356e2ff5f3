/* index/kb_vec_int.h -- Internals shared by kb_vec.c and kb_vec_file.c.
** Not part of the contract: everything here may change.
** Ownership, errors, threads: as index/kb_vec.h; each function below says
** which lock its caller must hold. */
#ifndef KB_VEC_INT_H
#define KB_VEC_INT_H

#include "index/kb_vec.h"

#include <faiss/c_api/Index_c.h>
#include <pthread.h>

#define STAGING_FACTORY "IDMap2,Flat"
/* k-means wants at least this many training points per centroid; below it
** FAISS warns and the clusters are poor (faiss::ClusteringParameters). */
#define MIN_POINTS_PER_CENTROID 39
#define MAX_DIM 65536
#define MAX_FACTORY 256 /* bytes of a factory string, file format limit */

/* Lock order: wmu, then rw. Writers hold wmu throughout; rw is taken for
** writing only while idx or the tombstones change. */
struct kb_vec {
  pthread_rwlock_t rw;
  pthread_mutex_t wmu;
  char *model;
  char *path;
  char *factory; /* as requested; recorded in the file */
  char *build;   /* what we hand index_factory (IDMap added/removed) */
  int dim;
  int ef_search, nprobe;
  double tomb_ratio;
  int64_t min_train; /* vectors needed to train build; 0 = needs none */
  FaissIndex *idx;
  int staging;
  int tomb_mode;
  uint8_t *tomb; /* bitmap over positions; tomb_cap bits */
  size_t tomb_cap;
  int64_t ntomb;
  int rebuilt;
};

/* kb_vec.c */
rag_status kb_vec_faiss_fail(rag_err *err, const char *what);
const char *kb_vec_base_name(const char *path);
/* Sets efSearch / nprobe on idx (a no-op for a staging index). */
void kb_vec_apply_params(const kb_vec *v, FaissIndex *idx, int staging);
/* Tombstone bitmap over positions; caller holds rw or wmu. */
int kb_vec_tomb_has(const kb_vec *v, int64_t pos);
rag_status kb_vec_tomb_reserve(kb_vec *v, int64_t ntotal, rag_err *err);
void kb_vec_tomb_clear(kb_vec *v);

/* kb_vec_file.c */
/* Writes v->path atomically, recording gen; caller holds wmu. */
rag_status kb_vec_save_locked(kb_vec *v, int64_t gen, rag_err *err);
/* Loads v->path into a fresh v when intact and current: 0, or -1 with the
** reason for the log line in why ("missing", "stale (...)", "corrupt
** (...)"). */
int kb_vec_load_file(kb_vec *v, int64_t kb_gen, char *why, size_t nwhy);

#endif
