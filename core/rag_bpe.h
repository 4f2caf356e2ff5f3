/* core/rag_bpe.h -- Exact BPE token counts for OpenAI encodings.
**
** Encodes text with cl100k_base (gpt-3.5-turbo, gpt-4, text-embedding-3-*)
** or o200k_base (gpt-4o, o1, ...) exactly as js-tiktoken 1.0.21 does, from
** the files scripts/fetch-tiktoken.sh writes into data/tiktoken/:
** ENC.tiktoken ("base64 rank" lines) and ENC.json (the pre-tokenizer
** pattern and the special tokens). The pattern splits the text into pieces
** under PCRE2 (UTF mode, JIT when available); each piece is then merged
** byte pair by byte pair, always merging the adjacent pair of lowest rank
** (leftmost on ties), like tiktoken.
**
** Ordinary encoding only: special tokens such as "<|endoftext|>" are
** encoded as the plain text they look like. That is js-tiktoken's
** encode(text, [], []) and Python tiktoken's encode_ordinary(text).
** js-tiktoken's plain encode(text) instead throws when the text contains a
** special token (disallowedSpecial defaults to "all"); a token counter must
** never throw on user text, so ragd does not copy that.
**
** Text is UTF-8. Invalid sequences are first replaced by U+FFFD (maximal
** subparts, as TextDecoder does), so the ids are those js-tiktoken gives
** for new TextDecoder().decode(bytes); NUL bytes are ordinary text.
**
** Ownership: rag_bpe_load() returns a handle freed by rag_bpe_free();
**            rag_bpe_encode() returns ids freed with free(); the counter
**            from rag_bpe_tokcount() lives as long as its handle.
** Errors:    fallible calls return rag_status and fill *err; a missing rank
**            file is RAG_NOTFOUND ("... run scripts/fetch-tiktoken.sh").
** Threads:   a loaded rag_bpe is immutable; every function may run on many
**            threads at once on one handle (per-call scratch only). */
#ifndef RAG_BPE_H
#define RAG_BPE_H

#include "core/rag.h"
#include "core/rag_tokcount.h"

typedef struct rag_bpe rag_bpe;

/* Directory holding the rank files: $RAGD_TIKTOKEN_DIR when set and
** non-empty, else RAG_SOURCE_DIR "/data/tiktoken". Static or environment
** storage; never NULL. */
const char *rag_bpe_default_dir(void);

/* Loads encoding ("cl100k_base" or "o200k_base") from dir (NULL means
** rag_bpe_default_dir()). Takes about 50-100 ms (200k ranks); load once
** and share. On failure *out is NULL: RAG_NOTFOUND when a file is missing,
** RAG_BADARG for an unknown encoding name, RAG_CORRUPT for a malformed
** file, RAG_NOMEM. */
rag_status rag_bpe_load(const char *dir, const char *encoding, rag_bpe **out,
                        rag_err *err);

/* Frees b; rag_bpe_free(NULL) does nothing. No counter from
** rag_bpe_tokcount(b) may be used afterwards. */
void rag_bpe_free(rag_bpe *b);

/* "cl100k_base" or "o200k_base"; static storage. */
const char *rag_bpe_name(const rag_bpe *b);

/* Token ids of text[0..n) (not NUL-terminated; NULL allowed when n == 0).
** *ids is malloc'd (free()), *nids entries; for n == 0, *ids is NULL and
** *nids 0. On failure *ids is NULL and *nids 0: RAG_NOMEM, RAG_TOOBIG over
** 1 GB of text, or RAG_IO when PCRE2 fails to match. */
rag_status rag_bpe_encode(const rag_bpe *b, const char *text, size_t n,
                          uint32_t **ids, size_t *nids, rag_err *err);

/* Number of tokens rag_bpe_encode() would return, without storing them.
** *count is 0 on failure. */
rag_status rag_bpe_count(const rag_bpe *b, const char *text, size_t n,
                         size_t *count, rag_err *err);

/* The token counter interface over b (name = the encoding name), for the
** chunker and prompt assembly. Its count cannot report errors: on
** allocation failure it returns n, an upper bound (every byte is at most
** one token). Its prefix method cuts at the end of a pre-tokenizer piece
** (the end of a word, before the space of the next one) and only cuts
** inside a piece when the first piece alone exceeds the budget. Owned by
** b; never NULL for a non-NULL b. */
const rag_tokcount *rag_bpe_tokcount(const rag_bpe *b);

/* Encoding used by an OpenAI model name: "o200k_base" for gpt-4o*, gpt-4.1*,
** gpt-5*, o1*, o3*, o4*; "cl100k_base" for gpt-4*, gpt-3.5*, text-embedding-
** 3-* and text-embedding-ada-002; NULL when unknown (use the estimate). An
** "openai/" or "azure/" prefix is ignored. Static storage. */
const char *rag_bpe_encoding_for_model(const char *model);

/* Estimated tokens of chat message framing, not of the contents, following
** OpenAI's cookbook ("How to count tokens with tiktoken"): 3 per message, 1
** per message that has a name, and 3 that prime the reply, for
** gpt-3.5-turbo-0613 and later, gpt-4 and gpt-4o; gpt-3.5-turbo-0301 uses 4
** per message and -1 per name. Add the token counts of each message's role,
** content (and name) to this. model may be NULL (newer framing). */
size_t rag_bpe_chat_overhead(const char *model, size_t nmessages,
                             size_t nnames);

#endif
