/* ingest/chunk.h -- Token-aware, heading/paragraph-aware text chunker.
**
** chunk_split() cuts a document's text into pieces of at most
** target_tokens tokens (as counted by opts.tc), preferring, in order:
**   1. sections: with markdown set, each ATX heading (# .. ######, outside
**      ``` / ~~~ fenced code) starts a new piece;
**   2. paragraphs (blank lines), 3. lines and sentences (. ! ? followed by
**      whitespace; the CJK marks U+3002, U+FF01, U+FF1F need none),
**   4. words (whitespace; every CJK character is a word of its own),
**   5. as a last resort, code points. A piece never ends inside a UTF-8
**      sequence.
** Units of the finest level needed are packed greedily. Each piece after
** the first of a section starts with about overlap_tokens tokens taken from
** the end of the previous piece, beginning at a sentence start when that
** gives at least half the overlap, else at a word start; the overlap counts
** toward target_tokens. Overlap never crosses a section (heading) boundary.
** A heading with no text of its own before a deeper heading is kept with
** that subsection ("# Guide\n## Install\n..." is one piece whose heading
** path is "Guide > Install"). A last piece of a section whose new text is
** below min_tokens is merged into the previous piece when the result stays
** within target_tokens + overlap_tokens: the only case where a piece may
** exceed target_tokens.
**
** Offsets: piece [start, end) is a byte range of the input and the piece's
** text is exactly text[start, end), overlap included. body is the offset
** where the text not contained in the previous piece begins: start <= body,
** and body == start for the first piece of a section.
**
** Ownership: chunk_split() returns a malloc'd array whose strings are
**            malloc'd too; release everything with chunk_free().
** Errors:    RAG_BADARG (bad options), RAG_NOMEM; *out is NULL on failure.
** Threads:   pure and reentrant given a thread-safe token counter. */
#ifndef CHUNK_H
#define CHUNK_H

#include "core/rag.h"
#include "core/rag_tokcount.h"

typedef struct chunk_opts {
  size_t target_tokens;   /* maximum tokens per piece; default 500 */
  size_t overlap_tokens;  /* default 50; must be < target_tokens / 2 */
  size_t min_tokens;      /* tail merge threshold; default 50 (0 = never) */
  const rag_tokcount *tc; /* NULL = rag_tokcount_estimate() */
  int markdown;           /* 1: split at # headings and track their path */
} chunk_opts;

/* Defaults: 500 / 50 / 50, estimate counter, markdown on. */
chunk_opts chunk_opts_default(void);

typedef struct chunk_piece {
  size_t start, end; /* byte range of the input; text == input[start,end) */
  size_t body;       /* first byte not already in the previous piece */
  char *text;        /* NUL-terminated copy of input[start,end) */
  size_t ntokens;    /* tc's count of text */
  char *heading;     /* "Intro > Setup"; "" when no heading is in effect */
} chunk_piece;

/* Splits text[0..n) (UTF-8, need not be NUL-terminated) into *nout pieces.
** Empty or whitespace-only input gives *out == NULL, *nout == 0, RAG_OK.
** Deterministic: the same input and options give the same pieces. */
rag_status chunk_split(const char *text, size_t n, const chunk_opts *o,
                       chunk_piece **out, size_t *nout, rag_err *err);

/* Frees the array returned by chunk_split(); chunk_free(NULL, 0) is a
** no-op. */
void chunk_free(chunk_piece *pieces, size_t n);

#endif
