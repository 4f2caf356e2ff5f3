# Tokenizer + term statistics (core) and embedding providers.
rag_add_test(NAME test_tok SOURCES test_tok.c LIBS rag_core)
rag_add_test(NAME test_emb SOURCES test_emb.c LIBS rag_embedding)
