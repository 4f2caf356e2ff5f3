/* ingest/ing_scan.h -- Keeping a KB in step with a folder by path: ignore
** patterns, the catch-up scan, and the path-level changes a watcher
** applies (remove what a path covers, rename without re-embedding).
**
** Catch-up scan: walk the folder, compare each wanted file's size and mtime
** with its document (one indexed range query for the whole folder); files
** whose size or mtime differ, and new files, go through ing_paths (which
** hashes them and skips those whose sha256 is unchanged, recording the new
** size/mtime); documents whose file is gone, ignored or unsupported are
** removed. Files whose size and mtime match are not read at all, so a scan
** of 10,000 unchanged files costs 10,000 lstat calls and one query.
**
** Wanted files: regular files (symbolic links are not followed) whose type
** the loader knows (ing_mime_for_path) and that the ignore patterns let
** through. BEIR corpora (.jsonl) are not wanted: their documents are
** "beir:" sources that no file path covers. Sources are the files'
** absolute normalized paths (ing_source_for_path).
** Ownership: ing_ignore_new/ing_ignore_free; nothing else allocates.
** Errors:    rag_status + rag_err. A file that cannot be loaded is an
**            ING_SKIPPED event (and a job, see ing_run_opts), never an
**            error of the scan.
** Threads:   an ing_ignore is immutable after ing_ignore_new: share it.
**            The rest: one call at a time per ing_kb. */
#ifndef ING_SCAN_H
#define ING_SCAN_H

#include "ingest/ing.h"

/* ---- Ignore patterns ----
** fnmatch(3) patterns. A pattern ending in '/' matches folders only
** (".git/"); a pattern containing another '/' matches the path relative to
** the watched root (FNM_PATHNAME); any other pattern matches the last
** component. A file inside an ignored folder is ignored. Defaults
** (ING_IGNORE_DEFAULTS): dotfiles and dot-folders, editor backups and
** temporaries. */
#define ING_IGNORE_DEFAULTS                                                    \
  { ".*", "*~", "*.swp", "*.tmp", ".git/" }

typedef struct ing_ignore ing_ignore;

/* Compiles pats[0..n) plus, when defaults is non-zero, the defaults. An
** empty pattern is RAG_BADARG. */
rag_status ing_ignore_new(const char *const *pats, size_t n, int defaults,
                          ing_ignore **out, rag_err *err);
void ing_ignore_free(ing_ignore *ig); /* NULL is a no-op */

/* 1 when relpath (relative to the root, no leading '/', components
** separated by '/') is ignored; is_dir says whether it names a folder.
** ig NULL ignores nothing. */
int ing_ignore_match(const ing_ignore *ig, const char *relpath, int is_dir);

/* 1 when a file at path would be indexed by type (see "Wanted files"). */
int ing_scan_supported(const char *path);

/* ---- Scan ---- */

typedef struct ing_scan_opts {
  const ing_ignore *ignore; /* NULL: ignore nothing */
  const char *root;         /* relpaths for ignore are relative to it;
                            ** NULL = the scanned path itself */
  ing_run_opts run;         /* callbacks, jobs, stop, defer_flush */
} ing_scan_opts;

typedef struct ing_scan_stats {
  int64_t files;     /* wanted files found */
  int64_t same_stat; /* skipped because size and mtime matched */
  int64_t checked;   /* handed to ing_paths (hashed) */
  ing_summary sum;   /* outcomes: added, replaced, removed, skipped... */
} ing_scan_stats;

/* Brings the documents covered by path (a folder, a file, or a path that
** no longer exists) in line with the disk, as described above. st may be
** NULL. A path that does not exist removes what it covers; that is not an
** error. */
rag_status ing_scan(ing_kb *k, const char *path, const ing_scan_opts *o,
                    ing_scan_stats *st, rag_err *err);

/* ---- Path-level changes ---- */

/* Removes the documents covered by each of paths[0..n): the document whose
** source is the path and every document under "path/". Paths may no longer
** exist on disk. One ING_REMOVED event per document; sum (may be NULL;
** added to, not reset) counts docs_removed and chunks_removed. o may be
** NULL (no callbacks; derived data flushed at the end). */
rag_status ing_remove_under(ing_kb *k, const char *const *paths, size_t n,
                            const ing_run_opts *o, ing_summary *sum,
                            rag_err *err);

/* A file or folder moved from old_path to new_path: renames the documents
** it covers; ids, chunks and embeddings are kept (nothing is re-embedded).
** Documents already stored under new_path are removed first (the move
** replaced them). One ING_RENAMED event when anything moved (count =
** documents). The content is not checked: a caller that may have missed a
** write re-checks new_path (ing_scan). sum as in ing_remove_under. */
rag_status ing_rename(ing_kb *k, const char *old_path, const char *new_path,
                      const ing_run_opts *o, ing_summary *sum, rag_err *err);

#endif
