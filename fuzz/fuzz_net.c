/* fuzz/fuzz_net.c -- See fuzz_net.h. One thread, one connection served at
** a time: the harness's clients make one call at a time, and a new
** connection (a client that gave up on a kept-alive one) replaces the old.
*/
#include "fuzz/fuzz_net.h"

#include <arpa/inet.h>
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

static int lfd = -1;
static char url[64];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static fuzz_reply cur;
static uint8_t *cur_body, *cur_cuts;

void fuzz_net_set(const fuzz_reply *r) {
  pthread_mutex_lock(&mu);
  free(cur_body);
  free(cur_cuts);
  cur = *r;
  cur_body = malloc(r->len ? r->len : 1);
  cur_cuts = malloc(r->ncuts ? r->ncuts : 1);
  if (!cur_body || !cur_cuts)
    abort();
  memcpy(cur_body, r->body, r->len);
  if (r->cuts)
    memcpy(cur_cuts, r->cuts, r->ncuts);
  cur.body = cur_body;
  cur.cuts = r->cuts ? cur_cuts : NULL;
  pthread_mutex_unlock(&mu);
}

static int send_all(int fd, const void *p, size_t n) {
  const char *s = p;
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int reply(int fd) {
  char head[256];
  pthread_mutex_lock(&mu);
  int rc = 0;
  int hl =
      snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%s",
               cur.status, cur.ctype ? cur.ctype : "application/json",
               cur.cuts ? "Transfer-Encoding: chunked\r\n\r\n" : "");
  if (!cur.cuts)
    hl += snprintf(head + hl, sizeof head - (size_t)hl,
                   "Content-Length: %zu\r\n\r\n", cur.len);
  rc |= send_all(fd, head, (size_t)hl);
  if (!cur.cuts) {
    rc |= send_all(fd, cur.body, cur.len);
  } else {
    size_t off = 0, c = 0;
    while (!rc && off < cur.len) {
      size_t piece =
          c < cur.ncuts ? (size_t)cur.cuts[c++] % 64 + 1 : cur.len - off;
      if (piece > cur.len - off)
        piece = cur.len - off;
      char sz[32];
      int sl = snprintf(sz, sizeof sz, "%zx\r\n", piece);
      rc |= send_all(fd, sz, (size_t)sl);
      rc |= send_all(fd, cur.body + off, piece);
      rc |= send_all(fd, "\r\n", 2);
      off += piece;
    }
    rc |= send_all(fd, "0\r\n\r\n", 5);
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

/* Reads one request (headers, then Content-Length or chunked body, which
** is skipped) and replies. -1 when the connection is done. */
static int serve_one(int fd, char *buf, size_t cap, size_t *have) {
  for (;;) {
    char *end = memmem(buf, *have, "\r\n\r\n", 4);
    if (end) {
      size_t hlen = (size_t)(end - buf) + 4;
      size_t clen = 0;
      int chunked = 0;
      for (char *l = buf; l < end;) {
        char *nl = memmem(l, (size_t)(end - l) + 2, "\r\n", 2);
        if (!nl)
          break;
        if (strncasecmp(l, "Content-Length:", 15) == 0)
          clen = strtoul(l + 15, NULL, 10);
        if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 &&
            memmem(l, (size_t)(nl - l), "chunked", 7))
          chunked = 1;
        l = nl + 2;
      }
      size_t need = hlen + clen;
      if (chunked) {
        char *z = memmem(buf + hlen, *have - hlen, "\r\n0\r\n\r\n", 7);
        if (!z &&
            !(*have - hlen >= 5 && memcmp(buf + hlen, "0\r\n\r\n", 5) == 0))
          goto more;
        need = z ? (size_t)(z - buf) + 7 : hlen + 5;
      }
      if (*have < need)
        goto more;
      if (reply(fd))
        return -1;
      memmove(buf, buf + need, *have - need);
      *have -= need;
      continue;
    }
  more:
    if (*have == cap)
      return -1; /* request bigger than we care for */
    struct pollfd p[2] = {{fd, POLLIN, 0}, {lfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0)
      return -1;
    if (p[1].revents & POLLIN)
      return -1; /* a new connection: the client moved on */
    ssize_t r = recv(fd, buf + *have, cap - *have, 0);
    if (r <= 0)
      return -1;
    *have += (size_t)r;
  }
}

static void *loop(void *arg) {
  (void)arg;
  size_t cap = 8u << 20;
  char *buf = malloc(cap);
  if (!buf)
    abort();
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
      continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t have = 0;
    serve_one(fd, buf, cap, &have);
    close(fd);
  }
  return NULL;
}

const char *fuzz_net_start(void) {
  if (lfd >= 0)
    return url;
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(lfd, 64) != 0 || getsockname(lfd, (struct sockaddr *)&a, &al)) {
    perror("fuzz_net: listen");
    abort();
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
  fuzz_reply r = {200, "application/json", (const uint8_t *)"{}", 2, NULL, 0};
  fuzz_net_set(&r);
  pthread_t t;
  if (pthread_create(&t, NULL, loop, NULL) != 0)
    abort();
  pthread_detach(t);
  return url;
}
