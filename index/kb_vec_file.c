/* index/kb_vec_file.c -- The vectors-<model>.faiss file of kb_vec:
** format, atomic save, verified load. See index/kb_vec.h for the contract
** and kb_vec_int.h for the shared struct. */
#include "index/kb_vec_int.h"

#include "core/rag_fault.h"
#include "core/rag_hash.h"

#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_io_c.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Layout (integers little-endian):
**    0  magic "RAGDVEC\0"                    8 bytes
**    8  format version, u32 (VEC_VERSION)
**   12  flags, u32: 1 = staging Flat index, 2 = tombstone mode
**   16  KB generation the index reflects, i64
**   24  dimension, i32
**   28  factory string length, u32 (<= MAX_FACTORY)
**   32  tombstone count, u64
**   40  payload length, u64
**   48  checksum, u64: rag_hash64 chained over bytes [8, 48), then the
**       factory and tombstones, then the payload in HASH_PIECE pieces
**   56  factory (no NUL), tombstone positions (i64 each), payload
** The payload is faiss_write_index's bytes. Everything is checked before
** FAISS parses a byte of it, so a damaged file cannot reach FAISS's
** reader (which trusts its input). */
#define VEC_MAGIC "RAGDVEC"
#define VEC_VERSION 1u
#define HDR_SIZE 56
#define HASH_PIECE ((size_t)1 << 20)
#define FLAG_STAGING 1u
#define FLAG_TOMB 2u

static void put_u32(unsigned char *p, uint32_t x) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(x >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t x) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(x >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t x = 0;
  for (int i = 3; i >= 0; i--)
    x = (x << 8) | p[i];
  return x;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--)
    x = (x << 8) | p[i];
  return x;
}

/* Chains the payload's pieces into h, reading from fd at off (pread, so
** it works on a file still open for writing) or from f when fd < 0. */
static int hash_payload(int fd, FILE *f, off_t off, uint64_t len, uint64_t *h) {
  unsigned char *buf = malloc(HASH_PIECE);
  if (!buf)
    return -1;
  while (len > 0) {
    size_t want = len < HASH_PIECE ? (size_t)len : HASH_PIECE;
    size_t got = 0;
    while (got < want) {
      ssize_t r = fd >= 0 ? pread(fd, buf + got, want - got, off + got)
                          : (ssize_t)fread(buf + got, 1, want - got, f);
      if (r <= 0) {
        free(buf);
        return -1;
      }
      got += (size_t)r;
    }
    *h = rag_hash64(buf, want, *h);
    off += (off_t)want;
    len -= want;
  }
  free(buf);
  return 0;
}

/* Serializes the header, the factory and the tombstones. *out is malloc'd;
** payload length and checksum are filled in later. */
static unsigned char *make_header(const kb_vec *v, int64_t gen, size_t *len) {
  size_t flen = strlen(v->factory);
  size_t n = HDR_SIZE + flen + 8 * (size_t)v->ntomb;
  unsigned char *h = calloc(1, n);
  if (!h)
    return NULL;
  memcpy(h, VEC_MAGIC, 8);
  put_u32(h + 8, VEC_VERSION);
  put_u32(h + 12,
          (v->staging ? FLAG_STAGING : 0) | (v->tomb_mode ? FLAG_TOMB : 0));
  put_u64(h + 16, (uint64_t)gen);
  put_u32(h + 24, (uint32_t)v->dim);
  put_u32(h + 28, (uint32_t)flen);
  put_u64(h + 32, (uint64_t)v->ntomb);
  memcpy(h + HDR_SIZE, v->factory, flen);
  unsigned char *t = h + HDR_SIZE + flen;
  for (size_t pos = 0; pos < v->tomb_cap; pos++)
    if (kb_vec_tomb_has(v, (int64_t)pos)) {
      put_u64(t, pos);
      t += 8;
    }
  *len = n;
  return h;
}

/* Fault points (core/rag_fault.h): each returns non-zero with errno set,
** as the real call it stands before would. Constant 0 in normal builds. */
#define FAULT(op) (rag_fault_check(op) != 0)

static rag_status fsync_dir(const char *path, rag_err *err) {
  char *dir = rag_strdup(path);
  if (!dir)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
  rag_status rc = RAG_OK;
  if (fd < 0 || FAULT(RAG_FAULT_VEC_SYNC) || fsync(fd) != 0)
    rc = rag_fail(err, RAG_IO, "kb_vec: fsync the folder of %s: %s", path,
                  strerror(errno));
  if (fd >= 0)
    close(fd);
  free(dir);
  return rc;
}

/* Writes the file atomically: temp file in the same directory, fsync,
** rename, fsync of the directory (so the rename itself survives a crash).
** Caller holds wmu, which keeps v->idx and the tombstones still. */
rag_status kb_vec_save_locked(kb_vec *v, int64_t gen, rag_err *err) {
  size_t hlen = 0, plen = strlen(v->path) + 16;
  unsigned char *hdr = make_header(v, gen, &hlen);
  char *tmp = malloc(plen);
  if (!hdr || !tmp) {
    free(hdr);
    free(tmp);
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  }
  snprintf(tmp, plen, "%s.tmp-XXXXXX", v->path);
  rag_status rc = RAG_OK;
  FILE *f = NULL;
  int fd = FAULT(RAG_FAULT_VEC_OPEN) ? -1 : mkstemp(tmp);
  if (fd < 0) {
    rc = rag_fail(err, RAG_IO, "kb_vec: create %s: %s", tmp, strerror(errno));
    goto out;
  }
  f = fdopen(fd, "w+b");
  if (!f) {
    rc = rag_fail(err, RAG_IO, "kb_vec: fdopen %s: %s", tmp, strerror(errno));
    close(fd);
    goto fail;
  }
  fchmod(fd, 0644); /* mkstemp's 0600 would hide the index from peers */
  if (FAULT(RAG_FAULT_VEC_WRITE) || fwrite(hdr, 1, hlen, f) != hlen) {
    rc = rag_fail(err, RAG_IO, "kb_vec: write %s: %s", tmp, strerror(errno));
    goto fail;
  }
  /* FAISS reports a failed fwrite as an exception without errno; ferror
  ** and errno still tell what the OS said. */
  errno = 0;
  if (FAULT(RAG_FAULT_VEC_WRITE) || faiss_write_index(v->idx, f)) {
    int e = errno;
    const char *m = faiss_get_last_error();
    rc = rag_fail(err, RAG_IO, "kb_vec: write index to %s: %s", tmp,
                  e ? strerror(e) : (m ? m : "FAISS write failed"));
    goto fail;
  }
  struct stat st;
  if (FAULT(RAG_FAULT_VEC_WRITE) || fflush(f) != 0 || fstat(fd, &st) != 0) {
    rc = rag_fail(err, RAG_IO, "kb_vec: write %s: %s", tmp, strerror(errno));
    goto fail;
  }
  uint64_t payload = (uint64_t)st.st_size - hlen;
  put_u64(hdr + 40, payload);
  uint64_t h = rag_hash64(hdr + 8, 40, 0);
  h = rag_hash64(hdr + HDR_SIZE, hlen - HDR_SIZE, h);
  if (hash_payload(fd, NULL, (off_t)hlen, payload, &h) != 0) {
    rc = rag_fail(err, RAG_IO, "kb_vec: read back %s failed", tmp);
    goto fail;
  }
  put_u64(hdr + 48, h);
  if (FAULT(RAG_FAULT_VEC_WRITE) || pwrite(fd, hdr + 40, 16, 40) != 16 ||
      FAULT(RAG_FAULT_VEC_SYNC) || fsync(fd) != 0) {
    rc = rag_fail(err, RAG_IO, "kb_vec: write %s: %s", tmp, strerror(errno));
    goto fail;
  }
  int cerr = fclose(f);
  f = NULL;
  if (cerr != 0) {
    rc = rag_fail(err, RAG_IO, "kb_vec: close %s: %s", tmp, strerror(errno));
    goto fail;
  }
  if (FAULT(RAG_FAULT_VEC_RENAME) || rename(tmp, v->path) != 0) {
    rc = rag_fail(err, RAG_IO, "kb_vec: rename %s to %s: %s", tmp, v->path,
                  strerror(errno));
    goto fail;
  }
  rc = fsync_dir(v->path, err);
  goto out;
fail:
  if (f)
    fclose(f);
  unlink(tmp);
out:
  free(hdr);
  free(tmp);
  return rc;
}

/* Loads v->path into v when it is intact and current. Returns 0 when
** loaded; otherwise -1 with why set to the reason for the log line
** ("missing", "stale (...)", "corrupt (...)"). Only used by kb_vec_open,
** before v is shared. */
int kb_vec_load_file(kb_vec *v, int64_t kb_gen, char *why, size_t nwhy) {
  unsigned char hdr[HDR_SIZE];
  unsigned char *extra = NULL;
  FaissIndex *idx = NULL;
  struct stat st;
  FILE *f = fopen(v->path, "rb");
  if (!f) {
    if (errno == ENOENT)
      snprintf(why, nwhy, "missing");
    else
      snprintf(why, nwhy, "unreadable (%s)", strerror(errno));
    return -1;
  }
  if (fstat(fileno(f), &st) != 0 || st.st_size < HDR_SIZE ||
      fread(hdr, 1, HDR_SIZE, f) != HDR_SIZE) {
    snprintf(why, nwhy, "corrupt (truncated header)");
    goto fail;
  }
  if (memcmp(hdr, VEC_MAGIC, 8) != 0) {
    snprintf(why, nwhy, "corrupt (bad magic)");
    goto fail;
  }
  uint32_t version = get_u32(hdr + 8), flags = get_u32(hdr + 12);
  int64_t gen = (int64_t)get_u64(hdr + 16);
  int32_t dim = (int32_t)get_u32(hdr + 24);
  uint32_t flen = get_u32(hdr + 28);
  uint64_t ntomb = get_u64(hdr + 32), plen = get_u64(hdr + 40);
  uint64_t sum = get_u64(hdr + 48), size = (uint64_t)st.st_size;
  if (version != VEC_VERSION) {
    snprintf(why, nwhy, "stale (format version %u, want %u)", version,
             VEC_VERSION);
    goto fail;
  }
  if (flen > MAX_FACTORY || ntomb > size / 8 ||
      HDR_SIZE + flen + 8 * ntomb + plen != size) {
    snprintf(why, nwhy, "corrupt (size %llu does not match its header)",
             (unsigned long long)size);
    goto fail;
  }
  size_t elen = flen + 8 * (size_t)ntomb;
  extra = malloc(elen ? elen : 1);
  if (!extra || fread(extra, 1, elen, f) != elen) {
    snprintf(why, nwhy, "corrupt (short read)");
    goto fail;
  }
  uint64_t h = rag_hash64(hdr + 8, 40, 0);
  h = rag_hash64(extra, elen, h);
  if (hash_payload(-1, f, 0, plen, &h) != 0 || h != sum) {
    snprintf(why, nwhy, "corrupt (checksum mismatch)");
    goto fail;
  }
  if (gen != kb_gen) {
    snprintf(why, nwhy, "stale (gen %lld, kb gen %lld)", (long long)gen,
             (long long)kb_gen);
    goto fail;
  }
  if (flen != strlen(v->factory) || memcmp(extra, v->factory, flen) != 0) {
    snprintf(why, nwhy, "stale (factory \"%.*s\", want \"%s\")", (int)flen,
             (const char *)extra, v->factory);
    goto fail;
  }
  if (dim != v->dim) {
    snprintf(why, nwhy, "stale (dim %d, want %d)", (int)dim, v->dim);
    goto fail;
  }
  if (fseeko(f, (off_t)(HDR_SIZE + elen), SEEK_SET) != 0 ||
      faiss_read_index(f, 0, &idx) != 0) {
    const char *m = faiss_get_last_error();
    snprintf(why, nwhy, "corrupt (%.200s)", m ? m : "unreadable index");
    idx = NULL;
    goto fail;
  }
  int staging = (flags & FLAG_STAGING) != 0;
  int tomb = (flags & FLAG_TOMB) != 0 || v->tomb_mode;
  if (faiss_Index_d(idx) != v->dim ||
      faiss_Index_metric_type(idx) != METRIC_INNER_PRODUCT ||
      ((staging || tomb) && !faiss_IndexIDMap_cast(idx)) ||
      !faiss_Index_is_trained(idx)) {
    snprintf(why, nwhy, "corrupt (index does not match its header)");
    goto fail;
  }
  int64_t ntotal = faiss_Index_ntotal(idx);
  v->tomb_mode = tomb;
  if (tomb && kb_vec_tomb_reserve(v, ntotal, NULL) != RAG_OK) {
    snprintf(why, nwhy, "unloadable (out of memory)");
    goto fail;
  }
  for (uint64_t i = 0; i < ntomb; i++) {
    int64_t pos = (int64_t)get_u64(extra + flen + 8 * i);
    if (!tomb || pos < 0 || pos >= ntotal || kb_vec_tomb_has(v, pos)) {
      snprintf(why, nwhy, "corrupt (bad tombstone)");
      kb_vec_tomb_clear(v);
      goto fail;
    }
    v->tomb[pos >> 3] |= (uint8_t)(1u << (pos & 7));
    v->ntomb++;
  }
  kb_vec_apply_params(v, idx, staging);
  v->idx = idx;
  v->staging = staging;
  free(extra);
  fclose(f);
  return 0;
fail:
  if (idx)
    faiss_Index_free(idx);
  free(extra);
  fclose(f);
  return -1;
}
