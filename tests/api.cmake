# ragd serve: the HTTP API end to end over loopback (in-process server).
rag_add_test(NAME test_api SOURCES test_api.c
             LIBS rag_api rag_fake_http CURL::libcurl PkgConfig::CJSON
             TIMEOUT 600)
