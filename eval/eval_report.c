/* eval/eval_report.c -- Text / Markdown table and the SVG chart of
** `ragd compare`.
** Layout: cells of the table; the table; report.md and report.json; the
** SVG (escaping, axes, the two panels). */
#include "eval/eval_report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Cells --------------------------------------------------------------- */

#define MAX_COLS 32
#define CELL 440

typedef struct table {
  size_t ncols, nrows;
  char head[MAX_COLS][CELL];
  char (*cells)[MAX_COLS][CELL]; /* nrows */
} table;

static void fmt_p(double p, char *out, size_t n) {
  if (isnan(p))
    snprintf(out, n, "n/a");
  else if (p < 0.0001)
    snprintf(out, n, "<0.0001*");
  else
    snprintf(out, n, "%.4f%s", p, p < 0.05 ? "*" : "");
}

static void add_head(table *t, const char *h) {
  snprintf(t->head[t->ncols++], CELL, "%s", h);
}

static int build(const eval_cmp *c, table *t) {
  memset(t, 0, sizeof(*t));
  const eval_cutoffs *ks = eval_cmp_cutoffs(c);
  add_head(t, "#");
  add_head(t, "combination");
  for (size_t i = 0; i < ks->n && t->ncols < MAX_COLS - 14; i++) {
    char h[32];
    snprintf(h, sizeof(h), "R@%d", ks->k[i]);
    add_head(t, h);
  }
  size_t nk = t->ncols - 2;
  static const char *rest[] = {"MRR@10", "nDCG@10",  "dnDCG@10", "p(perm)",
                               "p(t)",   "index MB", "chunks/s", "p50 ms",
                               "p95 ms", "tokens",   "cost $"};
  for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
    add_head(t, rest[i]);
  t->nrows = eval_cmp_nrows(c);
  t->cells = calloc(t->nrows ? t->nrows : 1, sizeof(*t->cells));
  if (!t->cells)
    return -1;
  for (size_t r = 0; r < t->nrows; r++) {
    const eval_cmp_row *w = eval_cmp_row_at(c, r);
    char(*cell)[CELL] = t->cells[r];
    size_t j = 0;
    snprintf(cell[j++], CELL, "%zu", r + 1);
    snprintf(cell[j++], CELL, "%s%s", w->label,
             w->complete ? "" : " (incomplete)");
    for (size_t i = 0; i < nk; i++, j++)
      if (w->complete)
        snprintf(cell[j], CELL, "%.4f", w->sum.recall[i]);
      else
        snprintf(cell[j], CELL, "-");
    if (w->complete) {
      snprintf(cell[j++], CELL, "%.4f", w->sum.mrr10);
      snprintf(cell[j++], CELL, "%.4f", w->sum.ndcg10);
    } else {
      snprintf(cell[j++], CELL, "-");
      snprintf(cell[j++], CELL, "-");
    }
    if (r == 0) {
      snprintf(cell[j++], CELL, "base");
      snprintf(cell[j++], CELL, "-");
      snprintf(cell[j++], CELL, "-");
    } else if (w->sig_ndcg10.valid) {
      snprintf(cell[j++], CELL, "%+.4f", w->sig_ndcg10.diff);
      fmt_p(w->sig_ndcg10.p_perm, cell[j++], CELL);
      fmt_p(w->sig_ndcg10.p_t, cell[j++], CELL);
    } else {
      snprintf(cell[j++], CELL, "-");
      snprintf(cell[j++], CELL, "-");
      snprintf(cell[j++], CELL, "-");
    }
    snprintf(cell[j++], CELL, "%.2f", (double)w->index_bytes / (1 << 20));
    if (w->embed_seconds > 0)
      snprintf(cell[j++], CELL, "%.0f", w->embed_chunks / w->embed_seconds);
    else
      snprintf(cell[j++], CELL, "-");
    if (w->complete) {
      snprintf(cell[j++], CELL, "%.2f", 1000 * w->sum.latency_p50);
      snprintf(cell[j++], CELL, "%.2f", 1000 * w->sum.latency_p95);
    } else {
      snprintf(cell[j++], CELL, "-");
      snprintf(cell[j++], CELL, "-");
    }
    snprintf(cell[j++], CELL, "%lld", (long long)(w->tokens + w->query_tokens));
    if (w->priced)
      snprintf(cell[j++], CELL, "%.4f", w->cost_usd);
    else
      snprintf(cell[j++], CELL, "n/a");
  }
  return 0;
}

/* ---- The table ------------------------------------------------------------
 */

void eval_report_table(FILE *f, const eval_cmp *c, int markdown) {
  table t;
  if (build(c, &t)) {
    fprintf(f, "(out of memory)\n");
    return;
  }
  size_t w[MAX_COLS];
  for (size_t j = 0; j < t.ncols; j++) {
    w[j] = strlen(t.head[j]);
    for (size_t r = 0; r < t.nrows; r++)
      if (strlen(t.cells[r][j]) > w[j])
        w[j] = strlen(t.cells[r][j]);
  }
  if (markdown) {
    fputc('|', f);
    for (size_t j = 0; j < t.ncols; j++)
      fprintf(f, " %s |", t.head[j]);
    fputs("\n|", f);
    for (size_t j = 0; j < t.ncols; j++)
      fputs(j == 1 ? ":---|" : "---:|", f);
    fputc('\n', f);
    for (size_t r = 0; r < t.nrows; r++) {
      fputc('|', f);
      for (size_t j = 0; j < t.ncols; j++)
        fprintf(f, " %s |", t.cells[r][j]);
      fputc('\n', f);
    }
  } else {
    for (size_t j = 0; j < t.ncols; j++)
      fprintf(f, j == 1 ? "%-*s  " : "%*s  ", (int)w[j], t.head[j]);
    fputc('\n', f);
    for (size_t r = 0; r < t.nrows; r++) {
      for (size_t j = 0; j < t.ncols; j++)
        fprintf(f, j == 1 ? "%-*s  " : "%*s  ", (int)w[j], t.cells[r][j]);
      fputc('\n', f);
    }
  }
  for (size_t r = 0; r < eval_cmp_nrows(c); r++) {
    const eval_cmp_row *row = eval_cmp_row_at(c, r);
    if (!row->complete)
      fprintf(f, "%s%s\n", markdown ? "\n- " : "", row->error);
  }
  free(t.cells);
}

/* ---- report.md and report.json ----------------------------------------------
 */

rag_status eval_report_write_md(const eval_cmp *c, const char *path,
                                rag_err *err) {
  FILE *f = fopen(path, "w");
  if (!f)
    return rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  fprintf(f, "# ragd compare\n\n");
  fprintf(f, "Dataset `%s`: %zu evaluated queries. Baseline: row 1.\n\n",
          eval_cmp_dataset(c), eval_cmp_nqueries(c));
  eval_report_table(f, c, 1);
  fprintf(f, "\n![nDCG@10, Recall@10 and latency](report.svg)\n\n");
  fprintf(f,
          "## Method\n\n"
          "- Metrics as trec_eval computes them (eval/eval_metrics.h): "
          "Recall@k, MRR@10, nDCG@10 with linear gain; a document's rank is "
          "that of its best chunk. Means over the queries with at least one "
          "relevant judgement.\n"
          "- dnDCG@10: the row's mean nDCG@10 minus row 1's. p(perm): paired "
          "randomization test over queries (%lu random sign flips of the "
          "per-query differences, seed 0x%llx, two-sided, p = (hits+1)/(N+1); "
          "exact enumeration for 16 queries or fewer). p(t): paired Student "
          "t-test, two-sided. `*` marks p < 0.05. report.json has the same "
          "tests on Recall@10.\n"
          "- index MB: the KB folder on disk (SQLite with FTS5 tables, FAISS "
          "index, statistics). chunks/s: chunks embedded per second of "
          "embedding calls, over every session that built the KB.\n"
          "- p50/p95 ms: wall latency per query (embedding, both searches, "
          "fusion, reranking).\n"
          "- tokens: estimated tokens embedded (documents, all sessions, plus "
          "the row's queries; the estimate errs high). cost: tokens x the "
          "config's model price (USD per 1M input tokens); local embedders "
          "cost 0, n/a when the model has no price.\n"
          "- A row reads (incomplete) when it stopped (budget, provider "
          "error); re-running the same command resumes it, and finished rows "
          "are loaded, not recomputed.\n",
          eval_cmp_iterations(c), (unsigned long long)eval_cmp_seed(c));
  if (fclose(f) != 0)
    return rag_fail(err, RAG_IO, "cannot write %s", path);
  return RAG_OK;
}

rag_status eval_report_write_json(const eval_cmp *c, const char *path,
                                  rag_err *err) {
  cJSON *o = eval_cmp_json(c);
  char *text = o ? cJSON_Print(o) : NULL;
  cJSON_Delete(o);
  if (!text)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  FILE *f = fopen(path, "w");
  if (!f) {
    free(text);
    return rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  }
  int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
  bad |= fclose(f) != 0;
  free(text);
  return bad ? rag_fail(err, RAG_IO, "cannot write %s", path) : RAG_OK;
}

/* ---- SVG
 * ---------------------------------------------------------------------- */

/* Text for XML character data and attribute values. */
static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '&')
      fputs("&amp;", f);
    else if (ch == '<')
      fputs("&lt;", f);
    else if (ch == '>')
      fputs("&gt;", f);
    else if (ch == '"')
      fputs("&quot;", f);
    else if (ch < 0x20)
      fputc(' ', f); /* control characters are not allowed in XML 1.0 */
    else
      fputc(*s, f);
  }
}

/* A "nice" axis top: 1, 2, 2.5 or 5 x 10^k at or above v. */
static double nice_top(double v) {
  if (v <= 0)
    return 1;
  double e = pow(10, floor(log10(v)));
  static const double steps[] = {1, 2, 2.5, 5, 10};
  for (size_t i = 0; i < 5; i++)
    if (steps[i] * e >= v)
      return steps[i] * e;
  return 10 * e;
}

#define FONT "font-family=\"sans-serif\""

rag_status eval_report_write_svg(const eval_cmp *c, const char *path,
                                 int *width, int *height, rag_err *err) {
  size_t n = eval_cmp_nrows(c);
  const int left = 70, group = 64;
  int pw = (int)n * group + 20; /* bar plot width */
  if (pw < 560)
    pw = 560;
  int W = left + pw + 220, H = 840; /* right: room for labels */
  FILE *f = fopen(path, "w");
  if (!f)
    return rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          W, H, W, H);
  fprintf(f, "<title>ragd compare: ");
  xml_text(f, eval_cmp_dataset(c));
  fprintf(f, "</title>\n");

  /* Panel 1: grouped bars, y 0..1. */
  const int top = 50, ph = 240, base = top + ph;
  fprintf(f,
          "<text x=\"%d\" y=\"28\" " FONT " font-size=\"16\" "
          "font-weight=\"bold\">nDCG@10 and Recall@10 per combination</text>\n",
          left);
  for (int g = 0; g <= 5; g++) {
    double v = g / 5.0;
    int y = base - (int)lround(v * ph);
    fprintf(f,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n"
            "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"11\" "
            "text-anchor=\"end\">%.1f</text>\n",
            left, y, left + pw, y, left - 6, y + 4, v);
  }
  static const char *color[2] = {"#4e79a7", "#f28e2b"};
  static const char *cls[2] = {"ndcg", "recall"};
  static const char *mname[2] = {"nDCG@10", "Recall@10"};
  int k10 = -1;
  const eval_cutoffs *ks = eval_cmp_cutoffs(c);
  for (size_t i = 0; i < ks->n; i++)
    if (ks->k[i] == 10)
      k10 = (int)i;
  for (size_t r = 0; r < n; r++) {
    const eval_cmp_row *w = eval_cmp_row_at(c, r);
    int gx = left + 10 + (int)r * group;
    for (int m = 0; m < 2; m++) {
      double v = !w->complete ? 0
                 : m == 0     ? w->sum.ndcg10
                              : (k10 >= 0 ? w->sum.recall[k10] : 0);
      int h = (int)lround(v * ph);
      fprintf(f,
              "<rect class=\"bar %s%s\" x=\"%d\" y=\"%d\" width=\"22\" "
              "height=\"%d\" fill=\"%s\"><title>",
              cls[m], w->complete ? "" : " incomplete", gx + 8 + m * 24,
              base - h, h, color[m]);
      xml_text(f, w->label);
      fprintf(f, ": %s %.4f%s</title></rect>\n", mname[m], v,
              w->complete ? "" : " (incomplete)");
      if (w->complete)
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"8\" "
                "text-anchor=\"middle\">%.2f</text>\n",
                gx + 19 + m * 24, base - h - 3, v);
    }
    /* Rotated down-right from the group: long labels run into the empty
    ** band below the axis, never off the left edge. */
    int lx = gx + 10, ly = base + 14;
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"10\" "
            "text-anchor=\"start\" transform=\"rotate(30 %d %d)\">%zu ",
            lx, ly, lx, ly, r + 1);
    xml_text(f, w->label);
    fprintf(f, "%s</text>\n", w->complete ? "" : " (incomplete)");
  }
  fprintf(f,
          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
          left, base, left + pw, base);
  for (int m = 0; m < 2; m++)
    fprintf(f,
            "<rect x=\"%d\" y=\"36\" width=\"12\" height=\"12\" "
            "fill=\"%s\"/><text x=\"%d\" y=\"46\" " FONT
            " font-size=\"12\">%s</text>\n",
            left + pw - 190 + m * 100, color[m], left + pw - 174 + m * 100,
            mname[m]);

  /* Panel 2: latency p50 (x) vs nDCG@10 (y). */
  const int t2 = 500, ph2 = 260, b2 = t2 + ph2;
  double xmax = 0, ymin = 1, ymax = 0;
  for (size_t r = 0; r < n; r++) {
    const eval_cmp_row *w = eval_cmp_row_at(c, r);
    if (!w->complete)
      continue;
    double x = 1000 * w->sum.latency_p50;
    if (x > xmax)
      xmax = x;
    if (w->sum.ndcg10 < ymin)
      ymin = w->sum.ndcg10;
    if (w->sum.ndcg10 > ymax)
      ymax = w->sum.ndcg10;
  }
  xmax = nice_top(xmax * 1.1);
  double lo = floor((ymin - 0.05) * 10) / 10,
         hi = ceil((ymax + 0.05) * 10) / 10;
  if (lo < 0 || ymin > ymax)
    lo = 0;
  if (hi > 1 || ymin > ymax)
    hi = 1;
  if (hi - lo < 0.1)
    hi = lo + 0.1;
  fprintf(f,
          "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"16\" "
          "font-weight=\"bold\">Quality vs latency (p50)</text>\n",
          left, t2 - 22);
  for (int g = 0; g <= 5; g++) {
    double yv = lo + (hi - lo) * g / 5.0, xv = xmax * g / 5.0;
    int y = b2 - (int)lround((double)ph2 * g / 5.0);
    int x = left + (int)lround((double)pw * g / 5.0);
    fprintf(f,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n"
            "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"11\" "
            "text-anchor=\"end\">%.2f</text>\n"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>\n"
            "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"11\" "
            "text-anchor=\"middle\">%.3g</text>\n",
            left, y, left + pw, y, left - 6, y + 4, yv, x, t2, x, b2, x,
            b2 + 16, xv);
  }
  fprintf(f,
          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n"
          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n"
          "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"12\" "
          "text-anchor=\"middle\">query latency p50 (ms)</text>\n"
          "<text x=\"20\" y=\"%d\" " FONT " font-size=\"12\" "
          "text-anchor=\"middle\" transform=\"rotate(-90 20 %d)\">"
          "nDCG@10</text>\n",
          left, b2, left + pw, b2, left, t2, left, b2, left + pw / 2, b2 + 36,
          t2 + ph2 / 2, t2 + ph2 / 2);
  for (size_t r = 0; r < n; r++) {
    const eval_cmp_row *w = eval_cmp_row_at(c, r);
    if (!w->complete)
      continue;
    double xv = 1000 * w->sum.latency_p50;
    int x = left + (int)lround(xv / xmax * pw);
    int y = b2 - (int)lround((w->sum.ndcg10 - lo) / (hi - lo) * ph2);
    fprintf(f,
            "<circle class=\"point\" cx=\"%d\" cy=\"%d\" r=\"5\" "
            "fill=\"%s\"><title>",
            x, y, color[0]);
    xml_text(f, w->label);
    fprintf(f, ": p50 %.2f ms, nDCG@10 %.4f</title></circle>\n", xv,
            w->sum.ndcg10);
    fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"10\">%zu ", x + 7,
            y - 6 + (int)(r % 3) * 9, r + 1);
    xml_text(f, w->label);
    fputs("</text>\n", f);
  }
  fputs("</svg>\n", f);
  if (fclose(f) != 0)
    return rag_fail(err, RAG_IO, "cannot write %s", path);
  if (width)
    *width = W;
  if (height)
    *height = H;
  return RAG_OK;
}
