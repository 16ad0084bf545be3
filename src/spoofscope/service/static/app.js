// spoofscope web page: shared helpers (API key, API calls, timeline plot) and the Detect page.
// Plain JavaScript, no build step, no external resources.
"use strict";

const KEY_STORAGE = "spoofscope.apiKey";
const VERDICT_TEXT = {
  bonafide: "Bona fide",
  spoof: "Spoof",
  review: "Needs review",
  no_speech: "No speech",
};

const $ = (id) => document.getElementById(id);

function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch (e) {
    return "";
  }
}

function setKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch (e) {
    /* storage disabled: the key lives for this page only */
  }
}

// Wire the API key form of a page (input #api-key, form #key-form, button #key-forget).
function setupKeyForm(onChange) {
  const form = $("key-form");
  const input = $("api-key");
  const status = $("key-status");
  if (!form) return;
  input.value = getKey();
  status.textContent = getKey() ? "A key is set for this tab." : "No key set.";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    status.textContent = getKey() ? "Key saved for this tab." : "No key set.";
    if (onChange) onChange();
  });
  $("key-forget").addEventListener("click", () => {
    setKey("");
    input.value = "";
    status.textContent = "Key forgotten.";
    if (onChange) onChange();
  });
}

// A readable message from the API's JSON error {"error": {"status", "reason", "detail"}}.
function errorMessage(status, body) {
  const err = body && body.error;
  if (!err) return `Request failed (HTTP ${status}).`;
  let detail = err.detail;
  if (Array.isArray(detail)) {
    detail = detail.map((d) => (d.loc ? `${d.loc.join(".")}: ${d.msg}` : JSON.stringify(d))).join("; ");
  } else if (detail && typeof detail === "object") {
    detail = Object.entries(detail).map(([k, v]) => `${k}: ${v}`).join("; ");
  }
  const hints = {
    401: " Enter a valid API key above.",
    403: " This key lacks the scope this action needs.",
    413: " The file is too large or too long.",
    415: " The file is not a supported audio format.",
    429: " Too many requests; wait a minute.",
  };
  return `${err.status || status} ${err.reason || "error"}${detail ? ": " + detail : ""}.${hints[err.status || status] || ""}`;
}

class ApiError extends Error {}

// fetch() with the API key; returns the parsed JSON or throws ApiError with a readable message.
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const key = getKey();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers }));
  } catch (e) {
    throw new ApiError(`Cannot reach the server (${e.message}).`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) throw new ApiError(errorMessage(response.status, body));
  return body;
}

function showError(message) {
  const box = $("error");
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}

const fmt = (x, digits = 3) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));

// Draw the waveform (min/max per pixel column of `samples`, or nothing) and the p_spoof
// timeline of `result` (windows, thresholds, flagged) on `canvas`. Sets data-plotted="true",
// data-windows and data-waveform on the canvas for tests and assistive summaries.
function drawTimeline(canvas, result, samples, sampleRate) {
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || canvas.width;
  const cssHeight = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(cssWidth * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const W = cssWidth, H = cssHeight;
  const left = 44, right = 26, top = 10, bottom = 26;
  const pw = W - left - right, ph = H - top - bottom;
  const duration = Math.max(result.duration_s || 0, 1e-6);
  const x = (t) => left + (Math.min(Math.max(t, 0), duration) / duration) * pw;
  const y = (p) => top + (1 - p) * ph;

  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  // flagged stretches
  ctx.fillStyle = "rgba(200, 30, 30, 0.15)";
  for (const [a, b] of result.flagged || []) ctx.fillRect(x(a), top, Math.max(1, x(b) - x(a)), ph);
  // waveform
  let drewWave = false;
  if (samples && samples.length) {
    ctx.fillStyle = "#9aa3ad";
    const mid = top + ph / 2;
    const audioS = samples.length / sampleRate;
    const shown = Math.max(1, Math.min(pw, Math.round((audioS / duration) * pw)));
    const perPx = samples.length / shown;
    for (let i = 0; i < shown; i++) {
      let lo = 1, hi = -1;
      const a = Math.floor(i * perPx);
      const b = Math.min(samples.length, Math.max(a + 1, Math.floor((i + 1) * perPx)));
      for (let j = a; j < b; j++) {
        const v = samples[j];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (hi < lo) continue;
      ctx.fillRect(left + i, mid - (hi * ph) / 2, 1, Math.max(1, ((hi - lo) * ph) / 2));
    }
    drewWave = true;
  }
  // axes
  ctx.strokeStyle = "#444";
  ctx.lineWidth = 1;
  ctx.strokeRect(left, top, pw, ph);
  ctx.fillStyle = "#222";
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const p of [0, 0.5, 1]) ctx.fillText(p.toFixed(1), left - 6, y(p));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const step = niceStep(duration / 8);
  for (let t = 0; t <= duration + 1e-9; t += step) ctx.fillText(`${+t.toFixed(2)} s`, x(t), top + ph + 6);
  // thresholds
  const th = result.thresholds || {};
  ctx.setLineDash([6, 4]);
  for (const [p, color] of [[th.lower, "#1a7f37"], [th.upper, "#c62828"]]) {
    if (p === undefined || p === null) continue;
    ctx.strokeStyle = color;
    ctx.beginPath();
    ctx.moveTo(left, y(p));
    ctx.lineTo(left + pw, y(p));
    ctx.stroke();
  }
  ctx.setLineDash([]);
  // p_spoof per window, at each window's centre
  const windows = (result.windows || []).filter((w) => w.p_spoof !== null && w.p_spoof !== undefined);
  ctx.strokeStyle = "#1f4e9a";
  ctx.lineWidth = 2;
  ctx.beginPath();
  windows.forEach((w, i) => {
    const cx = x((w.start_s + w.end_s) / 2), cy = y(w.p_spoof);
    if (i === 0) ctx.moveTo(cx, cy);
    else ctx.lineTo(cx, cy);
  });
  ctx.stroke();
  for (const w of windows) {
    const cx = x((w.start_s + w.end_s) / 2), cy = y(w.p_spoof);
    ctx.beginPath();
    ctx.arc(cx, cy, 3, 0, 2 * Math.PI);
    if (w.voted) {
      ctx.fillStyle = w.p_spoof > (th.upper ?? 1) ? "#c62828" : w.p_spoof < (th.lower ?? 0) ? "#1a7f37" : "#b26a00";
      ctx.fill();
    } else {
      ctx.strokeStyle = "#777";
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  }
  canvas.dataset.plotted = "true";
  canvas.dataset.windows = String(windows.length);
  canvas.dataset.waveform = String(drewWave);
  const worst = windows.reduce((m, w) => Math.max(m, w.p_spoof), 0);
  canvas.setAttribute(
    "aria-label",
    `Timeline of ${windows.length} windows over ${duration.toFixed(2)} s; highest window p(spoof) ${worst.toFixed(3)}`
  );
}

function niceStep(raw) {
  const pow = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-3))));
  for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
  return 10 * pow;
}

// Mono samples of an audio file decoded by the browser, or null when it cannot decode it.
async function decodeSamples(arrayBuffer) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  const ctx = new Ctx();
  try {
    const buffer = await ctx.decodeAudioData(arrayBuffer);
    return { samples: buffer.getChannelData(0), sampleRate: buffer.sampleRate };
  } catch (e) {
    return null;
  } finally {
    if (ctx.close) ctx.close();
  }
}

// --- the Detect page ---
function showResult(result, audio) {
  $("result").hidden = false;
  const verdict = $("verdict");
  verdict.textContent = VERDICT_TEXT[result.verdict] || result.verdict;
  verdict.className = `verdict verdict-${result.verdict}`;
  verdict.dataset.verdict = result.verdict;
  $("p-spoof").textContent = fmt(result.p_spoof);
  $("duration").textContent = `${fmt(result.duration_s, 2)} s`;
  const flagged = result.flagged || [];
  $("flagged").textContent = flagged.length
    ? flagged.map(([a, b]) => `${fmt(a, 2)}–${fmt(b, 2)} s`).join(", ")
    : "none";
  const model = result.model || {};
  $("model").textContent = [model.name, model.version].filter(Boolean).join(" ") || "—";
  $("detection-id").textContent = result.id || "—";
  const rows = (result.windows || []).map((w) => {
    const tr = document.createElement("tr");
    for (const v of [fmt(w.start_s, 2), fmt(w.end_s, 2), fmt(w.p_spoof), fmt(w.speech_fraction, 2), w.voted ? "yes" : "no"]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  });
  $("windows").replaceChildren(...rows);
  drawTimeline($("timeline"), result, audio && audio.samples, audio && audio.sampleRate);
}

async function analyse(blob, name) {
  showError("");
  $("busy").textContent = `Analysing ${name}…`;
  $("analyse").disabled = true;
  try {
    const bytes = await blob.arrayBuffer();
    const form = new FormData();
    form.append("file", blob, name);
    const [result, audio] = await Promise.all([
      api("/v1/detect", { method: "POST", body: form }),
      decodeSamples(bytes.slice(0)),
    ]);
    showResult(result, audio);
    $("busy").textContent = `Done: ${VERDICT_TEXT[result.verdict] || result.verdict}.`;
    $("result-heading").focus();
  } catch (e) {
    $("busy").textContent = "";
    showError(e instanceof ApiError ? e.message : `Something went wrong: ${e.message}`);
  } finally {
    $("analyse").disabled = false;
  }
}

function setupRecorder() {
  const button = $("record");
  const status = $("record-status");
  let recorder = null;
  let chunks = [];
  button.addEventListener("click", async () => {
    if (recorder && recorder.state === "recording") {
      recorder.stop();
      return;
    }
    showError("");
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showError("This browser cannot record audio (no MediaRecorder); upload a file instead.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      showError(`Microphone unavailable: ${e.message || e.name}. Allow microphone access or upload a file.`);
      return;
    }
    chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (e) => {
      if (e.data && e.data.size) chunks.push(e.data);
    });
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((t) => t.stop());
      button.textContent = "Record from microphone";
      button.setAttribute("aria-pressed", "false");
      status.textContent = "Recording stopped.";
      const type = recorder.mimeType || "audio/webm";
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      analyse(new Blob(chunks, { type }), `recording.${ext}`);
    });
    recorder.start(250);
    button.textContent = "Stop recording";
    button.setAttribute("aria-pressed", "true");
    status.textContent = "Recording… press again to stop and analyse.";
  });
}

function setupDetectPage() {
  $("result-heading").tabIndex = -1;
  $("detect-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const file = $("file").files[0];
    if (!file) {
      showError("Choose an audio file first.");
      $("file").focus();
      return;
    }
    analyse(file, file.name);
  });
  setupRecorder();
}

document.addEventListener("DOMContentLoaded", () => {
  setupKeyForm();
  if ($("detect-form")) setupDetectPage();
});
