/* api/api.h -- The HTTP server of `ragd serve`: libmicrohttpd with a thread
** pool, the Dify-shaped knowledge-base API (/v1/datasets...), retrieval,
** Dify's External Knowledge API (POST /retrieval), /healthz, /readyz and
** /metrics, behind API keys (api/api_auth.c).
** Routes are a static table in api/api_server.c (method, path pattern,
** handler, required scope); handlers live in api_<area>.c files and share
** api/api_int.h.
** Ownership: api_open/api_close. cfg is borrowed and must outlive the
**            server. api_close stops the daemon, drains the ingest writer
**            and frees everything.
** Errors:    rag_status + rag_err; per-request failures become JSON error
**            replies, never a crash.
** Threads:   api_stop may be called from any thread (and from a signal
**            handler: it only writes to a pipe); api_run blocks one thread
**            until then; the other functions are for the owning thread. */
#ifndef API_H
#define API_H

#include "core/rag.h"
#include "core/rag_cfg.h"
#include "ingest/ing_watch.h"

#include <stddef.h>

typedef struct api_server api_server;

/* Every field left 0/NULL takes the config's "server" section value, else
** the default shown. */
typedef struct api_opts {
  const char *host;        /* bind address ("127.0.0.1") */
  int port;                /* 8080; -1 = an ephemeral port (api_port) */
  const char *data_dir;    /* dataset registry ("./ragd-data") */
  int threads;             /* MHD worker threads (one per core, at least
                              2; with a remote embedder 8 per core, at
                              least 16) */
  int conn_limit;          /* simultaneous connections (256) */
  int conn_timeout_s;      /* idle connection timeout, seconds (30) */
  size_t max_body;         /* JSON request body cap (1 MiB) */
  size_t max_upload;       /* create-by-file upload cap (64 MiB) */
  size_t header_mem;       /* per-connection header memory (32 KiB) */
  size_t max_queue;        /* ingest jobs queued before uploads get 429
                              with Retry-After (10,000) */
  const char *cors_origin; /* Access-Control-Allow-Origin ("*") */
  int quiet;               /* no startup banner (tests) */
} api_opts;

/* All zero: everything from the config or the defaults. Config keys in
** "server": host, port, data_dir, threads, connection_limit,
** connection_timeout_s, max_body_bytes, max_upload_bytes, cors_origin,
** max_ingest_queue,
** and the slow-sender deadlines header_timeout_s (20: all headers within
** it), body_timeout_s (20) and body_min_rate (500: the body deadline
** grows 1 s per that many bytes received). */
api_opts api_opts_default(void);

/* Opens the data directory (creating it), loads the datasets and API keys,
** starts the ingest writer and the HTTP daemon (listening when this
** returns). With no API keys configured the server binds 127.0.0.1 only
** whatever o->host says, allows every request, and logs that it does. */
rag_status api_open(const rag_cfg *cfg, const api_opts *o, api_server **out,
                    rag_err *err);
/* Keeps a dataset in step with the folder tree e->dir, as `ragd watch`
** does (ingest/ing_watch.h: inotify, debounce, ignore patterns, catch-up
** scan, renames without re-embedding). e->kb names the dataset (created
** when no dataset has that name; NULL: the folder's name). The watcher
** runs on the server's ingest writer, so the dataset also takes uploads.
** RAG_NOTFOUND when e->dir is not a folder, RAG_BADARG when it is watched
** already. e is copied. Call after api_open, from one thread at a time. */
rag_status api_watch(api_server *s, const ing_watch_entry *e, rag_err *err);

/* The port actually bound (useful with port 0). */
int api_port(const api_server *s);
/* The number of worker threads serving requests. */
int api_threads(const api_server *s);
/* Blocks until api_stop is called. */
void api_run(api_server *s);
/* Asks api_run to return; async-signal-safe. */
void api_stop(api_server *s);
/* Stops the daemon, finishes the running ingest job, frees all. NULL ok. */
void api_close(api_server *s);

#endif
