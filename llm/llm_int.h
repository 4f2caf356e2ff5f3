/* llm/llm_int.h -- Private to llm/: the provider vtables and the helpers
** the remote providers share (HTTP client setup, headers, error mapping,
** answer accumulation, local usage estimate).
** Ownership: llm_hdrs and llm_acc own their memory (*_free).
** Errors:    rag_status + rag_err, as in llm.h.
** Threads:   every helper works on caller-owned state only. */
#ifndef LLM_INT_H
#define LLM_INT_H

#include "core/rag_buf.h"
#include "core/rag_http.h"
#include "llm/llm.h"

#include <cjson/cJSON.h>

/* Caps on what the network may hand us: the longest answer we keep and
** the longest single SSE event / NDJSON line. Both are far above any real
** completion (a 128k-token answer is ~512 KiB). */
#define LLM_MAX_ANSWER (8u << 20)
#define LLM_MAX_EVENT (1u << 20)
/* A 1-token reply is enough to prove the credentials and the model. */
#define LLM_CHECK_TOKENS 1

extern const llm_vtab llm_openai_vtab;
extern const llm_vtab llm_azure_vtab;
extern const llm_vtab llm_anthropic_vtab;
extern const llm_vtab llm_ollama_vtab;
extern const llm_vtab llm_extractive_vtab;
extern const llm_vtab llm_fake_vtab;

/* An HTTP client for provider p: http when given, else the defaults with
** p's timeout and retries. */
rag_status llm_http_new(const rag_provider_def *p, const rag_http_opts *http,
                        rag_http **out, rag_err *err);

/* Request headers, NULL-terminated for rag_http_req.headers. Entries may
** hold an API key: llm_hdrs_free wipes them before freeing. */
#define LLM_MAX_HDRS 8
typedef struct llm_hdrs {
  char *v[LLM_MAX_HDRS + 1];
  size_t n;
} llm_hdrs;
rag_status llm_hdrs_add(llm_hdrs *h, rag_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void llm_hdrs_free(llm_hdrs *h);

/* Translates a failed rag_http_do into the provider's error: for an HTTP
** status, "<who>: HTTP <status>: <provider's error message>" (400/422 are
** RAG_BADARG, the rest RAG_UPSTREAM); otherwise the client's own error
** (timeout, connection) prefixed with who. herr is the client's error. */
rag_status llm_http_fail(const char *who, rag_status rc, const rag_http_resp *r,
                         const rag_err *herr, rag_err *err);
/* The "message" of an error JSON body in any of the shapes the providers
** use ({"error":{"message"}}, {"error":"..."}, {"message"}); copied into
** buf (size n, one line). Returns buf, or NULL when there is none. */
const char *llm_error_message(const char *body, size_t len, char *buf,
                              size_t n);

/* Where an answer accumulates while it streams. */
typedef struct llm_acc {
  const llm_request *req;
  rag_buf text;  /* capped at LLM_MAX_ANSWER */
  rag_status rc; /* first failure inside a stream callback */
  rag_err err;   /* its message */
  int done;      /* the provider's end-of-stream marker arrived */
  int64_t tin, tout;
  int have_usage;
  char finish[32];
  char model[128];
} llm_acc;
void llm_acc_init(llm_acc *a, const llm_request *req);
void llm_acc_free(llm_acc *a);
/* Appends text to the answer and passes it to req->on_delta (if any). */
rag_status llm_acc_emit(llm_acc *a, const char *text, size_t n);
/* Records a failure inside a callback; returns code. */
rag_status llm_acc_fail(llm_acc *a, rag_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Moves the answer, usage, finish reason and model into resp; counts usage
** locally when the provider reported none. */
rag_status llm_acc_finish(llm_acc *a, llm_response *resp, rag_err *err);

/* Copies src (may be NULL) into dst[n], truncating. */
void llm_copy(char *dst, size_t n, const char *src);
/* A provider's token count: 1 and *out when v is a number in
** 0..1e15 (a negative or absurd count reads as none, so usage is
** estimated instead), else 0. */
int llm_json_count(const cJSON *v, int64_t *out);
/* Prompt tokens by the local estimate: all message contents. */
int64_t llm_estimate_in(const llm_request *req);

/* Parses body[len] as JSON; NULL and err set (RAG_CORRUPT) on failure. */
cJSON *llm_parse_json(const char *who, const char *body, size_t len,
                      rag_err *err);
/* Serializes root (and deletes it) to a malloc'd string; NULL on OOM. */
char *llm_print(cJSON *root);

#endif
