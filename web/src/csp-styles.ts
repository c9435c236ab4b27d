// xterm.js styles itself two ways that a Content-Security-Policy without
// 'unsafe-inline' in `style-src` blocks: it writes CSS into `<style>`
// elements, and it sets `style` attributes (true-colour cells). Loosening
// the policy for one library would loosen it for all, so instead:
//
// - `document.createElement("style")` makes an inert `<taiku-style>`
//   element, whose text is mirrored into a constructable stylesheet adopted
//   by the document (CSSOM, which CSP does not restrict);
// - `setAttribute("style", css)` on an HTML element sets `style.cssText`
//   (also CSSOM).
//
// The page itself never creates style elements or style attributes.

const TAG = "taiku-style";

export function installStyleShim(doc: Document): void {
  const create = doc.createElement.bind(doc);
  doc.createElement = ((tag: string, options?: ElementCreationOptions) =>
    create(tag.toLowerCase() === "style" ? TAG : tag, options)) as Document["createElement"];

  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string): void {
    if (name.toLowerCase() === "style" && this instanceof HTMLElement) {
      this.style.cssText = value;
    } else {
      setAttribute.call(this, name, value);
    }
  };

  const sheets = new Map<Element, { sheet: CSSStyleSheet; text: string }>();
  const sync = () => {
    const live = new Set(doc.querySelectorAll(TAG));
    for (const [el, { sheet }] of sheets) {
      if (!live.has(el)) {
        sheets.delete(el);
        doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
      }
    }
    for (const el of live) {
      const text = el.textContent ?? "";
      let entry = sheets.get(el);
      if (!entry) {
        entry = { sheet: new CSSStyleSheet(), text: "" };
        sheets.set(el, entry);
        doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, entry.sheet];
      }
      if (entry.text !== text) {
        entry.sheet.replaceSync(text);
        entry.text = text;
      }
    }
  };
  // Terminal output mutates the DOM constantly; only mutations of the
  // style carriers matter.
  const isCarrier = (node: Node | null): boolean => node?.nodeName.toLowerCase() === TAG;
  const holdsCarrier = (node: Node): boolean =>
    isCarrier(node) || (node instanceof Element && node.querySelector(TAG) !== null);
  new MutationObserver((mutations) => {
    const relevant = mutations.some(
      (m) =>
        isCarrier(m.target) ||
        isCarrier(m.target.parentNode) ||
        [...m.addedNodes, ...m.removedNodes].some(holdsCarrier),
    );
    if (relevant) sync();
  }).observe(doc, { subtree: true, childList: true, characterData: true });
}
