/* core/rag_limit.h -- Rate limits: a token bucket per provider+model for
** requests per minute and tokens per minute.
**
** Each key ("provider/model") has two buckets. A bucket holds at most its
** per-minute limit and refills continuously at limit/60 per second, so a
** full bucket allows a burst of one minute's worth. The limits come from
** the provider and the model definitions; the stricter (smaller non-zero)
** one applies, 0 meaning none.
**
** Reservations: rag_limit_acquire() takes 1 request and the estimated
** tokens at once, even when that drives a bucket below zero (a debt that
** the refill pays back), and tells the caller how long the debt takes to
** clear. In RAG_LIMIT_WAIT mode it sleeps that long on the injected clock
** (outside the lock) when it is within max_wait; otherwise, and always in
** RAG_LIMIT_REFUSE mode, it gives the reservation back and refuses. Taking
** before sleeping keeps concurrent callers in arrival order without a
** queue. After the call rag_limit_commit() corrects the token bucket by
** (estimate - actual), so a call that used fewer tokens than estimated
** gives the difference back and one that used more takes the rest.
** An estimate above a bucket's whole capacity is clamped to the capacity:
** otherwise such a request could never run.
**
** Ownership: rag_limit_new/rag_limit_free; keys are copied.
** Errors:    a refusal is RAG_UPSTREAM with a message such as
**            "rate limit: gpt-4o-mini allows 60 requests/min; retry in
**            1.2 s"; *retry_in (when non-NULL) gets the seconds.
** Threads:   all calls are safe from many threads (one mutex, never held
**            while sleeping). */
#ifndef RAG_LIMIT_H
#define RAG_LIMIT_H

#include "core/rag.h"
#include "core/rag_http.h"

typedef enum {
  RAG_LIMIT_WAIT,  /* sleep until the buckets allow, up to max_wait */
  RAG_LIMIT_REFUSE /* fail at once when a bucket is short */
} rag_limit_mode;

typedef struct rag_limit_policy {
  rag_limit_mode mode;
  double max_wait; /* seconds; WAIT mode refuses longer waits (30) */
} rag_limit_policy;

/* WAIT with a 30 s ceiling. */
rag_limit_policy rag_limit_policy_default(void);

typedef struct rag_limit rag_limit;

/* What a successful acquire reserved; pass it to rag_limit_commit(). */
typedef struct rag_limit_ticket {
  char key[256];
  int64_t tokens; /* tokens reserved (after clamping) */
  double waited;  /* seconds slept before the call */
  int active;     /* 0: nothing to commit (no limits applied) */
} rag_limit_ticket;

/* clock NULL: rag_clock_real(). Returns NULL on allocation failure. */
rag_limit *rag_limit_new(const rag_clock *clock);
void rag_limit_free(rag_limit *l); /* NULL is a no-op */

/* The stricter of two per-minute limits (0 = none). */
int rag_limit_stricter(int a, int b);

/* Reserves one request and est_tokens for key under rpm/tpm (0 = no limit
** on that bucket; both 0 reserves nothing and returns RAG_OK). label names
** the model in messages. On success fills *t. On refusal returns
** RAG_UPSTREAM, leaves the buckets as they were and sets *retry_in. */
rag_status rag_limit_acquire(rag_limit *l, const char *key, const char *label,
                             int rpm, int tpm, int64_t est_tokens,
                             const rag_limit_policy *p, rag_limit_ticket *t,
                             double *retry_in, rag_err *err);

/* Corrects the token bucket of t's key with the tokens the call really
** used (tokens in + out). A NULL or inactive ticket is a no-op. */
void rag_limit_commit(rag_limit *l, rag_limit_ticket *t, int64_t actual_tokens);

/* Current level of key's buckets (may be negative while in debt); 0 and
** returns -1 when the key is unknown. For tests and `ragd models`. */
int rag_limit_level(rag_limit *l, const char *key, double *requests,
                    double *tokens);

#endif
