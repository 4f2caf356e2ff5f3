/* index/faiss_capi.cpp -- ragd's own implementation of the subset of the
** FAISS C API (the headers in faiss/c_api/) that ragd calls.
**
** Why it exists: Debian's libfaiss-dev ships the C API headers and the C++
** static library, but not libfaiss_c. Where a system has the real
** libfaiss_c, CMake links that instead and this file is not built, so every
** function here keeps upstream's exact signature and semantics:
**   - fallible calls return int: 0 on success, -2 for a faiss exception,
**     -4 for a standard C++ exception, -1 for anything else;
**   - no exception ever crosses into C: each one is caught and its message
**     kept for faiss_get_last_error(), which is thread-local and valid until
**     the next failing call on the same thread.
** This is the only C++ in the tree; everything else includes the C headers.
**
** Implemented (keep this list in step with the code):
**   faiss_get_last_error, faiss_index_factory,
**   faiss_Index_free, faiss_Index_d, faiss_Index_is_trained,
**   faiss_Index_ntotal, faiss_Index_metric_type, faiss_Index_train,
**   faiss_Index_add, faiss_Index_add_with_ids, faiss_Index_search,
**   faiss_Index_reset, faiss_Index_remove_ids, faiss_Index_reconstruct,
**   faiss_Index_reconstruct_n,
**   faiss_IDSelectorBatch_new, faiss_IDSelector_free,
**   faiss_IndexIDMap_cast, faiss_IndexIDMap_id_map,
**   faiss_IndexIDMap_sub_index,
**   faiss_write_index, faiss_write_index_fname, faiss_read_index,
**   faiss_read_index_fname,
**   faiss_ParameterSpace_new, faiss_ParameterSpace_free,
**   faiss_ParameterSpace_set_index_parameter.
** Threads: as FAISS itself: const calls (search) may run concurrently on one
** index, anything that modifies an index needs exclusive access. */
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <exception>
#include <new>
#include <string>

namespace {

/* The message of the last failure on this thread. A std::string rather
** than upstream's exception_ptr: same lifetime promise ("until another
** failing call"), no rethrow needed to read it. */
thread_local std::string last_error;

void set_error(const char *msg) {
  try {
    last_error = msg ? msg : "unknown error";
  } catch (...) {
    /* Out of memory while recording an error: keep whatever we had. */
  }
}

faiss::Index *IX(FaissIndex *p) {
  return reinterpret_cast<faiss::Index *>(p);
}
const faiss::Index *IX(const FaissIndex *p) {
  return reinterpret_cast<const faiss::Index *>(p);
}

} // namespace

/* Wraps a body so that it returns 0, or the upstream error code with the
** message recorded. */
#define CAPI_TRY try {
#define CAPI_CATCH                                                             \
  }                                                                            \
  catch (faiss::FaissException & e) {                                          \
    set_error(e.what());                                                       \
    return -2;                                                                 \
  }                                                                            \
  catch (std::exception & e) {                                                 \
    set_error(e.what());                                                       \
    return -4;                                                                 \
  }                                                                            \
  catch (...) {                                                                \
    set_error("Unknown error");                                                \
    return -1;                                                                 \
  }                                                                            \
  return 0;

extern "C" {

const char *faiss_get_last_error() {
  return last_error.empty() ? nullptr : last_error.c_str();
}

/* ---- Construction ---- */

int faiss_index_factory(FaissIndex **p_index, int d, const char *description,
                        FaissMetricType metric) {
  CAPI_TRY
  *p_index = reinterpret_cast<FaissIndex *>(faiss::index_factory(
      d, description, static_cast<faiss::MetricType>(metric)));
  CAPI_CATCH
}

void faiss_Index_free(FaissIndex *obj) {
  delete IX(obj);
}

/* ---- Getters ---- */

int faiss_Index_d(const FaissIndex *obj) {
  return static_cast<int>(IX(obj)->d);
}

int faiss_Index_is_trained(const FaissIndex *obj) {
  return IX(obj)->is_trained ? 1 : 0;
}

idx_t faiss_Index_ntotal(const FaissIndex *obj) {
  return IX(obj)->ntotal;
}

FaissMetricType faiss_Index_metric_type(const FaissIndex *obj) {
  return static_cast<FaissMetricType>(IX(obj)->metric_type);
}

/* ---- Index operations ---- */

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x) {
  CAPI_TRY
  IX(index)->train(n, x);
  CAPI_CATCH
}

int faiss_Index_add(FaissIndex *index, idx_t n, const float *x) {
  CAPI_TRY
  IX(index)->add(n, x);
  CAPI_CATCH
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x,
                             const idx_t *xids) {
  CAPI_TRY
  IX(index)->add_with_ids(n, x, xids);
  CAPI_CATCH
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x,
                       idx_t k, float *distances, idx_t *labels) {
  CAPI_TRY
  IX(index)->search(n, x, k, distances, labels);
  CAPI_CATCH
}

int faiss_Index_reset(FaissIndex *index) {
  CAPI_TRY
  IX(index)->reset();
  CAPI_CATCH
}

int faiss_Index_remove_ids(FaissIndex *index, const FaissIDSelector *sel,
                           size_t *n_removed) {
  CAPI_TRY
  size_t n =
      IX(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector *>(sel));
  if (n_removed)
    *n_removed = n;
  CAPI_CATCH
}

int faiss_Index_reconstruct(const FaissIndex *index, idx_t key, float *recons) {
  CAPI_TRY
  IX(index)->reconstruct(key, recons);
  CAPI_CATCH
}

int faiss_Index_reconstruct_n(const FaissIndex *index, idx_t i0, idx_t ni,
                              float *recons) {
  CAPI_TRY
  IX(index)->reconstruct_n(i0, ni, recons);
  CAPI_CATCH
}

/* ---- ID selectors ---- */

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch **p_sel, size_t n,
                              const idx_t *indices) {
  CAPI_TRY
  *p_sel = reinterpret_cast<FaissIDSelectorBatch *>(
      new faiss::IDSelectorBatch(n, indices));
  CAPI_CATCH
}

/* Frees any selector, IDSelectorBatch included (virtual destructor; single
** inheritance, so the base pointer is the same address, as upstream
** assumes). */
void faiss_IDSelector_free(FaissIDSelector *obj) {
  delete reinterpret_cast<faiss::IDSelector *>(obj);
}

/* ---- IndexIDMap (also matches IndexIDMap2, which derives from it) ---- */

FaissIndexIDMap *faiss_IndexIDMap_cast(FaissIndex *index) {
  return reinterpret_cast<FaissIndexIDMap *>(
      dynamic_cast<faiss::IndexIDMap *>(IX(index)));
}

void faiss_IndexIDMap_id_map(FaissIndexIDMap *index, idx_t **p_id_map,
                             size_t *p_size) {
  auto *m = reinterpret_cast<faiss::IndexIDMap *>(index);
  if (p_id_map)
    *p_id_map = m->id_map.data();
  if (p_size)
    *p_size = m->id_map.size();
}

FaissIndex *faiss_IndexIDMap_sub_index(FaissIndexIDMap *index) {
  return reinterpret_cast<FaissIndex *>(
      reinterpret_cast<faiss::IndexIDMap *>(index)->index);
}

/* ---- I/O ---- */

int faiss_write_index(const FaissIndex *idx, FILE *f) {
  CAPI_TRY
  faiss::write_index(IX(idx), f);
  CAPI_CATCH
}

int faiss_write_index_fname(const FaissIndex *idx, const char *fname) {
  CAPI_TRY
  faiss::write_index(IX(idx), fname);
  CAPI_CATCH
}

int faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out) {
  CAPI_TRY
  *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(f, io_flags));
  CAPI_CATCH
}

int faiss_read_index_fname(const char *fname, int io_flags,
                           FaissIndex **p_out) {
  CAPI_TRY
  *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(fname, io_flags));
  CAPI_CATCH
}

/* ---- Search-time parameters (efSearch, nprobe) ---- */

int faiss_ParameterSpace_new(FaissParameterSpace **space) {
  CAPI_TRY
  *space = reinterpret_cast<FaissParameterSpace *>(new faiss::ParameterSpace);
  CAPI_CATCH
}

void faiss_ParameterSpace_free(FaissParameterSpace *obj) {
  delete reinterpret_cast<faiss::ParameterSpace *>(obj);
}

/* FAISS's ParameterSpace looks through IndexIDMap/IndexIDMap2 and
** IndexPreTransform wrappers, so "efSearch" reaches an IDMap2-wrapped HNSW
** and "nprobe" an IVF index. */
int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space,
                                             FaissIndex *index,
                                             const char *name, double value) {
  CAPI_TRY
  reinterpret_cast<const faiss::ParameterSpace *>(space)->set_index_parameter(
      IX(index), name, value);
  CAPI_CATCH
}

} /* extern "C" */
