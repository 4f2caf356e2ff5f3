# Node.js clients of `ragd serve`: test_web starts the server and runs
# tests/ui/page.test.mjs (the web page in headless Chromium) and
# tests/ui/openai_sdk.test.mjs (the official OpenAI Node SDK); they need
# chromium, playwright-core and openai (scripts/ui-test.sh --install). The
# page's full-page screenshot is kept as an artifact at
# Testing/ui/page.png in the build directory.
rag_add_test(NAME test_web SOURCES test_web.c LABELS "ui" TIMEOUT 300)
target_compile_definitions(test_web PRIVATE
  RAG_UI_SHOT="${CMAKE_BINARY_DIR}/Testing/ui/page.png")
