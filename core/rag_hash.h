/* core/rag_hash.h -- SHA-256 (content identity) and a fast 64-bit hash
** (feature hashing, hash maps).
** Threads:   all functions are reentrant; a rag_sha256_ctx belongs to one
**            thread at a time. */
#ifndef RAG_HASH_H
#define RAG_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct rag_sha256_ctx {
  uint32_t h[8];
  uint64_t len; /* bytes hashed so far */
  unsigned char buf[64];
  size_t nbuf;
} rag_sha256_ctx;

void rag_sha256_init(rag_sha256_ctx *c);
void rag_sha256_update(rag_sha256_ctx *c, const void *p, size_t n);
void rag_sha256_final(rag_sha256_ctx *c, uint8_t out[32]);
/* One-shot: writes 64 lowercase hex digits and a NUL to hex. */
void rag_sha256_hex(const void *p, size_t n, char hex[65]);
/* Hex of a file's contents; returns 0, or -1 with errno set. */
int rag_sha256_file_hex(const char *path, char hex[65]);

/* 64-bit non-cryptographic hash (stable across runs, platforms and
** versions: stored data depends on it). */
uint64_t rag_hash64(const void *p, size_t n, uint64_t seed);

#endif
