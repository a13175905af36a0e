// Review of a sample: one failure at a time, categories recorded from the keyboard.
//
// Keys: 1 to 5 record a category, ArrowLeft and ArrowRight move between items,
// n focuses the note field, and Escape leaves it. Keys typed into a form field
// never act as shortcuts, so a note can contain digits and the letter n.
"use strict";

(() => {
  const { api, bar, byId, clear, el, percent, className, imageUrl, showMessage, hideMessage } = failcat;
  const sampleId = byId("main").dataset.sampleId;
  const buttons = [...document.querySelectorAll("#category-buttons button.category")];
  const categories = buttons.map((button) => ({
    key: button.dataset.category,
    number: Number(button.dataset.number),
    title: button.textContent.replace(/^\s*\d+\s*/, "").trim(),
  }));

  const state = {
    sample: null,
    items: [],
    index: 0,
    failures: new Map(),
    saving: false,
  };

  function categoryByKey(key) {
    return categories.find((category) => category.key === key) || null;
  }

  function categoryLabel(key) {
    const category = categoryByKey(key);
    return category ? `${category.number}. ${category.title}` : String(key);
  }

  // Merge what the sample lists for an item with the failure's details.
  function details(item) {
    if (item.ground_truth && item.top5) {
      return item;
    }
    return { ...(item.failure || {}), ...(state.failures.get(item.image) || {}), ...item };
  }

  function annotated(item) {
    return Boolean(item.annotation && !item.annotation.retracted_at);
  }

  function countAnnotated() {
    return state.items.filter(annotated).length;
  }

  function renderTop5(failure) {
    const list = clear(byId("review-top5"));
    const gt = failure.ground_truth ? failure.ground_truth.class_index : null;
    const pc = failure.predicted_class ? failure.predicted_class.class_index : null;
    for (const entry of failure.top5 || []) {
      let kind = "";
      if (entry.class_index === gt) {
        kind = "is-gt";
      } else if (entry.class_index === pc) {
        kind = "is-pc";
      }
      list.append(
        el(
          "li",
          { className: `bar-row ${kind}`.trim() },
          el("span", { className: "bar-label" }, className(entry)),
          bar(entry.probability, kind),
          el("span", { className: "bar-value" }, percent(entry.probability, 1)),
        ),
      );
    }
    if (failure.gt_rank && !(failure.top5 || []).some((entry) => entry.class_index === gt)) {
      list.append(
        el(
          "li",
          { className: "bar-row is-gt" },
          el("span", { className: "bar-label" }, `${className(failure.ground_truth)}, rank ${failure.gt_rank}`),
          bar(failure.gt_probability, "is-gt"),
          el("span", { className: "bar-value" }, percent(failure.gt_probability, 2)),
        ),
      );
    }
  }

  function renderMembers(failure) {
    const list = clear(byId("review-members"));
    const gt = failure.ground_truth ? failure.ground_truth.class_index : null;
    const pc = failure.predicted_class ? failure.predicted_class.class_index : null;
    for (const [name, member] of Object.entries(failure.members || {})) {
      let kind = "";
      let vote = "another class";
      if (member.top1 === pc) {
        kind = "is-pc";
        vote = "votes PC";
      } else if (member.top1 === gt) {
        kind = "is-gt";
        vote = "votes GT";
      }
      list.append(
        el(
          "li",
          { className: kind },
          el("strong", {}, name),
          ": ",
          member.top1_name || String(member.top1),
          ` (${percent(member.top1_probability, 1)}), ${vote}; GT ${percent(member.gt_probability, 1)}`,
        ),
      );
    }
    const votes = failure.votes;
    if (votes) {
      list.append(el("li", { className: "muted" }, `${votes.prediction} for the prediction, ${votes.ground_truth} for the ground truth`));
    }
  }

  function evidenceText(value) {
    if (value === null || value === undefined) {
      return "–";
    }
    if (typeof value === "number") {
      return Number.isInteger(value) ? String(value) : value.toFixed(3);
    }
    if (typeof value === "object") {
      return JSON.stringify(value);
    }
    return String(value);
  }

  // decided_by is a list of [name, value] pairs, and evidence maps names to values.
  function evidenceEntries(source) {
    if (Array.isArray(source)) {
      return source.map((entry) => (Array.isArray(entry) ? [entry[0], entry[1]] : [entry.name ?? "", entry.value]));
    }
    if (source && typeof source === "object") {
      return Object.entries(source);
    }
    return [];
  }

  function renderSuggestion(failure) {
    const suggestion = failure.suggestion;
    const paragraph = clear(byId("review-suggestion"));
    const list = clear(byId("review-evidence"));
    for (const button of buttons) {
      button.classList.toggle("suggested", Boolean(suggestion && button.dataset.category === suggestion.category));
    }
    if (!suggestion || !suggestion.category) {
      paragraph.append(el("span", { className: "muted" }, "No suggestion yet: the job's analysis has not reached this failure."));
      return;
    }
    paragraph.append(el("strong", {}, categoryLabel(suggestion.category)));
    if (typeof suggestion.confidence === "number") {
      paragraph.append(` · confidence ${percent(suggestion.confidence, 0)}`);
    }
    for (const [name, value] of evidenceEntries(suggestion.decided_by)) {
      list.append(el("li", {}, el("code", {}, String(name)), ` ${evidenceText(value)}`));
    }
    const evidence = evidenceEntries(suggestion.evidence);
    if (evidence.length) {
      const all = el("ul", { className: "evidence-all" });
      for (const [name, value] of evidence) {
        all.append(el("li", {}, el("code", {}, String(name)), ` ${evidenceText(value)}`));
      }
      list.append(el("li", { className: "evidence-more" }, el("details", {}, el("summary", {}, "all evidence"), all)));
    }
  }

  function renderChoice(item) {
    const chosen = annotated(item) ? item.annotation.category : null;
    for (const button of buttons) {
      const selected = button.dataset.category === chosen;
      button.classList.toggle("chosen", selected);
      button.setAttribute("aria-pressed", selected ? "true" : "false");
    }
    const note = byId("review-note");
    note.value = annotated(item) && item.annotation.note ? item.annotation.note : "";
    const saved = byId("review-saved");
    saved.className = "form-result";
    saved.textContent = chosen ? `Your category: ${categoryLabel(chosen)}` : "Not annotated by you yet.";
    const shownNote = byId("review-current-note");
    shownNote.hidden = !(annotated(item) && item.annotation.note);
    clear(shownNote);
    if (!shownNote.hidden) {
      shownNote.append(el("span", { className: "muted" }, "Your note: "), el("span", { className: "note-body" }, item.annotation.note));
    }
  }

  function renderProgress() {
    const total = state.items.length;
    byId("review-position").textContent = `failure ${state.index + 1} of ${total}`;
    byId("review-progress").textContent = failcat.storedKey()
      ? `${countAnnotated()} annotated by you, ${total - countAnnotated()} to go`
      : "enter your API key to annotate";
  }

  function render() {
    const item = state.items[state.index];
    if (!item) {
      return;
    }
    const failure = details(item);
    const image = byId("review-image");
    image.src = imageUrl(failure);
    image.alt = `ground truth ${className(failure.ground_truth)}, predicted ${className(failure.predicted_class)}`;
    byId("review-gt").textContent = className(failure.ground_truth);
    byId("review-pc").textContent = className(failure.predicted_class);
    byId("review-image-id").textContent = failure.image || "";
    renderTop5(failure);
    renderMembers(failure);
    renderSuggestion(failure);
    renderChoice(item);
    renderProgress();
    byId("review-prev").disabled = state.index <= 0;
    byId("review-next").disabled = state.index >= state.items.length - 1;
    byId("review").hidden = false;
    const upcoming = state.items[state.index + 1];
    if (upcoming) {
      new Image().src = imageUrl(upcoming);
    }
  }

  function move(step) {
    const target = state.index + step;
    if (target < 0 || target >= state.items.length) {
      return;
    }
    state.index = target;
    render();
  }

  // Return the first unannotated item after `from`, wrapping around, or -1 when none is left.
  function nextUnannotated(from) {
    const total = state.items.length;
    for (let offset = 1; offset <= total; offset += 1) {
      const index = (from + offset) % total;
      if (!annotated(state.items[index])) {
        return index;
      }
    }
    return -1;
  }

  function showDone() {
    const done = clear(byId("review-done"));
    done.hidden = false;
    done.append(
      `All ${state.items.length} failures of this sample carry your annotation. `,
      el("a", { href: `/ui/stats?sample=${encodeURIComponent(sampleId)}` }, "See the statistics"),
      ".",
    );
  }

  async function record(category) {
    const item = state.items[state.index];
    if (!item || state.saving) {
      return;
    }
    const saved = byId("review-saved");
    const note = byId("review-note").value;
    const request = { job: state.sample.job, image: item.image, category: category.key };
    if (note.trim()) {
      request.note = note;
    }

    state.saving = true;
    saved.className = "form-result";
    saved.textContent = `Recording ${categoryLabel(category.key)}…`;
    try {
      const annotation = await api("/v1/annotations", { method: "POST", json: request });
      hideMessage();
      item.annotation = annotation && annotation.category ? annotation : { category: category.key, note: request.note || null };
    } catch (error) {
      saved.className = "form-result error-text";
      saved.textContent = error.message;
      showMessage(`The annotation was not recorded: ${error.message}`);
      return;
    } finally {
      state.saving = false;
    }

    showMessage(`Recorded ${categoryLabel(category.key)} for ${item.image}.`, "info");
    const next = nextUnannotated(state.index);
    if (next === -1) {
      render();
      showDone();
      return;
    }
    state.index = next;
    render();
  }

  function isTyping(target) {
    return Boolean(target && target.closest && target.closest("input, textarea, select, [contenteditable]"));
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
        event.preventDefault();
      }
      return;
    }
    if (!state.sample) {
      return;
    }
    const category = categories.find((entry) => String(entry.number) === event.key);
    if (category) {
      event.preventDefault();
      record(category);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      move(1);
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      move(-1);
    } else if (event.key === "n" || event.key === "N") {
      event.preventDefault();
      byId("review-note").focus();
    }
  }

  async function loadFailures(jobId) {
    for (let page = 1; ; page += 1) {
      const listing = await api(`/v1/jobs/${encodeURIComponent(jobId)}/failures?page=${page}&per_page=500`);
      for (const failure of listing.items || []) {
        state.failures.set(failure.image, failure);
      }
      if (page * 500 >= (listing.total || 0)) {
        return;
      }
    }
  }

  async function load() {
    let sample;
    try {
      sample = await api(`/v1/samples/${encodeURIComponent(sampleId)}`);
    } catch (error) {
      showMessage(`The sample could not be loaded: ${error.message}`);
      return;
    }
    const items = [...(sample.items || [])].sort((a, b) => (a.position ?? 0) - (b.position ?? 0));

    const needDetails = items.some((item) => !(item.ground_truth && item.top5));
    if (needDetails) {
      try {
        await loadFailures(sample.job);
      } catch (error) {
        showMessage(`The failures of job ${sample.job} could not be loaded: ${error.message}`);
      }
    }

    state.sample = sample;
    state.items = items;
    const link = byId("review-job-link");
    link.href = `/ui/jobs/${encodeURIComponent(sample.job)}`;
    link.textContent = `job #${sample.job}`;
    link.hidden = false;
    if (!items.length) {
      byId("review-done").hidden = false;
      byId("review-done").textContent = "This sample has no items.";
      return;
    }
    const first = items.findIndex((item) => !annotated(item));
    state.index = first === -1 ? 0 : first;
    render();
    if (first === -1 && failcat.storedKey()) {
      showDone();
    }
  }

  for (const button of buttons) {
    button.addEventListener("click", () => {
      const category = categoryByKey(button.dataset.category);
      if (category) {
        record(category);
      }
    });
  }
  byId("review-prev").addEventListener("click", () => move(-1));
  byId("review-next").addEventListener("click", () => move(1));
  document.addEventListener("keydown", onKey);
  // A key entered after the page loaded changes whose annotations are shown.
  document.addEventListener("failcat:key-changed", () => window.location.reload());
  load();
})();
