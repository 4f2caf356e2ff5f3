# HTTP client (core/rag_http.h) and stream parsers (core/rag_stream.h).
rag_add_test(NAME test_stream SOURCES test_stream.c LIBS rag_core TIMEOUT 60)
rag_add_test(NAME test_http SOURCES test_http.c LIBS rag_core rag_fake_http
             TIMEOUT 120)
