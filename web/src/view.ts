// What the participant machine (participant.ts) shows and tells a UI: its
// limits and defaults, the view of the session, events and local errors.
// Types only, no behaviour.

import type { Control } from "./access.js";
import type { ActionRefusal, AgentState, ControlReason, EndReason, RefusalReason, Tile } from "./gen/taiku_pb.js";
import { DEFAULT_MAX_FRAME_LEN, Direction } from "./frame.js";
import type { Role } from "./link.js";
import type { OpenErrorKind } from "./stream.js";
import type { Refusal } from "./access.js";

/** Chat lines kept in the view. */
export const CHAT_KEPT = 200;
/** Snapshot epochs remembered to refuse a replayed snapshot. */
export const SNAPSHOTS_REMEMBERED = 64;
/** Longest chat message in UTF-8 bytes (SPEC.md 7.1). */
export const MAX_CHAT_BYTES = 2048;
/** Output and status runs remembered per terminal (SPEC.md 11.5). */
export const RUNS_REMEMBERED = 64;
/** `Refused.action` of a refused sealed input frame: 0x100 + direction (SPEC.md 8). */
export const REFUSED_INPUT_ACTION = 0x100 + Direction.Input;
/** Longest display name and label in UTF-8 bytes (SPEC.md 7.1). */
export const MAX_NAME_BYTES = 64;
/** Closed terminal ids remembered, to refuse a relay that announces one again (SPEC.md 11.2). */
export const CLOSED_TERMINALS_REMEMBERED = 1024;
/** Longest notice text in UTF-8 bytes (SPEC.md 7.1). */
export const MAX_NOTICE_BYTES = 512;
/** Most ports a host publishes (`MAX_TUNNEL_PORTS`, SPEC.md 7.1): a longer `TunnelPorts` is ignored. */
export const MAX_TUNNEL_PORTS = 32;
/** `TunnelCredentialRequest` field number, its `Refused.action` (SPEC.md 8). */
export const TUNNEL_CREDENTIAL_ACTION = 55;

/** Participant tuning; defaults as SPEC.md 11.5. */
export interface ParticipantConfig {
  name: string;
  deviceLabel: string;
  maxFrameLen: number;
  keepaliveMs: number;
  /** Silence after which the connection is dead and closed (SPEC.md 12.2). */
  livenessMs: number;
}

/** The defaults of SPEC.md 11.5. */
export const DEFAULT_CONFIG: ParticipantConfig = {
  name: "guest",
  deviceLabel: "browser",
  maxFrameLen: DEFAULT_MAX_FRAME_LEN,
  keepaliveMs: 30_000,
  livenessMs: 60_000,
};

/** An agent's status as the host sealed it. */
export interface AgentStatusView {
  agent: string;
  state: AgentState;
  detail: string;
}

/** One participant as this participant sees it. */
export interface Peer {
  name: string;
  deviceLabel: string;
  role: Role;
  focus?: number;
  layout: Tile[];
}

/** One terminal as this participant sees it. */
export interface TerminalView {
  control: Control;
  rows: number;
  cols: number;
  label: string;
  agent?: AgentStatusView;
  lock?: number;
}

/** A chat line. */
export interface ChatLine {
  from: number;
  seq: bigint;
  text: string;
  /** How long before it arrived the relay accepted it: 0 live, its age when replayed from the history. */
  ageMs: number;
}

/** One terminal's place in a layout, in grid units (SPEC.md 7.2). */
export interface LayoutTile {
  terminalId: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Most tiles in one `Layout` (the relay's `max_layout_tiles`, SPEC.md 7.2). */
export const MAX_LAYOUT_TILES = 64;
/** Chat ages beyond this (a day) are shown as this. */
export const MAX_CHAT_AGE_MS = 86_400_000;

/** Everything a UI shows. */
export interface View {
  me?: { id: number; role: Role };
  hostOnline: boolean;
  peers: Map<number, Peer>;
  terminals: Map<number, TerminalView>;
  chat: ChatLine[];
  /** The published ports the relay serves as HTTP tunnels, ascending (`TunnelPorts.http`). */
  tunnels: number[];
}

/** Something a UI reacts to. */
export type ParticipantEvent =
  | { type: "joined"; id: number; role: Role }
  | { type: "denied"; reason: RefusalReason }
  | { type: "output"; term: number; bytes: Uint8Array }
  | { type: "snapshot"; term: number; rows: number; cols: number; screen: Uint8Array }
  /** The relay skipped this participant forward: the snapshot just shown covers what it missed (SPEC.md 6.7); `skipped` frames, or null when a new run began. */
  | { type: "resynced"; term: number; skipped: bigint | null }
  | { type: "agentStatus"; term: number; status?: AgentStatusView }
  | { type: "terminalOpened"; term: number }
  | { type: "terminalClosed"; term: number }
  | { type: "terminalResized"; term: number }
  /** A command in the terminal's shell changed its label. */
  | { type: "terminalLabeled"; term: number }
  /** `taiku notify` from a command in the terminal's shell, sealed in its status stream (SPEC.md 11.4). */
  | { type: "notice"; term: number; text: string }
  | { type: "controlChanged"; term: number; reason: ControlReason; requester: number }
  /** Keys typed while this participant's request to control `term` waited: all sent, or all dropped (SPEC.md 11.2). */
  | { type: "heldInput"; term: number; len: number; sent: boolean }
  | { type: "adoptionRequested"; term: number; requester: number }
  | { type: "presence"; id: number }
  | { type: "chat"; line: ChatLine }
  | { type: "focusLock"; term: number }
  /** The host's published ports changed (`view.tunnels`). */
  | { type: "tunnelsChanged"; ports: number[] }
  /**
   * The answer to this participant's `requestTunnelCredential`: a token
   * for the session's HTTP tunnels, valid at most `expiresInMs` and while
   * this connection stays joined. The machine does not keep it: the
   * driver logs in with it (the relay sets an HttpOnly cookie) and drops it.
   */
  | { type: "tunnelCredential"; token: string; expiresInMs: number }
  | { type: "hostOnline" }
  | { type: "hostOffline"; graceRemainingMs: bigint }
  | { type: "ended"; reason: EndReason }
  | { type: "actionRefused"; action: number; term: number; reason: ActionRefusal }
  | { type: "streamError"; term: number; direction: Direction; error: OpenErrorKind }
  | { type: "protocolError"; error: string };

/** Why a local request was refused before anything was sent. */
export type ActionError =
  | { kind: "NotJoined" }
  | { kind: "Refused"; refusal: Refusal }
  | { kind: "TooLong" }
  | { kind: "Backlog" }
  | { kind: "NotReady" };

