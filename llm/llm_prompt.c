/* llm/llm_prompt.c -- Prompt assembly under a token budget (see
** llm_prompt.h). The prompt is re-counted as a whole after every change
** rather than summed from parts: an exact BPE counter is not additive
** across the joins, and a prompt of a few dozen chunks counts in well
** under a millisecond. */
#include "llm/llm_prompt.h"

#include "core/rag_bpe.h"
#include "core/rag_buf.h"
#include "core/rag_log.h"

#include <pthread.h>

#include <stdlib.h>
#include <string.h>

const char llm_prompt_default_system[] =
    "You are a helpful assistant that answers questions using only the "
    "numbered sources below. Cite every statement with the number of the "
    "source it comes from, in square brackets, like [1] or [2][3]. If the "
    "sources do not contain the answer, say that you do not know; do not "
    "use outside knowledge. Answer in the language of the question.";

/* The BPE rank tables are loaded once per process, on first use, and are
** immutable afterwards: a lazily built constant table (like a static const
** one), not mutable state. A table that fails to load (rank files not
** fetched) falls back to the estimate with one warning. */
typedef struct bpe_slot {
  const char *name;
  pthread_once_t once;
  rag_bpe *bpe;
} bpe_slot;

static bpe_slot bpe_slots[] = {{"cl100k_base", PTHREAD_ONCE_INIT, NULL},
                               {"o200k_base", PTHREAD_ONCE_INIT, NULL}};

static void load_slot(bpe_slot *s) {
  rag_err err;
  rag_err_clear(&err);
  if (rag_bpe_load(NULL, s->name, &s->bpe, &err) != RAG_OK)
    rag_log(RAG_LOG_WARN, "%s: counting tokens with the estimate", err.msg);
}

static void load_cl100k(void) {
  load_slot(&bpe_slots[0]);
}

static void load_o200k(void) {
  load_slot(&bpe_slots[1]);
}

const rag_tokcount *llm_prompt_counter(const char *tokenizer) {
  if (tokenizer && strcmp(tokenizer, "cl100k_base") == 0) {
    pthread_once(&bpe_slots[0].once, load_cl100k);
    if (bpe_slots[0].bpe)
      return rag_bpe_tokcount(bpe_slots[0].bpe);
  } else if (tokenizer && strcmp(tokenizer, "o200k_base") == 0) {
    pthread_once(&bpe_slots[1].once, load_o200k);
    if (bpe_slots[1].bpe)
      return rag_bpe_tokcount(bpe_slots[1].bpe);
  }
  return rag_tokcount_estimate();
}

const char *llm_prompt_tokenizer_for(const char *tokenizer, const char *model) {
  if (tokenizer && *tokenizer)
    return tokenizer;
  return model ? rag_bpe_encoding_for_model(model) : NULL;
}

int64_t llm_prompt_count_msgs(const rag_tokcount *tc, const llm_msg *m,
                              size_t n) {
  int64_t t = LLM_PROMPT_MSG_OVERHEAD; /* the reply's priming */
  for (size_t i = 0; i < n; i++) {
    const char *c = m[i].content ? m[i].content : "";
    t +=
        (int64_t)rag_tokcount_count(tc, c, strlen(c)) + LLM_PROMPT_MSG_OVERHEAD;
  }
  return t;
}

/* ---- deduplication --------------------------------------------------- */

/* Lowercased ASCII words of s, whitespace collapsed: two chunks that
** differ only in layout or case are the same chunk. */
static char *normalize(rag_arena *a, const char *s) {
  size_t n = strlen(s), o = 0;
  char *r = rag_arena_alloc(a, n + 1);
  if (!r)
    return NULL;
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
        c == '\v') {
      space = o > 0;
      continue;
    }
    if (space)
      r[o++] = ' ';
    space = 0;
    r[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  r[o] = '\0';
  return r;
}

typedef struct shingles {
  uint64_t *h;
  size_t n;
} shingles;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorted, unique FNV-1a hashes of the word trigrams of a normalized text
** (of its words when it has fewer than three). */
static int shingle(rag_arena *a, const char *norm, shingles *s) {
  size_t nw = 0, len = strlen(norm);
  for (size_t i = 0; i < len; i++)
    if (norm[i] == ' ')
      nw++;
  nw += len > 0;
  size_t *start = rag_arena_calloc(a, nw + 1, sizeof(size_t));
  s->h = rag_arena_calloc(a, nw + 1, sizeof(uint64_t));
  s->n = 0;
  if (!start || !s->h)
    return -1;
  size_t w = 0;
  for (size_t i = 0; i < len; i++)
    if (i == 0 || norm[i - 1] == ' ')
      start[w++] = i;
  start[w] = len + 1; /* one past the space after the last word */
  size_t g = nw < 3 ? 1 : 3;
  for (size_t i = 0; i + g <= nw; i++) {
    uint64_t h = 1469598103934665603ull;
    for (size_t p = start[i]; p < start[i + g] - 1; p++) {
      h ^= (unsigned char)norm[p];
      h *= 1099511628211ull;
    }
    s->h[s->n++] = h;
  }
  qsort(s->h, s->n, sizeof(uint64_t), cmp_u64);
  size_t u = 0;
  for (size_t i = 0; i < s->n; i++)
    if (u == 0 || s->h[u - 1] != s->h[i])
      s->h[u++] = s->h[i];
  s->n = u;
  return 0;
}

static double jaccard(const shingles *x, const shingles *y) {
  size_t i = 0, j = 0, inter = 0;
  while (i < x->n && j < y->n) {
    if (x->h[i] == y->h[j]) {
      inter++;
      i++;
      j++;
    } else if (x->h[i] < y->h[j]) {
      i++;
    } else {
      j++;
    }
  }
  size_t uni = x->n + y->n - inter;
  return uni ? (double)inter / (double)uni : 1.0;
}

/* ---- assembly -------------------------------------------------------- */

typedef struct kept {
  int rank;         /* index into in->chunks */
  const char *text; /* possibly cut */
} kept;

static char *render_system(rag_arena *a, const char *sys, const kept *k,
                           size_t nk, const llm_prompt_chunk *chunks) {
  rag_buf b;
  rag_buf_init(&b, 0);
  rag_status rc = rag_buf_puts(&b, sys);
  if (!rc)
    rc = rag_buf_puts(&b, "\n\nSources:\n\n");
  if (!rc && nk == 0)
    rc = rag_buf_puts(&b, "(no sources were found)\n");
  for (size_t i = 0; !rc && i < nk; i++) {
    const char *t = chunks[k[i].rank].title;
    rc = rag_buf_printf(&b, "[%zu] %s\n%s\n\n", i + 1,
                        t && *t ? t : "(untitled)", k[i].text);
  }
  char *r = rc ? NULL : rag_arena_strndup(a, b.data ? b.data : "", b.len);
  rag_buf_free(&b);
  return r;
}

/* Builds the message list for the current choice and counts it. */
static rag_status assemble(const llm_prompt_in *in, rag_arena *a,
                           const char *sys, const kept *k, size_t nk,
                           size_t hist_from, llm_prompt_out *out,
                           rag_err *err) {
  char *s = render_system(a, sys, k, nk, in->chunks);
  size_t n = 2 + (in->nhistory - hist_from);
  llm_msg *m = rag_arena_calloc(a, n, sizeof(*m));
  if (!s || !m)
    return rag_fail(err, RAG_NOMEM, "prompt: out of memory");
  size_t j = 0;
  m[j].role = "system";
  m[j++].content = s;
  for (size_t i = hist_from; i < in->nhistory; i++)
    m[j++] = in->history[i];
  m[j].role = "user";
  m[j++].content = in->question;
  out->msgs = m;
  out->nmsgs = j;
  out->tokens = llm_prompt_count_msgs(in->counter, m, j);
  return RAG_OK;
}

/* Index of the first history message kept after dropping the oldest turn
** starting at from: the turn's user message and the replies after it. */
static size_t drop_turn(const llm_prompt_in *in, size_t from) {
  size_t i = from + 1;
  while (i < in->nhistory && in->history[i].role &&
         strcmp(in->history[i].role, "user") != 0)
    i++;
  return i;
}

rag_status llm_prompt_build(const llm_prompt_in *in0, rag_arena *a,
                            llm_prompt_out *out, rag_err *err) {
  memset(out, 0, sizeof(*out));
  if (!in0->question)
    return rag_fail(err, RAG_BADARG, "prompt: no question");
  llm_prompt_in in = *in0;
  if (!in.counter)
    in.counter = rag_tokcount_estimate();
  const char *sys = in.system ? in.system : llm_prompt_default_system;
  int64_t margin = in.margin >= 0 ? in.margin : in.context_length / 50;
  if (in.margin < 0 && margin < LLM_PROMPT_MIN_MARGIN)
    margin = LLM_PROMPT_MIN_MARGIN;
  out->budget = (int64_t)in.context_length - in.max_output - margin;

  /* 1. Deduplicate, keeping the better-ranked copy. */
  kept *k = rag_arena_calloc(a, in.nchunks + 1, sizeof(*k));
  char **norm = rag_arena_calloc(a, in.nchunks + 1, sizeof(char *));
  shingles *sh = rag_arena_calloc(a, in.nchunks + 1, sizeof(*sh));
  if (!k || !norm || !sh)
    return rag_fail(err, RAG_NOMEM, "prompt: out of memory");
  size_t nk = 0;
  for (size_t i = 0; i < in.nchunks; i++) {
    const char *t = in.chunks[i].text ? in.chunks[i].text : "";
    char *nt = normalize(a, t);
    if (!nt || shingle(a, nt, &sh[nk]))
      return rag_fail(err, RAG_NOMEM, "prompt: out of memory");
    int dup = !*nt;
    for (size_t j = 0; j < nk && !dup; j++)
      dup = !strcmp(norm[j], nt) || jaccard(&sh[j], &sh[nk]) >= 0.9;
    if (dup) {
      out->dropped_duplicates++;
      continue;
    }
    norm[nk] = nt;
    k[nk].rank = (int)i;
    k[nk].text = t;
    nk++;
  }

  /* The fixed part must fit on its own. */
  size_t hist = 0;
  rag_status rc = assemble(&in, a, sys, k, 0, in.nhistory, out, err);
  if (rc)
    return rc;
  if (out->tokens > out->budget)
    return rag_fail(err, RAG_TOOBIG,
                    "prompt: the system prompt and question need %lld "
                    "tokens; the model leaves %lld (context %d - output %d "
                    "- margin %lld)",
                    (long long)out->tokens, (long long)out->budget,
                    in.context_length, in.max_output, (long long)margin);

  /* 2 and 3: drop the lowest-ranked chunks down to the best one, then the
  ** oldest history turns. */
  for (;;) {
    rc = assemble(&in, a, sys, k, nk, hist, out, err);
    if (rc || out->tokens <= out->budget)
      break;
    if (nk > 1) {
      nk--;
      out->dropped_chunks++;
    } else if (hist < in.nhistory) {
      size_t h = drop_turn(&in, hist);
      out->dropped_history += h - hist;
      hist = h;
    } else {
      break;
    }
  }
  /* 4. Cut the best chunk to what is left, or drop it. */
  while (!rc && out->tokens > out->budget && nk == 1) {
    size_t len = strlen(k[0].text);
    size_t full = rag_tokcount_count(in.counter, k[0].text, len);
    int64_t over = out->tokens - out->budget;
    size_t keep = (int64_t)full > over ? full - (size_t)over : 0;
    size_t end =
        keep ? rag_tokcount_prefix(in.counter, k[0].text, len, keep, NULL) : 0;
    if (end == 0 || end >= len) {
      nk = 0;
      out->dropped_chunks++;
    } else {
      k[0].text = rag_arena_strndup(a, k[0].text, end);
      if (!k[0].text)
        return rag_fail(err, RAG_NOMEM, "prompt: out of memory");
      out->truncated = 1;
    }
    rc = assemble(&in, a, sys, k, nk, hist, out, err);
  }
  if (rc)
    return rc;

  out->sources = rag_arena_calloc(a, nk + 1, sizeof(llm_source));
  out->source_rank = rag_arena_calloc(a, nk + 1, sizeof(int));
  if (!out->sources || !out->source_rank)
    return rag_fail(err, RAG_NOMEM, "prompt: out of memory");
  for (size_t i = 0; i < nk; i++) {
    out->sources[i].index = (int)i + 1;
    out->sources[i].title = in.chunks[k[i].rank].title;
    out->sources[i].text = k[i].text;
    out->source_rank[i] = k[i].rank;
  }
  out->nsources = nk;
  return RAG_OK;
}
