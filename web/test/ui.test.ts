// The page's pure rules, in Node: when an agent counts as starting to
// wait, and the tab title.

import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentState } from "../src/gen/taiku_pb.js";
import { startsWaiting, titleFor } from "../src/ui/attention.js";
import { minutes } from "../src/ui/text.js";

test("an agent starts waiting only on the change into waiting for input", () => {
  assert.equal(startsWaiting(undefined, AgentState.WAITING_FOR_INPUT), true);
  assert.equal(startsWaiting(AgentState.RUNNING, AgentState.WAITING_FOR_INPUT), true);
  assert.equal(startsWaiting(AgentState.WAITING_FOR_INPUT, AgentState.WAITING_FOR_INPUT), false, "a repeated status is not news");
  assert.equal(startsWaiting(AgentState.WAITING_FOR_INPUT, AgentState.RUNNING), false);
  assert.equal(startsWaiting(AgentState.THINKING, AgentState.IDLE), false);
  assert.equal(startsWaiting(AgentState.RUNNING, undefined), false);
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
