/* core/rag_utf8.h -- UTF-8 validation, repair and boundary helpers.
** Ownership: rag_utf8_repair() returns a malloc'd string (free()).
** Threads:   all functions are pure and reentrant. */
#ifndef RAG_UTF8_H
#define RAG_UTF8_H

#include "core/rag.h"

/* Decodes one code point at s (n bytes available). Returns the sequence
** length 1..4 and sets *cp, or 0 for an invalid/overlong/surrogate/truncated
** sequence (then *cp is undefined). */
size_t rag_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes cp into out (4 bytes); returns the length, 0 if cp is invalid. */
size_t rag_utf8_encode(uint32_t cp, char out[4]);
/* 1 when s[0..n) is entirely valid UTF-8 (NUL bytes count as invalid). */
int rag_utf8_valid(const char *s, size_t n);
/* Offset of the first invalid byte, or n when all valid. */
size_t rag_utf8_first_invalid(const char *s, size_t n);
/* Copies s with each maximal invalid subsequence (and NUL bytes) replaced
** by U+FFFD, following the WHATWG/Unicode "substitution of maximal
** subparts" practice. *out is NUL-terminated; *nbad counts replacements.
** RAG_NOMEM on allocation failure (*out NULL). */
rag_status rag_utf8_repair(const char *s, size_t n, char **out, size_t *outlen,
                           size_t *nbad);
/* Largest offset <= i that starts a code point (or equals n). Use it to cut
** text without splitting a sequence. */
size_t rag_utf8_floor(const char *s, size_t n, size_t i);

#endif
