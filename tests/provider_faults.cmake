# Provider faults (every remote provider kind against refused connections,
# cut replies, garbage, wrong schemas, endless and stalled streams, 10 MB
# replies; the router's fallback) and security checks (keys never echoed,
# app-key scoping on every endpoint, upload paths, constant-time keys).
rag_add_test(NAME test_provider_faults SOURCES test_provider_faults.c
             LIBS rag_llm rag_embedding rag_rerank rag_fake_http
             TIMEOUT 120)
rag_add_test(NAME test_security SOURCES test_security.c
             LIBS rag_api rag_fake_http CURL::libcurl PkgConfig::CJSON
             TIMEOUT 180)
add_dependencies(test_security ragd)
