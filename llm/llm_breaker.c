/* llm/llm_breaker.c -- Circuit breaker state machine (see llm_breaker.h). */
#include "llm/llm_breaker.h"

#include <string.h>

llm_breaker_opts llm_breaker_opts_default(void) {
  llm_breaker_opts o = {5, 60.0, 30.0};
  return o;
}

void llm_breaker_init(llm_breaker *b, const llm_breaker_opts *o) {
  memset(b, 0, sizeof(*b));
  b->o = o ? *o : llm_breaker_opts_default();
  if (b->o.failures < 1)
    b->o.failures = 1;
  if (b->o.failures > LLM_BREAKER_MAX_FAILURES)
    b->o.failures = LLM_BREAKER_MAX_FAILURES;
  b->state = LLM_BREAKER_CLOSED;
}

llm_breaker_state llm_breaker_state_at(llm_breaker *b, double now) {
  if (b->state == LLM_BREAKER_OPEN && now - b->opened_at >= b->o.cooldown) {
    b->state = LLM_BREAKER_HALF_OPEN;
    b->probe_out = 0;
  }
  return b->state;
}

int llm_breaker_available(llm_breaker *b, double now) {
  switch (llm_breaker_state_at(b, now)) {
  case LLM_BREAKER_CLOSED:
    return 1;
  case LLM_BREAKER_HALF_OPEN:
    return !b->probe_out;
  default:
    return 0;
  }
}

int llm_breaker_acquire(llm_breaker *b, double now) {
  if (!llm_breaker_available(b, now))
    return 0;
  if (b->state == LLM_BREAKER_HALF_OPEN)
    b->probe_out = 1;
  return 1;
}

static void trip(llm_breaker *b, double now) {
  b->state = LLM_BREAKER_OPEN;
  b->opened_at = now;
  b->probe_out = 0;
  b->nfail = 0;
  b->head = 0;
}

void llm_breaker_success(llm_breaker *b, double now) {
  (void)now;
  if (b->state == LLM_BREAKER_HALF_OPEN) {
    b->state = LLM_BREAKER_CLOSED;
    b->probe_out = 0;
    b->nfail = 0;
    b->head = 0;
  }
}

void llm_breaker_failure(llm_breaker *b, double now) {
  llm_breaker_state s = llm_breaker_state_at(b, now);
  if (s == LLM_BREAKER_HALF_OPEN) {
    trip(b, now); /* the probe failed: another full cooldown */
    return;
  }
  if (s == LLM_BREAKER_OPEN)
    return; /* a call that started before the breaker opened */
  /* Age out failures older than the window; the ring holds them oldest
  ** first starting at head. */
  int cap = LLM_BREAKER_MAX_FAILURES;
  while (b->nfail > 0 && now - b->fail_at[b->head] > b->o.window) {
    b->head = (b->head + 1) % cap;
    b->nfail--;
  }
  b->fail_at[(b->head + b->nfail) % cap] = now;
  if (b->nfail < cap)
    b->nfail++;
  else
    b->head = (b->head + 1) % cap;
  if (b->nfail >= b->o.failures)
    trip(b, now);
}

void llm_breaker_release(llm_breaker *b) {
  if (b->state == LLM_BREAKER_HALF_OPEN)
    b->probe_out = 0;
}

const char *llm_breaker_state_name(llm_breaker_state s) {
  switch (s) {
  case LLM_BREAKER_CLOSED:
    return "closed";
  case LLM_BREAKER_OPEN:
    return "open";
  default:
    return "half-open";
  }
}
