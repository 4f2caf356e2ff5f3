/* tests/fake_http.h -- A fake HTTP/1.1 server on 127.0.0.1 for provider
** tests, in the spirit of curl's tests/data: each test scripts the replies
** and then checks the exact requests the client sent.
** The server runs on its own thread, listens on an ephemeral port, answers
** one request at a time (several keep-alive connections may be open; the
** thread polls them all), reads a whole request
** (Content-Length or chunked body) and answers with the next scripted
** reply, or with the handler's reply when one is set. With no reply left it
** answers 500 {"error":"fake_http: no scripted reply"}.
** Ownership: fake_http_start/fake_http_stop; replies are copied by push;
**            recorded requests live until stop.
** Threads:   push/count/request may be called from the test thread while
**            the server thread runs (internal mutex). */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

#include <stddef.h>

typedef struct fake_reply {
  int status;                /* 0 means 200 */
  const char *headers;       /* extra lines "Name: v\r\n...", may be NULL */
  const char *body;          /* may be NULL */
  size_t body_len;           /* 0: strlen(body) */
  const char *const *chunks; /* non-NULL: chunked transfer, one chunk per
                                string, NULL-terminated (streaming) */
  int chunk_delay_ms;        /* pause before each chunk */
  int delay_ms;              /* pause before the status line (slow reply) */
  int truncate;              /* send headers and part of the body, then
                                close the connection (broken reply):
                                Content-Length claims the whole body and
                                half is sent; a chunked reply sends the
                                first half of its chunks (at least one)
                                and no final zero-length chunk */
  /* Fault behaviours (provider fault tests); all 0 by default. */
  int raw;     /* send body's bytes as they are -- no status line, no
                  headers (garbage instead of HTTP) -- then close */
  int forever; /* chunked: after the chunks, send the last one again
                  every chunk_delay_ms, for ever (a stream that never
                  ends), until the client hangs up or the server stops */
  int stall;   /* send headers and the first half of the body or chunks
                  (as truncate), then send nothing more and keep the
                  connection open until the client hangs up or the
                  server stops (a stalled reply) */
} fake_reply;

typedef struct fake_request {
  char method[16];
  char path[2048]; /* request target, with query string */
  char *headers;   /* raw header block, "Name: value\r\n" lines */
  char *body;      /* NUL-terminated (body_len bytes before the NUL) */
  size_t body_len;
} fake_request;

typedef struct fake_http fake_http;

/* Starts a server; NULL on failure (with a message on stderr). */
fake_http *fake_http_start(void);
/* "http://127.0.0.1:PORT" (no trailing slash); owned by the server. */
const char *fake_http_url(const fake_http *f);
/* Queues a reply (copied, including strings and chunks). */
void fake_http_push(fake_http *f, const fake_reply *r);
/* Convenience: queue a 200-or-status reply with a JSON body. */
void fake_http_push_json(fake_http *f, int status, const char *json);

/* Alternative to scripting: handler computes each reply. Strings put in
** *out must stay valid until the next request (static or owned by ctx). */
typedef void (*fake_handler)(void *ctx, const fake_request *req,
                             fake_reply *out);
void fake_http_set_handler(fake_http *f, fake_handler h, void *ctx);

/* Requests received so far; i < count. The pointer is stable until stop. */
size_t fake_http_count(fake_http *f);
const fake_request *fake_http_request(fake_http *f, size_t i);
/* Connections accepted so far (keep-alive tests: two requests over one
** reused client connection leave this at 1). */
size_t fake_http_connections(fake_http *f);
/* Value of header `name` (case-insensitive) in req, copied into buf (size
** n); returns buf, or NULL when absent. */
const char *fake_request_header(const fake_request *req, const char *name,
                                char *buf, size_t n);

/* Stops the thread, closes the socket, frees everything. NULL is a no-op. */
void fake_http_stop(fake_http *f);

#endif
