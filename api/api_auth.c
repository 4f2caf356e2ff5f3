/* api/api_auth.c -- API keys: "Authorization: Bearer <key>", stored only
** as sha256 digests (config "auth" section or a keys file), compared in
** constant time against every configured key, so neither the position of
** the first differing byte nor which key matched shows in the timing.
** Scopes: admin keys may do everything; app keys only use the datasets
** they list (and may list datasets filtered to those). */
#include "api/api_int.h"

#include "core/rag_buf.h"
#include "core/rag_hash.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEYS_FILE_CAP (1u << 20)
#define MAX_KEY_LEN 512 /* longer Bearer values are rejected unhashed */

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static rag_status add_keys(api_auth *a, const cJSON *arr, const char *where,
                           rag_err *err) {
  if (!cJSON_IsArray(arr))
    return rag_fail(err, RAG_BADARG, "%s.keys: must be an array", where);
  size_t n = (size_t)cJSON_GetArraySize(arr);
  api_key *nk = realloc(a->keys, (a->n + n + 1) * sizeof(*nk));
  if (!nk)
    return rag_fail(err, RAG_NOMEM, "auth: out of memory");
  a->keys = nk;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    api_key *k = &a->keys[a->n];
    memset(k, 0, sizeof(*k));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "sha256");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(it, "scope");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(it, "datasets");
    if (!cJSON_IsString(h) || strlen(h->valuestring) != 64)
      return rag_fail(err, RAG_BADARG,
                      "%s.keys[%zu].sha256: 64 hex digits of the key's "
                      "sha256",
                      where, a->n);
    for (int i = 0; i < 32; i++) {
      int hi = hexval(h->valuestring[2 * i]),
          lo = hexval(h->valuestring[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return rag_fail(err, RAG_BADARG, "%s.keys[%zu].sha256: not hex", where,
                        a->n);
      k->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    if (sc && (!cJSON_IsString(sc) || (strcmp(sc->valuestring, "admin") &&
                                       strcmp(sc->valuestring, "app"))))
      return rag_fail(err, RAG_BADARG,
                      "%s.keys[%zu].scope: \"admin\" or \"app\"", where, a->n);
    k->admin = !sc || !strcmp(sc->valuestring, "admin");
    k->name = rag_strdup(cJSON_IsString(nm) ? nm->valuestring : "key");
    a->n++; /* counted now so api_auth_free releases what follows */
    if (!k->name)
      return rag_fail(err, RAG_NOMEM, "auth: out of memory");
    if (!k->admin) {
      if (!cJSON_IsArray(ds))
        return rag_fail(err, RAG_BADARG,
                        "%s.keys[%zu].datasets: an array of dataset ids for "
                        "an app key",
                        where, a->n - 1);
      size_t m = (size_t)cJSON_GetArraySize(ds);
      k->datasets = calloc(m ? m : 1, sizeof(char *));
      if (!k->datasets)
        return rag_fail(err, RAG_NOMEM, "auth: out of memory");
      const cJSON *d;
      cJSON_ArrayForEach(d, ds) {
        if (!cJSON_IsString(d))
          return rag_fail(err, RAG_BADARG, "%s.keys[%zu].datasets: strings",
                          where, a->n - 1);
        k->datasets[k->ndatasets] = rag_strdup(d->valuestring);
        if (!k->datasets[k->ndatasets++])
          return rag_fail(err, RAG_NOMEM, "auth: out of memory");
      }
    }
  }
  return RAG_OK;
}

rag_status api_auth_load(const rag_cfg *cfg, api_auth *a, rag_err *err) {
  memset(a, 0, sizeof(*a));
  const char *sj = cfg && cfg->sections_json ? cfg->sections_json : "{}";
  cJSON *root = cJSON_ParseWithLength(sj, strlen(sj));
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, "auth");
  rag_status rc = RAG_OK;
  if (sec && !cJSON_IsObject(sec))
    rc = rag_fail(err, RAG_BADARG, "auth: must be an object");
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(sec, "keys");
  if (!rc && keys)
    rc = add_keys(a, keys, "auth", err);
  const cJSON *kf = cJSON_GetObjectItemCaseSensitive(sec, "keys_file");
  if (!rc && kf) {
    rag_buf b;
    rag_buf_init(&b, KEYS_FILE_CAP);
    if (!cJSON_IsString(kf))
      rc = rag_fail(err, RAG_BADARG, "auth.keys_file: a path");
    else
      rc = rag_buf_read_file(&b, kf->valuestring, err);
    if (!rc) {
      cJSON *f = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
      const cJSON *fk = cJSON_GetObjectItemCaseSensitive(f, "keys");
      if (!fk)
        rc = rag_fail(err, RAG_BADARG, "%s: expected {\"keys\": [...]}",
                      kf->valuestring);
      else
        rc = add_keys(a, fk, kf->valuestring, err);
      cJSON_Delete(f);
    }
    rag_buf_free(&b);
  }
  cJSON_Delete(root);
  if (rc)
    api_auth_free(a);
  return rc;
}

void api_auth_free(api_auth *a) {
  for (size_t i = 0; i < a->n; i++) {
    free(a->keys[i].name);
    for (size_t j = 0; j < a->keys[i].ndatasets; j++)
      free(a->keys[i].datasets[j]);
    free(a->keys[i].datasets);
  }
  free(a->keys);
  memset(a, 0, sizeof(*a));
}

api_auth_result api_auth_check(const api_auth *a, const char *header,
                               const api_key **key) {
  *key = NULL;
  if (a->n == 0)
    return API_AUTH_OK;
  if (!header)
    return API_AUTH_MISSING;
  if (strncasecmp(header, "Bearer ", 7) != 0)
    return API_AUTH_MALFORMED;
  const char *tok = header + 7;
  while (*tok == ' ')
    tok++;
  size_t n = strlen(tok);
  if (n == 0 || n > MAX_KEY_LEN || strchr(tok, ' '))
    return API_AUTH_MALFORMED;
  uint8_t d[32];
  rag_sha256_ctx c;
  rag_sha256_init(&c);
  rag_sha256_update(&c, tok, n);
  rag_sha256_final(&c, d);
  /* Every key is compared in full; the match is selected without an
  ** early exit. */
  const api_key *hit = NULL;
  for (size_t i = 0; i < a->n; i++) {
    unsigned diff = 0;
    for (int j = 0; j < 32; j++)
      diff |= (unsigned)(d[j] ^ a->keys[i].digest[j]);
    uintptr_t m = (uintptr_t)0 - (uintptr_t)(diff == 0);
    hit =
        (const api_key *)(((uintptr_t)hit & ~m) | ((uintptr_t)&a->keys[i] & m));
  }
  if (!hit)
    return API_AUTH_BAD;
  *key = hit;
  return API_AUTH_OK;
}

int api_auth_allows(const api_key *key, const char *dataset_id) {
  if (!key || key->admin)
    return 1;
  for (size_t i = 0; i < key->ndatasets; i++)
    if (!strcmp(key->datasets[i], dataset_id))
      return 1;
  return 0;
}
