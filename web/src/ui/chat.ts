// The chat panel: lines with the time they were said (the relay tells a
// replayed line's age), history shown once however often the page
// reconnects, an unread count while the panel is out of sight, and a
// message the relay refused for its rate put back for sending again.

import { ActionRefusal } from "../gen/taiku_pb.js";
import type { ChatLine } from "../view.js";
import { el } from "./dom.js";
import type { Notices } from "./notices.js";

/** Lines kept on the page. */
export const CHAT_SHOWN = 200;

export class ChatPanel {
  private lastSeq = 0n;
  private unreadCount = 0;
  /** What this page sent, oldest first, not yet seen back from the relay. */
  private unconfirmed: string[] = [];

  constructor(
    private readonly log: HTMLElement,
    private readonly input: HTMLInputElement,
    private readonly notices: Notices,
    private readonly visible: () => boolean,
    private readonly onUnread: () => void,
  ) {}

  get unread(): number {
    return this.unreadCount;
  }

  /** A line from the relay, live or replayed. */
  line(line: ChatLine, me: number | undefined, name: (id: number) => string): void {
    // A rejoin replays the history again: show each line once.
    if (line.seq !== 0n && line.seq <= this.lastSeq) return;
    this.lastSeq = line.seq;
    const mine = me !== undefined && line.from === me;
    if (mine && line.ageMs === 0) this.unconfirmed.shift();
    const at = new Date(Date.now() - line.ageMs);
    const li = el("li");
    const time = el("time", "at", at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    time.dateTime = at.toISOString();
    time.title = at.toLocaleString();
    li.append(time, el("span", "from", name(line.from)), document.createTextNode(line.text));
    this.log.append(li);
    while (this.log.childElementCount > CHAT_SHOWN) this.log.firstElementChild?.remove();
    this.log.scrollTop = this.log.scrollHeight;
    if (!mine && line.ageMs === 0 && !this.visible()) {
      this.unreadCount += 1;
      this.onUnread();
    }
  }

  /** The panel is in sight: everything is read. */
  seen(): void {
    if (this.unreadCount === 0) return;
    this.unreadCount = 0;
    this.onUnread();
  }

  /** `text` went to the relay. */
  sent(text: string): void {
    this.unconfirmed.push(text);
  }

  /** The relay refused this page's oldest unconfirmed line: say which, and put it back in the box if the box is empty. */
  refused(reason: ActionRefusal): void {
    const text = this.unconfirmed.shift() ?? "";
    const back = text !== "" && !this.input.value;
    if (back) this.input.value = text;
    const quoted = text.length > 40 ? `"${text.slice(0, 40)}…"` : `"${text}"`;
    const where = back ? "; it is back in the box" : "";
    if (reason === ActionRefusal.RATE_LIMITED) {
      this.notices.say(`Chat is rate-limited: ${quoted} was not sent${where}. Wait a moment before sending again.`, true);
    } else if (reason === ActionRefusal.TOO_LONG) {
      this.notices.say(`That message is too long: ${quoted} was not sent${where}.`, true);
    } else {
      this.notices.say(`The relay refused ${quoted}.`, true);
    }
  }

  /** The connection dropped: what was in flight may be lost, and is not waited for. */
  disconnected(): void {
    this.unconfirmed = [];
  }
}
