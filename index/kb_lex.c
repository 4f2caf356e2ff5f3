/* index/kb_lex.c -- Lexical indexes (kb_lex.h): lists of segments with
** deletion bitmaps, and kb_lex_update's diff of the KB against the
** previous index, its merge policy and statistics. Segments are made in
** kb_lex_seg.c; the top k is in kb_lex_search.c.
**
** Divisions:
**   1. Indexes: retain/release, info, live frequencies
**   2. kb_lex_update */
#include <stdlib.h>
#include <string.h>

#include "core/rag_hash.h"
#include "index/kb_int.h"
#include "index/kb_lex_int.h"

/* ---- 1. Indexes ---- */

static void part_clear(lex_part *p) {
  lex_seg_release(p->seg);
  free(p->del);
  free(p->ldf);
  free(p->xtab);
  memset(p, 0, sizeof(*p));
}

kb_lex *kb_lex_retain(kb_lex *x) {
  if (x)
    atomic_fetch_add(&x->refs, 1);
  return x;
}

void kb_lex_release(kb_lex *x) {
  if (!x || atomic_fetch_sub(&x->refs, 1) != 1)
    return;
  for (int i = 0; i < x->n; i++)
    part_clear(&x->p[i]);
  free(x->p);
  free(x);
}

/* Live chunks and their tokens, counted from the segments (kb_lex_update
** checks them against FTS5's). */
static void count_live(const kb_lex *x, int64_t *chunks, int64_t *tokens) {
  *chunks = *tokens = 0;
  for (int i = 0; i < x->n; i++) {
    const lex_seg *s = x->p[i].seg;
    for (uint32_t d = 0; d < s->ndoc; d++)
      if (!lex_deleted(&x->p[i], d)) {
        (*chunks)++;
        *tokens += s->len[d];
      }
  }
}

void kb_lex_info_get(const kb_lex *x, kb_lex_info *o) {
  memset(o, 0, sizeof(*o));
  if (!x)
    return;
  o->gen = x->gen;
  o->segments = x->n;
  o->chunks = x->nrow; /* equal to the live count: kb_lex_update checked */
  o->tokens = x->ntok;
  for (int i = 0; i < x->n; i++) {
    const lex_seg *s = x->p[i].seg;
    o->postings += (int64_t)s->poff[s->nterm];
    o->deleted += x->p[i].ndel;
    o->escaped += (int64_t)s->nesc;
    o->bytes +=
        (int64_t)s->bytes + (int64_t)((size_t)s->npair * sizeof(*x->p[i].xtab));
  }
}

/* Per-term live posting counts of a part with deletions (the document
** frequencies bm25 needs), or none. 0, or -1 out of memory. */
static int part_ldf(lex_part *p) {
  free(p->ldf);
  p->ldf = NULL;
  if (!p->ndel)
    return 0;
  const lex_seg *s = p->seg;
  if (!(p->ldf = malloc(((size_t)s->nterm + 1) * sizeof(*p->ldf))))
    return -1;
  for (uint32_t t = 0; t < s->nterm; t++) {
    uint32_t n = 0;
    for (uint64_t i = s->poff[t]; i < s->poff[t + 1]; i++)
      n += !lex_deleted(p, s->pdoc[i]);
    p->ldf[t] = n;
  }
  return 0;
}

/* ---- 2. kb_lex_update ---- */

int kb_lex_wanted(void) {
  const char *v = getenv("RAGD_LEX");
  return !(v && strcmp(v, "0") == 0);
}

static uint64_t fingerprint(const void *sha, int nsha, const void *head,
                            int nhead) {
  uint64_t h = rag_hash64(sha, nsha > 0 ? (size_t)nsha : 0, 0x6c6578);
  return head ? rag_hash64(head, nhead > 0 ? (size_t)nhead : 0, h + 1) : h;
}

/* Where prev's live chunks stand in id order: a cursor per part. */
typedef struct walk {
  const kb_lex *x;
  size_t *at;
} walk;

/* The part holding prev's next live chunk (smallest id), or -1. */
static int walk_next(walk *w) {
  int best = -1;
  for (int i = 0; w->x && i < w->x->n; i++) {
    const lex_part *p = &w->x->p[i];
    while (w->at[i] < p->seg->ndoc && lex_deleted(p, (uint32_t)w->at[i]))
      w->at[i]++;
    if (w->at[i] < p->seg->ndoc &&
        (best < 0 || p->seg->id[w->at[i]] < w->x->p[best].seg->id[w->at[best]]))
      best = i;
  }
  return best;
}

static int mark_deleted(lex_part *p, uint32_t d) {
  if (!p->del && !(p->del = calloc(((size_t)p->seg->ndoc + 63) / 64 + 1, 8)))
    return -1;
  p->del[d >> 6] |= (uint64_t)1 << (d & 63);
  p->ndel++;
  return 0;
}

/* Diffs the committed chunks against prev: parts (copies of prev's with
** their deletion bitmaps updated) and the chunks to tokenize. */
static rag_status diff(kb *k, const kb_lex *prev, lex_part *parts,
                       lex_todo **add, size_t *nadd, rag_err *err) {
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k,
                            "SELECT id, sha256, heading FROM chunks"
                            " ORDER BY id",
                            &st, err, "lexical index: chunk list");
  walk w = {prev, calloc(prev ? (size_t)prev->n + 1 : 1, sizeof(size_t))};
  size_t cap = 0;
  *add = NULL;
  *nadd = 0;
  if (!s && !w.at)
    s = lex_nomem(err);
  int rc = SQLITE_DONE, cur = s ? -1 : walk_next(&w);
  while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    uint64_t fp =
        fingerprint(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
                    sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2));
    int same = 0;
    while (cur >= 0) {
      lex_part *p = &parts[cur];
      uint32_t d = (uint32_t)w.at[cur];
      if (p->seg->id[d] > id)
        break;
      if (p->seg->id[d] == id && p->seg->fp[d] == fp)
        same = 1;
      else if (mark_deleted(p, d))
        s = lex_nomem(err);
      w.at[cur]++;
      cur = walk_next(&w);
      if (same)
        break;
    }
    if (!same && !s) {
      if (lex_grow((void **)add, *nadd, &cap, sizeof(**add)))
        s = lex_nomem(err);
      else
        (*add)[(*nadd)++] = (lex_todo){id, fp};
    }
  }
  if (!s && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "lexical index: chunk list");
  for (; !s && cur >= 0; cur = walk_next(&w)) {
    if (mark_deleted(&parts[cur], (uint32_t)w.at[cur]))
      s = lex_nomem(err);
    w.at[cur]++;
  }
  sqlite3_finalize(st);
  free(w.at);
  return s;
}

static uint32_t part_live(const lex_part *p) {
  return p->seg->ndoc - p->ndel;
}

/* Replaces parts[i .. i + m) by one merged part. */
static rag_status merge_parts(lex_part *parts, int *n, int i, int m,
                              rag_err *err) {
  lex_seg *s;
  rag_status rc = lex_seg_merge(parts + i, m, &s, err);
  if (rc)
    return rc;
  for (int j = i; j < i + m; j++)
    part_clear(&parts[j]);
  parts[i].seg = s;
  memmove(parts + i + 1, parts + i + m, (size_t)(*n - i - m) * sizeof(*parts));
  *n -= m - 1;
  return RAG_OK;
}

/* Drops empty parts, compacts those over a quarter deleted, merges the
** newest two while the newer has at least half the older's live chunks
** (a binary counter: O(log chunks) parts, each chunk merged O(log) times),
** then recounts live frequencies. */
static rag_status tidy(lex_part *parts, int *n, rag_err *err) {
  rag_status s = RAG_OK;
  for (int i = 0; i < *n;) {
    if (part_live(&parts[i]) == 0) {
      part_clear(&parts[i]);
      memmove(parts + i, parts + i + 1, (size_t)(*n - i - 1) * sizeof(*parts));
      (*n)--;
      continue;
    }
    if ((uint64_t)parts[i].ndel * 4 > parts[i].seg->ndoc &&
        (s = merge_parts(parts, n, i, 1, err)))
      return s;
    i++;
  }
  while (*n >= 2 &&
         (uint64_t)part_live(&parts[*n - 1]) * 2 >= part_live(&parts[*n - 2]))
    if ((s = merge_parts(parts, n, *n - 2, 2, err)))
      return s;
  for (int i = 0; i < *n; i++)
    if (part_ldf(&parts[i]))
      return lex_nomem(err);
  return RAG_OK;
}

/* The index's table of normalized frequencies, one per pair code of its
** segment (see lex_xs), for the index's avgdl. 0, or -1 out of memory. */
static int part_norms(lex_part *p, double avgdl) {
  const lex_seg *s = p->seg;
  free(p->xtab);
  p->xtab = malloc(((size_t)s->npair + 1) * sizeof(*p->xtab));
  if (!p->xtab)
    return -1;
  for (uint32_t c = 0; c < s->npair; c++)
    p->xtab[c] = lex_xs(s->pair[c].f2, s->pair[c].len, avgdl);
  return 0;
}

/* The new index from the diff, inside the caller's read transaction. */
static rag_status update_in_txn(kb *k, const kb_lex *prev, kb_lex *x,
                                rag_err *err) {
  rag_status s = kb_fts_totals(k, &x->nrow, &x->ntok, err);
  x->avgdl = x->nrow > 0 ? (double)x->ntok / (double)x->nrow : 1.0;
  int np = prev ? prev->n : 0;
  lex_part *parts = s ? NULL : calloc((size_t)np + 2, sizeof(*parts));
  if (!s && !parts)
    s = lex_nomem(err);
  int n = 0;
  /* Copies of prev's parts: the segment shared, the bitmap owned. */
  for (int i = 0; !s && i < np; i++) {
    const lex_part *q = &prev->p[i];
    lex_part *p = &parts[n++];
    p->seg = q->seg;
    atomic_fetch_add(&q->seg->refs, 1);
    p->ndel = q->ndel;
    if (q->del) {
      size_t nb = ((size_t)q->seg->ndoc + 63) / 64 + 1;
      if (!(p->del = malloc(nb * 8)))
        s = lex_nomem(err);
      else
        memcpy(p->del, q->del, nb * 8);
    }
  }
  lex_todo *add = NULL;
  size_t nadd = 0;
  if (!s)
    s = diff(k, prev, parts, &add, &nadd, err);
  lex_seg *fresh = NULL;
  if (!s)
    s = lex_seg_build(k, add, nadd, &fresh, err);
  free(add);
  if (fresh)
    parts[n++].seg = fresh;
  if (!s)
    s = tidy(parts, &n, err);
  for (int i = 0; !s && i < n; i++)
    if (part_norms(&parts[i], x->avgdl))
      s = lex_nomem(err);
  x->p = parts;
  x->n = n;
  if (s)
    return s;
  int64_t chunks, tokens;
  count_live(x, &chunks, &tokens);
  if (chunks != x->nrow || tokens != x->ntok)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: lexical index: chunks (%lld rows, %lld tokens) and "
                    "chunks_fts (%lld rows, %lld tokens) disagree",
                    (long long)chunks, (long long)tokens, (long long)x->nrow,
                    (long long)x->ntok);
  return RAG_OK;
}

rag_status kb_lex_update(kb *k, const kb_lex *prev, kb_lex **out,
                         rag_err *err) {
  *out = NULL;
  if (!k)
    return rag_fail(err, RAG_BADARG, "kb: lexical index: NULL handle");
  int own = sqlite3_get_autocommit(k->db) != 0;
  rag_status s = own ? kb_exec_st(k, KB_ST_BEGIN, err, "begin") : RAG_OK;
  int64_t gen = 0;
  if (!s)
    s = kb_generation(k, &gen, err);
  if (!s && prev && prev->gen == gen) {
    *out = kb_lex_retain((kb_lex *)prev);
  } else if (!s) {
    kb_lex *x = calloc(1, sizeof(*x));
    if (!x) {
      s = lex_nomem(err);
    } else {
      atomic_init(&x->refs, 1);
      x->gen = gen;
      s = update_in_txn(k, prev, x, err);
      if (s)
        kb_lex_release(x);
      else
        *out = x;
    }
  }
  if (own) {
    if (s)
      kb_rollback(k);
    else
      s = kb_exec_st(k, KB_ST_COMMIT, err, "commit");
    if (s && *out) {
      kb_lex_release(*out);
      *out = NULL;
    }
  }
  return s;
}
