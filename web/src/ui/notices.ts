// Notices: one passing notice (the latest thing that happened, replaced by
// the next), and lasting ones that stay until the user dismisses them
// (keys that were not sent, a connection that gave up).

import { button, el } from "./dom.js";

export interface NoticeAction {
  label: string;
  run: () => void;
}

export class Notices {
  private readonly passing: HTMLElement;
  private readonly lasting = new Map<string, HTMLElement>();

  constructor(private readonly root: HTMLElement) {
    this.passing = el("div", "notice");
    this.passing.setAttribute("role", "status");
    this.passing.hidden = true;
    root.append(this.passing);
  }

  /** The passing notice: replaces the previous one. */
  say(text: string, bad = false, action?: NoticeAction): void {
    fill(this.passing, text, action);
    this.passing.className = bad ? "notice bad" : "notice";
    this.passing.hidden = false;
  }

  /** Remove the passing notice. */
  clear(): void {
    this.passing.hidden = true;
  }

  /** A notice that stays until dismissed (or replaced under the same `key`). */
  keep(key: string, text: string, bad = true, action?: NoticeAction): void {
    this.drop(key);
    const item = el("div", bad ? "notice lasting bad" : "notice lasting");
    item.setAttribute("role", "alert");
    item.dataset.key = key;
    fill(item, text, action);
    item.append(" ", button("Dismiss", () => this.drop(key), "dismiss"));
    this.lasting.set(key, item);
    this.root.append(item);
  }

  /** Remove the lasting notice under `key`, if any. */
  drop(key: string): void {
    this.lasting.get(key)?.remove();
    this.lasting.delete(key);
  }
}

function fill(target: HTMLElement, text: string, action?: NoticeAction): void {
  target.replaceChildren(document.createTextNode(text));
  if (action) target.append(" ", button(action.label, action.run));
}
