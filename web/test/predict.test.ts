// SPEC.md 11.8: the browser client's predictive echo follows the same
// rules as the Rust predictor, against a small screen that echoes like a
// shell at a prompt.

import assert from "node:assert/strict";
import { test } from "node:test";
import { PREDICTION_TIMEOUT_MS, type PredictScreen, Predictor } from "../src/predict.js";

class FakeScreen implements PredictScreen {
  rows: string[][] = Array.from({ length: 24 }, () => Array(80).fill(" "));
  row = 0;
  col = 0;
  alternate = false;
  write(text: string): void {
    for (const ch of text) {
      if (ch === "\r") this.col = 0;
      else if (ch === "\n") this.row++;
      else if (ch === "\b") this.col = Math.max(0, this.col - 1);
      else {
        this.rows[this.row]![this.col] = ch;
        this.col++;
      }
    }
  }
  cursor(): [number, number] {
    return [this.row, this.col];
  }
  cols(): number {
    return 80;
  }
  predictable(): boolean {
    return !this.alternate && this.col + 1 < 80;
  }
  charAt(row: number, col: number): string | undefined {
    return this.rows[row]?.[col];
  }
}

const enc = (s: string) => new TextEncoder().encode(s);
const shown = (p: Predictor) => p.shown().map((x) => x.ch).join("");

/** A prompt with one key typed and echoed 150 ms later. */
function atPrompt(mode: "auto" | "always" | "never" = "auto"): { screen: FakeScreen; p: Predictor; now: number } {
  const screen = new FakeScreen();
  screen.write("$ ");
  const p = new Predictor(mode);
  p.typed(enc("e"), screen, 0);
  screen.write("e");
  p.output(screen, 150);
  return { screen, p, now: 150 };
}

test("keys are shown at once and confirmed by the echo", () => {
  const { screen, p, now } = atPrompt();
  assert.equal(p.rtt, 150);
  p.typed(enc("cho"), screen, now);
  assert.equal(shown(p), "cho");
  assert.deepEqual(
    p.shown().map((x) => [x.row, x.col]),
    [
      [0, 3],
      [0, 4],
      [0, 5],
    ],
  );
  screen.write("ch");
  p.output(screen, now + 150);
  assert.equal(shown(p), "o");
  screen.write("o");
  p.output(screen, now + 150);
  assert.equal(shown(p), "");
  assert.deepEqual([p.hits, p.misses], [4, 0]);
});

test("output that contradicts a guess takes every guess back", () => {
  const { screen, p, now } = atPrompt();
  p.typed(enc("xyz"), screen, now);
  screen.write("Q!");
  p.output(screen, now + 150);
  assert.equal(shown(p), "");
  assert.deepEqual([p.hits, p.misses], [1, 3]);
  p.typed(enc("a"), screen, now + 150);
  assert.equal(shown(p), "");
});

test("nothing is shown where the program does not echo", () => {
  const { screen, p, now } = atPrompt();
  p.typed(enc("\r"), screen, now);
  screen.write("\r\nPassword: ");
  p.output(screen, now + 150);
  p.typed(enc("hunter2"), screen, now + 150);
  assert.equal(shown(p), "");
  p.handleTimeout(now + 150 + PREDICTION_TIMEOUT_MS);
  assert.equal(p.pollTimeout(), undefined);
  assert.deepEqual([p.hits, p.misses], [1, 7]);
});

test("a full-screen program, the last column, a quick echo and 'never' show nothing", () => {
  const full = atPrompt("always");
  full.screen.alternate = true;
  full.p.typed(enc("jjj"), full.screen, full.now);
  assert.equal(shown(full.p), "");
  const wide = atPrompt("always");
  wide.p.typed(new Uint8Array(90).fill(0x6b), wide.screen, wide.now);
  assert.equal(wide.p.shown().length, 76);
  assert.equal(wide.p.shown().at(-1)?.col, 78);
  const quick = new FakeScreen();
  quick.write("$ ");
  const p = new Predictor("auto");
  p.typed(enc("e"), quick, 0);
  quick.write("e");
  p.output(quick, 2);
  p.typed(enc("ab"), quick, 3);
  assert.equal(shown(p), "");
  const never = atPrompt();
  never.p.mode = "never";
  never.p.typed(enc("ab"), never.screen, never.now);
  assert.equal(shown(never.p), "");
});

test("backspace takes back the last guess", () => {
  const { screen, p, now } = atPrompt();
  p.typed(enc("cx\x7fh"), screen, now);
  assert.equal(shown(p), "ch");
  screen.write("cx\b \bh");
  p.output(screen, now + 150);
  assert.equal(shown(p), "");
  assert.deepEqual([p.hits, p.misses], [3, 0]);
});
