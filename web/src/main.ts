// The browser participant: reads the link's secret from `location.hash`
// (never sending it anywhere), joins through the relay that served this
// page, and drives the Sans-IO participant machine over one WebSocket.
// Terminal bytes are decrypted here and only here.
//
// Every banner is computed from the current state on each change
// (`render`): the connection (`#status`), the host (`#host-state`) and who
// controls the terminal with the keyboard (`#control`).

import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { installStyleShim } from "./csp-styles.js";
import { ControlReason, RefusalReason } from "./gen/taiku_pb.js";
import { LinkError, parseLink, Role } from "./link.js";
import { type ActionError, DEFAULT_CONFIG, Participant, type ParticipantEvent, TUNNEL_CREDENTIAL_ACTION } from "./participant.js";
import type { PredictMode } from "./predict.js";
import { Attention, needsAttention } from "./ui/attention.js";
import { ChatPanel } from "./ui/chat.js";
import { button, byId, el } from "./ui/dom.js";
import { showInvite } from "./ui/invite.js";
import { Notices } from "./ui/notices.js";
import { agentLine, endText, plain, LINK_ERRORS, minutes, refusalText, ROLE_NAMES } from "./ui/text.js";
import { thumbnail, Workspace } from "./ui/tiles.js";
import { type PortAccess, renderPorts, tunnelBase } from "./ui/ports.js";
import { TunnelSignIn } from "./tunnels.js";
import { AgentState } from "./gen/taiku_pb.js";

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
/**
 * Attempts in a row before the page gives up (and offers to try again): at
 * the longest backoff, about the host's 5-minute grace window, after which
 * a session whose relay was unreachable is gone anyway.
 */
const MAX_ATTEMPTS = 24;
/** Keys count as typed by the user for this long after a key event. */
const USER_INPUT_MS = 1000;
/** `AdoptionRequest` field number, its `Refused.action` (SPEC.md 8). */
const ADOPTION_REQUEST_ACTION = 30;
/** `Chat` field number, its `Refused.action` (SPEC.md 8). */
const CHAT_ACTION = 12;
/** Where the last name used is kept: names are not secrets; links never go into storage. */
const NAME_KEY = "taiku.name";

installStyleShim(document);

const statusEl = byId("status");
const hostEl = byId("host-state");
const roleEl = byId("role");
const controlEl = byId("control");
const requestsEl = byId("requests");
const terminalsEl = byId("terminals");
const peopleEl = byId("people");
const chatInput = byId<HTMLInputElement>("chat-input");
const newTerminal = byId<HTMLButtonElement>("new-terminal");
const inviteButton = byId<HTMLButtonElement>("invite");
const splitButton = byId<HTMLButtonElement>("split");
const nameForm = byId<HTMLFormElement>("name-form");
const nameInput = byId<HTMLInputElement>("name-input");
const panelToggle = byId<HTMLButtonElement>("panel-toggle");
const unreadEl = byId("unread");
const chatUnreadEl = byId("chat-unread");
const portsSection = byId("ports-section");
const notices = new Notices(byId("notices"));

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

function loopback(hostname: string): boolean {
  return hostname === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === "[::1]";
}

function setStatus(text: string, tone: "" | "wait" | "bad" = ""): void {
  statusEl.textContent = text;
  statusEl.className = tone;
}

/** Parse the link, ask for a name (prefilled with the last one), then join. */
function start(): void {
  let link: ReturnType<typeof parseLink>;
  try {
    link = parseLink(location.href);
  } catch (e) {
    const kind = e instanceof LinkError ? e.kind : "NotALink";
    setStatus("cannot join", "bad");
    notices.say(LINK_ERRORS[kind] ?? "This link is not valid.", true);
    return;
  }
  const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  const { origin, sessionId, pin, role } = link;
  const p = new Participant(role, link.secret, sessionId, { ...DEFAULT_CONFIG, name: savedName() ?? "guest", deviceLabel: "browser" }, random);
  link.secret.fill(0);
  roleEl.textContent = `${ROLE_NAMES[role]} link`;
  // A pin (SPEC.md 2) is for native clients: the browser checks the
  // relay's certificate itself; invite links keep it.
  inviteButton.hidden = false;
  inviteButton.addEventListener("click", () => showInvite(byId("invite-panel"), p, origin, sessionId, pin));
  const session = new Session(p);

  const form = byId<HTMLFormElement>("join");
  const input = byId<HTMLInputElement>("join-name");
  input.value = savedName() ?? "";
  form.hidden = false;
  setStatus("not connected yet");
  input.focus();
  form.addEventListener(
    "submit",
    (e) => {
      e.preventDefault();
      form.hidden = true;
      const name = input.value.trim() || "guest";
      if (input.value.trim()) saveName(name);
      p.setProfile(name, "browser");
      nameInput.value = name;
      // SPEC.md 12.1: no plain ws:// to a host that is not this machine
      // unless the user says so.
      if (location.protocol === "http:" && !loopback(location.hostname)) {
        setStatus("not connected", "bad");
        notices.say("This relay is not using TLS: terminal bytes stay encrypted, but names, chat and sizes would cross the network in the clear.", true, {
          label: "Connect anyway",
          run: () => {
            notices.clear();
            session.connect();
          },
        });
        return;
      }
      session.connect();
    },
    { once: true },
  );
}

type Connection =
  | { state: "connecting"; attempt: number }
  | { state: "joined" }
  | { state: "retrying"; attempt: number; at: number }
  | { state: "full"; at: number }
  | { state: "gaveUp"; attempts: number }
  | { state: "refused" }
  | { state: "ended" };

class Session {
  private ws?: WebSocket;
  private attempt = 0;
  private timer?: number;
  private stopped = false;
  private joinedAt?: number;
  private everJoined = false;
  private conn: Connection = { state: "connecting", attempt: 1 };
  /** Terminals this participant asked to control, answer still to come. */
  private asked = new Set<number>();
  private lastKey = -Infinity;
  private requests = new Map<string, HTMLElement>();
  /** When the host's grace window runs out, while it is away. */
  private hostDeadline?: number;
  private ticker?: number;
  private agents = new Map<number, AgentState | undefined>();
  /** A layout change waits to be sent. */
  private layoutDue = false;
  private readonly workspace: Workspace;
  private readonly chat: ChatPanel;
  private readonly attention = new Attention(byId<HTMLButtonElement>("notify"));
  /** Signed in to the session's HTTP tunnels ahead of a click, so a port is a plain link. */
  private readonly tunnels: TunnelSignIn;

  constructor(private readonly p: Participant) {
    this.tunnels = new TunnelSignIn({
      request: () => {
        if (this.p.requestTunnelCredential()) return false;
        // Asked while the page renders: sent right after.
        queueMicrotask(() => this.pump());
        return true;
      },
      // The token goes in the body of one request to the relay's own
      // origin and nowhere else; the relay answers with an HttpOnly cookie.
      login: async (token) => {
        const r = await fetch(`${tunnelBase(this.p.sessionId)}login`, {
          method: "POST",
          body: token,
          headers: { "Content-Type": "text/plain" },
          credentials: "same-origin",
          cache: "no-store",
          redirect: "error",
          referrerPolicy: "no-referrer",
        });
        return r.status === 204;
      },
      after: (ms, then) => {
        const t = window.setTimeout(then, ms);
        return () => window.clearTimeout(t);
      },
      now: () => performance.now(),
      changed: () => this.renderPorts(),
    });
    this.workspace = new Workspace(byId("workspace"), byId("peek"), {
      typed: (term, bytes) => this.typed(term, bytes),
      key: () => {
        this.lastKey = performance.now();
      },
      // Told while an event is handled, too: act after it, never inside.
      focused: (term) => {
        queueMicrotask(() => {
          this.p.focus(term);
          this.pump();
          this.render();
        });
      },
      arranged: () => {
        if (this.layoutDue) return;
        this.layoutDue = true;
        queueMicrotask(() => {
          this.layoutDue = false;
          this.p.layout(this.workspace.layout());
          this.pump();
          this.render();
        });
      },
    });
    this.chat = new ChatPanel(byId("chat-log"), chatInput, notices, () => this.chatVisible(), () => this.renderUnread());
    byId<HTMLFormElement>("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = chatInput.value.trim();
      if (!text) return;
      const err = this.p.chat(text);
      if (err) notices.say(err.kind === "TooLong" ? "That message is too long." : "Not connected: the message was not sent.", true);
      else {
        this.chat.sent(text);
        chatInput.value = "";
      }
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
      // A terminal of your own, the size of the space it will have: you
      // type into it without asking anyone.
      const { rows, cols } = this.workspace.newSize();
      const err = this.p.createTerminal(rows, cols, "browser");
      if (err) notices.say(err.kind === "Refused" ? "Only writer and admin links open terminals." : "Not connected.");
      this.pump();
    });
    splitButton.addEventListener("click", () => {
      splitButton.textContent = this.workspace.toggleSplit() === "columns" ? "Stack" : "Side by side";
    });
    byId("zoom-in").addEventListener("click", () => this.workspace.zoomBy(1));
    byId("zoom-out").addEventListener("click", () => this.workspace.zoomBy(-1));
    byId("zoom-fit").addEventListener("click", () => this.workspace.zoomBy(0));
    const echo = byId("echo");
    const modes: PredictMode[] = ["auto", "always", "never"];
    echo.addEventListener("click", () => {
      const mode = modes[(modes.indexOf(echo.dataset.mode as PredictMode) + 1) % modes.length] ?? "auto";
      echo.dataset.mode = mode;
      echo.textContent = `Echo: ${mode}`;
      this.workspace.setPredictMode(mode);
    });
    panelToggle.addEventListener("click", () => {
      const open = document.body.classList.toggle("panel-open");
      panelToggle.setAttribute("aria-expanded", String(open));
      if (open) this.chat.seen();
      this.workspace.fit();
    });
    document.addEventListener("visibilitychange", () => {
      if (this.chatVisible()) this.chat.seen();
    });
  }

  connect(): void {
    if (this.stopped) return;
    this.conn = { state: "connecting", attempt: this.attempt + 1 };
    this.render();
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
    this.tunnels.disconnected();
    this.chat.disconnected();
    this.asked.clear();
    this.pump();
    if (this.joinedAt !== undefined && performance.now() - this.joinedAt >= STABLE_MS) this.attempt = 0;
    this.joinedAt = undefined;
    if (this.stopped || this.p.ended) return;
    if (this.conn.state === "full") return;
    this.retry();
  }

  private retry(delay?: number): void {
    if (this.attempt >= MAX_ATTEMPTS) {
      this.conn = { state: "gaveUp", attempts: this.attempt };
      notices.keep("gave-up", `Gave up after ${this.attempt} attempts to reach the relay.`, true, {
        label: "Try again",
        run: () => {
          notices.drop("gave-up");
          this.attempt = 0;
          this.connect();
        },
      });
      this.render();
      return;
    }
    const bound = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    const wait = delay ?? Math.random() * bound;
    this.conn = delay === undefined ? { state: "retrying", attempt: this.attempt, at: performance.now() + wait } : { state: "full", at: performance.now() + wait };
    window.setTimeout(() => this.connect(), wait);
    this.render();
  }

  private stop(how: "refused" | "ended"): void {
    this.stopped = true;
    this.conn = { state: how };
    this.ws?.close();
    this.tunnels.disconnected();
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
        } else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(t.frame as Uint8Array<ArrayBuffer>);
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
        this.timer = window.setTimeout(
          () => {
            this.p.handleTimeout(performance.now());
            this.pump();
          },
          Math.max(0, due - performance.now()),
        );
      }
    }
    if (changed) this.render();
  }

  private handle(e: ParticipantEvent): void {
    switch (e.type) {
      case "joined":
        this.everJoined = true;
        this.joinedAt = performance.now();
        this.conn = { state: "joined" };
        notices.drop("gave-up");
        nameForm.hidden = false;
        newTerminal.hidden = e.role === Role.Reader;
        if (!nameInput.value) nameInput.value = this.p.view.peers.get(e.id)?.name ?? "";
        // Others see what is on this screen (SPEC.md 7.2).
        this.p.layout(this.workspace.layout());
        break;
      case "denied":
        this.denied(e.reason);
        break;
      case "ended":
        this.stop("ended");
        notices.keep("ended", `The session has ended (${endText(e.reason)}).`, true);
        break;
      case "terminalOpened": {
        const t = this.p.view.terminals.get(e.term);
        if (!t) break;
        const mine = t.control.owner === this.p.view.me?.id;
        this.workspace.add(e.term, t.rows, t.cols, mine);
        break;
      }
      case "terminalClosed":
        this.workspace.remove(e.term);
        this.asked.delete(e.term);
        this.agents.delete(e.term);
        break;
      case "terminalResized": {
        const t = this.p.view.terminals.get(e.term);
        if (t) this.workspace.resize(e.term, t.rows, t.cols);
        break;
      }
      case "output":
        this.workspace.write(e.term, e.bytes);
        break;
      case "snapshot":
        this.workspace.replace(e.term, e.rows, e.cols, e.screen);
        break;
      case "resynced":
        notices.say(
          `Your connection fell behind ${this.label(e.term)}: ${e.skipped === null ? "some" : e.skipped.toString()} frames were skipped, and its screen was brought up to date.`,
        );
        break;
      case "controlChanged": {
        this.asked.delete(e.term);
        this.dropRequest(e.term, e.requester);
        const me = this.p.view.me?.id;
        const now = this.p.view.terminals.get(e.term)?.control.controller;
        if (now === me && me !== undefined && (e.reason === ControlReason.ADOPTION_APPROVED || e.reason === ControlReason.GRANTED)) {
          this.attention.alert("taiku: you have control", `You control ${this.label(e.term)} now.`, `control-${e.term}`);
        } else if (e.requester === me && (e.reason === ControlReason.ADOPTION_DENIED || e.reason === ControlReason.ADOPTION_EXPIRED)) {
          notices.say(`The owner of ${this.label(e.term)} did not hand over control.`);
        }
        break;
      }
      case "heldInput":
        if (!e.sent && e.len > 0) {
          notices.keep(`held-${e.term}`, `Control of ${this.label(e.term)} was not handed over: the ${e.len} bytes you typed meanwhile were not sent (none of them).`);
        }
        break;
      case "adoptionRequested":
        this.showRequest(e.term, e.requester);
        this.attention.alert("taiku: someone asks for control", `${this.name(e.requester)} asks for control of ${this.label(e.term)}.`, `request-${e.term}-${e.requester}`);
        break;
      case "agentStatus": {
        const before = this.agents.get(e.term);
        this.agents.set(e.term, e.status?.state);
        if (e.status && needsAttention(before, e.status.state)) {
          const done = e.status.state === AgentState.DONE;
          this.attention.alert(
            done ? "taiku: an agent is done" : "taiku: an agent is waiting",
            `${agentLine(e.status)} in ${this.label(e.term)}`,
            `agent-${e.term}`,
          );
        }
        break;
      }
      case "notice":
        notices.say(`${this.label(e.term)}: ${plain(e.text)}`);
        this.attention.alert(`taiku: ${this.label(e.term)}`, plain(e.text), `notice-${e.term}`);
        break;
      case "tunnelCredential":
        this.tunnels.credential(e.token, e.expiresInMs);
        break;
      case "actionRefused":
        if (e.action === ADOPTION_REQUEST_ACTION) this.asked.delete(e.term);
        if (e.action === TUNNEL_CREDENTIAL_ACTION) this.tunnels.refused(refusalText(e.reason));
        else if (e.action === CHAT_ACTION) this.chat.refused(e.reason);
        else notices.say(`The relay refused that: ${refusalText(e.reason)}.`);
        break;
      case "hostOffline":
        this.hostDeadline = performance.now() + Number(e.graceRemainingMs);
        break;
      case "hostOnline":
        this.hostDeadline = undefined;
        break;
      case "protocolError":
        notices.say(`Connection error (${e.error}); reconnecting.`, true);
        break;
      case "chat":
        this.chat.line(e.line, this.p.view.me?.id, (id) => this.name(id));
        break;
      default:
        break;
    }
  }

  private denied(reason: RefusalReason): void {
    if (reason === RefusalReason.RATE_LIMITED) {
      notices.say("Too many attempts; retrying shortly.");
      return;
    }
    if (reason === RefusalReason.SESSION_FULL || reason === RefusalReason.RELAY_FULL) {
      // Someone may leave: try again later, without hammering.
      notices.say(`The ${reason === RefusalReason.SESSION_FULL ? "session" : "relay"} is full; trying again in ${FULL_RETRY_MS / 1000} s.`);
      this.retry(FULL_RETRY_MS);
      this.ws?.close();
      return;
    }
    this.stop("refused");
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
    notices.say(text, true);
  }

  private typed(term: number, bytes: Uint8Array): void {
    const err = this.p.sendInput(term, bytes);
    if (!err) this.workspace.predict(term, bytes);
    // Reports the terminal makes by itself (focus, mouse) are not the
    // user asking for anything.
    const byUser = performance.now() - this.lastKey < USER_INPUT_MS;
    if (err && byUser) {
      this.refusedLocally(term, err);
      // The key that asked for control is held with the rest (SPEC.md 11.2).
      if (err.kind === "Refused" && err.refusal === "NotController") this.p.sendInput(term, bytes);
    }
    this.pump();
    this.render();
  }

  private refusedLocally(term: number, err: ActionError): void {
    if (err.kind === "NotJoined") {
      notices.say("Not connected: your keys were not sent.");
    } else if (err.kind === "Backlog") {
      notices.say("Still waiting for the host: your last keys were not sent.");
    } else if (err.kind === "Refused" && err.refusal === "ReadOnly") {
      notices.say("Read-only link: typing is disabled. Ask the host for a writer link to type.");
    } else if (err.kind === "Refused" && err.refusal === "NotController" && !this.asked.has(term)) {
      this.asked.add(term);
      notices.drop(`held-${term}`);
      this.p.requestAdoption(term);
    }
  }

  /** An adoption request for a terminal this participant owns: a non-modal prompt, one per terminal and requester. */
  private showRequest(term: number, requester: number): void {
    const key = `${term}:${requester}`;
    if (this.requests.has(key)) return;
    const peer = this.p.view.peers.get(requester);
    const li = el("li", "", `Participant ${requester} (${peer ? ROLE_NAMES[peer.role] : "unknown"}${peer?.name ? `, says "${plain(peer.name)}"` : ""}) asks for control of ${this.label(term)}. `);
    const answer = (approve: boolean) => () => {
      this.p.answerAdoption(term, requester, approve);
      this.dropRequest(term, requester);
      this.pump();
    };
    li.append(button("Hand over", answer(true)), " ", button("Decline", answer(false)));
    this.requests.set(key, li);
    requestsEl.append(li);
    requestsEl.hidden = false;
    this.renderUnread();
  }

  private dropRequest(term: number, requester: number): void {
    const key = `${term}:${requester}`;
    this.requests.get(key)?.remove();
    this.requests.delete(key);
    requestsEl.hidden = this.requests.size === 0;
    this.renderUnread();
  }

  /** A small action button; what it does is checked again by the machine and the relay. */
  private action(label: string, act: () => ActionError | undefined): HTMLButtonElement {
    return button(
      label,
      () => {
        const err = act();
        if (err) notices.say(err.kind === "Refused" ? `Not allowed: ${err.refusal}.` : "Not connected.");
        this.pump();
      },
      "act",
    );
  }

  private name(id: number): string {
    const peer = this.p.view.peers.get(id);
    const me = this.p.view.me?.id === id ? " (you)" : "";
    const base = plain(peer?.name ?? "") || (id === 0 ? "host" : `participant ${id}`);
    // Names are chosen by people: the second "guest" is "guest 2".
    const same = [...this.p.view.peers]
      .filter(([, q]) => q.name === peer?.name)
      .map(([pid]) => pid)
      .sort((a, b) => a - b);
    const nth = peer?.name ? same.indexOf(id) : -1;
    return `${base}${nth > 0 ? ` ${nth + 1}` : ""}${me}`;
  }

  private label(term: number): string {
    const label = plain(this.p.view.terminals.get(term)?.label ?? "");
    return `terminal ${term}${label ? ` (${label})` : ""}`;
  }

  private chatVisible(): boolean {
    return document.visibilityState === "visible" && (!this.workspace.narrow || document.body.classList.contains("panel-open"));
  }

  private renderUnread(): void {
    const n = this.chat.unread;
    for (const badge of [unreadEl, chatUnreadEl]) {
      badge.textContent = String(n);
      badge.hidden = n === 0;
    }
    this.attention.waiting(n + this.requests.size);
  }

  /** Every banner from the current state. */
  private render(): void {
    this.renderConnection();
    this.renderControl();
    const v = this.p.view;
    splitButton.hidden = v.terminals.size < 2;
    terminalsEl.replaceChildren(...[...v.terminals].map(([id]) => this.terminalItem(id)));
    for (const id of v.terminals.keys()) this.workspace.setTitle(id, this.tileTitle(id));
    peopleEl.replaceChildren(...[...v.peers].map(([id]) => this.personItem(id)));
    this.tunnels.want(this.conn.state === "joined" && v.tunnels.length > 0 && this.p.mayOpenTunnels() === undefined);
    this.renderPorts();
  }

  /** The published ports, and whether this page can open them now. */
  private renderPorts(): void {
    const v = this.p.view;
    let access: PortAccess;
    if (this.p.role === Role.Reader) access = { kind: "reader" };
    else if (this.conn.state !== "joined") access = { kind: "offline" };
    else access = { kind: "signIn", ...this.tunnels.state };
    // A session that ended or refused this page publishes nothing to it.
    const over = this.conn.state === "ended" || this.conn.state === "refused";
    renderPorts(portsSection, over ? [] : v.tunnels, this.p.sessionId, access);
  }

  private renderConnection(): void {
    const c = this.conn;
    const v = this.p.view;
    switch (c.state) {
      case "connecting":
        setStatus(c.attempt > 1 ? `reconnecting (attempt ${c.attempt})…` : "connecting…", c.attempt > 1 ? "wait" : "");
        break;
      case "joined":
        setStatus(`connected as ${v.me ? this.name(v.me.id) : "…"}`);
        break;
      case "retrying":
        setStatus(`disconnected; reconnecting (attempt ${c.attempt + 1}) in ${Math.max(1, Math.ceil((c.at - performance.now()) / 1000))} s`, "wait");
        break;
      case "full":
        setStatus("waiting for a place", "wait");
        break;
      case "gaveUp":
        setStatus(`gave up after ${c.attempts} attempts`, "bad");
        break;
      case "refused":
        setStatus("cannot join", "bad");
        break;
      case "ended":
        setStatus("session ended", "bad");
        break;
    }
    let host = "";
    let tone = "";
    if (c.state === "ended") {
      host = "host: session ended";
      tone = "ended";
    } else if (c.state === "joined" && v.hostOnline) {
      host = "host online";
    } else if (c.state === "joined" && this.hostDeadline !== undefined) {
      host = `host away: ${minutes(this.hostDeadline - performance.now())} left to come back`;
      tone = "away";
    }
    hostEl.textContent = host;
    hostEl.className = tone;
    // A countdown ticks while someone is waiting on a time.
    const ticking = c.state === "retrying" || (c.state === "joined" && !v.hostOnline && this.hostDeadline !== undefined);
    if (ticking && this.ticker === undefined) this.ticker = window.setInterval(() => this.renderConnection(), 1000);
    if (!ticking && this.ticker !== undefined) {
      window.clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Who has the keyboard of the focused terminal, and what typing there does. */
  private renderControl(): void {
    const v = this.p.view;
    const term = this.workspace.focused;
    const t = term === undefined ? undefined : v.terminals.get(term);
    let text = "";
    let tone = "";
    if (term === undefined || !t) {
      text = "";
    } else if (!v.me) {
      text = `Not connected: keys typed into ${this.label(term)} are not sent.`;
    } else if (v.me.role === Role.Reader) {
      text = `Watching ${this.label(term)}: this is a read-only link.`;
    } else if (t.control.controller === v.me.id) {
      text = `You control ${this.label(term)}: type away.`;
      tone = "mine";
    } else if (this.asked.has(term)) {
      text = `Asked ${this.name(t.control.owner)} for control of ${this.label(term)}: what you type is held, and sent in full once it is handed over (or not at all).`;
      tone = "pending";
    } else {
      text = `${this.name(t.control.controller)} controls ${this.label(term)}: typing asks ${this.name(t.control.owner)} for control.`;
    }
    controlEl.textContent = text;
    controlEl.className = tone;
    controlEl.hidden = text === "";
  }

  private tileTitle(id: number): (Node | string)[] {
    const t = this.p.view.terminals.get(id);
    if (!t) return [];
    const parts: (Node | string)[] = [el("span", "name", `${id}. ${plain(t.label) || "terminal"}`), el("span", "", `${t.cols}×${t.rows}`)];
    parts.push(el("span", "", `owner ${this.name(t.control.owner)}`));
    if (t.control.controller !== t.control.owner) parts.push(el("span", "", `controlled by ${this.name(t.control.controller)}`));
    if (t.agent) parts.push(el("span", `agent state-${t.agent.state}`, agentLine(t.agent)));
    return parts;
  }

  private terminalItem(id: number): HTMLLIElement {
    const v = this.p.view;
    const t = v.terminals.get(id);
    const li = el("li");
    if (!t) return li;
    li.dataset.terminal = String(id);
    li.className = id === this.workspace.focused ? "focused" : "";
    li.addEventListener("click", () => this.workspace.focus(id));
    const shown = this.workspace.isShown(id) ? "" : " (not on screen)";
    li.append(el("div", "", `${id}. ${plain(t.label) || "terminal"} (${t.cols}×${t.rows})${shown}`));
    const controller = t.control.controller === t.control.owner ? "" : `, controlled by ${this.name(t.control.controller)}`;
    li.append(el("div", "meta", `owner: ${this.name(t.control.owner)}${controller}${t.lock !== undefined ? `, typing: ${this.name(t.lock)}` : ""}`));
    const me = v.me;
    li.append(button("Peek", () => this.workspace.peek(id), "act"));
    if (me && t.control.owner === me.id && t.control.controller !== me.id) {
      li.append(this.action("Take back", () => this.p.revoke(id)));
    }
    if (me && me.role === Role.Admin && t.control.controller !== me.id && t.control.owner !== me.id) {
      li.append(this.action("Take over", () => this.p.takeOver(id)));
    }
    if (t.agent) {
      li.append(el("div", "agent", agentLine(t.agent)));
    }
    return li;
  }

  private personItem(id: number): HTMLLIElement {
    const v = this.p.view;
    const peer = v.peers.get(id);
    const li = el("li");
    if (!peer) return li;
    li.dataset.participant = String(id);
    li.append(document.createTextNode(this.name(id)));
    li.append(el("span", "meta", `${id === 0 ? "host" : ROLE_NAMES[peer.role]}${peer.deviceLabel ? `, ${peer.deviceLabel}` : ""}${peer.focus !== undefined ? `, on ${peer.focus}` : ""}`));
    if (peer.layout.length > 0) li.append(thumbnail(peer.layout, peer.focus));
    // The owner (or an admin) of the focused terminal may hand it to a
    // writer or admin directly.
    const term = this.workspace.focused;
    const t = term === undefined ? undefined : v.terminals.get(term);
    const mine = v.me && t && (t.control.owner === v.me.id || v.me.role === Role.Admin);
    if (mine && term !== undefined && id !== v.me?.id && id !== t.control.controller && peer.role !== Role.Reader) {
      li.append(this.action(`Hand over ${term}`, () => this.p.grant(term, id)));
    }
    return li;
  }
}

start();
