// spoofscope review page: list the open review items and label them (bona fide / spoof).
// Uses the helpers of app.js (loaded first).
"use strict";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.appendChild(child);
  return node;
}

function itemCard(item) {
  const det = item.detection || {};
  const id = item.id;
  const card = el("li", { class: "card item", "data-item-id": id, "aria-labelledby": `title-${id}` });
  card.appendChild(el("h3", { id: `title-${id}`, text: det.source || det.id || id }));
  const facts = el("dl", { class: "summary" });
  const verdict = VERDICT_TEXT[det.verdict] || det.verdict || "—";
  for (const [k, v] of [
    ["Verdict", verdict],
    ["p(spoof)", fmt(det.p_spoof)],
    ["Duration", `${fmt(det.duration_s, 2)} s`],
    ["Why queued", item.reason === "review-band" ? "uncertain (review band)" : "random sample"],
    ["Received", det.created_at ? new Date(det.created_at).toLocaleString() : "—"],
  ]) {
    facts.appendChild(el("div", {}, el("dt", { text: k }), el("dd", { text: v })));
  }
  card.appendChild(facts);
  if (Array.isArray(det.windows) && det.windows.length) {
    const canvas = el("canvas", { width: "720", height: "140", role: "img", class: "small" });
    card.appendChild(canvas);
    requestAnimationFrame(() =>
      drawTimeline(canvas, { ...det, thresholds: det.thresholds || {}, flagged: det.flagged || [] })
    );
  }
  if (det.audio_available) {
    const play = el("button", { type: "button", class: "secondary", text: "Load audio" });
    play.addEventListener("click", () => loadAudio(item, card, play));
    card.appendChild(play);
  }
  card.appendChild(labelForm(item));
  return card;
}

async function loadAudio(item, card, button) {
  button.disabled = true;
  try {
    const headers = getKey() ? { "X-API-Key": getKey() } : {};
    const response = await fetch(`/v1/review/${encodeURIComponent(item.id)}/audio`, { headers });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      throw new ApiError(errorMessage(response.status, body));
    }
    const url = URL.createObjectURL(await response.blob());
    const audio = el("audio", { controls: "", src: url, "aria-label": "Recording to review" });
    button.replaceWith(audio);
  } catch (e) {
    button.disabled = false;
    showError(e.message);
  }
}

function labelForm(item) {
  const id = item.id;
  const form = el("form", { class: "label-form", "aria-label": "Label this recording" });
  const fieldset = el("fieldset");
  fieldset.appendChild(el("legend", { text: "Your label" }));
  for (const [value, text] of [["bonafide", "Bona fide (real voice)"], ["spoof", "Spoof (synthetic or converted)"]]) {
    const inputId = `label-${value}-${id}`;
    const input = el("input", { type: "radio", name: `label-${id}`, value, id: inputId, required: "" });
    fieldset.appendChild(el("div", { class: "choice" }, input, el("label", { for: inputId, text })));
  }
  form.appendChild(fieldset);
  const commentId = `comment-${id}`;
  form.appendChild(el("label", { for: commentId, text: "Comment (optional)" }));
  form.appendChild(el("textarea", { id: commentId, name: "comment", rows: "2", maxlength: "4000" }));
  const submit = el("button", { type: "submit", text: "Save label" });
  form.appendChild(submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector(`input[name="label-${id}"]:checked`);
    if (!chosen) {
      showError("Choose bona fide or spoof before saving.");
      return;
    }
    submit.disabled = true;
    showError("");
    try {
      await api(`/v1/review/${encodeURIComponent(id)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ label: chosen.value, comment: form.comment.value }),
      });
      const card = form.closest("li");
      const next = card.nextElementSibling || card.previousElementSibling;
      card.remove();
      setStatus(`Labelled as ${chosen.value === "spoof" ? "spoof" : "bona fide"}. ${countText()}`);
      const focus = next && next.querySelector("input[type=radio]");
      if (focus) focus.focus();
      else $("refresh").focus();
    } catch (e) {
      submit.disabled = false;
      showError(e.message);
    }
  });
  return form;
}

function countText() {
  const n = $("queue").children.length;
  return n === 1 ? "1 open item." : `${n} open items.`;
}

function setStatus(text) {
  $("queue-status").textContent = text;
}

async function loadQueue() {
  showError("");
  setStatus("Loading…");
  try {
    const body = await api("/v1/review?status=open&limit=100");
    const items = Array.isArray(body) ? body : body.items || [];
    $("queue").replaceChildren(...items.map(itemCard));
    $("queue").dataset.loaded = "true";
    setStatus(items.length ? countText() : "The queue is empty.");
  } catch (e) {
    $("queue").replaceChildren();
    setStatus("");
    showError(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupKeyForm(loadQueue);
  $("refresh").addEventListener("click", loadQueue);
  loadQueue();
});
