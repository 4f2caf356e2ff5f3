/* api/api_conv.c -- Conversations of POST /v1/chat-messages, in
** <data_dir>/conversations.sqlite:
**   conversations(id, user, created_at, name)
**   messages(id, conversation_id, query, answer, created_at, usage)
** and Dify's GET /v1/conversations?user= and GET /v1/messages?
** conversation_id=&user= (newest conversations first; a conversation's
** messages oldest first).
** A conversation belongs to the API key (Dify: the app) and the user that
** started it: anyone else reads it as not found.
** Each call opens its own connection (WAL, busy timeout), so handlers and
** stream threads never share one. */
#include "api/api_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONV_NAME_MAX 64 /* bytes of a conversation's name */

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS conversations("
    " id TEXT PRIMARY KEY, user TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " name TEXT NOT NULL DEFAULT '', key_id TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS conversations_user"
    " ON conversations(user, created_at);"
    "CREATE TABLE IF NOT EXISTS messages("
    " id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
    " query TEXT NOT NULL, answer TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, usage TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_conv"
    " ON messages(conversation_id, created_at);";

static rag_status conv_open(api_server *s, sqlite3 **db, rag_err *err) {
  if (sqlite3_open_v2(s->conv_path, db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    rag_status rc = rag_fail(err, RAG_IO, "conversations: %s",
                             *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_close(*db);
    *db = NULL;
    return rc;
  }
  sqlite3_busy_timeout(*db, 10000);
  char *msg = NULL;
  if (sqlite3_exec(*db, schema, NULL, NULL, &msg) != SQLITE_OK) {
    rag_status rc =
        rag_fail(err, RAG_IO, "conversations: %s", msg ? msg : "schema");
    sqlite3_free(msg);
    sqlite3_close(*db);
    *db = NULL;
    return rc;
  }
  return RAG_OK;
}

static rag_status db_fail(sqlite3 *db, rag_err *err) {
  return rag_fail(err, RAG_IO, "conversations: %s", sqlite3_errmsg(db));
}

static int conv_owned(sqlite3 *db, const char *id, const char *user,
                      const char *key) {
  sqlite3_stmt *st = NULL;
  int found = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT 1 FROM conversations WHERE id=?1 AND user=?2"
                         " AND key_id=?3",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key ? key : "", -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return found;
}

static const char *col_text(sqlite3_stmt *st, int i, rag_arena *a) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return rag_arena_strdup(a, t ? (const char *)t : "");
}

rag_status api_conv_history(api_server *s, const char *id, const char *user,
                            const char *key, size_t max, rag_arena *a,
                            api_conv_turn **turns, size_t *n, rag_err *err) {
  *turns = NULL;
  *n = 0;
  sqlite3 *db = NULL;
  rag_status rc = conv_open(s, &db, err);
  if (rc)
    return rc;
  if (!conv_owned(db, id, user, key)) {
    sqlite3_close(db);
    return rag_fail(err, RAG_NOTFOUND, "conversation %s not found", id);
  }
  sqlite3_stmt *st = NULL;
  *turns = rag_arena_calloc(a, max + 1, sizeof(**turns));
  if (!*turns)
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  if (!rc && sqlite3_prepare_v2(
                 db,
                 "SELECT query, answer FROM (SELECT rowid AS r, query, answer"
                 " FROM messages WHERE conversation_id=?1 ORDER BY rowid DESC"
                 " LIMIT ?2) ORDER BY r",
                 -1, &st, NULL) != SQLITE_OK)
    rc = db_fail(db, err);
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    int step;
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
      api_conv_turn *t = &(*turns)[(*n)++];
      t->query = col_text(st, 0, a);
      t->answer = col_text(st, 1, a);
      if (!t->query || !t->answer) {
        rc = rag_fail(err, RAG_NOMEM, "out of memory");
        break;
      }
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}

rag_status api_conv_save(api_server *s, const char *conv_id, const char *user,
                         const char *key, const char *msg_id, const char *query,
                         const char *answer, const char *usage_json,
                         rag_err *err) {
  sqlite3 *db = NULL;
  rag_status rc = conv_open(s, &db, err);
  if (rc)
    return rc;
  char name[CONV_NAME_MAX + 1];
  size_t nl = strlen(query);
  if (nl > CONV_NAME_MAX) { /* cut at a UTF-8 sequence boundary */
    nl = CONV_NAME_MAX;
    while (nl > 0 && ((unsigned char)query[nl] & 0xC0) == 0x80)
      nl--;
  }
  memcpy(name, query, nl);
  name[nl] = '\0';
  sqlite3_int64 now = (sqlite3_int64)time(NULL);
  sqlite3_stmt *c = NULL, *m = NULL;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(
          db,
          "INSERT OR IGNORE INTO conversations(id, user,"
          " created_at, name, key_id) VALUES(?1, ?2, ?3, ?4, ?5)",
          -1, &c, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO messages(id, conversation_id, query,"
                         " answer, created_at, usage)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                         -1, &m, NULL) != SQLITE_OK) {
    rc = db_fail(db, err);
  } else {
    sqlite3_bind_text(c, 1, conv_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(c, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c, 3, now);
    sqlite3_bind_text(c, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(c, 5, key ? key : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(m, 1, msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(m, 2, conv_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(m, 3, query, -1, SQLITE_STATIC);
    sqlite3_bind_text(m, 4, answer ? answer : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(m, 5, now);
    if (usage_json)
      sqlite3_bind_text(m, 6, usage_json, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(m, 6);
    if (sqlite3_step(c) != SQLITE_DONE || sqlite3_step(m) != SQLITE_DONE ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
      rc = db_fail(db, err);
  }
  sqlite3_finalize(c);
  sqlite3_finalize(m);
  if (rc)
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

/* ---- handlers ---- */

static const char *key_of(api_req *r) {
  return r->key ? r->key->name : "";
}

static int required_user(api_req *r, const char **user) {
  *user = api_query(r, "user");
  if (!*user || !**user)
    return api_error(r, 400, "invalid_param", "user is required"), 0;
  return 1;
}

int api_h_conversations(api_req *r) {
  const char *user;
  int page, limit;
  if (!required_user(r, &user) || !api_paging(r, &page, &limit))
    return 0;
  rag_err err;
  rag_err_clear(&err);
  sqlite3 *db = NULL;
  if (conv_open(r->srv, &db, &err))
    return api_error_rag(r, &err);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT id, name, created_at FROM conversations"
                         " WHERE user=?1 AND key_id=?4"
                         " ORDER BY created_at DESC, rowid DESC"
                         " LIMIT ?2 OFFSET ?3",
                         -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, &err);
    sqlite3_close(db);
    return api_error_rag(r, &err);
  }
  sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, limit + 1);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)(page - 1) * limit);
  sqlite3_bind_text(st, 4, key_of(r), -1, SQLITE_STATIC);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "limit", limit);
  cJSON *d = cJSON_AddArrayToObject(o, "data");
  int n = 0, more = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (n == limit) {
      more = 1;
      break;
    }
    n++;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(e, "name",
                            (const char *)sqlite3_column_text(st, 1));
    cJSON_AddObjectToObject(e, "inputs");
    cJSON_AddStringToObject(e, "status", "normal");
    cJSON_AddStringToObject(e, "introduction", "");
    cJSON_AddNumberToObject(e, "created_at",
                            (double)sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(e, "updated_at",
                            (double)sqlite3_column_int64(st, 2));
    cJSON_AddItemToArray(d, e);
  }
  cJSON_AddBoolToObject(o, "has_more", more);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return api_reply_json(r, 200, o);
}

int api_h_messages(api_req *r) {
  const char *user, *conv = api_query(r, "conversation_id");
  int page, limit;
  if (!required_user(r, &user) || !api_paging(r, &page, &limit))
    return 0;
  if (!conv || !api_is_uuid(conv))
    return api_error(r, 400, "invalid_param", "conversation_id is required");
  rag_err err;
  rag_err_clear(&err);
  sqlite3 *db = NULL;
  if (conv_open(r->srv, &db, &err))
    return api_error_rag(r, &err);
  if (!conv_owned(db, conv, user, key_of(r))) {
    sqlite3_close(db);
    return api_error(r, 404, "not_found", "Conversation Not Exists.");
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT id, query, answer, created_at, usage"
                         " FROM messages WHERE conversation_id=?1"
                         " ORDER BY rowid LIMIT ?2 OFFSET ?3",
                         -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, &err);
    sqlite3_close(db);
    return api_error_rag(r, &err);
  }
  sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, limit + 1);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)(page - 1) * limit);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "limit", limit);
  cJSON *d = cJSON_AddArrayToObject(o, "data");
  int n = 0, more = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (n == limit) {
      more = 1;
      break;
    }
    n++;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(e, "conversation_id", conv);
    cJSON_AddObjectToObject(e, "inputs");
    cJSON_AddStringToObject(e, "query",
                            (const char *)sqlite3_column_text(st, 1));
    cJSON_AddStringToObject(e, "answer",
                            (const char *)sqlite3_column_text(st, 2));
    cJSON_AddArrayToObject(e, "message_files");
    cJSON_AddNullToObject(e, "feedback");
    cJSON_AddArrayToObject(e, "retriever_resources");
    const unsigned char *u = sqlite3_column_text(st, 4);
    cJSON *uj = u ? cJSON_Parse((const char *)u) : NULL;
    if (uj)
      cJSON_AddItemToObject(e, "usage", uj);
    cJSON_AddNumberToObject(e, "created_at",
                            (double)sqlite3_column_int64(st, 3));
    cJSON_AddItemToArray(d, e);
  }
  cJSON_AddBoolToObject(o, "has_more", more);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return api_reply_json(r, 200, o);
}
