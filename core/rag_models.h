/* core/rag_models.h -- Providers, models and routes from the config: the
** static half of the model registry (the runtime registry, health checks
** and routing live in llm/llm_router.h).
**
** Config (all sections optional; see README "Providers and models"):
**   "providers": [{"name": "openai", "kind": "openai",
**                  "base_url": "https://api.openai.com/v1",
**                  "api_key_env": "OPENAI_API_KEY", "organization": null,
**                  "azure_deployment": null, "api_version": null,
**                  "timeout": 120, "max_retries": 3, "rpm": 0, "tpm": 0}]
**   "models":    [{"name": "gpt-4o-mini", "provider": "openai",
**                  "model": "gpt-4o-mini", "type": "llm",
**                  "context_length": 128000, "max_output": 16384,
**                  "price_in": 0.15, "price_out": 0.60,
**                  "rpm": 0, "tpm": 0, "dim": 0,
**                  "tokenizer": "o200k_base", "weight": 1,
**                  "capabilities": ["stream", "tools"]}]
**   "routes":    [{"name": "default", "classifier": "rules",
**                  "tiers": {"simple": "gpt-4o-mini", "medium": "...",
**                            "complex": "..."},
**                  "fallback": ["claude-3-5-haiku", "extractive"]}]
** kind is the wire format: "openai" (OpenAI and every OpenAI-compatible
** server: vLLM, LocalAI, llama.cpp, TEI's OpenAI routes), "azure",
** "anthropic", "ollama", "cohere" (Cohere, Jina, vLLM, Xinference rerank),
** "tei" (TEI's native /embed and /rerank). Missing base URLs default per
** kind (OpenAI https://api.openai.com/v1, Anthropic
** https://api.anthropic.com, Ollama http://127.0.0.1:11434, Cohere
** https://api.cohere.com). Several models may share a name: they are
** deployments of one model, balanced by weight.
** Secrets: only the NAME of the environment variable is in the config;
** rag_provider_key() reads it when a request is made. Keys never appear in
** errors, logs or API responses.
** Ownership: rag_models_load fills a caller-owned rag_models;
**            rag_models_free releases it.
** Errors:    RAG_BADARG naming the entry and key ("models[2].price_in must
**            be a number >= 0").
** Threads:   immutable after loading. */
#ifndef RAG_MODELS_H
#define RAG_MODELS_H

#include "core/rag.h"
#include "core/rag_cfg.h"

typedef enum {
  RAG_MODEL_LLM,
  RAG_MODEL_EMBEDDING,
  RAG_MODEL_RERANK
} rag_model_type;

enum {
  RAG_CAP_STREAM = 1,
  RAG_CAP_TOOLS = 2,
  RAG_CAP_VISION = 4,
  RAG_CAP_JSON = 8
};

typedef struct rag_provider_def {
  char *name;             /* unique */
  char *kind;             /* wire format, see above */
  char *base_url;         /* no trailing slash */
  char *api_key_env;      /* NULL: no key sent */
  char *organization;     /* OpenAI-Organization header, may be NULL */
  char *azure_deployment; /* Azure only */
  char *api_version;      /* Azure "2024-06-01"; Anthropic version header */
  double timeout;         /* seconds (120) */
  int max_retries;        /* 3 */
  int rpm, tpm;           /* per-minute limits, 0 = none */
} rag_provider_def;

typedef struct rag_model_def {
  char *name;     /* ragd's name; unique per deployment group */
  char *provider; /* a rag_provider_def name */
  char *model;    /* upstream id (defaults to name) */
  rag_model_type type;
  int context_length; /* tokens (8192) */
  int max_output;     /* tokens (1024) */
  double price_in;    /* USD per 1M input tokens (0) */
  double price_out;   /* USD per 1M output tokens (0) */
  int rpm, tpm;       /* 0 = none */
  int dim;            /* embedding dimension, 0 = ask the provider */
  char *tokenizer;    /* "cl100k_base", "o200k_base" or NULL (estimate) */
  double weight;      /* load-balancing weight (1) */
  unsigned caps;      /* RAG_CAP_* */
} rag_model_def;

typedef struct rag_route_def {
  char *name;
  char *classifier; /* "rules" or an llm model name */
  char *tiers[3];   /* simple, medium, complex: model names (NULL ok) */
  char **fallback;  /* model names tried in order after the tier's */
  size_t nfallback;
} rag_route_def;

typedef struct rag_models {
  rag_provider_def *providers;
  size_t nproviders;
  rag_model_def *models;
  size_t nmodels;
  rag_route_def *routes;
  size_t nroutes;
} rag_models;

/* Parses the providers/models/routes sections of cfg (cfg->sections_json).
** Validates references (a model's provider exists, a route's models
** exist). An empty config gives empty lists. */
rag_status rag_models_load(const rag_cfg *cfg, rag_models *out, rag_err *err);
/* The same from a JSON object text holding those sections. */
rag_status rag_models_parse(const char *json, rag_models *out, rag_err *err);
void rag_models_free(rag_models *m);

const rag_provider_def *rag_models_provider(const rag_models *m,
                                            const char *name);
/* First model named name of type t (any type when t < 0); NULL if none. */
const rag_model_def *rag_models_find(const rag_models *m, const char *name,
                                     int t);
const rag_route_def *rag_models_route(const rag_models *m, const char *name);

/* Parses one provider / model object (the runtime registry's POST/PUT
** body uses the same shape). *out is zeroed first; free with
** rag_provider_def_free / rag_model_def_free. */
rag_status rag_provider_def_parse(const char *json, rag_provider_def *out,
                                  rag_err *err);
rag_status rag_model_def_parse(const char *json, rag_model_def *out,
                               rag_err *err);
void rag_provider_def_free(rag_provider_def *p);
void rag_model_def_free(rag_model_def *m);

/* The provider's API key from its environment variable; NULL when the
** provider has none or the variable is unset. Do not log it. */
const char *rag_provider_key(const rag_provider_def *p);
/* Default base URL for a kind, or NULL. */
const char *rag_provider_default_url(const char *kind);
/* Cost in USD of a call: tokens * price per 1M. */
double rag_model_cost(const rag_model_def *m, int64_t tokens_in,
                      int64_t tokens_out);

#endif
