/* tests/test_progress.c -- Stage progress: ing_paths reports its chunk,
** embed and index stages (ingest/ing.h ing_stage_fn) with counts that only
** grow, totals that end exact and equal to the summary's chunk count; and
** the block of stage bars of cli/cli_progress.h, rendered into a file
** with a test-controlled clock. */
#include "test.h"

#include "cli/cli_progress.h"
#include "ingest/ing.h"
#include "ingest/ing_kb.h"

#include <stdint.h>
#include <sys/stat.h>

/* ---- the stage callback ---- */

#define MAX_CALLS 4096

typedef struct call {
  ing_stage st;
  int64_t done, total;
  int exact;
} call;

typedef struct rec {
  call calls[MAX_CALLS];
  size_t n;
  int64_t stop_after_index; /* stop once INDEX passes this; < 0 = never */
} rec;

static void on_stage(void *ctx, ing_stage st, int64_t done, int64_t total,
                     int exact) {
  rec *r = ctx;
  ASSERT(r->n < MAX_CALLS);
  r->calls[r->n++] = (call){st, done, total, exact};
}

static int on_stop(void *ctx) {
  rec *r = ctx;
  if (r->stop_after_index < 0)
    return 0;
  for (size_t i = r->n; i-- > 0;)
    if (r->calls[i].st == ING_STAGE_INDEX)
      return r->calls[i].done > r->stop_after_index;
  return 0;
}

/* Small chunks, small batches: several batches of several chunks per
** document, several embedding requests per batch. */
static rag_cfg small_cfg(void) {
  rag_cfg c;
  rag_err err = {0};
  ASSERT_OK(rag_cfg_default(&c, &err), &err);
  c.chunk.size = 24;
  c.chunk.overlap = 0;
  c.chunk.min_size = 4;
  c.ingest.batch_docs = 3;
  c.embedding.batch = 2;
  return c;
}

/* Text of document i: about 100 words, different per document. */
static void doc_text(int i, char *out, size_t n) {
  static const char *const words[] = {
      "wing",  "flow",    "shock",   "boundary", "layer", "pressure",
      "heat",  "surface", "mach",    "number",   "drag",  "lift",
      "plate", "cone",    "viscous", "laminar",  "wake",  "nozzle"};
  size_t off = 0;
  for (int w = 0; w < 100 && off + 16 < n; w++) {
    const char *s = words[(size_t)(i * 7 + w * 5 + w / 9) % 18];
    off += (size_t)snprintf(out + off, n - off, "%s%s", s,
                            w % 12 == 11 ? ". " : " ");
  }
}

static void write_docs(const char *dir, int ndocs) {
  mkdir(dir, 0777);
  for (int i = 0; i < ndocs; i++) {
    char path[4300], text[2048];
    snprintf(path, sizeof(path), "%s/doc%02d.txt", dir, i);
    doc_text(i, text, sizeof(text));
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(text, f);
    ASSERT_EQ(fclose(f), 0);
  }
}

static void write_beir(const char *path, int ndocs) {
  FILE *f = fopen(path, "w");
  ASSERT(f);
  for (int i = 0; i < ndocs; i++) {
    char text[2048];
    doc_text(i, text, sizeof(text));
    fprintf(f, "{\"_id\": \"d%d\", \"title\": \"\", \"text\": \"%s\"}\n", i,
            text);
  }
  ASSERT_EQ(fclose(f), 0);
}

static ing_kb *open_kb(const rag_cfg *cfg, const char *name) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), name);
  ing_kb_opts o = ing_kb_opts_default();
  o.emb_spec = "hash";
  ing_kb *k = NULL;
  rag_err err = {0};
  ASSERT_OK(ing_kb_open(cfg, dir, &o, &k, &err), &err);
  return k;
}

static rag_status run(ing_kb *k, const char *path, rec *r, ing_summary *sum) {
  ing_run_opts ro = {0};
  ro.no_jobs = 1;
  ro.stage = on_stage;
  ro.stop = on_stop;
  ro.ctx = r;
  r->n = 0;
  rag_err err = {0};
  rag_status rc = ing_paths(k, &path, 1, &ro, sum, &err);
  if (rc)
    fprintf(stderr, "ing_paths: %s\n", err.msg);
  return rc;
}

/* The invariants of every run: per stage, done never decreases and never
** passes total; an exact total never changes; a later stage never passes
** an earlier one. Returns each stage's last call in last[]. */
static void check_invariants(const rec *r, call last[ING_NSTAGES]) {
  int64_t done[ING_NSTAGES] = {0, 0, 0};
  int64_t exact_total = -1;
  int seen[ING_NSTAGES] = {0, 0, 0};
  for (size_t i = 0; i < r->n; i++) {
    const call *c = &r->calls[i];
    ASSERT((unsigned)c->st < ING_NSTAGES);
    ASSERT_GE(c->done, done[c->st]);
    ASSERT_GE(c->total, c->done);
    if (c->exact) {
      if (exact_total >= 0)
        ASSERT_EQ(c->total, exact_total);
      exact_total = c->total;
    }
    done[c->st] = c->done;
    seen[c->st] = 1;
    last[c->st] = *c;
    ASSERT_GE(done[ING_STAGE_CHUNK], done[ING_STAGE_EMBED]);
    ASSERT_GE(done[ING_STAGE_EMBED], done[ING_STAGE_INDEX]);
  }
  for (int s = 0; s < ING_NSTAGES; s++)
    ASSERT(seen[s]);
}

/* How many different counts stage st reported. */
static int distinct_counts(const rec *r, ing_stage st) {
  int n = 0;
  int64_t prev = -1;
  for (size_t i = 0; i < r->n; i++)
    if (r->calls[i].st == st && r->calls[i].done != prev) {
      prev = r->calls[i].done;
      n++;
    }
  return n;
}

TEST(each_stage_reaches_the_summary_chunk_count_with_exact_totals) {
  rag_cfg cfg = small_cfg();
  char docs[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  write_docs(docs, 10);
  ing_kb *k = open_kb(&cfg, "kb");
  static rec r;
  r.stop_after_index = -1;
  ing_summary sum;
  ASSERT_OK(run(k, docs, &r, &sum), &(rag_err){0});
  ASSERT_EQ(sum.docs_added, 10);
  ASSERT_GT(sum.chunks_added, 20); /* several chunks per document */
  call last[ING_NSTAGES];
  check_invariants(&r, last);
  for (int s = 0; s < ING_NSTAGES; s++) {
    ASSERT(last[s].exact);
    ASSERT_EQ(last[s].done, sum.chunks_added);
    ASSERT_EQ(last[s].total, sum.chunks_added);
  }
  /* Four batches of up to 3 documents, two chunks per embedding request:
  ** every stage moved many times, not once at the end. */
  ASSERT_GE(distinct_counts(&r, ING_STAGE_CHUNK), 4);
  ASSERT_GE(distinct_counts(&r, ING_STAGE_EMBED), 10);
  ASSERT_GE(distinct_counts(&r, ING_STAGE_INDEX), 10);
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(stages_advance_side_by_side_batch_after_batch) {
  rag_cfg cfg = small_cfg();
  char docs[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  write_docs(docs, 10);
  ing_kb *k = open_kb(&cfg, "kb");
  static rec r;
  r.stop_after_index = -1;
  ing_summary sum;
  ASSERT_OK(run(k, docs, &r, &sum), &(rag_err){0});
  /* Documents are committed before the last batch is chunked: the index
  ** count moves while the chunk count is still below its final value. */
  int index_before_chunk_done = 0;
  int64_t chunked = 0;
  for (size_t i = 0; i < r.n; i++) {
    if (r.calls[i].st == ING_STAGE_CHUNK)
      chunked = r.calls[i].done;
    if (r.calls[i].st == ING_STAGE_INDEX && r.calls[i].done > 0 &&
        chunked < sum.chunks_added)
      index_before_chunk_done = 1;
  }
  ASSERT(index_before_chunk_done);
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(a_beir_corpus_gets_estimated_totals_then_the_exact_count) {
  rag_cfg cfg = small_cfg();
  char corpus[4200];
  snprintf(corpus, sizeof(corpus), "%s/corpus.jsonl", test_tmpdir());
  write_beir(corpus, 12);
  ing_kb *k = open_kb(&cfg, "kb");
  static rec r;
  r.stop_after_index = -1;
  ing_summary sum;
  ASSERT_OK(run(k, corpus, &r, &sum), &(rag_err){0});
  ASSERT_EQ(sum.docs_added, 12);
  call last[ING_NSTAGES];
  check_invariants(&r, last);
  /* The number of documents is unknown while the corpus streams: totals
  ** before the end are estimates from the bytes read, close to the end
  ** count since the documents are alike. */
  int estimates = 0;
  for (size_t i = 0; i < r.n; i++) {
    if (r.calls[i].exact || r.calls[i].total == 0)
      continue;
    estimates++;
    ASSERT_GE(r.calls[i].total, sum.chunks_added * 0.7);
    ASSERT_GE(sum.chunks_added * 1.3, r.calls[i].total);
  }
  ASSERT_GT(estimates, 0);
  for (int s = 0; s < ING_NSTAGES; s++) {
    ASSERT(last[s].exact);
    ASSERT_EQ(last[s].done, sum.chunks_added);
    ASSERT_EQ(last[s].total, sum.chunks_added);
  }
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(unchanged_documents_end_every_stage_at_an_exact_zero) {
  rag_cfg cfg = small_cfg();
  char docs[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  write_docs(docs, 5);
  ing_kb *k = open_kb(&cfg, "kb");
  static rec r;
  r.stop_after_index = -1;
  ing_summary sum;
  ASSERT_OK(run(k, docs, &r, &sum), &(rag_err){0});
  ASSERT_OK(run(k, docs, &r, &sum), &(rag_err){0});
  ASSERT_EQ(sum.docs_unchanged, 5);
  ASSERT_EQ(sum.chunks_added, 0);
  call last[ING_NSTAGES];
  check_invariants(&r, last);
  for (int s = 0; s < ING_NSTAGES; s++) {
    ASSERT(last[s].exact);
    ASSERT_EQ(last[s].done, 0);
    ASSERT_EQ(last[s].total, 0);
  }
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(a_stopped_run_indexes_what_it_reports_and_never_completes_a_stage) {
  rag_cfg cfg = small_cfg();
  char docs[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  write_docs(docs, 10);
  ing_kb *k = open_kb(&cfg, "kb");
  static rec r;
  r.stop_after_index = 0; /* stop after the first document committed */
  ing_summary sum;
  ASSERT_OK(run(k, docs, &r, &sum), &(rag_err){0});
  ASSERT(sum.stopped);
  ASSERT_EQ(sum.docs_added, 1);
  call last[ING_NSTAGES];
  check_invariants(&r, last);
  ASSERT_EQ(last[ING_STAGE_INDEX].done, sum.chunks_added);
  ASSERT(!last[ING_STAGE_INDEX].exact);
  ASSERT_GT(last[ING_STAGE_INDEX].total, last[ING_STAGE_INDEX].done);
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

/* ---- the block of stage bars ---- */

static const char *const LABELS[3] = {"chunk", "embed", "index"};

/* Everything written to f since it was opened, NUL-terminated. */
static char *slurp(FILE *f) {
  static char buf[65536];
  fflush(f);
  rewind(f);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

TEST(a_stage_row_shows_its_count_rate_and_eta) {
  cli_bar_row row = {0};
  snprintf(row.label, sizeof(row.label), "embed");
  char line[256];
  cli_bar_format(&row, 100, line, sizeof(line));
  ASSERT_CONTAINS(line, "embed");
  ASSERT_CONTAINS(line, "waiting"); /* never updated */

  cli_bars b;
  cli_bars_begin(&b, 1, stderr, LABELS, 3);
  cli_bars_update(&b, 1, 0, 0, 0, "chunks", NULL, 100); /* starts */
  cli_bars_update(&b, 1, 50, 200, 1, NULL, "sent 8", 110);
  cli_bar_format(&b.row[1], 110, line, sizeof(line));
  /* 50 chunks in 10 s: 5/s; 150 left: 30 s. */
  ASSERT_CONTAINS(line, " 25%");
  ASSERT_CONTAINS(line, "50/200 chunks");
  ASSERT_CONTAINS(line, "5.0/s");
  ASSERT_CONTAINS(line, "ETA 0:30");
  ASSERT_CONTAINS(line, "sent 8");
  ASSERT_CONTAINS(line, "[###.........]");
}

TEST(estimated_and_unknown_totals_are_told_apart) {
  cli_bars b;
  cli_bars_begin(&b, 1, stderr, LABELS, 3);
  char line[256];
  cli_bars_update(&b, 0, 300, 1000, 0, "chunks", NULL, 10);
  cli_bars_update(&b, 0, 600, 1200, 0, "chunks", NULL, 12);
  cli_bar_format(&b.row[0], 12, line, sizeof(line));
  ASSERT_CONTAINS(line, "600/~1200 chunks");
  ASSERT_CONTAINS(line, " 50%");
  ASSERT_CONTAINS(line, "300/s");
  ASSERT_CONTAINS(line, "ETA 0:02");
  cli_bars_update(&b, 2, 7, 0, 0, "chunks", NULL, 12);
  cli_bar_format(&b.row[2], 13, line, sizeof(line));
  ASSERT_CONTAINS(line, "  7 chunks");
  ASSERT_CONTAINS(line, "ETA --:--"); /* no total: no ETA */
  ASSERT(!strchr(line, '~'));
}

TEST(a_finished_stage_keeps_its_rate_while_the_others_run) {
  cli_bars b;
  cli_bars_begin(&b, 1, stderr, LABELS, 3);
  char line[256];
  cli_bars_update(&b, 0, 0, 0, 0, "chunks", NULL, 10);
  cli_bars_update(&b, 0, 400, 400, 1, NULL, NULL, 14); /* 100/s */
  cli_bar_format(&b.row[0], 60, line, sizeof(line));
  ASSERT_CONTAINS(line, "100%");
  ASSERT_CONTAINS(line, "400/400 chunks");
  ASSERT_CONTAINS(line, "100/s");
  ASSERT_CONTAINS(line, "ETA 0:00");
  /* An exact total of zero (nothing to do) is done, not unknown. */
  cli_bars_update(&b, 1, 0, 0, 1, "chunks", NULL, 60);
  cli_bar_format(&b.row[1], 61, line, sizeof(line));
  ASSERT_CONTAINS(line, "100%");
  ASSERT_CONTAINS(line, "0/0 chunks");
}

TEST(the_block_is_redrawn_in_place_and_left_behind_on_break) {
  FILE *f = tmpfile();
  ASSERT(f);
  cli_bars b;
  cli_bars_begin(&b, 1, f, LABELS, 3);
  cli_bars_update(&b, 0, 10, 100, 0, "chunks", NULL, 1);
  cli_bars_draw(&b, 0, 1);
  const char *out = slurp(f);
  ASSERT_EQ(count(out, "\n"), 3); /* one line per stage */
  ASSERT_EQ(count(out, "\033[3A"), 0);
  ASSERT_CONTAINS(out, "chunk");
  ASSERT_CONTAINS(out, "embed");
  ASSERT_CONTAINS(out, "index");
  fseek(f, 0, SEEK_END);
  cli_bars_update(&b, 0, 20, 100, 0, NULL, NULL, 1.05);
  cli_bars_draw(&b, 0, 1.05); /* under 0.1 s: skipped */
  ASSERT_EQ(count(slurp(f), "\n"), 3);
  fseek(f, 0, SEEK_END);
  cli_bars_draw(&b, 0, 1.2); /* up 3 lines, then the 3 rows again */
  out = slurp(f);
  ASSERT_EQ(count(out, "\033[3A"), 1);
  ASSERT_EQ(count(out, "\n"), 6);
  ASSERT_CONTAINS(strstr(out, "\033[3A"), "20/~100 chunks");
  /* After a break (a message printed below), a new block starts. */
  cli_bars_break(&b);
  fseek(f, 0, SEEK_END);
  cli_bars_draw(&b, 1, 1.3);
  out = slurp(f);
  ASSERT_EQ(count(out, "\033[3A"), 1);
  ASSERT_EQ(count(out, "\n"), 9);
  fclose(f);
}

TEST(a_message_takes_the_place_of_the_block_which_comes_back_below) {
  FILE *f = tmpfile();
  ASSERT(f);
  cli_bars b;
  cli_bars_begin(&b, 1, f, LABELS, 3);
  cli_bars_clear(&b); /* nothing drawn: nothing to erase */
  ASSERT_EQ(strlen(slurp(f)), 0);
  cli_bars_update(&b, 0, 10, 100, 0, "chunks", NULL, 1);
  cli_bars_draw(&b, 1, 1);
  cli_bars_clear(&b);
  fputs("skipped: a.pdf\n", f);
  cli_bars_draw(&b, 1, 1.01);
  const char *out = slurp(f);
  /* Up over the 3 rows, erased to the end of the screen, the message,
  ** then a fresh block (no cursor move). */
  const char *erase = strstr(out, "\033[3A\r\033[J");
  ASSERT(erase);
  ASSERT_EQ(count(out, "\033[3A"), 1);
  ASSERT(strstr(erase, "skipped: a.pdf\n") ==
         erase + strlen("\033[3A\r\033[J"));
  ASSERT_CONTAINS(strstr(erase, "skipped"), "chunk");
  ASSERT_EQ(count(out, "\n"), 7);
  fclose(f);
}

TEST(rows_never_wrap_and_a_disabled_block_draws_nothing) {
  FILE *f = tmpfile();
  ASSERT(f);
  cli_bars b;
  cli_bars_begin(&b, 0, f, LABELS, 3);
  cli_bars_update(&b, 0, 1, 2, 1, "chunks", NULL, 1);
  cli_bars_draw(&b, 1, 2);
  ASSERT_EQ(strlen(slurp(f)), 0);
  cli_bars_begin(&b, 1, f, LABELS, 3);
  ASSERT_EQ(b.width, 80); /* a file is no terminal */
  cli_bars_update(&b, 2, 123456789, 987654321, 0, "chunks",
                  "a note far too long to fit on the line of an 80-column "
                  "terminal",
                  1);
  cli_bars_draw(&b, 1, 2);
  const char *out = slurp(f);
  for (const char *l = out; *l;) {
    const char *nl = strchr(l, '\n');
    ASSERT(nl);
    /* "\r" + the row + "\033[K" + "\n": the row itself under 80. */
    ASSERT_GE(79 + 1 + 3, nl - l);
    l = nl + 1;
  }
  fclose(f);
}

#define TESTS(X)                                                               \
  X(each_stage_reaches_the_summary_chunk_count_with_exact_totals)              \
  X(stages_advance_side_by_side_batch_after_batch)                             \
  X(a_beir_corpus_gets_estimated_totals_then_the_exact_count)                  \
  X(unchanged_documents_end_every_stage_at_an_exact_zero)                      \
  X(a_stopped_run_indexes_what_it_reports_and_never_completes_a_stage)         \
  X(a_stage_row_shows_its_count_rate_and_eta)                                  \
  X(estimated_and_unknown_totals_are_told_apart)                               \
  X(a_finished_stage_keeps_its_rate_while_the_others_run)                      \
  X(the_block_is_redrawn_in_place_and_left_behind_on_break)                    \
  X(a_message_takes_the_place_of_the_block_which_comes_back_below)             \
  X(rows_never_wrap_and_a_disabled_block_draws_nothing)
TEST_MAIN(TESTS)
