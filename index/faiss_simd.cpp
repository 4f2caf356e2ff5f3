// index/faiss_simd.cpp -- AVX2+FMA inner products for FAISS's flat storage
// (see faiss_simd.h for the contract).
//
// Divisions of this file:
//   1. The kernels: AVX2+FMA inner product, CPU check
//   2. The distance computer and the IndexFlatIP subclass
//   3. C interface: install, search
//
// Kept apart from faiss_capi.cpp on purpose: that file is only the C-API
// shim, and CMake drops it when the system has a libfaiss_c. This file is
// built either way, against FAISS's C++ headers.
#include "index/faiss_simd.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FAISS_SIMD_X86 1
#endif

namespace {

using idx_t = faiss::Index::idx_t;

// ==== 1. The kernels ====

#ifdef FAISS_SIMD_X86
// Four independent accumulators hide the FMA latency (4 cycles, 2 per
// cycle on current cores); 1,024 dims are 32 iterations.
__attribute__((target("avx2,fma"))) float ip_avx2(const float *x,
                                                  const float *y, size_t d) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8),
                         a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16),
                         _mm256_loadu_ps(y + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24),
                         _mm256_loadu_ps(y + i + 24), a3);
  }
  for (; i + 8 <= d; i += 8)
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float r = _mm_cvtss_f32(h);
  for (; i < d; i++)
    r += x[i] * y[i];
  return r;
}

// Four vectors against one query at once: four independent streams of
// cache misses in flight instead of one (HNSW's vectors are scattered over
// the whole storage, so the walk waits on memory more than it multiplies).
__attribute__((target("avx2,fma"))) void
ip4_avx2(const float *q, const float *y0, const float *y1, const float *y2,
         const float *y3, size_t d, float *out) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
  __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m256 qa = _mm256_loadu_ps(q + i), qb = _mm256_loadu_ps(q + i + 8);
    a0 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(y0 + i), a0);
    a1 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(y1 + i), a1);
    a2 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(y2 + i), a2);
    a3 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(y3 + i), a3);
    b0 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(y0 + i + 8), b0);
    b1 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(y1 + i + 8), b1);
    b2 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(y2 + i + 8), b2);
    b3 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(y3 + i + 8), b3);
  }
  __m256 s[4] = {_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1),
                 _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3)};
  const float *ys[4] = {y0, y1, y2, y3};
  for (int v = 0; v < 4; v++) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s[v]),
                          _mm256_extractf128_ps(s[v], 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (size_t j = i; j < d; j++)
      r += q[j] * ys[v][j];
    out[v] = r;
  }
}

inline void prefetch(const float *p) {
  _mm_prefetch((const char *)p, _MM_HINT_T0);
  _mm_prefetch((const char *)p + 64, _MM_HINT_T0);
}

inline void prefetch_line(const char *p) {
  _mm_prefetch(p, _MM_HINT_T0);
}

bool cpu_ok() {
  static const bool ok =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// The candidate queue's two scans (section 3's Cands), eight entries at a
// time; the walk runs only where cpu_ok(). Both give exactly the scalar
// loops' answers, NaN included (count: an ordered compare, false for NaN
// as `<` is; pop: where a NaN is live, the caller scans as FAISS does).

// How many of dis[0..n) are below t.
__attribute__((target("avx2"))) int count_below_avx2(const float *dis, int n,
                                                     float t) {
  __m256 vt = _mm256_set1_ps(t);
  int nb = 0, i = 0;
  for (; i + 8 <= n; i += 8)
    nb += __builtin_popcount((unsigned)_mm256_movemask_ps(
        _mm256_cmp_ps(_mm256_loadu_ps(dis + i), vt, _CMP_LT_OQ)));
  for (; i < n; i++)
    nb += dis[i] < t;
  return nb;
}

// All ones in the lanes of ids[0..8) that are live (not -1).
__attribute__((target("avx2"))) inline __m256 live8(const int *ids) {
  const __m256i dead = _mm256_set1_epi32(-1);
  __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)ids);
  return _mm256_castsi256_ps(
      _mm256_xor_si256(_mm256_cmpeq_epi32(v, dead), dead));
}

// The index FAISS's pop_min picks among the live entries of dis[0..n)
// (ids[i] != -1): the smallest distance, the highest index among equals.
// -1 when none is live, -2 when a live distance is NaN (not decided here).
__attribute__((target("avx2"))) int min_live_avx2(const float *dis,
                                                  const int *ids, int n) {
  const __m256 inf = _mm256_set1_ps(INFINITY);
  __m256 vmin = inf;
  int n8 = n & ~7, nlive = 0, nan = 0;
  for (int i = 0; i < n8; i += 8) {
    __m256 v = _mm256_loadu_ps(dis + i);
    __m256 live = live8(ids + i);
    nlive |= _mm256_movemask_ps(live);
    nan |= _mm256_movemask_ps(
        _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), live));
    vmin = _mm256_min_ps(vmin, _mm256_blendv_ps(inf, v, live));
  }
  __m128 h =
      _mm_min_ps(_mm256_castps256_ps128(vmin), _mm256_extractf128_ps(vmin, 1));
  h = _mm_min_ps(h, _mm_movehl_ps(h, h));
  h = _mm_min_ss(h, _mm_shuffle_ps(h, h, 1));
  float m = _mm_cvtss_f32(h);
  for (int i = n8; i < n; i++)
    if (ids[i] != -1) {
      nlive = 1;
      nan |= dis[i] != dis[i];
      if (dis[i] < m)
        m = dis[i];
    }
  if (nan)
    return -2;
  if (!nlive)
    return -1;
  for (int i = n - 1; i >= n8; i--)
    if (ids[i] != -1 && dis[i] == m)
      return i;
  __m256 vm = _mm256_set1_ps(m);
  for (int i = n8 - 8; i >= 0; i -= 8) {
    __m256 live = live8(ids + i);
    int hit = _mm256_movemask_ps(_mm256_and_ps(
        _mm256_cmp_ps(_mm256_loadu_ps(dis + i), vm, _CMP_EQ_OQ), live));
    if (hit)
      return i + 31 - __builtin_clz((unsigned)hit);
  }
  return -1; /* not reached: m is some live entry's distance */
}
#else
float ip_avx2(const float *x, const float *y, size_t d) {
  return faiss::fvec_inner_product(x, y, d);
}
void ip4_avx2(const float *q, const float *y0, const float *y1, const float *y2,
              const float *y3, size_t d, float *out) {
  out[0] = ip_avx2(q, y0, d);
  out[1] = ip_avx2(q, y1, d);
  out[2] = ip_avx2(q, y2, d);
  out[3] = ip_avx2(q, y3, d);
}
inline void prefetch(const float *) {}
inline void prefetch_line(const char *) {}
bool cpu_ok() {
  return false;
}
int count_below_avx2(const float *dis, int n, float t) {
  int nb = 0;
  for (int i = 0; i < n; i++)
    nb += dis[i] < t;
  return nb;
}
int min_live_avx2(const float *, const int *, int) {
  return -2; /* the caller's scalar scan */
}
#endif

// ==== 2. Distance computer and IndexFlatIP subclass ====

// Inner product times sign: +1 for the storage's own computer (what
// FAISS's FlatIPDis returns), -1 for the HNSW walk, which wants "smaller is
// closer" (FAISS wraps its computer in a NegativeDistanceComputer for that;
// folding the sign in saves a virtual call per distance).
struct SimdIPComputer : faiss::FlatCodesDistanceComputer {
  size_t d;
  const float *xb;
  const float *q = nullptr;
  float sign;

  SimdIPComputer(const faiss::IndexFlat &s, float sign)
      : faiss::FlatCodesDistanceComputer(s.codes.data(), s.code_size),
        d((size_t)s.d), xb(s.get_xb()), sign(sign) {}

  void set_query(const float *x) override {
    q = x;
  }
  float distance_to_code(const uint8_t *code) override {
    return sign * ip_avx2(q, (const float *)code, d);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return sign * ip_avx2(xb + i * d, xb + j * d, d);
  }
};

// Negates another computer: the scalar HNSW path, as FAISS does it.
struct NegatedComputer : faiss::DistanceComputer {
  std::unique_ptr<faiss::DistanceComputer> base;
  explicit NegatedComputer(faiss::DistanceComputer *b) : base(b) {}
  void set_query(const float *x) override {
    base->set_query(x);
  }
  float operator()(idx_t i) override {
    return -(*base)(i);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return -base->symmetric_dis(i, j);
  }
};

// FAISS's write_index finds an IndexFlat by dynamic_cast and writes "IxFI"
// for the inner-product metric, so this subclass is saved as a plain
// IndexFlatIP and read back as one (kb_vec installs it again after reading).
struct IndexFlatSimdIP : faiss::IndexFlatIP {
  bool scalar; // FAISS's own code: forced, or the CPU lacks AVX2+FMA

  IndexFlatSimdIP(idx_t d, bool force_scalar)
      : faiss::IndexFlatIP(d), scalar(force_scalar || !cpu_ok()) {}

  faiss::FlatCodesDistanceComputer *
  get_FlatCodesDistanceComputer() const override {
    if (scalar)
      return faiss::IndexFlatIP::get_FlatCodesDistanceComputer();
    return new SimdIPComputer(*this, 1.0f);
  }

  // Small batches only: from 20 queries on FAISS uses BLAS (sgemm), which
  // is vectorized already. Selectors and other params go to FAISS too.
  void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
              const faiss::SearchParameters *params) const override {
    if (scalar || params || n >= faiss::distance_compute_blas_threshold ||
        k <= 0) {
      faiss::IndexFlatIP::search(n, x, k, distances, labels, params);
      return;
    }
    const float *xb = get_xb();
    for (idx_t qi = 0; qi < n; qi++) {
      const float *q = x + qi * d;
      float *D = distances + qi * k;
      idx_t *I = labels + qi * k;
      faiss::minheap_heapify(k, D, I);
      for (idx_t j = 0; j < ntotal; j++) {
        float ip = ip_avx2(q, xb + j * d, (size_t)d);
        if (ip > D[0])
          faiss::minheap_replace_top(k, D, I, ip, j);
      }
      faiss::minheap_reorder(k, D, I);
    }
  }
};

// The slot that holds idx's flat storage, or nullptr: the sub-index of an
// IDMap, the storage of an HNSW, or the storage of an IDMap's HNSW. Only
// slots whose container owns the object (own_fields): we delete it.
faiss::Index **flat_slot(faiss::Index *ix) {
  if (auto *m = dynamic_cast<faiss::IndexIDMap *>(ix)) {
    if (!m->own_fields)
      return nullptr;
    if (dynamic_cast<faiss::IndexFlat *>(m->index))
      return &m->index;
    ix = m->index;
  }
  if (auto *h = dynamic_cast<faiss::IndexHNSW *>(ix))
    return h->own_fields && h->storage ? &h->storage : nullptr;
  return nullptr;
}

} // namespace

// ==== 3. C interface ====

extern "C" int faiss_simd_cpu_ok(void) {
  return cpu_ok() ? 1 : 0;
}

extern "C" int faiss_simd_install(FaissIndex *idx, int force_scalar) {
  try {
    faiss::Index **slot = flat_slot(reinterpret_cast<faiss::Index *>(idx));
    if (!slot)
      return 0;
    if (auto *own = dynamic_cast<IndexFlatSimdIP *>(*slot)) {
      own->scalar = force_scalar || !cpu_ok();
      return 1;
    }
    auto *old = dynamic_cast<faiss::IndexFlat *>(*slot);
    if (!old || old->metric_type != faiss::METRIC_INNER_PRODUCT)
      return 0;
    auto *nf = new IndexFlatSimdIP(old->d, force_scalar != 0);
    nf->codes.swap(old->codes); // the vectors move over, no copy
    nf->ntotal = old->ntotal;
    nf->is_trained = old->is_trained;
    nf->verbose = old->verbose;
    *slot = nf;
    delete old;
    return 1;
  } catch (const std::exception &) {
    return 0; // only new can throw here; the index is unchanged
  }
}

extern "C" int faiss_simd_active(const FaissIndex *idx) {
  faiss::Index **slot = flat_slot(
      const_cast<faiss::Index *>(reinterpret_cast<const faiss::Index *>(idx)));
  auto *own = slot ? dynamic_cast<IndexFlatSimdIP *>(*slot) : nullptr;
  return own && !own->scalar ? 1 : 0;
}

namespace {

using storage_idx_t = faiss::HNSW::storage_idx_t;

// Negated inner products of q with vectors ids[0..n) of xb into out: the
// HNSW's "smaller is closer". Prefetches every vector's first lines, then
// computes four at a time.
void neg_ips(const float *q, const float *xb, size_t d,
             const storage_idx_t *ids, int n, float *out) {
  for (int j = 0; j < n; j++)
    prefetch(xb + (size_t)ids[j] * d);
  int j = 0;
  for (; j + 4 <= n; j += 4)
    ip4_avx2(q, xb + (size_t)ids[j] * d, xb + (size_t)ids[j + 1] * d,
             xb + (size_t)ids[j + 2] * d, xb + (size_t)ids[j + 3] * d, d,
             out + j);
  for (; j < n; j++)
    out[j] = ip_avx2(q, xb + (size_t)ids[j] * d, d);
  for (j = 0; j < n; j++)
    out[j] = -out[j];
}

// FAISS 1.7.3's HNSW::MinimaxHeap, operation for operation (push pops the
// max when full and counts one fewer valid entry either way; pop_min scans
// from the end, keeping the last minimum found; count_below counts popped
// entries too), inline here: libfaiss's out-of-line, baseline-x86-64 copies
// were ~5% of a hybrid request. The walk's order and results stay FAISS's.
struct Cands {
  using HC = faiss::CMax<float, storage_idx_t>;
  int n, k = 0, nvalid = 0;
  storage_idx_t *ids;
  float *dis;

  Cands(int n, storage_idx_t *ids, float *dis) : n(n), ids(ids), dis(dis) {}

  void push(storage_idx_t i, float v) {
    if (k == n) {
      if (v >= dis[0])
        return;
      faiss::heap_pop<HC>(k--, dis, ids);
      --nvalid;
    }
    faiss::heap_push<HC>(++k, dis, ids, v, i);
    ++nvalid;
  }
  int size() const {
    return nvalid;
  }
  // FAISS's scan: from the end, keeping the last minimum found.
  int min_live_scalar() const {
    int i = k - 1;
    while (i >= 0 && ids[i] == -1)
      i--;
    if (i == -1)
      return -1;
    int imin = i;
    float vmin = dis[i];
    for (i--; i >= 0; i--)
      if (ids[i] != -1 && dis[i] < vmin) {
        vmin = dis[i];
        imin = i;
      }
    return imin;
  }
  int pop_min(float *vmin_out) {
    static_assert(sizeof(storage_idx_t) == sizeof(int), "ids are ints");
    int imin = min_live_avx2(dis, reinterpret_cast<const int *>(ids), k);
    if (imin == -2)
      imin = min_live_scalar();
    if (imin < 0)
      return -1;
    *vmin_out = dis[imin];
    int ret = ids[imin];
    ids[imin] = -1;
    --nvalid;
    return ret;
  }
  int count_below(float thresh) const {
    return count_below_avx2(dis, k, thresh);
  }
};

// FAISS 1.7.3's HNSW::search for one query in its default configuration
// (upper_beam 1, bounded queue, relative-distance check, no selector), step
// for step: greedy descent through the upper levels, then
// search_from_candidates on level 0. The one change is the order of work
// inside a node: the unvisited neighbours are gathered first and their
// distances computed together (neg_ips), then pushed in neighbour order,
// so the heaps see the same sequence as FAISS's loop.
void hnsw_walk(const faiss::HNSW &hnsw, const float *q, const float *xb,
               size_t d, idx_t k, float *D, idx_t *I, faiss::VisitedTable &vt) {
  if (hnsw.entry_point < 0)
    return;
  storage_idx_t ids[512];
  float dis[512];
  storage_idx_t nearest = hnsw.entry_point;
  float d_nearest;
  neg_ips(q, xb, d, &nearest, 1, &d_nearest);
  for (int level = hnsw.max_level; level >= 1; level--) {
    for (;;) { // greedy_update_nearest
      storage_idx_t prev = nearest;
      size_t begin, end;
      hnsw.neighbor_range(nearest, level, &begin, &end);
      int n = 0;
      for (size_t i = begin; i < end && n < 512; i++) {
        if (hnsw.neighbors[i] < 0)
          break;
        ids[n++] = hnsw.neighbors[i];
      }
      neg_ips(q, xb, d, ids, n, dis);
      for (int j = 0; j < n; j++)
        if (dis[j] < d_nearest) {
          nearest = ids[j];
          d_nearest = dis[j];
        }
      if (nearest == prev)
        break;
    }
  }
  int ef = std::max(hnsw.efSearch, (int)k);
  thread_local std::vector<storage_idx_t> cids;
  thread_local std::vector<float> cdis;
  cids.resize((size_t)ef);
  cdis.resize((size_t)ef);
  Cands candidates(ef, cids.data(), cdis.data());
  // Level 0's neighbour range, as HNSW::neighbor_range computes it.
  const size_t *off = hnsw.offsets.data();
  const size_t nb0 = (size_t)hnsw.cum_nneighbor_per_level[1];
  candidates.push(nearest, d_nearest);
  int nres = 0;
  // search_from_candidates, level 0
  for (int i = 0; i < candidates.size(); i++) {
    idx_t v1 = candidates.ids[i];
    float dv = candidates.dis[i];
    if (nres < k)
      faiss::maxheap_push(++nres, D, I, dv, v1);
    else if (dv < D[0])
      faiss::maxheap_replace_top(nres, D, I, dv, v1);
    vt.set((int)v1);
  }
  while (candidates.size() > 0) {
    float d0 = 0;
    int v0 = candidates.pop_min(&d0);
    if (candidates.count_below(d0) >= hnsw.efSearch)
      break;
    size_t begin = off[v0], end = begin + nb0;
    int n = 0;
    for (size_t j = begin; j < end && n < 512; j++) {
      int v1 = hnsw.neighbors[j];
      if (v1 < 0)
        break;
      if (vt.get(v1))
        continue;
      vt.set(v1);
      ids[n++] = v1;
    }
    neg_ips(q, xb, d, ids, n, dis);
    for (int j = 0; j < n; j++) {
      // A node good enough for the results will likely be expanded later:
      // start loading its neighbour list now. Reading the list of the node
      // just popped was the walk's largest stall (bench_hnsw: 10% off the
      // walk's time, same results).
      if (nres < k || dis[j] < D[0]) {
        const char *p = (const char *)(hnsw.neighbors.data() + off[ids[j]]);
        for (size_t o = 0; o < nb0 * sizeof(*ids); o += 64)
          prefetch_line(p + o);
      }
      if (nres < k)
        faiss::maxheap_push(++nres, D, I, dis[j], (idx_t)ids[j]);
      else if (dis[j] < D[0])
        faiss::maxheap_replace_top(nres, D, I, dis[j], (idx_t)ids[j]);
      candidates.push(ids[j], dis[j]);
    }
  }
}

// One query on an HNSW, on this thread: what IndexHNSW::search does for each
// query inside its OpenMP region (heapify, HNSW::search, reorder, negate
// for the inner product), minus the region and the per-call visited table.
void hnsw_search_one(const faiss::IndexHNSW &h, const float *x, idx_t k,
                     float *D, idx_t *I) {
  thread_local std::unique_ptr<faiss::VisitedTable> vt;
  if (!vt || vt->visited.size() < (size_t)h.ntotal)
    vt.reset(new faiss::VisitedTable((int)h.ntotal));
  vt->advance(); // flags from an earlier search (maybe another index) stale
  auto *own = dynamic_cast<const IndexFlatSimdIP *>(h.storage);
  const faiss::HNSW &g = h.hnsw;
  faiss::maxheap_heapify(k, D, I);
  if (own && !own->scalar && g.upper_beam == 1 && g.search_bounded_queue &&
      g.check_relative_distance && g.nb_neighbors(0) <= 512) {
    hnsw_walk(g, x, own->get_xb(), (size_t)h.d, k, D, I, *vt);
  } else {
    std::unique_ptr<faiss::DistanceComputer> dis(
        new NegatedComputer(h.storage->get_distance_computer()));
    dis->set_query(x);
    g.search(*dis, (int)k, I, D, *vt);
  }
  faiss::maxheap_reorder(k, D, I);
  for (idx_t i = 0; i < k; i++)
    D[i] = -D[i];
}

} // namespace

extern "C" int faiss_simd_search(const FaissIndex *idx, idx_t n, const float *x,
                                 idx_t k, float *distances, idx_t *labels,
                                 char *err, size_t nerr) {
  try {
    auto *ix = reinterpret_cast<const faiss::Index *>(idx);
    auto *map = dynamic_cast<const faiss::IndexIDMap *>(ix);
    auto *h = dynamic_cast<const faiss::IndexHNSW *>(map ? map->index : ix);
    if (n != 1 || k <= 0 || !h || !h->storage ||
        h->metric_type != faiss::METRIC_INNER_PRODUCT ||
        h->storage->metric_type != faiss::METRIC_INNER_PRODUCT ||
        h->reconstruct_from_neighbors) {
      ix->search(n, x, k, distances, labels);
      return 0;
    }
    hnsw_search_one(*h, x, k, distances, labels);
    if (map)
      for (idx_t i = 0; i < k; i++)
        if (labels[i] >= 0)
          labels[i] = map->id_map[(size_t)labels[i]];
    return 0;
  } catch (const std::exception &e) {
    if (err && nerr)
      snprintf(err, nerr, "%s", e.what());
    return -1;
  }
}

extern "C" int faiss_simd_queue_check(unsigned seed) {
  if (!cpu_ok())
    return 0;
  // Few distinct values (ties), dead entries, now and then a NaN or an
  // infinity; every length from 0 to 140 (ef 128 and odd tails).
  static const float vals[] = {-2.0f, -1.0f, -0.0f, 0.0f, 0.5f, 0.5f, 3.0f};
  std::vector<float> dis(140);
  std::vector<storage_idx_t> ids(140);
  int bad = 0;
  uint32_t r = seed ? seed : 1;
  for (int round = 0; round < 200; round++) {
    for (int n = 0; n <= 140; n++) {
      for (int i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        unsigned v = r >> 24;
        dis[i] = v < 2     ? NAN
                 : v < 4   ? INFINITY
                 : v < 200 ? vals[v % 7]
                           : (float)(v % 13) * 0.25f;
        ids[i] = (r >> 8) % 4 == 0 ? -1 : (storage_idx_t)i;
      }
      Cands c(n, ids.data(), dis.data());
      c.k = n;
      int got = min_live_avx2(dis.data(), ids.data(), n);
      int want = c.min_live_scalar();
      bad += !(got == want || (got == -2 && want >= 0));
      float t = n ? dis[(size_t)(r % (unsigned)n)] : 0.0f;
      int nb = 0;
      for (int i = 0; i < n; i++)
        nb += dis[i] < t;
      bad += count_below_avx2(dis.data(), n, t) != nb;
    }
  }
  return bad;
}
