/* core/rag_cfg.c -- Configuration defaults and the JSON loader.
** The loader is table driven: each option is one row naming its JSON path,
** type, range and offset in rag_cfg, so the documented defaults, the
** validation and the key names cannot drift apart. */
#include "core/rag_cfg.h"
#include "core/rag_buf.h"
#include "core/rag_log.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  T_INT,
  T_LLONG,
  T_DOUBLE,
  T_STR,
  T_BOOL,
  T_MODE,
  T_FUSION
} opt_type;

typedef struct opt {
  const char *section; /* top-level object, or NULL for top level */
  const char *key;
  opt_type type;
  size_t off;
  double lo, hi; /* numeric range, inclusive */
  const char *def_str;
  double def_num;
} opt;

#define O(sec, key, type, field, lo, hi, dstr, dnum)                           \
  { sec, key, type, offsetof(rag_cfg, field), lo, hi, dstr, dnum }

static const opt opts[] = {
    O(NULL, "log_level", T_STR, log_level, 0, 0, "info", 0),
    O("chunk", "size", T_INT, chunk.size, 16, 100000, NULL, 500),
    O("chunk", "overlap", T_INT, chunk.overlap, 0, 50000, NULL, 50),
    O("chunk", "min_size", T_INT, chunk.min_size, 0, 10000, NULL, 32),
    O("embedding", "provider", T_STR, embedding.provider, 0, 0, "hash", 0),
    O("embedding", "dim", T_INT, embedding.dim, 8, 65536, NULL, 1024),
    O("embedding", "char_ngram_min", T_INT, embedding.char_ngram_min, 0, 16,
      NULL, 3),
    O("embedding", "char_ngram_max", T_INT, embedding.char_ngram_max, 0, 16,
      NULL, 5),
    O("embedding", "batch", T_INT, embedding.batch, 1, 100000, NULL, 64),
    O("index", "factory", T_STR, index.factory, 0, 0, "IDMap2,Flat", 0),
    O("index", "hnsw_ef_search", T_INT, index.hnsw_ef_search, 1, 100000, NULL,
      128),
    O("index", "ivf_nprobe", T_INT, index.ivf_nprobe, 1, 100000, NULL, 16),
    O("index", "tombstone_ratio", T_DOUBLE, index.tombstone_ratio, 0, 1, NULL,
      0.2),
    O("index", "lexical_memory", T_BOOL, index.lexical_memory, 0, 1, NULL, 1),
    O("retrieval", "mode", T_MODE, retrieval.mode, 0, 0, NULL, RAG_MODE_HYBRID),
    O("retrieval", "top_k", T_INT, retrieval.top_k, 1, 10000, NULL, 10),
    O("retrieval", "candidates", T_INT, retrieval.candidates, 1, 100000, NULL,
      100),
    O("retrieval", "fusion", T_FUSION, retrieval.fusion, 0, 0, NULL,
      RAG_FUSION_RRF),
    O("retrieval", "rrf_k", T_INT, retrieval.rrf_k, 1, 100000, NULL, 60),
    O("retrieval", "vector_weight", T_DOUBLE, retrieval.vector_weight, 0, 1,
      NULL, 0.7),
    O("retrieval", "keyword_weight", T_DOUBLE, retrieval.keyword_weight, 0, 1,
      NULL, 0.3),
    O("retrieval", "threshold", T_DOUBLE, retrieval.threshold, 0, 1, NULL, 0),
    O("retrieval", "rerank", T_BOOL, retrieval.rerank, 0, 1, NULL, 0),
    O("retrieval", "rerank_top_n", T_INT, retrieval.rerank_top_n, 1, 100000,
      NULL, 50),
    O("rerank", "provider", T_STR, rerank.provider, 0, 0, "local", 0),
    O("ingest", "max_file_bytes", T_LLONG, ingest.max_file_bytes, 1, 1e15, NULL,
      64.0 * 1024 * 1024),
    O("ingest", "pdftotext", T_STR, ingest.pdftotext, 0, 0, "pdftotext", 0),
    O("ingest", "batch_docs", T_INT, ingest.batch_docs, 1, 1000000, NULL, 2048),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const mode_names[] = {"vector", "fulltext", "hybrid"};

int rag_mode_parse(const char *s) {
  for (int i = 0; i < 3; i++)
    if (s && strcmp(s, mode_names[i]) == 0)
      return i;
  return -1;
}

const char *rag_mode_name(rag_mode m) {
  return (unsigned)m < 3 ? mode_names[m] : "unknown";
}

static void *field(rag_cfg *c, const opt *o) {
  return (char *)c + o->off;
}

void rag_cfg_free(rag_cfg *c) {
  if (!c)
    return;
  free(c->sections_json);
  c->sections_json = NULL;
  for (size_t i = 0; i < NOPTS; i++) {
    if (opts[i].type == T_STR) {
      char **p = field(c, &opts[i]);
      free(*p);
      *p = NULL;
    }
  }
}

rag_status rag_cfg_default(rag_cfg *c, rag_err *err) {
  memset(c, 0, sizeof(*c));
  c->sections_json = rag_strdup("{}");
  if (!c->sections_json)
    return rag_fail(err, RAG_NOMEM, "config: out of memory");
  for (size_t i = 0; i < NOPTS; i++) {
    const opt *o = &opts[i];
    void *f = field(c, o);
    switch (o->type) {
    case T_STR:
      *(char **)f = rag_strdup(o->def_str);
      if (!*(char **)f) {
        rag_cfg_free(c);
        return rag_fail(err, RAG_NOMEM, "config: out of memory");
      }
      break;
    case T_INT:
    case T_BOOL:
      *(int *)f = (int)o->def_num;
      break;
    case T_MODE:
      *(rag_mode *)f = (rag_mode)o->def_num;
      break;
    case T_FUSION:
      *(rag_fusion *)f = (rag_fusion)o->def_num;
      break;
    case T_LLONG:
      *(long long *)f = (long long)o->def_num;
      break;
    case T_DOUBLE:
      *(double *)f = o->def_num;
      break;
    }
  }
  return RAG_OK;
}

static rag_status set_opt(rag_cfg *c, const opt *o, const cJSON *v,
                          rag_err *err) {
  void *f = field(c, o);
  const char *sec = o->section ? o->section : "";
  const char *dot = o->section ? "." : "";
  switch (o->type) {
  case T_STR: {
    if (!cJSON_IsString(v))
      return rag_fail(err, RAG_BADARG, "config: %s%s%s must be a string", sec,
                      dot, o->key);
    char *s = rag_strdup(v->valuestring);
    if (!s)
      return rag_fail(err, RAG_NOMEM, "config: out of memory");
    free(*(char **)f);
    *(char **)f = s;
    return RAG_OK;
  }
  case T_BOOL:
    if (!cJSON_IsBool(v))
      return rag_fail(err, RAG_BADARG, "config: %s%s%s must be true or false",
                      sec, dot, o->key);
    *(int *)f = cJSON_IsTrue(v);
    return RAG_OK;
  case T_MODE:
  case T_FUSION: {
    int m = -1;
    if (cJSON_IsString(v)) {
      if (o->type == T_MODE)
        m = rag_mode_parse(v->valuestring);
      else if (strcmp(v->valuestring, "rrf") == 0)
        m = RAG_FUSION_RRF;
      else if (strcmp(v->valuestring, "weighted") == 0)
        m = RAG_FUSION_WEIGHTED;
    }
    if (m < 0)
      return rag_fail(err, RAG_BADARG, "config: %s%s%s must be %s", sec, dot,
                      o->key,
                      o->type == T_MODE ? "\"vector\", \"fulltext\" or "
                                          "\"hybrid\""
                                        : "\"rrf\" or \"weighted\"");
    if (o->type == T_MODE)
      *(rag_mode *)f = (rag_mode)m;
    else
      *(rag_fusion *)f = (rag_fusion)m;
    return RAG_OK;
  }
  default:
    break;
  }
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
    return rag_fail(err, RAG_BADARG, "config: %s%s%s must be a number", sec,
                    dot, o->key);
  double d = v->valuedouble;
  if (d < o->lo || d > o->hi)
    return rag_fail(err, RAG_BADARG,
                    "config: %s%s%s = %g is out of range [%g, %g]", sec, dot,
                    o->key, d, o->lo, o->hi);
  if (o->type != T_DOUBLE && d != floor(d))
    return rag_fail(err, RAG_BADARG, "config: %s%s%s must be an integer", sec,
                    dot, o->key);
  if (o->type == T_INT)
    *(int *)f = (int)d;
  else if (o->type == T_LLONG)
    *(long long *)f = (long long)d;
  else
    *(double *)f = d;
  return RAG_OK;
}

static const opt *find_opt(const char *section, const char *key) {
  for (size_t i = 0; i < NOPTS; i++) {
    const opt *o = &opts[i];
    int same_sec = section ? (o->section && strcmp(o->section, section) == 0)
                           : o->section == NULL;
    if (same_sec && strcmp(o->key, key) == 0)
      return o;
  }
  return NULL;
}

static int is_section(const char *name) {
  for (size_t i = 0; i < NOPTS; i++)
    if (opts[i].section && strcmp(opts[i].section, name) == 0)
      return 1;
  return 0;
}

rag_status rag_cfg_apply_json(rag_cfg *c, const char *json, rag_err *err) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
  if (!root) {
    size_t off = end ? (size_t)(end - json) : 0;
    return rag_fail(err, RAG_BADARG, "config: invalid JSON near byte %zu", off);
  }
  rag_status rc = RAG_OK;
  cJSON *sections = NULL; /* references into root */
  if (!cJSON_IsObject(root)) {
    rc = rag_fail(err, RAG_BADARG, "config: top level must be an object");
    goto out;
  }
  for (cJSON *it = root->child; it && !rc; it = it->next) {
    if (cJSON_IsObject(it) && is_section(it->string)) {
      for (cJSON *kv = it->child; kv && !rc; kv = kv->next) {
        const opt *o = find_opt(it->string, kv->string);
        if (!o)
          rc = rag_fail(err, RAG_BADARG, "config: unknown key %s.%s",
                        it->string, kv->string);
        else
          rc = set_opt(c, o, kv, err);
      }
      continue;
    }
    const opt *o = find_opt(NULL, it->string);
    if (!o) {
      /* Sections that later modules own (providers, models, routes, server,
      ** watch) are accepted here and read by those modules. */
      static const char *const later[] = {
          "providers", "models",  "routes", "server",    "watch",
          "auth",      "budgets", "usage",  "tokenizer", NULL};
      int known = 0;
      for (int i = 0; later[i]; i++)
        if (strcmp(it->string, later[i]) == 0)
          known = 1;
      if (!known)
        rc = rag_fail(err, RAG_BADARG, "config: unknown key %s", it->string);
      else if (!sections)
        sections = cJSON_CreateObject();
      if (known && sections)
        cJSON_AddItemReferenceToObject(sections, it->string, it);
      if (known && !sections)
        rc = rag_fail(err, RAG_NOMEM, "config: out of memory");
      continue;
    }
    rc = set_opt(c, o, it, err);
  }
  if (!rc && c->chunk.overlap >= c->chunk.size)
    rc = rag_fail(err, RAG_BADARG,
                  "config: chunk.overlap (%d) must be below chunk.size (%d)",
                  c->chunk.overlap, c->chunk.size);
  if (!rc && c->embedding.char_ngram_min > c->embedding.char_ngram_max)
    rc = rag_fail(err, RAG_BADARG,
                  "config: embedding.char_ngram_min must not exceed "
                  "char_ngram_max");
  if (!rc && rag_log_parse_level(c->log_level) < 0)
    rc = rag_fail(err, RAG_BADARG,
                  "config: log_level must be debug, info, warn, error or off");
  if (!rc && sections) {
    char *text = cJSON_PrintUnformatted(sections);
    if (!text) {
      rc = rag_fail(err, RAG_NOMEM, "config: out of memory");
    } else {
      free(c->sections_json);
      c->sections_json = text;
    }
  }
out:
  cJSON_Delete(sections);
  cJSON_Delete(root);
  return rc;
}

rag_status rag_cfg_load(rag_cfg *c, const char *path, rag_err *err) {
  rag_status rc = rag_cfg_default(c, err);
  if (rc || !path)
    return rc;
  rag_buf b;
  rag_buf_init(&b, 4 << 20); /* a config over 4 MiB is a mistake */
  rc = rag_buf_read_file(&b, path, err);
  if (!rc)
    rc = rag_cfg_apply_json(c, b.data, err);
  rag_buf_free(&b);
  if (rc)
    rag_cfg_free(c);
  return rc;
}
