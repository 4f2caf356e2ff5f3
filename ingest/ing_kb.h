/* ingest/ing_kb.h -- A knowledge base opened for ingest and search: the
** SQLite store, its term statistics, the embedding provider and the FAISS
** index of that provider's model, opened together and in the right order
** (statistics before the embedder uses them, the embedder's model id before
** the vector index it names).
** Embedders that learn from the corpus (emb_is_trainable: "lsa"): their
** state lives in the KB's meta table under "emb-state:<state_key>".
** ing_kb_open loads it; when the KB has chunks and no state yet, or more
** chunks than the provider's retrain threshold, it trains on (a sample of)
** the chunks, embeds every chunk with the new model, stores those vectors,
** saves the state, drops the previous model's vectors and FAISS file and
** opens the index of the new model id. ing_kb_flush does the same after a
** batch. Chunks that arrive before the first training (an empty KB) are
** embedded by the untrained generation-0 model (a random projection) and
** re-embedded by the first flush, which trains. A KB whose chunks lack a
** vector of the current model (ingested with another embedder) gets them
** at open.
** Ownership: ing_kb_open/ing_kb_close; the public fields are borrowed views
**            of handles the ing_kb owns. cfg is borrowed and must outlive
**            the ing_kb.
** Threads:   one thread at a time (it holds one SQLite connection). */
#ifndef ING_KB_H
#define ING_KB_H

#include "core/rag_cfg.h"
#include "core/rag_termstats.h"
#include "embedding/emb.h"
#include "index/kb.h"
#include "index/kb_lex.h"
#include "index/kb_vec.h"

typedef struct ing_kb {
  /* read-only: */
  kb *kb;
  emb_provider *emb;
  kb_vec *vec;
  rag_termstats *stats;
  const rag_cfg *cfg;
  /* private: */
  emb_provider *learner; /* emb as opened when it learns (callers may wrap
                         ** emb), else NULL */
  char *factory;         /* ing_kb_opts.factory copy, or NULL */
} ing_kb;

typedef struct ing_kb_opts {
  int create;           /* create the KB when missing (1) */
  const char *emb_spec; /* embedder spec; NULL = cfg->embedding.provider */
  const char *factory;  /* FAISS factory; NULL = cfg->index.factory */
} ing_kb_opts;

ing_kb_opts ing_kb_opts_default(void);

/* Opens the KB in dir. A KB that does not exist and create == 0 is
** RAG_NOTFOUND ("no knowledge base at DIR"). */
rag_status ing_kb_open(const rag_cfg *cfg, const char *dir,
                       const ing_kb_opts *o, ing_kb **out, rag_err *err);
void ing_kb_close(ing_kb *k); /* NULL is a no-op; does not save */

/* Persists the derived data (FAISS file, term statistics) as matching the
** KB's current generation, after retraining a learning embedder when the
** corpus has grown past its threshold (see above; k->vec then changes).
** Call after a batch of writes. */
rag_status ing_kb_flush(ing_kb *k, rag_err *err);

/* The in-memory full-text index of k's KB (index/kb_lex.h), reusing prev's
** unchanged segments (prev NULL: from scratch), when the config wants one
** (index.lexical_memory, and RAGD_LEX is not "0"); NULL otherwise, or when
** making it fails (logged): full text then comes from FTS5, with the same
** hits. For long-lived readers: ragd serve's snapshots, eval. */
kb_lex *ing_kb_lex(const ing_kb *k, const kb_lex *prev);

/* Trains k's learning embedder now (whatever its threshold says) and moves
** the KB to the new model as ing_kb_flush would. RAG_UNSUPPORTED when the
** embedder learns nothing, RAG_BADARG when the KB has no chunks. */
rag_status ing_kb_retrain(ing_kb *k, rag_err *err);

#endif
