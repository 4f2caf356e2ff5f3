/* core/rag_tok.c -- Lexical tokenizer: UTF-8 decoding, case and diacritic
** folding, CJK single-character terms, English stopwords, Porter stemmer.
**
** Divisions of this file:
**   1. UTF-8 (from core/rag_utf8.h)
**   2. Character classes and folding tables
**   3. Stopwords
**   4. Porter stemmer (Martin Porter's 1980 algorithm, written after the
**      reference ANSI C version, with its two documented departures:
**      "bli" -> "ble" and "logi" -> "log", as FTS5's porter does)
**   5. rag_tok_each
**
** The tokenizer allocates nothing: every term is built in a stack buffer of
** RAG_TOK_MAX + 1 bytes, so it is safe on any thread and in signal-free
** leaf loops. */
#include "core/rag_tok.h"
#include "core/rag_utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- 1. UTF-8 ------------------------------------------------------------
** Decoding and encoding are core/rag_utf8.h's: an invalid byte decodes as
** length 0 and the tokenizer treats it as a separator. */

/* ---- 2. Character classes and folding ----------------------------------- */

enum { C_SEP, C_WORD, C_CJK, C_MARK };

/* Latin-1 Supplement U+00C0..U+00FF folded to ASCII; '*' is a separator
** (U+00D7 multiplication, U+00F7 division); digits index two-letter
** expansions in EXPAND. */
static const char LATIN1[65] = "aaaaaa0ceeeeiiii"
                               "dnooooo*ouuuuy12"
                               "aaaaaa0ceeeeiiii"
                               "dnooooo*ouuuuy1y";
/* Latin Extended-A U+0100..U+017F, two code points per case pair mostly;
** '3' is the ligature IJ, '4' is OE. */
static const char LATINA[129] = "aaaaaaccccccccdd"
                                "ddeeeeeeeeeegggg"
                                "gggghhhhiiiiiiii"
                                "ii33jjkkklllllll"
                                "lllnnnnnnnnnoooo"
                                "oo44rrrrrrssssss"
                                "ssttttttuuuuuuuu"
                                "uuuuwwyyyzzzzzzs";
static const char *const EXPAND[] = {"ae", "th", "ss", "ij", "oe"};

/* Scripts without case that are kept as words, unchanged, so that Hebrew,
** Arabic or Devanagari text still yields terms instead of vanishing. */
static const uint32_t KEEP[][2] = {
    {0x0180, 0x024F}, /* Latin Extended-B */
    {0x0531, 0x0587}, /* Armenian */
    {0x05D0, 0x05EA}, /* Hebrew letters */
    {0x0620, 0x064A}, /* Arabic letters */
    {0x0660, 0x0669}, /* Arabic-Indic digits */
    {0x0900, 0x0DFF}, /* Indic scripts */
    {0x0E01, 0x0E4E}, /* Thai */
    {0x10A0, 0x10FF}, /* Georgian */
    {0x1E00, 0x1EFF}, /* Latin Extended Additional */
};

static int is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x3040 && c <= 0x30FF) || /* Hiragana, Katakana */
         (c >= 0xAC00 && c <= 0xD7AF) || /* Hangul syllables */
         (c >= 0xF900 && c <= 0xFAFF) || /* CJK compatibility ideographs */
         (c >= 0xFF66 && c <= 0xFF9F) || /* halfwidth Katakana */
         (c >= 0x20000 && c <= 0x2FA1F); /* CJK extensions B.. */
}

/* Classifies c; for C_WORD writes its folded UTF-8 form to out (at most 4
** bytes) and its length to *olen. */
static int classify(uint32_t c, char *out, size_t *olen) {
  if (c < 0x80) {
    if (c >= 'A' && c <= 'Z')
      c += 32;
    else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      return C_SEP;
    out[0] = (char)c;
    *olen = 1;
    return C_WORD;
  }
  if (c >= 0x300 && c <= 0x36F)
    return C_MARK; /* combining diacritics: dropped, do not split */
  const char *s = NULL;
  char one[2] = {0, 0};
  if (c >= 0xC0 && c <= 0xFF) {
    one[0] = LATIN1[c - 0xC0];
    s = one;
  } else if (c >= 0x100 && c <= 0x17F) {
    one[0] = LATINA[c - 0x100];
    s = one;
  } else if (c == 0xAA || c == 0xBA) {
    one[0] = c == 0xAA ? 'a' : 'o'; /* feminine/masculine ordinals */
    s = one;
  } else if (c == 0xB5) {
    c = 0x3BC; /* micro sign is Greek mu */
  } else if (c >= 0xFF10 && c <= 0xFF5A) {
    /* Fullwidth forms: fold to ASCII and classify that. */
    uint32_t a = c - 0xFF10 + '0';
    if ((a >= '0' && a <= '9') || (a >= 'A' && a <= 'Z') ||
        (a >= 'a' && a <= 'z'))
      return classify(a, out, olen);
    return C_SEP;
  }
  if (s) {
    if (s[0] == '*')
      return C_SEP;
    if (s[0] >= '0' && s[0] <= '4')
      s = EXPAND[s[0] - '0'];
    *olen = strlen(s);
    memcpy(out, s, *olen);
    return C_WORD;
  }
  /* Greek: basic case folding (accented capitals map to accented small). */
  if (c >= 0x370 && c <= 0x3FF) {
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
      c += 0x20;
    else if (c == 0x386)
      c = 0x3AC;
    else if (c >= 0x388 && c <= 0x38A)
      c += 0x25;
    else if (c == 0x38C)
      c = 0x3CC;
    else if (c == 0x38E || c == 0x38F)
      c += 0x3F;
    else if (c < 0x386 || c == 0x387 || c == 0x3F6)
      return C_SEP; /* tonos marks, Greek question mark, symbols */
    *olen = rag_utf8_encode(c, out);
    return C_WORD;
  }
  /* Cyrillic: U+0400..U+04FF. */
  if (c >= 0x400 && c <= 0x4FF) {
    if (c <= 0x40F)
      c += 0x50;
    else if (c <= 0x42F)
      c += 0x20;
    else if (c >= 0x482 && c <= 0x489)
      return C_SEP; /* thousands sign, combining marks */
    else if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) ||
             (c >= 0x4D0 && c <= 0x4FF))
      c |= 1; /* even = capital, odd = small */
    else if (c == 0x4C0)
      c = 0x4CF;
    else if (c >= 0x4C1 && c <= 0x4CE && (c & 1))
      c += 1;
    *olen = rag_utf8_encode(c, out);
    return C_WORD;
  }
  if (is_cjk(c))
    return C_CJK;
  for (size_t i = 0; i < sizeof(KEEP) / sizeof(KEEP[0]); i++)
    if (c >= KEEP[i][0] && c <= KEEP[i][1]) {
      *olen = rag_utf8_encode(c, out);
      return C_WORD;
    }
  return C_SEP;
}

/* ---- 3. Stopwords ------------------------------------------------------- */

/* English function words, close to NLTK's list without the contraction
** fragments; sorted for bsearch. */
static const char *const STOP[] = {
    "a",       "about",  "above",   "after",      "again",    "against",
    "all",     "am",     "an",      "and",        "any",      "are",
    "as",      "at",     "be",      "because",    "been",     "before",
    "being",   "below",  "between", "both",       "but",      "by",
    "can",     "could",  "did",     "do",         "does",     "doing",
    "down",    "during", "each",    "few",        "for",      "from",
    "further", "had",    "has",     "have",       "having",   "he",
    "her",     "here",   "hers",    "herself",    "him",      "himself",
    "his",     "how",    "i",       "if",         "in",       "into",
    "is",      "it",     "its",     "itself",     "just",     "me",
    "more",    "most",   "my",      "myself",     "no",       "nor",
    "not",     "now",    "of",      "off",        "on",       "once",
    "only",    "or",     "other",   "our",        "ours",     "ourselves",
    "out",     "over",   "own",     "same",       "she",      "should",
    "so",      "some",   "such",    "than",       "that",     "the",
    "their",   "theirs", "them",    "themselves", "then",     "there",
    "these",   "they",   "this",    "those",      "through",  "to",
    "too",     "under",  "until",   "up",         "very",     "was",
    "we",      "were",   "what",    "when",       "where",    "which",
    "while",   "who",    "whom",    "why",        "will",     "with",
    "would",   "you",    "your",    "yours",      "yourself", "yourselves"};

typedef struct {
  const char *s;
  size_t n;
} span;

static int stop_cmp(const void *k, const void *e) {
  const span *key = k;
  const char *w = *(const char *const *)e;
  size_t wn = strlen(w);
  int r = memcmp(key->s, w, key->n < wn ? key->n : wn);
  if (r)
    return r;
  return key->n < wn ? -1 : key->n > wn;
}

int rag_tok_is_stopword(const char *term, size_t len) {
  if (!term || len == 0 || len > 10)
    return 0;
  span k = {term, len};
  return bsearch(&k, STOP, sizeof(STOP) / sizeof(STOP[0]), sizeof(STOP[0]),
                 stop_cmp) != NULL;
}

/* ---- 4. Porter stemmer -------------------------------------------------- */

/* b[0..k] is the word being stemmed (k is the index of the last letter);
** j marks the end of the stem when a suffix has matched. Names follow the
** reference implementation so the two can be compared line by line. */
typedef struct {
  char *b;
  int k, j;
} stemmer;

static int cons(const stemmer *z, int i) {
  switch (z->b[i]) {
  case 'a':
  case 'e':
  case 'i':
  case 'o':
  case 'u':
    return 0;
  case 'y':
    return i == 0 ? 1 : !cons(z, i - 1);
  default:
    return 1;
  }
}

/* Number of consonant sequences between 0 and j: [C](VC)^m[V]. */
static int m(const stemmer *z) {
  int n = 0, i = 0;
  for (;;) {
    if (i > z->j)
      return n;
    if (!cons(z, i))
      break;
    i++;
  }
  i++;
  for (;;) {
    for (;;) {
      if (i > z->j)
        return n;
      if (cons(z, i))
        break;
      i++;
    }
    i++;
    n++;
    for (;;) {
      if (i > z->j)
        return n;
      if (!cons(z, i))
        break;
      i++;
    }
    i++;
  }
}

static int vowelinstem(const stemmer *z) {
  for (int i = 0; i <= z->j; i++)
    if (!cons(z, i))
      return 1;
  return 0;
}

static int doublec(const stemmer *z, int j) {
  return j >= 1 && z->b[j] == z->b[j - 1] && cons(z, j);
}

/* consonant-vowel-consonant ending at i, the last not w, x or y: the
** condition for restoring an 'e' (hop -> hope) or keeping one. */
static int cvc(const stemmer *z, int i) {
  if (i < 2 || !cons(z, i) || cons(z, i - 1) || !cons(z, i - 2))
    return 0;
  int ch = z->b[i];
  return !(ch == 'w' || ch == 'x' || ch == 'y');
}

static int ends(stemmer *z, const char *s) {
  int len = (int)strlen(s);
  if (len > z->k + 1)
    return 0;
  if (memcmp(z->b + z->k - len + 1, s, (size_t)len) != 0)
    return 0;
  z->j = z->k - len;
  return 1;
}

/* Replaces b[j+1..k] by s. The word never grows past its original length:
** every replacement is shorter than its suffix, except "at" -> "ate" and
** friends, which follow the removal of a longer "ed" or "ing". */
static void setto(stemmer *z, const char *s) {
  int len = (int)strlen(s);
  memcpy(z->b + z->j + 1, s, (size_t)len);
  z->k = z->j + len;
}

static void r(stemmer *z, const char *s) {
  if (m(z) > 0)
    setto(z, s);
}

static void step1ab(stemmer *z) {
  char *b = z->b;
  if (b[z->k] == 's') {
    if (ends(z, "sses"))
      z->k -= 2;
    else if (ends(z, "ies"))
      setto(z, "i");
    else if (b[z->k - 1] != 's')
      z->k--;
  }
  if (ends(z, "eed")) {
    if (m(z) > 0)
      z->k--;
  } else if ((ends(z, "ed") || ends(z, "ing")) && vowelinstem(z)) {
    z->k = z->j;
    if (ends(z, "at"))
      setto(z, "ate");
    else if (ends(z, "bl"))
      setto(z, "ble");
    else if (ends(z, "iz"))
      setto(z, "ize");
    else if (doublec(z, z->k)) {
      z->k--;
      int ch = b[z->k];
      if (ch == 'l' || ch == 's' || ch == 'z')
        z->k++;
    } else if (m(z) == 1 && cvc(z, z->k)) {
      setto(z, "e");
    }
  }
}

static void step1c(stemmer *z) {
  if (ends(z, "y") && vowelinstem(z))
    z->b[z->k] = 'i';
}

/* Suffix rules as (suffix, replacement) pairs, tried in order; the first
** suffix that matches decides, whether or not m() > 0 allows the change. */
typedef struct {
  const char *from, *to;
} rule;

static int apply(stemmer *z, const rule *rs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ends(z, rs[i].from)) {
      r(z, rs[i].to);
      return 1;
    }
  return 0;
}

static void step2(stemmer *z) {
  static const rule R[] = {
      {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"},
      {"anci", "ance"},   {"izer", "ize"},    {"bli", "ble"},
      {"alli", "al"},     {"entli", "ent"},   {"eli", "e"},
      {"ousli", "ous"},   {"ization", "ize"}, {"ation", "ate"},
      {"ator", "ate"},    {"alism", "al"},    {"iveness", "ive"},
      {"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"},
      {"iviti", "ive"},   {"biliti", "ble"},  {"logi", "log"}};
  if (z->k < 1)
    return;
  /* The reference switches on the penultimate letter. Two suffixes with
  ** different penultimate letters cannot both match, so trying the table
  ** in order (grouped by that letter, reference order within a group)
  ** picks the same rule. */
  apply(z, R, sizeof(R) / sizeof(R[0]));
}

static void step3(stemmer *z) {
  static const rule R[] = {{"icate", "ic"}, {"ative", ""},  {"alize", "al"},
                           {"iciti", "ic"}, {"ical", "ic"}, {"ful", ""},
                           {"ness", ""}};
  apply(z, R, sizeof(R) / sizeof(R[0]));
}

static void step4(stemmer *z) {
  static const char *const S[] = {"al",   "ance", "ence", "er",    "ic",
                                  "able", "ible", "ant",  "ement", "ment",
                                  "ent",  "ion",  "ou",   "ism",   "ate",
                                  "iti",  "ous",  "ive",  "ize"};
  if (z->k < 1)
    return;
  size_t i;
  for (i = 0; i < sizeof(S) / sizeof(S[0]); i++) {
    if (!ends(z, S[i]))
      continue;
    /* "ion" counts only after s or t (adoption -> adopt, but not
    ** "onion"). */
    if (strcmp(S[i], "ion") == 0 &&
        !(z->j >= 0 && (z->b[z->j] == 's' || z->b[z->j] == 't')))
      return;
    break;
  }
  if (i == sizeof(S) / sizeof(S[0]))
    return;
  if (m(z) > 1)
    z->k = z->j;
}

static void step5(stemmer *z) {
  z->j = z->k;
  if (z->b[z->k] == 'e') {
    int a = m(z);
    if (a > 1 || (a == 1 && !cvc(z, z->k - 1)))
      z->k--;
  }
  if (z->b[z->k] == 'l' && doublec(z, z->k) && m(z) > 1)
    z->k--;
}

void rag_tok_porter(char *w, size_t *len) {
  /* Words of one or two letters are left alone (the reference's first
  ** departure), and so is anything that is not lowercase ASCII. */
  if (!w || !len || *len <= 2 || *len > 1000)
    return;
  for (size_t i = 0; i < *len; i++)
    if ((unsigned char)w[i] >= 0x80 || (w[i] >= 'A' && w[i] <= 'Z'))
      return;
  stemmer z = {w, (int)*len - 1, 0};
  step1ab(&z);
  if (z.k > 0) {
    step1c(&z);
    step2(&z);
    step3(&z);
    step4(&z);
    step5(&z);
  }
  size_t nl = (size_t)z.k + 1;
  if (nl < *len)
    w[nl] = '\0'; /* stemming never lengthens a word */
  *len = nl;
}

/* ---- 5. rag_tok_each ---------------------------------------------------- */

typedef struct {
  char buf[RAG_TOK_MAX + 1]; /* + NUL */
  size_t len;
  size_t start, end;
  int ascii; /* every byte < 0x80: eligible for the Porter stemmer */
  int full;  /* truncated: ignore the rest of the word */
} term;

/* Delivers t; returns non-zero when the callback asked to stop. */
static int emit(term *t, int flags, rag_tok_cb cb, void *ctx, size_t *count) {
  if (t->len == 0)
    return 0;
  t->buf[t->len] = '\0';
  if ((flags & RAG_TOK_NOSTOP) && rag_tok_is_stopword(t->buf, t->len))
    return 0;
  if ((flags & RAG_TOK_STEM) && t->ascii)
    rag_tok_porter(t->buf, &t->len);
  (*count)++;
  return cb ? cb(ctx, t->buf, t->len, t->start, t->end) : 0;
}

static void term_reset(term *t) {
  t->len = 0;
  t->ascii = 1;
  t->full = 0;
}

size_t rag_tok_each(const char *text, size_t n, int flags, rag_tok_cb cb,
                    void *ctx) {
  const unsigned char *s = (const unsigned char *)text;
  size_t count = 0, i = 0;
  term t;
  term_reset(&t);
  t.start = t.end = 0;
  if (!text)
    return 0;
  while (i < n) {
    uint32_t cp = 0;
    size_t l = rag_utf8_decode((const char *)s + i, n - i, &cp);
    char f[4];
    size_t fl = 0;
    int cls = l ? classify(cp, f, &fl) : C_SEP;
    if (l == 0)
      l = 1; /* invalid byte: a separator, resynchronize on the next */
    if (cls == C_MARK && t.len > 0) {
      t.end = i + l; /* a combining accent stays part of its word */
      i += l;
      continue;
    }
    if (cls != C_WORD && t.len > 0) {
      if (emit(&t, flags, cb, ctx, &count))
        return count;
      term_reset(&t);
    }
    if (cls == C_WORD) {
      if (t.len == 0)
        t.start = i;
      t.end = i + l;
      /* Truncate at a code point boundary: a folded character is either
      ** appended whole or not at all, and then the word is full. */
      if (!t.full && t.len + fl <= RAG_TOK_MAX) {
        memcpy(t.buf + t.len, f, fl);
        t.len += fl;
        if ((unsigned char)f[0] >= 0x80)
          t.ascii = 0;
      } else {
        t.full = 1;
      }
    } else if (cls == C_CJK) {
      t.start = i;
      t.end = i + l;
      memcpy(t.buf, s + i, l);
      t.len = l;
      t.ascii = 0;
      if (emit(&t, flags, cb, ctx, &count))
        return count;
      term_reset(&t);
    }
    i += l;
  }
  if (t.len > 0)
    emit(&t, flags, cb, ctx, &count);
  return count;
}
