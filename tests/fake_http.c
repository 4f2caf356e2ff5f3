/* tests/fake_http.c -- A scripted HTTP/1.1 server on 127.0.0.1 for tests.
**
** Layout of this file:
**   1. state: the server struct, reply copies, the request log
**   2. reading: header block, Content-Length and chunked bodies
**   3. writing: status line, headers, body, chunks, truncation
**   4. the server thread: one poll() over the listener, the wake pipe and
**      every open connection
**   5. the public API
**
** One thread serves every connection: it polls them all, and handles one
** request at a time to completion (delays included). A test therefore sees
** its requests in the order the server answered them. Several connections
** may be open at once (curl keeps one alive while a second client opens
** another), which is why connections are polled rather than served in turn.
**
** Stop is prompt: every wait (poll for data, delay_ms, chunk_delay_ms) also
** polls the read end of a self-pipe, and stop shuts down the connection in
** service so a blocked send() returns.
** Ownership: as in fake_http.h; everything is freed by fake_http_stop().
** Threads:   the mutex guards the reply queue, the request log, the handler
**            and the counters; the server thread never holds it while
**            doing I/O, so tests may call push/count from any thread. */
#include "tests/fake_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Caps on what a client may send: a test request is small, and a runaway
** client must not eat the test machine's memory. */
#define FH_MAX_HEAD (64 * 1024)
#define FH_MAX_BODY (64 * 1024 * 1024)
#define FH_MAX_CONNS 32

/* ---- 1. state ---------------------------------------------------------- */

typedef struct conn {
  int fd;
  char *buf; /* bytes received and not yet consumed */
  size_t len, size;
  int continued; /* "100 Continue" already sent for the pending request */
} conn;

struct fake_http {
  int lfd;
  int wake[2]; /* self-pipe: a byte on wake[0] means "stop now" */
  pthread_t th;
  char url[64];
  pthread_mutex_t mu;
  /* guarded by mu */
  fake_reply *replies; /* owned deep copies, FIFO from head */
  size_t nreplies, head, replies_cap;
  fake_request **reqs; /* pointers stay stable until stop */
  size_t nreqs, reqs_cap;
  fake_handler handler;
  void *handler_ctx;
  size_t nconns_accepted;
  int busy_fd; /* connection being answered, for shutdown() by stop */
  /* server thread only */
  conn conns[FH_MAX_CONNS];
  size_t nconns;
};

static char *dup_mem(const char *p, size_t n) {
  char *q = malloc(n + 1);
  if (!q) {
    fprintf(stderr, "fake_http: out of memory\n");
    abort();
  }
  if (n)
    memcpy(q, p, n);
  q[n] = '\0';
  return q;
}

static void reply_free(fake_reply *r) {
  free((char *)r->headers);
  free((char *)r->body);
  if (r->chunks) {
    for (size_t i = 0; r->chunks[i]; i++)
      free((char *)r->chunks[i]);
    free((void *)r->chunks);
  }
}

static void request_free(fake_request *q) {
  if (!q)
    return;
  free(q->headers);
  free(q->body);
  free(q);
}

/* ---- 2. reading -------------------------------------------------------- */

static const char *find_crlfcrlf(const char *p, size_t n) {
  for (size_t i = 0; i + 4 <= n; i++)
    if (memcmp(p + i, "\r\n\r\n", 4) == 0)
      return p + i;
  return NULL;
}

/* Case-insensitive header lookup in a raw block of "Name: value\r\n" lines.
** Copies the trimmed value into buf; returns buf, or NULL when absent. */
static const char *header_value(const char *block, const char *name, char *buf,
                                size_t n) {
  size_t nl = strlen(name);
  const char *p = block;
  while (p && *p) {
    const char *eol = strstr(p, "\r\n");
    size_t ll = eol ? (size_t)(eol - p) : strlen(p);
    if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1, *e = p + ll;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      size_t vl = (size_t)(e - v);
      if (n == 0)
        return NULL;
      if (vl >= n)
        vl = n - 1;
      memcpy(buf, v, vl);
      buf[vl] = '\0';
      return buf;
    }
    p = eol ? eol + 2 : NULL;
  }
  return NULL;
}

/* Decodes a chunked body in p[0..n). Returns 1 with *out (malloc'd) and
** *used set when complete, 0 when more bytes are needed, -1 on a malformed
** or oversized body. */
static int decode_chunked(const char *p, size_t n, char **out, size_t *olen,
                          size_t *used) {
  size_t i = 0, total = 0;
  /* first pass: validate and size; second pass (fill) copies */
  for (int fill = 0; fill < 2; fill++) {
    char *dst = fill ? malloc(total + 1) : NULL;
    if (fill && !dst)
      return -1;
    i = 0;
    total = fill ? total : 0;
    size_t at = 0;
    for (;;) {
      const char *eol = NULL;
      for (size_t k = i; k + 1 < n; k++)
        if (p[k] == '\r' && p[k + 1] == '\n') {
          eol = p + k;
          break;
        }
      if (!eol) {
        free(dst);
        return (n - i > 1024) ? -1 : 0;
      }
      char *end = NULL;
      char line[32];
      size_t ll = (size_t)(eol - (p + i));
      if (ll == 0 || ll >= sizeof(line)) {
        free(dst);
        return -1;
      }
      memcpy(line, p + i, ll);
      line[ll] = '\0';
      unsigned long long sz = strtoull(line, &end, 16);
      if (end == line || sz > FH_MAX_BODY) {
        free(dst);
        return -1;
      }
      i += ll + 2;
      if (sz == 0) {
        /* trailers until an empty line */
        for (;;) {
          const char *t = NULL;
          for (size_t k = i; k + 1 < n; k++)
            if (p[k] == '\r' && p[k + 1] == '\n') {
              t = p + k;
              break;
            }
          if (!t) {
            free(dst);
            return 0;
          }
          size_t tl = (size_t)(t - (p + i));
          i += tl + 2;
          if (tl == 0)
            break;
        }
        break;
      }
      if (n - i < sz + 2) {
        free(dst);
        return 0;
      }
      if (fill)
        memcpy(dst + at, p + i, (size_t)sz);
      at += (size_t)sz;
      if (!fill && at > FH_MAX_BODY)
        return -1;
      i += (size_t)sz + 2;
    }
    if (fill) {
      dst[at] = '\0';
      *out = dst;
      *olen = at;
      *used = i;
      return 1;
    }
    total = at;
  }
  return -1;
}

/* Tries to take one whole request off c->buf. Returns 1 and *out when one
** is complete, 0 when more bytes are needed, -1 when the connection must be
** dropped (malformed, over a cap). *expect is set when the client waits for
** "100 Continue" before sending its body. */
static int parse_request(conn *c, fake_request **out, int *expect) {
  *expect = 0;
  const char *hend = find_crlfcrlf(c->buf, c->len);
  if (!hend)
    return c->len > FH_MAX_HEAD ? -1 : 0;
  size_t hlen = (size_t)(hend - c->buf) + 4;
  if (hlen > FH_MAX_HEAD)
    return -1;
  const char *le = strstr(c->buf, "\r\n");
  size_t linelen = (size_t)(le - c->buf);
  char line[4096];
  if (linelen >= sizeof(line))
    return -1;
  memcpy(line, c->buf, linelen);
  line[linelen] = '\0';
  char *sp1 = strchr(line, ' ');
  char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp1 || !sp2 || (size_t)(sp1 - line) >= 16 ||
      (size_t)(sp2 - sp1 - 1) >= 2048)
    return -1;
  /* header block: the lines after the request line, ending with CRLF */
  size_t hb_off = linelen + 2;
  char *hblock = dup_mem(c->buf + hb_off, hlen - 2 - hb_off);
  char v[256];
  char *body = NULL;
  size_t blen = 0, used = hlen;
  int wants_continue = header_value(hblock, "Expect", v, sizeof(v)) &&
                       strcasecmp(v, "100-continue") == 0;
  if (header_value(hblock, "Transfer-Encoding", v, sizeof(v)) &&
      strcasecmp(v, "chunked") == 0) {
    size_t u = 0;
    int rc = decode_chunked(c->buf + hlen, c->len - hlen, &body, &blen, &u);
    if (rc <= 0) {
      free(hblock);
      *expect = rc == 0 && wants_continue;
      return rc;
    }
    used += u;
  } else {
    size_t cl = 0;
    if (header_value(hblock, "Content-Length", v, sizeof(v))) {
      char *end = NULL;
      unsigned long long x = strtoull(v, &end, 10);
      if (end == v || *end || x > FH_MAX_BODY) {
        free(hblock);
        return -1;
      }
      cl = (size_t)x;
    }
    if (c->len - hlen < cl) {
      *expect = wants_continue;
      free(hblock);
      return 0;
    }
    body = dup_mem(c->buf + hlen, cl);
    blen = cl;
    used += cl;
  }
  fake_request *q = calloc(1, sizeof(*q));
  if (!q) {
    fprintf(stderr, "fake_http: out of memory\n");
    abort();
  }
  memcpy(q->method, line, (size_t)(sp1 - line));
  memcpy(q->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  q->headers = hblock;
  q->body = body;
  q->body_len = blen;
  memmove(c->buf, c->buf + used, c->len - used);
  c->len -= used;
  *out = q;
  return 1;
}

/* ---- 3. writing -------------------------------------------------------- */

/* Waits ms milliseconds, or less when stop is requested. Returns -1 when
** the server is stopping. */
static int nap(fake_http *f, int ms) {
  if (ms <= 0)
    return 0;
  struct pollfd p = {.fd = f->wake[0], .events = POLLIN};
  int rc = poll(&p, 1, ms);
  return rc > 0 ? -1 : 0;
}

/* Holds connection fd silent for ms milliseconds (-1: for ever) or until
** the client hangs up or the server stops; returns -1 in those cases.
** Bytes the client sends meanwhile are left unread. */
static int hold(fake_http *f, int fd, int ms) {
  struct pollfd p[2] = {{.fd = f->wake[0], .events = POLLIN},
                        {.fd = fd, .events = POLLRDHUP}};
  int rc;
  do
    rc = poll(p, 2, ms);
  while (rc < 0 && errno == EINTR);
  if (rc == 0)
    return 0;
  return -1;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static const char *reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 408:
    return "Request Timeout";
  case 413:
    return "Payload Too Large";
  case 422:
    return "Unprocessable Entity";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Status";
  }
}

/* Sends r on fd. Returns 0 when the connection may be kept, -1 when it
** must be closed (write error, truncation, stop). */
static int send_reply(fake_http *f, int fd, const fake_reply *r,
                      int head_only) {
  if (nap(f, r->delay_ms))
    return -1;
  int status = r->status ? r->status : 200;
  size_t blen = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;
  if (r->raw) { /* not HTTP at all */
    if (blen)
      send_all(fd, r->body, blen);
    return -1;
  }
  int cut = r->truncate || r->stall;
  char head[512];
  int hn;
  if (r->chunks)
    hn = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nTransfer-Encoding: chunked\r\n", status,
                  reason(status));
  else
    hn = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", status,
                  reason(status),
                  /* truncation claims the whole body, sends half */
                  (cut && !blen) ? (size_t)1 : blen);
  if (send_all(fd, head, (size_t)hn))
    return -1;
  if (r->headers && send_all(fd, r->headers, strlen(r->headers)))
    return -1;
  if (send_all(fd, "\r\n", 2))
    return -1;
  if (head_only)
    return 0;
  if (!r->chunks) {
    size_t n = cut ? blen / 2 : blen;
    if (n && send_all(fd, r->body, n))
      return -1;
    if (r->stall)
      hold(f, fd, -1);
    return cut ? -1 : 0;
  }
  size_t nchunks = 0;
  while (r->chunks[nchunks])
    nchunks++;
  /* A truncated stream stops after the first half of its chunks (at least
  ** one, so the client has consumed bytes) and never sends the last chunk. */
  size_t upto = cut ? (nchunks + 1) / 2 : nchunks;
  for (size_t i = 0; i < upto || (r->forever && nchunks); i++) {
    if (i < upto ? nap(f, r->chunk_delay_ms)
                 : hold(f, fd, r->chunk_delay_ms)) /* forever: client gone? */
      return -1;
    size_t cl = strlen(r->chunks[i < upto ? i : nchunks - 1]);
    if (cl == 0)
      continue; /* an empty chunk would end the body */
    char sz[32];
    int sn = snprintf(sz, sizeof(sz), "%zx\r\n", cl);
    if (send_all(fd, sz, (size_t)sn) ||
        send_all(fd, r->chunks[i < upto ? i : nchunks - 1], cl) ||
        send_all(fd, "\r\n", 2))
      return -1;
  }
  if (r->stall)
    hold(f, fd, -1);
  if (cut)
    return -1;
  return send_all(fd, "0\r\n\r\n", 5);
}

/* ---- 4. the server thread ---------------------------------------------- */

static void conn_close(fake_http *f, size_t i) {
  close(f->conns[i].fd);
  free(f->conns[i].buf);
  f->conns[i] = f->conns[--f->nconns];
}

static const char no_reply_body[] =
    "{\"error\":\"fake_http: no scripted reply\"}";

/* Records q, picks the reply and sends it. Returns -1 to close the conn. */
static int answer(fake_http *f, int fd, fake_request *q) {
  fake_reply r;
  memset(&r, 0, sizeof(r));
  pthread_mutex_lock(&f->mu);
  if (f->nreqs == f->reqs_cap) {
    size_t nc = f->reqs_cap ? f->reqs_cap * 2 : 16;
    fake_request **p = realloc(f->reqs, nc * sizeof(*p));
    if (!p) {
      fprintf(stderr, "fake_http: out of memory\n");
      abort();
    }
    f->reqs = p;
    f->reqs_cap = nc;
  }
  f->reqs[f->nreqs++] = q;
  fake_handler h = f->handler;
  void *hctx = f->handler_ctx;
  int have = 0, owned = 0;
  if (!h && f->head < f->nreplies) {
    r = f->replies[f->head++];
    have = owned = 1;
  }
  f->busy_fd = fd;
  pthread_mutex_unlock(&f->mu);
  if (h) {
    h(hctx, q, &r);
    have = 1;
  }
  if (!have) {
    r.status = 500;
    r.headers = "Content-Type: application/json\r\n";
    r.body = no_reply_body;
  }
  char v[64];
  int close_after = header_value(q->headers, "Connection", v, sizeof(v)) &&
                    strcasecmp(v, "close") == 0;
  int rc = send_reply(f, fd, &r, strcmp(q->method, "HEAD") == 0);
  if (owned)
    reply_free(&r);
  pthread_mutex_lock(&f->mu);
  f->busy_fd = -1;
  pthread_mutex_unlock(&f->mu);
  return (rc || close_after) ? -1 : 0;
}

/* Reads what is available on connection i and answers every whole request
** in it. Returns -1 when the connection was closed. */
static int serve_conn(fake_http *f, size_t i) {
  conn *c = &f->conns[i];
  if (c->size - c->len < 16384) {
    size_t ns = c->size ? c->size * 2 : 32768;
    char *p = realloc(c->buf, ns + 1);
    if (!p) {
      conn_close(f, i);
      return -1;
    }
    c->buf = p;
    c->size = ns;
  }
  ssize_t n = recv(c->fd, c->buf + c->len, c->size - c->len, 0);
  if (n < 0 && errno == EINTR)
    return 0;
  if (n <= 0) {
    conn_close(f, i);
    return -1;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  for (;;) {
    fake_request *q = NULL;
    int expect = 0;
    int rc = parse_request(c, &q, &expect);
    if (rc < 0 || (c->len > FH_MAX_HEAD + FH_MAX_BODY)) {
      conn_close(f, i);
      return -1;
    }
    if (rc == 0) {
      if (expect && !c->continued) {
        c->continued = 1;
        if (send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25)) {
          conn_close(f, i);
          return -1;
        }
      }
      return 0;
    }
    c->continued = 0;
    c->buf[c->len] = '\0';
    if (answer(f, c->fd, q)) {
      conn_close(f, i);
      return -1;
    }
  }
}

static void *server_main(void *arg) {
  fake_http *f = arg;
  for (;;) {
    struct pollfd p[FH_MAX_CONNS + 2];
    p[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
    p[1] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
    size_t n = f->nconns;
    for (size_t i = 0; i < n; i++)
      p[i + 2] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN};
    int rc = poll(p, (nfds_t)(n + 2), -1);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0 || (p[0].revents & POLLIN))
      break;
    /* Connections first, from the back so conn_close's swap with the last
    ** entry never skips one that is ready. */
    for (size_t i = n; i-- > 0;)
      if (p[i + 2].revents & (POLLIN | POLLHUP | POLLERR))
        serve_conn(f, i);
    if (p[1].revents & POLLIN) {
      int fd = accept(f->lfd, NULL, NULL);
      if (fd < 0)
        continue;
      /* Replies go out in several send()s: without TCP_NODELAY, Nagle and
      ** the client's delayed ACK add ~40 ms to every request. */
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (f->nconns == FH_MAX_CONNS) {
        close(fd);
        continue;
      }
      f->conns[f->nconns++] = (conn){.fd = fd};
      pthread_mutex_lock(&f->mu);
      f->nconns_accepted++;
      pthread_mutex_unlock(&f->mu);
    }
  }
  while (f->nconns)
    conn_close(f, f->nconns - 1);
  return NULL;
}

/* ---- 5. the public API ------------------------------------------------- */

fake_http *fake_http_start(void) {
  fake_http *f = calloc(1, sizeof(*f));
  if (!f) {
    fprintf(stderr, "fake_http: out of memory\n");
    return NULL;
  }
  f->busy_fd = -1;
  f->wake[0] = f->wake[1] = -1;
  f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0; /* ephemeral: parallel test runs never collide */
  socklen_t al = sizeof(a);
  if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) ||
      listen(f->lfd, 16) || getsockname(f->lfd, (struct sockaddr *)&a, &al) ||
      pipe(f->wake)) {
    fprintf(stderr, "fake_http: listen on 127.0.0.1: %s\n", strerror(errno));
    if (f->lfd >= 0)
      close(f->lfd);
    free(f);
    return NULL;
  }
  snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u",
           (unsigned)ntohs(a.sin_port));
  pthread_mutex_init(&f->mu, NULL);
  if (pthread_create(&f->th, NULL, server_main, f)) {
    fprintf(stderr, "fake_http: pthread_create failed\n");
    close(f->lfd);
    close(f->wake[0]);
    close(f->wake[1]);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return NULL;
  }
  return f;
}

const char *fake_http_url(const fake_http *f) {
  return f->url;
}

void fake_http_push(fake_http *f, const fake_reply *r) {
  fake_reply c = *r;
  c.headers = r->headers ? dup_mem(r->headers, strlen(r->headers)) : NULL;
  if (r->body) {
    size_t n = r->body_len ? r->body_len : strlen(r->body);
    c.body = dup_mem(r->body, n);
    c.body_len = n;
  }
  if (r->chunks) {
    size_t n = 0;
    while (r->chunks[n])
      n++;
    const char **ch = calloc(n + 1, sizeof(*ch));
    if (!ch) {
      fprintf(stderr, "fake_http: out of memory\n");
      abort();
    }
    for (size_t i = 0; i < n; i++)
      ch[i] = dup_mem(r->chunks[i], strlen(r->chunks[i]));
    c.chunks = ch;
  }
  pthread_mutex_lock(&f->mu);
  if (f->nreplies == f->replies_cap) {
    size_t nc = f->replies_cap ? f->replies_cap * 2 : 16;
    fake_reply *p = realloc(f->replies, nc * sizeof(*p));
    if (!p) {
      fprintf(stderr, "fake_http: out of memory\n");
      abort();
    }
    f->replies = p;
    f->replies_cap = nc;
  }
  f->replies[f->nreplies++] = c;
  pthread_mutex_unlock(&f->mu);
}

void fake_http_push_json(fake_http *f, int status, const char *json) {
  fake_reply r;
  memset(&r, 0, sizeof(r));
  r.status = status;
  r.headers = "Content-Type: application/json\r\n";
  r.body = json;
  fake_http_push(f, &r);
}

void fake_http_set_handler(fake_http *f, fake_handler h, void *ctx) {
  pthread_mutex_lock(&f->mu);
  f->handler = h;
  f->handler_ctx = ctx;
  pthread_mutex_unlock(&f->mu);
}

size_t fake_http_count(fake_http *f) {
  pthread_mutex_lock(&f->mu);
  size_t n = f->nreqs;
  pthread_mutex_unlock(&f->mu);
  return n;
}

const fake_request *fake_http_request(fake_http *f, size_t i) {
  pthread_mutex_lock(&f->mu);
  const fake_request *q = i < f->nreqs ? f->reqs[i] : NULL;
  pthread_mutex_unlock(&f->mu);
  return q;
}

size_t fake_http_connections(fake_http *f) {
  pthread_mutex_lock(&f->mu);
  size_t n = f->nconns_accepted;
  pthread_mutex_unlock(&f->mu);
  return n;
}

const char *fake_request_header(const fake_request *req, const char *name,
                                char *buf, size_t n) {
  return header_value(req->headers, name, buf, n);
}

void fake_http_stop(fake_http *f) {
  if (!f)
    return;
  pthread_mutex_lock(&f->mu);
  if (f->busy_fd >= 0)
    shutdown(f->busy_fd, SHUT_RDWR); /* wakes a send() blocked on a peer */
  pthread_mutex_unlock(&f->mu);
  ssize_t w;
  do
    w = write(f->wake[1], "x", 1);
  while (w < 0 && errno == EINTR);
  pthread_join(f->th, NULL);
  close(f->lfd);
  close(f->wake[0]);
  close(f->wake[1]);
  for (size_t i = f->head; i < f->nreplies; i++)
    reply_free(&f->replies[i]);
  free(f->replies);
  for (size_t i = 0; i < f->nreqs; i++)
    request_free(f->reqs[i]);
  free(f->reqs);
  pthread_mutex_destroy(&f->mu);
  free(f);
}
