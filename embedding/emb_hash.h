/* embedding/emb_hash.h -- The built-in "hash" embedder: signed feature
** hashing of stemmed word unigrams, word bigrams and character n-grams,
** weighted by sublinear tf and corpus IDF, L2-normalized. Needs no network
** and no model files.
** Spec options (after "hash:"), each overriding the config:
**   dim=N       vector dimension, 8..65536 (cfg embedding.dim)
**   ngram=A-B   character n-gram sizes (cfg embedding.char_ngram_min/max);
**               "ngram=0" turns character n-grams off
**   bigram=W    weight of the word-bigram family (default
**               EMB_HASH_W_BIGRAM from dim EMB_HASH_BIGRAM_MIN_DIM up,
**               0 below, where collisions cost more than bigrams give)
**   char=W      total weight of one word's character n-grams
**               (EMB_HASH_W_CHAR)
**   stop=both|query|none   where English stopwords are dropped (both)
** Corpus statistics (set_stats) weight query terms by IDF; document
** vectors do not depend on them, so they stay valid as the corpus grows.
** The model id ("hash-v2-d512-n3-5", plus every non-default knob) names
** everything that changes the vectors.
** Ownership: emb_open/emb_close as for every provider; set_stats borrows
**            the statistics.
** Errors:    bad options fail open() with RAG_BADARG naming the option;
**            embed() fails only with RAG_NOMEM.
** Threads:   embed() may run on many threads at once, and is itself
**            parallel over texts (OpenMP); results do not depend on the
**            thread count. set_stats() and writes to the statistics need
**            exclusive access. */
#ifndef EMB_HASH_H
#define EMB_HASH_H

#include "embedding/emb.h"

#define EMB_HASH_W_UNIGRAM 1.0       /* weight of a stemmed word */
#define EMB_HASH_W_BIGRAM 0.5        /* weight of two adjacent words ... */
#define EMB_HASH_BIGRAM_MIN_DIM 8192 /* ... from this dim up, else 0 */
#define EMB_HASH_W_CHAR 0.5          /* all character n-grams of one word */

/* The provider table entry (for emb_find). */
extern const emb_vtab emb_hash_vtab;

/* Option-string helper shared by the built-in providers. Reads the next
** "key=value" pair from *cursor (pairs separated by ','), copies both
** NUL-terminated into key[ksz] and val[vsz], and advances *cursor.
** Returns 1 for a pair, 0 at the end (NULL or empty text), -1 when the pair
** has no '=', an empty key, or does not fit. */
int emb_opt_next(const char **cursor, char *key, size_t ksz, char *val,
                 size_t vsz);

#endif
