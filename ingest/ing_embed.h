/* ingest/ing_embed.h -- The cache-aware embedding step of ingest: texts
** whose vector the KB already holds for this embedding model are not sent
** to the provider again.
** Key: (emb_model(emb), sha256 hex of the exact text). Only remote
** providers (emb_is_remote) use the cache: local ones such as "hash" are
** cheaper to recompute than to look up. EMB_QUERY texts bypass it too:
** queries run on read-only handles on many threads, where cache writes
** would only contend with the ingest writer.
** Ownership: vecs is caller-owned (n * emb_dim(emb) floats).
** Errors:    the provider's or the cache's status and message.
** Threads:   one thread at a time per kb handle and per provider. */
#ifndef ING_EMBED_H
#define ING_EMBED_H

#include "embedding/emb.h"
#include "index/kb.h"

/* Embeds texts[0..n) into vecs (L2-normalized rows of emb_dim(emb)
** floats), looking them up in k's cache first and storing the vectors of
** the misses (one transaction). Texts repeated within the call are sent
** once. *cache_hits (may be NULL) gets the number of texts served from
** the cache. k may be NULL: no cache. */
rag_status ing_embed_texts(kb *k, emb_provider *emb, const char *const *texts,
                           size_t n, emb_kind kind, float *vecs,
                           size_t *cache_hits, rag_err *err);

#endif
