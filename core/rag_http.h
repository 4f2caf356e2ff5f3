/* core/rag_http.h -- The one HTTP client, over libcurl, shared by every
** remote provider (embedding, rerank, LLM).
**
** What it does for every call:
**   - connection reuse (one CURL easy handle per rag_http, kept open);
**   - connect / total / stream-idle / whole-stream timeouts, so a stream
**     that never ends (keep-alive comments, endless tokens) still ends;
**   - a cap on the bytes of every body, buffered or streamed (max_response,
**     64 MiB by default), so a runaway reply cannot exhaust memory or run
**     for ever;
**   - retries with exponential backoff and FULL jitter
**     (sleep = uniform(0, min(backoff_max, backoff_base * 2^attempt)))
**     on HTTP 429, 5xx, connection errors and timeouts -- never on other
**     4xx (400, 401, 403, 404, 422 ...);
**   - honours Retry-After (delta-seconds or an HTTP-date) on 429/503: waits
**     that long instead (capped by retry_after_max; a longer demand fails at
**     once with RAG_UPSTREAM saying how long the server asked to wait);
**   - a streamed response that already delivered bytes is never retried
**     (the caller has consumed them);
**   - a clock that tests inject (now + sleep), so retries run instantly and
**     deterministically in tests.
** Secrets: request headers are never copied into errors or logs, and the
**          value of every credential header of the request (Authorization
**          and Proxy-Authorization, also the token after "Bearer "/"Basic ",
**          and any header whose name holds "key", "token", "secret" or
**          "auth": api-key, x-api-key, ...) is replaced by "***" wherever
**          it appears in a buffered (error) body, before resp or the error
**          message is filled: a provider that echoes the key it was sent
**          (a 401 body, say) cannot make ragd repeat it.
**
** Ownership: rag_http_new/rag_http_free; rag_http_resp owns its body
**            (rag_http_resp_free).
** Errors:    rag_status + rag_err. RAG_UPSTREAM for an HTTP error status
**            after retries ("HTTP 429 from 127.0.0.1:8080/v1/embeddings
**            after 4 attempts: <first 200 bytes of the body>"), RAG_TIMEOUT
**            for a timeout, RAG_IO for a connection failure, RAG_TOOBIG when
**            the response exceeds max_response. resp->status is still set
**            for an HTTP error status.
** Threads:   a rag_http is used by one thread at a time (curl's rule for an
**            easy handle); create one per thread. curl_global_init() must
**            have run before (main does it). */
#ifndef RAG_HTTP_H
#define RAG_HTTP_H

#include "core/rag.h"
#include "core/rag_buf.h"

/* An injectable clock. now() returns seconds (any epoch, monotonic);
** sleep() waits (or, in tests, just advances now()).
** rag_http uses it only between attempts (backoff sleeps) and as "now" for
** Retry-After HTTP-dates: an injected clock's now() is taken as Unix time
** there, while rag_clock_real() reads wall time for dates. Timeouts inside
** a transfer always run on real time (a test clock never advances alone). */
typedef struct rag_clock {
  double (*now)(void *ctx);
  void (*sleep)(void *ctx, double seconds);
  void *ctx;
} rag_clock;

/* The real clock: rag_now() and nanosleep(). Static; never NULL. */
const rag_clock *rag_clock_real(void);

typedef struct rag_http_opts {
  double connect_timeout;     /* seconds (10) */
  double total_timeout;       /* seconds for a whole non-streamed call (120) */
  double stream_idle_timeout; /* seconds without a byte on a stream (60),
                                 checked about once a second */
  double stream_timeout;      /* seconds for a whole streamed call (600):
                                 ends streams that never finish */
  int max_retries;            /* retries after the first attempt (3) */
  double backoff_base;        /* seconds (0.5) */
  double backoff_max;         /* seconds (20) */
  double retry_after_max;     /* seconds; longer Retry-After fails (60) */
  size_t max_response;        /* bytes of a body, buffered or streamed
                                 (64 MiB): past it, RAG_TOOBIG */
  const rag_clock *clock;     /* NULL: rag_clock_real() */
  uint64_t jitter_seed;       /* 0: seeded from the clock and the address */
  const char *user_agent;     /* NULL: "ragd/<version>" */
} rag_http_opts;

rag_http_opts rag_http_opts_default(void);

typedef struct rag_http rag_http;

rag_status rag_http_new(const rag_http_opts *o, rag_http **out, rag_err *err);
void rag_http_free(rag_http *h); /* NULL is a no-op */

/* Streamed body bytes, in order, as they arrive (any split). Return RAG_OK
** to go on; anything else aborts the transfer and becomes the call's
** status. */
typedef rag_status (*rag_http_data_fn)(void *ctx, const char *p, size_t n);

typedef struct rag_http_req {
  const char *method; /* "GET", "POST", "DELETE" ... */
  const char *url;
  const char *const *headers; /* "Name: value" strings, NULL-terminated;
                                 may be NULL. "Expect:" is always added
                                 (no 100-continue round trip); with a
                                 body and no Content-Type, it is
                                 "application/json". Redirects are not
                                 followed. */
  const char *body;           /* may be NULL */
  size_t body_len;
  rag_http_data_fn on_data; /* non-NULL: stream the body (2xx only;
                               error bodies are buffered into resp) */
  void *ctx;                /* for on_data */
} rag_http_req;

typedef struct rag_http_resp {
  long status;            /* last HTTP status; 0 when none arrived */
  rag_buf body;           /* buffered body (error bodies too, capped) */
  char content_type[128]; /* "" when absent */
  int attempts;           /* attempts made (1 + retries) */
  double retry_wait;      /* total seconds slept between attempts */
} rag_http_resp;

void rag_http_resp_init(rag_http_resp *r);
void rag_http_resp_free(rag_http_resp *r);

/* Performs req with retries as described at the top. Returns RAG_OK only
** for a 2xx final status. resp must be initialized (rag_http_resp_init);
** it is reset at the start. */
rag_status rag_http_do(rag_http *h, const rag_http_req *req,
                       rag_http_resp *resp, rag_err *err);

/* Masks, in place, every credential value of the request headers (the
** same rule as for error bodies above) in the NUL-terminated text s: for
** callers that quote a 2xx body (an error event inside a stream, say) in
** their own error messages. headers may be NULL. */
void rag_http_mask(const char *const *headers, char *s);

/* Parses a Retry-After value: delta-seconds ("120") or an IMF-fixdate
** ("Wed, 21 Oct 2015 07:28:00 GMT", also the obsolete RFC 850 and asctime
** forms); now_epoch is the current Unix time. Returns 0 and sets *seconds
** (>= 0; a date in the past gives 0), or -1 when unparsable. */
int rag_http_parse_retry_after(const char *value, double now_epoch,
                               double *seconds);

#endif
