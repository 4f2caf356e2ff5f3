/* ingest/ing_kb.c -- Open a KB with its statistics, embedder and index. */
#include "ingest/ing_kb.h"

#include "index/kb_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

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
  if (!rc) {
    emb_set_stats(k->emb, k->stats);
    kb_vec_opts vo = kb_vec_opts_default();
    vo.factory = o->factory ? o->factory : cfg->index.factory;
    vo.hnsw_ef_search = cfg->index.hnsw_ef_search;
    vo.ivf_nprobe = cfg->index.ivf_nprobe;
    vo.tombstone_ratio = cfg->index.tombstone_ratio;
    rc = kb_vec_open(k->kb, emb_model(k->emb), emb_dim(k->emb), &vo, &k->vec,
                     err);
  }
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
  free(k);
}

rag_status ing_kb_flush(ing_kb *k, rag_err *err) {
  int64_t gen = 0;
  rag_status rc = RAG_OK;
  /* Index types that cannot remove in place (HNSW) collect tombstones;
  ** past the configured ratio the index is rebuilt from SQLite. */
  if (kb_vec_needs_rebuild(k->vec))
    rc = kb_vec_rebuild(k->vec, k->kb, err);
  if (!rc)
    rc = kb_generation(k->kb, &gen, err);
  if (!rc)
    rc = kb_vec_save(k->vec, gen, err);
  if (!rc)
    rc = kb_stats_save(k->kb, k->stats, gen, err);
  return rc;
}
