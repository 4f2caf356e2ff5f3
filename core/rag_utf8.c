/* core/rag_utf8.c -- UTF-8 validation, repair and boundary helpers.
**
** One table-free decoder (scan()) serves every function, so validation,
** repair and boundary search can never disagree. It follows Unicode 15
** table 3-7 (well-formed byte sequences): the second byte's range depends
** on the lead byte, which rejects overlongs (C0, C1, E0 80..9F, F0 80..8F),
** surrogates (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF)
** at the earliest possible byte. That early rejection is what makes the
** "maximal subpart" rule of the WHATWG decoder fall out naturally: an
** ill-formed sequence is replaced by one U+FFFD covering the longest prefix
** that could still have started a valid sequence, and the byte that broke
** it is examined again as a possible lead byte. */
#include "core/rag_utf8.h"

#include <stdlib.h>
#include <string.h>

/* Examines the sequence at s[0..n). On a valid sequence returns its length
** and sets *cp. On an ill-formed one returns 0 and sets *bad to the length
** of its maximal subpart (>= 1): the bytes to replace with one U+FFFD.
** NUL is valid Unicode, but ragd treats it as invalid: it truncates C
** strings and signals binary data. */
static size_t scan(const unsigned char *s, size_t n, uint32_t *cp,
                   size_t *bad) {
  unsigned char b0 = s[0];
  *bad = 1;
  if (b0 < 0x80) {
    if (b0 == 0)
      return 0;
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t c;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    c = b0 & 0x0F;
    if (b0 == 0xE0)
      lo = 0xA0; /* overlong below U+0800 */
    else if (b0 == 0xED)
      hi = 0x9F; /* surrogates U+D800..DFFF */
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    c = b0 & 0x07;
    if (b0 == 0xF0)
      lo = 0x90; /* overlong below U+10000 */
    else if (b0 == 0xF4)
      hi = 0x8F; /* above U+10FFFF */
  } else {
    return 0; /* continuation byte, C0/C1 or F5..FF: never a lead */
  }
  for (size_t i = 1; i < len; i++) {
    if (i >= n)
      return 0; /* truncated: *bad already covers the valid prefix */
    unsigned char b = s[i];
    unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h)
      return 0;
    c = (c << 6) | (b & 0x3F);
    *bad = i + 1;
  }
  *cp = c;
  return len;
}

size_t rag_utf8_decode(const char *s, size_t n, uint32_t *cp) {
  size_t bad;
  uint32_t c = 0;
  if (n == 0)
    return 0;
  size_t len = scan((const unsigned char *)s, n, &c, &bad);
  if (len && cp)
    *cp = c;
  return len;
}

size_t rag_utf8_encode(uint32_t cp, char out[4]) {
  if (cp >= 0xD800 && cp <= 0xDFFF)
    return 0;
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  if (cp <= 0x10FFFF) {
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
  }
  return 0;
}

size_t rag_utf8_first_invalid(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, bad;
  uint32_t cp;
  while (i < n) {
    /* ASCII fast path: most text is mostly ASCII. */
    if (u[i] < 0x80 && u[i] != 0) {
      i++;
      continue;
    }
    size_t len = scan(u + i, n - i, &cp, &bad);
    if (!len)
      return i;
    i += len;
  }
  return n;
}

int rag_utf8_valid(const char *s, size_t n) {
  return rag_utf8_first_invalid(s, n) == n;
}

rag_status rag_utf8_repair(const char *s, size_t n, char **out, size_t *outlen,
                           size_t *nbad) {
  const unsigned char *u = (const unsigned char *)s;
  *out = NULL;
  if (outlen)
    *outlen = 0;
  if (nbad)
    *nbad = 0;
  /* Worst case: every byte becomes U+FFFD (3 bytes). */
  if (n > (SIZE_MAX - 1) / 3)
    return RAG_NOMEM;
  char *o = malloc(n * 3 + 1);
  if (!o)
    return RAG_NOMEM;
  size_t i = 0, j = 0, count = 0, bad;
  uint32_t cp;
  while (i < n) {
    size_t len = scan(u + i, n - i, &cp, &bad);
    if (len) {
      memcpy(o + j, s + i, len);
      j += len;
      i += len;
    } else {
      memcpy(o + j, "\xEF\xBF\xBD", 3);
      j += 3;
      i += bad;
      count++;
    }
  }
  o[j] = '\0';
  /* Give back the slack of the worst-case allocation. */
  char *shrunk = realloc(o, j + 1);
  *out = shrunk ? shrunk : o;
  if (outlen)
    *outlen = j;
  if (nbad)
    *nbad = count;
  return RAG_OK;
}

size_t rag_utf8_floor(const char *s, size_t n, size_t i) {
  const unsigned char *u = (const unsigned char *)s;
  if (i >= n)
    return n;
  if ((u[i] & 0xC0) != 0x80)
    return i;
  /* i is a continuation byte: find the lead at most 3 bytes back and keep
  ** it only if its sequence really covers i; otherwise i sits in an
  ** ill-formed run, where every byte is its own cut point. */
  size_t j = i;
  while (j > 0 && i - j < 3 && (u[j] & 0xC0) == 0x80)
    j--;
  uint32_t cp;
  size_t bad;
  size_t len = scan(u + j, n - j, &cp, &bad);
  if (len && j + len > i)
    return j;
  return i;
}
