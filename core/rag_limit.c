/* llm/rag_limit.c -- Token buckets per provider+model (see rag_limit.h).
** The keys live in a small linked list: a router holds a few dozen
** deployments at most, and a lookup is a handful of strcmp calls next to a
** network round trip. */
#include "core/rag_limit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket {
  double level; /* may go below 0: a debt paid back by the refill */
  double cap;   /* the per-minute limit; 0 = unlimited */
} bucket;

typedef struct entry {
  struct entry *next;
  char *key;
  bucket req, tok;
  double last; /* clock time of the last refill */
} entry;

struct rag_limit {
  pthread_mutex_t mu;
  const rag_clock *clock;
  entry *head;
};

rag_limit_policy rag_limit_policy_default(void) {
  rag_limit_policy p = {RAG_LIMIT_WAIT, 30.0};
  return p;
}

int rag_limit_stricter(int a, int b) {
  if (a <= 0)
    return b > 0 ? b : 0;
  if (b <= 0)
    return a;
  return a < b ? a : b;
}

rag_limit *rag_limit_new(const rag_clock *clock) {
  rag_limit *l = calloc(1, sizeof(*l));
  if (!l)
    return NULL;
  pthread_mutex_init(&l->mu, NULL);
  l->clock = clock ? clock : rag_clock_real();
  return l;
}

void rag_limit_free(rag_limit *l) {
  if (!l)
    return;
  entry *e = l->head;
  while (e) {
    entry *n = e->next;
    free(e->key);
    free(e);
    e = n;
  }
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static entry *find(rag_limit *l, const char *key) {
  for (entry *e = l->head; e; e = e->next)
    if (strcmp(e->key, key) == 0)
      return e;
  return NULL;
}

static void refill(bucket *b, double dt) {
  if (b->cap <= 0)
    return;
  b->level += b->cap / 60.0 * dt;
  if (b->level > b->cap)
    b->level = b->cap;
}

static void refill_entry(entry *e, double now) {
  double dt = now - e->last;
  if (dt > 0) {
    refill(&e->req, dt);
    refill(&e->tok, dt);
    e->last = now;
  }
}

/* A limit that changed (a model updated at runtime) keeps the bucket's
** fill ratio rather than resetting it: a lowered limit must not hand out
** a fresh burst. */
static void set_cap(bucket *b, double cap) {
  if (b->cap == cap)
    return;
  if (b->cap > 0 && cap > 0)
    b->level = b->level / b->cap * cap;
  else
    b->level = cap;
  b->cap = cap;
}

/* Seconds until a bucket at level, having paid `take`, is out of debt. */
static double wait_for(const bucket *b, double take) {
  if (b->cap <= 0)
    return 0;
  double after = b->level - take;
  return after >= 0 ? 0 : -after / (b->cap / 60.0);
}

rag_status rag_limit_acquire(rag_limit *l, const char *key, const char *label,
                             int rpm, int tpm, int64_t est_tokens,
                             const rag_limit_policy *p, rag_limit_ticket *t,
                             double *retry_in, rag_err *err) {
  rag_limit_policy def = rag_limit_policy_default();
  if (!p)
    p = &def;
  memset(t, 0, sizeof(*t));
  if (retry_in)
    *retry_in = 0;
  if (rpm <= 0 && tpm <= 0)
    return RAG_OK;
  if (est_tokens < 0)
    est_tokens = 0;
  double take_tok = tpm > 0 && est_tokens > tpm ? tpm : (double)est_tokens;

  pthread_mutex_lock(&l->mu);
  double now = l->clock->now(l->clock->ctx);
  entry *e = find(l, key);
  if (!e) {
    e = calloc(1, sizeof(*e));
    if (e)
      e->key = rag_strdup(key);
    if (!e || !e->key) {
      free(e);
      pthread_mutex_unlock(&l->mu);
      return rag_fail(err, RAG_NOMEM, "rate limit: out of memory");
    }
    e->last = now;
    e->next = l->head;
    l->head = e;
  }
  set_cap(&e->req, rpm > 0 ? rpm : 0);
  set_cap(&e->tok, tpm > 0 ? tpm : 0);
  refill_entry(e, now);
  double wr = wait_for(&e->req, 1), wt = wait_for(&e->tok, take_tok);
  double wait = wr > wt ? wr : wt;
  int refuse = wait > 0 && (p->mode == RAG_LIMIT_REFUSE || wait > p->max_wait);
  if (!refuse) {
    if (e->req.cap > 0)
      e->req.level -= 1;
    if (e->tok.cap > 0)
      e->tok.level -= take_tok;
  }
  pthread_mutex_unlock(&l->mu);

  if (refuse) {
    if (retry_in)
      *retry_in = wait;
    const char *what = wr >= wt ? "requests" : "tokens";
    int lim = wr >= wt ? rpm : tpm;
    if (p->mode == RAG_LIMIT_REFUSE)
      return rag_fail(err, RAG_UPSTREAM,
                      "rate limit: %s allows %d %s/min; retry in %.1f s", label,
                      lim, what, wait);
    return rag_fail(err, RAG_UPSTREAM,
                    "rate limit: %s allows %d %s/min; retry in %.1f s "
                    "(longer than the %.1f s max wait)",
                    label, lim, what, wait, p->max_wait);
  }
  snprintf(t->key, sizeof(t->key), "%s", key);
  t->tokens = tpm > 0 ? (int64_t)take_tok : 0;
  t->active = 1;
  if (wait > 0) {
    l->clock->sleep(l->clock->ctx, wait);
    t->waited = wait;
  }
  return RAG_OK;
}

void rag_limit_commit(rag_limit *l, rag_limit_ticket *t,
                      int64_t actual_tokens) {
  if (!t || !t->active)
    return;
  t->active = 0;
  pthread_mutex_lock(&l->mu);
  entry *e = find(l, t->key);
  if (e && e->tok.cap > 0) {
    refill_entry(e, l->clock->now(l->clock->ctx));
    e->tok.level += (double)(t->tokens - actual_tokens);
    if (e->tok.level > e->tok.cap)
      e->tok.level = e->tok.cap;
  }
  pthread_mutex_unlock(&l->mu);
}

int rag_limit_level(rag_limit *l, const char *key, double *requests,
                    double *tokens) {
  pthread_mutex_lock(&l->mu);
  entry *e = find(l, key);
  if (e)
    refill_entry(e, l->clock->now(l->clock->ctx));
  *requests = e ? e->req.level : 0;
  *tokens = e ? e->tok.level : 0;
  pthread_mutex_unlock(&l->mu);
  return e ? 0 : -1;
}
