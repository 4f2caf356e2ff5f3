# `ragd compare`: paired significance tests, reports, resume and budgets.
# Runs the built ragd (RAGD_BIN) against a fake OpenAI embeddings server.
rag_add_test(NAME test_compare SOURCES test_compare.c
             LIBS rag_eval rag_fake_http PkgConfig::CJSON TIMEOUT 300)
add_dependencies(test_compare ragd)
