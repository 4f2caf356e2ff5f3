/* fuzz/fuzz_main.c -- A standalone driver for the libFuzzer harnesses, so
** the normal (gcc) and ASan builds compile every harness and replay its
** seed corpus and regression inputs as a ctest.
** Usage: fuzz_X_replay FILE|DIR...  runs LLVMFuzzerTestOneInput once per
** regular file (directories are walked one level deep, sorted, so a run is
** repeatable); a missing path is skipped (an empty regress dir is fine).
** Prints one line per input count and "N passed, 0 failed": a crash or a
** sanitizer report aborts the process, which ctest reports as a failure. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t nrun;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz_main: %s: cannot open\n", path);
    return 1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "fuzz_main: %s: out of memory\n", path);
    return 1;
  }
  /* An exact-size copy so ASan sees reads past the input's end. */
  uint8_t *exact = malloc(n ? n : 1);
  if (exact)
    memcpy(exact, buf, n);
  free(buf);
  if (!exact)
    return 1;
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  nrun++;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return 0; /* no regress inputs yet */
  if (!S_ISDIR(st.st_mode))
    return run_file(path);
  DIR *d = opendir(path);
  if (!d)
    return 1;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *names);
      if (!nn)
        break;
      names = nn;
    }
    size_t len = strlen(path) + strlen(e->d_name) + 2;
    names[n] = malloc(len);
    if (!names[n])
      break;
    snprintf(names[n], len, "%s/%s", path, e->d_name);
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
      bad |= run_file(names[i]);
    free(names[i]);
  }
  free(names);
  return bad;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  int bad = 0;
  for (int i = 1; i < argc; i++)
    bad |= run_path(argv[i]);
  printf("%s: ran %zu inputs\n", argc > 0 ? argv[0] : "fuzz", nrun);
  printf("%zu passed, %d failed\n", nrun, bad);
  return bad;
}
