// The browser participant: reads the link's secret from `location.hash`
// (never sending it anywhere), joins through the relay that served this
// page, and drives the Sans-IO participant machine over one WebSocket.
// Terminal bytes are decrypted here and only here.

import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { Terminal } from "@xterm/xterm";
import { installStyleShim } from "./csp-styles.js";
import { ActionRefusal, AgentState, ControlReason, EndReason, RefusalReason } from "./gen/taiku_pb.js";
import { formatLink, LinkError, parseLink, Role } from "./link.js";
import { type ActionError, DEFAULT_CONFIG, Participant, type ParticipantEvent } from "./participant.js";

/** Longest wait between reconnect attempts (SPEC.md 12.2). */
const BACKOFF_MAX_MS = 15_000;
/** First reconnect wait bound (SPEC.md 12.2). */
const BACKOFF_BASE_MS = 250;
/** A connect attempt that has not opened by then is abandoned (SPEC.md 12.2). */
const CONNECT_TIMEOUT_MS = 10_000;
/** A connection joined this long resets the backoff. */
const STABLE_MS = 30_000;
/** Wait before retrying a session or relay that is full. */
const FULL_RETRY_MS = 30_000;
/** Terminal sizes shown, whatever the relay says (SPEC.md 7.1). */
const MAX_COLS = 1000;
const MAX_ROWS = 1000;
/** Keys count as typed by the user for this long after a key event. */
const USER_INPUT_MS = 1000;
/** `AdoptionRequest` field number, its `Refused.action` (SPEC.md 8). */
const ADOPTION_REQUEST_ACTION = 30;

installStyleShim(document);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $("status");
const roleEl = $("role");
const noticeEl = $("notice");
const requestsEl = $("requests");
const screenEl = $("screen");
const terminalsEl = $("terminals");
const peopleEl = $("people");
const chatLog = $("chat-log");
const chatForm = $<HTMLFormElement>("chat-form");
const chatInput = $<HTMLInputElement>("chat-input");
const newTerminal = $<HTMLButtonElement>("new-terminal");
const inviteButton = $<HTMLButtonElement>("invite");
const invitePanel = $("invite-panel");

/** Show the links this participant may hand on, built here from its own secret and never sent anywhere; closing the panel removes them from the page. */
function showInvite(p: Participant, origin: string, sessionId: string, pin?: Uint8Array): void {
  invitePanel.replaceChildren();
  for (const { role, secret } of p.inviteSecrets()) {
    const label = document.createElement("label");
    label.textContent = `${ROLE_NAMES[role]} link `;
    const input = document.createElement("input");
    input.readOnly = true;
    input.dataset.role = ROLE_NAMES[role];
    input.value = formatLink(origin, sessionId, role, secret, pin);
    secret.fill(0);
    const copy = document.createElement("button");
    copy.textContent = "Copy";
    copy.addEventListener("click", () => {
      input.select();
      void navigator.clipboard?.writeText(input.value).catch(() => undefined);
    });
    label.append(input, " ", copy);
    invitePanel.append(label);
  }
  const close = document.createElement("button");
  close.textContent = "Close";
  close.addEventListener("click", () => {
    invitePanel.replaceChildren();
    invitePanel.hidden = true;
  });
  invitePanel.append(close);
  invitePanel.hidden = false;
}
/** Where the last name used is kept: names are not secrets; links never go into storage. */
const NAME_KEY = "taiku.name";

function savedName(): string | undefined {
  try {
    return localStorage.getItem(NAME_KEY)?.trim() || undefined;
  } catch {
    return undefined;
  }
}

function saveName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage refused (private mode): the name lasts this visit.
  }
}

const nameForm = $<HTMLFormElement>("name-form");
const nameInput = $<HTMLInputElement>("name-input");

function notice(text: string, bad = false, action?: { label: string; run: () => void }): void {
  noticeEl.replaceChildren(document.createTextNode(text));
  if (action) {
    const button = document.createElement("button");
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    noticeEl.append(" ", button);
  }
  noticeEl.className = bad ? "bad" : "";
  noticeEl.hidden = false;
}

function clearNotice(): void {
  noticeEl.hidden = true;
}

const clamp = (n: number, max: number, fallback: number) => (n >= 1 ? Math.min(n, max) : fallback);

const LINK_ERRORS: Record<string, string> = {
  MissingFragment: "This link has no secret: copy the whole link, including the part after #.",
  NotALink: "This page address is not a taiku link.",
  BadSessionId: "The session id in this link is not valid.",
  UnsupportedVersion: "This link is from another version of taiku.",
  UnknownRole: "This link's role is not one taiku knows.",
  SecretLength: "This link's secret is cut short or too long: copy the whole link.",
  SecretEncoding: "This link's secret is damaged: copy the whole link again.",
  PinLength: "This link's relay pin is cut short or too long: copy the whole link.",
  PinEncoding: "This link's relay pin is damaged: copy the whole link again.",
  PinNeedsHttps: "This link pins a certificate but is not https://: it is not valid.",
};

const ROLE_NAMES: Record<number, string> = { [Role.Reader]: "reader", [Role.Writer]: "writer", [Role.Admin]: "admin" };

function loopback(hostname: string): boolean {
  return hostname === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === "[::1]";
}

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
  const p = new Participant(link.role, link.secret, link.sessionId, { ...DEFAULT_CONFIG, name: savedName() ?? "guest", deviceLabel: "browser" }, random);
  link.secret.fill(0);
  // A pin (SPEC.md 2) is for native clients: the browser checks the
  // relay's certificate itself; invite links keep it.
  const { origin, sessionId, pin } = link;
  inviteButton.hidden = false;
  inviteButton.addEventListener("click", () => showInvite(p, origin, sessionId, pin));
  roleEl.textContent = `${ROLE_NAMES[link.role]} link`;
  const session = new Session(p);
  // SPEC.md 12.1: no plain ws:// to a host that is not this machine unless
  // the user says so.
  if (location.protocol === "http:" && !loopback(location.hostname)) {
    statusEl.textContent = "not connected";
    notice("This relay is not using TLS: terminal bytes stay encrypted, but names, chat and sizes would cross the network in the clear.", true, {
      label: "Connect anyway",
      run: () => {
        clearNotice();
        session.connect();
      },
    });
    return;
  }
  session.connect();
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
  private joinedAt?: number;
  private everJoined = false;
  private screens = new Map<number, Screen>();
  private selected?: number;
  private asked = new Set<number>();
  private lastKey = -Infinity;
  private requests = new Map<string, HTMLElement>();

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
    nameForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      if (name && !this.p.setProfile(name, "browser")) {
        saveName(name);
        nameInput.blur();
      }
      this.pump();
      this.render();
    });
    newTerminal.addEventListener("click", () => {
      // A terminal of your own: you type into it without asking anyone.
      const err = this.p.createTerminal(24, 80, "browser");
      if (err) notice(err.kind === "Refused" ? "Only writer and admin links open terminals." : "Not connected.");
      this.pump();
    });
  }

  connect(): void {
    if (this.stopped) return;
    statusEl.textContent = "connecting…";
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws`);
    } catch {
      this.retry();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    const timeout = window.setTimeout(() => ws.close(), CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      window.clearTimeout(timeout);
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
      window.clearTimeout(timeout);
      this.lost(ws);
    };
  }

  /** `ws` is gone (closed, or dropped by the machine as silent): reconnect. */
  private lost(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = undefined;
    this.p.handleDisconnect(performance.now());
    this.pump();
    if (this.joinedAt !== undefined && performance.now() - this.joinedAt >= STABLE_MS) this.attempt = 0;
    this.joinedAt = undefined;
    if (this.stopped || this.p.ended) return;
    statusEl.textContent = "disconnected, reconnecting…";
    this.retry();
  }

  private retry(delay?: number): void {
    const bound = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    window.setTimeout(() => this.connect(), delay ?? Math.random() * bound);
  }

  private stop(): void {
    this.stopped = true;
    this.ws?.close();
    this.p.wipe();
  }

  /** Move frames out, events into the page, and arm the next timer. */
  private pump(): void {
    let changed = false;
    try {
      for (let t = this.p.pollTransmit(); t; t = this.p.pollTransmit()) {
        if (t.type === "close") {
          // Do not wait for a closing handshake a dead connection never
          // completes: reconnect at once.
          const ws = this.ws;
          ws?.close();
          if (ws) this.lost(ws);
        }
        else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(t.frame as Uint8Array<ArrayBuffer>);
      }
      for (let e = this.p.pollEvent(); e; e = this.p.pollEvent()) {
        try {
          this.handle(e);
        } catch (err) {
          console.error("taiku: event not shown", e.type, err);
        }
        if (e.type !== "output") changed = true;
      }
    } finally {
      window.clearTimeout(this.timer);
      const due = this.p.pollTimeout();
      if (due !== undefined) {
        this.timer = window.setTimeout(() => {
          this.p.handleTimeout(performance.now());
          this.pump();
        }, Math.max(0, due - performance.now()));
      }
    }
    if (changed) this.render();
  }

  private handle(e: ParticipantEvent): void {
    switch (e.type) {
      case "joined":
        this.joinedAt = performance.now();
        this.everJoined = true;
        for (const s of this.screens.values()) this.dropScreen(s);
        this.screens.clear();
        this.selected = undefined;
        this.asked.clear();
        for (const el of this.requests.values()) el.remove();
        this.requests.clear();
        clearNotice();
        if (e.role === Role.Reader) notice("Read-only link: you can watch, but not type.");
        newTerminal.hidden = e.role === Role.Reader;
        nameForm.hidden = false;
        nameInput.value = this.p.view.peers.get(e.id)?.name ?? "";
        if (!savedName() && e.role !== Role.Reader) notice("You appear as “guest”: type your name at the top, so the others know who you are.");
        break;
      case "denied":
        this.denied(e.reason);
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
        this.asked.delete(e.term);
        if (this.selected === e.term) {
          this.selected = undefined;
          const next = this.screens.keys().next();
          if (!next.done) this.select(next.value);
        }
        break;
      }
      case "terminalResized": {
        const t = this.p.view.terminals.get(e.term);
        if (t) this.screens.get(e.term)?.term.resize(clamp(t.cols, MAX_COLS, 80), clamp(t.rows, MAX_ROWS, 24));
        break;
      }
      case "output":
        this.screens.get(e.term)?.term.write(e.bytes);
        break;
      case "snapshot": {
        const s = this.screens.get(e.term);
        if (s) {
          s.term.reset();
          s.term.resize(clamp(e.cols, MAX_COLS, 80), clamp(e.rows, MAX_ROWS, 24));
          s.term.write(e.screen);
        }
        break;
      }
      case "controlChanged": {
        this.asked.delete(e.term);
        this.dropRequest(e.term, e.requester);
        const me = this.p.view.me?.id;
        if (e.requester !== me && this.p.view.terminals.get(e.term)?.control.controller !== me) break;
        const label = this.label(e.term);
        if (e.reason === ControlReason.ADOPTION_APPROVED || e.reason === ControlReason.GRANTED) {
          notice(`You control ${label} now: type away.`);
        } else if (e.reason === ControlReason.ADOPTION_DENIED || e.reason === ControlReason.ADOPTION_EXPIRED) {
          notice(`The owner of ${label} did not hand over control.`);
        }
        break;
      }
      case "heldInput":
        if (!e.sent && e.len > 0) {
          notice(`Control of ${this.label(e.term)} was not handed over: the ${e.len} keys you typed meanwhile were not sent.`, true);
        }
        break;
      case "adoptionRequested":
        this.showRequest(e.term, e.requester);
        break;
      case "actionRefused":
        if (e.action === ADOPTION_REQUEST_ACTION) this.asked.delete(e.term);
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

  private denied(reason: RefusalReason): void {
    if (reason === RefusalReason.RATE_LIMITED) {
      notice("Too many attempts; retrying shortly.");
      return;
    }
    if (reason === RefusalReason.SESSION_FULL || reason === RefusalReason.RELAY_FULL) {
      // Someone may leave: try again later, without hammering.
      notice(`The ${reason === RefusalReason.SESSION_FULL ? "session" : "relay"} is full; trying again in ${FULL_RETRY_MS / 1000} s.`);
      this.ws?.close();
      this.ws = undefined;
      this.retry(FULL_RETRY_MS);
      return;
    }
    this.stop();
    statusEl.textContent = "cannot join";
    let text: string;
    if (reason === RefusalReason.DENIED) {
      text = this.everJoined
        ? "The session has ended while you were away."
        : this.p.role === Role.Reader
          ? "This link is wrong or has expired, or reader links are turned off for this session."
          : "This link is wrong or has expired: the session it names does not exist, or the secret does not match.";
    } else if (reason === RefusalReason.SIGN_IN_REQUIRED) {
      text = "This session requires viewers to sign in, which this page cannot do.";
    } else {
      text = `The relay refused to let you join (${RefusalReason[reason] ?? reason}).`;
    }
    notice(text, true);
  }

  private openScreen(id: number): void {
    const t = this.p.view.terminals.get(id);
    if (!t || this.screens.has(id)) return;
    const el = document.createElement("div");
    el.className = "term";
    el.dataset.terminal = String(id);
    screenEl.append(el);
    const term = new Terminal({ rows: clamp(t.rows, MAX_ROWS, 24), cols: clamp(t.cols, MAX_COLS, 80), scrollback: 5000 });
    quietReplies(term);
    term.attachCustomKeyEventHandler(() => {
      this.lastKey = performance.now();
      return true;
    });
    term.open(el);
    term.textarea?.addEventListener("paste", () => {
      this.lastKey = performance.now();
    });
    term.onData((data) => this.typed(id, new TextEncoder().encode(data)));
    term.onBinary((data) => this.typed(id, Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    this.screens.set(id, { term, el });
    if (this.selected === undefined || t.control.owner === this.p.view.me?.id) this.select(id);
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
    this.render();
  }

  private typed(term: number, bytes: Uint8Array): void {
    const err = this.p.sendInput(term, bytes);
    // Reports the terminal makes by itself (focus, mouse) are not the
    // user asking for anything.
    const byUser = performance.now() - this.lastKey < USER_INPUT_MS;
    if (err && byUser) {
      this.refusedLocally(term, err);
      // The key that asked for control is held with the rest (SPEC.md 11.2).
      if (err.kind === "Refused" && err.refusal === "NotController") this.p.sendInput(term, bytes);
    }
    this.pump();
  }

  private refusedLocally(term: number, err: ActionError): void {
    if (err.kind === "NotJoined") {
      notice("Not connected yet: your keys were not sent.");
    } else if (err.kind === "Backlog") {
      notice("Still waiting for the host: your last keys were not sent.");
    } else if (err.kind === "Refused" && err.refusal === "ReadOnly") {
      notice("Read-only link: typing is disabled. Ask the host for a writer link to type.");
    } else if (err.kind === "Refused" && err.refusal === "NotController") {
      if (!this.asked.has(term)) {
        this.asked.add(term);
        this.p.requestAdoption(term);
        notice(`${this.name(this.p.view.terminals.get(term)?.control.controller ?? 0)} controls ${this.label(term)}: asked for control. What you type is sent once it is handed over.`);
      }
    }
  }

  /** An adoption request for a terminal this participant owns: a non-modal prompt, one per terminal and requester. */
  private showRequest(term: number, requester: number): void {
    const key = `${term}:${requester}`;
    if (this.requests.has(key)) return;
    const peer = this.p.view.peers.get(requester);
    const li = document.createElement("li");
    li.textContent = `Participant ${requester} (${peer ? ROLE_NAMES[peer.role] : "unknown"}${peer?.name ? `, says "${peer.name}"` : ""}) asks for control of ${this.label(term)}. `;
    const answer = (approve: boolean) => () => {
      this.p.answerAdoption(term, requester, approve);
      this.dropRequest(term, requester);
      this.pump();
    };
    for (const [label, approve] of [["Hand over", true], ["Decline", false]] as const) {
      const b = document.createElement("button");
      b.textContent = label;
      b.addEventListener("click", answer(approve));
      li.append(b, " ");
    }
    this.requests.set(key, li);
    requestsEl.append(li);
    requestsEl.hidden = false;
  }

  private dropRequest(term: number, requester: number): void {
    const key = `${term}:${requester}`;
    this.requests.get(key)?.remove();
    this.requests.delete(key);
    requestsEl.hidden = this.requests.size === 0;
  }

  /** A small action button; what it does is checked again by the machine and the relay. */
  private button(label: string, act: () => ActionError | undefined): HTMLButtonElement {
    const b = document.createElement("button");
    b.className = "act";
    b.textContent = label;
    b.addEventListener("click", (e) => {
      e.stopPropagation();
      const err = act();
      if (err) notice(err.kind === "Refused" ? `Not allowed: ${err.refusal}.` : "Not connected.");
      this.pump();
    });
    return b;
  }

  private name(id: number): string {
    const peer = this.p.view.peers.get(id);
    const me = this.p.view.me?.id === id ? " (you)" : "";
    const base = peer?.name || (id === 0 ? "host" : `participant ${id}`);
    // Names are chosen by people: the second "guest" is "guest 2".
    const same = [...this.p.view.peers].filter(([, q]) => q.name === peer?.name).map(([pid]) => pid).sort((a, b) => a - b);
    const nth = peer?.name ? same.indexOf(id) : -1;
    return `${base}${nth > 0 ? ` ${nth + 1}` : ""}${me}`;
  }

  private label(term: number): string {
    const label = this.p.view.terminals.get(term)?.label;
    return `terminal ${term}${label ? ` (${label})` : ""}`;
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
        const me = v.me;
        if (me && t.control.owner === me.id && t.control.controller !== me.id) {
          li.append(this.button("Take back", () => this.p.revoke(id)));
        }
        if (me && me.role === Role.Admin && t.control.controller !== me.id && t.control.owner !== me.id) {
          li.append(this.button("Take over", () => this.p.takeOver(id)));
        }
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
        // The owner (or an admin) of the terminal on screen may hand it to
        // a writer or admin directly.
        const t = this.selected === undefined ? undefined : v.terminals.get(this.selected);
        const term = this.selected;
        const mine = v.me && t && (t.control.owner === v.me.id || v.me.role === Role.Admin);
        if (mine && term !== undefined && id !== v.me?.id && id !== t.control.controller && peer.role !== Role.Reader) {
          li.append(this.button(`Hand over ${term}`, () => this.p.grant(term, id)));
        }
        return li;
      }),
    );
  }
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
      return "someone else is typing there; try again in a moment";
    case ActionRefusal.HOST_OFFLINE:
      return "the host is away";
    case ActionRefusal.RATE_LIMITED:
      return "too many messages, slow down";
    case ActionRefusal.NO_PENDING_REQUEST:
      return "that request has already expired";
    default:
      return ActionRefusal[reason] ?? "unknown reason";
  }
}

function agentText(state: AgentState): string {
  return (AgentState[state] ?? "unknown").toLowerCase().replaceAll("_", " ");
}

start();
