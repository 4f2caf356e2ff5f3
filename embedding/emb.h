/* embedding/emb.h -- Embedding providers: a vtable per kind, chosen by name.
** A provider instance starts with `const emb_vtab *vt` (the base struct
** below); implementations put it first in their own struct.
** Specs: "hash", "hash:dim=768", "fake" -- a name, then optional
** ":key=value,key=value" options overriding the config.
** Built in: "hash" (signed feature hashing, IDF from corpus statistics),
** "lsa" (latent semantic analysis trained on the KB's chunks, see
** emb_lsa.h) and "fake" (deterministic, for tests). Remote
*(embedding/emb_remote.h):
** "openai" and "azure" (emb_openai.c; also vLLM, LocalAI, llama.cpp server,
** TEI's OpenAI route) and "ollama" (emb_ollama.c). Their text after ':' is
** a model name, optionally followed by ",key=value" options
** ("openai:text-embedding-3-small,batch=256"), or options only.
** Ownership: emb_open/emb_close; set_stats borrows the statistics, which
**            must outlive their use by the provider.
** Errors:    rag_status + rag_err.
** Threads:   one thread at a time per provider instance unless the
**            provider's own header says otherwise ("hash" is safe for
**            concurrent embed calls when its stats are not being written). */
#ifndef EMB_H
#define EMB_H

#include "core/rag.h"
#include "core/rag_cfg.h"
#include "core/rag_http.h"
#include "core/rag_termstats.h"

typedef enum { EMB_DOCUMENT, EMB_QUERY } emb_kind;

typedef struct emb_vtab emb_vtab;
typedef struct emb_provider {
  const emb_vtab *vt; /* public, read-only: the provider's methods */
} emb_provider;

struct emb_vtab {
  int version;      /* 3; add methods at the end, then bump */
  const char *name; /* "hash", "fake", "openai"; unique */
  /* Required. opts is the text after ':' in the spec (may be NULL).
  ** Success: *out set, RAG_OK. Failure: *out NULL, err set. */
  rag_status (*open)(const rag_cfg *cfg, const char *opts, emb_provider **out,
                     rag_err *err);
  /* Required. Writes n*dim floats (L2-normalized rows) to vecs
  ** (caller-owned). */
  rag_status (*embed)(emb_provider *p, const char *const *texts, size_t n,
                      emb_kind kind, float *vecs, rag_err *err);
  int (*dim)(const emb_provider *p); /* Required; constant per p */
  /* Required. Stable model id stored with vectors, e.g. "hash-512-3-5";
  ** it changes whenever an option changes the vectors. Owned by p. */
  const char *(*model)(const emb_provider *p);
  void (*close)(emb_provider *p); /* Required; once per successful open */
  /* Can be NULL. Gives the provider corpus statistics (IDF). */
  void (*set_stats)(emb_provider *p, const rag_termstats *ts);
  /* Version 2. Non-zero when embed() calls a remote service: slower and
  ** costlier than a cache lookup, so ing_embed_texts() caches its vectors.
  ** Local providers (0) are cheaper to recompute than to look up. */
  int remote;
  /* Version 2. Can be NULL. Replaces the HTTP client options (timeouts,
  ** retries, clock) used by later embed() calls; tests inject a clock. The
  ** clock in o is borrowed and must outlive the provider. */
  void (*set_http)(emb_provider *p, const rag_http_opts *o);
  /* Version 3: providers that learn from the corpus ("lsa"). All NULL for
  ** the others; either all or none are set. The caller (ingest/ing_kb.c)
  ** stores the learned state under state_key() and decides when to train.
  ** state_key: stable name of the state's family (options that change
  **   training, not the training generation), e.g. "lsa-v1-k256". Owned
  **   by p. model() names the trained generation ("lsa-v1-k256-g3"). */
  const char *(*state_key)(const emb_provider *p);
  /* Replaces p's state with one produced by save_state (same family).
  ** RAG_CORRUPT for a malformed or foreign blob; p unchanged on failure. */
  rag_status (*load_state)(emb_provider *p, const void *blob, size_t len,
                           rag_err *err);
  /* Serializes p's state into *blob (malloc'd, caller frees), *len bytes;
  ** *blob NULL and *len 0 for an untrained provider. */
  rag_status (*save_state)(const emb_provider *p, void **blob, size_t *len,
                           rag_err *err);
  /* 1 when a corpus of nchunks chunks calls for (re)training: untrained
  ** with nchunks > 0, or grown past the provider's retrain threshold. */
  int (*wants_training)(const emb_provider *p, int64_t nchunks);
  /* Learns from texts[0..n) (a sample of a corpus of ncorpus chunks) and
  ** moves to the next generation; model() changes. p unchanged on
  ** failure. */
  rag_status (*train)(emb_provider *p, const char *const *texts, size_t n,
                      int64_t ncorpus, rag_err *err);
  /* Most texts train() wants (a caller samples evenly above this). */
  size_t (*train_max)(const emb_provider *p);
};

/* Static table lookup; NULL if no provider has this name. */
const emb_vtab *emb_find(const char *name);
/* Opens a provider from a spec ("hash:dim=768"); falls back to
** cfg->embedding.provider when spec is NULL. */
rag_status emb_open(const rag_cfg *cfg, const char *spec, emb_provider **out,
                    rag_err *err);
void emb_close(emb_provider *p); /* NULL is a no-op */
rag_status emb_embed(emb_provider *p, const char *const *texts, size_t n,
                     emb_kind kind, float *vecs, rag_err *err);
int emb_dim(const emb_provider *p);
const char *emb_model(const emb_provider *p);
/* Calls set_stats when the provider has it; otherwise does nothing. */
void emb_set_stats(emb_provider *p, const rag_termstats *ts);
/* 1 when p's vtab says it is remote (version >= 2 and remote set). */
int emb_is_remote(const emb_provider *p);
/* The same for the provider a spec ("openai:model,...") names, without
** opening it; 0 for an unknown name. */
int emb_spec_is_remote(const char *spec);
/* Calls set_http when the provider has it; otherwise does nothing. */
void emb_set_http(emb_provider *p, const rag_http_opts *o);
/* 1 when p learns from the corpus (version >= 3 with the train methods);
** the emb_*state / emb_train wrappers below need it. */
int emb_is_trainable(const emb_provider *p);
const char *emb_state_key(const emb_provider *p);
rag_status emb_load_state(emb_provider *p, const void *blob, size_t len,
                          rag_err *err);
rag_status emb_save_state(const emb_provider *p, void **blob, size_t *len,
                          rag_err *err);
int emb_wants_training(const emb_provider *p, int64_t nchunks);
rag_status emb_train(emb_provider *p, const char *const *texts, size_t n,
                     int64_t ncorpus, rag_err *err);
size_t emb_train_max(const emb_provider *p);

#endif
