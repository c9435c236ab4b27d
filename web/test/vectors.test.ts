// The client's wire format and crypto against every vector of SPEC.md
// section 10, so the Rust and TypeScript implementations agree byte for
// byte.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ed25519 } from "@noble/curves/ed25519.js";
import { decodeFrame, Direction, encodeControl, FrameError } from "../src/frame.js";
import { formatLink, LinkError, parseLink, Role } from "../src/link.js";
import { KeySchedule } from "../src/schedule.js";
import { OpenError, StreamOpener, StreamSealer } from "../src/stream.js";
import { field, hex, toHex, vectors } from "./spec.js";

const all = vectors();
const frames = [...all.entries()].filter(([name]) => name.startsWith("frame/"));

test("SPEC.md has the vectors this suite expects", () => {
  assert.ok(frames.length >= 15, `only ${frames.length} frame vectors`);
  assert.ok(all.has("crypto/schedule-1"));
});

for (const [name, v] of frames) {
  test(name, () => {
    const bytes = hex(field(v, "frame"));
    const error = v.get("error");
    if (error !== undefined) {
      assert.throws(
        () => decodeFrame(bytes),
        (e: unknown) => e instanceof FrameError && e.code === error,
      );
      return;
    }
    const frame = decodeFrame(bytes);
    if (frame.type === "control") {
      assert.equal(v.get("terminal"), undefined, "a control frame vector has no routing fields");
      assert.equal(toHex(encodeControl(frame.control)), toHex(bytes));
      return;
    }
    const h = frame.sealed.header;
    assert.equal(h.terminal, Number(field(v, "terminal")));
    assert.equal(Direction[h.direction].toLowerCase(), field(v, "direction"));
    assert.equal(h.fin, field(v, "fin") === "true");
    assert.equal(h.participant, Number(field(v, "participant")));
    assert.equal(toHex(h.epoch), field(v, "epoch"));
    assert.equal(h.seq, BigInt(field(v, "seq")));
    assert.equal(toHex(frame.sealed.aad), field(v, "aad"));
    assert.equal(toHex(frame.sealed.ciphertext), field(v, "ciphertext"));
  });
}

test("crypto/schedule-1: every value derives from the admin secret", () => {
  const v = all.get("crypto/schedule-1");
  assert.ok(v);
  const sid = field(v, "session_id");
  const origin = field(v, "origin");
  const admin = new KeySchedule(Role.Admin, hex(field(v, "admin_secret")), sid);
  const h = (b: Uint8Array | undefined) => toHex(b ?? new Uint8Array());

  assert.equal(h(admin.writerSecret), field(v, "writer_secret"));
  assert.equal(h(admin.readerSecret), field(v, "reader_secret"));
  assert.equal(h(admin.outputRoot), field(v, "output_root"));
  assert.equal(h(admin.inputRoot), field(v, "input_root"));
  assert.equal(h(admin.adminActionSeed()), field(v, "admin_action_seed"));
  const roles = [
    ["reader", Role.Reader],
    ["writer", Role.Writer],
    ["admin", Role.Admin],
  ] as const;
  const challenge = hex(field(v, "challenge"));
  for (const [name, role] of roles) {
    const seed = admin.signingSeedOf(role);
    assert.equal(h(seed), field(v, `${name}_seed`));
    assert.equal(h(ed25519.getPublicKey(seed ?? new Uint8Array())), field(v, `${name}_verifier`));

    // The role's own link yields the same seed, verifier and proof.
    const link = field(v, `${name}_link`);
    const parsed = parseLink(link);
    assert.deepEqual([parsed.origin, parsed.sessionId, parsed.role], [origin, sid, role]);
    assert.equal(formatLink(origin, sid, role, parsed.secret), link);
    const own = new KeySchedule(role, parsed.secret, sid);
    assert.equal(h(own.verifier()), field(v, `${name}_verifier`));
    assert.equal(h(own.prove(challenge)), field(v, `${name}_proof`));
    assert.ok(ed25519.verify(own.prove(challenge), proofTranscript(role, challenge, sid), own.verifier()));
  }

  const terminal = Number(field(v, "terminal"));
  const outEpoch = hex(field(v, "output_epoch"));
  const inEpoch = hex(field(v, "input_epoch"));
  const participant = Number(field(v, "input_participant"));
  assert.equal(h(admin.streamKey(terminal, Direction.Output, outEpoch)), field(v, "output_key"));
  assert.equal(h(admin.streamKey(terminal, Direction.Input, inEpoch)), field(v, "input_key"));

  const out = StreamSealer.create(admin, terminal, Direction.Output, 0, outEpoch);
  assert.ok(out);
  assert.equal(toHex(out.seal(hex(field(v, "output_plaintext")))), field(v, "output_frame"));
  assert.equal(toHex(out.finish()), field(v, "end_frame"));
  const input = StreamSealer.create(admin, terminal, Direction.Input, participant, inEpoch);
  assert.ok(input);
  assert.equal(toHex(input.seal(hex(field(v, "input_plaintext")))), field(v, "input_frame"));
  assert.equal(
    toHex(admin.signAdminAction(hex(field(v, "admin_action"))) ?? new Uint8Array()),
    field(v, "admin_action_signature"),
  );
});

function proofTranscript(role: Role, challenge: Uint8Array, sid: string): Uint8Array {
  const label = new TextEncoder().encode("join proof");
  const s = new TextEncoder().encode(sid);
  return Uint8Array.from([1, label.length, ...label, s.length, ...s, role, ...challenge]);
}

test("crypto/schedule-1: a reader opens the host's frames and holds no input key", () => {
  const v = all.get("crypto/schedule-1");
  assert.ok(v);
  const reader = parseLink(field(v, "reader_link"));
  const keys = new KeySchedule(Role.Reader, reader.secret, reader.sessionId);
  assert.equal(keys.writerSecret, undefined);
  assert.equal(keys.inputRoot, undefined);
  assert.equal(keys.signingSeedOf(Role.Writer), undefined);
  const terminal = Number(field(v, "terminal"));
  assert.equal(keys.streamKey(terminal, Direction.Input, hex(field(v, "input_epoch"))), undefined);

  const opener = new StreamOpener(keys, terminal, Direction.Output, "fromStart");
  const first = decodeFrame(hex(field(v, "output_frame")));
  const end = decodeFrame(hex(field(v, "end_frame")));
  assert.ok(first.type === "sealed" && end.type === "sealed");
  const opened = opener.open(first.sealed);
  assert.equal(opened.kind, "data");
  assert.equal(opened.kind === "data" && toHex(opened.bytes), field(v, "output_plaintext"));
  assert.throws(() => opener.open(first.sealed), (e: unknown) => e instanceof OpenError && e.kind === "Replayed");
  assert.deepEqual(opener.open(end.sealed), { kind: "end" });
  assert.throws(() => opener.open(end.sealed), (e: unknown) => e instanceof OpenError && e.kind === "AfterEnd");

  // The writer's input does not open under the output root.
  const input = decodeFrame(hex(field(v, "input_frame")));
  assert.ok(input.type === "sealed");
  const wrong = new StreamOpener(keys, terminal, Direction.Input, "fromStart");
  assert.throws(() => wrong.open(input.sealed), (e: unknown) => e instanceof OpenError && e.kind === "NoKey");
});

test("a tampered byte anywhere in a sealed frame is refused", () => {
  const v = all.get("crypto/schedule-1");
  assert.ok(v);
  const admin = new KeySchedule(Role.Admin, hex(field(v, "admin_secret")), field(v, "session_id"));
  const bytes = hex(field(v, "output_frame"));
  for (let i = 2; i < bytes.length; i++) {
    const copy = bytes.slice();
    copy[i] = (copy[i] ?? 0) ^ 0x01;
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(copy);
    } catch (e) {
      assert.ok(e instanceof FrameError);
      continue;
    }
    assert.ok(frame.type === "sealed");
    const opener = new StreamOpener(admin, 1, Direction.Output, "anywhere");
    assert.throws(() => opener.open(frame.sealed), OpenError, `byte ${i}`);
  }
});

test("links: each malformed form has its own error", () => {
  const good = "https://relay.example/s/spec-vector-0001#1aAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  const cases: [string, string][] = [
    ["https://relay.example/s/spec-vector-0001", "MissingFragment"],
    ["https://relay.example/x/spec-vector-0001#1a", "NotALink"],
    ["ftp://relay.example/s/spec-vector-0001#1a", "NotALink"],
    ["https://relay.example/s/short#1aAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "BadSessionId"],
    ["https://relay.example/s/spec-vector.0001#1aAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "BadSessionId"],
    [good.replace("#1a", "#2a"), "UnsupportedVersion"],
    [good.replace("#1a", "#1x"), "UnknownRole"],
    [good.slice(0, -1), "SecretLength"],
    [`${good}A`, "SecretLength"],
    [good.replace(/h8$/, "h+"), "SecretEncoding"],
    [good.replace(/h8$/, "h9"), "SecretEncoding"],
  ];
  for (const [link, kind] of cases) {
    assert.throws(
      () => parseLink(link),
      (e: unknown) => e instanceof LinkError && e.kind === kind && !e.message.includes("AAEC"),
      link,
    );
  }
  assert.equal(parseLink(good).role, Role.Admin);
});

test("link/pinned-1: a pinned link parses, keeps its pin and prints exactly", () => {
  const v = all.get("link/pinned-1");
  assert.ok(v);
  const link = parseLink(field(v, "link"));
  assert.equal(link.origin, field(v, "origin"));
  assert.equal(link.sessionId, field(v, "session_id"));
  assert.equal(link.role, Role.Writer);
  assert.equal(toHex(link.secret), field(v, "writer_secret"));
  assert.equal(toHex(link.pin ?? new Uint8Array()), field(v, "pin"));
  assert.equal(formatLink(link.origin, link.sessionId, link.role, link.secret, link.pin), field(v, "link"));
  const secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  const base = "https://relay.example/s/spec-vector-0001#1w" + secret;
  const cases: [string, string][] = [
    [`${base}.`, "PinLength"],
    [`${base}.AAEC`, "PinLength"],
    [`${base}.${secret.replace(/h8$/, "h9")}`, "PinEncoding"],
    [`${base}.${secret}.${secret}`, "PinLength"],
    [`http://127.0.0.1:8080/s/spec-vector-0001#1w${secret}.${secret}`, "PinNeedsHttps"],
  ];
  for (const [text, kind] of cases) {
    assert.throws(() => parseLink(text), (e: unknown) => e instanceof LinkError && e.kind === kind, text);
  }
});

test("links: refusals follow the order of SPEC.md 2", () => {
  const base = "https://relay.example/s/spec-vector-0001";
  const cases: [string, string][] = [
    [`${base}#`, "SecretLength"],
    [`${base}#1`, "SecretLength"],
    [`${base}#2`, "UnsupportedVersion"],
    [`${base}#1w`, "SecretLength"],
    ["https://relay.example/s/spec?vector-0001#1w", "BadSessionId"],
    ["https://user@relay.example/s/spec-vector-0001#1w", "NotALink"],
    ["https:///s/spec-vector-0001#1w", "NotALink"],
  ];
  for (const [link, kind] of cases) {
    assert.throws(() => parseLink(link), (e: unknown) => e instanceof LinkError && e.kind === kind, link);
  }
});
