// Sealed streams (SPEC.md 4.5 and 4.6): one sender's frames of one
// terminal in one direction under one epoch, sealed with ChaCha20-Poly1305
// under the run's stream key, nonce `0^32 || seq`, the frame header as
// associated data.

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import {
  DEFAULT_MAX_FRAME_LEN,
  type Direction,
  encodeSealedHeader,
  ROUTING_LEN,
  type SealedFrame,
  type SealedHeader,
  TAG_LEN,
} from "./frame.js";
import type { KeySchedule } from "./schedule.js";

/** Epoch length in bytes. */
export const EPOCH_LEN = 16;
/** The last sequence number a data frame may use (2^64 - 2). */
export const MAX_DATA_SEQ = 2n ** 64n - 2n;

/** Why a sealed frame was refused; the opener's state is unchanged. */
export type OpenErrorKind =
  | "WrongTerminal"
  | "WrongDirection"
  | "WrongParticipant"
  | "WrongEpoch"
  | "AfterEnd"
  | "ReservedSeq"
  | "Replayed"
  | "Reordered"
  | "Gap"
  | "NotAtStart"
  | "Forged"
  | "NoKey";

/** A sealed frame that did not open. */
export class OpenError extends Error {
  constructor(readonly kind: OpenErrorKind) {
    super(kind);
    this.name = "OpenError";
  }
}

function nonce(seq: bigint): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, seq);
  return n;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** Seals one run. */
export class StreamSealer {
  private seq = 0n;
  private finished = false;

  constructor(
    private readonly key: Uint8Array,
    private readonly terminal: number,
    private readonly direction: Direction,
    private readonly participant: number,
    readonly epoch: Uint8Array,
    private readonly maxFrameLen = DEFAULT_MAX_FRAME_LEN,
  ) {}

  /** A sealer for a run of `keys`, or `undefined` if the role lacks the root. */
  static create(
    keys: KeySchedule,
    terminal: number,
    direction: Direction,
    participant: number,
    epoch: Uint8Array,
  ): StreamSealer | undefined {
    const key = keys.streamKey(terminal, direction, epoch);
    return key && new StreamSealer(key, terminal, direction, participant, epoch);
  }

  /** The largest plaintext one frame may carry. */
  get maxPlaintextLen(): number {
    return this.maxFrameLen - ROUTING_LEN - TAG_LEN;
  }

  /** Seal one data frame. */
  seal(plaintext: Uint8Array): Uint8Array {
    if (this.finished || this.seq > MAX_DATA_SEQ) throw new RangeError("stream run is over");
    if (plaintext.length > this.maxPlaintextLen) throw new RangeError("plaintext too long");
    return this.sealFrame(plaintext, false);
  }

  /** End the run with a FIN frame. */
  finish(): Uint8Array {
    if (this.finished) throw new RangeError("stream run is over");
    this.finished = true;
    return this.sealFrame(new Uint8Array(), true);
  }

  private sealFrame(plaintext: Uint8Array, fin: boolean): Uint8Array {
    const header: SealedHeader = {
      terminal: this.terminal,
      direction: this.direction,
      fin,
      participant: this.participant,
      epoch: this.epoch,
      seq: this.seq,
    };
    const aad = encodeSealedHeader(header, plaintext.length);
    const sealed = chacha20poly1305(this.key, nonce(this.seq), aad).encrypt(plaintext);
    this.seq += 1n;
    const out = new Uint8Array(aad.length + sealed.length);
    out.set(aad);
    out.set(sealed, aad.length);
    return out;
  }

  /** Overwrite the key. */
  wipe(): void {
    this.key.fill(0);
  }
}

/** Where an opener begins (SPEC.md 4.6). */
export type Start = "fromStart" | "anywhere";

/** The result of opening a frame. */
export type Opened = { kind: "data"; bytes: Uint8Array } | { kind: "end" };

/**
 * Opens one run. The first accepted frame fixes the epoch (and, when
 * starting anywhere, the sequence number); from there the run is strictly
 * sequential.
 */
export class StreamOpener {
  private runEpoch?: Uint8Array;
  private key?: Uint8Array;
  private next = 0n;
  private finished = false;

  constructor(
    private readonly keys: KeySchedule,
    private readonly terminal: number,
    private readonly direction: Direction,
    private readonly start: Start,
    private readonly participant?: number,
  ) {}

  /** The run's epoch, once a frame was accepted. */
  get epoch(): Uint8Array | undefined {
    return this.runEpoch;
  }

  /** The sequence number the next frame must have, once a frame was accepted. */
  get nextSeq(): bigint | undefined {
    return this.runEpoch === undefined ? undefined : this.next;
  }

  /** Whether the run ended with FIN. */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Overwrite the run's key. */
  wipe(): void {
    this.key?.fill(0);
  }

  /** Open one frame; throws `OpenError` and leaves the state unchanged on refusal. */
  open(frame: SealedFrame): Opened {
    const h = frame.header;
    if (h.terminal !== this.terminal) throw new OpenError("WrongTerminal");
    if (h.direction !== this.direction) throw new OpenError("WrongDirection");
    if (this.participant !== undefined && h.participant !== this.participant) {
      throw new OpenError("WrongParticipant");
    }
    if (this.runEpoch !== undefined && !equal(this.runEpoch, h.epoch)) throw new OpenError("WrongEpoch");
    if (this.finished) throw new OpenError("AfterEnd");
    if (!h.fin && h.seq > MAX_DATA_SEQ) throw new OpenError("ReservedSeq");
    let key = this.key;
    if (this.runEpoch === undefined || key === undefined) {
      if (this.start === "fromStart" && h.seq !== 0n) throw new OpenError("NotAtStart");
      key = this.keys.streamKey(h.terminal, h.direction, h.epoch);
      if (!key) throw new OpenError("NoKey");
    } else {
      if (h.seq + 1n === this.next) throw new OpenError("Replayed");
      if (h.seq < this.next) throw new OpenError("Reordered");
      if (h.seq > this.next) throw new OpenError("Gap");
    }
    let plaintext: Uint8Array;
    try {
      plaintext = chacha20poly1305(key, nonce(h.seq), frame.aad).decrypt(frame.ciphertext);
    } catch {
      throw new OpenError("Forged");
    }
    if (this.runEpoch === undefined) {
      this.runEpoch = h.epoch.slice();
      this.key = key;
    }
    this.next = h.seq + 1n;
    if (h.fin) {
      this.finished = true;
      return { kind: "end" };
    }
    return { kind: "data", bytes: plaintext };
  }
}
