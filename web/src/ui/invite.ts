// Invite links, built in the page from this participant's own secret
// (SPEC.md 4.2: a writer secret yields the reader secret) and never sent
// anywhere: copy either, or scan the QR code. Closing the panel removes
// them from the page.

import qrcode from "qrcode-generator";
import { formatLink, type Role } from "../link.js";
import type { Participant } from "../participant.js";
import { button, el } from "./dom.js";
import { ROLE_NAMES } from "./text.js";

/** Pixels per QR module. */
const QR_SCALE = 4;
/** Quiet zone around a QR code, in modules. */
const QR_MARGIN = 4;

export function showInvite(panel: HTMLElement, p: Participant, origin: string, sessionId: string, pin?: Uint8Array): void {
  panel.replaceChildren();
  for (const { role, secret } of p.inviteSecrets()) {
    const link = formatLink(origin, sessionId, role as Role, secret, pin);
    secret.fill(0);
    const name = ROLE_NAMES[role] ?? "reader";
    const box = el("figure", "invite");
    const input = el("input");
    input.readOnly = true;
    input.dataset.role = name;
    input.value = link;
    input.setAttribute("aria-label", `${name} link`);
    const copy = button("Copy", () => {
      input.select();
      void navigator.clipboard?.writeText(input.value).catch(() => undefined);
    });
    const caption = el("figcaption", "", `${name} link `);
    caption.append(input, " ", copy);
    box.append(qr(link, name), caption);
    panel.append(box);
  }
  panel.append(
    button("Close", () => {
      panel.replaceChildren();
      panel.hidden = true;
    }),
  );
  panel.hidden = false;
}

/** `text` as a QR code on a canvas (error correction M). */
function qr(text: string, role: string): HTMLCanvasElement {
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const n = code.getModuleCount();
  const canvas = el("canvas", "qr");
  canvas.width = canvas.height = (n + 2 * QR_MARGIN) * QR_SCALE;
  canvas.dataset.role = role;
  canvas.setAttribute("aria-label", `QR code of the ${role} link`);
  const g = canvas.getContext("2d");
  if (!g) return canvas;
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#000000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (code.isDark(r, c)) g.fillRect((c + QR_MARGIN) * QR_SCALE, (r + QR_MARGIN) * QR_SCALE, QR_SCALE, QR_SCALE);
    }
  }
  return canvas;
}
