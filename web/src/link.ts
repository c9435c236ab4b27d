// Links (SPEC.md section 2): `http(s)://HOST/s/<session-id>#<fragment>`.
// Parsing is exact: a link is accepted only if printing the parsed value
// gives back the same text.

/** Roles, equal to the protobuf `Role` values and the role bytes of SPEC.md 4.2. */
export enum Role {
  Reader = 1,
  Writer = 2,
  Admin = 3,
}

/** Shortest session id. */
export const MIN_SESSION_ID_LEN = 8;
/** Longest session id. */
export const MAX_SESSION_ID_LEN = 64;
/** Link secrets and derived keys. */
export const SECRET_LEN = 32;
/** Characters of a secret in unpadded URL-safe base64. */
export const SECRET_CHARS = 43;

const ROLE_LETTERS: Record<string, Role> = { r: Role.Reader, w: Role.Writer, a: Role.Admin };
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Why a link was refused; each case of SPEC.md 2 has its own kind. */
export type LinkErrorKind =
  | "MissingFragment"
  | "NotALink"
  | "BadSessionId"
  | "UnsupportedVersion"
  | "UnknownRole"
  | "SecretLength"
  | "SecretEncoding"
  | "PinLength"
  | "PinEncoding"
  | "PinNeedsHttps";

/** A link that does not parse. The message never contains the link. */
export class LinkError extends Error {
  constructor(readonly kind: LinkErrorKind) {
    super(kind);
    this.name = "LinkError";
  }
}

/** A parsed link. The secret is the caller's to wipe. */
export interface Link {
  origin: string;
  sessionId: string;
  role: Role;
  secret: Uint8Array;
  /** The relay certificate pin (SPEC.md 2), if the link has one. A browser
   * cannot pin certificates: it is parsed, kept and printed, never used. */
  pin?: Uint8Array;
}

/** Whether `id` is a valid session id. */
export function validSessionId(id: string): boolean {
  return (
    id.length >= MIN_SESSION_ID_LEN &&
    id.length <= MAX_SESSION_ID_LEN &&
    /^[A-Za-z0-9_-]+$/.test(id)
  );
}

function validOrigin(origin: string): boolean {
  const m = /^https?:\/\/(.*)$/s.exec(origin);
  const authority = m?.[1] ?? "";
  return authority.length > 0 && /^[\x21-\x7e]+$/.test(authority) && !/[/?#@\\]/.test(authority);
}

/** Parse a whole link, checking its parts in the order SPEC.md 2 lists them. */
export function parseLink(text: string): Link {
  const hash = text.indexOf("#");
  if (hash < 0) throw new LinkError("MissingFragment");
  const base = text.slice(0, hash);
  const at = base.lastIndexOf("/s/");
  if (at < 0) throw new LinkError("NotALink");
  const origin = base.slice(0, at);
  const sessionId = base.slice(at + 3);
  if (!validOrigin(origin)) throw new LinkError("NotALink");
  if (!validSessionId(sessionId)) throw new LinkError("BadSessionId");
  const { role, secret, pin } = parseFragment(text.slice(hash + 1));
  if (pin !== undefined && !origin.startsWith("https://")) throw new LinkError("PinNeedsHttps");
  return pin === undefined ? { origin, sessionId, role, secret } : { origin, sessionId, role, secret, pin };
}

/** Parse a fragment (the part after `#`): version, role letter, secret,
 * and the relay pin after `.` if there is one. */
export function parseFragment(fragment: string): { role: Role; secret: Uint8Array; pin?: Uint8Array } {
  const chars = [...fragment];
  if (chars.length === 0) throw new LinkError("SecretLength");
  if (chars[0] !== "1") throw new LinkError("UnsupportedVersion");
  if (chars.length === 1) throw new LinkError("SecretLength");
  const role = ROLE_LETTERS[chars[1] ?? ""];
  if (role === undefined) throw new LinkError("UnknownRole");
  const rest = chars.slice(2).join("");
  const dot = rest.indexOf(".");
  const encoded = dot < 0 ? rest : rest.slice(0, dot);
  if (encoded.length !== SECRET_CHARS) throw new LinkError("SecretLength");
  const secret = decode32(encoded, "SecretEncoding");
  if (dot < 0) return { role, secret };
  const pinText = rest.slice(dot + 1);
  if (pinText.length !== SECRET_CHARS) throw new LinkError("PinLength");
  return { role, secret, pin: decode32(pinText, "PinEncoding") };
}

/** Print a link, with its relay pin if given. */
export function formatLink(
  origin: string,
  sessionId: string,
  role: Role,
  secret: Uint8Array,
  pin?: Uint8Array,
): string {
  const letter = Object.keys(ROLE_LETTERS).find((k) => ROLE_LETTERS[k] === role) ?? "";
  const pinned = pin === undefined ? "" : `.${encode32(pin)}`;
  return `${origin}/s/${sessionId}#1${letter}${encode32(secret)}${pinned}`;
}

/** 32 bytes from 43 characters of canonical unpadded URL-safe base64. */
function decode32(text: string, error: LinkErrorKind): Uint8Array {
  const out = new Uint8Array(SECRET_LEN);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const ch of text) {
    const v = B64.indexOf(ch);
    if (v < 0) throw new LinkError(error);
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  // 43 characters carry 258 bits: the 2 left over must be zero (canonical).
  if ((acc & ((1 << bits) - 1)) !== 0) throw new LinkError(error);
  return out;
}

function encode32(secret: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of secret) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += B64[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += B64[(acc << (6 - bits)) & 0x3f];
  return out;
}
