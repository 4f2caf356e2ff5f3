/* eval/eval_report.h -- The reports of `ragd compare`: the side-by-side
** table (text for a terminal, Markdown for report.md) and report.svg, a
** hand-written SVG chart (grouped bars of nDCG@10 and Recall@10 per row;
** latency p50 vs nDCG@10 scatter with labelled points).
** Ownership: nothing returned needs freeing.
** Errors:    the file writers return RAG_IO naming the path.
** Threads:   reentrant (each call writes its own stream). */
#ifndef EVAL_REPORT_H
#define EVAL_REPORT_H

#include "eval/eval_compare.h"

#include <stdio.h>

/* The table: one line per row (R@k..., MRR@10, nDCG@10, its difference
** from row 1 with the randomization and t-test p-values ("*" marks
** p < 0.05), index size, chunks/s, latency p50/p95, tokens, cost).
** markdown: a GitHub table; else aligned columns. Incomplete rows show
** "incomplete" and their reason below the table. */
void eval_report_table(FILE *f, const eval_cmp *c, int markdown);

/* report.md: title, dataset line, the table, method notes. */
rag_status eval_report_write_md(const eval_cmp *c, const char *path,
                                rag_err *err);
/* report.json: eval_cmp_json() pretty-printed. */
rag_status eval_report_write_json(const eval_cmp *c, const char *path,
                                  rag_err *err);
/* report.svg; *width and *height (may be NULL) get its size in px. */
rag_status eval_report_write_svg(const eval_cmp *c, const char *path,
                                 int *width, int *height, rag_err *err);

#endif
