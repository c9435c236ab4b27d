// Fitting a terminal drawn at the host's size into the space a tile has:
// the font size follows from the terminal's columns and rows, never the
// other way round (the size belongs to the terminal's owner).

/** The font every terminal is drawn in. */
export const FONT_FAMILY = '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace';
/** Font size of a terminal opened with **New**, and the most a fitted one gets. */
export const BASE_FONT_PX = 14;
/** Smallest and largest font a fitted (and zoomed) terminal gets. */
export const MIN_FONT_PX = 4;
export const MAX_FONT_PX = 32;
/** Room kept free so rounding in the renderer never makes a scroll bar. */
const SLACK = 0.97;

/** A character cell of `FONT_FAMILY` per pixel of font size. */
export interface Cell {
  width: number;
  height: number;
}

let measured: Cell | undefined;

/**
 * The cell of `FONT_FAMILY`, measured once the way xterm.js measures it (a
 * run of "W" in a span), per pixel of font size.
 */
export function cell(): Cell {
  if (measured && measured.width > 0) return measured;
  const span = document.createElement("span");
  span.textContent = "W".repeat(32);
  span.className = "measure";
  span.style.fontFamily = FONT_FAMILY;
  span.style.fontSize = "100px";
  document.body.append(span);
  const rect = span.getBoundingClientRect();
  span.remove();
  measured = { width: rect.width / 32 / 100, height: Math.ceil(rect.height) / 100 };
  // No layout yet (a hidden page): typical monospace proportions.
  if (!(measured.width > 0)) return { width: 0.6, height: 1.2 };
  return measured;
}

/** The largest font size at which `cols` × `rows` cells fit `width` × `height` pixels, times `zoom`. */
export function fitFont(cols: number, rows: number, width: number, height: number, zoom = 1, max = MAX_FONT_PX): number {
  const c = cell();
  const fit = Math.min((width * SLACK) / (cols * c.width), (height * SLACK) / (rows * c.height));
  const size = Math.floor(fit * zoom * 4) / 4;
  return Math.max(MIN_FONT_PX, Math.min(max, Number.isFinite(size) ? size : BASE_FONT_PX));
}

/** How many columns and rows of `BASE_FONT_PX` cells fit `width` × `height` pixels (a new terminal's size). */
export function cellsIn(width: number, height: number): { cols: number; rows: number } {
  const c = cell();
  const cols = Math.floor((width * SLACK) / (c.width * BASE_FONT_PX));
  const rows = Math.floor((height * SLACK) / (c.height * BASE_FONT_PX));
  return { cols: Math.max(20, Math.min(500, cols)), rows: Math.max(5, Math.min(200, rows)) };
}
