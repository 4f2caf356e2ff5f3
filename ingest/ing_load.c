/* ingest/ing_load.c -- Document loaders (see ing_load.h).
**
** Divisions of this file:
**   1. small helpers: options, names, extensions, ing_doc
**   2. bytes -> UTF-8: BOMs, UTF-16, binary detection, repair, newlines
**   3. PDF: pdftotext in a child process (no shell, capped, timed)
**   4. ing_load_buffer() / ing_load_file()
**   5. BEIR corpus.jsonl
**
** Every path through here hashes the raw bytes first, so the sha256 of a
** document identifies its source bytes, not our conversion of them (a
** better HTML converter must not make every document look changed). */
#include "ingest/ing_load.h"

#include "core/rag_hash.h"
#include "core/rag_log.h"
#include "core/rag_utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- 1. small helpers ------------------------------------------------- */

/* Binary sniffing looks at this many leading bytes, like git and grep. */
#define SNIFF_BYTES 8192

ing_load_opts ing_load_opts_default(void) {
  ing_load_opts o = {64u << 20, 64u << 20, "pdftotext", 60000, 0.01};
  return o;
}

void ing_doc_free(ing_doc *d) {
  if (!d)
    return;
  free(d->text);
  free(d->title);
  free(d->source);
  free(d->meta_json);
  memset(d, 0, sizeof(*d));
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

static int ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (lower(*a) != lower(*b))
      return 0;
  return *a == *b;
}

const char *ing_mime_for_path(const char *path) {
  static const struct {
    const char *ext, *mime;
  } map[] = {
      {"txt", ING_MIME_TEXT},
      {"text", ING_MIME_TEXT},
      {"md", ING_MIME_MARKDOWN},
      {"markdown", ING_MIME_MARKDOWN},
      {"mdown", ING_MIME_MARKDOWN},
      {"mkd", ING_MIME_MARKDOWN},
      {"html", ING_MIME_HTML},
      {"htm", ING_MIME_HTML},
      {"xhtml", ING_MIME_HTML},
      {"pdf", ING_MIME_PDF},
      {"jsonl", ING_MIME_NDJSON},
      {"ndjson", ING_MIME_NDJSON},
      /* Plain text under another name: indexed as text. */
      {"rst", ING_MIME_TEXT},
      {"csv", ING_MIME_TEXT},
      {"tsv", ING_MIME_TEXT},
      {"log", ING_MIME_TEXT},
      {"json", ING_MIME_TEXT},
      {"xml", ING_MIME_TEXT},
      {"yaml", ING_MIME_TEXT},
      {"yml", ING_MIME_TEXT},
      {"toml", ING_MIME_TEXT},
      {"ini", ING_MIME_TEXT},
      {"tex", ING_MIME_TEXT},
      {"org", ING_MIME_TEXT},
  };
  const char *b = base_name(path);
  const char *dot = strrchr(b, '.');
  if (!dot || dot == b)
    return NULL;
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (ieq(dot + 1, map[i].ext))
      return map[i].mime;
  return NULL;
}

/* Title of a Markdown text: its first level-1 ATX heading outside fenced
** code, or NULL. */
static char *markdown_title(const char *t, size_t n) {
  size_t ls = 0;
  int fence = 0;
  while (ls < n) {
    const char *nl = memchr(t + ls, '\n', n - ls);
    size_t le = nl ? (size_t)(nl - t) : n;
    size_t i = ls;
    while (i < le && i - ls < 3 && t[i] == ' ')
      i++;
    if (le - i >= 3 &&
        (memcmp(t + i, "```", 3) == 0 || memcmp(t + i, "~~~", 3) == 0)) {
      fence = !fence;
    } else if (!fence && le - i >= 2 && t[i] == '#' &&
               (t[i + 1] == ' ' || t[i + 1] == '\t')) {
      size_t a = i + 2, b = le;
      while (a < b && (t[a] == ' ' || t[a] == '\t'))
        a++;
      while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '#' ||
                       t[b - 1] == '\r'))
        b--;
      if (b > a)
        return rag_strndup(t + a, b - a);
    }
    ls = le + 1;
  }
  return NULL;
}

/* ---- 2. bytes -> UTF-8 ------------------------------------------------ */

/* Converts UTF-16 (after its BOM) to UTF-8; unpaired surrogates become
** U+FFFD and are counted in *nbad. */
static rag_status utf16_to_utf8(const unsigned char *s, size_t n, int be,
                                rag_buf *out, size_t *nbad) {
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint32_t u = be ? (uint32_t)(s[i] << 8 | s[i + 1])
                    : (uint32_t)(s[i + 1] << 8 | s[i]);
    if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
      uint32_t v = be ? (uint32_t)(s[i + 2] << 8 | s[i + 3])
                      : (uint32_t)(s[i + 3] << 8 | s[i + 2]);
      if (v >= 0xDC00 && v <= 0xDFFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00);
        i += 2;
      }
    }
    if ((u >= 0xD800 && u <= 0xDFFF) || u == 0) {
      u = 0xFFFD;
      (*nbad)++;
    }
    char b[4];
    rag_status rc = rag_buf_append(out, b, rag_utf8_encode(u, b));
    if (rc)
      return rc;
  }
  if (n % 2)
    (*nbad)++; /* a dangling odd byte */
  return RAG_OK;
}

/* Share of C0 control bytes other than tab, newline, CR, FF, VT and ESC:
** text has almost none, binaries many. */
static int looks_binary(const unsigned char *s, size_t n) {
  size_t m = n < SNIFF_BYTES ? n : SNIFF_BYTES, ctl = 0;
  for (size_t i = 0; i < m; i++)
    if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' &&
        s[i] != '\f' && s[i] != '\v' && s[i] != 0x1B)
      ctl++;
  return ctl * 100 > m;
}

/* Copies s to out turning CRLF and lone CR into LF; with pages set, a form
** feed (pdftotext's page break) becomes a paragraph break. */
static rag_status normalize_newlines(const char *s, size_t n, int pages,
                                     rag_buf *out) {
  size_t a = 0;
  rag_status rc = RAG_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    if (s[i] != '\r' && !(pages && s[i] == '\f'))
      continue;
    rc = rag_buf_append(out, s + a, i - a);
    if (!rc)
      rc = rag_buf_puts(out, s[i] == '\f' ? "\n\n" : "\n");
    if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
      i++;
    a = i + 1;
  }
  if (!rc)
    rc = rag_buf_append(out, s + a, n - a);
  return rc;
}

/* ---- 3. PDF ------------------------------------------------------------- */

/* Runs argv with stdout and stderr captured: stdout into out (capped by
** out's cap), the first bytes of stderr into errtxt. fork + execvp with
** every argument prepared before the fork, because only async-signal-safe
** calls are allowed in the child of a threaded process. */
static rag_status run_capture(char *const argv[], int timeout_ms, rag_buf *out,
                              char *errtxt, size_t errcap, rag_err *err) {
  int po[2] = {-1, -1}, pe[2] = {-1, -1}, px[2] = {-1, -1};
  errtxt[0] = '\0';
  if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC) || pipe2(px, O_CLOEXEC)) {
    int e = errno;
    for (int k = 0; k < 2; k++) {
      if (po[k] >= 0)
        close(po[k]);
      if (pe[k] >= 0)
        close(pe[k]);
      if (px[k] >= 0)
        close(px[k]);
    }
    return rag_fail(err, RAG_IO, "%s: pipe: %s", argv[0], strerror(e));
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    execvp(argv[0], argv);
    int e = errno;
    if (write(px[1], &e, sizeof(e)) < 0)
      _exit(126);
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  close(px[1]);
  if (pid < 0) {
    int e = errno;
    close(po[0]);
    close(pe[0]);
    close(px[0]);
    return rag_fail(err, RAG_IO, "%s: fork: %s", argv[0], strerror(e));
  }
  /* The exec pipe closes on a successful exec, or carries its errno. */
  int xe = 0;
  ssize_t xr;
  do
    xr = read(px[0], &xe, sizeof(xe));
  while (xr < 0 && errno == EINTR);
  close(px[0]);
  rag_status rc = RAG_OK;
  if (xr == (ssize_t)sizeof(xe)) {
    if (xe == ENOENT)
      rc = rag_fail(err, RAG_NOTFOUND, "%s not found: install poppler-utils",
                    argv[0]);
    else
      rc = rag_fail(err, RAG_IO, "%s: exec: %s", argv[0], strerror(xe));
  }
  double deadline = rag_now() + timeout_ms / 1000.0;
  size_t nerr = 0;
  struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  int open_fds = 2;
  char chunk[65536];
  while (!rc && open_fds > 0) {
    double left = deadline - rag_now();
    if (left <= 0) {
      rc = rag_fail(err, RAG_TIMEOUT, "%s: timed out after %d ms", argv[0],
                    timeout_ms);
      break;
    }
    int pr = poll(fds, 2, (int)(left * 1000) + 1);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr < 0) {
      rc = rag_fail(err, RAG_IO, "%s: poll: %s", argv[0], strerror(errno));
      break;
    }
    for (int k = 0; k < 2 && !rc; k++) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t r = read(fds[k].fd, chunk, sizeof(chunk));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        close(fds[k].fd);
        fds[k].fd = -1;
        open_fds--;
      } else if (k == 0) {
        rc = rag_buf_append(out, chunk, (size_t)r);
        if (rc == RAG_TOOBIG)
          rag_fail(err, rc, "%s: output exceeds %zu bytes", argv[0], out->cap);
        else if (rc)
          rag_fail(err, rc, "%s: out of memory", argv[0]);
      } else if (nerr + 1 < errcap) {
        size_t m =
            (size_t)r < errcap - 1 - nerr ? (size_t)r : errcap - 1 - nerr;
        memcpy(errtxt + nerr, chunk, m);
        nerr += m;
        errtxt[nerr] = '\0';
      }
    }
  }
  for (int k = 0; k < 2; k++)
    if (fds[k].fd >= 0)
      close(fds[k].fd);
  if (rc && pid > 0)
    kill(pid, SIGKILL); /* timed out or over the cap: stop it now */
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (rc)
    return rc;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    char *nl = strchr(errtxt, '\n');
    if (nl)
      *nl = '\0';
    if (WIFEXITED(st))
      return rag_fail(err, RAG_CORRUPT, "%s failed (exit %d): %s", argv[0],
                      WEXITSTATUS(st), errtxt[0] ? errtxt : "no message");
    return rag_fail(err, RAG_CORRUPT, "%s killed by signal %d", argv[0],
                    WTERMSIG(st));
  }
  return RAG_OK;
}

/* Extracts the text of the PDF at path into out. Reading order (no
** -layout): -layout pads columns with runs of spaces, which hurt both
** chunking and full-text search. */
static rag_status pdf_extract(const char *path, const ing_load_opts *o,
                              rag_buf *out, rag_err *err) {
  /* Page breaks (form feeds) are kept: they become paragraph breaks. */
  char *args[] = {(char *)o->pdftotext, "-enc", "UTF-8", "-eol", "unix",
                  (char *)path,         "-",    NULL};
  char errtxt[512];
  rag_err sub;
  rag_err_clear(&sub);
  rag_status rc =
      run_capture(args, o->pdf_timeout_ms, out, errtxt, sizeof(errtxt), &sub);
  if (rc == RAG_NOTFOUND)
    rag_fail(err, rc, "%s", sub.msg);
  else if (rc) /* name the file: pdftotext's message alone does not */
    rag_fail(err, rc, "%s: %.200s", base_name(path), sub.msg);
  return rc;
}

/* Writes data to a private temporary file for pdftotext; *path must hold
** 4096 bytes. */
static rag_status write_temp(const void *data, size_t n, char *path,
                             rag_err *err) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, 4096, "%s/ragd-pdf-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0)
    return rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlink(path);
      return rag_fail(err, RAG_IO, "%s: %s", path, strerror(e));
    }
    p += w;
    n -= (size_t)w;
  }
  close(fd);
  return RAG_OK;
}

/* ---- 4. ing_load_buffer() / ing_load_file() ----------------------------- */

/* 1 when s starts with lowercase ASCII p, ignoring case. */
static int starts_ci(const unsigned char *s, size_t n, const char *p) {
  size_t m = strlen(p);
  if (n < m)
    return 0;
  for (size_t i = 0; i < m; i++)
    if (lower((char)s[i]) != p[i])
      return 0;
  return 1;
}

/* MIME strings are compared by value: equal literals need not share an
** address. */
static int same(const char *a, const char *b) {
  return a && strcmp(a, b) == 0;
}

/* 1 when t has a byte other than ASCII whitespace. */
static int has_text(const char *t, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (t[i] != ' ' && t[i] != '\n' && t[i] != '\t' && t[i] != '\r' &&
        t[i] != '\f' && t[i] != '\v')
      return 1;
  return 0;
}

/* The shared body: data[0..n) are the raw bytes (already hashed into
** out->sha256 and counted in out->size). path is the file for pdftotext,
** or NULL for a buffer. name gives the extension and fallback title. */
static rag_status load_bytes(const char *path, const char *name,
                             const unsigned char *data, size_t n,
                             const ing_load_opts *o, ing_doc *out,
                             rag_err *err) {
  const char *bn = base_name(name);
  const char *mime = ing_mime_for_path(name);
  size_t cap = o->max_text_bytes ? o->max_text_bytes : o->max_bytes;
  rag_buf conv, txt, html;
  rag_buf_init(&conv, cap);
  rag_buf_init(&txt, 0);
  rag_buf_init(&html, 0);
  char tmp[4096] = "";
  char *fixed = NULL, *title = NULL;
  size_t nbad = 0, m = n, skip = 0;
  const unsigned char *s = data;
  int unknown = 0;
  rag_status rc = RAG_OK;

  if (mime && strcmp(mime, ING_MIME_NDJSON) == 0) {
    rc = rag_fail(err, RAG_UNSUPPORTED,
                  "%s: JSON Lines corpus: load it with ing_load_beir()", bn);
    goto done;
  }
  if ((mime && strcmp(mime, ING_MIME_PDF) == 0) ||
      (n >= 5 && memcmp(data, "%PDF-", 5) == 0)) {
    mime = ING_MIME_PDF;
    if (!path) {
      rc = write_temp(data, n, tmp, err);
      if (rc)
        goto done;
    }
    rc = pdf_extract(path ? path : tmp, o, &conv, err);
    if (rc)
      goto done;
    s = (const unsigned char *)(conv.data ? conv.data : "");
    m = conv.len;
  } else if (n >= 2 && ((data[0] == 0xFF && data[1] == 0xFE) ||
                        (data[0] == 0xFE && data[1] == 0xFF))) {
    /* UTF-16 with a BOM (Windows "Unicode" text): converted. Without a
    ** BOM it is rejected as binary because of its NUL bytes. */
    rc = utf16_to_utf8(data + 2, n - 2, data[0] == 0xFE, &conv, &nbad);
    if (rc) {
      rag_fail(err, rc, "%s: UTF-16 text too large to convert", bn);
      goto done;
    }
    s = (const unsigned char *)(conv.data ? conv.data : "");
    m = conv.len;
    if (!mime)
      mime = ING_MIME_TEXT; /* a BOM says text, whatever the name */
  } else {
    if (n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
      skip = 3; /* the UTF-8 BOM carries no text */
    s += skip;
    m -= skip;
    const unsigned char *z = memchr(s, 0, m < SNIFF_BYTES ? m : SNIFF_BYTES);
    if (z) {
      rc = rag_fail(err, RAG_UNSUPPORTED,
                    "%s: binary file (NUL bytes at offset %zu)", bn,
                    (size_t)(z - data));
      goto done;
    }
    if (!mime) {
      /* Unknown extension: sniff. */
      size_t k = 0;
      while (k < m && k < 1024 &&
             (s[k] == ' ' || s[k] == '\n' || s[k] == '\r' || s[k] == '\t'))
        k++;
      if (starts_ci(s + k, m - k, "<!doctype html") ||
          starts_ci(s + k, m - k, "<html")) {
        mime = ING_MIME_HTML;
      } else if (looks_binary(s, m)) {
        rc = rag_fail(err, RAG_UNSUPPORTED,
                      "%s: binary file (unknown type, control bytes)", bn);
        goto done;
      } else {
        mime = ING_MIME_TEXT;
        unknown = 1;
      }
    }
  }

  /* Invalid UTF-8 (and NUL bytes past the sniffed prefix): a few bad
  ** bytes are damage worth repairing; many mean another encoding
  ** (Latin-1, Shift-JIS) whose text we would garble, so refuse. */
  size_t first = rag_utf8_first_invalid((const char *)s, m);
  if (first < m) {
    size_t flen = 0, nb = 0;
    if (rag_utf8_repair((const char *)s, m, &fixed, &flen, &nb)) {
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory repairing UTF-8", bn);
      goto done;
    }
    if ((double)nb > o->max_bad_ratio * (double)m) {
      if (unknown)
        rc = rag_fail(err, RAG_UNSUPPORTED,
                      "%s: binary file (unknown type, not UTF-8 text)", bn);
      else
        rc = rag_fail(err, RAG_UNSUPPORTED,
                      "%s: invalid UTF-8 at byte %zu (%zu bad sequences)", bn,
                      first + (s == data + skip ? skip : 0), nb);
      goto done;
    }
    nbad += nb;
    s = (const unsigned char *)fixed;
    m = flen;
  }
  rc = normalize_newlines((const char *)s, m, same(mime, ING_MIME_PDF), &txt);
  if (rc) {
    rag_fail(err, rc, "%s: out of memory", bn);
    goto done;
  }
  if (same(mime, ING_MIME_HTML)) {
    rag_buf_init(&html, txt.len * 2 + 64);
    rc =
        ing_html_to_text(txt.data ? txt.data : "", txt.len, &html, &title, err);
    if (rc)
      goto done;
    rag_buf_free(&txt);
    txt = html;
    rag_buf_init(&html, 0);
  } else if (same(mime, ING_MIME_MARKDOWN)) {
    title = markdown_title(txt.data ? txt.data : "", txt.len);
  } else if (same(mime, ING_MIME_PDF) && !has_text(txt.data, txt.len)) {
    rc = rag_fail(err, RAG_UNSUPPORTED,
                  "%s: PDF has no text layer (scanned pages need OCR)", bn);
    goto done;
  }
  if (!title)
    title = rag_strdup(bn);
  out->text = rag_buf_detach(&txt);
  out->source = rag_strdup(name);
  if (!title || !out->text || !out->source) {
    rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", bn);
    goto done;
  }
  out->len = strlen(out->text);
  out->title = title;
  title = NULL;
  out->mime = mime;
  out->nrepaired = nbad;
done:
  if (tmp[0])
    unlink(tmp);
  free(fixed);
  free(title);
  rag_buf_free(&conv);
  rag_buf_free(&txt);
  rag_buf_free(&html);
  return rc;
}

static void doc_reset(ing_doc *d) {
  memset(d, 0, sizeof(*d));
}

rag_status ing_load_buffer(const char *name, const void *data, size_t n,
                           const ing_load_opts *o, ing_doc *out, rag_err *err) {
  ing_load_opts d = ing_load_opts_default();
  if (!o)
    o = &d;
  doc_reset(out);
  if (!name || (!data && n))
    return rag_fail(err, RAG_BADARG, "ing_load_buffer: NULL name or data");
  if (o->max_bytes && n > o->max_bytes)
    return rag_fail(err, RAG_TOOBIG,
                    "%s: %zu bytes exceeds the %zu-byte "
                    "limit",
                    base_name(name), n, o->max_bytes);
  rag_sha256_hex(data, n, out->sha256);
  out->size = n;
  rag_status rc = load_bytes(NULL, name, data ? data : "", n, o, out, err);
  if (rc)
    ing_doc_free(out);
  return rc;
}

rag_status ing_load_file(const char *path, const ing_load_opts *o, ing_doc *out,
                         rag_err *err) {
  ing_load_opts d = ing_load_opts_default();
  if (!o)
    o = &d;
  doc_reset(out);
  if (!path)
    return rag_fail(err, RAG_BADARG, "ing_load_file: NULL path");
  struct stat st;
  if (stat(path, &st) != 0)
    return rag_fail(err, errno == ENOENT ? RAG_NOTFOUND : RAG_IO, "%s: %s",
                    path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return rag_fail(err, RAG_UNSUPPORTED, "%s: not a regular file", path);
  if (o->max_bytes && (uint64_t)st.st_size > o->max_bytes)
    return rag_fail(err, RAG_TOOBIG,
                    "%s: %lld bytes exceeds the %zu-byte limit", path,
                    (long long)st.st_size, o->max_bytes);
  rag_buf raw;
  /* The cap also covers a file that grows between stat() and read. */
  rag_buf_init(&raw, o->max_bytes);
  rag_status rc = rag_buf_read_file(&raw, path, err);
  if (!rc) {
    rag_sha256_hex(raw.data, raw.len, out->sha256);
    out->size = raw.len;
    out->mtime = (int64_t)st.st_mtime;
    rc = load_bytes(path, path, (const unsigned char *)raw.data, raw.len, o,
                    out, err);
  }
  rag_buf_free(&raw);
  if (rc) {
    ing_doc_free(out);
    doc_reset(out);
  }
  return rc;
}

/* ---- 5. BEIR corpus.jsonl --------------------------------------------- */

/* Reads one line (without its '\n') into line, capped by line's cap.
** Returns 1 when a line was read, 0 at end of file; *toolong is set when
** the line was longer than the cap (the rest of it is consumed). */
static int read_line(FILE *f, rag_buf *line, int *toolong) {
  char stage[4096];
  size_t k = 0;
  int c, any = 0;
  rag_buf_reset(line);
  *toolong = 0;
  while ((c = getc_unlocked(f)) != EOF) {
    any = 1;
    if (c == '\n')
      break;
    stage[k++] = (char)c;
    if (k == sizeof(stage)) {
      if (!*toolong && rag_buf_append(line, stage, k))
        *toolong = 1;
      k = 0;
    }
  }
  if (k && !*toolong && rag_buf_append(line, stage, k))
    *toolong = 1;
  if (!*toolong && rag_buf_append(line, "", 0))
    *toolong = 1; /* make data non-NULL and NUL-terminated */
  return any;
}

static void report_bad(ing_beir_bad_cb on_bad, void *ctx, const char *path,
                       ing_beir_stats *st, size_t lineno, const char *why) {
  st->nbad++;
  if (!st->first_bad_line)
    st->first_bad_line = lineno;
  if (on_bad)
    on_bad(ctx, lineno, why);
  else
    rag_log(RAG_LOG_WARN, "%s:%zu: skipped: %s", path, lineno, why);
}

/* Copies a JSON string value, repairing invalid UTF-8 (cJSON passes raw
** bytes through unchecked). */
static char *clean_str(const char *s, size_t *nbad) {
  size_t n = strlen(s), nb = 0, len;
  char *out = NULL;
  if (rag_utf8_valid(s, n))
    return rag_strndup(s, n);
  if (rag_utf8_repair(s, n, &out, &len, &nb))
    return NULL;
  *nbad += nb;
  return out;
}

/* Builds a doc from one parsed line. Returns NULL after writing a reason
** into why for a malformed line; sets *oom on allocation failure. */
static int beir_doc(const cJSON *j, const char *raw, size_t rawlen,
                    int64_t mtime, ing_doc *d, char *why, size_t whylen) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id");
  const cJSON *ti = cJSON_GetObjectItemCaseSensitive(j, "title");
  const cJSON *tx = cJSON_GetObjectItemCaseSensitive(j, "text");
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
  char idbuf[32];
  const char *ids = NULL;
  if (!cJSON_IsObject(j)) {
    snprintf(why, whylen, "not a JSON object");
    return 0;
  }
  if (cJSON_IsString(id) && id->valuestring[0]) {
    ids = id->valuestring;
  } else if (cJSON_IsNumber(id)) {
    snprintf(idbuf, sizeof(idbuf), "%.17g", id->valuedouble);
    ids = idbuf;
  } else {
    snprintf(why, whylen, "missing or empty \"_id\"");
    return 0;
  }
  if (!cJSON_IsString(tx)) {
    snprintf(why, whylen, "missing \"text\" string (_id %.64s)", ids);
    return 0;
  }
  if (ti && !cJSON_IsString(ti) && !cJSON_IsNull(ti)) {
    snprintf(why, whylen, "\"title\" is not a string (_id %.64s)", ids);
    return 0;
  }
  if (md && !cJSON_IsObject(md) && !cJSON_IsNull(md)) {
    snprintf(why, whylen, "\"metadata\" is not an object (_id %.64s)", ids);
    return 0;
  }
  why[0] = '\0'; /* from here on, failures are out of memory */
  size_t nbad = 0;
  char *idc = clean_str(ids, &nbad);
  char *title =
      cJSON_IsString(ti) ? clean_str(ti->valuestring, &nbad) : rag_strdup("");
  char *text = clean_str(tx->valuestring, &nbad);
  rag_buf b;
  rag_buf_init(&b, 0);
  cJSON *meta = cJSON_CreateObject();
  char *mj = NULL;
  int ok = idc && title && text && meta;
  if (ok && title[0])
    ok = !rag_buf_puts(&b, title) && !rag_buf_puts(&b, "\n\n");
  if (ok)
    ok = !rag_buf_puts(&b, text);
  if (ok)
    ok = cJSON_AddStringToObject(meta, "beir_id", idc) != NULL;
  for (const cJSON *c = cJSON_IsObject(md) ? md->child : NULL; ok && c;
       c = c->next) {
    if (!c->string || strcmp(c->string, "beir_id") == 0)
      continue; /* ours wins: it is the key eval maps qrels through */
    cJSON *dup = cJSON_Duplicate(c, 1);
    ok = dup && cJSON_AddItemToObject(meta, c->string, dup);
  }
  if (ok) {
    mj = cJSON_PrintUnformatted(meta);
    ok = mj != NULL;
  }
  if (ok) {
    d->text = rag_buf_detach(&b);
    d->len = d->text ? strlen(d->text) : 0;
    d->title = title[0] ? rag_strdup(title) : rag_strdup(idc);
    d->source = malloc(strlen(idc) + 6);
    d->meta_json = rag_strdup(mj);
    ok = d->text && d->title && d->source && d->meta_json;
    if (d->source) {
      memcpy(d->source, "beir:", 5);
      memcpy(d->source + 5, idc, strlen(idc) + 1);
    }
  }
  if (ok) {
    d->mime = ING_MIME_NDJSON;
    rag_sha256_hex(raw, rawlen, d->sha256);
    d->size = rawlen;
    d->mtime = mtime;
    d->nrepaired = nbad;
  }
  if (mj)
    cJSON_free(mj);
  cJSON_Delete(meta);
  rag_buf_free(&b);
  free(idc);
  free(title);
  free(text);
  return ok;
}

rag_status ing_load_beir(const char *path, const ing_load_opts *o,
                         ing_beir_doc_cb on_doc, ing_beir_bad_cb on_bad,
                         void *ctx, ing_beir_stats *st, rag_err *err) {
  ing_load_opts d = ing_load_opts_default();
  ing_beir_stats local;
  if (!o)
    o = &d;
  if (!st)
    st = &local;
  memset(st, 0, sizeof(*st));
  if (!path || !on_doc)
    return rag_fail(err, RAG_BADARG, "ing_load_beir: NULL path or callback");
  FILE *f = fopen(path, "rb");
  if (!f)
    return rag_fail(err, errno == ENOENT ? RAG_NOTFOUND : RAG_IO, "%s: %s",
                    path, strerror(errno));
  struct stat sb;
  int64_t mtime = fstat(fileno(f), &sb) == 0 ? (int64_t)sb.st_mtime : 0;
  rag_buf line;
  rag_buf_init(&line, o->max_bytes);
  rag_status rc = RAG_OK;
  size_t lineno = 0;
  int toolong;
  char why[200];
  while (!rc && read_line(f, &line, &toolong)) {
    lineno++;
    if (toolong) {
      snprintf(why, sizeof(why), "line longer than %zu bytes", o->max_bytes);
      report_bad(on_bad, ctx, path, st, lineno, why);
      continue;
    }
    if (!has_text(line.data, line.len))
      continue;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(line.data, &end, 0);
    if (!j) {
      snprintf(why, sizeof(why), "invalid JSON at byte %zu",
               end ? (size_t)(end - line.data) + 1 : (size_t)0);
      report_bad(on_bad, ctx, path, st, lineno, why);
      continue;
    }
    if (has_text(end, line.len - (size_t)(end - line.data))) {
      snprintf(why, sizeof(why), "trailing data at byte %zu",
               (size_t)(end - line.data) + 1);
      cJSON_Delete(j);
      report_bad(on_bad, ctx, path, st, lineno, why);
      continue;
    }
    ing_doc doc;
    memset(&doc, 0, sizeof(doc));
    int ok = beir_doc(j, line.data, line.len, mtime, &doc, why, sizeof(why));
    cJSON_Delete(j);
    if (!ok) {
      ing_doc_free(&doc);
      if (!why[0]) {
        rc = rag_fail(err, RAG_NOMEM, "%s:%zu: out of memory", path, lineno);
        break;
      }
      report_bad(on_bad, ctx, path, st, lineno, why);
      continue;
    }
    st->ndocs++;
    st->nrepaired += doc.nrepaired;
    rc = on_doc(ctx, &doc, err);
    ing_doc_free(&doc);
  }
  if (!rc && ferror(f))
    rc = rag_fail(err, RAG_IO, "%s: read error after line %zu", path, lineno);
  fclose(f);
  rag_buf_free(&line);
  return rc;
}
