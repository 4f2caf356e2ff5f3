/* rerank/rr.c -- The rerank provider registry and the checked wrappers of
** rr.h.
** Layout: the static provider table, spec parsing (rr_open), then the
** wrappers. The wrappers validate arguments once, so providers can trust
** them, and clamp scores into [0, 1] so a remote provider that returns
** logits or NaN cannot break the contract that callers rely on (score
** thresholds, fusion).
** Threads: the table is constant; the wrappers add no state. */
#include "rerank/rr.h"

#include <stdio.h>
#include <string.h>

/* The built-in providers live in rr_local.c and rr_fake.c. They are
** declared here rather than in a shared header because only the registry
** may reach them: everyone else goes through rr_find/rr_open. */
extern const rr_vtab rr_local_vtab;
extern const rr_vtab rr_fake_vtab;
extern const rr_vtab rr_cohere_vtab;
extern const rr_vtab rr_tei_vtab;

static const rr_vtab *const providers[] = {&rr_local_vtab, &rr_fake_vtab,
                                           &rr_cohere_vtab, &rr_tei_vtab};

#define RR_NAME_MAX 64

const rr_vtab *rr_find(const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
    if (strcmp(providers[i]->name, name) == 0)
      return providers[i];
  return NULL;
}

/* Lists the known names into buf for "unknown provider" messages, so the
** user sees what they could have written. */
static void list_names(char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
    int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                     providers[i]->name);
    if (w < 0 || (size_t)w >= size - used)
      break;
    used += (size_t)w;
  }
}

rag_status rr_open(const rag_cfg *cfg, const char *spec, rr_provider **out,
                   rag_err *err) {
  if (!out)
    return rag_fail(err, RAG_BADARG, "rr: open: out is NULL");
  *out = NULL;
  if (!spec)
    spec = cfg && cfg->rerank.provider ? cfg->rerank.provider : "local";

  /* "name" or "name:opts"; the name is copied so the table lookup sees a
  ** NUL-terminated string without modifying the caller's spec. */
  const char *colon = strchr(spec, ':');
  size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
  if (nlen == 0)
    return rag_fail(err, RAG_BADARG, "rr: empty provider name in spec \"%s\"",
                    spec);
  if (nlen >= RR_NAME_MAX)
    return rag_fail(err, RAG_BADARG, "rr: provider name too long in spec");
  char name[RR_NAME_MAX];
  memcpy(name, spec, nlen);
  name[nlen] = '\0';

  const rr_vtab *vt = rr_find(name);
  if (!vt) {
    char names[128];
    list_names(names, sizeof(names));
    return rag_fail(err, RAG_NOTFOUND,
                    "rr: unknown rerank provider \"%s\" (known: %s)", name,
                    names);
  }
  const char *opts = colon && colon[1] ? colon + 1 : NULL;
  rr_provider *p = NULL;
  rag_status rc = vt->open(cfg, opts, &p, err);
  if (rc != RAG_OK) {
    /* A provider that failed without saying why still yields a message. */
    rag_fail(err, rc, "rr: %s: open failed", name);
    return rc;
  }
  if (!p)
    return rag_fail(err, RAG_UPSTREAM, "rr: %s: open returned no provider",
                    name);
  *out = p;
  return RAG_OK;
}

void rr_close(rr_provider *p) {
  if (p)
    p->vt->close(p);
}

rag_status rr_rerank(rr_provider *p, const char *query, const char *const *docs,
                     size_t n, float *scores, rag_err *err) {
  if (!p)
    return rag_fail(err, RAG_BADARG, "rr: rerank: provider is NULL");
  if (n == 0)
    return RAG_OK;
  if (!query)
    return rag_fail(err, RAG_BADARG, "rr: rerank: query is NULL");
  if (!docs)
    return rag_fail(err, RAG_BADARG, "rr: rerank: docs is NULL");
  if (!scores)
    return rag_fail(err, RAG_BADARG, "rr: rerank: scores is NULL");
  for (size_t i = 0; i < n; i++)
    if (!docs[i])
      return rag_fail(err, RAG_BADARG, "rr: rerank: docs[%zu] is NULL", i);

  rag_status rc = p->vt->rerank(p, query, docs, n, scores, err);
  if (rc != RAG_OK) {
    rag_fail(err, rc, "rr: %s: rerank failed", p->vt->name);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    float s = scores[i];
    if (!(s >= 0.0f)) /* also catches NaN */
      scores[i] = 0.0f;
    else if (s > 1.0f)
      scores[i] = 1.0f;
  }
  return RAG_OK;
}

void rr_set_stats(rr_provider *p, const rag_termstats *ts) {
  if (p && p->vt->set_stats)
    p->vt->set_stats(p, ts);
}

void rr_set_http(rr_provider *p, const rag_http_opts *o) {
  if (p && o && p->vt->version >= 2 && p->vt->set_http)
    p->vt->set_http(p, o);
}
