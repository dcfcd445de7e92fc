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
