// One job: progress and metrics, the failures as a filterable grid, samples.
"use strict";

(() => {
  const { api, byId, clear, el, percent, number, className, imageUrl, showMessage, hideMessage } = failcat;
  const jobId = byId("main").dataset.jobId;
  const POLL_MS = 1500;
  const PER_PAGE = 48;
  // Failures read to fill the class filters; a larger job lists the classes of these.
  const FILTER_SCAN_LIMIT = 5000;
  let failurePage = 1;
  let lastState = null;
  let lastAnalysisState = null;
  let filtersFilled = false;

  function definition(term, value) {
    return [el("dt", {}, term), el("dd", {}, value)];
  }

  function renderJob(job) {
    const counts = job.counts || {};
    const todo = (counts.total || 0) - (counts.missing || 0);
    // counts.done counts every processed image; counts.failed is the part of it
    // that could not be read.
    const finished = counts.done || 0;
    const fraction = todo > 0 ? Math.min(1, finished / todo) : job.state === "done" ? 1 : 0;
    byId("job-state").textContent = job.state;
    byId("job-state").className = `state state-${job.state}`;
    byId("job-progress-fill").style.width = `${(fraction * 100).toFixed(1)}%`;
    byId("job-progress").setAttribute("aria-valuenow", (fraction * 100).toFixed(0));
    byId("job-progress").className = `progress progress-${job.state}`;
    let text = `${(counts.done || 0) - (counts.failed || 0)} of ${todo} images predicted`;
    if (counts.failed) {
      text += `, ${counts.failed} could not be read`;
    }
    if (counts.missing) {
      text += `, ${counts.missing} of the range have no file`;
    }
    if (job.images_per_second) {
      text += ` · ${number(job.images_per_second, 1)} images/s`;
    }
    byId("job-progress-text").textContent = text;

    const metrics = job.metrics || {};
    const list = clear(byId("job-metrics"));
    const images = job.dataset === "folder" ? `folder ${job.path || ""}` : `${job.dataset} ${job.start}–${job.stop}`;
    list.append(...definition("Images", images));
    list.append(...definition("Criterion", job.criterion || "top1"));
    list.append(...definition("Top-1 error", percent(metrics.top1_error, 2)));
    list.append(...definition("Top-5 error", percent(metrics.top5_error, 2)));
    if (metrics.real_top1_accuracy !== undefined) {
      list.append(...definition("ReaL top-1 accuracy", percent(metrics.real_top1_accuracy, 2)));
    }
    if (metrics.failures !== undefined) {
      list.append(...definition("Failures", String(metrics.failures)));
    }
    for (const [name, member] of Object.entries(metrics.members || {})) {
      list.append(...definition(`${name} top-1 error`, percent(member && member.top1_error, 2)));
    }
    if (job.analysis_state) {
      list.append(...definition("Suggestions", job.analysis_state));
    }
    const error = byId("job-error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
  }

  async function pollJob() {
    let job;
    try {
      job = await api(`/v1/jobs/${jobId}`);
    } catch (error) {
      showMessage(`The job could not be loaded: ${error.message}`);
      window.setTimeout(pollJob, POLL_MS * 4);
      return;
    }
    renderJob(job);
    const changed = job.state !== lastState || job.analysis_state !== lastAnalysisState;
    lastState = job.state;
    lastAnalysisState = job.analysis_state;
    if (changed) {
      loadFailures();
      if (job.state === "done" && !filtersFilled) {
        fillClassFilters();
      }
    }
    const active = job.state === "queued" || job.state === "running" || job.analysis_state === "running" || job.analysis_state === "pending";
    if (active && job.state !== "failed" && job.state !== "cancelled") {
      window.setTimeout(pollJob, POLL_MS);
    }
  }

  function filterQuery() {
    const params = new URLSearchParams();
    for (const [name, id] of [
      ["ground_truth", "filter-gt"],
      ["predicted_class", "filter-pc"],
      ["suggested", "filter-suggested"],
    ]) {
      const value = byId(id).value;
      if (value !== "") {
        params.set(name, value);
      }
    }
    return params;
  }

  function suggestionBadge(suggestion) {
    if (!suggestion || !suggestion.category) {
      return null;
    }
    const option = byId("filter-suggested").querySelector(`option[value="${CSS.escape(suggestion.category)}"]`);
    const label = option ? option.textContent : suggestion.category;
    const confidence = typeof suggestion.confidence === "number" ? ` · ${percent(suggestion.confidence, 0)}` : "";
    return el("span", { className: "badge", title: "suggested category" }, `${label}${confidence}`);
  }

  function failureTile(failure) {
    const image = el("img", {
      src: imageUrl(failure),
      alt: `ground truth ${className(failure.ground_truth)}, predicted ${className(failure.predicted_class)}`,
      loading: "lazy",
      width: "160",
      height: "160",
    });
    return el(
      "li",
      { className: "failure-tile", dataset: { image: failure.image || "" } },
      el("a", { href: imageUrl(failure), target: "_blank", rel: "noopener" }, image),
      el("p", { className: "label-gt small" }, "GT: ", el("span", {}, className(failure.ground_truth))),
      el("p", { className: "label-pc small" }, "PC: ", el("span", {}, className(failure.predicted_class))),
      suggestionBadge(failure.suggestion),
    );
  }

  async function loadFailures() {
    const params = filterQuery();
    params.set("page", String(failurePage));
    params.set("per_page", String(PER_PAGE));
    let listing;
    try {
      listing = await api(`/v1/jobs/${jobId}/failures?${params}`);
    } catch (error) {
      showMessage(`The failures could not be loaded: ${error.message}`);
      return;
    }
    const grid = clear(byId("failure-grid"));
    for (const failure of listing.items || []) {
      grid.append(failureTile(failure));
    }
    const total = listing.total || 0;
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    byId("failures-total").textContent = `(${total}, ${listing.criterion || "top1"})`;
    byId("failures-page").textContent = `page ${failurePage} of ${pages}`;
    byId("failures-prev").disabled = failurePage <= 1;
    byId("failures-next").disabled = failurePage >= pages;
    const empty = byId("failures-empty");
    empty.hidden = total > 0;
    empty.textContent = filterQuery().toString() ? "No failure matches these filters." : "No failures yet.";
  }

  function fillSelect(select, entries) {
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    for (const { index, name, count } of entries) {
      select.append(el("option", { value: String(index) }, `${name} (${count})`));
    }
    select.value = keep;
  }

  function countClasses(failures, field) {
    const found = new Map();
    for (const failure of failures) {
      const entry = failure[field];
      if (!entry || entry.class_index === undefined) {
        continue;
      }
      const current = found.get(entry.class_index) || { index: entry.class_index, name: entry.name || String(entry.class_index), count: 0 };
      current.count += 1;
      found.set(entry.class_index, current);
    }
    return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async function fillClassFilters() {
    filtersFilled = true;
    const failures = [];
    try {
      for (let page = 1; failures.length < FILTER_SCAN_LIMIT; page += 1) {
        const listing = await api(`/v1/jobs/${jobId}/failures?page=${page}&per_page=500`);
        failures.push(...(listing.items || []));
        if (page * 500 >= (listing.total || 0)) {
          break;
        }
      }
    } catch (error) {
      filtersFilled = false;
      showMessage(`The class filters could not be filled: ${error.message}`);
      return;
    }
    fillSelect(byId("filter-gt"), countClasses(failures, "ground_truth"));
    fillSelect(byId("filter-pc"), countClasses(failures, "predicted_class"));
  }

  async function drawSample(event) {
    event.preventDefault();
    const result = byId("sample-result");
    const request = {
      size: Number.parseInt(byId("sample-size").value, 10),
      seed: Number.parseInt(byId("sample-seed").value, 10),
    };
    result.className = "form-result";
    result.textContent = "Drawing…";
    try {
      const sample = await api(`/v1/jobs/${jobId}/samples`, { method: "POST", json: request });
      hideMessage();
      const id = sample.id ?? sample.sample_id;
      const size = sample.size ?? (sample.items ? sample.items.length : request.size);
      clear(result).append(
        `Sample #${id} of ${size} failures: `,
        el("a", { href: `/ui/samples/${encodeURIComponent(id)}/review`, id: "sample-review-link" }, "review it"),
      );
    } catch (error) {
      result.className = "form-result error-text";
      result.textContent = error.message;
      showMessage(`No sample was drawn: ${error.message}`);
    }
  }

  for (const id of ["filter-gt", "filter-pc", "filter-suggested"]) {
    byId(id).addEventListener("change", () => {
      failurePage = 1;
      loadFailures();
    });
  }
  byId("filter-clear").addEventListener("click", () => {
    for (const id of ["filter-gt", "filter-pc", "filter-suggested"]) {
      byId(id).value = "";
    }
    failurePage = 1;
    loadFailures();
  });
  byId("failures-prev").addEventListener("click", () => {
    failurePage = Math.max(1, failurePage - 1);
    loadFailures();
  });
  byId("failures-next").addEventListener("click", () => {
    failurePage += 1;
    loadFailures();
  });
  byId("sample-form").addEventListener("submit", drawSample);
  pollJob();
})();
