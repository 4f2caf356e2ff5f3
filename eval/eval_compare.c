/* eval/eval_compare.c -- `ragd compare`: combinations, metering, resume,
** significance.
** Layout: files and folders; the metering embedder; row (de)serialization;
** one KB's rows; the driver; accessors and report.json. */
#include "eval/eval_compare.h"

#include "core/rag_hash.h"
#include "core/rag_models.h"
#include "core/rag_tokcount.h"
#include "eval/eval_run.h"
#include "eval/eval_stats.h"
#include "ingest/ing.h"
#include "rerank/rr.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct eval_cmp {
  eval_cmp_row *rows;
  size_t nrows, computed;
  eval_cutoffs ks;
  char *dataset;
  size_t nqueries;
  unsigned long iterations;
  uint64_t seed;
  ret_query query;
};

/* ---- Files and folders ------------------------------------------------ */

static rag_status mkdir_p(const char *path, rag_err *err) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(buf))
    return rag_fail(err, RAG_BADARG, "bad folder name '%s'", path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return rag_fail(err, RAG_IO, "mkdir %s: %s", buf, strerror(errno));
    buf[i] = c;
  }
  return RAG_OK;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *s = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
      size_t got = fread(s, 1, (size_t)n, f);
      s[got] = '\0';
    }
  }
  fclose(f);
  return s;
}

/* Writes text to path through a temporary file and rename(): a reader (or
** a run killed mid-write) never sees half a file. */
static rag_status write_atomic(const char *path, const char *text,
                               rag_err *err) {
  char tmp[4200];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f)
    return rag_fail(err, RAG_IO, "%s: %s", tmp, strerror(errno));
  size_t n = strlen(text);
  int bad = fwrite(text, 1, n, f) != n;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    remove(tmp);
    return rag_fail(err, RAG_IO, "cannot write %s", path);
  }
  return RAG_OK;
}

static int64_t dir_bytes(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return 0;
  int64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
    struct stat st;
    if (lstat(p, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode))
      total += dir_bytes(p);
    else if (S_ISREG(st.st_mode))
      total += (int64_t)st.st_size;
  }
  closedir(d);
  return total;
}

/* ---- The metering embedder -------------------------------------------- */

/* Wraps the KB's provider: same model id, dimension and remoteness (so the
** embedding cache and the FAISS index see no difference), counting what
** reaches the provider and refusing a batch that would pass the budget. */
typedef struct meter {
  emb_provider base;
  emb_provider *inner;
  double price_per_m;   /* 0 when free or unknown */
  double budget_usd;    /* 0 = none (also when unpriced) */
  int64_t prior_tokens; /* tokens billed before this phase */
  int64_t prior_chunks; /* chunks embedded before (for the message) */
  int query_phase;      /* count into q_tokens instead of tokens */
  int64_t chunks, tokens, q_texts, q_tokens;
  double seconds;
  int over; /* a batch was refused */
} meter;

static meter *meter_of(emb_provider *p) {
  return (meter *)p;
}

static rag_status meter_open(const rag_cfg *cfg, const char *opts,
                             emb_provider **out, rag_err *err) {
  (void)cfg;
  (void)opts;
  *out = NULL;
  return rag_fail(err, RAG_UNSUPPORTED, "compare: the meter wraps a provider");
}

static rag_status meter_embed(emb_provider *p, const char *const *texts,
                              size_t n, emb_kind kind, float *vecs,
                              rag_err *err) {
  meter *m = meter_of(p);
  int64_t est = 0;
  for (size_t i = 0; i < n; i++)
    est += (int64_t)rag_tokcount_count(NULL, texts[i], strlen(texts[i]));
  if (m->budget_usd > 0) {
    int64_t t = m->prior_tokens + m->tokens + m->q_tokens + est;
    if ((double)t * m->price_per_m / 1e6 > m->budget_usd) {
      m->over = 1;
      return rag_fail(err, RAG_TOOBIG,
                      "budget $%.2f exceeded after %lld chunks", m->budget_usd,
                      (long long)(m->prior_chunks + m->chunks));
    }
  }
  double t0 = rag_now();
  rag_status rc = emb_embed(m->inner, texts, n, kind, vecs, err);
  if (rc)
    return rc;
  if (m->query_phase || kind == EMB_QUERY) {
    m->q_texts += (int64_t)n;
    m->q_tokens += est;
  } else {
    m->seconds += rag_now() - t0;
    m->chunks += (int64_t)n;
    m->tokens += est;
  }
  return RAG_OK;
}

static int meter_dim(const emb_provider *p) {
  return emb_dim(((const meter *)p)->inner);
}
static const char *meter_model(const emb_provider *p) {
  return emb_model(((const meter *)p)->inner);
}
static void meter_close(emb_provider *p) {
  emb_close(meter_of(p)->inner);
  free(p);
}
static void meter_stats(emb_provider *p, const rag_termstats *ts) {
  emb_set_stats(meter_of(p)->inner, ts);
}
static void meter_http(emb_provider *p, const rag_http_opts *o) {
  emb_set_http(meter_of(p)->inner, o);
}

/* Designated initializers: the methods added after version 2 (learning
** providers such as "lsa") stay NULL. Only remote providers are metered,
** and none of them learns. */
static const emb_vtab meter_vtab = {.version = 2,
                                    .name = "compare-meter",
                                    .open = meter_open,
                                    .embed = meter_embed,
                                    .dim = meter_dim,
                                    .model = meter_model,
                                    .close = meter_close,
                                    .set_stats = meter_stats,
                                    .remote = 1,
                                    .set_http = meter_http};

/* Puts a meter in front of k's provider when it is remote (local ones cost
** nothing, and a learning one must stay what ing_kb sees). The ing_kb then
** closes the meter, which closes the provider: ownership moves with the
** pointer. *out NULL for a local provider. RAG_NOMEM. */
static rag_status meter_install(ing_kb *k, meter **out, rag_err *err) {
  *out = NULL;
  if (!emb_is_remote(k->emb))
    return RAG_OK;
  meter *m = calloc(1, sizeof(*m));
  if (!m)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  *out = m;
  m->inner = k->emb;
  m->base.vt = &meter_vtab;
  k->emb = &m->base;
  return RAG_OK;
}

/* The registry price of a spec's model: USD per 1M input tokens. Local
** providers are free (*priced 1, price 0); a remote one is priced when a
** "models" entry of type embedding names it (by ragd name or upstream id). */
static void spec_price(const rag_cfg *cfg, const char *spec,
                       const char *model_id, int remote, int *priced,
                       double *price) {
  *priced = !remote;
  *price = 0;
  if (!remote)
    return;
  char name[256] = "";
  const char *colon = strchr(spec, ':');
  if (colon) {
    /* The first bare item, or model=NAME. */
    const char *s = colon + 1;
    while (*s) {
      size_t len = strcspn(s, ",");
      const char *eq = memchr(s, '=', len);
      if (!eq && len && len < sizeof(name) && !name[0]) {
        memcpy(name, s, len);
        name[len] = '\0';
      } else if (eq && eq - s == 5 && !strncmp(s, "model", 5)) {
        size_t vl = len - 6;
        if (vl < sizeof(name)) {
          memcpy(name, eq + 1, vl);
          name[vl] = '\0';
        }
      }
      s += len;
      if (*s == ',')
        s++;
    }
  }
  if (!name[0] && model_id && strchr(model_id, ':'))
    snprintf(name, sizeof(name), "%s", strchr(model_id, ':') + 1);
  rag_models ms;
  rag_err e;
  rag_err_clear(&e);
  if (!name[0] || rag_models_load(cfg, &ms, &e))
    return;
  const rag_model_def *d = rag_models_find(&ms, name, RAG_MODEL_EMBEDDING);
  for (size_t i = 0; !d && i < ms.nmodels; i++)
    if (ms.models[i].type == RAG_MODEL_EMBEDDING && ms.models[i].model &&
        !strcmp(ms.models[i].model, name))
      d = &ms.models[i];
  if (d) {
    *priced = 1;
    *price = d->price_in;
  }
  rag_models_free(&ms);
}

/* ---- Rows: labels, fingerprints, JSON ---------------------------------- */

static void slugify(const char *spec, int chunk, char *out, size_t n) {
  char clean[96];
  size_t j = 0;
  for (const char *p = spec; *p && j + 1 < sizeof(clean) && j < 60; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '-';
    clean[j++] = ok ? c : '_';
  }
  clean[j] = '\0';
  char hex[65];
  rag_sha256_hex(spec, strlen(spec), hex);
  snprintf(out, n, "%s-c%d-%.8s", clean, chunk, hex);
}

static void row_label(eval_cmp_row *r) {
  char rr[96] = "";
  if (r->rerank[0])
    snprintf(rr, sizeof(rr), "+rerank(%s)", r->rerank);
  snprintf(r->label, sizeof(r->label), "%s c%d %s%s", r->embedder,
           r->chunk_size, rag_mode_name(r->mode), rr);
}

static void row_file(const char *out_dir, const eval_cmp_row *r, char *path,
                     size_t n) {
  snprintf(path, n, "%s/rows/%s-%s%s%s.json", out_dir, r->slug,
           rag_mode_name(r->mode), r->rerank[0] ? "-rr-" : "", r->rerank);
  /* A reranker spec may hold '/' or ':': keep the file in rows/. */
  char *base = strstr(path, "/rows/") + 6;
  for (char *p = base; *p; p++)
    if (*p == '/' || *p == ':' || *p == ',' || *p == '=')
      *p = '_';
}

static void file_sig(const char *path, char *out, size_t n) {
  char hex[65];
  if (rag_sha256_file_hex(path, hex) != 0)
    snprintf(hex, sizeof(hex), "missing");
  snprintf(out, n, "%.16s", hex);
}

/* What decides a row's numbers besides the row's own axes. */
static void dataset_fingerprint(const char *dir, const char *corpus, char *out,
                                size_t n) {
  char p[4200], q[32], r[32];
  snprintf(p, sizeof(p), "%s/queries.jsonl", dir);
  file_sig(p, q, sizeof(q));
  snprintf(p, sizeof(p), "%s/qrels/test.tsv", dir);
  file_sig(p, r, sizeof(r));
  struct stat st;
  long long size = -1, mtime = -1;
  if (stat(corpus, &st) == 0) {
    size = (long long)st.st_size;
    mtime = (long long)st.st_mtime;
  }
  snprintf(out, n, "queries=%s;qrels=%s;corpus=%lld@%lld", q, r, size, mtime);
}

static void row_fingerprint(const char *dsfp, const eval_cutoffs *ks,
                            const ret_query *q, const rag_cfg *cfg,
                            const eval_cmp_row *r, char *out, size_t n) {
  char kl[128] = "";
  size_t off = 0;
  for (size_t i = 0; i < ks->n && off < sizeof(kl) - 12; i++)
    off += (size_t)snprintf(kl + off, sizeof(kl) - off, "%s%d", i ? "," : "",
                            ks->k[i]);
  snprintf(out, n,
           "v1;%s;ks=%s;emb=%s;chunk=%d/%d/%d;mode=%s;rerank=%s/%d;"
           "fusion=%d/%d/%.3f/%.3f;cand=%d;thr=%.4f",
           dsfp, kl, r->embedder, r->chunk_size, r->chunk_overlap,
           cfg->chunk.min_size, rag_mode_name(r->mode), r->rerank,
           q->rerank_top_n, (int)q->fusion, q->rrf_k, q->vector_weight,
           q->keyword_weight, q->candidates, q->threshold);
}

static void row_free(eval_cmp_row *r) {
  for (size_t i = 0; i < r->nq; i++)
    free(r->qids[i]);
  free(r->qids);
  free(r->ndcg10);
  free(r->recall10);
  r->qids = NULL;
  r->ndcg10 = r->recall10 = NULL;
  r->nq = 0;
}

static int cutoff_index(const eval_cutoffs *ks, int k) {
  for (size_t i = 0; i < ks->n; i++)
    if (ks->k[i] == k)
      return (int)i;
  return -1;
}

static cJSON *sig_json(const eval_cmp_sig *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "diff", s->diff);
  cJSON_AddNumberToObject(o, "p_randomization", s->p_perm);
  cJSON_AddNumberToObject(o, "p_ttest", s->p_t);
  if (isfinite(s->t))
    cJSON_AddNumberToObject(o, "t", s->t);
  else
    cJSON_AddNullToObject(o, "t"); /* JSON has no infinity */
  cJSON_AddNumberToObject(o, "paired_queries", (double)s->n);
  /* The randomization test decides the mark; the t-test is reported
  ** beside it (they agree on all but borderline cases). */
  cJSON_AddBoolToObject(o, "significant", s->p_perm < 0.05);
  return o;
}

static cJSON *num_or_null(int ok, double v) {
  return ok ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* The row object of report.json; also the row file (with "fingerprint"). */
static cJSON *row_to_json(const eval_cmp_row *r, size_t index,
                          const ret_query *q) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "row", (double)index + 1);
  cJSON_AddStringToObject(o, "name", r->label);
  cJSON_AddBoolToObject(o, "complete", r->complete);
  if (r->error[0])
    cJSON_AddStringToObject(o, "error", r->error);
  else
    cJSON_AddNullToObject(o, "error");
  cJSON *c = cJSON_AddObjectToObject(o, "config");
  cJSON_AddStringToObject(c, "embedder", r->embedder);
  cJSON_AddStringToObject(c, "model", r->model);
  cJSON_AddNumberToObject(c, "chunk_size", r->chunk_size);
  cJSON_AddNumberToObject(c, "chunk_overlap", r->chunk_overlap);
  cJSON_AddStringToObject(c, "mode", rag_mode_name(r->mode));
  if (r->rerank[0])
    cJSON_AddStringToObject(c, "rerank", r->rerank);
  else
    cJSON_AddNullToObject(c, "rerank");
  if (q) {
    cJSON_AddStringToObject(c, "fusion",
                            q->fusion == RAG_FUSION_RRF ? "rrf" : "weighted");
    cJSON_AddNumberToObject(c, "candidates", q->candidates);
  }
  char kb[256];
  snprintf(kb, sizeof(kb), "kbs/%s", r->slug);
  cJSON_AddStringToObject(c, "kb", kb);
  if (r->complete)
    cJSON_AddItemToObject(o, "metrics", eval_report_json(&r->sum));
  else
    cJSON_AddNullToObject(o, "metrics");
  cJSON_AddNumberToObject(o, "documents", (double)r->docs);
  cJSON_AddNumberToObject(o, "chunks", (double)r->chunks);
  cJSON_AddNumberToObject(o, "index_bytes", (double)r->index_bytes);
  cJSON_AddNumberToObject(o, "embed_chunks", (double)r->embed_chunks);
  cJSON_AddNumberToObject(o, "embed_seconds", r->embed_seconds);
  cJSON_AddItemToObject(
      o, "embed_chunks_per_s",
      num_or_null(r->embed_seconds > 0, r->embed_seconds > 0
                                            ? r->embed_chunks / r->embed_seconds
                                            : 0));
  cJSON_AddNumberToObject(o, "tokens_embedded", (double)r->tokens);
  cJSON_AddNumberToObject(o, "query_tokens", (double)r->query_tokens);
  cJSON_AddItemToObject(o, "price_per_mtok",
                        num_or_null(r->priced, r->price_per_m));
  cJSON_AddItemToObject(o, "cost_usd", num_or_null(r->priced, r->cost_usd));
  if (index > 0 && (r->sig_ndcg10.valid || r->sig_recall10.valid)) {
    cJSON *v = cJSON_AddObjectToObject(o, "vs_baseline");
    cJSON_AddItemToObject(v, "ndcg@10", sig_json(&r->sig_ndcg10));
    cJSON_AddItemToObject(v, "recall@10", sig_json(&r->sig_recall10));
  } else {
    cJSON_AddNullToObject(o, "vs_baseline");
  }
  cJSON *pq = cJSON_AddArrayToObject(o, "per_query");
  for (size_t i = 0; i < r->nq; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "qid", r->qids[i]);
    cJSON_AddNumberToObject(e, "ndcg@10", r->ndcg10[i]);
    cJSON_AddNumberToObject(e, "recall@10", r->recall10[i]);
    cJSON_AddItemToArray(pq, e);
  }
  return o;
}

static double jnum(const cJSON *o, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Loads a finished row saved by an earlier run when its fingerprint is fp.
** Returns 1 on success (r filled, r->cached set), 0 otherwise. */
static int row_load(const char *path, const char *fp, const eval_cutoffs *ks,
                    eval_cmp_row *r) {
  char *text = slurp(path);
  if (!text)
    return 0;
  cJSON *o = cJSON_Parse(text);
  free(text);
  int ok = 0;
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metrics");
  const cJSON *pq = cJSON_GetObjectItemCaseSensitive(o, "per_query");
  if (!o || !cJSON_IsString(f) || strcmp(f->valuestring, fp) ||
      !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "complete")) ||
      !cJSON_IsObject(m) || !cJSON_IsArray(pq))
    goto out;
  eval_summary *s = &r->sum;
  memset(s, 0, sizeof(*s));
  s->ks = *ks;
  char key[32];
  for (size_t i = 0; i < ks->n; i++) {
    snprintf(key, sizeof(key), "recall@%d", ks->k[i]);
    s->recall[i] = jnum(m, key, 0);
  }
  s->mrr10 = jnum(m, "mrr@10", 0);
  s->ndcg10 = jnum(m, "ndcg@10", 0);
  s->map100 = jnum(m, "map@100", 0);
  s->nqueries = (size_t)jnum(m, "queries", 0);
  s->latency_p50 = jnum(m, "latency_ms_p50", 0) / 1000.0;
  s->latency_p95 = jnum(m, "latency_ms_p95", 0) / 1000.0;
  s->nlatency = s->nqueries;
  size_t n = (size_t)cJSON_GetArraySize(pq);
  r->qids = calloc(n ? n : 1, sizeof(*r->qids));
  r->ndcg10 = calloc(n ? n : 1, sizeof(double));
  r->recall10 = calloc(n ? n : 1, sizeof(double));
  if (!r->qids || !r->ndcg10 || !r->recall10)
    goto out;
  const cJSON *e;
  cJSON_ArrayForEach(e, pq) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "qid");
    if (!cJSON_IsString(q) || !(r->qids[r->nq] = strdup(q->valuestring)))
      goto out;
    r->ndcg10[r->nq] = jnum(e, "ndcg@10", 0);
    r->recall10[r->nq] = jnum(e, "recall@10", 0);
    r->nq++;
  }
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(o, "config");
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(cfg, "model");
  if (cJSON_IsString(model))
    snprintf(r->model, sizeof(r->model), "%s", model->valuestring);
  r->docs = (int64_t)jnum(o, "documents", 0);
  r->chunks = (int64_t)jnum(o, "chunks", 0);
  r->index_bytes = (int64_t)jnum(o, "index_bytes", 0);
  r->embed_chunks = (int64_t)jnum(o, "embed_chunks", 0);
  r->embed_seconds = jnum(o, "embed_seconds", 0);
  r->tokens = (int64_t)jnum(o, "tokens_embedded", 0);
  r->query_tokens = (int64_t)jnum(o, "query_tokens", 0);
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(o, "price_per_mtok");
  r->priced = cJSON_IsNumber(price);
  r->price_per_m = r->priced ? price->valuedouble : 0;
  r->cost_usd = jnum(o, "cost_usd", 0);
  r->complete = 1;
  r->cached = 1;
  ok = 1;
out:
  if (!ok)
    row_free(r);
  cJSON_Delete(o);
  return ok;
}

static rag_status row_save(const char *path, const char *fp,
                           const eval_cmp_row *r, size_t index,
                           const ret_query *q, rag_err *err) {
  cJSON *o = row_to_json(r, index, q);
  if (!o)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  cJSON_AddStringToObject(o, "fingerprint", fp);
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  rag_status rc = write_atomic(path, text, err);
  free(text);
  return rc;
}

/* ---- A KB's bill, over every session ---------------------------------- */

typedef struct bill {
  int64_t chunks, tokens;
  double seconds;
} bill;

static void bill_path(const char *out_dir, const char *slug, char *p,
                      size_t n) {
  snprintf(p, n, "%s/kbs/%s.json", out_dir, slug);
}

static bill bill_load(const char *path) {
  bill b = {0, 0, 0};
  char *text = slurp(path);
  cJSON *o = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (o) {
    b.chunks = (int64_t)jnum(o, "embed_chunks", 0);
    b.tokens = (int64_t)jnum(o, "tokens_embedded", 0);
    b.seconds = jnum(o, "embed_seconds", 0);
  }
  cJSON_Delete(o);
  return b;
}

static rag_status bill_save(const char *path, const bill *b, rag_err *err) {
  char text[256];
  snprintf(text, sizeof(text),
           "{\"embed_chunks\": %lld, \"tokens_embedded\": %lld, "
           "\"embed_seconds\": %.6f}\n",
           (long long)b->chunks, (long long)b->tokens, b->seconds);
  return write_atomic(path, text, err);
}

/* ---- One KB: ingest once, then its rows -------------------------------- */

typedef struct kb_run {
  const eval_cmp_opts *o;
  meter *m;
  bill prior;
  int metered; /* m counts what reaches a remote provider */
  /* The ingest bars as last reported: the stages share one total, so a
  ** new total (a better estimate, or the exact count) goes to every
  ** stage that has started; the index bar also carries the document
  ** counts that on_ing_progress learns after each document. */
  int64_t done[ING_NSTAGES];
  int started[ING_NSTAGES];
  int64_t total;
  int exact;
  char idx_note[64];
} kb_run;

/* The ingest phase's bars, in the order of ing_stage. */
static const char *const ingest_bars[ING_NSTAGES] = {"chunk", "embed", "index"};
static const char *const query_bars[1] = {"query"};

static void send_ing_bar(kb_run *kr, ing_stage st) {
  char note[64] = "";
  const char *n = NULL;
  if (st == ING_STAGE_EMBED && kr->metered) {
    /* The others came from the KB's embedding cache. */
    snprintf(note, sizeof(note), "sent %lld", (long long)kr->m->chunks);
    n = note;
  } else if (st == ING_STAGE_INDEX) {
    n = kr->idx_note;
  }
  kr->o->progress(kr->o->ctx, (size_t)st, kr->done[st], kr->total, kr->exact,
                  "chunks", n);
}

static void on_ing_stage(void *ctx, ing_stage st, int64_t done, int64_t total,
                         int exact) {
  kb_run *kr = ctx;
  if (!kr->o->progress)
    return;
  int moved = total != kr->total || exact != kr->exact;
  kr->done[st] = done;
  kr->started[st] = 1;
  kr->total = total;
  kr->exact = exact;
  for (int s = 0; s < ING_NSTAGES; s++)
    if (s == (int)st || (moved && kr->started[s]))
      send_ing_bar(kr, (ing_stage)s);
}

static void on_ing_progress(void *ctx, const ing_summary *s) {
  kb_run *kr = ctx;
  if (!kr->o->progress)
    return;
  if (s->docs_unchanged)
    snprintf(kr->idx_note, sizeof(kr->idx_note), "%lld docs, %lld unchanged",
             (long long)s->files_done, (long long)s->docs_unchanged);
  else
    snprintf(kr->idx_note, sizeof(kr->idx_note), "%lld docs",
             (long long)s->files_done);
  if (s->files_done > 0) /* not the run's opening call */
    send_ing_bar(kr, ING_STAGE_INDEX);
}

static void on_ing_notice(void *ctx, const char *source, rag_status code,
                          const char *msg) {
  kb_run *kr = ctx;
  if (!kr->o->notice)
    return;
  char line[1024];
  snprintf(line, sizeof(line), "%s: %s: %s", code ? "skipped" : "note", source,
           msg);
  kr->o->notice(kr->o->ctx, line);
}

static int on_stop(void *ctx) {
  kb_run *kr = ctx;
  return kr->o->stop && kr->o->stop(kr->o->ctx);
}

static void on_query_progress(void *ctx, size_t done, size_t total) {
  kb_run *kr = ctx;
  if (kr->o->progress)
    kr->o->progress(kr->o->ctx, 0, (int64_t)done, (int64_t)total, 1, "queries",
                    NULL);
}

static void stage(const eval_cmp_opts *o, const char *name, const char *what,
                  const char *const *bars, size_t nbars) {
  if (o->stage)
    o->stage(o->ctx, name, what, bars, nbars);
}

static void fail_row(eval_cmp_row *r, size_t index, const char *msg) {
  r->complete = 0;
  snprintf(r->error, sizeof(r->error), "row %zu %s: %s", index + 1, r->label,
           msg);
}

/* Fills r's per-query arrays and summary from acc. */
static rag_status row_take(eval_cmp_row *r, const eval_acc *acc, rag_err *err) {
  rag_status rc = eval_acc_summary(acc, &r->sum, err);
  if (rc)
    return rc;
  size_t n = eval_acc_count(acc);
  int k10 = cutoff_index(eval_acc_cutoffs(acc), 10);
  r->qids = calloc(n ? n : 1, sizeof(*r->qids));
  r->ndcg10 = calloc(n ? n : 1, sizeof(double));
  r->recall10 = calloc(n ? n : 1, sizeof(double));
  if (!r->qids || !r->ndcg10 || !r->recall10)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const eval_qresult *q = eval_acc_result(acc, i);
    if (!(r->qids[i] = strdup(eval_acc_qid(acc, i))))
      return rag_fail(err, RAG_NOMEM, "out of memory");
    r->nq = i + 1;
    r->ndcg10[i] = q->ndcg10;
    r->recall10[i] = k10 >= 0 ? q->recall[k10] : 0;
  }
  return RAG_OK;
}

/* Runs the rows idx[0..n) of one KB that are not loaded yet. RAG_TIMEOUT
** when stopped; row failures are recorded in the rows. */
static rag_status run_kb(const eval_cmp_opts *o, eval_cmp *c,
                         const eval_dataset *ds, const size_t *idx, size_t n,
                         const char *const *fps, rag_err *err) {
  eval_cmp_row *r0 = &c->rows[idx[0]];
  char kbdir[4200], bpath[4200];
  snprintf(kbdir, sizeof(kbdir), "%s/kbs/%s", o->out_dir, r0->slug);
  bill_path(o->out_dir, r0->slug, bpath, sizeof(bpath));
  rag_cfg cfg = *o->cfg; /* shallow: only the chunk numbers differ */
  cfg.chunk.size = r0->chunk_size;
  cfg.chunk.overlap = r0->chunk_overlap;
  ing_kb_opts ko = ing_kb_opts_default();
  ko.emb_spec = r0->embedder;
  ing_kb *k = NULL;
  rag_err e;
  rag_err_clear(&e);
  kb_run kr;
  memset(&kr, 0, sizeof(kr));
  kr.o = o;
  kr.prior = bill_load(bpath);
  rag_status rc = ing_kb_open(&cfg, kbdir, &ko, &k, &e);
  if (!rc)
    rc = meter_install(k, &kr.m, &e);
  if (rc) {
    for (size_t i = 0; i < n; i++)
      fail_row(&c->rows[idx[i]], idx[i], e.msg);
    ing_kb_close(k);
    return RAG_OK;
  }
  /* Local providers run unmetered: a stand-in meter keeps zeros. */
  meter local;
  memset(&local, 0, sizeof(local));
  meter *m = kr.m ? kr.m : &local;
  kr.metered = m != &local;
  kr.m = m;
  int priced;
  double price;
  spec_price(o->cfg, r0->embedder, emb_model(k->emb), emb_is_remote(k->emb),
             &priced, &price);
  m->price_per_m = price;
  m->budget_usd = priced ? o->budget_usd : 0;
  m->prior_tokens = kr.prior.tokens;
  m->prior_chunks = kr.prior.chunks;
  if (o->budget_usd > 0 && !priced && m != &local && o->notice) {
    char line[512];
    snprintf(line, sizeof(line),
             "%s: no price in the config's models: --budget-usd not "
             "enforced",
             r0->embedder);
    o->notice(o->ctx, line);
  }

  /* Ingest: unchanged documents are skipped, so a resumed KB only
  ** embeds what is missing. */
  ing_run_opts ro;
  memset(&ro, 0, sizeof(ro));
  ro.progress = on_ing_progress;
  ro.stage = on_ing_stage;
  ro.notice = on_ing_notice;
  ro.stop = on_stop;
  ro.ctx = &kr;
  ro.no_jobs = 1;
  ing_summary sum;
  memset(&sum, 0, sizeof(sum));
  stage(o, "ingest", r0->label, ingest_bars, ING_NSTAGES);
  rc = eval_ingest(k, ds, &ro, &sum, &e);
  stage(o, NULL, NULL, NULL, 0);
  bill b = kr.prior;
  if (m == &local) {
    /* Unmetered: the ingest rate (chunk + embed + index) stands in for
    ** the embedding rate. */
    b.chunks += sum.chunks_added;
    b.seconds += sum.chunks_added ? sum.seconds : 0;
  } else {
    b.chunks += m->chunks;
    b.tokens += m->tokens;
    b.seconds += m->seconds;
  }
  rag_err be;
  rag_err_clear(&be);
  if (bill_save(bpath, &b, &be) && o->notice)
    o->notice(o->ctx, be.msg);
  if (!rc && sum.stopped) {
    ing_kb_close(k);
    return rag_fail(err, RAG_TIMEOUT, "stopped during ingest of %s", r0->label);
  }
  kb_counts counts;
  memset(&counts, 0, sizeof(counts));
  if (!rc)
    rc = kb_count(k->kb, NULL, &counts, &e);
  int64_t bytes = dir_bytes(kbdir);
  for (size_t i = 0; i < n; i++) {
    eval_cmp_row *r = &c->rows[idx[i]];
    snprintf(r->model, sizeof(r->model), "%s", emb_model(k->emb));
    r->docs = counts.docs;
    r->chunks = counts.chunks;
    r->index_bytes = bytes;
    r->ingest_seconds = sum.seconds;
    r->embed_chunks = b.chunks;
    r->embed_seconds = b.seconds;
    r->tokens = b.tokens;
    r->priced = priced;
    r->price_per_m = price;
    r->cost_usd = (double)b.tokens * price / 1e6;
    if (rc)
      fail_row(r, idx[i], e.msg);
  }
  if (rc) {
    ing_kb_close(k);
    return RAG_OK;
  }

  /* Queries, one row at a time. */
  rag_status out = RAG_OK;
  for (size_t i = 0; i < n && !out; i++) {
    eval_cmp_row *r = &c->rows[idx[i]];
    rr_provider *rr = NULL;
    rag_err_clear(&e);
    ret_query q = o->query;
    q.mode = r->mode;
    q.rerank = r->rerank[0] != '\0';
    if (q.rerank) {
      if (rr_open(o->cfg, r->rerank, &rr, &e)) {
        fail_row(r, idx[i], e.msg);
        continue;
      }
      rr_set_stats(rr, k->stats);
    }
    m->query_phase = 1;
    m->q_tokens = m->q_texts = 0;
    m->prior_tokens = b.tokens;
    m->tokens = 0;
    eval_run_opts eo = {on_query_progress, on_stop, &kr};
    eval_acc *acc = NULL;
    stage(o, "query", r->label, query_bars, 1);
    on_query_progress(&kr, 0, eval_dataset_nevaluated(ds));
    rc = eval_run_queries_ex(k, rr, ds, &q, &c->ks, &eo, &acc, &e);
    stage(o, NULL, NULL, NULL, 0);
    rr_close(rr);
    r->query_tokens = m->q_tokens;
    r->cost_usd = (double)(b.tokens + m->q_tokens) * price / 1e6;
    if (rc && on_stop(&kr)) {
      out = rag_fail(err, RAG_TIMEOUT, "stopped during the queries of %s",
                     r->label);
    } else if (rc) {
      fail_row(r, idx[i], e.msg);
    } else if ((rc = row_take(r, acc, &e))) {
      fail_row(r, idx[i], e.msg);
    } else {
      r->complete = 1;
      char path[4400];
      row_file(o->out_dir, r, path, sizeof(path));
      if (row_save(path, fps[idx[i]], r, idx[i], &o->query, &e) && o->notice)
        o->notice(o->ctx, e.msg);
      c->computed++;
    }
    eval_acc_free(acc);
  }
  ing_kb_close(k);
  return out;
}

/* ---- Significance ------------------------------------------------------- */

static void paired(const eval_cmp_row *base, const eval_cmp_row *r,
                   unsigned long iters, uint64_t seed, rag_err *err) {
  (void)err;
  eval_cmp_row *w = (eval_cmp_row *)r;
  size_t n = base->nq < r->nq ? base->nq : r->nq;
  double *a1 = malloc((n ? n : 1) * sizeof(double));
  double *b1 = malloc((n ? n : 1) * sizeof(double));
  double *a2 = malloc((n ? n : 1) * sizeof(double));
  double *b2 = malloc((n ? n : 1) * sizeof(double));
  size_t m = 0;
  if (a1 && b1 && a2 && b2) {
    for (size_t i = 0; i < r->nq; i++) {
      /* The rows ran the same query list, so position i is the usual
      ** match; search only when the lists differ. */
      size_t j = i;
      if (j >= base->nq || strcmp(base->qids[j], r->qids[i])) {
        for (j = 0; j < base->nq && strcmp(base->qids[j], r->qids[i]); j++)
          ;
        if (j == base->nq)
          continue;
      }
      if (m == n)
        break;
      a1[m] = base->ndcg10[j];
      b1[m] = r->ndcg10[i];
      a2[m] = base->recall10[j];
      b2[m] = r->recall10[i];
      m++;
    }
  }
  eval_cmp_sig *s[2] = {&w->sig_ndcg10, &w->sig_recall10};
  const double *aa[2] = {a1, a2}, *bb[2] = {b1, b2};
  for (int k = 0; k < 2; k++) {
    memset(s[k], 0, sizeof(*s[k]));
    if (!m)
      continue;
    double sum = 0;
    for (size_t i = 0; i < m; i++)
      sum += bb[k][i] - aa[k][i];
    s[k]->valid = 1;
    s[k]->n = m;
    s[k]->diff = sum / (double)m;
    s[k]->p_perm = eval_paired_randomization(aa[k], bb[k], m, iters, seed);
    s[k]->p_t = eval_paired_ttest(aa[k], bb[k], m, &s[k]->t, NULL);
  }
  free(a1);
  free(b1);
  free(a2);
  free(b2);
}

/* ---- The driver --------------------------------------------------------- */

eval_cmp_opts eval_cmp_opts_default(const rag_cfg *cfg) {
  eval_cmp_opts o;
  memset(&o, 0, sizeof(o));
  o.cfg = cfg;
  o.ks = eval_cutoffs_default();
  o.query = ret_query_default(cfg);
  o.iterations = EVAL_PERM_ITERATIONS;
  o.seed = EVAL_PERM_SEED;
  return o;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

rag_status eval_cmp_run(const eval_cmp_opts *o, eval_cmp **out, rag_err *err) {
  *out = NULL;
  if (!o || !o->cfg || !o->dataset || !o->out_dir || !o->nembedders)
    return rag_fail(err, RAG_BADARG,
                    "compare: a dataset, an output folder "
                    "and at least one embedder are needed");
  if (o->nembedders > EVAL_CMP_MAX_AXIS || o->nchunks > EVAL_CMP_MAX_AXIS ||
      o->nmodes > EVAL_CMP_MAX_AXIS || o->nreranks > EVAL_CMP_MAX_AXIS)
    return rag_fail(err, RAG_BADARG, "compare: at most %d values per axis",
                    EVAL_CMP_MAX_AXIS);
  eval_cutoffs ks = o->ks;
  if (cutoff_index(&ks, 10) < 0) {
    if (ks.n == EVAL_MAX_CUTOFFS)
      return rag_fail(err, RAG_BADARG, "compare: --k needs room for 10");
    ks.k[ks.n++] = 10;
    qsort(ks.k, ks.n, sizeof(int), cmp_int);
  }
  int dflt_chunk = o->cfg->chunk.size;
  rag_mode dflt_mode = o->cfg->retrieval.mode;
  const char *no_rr = NULL;
  size_t nc = o->nchunks ? o->nchunks : 1, nm = o->nmodes ? o->nmodes : 1;
  size_t nr = o->nreranks ? o->nreranks : 1;
  const int *chunks = o->nchunks ? o->chunk_sizes : &dflt_chunk;
  const rag_mode *modes = o->nmodes ? o->modes : &dflt_mode;
  const char *const *rrs = o->nreranks ? o->reranks : &no_rr;

  eval_dataset *ds = NULL;
  rag_status rc = eval_dataset_open(o->dataset, &ds, err);
  if (rc)
    return rc;
  eval_cmp *c = calloc(1, sizeof(*c));
  size_t total = o->nembedders * nc * nm * nr;
  char **fps = calloc(total, sizeof(*fps));
  size_t *idx = calloc(total, sizeof(*idx));
  if (!c || !fps || !idx || !(c->rows = calloc(total, sizeof(*c->rows))) ||
      !(c->dataset = strdup(o->dataset))) {
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
    goto out;
  }
  c->nrows = total;
  c->ks = ks;
  c->nqueries = eval_dataset_nevaluated(ds);
  c->iterations = o->iterations ? o->iterations : EVAL_PERM_ITERATIONS;
  c->seed = o->seed;
  c->query = o->query;
  char dsfp[256];
  dataset_fingerprint(o->dataset, eval_dataset_corpus_path(ds), dsfp,
                      sizeof(dsfp));
  char sub[4200];
  snprintf(sub, sizeof(sub), "%s/kbs", o->out_dir);
  if ((rc = mkdir_p(sub, err)))
    goto out;
  snprintf(sub, sizeof(sub), "%s/rows", o->out_dir);
  if ((rc = mkdir_p(sub, err)))
    goto out;

  /* Rows in table order: embedder, chunk size, mode, rerank. */
  size_t ri = 0;
  for (size_t e = 0; e < o->nembedders; e++)
    for (size_t ci = 0; ci < nc; ci++)
      for (size_t mi = 0; mi < nm; mi++)
        for (size_t k = 0; k < nr; k++, ri++) {
          eval_cmp_row *r = &c->rows[ri];
          snprintf(r->embedder, sizeof(r->embedder), "%s", o->embedders[e]);
          r->chunk_size = chunks[ci];
          r->chunk_overlap = o->cfg->chunk.overlap;
          if (r->chunk_overlap >= r->chunk_size)
            r->chunk_overlap = r->chunk_size / 10;
          r->mode = modes[mi];
          snprintf(r->rerank, sizeof(r->rerank), "%s", rrs[k] ? rrs[k] : "");
          slugify(r->embedder, r->chunk_size, r->slug, sizeof(r->slug));
          row_label(r);
          char fp[1024];
          row_fingerprint(dsfp, &ks, &o->query, o->cfg, r, fp, sizeof(fp));
          if (!(fps[ri] = strdup(fp))) {
            rc = rag_fail(err, RAG_NOMEM, "out of memory");
            goto out;
          }
        }

  /* One KB at a time: the rows of an (embedder, chunk size) are
  ** consecutive, nm * nr of them. */
  size_t per_kb = nm * nr;
  for (size_t g = 0; g < total && !rc; g += per_kb) {
    size_t todo = 0;
    for (size_t i = g; i < g + per_kb; i++) {
      char path[4400];
      row_file(o->out_dir, &c->rows[i], path, sizeof(path));
      if (!o->force && row_load(path, fps[i], &ks, &c->rows[i]))
        c->computed++;
      else
        idx[todo++] = i;
    }
    if (todo)
      rc = run_kb(o, c, ds, idx, todo, (const char *const *)fps, err);
  }
  if (rc)
    goto out;
  const eval_cmp_row *base = &c->rows[0];
  for (size_t i = 1; i < total && base->complete; i++)
    if (c->rows[i].complete)
      paired(base, &c->rows[i], c->iterations, c->seed, err);
out:
  for (size_t i = 0; fps && i < total; i++)
    free(fps[i]);
  free(fps);
  free(idx);
  eval_dataset_close(ds);
  if (rc) {
    eval_cmp_free(c);
    return rc;
  }
  *out = c;
  return RAG_OK;
}

void eval_cmp_free(eval_cmp *c) {
  if (!c)
    return;
  for (size_t i = 0; c->rows && i < c->nrows; i++)
    row_free(&c->rows[i]);
  free(c->rows);
  free(c->dataset);
  free(c);
}

/* ---- Accessors and report.json ------------------------------------------ */

size_t eval_cmp_nrows(const eval_cmp *c) {
  return c->nrows;
}
const eval_cmp_row *eval_cmp_row_at(const eval_cmp *c, size_t i) {
  return &c->rows[i];
}
size_t eval_cmp_computed(const eval_cmp *c) {
  return c->computed;
}
const eval_cutoffs *eval_cmp_cutoffs(const eval_cmp *c) {
  return &c->ks;
}
const char *eval_cmp_dataset(const eval_cmp *c) {
  return c->dataset;
}
size_t eval_cmp_nqueries(const eval_cmp *c) {
  return c->nqueries;
}
unsigned long eval_cmp_iterations(const eval_cmp *c) {
  return c->iterations;
}
uint64_t eval_cmp_seed(const eval_cmp *c) {
  return c->seed;
}

cJSON *eval_cmp_row_json(const eval_cmp *c, size_t i) {
  return row_to_json(&c->rows[i], i, &c->query);
}

cJSON *eval_cmp_json(const eval_cmp *c) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddNumberToObject(o, "schema_version", EVAL_CMP_SCHEMA_VERSION);
  cJSON_AddStringToObject(o, "tool", "ragd compare");
  cJSON_AddStringToObject(o, "dataset", c->dataset);
  cJSON_AddNumberToObject(o, "queries_evaluated", (double)c->nqueries);
  cJSON *k = cJSON_AddArrayToObject(o, "cutoffs");
  for (size_t i = 0; i < c->ks.n; i++)
    cJSON_AddItemToArray(k, cJSON_CreateNumber(c->ks.k[i]));
  cJSON *s = cJSON_AddObjectToObject(o, "significance");
  cJSON_AddNumberToObject(s, "baseline_row", 1);
  cJSON *mt = cJSON_AddArrayToObject(s, "metrics");
  cJSON_AddItemToArray(mt, cJSON_CreateString("ndcg@10"));
  cJSON_AddItemToArray(mt, cJSON_CreateString("recall@10"));
  cJSON_AddStringToObject(s, "randomization",
                          "paired sign-flip, two-sided, p = (hits+1)/(N+1); "
                          "exact enumeration for n <= 16");
  cJSON_AddNumberToObject(s, "iterations", (double)c->iterations);
  char seed[32];
  snprintf(seed, sizeof(seed), "0x%llx", (unsigned long long)c->seed);
  cJSON_AddStringToObject(s, "seed", seed);
  cJSON_AddStringToObject(s, "ttest", "paired Student t, two-sided");
  cJSON_AddNumberToObject(s, "alpha", 0.05);
  cJSON *rows = cJSON_AddArrayToObject(o, "rows");
  for (size_t i = 0; i < c->nrows; i++) {
    cJSON *r = row_to_json(&c->rows[i], i, &c->query);
    if (!r) {
      cJSON_Delete(o);
      return NULL;
    }
    cJSON_AddBoolToObject(r, "cached", c->rows[i].cached);
    cJSON_AddItemToArray(rows, r);
  }
  return o;
}
