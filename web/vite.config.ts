import { defineConfig } from "vite";

// The relay serves `index.html` at `/s/<session-id>` and the bundle under
// `/assets/`; everything is self-hosted so the page's CSP can forbid any
// other origin.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    modulePreload: { polyfill: false },
  },
});
