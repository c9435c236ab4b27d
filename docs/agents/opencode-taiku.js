// taiku status for OpenCode: copy to .opencode/plugins/taiku.js (or
// ~/.config/opencode/plugins/). It hands OpenCode's events to the taiku
// host of the shell OpenCode runs in, one at a time and in order; outside
// a shared shell (no TAIKU_BIN) it does nothing.
import { spawn } from "node:child_process";

// The events that say what the agent is doing; the others (streamed
// message parts, file watches) are not forwarded.
const FORWARDED = new Set([
  "session.status",
  "session.idle",
  "session.error",
  "session.deleted",
  "permission.asked",
  "permission.updated",
  "permission.replied",
  "tool.execute.before",
  "tool.execute.after",
]);

let queue = Promise.resolve();

function forward(event) {
  const bin = process.env.TAIKU_BIN;
  if (!bin || !FORWARDED.has(event.type)) return queue;
  queue = queue.then(
    () =>
      new Promise((done) => {
        const child = spawn(bin, ["hook", "opencode"], { stdio: ["pipe", "ignore", "ignore"] });
        child.on("error", done);
        child.on("exit", done);
        child.stdin.on("error", () => {});
        child.stdin.end(JSON.stringify(event));
      }),
  );
  return queue;
}

export const Taiku = async () => ({
  event: async ({ event }) => forward(event),
  "tool.execute.before": async (input) => forward({ type: "tool.execute.before", tool: input.tool }),
  "tool.execute.after": async (input) => forward({ type: "tool.execute.after", tool: input.tool }),
});
