/* core/rag.h -- Status codes, the error buffer, and small shared helpers.
** Ownership: rag_err is a caller-owned value; nothing here allocates except
**            rag_strdup/rag_strndup (free with free()).
** Errors:    every fallible call in ragd returns rag_status and fills a
**            caller-provided rag_err; the first failure wins (like curl's
**            Curl_failf), so the deepest, most specific message survives.
** Threads:   all functions are reentrant; a rag_err must not be shared
**            between threads. */
#ifndef RAG_H
#define RAG_H

#include <stddef.h>
#include <stdint.h>

#define RAG_VERSION "0.1.0"

/* Append only: the numeric values reach logs, exit codes and HTTP. */
#define RAG_STATUS_MAP(X)                                                      \
  X(OK, "success")                                                             \
  X(NOMEM, "out of memory")                                                    \
  X(BADARG, "invalid argument")                                                \
  X(TOOBIG, "input exceeds a configured limit")                                \
  X(IO, "file, SQLite or FAISS error")                                         \
  X(UPSTREAM, "embedding or LLM provider failed")                              \
  X(TIMEOUT, "deadline exceeded")                                              \
  X(NOTFOUND, "not found")                                                     \
  X(CORRUPT, "stored data is corrupt")                                         \
  X(UNSUPPORTED, "unsupported input or operation")                             \
  X(BUSY, "too much work queued; retry later")

typedef enum {
#define X(name, text) RAG_##name,
  RAG_STATUS_MAP(X)
#undef X
} rag_status;

typedef struct rag_err {
  rag_status code;
  char msg[256]; /* first failure wins; one line, no newline */
} rag_err;

/* Records a failure in e (if e is non-NULL and holds no failure yet) and
** returns code, so callers can write `return rag_fail(err, ...)`. */
rag_status rag_fail(rag_err *e, rag_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Resets e to RAG_OK with an empty message. */
void rag_err_clear(rag_err *e);

/* Static text for a status ("out of memory"); never NULL. */
const char *rag_status_str(rag_status code);
/* Static short name for a status ("NOMEM"); never NULL. */
const char *rag_status_name(rag_status code);

/* strdup/strndup that return NULL on allocation failure; free() the result.
** rag_strdup(NULL) returns NULL. */
char *rag_strdup(const char *s);
char *rag_strndup(const char *s, size_t n);

/* Monotonic clock in seconds, for latency figures (not wall time). */
double rag_now(void);

/* Parses a whole decimal integer / double; returns 0 on success, -1 when s
** is not entirely a number or is out of range (replaces atoi/atof). */
int rag_parse_i64(const char *s, int64_t *out);
int rag_parse_double(const char *s, double *out);

#endif
