/* api/api_retrieval.c -- Retrieval endpoints.
**   POST /v1/datasets/{id}/retrieve   Dify Knowledge API (records of
**        segments with their document and score);
**   POST /retrieval                   Dify External Knowledge API
**        (records of content, score, title, metadata), with
**        metadata_condition evaluated over each hit's document metadata
**        after an over-fetch, since ret_search filters only on equality.
** Scores are ret_search's final scores, each in [0, 1]. */
#include "api/api_int.h"

#include "core/rag_hash.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_QUERY 4096 /* bytes of query text */
#define MAX_TOP_K 100
#define OVERFETCH 5 /* x top_k when a metadata condition filters */
#define MAX_FETCH 500

/* The documents of hits[0..n): (*out)[i], or NULL for a chunk that is not
** an uploaded or watched document's. One lookup per hit under the
** dataset's lock (api_kb_docs_of), not a copy of the whole document list
** per request. Arrays and strings in a. */
static rag_status hit_docs(api_kb *k, const ret_hit *hits, size_t n,
                           rag_arena *a, const api_doc_info ***out,
                           rag_err *err) {
  *out = NULL;
  if (n == 0)
    return RAG_OK;
  const char **src = rag_arena_calloc(a, n, sizeof(*src));
  api_doc_info *d = rag_arena_calloc(a, n, sizeof(*d));
  int *found = rag_arena_calloc(a, n, sizeof(*found));
  const api_doc_info **p = rag_arena_calloc(a, n, sizeof(*p));
  if (!src || !d || !found || !p)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++)
    src[i] = hits[i].source;
  rag_status rc = api_kb_docs_of(k, src, n, a, d, found, err);
  for (size_t i = 0; !rc && i < n; i++)
    p[i] = found[i] ? &d[i] : NULL;
  if (!rc)
    *out = p;
  return rc;
}

/* ---- Dify Knowledge API: retrieve ---- */

/* Bytes of an 8-byte word that need an escape: below 32, '"' or '\\'
** (the usual "has less" / "has zero" bit tricks; a borrow can flag a byte
** above a flagged one, never a word with none). Chunk texts are kilobytes
** of plain prose, so most words pass whole. */
static int word_needs_escape(uint64_t w) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t q = w ^ (ones * '"'), s = w ^ (ones * '\\');
  uint64_t t = ((w - ones * 32) & ~w) | ((q - ones) & ~q) | ((s - ones) & ~s);
  return (t & high) != 0;
}

/* JSON text as cJSON 1.7.15 prints it (print_string_ptr): '"', '\\' and
** \b \f \n \r \t escaped by name, other bytes under 32 as \u00xx, the
** rest (UTF-8 included) as is. Returns 0, or 1 when b could not grow. */
static int json_str(rag_buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (rag_buf_putc(b, '"'))
    return 1;
  const unsigned char *p = (const unsigned char *)s, *run = p;
  const unsigned char *end = p + strlen(s);
  for (;; p++) {
    while (end - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (word_needs_escape(w))
        break;
      p += 8;
    }
    unsigned char c = *p;
    if (c > 31 && c != '"' && c != '\\')
      continue;
    if (p > run && rag_buf_append(b, run, (size_t)(p - run)))
      return 1;
    run = p + 1;
    if (!c)
      break;
    char e[6] = {'\\', (char)c, 0, 0, 0, 0};
    size_t n = 2;
    switch (c) {
    case '\b':
      e[1] = 'b';
      break;
    case '\f':
      e[1] = 'f';
      break;
    case '\n':
      e[1] = 'n';
      break;
    case '\r':
      e[1] = 'r';
      break;
    case '\t':
      e[1] = 't';
      break;
    case '"':
    case '\\':
      break;
    default:
      memcpy(e + 1, "u00", 3);
      e[4] = hex[c >> 4];
      e[5] = hex[c & 15];
      n = 6;
    }
    if (rag_buf_append(b, e, n))
      return 1;
  }
  return rag_buf_putc(b, '"') != RAG_OK;
}

/* About the size of a reply listing hits[0..n) (texts, escapes aside,
** plus ~500 bytes of fields per record, plus extra): reserved up front,
** one allocation instead of ~8 reallocs on the way. */
static size_t reply_size(const ret_hit *hits, size_t n, size_t extra) {
  size_t est = 64 + extra;
  for (size_t i = 0; i < n; i++)
    est += 512 + (hits[i].text ? strlen(hits[i].text) : 0);
  return est;
}

/* A number as cJSON 1.7.15 prints it (print_number): an integral value in
** int range as %d, else %1.15g when that reads back within DBL_EPSILON
** (relative), else %1.17g; NaN and infinities as null. */
static int json_num(rag_buf *b, double d) {
  char t[32];
  int fin = !isnan(d) && !isinf(d);
  int iv = !fin || d >= INT_MAX   ? INT_MAX
           : d <= (double)INT_MIN ? INT_MIN
                                  : (int)d;
  if (!fin) {
    snprintf(t, sizeof(t), "null");
  } else if (d == (double)iv) {
    return rag_buf_put_i64(b, iv) != RAG_OK; /* "%d" by hand: 3 a hit */
  } else {
    snprintf(t, sizeof(t), "%1.15g", d);
    double back = strtod(t, NULL);
    double m = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
    if (!(fabs(back - d) <= m * DBL_EPSILON))
      snprintf(t, sizeof(t), "%1.17g", d);
  }
  return rag_buf_puts(b, t) != RAG_OK;
}

static int num_field(api_req *r, const cJSON *o, const char *k, double lo,
                     double hi, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v || cJSON_IsNull(v))
    return 1;
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
    return api_error(r, 400, "invalid_param", "%s must be a number in %g..%g",
                     k, lo, hi),
           0;
  *out = v->valuedouble;
  return 1;
}

static int bool_field(api_req *r, const cJSON *o, const char *k, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v || cJSON_IsNull(v))
    return 1;
  if (!cJSON_IsBool(v))
    return api_error(r, 400, "invalid_param", "%s must be a boolean", k), 0;
  *out = cJSON_IsTrue(v);
  return 1;
}

/* Reads the query text; replies 400 when it is not a usable string. */
static const char *query_text(api_req *r, const cJSON *b) {
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(b, "query");
  if (!cJSON_IsString(q) || !*q->valuestring)
    return api_error(r, 400, "invalid_param",
                     "query must be a non-empty string"),
           NULL;
  if (strlen(q->valuestring) > MAX_QUERY)
    return api_error(r, 400, "invalid_param", "query exceeds %d bytes",
                     MAX_QUERY),
           NULL;
  return q->valuestring;
}

/* Parses retrieval_model into q; 0 = replied with an error. */
static int parse_model(api_req *r, const cJSON *m, ret_query *q) {
  if (!m || cJSON_IsNull(m))
    return 1;
  if (!cJSON_IsObject(m))
    return api_error(r, 400, "invalid_param",
                     "retrieval_model must be an object"),
           0;
  const cJSON *sm = cJSON_GetObjectItemCaseSensitive(m, "search_method");
  if (sm) {
    const char *s = cJSON_IsString(sm) ? sm->valuestring : "";
    if (!strcmp(s, "semantic_search"))
      q->mode = RAG_MODE_VECTOR;
    else if (!strcmp(s, "full_text_search") || !strcmp(s, "keyword_search"))
      q->mode = RAG_MODE_FULLTEXT;
    else if (!strcmp(s, "hybrid_search"))
      q->mode = RAG_MODE_HYBRID;
    else
      return api_error(r, 400, "invalid_param",
                       "search_method must be semantic_search, "
                       "full_text_search or hybrid_search"),
             0;
  }
  double topk = q->top_k, thr = 0;
  int thr_on = 0;
  if (!bool_field(r, m, "reranking_enable", &q->rerank) ||
      !bool_field(r, m, "score_threshold_enabled", &thr_on) ||
      !num_field(r, m, "top_k", 1, MAX_TOP_K, &topk) ||
      !num_field(r, m, "score_threshold", 0, 1, &thr))
    return 0;
  q->top_k = (int)topk;
  q->threshold = thr_on ? thr : 0;
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(m, "weights");
  if (w && !cJSON_IsNull(w)) {
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(w, "vector_setting");
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(w, "keyword_setting");
    double vw = q->vector_weight, kw = q->keyword_weight;
    if (!cJSON_IsObject(w) || (vs && !cJSON_IsObject(vs)) ||
        (ks && !cJSON_IsObject(ks)))
      return api_error(r, 400, "invalid_param", "weights must be an object"), 0;
    if (!num_field(r, vs, "vector_weight", 0, 1, &vw) ||
        !num_field(r, ks, "keyword_weight", 0, 1, &kw))
      return 0;
    q->fusion = RAG_FUSION_WEIGHTED;
    q->vector_weight = vw;
    q->keyword_weight = kw;
  }
  return 1;
}

int api_h_retrieve(api_req *r) {
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  ret_query q = ret_query_default(r->srv->cfg);
  q.threshold = 0;
  q.rerank = 0;
  api_kb *k = NULL;
  q.text = query_text(r, b);
  if (q.text &&
      parse_model(r, cJSON_GetObjectItemCaseSensitive(b, "retrieval_model"),
                  &q) &&
      (k = api_kbs_get(r->srv->kbs, r->params[0])) == NULL)
    api_error(r, 404, "dataset_not_found", "dataset %s not found",
              r->params[0]);
  if (!k) {
    cJSON_Delete(b);
    return 0;
  }
  rag_err err;
  rag_err_clear(&err);
  ret_hit *hits = NULL;
  size_t n = 0;
  const api_doc_info **docs = NULL;
  /* position and tokens come with the hits (ret_hit.ord, .ntokens): the
  ** rows are read once, by the search. */
  rag_status rc = api_kb_search(k, &q, r->arena, &hits, &n, &err);
  if (!rc)
    rc = hit_docs(k, hits, n, r->arena, &docs, &err);
  if (rc) {
    api_kb_release(k);
    cJSON_Delete(b);
    return api_error_rag(r, &err);
  }
  /* The reply is written as text: the same bytes cJSON_PrintUnformatted
  ** gives for this tree (key order, escapes, numbers), without ~20 cJSON
  ** nodes and key copies per record, built and freed on every request. */
  rag_buf o;
  rag_buf_init(&o, 0);
  int bad =
      rag_buf_reserve(&o, reply_size(hits, n, 2 * strlen(q.text))) != RAG_OK;
  bad |= rag_buf_puts(&o, "{\"query\":{\"content\":") != RAG_OK;
  bad |= json_str(&o, q.text);
  bad |= rag_buf_puts(&o, "},\"records\":[") != RAG_OK;
  for (size_t i = 0; i < n && !bad; i++) {
    const ret_hit *h = &hits[i];
    const api_doc_info *d = docs[i];
    const char *text = h->text ? h->text : "";
    char sid[40];
    api_segment_id(r->params[0], h->chunk_id, sid);
    bad |= rag_buf_puts(&o, i ? ",{\"segment\":{\"id\":"
                              : "{\"segment\":{\"id\":") != RAG_OK;
    bad |= json_str(&o, sid);
    bad |= rag_buf_puts(&o, ",\"position\":") != RAG_OK;
    bad |= json_num(&o, hits[i].ord + 1);
    bad |= rag_buf_puts(&o, ",\"document_id\":") != RAG_OK;
    bad |= json_str(&o, d ? d->id : "");
    bad |= rag_buf_puts(&o, ",\"content\":") != RAG_OK;
    bad |= json_str(&o, text);
    bad |= rag_buf_puts(&o, ",\"answer\":null,\"word_count\":") != RAG_OK;
    bad |= json_num(&o, (double)strlen(text)); /* Dify counts characters */
    bad |= rag_buf_puts(&o, ",\"tokens\":") != RAG_OK;
    bad |= json_num(&o, hits[i].ntokens);
    bad |= rag_buf_puts(&o, ",\"keywords\":[],\"hit_count\":0,"
                            "\"enabled\":true,\"status\":\"completed\","
                            "\"document\":{\"id\":") != RAG_OK;
    bad |= json_str(&o, d ? d->id : "");
    bad |= rag_buf_puts(&o, ",\"data_source_type\":\"upload_file\","
                            "\"name\":") != RAG_OK;
    bad |= json_str(&o, d && d->name ? d->name : h->title ? h->title : "");
    bad |= rag_buf_puts(&o, "}},\"score\":") != RAG_OK;
    bad |= json_num(&o, h->score);
    bad |= rag_buf_putc(&o, '}') != RAG_OK;
  }
  bad |= rag_buf_puts(&o, "]}") != RAG_OK;
  api_kb_release(k);
  cJSON_Delete(b);
  char *text = bad ? NULL : rag_buf_detach(&o);
  rag_buf_free(&o);
  return api_reply_text(r, 200, "application/json", text); /* NULL: 500 */
}

/* ---- Dify External Knowledge API: metadata conditions ---- */

/* ISO-8601 date or date-time (Z or ±hh:mm) to epoch seconds; a JSON
** number is taken as epoch seconds. Returns 0 on success. */
static int parse_time(const cJSON *v, double *out) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return 0;
  }
  if (!cJSON_IsString(v))
    return -1;
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  int Y, M, D, h = 0, m = 0, s = 0, used = 0;
  const char *t = v->valuestring;
  if (sscanf(t, "%4d-%2d-%2d%n", &Y, &M, &D, &used) != 3)
    return -1;
  t += used;
  if (*t == 'T' || *t == ' ') {
    if (sscanf(t + 1, "%2d:%2d%n", &h, &m, &used) != 2)
      return -1;
    t += 1 + used;
    if (*t == ':' && sscanf(t + 1, "%2d%n", &s, &used) == 1)
      t += 1 + used;
    if (*t == '.')
      for (t++; *t >= '0' && *t <= '9'; t++)
        ;
  }
  double off = 0;
  if (*t == '+' || *t == '-') {
    int oh = 0, om = 0;
    if (sscanf(t + 1, "%2d:%2d", &oh, &om) < 1)
      return -1;
    off = (*t == '+' ? 1 : -1) * (oh * 3600.0 + om * 60.0);
  } else if (*t && *t != 'Z') {
    return -1;
  }
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  *out = (double)timegm(&tm) - off;
  return 0;
}

/* Text of a scalar (strings as is, numbers and booleans as JSON). */
static const char *scalar_text(const cJSON *v, char *buf, size_t n) {
  if (cJSON_IsString(v))
    return v->valuestring;
  if (cJSON_IsNumber(v)) {
    if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15)
      snprintf(buf, n, "%.0f", v->valuedouble);
    else
      snprintf(buf, n, "%.17g", v->valuedouble);
    return buf;
  }
  if (cJSON_IsBool(v))
    return cJSON_IsTrue(v) ? "true" : "false";
  return NULL;
}

static int to_num(const cJSON *v, double *out) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return 1;
  }
  return cJSON_IsString(v) && !rag_parse_double(v->valuestring, out);
}

static int is_empty(const cJSON *f) {
  return !f || cJSON_IsNull(f) || (cJSON_IsString(f) && !*f->valuestring) ||
         ((cJSON_IsArray(f) || cJSON_IsObject(f)) && !f->child);
}

/* In: value is an array (or a comma-separated string) holding f's text. */
static int in_list(const cJSON *f, const cJSON *val) {
  char b1[64], b2[64];
  const char *ft = scalar_text(f, b1, sizeof(b1));
  if (!ft)
    return 0;
  if (cJSON_IsArray(val)) {
    const cJSON *x;
    cJSON_ArrayForEach(x, val) {
      const char *xt = scalar_text(x, b2, sizeof(b2));
      if (xt && !strcmp(xt, ft))
        return 1;
    }
    return 0;
  }
  const char *vs = scalar_text(val, b2, sizeof(b2));
  size_t fl = strlen(ft);
  for (const char *p = vs; p && *p;) {
    while (*p == ' ')
      p++;
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    while (l && p[l - 1] == ' ')
      l--;
    if (l == fl && !memcmp(p, ft, l))
      return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* -1: unknown operator. */
static int eval_one(const cJSON *f, const char *op, const cJSON *val) {
  char b1[64], b2[64];
  if (!strcmp(op, "empty"))
    return is_empty(f);
  if (!strcmp(op, "not empty"))
    return !is_empty(f);
  const char *ft = f ? scalar_text(f, b1, sizeof(b1)) : NULL;
  const char *vt = scalar_text(val, b2, sizeof(b2));
  if (!strcmp(op, "contains") || !strcmp(op, "not contains")) {
    int has = 0;
    if (cJSON_IsArray(f)) {
      const cJSON *x;
      cJSON_ArrayForEach(x, f) {
        char b3[64];
        const char *xt = scalar_text(x, b3, sizeof(b3));
        has |= xt && vt && !strcmp(xt, vt);
      }
    } else {
      has = ft && vt && strstr(ft, vt) != NULL;
    }
    if (!f)
      return 0;
    return op[0] == 'c' ? has : !has;
  }
  if (!strcmp(op, "start with"))
    return ft && vt && !strncmp(ft, vt, strlen(vt));
  if (!strcmp(op, "end with")) {
    size_t fl = ft ? strlen(ft) : 0, vl = vt ? strlen(vt) : 0;
    return ft && vt && fl >= vl && !strcmp(ft + fl - vl, vt);
  }
  if (!strcmp(op, "is"))
    return ft && vt && !strcmp(ft, vt);
  if (!strcmp(op, "is not"))
    return ft && vt && strcmp(ft, vt) != 0;
  if (!strcmp(op, "in"))
    return f && in_list(f, val);
  if (!strcmp(op, "not in"))
    return f && !in_list(f, val);
  if (!strcmp(op, "before") || !strcmp(op, "after")) {
    double a, b;
    if (!f || parse_time(f, &a) || parse_time(val, &b))
      return 0;
    return op[0] == 'b' ? a < b : a > b;
  }
  double a, b;
  int numeric = f && to_num(f, &a) && to_num(val, &b);
  if (!strcmp(op, "=") || !strcmp(op, "=="))
    return numeric && a == b;
  if (!strcmp(op, "≠") || !strcmp(op, "!="))
    return numeric && a != b;
  if (!strcmp(op, ">"))
    return numeric && a > b;
  if (!strcmp(op, "<"))
    return numeric && a < b;
  if (!strcmp(op, "≥") || !strcmp(op, ">="))
    return numeric && a >= b;
  if (!strcmp(op, "≤") || !strcmp(op, "<="))
    return numeric && a <= b;
  return -1;
}

/* Checks the condition's shape once, before any search: 0 = replied. */
static int check_conditions(api_req *r, const cJSON *mc) {
  if (!mc || cJSON_IsNull(mc))
    return 1;
  const cJSON *lo = cJSON_GetObjectItemCaseSensitive(mc, "logical_operator");
  const cJSON *cs = cJSON_GetObjectItemCaseSensitive(mc, "conditions");
  if (!cJSON_IsObject(mc) ||
      (lo && !cJSON_IsNull(lo) &&
       (!cJSON_IsString(lo) ||
        (strcmp(lo->valuestring, "and") && strcmp(lo->valuestring, "or")))) ||
      (cs && !cJSON_IsArray(cs) && !cJSON_IsNull(cs)))
    return api_error(r, 400, "invalid_param",
                     "metadata_condition: {\"logical_operator\": \"and\"|"
                     "\"or\", \"conditions\": [...]}"),
           0;
  const cJSON *c;
  cJSON_ArrayForEach(c, cs) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
    const cJSON *op =
        cJSON_GetObjectItemCaseSensitive(c, "comparison_operator");
    int names_ok = cJSON_IsString(nm) || cJSON_IsArray(nm);
    if (!cJSON_IsObject(c) || !names_ok || !cJSON_IsString(op) ||
        eval_one(NULL, op->valuestring, NULL) < 0)
      return api_error(r, 400, "invalid_param",
                       "metadata_condition: each condition needs a name and "
                       "a known comparison_operator"),
             0;
  }
  return 1;
}

static int eval_conditions(const cJSON *mc, const cJSON *meta) {
  const cJSON *cs = cJSON_GetObjectItemCaseSensitive(mc, "conditions");
  const cJSON *lo = cJSON_GetObjectItemCaseSensitive(mc, "logical_operator");
  /* Dify's MetadataCondition.model_dump() writes null for an unset list. */
  int any = cJSON_IsString(lo) && !strcmp(lo->valuestring, "or");
  if (!cs || !cs->child)
    return 1;
  const cJSON *c;
  cJSON_ArrayForEach(c, cs) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
    const char *op =
        cJSON_GetObjectItemCaseSensitive(c, "comparison_operator")->valuestring;
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(c, "value");
    int ok = 0;
    if (cJSON_IsString(nm)) {
      ok = eval_one(cJSON_GetObjectItemCaseSensitive(meta, nm->valuestring), op,
                    val) == 1;
    } else {
      const cJSON *x; /* a list of names: any of them satisfying it */
      cJSON_ArrayForEach(x, nm) {
        if (cJSON_IsString(x) &&
            eval_one(cJSON_GetObjectItemCaseSensitive(meta, x->valuestring), op,
                     val) == 1)
          ok = 1;
      }
    }
    if (any && ok)
      return 1;
    if (!any && !ok)
      return 0;
  }
  return !any;
}

/* The metadata object of a hit: the loader's fields, the document's
** doc_metadata over them, and document_id / document_name. */
static cJSON *hit_meta(const ret_hit *h, const api_doc_info *d) {
  const char *mj = h->meta_json && *h->meta_json ? h->meta_json : "{}";
  cJSON *m = cJSON_ParseWithLength(mj, strlen(mj));
  if (!cJSON_IsObject(m)) {
    cJSON_Delete(m);
    m = cJSON_CreateObject();
  }
  if (d) {
    cJSON *dm = cJSON_Parse(d->meta_json ? d->meta_json : "{}");
    cJSON *x = dm ? dm->child : NULL;
    while (x) {
      cJSON *next = x->next;
      cJSON_DetachItemViaPointer(dm, x);
      cJSON_DeleteItemFromObjectCaseSensitive(m, x->string);
      cJSON_AddItemToObject(m, x->string, x);
      x = next;
    }
    cJSON_Delete(dm);
    cJSON_DeleteItemFromObjectCaseSensitive(m, "document_id");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "document_name");
    cJSON_AddStringToObject(m, "document_id", d->id);
    cJSON_AddStringToObject(m, "document_name", d->name ? d->name : "");
  }
  return m;
}

static int ext_err(api_req *r, int status, int code, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "error_code", code);
  cJSON_AddStringToObject(o, "error_msg", msg);
  return api_reply_json(r, status, o);
}

int api_h_ext_retrieval(api_req *r) {
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  const cJSON *kid = cJSON_GetObjectItemCaseSensitive(b, "knowledge_id");
  const cJSON *rs = cJSON_GetObjectItemCaseSensitive(b, "retrieval_setting");
  const cJSON *mc = cJSON_GetObjectItemCaseSensitive(b, "metadata_condition");
  ret_query q = ret_query_default(r->srv->cfg);
  q.rerank = 0;
  double topk = 5, thr = 0;
  api_kb *k = NULL;
  if (!cJSON_IsString(kid) || !*kid->valuestring)
    api_error(r, 400, "invalid_param", "knowledge_id must be a string");
  else if (!(q.text = query_text(r, b)))
    ;
  else if (!cJSON_IsObject(rs))
    api_error(r, 400, "invalid_param", "retrieval_setting must be an object");
  else if (!num_field(r, rs, "top_k", 1, MAX_TOP_K, &topk) ||
           !num_field(r, rs, "score_threshold", 0, 1, &thr) ||
           !check_conditions(r, mc))
    ;
  else if (!api_auth_allows(r->key, kid->valuestring))
    ext_err(r, 403, 1002, "Authorization failed");
  else if (!(k = api_kbs_get(r->srv->kbs, kid->valuestring)))
    ext_err(r, 404, 2001, "The knowledge does not exist");
  if (!k) {
    cJSON_Delete(b);
    return 0;
  }
  int filter = mc && !cJSON_IsNull(mc);
  q.top_k = filter ? (int)fmin(topk * OVERFETCH < 50 ? 50 : topk * OVERFETCH,
                               MAX_FETCH)
                   : (int)topk;
  if (q.candidates < q.top_k)
    q.candidates = q.top_k;
  q.threshold = thr;
  rag_err err;
  rag_err_clear(&err);
  ret_hit *hits = NULL;
  size_t n = 0;
  const api_doc_info **docs = NULL;
  rag_status rc = api_kb_search(k, &q, r->arena, &hits, &n, &err);
  if (!rc)
    rc = hit_docs(k, hits, n, r->arena, &docs, &err);
  api_kb_release(k);
  if (rc) {
    cJSON_Delete(b);
    return api_error_rag(r, &err);
  }
  /* Written as text, as api_h_retrieve's reply: the bytes cJSON would
  ** print for {"records": [{content, score, title, metadata}]}. Only the
  ** metadata object is a cJSON tree (merged, and matched by filters). */
  rag_buf o;
  rag_buf_init(&o, 0);
  int bad = rag_buf_reserve(&o, reply_size(hits, n, 0)) != RAG_OK;
  bad |= rag_buf_puts(&o, "{\"records\":[") != RAG_OK;
  int kept = 0;
  for (size_t i = 0; i < n && kept < (int)topk && !bad; i++) {
    const api_doc_info *d = docs[i];
    cJSON *m = hit_meta(&hits[i], d);
    if (filter && !eval_conditions(mc, m)) {
      cJSON_Delete(m);
      continue;
    }
    char *mt = m ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    bad |= !mt;
    bad |=
        rag_buf_puts(&o, kept ? ",{\"content\":" : "{\"content\":") != RAG_OK;
    bad |= json_str(&o, hits[i].text ? hits[i].text : "");
    bad |= rag_buf_puts(&o, ",\"score\":") != RAG_OK;
    bad |= json_num(&o, hits[i].score);
    bad |= rag_buf_puts(&o, ",\"title\":") != RAG_OK;
    bad |= json_str(&o, d && d->name    ? d->name
                        : hits[i].title ? hits[i].title
                                        : "");
    bad |= rag_buf_puts(&o, ",\"metadata\":") != RAG_OK;
    bad |= mt && rag_buf_puts(&o, mt) != RAG_OK;
    bad |= rag_buf_putc(&o, '}') != RAG_OK;
    cJSON_free(mt);
    kept++;
  }
  bad |= rag_buf_puts(&o, "]}") != RAG_OK;
  cJSON_Delete(b);
  char *text = bad ? NULL : rag_buf_detach(&o);
  rag_buf_free(&o);
  return api_reply_text(r, 200, "application/json", text); /* NULL: 500 */
}
