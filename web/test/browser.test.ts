// The browser participant end to end: a real `share` (embedded relay, a
// real shell in a PTY) and Debian's Chromium driven by playwright-core.
// The writer link types a command and sees its output; the reader link is
// refused with a visible notice; no request the page made carries the
// fragment; a damaged and an unknown link get clear messages.
//
// `share` serves the client compiled into it (taiku-transport/client, which
// `npm run build` writes): the test builds the `share` example with cargo
// unless TAIKU_SHARE_BIN names it, so rebuild it after building the client.

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUTPUT = fileURLToPath(new URL("../test-output", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PROMPT = "taiku-test$ ";
const TIMEOUT = 20_000;

let share: ChildProcess;
let shareOutput = "";
let browser: Browser;
const links = new Map<string, string>();

function shareBinary(): string {
  if (process.env.TAIKU_SHARE_BIN) return process.env.TAIKU_SHARE_BIN;
  execFileSync("cargo", ["build", "--quiet", "--example", "share"], { cwd: ROOT, stdio: "inherit" });
  return `${ROOT}target/debug/examples/share`;
}

before(async () => {
  const bin = shareBinary();
  // `share` wants a terminal: `script` gives it a pseudo-terminal.
  share = spawn("script", ["-qfec", `${bin} --enable-readers --admin-link --approve-all`, "/dev/null"], {
    env: { ...process.env, SHELL: "/bin/sh", PS1: PROMPT, ENV: "", USER: "host", RUST_LOG: "warn" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  share.stdout?.on("data", (d: Buffer) => {
    shareOutput += d.toString("utf8");
  });
  const deadline = Date.now() + 60_000;
  while (links.size < 3) {
    for (const m of shareOutput.matchAll(/(writer|reader|admin) link: (http\S+)/g)) {
      if (m[1] && m[2]) links.set(m[1], m[2].replace(/\x1b\[[0-9;]*[A-Za-z]/g, ""));
    }
    if (Date.now() > deadline) throw new Error(`share printed no links:\n${shareOutput}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  share?.stdin?.write("\x1dq");
  share?.kill();
});

/** What the page sent: every request URL and header, every WebSocket frame. */
interface Traffic {
  urls: string[];
  requests: string[];
  frames: (string | Buffer)[];
  cspViolations: string[];
}

async function open(url: string): Promise<{ page: Page; traffic: Traffic }> {
  const page = await browser.newPage();
  const traffic: Traffic = { urls: [], requests: [], frames: [], cspViolations: [] };
  page.on("request", (r) => {
    traffic.urls.push(r.url());
    traffic.requests.push(r.url(), JSON.stringify(r.headers()));
  });
  page.on("websocket", (ws) => {
    traffic.urls.push(ws.url());
    traffic.requests.push(ws.url());
    ws.on("framesent", (f) => traffic.frames.push(f.payload));
  });
  page.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) traffic.cspViolations.push(m.text());
  });
  const response = await page.goto(url);
  assert.equal(response?.status(), 200);
  const headers = response?.headers() ?? {};
  assert.equal(headers["referrer-policy"], "no-referrer");
  assert.match(headers["content-security-policy"] ?? "", /default-src 'none'/);
  assert.match(headers["content-security-policy"] ?? "", /script-src 'self'/);
  return { page, traffic };
}

async function screenText(page: Page): Promise<string> {
  return page.locator("#screen .term:not([hidden]) .xterm-rows").innerText();
}

async function waitForScreen(page: Page, needle: string): Promise<void> {
  await page.waitForFunction(
    (n) => document.querySelector("#screen .term:not([hidden]) .xterm-rows")?.textContent?.includes(n) ?? false,
    needle,
    { timeout: TIMEOUT },
  );
}

function assertFragmentPrivate(link: string, traffic: Traffic): void {
  const fragment = link.slice(link.indexOf("#") + 1);
  const secret = fragment.slice(2);
  assert.ok(traffic.requests.length > 0);
  for (const r of traffic.requests) {
    assert.ok(!r.includes("#"), `a request carries a fragment: ${r}`);
    assert.ok(!r.includes(secret), "a request carries the secret");
  }
  // No third-party request: everything goes to the relay's own origin.
  const origin = new URL(link).host;
  for (const r of traffic.urls) {
    const u = new URL(r);
    assert.ok(u.protocol === "data:" || u.host === origin, `a request leaves the relay's origin: ${r}`);
  }
  const raw = Buffer.from(secret.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  assert.equal(raw.length, 32);
  for (const f of traffic.frames) {
    const bytes = typeof f === "string" ? Buffer.from(f) : f;
    assert.ok(!bytes.includes(Buffer.from(secret)), "a WebSocket frame carries the secret");
    assert.ok(!bytes.includes(raw), "a WebSocket frame carries the raw secret");
  }
  assert.deepEqual(traffic.cspViolations, []);
}

test("the writer link shows the prompt, types a command and sees its output", async () => {
  const link = links.get("writer") ?? "";
  const { page, traffic } = await open(link);
  await waitForScreen(page, PROMPT.trim());
  await page.locator("#role").filter({ hasText: "writer link" }).waitFor({ timeout: TIMEOUT });
  await page.locator("#terminals li").first().waitFor({ timeout: TIMEOUT });
  assert.match(await page.locator("#terminals").innerText(), /owner: /);
  assert.match(await page.locator("#people").innerText(), /\(you\)/);

  // The host owns its shell: the first key asks for control (share
  // approves), and the whole line, that first key included, is held and
  // arrives once control comes: never a suffix of it (SPEC.md 11.2).
  await page.locator("#screen .term:not([hidden]) .xterm").click();
  await page.keyboard.type("echo taiku-$((6*7))");
  await page.keyboard.press("Enter");
  await page.locator("#notice").filter({ hasText: "You control" }).waitFor({ timeout: TIMEOUT });
  await waitForScreen(page, "taiku-42");
  const typed = await screenText(page);
  assert.match(typed, /echo taiku-\$\(\(6\*7\)\)/);
  assert.ok(!typed.includes("command not found"), `a suffix of the line ran:\n${typed}`);

  // True colour renders under the CSP, and the queries in the output (device
  // attributes, cursor position) are not answered by typing into the shell.
  await page.keyboard.type("printf '\\033[38;2;255;0;0mRED-TRUE\\033[0m\\033[c\\033[6n\\n'; echo queried-$((2+3))");
  await page.keyboard.press("Enter");
  await waitForScreen(page, "queried-5");
  const colour = await page
    .locator("#screen .term:not([hidden]) .xterm-rows span", { hasText: "RED-TRUE" })
    .last()
    .evaluate((el) => getComputedStyle(el).color);
  assert.equal(colour, "rgb(255, 0, 0)");
  await page.waitForTimeout(500);
  const after = await screenText(page);
  assert.ok(!after.includes("^[") && !after.includes("1;2c"), `a query was answered into the shell:\n${after}`);

  // A terminal of one's own: typing needs nobody's approval.
  await page.locator("#new-terminal").click();
  await page.locator("#terminals li").nth(1).waitFor({ timeout: TIMEOUT });
  await page.waitForFunction(() => document.querySelector("#screen .term:not([hidden])")?.getAttribute("data-terminal") === "2", null, { timeout: TIMEOUT });
  await waitForScreen(page, PROMPT.trim());
  assert.match(await page.locator("#terminals li").nth(1).innerText(), /owner: guest \(you\)/);
  await page.keyboard.type("echo mine-$((1+1))");
  await page.keyboard.press("Enter");
  await waitForScreen(page, "mine-2");
  await page.locator("#terminals li").first().click();
  await waitForScreen(page, "queried-5");

  await page.locator("#name-input").fill("ana");
  await page.locator("#name-input").press("Enter");
  await page.locator("#people").filter({ hasText: "ana (you)" }).waitFor({ timeout: TIMEOUT });
  // The name is kept for next time (issue 16, item 5); nothing else is
  // stored, the link least of all.
  assert.equal(await page.evaluate(() => JSON.stringify({ ...localStorage })), JSON.stringify({ "taiku.name": "ana" }));
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  await page.locator("#chat-input").fill("hello from the browser");
  await page.locator("#chat-input").press("Enter");
  await page.locator("#chat-log").filter({ hasText: "ana (you)hello from the browser" }).waitFor({ timeout: TIMEOUT });

  mkdirSync(OUTPUT, { recursive: true });
  await page.setViewportSize({ width: 1100, height: 560 });
  await page.screenshot({ path: `${OUTPUT}/browser.png` });

  // Invite (issue 16, item 7): a writer derives the reader link from its
  // own secret in the page; it parses and joins as a reader. A writer may
  // hand on its own link too, never an admin one.
  await page.locator("#invite").click();
  const reader = await page.locator('#invite-panel input[data-role="reader"]').inputValue();
  const writer = await page.locator('#invite-panel input[data-role="writer"]').inputValue();
  assert.equal(await page.locator('#invite-panel input[data-role="admin"]').count(), 0);
  assert.equal(writer, link);
  const readerLink = links.get("reader") ?? "";
  assert.equal(reader, readerLink, "the derived reader link is the host's reader link");
  await page.locator("#invite-panel button", { hasText: "Close" }).click();
  assert.equal(await page.locator("#invite-panel input").count(), 0, "closed, the links leave the page");
  assertFragmentPrivate(link, traffic);
  await page.close();
  const invited = await open(reader);
  await invited.page.locator("#role").filter({ hasText: "reader link" }).waitFor({ timeout: TIMEOUT });
  await waitForScreen(invited.page, "taiku-42");
  await invited.page.close();
});

test("the reader link watches the same terminal and is refused typing", async () => {
  const link = links.get("reader") ?? "";
  const { page, traffic } = await open(link);
  await waitForScreen(page, "taiku-42");
  await page.locator("#role").filter({ hasText: "reader link" }).waitFor({ timeout: TIMEOUT });
  const before = traffic.frames.length;
  await page.locator("#screen .term:not([hidden]) .xterm").click();
  await page.keyboard.type("echo no");
  await page.locator("#notice").filter({ hasText: "Read-only link: typing is disabled" }).waitFor({ timeout: TIMEOUT });
  // Nothing was sent for those keys (a sealed frame starts 01 02).
  const sealed = traffic.frames.slice(before).filter((f) => typeof f !== "string" && f[1] === 0x02);
  assert.deepEqual(sealed, []);
  // Two people called "guest" are told apart (issue 16, item 5).
  const second = await open(link);
  await second.page.locator("#people").filter({ hasText: "guest 2 (you)" }).waitFor({ timeout: TIMEOUT });
  await page.locator("#people").filter({ hasText: "guest 2" }).waitFor({ timeout: TIMEOUT });
  await second.page.close();
  assertFragmentPrivate(link, traffic);
  await page.close();
});

test("a damaged link and a link to no session get clear messages", async () => {
  const writer = links.get("writer") ?? "";
  const damaged = await open(writer.slice(0, -5));
  await damaged.page.locator("#notice").filter({ hasText: "cut short" }).waitFor({ timeout: TIMEOUT });
  assert.equal(damaged.traffic.frames.length, 0, "a damaged link does not even connect");
  await damaged.page.close();

  const origin = writer.slice(0, writer.indexOf("/s/"));
  const unknown = `${origin}/s/no-such-session-01${writer.slice(writer.indexOf("#"))}`;
  const expired = await open(unknown);
  await expired.page.locator("#notice").filter({ hasText: "wrong or has expired" }).waitFor({ timeout: TIMEOUT });
  assertFragmentPrivate(unknown, expired.traffic);
  await expired.page.close();
});

test("the admin link takes over a terminal and types into it", async () => {
  const link = links.get("admin") ?? "";
  const { page, traffic } = await open(link);
  await waitForScreen(page, "taiku-42");
  await page.locator("#role").filter({ hasText: "admin link" }).waitFor({ timeout: TIMEOUT });
  const shell = page.locator("#terminals li").first();
  await shell.getByRole("button", { name: "Take over" }).click();
  await shell.filter({ hasText: "controlled by guest (you)" }).waitFor({ timeout: TIMEOUT });
  await page.locator("#screen .term:not([hidden]) .xterm").click();
  await page.keyboard.type("echo admin-$((3+4))");
  await page.keyboard.press("Enter");
  await waitForScreen(page, "admin-7");
  assertFragmentPrivate(link, traffic);
  await page.close();
});
