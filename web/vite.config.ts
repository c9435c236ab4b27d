import { defineConfig } from "vite";

// The relay serves `index.html` at `/s/<session-id>` and the bundle under
// `/assets/`; everything is self-hosted so the page's CSP can forbid any
// other origin.
export default defineConfig({
  base: "/",
  build: {
    // The built client is committed there and embedded in the relay server
    // (taiku-transport, feature `embedded-client`); .ci/run rebuilds it and
    // fails if it differs.
    outDir: "../taiku-transport/client",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    modulePreload: { polyfill: false },
    // One script on purpose (xterm.js is most of it): the page makes no
    // request it does not need, and its CSP names only its own origin.
    chunkSizeWarningLimit: 1024,
  },
});
