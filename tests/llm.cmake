# Providers/models config (core) and the LLM providers.
rag_add_test(NAME test_models SOURCES test_models.c LIBS rag_core)
# test_llm runs the remote providers against the fake HTTP server.
if(TARGET rag_fake_http AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_llm.c)
  rag_add_test(NAME test_llm SOURCES test_llm.c LIBS rag_llm rag_fake_http
               TIMEOUT 120)
endif()
