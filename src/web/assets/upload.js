// The upload page: pick or drop a photo, preview it, box each face with its mood.
"use strict";
const el = (id) => document.getElementById(id);
let maxBytes = 10 * 1024 * 1024;

apiJson("/api/status").then((s) => {
  if (s.ok && s.body.limits) {
    maxBytes = s.body.limits.max_upload_mb * 1024 * 1024;
    el("max-mb").textContent = s.body.limits.max_upload_mb;
  }
});

function setState(text, isError) {
  const p = el("state");
  p.textContent = text;
  p.className = isError ? "error" : "";
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show this file"));
    img.src = URL.createObjectURL(file);
  });
}

function draw(img, faces, width, height) {
  const c = el("canvas");
  const scale = Math.min(1, 960 / Math.max(width, height));
  c.width = Math.round(width * scale);
  c.height = Math.round(height * scale);
  const g = c.getContext("2d");
  if (img) g.drawImage(img, 0, 0, c.width, c.height);
  else { g.fillStyle = "#ddd"; g.fillRect(0, 0, c.width, c.height); }
  g.lineWidth = Math.max(2, c.width / 250);
  g.font = `bold ${Math.max(14, Math.round(c.width / 40))}px system-ui, sans-serif`;
  faces.forEach((f, i) => {
    const b = f.box;
    const color = f.mood === "happy" ? "#1a7f37" : "#b35900";
    g.strokeStyle = color;
    g.strokeRect(b.x * scale, b.y * scale, b.w * scale, b.h * scale);
    const text = `${i + 1}: ${MOOD_TEXT[f.mood]} ${pct(f.confidence)}`;
    const tw = g.measureText(text).width + 8;
    const th = parseInt(g.font.match(/\d+/)[0], 10) + 6;
    const ty = b.y * scale > th ? b.y * scale - th : b.y * scale;
    g.fillStyle = color;
    g.fillRect(b.x * scale, ty, tw, th);
    g.fillStyle = "#fff";
    g.fillText(text, b.x * scale + 4, ty + th - 6);
  });
}

async function classify(file) {
  el("view").hidden = false;
  el("faces").innerHTML = "";
  if (file.size > maxBytes) {
    setState(`This file is ${(file.size / 1048576).toFixed(1)} MB; the kiosk accepts up to ${maxBytes / 1048576} MB.`, true);
    return;
  }
  setState("Looking for faces…");
  const img = await loadImage(file).catch(() => null);
  if (img) draw(img, [], img.naturalWidth, img.naturalHeight);
  const form = new FormData();
  form.append("photo", file, file.name);
  const r = await apiJson("/api/classify", { method: "POST", body: form }).catch((e) => ({ ok: false, body: { error: String(e) } }));
  if (!r.ok) {
    setState("Not classified: " + r.body.error, true);
    return;
  }
  const a = r.body;
  draw(img, a.faces, a.width, a.height);
  const n = a.faces.length;
  setState(n === 0
    ? `No face found (${Math.round(a.total_ms)} ms). Try a photo where the face is larger and looks at the camera.`
    : `${n} face${n === 1 ? "" : "s"} found in ${Math.round(a.total_ms)} ms` +
      (a.padded ? " (the photo is a tight face crop: found after adding a border around it)." : "."));
  const list = el("faces");
  a.faces.forEach((f, i) => {
    const li = document.createElement("li");
    li.className = "face " + f.mood;
    li.innerHTML = `<span class="label"></span> <span class="confidence"></span> <span class="hint"></span>`;
    li.querySelector(".label").textContent = MOOD_TEXT[f.mood];
    li.querySelector(".confidence").textContent = pct(f.confidence);
    li.querySelector(".hint").textContent = `face ${i + 1}, ${Math.round(f.box.w)}×${Math.round(f.box.h)} px, P(happy) = ${f.p_happy.toFixed(3)}`;
    list.appendChild(li);
  });
}

el("file").addEventListener("change", (e) => { if (e.target.files[0]) classify(e.target.files[0]); });
const drop = el("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  if (e.dataTransfer.files[0]) classify(e.dataTransfer.files[0]);
});
