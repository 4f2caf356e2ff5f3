/* llm/llm_extractive.c -- Kind "extractive": the built-in answerer. No
** model and no network, so ragd answers on a fresh machine with no keys.
**
** It answers with the 2-4 sentences of the retrieved chunks that best
** support the question, each followed by its citation marker:
**   1. the question's terms: stemmed, stopwords dropped (core/rag_tok.h,
**      the same terms the full-text index matches);
**   2. sentences: each source split on . ! ? (before whitespace or the
**      end), on the CJK marks 。！？ and on structural line breaks
**      (paragraphs, headings, list items); heading lines are skipped;
**   3. score: the idf-weighted overlap with the question terms, where idf
**      is computed over the given sentences (a term every sentence shares
**      tells nothing), times a coverage bonus, gently penalized for very
**      long sentences;
**   4. picks: the best, then others scoring at least a share of it, never
**      a near-duplicate of a pick (bloom-filter Jaccard of their terms);
**   5. order: source order, then position, so the answer reads naturally.
** When the best sentence covers too little of the question, the answer is
** a fixed "not found" text without citations, rather than a guess.
** Everything is deterministic: ties break on source order and offset. */
#include "llm/llm_int.h"

#include "core/rag_tok.h"
#include "core/rag_tokcount.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EX_NOT_FOUND "I could not find an answer in the knowledge base."
#define EX_MAX_QTERMS 64      /* question terms kept (one bit each) */
#define EX_MAX_SENTENCES 4096 /* bounds the work on huge prompts */
#define EX_MAX_PICKS 4
#define EX_MAX_SENT_BYTES 600 /* a longer "sentence" is cut for the answer */
#define EX_DUP_JACCARD 0.7

typedef struct ex_sent {
  size_t src; /* index into req->sources */
  size_t off, len;
  uint64_t qmask;    /* question terms present */
  uint64_t bloom[4]; /* 256-bit set of all its terms */
  int nterms;
  double score;
} ex_sent;

typedef struct ex_state {
  char qterms[EX_MAX_QTERMS][RAG_TOK_MAX + 1];
  int nq;
  ex_sent *sents;
  size_t nsents;
} ex_state;

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static int add_qterm(void *ctx, const char *term, size_t len, size_t s,
                     size_t e) {
  ex_state *st = ctx;
  (void)s;
  (void)e;
  for (int i = 0; i < st->nq; i++)
    if (strcmp(st->qterms[i], term) == 0)
      return 0;
  if (st->nq == EX_MAX_QTERMS)
    return 1;
  memcpy(st->qterms[st->nq], term, len + 1);
  st->nq++;
  return 0;
}

typedef struct sent_ctx {
  ex_state *st;
  ex_sent *s;
} sent_ctx;

static int add_sterm(void *ctx, const char *term, size_t len, size_t s,
                     size_t e) {
  sent_ctx *c = ctx;
  (void)s;
  (void)e;
  for (int i = 0; i < c->st->nq; i++)
    if (strcmp(c->st->qterms[i], term) == 0)
      c->s->qmask |= (uint64_t)1 << i;
  uint64_t h = fnv1a(term, len) & 255;
  c->s->bloom[h >> 6] |= (uint64_t)1 << (h & 63);
  c->s->nterms++;
  return 0;
}

/* Length of a sentence terminator at t[i], or 0. ASCII . ! ? end a
** sentence only before whitespace or the end ("3.14", "e.g.x" do not). */
static size_t terminator(const char *t, size_t i, size_t n) {
  unsigned char c = (unsigned char)t[i];
  /* A line break ends a sentence only where the text's structure does: a
  ** blank line (paragraph), a heading line, or a next line that starts a
  ** heading, list item or quote. Otherwise it is wrapping inside a
  ** sentence (PDF text, hard-wrapped Markdown). */
  if (c == '\n') {
    size_t ls = i;
    while (ls > 0 && t[ls - 1] != '\n')
      ls--;
    size_t j = i + 1;
    while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r'))
      j++;
    if (t[ls] == '#' || j >= n || t[j] == '\n' || strchr("#-*>|", t[j]))
      return 1;
    return 0;
  }
  if (c == '.' || c == '!' || c == '?')
    return i + 1 == n || strchr(" \t\r\n", t[i + 1]) ? 1 : 0;
  if (i + 3 <= n &&
      ((c == 0xE3 && (unsigned char)t[i + 1] == 0x80 &&
        (unsigned char)t[i + 2] == 0x82) ||
       (c == 0xEF && (unsigned char)t[i + 1] == 0xBC &&
        ((unsigned char)t[i + 2] == 0x81 || (unsigned char)t[i + 2] == 0x9F))))
    return 3;
  return 0;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Adds sentence text[a, b) of source si, trimmed; skips empty ones. */
static rag_status add_sentence(ex_state *st, size_t *cap, size_t si,
                               const char *text, size_t a, size_t b) {
  while (a < b && is_space(text[a]))
    a++;
  while (b > a && is_space(text[b - 1]))
    b--;
  /* A heading names a topic; it answers nothing. */
  if (a == b || text[a] == '#' || st->nsents == EX_MAX_SENTENCES)
    return RAG_OK;
  if (st->nsents == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    ex_sent *p = realloc(st->sents, ncap * sizeof(*p));
    if (!p)
      return RAG_NOMEM;
    st->sents = p;
    *cap = ncap;
  }
  ex_sent *s = &st->sents[st->nsents];
  memset(s, 0, sizeof(*s));
  s->src = si;
  s->off = a;
  s->len = b - a;
  sent_ctx c = {st, s};
  rag_tok_each(text + a, b - a, RAG_TOK_STEM | RAG_TOK_NOSTOP, add_sterm, &c);
  if (s->nterms > 0)
    st->nsents++;
  return RAG_OK;
}

static rag_status split_sources(ex_state *st, const llm_request *req) {
  size_t cap = 0;
  for (size_t si = 0; si < req->nsources; si++) {
    const char *t = req->sources[si].text;
    size_t n = t ? strlen(t) : 0, start = 0;
    for (size_t i = 0; i < n;) {
      size_t k = terminator(t, i, n);
      if (!k) {
        i++;
        continue;
      }
      if (add_sentence(st, &cap, si, t, start, i + k))
        return RAG_NOMEM;
      i += k;
      start = i;
    }
    if (add_sentence(st, &cap, si, t, start, n))
      return RAG_NOMEM;
  }
  return RAG_OK;
}

static double jaccard(const ex_sent *a, const ex_sent *b) {
  int in = 0, un = 0;
  for (int i = 0; i < 4; i++) {
    in += __builtin_popcountll(a->bloom[i] & b->bloom[i]);
    un += __builtin_popcountll(a->bloom[i] | b->bloom[i]);
  }
  return un ? (double)in / un : 1.0;
}

static int by_score(const void *pa, const void *pb) {
  const ex_sent *a = *(const ex_sent *const *)pa;
  const ex_sent *b = *(const ex_sent *const *)pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  if (a->src != b->src)
    return a->src < b->src ? -1 : 1;
  return a->off < b->off ? -1 : a->off > b->off;
}

static int by_position(const void *pa, const void *pb) {
  const ex_sent *a = *(const ex_sent *const *)pa;
  const ex_sent *b = *(const ex_sent *const *)pb;
  if (a->src != b->src)
    return a->src < b->src ? -1 : 1;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* Scores every sentence and fills picks (in reading order); returns how
** many, 0 when nothing answers the question. */
static size_t pick(ex_state *st, ex_sent **order, ex_sent **picks) {
  if (!st->nq || !st->nsents)
    return 0;
  double idf[EX_MAX_QTERMS], qmass = 0;
  double n = (double)st->nsents;
  for (int t = 0; t < st->nq; t++) {
    double df = 0;
    for (size_t i = 0; i < st->nsents; i++)
      df += (st->sents[i].qmask >> t) & 1;
    idf[t] = log(1.0 + (n - df + 0.5) / (df + 0.5));
    qmass += idf[t];
  }
  for (size_t i = 0; i < st->nsents; i++) {
    ex_sent *s = &st->sents[i];
    double mass = 0;
    int matched = 0;
    for (int t = 0; t < st->nq; t++)
      if ((s->qmask >> t) & 1) {
        mass += idf[t];
        matched++;
      }
    /* A sentence matching one rare-ish word of a long question is a
    ** guess, not an answer: require a fifth of the question's weight or
    ** two of its terms. */
    if (!matched || (mass < 0.2 * qmass && matched < 2)) {
      s->score = 0;
      continue;
    }
    double coverage = (double)matched / st->nq;
    double longer = s->nterms > 30 ? (double)(s->nterms - 30) : 0;
    s->score = mass * (1.0 + coverage) / (1.0 + 0.02 * longer);
  }
  for (size_t i = 0; i < st->nsents; i++)
    order[i] = &st->sents[i];
  qsort(order, st->nsents, sizeof(*order), by_score);
  if (order[0]->score <= 0)
    return 0;
  size_t np = 0;
  double best = order[0]->score;
  for (size_t i = 0; i < st->nsents && np < EX_MAX_PICKS; i++) {
    ex_sent *s = order[i];
    /* The second pick may be weaker (answers often need two sentences);
    ** later ones must be close to the best. */
    double share = np < 2 ? 0.25 : 0.5;
    if (s->score <= 0 || s->score < share * best)
      break;
    int dup = 0;
    for (size_t j = 0; j < np && !dup; j++)
      dup = jaccard(s, picks[j]) >= EX_DUP_JACCARD;
    if (!dup)
      picks[np++] = s;
  }
  qsort(picks, np, sizeof(*picks), by_position);
  return np;
}

/* Emits one picked sentence and its marker ("text [n]"). */
static rag_status emit_sentence(llm_acc *a, const llm_request *req,
                                const ex_sent *s, int first) {
  const char *t = req->sources[s->src].text + s->off;
  size_t len = s->len;
  int cut = 0;
  if (len > EX_MAX_SENT_BYTES) {
    len = EX_MAX_SENT_BYTES;
    while (len > 0 && !is_space(t[len])) /* end on a word boundary */
      len--;
    if (!len) { /* no space at all: stay on a UTF-8 boundary */
      len = EX_MAX_SENT_BYTES;
      while (len > 0 && ((unsigned char)t[len] & 0xC0) == 0x80)
        len--;
    }
    cut = 1;
  }
  rag_buf b;
  rag_buf_init(&b, EX_MAX_SENT_BYTES + 64);
  rag_status rc = first ? RAG_OK : rag_buf_putc(&b, ' ');
  /* Wrapped lines read as one sentence: each whitespace run becomes one
  ** space. */
  for (size_t i = 0; !rc && i < len; i++) {
    if (is_space(t[i])) {
      if (i + 1 < len && !is_space(t[i + 1]))
        rc = rag_buf_putc(&b, ' ');
    } else {
      rc = rag_buf_putc(&b, t[i]);
    }
  }
  if (!rc)
    rc = rag_buf_printf(&b, "%s [%d]", cut ? " ..." : "",
                        req->sources[s->src].index);
  if (!rc)
    rc = llm_acc_emit(a, b.data, b.len);
  else
    rc = llm_acc_fail(a, rc, "extractive: out of memory");
  rag_buf_free(&b);
  return rc;
}

static const char *question_of(const llm_request *req) {
  if (req->question)
    return req->question;
  for (size_t i = req->nmessages; i-- > 0;)
    if (strcmp(req->messages[i].role, "user") == 0)
      return req->messages[i].content;
  return "";
}

static rag_status ex_open(const rag_provider_def *def,
                          const rag_http_opts *http, llm_provider **out,
                          rag_err *err) {
  (void)def;
  (void)http;
  llm_provider *p = calloc(1, sizeof(*p));
  *out = p;
  if (!p)
    return rag_fail(err, RAG_NOMEM, "extractive: out of memory");
  p->vt = &llm_extractive_vtab;
  return RAG_OK;
}

static void ex_close(llm_provider *p) {
  free(p);
}

static rag_status ex_chat(llm_provider *p, const llm_request *req,
                          llm_response *resp, rag_err *err) {
  (void)p;
  if (req->nsources && !req->sources)
    return rag_fail(err, RAG_BADARG, "extractive: nsources without sources");
  ex_state *st = calloc(1, sizeof(*st));
  if (!st)
    return rag_fail(err, RAG_NOMEM, "extractive: out of memory");
  llm_acc a;
  llm_acc_init(&a, req);
  ex_sent **order = NULL;
  ex_sent *picks[EX_MAX_PICKS];
  const char *q = question_of(req);
  rag_tok_each(q, strlen(q), RAG_TOK_STEM | RAG_TOK_NOSTOP, add_qterm, st);
  rag_status rc = split_sources(st, req);
  if (!rc && st->nsents) {
    order = calloc(st->nsents, sizeof(*order));
    if (!order)
      rc = RAG_NOMEM;
  }
  if (rc) {
    rc = rag_fail(err, rc, "extractive: out of memory");
    goto out;
  }
  size_t np = pick(st, order, picks);
  for (size_t i = 0; i < np && !rc; i++)
    rc = emit_sentence(&a, req, picks[i], i == 0);
  if (!np)
    rc = llm_acc_emit(&a, EX_NOT_FOUND, strlen(EX_NOT_FOUND));
  if (rc) {
    rc = rag_fail(err, rc, "%s", a.err.msg);
    goto out;
  }
  llm_copy(a.finish, sizeof(a.finish), "stop");
  llm_copy(a.model, sizeof(a.model), "extractive");
  rc = llm_acc_finish(&a, resp, err);
  if (!rc && !req->nmessages) {
    /* No rendered prompt: what a model would have read is the question
    ** and the sources. */
    int64_t tin = (int64_t)rag_tokcount_count(NULL, q, strlen(q));
    for (size_t i = 0; i < req->nsources; i++) {
      const char *t = req->sources[i].text ? req->sources[i].text : "";
      tin += (int64_t)rag_tokcount_count(NULL, t, strlen(t));
    }
    resp->tokens_in = tin;
  }
out:
  free(order);
  free(st->sents);
  free(st);
  llm_acc_free(&a);
  return rc;
}

const llm_vtab llm_extractive_vtab = {1,       "extractive", ex_open,
                                      ex_chat, ex_close,     NULL};
