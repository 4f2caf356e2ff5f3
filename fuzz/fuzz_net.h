/* fuzz/fuzz_net.h -- A one-reply-at-a-time HTTP/1.1 server on 127.0.0.1
** for the provider harness: every request (keep-alive or not) gets the
** reply last set with fuzz_net_set, as Content-Length or as chunked
** transfer cut at given lengths. Unlike tests/fake_http it records
** nothing, so millions of requests do not grow memory.
** Ownership: fuzz_net_start once per process; it lives until exit.
** Threads:   the server has its own thread; fuzz_net_set is called by the
**            harness between (never during) client calls. */
#ifndef FUZZ_NET_H
#define FUZZ_NET_H

#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_reply {
  int status;        /* HTTP status */
  const char *ctype; /* Content-Type */
  const uint8_t *body;
  size_t len;
  const uint8_t *cuts; /* non-NULL: chunked, piece i has cuts[i] % 64 + 1
                          bytes while cuts last, then the rest at once */
  size_t ncuts;
} fuzz_reply;

/* Starts the server; returns "http://127.0.0.1:PORT" (static). Aborts on
** failure: a harness without its server cannot run. */
const char *fuzz_net_start(void);
/* Sets the reply for the following requests (copied). */
void fuzz_net_set(const fuzz_reply *r);

#endif
