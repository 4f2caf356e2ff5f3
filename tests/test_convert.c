/* tests/test_convert.c -- eval/eval_convert: SMART records, qrels formats
** and grade maps, writing a BEIR folder that eval_beir loads, and
** `dataset check` counts. Inputs are small inline samples in the shapes of
** the real files (cran.all.1400, cran.qry, cranqrel, CISI.REL, MED.REL). */
#include "test.h"

#include "eval/eval_beir.h"
#include "eval/eval_convert.h"

#include <sys/stat.h>

static const char CRAN_DOCS[] =
    ".I 1\n"
    ".T\n"
    "experimental investigation of the aerodynamics of a\n"
    "wing in a slipstream .\n"
    ".A\n"
    "brenckman,m.\n"
    ".B\n"
    "j. ae. scs. 25, 1958, 324.\n"
    ".W\n"
    "experimental investigation of the aerodynamics of a\n"
    "wing in a slipstream .\n"
    "  an experimental study of a wing in a propeller slipstream was\n"
    "made in order to determine the spanwise distribution of the lift .\n"
    ".I 2\n"
    ".T\n"
    "simple shear flow past a flat plate .\n"
    ".A\n"
    "ting-yili\n"
    ".B\n"
    "department of aeronautical engineering.\n"
    ".W\n"
    "simple shear flow past a flat plate .\n"
    "the boundary layer in simple shear flow past a flat plate .\n"
    ".I 3\n"
    ".T\n"
    ".A\n"
    ".B\n"
    ".W\n";

static const char CRAN_QRY[] = ".I 001\n"
                               ".W\n"
                               "what similarity laws must be obeyed .\n"
                               ".I 002\n"
                               ".W\n"
                               "shear flow past a plate .\n"
                               ".I 004\n"
                               ".W\n"
                               "an empty judged query .\n";

/* cranqrel: "qid docid code", queries numbered by order. */
static const char CRANQREL[] = "1 2 2\n"
                               "1 1 -1\n"
                               "2 2 1\n"
                               "2 1 4\n"
                               "3 3 5\n";

static const char *write_file(const char *name, const char *text) {
  static char path[8][4200];
  static int next;
  char *p = path[next++ % 8];
  snprintf(p, 4200, "%s/%s", test_tmpdir(), name);
  FILE *f = fopen(p, "w");
  ASSERT(f);
  fputs(text, f);
  ASSERT_EQ(fclose(f), 0);
  return p;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  ASSERT(f);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

TEST(smart_keeps_title_and_text_and_drops_author_and_biblio) {
  eval_smart s;
  rag_err err = {0};
  ASSERT_OK(eval_smart_parse(CRAN_DOCS, strlen(CRAN_DOCS), "cran", &s, &err),
            &err);
  ASSERT_EQ(s.n, 3);
  ASSERT_STR_EQ(s.rec[0].id, "1");
  ASSERT_STR_EQ(s.rec[0].title, "experimental investigation of the "
                                "aerodynamics of a wing in a slipstream .");
  /* .W's leading copy of .T is cut; whitespace collapses. */
  ASSERT_STR_EQ(s.rec[0].text,
                "an experimental study of a wing in a propeller slipstream "
                "was made in order to determine the spanwise distribution "
                "of the lift .");
  ASSERT_STR_EQ(s.rec[1].text,
                "the boundary layer in simple shear flow past a flat plate .");
  ASSERT_STR_EQ(s.rec[2].title, "");
  ASSERT_STR_EQ(s.rec[2].text, "");
  eval_smart_free(&s);
}

TEST(smart_reads_crlf_and_x_fields_and_same_line_text) {
  /* CISI-like: .X cross references, CRLF line ends, text after the tag. */
  static const char cisi[] =
      ".I 1\r\n.T\r\n18 Editions of the\r\nDewey Decimal Classifications\r\n"
      ".A\r\nComaromi, J.P.\r\n.W\r\n   The present study is a history\r\n"
      "of the DEWEY Decimal\r\nClassification.\r\n.X\r\n1\t5\t1\r\n"
      "92\t1\t1\r\n.I 2\r\n.W The text starts here\r\n.K\r\nkeywords\r\n";
  eval_smart s;
  rag_err err = {0};
  ASSERT_OK(eval_smart_parse(cisi, strlen(cisi), "CISI.ALL", &s, &err), &err);
  ASSERT_EQ(s.n, 2);
  ASSERT_STR_EQ(s.rec[0].title, "18 Editions of the Dewey Decimal "
                                "Classifications");
  ASSERT_STR_EQ(s.rec[0].text, "The present study is a history of the DEWEY "
                               "Decimal Classification.");
  ASSERT_STR_EQ(s.rec[1].text, "The text starts here");
  eval_smart_free(&s);
}

TEST(smart_ids_lose_leading_zeros) {
  eval_smart s;
  rag_err err = {0};
  ASSERT_OK(eval_smart_parse(CRAN_QRY, strlen(CRAN_QRY), "q", &s, &err), &err);
  ASSERT_EQ(s.n, 3);
  ASSERT_STR_EQ(s.rec[0].id, "1");
  ASSERT_STR_EQ(s.rec[2].id, "4");
  eval_smart_free(&s);
}

TEST(smart_rejects_text_before_the_first_record) {
  static const char bad[] = "\n\nhello world\n.I 1\n.W\nx\n";
  eval_smart s;
  rag_err err = {0};
  ASSERT_EQ(eval_smart_parse(bad, strlen(bad), "docs.txt", &s, &err),
            RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "docs.txt:3:");
  ASSERT_CONTAINS(err.msg, "before the first .I");
  ASSERT_EQ(s.n, 0);
}

TEST(smart_rejects_a_record_without_an_id_or_a_repeated_id) {
  static const char noid[] = ".I 1\n.W\na\n.I   \r\n.W\nb\n";
  static const char dup[] = ".I 7\n.W\na\n.I 2\n.W\nb\n.I 007\n.W\nc\n";
  eval_smart s;
  rag_err err = {0};
  ASSERT_EQ(eval_smart_parse(noid, strlen(noid), "d", &s, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "d:4: .I without an id");
  rag_err_clear(&err);
  ASSERT_EQ(eval_smart_parse(dup, strlen(dup), "d", &s, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "d:7: record id 7 repeats the one at line 1");
}

TEST(qrels_auto_tells_trec_3col_and_pairs_apart) {
  static const char trec[] = "1 0 13 1\n1 0 14 2\n# comment\n\n2 Q0 d5 0\n";
  static const char col3[] = "1 184 2\n1 29 2\n";
  static const char pairs[] = "     1     28\t0\t0.000000\n"
                              "     1     35\t0\t0.000000\n"
                              "    02   1410\t0\t0.000000\n";
  eval_qrels q;
  rag_err err = {0};
  ASSERT_OK(eval_qrels_parse(trec, strlen(trec), "t", EVAL_QRELS_AUTO,
                             EVAL_GRADES_ASIS, &q, &err),
            &err);
  ASSERT_EQ(q.format, EVAL_QRELS_TREC);
  ASSERT_EQ(q.n, 3);
  ASSERT_STR_EQ(q.row[1].docid, "14");
  ASSERT_EQ(q.row[1].score, 2);
  ASSERT_STR_EQ(q.row[2].docid, "d5");
  ASSERT_EQ(q.row[2].score, 0);
  eval_qrels_free(&q);
  ASSERT_OK(eval_qrels_parse(col3, strlen(col3), "c", EVAL_QRELS_AUTO,
                             EVAL_GRADES_ASIS, &q, &err),
            &err);
  ASSERT_EQ(q.format, EVAL_QRELS_3COL);
  ASSERT_STR_EQ(q.row[1].docid, "29");
  eval_qrels_free(&q);
  ASSERT_OK(eval_qrels_parse(pairs, strlen(pairs), "p", EVAL_QRELS_AUTO,
                             EVAL_GRADES_ASIS, &q, &err),
            &err);
  ASSERT_EQ(q.format, EVAL_QRELS_PAIRS);
  ASSERT_EQ(q.n, 3);
  ASSERT_STR_EQ(q.row[2].qid, "2");
  ASSERT_STR_EQ(q.row[2].docid, "1410");
  ASSERT_EQ(q.row[2].score, 1);
  eval_qrels_free(&q);
}

TEST(qrels_errors_name_the_line_and_the_problem) {
  static const char ragged[] = "1 0 13 1\n1 0 14\n";
  static const char notint[] = "1 13 high\n";
  static const char unclear[] = "1 2 3 4\n";
  eval_qrels q;
  rag_err err = {0};
  ASSERT_EQ(eval_qrels_parse(ragged, strlen(ragged), "r", EVAL_QRELS_TREC,
                             EVAL_GRADES_ASIS, &q, &err),
            RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "r:2: 3 columns; the trec format has 4");
  rag_err_clear(&err);
  ASSERT_EQ(eval_qrels_parse(ragged, strlen(ragged), "r", EVAL_QRELS_AUTO,
                             EVAL_GRADES_ASIS, &q, &err),
            RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "r:2:");
  rag_err_clear(&err);
  ASSERT_EQ(eval_qrels_parse(notint, strlen(notint), "n", EVAL_QRELS_3COL,
                             EVAL_GRADES_ASIS, &q, &err),
            RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "n:1: relevance \"high\" is not an integer");
  rag_err_clear(&err);
  ASSERT_EQ(eval_qrels_parse(unclear, strlen(unclear), "u", EVAL_QRELS_AUTO,
                             EVAL_GRADES_ASIS, &q, &err),
            RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "cannot tell the qrels format");
}

TEST(cranfield_grades_become_five_minus_code_and_source_rows_drop) {
  eval_qrels q;
  rag_err err = {0};
  ASSERT_OK(eval_qrels_parse(CRANQREL, strlen(CRANQREL), "cranqrel",
                             EVAL_QRELS_3COL, EVAL_GRADES_CRANFIELD, &q, &err),
            &err);
  ASSERT_EQ(q.n, 4);
  ASSERT_EQ(q.dropped, 1);
  ASSERT_EQ(q.row[0].score, 3); /* code 2 */
  ASSERT_EQ(q.row[1].score, 4); /* code 1 */
  ASSERT_EQ(q.row[2].score, 1); /* code 4 */
  ASSERT_EQ(q.row[3].score, 0); /* code 5: judged, not relevant */
  eval_qrels_free(&q);
  static const char bad[] = "1 2 7\n";
  ASSERT_EQ(eval_qrels_parse(bad, strlen(bad), "cranqrel", EVAL_QRELS_3COL,
                             EVAL_GRADES_CRANFIELD, &q, &err),
            RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "cranqrel:1: Cranfield relevance code 7");
}

TEST(repeated_qrel_pairs_keep_the_last_score) {
  static const char rep[] = "1 0 d1 1\n1 0 d2 1\n01 0 d1 3\n";
  eval_qrels q;
  rag_err err = {0};
  ASSERT_OK(eval_qrels_parse(rep, strlen(rep), "r", EVAL_QRELS_TREC,
                             EVAL_GRADES_ASIS, &q, &err),
            &err);
  ASSERT_EQ(q.n, 2);
  ASSERT_EQ(q.repeated, 1);
  ASSERT_STR_EQ(q.row[0].docid, "d1");
  ASSERT_EQ(q.row[0].score, 3);
  eval_qrels_free(&q);
}

TEST(cranfield_converts_to_a_folder_the_beir_loader_reads) {
  eval_convert_opts o = eval_convert_opts_default();
  o.smart_docs = write_file("cran.all.1400", CRAN_DOCS);
  o.smart_queries = write_file("cran.qry", CRAN_QRY);
  o.qrels = write_file("cranqrel", CRANQREL);
  o.qrels_format = EVAL_QRELS_3COL;
  o.grades = EVAL_GRADES_CRANFIELD;
  o.qids = EVAL_QID_ORDINAL;
  char out[4200];
  snprintf(out, sizeof(out), "%s/beir/cran", test_tmpdir());
  eval_convert_report r;
  rag_err err = {0};
  ASSERT_OK(eval_convert_smart(&o, out, &r, &err), &err);
  ASSERT_EQ(r.docs, 3);
  ASSERT_EQ(r.empty_docs, 1);
  ASSERT_EQ(r.queries, 3);
  ASSERT_EQ(r.qrels, 4);
  ASSERT_EQ(r.relevant, 3);
  ASSERT_EQ(r.dropped, 1);
  ASSERT_EQ(r.unknown_query, 0);
  ASSERT_EQ(r.unknown_doc, 0);
  char path[4300];
  snprintf(path, sizeof(path), "%s/qrels/test.tsv", out);
  ASSERT_STR_EQ(slurp(path), "query-id\tcorpus-id\tscore\n1\t2\t3\n2\t2\t4\n"
                             "2\t1\t1\n3\t3\t0\n");
  snprintf(path, sizeof(path), "%s/corpus.jsonl", out);
  ASSERT_CONTAINS(slurp(path), "{\"_id\":\"2\",\"title\":\"simple shear "
                               "flow past a flat plate .\",\"text\":\"the "
                               "boundary layer");
  eval_dataset *ds = NULL;
  ASSERT_OK(eval_dataset_open(out, &ds, &err), &err);
  ASSERT_EQ(eval_dataset_nqueries(ds), 3);
  ASSERT_EQ(eval_dataset_nevaluated(ds), 2); /* query 3: only code 5 */
  long q2 = eval_dataset_find_query(ds, "2");
  ASSERT_GE(q2, 0);
  ASSERT_STR_EQ(eval_dataset_query_text(ds, (size_t)q2),
                "shear flow past a plate .");
  int gain = 0;
  ASSERT(eval_dataset_gain(ds, (size_t)q2, "2", &gain));
  ASSERT_EQ(gain, 4);
  eval_dataset_close(ds);

  eval_check_report c;
  ASSERT_OK(eval_check_beir(out, NULL, &c, &err), &err);
  ASSERT_EQ(c.docs, 3);
  ASSERT_EQ(c.empty_docs, 1);
  ASSERT_EQ(c.queries, 3);
  ASSERT_EQ(c.qrels, 4);
  ASSERT_EQ(c.relevant, 3);
  ASSERT_EQ(c.unknown_query + c.unknown_doc + c.dup_docs + c.dup_queries, 0);
  ASSERT_EQ(c.judged_queries, 2);
  ASSERT_EQ(c.unjudged_queries, 1);
  ASSERT_EQ(c.grades[4], 1);

  /* A second run refuses to replace the files unless asked to. */
  rag_err_clear(&err);
  ASSERT_EQ(eval_convert_smart(&o, out, &r, &err), RAG_IO);
  ASSERT_CONTAINS(err.msg, "exists");
  o.overwrite = 1;
  ASSERT_OK(eval_convert_smart(&o, out, &r, &err), &err);
}

TEST(query_numbers_that_miss_the_qrels_are_reported) {
  /* cran.qry joined by .I number: 4 is not a qrels query, 3 not a query. */
  eval_convert_opts o = eval_convert_opts_default();
  o.smart_docs = write_file("d", CRAN_DOCS);
  o.smart_queries = write_file("q", CRAN_QRY);
  o.qrels = write_file("r", CRANQREL);
  o.grades = EVAL_GRADES_CRANFIELD;
  char out[4200];
  snprintf(out, sizeof(out), "%s/o", test_tmpdir());
  eval_convert_report r;
  rag_err err = {0};
  ASSERT_OK(eval_convert_smart(&o, out, &r, &err), &err);
  ASSERT_EQ(r.format, EVAL_QRELS_3COL);
  ASSERT_EQ(r.unknown_query, 1);
}

TEST(convert_names_a_missing_input) {
  eval_convert_opts o = eval_convert_opts_default();
  o.smart_docs = "/nonexistent/cran.all.1400";
  o.smart_queries = o.qrels = "/nonexistent/x";
  eval_convert_report r;
  rag_err err = {0};
  ASSERT_EQ(eval_convert_smart(&o, test_tmpdir(), &r, &err), RAG_IO);
  ASSERT_CONTAINS(err.msg, "/nonexistent/cran.all.1400");
}

TEST(check_counts_duplicates_and_dangling_qrels) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/qrels", test_tmpdir());
  ASSERT_EQ(mkdir(dir, 0777), 0);
  write_file("corpus.jsonl", "{\"_id\":\"a\",\"title\":\"A\",\"text\":\"x\"}\n"
                             "{\"_id\":\"b\",\"text\":\"\"}\r\n"
                             "\n"
                             "{\"_id\":\"a\",\"text\":\"again\"}\n");
  write_file("queries.jsonl", "{\"_id\":1,\"text\":\"q one\"}\n"
                              "{\"_id\":\"2\",\"text\":\"q two\"}\n");
  write_file("qrels/test.tsv", "query-id\tcorpus-id\tscore\n1\ta\t1\n"
                               "1\tzz\t2\n9\tb\t1\n2\tb\t0\n");
  eval_check_report c;
  rag_err err = {0};
  ASSERT_OK(eval_check_beir(test_tmpdir(), "test", &c, &err), &err);
  ASSERT_EQ(c.docs, 3);
  ASSERT_EQ(c.dup_docs, 1);
  ASSERT_EQ(c.empty_docs, 1);
  ASSERT_EQ(c.queries, 2);
  ASSERT_EQ(c.qrels, 4);
  ASSERT_EQ(c.unknown_doc, 1);
  ASSERT_EQ(c.unknown_query, 1);
  ASSERT_EQ(c.judged_queries, 1);
  ASSERT_EQ(c.unjudged_queries, 1);
}

TEST(check_rejects_malformed_rows_naming_file_and_line) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/qrels", test_tmpdir());
  ASSERT_EQ(mkdir(dir, 0777), 0);
  write_file("corpus.jsonl",
             "{\"_id\":\"a\",\"text\":\"x\"}\n{\"_id\":\"b\"\n");
  write_file("queries.jsonl", "{\"_id\":\"1\",\"text\":\"q\"}\n");
  write_file("qrels/test.tsv", "query-id\tcorpus-id\tscore\n1\ta\t1\n");
  eval_check_report c;
  rag_err err = {0};
  ASSERT_EQ(eval_check_beir(test_tmpdir(), NULL, &c, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "corpus.jsonl:2:");
  write_file("corpus.jsonl", "{\"_id\":\"a\",\"title\":\"t\"}\n");
  rag_err_clear(&err);
  ASSERT_EQ(eval_check_beir(test_tmpdir(), NULL, &c, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "corpus.jsonl:1: \"text\" is missing");
  write_file("corpus.jsonl", "{\"_id\":\"a\",\"text\":\"x\"}\n");
  write_file("qrels/test.tsv", "query-id\tcorpus-id\tscore\n1 a 1\n");
  rag_err_clear(&err);
  ASSERT_EQ(eval_check_beir(test_tmpdir(), NULL, &c, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "test.tsv:2:");
}

#define TESTS(X)                                                               \
  X(smart_keeps_title_and_text_and_drops_author_and_biblio)                    \
  X(smart_reads_crlf_and_x_fields_and_same_line_text)                          \
  X(smart_ids_lose_leading_zeros)                                              \
  X(smart_rejects_text_before_the_first_record)                                \
  X(smart_rejects_a_record_without_an_id_or_a_repeated_id)                     \
  X(qrels_auto_tells_trec_3col_and_pairs_apart)                                \
  X(qrels_errors_name_the_line_and_the_problem)                                \
  X(cranfield_grades_become_five_minus_code_and_source_rows_drop)              \
  X(repeated_qrel_pairs_keep_the_last_score)                                   \
  X(cranfield_converts_to_a_folder_the_beir_loader_reads)                      \
  X(query_numbers_that_miss_the_qrels_are_reported)                            \
  X(convert_names_a_missing_input)                                             \
  X(check_counts_duplicates_and_dangling_qrels)                                \
  X(check_rejects_malformed_rows_naming_file_and_line)
TEST_MAIN(TESTS)
