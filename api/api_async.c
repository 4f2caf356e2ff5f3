/* api/api_async.c -- Work that must not hold an MHD worker: replies that
** wait on an LLM (deferred replies) and server-sent event streams.
** Divisions: registry | deferred replies | SSE streams.
**
** Why: a pool thread serves every connection it accepted, so a handler
** that blocks on a model call (seconds, retries, Retry-After waits) stalls
** all of them -- retrieval, /healthz -- and four slow chats stall a
** four-thread server. Instead the connection is suspended
** (MHD_suspend_connection) while the work runs on a thread of its own,
** and resumed when there is something to send.
**
** Deferred replies: api_defer suspends the request's connection and runs
** fn on a new thread; fn replies as a handler does (api_reply_json,
** api_error), then the thread resumes the connection, MHD calls the
** access handler again and api_server.c sends the reply.
**
** Streams: the generation runs on a thread of its own and writes SSE
** frames into a bounded queue (STREAM_QCAP bytes; the writer blocks when
** it is full, so a slow client throttles the generation). MHD's content
** reader drains the queue; when it is empty the reader suspends the
** connection and the next write (or the end) resumes it. When the client
** disconnects MHD destroys the response: the free callback cancels (the
** writer and on_delta fail, the provider aborts its stream), joins the
** thread and frees the job.
**
** Suspension rules kept here: whoever clears `suspended` resumes, exactly
** once per suspension; MHD_resume_connection is never called under st->mu
** (MHD takes its own locks there); MHD_stop_daemon must find nothing
** suspended, so api_async_quiesce (before it) stops new suspensions,
** waits for the deferred replies and resumes every waiting stream. */
#include "api/api_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_QCAP (256 * 1024)

struct api_stream {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *q; /* pending bytes q[off..len) */
  size_t len, off, cap;
  int done, cancel, started;
  int suspended; /* the reader suspended the connection, none resumed it */
  pthread_t th;
  api_server *srv;
  struct MHD_Connection *conn;
  api_stream_fn fn;
  void *ctx;
  void (*ctx_free)(void *ctx);
  api_stream *prev, *next; /* srv->streams, under srv->async_mu */
};

/* ---- registry ---- */

void api_async_init(api_server *s) {
  pthread_mutex_init(&s->async_mu, NULL);
  pthread_cond_init(&s->async_cv, NULL);
}

void api_async_destroy(api_server *s) {
  pthread_cond_destroy(&s->async_cv);
  pthread_mutex_destroy(&s->async_mu);
}

/* Takes a unit of async work; 0 when the server is closing. */
static int async_enter(api_server *s) {
  pthread_mutex_lock(&s->async_mu);
  int ok = !s->closing;
  if (ok)
    s->async_jobs++;
  pthread_mutex_unlock(&s->async_mu);
  return ok;
}

static void async_leave(api_server *s) {
  pthread_mutex_lock(&s->async_mu);
  if (--s->async_jobs == 0)
    pthread_cond_broadcast(&s->async_cv);
  pthread_mutex_unlock(&s->async_mu);
}

void api_async_quiesce(api_server *s) {
  pthread_mutex_lock(&s->async_mu);
  atomic_store(&s->closing, 1);
  while (s->async_jobs > 0)
    pthread_cond_wait(&s->async_cv, &s->async_mu);
  pthread_mutex_unlock(&s->async_mu);
  /* Readers check `closing` under st->mu before suspending, so after this
  ** no stream is suspended or will be. One at a time, resumed with
  ** async_mu released: MHD may free a response (stream_free takes
  ** async_mu) while holding the locks MHD_resume_connection takes. The
  ** connection stays valid until resumed: MHD frees no suspended one. */
  for (;;) {
    struct MHD_Connection *conn = NULL;
    pthread_mutex_lock(&s->async_mu);
    for (api_stream *st = s->streams; st && !conn; st = st->next) {
      pthread_mutex_lock(&st->mu);
      if (st->suspended)
        conn = st->conn;
      st->suspended = 0;
      pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->async_mu);
    if (!conn)
      break;
    MHD_resume_connection(conn);
  }
}

/* ---- deferred replies ---- */

typedef struct defer_job {
  api_req *r;
  api_defer_fn fn;
  void *ctx;
} defer_job;

static void *defer_main(void *p) {
  defer_job *d = p;
  api_req *r = d->r;
  api_server *s = r->srv;
  struct MHD_Connection *conn = r->conn;
  d->fn(r, d->ctx);
  free(d);
  atomic_store(&r->defer_done, 1);
  /* From here r belongs to MHD again (it may be freed at once). */
  MHD_resume_connection(conn);
  async_leave(s);
  return NULL;
}

int api_defer(api_req *r, api_defer_fn fn, void *ctx) {
  defer_job *d = malloc(sizeof(*d));
  if (!d || !async_enter(r->srv)) {
    int closing = d != NULL;
    free(d);
    if (closing) {
      r->retry_after = 1;
      api_error(r, 503, "unavailable", "the server is stopping");
    } else {
      api_error(r, 500, "internal_error", "out of memory");
    }
    return 0;
  }
  d->r = r;
  d->fn = fn;
  d->ctx = ctx;
  r->deferred = 1;
  MHD_suspend_connection(r->conn);
  pthread_t th;
  pthread_attr_t at;
  int rc = pthread_attr_init(&at);
  if (!rc) {
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &at, defer_main, d);
    pthread_attr_destroy(&at);
  }
  if (rc)
    defer_main(d); /* no thread: the work runs here, then resumes */
  return 1;
}

/* ---- SSE streams ---- */

static void *stream_main(void *p) {
  api_stream *st = p;
  st->fn(st, st->ctx);
  pthread_mutex_lock(&st->mu);
  st->done = 1;
  int wake = st->suspended;
  st->suspended = 0;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (wake)
    MHD_resume_connection(st->conn);
  return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  api_stream *st = cls;
  (void)pos;
  ssize_t n = 0;
  pthread_mutex_lock(&st->mu);
  if (st->len > st->off) {
    size_t k = st->len - st->off < max ? st->len - st->off : max;
    memcpy(buf, st->q + st->off, k);
    st->off += k;
    if (st->off == st->len)
      st->off = st->len = 0;
    pthread_cond_broadcast(&st->cv); /* room for a blocked writer */
    n = (ssize_t)k;
  } else if (st->done) {
    n = MHD_CONTENT_READER_END_OF_STREAM;
  } else if (atomic_load(&st->srv->closing)) {
    n = MHD_CONTENT_READER_END_WITH_ERROR; /* api_close: cut it short */
  } else {
    st->suspended = 1; /* "nothing yet": the next write resumes */
    MHD_suspend_connection(st->conn);
  }
  pthread_mutex_unlock(&st->mu);
  return n;
}

static void stream_free(void *cls) {
  api_stream *st = cls;
  pthread_mutex_lock(&st->mu);
  st->cancel = 1;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (st->started)
    pthread_join(st->th, NULL);
  if (st->ctx_free)
    st->ctx_free(st->ctx);
  if (st->srv) {
    api_server *s = st->srv;
    pthread_mutex_lock(&s->async_mu);
    if (st->prev)
      st->prev->next = st->next;
    else
      s->streams = st->next;
    if (st->next)
      st->next->prev = st->prev;
    pthread_mutex_unlock(&s->async_mu);
  }
  pthread_cond_destroy(&st->cv);
  pthread_mutex_destroy(&st->mu);
  free(st->q);
  free(st);
}

int api_stream_write(api_stream *st, const char *data, size_t n) {
  int rc = 0;
  pthread_mutex_lock(&st->mu);
  while (!st->cancel && st->len > st->off &&
         st->len - st->off + n > STREAM_QCAP)
    pthread_cond_wait(&st->cv, &st->mu);
  if (st->cancel) {
    rc = -1;
  } else {
    if (st->off) { /* compact */
      memmove(st->q, st->q + st->off, st->len - st->off);
      st->len -= st->off;
      st->off = 0;
    }
    if (st->len + n > st->cap) {
      size_t nc = st->len + n + 4096;
      char *nq = realloc(st->q, nc);
      if (!nq)
        rc = -1;
      else
        st->q = nq, st->cap = nc;
    }
    if (!rc) {
      memcpy(st->q + st->len, data, n);
      st->len += n;
      pthread_cond_broadcast(&st->cv);
    }
  }
  int wake = !rc && st->suspended;
  if (wake)
    st->suspended = 0;
  pthread_mutex_unlock(&st->mu);
  if (wake)
    MHD_resume_connection(st->conn);
  return rc;
}

int api_stream_event(api_stream *st, cJSON *root) {
  char *t = root ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!t)
    return -1;
  int rc = api_stream_write(st, "data: ", 6);
  if (!rc)
    rc = api_stream_write(st, t, strlen(t));
  if (!rc)
    rc = api_stream_write(st, "\n\n", 2);
  free(t);
  return rc;
}

int api_stream_start(api_req *r, api_stream_fn fn, void *ctx,
                     void (*ctx_free)(void *ctx)) {
  api_stream *st = calloc(1, sizeof(*st));
  if (!st) {
    if (ctx_free)
      ctx_free(ctx);
    return api_error(r, 500, "internal_error", "out of memory"), 0;
  }
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  st->fn = fn;
  st->ctx = ctx;
  st->ctx_free = ctx_free;
  st->conn = r->conn;
  api_server *s = r->srv;
  pthread_mutex_lock(&s->async_mu);
  int closing = s->closing;
  if (!closing) {
    st->srv = s;
    st->next = s->streams;
    if (s->streams)
      s->streams->prev = st;
    s->streams = st;
  }
  pthread_mutex_unlock(&s->async_mu);
  if (closing) {
    stream_free(st);
    r->retry_after = 1;
    return api_error(r, 503, "unavailable", "the server is stopping"), 0;
  }
  struct MHD_Response *resp = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
  if (!resp) {
    stream_free(st);
    return api_error(r, 500, "internal_error", "cannot create a stream"), 0;
  }
  MHD_add_response_header(resp, "Content-Type", "text/event-stream");
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  if (pthread_create(&st->th, NULL, stream_main, st) != 0) {
    MHD_destroy_response(resp); /* stream_free: not started, frees ctx */
    return api_error(r, 500, "internal_error", "cannot start a thread"), 0;
  }
  st->started = 1;
  r->stream = resp;
  r->status = 200;
  return 1;
}
