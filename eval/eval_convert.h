/* eval/eval_convert.h -- Converting classic IR test collections into the
** BEIR layout that eval_beir.h reads, and checking a BEIR folder.
**
** SMART collection files (Cranfield cran.all.1400 / cran.qry, MED, CISI,
** CACM): records start with a line ".I <n>"; a line that is exactly a
** field tag (".T", ".A", ".B", ".W", ".X", ".K", ".N", ".C", optionally
** followed by text on the same line) starts that field; every other line
** belongs to the current field. Kept: .T (title) and .W (text); .A, .B,
** .X (CISI/CACM cross references), .K, .N, .C and any other one-letter tag
** are read and dropped. Whitespace (CR included) collapses to one space.
** When .W begins with a verbatim copy of .T (Cranfield), the copy is cut so
** that title + " " + text holds it once. Records with no text are kept
** (empty documents exist in Cranfield) and counted.
**
** Ids: an all-digit id loses its leading zeros ("001" -> "1") in documents,
** queries and qrels alike, so zero-padded query files join unpadded qrels.
** Query ids are the .I numbers, or with EVAL_QID_ORDINAL the 1-based order
** of appearance (Cranfield: cran.qry numbers 001, 002, 004, 008, ... and
** cranqrel numbers the same queries 1..225).
**
** Qrels formats (whitespace-separated, '#' comment and blank lines skip):
**   TREC   "qid iter docid rel"   (iter is ignored; "0" or "Q0")
**   3COL   "qid docid rel"        (Cranfield's cranqrel)
**   PAIRS  "qid docid [x [y]]"    (CISI.REL, CACM qrels.text: every listed
**                                  pair is relevant, gain 1)
**   AUTO   3 columns -> 3COL; 4 columns with every 2nd column "0"/"Q0" ->
**          TREC; 4 columns with every 3rd column a zero -> PAIRS; else an
**          error asking for an explicit format.
** Grades: EVAL_GRADES_ASIS keeps the integer score; EVAL_GRADES_CRANFIELD
** maps Cleverdon's codes (1 complete answer .. 4 minimum interest, 5 no
** interest) to gain 5 - code (4..0) and drops code -1 (the query's source
** document, which Cranfield II did not assess). A repeated (query, doc)
** pair keeps its last score, as BEIR's loader does, and is counted.
**
** Output DIR: corpus.jsonl ({"_id","title","text"}), queries.jsonl
** ({"_id","text"}), qrels/test.tsv (header "query-id\tcorpus-id\tscore").
** Existing files are replaced only with opts.overwrite.
**
** Limits: each input file at most EVAL_CONVERT_MAX_FILE bytes (RAG_TOOBIG).
** Ownership: parse results are freed by their *_free function; reports are
**            caller-owned values.
** Errors:    rag_status + rag_err; malformed input is RAG_CORRUPT naming
**            "file:line"; missing files RAG_IO; RAG_NOMEM.
** Threads:   no shared state; every call may run on any thread. */
#ifndef EVAL_CONVERT_H
#define EVAL_CONVERT_H

#include "core/rag.h"

/* 1 GiB: the largest SMART/TREC collection file of interest (TREC qrels of
** big tracks) is a few hundred MB. */
#define EVAL_CONVERT_MAX_FILE ((size_t)1 << 30)

/* One SMART record: .I id and the kept fields (whitespace collapsed). */
typedef struct eval_smart_rec {
  char *id;    /* normalized .I id (see above) */
  char *title; /* .T, "" when absent */
  char *text;  /* .W minus a leading copy of .T, "" when absent */
  long line;   /* line of the .I, for messages */
} eval_smart_rec;

typedef struct eval_smart {
  eval_smart_rec *rec;
  size_t n;
} eval_smart;

/* Parses SMART text buf[len] (need not be NUL-terminated); name is used in
** messages ("cran.qry:12: ..."). Errors (RAG_CORRUPT): text before the
** first .I, ".I" without a number, a repeated id. */
rag_status eval_smart_parse(const char *buf, size_t len, const char *name,
                            eval_smart *out, rag_err *err);
void eval_smart_free(eval_smart *s); /* NULL or zeroed: no-op */

typedef enum {
  EVAL_QRELS_AUTO,
  EVAL_QRELS_TREC,
  EVAL_QRELS_3COL,
  EVAL_QRELS_PAIRS
} eval_qrels_format;

typedef enum { EVAL_GRADES_ASIS, EVAL_GRADES_CRANFIELD } eval_grades;

typedef struct eval_qrel {
  char *qid;
  char *docid;
  int score;
} eval_qrel;

typedef struct eval_qrels {
  eval_qrel *row; /* file order, repeats merged into the first place */
  size_t n;
  eval_qrels_format format; /* the format used (resolved from AUTO) */
  size_t dropped;           /* rows dropped by the grade map (code -1) */
  size_t repeated;          /* repeated pairs merged */
} eval_qrels;

/* Parses qrels text buf[len]. Errors (RAG_CORRUPT, "name:line: ..."): a
** wrong column count, a non-integer score, a Cranfield code outside
** -1..5, an AUTO format that cannot be told. */
rag_status eval_qrels_parse(const char *buf, size_t len, const char *name,
                            eval_qrels_format fmt, eval_grades grades,
                            eval_qrels *out, rag_err *err);
void eval_qrels_free(eval_qrels *q); /* NULL or zeroed: no-op */
/* "auto", "trec", "3col", "pairs" -> format; -1 when unknown. */
int eval_qrels_format_parse(const char *s);
const char *eval_qrels_format_name(eval_qrels_format f);

typedef enum { EVAL_QID_NUMBER, EVAL_QID_ORDINAL } eval_qid_mode;

typedef struct eval_convert_opts {
  const char *smart_docs;    /* required */
  const char *smart_queries; /* required */
  const char *qrels;         /* required */
  eval_qrels_format qrels_format;
  eval_grades grades;
  eval_qid_mode qids;
  int overwrite; /* replace existing output files */
} eval_convert_opts;

/* Defaults: AUTO format, grades as is, query ids = .I numbers. */
eval_convert_opts eval_convert_opts_default(void);

typedef struct eval_convert_report {
  size_t docs, empty_docs, queries, qrels;
  size_t relevant;      /* qrels rows with score > 0 */
  size_t dropped;       /* rows dropped by the grade map */
  size_t repeated;      /* repeated qrel pairs merged */
  size_t unknown_query; /* qrels rows naming no query (still written) */
  size_t unknown_doc;   /* qrels rows naming no document (still written) */
  eval_qrels_format format;
} eval_convert_report;

/* Reads the three inputs and writes the BEIR folder outdir (created, with
** qrels/, when missing). RAG_IO when an output exists and !overwrite. */
rag_status eval_convert_smart(const eval_convert_opts *opts, const char *outdir,
                              eval_convert_report *rep, rag_err *err);

typedef struct eval_check_report {
  size_t docs, empty_docs, dup_docs;
  size_t queries, dup_queries;
  size_t qrels, relevant;
  size_t unknown_query;    /* qrels rows whose query is not in queries.jsonl */
  size_t unknown_doc;      /* qrels rows whose doc is not in corpus.jsonl */
  size_t judged_queries;   /* queries with at least one relevant row */
  size_t unjudged_queries; /* queries with none (not evaluated) */
  size_t grades[6];        /* rows by score: <=0, 1, 2, 3, 4, >=5 */
} eval_check_report;

/* Reads dir/corpus.jsonl, dir/queries.jsonl and dir/qrels/<split>.tsv
** (split NULL: "test") and counts. Malformed lines (bad JSON, no "_id",
** a non-string text, a bad qrels row) are RAG_CORRUPT naming file:line;
** duplicates and dangling rows are counted, not errors. */
rag_status eval_check_beir(const char *dir, const char *split,
                           eval_check_report *rep, rag_err *err);

#endif
