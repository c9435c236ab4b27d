// Predictive echo (SPEC.md 11.8), the same rules as the Rust client's
// `taiku_session::predict`: printable keys typed at a shell prompt are
// shown at once, underlined, until the host's output confirms them; a
// guess the output contradicts, or that no output confirms in time, is
// taken back. No DOM here: the workspace draws `shown()` in a layer over
// the terminal, never in it.

/** The round trip at and above which predictions are shown in "auto". */
export const PREDICT_RTT_MS = 30;
/** How long a prediction waits for the host to confirm it. */
export const PREDICTION_TIMEOUT_MS = 2000;
/** Predictions pending at once. */
export const MAX_PREDICTIONS = 256;

/** When predictions are shown. */
export type PredictMode = "auto" | "always" | "never";

/** What the predictor needs of a terminal's screen. */
export interface PredictScreen {
  /** Cursor row and column, from 0. */
  cursor(): [number, number];
  cols(): number;
  /** Whether a printable character written now lands on the cursor and moves it one column right. */
  predictable(): boolean;
  /** The character of a visible cell ("" for the right half of a wide one, " " for a blank). */
  charAt(row: number, col: number): string | undefined;
}

/** One predicted character. */
export interface Prediction {
  row: number;
  col: number;
  ch: string;
  typed: number;
}

const after = (r: number, c: number, p: Prediction) => r > p.row || (r === p.row && c > p.col);

export class Predictor {
  private pending: Prediction[] = [];
  private confirmed = false;
  private stalled = false;
  private srttMs?: number;
  hits = 0;
  misses = 0;

  constructor(private modeValue: PredictMode = "auto") {}

  get mode(): PredictMode {
    return this.modeValue;
  }

  set mode(mode: PredictMode) {
    this.modeValue = mode;
    if (mode === "never") this.pending = [];
  }

  /** The round trip estimated from confirmations, in milliseconds. */
  get rtt(): number | undefined {
    return this.srttMs;
  }

  /** The user typed `bytes` (sent to the host) at time `now` (ms). */
  typed(bytes: Uint8Array, screen: PredictScreen, now: number): void {
    if (this.modeValue === "never") return;
    for (const b of bytes) {
      if (b >= 0x20 && b <= 0x7e) {
        if (this.stalled || this.pending.length >= MAX_PREDICTIONS) continue;
        const last = this.pending[this.pending.length - 1];
        let at: [number, number];
        if (last) at = [last.row, last.col + 1];
        else if (screen.predictable()) at = screen.cursor();
        else {
          this.stalled = true;
          continue;
        }
        // Never into the last column: a wrap is not guessed.
        if (at[1] + 1 >= screen.cols()) {
          this.stalled = true;
          continue;
        }
        this.pending.push({ row: at[0], col: at[1], ch: String.fromCharCode(b), typed: now });
      } else if ((b === 0x7f || b === 0x08) && this.pending.length > 0) {
        // Backspace over a key not echoed yet takes it back.
        this.pending.pop();
      } else {
        // Enter, an arrow, a control key: what follows is shown only once
        // it is confirmed again.
        this.confirmed = false;
        this.stalled = true;
      }
    }
  }

  /** The host's output changed `screen`: confirm or take back predictions. */
  output(screen: PredictScreen, now: number): void {
    this.stalled = false;
    const [row, col] = screen.cursor();
    for (;;) {
      const p = this.pending[0];
      if (!p) break;
      if (screen.charAt(p.row, p.col) === p.ch && after(row, col, p)) {
        this.pending.shift();
        this.hits++;
        this.confirmed = true;
        const sample = Math.max(0, now - p.typed);
        this.srttMs = this.srttMs === undefined ? sample : (this.srttMs * 7 + sample) / 8;
      } else if (after(row, col, p) || row !== p.row || !screen.predictable()) {
        // The output went elsewhere: every guess is wrong.
        this.takeBack();
        break;
      } else {
        break;
      }
    }
  }

  private takeBack(): void {
    this.misses += this.pending.length;
    this.pending = [];
    this.confirmed = false;
  }

  /** The predictions to draw now, oldest first. */
  shown(): readonly Prediction[] {
    const on =
      this.modeValue === "always" || (this.modeValue === "auto" && this.srttMs !== undefined && this.srttMs >= PREDICT_RTT_MS);
    return on && this.confirmed ? this.pending : [];
  }

  /** When `handleTimeout` should be called (ms), if at all. */
  pollTimeout(): number | undefined {
    const p = this.pending[0];
    return p ? p.typed + PREDICTION_TIMEOUT_MS : undefined;
  }

  /** Take back predictions the host did not confirm in time. */
  handleTimeout(now: number): void {
    const p = this.pending[0];
    if (p && p.typed + PREDICTION_TIMEOUT_MS <= now) this.takeBack();
  }
}
