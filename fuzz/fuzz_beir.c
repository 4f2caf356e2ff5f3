/* fuzz/fuzz_beir.c -- The BEIR loaders: eval/eval_beir (queries.jsonl and
** qrels/test.tsv) and ingest's corpus.jsonl streamer (ing_load_beir). The
** loaders read files, so each input is written into a private temporary
** directory (made once per process). The first byte picks which file gets
** the fuzzer's bytes: 0 queries.jsonl, 1 qrels, 2 corpus.jsonl, 3 both
** queries and qrels (split at the first form feed); the other files hold
** a small valid set. Invariants: a dataset that opens answers its
** accessors consistently; every corpus doc is valid UTF-8. */
#include "core/rag_utf8.h"
#include "eval/eval_beir.h"
#include "fuzz/fuzz.h"
#include "ingest/ing_load.h"

#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char qpath[128], rpath[128], cpath[128];

static const char kQueries[] = "{\"_id\":\"q1\",\"text\":\"what is bm25\"}\n"
                               "{\"_id\":2,\"text\":\"vector search\"}\n";
static const char kQrels[] =
    "query-id\tcorpus-id\tscore\nq1\td1\t1\n2\td2\t2\n";
static const char kCorpus[] =
    "{\"_id\":\"d1\",\"title\":\"BM25\",\"text\":\"ranking function\"}\n";

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static void rm_dir(void) {
  nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  FUZZ_CHECK(f != NULL);
  FUZZ_CHECK(fwrite(p, 1, n, f) == n || n == 0);
  FUZZ_CHECK(fclose(f) == 0);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/ragd-fuzz-beir-XXXXXX");
  FUZZ_CHECK(mkdtemp(dir) != NULL);
  char q[128];
  snprintf(q, sizeof q, "%s/qrels", dir);
  FUZZ_CHECK(mkdir(q, 0700) == 0);
  snprintf(qpath, sizeof qpath, "%s/queries.jsonl", dir);
  snprintf(rpath, sizeof rpath, "%s/qrels/test.tsv", dir);
  snprintf(cpath, sizeof cpath, "%s/corpus.jsonl", dir);
  atexit(rm_dir);
}

static rag_status on_doc(void *ctx, const ing_doc *d, rag_err *err) {
  (void)err;
  FUZZ_CHECK(d->text && d->text[d->len] == '\0');
  FUZZ_CHECK(rag_utf8_valid(d->text, d->len));
  FUZZ_CHECK(d->source && strncmp(d->source, "beir:", 5) == 0);
  ++*(size_t *)ctx;
  return RAG_OK;
}

static void on_bad(void *ctx, size_t lineno, const char *why) {
  (void)ctx, (void)lineno;
  FUZZ_CHECK(why != NULL);
}

static void check_dataset(eval_dataset *ds) {
  size_t nq = eval_dataset_nqueries(ds);
  for (size_t i = 0; i < nq; i++) {
    const char *id = eval_dataset_query_id(ds, i);
    FUZZ_CHECK(id && eval_dataset_query_text(ds, i));
    long f = eval_dataset_find_query(ds, id);
    FUZZ_CHECK(f >= 0 && (size_t)f < nq);
    size_t nj = 0;
    const eval_judgement *j = eval_dataset_judged(ds, i, &nj);
    FUZZ_CHECK(eval_dataset_nrelevant(ds, i) <= nj);
    (void)j;
  }
  size_t ne = eval_dataset_nevaluated(ds);
  FUZZ_CHECK(ne <= nq);
  for (size_t j = 0; j < ne; j++) {
    size_t qi = eval_dataset_evaluated(ds, j);
    FUZZ_CHECK(qi < nq && eval_dataset_nrelevant(ds, qi) > 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0])
    setup();
  fuzz_in in = {data, size};
  unsigned mode = fuzz_byte(&in) % 4;
  const uint8_t *p = in.p;
  size_t n = in.n;
  put(qpath, kQueries, sizeof kQueries - 1);
  put(rpath, kQrels, sizeof kQrels - 1);
  put(cpath, kCorpus, sizeof kCorpus - 1);
  if (mode == 0) {
    put(qpath, p, n);
  } else if (mode == 1) {
    put(rpath, p, n);
  } else if (mode == 2) {
    put(cpath, p, n);
  } else {
    const uint8_t *ff = memchr(p, '\f', n);
    size_t k = ff ? (size_t)(ff - p) : n;
    put(qpath, p, k);
    put(rpath, ff ? ff + 1 : p + n, ff ? n - k - 1 : 0);
  }

  eval_dataset *ds = NULL;
  rag_err err = {0};
  if (eval_dataset_open(dir, &ds, &err) == RAG_OK) {
    check_dataset(ds);
    eval_dataset_close(ds);
  } else {
    FUZZ_CHECK(ds == NULL && err.msg[0]);
  }

  ing_load_opts o = ing_load_opts_default();
  o.max_bytes = 4096; /* small, so the long-line path runs too */
  size_t ndocs = 0;
  ing_beir_stats st;
  rag_err lerr = {0};
  if (ing_load_beir(cpath, &o, on_doc, on_bad, &ndocs, &st, &lerr) == RAG_OK)
    FUZZ_CHECK(st.ndocs == ndocs);
  return 0;
}
