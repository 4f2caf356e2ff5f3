# The model gateway's routing half: router, limits, breaker, usage, prompt.
rag_add_test(NAME test_router SOURCES test_router.c
             LIBS rag_llm SQLite::SQLite3)
rag_add_test(NAME test_prompt SOURCES test_prompt.c LIBS rag_llm)
# The ask/models/usage commands in cli/ call the llm layer, which ragd did
# not link yet; cli/CMakeLists.txt is not ours, so link it from here (a
# no-op once cli/CMakeLists.txt names rag_llm itself).
target_link_libraries(ragd PRIVATE rag_llm SQLite::SQLite3)
