/* index/kb_stats.h -- Persisted corpus term statistics of a KB.
** The statistics (core/rag_termstats.h) are derived data like the FAISS
** index: kept as a blob in the meta table with the generation they match,
** and rebuilt from the chunk texts in SQLite when missing, stale (their
** generation differs from the KB's, e.g. after a crash mid-ingest) or
** corrupt, with a log line saying so.
** Ownership: kb_stats_load returns a new rag_termstats (rag_termstats_free).
** Threads:   as kb.h (one kb handle per thread). */
#ifndef KB_STATS_H
#define KB_STATS_H

#include "core/rag_termstats.h"
#include "index/kb.h"

#define KB_STATS_KEY "termstats"

/* Loads the statistics, rebuilding them when needed. *rebuilt (may be NULL)
** is set to 1 when they were rebuilt. */
rag_status kb_stats_load(kb *k, rag_termstats **out, int *rebuilt,
                         rag_err *err);
/* Saves ts as matching generation gen. */
rag_status kb_stats_save(kb *k, const rag_termstats *ts, int64_t gen,
                         rag_err *err);
/* Recomputes ts from every chunk text in the KB (ts is cleared first). */
rag_status kb_stats_rebuild(kb *k, rag_termstats *ts, rag_err *err);

#endif
