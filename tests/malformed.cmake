# test_malformed_http: a generated corpus (>= 10,000 requests, seeded) of
# malformed HTTP sent over raw sockets at a real `ragd serve` process.
# Its slow senders wait out the server's 3 s connection timeout
# concurrently; the whole run is well under a minute (two under ASan).
rag_add_test(NAME test_malformed_http SOURCES test_malformed_http.c
             LIBS rag_core PkgConfig::CJSON Threads::Threads TIMEOUT 300
             LABELS "unit;malformed")
add_dependencies(test_malformed_http ragd)
