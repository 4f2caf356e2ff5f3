/* llm/llm_breaker.h -- A circuit breaker for one deployment.
**
** States: CLOSED (calls flow; failures are counted), OPEN (calls are
** refused until the cooldown has passed), HALF_OPEN (one probe call is let
** through; its success closes the breaker, its failure opens it again for
** another cooldown).
** CLOSED -> OPEN when `failures` failures happen within `window` seconds
** (older failures age out, so a slow trickle of errors never trips it).
** Only failures that say something about the deployment count (the router
** reports UPSTREAM, TIMEOUT and IO; a bad request is the caller's fault).
** Times are seconds on the caller's clock (rag_clock), so tests inject
** them.
**
** Ownership: a plain value embedded in its owner; nothing to free.
** Errors:    none.
** Threads:   not synchronized: the owner locks (the router holds its mutex
**            around every call). */
#ifndef LLM_BREAKER_H
#define LLM_BREAKER_H

#define LLM_BREAKER_MAX_FAILURES 64

typedef enum {
  LLM_BREAKER_CLOSED,
  LLM_BREAKER_OPEN,
  LLM_BREAKER_HALF_OPEN
} llm_breaker_state;

typedef struct llm_breaker_opts {
  int failures;    /* failures within window that open it (5; 1..64) */
  double window;   /* seconds (60) */
  double cooldown; /* seconds open before a probe (30) */
} llm_breaker_opts;

llm_breaker_opts llm_breaker_opts_default(void);

typedef struct llm_breaker {
  /* private */
  llm_breaker_opts o;
  llm_breaker_state state;
  double fail_at[LLM_BREAKER_MAX_FAILURES]; /* ring of failure times */
  int nfail, head;
  double opened_at;
  int probe_out; /* half-open: the probe is in flight */
} llm_breaker;

/* o NULL: defaults. Starts CLOSED. */
void llm_breaker_init(llm_breaker *b, const llm_breaker_opts *o);

/* The state at time now (an OPEN breaker whose cooldown has passed reads
** as HALF_OPEN). */
llm_breaker_state llm_breaker_state_at(llm_breaker *b, double now);

/* 1 when a call may go now, without taking the half-open probe slot. */
int llm_breaker_available(llm_breaker *b, double now);

/* 1 and the call may go (in HALF_OPEN this takes the single probe slot);
** 0 when the breaker refuses. */
int llm_breaker_acquire(llm_breaker *b, double now);

/* Outcome of a call that acquire let through. */
void llm_breaker_success(llm_breaker *b, double now);
void llm_breaker_failure(llm_breaker *b, double now);
/* The call ended in a way that says nothing about the deployment (a bad
** request, a refusal before sending): frees a probe slot it held. */
void llm_breaker_release(llm_breaker *b);

const char *llm_breaker_state_name(llm_breaker_state s);

#endif
