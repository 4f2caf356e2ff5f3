/* tests/cli_util.h -- Run the ragd binary from tests and read its output.
** RAGD_BIN (set by ctest) names the binary under test. */
#ifndef RAG_CLI_UTIL_H
#define RAG_CLI_UTIL_H

#include "tests/test.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

typedef struct cli_result {
  int status; /* exit code, or 128 + signal */
  char *out;  /* stdout, malloc'd */
  char *err;  /* stderr, malloc'd */
} cli_result;

static inline char *cli_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return calloc(1, 1);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = '\0';
  fclose(f);
  return s;
}

static inline const char *cli_bin(void) {
  const char *b = getenv("RAGD_BIN");
  if (!b)
    TEST_FAILF("RAGD_BIN is not set (run through ctest)");
  return b;
}

/* Runs ragd with a NULL-terminated argument list (after "ragd"). */
static inline cli_result cli_runv(const char *const *args) {
  char outp[4200], errp[4200];
  snprintf(outp, sizeof(outp), "%s/.stdout", test_tmpdir());
  snprintf(errp, sizeof(errp), "%s/.stderr", test_tmpdir());
  const char *argv[64];
  int n = 0;
  argv[n++] = cli_bin();
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(o, 1);
    dup2(e, 2);
    dup2(in, 0);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  cli_result r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = cli_slurp(outp);
  r.err = cli_slurp(errp);
  return r;
}

#define CLI_RUN(...) cli_runv((const char *const[]){__VA_ARGS__, NULL})

static inline void cli_free(cli_result *r) {
  free(r->out);
  free(r->err);
}

static inline void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f)
    TEST_FAILF("cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

static inline char *tmp_path(const char *name) {
  char *p = malloc(4200);
  snprintf(p, 4200, "%s/%s", test_tmpdir(), name);
  return p;
}

static inline const char *source_dir(void) {
  const char *s = getenv("RAGD_SOURCE_DIR");
  return s ? s : RAG_SOURCE_DIR;
}

#endif
