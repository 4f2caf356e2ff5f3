/* eval/eval_metrics.c -- Per-query metrics, the run accumulator, reports.
** Divisions:
**   1. cutoff parsing
**   2. per-query metrics (trec_eval definitions; see eval_metrics.h)
**   3. the accumulator and its summary
**   4. text and JSON reports */
#include "eval/eval_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. cutoff parsing ------------------------------------------------ */

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static int cutoffs_valid(const eval_cutoffs *ks) {
  if (!ks || ks->n > EVAL_MAX_CUTOFFS)
    return 0;
  for (size_t i = 0; i < ks->n; i++) {
    if (ks->k[i] < 1 || ks->k[i] > EVAL_MAX_K)
      return 0;
    if (i > 0 && ks->k[i] <= ks->k[i - 1])
      return 0;
  }
  return 1;
}

rag_status eval_parse_cutoffs(const char *s, eval_cutoffs *out, rag_err *err) {
  if (!out)
    return rag_fail(err, RAG_BADARG, "eval: cutoffs: no output");
  memset(out, 0, sizeof(*out));
  if (!s || !*s)
    return rag_fail(err, RAG_BADARG,
                    "eval: cutoffs: empty list (want e.g. "
                    "\"1,5,10,100\")");
  eval_cutoffs ks;
  memset(&ks, 0, sizeof(ks));
  const char *p = s;
  for (;;) {
    while (*p == ' ')
      p++;
    /* Digits only: strtol would also take signs, "0x" and inner blanks. */
    long v = 0;
    const char *start = p;
    while (*p >= '0' && *p <= '9') {
      if (v <= EVAL_MAX_K)
        v = v * 10 + (*p - '0');
      p++;
    }
    if (p == start)
      return rag_fail(err, RAG_BADARG,
                      "eval: cutoffs \"%s\": item %zu is not a positive "
                      "integer",
                      s, ks.n + 1);
    while (*p == ' ')
      p++;
    if (*p != ',' && *p != '\0')
      return rag_fail(err, RAG_BADARG,
                      "eval: cutoffs \"%s\": item %zu is not a positive "
                      "integer",
                      s, ks.n + 1);
    if (v < 1 || v > EVAL_MAX_K)
      return rag_fail(err, RAG_BADARG,
                      "eval: cutoffs \"%s\": %ld is outside 1..%d", s, v,
                      EVAL_MAX_K);
    if (ks.n == EVAL_MAX_CUTOFFS)
      return rag_fail(err, RAG_BADARG,
                      "eval: cutoffs \"%s\": more than %d values", s,
                      EVAL_MAX_CUTOFFS);
    ks.k[ks.n++] = (int)v;
    if (*p == '\0')
      break;
    p++; /* the comma; an empty item after it fails above */
  }
  qsort(ks.k, ks.n, sizeof(ks.k[0]), cmp_int);
  for (size_t i = 1; i < ks.n; i++)
    if (ks.k[i] == ks.k[i - 1])
      return rag_fail(err, RAG_BADARG, "eval: cutoffs \"%s\": %d repeated", s,
                      ks.k[i]);
  *out = ks;
  return RAG_OK;
}

eval_cutoffs eval_cutoffs_default(void) {
  eval_cutoffs ks;
  memset(&ks, 0, sizeof(ks));
  ks.k[0] = 1;
  ks.k[1] = 5;
  ks.k[2] = 10;
  ks.k[3] = 100;
  ks.n = 4;
  return ks;
}

/* ---- 2. per-query metrics ---------------------------------------------- */

/* The discount of 1-based rank r: 1 / log2(r + 1). trec_eval adds the
** rank-1 gain undiscounted, which is the same since log2(2) = 1. */
static double discount(size_t rank) {
  return 1.0 / log2((double)rank + 1.0);
}

/* IDCG@EVAL_RANK_CUT from the positive judged grades. Only the top
** EVAL_RANK_CUT grades matter, so keep them in a small sorted array
** instead of sorting (or copying) the whole judged list. */
static double ideal_dcg(const int *judged, size_t nj) {
  int top[EVAL_RANK_CUT];
  size_t ntop = 0;
  for (size_t i = 0; i < nj; i++) {
    int g = judged[i];
    if (g <= 0)
      continue;
    if (ntop == EVAL_RANK_CUT && g <= top[ntop - 1])
      continue;
    size_t pos = ntop < EVAL_RANK_CUT ? ntop++ : ntop - 1;
    while (pos > 0 && top[pos - 1] < g) {
      top[pos] = top[pos - 1];
      pos--;
    }
    top[pos] = g;
  }
  double idcg = 0.0;
  for (size_t i = 0; i < ntop; i++)
    idcg += top[i] * discount(i + 1);
  return idcg;
}

rag_status eval_query_metrics(const int *gains, size_t n, const int *judged,
                              size_t nj, const eval_cutoffs *ks,
                              eval_qresult *out, rag_err *err) {
  if (!out || (n && !gains) || (nj && !judged))
    return rag_fail(err, RAG_BADARG, "eval: metrics: NULL argument");
  if (!cutoffs_valid(ks))
    return rag_fail(err, RAG_BADARG, "eval: metrics: invalid cutoffs");
  memset(out, 0, sizeof(*out));
  out->nret = (long)n;
  for (size_t i = 0; i < nj; i++)
    if (judged[i] > 0)
      out->nrel++;
  if (out->nrel == 0)
    return RAG_OK;

  double dcg = 0.0, ap = 0.0;
  long relret = 0; /* relevant docs seen so far */
  size_t ki = 0;
  for (size_t i = 0; i < n; i++) {
    size_t rank = i + 1;
    if (gains[i] > 0) {
      relret++;
      if (rank <= EVAL_RANK_CUT) {
        dcg += gains[i] * discount(rank);
        if (out->mrr10 == 0.0)
          out->mrr10 = 1.0 / (double)rank;
      }
      if (rank <= EVAL_MAP_CUT)
        ap += (double)relret / (double)rank;
    }
    while (ki < ks->n && (size_t)ks->k[ki] == rank) {
      out->recall[ki] = (double)relret / (double)out->nrel;
      out->precision[ki] = (double)relret / (double)rank;
      ki++;
    }
  }
  /* Cutoffs past the end of the list see the whole list; precision still
  ** divides by k, as trec_eval's P.k does. */
  for (; ki < ks->n; ki++) {
    out->recall[ki] = (double)relret / (double)out->nrel;
    out->precision[ki] = (double)relret / (double)ks->k[ki];
  }
  double idcg = ideal_dcg(judged, nj);
  out->ndcg10 = idcg > 0.0 ? dcg / idcg : 0.0;
  out->map100 = ap / (double)out->nrel;
  return RAG_OK;
}

void eval_gains_lookup(const char *const *ranked, size_t n,
                       const eval_judgement *j, size_t nj, int *gains) {
  for (size_t i = 0; i < n; i++) {
    gains[i] = 0;
    for (size_t k = 0; ranked[i] && k < nj; k++)
      if (j[k].doc_id && strcmp(ranked[i], j[k].doc_id) == 0) {
        gains[i] = j[k].gain;
        break;
      }
  }
}

size_t eval_dedupe_ids(const char **ids, size_t n) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int seen = 0;
    for (size_t k = 0; k < m && !seen; k++)
      seen =
          ids[k] == ids[i] || (ids[k] && ids[i] && strcmp(ids[k], ids[i]) == 0);
    if (!seen)
      ids[m++] = ids[i];
  }
  return m;
}

double eval_percentile_sorted(const double *sorted, size_t n, double p) {
  if (n == 0)
    return 0.0;
  if (p <= 0.0)
    return sorted[0];
  if (p >= 1.0)
    return sorted[n - 1];
  double h = (double)(n - 1) * p;
  size_t lo = (size_t)floor(h);
  if (lo + 1 >= n)
    return sorted[n - 1];
  return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

/* ---- 3. the accumulator -------------------------------------------------- */

struct eval_acc {
  eval_cutoffs ks;
  eval_qresult *res; /* evaluated queries, in the order added */
  char **qid;        /* res[i]'s query id (malloc'd) */
  size_t n, cap;
  size_t skipped;
  double *lat; /* latency samples, seconds */
  size_t nlat, latcap;
};

rag_status eval_acc_new(const eval_cutoffs *ks, eval_acc **out, rag_err *err) {
  if (!out)
    return rag_fail(err, RAG_BADARG, "eval: acc: no output");
  *out = NULL;
  if (!cutoffs_valid(ks))
    return rag_fail(err, RAG_BADARG, "eval: acc: invalid cutoffs");
  eval_acc *a = calloc(1, sizeof(*a));
  if (!a)
    return rag_fail(err, RAG_NOMEM, "eval: acc: out of memory");
  a->ks = *ks;
  *out = a;
  return RAG_OK;
}

void eval_acc_free(eval_acc *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->n; i++)
    free(a->qid[i]);
  free(a->qid);
  free(a->res);
  free(a->lat);
  free(a);
}

rag_status eval_acc_add_latency(eval_acc *a, double latency_s, rag_err *err) {
  if (!a || !(latency_s >= 0.0) || !isfinite(latency_s))
    return rag_fail(err, RAG_BADARG, "eval: acc: bad latency sample");
  if (a->nlat == a->latcap) {
    size_t cap = a->latcap ? a->latcap * 2 : 64;
    double *p = realloc(a->lat, cap * sizeof(*p));
    if (!p)
      return rag_fail(err, RAG_NOMEM, "eval: acc: out of memory");
    a->lat = p;
    a->latcap = cap;
  }
  a->lat[a->nlat++] = latency_s;
  return RAG_OK;
}

rag_status eval_acc_add(eval_acc *a, const char *qid, const eval_qresult *r,
                        double latency_s, rag_err *err) {
  if (!a || !r)
    return rag_fail(err, RAG_BADARG, "eval: acc: NULL argument");
  if (latency_s >= 0.0) {
    rag_status rc = eval_acc_add_latency(a, latency_s, err);
    if (rc)
      return rc;
  }
  if (r->nrel <= 0) {
    a->skipped++;
    return RAG_OK;
  }
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    eval_qresult *res = realloc(a->res, cap * sizeof(*res));
    if (!res)
      return rag_fail(err, RAG_NOMEM, "eval: acc: out of memory");
    a->res = res;
    char **ids = realloc(a->qid, cap * sizeof(*ids));
    if (!ids)
      return rag_fail(err, RAG_NOMEM, "eval: acc: out of memory");
    a->qid = ids;
    a->cap = cap;
  }
  char *id = rag_strdup(qid ? qid : "");
  if (!id)
    return rag_fail(err, RAG_NOMEM, "eval: acc: out of memory");
  a->qid[a->n] = id;
  a->res[a->n] = *r;
  a->n++;
  return RAG_OK;
}

size_t eval_acc_count(const eval_acc *a) {
  return a ? a->n : 0;
}

size_t eval_acc_skipped(const eval_acc *a) {
  return a ? a->skipped : 0;
}

const char *eval_acc_qid(const eval_acc *a, size_t i) {
  return a && i < a->n ? a->qid[i] : NULL;
}

const eval_qresult *eval_acc_result(const eval_acc *a, size_t i) {
  return a && i < a->n ? &a->res[i] : NULL;
}

const eval_cutoffs *eval_acc_cutoffs(const eval_acc *a) {
  return a ? &a->ks : NULL;
}

size_t eval_acc_nlatency(const eval_acc *a) {
  return a ? a->nlat : 0;
}

const double *eval_acc_latencies(const eval_acc *a) {
  return a ? a->lat : NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

rag_status eval_acc_summary(const eval_acc *a, eval_summary *out,
                            rag_err *err) {
  if (!a || !out)
    return rag_fail(err, RAG_BADARG, "eval: summary: NULL argument");
  memset(out, 0, sizeof(*out));
  out->ks = a->ks;
  out->nqueries = a->n;
  out->nskipped = a->skipped;
  /* Sums in the order added, so a run's means are reproducible bit for
  ** bit; n is at most a few hundred thousand, so plain summation of
  ** values in [0, 1] loses nothing that 4 printed decimals would show. */
  for (size_t i = 0; i < a->n; i++) {
    const eval_qresult *r = &a->res[i];
    for (size_t k = 0; k < a->ks.n; k++) {
      out->recall[k] += r->recall[k];
      out->precision[k] += r->precision[k];
    }
    out->mrr10 += r->mrr10;
    out->ndcg10 += r->ndcg10;
    out->map100 += r->map100;
  }
  if (a->n) {
    double n = (double)a->n;
    for (size_t k = 0; k < a->ks.n; k++) {
      out->recall[k] /= n;
      out->precision[k] /= n;
    }
    out->mrr10 /= n;
    out->ndcg10 /= n;
    out->map100 /= n;
  }
  out->nlatency = a->nlat;
  if (a->nlat) {
    double *s = malloc(a->nlat * sizeof(*s));
    if (!s)
      return rag_fail(err, RAG_NOMEM, "eval: summary: out of memory");
    memcpy(s, a->lat, a->nlat * sizeof(*s));
    qsort(s, a->nlat, sizeof(*s), cmp_double);
    out->latency_p50 = eval_percentile_sorted(s, a->nlat, 0.50);
    out->latency_p95 = eval_percentile_sorted(s, a->nlat, 0.95);
    free(s);
  }
  return RAG_OK;
}

/* ---- 4. reports ------------------------------------------------------------
 */

#define ROW_NAME_W 16 /* widest row label: "latency_ms_p95" + margin */
#define COL_W 12

static void print_row(FILE *f, const char *label, const eval_summary *const *s,
                      size_t n, int kind, size_t ki) {
  fprintf(f, "%-*s", ROW_NAME_W, label);
  for (size_t i = 0; i < n; i++) {
    const eval_summary *x = s[i];
    int has_k = ki < x->ks.n;
    switch (kind) {
    case 0:
      if (has_k)
        fprintf(f, " %*.4f", COL_W, x->recall[ki]);
      else
        fprintf(f, " %*s", COL_W, "-");
      break;
    case 1:
      fprintf(f, " %*.4f", COL_W, x->mrr10);
      break;
    case 2:
      fprintf(f, " %*.4f", COL_W, x->ndcg10);
      break;
    case 3:
      fprintf(f, " %*.4f", COL_W, x->map100);
      break;
    case 4:
    case 5:
      if (x->nlatency)
        fprintf(f, " %*.2f", COL_W,
                1000.0 * (kind == 4 ? x->latency_p50 : x->latency_p95));
      else
        fprintf(f, " %*s", COL_W, "-");
      break;
    default:
      fprintf(f, " %*zu", COL_W, x->nqueries);
      break;
    }
  }
  fputc('\n', f);
}

void eval_report_print(FILE *f, const char *const *names,
                       const eval_summary *const *s, size_t n) {
  if (!f || !s || n == 0)
    return;
  char label[64];
  fprintf(f, "%-*s", ROW_NAME_W, "metric");
  for (size_t i = 0; i < n; i++) {
    if (names && names[i])
      fprintf(f, " %*.*s", COL_W, COL_W, names[i]);
    else {
      snprintf(label, sizeof(label), "run %zu", i + 1);
      fprintf(f, " %*s", COL_W, label);
    }
  }
  fputc('\n', f);
  /* Rows follow the first summary's cutoffs; runs being compared share
  ** them, and a run without a cutoff prints "-". */
  for (size_t k = 0; k < s[0]->ks.n; k++) {
    snprintf(label, sizeof(label), "recall@%d", s[0]->ks.k[k]);
    print_row(f, label, s, n, 0, k);
  }
  print_row(f, "mrr@10", s, n, 1, 0);
  print_row(f, "ndcg@10", s, n, 2, 0);
  print_row(f, "map@100", s, n, 3, 0);
  print_row(f, "latency_ms_p50", s, n, 4, 0);
  print_row(f, "latency_ms_p95", s, n, 5, 0);
  print_row(f, "queries", s, n, 6, 0);
}

cJSON *eval_report_json(const eval_summary *s) {
  if (!s)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  char key[32];
  int ok = 1;
  for (size_t k = 0; k < s->ks.n && ok; k++) {
    snprintf(key, sizeof(key), "recall@%d", s->ks.k[k]);
    ok = cJSON_AddNumberToObject(o, key, s->recall[k]) != NULL;
  }
  ok = ok && cJSON_AddNumberToObject(o, "mrr@10", s->mrr10);
  ok = ok && cJSON_AddNumberToObject(o, "ndcg@10", s->ndcg10);
  ok = ok && cJSON_AddNumberToObject(o, "map@100", s->map100);
  if (s->nlatency) {
    ok = ok &&
         cJSON_AddNumberToObject(o, "latency_ms_p50", 1000.0 * s->latency_p50);
    ok = ok &&
         cJSON_AddNumberToObject(o, "latency_ms_p95", 1000.0 * s->latency_p95);
  } else {
    ok = ok && cJSON_AddNullToObject(o, "latency_ms_p50");
    ok = ok && cJSON_AddNullToObject(o, "latency_ms_p95");
  }
  ok = ok && cJSON_AddNumberToObject(o, "queries", (double)s->nqueries);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

char *eval_report_json_text(const eval_summary *s) {
  cJSON *o = eval_report_json(s);
  if (!o)
    return NULL;
  /* cJSON allocates with whatever hooks main installed; copy so that the
  ** documented free() is always the right deallocator. */
  char *t = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!t)
    return NULL;
  char *copy = rag_strdup(t);
  cJSON_free(t);
  return copy;
}
