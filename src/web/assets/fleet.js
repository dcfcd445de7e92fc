// The fleet page: every kiosk on the broker (from /api/fleet), one card each with its state,
// today's totals and a small chart, and the fleet's totals. Refreshes every 5 seconds.
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function kioskCard(k) {
  const card = el("article", "card kiosk");
  card.dataset.kiosk = k.id;
  const h = el("h2");
  h.append(el("span", "", k.id), el("span", "badge " + k.availability, k.availability));
  card.appendChild(h);
  // Since when: seen by this page, else (already so when it subscribed) the kiosk's start or
  // its last message.
  const when = k.since
    ? `${k.availability} since ${k.since.slice(11, 16)} (${since(k.since)} ago)`
    : k.availability === "online" && k.state
      ? `running since ${k.state.started.slice(0, 16).replace("T", " ")}`
      : k.heard ? `last heard ${k.heard.slice(11, 16)} (${since(k.heard)} ago)` : "";
  card.appendChild(el("p", "hint", when));
  // Whether the totals are the kiosk's today is the server's call, by the kiosk's own date and
  // time zone: the browser may be elsewhere.
  const t = k.today_current ? k.today : null;
  const line = t
    ? `${t.visitors} visitors · ${t.happy} happy · ${t.not_happy} not happy · ${t.happy_share === null ? "–" : t.happy_share + "% happy"}`
    : "no visitors today";
  card.appendChild(el("p", "totals", line));
  const last = t && t.last_visitor ? `last visitor ${t.last_visitor.slice(11, 16)} (${since(t.last_visitor)} ago)` : "no visitor yet today";
  card.appendChild(el("p", "hint", last));
  if (k.state) {
    const cam = k.state.camera === "up" ? "camera working" : `camera ${k.state.camera}: ${k.state.camera_detail}`;
    card.appendChild(el("p", "state-" + k.state.camera, cam));
  }
  const chart = document.createElementNS(SVG, "svg");
  chart.setAttribute("class", "fleet-chart");
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", `${k.id}: today's moods`);
  card.appendChild(chart);
  return [card, chart, t];
}

async function refresh() {
  const r = await apiJson("/api/fleet").catch((e) => ({ ok: false, body: { error: String(e) } }));
  if (!r.ok) {
    $("updated").textContent = "Cannot load the fleet: " + r.body.error;
    $("updated").className = "error";
    return;
  }
  const f = r.body;
  $("off").hidden = f.enabled;
  const t = f.totals;
  $("online").textContent = `${t.online} of ${t.kiosks}`;
  $("share").textContent = t.happy_share === null ? "–" : t.happy_share + "%";
  $("visitors").textContent = t.visitors;
  $("happy").textContent = t.happy;
  $("not_happy").textContent = t.not_happy;
  const list = $("kiosks");
  list.replaceChildren();
  const charts = [];
  for (const k of f.kiosks) {
    const [card, chart, day] = kioskCard(k);
    list.appendChild(card);
    charts.push([chart, day]);
  }
  // Drawn once in the page, so that each chart knows its width.
  for (const [chart, day] of charts) dayChart(chart, day || { visitors: 0, bars: [] }, 120, "no visitors today", { left: 30 });
  $("updated").className = "";
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()} · broker ${f.broker}.`;
}

refresh();
setInterval(refresh, 5000);
