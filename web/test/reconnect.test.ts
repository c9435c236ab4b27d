// Item 3 across a relay restart: a `relay` process and `share --relay`,
// the writer's page in Chromium. While the relay is down the banners say
// so (reconnecting, attempt N; keys not sent); when it is back without
// the session, the page says the session ended and stops.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { assertFragmentPrivate, examplesDir, freePort, launch, openJoined, PROMPT, TIMEOUT, Tool, waitForScreen } from "./browser-support.js";

let relay: Tool;
let share: Tool;
let browser: Browser;
let dir: string;
let addr: string;

before(async () => {
  dir = examplesDir();
  addr = `127.0.0.1:${await freePort()}`;
  relay = new Tool(`${dir}/relay --bind ${addr}`);
  await relay.waitFor("listening");
  share = new Tool(`${dir}/share --relay http://${addr} --approve-all`);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  share?.stop();
  relay?.child.kill();
});

test("the banners follow a relay that goes away and comes back without the session", async () => {
  const link = (await share.links(1)).get("writer") ?? "";
  const { page, traffic } = await openJoined(browser, link, { name: "rita" });
  await waitForScreen(page, PROMPT.trim());
  await page.locator("#host-state").filter({ hasText: "host online" }).waitFor({ timeout: TIMEOUT });
  await page.locator("#workspace .tile.focused .xterm").click();
  await page.keyboard.type("echo up-$((1+2))");
  await page.keyboard.press("Enter");
  await page.locator("#control.mine").waitFor({ timeout: TIMEOUT });
  await waitForScreen(page, "up-3");

  relay.child.kill("SIGKILL");
  await page.locator("#status").filter({ hasText: /reconnecting \(attempt \d+\)/ }).waitFor({ timeout: TIMEOUT });
  // Not connected: no banner says this page controls anything, or that the host is online.
  await page.locator("#control").filter({ hasText: /^Not connected: keys typed into terminal 1 .*are not sent\.$/ }).waitFor({ timeout: TIMEOUT });
  assert.equal(await page.locator("#host-state").innerText(), "");

  relay = new Tool(`${dir}/relay --bind ${addr}`);
  await relay.waitFor("listening");
  await page.locator("#status").filter({ hasText: "cannot join" }).waitFor({ timeout: 30_000 });
  await page.locator(".notice").filter({ hasText: "The session has ended while you were away." }).waitFor({ timeout: TIMEOUT });
  assert.doesNotMatch(await page.locator("#control").innerText(), /You control/);
  assertFragmentPrivate(link, traffic);
  await page.close();
});
