/* llm/llm_classify.c -- The question-complexity classifier (declared in
** llm_router.h): the rules, and the parser of a classifier model's reply.
** The rules are cheap heuristics, not a model: they look at what makes a
** question expensive to answer well (code, comparisons and analysis,
** several questions at once, sheer length) and send the rest to the
** middle tier, so a mistake costs a tier, not an answer. */
#include "llm/llm_router.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char llm_classify_prompt[] =
    "Classify how hard the user's question is to answer well. Reply with "
    "JSON only, exactly {\"complexity\": \"simple\"}, {\"complexity\": "
    "\"medium\"} or {\"complexity\": \"complex\"}. simple: a fact, a "
    "definition, a name or a date. complex: comparisons, analysis, "
    "design, multi-step reasoning, code, or several questions at once. "
    "medium: everything else.";

static const char *const tier_names[] = {"simple", "medium", "complex"};

const char *llm_tier_name(llm_tier t) {
  return (unsigned)t < 3 ? tier_names[t] : "medium";
}

/* ---- rules ----------------------------------------------------------- */

/* Phrases that ask for reasoning rather than a lookup. */
static const char *const complex_phrases[] = {"compare",
                                              "comparison",
                                              "contrast",
                                              "explain why",
                                              "why does",
                                              "why do",
                                              "why is",
                                              "why are",
                                              "analyze",
                                              "analyse",
                                              "analysis",
                                              "design",
                                              "step by step",
                                              "step-by-step",
                                              "trade-off",
                                              "tradeoff",
                                              "pros and cons",
                                              "evaluate",
                                              "derive",
                                              "prove",
                                              "implement",
                                              "optimize",
                                              "optimise",
                                              "architecture",
                                              "difference between",
                                              "differences between",
                                              "versus",
                                              " vs ",
                                              " vs. ",
                                              NULL};

/* Openers of a lookup question. */
static const char *const simple_openers[] = {
    "what is",       "what's",   "what are", "what was", "define",
    "definition of", "who",      "when",     "where",    "which",
    "how many",      "how much", "name ",    "list ",    NULL};

/* Fragments that rarely occur in prose but often in code. */
static const char *const code_marks[] = {"();",
                                         "){",
                                         ") {",
                                         "=>",
                                         "->",
                                         "::",
                                         "#include",
                                         "def ",
                                         "return ",
                                         "==",
                                         "!=",
                                         "&&",
                                         "||",
                                         "</",
                                         "/>",
                                         "[]",
                                         "printf(",
                                         "function ",
                                         "select * from",
                                         "import ",
                                         "#!/",
                                         "var ",
                                         "const ",
                                         "let ",
                                         NULL};

static int word_start(const char *text, const char *at) {
  if (at == text)
    return 1;
  char c = at[-1];
  return !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
}

/* A phrase at the start of a word: "design" matches in "designing" but
** not in "undesigned". A phrase that starts with a space brings its own
** boundary. */
static int has_phrase(const char *lower, const char *phrase) {
  for (const char *p = strstr(lower, phrase); p; p = strstr(p + 1, phrase))
    if (phrase[0] == ' ' || word_start(lower, p))
      return 1;
  return 0;
}

/* An identifier with an underscore or an inner capital directly followed
** by '(' -- snake_case(...) or camelCase(...). */
static int has_call(const char *q) {
  for (const char *p = strchr(q, '('); p; p = strchr(p + 1, '(')) {
    const char *s = p;
    int under = 0, inner_cap = 0;
    while (s > q &&
           ((s[-1] >= 'a' && s[-1] <= 'z') || (s[-1] >= 'A' && s[-1] <= 'Z') ||
            (s[-1] >= '0' && s[-1] <= '9') || s[-1] == '_')) {
      s--;
      under |= *s == '_';
      inner_cap |=
          s > q && *s >= 'A' && *s <= 'Z' && s[-1] >= 'a' && s[-1] <= 'z';
    }
    if (s < p && (under || inner_cap))
      return 1;
  }
  return 0;
}

static int looks_like_code(const char *q, const char *lower) {
  if (strstr(q, "```"))
    return 1;
  int marks = has_call(q);
  for (int i = 0; code_marks[i]; i++)
    marks += strstr(lower, code_marks[i]) != NULL;
  /* Lines ending in ';' or '{' are statements. */
  for (const char *p = q; *p; p++)
    if ((*p == ';' || *p == '{') && (p[1] == '\n' || p[1] == '\0'))
      marks++;
  return marks >= 2;
}

llm_tier llm_classify_rules(const char *question, const rag_tokcount *tc) {
  if (!question)
    return LLM_TIER_MEDIUM;
  size_t n = strlen(question);
  char *lower = malloc(n + 1);
  if (!lower)
    return LLM_TIER_MEDIUM;
  size_t b = 0;
  while (b < n && (question[b] == ' ' || question[b] == '\n' ||
                   question[b] == '\t' || question[b] == '\r'))
    b++;
  for (size_t i = 0; i < n; i++) {
    char c = question[i];
    lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  lower[n] = '\0';
  size_t tokens = rag_tokcount_count(tc, question, n);
  int questions = 0;
  for (size_t i = 0; i < n; i++)
    questions += question[i] == '?' ||
                 (question[i] == '\xef' && i + 2 < n &&
                  question[i + 1] == '\xbc' && question[i + 2] == '\x9f');

  llm_tier t = LLM_TIER_MEDIUM;
  int complex_phrase = 0;
  for (int i = 0; complex_phrases[i] && !complex_phrase; i++)
    complex_phrase = has_phrase(lower, complex_phrases[i]);
  int opener = 0;
  for (int i = 0; simple_openers[i] && !opener; i++)
    opener = !strncmp(lower + b, simple_openers[i], strlen(simple_openers[i]));

  if (looks_like_code(question, lower) || complex_phrase || tokens > 100 ||
      questions >= 3)
    t = LLM_TIER_COMPLEX;
  else if (questions == 2)
    t = LLM_TIER_MEDIUM;
  else if ((opener && tokens < 25) || tokens < 9)
    t = LLM_TIER_SIMPLE;
  free(lower);
  return t;
}

/* ---- a classifier model's reply -------------------------------------- */

static int tier_word(const char *s, size_t n, llm_tier *t) {
  while (n && (*s == ' ' || *s == '"' || *s == '\'' || *s == '\n')) {
    s++;
    n--;
  }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '"' || s[n - 1] == '\'' ||
               s[n - 1] == '.' || s[n - 1] == '\n'))
    n--;
  for (int i = 0; i < 3; i++)
    if (n == strlen(tier_names[i]) && !strncasecmp(s, tier_names[i], n)) {
      *t = (llm_tier)i;
      return 0;
    }
  return -1;
}

int llm_classify_parse(const char *reply, llm_tier *t) {
  if (!reply)
    return -1;
  /* A bare word ("complex", "Simple.") is an answer too. */
  if (!tier_word(reply, strlen(reply), t))
    return 0;
  /* Otherwise the first {...} holding a "complexity" string, wherever it
  ** sits (after prose, inside ```json fences). */
  for (const char *o = strchr(reply, '{'); o; o = strchr(o + 1, '{')) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(o, &end, 0);
    if (!j)
      continue;
    int rc = -1;
    for (const cJSON *it = cJSON_IsObject(j) ? j->child : NULL; it;
         it = it->next)
      if (it->string && !strcasecmp(it->string, "complexity") &&
          cJSON_IsString(it))
        rc = tier_word(it->valuestring, strlen(it->valuestring), t);
    cJSON_Delete(j);
    if (!rc)
      return 0;
  }
  return -1;
}
