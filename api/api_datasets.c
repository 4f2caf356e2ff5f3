/* api/api_datasets.c -- Dify Knowledge API: datasets and documents.
**   POST/GET /v1/datasets, GET/DELETE /v1/datasets/{id},
**   POST .../document/create-by-text | create-by-file (multipart),
**   GET .../documents, DELETE .../documents/{doc},
**   GET .../documents/{batch}/indexing-status.
** Ingestion never runs here: documents are stored and queued for the
** writer (api_kbs.c), and the reply returns at once with "waiting". */
#include "api/api_int.h"

#include "core/rag_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TEXT (16u << 20)

static const char *status_name(api_doc_status s) {
  switch (s) {
  case API_DOC_WAITING:
    return "waiting";
  case API_DOC_INDEXING:
    return "indexing";
  case API_DOC_COMPLETED:
    return "completed";
  default:
    return "error";
  }
}

static cJSON *dataset_json(api_kb *k, rag_arena *a) {
  api_kb_info in;
  api_kb_info_get(k, a, &in);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", in.id);
  cJSON_AddStringToObject(o, "name", in.name ? in.name : "");
  cJSON_AddStringToObject(o, "description",
                          in.description ? in.description : "");
  cJSON_AddStringToObject(o, "provider", "vendor");
  cJSON_AddStringToObject(o, "permission", "only_me");
  cJSON_AddNullToObject(o, "data_source_type");
  cJSON_AddStringToObject(o, "indexing_technique", "high_quality");
  cJSON_AddNumberToObject(o, "app_count", 0);
  cJSON_AddNumberToObject(o, "document_count", (double)in.docs);
  cJSON_AddNumberToObject(o, "word_count", (double)in.words);
  cJSON_AddNumberToObject(o, "chunk_count", (double)in.chunks);
  cJSON_AddStringToObject(o, "created_by", "");
  cJSON_AddNumberToObject(o, "created_at", (double)in.created_at);
  cJSON_AddStringToObject(o, "updated_by", "");
  cJSON_AddNumberToObject(o, "updated_at", (double)in.created_at);
  cJSON_AddBoolToObject(o, "embedding_available", 1);
  return o;
}

static cJSON *doc_json(const api_doc_info *d, int position) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", d->id);
  cJSON_AddNumberToObject(o, "position", position);
  cJSON_AddStringToObject(o, "data_source_type", d->data_source_type);
  cJSON_AddStringToObject(o, "name", d->name ? d->name : "");
  cJSON_AddStringToObject(o, "created_from", "api");
  cJSON_AddNumberToObject(o, "created_at", (double)d->created_at);
  cJSON_AddStringToObject(o, "indexing_status", status_name(d->status));
  if (d->error)
    cJSON_AddStringToObject(o, "error", d->error);
  else
    cJSON_AddNullToObject(o, "error");
  cJSON_AddBoolToObject(o, "enabled", 1);
  cJSON_AddBoolToObject(o, "archived", 0);
  cJSON_AddStringToObject(o, "display_status",
                          d->status == API_DOC_COMPLETED ? "available"
                          : d->status == API_DOC_ERROR   ? "error"
                                                         : "indexing");
  cJSON_AddNumberToObject(o, "word_count", (double)d->words);
  cJSON_AddNumberToObject(o, "tokens", 0);
  cJSON_AddNumberToObject(o, "hit_count", 0);
  cJSON_AddStringToObject(o, "doc_form", "text_model");
  cJSON *m = cJSON_Parse(d->meta_json ? d->meta_json : "{}");
  cJSON_AddItemToObject(o, "doc_metadata", m ? m : cJSON_CreateObject());
  return o;
}

/* Looks up r->params[0]; replies 404 when missing. */
static api_kb *dataset_of(api_req *r) {
  api_kb *k = api_kbs_get(r->srv->kbs, r->params[0]);
  if (!k)
    api_error(r, 404, "dataset_not_found", "dataset %s not found",
              r->params[0]);
  return k;
}

static int page_reply(api_req *r, cJSON *data, int total, int page, int limit) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "data", data);
  cJSON_AddBoolToObject(o, "has_more", (int64_t)page * limit < total);
  cJSON_AddNumberToObject(o, "limit", limit);
  cJSON_AddNumberToObject(o, "total", total);
  cJSON_AddNumberToObject(o, "page", page);
  return api_reply_json(r, 200, o);
}

int api_h_datasets_create(api_req *r) {
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(b, "description");
  if (!cJSON_IsString(name) || !*name->valuestring) {
    cJSON_Delete(b);
    return api_error(r, 400, "invalid_param",
                     "name is required and must be a non-empty string");
  }
  if (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc)) {
    cJSON_Delete(b);
    return api_error(r, 400, "invalid_param", "description must be a string");
  }
  rag_err err;
  rag_err_clear(&err);
  api_kb *k = NULL;
  rag_status rc =
      api_kbs_create(r->srv->kbs, name->valuestring,
                     cJSON_IsString(desc) ? desc->valuestring : "", &k, &err);
  cJSON_Delete(b);
  if (rc == RAG_BADARG && strstr(err.msg, "exists"))
    return api_error(r, 409, "dataset_name_duplicate", "%s", err.msg);
  if (rc)
    return api_error_rag(r, &err);
  cJSON *o = dataset_json(k, r->arena);
  api_kb_release(k);
  return api_reply_json(r, 200, o);
}

int api_h_datasets_list(api_req *r) {
  int page, limit;
  if (!api_paging(r, &page, &limit))
    return 0;
  api_kb **kbs = NULL;
  size_t n = 0;
  if (api_kbs_list(r->srv->kbs, &kbs, &n))
    return api_error(r, 500, "internal_error", "out of memory");
  cJSON *data = cJSON_CreateArray();
  int total = 0;
  for (size_t i = 0; i < n; i++) {
    api_kb_info in;
    api_kb_info_get(kbs[i], r->arena, &in);
    if (api_auth_allows(r->key, in.id)) {
      if (total >= (page - 1) * limit && total < page * limit)
        cJSON_AddItemToArray(data, dataset_json(kbs[i], r->arena));
      total++;
    }
    api_kb_release(kbs[i]);
  }
  free(kbs);
  return page_reply(r, data, total, page, limit);
}

int api_h_datasets_get(api_req *r) {
  api_kb *k = dataset_of(r);
  if (!k)
    return 0;
  cJSON *o = dataset_json(k, r->arena);
  api_kb_release(k);
  return api_reply_json(r, 200, o);
}

int api_h_datasets_delete(api_req *r) {
  rag_err err;
  rag_err_clear(&err);
  if (api_kbs_delete(r->srv->kbs, r->params[0], &err))
    return api_error(r, 404, "dataset_not_found", "%s", err.msg);
  r->status = 204;
  return 0;
}

/* Optional document metadata: "doc_metadata" or "metadata", an object. */
static int doc_meta(api_req *r, const cJSON *b, char **out) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "doc_metadata");
  if (!m)
    m = cJSON_GetObjectItemCaseSensitive(b, "metadata");
  *out = NULL;
  if (!m || cJSON_IsNull(m))
    return 1;
  if (!cJSON_IsObject(m))
    return api_error(r, 400, "invalid_param",
                     "doc_metadata must be an "
                     "object"),
           0;
  *out = cJSON_PrintUnformatted(m);
  return *out != NULL || (api_error(r, 500, "internal_error", "no memory"), 0);
}

static int add_reply(api_req *r, const api_doc_info *d) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "document", doc_json(d, 1));
  cJSON_AddStringToObject(o, "batch", d->batch);
  return api_reply_json(r, 200, o);
}

/* Dify's process_rule.mode values; absent or null is automatic. */
static int rule_mode_ok(const cJSON *rule) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(rule, "mode");
  if (!m || cJSON_IsNull(m))
    return 1;
  return cJSON_IsString(m) && (!strcmp(m->valuestring, "automatic") ||
                               !strcmp(m->valuestring, "custom") ||
                               !strcmp(m->valuestring, "hierarchical"));
}

/* A refused or failed upload; a full ingest queue (RAG_BUSY) is a 429
** with a Retry-After the writer's measured rate supports. */
static void doc_create_failed(api_req *r, api_kb *k, const rag_err *err) {
  if (err->code == RAG_BUSY)
    r->retry_after = api_kb_retry_after(k);
  api_error_rag(r, err);
}

int api_h_doc_create_text(api_req *r) {
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
  const cJSON *tech = cJSON_GetObjectItemCaseSensitive(b, "indexing_technique");
  const cJSON *rule = cJSON_GetObjectItemCaseSensitive(b, "process_rule");
  char *meta = NULL;
  int ok = 0;
  if (!cJSON_IsString(name) || !*name->valuestring)
    api_error(r, 400, "invalid_param", "name must be a non-empty string");
  else if (!cJSON_IsString(text))
    api_error(r, 400, "invalid_param", "text must be a string");
  else if (tech && !cJSON_IsString(tech))
    api_error(r, 400, "invalid_param", "indexing_technique must be a string");
  else if (rule && !cJSON_IsObject(rule) && !cJSON_IsNull(rule))
    api_error(r, 400, "invalid_param", "process_rule must be an object");
  else if (!rule_mode_ok(rule))
    api_error(r, 400, "invalid_param",
              "process_rule.mode must be automatic, custom or hierarchical");
  else if (strlen(text->valuestring) > MAX_TEXT)
    api_error(r, 413, "file_too_large", "text exceeds %u bytes", MAX_TEXT);
  else
    ok = doc_meta(r, b, &meta);
  if (ok) {
    api_kb *k = dataset_of(r);
    if (k) {
      rag_err err;
      rag_err_clear(&err);
      api_doc_info d;
      if (api_kb_add_doc(k, name->valuestring, text->valuestring,
                         strlen(text->valuestring), NULL, meta, NULL, r->arena,
                         &d, &err))
        doc_create_failed(r, k, &err);
      else
        add_reply(r, &d);
      api_kb_release(k);
    }
  }
  free(meta);
  cJSON_Delete(b);
  return 0;
}

int api_h_doc_create_file(api_req *r) {
  if (!r->up_name)
    return api_error(r, 400, "no_file_uploaded",
                     "a multipart \"file\" part is required");
  char *meta = NULL;
  cJSON *b = NULL;
  if (r->up_data.len) {
    size_t bad = rag_utf8_first_invalid(r->up_data.data, r->up_data.len);
    const char *end = NULL;
    if (bad < r->up_data.len)
      return api_error(r, 400, "invalid_utf8",
                       "data: invalid UTF-8 at byte "
                       "%zu",
                       bad);
    b = cJSON_ParseWithLengthOpts(r->up_data.data, r->up_data.len, &end, 0);
    if (!b || !cJSON_IsObject(b)) {
      size_t pos = end ? (size_t)(end - r->up_data.data) : 0;
      cJSON_Delete(b);
      return api_error(r, 400, "invalid_json",
                       "data: malformed JSON object at byte %zu", pos);
    }
    if (!doc_meta(r, b, &meta)) {
      cJSON_Delete(b);
      return 0;
    }
  }
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(b, "name");
  const char *name =
      cJSON_IsString(nm) && *nm->valuestring ? nm->valuestring : r->up_name;
  if (!rag_utf8_valid(name, strlen(name)))
    name = "upload";
  api_kb *k = dataset_of(r);
  if (k) {
    rag_err err;
    rag_err_clear(&err);
    api_doc_info d;
    close(r->up_fd);
    r->up_fd = -1;
    if (api_kb_add_doc(k, name, NULL, 0, r->up_path, meta, NULL, r->arena, &d,
                       &err))
      doc_create_failed(r, k, &err);
    else
      add_reply(r, &d);
    api_kb_release(k);
  }
  free(meta);
  cJSON_Delete(b);
  return 0;
}

int api_h_docs_list(api_req *r) {
  int page, limit;
  if (!api_paging(r, &page, &limit))
    return 0;
  api_doc_query q = {api_query(r, "keyword"), NULL,
                     (size_t)(page - 1) * (size_t)limit, (size_t)limit};
  api_kb *k = dataset_of(r);
  if (!k)
    return 0;
  api_doc_info *docs = NULL;
  size_t n = 0, total = 0;
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = api_kb_docs_find(k, &q, r->arena, &docs, &n, &total, &err);
  api_kb_release(k);
  if (rc)
    return api_error_rag(r, &err);
  cJSON *data = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(data, doc_json(&docs[i], (int)docs[i].position));
  return page_reply(r, data, (int)total, page, limit);
}

int api_h_doc_delete(api_req *r) {
  api_kb *k = dataset_of(r);
  if (!k)
    return 0;
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = api_kb_delete_doc(k, r->params[1], &err);
  api_kb_release(k);
  if (rc == RAG_NOTFOUND)
    return api_error(r, 404, "document_not_found", "%s", err.msg);
  if (rc)
    return api_error_rag(r, &err);
  r->status = 204;
  return 0;
}

int api_h_indexing_status(api_req *r) {
  api_kb *k = dataset_of(r);
  if (!k)
    return 0;
  api_doc_info *docs = NULL;
  size_t n = 0, total = 0;
  rag_err err;
  rag_err_clear(&err);
  /* Dify takes the batch id; a document id is accepted too. */
  api_doc_query q = {NULL, r->params[1], 0, 0};
  rag_status rc = api_kb_docs_find(k, &q, r->arena, &docs, &n, &total, &err);
  api_kb_release(k);
  if (rc)
    return api_error_rag(r, &err);
  cJSON *data = cJSON_CreateArray();
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    found++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", docs[i].id);
    cJSON_AddStringToObject(o, "indexing_status", status_name(docs[i].status));
    double done =
        docs[i].status == API_DOC_COMPLETED ? (double)docs[i].created_at : 0;
    if (done > 0)
      cJSON_AddNumberToObject(o, "completed_at", done);
    else
      cJSON_AddNullToObject(o, "completed_at");
    if (docs[i].error)
      cJSON_AddStringToObject(o, "error", docs[i].error);
    else
      cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(
        o, "completed_segments",
        docs[i].status == API_DOC_COMPLETED ? (double)docs[i].segments : 0);
    cJSON_AddNumberToObject(o, "total_segments", (double)docs[i].segments);
    cJSON_AddItemToArray(data, o);
  }
  if (!found) {
    cJSON_Delete(data);
    return api_error(r, 404, "document_not_found", "no batch or document %s",
                     r->params[1]);
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "data", data);
  return api_reply_json(r, 200, o);
}
