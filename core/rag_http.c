/* core/rag_http.c -- The HTTP client over libcurl's easy API.
**
** Layout of this file:
**   1. clocks and the jitter PRNG
**   2. Retry-After parsing (delta-seconds and the three HTTP-date forms)
**   3. one attempt: curl options, write and header callbacks
**   4. rag_http_do: classification of each attempt and the retry loop
**
** Timeouts run on real time inside curl (connect, total, stream idle): an
** injected test clock does not advance by itself, so it could never end a
** transfer. The injected clock is used only for what happens between
** attempts -- backoff sleeps -- and as "now" for Retry-After dates.
**
** Retry policy, per attempt:
**   2xx                                  done
**   429, 5xx                             retry (Retry-After on 429/503)
**   other HTTP status                    fail at once (RAG_UPSTREAM)
**   connect/send/recv/timeout errors     retry, unless a streamed 2xx has
**                                        already handed bytes to on_data
**   on_data error, body over the cap     fail at once
**   malformed URL, other curl errors     fail at once
**
** A stream has two clocks: the idle timeout (no byte for that long) and
** the whole-stream deadline (stream_timeout). Without the second, a server
** that sends a keep-alive comment every few seconds, or tokens for ever,
** would hold the caller for ever; max_response bounds the bytes it can
** push within the deadline. */
#include "core/rag_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- 1. clocks and the jitter PRNG ------------------------------------- */

static double real_now(void *ctx) {
  (void)ctx;
  return rag_now();
}

static void real_sleep(void *ctx, double seconds) {
  (void)ctx;
  if (!(seconds > 0))
    return;
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static const rag_clock real_clock = {real_now, real_sleep, NULL};

const rag_clock *rag_clock_real(void) {
  return &real_clock;
}

/* Unix time for Retry-After dates. The real clock's now() is monotonic
** with an arbitrary epoch, so wall time is read instead; an injected
** clock's now() is taken as Unix time, which lets tests pin dates. */
static double epoch_now(const rag_clock *c) {
  if (c == &real_clock) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  }
  return c->now(c->ctx);
}

/* splitmix64: tiny, well mixed, and reproducible from one seed -- all the
** jitter needs, and it keeps the client free of rand()'s global state. */
static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* ---- 2. Retry-After ---------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int month_index(const char *p) {
  static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  for (int i = 0; i < 12; i++)
    if (strncmp(p, names + 3 * i, 3) == 0)
      return i + 1;
  return 0;
}

/* Reads exactly `digits` decimal digits (or 1..digits when `digits` < 0,
** up to -digits) into *v; returns the new position or NULL. */
static const char *num(const char *p, int digits, int *v) {
  int max = digits < 0 ? -digits : digits, n = 0, x = 0;
  while (n < max && p[n] >= '0' && p[n] <= '9')
    x = x * 10 + (p[n++] - '0');
  if (n == 0 || (digits > 0 && n != digits))
    return NULL;
  *v = x;
  return p + n;
}

/* "HH:MM:SS" */
static const char *hms(const char *p, int *h, int *mi, int *s) {
  if (!(p = num(p, 2, h)) || *p++ != ':' || !(p = num(p, 2, mi)) ||
      *p++ != ':' || !(p = num(p, 2, s)))
    return NULL;
  return p;
}

static const char *lit(const char *p, const char *s) {
  size_t n = strlen(s);
  return p && strncmp(p, s, n) == 0 ? p + n : NULL;
}

/* Parses the three HTTP-date forms of RFC 9110 section 5.6.7 into Unix
** time. Returns 0 on success. */
static int parse_http_date(const char *p, int64_t *out) {
  int d = 0, mo = 0, y = 0, h = 0, mi = 0, s = 0;
  size_t wl = 0;
  while ((p[wl] >= 'A' && p[wl] <= 'Z') || (p[wl] >= 'a' && p[wl] <= 'z'))
    wl++;
  if (wl < 3)
    return -1;
  p += wl;
  if (*p == ',') {
    p++;
    if (*p++ != ' ' || !(p = num(p, 2, &d)))
      return -1;
    if (*p == ' ') { /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
      if (!(mo = month_index(p + 1)) || p[4] != ' ' || !(p = num(p + 5, 4, &y)))
        return -1;
    } else if (*p == '-') { /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
      if (!(mo = month_index(p + 1)) || p[4] != '-' || !(p = num(p + 5, 2, &y)))
        return -1;
      /* two-digit years: RFC 9110 says to pick the most recent past year
      ** with those digits; for a retry date, 20xx is that year. */
      y += y < 70 ? 2000 : 1900;
    } else
      return -1;
    if (*p++ != ' ' || !(p = hms(p, &h, &mi, &s)) || !(p = lit(p, " GMT")))
      return -1;
  } else { /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (*p++ != ' ' || !(mo = month_index(p)) || p[3] != ' ')
      return -1;
    p += 4;
    if (*p == ' ')
      p++;
    if (!(p = num(p, -2, &d)) || *p++ != ' ' || !(p = hms(p, &h, &mi, &s)) ||
        *p++ != ' ' || !(p = num(p, 4, &y)))
      return -1;
  }
  if (*p || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return -1;
  *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  return 0;
}

int rag_http_parse_retry_after(const char *value, double now_epoch,
                               double *seconds) {
  if (!value)
    return -1;
  char v[128];
  while (*value == ' ' || *value == '\t')
    value++;
  size_t n = strlen(value);
  while (n && (value[n - 1] == ' ' || value[n - 1] == '\t' ||
               value[n - 1] == '\r' || value[n - 1] == '\n'))
    n--;
  if (n == 0 || n >= sizeof(v))
    return -1;
  memcpy(v, value, n);
  v[n] = '\0';
  if (v[0] >= '0' && v[0] <= '9') {
    double x = 0;
    for (size_t i = 0; i < n; i++) {
      if (v[i] < '0' || v[i] > '9')
        return -1;
      x = x * 10 + (v[i] - '0');
    }
    *seconds = x;
    return 0;
  }
  int64_t t;
  if (parse_http_date(v, &t))
    return -1;
  double w = (double)t - now_epoch;
  *seconds = w > 0 ? w : 0;
  return 0;
}

/* ---- 3. one attempt ---------------------------------------------------- */

struct rag_http {
  CURL *curl;
  rag_http_opts o;
  uint64_t rng;
  char ua[64];
  char errbuf[CURL_ERROR_SIZE];
};

rag_http_opts rag_http_opts_default(void) {
  rag_http_opts o;
  memset(&o, 0, sizeof(o));
  o.connect_timeout = 10;
  o.total_timeout = 120;
  o.stream_idle_timeout = 60;
  /* LiteLLM's default request timeout: long enough for the longest real
  ** generation, short enough that a stuck stream frees its worker. */
  o.stream_timeout = 600;
  o.max_retries = 3;
  o.backoff_base = 0.5;
  o.backoff_max = 20;
  o.retry_after_max = 60;
  o.max_response = (size_t)64 << 20;
  return o;
}

rag_status rag_http_new(const rag_http_opts *o, rag_http **out, rag_err *err) {
  *out = NULL;
  rag_http_opts d = o ? *o : rag_http_opts_default();
  if (d.max_retries < 0 || !(d.connect_timeout > 0) || !(d.total_timeout > 0) ||
      !(d.stream_idle_timeout > 0) || !(d.stream_timeout > 0) ||
      d.backoff_base < 0 || d.backoff_max < 0 || d.retry_after_max < 0 ||
      d.max_response == 0)
    return rag_fail(err, RAG_BADARG, "rag_http: invalid options");
  rag_http *h = calloc(1, sizeof(*h));
  if (!h)
    return rag_fail(err, RAG_NOMEM, "rag_http: out of memory");
  h->o = d;
  if (!h->o.clock)
    h->o.clock = rag_clock_real();
  snprintf(h->ua, sizeof(h->ua), "%s",
           d.user_agent ? d.user_agent : "ragd/" RAG_VERSION);
  h->o.user_agent = NULL; /* not kept: the caller's string may go away */
  h->rng = d.jitter_seed;
  if (!h->rng) {
    double t = h->o.clock->now(h->o.clock->ctx);
    uint64_t bits;
    memcpy(&bits, &t, sizeof(bits));
    h->rng = bits ^ (uint64_t)(uintptr_t)h;
  }
  h->curl = curl_easy_init();
  if (!h->curl) {
    free(h);
    return rag_fail(err, RAG_NOMEM, "rag_http: curl_easy_init failed");
  }
  *out = h;
  return RAG_OK;
}

void rag_http_free(rag_http *h) {
  if (!h)
    return;
  curl_easy_cleanup(h->curl);
  free(h);
}

void rag_http_resp_init(rag_http_resp *r) {
  memset(r, 0, sizeof(*r));
  rag_buf_init(&r->body, 0);
}

void rag_http_resp_free(rag_http_resp *r) {
  if (r)
    rag_buf_free(&r->body);
}

/* What one attempt saw, beyond curl's return code. */
typedef struct attempt {
  rag_http *h;
  const rag_http_req *req;
  rag_http_resp *resp;
  size_t delivered;     /* bytes handed to on_data */
  rag_status cb_status; /* on_data's failure, or the body buffer's */
  int in_consumer;      /* cb_status came from on_data */
  double last_rx;       /* stream: real time of the last byte (or start) */
  curl_off_t seen;      /* stream: bytes received by then */
  int idle;             /* stream: aborted for the idle timeout */
  char retry_after[128];
  char content_type[128];
} attempt;

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  attempt *a = ud;
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(a->h->curl, CURLINFO_RESPONSE_CODE, &code);
  if (a->req->on_data && code >= 200 && code < 300) {
    if (n > a->h->o.max_response - a->delivered) {
      a->cb_status = RAG_TOOBIG; /* a stream is capped like a body */
      return 0;
    }
    rag_status rc = a->req->on_data(a->req->ctx, p, n);
    if (rc) {
      a->cb_status = rc;
      a->in_consumer = 1;
      return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    a->delivered += n;
    return n;
  }
  rag_status rc = rag_buf_append(&a->resp->body, p, n);
  if (rc) {
    a->cb_status = rc;
    return 0;
  }
  return n;
}

/* Copies the trimmed value of header line `l` (n bytes) named `name` into
** dst; returns 1 when the line is that header. */
static int grab_header(const char *l, size_t n, const char *name, char *dst,
                       size_t dn) {
  size_t nl = strlen(name);
  if (n <= nl || l[nl] != ':' || strncasecmp(l, name, nl) != 0)
    return 0;
  const char *v = l + nl + 1, *e = l + n;
  while (v < e && (*v == ' ' || *v == '\t'))
    v++;
  while (e > v &&
         (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
    e--;
  size_t vl = (size_t)(e - v);
  if (vl >= dn)
    vl = dn - 1;
  memcpy(dst, v, vl);
  dst[vl] = '\0';
  return 1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  attempt *a = ud;
  size_t n = size * nmemb;
  /* a new status line (after "100 Continue") starts a new header set */
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    a->retry_after[0] = '\0';
    a->content_type[0] = '\0';
  } else if (!grab_header(p, n, "Retry-After", a->retry_after,
                          sizeof(a->retry_after)))
    grab_header(p, n, "Content-Type", a->content_type, sizeof(a->content_type));
  return n;
}

/* Stream idle timeout. curl's LOW_SPEED_* averages the rate over several
** seconds, so after a burst a stall went unnoticed for idle + ~5 s; this
** counts from the last byte received instead. curl calls it about once a
** second even when nothing arrives. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow) {
  attempt *a = ud;
  (void)dltotal;
  (void)ultotal;
  (void)ulnow;
  double now = rag_now();
  if (dlnow != a->seen) {
    a->seen = dlnow;
    a->last_rx = now;
    return 0;
  }
  if (now - a->last_rx >= a->h->o.stream_idle_timeout) {
    a->idle = 1;
    return 1; /* CURLE_ABORTED_BY_CALLBACK */
  }
  return 0;
}

static long ms(double seconds) {
  double x = ceil(seconds * 1000.0);
  return x < 1 ? 1 : x > 2e9 ? 2000000000L : (long)x;
}

static CURLcode perform(attempt *a, struct curl_slist *hdrs) {
  rag_http *h = a->h;
  const rag_http_req *r = a->req;
  CURL *c = h->curl;
  /* reset clears options but keeps the connection and DNS caches, so a
  ** keep-alive connection serves the next request */
  curl_easy_reset(c);
  h->errbuf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, r->url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, h->ua);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms(h->o.connect_timeout));
  if (r->on_data) {
    /* A stream may last for minutes; what matters is that bytes keep
    ** coming (on_progress), and that it ends by its deadline. */
    a->last_rx = rag_now();
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms(h->o.stream_timeout));
  } else
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms(h->o.total_timeout));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
  const char *m = r->method ? r->method : "GET";
  if (strcmp(m, "HEAD") == 0)
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else if (r->body || strcmp(m, "GET") != 0) {
    if (r->body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
      /* POSTFIELDS, never a read callback: a NULL body must not make
      ** curl read stdin */
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                       (curl_off_t)(r->body ? r->body_len : 0));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    if (strcmp(m, "POST") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
  }
  return curl_easy_perform(c);
}

/* ---- 4. rag_http_do ---------------------------------------------------- */

/* 1 when a request header of that name carries a credential: the names
** providers use (Authorization, api-key, x-api-key, X-Goog-Api-Key,
** Ocp-Apim-Subscription-Key, X-Auth-Token ...). Erring towards "secret"
** costs only a masked echo of a harmless value. */
static int secret_name(const char *name, size_t n) {
  static const char *const words[] = {"key", "token", "secret", "auth"};
  for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
    size_t wl = strlen(words[w]);
    for (size_t i = 0; i + wl <= n; i++)
      if (strncasecmp(name + i, words[w], wl) == 0)
        return 1;
  }
  return 0;
}

/* Replaces every occurrence of v[0..vl) in b by "***", in place (the body
** only shrinks). Values under 4 bytes are left alone: masking every "ab"
** of a body would garble it and protect nothing. */
static void scrub_value(rag_buf *b, const char *v, size_t vl) {
  if (vl < 4 || !b->data || b->len < vl)
    return;
  char *src = b->data, *end = b->data + b->len, *dst = b->data;
  for (;;) {
    char *hit = memmem(src, (size_t)(end - src), v, vl);
    size_t keep = hit ? (size_t)(hit - src) : (size_t)(end - src);
    memmove(dst, src, keep);
    dst += keep;
    if (!hit)
      break;
    memcpy(dst, "***", 3);
    dst += 3;
    src = hit + vl;
  }
  b->len = (size_t)(dst - b->data);
  b->data[b->len] = '\0';
}

/* Masks the request's credentials in a buffered body (see rag_http.h):
** the whole header value and, for "Scheme token" values, the token. */
static void scrub_headers(const char *const *headers, rag_buf *b) {
  for (const char *const *p = headers; p && *p; p++) {
    const char *colon = strchr(*p, ':');
    if (!colon || !secret_name(*p, (size_t)(colon - *p)))
      continue;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
      vl--;
    const char *sp = memchr(v, ' ', vl);
    if (sp) { /* "Bearer sk-...": the token alone is the secret */
      const char *t = sp + 1;
      while (t < v + vl && *t == ' ')
        t++;
      scrub_value(b, t, (size_t)(v + vl - t));
    }
    scrub_value(b, v, vl);
  }
}

void rag_http_mask(const char *const *headers, char *s) {
  if (!s)
    return;
  rag_buf b; /* a view of s: scrub_value only shrinks it */
  memset(&b, 0, sizeof(b));
  b.data = s;
  b.len = strlen(s);
  scrub_headers(headers, &b);
}

/* curl's text for a failed transfer, with what timed out named for a
** stream: idle (on_progress) or the whole-stream deadline. */
static void fail_text(rag_http *h, const rag_http_req *r, const attempt *a,
                      CURLcode rc, char *buf, size_t n) {
  const char *t = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
  if (a->idle) {
    snprintf(buf, n, "stream stalled: no data for %g s",
             h->o.stream_idle_timeout);
  } else if (rc == CURLE_OPERATION_TIMEDOUT && r->on_data) {
    snprintf(buf, n, "stream not finished within its %g s deadline (%s)",
             h->o.stream_timeout, t);
  } else
    snprintf(buf, n, "%s", t);
}

/* "host:port/path" of url, for messages: no scheme, no userinfo, no query
** (query strings can carry API keys). */
static void url_for_msg(const char *url, char *buf, size_t n) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *slash = strchr(p, '/'), *at = strchr(p, '@');
  if (at && (!slash || at < slash))
    p = at + 1;
  size_t l = strcspn(p, "?#");
  if (l >= n)
    l = n - 1;
  memcpy(buf, p, l);
  buf[l] = '\0';
}

/* 1 when the last transfer reached a server (it has a peer address). */
static int connected(rag_http *h) {
  char *ip = NULL;
  return curl_easy_getinfo(h->curl, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
         ip && ip[0];
}

static int retryable_curl(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return 1;
  default:
    return 0;
  }
}

static rag_status curl_status(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return RAG_TIMEOUT;
  case CURLE_URL_MALFORMAT:
    return RAG_BADARG;
  case CURLE_OUT_OF_MEMORY:
    return RAG_NOMEM;
  default:
    return RAG_IO;
  }
}

static int has_header(const char *const *hs, const char *name) {
  size_t nl = strlen(name);
  for (; hs && *hs; hs++)
    if (strncasecmp(*hs, name, nl) == 0 && (*hs)[nl] == ':')
      return 1;
  return 0;
}

/* The caller's headers plus ours: "Expect:" (empty) stops curl waiting for
** "100 Continue" on large bodies, a round trip every provider call would
** pay; JSON is the default body type, as every provider speaks it. */
static struct curl_slist *build_headers(const rag_http_req *r) {
  struct curl_slist *l = NULL, *t;
  for (const char *const *p = r->headers; p && *p; p++) {
    if (!(t = curl_slist_append(l, *p)))
      goto fail;
    l = t;
  }
  if (!(t = curl_slist_append(l, "Expect:")))
    goto fail;
  l = t;
  if (r->body && !has_header(r->headers, "Content-Type")) {
    if (!(t = curl_slist_append(l, "Content-Type: application/json")))
      goto fail;
    l = t;
  }
  return l;
fail:
  curl_slist_free_all(l);
  return NULL;
}

rag_status rag_http_do(rag_http *h, const rag_http_req *req,
                       rag_http_resp *resp, rag_err *err) {
  const rag_clock *clk = h->o.clock;
  resp->status = 0;
  resp->content_type[0] = '\0';
  resp->attempts = 0;
  resp->retry_wait = 0;
  rag_buf_reset(&resp->body);
  resp->body.cap = h->o.max_response;
  if (!req || !req->url)
    return rag_fail(err, RAG_BADARG, "rag_http: no URL");
  char where[256];
  url_for_msg(req->url, where, sizeof(where));
  const char *m = req->method ? req->method : "GET";
  struct curl_slist *hdrs = build_headers(req);
  if (!hdrs)
    return rag_fail(err, RAG_NOMEM, "rag_http: out of memory");
  rag_status st = RAG_OK;
  for (int i = 0;; i++) {
    attempt a;
    memset(&a, 0, sizeof(a));
    a.h = h;
    a.req = req;
    a.resp = resp;
    rag_buf_reset(&resp->body);
    CURLcode rc = perform(&a, hdrs);
    resp->attempts = i + 1;
    long code = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
    resp->status = code;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s",
             a.content_type);
    if (a.cb_status && a.in_consumer) {
      st = rag_fail(err, a.cb_status, "rag_http: %s %s: stream consumer: %s", m,
                    where, rag_status_str(a.cb_status));
      break;
    }
    /* Error bodies are what callers quote: mask before anyone reads one.
    ** (2xx bodies are data -- vectors, answers -- and are not scanned.) */
    if (resp->body.len && (code < 200 || code >= 300))
      scrub_headers(req->headers, &resp->body);
    if (a.cb_status == RAG_TOOBIG) {
      st = rag_fail(err, RAG_TOOBIG,
                    "rag_http: %s %s: response body over %zu bytes", m, where,
                    h->o.max_response);
      break;
    }
    if (a.cb_status) {
      st = rag_fail(err, a.cb_status, "rag_http: %s %s: response body: %s", m,
                    where, rag_status_str(a.cb_status));
      break;
    }
    int retry;
    if (rc != CURLE_OK) {
      char why[CURL_ERROR_SIZE + 96];
      fail_text(h, req, &a, rc, why, sizeof(why));
      if (a.idle)
        rc = CURLE_OPERATION_TIMEDOUT; /* retried and mapped as one */
      if (a.delivered) {
        /* the consumer already has part of the stream: a retry would
        ** hand it the start again */
        st = rag_fail(err, curl_status(rc),
                      "rag_http: %s %s: stream broken after %zu bytes: %s", m,
                      where, a.delivered, why);
        break;
      }
      retry = retryable_curl(rc);
      if (!retry || i >= h->o.max_retries) {
        /* curl says "unsupported protocol" both for a URL scheme it does
        ** not speak (the caller's mistake) and for a server that answered
        ** with bytes that are not HTTP (HTTP/0.9 refused): the second is
        ** the server's fault, an I/O error a router may fall back from. */
        rag_status cs = curl_status(rc);
        if (rc == CURLE_UNSUPPORTED_PROTOCOL)
          cs = connected(h) ? RAG_IO : RAG_BADARG;
        st = rag_fail(err, cs, "rag_http: %s %s: %s (%d attempt%s)", m, where,
                      why, i + 1, i ? "s" : "");
        break;
      }
    } else if (code >= 200 && code < 300) {
      st = RAG_OK;
      break;
    } else {
      retry = code == 429 || (code >= 500 && code <= 599);
      if (!retry || i >= h->o.max_retries) {
        st = rag_fail(err, RAG_UPSTREAM,
                      "HTTP %ld from %s after %d attempt%s: %.200s", code,
                      where, i + 1, i ? "s" : "",
                      resp->body.len ? resp->body.data : "");
        break;
      }
    }
    /* full jitter: uniform(0, min(max, base * 2^i)) spreads clients that
    ** failed together across the whole window */
    double cap = h->o.backoff_base * ldexp(1.0, i < 60 ? i : 60);
    if (cap > h->o.backoff_max)
      cap = h->o.backoff_max;
    double u = (double)(splitmix64(&h->rng) >> 11) * 0x1.0p-53;
    double wait = u * cap;
    double ra;
    if ((code == 429 || code == 503) && a.retry_after[0] &&
        rag_http_parse_retry_after(a.retry_after, epoch_now(clk), &ra) == 0) {
      if (ra > h->o.retry_after_max) {
        st = rag_fail(err, RAG_UPSTREAM,
                      "HTTP %ld from %s: server asked to wait %.0f s "
                      "(Retry-After), over the %.0f s limit",
                      code, where, ra, h->o.retry_after_max);
        break;
      }
      wait = ra;
    }
    clk->sleep(clk->ctx, wait);
    resp->retry_wait += wait;
  }
  curl_slist_free_all(hdrs);
  return st;
}
