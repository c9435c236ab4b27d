// The role and ownership rules of SPEC.md 6.2, applied locally so that a
// request the relay would refuse is never sent. The relay stays the
// authority; this is the same table, not a second policy.

import { Role } from "./link.js";

/** An action on the session or one terminal. */
export type Action =
  | "create"
  | "input"
  | "resize"
  | "close"
  | "requestAdoption"
  | "answerAdoption"
  | "grant"
  | "revoke"
  | "takeOver"
  | "administerTunnels"
  /** Open a forward to a published port, sealed or through an HTTP tunnel: writers and admins. */
  | "forward";

/** Owner and controller of a terminal. */
export interface Control {
  owner: number;
  controller: number;
}

/** Why an action is not allowed. */
export type Refusal =
  | "ReadOnly"
  | "NotController"
  | "NotOwner"
  | "NotAdmin"
  | "UnknownTerminal"
  | "AlreadyController"
  | "UnknownParticipant";

/** `undefined` when `actor` with `role` may perform `action` on a terminal with `control`. */
export function check(role: Role, actor: number, action: Action, control?: Control): Refusal | undefined {
  if (role === Role.Reader) return "ReadOnly";
  const admin = role === Role.Admin;
  if (action === "create") return undefined;
  if (action === "administerTunnels") return admin ? undefined : "NotAdmin";
  if (action === "forward") return undefined;
  if (!control) return "UnknownTerminal";
  switch (action) {
    case "requestAdoption":
      return control.controller === actor ? "AlreadyController" : undefined;
    case "input":
    case "resize":
    case "close":
      return admin || actor === control.controller || actor === control.owner ? undefined : "NotController";
    case "answerAdoption":
    case "grant":
    case "revoke":
      return admin || actor === control.owner ? undefined : "NotOwner";
    case "takeOver":
      return admin ? undefined : "NotAdmin";
  }
}

/** `undefined` when a participant with `role` (`undefined`: not present) may be handed control (SPEC.md 6.3). */
export function mayControl(role: Role | undefined): Refusal | undefined {
  if (role === undefined) return "UnknownParticipant";
  return role === Role.Reader ? "ReadOnly" : undefined;
}
