// ferkit web page: a thin client of the REST API (/v1/models, /v1/predict, /v1/explain). No external scripts.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { angry: "#d9412b", disgust: "#6a9a1f", fear: "#8e44ad", happy: "#f0a500",
                 neutral: "#7f8c8d", sad: "#2f6fd6", surprise: "#17a2b8", contempt: "#a0522d" };
const color = (label) => COLORS[label] || "#3b6fd8";
const pct = (p) => (100 * p).toFixed(1) + "%";

let currentFile = null;
let modelInfo = {};  // name -> entry of GET /v1/models

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function callApi(path, form) {
  let resp;
  try {
    resp = await fetch(path, { method: "POST", body: form });
  } catch (err) {
    throw new Error("The server could not be reached (" + err.message + ").");
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const msg = body && body.error ? body.error.message : "HTTP " + resp.status;
    const error = new Error(msg);
    error.code = body && body.error ? body.error.code : "http_" + resp.status;
    throw error;
  }
  return body;
}

async function loadModels() {
  const resp = await fetch("/v1/models");
  const body = await resp.json();
  smoothing = body.smoothing;  // webcam tracking constants: ferkit.inference.tracking's, never the page's own
  const select = $("model");
  select.innerHTML = "";
  modelInfo = {};
  for (const m of body.models) {
    modelInfo[m.name] = m;
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = m.name + (m.arch ? " (" + m.arch + ")" : "");
    opt.selected = m.default;
    select.appendChild(opt);
  }
  // Explain methods come from the server (ferkit.inference.explain's table), never a list of the page's own.
  const methods = $("method");
  methods.innerHTML = "";
  for (const name of body.explain_methods) {
    const opt = document.createElement("option");
    opt.value = name;
    opt.textContent = name;
    methods.appendChild(opt);
  }
  updateAttentionControls();
}

// The attention view needs a model that can explain (a torch checkpoint on a server with torch installed).
function canExplain() {
  const m = modelInfo[$("model").value];
  return !m || m.explain !== false;
}

function updateAttentionControls() {
  $("attention-controls").hidden = !canExplain();
}

function faceForm(blob, name) {
  const form = new FormData();
  form.append("file", blob, name || "frame.jpg");
  form.append("model", $("model").value);
  return form;
}

// ---- drawing -------------------------------------------------------------------------------------
function drawBox(ctx, box, text, col) {
  const [x1, y1, x2, y2] = box;
  const lw = Math.max(2, Math.round(ctx.canvas.width / 320));
  ctx.lineWidth = lw;
  ctx.strokeStyle = col;
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  const size = Math.max(14, Math.round(ctx.canvas.width / 40));
  ctx.font = "bold " + size + "px system-ui, sans-serif";
  const w = ctx.measureText(text).width + 8;
  const ty = y1 - size - 6 >= 0 ? y1 - size - 6 : y2;
  ctx.fillStyle = col;
  ctx.fillRect(x1 - lw / 2, ty, w, size + 6);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, x1 + 4, ty + size);
}

function faceCard(i, face, probs) {
  const card = document.createElement("div");
  card.className = "face";
  card.dataset.label = face.label;
  const top = Object.entries(probs).sort((a, b) => b[1] - a[1]).slice(0, 3);
  const title = document.createElement("h3");
  title.textContent = "Face " + (i + 1) + ": " + top[0][0] + " " + pct(top[0][1]);
  card.appendChild(title);
  const ol = document.createElement("ol");
  ol.className = "top3";
  for (const [lab, p] of top) {
    const li = document.createElement("li");
    li.textContent = lab + " " + pct(p);
    ol.appendChild(li);
  }
  card.appendChild(ol);
  for (const lab of Object.keys(probs)) {
    const row = document.createElement("div");
    row.className = "bar-row";
    row.dataset.label = lab;
    row.innerHTML = '<span class="bar-label"></span><div class="bar-track"><div class="bar"></div></div>' +
                    '<span class="bar-value"></span>';
    row.querySelector(".bar-label").textContent = lab;
    row.querySelector(".bar").style.width = pct(probs[lab]);
    row.querySelector(".bar").style.background = color(lab);
    row.querySelector(".bar-value").textContent = pct(probs[lab]);
    card.appendChild(row);
  }
  return card;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot display this image"));
    img.src = src;
  });
}

// ---- photo mode ----------------------------------------------------------------------------------
async function analyse(file) {
  currentFile = file;
  showError("");
  $("status").textContent = "analysing…";
  $("faces").innerHTML = "";
  try {
    const result = await callApi("/v1/predict", faceForm(file, file.name));
    let explained = null;
    if ($("attention").checked && canExplain() && result.faces.length) {
      const form = faceForm(file, file.name);
      form.append("method", $("method").value);
      explained = await callApi("/v1/explain", form);
    }
    await render(file, result, explained);
    const t = result.timings_ms;
    $("status").textContent = (result.faces.length ? result.faces.length + " face(s)" : "no face found") +
      ", model " + result.model + ", " +
      t.total.toFixed(0) + " ms (inference " + t.inference.toFixed(0) + " ms)" +
      (explained ? ", attention: " + (explained.faces[0] ? explained.faces[0].method : explained.method) : "");
  } catch (err) {
    showError(err.message);
    $("status").textContent = "";
    const ctx = $("canvas").getContext("2d");
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  }
}

async function render(file, result, explained) {
  const url = URL.createObjectURL(file);
  try {
    const img = await loadImage(url);
    const canvas = $("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    if (explained) {
      for (const f of explained.faces) {
        const overlay = await loadImage(f.overlay);
        const [x1, y1, x2, y2] = f.box;
        ctx.drawImage(overlay, x1, y1, x2 - x1, y2 - y1);
      }
    }
    result.faces.forEach((f, i) => drawBox(ctx, f.box, (i + 1) + " " + f.label + " " + pct(f.score), color(f.label)));
  } finally {
    URL.revokeObjectURL(url);
  }
  const list = $("faces");
  list.innerHTML = "";
  if (!result.faces.length) {
    const note = document.createElement("p");
    note.className = "no-face";
    note.textContent = "No face found in this photo.";
    list.appendChild(note);
  }
  result.faces.forEach((f, i) => {
    const card = faceCard(i, f, f.probs);
    if (explained && explained.faces[i]) {
      const thumbs = document.createElement("div");
      thumbs.className = "attention-thumbs";
      for (const key of ["overlay", "heatmap"]) {
        const im = document.createElement("img");
        im.src = explained.faces[i][key];
        im.alt = key + " (" + explained.faces[i].method + ")";
        im.className = "attention-" + key;
        thumbs.appendChild(im);
      }
      card.appendChild(thumbs);
    }
    list.appendChild(card);
  });
}

function setupPhoto() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => e.target.files[0] && analyse(e.target.files[0]));
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files[0]) analyse(e.dataTransfer.files[0]);
  });
  const rerun = () => currentFile && analyse(currentFile);
  $("model").addEventListener("change", () => { updateAttentionControls(); rerun(); });
  $("attention").addEventListener("change", rerun);
  $("method").addEventListener("change", () => $("attention").checked && rerun());
}

// ---- webcam mode: frames to /v1/predict ~4 fps, probabilities smoothed per tracked box -------------
// Matching and smoothing follow ferkit.inference.tracking.FaceTracker with the constants GET /v1/models publishes
// ("smoothing": ema_weight, iou_match, max_missed), so the page never keeps numbers of its own.
const CAM_INTERVAL_MS = 250;
let smoothing = null;  // set by loadModels
let stream = null, camTimer = null, tracks = [], nextTrackId = 1, inFlight = false;

function iou(a, b) {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const area = (r) => Math.max(0, r[2] - r[0]) * Math.max(0, r[3] - r[1]);
  return inter / Math.max(area(a) + area(b) - inter, 1e-9);
}

function updateTracks(faces) {
  const { ema_weight: alpha, iou_match: minIou, max_missed: maxMissed } = smoothing;
  // Greedy, best pairs first, as FaceTracker.update does.
  const pairs = [];
  faces.forEach((f, i) => tracks.forEach((t, j) => pairs.push([iou(f.box, t.box), i, j])));
  pairs.sort((a, b) => b[0] - a[0]);
  const faceTrack = new Map(), usedTracks = new Set();
  for (const [v, i, j] of pairs) {
    if (v < minIou) break;
    if (faceTrack.has(i) || usedTracks.has(j)) continue;
    const t = tracks[j], f = faces[i];
    for (const k of Object.keys(f.probs)) t.probs[k] = alpha * f.probs[k] + (1 - alpha) * (t.probs[k] || 0);
    t.box = f.box;
    t.missed = 0;
    faceTrack.set(i, t);
    usedTracks.add(j);
  }
  tracks.forEach((t, j) => { if (!usedTracks.has(j)) t.missed += 1; });
  tracks = tracks.filter((t) => t.missed <= maxMissed);
  faces.forEach((f, i) => {
    if (!faceTrack.has(i)) tracks.push({ id: nextTrackId++, box: f.box, probs: { ...f.probs }, missed: 0 });
  });
}

// Faces in the latest frame; unseen tracks stay alive (to keep their id) but are not drawn, as in ferkit predict.
const visibleTracks = () => tracks.filter((t) => t.missed === 0);

function drawCam() {
  if (!stream) return;
  const video = $("video"), canvas = $("cam-canvas"), ctx = canvas.getContext("2d");
  if (video.videoWidth) {
    if (canvas.width !== video.videoWidth) { canvas.width = video.videoWidth; canvas.height = video.videoHeight; }
    ctx.drawImage(video, 0, 0);
    for (const t of visibleTracks()) {
      const [lab, p] = Object.entries(t.probs).sort((a, b) => b[1] - a[1])[0];
      drawBox(ctx, t.box, "#" + t.id + " " + lab + " " + pct(p), color(lab));
    }
  }
  requestAnimationFrame(drawCam);
}

function renderCamFaces() {
  const list = $("cam-faces");
  list.innerHTML = "";
  visibleTracks().forEach((t) => {
    const [lab] = Object.entries(t.probs).sort((a, b) => b[1] - a[1])[0];
    list.appendChild(faceCard(t.id - 1, { label: lab }, t.probs));
  });
}

async function sendFrame() {
  const video = $("video");
  if (inFlight || !video.videoWidth || !smoothing) return;  // smoothing: GET /v1/models not answered yet
  inFlight = true;
  const grab = document.createElement("canvas");
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  const blob = await new Promise((r) => grab.toBlob(r, "image/jpeg", 0.85));
  try {
    const result = await callApi("/v1/predict", faceForm(blob, "frame.jpg"));
    if (!stream) return;  // the camera was stopped while this frame was out: keep "camera off"
    updateTracks(result.faces);
    $("cam-status").textContent = (result.faces.length ? result.faces.length + " face(s)" : "no face in view") +
      ", " + result.timings_ms.total.toFixed(0) + " ms";
    showError("");
  } catch (err) {
    if (!stream) return;
    updateTracks([]);
    showError(err.message);
  } finally {
    inFlight = false;
    renderCamFaces();
  }
}

async function startCam() {
  showError("");
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    showError("The camera could not be opened (" + err.message + "); allow camera access and try again.");
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  $("cam-start").disabled = true;
  $("cam-stop").disabled = false;
  $("cam-status").textContent = "camera on";
  camTimer = setInterval(sendFrame, CAM_INTERVAL_MS);
  requestAnimationFrame(drawCam);
}

function stopCam() {
  clearInterval(camTimer);
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  tracks = [];
  $("cam-start").disabled = false;
  $("cam-stop").disabled = true;
  $("cam-status").textContent = "camera off";
}

function setupTabs() {
  const show = (webcam) => {
    $("photo-panel").hidden = webcam;
    $("webcam-panel").hidden = !webcam;
    $("tab-photo").classList.toggle("active", !webcam);
    $("tab-webcam").classList.toggle("active", webcam);
    if (!webcam) stopCam();
  };
  $("tab-photo").addEventListener("click", () => show(false));
  $("tab-webcam").addEventListener("click", () => show(true));
  $("cam-start").addEventListener("click", startCam);
  $("cam-stop").addEventListener("click", stopCam);
}

setupTabs();
setupPhoto();
loadModels().catch((err) => showError("Could not list the models: " + err.message));
