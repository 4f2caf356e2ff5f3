/* llm/llm.h -- LLM providers: a vtable per wire format, chosen by the
** provider's kind. Built in: "extractive" (answers with the best supporting
** sentences of the retrieved chunks and their citations, no model, no
** network) and "fake" (tests). Remote: "openai" (chat completions, and every
** OpenAI-compatible server), "azure" (Azure OpenAI deployments), "anthropic"
** (Messages API), "ollama" (/api/chat, NDJSON streaming).
**
** A provider instance starts with `const llm_vtab *vt` (the base struct).
** Streaming: when req->on_delta is set the provider streams and calls it
** with each text delta in order; resp->text still receives the whole
** answer. Usage: resp->tokens_in/out come from the provider's usage report
** (OpenAI: stream_options.include_usage; Anthropic: message_start and
** message_delta; Ollama: prompt_eval_count/eval_count); when a provider
** reports none they are counted locally and usage_exact is 0.
**
** Ownership: llm_open/llm_close; llm_response owns its strings
**            (llm_response_free). Request strings are borrowed.
** Errors:    RAG_UPSTREAM (the provider answered with an error, message
**            includes its HTTP status and error text, never the key),
**            RAG_TIMEOUT, RAG_IO (connection), RAG_BADARG (bad request:
**            never retried), RAG_CORRUPT (unparsable reply).
** Threads:   one thread at a time per instance (it holds one HTTP client);
**            open one instance per thread. */
#ifndef LLM_H
#define LLM_H

#include "core/rag.h"
#include "core/rag_http.h"
#include "core/rag_models.h"

typedef struct llm_msg {
  const char *role;    /* "system", "user" or "assistant" */
  const char *content; /* UTF-8 */
} llm_msg;

/* A retrieved chunk given to the model; cited as [index]. */
typedef struct llm_source {
  int index;         /* 1-based citation number */
  const char *title; /* may be NULL */
  const char *text;
} llm_source;

typedef struct llm_request {
  const char *model; /* upstream model id (rag_model_def.model) */
  const llm_msg *messages;
  size_t nmessages;
  int max_tokens;     /* <= 0: the model's max_output */
  double temperature; /* < 0: provider default */
  /* Streaming: called with each text delta, in order. Non-OK aborts. */
  rag_status (*on_delta)(void *ctx, const char *text, size_t n);
  void *ctx;
  /* The retrieved chunks (also already rendered into the messages by
  ** prompt assembly); the extractive answerer reads these directly. */
  const llm_source *sources;
  size_t nsources;
  const char *question; /* the user's question (extractive) */
} llm_request;

typedef struct llm_response {
  char *text; /* whole answer (malloc'd, never NULL on OK) */
  int64_t tokens_in;
  int64_t tokens_out;
  int usage_exact;        /* 1 when the provider reported usage */
  char finish_reason[32]; /* "stop", "length", "end_turn", ... */
  char model[128];        /* model the provider says answered */
  int http_attempts;      /* attempts the HTTP client made */
} llm_response;

void llm_response_init(llm_response *r);
void llm_response_free(llm_response *r);

typedef struct llm_provider llm_provider;
typedef struct llm_vtab {
  int version;      /* 1 */
  const char *kind; /* "openai", "azure", "anthropic", "ollama",
                       "extractive", "fake" */
  /* Required. p: the provider definition (borrowed for the instance's
  ** life); http options derived from it. */
  rag_status (*open)(const rag_provider_def *p, const rag_http_opts *http,
                     llm_provider **out, rag_err *err);
  /* Required. Blocking call; streams when req->on_delta is set. */
  rag_status (*chat)(llm_provider *p, const llm_request *req,
                     llm_response *resp, rag_err *err);
  void (*close)(llm_provider *p); /* Required */
  /* Can be NULL. Cheapest call that proves the credentials work for
  ** model (e.g. GET /models or a 1-token completion). */
  rag_status (*check)(llm_provider *p, const char *model, rag_err *err);
} llm_vtab;

struct llm_provider {
  const llm_vtab *vt; /* public, read-only */
};

/* Static table lookup by kind; NULL if none. */
const llm_vtab *llm_find(const char *kind);
/* Opens the provider of definition p (by p->kind). http may be NULL
** (defaults with p's timeout and retries). */
rag_status llm_open(const rag_provider_def *p, const rag_http_opts *http,
                    llm_provider **out, rag_err *err);
void llm_close(llm_provider *p);
rag_status llm_chat(llm_provider *p, const llm_request *req, llm_response *resp,
                    rag_err *err);
/* RAG_UNSUPPORTED when the provider has no check. */
rag_status llm_check(llm_provider *p, const char *model, rag_err *err);

#endif
