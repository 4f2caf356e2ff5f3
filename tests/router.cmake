# The model gateway's routing half: router, limits, breaker, usage, prompt.
rag_add_test(NAME test_router SOURCES test_router.c
             LIBS rag_llm rag_fake_http SQLite::SQLite3)
rag_add_test(NAME test_prompt SOURCES test_prompt.c LIBS rag_llm)
# End-to-end: ragd ask / models / usage (fake_http plays OpenAI).
rag_add_test(NAME test_ask SOURCES test_ask.c
             LIBS rag_fake_http PkgConfig::CJSON)
add_dependencies(test_ask ragd)
