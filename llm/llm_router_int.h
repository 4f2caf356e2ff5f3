/* llm/llm_router_int.h -- Private to the router's two files:
** llm_router.c (the registry) and llm_route.c (planning and the chain).
** Ownership, errors, threads: as in llm_router.h; the lock rules are at
** the top of llm_router.c. */
#ifndef LLM_ROUTER_INT_H
#define LLM_ROUTER_INT_H

#include "llm/llm_router.h"

#include <pthread.h>

#define DEP_POOL 4 /* idle provider instances kept per deployment */

typedef struct dep {
  struct dep *next;
  int refs, removed, builtin;
  rag_model_def def;
  rag_provider_def prov; /* the provider as it was when this was added */
  llm_health health;
  char error[256];
  llm_breaker br;
  llm_provider *pool[DEP_POOL];
  int npool;
} dep;

typedef struct prov_ent {
  struct prov_ent *next;
  rag_provider_def def;
  int builtin;
} prov_ent;

typedef struct route_ent {
  struct route_ent *next;
  rag_route_def def;
} route_ent;

struct llm_router {
  pthread_mutex_t mu, usage_mu;
  llm_router_opts o;
  rag_http_opts http;
  int has_http;
  rag_limit *lim;
  prov_ent *provs;
  dep *deps;
  route_ent *routes;
  uint64_t rng;
};

double llm_rt_now(llm_router *r);    /* monotonic, the injected clock */
double llm_rt_wall(llm_router *r);   /* Unix time */
double llm_rt_rand01(llm_router *r); /* mu held */
/* mu held: drops a reference; returns d when the caller must free it
** (with llm_rt_dep_free, after unlocking). */
struct dep *llm_rt_unref_locked(struct dep *d);
void llm_rt_unref(llm_router *r, struct dep *d); /* mu not held */
void llm_rt_dep_free(struct dep *d);
int llm_rt_in_pool(const struct dep *d);
int llm_rt_model_known(llm_router *r, const char *name);       /* mu held */
route_ent *llm_rt_find_route(llm_router *r, const char *name); /* mu held */
/* A provider instance of d for one call (mu not held), and its return. */
rag_status llm_rt_inst_get(llm_router *r, struct dep *d, llm_provider **out,
                           rag_err *err);
void llm_rt_inst_put(llm_router *r, struct dep *d, llm_provider *p);
void llm_rt_cpy(char *dst, size_t n, const char *s);

#endif
