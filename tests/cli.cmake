rag_add_test(NAME test_cli SOURCES test_cli.c LIBS rag_index PkgConfig::CJSON)
add_dependencies(test_cli ragd)
rag_add_test(NAME test_crash SOURCES test_crash.c LIBS rag_ingest TIMEOUT 600)
add_dependencies(test_crash ragd)
rag_add_test(NAME test_quality SOURCES test_quality.c LIBS rag_core
             PkgConfig::CJSON TIMEOUT 900 LABELS "unit;quality")
add_dependencies(test_quality ragd)
