/* tests/test_stream.c -- SSE and NDJSON parsers (core/rag_stream.h). */
#include "tests/test.h"

#include "core/rag_buf.h"
#include "core/rag_stream.h"

/* Collects every callback into one printable transcript, so that two runs
** compare with one string comparison: "<event>|<id>|<data>\n" per SSE event
** and "<line>\n" per NDJSON line. */
typedef struct sink {
  rag_buf out;
  int calls;
  int fail_at; /* callback number (1-based) that returns RAG_UPSTREAM */
} sink;

static void sink_init(sink *s) {
  memset(s, 0, sizeof(*s));
  rag_buf_init(&s->out, 0);
}

static rag_status on_event(void *ctx, const char *event, const char *data,
                           size_t len, const char *id) {
  sink *s = ctx;
  s->calls++;
  if (s->calls == s->fail_at)
    return RAG_UPSTREAM;
  if (strlen(data) != len)
    return RAG_CORRUPT; /* data must be NUL-terminated at len */
  rag_buf_printf(&s->out, "%s|%s|", event, id);
  rag_buf_append(&s->out, data, len);
  rag_buf_putc(&s->out, '\n');
  return RAG_OK;
}

static rag_status on_line(void *ctx, const char *line, size_t len) {
  sink *s = ctx;
  s->calls++;
  if (s->calls == s->fail_at)
    return RAG_UPSTREAM;
  if (strlen(line) != len)
    return RAG_CORRUPT;
  rag_buf_append(&s->out, line, len);
  rag_buf_putc(&s->out, '\n');
  return RAG_OK;
}

/* Feeds `in` in pieces of `step` bytes (0: all at once), then finishes.
** Returns the transcript (caller frees) and the final status in *st. */
static char *sse_run(const char *in, size_t n, size_t step, size_t cap,
                     rag_status *st) {
  sink s;
  sink_init(&s);
  rag_sse p;
  rag_sse_init(&p, cap, on_event, &s);
  rag_status rc = RAG_OK;
  size_t k = step ? step : (n ? n : 1);
  for (size_t i = 0; i < n && !rc; i += k)
    rc = rag_sse_feed(&p, in + i, n - i < k ? n - i : k);
  if (!rc)
    rc = rag_sse_finish(&p);
  rag_sse_free(&p);
  *st = rc;
  return rag_buf_detach(&s.out);
}

static char *sse_all(const char *in, size_t step) {
  rag_status st;
  char *t = sse_run(in, strlen(in), step, 0, &st);
  ASSERT_EQ(st, RAG_OK);
  return t;
}

static const char sample[] = "\xEF\xBB\xBF: keep-alive comment\r\n"
                             "event: delta\r\n"
                             "id: 7\r\n"
                             "data: {\"t\":\"h\xC3\xA9llo\"}\r\n"
                             "\r\n"
                             "data:first\n"
                             "data: second\n"
                             "retry: 100\n"
                             "\n"
                             "data: cr line\r"
                             "\r"
                             "event: ping\n"
                             "\n"
                             "data: [DONE]\n"
                             "\n";

static const char sample_events[] = "delta|7|{\"t\":\"h\xC3\xA9llo\"}\n"
                                    "message|7|first\nsecond\n"
                                    "message|7|cr line\n"
                                    "message|7|[DONE]\n";

TEST(sse_events_are_identical_for_every_split_of_the_stream) {
  char *whole = sse_all(sample, 0);
  ASSERT_STR_EQ(whole, sample_events);
  for (size_t step = 1; step <= 5; step++) {
    char *t = sse_all(sample, step);
    ASSERT_STR_EQ(t, sample_events);
    free(t);
  }
  /* every two-piece split, including inside CRLF pairs and the BOM */
  size_t n = strlen(sample);
  for (size_t cut = 0; cut <= n; cut++) {
    sink s;
    sink_init(&s);
    rag_sse p;
    rag_sse_init(&p, 0, on_event, &s);
    ASSERT_EQ(rag_sse_feed(&p, sample, cut), RAG_OK);
    ASSERT_EQ(rag_sse_feed(&p, sample + cut, n - cut), RAG_OK);
    ASSERT_EQ(rag_sse_finish(&p), RAG_OK);
    ASSERT_STR_EQ(s.out.data, sample_events);
    rag_sse_free(&p);
    rag_buf_free(&s.out);
  }
  free(whole);
}

TEST(sse_accepts_crlf_cr_and_lf_line_endings) {
  const char *forms[] = {"data: a\r\ndata: b\r\n\r\n", "data: a\rdata: b\r\r",
                         "data: a\ndata: b\n\n", "data: a\r\ndata: b\r\r\n"};
  for (size_t i = 0; i < 4; i++) {
    char *t = sse_all(forms[i], 1);
    ASSERT_STR_EQ(t, "message||a\nb\n");
    free(t);
  }
}

TEST(sse_crlf_split_between_feeds_is_one_line_ending) {
  sink s;
  sink_init(&s);
  rag_sse p;
  rag_sse_init(&p, 0, on_event, &s);
  ASSERT_EQ(rag_sse_feed(&p, "data: x\r", 8), RAG_OK);
  ASSERT_EQ(rag_sse_feed(&p, "\ndata: y\r", 9), RAG_OK);
  ASSERT_EQ(rag_sse_feed(&p, "\n\r", 2), RAG_OK);
  ASSERT_EQ(s.calls, 1);
  /* the LF after that last CR must not count as a second blank line */
  ASSERT_EQ(rag_sse_feed(&p, "\n", 1), RAG_OK);
  ASSERT_EQ(s.calls, 1);
  ASSERT_STR_EQ(s.out.data, "message||x\ny\n");
  rag_sse_free(&p);
  rag_buf_free(&s.out);
}

TEST(sse_field_value_loses_only_one_leading_space) {
  char *t = sse_all("data:x\n\ndata:  two\n\ndata\n\n", 0);
  /* "data" alone is a data line with an empty value */
  ASSERT_STR_EQ(t, "message||x\nmessage|| two\nmessage||\n");
  free(t);
}

TEST(sse_comments_and_unknown_fields_are_ignored) {
  char *t = sse_all(":c\n: c2\nfoo: bar\nretry: 5\ndata: d\n\n:only\n\n", 2);
  ASSERT_STR_EQ(t, "message||d\n");
  free(t);
}

TEST(sse_event_name_resets_but_id_persists) {
  char *t =
      sse_all("event: a\nid: 1\ndata: x\n\ndata: y\n\nid\ndata: z\n\n", 3);
  ASSERT_STR_EQ(t, "a|1|x\nmessage|1|y\nmessage||z\n");
  free(t);
}

TEST(sse_event_without_data_is_not_dispatched) {
  char *t = sse_all("event: ping\n\nevent: x\ndata: 1\n\n", 1);
  ASSERT_STR_EQ(t, "x||1\n");
  free(t);
}

TEST(sse_bom_is_dropped_only_at_the_start) {
  char *t = sse_all("\xEF\xBB\xBF"
                    "data: a\n\n",
                    1);
  ASSERT_STR_EQ(t, "message||a\n");
  free(t);
  /* a BOM later is part of the line: "\xEF\xBB\xBF" "data" is no field */
  t = sse_all("data: a\n\n\xEF\xBB\xBF"
              "data: b\n\n",
              1);
  ASSERT_STR_EQ(t, "message||a\n");
  free(t);
  /* a partial BOM prefix followed by other bytes keeps those bytes */
  t = sse_all("\xEF"
              "data: c\n\n",
              1);
  ASSERT_STR_EQ(t, "");
  free(t);
  t = sse_all("data: c\n\n", 1); /* no BOM at all */
  ASSERT_STR_EQ(t, "message||c\n");
  free(t);
}

TEST(sse_unfinished_event_at_the_end_is_discarded) {
  char *t = sse_all("data: whole\n\ndata: half\n", 1);
  ASSERT_STR_EQ(t, "message||whole\n");
  free(t);
  t = sse_all("data: whole\n\ndata: half", 0);
  ASSERT_STR_EQ(t, "message||whole\n");
  free(t);
}

TEST(sse_openai_done_marker_is_delivered_as_data) {
  char *t = sse_all("data: {\"x\":1}\n\ndata: [DONE]\n\n", 4);
  ASSERT_STR_EQ(t, "message||{\"x\":1}\nmessage||[DONE]\n");
  free(t);
}

TEST(sse_oversized_line_or_event_is_toobig) {
  rag_status st;
  const char *line = "data: 0123456789abcdef\n\n";
  char *t = sse_run(line, strlen(line), 1, 8, &st);
  ASSERT_EQ(st, RAG_TOOBIG);
  free(t);
  /* lines under the cap that add up to an event over it */
  const char *ev = "data: 12345\ndata: 12345\ndata: 12345\n\n";
  t = sse_run(ev, strlen(ev), 0, 12, &st);
  ASSERT_EQ(st, RAG_TOOBIG);
  free(t);
  t = sse_run(ev, strlen(ev), 0, 32, &st);
  ASSERT_EQ(st, RAG_OK);
  ASSERT_STR_EQ(t, "message||12345\n12345\n12345\n");
  free(t);
}

TEST(sse_callback_error_stops_the_parser) {
  sink s;
  sink_init(&s);
  s.fail_at = 2;
  rag_sse p;
  rag_sse_init(&p, 0, on_event, &s);
  const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
  ASSERT_EQ(rag_sse_feed(&p, in, strlen(in)), RAG_UPSTREAM);
  ASSERT_EQ(s.calls, 2);
  ASSERT_STR_EQ(s.out.data, "message||1\n");
  rag_sse_free(&p);
  rag_buf_free(&s.out);
}

/* ---- NDJSON ---- */

static char *nd_run(const char *in, size_t step, size_t cap, rag_status *st) {
  sink s;
  sink_init(&s);
  rag_ndjson p;
  rag_ndjson_init(&p, cap, on_line, &s);
  size_t n = strlen(in), k = step ? step : (n ? n : 1);
  rag_status rc = RAG_OK;
  for (size_t i = 0; i < n && !rc; i += k)
    rc = rag_ndjson_feed(&p, in + i, n - i < k ? n - i : k);
  if (!rc)
    rc = rag_ndjson_finish(&p);
  rag_ndjson_free(&p);
  *st = rc;
  return rag_buf_detach(&s.out);
}

TEST(ndjson_lines_are_identical_for_every_split) {
  const char *in = "{\"a\":1}\r\n\n{\"b\":\"\xE2\x82\xAC\"}\n  \r\n{\"c\":3}";
  const char *want = "{\"a\":1}\n{\"b\":\"\xE2\x82\xAC\"}\n{\"c\":3}\n";
  for (size_t step = 0; step <= 7; step++) {
    rag_status st;
    char *t = nd_run(in, step, 0, &st);
    ASSERT_EQ(st, RAG_OK);
    ASSERT_STR_EQ(t, want);
    free(t);
  }
}

TEST(ndjson_last_line_without_newline_comes_from_finish) {
  sink s;
  sink_init(&s);
  rag_ndjson p;
  rag_ndjson_init(&p, 0, on_line, &s);
  ASSERT_EQ(rag_ndjson_feed(&p, "{\"done\":true}", 13), RAG_OK);
  ASSERT_EQ(s.calls, 0);
  ASSERT_EQ(rag_ndjson_finish(&p), RAG_OK);
  ASSERT_EQ(s.calls, 1);
  ASSERT_STR_EQ(s.out.data, "{\"done\":true}\n");
  rag_ndjson_free(&p);
  rag_buf_free(&s.out);
}

TEST(ndjson_oversized_line_is_toobig) {
  rag_status st;
  char *t = nd_run("{\"x\":1}\n{\"long\":\"0123456789\"}\n", 3, 10, &st);
  ASSERT_EQ(st, RAG_TOOBIG);
  ASSERT_STR_EQ(t, "{\"x\":1}\n");
  free(t);
  /* exactly the cap, with CRLF, fits */
  t = nd_run("0123456789\r\n", 1, 10, &st);
  ASSERT_EQ(st, RAG_OK);
  ASSERT_STR_EQ(t, "0123456789\n");
  free(t);
}

TEST(ndjson_callback_error_stops_the_parser) {
  sink s;
  sink_init(&s);
  s.fail_at = 1;
  rag_ndjson p;
  rag_ndjson_init(&p, 0, on_line, &s);
  ASSERT_EQ(rag_ndjson_feed(&p, "1\n2\n", 4), RAG_UPSTREAM);
  ASSERT_EQ(s.calls, 1);
  rag_ndjson_free(&p);
  rag_buf_free(&s.out);
}

#define TESTS(X)                                                               \
  X(sse_events_are_identical_for_every_split_of_the_stream)                    \
  X(sse_accepts_crlf_cr_and_lf_line_endings)                                   \
  X(sse_crlf_split_between_feeds_is_one_line_ending)                           \
  X(sse_field_value_loses_only_one_leading_space)                              \
  X(sse_comments_and_unknown_fields_are_ignored)                               \
  X(sse_event_name_resets_but_id_persists)                                     \
  X(sse_event_without_data_is_not_dispatched)                                  \
  X(sse_bom_is_dropped_only_at_the_start)                                      \
  X(sse_unfinished_event_at_the_end_is_discarded)                              \
  X(sse_openai_done_marker_is_delivered_as_data)                               \
  X(sse_oversized_line_or_event_is_toobig)                                     \
  X(sse_callback_error_stops_the_parser)                                       \
  X(ndjson_lines_are_identical_for_every_split)                                \
  X(ndjson_last_line_without_newline_comes_from_finish)                        \
  X(ndjson_oversized_line_is_toobig)                                           \
  X(ndjson_callback_error_stops_the_parser)
TEST_MAIN(TESTS)
