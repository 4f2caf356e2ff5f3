/* llm/llm_answer.h -- The shared middle of a grounded answer: plan the
** route, then assemble the prompt (system + numbered chunks + history +
** question) within the planned models' tightest window, and point the
** call at the result. Used by `ragd ask` style flows and the HTTP chat
** endpoints (api/api_chat.c, api/api_openai.c).
** Ownership: everything lands in the caller's arena; call's strings stay
**            borrowed.
** Errors:    llm_router_plan's and llm_prompt_build's (RAG_BADARG for an
**            unknown model, RAG_TOOBIG when the question cannot fit).
** Threads:   as safe as the router (any thread). */
#ifndef LLM_ANSWER_H
#define LLM_ANSWER_H

#include "core/rag_arena.h"
#include "llm/llm_prompt.h"
#include "llm/llm_router.h"

typedef struct llm_answer_in {
  const llm_prompt_chunk *chunks; /* best first; may be NULL */
  size_t nchunks;
  const llm_msg *history; /* oldest first; may be NULL */
  size_t nhistory;
  const char *system; /* NULL: llm_prompt_default_system */
} llm_answer_in;

/* Plans call (call->question is the question) and builds the prompt;
** sets call->messages, sources and prompt_tokens. The answer's max tokens
** are call->max_tokens when set and smaller than the plan's. */
rag_status llm_answer_prepare(llm_router *r, llm_call *call,
                              const llm_answer_in *in, rag_arena *a,
                              llm_plan *plan, llm_prompt_out *po, rag_err *err);

#endif
