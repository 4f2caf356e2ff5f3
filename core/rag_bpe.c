/* core/rag_bpe.c -- Exact BPE encoding for cl100k_base and o200k_base.
**
** Divisions of this file:
**   1. Rank table: loading ENC.tiktoken into one byte blob plus an
**      open-addressing hash map from byte strings to ranks.
**   2. Loading: ENC.json (pattern, special tokens), PCRE2 compile + JIT.
**   3. Byte pair merge: an array version for short pieces and a heap
**      version for long ones; both merge the lowest-ranked adjacent pair,
**      leftmost on ties, so both equal js-tiktoken's bytePairMerge.
**   4. Splitting: the pattern's matches over the whole text, in order, as
**      JavaScript's String.prototype.matchAll (unmatched bytes skipped).
**   5. Public encode/count, the rag_tokcount adapter, model helpers.
**
** The handle is immutable after load; every call keeps its scratch on the
** stack (short pieces) or in malloc'd memory it frees, and allocates its
** own PCRE2 match data, which is why one handle serves many threads. */
#include "core/rag_bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_utf8.h"

#define NO_RANK UINT32_MAX
/* Rank files are about 2-4 MB; the cap only guards against a wrong path
** pointing at something huge. */
#define MAX_FILE (64u << 20)
/* Pieces up to this many bytes merge in stack arrays (O(n^2) but tiny n);
** longer ones (long words, digit-free symbol runs, base64 blobs) use the
** O(n log n) heap so a 1 MB run of letters stays fast. */
#define SMALL_PIECE 128

typedef struct slot {
  uint32_t tag; /* high bits of the hash; 0 never used for a full slot */
  uint32_t idx; /* token index + 1; 0 = empty */
} slot;

struct rag_bpe {
  const char *name;     /* static: "cl100k_base" / "o200k_base" */
  unsigned char *blob;  /* all token byte strings, concatenated */
  uint32_t *tok_off;    /* token i: blob[tok_off[i] .. +tok_len[i]) */
  uint32_t *tok_len;    /* byte length of token i */
  uint32_t *tok_rank;   /* rank (= id) of token i */
  size_t ntok;          /* number of tokens */
  slot *slots;          /* hash map, capacity mask + 1 (power of two) */
  size_t mask;          /* capacity - 1 */
  pcre2_code *re;       /* pre-tokenizer; shared read-only (JIT too) */
  rag_tokcount counter; /* ctx = this handle */
};

/* ---- 1. Rank table ---------------------------------------------------- */

/* A fast hash for short byte strings: 8 bytes at a time, multiply-mix. */
static uint64_t hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 32;
  return h;
}

/* Rank of the byte string p[0..n), or NO_RANK. */
static uint32_t lookup(const rag_bpe *b, const unsigned char *p, size_t n) {
  uint64_t h = hash_bytes(p, n);
  uint32_t tag = (uint32_t)(h >> 32) | 1u;
  for (size_t i = (size_t)h & b->mask;; i = (i + 1) & b->mask) {
    const slot *s = &b->slots[i];
    if (!s->idx)
      return NO_RANK;
    if (s->tag == tag) {
      uint32_t t = s->idx - 1;
      if (b->tok_len[t] == n && memcmp(b->blob + b->tok_off[t], p, n) == 0)
        return b->tok_rank[t];
    }
  }
}

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Decodes base64 s[0..n) into out (room for n*3/4 bytes); returns the byte
** count or -1 when s is not base64. */
static long b64decode(const char *s, size_t n, unsigned char *out) {
  uint32_t acc = 0;
  int bits = 0;
  long o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '=')
      break;
    int v = b64val((unsigned char)s[i]);
    if (v < 0)
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return o;
}

static rag_status read_file(const char *path, char **out, size_t *len,
                            rag_err *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT)
      return rag_fail(err, RAG_NOTFOUND,
                      "bpe: %s missing: run scripts/fetch-tiktoken.sh", path);
    return rag_fail(err, RAG_IO, "bpe: open %s: %s", path, strerror(errno));
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    if (n == cap) {
      if (cap >= MAX_FILE) {
        free(buf);
        fclose(f);
        return rag_fail(err, RAG_TOOBIG, "bpe: %s exceeds %u bytes", path,
                        MAX_FILE);
      }
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf)
    return rag_fail(err, RAG_NOMEM, "bpe: reading %s: out of memory", path);
  if (bad) {
    free(buf);
    return rag_fail(err, RAG_IO, "bpe: read %s failed", path);
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return RAG_OK;
}

/* Parses "base64 rank\n" lines into b's token arrays and hash map. */
static rag_status load_ranks(rag_bpe *b, const char *path, rag_err *err) {
  char *text;
  size_t len;
  rag_status rc = read_file(path, &text, &len, err);
  if (rc)
    return rc;
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  size_t cap = 16;
  while (cap < lines * 2 + 2)
    cap *= 2;
  b->blob = malloc(len / 4 * 3 + 4);
  b->tok_off = malloc((lines + 1) * sizeof(uint32_t));
  b->tok_len = malloc((lines + 1) * sizeof(uint32_t));
  b->tok_rank = malloc((lines + 1) * sizeof(uint32_t));
  b->slots = calloc(cap, sizeof(slot));
  b->mask = cap - 1;
  if (!b->blob || !b->tok_off || !b->tok_len || !b->tok_rank || !b->slots) {
    free(text);
    return rag_fail(err, RAG_NOMEM, "bpe: out of memory loading %s", path);
  }
  size_t used = 0, lineno = 0;
  for (char *p = text; p < text + len; lineno++) {
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    char *end = nl ? nl : text + len;
    char *sp = memchr(p, ' ', (size_t)(end - p));
    if (end == p) { /* blank line */
      p = end + 1;
      continue;
    }
    long nb = sp ? b64decode(p, (size_t)(sp - p), b->blob + used) : -1;
    uint32_t rank = 0;
    char *q = sp ? sp + 1 : end;
    if (q == end)
      nb = -1;
    for (; q < end && nb > 0; q++) {
      if (*q < '0' || *q > '9' || rank > NO_RANK / 10 - 1)
        nb = -1;
      else
        rank = rank * 10 + (uint32_t)(*q - '0');
    }
    if (nb <= 0) {
      free(text);
      return rag_fail(err, RAG_CORRUPT, "bpe: %s line %zu is not 'base64 rank'",
                      path, lineno + 1);
    }
    /* A later duplicate wins, as in js-tiktoken's Map.set. */
    const unsigned char *tokp = b->blob + used;
    uint64_t h = hash_bytes(tokp, (size_t)nb);
    uint32_t tag = (uint32_t)(h >> 32) | 1u;
    size_t i = (size_t)h & b->mask;
    for (;; i = (i + 1) & b->mask) {
      slot *s = &b->slots[i];
      if (!s->idx) {
        s->tag = tag;
        s->idx = (uint32_t)b->ntok + 1;
        b->tok_off[b->ntok] = (uint32_t)used;
        b->tok_len[b->ntok] = (uint32_t)nb;
        b->tok_rank[b->ntok] = rank;
        b->ntok++;
        used += (size_t)nb;
        break;
      }
      uint32_t t = s->idx - 1;
      if (s->tag == tag && b->tok_len[t] == (uint32_t)nb &&
          memcmp(b->blob + b->tok_off[t], tokp, (size_t)nb) == 0) {
        b->tok_rank[t] = rank;
        break;
      }
    }
    p = end + 1;
  }
  free(text);
  /* Every single byte must be a token, or merging could leave bytes that
  ** have no id. */
  for (int c = 0; c < 256; c++) {
    unsigned char byte = (unsigned char)c;
    if (lookup(b, &byte, 1) == NO_RANK)
      return rag_fail(err, RAG_CORRUPT, "bpe: %s lacks the byte 0x%02x", path,
                      c);
  }
  return RAG_OK;
}

/* ---- 2. Loading --------------------------------------------------------- */

/* Reads the pattern from ENC.json and compiles it. pcre2_pattern (the
** converter's expansion of pat_str into explicit classes, see
** scripts/tiktoken-convert.mjs) is preferred; pat_str as written, under
** PCRE2's own Unicode tables (UCP), is the fallback. */
static rag_status load_pattern(rag_bpe *b, const char *path, rag_err *err) {
  char *text;
  size_t len;
  rag_status rc = read_file(path, &text, &len, err);
  if (rc)
    return rc;
  const char *endp = NULL;
  cJSON *j = cJSON_ParseWithOpts(text, &endp, 0);
  if (!j) {
    rc = rag_fail(err, RAG_CORRUPT, "bpe: %s: bad JSON at byte %ld", path,
                  endp ? (long)(endp - text) : -1L);
    free(text);
    return rc;
  }
  const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pcre2_pattern");
  if (!cJSON_IsString(pat))
    pat = cJSON_GetObjectItemCaseSensitive(j, "pat_str");
  if (!cJSON_IsString(pat)) {
    cJSON_Delete(j);
    free(text);
    return rag_fail(err, RAG_CORRUPT, "bpe: %s has no pat_str", path);
  }
  int code = 0;
  PCRE2_SIZE off = 0;
  b->re = pcre2_compile((PCRE2_SPTR)pat->valuestring, PCRE2_ZERO_TERMINATED,
                        PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
  cJSON_Delete(j);
  free(text);
  if (!b->re) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(code, msg, sizeof(msg));
    return rag_fail(err, RAG_CORRUPT, "bpe: %s: pattern at %zu: %s", path,
                    (size_t)off, (const char *)msg);
  }
  /* JIT is an optimisation: where it is unavailable (or fails), the
  ** interpreter gives the same matches. */
  (void)pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE);
  return RAG_OK;
}

static size_t bpe_count_cb(const rag_tokcount *tc, const char *text, size_t n);
static size_t bpe_prefix_cb(const rag_tokcount *tc, const char *text, size_t n,
                            size_t max_tokens, size_t *ntok);

const char *rag_bpe_default_dir(void) {
  const char *d = getenv("RAGD_TIKTOKEN_DIR");
  return d && *d ? d : RAG_SOURCE_DIR "/data/tiktoken";
}

rag_status rag_bpe_load(const char *dir, const char *encoding, rag_bpe **out,
                        rag_err *err) {
  *out = NULL;
  static const char *const known[] = {"cl100k_base", "o200k_base"};
  const char *name = NULL;
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (encoding && strcmp(encoding, known[i]) == 0)
      name = known[i];
  if (!name)
    return rag_fail(err, RAG_BADARG,
                    "bpe: unknown encoding '%s' (cl100k_base, o200k_base)",
                    encoding ? encoding : "(null)");
  if (!dir)
    dir = rag_bpe_default_dir();
  rag_bpe *b = calloc(1, sizeof(*b));
  if (!b)
    return rag_fail(err, RAG_NOMEM, "bpe: out of memory");
  b->name = name;
  char path[4096];
  int w = snprintf(path, sizeof(path), "%s/%s.tiktoken", dir, name);
  rag_status rc = RAG_OK;
  if (w < 0 || (size_t)w >= sizeof(path))
    rc = rag_fail(err, RAG_BADARG, "bpe: directory name too long");
  if (!rc)
    rc = load_ranks(b, path, err);
  if (!rc) {
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    rc = load_pattern(b, path, err);
  }
  if (rc) {
    rag_bpe_free(b);
    return rc;
  }
  b->counter.version = 1;
  b->counter.name = name;
  b->counter.count = bpe_count_cb;
  b->counter.prefix = bpe_prefix_cb;
  b->counter.ctx = b;
  *out = b;
  return RAG_OK;
}

void rag_bpe_free(rag_bpe *b) {
  if (!b)
    return;
  pcre2_code_free(b->re);
  free(b->blob);
  free(b->tok_off);
  free(b->tok_len);
  free(b->tok_rank);
  free(b->slots);
  free(b);
}

const char *rag_bpe_name(const rag_bpe *b) {
  return b->name;
}

/* ---- 3. Byte pair merge ----------------------------------------------- */

/* Array merge (tiktoken's _byte_pair_merge): start[i] is where part i
** begins, rank[i] the rank of part i joined with part i+1. Writes the ids
** to out (NULL: count only) and returns how many. */
static size_t merge_small(const rag_bpe *b, const unsigned char *p, size_t n,
                          uint32_t *out) {
  uint32_t start[SMALL_PIECE + 1], rank[SMALL_PIECE + 1];
  size_t np = n; /* parts; start[np] == n is a sentinel */
  for (size_t i = 0; i <= n; i++)
    start[i] = (uint32_t)i;
  for (size_t i = 0; i + 1 < n; i++)
    rank[i] = lookup(b, p + i, 2);
  rank[n - 1] = NO_RANK;
  while (np > 1) {
    size_t best = 0;
    uint32_t min = NO_RANK;
    for (size_t i = 0; i + 1 < np; i++)
      if (rank[i] < min) {
        min = rank[i];
        best = i;
      }
    if (min == NO_RANK)
      break;
    /* Join parts best and best+1, then re-rank the pairs that changed:
    ** (best, best+2) and (best-1, best). */
    memmove(start + best + 1, start + best + 2,
            (np - best - 1) * sizeof(uint32_t));
    memmove(rank + best + 1, rank + best + 2,
            (np - best - 2) * sizeof(uint32_t));
    np--;
    rank[best] = best + 2 <= np
                     ? lookup(b, p + start[best], start[best + 2] - start[best])
                     : NO_RANK;
    if (best > 0)
      rank[best - 1] =
          lookup(b, p + start[best - 1], start[best + 1] - start[best - 1]);
  }
  if (out)
    for (size_t i = 0; i < np; i++)
      out[i] = lookup(b, p + start[i], start[i + 1] - start[i]);
  return np;
}

/* Min-heap of (rank << 32 | start): the top is the lowest rank, and among
** equal ranks the leftmost pair, exactly the array version's choice. */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
  size_t i = (*n)++;
  while (i > 0 && h[(i - 1) / 2] > v) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
  uint64_t top = h[0], v = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && h[c + 1] < h[c])
      c++;
    if (h[c] >= v)
      break;
    h[i] = h[c];
    i = c;
  }
  if (*n)
    h[i] = v;
  return top;
}

/* Heap merge for long pieces: parts form a linked list by start offset
** (nxt/prv), rank[i] is the rank of the pair starting at part i. Stale
** heap entries are skipped: a pair's rank only changes when its extent
** grows, and a longer string has a different rank. Returns the id count,
** or SIZE_MAX on allocation failure. */
static size_t merge_large(const rag_bpe *b, const unsigned char *p, size_t n,
                          uint32_t *out) {
  uint32_t *nxt = malloc((n + 1) * sizeof(uint32_t));
  uint32_t *prv = malloc((n + 1) * sizeof(uint32_t));
  uint32_t *rank = malloc((n + 1) * sizeof(uint32_t));
  uint64_t *heap = malloc(3 * n * sizeof(uint64_t));
  size_t nh = 0, np = n;
  if (!nxt || !prv || !rank || !heap) {
    np = SIZE_MAX;
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    nxt[i] = (uint32_t)i + 1;
    prv[i] = (uint32_t)i - 1;
    rank[i] = i + 1 < n ? lookup(b, p + i, 2) : NO_RANK;
    if (rank[i] != NO_RANK)
      heap_push(heap, &nh, (uint64_t)rank[i] << 32 | i);
  }
  while (nh) {
    uint64_t top = heap_pop(heap, &nh);
    uint32_t i = (uint32_t)top, r = (uint32_t)(top >> 32);
    if (rank[i] != r)
      continue; /* stale, or part i was absorbed (rank set to NO_RANK) */
    uint32_t j = nxt[i];
    rank[j] = NO_RANK;
    nxt[i] = nxt[j];
    if (nxt[j] < n)
      prv[nxt[j]] = i;
    np--;
    rank[i] = nxt[i] < n ? lookup(b, p + i, nxt[nxt[i]] - i) : NO_RANK;
    if (rank[i] != NO_RANK)
      heap_push(heap, &nh, (uint64_t)rank[i] << 32 | i);
    if (i > 0) {
      uint32_t h = prv[i];
      rank[h] = lookup(b, p + h, nxt[i] - h);
      if (rank[h] != NO_RANK)
        heap_push(heap, &nh, (uint64_t)rank[h] << 32 | h);
    }
  }
  if (out) {
    size_t k = 0;
    for (uint32_t i = 0; i < n; i = nxt[i])
      out[k++] = lookup(b, p + i, nxt[i] - i);
  }
done:
  free(nxt);
  free(prv);
  free(rank);
  free(heap);
  return np;
}

/* Ids of one piece into out (room for n ids; NULL: count only). Returns
** the count, or SIZE_MAX on allocation failure. */
static size_t encode_piece(const rag_bpe *b, const unsigned char *p, size_t n,
                           uint32_t *out) {
  uint32_t r = lookup(b, p, n);
  if (r != NO_RANK) { /* the whole piece is a token: the common case */
    if (out)
      out[0] = r;
    return 1;
  }
  return n <= SMALL_PIECE ? merge_small(b, p, n, out)
                          : merge_large(b, p, n, out);
}

/* ---- 4. Splitting ------------------------------------------------------ */

/* Valid UTF-8 view of the caller's text: the text itself when it is
** valid, else a copy with each maximal invalid subpart replaced by U+FFFD.
** NUL bytes stay (tiktoken encodes them; rag_utf8 calls them invalid), so
** only the NUL-free segments that contain invalid bytes are repaired. */
typedef struct view {
  const unsigned char *s;
  size_t n;
  char *owned; /* NULL when s is the caller's text */
} view;

static rag_status make_view(const char *text, size_t n, view *v, rag_err *err) {
  v->s = (const unsigned char *)text;
  v->n = n;
  v->owned = NULL;
  size_t bad = rag_utf8_first_invalid(text, n);
  if (bad == n)
    return RAG_OK;
  size_t cap = n * 3 + 1, len = 0, pos = 0;
  char *o = n < SIZE_MAX / 3 ? malloc(cap) : NULL;
  if (!o)
    return rag_fail(err, RAG_NOMEM, "bpe: out of memory");
  while (pos < n) {
    const char *nul = memchr(text + pos, '\0', n - pos);
    size_t end = nul ? (size_t)(nul - text) : n;
    if (rag_utf8_valid(text + pos, end - pos)) {
      memcpy(o + len, text + pos, end - pos);
      len += end - pos;
    } else {
      char *fixed;
      size_t flen;
      if (rag_utf8_repair(text + pos, end - pos, &fixed, &flen, NULL)) {
        free(o);
        return rag_fail(err, RAG_NOMEM, "bpe: out of memory");
      }
      memcpy(o + len, fixed, flen);
      len += flen;
      free(fixed);
    }
    if (nul)
      o[len++] = '\0';
    pos = end + (nul != NULL);
  }
  v->s = (const unsigned char *)o;
  v->n = len;
  v->owned = o;
  return RAG_OK;
}

/* Iterates the pattern's matches of v, like matchAll: each call sets
** [*start, *end) to the next piece and returns 1; 0 at the end; -1 on a
** PCRE2 error (err set). */
typedef struct splitter {
  const rag_bpe *b;
  const view *v;
  size_t pos;
  pcre2_match_data *md;
} splitter;

static int next_piece(splitter *sp, size_t *start, size_t *end, rag_err *err) {
  while (sp->pos < sp->v->n) {
    int rc = pcre2_match(sp->b->re, sp->v->s, sp->v->n, sp->pos,
                         PCRE2_NO_UTF_CHECK, sp->md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* retry with the interpreter */
      rc = pcre2_match(sp->b->re, sp->v->s, sp->v->n, sp->pos,
                       PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, sp->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) {
      sp->pos = sp->v->n;
      return 0;
    }
    if (rc < 0) {
      PCRE2_UCHAR msg[160];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      rag_fail(err, RAG_IO, "bpe: pattern match at byte %zu: %s", sp->pos,
               (const char *)msg);
      return -1;
    }
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sp->md);
    if (ov[1] == ov[0]) {
      /* An empty match yields no piece; step one code point, as
      ** JavaScript's matchAll does in unicode mode. */
      size_t step = rag_utf8_decode((const char *)sp->v->s + ov[0],
                                    sp->v->n - ov[0], NULL);
      sp->pos = ov[0] + (step ? step : 1);
      continue;
    }
    *start = ov[0];
    *end = ov[1];
    sp->pos = ov[1];
    return 1;
  }
  return 0;
}

static rag_status splitter_init(splitter *sp, const rag_bpe *b, const view *v,
                                rag_err *err) {
  sp->b = b;
  sp->v = v;
  sp->pos = 0;
  sp->md = pcre2_match_data_create_from_pattern(b->re, NULL);
  return sp->md ? RAG_OK : rag_fail(err, RAG_NOMEM, "bpe: out of memory");
}

/* ---- 5. Public functions ---------------------------------------------- */

/* Shared body of encode (ids != NULL) and count. */
static rag_status run(const rag_bpe *b, const char *text, size_t n,
                      uint32_t **ids, size_t *nids, rag_err *err) {
  *nids = 0;
  if (ids)
    *ids = NULL;
  if (n == 0)
    return RAG_OK;
  /* Merge offsets are 32-bit; 4 GB of text is not a prompt. */
  if (n > UINT32_MAX / 4)
    return rag_fail(err, RAG_TOOBIG, "bpe: %zu bytes is over 1 GB", n);
  view v;
  rag_status rc = make_view(text, n, &v, err);
  if (rc)
    return rc;
  splitter sp;
  rc = splitter_init(&sp, b, &v, err);
  /* Every piece yields at most one id per byte, so v.n ids always fit. */
  uint32_t *out = NULL;
  if (!rc && ids) {
    out = malloc(v.n * sizeof(uint32_t));
    if (!out)
      rc = rag_fail(err, RAG_NOMEM, "bpe: out of memory for %zu ids", v.n);
  }
  size_t total = 0, s, e;
  int more;
  while (!rc && (more = next_piece(&sp, &s, &e, err)) != 0) {
    if (more < 0) {
      rc = RAG_IO;
      break;
    }
    size_t k = encode_piece(b, v.s + s, e - s, out ? out + total : NULL);
    if (k == SIZE_MAX)
      rc = rag_fail(err, RAG_NOMEM, "bpe: out of memory");
    else
      total += k;
  }
  pcre2_match_data_free(sp.md);
  free(v.owned);
  if (rc) {
    free(out);
    return rc;
  }
  if (ids) {
    uint32_t *shrunk = realloc(out, (total ? total : 1) * sizeof(uint32_t));
    *ids = shrunk ? shrunk : out;
  }
  *nids = total;
  return RAG_OK;
}

rag_status rag_bpe_encode(const rag_bpe *b, const char *text, size_t n,
                          uint32_t **ids, size_t *nids, rag_err *err) {
  return run(b, text, n, ids, nids, err);
}

rag_status rag_bpe_count(const rag_bpe *b, const char *text, size_t n,
                         size_t *count, rag_err *err) {
  return run(b, text, n, NULL, count, err);
}

const rag_tokcount *rag_bpe_tokcount(const rag_bpe *b) {
  return b ? &b->counter : NULL;
}

static size_t bpe_count_cb(const rag_tokcount *tc, const char *text, size_t n) {
  size_t c;
  rag_err e;
  rag_err_clear(&e);
  return rag_bpe_count(tc->ctx, text, n, &c, &e) ? n : c;
}

/* Largest code point boundary e in (lo, hi] with count(text[0..e)) <=
** max_tokens, or lo when there is none; assumes counts grow with length,
** which BPE does not promise but nearly always gives. */
static size_t search_cut(const rag_tokcount *tc, const char *text, size_t lo,
                         size_t hi, size_t max_tokens, size_t *ntok) {
  size_t best = lo;
  while (lo < hi) {
    size_t mid = rag_utf8_floor(text, hi, lo + (hi - lo + 1) / 2);
    if (mid <= lo) {
      size_t step = rag_utf8_decode(text + lo, hi - lo, NULL);
      mid = lo + (step ? step : 1);
    }
    size_t t = bpe_count_cb(tc, text, mid);
    if (t <= max_tokens) {
      best = lo = mid;
      *ntok = t;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/* Walks the pieces and stops before the first one that does not fit. A
** piece's ids depend only on the piece, and the pattern splits a prefix
** ending at a piece boundary the same way as the whole text (its only
** lookahead, \s+(?!\S), also succeeds at the end of the text), so the sum
** of the piece costs is the prefix's count. Invalid UTF-8 makes offsets in
** the repaired copy differ from the caller's: then binary search. */
static size_t bpe_prefix_cb(const rag_tokcount *tc, const char *text, size_t n,
                            size_t max_tokens, size_t *ntok) {
  const rag_bpe *b = tc->ctx;
  size_t dummy, total = 0, cut = 0;
  if (!ntok)
    ntok = &dummy;
  *ntok = 0;
  rag_err e;
  rag_err_clear(&e);
  view v = {(const unsigned char *)text, n, NULL};
  splitter sp;
  if (rag_utf8_first_invalid(text, n) != n || memchr(text, '\0', n) ||
      splitter_init(&sp, b, &v, &e))
    return search_cut(tc, text, 0, n, max_tokens, ntok);
  size_t s = 0, end = 0;
  int more;
  while ((more = next_piece(&sp, &s, &end, &e)) > 0) {
    size_t k = encode_piece(b, v.s + s, end - s, NULL);
    if (k == SIZE_MAX || total + k > max_tokens)
      break;
    total += k;
    cut = end;
  }
  pcre2_match_data_free(sp.md);
  if (more == 0) {
    *ntok = total;
    return n;
  }
  if (more < 0 || (cut == 0 && s < n)) {
    /* A matching error, or the first piece alone is over budget: cut
    ** inside it, at a code point, by counting. */
    *ntok = 0;
    return search_cut(tc, text, 0, more < 0 ? n : end, max_tokens, ntok);
  }
  *ntok = total;
  return cut;
}

const char *rag_bpe_encoding_for_model(const char *model) {
  static const char *const o200k[] = {"gpt-4o",  "chatgpt-4o", "gpt-4.1",
                                      "gpt-4.5", "gpt-5",      "o1",
                                      "o3",      "o4",         "gpt-oss"};
  static const char *const cl100k[] = {
      "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada"};
  if (!model)
    return NULL;
  if (strncmp(model, "openai/", 7) == 0)
    model += 7;
  else if (strncmp(model, "azure/", 6) == 0)
    model += 6;
  /* o200k first: "gpt-4o" must not fall into cl100k's "gpt-4". */
  for (size_t i = 0; i < sizeof(o200k) / sizeof(o200k[0]); i++)
    if (strncmp(model, o200k[i], strlen(o200k[i])) == 0)
      return "o200k_base";
  for (size_t i = 0; i < sizeof(cl100k) / sizeof(cl100k[0]); i++)
    if (strncmp(model, cl100k[i], strlen(cl100k[i])) == 0)
      return "cl100k_base";
  return NULL;
}

size_t rag_bpe_chat_overhead(const char *model, size_t nmessages,
                             size_t nnames) {
  if (nnames > nmessages)
    nnames = nmessages;
  /* gpt-3.5-turbo-0301 framed each message as
  ** <|start|>{role/name}\n{content}<|end|>\n: 4 tokens, and a name
  ** replaced the role (-1). Later models: 3 per message, +1 per name. */
  if (model && strstr(model, "gpt-3.5-turbo-0301"))
    return 4 * nmessages - nnames + 3;
  return 3 * nmessages + nnames + 3;
}
