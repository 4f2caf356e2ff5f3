/* bench/bench_ingest_query.c -- Ingest throughput and query latency of
** ragd at ~100k chunks, each figure next to a raw-library baseline taken
** in the same run.
** Usage: bench_ingest_query [--replicas N] [--dataset DIR] [--queries N]
**             [--rounds N] [--out DIR] [--hnsw-ingest] [--json]
** Divisions:
**   1. Options and the work directory
**   2. The replicated corpus (BEIR corpus.jsonl x N) and the queries
**   3. Ingest (timed) and the HNSW index (rebuilt or ingested, timed)
**   4. Query series: ragd (ret_search, kb layer) and raw baselines
**   5. Report: table or JSON
** Not a test: it prints figures and asserts nothing. The machine may be
** small and busy, so every latency is a median (p50) or p95 over all
** queries, and ratios are taken between figures of the same run. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench/bench_util.h"
#include "core/rag_arena.h"
#include "core/rag_log.h"
#include "ingest/ing.h"
#include "retrieval/ret.h"

/* The dataset sits in ../shared beside the checkout. */
#define DEFAULT_DATASET RAG_SOURCE_DIR "/../shared/datasets/cranfield"
#define TARGET_DOCS 100000 /* the default replica count reaches this */
#define TOP_K 10
#define CANDIDATES 100     /* per retriever; also k of the raw FAISS search */
#define WARMUP 5           /* untimed queries before every series */
#define EMBED_SAMPLE 10000 /* chunks embedded alone: enough for a rate */

/* ---- 1. Options and the work directory ---- */

typedef struct opts {
  int replicas; /* 0 = enough for TARGET_DOCS */
  const char *dataset;
  int queries; /* 0 = all */
  const char *out;
  int hnsw_ingest; /* also ingest a second KB with HNSW */
  int rounds;      /* timed runs of each query per series */
  int json;
  const char *lexical; /* time only the lexical series on this KB */
} opts;

static const char usage[] =
    "usage: bench_ingest_query [--replicas N] [--dataset DIR] [--queries N]\n"
    "                          [--rounds N] [--out DIR] [--hnsw-ingest]\n"
    "                          [--json]\n"
    "  --replicas N    copies of each document (default: enough for 100000)\n"
    "  --dataset DIR   BEIR dataset with corpus.jsonl and queries.jsonl\n"
    "                  (default " DEFAULT_DATASET ")\n"
    "  --queries N     use the first N queries (default: all)\n"
    "  --rounds N      timed runs per query and series; median kept (3)\n"
    "  --out DIR       keep the corpus, KBs and bench.json in DIR (default:\n"
    "                  a temp dir, removed at the end)\n"
    "  --hnsw-ingest   also time a full ingest into a second, HNSW KB\n"
    "  --json          print one JSON object instead of the table\n"
    "  --lexical KB    no ingest: time only the full-text series on the\n"
    "                  existing KB directory (e.g. DIR/kb-flat of --out)\n";

static int parse_int(const char *s, int lo, int *out) {
  int64_t v;
  if (rag_parse_i64(s, &v) || v < lo || v > 1000000)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option lo[] = {{"replicas", required_argument, 0, 'r'},
                                     {"dataset", required_argument, 0, 'd'},
                                     {"queries", required_argument, 0, 'q'},
                                     {"rounds", required_argument, 0, 'R'},
                                     {"out", required_argument, 0, 'o'},
                                     {"hnsw-ingest", no_argument, 0, 'H'},
                                     {"json", no_argument, 0, 'j'},
                                     {"lexical", required_argument, 0, 'L'},
                                     {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};
  memset(o, 0, sizeof(*o));
  o->dataset = DEFAULT_DATASET;
  o->rounds = 3;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c == 'r' && parse_int(optarg, 1, &o->replicas) == 0)
      continue;
    if (c == 'q' && parse_int(optarg, 1, &o->queries) == 0)
      continue;
    if (c == 'R' && parse_int(optarg, 1, &o->rounds) == 0)
      continue;
    if (c == 'd')
      o->dataset = optarg;
    else if (c == 'o')
      o->out = optarg;
    else if (c == 'H')
      o->hnsw_ingest = 1;
    else if (c == 'j')
      o->json = 1;
    else if (c == 'L')
      o->lexical = optarg;
    else {
      fputs(usage, c == 'h' ? stdout : stderr);
      return c == 'h' ? 1 : -1;
    }
  }
  if (optind < argc) {
    fputs(usage, stderr);
    return -1;
  }
  return 0;
}

/* ---- 2. The replicated corpus and the queries ---- */

typedef struct doc {
  char *id, *title, *text; /* JSON-escaped, with their quotes */
} doc;

typedef struct dataset {
  doc *docs;
  size_t ndocs;
  char **queries; /* plain text */
  size_t nq;
} dataset;

static void dataset_free(dataset *d) {
  for (size_t i = 0; i < d->ndocs; i++) {
    free(d->docs[i].id);
    free(d->docs[i].title);
    free(d->docs[i].text);
  }
  free(d->docs);
  for (size_t i = 0; i < d->nq; i++)
    free(d->queries[i]);
  free(d->queries);
}

/* The JSON text of a string value (with quotes), malloc'd; "" for a
** missing or non-string field. */
static char *json_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  cJSON *s = cJSON_CreateString(cJSON_IsString(v) ? v->valuestring : "");
  char *r = s ? cJSON_PrintUnformatted(s) : NULL;
  cJSON_Delete(s);
  return r;
}

static int on_doc(void *ctx, const cJSON *j) {
  dataset *d = ctx;
  if ((d->ndocs & (d->ndocs - 1)) == 0) { /* grow at powers of two */
    doc *p = realloc(d->docs, (d->ndocs ? 2 * d->ndocs : 1) * sizeof(*p));
    if (!p)
      return -1;
    d->docs = p;
  }
  doc *x = &d->docs[d->ndocs];
  x->id = json_str(j, "_id");
  x->title = json_str(j, "title");
  x->text = json_str(j, "text");
  d->ndocs++;
  return x->id && x->title && x->text ? 0 : -1;
}

static int on_query(void *ctx, const cJSON *j) {
  dataset *d = ctx;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
  if (!cJSON_IsString(t))
    return 0;
  if ((d->nq & (d->nq - 1)) == 0) {
    char **p = realloc(d->queries, (d->nq ? 2 * d->nq : 1) * sizeof(*p));
    if (!p)
      return -1;
    d->queries = p;
  }
  d->queries[d->nq] = rag_strdup(t->valuestring);
  return d->queries[d->nq++] ? 0 : -1;
}

/* Writes replicas copies of every document, replica-major, with _id
** "<rep>-<id>" and " r<rep>" appended to the title: no two lines are
** byte-identical, so ingest cannot skip one by its hash, while each copy
** still chunks (and embeds) like the original. */
static int write_corpus(const dataset *d, int replicas, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "bench: cannot write %s\n", path);
    return -1;
  }
  for (int r = 0; r < replicas; r++) {
    for (size_t i = 0; i < d->ndocs; i++) {
      const doc *x = &d->docs[i];
      /* The escaped strings end with their closing quote: print the id
      ** after the new prefix and the title up to its closing quote. */
      fprintf(f, "{\"_id\":\"%d-%s,\"title\":%.*s r%d\",\"text\":%s}\n", r,
              x->id + 1, (int)strlen(x->title) - 1, x->title, r, x->text);
    }
  }
  int bad = ferror(f);
  return fclose(f) != 0 || bad ? -1 : 0;
}

/* ---- 3. Ingest and the HNSW index ---- */

typedef struct ingest_fig {
  const char *factory;
  int64_t docs, chunks, skipped;
  double seconds; /* wall time of ing_paths, flush included */
} ingest_fig;

typedef struct progress {
  double last;
  int64_t notices;
} progress;

static void on_progress(void *ctx, const ing_summary *s) {
  progress *p = ctx;
  double now = rag_now();
  if (now - p->last < 10)
    return; /* a line every 10 s is enough to see it is alive */
  p->last = now;
  fprintf(stderr, "bench:   %lld docs, %lld chunks, %.0f chunks/s\n",
          (long long)s->files_done, (long long)s->chunks_added,
          s->seconds > 0 ? s->chunks_added / s->seconds : 0);
}

static void on_notice(void *ctx, const char *source, rag_status code,
                      const char *msg) {
  progress *p = ctx;
  if (p->notices++ < 5)
    fprintf(stderr, "bench: %s: %s: %s\n", source, rag_status_name(code), msg);
}

static rag_status ingest(const rag_cfg *cfg, const char *kbdir,
                         const char *factory, const char *corpus,
                         ingest_fig *fig, ing_kb **out, rag_err *err) {
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 1;
  ko.factory = factory;
  fig->factory = factory;
  fprintf(stderr, "bench: ingesting %s into %s (%s)\n", corpus, kbdir, factory);
  rag_status rc = ing_kb_open(cfg, kbdir, &ko, out, err);
  if (rc)
    return rc;
  progress p = {rag_now(), 0};
  ing_run_opts ro = {0};
  ro.progress = on_progress;
  ro.notice = on_notice;
  ro.ctx = &p;
  ing_summary s;
  memset(&s, 0, sizeof(s));
  double t0 = rag_now();
  rc = ing_paths(*out, &corpus, 1, &ro, &s, err);
  fig->seconds = rag_now() - t0;
  fig->docs = s.docs_added + s.docs_replaced + s.docs_unchanged;
  fig->chunks = s.chunks_added;
  fig->skipped = s.files_skipped;
  if (rc) {
    ing_kb_close(*out);
    *out = NULL;
  }
  return rc;
}

/* ---- 4. Query series ---- */

/* Every series holds one sample per query, in query order, so two series
** can be added query by query into a baseline (embed + raw search). */
enum {
  S_EMBED,
  S_RAW_FTS,
  S_RAW_FLAT,
  S_RAW_HNSW,
  S_KB_FTS,
  S_KB_VEC_FLAT,
  S_KB_VEC_HNSW,
  S_RET_FT_FLAT,
  S_RET_VEC_FLAT,
  S_RET_HYB_FLAT,
  S_RET_FT_HNSW,
  S_RET_VEC_HNSW,
  S_RET_HYB_HNSW,
  S_BASE_VEC_FLAT, /* derived: embed + raw FAISS Flat */
  S_BASE_VEC_HNSW, /* derived: embed + raw FAISS HNSW */
  S_BASE_HYB_FLAT, /* derived: embed + raw FTS5 + raw FAISS Flat */
  S_BASE_HYB_HNSW, /* derived: embed + raw FTS5 + raw FAISS HNSW */
  /* The lexical path the old way (KB_FTS_EXHAUSTIVE) and pruned with no
  ** document-frequency cache, on the same handles in the same run. */
  S_KB_FTS_EX,
  S_KB_FTS_NOCACHE,
  S_RET_FT_FLAT_EX,
  S_RET_HYB_FLAT_EX,
  S_RET_HYB_HNSW_EX,
  S_COUNT
};

static const struct {
  const char *key, *label;
} series_info[S_COUNT] = {
    {"embed", "query embedding alone"},
    {"raw_fts5", "raw FTS5 (SQL, LIMIT 100)"},
    {"raw_faiss_flat", "raw FAISS Flat (k=100)"},
    {"raw_faiss_hnsw", "raw FAISS HNSW (k=100)"},
    {"kb_fts_search", "kb_fts_search (k=100)"},
    {"kb_vec_search_flat", "kb_vec_search Flat (k=100)"},
    {"kb_vec_search_hnsw", "kb_vec_search HNSW (k=100)"},
    {"ragd_fulltext_flat", "ragd fulltext, Flat KB"},
    {"ragd_vector_flat", "ragd vector, Flat"},
    {"ragd_hybrid_flat", "ragd hybrid, Flat"},
    {"ragd_fulltext_hnsw", "ragd fulltext, HNSW KB"},
    {"ragd_vector_hnsw", "ragd vector, HNSW"},
    {"ragd_hybrid_hnsw", "ragd hybrid, HNSW"},
    {"base_vector_flat", "embed + raw FAISS Flat"},
    {"base_vector_hnsw", "embed + raw FAISS HNSW"},
    {"base_hybrid_flat", "embed + raw FTS5 + raw Flat"},
    {"base_hybrid_hnsw", "embed + raw FTS5 + raw HNSW"},
    {"kb_fts_search_exhaustive", "kb_fts_search exhaustive (old)"},
    {"kb_fts_search_nocache", "kb_fts_search pruned, no df cache"},
    {"ragd_fulltext_flat_exhaustive", "ragd fulltext exhaustive, Flat"},
    {"ragd_hybrid_flat_exhaustive", "ragd hybrid exhaustive, Flat"},
    {"ragd_hybrid_hnsw_exhaustive", "ragd hybrid exhaustive, HNSW"},
};

/* What one timed operation needs; each op uses its own fields. */
typedef struct qrun {
  char **texts;       /* query texts */
  const char **match; /* kb_fts_query of each text (NULL: no term) */
  float *qv;          /* nq*dim pre-embedded query vectors */
  int dim;
  emb_provider *emb;
  bench_fts *fts;
  bench_faiss *faiss;
  kb *kb;
  kb_vec *vec;
  ret_ctx rc;
  ret_query q;
  rag_arena *arena;
  int rounds;
  float dist[CANDIDATES];
  int64_t ids[CANDIDATES];
} qrun;

static rag_status op_embed(void *ctx, size_t i, rag_err *err) {
  qrun *r = ctx;
  const char *t = r->texts[i];
  return emb_embed(r->emb, &t, 1, EMB_QUERY, r->qv + i * (size_t)r->dim, err);
}

static rag_status op_raw_fts(void *ctx, size_t i, rag_err *err) {
  qrun *r = ctx;
  int n;
  return r->match[i] ? bench_fts_run(r->fts, r->match[i], CANDIDATES, &n, err)
                     : RAG_OK;
}

static rag_status op_raw_faiss(void *ctx, size_t i, rag_err *err) {
  qrun *r = ctx;
  return bench_faiss_search(r->faiss, r->qv + i * (size_t)r->dim, CANDIDATES,
                            r->dist, r->ids, err);
}

static rag_status op_kb_fts(void *ctx, size_t i, rag_err *err) {
  qrun *r = ctx;
  kb_fts_hit *h;
  size_t n;
  rag_arena_reset(r->arena);
  return kb_fts_search(r->kb, r->texts[i], CANDIDATES, r->arena, &h, &n, err);
}

static rag_status op_kb_vec(void *ctx, size_t i, rag_err *err) {
  qrun *r = ctx;
  size_t n;
  return kb_vec_search(r->vec, r->qv + i * (size_t)r->dim, CANDIDATES, r->ids,
                       r->dist, &n, err);
}

static rag_status op_ret(void *ctx, size_t i, rag_err *err) {
  qrun *r = ctx;
  ret_hit *h;
  size_t n;
  rag_arena_reset(r->arena);
  r->q.text = r->texts[i];
  return ret_search(&r->rc, &r->q, r->arena, &h, &n, err);
}

/* ---- 5. Report ---- */

typedef struct figures {
  const char *dataset;
  int replicas;
  size_t ndocs, nq;
  int rounds;
  double corpus_seconds;
  size_t nembed;        /* chunk texts in the embed-only sample */
  double embed_seconds; /* their embedding time */
  ingest_fig ing[2];
  int ning;
  const char *hnsw_factory;
  double rebuild_seconds; /* ing_kb_open with the HNSW factory */
  int rebuilt;
  int64_t nvec;
  double read_vec_seconds, raw_flat_seconds, raw_hnsw_seconds;
  int raw_hnsw_loaded; /* 1: from the kb file, 0: built from embeddings */
  bench_series s[S_COUNT];
} figures;

static const struct {
  const char *key, *label;
  int num, den;
} ratio_info[] = {
    {"fulltext_vs_raw_fts5", "ragd fulltext / raw FTS5", S_RET_FT_FLAT,
     S_RAW_FTS},
    {"kb_fts_vs_raw_fts5", "kb_fts_search / raw FTS5", S_KB_FTS, S_RAW_FTS},
    {"vector_flat_vs_base", "ragd vector Flat / (embed + raw Flat)",
     S_RET_VEC_FLAT, S_BASE_VEC_FLAT},
    {"kb_vec_flat_vs_raw", "kb_vec_search Flat / raw Flat", S_KB_VEC_FLAT,
     S_RAW_FLAT},
    {"hybrid_flat_vs_base", "ragd hybrid Flat / (embed + FTS5 + Flat)",
     S_RET_HYB_FLAT, S_BASE_HYB_FLAT},
    {"vector_hnsw_vs_base", "ragd vector HNSW / (embed + raw HNSW)",
     S_RET_VEC_HNSW, S_BASE_VEC_HNSW},
    {"kb_vec_hnsw_vs_raw", "kb_vec_search HNSW / raw HNSW", S_KB_VEC_HNSW,
     S_RAW_HNSW},
    {"hybrid_hnsw_vs_base", "ragd hybrid HNSW / (embed + FTS5 + HNSW)",
     S_RET_HYB_HNSW, S_BASE_HYB_HNSW},
    {"embed_share_of_vector_flat", "embed / ragd vector Flat", S_EMBED,
     S_RET_VEC_FLAT},
    {"flat_vs_hnsw_vector", "ragd vector Flat / ragd vector HNSW",
     S_RET_VEC_FLAT, S_RET_VEC_HNSW},
    {"kb_fts_exhaustive_vs_pruned", "kb_fts_search exhaustive / pruned",
     S_KB_FTS_EX, S_KB_FTS},
    {"kb_fts_exhaustive_vs_nocache", "kb_fts exhaustive / pruned no cache",
     S_KB_FTS_EX, S_KB_FTS_NOCACHE},
    {"fulltext_exhaustive_vs_pruned", "ragd fulltext exhaustive / pruned",
     S_RET_FT_FLAT_EX, S_RET_FT_FLAT},
    {"hybrid_flat_exhaustive_vs_pruned", "ragd hybrid Flat exhaustive / pruned",
     S_RET_HYB_FLAT_EX, S_RET_HYB_FLAT},
    {"hybrid_hnsw_exhaustive_vs_pruned", "ragd hybrid HNSW exhaustive / pruned",
     S_RET_HYB_HNSW_EX, S_RET_HYB_HNSW},
};
#define NRATIO (sizeof(ratio_info) / sizeof(ratio_info[0]))

static double ratio(const figures *f, size_t r, double p) {
  double d = bench_pct(&f->s[ratio_info[r].den], p);
  return d > 0 ? bench_pct(&f->s[ratio_info[r].num], p) / d : 0;
}

static double per_s(double n, double s) {
  return s > 0 ? n / s : 0;
}

/* Ingest and index-build figures (absent with --lexical). */
static void print_build(const figures *f) {
  printf("corpus written in %.2f s\n\n", f->corpus_seconds);
  printf("%-30s %9s %9s %9s %10s\n", "ingest (ing_paths)", "docs", "chunks",
         "seconds", "chunks/s");
  for (int i = 0; i < f->ning; i++)
    printf("  %-28s %9lld %9lld %9.2f %10.0f\n", f->ing[i].factory,
           (long long)f->ing[i].docs, (long long)f->ing[i].chunks,
           f->ing[i].seconds, per_s(f->ing[i].chunks, f->ing[i].seconds));
  printf("  %-28s %9s %9zu %9.2f %10.0f\n", "embed only (first chunks)", "",
         f->nembed, f->embed_seconds,
         per_s((double)f->nembed, f->embed_seconds));
  printf("\n%-30s %9s %9s %10s\n", "index build", "vectors", "seconds",
         "vectors/s");
  printf("  %-28s %9lld %9.2f %10.0f%s\n", "kb_vec rebuild, HNSW",
         (long long)f->nvec, f->rebuild_seconds,
         per_s((double)f->nvec, f->rebuild_seconds),
         f->rebuilt ? "" : "  (NOT rebuilt: loaded)");
  printf("  %-28s %9lld %9.2f %10.0f\n", "read embeddings (SQLite)",
         (long long)f->nvec, f->read_vec_seconds,
         per_s((double)f->nvec, f->read_vec_seconds));
  printf("  %-28s %9lld %9.2f %10.0f\n", "raw FAISS Flat add",
         (long long)f->nvec, f->raw_flat_seconds,
         per_s((double)f->nvec, f->raw_flat_seconds));
  printf("  %-28s %9lld %9.2f %10.0f\n",
         f->raw_hnsw_loaded ? "raw FAISS HNSW (read file)"
                            : "raw FAISS HNSW build",
         (long long)f->nvec, f->raw_hnsw_seconds,
         per_s((double)f->nvec, f->raw_hnsw_seconds));
}

static void print_table(const figures *f) {
  printf("bench_ingest_query: %s x%d = %zu docs; %zu queries, top_k %d, "
         "candidates %d\n\n",
         f->dataset, f->replicas, f->ndocs, f->nq, TOP_K, CANDIDATES);
  if (f->ning > 0)
    print_build(f);
  printf("\n%-42s %8s %8s %8s\n", "query latency (ms, median of rounds)", "p50",
         "p95", "mean");
  for (int i = 0; i < S_COUNT; i++)
    if (f->s[i].n > 0)
      printf("  %-40s %8.3f %8.3f %8.3f\n", series_info[i].label,
             bench_pct(&f->s[i], 50), bench_pct(&f->s[i], 95),
             bench_mean(&f->s[i]));
  printf("\n%-44s %7s %7s\n", "ratios", "p50", "p95");
  for (size_t r = 0; r < NRATIO; r++)
    if (f->s[ratio_info[r].num].n > 0 && f->s[ratio_info[r].den].n > 0)
      printf("  %-42s %7.2f %7.2f\n", ratio_info[r].label, ratio(f, r, 50),
             ratio(f, r, 95));
}

static void print_json(FILE *out, const figures *f) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "dataset", f->dataset);
  cJSON_AddNumberToObject(o, "replicas", f->replicas);
  cJSON_AddNumberToObject(o, "docs", (double)f->ndocs);
  cJSON_AddNumberToObject(o, "queries", (double)f->nq);
  cJSON_AddNumberToObject(o, "top_k", TOP_K);
  cJSON_AddNumberToObject(o, "candidates", CANDIDATES);
  cJSON_AddNumberToObject(o, "rounds", f->rounds);
  cJSON_AddNumberToObject(o, "corpus_seconds", f->corpus_seconds);
  cJSON_AddNumberToObject(o, "embed_only_chunks", (double)f->nembed);
  cJSON_AddNumberToObject(o, "embed_only_seconds", f->embed_seconds);
  cJSON *ing = cJSON_AddArrayToObject(o, "ingest");
  for (int i = 0; i < f->ning; i++) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "factory", f->ing[i].factory);
    cJSON_AddNumberToObject(x, "docs", (double)f->ing[i].docs);
    cJSON_AddNumberToObject(x, "chunks", (double)f->ing[i].chunks);
    cJSON_AddNumberToObject(x, "skipped", (double)f->ing[i].skipped);
    cJSON_AddNumberToObject(x, "seconds", f->ing[i].seconds);
    cJSON_AddNumberToObject(x, "chunks_per_s",
                            per_s(f->ing[i].chunks, f->ing[i].seconds));
    cJSON_AddItemToArray(ing, x);
  }
  cJSON *b = cJSON_AddObjectToObject(o, "index_build");
  cJSON_AddStringToObject(b, "factory", f->hnsw_factory);
  cJSON_AddNumberToObject(b, "vectors", (double)f->nvec);
  cJSON_AddNumberToObject(b, "rebuild_seconds", f->rebuild_seconds);
  cJSON_AddBoolToObject(b, "rebuilt", f->rebuilt);
  cJSON_AddNumberToObject(b, "read_embeddings_seconds", f->read_vec_seconds);
  cJSON_AddNumberToObject(b, "raw_flat_add_seconds", f->raw_flat_seconds);
  cJSON_AddNumberToObject(b, "raw_hnsw_seconds", f->raw_hnsw_seconds);
  cJSON_AddBoolToObject(b, "raw_hnsw_loaded_from_kb_file", f->raw_hnsw_loaded);
  cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
  for (int i = 0; i < S_COUNT; i++) {
    cJSON *x = cJSON_AddObjectToObject(lat, series_info[i].key);
    cJSON_AddNumberToObject(x, "p50", bench_pct(&f->s[i], 50));
    cJSON_AddNumberToObject(x, "p95", bench_pct(&f->s[i], 95));
    cJSON_AddNumberToObject(x, "mean", bench_mean(&f->s[i]));
  }
  cJSON *rat = cJSON_AddObjectToObject(o, "ratios");
  for (size_t r = 0; r < NRATIO; r++) {
    cJSON *x = cJSON_AddObjectToObject(rat, ratio_info[r].key);
    cJSON_AddNumberToObject(x, "p50", ratio(f, r, 50));
    cJSON_AddNumberToObject(x, "p95", ratio(f, r, 95));
  }
  char *s = cJSON_Print(o);
  if (s)
    fprintf(out, "%s\n", s);
  free(s);
  cJSON_Delete(o);
}

/* ---- Orchestration ---- */

static rag_status time_series(const char *what, bench_op fn, qrun *r, size_t nq,
                              bench_series *s, rag_err *err) {
  fprintf(stderr, "bench: timing %s\n", what);
  return bench_time(fn, r, nq, WARMUP, r->rounds, s, err);
}

/* Opens kbdir again with the HNSW factory: the FAISS file names the Flat
** factory, so kb_vec_open rebuilds from the embeddings in SQLite, which
** times the index build alone (no loading, chunking or embedding). */
static rag_status open_rebuilt(const rag_cfg *cfg, const char *kbdir,
                               figures *f, ing_kb **out, rag_err *err) {
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 0;
  ko.factory = f->hnsw_factory;
  fprintf(stderr, "bench: rebuilding %s as %s\n", kbdir, f->hnsw_factory);
  double t0 = rag_now();
  rag_status rc = ing_kb_open(cfg, kbdir, &ko, out, err);
  f->rebuild_seconds = rag_now() - t0;
  if (!rc)
    f->rebuilt = kb_vec_was_rebuilt((*out)->vec);
  return rc;
}

/* The raw FAISS indexes: Flat from the stored embeddings; HNSW read from
** the file ragd just wrote (the very same graph, so recall and work per
** query match), or built from the embeddings when that file cannot be
** read as plain FAISS. */
static rag_status build_raw(const rag_cfg *cfg, ing_kb *kf, ing_kb *kh,
                            figures *f, bench_faiss **flat, bench_faiss **hnsw,
                            rag_err *err) {
  bench_vecs v;
  memset(&v, 0, sizeof(v));
  fprintf(stderr, "bench: building the raw FAISS indexes\n");
  double t0 = rag_now();
  rag_status rc =
      bench_vecs_load(kf->kb, emb_model(kf->emb), emb_dim(kf->emb), &v, err);
  f->read_vec_seconds = rag_now() - t0;
  f->nvec = (int64_t)v.n;
  if (!rc) {
    t0 = rag_now();
    rc = bench_faiss_build("IDMap2,Flat", v.dim, v.x, v.ids, v.n, 0, flat, err);
    f->raw_flat_seconds = rag_now() - t0;
  }
  if (!rc) {
    rag_err e2;
    rag_err_clear(&e2);
    t0 = rag_now();
    f->raw_hnsw_loaded = 1;
    if (bench_faiss_load_kbfile(kb_vec_path(kh->vec), cfg->index.hnsw_ef_search,
                                hnsw, &e2)) {
      fprintf(stderr, "bench: %s; building raw HNSW from embeddings\n", e2.msg);
      f->raw_hnsw_loaded = 0;
      t0 = rag_now();
      rc = bench_faiss_build(f->hnsw_factory, v.dim, v.x, v.ids, v.n,
                             cfg->index.hnsw_ef_search, hnsw, err);
    }
    f->raw_hnsw_seconds = rag_now() - t0;
  }
  bench_vecs_free(&v);
  return rc;
}

/* Runs every query series of one KB: its full-text and kb_vec layers, the
** raw FAISS index given, and ret_search in all three modes. flat selects
** which slots of f->s receive the figures. */
static rag_status time_kb(const rag_cfg *cfg, qrun *r, ing_kb *k,
                          bench_faiss *raw, int flat, size_t nq, figures *f,
                          rag_err *err) {
  const char *name = flat ? "Flat" : "HNSW";
  char what[64];
  r->kb = k->kb;
  r->vec = k->vec;
  r->faiss = raw;
  r->rc.kb = k->kb;
  r->rc.vec = k->vec;
  r->rc.emb = k->emb;
  r->rc.rr = NULL;
  r->rc.lex = NULL;
  r->q = ret_query_default(cfg);
  r->q.top_k = TOP_K;
  r->q.candidates = CANDIDATES;
  r->q.rerank = 0;
  rag_status rc = RAG_OK;
  if (flat)
    rc = time_series("kb_fts_search", op_kb_fts, r, nq, &f->s[S_KB_FTS], err);
  snprintf(what, sizeof(what), "raw FAISS %s", name);
  if (!rc)
    rc = time_series(what, op_raw_faiss, r, nq,
                     &f->s[flat ? S_RAW_FLAT : S_RAW_HNSW], err);
  snprintf(what, sizeof(what), "kb_vec_search %s", name);
  if (!rc)
    rc = time_series(what, op_kb_vec, r, nq,
                     &f->s[flat ? S_KB_VEC_FLAT : S_KB_VEC_HNSW], err);
  static const rag_mode modes[3] = {RAG_MODE_FULLTEXT, RAG_MODE_VECTOR,
                                    RAG_MODE_HYBRID};
  for (int m = 0; m < 3 && !rc; m++) {
    r->q.mode = modes[m];
    snprintf(what, sizeof(what), "ragd %s, %s", rag_mode_name(modes[m]), name);
    rc = time_series(what, op_ret, r, nq,
                     &f->s[(flat ? S_RET_FT_FLAT : S_RET_FT_HNSW) + m], err);
  }
  /* The same series with FTS5's exhaustive ranking, on the same handle. */
  kb_fts_set_strategy(k->kb, KB_FTS_EXHAUSTIVE);
  if (flat && !rc)
    rc = time_series("kb_fts_search exhaustive", op_kb_fts, r, nq,
                     &f->s[S_KB_FTS_EX], err);
  if (flat && !rc) {
    r->q.mode = RAG_MODE_FULLTEXT;
    rc = time_series("ragd fulltext exhaustive, Flat", op_ret, r, nq,
                     &f->s[S_RET_FT_FLAT_EX], err);
  }
  if (!rc) {
    r->q.mode = RAG_MODE_HYBRID;
    snprintf(what, sizeof(what), "ragd hybrid exhaustive, %s", name);
    rc = time_series(what, op_ret, r, nq,
                     &f->s[flat ? S_RET_HYB_FLAT_EX : S_RET_HYB_HNSW_EX], err);
  }
  kb_fts_set_strategy(k->kb, KB_FTS_PRUNED_NOCACHE);
  if (flat && !rc)
    rc = time_series("kb_fts_search pruned, no cache", op_kb_fts, r, nq,
                     &f->s[S_KB_FTS_NOCACHE], err);
  kb_fts_set_strategy(k->kb, KB_FTS_PRUNED);
  return rc;
}

static rag_status time_queries(const rag_cfg *cfg, const dataset *d, size_t nq,
                               ing_kb *kf, ing_kb *kh, const char *kbdir,
                               bench_faiss *rflat, bench_faiss *rhnsw,
                               figures *f, rag_err *err) {
  qrun r;
  memset(&r, 0, sizeof(r));
  r.texts = d->queries;
  r.rounds = f->rounds;
  r.dim = emb_dim(kf->emb);
  r.emb = kf->emb;
  r.qv = malloc(nq * (size_t)r.dim * sizeof(float));
  r.match = malloc(nq * sizeof(*r.match));
  r.arena = rag_arena_new(0);
  rag_arena *marena = rag_arena_new(0);
  rag_status rc = RAG_OK;
  if (!r.qv || !r.match || !r.arena || !marena)
    rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
  /* The escaped MATCH text is made once: the raw baseline is SQLite's
  ** work alone, the same expression ragd hands to SQLite. */
  for (size_t i = 0; !rc && i < nq; i++)
    r.match[i] = kb_fts_query(d->queries[i], marena);
  if (!rc)
    rc = bench_fts_open(kbdir, &r.fts, err);
  if (!rc)
    rc = time_series("query embedding", op_embed, &r, nq, &f->s[S_EMBED], err);
  if (!rc)
    rc = time_series("raw FTS5", op_raw_fts, &r, nq, &f->s[S_RAW_FTS], err);
  if (!rc)
    rc = time_kb(cfg, &r, kf, rflat, 1, nq, f, err);
  if (!rc)
    rc = time_kb(cfg, &r, kh, rhnsw, 0, nq, f, err);
  if (!rc && (bench_series_sum(&f->s[S_BASE_VEC_FLAT], &f->s[S_EMBED],
                               &f->s[S_RAW_FLAT], NULL) ||
              bench_series_sum(&f->s[S_BASE_VEC_HNSW], &f->s[S_EMBED],
                               &f->s[S_RAW_HNSW], NULL) ||
              bench_series_sum(&f->s[S_BASE_HYB_FLAT], &f->s[S_EMBED],
                               &f->s[S_RAW_FLAT], &f->s[S_RAW_FTS]) ||
              bench_series_sum(&f->s[S_BASE_HYB_HNSW], &f->s[S_EMBED],
                               &f->s[S_RAW_HNSW], &f->s[S_RAW_FTS])))
    rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
  bench_fts_close(r.fts);
  rag_arena_free(marena);
  rag_arena_free(r.arena);
  free(r.match);
  free(r.qv);
  return rc;
}

/* --lexical: the full-text series alone on an existing KB (no ingest, no
** FAISS): raw FTS5, kb_fts_search pruned / exhaustive / pruned without
** the df cache, and ret_search's fulltext mode both ways, in one run. */
static rag_status run_lexical(const char *kbdir, const dataset *d, figures *f,
                              rag_err *err) {
  rag_cfg cfg;
  rag_status rc = rag_cfg_default(&cfg, err);
  if (rc)
    return rc;
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 0;
  ing_kb *k = NULL;
  qrun r;
  memset(&r, 0, sizeof(r));
  r.texts = d->queries;
  r.rounds = f->rounds;
  r.match = malloc(f->nq * sizeof(*r.match));
  r.arena = rag_arena_new(0);
  rag_arena *marena = rag_arena_new(0);
  if (!r.match || !r.arena || !marena)
    rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
  if (!rc)
    rc = ing_kb_open(&cfg, kbdir, &ko, &k, err);
  for (size_t i = 0; !rc && i < f->nq; i++)
    r.match[i] = kb_fts_query(d->queries[i], marena);
  if (!rc)
    rc = bench_fts_open(kbdir, &r.fts, err);
  if (!rc) {
    r.kb = k->kb;
    r.rc.kb = k->kb;
    r.q = ret_query_default(&cfg);
    r.q.top_k = TOP_K;
    r.q.candidates = CANDIDATES;
    r.q.rerank = 0;
    r.q.mode = RAG_MODE_FULLTEXT;
  }
  static const struct {
    const char *what;
    kb_fts_strategy strat;
    int op, slot; /* op 0: raw FTS5, 1: kb_fts_search, 2: ret_search */
  } plan[] = {
      {"raw FTS5", KB_FTS_PRUNED, 0, S_RAW_FTS},
      {"kb_fts_search", KB_FTS_PRUNED, 1, S_KB_FTS},
      {"kb_fts_search exhaustive", KB_FTS_EXHAUSTIVE, 1, S_KB_FTS_EX},
      {"kb_fts_search pruned, no cache", KB_FTS_PRUNED_NOCACHE, 1,
       S_KB_FTS_NOCACHE},
      {"ragd fulltext", KB_FTS_PRUNED, 2, S_RET_FT_FLAT},
      {"ragd fulltext exhaustive", KB_FTS_EXHAUSTIVE, 2, S_RET_FT_FLAT_EX},
  };
  static const bench_op ops[3] = {op_raw_fts, op_kb_fts, op_ret};
  for (size_t i = 0; !rc && i < sizeof(plan) / sizeof(plan[0]); i++) {
    kb_fts_set_strategy(k->kb, plan[i].strat);
    rc = time_series(plan[i].what, ops[plan[i].op], &r, f->nq,
                     &f->s[plan[i].slot], err);
  }
  bench_fts_close(r.fts);
  ing_kb_close(k);
  rag_arena_free(marena);
  rag_arena_free(r.arena);
  free(r.match);
  rag_cfg_free(&cfg);
  return rc;
}

static rag_status run(const opts *o, const dataset *d, const char *work,
                      figures *f, rag_err *err) {
  char corpus[4096], kflat[4096], khnsw[4096];
  if (bench_join(corpus, sizeof(corpus), work, "corpus.jsonl") ||
      bench_join(kflat, sizeof(kflat), work, "kb-flat") ||
      bench_join(khnsw, sizeof(khnsw), work, "kb-hnsw"))
    return rag_fail(err, RAG_TOOBIG, "bench: path too long: %s", work);
  struct stat st;
  if (stat(kflat, &st) == 0 || stat(khnsw, &st) == 0)
    return rag_fail(err, RAG_BADARG,
                    "bench: %s already holds a KB: ingest would skip its "
                    "unchanged documents; remove it or pick another --out",
                    work);
  fprintf(stderr, "bench: writing %d replicas of %zu docs to %s\n", f->replicas,
          d->ndocs, corpus);
  double t0 = rag_now();
  if (write_corpus(d, f->replicas, corpus))
    return rag_fail(err, RAG_IO, "bench: cannot write %s", corpus);
  f->corpus_seconds = rag_now() - t0;

  rag_cfg cfg;
  rag_status rc = rag_cfg_default(&cfg, err);
  if (rc)
    return rc;
  ing_kb *kf = NULL, *kh = NULL, *kh2 = NULL;
  bench_faiss *rflat = NULL, *rhnsw = NULL;
  rc = ingest(&cfg, kflat, "IDMap2,Flat", corpus, &f->ing[0], &kf, err);
  if (!rc) {
    f->ning = 1;
    fprintf(stderr, "bench: embedding %d chunk texts alone\n", EMBED_SAMPLE);
    rc = bench_embed_rate(kf->kb, kf->emb, EMBED_SAMPLE, cfg.embedding.batch,
                          &f->nembed, &f->embed_seconds, err);
  }
  if (!rc)
    rc = open_rebuilt(&cfg, kflat, f, &kh, err);
  if (!rc && o->hnsw_ingest) {
    rc = ingest(&cfg, khnsw, f->hnsw_factory, corpus, &f->ing[1], &kh2, err);
    f->ning = rc ? 1 : 2;
    ing_kb_close(kh2); /* its twin kh serves the queries */
  }
  if (!rc)
    rc = build_raw(&cfg, kf, kh, f, &rflat, &rhnsw, err);
  if (!rc)
    rc = time_queries(&cfg, d, f->nq, kf, kh, kflat, rflat, rhnsw, f, err);
  bench_faiss_free(rflat);
  bench_faiss_free(rhnsw);
  ing_kb_close(kh);
  ing_kb_close(kf);
  rag_cfg_free(&cfg);
  return rc;
}

int main(int argc, char **argv) {
  opts o;
  int p = parse_opts(argc, argv, &o);
  if (p)
    return p < 0 ? 2 : 0;
  sqlite3_initialize();
  rag_log_set_level(RAG_LOG_INFO);

  dataset d;
  memset(&d, 0, sizeof(d));
  char path[4096];
  int bad = bench_join(path, sizeof(path), o.dataset, "corpus.jsonl") ||
            bench_each_line(path, on_doc, &d) ||
            bench_join(path, sizeof(path), o.dataset, "queries.jsonl") ||
            bench_each_line(path, on_query, &d);
  if (bad || d.ndocs == 0 || d.nq == 0) {
    fprintf(stderr, "bench: %s: no documents or no queries\n", o.dataset);
    dataset_free(&d);
    return 1;
  }

  figures *f = calloc(1, sizeof(*f));
  char work[4096];
  int temp = o.out == NULL;
  if (temp) {
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof(work), "%s/ragd-bench-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
  } else {
    snprintf(work, sizeof(work), "%s", o.out);
  }
  if (!f || (temp ? mkdtemp(work) == NULL
                  : mkdir(work, 0755) != 0 && access(work, W_OK) != 0)) {
    fprintf(stderr, "bench: cannot create %s\n", work);
    free(f);
    dataset_free(&d);
    return 1;
  }
  f->dataset = o.dataset;
  f->ndocs = d.ndocs;
  f->replicas =
      o.replicas ? o.replicas : (int)((TARGET_DOCS + d.ndocs - 1) / d.ndocs);
  f->ndocs = d.ndocs * (size_t)f->replicas;
  f->nq = o.queries && (size_t)o.queries < d.nq ? (size_t)o.queries : d.nq;
  f->hnsw_factory = "IDMap2,HNSW32";
  f->rounds = o.rounds;

  rag_err err;
  rag_err_clear(&err);
  rag_status rc = o.lexical ? run_lexical(o.lexical, &d, f, &err)
                            : run(&o, &d, work, f, &err);
  if (rc)
    fprintf(stderr, "bench: %s\n", err.msg);
  else if (o.json)
    print_json(stdout, f);
  else
    print_table(f);
  FILE *jf = NULL;
  if (!rc && !temp && bench_join(path, sizeof(path), work, "bench.json") == 0)
    jf = fopen(path, "w"); /* a kept run keeps its figures too */
  if (jf) {
    print_json(jf, f);
    fclose(jf);
  }
  if (temp)
    bench_rm_tree(work);
  for (int i = 0; i < S_COUNT; i++)
    bench_series_free(&f->s[i]);
  free(f);
  dataset_free(&d);
  sqlite3_shutdown();
  return rc ? 1 : 0;
}
