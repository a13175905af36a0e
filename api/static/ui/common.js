// Shared helpers of the failcat pages: the API key, JSON requests, DOM building.
// Every text that comes from a request is set with textContent, never as HTML.
"use strict";

const failcat = (() => {
  const KEY_STORAGE = "failcat.apiKey";

  function storedKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE) || "";
    } catch (_error) {
      return "";
    }
  }

  function storeKey(value) {
    if (value) {
      window.sessionStorage.setItem(KEY_STORAGE, value);
    } else {
      window.sessionStorage.removeItem(KEY_STORAGE);
    }
    renderKeyState();
    document.dispatchEvent(new CustomEvent("failcat:key-changed"));
  }

  // Build an element: el("a", {href: "/x", className: "y"}, "text", child).
  // Attributes go through setAttribute or properties, children through text nodes.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) {
        continue;
      }
      if (name === "className") {
        node.className = value;
      } else if (name === "dataset") {
        Object.assign(node.dataset, value);
      } else if (name === "style") {
        Object.assign(node.style, value);
      } else if (name === "text") {
        node.textContent = String(value);
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) {
        continue;
      }
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  function errorMessage(status, body, fallback) {
    if (body && typeof body === "object") {
      let text = typeof body.message === "string" ? body.message : "";
      if (body.errors && typeof body.errors === "object") {
        const details = [];
        for (const [field, messages] of Object.entries(body.errors)) {
          const list = Array.isArray(messages) ? messages : [messages];
          details.push(`${field}: ${list.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")}`);
        }
        if (details.length && !text.includes(details[0])) {
          text = text ? `${text} (${details.join("; ")})` : details.join("; ");
        }
      }
      if (text) {
        return text;
      }
    }
    return fallback || `the request failed with HTTP ${status}`;
  }

  // Send a request to the JSON API. Write methods need the API key, and without
  // one the request is not sent: the page shows why instead.
  async function api(path, options = {}) {
    const method = (options.method || "GET").toUpperCase();
    const headers = new Headers(options.headers || {});
    headers.set("Accept", "application/json");
    const key = storedKey();
    const write = method !== "GET" && method !== "HEAD";
    if (write && options.needsKey !== false && !key) {
      throw new ApiError(
        401,
        "This action needs an API key. Enter your key in the form at the top of the page, then try again.",
        null,
      );
    }
    if (key) {
      headers.set("Authorization", `Bearer ${key}`);
    }

    let body = options.body;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    }

    let response;
    try {
      response = await fetch(path, { method, headers, body, credentials: "omit" });
    } catch (error) {
      throw new ApiError(0, `The service could not be reached: ${error.message}`, null);
    }

    if (response.status === 204) {
      return null;
    }
    const type = response.headers.get("Content-Type") || "";
    const parsed = type.includes("application/json") ? await response.json().catch(() => null) : null;
    if (!response.ok) {
      let message = errorMessage(response.status, parsed, null);
      if (response.status === 401) {
        message = `The API key was rejected: ${message}. Check the key at the top of the page.`;
      }
      throw new ApiError(response.status, message, parsed);
    }
    return parsed;
  }

  let messageTimer = null;

  // Show a message in the banner under the header. Errors stay until replaced.
  function showMessage(text, kind = "error") {
    const box = byId("message");
    if (!box) {
      return;
    }
    window.clearTimeout(messageTimer);
    box.textContent = text;
    box.className = `message message-${kind}`;
    box.hidden = false;
    if (kind !== "error") {
      messageTimer = window.setTimeout(() => {
        box.hidden = true;
      }, 4000);
    }
  }

  function hideMessage() {
    const box = byId("message");
    if (box) {
      box.hidden = true;
    }
  }

  function renderKeyState() {
    const status = byId("key-status");
    const forget = byId("key-forget");
    const input = byId("key-input");
    if (!status) {
      return;
    }
    const key = storedKey();
    status.textContent = key ? "key set for this tab" : "no key: read only";
    status.className = key ? "key-status key-set" : "key-status key-missing";
    forget.hidden = !key;
    input.value = "";
    input.placeholder = key ? "replace the key" : "paste your key";
  }

  function installKeyForm() {
    const form = byId("key-form");
    if (!form) {
      return;
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = byId("key-input").value.trim();
      if (!value) {
        showMessage("Paste an API key into the field first.");
        return;
      }
      storeKey(value);
      showMessage("The API key is kept in this tab until you close it.", "info");
    });
    byId("key-forget").addEventListener("click", () => {
      storeKey("");
      showMessage("The API key was removed from this tab.", "info");
    });
    renderKeyState();
  }

  function percent(value, digits = 1) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return "–";
    }
    return `${(value * 100).toFixed(digits)}%`;
  }

  function number(value, digits = 0) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return "–";
    }
    return value.toFixed(digits);
  }

  function className(entry) {
    if (!entry || typeof entry !== "object") {
      return entry === null || entry === undefined ? "–" : String(entry);
    }
    const name = entry.name || entry.wnid || "";
    return entry.class_index === undefined ? name : `${name} (${entry.class_index})`;
  }

  // Return the image URL of a failure or sample item.
  function imageUrl(item) {
    if (item.image_url) {
      return item.image_url;
    }
    const id = item.image || item.image_id || "";
    return `/v1/images/${id.split("/").map(encodeURIComponent).join("/")}`;
  }

  // Build a ratio bar, a track filled in proportion to a value from 0 to 1.
  function bar(value, className = "") {
    const fill = el("span", { className: "bar-fill" });
    const clamped = Math.max(0, Math.min(1, Number(value) || 0));
    fill.style.width = `${(clamped * 100).toFixed(2)}%`;
    return el("span", { className: `bar ${className}`.trim() }, fill);
  }

  function query() {
    return new URLSearchParams(window.location.search);
  }

  document.addEventListener("DOMContentLoaded", installKeyForm);

  return {
    ApiError,
    api,
    bar,
    byId,
    className,
    clear,
    el,
    hideMessage,
    imageUrl,
    number,
    percent,
    query,
    showMessage,
    storedKey,
  };
})();
