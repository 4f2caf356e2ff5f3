# ragd serve's Q&A and gateway endpoints end to end over loopback; the
# fake HTTP server plays an OpenAI-compatible provider.
rag_add_test(NAME test_api_chat SOURCES test_api_chat.c
             LIBS rag_api rag_fake_http CURL::libcurl PkgConfig::CJSON
             TIMEOUT 240)
