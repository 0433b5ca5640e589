// PunkGrid dashboard: a page over /api/, refreshed every 2 s by polling (no reloads). Routes: #/ (cluster and runs),
// #/run/ID (a run's jobs and per-trait results), #/job/ID (timeline, curves, artifacts), #/schedules.
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
  if (!response.ok) throw new Error(body?.error || `${response.status} ${response.statusText}`);
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
  return `<h2>Run ${esc(s.run_id)} ${state(s.state)} <button data-command="/runs/${enc(s.run_id)}/cancel">cancel run</button></h2>
    <p class="counts"><span>${esc(s.kind)}, profile ${esc(s.profile)}</span><span>queued ${s.queued}</span><span>running ${s.running}</span>
      <span>succeeded ${s.succeeded}</span><span>failed ${s.failed}</span><span>cancelled ${s.cancelled}</span> ${bar(s.progress)}</p>
    ${table(["job", "state", "attempt", "worker", "epoch", "progress", "error"], jobs, "No jobs.")}
    ${scored.length ? `<h2>Per-trait results (held-out split)</h2>${table(["trait", "accuracy", "precision", "recall", "f1", "test positives", "seconds"], resultRows, "")}` : ""}`;
}

// Curves worth drawing first; any other metric with several points follows.
const PREFERRED = ["train_loss", "test_loss", "epoch_train_loss", "validation_loss", "validation_accuracy", "test_accuracy", "train_mse", "test_mse", "test_kl", "d_loss", "g_loss", "punk_fid"];

function chart(name, points) {
  const width = 300, height = 150, pad = 28;
  const xs = points.map((p) => p.step), ys = points.map((p) => p.value);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - pad - 6);
  const sy = (y) => height - 16 - ((y - y0) / (y1 - y0 || 1)) * (height - 28);
  const line = points.map((p) => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(" ");
  return `<figure><svg class="chart" data-metric="${esc(name)}" data-points="${points.length}" width="${width}" height="${height}">
      <polyline points="${line}"></polyline><text x="2" y="12">${num(y1, 3)}</text><text x="2" y="${height - 16}">${num(y0, 3)}</text>
      <text x="${pad}" y="${height - 2}">step ${x0}</text><text x="${width - 70}" y="${height - 2}">step ${x1}</text></svg>
      <figcaption>${esc(name)}</figcaption></figure>`;
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
  return `<h2>Job ${esc(j.job_id)} ${state(j.state)}
      <button data-command="/jobs/${enc(j.job_id)}/cancel">cancel</button> <button data-command="/jobs/${enc(j.job_id)}/retry">retry</button></h2>
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

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  const [route, id] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    const html = route === "run" ? await renderRun(id) : route === "job" ? await renderJob(id) : route === "schedules" ? await renderSchedules() : await renderHome();
    view.innerHTML = html;
    statusLine.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.updated = String(Date.now());
  } catch (error) {
    view.innerHTML = `<p class="error" id="load-error">${esc(error.message)}</p>`;
    statusLine.textContent = "error";
  } finally {
    refreshing = false;
  }
}

window.addEventListener("hashchange", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
