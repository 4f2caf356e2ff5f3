/* core/rag_termstats.c -- Corpus term statistics: an open-addressing hash
** map from 64-bit term keys to document frequencies.
**
** The map uses linear probing with backward-shift deletion, so it needs no
** tombstones: a slot is empty exactly when its df is 0, and a key whose df
** falls to 0 is removed at once. Lookups therefore stop at the first empty
** slot and never degrade after many add/remove cycles.
**
** Serialized form (little-endian):
**   0  "RGTS"            magic
**   4  u32 version (1)
**   8  i64 ndocs
**   16 i64 total length (terms over all documents)
**   24 u64 entry count
**   32 entries: u64 key, u32 df; sorted by key, so equal statistics give
**      byte-identical blobs
**   .. u64 rag_hash64 of every byte before it (seed TS_SEED) */
#include "core/rag_termstats.h"

#include "core/rag_hash.h"
#include "core/rag_tok.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TS_MAGIC "RGTS"
#define TS_VERSION 1u
#define TS_SEED 0x7465726d73746174ULL     /* "termstat" */
#define TS_KEY_SEED 0x72616774656b6579ULL /* "ragtekey": term keys */
#define TS_HEADER 32
#define TS_ENTRY 12

typedef struct {
  uint64_t key;
  uint32_t df; /* 0 = empty slot */
} slot;

struct rag_termstats {
  slot *slots;
  size_t cap; /* power of two, or 0 before the first insert */
  size_t count;
  int64_t ndocs;
  int64_t total; /* sum of document lengths in terms */
};

rag_termstats *rag_termstats_new(void) {
  return calloc(1, sizeof(rag_termstats));
}

void rag_termstats_free(rag_termstats *ts) {
  if (!ts)
    return;
  free(ts->slots);
  free(ts);
}

void rag_termstats_clear(rag_termstats *ts) {
  if (!ts)
    return;
  free(ts->slots);
  memset(ts, 0, sizeof(*ts));
}

uint64_t rag_termstats_key(const char *term, size_t len) {
  return rag_hash64(term, len, TS_KEY_SEED);
}

uint64_t rag_termstats_bigram_key(const char *a, size_t alen, const char *b,
                                  size_t blen) {
  /* Terms are at most RAG_TOK_MAX bytes; longer inputs are cut so the key
  ** is always computed from the same bounded buffer. */
  char buf[2 * RAG_TOK_MAX + 1];
  if (alen > RAG_TOK_MAX)
    alen = RAG_TOK_MAX;
  if (blen > RAG_TOK_MAX)
    blen = RAG_TOK_MAX;
  memcpy(buf, a, alen);
  buf[alen] = '\x1f';
  memcpy(buf + alen + 1, b, blen);
  return rag_hash64(buf, alen + 1 + blen, TS_KEY_SEED);
}

/* ---- hash map ----------------------------------------------------------- */

static size_t home(const rag_termstats *ts, uint64_t key) {
  /* Keys are already well mixed hashes; fold the high half in anyway so
  ** that small tables use more than the low bits. */
  return (size_t)(key ^ (key >> 32)) & (ts->cap - 1);
}

static slot *find(const rag_termstats *ts, uint64_t key) {
  if (ts->cap == 0)
    return NULL;
  for (size_t i = home(ts, key);; i = (i + 1) & (ts->cap - 1)) {
    slot *s = &ts->slots[i];
    if (s->df == 0)
      return NULL;
    if (s->key == key)
      return s;
  }
}

static rag_status grow(rag_termstats *ts) {
  size_t ncap = ts->cap ? ts->cap * 2 : 1024;
  slot *ns = calloc(ncap, sizeof(slot));
  if (!ns)
    return RAG_NOMEM;
  slot *old = ts->slots;
  size_t ocap = ts->cap;
  ts->slots = ns;
  ts->cap = ncap;
  for (size_t i = 0; i < ocap; i++) {
    if (old[i].df == 0)
      continue;
    size_t j = home(ts, old[i].key);
    while (ns[j].df)
      j = (j + 1) & (ncap - 1);
    ns[j] = old[i];
  }
  free(old);
  return RAG_OK;
}

/* Removes the slot at i and shifts later members of its probe run back, so
** that no lookup can stop early at the hole. */
static void remove_at(rag_termstats *ts, size_t i) {
  size_t mask = ts->cap - 1;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (ts->slots[j].df == 0)
      break;
    size_t h = home(ts, ts->slots[j].key);
    /* Move j into the hole at i unless its home lies cyclically in
    ** (i, j], where it would become unreachable. */
    int between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!between) {
      ts->slots[i] = ts->slots[j];
      i = j;
    }
  }
  ts->slots[i].df = 0;
  ts->slots[i].key = 0;
  ts->count--;
}

/* Adds sign to key's df. Removing an absent key is ignored (the document
** was never counted), so df never wraps around. Fails only when adding
** needs a growth that cannot be allocated. */
static rag_status bump(rag_termstats *ts, uint64_t key, int sign) {
  if (sign < 0) {
    if (ts->cap == 0)
      return RAG_OK;
    for (size_t i = home(ts, key);; i = (i + 1) & (ts->cap - 1)) {
      slot *s = &ts->slots[i];
      if (s->df == 0)
        return RAG_OK;
      if (s->key == key) {
        if (--s->df == 0)
          remove_at(ts, i);
        return RAG_OK;
      }
    }
  }
  if ((ts->count + 1) * 10 > ts->cap * 7) {
    rag_status rc = grow(ts);
    if (rc)
      return rc;
  }
  size_t i = home(ts, key);
  while (ts->slots[i].df && ts->slots[i].key != key)
    i = (i + 1) & (ts->cap - 1);
  if (ts->slots[i].df == 0) {
    ts->slots[i].key = key;
    ts->count++;
  }
  if (ts->slots[i].df < UINT32_MAX)
    ts->slots[i].df++;
  return RAG_OK;
}

/* ---- adding documents --------------------------------------------------- */

typedef struct {
  uint64_t *keys;
  size_t n, cap;
  int64_t terms;
  char prev[RAG_TOK_MAX + 1];
  size_t prevlen; /* 0: no previous term (start of document) */
  int failed;
} collect;

static int push(collect *c, uint64_t k) {
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 256;
    uint64_t *nk = realloc(c->keys, ncap * sizeof(*nk));
    if (!nk) {
      c->failed = 1;
      return 1;
    }
    c->keys = nk;
    c->cap = ncap;
  }
  c->keys[c->n++] = k;
  return 0;
}

static int on_term(void *ctx, const char *term, size_t len, size_t start,
                   size_t end) {
  (void)start;
  (void)end;
  collect *c = ctx;
  c->terms++;
  if (push(c, rag_termstats_key(term, len)))
    return 1;
  if (c->prevlen &&
      push(c, rag_termstats_bigram_key(c->prev, c->prevlen, term, len)))
    return 1;
  memcpy(c->prev, term, len);
  c->prevlen = len;
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

rag_status rag_termstats_add(rag_termstats *ts, const char *text, size_t n,
                             int sign) {
  if (!ts || (!text && n) || (sign != 1 && sign != -1))
    return RAG_BADARG;
  collect c = {0};
  rag_tok_each(text, n, RAG_TOK_STEM, on_term, &c);
  if (c.failed) {
    free(c.keys);
    return RAG_NOMEM;
  }
  /* Each distinct key counts once per document. */
  if (c.n > 1)
    qsort(c.keys, c.n, sizeof(uint64_t), cmp_u64);
  size_t distinct = 0;
  for (size_t i = 0; i < c.n; i++)
    if (i == 0 || c.keys[i] != c.keys[i - 1])
      c.keys[distinct++] = c.keys[i];
  /* Grow once up front, so that bump() cannot fail halfway and leave the
  ** document half counted. */
  while (sign > 0 && (ts->count + distinct + 1) * 10 > ts->cap * 7) {
    if (grow(ts)) {
      free(c.keys);
      return RAG_NOMEM;
    }
  }
  for (size_t i = 0; i < distinct; i++)
    bump(ts, c.keys[i], sign);
  free(c.keys);
  if (sign > 0) {
    ts->ndocs++;
    ts->total += c.terms;
  } else if (ts->ndocs > 0) {
    ts->ndocs--;
    ts->total = ts->total > c.terms ? ts->total - c.terms : 0;
  }
  return RAG_OK;
}

/* ---- queries ------------------------------------------------------------ */

uint32_t rag_termstats_df(const rag_termstats *ts, uint64_t key) {
  const slot *s = ts ? find(ts, key) : NULL;
  return s ? s->df : 0;
}

int64_t rag_termstats_ndocs(const rag_termstats *ts) {
  return ts ? ts->ndocs : 0;
}

double rag_termstats_avglen(const rag_termstats *ts) {
  if (!ts || ts->ndocs <= 0)
    return 0.0;
  return (double)ts->total / (double)ts->ndocs;
}

double rag_termstats_idf(const rag_termstats *ts, uint64_t key) {
  if (!ts || ts->ndocs <= 0)
    return 1.0;
  double N = (double)ts->ndocs;
  double df = (double)rag_termstats_df(ts, key);
  if (df > N)
    df = N;
  return log(1.0 + (N - df + 0.5) / (df + 0.5));
}

/* ---- serialization ------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static int cmp_slot(const void *a, const void *b) {
  return cmp_u64(&((const slot *)a)->key, &((const slot *)b)->key);
}

rag_status rag_termstats_save(const rag_termstats *ts, rag_buf *b) {
  if (!ts || !b)
    return RAG_BADARG;
  size_t n = ts->count;
  if (n > (SIZE_MAX - TS_HEADER - 8) / TS_ENTRY)
    return RAG_TOOBIG;
  size_t total = TS_HEADER + n * TS_ENTRY + 8;
  unsigned char *out = malloc(total);
  slot *sorted = malloc((n ? n : 1) * sizeof(slot));
  if (!out || !sorted) {
    free(out);
    free(sorted);
    return RAG_NOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < ts->cap; i++)
    if (ts->slots[i].df)
      sorted[k++] = ts->slots[i];
  qsort(sorted, n, sizeof(slot), cmp_slot);
  memcpy(out, TS_MAGIC, 4);
  put_u32(out + 4, TS_VERSION);
  put_u64(out + 8, (uint64_t)ts->ndocs);
  put_u64(out + 16, (uint64_t)ts->total);
  put_u64(out + 24, (uint64_t)n);
  unsigned char *p = out + TS_HEADER;
  for (size_t i = 0; i < n; i++, p += TS_ENTRY) {
    put_u64(p, sorted[i].key);
    put_u32(p + 8, sorted[i].df);
  }
  put_u64(p, rag_hash64(out, total - 8, TS_SEED));
  rag_status rc = rag_buf_append(b, out, total);
  free(out);
  free(sorted);
  return rc;
}

rag_status rag_termstats_load(rag_termstats *ts, const void *blob, size_t n,
                              rag_err *err) {
  if (!ts || (!blob && n))
    return rag_fail(err, RAG_BADARG, "termstats: load: NULL argument");
  rag_termstats_clear(ts);
  const unsigned char *p = blob;
  if (n < TS_HEADER + 8 || memcmp(p, TS_MAGIC, 4) != 0)
    return rag_fail(err, RAG_CORRUPT,
                    "termstats: not a statistics blob "
                    "(%zu bytes, bad magic or too short)",
                    n);
  uint32_t version = get_u32(p + 4);
  if (version != TS_VERSION)
    return rag_fail(err, RAG_CORRUPT, "termstats: unsupported version %u",
                    (unsigned)version);
  uint64_t count = get_u64(p + 24);
  if (count > (n - TS_HEADER - 8) / TS_ENTRY ||
      TS_HEADER + count * TS_ENTRY + 8 != n)
    return rag_fail(err, RAG_CORRUPT,
                    "termstats: entry count %llu does not match size %zu",
                    (unsigned long long)count, n);
  if (get_u64(p + n - 8) != rag_hash64(p, n - 8, TS_SEED))
    return rag_fail(err, RAG_CORRUPT, "termstats: checksum mismatch");
  int64_t ndocs = (int64_t)get_u64(p + 8);
  int64_t total = (int64_t)get_u64(p + 16);
  if (ndocs < 0 || total < 0)
    return rag_fail(err, RAG_CORRUPT, "termstats: negative counts");
  /* Size the table so that it stays under the 0.7 load factor. */
  size_t cap = 1024;
  while (cap * 7 < (count + 1) * 10)
    cap *= 2;
  rag_termstats tmp = {0};
  tmp.slots = calloc(cap, sizeof(slot));
  if (!tmp.slots)
    return rag_fail(err, RAG_NOMEM, "termstats: load: out of memory");
  tmp.cap = cap;
  const unsigned char *e = p + TS_HEADER;
  uint64_t prev = 0;
  for (uint64_t i = 0; i < count; i++, e += TS_ENTRY) {
    uint64_t key = get_u64(e);
    uint32_t df = get_u32(e + 8);
    if ((i > 0 && key <= prev) || df == 0 || (int64_t)df > ndocs) {
      free(tmp.slots);
      return rag_fail(err, RAG_CORRUPT,
                      "termstats: entry %llu is out of order or has df %u",
                      (unsigned long long)i, (unsigned)df);
    }
    prev = key;
    size_t j = home(&tmp, key);
    while (tmp.slots[j].df)
      j = (j + 1) & (cap - 1);
    tmp.slots[j].key = key;
    tmp.slots[j].df = df;
    tmp.count++;
  }
  tmp.ndocs = ndocs;
  tmp.total = total;
  *ts = tmp;
  return RAG_OK;
}
