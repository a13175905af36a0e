// Try an image: drop or choose a file and show the ensemble's top-5 and members.
"use strict";

(() => {
  const { api, bar, byId, clear, el, percent, className, showMessage, hideMessage } = failcat;
  let previewUrl = null;

  function renderPrediction(result) {
    const top = clear(byId("try-top5"));
    const predictions = result.predictions || [];
    predictions.forEach((entry, index) => {
      const kind = index === 0 ? "is-pc" : "";
      top.append(
        el(
          "li",
          { className: `bar-row ${kind}`.trim() },
          el("span", { className: "bar-label" }, className(entry)),
          bar(entry.probability, kind),
          el("span", { className: "bar-value" }, percent(entry.probability, 1)),
        ),
      );
    });
    const members = clear(byId("try-members"));
    for (const member of result.members || []) {
      const best = (member.predictions || [])[0];
      const agrees = best && predictions[0] && best.class_index === predictions[0].class_index;
      members.append(
        el(
          "li",
          { className: agrees ? "is-pc" : "" },
          el("strong", {}, member.name || ""),
          ": ",
          best ? `${className(best)} (${percent(best.probability, 1)})` : "–",
        ),
      );
    }
    const ensemble = result.ensemble || {};
    const id = typeof ensemble.id === "string" ? ensemble.id.slice(0, 12) : "";
    byId("try-ensemble").textContent = `ensemble ${id} · ${result.execution_provider || ""}`;
  }

  async function send(file) {
    if (!file) {
      return;
    }
    const status = byId("try-status");
    if (previewUrl) {
      URL.revokeObjectURL(previewUrl);
    }
    previewUrl = URL.createObjectURL(file);
    byId("try-preview").src = previewUrl;
    byId("try-file-name").textContent = `${file.name} (${Math.round(file.size / 1024)} KiB)`;
    byId("try-preview-figure").hidden = false;
    clear(byId("try-top5"));
    clear(byId("try-members"));
    status.className = "muted";
    status.textContent = `Sending ${file.name}…`;
    const form = new FormData();
    form.append("image", file, file.name);
    try {
      const result = await api("/v1/predictions?top_k=5", { method: "POST", body: form, needsKey: false });
      hideMessage();
      status.textContent = `Prediction for ${file.name}`;
      renderPrediction(result);
    } catch (error) {
      status.className = "error-text";
      status.textContent = error.message;
      showMessage(`No prediction for ${file.name}: ${error.message}`);
    }
  }

  const zone = byId("drop-zone");
  const input = byId("try-file");
  input.addEventListener("change", () => send(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "dragend"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) {
      send(file);
    } else {
      showMessage("Drop an image file; nothing else can be sent.");
    }
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  // A file dropped outside the zone would otherwise make the browser open it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
})();
