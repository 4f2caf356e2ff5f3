/* fuzz/fuzz_provider.c -- Every remote provider's response parser, through
** the provider's real code path: the reply bytes come from a loopback
** server (fuzz/fuzz_net.h) and each provider is opened once per process
** with base_url pointing at it. The first input byte picks the provider
** and mode; the second the HTTP status (mostly 200, else an error status
** whose body the provider turns into a message); the third how many
** chunk lengths follow (chunked transfer cut at those points: streams
** must not depend on where the network splits); the rest is the body.
**   0 emb openai   1 emb azure    2 emb ollama   3 rr cohere  4 rr tei
**   5/6 llm openai    7/8 llm azure    9/10 llm anthropic
**   11/12 llm ollama  (even = blocking, odd = streaming; 5 blocking)
** Invariants: no crash, leak or sanitizer report; a call that succeeds
** returns finite scores/vectors and an answer that is a NUL-terminated
** string; a failed call has a one-line message. Retries are off, so an
** error status costs one request. */
#include "core/rag_cfg.h"
#include "core/rag_models.h"
#include "embedding/emb.h"
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_net.h"
#include "llm/llm.h"
#include "rerank/rr.h"

#include <math.h>
#include <string.h>

static const char *base;
static emb_provider *emb[3];
static rr_provider *rr[2];
static llm_provider *llm[4];
static rag_provider_def defs[4];
static rag_http_opts http;

static void setup(void) {
  base = fuzz_net_start();
  unsetenv("OPENAI_API_KEY");
  setenv("RAGD_FUZZ_KEY", "sk-fuzz-secret", 1);
  const char *especs[] = {"openai:m,dim=3", "azure:m,deployment=d,dim=3",
                          "ollama:m,dim=3"};
  rag_err err = {0};
  for (int i = 0; i < 3; i++) {
    char spec[256];
    snprintf(spec, sizeof spec,
             "%s,base_url=%s,retries=0,timeout=10,concurrency=1,"
             "api_key_env=RAGD_FUZZ_KEY",
             especs[i], base);
    FUZZ_CHECK(emb_open(NULL, spec, &emb[i], &err) == RAG_OK);
  }
  const char *rspecs[] = {"cohere:m", "tei:m"};
  for (int i = 0; i < 2; i++) {
    char spec[256];
    snprintf(spec, sizeof spec,
             "%s,base_url=%s,retries=0,timeout=10,api_key_env=RAGD_FUZZ_KEY",
             rspecs[i], base);
    FUZZ_CHECK(rr_open(NULL, spec, &rr[i], &err) == RAG_OK);
  }
  const char *kinds[] = {"openai", "azure", "anthropic", "ollama"};
  http = rag_http_opts_default();
  http.max_retries = 0;
  http.total_timeout = 10;
  http.stream_idle_timeout = 10;
  for (int i = 0; i < 4; i++) {
    defs[i].name = (char *)kinds[i];
    defs[i].kind = (char *)kinds[i];
    defs[i].base_url = (char *)base;
    defs[i].api_key_env = (char *)"RAGD_FUZZ_KEY";
    defs[i].azure_deployment = (char *)"dep";
    defs[i].timeout = 10;
    FUZZ_CHECK(llm_open(&defs[i], &http, &llm[i], &err) == RAG_OK);
  }
}

/* keyless: the embedders and rerankers promise to mask the key in the
** reply text they quote (emb_remote.h, rr_remote.h); the LLM providers
** quote the reply as is (an upstream that echoes the key, which only the
** fuzzer does here, would put it in the message). */
static void check_err(rag_status rc, const rag_err *err, int keyless) {
  if (rc == RAG_OK)
    return;
  FUZZ_CHECK(err->msg[0] != '\0');
  FUZZ_CHECK(strchr(err->msg, '\n') == NULL);
  if (!keyless)
    return;
  if (strstr(err->msg, "sk-fuzz-secret"))
    fprintf(stderr, "key in message: %s\n", err->msg);
  FUZZ_CHECK(strstr(err->msg, "sk-fuzz-secret") == NULL);
}

typedef struct deltas {
  size_t n, bytes;
} deltas;

static rag_status on_delta(void *ctx, const char *text, size_t n) {
  deltas *d = ctx;
  FUZZ_CHECK(text != NULL || n == 0);
  d->n++;
  d->bytes += n;
  return RAG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!base)
    setup();
  fuzz_in in = {data, size};
  unsigned target = fuzz_byte(&in) % 13;
  unsigned st = fuzz_byte(&in);
  static const int statuses[] = {400, 401, 404, 413, 422, 429, 500, 503};
  int status = st < 224 ? 200 : statuses[st % 8];
  unsigned ncuts = fuzz_byte(&in) % 48;
  if (ncuts > in.n)
    ncuts = (unsigned)in.n;
  fuzz_reply r = {status, "application/json", NULL, 0, NULL, 0};
  if (ncuts) {
    r.cuts = in.p;
    r.ncuts = ncuts;
    in.p += ncuts;
    in.n -= ncuts;
  }
  r.body = in.p;
  r.len = in.n;
  int stream = target >= 5 && (target - 5) % 2 == 1;
  if (stream)
    r.ctype = target >= 11 ? "application/x-ndjson" : "text/event-stream";
  fuzz_net_set(&r);

  rag_err err = {0};
  rag_status rc;
  if (target < 3) {
    const char *texts[] = {"alpha", "beta"};
    float v[6];
    rc = emb_embed(emb[target], texts, 2, EMB_DOCUMENT, v, &err);
    if (rc == RAG_OK)
      for (int i = 0; i < 6; i++)
        FUZZ_CHECK(isfinite(v[i]));
  } else if (target < 5) {
    const char *docs[] = {"one", "two", "three"};
    float s[3];
    rc = rr_rerank(rr[target - 3], "q", docs, 3, s, &err);
    if (rc == RAG_OK)
      for (int i = 0; i < 3; i++)
        FUZZ_CHECK(isfinite(s[i]));
  } else {
    llm_msg msgs[] = {{"system", "be brief"}, {"user", "hi"}};
    llm_request req;
    memset(&req, 0, sizeof req);
    req.model = "m";
    req.messages = msgs;
    req.nmessages = 2;
    req.max_tokens = 16;
    req.temperature = -1;
    deltas d = {0, 0};
    if (stream) {
      req.on_delta = on_delta;
      req.ctx = &d;
    }
    llm_response resp;
    llm_response_init(&resp);
    rc = llm_chat(llm[(target - 5) / 2], &req, &resp, &err);
    if (rc == RAG_OK) {
      FUZZ_CHECK(resp.text != NULL);
      FUZZ_CHECK(memchr(resp.finish_reason, 0, sizeof resp.finish_reason));
      FUZZ_CHECK(memchr(resp.model, 0, sizeof resp.model));
      FUZZ_CHECK(resp.tokens_in >= 0 && resp.tokens_out >= 0);
      if (stream)
        FUZZ_CHECK(d.bytes == strlen(resp.text));
    }
    llm_response_free(&resp);
  }
  check_err(rc, &err, target < 5);
  return 0;
}
