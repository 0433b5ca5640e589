// PunkGrid dashboard: a page over /api/, refreshed every 2 s by polling (no reloads). Routes: #/ (cluster and runs),
// #/run/ID (a run's jobs and per-trait results), #/job/ID (timeline, curves, artifacts), #/job/ID/log (its log, live),
// #/schedules, #/models (the registry: versions, scores, which version each alias serves), #/searches and
// #/search/ID[/TARGET] (a hyperparameter search: its trials' curves, rungs, best so far, best settings; drawn with the
// vendored Chart.js).
"use strict";
const REFRESH_MS = 2000;
const view = document.getElementById("view");
const statusLine = document.getElementById("status");
const tokenInput = document.getElementById("token");
// The URL the silo (or the demo) prints carries the token as #token=…: keep it, then drop it from the address bar.
const given = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
if (given) {
  localStorage.setItem("punkgrid-token", given);
  history.replaceState(null, "", `${location.pathname}#/`);
}
tokenInput.value = localStorage.getItem("punkgrid-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("punkgrid-token", tokenInput.value));
// Buttons say what they do in data-command; one listener sends it (the page runs no inline script).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-command]");
  if (button) command(button.dataset.command);
});

const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const enc = encodeURIComponent;
const pct = (x) => `${Math.round((x || 0) * 100)}%`;
const num = (x, digits = 4) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));
const when = (t) => (t ? new Date(t).toLocaleString() : "");
const state = (s) => `<span class="state state-${esc(s)}">${esc(s)}</span>`;
const bar = (x) => `<span class="bar" title="${pct(x)}"><i style="width:${pct(x)}"></i></span> ${pct(x)}`;

async function api(path, options = {}) {
  const response = await fetch(`/api${path}`, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.detail || body?.error || `${response.status} ${response.statusText}`);
  return body;
}

async function command(path) {
  const headers = tokenInput.value ? { Authorization: `Bearer ${tokenInput.value}` } : {};
  try {
    const result = await api(path, { method: "POST", headers });
    statusLine.textContent = result.message;
  } catch (error) {
    statusLine.textContent = `refused: ${error.message}`;
  }
  refresh();
}

function table(headers, rows, empty) {
  if (rows.length === 0) return `<p class="muted">${esc(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

async function renderHome() {
  const [cluster, page] = await Promise.all([api("/cluster"), api("/runs?limit=100")]);
  const runs = page.runs;
  const workers = cluster.workers.map((w) => `<tr data-worker="${esc(w.worker_id)}" data-alive="${w.alive}">
      <td>${esc(w.worker_id)}</td><td>${esc(w.device)}</td><td class="num">${w.running} / ${w.slots}</td>
      <td>${when(w.last_heartbeat)}</td><td>${w.alive ? state("alive") : state("gone")}</td></tr>`);
  const runRows = runs.map((r) => `<tr data-run="${esc(r.run_id)}" data-state="${esc(r.state)}">
      <td><a href="#/run/${enc(r.run_id)}">${esc(r.run_id)}</a></td><td>${esc(r.kind)}</td><td>${esc(r.profile)}</td>
      <td>${state(r.state)}</td><td class="counts"><span>queued ${r.queued}</span><span>running ${r.running}</span>
      <span>succeeded ${r.succeeded}</span><span>failed ${r.failed}</span><span>cancelled ${r.cancelled}</span></td>
      <td>${bar(r.progress)}</td><td>${when(r.created_at)}</td></tr>`);
  return `<h2>Workers <span class="muted">(queue depth <span id="queue-depth">${cluster.queue_depth}</span>)</span></h2>
    ${table(["worker", "device", "slots in use", "last heartbeat", ""], workers, "No worker has registered yet.")}
    <h2>Runs</h2>${table(["run", "kind", "profile", "state", "jobs", "progress", "created"], runRows, "No runs yet: punkgrid submit traits --all --profile quick")}`;
}

// The F1 of every trait as horizontal bars, sorted by F1 or by name, green at or above the threshold, red below.
let sweepSort = "f1";
let threshold = Number(localStorage.getItem("punkgrid-threshold") || 0.95);
function f1Chart(scored) {
  const rows = [...scored].sort((a, b) => (sweepSort === "f1" ? a.f1 - b.f1 : a.trait.localeCompare(b.trait)));
  const rowHeight = 14, left = 120, width = 620, height = rows.length * rowHeight + 30;
  const x = (v) => left + v * (width - left - 44); // room right of a full bar for its value
  const bars = rows.map((r, i) => `<g data-bar="${esc(r.trait)}" data-f1="${r.f1}">
      <text x="${left - 4}" y="${i * rowHeight + 11}" text-anchor="end">${esc(r.trait)}</text>
      <rect x="${left}" y="${i * rowHeight + 2}" width="${Math.max(0, x(r.f1) - left).toFixed(1)}" height="${rowHeight - 3}" class="${r.f1 >= threshold ? "pass" : "fail"}"></rect>
      <text x="${x(r.f1) + 3}" y="${i * rowHeight + 11}">${num(r.f1, 3)}</text></g>`).join("");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${height - 18}" class="grid"></line>
      <text x="${x(t)}" y="${height - 4}" text-anchor="middle">${t}</text>`).join("");
  const passing = rows.filter((r) => r.f1 >= threshold).length;
  return `<p class="counts"><span>${passing} of ${rows.length} traits at F1 ≥ <input id="threshold" type="number" min="0" max="1" step="0.01" value="${threshold}"></span>
      <span>mean F1 ${num(rows.reduce((a, r) => a + r.f1, 0) / Math.max(rows.length, 1), 4)}</span>
      <span>sort <button data-sort="f1">by F1</button> <button data-sort="name">by name</button></span></p>
    <svg class="bars" data-chart="f1" width="${width}" height="${height}">${ticks}<line x1="${x(threshold)}" x2="${x(threshold)}" y1="0" y2="${height - 18}" class="threshold"></line>${bars}</svg>`;
}

document.addEventListener("click", (event) => {
  const sort = event.target.closest("[data-sort]");
  if (sort) { sweepSort = sort.dataset.sort; refresh(); }
});
document.addEventListener("change", (event) => {
  if (event.target.id === "threshold") { threshold = Number(event.target.value); localStorage.setItem("punkgrid-threshold", threshold); refresh(); }
  if (event.target.id === "compare-with" && event.target.value) location.hash = `#/compare/${enc(event.target.dataset.run)}/${enc(event.target.value)}`;
});

function parameters(spec) {
  if (!spec) return "";
  const entries = Object.entries(spec.parameters || {}).map(([k, v]) => `<span><code>${esc(k)}=${esc(v)}</code></span>`).join("");
  const targets = spec.all_targets ? "all traits" : (spec.targets || []).length ? `${spec.targets.length} target(s)` : "";
  return `<p class="counts" id="run-spec"><span>profile <b>${esc(spec.profile)}</b></span>${targets ? `<span>${esc(targets)}</span>` : ""}
    <span>priority ${spec.priority}</span>${entries || `<span class="muted">no overrides</span>`}</p>`;
}

async function renderRun(id) {
  const [run, results] = await Promise.all([api(`/runs/${enc(id)}`), api(`/runs/${enc(id)}/results`)]);
  const s = run.summary;
  const jobs = run.jobs.map((j) => `<tr data-job="${esc(j.job_id)}" data-state="${esc(j.state)}">
      <td><a href="#/job/${enc(j.job_id)}">${esc(j.target || j.job_id)}</a></td><td>${state(j.state)}</td>
      <td class="num" title="lost leases ${j.lost_leases}, failures ${j.failures} of ${j.max_failures}">${j.attempt}</td><td>${esc(j.worker_id)}</td>
      <td class="num">${j.epoch} / ${j.total_epochs}</td><td>${bar(j.progress)}</td><td class="detail">${esc(j.error)}</td></tr>`);
  const scored = results.filter((r) => r.f1 !== null);
  const resultRows = scored.map((r) => `<tr data-result="${esc(r.trait)}"><td>${esc(r.trait)}</td><td class="num">${num(r.accuracy)}</td>
      <td class="num">${num(r.precision)}</td><td class="num">${num(r.recall)}</td><td class="num">${num(r.f1)}</td>
      <td class="num">${r.test_positives ?? ""}</td><td class="num">${num(r.seconds, 1)}</td></tr>`);
  // Commands only where they change something: cancel while jobs are queued or running.
  const cancel = s.queued + s.running > 0 ? ` <button data-command="/runs/${enc(s.run_id)}/cancel">cancel run</button>` : "";
  return `<h2>Run ${esc(s.run_id)} ${state(s.state)}${cancel}</h2>
    <p class="counts"><span>${esc(s.kind)}</span><span>queued ${s.queued}</span><span>running ${s.running}</span>
      <span>succeeded ${s.succeeded}</span><span>failed ${s.failed}</span><span>cancelled ${s.cancelled}</span> ${bar(s.progress)}</p>
    ${parameters(run.spec)}
    ${scored.length ? `<h2>F1 per trait (held-out split) <label class="compare">compare with run <input id="compare-with" data-run="${esc(s.run_id)}" placeholder="run id"></label></h2>${f1Chart(scored)}` : ""}
    <h2>Jobs${run.next_jobs ? ` <span class="muted">(first ${run.jobs.length})</span>` : ""}</h2>
    ${table(["job", "state", "attempt", "worker", "epoch", "progress", "error"], jobs, "No jobs.")}
    ${scored.length ? `<h2>Per-trait results</h2>${table(["trait", "accuracy", "precision", "recall", "f1", "test positives", "seconds"], resultRows, "")}` : ""}`;
}

// Two sweeps side by side: every trait's F1 in each, and the difference (largest changes first).
async function renderCompare(a, b) {
  const [left, right, specA, specB] = await Promise.all([api(`/runs/${enc(a)}/results`), api(`/runs/${enc(b)}/results`), api(`/runs/${enc(a)}`), api(`/runs/${enc(b)}`)]);
  const other = new Map(right.filter((r) => r.f1 !== null).map((r) => [r.trait, r]));
  const rows = left.filter((r) => r.f1 !== null && other.has(r.trait)).map((r) => ({ trait: r.trait, a: r.f1, b: other.get(r.trait).f1, delta: other.get(r.trait).f1 - r.f1 }))
    .sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta));
  const mean = (k) => rows.reduce((s, r) => s + r[k], 0) / Math.max(rows.length, 1);
  const body = rows.map((r) => `<tr data-compare="${esc(r.trait)}" data-delta="${r.delta}"><td>${esc(r.trait)}</td><td class="num">${num(r.a)}</td>
      <td class="num">${num(r.b)}</td><td class="num ${r.delta >= 0 ? "up" : "down"}">${r.delta >= 0 ? "+" : ""}${num(r.delta)}</td></tr>`);
  return `<h2>Compare <a href="#/run/${enc(a)}">${esc(a)}</a> → <a href="#/run/${enc(b)}">${esc(b)}</a></h2>
    ${parameters(specA.spec)}${parameters(specB.spec)}
    <p class="counts"><span>${rows.length} traits in both</span><span>mean F1 ${num(mean("a"))} → ${num(mean("b"))} (${mean("delta") >= 0 ? "+" : ""}${num(mean("delta"))})</span>
      <span>better in ${rows.filter((r) => r.delta > 0).length}, worse in ${rows.filter((r) => r.delta < 0).length}</span></p>
    ${table(["trait", `F1 ${a}`, `F1 ${b}`, "ΔF1"], body, "The two runs share no scored trait.")}`;
}

// Curves worth drawing first; any other metric with several points follows.
const PREFERRED = ["train_loss", "test_loss", "epoch_train_loss", "validation_loss", "validation_accuracy", "test_accuracy", "train_mse", "test_mse", "test_kl", "d_loss", "g_loss", "punk_fid"];

function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= count) || step * 10;
  const out = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12; t += nice) out.push(Number(t.toPrecision(6)));
  return out;
}

// One metric over steps, with both axes ticked, the epochs' boundaries (dotted) and the attempts' (dashed, labelled).
function chart(name, points) {
  const width = 380, height = 190, left = 46, right = 8, top = 8, bottom = 30;
  const xs = points.map((p) => p.step), ys = points.map((p) => p.value);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
  const sy = (y) => height - bottom - ((y - y0) / (y1 - y0 || 1)) * (height - top - bottom);
  const line = points.map((p) => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(" ");
  const xAxis = ticks(x0, x1, 5).map((t) => `<line x1="${sx(t)}" x2="${sx(t)}" y1="${height - bottom}" y2="${height - bottom + 4}" class="tick"></line>
      <text x="${sx(t)}" y="${height - bottom + 14}" text-anchor="middle">${t}</text>`).join("");
  const yAxis = ticks(y0, y1, 4).map((t) => `<line x1="${left - 4}" x2="${width - right}" y1="${sy(t)}" y2="${sy(t)}" class="grid"></line>
      <text x="${left - 6}" y="${sy(t) + 3}" text-anchor="end">${Number(t.toPrecision(3))}</text>`).join("");
  const marks = [];
  for (let i = 1; i < points.length; i++) {
    if (points[i].attempt !== points[i - 1].attempt) {
      marks.push(`<line x1="${sx(points[i].step)}" x2="${sx(points[i].step)}" y1="${top}" y2="${height - bottom}" class="attempt"></line>
        <text x="${sx(points[i].step) + 2}" y="${top + 9}" class="attempt-label">attempt ${points[i].attempt}</text>`);
    } else if (points[i].epoch !== points[i - 1].epoch) {
      marks.push(`<line x1="${sx(points[i].step)}" x2="${sx(points[i].step)}" y1="${top}" y2="${height - bottom}" class="epoch" data-epoch="${points[i].epoch}"></line>`);
    }
  }
  return `<figure><svg class="chart" data-metric="${esc(name)}" data-points="${points.length}" width="${width}" height="${height}">
      ${yAxis}${xAxis}${marks.join("")}<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" class="axis"></line>
      <line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" class="axis"></line>
      <polyline points="${line}"></polyline><text x="${width - right}" y="${height - 2}" text-anchor="end" class="axis-label">step</text></svg>
      <figcaption>${esc(name)} <span class="muted">(dotted: epochs, dashed: a new attempt)</span></figcaption></figure>`;
}

// A job's metric points, fetched once downsampled and then only the new ones each refresh.
let metricCache = { job: null, points: [], lastStep: -1 };
async function jobMetrics(id) {
  if (metricCache.job !== id) {
    const first = await api(`/jobs/${enc(id)}/metrics?points=500`);
    metricCache = { job: id, points: first.points, lastStep: Math.max(-1, ...first.points.map((p) => p.step)) };
  } else {
    const fresh = await api(`/jobs/${enc(id)}/metrics?after_step=${metricCache.lastStep}&limit=20000`);
    if (fresh.points.length) {
      metricCache.points.push(...fresh.points);
      metricCache.lastStep = Math.max(metricCache.lastStep, ...fresh.points.map((p) => p.step));
      if (metricCache.points.length > 20000) metricCache.points = metricCache.points.filter((_, i) => i % 2 === 0);
    }
  }
  return metricCache.points;
}

// A job's log lines: the newest 1000 first, then only the new ones each refresh (by the cursor `next`).
const LOG_KEEP = 5000;
let logCache = { job: null, lines: [], next: 0, dropped: 0, more: false };
async function jobLog(id) {
  if (logCache.job !== id) {
    const page = await api(`/jobs/${enc(id)}/logs?tail=true&limit=1000`);
    logCache = { job: id, lines: page.lines, next: page.next, dropped: page.dropped, more: page.more };
  } else {
    const page = await api(`/jobs/${enc(id)}/logs?after=${logCache.next}&limit=5000`);
    logCache.lines.push(...page.lines);
    logCache.next = page.next;
    logCache.dropped = page.dropped;
    if (logCache.lines.length > LOG_KEEP) {
      logCache.lines = logCache.lines.slice(-LOG_KEEP);
      logCache.more = true;
    }
  }
  return logCache;
}

function jobTabs(j, current) {
  const tab = (href, label, name) => `<a href="${href}" class="tab${current === name ? " current" : ""}">${label}</a>`;
  return `<nav class="tabs">${tab(`#/job/${enc(j.job_id)}`, "Overview", "overview")}${tab(`#/job/${enc(j.job_id)}/log`, "Log", "log")}</nav>`;
}

async function renderJobLog(id) {
  const [detail, log] = await Promise.all([api(`/jobs/${enc(id)}`), jobLog(id)]);
  const j = detail.job;
  const rows = log.lines.map((l) => `<tr data-log-line="${l.id}" data-level="${esc(l.level)}" class="log-${esc(l.level)}${l.superseded ? " superseded" : ""}">
      <td>${when(l.at)}</td><td class="num">${l.attempt}${l.superseded ? ` <span class="muted" title="written after a newer attempt took the job">superseded</span>` : ""}</td>
      <td>${esc(l.level)}</td><td>${esc(l.source)}</td><td><pre>${esc(l.message)}</pre></td></tr>`);
  const earlier = log.more || log.dropped ? `<p class="muted">Showing the newest ${log.lines.length} lines${log.dropped ? `; ${log.dropped} older line(s) were dropped by the log's bound` : ""} (punkgrid logs ${esc(j.job_id)} prints every line kept).</p>` : "";
  return `<h2>Job ${esc(j.job_id)} ${state(j.state)}</h2>${jobTabs(j, "log")}${earlier}
    ${table(["at", "attempt", "level", "source", "message"], rows, "No log lines yet.")}
    <p class="muted">${["Queued", "Running"].includes(j.state) ? "Live: new lines appear as the job writes them." : `The job is ${esc(j.state)}.`}</p>`;
}

async function renderJob(id) {
  const [detail, metrics, artifacts] = await Promise.all([api(`/jobs/${enc(id)}`), jobMetrics(id), api(`/jobs/${enc(id)}/artifacts`)]);
  const j = detail.job;
  const events = detail.events.map((e) => `<tr data-event="${esc(e.to_state)}"><td>${when(e.at)}</td><td class="num">${e.attempt}</td>
      <td>${e.from_state ? state(e.from_state) : ""} → ${state(e.to_state)}</td><td>${esc(e.worker_id)}</td><td class="detail">${esc(e.detail)}</td></tr>`);
  const byName = new Map();
  for (const p of metrics) (byName.get(p.name) || byName.set(p.name, []).get(p.name)).push(p);
  const names = [...byName.keys()].filter((n) => byName.get(n).length > 1)
    .sort((a, b) => (PREFERRED.indexOf(a) + 1 || 99) - (PREFERRED.indexOf(b) + 1 || 99) || a.localeCompare(b)).slice(0, 8);
  const images = artifacts.filter((a) => a.content_type.startsWith("image/"));
  const others = artifacts.filter((a) => !a.content_type.startsWith("image/"));
  const summary = Object.entries(j.summary || {}).map(([k, v]) => `<span>${esc(k)} ${num(v)}</span>`).join("");
  // Cancel while queued or running, retry once failed or cancelled (what the API accepts).
  const command = ["Queued", "Running"].includes(j.state) ? `<button data-command="/jobs/${enc(j.job_id)}/cancel">cancel</button>`
    : ["Failed", "Cancelled"].includes(j.state) ? `<button data-command="/jobs/${enc(j.job_id)}/retry">retry</button>` : "";
  return `<h2>Job ${esc(j.job_id)} ${state(j.state)} ${command}</h2>${jobTabs(j, "overview")}
    <p class="counts"><a href="#/run/${enc(j.run_id)}">run ${esc(j.run_id)}</a> <span>${esc(detail.spec.kind)} ${esc(detail.spec.target || "")}, profile ${esc(detail.spec.profile)}</span>
      <span>attempt ${j.attempt} (${j.lost_leases} lost lease(s), ${j.failures} / ${j.max_failures} failures)</span><span>epoch ${j.epoch} / ${j.total_epochs}</span> ${bar(j.progress)}</p>
    ${summary ? `<p class="counts">${summary}</p>` : ""}${j.error ? `<p class="error">${esc(j.error)}</p>` : ""}
    <h2>Curves</h2>${names.length ? `<div class="charts">${names.map((n) => chart(n, byName.get(n))).join("")}</div>` : `<p class="muted">No metrics yet.</p>`}
    <h2>State timeline</h2>${table(["at", "attempt", "transition", "worker", "detail"], events, "No events.")}
    <h2>Artifacts</h2><div class="artifacts charts">${images.map((a) => `<figure><img alt="${esc(a.name)}" src="/api/jobs/${enc(j.job_id)}/artifacts/${enc(a.name)}?sha=${esc(a.sha256.slice(0, 12))}"><figcaption>${esc(a.name)}</figcaption></figure>`).join("")}</div>
    ${table(["name", "type", "bytes", "attempt"], others.map((a) => `<tr><td><a href="/api/jobs/${enc(j.job_id)}/artifacts/${enc(a.name)}">${esc(a.name)}</a></td><td>${esc(a.content_type)}</td><td class="num">${a.size_bytes}</td><td class="num">${a.attempt}</td></tr>`), images.length ? "" : "No artifacts yet.")}`;
}

async function renderSchedules() {
  const schedules = await api("/schedules");
  const rows = schedules.map((s) => `<tr data-schedule="${esc(s.name)}"><td>${esc(s.name)}</td><td><code>${esc(s.cron)}</code></td><td>${esc(s.time_zone)}</td>
      <td>${s.paused ? state("Paused") : state("Active")}</td><td>${esc(s.run.kind)} ${s.run.all_targets ? "all" : esc(s.run.targets.join(","))} (${esc(s.run.profile)})</td>
      <td>${when(s.next_fire_at)}</td><td>${s.last_run_id ? `<a href="#/run/${enc(s.last_run_id)}">${esc(s.last_run_id)}</a>` : ""}</td><td class="detail">${esc(s.last_outcome)}</td></tr>`);
  return `<h2>Schedules</h2>${table(["name", "cron", "time zone", "", "run", "next firing", "last run", "last outcome"], rows, "No schedules: punkgrid schedule add --name nightly --cron \"0 3 * * *\" -- traits --all")}`;
}

async function renderModels() {
  const [models, promotions] = await Promise.all([api("/models"), api("/models/promotions?limit=50")]);
  const score = (v) => (v.metric === null || v.metric === undefined ? "" : `${esc(v.metric_name)} ${num(v.metric)}`);
  const rows = models.map((m) => {
    const aliases = Object.entries(m.aliases).sort().map(([a, version]) => {
      const v = m.versions.find((x) => x.version === version);
      return `<span class="alias" data-alias="${esc(a)}" data-version="${version}">${esc(a)} → v${version}${v ? ` (${score(v)}, run <a href="#/run/${enc(v.run_id)}">${esc(v.run_id)}</a>)` : ""}</span>`;
    }).join(" ");
    const latest = m.versions[0];
    return `<tr data-model="${esc(m.name)}"><td>${esc(m.name)}</td><td class="num">${m.versions.length}</td>
      <td>v${latest.version} <span class="muted">${score(latest)}</span></td><td>${aliases || `<span class="muted">no alias</span>`}</td></tr>`;
  });
  const decisions = promotions.map((d) => `<tr data-promotion="${esc(d.model)}" data-promoted="${d.promoted}"><td>${when(d.decided_at)}</td>
      <td><a href="#/run/${enc(d.run_id)}">${esc(d.run_id)}</a></td><td>${esc(d.model)}</td><td>${esc(d.alias)}</td>
      <td>v${d.candidate_version} ${num(d.candidate_metric)}</td><td>${d.current_version ? `v${d.current_version} ${num(d.current_metric)}` : ""}</td>
      <td>${d.promoted ? state("Succeeded").replace(">Succeeded<", ">promoted<") : "kept"}</td><td class="detail">${esc(d.reason)}</td></tr>`);
  return `<h2>Models</h2>${table(["model", "versions", "latest", "serving (alias → version)"], rows, "No registered models: punkgrid models register --run RUN")}
    <h2>Promote-if-better decisions</h2>${table(["at", "run", "model", "alias", "candidate", "alias pointed at", "", "why"], decisions, "None yet: submit or schedule a run with --promote-if-better ALIAS.")}`;
}

// Charts drawn after a page's HTML is in place (Chart.js needs its canvas); the previous page's are destroyed first.
let charts = [];
let pendingCharts = [];
function drawCharts() {
  for (const c of charts) c.destroy();
  charts = [];
  if (!window.Chart) return;
  for (const { id, config } of pendingCharts) {
    const canvas = document.getElementById(id);
    if (canvas) charts.push(new window.Chart(canvas, config));
  }
  pendingCharts = [];
}

async function renderSearches() {
  const searches = await api("/searches?limit=100");
  const rows = searches.map((s) => `<tr data-search="${esc(s.search_id)}" data-state="${esc(s.state)}">
      <td><a href="#/search/${enc(s.search_id)}">${esc(s.search_id)}</a></td><td>${esc(s.kind)}</td><td>${esc(s.searcher)}</td>
      <td>${esc(s.metric)}</td><td>${state(s.state)}</td><td class="num">${s.targets}</td><td class="num">${s.trials}</td><td>${when(s.created_at)}</td></tr>`);
  return `<h2>Searches</h2>${table(["search", "kind", "searcher", "metric", "state", "targets", "trials", "created"], rows,
    "No searches: punkgrid search traits --traits Earring --profile tuned --space \"lr=loguniform(2e-4,5e-3)\"")}`;
}

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const settingsText = (p) => Object.entries(p || {}).sort().map(([k, v]) => `${k}=${v}`).join(" ");

async function renderSearch(id, wanted) {
  const data = await api(`/searches/${enc(id)}`);
  const s = data.search;
  const targets = s.targets.map((t) => t.target);
  const target = targets.includes(wanted) ? wanted : targets[0];
  const label = (t) => (t === "" ? s.kind : t);
  const summary = s.targets.find((t) => t.target === target);
  const trials = data.trials.filter((t) => t.target === target);
  const curves = data.curves.filter((c) => c.target === target);
  const decisions = data.decisions.filter((d) => d.target === target);
  const better = (a, b) => (s.higher_is_better ? a > b : a < b);
  const top = s.rung_epochs.length - 1;

  // Each trial's metric against epochs: a trial ASHA stopped ends at its rung.
  const datasets = curves.map((c, i) => {
    const trial = trials.find((t) => t.trial === c.trial);
    const best = summary.best_trial === c.trial;
    return { label: `trial ${c.trial}${trial && trial.status !== "completed" ? ` (${trial.status})` : ""}`, data: c.points.map((p) => ({ x: p.epoch, y: p.value })),
      borderColor: best ? "#000" : PALETTE[i % PALETTE.length], backgroundColor: best ? "#000" : PALETTE[i % PALETTE.length],
      borderWidth: best ? 3 : 1.5, pointRadius: 2, tension: 0 };
  });
  pendingCharts.push({ id: "search-curves", config: { type: "line", data: { datasets }, options: { animation: false, responsive: false, parsing: false,
    plugins: { legend: { position: "right", labels: { boxWidth: 10 } }, title: { display: true, text: `${s.metric} by epoch (rungs at ${s.rung_epochs.join(", ")})` } },
    scales: { x: { type: "linear", min: 0, max: s.rung_epochs[top], title: { display: true, text: "epoch" },
      afterBuildTicks: (axis) => { axis.ticks = [0, ...s.rung_epochs].map((value) => ({ value })); } },
      y: { title: { display: true, text: s.metric } } } } } });

  // The best result so far, each time a result was recorded (minutes since the search started).
  const started = new Date(s.created_at).getTime();
  let bestSoFar = null;
  const steps = [];
  for (const d of decisions.filter((d) => d.action === "result" && d.value !== null)) {
    if (bestSoFar === null || better(d.value, bestSoFar)) bestSoFar = d.value;
    steps.push({ x: (new Date(d.decided_at).getTime() - started) / 60000, y: bestSoFar });
  }
  pendingCharts.push({ id: "search-best", config: { type: "line", data: { datasets: [{ label: `best ${s.metric} so far`, data: steps, stepped: true,
    borderColor: "#59a14f", backgroundColor: "#59a14f", pointRadius: 2 }] }, options: { animation: false, responsive: false, parsing: false,
    plugins: { legend: { display: false }, title: { display: true, text: `best ${s.metric} so far` } },
    scales: { x: { type: "linear", min: 0, title: { display: true, text: "minutes since the search started" } }, y: { title: { display: true, text: s.metric } } } } } });

  const rungRows = s.rung_epochs.map((epochs, rung) => {
    const done = trials.filter((t) => t.results[rung] !== undefined);
    const values = done.map((t) => t.results[rung]);
    const bestValue = values.length ? values.reduce((a, b) => (better(b, a) ? b : a)) : null;
    const sent = trials.filter((t) => t.rung >= rung).length;
    return `<tr data-rung="${rung}"><td class="num">${rung}</td><td class="num">${epochs}</td><td class="num">${sent}</td><td class="num">${done.length}</td>
      <td class="num">${rung < top ? trials.filter((t) => t.rung > rung).length : ""}</td><td class="num">${num(bestValue)}</td></tr>`;
  });
  const ranked = trials.filter((t) => Object.keys(t.results).length > 0).map((t) => {
    const rung = Math.max(...Object.keys(t.results).map(Number));
    return { t, rung, value: t.results[rung] };
  }).sort((a, b) => b.rung - a.rung || (s.higher_is_better ? b.value - a.value : a.value - b.value) || a.t.trial - b.t.trial).slice(0, 5);
  const bestRows = ranked.map(({ t, rung, value }) => `<tr data-best-trial="${t.trial}"><td class="num">${t.trial}</td><td class="num">${num(value)}</td>
      <td class="num">${s.rung_epochs[rung]}</td><td><code>${esc(settingsText(t.parameters))}</code></td><td><a href="#/job/${enc(t.job_id)}">${esc(t.job_id)}</a></td></tr>`);
  const trialRows = trials.map((t) => `<tr data-trial="${t.trial}" data-status="${esc(t.status)}"><td class="num">${t.trial}</td><td>${esc(t.status)}</td>
      <td class="num">${t.rung}</td><td class="num">${t.epoch} / ${t.epochs}</td>${s.rung_epochs.map((_, r) => `<td class="num">${num(t.results[r])}</td>`).join("")}
      <td><code>${esc(settingsText(t.parameters))}</code></td><td><a href="#/job/${enc(t.job_id)}">${esc(t.job_id)}</a> ${state(t.job_state)}</td></tr>`);
  const decisionRows = decisions.slice(-30).reverse().map((d) => `<tr data-decision="${d.sequence}"><td class="num">${d.sequence}</td><td>${esc(d.action)}</td>
      <td class="detail">${esc(d.detail)}</td><td>${when(d.decided_at)}</td></tr>`);
  const tabs = targets.length > 1 ? `<nav class="tabs">${targets.map((t) => `<a href="#/search/${enc(s.search_id)}/${enc(t)}" class="tab${t === target ? " current" : ""}" data-target="${esc(t)}">${esc(label(t))}</a>`).join("")}</nav>` : "";
  const cancel = s.state === "Running" ? ` <button data-command="/searches/${enc(s.search_id)}/cancel">cancel search</button>` : "";
  return `<h2>Search ${esc(s.search_id)} ${state(s.state)}${cancel}</h2>
    <p class="counts" id="search-spec"><span>${esc(s.searcher)} over ${esc(s.kind)} (${esc(s.profile)})</span><span>${esc(s.metric)}, ${s.higher_is_better ? "higher" : "lower"} is better</span>
      <span>rungs at ${s.rung_epochs.join(", ")} epochs</span><span>${s.max_trials} trials per target, ${s.max_concurrent} at once</span>
      <span>run <a href="#/run/${enc(s.run_id)}">${esc(s.run_id)}</a></span></p>${tabs}
    <p class="counts" id="search-target" data-target="${esc(target)}"><span><b>${esc(label(target))}</b> ${state(summary.state)}</span><span>${summary.trials} trial(s), ${summary.running} running</span>
      <span>${summary.decisions} decision(s)</span><span>${summary.epochs_trained} epochs trained</span>
      ${summary.best_trial ? `<span>best: trial ${summary.best_trial}, ${esc(s.metric)} ${num(summary.best_value)} at ${summary.best_epochs} epochs</span>` : ""}</p>
    <div class="charts"><canvas id="search-curves" data-chart="curves" width="720" height="340"></canvas><canvas id="search-best" data-chart="best" width="480" height="340"></canvas></div>
    <h2>Rungs</h2>${table(["rung", "epochs", "trials sent", "completed", "promoted", `best ${s.metric}`], rungRows, "")}
    <h2>Best trials</h2>${table(["trial", s.metric, "at epochs", "settings", "job (its model)"], bestRows, "No trial has completed a rung yet.")}
    <h2>Trials</h2>${table(["trial", "status", "rung", "epoch", ...s.rung_epochs.map((e) => `@${e}`), "settings", "job"], trialRows, "No trials yet.")}
    <h2>Latest decisions</h2>${table(["#", "action", "detail", "at"], decisionRows, "No decisions yet.")}`;
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  const [route, id] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    const second = decodeURIComponent(location.hash.replace(/^#\/?/, "").split("/")[2] || "");
    const html = route === "run" ? await renderRun(id) : route === "job" ? await (second === "log" ? renderJobLog(id) : renderJob(id)) : route === "compare" ? await renderCompare(id, second)
      : route === "schedules" ? await renderSchedules() : route === "models" ? await renderModels()
      : route === "searches" ? await renderSearches() : route === "search" ? await renderSearch(id, second) : await renderHome();
    view.innerHTML = html;
    drawCharts();
    statusLine.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.updated = String(Date.now());
  } catch (error) {
    pendingCharts = [];
    view.innerHTML = `<p class="error" id="load-error">${esc(error.message)}</p>`;
    statusLine.textContent = "error";
  } finally {
    refreshing = false;
  }
}

window.addEventListener("hashchange", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
