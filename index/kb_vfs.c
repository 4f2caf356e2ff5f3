/* index/kb_vfs.c -- The fault-injection shim VFS of the KB layer: a VFS
** named "ragd-fault" that wraps SQLite's default (unix) VFS and, through
** core/rag_fault.h, fails xWrite, xSync, xTruncate and read-write opens the
** way a failing disk would (SQLITE_IOERR_WRITE / _FSYNC / _TRUNCATE,
** SQLITE_CANTOPEN, or SQLITE_FULL for ENOSPC). Modelled on SQLite's own
** test VFS (src/test_vfs.c) and vfstrace.
**
** Only built into RAGD_FAULT builds: elsewhere kb_vfs_name() is NULL and
** kb_open uses the default VFS directly. Everything else is forwarded
** untouched, the -shm mapping included, so WAL and locking behave exactly
** as with the unix VFS.
**
** Threads: registered once (pthread_once); the shim keeps no state of its
** own apart from the errno of the last injected failure, per file (for
** SQLITE_FCNTL_LAST_ERRNO) and per thread (for xGetLastError, so that
** sqlite3_system_errno() names it), as the unix VFS keeps the real one. */
#include "index/kb_int.h"

#ifdef RAGD_FAULT

#include "core/rag_fault.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define SHIM_NAME "ragd-fault"

/* The wrapped file follows this struct in the same allocation (szOsFile
** is ours plus the real VFS's). */
typedef struct shim_file {
  sqlite3_file base;
  sqlite3_file *real;
  int last_errno; /* of the last injected failure; 0 after a real one */
} shim_file;

static sqlite3_vfs shim_vfs;
static _Thread_local int last_injected;

#define REAL_VFS ((sqlite3_vfs *)shim_vfs.pAppData)
#define REAL(f) (((shim_file *)(f))->real)

/* SQLite's code for an injected errno: a full disk is SQLITE_FULL whatever
** the call, as os_unix.c reports ENOSPC on write. */
static int injected(sqlite3_file *f, int e, int ioerr) {
  last_injected = e;
  if (f)
    ((shim_file *)f)->last_errno = e;
  return e == ENOSPC ? SQLITE_FULL : ioerr;
}

/* A real failure: from now on xGetLastError reports the real errno. */
static int real_rc(sqlite3_file *f, int rc) {
  if (rc != SQLITE_OK) {
    last_injected = 0;
    if (f)
      ((shim_file *)f)->last_errno = 0;
  }
  return rc;
}

/* ---- io methods ---- */

static int f_close(sqlite3_file *f) {
  return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off) {
  return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off) {
  int e = rag_fault_check(RAG_FAULT_DB_WRITE);
  if (e)
    return injected(f, e, SQLITE_IOERR_WRITE);
  return real_rc(f, REAL(f)->pMethods->xWrite(REAL(f), b, n, off));
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
  int e = rag_fault_check(RAG_FAULT_DB_TRUNC);
  if (e)
    return injected(f, e, SQLITE_IOERR_TRUNCATE);
  return real_rc(f, REAL(f)->pMethods->xTruncate(REAL(f), size));
}
static int f_sync(sqlite3_file *f, int flags) {
  int e = rag_fault_check(RAG_FAULT_DB_SYNC);
  if (e)
    return injected(f, e, SQLITE_IOERR_FSYNC);
  return real_rc(f, REAL(f)->pMethods->xSync(REAL(f), flags));
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size) {
  return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l) {
  return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l) {
  return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_check_lock(sqlite3_file *f, int *out) {
  return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
/* SQLITE_FCNTL_LAST_ERRNO is how kb_dbfail learns the errno of a failed
** -wal or database write: answer it as the unix VFS would have. */
static int f_control(sqlite3_file *f, int op, void *arg) {
  shim_file *s = (shim_file *)f;
  if (op == SQLITE_FCNTL_LAST_ERRNO && s->last_errno) {
    *(int *)arg = s->last_errno;
    return SQLITE_OK;
  }
  return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f) {
  return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f) {
  return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext,
                     void volatile **pp) {
  return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags) {
  return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) {
  REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del) {
  return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) {
  return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
  return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* Two method tables: the unix VFS gives some files version 1 methods
** (no shared memory, no mmap fetch), and SQLite looks at iVersion before
** it calls those, so ours must not claim more than the real file has. */
#define SHIM_IO_V1                                                             \
  .xClose = f_close, .xRead = f_read, .xWrite = f_write,                       \
  .xTruncate = f_truncate, .xSync = f_sync, .xFileSize = f_size,               \
  .xLock = f_lock, .xUnlock = f_unlock, .xCheckReservedLock = f_check_lock,    \
  .xFileControl = f_control, .xSectorSize = f_sector,                          \
  .xDeviceCharacteristics = f_devchar
static const sqlite3_io_methods shim_io_v1 = {
    .iVersion = 1, SHIM_IO_V1, .xShmMap = NULL};
static const sqlite3_io_methods shim_io_v3 = {.iVersion = 3,
                                              SHIM_IO_V1,
                                              .xShmMap = f_shm_map,
                                              .xShmLock = f_shm_lock,
                                              .xShmBarrier = f_shm_barrier,
                                              .xShmUnmap = f_shm_unmap,
                                              .xFetch = f_fetch,
                                              .xUnfetch = f_unfetch};

/* ---- vfs methods ---- */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags) {
  (void)vfs;
  shim_file *s = (shim_file *)f;
  s->base.pMethods = NULL;
  s->real = (sqlite3_file *)(s + 1);
  s->last_errno = 0;
  if (flags & SQLITE_OPEN_READWRITE) {
    int e = rag_fault_check(RAG_FAULT_DB_OPEN);
    if (e) {
      injected(NULL, e, SQLITE_CANTOPEN);
      return SQLITE_CANTOPEN;
    }
  }
  int rc =
      real_rc(NULL, REAL_VFS->xOpen(REAL_VFS, name, s->real, flags, out_flags));
  if (s->real->pMethods)
    s->base.pMethods =
        s->real->pMethods->iVersion >= 3 ? &shim_io_v3 : &shim_io_v1;
  return rc;
}
static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  (void)vfs;
  return REAL_VFS->xDelete(REAL_VFS, name, sync_dir);
}
static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  (void)vfs;
  return REAL_VFS->xAccess(REAL_VFS, name, flags, out);
}
static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  (void)vfs;
  return REAL_VFS->xFullPathname(REAL_VFS, name, n, out);
}
static void *v_dlopen(sqlite3_vfs *vfs, const char *name) {
  (void)vfs;
  return REAL_VFS->xDlOpen(REAL_VFS, name);
}
static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg) {
  (void)vfs;
  REAL_VFS->xDlError(REAL_VFS, n, msg);
}
static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void) {
  (void)vfs;
  return REAL_VFS->xDlSym(REAL_VFS, h, sym);
}
static void v_dlclose(sqlite3_vfs *vfs, void *h) {
  (void)vfs;
  REAL_VFS->xDlClose(REAL_VFS, h);
}
static int v_random(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs;
  return REAL_VFS->xRandomness(REAL_VFS, n, out);
}
static int v_sleep(sqlite3_vfs *vfs, int us) {
  (void)vfs;
  return REAL_VFS->xSleep(REAL_VFS, us);
}
static int v_time(sqlite3_vfs *vfs, double *t) {
  (void)vfs;
  return REAL_VFS->xCurrentTime(REAL_VFS, t);
}
/* The errno of the last injected failure unless a real one came after
** it. SQLite asks after an IOERR or CANTOPEN (sqlite3SystemError), maybe
** more than once and after other calls have changed errno, so the value
** is kept rather than consumed. */
static int v_last_error(sqlite3_vfs *vfs, int n, char *msg) {
  (void)vfs;
  if (last_injected)
    return last_injected;
  return REAL_VFS->xGetLastError(REAL_VFS, n, msg);
}
static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *t) {
  (void)vfs;
  return REAL_VFS->xCurrentTimeInt64(REAL_VFS, t);
}

static void shim_register(void) {
  sqlite3_vfs *real = sqlite3_vfs_find(NULL);
  if (!real)
    return;
  shim_vfs.iVersion = 2; /* no xSetSystemCall: nothing here uses it */
  shim_vfs.szOsFile = (int)sizeof(shim_file) + real->szOsFile;
  shim_vfs.mxPathname = real->mxPathname;
  shim_vfs.zName = SHIM_NAME;
  shim_vfs.pAppData = real;
  shim_vfs.xOpen = v_open;
  shim_vfs.xDelete = v_delete;
  shim_vfs.xAccess = v_access;
  shim_vfs.xFullPathname = v_fullpath;
  shim_vfs.xDlOpen = v_dlopen;
  shim_vfs.xDlError = v_dlerror;
  shim_vfs.xDlSym = v_dlsym;
  shim_vfs.xDlClose = v_dlclose;
  shim_vfs.xRandomness = v_random;
  shim_vfs.xSleep = v_sleep;
  shim_vfs.xCurrentTime = v_time;
  shim_vfs.xGetLastError = v_last_error;
  shim_vfs.xCurrentTimeInt64 = v_time64;
  sqlite3_vfs_register(&shim_vfs, 0);
}

static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

const char *kb_vfs_name(void) {
  pthread_once(&shim_once, shim_register);
  return shim_vfs.zName; /* NULL if there was no default VFS */
}

#else

const char *kb_vfs_name(void) {
  return NULL;
}

#endif
