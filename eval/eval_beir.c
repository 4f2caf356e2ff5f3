/* eval/eval_beir.c -- Loading a BEIR dataset's queries and qrels.
** Divisions:
**   1. a small string-keyed hash map (open addressing, linear probing)
**   2. reading a file as NUL-terminated lines under the size caps
**   3. queries.jsonl
**   4. qrels/<split>.tsv
**   5. open / close / accessors / scoring
** Every string lives in the dataset's arena; the growing arrays are
** malloc'd and freed by eval_dataset_close(). */
#include "eval/eval_beir.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/rag_arena.h"
#include "core/rag_buf.h"
#include "core/rag_hash.h"

/* ---- 1. hash map ----------------------------------------------------------
 */

/* Keys are (ns, string): ns 0 with a query id maps to the query index;
** ns = query index + 1 with a doc id maps to the judgement's index in that
** query's list. One table for all qrels avoids a map per query. Keys are
** borrowed (they live in the arena). */
typedef struct map_entry {
  const char *key; /* NULL: empty slot */
  uint64_t hash;
  size_t ns;
  size_t val;
} map_entry;

typedef struct str_map {
  map_entry *slot;
  size_t cap; /* power of two, or 0 */
  size_t n;
} str_map;

static uint64_t map_hash(size_t ns, const char *key) {
  return rag_hash64(key, strlen(key), (uint64_t)ns * 0x9e3779b97f4a7c15ULL);
}

static map_entry *map_find(const str_map *m, size_t ns, const char *key) {
  if (!m->cap)
    return NULL;
  uint64_t h = map_hash(ns, key);
  for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    map_entry *e = &m->slot[i];
    if (!e->key)
      return NULL;
    if (e->hash == h && e->ns == ns && strcmp(e->key, key) == 0)
      return e;
  }
}

/* Rehashes into twice the slots; the load stays <= 1/2 so probes stay
** short and an empty slot always exists. */
static int map_grow(str_map *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  map_entry *s = calloc(cap, sizeof(*s));
  if (!s)
    return -1;
  for (size_t i = 0; i < m->cap; i++) {
    map_entry *e = &m->slot[i];
    if (!e->key)
      continue;
    size_t j = (size_t)e->hash & (cap - 1);
    while (s[j].key)
      j = (j + 1) & (cap - 1);
    s[j] = *e;
  }
  free(m->slot);
  m->slot = s;
  m->cap = cap;
  return 0;
}

/* Inserts (ns, key) -> val; the key must not be present. */
static int map_put(str_map *m, size_t ns, const char *key, size_t val) {
  if ((m->n + 1) * 2 > m->cap && map_grow(m))
    return -1;
  uint64_t h = map_hash(ns, key);
  size_t i = (size_t)h & (m->cap - 1);
  while (m->slot[i].key)
    i = (i + 1) & (m->cap - 1);
  m->slot[i].key = key;
  m->slot[i].hash = h;
  m->slot[i].ns = ns;
  m->slot[i].val = val;
  m->n++;
  return 0;
}

static void map_free(str_map *m) {
  free(m->slot);
  memset(m, 0, sizeof(*m));
}

/* ---- dataset
 * ------------------------------------------------------------------ */

typedef struct query {
  const char *id, *text;
  long line; /* line in queries.jsonl, for duplicate-id errors */
  eval_judgement *j;
  size_t nj, capj;
  size_t nrel;
} query;

struct eval_dataset {
  rag_arena *arena;
  const char *corpus_path;
  query *q;
  size_t nq, capq;
  size_t *evaluated;
  size_t nev;
  size_t orphans;
  str_map ids; /* (0, query id) -> query index; (qi+1, doc id) -> judgement */
};

/* ---- 2. lines
 * ------------------------------------------------------------------ */

typedef rag_status (*line_fn)(eval_dataset *ds, const char *path, long lineno,
                              char *line, size_t len, rag_err *err);

/* Reads path whole (capped) and calls fn on each line, NUL-terminated in
** place, without its "\n" or "\r\n". Blank lines are passed too: the
** callers decide, since a blank line is harmless in both formats. */
static rag_status for_each_line(eval_dataset *ds, const char *path, line_fn fn,
                                rag_err *err) {
  rag_buf b;
  rag_buf_init(&b, EVAL_BEIR_MAX_FILE);
  rag_status rc = rag_buf_read_file(&b, path, err);
  if (rc) {
    rag_buf_free(&b);
    return rc;
  }
  char *p = b.data, *end = b.data + b.len;
  long lineno = 0;
  while (!rc && p < end) {
    lineno++;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *stop = nl ? nl : end;
    size_t len = (size_t)(stop - p);
    if (len > EVAL_BEIR_MAX_LINE) {
      rc = rag_fail(err, RAG_TOOBIG, "%s:%ld: line longer than %zu bytes", path,
                    lineno, EVAL_BEIR_MAX_LINE);
      break;
    }
    if (len > 0 && p[len - 1] == '\r')
      len--;
    p[len] = '\0'; /* overwrites '\n', '\r' or the buffer's terminator */
    rc = fn(ds, path, lineno, p, len, err);
    p = nl ? nl + 1 : end;
  }
  rag_buf_free(&b);
  return rc;
}

static int is_blank(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return *s == '\0';
}

/* ---- 3. queries.jsonl
 * ------------------------------------------------------------ */

/* The text of a JSON id: a string as is, an integer number in decimal.
** *out lives in the arena. */
static rag_status json_id(eval_dataset *ds, const cJSON *v, const char *path,
                          long lineno, const char **out, rag_err *err) {
  const char *s = NULL;
  *out = NULL;
  if (cJSON_IsString(v)) {
    s = rag_arena_strdup(ds->arena, v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    /* 2^53: beyond it a double no longer holds every integer, so the
    ** text could differ from the file's digits. */
    if (!(d == floor(d)) || fabs(d) >= 9007199254740992.0)
      return rag_fail(err, RAG_CORRUPT,
                      "%s:%ld: numeric \"_id\" must be an integer below 2^53",
                      path, lineno);
    s = rag_arena_printf(ds->arena, "%lld", (long long)d);
  } else {
    return rag_fail(err, RAG_CORRUPT, "%s:%ld: \"_id\" missing or not a string",
                    path, lineno);
  }
  if (!s)
    return rag_fail(err, RAG_NOMEM, "%s:%ld: out of memory", path, lineno);
  if (!*s)
    return rag_fail(err, RAG_CORRUPT, "%s:%ld: empty \"_id\"", path, lineno);
  *out = s;
  return RAG_OK;
}

static rag_status query_line(eval_dataset *ds, const char *path, long lineno,
                             char *line, size_t len, rag_err *err) {
  (void)len;
  if (is_blank(line))
    return RAG_OK;
  const char *endp = NULL;
  cJSON *o = cJSON_ParseWithOpts(line, &endp, 1);
  if (!o) {
    size_t col = endp && endp >= line ? (size_t)(endp - line) + 1 : 1;
    return rag_fail(err, RAG_CORRUPT, "%s:%ld: invalid JSON near column %zu",
                    path, lineno, col);
  }
  rag_status rc = RAG_OK;
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
  const char *id = NULL;
  if (!cJSON_IsObject(o)) {
    rc = rag_fail(err, RAG_CORRUPT, "%s:%ld: not a JSON object", path, lineno);
    goto done;
  }
  rc = json_id(ds, cJSON_GetObjectItemCaseSensitive(o, "_id"), path, lineno,
               &id, err);
  if (rc)
    goto done;
  if (!cJSON_IsString(text)) {
    rc = rag_fail(err, RAG_CORRUPT,
                  "%s:%ld: query \"%s\": \"text\" missing or not a string",
                  path, lineno, id);
    goto done;
  }
  const map_entry *dup = map_find(&ds->ids, 0, id);
  if (dup) {
    rc = rag_fail(err, RAG_CORRUPT,
                  "%s:%ld: duplicate query id \"%s\" (first on line %ld)", path,
                  lineno, id, ds->q[dup->val].line);
    goto done;
  }
  if (ds->nq == ds->capq) {
    size_t cap = ds->capq ? ds->capq * 2 : 256;
    query *q = realloc(ds->q, cap * sizeof(*q));
    if (!q) {
      rc = rag_fail(err, RAG_NOMEM, "%s:%ld: out of memory", path, lineno);
      goto done;
    }
    ds->q = q;
    ds->capq = cap;
  }
  query *q = &ds->q[ds->nq];
  memset(q, 0, sizeof(*q));
  q->id = id;
  q->text = rag_arena_strdup(ds->arena, text->valuestring);
  q->line = lineno;
  if (!q->text || map_put(&ds->ids, 0, id, ds->nq)) {
    rc = rag_fail(err, RAG_NOMEM, "%s:%ld: out of memory", path, lineno);
    goto done;
  }
  ds->nq++;
done:
  cJSON_Delete(o);
  return rc;
}

/* ---- 4. qrels
 * ------------------------------------------------------------------ */

/* Splits line at tabs into at most 4 fields; returns the field count (4
** meaning "more than 3"). */
static int split_tabs(char *line, char *f[4]) {
  int n = 0;
  char *p = line;
  for (;;) {
    f[n++] = p;
    char *t = strchr(p, '\t');
    if (!t || n == 4)
      return n;
    *t = '\0';
    p = t + 1;
  }
}

static int parse_grade(const char *s, int *out) {
  int64_t v;
  /* Plain decimal integers, as BEIR's int(row[2]); "1.0" or "" fail. */
  const char *p = s;
  if (*p == '-' || *p == '+')
    p++;
  if (*p < '0' || *p > '9')
    return -1;
  if (rag_parse_i64(s, &v) || v < -1000000 || v > 1000000)
    return -1;
  *out = (int)v;
  return 0;
}

static rag_status add_judgement(eval_dataset *ds, size_t qi, const char *doc,
                                int gain, const char *path, long lineno,
                                rag_err *err) {
  query *q = &ds->q[qi];
  map_entry *e = map_find(&ds->ids, qi + 1, doc);
  if (e) { /* the last score wins, as in BEIR's qrels dict */
    q->j[e->val].gain = gain;
    return RAG_OK;
  }
  if (q->nj == q->capj) {
    size_t cap = q->capj ? q->capj * 2 : 8;
    eval_judgement *j = realloc(q->j, cap * sizeof(*j));
    if (!j)
      return rag_fail(err, RAG_NOMEM, "%s:%ld: out of memory", path, lineno);
    q->j = j;
    q->capj = cap;
  }
  const char *d = rag_arena_strdup(ds->arena, doc);
  if (!d || map_put(&ds->ids, qi + 1, d, q->nj))
    return rag_fail(err, RAG_NOMEM, "%s:%ld: out of memory", path, lineno);
  q->j[q->nj].doc_id = d;
  q->j[q->nj].gain = gain;
  q->nj++;
  return RAG_OK;
}

static rag_status qrels_line(eval_dataset *ds, const char *path, long lineno,
                             char *line, size_t len, rag_err *err) {
  (void)len;
  if (is_blank(line))
    return RAG_OK;
  char *f[4];
  int nf = split_tabs(line, f);
  if (nf != 3)
    return rag_fail(err, RAG_CORRUPT,
                    "%s:%ld: expected 3 tab-separated columns (query-id, "
                    "corpus-id, score), found %s",
                    path, lineno,
                    nf == 1   ? "1"
                    : nf == 2 ? "2"
                              : "more than 3");
  int gain;
  if (parse_grade(f[2], &gain)) {
    if (lineno == 1) /* the "query-id corpus-id score" header */
      return RAG_OK;
    return rag_fail(err, RAG_CORRUPT,
                    "%s:%ld: score \"%.32s\" is not an integer", path, lineno,
                    f[2]);
  }
  if (!*f[0] || !*f[1])
    return rag_fail(err, RAG_CORRUPT, "%s:%ld: empty %s", path, lineno,
                    !*f[0] ? "query-id" : "corpus-id");
  const map_entry *qe = map_find(&ds->ids, 0, f[0]);
  if (!qe) {
    ds->orphans++;
    return RAG_OK;
  }
  return add_judgement(ds, qe->val, f[1], gain, path, lineno, err);
}

/* ---- 5. open / close / accessors
 * ---------------------------------------------- */

rag_status eval_dataset_open(const char *dir, eval_dataset **out,
                             rag_err *err) {
  return eval_dataset_open_split(dir, "test", out, err);
}

rag_status eval_dataset_open_split(const char *dir, const char *split,
                                   eval_dataset **out, rag_err *err) {
  if (!out)
    return rag_fail(err, RAG_BADARG, "eval: dataset: no output");
  *out = NULL;
  if (!dir || !*dir || !split || !*split || strchr(split, '/'))
    return rag_fail(err, RAG_BADARG, "eval: dataset: bad directory or split");
  eval_dataset *ds = calloc(1, sizeof(*ds));
  if (!ds)
    return rag_fail(err, RAG_NOMEM, "eval: dataset: out of memory");
  rag_status rc = RAG_OK;
  ds->arena = rag_arena_new(0);
  const char *qpath = NULL, *rpath = NULL;
  if (ds->arena) {
    ds->corpus_path = rag_arena_printf(ds->arena, "%s/corpus.jsonl", dir);
    qpath = rag_arena_printf(ds->arena, "%s/queries.jsonl", dir);
    rpath = rag_arena_printf(ds->arena, "%s/qrels/%s.tsv", dir, split);
  }
  if (!ds->arena || !ds->corpus_path || !qpath || !rpath) {
    rc = rag_fail(err, RAG_NOMEM, "eval: dataset: out of memory");
    goto fail;
  }
  /* Fail before the (long) ingest would, not after it. */
  if (access(ds->corpus_path, R_OK) != 0) {
    rc = rag_fail(err, RAG_IO, "%s: %s", ds->corpus_path, strerror(errno));
    goto fail;
  }
  rc = for_each_line(ds, qpath, query_line, err);
  if (rc)
    goto fail;
  rc = for_each_line(ds, rpath, qrels_line, err);
  if (rc)
    goto fail;
  if (ds->nq) {
    ds->evaluated = malloc(ds->nq * sizeof(*ds->evaluated));
    if (!ds->evaluated) {
      rc = rag_fail(err, RAG_NOMEM, "eval: dataset: out of memory");
      goto fail;
    }
  }
  /* Grades can change until the last qrels row (repeats), so count the
  ** relevant ones only now. */
  for (size_t i = 0; i < ds->nq; i++) {
    query *q = &ds->q[i];
    for (size_t k = 0; k < q->nj; k++)
      q->nrel += q->j[k].gain > 0;
    if (q->nrel)
      ds->evaluated[ds->nev++] = i;
  }
  *out = ds;
  return RAG_OK;
fail:
  eval_dataset_close(ds);
  return rc;
}

void eval_dataset_close(eval_dataset *ds) {
  if (!ds)
    return;
  for (size_t i = 0; i < ds->nq; i++)
    free(ds->q[i].j);
  free(ds->q);
  free(ds->evaluated);
  map_free(&ds->ids);
  rag_arena_free(ds->arena);
  free(ds);
}

const char *eval_dataset_corpus_path(const eval_dataset *ds) {
  return ds->corpus_path;
}

size_t eval_dataset_nqueries(const eval_dataset *ds) {
  return ds->nq;
}

const char *eval_dataset_query_id(const eval_dataset *ds, size_t i) {
  return i < ds->nq ? ds->q[i].id : NULL;
}

const char *eval_dataset_query_text(const eval_dataset *ds, size_t i) {
  return i < ds->nq ? ds->q[i].text : NULL;
}

long eval_dataset_find_query(const eval_dataset *ds, const char *qid) {
  if (!qid)
    return -1;
  const map_entry *e = map_find(&ds->ids, 0, qid);
  return e ? (long)e->val : -1;
}

size_t eval_dataset_nevaluated(const eval_dataset *ds) {
  return ds->nev;
}

size_t eval_dataset_evaluated(const eval_dataset *ds, size_t j) {
  return j < ds->nev ? ds->evaluated[j] : (size_t)-1;
}

const eval_judgement *eval_dataset_judged(const eval_dataset *ds, size_t i,
                                          size_t *n) {
  if (i >= ds->nq || ds->q[i].nj == 0) {
    if (n)
      *n = 0;
    return NULL;
  }
  if (n)
    *n = ds->q[i].nj;
  return ds->q[i].j;
}

size_t eval_dataset_nrelevant(const eval_dataset *ds, size_t i) {
  return i < ds->nq ? ds->q[i].nrel : 0;
}

int eval_dataset_gain(const eval_dataset *ds, size_t i, const char *doc_id,
                      int *gain) {
  const map_entry *e =
      i < ds->nq && doc_id ? map_find(&ds->ids, i + 1, doc_id) : NULL;
  if (gain)
    *gain = e ? ds->q[i].j[e->val].gain : 0;
  return e != NULL;
}

size_t eval_dataset_orphan_qrels(const eval_dataset *ds) {
  return ds->orphans;
}

rag_status eval_dataset_score(const eval_dataset *ds, size_t i,
                              const char *const *ranked, size_t n,
                              const eval_cutoffs *ks, eval_qresult *out,
                              rag_err *err) {
  if (!ds || i >= ds->nq || (n && !ranked))
    return rag_fail(err, RAG_BADARG, "eval: score: bad query or list");
  const query *q = &ds->q[i];
  int *gains = malloc((n + q->nj + 1) * sizeof(*gains));
  if (!gains)
    return rag_fail(err, RAG_NOMEM, "eval: score: out of memory");
  int *judged = gains + n;
  for (size_t r = 0; r < n; r++)
    eval_dataset_gain(ds, i, ranked[r], &gains[r]);
  for (size_t k = 0; k < q->nj; k++)
    judged[k] = q->j[k].gain;
  rag_status rc = eval_query_metrics(gains, n, judged, q->nj, ks, out, err);
  free(gains);
  return rc;
}
