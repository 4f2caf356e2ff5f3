/* ingest/ing_embed.c -- Cache-aware embedding (see ing_embed.h).
** Steps: hash every text, look the hashes up, embed the distinct misses in
** one provider call (the provider batches it), scatter their rows to every
** position holding the same text, store the new rows. */
#include "ingest/ing_embed.h"

#include "core/rag_hash.h"
#include "index/kb_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct miss {
  const char *sha;
  size_t pos; /* index into texts */
} miss;

static int miss_cmp(const void *a, const void *b) {
  const miss *x = a, *y = b;
  int c = strcmp(x->sha, y->sha);
  if (c)
    return c;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

rag_status ing_embed_texts(kb *k, emb_provider *emb, const char *const *texts,
                           size_t n, emb_kind kind, float *vecs,
                           size_t *cache_hits, rag_err *err) {
  if (cache_hits)
    *cache_hits = 0;
  if (!emb)
    return rag_fail(err, RAG_BADARG, "ing embed: NULL provider");
  if (!k || !emb_is_remote(emb) || kind == EMB_QUERY || n == 0)
    return emb_embed(emb, texts, n, kind, vecs, err);
  if (!texts || !vecs)
    return rag_fail(err, RAG_BADARG, "ing embed: NULL texts or vectors");
  const int dim = emb_dim(emb);
  const char *model = emb_model(emb);
  const size_t d = (size_t)dim;

  char(*hex)[65] = malloc(n * sizeof(*hex));
  const char **shas = malloc(n * sizeof(*shas));
  unsigned char *found = malloc(n);
  miss *ms = malloc(n * sizeof(*ms));
  const char **utexts = malloc(n * sizeof(*utexts));
  const char **ushas = malloc(n * sizeof(*ushas));
  size_t *first = malloc(n * sizeof(*first)); /* miss -> unique index */
  float *uvecs = NULL;
  rag_status s = RAG_OK;
  if (!hex || !shas || !found || !ms || !utexts || !ushas || !first) {
    s = rag_fail(err, RAG_NOMEM, "ing embed: out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    if (!texts[i]) {
      s = rag_fail(err, RAG_BADARG, "ing embed: text %zu is NULL", i);
      goto done;
    }
    rag_sha256_hex(texts[i], strlen(texts[i]), hex[i]);
    shas[i] = hex[i];
  }
  size_t hits = 0;
  s = kb_cache_get(k, model, dim, shas, n, 0, vecs, found, &hits, err);
  if (s)
    goto done;

  /* The misses, sorted by hash so equal texts sit together. */
  size_t nm = 0;
  for (size_t i = 0; i < n; i++)
    if (!found[i]) {
      ms[nm].sha = shas[i];
      ms[nm].pos = i;
      nm++;
    }
  if (nm) {
    qsort(ms, nm, sizeof(*ms), miss_cmp);
    size_t nu = 0;
    for (size_t j = 0; j < nm; j++) {
      if (j == 0 || strcmp(ms[j].sha, ms[j - 1].sha) != 0) {
        utexts[nu] = texts[ms[j].pos];
        ushas[nu] = ms[j].sha;
        nu++;
      }
      first[j] = nu - 1;
    }
    uvecs = malloc(nu * d * sizeof(float));
    if (!uvecs) {
      s = rag_fail(err, RAG_NOMEM, "ing embed: out of memory");
      goto done;
    }
    s = emb_embed(emb, utexts, nu, kind, uvecs, err);
    if (s)
      goto done;
    for (size_t j = 0; j < nm; j++)
      memcpy(vecs + ms[j].pos * d, uvecs + first[j] * d, d * sizeof(float));
    s = kb_cache_put(k, model, dim, ushas, nu, uvecs, 0, err);
    if (s)
      goto done;
  }
  if (cache_hits)
    *cache_hits = hits;
done:
  free(hex);
  free(shas);
  free(found);
  free(ms);
  free(utexts);
  free(ushas);
  free(first);
  free(uvecs);
  return s;
}
