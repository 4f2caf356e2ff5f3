/* ingest/ing_watch.h -- Keeps a KB in step with a folder tree with inotify.
**
** Events: files created, written (IN_CLOSE_WRITE, IN_MODIFY), deleted,
** renamed or moved within the tree (IN_MOVED_FROM/IN_MOVED_TO paired by
** cookie: the documents are renamed, nothing is re-embedded), moved out
** (removed) and moved in (ingested); new subfolders are watched at once and
** scanned (files may land in them before their watch exists). Each path's
** events are debounced: a path becomes a job after debounce_ms without a
** new event (an editor's save is one job), and a burst (`cp -r` of 10,000
** files) is handed over in large batches at least every max_delay_ms.
** Every change becomes a durable job (ingest/ing_jobs.h) before it is
** applied, and jobs are run in claims of many files (one embedding pass,
** one FAISS save per claim).
** Catch-up: ing_watch_open requeues the jobs a dead process left running
** and queues a scan of the folder (ing_scan: size+mtime, sha256 only when
** they differ), after the watches exist, so nothing changed while no
** watcher ran, or while this one starts, is missed. IN_Q_OVERFLOW (the
** kernel dropped events) queues the same scan: never a silent miss.
** Readers are never blocked: each document is its own short transaction
** (WAL), so a query during a long ingest sees the last committed state.
**
** Config (cfg->sections_json): "watch": [{"dir": "...", "kb": "...",
** "debounce_ms": 200, "ignore": ["*.log"], "default_ignore": true}, ...].
**
** Ownership: ing_watch_open/ing_watch_close; the ing_kb is borrowed and
**            must outlive the watch; ing_watch_cfg_parse's entries are
**            freed with ing_watch_entries_free.
** Errors:    rag_status + rag_err. Failures of single files are recorded
**            on their jobs and reported through on_event, never returned.
** Threads:   one thread runs ing_watch_step/ing_watch_run (it uses the
**            ing_kb); ing_watch_stop may be called from any thread or a
**            signal handler. */
#ifndef ING_WATCH_H
#define ING_WATCH_H

#include "ingest/ing_jobs.h"

typedef struct ing_watch_opts {
  int debounce_ms;           /* quiet time per path before a job (200) */
  int max_delay_ms;          /* a busy burst is handed over this often (2000) */
  const char *const *ignore; /* extra ignore patterns (ing_scan.h) */
  size_t nignore;
  int default_ignore;     /* also ING_IGNORE_DEFAULTS (1) */
  int scan_on_open;       /* queue the catch-up scan in open (1) */
  double retry_backoff_s; /* first retry delay of a failed file (2) */
  int stop_fd;            /* readable = stop (a signalfd); -1 = none */
  ing_event_fn on_event;  /* each applied change; may be NULL */
  void *ctx;
} ing_watch_opts;

ing_watch_opts ing_watch_opts_default(void);

typedef struct ing_watch ing_watch;

/* Watches dir (recursively) for KB k. RAG_NOTFOUND when dir is not a
** folder; RAG_IO when inotify fails (the message names
** fs.inotify.max_user_watches when that limit is hit). */
rag_status ing_watch_open(ing_kb *k, const char *dir, const ing_watch_opts *o,
                          ing_watch **out, rag_err *err);
/* Closes the inotify descriptor. Pending debounced paths are queued as
** jobs first (the next start runs them). NULL is a no-op. */
void ing_watch_close(ing_watch *w);

/* One turn: waits up to timeout_ms for events (less when a debounce
** deadline or a retry is due), reads them, hands quiet paths over as jobs
** and runs the jobs that are due. *idle (may be NULL) = 1 when nothing is
** pending: no debounced path, no unpaired move, no queued job. */
rag_status ing_watch_step(ing_watch *w, int timeout_ms, int *idle,
                          rag_err *err);
/* Steps until stopped (ing_watch_stop, stop_fd). The document being written
** is finished, claimed jobs not started go back to the queue, derived data
** is saved. */
rag_status ing_watch_run(ing_watch *w, rag_err *err);
/* Asks ing_watch_run / ing_paths to stop; async-signal-safe. */
void ing_watch_stop(ing_watch *w);

typedef struct ing_watch_stats {
  int64_t events;     /* inotify events read */
  int64_t overflows;  /* IN_Q_OVERFLOW seen */
  int64_t jobs;       /* jobs queued by this watch */
  int64_t watches;    /* folders watched now */
  ing_jobs_stats run; /* jobs run by this watch */
} ing_watch_stats;

void ing_watch_get_stats(const ing_watch *w, ing_watch_stats *st);

/* ---- The "watch" section of the config ---- */

typedef struct ing_watch_entry {
  char *dir, *kb;
  int debounce_ms; /* 0 = default */
  char **ignore;
  size_t nignore;
  int default_ignore;
} ing_watch_entry;

/* Parses cfg->sections_json's "watch" array (absent: *n = 0). Unknown keys
** or wrong types are RAG_BADARG naming the key. */
rag_status ing_watch_cfg_parse(const char *sections_json, ing_watch_entry **out,
                               size_t *n, rag_err *err);
void ing_watch_entries_free(ing_watch_entry *v, size_t n);

#endif
