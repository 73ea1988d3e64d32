/* credsim explorer: the page's logic. Plain JavaScript, Vega-Lite for the charts (vendored).
   Everything the page shows about a slider (unit, default, source) comes from the server
   (POST api/controls), read from the regime and mechanism data files. */
"use strict";

const S = {
  limits: {}, regimes: [], controls: null, active: 0, job: null, result: null, charts: {},
  saved: false, t0: 0,
  req: { regime: "seed-national-score", upload: null, persons: 10000, days: 365, seeds: 1, seed: 1,
         chilling: true, arms: [{ label: "A", set: {} }] },
};
const $ = (id) => document.getElementById(id);
const FIELDS = ["regime", "upload", "persons", "days", "seeds", "seed", "arms", "request"];

/* ---------------------------------------------------------------- helpers */
async function api(path, body) {
  const opt = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { data = { error: `HTTP ${r.status}` }; }
  return { status: r.status, data };
}

function decimals(step) {
  const s = String(step);
  return s.includes(".") ? s.split(".")[1].length : 0;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en");
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
  if (a === 0) return "0";
  return Number(v.toPrecision(3)).toString();
}

function encodeState(obj) {
  const bytes = new TextEncoder().encode(JSON.stringify(obj));
  let bin = "";
  for (let i = 0; i < bytes.length; i += 4096) bin += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeState(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function readHash() {
  const m = location.hash.match(/^#s=([A-Za-z0-9_-]+)$/);
  if (!m) return null;
  try { return decodeState(m[1]); } catch (e) { return null; }
}

function shareURL() {
  return location.origin + location.pathname + "#s=" + encodeState(S.req);
}

/* ---------------------------------------------------------------- errors */
function clearErrors() { for (const f of FIELDS) { const e = $("err-" + f); if (e) e.textContent = ""; } }

function showErrors(errors) {
  for (const [field, messages] of Object.entries(errors)) {
    let id = field.startsWith("arms") ? "arms" : field;
    if (!FIELDS.includes(id)) id = "request";
    const prefix = field.startsWith("arms[") ? `Arm ${S.req.arms[+field.slice(5, -1)]?.label ?? field}: ` : "";
    const el = $("err-" + id);
    el.textContent = (el.textContent ? el.textContent + "\n" : "") + prefix + messages.join("\n" + prefix);
  }
}

/* ---------------------------------------------------------------- form */
function writeForm() {
  $("regime").value = S.req.regime;
  for (const k of ["persons", "days", "seeds", "seed"]) $(k).value = S.req[k];
  $("chilling").checked = !!S.req.chilling;
  $("regime").disabled = !!S.req.upload || S.saved;
  $("clear-upload").hidden = !S.req.upload || S.saved;
  $("upload-desc").textContent = S.req.upload ? `Using the uploaded file ${S.req.upload.name}.`
    : "Checked like credsim validate; it may name shipped files only.";
  const d = S.regimes.find((r) => r.name === S.req.regime);
  $("regime-desc").textContent = S.req.upload ? "" : (d ? d.description : "");
  for (const k of ["persons", "days", "seeds"]) {
    const cap = S.limits["max_" + (k === "persons" ? "agents" : k)];
    if (cap) $(k).max = cap;
  }
}

function readForm() {
  for (const k of ["persons", "days", "seeds", "seed"]) S.req[k] = Number($(k).value);
  S.req.chilling = $("chilling").checked;
}

async function loadControls() {
  const { status, data } = await api("api/controls", { regime: S.req.regime, upload: S.req.upload });
  $("err-upload").textContent = ""; $("err-regime").textContent = "";
  if (status !== 200) {
    S.controls = null;
    if (data.errors) showErrors(data.errors); else $("err-request").textContent = data.error;
    renderArms();
    return false;
  }
  S.controls = data;
  const paths = new Set(data.sliders.map((s) => s.path));
  for (const arm of S.req.arms) for (const p of Object.keys(arm.set)) if (!paths.has(p)) delete arm.set[p];
  renderArms();
  return true;
}

/* ---------------------------------------------------------------- arms and sliders */
function renderArms() {
  const tabs = $("arm-tabs");
  tabs.innerHTML = "";
  S.req.arms.forEach((arm, i) => {
    const b = document.createElement("button");
    b.type = "button"; b.role = "tab"; b.id = "arm-tab-" + i; b.textContent = arm.label;
    b.setAttribute("role", "tab");
    b.setAttribute("aria-selected", String(i === S.active));
    b.setAttribute("aria-controls", "sliders");
    b.tabIndex = i === S.active ? 0 : -1;
    b.addEventListener("click", () => { S.active = i; renderArms(); });
    b.addEventListener("keydown", (ev) => {
      const n = S.req.arms.length;
      if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        S.active = (S.active + (ev.key === "ArrowRight" ? 1 : n - 1)) % n;
        renderArms(); $("arm-tab-" + S.active).focus();
      }
    });
    tabs.appendChild(b);
  });
  const max = S.limits.max_arms || 3;
  $("add-arm").disabled = S.saved || S.req.arms.length >= max;
  $("remove-arm").disabled = S.saved || S.req.arms.length <= 1;
  $("arm-label").value = S.req.arms[S.active].label;
  $("arm-label").disabled = S.saved;
  $("run").disabled = S.saved || !S.controls;
  renderSliders();
}

function renderSliders() {
  const box = $("sliders");
  box.innerHTML = "";
  if (!S.controls) return;
  const arm = S.req.arms[S.active];
  const groups = {};
  S.controls.sliders.forEach((s, i) => { (groups[s.group] = groups[s.group] || []).push([s, i]); });
  for (const [group, items] of Object.entries(groups)) {
    let parent = box;
    if (group !== "mechanisms") {
      const det = document.createElement("details");
      det.className = "group";
      const changed = items.filter(([s]) => s.path in arm.set).length;
      det.innerHTML = `<summary>${esc(group[0].toUpperCase() + group.slice(1))} (${items.length}` +
        `${changed ? `, ${changed} changed` : ""})</summary>`;
      if (changed) det.open = true;
      parent = document.createElement("div");
      det.appendChild(parent);
      box.appendChild(det);
    }
    for (const [s, i] of items) parent.appendChild(slider(s, i, arm));
  }
}

function slider(s, i, arm) {
  const div = document.createElement("div");
  const value = s.path in arm.set ? arm.set[s.path] : s.default;
  div.className = "slider" + (s.path in arm.set ? " changed" : "");
  const id = "s-" + i;
  div.dataset.path = s.path;
  // (labels can come from an uploaded regime: always escaped)
  div.innerHTML = `<label for="${id}">${esc(s.label)} <span class="unit">(${esc(s.unit)})</span></label>
    <div class="line"><input type="range" id="${id}" min="${Number(s.min)}" max="${Number(s.max)}"
      step="${Number(s.step)}" value="${Number(value)}" aria-describedby="${id}-help">
    <output for="${id}" id="${id}-out">${Number(value).toFixed(decimals(s.step))}</output>
    <button type="button" class="reset" aria-label="Reset ${esc(s.label)} to its default">reset</button></div>
    <p class="help" id="${id}-help">${esc(s.help)}</p>
    <details><summary>default ${esc(String(s.default))}: where it comes from</summary><p></p></details>`;
  div.querySelector("details p").textContent = s.source;
  const input = div.querySelector("input");
  input.disabled = S.saved;
  const update = () => {
    const v = Number(input.value);
    div.querySelector("output").textContent = v.toFixed(decimals(s.step));
    if (Math.abs(v - s.default) < s.step / 2) delete arm.set[s.path]; else arm.set[s.path] = v;
    div.classList.toggle("changed", s.path in arm.set);
  };
  input.addEventListener("input", update);
  input.addEventListener("change", update);
  div.querySelector(".reset").addEventListener("click", () => { input.value = s.default; update(); });
  div.querySelector(".reset").disabled = S.saved;
  return div;
}

/* ---------------------------------------------------------------- running */
async function run(ev) {
  if (ev) ev.preventDefault();
  if (S.saved) return;
  clearErrors();
  readForm();
  S.t0 = performance.now();
  history.replaceState(null, "", "#s=" + encodeState(S.req));
  $("run").disabled = true;
  $("progress").value = 0;
  $("status").textContent = "Sending…";
  const { status, data } = await api("api/runs", S.req);
  if (status === 400) {
    showErrors(data.errors); $("status").textContent = "Not run: see the messages above.";
    $("run").disabled = false; return;
  }
  if (status !== 202) {
    $("err-request").textContent = data.error || `HTTP ${status}`;
    $("status").textContent = status === 429 ? "The server is busy." : "Not run.";
    $("run").disabled = false; return;
  }
  follow(data);
}

function follow(snap) {
  S.job = snap.id;
  const show = (s) => {
    $("progress").value = s.fraction;
    $("status").textContent = s.state === "queued" ? "Queued…" : s.state === "running"
      ? `Running: ${s.runs_done} of ${s.runs} runs done` : s.state;
  };
  show(snap);
  if (snap.state === "done") { S.tDone = performance.now(); loadResult(snap.id); return; }
  const es = new EventSource(`api/jobs/${snap.id}/events`);
  es.onmessage = (m) => {
    const s = JSON.parse(m.data);
    show(s);
    if (s.state === "done") { es.close(); S.tDone = performance.now(); loadResult(s.id); }
    if (s.state === "failed") {
      es.close(); $("err-request").textContent = s.error; $("status").textContent = "Failed.";
      $("run").disabled = false;
    }
  };
  es.onerror = () => { es.close(); setTimeout(() => poll(snap.id), 500); };
}

async function poll(id) {
  const { status, data } = await api(`api/jobs/${id}`);
  if (status !== 200) { $("err-request").textContent = data.error; $("run").disabled = false; return; }
  if (data.state === "done") loadResult(id);
  else if (data.state === "failed") { $("err-request").textContent = data.error; $("run").disabled = false; }
  else follow(data);
}

async function loadResult(id) {
  const { status, data } = await api(`api/jobs/${id}/result`);
  $("run").disabled = false;
  if (status !== 200) { $("err-request").textContent = data.error; return; }
  S.result = data;
  $("progress").value = 1;
  await render();
  const ms = Math.round(performance.now() - S.t0);
  window.credsimTimings = { run_to_chart_ms: ms, run_to_done_ms: Math.round((S.tDone || performance.now()) - S.t0) };
  $("status").textContent = `Done: ${data.meta.agents.toLocaleString("en")} agents, ` +
    `${S.req.days} days, ${S.req.arms.length} arm(s) x ${S.req.seeds} seed(s) in ${(ms / 1000).toFixed(1)} s`;
}

/* ---------------------------------------------------------------- charts */
const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

function facetWidth(n) {
  const w = Math.max(320, Math.min(1200, document.querySelector("main").clientWidth - 40));
  return Math.max(220, Math.floor(w / n) - 90);
}

function timeSpec(name, values, field, order, ytitle, facetField, facetSort, scale = undefined) {
  const n = facetSort.length;
  const x = { field: "day", type: "quantitative", title: "day", axis: { tickCount: 6 } };
  const color = { field, type: "nominal", sort: order, ...(scale ? { scale } : {}), title: field, legend: { labelLimit: 160, orient: "bottom", columns: 4 } };
  const yscale = name === "grades" ? { type: "symlog" } : {};
  return {
    $schema: SCHEMA, datasets: { [name]: values }, data: { name },
    facet: { column: { field: facetField, type: "nominal", sort: facetSort, title: null } },
    spec: {
      width: facetWidth(n), height: 200,
      layer: [
        { mark: { type: "area", opacity: 0.2 }, encoding: { x, y: { field: "lo", type: "quantitative", title: ytitle, scale: yscale }, y2: { field: "hi" }, color } },
        { mark: { type: "line", strokeWidth: 1.6 }, encoding: { x, y: { field: "median", type: "quantitative", title: ytitle, scale: yscale }, color,
          tooltip: [{ field: facetField }, { field }, { field: "day" }, { field: "median", format: ",.0f" }, { field: "lo", format: ",.0f" }, { field: "hi", format: ",.0f" }] } },
      ],
    },
  };
}

const ARM_COLORS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b"];  // an arm keeps its colour

function armScale(arms, offset) { return { domain: arms, range: ARM_COLORS.slice(offset, offset + arms.length) }; }

function barSpec(name, values, arms, offset = 0) {
  const x = { field: "arm", type: "nominal", sort: arms, title: null, axis: { labels: false, ticks: false } };
  return {
    $schema: SCHEMA, datasets: { [name]: values }, data: { name },
    transform: [{ filter: "datum.median != null" }],
    facet: { field: "label", type: "nominal", title: null, header: { labelLimit: 260, labelFontSize: 11 } },
    columns: 3,
    spec: {
      width: 200, height: 120,
      layer: [
        { mark: "bar", encoding: { x, y: { field: "median", type: "quantitative", title: null },
          color: { field: "arm", type: "nominal", scale: armScale(arms, offset), legend: { orient: "top", title: null, labelLimit: 240 } },
          tooltip: [{ field: "arm" }, { field: "label" }, { field: "median", format: ",.4~g" }, { field: "lo", format: ",.4~g" }, { field: "hi", format: ",.4~g" }] } },
        { mark: { type: "rule", strokeWidth: 2 }, encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } } },
      ],
    },
    resolve: { scale: { y: "independent" } },
  };
}

async function embed(name, spec) {
  const el = $("chart-" + name);
  el.innerHTML = "";
  const res = await vegaEmbed(el, spec, { renderer: "svg", actions: false });
  S.charts[name] = res;
  return res;
}

function harmsTable(views, meta) {
  const t = $("table-harms");
  const cap = t.querySelector("caption").outerHTML;
  const arms = meta.arms;
  let html = cap + "<thead><tr><th scope=col>Metric</th><th scope=col>What it means</th>" +
    arms.map((a) => `<th scope=col>${esc(a)}</th>`).join("") + "</tr></thead><tbody>";
  for (const h of meta.harms) {
    html += `<tr data-metric="${h.metric}"><th scope=row>${esc(h.label)}</th><td>${esc(h.sentence)}</td>`;
    for (const a of arms) {
      const r = views.harms.find((x) => x.arm === a && x.metric === h.metric);
      const band = r && meta.seeds.length > 1 && r.lo !== null ? ` <span class=unit>[${fmt(r.lo)}–${fmt(r.hi)}]</span>` : "";
      html += `<td class=num data-arm="${esc(a)}" data-value="${r && r.median !== null ? r.median : ""}">${fmt(r ? r.median : null)}${band}</td>`;
    }
    html += "</tr>";
  }
  t.innerHTML = html + "</tbody>";
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function csvOf(rows) {
  if (!rows.length) return "";
  const cols = Object.keys(rows[0]);
  const cell = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

function downloads(id, views) {
  for (const p of document.querySelectorAll(".downloads")) {
    p.innerHTML = "";
    for (const v of p.dataset.view.split(" ")) {
      if (S.saved) {
        const a = document.createElement("a");
        a.href = URL.createObjectURL(new Blob([csvOf(views[v])], { type: "text/csv" }));
        a.download = `credsim-${v}.csv`; a.textContent = `${v}.csv`;
        p.appendChild(a);
        continue;
      }
      for (const f of ["csv", "parquet"]) {
        const a = document.createElement("a");
        a.href = `api/jobs/${id}/views/${v}.${f}`; a.download = `credsim-${v}.${f}`;
        a.textContent = `${v}.${f}`;
        p.appendChild(a);
      }
    }
  }
}

async function render() {
  const { views, meta, id } = S.result;
  $("results").hidden = false;
  const link = shareURL();
  $("share-link").value = S.saved ? "" : link;
  for (const [el, path] of [["dl-scenario", "scenario.toml"], ["dl-experiment", "experiment.toml"], ["save-page", "page.html"]]) {
    $(el).hidden = S.saved;
    $(el).href = `api/jobs/${id}/${path}`;
  }
  $("copy-link").hidden = S.saved; $("share-link").hidden = S.saved;
  const band = meta.seeds.length > 1 ? "Lines are medians across seeds; shaded bands the 10th-90th percentile." : "One seed: add seeds for bands.";
  $("result-note").textContent = `${meta.agents.toLocaleString("en")} agents; seeds ${meta.seeds.join(", ")}. ${band}`;
  harmsTable(views, meta);
  const arms = meta.arms;
  const jobs = [
    embed("harms", barSpec("harms", views.harms, arms)),
    embed("grades", timeSpec("grades", views.grades, "grade", meta.grades, "agents", "arm", arms)),
    embed("acts", timeSpec("acts", views.acts, "kind", ["committed", "recorded", "false records"], "acts per day", "arm", arms)),
  ];
  $("view-sanctions").hidden = !meta.sanctions.length;
  if (meta.sanctions.length) jobs.push(embed("sanctions", timeSpec("sanctions", views.sanctions, "sanction", meta.sanctions, "agents", "arm", arms)));
  $("view-lists").hidden = !meta.lists.length;
  if (meta.lists.length) jobs.push(embed("lists", timeSpec("lists", views.lists, "list", meta.lists, "agents", "arm", arms)));
  $("view-differences").hidden = arms.length < 2;
  if (arms.length > 1) {
    jobs.push(embed("differences", barSpec("differences", views.differences, arms.slice(1), 1)));
    jobs.push(embed("differences_daily", timeSpec("differences_daily", views.differences_daily, "arm", arms.slice(1),
      `minus ${arms[0]}`, "series", ["restricted", "falsely restricted"], armScale(arms.slice(1), 1))));
  }
  await Promise.all(jobs);
  downloads(id, views);
  $("results").dataset.rendered = id;
}

/* ---------------------------------------------------------------- wiring */
function wire() {
  $("setup").addEventListener("submit", run);
  $("regime").addEventListener("change", () => {
    S.req.regime = $("regime").value;
    for (const arm of S.req.arms) for (const p of Object.keys(arm.set)) if (p.startsWith("regime.")) delete arm.set[p];
    writeForm(); loadControls();
  });
  $("upload").addEventListener("change", async () => {
    const f = $("upload").files[0];
    if (!f) return;
    if (f.size > (S.limits.max_upload_bytes || 65536)) {
      $("err-upload").textContent = `${f.name}: ${f.size.toLocaleString("en")} bytes; an upload is at most ${(S.limits.max_upload_bytes || 65536).toLocaleString("en")} bytes`;
      return;
    }
    S.req.upload = { name: f.name, text: await f.text() };
    for (const arm of S.req.arms) arm.set = {};
    writeForm();
    await loadControls();
  });
  $("clear-upload").addEventListener("click", () => {
    S.req.upload = null; $("upload").value = ""; writeForm(); loadControls();
  });
  $("add-arm").addEventListener("click", () => {
    const used = new Set(S.req.arms.map((a) => a.label));
    const label = ["A", "B", "C", "D", "E"].find((l) => !used.has(l)) || `arm ${S.req.arms.length + 1}`;
    S.req.arms.push({ label, set: { ...S.req.arms[S.active].set } });
    S.active = S.req.arms.length - 1;
    renderArms();
  });
  $("remove-arm").addEventListener("click", () => {
    S.req.arms.splice(S.active, 1);
    S.active = Math.max(0, S.active - 1);
    renderArms();
  });
  $("arm-label").addEventListener("input", () => {
    S.req.arms[S.active].label = $("arm-label").value || "?";
    $("arm-tab-" + S.active).textContent = S.req.arms[S.active].label;
  });
  $("copy-link").addEventListener("click", async () => {
    const link = shareURL();
    $("share-link").value = link;
    try { await navigator.clipboard.writeText(link); $("status").textContent = "Link copied."; }
    catch (e) { $("share-link").select(); $("status").textContent = "Select the link and copy it."; }
  });
}

async function boot() {
  wire();
  const snap = window.CREDSIM_SNAPSHOT;
  if (snap) {
    S.saved = true;
    $("saved-note").hidden = false;
    S.limits = snap.limits; S.req = snap.request; S.controls = snap.controls;
    S.regimes = [{ name: S.req.regime, description: "" }];
    $("regime").innerHTML = `<option>${esc(S.req.regime)}</option>`;
    for (const el of document.querySelectorAll("#scenario input")) el.disabled = true;
    writeForm(); renderArms();
    S.result = snap.result;
    await render();
    return;
  }
  const [st, rg] = await Promise.all([api("api/status"), api("api/regimes")]);
  S.limits = st.data.limits; S.regimes = rg.data;
  $("regime").innerHTML = S.regimes.map((r) => `<option value="${esc(r.name)}">${esc(r.name)}</option>`).join("");
  const shared = readHash();
  if (shared) S.req = { ...S.req, ...shared };
  writeForm();
  const ok = await loadControls();
  if (shared && ok) run();
}

window.credsim = S;  // for tests and the benchmark: the state, the charts (Vega views)
boot();
