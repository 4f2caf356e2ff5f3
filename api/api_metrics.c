/* api/api_metrics.c -- Prometheus text exposition (format 0.0.4): request
** counts by route and status class, latency histograms per route, 5xx
** errors, dataset sizes (documents, chunks), the ingest queue depth, and
** the LLM gateway's per-model calls, tokens, cost and breaker states
** (api_llm_metrics in api_models.c).
** Counters are relaxed atomics in the server object: a scrape may see one
** request counted and its latency not yet, which Prometheus tolerates. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double lat_le[API_LAT_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0};

void api_metrics_observe(api_server *s, int route_idx, int status,
                         double seconds) {
  size_t i = route_idx < 0 ? api_route_count() : (size_t)route_idx;
  api_route_stats *st = &s->stats[i];
  int cls = status / 100;
  if (cls < 1 || cls > 5)
    cls = 5;
  atomic_fetch_add_explicit(&st->count[cls], 1, memory_order_relaxed);
  int b = 0;
  while (b < API_LAT_BUCKETS && seconds > lat_le[b])
    b++;
  atomic_fetch_add_explicit(&st->lat[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&st->lat_sum_us,
                            (unsigned long long)(seconds * 1e6),
                            memory_order_relaxed);
}

static void route_label(size_t i, char *out, size_t n) {
  const api_route *r = api_route_at(i);
  if (r)
    snprintf(out, n, "method=\"%s\",route=\"%s\"", r->method, r->pattern);
  else
    snprintf(out, n, "method=\"\",route=\"unmatched\"");
}

char *api_metrics_render(api_server *s) {
  rag_buf b;
  rag_buf_init(&b, 4u << 20);
  size_t nr = api_route_count() + 1;
  char lab[160];
  rag_buf_puts(&b, "# HELP ragd_http_requests_total HTTP requests by route "
                   "and status class.\n"
                   "# TYPE ragd_http_requests_total counter\n");
  for (size_t i = 0; i < nr; i++) {
    route_label(i, lab, sizeof(lab));
    for (int c = 1; c <= 5; c++) {
      unsigned long long v = atomic_load(&s->stats[i].count[c]);
      if (v)
        rag_buf_printf(&b, "ragd_http_requests_total{%s,code=\"%dxx\"} %llu\n",
                       lab, c, v);
    }
  }
  rag_buf_puts(&b, "# HELP ragd_http_request_duration_seconds Request "
                   "latency by route.\n"
                   "# TYPE ragd_http_request_duration_seconds histogram\n");
  for (size_t i = 0; i < nr; i++) {
    unsigned long long cum = 0;
    route_label(i, lab, sizeof(lab));
    for (int k = 0; k <= API_LAT_BUCKETS; k++) {
      cum += atomic_load(&s->stats[i].lat[k]);
      if (k < API_LAT_BUCKETS)
        rag_buf_printf(&b,
                       "ragd_http_request_duration_seconds_bucket{%s,le=\"%g\"}"
                       " %llu\n",
                       lab, lat_le[k], cum);
      else
        rag_buf_printf(&b,
                       "ragd_http_request_duration_seconds_bucket{%s,le=\"+Inf"
                       "\"} %llu\n",
                       lab, cum);
    }
    rag_buf_printf(&b, "ragd_http_request_duration_seconds_sum{%s} %.6f\n", lab,
                   atomic_load(&s->stats[i].lat_sum_us) / 1e6);
    rag_buf_printf(&b, "ragd_http_request_duration_seconds_count{%s} %llu\n",
                   lab, cum);
  }
  rag_buf_printf(&b,
                 "# HELP ragd_http_errors_total Replies with a 5xx status.\n"
                 "# TYPE ragd_http_errors_total counter\n"
                 "ragd_http_errors_total %llu\n",
                 atomic_load(&s->errors));
  rag_buf_printf(&b,
                 "# HELP ragd_ingest_queue_depth Ingest jobs waiting or "
                 "running.\n# TYPE ragd_ingest_queue_depth gauge\n"
                 "ragd_ingest_queue_depth %zu\n",
                 api_kbs_queue_depth(s->kbs));
  api_kb **kbs = NULL;
  size_t n = 0;
  rag_arena *a = rag_arena_new(0);
  if (a && !api_kbs_list(s->kbs, &kbs, &n)) {
    /* One snapshot of each dataset's figures, then a family per metric. */
    api_kb_info *in = rag_arena_calloc(a, n ? n : 1, sizeof(*in));
    for (size_t i = 0; in && i < n; i++)
      api_kb_info_get(kbs[i], a, &in[i]);
    rag_buf_puts(&b, "# HELP ragd_kb_documents Documents per dataset.\n"
                     "# TYPE ragd_kb_documents gauge\n");
    for (size_t i = 0; in && i < n; i++)
      rag_buf_printf(&b, "ragd_kb_documents{dataset=\"%s\"} %lld\n", in[i].id,
                     (long long)in[i].docs);
    rag_buf_puts(&b, "# HELP ragd_kb_chunks Chunks per dataset.\n"
                     "# TYPE ragd_kb_chunks gauge\n");
    for (size_t i = 0; in && i < n; i++)
      rag_buf_printf(&b, "ragd_kb_chunks{dataset=\"%s\"} %lld\n", in[i].id,
                     (long long)in[i].chunks);
    rag_buf_puts(&b, "# HELP ragd_kb_lexical_index_bytes Memory of the "
                     "in-memory full-text index per dataset.\n"
                     "# TYPE ragd_kb_lexical_index_bytes gauge\n");
    for (size_t i = 0; in && i < n; i++)
      rag_buf_printf(&b, "ragd_kb_lexical_index_bytes{dataset=\"%s\"} %lld\n",
                     in[i].id, (long long)in[i].lex_bytes);
    rag_buf_puts(&b, "# HELP ragd_kb_lexical_index_segments Segments of the "
                     "in-memory full-text index per dataset.\n"
                     "# TYPE ragd_kb_lexical_index_segments gauge\n");
    for (size_t i = 0; in && i < n; i++)
      rag_buf_printf(&b, "ragd_kb_lexical_index_segments{dataset=\"%s\"} %d\n",
                     in[i].id, in[i].lex_segments);
    for (size_t i = 0; i < n; i++)
      api_kb_release(kbs[i]);
    free(kbs);
  }
  rag_arena_free(a);
  api_llm_metrics(s, &b);
  return rag_buf_detach(&b);
}

int api_h_metrics(api_req *r) {
  return api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                        api_metrics_render(r->srv));
}
