// Issue 18 in the browser: a command run inside the host's shared shell
// (`taiku`, which share puts on the shell's PATH) sets that terminal's
// agent status and notifies everyone; the tile shows the agent and its
// state, the terminal list too, the tab title counts it and a browser
// notification says it (Notification is stubbed and the page unfocused).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { examplesDir, launch, notified, openJoined, PROMPT, screenshot, stubNotifications, tile, TIMEOUT, Tool, waitForScreen } from "./browser-support.js";

let share: Tool;
let browser: Browser;

before(async () => {
  share = new Tool(`${examplesDir()}/share`);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  share?.stop();
});

test("an agent's status set from its shell shows on its tile, and waiting notifies", async () => {
  const links = await share.links(1);
  const { page } = await openJoined(browser, links.get("writer") ?? "", { name: "vera", init: stubNotifications });
  await waitForScreen(page, PROMPT.trim(), tile(1));

  share.write("taiku status --agent claude waiting needs review\r");
  const agent = page.locator(`${tile(1)} .tile-title .agent`);
  await agent.filter({ hasText: "claude: waiting for input (needs review)" }).waitFor({ timeout: TIMEOUT });
  await page.locator("#terminals li .agent").filter({ hasText: "claude: waiting for input (needs review)" }).waitFor({ timeout: TIMEOUT });
  await page.waitForFunction(() => document.title === "(1) taiku", null, { timeout: TIMEOUT });
  let got = await notified(page);
  assert.deepEqual(got.at(-1), { title: "taiku: an agent is waiting", body: "claude: waiting for input (needs review) in terminal 1 (shell)" });

  // Working again, then done: done notifies too; a status repeated does not.
  share.write("taiku status --agent claude tool Bash; taiku status --agent claude done; taiku status --agent claude done\r");
  await agent.filter({ hasText: "claude: done" }).waitFor({ timeout: TIMEOUT });
  await page.waitForFunction(() => document.title === "(2) taiku", null, { timeout: TIMEOUT });

  // A notice from the shell, and a new label.
  share.write("taiku notify tests pass; taiku label api server\r");
  await page.locator(".notice").filter({ hasText: "tests pass" }).waitFor({ timeout: TIMEOUT });
  await page.locator(`${tile(1)} .tile-title`).filter({ hasText: "api server" }).waitFor({ timeout: TIMEOUT });
  await page.waitForFunction(() => document.title === "(3) taiku", null, { timeout: TIMEOUT });
  got = await notified(page);
  assert.deepEqual(
    got.map((n) => n.title),
    ["taiku: an agent is waiting", "taiku: an agent is done", "taiku: terminal 1 (shell)"],
  );
  assert.equal(got.at(-1)?.body, "tests pass");
  await screenshot(page, "browser-agent.png");

  // Cleared: the tile no longer names an agent.
  share.write("taiku status clear\r");
  await agent.waitFor({ state: "detached", timeout: TIMEOUT });
});
