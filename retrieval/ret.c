/* retrieval/ret.c -- ret_search(): the query side of ragd (see ret.h).
**
** Divisions of this file:
**   1. Defaults and validation
**   2. Candidate lists (full text, vector), deduplicated, with an id index
**   3. Metadata filters
**   4. The pool: fused order -> rows -> filters, fetched in batches
**   5. Scores, rerank, threshold, top k
**
** Order of operations follows DESIGN.md: candidates -> fusion -> metadata
** filter -> rerank top n -> threshold -> top k. Filtering after retrieval
** can starve a filtered query, so with filters each retriever is asked for
** RET_FILTER_OVERFETCH times more candidates (bounded by RET_MAX_CAND). */
#include "retrieval/ret.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_sort.h"

/* Each retriever returns at most this many candidates: bounds the arena
** use of one query (ids, scores and rows) whatever top_k the caller asks. */
#define RET_MAX_CAND 4096
/* Candidate multiplier when filters are present (see the file comment). */
#define RET_FILTER_OVERFETCH 4
/* Rows fetched from SQLite per kb_chunks_get call while filling the pool. */
#define RET_MIN_BATCH 32

/* ---- 1. Defaults and validation ---- */

ret_query ret_query_default(const rag_cfg *cfg) {
  ret_query q;
  memset(&q, 0, sizeof(q));
  /* Without a config, the documented defaults of core/rag_cfg.h. */
  q.mode = RAG_MODE_HYBRID;
  q.top_k = 10;
  q.candidates = 100;
  q.fusion = RAG_FUSION_RRF;
  q.rrf_k = 60;
  q.vector_weight = 0.7;
  q.keyword_weight = 0.3;
  q.threshold = 0.0;
  q.rerank = 0;
  q.rerank_top_n = 50;
  if (cfg) {
    q.mode = cfg->retrieval.mode;
    q.top_k = cfg->retrieval.top_k;
    q.candidates = cfg->retrieval.candidates;
    q.fusion = cfg->retrieval.fusion;
    q.rrf_k = cfg->retrieval.rrf_k;
    q.vector_weight = cfg->retrieval.vector_weight;
    q.keyword_weight = cfg->retrieval.keyword_weight;
    q.threshold = cfg->retrieval.threshold;
    q.rerank = cfg->retrieval.rerank;
    q.rerank_top_n = cfg->retrieval.rerank_top_n;
  }
  return q;
}

static int is_blank(const char *s) {
  for (; *s; s++)
    if (!isspace((unsigned char)*s))
      return 0;
  return 1;
}

static rag_status validate(const ret_ctx *c, const ret_query *q, rag_arena *a,
                           rag_err *err) {
  if (!c || !q || !a)
    return rag_fail(err, RAG_BADARG, "ret: NULL context, query or arena");
  if (!c->kb)
    return rag_fail(err, RAG_BADARG, "ret: no kb handle");
  if (!q->text || is_blank(q->text))
    return rag_fail(err, RAG_BADARG, "ret: empty query text");
  if (q->mode != RAG_MODE_VECTOR && q->mode != RAG_MODE_FULLTEXT &&
      q->mode != RAG_MODE_HYBRID)
    return rag_fail(err, RAG_BADARG, "ret: unknown mode %d", (int)q->mode);
  if (q->mode != RAG_MODE_FULLTEXT && (!c->vec || !c->emb))
    return rag_fail(err, RAG_BADARG,
                    "ret: %s mode needs a vector index and an embedder",
                    rag_mode_name(q->mode));
  if (q->mode != RAG_MODE_FULLTEXT && emb_dim(c->emb) != kb_vec_dim(c->vec))
    return rag_fail(err, RAG_BADARG,
                    "ret: embedder dimension %d != index dimension %d",
                    emb_dim(c->emb), kb_vec_dim(c->vec));
  if (q->top_k < 1)
    return rag_fail(err, RAG_BADARG, "ret: top_k must be >= 1 (got %d)",
                    q->top_k);
  if (q->mode == RAG_MODE_HYBRID) {
    if (q->fusion != RAG_FUSION_RRF && q->fusion != RAG_FUSION_WEIGHTED)
      return rag_fail(err, RAG_BADARG, "ret: unknown fusion %d",
                      (int)q->fusion);
    if (q->fusion == RAG_FUSION_RRF && q->rrf_k < 0)
      return rag_fail(err, RAG_BADARG, "ret: rrf_k must be >= 0 (got %d)",
                      q->rrf_k);
    if (q->fusion == RAG_FUSION_WEIGHTED &&
        !(q->vector_weight >= 0 && q->keyword_weight >= 0 &&
          isfinite(q->vector_weight) && isfinite(q->keyword_weight)))
      return rag_fail(err, RAG_BADARG,
                      "ret: fusion weights must be finite and >= 0");
  }
  if (q->rerank && !c->rr)
    return rag_fail(err, RAG_BADARG, "ret: rerank asked but no reranker");
  if (q->rerank && q->rerank_top_n < 1)
    return rag_fail(err, RAG_BADARG, "ret: rerank_top_n must be >= 1");
  if (isnan(q->threshold))
    return rag_fail(err, RAG_BADARG, "ret: threshold is NaN");
  if (q->nfilters > 0 && !q->filters)
    return rag_fail(err, RAG_BADARG, "ret: %zu filters but no array",
                    q->nfilters);
  for (size_t i = 0; i < q->nfilters; i++)
    if (!q->filters[i].key || !q->filters[i].key[0] || !q->filters[i].value)
      return rag_fail(err, RAG_BADARG, "ret: filter %zu lacks key or value", i);
  return RAG_OK;
}

/* ---- 2. Candidate lists ---- */

/* One retriever's list after deduplication, plus an index by id so each
** hit can find its rank and raw score on either side. */
typedef struct slot {
  int64_t id;
  size_t pos;   /* position in the raw list, then rank - 1 in `list` */
  double score; /* raw: cosine or bm25 */
} slot;

typedef struct side {
  ret_cand *list; /* best first, each id once */
  size_t n;
  slot *byid; /* sorted by id */
} side;

/* Builds s from raw[0..n) (best first). A repeated id keeps its first, best
** position (the FTS side merges two tables and may repeat a chunk), so ranks
** are positions in the deduplicated list. */
static rag_status side_build(rag_arena *a, const ret_cand *raw, size_t n,
                             side *s, rag_err *err) {
  s->list = NULL;
  s->byid = NULL;
  s->n = 0;
  if (n == 0)
    return RAG_OK;
  slot *sl = rag_arena_calloc(a, n, sizeof(*sl));
  unsigned char *keep = rag_arena_calloc(a, n, 1);
  size_t *rank = rag_arena_calloc(a, n, sizeof(*rank));
  ret_cand *list = rag_arena_calloc(a, n, sizeof(*list));
  rag_keyed *kv = rag_arena_calloc(a, n, sizeof(*kv));
  rag_keyed *tmp = rag_arena_calloc(a, n, sizeof(*tmp));
  if (!sl || !keep || !rank || !list || !kv || !tmp)
    return rag_fail(err, RAG_NOMEM, "ret: out of memory for %zu candidates", n);
  /* By id, then position: the sort is stable and raw is in position order
  ** (n <= RET_MAX_CAND, so positions fit the 32-bit index). */
  for (size_t i = 0; i < n; i++)
    kv[i] = (rag_keyed){rag_sort_key_i64(raw[i].id), (uint32_t)i};
  rag_sort_keyed(kv, n, tmp);
  for (size_t i = 0; i < n; i++)
    sl[i] = (slot){raw[kv[i].idx].id, kv[i].idx, raw[kv[i].idx].score};
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || sl[i].id != sl[i - 1].id) {
      keep[sl[i].pos] = 1;
      sl[m++] = sl[i];
    }
  size_t r = 0;
  for (size_t i = 0; i < n; i++)
    if (keep[i]) {
      rank[i] = r;
      list[r++] = raw[i];
    }
  for (size_t i = 0; i < m; i++)
    sl[i].pos = rank[sl[i].pos];
  s->list = list;
  s->n = m;
  s->byid = sl;
  return RAG_OK;
}

static const slot *side_find(const side *s, int64_t id) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->byid[mid].id == id)
      return &s->byid[mid];
    if (s->byid[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static rag_status fulltext_side(const ret_ctx *c, const ret_query *q,
                                size_t cand, rag_arena *a, side *s,
                                rag_err *err) {
  kb_fts_hit *fh = NULL;
  size_t nf = 0;
  rag_status rc =
      kb_fts_search_lex(c->kb, c->lex, q->text, cand, a, &fh, &nf, err);
  if (rc)
    return rc;
  ret_cand *raw = rag_arena_calloc(a, nf ? nf : 1, sizeof(*raw));
  if (!raw)
    return rag_fail(err, RAG_NOMEM, "ret: out of memory");
  size_t m = 0;
  for (size_t i = 0; i < nf && m < cand; i++)
    if (isfinite(fh[i].score))
      raw[m++] = (ret_cand){fh[i].chunk_id, fh[i].score};
  return side_build(a, raw, m, s, err);
}

static rag_status vector_side(const ret_ctx *c, const ret_query *q, size_t cand,
                              rag_arena *a, side *s, rag_err *err) {
  int dim = emb_dim(c->emb);
  if (dim <= 0)
    return rag_fail(err, RAG_UPSTREAM, "ret: embedder has dimension %d", dim);
  float *qv = rag_arena_calloc(a, (size_t)dim, sizeof(*qv));
  int64_t *ids = rag_arena_calloc(a, cand, sizeof(*ids));
  float *sc = rag_arena_calloc(a, cand, sizeof(*sc));
  ret_cand *raw = rag_arena_calloc(a, cand, sizeof(*raw));
  if (!qv || !ids || !sc || !raw)
    return rag_fail(err, RAG_NOMEM, "ret: out of memory for %zu candidates",
                    cand);
  const char *texts[1] = {q->text};
  rag_status rc = emb_embed(c->emb, texts, 1, EMB_QUERY, qv, err);
  if (rc)
    return rc;
  /* A query with no features (only punctuation) embeds to a zero vector:
  ** every cosine would be 0 and the "ranking" noise, so it finds nothing. */
  double norm2 = 0;
  for (int i = 0; i < dim; i++)
    norm2 += (double)qv[i] * qv[i];
  if (!(norm2 > 0) || !isfinite(norm2))
    return side_build(a, raw, 0, s, err);
  size_t nv = 0;
  rc = kb_vec_search(c->vec, qv, cand, ids, sc, &nv, err);
  if (rc)
    return rc;
  size_t m = 0;
  for (size_t i = 0; i < nv && i < cand; i++)
    if (ids[i] >= 0 && isfinite(sc[i]))
      raw[m++] = (ret_cand){ids[i], sc[i]};
  return side_build(a, raw, m, s, err);
}

/* ---- 3. Metadata filters ---- */

/* Does the JSON value v equal the filter text? Strings compare as text;
** numbers by value (so "2020" matches 2020 and 2020.0); booleans and null
** by their JSON text; an array matches when one of its scalar elements
** does, as a term query on a multi-valued field does in Elasticsearch. */
static int json_value_matches(const cJSON *v, const char *want, int depth) {
  if (cJSON_IsString(v))
    return v->valuestring && strcmp(v->valuestring, want) == 0;
  if (cJSON_IsNumber(v)) {
    double d;
    return rag_parse_double(want, &d) == 0 && d == v->valuedouble;
  }
  if (cJSON_IsTrue(v))
    return strcmp(want, "true") == 0;
  if (cJSON_IsFalse(v))
    return strcmp(want, "false") == 0;
  if (cJSON_IsNull(v))
    return strcmp(want, "null") == 0;
  if (cJSON_IsArray(v) && depth == 0) {
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
      if (json_value_matches(e, want, 1))
        return 1;
    }
  }
  return 0;
}

static int str_eq(const char *a, const char *b) {
  return a && b && strcmp(a, b) == 0;
}

/* Per-query filter state: which filters need the document's mime (not in
** kb_chunk_row, so it costs a kb_doc_get per document, cached by doc id). */
typedef struct filt {
  const ret_query *q;
  int need_meta, need_mime;
  int64_t mime_doc; /* doc id of mime_val; -1 when none cached */
  const char *mime_val;
} filt;

static rag_status row_mime(const ret_ctx *c, filt *f, const kb_chunk_row *r,
                           rag_arena *a, const char **mime, rag_err *err) {
  if (f->mime_doc == r->doc_id) {
    *mime = f->mime_val;
    return RAG_OK;
  }
  kb_doc d;
  int found = 0;
  memset(&d, 0, sizeof(d));
  rag_status rc = kb_doc_get(c->kb, r->source, a, &d, &found, err);
  if (rc)
    return rc;
  f->mime_doc = r->doc_id;
  f->mime_val = found ? d.mime : NULL;
  *mime = f->mime_val;
  return RAG_OK;
}

/* *ok = 1 when row r passes every filter of the query (they AND). */
static rag_status row_passes(const ret_ctx *c, filt *f, const kb_chunk_row *r,
                             rag_arena *a, int *ok, rag_err *err) {
  const ret_query *q = f->q;
  cJSON *meta = NULL;
  *ok = 1;
  if (f->need_meta && r->meta_json && r->meta_json[0])
    meta = cJSON_Parse(r->meta_json);
  rag_status rc = RAG_OK;
  for (size_t i = 0; i < q->nfilters && *ok; i++) {
    const char *key = q->filters[i].key, *want = q->filters[i].value;
    if (strcmp(key, "source") == 0) {
      *ok = str_eq(r->source, want);
    } else if (strcmp(key, "title") == 0) {
      *ok = str_eq(r->title, want);
    } else if (strcmp(key, "mime") == 0) {
      const char *mime = NULL;
      rc = row_mime(c, f, r, a, &mime, err);
      if (rc)
        break;
      *ok = str_eq(mime, want);
    } else {
      /* Unparsable or non-object metadata has no keys: no match. */
      const cJSON *v = cJSON_IsObject(meta)
                           ? cJSON_GetObjectItemCaseSensitive(meta, key)
                           : NULL;
      *ok = v && json_value_matches(v, want, 0);
    }
  }
  cJSON_Delete(meta);
  if (rc)
    *ok = 0;
  return rc;
}

/* ---- 4. The pool ---- */

/* A row that survived deletion and filters, with its fused position. */
typedef struct pooled {
  kb_chunk_row row;
  double fused; /* final score before rerank, 0..1 */
} pooled;

/* Walks fused[0..nf) in order, fetching rows in batches, and keeps the
** first `need` rows that still exist and pass the filters. An id whose row
** is gone (document deleted or replaced after the index was searched, or a
** FAISS tombstone not yet purged) is skipped: it must never be returned. */
static rag_status fill_pool(const ret_ctx *c, const ret_query *q,
                            const ret_cand *fused, size_t nf, size_t need,
                            rag_arena *a, pooled **out, size_t *nout,
                            rag_err *err) {
  *out = NULL;
  *nout = 0;
  if (need > nf)
    need = nf;
  pooled *pool = rag_arena_calloc(a, need ? need : 1, sizeof(*pool));
  size_t batch = need < RET_MIN_BATCH ? RET_MIN_BATCH : need;
  int64_t *ids = rag_arena_calloc(a, batch, sizeof(*ids));
  kb_chunk_row *rows = rag_arena_calloc(a, batch, sizeof(*rows));
  int *found = rag_arena_calloc(a, batch, sizeof(*found));
  if (!pool || !ids || !rows || !found)
    return rag_fail(err, RAG_NOMEM, "ret: out of memory for %zu rows", batch);
  filt f = {q, 0, 0, -1, NULL};
  for (size_t i = 0; i < q->nfilters; i++) {
    const char *key = q->filters[i].key;
    if (strcmp(key, "mime") == 0)
      f.need_mime = 1;
    else if (strcmp(key, "source") != 0 && strcmp(key, "title") != 0)
      f.need_meta = 1;
  }
  size_t np = 0;
  /* The first batch reads exactly `need` rows: usually every one exists
  ** and passes, and each row costs two B-tree lookups (a third of a
  ** semantic retrieve's CPU went to reading 32 rows for a top 10). Only
  ** when rows are missing or filtered out do later batches read ahead. */
  size_t nb;
  for (size_t at = 0; at < nf && np < need; at += nb) {
    size_t want = at == 0 ? need : batch;
    nb = nf - at < want ? nf - at : want;
    for (size_t i = 0; i < nb; i++)
      ids[i] = fused[at + i].id;
    rag_status rc = kb_chunks_get(c->kb, ids, nb, a, rows, found, err);
    if (rc)
      return rc;
    for (size_t i = 0; i < nb && np < need; i++) {
      if (!found[i])
        continue;
      int ok = 1;
      if (q->nfilters) {
        rc = row_passes(c, &f, &rows[i], a, &ok, err);
        if (rc)
          return rc;
      }
      if (!ok)
        continue;
      pool[np].row = rows[i];
      pool[np].fused = fused[at + i].score;
      np++;
    }
  }
  *out = pool;
  *nout = np;
  return RAG_OK;
}

/* ---- 5. Scores, rerank, threshold, top k ---- */

static double clamp01(double x) {
  if (!(x > 0))
    return 0; /* also NaN */
  return x > 1 ? 1 : x;
}

static double vector_norm(double cosine) {
  return clamp01(cosine);
}

static double fulltext_norm(double bm25) {
  if (!(bm25 > 0))
    return 0;
  if (isinf(bm25))
    return 1;
  return bm25 / (bm25 + RET_BM25_HALF);
}

/* The fused list in final-score terms (ret.h "score" before rerank). */
static rag_status fuse(const ret_query *q, const side *vs, const side *fs,
                       rag_arena *a, ret_cand **out, size_t *nout,
                       rag_err *err) {
  rag_status rc = RAG_OK;
  if (q->mode == RAG_MODE_VECTOR || q->mode == RAG_MODE_FULLTEXT) {
    const side *s = q->mode == RAG_MODE_VECTOR ? vs : fs;
    ret_cand *l = rag_arena_calloc(a, s->n ? s->n : 1, sizeof(*l));
    if (!l)
      return rag_fail(err, RAG_NOMEM, "ret: out of memory");
    for (size_t i = 0; i < s->n; i++) {
      l[i].id = s->list[i].id;
      l[i].score = q->mode == RAG_MODE_VECTOR ? vector_norm(s->list[i].score)
                                              : fulltext_norm(s->list[i].score);
    }
    *out = l;
    *nout = s->n;
    return RAG_OK;
  }
  if (q->fusion == RAG_FUSION_RRF) {
    rc = ret_fuse_rrf(vs->list, vs->n, fs->list, fs->n, q->rrf_k, a, out, nout);
    /* The best possible RRF value, rank 1 in both lists, maps to 1. */
    double max = 2.0 / ((double)q->rrf_k + 1.0);
    for (size_t i = 0; !rc && i < *nout; i++)
      (*out)[i].score = clamp01((*out)[i].score / max);
  } else {
    rc = ret_fuse_weighted(vs->list, vs->n, q->vector_weight, fs->list, fs->n,
                           q->keyword_weight, a, out, nout);
    /* Weights that sum past 1 could leave [0, 1]; ret.h promises it. */
    for (size_t i = 0; !rc && i < *nout; i++)
      (*out)[i].score = clamp01((*out)[i].score);
  }
  if (rc)
    return rag_fail(err, rc, "ret: fusion failed: %s", rag_status_str(rc));
  return RAG_OK;
}

/* The text the reranker judges: the chunk, with its document's title in
** front unless the chunk already starts with it (the first chunk of most
** documents does), since a title often carries the subject a chunk omits. */
static const char *rerank_doc(const kb_chunk_row *r, rag_arena *a) {
  const char *text = r->text ? r->text : "";
  if (!r->title || !r->title[0] ||
      strncmp(text, r->title, strlen(r->title)) == 0)
    return text;
  return rag_arena_printf(a, "%s\n\n%s", r->title, text);
}

typedef struct ranked {
  double key;
  size_t order; /* fused position: tie-break */
  size_t idx;   /* into the hits */
} ranked;

static int ranked_cmp(const void *x, const void *y) {
  const ranked *p = x, *q = y;
  if (p->key != q->key)
    return p->key > q->key ? -1 : 1;
  return p->order < q->order ? -1 : p->order > q->order;
}

/* Reranks hits[0..nr) in place by rerank score (tie: fused order). Hits
** after nr keep their fused order behind them, as Elasticsearch's rescore
** window does; their score is capped at the lowest reranked score so the
** list stays sorted by `score` and the threshold cuts a suffix. */
static rag_status rerank(const ret_ctx *c, const ret_query *q, ret_hit *hits,
                         size_t nh, rag_arena *a, rag_err *err) {
  size_t nr = (size_t)q->rerank_top_n < nh ? (size_t)q->rerank_top_n : nh;
  if (nr == 0)
    return RAG_OK;
  const char **docs = rag_arena_calloc(a, nr, sizeof(*docs));
  float *sc = rag_arena_calloc(a, nr, sizeof(*sc));
  ranked *rk = rag_arena_calloc(a, nr, sizeof(*rk));
  ret_hit *tmp = rag_arena_calloc(a, nr, sizeof(*tmp));
  if (!docs || !sc || !rk || !tmp)
    return rag_fail(err, RAG_NOMEM, "ret: out of memory for rerank");
  for (size_t i = 0; i < nr; i++) {
    kb_chunk_row r = {0};
    r.text = hits[i].text;
    r.title = hits[i].title;
    docs[i] = rerank_doc(&r, a);
    if (!docs[i])
      return rag_fail(err, RAG_NOMEM, "ret: out of memory for rerank");
  }
  rag_status rc = rr_rerank(c->rr, q->text, docs, nr, sc, err);
  if (rc)
    return rc;
  for (size_t i = 0; i < nr; i++) {
    hits[i].rerank_score = clamp01(sc[i]);
    hits[i].score = hits[i].rerank_score;
    rk[i] = (ranked){hits[i].rerank_score, i, i};
  }
  qsort(rk, nr, sizeof(*rk), ranked_cmp);
  for (size_t i = 0; i < nr; i++)
    tmp[i] = hits[rk[i].idx];
  memcpy(hits, tmp, nr * sizeof(*hits));
  double floor = hits[nr - 1].score;
  for (size_t i = nr; i < nh; i++)
    if (hits[i].score > floor)
      hits[i].score = floor;
  return RAG_OK;
}

static void fill_hit(ret_hit *h, const pooled *p, const side *vs,
                     const side *fs) {
  const kb_chunk_row *r = &p->row;
  memset(h, 0, sizeof(*h));
  h->chunk_id = r->id;
  h->doc_id = r->doc_id;
  h->score = clamp01(p->fused);
  h->rerank_score = -1;
  /* Each side is looked up whatever the mode: a hit only one retriever
  ** found gets -1 / rank 0 for the other. */
  const slot *v = side_find(vs, r->id);
  const slot *f = side_find(fs, r->id);
  h->vector_score = v ? vector_norm(v->score) : -1;
  h->vector_rank = v ? (int)v->pos + 1 : 0;
  h->fulltext_score = f ? fulltext_norm(f->score) : -1;
  h->fulltext_rank = f ? (int)f->pos + 1 : 0;
  h->ord = r->ord;
  h->ntokens = r->ntokens;
  h->text = r->text;
  h->heading = r->heading;
  h->title = r->title;
  h->source = r->source;
  h->meta_json = r->meta_json;
}

rag_status ret_search(const ret_ctx *c, const ret_query *q, rag_arena *a,
                      ret_hit **hits, size_t *n, rag_err *err) {
  if (!hits || !n)
    return rag_fail(err, RAG_BADARG, "ret: NULL output");
  *hits = NULL;
  *n = 0;
  rag_status rc = validate(c, q, a, err);
  if (rc)
    return rc;

  /* Candidates per side: enough for the final list and the reranker. */
  size_t cand = q->candidates > 0 ? (size_t)q->candidates : 0;
  if ((size_t)q->top_k > cand)
    cand = (size_t)q->top_k;
  if (q->rerank && (size_t)q->rerank_top_n > cand)
    cand = (size_t)q->rerank_top_n;
  if (cand > RET_MAX_CAND)
    cand = RET_MAX_CAND;
  if (q->nfilters > 0) {
    cand *= RET_FILTER_OVERFETCH;
    if (cand > RET_MAX_CAND)
      cand = RET_MAX_CAND;
  }

  side vs = {0}, fs = {0};
  if (q->mode != RAG_MODE_VECTOR) {
    rc = fulltext_side(c, q, cand, a, &fs, err);
    if (rc)
      return rc;
  }
  if (q->mode != RAG_MODE_FULLTEXT) {
    rc = vector_side(c, q, cand, a, &vs, err);
    if (rc)
      return rc;
  }

  ret_cand *fused = NULL;
  size_t nfused = 0;
  rc = fuse(q, &vs, &fs, a, &fused, &nfused, err);
  if (rc)
    return rc;

  size_t need = (size_t)q->top_k;
  if (q->rerank && (size_t)q->rerank_top_n > need)
    need = (size_t)q->rerank_top_n;
  pooled *pool = NULL;
  size_t np = 0;
  rc = fill_pool(c, q, fused, nfused, need, a, &pool, &np, err);
  if (rc)
    return rc;

  ret_hit *h = rag_arena_calloc(a, np ? np : 1, sizeof(*h));
  if (!h)
    return rag_fail(err, RAG_NOMEM, "ret: out of memory for %zu hits", np);
  for (size_t i = 0; i < np; i++)
    fill_hit(&h[i], &pool[i], &vs, &fs);
  if (q->rerank) {
    rc = rerank(c, q, h, np, a, err);
    if (rc)
      return rc;
  }

  size_t m = 0;
  for (size_t i = 0; i < np && m < (size_t)q->top_k; i++)
    if (h[i].score >= q->threshold)
      h[m++] = h[i];
  *hits = h;
  *n = m;
  return RAG_OK;
}
