/* fuzz/fuzz.h -- What the harnesses share: a byte reader that splits a
** fuzzer input into choices and pieces (FuzzedDataProvider in C) and a
** check that aborts loudly, so a broken invariant is a crash the fuzzer
** keeps.
** Threads: one reader per input. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

/* One byte (0 when the input is used up). */
static inline unsigned fuzz_byte(fuzz_in *in) {
  if (!in->n)
    return 0;
  in->n--;
  return *in->p++;
}

/* A NUL-terminated malloc'd copy of the rest (free()); NULL on OOM. */
static inline char *fuzz_rest_str(fuzz_in *in, size_t *len) {
  char *s = malloc(in->n + 1);
  if (!s)
    return NULL;
  for (size_t i = 0; i < in->n; i++)
    s[i] = (char)in->p[i];
  s[in->n] = '\0';
  if (len)
    *len = in->n;
  in->p += in->n;
  in->n = 0;
  return s;
}

#endif
