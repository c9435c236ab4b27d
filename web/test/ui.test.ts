// The page's pure rules, in Node: when an agent counts as starting to
// wait, and the tab title.

import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentState } from "../src/gen/taiku_pb.js";
import { needsAttention, titleFor } from "../src/ui/attention.js";
import { minutes } from "../src/ui/text.js";

test("an agent asks for the user when it starts waiting or is done", () => {
  assert.equal(needsAttention(undefined, AgentState.WAITING_FOR_INPUT), true);
  assert.equal(needsAttention(AgentState.RUNNING, AgentState.WAITING_FOR_INPUT), true);
  assert.equal(needsAttention(AgentState.WAITING_FOR_INPUT, AgentState.WAITING_FOR_INPUT), false, "a repeated status is not news");
  assert.equal(needsAttention(AgentState.WAITING_FOR_INPUT, AgentState.RUNNING), false);
  assert.equal(needsAttention(AgentState.THINKING, AgentState.IDLE), false);
  assert.equal(needsAttention(AgentState.RUNNING, undefined), false);
  assert.equal(needsAttention(AgentState.RUNNING, AgentState.DONE), true, "done asks for the user too");
  assert.equal(needsAttention(AgentState.DONE, AgentState.DONE), false);
  assert.equal(needsAttention(AgentState.TOOL_USE, AgentState.RUNNING), false);
});

test("the title counts what waits for the user", () => {
  assert.equal(titleFor(0), "taiku");
  assert.equal(titleFor(1), "(1) taiku");
  assert.equal(titleFor(12), "(12) taiku");
});

test("time left reads as minutes and seconds, rounded up", () => {
  assert.equal(minutes(300_000), "5:00");
  assert.equal(minutes(61_001), "1:02");
  assert.equal(minutes(999), "0:01");
  assert.equal(minutes(-5), "0:00");
});

test("text from others loses the characters that reorder or hide it", async () => {
  const { plain, agentLine } = await import("../src/ui/text.js");
  assert.equal(plain("ok\u202edcba\u202c \u2066x\u2069\u200b"), "okdcba x");
  assert.equal(agentLine({ agent: "cl\u202eaude", state: AgentState.DONE, detail: "" }), "claude: done");
});
