// Small DOM helpers. Elements are built with properties, never with HTML
// strings or `style` attributes (the page's CSP forbids inline styles; see
// csp-styles.ts).

/** The element with `id`; the page's HTML has every id this code uses. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

/** A new element with a class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text?: string): HTMLElementTagNameMap[K] {
  const out = document.createElement(tag);
  if (className) out.className = className;
  if (text !== undefined) out.textContent = text;
  return out;
}

/** A button that runs `run` (and does not also count as a click on what holds it). */
export function button(label: string, run: () => void, className = ""): HTMLButtonElement {
  const b = el("button", className, label);
  b.type = "button";
  b.addEventListener("click", (e) => {
    e.stopPropagation();
    run();
  });
  return b;
}
