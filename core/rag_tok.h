/* core/rag_tok.h -- Lexical tokenizer shared by the hash embedder, the
** local reranker and the term statistics.
** Terms: maximal runs of letters/digits, lowercased (ASCII and the common
** Latin, Greek and Cyrillic ranges), diacritics removed from Latin letters;
** each CJK ideograph, kana or Hangul syllable is a term of its own, so
** bigrams of them act as words. With RAG_TOK_STEM, ASCII words are Porter
** stemmed (the same algorithm as FTS5's porter tokenizer).
** Ownership: callbacks receive pointers valid only during the call.
** Threads:   pure and reentrant. */
#ifndef RAG_TOK_H
#define RAG_TOK_H

#include "core/rag.h"

enum {
  RAG_TOK_STEM = 1,     /* Porter-stem ASCII words */
  RAG_TOK_NOSTOP = 2    /* drop English stopwords (the, of, and, ...) */
};

#define RAG_TOK_MAX 64 /* longer terms are truncated to this many bytes */

/* Called once per term in text order. term is NUL-terminated, normalized,
** len bytes; [start,end) are the byte offsets of the source word. Return
** non-zero to stop early. */
typedef int (*rag_tok_cb)(void *ctx, const char *term, size_t len,
                          size_t start, size_t end);

/* Tokenizes text[0..n) (UTF-8; invalid bytes are treated as separators).
** Returns the number of terms delivered. */
size_t rag_tok_each(const char *text, size_t n, int flags, rag_tok_cb cb,
                    void *ctx);

/* 1 if term (len bytes, lowercase) is an English stopword. */
int rag_tok_is_stopword(const char *term, size_t len);

/* Porter-stems the lowercase ASCII word w[0..*len) in place and updates
** *len. */
void rag_tok_porter(char *w, size_t *len);

#endif
