/* ingest/ing_kb.c -- Open a KB with its statistics, embedder and index. */
#include "ingest/ing_kb.h"

#include "core/rag_arena.h"
#include "core/rag_log.h"
#include "index/kb_emb.h"
#include "index/kb_stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- learning embedders (see ing_kb.h) ---------------------------------
** Order of writes, so that a crash anywhere leaves a consistent KB: the new
** model's vectors first (rows of an id nothing uses yet), then its state
** (from here on the new id is current), then the old id's rows and file go.
** A crash before the state is saved leaves the old model current; the
** stray rows are replaced by the next training, which gets the same id. */

#define LEARN_BATCH 512

typedef struct idvec {
  int64_t *v;
  size_t n, cap;
} idvec;

static int collect_id(void *ctx, int64_t id, const char *text, size_t len) {
  (void)text;
  (void)len;
  idvec *iv = ctx;
  if (iv->n == iv->cap) {
    size_t nc = iv->cap ? iv->cap * 2 : 1024;
    int64_t *g = realloc(iv->v, nc * sizeof(int64_t));
    if (!g)
      return 1;
    iv->v = g;
    iv->cap = nc;
  }
  iv->v[iv->n++] = id;
  return 0;
}

/* All chunk ids, ascending: *ids (malloc'd) and *n. */
static rag_status chunk_ids(kb *db, int64_t **ids, size_t *n, rag_err *err) {
  idvec iv = {0};
  *ids = NULL;
  *n = 0;
  rag_status rc = kb_chunk_texts_each(db, collect_id, &iv, err);
  if (rc) {
    free(iv.v);
    return rc;
  }
  *ids = iv.v;
  *n = iv.n;
  return RAG_OK;
}

/* The texts ing.c embeds for chunks ids[0..n): "heading\ntext" or text. */
static rag_status chunk_texts(kb *db, const int64_t *ids, size_t n,
                              rag_arena *a, const char **texts, rag_err *err) {
  kb_chunk_row *rows = rag_arena_alloc(a, n * sizeof(*rows));
  int *found = rag_arena_alloc(a, n * sizeof(*found));
  if (!rows || !found)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  rag_status rc = kb_chunks_get(db, ids, n, a, rows, found, err);
  for (size_t i = 0; !rc && i < n; i++) {
    const char *h = found[i] ? rows[i].heading : NULL;
    const char *t = found[i] && rows[i].text ? rows[i].text : "";
    if (!h || !*h) {
      texts[i] = t;
      continue;
    }
    size_t hl = strlen(h), tl = strlen(t);
    char *s = rag_arena_alloc(a, hl + tl + 2);
    if (!s)
      return rag_fail(err, RAG_NOMEM, "out of memory");
    memcpy(s, h, hl);
    s[hl] = '\n';
    memcpy(s + hl + 1, t, tl + 1);
    texts[i] = s;
  }
  return rc;
}

/* Embeds every chunk with the learner's current model and stores the
** vectors under its id. */
static rag_status embed_all(ing_kb *k, const int64_t *ids, size_t n,
                            rag_err *err) {
  int dim = emb_dim(k->learner);
  const char *model = emb_model(k->learner);
  float *vecs = malloc((size_t)LEARN_BATCH * (size_t)dim * sizeof(float));
  const char **texts = malloc(LEARN_BATCH * sizeof(*texts));
  rag_status rc =
      vecs && texts ? RAG_OK : rag_fail(err, RAG_NOMEM, "out of memory");
  for (size_t off = 0; !rc && off < n; off += LEARN_BATCH) {
    size_t m = n - off < LEARN_BATCH ? n - off : LEARN_BATCH;
    rag_arena *a = rag_arena_new(0);
    if (!a) {
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
      break;
    }
    rc = chunk_texts(k->kb, ids + off, m, a, texts, err);
    if (!rc)
      rc = emb_embed(k->learner, texts, m, EMB_DOCUMENT, vecs, err);
    if (!rc)
      rc = kb_embeddings_put(k->kb, model, dim, ids + off, vecs, m, err);
    rag_arena_free(a);
  }
  free(vecs);
  free(texts);
  return rc;
}

static void state_name(const ing_kb *k, char *out, size_t n) {
  snprintf(out, n, "emb-state:%s", emb_state_key(k->learner));
}

static rag_status load_learned(ing_kb *k, rag_err *err) {
  char key[160];
  state_name(k, key, sizeof(key));
  rag_arena *a = rag_arena_new(0);
  if (!a)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  void *blob = NULL;
  size_t len = 0;
  int64_t gen = 0;
  int found = 0;
  rag_status rc = kb_meta_get(k->kb, key, a, &blob, &len, &gen, &found, err);
  if (!rc && found && len)
    rc = emb_load_state(k->learner, blob, len, err);
  rag_arena_free(a);
  return rc;
}

static rag_status open_vec(ing_kb *k, const char *factory, rag_err *err) {
  kb_vec_opts vo = kb_vec_opts_default();
  vo.factory = factory ? factory : k->cfg->index.factory;
  vo.hnsw_ef_search = k->cfg->index.hnsw_ef_search;
  vo.ivf_nprobe = k->cfg->index.ivf_nprobe;
  vo.tombstone_ratio = k->cfg->index.tombstone_ratio;
  return kb_vec_open(k->kb, emb_model(k->emb), emb_dim(k->emb), &vo, &k->vec,
                     err);
}

/* Train, embed everything, save the state, retire the old model. When
** k->vec is open it is reopened on the new model. */
static rag_status retrain(ing_kb *k, rag_err *err) {
  int64_t *ids = NULL;
  size_t n = 0;
  char old[128];
  snprintf(old, sizeof(old), "%s", emb_model(k->learner));
  rag_status rc = chunk_ids(k->kb, &ids, &n, err);
  if (!rc && n == 0)
    rc = rag_fail(err, RAG_BADARG, "lsa: the KB has no chunks to learn from");
  size_t want = emb_train_max(k->learner);
  size_t ns = n < want ? n : want;
  int64_t *sample = rc ? NULL : malloc((ns ? ns : 1) * sizeof(int64_t));
  const char **texts = rc ? NULL : malloc((ns ? ns : 1) * sizeof(*texts));
  rag_arena *a = rc ? NULL : rag_arena_new(0);
  if (!rc && (!sample || !texts || !a))
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  /* An even spread over the id order: new and old documents alike. */
  for (size_t i = 0; !rc && i < ns; i++)
    sample[i] = ids[(size_t)((double)i * (double)n / (double)ns)];
  double t0 = rag_now();
  if (!rc)
    rc = chunk_texts(k->kb, sample, ns, a, texts, err);
  if (!rc)
    rc = emb_train(k->learner, texts, ns, (int64_t)n, err);
  rag_arena_free(a);
  free(sample);
  free(texts);
  if (!rc)
    rc = embed_all(k, ids, n, err);
  void *blob = NULL;
  size_t len = 0;
  int64_t gen = 0;
  char key[160];
  state_name(k, key, sizeof(key));
  if (!rc)
    rc = emb_save_state(k->learner, &blob, &len, err);
  if (!rc)
    rc = kb_generation(k->kb, &gen, err);
  if (!rc)
    rc = kb_meta_put(k->kb, key, blob, len, gen, err);
  free(blob);
  free(ids);
  if (rc)
    return rc;
  rag_log(RAG_LOG_INFO, "%s: trained %s on %zu of %zu chunks in %.1f s",
          kb_dir(k->kb), emb_model(k->learner), ns, n, rag_now() - t0);
  /* Retire the old model: its rows and its FAISS file. Failures here
  ** leave garbage, not inconsistency: log them. */
  rag_err e2;
  rag_err_clear(&e2);
  if (strcmp(old, emb_model(k->learner)) != 0) {
    if (kb_embeddings_drop(k->kb, old, NULL, &e2))
      rag_log(RAG_LOG_WARN, "lsa: dropping vectors of %s: %s", old, e2.msg);
    char path[4200];
    snprintf(path, sizeof(path), "%s/vectors-%s.faiss", kb_dir(k->kb), old);
    if (unlink(path) != 0 && errno != ENOENT)
      rag_log(RAG_LOG_WARN, "lsa: removing %s: %s", path, strerror(errno));
  }
  if (k->vec) {
    kb_vec_close(k->vec);
    k->vec = NULL;
    rc = open_vec(k, k->factory, err);
  }
  return rc;
}

/* Loads the learner's state, trains when the corpus calls for it, and
** fills in vectors of the current model that chunks lack. */
static rag_status learn_sync(ing_kb *k, int at_open, rag_err *err) {
  if (!k->learner)
    return RAG_OK;
  rag_status rc = at_open ? load_learned(k, err) : RAG_OK;
  kb_counts c;
  if (!rc)
    rc = kb_count(k->kb, emb_model(k->learner), &c, err);
  if (rc)
    return rc;
  if (emb_wants_training(k->learner, c.chunks))
    return retrain(k, err);
  if (at_open && c.embeddings < c.chunks) {
    int64_t *ids = NULL;
    size_t n = 0;
    rc = chunk_ids(k->kb, &ids, &n, err);
    if (!rc)
      rc = embed_all(k, ids, n, err);
    free(ids);
  }
  return rc;
}

rag_status ing_kb_retrain(ing_kb *k, rag_err *err) {
  if (!k || !k->learner)
    return rag_fail(err, RAG_UNSUPPORTED,
                    "the embedder does not learn from the corpus");
  return retrain(k, err);
}

ing_kb_opts ing_kb_opts_default(void) {
  ing_kb_opts o = {1, NULL, NULL};
  return o;
}

rag_status ing_kb_open(const rag_cfg *cfg, const char *dir,
                       const ing_kb_opts *o, ing_kb **out, rag_err *err) {
  *out = NULL;
  ing_kb_opts def = ing_kb_opts_default();
  if (!o)
    o = &def;
  if (!dir || !*dir)
    return rag_fail(err, RAG_BADARG, "no knowledge base directory given");
  struct stat st;
  if (!o->create && stat(dir, &st) != 0)
    return rag_fail(err, RAG_NOTFOUND, "no knowledge base at %s", dir);
  ing_kb *k = calloc(1, sizeof(*k));
  if (!k)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  k->cfg = cfg;
  kb_opts ko = kb_opts_default();
  ko.create = o->create;
  rag_status rc = kb_open(dir, &ko, &k->kb, err);
  if (!rc)
    rc = kb_stats_load(k->kb, &k->stats, NULL, err);
  if (!rc)
    rc = emb_open(cfg, o->emb_spec, &k->emb, err);
  if (!rc && o->factory && !(k->factory = rag_strdup(o->factory)))
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  if (!rc) {
    emb_set_stats(k->emb, k->stats);
    if (emb_is_trainable(k->emb))
      k->learner = k->emb;
    rc = learn_sync(k, 1, err);
  }
  if (!rc)
    rc = open_vec(k, k->factory, err);
  if (rc) {
    ing_kb_close(k);
    return rc;
  }
  *out = k;
  return RAG_OK;
}

void ing_kb_close(ing_kb *k) {
  if (!k)
    return;
  kb_vec_close(k->vec);
  emb_close(k->emb);
  rag_termstats_free(k->stats);
  kb_close(k->kb);
  free(k->factory);
  free(k);
}

rag_status ing_kb_flush(ing_kb *k, rag_err *err) {
  int64_t gen = 0;
  rag_status rc = learn_sync(k, 0, err);
  /* Index types that cannot remove in place (HNSW) collect tombstones;
  ** past the configured ratio the index is rebuilt from SQLite. */
  if (!rc && kb_vec_needs_rebuild(k->vec))
    rc = kb_vec_rebuild(k->vec, k->kb, err);
  if (!rc)
    rc = kb_generation(k->kb, &gen, err);
  if (!rc)
    rc = kb_vec_save(k->vec, gen, err);
  if (!rc)
    rc = kb_stats_save(k->kb, k->stats, gen, err);
  return rc;
}

kb_lex *ing_kb_lex(const ing_kb *k, const kb_lex *prev) {
  kb_lex *x = NULL;
  rag_err e;
  rag_err_clear(&e);
  if (k->cfg->index.lexical_memory && kb_lex_wanted() &&
      kb_lex_update(k->kb, prev, &x, &e))
    rag_log(RAG_LOG_WARN, "%s: full-text from FTS5: %s", kb_dir(k->kb), e.msg);
  return x;
}
