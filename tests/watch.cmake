# tests/watch.cmake -- the watch folder, catch-up scan and durable jobs.
rag_add_test(NAME test_watch SOURCES test_watch.c LIBS rag_ingest
             PkgConfig::CJSON TIMEOUT 600)
add_dependencies(test_watch ragd)
rag_add_test(NAME test_watch_crash SOURCES test_watch_crash.c LIBS rag_ingest
             TIMEOUT 900)
add_dependencies(test_watch_crash ragd)
