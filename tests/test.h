/* tests/test.h -- A tiny test runner in the spirit of libuv's test/task.h.
**
** Usage in tests/test_<module>.c:
**   TEST(chunk_never_splits_a_utf8_sequence) { ASSERT_EQ(1, 1); }
**   ...
**   #define TESTS(X) X(chunk_never_splits_a_utf8_sequence) X(...)
**   TEST_MAIN(TESTS)
**
** Each test runs in its own forked process (a crash or an abort fails that
** test only) with an alarm of TEST_TIMEOUT seconds. `test_x NAME` runs one
** test in-process, which is what you want under gdb. The runner prints
** "ok NAME" / "FAIL NAME", then "N passed, N failed" and exits non-zero on
** any failure. Tests get a fresh temporary directory from test_tmpdir(). */
#ifndef RAG_TEST_H
#define RAG_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TEST_TIMEOUT
#define TEST_TIMEOUT 120
#endif

#define TEST(name) static void name(void)

#define TEST_FAILF(...)                                                        \
  do {                                                                         \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
    fprintf(stderr, __VA_ARGS__);                                              \
    fprintf(stderr, "\n");                                                     \
    fflush(stderr);                                                            \
    _exit(1);                                                                  \
  } while (0)

#define ASSERT(cond)                                                           \
  do {                                                                         \
    if (!(cond))                                                               \
      TEST_FAILF("assertion failed: %s", #cond);                               \
  } while (0)

#define ASSERT_EQ(a, b)                                                        \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_)                                                              \
      TEST_FAILF("%s == %s: %lld != %lld", #a, #b, a_, b_);                    \
  } while (0)

#define ASSERT_NE(a, b)                                                        \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ == b_)                                                              \
      TEST_FAILF("%s != %s: both %lld", #a, #b, a_);                           \
  } while (0)

#define ASSERT_GE(a, b)                                                        \
  do {                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                 \
    if (!(a_ >= b_))                                                           \
      TEST_FAILF("%s >= %s: %g < %g", #a, #b, a_, b_);                         \
  } while (0)

#define ASSERT_GT(a, b)                                                        \
  do {                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                 \
    if (!(a_ > b_))                                                            \
      TEST_FAILF("%s > %s: %g <= %g", #a, #b, a_, b_);                         \
  } while (0)

#define ASSERT_NEAR(a, b, eps)                                                 \
  do {                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                 \
    if (!(fabs(a_ - b_) <= (eps)))                                             \
      TEST_FAILF("%s ~= %s: %.9g vs %.9g", #a, #b, a_, b_);                    \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                     \
      TEST_FAILF("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",     \
                 b_ ? b_ : "(null)");                                          \
  } while (0)

#define ASSERT_CONTAINS(hay, needle)                                           \
  do {                                                                         \
    const char *h_ = (hay), *n_ = (needle);                                    \
    if (!h_ || !strstr(h_, n_))                                                \
      TEST_FAILF("%s contains %s: \"%s\" lacks \"%s\"", #hay, #needle,         \
                 h_ ? h_ : "(null)", n_);                                      \
  } while (0)

/* Asserts a rag_status call succeeded, printing err.msg when it did not. */
#define ASSERT_OK(call, errp)                                                  \
  do {                                                                         \
    int rc_ = (int)(call);                                                     \
    if (rc_ != 0)                                                              \
      TEST_FAILF("%s failed: status %d: %s", #call, rc_, (errp)->msg);         \
  } while (0)

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

static char test_tmp_path[4096];

/* A fresh empty directory for the running test, removed afterwards by the
** runner. Returns a static path. */
static inline const char *test_tmpdir(void) {
  return test_tmp_path;
}

/* Path of a test fixture or of ../shared, via the compile-time source dir. */
#ifndef RAG_SOURCE_DIR
#define RAG_SOURCE_DIR "."
#endif

static inline int test_run_one(const test_case *t) {
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(test_tmp_path, sizeof(test_tmp_path), "%s/ragd-test-XXXXXX", base);
  if (!mkdtemp(test_tmp_path)) {
    perror("mkdtemp");
    return 1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(TEST_TIMEOUT);
    t->fn();
    /* exit, not _exit: LeakSanitizer checks at exit, so a test that leaks
    ** fails under ASan. */
    exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!ok && WIFEXITED(st))
    fprintf(stderr, "  %s: exit status %d\n", t->name, WEXITSTATUS(st));
  if (!ok && WIFSIGNALED(st))
    fprintf(stderr, "  %s: killed by signal %d%s\n", t->name, WTERMSIG(st),
            WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
  char cmd[4200];
  if (!getenv("RAGD_TEST_KEEP")) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_tmp_path);
    if (system(cmd) != 0)
      fprintf(stderr, "  could not remove %s\n", test_tmp_path);
  }
  printf("%s %s\n", ok ? "ok" : "FAIL", t->name);
  fflush(stdout);
  return ok ? 0 : 1;
}

static inline int test_main(const test_case *tests, int n, int argc,
                            char **argv) {
  if (argc > 1) {
    for (int i = 0; i < n; i++)
      if (strcmp(tests[i].name, argv[1]) == 0) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(test_tmp_path, sizeof(test_tmp_path),
                 "%s/ragd-test-XXXXXX", base);
        if (!mkdtemp(test_tmp_path))
          return 1;
        tests[i].fn();
        printf("ok %s (dir %s)\n", tests[i].name, test_tmp_path);
        return 0;
      }
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  int failed = 0;
  for (int i = 0; i < n; i++)
    failed += test_run_one(&tests[i]);
  printf("%d passed, %d failed\n", n - failed, failed);
  return failed ? 1 : 0;
}

#define TEST_ENTRY_(name) {#name, name},
#define TEST_MAIN(LIST)                                                        \
  int main(int argc, char **argv) {                                            \
    static const test_case tests_[] = {LIST(TEST_ENTRY_)};                     \
    return test_main(tests_, (int)(sizeof(tests_) / sizeof(tests_[0])), argc,  \
                     argv);                                                    \
  }

#endif
