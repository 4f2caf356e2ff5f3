/* ingest/ing_load.h -- Document loaders: bytes of a file -> UTF-8 text
** plus metadata (title, MIME type, content hash).
**
** Supported: plain text (.txt and other text files), Markdown (.md,
** .markdown: kept verbatim), HTML (.html, .htm: converted to text with
** Markdown-style "# " headings so the chunker sees the structure), PDF
** (.pdf or %PDF- magic: text extracted by poppler's pdftotext, run without
** a shell, with a timeout and an output cap) and BEIR corpus.jsonl files
** (ing_load_beir(): one document per line).
** Text is normalized minimally: a UTF-8 BOM is dropped, UTF-16 with a BOM
** is converted, CRLF and lone CR become LF, and invalid UTF-8 is repaired
** (U+FFFD per maximal subpart) when at most 1% of the bytes are bad.
** Skips come back as distinct statuses so callers can log and go on:
**   RAG_UNSUPPORTED  binary file, heavily invalid UTF-8, unknown type,
**                    PDF without a text layer, .jsonl given to
**                    ing_load_file();
**   RAG_TOOBIG       file above opts.max_bytes (message names both sizes);
**   RAG_NOTFOUND     pdftotext missing ("pdftotext not found: install
**                    poppler-utils");
**   RAG_IO, RAG_TIMEOUT, RAG_CORRUPT (pdftotext failed), RAG_NOMEM.
**
** Ownership: an ing_doc owns its strings; release with ing_doc_free().
**            Docs handed to an ing_beir_doc_cb are owned by the loader and
**            valid only during the call.
** Errors:    fallible calls return rag_status and fill *err with one line
**            naming the file.
** Threads:   all functions are reentrant (pdftotext runs in a child
**            process per call; nothing global is touched). */
#ifndef ING_LOAD_H
#define ING_LOAD_H

#include "core/rag.h"
#include "core/rag_buf.h"

#include <stdint.h>

#define ING_MIME_TEXT "text/plain"
#define ING_MIME_MARKDOWN "text/markdown"
#define ING_MIME_HTML "text/html"
#define ING_MIME_PDF "application/pdf"
#define ING_MIME_NDJSON "application/x-ndjson"

typedef struct ing_load_opts {
  size_t max_bytes;      /* largest input file; default 64 MiB */
  size_t max_text_bytes; /* cap on extracted PDF text; default 64 MiB */
  const char *pdftotext; /* program name or path; default "pdftotext" */
  int pdf_timeout_ms;    /* wall-clock limit per PDF; default 60000 */
  double max_bad_ratio;  /* repair invalid UTF-8 up to this fraction of
                            bytes, reject above; default 0.01 */
} ing_load_opts;

/* The defaults listed above. */
ing_load_opts ing_load_opts_default(void);

typedef struct ing_doc {
  char *text;       /* UTF-8, NUL-terminated, no NUL inside; never NULL */
  size_t len;       /* bytes of text */
  char *title;      /* Markdown "# ", HTML <title>/<h1>, else file name */
  const char *mime; /* one of ING_MIME_* (static) */
  char *source;     /* the path, the buffer name or "beir:<_id>" */
  char *meta_json;  /* JSON object text, or NULL (BEIR: {"beir_id":..}) */
  char sha256[65];  /* hex SHA-256 of the raw input bytes */
  uint64_t size;    /* raw input bytes */
  int64_t mtime;    /* seconds since the epoch; 0 when unknown */
  size_t nrepaired; /* invalid UTF-8 sequences replaced by U+FFFD */
} ing_doc;

/* Frees d's strings and zeroes it; NULL or an already freed doc is fine. */
void ing_doc_free(ing_doc *d);

/* The MIME type implied by path's extension, or NULL when unknown
** (content sniffing then decides). Lets a pipeline send .jsonl files to
** ing_load_beir(). */
const char *ing_mime_for_path(const char *path);

/* Loads the file at path. o may be NULL (defaults). On success *out holds
** the document; on failure *out is zeroed and err says why. */
rag_status ing_load_file(const char *path, const ing_load_opts *o, ing_doc *out,
                         rag_err *err);

/* Same as ing_load_file() for bytes already in memory (an upload). name
** gives the extension, the fallback title and source; mtime is 0. */
rag_status ing_load_buffer(const char *name, const void *data, size_t n,
                           const ing_load_opts *o, ing_doc *out, rag_err *err);

/* Converts HTML (UTF-8) to text appended to out: drops script, style,
** noscript, template and head content, comments and CDATA; decodes
** entities (invalid ones become U+FFFD, &nbsp; a plain space); block
** elements become line breaks, h1..h6 become "# ".."###### " lines, li
** becomes "- "; whitespace runs collapse outside <pre>. *title (may be
** NULL) receives a malloc'd copy of <title>, else of the first <h1>, else
** NULL. RAG_TOOBIG when out's cap is reached. */
rag_status ing_html_to_text(const char *html, size_t n, rag_buf *out,
                            char **title, rag_err *err);

/* ---- BEIR corpus.jsonl ------------------------------------------------ */

/* Called once per document, in file order. Return RAG_OK to go on; any
** other status stops the load and is returned by ing_load_beir(). */
typedef rag_status (*ing_beir_doc_cb)(void *ctx, const ing_doc *doc,
                                      rag_err *err);
/* Called for each malformed line (1-based lineno) with a one-line reason;
** may be NULL, then the line is logged as a warning. */
typedef void (*ing_beir_bad_cb)(void *ctx, size_t lineno, const char *why);

typedef struct ing_beir_stats {
  size_t ndocs;          /* documents delivered */
  size_t nbad;           /* malformed lines skipped */
  size_t first_bad_line; /* 1-based; 0 when none */
  size_t nrepaired;      /* invalid UTF-8 sequences repaired, all docs */
} ing_beir_stats;

/* Streams a BEIR corpus.jsonl: each line {"_id", "title", "text",
** optional "metadata": {...}} becomes a doc with source "beir:<_id>",
** text = title + "\n\n" + text (just text when title is empty), title =
** the title (else the _id), meta_json = {"beir_id": _id} merged with the
** line's metadata object, sha256 of the raw line. Blank lines are ignored;
** malformed lines (bad JSON, missing _id/text, longer than o->max_bytes)
** are reported and skipped, never fatal. st may be NULL. */
rag_status ing_load_beir(const char *path, const ing_load_opts *o,
                         ing_beir_doc_cb on_doc, ing_beir_bad_cb on_bad,
                         void *ctx, ing_beir_stats *st, rag_err *err);

#endif
