# Stage progress: ing_paths' chunk/embed/index stage callback, and the
# block of stage bars that `ragd compare` draws (cli/cli_progress.c is
# compiled in: the CLI is an executable, not a library).
rag_add_test(NAME test_progress
             SOURCES test_progress.c ${CMAKE_SOURCE_DIR}/cli/cli_progress.c
             LIBS rag_ingest TIMEOUT 120)
