// tests/bpe_oracle.mjs -- Expected token ids for tests/test_bpe.c, from
// js-tiktoken itself (the reference core/rag_bpe.c must match exactly).
//
// Usage: node tests/bpe_oracle.mjs OUTFILE
// Resolves js-tiktoken from $RAGD_SOURCE_DIR/third_party/node_modules (the
// folder scripts/fetch-tiktoken.sh installs into; default: the repo this
// file is in). Writes one line per case:
//   HEX(bytes) TAB cl100k ids TAB o200k ids   (ids comma-separated)
// The cases are generated from a fixed seed, so every run writes the same
// file: English prose, code in several languages, CJK, other scripts,
// emoji (ZWJ sequences, skin tones, flags, keycaps), whitespace runs,
// digit runs, special-token text, long pieces, random code points, and a
// few invalid UTF-8 byte strings (expected: the ids of the text
// TextDecoder makes of them, U+FFFD per maximal invalid subpart).
// Ordinary encoding: encode(text, [], []) treats "<|endoftext|>" as text.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.RAGD_SOURCE_DIR || path.join(here, "..");
const out = process.argv[2];
if (!out) {
  console.error("usage: bpe_oracle.mjs OUTFILE");
  process.exit(2);
}
const require = createRequire(path.join(root, "third_party", "node_modules", "x.js"));
let Tiktoken, ranks;
try {
  ({ Tiktoken } = require("js-tiktoken/lite"));
  ranks = ["cl100k_base", "o200k_base"].map((e) => require(`js-tiktoken/ranks/${e}`));
} catch (e) {
  console.error(`bpe_oracle: js-tiktoken not found under ${root}/third_party: run scripts/fetch-tiktoken.sh (${e.message})`);
  process.exit(1);
}
const encs = ranks.map((r) => new Tiktoken(r.default ?? r));

// mulberry32: a small seeded PRNG, so the cases never change.
let seed = 0x5eed1234;
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const cp = (lo, hi) => String.fromCodePoint(lo + ri(hi - lo + 1));

const words = ("the of and to in is that it was for on are as with his they at be this " +
  "from have or by one had not but what all were when we there can an your which their " +
  "said if do will each about how up out them then she many some so these would other " +
  "into has more her two like him see time could no make than first been its who now " +
  "people my made over did down only way find use may water long little very after " +
  "retrieval augmented generation embedding tokenizer chunk overlap cosine similarity " +
  "internationalization antidisestablishmentarianism Kubernetes PostgreSQL GPT-4o " +
  "don't can't I'm you're we've they'll she'd IT'S WE'LL O'Reilly rock'n'roll " +
  "naïve café résumé coöperate São Paulo Zürich façade").split(" ");

function prose() {
  let s = "";
  const n = 1 + ri(4);
  for (let k = 0; k < n; k++) {
    const len = 3 + ri(15);
    const ws = [];
    for (let i = 0; i < len; i++) ws.push(pick(words));
    ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1);
    if (rnd() < 0.2) ws.splice(ri(ws.length), 0, String(ri(100000)));
    if (rnd() < 0.2) ws.splice(ri(ws.length), 0, pick(["(see above)", "\"quoted\"", "e.g.,", "--", "$3.50", "50%", "#1", "@user"]));
    s += ws.join(pick([" ", " ", " ", "  "])) + pick([".", "!", "?", "...", ";", ":"]) + pick([" ", "  ", "\n", "\n\n", " \n"]);
  }
  return s;
}

const code = [
  'int main(int argc, char **argv) {\n  printf("%d\\n", argc);\n  return 0;\n}\n',
  "def f(x):\n    return [i**2 for i in range(x) if i % 2 == 0]  # squares\n",
  "const add = (a, b) => a + b;\nexport default { add };\n",
  'fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!("{:?}", v);\n}\n',
  "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 10;",
  '<div class="card"><a href="https://example.com/a?b=1&c=2">link</a></div>',
  '{"key": [1, 2.5, -3e10, true, null], "nested": {"a": "b"}}',
  "for f in *.txt; do\n\tgrep -n 'TODO' \"$f\" || true\ndone\n",
  "#include <stdio.h>\n#define MAX(a,b) ((a)>(b)?(a):(b))\n",
  "    if (x != NULL && *x == '\\0') {\r\n        x++;\r\n    }\r\n",
  "public static void main(String[] args) throws IOException {}",
  "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n",
  "x := map[string]int{\"a\": 1}\n\t\t// comment\n",
  "SGVsbG8gd29ybGQhIFRoaXMgaXMgYmFzZTY0IGVuY29kZWQgdGV4dC4=",
  "a\\b\\\\c//d/*e*/f--g++h==i!=j<=k>=l&&m||n::o->p",
];
function codeSnippet() {
  let s = pick(code);
  if (rnd() < 0.5) s = s.replace(/x/g, pick(["value", "xs", "_tmp9", "αβ", "名前"]));
  if (rnd() < 0.3) s = s.split("\n").map((l) => pick(["", "  ", "    ", "\t", "\t\t"]) + l).join("\n");
  return s;
}

const zh = ["我们使用检索增强生成来回答问题。", "今天天气很好，我们去公园散步吧！", "机器学习（ML）是人工智能的一个分支。", "中文没有空格所以分词很重要"];
const ja = ["東京は日本の首都です。", "ひらがなとカタカナ、そして漢字。", "ラーメンを食べたいです！", "ｶﾀｶﾅ半角と全角ＡＢＣ１２３"];
const other = ["Привет, мир! Как дела?", "Γειά σου Κόσμε", "مرحبا بالعالم ١٢٣", "नमस्ते दुनिया", "안녕하세요 세계", "สวัสดีชาวโลก", "שלום עולם", "Xin chào thế giới", "Ἀθῆναι ᾅδης", "ﬁﬂ ligatures Ⅻ ① ½"];
const emoji = ["👍", "👍🏽", "👩🏿‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "1️⃣", "❤️", "🤦🏼‍♂️", "🧑‍🤝‍🧑", "😀😃😄", "🫠", "©®™", "☃", "🐈‍⬛"];
const spaces = [" ", "  ", "\t", "\n", "\r\n", "\n\n\n", "\u00a0", "\u3000", "\ufeff", "\u0085", "\u2028", "\u200b", "\u2003", " \t \n ", "\v\f"];
const specials = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>", "<|im_start|>", "<|endoftext|"];

function mixed() {
  const parts = [];
  const n = 2 + ri(8);
  for (let i = 0; i < n; i++) {
    const k = ri(9);
    if (k === 0) parts.push(pick(words));
    else if (k === 1) parts.push(pick(zh).slice(0, 1 + ri(8)));
    else if (k === 2) parts.push(pick(ja).slice(0, 1 + ri(8)));
    else if (k === 3) parts.push(pick(other));
    else if (k === 4) parts.push(pick(emoji) + (rnd() < 0.3 ? pick(["🏻", "🏼", "🏽", "🏾", "🏿"]) : ""));
    else if (k === 5) parts.push(pick(spaces).repeat(1 + ri(4)));
    else if (k === 6) parts.push(digits(1 + ri(12)));
    else if (k === 7) parts.push(pick(specials));
    else parts.push(pick([",", ".", "'s", "'S", "'ll", "’s", "!?", "/", "//", "\\", "...", "—", "«»", "\u0301", "\u0000", "\u0007"]));
  }
  return parts.join(rnd() < 0.5 ? "" : " ");
}

function digits(n) {
  let s = "";
  for (let i = 0; i < n; i++) s += String(ri(10));
  return s;
}

// Random code points: mostly BMP, some astral, including unassigned and
// private use (surrogates excluded: UTF-8 cannot carry them).
function randomUnicode() {
  let s = "";
  const n = 1 + ri(24);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let c;
    if (r < 0.3) c = 0x20 + ri(0x5f);
    else if (r < 0.75) c = ri(0x10000);
    else if (r < 0.9) c = 0x10000 + ri(0x20000);
    else c = ri(0x110000);
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    s += String.fromCodePoint(c);
  }
  return s;
}

function longPiece() {
  const k = ri(6);
  if (k === 0) return "a".repeat(100 + ri(600));
  if (k === 1) { let s = ""; const n = 130 + ri(500); for (let i = 0; i < n; i++) s += pick("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"); return s; }
  if (k === 2) { let s = ""; const n = 130 + ri(400); for (let i = 0; i < n; i++) s += pick("!@#$%^&*()_+-=[]{};:,.<>/?|~"); return s; }
  if (k === 3) return " ".repeat(1 + ri(1000)) + pick(["x", "\n", "", "word"]);
  if (k === 4) return digits(50 + ri(500));
  let s = ""; const n = 100 + ri(300); for (let i = 0; i < n; i++) s += cp(0x4e00, 0x9fff); return s;
}

const cases = [
  "hello world", "Hello, World!", "", " ", "\n", "<|endoftext|>", "hello <|endoftext|> world",
  "don't DON'T Don'T it's", "12345678901234567890", "    indented", "tab\tseparated\tvalues",
  "trailing spaces   ", "   \n   \n", "x\r\ny\rz", "e\u0301te\u0301", "\u0000\u0001\u0002",
];
const gens = [
  [prose, 700], [codeSnippet, 400], [mixed, 900], [randomUnicode, 700],
  [() => pick(zh) + pick(ja), 60], [() => pick(other) + " " + pick(emoji), 80],
  [() => pick(specials) + pick(["", " ", "x", "\n"]) + pick(specials), 40],
  [() => pick(spaces).repeat(1 + ri(30)) + pick(words) + pick(spaces).repeat(ri(5)), 120],
  [() => digits(1 + ri(80)), 80], [longPiece, 60],
];
for (const [g, n] of gens) for (let i = 0; i < n; i++) cases.push(g());

const lines = [];
// ignoreBOM keeps a leading U+FEFF (the default decoder would drop it).
const dec = new TextDecoder("utf-8", { ignoreBOM: true });
const emit = (bytes) => {
  const text = dec.decode(bytes);
  const ids = encs.map((e) => e.encode(text, [], []).join(","));
  lines.push(`${Buffer.from(bytes).toString("hex")}\t${ids[0]}\t${ids[1]}\n`);
};
for (const c of cases) if (c.length) emit(Buffer.from(c, "utf8"));
// Invalid UTF-8: truncated, overlong, surrogate, stray continuation, > U+10FFFF.
const bad = ["ff", "c0af", "e080af", "eda080", "f4908080", "e282", "80", "f09f98", "61e282ac62c3", "68656c6c6f80776f726c64", "f09f9880f09f", "2020c3a9c3"];
for (const h of bad) emit(Buffer.from(h, "hex"));
for (let i = 0; i < 60; i++) {
  const b = Buffer.from(mixed(), "utf8");
  for (let k = 0; k < 1 + ri(3); k++) b[ri(b.length)] = 0x80 + ri(0x80);
  emit(b);
}
fs.writeFileSync(out, lines.join(""));
