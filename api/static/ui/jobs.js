// The jobs list: polls GET /v1/jobs while the page is open, and starts new jobs.
"use strict";

(() => {
  const { api, byId, clear, el, percent, number, showMessage, hideMessage } = failcat;
  const POLL_MS = 1500;
  const PER_PAGE = 20;
  let page = 1;
  let timer = null;

  function jobImages(job) {
    if (job.dataset === "folder") {
      return `folder ${job.path || ""}`;
    }
    return `${job.dataset} ${job.start}–${job.stop}`;
  }

  function jobFraction(job) {
    const counts = job.counts || {};
    const todo = (counts.total || 0) - (counts.missing || 0);
    if (todo <= 0) {
      return job.state === "done" ? 1 : 0;
    }
    // counts.done already includes the images that failed.
    return Math.min(1, (counts.done || 0) / todo);
  }

  function progressCell(job) {
    const fraction = jobFraction(job);
    const counts = job.counts || {};
    const fill = el("div", { className: "progress-fill" });
    fill.style.width = `${(fraction * 100).toFixed(1)}%`;
    const meter = el(
      "div",
      {
        className: `progress progress-${job.state}`,
        role: "progressbar",
        "aria-valuemin": "0",
        "aria-valuemax": "100",
        "aria-valuenow": (fraction * 100).toFixed(0),
      },
      fill,
    );
    let text = `${counts.done || 0} of ${(counts.total || 0) - (counts.missing || 0)}`;
    if (counts.failed) {
      text += `, ${counts.failed} unreadable`;
    }
    if (counts.missing) {
      text += `, ${counts.missing} missing`;
    }
    return el("td", { className: "progress-col" }, meter, el("span", { className: "muted small" }, text));
  }

  function stateCell(job) {
    const cell = el("td", {}, el("span", { className: `state state-${job.state}` }, job.state));
    if (job.analysis_state && job.state === "done" && job.analysis_state !== "done") {
      cell.append(" ", el("span", { className: "muted small" }, `analysis ${job.analysis_state}`));
    }
    if (job.error) {
      cell.append(el("div", { className: "error-text small" }, job.error));
    }
    return cell;
  }

  function jobRow(job) {
    const metrics = job.metrics || {};
    const link = el("a", { href: `/ui/jobs/${encodeURIComponent(job.id)}` }, `#${job.id}`);
    return el(
      "tr",
      { dataset: { jobId: String(job.id), state: job.state } },
      el("td", {}, link),
      el("td", {}, jobImages(job), el("div", { className: "muted small" }, job.criterion || "")),
      stateCell(job),
      progressCell(job),
      el("td", {}, percent(metrics.top1_error)),
      el("td", {}, percent(metrics.top5_error)),
      el("td", {}, metrics.failures === undefined ? "–" : String(metrics.failures)),
      el("td", {}, job.images_per_second ? `${number(job.images_per_second, 1)}/s` : "–"),
    );
  }

  async function refresh() {
    window.clearTimeout(timer);
    let active = false;
    try {
      const listing = await api(`/v1/jobs?page=${page}&per_page=${PER_PAGE}`);
      const body = clear(byId("jobs-body"));
      for (const job of listing.items || []) {
        body.append(jobRow(job));
        active = active || job.state === "queued" || job.state === "running";
      }
      byId("jobs-empty").hidden = (listing.total || 0) > 0;
      const pages = Math.max(1, Math.ceil((listing.total || 0) / PER_PAGE));
      byId("jobs-page").textContent = `page ${page} of ${pages}`;
      byId("jobs-prev").disabled = page <= 1;
      byId("jobs-next").disabled = page >= pages;
    } catch (error) {
      showMessage(`The jobs could not be loaded: ${error.message}`);
    }
    // Poll fast while a job runs and slowly otherwise, to catch jobs started elsewhere.
    timer = window.setTimeout(refresh, active ? POLL_MS : POLL_MS * 4);
  }

  function selectedDataset(form) {
    return form.querySelector("input[name=dataset]:checked").value;
  }

  function syncDatasetFields(form) {
    const folder = selectedDataset(form) === "folder";
    form.querySelector(".range-fields").hidden = folder;
    form.querySelector(".folder-fields").hidden = !folder;
    for (const input of form.querySelectorAll(".range-fields input")) {
      input.disabled = folder;
    }
    byId("job-path").disabled = !folder;
    byId("job-path").required = folder;
  }

  async function submitJob(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const result = byId("job-form-result");
    const dataset = selectedDataset(form);
    const request = { dataset, criterion: byId("job-criterion").value };
    if (dataset === "folder") {
      request.path = byId("job-path").value.trim();
    } else {
      request.start = Number.parseInt(byId("job-start").value, 10);
      request.stop = Number.parseInt(byId("job-stop").value, 10);
    }
    result.className = "form-result";
    result.textContent = "Starting…";
    try {
      const job = await api("/v1/jobs", { method: "POST", json: request });
      hideMessage();
      clear(result).append(
        "Started ",
        el("a", { href: `/ui/jobs/${encodeURIComponent(job.id)}` }, `job #${job.id}`),
        ".",
      );
      page = 1;
      refresh();
    } catch (error) {
      result.className = "form-result error-text";
      result.textContent = error.message;
      showMessage(`The job was not started: ${error.message}`);
    }
  }

  const form = byId("job-form");
  for (const radio of form.querySelectorAll("input[name=dataset]")) {
    radio.addEventListener("change", () => syncDatasetFields(form));
  }
  syncDatasetFields(form);
  form.addEventListener("submit", submitJob);
  byId("jobs-prev").addEventListener("click", () => {
    page = Math.max(1, page - 1);
    refresh();
  });
  byId("jobs-next").addEventListener("click", () => {
    page += 1;
    refresh();
  });
  refresh();
})();
