// The geozarr dashboard: one page, hash routes #/status[/JOB], #/workers,
// #/jobs, #/graph[/JOB[/BAND]]. Fed by /api/events (SSE: task batches,
// failures, status snapshots) and polled /api/* JSON. Bounded: at most
// MAX_TASKS task attempts are kept, the stream and graph are canvases and
// the jobs list draws only its visible rows.
"use strict";
const COLORS = { level0: "#3b7dd8", overview: "#8e5bd6", band: "#1f9e89", carry: "#e0a030", coords: "#7a8a99", other: "#999" };
const STATE_COLORS = { done: "#2a9d5b", running: "#3b7dd8", queued: "#c5cbd6", waiting: "#e5e8ee", failed: "#d33", cancelled: "#aaa" };
const MAX_TASKS = 100000, WINDOW_MS = 60000, ROW_H = 14, PAD = 64;
const $ = id => document.getElementById(id);
const G = window.geozarr = {
  tasks: [], status: null, statusAt: 0, errors: [], lanes: new Map(), workers: [], throughput: [],
  view: { follow: true, t0: 0, t1: 0 }, rects: [], stream: { inWindow: 0, drawn: 0, distinct: 0 },
  graph: { nodes: 0, band: "", job: 0 }, detail: null, route: [],
};
const mb = b => (b / 1e6).toFixed(1);
const esc = s => String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const secs = ms => ms == null ? "" : Math.abs(ms) < 1000 ? ms.toFixed(ms < 10 ? 2 : 0) + " ms" : ms < 10000 ? (ms / 1000).toFixed(2) + " s" : ms < 600000 ? (ms / 1000).toFixed(1) + " s" : (ms / 60000).toFixed(1) + " min";
const legend = (cols, extra) => Object.entries(cols).map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`).join("") + (extra || "");
$("legend").innerHTML = legend(COLORS, '<span><i style="background:#d33"></i>failed</span>');
$("graph-legend").innerHTML = legend(STATE_COLORS);

/** Words for a task, from its structured fields. */
function label(t) {
  if (t.chunk) return `${t.band} level ${t.level} chunk (${t.chunk[0]}, ${t.chunk[1]})`;
  if (t.kind === "carry") return `carry-over of ${t.band}`;
  if (t.kind === "coords") return `coordinates of ${t.band}`;
  return t.band || t.kind || "task";
}
/** The scheduler's clock now (ms), from the last snapshot. */
G.clock = () => G.status ? G.status.counters.uptime_ms + (performance.now() - G.statusAt) : 0;

// ---- task stream -------------------------------------------------------
// lanes: a task goes to the first slot lane of its worker free at its start
function lane(t) {
  let ls = G.lanes.get(t.worker);
  if (!ls) { ls = []; G.lanes.set(t.worker, ls); }
  let i = ls.findIndex(end => end <= t.start_ms);
  if (i < 0) { i = ls.length; ls.push(0); }
  ls[i] = t.stop_ms;
  return i;
}
function addTasks(list) {
  for (const t of list) { t.lane = lane(t); G.tasks.push(t); }
  if (G.tasks.length > MAX_TASKS) G.tasks.splice(0, G.tasks.length - MAX_TASKS * 0.9);
  dirty();
}
/** First index whose stop_ms ≥ t (tasks arrive in stop order, nearly). */
function firstStop(t) {
  let lo = 0, hi = G.tasks.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (G.tasks[m].stop_ms < t) lo = m + 1; else hi = m; }
  return Math.max(0, lo - 64);
}
/** The window shown. Following: the last 60 s, starting no earlier than
 *  the run it follows (the running jobs, else the last one started) and
 *  ending now while a job runs, else at that job's end — so a short job
 *  fills the width and a long one scrolls by. */
function streamWindow() {
  if (!G.view.follow) return [G.view.t0, G.view.t1];
  const jobs = G.status ? G.status.jobs.filter(j => j.started_ms != null) : [];
  const running = jobs.filter(j => j.state === "running");
  const last = jobs.reduce((a, j) => (!a || j.started_ms > a.started_ms ? j : a), null);
  const n = G.tasks.length, lastStop = n ? G.tasks[n - 1].stop_ms : 0;
  const end = running.length || !last ? Math.max(G.clock(), lastStop) : Math.max(last.finished_ms ?? 0, lastStop);
  const anchor = running.length ? Math.min(...running.map(j => j.started_ms)) : last ? last.started_ms : -Infinity;
  const t0 = Math.max(end - WINDOW_MS, anchor);
  const margin = Math.max(1, (end - t0) * 0.02);
  return [t0, end + margin];
}
function drawStream() {
  const c = $("stream");
  const rows = [];
  for (const w of [...G.lanes.keys()].sort((a, b) => a - b)) G.lanes.get(w).forEach((_, i) => rows.push([w, i]));
  const H = Math.max(60, rows.length * ROW_H + 22);
  if (c.height !== H) c.height = H;
  const W = c.width = c.clientWidth || 1200;
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, W, H);
  const [t0, t1] = streamWindow();
  G.view.t0 = t0; G.view.t1 = t1;
  const sx = (W - PAD - 10) / Math.max(1, t1 - t0);
  const rowOf = new Map(rows.map((r, i) => [r.join("/"), i]));
  ctx.font = "11px system-ui"; ctx.fillStyle = "#444";
  rows.forEach(([w, i], r) => { if (i === 0) ctx.fillText("worker " + w, 2, r * ROW_H + 11); });
  const rects = [], seen = new Set();
  let inWindow = 0;
  for (let i = firstStop(t0); i < G.tasks.length; i++) {
    const t = G.tasks[i];
    if (t.stop_ms < t0 || t.start_ms > t1) continue;
    inWindow++;
    const r = rowOf.get(t.worker + "/" + t.lane);
    const x = PAD + Math.max(0, t.start_ms - t0) * sx;
    const w = Math.max(1, (Math.min(t.stop_ms, t1) - Math.max(t.start_ms, t0)) * sx);
    ctx.fillStyle = t.ok ? (COLORS[t.kind] || COLORS.other) : "#d33";
    ctx.fillRect(x, r * ROW_H + 1, w, ROW_H - 3);
    // a 1-px gap at the start of each bar keeps neighbours apart
    if (w > 2) { ctx.clearRect(x, r * ROW_H + 1, 1, ROW_H - 3); }
    seen.add(r + ":" + Math.round(x));
    rects.push([x, r * ROW_H + 1, w, ROW_H - 3, i]);
  }
  G.rects = rects;
  G.stream = { inWindow, drawn: rects.length, distinct: seen.size, t0, t1 };
  // time axis
  ctx.fillStyle = "#444"; ctx.strokeStyle = "#ccc";
  const span = t1 - t0, step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 3e4, 6e4, 12e4, 3e5, 6e5, 18e5, 36e5].find(s => span / s <= 10) || 72e5;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const x = PAD + (t - t0) * sx;
    ctx.fillRect(x, H - 20, 1, 4);
    ctx.fillText(secs(t), x + 2, H - 6);
  }
  $("stream-range").textContent = `${G.view.follow ? "following, " : ""}${secs(span)} shown · ${inWindow} tasks` +
    (G.skipped ? ` · ${G.skipped} task events passed over (more than the page draws)` : "");
}
/** The task drawn at canvas pixel (x, y), if any. */
G.hit = (x, y) => {
  for (let k = G.rects.length - 1; k >= 0; k--) {
    const [rx, ry, rw, rh, i] = G.rects[k];
    if (x >= rx - 1 && x <= rx + rw + 1 && y >= ry && y <= ry + rh) return G.tasks[i];
  }
  return null;
};
/** Viewport coordinates of the middle of task (job, task)'s bar, if drawn. */
G.pos = (job, task) => {
  const r = G.rects.find(r => G.tasks[r[4]].job === job && G.tasks[r[4]].task === task);
  if (!r) return null;
  const b = $("stream").getBoundingClientRect(), k = b.width / $("stream").width;
  return { x: b.left + (r[0] + r[2] / 2) * k, y: b.top + (r[1] + r[3] / 2) * k };
};
/** The widest bar drawn: its task and the viewport point of its middle. */
G.pick = () => {
  let best = null;
  for (const r of G.rects) if (!best || r[2] > best[2]) best = r;
  if (!best) return null;
  const t = G.tasks[best[4]];
  return { job: t.job, task: t.task, ...G.pos(t.job, t.task) };
};
function canvasXY(e) {
  const c = $("stream"), b = c.getBoundingClientRect(), k = c.width / b.width;
  return [(e.clientX - b.left) * k, (e.clientY - b.top) * k];
}
function setWindow(t0, t1) {
  G.view.follow = false; G.view.t0 = t0; G.view.t1 = Math.max(t0 + 1, t1);
  $("follow").classList.remove("on"); $("whole").classList.remove("on");
  dirty();
}
$("stream").addEventListener("wheel", e => {
  e.preventDefault();
  const [x] = canvasXY(e), W = $("stream").width;
  const { t0, t1 } = G.view, at = t0 + (x - PAD) / (W - PAD - 10) * (t1 - t0);
  const f = e.deltaY > 0 ? 1.25 : 0.8;
  setWindow(at - (at - t0) * f, at + (t1 - at) * f);
}, { passive: false });
let drag = null;
$("stream").addEventListener("mousedown", e => { drag = { x: canvasXY(e)[0], t0: G.view.t0, t1: G.view.t1, moved: false }; });
window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
$("stream").addEventListener("mousemove", e => {
  const [x, y] = canvasXY(e);
  if (drag && (e.buttons & 1) && Math.abs(x - drag.x) > 3) {
    drag.moved = true;
    const dt = (x - drag.x) / ($("stream").width - PAD - 10) * (drag.t1 - drag.t0);
    setWindow(drag.t0 - dt, drag.t1 - dt);
  }
  const t = G.hit(x, y), tip = $("tip");
  if (!t) { tip.hidden = true; return; }
  tip.hidden = false;
  tip.textContent = `${label(t)}\n${t.kind} · job ${t.job} task ${t.task} · attempt ${t.attempt}\nworker ${t.worker} · ${secs(t.stop_ms - t.start_ms)}` +
    ` · read ${mb(t.bytes_read)} MB · wrote ${mb(t.bytes_written)} MB${t.ok ? "" : "\nfailed: " + t.error}`;
  const b = $("stream-box").getBoundingClientRect();
  tip.style.left = Math.min(e.clientX - b.left + 12, b.width - 320) + "px";
  tip.style.top = (e.clientY - b.top + 12) + "px";
});
$("stream").addEventListener("mouseleave", () => { $("tip").hidden = true; });
$("stream").addEventListener("click", e => {
  if (drag && drag.moved) return;
  const t = G.hit(...canvasXY(e));
  if (t) showTask(t.job, t.task);
});
$("follow").onclick = () => { G.view.follow = true; $("follow").classList.add("on"); $("whole").classList.remove("on"); dirty(); };
$("whole").onclick = () => {
  const j = currentJob();
  if (!j) return;
  setWindow(j.started_ms ?? j.submitted_ms, j.finished_ms ?? G.clock());
  $("whole").classList.add("on");
};

async function showTask(job, task) {
  const d = $("task-detail");
  const r = await fetch(`api/task/${job}/${task}`);
  if (!r.ok) { d.hidden = false; d.textContent = `task ${task} of job ${job}: not found`; return; }
  const t = await r.json();
  G.detail = t;
  d.hidden = false;
  d.dataset.job = job; d.dataset.task = task;
  d.innerHTML = `<b>${esc(label(t))}</b> — job ${t.job} task ${t.task} · ${esc(t.kind)} · <span class="state-${t.state}">${t.state}</span>` +
    ` · waits for ${t.deps.length} task${t.deps.length === 1 ? "" : "s"} <button id="detail-close">close</button>
    <table><thead><tr><th>attempt</th><th>worker</th><th>start</th><th>duration</th><th>outcome</th><th>read MB</th><th>written MB</th></tr></thead><tbody>` +
    t.attempts.map(a => `<tr><td>${a.attempt}</td><td>${a.worker || ""}</td><td>${secs(a.start_ms)}</td><td>${secs(a.stop_ms - a.start_ms)}</td>
      <td class="${a.ok ? "" : "state-failed"}">${a.ok ? "ok" : esc(a.error || "failed")}</td><td>${mb(a.bytes_read)}</td><td>${mb(a.bytes_written)}</td></tr>`).join("") +
    `</tbody></table>`;
  $("detail-close").onclick = () => { d.hidden = true; };
}

// ---- progress ------------------------------------------------------------
const GROUP_ORDER = g => g === "level 0" ? 0 : g.startsWith("overview") ? +g.split(" ").pop() : g === "bands" ? 100 : g === "carry-over" ? 101 : 102;
const open = new Set();
function segs(p, cls) {
  const f = x => (100 * Math.min(1, x / Math.max(1, p.total))).toFixed(2);
  return `<div class="${cls}${p.done >= p.total ? " done" : ""}" title="${p.done} done · ${p.running} running · ${p.total - p.done - p.running} queued · ${p.failed} failed attempts">` +
    `<i class="done" style="width:${f(p.done)}%"></i><i class="running" style="width:${f(p.running)}%"></i><i class="failed" style="width:${f(Math.min(p.failed, p.total - p.done - p.running))}%"></i></div>`;
}
function renderProgress(job) {
  $("progress-job").textContent = job ? `job ${job.id}, ${job.state}` : "";
  if (!job) { $("progress").innerHTML = ""; return; }
  const groups = new Map();
  for (const p of job.parts) {
    let g = groups.get(p.group);
    if (!g) groups.set(p.group, g = { name: p.group, done: 0, running: 0, failed: 0, total: 0, parts: [] });
    for (const k of ["done", "running", "failed", "total"]) g[k] += p[k];
    g.parts.push(p);
  }
  $("progress").innerHTML = [...groups.values()].sort((a, b) => GROUP_ORDER(a.name) - GROUP_ORDER(b.name)).map(g =>
    `<details class="group" data-group="${esc(g.name)}"${open.has(g.name) ? " open" : ""}><summary><span>${esc(g.name)}</span>${segs(g, "bar")}` +
    `<span>${g.done}/${g.total}${g.running ? ` · ${g.running} running` : ""}${g.failed ? ` · ${g.failed} failed` : ""}</span></summary>` +
    (open.has(g.name) ? g.parts.map(p => `<div class="part"><span>${esc(p.name)}</span>${segs(p, "pbar")}<span>${p.done}/${p.total}</span></div>`).join("") : "") +
    `</details>`).join("");
  for (const d of $("progress").querySelectorAll("details")) d.addEventListener("toggle", () => {
    if (d.open) open.add(d.dataset.group); else open.delete(d.dataset.group);
    if (d.open !== d.children.length > 1) renderProgress(job);
  });
}

// ---- workers -------------------------------------------------------------
function spark(values, color, max) {
  const c = document.createElement("canvas"); c.width = 60; c.height = 22;
  const ctx = c.getContext("2d"), m = Math.max(max || 0, ...values, 1e-9);
  ctx.strokeStyle = color; ctx.beginPath();
  values.forEach((v, i) => ctx[i ? "lineTo" : "moveTo"](i * 60 / Math.max(1, values.length - 1), 21 - v / m * 19));
  ctx.stroke();
  return c;
}
function mbar(parts, text) {
  return `<div class="mbar">${parts.map(([cls, f]) => `<i class="${cls}" style="width:${(100 * Math.max(0, Math.min(1, f))).toFixed(1)}%"></i>`).join("")}<span>${text}</span></div>`;
}
function workerCells(w) {
  const lim = w.mem_limit || Math.max(w.rss, 1), cache = Math.min(w.cache_bytes, w.rss);
  return {
    mem: mbar([["cache", cache / lim], ["mem", (w.rss - cache) / lim]], `${mb(w.rss)} MB / ${w.mem_limit ? (w.mem_limit / 1e9).toFixed(1) + " GB" : "?"}`),
    cpu: mbar([["cpu", w.cpu / Math.max(1, w.slots)]], `${(100 * w.cpu).toFixed(0)} %`),
    proc: mbar([["proc", w.running / Math.max(1, w.slots)]], `${w.running} / ${w.slots}`),
  };
}
function renderWorkers() {
  const s = G.status;
  if (!s) return;
  const hist = new Map(G.workers.map(w => [w.id, w.history || []]));
  const sparks = (tr, w) => {
    const h = hist.get(w.id) || [];
    const td = tr.querySelector("td.spark");
    td.append(spark(h.map(x => x.cpu), "#e0a030", w.slots), spark(h.map(x => x.rss), "#8e5bd6"), spark(h.map(x => x.running), "#3b7dd8", w.slots));
  };
  const status = $("workers").tBodies[0];
  status.innerHTML = s.workers.map(w => {
    const c = workerCells(w);
    return `<tr><td>${w.id}</td><td>${esc(w.host)}:${w.pid}</td><td>${c.mem}</td><td>${c.cpu}</td><td>${c.proc}</td>
      <td>${mb(w.bytes_read)}</td><td>${mb(w.bytes_written)}</td><td class="cache">${w.chunks_decoded} / ${w.cache_hits}</td><td class="spark"></td></tr>`;
  }).join("");
  [...status.rows].forEach((tr, i) => sparks(tr, s.workers[i]));
  if (G.route[0] !== "workers") return;
  const page = $("workers-page").tBodies[0];
  page.innerHTML = s.workers.map(w => `<tr><td>${w.id}</td><td>${esc(w.host)}:${w.pid}</td><td>${w.slots}</td><td>${w.running}</td>
    <td>${w.tasks_done}</td><td>${w.tasks_failed}</td><td>${w.cpu.toFixed(2)}</td><td>${mb(w.rss)}</td><td>${mb(w.mem_limit)}</td><td>${mb(w.cache_bytes)}</td>
    <td>${mb(w.bytes_read)}</td><td>${mb(w.bytes_written)}</td><td>${w.chunks_decoded} / ${w.cache_hits}</td><td>${(w.heartbeat_age_ms / 1000).toFixed(1)} s</td><td class="spark"></td></tr>`).join("");
  [...page.rows].forEach((tr, i) => sparks(tr, s.workers[i]));
}

// ---- throughput ------------------------------------------------------------
function drawTput() {
  const c = $("tput");
  const W = c.width = c.clientWidth || 400, H = c.height;
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, W, H);
  const s = G.throughput;
  ctx.fillStyle = "#444"; ctx.font = "11px system-ui";
  if (s.length < 2) { ctx.fillText("no samples yet", 4, 12); return; }
  const rates = [];
  for (let i = 1; i < s.length; i++) {
    const dt = Math.max(1, s[i].t - s[i - 1].t) / 1000;
    rates.push([(s[i].read - s[i - 1].read) / dt / 1e6, (s[i].written - s[i - 1].written) / dt / 1e6, (s[i].tasks - s[i - 1].tasks) / dt]);
  }
  const maxMB = Math.max(1, ...rates.map(r => Math.max(r[0], r[1]))), maxT = Math.max(1, ...rates.map(r => r[2]));
  // steps: each rate holds over its own sampling interval, placed by time
  const t0 = s[0].t, span = Math.max(1, s[s.length - 1].t - t0);
  const x = t => (t - t0) / span * W;
  [["#3b7dd8", 0, maxMB], ["#2a9d5b", 1, maxMB], ["#e0a030", 2, maxT]].forEach(([col, k, max]) => {
    ctx.strokeStyle = col; ctx.beginPath();
    rates.forEach((r, i) => {
      const y = H - 4 - r[k] / max * (H - 22);
      ctx[i ? "lineTo" : "moveTo"](x(s[i].t), y);
      ctx.lineTo(x(s[i + 1].t), y);
    });
    ctx.stroke();
  });
  const last = rates[rates.length - 1];
  $("rates").textContent = `in ${last[0].toFixed(1)} MB/s · out ${last[1].toFixed(1)} MB/s · ${last[2].toFixed(0)} tasks/s`;
  ctx.fillStyle = "#444";
  ctx.fillText(`last ${secs(s[s.length - 1].t - s[0].t)}: max ${maxMB.toFixed(1)} MB/s (blue read, green written), max ${maxT.toFixed(0)} tasks/s (orange)`, 4, 12);
}

// ---- jobs --------------------------------------------------------------------
const JOB_ROW = 22;
function jobRow(j, i) {
  const dur = j.started_ms == null ? null : (j.finished_ms ?? G.clock()) - j.started_ms;
  return `<div class="row" data-job="${j.id}" style="top:${i * JOB_ROW}px"><span>${j.id}</span><span class="state-${j.state}">${j.state}</span>
    <span title="${esc(j.input)}">${esc(j.input)}</span><span title="${esc(j.output)}">${esc(j.output)}</span><span>${secs(j.submitted_ms)}</span>
    <span class="duration">${secs(dur)}</span><span>${j.done}/${j.total}</span><span>${mb(j.bytes_read)} / ${mb(j.bytes_written)}</span>
    <span>${j.core_seconds.toFixed(1)}</span><span>${j.retries}</span><span title="${esc(j.error || "")}">${esc(j.error || "")}</span></div>`;
}
/** Draw only the visible rows of the jobs list. */
function renderJobs() {
  const s = G.status;
  if (!s || G.route[0] !== "jobs") return;
  const list = $("jobs"), pad = list.firstElementChild, jobs = s.jobs.slice().reverse();
  pad.style.height = jobs.length * JOB_ROW + "px";
  const a = Math.floor(list.scrollTop / JOB_ROW), b = Math.min(jobs.length, a + Math.ceil(list.clientHeight / JOB_ROW) + 2);
  pad.innerHTML = jobs.slice(a, b).map((j, k) => jobRow(j, a + k)).join("");
}
$("jobs").addEventListener("scroll", renderJobs);
$("jobs").addEventListener("click", e => {
  const r = e.target.closest(".row");
  if (r) location.hash = `#/status/${r.dataset.job}`;
});

// ---- graph -------------------------------------------------------------------
async function loadGraph() {
  const s = G.status;
  if (!s || !s.jobs.length || G.route[0] !== "graph") return;
  const job = +(G.route[1] || s.jobs[s.jobs.length - 1].id);
  const list = await (await fetch(`api/graph/${job}`)).json().catch(() => ({ bands: [] }));
  const sel = $("graph-band");
  const band = decodeURIComponent(G.route.slice(2).join("/")) || sel.value || list.bands[0] || "";
  if (sel.dataset.job !== String(job) || sel.options.length !== list.bands.length) {
    sel.innerHTML = list.bands.map(b => `<option>${esc(b)}</option>`).join("");
    sel.dataset.job = job;
  }
  sel.value = band;
  if (!band) { G.graph = { nodes: 0, band, job }; return; }
  const g = await (await fetch(`api/graph/${job}/${band.split("/").map(encodeURIComponent).join("/")}`)).json();
  drawGraph(g);
}
$("graph-band").onchange = e => { location.hash = `#/graph/${G.route[1] || $("graph-band").dataset.job}/${e.target.value}`; };
function drawGraph(g) {
  const c = $("graph"), W = c.width = c.clientWidth || 1200;
  const levels = new Map();
  for (const n of g.nodes) { if (!levels.has(n.level)) levels.set(n.level, []); levels.get(n.level).push(n); }
  const ls = [...levels.keys()].sort((a, b) => a - b);
  const rowH = 60;
  c.height = Math.max(100, ls.length * rowH + 30);
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, W, c.height);
  const at = new Map();
  ls.forEach((l, r) => {
    const ns = levels.get(l).sort((a, b) => a.chunk[0] - b.chunk[0] || a.chunk[1] - b.chunk[1]);
    ns.forEach((n, i) => at.set(n.task, [80 + (i + 0.5) * (W - 90) / ns.length, 24 + r * rowH]));
  });
  ctx.strokeStyle = "#0002";
  for (const n of g.nodes) for (const d of n.deps) {
    const [x0, y0] = at.get(d), [x1, y1] = at.get(n.task);
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  }
  let drawn = 0;
  for (const n of g.nodes) {
    const [x, y] = at.get(n.task);
    ctx.fillStyle = STATE_COLORS[n.state] || "#999";
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 7); ctx.fill();
    drawn++;
  }
  ctx.fillStyle = "#444"; ctx.font = "11px system-ui";
  ls.forEach((l, r) => ctx.fillText(`level ${l} (${levels.get(l).length})`, 2, 28 + r * rowH));
  G.graph = { nodes: drawn, band: g.band, job: g.job, states: g.nodes.map(n => n.state) };
  $("graph-title").textContent = `job ${g.job}, ${g.band}: ${drawn} tasks`;
}

// ---- routing and feeds ---------------------------------------------------------
function currentJob() {
  const s = G.status;
  if (!s || !s.jobs.length) return null;
  const id = G.route[0] === "status" && G.route[1] ? +G.route[1] : null;
  return (id && s.jobs.find(j => j.id === id)) || s.jobs[s.jobs.length - 1];
}
function route() {
  G.route = (location.hash.replace(/^#\/?/, "") || "status").split("/");
  for (const v of ["status", "workers", "jobs", "graph"]) $("view-" + v).hidden = v !== G.route[0];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.getAttribute("href") === "#/" + G.route[0]);
  render(); loadGraph();
}
window.addEventListener("hashchange", route);
function render() {
  const s = G.status;
  if (!s) return;
  const job = currentJob();
  $("summary").textContent = `${s.workers.length} workers · ${s.counters.tasks_done} tasks done · ` +
    (job ? `job ${job.id} ${job.state} ${job.done}/${job.total}` : "no job") +
    ` · ${s.counters.retries} retries · ${s.counters.stale_results} stale results`;
  if (G.route[0] === "status") {
    renderProgress(job);
    const errs = G.errors.concat(s.jobs.filter(j => j.error).map(j => `job ${j.id}: ${j.error}`));
    $("errors").textContent = errs.length ? errs.join("\n") : "none";
  }
  renderWorkers(); renderJobs();
}
let pending = false;
function dirty() {
  if (pending || G.route[0] !== "status") return;
  pending = true;
  requestAnimationFrame(() => { pending = false; drawStream(); });
}
const es = new EventSource("api/events");
es.addEventListener("tasks", e => addTasks(JSON.parse(e.data)));
es.addEventListener("skipped", e => { G.skipped = (G.skipped || 0) + +e.data; });
es.addEventListener("failure", e => G.errors.push(JSON.parse(e.data)));
es.addEventListener("status", e => {
  G.status = JSON.parse(e.data); G.statusAt = performance.now();
  render(); dirty();
});
async function poll() {
  try {
    G.throughput = await (await fetch("api/throughput")).json();
    G.workers = await (await fetch("api/workers")).json();
    if (G.route[0] === "status") drawTput();
    if (G.route[0] === "graph" && currentJob() && currentJob().state === "running") loadGraph();
  } catch (e) { /* the next poll retries */ }
}
setInterval(poll, 1000);
setInterval(() => { if (G.view.follow) dirty(); }, 250);
window.addEventListener("resize", dirty);
route(); poll();
