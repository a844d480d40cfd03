// Node tests of the wallboard's model (static/state.js), run by
// TestStateJS (state_test.go) with `node --test`. The events are written
// as EVENTS.md section 5 orders them.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Board, eventMs } = require("../static/state.js");

let clock = 1_700_000_000;
function ev(id, fields, atSeconds) {
  return { id, time: { seconds: atSeconds ?? clock, useconds: 0 }, CustomerID: "demo", Seq: 1, ...fields };
}
const parties = (b, conn) => [...b.calls.get(conn).parties.values()].map((p) => p.dn + ":" + p.state).join(" ");

test("eventMs", () => {
  assert.equal(eventMs({ time: { seconds: 2, useconds: 345678 } }), 2345);
});

test("agent states and time in state", () => {
  const b = new Board();
  b.apply(ev("EventAgentLogin", { ThisDN: "1001", AgentID: "agent1", ThisQueue: "7000" }, 100));
  b.apply(ev("EventAgentLogin", { ThisDN: "1001", AgentID: "agent1", ThisQueue: "7001" }, 100));
  let a = b.agents.get("agent1");
  assert.equal(a.state, "NotReady");
  assert.deepEqual(a.queues, ["7000", "7001"]);
  assert.equal(a.since, 100_000);
  assert.ok(b.queues.has("7000") && b.queues.has("7001"));
  b.apply(ev("EventAgentReady", { ThisDN: "1001", AgentID: "agent1", AgentWorkMode: "ManualIn" }, 110));
  assert.equal(b.agentStatus(a).status, "Ready");
  assert.equal(b.agentStatus(a).since, 110_000);
  b.apply(ev("EventAgentNotReady", { ThisDN: "1001", AgentID: "agent1", AgentWorkMode: "AfterCallWork" }, 120));
  assert.equal(a.state, "AfterCallWork");
  b.apply(ev("EventAgentNotReady", { ThisDN: "1001", AgentID: "agent1", AgentWorkMode: "AuxWork" }, 130));
  assert.equal(a.state, "NotReady");
  assert.equal(a.since, 130_000);
  b.apply(ev("EventQueueLogout", { ThisDN: "1001", AgentID: "agent1", ThisQueue: "7001" }, 140));
  assert.deepEqual(a.queues, ["7000"]);
  b.apply(ev("EventAgentLogout", { ThisDN: "1001", AgentID: "agent1" }, 150));
  assert.equal(a.state, "LoggedOut");
  assert.equal(b.dnAgent.has("1001"), false);
});

test("internal call 5.1: parties appear, agent talks, call leaves", () => {
  const b = new Board();
  b.seed([{ agentId: "agent2", dn: "1002", state: "Ready", workMode: "ManualIn", since: 5_000_000 }], []);
  const c = "00000000000000a1";
  b.apply(ev("EventOffHook", { ThisDN: "1001" }, 10));
  b.apply(ev("EventDialing", { ConnID: c, CallType: "Internal", ThisDN: "1001", OtherDN: "1002" }, 10));
  b.apply(ev("EventRinging", { ConnID: c, CallType: "Internal", ThisDN: "1002", OtherDN: "1001" }, 10));
  assert.equal(parties(b, c), "1001:Dialing 1002:Ringing");
  const a = b.agents.get("agent2");
  assert.equal(b.agentStatus(a).status, "Ringing");
  b.apply(ev("EventEstablished", { ConnID: c, CallType: "Internal", ThisDN: "1002", OtherDN: "1001" }, 12));
  b.apply(ev("EventEstablished", { ConnID: c, CallType: "Internal", ThisDN: "1001", OtherDN: "1002" }, 12));
  assert.equal(parties(b, c), "1001:Established 1002:Established");
  assert.deepEqual(b.agentStatus(a), { status: "Talking", since: 12_000 });
  assert.equal(b.calls.get(c).parties.get("1002").agentId, "agent2");
  b.apply(ev("EventHeld", { ConnID: c, ThisDN: "1002" }, 13));
  assert.equal(b.agentStatus(a).status, "Held");
  b.apply(ev("EventRetrieved", { ConnID: c, ThisDN: "1002" }, 14));
  b.apply(ev("EventReleased", { ConnID: c, ThisDN: "1001" }, 20));
  assert.equal(parties(b, c), "1002:Established");
  b.apply(ev("EventReleased", { ConnID: c, ThisDN: "1002" }, 20));
  assert.equal(b.calls.has(c), false);
  assert.deepEqual(b.agentStatus(a), { status: "Ready", since: 5_000 });
});

test("outbound call 5.3: the external party rings through the trunk", () => {
  const b = new Board();
  const c = "00000000000000b2";
  b.apply(ev("EventDialing", { ConnID: c, CallType: "Outbound", ThisDN: "1001", OtherDN: "5550199" }));
  b.apply(ev("EventNetworkReached", { ConnID: c, CallType: "Outbound", ThisDN: "1001", OtherDN: "5550199", OtherTrunk: "pstn" }));
  assert.equal(parties(b, c), "1001:Dialing 5550199:Ringing");
  b.apply(ev("EventEstablished", { ConnID: c, CallType: "Outbound", ThisDN: "1001", OtherDN: "5550199" }));
  assert.equal(parties(b, c), "1001:Established 5550199:Established");
});

test("inbound call 5.2 ends with its last DN, the external caller stays a party until then", () => {
  const b = new Board();
  const c = "00000000000000b1";
  b.apply(ev("EventRinging", { ConnID: c, CallType: "Inbound", ThisDN: "1003", OtherDN: "+15551234", ANI: "+15551234" }));
  assert.equal(parties(b, c), "+15551234:Dialing 1003:Ringing");
  b.apply(ev("EventEstablished", { ConnID: c, CallType: "Inbound", ThisDN: "1003", OtherDN: "+15551234" }));
  assert.equal(parties(b, c), "+15551234:Established 1003:Established");
  b.apply(ev("EventReleased", { ConnID: c, ThisDN: "1003" }));
  assert.equal(b.calls.has(c), false);
});

test("ACD queue 5.10: waiting, longest wait, answered within service level, abandoned", () => {
  const b = new Board({ slSeconds: 20 });
  const c1 = "00000000000000c1", c2 = "00000000000000c2", c3 = "00000000000000c3";
  b.apply(ev("EventAgentLogin", { ThisDN: "1001", AgentID: "agent1", ThisQueue: "7000" }, 0));
  b.apply(ev("EventQueued", { ConnID: c1, CallType: "Inbound", ThisDN: "7000", ThisQueue: "7000" }, 100), 100_000);
  b.apply(ev("EventQueued", { ConnID: c2, CallType: "Inbound", ThisDN: "7000", ThisQueue: "7000" }, 105), 105_000);
  const q = b.queues.get("7000");
  let s = b.queueStats(q, 110_000);
  assert.equal(s.waiting, 2);
  assert.equal(s.longestMs, 10_000);
  assert.equal(s.serviceLevel, null);
  // c1 goes to agent1, who answers 5 s after it was queued.
  b.apply(ev("EventAgentReady", { ThisDN: "1001", AgentID: "agent1", AgentWorkMode: "ManualIn" }, 101));
  b.apply(ev("EventDiverted", { ConnID: c1, ThisDN: "7000", ThisQueue: "7000", ThirdPartyDN: "1001" }, 101));
  b.apply(ev("EventRinging", { ConnID: c1, CallType: "Inbound", ThisDN: "1001", ThisQueue: "7000" }, 101));
  assert.equal(b.queueStats(q, 110_000).waiting, 1);
  b.apply(ev("EventEstablished", { ConnID: c1, ThisDN: "1001", ThisQueue: "7000" }, 105));
  // c2 is abandoned in the queue.
  b.apply(ev("EventAbandoned", { ConnID: c2, ThisDN: "7000", ThisQueue: "7000" }, 130));
  s = b.queueStats(q, 130_000);
  assert.deepEqual([s.waiting, s.answered, s.abandoned, s.serviceLevel], [0, 1, 1, 50]);
  assert.equal(b.calls.has(c2), false);
  // c3 waits 30 s: answered outside service level.
  b.apply(ev("EventQueued", { ConnID: c3, CallType: "Inbound", ThisDN: "7000", ThisQueue: "7000" }, 200));
  b.apply(ev("EventDiverted", { ConnID: c3, ThisDN: "7000", ThisQueue: "7000", ThirdPartyDN: "1002" }, 230));
  b.apply(ev("EventEstablished", { ConnID: c3, ThisDN: "1002", ThisQueue: "7000" }, 230));
  s = b.queueStats(q, 230_000);
  assert.deepEqual([s.answered, s.serviceLevel], [2, 33]);
  // Replaying the answer (a resync overlap) counts nothing twice.
  b.apply(ev("EventEstablished", { ConnID: c3, ThisDN: "1002", ThisQueue: "7000" }, 230));
  assert.equal(b.queueStats(q, 230_000).answered, 2);
});

test("no answer (RONA): re-queued call keeps its first entry time", () => {
  const b = new Board();
  const c = "00000000000000d1";
  b.apply(ev("EventQueued", { ConnID: c, ThisDN: "7000", ThisQueue: "7000" }, 100));
  b.apply(ev("EventDiverted", { ConnID: c, ThisDN: "7000", ThisQueue: "7000", ThirdPartyDN: "1001" }, 101));
  b.apply(ev("EventRinging", { ConnID: c, ThisDN: "1001", ThisQueue: "7000" }, 101));
  b.apply(ev("EventDiverted", { ConnID: c, ThisDN: "1001", ThirdPartyDN: "7000", CallState: "Redirected" }, 111));
  b.apply(ev("EventQueued", { ConnID: c, ThisDN: "7000", ThisQueue: "7000" }, 111));
  const q = b.queues.get("7000");
  assert.equal(b.queueStats(q, 120_000).longestMs, 20_000);
  // Abandoned while ringing at an agent counts against the queue.
  b.apply(ev("EventDiverted", { ConnID: c, ThisDN: "7000", ThisQueue: "7000", ThirdPartyDN: "1002" }, 121));
  b.apply(ev("EventRinging", { ConnID: c, ThisDN: "1002", ThisQueue: "7000" }, 121));
  b.apply(ev("EventAbandoned", { ConnID: c, ThisDN: "1002", ThisQueue: "7000" }, 125));
  assert.equal(b.queueStats(q, 125_000).abandoned, 1);
});

test("seed rebuilds calls and waiting calls; queue statistics survive a resync", () => {
  const b = new Board();
  const c = "00000000000000e1";
  b.apply(ev("EventQueued", { ConnID: c, ThisDN: "7000", ThisQueue: "7000" }, 100));
  b.apply(ev("EventAbandoned", { ConnID: c, ThisDN: "7000", ThisQueue: "7000" }, 101));
  b.seed(
    [{ agentId: "agent1", dn: "1001", state: "Ready", queues: ["7000"], since: 50_000_000 }],
    [{ connId: "00000000000000e2", callType: "Inbound", started: 200_000_000, parties: [
      { dn: "+1555", external: true, role: "Origination", state: "Established" },
      { dn: "7000", role: "Destination", state: "Queued", queue: "7000" }] }],
  );
  const s = b.queueStats(b.queues.get("7000"), 210_000);
  assert.deepEqual([s.waiting, s.longestMs, s.abandoned, s.agents, s.ready], [1, 10_000, 1, 1, 1]);
  // An event the snapshot already shows changes nothing.
  b.apply(ev("EventQueued", { ConnID: "00000000000000e2", ThisDN: "7000", ThisQueue: "7000" }, 200));
  assert.equal(b.queueStats(b.queues.get("7000"), 210_000).waiting, 1);
  assert.equal(b.agents.get("agent1").since, 50_000);
});

test("transfer 5.8: parties move to the main call, the consult call goes", () => {
  const b = new Board();
  const c1 = "00000000000000f1", c2 = "00000000000000f2";
  b.apply(ev("EventDialing", { ConnID: c1, ThisDN: "1001", OtherDN: "1002", CallType: "Internal" }));
  b.apply(ev("EventRinging", { ConnID: c1, ThisDN: "1002", OtherDN: "1001", CallType: "Internal" }));
  b.apply(ev("EventEstablished", { ConnID: c1, ThisDN: "1002" }));
  b.apply(ev("EventEstablished", { ConnID: c1, ThisDN: "1001" }));
  b.apply(ev("EventHeld", { ConnID: c1, ThisDN: "1002" }));
  b.apply(ev("EventDialing", { ConnID: c2, ThisDN: "1002", OtherDN: "1003", CallType: "Consult", PreviousConnID: c1 }));
  b.apply(ev("EventRinging", { ConnID: c2, ThisDN: "1003", CallType: "Consult", PreviousConnID: c1 }));
  b.apply(ev("EventEstablished", { ConnID: c2, ThisDN: "1003" }));
  b.apply(ev("EventEstablished", { ConnID: c2, ThisDN: "1002" }));
  b.apply(ev("EventReleased", { ConnID: c2, ThisDN: "1002", CallState: "Transferred" }));
  b.apply(ev("EventReleased", { ConnID: c1, ThisDN: "1002", CallState: "Transferred" }));
  b.apply(ev("EventPartyChanged", { ConnID: c1, PreviousConnID: c1, ThisDN: "1001", OtherDN: "1003" }));
  b.apply(ev("EventPartyChanged", { ConnID: c1, PreviousConnID: c2, ThisDN: "1003", OtherDN: "1001" }));
  assert.equal(b.calls.has(c2), false);
  assert.equal(parties(b, c1), "1001:Established 1003:Established");
});

test("the feed keeps the last N events, newest first", () => {
  const b = new Board({ feedMax: 3 });
  for (let i = 1; i <= 5; i++) b.apply(ev("EventDNDOn", { ThisDN: "10" + i }));
  assert.deepEqual(b.feed.map((e) => e.ThisDN), ["105", "104", "103"]);
});

test("the statistics API's day figures replace the counts from seen events", () => {
  const b = new Board();
  b.apply(ev("EventQueued", { ConnID: "c1", ThisDN: "7000", ThisQueue: "7000", CallType: "Inbound" }, 100));
  b.apply(ev("EventAbandoned", { ConnID: "c1", ThisDN: "7000", ThisQueue: "7000", CallType: "Inbound" }, 150));
  let s = b.queueStats(b.queues.get("7000"), 150_000);
  assert.equal(s.abandoned, 1);
  assert.equal(s.offered, null);
  b.setStats({ queues: [
    { queue: "7000", serviceLevelThreshold: 30, today: { offered: 310, answered: 300, abandoned: 10, abandonedWithin5s: 4, answeredInServiceLevel: 250 } },
    { queue: "5000", serviceLevelThreshold: 20, today: { offered: 0, answered: 0, abandoned: 0, abandonedWithin5s: 0, answeredInServiceLevel: 0 } },
  ] });
  s = b.queueStats(b.queues.get("7000"), 150_000);
  assert.equal(s.offered, 310);
  assert.equal(s.answered, 300);
  assert.equal(s.abandoned, 10);
  assert.equal(s.serviceLevel, Math.round((100 * 250) / 306));
  assert.equal(s.slSeconds, 30);
  // a queue the page has seen no event of appears from the statistics
  assert.ok(b.queues.has("5000"));
  assert.equal(b.queueStats(b.queues.get("5000"), 150_000).serviceLevel, null);
});
