# index/kb_vec: FAISS index over our C API, its file, rebuilds from SQLite.
rag_add_test(NAME test_kb_vec SOURCES test_kb_vec.c LIBS rag_index)
# index/faiss_simd: AVX2 flat storage gives FAISS results; files stay stock.
rag_add_test(NAME test_faiss_simd SOURCES test_faiss_simd.c LIBS rag_index)
