# index/kb_vec: FAISS index over our C API, its file, rebuilds from SQLite.
rag_add_test(NAME test_kb_vec SOURCES test_kb_vec.c LIBS rag_index)
