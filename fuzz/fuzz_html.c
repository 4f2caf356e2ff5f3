/* fuzz/fuzz_html.c -- ingest/ing_load + ing_html: the HTML converter and
** the buffer loader (HTML, Markdown, plain text, sniffing) on arbitrary
** bytes. The first byte picks the file name given to the loader.
** Invariants from ing_load.h: a loaded doc's text is valid UTF-8 of the
** stated length with no NUL inside, a title and a source are set; the
** HTML converter's output is valid UTF-8 when its input is. */
#include "core/rag_buf.h"
#include "core/rag_utf8.h"
#include "fuzz/fuzz.h"
#include "ingest/ing_load.h"

#include <string.h>

static const char *const names[] = {"page.html", "notes.md", "readme.txt",
                                    "page.htm",  "blob",     "doc.markdown",
                                    "data.csv",  "x.HTML"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  unsigned pick = fuzz_byte(&in);
  const char *s = (const char *)in.p;
  size_t n = in.n;

  /* The converter alone, with a cap that sometimes bites. */
  rag_buf out;
  rag_buf_init(&out, (pick & 0x80) ? 64 : 0);
  char *title = NULL;
  rag_err err = {0};
  rag_status rc = ing_html_to_text(s, n, &out, &title, &err);
  if (rc == RAG_OK && rag_utf8_valid(s, n)) {
    FUZZ_CHECK(rag_utf8_valid(out.data ? out.data : "", out.len));
    if (title)
      FUZZ_CHECK(rag_utf8_valid(title, strlen(title)));
  }
  free(title);
  rag_buf_free(&out);

  /* "%PDF-" runs pdftotext in a child process: the PDF path is not a
  ** parser of ours, and a fork per input would stall the fuzzer. */
  if (n >= 5 && memcmp(s, "%PDF-", 5) == 0)
    return 0;
  ing_load_opts o = ing_load_opts_default();
  ing_doc d;
  memset(&d, 0, sizeof d);
  rag_err lerr = {0};
  const char *name = names[pick % (sizeof names / sizeof *names)];
  if (ing_load_buffer(name, s, n, &o, &d, &lerr) == RAG_OK) {
    FUZZ_CHECK(d.text && d.text[d.len] == '\0');
    FUZZ_CHECK(strlen(d.text) == d.len);
    FUZZ_CHECK(rag_utf8_valid(d.text, d.len));
    FUZZ_CHECK(d.title && d.source && d.mime);
    FUZZ_CHECK(d.size == n);
  }
  ing_doc_free(&d);
  return 0;
}
