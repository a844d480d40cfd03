// state.js: the wallboard's model, with no DOM and no I/O, so that node
// tests it (testdata/state.test.mjs). The page (wallboard.js) seeds it from
// GET /agents and GET /calls, applies every event of the stream to it, and
// renders it.
//
// Every update is idempotent where the stream and a snapshot may overlap:
// after a reconnect the page resyncs from the GET endpoints while events
// recorded meanwhile arrive too, so applying an event whose effect the
// snapshot already shows must change nothing.
"use strict";

(function (root) {
  // The service level threshold: a call answered within this many seconds
  // of entering the queue counts as within service level.
  const SL_SECONDS = 20;
  const FEED_MAX = 50;

  // eventMs is an event's time in milliseconds since the epoch.
  function eventMs(ev) {
    const t = ev.time || {};
    return (t.seconds || 0) * 1000 + Math.floor((t.useconds || 0) / 1000);
  }

  function newQueue(number) {
    return {
      number,
      // waiting: ConnID -> ms since the call entered the queue.
      waiting: new Map(),
      // entered: ConnID -> ms it first entered the queue (kept until the
      // call is answered or abandoned, across RONA re-queues).
      entered: new Map(),
      answered: 0,
      answeredInSL: 0,
      abandoned: 0,
      done: new Set(), // ConnIDs counted as answered or abandoned
    };
  }

  class Board {
    constructor(opts) {
      opts = opts || {};
      this.slSeconds = opts.slSeconds || SL_SECONDS;
      this.feedMax = opts.feedMax || FEED_MAX;
      this.agents = new Map(); // agentId -> agent
      this.dnAgent = new Map(); // DN -> agentId
      this.calls = new Map(); // ConnID -> call
      this.queues = new Map(); // queue DN -> queue
      this.feed = []; // newest first
      // offset: server clock minus local clock, from the last event.
      this.offset = 0;
      // stats: queue DN -> today's figures from the statistics API
      // (GET /stats, /stats/ws), null while there are none; they replace
      // the counts made from the events this page has seen.
      this.stats = null;
    }

    // setStats takes an update of the statistics API (docs/STATS.md): the
    // day's figures per queue, counted from the start of the day whatever
    // the page has seen.
    setStats(update) {
      const m = new Map();
      for (const q of (update && update.queues) || []) {
        m.set(q.queue, q);
        this.queue(q.queue);
      }
      this.stats = m;
    }

    queue(number) {
      let q = this.queues.get(number);
      if (!q) {
        q = newQueue(number);
        this.queues.set(number, q);
      }
      return q;
    }

    // seed replaces agents and calls with a snapshot of GET /agents and
    // GET /calls. Queue statistics (answered, abandoned, service level)
    // are the page's own count since it opened, and are kept; calls
    // waiting are rebuilt from the snapshot.
    seed(agents, calls) {
      this.agents.clear();
      this.dnAgent.clear();
      for (const a of agents || []) {
        this.agents.set(a.agentId, {
          agentId: a.agentId,
          dn: a.dn || "",
          state: a.state || "LoggedOut",
          workMode: a.workMode || "",
          queues: (a.queues || []).slice(),
          since: a.since ? Math.floor(a.since / 1000) : 0,
          supervisor: !!a.supervisor,
        });
        if (a.dn) this.dnAgent.set(a.dn, a.agentId);
        for (const q of a.queues || []) this.queue(q);
      }
      this.calls.clear();
      for (const q of this.queues.values()) q.waiting.clear();
      for (const c of calls || []) {
        const call = this.call(c.connId, {
          callType: c.callType, ani: c.ani, dnis: c.dnis,
          started: c.started ? Math.floor(c.started / 1000) : 0,
          callThreadId: c.callThreadId,
        });
        for (const p of c.parties || []) {
          call.parties.set(p.dn, {
            dn: p.dn, state: p.state, role: p.role, external: !!p.external,
            queue: p.queue || "", agentId: p.agentId || "", since: call.started,
          });
          if (p.state === "Queued" || (this.queues.has(p.dn) && p.state !== "Established")) {
            const q = this.queue(p.dn);
            const at = q.entered.get(c.connId) || call.started;
            q.waiting.set(c.connId, at);
            if (!q.entered.has(c.connId)) q.entered.set(c.connId, at);
          }
        }
      }
    }

    call(connId, fields) {
      let c = this.calls.get(connId);
      if (!c) {
        c = { connId, callType: "", ani: "", dnis: "", started: 0, parties: new Map() };
        this.calls.set(connId, c);
      }
      if (fields) {
        for (const k of Object.keys(fields)) {
          if (fields[k] && !c[k]) c[k] = fields[k];
        }
      }
      return c;
    }

    setParty(connId, dn, state, fields, at) {
      if (!dn) return;
      const c = this.calls.get(connId);
      if (!c) return;
      let p = c.parties.get(dn);
      if (!p) {
        p = { dn, state, role: "", external: false, queue: "", agentId: "", since: at };
        c.parties.set(dn, p);
      }
      if (p.state !== state) p.since = at;
      p.state = state;
      if (fields) Object.assign(p, fields);
      const ag = this.dnAgent.get(dn);
      if (ag) p.agentId = ag;
    }

    removeParty(connId, dn) {
      const c = this.calls.get(connId);
      if (!c) return;
      c.parties.delete(dn);
      // A call ends when no DN of the switch is on it any more.
      let internal = false;
      for (const p of c.parties.values()) if (!p.external) internal = true;
      if (!internal) this.calls.delete(connId);
    }

    // leaveQueue ends connId's wait at queue q (diverted to an agent,
    // abandoned, or gone with the call).
    leaveQueue(q, connId) {
      const queue = this.queues.get(q);
      if (queue) queue.waiting.delete(connId);
    }

    answeredFrom(q, connId, at) {
      const queue = this.queues.get(q);
      if (!queue || queue.done.has(connId)) return;
      const entered = queue.entered.get(connId);
      if (entered === undefined) return;
      queue.done.add(connId);
      queue.entered.delete(connId);
      queue.answered++;
      if (at - entered <= this.slSeconds * 1000) queue.answeredInSL++;
    }

    abandonedFrom(q, connId) {
      const queue = this.queues.get(q);
      if (!queue) return;
      queue.waiting.delete(connId);
      if (queue.done.has(connId) || !queue.entered.has(connId)) return;
      queue.done.add(connId);
      queue.entered.delete(connId);
      queue.abandoned++;
    }

    setAgent(ev, state) {
      const id = ev.AgentID;
      if (!id) return;
      let a = this.agents.get(id);
      if (!a) {
        a = { agentId: id, dn: "", state: "LoggedOut", workMode: "", queues: [], since: 0, supervisor: false };
        this.agents.set(id, a);
      }
      const at = eventMs(ev);
      if (a.state !== state || (ev.AgentWorkMode && a.workMode !== ev.AgentWorkMode)) a.since = at;
      a.state = state;
      if (ev.AgentWorkMode) a.workMode = ev.AgentWorkMode;
      if (ev.ThisDN && state !== "LoggedOut") {
        a.dn = ev.ThisDN;
        this.dnAgent.set(ev.ThisDN, id);
      }
      return a;
    }

    // apply updates the model with one event of the stream (a parsed
    // record value). Unknown events only reach the feed.
    apply(ev, localNow) {
      const at = eventMs(ev);
      if (localNow !== undefined && at > 0) this.offset = at - localNow;
      this.feed.unshift(ev);
      if (this.feed.length > this.feedMax) this.feed.length = this.feedMax;
      const dn = ev.ThisDN, conn = ev.ConnID;
      switch (ev.id) {
        // ---- agents
        case "EventAgentLogin": {
          const a = this.setAgent(ev, this.agents.get(ev.AgentID) && this.agents.get(ev.AgentID).state !== "LoggedOut"
            ? this.agents.get(ev.AgentID).state : "NotReady");
          if (a && ev.ThisQueue) {
            if (!a.queues.includes(ev.ThisQueue)) a.queues.push(ev.ThisQueue);
            this.queue(ev.ThisQueue);
          }
          break;
        }
        case "EventQueueLogout": {
          const a = this.agents.get(ev.AgentID);
          if (a) a.queues = a.queues.filter((q) => q !== ev.ThisQueue);
          break;
        }
        case "EventAgentLogout": {
          const a = this.setAgent(ev, "LoggedOut");
          if (a) {
            if (a.dn) this.dnAgent.delete(a.dn);
            a.dn = "";
            a.queues = [];
            a.workMode = "";
          }
          break;
        }
        case "EventAgentReady":
          this.setAgent(ev, "Ready");
          break;
        case "EventAgentNotReady":
          this.setAgent(ev, ev.AgentWorkMode === "AfterCallWork" ? "AfterCallWork" : "NotReady");
          break;

        // ---- calls
        case "EventDialing":
          this.call(conn, { callType: ev.CallType, ani: ev.ANI, dnis: ev.DNIS, started: at });
          this.setParty(conn, dn, "Dialing", { role: "Origination" }, at);
          break;
        case "EventNetworkReached":
          this.call(conn, { callType: ev.CallType });
          this.setParty(conn, ev.OtherDN, "Ringing", { external: true, role: "Destination" }, at);
          break;
        case "EventRinging":
          this.call(conn, { callType: ev.CallType, ani: ev.ANI, dnis: ev.DNIS, started: at });
          if (ev.CallType === "Inbound" && ev.OtherDN) {
            this.setParty(conn, ev.OtherDN, "Dialing", { external: true, role: "Origination" }, at);
          }
          this.setParty(conn, dn, "Ringing", { role: "Destination", queue: ev.ThisQueue || "" }, at);
          break;
        case "EventEstablished": {
          this.call(conn, { callType: ev.CallType });
          this.setParty(conn, dn, "Established", null, at);
          const c = this.calls.get(conn);
          if (c && ev.OtherDN && c.parties.has(ev.OtherDN) && c.parties.get(ev.OtherDN).external) {
            this.setParty(conn, ev.OtherDN, "Established", null, at);
          }
          if (ev.ThisQueue) this.answeredFrom(ev.ThisQueue, conn, at);
          break;
        }
        case "EventDestinationBusy":
          this.setParty(conn, dn, "Busy", null, at);
          break;
        case "EventHeld":
          this.setParty(conn, dn, "Held", null, at);
          break;
        case "EventRetrieved":
          this.setParty(conn, dn, "Established", null, at);
          break;
        case "EventQueued": {
          this.call(conn, { callType: ev.CallType, started: at });
          this.setParty(conn, dn, "Queued", { role: "Destination", queue: dn }, at);
          const q = this.queue(ev.ThisQueue || dn);
          if (!q.waiting.has(conn)) {
            // Queued again after it was answered (transferred back): a new
            // wait. Queued again after a no-answer (RONA): the same wait.
            if (q.done.has(conn)) q.done.delete(conn);
            if (!q.entered.has(conn)) q.entered.set(conn, at);
            q.waiting.set(conn, q.entered.get(conn));
          }
          break;
        }
        case "EventRouteRequest":
          this.call(conn, { callType: ev.CallType, ani: ev.ANI, dnis: ev.DNIS, started: at });
          this.setParty(conn, dn, "Routing", { role: "Destination", queue: dn }, at);
          break;
        case "EventRouteUsed":
          this.removeParty(conn, dn);
          break;
        case "EventDiverted":
          if (this.queues.has(dn)) this.leaveQueue(dn, conn);
          this.removeParty(conn, dn);
          break;
        case "EventAbandoned":
          if (this.queues.has(dn)) this.abandonedFrom(dn, conn);
          if (ev.ThisQueue && ev.ThisQueue !== dn) this.abandonedFrom(ev.ThisQueue, conn);
          this.removeParty(conn, dn);
          break;
        case "EventReleased":
          this.removeParty(conn, dn);
          break;
        case "EventPartyChanged":
          if (ev.PreviousConnID && ev.PreviousConnID !== conn) {
            const old = this.calls.get(ev.PreviousConnID);
            const p = old && old.parties.get(dn);
            this.removeParty(ev.PreviousConnID, dn);
            this.call(conn, { callType: ev.CallType });
            this.setParty(conn, dn, p ? p.state : "Established", null, at);
          }
          break;
        case "EventPartyAdded": {
          const c = this.calls.get(conn);
          if (c && ev.OtherDN && !c.parties.has(ev.OtherDN)) {
            this.setParty(conn, ev.OtherDN, "Established",
              { role: ev.OtherDNRole === "Observer" ? "Observer" : "ConferenceMember" }, at);
          }
          break;
        }
        case "EventPartyDeleted":
          if (ev.OtherDN) this.removeParty(conn, ev.OtherDN);
          break;
      }
    }

    // agentStatus is what the board shows for an agent: its state, or
    // Ringing / Talking / Held / Dialing while its DN is on a call (a Ready
    // agent on a call stays Ready in T-Library), with the time it started.
    agentStatus(a) {
      let st = a.state, since = a.since;
      if (a.state !== "LoggedOut" && a.dn) {
        const rank = { Ringing: 4, Established: 3, Dialing: 2, Held: 1, Busy: 0 };
        let best = null;
        for (const c of this.calls.values()) {
          const p = c.parties.get(a.dn);
          if (p && p.state in rank && (!best || rank[p.state] > rank[best.state])) best = p;
        }
        if (best) {
          st = { Ringing: "Ringing", Established: "Talking", Dialing: "Dialing", Held: "Held", Busy: "Dialing" }[best.state];
          since = best.since;
        }
      }
      return { status: st, since };
    }

    // queueStats is what the board shows for a queue at local time now.
    queueStats(q, now) {
      const serverNow = now + this.offset;
      let longest = 0;
      for (const at of q.waiting.values()) longest = Math.max(longest, serverNow - at);
      const finished = q.answered + q.abandoned;
      let agentsIn = 0, ready = 0;
      for (const a of this.agents.values()) {
        if (a.state === "LoggedOut" || !a.queues.includes(q.number)) continue;
        agentsIn++;
        if (a.state === "Ready" && this.agentStatus(a).status === "Ready") ready++;
      }
      const st = this.stats && this.stats.get(q.number);
      if (st) {
        // Today's figures from the statistics API; service level as it
        // defines it: answered within the threshold, of the answered and
        // abandoned, abandons within 5 s left out; null before any.
        const d = st.today;
        const counted = d.answered + d.abandoned - d.abandonedWithin5s;
        return {
          waiting: q.waiting.size, longestMs: Math.max(0, longest),
          answered: d.answered, abandoned: d.abandoned, offered: d.offered,
          serviceLevel: counted > 0 ? Math.round((100 * d.answeredInServiceLevel) / counted) : null,
          slSeconds: st.serviceLevelThreshold, agents: agentsIn, ready,
        };
      }
      return {
        waiting: q.waiting.size,
        longestMs: Math.max(0, longest),
        answered: q.answered,
        abandoned: q.abandoned,
        offered: null,
        // Service level: answered within the threshold, of the calls that
        // left the queue answered or abandoned; null before any.
        serviceLevel: finished ? Math.round((100 * q.answeredInSL) / finished) : null,
        slSeconds: this.slSeconds,
        agents: agentsIn,
        ready,
      };
    }
  }

  const api = { Board, eventMs, SL_SECONDS };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.WallboardState = api;
})(typeof window !== "undefined" ? window : globalThis);
