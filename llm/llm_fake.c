/* llm/llm_fake.c -- Kind "fake": scripted replies for router and API tests.
** No network. The script is the provider's base_url:
**   "fake://ok" (or no base_url)  answers "fake answer to: <last user
**                                 message>" (echo, so tests can tell
**                                 providers apart by their answer);
**   "fake://fail"                 every call fails with RAG_UPSTREAM;
**   "fake://fail-then-ok"         the first call fails, later ones answer;
**   "fake://fail-N"               the first N calls fail (N decimal);
**   "fake://timeout"              every call fails with RAG_TIMEOUT;
**   "fake://badarg"               every call fails with RAG_BADARG;
**   "fake://text/<answer>"        answers <answer> verbatim;
** a "?check=fail" suffix makes check() fail (RAG_UPSTREAM), else it passes.
** The call counter lives in the instance: two instances never share it.
** Usage is reported as exact: tokens_in by the estimate of the messages,
** tokens_out one per word of the answer. Streaming delivers one word (with
** its leading space) per on_delta call. */
#include "llm/llm_int.h"

#include <stdlib.h>
#include <string.h>

typedef enum { FK_OK, FK_FAIL, FK_TIMEOUT, FK_BADARG } fk_mode;

typedef struct fk_provider {
  llm_provider base;
  fk_mode mode;
  int64_t fail_first; /* calls that fail before answering (FK_OK) */
  int64_t calls;
  char *text; /* fixed answer, or NULL to echo */
  int check_fails;
} fk_provider;

static rag_status fk_open(const rag_provider_def *def,
                          const rag_http_opts *http, llm_provider **out,
                          rag_err *err) {
  (void)http;
  *out = NULL;
  const char *url = def && def->base_url ? def->base_url : "fake://ok";
  if (strncmp(url, "fake://", 7) != 0)
    return rag_fail(err, RAG_BADARG, "fake: base_url must start fake://");
  const char *s = url + 7;
  fk_provider *p = calloc(1, sizeof(*p));
  if (!p)
    return rag_fail(err, RAG_NOMEM, "fake: out of memory");
  p->base.vt = &llm_fake_vtab;
  const char *q = strstr(s, "?check=fail");
  size_t n = q ? (size_t)(q - s) : strlen(s);
  p->check_fails = q != NULL;
  rag_status rc = RAG_OK;
  if (n == 0 || (n == 2 && memcmp(s, "ok", 2) == 0)) {
    p->mode = FK_OK;
  } else if (n == 4 && memcmp(s, "fail", 4) == 0) {
    p->mode = FK_FAIL;
  } else if (n == 12 && memcmp(s, "fail-then-ok", 12) == 0) {
    p->fail_first = 1;
  } else if (n == 7 && memcmp(s, "timeout", 7) == 0) {
    p->mode = FK_TIMEOUT;
  } else if (n == 6 && memcmp(s, "badarg", 6) == 0) {
    p->mode = FK_BADARG;
  } else if (n > 5 && memcmp(s, "fail-", 5) == 0) {
    char num[24];
    llm_copy(num, sizeof(num) < n - 4 ? sizeof(num) : n - 4, s + 5);
    if (rag_parse_i64(num, &p->fail_first) || p->fail_first < 0)
      rc = rag_fail(err, RAG_BADARG, "fake: bad failure count in %s", url);
  } else if (n >= 5 && memcmp(s, "text/", 5) == 0) {
    p->text = rag_strndup(s + 5, n - 5);
    if (!p->text)
      rc = rag_fail(err, RAG_NOMEM, "fake: out of memory");
  } else {
    rc = rag_fail(err, RAG_BADARG, "fake: unknown script %s", url);
  }
  if (rc) {
    free(p->text);
    free(p);
    return rc;
  }
  *out = &p->base;
  return RAG_OK;
}

static void fk_close(llm_provider *base) {
  fk_provider *p = (fk_provider *)base;
  free(p->text);
  free(p);
}

static rag_status fk_chat(llm_provider *base, const llm_request *req,
                          llm_response *resp, rag_err *err) {
  fk_provider *p = (fk_provider *)base;
  int64_t call = ++p->calls;
  resp->http_attempts = 1;
  if (p->mode == FK_FAIL || call <= p->fail_first)
    return rag_fail(err, RAG_UPSTREAM, "fake: HTTP 500: scripted failure %lld",
                    (long long)call);
  if (p->mode == FK_TIMEOUT)
    return rag_fail(err, RAG_TIMEOUT, "fake: scripted timeout");
  if (p->mode == FK_BADARG)
    return rag_fail(err, RAG_BADARG, "fake: HTTP 400: scripted bad request");
  llm_acc a;
  llm_acc_init(&a, req);
  rag_buf ans;
  rag_buf_init(&ans, LLM_MAX_ANSWER);
  rag_status rc = RAG_OK;
  if (p->text) {
    rc = rag_buf_puts(&ans, p->text);
  } else {
    const char *last = "";
    for (size_t i = 0; i < req->nmessages; i++)
      if (strcmp(req->messages[i].role, "user") == 0)
        last = req->messages[i].content;
    rc = rag_buf_printf(&ans, "fake answer to: %s", last);
  }
  if (rc) {
    rc = rag_fail(err, rc, "fake: answer too large");
    goto out;
  }
  /* One word per delta: enough pieces to exercise a streaming consumer. */
  int64_t words = 0;
  for (size_t i = 0; i < ans.len && !rc;) {
    size_t j = i;
    while (j < ans.len && ans.data[j] == ' ')
      j++;
    while (j < ans.len && ans.data[j] != ' ')
      j++;
    rc = llm_acc_emit(&a, ans.data + i, j - i);
    words++;
    i = j;
  }
  if (rc) {
    rc = rag_fail(err, rc, "%s", a.err.msg);
    goto out;
  }
  a.tin = llm_estimate_in(req);
  a.tout = words;
  a.have_usage = 1;
  llm_copy(a.finish, sizeof(a.finish), "stop");
  llm_copy(a.model, sizeof(a.model), req->model ? req->model : "fake");
  rc = llm_acc_finish(&a, resp, err);
out:
  rag_buf_free(&ans);
  llm_acc_free(&a);
  return rc;
}

static rag_status fk_check(llm_provider *base, const char *model,
                           rag_err *err) {
  fk_provider *p = (fk_provider *)base;
  if (p->check_fails)
    return rag_fail(err, RAG_UPSTREAM, "fake: check of %s failed (scripted)",
                    model ? model : "?");
  return RAG_OK;
}

const llm_vtab llm_fake_vtab = {1,       "fake",   fk_open,
                                fk_chat, fk_close, fk_check};
