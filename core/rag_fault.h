/* core/rag_fault.h -- Storage fault injection for tests, after SQLite's
** test VFS and its faultsim tests: arm "make the Nth write / fsync / FAISS
** index write fail with errno E", run an operation, read how many storage
** operations it made, disarm. A test first arms with nth = 0 (count only)
** to learn the count, then re-runs the operation failing at every N from 1
** to that count.
**
** Fault points: the SQLite shim VFS of the KB layer (index/kb_vfs.c) for
** kb.sqlite and its -wal, and the FAISS file writer (index/kb_vec_file.c).
** Each point calls rag_fault_check(op) just before the real system call and
** fails the way that call would have when it returns an errno.
**
** Build: compiled in only when the build defines RAGD_FAULT (cmake
** -DRAGD_FAULT=ON, as scripts/test.sh does). Otherwise every function here
** is an inline no-op, rag_fault_check() is the constant 0 and the KB opens
** SQLite's default VFS: release builds carry no hook and pay nothing. When
** compiled in but disarmed a fault point costs one relaxed atomic load.
**
** Process-wide by nature, like sqlite3_test_control(): one armed fault for
** every thread and every KB of the process. It is the one piece of global
** mutable state outside configuration, and only tests set it.
** Ownership: nothing allocates.
** Errors:    none; rag_fault_check reports the injected errno.
** Threads:   counters are atomic, so fault points may run on any thread;
**            arm and disarm while no storage operation runs. */
#ifndef RAG_FAULT_H
#define RAG_FAULT_H

#include <stdint.h>

/* Operations that count and can fail. Masks combine them. */
typedef enum rag_fault_op {
  RAG_FAULT_DB_OPEN = 1u << 0,   /* SQLite opens a file read-write */
  RAG_FAULT_DB_WRITE = 1u << 1,  /* SQLite xWrite (kb.sqlite, -wal) */
  RAG_FAULT_DB_SYNC = 1u << 2,   /* SQLite xSync */
  RAG_FAULT_DB_TRUNC = 1u << 3,  /* SQLite xTruncate */
  RAG_FAULT_VEC_OPEN = 1u << 4,  /* create the FAISS temp file */
  RAG_FAULT_VEC_WRITE = 1u << 5, /* header, faiss_write_index, flush */
  RAG_FAULT_VEC_SYNC = 1u << 6,  /* fsync of the temp file, its folder */
  RAG_FAULT_VEC_RENAME = 1u << 7 /* rename of the temp file into place */
} rag_fault_op;

#define RAG_FAULT_DB                                                           \
  (RAG_FAULT_DB_OPEN | RAG_FAULT_DB_WRITE | RAG_FAULT_DB_SYNC |                \
   RAG_FAULT_DB_TRUNC)
#define RAG_FAULT_VEC                                                          \
  (RAG_FAULT_VEC_OPEN | RAG_FAULT_VEC_WRITE | RAG_FAULT_VEC_SYNC |             \
   RAG_FAULT_VEC_RENAME)
#define RAG_FAULT_ALL (RAG_FAULT_DB | RAG_FAULT_VEC)

typedef struct rag_fault_spec {
  unsigned ops;   /* mask of rag_fault_op to count (others pass untouched) */
  int64_t nth;    /* fail the nth counted operation (1-based); 0: count only */
  int err;        /* errno of the failure: EIO, ENOSPC (0 means EIO) */
  int persistent; /* 1: every counted operation after the nth fails too,
                  ** as on a disk that stays full; 0: only the nth */
} rag_fault_spec;

#ifdef RAGD_FAULT

/* 1: the hook is compiled in (a test that needs it skips otherwise). */
static inline int rag_fault_enabled(void) {
  return 1;
}
/* Resets the counters and arms spec (copied). */
void rag_fault_arm(const rag_fault_spec *spec);
/* Stops counting and failing; the counters keep their last values. */
void rag_fault_disarm(void);
/* Operations counted since the last arm. */
int64_t rag_fault_count(void);
/* Failures injected since the last arm. */
int64_t rag_fault_hits(void);
/* At a fault point, before the real call: 0 to go on, else the errno to
** fail with (errno is set to it as well). */
int rag_fault_check(rag_fault_op op);

#else

static inline int rag_fault_enabled(void) {
  return 0;
}
static inline void rag_fault_arm(const rag_fault_spec *spec) {
  (void)spec;
}
static inline void rag_fault_disarm(void) {}
static inline int64_t rag_fault_count(void) {
  return 0;
}
static inline int64_t rag_fault_hits(void) {
  return 0;
}
static inline int rag_fault_check(rag_fault_op op) {
  (void)op;
  return 0;
}

#endif
#endif
