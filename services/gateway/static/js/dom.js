// Small DOM and formatting helpers shared by the views. Text always goes in as text, never as HTML.

/**
 * Create an element: h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", childNode).
 * Attributes set to null/undefined/false are skipped; `true` sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style" && typeof value === "object") {
      for (const [property, setting] of Object.entries(value)) {
        if (property.startsWith("--")) el.style.setProperty(property, String(setting)); // custom properties
        else el.style[property] = setting;
      }
    }
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** 1234 → "1,234"; missing → "–". */
export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/** Milliseconds as "850 ms" or "2.4 s". */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** US dollars with enough significant digits for sub-cent amounts: "$0.000042". */
export function fmtUsd(usd) {
  if (!Number.isFinite(usd)) return "–";
  if (usd === 0) return "$0";
  const abs = Math.abs(usd);
  const sign = usd < 0 ? "-" : "";
  if (abs >= 0.01) return `${sign}$${abs.toFixed(abs >= 100 ? 0 : 2)}`;
  const digits = Math.min(12, Math.max(2, 1 - Math.floor(Math.log10(abs))));
  return `${sign}$${abs.toFixed(digits)}`;
}

/** A signed difference: "+120", "−35 ms", "+$0.00001"; zero → "±0". */
export function fmtDelta(value, formatter) {
  if (!Number.isFinite(value)) return "–";
  if (value === 0) return "±0";
  const text = formatter(Math.abs(value));
  return `${value > 0 ? "+" : "−"}${text}`;
}

/** Bytes as "12 KB". */
export function fmtBytes(bytes) {
  if (!Number.isFinite(bytes)) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** An ISO date or epoch seconds as a short local date-time. */
export function fmtDate(value) {
  if (value === null || value === undefined || value === "") return "–";
  const date = typeof value === "number" ? new Date(value * (value < 1e12 ? 1000 : 1)) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const toastRegion = () => document.getElementById("toasts");

/** Show a short message in the page's live region; kind "error" stays until dismissed. */
export function toast(message, kind = "info") {
  const region = toastRegion();
  if (!region) return;
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss message" }, "×");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text" }, message), close);
  close.addEventListener("click", () => item.remove());
  region.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 4000);
  while (region.children.length > 4) region.firstElementChild.remove();
}

/** An inline error box (role=alert) for a failed action. */
export function errorBox(error) {
  const title = error && error.status === 401 ? "API key needed" : "Something went wrong";
  return h("div", { class: "error-box", role: "alert" },
    h("strong", {}, title), " ", h("span", {}, (error && error.message) || String(error)));
}
