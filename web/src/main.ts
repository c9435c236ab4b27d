// The browser participant: reads the link's secret from `location.hash`
// (never sending it anywhere), joins through the relay that served this
// page, and drives the Sans-IO participant machine over one WebSocket.
// Terminal bytes are decrypted here and only here.

import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { Terminal } from "@xterm/xterm";
import { installStyleShim } from "./csp-styles.js";
import { ActionRefusal, AgentState, ControlReason, EndReason, RefusalReason } from "./gen/taiku_pb.js";
import { LinkError, parseLink, Role } from "./link.js";
import { type ActionError, DEFAULT_CONFIG, Participant, type ParticipantEvent } from "./participant.js";

/** Longest wait between reconnect attempts (SPEC.md 12.2). */
const BACKOFF_MAX_MS = 15_000;
/** First reconnect wait bound (SPEC.md 12.2). */
const BACKOFF_BASE_MS = 250;

installStyleShim(document);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $("status");
const roleEl = $("role");
const noticeEl = $("notice");
const screenEl = $("screen");
const terminalsEl = $("terminals");
const peopleEl = $("people");
const chatLog = $("chat-log");
const chatForm = $<HTMLFormElement>("chat-form");
const chatInput = $<HTMLInputElement>("chat-input");

function notice(text: string, bad = false): void {
  noticeEl.textContent = text;
  noticeEl.className = bad ? "bad" : "";
  noticeEl.hidden = false;
}

function clearNotice(): void {
  noticeEl.hidden = true;
}

const LINK_ERRORS: Record<string, string> = {
  MissingFragment: "This link has no secret: copy the whole link, including the part after #.",
  NotALink: "This page address is not a taiku link.",
  BadSessionId: "The session id in this link is not valid.",
  UnsupportedVersion: "This link is from another version of taiku.",
  UnknownRole: "This link's role is not one taiku knows.",
  SecretLength: "This link's secret is cut short or too long: copy the whole link.",
  SecretEncoding: "This link's secret is damaged: copy the whole link again.",
};

const ROLE_NAMES: Record<number, string> = { [Role.Reader]: "reader", [Role.Writer]: "writer", [Role.Admin]: "admin" };

function start(): void {
  let link: ReturnType<typeof parseLink>;
  try {
    link = parseLink(location.href);
  } catch (e) {
    const kind = e instanceof LinkError ? e.kind : "NotALink";
    statusEl.textContent = "cannot join";
    notice(LINK_ERRORS[kind] ?? "This link is not valid.", true);
    return;
  }
  const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  const p = new Participant(link.role, link.secret, link.sessionId, { ...DEFAULT_CONFIG, name: "guest", deviceLabel: "browser" }, random);
  link.secret.fill(0);
  roleEl.textContent = `${ROLE_NAMES[link.role]} link`;
  new Session(p).connect();
}

interface Screen {
  term: Terminal;
  el: HTMLDivElement;
}

class Session {
  private ws?: WebSocket;
  private attempt = 0;
  private timer?: number;
  private stopped = false;
  private screens = new Map<number, Screen>();
  private selected?: number;
  private asked = new Set<number>();

  constructor(private readonly p: Participant) {
    chatForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = chatInput.value.trim();
      if (!text) return;
      const err = this.p.chat(text);
      if (err) notice(err.kind === "TooLong" ? "That message is too long." : "Not connected.");
      else chatInput.value = "";
      this.pump();
    });
  }

  connect(): void {
    if (this.stopped) return;
    statusEl.textContent = "connecting…";
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.p.connect(performance.now());
      this.pump();
    };
    ws.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) {
        this.p.handleMessage(new Uint8Array(e.data), performance.now());
        this.pump();
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.p.handleDisconnect(performance.now());
      this.pump();
      if (this.stopped || this.p.ended) return;
      const bound = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
      this.attempt = Math.min(this.attempt + 1, 16);
      statusEl.textContent = "disconnected, reconnecting…";
      setTimeout(() => this.connect(), Math.random() * bound);
    };
  }

  private stop(): void {
    this.stopped = true;
    this.ws?.close();
    this.p.wipe();
  }

  /** Move frames out, events into the page, and arm the next timer. */
  private pump(): void {
    for (let t = this.p.pollTransmit(); t; t = this.p.pollTransmit()) {
      if (t.type === "close") this.ws?.close();
      else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(t.frame as Uint8Array<ArrayBuffer>);
    }
    for (let e = this.p.pollEvent(); e; e = this.p.pollEvent()) this.handle(e);
    window.clearTimeout(this.timer);
    const due = this.p.pollTimeout();
    if (due !== undefined) {
      this.timer = window.setTimeout(() => {
        this.p.handleTimeout(performance.now());
        this.pump();
      }, Math.max(0, due - performance.now()));
    }
    this.render();
  }

  private handle(e: ParticipantEvent): void {
    switch (e.type) {
      case "joined":
        this.attempt = 0;
        for (const s of this.screens.values()) this.dropScreen(s);
        this.screens.clear();
        this.selected = undefined;
        clearNotice();
        if (e.role === Role.Reader) notice("Read-only link: you can watch, but not type.");
        break;
      case "denied":
        if (e.reason === RefusalReason.RATE_LIMITED) {
          notice("Too many attempts; retrying shortly.");
          return;
        }
        this.stop();
        statusEl.textContent = "cannot join";
        notice(
          e.reason === RefusalReason.DENIED
            ? "This link is wrong or has expired: the session it names does not exist, or the secret does not match."
            : `The relay refused to let you join (${RefusalReason[e.reason]}).`,
          true,
        );
        break;
      case "ended":
        this.stop();
        statusEl.textContent = "session ended";
        notice(`The session has ended (${endText(e.reason)}).`, true);
        break;
      case "terminalOpened":
        this.openScreen(e.term);
        break;
      case "terminalClosed": {
        const s = this.screens.get(e.term);
        if (s) this.dropScreen(s);
        this.screens.delete(e.term);
        if (this.selected === e.term) this.selected = undefined;
        break;
      }
      case "terminalResized": {
        const t = this.p.view.terminals.get(e.term);
        if (t) this.screens.get(e.term)?.term.resize(t.cols, t.rows);
        break;
      }
      case "output":
        this.screens.get(e.term)?.term.write(e.bytes);
        break;
      case "snapshot": {
        const s = this.screens.get(e.term);
        if (s) {
          s.term.reset();
          s.term.resize(e.cols, e.rows);
          s.term.write(e.screen);
        }
        break;
      }
      case "controlChanged": {
        const me = this.p.view.me?.id;
        if (e.requester !== me) break;
        const label = this.label(e.term);
        if (e.reason === ControlReason.ADOPTION_APPROVED || e.reason === ControlReason.GRANTED) {
          this.asked.delete(e.term);
          notice(`You control ${label} now: type away.`);
        } else if (e.reason === ControlReason.ADOPTION_DENIED || e.reason === ControlReason.ADOPTION_EXPIRED) {
          this.asked.delete(e.term);
          notice(`The owner of ${label} did not hand over control.`);
        }
        break;
      }
      case "adoptionRequested": {
        const who = this.name(e.requester);
        const approve = window.confirm(`${who} asks for control of ${this.label(e.term)}. Hand it over?`);
        this.p.answerAdoption(e.term, e.requester, approve);
        break;
      }
      case "actionRefused":
        notice(`The relay refused that: ${refusalText(e.reason)}.`);
        break;
      case "hostOffline":
        notice(`The host is away; the session waits ${Math.round(Number(e.graceRemainingMs) / 1000)} s for it to come back.`);
        break;
      case "hostOnline":
        clearNotice();
        break;
      case "protocolError":
        notice(`Connection error (${e.error}); reconnecting.`, true);
        break;
      case "chat": {
        const li = document.createElement("li");
        const from = document.createElement("span");
        from.className = "from";
        from.textContent = this.name(e.line.from);
        li.append(from, document.createTextNode(e.line.text));
        chatLog.append(li);
        while (chatLog.childElementCount > 200) chatLog.firstElementChild?.remove();
        chatLog.scrollTop = chatLog.scrollHeight;
        break;
      }
      default:
        break;
    }
  }

  private openScreen(id: number): void {
    const t = this.p.view.terminals.get(id);
    if (!t || this.screens.has(id)) return;
    const el = document.createElement("div");
    el.className = "term";
    el.dataset.terminal = String(id);
    screenEl.append(el);
    const term = new Terminal({ rows: t.rows || 24, cols: t.cols || 80, convertEol: false, scrollback: 5000 });
    term.open(el);
    term.onData((data) => this.typed(id, new TextEncoder().encode(data)));
    term.onBinary((data) => this.typed(id, Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    this.screens.set(id, { term, el });
    if (this.selected === undefined) this.select(id);
    else el.hidden = true;
  }

  private dropScreen(s: Screen): void {
    s.term.dispose();
    s.el.remove();
  }

  private select(id: number): void {
    this.selected = id;
    for (const [tid, s] of this.screens) s.el.hidden = tid !== id;
    this.screens.get(id)?.term.focus();
    this.p.focus(id);
    this.pump();
  }

  private typed(term: number, bytes: Uint8Array): void {
    const err = this.p.sendInput(term, bytes);
    if (err) this.refusedLocally(term, err);
    this.pump();
  }

  private refusedLocally(term: number, err: ActionError): void {
    if (err.kind === "NotJoined") {
      notice("Not connected yet: your keys were not sent.");
    } else if (err.kind === "Refused" && err.refusal === "ReadOnly") {
      notice("Read-only link: typing is disabled. Ask the host for a writer link to type.");
    } else if (err.kind === "Refused" && err.refusal === "NotController") {
      if (!this.asked.has(term)) {
        this.asked.add(term);
        this.p.requestAdoption(term);
        notice(`${this.name(this.p.view.terminals.get(term)?.control.controller ?? 0)} controls ${this.label(term)}: asked for control. Your keys were not sent.`);
      } else {
        notice(`Waiting for control of ${this.label(term)}; your keys were not sent.`);
      }
    }
  }

  private name(id: number): string {
    const peer = this.p.view.peers.get(id);
    const me = this.p.view.me?.id === id ? " (you)" : "";
    return `${peer?.name || (id === 0 ? "host" : `participant ${id}`)}${me}`;
  }

  private label(term: number): string {
    return `terminal ${term}${this.p.view.terminals.get(term)?.label ? ` (${this.p.view.terminals.get(term)?.label})` : ""}`;
  }

  private render(): void {
    const v = this.p.view;
    if (v.me && !this.stopped) {
      statusEl.textContent = v.hostOnline ? `joined as ${this.name(v.me.id)}` : "joined; the host is away";
    }
    terminalsEl.replaceChildren(
      ...[...v.terminals].map(([id, t]) => {
        const li = document.createElement("li");
        li.dataset.terminal = String(id);
        li.className = id === this.selected ? "selected" : "";
        li.addEventListener("click", () => this.select(id));
        const title = document.createElement("div");
        title.textContent = `${id}. ${t.label || "terminal"} (${t.cols}×${t.rows})`;
        const meta = document.createElement("div");
        meta.className = "meta";
        const controller = t.control.controller === t.control.owner ? "" : `, controlled by ${this.name(t.control.controller)}`;
        meta.textContent = `owner: ${this.name(t.control.owner)}${controller}${t.lock !== undefined ? `, typing: ${this.name(t.lock)}` : ""}`;
        li.append(title, meta);
        if (t.agent) {
          const agent = document.createElement("div");
          agent.className = "agent";
          agent.textContent = `agent ${t.agent.agent}: ${agentText(t.agent.state)}${t.agent.detail ? ` (${t.agent.detail})` : ""}`;
          li.append(agent);
        }
        return li;
      }),
    );
    peopleEl.replaceChildren(
      ...[...v.peers].map(([id, peer]) => {
        const li = document.createElement("li");
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = ` ${id === 0 ? "host" : ROLE_NAMES[peer.role]}${peer.deviceLabel ? `, ${peer.deviceLabel}` : ""}`;
        li.append(document.createTextNode(this.name(id)), meta);
        return li;
      }),
    );
  }
}

function endText(reason: EndReason): string {
  switch (reason) {
    case EndReason.HOST_ENDED:
      return "the host stopped sharing";
    case EndReason.HOST_GRACE_EXPIRED:
      return "the host did not come back in time";
    case EndReason.RELAY_SHUTDOWN:
      return "the relay shut down";
    case EndReason.EVICTED:
      return "this connection was replaced";
    case EndReason.TOO_SLOW:
      return "this connection fell too far behind";
    default:
      return "no reason given";
  }
}

function refusalText(reason: ActionRefusal): string {
  switch (reason) {
    case ActionRefusal.READ_ONLY:
      return "this link is read-only";
    case ActionRefusal.NOT_CONTROLLER:
      return "you do not control that terminal";
    case ActionRefusal.FOCUS_LOCKED:
      return "someone else is typing there";
    case ActionRefusal.HOST_OFFLINE:
      return "the host is away";
    case ActionRefusal.RATE_LIMITED:
      return "too many messages, slow down";
    default:
      return ActionRefusal[reason] ?? "unknown reason";
  }
}

function agentText(state: AgentState): string {
  return (AgentState[state] ?? "unknown").toLowerCase().replaceAll("_", " ");
}

start();
