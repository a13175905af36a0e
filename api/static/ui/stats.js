// Statistics: per-category counts, rates and Wilson intervals from GET /v1/stats,
// the suggested distribution, agreement, confusion pairs and the published counts.
"use strict";

(() => {
  const { api, byId, clear, el, percent, number, className, query, showMessage } = failcat;

  function scopeParams() {
    const params = new URLSearchParams();
    const job = byId("stats-job").value.trim();
    const sample = byId("stats-sample").value.trim();
    if (job) {
      params.set("job", job);
    }
    if (sample) {
      params.set("sample", sample);
    }
    return params;
  }

  // Return {total, rows: Map(key -> row)} from a distribution in any of the
  // shapes the statistics use: {total, categories: [...]}, a list of rows, or
  // {key: count}.
  function distribution(source) {
    const rows = new Map();
    if (!source) {
      return null;
    }
    let list = null;
    if (Array.isArray(source)) {
      list = source;
    } else if (Array.isArray(source.categories)) {
      list = source.categories;
    } else if (Array.isArray(source.rows)) {
      list = source.rows;
    }
    if (list) {
      for (const row of list) {
        const key = row.category || row.key;
        if (key) {
          rows.set(key, row);
        }
      }
    } else if (typeof source === "object") {
      const counts = source.counts && typeof source.counts === "object" ? source.counts : source;
      for (const [key, value] of Object.entries(counts)) {
        if (typeof value === "number") {
          rows.set(key, { category: key, count: value });
        } else if (value && typeof value === "object" && typeof value.count === "number") {
          rows.set(key, { category: key, ...value });
        }
      }
    }
    let total = typeof source.total === "number" ? source.total : null;
    if (total === null) {
      total = [...rows.values()].reduce((sum, row) => sum + (row.count || 0), 0);
    }
    for (const row of rows.values()) {
      if (typeof row.rate !== "number" && total > 0) {
        row.rate = (row.count || 0) / total;
      }
    }
    return { total, rows, confidence: source.confidence };
  }

  function pick(body, names) {
    for (const name of names) {
      if (body && body[name] !== undefined && body[name] !== null) {
        return body[name];
      }
    }
    return null;
  }

  function renderTable(annotations, suggested, failuresAnnotated) {
    for (const row of document.querySelectorAll("#stats-body tr[data-category]")) {
      const key = row.dataset.category;
      const found = annotations ? annotations.rows.get(key) : null;
      row.querySelector(".count").textContent = found ? String(found.count ?? 0) : "0";
      row.querySelector(".rate").textContent = found ? percent(found.rate, 1) : "–";
      const low = found && typeof found.ci_low === "number" ? found.ci_low : null;
      const high = found && typeof found.ci_high === "number" ? found.ci_high : null;
      const barNode = row.querySelector(".interval-bar");
      const point = row.querySelector(".interval-point");
      const paperTick = row.querySelector(".interval-paper");
      if (low !== null && high !== null) {
        barNode.style.left = `${(low * 100).toFixed(2)}%`;
        barNode.style.width = `${((high - low) * 100).toFixed(2)}%`;
        barNode.hidden = false;
        row.querySelector(".interval-text").textContent = `${percent(low, 1)} – ${percent(high, 1)}`;
      } else {
        barNode.hidden = true;
        row.querySelector(".interval-text").textContent = "–";
      }
      if (found && typeof found.rate === "number") {
        point.style.left = `${(found.rate * 100).toFixed(2)}%`;
        point.hidden = false;
      } else {
        point.hidden = true;
      }
      const paperRate = found && typeof found.paper_rate === "number" ? found.paper_rate : Number(row.dataset.paperRate);
      if (Number.isFinite(paperRate)) {
        paperTick.style.left = `${(paperRate * 100).toFixed(2)}%`;
      }
      const suggestedRow = suggested ? suggested.rows.get(key) : null;
      let suggestedText = "–";
      if (suggestedRow) {
        suggestedText = `${suggestedRow.count ?? 0} (${percent(suggestedRow.rate, 1)})`;
      } else if (suggested && suggested.total > 0) {
        suggestedText = "0 (0.0%)";
      }
      row.querySelector(".suggested").textContent = suggestedText;
    }
    const total = annotations ? annotations.total : 0;
    const confidence = annotations && annotations.confidence ? `, ${percent(annotations.confidence, 0)} Wilson intervals` : "";
    const failures = typeof failuresAnnotated === "number" ? ` of ${failuresAnnotated} failures` : "";
    byId("stats-total").textContent = `(${total} annotations${failures}${confidence})`;
  }

  function renderComparison(body) {
    const comparison = pick(body, ["paper_comparison", "paper", "chi_square", "comparison"]);
    const line = byId("stats-comparison");
    if (!comparison || typeof comparison !== "object") {
      line.textContent = "";
      return;
    }
    const statistic = pick(comparison, ["statistic", "chi_square", "chi2"]);
    const p = pick(comparison, ["p_value", "p"]);
    const dof = pick(comparison, ["degrees_of_freedom", "dof"]);
    if (typeof statistic === "number") {
      const parts = [`Chi-square against the published counts: ${number(statistic, 2)}`];
      if (dof !== null) {
        parts.push(`${dof} degrees of freedom`);
      }
      if (typeof p === "number") {
        parts.push(`p = ${p < 0.001 ? p.toExponential(2) : number(p, 3)}`);
      }
      line.textContent = parts.join(", ");
    } else {
      line.textContent = "";
    }
  }

  function renderAgreement(agreement) {
    const list = clear(byId("stats-agreement"));
    const add = (term, value) => list.append(el("dt", {}, term), el("dd", {}, value));
    if (!agreement || typeof agreement !== "object") {
      add("Agreement", "no data");
      return;
    }
    const annotators = Array.isArray(agreement.annotators) ? agreement.annotators : [];
    add("Annotators", annotators.length ? annotators.join(", ") : "none");
    const method = { cohen: "Cohen's kappa", fleiss: "Fleiss' kappa" }[agreement.method] || "kappa";
    if (agreement.method) {
      add(method, number(agreement.kappa, 3));
      add("Observed agreement", percent(agreement.observed_agreement, 1));
      add("Failures all of them annotated", String(agreement.shared_items ?? "–"));
    } else {
      add(method, "needs two annotators or more");
    }
    for (const [key, value] of Object.entries(agreement.per_category || {})) {
      if (value !== null && value !== undefined) {
        add(`kappa, ${key}`, number(value, 3));
      }
    }
  }

  function renderPairs(pairs) {
    const body = clear(byId("stats-pairs"));
    const list = Array.isArray(pairs) ? pairs : [];
    for (const pair of list) {
      body.append(
        el(
          "tr",
          {},
          el("td", { className: "label-gt" }, className(pair.ground_truth)),
          el("td", { className: "label-pc" }, className(pair.predicted_class)),
          el("td", {}, String(pair.count ?? "")),
        ),
      );
    }
    if (!list.length) {
      body.append(el("tr", {}, el("td", { colspan: "3", className: "muted" }, "no confusion pairs")));
    }
  }

  function renderLinks(params) {
    const csv = new URLSearchParams(params);
    csv.set("format", "csv");
    byId("stats-csv").href = `/v1/stats?${csv}`;
    const md = new URLSearchParams(params);
    md.set("format", "md");
    byId("stats-md").href = `/v1/stats?${md}`;
  }

  // Show the example sheet of a job when the service can draw one.
  function renderExamples(job) {
    const link = byId("stats-examples");
    const missing = byId("stats-examples-missing");
    const figure = byId("examples-figure");
    const image = byId("examples-image");
    link.hidden = true;
    missing.hidden = true;
    figure.hidden = true;
    if (job === null || job === undefined) {
      return;
    }
    const url = `/v1/reports/examples.png?job=${encodeURIComponent(job)}`;
    image.onload = () => {
      link.href = url;
      link.hidden = false;
      figure.hidden = false;
    };
    image.onerror = () => {
      missing.hidden = false;
    };
    image.src = url;
  }

  async function load() {
    const params = scopeParams();
    const address = params.toString() ? `?${params}` : "";
    window.history.replaceState(null, "", `/ui/stats${address}`);
    renderLinks(params);
    let body;
    try {
      body = await api(`/v1/stats${address}`);
    } catch (error) {
      showMessage(`The statistics could not be loaded: ${error.message}`);
      renderTable(null, null);
      return;
    }
    const annotations = distribution(pick(body, ["annotations", "distribution"]) || body);
    // The report's suggested distribution covers the same failures as the table.
    const suggested = body.suggested ? distribution(body.suggested.distribution) : null;
    renderTable(annotations, suggested, body.failures_annotated);
    byId("suggested-head").textContent = suggested ? `Suggested (of ${suggested.total})` : "Suggested";
    renderExamples(body.job);
    renderComparison(body);
    renderAgreement(pick(body, ["agreement"]));
    renderPairs(pick(body, ["confusion_pairs", "pairs", "confusions"]));
  }

  // Without a job or sample in the address, show the newest job.
  async function start() {
    const params = query();
    byId("stats-job").value = params.get("job") || "";
    byId("stats-sample").value = params.get("sample") || "";
    if (!params.get("job") && !params.get("sample")) {
      try {
        const listing = await api("/v1/jobs?per_page=1");
        const newest = (listing.items || [])[0];
        if (!newest) {
          showMessage("There are no jobs yet, so there is nothing to count. Start a job on the jobs page.", "info");
          renderTable(null, null);
          return;
        }
        byId("stats-job").value = String(newest.id);
      } catch (error) {
        showMessage(`The jobs could not be loaded: ${error.message}`);
        return;
      }
    }
    load();
  }

  byId("stats-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  start();
})();
