# The web page of `ragd serve` in headless Chromium: test_web starts the
# server and runs tests/ui/page.test.mjs (needs chromium and playwright-core:
# scripts/ui-test.sh --install). The full-page screenshot is kept as an
# artifact at Testing/ui/page.png in the build directory.
rag_add_test(NAME test_web SOURCES test_web.c LABELS "ui" TIMEOUT 300)
target_compile_definitions(test_web PRIVATE
  RAG_UI_SHOT="${CMAKE_BINARY_DIR}/Testing/ui/page.png")
