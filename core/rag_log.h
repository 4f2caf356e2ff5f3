/* core/rag_log.h -- Leveled logging to stderr.
** The level is configuration: main sets it once, before threads start,
** with rag_log_set_level(); everything else only reads it.
** Threads:   rag_log() is safe from any thread (one fprintf per line). */
#ifndef RAG_LOG_H
#define RAG_LOG_H

typedef enum {
  RAG_LOG_DEBUG,
  RAG_LOG_INFO,
  RAG_LOG_WARN,
  RAG_LOG_ERROR,
  RAG_LOG_OFF
} rag_log_level;

void rag_log_set_level(rag_log_level lvl);
rag_log_level rag_log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns -1 when unknown. */
int rag_log_parse_level(const char *s);
/* Writes "ragd: <level>: <message>\n" to stderr when lvl is enabled. */
void rag_log(rag_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
