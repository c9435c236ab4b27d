// The browser participant end to end: a real `share` (embedded relay, a
// real shell in a 120×32 PTY, serving the client compiled into it) and
// Debian's Chromium driven by playwright-core. Each test is one thing a
// user does, and checks what they see and what reached the shell; every
// page is checked for the link's secret leaving `location.hash`.
//
// Builds the `share` and `relay` examples with cargo unless
// TAIKU_SHARE_BIN names `share` (the relay is next to it).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import qrcode from "qrcode-generator";
import {
  assertFragmentPrivate,
  assertStorage,
  examplesDir,
  FOCUSED,
  HOST_COLS,
  HOST_ROWS,
  join,
  launch,
  notified,
  open,
  openJoined,
  PROMPT,
  screenshot,
  screenText,
  sealed,
  stubNotifications,
  TIMEOUT,
  Tool,
  tile,
  waitForLines,
  waitForScreen,
} from "./browser-support.js";

let share: Tool;
let browser: Browser;
let links: Map<string, string>;

before(async () => {
  share = new Tool(`${examplesDir()}/share --enable-readers --admin-link --approve-all`);
  links = await share.links(3);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  share?.stop();
});

const link = (role: string) => links.get(role) ?? "";

/** Every tile on screen draws its whole terminal: no scrolling either way. */
/** A tile's font size once two readings 150 ms apart agree (at most 3 s). */
async function settledFont(page: Page, id: number): Promise<number> {
  const font = () => page.locator(`${tile(id)} .xterm-rows`).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  let last = await font();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(150);
    const now = await font();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function assertFits(page: Page): Promise<void> {
  const tiles = await page.locator("#workspace .tile").evaluateAll((els) =>
    els.map((t) => {
      const body = t.querySelector(".tile-body") as HTMLElement;
      const screen = t.querySelector(".xterm-screen") as HTMLElement;
      const r = screen.getBoundingClientRect();
      const b = body.getBoundingClientRect();
      return { id: (t as HTMLElement).dataset.terminal, scroll: [body.scrollWidth, body.clientWidth, body.scrollHeight, body.clientHeight], inside: r.right <= b.right + 0.5 && r.bottom <= b.bottom + 0.5, width: r.width };
    }),
  );
  assert.ok(tiles.length > 0);
  for (const t of tiles) {
    const [sw, cw, sh, ch] = t.scroll as [number, number, number, number];
    assert.ok(sw <= cw && sh <= ch, `terminal ${t.id} scrolls in its tile: ${JSON.stringify(t)}`);
    assert.ok(t.inside && t.width > 100, `terminal ${t.id} is not drawn inside its tile: ${JSON.stringify(t)}`);
  }
  const doc = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok((doc[0] ?? 0) <= (doc[1] ?? 0), `the page scrolls sideways: ${doc}`);
}

/** The modules of a QR code drawn on `canvas.qr[data-role=role]`, as rows of 0 and 1. */
async function qrModules(page: Page, role: string, modules: number): Promise<string[]> {
  return page.locator(`#invite-panel canvas.qr[data-role="${role}"]`).evaluate((c, n) => {
    const canvas = c as HTMLCanvasElement;
    const g = canvas.getContext("2d");
    const scale = canvas.width / (n + 8);
    const rows: string[] = [];
    for (let r = 0; r < n; r++) {
      let row = "";
      for (let col = 0; col < n; col++) {
        const px = g?.getImageData(Math.floor((col + 4.5) * scale), Math.floor((r + 4.5) * scale), 1, 1).data;
        row += px && px[0] === 0 ? "1" : "0";
      }
      rows.push(row);
    }
    return rows;
  }, modules);
}

function expectedModules(text: string): { n: number; rows: string[] } {
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const n = code.getModuleCount();
  const rows = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => (code.isDark(r, c) ? "1" : "0")).join(""));
  return { n, rows };
}

test("the writer link shows the prompt, types a command and sees its output", async () => {
  const { page, traffic } = await open(browser, link("writer"));
  // Item 5: a name is asked for before joining; nothing was kept yet.
  assert.equal(await page.locator("#join-name").inputValue(), "");
  await join(page);
  await waitForScreen(page, PROMPT.trim());
  await page.locator("#role").filter({ hasText: "writer link" }).waitFor({ timeout: TIMEOUT });
  assert.match(await page.locator("#terminals").innerText(), /owner: /);
  assert.match(await page.locator("#people").innerText(), /\(you\)/);
  assert.match(await page.locator(tile(1)).locator(".tile-title").innerText(), new RegExp(`${HOST_COLS}×${HOST_ROWS}`));
  assert.match(await page.locator("#control").innerText(), /host controls terminal 1 \(shell\): typing asks host for control/);

  // Item 1: the host owns its shell: the first key asks for control
  // (share approves), and the whole line, that first key included, is
  // held and arrives once control comes: never a suffix of it.
  await page.locator(`${FOCUSED} .xterm`).click();
  await page.keyboard.type("echo taiku-$((6*7))");
  await page.keyboard.press("Enter");
  await page.locator("#control.mine").filter({ hasText: "You control terminal 1" }).waitFor({ timeout: TIMEOUT });
  await waitForScreen(page, "taiku-42");
  const typed = await screenText(page);
  assert.match(typed, /echo taiku-\$\(\(6\*7\)\)/);
  assert.ok(!typed.includes("command not found"), `a suffix of the line ran:\n${typed}`);

  // True colour renders under the CSP, and the queries in the output
  // (device attributes, cursor position) are not answered into the shell.
  await page.keyboard.type("printf '\\033[38;2;255;0;0mRED-TRUE\\033[0m\\033[c\\033[6n\\n'; echo queried-$((2+3))");
  await page.keyboard.press("Enter");
  await waitForScreen(page, "queried-5");
  const colour = await page.locator(`${FOCUSED} .xterm-rows span`, { hasText: "RED-TRUE" }).last().evaluate((el) => getComputedStyle(el).color);
  assert.equal(colour, "rgb(255, 0, 0)");
  await page.waitForTimeout(500);
  const after = await screenText(page);
  assert.ok(!after.includes("^[") && !after.includes("1;2c"), `a query was answered into the shell:\n${after}`);

  // Item 4: a 120×32 terminal fits 1280×800 without scrolling.
  await assertFits(page);

  // Items 4 and 6: New opens a terminal of one's own the size of the tile
  // it gets (not 80×24), next to the first; typing needs nobody's approval.
  await page.locator("#new-terminal").click();
  await page.locator(tile(2)).waitFor({ timeout: TIMEOUT });
  await page.waitForFunction(() => document.querySelector("#workspace .tile.focused")?.getAttribute("data-terminal") === "2", null, { timeout: TIMEOUT });
  await waitForScreen(page, PROMPT.trim());
  const size = (await page.locator(tile(2)).locator(".tile-title").innerText()).match(/(\d+)×(\d+)/);
  const [cols, rows] = [Number(size?.[1]), Number(size?.[2])];
  assert.ok(cols > 40 && rows > 24 && !(cols === 80 && rows === 24), `the new terminal is ${cols}×${rows}`);
  assert.match(await page.locator('#terminals li[data-terminal="2"]').innerText(), /owner: guest \(you\)/);
  await page.keyboard.type("stty size; echo mine-$((1+1))");
  await page.keyboard.press("Enter");
  await waitForScreen(page, "mine-2");
  assert.match(await screenText(page), new RegExp(`\\n${rows} ${cols}\\n`));
  // Two tiles side by side, each fitted; the tile with the keyboard is marked.
  const boxes = await Promise.all([1, 2].map((id) => page.locator(tile(id)).boundingBox()));
  assert.ok(boxes[0] && boxes[1] && boxes[0].x + boxes[0].width <= boxes[1].x + 1, `not side by side: ${JSON.stringify(boxes)}`);
  await assertFits(page);
  const font = await page.locator(`${tile(2)} .xterm-rows`).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(font >= 12 && font <= 15, `the new terminal is drawn at ${font}px`);
  // Stacked, they still fit; back side by side.
  await page.locator("#split").click();
  await page.waitForTimeout(300);
  const stacked = await Promise.all([1, 2].map((id) => page.locator(tile(id)).boundingBox()));
  assert.ok(stacked[0] && stacked[1] && stacked[0].y + stacked[0].height <= stacked[1].y + 1, `not stacked: ${JSON.stringify(stacked)}`);
  await assertFits(page);
  await page.locator("#split").click();
  // Zoom in makes the text larger; Fit brings it back. The tiles are
  // fitted again after the split changes: measure once that is done.
  const before = await settledFont(page, 1);
  await page.locator("#zoom-in").click();
  const zoomed = await page.locator(`${tile(1)} .xterm-rows`).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(zoomed > before, `${zoomed} <= ${before}`);
  await page.locator("#zoom-fit").click();
  await page.locator(tile(1)).click();
  await waitForScreen(page, "queried-5");

  await page.locator("#name-input").fill("ana");
  await page.locator("#name-input").press("Enter");
  await page.locator("#people").filter({ hasText: "ana (you)" }).waitFor({ timeout: TIMEOUT });
  // The name is kept for next time; nothing else is stored.
  await assertStorage(page, { "taiku.name": "ana" });

  await page.locator("#chat-input").fill("hello from the browser");
  await page.locator("#chat-input").press("Enter");
  await page.locator("#chat-log li").filter({ hasText: "ana (you)hello from the browser" }).waitFor({ timeout: TIMEOUT });
  assert.match((await page.locator("#chat-log li time").last().getAttribute("datetime")) ?? "", /^\d{4}-\d\d-\d\dT/);
  await screenshot(page, "browser.png");

  // Item 7: Invite derives the reader link from the writer's own secret
  // in the page; it parses and joins as a reader. A writer may hand on
  // its own link too, never an admin one; each has a QR code of exactly
  // that link.
  await page.locator("#invite").click();
  const reader = await page.locator('#invite-panel input[data-role="reader"]').inputValue();
  const writer = await page.locator('#invite-panel input[data-role="writer"]').inputValue();
  assert.equal(await page.locator('#invite-panel input[data-role="admin"]').count(), 0);
  assert.equal(writer, link("writer"));
  assert.equal(reader, link("reader"), "the derived reader link is the host's reader link");
  for (const [role, text] of [["reader", reader], ["writer", writer]] as const) {
    const expected = expectedModules(text);
    assert.deepEqual(await qrModules(page, role, expected.n), expected.rows, `the ${role} QR code is not its link`);
  }
  await screenshot(page, "browser-invite.png");
  await page.locator("#invite-panel button", { hasText: "Close" }).click();
  assert.equal(await page.locator("#invite-panel input, #invite-panel canvas").count(), 0, "closed, the links leave the page");
  // Item 5: the next visit in this browser is prefilled with the name.
  const again = await page.context().newPage();
  await again.goto(link("reader"));
  assert.equal(await again.locator("#join-name").inputValue(), "ana");
  await again.close();
  assertFragmentPrivate(link("writer"), traffic);
  await page.close();
  const invited = await openJoined(browser, reader);
  await invited.page.locator("#role").filter({ hasText: "reader link" }).waitFor({ timeout: TIMEOUT });
  await waitForScreen(invited.page, "taiku-42", tile(1));
  await invited.page.close();
});

test("the reader link watches the same terminal and is refused typing", async () => {
  const { page, traffic } = await openJoined(browser, link("reader"));
  await waitForScreen(page, "taiku-42", tile(1));
  await page.locator(tile(1)).click();
  assert.match(await page.locator("#control").innerText(), /read-only link/);
  const before = traffic.frames.length;
  await page.locator(`${tile(1)} .xterm`).click();
  await page.keyboard.type("echo no");
  await page.locator(".notice").filter({ hasText: "Read-only link: typing is disabled" }).waitFor({ timeout: TIMEOUT });
  // Nothing was sealed for those keys.
  assert.deepEqual(sealed(traffic.frames.slice(before)), []);
  // Two people called "guest" are told apart (item 5).
  const second = await openJoined(browser, link("reader"));
  await second.page.locator("#people").filter({ hasText: "guest 2 (you)" }).waitFor({ timeout: TIMEOUT });
  await page.locator("#people").filter({ hasText: "guest 2" }).waitFor({ timeout: TIMEOUT });
  await second.page.close();
  assertFragmentPrivate(link("reader"), traffic);
  await page.close();
});

test("a damaged link and a link to no session get clear messages", async () => {
  const writer = link("writer");
  const damaged = await open(browser, writer.slice(0, -5));
  await damaged.page.locator(".notice").filter({ hasText: "cut short" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await damaged.page.locator("#join").isHidden(), true, "a damaged link is not even offered a join");
  assert.equal(damaged.traffic.frames.length, 0, "a damaged link does not even connect");
  await damaged.page.close();

  const origin = writer.slice(0, writer.indexOf("/s/"));
  const unknown = `${origin}/s/no-such-session-01${writer.slice(writer.indexOf("#"))}`;
  const expired = await open(browser, unknown);
  await expired.page.locator("#join button").click();
  await expired.page.locator(".notice").filter({ hasText: "wrong or has expired" }).waitFor({ timeout: TIMEOUT });
  await expired.page.locator("#status").filter({ hasText: "cannot join" }).waitFor({ timeout: TIMEOUT });
  assertFragmentPrivate(unknown, expired.traffic);
  await expired.page.close();
});

test("items 1 and 9: keys held while asking arrive whole on approval and not at all on denial, and the owner is notified", async () => {
  // Two writers: the owner opens a terminal of its own; the other types
  // into it at once, before and while control is asked for.
  const owner = await openJoined(browser, link("writer"), { name: "olga", init: stubNotifications });
  await owner.page.locator("#new-terminal").click();
  const own = owner.page.locator("#terminals li").filter({ hasText: "owner: olga (you)" });
  await own.waitFor({ timeout: TIMEOUT });
  const id = Number(await own.getAttribute("data-terminal"));
  await owner.page.locator(`${tile(id)}.focused .xterm-rows`).filter({ hasText: PROMPT.trim() }).waitFor({ timeout: TIMEOUT });
  const guest = await openJoined(browser, link("writer"), { name: "gus", init: stubNotifications });
  await guest.page.locator(tile(id)).waitFor({ timeout: TIMEOUT });
  await guest.page.locator(tile(id)).click();
  assert.match(await guest.page.locator("#control").innerText(), new RegExp(`olga controls terminal ${id}`));

  // Denied: nothing of the line reaches the shell, and the notice stays.
  await guest.page.locator(`${tile(id)} .xterm`).click();
  await guest.page.keyboard.type("echo abc");
  await guest.page.keyboard.press("Enter");
  await guest.page.locator("#control.pending").waitFor({ timeout: TIMEOUT });
  const request = owner.page.locator("#requests li").filter({ hasText: `asks for control of terminal ${id}` });
  await request.waitFor({ timeout: TIMEOUT });
  assert.match(await request.innerText(), /says "gus"/);
  await owner.page.waitForFunction(() => document.title === "(2) taiku" || document.title === "(1) taiku", null, { timeout: TIMEOUT });
  assert.ok((await notified(owner.page)).some((n) => n.body.includes(`asks for control of terminal ${id}`)), "the owner was not notified");
  await request.getByRole("button", { name: "Decline" }).click();
  const dropped = guest.page.locator(".notice.lasting").filter({ hasText: "were not sent" });
  await dropped.waitFor({ timeout: TIMEOUT });
  assert.match(await dropped.innerText(), /the 9 bytes you typed/);
  await guest.page.waitForTimeout(2000);
  assert.ok(await dropped.isVisible(), "the notice went away by itself");
  await dropped.getByRole("button", { name: "Dismiss" }).click();
  assert.equal(await dropped.count(), 0);
  assert.doesNotMatch(await screenText(owner.page), /abc/, "a denied line reached the shell");

  // Approved: exactly the line typed, from its first key.
  await guest.page.locator(`${tile(id)} .xterm`).click();
  await guest.page.keyboard.type("echo abc");
  await guest.page.keyboard.press("Enter");
  await request.waitFor({ timeout: TIMEOUT });
  await request.getByRole("button", { name: "Hand over" }).click();
  await guest.page.locator("#control.mine").filter({ hasText: `You control terminal ${id}` }).waitFor({ timeout: TIMEOUT });
  await waitForLines(owner.page, /\$ echo abc\nabc\n/, tile(id));
  const shell = await screenText(owner.page, tile(id));
  assert.match(shell, /\$ echo abc\nabc\n/);
  assert.ok(!shell.includes("command not found"), shell);
  assert.ok((await notified(guest.page)).some((n) => n.body.startsWith(`You control terminal ${id} `)), "the guest was not told it has control");
  // The owner's banner says who has it now, and so do both tiles' titles.
  await owner.page.locator(tile(id)).click();
  await owner.page.locator("#control").filter({ hasText: `gus controls terminal ${id}` }).waitFor({ timeout: TIMEOUT });
  assert.match(await guest.page.locator(`${tile(id)} .tile-title`).innerText(), /controlled by gus \(you\)/);
  assertFragmentPrivate(link("writer"), owner.traffic);
  assertFragmentPrivate(link("writer"), guest.traffic);
  await owner.page.close();
  await guest.page.close();
});

test("item 3: after an admin takes over, the writer's banner says who controls the terminal", async () => {
  const writer = await openJoined(browser, link("writer"), { name: "wen" });
  await writer.page.locator(tile(1)).click();
  await writer.page.locator(`${tile(1)} .xterm`).click();
  await writer.page.keyboard.type("echo wen-$((2*4))");
  await writer.page.keyboard.press("Enter");
  await writer.page.locator("#control.mine").filter({ hasText: "You control terminal 1" }).waitFor({ timeout: TIMEOUT });
  await waitForScreen(writer.page, "wen-8", tile(1));

  const { page, traffic } = await openJoined(browser, link("admin"), { name: "ada" });
  await waitForScreen(page, "wen-8", tile(1));
  await page.locator("#role").filter({ hasText: "admin link" }).waitFor({ timeout: TIMEOUT });
  const shell = page.locator('#terminals li[data-terminal="1"]');
  await shell.getByRole("button", { name: "Take over" }).click();
  await shell.filter({ hasText: "controlled by ada (you)" }).waitFor({ timeout: TIMEOUT });
  await writer.page.locator("#control").filter({ hasText: "ada controls terminal 1" }).waitFor({ timeout: TIMEOUT });
  assert.doesNotMatch(await writer.page.locator("#control").innerText(), /You control/);
  await page.locator(tile(1)).click();
  await page.locator(`${tile(1)} .xterm`).click();
  await page.keyboard.type("echo admin-$((3+4))");
  await page.keyboard.press("Enter");
  await waitForScreen(page, "admin-7", tile(1));
  assertFragmentPrivate(link("admin"), traffic);
  await page.close();
  await writer.page.close();
});

test("item 6: a peek shows anyone's terminal large and read-only, and layouts show as thumbnails", async () => {
  const watcher = await openJoined(browser, link("writer"), { name: "pia" });
  const other = await openJoined(browser, link("reader"), { name: "rex" });
  await other.page.locator(tile(1)).waitFor({ timeout: TIMEOUT });
  // The watcher sees the reader's layout (terminal 1 among its tiles).
  const thumb = watcher.page.locator('#people li', { hasText: "rex" }).locator("canvas.thumb");
  await thumb.waitFor({ timeout: TIMEOUT });
  assert.match((await thumb.getAttribute("data-terminals")) ?? "", /(^|,)1(,|$)/);
  // Hiding a tile changes the layout others see.
  await other.page.locator(tile(1)).getByRole("button", { name: "Hide" }).click();
  await watcher.page.waitForFunction(
    () => {
      const rex = [...document.querySelectorAll("#people li")].find((li) => li.textContent?.includes("rex"));
      const shown = rex?.querySelector("canvas.thumb")?.getAttribute("data-terminals") ?? "";
      return rex !== undefined && !/(^|,)1(,|$)/.test(shown);
    },
    null,
    { timeout: TIMEOUT },
  );
  const before = watcher.traffic.frames.length;
  await watcher.page.locator('#terminals li[data-terminal="1"]').getByRole("button", { name: "Peek" }).click();
  const peek = watcher.page.locator("#peek");
  await peek.waitFor({ state: "visible", timeout: TIMEOUT });
  await peek.locator(".xterm-rows").filter({ hasText: "admin-7" }).waitFor({ timeout: TIMEOUT });
  const big = await peek.locator(".xterm-rows").evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(big > 9, `the peek is drawn at ${big}px`);
  await screenshot(watcher.page, "browser-peek.png");
  await peek.locator(".xterm").click();
  await watcher.page.keyboard.type("echo peeked");
  await watcher.page.waitForTimeout(300);
  assert.deepEqual(sealed(watcher.traffic.frames.slice(before)), [], "a peek typed into the terminal");
  await peek.getByRole("button", { name: "Close" }).click();
  await peek.waitFor({ state: "hidden", timeout: TIMEOUT });
  await waitForScreen(watcher.page, "admin-7", tile(1));
  assertFragmentPrivate(link("writer"), watcher.traffic);
  await watcher.page.close();
  await other.page.close();
});

test("items 4 and 8 on a phone: one full-width tile, the panel folds away, chat counts unread, keeps history and says when it is rate-limited", async () => {
  const phone = await openJoined(browser, link("writer"), { name: "fon", viewport: { width: 390, height: 844 } });
  await waitForScreen(phone.page, PROMPT.trim());
  assert.equal(await phone.page.locator("aside").isHidden(), true, "the side panel takes room on a phone");
  assert.equal(await phone.page.locator("#workspace .tile").count(), 1);
  const box = await phone.page.locator("#workspace .tile").boundingBox();
  assert.ok(box && box.width >= 370, `the tile is ${box?.width}px wide`);
  await assertFits(phone.page);
  await screenshot(phone.page, "browser-phone.png");

  // Someone chats: the phone counts it as unread until the panel opens.
  const friend = await openJoined(browser, link("writer"), { name: "fred" });
  await friend.page.locator("#chat-input").fill("look at terminal 1");
  await friend.page.locator("#chat-input").press("Enter");
  await phone.page.locator("#unread").filter({ hasText: "1" }).waitFor({ timeout: TIMEOUT });
  await phone.page.locator("#panel-toggle").click();
  await phone.page.locator("aside").waitFor({ state: "visible", timeout: TIMEOUT });
  await phone.page.locator("#unread").waitFor({ state: "hidden", timeout: TIMEOUT });
  await phone.page.locator("#chat-log li").filter({ hasText: "fredlook at terminal 1" }).waitFor({ timeout: TIMEOUT });
  // The history the relay replays, with when each line was said.
  const said = await phone.page.locator("#chat-log li", { hasText: "hello from the browser" }).locator("time").getAttribute("datetime");
  assert.ok(said && Date.now() - Date.parse(said) > 1000, `the replayed line is dated ${said}`);
  await screenshot(phone.page, "browser-phone-panel.png");

  // Over the chat rate (5 at once): a notice, and the message back in the box.
  await friend.page.evaluate(() => {
    const input = document.querySelector("#chat-input") as HTMLInputElement;
    const form = document.querySelector("#chat-form") as HTMLFormElement;
    for (let i = 1; i <= 7; i++) {
      input.value = `burst ${i}`;
      form.requestSubmit();
    }
  });
  await friend.page.locator(".notice").filter({ hasText: /Chat is rate-limited: "burst \d" was not sent/ }).waitFor({ timeout: TIMEOUT });
  // The first refused line is back in the box; the last lines sent before it arrived.
  const back = await friend.page.locator("#chat-input").inputValue();
  assert.match(back, /^burst [5-7]$/);
  await phone.page.locator("#chat-log li").filter({ hasText: "burst 4" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await phone.page.locator("#chat-log li").filter({ hasText: back }).count(), 0, `${back} was shown, though refused`);
  assertFragmentPrivate(link("writer"), phone.traffic);
  await phone.page.close();
  await friend.page.close();
});
