// Shared by the pages: API calls carry the access token when the kiosk has one
// (open the page once as /?token=... and it is kept for this browser tab).
"use strict";
const TOKEN = (() => {
  const q = new URLSearchParams(location.search).get("token");
  if (q) sessionStorage.setItem("moodkiosk-token", q);
  return q || sessionStorage.getItem("moodkiosk-token");
})();

function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
  return fetch(path, Object.assign({}, opts, { headers }));
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
