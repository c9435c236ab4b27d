// The workspace: several terminals on screen at once as tiles (side by side
// or stacked), each titled with its owner, controller, size and agent; one
// has the keyboard. A terminal is drawn at its owner's size and scaled to
// fit its tile; zoom scales further. A peek shows any terminal large and
// read-only. On a narrow screen only the focused tile is shown, full width.

import { Terminal } from "@xterm/xterm";
import { type PredictMode, type PredictScreen, Predictor } from "../predict.js";
import type { LayoutTile } from "../view.js";
import { button, el } from "./dom.js";
import { BASE_FONT_PX, cellsIn, FONT_FAMILY, fitFont, MAX_FONT_PX } from "./fit.js";

/** Terminal sizes drawn, whatever the relay says (SPEC.md 7.1). */
const MAX_COLS = 1000;
const MAX_ROWS = 1000;
/** Terminals shown as tiles without being asked for. */
export const AUTO_TILES = 4;
/** Most tiles on screen at once. */
export const MAX_TILES = 9;
/** Screens narrower than this show one tile, full width (the side panel folds away). */
export const NARROW_PX = 700;
/** Zoom steps and bounds. */
const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.25;
const ZOOM_MAX = 4;
/** Lines of scrollback each terminal keeps. */
const SCROLLBACK = 5000;
/** The largest font a peek draws. */
const PEEK_MAX_FONT_PX = 40;

const clamp = (n: number, max: number, fallback: number) => (n >= 1 ? Math.min(n, max) : fallback);

/** What the workspace tells the page. */
export interface WorkspaceEvents {
  /** The user typed (or pasted) into `term`'s tile. */
  typed(term: number, bytes: Uint8Array): void;
  /** A key or paste happened (for telling the user's keys from the terminal's own reports). */
  key(): void;
  /** `term` got the keyboard. */
  focused(term: number): void;
  /** Tiles were shown, hidden or rearranged. */
  arranged(): void;
}

class Tile {
  readonly root = el("div", "tile");
  readonly title = el("div", "tile-title");
  readonly body = el("div", "tile-body");
  /** Where xterm.js draws: moved into the peek and back. */
  readonly host = el("div", "term");
  opened = false;
  /**
   * While a snapshot waits for the writes queued before it: what came
   * after it, in order (xterm.js parses writes later; reset and resize act
   * at once).
   */
  held?: (() => void)[];
  /** Predictive echo of what this participant types here (SPEC.md 11.8). */
  readonly predictor: Predictor;
  /** The layer over the terminal the predictions are drawn in. */
  readonly predictions = el("div", "predictions");
  timer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly id: number,
    readonly term: Terminal,
    mode: PredictMode,
  ) {
    this.predictor = new Predictor(mode);
    this.predictions.setAttribute("aria-hidden", "true");
    this.root.dataset.terminal = String(id);
    this.body.append(this.host);
    this.root.append(this.title, this.body);
  }
}

/** A terminal's screen as the predictor sees it. */
function screenOf(term: Terminal): PredictScreen {
  const buffer = term.buffer.active;
  return {
    cursor: () => [buffer.cursorY, buffer.cursorX],
    cols: () => term.cols,
    predictable: () =>
      buffer.type === "normal" && !term.modes.insertMode && !term.modes.originMode && buffer.cursorX + 1 < term.cols,
    charAt: (row, col) => {
      const cell = buffer.getLine(buffer.baseY + row)?.getCell(col);
      if (!cell) return undefined;
      if (cell.getWidth() === 0) return "";
      return cell.getChars() || " ";
    },
  };
}

export class Workspace {
  private readonly tiles = new Map<number, Tile>();
  /** Terminals on screen as tiles, in order. */
  private shown: number[] = [];
  private focusedId?: number;
  private split: "columns" | "rows" = "columns";
  private zoom = 1;
  private peeking?: number;
  private readonly narrowQuery = window.matchMedia(`(max-width: ${NARROW_PX}px)`);
  private fitting = false;
  private predictMode: PredictMode = "auto";

  constructor(
    private readonly root: HTMLElement,
    private readonly peekRoot: HTMLElement,
    private readonly events: WorkspaceEvents,
  ) {
    root.classList.add(this.split);
    new ResizeObserver(() => this.scheduleFit()).observe(root);
    this.narrowQuery.addEventListener("change", () => {
      this.place();
      this.events.arranged();
    });
    this.peekRoot.querySelector(".peek-close")?.addEventListener("click", () => this.closePeek());
    this.peekRoot.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.closePeek();
    });
  }

  get narrow(): boolean {
    return this.narrowQuery.matches;
  }

  get focused(): number | undefined {
    return this.focusedId;
  }

  get peeked(): number | undefined {
    return this.peeking;
  }

  isShown(id: number): boolean {
    return this.shown.includes(id);
  }

  /** A new terminal of `cols` × `rows`; shown if asked or while few are. */
  add(id: number, rows: number, cols: number, show: boolean): void {
    if (this.tiles.has(id)) return;
    const term = new Terminal({
      rows: clamp(rows, MAX_ROWS, 24),
      cols: clamp(cols, MAX_COLS, 80),
      scrollback: SCROLLBACK,
      fontFamily: FONT_FAMILY,
      fontSize: BASE_FONT_PX,
    });
    quietReplies(term);
    term.attachCustomKeyEventHandler(() => {
      this.events.key();
      return true;
    });
    const tile = new Tile(id, term, this.predictMode);
    const input = (bytes: Uint8Array) => {
      // A peek is read-only.
      if (this.peeking !== id) this.events.typed(id, bytes);
    };
    term.onData((data) => input(new TextEncoder().encode(data)));
    term.onBinary((data) => input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    tile.root.addEventListener("mousedown", () => this.focus(id));
    this.tiles.set(id, tile);
    if (show || this.shown.length < AUTO_TILES) this.show(id);
    if (this.focusedId === undefined || show) this.focus(id);
  }

  remove(id: number): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (this.peeking === id) this.closePeek();
    clearTimeout(tile.timer);
    tile.term.dispose();
    tile.root.remove();
    this.tiles.delete(id);
    this.shown = this.shown.filter((t) => t !== id);
    if (this.focusedId === id) {
      this.focusedId = undefined;
      const next = this.shown[0] ?? this.tiles.keys().next().value;
      if (next !== undefined) this.focus(next);
    }
    this.place();
    this.events.arranged();
  }

  write(id: number, bytes: Uint8Array): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const write = () => tile.term.write(bytes, () => this.echoed(tile));
    if (tile.held) tile.held.push(write);
    else write();
  }

  /** When keys are predicted (SPEC.md 11.8). */
  setPredictMode(mode: PredictMode): void {
    this.predictMode = mode;
    for (const tile of this.tiles.values()) {
      tile.predictor.mode = mode;
      this.drawPredictions(tile);
    }
  }

  /** The user's `bytes` were sent to `id`: shown at once where they can be predicted. */
  predict(id: number, bytes: Uint8Array): void {
    const tile = this.tiles.get(id);
    if (!tile || tile.held) return;
    tile.predictor.typed(bytes, screenOf(tile.term), performance.now());
    this.drawPredictions(tile);
  }

  /** Output of `tile` is on its screen: confirm or take back predictions. */
  private echoed(tile: Tile): void {
    tile.predictor.output(screenOf(tile.term), performance.now());
    this.drawPredictions(tile);
  }

  /**
   * The predictions, underlined, in a layer over the terminal's cells
   * (never written into the terminal, so its screen stays the host's).
   */
  private drawPredictions(tile: Tile): void {
    clearTimeout(tile.timer);
    const due = tile.predictor.pollTimeout();
    if (due !== undefined) {
      tile.timer = setTimeout(() => {
        tile.predictor.handleTimeout(performance.now());
        this.drawPredictions(tile);
      }, Math.max(0, due - performance.now()));
    }
    const shown = tile.predictor.shown();
    const screen = tile.term.element?.querySelector<HTMLElement>(".xterm-screen");
    if (!screen) return;
    if (tile.predictions.parentElement !== screen) screen.append(tile.predictions);
    const buffer = tile.term.buffer.active;
    const width = screen.clientWidth / tile.term.cols;
    const height = screen.clientHeight / tile.term.rows;
    const spans: HTMLElement[] = [];
    for (const p of shown) {
      const row = buffer.baseY + p.row - buffer.viewportY;
      if (row < 0 || row >= tile.term.rows) continue;
      const span = el("span", "prediction", p.ch);
      span.style.left = `${p.col * width}px`;
      span.style.top = `${row * height}px`;
      span.style.width = `${width}px`;
      span.style.height = `${height}px`;
      span.style.lineHeight = `${height}px`;
      span.style.fontSize = `${tile.term.options.fontSize ?? BASE_FONT_PX}px`;
      spans.push(span);
    }
    tile.predictions.replaceChildren(...spans);
  }

  /**
   * A snapshot (SPEC.md 11.6): the screen as it is now, at `cols` ×
   * `rows`, written to a terminal in its initial state. Output written
   * before it is parsed first, and is then reset away; output after it
   * waits until it is in.
   */
  replace(id: number, rows: number, cols: number, screen: Uint8Array): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const held: (() => void)[] = tile.held ?? [];
    tile.held = held;
    tile.term.write("", () => {
      tile.term.reset();
      tile.term.resize(clamp(cols, MAX_COLS, 80), clamp(rows, MAX_ROWS, 24));
      tile.term.write(screen, () => this.echoed(tile));
      tile.held = undefined;
      for (const next of held) next();
      this.scheduleFit();
    });
  }

  resize(id: number, rows: number, cols: number): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const apply = () => {
      tile.term.resize(clamp(cols, MAX_COLS, 80), clamp(rows, MAX_ROWS, 24));
      this.scheduleFit();
    };
    if (tile.held) tile.held.push(apply);
    else apply();
  }

  /** The tile title's contents. */
  setTitle(id: number, nodes: (Node | string)[]): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const shown = this.shown.includes(id);
    tile.title.replaceChildren(
      ...nodes,
      button("Peek", () => this.peek(id), "act"),
      button(shown ? "Hide" : "Show", () => (shown ? this.hide(id) : this.show(id)), "act"),
    );
  }

  /** Give `id` the keyboard, showing it if it is not on screen. */
  focus(id: number): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (!this.shown.includes(id)) this.show(id, false);
    const changed = this.focusedId !== id;
    this.focusedId = id;
    for (const t of this.tiles.values()) t.root.classList.toggle("focused", t.id === id);
    if (this.narrow) this.place();
    if (this.peeking === undefined) tile.term.focus();
    if (changed) {
      this.events.focused(id);
      if (this.narrow) this.events.arranged();
    }
  }

  /** Put `id` on screen as a tile (the first shown tiles replace none; past `MAX_TILES` the oldest goes). */
  show(id: number, announce = true): void {
    if (!this.tiles.has(id) || this.shown.includes(id)) return;
    this.shown.push(id);
    while (this.shown.length > MAX_TILES) this.shown.shift();
    this.place();
    if (announce) this.events.arranged();
  }

  hide(id: number): void {
    if (!this.shown.includes(id)) return;
    this.shown = this.shown.filter((t) => t !== id);
    this.tiles.get(id)?.root.remove();
    if (this.focusedId === id) {
      this.focusedId = undefined;
      const next = this.shown[0];
      if (next !== undefined) this.focus(next);
    }
    this.place();
    this.events.arranged();
  }

  /** Side by side, or stacked. */
  toggleSplit(): "columns" | "rows" {
    this.root.classList.remove(this.split);
    this.split = this.split === "columns" ? "rows" : "columns";
    this.root.classList.add(this.split);
    this.scheduleFit();
    this.events.arranged();
    return this.split;
  }

  /** Zoom in (`dir` 1), out (-1), or back to fitting (0). */
  zoomBy(dir: -1 | 0 | 1): number {
    this.zoom = dir === 0 ? 1 : Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, this.zoom * ZOOM_STEP ** dir));
    this.fit();
    return this.zoom;
  }

  /** A large read-only view of `id`, anyone's terminal. */
  peek(id: number): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (this.peeking !== undefined) this.closePeek();
    this.peeking = id;
    const title = this.peekRoot.querySelector(".peek-title");
    if (title) title.textContent = `Peek at terminal ${id} (read-only)`;
    this.peekRoot.querySelector(".peek-body")?.append(tile.host);
    this.peekRoot.hidden = false;
    tile.term.options.disableStdin = true;
    this.open(tile);
    this.fit();
    (this.peekRoot.querySelector(".peek-close") as HTMLElement | null)?.focus();
  }

  closePeek(): void {
    const id = this.peeking;
    if (id === undefined) return;
    this.peeking = undefined;
    this.peekRoot.hidden = true;
    const tile = this.tiles.get(id);
    if (tile) {
      tile.body.append(tile.host);
      tile.term.options.disableStdin = false;
    }
    this.fit();
  }

  /** The layout others see (SPEC.md 7.2): the tiles on screen in grid units. */
  layout(): LayoutTile[] {
    const on = this.visible();
    return on.map((terminalId, i) => (this.split === "columns" ? { terminalId, x: i, y: 0, w: 1, h: 1 } : { terminalId, x: 0, y: i, w: 1, h: 1 }));
  }

  /** The size a new terminal gets: what a new tile would have, in cells of the base font. */
  newSize(): { cols: number; rows: number } {
    const n = this.narrow ? 1 : this.visible().length + 1;
    const width = this.root.clientWidth / (this.split === "columns" && !this.narrow ? n : 1);
    // A title line above each tile.
    const height = this.root.clientHeight / (this.split === "rows" && !this.narrow ? n : 1) - 24;
    return cellsIn(width - 8, height - 8);
  }

  private visible(): number[] {
    if (!this.narrow) return [...this.shown];
    return this.focusedId !== undefined && this.shown.includes(this.focusedId) ? [this.focusedId] : this.shown.slice(0, 1);
  }

  /** Attach the tiles on screen in order and fit them. */
  private place(): void {
    const on = this.visible();
    for (const tile of this.tiles.values()) {
      if (!on.includes(tile.id)) tile.root.remove();
    }
    // Moved only when out of place: moving an element blurs what is in it.
    on.forEach((id, i) => {
      const tile = this.tiles.get(id);
      if (tile && this.root.children[i] !== tile.root) this.root.insertBefore(tile.root, this.root.children[i] ?? null);
    });
    for (const id of on) {
      const tile = this.tiles.get(id);
      if (tile) this.open(tile);
    }
    this.root.classList.toggle("empty", on.length === 0);
    this.fit();
  }

  /** xterm.js measures its font when it opens: open a terminal only once it is on screen. */
  private open(tile: Tile): void {
    if (tile.opened || !tile.host.isConnected) return;
    tile.term.open(tile.host);
    tile.term.textarea?.addEventListener("paste", () => this.events.key());
    tile.term.textarea?.addEventListener("focus", () => {
      if (this.focusedId !== tile.id) this.focus(tile.id);
    });
    tile.opened = true;
  }

  private scheduleFit(): void {
    if (this.fitting) return;
    this.fitting = true;
    requestAnimationFrame(() => {
      this.fitting = false;
      this.fit();
    });
  }

  /** Every terminal on screen (and the peek) drawn as large as its space allows, times the zoom. */
  fit(): void {
    for (const tile of this.tiles.values()) {
      if (!tile.opened || !tile.host.isConnected) continue;
      const peek = this.peeking === tile.id;
      const space = peek ? (this.peekRoot.querySelector(".peek-body") as HTMLElement) : tile.body;
      const width = space.clientWidth;
      const height = space.clientHeight;
      if (width <= 0 || height <= 0) continue;
      const size = fitFont(tile.term.cols, tile.term.rows, width, height, peek ? 1 : this.zoom, peek ? PEEK_MAX_FONT_PX : MAX_FONT_PX);
      if (tile.term.options.fontSize !== size) tile.term.options.fontSize = size;
    }
  }
}

/** A layout drawn small (SPEC.md 1.1: others' layouts as compact thumbnails). */
export function thumbnail(tiles: readonly LayoutTile[], focus?: number): HTMLCanvasElement {
  const canvas = el("canvas", "thumb");
  canvas.width = 64;
  canvas.height = 36;
  const sane = tiles.filter((t) => t.w >= 1 && t.h >= 1 && t.x < 64 && t.y < 64 && t.w <= 64 && t.h <= 64);
  canvas.setAttribute("aria-label", sane.length ? `layout: terminals ${sane.map((t) => t.terminalId).join(", ")}` : "layout: nothing on screen");
  canvas.dataset.terminals = sane.map((t) => t.terminalId).join(",");
  const g = canvas.getContext("2d");
  if (!g) return canvas;
  const cols = Math.max(1, ...sane.map((t) => t.x + t.w));
  const rows = Math.max(1, ...sane.map((t) => t.y + t.h));
  const cw = canvas.width / cols;
  const ch = canvas.height / rows;
  g.font = "10px sans-serif";
  g.textAlign = "center";
  g.textBaseline = "middle";
  for (const t of sane) {
    g.fillStyle = t.terminalId === focus ? "#3d5a80" : "#26303d";
    g.fillRect(t.x * cw + 1, t.y * ch + 1, t.w * cw - 2, t.h * ch - 2);
    g.fillStyle = "#d8dee9";
    g.fillText(String(t.terminalId), (t.x + t.w / 2) * cw, (t.y + t.h / 2) * ch);
  }
  return canvas;
}

/**
 * The terminal emulator would answer queries in the output (device
 * attributes, cursor position, modes, version, colours) by typing the
 * answer. The host's own terminal answers those; a browser that echoed
 * them would type into someone else's shell. Swallow them.
 */
function quietReplies(term: Terminal): void {
  const swallow = () => true;
  const parser = term.parser;
  parser.registerCsiHandler({ final: "c" }, swallow); // primary device attributes
  parser.registerCsiHandler({ prefix: ">", final: "c" }, swallow); // secondary device attributes
  parser.registerCsiHandler({ prefix: "=", final: "c" }, swallow); // tertiary device attributes
  parser.registerCsiHandler({ final: "n" }, swallow); // status and cursor position reports
  parser.registerCsiHandler({ prefix: "?", final: "n" }, swallow);
  parser.registerCsiHandler({ intermediates: "$", final: "p" }, swallow); // mode requests
  parser.registerCsiHandler({ prefix: "?", intermediates: "$", final: "p" }, swallow);
  parser.registerCsiHandler({ prefix: ">", final: "q" }, swallow); // version
  parser.registerDcsHandler({ intermediates: "$", final: "q" }, swallow); // setting requests
  for (const osc of [4, 10, 11, 12]) parser.registerOscHandler(osc, (data) => data.includes("?")); // colour queries
}
