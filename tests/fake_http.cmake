# The fake HTTP server (tests/fake_http.h) that provider tests link:
#   rag_add_test(NAME test_x SOURCES test_x.c LIBS rag_<layer> rag_fake_http)
find_package(Threads REQUIRED)
add_library(rag_fake_http STATIC ${CMAKE_CURRENT_SOURCE_DIR}/fake_http.c)
target_link_libraries(rag_fake_http PUBLIC Threads::Threads)
