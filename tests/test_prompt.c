/* tests/test_prompt.c -- Prompt assembly under a token budget: what is
** dropped first, deduplication, citation numbering. */
#include "tests/test.h"

#include "llm/llm_prompt.h"

/* n distinct short words: "ta tb tc ..." for tag "t" (n tokens). */
static char *words(rag_arena *a, const char *tag, int n) {
  char *s = rag_arena_alloc(a, (size_t)n * 16 + 1);
  size_t o = 0;
  for (int i = 0; i < n; i++)
    o += (size_t)snprintf(s + o, 16, "%s%s%c%c", i ? " " : "", tag,
                          'a' + i % 26, 'a' + i / 26 % 26);
  return s;
}

/* Tokens of the prompt with no chunks and no history. */
static int64_t fixed_cost(const char *question) {
  char sys[2048];
  snprintf(sys, sizeof(sys), "%s\n\nSources:\n\n(no sources were found)\n",
           llm_prompt_default_system);
  llm_msg m[2] = {{"system", sys}, {"user", question}};
  return llm_prompt_count_msgs(NULL, m, 2);
}

static int64_t count(const char *s) {
  return (int64_t)rag_tokcount_count(NULL, s, strlen(s));
}

static llm_prompt_in base_in(const llm_prompt_chunk *c, size_t n) {
  llm_prompt_in in;
  memset(&in, 0, sizeof(in));
  in.chunks = c;
  in.nchunks = n;
  in.question = "What do the sources say?";
  in.context_length = 100000;
  in.max_output = 1000;
  in.margin = -1;
  return in;
}

TEST(everything_fits_under_a_large_budget) {
  rag_arena *a = rag_arena_new(0);
  llm_prompt_chunk c[3] = {{"Alpha", words(a, "a", 50)},
                           {"Beta", words(a, "b", 50)},
                           {NULL, words(a, "c", 50)}};
  llm_prompt_in in = base_in(c, 3);
  llm_prompt_out out;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_prompt_build(&in, a, &out, &err), &err);
  ASSERT_EQ(out.nsources, 3);
  ASSERT_EQ(out.nmsgs, 2);
  ASSERT_STR_EQ(out.msgs[0].role, "system");
  ASSERT_CONTAINS(out.msgs[0].content, "Cite");
  ASSERT_CONTAINS(out.msgs[0].content, "[1] Alpha\naaa aba");
  ASSERT_CONTAINS(out.msgs[0].content, "[3] (untitled)\ncaa cba");
  ASSERT_STR_EQ(out.msgs[1].role, "user");
  ASSERT_STR_EQ(out.msgs[1].content, in.question);
  ASSERT_EQ(out.tokens, llm_prompt_count_msgs(NULL, out.msgs, out.nmsgs));
  /* margin: max(64, 2% of 100000) = 2000 */
  ASSERT_EQ(out.budget, 100000 - 1000 - 2000);
  rag_arena_free(a);
}

TEST(lowest_ranked_chunks_are_dropped_first_when_over_budget) {
  rag_arena *a = rag_arena_new(0);
  llm_prompt_chunk c[5];
  const char *tags[5] = {"r", "s", "t", "u", "v"};
  char titles[5][8];
  for (int i = 0; i < 5; i++) {
    snprintf(titles[i], sizeof(titles[i]), "T%d", i);
    c[i].title = titles[i];
    c[i].text = words(a, tags[i], 100);
  }
  llm_prompt_in in = base_in(c, 5);
  /* Room for the fixed part plus three and a half chunks (each chunk is
  ** 100 words plus its "[n] Tn" header of about 6 tokens). */
  in.margin = 0;
  in.max_output = 100;
  in.context_length = (int)(100 + fixed_cost(in.question) + 3 * 106 + 50);
  llm_prompt_out out;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_prompt_build(&in, a, &out, &err), &err);
  ASSERT_EQ(out.nsources, 3);
  ASSERT_EQ(out.dropped_chunks, 2);
  ASSERT(out.tokens <= out.budget);
  for (size_t i = 0; i < out.nsources; i++) {
    ASSERT_EQ(out.sources[i].index, (int)i + 1);
    ASSERT_EQ(out.source_rank[i], (int)i);
  }
  ASSERT_CONTAINS(out.msgs[0].content, "[3] T2\n");
  ASSERT(!strstr(out.msgs[0].content, "T3"));
  ASSERT(!strstr(out.msgs[0].content, "T4"));
  rag_arena_free(a);
}

TEST(duplicate_and_near_identical_chunks_are_dropped_and_numbers_stay_dense) {
  rag_arena *a = rag_arena_new(0);
  char *base = words(a, "w", 60);
  /* The same text in other case and layout. */
  char *relaid = rag_arena_strdup(a, base);
  for (char *p = relaid; *p; p++)
    if (*p == 'w')
      *p = 'W';
  char *spaced = rag_arena_printf(a, "  %s \n", relaid);
  /* One word of 60 changed: Jaccard of trigrams 55/61 > 0.9. */
  char *near = rag_arena_strdup(a, base);
  near[strlen(near) - 1] = 'X';
  llm_prompt_chunk c[4] = {{"A", base},
                           {"A again", spaced},
                           {"B", words(a, "z", 40)},
                           {"A nearly", near}};
  llm_prompt_in in = base_in(c, 4);
  llm_prompt_out out;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_prompt_build(&in, a, &out, &err), &err);
  ASSERT_EQ(out.dropped_duplicates, 2);
  ASSERT_EQ(out.nsources, 2);
  ASSERT_STR_EQ(out.sources[0].title, "A");
  ASSERT_STR_EQ(out.sources[1].title, "B");
  ASSERT_EQ(out.sources[1].index, 2);
  ASSERT_EQ(out.source_rank[1], 2);
  ASSERT_CONTAINS(out.msgs[0].content, "[2] B\n");
  ASSERT(!strstr(out.msgs[0].content, "A nearly"));
  rag_arena_free(a);
}

TEST(oldest_history_goes_after_the_chunks_and_the_best_chunk_is_cut) {
  rag_arena *a = rag_arena_new(0);
  llm_prompt_chunk c[2] = {{"Best", words(a, "b", 200)},
                           {"Second", words(a, "s", 200)}};
  llm_msg hist[4] = {{"user", words(a, "q", 60)},
                     {"assistant", words(a, "x", 60)},
                     {"user", words(a, "p", 20)},
                     {"assistant", words(a, "y", 20)}};
  llm_prompt_in in = base_in(c, 2);
  in.history = hist;
  in.nhistory = 4;
  in.margin = 0;
  in.max_output = 0;
  /* Fixed part + best chunk (200 words, ~206) + newest turn (2 messages
  ** of 20 words, 48): no room for the second chunk or the oldest turn
  ** (2 x 64). */
  int64_t fixed = fixed_cost(in.question);
  in.context_length = (int)(fixed + 206 + 48 + 40);
  llm_prompt_out out;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_prompt_build(&in, a, &out, &err), &err);
  ASSERT_EQ(out.nsources, 1);
  ASSERT_STR_EQ(out.sources[0].title, "Best");
  ASSERT_EQ(out.dropped_history, 2);
  ASSERT_EQ(out.nmsgs, 4); /* system, newest turn (2), question */
  ASSERT_STR_EQ(out.msgs[1].content, hist[2].content);
  ASSERT_EQ(out.truncated, 0);

  /* Tighter still: the history goes and the best chunk is cut. */
  in.context_length = (int)(fixed + 60);
  ASSERT(count(c[0].text) > 60);
  rag_err_clear(&err);
  ASSERT_OK(llm_prompt_build(&in, a, &out, &err), &err);
  ASSERT_EQ(out.nsources, 1);
  ASSERT_EQ(out.truncated, 1);
  ASSERT_EQ(out.nmsgs, 2);
  ASSERT(out.tokens <= out.budget);
  ASSERT(strlen(out.sources[0].text) < strlen(c[0].text));
  ASSERT_EQ(
      strncmp(out.sources[0].text, c[0].text, strlen(out.sources[0].text)), 0);
  rag_arena_free(a);
}

TEST(a_question_too_long_for_the_window_is_toobig) {
  rag_arena *a = rag_arena_new(0);
  llm_prompt_in in = base_in(NULL, 0);
  in.question = words(a, "q", 3000);
  in.context_length = 2048;
  in.max_output = 512;
  llm_prompt_out out;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(llm_prompt_build(&in, a, &out, &err), RAG_TOOBIG);
  ASSERT_CONTAINS(err.msg, "the model leaves");
  rag_arena_free(a);
}

TEST(openai_models_are_counted_with_their_exact_bpe_encoding) {
  ASSERT_STR_EQ(llm_prompt_tokenizer_for(NULL, "gpt-4o-mini"), "o200k_base");
  ASSERT_STR_EQ(llm_prompt_tokenizer_for("cl100k_base", "gpt-4o"),
                "cl100k_base");
  ASSERT(llm_prompt_tokenizer_for(NULL, "llama3") == NULL);
  const rag_tokcount *tc = llm_prompt_counter("cl100k_base");
  ASSERT_STR_EQ(tc->name, "cl100k_base");
  /* "hello world" is [15339, 1917] in cl100k_base. */
  ASSERT_EQ(rag_tokcount_count(tc, "hello world", 11), 2);
  ASSERT_STR_EQ(llm_prompt_counter("o200k_base")->name, "o200k_base");
  ASSERT_STR_EQ(llm_prompt_counter(NULL)->name, "estimate");
  ASSERT_STR_EQ(llm_prompt_counter("unknown")->name, "estimate");
}

#define TESTS(X)                                                               \
  X(everything_fits_under_a_large_budget)                                      \
  X(lowest_ranked_chunks_are_dropped_first_when_over_budget)                   \
  X(duplicate_and_near_identical_chunks_are_dropped_and_numbers_stay_dense)    \
  X(oldest_history_goes_after_the_chunks_and_the_best_chunk_is_cut)            \
  X(a_question_too_long_for_the_window_is_toobig)                              \
  X(openai_models_are_counted_with_their_exact_bpe_encoding)
TEST_MAIN(TESTS)
