/* fuzz/fuzz_utf8.c -- core/rag_utf8: validation, repair, decode/encode and
** floor on arbitrary bytes. Invariants: repair's output is valid UTF-8 of
** the stated length; valid input comes back unchanged with no
** replacement; first_invalid agrees with valid; every decoded code point
** re-encodes to the same bytes; floor never moves forward and lands on a
** code point start of valid text. */
#include "core/rag_utf8.h"
#include "fuzz/fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  int valid = rag_utf8_valid(s, size);
  size_t fi = rag_utf8_first_invalid(s, size);
  FUZZ_CHECK(fi <= size);
  FUZZ_CHECK(valid == (fi == size));
  if (fi < size)
    FUZZ_CHECK(rag_utf8_valid(s, fi));

  char *out = NULL;
  size_t outlen = 0, nbad = 0;
  if (rag_utf8_repair(s, size, &out, &outlen, &nbad) == RAG_OK) {
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(out[outlen] == '\0');
    FUZZ_CHECK(rag_utf8_valid(out, outlen));
    FUZZ_CHECK(valid == (nbad == 0));
    if (valid)
      FUZZ_CHECK(outlen == size && memcmp(out, s, size) == 0);
    free(out);
  }

  for (size_t i = 0; i < size;) {
    uint32_t cp;
    size_t len = rag_utf8_decode(s + i, size - i, &cp);
    FUZZ_CHECK(len <= 4 && len <= size - i);
    if (!len) {
      i++;
      continue;
    }
    char enc[4];
    FUZZ_CHECK(rag_utf8_encode(cp, enc) == len);
    FUZZ_CHECK(memcmp(enc, s + i, len) == 0);
    i += len;
  }

  for (size_t i = 0; i <= size; i += 1 + i / 8) {
    size_t f = rag_utf8_floor(s, size, i);
    FUZZ_CHECK(f <= i || (i >= size && f == size));
    if (valid && f < size) {
      uint32_t cp;
      FUZZ_CHECK(rag_utf8_decode(s + f, size - f, &cp) > 0 || s[f] == '\0');
    }
  }
  return 0;
}
