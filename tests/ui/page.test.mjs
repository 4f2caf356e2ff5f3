// tests/ui/page.test.mjs -- The web page of `ragd serve` in headless
// Chromium: create a knowledge base, upload datasets/sample/sourdough.md
// through the file input, wait until it is indexed, ask how long sourdough
// bakes, and check that an answer (or, on a server without a chat model,
// the cited chunks) shows a citation mentioning "Dutch oven".
// Starts no server: tests/test_web.c runs `ragd serve` and passes its URL.
// Usage: node tests/ui/page.test.mjs URL SCREENSHOT.png
// Needs /usr/bin/chromium (or $RAGD_CHROMIUM) and playwright-core under
// third_party/ui (scripts/ui-test.sh --install). Exit 0 = passed.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const [url, shot] = process.argv.slice(2);
if (!url || !shot) {
  console.error("usage: node tests/ui/page.test.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const fail = (msg) => {
  console.error("FAIL page: " + msg);
  process.exitCode = 1;
};

let chromium;
try {
  const req = createRequire(join(root, "third_party/ui/"));
  ({ chromium } = req("playwright-core"));
} catch (e) {
  console.error("FAIL page: playwright-core is not installed under third_party/ui " +
                "(run scripts/ui-test.sh --install): " + e.message);
  process.exit(1);
}

const exe = process.env.RAGD_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "ragd-ui-"));
let browser;
const errors = [];
try {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: exe,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 860 },
  });
} catch (e) {
  console.error(`FAIL page: cannot start Chromium at ${exe} ` +
                "(scripts/ui-test.sh --install): " + e.message);
  rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}

const page = browser.pages()[0] || (await browser.newPage());
page.setDefaultTimeout(30000);
page.on("pageerror", (e) => errors.push("page error: " + e.message));
page.on("console", (m) => {
  // HTTP error statuses are the page's business (it shows them inline; a
  // server without /v1/chat-messages or /v1/usage answers 404).
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
    errors.push("console: " + m.text());
});
const step = (s) => console.log("# " + s);

try {
  step("open " + url);
  const res = await page.goto(url);
  if (!res || res.status() !== 200) throw new Error("GET / answered " + (res && res.status()));
  const ct = res.headers()["content-type"] || "";
  if (!ct.startsWith("text/html; charset=utf-8")) throw new Error("GET / content-type " + ct);
  const csp = res.headers()["content-security-policy"] || "";
  if (!/default-src 'none'/.test(csp) || !/connect-src 'self'/.test(csp))
    throw new Error("GET / has no strict Content-Security-Policy header: " + JSON.stringify(csp));

  const alt = await page.request.get(new URL("/index.html", url).href);
  if (alt.status() !== 200 || !(alt.headers()["content-type"] || "").startsWith("text/html; charset=utf-8"))
    throw new Error("GET /index.html answered " + alt.status() + " " + alt.headers()["content-type"]);
  if (!(await page.locator('meta[http-equiv="Content-Security-Policy"]').count()))
    throw new Error("the page has no Content-Security-Policy");

  step("create a knowledge base");
  const kbName = "Baking " + Date.now().toString(36);
  await page.fill("#kb-name", kbName);
  await page.click("#kb-create");
  await page.waitForFunction(
    (n) => [...document.querySelectorAll("#kb-select option")].some(
      (o) => o.selected && o.textContent.startsWith(n)), kbName);

  step("upload datasets/sample/sourdough.md");
  await page.setInputFiles("#file-input", join(root, "datasets/sample/sourdough.md"));
  const row = page.locator("#files li", { hasText: "sourdough.md" });
  await row.waitFor();
  step("wait until indexed");
  await page.waitForFunction(() => {
    const li = [...document.querySelectorAll("#files li")].find(
      (l) => l.textContent.includes("sourdough.md"));
    return li && (li.dataset.status === "completed" || li.dataset.status === "error");
  }, null, { timeout: 60000 });
  const status = await row.getAttribute("data-status");
  if (status !== "completed") throw new Error("indexing ended with " + status +
    ": " + (await row.locator(".badge").getAttribute("title")));

  step("ask");
  await page.fill("#question", "How long should sourdough bake?");
  await page.click("#ask-btn");
  await page.waitForSelector("#result[data-done='1']", { timeout: 90000 });
  const answer = (await page.locator("#answer").innerText()).trim();
  const chunks = await page.locator("#chunks li").allInnerTexts();
  const err = (await page.locator("#ask-error").isVisible())
    ? await page.locator("#ask-error").innerText() : "";
  step(`answer: ${answer ? JSON.stringify(answer.slice(0, 160)) : "(none: retrieval only)"}`);
  step(`${chunks.length} cited chunks${err ? "; inline error: " + err : ""}`);
  if (!answer && !chunks.length) throw new Error("neither an answer nor cited chunks appeared" +
                                                 (err ? " (" + err + ")" : ""));
  const cite = page.locator("#chunks li", { hasText: "Dutch oven" }).first();
  if (!(await cite.count())) throw new Error("no cited chunk mentions \"Dutch oven\"");
  if (!(await cite.isVisible())) throw new Error("the \"Dutch oven\" chunk is not visible");
  // The document's name (the file name, or the title the chat answer uses).
  const docName = await cite.locator(".doc").innerText();
  if (!/sourdough/i.test(docName))
    throw new Error("the cited chunk names " + JSON.stringify(docName) + ", not the sourdough document");
  if (answer) {
    // [n] markers in the answer link to their chunk, and one of them to
    // the "Dutch oven" chunk.
    const targets = await page.locator("#answer a.cite").evaluateAll(
      (as) => as.map((a) => a.getAttribute("href")));
    step(`citation links in the answer: ${targets.join(" ") || "(none)"}`);
    if (!targets.length) throw new Error("the answer has no [n] citation links");
    const id = await cite.getAttribute("id");
    if (!targets.includes("#" + id))
      throw new Error(`no citation links to the "Dutch oven" chunk (#${id})`);
    await page.locator(`#answer a.cite[href="#${id}"]`).first().click();
    await page.waitForSelector(`#${id}.flash`, { timeout: 2000 });
  }
  const lat = (await page.locator("#u-lat").innerText()).trim();
  if (!lat || lat === "\u2013") throw new Error("no latency shown for the last answer");
  if (errors.length) throw new Error("the page logged errors:\n  " + errors.join("\n  "));
  console.log("ok page");
} catch (e) {
  fail(e.message);
} finally {
  try {
    mkdirSync(dirname(resolve(shot)), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    step("screenshot " + shot);
  } catch (e) {
    fail("screenshot: " + e.message);
  }
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
