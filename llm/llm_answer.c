/* llm/llm_answer.c -- Plan + prompt assembly for a grounded answer; see
** llm_answer.h. */
#include "llm/llm_answer.h"

#include <string.h>

rag_status llm_answer_prepare(llm_router *r, llm_call *call,
                              const llm_answer_in *in, rag_arena *a,
                              llm_plan *plan, llm_prompt_out *po,
                              rag_err *err) {
  rag_status rc = llm_router_plan(r, call, plan, err);
  if (rc)
    return rc;
  llm_prompt_in pin;
  memset(&pin, 0, sizeof(pin));
  pin.system = in->system;
  pin.chunks = in->chunks;
  pin.nchunks = in->nchunks;
  pin.history = in->history;
  pin.nhistory = in->nhistory;
  pin.question = call->question;
  pin.context_length = plan->context_length;
  pin.max_output = call->max_tokens > 0 && call->max_tokens < plan->max_output
                       ? call->max_tokens
                       : plan->max_output;
  pin.margin = -1;
  pin.counter = llm_prompt_counter(plan->tokenizer);
  rc = llm_prompt_build(&pin, a, po, err);
  if (rc)
    return rc;
  call->messages = po->msgs;
  call->nmessages = po->nmsgs;
  call->sources = po->sources;
  call->nsources = po->nsources;
  call->prompt_tokens = po->tokens;
  return RAG_OK;
}
