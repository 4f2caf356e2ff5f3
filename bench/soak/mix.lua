-- bench/soak/mix.lua -- wrk script for scripts/soak.sh: a steady mix of
-- queries, uploads and deletes against one dataset of `ragd serve`.
--
-- Environment (set by soak.sh): SOAK_DATASET (dataset id), SOAK_KEY
-- (API key, may be empty: the open loopback server needs none).
--
-- The mix, out of every 20 requests per connection-thread:
--   8 POST /v1/datasets/{id}/retrieve   (hybrid, keyword, semantic in turn)
--   4 POST /retrieval                   (Dify External Knowledge API)
--   4 POST /v1/chat-messages            (blocking; extractive answerer)
--   2 POST .../document/create-by-text  (a small document)
--   2 DELETE .../documents/{doc}        (a document this thread created;
--                                        a retrieve when it has none yet)
-- Creates and deletes have the same weight so the KB stays about the same
-- size: RSS growth then means a leak, not more data. A create refused
-- with 429 "too_many_requests" (the server's ingest queue is full: its
-- backpressure) is counted apart as `busy` and reported by done(), so the
-- soak can tell it from a real error. Each wrk thread has
-- its own Lua state, so the queue of created ids is per thread and no id
-- is deleted twice.

local ds = os.getenv("SOAK_DATASET") or "missing-dataset"
local key = os.getenv("SOAK_KEY") or ""

local queries = {
  "How long should sourdough bake?", "espresso extraction pressure",
  "Cache-Control no-store", "largest planet in the solar system",
  "green tea water temperature", "approximate nearest neighbour search",
  "bread crust and oven temperature", "HTTP caching validators ETag",
}
local methods = { "hybrid_search", "full_text_search", "semantic_search" }
local words = {
  "kettle", "granite", "harbor", "lantern", "meadow", "orchid", "quartz",
  "saffron", "tundra", "velvet", "walnut", "zephyr", "copper", "delta",
}

local n = 0          -- requests issued by this thread
busy = 0             -- 429s for a full ingest queue (global: read by done)
local created = {}   -- document ids this thread may delete (FIFO)
local head, tail = 1, 0

local function headers()
  local h = { ["Content-Type"] = "application/json" }
  if key ~= "" then h["Authorization"] = "Bearer " .. key end
  return h
end

local function retrieve(i)
  local body = string.format(
    '{"query":"%s","retrieval_model":{"search_method":"%s","top_k":5,' ..
    '"reranking_enable":false,"score_threshold_enabled":false}}',
    queries[i % #queries + 1], methods[i % #methods + 1])
  return wrk.format("POST", "/v1/datasets/" .. ds .. "/retrieve", headers(),
                    body)
end

local function external(i)
  local body = string.format(
    '{"knowledge_id":"%s","query":"%s","retrieval_setting":' ..
    '{"top_k":4,"score_threshold":0.0}}', ds, queries[i % #queries + 1])
  return wrk.format("POST", "/retrieval", headers(), body)
end

local function chat(i)
  local body = string.format(
    '{"inputs":{},"query":"%s","response_mode":"blocking","user":"soak",' ..
    '"dataset_id":"%s"}', queries[i % #queries + 1], ds)
  return wrk.format("POST", "/v1/chat-messages", headers(), body)
end

local function create(i)
  local t = {}
  for k = 1, 40 do t[k] = words[(i * 7 + k * 3) % #words + 1] end
  local body = string.format(
    '{"name":"soak-%d.txt","text":"Soak note %d. %s.",' ..
    '"indexing_technique":"high_quality","process_rule":{"mode":"automatic"}}',
    i, i, table.concat(t, " "))
  return wrk.format("POST", "/v1/datasets/" .. ds ..
                    "/document/create-by-text", headers(), body)
end

request = function()
  n = n + 1
  local slot = n % 20
  if slot < 8 then return retrieve(n) end
  if slot < 12 then return external(n) end
  if slot < 16 then return chat(n) end
  if slot < 18 then return create(n) end
  if head <= tail then
    local id = created[head]
    created[head] = nil
    head = head + 1
    return wrk.format("DELETE", "/v1/datasets/" .. ds .. "/documents/" .. id,
                      headers())
  end
  return retrieve(n)
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

response = function(status, hdrs, body)
  if status == 429 and body and body:find('"code":"too_many_requests"', 1,
                                          true) then
    busy = busy + 1
    return
  end
  -- A create-by-text reply: {"document":{"id":"<uuid>",...},"batch":...}
  if status == 200 and body then
    local id = body:match('^{"document":{"id":"([%x%-]+)"')
    if id then
      tail = tail + 1
      created[tail] = id
    end
  end
end

done = function(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + (t:get("busy") or 0) end
  io.write(string.format("soak-lua: busy %d\n", b))
end
