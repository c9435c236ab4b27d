// Getting the user's attention when something needs them: a count in the
// tab's title, and (if the user allowed it) a browser notification, for a
// request to control one of their terminals, being handed control, an
// agent starting to wait for input or finishing, and a notice from a shell.

import { AgentState } from "../gen/taiku_pb.js";

/** The page's title with nothing to tell. */
export const TITLE = "taiku";

/** `taiku`, or `(n) taiku` when `n` things wait for the user. */
export function titleFor(count: number): string {
  return count > 0 ? `(${count}) ${TITLE}` : TITLE;
}

/**
 * Whether an agent's status change asks for the user (SPEC.md 11.4): it
 * started waiting for input, or is done.
 */
export function needsAttention(before: AgentState | undefined, after: AgentState | undefined): boolean {
  const asks = (s: AgentState | undefined) => s === AgentState.WAITING_FOR_INPUT || s === AgentState.DONE;
  return asks(after) && after !== before;
}

export class Attention {
  /** Things that happened while the user looked elsewhere. */
  private missed = 0;
  private lasting = 0;

  constructor(offer?: HTMLButtonElement) {
    const back = () => {
      if (this.looking()) {
        this.missed = 0;
        this.render();
      }
    };
    document.addEventListener("visibilitychange", back);
    window.addEventListener("focus", back);
    if (offer) {
      offer.hidden = !("Notification" in window) || Notification.permission !== "default";
      offer.addEventListener("click", () => {
        void Notification.requestPermission().then(() => {
          offer.hidden = Notification.permission !== "default";
        });
      });
    }
  }

  /** Things that wait for the user however long they look (unread chat, open requests). */
  waiting(count: number): void {
    this.lasting = count;
    this.render();
  }

  /** Something the user should know: counted in the title if they are not looking, and notified if allowed. */
  alert(title: string, body: string, tag: string): void {
    if (this.looking()) return;
    this.missed += 1;
    this.render();
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification(title, { body, tag });
      } catch {
        // Some browsers allow notifications only from a service worker.
      }
    }
  }

  private looking(): boolean {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  private render(): void {
    document.title = titleFor(this.missed + this.lasting);
  }
}
