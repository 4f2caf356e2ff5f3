/* core/rag_buf.h -- Growing byte buffer with a hard cap (curl's dynbuf).
** Ownership: the buffer owns its memory; rag_buf_free() releases it and
**            rag_buf_detach() hands it to the caller (free() it).
** Errors:    appends return RAG_TOOBIG past the cap and RAG_NOMEM when
**            malloc fails; the contents are then unchanged.
** Threads:   one thread at a time per buffer. */
#ifndef RAG_BUF_H
#define RAG_BUF_H

#include "core/rag.h"

typedef struct rag_buf {
  char *data;  /* NUL-terminated when len > 0 or after any append */
  size_t len;  /* bytes used, excluding the terminator */
  size_t size; /* bytes allocated */
  size_t cap;  /* maximum len; 0 means SIZE_MAX/2 */
} rag_buf;

/* Initializes an empty buffer that may grow to cap bytes (0 = no cap). */
void rag_buf_init(rag_buf *b, size_t cap);
void rag_buf_free(rag_buf *b);
/* Sets len to 0, keeping the allocation. */
void rag_buf_reset(rag_buf *b);
/* Makes room for n more bytes (one allocation ahead of many appends);
** the contents do not change. RAG_TOOBIG past the cap, RAG_NOMEM. */
rag_status rag_buf_reserve(rag_buf *b, size_t n);
rag_status rag_buf_append(rag_buf *b, const void *p, size_t n);
rag_status rag_buf_puts(rag_buf *b, const char *s);
rag_status rag_buf_putc(rag_buf *b, char c);
rag_status rag_buf_printf(rag_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Writes v in decimal at out (at most 20 bytes, no NUL); returns the
** bytes written. snprintf's "%lld" costs ~1,500 instructions, a loop of
** divisions by ten a tenth of that: reply writers and SQL parameter lists
** print numbers per hit. */
size_t rag_fmt_i64(char *out, int64_t v);
/* Appends v in decimal. */
rag_status rag_buf_put_i64(rag_buf *b, int64_t v);

/* Returns the data (NUL-terminated, never NULL: "" when empty) and leaves
** b empty; the caller frees it. Returns NULL only on allocation failure. */
char *rag_buf_detach(rag_buf *b);

/* Reads a whole file into b (appending). RAG_TOOBIG past b's cap,
** RAG_IO with the errno text otherwise. */
rag_status rag_buf_read_file(rag_buf *b, const char *path, rag_err *err);

#endif
