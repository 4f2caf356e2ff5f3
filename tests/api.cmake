# ragd serve: the HTTP API end to end over loopback (in-process server).
rag_add_test(NAME test_api SOURCES test_api.c
             LIBS rag_api CURL::libcurl PkgConfig::CJSON TIMEOUT 240)
# cli/cmd_serve.c is compiled into ragd (cli/ globs *.c): ragd links
# rag_api here until cli/CMakeLists.txt does.
target_link_libraries(ragd PRIVATE rag_api)
