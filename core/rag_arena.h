/* core/rag_arena.h -- Bump allocator for per-request and per-batch scratch.
** Ownership: everything allocated from an arena is freed at once by
**            rag_arena_free() (or rag_arena_reset(), which keeps the first
**            block for reuse). Never free() arena memory.
** Errors:    allocation returns NULL when malloc fails or the arena's cap
**            is reached.
** Threads:   an arena belongs to one thread at a time. */
#ifndef RAG_ARENA_H
#define RAG_ARENA_H

#include <stddef.h>

typedef struct rag_arena rag_arena;

/* Creates an arena whose total allocations may not exceed cap bytes
** (0 = no cap). Returns NULL on allocation failure. */
rag_arena *rag_arena_new(size_t cap);
/* Frees the arena and all its allocations. rag_arena_free(NULL) is a no-op. */
void rag_arena_free(rag_arena *a);
/* Forgets all allocations; memory blocks are kept for reuse. */
void rag_arena_reset(rag_arena *a);

/* n bytes aligned for any type; NULL on failure. Contents undefined. */
void *rag_arena_alloc(rag_arena *a, size_t n);
/* Like rag_arena_alloc but zeroed; overflow-checked count*size. */
void *rag_arena_calloc(rag_arena *a, size_t count, size_t size);
/* Copies of strings in the arena; NULL s gives NULL. */
char *rag_arena_strdup(rag_arena *a, const char *s);
char *rag_arena_strndup(rag_arena *a, const char *s, size_t n);
/* printf into the arena. */
char *rag_arena_printf(rag_arena *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Total bytes handed out since creation or the last reset. */
size_t rag_arena_used(const rag_arena *a);

#endif
