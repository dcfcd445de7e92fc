// The dashboard: today's moods from the journal as a stacked bar chart, plus the kiosk's state.
// Refreshes every 5 seconds.
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function drawChart(t) {
  const chart = $("chart");
  chart.replaceChildren();
  const W = 800, H = 240, left = 32, bottom = 22, top = 8;
  const bars = t.bars;
  if (bars.length === 0) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, chart).textContent = "No visitors yet today";
    return;
  }
  const most = Math.max(1, ...bars.map((b) => b.happy + b.not_happy));
  const step = (W - left) / bars.length;
  const bw = Math.max(1, Math.min(step * 0.8, 48));
  const y = (n) => H - bottom - (n / most) * (H - bottom - top);
  for (const n of [0, most]) {
    svg("line", { x1: left, x2: W, y1: y(n), y2: y(n), class: "grid" }, chart);
    svg("text", { x: left - 6, y: y(n) + 4, "text-anchor": "end", class: "axis" }, chart).textContent = n;
  }
  const every = Math.ceil(bars.length / 12);
  bars.forEach((b, i) => {
    const x = left + i * step + (step - bw) / 2;
    const g = svg("g", { class: "bar" }, chart);
    svg("rect", { x, y: y(b.happy), width: bw, height: y(0) - y(b.happy), class: "happy" }, g);
    svg("rect", { x, y: y(b.happy + b.not_happy), width: bw, height: y(b.happy) - y(b.happy + b.not_happy), class: "not_happy" }, g);
    svg("title", {}, g).textContent = `${b.start}: ${b.happy} happy, ${b.not_happy} not happy`;
    if (i % every === 0) {
      svg("text", { x: x + bw / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, chart).textContent = b.start;
    }
  });
}

function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min` : `${s} s`;
}

async function refresh() {
  const [t, s] = await Promise.all([apiJson("/api/today"), apiJson("/api/status")]).catch((e) => [{ ok: false, body: { error: String(e) } }, null]);
  if (!t.ok) {
    $("updated").textContent = "Cannot load today's mood: " + t.body.error;
    $("updated").className = "error";
    return;
  }
  const d = t.body;
  $("visitors").textContent = d.visitors;
  $("happy").textContent = d.happy;
  $("not_happy").textContent = d.not_happy;
  $("undecided").textContent = d.undecided;
  $("bucket").textContent = `· one bar per ${d.bucket_s >= 3600 ? d.bucket_s / 3600 + " h" : d.bucket_s / 60 + " min"}`;
  drawChart(d);
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

refresh();
setInterval(refresh, 5000);
