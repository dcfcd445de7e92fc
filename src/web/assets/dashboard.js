// The dashboard: a day's moods from the journal as a stacked bar chart (today by default, any
// kept day from the day picker), the week's visitors per day, the day's CSV, and the kiosk's
// state. Refreshes every 5 seconds.
"use strict";
function drawChart(t) {
  dayChart($("chart"), t, 240, selected() ? "No visitors that day" : "No visitors yet today", { title: "visitors" });
}

let days = []; // from /api/days, newest first
const selected = () => $("day").value; // "" = today
// The kiosk's own date and UTC offset (from /api/today): the browser never works out "today"
// itself, since it may be in another time zone than the kiosk.
let kioskToday = null, kioskOffset = "";

async function loadDays() {
  const r = await apiJson("/api/days");
  if (!r.ok) return;
  days = r.body.days;
  const sel = $("day"), keep = sel.value;
  sel.replaceChildren(new Option("Today", ""));
  for (const d of days) {
    if (d.date === kioskToday) continue;
    sel.appendChild(new Option(`${d.date} · ${d.visitors} visitors`, d.date));
  }
  sel.value = keep;
}

// One stacked bar per calendar day for the 7 days ending at the shown day.
function drawWeek(end) {
  const chart = $("week");
  const H = 200, left = 44, bottom = 22, top = 8;
  const W = canvas(chart, H);
  const byDate = Object.fromEntries(days.map((d) => [d.date, d]));
  const week = [];
  for (let i = 6; i >= 0; i--) {
    const t = new Date(end + "T12:00:00Z");
    t.setUTCDate(t.getUTCDate() - i);
    const date = t.toISOString().slice(0, 10);
    week.push(byDate[date] || { date, happy: 0, not_happy: 0, visitors: 0 });
  }
  const ys = (f) => H - bottom - f * (H - bottom - top);
  const most = Math.max(1, ...week.map((d) => d.happy + d.not_happy));
  const scale = yAxis(chart, ys, most, left, W, "visitors");
  const y = (n) => ys(n / scale);
  const step = (W - left) / 7, bw = step * 0.6;
  week.forEach((d, i) => {
    const x = left + i * step + (step - bw) / 2;
    stackedBar(chart, y, x, bw, d.happy, d.not_happy, d.date);
    svg("text", { x: x + bw / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, chart).textContent = d.date.slice(5);
  });
}

// The CSV goes through fetch, so that it carries the token like every API call.
async function downloadCsv() {
  const date = selected() || kioskToday;
  if (!date) return;
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

// The camera in words: what it does, since when, and the error when it is down.
function cameraText(c) {
  const at = `${c.since.slice(11, 16)}, ${since(c.since)} ago`;
  if (c.state === "up") return [`Working since ${at}`, c.detail];
  if (c.state === "starting") return [`Starting (since ${at})`, c.detail];
  return [`Not working since ${at}`, `Problem: ${c.detail}. The kiosk keeps retrying; the status LED blinks meanwhile.`];
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
  if (!day) {
    const first = kioskToday === null;
    [kioskToday, kioskOffset] = [d.date, d.utc_offset || ""];
    if (first) loadDays();
  }
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
    const [cam, camDetail] = cameraText(st.camera);
    $("camera").textContent = cam;
    $("camera").className = "state-" + st.camera.state;
    $("camera-detail").textContent = camDetail;
    if (st.leds) {
      $("led-happy").classList.toggle("on", st.leds.happy);
      $("led-not_happy").classList.toggle("on", st.leds.not_happy);
      $("led-status").classList.toggle("on", st.leds.status === "steady");
      $("led-status").classList.toggle("blink", st.leds.status === "blinking");
      $("led-happy-text").textContent = st.leds.happy ? "happy: on" : "happy: off";
      $("led-not_happy-text").textContent = st.leds.not_happy ? "not happy: on" : "not happy: off";
      $("led-status-text").textContent = "status: " + { steady: "steady (camera working)", blinking: "blinking (camera problem)", flashing: "flashing (someone watches the preview)" }[st.leds.status];
      $("leds-detail").textContent = `${st.leds.backend} LEDs`;
    }
    $("last").textContent = st.last_decision
      ? `${MOOD_TEXT[st.last_decision.mood]} (${pct(st.last_decision.confidence)}) at ${st.last_decision.time.slice(11, 19)}`
      : "none yet";
    $("uptime").textContent = duration(st.uptime_s);
    $("model").textContent = `model ${st.model}; ${st.frames} frames, ${st.faces} faces`;
  }
  $("updated").className = "";
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()} (${d.date}${kioskOffset ? ", kiosk time UTC" + kioskOffset : ""}).`;
}

$("day").addEventListener("change", refresh);
$("csv").addEventListener("click", downloadCsv);
loadDays().then(refresh);
setInterval(() => loadDays().then(refresh), 5000);
