// Reads the test vectors of SPEC.md section 10: fenced blocks tagged
// `vector`, `key: value` lines, values wrapping onto indented lines.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SPEC = fileURLToPath(new URL("../../SPEC.md", import.meta.url));

export type Vector = Map<string, string>;

export function vectors(): Map<string, Vector> {
  const text = readFileSync(SPEC, "utf8");
  const out = new Map<string, Vector>();
  const blocks = text.split("```vector\n").slice(1);
  for (const block of blocks) {
    const body = block.split("\n```")[0] ?? "";
    const v: Vector = new Map();
    let last = "";
    for (const line of body.split("\n")) {
      if (/^\s/.test(line)) {
        v.set(last, (v.get(last) ?? "") + line.trim());
      } else if (line.includes(":")) {
        const at = line.indexOf(":");
        last = line.slice(0, at);
        v.set(last, line.slice(at + 1).trim());
      }
    }
    const name = v.get("name");
    if (!name) throw new Error("a vector without a name");
    out.set(name, v);
  }
  return out;
}

export function field(v: Vector, key: string): string {
  const value = v.get(key);
  if (value === undefined) throw new Error(`vector ${v.get("name")} has no ${key}`);
  return value;
}

export function hex(s: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/.test(s)) throw new Error(`not hex: ${s}`);
  return Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
