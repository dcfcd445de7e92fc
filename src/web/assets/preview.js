// The setup preview: the MJPEG stream in an <img> (with the session cookie, when the kiosk has
// a token) and the latest frame's faces, sizes and rates.
"use strict";
const view = document.getElementById("view");
SESSION.then(() => { view.src = "/preview.mjpg"; });

async function refresh() {
  const r = await apiJson("/api/preview");
  if (!r.ok) {
    document.getElementById("banner").textContent = r.body.error || "the preview is off";
    return;
  }
  const f = r.body.frame;
  if (!f) return;
  document.getElementById("faces").textContent = f.faces.length === 0 ? "none" :
    f.faces.map((x) => x.size_px + " px" + (x.big_enough ? "" : " (too small)") + ", score " + x.score.toFixed(1)).join("; ");
  document.getElementById("min").textContent = f.min_face_size + " px (detector.min_face_size), frame " + f.width + "x" + f.height;
  document.getElementById("fps").textContent = "camera " + f.capture_fps.toFixed(1) + " fps, analysed " + f.processed_fps.toFixed(1) + " fps";
}
refresh();
setInterval(refresh, 1000);
