/* ingest/ing_watch.c -- inotify watcher (see ing_watch.h).
**
** Divisions:
**   1. the watch table (wd -> folder) and recursive watches
**   2. debounced paths (a hash map) and unpaired moves
**   3. reading events
**   4. handing paths over as jobs, running jobs, the loop
**   5. config
**
** Lock-free stop: `stopping` is an atomic flag plus an eventfd that wakes
** poll(); both are async-signal-safe to set. */
#include "ingest/ing_watch.h"

#include "core/rag_hash.h"
#include "core/rag_log.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MASK                                                             \
  (IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM |        \
   IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW |              \
   IN_EXCL_UNLINK)

/* An IN_MOVED_FROM whose IN_MOVED_TO has not come after this long was a
** move out of the tree. The kernel queues the pair back to back, so this
** only covers a pair split across two read() calls. */
#define MOVE_PAIR_S 0.05
/* A burst larger than this is handed over without waiting for quiet. */
#define MAX_PENDING 8192
/* Superseding older queued jobs costs a scan of the queue per job; only
** small hand-overs (an editor's saves) bother. */
#define SUPERSEDE_MAX 64

typedef struct wdent {
  int wd;
  char *path; /* normalized absolute folder path */
} wdent;

typedef struct pend {
  char *path;  /* NULL = empty slot */
  double last; /* time of the latest event (rag_now) */
  double first;
} pend;

typedef struct move {
  uint32_t cookie;
  char *path;
  int is_dir;
  double t;
} move;

struct ing_watch {
  ing_kb *k;
  ing_watch_opts o;
  ing_ignore *ignore;
  char *root; /* normalized */
  size_t rootlen;
  int ifd, efd;
  atomic_int stopping;
  wdent *wds;
  size_t nwds, capwds;
  pend *pm; /* open addressing, power-of-two capacity */
  size_t npm, cappm;
  double last_event;
  move *mv;
  size_t nmv, capmv;
  int jobs_hint;   /* queued jobs may be due: run them */
  double next_due; /* earliest retry of a queued job (kb_jobs_now), 0 */
  ing_watch_stats st;
};

ing_watch_opts ing_watch_opts_default(void) {
  ing_watch_opts o = {0};
  o.debounce_ms = 200;
  o.max_delay_ms = 2000;
  o.default_ignore = 1;
  o.scan_on_open = 1;
  o.retry_backoff_s = 2.0;
  o.stop_fd = -1;
  return o;
}

static int stop_requested(void *ctx) {
  ing_watch *w = ctx;
  if (atomic_load(&w->stopping))
    return 1;
  if (w->o.stop_fd >= 0) {
    struct pollfd p = {w->o.stop_fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
      atomic_store(&w->stopping, 1);
      return 1;
    }
  }
  return 0;
}

void ing_watch_stop(ing_watch *w) {
  if (!w)
    return;
  atomic_store(&w->stopping, 1);
  uint64_t one = 1;
  ssize_t r = write(w->efd, &one, sizeof(one));
  (void)r; /* a full counter already wakes poll */
}

static const char *rel_of(const ing_watch *w, const char *path) {
  if (strncmp(path, w->root, w->rootlen) || path[w->rootlen] != '/')
    return "";
  return path + w->rootlen + 1;
}

static int ignored(const ing_watch *w, const char *path, int is_dir) {
  return ing_ignore_match(w->ignore, rel_of(w, path), is_dir);
}

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p)
    return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

/* ---- 1. the watch table and recursive watches ---- */

static wdent *wd_find(ing_watch *w, int wd) {
  for (size_t i = 0; i < w->nwds; i++)
    if (w->wds[i].wd == wd)
      return &w->wds[i];
  return NULL;
}

static void wd_drop(ing_watch *w, size_t i) {
  free(w->wds[i].path);
  w->wds[i] = w->wds[--w->nwds];
}

static rag_status wd_set(ing_watch *w, int wd, const char *path, rag_err *err) {
  wdent *e = wd_find(w, wd);
  char *p = rag_strdup(path);
  if (!p)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  if (e) { /* the same folder again, maybe under a new name */
    free(e->path);
    e->path = p;
    return RAG_OK;
  }
  if (w->nwds == w->capwds) {
    size_t cap = w->capwds ? w->capwds * 2 : 64;
    wdent *v = realloc(w->wds, cap * sizeof(*v));
    if (!v) {
      free(p);
      return rag_fail(err, RAG_NOMEM, "out of memory");
    }
    w->wds = v;
    w->capwds = cap;
  }
  w->wds[w->nwds].wd = wd;
  w->wds[w->nwds++].path = p;
  return RAG_OK;
}

/* Watches path and every folder below it that is not ignored. The watch
** comes before the listing, so a child created meanwhile is either listed
** or reported by the new watch. */
static rag_status add_tree(ing_watch *w, const char *path, rag_err *err) {
  int wd = inotify_add_watch(w->ifd, path, WATCH_MASK | IN_ONLYDIR);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return RAG_OK; /* gone already: its delete event follows */
    if (errno == ENOSPC)
      return rag_fail(err, RAG_IO,
                      "watch %s: inotify watch limit reached (raise "
                      "fs.inotify.max_user_watches)",
                      path);
    return rag_fail(err, RAG_IO, "watch %s: %s", path, strerror(errno));
  }
  rag_status rc = wd_set(w, wd, path, err);
  DIR *d = rc ? NULL : opendir(path);
  struct dirent *de;
  while (d && !rc && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *child = join(path, de->d_name);
    if (!child) {
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
      break;
    }
    struct stat sb;
    if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode) && !ignored(w, child, 1))
      rc = add_tree(w, child, err);
    free(child);
  }
  if (d)
    closedir(d);
  return rc;
}

/* A folder moved within the tree keeps its watches: rename their paths. */
static rag_status wd_rename(ing_watch *w, const char *from, const char *to,
                            rag_err *err) {
  size_t fl = strlen(from), tl = strlen(to);
  for (size_t i = 0; i < w->nwds; i++) {
    const char *p = w->wds[i].path;
    if (strncmp(p, from, fl) || (p[fl] && p[fl] != '/'))
      continue;
    size_t rest = strlen(p + fl);
    char *np = malloc(tl + rest + 1);
    if (!np)
      return rag_fail(err, RAG_NOMEM, "out of memory");
    memcpy(np, to, tl);
    memcpy(np + tl, p + fl, rest + 1);
    free(w->wds[i].path);
    w->wds[i].path = np;
  }
  return RAG_OK;
}

/* A folder moved out of the tree: its watches would report events under
** names we no longer own. */
static void wd_remove_under(ing_watch *w, const char *path) {
  size_t l = strlen(path);
  for (size_t i = 0; i < w->nwds;) {
    const char *p = w->wds[i].path;
    if (!strncmp(p, path, l) && (!p[l] || p[l] == '/')) {
      inotify_rm_watch(w->ifd, w->wds[i].wd);
      wd_drop(w, i);
    } else {
      i++;
    }
  }
}

/* ---- 2. debounced paths and unpaired moves ---- */

static size_t pm_slot(const ing_watch *w, const char *path) {
  size_t mask = w->cappm - 1;
  size_t i = (size_t)rag_hash64(path, strlen(path), 0x9e3779b9u) & mask;
  while (w->pm[i].path && strcmp(w->pm[i].path, path))
    i = (i + 1) & mask;
  return i;
}

static rag_status pm_grow(ing_watch *w, rag_err *err) {
  size_t cap = w->cappm ? w->cappm * 2 : 1024;
  pend *old = w->pm;
  size_t oldcap = w->cappm;
  w->pm = calloc(cap, sizeof(*w->pm));
  if (!w->pm) {
    w->pm = old;
    return rag_fail(err, RAG_NOMEM, "out of memory");
  }
  w->cappm = cap;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].path)
      w->pm[pm_slot(w, old[i].path)] = old[i];
  free(old);
  return RAG_OK;
}

/* Notes an event for path: (re)starts its quiet period. */
static rag_status touch(ing_watch *w, const char *path, double now,
                        rag_err *err) {
  if ((w->npm + 1) * 2 > w->cappm) {
    rag_status rc = pm_grow(w, err);
    if (rc)
      return rc;
  }
  size_t i = pm_slot(w, path);
  if (!w->pm[i].path) {
    if (!(w->pm[i].path = rag_strdup(path)))
      return rag_fail(err, RAG_NOMEM, "out of memory");
    w->pm[i].first = now;
    w->npm++;
  }
  w->pm[i].last = now;
  return RAG_OK;
}

/* Rebuilds the map without the given slots' keys (open addressing cannot
** just clear a slot). */
static void pm_rehash(ing_watch *w) {
  pend *old = w->pm;
  size_t cap = w->cappm;
  w->pm = calloc(cap, sizeof(*w->pm));
  if (!w->pm) { /* keep the old table; the emptied slots are tolerated */
    w->pm = old;
    return;
  }
  for (size_t i = 0; i < cap; i++)
    if (old[i].path)
      w->pm[pm_slot(w, old[i].path)] = old[i];
  free(old);
}

static rag_status move_add(ing_watch *w, uint32_t cookie, const char *path,
                           int is_dir, double now, rag_err *err) {
  if (w->nmv == w->capmv) {
    size_t cap = w->capmv ? w->capmv * 2 : 16;
    move *v = realloc(w->mv, cap * sizeof(*v));
    if (!v)
      return rag_fail(err, RAG_NOMEM, "out of memory");
    w->mv = v;
    w->capmv = cap;
  }
  move *m = &w->mv[w->nmv];
  if (!(m->path = rag_strdup(path)))
    return rag_fail(err, RAG_NOMEM, "out of memory");
  m->cookie = cookie;
  m->is_dir = is_dir;
  m->t = now;
  w->nmv++;
  return RAG_OK;
}

/* ---- 4 (part). queueing jobs ---- */

static rag_status enqueue(ing_watch *w, const kb_job_new *v, size_t n,
                          rag_err *err) {
  if (!n)
    return RAG_OK;
  rag_status rc = kb_jobs_add(w->k->kb, v, n, n <= SUPERSEDE_MAX, NULL, err);
  if (!rc) {
    w->st.jobs += (int64_t)n;
    w->jobs_hint = 1;
  }
  return rc;
}

static rag_status enqueue_one(ing_watch *w, const char *kind,
                              const char *source, const char *target,
                              rag_err *err) {
  kb_job_new j = {0};
  j.kind = kind;
  j.source = source;
  j.target = target;
  j.origin = "watch";
  j.total_units = 1;
  return enqueue(w, &j, 1, err);
}

/* An unpaired IN_MOVED_FROM: the path left the tree. */
static rag_status moved_out(ing_watch *w, move *m, double now, rag_err *err) {
  if (m->is_dir)
    wd_remove_under(w, m->path);
  return touch(w, m->path, now, err);
}

static rag_status expire_moves(ing_watch *w, double now, int all,
                               rag_err *err) {
  rag_status rc = RAG_OK;
  for (size_t i = 0; i < w->nmv && !rc;) {
    if (all || now - w->mv[i].t >= MOVE_PAIR_S) {
      rc = moved_out(w, &w->mv[i], now, err);
      free(w->mv[i].path);
      w->mv[i] = w->mv[--w->nmv];
    } else {
      i++;
    }
  }
  return rc;
}

/* ---- 3. reading events ---- */

static rag_status on_moved_to(ing_watch *w, uint32_t cookie, const char *to,
                              int is_dir, int to_ign, double now,
                              rag_err *err) {
  move *m = NULL;
  for (size_t i = 0; i < w->nmv; i++)
    if (w->mv[i].cookie == cookie)
      m = &w->mv[i];
  rag_status rc = RAG_OK;
  if (!m) { /* moved in from outside the tree */
    if (to_ign)
      return RAG_OK;
    if (is_dir)
      rc = add_tree(w, to, err);
    return rc ? rc : touch(w, to, now, err);
  }
  const char *from = m->path;
  int from_ign = ignored(w, from, is_dir);
  if (!from_ign && !to_ign) {
    /* Within the tree: rename the documents, re-embed nothing. Applied in
    ** event order through the job queue; a write to either path still
    ** being debounced is re-checked when its own job runs. */
    rc = is_dir ? wd_rename(w, from, to, err) : RAG_OK;
    if (!rc)
      rc = enqueue_one(w, "rename", from, to, err);
  } else {
    if (is_dir && to_ign)
      wd_remove_under(w, from);
    else if (is_dir && !to_ign)
      rc = add_tree(w, to, err);
    if (!rc && !from_ign)
      rc = touch(w, from, now, err);
    if (!rc && !to_ign)
      rc = touch(w, to, now, err);
  }
  free(m->path);
  *m = w->mv[--w->nmv];
  return rc;
}

static rag_status on_event(ing_watch *w, const struct inotify_event *ev,
                           double now, rag_err *err) {
  w->st.events++;
  if (ev->mask & IN_Q_OVERFLOW) {
    /* The kernel dropped events: only a full scan can tell what changed. */
    w->st.overflows++;
    rag_log(RAG_LOG_WARN, "watch %s: inotify queue overflow, rescanning",
            w->root);
    return enqueue_one(w, "scan", w->root, NULL, err);
  }
  wdent *e = wd_find(w, ev->wd);
  if (!e)
    return RAG_OK; /* a watch removed meanwhile */
  if (ev->mask & IN_IGNORED) {
    wd_drop(w, (size_t)(e - w->wds));
    return RAG_OK;
  }
  if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    if (!strcmp(e->path, w->root)) {
      rag_log(RAG_LOG_WARN, "watch %s: the watched folder itself went away",
              w->root);
      return enqueue_one(w, "scan", w->root, NULL, err);
    }
    return RAG_OK; /* the parent reports it as a delete or a move */
  }
  if (!ev->len || !ev->name[0])
    return RAG_OK;
  int is_dir = (ev->mask & IN_ISDIR) != 0;
  /* Files of a type the loader does not know never become documents. */
  if (!is_dir && !ing_scan_supported(ev->name) &&
      !(ev->mask & (IN_MOVED_FROM | IN_MOVED_TO)))
    return RAG_OK;
  char *path = join(e->path, ev->name);
  if (!path)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  int ign = ignored(w, path, is_dir);
  rag_status rc = RAG_OK;
  if (ev->mask & IN_MOVED_FROM)
    rc = move_add(w, ev->cookie, path, is_dir, now, err);
  else if (ev->mask & IN_MOVED_TO)
    rc = on_moved_to(w, ev->cookie, path, is_dir, ign, now, err);
  else if (ign)
    rc = RAG_OK;
  else if ((ev->mask & IN_CREATE) && is_dir)
    rc = add_tree(w, path, err);
  if (!rc && !ign && !(ev->mask & (IN_MOVED_FROM | IN_MOVED_TO)) &&
      (is_dir || ing_scan_supported(path)))
    rc = touch(w, path, now, err);
  free(path);
  return rc;
}

static rag_status read_events(ing_watch *w, rag_err *err) {
  /* Aligned as the kernel requires; 64 KiB takes ~2,000 events a read. */
  char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
  rag_status rc = RAG_OK;
  for (;;) {
    ssize_t n = read(w->ifd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* EAGAIN: drained */
    double now = rag_now();
    w->last_event = now;
    for (char *p = buf; p < buf + n && !rc;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      rc = on_event(w, ev, now, err);
      p += sizeof(*ev) + ev->len;
    }
    if (rc)
      break;
  }
  return rc;
}

/* ---- 4. handing paths over as jobs, running jobs, the loop ---- */

/* Queues the paths whose quiet period is over (all of them when `all`).
** Waits while a burst is still arriving, up to max_delay_ms. */
static rag_status handover(ing_watch *w, double now, int all, rag_err *err) {
  if (!w->npm)
    return RAG_OK;
  double deb = w->o.debounce_ms / 1000.0;
  double oldest = now;
  for (size_t i = 0; i < w->cappm; i++)
    if (w->pm[i].path && w->pm[i].first < oldest)
      oldest = w->pm[i].first;
  int go = all || now - w->last_event >= deb ||
           now - oldest >= w->o.max_delay_ms / 1000.0 || w->npm >= MAX_PENDING;
  if (!go)
    return RAG_OK;
  kb_job_new *v = calloc(w->npm, sizeof(*v));
  size_t *slots = calloc(w->npm, sizeof(*slots));
  if (!v || !slots) {
    free(v);
    free(slots);
    return rag_fail(err, RAG_NOMEM, "out of memory");
  }
  size_t n = 0;
  for (size_t i = 0; i < w->cappm; i++) {
    pend *p = &w->pm[i];
    if (!p->path || (!all && now - p->last < deb))
      continue;
    struct stat sb;
    int exists = lstat(p->path, &sb) == 0;
    v[n].kind = exists ? (S_ISDIR(sb.st_mode) ? "scan" : "ingest") : "remove";
    v[n].source = p->path;
    v[n].origin = "watch";
    v[n].total_units = 1;
    slots[n++] = i;
  }
  rag_status rc = enqueue(w, v, n, err);
  if (!rc) {
    for (size_t i = 0; i < n; i++) {
      free(w->pm[slots[i]].path);
      w->pm[slots[i]].path = NULL;
    }
    w->npm -= n;
    pm_rehash(w);
  }
  free(v);
  free(slots);
  return rc;
}

static void fwd_event(void *ctx, const ing_event *ev) {
  ing_watch *w = ctx;
  if (w->o.on_event)
    w->o.on_event(w->o.ctx, ev);
}

static rag_status run_jobs(ing_watch *w, rag_err *err) {
  ing_jobs_opts jo = {0};
  jo.ignore = w->ignore;
  jo.root = w->root;
  jo.retry_backoff_s = w->o.retry_backoff_s;
  jo.on_event = fwd_event; /* the user's callback has its own ctx */
  jo.stop = stop_requested;
  jo.ctx = w;
  rag_status rc = ing_jobs_run_due(w->k, &jo, &w->st.run, err);
  kb_job_counts c;
  if (!rc)
    rc = kb_jobs_counts(w->k->kb, &c, err);
  if (!rc) {
    w->next_due = c.queued ? c.next_due : 0;
    w->jobs_hint = 0;
  }
  return rc;
}

static int ms_until(double now, double at) {
  double d = (at - now) * 1000.0;
  if (d < 1)
    return 1;
  return d > INT_MAX ? INT_MAX : (int)d;
}

rag_status ing_watch_step(ing_watch *w, int timeout_ms, int *idle,
                          rag_err *err) {
  if (idle)
    *idle = 0;
  double now = rag_now();
  int t = timeout_ms;
  if (w->npm) {
    int d = ms_until(now, w->last_event + w->o.debounce_ms / 1000.0);
    t = d < t ? d : t;
  }
  if (w->nmv) {
    int d = ms_until(now, w->mv[0].t + MOVE_PAIR_S);
    t = d < t ? d : t;
  }
  if (w->jobs_hint)
    t = 0;
  else if (w->next_due > 0) {
    int d = ms_until(kb_jobs_now(), w->next_due);
    t = d < t ? d : t;
  }
  struct pollfd p[3] = {
      {w->ifd, POLLIN, 0}, {w->efd, POLLIN, 0}, {w->o.stop_fd, POLLIN, 0}};
  int np = w->o.stop_fd >= 0 ? 3 : 2;
  if (poll(p, (nfds_t)np, t < 0 ? 0 : t) < 0 && errno != EINTR)
    return rag_fail(err, RAG_IO, "watch: poll: %s", strerror(errno));
  rag_status rc = read_events(w, err);
  now = rag_now();
  if (!rc)
    rc = expire_moves(w, now, 0, err);
  if (!rc)
    rc = handover(w, now, 0, err);
  if (!rc && !stop_requested(w) &&
      (w->jobs_hint || (w->next_due > 0 && kb_jobs_now() >= w->next_due)))
    rc = run_jobs(w, err);
  if (!rc && idle)
    *idle = !w->npm && !w->nmv && !w->jobs_hint && w->next_due == 0;
  return rc;
}

rag_status ing_watch_run(ing_watch *w, rag_err *err) {
  rag_status rc = RAG_OK;
  while (!rc && !stop_requested(w))
    rc = ing_watch_step(w, 1000, NULL, err);
  return rc;
}

void ing_watch_get_stats(const ing_watch *w, ing_watch_stats *st) {
  *st = w->st;
  st->watches = (int64_t)w->nwds;
}

void ing_watch_close(ing_watch *w) {
  if (!w)
    return;
  if (w->ifd >= 0 && w->k) {
    /* Hand every debounced path to the durable queue: the next start
    ** runs them (its catch-up scan would find them too, but slower). */
    rag_err e;
    rag_err_clear(&e);
    if (expire_moves(w, rag_now(), 1, &e) || handover(w, rag_now(), 1, &e))
      rag_log(RAG_LOG_WARN, "watch %s: %s", w->root, e.msg);
  }
  if (w->ifd >= 0)
    close(w->ifd);
  if (w->efd >= 0)
    close(w->efd);
  for (size_t i = 0; i < w->nwds; i++)
    free(w->wds[i].path);
  free(w->wds);
  for (size_t i = 0; i < w->cappm; i++)
    free(w->pm[i].path);
  free(w->pm);
  for (size_t i = 0; i < w->nmv; i++)
    free(w->mv[i].path);
  free(w->mv);
  ing_ignore_free(w->ignore);
  free(w->root);
  free(w);
}

/* Finished jobs beyond this many are pruned at open: the table is a
** history for `ragd jobs`, not an archive. */
#define KEEP_DONE_JOBS 20000

rag_status ing_watch_open(ing_kb *k, const char *dir, const ing_watch_opts *o,
                          ing_watch **out, rag_err *err) {
  *out = NULL;
  ing_watch_opts def = ing_watch_opts_default();
  ing_watch *w = calloc(1, sizeof(*w));
  if (!w)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  w->k = k;
  w->o = o ? *o : def;
  if (w->o.debounce_ms < 0)
    w->o.debounce_ms = 0;
  if (w->o.max_delay_ms < w->o.debounce_ms)
    w->o.max_delay_ms = w->o.debounce_ms;
  w->ifd = w->efd = -1;
  atomic_init(&w->stopping, 0);
  rag_status rc = RAG_OK;
  struct stat sb;
  if (!(w->root = ing_source_for_path(dir)))
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  else if (stat(w->root, &sb) != 0 || !S_ISDIR(sb.st_mode))
    rc = rag_fail(err, RAG_NOTFOUND, "watch: %s is not a folder", dir);
  if (!rc) {
    w->rootlen = strlen(w->root);
    rc = ing_ignore_new(w->o.ignore, w->o.nignore, w->o.default_ignore,
                        &w->ignore, err);
  }
  if (!rc) {
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->ifd < 0 || w->efd < 0)
      rc = rag_fail(err, RAG_IO, "watch: inotify: %s", strerror(errno));
  }
  if (!rc)
    rc = pm_grow(w, err);
  if (!rc)
    rc = add_tree(w, w->root, err);
  /* Jobs left 'running' belonged to a process that died mid-run. */
  int64_t requeued = 0;
  if (!rc)
    rc = kb_jobs_requeue_running(k->kb, &requeued, err);
  if (!rc && requeued)
    rag_log(RAG_LOG_INFO, "watch %s: requeued %lld interrupted job(s)", w->root,
            (long long)requeued);
  if (!rc)
    rc = kb_jobs_prune(k->kb, KEEP_DONE_JOBS, err);
  if (!rc && w->o.scan_on_open)
    rc = enqueue_one(w, "scan", w->root, NULL, err);
  if (!rc) {
    kb_job_counts c;
    rc = kb_jobs_counts(k->kb, &c, err);
    if (!rc && c.queued)
      w->jobs_hint = 1;
  }
  if (rc) {
    w->k = NULL; /* nothing to hand over */
    ing_watch_close(w);
    return rc;
  }
  *out = w;
  return RAG_OK;
}

/* ---- 5. config ---- */

void ing_watch_entries_free(ing_watch_entry *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) {
    free(v[i].dir);
    free(v[i].kb);
    for (size_t j = 0; j < v[i].nignore; j++)
      free(v[i].ignore[j]);
    free(v[i].ignore);
  }
  free(v);
}

static rag_status parse_entry(const cJSON *o, size_t idx, ing_watch_entry *e,
                              rag_err *err) {
  e->default_ignore = 1;
  if (!cJSON_IsObject(o))
    return rag_fail(err, RAG_BADARG, "config: watch[%zu]: not an object", idx);
  for (const cJSON *it = o->child; it; it = it->next) {
    const char *key = it->string ? it->string : "";
    if (!strcmp(key, "dir") || !strcmp(key, "kb")) {
      if (!cJSON_IsString(it) || !it->valuestring[0])
        return rag_fail(err, RAG_BADARG, "config: watch[%zu].%s: not a string",
                        idx, key);
      char **dst = key[0] == 'd' ? &e->dir : &e->kb;
      free(*dst);
      if (!(*dst = rag_strdup(it->valuestring)))
        return rag_fail(err, RAG_NOMEM, "out of memory");
    } else if (!strcmp(key, "debounce_ms")) {
      if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
          it->valuedouble > 600000)
        return rag_fail(err, RAG_BADARG,
                        "config: watch[%zu].debounce_ms: 0..600000", idx);
      e->debounce_ms = (int)it->valuedouble;
    } else if (!strcmp(key, "default_ignore")) {
      if (!cJSON_IsBool(it))
        return rag_fail(err, RAG_BADARG,
                        "config: watch[%zu].default_ignore: not a boolean",
                        idx);
      e->default_ignore = cJSON_IsTrue(it);
    } else if (!strcmp(key, "ignore")) {
      int n = cJSON_GetArraySize(it);
      if (!cJSON_IsArray(it))
        return rag_fail(err, RAG_BADARG,
                        "config: watch[%zu].ignore: not an array", idx);
      e->ignore = calloc((size_t)n + 1, sizeof(char *));
      if (!e->ignore)
        return rag_fail(err, RAG_NOMEM, "out of memory");
      for (const cJSON *p = it->child; p; p = p->next) {
        if (!cJSON_IsString(p) || !p->valuestring[0])
          return rag_fail(err, RAG_BADARG,
                          "config: watch[%zu].ignore: not a pattern", idx);
        if (!(e->ignore[e->nignore] = rag_strdup(p->valuestring)))
          return rag_fail(err, RAG_NOMEM, "out of memory");
        e->nignore++;
      }
    } else {
      return rag_fail(err, RAG_BADARG, "config: watch[%zu]: unknown key '%s'",
                      idx, key);
    }
  }
  if (!e->dir || !e->kb)
    return rag_fail(err, RAG_BADARG, "config: watch[%zu]: needs dir and kb",
                    idx);
  return RAG_OK;
}

rag_status ing_watch_cfg_parse(const char *sections_json, ing_watch_entry **out,
                               size_t *n, rag_err *err) {
  *out = NULL;
  *n = 0;
  if (!sections_json)
    return RAG_OK;
  cJSON *root = cJSON_Parse(sections_json);
  if (!root)
    return rag_fail(err, RAG_BADARG, "config: sections are not JSON");
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "watch");
  rag_status rc = RAG_OK;
  if (arr && !cJSON_IsArray(arr))
    rc = rag_fail(err, RAG_BADARG, "config: watch: not an array");
  size_t cnt = arr && !rc ? (size_t)cJSON_GetArraySize(arr) : 0;
  ing_watch_entry *v = cnt ? calloc(cnt, sizeof(*v)) : NULL;
  if (cnt && !v)
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  size_t i = 0;
  for (const cJSON *it = arr ? arr->child : NULL; !rc && it; it = it->next)
    rc = parse_entry(it, i, &v[i], err), i++;
  cJSON_Delete(root);
  if (rc) {
    ing_watch_entries_free(v, cnt);
    return rc;
  }
  *out = v;
  *n = cnt;
  return RAG_OK;
}
