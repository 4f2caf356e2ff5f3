/* api/api_server.c -- The MHD daemon: options, the route table, request
** bodies (capped JSON, or multipart through MHD's post processor into a
** temp file), auth, CORS, /healthz and /readyz. JSON replies, errors and
** body parsing are in api_reply.c; slow-sender deadlines in api_guard.c.
** Divisions: options | routes | replies | request life cycle | open/close.
** Why the body is drained before a 413 (up to a limit): replying while the
** client is still sending makes MHD close the socket, and the client then
** often sees a reset instead of our JSON error. */
#include "api/api_int.h"
#include "api/api_web.h"

#include "core/rag_log.h"
#include "core/rag_utf8.h"
#include "embedding/emb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UPLOAD_DATA_CAP (64 * 1024) /* the "data" JSON part of uploads */
#define DRAIN_EXTRA (8u << 20)      /* bytes read past a cap before 413 */

/* ---- options ---- */

api_opts api_opts_default(void) {
  api_opts o;
  memset(&o, 0, sizeof(o));
  return o;
}

static rag_status cfg_num(const cJSON *s, const char *k, double lo, double hi,
                          double *out, rag_err *err) {
  const cJSON *v = s ? cJSON_GetObjectItemCaseSensitive(s, k) : NULL;
  if (!v)
    return RAG_OK;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != (double)(int64_t)v->valuedouble)
    return rag_fail(err, RAG_BADARG, "server.%s: an integer in %.0f..%.0f", k,
                    lo, hi);
  *out = v->valuedouble;
  return RAG_OK;
}

static rag_status cfg_str(const cJSON *s, const char *k, const char *given,
                          const char *def, char **out, rag_err *err) {
  const cJSON *v = s ? cJSON_GetObjectItemCaseSensitive(s, k) : NULL;
  if (!given && v && (!cJSON_IsString(v) || !*v->valuestring))
    return rag_fail(err, RAG_BADARG, "server.%s: a non-empty string", k);
  *out = rag_strdup(given ? given : v ? v->valuestring : def);
  return *out ? RAG_OK : rag_fail(err, RAG_NOMEM, "server: out of memory");
}

/* Worker threads when neither the options nor the config say. The model
** calls run off the workers (api_async.c), so with an in-process embedder
** a worker computes all the time it runs: one per core (at least two),
** as more only preempt each other (bench/ab_slices.sh on 2 cores, hybrid
** /retrieve: 2 threads 3-4% ahead of 3, 3 ahead of 4 by 3%). A remote
** embedder makes every retrieval wait on an embedding call, so then many
** more. */
static int default_threads(const rag_cfg *cfg) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 1)
    ncpu = 1;
  if (ncpu > 64)
    ncpu = 64;
  if (!emb_spec_is_remote(cfg->embedding.provider))
    return ncpu < 2 ? 2 : (int)ncpu;
  return ncpu * 8 < 16 ? 16 : (int)ncpu * 8;
}

/* Fills s->o and the owned strings: explicit opts, then config, then
** defaults. */
static rag_status resolve_opts(api_server *s, const api_opts *o,
                               double guard[3], rag_err *err) {
  cJSON *root = NULL;
  const char *sj = s->cfg->sections_json;
  if (sj)
    root = cJSON_ParseWithLength(sj, strlen(sj));
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, "server");
  if (sec && !cJSON_IsObject(sec)) {
    cJSON_Delete(root);
    return rag_fail(err, RAG_BADARG, "server: must be an object");
  }
  double port = 8080, threads = default_threads(s->cfg), conns = 256, tmo = 30;
  double body = 1 << 20, upload = 64 << 20, queue = 10000;
  rag_status rc = cfg_num(sec, "port", 0, 65535, &port, err);
  if (!rc)
    rc = cfg_num(sec, "threads", 1, 256, &threads, err);
  if (!rc)
    rc = cfg_num(sec, "connection_limit", 1, 65536, &conns, err);
  if (!rc)
    rc = cfg_num(sec, "connection_timeout_s", 1, 3600, &tmo, err);
  if (!rc)
    rc = cfg_num(sec, "max_body_bytes", 1024, 1 << 30, &body, err);
  if (!rc)
    rc = cfg_num(sec, "max_upload_bytes", 1024, 1e12, &upload, err);
  if (!rc)
    rc = cfg_num(sec, "max_ingest_queue", 1, 1e9, &queue, err);
  /* Slow senders (api_guard.c): headers within 20 s, a body within 20 s
  ** plus 1 s per 500 bytes (mod_reqtimeout's defaults). */
  guard[0] = 20, guard[1] = 20, guard[2] = 500;
  if (!rc)
    rc = cfg_num(sec, "header_timeout_s", 1, 3600, &guard[0], err);
  if (!rc)
    rc = cfg_num(sec, "body_timeout_s", 1, 3600, &guard[1], err);
  if (!rc)
    rc = cfg_num(sec, "body_min_rate", 1, 1e9, &guard[2], err);
  if (!rc)
    rc = cfg_str(sec, "host", o->host, "127.0.0.1", &s->host, err);
  if (!rc)
    rc =
        cfg_str(sec, "data_dir", o->data_dir, "./ragd-data", &s->data_dir, err);
  if (!rc)
    rc = cfg_str(sec, "cors_origin", o->cors_origin, "*", &s->cors, err);
  cJSON_Delete(root);
  if (rc)
    return rc;
  s->o = *o;
  s->o.port = o->port > 0 ? o->port : o->port < 0 ? 0 : (int)port;
  s->o.threads = o->threads > 0 ? o->threads : (int)threads;
  s->o.conn_limit = o->conn_limit > 0 ? o->conn_limit : (int)conns;
  s->o.conn_timeout_s = o->conn_timeout_s > 0 ? o->conn_timeout_s : (int)tmo;
  s->o.max_body = o->max_body ? o->max_body : (size_t)body;
  s->o.max_upload = o->max_upload ? o->max_upload : (size_t)upload;
  s->o.header_mem = o->header_mem ? o->header_mem : 32 * 1024;
  s->o.max_queue = o->max_queue ? o->max_queue : (size_t)queue;
  s->o.host = s->host;
  s->o.data_dir = s->data_dir;
  s->o.cors_origin = s->cors;
  return RAG_OK;
}

/* ---- routes ---- */

static int h_healthz(api_req *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", "ok");
  cJSON_AddStringToObject(o, "version", RAG_VERSION);
  return api_reply_json(r, 200, o);
}

static int h_readyz(api_req *r) {
  rag_err err;
  rag_err_clear(&err);
  if (!api_kbs_ready(r->srv->kbs, &err))
    return api_error(r, 503, "not_ready", "%s", err.msg);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", "ready");
  return api_reply_json(r, 200, o);
}

/* The route table. Order matters only between patterns that could match
** the same path; more specific first. A later module appends its rows
** (chat, models, usage, the web page) here. */
static const api_route routes[] = {
    {"GET", "/healthz", h_healthz, API_SCOPE_PUBLIC, 0},
    {"GET", "/readyz", h_readyz, API_SCOPE_PUBLIC, 0},
    {"GET", "/metrics", api_h_metrics, API_SCOPE_PUBLIC, 0},
    {"GET", "/", api_h_web, API_SCOPE_PUBLIC, 0},
    {"GET", "/index.html", api_h_web, API_SCOPE_PUBLIC, 0},
    {"POST", "/v1/datasets", api_h_datasets_create, API_SCOPE_ADMIN, 0},
    {"GET", "/v1/datasets", api_h_datasets_list, API_SCOPE_ANY, 0},
    {"GET", "/v1/datasets/{id}", api_h_datasets_get, API_SCOPE_DATASET, 0},
    {"DELETE", "/v1/datasets/{id}", api_h_datasets_delete, API_SCOPE_ADMIN, 0},
    {"POST", "/v1/datasets/{id}/document/create-by-text", api_h_doc_create_text,
     API_SCOPE_DATASET, 0},
    {"POST", "/v1/datasets/{id}/document/create_by_text", api_h_doc_create_text,
     API_SCOPE_DATASET, 0},
    {"POST", "/v1/datasets/{id}/document/create-by-file", api_h_doc_create_file,
     API_SCOPE_DATASET, API_ROUTE_UPLOAD},
    {"POST", "/v1/datasets/{id}/document/create_by_file", api_h_doc_create_file,
     API_SCOPE_DATASET, API_ROUTE_UPLOAD},
    {"GET", "/v1/datasets/{id}/documents", api_h_docs_list, API_SCOPE_DATASET,
     0},
    {"DELETE", "/v1/datasets/{id}/documents/{doc}", api_h_doc_delete,
     API_SCOPE_DATASET, 0},
    {"GET", "/v1/datasets/{id}/documents/{batch}/indexing-status",
     api_h_indexing_status, API_SCOPE_DATASET, 0},
    {"POST", "/v1/datasets/{id}/retrieve", api_h_retrieve, API_SCOPE_DATASET,
     0},
    {"POST", "/retrieval", api_h_ext_retrieval, API_SCOPE_ANY, API_ROUTE_EXTKB},
    {"POST", "/v1/chat-messages", api_h_chat_messages, API_SCOPE_ANY, 0},
    {"GET", "/v1/conversations", api_h_conversations, API_SCOPE_ANY, 0},
    {"GET", "/v1/messages", api_h_messages, API_SCOPE_ANY, 0},
    {"POST", "/v1/chat/completions", api_h_chat_completions, API_SCOPE_ANY,
     API_ROUTE_OPENAI},
    {"GET", "/v1/models", api_h_models_list, API_SCOPE_ANY, API_ROUTE_OPENAI},
    {"POST", "/v1/models", api_h_models_add, API_SCOPE_ADMIN, 0},
    {"PUT", "/v1/models/{name}", api_h_models_update, API_SCOPE_ADMIN, 0},
    {"DELETE", "/v1/models/{name}", api_h_models_delete, API_SCOPE_ADMIN, 0},
    {"GET", "/v1/usage", api_h_usage, API_SCOPE_ADMIN, 0},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches path against pattern, capturing {…} segments into r->params.
** Returns 1 on a match. Segments longer than the capture buffer do not
** match (ids are 36 characters). */
static int match(const char *pat, const char *path, api_req *r) {
  int np = 0;
  while (*pat && *path) {
    if (*pat != '/' || *path != '/')
      return 0;
    pat++, path++;
    const char *pe = strchr(pat, '/'), *se = strchr(path, '/');
    size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
    size_t sl = se ? (size_t)(se - path) : strlen(path);
    if (pl > 2 && pat[0] == '{' && pat[pl - 1] == '}') {
      if (sl == 0 || sl >= sizeof(r->params[0]) || np == 3)
        return 0;
      memcpy(r->params[np], path, sl);
      r->params[np][sl] = '\0';
      np++;
    } else if (pl != sl || memcmp(pat, path, pl) != 0) {
      return 0;
    }
    pat += pl, path += sl;
  }
  if (*pat || (*path && strcmp(path, "/") != 0))
    return 0;
  r->nparams = np;
  return 1;
}

/* Finds the route; *path_known = 1 when some route has this path with
** another method (405, and the methods go in allow). */
static int route_find(api_req *r, int *path_known, char *allow,
                      size_t allowsz) {
  *path_known = 0;
  allow[0] = '\0';
  for (size_t i = 0; i < NROUTES; i++) {
    if (!match(routes[i].pattern, r->path, r))
      continue;
    if (!strcmp(routes[i].method, r->method))
      return (int)i;
    *path_known = 1;
    size_t l = strlen(allow);
    if (!strstr(allow, routes[i].method))
      snprintf(allow + l, allowsz - l, "%s%s", l ? ", " : "", routes[i].method);
  }
  return -1;
}

/* ---- replies ---- */

static int ext_error(api_req *r, int status, int code, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "error_code", code);
  cJSON_AddStringToObject(o, "error_msg", msg);
  return api_reply_json(r, status, o);
}

/* ---- request life cycle ---- */

static enum MHD_Result upload_iter(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *filename,
                                   const char *ctype, const char *enc,
                                   const char *data, uint64_t off,
                                   size_t size) {
  api_req *r = cls;
  (void)kind, (void)ctype, (void)enc, (void)off;
  if (r->up_err || r->too_big)
    return MHD_YES; /* keep parsing; the reply is decided at the end */
  if (key && !strcmp(key, "file")) {
    if (!r->up_name) {
      r->up_name = rag_strdup(filename && *filename ? filename : "upload");
      if (!r->up_name) {
        r->up_err = 1;
        return MHD_YES;
      }
    }
    if (r->up_bytes + size > r->srv->o.max_upload) {
      r->too_big = 1;
      return MHD_YES;
    }
    size_t done = 0;
    while (done < size) {
      ssize_t w = write(r->up_fd, data + done, size - done);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        r->up_err = 1;
        return MHD_YES;
      }
      done += (size_t)w;
    }
    r->up_bytes += size;
  } else if (key && !strcmp(key, "data")) {
    if (rag_buf_append(&r->up_data, data, size))
      r->too_big = 1;
  }
  return MHD_YES;
}

/* An upload's file name is only a label (the bytes go to a temp file),
** but one with a directory part is either a client bug or an attack on a
** tool that later trusts the name: refused, as Dify refuses "/" and "\". */
static int base_name_ok(const char *n) {
  return *n && !strpbrk(n, "/\\") && strcmp(n, ".") && strcmp(n, "..");
}

static void req_free(api_req *r) {
  if (!r)
    return;
  if (r->pp)
    MHD_destroy_post_processor(r->pp);
  if (r->up_fd >= 0)
    close(r->up_fd);
  if (r->up_path)
    unlink(r->up_path); /* moved away when the upload was accepted */
  free(r->up_path);
  free(r->up_name);
  rag_buf_free(&r->up_data);
  rag_buf_free(&r->body);
  rag_arena_free(r->arena);
  free(r->reply);
  if (r->stream)
    MHD_destroy_response(r->stream); /* never queued: frees the stream */
  free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  api_server *s = cls;
  api_req *r = *con_cls;
  (void)toe;
  api_guard_request_done(s->guard, c);
  if (!r)
    return;
  api_metrics_observe(s, r->route_idx, r->status ? r->status : 500,
                      rag_now() - r->t0);
  req_free(r);
  *con_cls = NULL;
}

static void add_cors(api_server *s, struct MHD_Response *resp) {
  MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->cors);
  MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                          "Authorization, Content-Type");
  MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                          "GET, POST, PUT, DELETE, OPTIONS");
  MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
}

static enum MHD_Result send_reply(api_req *r, const char *allow) {
  if (r->stream && r->status == 200) {
    add_cors(r->srv, r->stream);
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, r->stream);
    MHD_destroy_response(r->stream);
    r->stream = NULL;
    r->queued = 1;
    return ret;
  }
  if (!r->reply && r->status != 204)
    api_error(r, 500, "internal_error", "handler gave no reply");
  size_t len = r->status == 204 || !r->reply ? 0 : strlen(r->reply);
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, len ? r->reply : (void *)"", MHD_RESPMEM_MUST_COPY);
  if (!resp)
    return MHD_NO;
  if (len)
    MHD_add_response_header(resp, "Content-Type", r->reply_type);
  if (allow && *allow)
    MHD_add_response_header(resp, "Allow", allow);
  if (r->retry_after > 0 && (r->status == 429 || r->status == 503)) {
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", r->retry_after);
    MHD_add_response_header(resp, "Retry-After", ra);
  }
  add_cors(r->srv, resp);
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  r->queued = 1;
  if (r->status >= 500)
    atomic_fetch_add(&r->srv->errors, 1);
  return ret;
}

/* Auth for the route; 0 = replied with an error. */
static int authorize(api_req *r) {
  const api_route *rt = r->route;
  if (rt->scope == API_SCOPE_PUBLIC)
    return 1;
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION);
  api_auth_result ar = api_auth_check(&r->srv->auth, h, &r->key);
  int ext = (rt->flags & API_ROUTE_EXTKB) != 0;
  if (ar == API_AUTH_MISSING || ar == API_AUTH_MALFORMED) {
    if (ext)
      return ext_error(r, 403, 1001,
                       "Invalid Authorization header format. "
                       "Expected 'Bearer <api-key>' format."),
             0;
    return api_error(r, 401, "unauthorized",
                     ar == API_AUTH_MISSING
                         ? "Authorization header is missing"
                         : "Authorization header must be 'Bearer <api-key>'"),
           0;
  }
  if (ar == API_AUTH_BAD) {
    if (ext)
      return ext_error(r, 403, 1002, "Authorization failed"), 0;
    return api_error(r, 401, "unauthorized", "invalid API key"), 0;
  }
  if (rt->scope == API_SCOPE_ADMIN && r->key && !r->key->admin)
    return api_error(r, 403, "forbidden", "this API key is not an admin key"),
           0;
  if (rt->scope == API_SCOPE_DATASET && r->nparams > 0 &&
      !api_auth_allows(r->key, r->params[0]))
    return api_error(r, 403, "forbidden", "this API key may not use dataset %s",
                     r->params[0]),
           0;
  return 1;
}

static size_t content_length(api_req *r, int *known) {
  const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_CONTENT_LENGTH);
  int64_t n = 0;
  *known = v && !rag_parse_i64(v, &n) && n >= 0;
  return *known ? (size_t)n : 0;
}

static enum MHD_Result arg_utf8(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value) {
  int *bad = cls;
  (void)kind;
  if ((key && !rag_utf8_valid(key, strlen(key))) ||
      (value && !rag_utf8_valid(value, strlen(value))))
    *bad = 1;
  return MHD_YES;
}

/* RFC 9110 5.1: a field name is a token (MHD lets ": v" through). */
static enum MHD_Result header_name(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value) {
  int *bad = cls;
  (void)kind, (void)value;
  if (!key || !*key ||
      key[strspn(key, "!#$%&'*+-.^_`|~0123456789"
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")])
    *bad = 1;
  return MHD_YES;
}

/* First call for a request: route, authorize, check the declared size.
** Returns 1 when a reply is already decided (an error). */
static int req_begin(api_req *r, char *allow, size_t allowsz) {
  if (!strcmp(r->method, "OPTIONS")) {
    r->status = 204; /* CORS preflight */
    return 1;
  }
  /* Paths and query strings are UTF-8 after percent-decoding; anything
  ** else would reach ids, names and messages as bytes no JSON can carry. */
  int bad = !rag_utf8_valid(r->method, strlen(r->method)) ||
            !rag_utf8_valid(r->path, strlen(r->path));
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_utf8, &bad);
  int badh = 0;
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, header_name, &badh);
  if (badh)
    return api_error(r, 400, "invalid_header",
                     "a header field name is empty or not a token"),
           1;
  if (bad)
    return api_error(r, 400, "invalid_utf8",
                     "the request path or query string is not valid UTF-8"),
           1;
  int known_path;
  r->route_idx = route_find(r, &known_path, allow, allowsz);
  if (r->route_idx < 0) {
    if (known_path)
      return api_error(r, 405, "method_not_allowed", "%s is not allowed on %s",
                       r->method, r->path),
             1;
    return api_error(r, 404, "not_found", "no route for %s %s", r->method,
                     r->path),
           1;
  }
  r->route = &routes[r->route_idx];
  if (!authorize(r))
    return 1;
  int known;
  size_t cl = content_length(r, &known);
  int upload = (r->route->flags & API_ROUTE_UPLOAD) != 0;
  size_t cap = upload ? r->srv->o.max_upload + UPLOAD_DATA_CAP + 65536
                      : r->srv->o.max_body;
  if (known && cl > cap) {
    r->too_big = 1;
    return api_error(r, 413, "file_too_large",
                     "request body of %zu bytes exceeds the limit of %zu", cl,
                     cap),
           1;
  }
  if (upload) {
    char tmpl[4200];
    snprintf(tmpl, sizeof(tmpl), "%s/.tmp/upload-XXXXXX", r->srv->data_dir);
    r->up_fd = mkstemp(tmpl);
    r->up_path = r->up_fd >= 0 ? rag_strdup(tmpl) : NULL;
    if (!r->up_path)
      return api_error(r, 500, "internal_error", "cannot create temp file"), 1;
    r->pp = MHD_create_post_processor(r->conn, 64 * 1024, upload_iter, r);
    if (!r->pp)
      return api_error(r, 415, "unsupported_file_type",
                       "expected a multipart/form-data body"),
             1;
  }
  return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  api_server *s = cls;
  api_req *r = *con_cls;
  (void)version;
  char allow[64] = "";
  if (!r) {
    r = calloc(1, sizeof(*r));
    if (!r)
      return MHD_NO;
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->route_idx = -1;
    r->up_fd = -1;
    r->t0 = rag_now();
    api_guard_body_start(s->guard, conn);
    r->arena = rag_arena_new(64u << 20);
    rag_buf_init(&r->body, s->o.max_body);
    rag_buf_init(&r->up_data, UPLOAD_DATA_CAP);
    *con_cls = r;
    if (!r->arena)
      return MHD_NO;
    if (req_begin(r, allow, sizeof(allow))) {
      /* Reply at once when no body is on its way (or it is declared too
      ** large: the client waits for 100-continue or gets cut off). */
      int known;
      size_t cl = content_length(r, &known);
      const char *expect =
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
      if (!known || cl == 0 || expect ||
          cl > r->srv->o.max_upload + DRAIN_EXTRA) {
        api_guard_body_done(s->guard, conn);
        return send_reply(r, allow);
      }
    }
    return MHD_YES;
  }
  if (r->queued) {
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->deferred) /* resumed: api_defer's thread has replied */
    return atomic_load(&r->defer_done) ? send_reply(r, allow) : MHD_YES;
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    api_guard_body_bytes(s->guard, conn, n);
    if (r->status) {
      /* An error is decided: drain the body, but not forever. */
      r->up_bytes += n;
      if (r->up_bytes > DRAIN_EXTRA + s->o.max_upload)
        return send_reply(r, allow);
      return MHD_YES;
    }
    if (r->pp) {
      if (MHD_post_process(r->pp, upload, n) != MHD_YES)
        r->up_err = r->up_err ? r->up_err : 2;
    } else if (!r->too_big && rag_buf_append(&r->body, upload, n)) {
      r->too_big = 1;
    }
    if (r->too_big && !r->status)
      api_error(r, 413, "file_too_large",
                r->pp ? "upload exceeds the limit of %zu bytes"
                      : "request body exceeds the limit of %zu bytes",
                r->pp ? s->o.max_upload : s->o.max_body);
    return MHD_YES;
  }
  /* The whole body is in. */
  api_guard_body_done(s->guard, conn);
  if (!r->status) {
    if (r->up_err == 2)
      api_error(r, 400, "invalid_param", "malformed multipart/form-data body");
    else if (r->up_err)
      api_error(r, 500, "internal_error", "cannot store the upload");
    else if (r->up_name && !base_name_ok(r->up_name))
      api_error(r, 400, "invalid_param",
                "file name must be a plain name, without a directory part "
                "(/, \\, . or ..)");
    else
      r->route->fn(r);
  }
  if (r->deferred) /* replied later, from api_defer's thread */
    return MHD_YES;
  return send_reply(r, allow);
}

/* ---- open / close ---- */

static rag_status bind_addr(api_server *s, struct sockaddr_storage *ss,
                            socklen_t *len, unsigned *flags, rag_err *err) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, s->host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)s->o.port);
    *len = sizeof(*a4);
  } else if (inet_pton(AF_INET6, s->host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)s->o.port);
    *len = sizeof(*a6);
    *flags |= MHD_USE_IPv6;
  } else {
    return rag_fail(err, RAG_BADARG, "server: host %s is not an IP address",
                    s->host);
  }
  return RAG_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decoding of the path and query arguments, as MHD's own except
** that %00 stays as the three characters: a decoded NUL would cut the
** path short ("/v1/datasets%00/x" read as "/v1/datasets"). Returns the
** new length; s is decoded in place. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls, (void)c;
  size_t o = 0;
  for (size_t i = 0; s[i]; i++) {
    int hi, lo;
    if (s[i] == '%' && (hi = hexval(s[i + 1])) >= 0 &&
        (lo = hexval(s[i + 2])) >= 0 && (hi | lo) != 0) {
      s[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      s[o++] = s[i];
    }
  }
  s[o] = '\0';
  return o;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char line[512];
  (void)cls;
  vsnprintf(line, sizeof(line), fmt, ap);
  size_t n = strlen(line);
  while (n && line[n - 1] == '\n')
    line[--n] = '\0';
  rag_log(RAG_LOG_DEBUG, "mhd: %s", line);
}

rag_status api_open(const rag_cfg *cfg, const api_opts *o, api_server **out,
                    rag_err *err) {
  *out = NULL;
  api_opts def = api_opts_default();
  api_server *s = calloc(1, sizeof(*s));
  if (!s)
    return rag_fail(err, RAG_NOMEM, "server: out of memory");
  s->cfg = cfg;
  s->stop_pipe[0] = s->stop_pipe[1] = -1;
  api_async_init(s);
  double guard[3];
  rag_status rc = resolve_opts(s, o ? o : &def, guard, err);
  if (!rc)
    rc = api_guard_open(guard[0], guard[1], guard[2], &s->guard, err);
  if (!rc)
    rc = api_auth_load(cfg, &s->auth, err);
  if (!rc && s->auth.n == 0 && strcmp(s->host, "127.0.0.1") != 0) {
    rag_log(RAG_LOG_WARN,
            "no API keys configured: binding 127.0.0.1 "
            "instead of %s",
            s->host);
    free(s->host);
    s->host = rag_strdup("127.0.0.1");
    s->o.host = s->host;
    if (!s->host)
      rc = rag_fail(err, RAG_NOMEM, "server: out of memory");
  }
  if (!rc) {
    s->stats = calloc(NROUTES + 1, sizeof(*s->stats));
    if (!s->stats || pipe2(s->stop_pipe, O_CLOEXEC) != 0)
      rc = rag_fail(err, RAG_IO, "server: cannot allocate");
  }
  if (!rc && mkdir(s->data_dir, 0755) != 0 && errno != EEXIST)
    rc = rag_fail(err, RAG_IO, "server: mkdir %s: %s", s->data_dir,
                  strerror(errno));
  if (!rc) {
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/.tmp", s->data_dir);
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      rc = rag_fail(err, RAG_IO, "server: mkdir %s: %s", tmp, strerror(errno));
  }
  if (!rc)
    rc = api_kbs_open(cfg, s->data_dir, s->o.threads + 2, &s->kbs, err);
  if (!rc)
    api_kbs_set_max_queue(s->kbs, s->o.max_queue);
  if (!rc)
    rc = api_llm_open(s, err);
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                   MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME; /* api_async.c */
  if (!rc)
    rc = bind_addr(s, &ss, &sl, &flags, err);
  /* One thread: MHD's own polling thread; it warns about a pool of one. */
  struct MHD_OptionItem pool[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, s->o.threads, NULL},
      {MHD_OPTION_END, 0, NULL}};
  if (s->o.threads <= 1)
    pool[0] = pool[1];
  if (!rc) {
    s->d = MHD_start_daemon(
        flags, (uint16_t)s->o.port, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.conn_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.conn_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->o.header_mem,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, s->guard,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, s,
        /* RFC 9112 strictly: Host required, CRLF line ends, no folding,
        ** no space before ':' (request smuggling and cache poisoning
        ** feed on lenient parsers). */
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_END);
    if (!s->d)
      rc = rag_fail(err, RAG_IO, "server: cannot listen on %s:%d", s->host,
                    s->o.port);
  }
  if (!rc) {
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->o.port;
    if (!s->o.quiet) {
      rag_log(RAG_LOG_INFO, "listening on http://%s:%d (%d threads, data %s)",
              s->host, s->port, s->o.threads, s->data_dir);
      if (s->auth.n == 0)
        rag_log(RAG_LOG_WARN, "no API keys configured: loopback only, every "
                              "request is allowed");
    }
  }
  if (rc) {
    api_close(s);
    return rc;
  }
  *out = s;
  return RAG_OK;
}

int api_port(const api_server *s) {
  return s->port;
}

int api_threads(const api_server *s) {
  return s->o.threads;
}

void api_run(api_server *s) {
  char c;
  for (;;) {
    ssize_t n = read(s->stop_pipe[0], &c, 1);
    if (n == 1 || (n < 0 && errno != EINTR) || n == 0)
      return;
  }
}

void api_stop(api_server *s) {
  char c = 1;
  ssize_t n = write(s->stop_pipe[1], &c, 1);
  (void)n;
}

void api_close(api_server *s) {
  if (!s)
    return;
  if (s->d) {
    api_async_quiesce(s);  /* MHD must find no connection suspended */
    MHD_stop_daemon(s->d); /* joins the workers: no handler runs after */
  }
  api_guard_close(s->guard);
  api_kbs_close(s->kbs);
  api_llm_close(s);
  api_auth_free(&s->auth);
  for (int i = 0; i < 2; i++)
    if (s->stop_pipe[i] >= 0)
      close(s->stop_pipe[i]);
  free(s->stats);
  free(s->host);
  free(s->data_dir);
  free(s->cors);
  api_async_destroy(s);
  free(s);
}

size_t api_route_count(void) {
  return NROUTES;
}
const api_route *api_route_at(size_t i) {
  return i < NROUTES ? &routes[i] : NULL;
}
