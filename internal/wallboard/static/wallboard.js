// wallboard.js: the page. It finds the tenant and token, keeps the event
// stream open (reconnecting with backoff, resyncing from the GET endpoints
// each time), feeds the model of state.js and renders it.
"use strict";

(function () {
  const { Board, eventMs } = window.WallboardState;
  const $ = (id) => document.getElementById(id);

  const STATUS_ORDER = ["Ringing", "Talking", "Dialing", "Held", "Ready", "AfterCallWork", "NotReady"];
  const STATUS_LABEL = {
    Ready: "Ready", Ringing: "Ringing", Talking: "Talking", Dialing: "Dialing", Held: "On hold",
    NotReady: "Not ready", AfterCallWork: "After-call work", LoggedOut: "Logged out",
  };
  const BACKOFF_MIN = 500, BACKOFF_MAX = 15000;

  let tenant = "", token = "";
  let board = new Board();
  let ws = null, attempt = 0, retryTimer = 0, generation = 0, scheduled = false;
  let statsWs = null, statsTimer = 0;

  // ------------------------------------------------------------ auth
  const tokenKey = (t) => "switchboard.wallboard.token." + t;

  function readCredentials() {
    const params = new URLSearchParams(location.search);
    tenant = params.get("tenant") || sessionStorage.getItem("switchboard.wallboard.tenant") || "";
    // #token=... : taken, kept in this tab's sessionStorage, and removed
    // from the address bar (a fragment is never sent to the server).
    const frag = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (frag.has("token")) {
      if (tenant) sessionStorage.setItem(tokenKey(tenant), frag.get("token"));
      history.replaceState(null, "", location.pathname + location.search);
      if (!tenant) showLogin("", frag.get("token"));
    }
    token = tenant ? sessionStorage.getItem(tokenKey(tenant)) || "" : "";
  }

  function showLogin(message, presetToken) {
    stop();
    $("board").hidden = true;
    $("totals").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    $("login-tenant").value = tenant;
    if (presetToken) $("login-token").value = presetToken;
    $("login-error").textContent = message || "";
    setStatus("idle", "not connected");
    (tenant ? $("login-token") : $("login-tenant")).focus();
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    tenant = $("login-tenant").value.trim();
    token = $("login-token").value.trim();
    if (!tenant || !token) return;
    sessionStorage.setItem("switchboard.wallboard.tenant", tenant);
    sessionStorage.setItem(tokenKey(tenant), token);
    $("login-token").value = "";
    const u = new URL(location.href);
    u.searchParams.set("tenant", tenant);
    history.replaceState(null, "", u.pathname + u.search);
    start();
  });

  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(tokenKey(tenant));
    token = "";
    showLogin("Signed out.");
  });

  class AuthError extends Error {}

  async function api(method, path) {
    const res = await fetch("/v1/tenants/" + encodeURIComponent(tenant) + path, {
      method, headers: { Authorization: "Bearer " + token }, cache: "no-store",
    });
    if (res.status === 401 || res.status === 403) {
      let msg = "The token was refused.";
      try { msg = (await res.json()).error.message; } catch (_) { /* keep the default */ }
      throw new AuthError(msg);
    }
    if (!res.ok) throw new Error(method + " " + path + ": HTTP " + res.status);
    return res.json();
  }

  // ---------------------------------------------------------- stream
  function setStatus(state, text) {
    const el = $("conn-status");
    el.dataset.state = state;
    el.textContent = text;
  }

  function stop() {
    generation++;
    clearTimeout(retryTimer);
    clearTimeout(statsTimer);
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    if (statsWs) { statsWs.onclose = null; statsWs.close(); statsWs = null; }
  }

  // openStats loads today's figures from the statistics API and keeps
  // them live from its WebSocket (an update at most once a second),
  // reopening it while the event stream is up. Without the statistics
  // API (serve --stats=false) the page counts from the events it sees.
  async function openStats(gen) {
    try {
      const res = await fetch("/v1/tenants/" + encodeURIComponent(tenant) + "/stats", {
        headers: { Authorization: "Bearer " + token }, cache: "no-store",
      });
      if (res.status === 404) return;
      if (!res.ok) throw new Error("GET /stats: HTTP " + res.status);
      const update = await res.json();
      if (gen !== generation) return;
      board.setStats(update);
      schedule();
      const { ticket } = await api("POST", "/events/ticket");
      if (gen !== generation) return;
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const sock = new WebSocket(proto + "//" + location.host + "/v1/tenants/" + encodeURIComponent(tenant) +
        "/stats/ws?ticket=" + encodeURIComponent(ticket));
      statsWs = sock;
      sock.onmessage = (m) => {
        try { board.setStats(JSON.parse(m.data)); } catch (_) { return; }
        schedule();
      };
      sock.onclose = () => {
        if (statsWs !== sock) return;
        statsWs = null;
        statsTimer = setTimeout(() => { if (gen === generation) openStats(gen); }, 2000);
      };
    } catch (_) {
      if (gen === generation) statsTimer = setTimeout(() => { if (gen === generation) openStats(gen); }, 2000);
    }
  }

  function start() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("totals").hidden = false;
    $("sign-out").hidden = false;
    $("tenant-name").textContent = tenant;
    document.title = "Wallboard · " + tenant + " · switchboard";
    board = new Board();
    attempt = 0;
    schedule();
    connect();
  }

  // connect opens the stream, then resyncs from the GET endpoints while
  // buffering the events that arrive meanwhile, then applies them: the
  // model misses nothing recorded after the stream opened.
  async function connect() {
    stop();
    const gen = generation;
    setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
    let pending = [];
    try {
      const { ticket } = await api("POST", "/events/ticket");
      if (gen !== generation) return;
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const sock = new WebSocket(proto + "//" + location.host + "/v1/tenants/" + encodeURIComponent(tenant) +
        "/events?ticket=" + encodeURIComponent(ticket));
      ws = sock;
      sock.onmessage = (m) => {
        let ev;
        try { ev = JSON.parse(m.data); } catch (_) { return; }
        if (pending) pending.push(ev);
        else { board.apply(ev, Date.now()); schedule(); }
      };
      sock.onclose = () => { if (ws === sock) { ws = null; retry(); } };
      await new Promise((resolve, reject) => {
        sock.onopen = resolve;
        sock.onerror = () => reject(new Error("the event stream did not open"));
      });
      sock.onerror = null;
      const [agents, calls] = await Promise.all([api("GET", "/agents"), api("GET", "/calls")]);
      if (gen !== generation || ws !== sock) return;
      board.seed(agents.agents, calls.calls);
      for (const ev of pending) board.apply(ev, Date.now());
      pending = null;
      attempt = 0;
      schedule();
      setStatus("live", "live");
      openStats(gen);
    } catch (err) {
      if (gen !== generation) return;
      if (err instanceof AuthError) {
        sessionStorage.removeItem(tokenKey(tenant));
        token = "";
        showLogin(err.message);
        return;
      }
      if (ws) { ws.onclose = null; ws.close(); ws = null; }
      retry();
    }
  }

  function retry() {
    clearTimeout(retryTimer);
    const delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt++;
    const until = Date.now() + delay;
    const tick = () => {
      const s = Math.ceil((until - Date.now()) / 1000);
      setStatus("retry", "offline · retrying in " + Math.max(0, s) + " s");
    };
    tick();
    const gen = generation;
    const countdown = setInterval(() => { if (gen !== generation) clearInterval(countdown); else tick(); }, 1000);
    retryTimer = setTimeout(() => { clearInterval(countdown); connect(); }, delay);
  }

  // ---------------------------------------------------------- render
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + pad(m) + ":" + pad(r) : pad(m) + ":" + pad(r);
  }

  function hhmmss(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }

  // render redraws everything: a wallboard has tens of agents and calls,
  // so one redraw per second (and per batch of events) is cheap and keeps
  // the code obvious.
  function render() {
    const now = Date.now();
    const serverNow = now + board.offset;
    $("clock").textContent = hhmmss(serverNow);
    if ($("board").hidden) return;

    // Agents, grouped by what they are doing.
    const groups = new Map(STATUS_ORDER.map((s) => [s, []]));
    let loggedOut = 0;
    for (const a of board.agents.values()) {
      if (a.state === "LoggedOut") { loggedOut++; continue; }
      const st = board.agentStatus(a);
      groups.get(st.status).push({ a, st });
    }
    const gs = [];
    for (const [status, list] of groups) {
      if (!list.length) continue;
      list.sort((x, y) => (x.st.since || 0) - (y.st.since || 0) || x.a.agentId.localeCompare(y.a.agentId));
      gs.push(el("div", { class: "group", "data-status": status, "data-group": status },
        el("h3", {}, el("span", { class: "dot", "aria-hidden": "true" }), STATUS_LABEL[status],
          el("span", { class: "n" }, "(" + list.length + ")")),
        el("div", { class: "tiles" }, ...list.map(({ a, st }) =>
          el("article", { class: "tile", "data-agent": a.agentId, "data-status": st.status,
            "aria-label": a.agentId + ", " + STATUS_LABEL[st.status] + ", for " + duration(serverNow - st.since) },
          el("div", { class: "who" }, el("span", { class: "id" }, a.agentId), el("span", { class: "dn" }, a.dn)),
          el("div", { class: "timer" }, st.since ? duration(serverNow - st.since) : "–"),
          el("div", { class: "what" }, STATUS_LABEL[st.status] +
            (a.workMode && a.workMode !== "Unknown" && st.status !== "Talking" && st.status !== "Ringing" ? " · " + a.workMode : "") +
            (a.queues.length ? " · " + a.queues.join(", ") : "")))))));
    }
    $("agent-groups").replaceChildren(...gs);
    $("agents-out").textContent = (gs.length ? "" : "No agent logged in. ") +
      (loggedOut ? loggedOut + " agent" + (loggedOut === 1 ? "" : "s") + " logged out." : "");

    // Totals.
    const count = (...ss) => ss.reduce((n, s) => n + groups.get(s).length, 0);
    $("total-ready").textContent = count("Ready");
    $("total-talking").textContent = count("Talking", "Ringing", "Dialing", "Held");
    $("total-notready").textContent = count("NotReady", "AfterCallWork");
    $("total-calls").textContent = board.calls.size;

    // Queues.
    let waiting = 0;
    const qs = [...board.queues.values()].sort((x, y) => x.number.localeCompare(y.number)).map((q) => {
      const s = board.queueStats(q, now);
      waiting += s.waiting;
      const alert = s.longestMs > s.slSeconds * 1000 ? "long" : s.waiting ? "wait" : "";
      const slClass = s.serviceLevel === null ? "" : s.serviceLevel >= 80 ? "sl-good" : s.serviceLevel >= 60 ? "sl-mid" : "sl-bad";
      return el("article", { class: "queue", "data-queue": q.number, "data-alert": alert },
        el("div", { class: "name" }, "Queue " + q.number),
        el("div", { class: "figures" },
          el("div", { class: "fig" }, el("span", { class: "num", "data-field": "waiting" }, String(s.waiting)), el("span", { class: "lbl" }, "waiting")),
          el("div", { class: "fig" }, el("span", { class: "num", "data-field": "longest" }, s.waiting ? duration(s.longestMs) : "–"), el("span", { class: "lbl" }, "longest wait")),
          el("div", { class: "fig" }, el("span", { class: "num " + slClass, "data-field": "sl" }, s.serviceLevel === null ? "–" : s.serviceLevel + "%"),
            el("span", { class: "lbl", title: "answered within " + s.slSeconds + " s, of the calls answered or abandoned" }, "service level"))),
        el("div", { class: "foot" }, s.ready + " of " + s.agents + " agents ready · " +
          (s.offered === null ? "" : s.offered + " offered · ") + s.answered + " answered · " + s.abandoned + " abandoned" +
          (s.offered === null ? "" : " today")));
    });
    $("queues").replaceChildren(...qs);
    $("queues-empty").hidden = qs.length > 0;
    $("total-waiting").textContent = waiting;

    // Calls, oldest first.
    const calls = [...board.calls.values()].sort((x, y) => (x.started || 0) - (y.started || 0));
    $("calls").replaceChildren(...calls.map((c) => el("li", { class: "call", "data-call": c.connId },
      el("div", { class: "head" },
        el("span", { class: "type" }, c.callType || "Call"),
        el("span", {}, c.started ? duration(serverNow - c.started) : ""),
        el("span", {}, c.connId)),
      el("div", { class: "parties" }, ...[...c.parties.values()].map((p) =>
        el("span", { class: "party", "data-party": p.dn, "data-state": p.state },
          p.dn + (p.agentId ? " (" + p.agentId + ")" : ""), el("span", { class: "st" }, p.state)))))));
    $("calls-empty").hidden = calls.length > 0;
    $("calls-count").textContent = calls.length ? "(" + calls.length + ")" : "";

    // Feed.
    $("feed").replaceChildren(...board.feed.map((ev) => {
      const detail = [ev.ThisDN, ev.OtherDN && "↔ " + ev.OtherDN, ev.AgentID, ev.ThisQueue && "q " + ev.ThisQueue,
        ev.AgentWorkMode, ev.CallState && ev.CallState !== "Ok" ? ev.CallState : ""].filter(Boolean).join(" ");
      return el("li", { "data-topic": ev.ConnID ? "call" : "agent", "data-event": ev.id },
        el("span", { class: "t" }, hhmmss(eventMs(ev))),
        el("span", { class: "n" }, (ev.id || "").replace(/^Event/, "")),
        el("span", { class: "d" }, detail));
    }));
  }

  // One redraw per second for the timers, and one shortly after events
  // arrive (a burst of events gives one redraw).
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => { scheduled = false; render(); }, 30);
  }
  setInterval(render, 1000);

  // A token pasted into the address bar as #token=... later (the page
  // stays loaded: only the fragment changed) is taken the same way.
  window.addEventListener("hashchange", () => {
    if (!new URLSearchParams(location.hash.replace(/^#/, "")).has("token")) return;
    readCredentials();
    if (tenant && token) start();
  });

  readCredentials();
  if (tenant && token) start();
  else if ($("login").hidden) showLogin("");
})();
