// The host's published ports, one link each. A link opens the port's HTTP
// tunnel through the relay in a new tab (`noopener noreferrer`), once the
// page is signed in to the session's tunnels (tunnels.ts); a reader link
// sees the ports but no links, and why.

import type { SignInPhase } from "../tunnels.js";
import { el } from "./dom.js";

/** Where the relay serves the session's tunnels (the cookie's path). */
export function tunnelBase(sessionId: string): string {
  return `/t/${sessionId}/`;
}

/** Where the relay serves `port` of the host's machine. */
export function portHref(sessionId: string, port: number): string {
  return `${tunnelBase(sessionId)}p/${port}/`;
}

/** What this page may do with the ports. */
export type PortAccess =
  | { kind: "reader" }
  | { kind: "offline" }
  | { kind: "signIn"; phase: SignInPhase; ready: boolean; why: string };

/** What each section shows now: it is rebuilt only when that changes, so a click in progress is never lost to a re-render. */
const shown = new WeakMap<HTMLElement, string>();

/** Fill the ports section: hidden when nothing is published. */
export function renderPorts(section: HTMLElement, ports: readonly number[], sessionId: string, access: PortAccess): void {
  // A renewal in progress changes nothing on screen while the cookie works.
  const key = JSON.stringify([ports, sessionId, access.kind === "signIn" && access.ready ? "ready" : access]);
  if (shown.get(section) === key) return;
  shown.set(section, key);
  section.hidden = ports.length === 0;
  const list = el("ul", "ports");
  list.id = "ports";
  const ready = access.kind === "signIn" && access.ready;
  for (const port of ports) {
    const li = el("li");
    li.dataset.port = String(port);
    const name = `localhost:${port}`;
    if (ready) {
      const a = el("a", "port", name);
      a.href = portHref(sessionId, port);
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.title = `Open port ${port} of the host's machine in a new tab, through the relay`;
      li.append(a, el("span", "meta", "new tab"));
    } else {
      li.append(el("span", "port unavailable", name), el("span", "meta", unavailable(access)));
    }
    list.append(li);
  }
  const note = el("p", access.kind === "signIn" && access.phase === "failed" && !ready ? "meta bad" : "meta", noteText(access, ready));
  note.id = "ports-note";
  section.replaceChildren(el("h2", "", "Ports"), list, note);
}

function unavailable(access: PortAccess): string {
  switch (access.kind) {
    case "reader":
      return "writers and admins only";
    case "offline":
      return "not connected";
    case "signIn":
      return access.phase === "failed" ? "not available" : "signing in…";
  }
}

function noteText(access: PortAccess, ready: boolean): string {
  if (access.kind === "reader") return "Published by the host for writers and admins: a reader link cannot open them.";
  if (access.kind === "offline") return "Links come back once the page is connected.";
  if (!ready && access.phase === "failed") return `Could not sign in to the tunnels (${access.why}); trying again shortly.`;
  return "The host's local servers, through the relay. Unlike the terminals, this traffic is not end-to-end encrypted: the relay sees it.";
}
