/* core/rag_log.c -- Leveled logging.
** The level is the one piece of process-wide state here: it is
** configuration, written once by main before any thread starts. */
#include "core/rag_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static rag_log_level log_level = RAG_LOG_INFO;

void rag_log_set_level(rag_log_level lvl) {
  log_level = lvl;
}

rag_log_level rag_log_get_level(void) {
  return log_level;
}

int rag_log_parse_level(const char *s) {
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++)
    if (s && strcmp(s, names[i]) == 0)
      return i;
  return -1;
}

void rag_log(rag_log_level lvl, const char *fmt, ...) {
  static const char *const tags[] = {"debug", "info", "warn", "error"};
  if (lvl < log_level || lvl >= RAG_LOG_OFF)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "ragd: %s: %s\n", tags[lvl], line);
}
