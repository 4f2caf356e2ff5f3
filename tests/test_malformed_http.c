/* tests/test_malformed_http.c -- A generated corpus of malformed HTTP
** requests (templates x mutations, deterministic from a seed) sent over raw
** sockets at a real `ragd serve` process (RAGD_BIN): wrong methods on every
** route, bad JSON (truncated, trailing garbage, NUL bytes, raw control
** bytes), wrong types for every field of every endpoint's body, deep
** nesting, huge numbers, invalid UTF-8 in bodies, headers, paths and query
** strings, oversized headers and bodies, bad Content-Length, chunked
** encoding abuse, path traversal in upload file names and ids, unknown
** routes, HTTP/0.9 and garbage request lines, and slow senders.
**
** Each case has a class:
**   APP     the request is well framed: it must get a 4xx whose body is a
**           JSON error ({"code","message"}, /retrieval's {error_code,
**           error_msg} or OpenAI's {"error":{...}}), valid UTF-8;
**   FRAMING the HTTP framing is broken: a 4xx (libmicrohttpd answers
**           these itself, with an HTML body), a 505 for an HTTP version it
**           does not speak, or the server closing the connection;
**   SLOW    slowloris (headers at one byte per second), a trickling body,
**           a short body, an idle connection, a stalled chunk: the
**           server must close the connection at its limit (header and
**           body deadlines, api_guard.c; 3 s here) or answer 4xx. They
**           run concurrently with the rest, so the test stays short.
** Not in the corpus, as HTTP allows them: bare LF line ends (RFC 9112
** 2.2), and a header line with an empty name, which libmicrohttpd drops
** before the handler sees the request.
** Afterwards the server must be the same process, its stderr free of
** sanitizer reports, a valid query must succeed and the KB must hold the
** same documents. RAGD_MALFORMED_SEED changes the seed; the corpus size and
** the counts per status are printed. */
#define TEST_TIMEOUT 280
#include "tests/cli_util.h"

#include "core/rag_hash.h"
#include "core/rag_utf8.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define KEY "malformed-admin-key"
#define MAX_BODY (256 * 1024) /* server.max_body_bytes in the config */
#define MAX_UPLOAD (512 * 1024)
#define CONN_TIMEOUT_S 3 /* server.connection_timeout_s */
#define MIN_CORPUS 10000
#define CLIENTS 4 /* threads sending the fast cases */

/* ---- the server process ---- */

typedef struct server {
  pid_t pid;
  int port;
  char log[4200];
} server;

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

static void server_start(server *s) {
  char data[4200], cfg[4200], json[1024], hex[65];
  snprintf(data, sizeof(data), "%s/data", test_tmpdir());
  snprintf(cfg, sizeof(cfg), "%s/ragd.json", test_tmpdir());
  snprintf(s->log, sizeof(s->log), "%s/serve.log", test_tmpdir());
  rag_sha256_hex(KEY, strlen(KEY), hex);
  snprintf(json, sizeof(json),
           "{\"log_level\":\"warn\",\"embedding\":{\"dim\":64},"
           "\"server\":{\"max_body_bytes\":%d,\"max_upload_bytes\":%d,"
           "\"connection_timeout_s\":%d,\"connection_limit\":512,"
           "\"header_timeout_s\":%d,\"body_timeout_s\":%d},"
           "\"auth\":{\"keys\":[{\"name\":\"adm\",\"sha256\":\"%s\","
           "\"scope\":\"admin\"}]}}",
           MAX_BODY, MAX_UPLOAD, CONN_TIMEOUT_S, CONN_TIMEOUT_S, CONN_TIMEOUT_S,
           hex);
  write_file(cfg, json);
  const char *bin = cli_bin();
  fflush(NULL);
  s->pid = fork();
  if (s->pid == 0) {
    int e = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(e, 1);
    dup2(e, 2);
    dup2(in, 0);
    execl(bin, bin, "--config", cfg, "serve", "--host", "127.0.0.1", "--port",
          "0", "--threads", "4", "--data", data, (char *)NULL);
    _exit(127);
  }
  ASSERT(s->pid > 0);
  for (int i = 0; i < 600; i++) { /* ASan builds start slowly */
    char *log = cli_slurp(s->log);
    const char *p = strstr(log, "serving on port ");
    if (p)
      s->port = atoi(p + strlen("serving on port "));
    int st = 0;
    if (!s->port && waitpid(s->pid, &st, WNOHANG) == s->pid)
      TEST_FAILF("ragd serve exited before listening:\n%s", log);
    free(log);
    if (s->port > 0)
      return;
    nap_ms(100);
  }
  kill(s->pid, SIGKILL);
  TEST_FAILF("ragd serve printed no port (log %s)", s->log);
}

/* SIGTERM; 0 when it exited 0 (LeakSanitizer runs at exit under ASan). */
static int server_stop(server *s) {
  kill(s->pid, SIGTERM);
  int st = 0;
  for (int i = 0; i < 300; i++) {
    if (waitpid(s->pid, &st, WNOHANG) == s->pid)
      return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
    nap_ms(100);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, &st, 0);
  return 1;
}

/* ---- raw HTTP ---- */

typedef struct reply {
  int status;   /* 0: no status line came */
  int closed;   /* the server closed the connection */
  int timedout; /* neither a reply nor a close within the wait */
  char *body;   /* malloc'd, NUL-terminated */
  size_t blen;
} reply;

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(fd >= 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  for (int i = 0; connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0; i++) {
    if (i > 50)
      TEST_FAILF("connect: %s", strerror(errno));
    nap_ms(20);
  }
  return fd;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* the server may answer and close before the body is sent */
    p += w, n -= (size_t)w;
  }
}

/* Reads one response (or EOF) within wait_ms. */
static reply read_reply(int fd, int wait_ms) {
  reply r = {0};
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long el =
        (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    if (el >= wait_ms) {
      r.timedout = 1;
      break;
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(wait_ms - el)) <= 0)
      continue;
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
    ssize_t n = recv(fd, buf + len, cap - len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      r.closed = 1;
      break;
    }
    len += (size_t)n;
    buf[len] = '\0';
    /* Complete when the headers and Content-Length bytes are in. */
    char *he = strstr(buf, "\r\n\r\n");
    if (he) {
      const char *cl = strcasestr(buf, "\r\nContent-Length:");
      if (cl && cl < he &&
          len >= (size_t)(he + 4 - buf) + (size_t)atol(cl + 17))
        break;
    }
  }
  buf[len] = '\0';
  if (len > 12 && !strncmp(buf, "HTTP/1.", 7))
    r.status = atoi(buf + 9);
  char *he = strstr(buf, "\r\n\r\n");
  r.body = rag_strdup(he ? he + 4 : "");
  r.blen = he ? len - (size_t)(he + 4 - buf) : 0;
  free(buf);
  return r;
}

static reply exchange(int port, const char *req, size_t n, int wait_ms) {
  int fd = dial(port);
  send_all(fd, req, n);
  reply r = read_reply(fd, wait_ms);
  close(fd);
  return r;
}

/* ---- building requests ---- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) {
  sb_add(b, s, strlen(s));
}
static void sb_fmt(sbuf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A request with Content-Length, the key, JSON type, Connection: close. */
static void http_req(sbuf *b, const char *method, const char *path,
                     const void *body, size_t blen) {
  sb_fmt(b, "%s ", method);
  sb_str(b, path);
  sb_fmt(b, " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " KEY
            "\r\nConnection: close\r\n");
  if (body) {
    sb_fmt(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
           blen);
    sb_add(b, body, blen);
  } else {
    sb_str(b, "\r\n");
  }
}

enum { APP, FRAMING, SLOW };

typedef struct mcase {
  char *req;
  size_t len;
  int cls;
  const char *kind; /* the mutation, for the report */
} mcase;

typedef struct corpus {
  mcase *c;
  size_t n, cap;
} corpus;

static void add_case(corpus *k, sbuf *b, int cls, const char *kind) {
  if (k->n == k->cap) {
    k->cap = k->cap ? k->cap * 2 : 1024;
    k->c = realloc(k->c, k->cap * sizeof(*k->c));
  }
  k->c[k->n].req = b->p;
  k->c[k->n].len = b->n;
  k->c[k->n].cls = cls;
  k->c[k->n].kind = kind;
  k->n++;
  memset(b, 0, sizeof(*b));
}

static uint64_t rng_state;
static uint64_t rng(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

/* ---- templates ---- */

typedef struct endpoint {
  const char *method, *path; /* %s = the dataset id */
  const char *body;          /* a valid body (JSON), %s = the dataset id */
} endpoint;

/* Every endpoint with a JSON body. Valid bodies would change nothing
** that the KB check sees only if rejected; every mutation below makes
** them invalid. */
static const endpoint bodies[] = {
    {"POST", "/v1/datasets", "{\"name\":\"n\",\"description\":\"d\"}"},
    {"POST", "/v1/datasets/%s/document/create-by-text",
     "{\"name\":\"a.txt\",\"text\":\"hello\",\"indexing_technique\":"
     "\"high_quality\",\"process_rule\":{\"mode\":\"automatic\"},"
     "\"doc_metadata\":{\"k\":\"v\"}}"},
    {"POST", "/v1/datasets/%s/retrieve",
     "{\"query\":\"green tea\",\"retrieval_model\":{\"search_method\":"
     "\"hybrid_search\",\"reranking_enable\":false,\"top_k\":3,"
     "\"score_threshold_enabled\":false,\"score_threshold\":0.5,"
     "\"weights\":{\"vector_setting\":{\"vector_weight\":0.7},"
     "\"keyword_setting\":{\"keyword_weight\":0.3}}}}"},
    {"POST", "/retrieval",
     "{\"knowledge_id\":\"%s\",\"query\":\"green tea\",\"retrieval_setting\":"
     "{\"top_k\":3,\"score_threshold\":0.1},\"metadata_condition\":"
     "{\"logical_operator\":\"and\",\"conditions\":[{\"name\":[\"k\"],"
     "\"comparison_operator\":\"is\",\"value\":\"v\"}]}}"},
    {"POST", "/v1/chat-messages",
     "{\"inputs\":{},\"query\":\"green tea\",\"response_mode\":\"blocking\","
     "\"user\":\"u\",\"dataset_id\":\"%s\",\"conversation_id\":\"\"}"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"kb:%s\",\"messages\":[{\"role\":\"user\",\"content\":"
     "\"green tea\"}],\"stream\":false,\"max_tokens\":50,\"temperature\":0.5,"
     "\"stream_options\":{\"include_usage\":true}}"},
    {"POST", "/v1/models",
     "{\"name\":\"m1\",\"provider\":\"openai\",\"type\":\"llm\","
     "\"context_length\":1000}"},
};
#define NBODIES (sizeof(bodies) / sizeof(bodies[0]))

/* Every route, with the methods it allows. */
typedef struct route {
  const char *path, *allowed;
} route;
static const route routes[] = {
    {"/healthz", "GET"},
    {"/readyz", "GET"},
    {"/metrics", "GET"},
    {"/", "GET"},
    {"/index.html", "GET"},
    {"/v1/datasets", "GET POST"},
    {"/v1/datasets/%s", "GET DELETE"},
    {"/v1/datasets/%s/document/create-by-text", "POST"},
    {"/v1/datasets/%s/document/create_by_text", "POST"},
    {"/v1/datasets/%s/document/create-by-file", "POST"},
    {"/v1/datasets/%s/document/create_by_file", "POST"},
    {"/v1/datasets/%s/documents", "GET"},
    {"/v1/datasets/%s/documents/%d", "DELETE"},
    {"/v1/datasets/%s/documents/%b/indexing-status", "GET"},
    {"/v1/datasets/%s/retrieve", "POST"},
    {"/retrieval", "POST"},
    {"/v1/chat-messages", "POST"},
    {"/v1/conversations", "GET"},
    {"/v1/messages", "GET"},
    {"/v1/chat/completions", "POST"},
    {"/v1/models", "GET POST"},
    {"/v1/models/m0", "PUT DELETE"},
    {"/v1/usage", "GET"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Replaces %s with ds, %d with doc, %b with batch. */
static void expand(char *out, size_t n, const char *pat, const char *ds,
                   const char *doc, const char *batch) {
  size_t o = 0;
  for (const char *p = pat; *p && o + 40 < n; p++) {
    if (p[0] == '%' && (p[1] == 's' || p[1] == 'd' || p[1] == 'b')) {
      const char *v = p[1] == 's' ? ds : p[1] == 'd' ? doc : batch;
      o += (size_t)snprintf(out + o, n - o, "%s", v);
      p++;
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

static const char *bad_utf8[] = {
    "\xff",
    "\xc3\x28",
    "\xed\xa0\x80",
    "\xc0\xaf",
    "\xe2\x82",
    "\xf8\x88\x80\x80\x80",
    "\xf4\x90\x80\x80",
    "\xc3",
    "\xa0\xa1",
    "\xfe\xfe\xff\xff",
};
#define NBAD_UTF8 (sizeof(bad_utf8) / sizeof(bad_utf8[0]))

static const char *wrong_values[] = {
    "42", "-1", "1.5",   "true",      "false", "\"str\"",
    "[]", "{}", "[1,2]", "{\"a\":1}", "\"\"",
};
#define NWRONG (sizeof(wrong_values) / sizeof(wrong_values[0]))

static const char *huge_numbers[] = {
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-0",
    "1e9",
    "-9223372036854775809",
    "9223372036854775808",
    "0.0000000000000000000000000000001e-400",
    "1E+999999999",
    "4294967297",
};
#define NHUGE (sizeof(huge_numbers) / sizeof(huge_numbers[0]))

/* The cJSON type a valid value has, so wrong_values of another type can be
** chosen: 0 string, 1 number, 2 bool, 3 array, 4 object. */
static int jtype(const cJSON *v) {
  if (cJSON_IsString(v))
    return 0;
  if (cJSON_IsNumber(v))
    return 1;
  if (cJSON_IsBool(v))
    return 2;
  if (cJSON_IsArray(v))
    return 3;
  return 4;
}
static int wtype(const char *w) {
  if (w[0] == '"')
    return 0;
  if (w[0] == 't' || w[0] == 'f')
    return 2;
  if (w[0] == '[')
    return 3;
  if (w[0] == '{')
    return 4;
  return 1;
}

/* Calls fn for every value in the tree (depth first), with a pointer to
** the item so it can be swapped and restored. */
typedef void (*visit_fn)(cJSON *root, cJSON *item, void *ud);
/* Values of any type are valid in these: metadata values, app inputs and
** a metadata condition's value. */
static int free_form(const cJSON *root, const cJSON *parent,
                     const cJSON *item) {
  const char *p = parent->string ? parent->string : "";
  const char *k = item->string ? item->string : "";
  return !strcmp(p, "doc_metadata") || !strcmp(p, "inputs") ||
         !strcmp(k, "value") ||
         /* a condition's name: a list of keys, or one key as a string */
         (!strcmp(k, "name") && parent != root && !parent->string);
}
static void visit(cJSON *root, cJSON *o, visit_fn fn, void *ud) {
  cJSON *c;
  cJSON_ArrayForEach(c, o) {
    if (free_form(root, o, c))
      continue;
    fn(root, c, ud);
    if (cJSON_IsObject(c) || cJSON_IsArray(c))
      visit(root, c, fn, ud);
  }
}

typedef struct wt_ctx {
  corpus *k;
  const char *method, *path;
  int huge; /* 1: huge numbers for number fields instead of wrong types */
} wt_ctx;

/* Prints root with item's value text replaced by text. */
static char *print_with(cJSON *root, cJSON *item, const char *text) {
  cJSON *raw = cJSON_CreateRaw(text);
  cJSON tmp = *item;
  /* Swap the node's content in place: keep the links and the key. */
  item->type = raw->type;
  item->valuestring = raw->valuestring;
  item->child = NULL;
  char *s = cJSON_PrintUnformatted(root);
  item->type = tmp.type;
  item->valuestring = tmp.valuestring;
  item->child = tmp.child;
  cJSON_Delete(raw);
  return s;
}

static void wrong_type(cJSON *root, cJSON *item, void *ud) {
  wt_ctx *w = ud;
  int t = jtype(item);
  if (!item->string)
    return; /* array elements: covered through their parent */
  for (size_t i = 0; i < (w->huge ? NHUGE : NWRONG); i++) {
    const char *v = w->huge ? huge_numbers[i] : wrong_values[i];
    if (w->huge ? t != 1 : wtype(v) == t)
      continue;
    /* -0 and 1e9 are fine where 0..1 or big counts are allowed. */
    if (w->huge && (!strcmp(v, "-0") || !strncmp(v, "0.0", 3)) &&
        strcmp(item->string, "top_k") && strcmp(item->string, "max_tokens") &&
        strcmp(item->string, "context_length"))
      continue;
    if (w->huge && !strcmp(v, "1e9") && !strcmp(item->string, "max_tokens"))
      continue;
    char *s = print_with(root, item, v);
    sbuf b = {0};
    http_req(&b, w->method, w->path, s, strlen(s));
    free(s);
    add_case(w->k, &b, APP, w->huge ? "huge number" : "wrong type");
  }
}

/* ---- the corpus ---- */

/* 1 when the space-separated list names method exactly. */
static int allows(const char *list, const char *method) {
  size_t n = strlen(method);
  for (const char *p = list; *p;) {
    size_t w = strcspn(p, " ");
    if (w == n && !strncmp(p, method, n))
      return 1;
    p += w;
    p += *p == ' ';
  }
  return 0;
}

static void gen_methods(corpus *k, const char *ds, const char *doc,
                        const char *batch) {
  static const char *methods[] = {"GET",   "POST", "PUT", "DELETE",
                                  "PATCH", "FOO",  "get", "TRACE"};
  char path[512];
  for (size_t r = 0; r < NROUTES; r++) {
    expand(path, sizeof(path), routes[r].path, ds, doc, batch);
    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
      if (allows(routes[r].allowed, methods[m]))
        continue;
      for (int withbody = 0; withbody < 2; withbody++) {
        sbuf b = {0};
        http_req(&b, methods[m], path, withbody ? "{\"x\":" : NULL, 5);
        add_case(k, &b, APP, "wrong method");
      }
    }
  }
}

static void gen_bodies(corpus *k, const char *ds) {
  char path[512], body[2048];
  static const char *trailers[] = {
      "x", "}", ",{}", "[]", "\x01", "\"", " 1", "{}", "\n}", "//c", "/*c*/",
  };
  for (size_t e = 0; e < NBODIES; e++) {
    expand(path, sizeof(path), bodies[e].path, ds, "", "");
    expand(body, sizeof(body), bodies[e].body, ds, "", "");
    size_t bl = strlen(body);
    /* Truncated at every length. */
    for (size_t i = 0; i < bl; i++) {
      sbuf b = {0};
      http_req(&b, bodies[e].method, path, body, i);
      add_case(k, &b, APP, "truncated JSON");
    }
    /* Trailing garbage. */
    for (size_t t = 0; t < sizeof(trailers) / sizeof(trailers[0]); t++) {
      sbuf j = {0}, b = {0};
      sb_str(&j, body);
      sb_str(&j, trailers[t]);
      http_req(&b, bodies[e].method, path, j.p, j.n);
      free(j.p);
      add_case(k, &b, APP, "trailing garbage");
    }
    /* A NUL byte, then a raw control byte, at every position. */
    for (int ctl = 0; ctl < 2; ctl++)
      for (size_t i = 0; i < bl; i++) {
        sbuf j = {0}, b = {0};
        sb_add(&j, body, i);
        sb_add(&j, ctl ? "\x07" : "\0", 1);
        sb_add(&j, body + i, bl - i);
        http_req(&b, bodies[e].method, path, j.p, j.n);
        free(j.p);
        add_case(k, &b, APP, ctl ? "control byte" : "NUL byte");
      }
    /* Invalid UTF-8 inside every string value and key. */
    for (size_t i = 1; i < bl; i++) {
      if (body[i - 1] != '"')
        continue;
      sbuf j = {0}, b = {0};
      sb_add(&j, body, i);
      sb_str(&j, bad_utf8[rng() % NBAD_UTF8]);
      sb_add(&j, body + i, bl - i);
      http_req(&b, bodies[e].method, path, j.p, j.n);
      free(j.p);
      add_case(k, &b, APP, "invalid UTF-8 in body");
    }
    /* Wrong types for every field, huge numbers for every number. */
    cJSON *root = cJSON_Parse(body);
    ASSERT(root);
    for (int huge = 0; huge < 2; huge++) {
      wt_ctx w = {k, bodies[e].method, path, huge};
      visit(root, root, wrong_type, &w);
    }
    cJSON_Delete(root);
    /* Not an object; empty. */
    static const char *tops[] = {
        "[1]", "\"s\"", "42", "null", "true",
        "",    " ",     "{",  "}",    "\xef\xbb\xbf{}"};
    for (size_t t = 0; t < sizeof(tops) / sizeof(tops[0]); t++) {
      sbuf b = {0};
      http_req(&b, bodies[e].method, path, tops[t], strlen(tops[t]));
      add_case(k, &b, APP, "not an object");
    }
    /* Deep nesting: 100k '[' and 50k objects. */
    for (int obj = 0; obj < 2; obj++) {
      sbuf j = {0}, b = {0};
      for (int d = 0; d < (obj ? 50000 : 100000); d++)
        sb_str(&j, obj ? "{\"a\":" : "[");
      http_req(&b, bodies[e].method, path, j.p, j.n);
      free(j.p);
      add_case(k, &b, APP, "deep nesting");
    }
    /* Over max_body (the declared length is honest). */
    {
      sbuf j = {0}, b = {0};
      sb_str(&j, "{\"query\":\"");
      while (j.n < MAX_BODY + 100)
        sb_str(&j, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
      sb_str(&j, "\"}");
      http_req(&b, bodies[e].method, path, j.p, j.n);
      free(j.p);
      add_case(k, &b, APP, "oversized body");
    }
  }
}

/* Requests whose request line, path or headers are wrong. */
static void gen_lines(corpus *k, const char *ds) {
  char path[512];
  /* Unknown routes, traversal in ids, invalid UTF-8 and NULs in paths and
  ** query strings. */
  static const char *paths[] = {
      "/v1/datasets/..%2F..%2Fetc/documents",
      "/v1/datasets/..%2f..%2fetc%2fpasswd",
      "/v1/datasets/../../etc/passwd",
      "/v1/datasets/%2e%2e/documents",
      "/v1/datasets/..%00/documents",
      "/v1/datasets%00/x",
      "/v1/datasets/%00",
      "/v1/datasets/%s/documents/..%2F..%2Fkb.sqlite",
      "/v1/datasets/%s/documents/../../../etc/passwd/indexing-status",
      "/v1/datasets/%s%2F..%2F..%2F/documents",
      "/nope",
      "/v2/datasets",
      "/v1/datasets/%s/unknown",
      "/v1//datasets",
      "//etc/passwd",
      "/v1/datasets?page=-1",
      "/v1/datasets?page=abc",
      "/v1/datasets?limit=1000000000000000000000",
      "/v1/datasets?limit=0",
      "/v1/datasets/%s/documents?page=%FF",
      "/v1/datasets/%s/documents?keyword=%FF%FE",
      "/v1/datasets/%s/documents?keyword=%C3%28",
      "/v1/datasets/%s/documents?keyword=a%00b&page=0",
      "/v1/datasets/%FF%FE/documents",
      "/v1/datasets/%C0%AF/documents",
      "/v1/datasets/%ED%A0%80",
      "/v1/%E2%82",
      "/v1/datasets/%s/documents/%FF",
      "/v1/messages?conversation_id=%FF",
      "/v1/conversations?limit=-5",
      "/v1/usage?since=%FF",
      "/v1/usage?since=9999-99-99",
      "/v1/usage?by=%00",
  };
  static const char *methods_for[] = {"GET", "GET", "GET", "GET", "DELETE"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
    for (size_t m = 0; m < 5; m++) {
      expand(path, sizeof(path), paths[i], ds, "", "");
      sbuf b = {0};
      if (m == 4 && strstr(path, "?"))
        continue;
      http_req(&b, methods_for[m], path, NULL, 0);
      add_case(k, &b, APP, "bad path");
      if (m > 0)
        break;
    }
  /* Raw invalid UTF-8 bytes (unencoded) in paths, query strings and
  ** headers; every one of them must still get a JSON 4xx. */
  for (size_t u = 0; u < NBAD_UTF8; u++) {
    sbuf b = {0};
    snprintf(path, sizeof(path), "/v1/datasets/%s/documents?keyword=%s", ds,
             bad_utf8[u]);
    http_req(&b, "GET", path, NULL, 0);
    add_case(k, &b, APP, "invalid UTF-8 in query");
    snprintf(path, sizeof(path), "/v1/datasets/%s/x", bad_utf8[u]);
    http_req(&b, "GET", path, NULL, 0);
    add_case(k, &b, FRAMING, "invalid UTF-8 in path");
    sb_fmt(&b,
           "GET /v1/datasets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: Bearer %s\r\n\r\n",
           bad_utf8[u]);
    add_case(k, &b, APP, "invalid UTF-8 in header");
    sb_fmt(&b,
           "POST /v1/datasets/%s/retrieve HTTP/1.1\r\nHost: x\r\n"
           "Connection: close\r\nAuthorization: Bearer " KEY "\r\n"
           "X-Trace: a%sb\r\nContent-Type: application/json%s\r\n"
           "Content-Length: 2\r\n\r\n[]",
           ds, bad_utf8[u], bad_utf8[u]);
    add_case(k, &b, FRAMING, "invalid UTF-8 in header");
  }
  /* Auth header abuse. */
  static const char *auths[] = {"",
                                "Bearer",
                                "Bearer ",
                                "Basic abc",
                                "Bearer wrong-key",
                                "bearer " KEY "x",
                                "Bearer " KEY " extra"};
  for (size_t a = 0; a < sizeof(auths) / sizeof(auths[0]); a++) {
    sbuf b = {0};
    sb_fmt(&b,
           "GET /v1/datasets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: %s\r\n\r\n",
           auths[a]);
    add_case(k, &b, APP, "bad auth");
    sb_fmt(&b,
           "POST /retrieval HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: %s\r\nContent-Length: 2\r\n\r\n{}",
           auths[a]);
    add_case(k, &b, APP, "bad auth");
  }
  /* HTTP/0.9, garbage request lines, bad versions. */
  static const char *lines[] = {
      "GET /healthz\r\n\r\n",
      "GET /\r\n",
      "\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      " / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET  /healthz  HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1.1\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n",
      "GET /healthz FOO/1.1\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      "GET /healthz HTTP/1.1\rHost: x\r\r",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
      "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n",
      "G\xffT / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX\x00Y: z\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    sbuf b = {0};
    size_t n = strlen(lines[i]);
    if (i == sizeof(lines) / sizeof(lines[0]) - 1)
      n = 35; /* the line with a NUL inside */
    sb_add(&b, lines[i], n);
    add_case(k, &b, FRAMING, "garbage request line");
  }
  /* Header names that are not tokens (RFC 9110 5.1). MHD itself drops a
  ** line with an empty name (": v") and so is not tested here. */
  static const char *names[] = {"X(Y)", "X@Y", "X\"Y", "X/Y", "{X}"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    sbuf b = {0};
    sb_fmt(&b,
           "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "%s: v\r\n\r\n",
           names[i]);
    add_case(k, &b, FRAMING, "header name not a token");
  }
  /* Random bytes as a request line, deterministic from the seed. */
  for (int i = 0; i < 200; i++) {
    sbuf b = {0};
    size_t n = 1 + rng() % 200;
    for (size_t j = 0; j < n; j++) {
      char c = (char)(rng() & 0xff);
      sb_add(&b, &c, 1);
    }
    sb_str(&b, "\r\n\r\n");
    add_case(k, &b, FRAMING, "random bytes");
  }
  /* Oversized headers and URLs (the header memory is 32 KiB). */
  for (int i = 0; i < 4; i++) {
    sbuf b = {0};
    sb_str(&b, "GET /v1/datasets");
    if (i == 0)
      for (int j = 0; j < 10000; j++)
        sb_str(&b, "/aaaaaaaaa");
    sb_str(&b, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if (i == 1) {
      sb_str(&b, "X-Big: ");
      for (int j = 0; j < 8000; j++)
        sb_str(&b, "bbbbbbbbbb");
      sb_str(&b, "\r\n");
    }
    if (i == 2)
      for (int j = 0; j < 5000; j++)
        sb_fmt(&b, "X-H%d: v\r\n", j);
    if (i == 3) {
      sb_str(&b, "Authorization: Bearer ");
      for (int j = 0; j < 5000; j++)
        sb_str(&b, "kkkkkkkkkk");
      sb_str(&b, "\r\n");
    }
    sb_str(&b, "\r\n");
    add_case(k, &b, FRAMING, "oversized header");
  }
  /* Bad Content-Length and chunked abuse on the retrieve route. The
  ** payloads themselves are invalid JSON, so a server that reads them in
  ** any way still answers 4xx. */
  snprintf(path, sizeof(path), "/v1/datasets/%s/retrieve", ds);
  static const char *framings[] = {
      "Content-Length: -1\r\n\r\n{}",
      "Content-Length: abc\r\n\r\n{}",
      "Content-Length: 1e3\r\n\r\n{}",
      "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
      "Content-Length: 2, 2\r\n\r\n{}",
      "Content-Length: 99999999999999999999999999\r\n\r\n{}",
      "Content-Length: 18446744073709551616\r\n\r\n{}",
      "Content-Length: 0x10\r\n\r\n{}",
      "Content-Length: +2\r\n\r\n{}",
      "Content-Length: 1\r\n\r\n{}GET / HTTP/1.1\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: "
      "chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n2;ext=\x01\xff\r\n[]\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\nX-Trailer: "
      "\xff\r\n\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: "
      "2\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
      "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
      "Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n[]",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]"
      "\r\n0\r\n\r\n",
      "Transfer-Encoding: xchunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n 2 \r\n[]\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n2\n[]\n0\n\n",
  };
  for (size_t i = 0; i < sizeof(framings) / sizeof(framings[0]); i++) {
    sbuf b = {0};
    sb_fmt(&b,
           "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: Bearer " KEY "\r\n",
           path);
    sb_str(&b, framings[i]);
    add_case(k, &b, FRAMING, "bad framing");
  }
  /* A chunked body that grows past max_body. */
  {
    sbuf b = {0};
    sb_fmt(&b,
           "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: Bearer " KEY
           "\r\nTransfer-Encoding: chunked\r\n\r\n",
           path);
    for (int i = 0; i < (MAX_BODY / 4096) + 4; i++) {
      sb_str(&b, "1000\r\n");
      for (int j = 0; j < 64; j++)
        sb_str(&b,
               "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
               "");
      sb_str(&b, "\r\n");
    }
    sb_str(&b, "0\r\n\r\n");
    add_case(k, &b, FRAMING, "chunked over the limit");
  }
}

/* Multipart uploads: traversal and absolute file names, bad multipart. */
static void gen_uploads(corpus *k, const char *ds) {
  static const char *names[] = {
      "../../etc/passwd",
      "/etc/passwd",
      "..\\..\\windows\\win.ini",
      "..",
      "a/../../b.txt",
      "C:\\temp\\x.txt",
      "./.././x.md",
      "sub/dir/file.txt",
  };
  char path[512];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-file", ds);
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    for (int v = 0; v < 2; v++) {
      sbuf body = {0}, b = {0};
      sb_str(&body, "--XyZ\r\nContent-Disposition: form-data; name=\"data\""
                    "\r\n\r\n{\"indexing_technique\":\"high_quality\"}\r\n");
      /* v = 1 adds the RFC 5987 form too: filename*=UTF-8''<name>. */
      sb_str(&body, "--XyZ\r\nContent-Disposition: form-data; "
                    "name=\"file\"; filename=\"");
      sb_str(&body, names[i]);
      sb_str(&body, "\"");
      if (v) {
        sb_str(&body, "; filename*=UTF-8''");
        sb_str(&body, names[i]);
      }
      sb_str(&body, "\r\nContent-Type: text/plain\r\n\r\n"
                    "root:x:0:0:root:/root:/bin/bash\r\n--XyZ--\r\n");
      sb_fmt(&b,
             "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Authorization: Bearer " KEY "\r\n"
             "Content-Type: multipart/form-data; boundary=XyZ\r\n"
             "Content-Length: %zu\r\n\r\n",
             path, body.n);
      sb_add(&b, body.p, body.n);
      free(body.p);
      add_case(k, &b, APP, "upload path traversal");
    }
  static const char *bad_mp[] = {
      "",
      "--XyZ--\r\n",
      "--Wrong\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.txt\"\r\n\r\nhello\r\n--Wrong--\r\n",
      "--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{bad\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.txt\"\r\n\r\nhello\r\n--XyZ--\r\n",
      "--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n\xff\xfe"
      "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.txt\"\r\n\r\nhello\r\n--XyZ--\r\n",
      "garbage with no boundary at all",
  };
  for (size_t i = 0; i < sizeof(bad_mp) / sizeof(bad_mp[0]); i++)
    for (int ct = 0; ct < 3; ct++) {
      sbuf b = {0};
      static const char *cts[] = {"multipart/form-data; boundary=XyZ",
                                  "application/json", "multipart/form-data"};
      sb_fmt(&b,
             "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Authorization: Bearer " KEY "\r\nContent-Type: %s\r\n"
             "Content-Length: %zu\r\n\r\n",
             path, cts[ct], strlen(bad_mp[i]));
      sb_str(&b, bad_mp[i]);
      add_case(k, &b, APP, "bad multipart");
    }
  /* An upload over max_upload. */
  sbuf body = {0}, b = {0};
  sb_str(&body, "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                "filename=\"big.txt\"\r\n\r\n");
  while (body.n < MAX_UPLOAD + 70000)
    sb_str(&body, "0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
  sb_str(&body, "\r\n--XyZ--\r\n");
  sb_fmt(&b,
         "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Authorization: Bearer " KEY "\r\n"
         "Content-Type: multipart/form-data; boundary=XyZ\r\n"
         "Content-Length: %zu\r\n\r\n",
         path, body.n);
  sb_add(&b, body.p, body.n);
  free(body.p);
  add_case(k, &b, APP, "oversized upload");
}

/* Fills the corpus to at least MIN_CORPUS with random combinations: a body
** template, a random mutation at a random place. */
static void gen_random(corpus *k, const char *ds) {
  char path[512], body[2048];
  while (k->n < MIN_CORPUS) {
    const endpoint *e = &bodies[rng() % NBODIES];
    expand(path, sizeof(path), e->path, ds, "", "");
    expand(body, sizeof(body), e->body, ds, "", "");
    size_t bl = strlen(body), at = rng() % bl;
    sbuf j = {0}, b = {0};
    switch (rng() % 4) {
    case 0: /* delete a span */
      sb_add(&j, body, at);
      break;
    case 1: /* invalid UTF-8 inside, cut after */
      sb_add(&j, body, at);
      sb_str(&j, bad_utf8[rng() % NBAD_UTF8]);
      sb_add(&j, body + at, bl - at);
      break;
    case 2: { /* a structural character swapped for another */
      static const char st[] = "{}[]:,\"";
      sb_add(&j, body, bl);
      for (size_t t = 0; t < bl; t++) {
        size_t p = (at + t) % bl;
        const char *hit = strchr(st, j.p[p]);
        if (hit && *hit) {
          char c = st[((size_t)(hit - st) + 1 + rng() % 6) % 7];
          j.p[p] = c;
          break;
        }
      }
      /* A swap may produce valid JSON of the same shape only if it swapped
      ** a character for itself, which the +1..6 offset rules out. */
      break;
    }
    default: /* a NUL byte */
      sb_add(&j, body, at);
      sb_add(&j, "\0", 1);
      sb_add(&j, body + at, bl - at);
      break;
    }
    http_req(&b, e->method, path, j.p, j.n);
    free(j.p);
    add_case(k, &b, APP, "random mutation");
  }
}

/* ---- checking replies ---- */

/* 1 when body is a JSON error object in one of the three shapes. */
static int json_error(const reply *r) {
  if (!rag_utf8_valid(r->body, r->blen))
    return 0;
  cJSON *j = cJSON_ParseWithLength(r->body, r->blen);
  int ok = 0;
  if (cJSON_IsObject(j)) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    ok = (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "code")) &&
          cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "message"))) ||
         (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "error_code")) &&
          cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error_msg"))) ||
         (cJSON_IsObject(e) &&
          cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
  }
  cJSON_Delete(j);
  return ok;
}

typedef struct tally {
  pthread_mutex_t mu;
  long status[600]; /* [0] = closed without a reply */
  long nonjson4xx, bad;
  const char *bad_kind[32]; /* failures per mutation kind */
  long bad_count[32];
  int port;
  corpus *k;
  size_t next;
} tally;

/* 0 when the reply fits the case's class; else a reason. */
static const char *judge(const mcase *c, const reply *r) {
  if (r->timedout && !r->status)
    return "no reply and no close";
  if (!r->status)
    return c->cls == APP ? "closed without a reply" : NULL;
  /* 505 is HTTP's answer to a version it does not speak (RFC 9110
  ** 15.6.6); the HTTP layer sends it before any handler runs. */
  if (r->status == 505 && c->cls == FRAMING)
    return NULL;
  if (r->status < 400 || r->status > 499)
    return "status not 4xx";
  if (c->cls == APP && !json_error(r))
    return "4xx without a JSON error body";
  return NULL;
}

static void record(tally *t, const mcase *c, const reply *r, size_t idx) {
  const char *why = judge(c, r);
  pthread_mutex_lock(&t->mu);
  t->status[r->status >= 0 && r->status < 600 ? r->status : 0]++;
  if (r->status >= 400 && r->status < 500 && !json_error(r))
    t->nonjson4xx++;
  if (why) {
    if (t->bad < 20) {
      fprintf(stderr, "case %zu (%s, class %d): %s: status %d body %.200s\n",
              idx, c->kind, c->cls, why, r->status, r->body);
      fprintf(stderr, "  request: ");
      for (size_t i = 0; i < c->len && i < 700; i++) {
        unsigned char ch = (unsigned char)c->req[i];
        if (ch >= 0x20 && ch < 0x7f)
          fputc(ch, stderr);
        else
          fprintf(stderr, "\\x%02x", ch);
      }
      fputc('\n', stderr);
    }
    t->bad++;
    for (int i = 0; i < 32; i++)
      if (!t->bad_kind[i] || !strcmp(t->bad_kind[i], c->kind)) {
        t->bad_kind[i] = c->kind;
        t->bad_count[i]++;
        break;
      }
  }
  pthread_mutex_unlock(&t->mu);
}

static void *client(void *ud) {
  tally *t = ud;
  for (;;) {
    pthread_mutex_lock(&t->mu);
    size_t i = t->next;
    while (i < t->k->n && t->k->c[i].cls == SLOW)
      i++;
    t->next = i + 1;
    pthread_mutex_unlock(&t->mu);
    if (i >= t->k->n)
      return NULL;
    const mcase *c = &t->k->c[i];
    /* Framing errors may leave the server waiting for bytes that never
    ** come: it must close at its connection timeout. */
    reply r = exchange(t->port, c->req, c->len, (CONN_TIMEOUT_S + 20) * 1000);
    record(t, c, &r, i);
    free(r.body);
  }
}

/* ---- slow senders ---- */

typedef struct slow {
  tally *t;
  int kind;
} slow;

/* kind 0: headers one byte per second, never ending; 1: a body that
** trickles one byte per second; 2: a body shorter than Content-Length,
** then silence; 3: an idle connection; 4: a chunked body that stops
** mid-chunk. Each must end with the server closing (or a 4xx): a sender
** still dripping after SLOW_CAP_S seconds means the server never cut it
** off, which fails the case. */
#define SLOW_CAP_S 90
static void *slow_client(void *ud) {
  slow *s = ud;
  int fd = dial(s->t->port);
  char h[512];
  const char *hdr = "POST /v1/datasets HTTP/1.1\r\nHost: x\r\n"
                    "Authorization: Bearer " KEY "\r\n";
  const char *drip = NULL; /* repeated one byte per second */
  if (s->kind == 0) {
    snprintf(h, sizeof(h), "%sX-Slow: ", hdr);
    drip = "abcdefgh";
  } else if (s->kind == 1) {
    snprintf(h, sizeof(h), "%sContent-Length: 1000000\r\n\r\n", hdr);
    drip = "[";
  } else if (s->kind == 2) {
    snprintf(h, sizeof(h), "%sContent-Length: 1000\r\n\r\n{\"name\":", hdr);
  } else if (s->kind == 4) {
    snprintf(h, sizeof(h),
             "%sTransfer-Encoding: chunked\r\n\r\n100\r\n{\"name\":", hdr);
  } else {
    h[0] = '\0';
  }
  send_all(fd, h, strlen(h));
  int cut = 0;
  for (int i = 0; drip && i < SLOW_CAP_S && !cut; i++) {
    if (send(fd, drip + i % strlen(drip), 1, MSG_NOSIGNAL) != 1)
      cut = 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0)
      cut = 1; /* the server answered or closed: read it below */
  }
  reply r = read_reply(fd, drip && !cut ? 1 : SLOW_CAP_S * 1000);
  close(fd);
  mcase c = {NULL, 0, SLOW, "slow sender"};
  record(s->t, &c, &r, (size_t)-1);
  free(r.body);
  return NULL;
}

/* ---- the KB before and after ---- */

static cJSON *call(int port, const char *method, const char *path,
                   const char *body, int *status) {
  sbuf b = {0};
  http_req(&b, method, path, body, body ? strlen(body) : 0);
  reply r = exchange(port, b.p, b.n, 60000);
  free(b.p);
  *status = r.status;
  cJSON *j = cJSON_ParseWithLength(r.body, r.blen);
  free(r.body);
  return j;
}

static void copy_str(char *out, size_t n, const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsString(v))
    TEST_FAILF("field %s missing", k);
  snprintf(out, n, "%s", v->valuestring);
}

static int doc_count(int port, const char *ds) {
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s", ds);
  int st;
  cJSON *j = call(port, "GET", path, NULL, &st);
  ASSERT_EQ(st, 200);
  int n = cJSON_GetObjectItemCaseSensitive(j, "document_count")->valueint;
  cJSON_Delete(j);
  return n;
}

/* Retrieve; returns the number of records, fails unless 200. */
static int query_ok(int port, const char *ds, const char *q) {
  char path[256], body[512];
  snprintf(path, sizeof(path), "/v1/datasets/%s/retrieve", ds);
  snprintf(body, sizeof(body),
           "{\"query\":\"%s\",\"retrieval_model\":{\"search_method\":"
           "\"hybrid_search\",\"top_k\":3}}",
           q);
  int st;
  cJSON *j = call(port, "POST", path, body, &st);
  ASSERT_EQ(st, 200);
  int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "records"));
  cJSON_Delete(j);
  return n;
}

static void setup_kb(int port, char ds[64], char doc[64], char batch[64]) {
  int st;
  cJSON *j = call(port, "POST", "/v1/datasets", "{\"name\":\"kb\"}", &st);
  ASSERT_EQ(st, 200);
  copy_str(ds, 64, j, "id");
  cJSON_Delete(j);
  static const char *texts[] = {
      "Green tea is steamed soon after picking; matcha is powdered green "
      "tea whisked with hot water.",
      "A rocket engine expels exhaust through a nozzle; orbital velocity is "
      "about eight kilometres per second.",
      "Sourdough bakes at 230 degrees for forty minutes in a Dutch oven.",
  };
  char path[256], body[512];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-text", ds);
  for (int i = 0; i < 3; i++) {
    snprintf(body, sizeof(body), "{\"name\":\"d%d.txt\",\"text\":\"%s\"}", i,
             texts[i]);
    j = call(port, "POST", path, body, &st);
    ASSERT_EQ(st, 200);
    copy_str(batch, 64, j, "batch");
    copy_str(doc, 64, cJSON_GetObjectItemCaseSensitive(j, "document"), "id");
    cJSON_Delete(j);
  }
  /* The writer indexes in order: the last batch done means all are. */
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s/indexing-status",
           ds, batch);
  for (int i = 0; i < 600; i++) {
    j = call(port, "GET", path, NULL, &st);
    ASSERT_EQ(st, 200);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
    const cJSON *s = cJSON_GetObjectItem(d, "indexing_status");
    int done = cJSON_IsString(s) && !strcmp(s->valuestring, "completed");
    cJSON_Delete(j);
    if (done)
      return;
    nap_ms(100);
  }
  TEST_FAILF("the KB was never indexed");
}

TEST(every_malformed_request_gets_a_4xx_or_a_close_and_the_server_survives) {
  server s = {0};
  server_start(&s);
  char ds[64], doc[64], batch[64];
  setup_kb(s.port, ds, doc, batch);
  int docs0 = doc_count(s.port, ds);
  ASSERT_EQ(docs0, 3);
  ASSERT_GE(query_ok(s.port, ds, "matcha green tea"), 1);

  const char *seed_env = getenv("RAGD_MALFORMED_SEED");
  rng_state = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eedf00dull;
  if (!rng_state)
    rng_state = 1;
  corpus k = {0};
  gen_methods(&k, ds, doc, batch);
  gen_bodies(&k, ds);
  gen_lines(&k, ds);
  gen_uploads(&k, ds);
  gen_random(&k, ds);

  tally t;
  memset(&t, 0, sizeof(t));
  pthread_mutex_init(&t.mu, NULL);
  t.port = s.port;
  t.k = &k;
  /* Slow senders first, in the background: they hold connections for the
  ** server's timeout while the fast cases run. */
  enum { NSLOW = 20 };
  slow sl[NSLOW];
  pthread_t st[NSLOW], ct[CLIENTS];
  for (int i = 0; i < NSLOW; i++) {
    sl[i].t = &t;
    sl[i].kind = i % 5;
    ASSERT_EQ(pthread_create(&st[i], NULL, slow_client, &sl[i]), 0);
  }
  for (int i = 0; i < CLIENTS; i++)
    ASSERT_EQ(pthread_create(&ct[i], NULL, client, &t), 0);
  for (int i = 0; i < CLIENTS; i++)
    pthread_join(ct[i], NULL);
  for (int i = 0; i < NSLOW; i++)
    pthread_join(st[i], NULL);

  size_t total = k.n + NSLOW;
  fprintf(stderr, "malformed corpus: %zu requests (seed 0x%llx)\n", total,
          seed_env ? strtoull(seed_env, NULL, 0) : 0x5eedf00dull);
  fprintf(stderr, "  closed without a reply: %ld\n", t.status[0]);
  for (int i = 1; i < 600; i++)
    if (t.status[i])
      fprintf(stderr, "  status %d: %ld\n", i, t.status[i]);
  fprintf(stderr, "  4xx with a non-JSON body (HTTP layer): %ld\n",
          t.nonjson4xx);
  fprintf(stderr, "  failures: %ld\n", t.bad);
  for (int i = 0; i < 32 && t.bad_kind[i]; i++)
    fprintf(stderr, "    %s: %ld\n", t.bad_kind[i], t.bad_count[i]);
  ASSERT_GE(total, MIN_CORPUS);

  /* Same process, still serving, KB intact. */
  ASSERT_EQ(waitpid(s.pid, NULL, WNOHANG), 0);
  ASSERT_EQ(kill(s.pid, 0), 0);
  ASSERT_GE(query_ok(s.port, ds, "matcha green tea"), 1);
  ASSERT_EQ(doc_count(s.port, ds), docs0);
  int stc;
  cJSON *j = call(s.port, "GET", "/v1/datasets", NULL, &stc);
  ASSERT_EQ(stc, 200);
  ASSERT_EQ(cJSON_GetObjectItem(j, "total")->valueint, 1);
  cJSON_Delete(j);
  int stopped = server_stop(&s);
  char *log = cli_slurp(s.log);
  if (strstr(log, "Sanitizer") || strstr(log, "runtime error:"))
    TEST_FAILF("sanitizer report in ragd serve's log:\n%.4000s", log);
  free(log);
  ASSERT_EQ(stopped, 0);
  for (size_t i = 0; i < k.n; i++)
    free(k.c[i].req);
  free(k.c);
  ASSERT_EQ(t.bad, 0);
}

#define TESTS(X)                                                               \
  X(every_malformed_request_gets_a_4xx_or_a_close_and_the_server_survives)
TEST_MAIN(TESTS)
