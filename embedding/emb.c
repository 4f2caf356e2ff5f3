/* embedding/emb.c -- Provider registry, spec parsing and the checked
** wrappers around the vtable (see emb.h). */
#include "embedding/emb.h"

#include "embedding/emb_hash.h"

#include <string.h>

/* Defined in emb_fake.c, emb_openai.c and emb_ollama.c; only this registry
** needs the symbols. */
extern const emb_vtab emb_fake_vtab;
extern const emb_vtab emb_openai_vtab;
extern const emb_vtab emb_azure_vtab;
extern const emb_vtab emb_ollama_vtab;
extern const emb_vtab emb_lsa_vtab;

static const emb_vtab *const PROVIDERS[] = {&emb_hash_vtab,  &emb_lsa_vtab,
                                            &emb_fake_vtab,  &emb_openai_vtab,
                                            &emb_azure_vtab, &emb_ollama_vtab};
#define NPROVIDERS (sizeof(PROVIDERS) / sizeof(PROVIDERS[0]))

const emb_vtab *emb_find(const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; i < NPROVIDERS; i++)
    if (strcmp(PROVIDERS[i]->name, name) == 0)
      return PROVIDERS[i];
  return NULL;
}

/* The provider a spec names: "name" or "name:key=value,...". name gets
** the name ("" when empty or too long), *colon the ':' or NULL. */
static const emb_vtab *spec_vtab(const char *spec, char name[64],
                                 const char **colon) {
  *colon = strchr(spec, ':');
  size_t nlen = *colon ? (size_t)(*colon - spec) : strlen(spec);
  name[0] = '\0';
  if (nlen == 0 || nlen >= 64)
    return NULL;
  memcpy(name, spec, nlen);
  name[nlen] = '\0';
  return emb_find(name);
}

rag_status emb_open(const rag_cfg *cfg, const char *spec, emb_provider **out,
                    rag_err *err) {
  if (!out)
    return rag_fail(err, RAG_BADARG, "emb: open: NULL out");
  *out = NULL;
  if (!spec)
    spec = cfg ? cfg->embedding.provider : NULL;
  if (!spec || !*spec)
    return rag_fail(err, RAG_BADARG, "emb: no embedding provider given");
  char name[64];
  const char *colon = NULL;
  const emb_vtab *vt = spec_vtab(spec, name, &colon);
  if (!name[0])
    return rag_fail(err, RAG_BADARG, "emb: bad provider spec \"%.100s\"", spec);
  if (!vt)
    return rag_fail(err, RAG_BADARG,
                    "emb: unknown embedding provider \"%s\" (known: hash, "
                    "lsa, fake, openai, azure, ollama)",
                    name);
  const char *opts = colon ? colon + 1 : NULL;
  rag_status rc = vt->open(cfg, opts, out, err);
  if (rc) {
    *out = NULL;
    if (err && err->code == RAG_OK)
      rag_fail(err, rc, "emb: %s: open failed", name);
  }
  return rc;
}

void emb_close(emb_provider *p) {
  if (p)
    p->vt->close(p);
}

rag_status emb_embed(emb_provider *p, const char *const *texts, size_t n,
                     emb_kind kind, float *vecs, rag_err *err) {
  if (!p)
    return rag_fail(err, RAG_BADARG, "emb: embed: NULL provider");
  if (n == 0)
    return RAG_OK;
  if (!texts || !vecs)
    return rag_fail(err, RAG_BADARG, "emb: embed: NULL %s",
                    texts ? "output" : "texts");
  for (size_t i = 0; i < n; i++)
    if (!texts[i])
      return rag_fail(err, RAG_BADARG, "emb: embed: text %zu is NULL", i);
  if (kind != EMB_DOCUMENT && kind != EMB_QUERY)
    return rag_fail(err, RAG_BADARG, "emb: embed: bad kind %d", (int)kind);
  return p->vt->embed(p, texts, n, kind, vecs, err);
}

int emb_dim(const emb_provider *p) {
  return p ? p->vt->dim(p) : 0;
}

const char *emb_model(const emb_provider *p) {
  return p ? p->vt->model(p) : NULL;
}

void emb_set_stats(emb_provider *p, const rag_termstats *ts) {
  if (p && p->vt->set_stats)
    p->vt->set_stats(p, ts);
}

static int vtab_remote(const emb_vtab *vt) {
  return vt && vt->version >= 2 && vt->remote;
}

int emb_is_remote(const emb_provider *p) {
  return p && vtab_remote(p->vt);
}

int emb_spec_is_remote(const char *spec) {
  char name[64];
  const char *colon;
  return spec && vtab_remote(spec_vtab(spec, name, &colon));
}

void emb_set_http(emb_provider *p, const rag_http_opts *o) {
  if (p && p->vt->version >= 2 && p->vt->set_http && o)
    p->vt->set_http(p, o);
}

int emb_is_trainable(const emb_provider *p) {
  return p && p->vt->version >= 3 && p->vt->train && p->vt->state_key &&
         p->vt->load_state && p->vt->save_state && p->vt->wants_training &&
         p->vt->train_max;
}

const char *emb_state_key(const emb_provider *p) {
  return emb_is_trainable(p) ? p->vt->state_key(p) : NULL;
}

rag_status emb_load_state(emb_provider *p, const void *blob, size_t len,
                          rag_err *err) {
  if (!emb_is_trainable(p))
    return rag_fail(err, RAG_UNSUPPORTED, "emb: provider learns nothing");
  return p->vt->load_state(p, blob, len, err);
}

rag_status emb_save_state(const emb_provider *p, void **blob, size_t *len,
                          rag_err *err) {
  *blob = NULL;
  *len = 0;
  if (!emb_is_trainable(p))
    return rag_fail(err, RAG_UNSUPPORTED, "emb: provider learns nothing");
  return p->vt->save_state(p, blob, len, err);
}

int emb_wants_training(const emb_provider *p, int64_t nchunks) {
  return emb_is_trainable(p) && p->vt->wants_training(p, nchunks);
}

rag_status emb_train(emb_provider *p, const char *const *texts, size_t n,
                     int64_t ncorpus, rag_err *err) {
  if (!emb_is_trainable(p))
    return rag_fail(err, RAG_UNSUPPORTED, "emb: provider learns nothing");
  if (n && !texts)
    return rag_fail(err, RAG_BADARG, "emb: train: NULL texts");
  return p->vt->train(p, texts, n, ncorpus, err);
}

size_t emb_train_max(const emb_provider *p) {
  return emb_is_trainable(p) ? p->vt->train_max(p) : 0;
}
