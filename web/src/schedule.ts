// The key schedule (SPEC.md 4.2), join proofs (4.4) and admin actions (4.7).
// Every value is derived locally from the link's secret; nothing here is
// ever sent but the public signature.

import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Direction } from "./frame.js";
import { Role, SECRET_LEN } from "./link.js";

const SALT = new TextEncoder().encode("taiku-v1");
const VERSION_BYTE = 0x01;

/** `ctx(label, extra)` of SPEC.md 4.2. */
export function ctx(label: string, sessionId: string, extra: Uint8Array = new Uint8Array()): Uint8Array {
  const l = new TextEncoder().encode(label);
  const s = new TextEncoder().encode(sessionId);
  const out = new Uint8Array(3 + l.length + s.length + extra.length);
  out[0] = VERSION_BYTE;
  out[1] = l.length;
  out.set(l, 2);
  out[2 + l.length] = s.length;
  out.set(s, 3 + l.length);
  out.set(extra, 3 + l.length + s.length);
  return out;
}

/** `derive(ikm, label, extra)` of SPEC.md 4.2. */
export function derive(ikm: Uint8Array, label: string, sessionId: string, extra?: Uint8Array): Uint8Array {
  return hkdf(sha256, ikm, SALT, ctx(label, sessionId, extra), SECRET_LEN);
}

/**
 * Everything one link yields. A reader link has no writer or admin values;
 * nothing derives upward. `wipe()` overwrites every secret held (JavaScript
 * gives no guarantee about copies the engine made, so it is best effort).
 */
export class KeySchedule {
  readonly adminSecret?: Uint8Array;
  readonly writerSecret?: Uint8Array;
  readonly readerSecret: Uint8Array;
  readonly outputRoot: Uint8Array;
  readonly inputRoot?: Uint8Array;
  /** The signing seed of the link's own role. */
  readonly signingSeed: Uint8Array;

  constructor(
    readonly role: Role,
    secret: Uint8Array,
    readonly sessionId: string,
  ) {
    if (secret.length !== SECRET_LEN) throw new RangeError("secret must be 32 bytes");
    const own = secret.slice();
    if (role === Role.Admin) {
      this.adminSecret = own;
      this.writerSecret = derive(own, "writer secret", sessionId);
    } else if (role === Role.Writer) {
      this.writerSecret = own;
    }
    this.readerSecret = this.writerSecret
      ? derive(this.writerSecret, "reader secret", sessionId)
      : own;
    this.outputRoot = derive(this.readerSecret, "output root", sessionId);
    if (this.writerSecret) this.inputRoot = derive(this.writerSecret, "input root", sessionId);
    this.signingSeed = derive(own, "auth", sessionId, Uint8Array.of(role));
  }

  /** The secret of `role`, if this link holds it (its own or a lower one). */
  secretOf(role: Role): Uint8Array | undefined {
    switch (role) {
      case Role.Admin:
        return this.adminSecret;
      case Role.Writer:
        return this.writerSecret;
      case Role.Reader:
        return this.readerSecret;
    }
  }

  /** The signing seed of `role`, if this link holds that role's secret. */
  signingSeedOf(role: Role): Uint8Array | undefined {
    const secret = this.secretOf(role);
    return secret && derive(secret, "auth", this.sessionId, Uint8Array.of(role));
  }

  /** This role's verifier (its Ed25519 public key). */
  verifier(): Uint8Array {
    return ed25519.getPublicKey(this.signingSeed);
  }

  /** The join proof: a signature over `ctx("join proof", role || challenge)`. */
  prove(challenge: Uint8Array): Uint8Array {
    if (challenge.length !== 32) throw new RangeError("challenge must be 32 bytes");
    const extra = new Uint8Array(33);
    extra[0] = this.role;
    extra.set(challenge, 1);
    return ed25519.sign(ctx("join proof", this.sessionId, extra), this.signingSeed);
  }

  /**
   * The stream key of one run; `undefined` when the role lacks the root
   * (input for readers), and for port forwards (directions 5 and 6, keyed
   * from a forward root this client never derives: it opens no forwards).
   */
  streamKey(terminal: number, direction: Direction, epoch: Uint8Array): Uint8Array | undefined {
    if (direction > 4) return undefined;
    const root = direction === 2 ? this.inputRoot : this.outputRoot;
    if (!root) return undefined;
    const extra = new Uint8Array(21);
    new DataView(extra.buffer).setUint32(0, terminal);
    extra[4] = direction;
    extra.set(epoch, 5);
    return derive(root, "stream", this.sessionId, extra);
  }

  /** The admin-action signing seed (admin links only). */
  adminActionSeed(): Uint8Array | undefined {
    return this.adminSecret && derive(this.adminSecret, "admin action", this.sessionId);
  }

  /** Sign an administrative action (SPEC.md 4.7); admin links only. */
  signAdminAction(action: Uint8Array): Uint8Array | undefined {
    const seed = this.adminActionSeed();
    if (!seed) return undefined;
    const sig = ed25519.sign(ctx("admin action", this.sessionId, action), seed);
    seed.fill(0);
    return sig;
  }

  /** Overwrite every secret held. */
  wipe(): void {
    for (const v of [this.adminSecret, this.writerSecret, this.readerSecret, this.outputRoot, this.inputRoot, this.signingSeed]) {
      v?.fill(0);
    }
  }
}
