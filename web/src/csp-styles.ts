// xterm.js writes its dynamic CSS into `<style>` elements. The page's
// Content-Security-Policy (`style-src 'self'`, no 'unsafe-inline') blocks
// those, and loosening it for one library would loosen it for all. So
// `document.createElement("style")` makes an inert `<taiku-style>` element
// instead, and its text is mirrored into a constructable stylesheet adopted
// by the document, which CSP does not restrict. The page itself never
// creates style elements.

const TAG = "taiku-style";

export function installStyleShim(doc: Document): void {
  const sheets = new Map<Element, CSSStyleSheet>();
  const create = doc.createElement.bind(doc);
  doc.createElement = ((tag: string, options?: ElementCreationOptions) =>
    create(tag.toLowerCase() === "style" ? TAG : tag, options)) as Document["createElement"];

  const sync = () => {
    const live = new Set(doc.querySelectorAll(TAG));
    for (const [el, sheet] of sheets) {
      if (!live.has(el)) {
        sheets.delete(el);
        doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
      }
    }
    for (const el of live) {
      let sheet = sheets.get(el);
      if (!sheet) {
        sheet = new CSSStyleSheet();
        sheets.set(el, sheet);
        doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
      }
      sheet.replaceSync(el.textContent ?? "");
    }
  };
  new MutationObserver(sync).observe(doc, { subtree: true, childList: true, characterData: true });
}
