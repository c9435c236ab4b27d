// Issue 19, item 4 in the browser: the writer's page reaches the relay
// through a loopback proxy that holds every chunk 75 ms each way (a 150 ms
// round trip). With predictive echo (SPEC.md 11.8) keys typed at the
// prompt appear at once, underlined, in a layer over the terminal; the
// host's echo replaces them, and the terminal itself only ever shows what
// the host sent.

import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { examplesDir, FOCUSED, freePort, launch, openJoined, PROMPT, screenshot, screenText, TIMEOUT, Tool, waitForScreen } from "./browser-support.js";

const ONE_WAY_MS = 75;

let relay: Tool;
let share: Tool;
let browser: Browser;
let proxy: Server;
let relayAddr: string;
let proxyAddr: string;

/** Forward `from` to `to`, each chunk `ONE_WAY_MS` later, in order. */
function delayed(from: Socket, to: Socket): void {
  from.on("data", (chunk) => setTimeout(() => to.write(chunk), ONE_WAY_MS));
  from.on("end", () => setTimeout(() => to.end(), ONE_WAY_MS));
  from.on("error", () => to.destroy());
}

before(async () => {
  const dir = examplesDir();
  relayAddr = `127.0.0.1:${await freePort()}`;
  relay = new Tool(`${dir}/relay --bind ${relayAddr}`);
  await relay.waitFor("listening");
  const [host, port] = relayAddr.split(":");
  proxy = createServer((down) => {
    const up = connect(Number(port), host);
    down.setNoDelay(true);
    up.setNoDelay(true);
    delayed(down, up);
    delayed(up, down);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyAddr = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
  share = new Tool(`${dir}/share --relay http://${relayAddr} --approve-all`);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  share?.stop();
  relay?.child.kill();
  proxy?.close();
});

/** In the page: for each printable key, how long until the focused tile shows it (over the terminal or in it). */
const measureKeys = `
  window.keyTimes = [];
  document.addEventListener("keydown", (e) => {
    if (e.key.length !== 1) return;
    const key = e.key;
    const start = performance.now();
    const entry = { key, ms: null };
    window.keyTimes.push(entry);
    const root = document.querySelector(${JSON.stringify(FOCUSED)});
    const shown = () =>
      (root.querySelector(".predictions")?.textContent ?? "").includes(key) ||
      (root.querySelector(".xterm-rows")?.textContent ?? "").includes(key);
    const observer = new MutationObserver(() => {
      if (entry.ms === null && shown()) {
        entry.ms = performance.now() - start;
        observer.disconnect();
      }
    });
    observer.observe(root, { childList: true, subtree: true, characterData: true });
    queueMicrotask(() => {
      if (entry.ms === null && shown()) {
        entry.ms = performance.now() - start;
        observer.disconnect();
      }
    });
  }, true);
`;

test("keys typed at a prompt over a 150 ms round trip show at once and end as the host's echo", async () => {
  const link = ((await share.links(1)).get("writer") ?? "").replace(relayAddr, proxyAddr);
  const { page } = await openJoined(browser, link, { name: "echo" });
  await waitForScreen(page, PROMPT.trim());
  await page.locator(`${FOCUSED} .xterm`).click();
  await page.keyboard.type("clear");
  await page.keyboard.press("Enter");
  await page.locator("#control.mine").waitFor({ timeout: TIMEOUT });
  await page.waitForFunction((sel) => !(document.querySelector(`${sel} .xterm-rows`)?.textContent ?? "").includes("clear"), FOCUSED, { timeout: TIMEOUT });
  await page.waitForTimeout(500);
  assert.equal(await page.locator("#echo").innerText(), "Echo: auto");

  await page.evaluate(measureKeys);
  // Letters the screen does not show yet (the prompt is "taiku-test$ ").
  const keys = "bcdfghjlmnopqrvwxyz";
  await page.keyboard.type(keys, { delay: 60 });
  await screenshot(page, "browser-echo.png");
  await page.waitForFunction(() => (window as unknown as { keyTimes: { ms: number | null }[] }).keyTimes.every((k) => k.ms !== null), null, { timeout: TIMEOUT });
  const times = await page.evaluate(() => (window as unknown as { keyTimes: { key: string; ms: number }[] }).keyTimes);
  assert.equal(times.map((t) => t.key).join(""), keys);
  // The first key of the line waits for the round trip: nothing is known of its echo yet.
  assert.ok((times[0]?.ms ?? 0) >= 140, `first key ${times[0]?.ms} ms`);
  const quick = times.filter((t) => t.ms < 10).length;
  assert.ok(quick * 100 >= times.length * 70, `${quick} of ${times.length} keys shown within 10 ms: ${JSON.stringify(times)}`);
  console.log(`shown within 10 ms: ${quick} of ${times.length}; ms ${times.map((t) => t.ms.toFixed(1)).join(" ")}`);

  // The echo replaces every prediction; the terminal shows the host's line.
  await waitForScreen(page, `${PROMPT}${keys}`);
  await page.waitForFunction((sel) => (document.querySelector(`${sel} .predictions`)?.textContent ?? "") === "", FOCUSED, { timeout: TIMEOUT });
  await page.keyboard.press("Enter");
  await waitForScreen(page, `${keys}: not found`);
  await share.waitFor(`${keys}: not found`);
  const screen = await screenText(page);
  assert.ok(screen.includes(`${PROMPT}${keys}\n`), screen);
  assert.equal(await page.locator(`${FOCUSED} .prediction`).count(), 0);
  await screenshot(page, "browser-echo-done.png");

  // Echo: never: keys wait for the round trip.
  await page.locator("#echo").click();
  await page.locator("#echo").click();
  assert.equal(await page.locator("#echo").innerText(), "Echo: never");
  await page.locator(`${FOCUSED} .xterm`).click();
  await page.evaluate("window.keyTimes = []");
  await page.keyboard.type("bcd", { delay: 60 });
  await page.waitForFunction(() => (window as unknown as { keyTimes: { ms: number | null }[] }).keyTimes.every((k) => k.ms !== null), null, { timeout: TIMEOUT });
  assert.equal(await page.locator(`${FOCUSED} .prediction`).count(), 0);
  await page.close();
});
