# Remote embedding providers (openai, azure, ollama) and remote rerankers
# (cohere, tei) against the fake HTTP server; the embedding cache and the
# cache-aware ingest embedding step.
rag_add_test(NAME test_remote_emb SOURCES test_remote_emb.c
             LIBS rag_embedding rag_rerank rag_fake_http TIMEOUT 120)
rag_add_test(NAME test_emb_cache SOURCES test_emb_cache.c
             LIBS rag_ingest rag_fake_http TIMEOUT 120)
