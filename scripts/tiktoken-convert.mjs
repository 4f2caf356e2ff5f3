// scripts/tiktoken-convert.mjs -- Converts js-tiktoken's rank files into the
// files core/rag_bpe.c loads (run by scripts/fetch-tiktoken.sh).
//
// Usage: node scripts/tiktoken-convert.mjs NODE_MODULES OUTDIR ENCODING...
//
// For each encoding it writes, atomically (tmp file + rename):
//   OUTDIR/ENC.tiktoken  one "base64(bytes) rank" line per token, by rank
//                        (the format of OpenAI's own .tiktoken files);
//   OUTDIR/ENC.json      {encoding, source, unicode, pat_str, pcre2_pattern,
//                         special_tokens, n_ranks}.
//
// The compact bpe_ranks string is decoded exactly as js-tiktoken's
// Tiktoken constructor does: lines "<ignored> <offset> tok tok ...", token
// i of a line has rank offset+i, a later duplicate wins, and the key is the
// base64-decoded byte string.
//
// pcre2_pattern is pat_str with every \p{..}, \P{..}, \s and \S replaced by
// an explicit code point class computed by this JavaScript engine, the one
// js-tiktoken itself runs on. Two reasons: JavaScript's \s is not PCRE2's
// (JS has U+FEFF and lacks U+0085), and libpcre2's Unicode tables may be
// older than V8's (Debian's PCRE2 10.42 has Unicode 14), which would make
// newer letters split differently. With explicit classes the C side splits
// exactly as js-tiktoken does under the node that ran this script.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [nodeModules, outDir, ...encodings] = process.argv.slice(2);
if (!nodeModules || !outDir || encodings.length === 0) {
  console.error("usage: tiktoken-convert.mjs NODE_MODULES OUTDIR ENCODING...");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(nodeModules), "x.js"));
const pkg = JSON.parse(
  fs.readFileSync(path.join(nodeModules, "js-tiktoken", "package.json"), "utf8")
);

// Code point ranges [lo, hi] matched by the single-character regex `esc`.
// Surrogates are skipped: they cannot occur in UTF-8 text.
const rangeCache = new Map();
function ranges(esc) {
  if (rangeCache.has(esc)) return rangeCache.get(esc);
  const re = new RegExp(`^${esc}$`, "u");
  const out = [];
  let lo = -1;
  for (let cp = 0; cp <= 0x110000; cp++) {
    const inSet =
      cp < 0x110000 &&
      !(cp >= 0xd800 && cp <= 0xdfff) &&
      re.test(String.fromCodePoint(cp));
    if (inSet && lo < 0) lo = cp;
    if (!inSet && lo >= 0) {
      out.push([lo, cp - 1]);
      lo = -1;
    }
  }
  rangeCache.set(esc, out);
  return out;
}

const hex = (cp) => `\\x{${cp.toString(16).toUpperCase()}}`;
const classBody = (rs) =>
  rs.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join("");

// Rewrites the property and space escapes of a JavaScript pattern into
// explicit PCRE2 classes. Anything else is copied unchanged; the escapes
// that cannot be expressed inside a class (\S, \P{..} in [..]) are refused.
function toPcre2(pat) {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i];
    if (c === "\\") {
      const n = pat[i + 1];
      let esc = null;
      if (n === "p" || n === "P") {
        const end = pat.indexOf("}", i);
        esc = pat.slice(i, end + 1);
        i = end;
      } else if (n === "s" || n === "S") {
        esc = pat.slice(i, i + 2);
        i += 1;
      } else {
        out += c + n;
        i += 1;
        continue;
      }
      const negated = esc[1] === "P" || esc[1] === "S";
      const body = classBody(ranges(esc.replace(/^\\P/, "\\p").replace(/^\\S/, "\\s")));
      if (inClass) {
        if (negated) throw new Error(`cannot expand ${esc} inside a class`);
        out += body;
      } else {
        out += negated ? `[^${body}]` : `[${body}]`;
      }
      continue;
    }
    if (c === "[" && !inClass) inClass = true;
    else if (c === "]" && inClass) inClass = false;
    out += c;
  }
  return out;
}

function writeAtomic(file, text) {
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

fs.mkdirSync(outDir, { recursive: true });
for (const enc of encodings) {
  let ranksMod;
  try {
    ranksMod = require(`js-tiktoken/ranks/${enc}`);
  } catch (e) {
    console.error(`tiktoken-convert: no ranks for ${enc} in js-tiktoken: ${e.message}`);
    process.exit(1);
  }
  const r = ranksMod.default ?? ranksMod;
  // As js-tiktoken: base64 text -> rank (later wins), then bytes -> rank.
  const uncompressed = {};
  for (const line of r.bpe_ranks.split("\n").filter(Boolean)) {
    const [, offsetStr, ...tokens] = line.split(" ");
    const offset = Number.parseInt(offsetStr, 10);
    tokens.forEach((tok, i) => (uncompressed[tok] = offset + i));
  }
  const byBytes = new Map();
  for (const [tok, rank] of Object.entries(uncompressed)) {
    const bytes = Buffer.from(tok, "base64");
    byBytes.set(bytes.toString("latin1"), rank);
  }
  const rows = [...byBytes.entries()].sort((a, b) => a[1] - b[1]);
  const lines = rows.map(
    ([k, rank]) => `${Buffer.from(k, "latin1").toString("base64")} ${rank}\n`
  );
  writeAtomic(path.join(outDir, `${enc}.tiktoken`), lines.join(""));
  const meta = {
    encoding: enc,
    source: `js-tiktoken@${pkg.version}`,
    unicode: process.versions.unicode,
    n_ranks: rows.length,
    pat_str: r.pat_str,
    pcre2_pattern: toPcre2(r.pat_str),
    special_tokens: r.special_tokens,
  };
  writeAtomic(path.join(outDir, `${enc}.json`), JSON.stringify(meta, null, 1) + "\n");
}
