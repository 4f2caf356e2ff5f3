/* tests/test_web.c -- Node.js clients end to end. Each test starts
** `ragd serve` (RAGD_BIN) on a free loopback port over a fresh data
** directory, runs a script under tests/ui, then stops the server with
** SIGTERM:
**  - the web page: `node tests/ui/page.test.mjs URL SHOT` (headless
**    Chromium through playwright-core: create a knowledge base, upload
**    sourdough.md, ask, see the "Dutch oven" citation); the screenshot
**    goes to RAG_UI_SHOT (Testing/ui/page.png in the build dir);
**  - the official OpenAI Node SDK: `node tests/ui/openai_sdk.test.mjs URL
**    KEY` against a server with an API key.
** A missing browser or package fails the test (it does not skip):
** scripts/ui-test.sh --install provides them. */
#define TEST_TIMEOUT 280
#include "tests/cli_util.h"

#include <errno.h>
#include <time.h>

#ifndef RAG_UI_SHOT
#define RAG_UI_SHOT "page.png"
#endif

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

/* Runs argv with stdout/stderr inherited (ctest shows them); exit code. */
static int run(const char *const *argv) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[0], (char *const *)argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

typedef struct server {
  pid_t pid;
  int port;
  char log[4200];
} server;

/* 0 = stopped and exited 0; else a description in why. */
static int server_stop(server *s, char *why, size_t whysz) {
  if (s->pid <= 0)
    return 0;
  kill(s->pid, SIGTERM);
  int st = 0;
  for (int i = 0; i < 300; i++) { /* 30 s */
    pid_t w = waitpid(s->pid, &st, WNOHANG);
    if (w == s->pid) {
      s->pid = 0;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
      snprintf(why, whysz, "ragd serve ended with %s %d",
               WIFEXITED(st) ? "status" : "signal",
               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
      return 1;
    }
    nap_ms(100);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, &st, 0);
  s->pid = 0;
  snprintf(why, whysz, "ragd serve did not stop within 30 s of SIGTERM");
  return 1;
}

/* Starts ragd serve --port 0 (with --config config unless NULL) and reads
** the port from its log. */
static void server_start(server *s, const char *config) {
  char data[4200];
  snprintf(data, sizeof(data), "%s/data", test_tmpdir());
  snprintf(s->log, sizeof(s->log), "%s/serve.log", test_tmpdir());
  const char *bin = cli_bin();
  fflush(NULL);
  s->pid = fork();
  if (s->pid == 0) {
    int e = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(e, 1);
    dup2(e, 2);
    dup2(in, 0);
    /* The built-in defaults: no API keys, so loopback and no key needed. */
    setenv("RAGD_CONFIG", "", 1);
    if (config)
      execl(bin, bin, "--config", config, "serve", "--host", "127.0.0.1",
            "--port", "0", "--data", data, (char *)NULL);
    else
      execl(bin, bin, "serve", "--host", "127.0.0.1", "--port", "0", "--data",
            data, (char *)NULL);
    _exit(127);
  }
  ASSERT(s->pid > 0);
  for (int i = 0; i < 600; i++) { /* 60 s: ASan builds start slowly */
    char *log = cli_slurp(s->log);
    const char *p = strstr(log, "serving on port ");
    if (p)
      s->port = atoi(p + strlen("serving on port "));
    int st = 0;
    pid_t w = s->port > 0 ? 0 : waitpid(s->pid, &st, WNOHANG);
    if (w == s->pid) {
      s->pid = 0;
      TEST_FAILF("ragd serve exited before listening:\n%s", log);
    }
    free(log);
    if (s->port > 0)
      return;
    nap_ms(100);
  }
  char why[200];
  server_stop(s, why, sizeof(why));
  TEST_FAILF("ragd serve printed no port within 60 s (log %s)", s->log);
}

static void need_node_tools(void) {
  char check[4200];
  snprintf(check, sizeof(check), "%s/scripts/ui-test.sh", source_dir());
  const char *chk[] = {"bash", check, "--check", NULL};
  if (run(chk) != 0)
    TEST_FAILF("the Node tests need chromium, playwright-core and openai: run "
               "scripts/ui-test.sh --install (these tests fail rather than "
               "skip without them)");
}

/* Runs tests/ui/<name> with args after it against a server started with
** config (NULL: the built-in defaults); fails with the server's log. */
static void run_node_test(const char *name, const char *config,
                          const char *const *args, size_t nargs) {
  need_node_tools();
  char script[4200];
  snprintf(script, sizeof(script), "%s/tests/ui/%s", source_dir(), name);
  server s = {0};
  server_start(&s, config);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
  const char *node[8] = {"node", script, url};
  for (size_t i = 0; i < nargs && i < 4; i++)
    node[3 + i] = args[i];
  int rc = run(node);
  char why[200] = "";
  int stop = server_stop(&s, why, sizeof(why));
  if (rc != 0) {
    char *log = cli_slurp(s.log);
    fprintf(stderr, "--- ragd serve log ---\n%s", log);
    free(log);
    TEST_FAILF("tests/ui/%s failed (exit %d)", name, rc);
  }
  if (stop)
    TEST_FAILF("%s", why);
}

TEST(web_page_in_headless_chromium) {
  const char *args[] = {RAG_UI_SHOT};
  run_node_test("page.test.mjs", NULL, args, 1);
  fprintf(stderr, "screenshot: %s\n", RAG_UI_SHOT);
}

/* "so the official OpenAI SDKs work against ragd": the Node one, with a
** key (sha256 below is that of "sdk-test-key"). */
TEST(official_openai_node_sdk_chats_lists_models_and_gets_typed_errors) {
  char config[4200];
  snprintf(config, sizeof(config), "%s/sdk.json", test_tmpdir());
  write_file(config,
             "{\"auth\":{\"keys\":[{\"name\":\"sdk\",\"scope\":\"admin\","
             "\"sha256\":\"4fab551d57eded4527cebdcb8cbe176f23ebdcf566ddca7f8834"
             "3fbdb6cbb624\"}]}}");
  const char *args[] = {"sdk-test-key"};
  run_node_test("openai_sdk.test.mjs", config, args, 1);
}

#define TESTS(X)                                                               \
  X(web_page_in_headless_chromium)                                             \
  X(official_openai_node_sdk_chats_lists_models_and_gets_typed_errors)
TEST_MAIN(TESTS)
