// bench/bench_tokens_node.mjs -- js-tiktoken's side of bench_tokens: the
// token count of a file and the seconds one encode of it takes.
//
// Usage: node bench/bench_tokens_node.mjs FILE ENCODING [RUNS]
// ENCODING is cl100k_base or o200k_base. Resolves js-tiktoken from
// $RAGD_SOURCE_DIR/third_party/node_modules (default: the repo this file
// is in), as tests/bpe_oracle.mjs does. Reads FILE as UTF-8, encodes it
// once to warm up (JIT, rank tables), then RUNS times (default 3) with
// ordinary encoding, encode(text, [], []), like rag_bpe. Prints one line:
//   COUNT SECONDS      (SECONDS: the median run)
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.RAGD_SOURCE_DIR || path.join(here, "..");
const [file, encoding, runsArg] = process.argv.slice(2);
if (!file || !["cl100k_base", "o200k_base"].includes(encoding)) {
  console.error("usage: bench_tokens_node.mjs FILE cl100k_base|o200k_base [RUNS]");
  process.exit(2);
}
const runs = Math.max(1, Number.parseInt(runsArg ?? "3", 10) || 3);
const require = createRequire(path.join(root, "third_party", "node_modules", "x.js"));
let Tiktoken, ranks;
try {
  ({ Tiktoken } = require("js-tiktoken/lite"));
  ranks = require(`js-tiktoken/ranks/${encoding}`);
} catch (e) {
  console.error(`bench_tokens_node: js-tiktoken not found under ${root}/third_party: run scripts/fetch-tiktoken.sh (${e.message})`);
  process.exit(1);
}
const enc = new Tiktoken(ranks.default ?? ranks);
const text = fs.readFileSync(file, "utf8");

let count = enc.encode(text, [], []).length; // warm-up
const secs = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  const n = enc.encode(text, [], []).length;
  const t1 = process.hrtime.bigint();
  if (n !== count) {
    console.error(`bench_tokens_node: run ${i} counted ${n}, warm-up ${count}`);
    process.exit(1);
  }
  secs.push(Number(t1 - t0) / 1e9);
}
secs.sort((a, b) => a - b);
console.log(`${count} ${secs[Math.floor(secs.length / 2)].toFixed(6)}`);
