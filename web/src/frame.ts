// Frames (SPEC.md section 3): the prefix, the length varint, control and
// sealed bodies. One WebSocket message carries exactly one frame, so this
// module parses whole messages; every malformed input is a typed
// `FrameError`, never an exception of another kind.

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Control, ControlSchema } from "./gen/taiku_pb.js";

/** Byte 0 of every frame. */
export const PROTOCOL_VERSION = 0x01;
/** Frame type of a control frame. */
export const FRAME_CONTROL = 0x01;
/** Frame type of a sealed frame. */
export const FRAME_SEALED = 0x02;
/** Largest frame body accepted by default (SPEC.md 7.1). */
export const DEFAULT_MAX_FRAME_LEN = 1_048_576;
/** Longest length varint. */
export const MAX_VARINT_LEN = 4;
/** Sealed routing fields. */
export const ROUTING_LEN = 34;
/** Poly1305 tag. */
export const TAG_LEN = 16;
/** Routing fields and tag: the shortest sealed body. */
export const MIN_SEALED_BODY_LEN = ROUTING_LEN + TAG_LEN;
/** Bit 0 of the flags byte: end of stream. */
export const FLAG_FIN = 0x01;

/** Sealed stream directions (SPEC.md 3.4). */
export enum Direction {
  Output = 1,
  Input = 2,
  Snapshot = 3,
  Status = 4,
  /** A native participant's sealed port forward, up to the host; the terminal field holds the stream id. */
  ForwardUp = 5,
  /** A sealed port forward down to one native participant. The browser opens none, and ignores any. */
  ForwardDown = 6,
}

/** The decoding errors of SPEC.md 3.5, plus an incomplete message. */
export type FrameErrorKind =
  | "UnknownVersion"
  | "UnknownFrameType"
  | "FrameTooLong"
  | "NonMinimalVarint"
  | "OverlongVarint"
  | "Incomplete"
  | "TruncatedHeader"
  | "TrailingBytes"
  | "UnknownDirection"
  | "ReservedFlags"
  | "Protobuf";

/** A frame that does not decode. `code` is the SPEC vector notation. */
export class FrameError extends Error {
  constructor(
    readonly kind: FrameErrorKind,
    readonly value?: number,
  ) {
    super(value === undefined ? kind : `${kind}(${value})`);
    this.name = "FrameError";
  }

  /** `Kind` or `Kind(value)`, as the vectors of SPEC.md 10.1 write it. */
  get code(): string {
    return this.message;
  }
}

/** The routing fields of a sealed frame. */
export interface SealedHeader {
  terminal: number;
  direction: Direction;
  fin: boolean;
  participant: number;
  epoch: Uint8Array;
  seq: bigint;
}

/** A sealed frame as received: routing fields, associated data, ciphertext with tag. */
export interface SealedFrame {
  header: SealedHeader;
  /** The frame header exactly as on the wire (prefix and routing fields). */
  aad: Uint8Array;
  /** Ciphertext followed by the 16-byte tag. */
  ciphertext: Uint8Array;
}

/** A decoded frame. */
export type Frame =
  | { type: "control"; control: Control }
  | { type: "sealed"; sealed: SealedFrame };

/** Decode exactly one frame from one message. */
export function decodeFrame(bytes: Uint8Array, maxLen = DEFAULT_MAX_FRAME_LEN): Frame {
  const { type, bodyStart, bodyLen } = decodePrefix(bytes, maxLen);
  const end = bodyStart + bodyLen;
  if (type === FRAME_SEALED && bodyLen < MIN_SEALED_BODY_LEN) {
    throw new FrameError("TruncatedHeader");
  }
  if (bytes.length < end) throw new FrameError("Incomplete");
  if (bytes.length > end) throw new FrameError("TrailingBytes", bytes.length - end);
  const body = bytes.subarray(bodyStart, end);
  if (type === FRAME_CONTROL) {
    try {
      return { type: "control", control: fromBinary(ControlSchema, body) };
    } catch {
      throw new FrameError("Protobuf");
    }
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const direction = body[4] ?? 0;
  if (direction < Direction.Output || direction > Direction.ForwardDown) {
    throw new FrameError("UnknownDirection", direction);
  }
  const flags = body[5] ?? 0;
  if ((flags & ~FLAG_FIN) !== 0) throw new FrameError("ReservedFlags", flags & ~FLAG_FIN);
  const fin = (flags & FLAG_FIN) !== 0;
  if (fin && bodyLen > MIN_SEALED_BODY_LEN) {
    throw new FrameError("TrailingBytes", bodyLen - MIN_SEALED_BODY_LEN);
  }
  const header: SealedHeader = {
    terminal: view.getUint32(0),
    direction,
    fin,
    participant: view.getUint32(6),
    epoch: body.slice(10, 26),
    seq: view.getBigUint64(26),
  };
  return {
    type: "sealed",
    sealed: {
      header,
      aad: bytes.subarray(0, bodyStart + ROUTING_LEN),
      ciphertext: body.subarray(ROUTING_LEN),
    },
  };
}

function decodePrefix(bytes: Uint8Array, maxLen: number) {
  if (bytes.length < 1) throw new FrameError("Incomplete");
  if (bytes[0] !== PROTOCOL_VERSION) throw new FrameError("UnknownVersion", bytes[0]);
  if (bytes.length < 2) throw new FrameError("Incomplete");
  const type = bytes[1] ?? 0;
  if (type !== FRAME_CONTROL && type !== FRAME_SEALED) {
    throw new FrameError("UnknownFrameType", type);
  }
  let len = 0;
  for (let i = 0; ; i++) {
    const b = bytes[2 + i];
    if (b === undefined) throw new FrameError("Incomplete");
    if (i > 0 && b === 0) throw new FrameError("NonMinimalVarint");
    len += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (len > maxLen) throw new FrameError("FrameTooLong");
      return { type, bodyStart: 3 + i, bodyLen: len };
    }
    if (i + 1 === MAX_VARINT_LEN) throw new FrameError("OverlongVarint");
  }
}

/** The frame prefix for a body of `len` bytes. */
export function encodePrefix(type: number, len: number): Uint8Array {
  const out = [PROTOCOL_VERSION, type];
  let rest = len;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}

/** Encode a control frame. */
export function encodeControl(control: Control): Uint8Array {
  const body = toBinary(ControlSchema, control);
  const prefix = encodePrefix(FRAME_CONTROL, body.length);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

/** The header (associated data) of a sealed frame whose plaintext is `plaintextLen` bytes. */
export function encodeSealedHeader(h: SealedHeader, plaintextLen: number): Uint8Array {
  const prefix = encodePrefix(FRAME_SEALED, ROUTING_LEN + plaintextLen + TAG_LEN);
  const out = new Uint8Array(prefix.length + ROUTING_LEN);
  out.set(prefix);
  const view = new DataView(out.buffer, prefix.length, ROUTING_LEN);
  view.setUint32(0, h.terminal);
  view.setUint8(4, h.direction);
  view.setUint8(5, h.fin ? FLAG_FIN : 0);
  view.setUint32(6, h.participant);
  out.set(h.epoch, prefix.length + 10);
  view.setBigUint64(26, h.seq);
  return out;
}
