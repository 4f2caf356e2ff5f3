/* fuzz/fuzz_api_srv.h -- The in-process ragd server the API harnesses
** talk to: api_open once per process on an ephemeral loopback port, over a
** temporary data directory (removed at exit), with no API keys (loopback
** only, every request allowed), the hash embedder and the extractive
** answerer (no network), one dataset with one document. Requests go over
** a kept-alive libcurl connection: slower than a direct call, but every
** byte takes the path a client's bytes take (MHD, routing, body caps,
** the handler's parser).
** Ownership: everything lives until exit; fuzz_api_resp strings are
**            reused by the next call.
** Threads:   the harness thread only. */
#ifndef FUZZ_API_SRV_H
#define FUZZ_API_SRV_H

#include <stddef.h>

typedef struct fuzz_api_resp {
  long status; /* 0: no reply (the server died or hung) */
  char *body;  /* NUL-terminated */
  size_t len;
  char ctype[128];
} fuzz_api_resp;

/* Starts the server (first call only). */
void fuzz_api_start(void);
/* The dataset's id. */
const char *fuzz_api_dataset(void);
/* Sends method path (absolute, "/v1/..."), with body (may be NULL) and a
** Content-Type (may be NULL). Returns the reply, owned by the module. */
const fuzz_api_resp *fuzz_api_call(const char *method, const char *path,
                                   const char *ctype, const void *body,
                                   size_t len);
/* Checks what every reply must satisfy: a status, never a 5xx other than
** 502/503/504 (upstream trouble), and a JSON body when it says JSON. */
void fuzz_api_check(const fuzz_api_resp *r);

#endif
