// Published ports and HTTP tunnel credentials, in Node: what the
// participant machine keeps of `TunnelPorts`, that a credential is asked
// for only by a role that may forward and is handed out once and never
// kept, that forward frames (directions 5 and 6) are ignored, and the
// sign-in's timing (tunnels.ts) on a virtual clock.

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Direction, decodeFrame, encodeControl, encodeSealedHeader, TAG_LEN } from "../src/frame.js";
import { ActionRefusal, ControlSchema } from "../src/gen/taiku_pb.js";
import { parseLink, Role } from "../src/link.js";
import { DEFAULT_CONFIG, MAX_TUNNEL_PORTS, Participant, type ParticipantEvent, TUNNEL_CREDENTIAL_ACTION } from "../src/participant.js";
import { ASK_TIMEOUT_MS, MIN_RENEW_MS, RENEW_BEFORE_MS, RETRY_MS, type SignInDriver, TunnelSignIn } from "../src/tunnels.js";
import { portHref } from "../src/ui/ports.js";
import { field, vectors } from "./spec.js";

const v = vectors().get("crypto/schedule-1");
if (!v) throw new Error("SPEC.md lacks crypto/schedule-1");

/** 43 characters of base64url, as the relay makes them. */
const TOKEN = "q3V8s0Jm2pQk9Xw1zYt4uHc6bNf0aLe7RgDiOvKjMnS";

function control(body: MessageInitShape<typeof ControlSchema>["body"]): Uint8Array {
  return encodeControl(create(ControlSchema, { body }));
}

function drain<T>(poll: () => T | undefined): T[] {
  const out: T[] = [];
  for (let x = poll(); x !== undefined; x = poll()) out.push(x);
  return out;
}

function events(p: Participant): ParticipantEvent[] {
  return drain(() => p.pollEvent());
}

/** The control bodies `p` sent, by case. */
function sentCases(p: Participant): string[] {
  return drain(() => p.pollTransmit()).map((t) => {
    if (t.type !== "send") return "close";
    const f = decodeFrame(t.frame);
    return f.type === "control" ? (f.control.body.case ?? "") : "sealed";
  });
}

function joined(role: "reader" | "writer" | "admin", id = 2): Participant {
  const link = parseLink(field(v!, `${role}_link`));
  const p = new Participant(link.role, link.secret, link.sessionId, DEFAULT_CONFIG, (n) => new Uint8Array(n));
  p.connect(0);
  p.handleMessage(
    control({ case: "joinResult", value: { outcome: { case: "accepted", value: { participantId: id, role: link.role as number, hostOnline: true } } } }),
    1,
  );
  drain(() => p.pollTransmit());
  events(p);
  return p;
}

/** Everything the machine holds that a UI can read, as text. */
function viewText(p: Participant): string {
  return JSON.stringify(p.view, (_k, x) => (x instanceof Map ? [...x] : typeof x === "bigint" ? String(x) : x));
}

test("the published ports are kept, replaced whole, and bad lists ignored", () => {
  const p = joined("reader", 3);
  assert.deepEqual(p.view.tunnels, []);
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [3000], http: [3000] } }), 2);
  assert.deepEqual(p.view.tunnels, [3000]);
  assert.deepEqual(events(p), [{ type: "tunnelsChanged", ports: [3000] }]);

  // A new list replaces the old one; the same list again is no news.
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [3000, 8080], http: [3000, 8080] } }), 3);
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [3000, 8080], http: [3000, 8080] } }), 4);
  assert.deepEqual(p.view.tunnels, [3000, 8080]);
  assert.deepEqual(events(p), [{ type: "tunnelsChanged", ports: [3000, 8080] }]);
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [8080], http: [8080] } }), 5);
  assert.deepEqual(p.view.tunnels, [8080]);

  // Out of order, repeated, not a port, or too many: ignored whole.
  const tooMany = Array.from({ length: MAX_TUNNEL_PORTS + 1 }, (_, i) => 1000 + i);
  for (const ports of [[9000, 8000], [8080, 8080], [0, 80], [80, 65536], tooMany]) {
    p.handleMessage(control({ case: "tunnelPorts", value: { ports, http: ports } }), 6);
  }
  assert.deepEqual(p.view.tunnels, [8080]);
  assert.deepEqual(events(p).map((e) => e.type), ["tunnelsChanged"]);
  const most = Array.from({ length: MAX_TUNNEL_PORTS }, (_, i) => 1000 + i);
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: most, http: most } }), 7);
  assert.equal(p.view.tunnels.length, MAX_TUNNEL_PORTS);

  // Only the ports the relay serves as HTTP tunnels are the page's; an
  // HTTP list beyond the published one is ignored.
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [3000, 5432], http: [3000] } }), 7);
  assert.deepEqual(p.view.tunnels, [3000]);
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [3000], http: [3000, 8080] } }), 7);
  assert.deepEqual(p.view.tunnels, [3000]);

  // Everything withdrawn.
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [], http: [] } }), 8);
  assert.deepEqual(p.view.tunnels, []);

  // A new connection starts from what the relay sends after the join.
  p.handleMessage(control({ case: "tunnelPorts", value: { ports: [3000], http: [3000] } }), 9);
  p.handleDisconnect(10);
  p.connect(11);
  assert.deepEqual(p.view.tunnels, []);
});

test("the links go to the session's tunnel path of each port", () => {
  assert.equal(portHref("abcdefgh12345678", 3000), "/t/abcdefgh12345678/p/3000/");
});

test("readers may not ask for a tunnel credential; writers and admins may", () => {
  const reader = joined("reader", 3);
  assert.deepEqual(reader.mayOpenTunnels(), { kind: "Refused", refusal: "ReadOnly" });
  assert.deepEqual(reader.requestTunnelCredential(), { kind: "Refused", refusal: "ReadOnly" });
  assert.deepEqual(sentCases(reader), []);
  for (const role of ["writer", "admin"] as const) {
    const p = joined(role);
    assert.equal(p.mayOpenTunnels(), undefined);
    assert.equal(p.requestTunnelCredential(), undefined);
    assert.deepEqual(sentCases(p), ["tunnelCredentialRequest"]);
  }
  // Not joined: nothing is sent.
  const link = parseLink(field(v!, "writer_link"));
  const idle = new Participant(link.role, link.secret, link.sessionId, DEFAULT_CONFIG, (n) => new Uint8Array(n));
  assert.deepEqual(idle.requestTunnelCredential(), { kind: "NotJoined" });
  assert.equal(idle.role, Role.Writer);
});

test("a credential is handed out once, only if asked for on this connection, and never kept", () => {
  const p = joined("writer");
  const credential = control({ case: "tunnelCredential", value: { token: TOKEN, expiresInMs: 3_600_000n } });

  // Nobody asked: a relay cannot push one.
  p.handleMessage(credential, 2);
  assert.deepEqual(events(p), []);

  p.requestTunnelCredential();
  p.handleMessage(credential, 3);
  assert.deepEqual(events(p), [{ type: "tunnelCredential", token: TOKEN, expiresInMs: 3_600_000 }]);
  // One answer per request.
  p.handleMessage(credential, 4);
  assert.deepEqual(events(p), []);
  // The machine keeps nothing of it.
  assert.ok(!viewText(p).includes(TOKEN));
  assert.ok(!JSON.stringify(p, (_k, x) => (typeof x === "bigint" ? String(x) : x)).includes(TOKEN));

  // Asked on a connection that then ended: its answer is no use.
  p.requestTunnelCredential();
  p.handleDisconnect(5);
  p.connect(6);
  p.handleMessage(
    control({ case: "joinResult", value: { outcome: { case: "accepted", value: { participantId: 4, role: 2, hostOnline: true } } } }),
    7,
  );
  events(p);
  p.handleMessage(credential, 8);
  assert.deepEqual(events(p), []);

  // A refusal answers the request too.
  p.requestTunnelCredential();
  p.handleMessage(control({ case: "refused", value: { action: TUNNEL_CREDENTIAL_ACTION, terminalId: 0, reason: ActionRefusal.RATE_LIMITED } }), 9);
  assert.deepEqual(events(p), [{ type: "actionRefused", action: TUNNEL_CREDENTIAL_ACTION, term: 0, reason: ActionRefusal.RATE_LIMITED }]);
  p.handleMessage(credential, 10);
  assert.deepEqual(events(p), []);
});

test("sealed port-forward frames (directions 5 and 6) decode and are ignored", () => {
  const p = joined("writer");
  for (const direction of [Direction.ForwardUp, Direction.ForwardDown]) {
    const header = encodeSealedHeader({ terminal: 0x8000_0001, direction, fin: false, participant: 2, epoch: new Uint8Array(16).fill(7), seq: 0n }, 5);
    const frame = new Uint8Array(header.length + 5 + TAG_LEN);
    frame.set(header);
    const decoded = decodeFrame(frame);
    assert.equal(decoded.type === "sealed" && decoded.sealed.header.direction, direction);
    p.handleMessage(frame, 2);
  }
  assert.deepEqual(events(p), []);
  assert.deepEqual(sentCases(p), []);
  // Past 6 is still unknown.
  const bad = encodeSealedHeader({ terminal: 1, direction: 7 as Direction, fin: false, participant: 0, epoch: new Uint8Array(16), seq: 0n }, 0);
  p.handleMessage(Uint8Array.from([...bad, ...new Uint8Array(TAG_LEN)]), 3);
  assert.deepEqual(events(p), [{ type: "protocolError", error: "UnknownDirection(7)" }]);
});

/** A sign-in on a virtual clock, with a login the test answers. */
function harness() {
  let now = 0;
  const timers: { at: number; run: () => void; live: boolean }[] = [];
  const log = { requests: 0, logins: [] as string[], changed: 0 };
  let answer: (ok: boolean) => void = () => undefined;
  let allowed = true;
  const driver: SignInDriver = {
    request: () => {
      if (allowed) log.requests += 1;
      return allowed;
    },
    login: (token) => {
      log.logins.push(token);
      return new Promise<boolean>((resolve) => {
        answer = resolve;
      });
    },
    after: (ms, run) => {
      const t = { at: now + ms, run, live: true };
      timers.push(t);
      return () => {
        t.live = false;
      };
    },
    now: () => now,
    changed: () => {
      log.changed += 1;
    },
  };
  const signIn = new TunnelSignIn(driver);
  return {
    signIn,
    log,
    answer: async (ok: boolean) => {
      answer(ok);
      // Let the login's promise chain settle.
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
    /** Move the clock to `t`, running the timers due on the way. */
    advance: (t: number) => {
      for (;;) {
        const due = timers.filter((x) => x.live && x.at <= t).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        due.live = false;
        now = due.at;
        due.run();
      }
      now = t;
    },
    deny: () => {
      allowed = false;
    },
  };
}

test("the page signs in once links are wanted, and renews before the credential lapses", async () => {
  const h = harness();
  h.signIn.want(false);
  assert.equal(h.log.requests, 0);
  h.signIn.want(true);
  h.signIn.want(true);
  assert.equal(h.log.requests, 1, "one request at a time");
  assert.equal(h.signIn.state.phase, "asking");
  assert.equal(h.signIn.ready, false);

  h.signIn.credential(TOKEN, 3_600_000);
  assert.deepEqual(h.log.logins, [TOKEN]);
  assert.equal(h.signIn.state.phase, "loggingIn");
  assert.equal(h.signIn.ready, false, "not before the relay set the cookie");
  await h.answer(true);
  assert.equal(h.signIn.ready, true);
  // Nothing of the token stays in the sign-in.
  assert.ok(!JSON.stringify(h.signIn).includes(TOKEN));

  // Renewed a minute before it lapses; links keep working meanwhile.
  h.advance(3_600_000 - RENEW_BEFORE_MS - 1);
  assert.equal(h.log.requests, 1);
  h.advance(3_600_000 - RENEW_BEFORE_MS);
  assert.equal(h.log.requests, 2);
  assert.equal(h.signIn.ready, true);
  h.signIn.credential("second-token", 3_600_000);
  await h.answer(true);
  assert.deepEqual(h.log.logins, [TOKEN, "second-token"]);
  assert.equal(h.signIn.ready, true);

  // An unsolicited credential is not used.
  h.signIn.credential("pushed", 3_600_000);
  assert.equal(h.log.logins.length, 2);
});

test("a short-lived credential is renewed at half its life, never in a loop", async () => {
  const h = harness();
  h.signIn.want(true);
  h.signIn.credential(TOKEN, 60_000);
  await h.answer(true);
  h.advance(29_999);
  assert.equal(h.log.requests, 1);
  h.advance(30_000);
  assert.equal(h.log.requests, 2);
  h.signIn.credential(TOKEN, 0);
  await h.answer(true);
  assert.equal(h.signIn.ready, false, "a credential of no life is never ready");
  h.advance(30_000 + MIN_RENEW_MS - 1);
  assert.equal(h.log.requests, 2);
  h.advance(30_000 + MIN_RENEW_MS);
  assert.equal(h.log.requests, 3);
});

test("a failed login, a refusal or no answer is retried later; a lost connection starts over", async () => {
  const h = harness();
  h.signIn.want(true);
  h.signIn.credential(TOKEN, 3_600_000);
  await h.answer(false);
  assert.equal(h.signIn.state.phase, "failed");
  assert.equal(h.signIn.ready, false);
  h.advance(RETRY_MS - 1);
  assert.equal(h.log.requests, 1);
  h.advance(RETRY_MS);
  assert.equal(h.log.requests, 2);

  h.signIn.refused("too many messages, slow down");
  assert.deepEqual(h.signIn.state, { phase: "failed", ready: false, why: "too many messages, slow down" });
  h.advance(2 * RETRY_MS);
  assert.equal(h.log.requests, 3);
  h.advance(2 * RETRY_MS + ASK_TIMEOUT_MS);
  assert.equal(h.signIn.state.why, "no answer from the relay");

  // Signed in, then the connection drops: the cookie's credential was
  // bound to it, and a login still in flight does not count.
  h.advance(3 * RETRY_MS + ASK_TIMEOUT_MS);
  h.signIn.credential(TOKEN, 3_600_000);
  h.signIn.disconnected();
  await h.answer(true);
  assert.equal(h.signIn.ready, false);
  assert.equal(h.signIn.state.phase, "idle");
  const before = h.log.requests;
  h.signIn.want(true);
  assert.equal(h.log.requests, before + 1, "asked again on the new connection");

  // Links no longer wanted: the renewal waits until they are.
  h.signIn.credential(TOKEN, 3_600_000);
  await h.answer(true);
  h.signIn.want(false);
  h.advance(10 * 3_600_000);
  assert.equal(h.log.requests, before + 1);
  h.signIn.want(true);
  assert.equal(h.log.requests, before + 2);
});

test("nothing of the sign-in reaches storage", async () => {
  // Storage and cookies as a browser has them, recording every write.
  const writes: string[] = [];
  const storage = () => ({
    setItem: (k: string, x: string) => writes.push(`${k}=${x}`),
    getItem: () => null,
    removeItem: () => undefined,
    clear: () => undefined,
    key: () => null,
    length: 0,
  });
  const g = globalThis as Record<string, unknown>;
  const saved = { localStorage: g.localStorage, sessionStorage: g.sessionStorage, document: g.document };
  g.localStorage = storage();
  g.sessionStorage = storage();
  g.document = {
    set cookie(x: string) {
      writes.push(`cookie ${x}`);
    },
    get cookie() {
      return "";
    },
  };
  try {
    const h = harness();
    h.signIn.want(true);
    h.signIn.credential(TOKEN, 3_600_000);
    await h.answer(true);
    h.advance(3_600_000);
    h.signIn.disconnected();
    assert.deepEqual(writes, []);
  } finally {
    Object.assign(g, saved);
  }
});
