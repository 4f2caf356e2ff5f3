/* bench/bench_http.c -- HTTP throughput of `ragd serve`'s retrieval
** endpoints under wrk, next to the same queries run in-process through
** the endpoint's own retrieval call, in the same run.
** Usage: bench_http [--out DIR] [--keep] [--seconds N] [--connections N]
**                   [--threads N] [--server-threads N] [--json] ...
** Divisions:
**   1. Options
**   2. The work directory: replicated corpus, config, dataset, KB
**   3. The server: `ragd serve` as a child process
**   4. HTTP series: wrk with bench/wrk/post_bodies.lua
**   5. In-process series: api_kb_search on as many threads as the server
**   6. Report: table or JSON
** The series: POST /v1/datasets/{id}/retrieve (Dify Knowledge API) with
** hybrid_search, semantic_search and full_text_search, and POST
** /retrieval (Dify External Knowledge API; the config's mode, hybrid).
** The in-process side is api_kb_search (api/api_int.h), the call both
** handlers make, on a registry opened on the same data directory: what
** it lacks is HTTP, JSON in and out, and the handler's own work (the
** retrieve handler also reads the hits' chunk rows). Each series runs
** HTTP first, then in-process, so both see about the same machine load.
** Not a test: it prints figures and asserts nothing (it fails only when
** the server cannot start or a sanity request does not answer 200 with
** top_k records). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "api/api_int.h"
#include "bench/bench_util.h"
#include "core/rag_log.h"
#include "index/faiss_simd.h"
#include "ingest/ing.h"
#include "ingest/ing_kb.h"

#define DEFAULT_DATASET RAG_SOURCE_DIR "/../shared/datasets/cranfield"
#define DEFAULT_OUT "/tmp/ragd-bench-http"
#define LUA_SCRIPT RAG_SOURCE_DIR "/bench/wrk/post_bodies.lua"
#define TARGET_DOCS 100000 /* the default replica count reaches this */
#define FACTORY "IDMap2,HNSW32"
#define TOP_K 10
#define WARMUP_S 2       /* untimed load before each series, both sides */
#define START_WAIT_S 600 /* loading a 100k-vector index may be slow */
#define OFFSET_STRIDE 61 /* thread t starts at query 61*t, as the Lua does */

/* ---- 1. Options ---- */

typedef struct opts {
  const char *out, *dataset, *ragd, *wrk;
  const char *only; /* --series: comma-separated keys; NULL = all */
  int keep, seconds, connections, threads, server_threads, replicas;
  int json, perf;
} opts;

static const char usage[] =
    "usage: bench_http [--out DIR] [--keep] [--seconds N] [--connections N]\n"
    "                  [--threads N] [--server-threads N] [--json]\n"
    "                  [--dataset DIR] [--replicas N] [--ragd PATH]\n"
    "                  [--wrk PATH] [--perf] [--series LIST]\n"
    "  --out DIR            corpus, data directory, logs and figures\n"
    "                       (default " DEFAULT_OUT ")\n"
    "  --keep               reuse the KB already built in DIR\n"
    "  --seconds N          length of each series, each side (15)\n"
    "  --connections N      wrk connections (64)\n"
    "  --threads N          wrk threads (2)\n"
    "  --server-threads N   ragd serve --threads (default: the server's)\n"
    "  --json               print one JSON object instead of the table\n"
    "  --dataset DIR        BEIR dataset (default " DEFAULT_DATASET ")\n"
    "  --replicas N         copies of each document (default: enough for\n"
    "                       100000)\n"
    "  --ragd PATH          the ragd binary (default: the one built here)\n"
    "  --wrk PATH           wrk (default: wrk on PATH)\n"
    "  --perf               perf record -g the server during each HTTP\n"
    "                       series into DIR/perf-<series>.data\n"
    "  --series LIST        run only these, comma-separated: retrieve_hybrid,\n"
    "                       retrieve_semantic, retrieve_full_text, retrieval\n";

static int parse_int(const char *s, int lo, int hi, int *out) {
  int64_t v;
  if (rag_parse_i64(s, &v) || v < lo || v > hi)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option lo[] = {
      {"out", required_argument, 0, 'o'},
      {"keep", no_argument, 0, 'k'},
      {"seconds", required_argument, 0, 's'},
      {"connections", required_argument, 0, 'c'},
      {"threads", required_argument, 0, 't'},
      {"server-threads", required_argument, 0, 'T'},
      {"json", no_argument, 0, 'j'},
      {"dataset", required_argument, 0, 'd'},
      {"replicas", required_argument, 0, 'r'},
      {"ragd", required_argument, 0, 'R'},
      {"wrk", required_argument, 0, 'w'},
      {"perf", no_argument, 0, 'p'},
      {"series", required_argument, 0, 'S'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  memset(o, 0, sizeof(*o));
  o->out = DEFAULT_OUT;
  o->dataset = DEFAULT_DATASET;
  o->ragd = RAGD_BIN;
  o->wrk = "wrk";
  o->seconds = 15;
  o->connections = 64;
  o->threads = 2;
  int c, bad = 0;
  while (!bad && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'o':
      o->out = optarg;
      break;
    case 'k':
      o->keep = 1;
      break;
    case 's':
      bad = parse_int(optarg, 1, 3600, &o->seconds);
      break;
    case 'c':
      bad = parse_int(optarg, 1, 10000, &o->connections);
      break;
    case 't':
      bad = parse_int(optarg, 1, 256, &o->threads);
      break;
    case 'T':
      bad = parse_int(optarg, 1, 256, &o->server_threads);
      break;
    case 'j':
      o->json = 1;
      break;
    case 'd':
      o->dataset = optarg;
      break;
    case 'r':
      bad = parse_int(optarg, 1, 100000, &o->replicas);
      break;
    case 'R':
      o->ragd = optarg;
      break;
    case 'w':
      o->wrk = optarg;
      break;
    case 'p':
      o->perf = 1;
      break;
    case 'S':
      o->only = optarg;
      break;
    case 'h':
      fputs(usage, stdout);
      return 1;
    default:
      bad = 1;
    }
  }
  if (bad || optind < argc || o->connections < o->threads) {
    fputs(usage, stderr);
    return -1;
  }
  return 0;
}

/* ---- 2. The work directory ---- */

typedef struct work {
  char dir[2048], corpus[2300], config[2300], data[2300], kbdir[2400];
  char ready[2300], log[2300];
  char id[40]; /* the dataset's uuid */
  char **queries;
  size_t nq, ndocs;
  int replicas, reused;
  double ingest_s;
  int64_t chunks;
} work;

static int on_query(void *ctx, const cJSON *j) {
  work *w = ctx;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
  if (!cJSON_IsString(t) || !*t->valuestring)
    return 0;
  if ((w->nq & (w->nq - 1)) == 0) {
    char **p = realloc(w->queries, (w->nq ? 2 * w->nq : 1) * sizeof(*p));
    if (!p)
      return -1;
    w->queries = p;
  }
  w->queries[w->nq] = rag_strdup(t->valuestring);
  return w->queries[w->nq++] ? 0 : -1;
}

/* Copies corpus.jsonl `replicas` times, as bench_ingest_query does: each
** copy's _id becomes "<rep>-<id>" and its title gets " r<rep>", so no two
** lines are byte-identical and ingest cannot skip one. */
typedef struct copy_ctx {
  FILE *f;
  int rep;
  size_t n;
} copy_ctx;

static int on_doc(void *ctx, const cJSON *j) {
  copy_ctx *c = ctx;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id");
  const cJSON *ti = cJSON_GetObjectItemCaseSensitive(j, "title");
  const cJSON *tx = cJSON_GetObjectItemCaseSensitive(j, "text");
  char idb[128], tib[1024];
  snprintf(idb, sizeof(idb), "%d-%s", c->rep,
           cJSON_IsString(id) ? id->valuestring : "");
  snprintf(tib, sizeof(tib), "%s r%d",
           cJSON_IsString(ti) ? ti->valuestring : "", c->rep);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "_id", idb);
  cJSON_AddStringToObject(o, "title", tib);
  cJSON_AddStringToObject(o, "text", cJSON_IsString(tx) ? tx->valuestring : "");
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s)
    return -1;
  fprintf(c->f, "%s\n", s);
  free(s);
  c->n++;
  return 0;
}

static int write_corpus(const char *src, int *replicas, const char *dst,
                        size_t *ndocs) {
  FILE *f = fopen(dst, "w");
  if (!f)
    return -1;
  copy_ctx c = {f, 0, 0};
  int rc = bench_each_line(src, on_doc, &c); /* replica 0: also counts */
  size_t per = c.n;
  if (!rc && per && *replicas == 0)
    *replicas = (int)((TARGET_DOCS + per - 1) / per);
  for (c.rep = 1; !rc && per && c.rep < *replicas; c.rep++)
    rc = bench_each_line(src, on_doc, &c);
  *ndocs = c.n;
  int bad = ferror(f);
  return fclose(f) != 0 || bad || rc || per == 0 ? -1 : 0;
}

static int write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int bad = fputs(text, f) < 0;
  return fclose(f) != 0 || bad ? -1 : 0;
}

/* Reads the dataset id that a finished build left in DIR/ready. */
static int read_ready(work *w) {
  FILE *f = fopen(w->ready, "r");
  if (!f)
    return -1;
  char line[64] = "";
  int ok = fgets(line, sizeof(line), f) != NULL;
  fclose(f);
  line[strcspn(line, "\r\n")] = '\0';
  if (!ok || !api_is_uuid(line))
    return -1;
  snprintf(w->id, sizeof(w->id), "%.36s", line);
  return 0;
}

static void on_progress(void *ctx, const ing_summary *s) {
  double *last = ctx, now = rag_now();
  if (now - *last < 10)
    return; /* a line every 10 s shows it is alive */
  *last = now;
  fprintf(stderr, "bench:   %lld docs, %lld chunks, %.0f chunks/s\n",
          (long long)s->files_done, (long long)s->chunks_added,
          s->seconds > 0 ? s->chunks_added / s->seconds : 0);
}

/* A new dataset in DIR/data laid out as api/api_kbs.c describes:
** <uuid>/dataset.json, and the replicated corpus ingested straight into
** <uuid>/ with the HNSW factory of the config (no docs/: the chunks'
** source is the corpus file, as a watched folder's would be). */
static rag_status build(const opts *o, const rag_cfg *cfg, work *w,
                        rag_err *err) {
  char path[2600];
  bench_rm_tree(w->data);
  unlink(w->ready);
  if (mkdir(w->data, 0755) != 0)
    return rag_fail(err, RAG_IO, "bench: mkdir %s: %s", w->data,
                    strerror(errno));
  if (bench_join(path, sizeof(path), o->dataset, "corpus.jsonl"))
    return rag_fail(err, RAG_TOOBIG, "bench: path too long");
  fprintf(stderr, "bench: writing the replicated corpus to %s\n", w->corpus);
  w->replicas = o->replicas;
  if (write_corpus(path, &w->replicas, w->corpus, &w->ndocs))
    return rag_fail(err, RAG_IO, "bench: cannot copy %s to %s", path,
                    w->corpus);
  api_uuid4(w->id);
  snprintf(w->kbdir, sizeof(w->kbdir), "%s/%s", w->data, w->id);
  if (mkdir(w->kbdir, 0755) != 0)
    return rag_fail(err, RAG_IO, "bench: mkdir %s", w->kbdir);
  snprintf(path, sizeof(path), "%s/dataset.json", w->kbdir);
  char meta[256];
  snprintf(meta, sizeof(meta),
           "{\"name\": \"bench-http\", \"description\": \"bench_http: "
           "Cranfield x%d\", \"created_at\": %lld}\n",
           w->replicas, (long long)time(NULL));
  if (write_text(path, meta))
    return rag_fail(err, RAG_IO, "bench: cannot write %s", path);
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 1; /* factory NULL: the config's, as the server opens it */
  ing_kb *k = NULL;
  fprintf(stderr, "bench: ingesting %zu docs into %s (%s)\n", w->ndocs,
          w->kbdir, cfg->index.factory);
  rag_status rc = ing_kb_open(cfg, w->kbdir, &ko, &k, err);
  double last = rag_now(), t0 = last;
  ing_run_opts ro = {0};
  ro.progress = on_progress;
  ro.ctx = &last;
  ing_summary s;
  memset(&s, 0, sizeof(s));
  const char *paths[1] = {w->corpus};
  if (!rc)
    rc = ing_paths(k, paths, 1, &ro, &s, err);
  w->ingest_s = rag_now() - t0;
  w->chunks = s.chunks_added;
  ing_kb_close(k);
  char line[64];
  snprintf(line, sizeof(line), "%s\n", w->id);
  if (!rc && write_text(w->ready, line))
    rc = rag_fail(err, RAG_IO, "bench: cannot write %s", w->ready);
  return rc;
}

/* Lays out DIR and, unless --keep finds a finished build there, builds
** the KB. A DIR that holds anything else is refused: the build removes
** DIR/data. */
static rag_status prepare(const opts *o, work *w, rag_cfg *cfg, rag_err *err) {
  char marker[2300];
  snprintf(w->dir, sizeof(w->dir), "%s", o->out);
  snprintf(w->corpus, sizeof(w->corpus), "%s/corpus.jsonl", w->dir);
  snprintf(w->config, sizeof(w->config), "%s/ragd.json", w->dir);
  snprintf(w->data, sizeof(w->data), "%s/data", w->dir);
  snprintf(w->ready, sizeof(w->ready), "%s/ready", w->dir);
  snprintf(w->log, sizeof(w->log), "%s/serve.log", w->dir);
  snprintf(marker, sizeof(marker), "%s/.bench_http", w->dir);
  struct stat st;
  if (mkdir(w->dir, 0755) != 0 && errno != EEXIST)
    return rag_fail(err, RAG_IO, "bench: mkdir %s: %s", w->dir,
                    strerror(errno));
  if (stat(marker, &st) != 0 && stat(w->data, &st) == 0)
    return rag_fail(err, RAG_BADARG,
                    "bench: %s holds a data/ this program did not make; "
                    "pick another --out",
                    w->dir);
  if (write_text(marker, "bench_http work directory\n") ||
      write_text(w->config, "{\"index\": {\"factory\": \"" FACTORY "\"}}\n"))
    return rag_fail(err, RAG_IO, "bench: cannot write in %s", w->dir);
  rag_status rc = rag_cfg_load(cfg, w->config, err);
  if (rc)
    return rc;
  if (o->keep && read_ready(w) == 0) {
    snprintf(w->kbdir, sizeof(w->kbdir), "%s/%s", w->data, w->id);
    if (stat(w->kbdir, &st) == 0) {
      w->reused = 1;
      fprintf(stderr, "bench: reusing dataset %s in %s\n", w->id, w->data);
      return RAG_OK;
    }
  }
  return build(o, cfg, w, err);
}

/* ---- 3. The server ---- */

typedef struct server {
  pid_t pid;
  int port, threads;
} server;

/* Starts `ragd --config C --log-level info serve --port 0 --data D` with
** its output in DIR/serve.log, and waits for the line that names the port
** (printed once the datasets are open and the socket listens). */
static rag_status server_start(const opts *o, const work *w, server *s,
                               rag_err *err) {
  char threads[16];
  snprintf(threads, sizeof(threads), "%d", o->server_threads);
  const char *argv[16] = {o->ragd,  "--config", w->config, "--log-level",
                          "info",   "serve",    "--port",  "0",
                          "--data", w->data};
  int n = 10;
  if (o->server_threads) {
    argv[n++] = "--threads";
    argv[n++] = threads;
  }
  argv[n] = NULL;
  /* Emptied here, not only by the child: a line left by an earlier run
  ** must not be read as this server's port. */
  if (write_text(w->log, ""))
    return rag_fail(err, RAG_IO, "bench: cannot write %s", w->log);
  fflush(NULL);
  s->pid = fork();
  if (s->pid < 0)
    return rag_fail(err, RAG_IO, "bench: fork: %s", strerror(errno));
  if (s->pid == 0) {
    int fd = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(o->ragd, (char *const *)argv);
    _exit(127);
  }
  for (double t0 = rag_now(); rag_now() - t0 < START_WAIT_S;) {
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      return rag_fail(err, RAG_IO, "bench: ragd serve exited; see %s", w->log);
    }
    FILE *f = fopen(w->log, "r");
    char line[1024];
    while (f && fgets(line, sizeof(line), f)) {
      const char *p = strstr(line, "(");
      if (strstr(line, "listening on http") && p)
        sscanf(p, "(%d threads", &s->threads);
      if (sscanf(line, "ragd: serving on port %d", &s->port) == 1)
        break;
    }
    if (f)
      fclose(f);
    if (s->port > 0)
      return RAG_OK;
    usleep(100 * 1000);
  }
  return rag_fail(err, RAG_TIMEOUT, "bench: ragd serve did not start; see %s",
                  w->log);
}

/* CPU time (utime + stime, clock ticks) of process pid; -1 if unknown. */
static long long cpu_ticks(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long ut, st;
  if (!p || sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
                   "%llu",
                   &ut, &st) != 2)
    return -1;
  return (long long)(ut + st);
}

/* When wrk stops, the server still works through the requests it has
** read (64 slow full-text queries take the server tens of seconds): wait
** until it uses under 2% of a core, so the next series, HTTP or
** in-process, does not share the machine with that backlog. */
static void server_wait_idle(const server *s) {
  long long prev = cpu_ticks(s->pid);
  for (int i = 0; prev >= 0 && i < 2400; i++) { /* at most 10 minutes */
    usleep(250 * 1000);
    long long now = cpu_ticks(s->pid);
    if (now < 0 || (now - prev) * 4 < sysconf(_SC_CLK_TCK) / 50 + 1)
      return;
    prev = now;
  }
}

static void server_stop(server *s) {
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 300; i++) { /* 30 s, then kill */
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
      return;
    usleep(100 * 1000);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
}

/* ---- 4. HTTP series ---- */

typedef struct series {
  const char *key, *label;
  const char *method; /* retrieve: Dify's search_method; NULL: /retrieval */
  rag_mode mode;      /* what the handler passes to api_kb_search */
} series;

static const series all_series[] = {
    {"retrieve_hybrid", "retrieve hybrid", "hybrid_search", RAG_MODE_HYBRID},
    {"retrieve_semantic", "retrieve semantic", "semantic_search",
     RAG_MODE_VECTOR},
    {"retrieve_full_text", "retrieve full_text", "full_text_search",
     RAG_MODE_FULLTEXT},
    {"retrieval", "/retrieval (ext.)", NULL, RAG_MODE_HYBRID},
};
#define NSERIES (sizeof(all_series) / sizeof(all_series[0]))

/* 1 when --series names key (or was not given). */
static int wanted(const opts *o, const char *key) {
  size_t n = strlen(key);
  for (const char *p = o->only; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : 0)
    if (!strncmp(p, key, n) && (p[n] == ',' || p[n] == '\0'))
      return 1;
  return o->only == NULL;
}

typedef struct figs {
  int ran; /* the series was selected and measured */
  /* HTTP (wrk) */
  double rps, p50, p90, p99, mean; /* latencies in ms */
  int64_t requests, errors;
  /* in-process */
  double qps, ip50, ip99;
  /* CPU time per request, microseconds: the server process over the
  ** timed wrk run, wrk itself, and this process over the in-process run.
  ** Unlike req/s, these hardly move with the machine's load. */
  double cpu_srv, cpu_wrk, cpu_in;
  int64_t queries, ierrors;
} figs;

static char *body_of(const series *s, const char *id, const char *q) {
  cJSON *o = cJSON_CreateObject();
  if (s->method) {
    cJSON_AddStringToObject(o, "query", q);
    cJSON *m = cJSON_AddObjectToObject(o, "retrieval_model");
    cJSON_AddStringToObject(m, "search_method", s->method);
    cJSON_AddBoolToObject(m, "reranking_enable", 0);
    cJSON_AddNumberToObject(m, "top_k", TOP_K);
  } else {
    cJSON_AddStringToObject(o, "knowledge_id", id);
    cJSON_AddStringToObject(o, "query", q);
    cJSON *r = cJSON_AddObjectToObject(o, "retrieval_setting");
    cJSON_AddNumberToObject(r, "top_k", TOP_K);
    cJSON_AddNumberToObject(r, "score_threshold", 0.0);
  }
  char *b = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return b;
}

static void path_of(const series *s, const char *id, char *buf, size_t n) {
  if (s->method)
    snprintf(buf, n, "/v1/datasets/%s/retrieve", id);
  else
    snprintf(buf, n, "/retrieval");
}

/* DIR/bodies-<key>.jsonl: one request body per query (the Lua's input). */
static int write_bodies(const work *w, const series *s, char *path, size_t n) {
  snprintf(path, n, "%s/bodies-%s.jsonl", w->dir, s->key);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  for (size_t i = 0; i < w->nq; i++) {
    char *b = body_of(s, w->id, w->queries[i]);
    if (b)
      fprintf(f, "%s\n", b);
    free(b);
  }
  int bad = ferror(f);
  return fclose(f) != 0 || bad ? -1 : 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ctx) {
  return rag_buf_append(ctx, p, sz * n) ? 0 : sz * n;
}

/* One request with libcurl before the load: status 200 and top_k
** records, so wrk never measures a fast stream of errors. */
static rag_status sanity(const server *sv, const work *w, const series *s,
                         rag_err *err) {
  char path[128], url[256];
  path_of(s, w->id, path, sizeof(path));
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sv->port, path);
  char *body = body_of(s, w->id, w->queries[0]);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                 "application/json");
  rag_buf b;
  rag_buf_init(&b, 16u << 20);
  long code = 0;
  if (c && body && h) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
    if (curl_easy_perform(c) == CURLE_OK)
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  }
  cJSON *j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
  int nrec = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "records"));
  rag_status rc = RAG_OK;
  if (code != 200 || nrec != TOP_K)
    rc = rag_fail(err, RAG_UPSTREAM,
                  "bench: %s answered %ld with %d records "
                  "(want 200 with %d): %.200s",
                  path, code, nrec, TOP_K, b.data ? b.data : "");
  cJSON_Delete(j);
  rag_buf_free(&b);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  free(body);
  return rc;
}

/* Requests the server has answered on the series' route, from the
** ragd_http_request_duration_seconds_count lines of GET /metrics; -1
** when they cannot be read. */
static double served(const server *sv, const series *s) {
  const char *route = s->method ? "/v1/datasets/{id}/retrieve" : "/retrieval";
  char url[128], want[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", sv->port);
  snprintf(want, sizeof(want), "route=\"%s\"", route);
  CURL *c = curl_easy_init();
  rag_buf b;
  rag_buf_init(&b, 64u << 20);
  double total = -1;
  if (c) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
    if (curl_easy_perform(c) == CURLE_OK && rag_buf_append(&b, "", 1) == 0)
      total = 0;
  }
  static const char key[] = "ragd_http_request_duration_seconds_count{";
  for (char *l = total < 0 ? NULL : b.data; l && *l;) {
    char *nl = strchr(l, '\n');
    if (nl)
      *nl = '\0';
    const char *end = strrchr(l, '}'); /* the labels may hold {id} */
    if (!strncmp(l, key, sizeof(key) - 1) && end && strstr(l, want) &&
        strstr(l, want) < end)
      total += strtod(end + 1, NULL);
    l = nl ? nl + 1 : NULL;
  }
  rag_buf_free(&b);
  curl_easy_cleanup(c);
  return total;
}

static double ru_seconds(const struct rusage *r) {
  return (double)r->ru_utime.tv_sec + r->ru_utime.tv_usec / 1e6 +
         (double)r->ru_stime.tv_sec + r->ru_stime.tv_usec / 1e6;
}

static pid_t perf_start(const opts *o, const work *w, const server *sv,
                        const series *s) {
  char out[2400], pid[16];
  snprintf(out, sizeof(out), "%s/perf-%s.data", w->dir, s->key);
  snprintf(pid, sizeof(pid), "%d", (int)sv->pid);
  fflush(NULL);
  pid_t p = o->perf ? fork() : -1;
  if (p == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("perf", "perf", "record", "-g", "-p", pid, "-o", out, (char *)NULL);
    _exit(127);
  }
  return p;
}

static void perf_stop(pid_t p) {
  if (p <= 0)
    return;
  kill(p, SIGINT); /* perf writes its file on SIGINT */
  waitpid(p, NULL, 0);
}

/* Runs wrk for `seconds` against the series' endpoint and reads the
** WRK_JSON line of the script's done(). The whole output goes to
** DIR/wrk-<key>.txt. wrk's timeout (2 s by default) is set past the
** series' end: a slow reply is then a slow latency, not a "timeout"
** error dropped from the percentiles. */
static rag_status run_wrk(const opts *o, const work *w, const server *sv,
                          const series *s, const char *bodies, int seconds,
                          figs *f, rag_err *err) {
  char path[128], cmd[8192], txt[2400];
  path_of(s, w->id, path, sizeof(path));
  snprintf(txt, sizeof(txt), "%s/wrk-%s.txt", w->dir, s->key);
  snprintf(cmd, sizeof(cmd),
           "'%s' -t%d -c%d -d%ds --timeout %ds --latency -s '%s' "
           "'http://127.0.0.1:%d%s' -- '%s' 2>&1",
           o->wrk, o->threads, o->connections, seconds, 2 * seconds + 2,
           LUA_SCRIPT, sv->port, path, bodies);
  fflush(NULL);
  struct rusage ru0, ru1;
  getrusage(RUSAGE_CHILDREN, &ru0);
  FILE *p = popen(cmd, "r");
  FILE *t = fopen(txt, "w");
  if (!p) {
    if (t)
      fclose(t);
    return rag_fail(err, RAG_IO, "bench: cannot run %s", o->wrk);
  }
  char line[4096];
  cJSON *j = NULL;
  while (fgets(line, sizeof(line), p)) {
    if (t)
      fputs(line, t);
    if (!strncmp(line, "WRK_JSON ", 9) && !j)
      j = cJSON_Parse(line + 9);
  }
  int st = pclose(p);
  getrusage(RUSAGE_CHILDREN, &ru1);
  double wrk_s = ru_seconds(&ru1) - ru_seconds(&ru0);
  if (t)
    fclose(t);
  if (!j)
    return rag_fail(err, RAG_IO,
                    "bench: wrk gave no figures (exit %d); "
                    "see %s",
                    st, txt);
#define NUM(k) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, k))
  double dur = NUM("duration_us") / 1e6;
  f->requests = (int64_t)NUM("requests");
  f->cpu_wrk = f->requests ? wrk_s * 1e6 / (double)f->requests : 0;
  f->rps = dur > 0 ? (double)f->requests / dur : 0;
  f->p50 = NUM("p50_us") / 1000;
  f->p90 = NUM("p90_us") / 1000;
  f->p99 = NUM("p99_us") / 1000;
  f->mean = NUM("mean_us") / 1000;
  f->errors =
      (int64_t)(NUM("connect_errors") + NUM("read_errors") +
                NUM("write_errors") + NUM("status_errors") + NUM("timeouts"));
#undef NUM
  cJSON_Delete(j);
  return RAG_OK;
}

/* ---- 5. In-process series ---- */

typedef struct iproc {
  api_kb *k;
  const work *w;
  ret_query q; /* text set per query */
  double until;
  int tid;
  bench_series lat;
  int64_t errors;
  rag_err err; /* the first failure */
} iproc;

static void *iproc_main(void *arg) {
  iproc *p = arg;
  rag_arena *a = rag_arena_new(64u << 20); /* as the server's per request */
  size_t i = (size_t)p->tid * OFFSET_STRIDE % p->w->nq;
  while (a && rag_now() < p->until) {
    ret_query q = p->q;
    q.text = p->w->queries[i];
    i = (i + 1) % p->w->nq;
    ret_hit *hits;
    size_t n;
    rag_err e;
    rag_err_clear(&e);
    double t0 = rag_now();
    rag_status rc = api_kb_search(p->k, &q, a, &hits, &n, &e);
    bench_series_push(&p->lat, bench_ms_since(t0));
    rag_arena_reset(a);
    if (rc && p->errors++ == 0)
      p->err = e;
  }
  if (!a)
    p->errors++;
  rag_arena_free(a);
  return NULL;
}

/* nthreads threads call api_kb_search for `seconds`, each cycling
** through the queries from its own offset, as the server's workers do. */
static rag_status run_inproc(api_kb *k, const work *w, const rag_cfg *cfg,
                             const series *s, int nthreads, int seconds,
                             figs *f, rag_err *err) {
  iproc *ps = calloc((size_t)nthreads, sizeof(*ps));
  pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
  if (!ps || !th) {
    free(ps);
    free(th);
    return rag_fail(err, RAG_NOMEM, "bench: out of memory");
  }
  /* As the handlers build it: the config's query, no threshold, no
  ** rerank, top_k 10, the series' mode. */
  ret_query q = ret_query_default(cfg);
  q.threshold = 0;
  q.rerank = 0;
  q.top_k = TOP_K;
  q.mode = s->mode;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  double t0 = rag_now();
  int started = 0;
  for (int i = 0; i < nthreads; i++) {
    ps[i].k = k;
    ps[i].w = w;
    ps[i].q = q;
    ps[i].tid = i;
    ps[i].until = t0 + seconds;
    if (pthread_create(&th[i], NULL, iproc_main, &ps[i]) == 0)
      started++;
    else
      break;
  }
  for (int i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  double wall = rag_now() - t0;
  bench_series all = {0};
  f->queries = 0;
  f->ierrors = 0;
  for (int i = 0; i < started; i++) {
    for (size_t j = 0; j < ps[i].lat.n; j++)
      bench_series_push(&all, ps[i].lat.ms[j]);
    f->queries += (int64_t)ps[i].lat.n;
    f->ierrors += ps[i].errors;
    if (ps[i].errors)
      fprintf(stderr, "bench: in-process thread %d: %lld errors: %s\n", i,
              (long long)ps[i].errors, ps[i].err.msg);
    bench_series_free(&ps[i].lat);
  }
  f->qps = wall > 0 ? (double)f->queries / wall : 0;
  getrusage(RUSAGE_SELF, &ru1);
  f->cpu_in = f->queries ? (ru_seconds(&ru1) - ru_seconds(&ru0)) * 1e6 /
                               (double)f->queries
                         : 0;
  f->ip50 = bench_pct(&all, 50);
  f->ip99 = bench_pct(&all, 99);
  bench_series_free(&all);
  free(ps);
  free(th);
  return started == nthreads
             ? RAG_OK
             : rag_fail(err, RAG_IO, "bench: cannot start %d threads",
                        nthreads);
}

/* ---- 6. Report ---- */

typedef struct report {
  const opts *o;
  const work *w;
  int server_threads;
  char load0[128], load1[128];
  const char *omp_wait;
  const char *faiss_simd; /* RAGD_FAISS_SIMD: "0" = stock FAISS path */
  figs f[NSERIES];
} report;

static void loadavg(char *buf, size_t n) {
  FILE *f = fopen("/proc/loadavg", "r");
  buf[0] = '\0';
  if (f && fgets(buf, (int)n, f))
    buf[strcspn(buf, "\n")] = '\0';
  if (f)
    fclose(f);
}

static double ratio(double a, double b) {
  return b > 0 ? a / b : 0;
}

static void print_table(const report *r) {
  const work *w = r->w;
  printf("bench_http: %zu Cranfield queries over a KB of %lld chunks (%s, "
         "hash embedder), top_k %d\n",
         w->nq, (long long)w->chunks, FACTORY, TOP_K);
  printf("wrk: %d connections, %d threads, %d s per series after %d s "
         "warm-up; ragd serve: %d worker threads; in-process: %d threads\n",
         r->o->connections, r->o->threads, r->o->seconds, WARMUP_S,
         r->server_threads, r->server_threads);
  printf("OMP_WAIT_POLICY=%s; RAGD_FAISS_SIMD=%s (CPU has AVX2+FMA: %s)\n",
         r->omp_wait ? r->omp_wait : "(unset)",
         r->faiss_simd ? r->faiss_simd : "(unset)",
         faiss_simd_cpu_ok() ? "yes" : "no");
  printf("load average before: %s; after: %s\n\n", r->load0, r->load1);
  printf("%-20s %8s %8s %8s %7s | %8s %8s %8s | %6s %8s\n", "series",
         "HTTP r/s", "p50 ms", "p99 ms", "errors", "in q/s", "p50 ms", "p99 ms",
         "ratio", "p50 diff");
  for (size_t i = 0; i < NSERIES; i++) {
    const figs *f = &r->f[i];
    if (!f->ran)
      continue;
    printf("%-20s %8.0f %8.2f %8.2f %7lld | %8.0f %8.2f %8.2f | %6.2f %8.2f\n",
           all_series[i].label, f->rps, f->p50, f->p99, (long long)f->errors,
           f->qps, f->ip50, f->ip99, ratio(f->rps, f->qps), f->p50 - f->ip50);
  }
  printf("\n%-20s %12s %12s %12s %8s\n", "CPU us per request", "ragd serve",
         "wrk", "in-process", "ratio");
  for (size_t i = 0; i < NSERIES; i++) {
    const figs *f = &r->f[i];
    if (f->ran)
      printf("%-20s %12.0f %12.0f %12.0f %8.2f\n", all_series[i].label,
             f->cpu_srv, f->cpu_wrk, f->cpu_in, ratio(f->cpu_srv, f->cpu_in));
  }
  printf("\nerrors: wrk's socket errors (connect, read, write, timeout) plus "
         "replies with a status above 399; in-process errors: %lld\n",
         (long long)(r->f[0].ierrors + r->f[1].ierrors + r->f[2].ierrors +
                     r->f[3].ierrors));
}

static cJSON *json_of(const report *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "factory", FACTORY);
  cJSON_AddNumberToObject(o, "chunks", (double)r->w->chunks);
  cJSON_AddNumberToObject(o, "queries", (double)r->w->nq);
  cJSON_AddNumberToObject(o, "top_k", TOP_K);
  cJSON_AddNumberToObject(o, "connections", r->o->connections);
  cJSON_AddNumberToObject(o, "wrk_threads", r->o->threads);
  cJSON_AddNumberToObject(o, "seconds", r->o->seconds);
  cJSON_AddNumberToObject(o, "server_threads", r->server_threads);
  cJSON_AddStringToObject(o, "omp_wait_policy", r->omp_wait ? r->omp_wait : "");
  cJSON_AddStringToObject(o, "ragd_faiss_simd",
                          r->faiss_simd ? r->faiss_simd : "");
  cJSON_AddBoolToObject(o, "cpu_avx2_fma", faiss_simd_cpu_ok());
  cJSON_AddStringToObject(o, "loadavg_before", r->load0);
  cJSON_AddStringToObject(o, "loadavg_after", r->load1);
  if (!r->w->reused)
    cJSON_AddNumberToObject(o, "ingest_seconds", r->w->ingest_s);
  cJSON *ss = cJSON_AddObjectToObject(o, "series");
  for (size_t i = 0; i < NSERIES; i++) {
    const figs *f = &r->f[i];
    if (!f->ran)
      continue;
    cJSON *x = cJSON_AddObjectToObject(ss, all_series[i].key);
    cJSON *h = cJSON_AddObjectToObject(x, "http");
    cJSON_AddNumberToObject(h, "requests", (double)f->requests);
    cJSON_AddNumberToObject(h, "req_per_s", f->rps);
    cJSON_AddNumberToObject(h, "p50_ms", f->p50);
    cJSON_AddNumberToObject(h, "p90_ms", f->p90);
    cJSON_AddNumberToObject(h, "p99_ms", f->p99);
    cJSON_AddNumberToObject(h, "mean_ms", f->mean);
    cJSON_AddNumberToObject(h, "errors", (double)f->errors);
    cJSON_AddNumberToObject(h, "server_cpu_us_per_request", f->cpu_srv);
    cJSON_AddNumberToObject(h, "wrk_cpu_us_per_request", f->cpu_wrk);
    cJSON *p = cJSON_AddObjectToObject(x, "in_process");
    cJSON_AddNumberToObject(p, "queries", (double)f->queries);
    cJSON_AddNumberToObject(p, "q_per_s", f->qps);
    cJSON_AddNumberToObject(p, "p50_ms", f->ip50);
    cJSON_AddNumberToObject(p, "p99_ms", f->ip99);
    cJSON_AddNumberToObject(p, "errors", (double)f->ierrors);
    cJSON_AddNumberToObject(p, "cpu_us_per_query", f->cpu_in);
    cJSON_AddNumberToObject(x, "http_over_in_process", ratio(f->rps, f->qps));
    cJSON_AddNumberToObject(x, "p50_diff_ms", f->p50 - f->ip50);
  }
  return o;
}

/* ---- Orchestration ---- */

static rag_status run_series(const opts *o, const work *w, const server *sv,
                             const rag_cfg *cfg, api_kb *k, report *r,
                             rag_err *err) {
  rag_status rc = RAG_OK;
  for (size_t i = 0; !rc && i < NSERIES; i++) {
    const series *s = &all_series[i];
    char bodies[2400];
    figs warm;
    if (!wanted(o, s->key))
      continue;
    if (write_bodies(w, s, bodies, sizeof(bodies)))
      return rag_fail(err, RAG_IO, "bench: cannot write %s", bodies);
    rc = sanity(sv, w, s, err);
    if (rc)
      break;
    fprintf(stderr, "bench: %s: HTTP\n", s->label);
    rc = run_wrk(o, w, sv, s, bodies, WARMUP_S, &warm, err);
    server_wait_idle(sv);
    pid_t perf = rc ? -1 : perf_start(o, w, sv, s);
    /* CPU per request: from the start of the run until the server has
    ** also finished the requests in flight when wrk stopped, over every
    ** request it served meanwhile (its /metrics count), so a slow series
    ** of few replies is not charged for work on unanswered ones. */
    double n0 = served(sv, s), n1;
    long long t0 = cpu_ticks(sv->pid);
    if (!rc)
      rc = run_wrk(o, w, sv, s, bodies, o->seconds, &r->f[i], err);
    perf_stop(perf);
    server_wait_idle(sv);
    long long t1 = cpu_ticks(sv->pid);
    n1 = served(sv, s);
    if (n0 >= 0 && n1 > n0 && t0 >= 0 && t1 >= t0)
      r->f[i].cpu_srv =
          (double)(t1 - t0) * 1e6 / (double)sysconf(_SC_CLK_TCK) / (n1 - n0);
    if (!rc)
      fprintf(stderr, "bench: %s: in-process\n", s->label);
    if (!rc)
      rc = run_inproc(k, w, cfg, s, r->server_threads, WARMUP_S, &warm, err);
    if (!rc)
      rc = run_inproc(k, w, cfg, s, r->server_threads, o->seconds, &r->f[i],
                      err);
    r->f[i].ran = !rc;
  }
  return rc;
}

static rag_status run(const opts *o, work *w, report *r, rag_err *err) {
  rag_cfg cfg;
  memset(&cfg, 0, sizeof(cfg));
  rag_status rc = prepare(o, w, &cfg, err);
  server sv = {0, 0, 0};
  api_kbs *kbs = NULL;
  api_kb *k = NULL;
  if (!rc)
    rc = server_start(o, w, &sv, err);
  /* The server's worker count: its own log line, else what was asked. */
  r->server_threads = sv.threads > 0 ? sv.threads : o->server_threads;
  if (!rc && r->server_threads <= 0)
    rc = rag_fail(err, RAG_IO, "bench: no thread count in %s", w->log);
  /* The registry the server runs, opened here on the same directory:
  ** the same snapshot (ing_kb with the config's factory) and a pool of
  ** threads + 2 SQLite handles, as api_open sizes it. */
  if (!rc)
    rc = api_kbs_open(&cfg, w->data, r->server_threads + 2, &kbs, err);
  if (!rc && !(k = api_kbs_get(kbs, w->id)))
    rc = rag_fail(err, RAG_NOTFOUND, "bench: dataset %s not loaded", w->id);
  if (!rc && w->reused) { /* the chunk count of a kept build */
    rag_arena *a = rag_arena_new(0);
    api_kb_info info;
    if (a) {
      api_kb_info_get(k, a, &info);
      w->chunks = info.chunks;
    }
    rag_arena_free(a);
  }
  loadavg(r->load0, sizeof(r->load0));
  if (!rc)
    rc = run_series(o, w, &sv, &cfg, k, r, err);
  loadavg(r->load1, sizeof(r->load1));
  api_kb_release(k);
  api_kbs_close(kbs);
  server_stop(&sv);
  rag_cfg_free(&cfg);
  return rc;
}

int main(int argc, char **argv) {
  opts o;
  int p = parse_opts(argc, argv, &o);
  if (p)
    return p < 0 ? 2 : 0;
  sqlite3_initialize();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  rag_log_set_level(RAG_LOG_WARN);
  signal(SIGPIPE, SIG_IGN);

  work w;
  memset(&w, 0, sizeof(w));
  char path[2400];
  if (bench_join(path, sizeof(path), o.dataset, "queries.jsonl") ||
      bench_each_line(path, on_query, &w) || w.nq == 0) {
    fprintf(stderr, "bench: %s: no queries\n", o.dataset);
    return 1;
  }
  report r;
  memset(&r, 0, sizeof(r));
  r.o = &o;
  r.w = &w;
  r.omp_wait = getenv("OMP_WAIT_POLICY");
  r.faiss_simd = getenv("RAGD_FAISS_SIMD");
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = run(&o, &w, &r, &err);
  if (rc) {
    fprintf(stderr, "bench: %s\n", err.msg);
  } else {
    cJSON *j = json_of(&r);
    char *s = j ? cJSON_Print(j) : NULL;
    if (o.json && s)
      printf("%s\n", s);
    else
      print_table(&r);
    FILE *jf = bench_join(path, sizeof(path), w.dir, "bench_http.json") == 0
                   ? fopen(path, "w")
                   : NULL;
    if (jf && s)
      fprintf(jf, "%s\n", s);
    if (jf)
      fclose(jf);
    free(s);
    cJSON_Delete(j);
  }
  for (size_t i = 0; i < w.nq; i++)
    free(w.queries[i]);
  free(w.queries);
  curl_global_cleanup();
  sqlite3_shutdown();
  return rc ? 1 : 0;
}
