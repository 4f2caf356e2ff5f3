# The model gateway's routing half: router, limits, breaker, usage, prompt.
rag_add_test(NAME test_router SOURCES test_router.c
             LIBS rag_llm SQLite::SQLite3)
rag_add_test(NAME test_prompt SOURCES test_prompt.c LIBS rag_llm)
