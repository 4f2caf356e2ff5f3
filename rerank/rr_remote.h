/* rerank/rr_remote.h -- What the remote rerankers (rr_cohere.c, rr_tei.c)
** share: resolving the spec against the config's providers and models,
** one HTTP client, batching documents, and HTTP errors turned into
** one-line messages that never hold the API key.
** Spec options (after "cohere:" / "tei:"): a bare first item is the model
** name (looked up in the config's models; else the upstream id), then
** key=value pairs: model, provider (a providers[] entry), base_url,
** api_key_env, batch (documents per request: Cohere 1000, TEI 32, TEI's
** default max_client_batch_size), timeout (seconds), retries,
** raw_scores (TEI: 0|1, ask for logits and apply a sigmoid here).
** Ownership: rr_remote_init/rr_remote_fini around a provider's life.
** Errors:    HTTP 400/404/422 -> RAG_BADARG, 413 -> RAG_TOOBIG, other
**            statuses -> RAG_UPSTREAM with the provider's message; a reply
**            that is not the expected JSON -> RAG_CORRUPT.
** Threads:   one rerank call at a time per instance (one rag_http). */
#ifndef RR_REMOTE_H
#define RR_REMOTE_H

#include "core/rag_http.h"
#include "core/rag_limit.h"
#include "rerank/rr.h"

#include <cjson/cJSON.h>

#define RR_REMOTE_MAX_RESP (16u << 20) /* scores for 1000 docs are ~100 KB */

typedef struct rr_remote_defaults {
  const char *kind, *base_url, *key_env, *model; /* model may be NULL */
  size_t batch;
} rr_remote_defaults;

typedef struct rr_remote {
  rr_provider base;                                   /* first */
  char *kind, *provider, *base_url, *key_env, *model; /* model may be NULL */
  size_t batch;
  int raw_scores;
  rag_http_opts http;
  rag_http *h;      /* created on first use */
  int rpm, tpm;     /* stricter of provider's and model's; 0 = none */
  rag_limit *limit; /* created on first use, on http.clock */
} rr_remote;

/* Fills r (whose base.vt the caller sets) from defaults, config, options.
** On failure r is finalized. */
rag_status rr_remote_init(rr_remote *r, const rag_cfg *cfg,
                          const rr_remote_defaults *d, const char *opts,
                          rag_err *err);
void rr_remote_fini(rr_remote *r);

/* POSTs the JSON body to base_url + path with Content-Type and, when a key
** is set, "Authorization: Bearer KEY"; parses a 2xx reply into *out
** (cJSON_Delete it). */
rag_status rr_remote_call(rr_remote *r, const char *path, const char *body,
                          cJSON **out, rag_err *err);

/* Vtab helpers. */
void rr_remote_close(rr_provider *p);
void rr_remote_set_http(rr_provider *p, const rag_http_opts *o);

#endif
