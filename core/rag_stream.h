/* core/rag_stream.h -- Incremental parsers for streamed HTTP bodies:
** Server-Sent Events (OpenAI, Anthropic, Azure) and NDJSON (Ollama).
** Both accept input split anywhere -- inside a line, inside a CRLF pair,
** inside a UTF-8 sequence -- and deliver whole events/lines.
**
** SSE follows the WHATWG "event stream interpretation": lines end in CRLF,
** LF or CR; a leading UTF-8 BOM is dropped; lines starting with ':' are
** comments; "field: value" with one optional space after the colon; data
** lines are joined with '\n'; a blank line dispatches the event (an event
** with no data line is not dispatched); "event" defaults to "message";
** "id" is remembered; "retry" is ignored; an unfinished event at the end of
** the stream is discarded.
** NDJSON: one value per line (LF or CRLF), blank lines skipped, a last line
** without a newline is delivered by rag_ndjson_finish().
**
** Ownership: parsers are caller-owned structs; *_free releases their
**            buffers. Callback arguments are valid only during the call.
** Errors:    a line or event above the cap is RAG_TOOBIG; a callback's
**            non-OK status stops the parser and is returned. After any
**            non-OK return the parser is only fit for *_free.
** Threads:   one parser per stream. */
#ifndef RAG_STREAM_H
#define RAG_STREAM_H

#include "core/rag.h"
#include "core/rag_buf.h"

/* event: NUL-terminated type ("message" by default); data: the joined data
** lines (NUL-terminated, len bytes); id: last id seen ("" if none). */
typedef rag_status (*rag_sse_fn)(void *ctx, const char *event, const char *data,
                                 size_t len, const char *id);

typedef struct rag_sse {
  /* private */
  rag_buf line, data, event, id;
  int started, cr, have_data;
  size_t cap;
  rag_sse_fn fn;
  void *ctx;
} rag_sse;

/* cap: largest line or event in bytes (0 = 8 MiB). */
void rag_sse_init(rag_sse *p, size_t cap, rag_sse_fn fn, void *ctx);
rag_status rag_sse_feed(rag_sse *p, const char *bytes, size_t n);
/* End of stream: discards an unfinished event (per the spec). */
rag_status rag_sse_finish(rag_sse *p);
void rag_sse_free(rag_sse *p);

/* line: one NDJSON line without its terminator, NUL-terminated. */
typedef rag_status (*rag_ndjson_fn)(void *ctx, const char *line, size_t len);

typedef struct rag_ndjson {
  /* private */
  rag_buf line;
  size_t cap;
  rag_ndjson_fn fn;
  void *ctx;
} rag_ndjson;

void rag_ndjson_init(rag_ndjson *p, size_t cap, rag_ndjson_fn fn, void *ctx);
rag_status rag_ndjson_feed(rag_ndjson *p, const char *bytes, size_t n);
rag_status rag_ndjson_finish(rag_ndjson *p);
void rag_ndjson_free(rag_ndjson *p);

#endif
