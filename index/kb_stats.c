/* index/kb_stats.c -- Load, save and rebuild the KB's term statistics. */
#include "index/kb_stats.h"

#include "core/rag_buf.h"
#include "core/rag_log.h"

#include <string.h>

static int add_text(void *ctx, int64_t chunk_id, const char *text, size_t len) {
  (void)chunk_id;
  return rag_termstats_add(ctx, text, len, +1) != RAG_OK;
}

rag_status kb_stats_rebuild(kb *k, rag_termstats *ts, rag_err *err) {
  rag_termstats_clear(ts);
  rag_status rc = kb_chunk_texts_each(k, add_text, ts, err);
  if (rc)
    return rc;
  return RAG_OK;
}

rag_status kb_stats_load(kb *k, rag_termstats **out, int *rebuilt,
                         rag_err *err) {
  *out = NULL;
  if (rebuilt)
    *rebuilt = 0;
  rag_termstats *ts = rag_termstats_new();
  if (!ts)
    return rag_fail(err, RAG_NOMEM, "termstats: out of memory");
  rag_arena *a = rag_arena_new(0);
  if (!a) {
    rag_termstats_free(ts);
    return rag_fail(err, RAG_NOMEM, "termstats: out of memory");
  }
  int64_t gen = 0, blob_gen = -1;
  void *blob = NULL;
  size_t len = 0;
  int found = 0;
  const char *why = NULL;
  rag_status rc = kb_generation(k, &gen, err);
  if (!rc)
    rc = kb_meta_get(k, KB_STATS_KEY, a, &blob, &len, &blob_gen, &found, err);
  if (rc)
    goto fail;
  if (!found) {
    why = "missing";
  } else if (blob_gen != gen) {
    why = "stale";
  } else {
    rag_err lerr;
    rag_err_clear(&lerr);
    if (rag_termstats_load(ts, blob, len, &lerr) != RAG_OK) {
      rag_log(RAG_LOG_WARN, "term statistics corrupt (%s)", lerr.msg);
      why = "corrupt";
    }
  }
  if (why) {
    /* An empty KB needs no rebuild and no log line. */
    kb_counts c;
    rc = kb_count(k, NULL, &c, err);
    if (rc)
      goto fail;
    if (c.chunks > 0)
      rag_log(RAG_LOG_INFO,
              "term statistics %s (gen %lld, kb gen %lld): rebuilding from "
              "%lld chunks",
              why, (long long)blob_gen, (long long)gen, (long long)c.chunks);
    rc = kb_stats_rebuild(k, ts, err);
    if (rc)
      goto fail;
    if (rebuilt)
      *rebuilt = 1;
    /* Persist so the next open is fast; a read-only KB only logs. */
    rag_err serr;
    rag_err_clear(&serr);
    if (kb_stats_save(k, ts, gen, &serr) != RAG_OK)
      rag_log(RAG_LOG_DEBUG, "term statistics not saved: %s", serr.msg);
  }
  rag_arena_free(a);
  *out = ts;
  return RAG_OK;
fail:
  rag_arena_free(a);
  rag_termstats_free(ts);
  return rc;
}

rag_status kb_stats_save(kb *k, const rag_termstats *ts, int64_t gen,
                         rag_err *err) {
  rag_buf b;
  rag_buf_init(&b, 0);
  rag_status rc = rag_termstats_save(ts, &b);
  if (rc) {
    rag_buf_free(&b);
    return rag_fail(err, rc, "termstats: serialize failed");
  }
  rc = kb_meta_put(k, KB_STATS_KEY, b.data, b.len, gen, err);
  rag_buf_free(&b);
  return rc;
}
