// The participant machine driven by hand-made relay messages, in a virtual
// clock. The transcript reuses vector crypto/schedule-1, so the machine's
// proof and sealed keystrokes are checked byte for byte against SPEC.md.

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Direction, decodeFrame, encodeControl } from "../src/frame.js";
import { AgentState, ControlSchema, RefusalReason, SealedRecordSchema } from "../src/gen/taiku_pb.js";
import { parseLink, Role } from "../src/link.js";
import { KeySchedule } from "../src/schedule.js";
import { StreamSealer } from "../src/stream.js";
import { DEFAULT_CONFIG, HELD_INPUT_BYTES, MAX_LAYOUT_TILES, Participant, type ParticipantEvent, type Transmit } from "../src/participant.js";
import { field, hex, toHex, vectors } from "./spec.js";

const v = vectors().get("crypto/schedule-1");
if (!v) throw new Error("SPEC.md lacks crypto/schedule-1");
const run = vectors().get("session/input-run-1");
if (!run) throw new Error("SPEC.md lacks session/input-run-1");

/** The host's input ticket of vector session/input-run-1, for participant `id`. */
function ticket(id: number): Uint8Array {
  return control({ case: "inputTicket", value: { participantId: id, ticket: hex(field(run!, "ticket")) } });
}

function control(body: MessageInitShape<typeof ControlSchema>["body"]): Uint8Array {
  return encodeControl(create(ControlSchema, { body }));
}

function drain<T>(poll: () => T | undefined): T[] {
  const out: T[] = [];
  for (let x = poll(); x !== undefined; x = poll()) out.push(x);
  return out;
}

function participant(role: "reader" | "writer"): Participant {
  const link = parseLink(field(v!, `${role}_link`));
  // The input epoch of the vector, so sealed keystrokes match it.
  const random = (n: number) => hex(field(v!, "input_epoch")).slice(0, n);
  return new Participant(link.role, link.secret, link.sessionId, DEFAULT_CONFIG, random);
}

function sent(p: Participant): Uint8Array[] {
  return drain(() => p.pollTransmit()).map((t: Transmit) => {
    assert.equal(t.type, "send");
    return t.type === "send" ? t.frame : new Uint8Array();
  });
}

function join(p: Participant, id: number, role: number): void {
  p.connect(0);
  const [request] = sent(p);
  const decoded = decodeFrame(request ?? new Uint8Array());
  assert.ok(decoded.type === "control" && decoded.control.body.case === "joinRequest");
  assert.equal(decoded.control.body.value.sessionId, field(v!, "session_id"));
  p.handleMessage(control({ case: "challenge", value: { nonce: hex(field(v!, "challenge")) } }), 1);
  const [proof] = sent(p);
  const name = role === 1 ? "reader" : "writer";
  assert.equal(
    toHex(proof ?? new Uint8Array()),
    toHex(control({ case: "joinProof", value: { role, signature: hex(field(v!, `${name}_proof`)) } })),
  );
  p.handleMessage(
    control({ case: "joinResult", value: { outcome: { case: "accepted", value: { participantId: id, role, hostOnline: true } } } }),
    2,
  );
  p.handleMessage(control({ case: "terminalOpened", value: { terminalId: 1, owner: 0, rows: 24, cols: 80, label: "sh" } }), 3);
}

function replayVectorOutput(p: Participant): ParticipantEvent[] {
  p.handleMessage(
    control({
      case: "replayStart",
      value: { terminalId: 1, runs: [{ epoch: hex(field(v!, "output_epoch")), firstSeq: 0n, frameCount: 2 }], complete: true },
    }),
    4,
  );
  p.handleMessage(hex(field(v!, "output_frame")), 5);
  p.handleMessage(hex(field(v!, "end_frame")), 6);
  // The same frame again is a replay: refused, nothing shown twice.
  p.handleMessage(hex(field(v!, "output_frame")), 7);
  return drain(() => p.pollEvent());
}

test("a writer joins with the SPEC proof, reads the replay and types once handed control", () => {
  const p = participant("writer");
  join(p, 2, 2);
  const events = replayVectorOutput(p);
  assert.deepEqual(
    events.map((e) => e.type),
    ["joined", "terminalOpened", "output", "streamError"],
  );
  const output = events.find((e) => e.type === "output");
  assert.equal(output?.type === "output" && toHex(output.bytes), field(v!, "output_plaintext"));
  const error = events.at(-1);
  assert.equal(error?.type === "streamError" && error.error, "AfterEnd");

  // The host owns terminal 1: typing is refused locally, nothing is sent.
  assert.deepEqual(p.sendInput(1, new TextEncoder().encode("ls\r")), { kind: "Refused", refusal: "NotController" });
  assert.deepEqual(sent(p), []);
  assert.equal(p.requestAdoption(1), undefined);
  const [ask] = sent(p);
  assert.equal(toHex(ask ?? new Uint8Array()), toHex(control({ case: "adoptionRequest", value: { terminalId: 1 } })));

  p.handleMessage(
    control({ case: "controlChanged", value: { terminalId: 1, owner: 0, controller: 2, reason: 2, requester: 2 } }),
    8,
  );
  // Typed before the host's ticket arrives: kept, then sent in a run that
  // opens with the ticket (SPEC.md 10.3).
  assert.equal(p.sendInput(1, hex(field(run!, "input_plaintext"))), undefined);
  assert.deepEqual(sent(p), []);
  p.handleMessage(ticket(2), 9);
  assert.deepEqual(sent(p).map(toHex), [field(run!, "run_start_frame"), field(run!, "data_frame")]);
  assert.deepEqual(p.requestAdoption(1), { kind: "Refused", refusal: "AlreadyController" });
});

test("a reader reads the same output but may not type or ask for control", () => {
  const p = participant("reader");
  join(p, 3, 1);
  const output = replayVectorOutput(p).find((e) => e.type === "output");
  assert.equal(output?.type === "output" && toHex(output.bytes), field(v!, "output_plaintext"));
  assert.deepEqual(p.sendInput(1, new Uint8Array([0x6c])), { kind: "Refused", refusal: "ReadOnly" });
  assert.deepEqual(p.requestAdoption(1), { kind: "Refused", refusal: "ReadOnly" });
  assert.deepEqual(sent(p), []);
});

test("live output with no replay plan starts the run where it is", () => {
  const p = participant("reader");
  join(p, 3, 1);
  drain(() => p.pollEvent());
  // Without a replay plan, the first live frame starts the run anywhere.
  p.handleMessage(hex(field(v!, "output_frame")), 4);
  assert.deepEqual(drain(() => p.pollEvent()).map((e) => e.type), ["output"]);
});

test("a refused join, a relay error and a malformed frame are reported", () => {
  const p = participant("writer");
  p.connect(0);
  sent(p);
  p.handleMessage(control({ case: "joinResult", value: { outcome: { case: "refused", value: RefusalReason.DENIED } } }), 1);
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "denied", reason: RefusalReason.DENIED }]);

  p.handleMessage(hex("0101818040"), 2);
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "protocolError", error: "FrameTooLong" }]);
  assert.deepEqual(drain(() => p.pollTransmit()), [{ type: "close" }]);
});

test("keep-alive pings follow the virtual clock and pings are answered", () => {
  const p = participant("reader");
  join(p, 3, 1);
  sent(p);
  assert.equal(p.pollTimeout(), 2 + DEFAULT_CONFIG.keepaliveMs);
  p.handleTimeout(1000);
  assert.deepEqual(sent(p), []);
  p.handleTimeout(2 + DEFAULT_CONFIG.keepaliveMs);
  assert.deepEqual(sent(p).map(toHex), [toHex(control({ case: "ping", value: { nonce: 1n } }))]);
  p.handleMessage(control({ case: "ping", value: { nonce: 7n } }), 5);
  assert.deepEqual(sent(p).map(toHex), [toHex(control({ case: "pong", value: { nonce: 7n } }))]);
});

test("the session ending stops the machine", () => {
  const p = participant("reader");
  join(p, 3, 1);
  p.handleMessage(control({ case: "sessionEnded", value: { reason: 1 } }), 5);
  assert.ok(p.ended);
  assert.equal(p.pollTimeout(), undefined);
  p.connect(6);
  assert.deepEqual(sent(p), []);
});

test("an admin's take-over and tunnel change are signed as vector session/admin-action-1", () => {
  const adminVector = vectors().get("session/admin-action-1");
  if (!adminVector) throw new Error("SPEC.md lacks session/admin-action-1");
  const link = parseLink(field(v!, "admin_link"));
  const p = new Participant(link.role, link.secret, link.sessionId, DEFAULT_CONFIG, (n) => new Uint8Array(n));
  p.connect(0);
  p.handleMessage(
    control({ case: "joinResult", value: { outcome: { case: "accepted", value: { participantId: 3, role: 3, hostOnline: true } } } }),
    1,
  );
  p.handleMessage(control({ case: "terminalOpened", value: { terminalId: 1, owner: 0, rows: 24, cols: 80, label: "sh" } }), 2);
  sent(p);
  // No ticket yet: nothing can be signed.
  assert.deepEqual(p.takeOver(1), { kind: "NotReady" });
  p.handleMessage(control({ case: "inputTicket", value: { participantId: 3, ticket: hex(field(adminVector, "ticket")) } }), 3);
  assert.equal(p.takeOver(1), undefined);
  const signature = (name: string) => hex(field(adminVector, `${name}_signature`));
  assert.deepEqual(sent(p).map(toHex), [
    toHex(control({ case: "takeOver", value: { terminalId: 1, counter: 1n, signature: signature("take_over") } })),
  ]);
  // The next action has the next counter: the vector's tunnel change is
  // at counter 1, so a fresh participant signs it.
  const q = new Participant(link.role, link.secret, link.sessionId, DEFAULT_CONFIG, (n) => new Uint8Array(n));
  q.connect(0);
  q.handleMessage(
    control({ case: "joinResult", value: { outcome: { case: "accepted", value: { participantId: 3, role: 3, hostOnline: true } } } }),
    1,
  );
  q.handleMessage(control({ case: "inputTicket", value: { participantId: 3, ticket: hex(field(adminVector, "ticket")) } }), 2);
  sent(q);
  assert.equal(q.administerTunnel(3000, true), undefined);
  assert.deepEqual(sent(q).map(toHex), [
    toHex(control({ case: "tunnelAdmin", value: { port: 3000, enable: true, counter: 1n, signature: signature("tunnel") } })),
  ]);
});

test("a connection silent for the liveness timeout is closed (SPEC.md 12.2)", () => {
  const p = participant("reader");
  join(p, 3, 1);
  // The last message arrived at 3; pings are due from 2 + 30 s.
  assert.equal(p.pollTimeout(), 30_002);
  p.handleTimeout(30_002);
  assert.equal(sent(p).length, 1, "a ping");
  assert.equal(p.pollTimeout(), 60_002);
  p.handleTimeout(60_002);
  assert.equal(sent(p).length, 1, "a second ping, unanswered");
  assert.equal(p.pollTimeout(), 60_003);
  p.handleTimeout(60_003);
  assert.deepEqual(drain(() => p.pollTransmit()), [{ type: "close" }]);
  assert.equal(p.pollTimeout(), undefined);
  // Something that arrives in time keeps it open.
  const q = participant("reader");
  join(q, 3, 1);
  q.handleMessage(control({ case: "pong", value: { nonce: 1n } }), 50_000);
  q.handleTimeout(60_003);
  assert.ok(drain(() => q.pollTransmit()).every((t) => t.type !== "close"));
  assert.equal(q.pollTimeout(), 90_003);
});

test("agent status and snapshots open under their own terminal's keys only", () => {
  const admin = new KeySchedule(Role.Admin, hex(field(v!, "admin_secret")), field(v!, "session_id"));
  const p = participant("reader");
  join(p, 3, 1);
  p.handleMessage(control({ case: "terminalOpened", value: { terminalId: 2, owner: 0, rows: 24, cols: 80, label: "sh" } }), 3);
  drain(() => p.pollEvent());

  const record = toBinary(
    SealedRecordSchema,
    create(SealedRecordSchema, { body: { case: "agentStatus", value: { agent: "coder", state: AgentState.THINKING, detail: "tests" } } }),
  );
  const status = StreamSealer.create(admin, 1, Direction.Status, 0, new Uint8Array(16).fill(7));
  assert.ok(status);
  const frame = status.seal(record);
  // The same frame relabelled for terminal 2 does not open: status is bound to its terminal.
  const moved = frame.slice();
  moved[6] = 2; // terminal id, last byte (prefix is 3 bytes here)
  p.handleMessage(moved, 4);
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "streamError", term: 2, direction: Direction.Status, error: "Forged" }]);
  assert.equal(p.view.terminals.get(2)?.agent, undefined);
  p.handleMessage(frame, 5);
  const want = { agent: "coder", state: AgentState.THINKING, detail: "tests" };
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "agentStatus", term: 1, status: want }]);
  assert.deepEqual(p.view.terminals.get(1)?.agent, want);

  // A notice in the same run is news from terminal 1; the status stays.
  const notice = toBinary(SealedRecordSchema, create(SealedRecordSchema, { body: { case: "notice", value: { text: "tests pass" } } }));
  const noticeFrame = status.seal(notice);
  p.handleMessage(noticeFrame, 5);
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "notice", term: 1, text: "tests pass" }]);
  assert.deepEqual(p.view.terminals.get(1)?.agent, want);
  // Replayed by the relay: the frame read last is taken silently, and no
  // notice is news twice; a run that a notice opens is not news either.
  p.handleMessage(noticeFrame, 5);
  assert.deepEqual(drain(() => p.pollEvent()), []);
  const other = StreamSealer.create(admin, 1, Direction.Status, 0, new Uint8Array(16).fill(8));
  assert.ok(other);
  p.handleMessage(other.seal(notice), 5);
  assert.deepEqual(drain(() => p.pollEvent()), []);
  // A label from the host.
  p.handleMessage(control({ case: "terminalLabel", value: { terminalId: 2, label: "api server" } }), 5);
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "terminalLabeled", term: 2 }]);
  assert.equal(p.view.terminals.get(2)?.label, "api server");

  // A snapshot resets the screen; output it already reflects is skipped.
  const snap = toBinary(
    SealedRecordSchema,
    create(SealedRecordSchema, {
      body: { case: "snapshot", value: { outputEpoch: hex(field(v!, "output_epoch")), outputSeq: 1n, rows: 24, cols: 80, screen: new TextEncoder().encode("hi") } },
    }),
  );
  const snapshots = StreamSealer.create(admin, 1, Direction.Snapshot, 3, new Uint8Array(16).fill(9));
  assert.ok(snapshots);
  const snapFrame = snapshots.seal(snap);
  p.handleMessage(snapFrame, 6);
  p.handleMessage(hex(field(v!, "output_frame")), 7);
  const events = drain(() => p.pollEvent());
  assert.deepEqual(events.map((e) => e.type), ["snapshot"]);
  // The same snapshot again is a replay.
  p.handleMessage(snapFrame, 8);
  assert.deepEqual(drain(() => p.pollEvent()), [{ type: "streamError", term: 1, direction: Direction.Snapshot, error: "Replayed" }]);
});

function hostSealer(direction: Direction, epoch: number): StreamSealer {
  const admin = new KeySchedule(Role.Admin, hex(field(v!, "admin_secret")), field(v!, "session_id"));
  const s = StreamSealer.create(admin, 1, direction, 0, new Uint8Array(16).fill(epoch));
  assert.ok(s);
  return s;
}

/** A reader joined to the vector's session, its join events drained. */
function joinedReader(): Participant {
  const p = participant("reader");
  join(p, 3, 1);
  drain(() => p.pollEvent());
  return p;
}

/** Run a (one frame, then FIN) and a sealer for run b, of terminal 1's output. */
function twoRuns() {
  const a = hostSealer(Direction.Output, 0xa);
  const a0 = a.seal(new TextEncoder().encode("a0"));
  return { a0, aEnd: a.finish(), b: hostSealer(Direction.Output, 0xb) };
}

function errorsOf(events: ParticipantEvent[]): string[] {
  return events.flatMap((e) => (e.type === "streamError" ? [e.error] : []));
}

function outputsOf(events: ParticipantEvent[]): string[] {
  return events.flatMap((e) => (e.type === "output" ? [new TextDecoder().decode(e.bytes)] : []));
}

test("a finished run cannot be replayed as a new one", () => {
  const p = joinedReader();
  const { a0, aEnd, b } = twoRuns();
  for (const f of [a0, aEnd, b.seal(new TextEncoder().encode("b0")), b.finish(), a0]) p.handleMessage(f, 4);
  const events = drain(() => p.pollEvent());
  assert.deepEqual(outputsOf(events), ["a0", "b0"]);
  assert.deepEqual(errorsOf(events), ["Replayed"]);
});

test("only the first replayed run may begin anywhere", () => {
  const p = joinedReader();
  const a = hostSealer(Direction.Output, 0xa);
  const aFrames = [0, 1, 2, 3, 4].map((i) => a.seal(new TextEncoder().encode(`a${i}`)));
  const b = hostSealer(Direction.Output, 0xb);
  const bFrames = [0, 1, 2].map((i) => b.seal(new TextEncoder().encode(`b${i}`)));
  const run = (epoch: number, firstSeq: bigint, frameCount: number) => ({ epoch: new Uint8Array(16).fill(epoch), firstSeq, frameCount });
  p.handleMessage(control({ case: "replayStart", value: { terminalId: 1, runs: [run(0xa, 3n, 2), run(0xb, 2n, 1)] } }), 4);
  for (const f of [aFrames[3], aFrames[4], bFrames[2]]) p.handleMessage(f ?? new Uint8Array(), 5);
  const events = drain(() => p.pollEvent());
  assert.deepEqual(outputsOf(events), ["a3", "a4"]);
  assert.deepEqual(errorsOf(events), ["NotAtStart"]);
});

test("status runs change only on success and never go back", () => {
  const p = joinedReader();
  const record = (agent: string) =>
    toBinary(SealedRecordSchema, create(SealedRecordSchema, { body: { case: "agentStatus", value: { agent, state: AgentState.RUNNING } } }));
  const s1 = hostSealer(Direction.Status, 1);
  const s2 = hostSealer(Direction.Status, 2);
  const old = s1.seal(record("old"));
  const new0 = s2.seal(record("new"));
  const new1 = s2.seal(record("newer"));
  const forged = hostSealer(Direction.Status, 3).seal(record("x"));
  forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
  for (const f of [old, new0, forged, new1, old]) p.handleMessage(f, 4);
  const events = drain(() => p.pollEvent());
  const agents = events.flatMap((e) => (e.type === "agentStatus" && e.status ? [e.status.agent] : []));
  assert.deepEqual(agents, ["old", "new", "newer"]);
  assert.deepEqual(errorsOf(events), ["Forged", "Replayed"]);
});

test("after a refused keystroke, or a host resume, input starts a new run", () => {
  const epochs = [1, 2, 3, 4].map((n) => new Uint8Array(16).fill(n));
  const link = parseLink(field(v!, "writer_link"));
  const p = new Participant(link.role, link.secret, link.sessionId, DEFAULT_CONFIG, () => epochs.shift() ?? new Uint8Array(16));
  join(p, 2, 2);
  p.handleMessage(control({ case: "controlChanged", value: { terminalId: 1, owner: 0, controller: 2, reason: 5 } }), 4);
  p.handleMessage(ticket(2), 4);
  const header = (frame: Uint8Array | undefined) => {
    const d = decodeFrame(frame ?? new Uint8Array());
    assert.ok(d.type === "sealed");
    return [d.sealed.header.epoch[0], d.sealed.header.seq];
  };
  const typed = (text: string) => {
    assert.equal(p.sendInput(1, new TextEncoder().encode(text)), undefined);
    return sent(p).map(header);
  };
  // Each run opens with its run start at seq 0.
  assert.deepEqual([...typed("a"), ...typed("b")], [[1, 0n], [1, 1n], [1, 2n]]);
  // Refused: the next keystroke opens run 2 at seq 0.
  p.handleMessage(control({ case: "refused", value: { action: 0x102, terminalId: 1, reason: 13 } }), 5);
  assert.deepEqual(typed("c"), [[2, 0n], [2, 1n]]);
  // A refusal of something else changes nothing.
  p.handleMessage(control({ case: "refused", value: { action: 30, terminalId: 1, reason: 12 } }), 6);
  assert.deepEqual(typed("d"), [[2, 2n]]);
  // The host went away and came back: run 3.
  p.handleMessage(control({ case: "hostStatus", value: { online: false, graceRemainingMs: 1000n } }), 7);
  p.handleMessage(control({ case: "hostStatus", value: { online: true } }), 8);
  assert.deepEqual(typed("e"), [[3, 0n], [3, 1n]]);
  // A ticket for somebody else changes nothing; a new ticket of its own
  // starts run 4.
  p.handleMessage(
    control({ case: "inputTicket", value: { participantId: 2, ticket: new Uint8Array(16).fill(9) } }),
    9,
  );
  assert.deepEqual(typed("f"), [[4, 0n], [4, 1n]]);
  p.handleMessage(control({ case: "inputTicket", value: { participantId: 5, ticket: new Uint8Array(16) } }), 10);
  assert.deepEqual(typed("g"), [[4, 2n]]);
});

test("a replay nobody asked for is ignored", () => {
  const p = joinedReader();
  const { a0, aEnd, b } = twoRuns();
  const replayA = control({
    case: "replayStart",
    value: { terminalId: 1, runs: [{ epoch: new Uint8Array(16).fill(0xa), firstSeq: 0n, frameCount: 2 }], complete: true },
  });
  for (const f of [a0, aEnd, b.seal(new TextEncoder().encode("b0")), replayA, a0]) p.handleMessage(f, 4);
  let events = drain(() => p.pollEvent());
  assert.deepEqual(outputsOf(events), ["a0", "b0"]);
  assert.deepEqual(errorsOf(events), ["WrongEpoch"]);

  assert.equal(p.requestHistory(1), undefined);
  assert.deepEqual(sent(p).map(toHex), [toHex(control({ case: "historyRequest", value: { terminalId: 1 } }))]);
  for (const f of [replayA, a0, aEnd]) p.handleMessage(f, 5);
  events = drain(() => p.pollEvent());
  assert.deepEqual(outputsOf(events), ["a0"]);
  assert.deepEqual(errorsOf(events), []);
});

test("a new name is announced, cut to its limit, and used on rejoin", () => {
  const p = joinedReader();
  assert.equal(p.setProfile("ana".repeat(30), "tablet"), undefined);
  const [frame] = sent(p);
  const d = decodeFrame(frame ?? new Uint8Array());
  assert.ok(d.type === "control" && d.control.body.case === "presence");
  assert.equal(d.control.body.value.profile?.name, "ana".repeat(21) + "a");
  assert.equal(p.view.peers.get(3)?.name.length, 64);
  p.handleDisconnect(6);
  p.connect(7);
  const [request] = sent(p);
  const r = decodeFrame(request ?? new Uint8Array());
  assert.ok(r.type === "control" && r.control.body.case === "joinRequest");
  assert.deepEqual([r.control.body.value.profile?.name.length, r.control.body.value.profile?.deviceLabel], [64, "tablet"]);
  assert.equal(DEFAULT_CONFIG.name, "guest", "the shared defaults are not changed");
});

test("hand-offs follow the ownership table", () => {
  const p = participant("writer");
  join(p, 2, 2);
  p.handleMessage(control({ case: "terminalOpened", value: { terminalId: 2, owner: 2, rows: 24, cols: 80, label: "mine" } }), 4);
  const joined = (participantId: number, role: number) =>
    control({ case: "presence", value: { participantId, role, state: 1, profile: { name: `p${participantId}`, deviceLabel: "" } } });
  p.handleMessage(joined(5, 2), 4);
  p.handleMessage(joined(6, 1), 4);
  sent(p);
  // Only writers and admins who are present may be handed control.
  assert.deepEqual(p.grant(2, 6), { kind: "Refused", refusal: "ReadOnly" });
  assert.deepEqual(p.grant(2, 7), { kind: "Refused", refusal: "UnknownParticipant" });
  // The writer owns terminal 2: it may hand it over and take it back.
  assert.equal(p.grant(2, 5), undefined);
  assert.equal(p.revoke(2), undefined);
  assert.deepEqual(sent(p).map(toHex), [
    toHex(control({ case: "controlGrant", value: { terminalId: 2, grantee: 5 } })),
    toHex(control({ case: "controlRevoke", value: { terminalId: 2 } })),
  ]);
  // Not the host's terminal 1, and never a take-over without the admin role.
  assert.deepEqual(p.grant(1, 5), { kind: "Refused", refusal: "NotOwner" });
  assert.deepEqual(p.revoke(1), { kind: "Refused", refusal: "NotOwner" });
  assert.deepEqual(p.takeOver(1), { kind: "Refused", refusal: "NotAdmin" });
  assert.deepEqual(sent(p), []);
});

test("keys typed while control is pending go out whole or not at all (SPEC.md 11.2)", () => {
  const p = participant("writer");
  join(p, 2, 2);
  replayVectorOutput(p);
  const held = (events: ParticipantEvent[]) => events.filter((e) => e.type === "heldInput");
  const line = new TextEncoder().encode("echo abc\r");
  // Denied: nothing of it is sent.
  assert.equal(p.requestAdoption(1), undefined);
  sent(p);
  assert.equal(p.sendInput(1, line), undefined);
  assert.deepEqual(sent(p), []);
  p.handleMessage(
    control({ case: "controlChanged", value: { terminalId: 1, owner: 0, controller: 0, reason: 3, requester: 2 } }),
    5,
  );
  assert.deepEqual(held(drain(() => p.pollEvent())), [{ type: "heldInput", term: 1, len: 9, sent: false }]);
  p.handleMessage(ticket(2), 6);
  assert.deepEqual(sent(p), []);
  // Held keys are bounded.
  assert.equal(p.requestAdoption(1), undefined);
  sent(p);
  assert.deepEqual(p.sendInput(1, new Uint8Array(HELD_INPUT_BYTES + 1)), { kind: "Backlog" });
  // Approved: all of it, in one run.
  assert.equal(p.sendInput(1, line), undefined);
  assert.deepEqual(sent(p), []);
  p.handleMessage(
    control({ case: "controlChanged", value: { terminalId: 1, owner: 0, controller: 2, reason: 2, requester: 2 } }),
    7,
  );
  assert.deepEqual(held(drain(() => p.pollEvent())), [{ type: "heldInput", term: 1, len: 9, sent: true }]);
  // The run start and one data frame with the whole line.
  assert.equal(sent(p).length, 2);
});

test("a layout is sent only while joined and within MAX_LAYOUT_TILES; others' layouts and focus are news", () => {
  const p = participant("reader");
  assert.deepEqual(p.layout([]), { kind: "NotJoined" });
  join(p, 4, Role.Reader);
  sent(p);
  drain(() => p.pollEvent());
  const tiles = Array.from({ length: MAX_LAYOUT_TILES + 1 }, (_, i) => ({ terminalId: i + 1, x: i, y: 0, w: 1, h: 1 }));
  assert.deepEqual(p.layout(tiles), { kind: "TooLong" });
  assert.deepEqual(sent(p), []);
  assert.equal(p.layout(tiles.slice(0, 2)), undefined);
  const [frame] = sent(p);
  const d = decodeFrame(frame ?? new Uint8Array());
  assert.ok(d.type === "control" && d.control.body.case === "layout");
  assert.deepEqual(
    d.control.body.value.tiles.map((t) => [t.terminalId, t.x, t.y, t.w, t.h]),
    [
      [1, 0, 0, 1, 1],
      [2, 1, 0, 1, 1],
    ],
  );
  p.handleMessage(control({ case: "presence", value: { participantId: 7, role: 2, state: 1, profile: { name: "ana", deviceLabel: "" } } }), 10);
  drain(() => p.pollEvent());
  p.handleMessage(control({ case: "layout", value: { participantId: 7, tiles: [{ terminalId: 1, x: 0, y: 0, w: 1, h: 1 }] } }), 11);
  p.handleMessage(control({ case: "focus", value: { participantId: 7, terminalId: 1 } }), 12);
  assert.deepEqual(drain(() => p.pollEvent()), [
    { type: "presence", id: 7 },
    { type: "presence", id: 7 },
  ]);
  assert.equal(p.view.peers.get(7)?.focus, 1);
  assert.equal(p.view.peers.get(7)?.layout.length, 1);
});

test("a chat line carries its age, clamped to a day", () => {
  const p = participant("reader");
  join(p, 4, Role.Reader);
  drain(() => p.pollEvent());
  p.handleMessage(control({ case: "chat", value: { from: 0, seq: 1n, text: "old", ageMs: 90_000n } }), 10);
  p.handleMessage(control({ case: "chat", value: { from: 0, seq: 2n, text: "ancient", ageMs: 10n ** 15n } }), 11);
  p.handleMessage(control({ case: "chat", value: { from: 0, seq: 3n, text: "live" } }), 12);
  assert.deepEqual(
    p.view.chat.map((l) => [l.text, l.ageMs]),
    [
      ["old", 90_000],
      ["ancient", 86_400_000],
      ["live", 0],
    ],
  );
});

/** A snapshot of terminal 1 at output position (`outEpoch`, `seq`), under a fresh snapshot epoch. */
function snapshotAt(snapEpoch: number, outEpoch: number, seq: bigint): Uint8Array {
  const record = toBinary(
    SealedRecordSchema,
    create(SealedRecordSchema, {
      body: { case: "snapshot", value: { outputEpoch: new Uint8Array(16).fill(outEpoch), outputSeq: seq, rows: 24, cols: 80, screen: new TextEncoder().encode("screen") } },
    }),
  );
  return hostSealer(Direction.Snapshot, snapEpoch).seal(record);
}

test("a snapshot lets reading skip forward to its exact position only (SPEC.md 6.7)", () => {
  const p = joinedReader();
  const a = hostSealer(Direction.Output, 0xa);
  const frames = Array.from({ length: 10 }, (_, i) => a.seal(new TextEncoder().encode(`f${i}`)));
  for (const i of [0, 1, 2, 6]) p.handleMessage(frames[i]!, 4);
  let events = drain(() => p.pollEvent());
  // Without the host's snapshot a gap is refused.
  assert.deepEqual(outputsOf(events), ["f0", "f1", "f2"]);
  assert.deepEqual(errorsOf(events), ["Gap"]);
  p.handleMessage(snapshotAt(0x60, 0xa, 8n), 5);
  for (const i of [6, 8, 9]) p.handleMessage(frames[i]!, 6);
  events = drain(() => p.pollEvent());
  assert.deepEqual(outputsOf(events), ["f8", "f9"]);
  assert.deepEqual(errorsOf(events), ["Gap"]);
  assert.deepEqual(
    events.filter((e) => e.type === "resynced"),
    [{ type: "resynced", term: 1, skipped: 5n }],
  );
  // Not back within the run: a snapshot at frame 3, then frame 3 again.
  p.handleMessage(snapshotAt(0x61, 0xa, 3n), 7);
  p.handleMessage(frames[3]!, 8);
  events = drain(() => p.pollEvent());
  assert.deepEqual(outputsOf(events), []);
  assert.deepEqual(errorsOf(events), ["Reordered"]);
});
