/* tests/test_load.c -- ingest: document loaders (text, Markdown, HTML, PDF,
** BEIR corpus.jsonl). */
#include "tests/test.h"

#include "core/rag_buf.h"
#include "core/rag_hash.h"
#include "ingest/ing_load.h"

#define FFFD "\xEF\xBF\xBD"

/* Writes n bytes to <tmpdir>/name; returns the path (static buffer). */
static const char *put_file(const char *name, const void *data, size_t n) {
  static char path[4200];
  snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
  FILE *f = fopen(path, "wb");
  ASSERT(f != NULL);
  ASSERT_EQ(fwrite(data, 1, n, f), n);
  fclose(f);
  return path;
}

static const char *put_str(const char *name, const char *s) {
  return put_file(name, s, strlen(s));
}

TEST(load_html_drops_scripts_styles_comments_and_decodes_entities) {
  const char *html =
      "<!DOCTYPE html><html><head><title>The &amp; Page</title>"
      "<style>body { color: red }</style><meta charset=utf-8></head>"
      "<body><script>alert('x < y')</script><noscript>enable js</noscript>"
      "<!-- a secret comment --><h1>Main <b>Heading</b></h1>"
      "<p>Fish &amp; Chips &lt;3&gt; &quot;q&quot; caf&eacute; &mdash; "
      "&hellip; &copy; &#65;&#x42; &#xD800; &bogus; a&nbsp;b</p>"
      "<![CDATA[hidden data]]><div><h2>Sub   part</h2>"
      "<ul><li>one</li><li>two</li></ul></div><p>x<br>y</p></body></html>";
  const char *path = put_str("page.html", html);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.mime, ING_MIME_HTML);
  ASSERT_STR_EQ(d.title, "The & Page");
  ASSERT_CONTAINS(d.text, "# Main Heading\n\n");
  ASSERT(strncmp(d.text, "# Main Heading", 14) == 0);
  ASSERT_CONTAINS(d.text, "\n\n## Sub part\n\n");
  ASSERT_CONTAINS(d.text, "Fish & Chips <3> \"q\" caf\xC3\xA9 \xE2\x80\x94 "
                          "\xE2\x80\xA6 \xC2\xA9 AB " FFFD " &bogus; a b");
  ASSERT_CONTAINS(d.text, "- one\n- two");
  ASSERT_CONTAINS(d.text, "x\ny");
  ASSERT(!strstr(d.text, "alert"));
  ASSERT(!strstr(d.text, "color"));
  ASSERT(!strstr(d.text, "secret"));
  ASSERT(!strstr(d.text, "hidden"));
  ASSERT(!strstr(d.text, "enable js"));
  ASSERT(!strstr(d.text, "The & Page")); /* head text is not body text */
  ASSERT_EQ(d.len, strlen(d.text));
  ing_doc_free(&d);
}

TEST(load_html_title_falls_back_to_the_first_h1) {
  const char *path =
      put_str("t.htm", "<body><p>intro</p><h1>First &lt;One&gt;</h1>"
                       "<h1>Second</h1></body>");
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.title, "First <One>");
  ing_doc_free(&d);
}

TEST(load_markdown_keeps_text_and_takes_the_first_heading_as_title) {
  const char *md = "Some preface.\n\n```\n# not the title\n```\n\n"
                   "## Minor\n\n# Real Title #\n\nBody.\n";
  const char *path = put_str("notes.md", md);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.mime, ING_MIME_MARKDOWN);
  ASSERT_STR_EQ(d.title, "Real Title");
  ASSERT_STR_EQ(d.text, md);
  ing_doc_free(&d);
}

TEST(load_text_records_name_hash_size_and_mtime) {
  const char *txt = "plain words\r\nsecond line\rthird\n";
  const char *path = put_str("readme.txt", txt);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  char hex[65];
  rag_sha256_hex(txt, strlen(txt), hex);
  ASSERT_STR_EQ(d.sha256, hex); /* of the raw bytes, before CRLF fixes */
  ASSERT_EQ(d.size, strlen(txt));
  ASSERT_GT(d.mtime, 0);
  ASSERT_STR_EQ(d.title, "readme.txt");
  ASSERT_STR_EQ(d.mime, ING_MIME_TEXT);
  ASSERT_STR_EQ(d.text, "plain words\nsecond line\nthird\n");
  ASSERT_STR_EQ(d.source, path);
  ASSERT_EQ(d.nrepaired, 0);
  ing_doc_free(&d);
}

TEST(load_skips_binary_files_with_a_reason) {
  const char *path = put_file("data.txt", "hello\0world", 11);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_file(path, NULL, &d, &e), RAG_UNSUPPORTED);
  ASSERT_CONTAINS(e.msg, "binary file (NUL bytes at offset 5)");
  ASSERT(d.text == NULL);
  /* Unknown extension, control bytes: binary too. */
  char blob[256];
  for (int i = 0; i < 256; i++)
    blob[i] = (char)(i % 31 + 1);
  path = put_file("blob.bin", blob, sizeof(blob));
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_file(path, NULL, &d, &e), RAG_UNSUPPORTED);
  ASSERT_CONTAINS(e.msg, "binary file");
  /* Unknown extension, clean text: loaded as plain text. */
  path = put_str("LICENSE", "Permission is hereby granted.\n");
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.mime, ING_MIME_TEXT);
  ing_doc_free(&d);
  /* Unknown extension, HTML content: sniffed as HTML. */
  path = put_str("page", "  <!doctype html><title>T</title><p>hi</p>");
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.mime, ING_MIME_HTML);
  ASSERT_STR_EQ(d.text, "hi\n");
  ing_doc_free(&d);
}

TEST(load_repairs_a_little_invalid_utf8_and_counts_it) {
  char buf[1000];
  memset(buf, 'a', sizeof(buf));
  buf[100] = '\xC0'; /* overlong lead */
  buf[500] = '\xFF';
  const char *path = put_file("damaged.txt", buf, sizeof(buf));
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_EQ(d.nrepaired, 2);
  ASSERT_EQ(d.len, 998 + 6);
  ASSERT(memcmp(d.text + 100, FFFD, 3) == 0);
  ing_doc_free(&d);
}

TEST(load_rejects_heavily_invalid_utf8_with_its_position) {
  /* Latin-1 French: every accented letter is an invalid byte. */
  const char *latin1 =
      "Caf\xE9 cr\xE8me br\xFBl\xE9\x65 \xE0 la fran\xE7\x61ise";
  const char *path = put_str("latin1.txt", latin1);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_file(path, NULL, &d, &e), RAG_UNSUPPORTED);
  ASSERT_CONTAINS(e.msg, "invalid UTF-8 at byte 3 (6 bad sequences)");
  ASSERT(d.text == NULL);
}

TEST(load_removes_a_utf8_bom_and_converts_utf16) {
  const char *path = put_str("bom.txt", "\xEF\xBB\xBFhello");
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.text, "hello");
  ing_doc_free(&d);
  /* UTF-16LE with BOM: "h\u00e9\U0001F600". */
  const char u16[] = "\xFF\xFEh\0\xE9\0\x3D\xD8\x00\xDE";
  path = put_file("u16.txt", u16, sizeof(u16) - 1);
  ASSERT_OK(ing_load_file(path, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.text, "h\xC3\xA9\xF0\x9F\x98\x80");
  ASSERT_EQ(d.nrepaired, 0);
  ing_doc_free(&d);
}

TEST(load_rejects_files_above_the_size_limit) {
  char buf[200];
  memset(buf, 'x', sizeof(buf));
  const char *path = put_file("big.txt", buf, sizeof(buf));
  ing_load_opts o = ing_load_opts_default();
  o.max_bytes = 100;
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_file(path, &o, &d, &e), RAG_TOOBIG);
  ASSERT_CONTAINS(e.msg, "200 bytes exceeds the 100-byte limit");
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_buffer("up.txt", buf, sizeof(buf), &o, &d, &e),
            RAG_TOOBIG);
}

/* A one-page PDF with a Helvetica text object, xref offsets computed. */
static char *make_pdf(const char *words, size_t *n) {
  rag_buf b;
  rag_buf_init(&b, 0);
  size_t off[6];
  char stream[256];
  snprintf(stream, sizeof(stream), "BT /F1 24 Tf 72 700 Td (%s) Tj ET\n",
           words);
  rag_buf_puts(&b, "%PDF-1.4\n");
  off[1] = b.len;
  rag_buf_puts(&b, "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
  off[2] = b.len;
  rag_buf_puts(&b, "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> "
                   "endobj\n");
  off[3] = b.len;
  rag_buf_puts(&b, "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 "
                   "612 792] /Contents 4 0 R /Resources << /Font << /F1 5 "
                   "0 R >> >> >> endobj\n");
  off[4] = b.len;
  rag_buf_printf(&b, "4 0 obj << /Length %zu >> stream\n%sendstream endobj\n",
                 strlen(stream), stream);
  off[5] = b.len;
  rag_buf_puts(&b, "5 0 obj << /Type /Font /Subtype /Type1 /BaseFont "
                   "/Helvetica >> endobj\n");
  size_t xref = b.len;
  rag_buf_puts(&b, "xref\n0 6\n0000000000 65535 f \n");
  for (int i = 1; i <= 5; i++)
    rag_buf_printf(&b, "%010zu 00000 n \n", off[i]);
  rag_buf_printf(&b,
                 "trailer << /Size 6 /Root 1 0 R >>\nstartxref\n%zu\n"
                 "%%%%EOF\n",
                 xref);
  *n = b.len;
  return rag_buf_detach(&b);
}

TEST(load_extracts_text_from_a_pdf) {
  size_t n;
  char *pdf = make_pdf("Hello PDF world", &n);
  const char *path = put_file("doc.pdf", pdf, n);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  rag_status rc = ing_load_file(path, NULL, &d, &e);
  if (rc == RAG_NOTFOUND) {
    printf("skip: %s\n", e.msg); /* CI installs poppler-utils */
    free(pdf);
    return;
  }
  ASSERT_OK(rc, &e);
  ASSERT_STR_EQ(d.mime, ING_MIME_PDF);
  ASSERT_CONTAINS(d.text, "Hello PDF world");
  ASSERT_STR_EQ(d.title, "doc.pdf");
  ing_doc_free(&d);
  /* The same bytes as an upload, sniffed by magic without an extension. */
  ASSERT_OK(ing_load_buffer("upload", pdf, n, NULL, &d, &e), &e);
  ASSERT_STR_EQ(d.mime, ING_MIME_PDF);
  ASSERT_CONTAINS(d.text, "Hello PDF world");
  ing_doc_free(&d);
  free(pdf);
}

TEST(load_reports_a_missing_pdftotext_clearly) {
  size_t n;
  char *pdf = make_pdf("x", &n);
  const char *path = put_file("doc.pdf", pdf, n);
  ing_load_opts o = ing_load_opts_default();
  o.pdftotext = "ragd-no-such-pdftotext";
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_file(path, &o, &d, &e), RAG_NOTFOUND);
  ASSERT_STR_EQ(e.msg,
                "ragd-no-such-pdftotext not found: install poppler-utils");
  free(pdf);
}

TEST(load_rejects_a_broken_pdf_with_the_tool_message) {
  const char *path = put_str("bad.pdf", "%PDF-1.4\ngarbage only\n");
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  rag_status rc = ing_load_file(path, NULL, &d, &e);
  if (rc == RAG_NOTFOUND)
    return;
  ASSERT(rc == RAG_CORRUPT || rc == RAG_UNSUPPORTED);
  ASSERT_CONTAINS(e.msg, "bad.pdf");
}

typedef struct seen {
  int ndocs;
  char ids[8][32];
  char texts[8][64];
  char meta[8][128];
  size_t badline;
  char why[200];
} seen;

static rag_status on_doc(void *ctx, const ing_doc *d, rag_err *err) {
  (void)err;
  seen *s = ctx;
  if (s->ndocs < 8) {
    snprintf(s->ids[s->ndocs], 32, "%s", d->source);
    snprintf(s->texts[s->ndocs], 64, "%s", d->text);
    snprintf(s->meta[s->ndocs], 128, "%s", d->meta_json);
  }
  s->ndocs++;
  return RAG_OK;
}

static void on_bad(void *ctx, size_t lineno, const char *why) {
  seen *s = ctx;
  s->badline = lineno;
  snprintf(s->why, sizeof(s->why), "%s", why);
}

TEST(load_beir_skips_a_malformed_line_and_reports_its_number) {
  const char *jl =
      "{\"_id\": \"d1\", \"title\": \"Title 1\", \"text\": \"Body one\"}\n"
      "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"Body two\"}\n"
      "{\"_id\": \"d3\", \"title\": \"oops\", \"text\": \n"
      "\n"
      "{\"_id\": \"d4\", \"text\": \"Body four\", \"metadata\": "
      "{\"url\": \"http://x\", \"beir_id\": \"spoof\"}}\r\n";
  const char *path = put_str("corpus.jsonl", jl);
  seen s;
  memset(&s, 0, sizeof(s));
  ing_beir_stats st;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_beir(path, NULL, on_doc, on_bad, &s, &st, &e), &e);
  ASSERT_EQ(st.ndocs, 3);
  ASSERT_EQ(st.nbad, 1);
  ASSERT_EQ(st.first_bad_line, 3);
  ASSERT_EQ(s.badline, 3);
  ASSERT_CONTAINS(s.why, "invalid JSON");
  ASSERT_EQ(s.ndocs, 3);
  ASSERT_STR_EQ(s.ids[0], "beir:d1");
  ASSERT_STR_EQ(s.texts[0], "Title 1\n\nBody one");
  ASSERT_STR_EQ(s.meta[0], "{\"beir_id\":\"d1\"}");
  ASSERT_STR_EQ(s.texts[1], "Body two");
  ASSERT_STR_EQ(s.ids[2], "beir:d4");
  ASSERT_STR_EQ(s.meta[2], "{\"beir_id\":\"d4\",\"url\":\"http://x\"}");
}

TEST(load_beir_rejects_lines_without_id_or_text) {
  const char *jl = "{\"title\": \"no id\", \"text\": \"t\"}\n"
                   "{\"_id\": \"x\", \"title\": \"no text\"}\n"
                   "[1, 2]\n"
                   "{\"_id\": \"ok\", \"text\": \"fine\"} trailing\n"
                   "{\"_id\": 7, \"text\": \"numeric id\"}\n";
  const char *path = put_str("c.jsonl", jl);
  seen s;
  memset(&s, 0, sizeof(s));
  ing_beir_stats st;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(ing_load_beir(path, NULL, on_doc, on_bad, &s, &st, &e), &e);
  ASSERT_EQ(st.nbad, 4);
  ASSERT_EQ(st.first_bad_line, 1);
  ASSERT_EQ(st.ndocs, 1);
  ASSERT_STR_EQ(s.ids[0], "beir:7");
}

TEST(load_file_sends_jsonl_to_the_beir_loader) {
  const char *path = put_str("corpus.jsonl", "{}\n");
  ASSERT_STR_EQ(ing_mime_for_path(path), ING_MIME_NDJSON);
  ing_doc d;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(ing_load_file(path, NULL, &d, &e), RAG_UNSUPPORTED);
  ASSERT_CONTAINS(e.msg, "ing_load_beir");
}

#define TESTS(X)                                                               \
  X(load_html_drops_scripts_styles_comments_and_decodes_entities)              \
  X(load_html_title_falls_back_to_the_first_h1)                                \
  X(load_markdown_keeps_text_and_takes_the_first_heading_as_title)             \
  X(load_text_records_name_hash_size_and_mtime)                                \
  X(load_skips_binary_files_with_a_reason)                                     \
  X(load_repairs_a_little_invalid_utf8_and_counts_it)                          \
  X(load_rejects_heavily_invalid_utf8_with_its_position)                       \
  X(load_removes_a_utf8_bom_and_converts_utf16)                                \
  X(load_rejects_files_above_the_size_limit)                                   \
  X(load_extracts_text_from_a_pdf)                                             \
  X(load_reports_a_missing_pdftotext_clearly)                                  \
  X(load_rejects_a_broken_pdf_with_the_tool_message)                           \
  X(load_beir_skips_a_malformed_line_and_reports_its_number)                   \
  X(load_beir_rejects_lines_without_id_or_text)                                \
  X(load_file_sends_jsonl_to_the_beir_loader)
TEST_MAIN(TESTS)
