// The dashboard: polls /state for the charts, the DVMA map and the tables, follows /events
// (SSE) for the event log, and starts runs with POST /runs. Everything is same-origin. While the
// server is away it backs off and says so on the status line instead of filling the console;
// a stream that sends nothing for two heartbeats is "stalled" and is reopened.

import { colour, drawOwners, LineChart } from "./charts.js";

const STATE_EVERY_MS = 500;
/** Longest wait between tries while the server does not answer. */
const MAX_BACKOFF_MS = 8000;
const DEFAULT_SCENARIO = "default";
const LOG_LINES = 500;
const FREE_COLOUR = "#2a2f3a";

const token = new URLSearchParams(location.search).get("token");
const api = (path) =>
  token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
const $ = (sel) => document.querySelector(sel);

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
}

function fmtNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns} ns`;
}

// ---- state: charts, map, tables ----

const ownerColour = (owner) => (owner < 0 ? FREE_COLOUR : colour(owner));
let trackedRun;
let typesShown = false;

const charts = {
  throughput: new LineChart($("#chart-throughput")),
  latency: new LineChart($("#chart-latency")),
  cpu: new LineChart($("#chart-cpu"), { yMax: 100 }),
};

function renderCharts(series) {
  const lines = (pick) =>
    series.map((s, i) => ({
      label: `run ${s.run} · ${s.path}`,
      colour: colour(i + 3),
      points: s.points.map((p) => [p.tNs, pick(p)]),
    }));
  charts.throughput.update(lines((p) => p.gbps));
  charts.latency.update(lines((p) => p.latencyUs));
  charts.cpu.update(lines((p) => p.controlCpu * 100));
  $("#legend").replaceChildren(
    ...series.map((s, i) => {
      const span = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = colour(i + 3);
      span.append(sw, `run ${s.run} · ${s.path}`);
      return span;
    }),
  );
}

function renderWindows(windows, domains) {
  const box = $("#windows");
  for (const w of windows) {
    const id = `window-${w.devhandle}`;
    let div = document.getElementById(id);
    if (div === null) {
      div = document.createElement("div");
      div.id = id;
      div.className = "window";
      div.append(document.createElement("div"), document.createElement("canvas"));
      div.lastChild.className = "map";
      box.appendChild(div);
    }
    const [stats, canvas] = div.children;
    stats.className = "stats";
    const t = w.iotlb;
    stats.textContent =
      `devhandle 0x${w.devhandle.toString(16)} · ${w.windowPages} entries · owned ${w.ownedEntries}` +
      ` · valid TTEs ${w.validTtes} · IOTLB hits ${t.hits} misses ${t.misses} invalidations ${t.invalidations}` +
      ` · faults ${w.faults}`;
    drawOwners(canvas, w.windowPages, w.owners, ownerColour);
    canvas.dataset.updates = String(Number(canvas.dataset.updates ?? 0) + 1);
    canvas.dataset.owned = String(w.ownedEntries);
  }
  $("#owners").replaceChildren(
    ...[{ id: -1, name: "free" }, ...domains].map((d) => {
      const span = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = ownerColour(d.id);
      span.append(sw, d.name);
      return span;
    }),
  );
}

function renderTables(s) {
  const rows = s.domains.map((d) => {
    const tr = document.createElement("tr");
    const pages = d.grants.reduce((n, g) => n + g.npages, 0);
    for (const v of [
      d.id,
      d.name,
      d.role,
      d.alive ? "alive" : "dead",
      `${(d.cpu * 100).toFixed(1)}%`,
      pages,
    ])
      cell(tr, String(v));
    return tr;
  });
  $("#domains tbody").replaceChildren(...rows);
  const results = s.results.slice(-10).map((r) => {
    const tr = document.createElement("tr");
    const m = r.metrics;
    for (const v of [
      r.run,
      r.path,
      m.throughputGbps,
      m.iops,
      m.latencyUs.p50,
      m.latencyUs.p99,
      m.perIo.hypercalls,
    ])
      cell(tr, String(v));
    return tr;
  });
  $("#results tbody").replaceChildren(...results);
}

function render(s) {
  const r = s.run;
  $("#run-info").textContent = r
    ? `run ${r.run}: ${r.scenario} / ${r.path} (${r.index + 1} of ${r.total}) · t = ${fmtNs(r.nowNs)} · ${r.done ? "done" : "running"}`
    : "no run yet";
  const dropped = s.feed.clients.reduce((n, c) => n + c.dropped, 0);
  $("#feed-stats").textContent =
    `last id ${s.feed.lastId} · ${s.feed.clients.length} client(s) · ${dropped} dropped`;
  renderCharts(s.series);
  renderWindows(s.windows, s.domains);
  renderTables(s);
  if (!typesShown) showTypeFilters(s.feed.eventTypes);
  if (trackedRun !== undefined) {
    const rec = s.runs.find((x) => x.id === trackedRun);
    if (rec) {
      const { done, total } = rec.progress;
      const where =
        rec.status === "running" ? `run ${done + 1} of ${total}` : `${done} of ${total} runs`;
      setRunStatus(
        `run request ${rec.id}: ${rec.status} (${where})${rec.error ? ` — ${rec.error}` : ""}`,
        rec.status === "failed",
      );
    }
  }
  server.state = describeState(s);
  showStatus();
}

/** What the server is doing, in words, from a /state snapshot. */
function describeState(s) {
  if (s.running.length > 0) {
    const r = s.running.at(-1);
    return `running ${r.scenario} / ${r.path} (run ${r.index + 1} of ${r.total}) at ${fmtNs(r.nowNs)}`;
  }
  if (s.run) return `idle; last run: ${s.run.scenario} / ${s.run.path}`;
  return "idle; no run yet: start one below";
}

// ---- the status line: the server's state, or why there is none ----

const server = { state: "connecting", away: undefined, stalled: false, noTypes: false };

function showStatus() {
  const el = $("#status");
  const text = server.away ?? (server.stalled ? "feed stalled: reconnecting" : server.state);
  el.textContent = text;
  el.className = server.away || server.stalled ? "warn" : "";
}

let pollDelay = STATE_EVERY_MS;

async function poll() {
  let ok = false;
  try {
    const res = await fetch(api("/state"));
    if (res.ok) {
      render(await res.json());
      ok = true;
    } else server.away = `server answered ${res.status}; retrying`;
  } catch {
    // The server is away: say so and back off instead of logging every try.
    server.away = `server unreachable; retrying in ${Math.round(pollDelay / 1000) || 1} s`;
  }
  if (ok) {
    // The stream closes itself on an error; it is reopened once the server answers again.
    if (source?.readyState === EventSource.CLOSED && !server.noTypes) connect();
    server.away = undefined;
    pollDelay = STATE_EVERY_MS;
  } else pollDelay = Math.min(MAX_BACKOFF_MS, pollDelay * 2);
  showStatus();
  setTimeout(poll, pollDelay);
}

// ---- event log (SSE) ----

let source;
let pending = [];
let received = 0;
let flushing = false;

function line(cls, text) {
  const li = document.createElement("li");
  if (cls) li.className = cls;
  li.textContent = text;
  return li;
}

function describe(id, e) {
  const fields = Object.entries(e)
    .filter(([k]) => k !== "type" && k !== "t")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `#${id} ${fmtNs(e.t).padStart(12)} ${e.type} ${fields}`;
}

function queue(li) {
  pending.push(li);
  if (pending.length > LOG_LINES) pending = pending.slice(-LOG_LINES);
  if (!flushing) {
    flushing = true;
    requestAnimationFrame(flush);
  }
}

function flush() {
  flushing = false;
  const log = $("#log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(...pending);
  pending = [];
  while (log.childElementCount > LOG_LINES) log.firstElementChild.remove();
  if (atEnd) log.scrollTop = log.scrollHeight;
  $("#log-count").textContent = `${received} received`;
}

/** Heartbeat period the server announced (hello); the watchdog waits for two. */
let heartbeatMs = 15000;
let lastData = 0;
let watchdog;

function connect() {
  source?.close();
  clearInterval(watchdog);
  const boxes = [...document.querySelectorAll("#type-filters input")];
  const on = boxes.filter((b) => b.checked).map((b) => b.value);
  server.noTypes = boxes.length > 0 && on.length === 0;
  if (server.noTypes) return setConn(false, "no types selected");
  const types = on.length === boxes.length ? "" : `?types=${on.join(",")}`;
  const es = new EventSource(api(`/events${types}`));
  source = es;
  lastData = performance.now(); // host clock: the watchdog
  // Only data counts as life: an open connection that sends nothing is still stalled.
  const alive = () => {
    lastData = performance.now(); // host clock
    setConn(true, "live");
    if (server.stalled) {
      server.stalled = false;
      showStatus();
    }
  };
  es.onopen = () => {
    if (!server.stalled) setConn(false, "connected");
  };
  es.onerror = () => {
    // While the server is away, stop retrying here: poll() reopens the stream when it is back.
    es.close();
    setConn(false, "disconnected");
  };
  es.addEventListener("hello", (m) => {
    heartbeatMs = JSON.parse(m.data).heartbeatMs;
    alive();
  });
  es.addEventListener("heartbeat", alive);
  es.onmessage = (m) => {
    alive();
    received++;
    queue(line("", describe(m.lastEventId, JSON.parse(m.data))));
  };
  es.addEventListener("run", (m) => {
    alive();
    const r = JSON.parse(m.data);
    queue(line("notice", `#${m.lastEventId} run ${r.run} started: ${r.scenario} / ${r.path}`));
  });
  es.addEventListener("result", (m) => {
    alive();
    const r = JSON.parse(m.data);
    queue(line("notice", `#${m.lastEventId} run ${r.run} done: ${r.metrics.throughputGbps} Gb/s`));
  });
  es.addEventListener("dropped", (m) => {
    alive();
    queue(
      line("dropped", `… ${JSON.parse(m.data).dropped} events dropped (this page read too slowly)`),
    );
  });
  // No data for two heartbeats: the stream is stalled (a proxy, a sleeping laptop); reopen it.
  watchdog = setInterval(() => {
    if (source !== es || performance.now() - lastData <= 2 * heartbeatMs) return; // host clock
    server.stalled = true;
    setConn(false, "stalled");
    showStatus();
    connect();
  }, 250);
}

function setConn(ok, text) {
  const c = $("#conn");
  c.className = ok ? "on" : "off";
  c.textContent = text;
}

function showTypeFilters(types) {
  typesShown = true;
  $("#type-filters").replaceChildren(
    ...types.map((t) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = t;
      box.checked = true;
      box.addEventListener("change", connect);
      label.append(box, ` ${t}`);
      return label;
    }),
  );
}

// ---- run form ----

function setRunStatus(text, error) {
  const el = $("#run-status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function loadScenarios() {
  const res = await fetch(api("/scenarios")).catch(() => undefined);
  if (!res?.ok) return setTimeout(loadScenarios, MAX_BACKOFF_MS);
  const select = $("#run-form select");
  select.replaceChildren(
    ...(await res.json()).map((s) => {
      const o = document.createElement("option");
      o.value = s.name;
      o.textContent = s.name;
      o.title = s.description;
      o.selected = s.name === DEFAULT_SCENARIO;
      return o;
    }),
  );
}

async function submitRun(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { scenario: f.get("scenario") };
  const seed = f.get("seed");
  const duration = String(f.get("duration")).trim();
  const pace = f.get("pace");
  const sets = String(f.get("set"))
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
  if (seed !== "") body.seed = Number(seed);
  if (duration !== "") body.duration = duration;
  if (pace !== "") body.pace = Number(pace);
  if (sets.length > 0) body.set = sets;
  const res = await fetch(api("/runs"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).catch(() => undefined);
  if (res === undefined) return setRunStatus("server unreachable: the run was not started", true);
  const out = await res.json();
  if (res.ok) {
    trackedRun = out.id;
    setRunStatus(`run request ${out.id}: started`, false);
  } else {
    // Keep the refusal on screen: the next poll must not replace it with an older run's status.
    trackedRun = undefined;
    setRunStatus(`refused (${res.status}): ${out.error}`, true);
  }
}

$("#run-form").addEventListener("submit", submitRun);
loadScenarios();
poll();
connect();
