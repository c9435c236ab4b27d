// The participant machine (SPEC.md 11.2), Sans-IO like its Rust twin: the
// driver reports connection events, relay messages and the time, and
// drains frames (`pollTransmit`), the next timer (`pollTimeout`) and events
// (`pollEvent`). No DOM, no socket, no clock: the browser page and the
// Node tests drive the same code.

import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type Action, check, mayControl } from "./access.js";
import {
  type Control as ControlMessage,
  ControlSchema,
  ControlReason,
  EndReason,
  type ErrorCode,
  Presence_State,
  RefusalReason,
  type ReplayRun,
  SealedRecordSchema,
} from "./gen/taiku_pb.js";
import { Direction, decodeFrame, encodeControl, FrameError, type SealedFrame } from "./frame.js";
import { Role } from "./link.js";
import { KeySchedule } from "./schedule.js";
import { EPOCH_LEN, OpenError, StreamOpener, StreamSealer } from "./stream.js";

import {
  type ActionError,
  type AgentStatusView,
  CHAT_KEPT,
  type ParticipantConfig,
  type ParticipantEvent,
  REFUSED_INPUT_ACTION,
  RUNS_REMEMBERED,
  SNAPSHOTS_REMEMBERED,
  type View,
  MAX_CHAT_BYTES,
  MAX_NAME_BYTES,
  MAX_NOTICE_BYTES,
  CLOSED_TERMINALS_REMEMBERED,
  MAX_CHAT_AGE_MS,
  MAX_LAYOUT_TILES,
  MAX_TUNNEL_PORTS,
  TUNNEL_CREDENTIAL_ACTION,
  type LayoutTile,
} from "./view.js";

export * from "./view.js";

/** Kind bytes of administrative actions (SPEC.md 4.7). */
const ADMIN_TAKE_OVER = 0x01;
const ADMIN_TUNNEL = 0x02;

/** Length of the host's input ticket (SPEC.md 11.1). */
export const TICKET_LEN = 16;

/** Keystrokes kept, over all terminals, while no input ticket has arrived (SPEC.md 11.2). */
export const PENDING_INPUT_BYTES = 64 * 1024;
/** Keystrokes held per terminal while this participant's request to control it waits (SPEC.md 11.2). */
export const HELD_INPUT_BYTES = 4 * 1024;

/** The first frame of every input run: ticket ‖ run index (u64 big-endian). */
export function runStart(ticket: Uint8Array, index: bigint): Uint8Array {
  const out = new Uint8Array(TICKET_LEN + 8);
  out.set(ticket, 0);
  new DataView(out.buffer).setBigUint64(TICKET_LEN, index);
  return out;
}

/** What the driver must send, or that it must close the connection. */
export type Transmit = { type: "send"; frame: Uint8Array } | { type: "close" };

/** Epochs of the last `RUNS_REMEMBERED` runs of one stream. */
class Runs {
  private epochs: Uint8Array[] = [];

  has(epoch: Uint8Array): boolean {
    return this.epochs.some((e) => sameBytes(e, epoch));
  }

  remember(epoch: Uint8Array | undefined): void {
    if (!epoch || this.has(epoch)) return;
    if (this.epochs.length === RUNS_REMEMBERED) this.epochs.shift();
    this.epochs.push(epoch.slice());
  }
}

interface OutputReader {
  opener?: StreamOpener;
  replay: ReplayRun[];
  /** The next planned run is the first of its ReplayStart, the only one that may begin anywhere. */
  replayFirst: boolean;
  leftInRun: number;
  expectNewRun: boolean;
  skipUntil?: { epoch: Uint8Array; seq: bigint };
  /** The position the latest snapshot names: reading may jump there over frames never received (SPEC.md 6.7). */
  resumeAt?: { epoch: Uint8Array; seq: bigint };
  shown?: { epoch: Uint8Array; seq: bigint };
  past: Runs;
}

interface StatusReader {
  opener?: StreamOpener;
  past: Runs;
  /** The status its last status record carried. */
  latest?: AgentStatusView;
}

function newReader(): OutputReader {
  return { replay: [], replayFirst: false, leftInRun: 0, expectNewRun: false, past: new Runs() };
}

type Body = MessageInitShape<typeof ControlSchema>["body"];

type Phase = "idle" | "joining" | "joined" | "ended";

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A role from the wire; unknown values count as the least privileged. */
function knownRole(role: number): Role {
  return role === Role.Writer || role === Role.Admin ? role : Role.Reader;
}

function emptyView(): View {
  return { hostOnline: false, peers: new Map(), terminals: new Map(), chat: [], tunnels: [] };
}

/** A port list as `TunnelPorts` must carry it: real ports, strictly ascending, at most `MAX_TUNNEL_PORTS`. */
function validPorts(ports: readonly number[]): boolean {
  return ports.length <= MAX_TUNNEL_PORTS && ports.every((p, i) => p >= 1 && p <= 65535 && (i === 0 || p > (ports[i - 1] ?? 0)));
}

function utf8Len(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Cut `s` to at most `max` UTF-8 bytes on a character boundary. */
export function cutLabel(s: string, max = MAX_NAME_BYTES): string {
  let out = "";
  for (const ch of s) {
    if (utf8Len(out + ch) > max) break;
    out += ch;
  }
  return out;
}

/** The participant state machine. */
export class Participant {
  private readonly keys: KeySchedule;
  private readonly config: ParticipantConfig;
  private phase: Phase = "idle";
  private state: View = emptyView();
  private outputs = new Map<number, OutputReader>();
  private status = new Map<number, StatusReader>();
  /** Terminals closed in this session, oldest first. */
  private closed: number[] = [];
  private inputs = new Map<number, StreamSealer>();
  /** The host's input ticket for this connection (SPEC.md 11.2). */
  private ticket?: Uint8Array;
  /** The index of the last input run started; never decreases. */
  private lastRun = 0n;
  /** The counter of the last administrative action signed; never decreases. */
  private adminCounter = 0n;
  /** Keystrokes typed before the ticket arrived. */
  private pendingInput = new Map<number, Uint8Array[]>();
  private pendingBytes = 0;
  /** Keystrokes typed into terminals whose control this participant asked for and does not have yet. */
  private held = new Map<number, Uint8Array[]>();
  private snapshotsSeen: Uint8Array[] = [];
  /** Terminals whose history this participant asked for, ReplayStart still to come. */
  private historyAsked = new Set<number>();
  private hostWasOffline = false;
  /** Tunnel credentials asked for on this connection and not answered yet. */
  private credentialsAsked = 0;
  private nextPing?: number;
  /** When something last arrived on the current connection. */
  private lastRx?: number;
  private pings = 0n;
  private out: Transmit[] = [];
  private events: ParticipantEvent[] = [];

  /**
   * A participant for `sessionId` holding `secret` of `role`. `random`
   * fills a buffer with cryptographically secure bytes (injected so tests
   * are reproducible).
   */
  constructor(
    role: Role,
    secret: Uint8Array,
    readonly sessionId: string,
    config: ParticipantConfig,
    private readonly random: (n: number) => Uint8Array,
  ) {
    this.keys = new KeySchedule(role, secret, sessionId);
    this.config = { ...config };
  }

  /** The link's role. */
  get role(): Role {
    return this.keys.role;
  }

  /** Everything known about the session. */
  get view(): Readonly<View> {
    return this.state;
  }

  /** Whether the session is over for this participant (do not reconnect). */
  get ended(): boolean {
    return this.phase === "ended";
  }

  /** A connection to the relay is up: ask to join. Any earlier view is discarded. */
  connect(now: number): void {
    if (this.phase === "ended") return;
    this.reset();
    this.phase = "joining";
    this.lastRx = now;
    this.send({
      case: "joinRequest",
      value: {
        sessionId: this.sessionId,
        profile: { name: cutLabel(this.config.name), deviceLabel: cutLabel(this.config.deviceLabel) },
      },
    });
  }

  /** The connection closed. */
  handleDisconnect(_now: number): void {
    if (this.phase !== "ended") this.phase = "idle";
    // A request to control dies with the connection.
    for (const term of [...this.held.keys()]) this.settleHeld(term, true);
    this.out = [];
    this.state.me = undefined;
    // A credential is bound to the connection's participant: one asked
    // for on it is no use after it.
    this.credentialsAsked = 0;
    this.nextPing = undefined;
    this.lastRx = undefined;
  }

  /** One message from the relay (one frame). A malformed frame is fatal to the connection. */
  handleMessage(bytes: Uint8Array, now: number): void {
    if (this.lastRx !== undefined) this.lastRx = now;
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(bytes, this.config.maxFrameLen);
    } catch (e) {
      const error = e instanceof FrameError ? e.code : "decode";
      this.events.push({ type: "protocolError", error });
      this.out = [{ type: "close" }];
      return;
    }
    if (frame.type === "sealed") this.sealed(frame.sealed);
    else this.control(frame.control, now);
  }

  /** When `handleTimeout` is due, if ever. */
  pollTimeout(): number | undefined {
    const silent = this.lastRx === undefined ? undefined : this.lastRx + this.config.livenessMs;
    const due = [this.nextPing, silent].filter((t): t is number => t !== undefined);
    return due.length ? Math.min(...due) : undefined;
  }

  /** Time passed. */
  handleTimeout(now: number): void {
    if (this.lastRx !== undefined && now >= this.lastRx + this.config.livenessMs) {
      // Nothing, not even a Pong: the connection is dead (SPEC.md 12.2).
      this.lastRx = undefined;
      this.nextPing = undefined;
      this.out = [{ type: "close" }];
      return;
    }
    if (this.nextPing !== undefined && now >= this.nextPing) {
      this.pings += 1n;
      this.send({ case: "ping", value: { nonce: this.pings } });
      this.nextPing = now + this.config.keepaliveMs;
    }
  }

  /** The next frame to send, or a close. */
  pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }

  /** The next event. */
  pollEvent(): ParticipantEvent | undefined {
    return this.events.shift();
  }

  /**
   * The secrets this participant may hand on, for invite links (SPEC.md
   * 4.2): the reader secret always, the writer secret if it holds one
   * (writer and admin links). Never the admin secret. Copies: the caller
   * wipes them.
   */
  inviteSecrets(): { role: Role; secret: Uint8Array }[] {
    const out = [{ role: Role.Reader, secret: this.keys.readerSecret.slice() }];
    if (this.keys.writerSecret) out.push({ role: Role.Writer, secret: this.keys.writerSecret.slice() });
    return out;
  }

  /** Overwrite every key this participant holds; call when it is dropped. */
  wipe(): void {
    this.keys.wipe();
    for (const s of this.inputs.values()) s.wipe();
    this.inputs.clear();
    for (const r of this.outputs.values()) r.opener?.wipe();
    this.outputs.clear();
    for (const r of this.status.values()) r.opener?.wipe();
    this.status.clear();
  }

  private reset(): void {
    this.state = emptyView();
    this.outputs.clear();
    // The status readers stay: a rejoin must not let a relay replay
    // statuses or notices already read (SPEC.md 11.4).
    for (const s of this.inputs.values()) s.wipe();
    this.inputs.clear();
    this.ticket = undefined;
    this.pendingInput.clear();
    this.pendingBytes = 0;
    this.out = [];
    this.historyAsked.clear();
    this.hostWasOffline = false;
    this.credentialsAsked = 0;
  }

  private send(body: Body): void {
    this.out.push({ type: "send", frame: encodeControl(create(ControlSchema, { body })) });
  }

  private control(message: ControlMessage, now: number): void {
    const { body } = message;
    switch (body.case) {
      case "challenge":
        if (this.phase === "joining" && body.value.nonce.length === 32) {
          this.send({ case: "joinProof", value: { role: this.keys.role as number, signature: this.keys.prove(body.value.nonce) } });
        }
        break;
      case "joinResult": {
        // Only the answer to this connection's own request counts.
        if (this.phase !== "joining") break;
        const outcome = body.value.outcome;
        if (outcome.case === "accepted") {
          const id = outcome.value.participantId;
          // The link's role, whatever the relay reports (SPEC.md 11.2).
          const role = this.keys.role;
          this.phase = "joined";
          this.nextPing = now + this.config.keepaliveMs;
          this.state.me = { id, role };
          this.state.hostOnline = outcome.value.hostOnline;
          this.state.peers.set(id, { name: this.config.name, deviceLabel: this.config.deviceLabel, role, layout: [] });
          this.events.push({ type: "joined", id, role });
        } else if (outcome.case === "refused") {
          this.phase = "idle";
          this.events.push({ type: "denied", reason: outcome.value in RefusalReason ? outcome.value : RefusalReason.UNSPECIFIED });
        }
        break;
      }
      case "presence": {
        const p = body.value;
        if (p.state === Presence_State.LEFT) {
          this.state.peers.delete(p.participantId);
        } else if (p.state in Presence_State) {
          const old = this.state.peers.get(p.participantId);
          this.state.peers.set(p.participantId, {
            name: p.profile?.name ?? "",
            deviceLabel: p.profile?.deviceLabel ?? "",
            role: knownRole(p.role),
            focus: old?.focus,
            layout: old?.layout ?? [],
          });
        } else {
          return;
        }
        this.events.push({ type: "presence", id: p.participantId });
        break;
      }
      case "hostStatus":
        this.state.hostOnline = body.value.online;
        if (body.value.online) {
          if (this.hostWasOffline) {
            // The host resumed with fresh epochs: new runs follow.
            for (const reader of this.outputs.values()) reader.expectNewRun = true;
            // Input in flight to the old connection is lost: keystrokes
            // continue in new runs.
            for (const s of this.inputs.values()) s.wipe();
            this.inputs.clear();
          }
          this.hostWasOffline = false;
          this.events.push({ type: "hostOnline" });
        } else {
          this.hostWasOffline = true;
          this.events.push({ type: "hostOffline", graceRemainingMs: body.value.graceRemainingMs });
        }
        break;
      case "sessionEnded":
        this.phase = "ended";
        this.out = [];
        this.nextPing = undefined;
        this.lastRx = undefined;
        this.events.push({ type: "ended", reason: body.value.reason in EndReason ? body.value.reason : EndReason.UNSPECIFIED });
        break;
      case "terminalOpened": {
        const o = body.value;
        // A closed terminal does not come back (SPEC.md 11.2).
        if (this.closed.includes(o.terminalId)) break;
        this.state.terminals.set(o.terminalId, {
          control: { owner: o.owner, controller: o.owner },
          rows: o.rows,
          cols: o.cols,
          label: cutLabel(o.label),
        });
        if (!this.outputs.has(o.terminalId)) this.outputs.set(o.terminalId, newReader());
        this.events.push({ type: "terminalOpened", term: o.terminalId });
        break;
      }
      case "terminalClosed": {
        const term = body.value.terminalId;
        this.state.terminals.delete(term);
        this.outputs.delete(term);
        this.status.get(term)?.opener?.wipe();
        this.status.delete(term);
        // A host never reuses a terminal id: remembered, so that a relay
        // cannot reopen it and replay its runs as new.
        if (!this.closed.includes(term)) {
          if (this.closed.length === CLOSED_TERMINALS_REMEMBERED) this.closed.shift();
          this.closed.push(term);
        }
        this.inputs.get(term)?.wipe();
        this.inputs.delete(term);
        this.events.push({ type: "terminalClosed", term });
        this.settleHeld(term, true);
        break;
      }
      case "terminalResize": {
        const t = this.state.terminals.get(body.value.terminalId);
        if (t) {
          t.rows = body.value.rows;
          t.cols = body.value.cols;
          this.events.push({ type: "terminalResized", term: body.value.terminalId });
        }
        break;
      }
      case "terminalLabel": {
        const t = this.state.terminals.get(body.value.terminalId);
        if (t) {
          t.label = cutLabel(body.value.label);
          this.events.push({ type: "terminalLabeled", term: body.value.terminalId });
        }
        break;
      }
      case "controlChanged": {
        const c = body.value;
        const t = this.state.terminals.get(c.terminalId);
        if (t) t.control = { owner: c.owner, controller: c.controller };
        this.events.push({ type: "controlChanged", term: c.terminalId, reason: c.reason, requester: c.requester });
        const answered =
          c.requester === this.state.me?.id &&
          (c.reason === ControlReason.ADOPTION_DENIED || c.reason === ControlReason.ADOPTION_EXPIRED);
        this.settleHeld(c.terminalId, answered);
        break;
      }
      case "adoptionRequest":
        this.events.push({ type: "adoptionRequested", term: body.value.terminalId, requester: body.value.requester });
        break;
      case "focusLock": {
        const t = this.state.terminals.get(body.value.terminalId);
        if (t) {
          t.lock = body.value.holder === 0 ? undefined : body.value.holder;
          this.events.push({ type: "focusLock", term: body.value.terminalId });
        }
        break;
      }
      case "focus": {
        const peer = this.state.peers.get(body.value.participantId);
        if (peer) peer.focus = body.value.terminalId === 0 ? undefined : body.value.terminalId;
        if (peer) this.events.push({ type: "presence", id: body.value.participantId });
        break;
      }
      case "layout": {
        const peer = this.state.peers.get(body.value.participantId);
        if (peer) peer.layout = body.value.tiles;
        if (peer) this.events.push({ type: "presence", id: body.value.participantId });
        break;
      }
      case "chat": {
        // Clamped: an age is display data, and a relay could send any.
        const ageMs = Math.min(Number(body.value.ageMs), MAX_CHAT_AGE_MS);
        const line = { from: body.value.from, seq: body.value.seq, text: body.value.text, ageMs };
        if (this.state.chat.length === CHAT_KEPT) this.state.chat.shift();
        this.state.chat.push(line);
        this.events.push({ type: "chat", line });
        break;
      }
      case "replayStart": {
        const r = body.value;
        const asked = this.historyAsked.delete(r.terminalId);
        let reader = this.outputs.get(r.terminalId);
        if (!reader) {
          reader = newReader();
          this.outputs.set(r.terminalId, reader);
        }
        // A replay begins a terminal's reading (at join) or answers this
        // participant's own HistoryRequest; any other would let a relay
        // present old output as new (SPEC.md 6.5).
        if (!asked && (reader.opener !== undefined || reader.leftInRun !== 0)) break;
        reader.replay = r.runs.filter((run) => run.frameCount > 0);
        reader.replayFirst = true;
        reader.leftInRun = 0;
        reader.past.remember(reader.opener?.epoch);
        reader.opener = undefined;
        reader.skipUntil = undefined;
        reader.resumeAt = undefined;
        break;
      }
      case "tunnelPorts": {
        // Lists that break the rules are ignored, as the Rust participant
        // does. The page can open the ports the relay serves as HTTP
        // tunnels only; the others are for sealed forwards (`join
        // --forward`, SPEC.md 6.8).
        const all = body.value.ports;
        const ports = body.value.http;
        if (!validPorts(all) || !validPorts(ports) || !ports.every((p) => all.includes(p))) break;
        if (ports.length === this.state.tunnels.length && ports.every((p, i) => p === this.state.tunnels[i])) break;
        this.state.tunnels = [...ports];
        this.events.push({ type: "tunnelsChanged", ports: [...ports] });
        break;
      }
      case "tunnelCredential":
        // Only an answer to this connection's own request: a relay cannot
        // sign the page in to tunnels it never asked for.
        if (this.phase !== "joined" || this.credentialsAsked === 0) break;
        this.credentialsAsked -= 1;
        this.events.push({
          type: "tunnelCredential",
          token: body.value.token,
          expiresInMs: Math.min(Number(body.value.expiresInMs), Number.MAX_SAFE_INTEGER),
        });
        break;
      case "refused":
        if (body.value.action === TUNNEL_CREDENTIAL_ACTION && this.credentialsAsked > 0) this.credentialsAsked -= 1;
        if (body.value.action === REFUSED_INPUT_ACTION) {
          // The refused frame's number is missing from the run: the next
          // keystroke starts a new one (SPEC.md 11.2).
          this.inputs.get(body.value.terminalId)?.wipe();
          this.inputs.delete(body.value.terminalId);
        }
        this.events.push({ type: "actionRefused", action: body.value.action, term: body.value.terminalId, reason: body.value.reason });
        break;
      case "inputTicket":
        this.inputTicket(body.value.participantId, body.value.ticket);
        break;
      case "ping":
        this.send({ case: "pong", value: { nonce: body.value.nonce } });
        break;
      case "error":
        this.events.push({ type: "protocolError", error: `relay error ${body.value.code as ErrorCode}` });
        this.out = [{ type: "close" }];
        break;
      default:
        // Unknown or not for participants: ignored (SPEC.md 3.3).
        break;
    }
  }

  private sealed(frame: SealedFrame): void {
    const h = frame.header;
    try {
      if (h.direction === Direction.Output) this.output(frame);
      else if (h.direction === Direction.Status) this.agentStatus(frame);
      else if (h.direction === Direction.Snapshot) this.snapshot(frame);
      // Input never travels towards participants.
    } catch (e) {
      if (!(e instanceof OpenError)) throw e;
      this.events.push({ type: "streamError", term: h.terminal, direction: h.direction, error: e.kind });
    }
  }

  private output(frame: SealedFrame): void {
    const h = frame.header;
    const reader = this.outputs.get(h.terminal);
    if (!reader) return;
    // The frame a snapshot named, where reading is elsewhere: the relay
    // skipped this participant forward (6.7); the host's snapshot covers
    // everything in between.
    const at = reader.resumeAt;
    const jump =
      at !== undefined &&
      sameBytes(at.epoch, h.epoch) &&
      at.seq === h.seq &&
      !(reader.opener && sameBytes(reader.opener.epoch, h.epoch) && reader.opener.nextSeq === h.seq);
    let skipped: bigint | null | undefined;
    if (jump && reader.opener) {
      const next = reader.opener.nextSeq;
      skipped = sameBytes(reader.opener.epoch, h.epoch) && next !== undefined ? h.seq - next : null;
    }
    if (jump) {
      reader.replay = [];
      reader.leftInRun = 0;
    }
    // Does this frame start a run, and how may that run begin?
    let planned: number | undefined;
    let start: "fromStart" | "anywhere" | undefined;
    if (jump) {
      start = "anywhere";
    } else if (reader.leftInRun === 0) {
      const run = reader.replay[0];
      if (run) {
        if (!sameBytes(run.epoch, h.epoch) || run.firstSeq !== h.seq) {
          // Not the replay the relay announced: drop the plan.
          reader.replay = [];
          throw new OpenError("Gap");
        }
        planned = run.frameCount;
        // Only the oldest run may have lost its start to the ring.
        start = reader.replayFirst ? "anywhere" : "fromStart";
      } else if (!reader.opener) {
        start = "anywhere"; // live output of a terminal with nothing to replay
      } else if (!sameBytes(reader.opener.epoch, h.epoch) && (reader.expectNewRun || reader.opener.isFinished)) {
        // A new run where one is explained, and never one read before.
        if (reader.past.has(h.epoch)) throw new OpenError("Replayed");
        start = "fromStart";
      }
    }
    let opened: ReturnType<StreamOpener["open"]>;
    if (start) {
      const opener = new StreamOpener(this.keys, h.terminal, Direction.Output, start);
      opened = opener.open(frame);
      if (!sameBytes(reader.opener?.epoch, h.epoch)) reader.past.remember(reader.opener?.epoch);
      reader.opener = opener;
      reader.expectNewRun = false;
      if (planned !== undefined) {
        reader.replay.shift();
        reader.leftInRun = planned;
        reader.replayFirst = false;
      }
    } else if (reader.opener) {
      opened = reader.opener.open(frame);
    } else {
      return;
    }
    reader.leftInRun = Math.max(0, reader.leftInRun - 1);
    if (at && sameBytes(at.epoch, h.epoch) && h.seq >= at.seq) reader.resumeAt = undefined;
    if (skipped !== undefined) this.events.push({ type: "resynced", term: h.terminal, skipped });
    if (opened.kind !== "data") return;
    const inSnapshot = reader.skipUntil && sameBytes(reader.skipUntil.epoch, h.epoch) && h.seq < reader.skipUntil.seq;
    const seen = reader.shown && sameBytes(reader.shown.epoch, h.epoch) && h.seq <= reader.shown.seq;
    if (!seen) reader.shown = { epoch: h.epoch, seq: h.seq };
    if (!inSnapshot && !seen && opened.bytes.length > 0) {
      this.events.push({ type: "output", term: h.terminal, bytes: opened.bytes });
    }
  }

  private agentStatus(frame: SealedFrame): void {
    const h = frame.header;
    const term = this.state.terminals.get(h.terminal);
    if (!term) return;
    let reader = this.status.get(h.terminal);
    if (!reader) {
      reader = { past: new Runs() };
      this.status.set(h.terminal, reader);
    }
    let opened: ReturnType<StreamOpener["open"]>;
    // Whether this frame opened the run: its record is then the latest
    // state, never news (SPEC.md 11.4).
    let first = false;
    if (reader.opener && sameBytes(reader.opener.epoch, h.epoch) && reader.opener.nextSeq === h.seq + 1n) {
      // The frame read last, again: what a relay sends a participant that
      // rejoins (the reader outlives the connection).
      this.showStatus(h.terminal, reader.latest);
      return;
    } else if (reader.opener && sameBytes(reader.opener.epoch, h.epoch)) {
      opened = reader.opener.open(frame);
    } else {
      // The latest status wins: a new run may begin at any time and
      // anywhere, but never one read before; the current run changes only
      // when a frame of the new one authenticates.
      if (reader.past.has(h.epoch)) throw new OpenError("Replayed");
      const opener = new StreamOpener(this.keys, h.terminal, Direction.Status, "anywhere");
      opened = opener.open(frame);
      reader.past.remember(reader.opener?.epoch);
      reader.opener = opener;
      first = true;
    }
    if (opened.kind !== "data") return;
    let record: ReturnType<typeof fromBinary<typeof SealedRecordSchema>>;
    try {
      record = fromBinary(SealedRecordSchema, opened.bytes);
    } catch {
      return;
    }
    if (record.body.case === "notice") {
      // News only from a run being read live, and only if no output after
      // it has been shown: otherwise it is history (a relay replaying it).
      const n = record.body.value;
      const shown = this.outputs.get(h.terminal)?.shown;
      const fresh = shown === undefined || (sameBytes(n.outputEpoch, shown.epoch) && n.outputSeq > shown.seq);
      if (!first && fresh) this.events.push({ type: "notice", term: h.terminal, text: cutLabel(n.text, MAX_NOTICE_BYTES) });
      return;
    }
    if (record.body.case !== "agentStatus") return;
    const s = record.body.value;
    // An unspecified state means no agent runs.
    const status = s.state === 0 ? undefined : { agent: s.agent, state: s.state, detail: s.detail };
    reader.latest = status;
    this.showStatus(h.terminal, status);
  }

  private showStatus(term: number, status: AgentStatusView | undefined): void {
    const t = this.state.terminals.get(term);
    if (t && JSON.stringify(t.agent) !== JSON.stringify(status)) {
      t.agent = status;
      this.events.push({ type: "agentStatus", term, status });
    }
  }

  private snapshot(frame: SealedFrame): void {
    const h = frame.header;
    if (this.snapshotsSeen.some((e) => sameBytes(e, h.epoch))) throw new OpenError("Replayed");
    const opener = new StreamOpener(this.keys, h.terminal, Direction.Snapshot, "fromStart");
    const opened = opener.open(frame);
    if (opened.kind !== "data") return;
    if (this.snapshotsSeen.length === SNAPSHOTS_REMEMBERED) this.snapshotsSeen.shift();
    this.snapshotsSeen.push(h.epoch.slice());
    let record: ReturnType<typeof fromBinary<typeof SealedRecordSchema>>;
    try {
      record = fromBinary(SealedRecordSchema, opened.bytes);
    } catch {
      return;
    }
    if (record.body.case !== "snapshot" || record.body.value.outputEpoch.length !== EPOCH_LEN) return;
    const snap = record.body.value;
    const reader = this.outputs.get(h.terminal);
    if (reader) {
      const at = { epoch: snap.outputEpoch, seq: snap.outputSeq };
      reader.skipUntil = at;
      // Reading may jump there, never back within the run being read nor
      // to a run read before.
      const current = reader.opener && sameBytes(reader.opener.epoch, at.epoch) ? reader.opener : undefined;
      const behind = current?.nextSeq !== undefined && current.nextSeq >= at.seq;
      const old = current === undefined && reader.past.has(at.epoch);
      reader.resumeAt = behind || old ? undefined : at;
    }
    this.events.push({ type: "snapshot", term: h.terminal, rows: snap.rows, cols: snap.cols, screen: snap.screen });
  }

  // ---- actions --------------------------------------------------------------

  private allowed(action: Action, term?: number): { ok: number } | { error: ActionError } {
    const me = this.phase === "joined" ? this.state.me : undefined;
    if (!me) return { error: { kind: "NotJoined" } };
    const control = term === undefined ? undefined : this.state.terminals.get(term)?.control;
    const refusal = check(me.role, me.id, action, control);
    return refusal ? { error: { kind: "Refused", refusal } } : { ok: me.id };
  }

  /** Whether this participant may type into `term` now. */
  mayType(term: number): ActionError | undefined {
    const a = this.allowed("input", term);
    return "error" in a ? a.error : undefined;
  }

  /** Held keys for `term` go out whole if this participant now controls it, or are dropped whole if its request was answered otherwise. */
  private settleHeld(term: number, answered: boolean): void {
    const list = this.held.get(term);
    if (!list) return;
    const me = this.state.me?.id;
    const controls = me !== undefined && this.state.terminals.get(term)?.control.controller === me;
    if (!controls && !answered) return;
    this.held.delete(term);
    const len = list.reduce((n, b) => n + b.length, 0);
    let sent = controls;
    if (controls) for (const bytes of list) sent = this.sendInput(term, bytes) === undefined && sent;
    for (const bytes of list) bytes.fill(0);
    this.events.push({ type: "heldInput", term, len, sent });
  }

  /**
   * Seal keystrokes for `term`; before the host's ticket arrives they wait
   * (bounded). While this participant's own request to control `term`
   * waits, they are held (at most HELD_INPUT_BYTES) and go out whole once
   * control comes, or are dropped whole: never a part of them (SPEC.md 11.2).
   */
  sendInput(term: number, bytes: Uint8Array): ActionError | undefined {
    const held = this.held.get(term);
    if (held) {
      const len = held.reduce((n, b) => n + b.length, 0);
      if (len + bytes.length > HELD_INPUT_BYTES) return { kind: "Backlog" };
      held.push(bytes.slice());
      return undefined;
    }
    const a = this.allowed("input", term);
    if ("error" in a) return a.error;
    if (!this.ticket) {
      if (this.pendingBytes + bytes.length > PENDING_INPUT_BYTES) return { kind: "Backlog" };
      this.pendingBytes += bytes.length;
      const list = this.pendingInput.get(term) ?? [];
      list.push(bytes.slice());
      this.pendingInput.set(term, list);
      return undefined;
    }
    return this.sealInput(term, bytes);
  }

  private sealInput(term: number, bytes: Uint8Array): ActionError | undefined {
    const a = this.allowed("input", term);
    if ("error" in a) return a.error;
    if (!this.ticket) return undefined;
    let sealer = this.inputs.get(term);
    if (!sealer) {
      sealer = StreamSealer.create(this.keys, term, Direction.Input, a.ok, this.random(EPOCH_LEN));
      if (!sealer) return { kind: "Refused", refusal: "ReadOnly" };
      this.inputs.set(term, sealer);
      // Every run opens with the ticket and a new index (SPEC.md 11.2).
      this.lastRun += 1n;
      this.out.push({ type: "send", frame: sealer.seal(runStart(this.ticket, this.lastRun)) });
    }
    const chunk = Math.max(1, Math.min(sealer.maxPlaintextLen, this.config.maxFrameLen - 50));
    for (let at = 0; at < bytes.length; at += chunk) {
      this.out.push({ type: "send", frame: sealer.seal(bytes.subarray(at, at + chunk)) });
    }
    return undefined;
  }

  /** `InputTicket`: a new ticket ends every run; keystrokes that waited for it are sent. */
  private inputTicket(participantId: number, ticket: Uint8Array): void {
    if (participantId !== this.state.me?.id || ticket.length !== TICKET_LEN) return;
    const same = this.ticket !== undefined && this.ticket.every((b, i) => b === ticket[i]);
    if (!same) {
      for (const s of this.inputs.values()) s.wipe();
      this.inputs.clear();
      this.ticket = ticket.slice();
    }
    const pending = this.pendingInput;
    this.pendingInput = new Map();
    this.pendingBytes = 0;
    for (const [term, list] of pending) for (const bytes of list) this.sealInput(term, bytes);
  }

  /** Ask the owner of `term` for control. */
  requestAdoption(term: number): ActionError | undefined {
    const err = this.act("requestAdoption", term, { case: "adoptionRequest", value: { terminalId: term } });
    // Keys typed meanwhile are held (sendInput).
    if (!err && !this.held.has(term)) this.held.set(term, []);
    return err;
  }

  /** Answer an adoption request for a terminal this participant owns. */
  answerAdoption(term: number, requester: number, approve: boolean): ActionError | undefined {
    return this.act("answerAdoption", term, { case: "adoptionAnswer", value: { terminalId: term, requester, approve } });
  }

  /** Hand control of a terminal this participant owns to `to`. */
  grant(term: number, to: number): ActionError | undefined {
    const a = this.allowed("grant", term);
    if ("error" in a) return a.error;
    const refusal = mayControl(this.state.peers.get(to)?.role);
    if (refusal) return { kind: "Refused", refusal };
    return this.act("grant", term, { case: "controlGrant", value: { terminalId: term, grantee: to } });
  }

  /** Take control without asking (admins). */
  takeOver(term: number): ActionError | undefined {
    const a = this.allowed("takeOver", term);
    if ("error" in a) return a.error;
    const extra = new Uint8Array(4);
    new DataView(extra.buffer).setUint32(0, term);
    const signed = this.signAdmin(ADMIN_TAKE_OVER, a.ok, extra);
    if ("kind" in signed) return signed;
    this.send({ case: "takeOver", value: { terminalId: term, counter: signed.counter, signature: signed.signature } });
    return undefined;
  }

  /** Whether this participant may open the host's published ports (writers and admins, joined). */
  mayOpenTunnels(): ActionError | undefined {
    const a = this.allowed("forward");
    return "error" in a ? a.error : undefined;
  }

  /**
   * Ask the relay for a credential for the session's HTTP tunnels
   * (writers and admins): answered by a `tunnelCredential` event, or an
   * `actionRefused` of `TUNNEL_CREDENTIAL_ACTION`.
   */
  requestTunnelCredential(): ActionError | undefined {
    const err = this.act("forward", undefined, { case: "tunnelCredentialRequest", value: {} });
    if (!err) this.credentialsAsked += 1;
    return err;
  }

  /** Publish (`enable`) or withdraw a port of the host's as a tunnel (admins), signed. */
  administerTunnel(port: number, enable: boolean): ActionError | undefined {
    const a = this.allowed("administerTunnels");
    if ("error" in a) return a.error;
    const extra = new Uint8Array(5);
    new DataView(extra.buffer).setUint32(0, port);
    extra[4] = enable ? 1 : 0;
    const signed = this.signAdmin(ADMIN_TUNNEL, a.ok, extra);
    if ("kind" in signed) return signed;
    this.send({ case: "tunnelAdmin", value: { port, enable, counter: signed.counter, signature: signed.signature } });
    return undefined;
  }

  /**
   * Counter and signature of an administrative action (SPEC.md 4.7): kind ‖
   * admin (u32 BE) ‖ ticket ‖ counter (u64 BE) ‖ fields.
   */
  private signAdmin(kind: number, admin: number, fields: Uint8Array): { counter: bigint; signature: Uint8Array } | ActionError {
    if (!this.ticket) return { kind: "NotReady" };
    this.adminCounter += 1n;
    const action = new Uint8Array(1 + 4 + TICKET_LEN + 8 + fields.length);
    const view = new DataView(action.buffer);
    action[0] = kind;
    view.setUint32(1, admin);
    action.set(this.ticket, 5);
    view.setBigUint64(5 + TICKET_LEN, this.adminCounter);
    action.set(fields, 13 + TICKET_LEN);
    const signature = this.keys.signAdminAction(action);
    if (!signature) return { kind: "Refused", refusal: "NotAdmin" };
    return { counter: this.adminCounter, signature };
  }

  /** Give control back to the owner. */
  revoke(term: number): ActionError | undefined {
    return this.act("revoke", term, { case: "controlRevoke", value: { terminalId: term } });
  }

  /** Ask the host for a new terminal owned by this participant. */
  createTerminal(rows: number, cols: number, label: string): ActionError | undefined {
    return this.act("create", undefined, { case: "terminalCreate", value: { rows, cols, label: cutLabel(label) } });
  }

  /** Resize a terminal this participant controls. */
  resize(term: number, rows: number, cols: number): ActionError | undefined {
    return this.act("resize", term, { case: "terminalResize", value: { terminalId: term, rows, cols } });
  }

  /** Close a terminal this participant controls. */
  closeTerminal(term: number): ActionError | undefined {
    return this.act("close", term, { case: "terminalClose", value: { terminalId: term } });
  }

  /** Replay a terminal's buffered output again (0 = all terminals). */
  requestHistory(term: number): ActionError | undefined {
    if (this.phase !== "joined") return { kind: "NotJoined" };
    if (term === 0) for (const t of this.state.terminals.keys()) this.historyAsked.add(t);
    else this.historyAsked.add(term);
    this.send({ case: "historyRequest", value: { terminalId: term } });
    return undefined;
  }

  /** Say which terminal this participant looks at. */
  focus(term: number): ActionError | undefined {
    if (this.phase !== "joined") return { kind: "NotJoined" };
    this.send({ case: "focus", value: { terminalId: term } });
    return undefined;
  }

  /**
   * Show everyone which terminals this participant has on screen and
   * where (SPEC.md 7.2): at most `MAX_LAYOUT_TILES` tiles, in grid units.
   */
  layout(tiles: LayoutTile[]): ActionError | undefined {
    if (this.phase !== "joined") return { kind: "NotJoined" };
    if (tiles.length > MAX_LAYOUT_TILES) return { kind: "TooLong" };
    this.send({ case: "layout", value: { tiles } });
    return undefined;
  }

  /**
   * Change the display name and device label (each cut to
   * `MAX_NAME_BYTES`): everyone is told, and a rejoin uses them. Names are
   * display data, never permission.
   */
  setProfile(name: string, deviceLabel: string): ActionError | undefined {
    const me = this.phase === "joined" ? this.state.me : undefined;
    if (!me) {
      // Not joined: the next join carries them.
      this.config.name = cutLabel(name);
      this.config.deviceLabel = cutLabel(deviceLabel);
      return { kind: "NotJoined" };
    }
    this.config.name = cutLabel(name);
    this.config.deviceLabel = cutLabel(deviceLabel);
    const peer = this.state.peers.get(me.id);
    if (peer) {
      peer.name = this.config.name;
      peer.deviceLabel = this.config.deviceLabel;
    }
    this.send({
      case: "presence",
      value: { profile: { name: this.config.name, deviceLabel: this.config.deviceLabel }, state: Presence_State.UPDATED },
    });
    return undefined;
  }

  /** Send a chat line. */
  chat(text: string): ActionError | undefined {
    if (this.phase !== "joined") return { kind: "NotJoined" };
    if (utf8Len(text) > MAX_CHAT_BYTES) return { kind: "TooLong" };
    this.send({ case: "chat", value: { text } });
    return undefined;
  }

  private act(action: Action, term: number | undefined, body: Body): ActionError | undefined {
    const a = this.allowed(action, term);
    if ("error" in a) return a.error;
    this.send(body);
    return undefined;
  }
}
