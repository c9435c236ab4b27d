// HTTP tunnels in the browser (issue 21, item 5): `share --tunnel PORT`
// publishes a port of this machine where a small HTTP server of the test's
// own listens; the writer's page lists it with a link, signed in ahead of
// the click (the relay's HttpOnly cookie), and the link opens the server's
// page through the relay in a new tab, 5 MiB byte for byte. A browser
// without the cookie gets 403; the reader's page lists the port with no
// link and never asks for a credential; the token is nowhere in storage,
// in a URL, or at the local server.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, get, type IncomingHttpHeaders, type Server } from "node:http";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { decodeFrame } from "../src/frame.js";
import { assertFragmentPrivate, assertStorage, examplesDir, launch, openJoined, screenshot, TIMEOUT, Tool } from "./browser-support.js";

/** The big file: 5 MiB of byte `i % 251` (a period prime to every power of two, so a shifted or repeated chunk shows). */
const BIG = 5 * 1024 * 1024;
const PAGE = "<!doctype html><meta charset=utf-8><title>tunneled page</title><h1 id=hello>Hello through the tunnel</h1><p id=from>served by the test's server</p>";

let server: Server;
let port: number;
/** The request heads the local server got. */
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
let share: Tool;
let browser: Browser;
let links: Map<string, string>;

function pattern(): Buffer {
  const big = Buffer.alloc(BIG);
  for (let i = 0; i < BIG; i++) big[i] = i % 251;
  return big;
}

before(async () => {
  const big = pattern();
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(PAGE) });
      res.end(PAGE);
    } else if (req.url === "/big") {
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": BIG });
      res.end(big);
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not here");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
  share = new Tool(`${examplesDir()}/share --enable-readers --tunnel ${port}`);
  links = await share.links(2);
  await share.waitFor(`Publishing port ${port}`);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  share?.stop();
  server?.close();
});

const link = (role: string) => links.get(role) ?? "";
const sessionOf = (url: string) => new URL(url).pathname.split("/")[2] ?? "";

/** Control messages a page sent, by case. */
function controlCases(frames: (string | Buffer)[]): string[] {
  return frames
    .filter((f): f is Buffer => typeof f !== "string" && f[1] === 0x01)
    .map((f) => {
      const d = decodeFrame(new Uint8Array(f));
      return d.type === "control" ? (d.control.body.case ?? "") : "";
    });
}

/** The status of a GET from Node (no cookie). */
async function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

async function portLink(page: Page) {
  const a = page.locator(`#ports li[data-port="${port}"] a.port`);
  await a.waitFor({ timeout: TIMEOUT });
  return a;
}

test("a writer's page lists the published port and its link opens the host's server through the relay", async () => {
  const { page, traffic } = await openJoined(browser, link("writer"), { name: "tina" });
  const session = sessionOf(link("writer"));
  const origin = new URL(link("writer")).origin;
  const expected = `/t/${session}/p/${port}/`;

  await page.locator("#ports-section").waitFor({ timeout: TIMEOUT });
  const a = await portLink(page);
  assert.equal(await a.innerText(), `localhost:${port}`);
  assert.equal(await a.getAttribute("href"), expected);
  assert.equal(await a.getAttribute("target"), "_blank");
  assert.equal(await a.getAttribute("rel"), "noopener noreferrer");
  assert.match(await page.locator("#ports-note").innerText(), /relay sees it/);
  await screenshot(page, "browser-tunnel-ports.png");

  // The page signed in ahead of the click: one credential asked for over
  // the WebSocket, one login, and the cookie is the relay's: HttpOnly,
  // SameSite=Strict, only for this session's tunnels.
  assert.deepEqual(controlCases(traffic.frames).filter((c) => c === "tunnelCredentialRequest"), ["tunnelCredentialRequest"]);
  assert.deepEqual(traffic.urls.filter((u) => u.includes("/t/")), [`${origin}/t/${session}/login`]);
  const cookies = await page.context().cookies();
  const cookie = cookies.find((c) => c.name === "taiku_tunnel");
  assert.ok(cookie, `no tunnel cookie among ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(cookie.path, `/t/${session}/`);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
  const token = cookie.value;

  // A plain link click: a new tab, no opener.
  const [tab] = await Promise.all([page.context().waitForEvent("page", { timeout: TIMEOUT }), a.click()]);
  await tab.waitForLoadState("load", { timeout: TIMEOUT });
  assert.equal(new URL(tab.url()).pathname, expected);
  assert.equal(await tab.locator("#hello").innerText(), "Hello through the tunnel");
  assert.equal(await tab.evaluate(() => window.opener), null);
  assert.equal(await tab.evaluate(() => document.referrer), "");
  await screenshot(tab, "browser-tunnel-page.png");

  // 5 MiB through the tunnel, fetched by the tunneled page itself, and
  // checked byte for byte in the page.
  const big = await tab.evaluate(async () => {
    const res = await fetch("big");
    const bytes = new Uint8Array(await res.arrayBuffer());
    let first = -1;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== i % 251) {
        first = i;
        break;
      }
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return { status: res.status, length: bytes.length, first, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("") };
  });
  assert.deepEqual(big, { status: 200, length: BIG, first: -1, sha256: createHash("sha256").update(pattern()).digest("hex") });

  // The local server got the requests without the credential.
  assert.deepEqual(seen.map((r) => r.url), ["/", "/big"]);
  for (const r of seen) assert.ok(!JSON.stringify(r.headers).includes(token), `the local server saw the credential: ${JSON.stringify(r.headers)}`);

  // The token is in no storage, no script-visible cookie and no URL; the
  // session page kept its rules (nothing but the name stored, the secret
  // never sent, every request on the relay's origin).
  for (const p of [page, tab]) {
    assert.ok(!(await p.evaluate(() => document.cookie)).includes(token));
    const stored = await p.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
    assert.ok(!stored.includes(token), `the token is in storage: ${stored}`);
  }
  await assertStorage(page, { "taiku.name": "tina" });
  for (const u of traffic.urls) assert.ok(!u.includes(token), `a URL carries the token: ${u}`);
  assertFragmentPrivate(link("writer"), traffic);

  // Without the cookie: a browser of its own, and a plain client, get 403.
  const stranger = await browser.newContext();
  const response = await (await stranger.newPage()).goto(`${origin}${expected}`);
  assert.equal(response?.status(), 403);
  await stranger.close();
  assert.equal(await status(`${origin}${expected}big`), 403);
  // A port that is not published: 404 even with the cookie.
  const other = port === 65535 ? port - 1 : port + 1;
  assert.equal((await tab.goto(`${origin}/t/${session}/p/${other}/`))?.status(), 404);
  assert.deepEqual(seen.map((r) => r.url), ["/", "/big"]);
});

test("a reader's page lists the port without a link and never asks for a credential", async () => {
  const { page, traffic } = await openJoined(browser, link("reader"), { name: "rita" });
  const item = page.locator(`#ports li[data-port="${port}"]`);
  await item.waitFor({ timeout: TIMEOUT });
  assert.equal(await item.locator("a").count(), 0);
  assert.match(await item.innerText(), new RegExp(`localhost:${port}\\s*writers and admins only`));
  assert.match(await page.locator("#ports-note").innerText(), /a reader link cannot open them/);
  await screenshot(page, "browser-tunnel-reader.png");
  await page.waitForTimeout(500);
  assert.ok(!controlCases(traffic.frames).includes("tunnelCredentialRequest"));
  assert.ok(!traffic.urls.some((u) => u.includes("/t/")));
  assert.ok(!(await page.context().cookies()).some((c) => c.name === "taiku_tunnel"));
  assertFragmentPrivate(link("reader"), traffic);
});
