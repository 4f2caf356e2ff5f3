/* bench/bench_gateway.c -- Per-call overhead of ragd's model gateway.
**
** A fake OpenAI server (tests/fake_http.h) answers every request with the
** same small chat completion. The same number of blocking calls is then
** made three ways, after a warm-up:
**   bare    one reused libcurl easy handle POSTing a chat body
**   llm     llm_open("openai" provider) + llm_chat (request JSON, HTTP
**           client, reply parsing)
**   router  llm_router_chat over a one-model rag_models (planning,
**           token estimate, breaker, limits, then the llm call)
** and per-call p50/p95 in microseconds are printed with the ratios
** ragd / bare from this run. The server's own time is in every series,
** so the ratios understate the relative overhead of ragd's code; the
** differences (ragd - bare) are printed too.
**
** Usage: bench_gateway [--calls N] [--nagle]   (default 2000 calls;
**        --nagle leaves the fake's sockets as they are, see nodelay_all) */
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag.h"
#include "core/rag_models.h"
#include "llm/llm.h"
#include "llm/llm_router.h"
#include "tests/fake_http.h"

/* A growable series of microsecond samples. */
typedef struct series {
  double *v;
  size_t n, cap;
} series;

static void series_push(series *s, double us) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    double *p = realloc(s->v, cap * sizeof(*p));
    if (!p)
      return;
    s->v = p;
    s->cap = cap;
  }
  s->v[s->n++] = us;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Percentile by linear interpolation between closest ranks; sorts s. */
static double pct(series *s, double p) {
  if (!s->n)
    return 0;
  qsort(s->v, s->n, sizeof(*s->v), cmp_double);
  double pos = p / 100.0 * (double)(s->n - 1);
  size_t lo = (size_t)pos;
  double fr = pos - (double)lo;
  return lo + 1 < s->n ? s->v[lo] + fr * (s->v[lo + 1] - s->v[lo]) : s->v[lo];
}

static double mean(const series *s) {
  double t = 0;
  for (size_t i = 0; i < s->n; i++)
    t += s->v[i];
  return s->n ? t / (double)s->n : 0;
}

static const char k_reply[] =
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,"
    "\"total_tokens\":6}}";

static const char k_body[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Say ok.\"}],\"max_tokens\":16,\"stream\":false}";

/* The fake writes a reply as several send() calls on sockets without
** TCP_NODELAY, so Nagle holds the later writes until the client's delayed
** ACK (~40 ms): every call would measure that timer. The server shares
** this process, so the handler sets TCP_NODELAY on every socket of the
** process once per series (main raises g_rescan before each one; the new
** connection is accepted before its first request reaches the handler).
** Non-TCP descriptors just refuse the option. */
static atomic_int g_rescan;

static void nodelay_all(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end = NULL;
    long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end || fd < 0 || fd == dirfd(d))
      continue;
    int one = 1;
    (void)setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  closedir(d);
}

static void handler(void *ctx, const fake_request *req, fake_reply *out) {
  (void)ctx;
  (void)req;
  if (atomic_exchange(&g_rescan, 0))
    nodelay_all();
  out->status = 200;
  out->headers = "Content-Type: application/json\r\n";
  out->body = k_reply;
  out->body_len = 0;
}

static size_t sink(char *p, size_t sz, size_t n, void *ctx) {
  (void)p;
  (void)ctx;
  return sz * n;
}

static double now_us(void) {
  return rag_now() * 1e6;
}

/* ---- (a) bare libcurl ---- */

static int run_bare(const char *base, long warm, long calls, series *s) {
  char url[512];
  int n = snprintf(url, sizeof(url), "%s/chat/completions", base);
  if (n < 0 || (size_t)n >= sizeof(url))
    return -1;
  CURL *h = curl_easy_init();
  if (!h)
    return -1;
  struct curl_slist *hd = NULL;
  hd = curl_slist_append(hd, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, k_body);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(k_body));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  int rc = 0;
  for (long i = 0; i < warm + calls && !rc; i++) {
    double t0 = now_us();
    CURLcode c = curl_easy_perform(h);
    double t1 = now_us();
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (c != CURLE_OK || code != 200) {
      fprintf(stderr, "bare: %s (HTTP %ld)\n", curl_easy_strerror(c), code);
      rc = -1;
    } else if (i >= warm) {
      series_push(s, t1 - t0);
    }
  }
  curl_slist_free_all(hd);
  curl_easy_cleanup(h);
  return rc;
}

/* ---- (b) llm layer ---- */

static int run_llm(const char *base, long warm, long calls, series *s) {
  rag_provider_def def;
  memset(&def, 0, sizeof(def));
  def.name = "p";
  def.kind = "openai";
  def.base_url = (char *)base;
  def.timeout = 30;
  def.max_retries = 0;
  rag_err err;
  rag_err_clear(&err);
  llm_provider *p = NULL;
  if (llm_open(&def, NULL, &p, &err) != RAG_OK) {
    fprintf(stderr, "llm_open: %s\n", err.msg);
    return -1;
  }
  llm_msg m = {"user", "Say ok."};
  llm_request req;
  memset(&req, 0, sizeof(req));
  req.model = "m";
  req.messages = &m;
  req.nmessages = 1;
  req.max_tokens = 16;
  req.temperature = -1;
  int rc = 0;
  for (long i = 0; i < warm + calls && !rc; i++) {
    llm_response resp;
    llm_response_init(&resp);
    double t0 = now_us();
    rag_status st = llm_chat(p, &req, &resp, &err);
    double t1 = now_us();
    if (st != RAG_OK) {
      fprintf(stderr, "llm_chat: %s\n", err.msg);
      rc = -1;
    } else if (i >= warm) {
      series_push(s, t1 - t0);
    }
    llm_response_free(&resp);
  }
  llm_close(p);
  return rc;
}

/* ---- (c) router ---- */

static int run_router(const char *base, long warm, long calls, series *s) {
  char json[1024];
  int n = snprintf(json, sizeof(json),
                   "{\"providers\":[{\"name\":\"p\",\"kind\":\"openai\","
                   "\"base_url\":\"%s\",\"max_retries\":0,\"timeout\":30}],"
                   "\"models\":[{\"name\":\"m\",\"provider\":\"p\","
                   "\"model\":\"m\",\"context_length\":8192,"
                   "\"max_output\":16}]}",
                   base);
  if (n < 0 || (size_t)n >= sizeof(json))
    return -1;
  rag_err err;
  rag_err_clear(&err);
  rag_models models;
  if (rag_models_parse(json, &models, &err) != RAG_OK) {
    fprintf(stderr, "rag_models_parse: %s\n", err.msg);
    return -1;
  }
  llm_router_opts o = llm_router_opts_default();
  o.seed = 42;
  llm_router *r = NULL;
  rag_status st = llm_router_new(&models, &o, &r, &err);
  rag_models_free(&models);
  if (st != RAG_OK) {
    fprintf(stderr, "llm_router_new: %s\n", err.msg);
    return -1;
  }
  llm_msg m = {"user", "Say ok."};
  llm_call c;
  memset(&c, 0, sizeof(c));
  c.model = "m";
  c.question = "Say ok.";
  c.messages = &m;
  c.nmessages = 1;
  c.max_tokens = 16;
  c.temperature = -1;
  int rc = 0;
  for (long i = 0; i < warm + calls && !rc; i++) {
    llm_response resp;
    llm_response_init(&resp);
    llm_result res;
    double t0 = now_us();
    st = llm_router_chat(r, &c, NULL, &resp, &res, &err);
    double t1 = now_us();
    if (st != RAG_OK) {
      fprintf(stderr, "llm_router_chat: %s\n", err.msg);
      rc = -1;
    } else if (i >= warm) {
      series_push(s, t1 - t0);
    }
    llm_response_free(&resp);
  }
  llm_router_free(r);
  return rc;
}

static void row(const char *name, series *s) {
  printf("  %-8s %8.1f %8.1f %8.1f\n", name, pct(s, 50), pct(s, 95), mean(s));
}

static void ratio(const char *name, series *s, series *b) {
  double b50 = pct(b, 50), b95 = pct(b, 95);
  printf("  %-15s p50 %5.2fx (%+.1f us)  p95 %5.2fx (%+.1f us)\n", name,
         b50 > 0 ? pct(s, 50) / b50 : 0, pct(s, 50) - b50,
         b95 > 0 ? pct(s, 95) / b95 : 0, pct(s, 95) - b95);
}

int main(int argc, char **argv) {
  long calls = 2000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
      char *end = NULL;
      calls = strtol(argv[++i], &end, 10);
      if (!end || *end || calls <= 0) {
        fprintf(stderr, "bench_gateway: bad --calls\n");
        return 2;
      }
    } else if (strcmp(argv[i], "--nagle")) {
      fprintf(stderr, "usage: bench_gateway [--calls N] [--nagle]\n");
      return 2;
    }
  }
  long warm = calls / 10 < 50 ? 50 : calls / 10;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  fake_http *f = fake_http_start();
  if (!f)
    return 1;
  fake_http_set_handler(f, handler, NULL);
  const char *base = fake_http_url(f);

  series bare = {0}, llm = {0}, rt = {0};
  int nagle = 0;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--nagle"))
      nagle = 1;
  atomic_store(&g_rescan, !nagle);
  int rc = run_bare(base, warm, calls, &bare);
  atomic_store(&g_rescan, !nagle);
  if (!rc)
    rc = run_llm(base, warm, calls, &llm);
  atomic_store(&g_rescan, !nagle);
  if (!rc)
    rc = run_router(base, warm, calls, &rt);
  if (!rc) {
    printf("bench_gateway: %ld calls each (after %ld warm-up), fake OpenAI "
           "on 127.0.0.1, keep-alive%s\n",
           calls, warm, nagle ? ", Nagle left on (--nagle)" : ", TCP_NODELAY");
    printf("  %-8s %8s %8s %8s   (us per call)\n", "series", "p50", "p95",
           "mean");
    row("bare", &bare);
    row("llm", &llm);
    row("router", &rt);
    printf("ratios against bare libcurl (same run):\n");
    ratio("llm / bare", &llm, &bare);
    ratio("router / bare", &rt, &bare);
    ratio("router / llm", &rt, &llm);
    printf("  connections accepted by the fake: %zu for %zu requests\n",
           fake_http_connections(f), fake_http_count(f));
  }
  free(bare.v);
  free(llm.v);
  free(rt.v);
  fake_http_stop(f);
  curl_global_cleanup();
  return rc ? 1 : 0;
}
