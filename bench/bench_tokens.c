/* bench/bench_tokens.c -- Token counting throughput: rag_bpe against
** js-tiktoken on the same file, in the same run.
**
** Builds a deterministic ~2 MB UTF-8 corpus: the texts of the Cranfield
** collection (../shared/datasets/cranfield/corpus.jsonl next to the repo,
** when present; else seeded English-like prose), then generated code lines
** and Chinese lines. Writes it to a temp file, and for cl100k_base and
** o200k_base:
**   ragd  rag_bpe_count over the file's bytes: one warm-up, then the
**         median of --runs timed runs (default 3)
**   node  node bench/bench_tokens_node.mjs FILE ENC RUNS: js-tiktoken's
**         encode(text, [], []) the same way (warm-up, median)
** Prints MB/s and tokens/s of both, the ratio node_seconds / ragd_seconds,
** and checks the two token counts are equal (MISMATCH when not).
**
** Usage: bench_tokens [--mb N] [--runs N] [--keep]
** Needs data/tiktoken and third_party/node_modules/js-tiktoken
** (scripts/fetch-tiktoken.sh). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rag.h"
#include "core/rag_bpe.h"

typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (b->n + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

static int buf_str(buf *b, const char *s) {
  return buf_add(b, s, strlen(s));
}

static uint32_t g_seed = 0x5eed1234u;
static uint32_t rnd(void) { /* xorshift32: the corpus never changes */
  uint32_t x = g_seed;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  g_seed = x;
  return x;
}

/* Cranfield texts, one paragraph each, up to limit bytes. 0 when the file
** is missing (the caller generates prose instead). */
static size_t add_cranfield(buf *b, size_t limit) {
  FILE *f =
      fopen(RAG_SOURCE_DIR "/../shared/datasets/cranfield/corpus.jsonl", "rb");
  if (!f)
    return 0;
  size_t start = b->n;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while (b->n - start < limit && (len = getline(&line, &cap, f)) > 0) {
    cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, "title");
    if (cJSON_IsString(ti) && ti->valuestring[0]) {
      buf_str(b, ti->valuestring);
      buf_str(b, "\n");
    }
    if (cJSON_IsString(t)) {
      buf_str(b, t->valuestring);
      buf_str(b, "\n\n");
    }
    cJSON_Delete(o);
  }
  free(line);
  fclose(f);
  return b->n - start;
}

static const char *const k_words[] = {
    "the",      "of",         "and",      "to",        "in",
    "is",       "that",       "boundary", "layer",     "flow",
    "pressure", "wing",       "Mach",     "number",    "heat",
    "transfer", "retrieval",  "token",    "embedding", "don't",
    "it's",     "results",    "were",     "obtained",  "for",
    "a",        "supersonic", "shock",    "wave",      "theory",
    "naïve",    "café",       "1024",     "3.14159",   "internationalization"};

static void add_prose(buf *b, size_t limit) {
  size_t start = b->n, nw = sizeof(k_words) / sizeof(*k_words);
  while (b->n - start < limit) {
    int len = 8 + (int)(rnd() % 24);
    for (int i = 0; i < len; i++) {
      const char *w = k_words[rnd() % nw];
      if (i == 0) {
        char c[2] = {(char)(w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0]), 0};
        buf_str(b, c);
        buf_str(b, w + 1);
      } else {
        buf_str(b, " ");
        buf_str(b, w);
      }
    }
    buf_str(b, rnd() % 5 ? ". " : ".\n\n");
  }
}

static const char *const k_code[] = {
    "static int %s_%u(const char *s, size_t n) {\n"
    "  for (size_t i = 0; i < n; i++)\n"
    "    if (s[i] == '\\n') return (int)i;\n  return -1;\n}\n",
    "def %s_%u(items, key=None):\n"
    "    \"\"\"Return the sorted unique items.\"\"\"\n"
    "    return sorted(set(items), key=key)  # O(n log n)\n\n",
    "export async function %s_%u(url) {\n"
    "  const res = await fetch(url, { headers: { Accept: \"json\" } });\n"
    "  if (!res.ok) throw new Error(`HTTP ${res.status}`);\n"
    "  return res.json();\n}\n",
    "SELECT id, title FROM %s_%u WHERE score >= 0.75 ORDER BY score DESC "
    "LIMIT 10;\n",
    "fn %s_%u(v: &[f32]) -> f32 {\n"
    "    v.iter().map(|x| x * x).sum::<f32>().sqrt()\n}\n"};
static const char *const k_ident[] = {"parse", "load_index", "chunkText",
                                      "embed", "rerank",     "count_tokens"};

static void add_code(buf *b, size_t limit) {
  size_t start = b->n;
  char tmp[1024];
  while (b->n - start < limit) {
    const char *fmt = k_code[rnd() % (sizeof(k_code) / sizeof(*k_code))];
    const char *id = k_ident[rnd() % (sizeof(k_ident) / sizeof(*k_ident))];
    /* The formats are the fixed table above: %s then %u. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
    int n = snprintf(tmp, sizeof(tmp), fmt, id, (unsigned)(rnd() % 1000));
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (n > 0 && (size_t)n < sizeof(tmp))
      buf_add(b, tmp, (size_t)n);
  }
}

static const char *const k_zh[] = {
    "检索增强生成把外部知识库中的相关段落提供给语言模型。",
    "边界层在超音速流动中的分离会显著改变机翼表面的压力分布。",
    "我们在两个数据集上比较了全文检索和向量检索的召回率。",
    "分词器的结果必须与参考实现完全一致，否则计费会出现偏差。",
    "实验结果表明，激波与边界层的相互作用导致传热系数增加。",
    "请用中文回答：什么是余弦相似度？"};

static void add_chinese(buf *b, size_t limit) {
  size_t start = b->n, nz = sizeof(k_zh) / sizeof(*k_zh);
  while (b->n - start < limit) {
    int k = 1 + (int)(rnd() % 4);
    for (int i = 0; i < k; i++)
      buf_str(b, k_zh[rnd() % nz]);
    buf_str(b, "\n");
  }
}

static int read_file(const char *path, buf *b) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  char tmp[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    if (buf_add(b, tmp, n)) {
      rc = -1;
      break;
    }
  if (ferror(f))
    rc = -1;
  fclose(f);
  return rc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs the node side; 0 with *count and *secs on success. */
static int run_node(const char *file, const char *enc, int runs, size_t *count,
                    double *secs) {
  char cmd[2048];
  int n = snprintf(cmd, sizeof(cmd),
                   "node '" RAG_SOURCE_DIR
                   "/bench/bench_tokens_node.mjs' '%s' %s %d",
                   file, enc, runs);
  if (n < 0 || (size_t)n >= sizeof(cmd))
    return -1;
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  char line[256] = {0};
  int ok = fgets(line, sizeof(line), p) != NULL;
  int st = pclose(p);
  if (!ok || st != 0)
    return -1;
  char *end = NULL;
  unsigned long long c = strtoull(line, &end, 10);
  if (end == line || *end != ' ')
    return -1;
  char *end2 = NULL;
  double s = strtod(end + 1, &end2);
  if (end2 == end + 1)
    return -1;
  *count = (size_t)c;
  *secs = s;
  return 0;
}

static long parse_pos(const char *s) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  return (end && !*end && v > 0) ? v : -1;
}

int main(int argc, char **argv) {
  long mb = 2, runs = 3;
  int keep = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mb") && i + 1 < argc)
      mb = parse_pos(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = parse_pos(argv[++i]);
    else if (!strcmp(argv[i], "--keep"))
      keep = 1;
    else
      mb = -1;
    if (mb <= 0 || runs <= 0 || runs > 99) {
      fprintf(stderr, "usage: bench_tokens [--mb N] [--runs N] [--keep]\n");
      return 2;
    }
  }

  /* ---- corpus: ~70% prose, ~18% code, ~12% Chinese ---- */
  size_t total = (size_t)mb << 20;
  buf corpus = {0};
  size_t prose_want = total * 70 / 100;
  size_t got = add_cranfield(&corpus, prose_want);
  const char *prose_src = got ? "Cranfield texts" : "generated prose";
  if (got < prose_want)
    add_prose(&corpus, prose_want - got);
  add_code(&corpus, total * 18 / 100);
  if (corpus.n < total)
    add_chinese(&corpus, total - corpus.n);
  if (!corpus.p) {
    fprintf(stderr, "bench_tokens: out of memory\n");
    return 1;
  }

  const char *tdir = getenv("TMPDIR");
  char path[1024];
  int pn = snprintf(path, sizeof(path), "%s/bench_tokens_XXXXXX",
                    tdir && tdir[0] ? tdir : "/tmp");
  if (pn < 0 || (size_t)pn >= sizeof(path))
    return 1;
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("bench_tokens: mkstemp");
    return 1;
  }
  FILE *f = fdopen(fd, "wb");
  if (!f || fwrite(corpus.p, 1, corpus.n, f) != corpus.n || fclose(f)) {
    fprintf(stderr, "bench_tokens: cannot write %s\n", path);
    return 1;
  }
  free(corpus.p);
  /* Both sides read the same bytes from the same file. */
  buf text = {0};
  if (read_file(path, &text)) {
    fprintf(stderr, "bench_tokens: cannot read %s\n", path);
    return 1;
  }
  double mbytes = (double)text.n / (1024.0 * 1024.0);
  printf("bench_tokens: %zu bytes (%.2f MiB; %s + code + Chinese) in %s\n",
         text.n, mbytes, prose_src, path);
  printf("  timed: median of %ld runs after one warm-up, each side\n", runs);

  static const char *const encs[] = {"cl100k_base", "o200k_base"};
  int rc = 0;
  for (int e = 0; e < 2; e++) {
    rag_err err;
    rag_err_clear(&err);
    rag_bpe *b = NULL;
    double t0 = rag_now();
    if (rag_bpe_load(NULL, encs[e], &b, &err) != RAG_OK) {
      fprintf(stderr, "bench_tokens: %s\n", err.msg);
      rc = 1;
      break;
    }
    double load = rag_now() - t0;
    size_t count = 0;
    if (rag_bpe_count(b, text.p, text.n, &count, &err) != RAG_OK) {
      fprintf(stderr, "bench_tokens: %s\n", err.msg);
      rag_bpe_free(b);
      rc = 1;
      break;
    }
    double secs[99];
    for (long r = 0; r < runs; r++) {
      size_t c2 = 0;
      t0 = rag_now();
      rag_bpe_count(b, text.p, text.n, &c2, &err);
      secs[r] = rag_now() - t0;
      if (c2 != count)
        printf("  MISMATCH: ragd run %ld counted %zu, warm-up %zu\n", r, c2,
               count);
    }
    qsort(secs, (size_t)runs, sizeof(*secs), cmp_double);
    double rs = secs[runs / 2];
    rag_bpe_free(b);

    size_t ncount = 0;
    double ns = 0;
    int node_ok = run_node(path, encs[e], (int)runs, &ncount, &ns) == 0;
    printf("%s (ragd load %.0f ms):\n", encs[e], load * 1e3);
    printf("  ragd rag_bpe_count  %9zu tokens  %8.3f s  %7.2f MB/s  %10.0f "
           "tok/s\n",
           count, rs, mbytes / rs, (double)count / rs);
    if (!node_ok) {
      printf("  node js-tiktoken    FAILED (is node installed and "
             "scripts/fetch-tiktoken.sh run?)\n");
      rc = 1;
      continue;
    }
    printf("  node js-tiktoken    %9zu tokens  %8.3f s  %7.2f MB/s  %10.0f "
           "tok/s\n",
           ncount, ns, mbytes / ns, (double)ncount / ns);
    printf("  ratio node_seconds / ragd_seconds = %.2fx%s\n", ns / rs,
           ns / rs >= 3 ? "" : "  (below the 3x aim)");
    if (ncount == count) {
      printf("  token counts equal: %zu\n", count);
    } else {
      printf("  *** MISMATCH *** ragd %zu != js-tiktoken %zu tokens "
             "(diff %lld)\n",
             count, ncount, (long long)count - (long long)ncount);
      rc = 1;
    }
  }
  free(text.p);
  if (!keep)
    unlink(path);
  return rc;
}
