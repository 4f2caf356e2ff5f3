/* llm/llm_prompt.h -- Prompt assembly: system prompt + numbered retrieved
** chunks + conversation history + question, fitted to a model's context.
**
** Layout of the messages:
**   system:    the system prompt, then "\n\nSources:\n\n" and each kept
**              chunk as "[n] title\ntext" separated by blank lines;
**   history:   the kept turns, oldest first, roles as given;
**   user:      the question.
** Budget: context_length - max_output - margin tokens, where margin is
** max(64, 2% of context_length) to absorb the counter's error and the
** chat template's own tokens. Each message costs its content plus
** LLM_PROMPT_MSG_OVERHEAD tokens (role and separators), and the reply
** priming costs LLM_PROMPT_MSG_OVERHEAD more.
** Fitting, in order, until the prompt fits:
**   1. chunks are deduplicated first (same text after whitespace and case
**      folding, or near-identical: word-trigram Jaccard >= 0.9); the
**      better-ranked copy stays;
**   2. the lowest-ranked chunks are dropped, down to the best one;
**   3. the oldest history turns are dropped (a leading assistant turn
**      goes with the user turn before it);
**   4. the best chunk is cut to what still fits (at a word boundary);
**      when nothing of it fits it is dropped.
** When the system prompt and the question alone do not fit, RAG_TOOBIG.
** Kept chunks are numbered 1..n in rank order, so [n] in the text, in
** sources[] and in the answer all agree.
**
** Token counting: llm_prompt_counter() picks the counter for a model --
** the single place that decides between an exact BPE counter and the
** estimate (core/rag_tokcount.h).
**
** Ownership: everything in llm_prompt_out lives in the caller's arena.
** Errors:    RAG_TOOBIG (see above), RAG_NOMEM, RAG_BADARG.
** Threads:   pure functions; safe from many threads. */
#ifndef LLM_PROMPT_H
#define LLM_PROMPT_H

#include "core/rag.h"
#include "core/rag_arena.h"
#include "core/rag_models.h"
#include "core/rag_tokcount.h"
#include "llm/llm.h"

#define LLM_PROMPT_MSG_OVERHEAD 4 /* tokens per chat message (OpenAI's 3-4) */
#define LLM_PROMPT_MIN_MARGIN 64

/* The default system prompt: answer only from the sources, cite as [n]. */
extern const char llm_prompt_default_system[];

/* One retrieved chunk, best first in the input array. */
typedef struct llm_prompt_chunk {
  const char *title; /* may be NULL */
  const char *text;
} llm_prompt_chunk;

typedef struct llm_prompt_in {
  const char *system;             /* NULL: llm_prompt_default_system */
  const llm_prompt_chunk *chunks; /* ranked best first */
  size_t nchunks;
  const llm_msg *history; /* oldest first; may be NULL */
  size_t nhistory;
  const char *question;        /* required */
  int context_length;          /* tokens of the model's window */
  int max_output;              /* tokens reserved for the answer */
  int margin;                  /* tokens; < 0: max(64, 2% of context) */
  const rag_tokcount *counter; /* NULL: the estimate */
} llm_prompt_in;

typedef struct llm_prompt_out {
  llm_msg *msgs; /* system, history..., user */
  size_t nmsgs;
  llm_source *sources; /* kept chunks, index = citation number (1..n) */
  int *source_rank;    /* per kept source: its 0-based index in chunks[] */
  size_t nsources;
  int64_t tokens; /* prompt tokens counted */
  int64_t budget; /* tokens available to the prompt */
  size_t dropped_duplicates, dropped_chunks, dropped_history;
  int truncated; /* 1 when the best chunk was cut to fit */
} llm_prompt_out;

rag_status llm_prompt_build(const llm_prompt_in *in, rag_arena *a,
                            llm_prompt_out *out, rag_err *err);

/* Counter for a model's tokenizer (rag_model_def.tokenizer; NULL or ""
** means none): the exact BPE counter (core/rag_bpe.h) for "cl100k_base"
** and "o200k_base" -- loaded once per process on first use -- else, or
** when the rank files were not fetched, the documented estimate
** (core/rag_tokcount.h). Never NULL; thread-safe. */
const rag_tokcount *llm_prompt_counter(const char *tokenizer);
/* The tokenizer to count a model with: its configured one, else the
** encoding OpenAI uses for that model name (gpt-4o -> o200k_base, gpt-4 ->
** cl100k_base), else NULL (estimate). */
const char *llm_prompt_tokenizer_for(const char *tokenizer, const char *model);

/* Tokens of a message list as llm_prompt_build counts them. */
int64_t llm_prompt_count_msgs(const rag_tokcount *tc, const llm_msg *m,
                              size_t n);

#endif
