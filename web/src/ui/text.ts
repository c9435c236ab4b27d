// What the page says: link errors, roles, end and refusal reasons, agent
// states.

import { ActionRefusal, AgentState, EndReason } from "../gen/taiku_pb.js";
import { Role } from "../link.js";

export const LINK_ERRORS: Record<string, string> = {
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

export const ROLE_NAMES: Record<number, string> = { [Role.Reader]: "reader", [Role.Writer]: "writer", [Role.Admin]: "admin" };

export function endText(reason: EndReason): string {
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

export function refusalText(reason: ActionRefusal): string {
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

/** A state as SPEC.md 11.4 names it for people. */
export function agentText(state: AgentState): string {
  switch (state) {
    case AgentState.RUNNING:
      return "running";
    case AgentState.THINKING:
      return "thinking";
    case AgentState.TOOL_USE:
      return "using a tool";
    case AgentState.WAITING_FOR_INPUT:
      return "waiting for input";
    case AgentState.IDLE:
      return "idle";
    case AgentState.DONE:
      return "done";
    case AgentState.ERROR:
      return "error";
    default:
      return "unknown";
  }
}

/** `claude: waiting for input (needs review)`. */
export function agentLine(status: { agent: string; state: AgentState; detail: string }): string {
  const detail = status.detail ? ` (${status.detail})` : "";
  return plain(`${status.agent || "agent"}: ${agentText(status.state)}${detail}`);
}

/** `m:ss`. */
export function minutes(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Text from other people as shown: without the format characters that
 * reorder or hide what is around them (bidirectional overrides and
 * isolates, zero-width marks).
 */
export function plain(text: string): string {
  return text.replace(/[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g, "");
}
