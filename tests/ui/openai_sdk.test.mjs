// tests/ui/openai_sdk.test.mjs -- The official OpenAI Node SDK (npm
// package "openai") against `ragd serve`, as an application would use it
// with baseURL pointed at ragd: a knowledge base made through the Dify API
// (fetch), then chat.completions.create on model "kb:<dataset>" blocking
// and streaming (with usage), models.list, and the SDK's typed errors for
// an unknown model (NotFoundError) and a wrong key (AuthenticationError).
// Starts no server: tests/test_web.c runs `ragd serve` and passes its URL
// and API key. Usage: node tests/ui/openai_sdk.test.mjs URL KEY
// Needs the openai package under third_party/ui (scripts/ui-test.sh
// --install). Exit 0 = passed.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error("usage: node tests/ui/openai_sdk.test.mjs URL KEY");
  process.exit(2);
}
let failed = 0;
const check = (ok, msg) => {
  if (!ok) {
    console.error("FAIL openai_sdk: " + msg);
    failed++;
  }
};

let OpenAI;
try {
  const req = createRequire(join(root, "third_party/ui/"));
  OpenAI = req("openai");
} catch (e) {
  console.error("FAIL openai_sdk: the openai package is not installed under " +
                "third_party/ui (run scripts/ui-test.sh --install): " + e.message);
  process.exit(1);
}

const base = url.replace(/\/$/, "");
const auth = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
async function api(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: auth, body: body ? JSON.stringify(body) : undefined,
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

try {
  // A knowledge base with one document, through the Dify Knowledge API.
  const ds = await api("POST", "/v1/datasets", { name: "sdk-sourdough" });
  const text = readFileSync(join(root, "datasets/sample/sourdough.md"), "utf8");
  const doc = await api("POST", `/v1/datasets/${ds.id}/document/create-by-text`, {
    name: "sourdough.md", text, indexing_technique: "high_quality",
    process_rule: { mode: "automatic" },
  });
  for (let i = 0; ; i++) {
    const st = await api("GET",
      `/v1/datasets/${ds.id}/documents/${doc.batch}/indexing-status`);
    const s = st.data[0].indexing_status;
    if (s === "completed") break;
    if (s === "error" || i > 600) throw new Error("indexing: " + JSON.stringify(st));
    await new Promise((ok) => setTimeout(ok, 100));
  }

  const client = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
  const model = `kb:${ds.id}`;
  const messages = [{ role: "user", content: "How long does sourdough bake?" }];

  // Blocking.
  const c = await client.chat.completions.create({ model, messages });
  check(c.object === "chat.completion", "object is " + c.object);
  check(typeof c.id === "string" && c.id.length > 0, "no id");
  const msg = c.choices?.[0]?.message;
  check(msg?.role === "assistant", "role is " + msg?.role);
  check(typeof msg?.content === "string" && /\[1\]/.test(msg.content),
        "no cited answer: " + JSON.stringify(msg));
  check(c.choices[0].finish_reason === "stop", "finish_reason " + c.choices[0].finish_reason);
  check(c.usage?.total_tokens === c.usage?.prompt_tokens + c.usage?.completion_tokens &&
        c.usage.prompt_tokens > 0, "usage " + JSON.stringify(c.usage));

  // Streaming, with the usage chunk at the end.
  const stream = await client.chat.completions.create({
    model, messages, stream: true, stream_options: { include_usage: true },
  });
  let streamed = "", finish = null, usage = null, chunks = 0;
  for await (const ch of stream) {
    chunks++;
    check(ch.object === "chat.completion.chunk", "chunk object " + ch.object);
    const d = ch.choices?.[0];
    if (d?.delta?.content) streamed += d.delta.content;
    if (d?.finish_reason) finish = d.finish_reason;
    if (ch.usage) usage = ch.usage;
  }
  check(chunks >= 2, "only " + chunks + " chunks");
  check(streamed === msg.content, "streamed answer differs from the blocking one: " +
        JSON.stringify(streamed));
  check(finish === "stop", "stream finish_reason " + finish);
  check(usage && usage.completion_tokens > 0, "stream usage " + JSON.stringify(usage));

  // The SDK's helper accumulates the same stream into a completion.
  const runner = client.chat.completions.stream({ model, messages });
  const final = await runner.finalChatCompletion();
  check(final.choices[0].message.content === msg.content,
        "stream helper's answer differs: " + final.choices[0].message.content);

  // Models: an SDK list (async iteration over its page).
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  check(ids.length > 0 && ids.every((id) => typeof id === "string"),
        "models " + JSON.stringify(ids));

  // Errors arrive as the SDK's typed exceptions.
  try {
    await client.chat.completions.create({ model: "no-such-model", messages });
    check(false, "an unknown model was accepted");
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError, "unknown model: " + e);
    check(e.status === 404 && e.code === "model_not_found",
          `unknown model: status ${e.status} code ${e.code}`);
  }
  const wrong = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong-key", maxRetries: 0 });
  try {
    await wrong.chat.completions.create({ model, messages });
    check(false, "a wrong key was accepted");
  } catch (e) {
    check(e instanceof OpenAI.AuthenticationError && e.status === 401,
          "wrong key: " + e);
  }
} catch (e) {
  check(false, e.stack || String(e));
}
if (failed) process.exit(1);
console.log("openai_sdk: ok");
