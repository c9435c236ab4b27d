// What the browser tests share: a real `share` (or `relay` + `share
// --relay`) in a pseudo-terminal, Debian's Chromium driven by
// playwright-core, pages that record every request and frame they send,
// and the checks that the link's secret never leaves `location.hash`.

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const OUTPUT = fileURLToPath(new URL("../test-output", import.meta.url));
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const PROMPT = "taiku-test$ ";
export const TIMEOUT = 20_000;
/** The host terminal's size: wider than 80 columns, as a real one is. */
export const HOST_COLS = 120;
export const HOST_ROWS = 32;

/** A free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The directory of the example binaries: TAIKU_SHARE_BIN's, or built here. */
export function examplesDir(): string {
  if (process.env.TAIKU_SHARE_BIN) return process.env.TAIKU_SHARE_BIN.replace(/\/share$/, "");
  execFileSync("cargo", ["build", "--quiet", "--example", "share", "--example", "relay"], { cwd: ROOT, stdio: "inherit" });
  return `${ROOT}target/debug/examples`;
}

/** A tool running in a pseudo-terminal of `HOST_COLS` × `HOST_ROWS`. */
export class Tool {
  output = "";
  readonly child: ChildProcess;

  constructor(command: string) {
    // `script` gives the tool a pseudo-terminal; `stty` sizes it first.
    this.child = spawn("script", ["-qfec", `stty cols ${HOST_COLS} rows ${HOST_ROWS}; exec ${command}`, "/dev/null"], {
      env: { ...process.env, SHELL: "/bin/sh", PS1: PROMPT, ENV: "", USER: "host", RUST_LOG: "warn" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (d: Buffer) => {
      this.output += d.toString("utf8");
    });
  }

  /** The links printed since `from` (an offset into the output), by role. */
  async links(count: number, from = 0): Promise<Map<string, string>> {
    const links = new Map<string, string>();
    const deadline = Date.now() + 60_000;
    while (links.size < count) {
      for (const m of this.output.slice(from).matchAll(/(writer|reader|admin) link: (http\S+)/g)) {
        if (m[1] && m[2]) links.set(m[1], m[2].replace(/\x1b\[[0-9;]*[A-Za-z]/g, ""));
      }
      if (Date.now() > deadline) throw new Error(`no links printed:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return links;
  }

  async waitFor(needle: string, from = 0): Promise<void> {
    const deadline = Date.now() + TIMEOUT;
    while (!this.output.slice(from).includes(needle)) {
      if (Date.now() > deadline) throw new Error(`never printed ${JSON.stringify(needle)}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  write(bytes: string): void {
    this.child.stdin?.write(bytes);
  }

  stop(): void {
    this.write("\x1dq");
    this.child.kill();
  }
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** What the page sent: every request URL and header, every WebSocket frame. */
export interface Traffic {
  urls: string[];
  requests: string[];
  frames: (string | Buffer)[];
  cspViolations: string[];
  errors: string[];
}

export interface OpenOptions {
  viewport?: { width: number; height: number };
  /** A script run before the page's own (stubs). */
  init?: string;
}

/** `url` in a new browser context (its own storage), recording its traffic. */
export async function open(browser: Browser, url: string, options: OpenOptions = {}): Promise<{ page: Page; traffic: Traffic }> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  const page = await context.newPage();
  if (options.init) await page.addInitScript(options.init);
  const traffic: Traffic = { urls: [], requests: [], frames: [], cspViolations: [], errors: [] };
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
  page.on("pageerror", (e) => traffic.errors.push(String(e)));
  const response = await page.goto(url);
  assert.equal(response?.status(), 200);
  const headers = response?.headers() ?? {};
  assert.equal(headers["referrer-policy"], "no-referrer");
  assert.match(headers["content-security-policy"] ?? "", /default-src 'none'/);
  assert.match(headers["content-security-policy"] ?? "", /script-src 'self'/);
  return { page, traffic };
}

/** Answer the name prompt (item 5): `name`, or what it was prefilled with. */
export async function join(page: Page, name?: string): Promise<void> {
  const form = page.locator("#join");
  await form.waitFor({ timeout: TIMEOUT });
  if (name !== undefined) await page.locator("#join-name").fill(name);
  await form.getByRole("button", { name: "Join" }).click();
  await page.locator("#status").filter({ hasText: "connected as" }).waitFor({ timeout: TIMEOUT });
}

/** `url` opened and joined. */
export async function openJoined(browser: Browser, url: string, options: OpenOptions & { name?: string } = {}): Promise<{ page: Page; traffic: Traffic }> {
  const opened = await open(browser, url, options);
  await join(opened.page, options.name);
  return opened;
}

export const FOCUSED = "#workspace .tile.focused";

export async function screenText(page: Page, tile = FOCUSED): Promise<string> {
  return page.locator(`${tile} .xterm-rows`).innerText();
}

export async function waitForScreen(page: Page, needle: string, tile = FOCUSED): Promise<void> {
  await page.waitForFunction(
    ([n, t]) => document.querySelector(`${t} .xterm-rows`)?.textContent?.includes(n) ?? false,
    [needle, tile] as const,
    { timeout: TIMEOUT },
  );
}

/** Wait until the terminal in `tile` shows lines matching `pattern` (rows joined by newlines). */
export async function waitForLines(page: Page, pattern: RegExp, tile = FOCUSED): Promise<void> {
  await page.waitForFunction(
    ([source, flags, t]) => new RegExp(source, flags).test((document.querySelector(`${t} .xterm-rows`) as HTMLElement | null)?.innerText ?? ""),
    [pattern.source, pattern.flags, tile] as const,
    { timeout: TIMEOUT },
  );
}

/** The tile of terminal `id`. */
export function tile(id: number): string {
  return `#workspace .tile[data-terminal="${id}"]`;
}

/** Sealed frames (type 0x02) among `frames`. */
export function sealed(frames: (string | Buffer)[]): Buffer[] {
  return frames.filter((f): f is Buffer => typeof f !== "string" && f[1] === 0x02);
}

export function assertFragmentPrivate(link: string, traffic: Traffic): void {
  const fragment = link.slice(link.indexOf("#") + 1);
  const secret = fragment.slice(2).split(".")[0] ?? "";
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
  assert.deepEqual(traffic.errors, []);
}

/** Nothing but the name in storage, the link least of all. */
export async function assertStorage(page: Page, expected: Record<string, string>): Promise<void> {
  assert.equal(await page.evaluate(() => JSON.stringify({ ...localStorage })), JSON.stringify(expected));
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: `${OUTPUT}/${name}` });
}

/**
 * Stub `Notification` (granted) and focus (elsewhere), recording every
 * notification in `window.notified`: an init script. A string, because the
 * test's compiler would add helpers to a function that the page lacks.
 */
export const stubNotifications = `
  window.notified = [];
  window.Notification = class {
    constructor(title, options) { window.notified.push({ title, body: (options && options.body) || "" }); }
  };
  window.Notification.permission = "granted";
  window.Notification.requestPermission = async () => "granted";
  Document.prototype.hasFocus = () => false;
`;

export async function notified(page: Page): Promise<{ title: string; body: string }[]> {
  return page.evaluate(() => (window as unknown as { notified: { title: string; body: string }[] }).notified);
}
