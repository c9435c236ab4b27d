// Issue 17 in the browser: a late joiner whose relay no longer holds what
// drew the screen gets the host's snapshot (share keeps a screen model)
// and sees exactly what a viewer who watched from the start sees. A
// `relay` process with the smallest ring it accepts (2 MiB), `share
// --relay`, the host runs megabytes of output and then vi; an early page
// has followed every byte, a late page starts from the snapshot. Their
// screens must match row for row, colours included.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { assertFragmentPrivate, examplesDir, freePort, launch, openJoined, PROMPT, ROOT, screenshot, tile, Tool, waitForScreen } from "./browser-support.js";

let relay: Tool;
let share: Tool;
let browser: Browser;

before(async () => {
  const dir = examplesDir();
  const addr = `127.0.0.1:${await freePort()}`;
  relay = new Tool(`${dir}/relay --bind ${addr} --ring-bytes 2097152`);
  await relay.waitFor("listening");
  share = new Tool(`${dir}/share --relay http://${addr} --enable-readers`);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  share?.stop();
  relay?.child.kill();
});

/** Each row of terminal 1 as text, and each coloured run in it. */
async function rows(page: Page): Promise<{ text: string[]; runs: string[] }> {
  return page.locator(`${tile(1)} .xterm-rows`).evaluate((el) => {
    const text = [...el.children].map((row) => (row as HTMLElement).innerText.replace(/\s+$/, ""));
    const runs = [...el.querySelectorAll("span")]
      .filter((s) => s.textContent?.trim())
      .map((s) => {
        const c = getComputedStyle(s);
        return `${s.textContent?.trim()}|${c.color}|${c.backgroundColor}|${c.fontWeight}`;
      });
    return { text, runs };
  });
}

/** Rows once they stop changing. */
async function settled(page: Page): Promise<{ text: string[]; runs: string[] }> {
  let last = await rows(page);
  for (let i = 0; i < 40; i++) {
    await page.waitForTimeout(250);
    const now = await rows(page);
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  return last;
}

test("a late joiner's screen, from the snapshot, is the screen of a viewer who saw everything", async () => {
  const links = await share.links(2);
  const reader = links.get("reader") ?? "";
  const early = await openJoined(browser, reader, { name: "early" });
  await waitForScreen(early.page, PROMPT.trim(), tile(1));
  // On the alternate screen, a red header above a scroll region, then
  // megabytes inside the region (the ring keeps 2 MiB): the header and the
  // modes are drawn only by output the relay has long evicted.
  share.write("printf '\\033[?1049h\\033]2;busy\\007\\033[H\\033[1;31mHEADER-top\\033[0m \\033[44mblue\\033[0m\\033[3;30r\\033[30;1H'; seq 1 600000; echo done-$((2*3))\r");
  await waitForScreen(early.page, "done-6", tile(1));
  const before = await settled(early.page);
  assert.match(before.text[0] ?? "", /^HEADER-top blue/);
  const late = await openJoined(browser, reader, { name: "late" });
  await waitForScreen(late.page, "done-6", tile(1));
  const fresh = await settled(late.page);
  assert.deepEqual(fresh.text, before.text);
  assert.deepEqual(fresh.runs, before.runs);
  await screenshot(late.page, "browser-snapshot.png");

  // vi in colour over it, then a move: both follow, and still agree.
  share.write(`vi -u NONE -i NONE -c 'syntax on' -c 'set nu' ${ROOT}SPEC.md\r`);
  await waitForScreen(late.page, "taiku protocol, version 1", tile(1));
  const vi = await settled(early.page);
  assert.deepEqual((await settled(late.page)).text, vi.text);
  // The host moves on in vi: both follow, and still agree.
  share.write("40jdd");
  await early.page.waitForTimeout(300);
  const moved = await settled(early.page);
  const lateMoved = await settled(late.page);
  assert.notDeepEqual(moved.text, vi.text, "vi did not move");
  assert.deepEqual(lateMoved.text, moved.text);
  assert.deepEqual(lateMoved.runs, moved.runs);
  // Out of vi, back on the normal screen the snapshot also carried.
  share.write("\x1b:q!\r");
  await waitForScreen(late.page, "seq 1 600000", tile(1));
  assert.deepEqual((await settled(late.page)).text, (await settled(early.page)).text);
  assertFragmentPrivate(reader, late.traffic);
  await early.page.close();
  await late.page.close();
});
