// The dashboard: a day's moods from the journal as a stacked bar chart (today by default, any
// kept day from the day picker), the week's visitors per day, the day's CSV, and the kiosk's
// state. Refreshes every 5 seconds.
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// The y axis (0 and the tallest bar) and one stacked happy / not-happy bar with its tooltip.
function yAxis(chart, y, most, left, W) {
  for (const n of [0, most]) {
    svg("line", { x1: left, x2: W, y1: y(n), y2: y(n), class: "grid" }, chart);
    svg("text", { x: left - 6, y: y(n) + 4, "text-anchor": "end", class: "axis" }, chart).textContent = n;
  }
}

function stackedBar(chart, y, x, bw, happy, notHappy, label) {
  const g = svg("g", { class: "bar" }, chart);
  svg("rect", { x, y: y(happy), width: bw, height: y(0) - y(happy), class: "happy" }, g);
  svg("rect", { x, y: y(happy + notHappy), width: bw, height: y(happy) - y(happy + notHappy), class: "not_happy" }, g);
  svg("title", {}, g).textContent = `${label}: ${happy} happy, ${notHappy} not happy`;
}

function drawChart(t) {
  const chart = $("chart");
  chart.replaceChildren();
  const W = 800, H = 240, left = 32, bottom = 22, top = 8;
  const bars = t.bars;
  if (t.visitors === 0) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, chart).textContent = selected() ? "No visitors that day" : "No visitors yet today";
    return;
  }
  const most = Math.max(1, ...bars.map((b) => b.happy + b.not_happy));
  const step = (W - left) / bars.length;
  const bw = Math.max(1, Math.min(step * 0.8, 48));
  const y = (n) => H - bottom - (n / most) * (H - bottom - top);
  yAxis(chart, y, most, left, W);
  const every = Math.ceil(bars.length / 12);
  bars.forEach((b, i) => {
    const x = left + i * step + (step - bw) / 2;
    stackedBar(chart, y, x, bw, b.happy, b.not_happy, b.start);
    if (i % every === 0) {
      svg("text", { x: x + bw / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, chart).textContent = b.start;
    }
  });
}

let days = []; // from /api/days, newest first
const selected = () => $("day").value; // "" = today

async function loadDays() {
  const r = await apiJson("/api/days");
  if (!r.ok) return;
  days = r.body.days;
  const sel = $("day"), keep = sel.value;
  sel.replaceChildren(new Option("Today", ""));
  const today = new Date().toISOString().slice(0, 10);
  for (const d of days) {
    if (d.date === today) continue;
    sel.appendChild(new Option(`${d.date} · ${d.visitors} visitors`, d.date));
  }
  sel.value = keep;
}

// One stacked bar per calendar day for the 7 days ending at the shown day.
function drawWeek(end) {
  const chart = $("week");
  chart.replaceChildren();
  const W = 800, H = 200, left = 32, bottom = 22, top = 8;
  const byDate = Object.fromEntries(days.map((d) => [d.date, d]));
  const week = [];
  for (let i = 6; i >= 0; i--) {
    const t = new Date(end + "T12:00:00Z");
    t.setUTCDate(t.getUTCDate() - i);
    const date = t.toISOString().slice(0, 10);
    week.push(byDate[date] || { date, happy: 0, not_happy: 0, visitors: 0 });
  }
  const most = Math.max(1, ...week.map((d) => d.happy + d.not_happy));
  const y = (n) => H - bottom - (n / most) * (H - bottom - top);
  yAxis(chart, y, most, left, W);
  const step = (W - left) / 7, bw = step * 0.6;
  week.forEach((d, i) => {
    const x = left + i * step + (step - bw) / 2;
    stackedBar(chart, y, x, bw, d.happy, d.not_happy, d.date);
    svg("text", { x: x + bw / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, chart).textContent = d.date.slice(5);
  });
}

// The CSV goes through fetch, so that it carries the token like every API call.
async function downloadCsv() {
  const date = selected() || new Date().toISOString().slice(0, 10);
  const r = await api(`/api/day.csv?date=${date}`);
  if (!r.ok) {
    $("updated").textContent = `No CSV for ${date}: HTTP ${r.status}`;
    $("updated").className = "error";
    return;
  }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = `mood-${date}.csv`;
  a.click();
  URL.revokeObjectURL(a.href);
}

function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min` : `${s} s`;
}

async function refresh() {
  const day = selected();
  const path = day ? `/api/day?date=${day}` : "/api/today";
  const [t, s] = await Promise.all([apiJson(path), apiJson("/api/status")]).catch((e) => [{ ok: false, body: { error: String(e) } }, null]);
  if (!t.ok) {
    $("updated").textContent = `Cannot load ${day || "today"}'s mood: ` + t.body.error;
    $("updated").className = "error";
    return;
  }
  const d = t.body;
  $("visitors").textContent = d.visitors;
  $("visitors-title").textContent = day ? `Visitors on ${day}` : "Visitors today";
  $("share").textContent = d.visitors ? pct(d.happy / d.visitors) : "–";
  $("happy").textContent = d.happy;
  $("not_happy").textContent = d.not_happy;
  $("undecided").textContent = d.undecided;
  $("bucket").textContent = `· one bar per ${d.bucket_s >= 3600 ? d.bucket_s / 3600 + " h" : d.bucket_s / 60 + " min"}`;
  drawChart(d);
  drawWeek(d.date);
  if (s && s.ok) {
    const st = s.body;
    $("camera").textContent = st.camera.state;
    $("camera").className = "state-" + st.camera.state;
    $("camera-detail").textContent = st.camera.detail;
    if (st.leds) {
      $("led-happy").classList.toggle("on", st.leds.happy);
      $("led-not_happy").classList.toggle("on", st.leds.not_happy);
      $("led-status").classList.toggle("on", st.leds.status === "steady");
      $("led-status").classList.toggle("blink", st.leds.status === "blinking");
      $("leds-detail").textContent = `${st.leds.backend} backend; status ${st.leds.status}`;
    }
    $("last").textContent = st.last_decision
      ? `${MOOD_TEXT[st.last_decision.mood]} (${pct(st.last_decision.confidence)}) at ${st.last_decision.time.slice(11, 19)}`
      : "none yet";
    $("uptime").textContent = duration(st.uptime_s);
    $("model").textContent = `model ${st.model}; ${st.frames} frames, ${st.faces} faces`;
  }
  $("updated").className = "";
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()} (${d.date}).`;
}

$("day").addEventListener("change", refresh);
$("csv").addEventListener("click", downloadCsv);
loadDays().then(refresh);
setInterval(() => loadDays().then(refresh), 5000);
