/* ingest/ing_scan.c -- Ignore patterns, the catch-up scan, removal and
** renames by path (see ing_scan.h).
**
** Divisions:
**   1. ignore patterns
**   2. removal and renames by path
**   3. the scan: walk, compare with the KB's rows, apply */
#include "ingest/ing_scan.h"

#include "core/rag_log.h"
#include "index/kb_rename.h"
#include "ingest/ing_load.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- 1. ignore patterns ---- */

typedef struct ipat {
  char *pat;    /* without the trailing '/' of a folder pattern */
  int dir_only; /* pattern ended in '/' */
  int has_slash;
} ipat;

struct ing_ignore {
  ipat *v;
  size_t n;
};

void ing_ignore_free(ing_ignore *ig) {
  if (!ig)
    return;
  for (size_t i = 0; i < ig->n; i++)
    free(ig->v[i].pat);
  free(ig->v);
  free(ig);
}

static int add_pat(ing_ignore *ig, const char *p) {
  size_t len = strlen(p);
  ipat *x = &ig->v[ig->n];
  x->dir_only = len > 1 && p[len - 1] == '/';
  x->pat = rag_strndup(p, x->dir_only ? len - 1 : len);
  if (!x->pat)
    return -1;
  x->has_slash = strchr(x->pat, '/') != NULL;
  ig->n++;
  return 0;
}

rag_status ing_ignore_new(const char *const *pats, size_t n, int defaults,
                          ing_ignore **out, rag_err *err) {
  static const char *const defs[] = ING_IGNORE_DEFAULTS;
  size_t nd = defaults ? sizeof(defs) / sizeof(defs[0]) : 0;
  *out = NULL;
  for (size_t i = 0; i < n; i++)
    if (!pats[i] || !pats[i][0] || !strcmp(pats[i], "/"))
      return rag_fail(err, RAG_BADARG, "ignore: empty pattern");
  ing_ignore *ig = calloc(1, sizeof(*ig));
  if (ig)
    ig->v = calloc(n + nd + 1, sizeof(ipat));
  int bad = !ig || !ig->v;
  for (size_t i = 0; !bad && i < nd; i++)
    bad = add_pat(ig, defs[i]);
  for (size_t i = 0; !bad && i < n; i++)
    bad = add_pat(ig, pats[i]);
  if (bad) {
    ing_ignore_free(ig);
    return rag_fail(err, RAG_NOMEM, "out of memory");
  }
  *out = ig;
  return RAG_OK;
}

/* Does one component (or, for slash patterns, the prefix path ending at
** this component) match? */
static int match_one(const ing_ignore *ig, const char *rel, size_t end,
                     const char *name, int is_dir) {
  char buf[4096];
  for (size_t i = 0; i < ig->n; i++) {
    const ipat *x = &ig->v[i];
    if (x->dir_only && !is_dir)
      continue;
    if (x->has_slash) {
      if (end >= sizeof(buf))
        continue;
      memcpy(buf, rel, end);
      buf[end] = '\0';
      if (fnmatch(x->pat, buf, FNM_PATHNAME) == 0)
        return 1;
    } else if (fnmatch(x->pat, name, 0) == 0) {
      return 1;
    }
  }
  return 0;
}

int ing_ignore_match(const ing_ignore *ig, const char *relpath, int is_dir) {
  if (!ig || !relpath)
    return 0;
  /* Every folder on the way down counts: "a/.git/x" is ignored by ".git/"
  ** even though the scan never enters .git (the watcher may see it). */
  const char *s = relpath;
  char name[1024];
  while (*s) {
    while (*s == '/')
      s++;
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (!len)
      break;
    int last = !e || !e[strspn(e, "/")];
    if (len < sizeof(name)) {
      memcpy(name, s, len);
      name[len] = '\0';
      if (match_one(ig, relpath, (size_t)(s - relpath) + len, name,
                    last ? is_dir : 1))
        return 1;
    }
    s += len;
  }
  return 0;
}

int ing_scan_supported(const char *path) {
  const char *m = ing_mime_for_path(path);
  return m && strcmp(m, ING_MIME_NDJSON) != 0;
}

/* ---- 2. removal and renames by path ---- */

static void emit(const ing_run_opts *o, ing_outcome what, const char *source,
                 const char *target, int64_t count) {
  if (!o || !o->on_event)
    return;
  ing_event ev = {what, source, target, count, RAG_OK, NULL};
  o->on_event(o->ctx, &ev);
}

/* Removes one stored document: statistics, rows, vectors. */
static rag_status remove_doc(ing_kb *k, const kb_file_row *row,
                             const ing_run_opts *o, ing_summary *sum,
                             rag_err *err) {
  int found = 0;
  int64_t *old = NULL;
  size_t nold = 0;
  rag_status rc = ing_forget_stats(k, row->id, err);
  if (!rc)
    rc = kb_doc_delete(k->kb, row->source, &found, &old, &nold, err);
  if (!rc && nold)
    rc = kb_vec_remove(k->vec, old, nold, err);
  free(old);
  if (!rc && found) {
    sum->docs_removed++;
    sum->chunks_removed += (int64_t)nold;
    emit(o, ING_REMOVED, row->source, NULL, (int64_t)nold);
  }
  return rc;
}

rag_status ing_remove_under(ing_kb *k, const char *const *paths, size_t n,
                            const ing_run_opts *o, ing_summary *sum,
                            rag_err *err) {
  ing_summary local = {0};
  if (!sum)
    sum = &local;
  int64_t before = sum->docs_removed;
  rag_arena *a = rag_arena_new(0);
  if (!a)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  rag_status rc = RAG_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    char *src = ing_source_for_path(paths[i]);
    kb_file_row *rows = NULL;
    size_t nrows = 0;
    rc = src ? kb_docs_under(k->kb, src, a, &rows, &nrows, err)
             : rag_fail(err, RAG_NOMEM, "out of memory");
    for (size_t j = 0; j < nrows && !rc; j++)
      rc = remove_doc(k, &rows[j], o, sum, err);
    free(src);
    rag_arena_reset(a);
  }
  rag_arena_free(a);
  if (!rc && sum->docs_removed > before && !(o && o->defer_flush))
    rc = ing_kb_flush(k, err);
  return rc;
}

rag_status ing_rename(ing_kb *k, const char *old_path, const char *new_path,
                      const ing_run_opts *o, ing_summary *sum, rag_err *err) {
  ing_summary local = {0};
  if (!sum)
    sum = &local;
  char *from = ing_source_for_path(old_path);
  char *to = ing_source_for_path(new_path);
  rag_status rc = RAG_OK;
  if (!from || !to)
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  int64_t moved = 0;
  if (!rc && strcmp(from, to) != 0) {
    ing_run_opts inner = o ? *o : (ing_run_opts){0};
    inner.defer_flush = 1;
    const char *tp = to;
    rc = ing_remove_under(k, &tp, 1, &inner, sum, err);
    if (!rc)
      rc = kb_rename(k->kb, from, to, &moved, err);
  }
  if (!rc && moved) {
    sum->docs_renamed += moved;
    emit(o, ING_RENAMED, from, to, moved);
  }
  if (!rc && (moved || sum->docs_removed) && !(o && o->defer_flush))
    rc = ing_kb_flush(k, err);
  free(from);
  free(to);
  return rc;
}

/* ---- 3. the scan ---- */

typedef struct scan {
  ing_kb *k;
  const ing_scan_opts *o;
  const char *root; /* normalized */
  size_t rootlen;
  kb_file_row *rows; /* sorted by source (SQLite's BINARY = strcmp) */
  size_t nrows;
  unsigned char *seen; /* per row */
  char **todo;         /* files to hand to ing_paths */
  size_t ntodo, captodo;
  ing_scan_stats *st;
} scan;

static const char *rel_of(const scan *s, const char *path) {
  if (strncmp(path, s->root, s->rootlen) != 0)
    return path;
  const char *r = path + s->rootlen;
  while (*r == '/')
    r++;
  return r;
}

static long find_row(const scan *s, const char *source) {
  size_t lo = 0, hi = s->nrows;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->rows[mid].source, source);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static rag_status push_todo(scan *s, const char *path, rag_err *err) {
  if (s->ntodo == s->captodo) {
    size_t cap = s->captodo ? s->captodo * 2 : 256;
    char **v = realloc(s->todo, cap * sizeof(*v));
    if (!v)
      return rag_fail(err, RAG_NOMEM, "out of memory");
    s->todo = v;
    s->captodo = cap;
  }
  if (!(s->todo[s->ntodo] = rag_strdup(path)))
    return rag_fail(err, RAG_NOMEM, "out of memory");
  s->ntodo++;
  return RAG_OK;
}

/* One regular file found on disk. */
static rag_status visit_file(scan *s, const char *path, const struct stat *sb,
                             rag_err *err) {
  if (!ing_scan_supported(path) ||
      ing_ignore_match(s->o->ignore, rel_of(s, path), 0))
    return RAG_OK; /* its document, if any, stays unseen: removed */
  s->st->files++;
  long i = find_row(s, path);
  if (i >= 0) {
    s->seen[i] = 1;
    if (s->rows[i].size == (int64_t)sb->st_size &&
        s->rows[i].mtime == (int64_t)sb->st_mtime) {
      s->st->same_stat++;
      return RAG_OK;
    }
  }
  return push_todo(s, path, err);
}

static rag_status walk_dir(scan *s, char *path, size_t len, size_t cap,
                           rag_err *err) {
  DIR *d = opendir(path);
  if (!d) /* gone or unreadable: what it held is removed/kept as is */
    return errno == ENOENT || errno == ENOTDIR
               ? RAG_OK
               : rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  rag_status rc = RAG_OK;
  struct dirent *de;
  while (!rc && (de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (!strcmp(nm, ".") || !strcmp(nm, ".."))
      continue;
    size_t nl = strlen(nm);
    if (len + 1 + nl + 1 > cap)
      continue; /* longer than PATH_MAX: cannot be opened anyway */
    path[len] = '/';
    memcpy(path + len + 1, nm, nl + 1);
    struct stat sb;
    if (lstat(path, &sb) == 0) {
      if (S_ISDIR(sb.st_mode)) {
        if (!ing_ignore_match(s->o->ignore, rel_of(s, path), 1))
          rc = walk_dir(s, path, len + 1 + nl, cap, err);
      } else if (S_ISREG(sb.st_mode)) {
        rc = visit_file(s, path, &sb, err);
      }
    }
    path[len] = '\0';
  }
  closedir(d);
  return rc;
}

rag_status ing_scan(ing_kb *k, const char *path, const ing_scan_opts *o,
                    ing_scan_stats *st, rag_err *err) {
  ing_scan_stats lst;
  ing_scan_opts defo = {0};
  if (!st)
    st = &lst;
  if (!o)
    o = &defo;
  memset(st, 0, sizeof(*st));
  double t0 = rag_now();
  scan s = {0};
  s.k = k;
  s.o = o;
  s.st = st;
  char *src = ing_source_for_path(path);
  char *root = ing_source_for_path(o->root ? o->root : path);
  rag_arena *a = rag_arena_new(0);
  enum { CAP = 4096 };
  char *buf = malloc(CAP);
  rag_status rc = RAG_OK;
  if (!src || !root || !a || !buf)
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  if (!rc) {
    s.root = root;
    s.rootlen = strlen(root);
    rc = kb_docs_under(k->kb, src, a, &s.rows, &s.nrows, err);
  }
  if (!rc && !(s.seen = calloc(s.nrows + 1, 1)))
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  struct stat sb;
  if (!rc && lstat(src, &sb) == 0 && strlen(src) < CAP) {
    const char *rel = rel_of(&s, src);
    int is_dir = S_ISDIR(sb.st_mode);
    if (*rel && ing_ignore_match(o->ignore, rel, is_dir)) {
      /* an ignored path covers nothing: everything stored goes */
    } else if (is_dir) {
      size_t len = strlen(src);
      memcpy(buf, src, len + 1);
      while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
      rc = walk_dir(&s, buf, len, CAP, err);
    } else if (S_ISREG(sb.st_mode)) {
      rc = visit_file(&s, src, &sb, err);
    }
  }
  ing_run_opts ro = o->run;
  ro.missing_ok = 1;
  ro.defer_flush = 1;
  if (!rc && s.ntodo) {
    st->checked = (int64_t)s.ntodo;
    rc = ing_paths(k, (const char *const *)s.todo, s.ntodo, &ro, &st->sum, err);
  }
  /* Unseen documents: their files are gone, ignored or unsupported. */
  for (size_t i = 0; !rc && !st->sum.stopped && i < s.nrows; i++) {
    if (s.seen[i])
      continue;
    const char *p = s.rows[i].source;
    rc = ing_remove_under(k, &p, 1, &ro, &st->sum, err);
  }
  int wrote =
      st->sum.docs_added || st->sum.docs_replaced || st->sum.docs_removed;
  if (!rc && wrote && !st->sum.stopped && !o->run.defer_flush)
    rc = ing_kb_flush(k, err);
  for (size_t i = 0; i < s.ntodo; i++)
    free(s.todo[i]);
  free(s.todo);
  free(s.seen);
  free(buf);
  rag_arena_free(a);
  free(src);
  free(root);
  st->sum.seconds = rag_now() - t0;
  return rc;
}
