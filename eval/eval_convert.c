/* eval/eval_convert.c -- SMART and TREC collections into the BEIR layout.
** Divisions:
**   1. lines, ids, whitespace, a string-keyed map
**   2. SMART records
**   3. qrels
**   4. writing a BEIR folder
**   5. checking a BEIR folder
** Inputs are read whole (capped) and parsed from memory, so the parsers are
** testable on inline text and never see a half-read line. */
#include "eval/eval_convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/rag_buf.h"
#include "core/rag_hash.h"

/* ---- 1. lines, ids, whitespace, map ------------------------------------ */

typedef struct line_it {
  const char *p, *end;
  long no; /* 1-based number of the line last returned */
} line_it;

/* Next line without its "\n" or "\r\n"; 0 at the end. */
static int next_line(line_it *it, const char **s, size_t *n) {
  if (it->p >= it->end)
    return 0;
  const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
  const char *e = nl ? nl : it->end;
  *s = it->p;
  *n = (size_t)(e - it->p);
  if (*n && (*s)[*n - 1] == '\r')
    (*n)--;
  it->p = nl ? nl + 1 : it->end;
  it->no++;
  return 1;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v';
}

/* Copies s[n] with leading zeros of an all-digit id removed ("007" -> "7",
** "000" -> "0"); other ids are copied as they are. NULL on NOMEM. */
static char *norm_id(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  if (i == n && n > 1) {
    size_t z = 0;
    while (z + 1 < n && s[z] == '0')
      z++;
    s += z;
    n -= z;
  }
  return rag_strndup(s, n);
}

/* Appends s[n] to b with runs of whitespace collapsed into one space and no
** space at either end of b. */
static rag_status put_collapsed(rag_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (is_space(s[i])) {
      continue;
    }
    if (b->len && (i == 0 || is_space(s[i - 1])) &&
        b->data[b->len - 1] != ' ') {
      rag_status rc = rag_buf_putc(b, ' ');
      if (rc)
        return rc;
    }
    rag_status rc = rag_buf_putc(b, s[i]);
    if (rc)
      return rc;
  }
  /* A line break between two lines separates words too. */
  if (b->len && b->data[b->len - 1] != ' ') {
    rag_status rc = rag_buf_putc(b, ' ');
    if (rc)
      return rc;
  }
  return RAG_OK;
}

static char *detach_trimmed(rag_buf *b) {
  while (b->len && b->data[b->len - 1] == ' ')
    b->data[--b->len] = '\0';
  return rag_buf_detach(b);
}

/* Open addressing, linear probing; keys are borrowed, values are indexes. */
typedef struct smap {
  const char **key;
  size_t *val;
  size_t cap, n; /* cap: power of two or 0 */
} smap;

static void smap_free(smap *m) {
  free(m->key);
  free(m->val);
  memset(m, 0, sizeof(*m));
}

static size_t smap_slot(const smap *m, const char *k) {
  size_t i = (size_t)rag_hash64(k, strlen(k), 0x5eed) & (m->cap - 1);
  while (m->key[i] && strcmp(m->key[i], k) != 0)
    i = (i + 1) & (m->cap - 1);
  return i;
}

/* Index stored under k, or (size_t)-1. */
static size_t smap_get(const smap *m, const char *k) {
  if (!m->cap)
    return (size_t)-1;
  size_t i = smap_slot(m, k);
  return m->key[i] ? m->val[i] : (size_t)-1;
}

/* Inserts k -> v unless k is there; returns the stored index, or
** (size_t)-2 on NOMEM. */
static size_t smap_put(smap *m, const char *k, size_t v) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    smap big = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(size_t)), cap,
                0};
    if (!big.key || !big.val) {
      smap_free(&big);
      return (size_t)-2;
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->key[i]) {
        size_t j = smap_slot(&big, m->key[i]);
        big.key[j] = m->key[i];
        big.val[j] = m->val[i];
        big.n++;
      }
    smap_free(m);
    *m = big;
  }
  size_t i = smap_slot(m, k);
  if (m->key[i])
    return m->val[i];
  m->key[i] = k;
  m->val[i] = v;
  m->n++;
  return v;
}

static rag_status read_capped(const char *path, rag_buf *b, rag_err *err) {
  rag_buf_init(b, EVAL_CONVERT_MAX_FILE);
  rag_status rc = rag_buf_read_file(b, path, err);
  if (rc)
    rag_buf_free(b);
  return rc;
}

/* ---- 2. SMART records -------------------------------------------------- */

/* A field tag line: '.', one ASCII letter, then the end or whitespace.
** Returns the letter, or 0 when the line is text. */
static char tag_of(const char *s, size_t n) {
  if (n < 2 || s[0] != '.' || !((s[1] >= 'A' && s[1] <= 'Z')))
    return 0;
  if (n > 2 && !is_space(s[2]))
    return 0;
  return s[1];
}

static void rec_free(eval_smart_rec *r) {
  free(r->id);
  free(r->title);
  free(r->text);
}

void eval_smart_free(eval_smart *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    rec_free(&s->rec[i]);
  free(s->rec);
  s->rec = NULL;
  s->n = 0;
}

/* Finishes the current record: moves title/text out of the buffers and
** cuts a leading verbatim copy of the title from the text. */
static rag_status rec_finish(eval_smart_rec *r, rag_buf *t, rag_buf *w) {
  r->title = detach_trimmed(t);
  r->text = detach_trimmed(w);
  if (!r->title || !r->text)
    return RAG_NOMEM;
  size_t tl = strlen(r->title);
  if (tl && strncmp(r->text, r->title, tl) == 0 &&
      (r->text[tl] == ' ' || r->text[tl] == '\0')) {
    const char *rest = r->text + tl + (r->text[tl] == ' ');
    memmove(r->text, rest, strlen(rest) + 1);
  }
  return RAG_OK;
}

rag_status eval_smart_parse(const char *buf, size_t len, const char *name,
                            eval_smart *out, rag_err *err) {
  if (!out || (!buf && len))
    return rag_fail(err, RAG_BADARG, "convert: smart: NULL argument");
  memset(out, 0, sizeof(*out));
  if (!name)
    name = "smart";
  line_it it = {buf, buf + len, 0};
  rag_buf t, w;
  rag_buf_init(&t, 0);
  rag_buf_init(&w, 0);
  smap ids = {0};
  size_t cap = 0;
  char field = 0;
  eval_smart_rec *cur = NULL;
  rag_status rc = RAG_OK;
  const char *s;
  size_t n;
  while (next_line(&it, &s, &n)) {
    char tag = tag_of(s, n);
    if (tag == 'I') {
      if (cur && (rc = rec_finish(cur, &t, &w)))
        break;
      size_t a = 2, e;
      while (a < n && is_space(s[a]))
        a++;
      e = a;
      while (e < n && !is_space(s[e]))
        e++;
      if (a == e) {
        rc =
            rag_fail(err, RAG_CORRUPT, "%s:%ld: .I without an id", name, it.no);
        break;
      }
      if (out->n == cap) {
        size_t nc = cap ? cap * 2 : 256;
        eval_smart_rec *r = realloc(out->rec, nc * sizeof(*r));
        if (!r) {
          rc = RAG_NOMEM;
          break;
        }
        out->rec = r;
        cap = nc;
      }
      cur = &out->rec[out->n++];
      memset(cur, 0, sizeof(*cur));
      cur->line = it.no;
      cur->id = norm_id(s + a, e - a);
      if (!cur->id) {
        rc = RAG_NOMEM;
        break;
      }
      field = 'I';
      continue;
    }
    if (!cur) {
      size_t i = 0;
      while (i < n && is_space(s[i]))
        i++;
      if (i == n)
        continue;
      rc = rag_fail(err, RAG_CORRUPT,
                    "%s:%ld: text before the first .I record (not a SMART "
                    "collection file?)",
                    name, it.no);
      break;
    }
    if (tag) {
      field = tag;
      s += 2; /* ".W some text" keeps the text */
      n -= 2;
    }
    if (field == 'T')
      rc = put_collapsed(&t, s, n);
    else if (field == 'W')
      rc = put_collapsed(&w, s, n);
    if (rc)
      break;
  }
  if (!rc && cur)
    rc = rec_finish(cur, &t, &w);
  /* Ids are checked after parsing: the map borrows rec[i].id, which moves
  ** while rec grows. */
  for (size_t i = 0; !rc && i < out->n; i++) {
    size_t got = smap_put(&ids, out->rec[i].id, i);
    if (got == (size_t)-2)
      rc = RAG_NOMEM;
    else if (got != i)
      rc = rag_fail(err, RAG_CORRUPT,
                    "%s:%ld: record id %s repeats the one at line %ld", name,
                    out->rec[i].line, out->rec[i].id, out->rec[got].line);
  }
  smap_free(&ids);
  rag_buf_free(&t);
  rag_buf_free(&w);
  if (rc) {
    if (rc == RAG_NOMEM)
      rag_fail(err, RAG_NOMEM, "%s: out of memory", name);
    eval_smart_free(out);
  }
  return rc;
}

/* ---- 3. qrels ---------------------------------------------------------- */

#define QMAXCOL 8

int eval_qrels_format_parse(const char *s) {
  static const char *const names[] = {"auto", "trec", "3col", "pairs"};
  for (int i = 0; s && i < 4; i++)
    if (!strcmp(s, names[i]))
      return i;
  return -1;
}

const char *eval_qrels_format_name(eval_qrels_format f) {
  switch (f) {
  case EVAL_QRELS_TREC:
    return "trec";
  case EVAL_QRELS_3COL:
    return "3col";
  case EVAL_QRELS_PAIRS:
    return "pairs";
  default:
    return "auto";
  }
}

void eval_qrels_free(eval_qrels *q) {
  if (!q)
    return;
  for (size_t i = 0; i < q->n; i++) {
    free(q->row[i].qid);
    free(q->row[i].docid);
  }
  free(q->row);
  q->row = NULL;
  q->n = 0;
}

typedef struct cols {
  const char *s[QMAXCOL];
  size_t n[QMAXCOL];
  int count; /* may exceed QMAXCOL: then only the first QMAXCOL are set */
} cols;

static void split_cols(const char *s, size_t n, cols *c) {
  c->count = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && is_space(s[i]))
      i++;
    if (i == n)
      break;
    size_t a = i;
    while (i < n && !is_space(s[i]))
      i++;
    if (c->count < QMAXCOL) {
      c->s[c->count] = s + a;
      c->n[c->count] = i - a;
    }
    c->count++;
  }
}

static int col_is(const cols *c, int k, const char *lit) {
  return c->n[k] == strlen(lit) && !memcmp(c->s[k], lit, c->n[k]);
}

/* A zero written as an integer or a decimal ("0", "0.000000"). */
static int col_is_zero(const cols *c, int k) {
  char tmp[32];
  double d;
  if (c->n[k] >= sizeof(tmp))
    return 0;
  memcpy(tmp, c->s[k], c->n[k]);
  tmp[c->n[k]] = '\0';
  return rag_parse_double(tmp, &d) == 0 && d == 0;
}

static int col_int(const cols *c, int k, int *v) {
  char tmp[32];
  int64_t x;
  if (c->n[k] >= sizeof(tmp))
    return -1;
  memcpy(tmp, c->s[k], c->n[k]);
  tmp[c->n[k]] = '\0';
  if (rag_parse_i64(tmp, &x) || x < -1000000 || x > 1000000)
    return -1;
  *v = (int)x;
  return 0;
}

static int skip_line(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && is_space(s[i]))
    i++;
  return i == n || s[i] == '#';
}

/* AUTO: look at every row once to choose the format. */
static rag_status detect_format(const char *buf, size_t len, const char *name,
                                eval_qrels_format *f, rag_err *err) {
  line_it it = {buf, buf + len, 0};
  const char *s;
  size_t n;
  int ncol = 0, trec = 1, pairs = 1;
  long first = 0;
  while (next_line(&it, &s, &n)) {
    if (skip_line(s, n))
      continue;
    cols c;
    split_cols(s, n, &c);
    if (!ncol) {
      ncol = c.count;
      first = it.no;
    }
    if (c.count != ncol)
      return rag_fail(err, RAG_CORRUPT, "%s:%ld: %d columns, line %ld has %d",
                      name, it.no, c.count, first, ncol);
    if (ncol == 4) {
      trec = trec && (col_is(&c, 1, "0") || col_is(&c, 1, "Q0"));
      pairs = pairs && col_is_zero(&c, 2);
    }
  }
  if (ncol == 0 || ncol == 3) {
    *f = EVAL_QRELS_3COL;
    return RAG_OK;
  }
  if (ncol == 4 && trec) {
    *f = EVAL_QRELS_TREC;
    return RAG_OK;
  }
  if (ncol == 4 && pairs) {
    *f = EVAL_QRELS_PAIRS;
    return RAG_OK;
  }
  return rag_fail(err, RAG_CORRUPT,
                  "%s: cannot tell the qrels format (%d columns); give it: "
                  "trec (qid iter docid rel), 3col (qid docid rel) or pairs "
                  "(qid docid ...)",
                  name, ncol);
}

/* The gain of a score under the grade map; 0 with *drop set for a row to
** leave out; -1 for a code the map does not know. */
static int map_grade(eval_grades g, int score, int *gain, int *drop) {
  *drop = 0;
  if (g != EVAL_GRADES_CRANFIELD) {
    *gain = score;
    return 0;
  }
  if (score == -1) {
    *drop = 1;
    return 0;
  }
  if (score < 1 || score > 5)
    return -1;
  *gain = 5 - score;
  return 0;
}

rag_status eval_qrels_parse(const char *buf, size_t len, const char *name,
                            eval_qrels_format fmt, eval_grades grades,
                            eval_qrels *out, rag_err *err) {
  if (!out || (!buf && len))
    return rag_fail(err, RAG_BADARG, "convert: qrels: NULL argument");
  memset(out, 0, sizeof(*out));
  if (!name)
    name = "qrels";
  rag_status rc = RAG_OK;
  if (fmt == EVAL_QRELS_AUTO) {
    rc = detect_format(buf, len, name, &fmt, err);
    if (rc)
      return rc;
  }
  out->format = fmt;
  int want = fmt == EVAL_QRELS_3COL ? 3 : fmt == EVAL_QRELS_TREC ? 4 : 2;
  line_it it = {buf, buf + len, 0};
  const char *s;
  size_t n, cap = 0;
  smap pairs = {0};
  char **keys = NULL; /* "qid\tdocid" per row, owned; the map borrows */
  while (!rc && next_line(&it, &s, &n)) {
    if (skip_line(s, n))
      continue;
    cols c;
    split_cols(s, n, &c);
    if (fmt == EVAL_QRELS_PAIRS ? c.count < 2 || c.count > 4
                                : c.count != want) {
      rc =
          rag_fail(err, RAG_CORRUPT, "%s:%ld: %d columns; the %s format has %s",
                   name, it.no, c.count, eval_qrels_format_name(fmt),
                   fmt == EVAL_QRELS_TREC   ? "4 (qid iter docid rel)"
                   : fmt == EVAL_QRELS_3COL ? "3 (qid docid rel)"
                                            : "2 to 4 (qid docid ...)");
      break;
    }
    int qk = 0, dk = fmt == EVAL_QRELS_TREC ? 2 : 1, score = 1;
    if (fmt != EVAL_QRELS_PAIRS && col_int(&c, want - 1, &score)) {
      rc = rag_fail(err, RAG_CORRUPT,
                    "%s:%ld: relevance \"%.*s\" is not an integer", name, it.no,
                    (int)(c.n[want - 1] > 40 ? 40 : c.n[want - 1]),
                    c.s[want - 1]);
      break;
    }
    int gain, drop;
    if (map_grade(grades, score, &gain, &drop)) {
      rc = rag_fail(err, RAG_CORRUPT,
                    "%s:%ld: Cranfield relevance code %d is not one of -1, "
                    "1..5",
                    name, it.no, score);
      break;
    }
    if (drop) {
      out->dropped++;
      continue;
    }
    char *q = norm_id(c.s[qk], c.n[qk]);
    char *d = norm_id(c.s[dk], c.n[dk]);
    char *key = NULL;
    if (q && d) {
      size_t kl = strlen(q) + strlen(d) + 2;
      key = malloc(kl);
      if (key)
        snprintf(key, kl, "%s\t%s", q, d);
    }
    if (key && out->n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      eval_qrel *r = realloc(out->row, nc * sizeof(*r));
      if (r)
        out->row = r;
      char **k = r ? realloc(keys, nc * sizeof(*k)) : NULL;
      if (k) {
        keys = k;
        cap = nc;
      }
    }
    if (!key || out->n == cap) {
      free(q);
      free(d);
      free(key);
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", name);
      break;
    }
    size_t got = smap_put(&pairs, key, out->n);
    if (got == (size_t)-2) {
      free(q);
      free(d);
      free(key);
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", name);
      break;
    }
    if (got != out->n) { /* repeated pair: the last score wins */
      out->row[got].score = gain;
      out->repeated++;
      free(q);
      free(d);
      free(key);
      continue;
    }
    keys[out->n] = key;
    out->row[out->n++] = (eval_qrel){q, d, gain};
  }
  smap_free(&pairs);
  for (size_t i = 0; i < out->n; i++)
    free(keys[i]);
  free(keys);
  if (rc)
    eval_qrels_free(out);
  return rc;
}

/* ---- 4. writing a BEIR folder ------------------------------------------ */

eval_convert_opts eval_convert_opts_default(void) {
  eval_convert_opts o;
  memset(&o, 0, sizeof(o));
  o.qrels_format = EVAL_QRELS_AUTO;
  o.grades = EVAL_GRADES_ASIS;
  o.qids = EVAL_QID_NUMBER;
  return o;
}

static rag_status mkdir_p(const char *dir, rag_err *err) {
  char tmp[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof(tmp))
    return rag_fail(err, RAG_BADARG, "convert: bad output folder \"%.200s\"",
                    dir);
  memcpy(tmp, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (tmp[i] != '/' && tmp[i] != '\0')
      continue;
    char c = tmp[i];
    tmp[i] = '\0';
    if (mkdir(tmp, 0777) && errno != EEXIST)
      return rag_fail(err, RAG_IO, "convert: mkdir %s: %s", tmp,
                      strerror(errno));
    tmp[i] = c;
  }
  return RAG_OK;
}

/* Opens dir/name for writing; refuses an existing file unless overwrite. */
static rag_status open_out(const char *dir, const char *name, int overwrite,
                           FILE **f, char *path, size_t psz, rag_err *err) {
  snprintf(path, psz, "%s/%s", dir, name);
  struct stat st;
  if (!overwrite && stat(path, &st) == 0)
    return rag_fail(err, RAG_IO,
                    "convert: %s exists (pass overwrite / --force to "
                    "replace it)",
                    path);
  *f = fopen(path, "w");
  if (!*f)
    return rag_fail(err, RAG_IO, "convert: %s: %s", path, strerror(errno));
  return RAG_OK;
}

static rag_status close_out(FILE *f, const char *path, rag_err *err) {
  int bad = ferror(f);
  if (fclose(f) || bad)
    return rag_fail(err, RAG_IO, "convert: writing %s failed", path);
  return RAG_OK;
}

/* One JSON object per line; title is left out when NULL. */
static int write_jsonl(FILE *f, const char *id, const char *title,
                       const char *text) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "_id", id) ||
      (title && !cJSON_AddStringToObject(o, "title", title)) ||
      !cJSON_AddStringToObject(o, "text", text)) {
    cJSON_Delete(o);
    return -1;
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s)
    return -1;
  fputs(s, f);
  fputc('\n', f);
  cJSON_free(s);
  return 0;
}

static rag_status load_smart(const char *path, eval_smart *out, rag_err *err) {
  rag_buf b;
  rag_status rc = read_capped(path, &b, err);
  if (rc)
    return rc;
  rc = eval_smart_parse(b.data, b.len, path, out, err);
  rag_buf_free(&b);
  return rc;
}

static rag_status write_folder(const char *outdir, int overwrite,
                               const eval_smart *docs, const eval_smart *qs,
                               const eval_qrels *qr, rag_err *err) {
  char path[4200];
  FILE *f = NULL;
  rag_status rc =
      open_out(outdir, "corpus.jsonl", overwrite, &f, path, sizeof(path), err);
  for (size_t i = 0; !rc && i < docs->n; i++)
    if (write_jsonl(f, docs->rec[i].id, docs->rec[i].title, docs->rec[i].text))
      rc = rag_fail(err, RAG_NOMEM, "convert: out of memory");
  if (f) {
    rag_status crc = close_out(f, path, err);
    f = NULL;
    if (!rc)
      rc = crc;
  }
  if (rc)
    return rc;
  rc =
      open_out(outdir, "queries.jsonl", overwrite, &f, path, sizeof(path), err);
  for (size_t i = 0; !rc && i < qs->n; i++) {
    /* A query's title (rare) is part of what the user asks. */
    const eval_smart_rec *r = &qs->rec[i];
    rag_buf t;
    rag_buf_init(&t, 0);
    if ((r->title[0] && rag_buf_printf(&t, "%s ", r->title)) ||
        rag_buf_puts(&t, r->text) || write_jsonl(f, r->id, NULL, t.data))
      rc = rag_fail(err, RAG_NOMEM, "convert: out of memory");
    rag_buf_free(&t);
  }
  if (f) {
    rag_status crc = close_out(f, path, err);
    f = NULL;
    if (!rc)
      rc = crc;
  }
  if (rc)
    return rc;
  rc = open_out(outdir, "qrels/test.tsv", overwrite, &f, path, sizeof(path),
                err);
  if (rc)
    return rc;
  fputs("query-id\tcorpus-id\tscore\n", f);
  for (size_t i = 0; i < qr->n; i++)
    fprintf(f, "%s\t%s\t%d\n", qr->row[i].qid, qr->row[i].docid,
            qr->row[i].score);
  return close_out(f, path, err);
}

rag_status eval_convert_smart(const eval_convert_opts *o, const char *outdir,
                              eval_convert_report *rep, rag_err *err) {
  if (!o || !outdir || !o->smart_docs || !o->smart_queries || !o->qrels)
    return rag_fail(err, RAG_BADARG,
                    "convert: documents, queries, qrels and an output "
                    "folder are required");
  eval_convert_report r;
  memset(&r, 0, sizeof(r));
  eval_smart docs = {0}, qs = {0};
  eval_qrels qr = {0};
  rag_buf b = {0};
  rag_status rc = load_smart(o->smart_docs, &docs, err);
  if (!rc)
    rc = load_smart(o->smart_queries, &qs, err);
  if (!rc)
    rc = read_capped(o->qrels, &b, err);
  if (!rc) {
    rc = eval_qrels_parse(b.data, b.len, o->qrels, o->qrels_format, o->grades,
                          &qr, err);
    rag_buf_free(&b);
  }
  if (!rc && o->qids == EVAL_QID_ORDINAL)
    for (size_t i = 0; !rc && i < qs.n; i++) {
      char num[32];
      snprintf(num, sizeof(num), "%zu", i + 1);
      free(qs.rec[i].id);
      qs.rec[i].id = rag_strdup(num);
      if (!qs.rec[i].id)
        rc = rag_fail(err, RAG_NOMEM, "convert: out of memory");
    }
  smap dm = {0}, qm = {0};
  for (size_t i = 0; !rc && i < docs.n; i++)
    if (smap_put(&dm, docs.rec[i].id, i) == (size_t)-2)
      rc = rag_fail(err, RAG_NOMEM, "convert: out of memory");
  for (size_t i = 0; !rc && i < qs.n; i++)
    if (smap_put(&qm, qs.rec[i].id, i) == (size_t)-2)
      rc = rag_fail(err, RAG_NOMEM, "convert: out of memory");
  if (!rc) {
    r.docs = docs.n;
    r.queries = qs.n;
    r.qrels = qr.n;
    r.dropped = qr.dropped;
    r.repeated = qr.repeated;
    r.format = qr.format;
    for (size_t i = 0; i < docs.n; i++)
      r.empty_docs += !docs.rec[i].title[0] && !docs.rec[i].text[0];
    for (size_t i = 0; i < qr.n; i++) {
      r.relevant += qr.row[i].score > 0;
      r.unknown_query += smap_get(&qm, qr.row[i].qid) == (size_t)-1;
      r.unknown_doc += smap_get(&dm, qr.row[i].docid) == (size_t)-1;
    }
    rc = mkdir_p(outdir, err);
  }
  if (!rc) {
    char qdir[4200];
    snprintf(qdir, sizeof(qdir), "%s/qrels", outdir);
    rc = mkdir_p(qdir, err);
  }
  if (!rc)
    rc = write_folder(outdir, o->overwrite, &docs, &qs, &qr, err);
  smap_free(&dm);
  smap_free(&qm);
  eval_smart_free(&docs);
  eval_smart_free(&qs);
  eval_qrels_free(&qr);
  if (!rc && rep)
    *rep = r;
  return rc;
}

/* ---- 5. checking a BEIR folder ----------------------------------------- */

/* Reads one JSONL file's "_id"s (owned, into *ids) and counts empty texts.
** corpus: rows may have a title, and count as empty only with neither. */
static rag_status read_ids(const char *path, int corpus, char ***ids, size_t *n,
                           size_t *empty, rag_err *err) {
  rag_buf b;
  rag_status rc = read_capped(path, &b, err);
  if (rc)
    return rc;
  line_it it = {b.data, b.data + b.len, 0};
  const char *s;
  size_t len, cap = 0;
  *ids = NULL;
  *n = 0;
  while (!rc && next_line(&it, &s, &len)) {
    size_t k = 0;
    while (k < len && is_space(s[k]))
      k++;
    if (k == len)
      continue;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!o || !cJSON_IsObject(o)) {
      long col = end ? (long)(end - s) + 1 : 1;
      cJSON_Delete(o);
      rc = rag_fail(err, RAG_CORRUPT, "%s:%ld:%ld: not a JSON object", path,
                    it.no, col);
      break;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "_id");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(o, "title");
    char num[32];
    const char *ids_s = NULL;
    if (cJSON_IsString(id))
      ids_s = id->valuestring;
    else if (cJSON_IsNumber(id) &&
             id->valuedouble == (double)(int64_t)id->valuedouble) {
      snprintf(num, sizeof(num), "%lld", (long long)id->valuedouble);
      ids_s = num;
    }
    if (!ids_s || !cJSON_IsString(text) ||
        (title && !cJSON_IsString(title) && !cJSON_IsNull(title))) {
      cJSON_Delete(o);
      rc = rag_fail(err, RAG_CORRUPT, "%s:%ld: %s", path, it.no,
                    !ids_s                  ? "no string or integer \"_id\""
                    : !cJSON_IsString(text) ? "\"text\" is missing or not a "
                                              "string"
                                            : "\"title\" is not a string");
      break;
    }
    if (corpus && empty && !*text->valuestring &&
        (!cJSON_IsString(title) || !*title->valuestring))
      (*empty)++;
    else if (!corpus && empty && !*text->valuestring)
      (*empty)++;
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      char **p = realloc(*ids, nc * sizeof(*p));
      if (!p) {
        cJSON_Delete(o);
        rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", path);
        break;
      }
      *ids = p;
      cap = nc;
    }
    (*ids)[*n] = rag_strdup(ids_s);
    cJSON_Delete(o);
    if (!(*ids)[*n]) {
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", path);
      break;
    }
    (*n)++;
  }
  rag_buf_free(&b);
  return rc;
}

static void free_ids(char **ids, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  free(ids);
}

rag_status eval_check_beir(const char *dir, const char *split,
                           eval_check_report *rep, rag_err *err) {
  if (!dir || !rep)
    return rag_fail(err, RAG_BADARG, "check: NULL argument");
  memset(rep, 0, sizeof(*rep));
  if (!split)
    split = "test";
  if (strchr(split, '/'))
    return rag_fail(err, RAG_BADARG, "check: bad split \"%.100s\"", split);
  char path[4200];
  char **dids = NULL, **qids = NULL;
  size_t nd = 0, nq = 0, noq = 0;
  smap dm = {0}, qm = {0};
  char *judged = NULL;
  snprintf(path, sizeof(path), "%s/corpus.jsonl", dir);
  rag_status rc = read_ids(path, 1, &dids, &nd, &rep->empty_docs, err);
  if (!rc) {
    snprintf(path, sizeof(path), "%s/queries.jsonl", dir);
    rc = read_ids(path, 0, &qids, &nq, &noq, err);
  }
  for (size_t i = 0; !rc && i < nd; i++) {
    size_t got = smap_put(&dm, dids[i], i);
    if (got == (size_t)-2)
      rc = rag_fail(err, RAG_NOMEM, "check: out of memory");
    rep->dup_docs += got != i;
  }
  for (size_t i = 0; !rc && i < nq; i++) {
    size_t got = smap_put(&qm, qids[i], i);
    if (got == (size_t)-2)
      rc = rag_fail(err, RAG_NOMEM, "check: out of memory");
    rep->dup_queries += got != i;
  }
  rep->docs = nd;
  rep->queries = nq;
  rag_buf b = {0};
  if (!rc) {
    snprintf(path, sizeof(path), "%s/qrels/%s.tsv", dir, split);
    rc = read_capped(path, &b, err);
  }
  if (!rc && !(judged = calloc(nq ? nq : 1, 1)))
    rc = rag_fail(err, RAG_NOMEM, "check: out of memory");
  if (!rc) {
    line_it it = {b.data, b.data + b.len, 0};
    const char *s;
    size_t n;
    while (!rc && next_line(&it, &s, &n)) {
      if (n == 0)
        continue;
      /* BEIR rows are tab-separated; ids may hold spaces. */
      const char *t1 = memchr(s, '\t', n);
      const char *t2 =
          t1 ? memchr(t1 + 1, '\t', (size_t)(s + n - t1 - 1)) : NULL;
      char tmp[32];
      int64_t score = 0;
      size_t sl = t2 ? (size_t)(s + n - t2 - 1) : 0;
      int ok = t2 && sl && sl < sizeof(tmp);
      if (ok) {
        memcpy(tmp, t2 + 1, sl);
        tmp[sl] = '\0';
        ok = rag_parse_i64(tmp, &score) == 0;
      }
      if (!ok && it.no == 1)
        continue; /* the header */
      if (!ok) {
        rc = rag_fail(err, RAG_CORRUPT,
                      "%s:%ld: not \"query-id<TAB>corpus-id<TAB>integer "
                      "score\"",
                      path, it.no);
        break;
      }
      char *q = rag_strndup(s, (size_t)(t1 - s));
      char *d = rag_strndup(t1 + 1, (size_t)(t2 - t1 - 1));
      if (!q || !d) {
        free(q);
        free(d);
        rc = rag_fail(err, RAG_NOMEM, "check: out of memory");
        break;
      }
      size_t qi = smap_get(&qm, q);
      rep->qrels++;
      rep->relevant += score > 0;
      rep->unknown_query += qi == (size_t)-1;
      rep->unknown_doc += smap_get(&dm, d) == (size_t)-1;
      rep->grades[score <= 0 ? 0 : score >= 5 ? 5 : score]++;
      if (qi != (size_t)-1 && score > 0)
        judged[qi] = 1;
      free(q);
      free(d);
    }
    for (size_t i = 0; !rc && i < nq; i++) {
      /* Count each id once: a duplicate query id shares its entry. */
      if (smap_get(&qm, qids[i]) != i)
        continue;
      if (judged[i])
        rep->judged_queries++;
      else
        rep->unjudged_queries++;
    }
  }
  rag_buf_free(&b);
  free(judged);
  smap_free(&dm);
  smap_free(&qm);
  free_ids(dids, nd);
  free_ids(qids, nq);
  return rc;
}
