// Shared by the pages. API calls go with the browser's session cookie: when the kiosk has an
// access token (web.token) and a call answers 401, a small form asks for it once and the kiosk
// keeps it in a cookie (HttpOnly: scripts cannot read it; SameSite=Strict: other sites cannot
// use it). A link with ?token=... signs in the same way and the token leaves the address bar.
"use strict";
const SESSION = (async () => {
  const q = new URLSearchParams(location.search);
  const token = q.get("token");
  if (!token) return;
  q.delete("token");
  history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
  await signIn(token);
})();

function signIn(token) {
  return fetch("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
  });
}

function askToken(message) {
  if (document.getElementById("token-form")) return;
  const f = document.createElement("form");
  f.id = "token-form";
  const label = document.createElement("label");
  label.htmlFor = "token-input";
  label.textContent = message || "This kiosk needs its access token (web.token in its config).";
  const input = document.createElement("input");
  input.id = "token-input";
  input.type = "password";
  input.autocomplete = "current-password";
  input.required = true;
  const go = document.createElement("button");
  go.type = "submit";
  go.className = "button";
  go.textContent = "Open";
  const err = document.createElement("p");
  err.className = "error";
  err.setAttribute("role", "alert");
  f.append(label, document.createElement("br"), input, " ", go, err);
  document.querySelector("main").prepend(f);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await signIn(input.value);
    if (r.ok) location.reload();
    else err.textContent = r.status === 403 ? "That is not this kiosk's token." : `Not accepted (HTTP ${r.status}).`;
  });
}

async function api(path, opts = {}) {
  await SESSION;
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts));
  if (r.status === 401) {
    const body = await r.clone().json().catch(() => ({}));
    askToken(body.error && body.error.includes("no longer") ? "The saved token is no longer this kiosk's: enter the new one." : undefined);
  }
  return r;
}

async function apiJson(path, opts) {
  const r = await api(path, opts);
  let body = null;
  try { body = await r.json(); } catch (_) { body = { error: "HTTP " + r.status }; }
  return { ok: r.ok, status: r.status, body };
}

const MOOD_TEXT = { happy: "happy", not_happy: "not happy" };
const pct = (x) => Math.round(x * 100) + "%";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// Charts are drawn in the element's own pixels (its width, a fixed height), so that text keeps
// its shape on a phone as on a desktop. Returns the width.
function canvas(chart, H) {
  const W = Math.max(240, Math.round(chart.getBoundingClientRect().width) || 800);
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  chart.replaceChildren();
  return W;
}

// Round tick steps (1, 2, 5 x 10^n) for at most about five ticks up to `most`.
function ticks(most) {
  const raw = Math.max(1, most) / 5;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw && s >= 1) || 1;
  const out = [];
  for (let v = 0; v <= most + 1e-9; v += step) out.push(Math.round(v));
  if (out[out.length - 1] < most) out.push(out[out.length - 1] + step);
  return out;
}

// The y axis: grid lines and labels at round ticks, and the axis title along it. Returns the
// scale's top value (the last tick).
function yAxis(chart, ys, most, left, W, title) {
  const t = ticks(most);
  const top = t[t.length - 1];
  for (const n of t) {
    svg("line", { x1: left, x2: W, y1: ys(n / top), y2: ys(n / top), class: "grid" }, chart);
    svg("text", { x: left - 6, y: ys(n / top) + 4, "text-anchor": "end", class: "axis" }, chart).textContent = n;
  }
  if (title) {
    const mid = (ys(0) + ys(1)) / 2;
    svg("text", { x: 12, y: mid, transform: `rotate(-90 12 ${mid})`, "text-anchor": "middle", class: "axis title" }, chart).textContent = title;
  }
  return top;
}

// One stacked happy / not-happy bar with its tooltip; y maps a count to a coordinate.
function stackedBar(chart, y, x, bw, happy, notHappy, label) {
  const g = svg("g", { class: "bar" }, chart);
  svg("rect", { x, y: y(happy), width: bw, height: y(0) - y(happy), class: "happy" }, g);
  svg("rect", { x, y: y(happy + notHappy), width: bw, height: y(happy) - y(happy + notHappy), class: "not_happy" }, g);
  svg("title", {}, g).textContent = `${label}: ${happy} happy, ${notHappy} not happy`;
}

// A day's bars (from /api/today, /api/day or a kiosk's MQTT `today`) as a stacked bar chart.
function dayChart(chart, t, H, empty, opts = {}) {
  const W = canvas(chart, H);
  const left = opts.left || 44, bottom = 22, top = 8;
  const bars = t.bars || [];
  if (!t.visitors) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, chart).textContent = empty;
    return;
  }
  const ys = (f) => H - bottom - f * (H - bottom - top);
  const most = Math.max(1, ...bars.map((b) => b.happy + b.not_happy));
  const scale = yAxis(chart, ys, most, left, W, opts.title);
  const y = (n) => ys(n / scale);
  const step = (W - left) / bars.length;
  const bw = Math.max(1, Math.min(step * 0.8, 48));
  const every = Math.ceil(bars.length / Math.max(2, Math.floor((W - left) / 56)));
  bars.forEach((b, i) => {
    const x = left + i * step + (step - bw) / 2;
    stackedBar(chart, y, x, bw, b.happy, b.not_happy, b.start);
    if (i % every === 0) {
      svg("text", { x: x + bw / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, chart).textContent = b.start;
    }
  });
}

// "5 min", "2 h 10 min" since an RFC 3339 time.
function since(rfc3339) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(rfc3339)) / 1000));
  return duration(s);
}

function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min` : `${s} s`;
}
