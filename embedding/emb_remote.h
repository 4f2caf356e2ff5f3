/* embedding/emb_remote.h -- What the remote embedding providers
** (emb_openai.c, emb_ollama.c) share: resolving a spec against the
** config's providers and models, batching by count and by tokens, sending
** batches in parallel, checking and normalizing the rows, and turning HTTP
** errors into one-line messages that never hold the API key.
**
** Spec options (text after "openai:", "azure:", "ollama:"): a bare first
** item is the model name; then key=value pairs separated by ',':
**   model=NAME        the model (ragd name, looked up in the config's
**                     models; else the upstream id itself)
**   provider=NAME     a providers[] entry to use instead of the model's
**   base_url=URL      overrides the provider's base URL
**   api_key_env=VAR   environment variable holding the key
**   deployment=NAME   Azure deployment (default: the model id)
**   api_version=V     Azure api-version (default 2024-06-01)
**   dim=N             expected dimension (else the model's "dim", a table
**                     of well-known models, or one probe request at open)
**   dimensions=N      ask the server for N dimensions ("dimensions" in the
**                     request; OpenAI text-embedding-3 models only)
**   batch=N           texts per request (OpenAI 2048, Ollama 256)
**   batch_tokens=N    estimated tokens per request (OpenAI 300000; 0 = off)
**   max_tokens=N      a single text over this is an error naming it
**                     (the model's context_length; OpenAI 8191; 0 = off)
**   concurrency=N     requests in flight at once (OpenAI 4, Ollama 1)
**   timeout=S, retries=N   HTTP total timeout and retries
** Token counts are rag_tokcount_estimate(), which errs high.
**
** Ownership: emb_remote_init/emb_remote_fini around a provider's life;
**            the conf strings are owned by the emb_remote.
** Errors:    RAG_BADARG for bad options or a text over max_tokens;
**            HTTP errors: 400/404/422 -> RAG_BADARG, 413 -> RAG_TOOBIG,
**            401/403/429/5xx -> RAG_UPSTREAM, with the provider's own
**            message; RAG_CORRUPT for a reply that is not the expected
**            JSON; RAG_UPSTREAM for wrong row counts or dimensions.
** Threads:   one embed call at a time per instance; inside it, up to
**            `concurrency` threads each use their own rag_http. */
#ifndef EMB_REMOTE_H
#define EMB_REMOTE_H

#include "core/rag_http.h"
#include "core/rag_limit.h"
#include "embedding/emb.h"

#include <cjson/cJSON.h>

#define EMB_REMOTE_MAX_BATCH 2048 /* OpenAI's cap on inputs per request */
#define EMB_REMOTE_MAX_CONC 64    /* threads per embed call */
#define EMB_REMOTE_MAX_DIM 65536  /* caps a row read from the network */
#define EMB_REMOTE_MAX_RESP (256u << 20) /* 2048 x 3072 floats as JSON */

typedef struct emb_remote_conf {
  char *kind;        /* wire format: "openai", "azure", "ollama" */
  char *provider;    /* provider entry name, or the kind */
  char *base_url;    /* no trailing slash */
  char *key_env;     /* NULL: no key */
  char *org;         /* OpenAI-Organization, may be NULL */
  char *deployment;  /* Azure */
  char *api_version; /* Azure */
  char *model;       /* upstream id */
  int dim;           /* expected, 0 = unknown */
  int dimensions;    /* sent when > 0 */
  size_t max_tokens, batch, batch_tokens;
  int concurrency;
  double timeout;
  int retries;
  int rpm, tpm; /* the stricter of the provider's and model's; 0 = none */
} emb_remote_conf;

/* Defaults of a kind before the config and options apply. */
typedef struct emb_remote_defaults {
  const char *kind, *base_url, *key_env, *model;
  size_t max_tokens, batch, batch_tokens;
  int concurrency;
} emb_remote_defaults;

typedef struct emb_remote emb_remote;

/* Sends texts[0..n) in one request with h and writes n rows of r->dim
** floats to out (unnormalized is fine), in input order. When r->dim is 0
** (the probe), it sets r->dim from the reply and out may be NULL.
** *tokens: the prompt tokens the server reported (0 if none). */
typedef rag_status (*emb_remote_send_fn)(emb_remote *r, rag_http *h,
                                         const char *const *texts, size_t n,
                                         float *out, int64_t *tokens,
                                         rag_err *err);

struct emb_remote {
  emb_provider base; /* first */
  emb_remote_conf c;
  emb_remote_send_fn send;
  int dim;            /* constant once open returned */
  char model_id[256]; /* "<provider>:<model>[-d<dimensions>]" */
  rag_http_opts http; /* template for the per-slot clients */
  rag_http *slots[EMB_REMOTE_MAX_CONC]; /* created on first use */
  int64_t tokens;   /* prompt tokens reported over the instance's life */
  rag_limit *limit; /* requests/tokens per minute (c.rpm, c.tpm) */
};

/* Resolves the spec options of kind (see above) against cfg and fills r
** (whose base.vt and send the caller sets), then learns the dimension
** (probe request when needed). On failure r is finalized. */
rag_status emb_remote_init(emb_remote *r, const rag_cfg *cfg,
                           const emb_remote_defaults *d, const char *opts,
                           rag_err *err);
void emb_remote_fini(emb_remote *r);

/* The embed method: batches, sends in parallel, places rows by position,
** L2-normalizes them. First error wins; batches not yet sent are not. */
rag_status emb_remote_embed(emb_remote *r, const char *const *texts, size_t n,
                            float *vecs, rag_err *err);

/* POSTs body (JSON) to url with the given extra headers (NULL-terminated;
** Content-Type is added) and leaves the reply in resp. HTTP errors become
** "<who>: HTTP <status>: <provider message>" with the key (if any) masked.
*/
rag_status emb_remote_post(emb_remote *r, rag_http *h, const char *url,
                           const char *const *headers, const char *body,
                           rag_http_resp *resp, rag_err *err);

/* Parses a 2xx reply body as JSON into *out (cJSON_Delete it); a reply
** that is not JSON is RAG_CORRUPT naming the byte offset. */
rag_status emb_remote_json(emb_remote *r, const rag_http_resp *resp,
                           cJSON **out, rag_err *err);

/* Copies the JSON array of numbers emb into row i of out (r->dim floats
** per row; out may be NULL when probing). A row whose length is not r->dim
** is RAG_UPSTREAM ("dimension mismatch"); when r->dim is 0 it becomes the
** row's length. */
rag_status emb_remote_row(emb_remote *r, const cJSON *emb, size_t i, float *out,
                          rag_err *err);

/* The API key from the configured environment variable, or NULL. */
const char *emb_remote_key(const emb_remote *r);

/* Vtab helpers shared by the remote providers. */
int emb_remote_dim(const emb_provider *p);
const char *emb_remote_model(const emb_provider *p);
void emb_remote_set_http(emb_provider *p, const rag_http_opts *o);

#endif
