/* core/rag_cfg.h -- The one configuration file (JSON), with defaults.
** Every option has a default, so no file is needed. main() loads the file
** once and passes `const rag_cfg *` down; nothing else writes it.
** Ownership: rag_cfg_load() fills a caller-owned rag_cfg whose strings it
**            owns; release them with rag_cfg_free().
** Errors:    unknown keys, wrong types and out-of-range values fail with
**            RAG_BADARG and a message naming the key.
** Threads:   read-only after loading; share freely. */
#ifndef RAG_CFG_H
#define RAG_CFG_H

#include "core/rag.h"

typedef enum { RAG_FUSION_RRF, RAG_FUSION_WEIGHTED } rag_fusion;
typedef enum { RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID } rag_mode;

typedef struct rag_cfg {
  char *log_level; /* "info" */

  struct {
    int size;     /* target chunk size in tokens (500) */
    int overlap;  /* overlap between chunks in tokens (50) */
    int min_size; /* merge trailing pieces below this (32) */
  } chunk;

  struct {
    char *provider;     /* "hash" */
    int dim;            /* hash embedder dimension (1024) */
    int char_ngram_min; /* 3 */
    int char_ngram_max; /* 5 */
    int batch;          /* texts per embed call (64) */
  } embedding;

  struct {
    char *factory;          /* FAISS index_factory string ("IDMap2,Flat") */
    int hnsw_ef_search;     /* efSearch for HNSW indexes (128) */
    int ivf_nprobe;         /* nprobe for IVF indexes (16) */
    double tombstone_ratio; /* rebuild when deleted/total passes this (0.2) */
    int lexical_memory;     /* serve/eval keep full text in memory too,
                            ** index/kb_lex.h (1) */
  } index;

  struct {
    rag_mode mode;         /* hybrid */
    int top_k;             /* results returned (10) */
    int candidates;        /* candidates per retriever before fusion (100) */
    rag_fusion fusion;     /* rrf */
    int rrf_k;             /* 60 */
    double vector_weight;  /* weighted fusion (0.7) */
    double keyword_weight; /* weighted fusion (0.3) */
    double threshold;      /* drop results scoring below (0 = keep all) */
    int rerank;            /* rerank by default (0) */
    int rerank_top_n;      /* candidates the reranker sees (50) */
  } retrieval;

  struct {
    char *provider; /* "local" */
  } rerank;

  struct {
    long long max_file_bytes; /* files above this are skipped (64 MiB) */
    char *pdftotext;          /* "pdftotext" */
    int batch_docs;           /* documents per embedding pass (2048) */
  } ingest;

  /* The sections other modules parse themselves (providers, models,
  ** routes, server, watch, auth, budgets, usage), as one JSON object text:
  ** "{}" when the config has none. See core/rag_models.h. */
  char *sections_json;
} rag_cfg;

/* Fills c with the documented defaults. Strings are owned by c. Returns
** RAG_NOMEM on allocation failure. */
rag_status rag_cfg_default(rag_cfg *c, rag_err *err);
/* Loads defaults, then overrides them from the JSON file at path. */
rag_status rag_cfg_load(rag_cfg *c, const char *path, rag_err *err);
/* Overrides c from JSON text (used by rag_cfg_load and tests). */
rag_status rag_cfg_apply_json(rag_cfg *c, const char *json, rag_err *err);
void rag_cfg_free(rag_cfg *c);

/* "vector" | "fulltext" | "hybrid" -> mode; -1 when unknown. */
int rag_mode_parse(const char *s);
const char *rag_mode_name(rag_mode m);

#endif
