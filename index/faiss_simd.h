/* index/faiss_simd.h -- AVX2+FMA inner products for FAISS's flat storage,
** without patching FAISS.
** Debian's libfaiss.a is built for baseline x86-64, so every distance it
** computes is a scalar loop. FAISS's extension point is the
** DistanceComputer that an index's storage hands out: faiss_simd_install
** replaces the IndexFlat (inner-product metric) inside an IDMap, an HNSW
** or an IDMap of an HNSW by a subclass of faiss::IndexFlatIP whose
** distance computer and small-batch search use AVX2+FMA when the CPU has
** them (checked at run time), and FAISS's own code otherwise. The vectors
** move over without a copy. The subclass serializes exactly as an
** IndexFlatIP ("IxFI"), so files stay readable by stock FAISS.
** faiss_simd_search searches such an index; for one query on an HNSW it
** walks the graph on the calling thread with a per-thread visited table
** (FAISS's IndexHNSW::search opens an OpenMP region and allocates and
** clears an ntotal-byte table for every call). Results are FAISS's own:
** same graph walk, same heaps; distances differ only by float rounding.
** Ownership: install takes over the storage it replaces (frees the old
**            object); the caller keeps owning idx.
** Errors:    install returns 1 (swapped or already ours), 0 (nothing to
**            swap: other index types are left alone); search returns 0,
**            or -1 with a message in err (a FAISS exception).
** Threads:   search is safe concurrently on one index; install changes
**            the index, so the caller must exclude searches meanwhile. */
#ifndef FAISS_SIMD_H
#define FAISS_SIMD_H

#include <faiss/c_api/Index_c.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this CPU runs the AVX2+FMA path. */
int faiss_simd_cpu_ok(void);

/* Swaps idx's inner-product flat storage for the SIMD one (see above).
** force_scalar = 1 keeps FAISS's own distance code inside the subclass:
** the fallback that a CPU without AVX2 takes, so tests can run it. */
int faiss_simd_install(FaissIndex *idx, int force_scalar);

/* 1 when idx's storage is the SIMD subclass and uses AVX2 (not scalar). */
int faiss_simd_active(const FaissIndex *idx);

/* For tests: compares the HNSW walk's vectorized candidate-queue scans
** (pop's minimum, count below a bound) with FAISS's scalar loops on
** random queues full of ties, dead entries, NaN and infinities; returns
** the number of disagreements (0 also when the CPU lacks AVX2). */
int faiss_simd_queue_check(unsigned seed);

/* As faiss_Index_search(idx, n, x, k, distances, labels). */
int faiss_simd_search(const FaissIndex *idx, idx_t n, const float *x, idx_t k,
                      float *distances, idx_t *labels, char *err, size_t nerr);

#ifdef __cplusplus
}
#endif

#endif
