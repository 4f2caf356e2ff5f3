/* core/rag_arena.c -- Bump allocator: a singly linked list of blocks.
** Blocks grow geometrically so a request that builds a large prompt does
** not pay one malloc per small string. */
#include "core/rag_arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_FIRST_BLOCK 4096

typedef struct block {
  struct block *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  _Alignas(ARENA_ALIGN) unsigned char data[];
} block;

struct rag_arena {
  block *head; /* current block; older blocks follow */
  size_t cap;  /* 0 = unlimited */
  size_t used; /* bytes handed out */
};

rag_arena *rag_arena_new(size_t cap) {
  rag_arena *a = calloc(1, sizeof(*a));
  if (!a)
    return NULL;
  a->cap = cap;
  return a;
}

void rag_arena_free(rag_arena *a) {
  if (!a)
    return;
  block *b = a->head;
  while (b) {
    block *next = b->next;
    free(b);
    b = next;
  }
  free(a);
}

void rag_arena_reset(rag_arena *a) {
  if (!a || !a->head)
    return;
  /* Keep only the largest (most recent) block. */
  block *keep = a->head, *b = keep->next;
  while (b) {
    block *next = b->next;
    free(b);
    b = next;
  }
  keep->next = NULL;
  keep->used = 0;
  a->head = keep;
  a->used = 0;
}

void *rag_arena_alloc(rag_arena *a, size_t n) {
  if (!a)
    return NULL;
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need < n)
    return NULL;
  if (a->cap && (need > a->cap || a->used > a->cap - need))
    return NULL;
  block *b = a->head;
  if (!b || b->size - b->used < need) {
    size_t sz = b ? b->size * 2 : ARENA_FIRST_BLOCK;
    while (sz < need)
      sz *= 2;
    block *nb = malloc(sizeof(block) + sz);
    if (!nb)
      return NULL;
    nb->next = b;
    nb->size = sz;
    nb->used = 0;
    a->head = nb;
    b = nb;
  }
  void *p = b->data + b->used;
  b->used += need;
  a->used += need;
  return p;
}

void *rag_arena_calloc(rag_arena *a, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size)
    return NULL;
  void *p = rag_arena_alloc(a, count * size);
  if (p)
    memset(p, 0, count * size);
  return p;
}

char *rag_arena_strndup(rag_arena *a, const char *s, size_t n) {
  if (!s)
    return NULL;
  char *p = rag_arena_alloc(a, n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *rag_arena_strdup(rag_arena *a, const char *s) {
  return s ? rag_arena_strndup(a, s, strlen(s)) : NULL;
}

char *rag_arena_printf(rag_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *p = rag_arena_alloc(a, (size_t)n + 1);
  if (!p)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

size_t rag_arena_used(const rag_arena *a) {
  return a ? a->used : 0;
}
