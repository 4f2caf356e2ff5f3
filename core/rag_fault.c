/* core/rag_fault.c -- The storage fault-injection hook (see rag_fault.h).
** Empty unless the build defines RAGD_FAULT. */
#include "core/rag_fault.h"

#ifdef RAGD_FAULT

#include <errno.h>
#include <stdatomic.h>

/* armed is read first and alone on the fast path; the spec fields are
** written before it is set (release) and read after it is seen (acquire). */
static atomic_int armed;
static unsigned f_ops;
static int64_t f_nth;
static int f_err;
static int f_persistent;
static atomic_llong f_count;
static atomic_llong f_hits;

void rag_fault_arm(const rag_fault_spec *spec) {
  atomic_store(&armed, 0);
  f_ops = spec->ops;
  f_nth = spec->nth;
  f_err = spec->err ? spec->err : EIO;
  f_persistent = spec->persistent;
  atomic_store(&f_count, 0);
  atomic_store(&f_hits, 0);
  atomic_store_explicit(&armed, 1, memory_order_release);
}

void rag_fault_disarm(void) {
  atomic_store(&armed, 0);
}

int64_t rag_fault_count(void) {
  return atomic_load(&f_count);
}

int64_t rag_fault_hits(void) {
  return atomic_load(&f_hits);
}

int rag_fault_check(rag_fault_op op) {
  if (!atomic_load_explicit(&armed, memory_order_acquire))
    return 0;
  if (!(f_ops & (unsigned)op))
    return 0;
  int64_t n = atomic_fetch_add(&f_count, 1) + 1;
  if (f_nth <= 0 || n < f_nth || (n > f_nth && !f_persistent))
    return 0;
  atomic_fetch_add(&f_hits, 1);
  errno = f_err;
  return f_err;
}

#else
typedef int rag_fault_unused;
#endif
