/* api/api_guard.c -- Total deadlines for receiving a request (slowloris
** defence), enforced by a watchdog thread; see api_int.h.
** Why shutdown(2) and not close(2): the socket belongs to MHD. shutdown
** makes its next read return 0, and MHD closes the connection on its own
** thread. The fd cannot have been reused meanwhile: MHD calls the CLOSED
** notification (which takes the mutex and unlinks the entry) before it
** closes the fd, and the watchdog holds the same mutex while it shuts a
** socket down. */
#include "api/api_int.h"

#include "core/rag_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define TICK_MS 250 /* watchdog period */

enum { PH_HEADERS, PH_BODY, PH_BUSY };

typedef struct gconn {
  struct gconn *prev, *next;
  int fd;
  int phase;
  int cut;   /* already shut down */
  double t0; /* start of the phase, rag_now() seconds */
  uint64_t bytes;
} gconn;

struct api_guard {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  int stop, started;
  double header_s, body_s, min_rate;
  gconn head; /* circular list sentinel */
};

static void *watchdog(void *arg) {
  api_guard *g = arg;
  pthread_mutex_lock(&g->mu);
  while (!g->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    double now = rag_now();
    for (gconn *c = g->head.next; c != &g->head; c = c->next) {
      double limit = c->phase == PH_HEADERS ? g->header_s
                     : c->phase == PH_BODY
                         ? g->body_s + (double)c->bytes / g->min_rate
                         : -1;
      if (c->cut || limit < 0 || now - c->t0 <= limit)
        continue;
      rag_log(RAG_LOG_DEBUG,
              "guard: closing a connection: %s not received "
              "within %.0f s",
              c->phase == PH_HEADERS ? "headers" : "body", limit);
      shutdown(c->fd, SHUT_RDWR);
      c->cut = 1;
    }
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

rag_status api_guard_open(double header_s, double body_s, double min_rate,
                          api_guard **out, rag_err *err) {
  *out = NULL;
  api_guard *g = calloc(1, sizeof(*g));
  if (!g)
    return rag_fail(err, RAG_NOMEM, "server: out of memory");
  g->header_s = header_s;
  g->body_s = body_s;
  g->min_rate = min_rate > 0 ? min_rate : 1;
  g->head.next = g->head.prev = &g->head;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  if (pthread_create(&g->th, NULL, watchdog, g) != 0) {
    api_guard_close(g);
    return rag_fail(err, RAG_IO, "server: cannot start the watchdog");
  }
  g->started = 1;
  *out = g;
  return RAG_OK;
}

void api_guard_close(api_guard *g) {
  if (!g)
    return;
  if (g->started) {
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
  }
  /* MHD_stop_daemon ran first: every connection was notified closed. */
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

void api_guard_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                      enum MHD_ConnectionNotificationCode code) {
  api_guard *g = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    gconn *n = ci ? calloc(1, sizeof(*n)) : NULL;
    *socket_ctx = n;
    if (!n)
      return; /* unguarded; MHD's idle timeout still applies */
    n->fd = ci->connect_fd;
    n->phase = PH_HEADERS;
    n->t0 = rag_now();
    pthread_mutex_lock(&g->mu);
    n->next = g->head.next;
    n->prev = &g->head;
    g->head.next->prev = n;
    g->head.next = n;
    pthread_mutex_unlock(&g->mu);
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    gconn *n = *socket_ctx;
    if (!n)
      return;
    pthread_mutex_lock(&g->mu);
    n->prev->next = n->next;
    n->next->prev = n->prev;
    pthread_mutex_unlock(&g->mu);
    free(n);
    *socket_ctx = NULL;
  }
}

static void set_phase(api_guard *g, struct MHD_Connection *c, int phase,
                      size_t add) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  gconn *n = ci ? ci->socket_context : NULL;
  if (!n)
    return;
  pthread_mutex_lock(&g->mu);
  if (phase >= 0) {
    n->phase = phase;
    n->t0 = rag_now();
    n->bytes = 0;
  }
  n->bytes += add;
  pthread_mutex_unlock(&g->mu);
}

void api_guard_body_start(api_guard *g, struct MHD_Connection *c) {
  set_phase(g, c, PH_BODY, 0);
}
void api_guard_body_bytes(api_guard *g, struct MHD_Connection *c, size_t n) {
  set_phase(g, c, -1, n);
}
void api_guard_body_done(api_guard *g, struct MHD_Connection *c) {
  set_phase(g, c, PH_BUSY, 0);
}
void api_guard_request_done(api_guard *g, struct MHD_Connection *c) {
  set_phase(g, c, PH_HEADERS, 0);
}
